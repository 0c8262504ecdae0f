//! Write SynthClickMatte samples as a Composition-1k-style folder that
//! `candor_matting::data::comp1k::Comp1k::open` (and other matting code) can read.
//!
//! ```sh
//! cargo run -p candor-matting --example synth -- --out /tmp/synth --n 20 --size 256
//! ```
//!
//! Writes `fg/`, `alpha/`, `bg/` (the background with its distractors), `merged/` (the
//! composites), `clicks/` (the deterministic test-style clicks drawn on the composite:
//! green foreground, red background), `fg_names.txt` and `bg_names.txt`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use image::Rgb;

use candor_matting::clicks::{click_radius, encode_clicks, test_clicks};
use candor_matting::data::synth::{Kind, SynthClickMatte, SynthConfig};
use candor_matting::data::{save_gray, save_rgb};

#[derive(Parser)]
#[command(about = "Write SynthClickMatte samples in Composition-1k's folder layout")]
struct Args {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Seed of the training stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep only samples whose target is of this kind (solid, hairy, veil, motion,
    /// smoke, mesh).
    #[arg(long)]
    kind: Option<String>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let gen = SynthClickMatte::new(SynthConfig::with_size(a.size))?;
    let kind: Option<Kind> = match &a.kind {
        Some(k) => Some(serde_json::from_value(serde_json::Value::String(
            k.clone(),
        ))?),
        None => None,
    };
    let indices: Vec<u64> = (0u64..)
        .filter(|&i| kind.is_none_or(|k| gen.target_kind(a.seed, i) == k))
        .take(a.n)
        .collect();
    let samples = indices
        .iter()
        .map(|&i| gen.sample(a.seed, i))
        .collect::<candor_matting::Result<Vec<_>>>()?;
    let r = click_radius(a.size);
    let mut names = String::new();
    for (i, s) in samples.iter().enumerate() {
        let name = format!("synth_{i:05}.png");
        save_rgb(&s.fg, a.out.join("fg").join(&name))?;
        save_gray(&s.alpha, a.out.join("alpha").join(&name))?;
        save_rgb(&s.bg, a.out.join("bg").join(&name))?;
        save_rgb(&s.image, a.out.join("merged").join(&name))?;
        let clicks = test_clicks(&s.alpha, s.distractors.as_ref(), r)?;
        let (h, w) = s.size();
        let map = encode_clicks(&clicks, h, w, r)?;
        let mut shown = s.image.clone();
        for (i, &v) in map.iter().enumerate() {
            let (x, y) = ((i % w) as u32, (i / w) as u32);
            if v > 0.0 {
                shown.put_pixel(x, y, Rgb([0, 255, 0]));
            } else if v < 0.0 {
                shown.put_pixel(x, y, Rgb([255, 0, 0]));
            }
        }
        save_rgb(&shown, a.out.join("clicks").join(&name))?;
        names.push_str(&name);
        names.push('\n');
    }
    candor_core::fsio::write_atomic(a.out.join("fg_names.txt"), names.as_bytes())?;
    candor_core::fsio::write_atomic(a.out.join("bg_names.txt"), names.as_bytes())?;
    println!("wrote {} samples to {}", a.n, a.out.display());
    Ok(())
}
