//! Write a few synthetic (A, B) pairs of every task, the watermarks and a
//! spread-spectrum-marked B′ (with |B′ − B| × 10) as PNG files, to look at the data.
//!
//! `cargo run -p candor-watermark --example gallery -- OUT_DIR [SIDE]`

use anyhow::{Context, Result};
use candor_watermark::config::{LogoKind, Polarity, TaskConfig, TaskKind, WatermarkConfig};
use candor_watermark::data::{logo, synthetic};
use candor_watermark::eval::psnr;
use candor_watermark::traditional::SpreadSpectrum;
use candor_watermark::Image;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().context("usage: gallery OUT_DIR [SIDE]")?);
    let side: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    std::fs::create_dir_all(&out)?;
    for kind in TaskKind::ALL {
        for channels in [1, 3] {
            let cfg = TaskConfig {
                kind,
                height: side,
                width: side,
                channels,
                images: 3,
                seed: 0,
            };
            for p in synthetic::generate(&cfg)? {
                let name = format!("{}-{}ch", p.source, channels);
                p.a.save(out.join(format!("{name}-A.png")))?;
                p.b.save(out.join(format!("{name}-B.png")))?;
            }
        }
    }
    for (kind, polarity, name) in [
        (LogoKind::Logo, Polarity::DarkOnLight, "logo"),
        (LogoKind::Logo, Polarity::LightOnDark, "logo-inverted"),
        (LogoKind::Grid, Polarity::DarkOnLight, "grid"),
    ] {
        let cfg = WatermarkConfig {
            kind,
            polarity,
            ..WatermarkConfig::default()
        };
        let d = logo::watermark(&cfg, 1, side, side)?;
        println!("{name}: mean {:.3}", d.mean());
        d.save(out.join(format!("watermark-{name}.png")))?;
    }
    // The bit watermark on one debone output at a = 0.01.
    let cfg = TaskConfig {
        height: side,
        width: side,
        images: 1,
        ..TaskConfig::default()
    };
    let b = synthetic::pair(&cfg, 0)?.b;
    let scheme = SpreadSpectrum::new(1, 64, 1, 1, side, side)?;
    let marked = scheme.embed(&b, &logo::random_bits(64, 1), 0.01)?;
    println!(
        "spread spectrum a = 0.01: PSNR {:.2} dB",
        psnr(&marked, &b)?
    );
    let diff: Vec<f32> = marked
        .data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| ((x - y).abs() * 10.0).min(1.0))
        .collect();
    marked.save(out.join("bits-Bprime.png"))?;
    Image::new(1, side, side, diff)?.save(out.join("bits-diff-x10.png"))?;
    println!("wrote {}", out.display());
    Ok(())
}
