//! Train a click net (the three stages) on the SynthClickMatte proxy and save it for
//! the `matte` example.
//!
//! ```sh
//! cargo run --release -p candor-matting --example train -- --out model/ \
//!     [--size 128] [--net small] [--config train.json] [--alpha-steps 450] \
//!     [--sigma-steps 150] [--refine-steps 200] [--batch 8] [--seed 0]
//! cargo run --release -p candor-matting --example matte -- --model model/ \
//!     --image X.png --fg-click 60,40 --out alpha.png
//! ```
//!
//! `--config` is a JSON [`TrainConfig`] (unknown keys are rejected; missing keys take
//! the defaults at the file's `size`, else `--size`); the step, batch and seed flags override it. `--net` picks
//! the network widths: `tiny` (4, 8, 8), `small` (8…64, the quick reproduction's) or
//! `default` (16…128). Every stage checkpoints into `--out` and a rerun resumes from
//! there. Prints a JSON summary (first and last loss of each stage).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use candor_matting::model::{NetConfig, RefineConfig};
use candor_matting::train::{train_model, TrainConfig};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Train the click-guided matting net on the synthetic proxy")]
struct Args {
    /// Output folder (model.json, click.safetensors, refine.safetensors, checkpoints).
    #[arg(long)]
    out: PathBuf,
    /// Side of the square training images (a multiple of the network's stride).
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Network widths: tiny, small or default.
    #[arg(long, default_value = "small")]
    net: String,
    /// Training settings as JSON (a `TrainConfig`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Stage 1 steps (encoder + α decoder).
    #[arg(long)]
    alpha_steps: Option<usize>,
    /// Stage 2 steps (σ decoder).
    #[arg(long)]
    sigma_steps: Option<usize>,
    /// Stage 3 steps (refinement net).
    #[arg(long)]
    refine_steps: Option<usize>,
    /// Images per step.
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of the data streams, clicks and initialisation.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let net = match a.net.as_str() {
        "tiny" => NetConfig::tiny(),
        "small" => NetConfig::small(),
        "default" => NetConfig::default(),
        other => bail!("--net must be tiny, small or default, got '{other}'"),
    };
    let refine = RefineConfig::default();
    let mut cfg = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let mut v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", p.display()))?;
            // Defaults at the file's size (else --size) for the keys it leaves out.
            let size = v
                .get("size")
                .and_then(|s| s.as_u64())
                .map_or(a.size, |s| s as usize);
            let mut base = serde_json::to_value(TrainConfig::at_size(size))?;
            if let (Some(b), Some(o)) = (base.as_object_mut(), v.as_object_mut()) {
                for (k, val) in std::mem::take(o) {
                    b.insert(k, val);
                }
            }
            serde_json::from_value(base)
                .with_context(|| format!("bad training config in {}", p.display()))?
        }
        None => TrainConfig::at_size(a.size),
    };
    if let Some(s) = a.alpha_steps {
        cfg.alpha_steps = s;
    }
    if let Some(s) = a.sigma_steps {
        cfg.sigma_steps = s;
    }
    if let Some(s) = a.refine_steps {
        cfg.refine_steps = s;
    }
    if let Some(b) = a.batch {
        cfg.batch = b;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    let started = std::time::Instant::now();
    let m = train_model(&net, &refine, &cfg, &a.out, &Device::Cpu)?;
    let stage =
        |l: &[f32]| json!({"steps": l.len(), "first_loss": l.first(), "last_loss": l.last()});
    println!(
        "{}",
        json!({
            "out": a.out.display().to_string(),
            "size": cfg.size,
            "widths": net.widths,
            "alpha": stage(&m.losses[0]),
            "sigma": stage(&m.losses[1]),
            "refine": stage(&m.losses[2]),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
