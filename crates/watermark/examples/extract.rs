//! Extract the watermark from an image with a trained extractor R and decide.
//!
//! ```text
//! cargo run -p candor-watermark --example extract -- \
//!     --image X.png --weights R.safetensors [--reference logo.png] [--config config.json] \
//!     [--threshold T] [--save-extraction delta.png]
//! ```
//!
//! Prints JSON: the projection score ⟨δ′ − δ0, δ − δ0⟩/‖δ − δ0‖², the zero-mean and
//! uncentred NC, the binarised BER against the reference δ (default: the configured
//! procedural logo), and the decision `watermarked` = projection > threshold. The
//! threshold defaults to the calibrated one in `decision.json` beside the weights
//! (written by `cargo xtask reproduce --paper watermark`); without one the decision is
//! `null`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::Device;
use candor_watermark::data::{folder::load_image_file, logo};
use candor_watermark::eval::score_extraction;
use candor_watermark::train::DeepScheme;
use candor_watermark::Config;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Extract a watermark with a trained extractor R and decide")]
struct Args {
    /// The image to examine (e.g. a suspected surrogate's output).
    #[arg(long)]
    image: PathBuf,
    /// R's weights (R.safetensors).
    #[arg(long)]
    weights: PathBuf,
    /// The watermark δ to compare with (default: the configured procedural logo).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// The configuration (default: config.json beside the weights).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Decision threshold on the projection score (default: decision.json beside the weights).
    #[arg(long)]
    threshold: Option<f64>,
    /// Also write the extraction δ′ here (PNG).
    #[arg(long)]
    save_extraction: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args
        .weights
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let cfg_path = args
        .config
        .clone()
        .unwrap_or_else(|| dir.join("config.json"));
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading the configuration {}", cfg_path.display()))?;
    let cfg = Config::from_json(&text)?;
    let c = cfg.task.channels;
    let x = load_image_file(&args.image, c, true)?;
    let (h, w) = (x.height(), x.width());
    let delta = match &args.reference {
        Some(p) => logo::load_watermark(p, c, h, w, true)?,
        None => logo::watermark(&cfg.watermark, c, h, w)?,
    };
    let blank = logo::blank(&cfg.watermark, c, h, w)?;
    let threshold = match args.threshold {
        Some(t) => Some(t),
        None => std::fs::read_to_string(dir.join("decision.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["projection_threshold"].as_f64()),
    };
    let scheme = DeepScheme::load_extractor(&cfg, &args.weights, &Device::Cpu)?;
    let ex = scheme.extract_images(std::slice::from_ref(&x))?.remove(0);
    if let Some(p) = &args.save_extraction {
        ex.save(p)?;
    }
    let s = score_extraction(&ex, &delta, &blank)?;
    println!(
        "{}",
        serde_json::json!({
            "image": args.image,
            "projection": s.projection,
            "nc_zero_mean": s.nc_zero_mean,
            "nc_uncentred": s.nc_uncentred,
            "ber_binarised": s.ber_binarised,
            "threshold": threshold,
            "watermarked": threshold.map(|t| s.projection > t),
        })
    );
    Ok(())
}
