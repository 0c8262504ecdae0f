//! Uncertainty-guided local refinement: choose the k×k windows with the highest mean
//! σ (the card's \[proposal\]: average-pool σ with a k×k window at stride k/2, then the
//! top-K windows after non-maximum suppression, where any overlap with a chosen window
//! suppresses), crop them from the image and the coarse alpha, refine them, and paste
//! the refined patches back. k = 64·res/512 ([`patch_size`]); K is the user's budget.
//!
//! The same selection on |α_p − α_g| instead of σ gives stage 3's training patches
//! (the patches with the largest error).

use candle_core::Tensor;

use crate::model::RefineNet;
use crate::{Error, Result};

/// One k×k window: top-left corner and side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub y: usize,
    pub x: usize,
    pub k: usize,
}

impl Window {
    /// Whether two windows share a pixel.
    pub fn overlaps(&self, o: &Window) -> bool {
        self.y < o.y + o.k && o.y < self.y + self.k && self.x < o.x + o.k && o.x < self.x + self.k
    }
}

/// k = round(64·res/512), at least 4 (64 at 512², 16 at 128²).
pub fn patch_size(res: usize) -> usize {
    ((64.0 * res as f64 / 512.0).round() as usize).max(4)
}

/// Window offsets along one side: 0, stride, …, and the last window flush with the edge.
fn offsets(n: usize, k: usize, stride: usize) -> Vec<usize> {
    let mut o: Vec<usize> = (0..=(n - k)).step_by(stride).collect();
    if *o.last().expect("n ≥ k") != n - k {
        o.push(n - k);
    }
    o
}

/// The top-`budget` k×k windows of `score` (`h × w`, row-major) by mean score, at
/// stride `stride`, after non-maximum suppression (a window overlapping a chosen one is
/// skipped). Ties go to the first window in row-major order. Fewer than `budget` come
/// back when the image has no room for more.
pub fn select_windows(
    score: &[f32],
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    budget: usize,
) -> Result<Vec<Window>> {
    if score.len() != h * w || k == 0 || k > h || k > w || stride == 0 {
        return Err(Error::invalid(format!(
            "select_windows: {} scores for {h}×{w}, window {k}, stride {stride}",
            score.len()
        )));
    }
    if budget == 0 {
        return Ok(Vec::new());
    }
    // Summed-area table for window means.
    let mut sat = vec![0f64; (h + 1) * (w + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += f64::from(score[y * w + x]);
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let sum = |y: usize, x: usize| {
        sat[(y + k) * (w + 1) + x + k] - sat[y * (w + 1) + x + k] - sat[(y + k) * (w + 1) + x]
            + sat[y * (w + 1) + x]
    };
    let mut cands: Vec<(f64, Window)> = Vec::new();
    for &y in &offsets(h, k, stride) {
        for &x in &offsets(w, k, stride) {
            cands.push((sum(y, x), Window { y, x, k }));
        }
    }
    // Stable sort keeps row-major order among ties.
    cands.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<Window> = Vec::with_capacity(budget);
    for (_, c) in cands {
        if chosen.iter().all(|o| !o.overlaps(&c)) {
            chosen.push(c);
            if chosen.len() == budget {
                break;
            }
        }
    }
    Ok(chosen)
}

/// Crop windows from a `(C, H, W)` tensor into `(K, C, k, k)`.
pub fn crop_windows(x: &Tensor, windows: &[Window]) -> Result<Tensor> {
    let (_, h, w) = x.dims3()?;
    let crops = windows
        .iter()
        .map(|win| {
            if win.y + win.k > h || win.x + win.k > w {
                return Err(Error::invalid(format!(
                    "window {win:?} outside the {h}×{w} image"
                )));
            }
            Ok(x.narrow(1, win.y, win.k)?.narrow(2, win.x, win.k)?)
        })
        .collect::<Result<Vec<_>>>()?;
    if crops.is_empty() {
        return Err(Error::invalid("crop_windows: no windows"));
    }
    Ok(Tensor::stack(&crops, 0)?)
}

/// Paste refined k×k patches (row-major, one `Vec` per window) into `alpha` (`h × w`),
/// in order; pixels outside every window are left unchanged.
pub fn paste_windows(
    alpha: &mut [f32],
    h: usize,
    w: usize,
    windows: &[Window],
    patches: &[Vec<f32>],
) -> Result<()> {
    if alpha.len() != h * w || windows.len() != patches.len() {
        return Err(Error::invalid(format!(
            "paste_windows: {} alpha values for {h}×{w}, {} windows, {} patches",
            alpha.len(),
            windows.len(),
            patches.len()
        )));
    }
    for (win, p) in windows.iter().zip(patches) {
        if win.y + win.k > h || win.x + win.k > w || p.len() != win.k * win.k {
            return Err(Error::invalid(format!(
                "paste_windows: patch of {} values for window {win:?} in {h}×{w}",
                p.len()
            )));
        }
        for dy in 0..win.k {
            let row = (win.y + dy) * w + win.x;
            alpha[row..row + win.k].copy_from_slice(&p[dy * win.k..(dy + 1) * win.k]);
        }
    }
    Ok(())
}

/// Refine one image: `rgb` `(3, H, W)`, `coarse` and `sigma` `(H × W)` row-major.
/// Chooses the top-`budget` windows of σ and returns the alpha with the refined
/// patches pasted back, and the windows.
pub fn refine_image(
    net: &RefineNet,
    rgb: &Tensor,
    coarse: &[f32],
    sigma: &[f32],
    k: usize,
    budget: usize,
) -> Result<(Vec<f32>, Vec<Window>)> {
    let (_, h, w) = rgb.dims3()?;
    if coarse.len() != h * w {
        return Err(Error::invalid(format!(
            "refine_image: {} alpha values for a {h}×{w} image",
            coarse.len()
        )));
    }
    let windows = select_windows(sigma, h, w, k, (k / 2).max(1), budget)?;
    let mut out = coarse.to_vec();
    if windows.is_empty() {
        return Ok((out, windows));
    }
    let a = Tensor::from_slice(coarse, (1, h, w), rgb.device())?;
    let refined = net.forward(&crop_windows(rgb, &windows)?, &crop_windows(&a, &windows)?)?;
    let patches: Vec<Vec<f32>> = refined.flatten_from(1)?.to_vec2::<f32>()?;
    paste_windows(&mut out, h, w, &windows, &patches)?;
    Ok((out, windows))
}
