//! Matte one image from a few clicks with a trained click net.
//!
//! ```sh
//! cargo xtask reproduce --paper matting --scale quick --out out   # trains and saves the nets
//! cargo run -p candor-matting --example matte -- --model out/matting/checkpoints \
//!     --image X.png --fg-click 60,40 --bg-click 10,10 [--budget 16] --out alpha.png [--sigma sigma.png]
//! ```
//!
//! Clicks are `x,y` pixel coordinates (repeat the flags for more clicks); the disk
//! radius is 15·side/512 px (side = the larger image side). The image is padded by
//! edge replication to a multiple of the network's stride, then cropped back. With
//! `--budget K` the K most uncertain k×k windows (k = 64·side/512) are refined.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use candor_matting::clicks::{click_radius, Click};
use candor_matting::data::{load_rgb, rgb_tensor, save_gray};
use candor_matting::infer::{load_model, predict, refine_prediction, to_u8};
use candor_matting::refine::patch_size;
use clap::Parser;
use image::GrayImage;

#[derive(Parser)]
#[command(about = "Click-guided matting with uncertainty and local refinement")]
struct Args {
    /// Folder with model.json, click.safetensors and refine.safetensors.
    #[arg(long)]
    model: PathBuf,
    /// Input image (PNG/JPEG).
    #[arg(long)]
    image: PathBuf,
    /// A foreground click `x,y` (repeatable).
    #[arg(long = "fg-click")]
    fg: Vec<String>,
    /// A background click `x,y` (repeatable).
    #[arg(long = "bg-click")]
    bg: Vec<String>,
    /// Patches to refine (0: none).
    #[arg(long, default_value_t = 0)]
    budget: usize,
    /// Output alpha (grey PNG).
    #[arg(long)]
    out: PathBuf,
    /// Optional σ map, scaled to its maximum (grey PNG).
    #[arg(long)]
    sigma: Option<PathBuf>,
}

fn parse(s: &str, fg: bool, w: usize, h: usize) -> Result<Click> {
    let (x, y) = s
        .split_once(',')
        .with_context(|| format!("click '{s}' is not x,y"))?;
    let (x, y): (usize, usize) = (x.trim().parse()?, y.trim().parse()?);
    if x >= w || y >= h {
        bail!("click ({x}, {y}) is outside the {w}x{h} image");
    }
    Ok(Click {
        y,
        x,
        foreground: fg,
    })
}

fn main() -> Result<()> {
    let a = Args::parse();
    let device = Device::Cpu;
    let m = load_model(&a.model, &device)?;
    let img = load_rgb(&a.image)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut clicks = Vec::new();
    for s in &a.fg {
        clicks.push(parse(s, true, w, h)?);
    }
    for s in &a.bg {
        clicks.push(parse(s, false, w, h)?);
    }
    let mult = m.net.config().side_multiple();
    let (ph, pw) = (h.div_ceil(mult) * mult, w.div_ceil(mult) * mult);
    let x = rgb_tensor(&img, &device)?;
    // Edge-replicate padding to (ph, pw).
    let x = pad(&x, ph, pw)?;
    let side = w.max(h);
    let p = predict(
        &m.net,
        std::slice::from_ref(&x),
        &[clicks],
        click_radius(side),
        true,
        1,
    )?
    .remove(0);
    let k = patch_size(side).min(ph).min(pw);
    let (alpha, _) = refine_prediction(&m.refine, &x, &p, k, a.budget)?;
    let crop = |v: &[f32]| -> Vec<f32> {
        (0..h)
            .flat_map(|y| v[y * pw..y * pw + w].to_vec())
            .collect()
    };
    save_gray(
        &GrayImage::from_raw(w as u32, h as u32, to_u8(&crop(&alpha))).context("size")?,
        &a.out,
    )?;
    if let Some(path) = &a.sigma {
        let s = crop(p.sigma.as_ref().context("σ")?);
        let mx = s.iter().copied().fold(1e-6f32, f32::max);
        let s: Vec<f32> = s.iter().map(|v| v / mx).collect();
        save_gray(
            &GrayImage::from_raw(w as u32, h as u32, to_u8(&s)).context("size")?,
            path,
        )?;
    }
    Ok(())
}

fn pad(x: &Tensor, ph: usize, pw: usize) -> Result<Tensor> {
    let (_, h, w) = x.dims3()?;
    let mut x = x.clone();
    if pw > w {
        let last = x.narrow(2, w - 1, 1)?.repeat((1, 1, pw - w))?;
        x = Tensor::cat(&[&x, &last], 2)?;
    }
    if ph > h {
        let last = x.narrow(1, h - 1, 1)?.repeat((1, ph - h, 1))?;
        x = Tensor::cat(&[&x, &last], 1)?;
    }
    Ok(x)
}
