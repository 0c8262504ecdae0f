//! SPSL's phase channel of one image, written as a float32 `.npy` (H×W) and
//! optionally as a PNG for viewing.
//!
//! ```text
//! cargo run --release -p candor-forgery --example phase -- face.png --npy phase.npy [--png phase.png]
//! ```
//!
//! The `.npy` holds exactly the card's definition (DeepfakeBench v2): RGB/255 →
//! `(x − 0.5)/0.5` → mean of the three channels → unit amplitude →
//! `Re(IFFT2(·))`, no rescaling (RMS `1/sqrt(H·W)`). Compare with numpy:
//! `np.real(np.fft.ifft2(np.exp(1j*np.angle(np.fft.fft2(g)))))`.
//! The PNG maps the channel's min..max to 0..255 (it is tiny and zero-mean).

use std::path::PathBuf;

use anyhow::Context;
use candle_core::Tensor;
use candor_core::imageio::{load_image, save_image};
use candor_forgery::data::{phase_channel, write_npy_f32, Normalize, PhaseScale};
use clap::Parser;

#[derive(Parser)]
#[command(about = "SPSL phase channel of an image as .npy (and PNG)")]
struct Args {
    /// Input image (PNG or JPEG).
    image: PathBuf,
    /// Output .npy file (float32, H×W).
    #[arg(long)]
    npy: PathBuf,
    /// Optional PNG of the channel rescaled to 0..255.
    #[arg(long)]
    png: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let img = load_image(&args.image)?;
    let p = phase_channel(&img, Normalize::Unit, PhaseScale::Raw)?;
    let (h, w) = p.dims2()?;
    let v = p.flatten_all()?.to_vec1::<f32>()?;
    write_npy_f32(&args.npy, &[h, w], &v)?;
    let rms = (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    println!(
        "{}: {h}×{w}, phase RMS {rms:.6} (1/sqrt(H·W) = {:.6}) → {}",
        args.image.display(),
        1.0 / ((h * w) as f64).sqrt(),
        args.npy.display()
    );
    if let Some(png) = &args.png {
        let (lo, hi) = v
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let scale = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
        let view: Vec<f32> = v.iter().map(|x| (x - lo) * scale).collect();
        let t = Tensor::from_vec(view, (h, w), &candle_core::Device::Cpu)?;
        save_image(&t, png).with_context(|| format!("writing {}", png.display()))?;
        println!(
            "view (min {lo:.5} → 0, max {hi:.5} → 255) → {}",
            png.display()
        );
    }
    Ok(())
}
