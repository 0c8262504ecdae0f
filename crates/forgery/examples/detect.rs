//! Scores every image of a folder with a trained detector and prints, per file,
//! the probability of *fake* and the decision.
//!
//! ```text
//! cargo run --release -p candor-forgery --example detect -- \
//!     --checkpoint model.safetensors --images DIR [--threshold 0.5] [--batch 32]
//! ```
//!
//! The checkpoint is a file of `candor_forgery::model::save_detector`, e.g. one of
//! `target/reproduce/forgery/checkpoints/*.safetensors` left by
//! `cargo xtask reproduce --paper forgery`: it records the detector's
//! configuration (vanilla, MAT or SPSL) and the input size and normalisation it
//! was trained with, so nothing else is needed. Images (`.png`, `.jpg`, `.jpeg`
//! directly in DIR, in natural order) are decoded as in training (resized to the
//! training size). Output: one tab-separated line per image, `file  score  label`,
//! with `label` = `fake` when `score > threshold` (the papers' ACC rule at 0.5),
//! else `real`; a summary goes to stderr.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle_core::Device;
use candor_core::imageio::stack_batch;
use candor_forgery::data::ff::FRAME_EXTENSIONS;
use candor_forgery::data::load_frame;
use candor_forgery::model::load_detector;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Score the images of a folder with a trained face-forgery detector")]
struct Args {
    /// Detector checkpoint written by save_detector (.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Folder of images (.png, .jpg, .jpeg) to score.
    #[arg(long)]
    images: PathBuf,
    /// Decision threshold on the probability of fake (fake if score > threshold).
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
}

/// Image files directly in `dir`, in natural order of their names.
fn list_images(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| FRAME_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        })
        .collect();
    files.sort_by_cached_key(|p| natural_key(p));
    Ok(files)
}

/// Sort key that puts `2.png` before `10.png`.
fn natural_key(p: &Path) -> Vec<(String, u128)> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut key = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u128::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    key.push((text, digits.parse().unwrap_or(0)));
    key
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("--threshold must be in [0, 1], got {}", args.threshold);
    }
    if args.batch == 0 {
        bail!("--batch must be positive");
    }
    let loaded = load_detector(&args.checkpoint, None, &Device::Cpu)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let files = list_images(&args.images)?;
    if files.is_empty() {
        bail!(
            "no images ({}) in {}",
            FRAME_EXTENSIONS.join(", "),
            args.images.display()
        );
    }
    eprintln!(
        "{}: {} detector{}, input {}; {} images",
        args.checkpoint.display(),
        loaded.detector.name(),
        loaded
            .epoch
            .map_or(String::new(), |e| format!(" (epoch {e})")),
        loaded
            .input
            .size
            .map_or("at native size".to_string(), |(h, w)| format!("{h}×{w}")),
        files.len()
    );
    // Frames of different sizes cannot share a batch when the input size is free.
    let batch = if loaded.input.size.is_some() {
        args.batch
    } else {
        1
    };
    let mut fakes = 0;
    for chunk in files.chunks(batch) {
        let images = chunk
            .iter()
            .map(|p| {
                load_frame(p, &loaded.input).with_context(|| format!("decoding {}", p.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scores = loaded.detector.scores(&stack_batch(&images)?)?;
        for (p, s) in chunk.iter().zip(scores) {
            let fake = f64::from(s) > args.threshold;
            fakes += usize::from(fake);
            println!(
                "{}\t{s:.4}\t{}",
                p.display(),
                if fake { "fake" } else { "real" }
            );
        }
    }
    eprintln!(
        "{fakes} of {} images scored fake (threshold {})",
        files.len(),
        args.threshold
    );
    Ok(())
}
