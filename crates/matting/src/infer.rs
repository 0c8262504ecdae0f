//! Inference: the network on images with clicks, in chunks; the refinement step; alpha
//! quantisation; and the non-learned reference (clicks → flood fill → blurred edge).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::clicks::{encode_clicks, Click};
use crate::model::{network_input, MattingNet, NetConfig, RefineConfig, RefineNet};
use crate::refine::{refine_image, Window};
use crate::{Error, Result};

/// One image's prediction (row-major `h × w`).
#[derive(Debug, Clone)]
pub struct Prediction {
    pub height: usize,
    pub width: usize,
    /// α_p in [0, 1].
    pub alpha: Vec<f32>,
    /// σ_p when asked for.
    pub sigma: Option<Vec<f32>>,
}

/// Run `net` on `images` (`(3, H, W)` each, one size) with their clicks (one list per
/// image; ignored by a no-click network), `chunk` images per forward pass.
pub fn predict(
    net: &MattingNet,
    images: &[Tensor],
    clicks: &[Vec<Click>],
    radius: usize,
    with_sigma: bool,
    chunk: usize,
) -> Result<Vec<Prediction>> {
    if images.len() != clicks.len() {
        return Err(Error::invalid(format!(
            "predict: {} images but {} click lists",
            images.len(),
            clicks.len()
        )));
    }
    let mut out = Vec::with_capacity(images.len());
    for (imgs, cls) in images.chunks(chunk.max(1)).zip(clicks.chunks(chunk.max(1))) {
        let maps = if net.config().clicks {
            let mut maps = Vec::with_capacity(imgs.len());
            for (img, c) in imgs.iter().zip(cls) {
                let (_, h, w) = img.dims3()?;
                let m = encode_clicks(c, h, w, radius)?;
                maps.push(Tensor::from_vec(m, (1, h, w), img.device())?);
            }
            Some(maps)
        } else {
            None
        };
        let x = network_input(imgs, maps.as_deref())?;
        let o = net.forward(&x, with_sigma, false)?;
        let (b, _, h, w) = o.alpha.dims4()?;
        let a = o.alpha.flatten_from(1)?.to_vec2::<f32>()?;
        let s = match &o.sigma {
            Some(s) => Some(s.flatten_from(1)?.to_vec2::<f32>()?),
            None => None,
        };
        for i in 0..b {
            out.push(Prediction {
                height: h,
                width: w,
                alpha: a[i].clone(),
                sigma: s.as_ref().map(|s| s[i].clone()),
            });
        }
    }
    Ok(out)
}

/// Refine a prediction at its `budget` most uncertain k×k windows.
pub fn refine_prediction(
    refine: &RefineNet,
    image: &Tensor,
    p: &Prediction,
    k: usize,
    budget: usize,
) -> Result<(Vec<f32>, Vec<Window>)> {
    let sigma = p
        .sigma
        .as_ref()
        .ok_or_else(|| Error::invalid("refinement needs the prediction's σ"))?;
    refine_image(refine, image, &p.alpha, sigma, k, budget)
}

/// α in [0, 1] → 8-bit (rounded, clamped).
pub fn to_u8(alpha: &[f32]) -> Vec<u8> {
    alpha
        .iter()
        .map(|&a| (a.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// The non-learned reference: from each foreground click, grow a 4-connected region
/// over pixels whose RGB distance (in [0, 1] units) to the mean colour of the click's
/// disk is below `tolerance`, never into a background disk; then blur the binary mask
/// with a `(2·blur + 1)²` box twice for a soft edge. `rgb` is interleaved 8-bit.
pub fn flood_fill_matte(
    rgb: &[u8],
    height: usize,
    width: usize,
    clicks: &[Click],
    radius: usize,
    tolerance: f32,
    blur: usize,
) -> Result<Vec<f32>> {
    let n = height * width;
    if rgb.len() != 3 * n {
        return Err(Error::invalid(format!(
            "flood fill: {} bytes for a {height}×{width} RGB image",
            rgb.len()
        )));
    }
    let map = encode_clicks(clicks, height, width, radius)?;
    let px = |i: usize| {
        [
            f32::from(rgb[3 * i]) / 255.0,
            f32::from(rgb[3 * i + 1]) / 255.0,
            f32::from(rgb[3 * i + 2]) / 255.0,
        ]
    };
    let mut mask = vec![false; n];
    for c in clicks.iter().filter(|c| c.foreground) {
        let seed = c.y * width + c.x;
        // Mean colour of the disk.
        let (mut m, mut cnt) = ([0f32; 3], 0f32);
        for (i, &v) in map.iter().enumerate() {
            let (y, x) = (i / width, i % width);
            let (dy, dx) = (y as isize - c.y as isize, x as isize - c.x as isize);
            if v > 0.0 && (dy * dy + dx * dx) as usize <= radius * radius {
                let p = px(i);
                for k in 0..3 {
                    m[k] += p[k];
                }
                cnt += 1.0;
            }
        }
        let m = m.map(|v| v / cnt.max(1.0));
        let mut stack = vec![seed];
        while let Some(i) = stack.pop() {
            if mask[i] || map[i] < 0.0 {
                continue;
            }
            let p = px(i);
            let d = ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2) + (p[2] - m[2]).powi(2)).sqrt();
            if d > tolerance && map[i] <= 0.0 {
                continue;
            }
            mask[i] = true;
            let (y, x) = (i / width, i % width);
            if y > 0 {
                stack.push(i - width);
            }
            if y + 1 < height {
                stack.push(i + width);
            }
            if x > 0 {
                stack.push(i - 1);
            }
            if x + 1 < width {
                stack.push(i + 1);
            }
        }
    }
    let mut a: Vec<f32> = mask.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
    for _ in 0..2 {
        a = box_blur(&a, height, width, blur);
    }
    Ok(a)
}

/// Mean over the `(2r + 1)²` box clipped to the image.
fn box_blur(a: &[f32], h: usize, w: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0f32; h * w];
    for y in 0..h {
        for x in 0..w {
            let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
            let (x0, x1) = (x.saturating_sub(r), (x + r).min(w - 1));
            let mut s = 0f32;
            for yy in y0..=y1 {
                s += a[yy * w + x0..=yy * w + x1].iter().sum::<f32>();
            }
            out[y * w + x] = s / ((y1 - y0 + 1) * (x1 - x0 + 1)) as f32;
        }
    }
    out
}

/// What `model.json` holds next to the final checkpoint (written by
/// [`reproduce`](crate::reproduce), read by [`load_model`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedModel {
    pub net: NetConfig,
    pub refine: RefineConfig,
    /// Training resolution (sets the click radius and patch size).
    pub size: usize,
}

/// Write what [`load_model`] reads into `dir`: `model.json` (from `saved`),
/// `click.safetensors` (the matting net's variables `vm`) and `refine.safetensors`
/// (the refinement net's `refine_vm`), each atomically.
pub fn save_model(
    dir: &std::path::Path,
    saved: &SavedModel,
    vm: &candle_nn::VarMap,
    refine_vm: &candle_nn::VarMap,
) -> Result<()> {
    use candor_core::checkpoint::save_varmap;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    save_varmap(vm, dir.join("click.safetensors"))?;
    save_varmap(refine_vm, dir.join("refine.safetensors"))?;
    candor_core::fsio::write_atomic(
        dir.join("model.json"),
        serde_json::to_string_pretty(saved)?.as_bytes(),
    )
}

/// A trained click net with its refinement net, as `reproduce` leaves them in its
/// `checkpoints/` folder (`model.json`, `click.safetensors`, `refine.safetensors`).
pub struct LoadedModel {
    pub saved: SavedModel,
    pub net: MattingNet,
    pub refine: RefineNet,
}

/// Load [`LoadedModel`] from `dir`. Errors name the missing or mismatched file.
pub fn load_model(dir: &std::path::Path, device: &candle_core::Device) -> Result<LoadedModel> {
    use candle_core::DType;
    use candle_nn::VarMap;
    use candor_core::checkpoint::load_varmap;
    use candor_core::init::seeded_var_builder;
    let json = dir.join("model.json");
    let text = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, e))?;
    let saved: SavedModel = serde_json::from_str(&text)
        .map_err(|e| Error::format(&json, format!("bad model description: {e}")))?;
    let vm = VarMap::new();
    let net = MattingNet::new(&saved.net, seeded_var_builder(&vm, 0, DType::F32, device))?;
    load_varmap(&vm, dir.join("click.safetensors"))?;
    let rvm = VarMap::new();
    let refine = RefineNet::new(
        &saved.refine,
        seeded_var_builder(&rvm, 0, DType::F32, device),
    )?;
    load_varmap(&rvm, dir.join("refine.safetensors"))?;
    Ok(LoadedModel { saved, net, refine })
}
