//! Watermark one model output with a trained embedder H: B′ = H(B, δ).
//!
//! ```text
//! cargo run -p candor-watermark --example embed -- \
//!     --model-output B.png --watermark logo.png --weights H.safetensors --out Bw.png \
//!     [--config config.json]
//! ```
//!
//! `H.safetensors` and `config.json` are written by `cargo xtask reproduce --paper
//! watermark` into `<out>/watermark/weights/`; the configuration (widths, channels) is
//! read from `--config`, by default `config.json` beside the weights. The watermark
//! must have the model output's size and channel count. Prints the PSNR of B′ against
//! B as JSON.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::Device;
use candor_watermark::data::{folder::load_image_file, logo::load_watermark};
use candor_watermark::eval::psnr;
use candor_watermark::train::DeepScheme;
use candor_watermark::Config;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Hide a watermark in a model output with a trained embedder H")]
struct Args {
    /// The model output B to protect (PNG/JPEG).
    #[arg(long)]
    model_output: PathBuf,
    /// The watermark image δ (same size as B).
    #[arg(long)]
    watermark: PathBuf,
    /// H's weights (H.safetensors).
    #[arg(long)]
    weights: PathBuf,
    /// The configuration the weights were trained with (default: config.json beside them).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write B′ (PNG).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg_path = args.config.clone().unwrap_or_else(|| {
        args.weights
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("config.json")
    });
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading the configuration {}", cfg_path.display()))?;
    let cfg = Config::from_json(&text)?;
    let c = cfg.task.channels;
    let b = load_image_file(&args.model_output, c, true)?;
    let delta = load_watermark(&args.watermark, c, b.height(), b.width(), true)?;
    let dev = Device::Cpu;
    // R is not needed to embed: load H only into a fresh scheme.
    let scheme = DeepScheme::load_embedder(&cfg, &args.weights, &dev)?;
    let bw = scheme
        .embed_images(std::slice::from_ref(&b), &delta)?
        .remove(0);
    bw.save(&args.out)?;
    println!(
        "{}",
        serde_json::json!({"out": args.out, "psnr_db": psnr(&bw, &b)?})
    );
    Ok(())
}
