//! The four alpha-matting errors of Deep Image Matting's evaluation code (Xu et al.,
//! CVPR 2017; MATLAB files `compute_sad_loss.m`, `compute_mse_loss.m`,
//! `compute_gradient_loss.m`, `compute_connectivity_error.m`, `gaussgradient.m`),
//! which implement the measures of Rhemann et al. (CVPR 2009, alphamatting.com).
//!
//! Inputs are 8-bit alpha mattes (0–255, row-major, `height × width`): the prediction,
//! the ground truth, and the [`Region`] the errors are summed over: the pixels where a
//! trimap equals 128 (DIM's rule; other trimap values are ignored), a boolean mask, or
//! the whole image. Values are **reported as the mmeval port reports them**:
//!
//! | error | definition over the region U | reported |
//! |---|---|---|
//! | [`sad`] | Σ_U \|p − g\| / 255 | ÷ 1000 |
//! | [`mse`] | Σ_U ((p − g)/255)² / \|U\| | raw (tables often print ×10³) |
//! | [`grad`] | Σ_U (‖∇G_σ p̃‖ − ‖∇G_σ g̃‖)², p̃, g̃ min–max scaled to [0, 1], σ = 1.4 | ÷ 1000 |
//! | [`conn`] | Σ_U \|φ(p) − φ(g)\|, thresholds 0.1…1.0, θ = 0.15, 4-connectivity | ÷ 1000 |
//!
//! **Grad** follows `gaussgradient.m`: the kernel `hx(i, j) = g(u_i)·g′(u_j)` with
//! `g` the normalised Gaussian of σ = 1.4 and `g′(x) = −x·g(x)/σ²`, half-size
//! `ceil(σ·sqrt(−2·ln(√(2π)·σ·0.01))) = 4` (9×9), divided by its L2 norm; `hy = hxᵀ`;
//! both applied as a convolution (`imfilter(…, 'replicate', 'conv')`) with replicated
//! borders. The kernel is separable, so it is applied as two 9-tap passes (the same sum
//! in a different order). Inputs are first min–max scaled (`mat2gray`); a constant
//! image becomes 0 (OpenCV's `NORM_MINMAX`; its gradient is 0 under every convention).
//!
//! **Conn** follows `compute_connectivity_error.m`: with `l = −1` everywhere, for each
//! threshold `t_k = k/10`, k = 1…10, Ω_k is the largest 4-connected component of
//! `(p/255 ≥ t_k) ∧ (g/255 ≥ t_k)` and every pixel still at −1 outside Ω_k gets
//! `l = t_{k−1}`; pixels never reached get 1; then `d = α − l` and
//! `φ = 1 − d·[d ≥ 0.15]`. Two details the ports disagree on are fixed here:
//!
//! * **Threshold rule.** `v/255 ≥ k/10` is decided exactly, as the integer test
//!   `10·v ≥ 255·k`. α = 51, 102, 153, 204 lie exactly on 0.2, 0.4, 0.6, 0.8 and pass.
//!   This is what DIM's MATLAB gets (single-precision alphas against double
//!   thresholds); mmeval's float64 `np.arange(0, 1.1, 0.1)` has 0.6000000000000001, so
//!   there 153 fails the 0.6 test.
//! * **Ties between equally large components**: the component whose first pixel in
//!   column-major order comes first wins, as MATLAB's `bwconncomp` + `max` (OpenCV in
//!   mmeval labels row-major). An empty intersection gives an empty Ω_k. The labelling
//!   is [`Components`], public because the click protocol of candor-matting needs it.
//!
//! The MATLAB code also computes distance maps it never uses (Rhemann's λ weights are
//! effectively 1); they are not computed here. Everything is computed in `f64`, where
//! the MATLAB code works in single precision; the difference is its rounding (≈1e-7
//! relative). `tools/make_matting_fixtures.py` is a numpy/scipy port of the MATLAB code
//! that writes the fixtures these functions are tested against.
//!
//! ```
//! use candor_core::metrics::matting::{self, Region};
//! let (h, w) = (2, 3);
//! let gt = [0u8, 128, 255, 0, 128, 255];
//! let pred = [0u8, 255, 255, 0, 0, 255];
//! let trimap = [0u8, 128, 255, 0, 128, 255];
//! let e = matting::errors(&pred, &gt, h, w, Region::Trimap(&trimap)).unwrap();
//! // Two unknown pixels, each off by 127/255 or 128/255.
//! assert!((e.sad - (127.0 + 128.0) / 255.0 / 1000.0).abs() < 1e-12);
//! assert!((e.mse - ((127.0f64 / 255.0).powi(2) + (128.0f64 / 255.0).powi(2)) / 2.0).abs() < 1e-12);
//! ```

use crate::{bail_invalid, Result};

/// The divisor applied to SAD, Grad and Conn before they are reported (DIM divides SAD
/// "due to the large images"; tables and mmeval divide Grad and Conn too).
pub const REPORT_SCALE: f64 = 1000.0;
/// σ of the derivative-of-Gaussian filter of the gradient error.
pub const GRAD_SIGMA: f64 = 1.4;
/// Number of connectivity thresholds (`t_k = k / CONN_STEPS`, step 0.1).
pub const CONN_STEPS: u32 = 10;
/// The connectivity error's θ: differences below it count as fully connected.
pub const CONN_THETA: f64 = 0.15;
/// The trimap value of the unknown region.
pub const TRIMAP_UNKNOWN: u8 = 128;

/// The pixels an error is summed over.
#[derive(Debug, Clone, Copy)]
pub enum Region<'a> {
    /// Every pixel.
    Whole,
    /// The pixels where this trimap (same size, row-major) equals 128.
    Trimap(&'a [u8]),
    /// The pixels where this mask (same size, row-major) is `true`.
    Mask(&'a [bool]),
}

/// The four errors of one prediction, in the units the field reports
/// (SAD ÷ 1000, MSE raw, Grad ÷ 1000, Conn ÷ 1000).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MattingErrors {
    /// Sum of absolute differences ÷ 1000.
    pub sad: f64,
    /// Mean squared error (raw, not ×10³).
    pub mse: f64,
    /// Gradient error ÷ 1000.
    pub grad: f64,
    /// Connectivity error ÷ 1000.
    pub conn: f64,
}

/// Validated inputs, with the region as a mask (`None` = whole image).
struct Inputs<'a> {
    pred: &'a [u8],
    gt: &'a [u8],
    h: usize,
    w: usize,
    mask: Option<Vec<bool>>,
    count: usize,
}

fn check<'a>(
    what: &str,
    pred: &'a [u8],
    gt: &'a [u8],
    height: usize,
    width: usize,
    region: Region<'_>,
) -> Result<Inputs<'a>> {
    if height == 0 || width == 0 {
        bail_invalid!("{what}: empty image ({height}x{width})");
    }
    let Some(n) = height.checked_mul(width) else {
        bail_invalid!("{what}: image size {height}x{width} overflows");
    };
    if pred.len() != n || gt.len() != n {
        bail_invalid!(
            "{what}: the prediction has {} and the ground truth {} pixels, expected {height}x{width} = {n}",
            pred.len(),
            gt.len()
        );
    }
    let mask = match region {
        Region::Whole => None,
        Region::Trimap(t) => {
            if t.len() != n {
                bail_invalid!(
                    "{what}: the trimap has {} pixels, expected {height}x{width} = {n}",
                    t.len()
                );
            }
            Some(t.iter().map(|&v| v == TRIMAP_UNKNOWN).collect::<Vec<_>>())
        }
        Region::Mask(m) => {
            if m.len() != n {
                bail_invalid!(
                    "{what}: the region mask has {} pixels, expected {height}x{width} = {n}",
                    m.len()
                );
            }
            Some(m.to_vec())
        }
    };
    let count = mask
        .as_ref()
        .map_or(n, |m| m.iter().filter(|&&b| b).count());
    if count == 0 {
        bail_invalid!(
            "{what}: the region is empty (a trimap needs pixels equal to {TRIMAP_UNKNOWN})"
        );
    }
    Ok(Inputs {
        pred,
        gt,
        h: height,
        w: width,
        mask,
        count,
    })
}

impl Inputs<'_> {
    /// `Σ_U f(i)` over the region.
    fn region_sum(&self, f: impl Fn(usize) -> f64) -> f64 {
        let n = self.h * self.w;
        match &self.mask {
            None => (0..n).map(f).sum(),
            Some(m) => (0..n).filter(|&i| m[i]).map(f).sum(),
        }
    }

    fn sad(&self) -> f64 {
        let (p, g) = (self.pred, self.gt);
        self.region_sum(|i| (f64::from(p[i]) - f64::from(g[i])).abs() / 255.0) / REPORT_SCALE
    }

    fn mse(&self) -> f64 {
        let (p, g) = (self.pred, self.gt);
        let s = self.region_sum(|i| {
            let d = (f64::from(p[i]) - f64::from(g[i])) / 255.0;
            d * d
        });
        s / self.count as f64
    }
}

/// Sum of absolute differences over the region, ÷ 1000 (`compute_sad_loss.m`).
///
/// Errors when the sizes disagree, the image is empty or the region has no pixel.
pub fn sad(pred: &[u8], gt: &[u8], height: usize, width: usize, region: Region<'_>) -> Result<f64> {
    Ok(check("matting sad", pred, gt, height, width, region)?.sad())
}

/// Mean squared error of `α/255` over the region, raw (`compute_mse_loss.m`).
///
/// Errors as [`sad`].
pub fn mse(pred: &[u8], gt: &[u8], height: usize, width: usize, region: Region<'_>) -> Result<f64> {
    Ok(check("matting mse", pred, gt, height, width, region)?.mse())
}

/// Gradient error over the region, ÷ 1000 (`compute_gradient_loss.m`, σ = 1.4).
///
/// Errors as [`sad`].
pub fn grad(
    pred: &[u8],
    gt: &[u8],
    height: usize,
    width: usize,
    region: Region<'_>,
) -> Result<f64> {
    Ok(check("matting grad", pred, gt, height, width, region)?.grad())
}

/// Connectivity error over the region, ÷ 1000 (`compute_connectivity_error.m`,
/// step 0.1, θ = 0.15, 4-connectivity, the threshold and tie rules of the module docs).
///
/// Errors as [`sad`].
pub fn conn(
    pred: &[u8],
    gt: &[u8],
    height: usize,
    width: usize,
    region: Region<'_>,
) -> Result<f64> {
    Ok(check("matting conn", pred, gt, height, width, region)?.conn())
}

/// All four errors at once (the inputs are validated once; Grad and Conn run in
/// parallel).
///
/// Errors as [`sad`].
pub fn errors(
    pred: &[u8],
    gt: &[u8],
    height: usize,
    width: usize,
    region: Region<'_>,
) -> Result<MattingErrors> {
    let x = check("matting errors", pred, gt, height, width, region)?;
    let (grad, conn) = rayon::join(|| x.grad(), || x.conn());
    Ok(MattingErrors {
        sad: x.sad(),
        mse: x.mse(),
        grad,
        conn,
    })
}

// ---------------------------------------------------------------------------
// Gradient error
// ---------------------------------------------------------------------------

/// Half-size of the derivative-of-Gaussian kernel for `sigma`, as `gaussgradient.m`
/// computes it: `ceil(σ·sqrt(−2·ln(√(2π)·σ·ε)))` with ε = 0.01 (4 for σ = 1.4).
pub fn dog_half_size(sigma: f64) -> usize {
    let eps = 1e-2;
    let v = sigma * (-2.0 * ((2.0 * std::f64::consts::PI).sqrt() * sigma * eps).ln()).sqrt();
    v.ceil().max(0.0) as usize
}

fn gauss(x: f64, sigma: f64) -> f64 {
    (-x * x / (2.0 * sigma * sigma)).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
}

fn dgauss(x: f64, sigma: f64) -> f64 {
    -x * gauss(x, sigma) / (sigma * sigma)
}

/// The L2-normalised x-derivative-of-Gaussian kernel `hx` of `gaussgradient.m`,
/// `size × size` row-major with `size = 2·half + 1`: `hx(i, j) ∝ g(i − half)·g′(j − half)`
/// (the derivative runs along columns, i.e. along x). `hy` is its transpose.
pub fn dog_kernel(sigma: f64) -> Vec<f64> {
    let half = dog_half_size(sigma);
    let size = 2 * half + 1;
    let mut hx = vec![0.0f64; size * size];
    for i in 0..size {
        for j in 0..size {
            let (ui, uj) = (i as f64 - half as f64, j as f64 - half as f64);
            hx[i * size + j] = gauss(ui, sigma) * dgauss(uj, sigma);
        }
    }
    let norm = hx.iter().map(|v| v * v).sum::<f64>().sqrt();
    hx.iter_mut().for_each(|v| *v /= norm);
    hx
}

/// `mat2gray`: min–max scaling to [0, 1]; a constant image becomes all zeros.
fn min_max_scaled(a: &[u8]) -> Vec<f64> {
    let lo = a.iter().copied().min().unwrap_or(0);
    let hi = a.iter().copied().max().unwrap_or(0);
    if hi == lo {
        return vec![0.0; a.len()];
    }
    let (lo, range) = (f64::from(lo), f64::from(hi) - f64::from(lo));
    a.iter().map(|&v| (f64::from(v) - lo) / range).collect()
}

/// 1-D convolution with replicated borders along rows (`along_x`) or columns:
/// `out(y, x) = Σ_t k[t]·img(y, clamp(x − (t − half)))` (resp. along y).
fn conv1d(img: &[f64], h: usize, w: usize, k: &[f64], along_x: bool) -> Vec<f64> {
    let half = (k.len() / 2) as isize;
    let mut out = vec![0.0f64; h * w];
    if along_x {
        let wi = w as isize;
        for y in 0..h {
            let row = &img[y * w..(y + 1) * w];
            let dst = &mut out[y * w..(y + 1) * w];
            for (x, d) in dst.iter_mut().enumerate() {
                let mut s = 0.0;
                for (t, &kt) in k.iter().enumerate() {
                    let xs = (x as isize - (t as isize - half)).clamp(0, wi - 1) as usize;
                    s += kt * row[xs];
                }
                *d = s;
            }
        }
    } else {
        let hi = h as isize;
        for (t, &kt) in k.iter().enumerate() {
            for y in 0..h {
                let ys = (y as isize - (t as isize - half)).clamp(0, hi - 1) as usize;
                let src = &img[ys * w..(ys + 1) * w];
                let dst = &mut out[y * w..(y + 1) * w];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += kt * s;
                }
            }
        }
    }
    out
}

/// Gradient magnitude `sqrt(gx² + gy²)` of `gaussgradient(mat2gray(a), σ)`.
///
/// `hx(i, j) = a_i·b_j` with `a = g/‖g‖` and `b = g′/‖g′‖` (so `‖hx‖ = 1`), hence
/// `gx` = columns filtered with `a` after rows filtered with `b`, and `gy` the reverse.
fn gradient_magnitude(a: &[u8], h: usize, w: usize, sigma: f64) -> Vec<f64> {
    let img = min_max_scaled(a);
    let half = dog_half_size(sigma);
    let size = 2 * half + 1;
    let g: Vec<f64> = (0..size)
        .map(|i| gauss(i as f64 - half as f64, sigma))
        .collect();
    let dg: Vec<f64> = (0..size)
        .map(|i| dgauss(i as f64 - half as f64, sigma))
        .collect();
    let ng = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let nd = dg.iter().map(|v| v * v).sum::<f64>().sqrt();
    let g: Vec<f64> = g.iter().map(|v| v / ng).collect();
    let dg: Vec<f64> = dg.iter().map(|v| v / nd).collect();
    let rows_d = conv1d(&img, h, w, &dg, true);
    let gx = conv1d(&rows_d, h, w, &g, false);
    let rows_g = conv1d(&img, h, w, &g, true);
    let gy = conv1d(&rows_g, h, w, &dg, false);
    gx.iter()
        .zip(&gy)
        .map(|(x, y)| (x * x + y * y).sqrt())
        .collect()
}

impl Inputs<'_> {
    fn grad(&self) -> f64 {
        let (h, w) = (self.h, self.w);
        let (ap, ag) = rayon::join(
            || gradient_magnitude(self.pred, h, w, GRAD_SIGMA),
            || gradient_magnitude(self.gt, h, w, GRAD_SIGMA),
        );
        let s = self.region_sum(|i| {
            let d = ap[i] - ag[i];
            d * d
        });
        s / REPORT_SCALE
    }
}

// ---------------------------------------------------------------------------
// Connectivity error
// ---------------------------------------------------------------------------

/// `v/255 ≥ k/10` decided exactly (see the module docs).
#[inline]
fn passes(v: u8, k: u32) -> bool {
    u32::from(v) * CONN_STEPS >= 255 * k
}

/// The 4-connected components of a row-major `height × width` mask (the labelling of
/// Conn, public for the matting crate's click protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    /// Per pixel: 0 outside the mask, else the component's label `1..=sizes.len()`,
    /// numbered in row-major order of their first pixel.
    pub labels: Vec<u32>,
    /// Pixel count of component `k + 1`.
    pub sizes: Vec<usize>,
    /// `(x, y)` of each component's first pixel in column-major order (MATLAB's
    /// `bwconncomp` scan order).
    pub first_col_major: Vec<(usize, usize)>,
}

impl Components {
    /// Label the 4-connected components of `mask` (flood fill).
    ///
    /// Errors when `mask` does not have `height · width` pixels.
    pub fn new(mask: &[bool], height: usize, width: usize) -> Result<Self> {
        if height.checked_mul(width) != Some(mask.len()) {
            bail_invalid!(
                "connected components: the mask has {} pixels, expected {height}x{width}",
                mask.len()
            );
        }
        let (h, w) = (height, width);
        let mut labels = vec![0u32; h * w];
        let (mut sizes, mut first_col_major) = (Vec::new(), Vec::new());
        let mut stack = Vec::new();
        for start in 0..h * w {
            if !mask[start] || labels[start] != 0 {
                continue;
            }
            let label = sizes.len() as u32 + 1;
            labels[start] = label;
            stack.push(start);
            let (mut size, mut first) = (0usize, (start % w, start / w));
            while let Some(i) = stack.pop() {
                size += 1;
                let (y, x) = (i / w, i % w);
                first = first.min((x, y));
                let mut visit = |j: usize| {
                    if mask[j] && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < w {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - w);
                }
                if y + 1 < h {
                    visit(i + w);
                }
            }
            sizes.push(size);
            first_col_major.push(first);
        }
        Ok(Components {
            labels,
            sizes,
            first_col_major,
        })
    }

    /// The label of the largest component; among equally large ones the component
    /// whose first pixel in column-major order comes first (MATLAB's `bwconncomp` +
    /// `max`). `None` for an empty mask.
    pub fn largest(&self) -> Option<u32> {
        (0..self.sizes.len())
            .min_by_key(|&k| (std::cmp::Reverse(self.sizes[k]), self.first_col_major[k]))
            .map(|k| k as u32 + 1)
    }
}

impl Inputs<'_> {
    fn conn(&self) -> f64 {
        let (pred, gt) = (self.pred, self.gt);
        let n = self.h * self.w;
        let mut l = vec![-1.0f64; n];
        let mut mask = vec![false; n];
        for k in 1..=CONN_STEPS {
            for ((m, &p), &g) in mask.iter_mut().zip(pred).zip(gt) {
                *m = passes(p, k) && passes(g, k);
            }
            let cc = Components::new(&mask, self.h, self.w).expect("sizes were checked");
            let omega = cc.largest().unwrap_or(0);
            let prev = f64::from(k - 1) / f64::from(CONN_STEPS);
            for (lv, &label) in l.iter_mut().zip(&cc.labels) {
                if *lv == -1.0 && (omega == 0 || label != omega) {
                    *lv = prev;
                }
            }
        }
        let phi = |alpha: u8, l: f64| {
            let l = if l == -1.0 { 1.0 } else { l };
            let d = f64::from(alpha) / 255.0 - l;
            if d >= CONN_THETA {
                1.0 - d
            } else {
                1.0
            }
        };
        self.region_sum(|i| (phi(pred[i], l[i]) - phi(gt[i], l[i])).abs()) / REPORT_SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_9x9_unit_norm_and_antisymmetric() {
        assert_eq!(dog_half_size(GRAD_SIGMA), 4);
        let k = dog_kernel(GRAD_SIGMA);
        assert_eq!(k.len(), 81);
        let norm: f64 = k.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-12);
        for i in 0..9 {
            assert_eq!(k[i * 9 + 4], 0.0);
            for j in 0..9 {
                assert_eq!(k[i * 9 + j], -k[i * 9 + 8 - j]);
                assert_eq!(k[i * 9 + j], k[(8 - i) * 9 + j]);
            }
        }
        // g′(x) < 0 for x > 0: the right half is negative.
        assert!(k[4 * 9 + 5] < 0.0);
    }

    #[test]
    fn separable_passes_equal_the_2d_convolution() {
        let (h, w) = (7, 12);
        let a: Vec<u8> = (0..h * w).map(|i| ((i * 37 + i * i) % 256) as u8).collect();
        let img = min_max_scaled(&a);
        let hx = dog_kernel(GRAD_SIGMA);
        let conv2 = |k: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
            let mut out = vec![0.0; h * w];
            for y in 0..h {
                for x in 0..w {
                    let mut s = 0.0;
                    for i in 0..9 {
                        for j in 0..9 {
                            let ys = (y as isize - (i as isize - 4)).clamp(0, h as isize - 1);
                            let xs = (x as isize - (j as isize - 4)).clamp(0, w as isize - 1);
                            s += k(i, j) * img[ys as usize * w + xs as usize];
                        }
                    }
                    out[y * w + x] = s;
                }
            }
            out
        };
        let gx = conv2(&|i, j| hx[i * 9 + j]);
        let gy = conv2(&|i, j| hx[j * 9 + i]);
        let amp = gradient_magnitude(&a, h, w, GRAD_SIGMA);
        for i in 0..h * w {
            let want = (gx[i] * gx[i] + gy[i] * gy[i]).sqrt();
            assert!((amp[i] - want).abs() < 1e-12, "{i}: {} vs {want}", amp[i]);
        }
    }

    #[test]
    fn threshold_rule_is_exact() {
        for (v, k) in [
            (51u8, 2u32),
            (102, 4),
            (153, 6),
            (204, 8),
            (255, 10),
            (26, 1),
        ] {
            assert!(passes(v, k), "{v} >= {k}/10");
            assert!(!passes(v - 1, k), "{} < {k}/10", v - 1);
        }
        assert!(!passes(25, 1));
    }

    #[test]
    fn component_tie_goes_to_the_first_in_column_major_order() {
        // Two 2-pixel components: a vertical pair in column 0 (rows 2–3) and a
        // horizontal pair in row 0 (columns 2–3). Row-major order finds the row-0 pair
        // first (label 1); column-major order finds the column-0 pair first.
        let (h, w) = (4, 4);
        let mut mask = vec![false; h * w];
        for i in [2 * w, 3 * w, 2, 3] {
            mask[i] = true;
        }
        let cc = Components::new(&mask, h, w).unwrap();
        assert_eq!(cc.sizes, vec![2, 2]);
        assert_eq!(cc.first_col_major, vec![(2, 0), (0, 2)]);
        assert_eq!(cc.largest(), Some(2));
        assert_eq!(cc.labels[2 * w], 2);
        // A strictly larger component wins regardless of order.
        mask[1] = true;
        let cc = Components::new(&mask, h, w).unwrap();
        assert_eq!(cc.largest(), Some(1));
        assert_eq!(cc.sizes[0], 3);
        // Empty mask: no component.
        assert_eq!(
            Components::new(&vec![false; h * w], h, w)
                .unwrap()
                .largest(),
            None
        );
        assert!(Components::new(&mask, 3, 4).is_err());
    }

    #[test]
    fn perfect_prediction_scores_zero() {
        let (h, w) = (9, 11);
        let gt: Vec<u8> = (0..h * w).map(|i| ((i * 53) % 256) as u8).collect();
        let e = errors(&gt, &gt, h, w, Region::Whole).unwrap();
        assert_eq!(
            e,
            MattingErrors {
                sad: 0.0,
                mse: 0.0,
                grad: 0.0,
                conn: 0.0
            }
        );
    }

    #[test]
    fn bad_input_is_err() {
        let a = [0u8; 6];
        assert!(sad(&a, &a, 2, 4, Region::Whole).is_err());
        assert!(sad(&a, &a[..5], 2, 3, Region::Whole).is_err());
        assert!(sad(&[], &[], 0, 3, Region::Whole).is_err());
        assert!(mse(&a, &a, 2, 3, Region::Trimap(&[0, 255, 0, 255, 0, 0])).is_err());
        assert!(grad(&a, &a, 2, 3, Region::Trimap(&[128; 5])).is_err());
        assert!(conn(&a, &a, 2, 3, Region::Mask(&[true; 7])).is_err());
        assert!(errors(&a, &a, usize::MAX, 3, Region::Whole).is_err());
        let e = mse(&a, &a, 2, 3, Region::Trimap(&[0; 6]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("128"), "{e}");
    }
}
