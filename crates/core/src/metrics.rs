//! Evaluation metrics that match the reference Python implementations.
//!
//! * Binary classification: [`accuracy`], [`roc_curve`], [`roc_auc`], [`eer`] and
//!   [`average_precision`] reproduce scikit-learn (`roc_curve`, `roc_auc_score`,
//!   `average_precision_score`) and DeepfakeBench's EER; [`mann_whitney_auc`] is an
//!   independent rank-based AUC used as a cross-check.
//! * Images: [`psnr`] and [`ssim`] / [`ssim_tensor`] reproduce scikit-image's
//!   `peak_signal_noise_ratio` and `structural_similarity` (Gaussian weights,
//!   σ = 1.5, population covariance); [`zncc`] and [`bit_error_rate`] are used by
//!   the watermarking crates.
//! * Reporting: [`summarize`] gives mean, sample standard deviation and the
//!   half-width of a 95 % Student-t confidence interval.
//!
//! All arithmetic is done in `f64`. Bad input (empty slices, length mismatches,
//! NaN/∞ values, a single class where two are needed, images smaller than the
//! SSIM window) is reported as [`Error::InvalidInput`],
//! never as a panic.

use std::cmp::Ordering;
use std::fmt;

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use crate::{bail_invalid, Error, Result};

// ---------------------------------------------------------------------------
// Input validation helpers
// ---------------------------------------------------------------------------

fn check_same_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        bail_invalid!("{what}: length mismatch ({a} vs {b})");
    }
    if a == 0 {
        bail_invalid!("{what}: empty input");
    }
    Ok(())
}

fn check_finite_f64(what: &str, name: &str, xs: &[f64]) -> Result<()> {
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail_invalid!("{what}: {name}[{i}] is not finite ({x})");
    }
    Ok(())
}

fn check_finite_f32(what: &str, name: &str, xs: &[f32]) -> Result<()> {
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail_invalid!("{what}: {name}[{i}] is not finite ({x})");
    }
    Ok(())
}

fn check_data_range(what: &str, data_range: f64) -> Result<()> {
    if !(data_range.is_finite() && data_range > 0.0) {
        bail_invalid!("{what}: data_range must be finite and > 0, got {data_range}");
    }
    Ok(())
}

/// Validates binary-classification input and returns (n_positive, n_negative).
fn check_binary(
    what: &str,
    scores: &[f64],
    labels: &[bool],
    need_both: bool,
) -> Result<(usize, usize)> {
    check_same_len(what, scores.len(), labels.len())?;
    check_finite_f64(what, "scores", scores)?;
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if need_both && (n_pos == 0 || n_neg == 0) {
        bail_invalid!(
            "{what}: both classes must be present (got {n_pos} positive and {n_neg} negative labels)"
        );
    }
    Ok((n_pos, n_neg))
}

// ---------------------------------------------------------------------------
// Binary classification
// ---------------------------------------------------------------------------

/// Fraction of samples whose prediction `score > threshold` (strict, as in
/// DeepfakeBench) equals the label (`true` = positive).
///
/// Errors on empty input, length mismatch, non-finite scores or a NaN threshold.
pub fn accuracy(scores: &[f64], labels: &[bool], threshold: f64) -> Result<f64> {
    check_binary("accuracy", scores, labels, false)?;
    if threshold.is_nan() {
        bail_invalid!("accuracy: threshold is NaN");
    }
    let correct = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| (s > threshold) == l)
        .count();
    Ok(correct as f64 / scores.len() as f64)
}

/// Multi-class accuracy: fraction of positions where `pred[i] == target[i]`.
///
/// Errors on empty input or length mismatch.
pub fn accuracy_from_predictions(pred: &[usize], target: &[usize]) -> Result<f64> {
    check_same_len("accuracy_from_predictions", pred.len(), target.len())?;
    let correct = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / pred.len() as f64)
}

/// A receiver operating characteristic curve, as returned by scikit-learn's
/// `roc_curve`: `thresholds` is decreasing and starts with `+∞` (the point
/// (0, 0)); the point `i` is obtained by predicting positive when
/// `score >= thresholds[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False-positive rates, non-decreasing, from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing, from 0 to 1.
    pub tpr: Vec<f64>,
    /// Decision thresholds, decreasing; `thresholds[0]` is `f64::INFINITY`.
    pub thresholds: Vec<f64>,
}

/// Cumulative false/true positive counts at each distinct threshold
/// (scikit-learn's `_binary_clf_curve` / `confusion_matrix_at_thresholds`),
/// scores sorted in decreasing order. Input must already be validated.
struct ClfCurve {
    fps: Vec<u64>,
    tps: Vec<u64>,
    thresholds: Vec<f64>,
}

fn binary_clf_curve(scores: &[f64], labels: &[bool]) -> ClfCurve {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // Stable sort, decreasing score; scores are finite so partial_cmp never fails
    // (and -0.0 == 0.0, as numpy's `diff` sees them).
    pairs.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(Ordering::Equal));
    let n = pairs.len();
    let mut fps = Vec::new();
    let mut tps = Vec::new();
    let mut thresholds = Vec::new();
    let mut tp: u64 = 0;
    for k in 0..n {
        if pairs[k].1 {
            tp += 1;
        }
        let last_of_group = k + 1 == n || pairs[k].0 != pairs[k + 1].0;
        if last_of_group {
            tps.push(tp);
            fps.push(k as u64 + 1 - tp);
            thresholds.push(pairs[k].0);
        }
    }
    ClfCurve {
        fps,
        tps,
        thresholds,
    }
}

/// ROC curve exactly as scikit-learn's `roc_curve(labels, scores,
/// drop_intermediate=True)` (scikit-learn ≥ 1.3: the first threshold is `+∞`).
///
/// Points are taken at every distinct score (stable descending sort), collinear
/// intermediate points are dropped, and (0, 0) is prepended.
///
/// Errors on empty input, length mismatch, non-finite scores, or when only one
/// class is present.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<RocCurve> {
    check_binary("roc_curve", scores, labels, true)?;
    let curve = binary_clf_curve(scores, labels);
    let m = curve.fps.len();
    let keep: Vec<usize> = if m > 2 {
        let second_diff_nonzero = |v: &[u64], i: usize| {
            // np.diff(v, 2)[i - 1] = (v[i+1] - v[i]) - (v[i] - v[i-1]); counts are
            // non-decreasing so the first differences are non-negative.
            (v[i + 1] - v[i]) != (v[i] - v[i - 1])
        };
        let mut keep = Vec::with_capacity(m);
        keep.push(0);
        for i in 1..m - 1 {
            if second_diff_nonzero(&curve.fps, i) || second_diff_nonzero(&curve.tps, i) {
                keep.push(i);
            }
        }
        keep.push(m - 1);
        keep
    } else {
        (0..m).collect()
    };
    let fps_total = curve.fps[m - 1] as f64;
    let tps_total = curve.tps[m - 1] as f64;
    let mut fpr = Vec::with_capacity(keep.len() + 1);
    let mut tpr = Vec::with_capacity(keep.len() + 1);
    let mut thresholds = Vec::with_capacity(keep.len() + 1);
    fpr.push(0.0);
    tpr.push(0.0);
    thresholds.push(f64::INFINITY);
    for &i in &keep {
        fpr.push(curve.fps[i] as f64 / fps_total);
        tpr.push(curve.tps[i] as f64 / tps_total);
        thresholds.push(curve.thresholds[i]);
    }
    Ok(RocCurve {
        fpr,
        tpr,
        thresholds,
    })
}

/// Area under the ROC curve (scikit-learn's `roc_auc_score` for binary labels):
/// trapezoidal integration of [`roc_curve`]. Ties between a positive and a
/// negative count ½, so this equals [`mann_whitney_auc`]. O(n log n).
///
/// Errors as [`roc_curve`].
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let roc = roc_curve(scores, labels)?;
    let area: f64 = roc
        .fpr
        .windows(2)
        .zip(roc.tpr.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
        .sum();
    Ok(area)
}

/// Equal error rate as computed by DeepfakeBench: with `fnr = 1 − tpr` on the
/// [`roc_curve`] points, returns `fpr[argmin |fnr − fpr|]` (first minimum,
/// NaN ignored as `np.nanargmin` does).
///
/// Errors as [`roc_curve`].
pub fn eer(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let roc = roc_curve(scores, labels)?;
    let mut best: Option<(f64, f64)> = None; // (|fnr - fpr|, fpr)
    for (&fpr, &tpr) in roc.fpr.iter().zip(&roc.tpr) {
        let d = ((1.0 - tpr) - fpr).abs();
        if d.is_nan() {
            continue;
        }
        match best {
            Some((bd, _)) if bd <= d => {}
            _ => best = Some((d, fpr)),
        }
    }
    best.map(|(_, fpr)| fpr)
        .ok_or_else(|| Error::invalid("eer: no finite point on the ROC curve"))
}

/// Average precision as scikit-learn's `average_precision_score`:
/// `Σₙ (Rₙ − Rₙ₋₁) Pₙ` over the distinct thresholds in decreasing order
/// (step-wise, not interpolated), with R₋₁ = 0.
///
/// Errors as [`roc_curve`].
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<f64> {
    check_binary("average_precision", scores, labels, true)?;
    let curve = binary_clf_curve(scores, labels);
    let m = curve.tps.len();
    let tps_total = curve.tps[m - 1] as f64;
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for i in 0..m {
        let tp = curve.tps[i] as f64;
        let precision = tp / (tp + curve.fps[i] as f64);
        let recall = tp / tps_total;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap.max(0.0))
}

/// AUC as the normalised Mann–Whitney U statistic: average ranks (1-based,
/// ties get the mean rank), `(R₊ − n₊(n₊+1)/2) / (n₊ n₋)`. Independent of
/// [`roc_auc`]; the two agree up to rounding.
///
/// Errors as [`roc_curve`].
pub fn mann_whitney_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let (n_pos, n_neg) = check_binary("mann_whitney_auc", scores, labels, true)?;
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(Ordering::Equal));
    let n = pairs.len();
    let mut rank_sum_pos = 0.0f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && pairs[end].0 == pairs[start].0 {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = pairs[start..end].iter().filter(|p| p.1).count();
        rank_sum_pos += mean_rank * pos_in_group as f64;
        start = end;
    }
    let np = n_pos as f64;
    let u = rank_sum_pos - np * (np + 1.0) / 2.0;
    Ok(u / (np * n_neg as f64))
}

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

/// Peak signal-to-noise ratio `10 log₁₀(data_range² / MSE)` in dB, as
/// scikit-image's `peak_signal_noise_ratio`. Identical inputs give `f64::INFINITY`.
///
/// Errors on empty input, length mismatch, non-finite values or a non-positive
/// `data_range`.
pub fn psnr(a: &[f32], b: &[f32], data_range: f64) -> Result<f64> {
    check_same_len("psnr", a.len(), b.len())?;
    check_finite_f32("psnr", "a", a)?;
    check_finite_f32("psnr", "b", b)?;
    check_data_range("psnr", data_range)?;
    let sse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    let mse = sse / a.len() as f64;
    if mse == 0.0 {
        return Ok(f64::INFINITY);
    }
    Ok(10.0 * ((data_range * data_range) / mse).log10())
}

/// Radius of the SSIM Gaussian window: `int(truncate · σ + 0.5)` with σ = 1.5 and
/// truncate = 3.5, as `scipy.ndimage.gaussian_filter` computes it.
const SSIM_RADIUS: usize = 5;
/// Side of the SSIM window (11); images must be at least this large.
const SSIM_WIN: usize = 2 * SSIM_RADIUS + 1;

/// The 11-tap Gaussian of `scipy.ndimage._gaussian_kernel1d(1.5, 0, 5)`,
/// reproduced operation by operation (Horner evaluation of the exponent and
/// numpy's pairwise sum of the 11 weights).
fn ssim_kernel() -> [f64; SSIM_WIN] {
    let sigma = 1.5f64;
    let c2 = -0.5 / (sigma * sigma);
    let mut k = [0.0f64; SSIM_WIN];
    for (i, w) in k.iter_mut().enumerate() {
        let x = i as f64 - SSIM_RADIUS as f64;
        *w = (c2 * x * x).exp();
    }
    // numpy pairwise_sum for 8 <= n <= 128: eight partial sums, combined as a tree,
    // then the remainder added one by one.
    let mut sum = ((k[0] + k[1]) + (k[2] + k[3])) + ((k[4] + k[5]) + (k[6] + k[7]));
    for w in &k[8..] {
        sum += w;
    }
    for w in k.iter_mut() {
        *w /= sum;
    }
    k
}

/// Mean SSIM of one `h × w` plane (row-major), skimage semantics.
///
/// skimage filters the whole image with mode 'reflect' and then averages the SSIM
/// map cropped by the filter radius on every side. Every value that survives the
/// crop is computed from in-bounds pixels only, so only that "valid" region is
/// filtered here (bit-for-bit the same taps, no boundary handling needed).
fn ssim_plane(a: &[f32], b: &[f32], h: usize, w: usize, c1: f64, c2: f64) -> f64 {
    let k = ssim_kernel();
    let r = SSIM_RADIUS;
    let n = h * w;
    let oh = h - 2 * r;
    let ow = w - 2 * r;

    // Inputs of the five filters: a, b, a², b², ab (f64 products, as skimage on f64).
    let mut maps = vec![0.0f64; 5 * n];
    {
        let (ma, rest) = maps.split_at_mut(n);
        let (mb, rest) = rest.split_at_mut(n);
        let (maa, rest) = rest.split_at_mut(n);
        let (mbb, mab) = rest.split_at_mut(n);
        for i in 0..n {
            let x = a[i] as f64;
            let y = b[i] as f64;
            ma[i] = x;
            mb[i] = y;
            maa[i] = x * x;
            mbb[i] = y * y;
            mab[i] = x * y;
        }
    }

    // Separable correlation: axis 0 (rows) first, then axis 1, as gaussian_filter
    // does; scipy's symmetric-kernel loop is `x[0]·w0 + Σ_{j=r..1} (x[-j] + x[j])·w_j`.
    let mut tmp = vec![0.0f64; oh * w];
    let mut filtered = vec![0.0f64; 5 * oh * ow];
    for (m, out) in maps.chunks_exact(n).zip(filtered.chunks_exact_mut(oh * ow)) {
        for oi in 0..oh {
            let i = oi + r;
            let dst = &mut tmp[oi * w..(oi + 1) * w];
            let centre = &m[i * w..(i + 1) * w];
            for (d, &c) in dst.iter_mut().zip(centre) {
                *d = c * k[r];
            }
            for j in (1..=r).rev() {
                let up = &m[(i - j) * w..(i - j + 1) * w];
                let down = &m[(i + j) * w..(i + j + 1) * w];
                let wj = k[r + j];
                for ((d, &u), &v) in dst.iter_mut().zip(up).zip(down) {
                    *d += (u + v) * wj;
                }
            }
        }
        for oi in 0..oh {
            let row = &tmp[oi * w..(oi + 1) * w];
            let dst = &mut out[oi * ow..(oi + 1) * ow];
            for (oj, d) in dst.iter_mut().enumerate() {
                let jc = oj + r;
                let mut s = row[jc] * k[r];
                for j in (1..=r).rev() {
                    s += (row[jc - j] + row[jc + j]) * k[r + j];
                }
                *d = s;
            }
        }
    }

    let on = oh * ow;
    let (ux, rest) = filtered.split_at(on);
    let (uy, rest) = rest.split_at(on);
    let (uxx, rest) = rest.split_at(on);
    let (uyy, uxy) = rest.split_at(on);
    let mut total = 0.0f64;
    for i in 0..on {
        let (mx, my) = (ux[i], uy[i]);
        let vx = uxx[i] - mx * mx;
        let vy = uyy[i] - my * my;
        let vxy = uxy[i] - mx * my;
        let a1 = 2.0 * mx * my + c1;
        let a2 = 2.0 * vxy + c2;
        let b1 = mx * mx + my * my + c1;
        let b2 = vx + vy + c2;
        total += (a1 * a2) / (b1 * b2);
    }
    total / on as f64
}

/// Structural similarity of two planar `C × H × W` images (row-major planes),
/// matching scikit-image's
/// `structural_similarity(a, b, data_range=data_range, gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False, channel_axis=0)`: 11-tap Gaussian
/// window (σ = 1.5, truncate 3.5), K1 = 0.01, K2 = 0.03, SSIM map cropped by 5
/// pixels on each border, mean over pixels and then over channels.
///
/// Errors when `channels == 0`, `height` or `width` < 11, a buffer length is not
/// `channels · height · width`, a value is not finite, or `data_range` is not > 0.
pub fn ssim(
    a: &[f32],
    b: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    data_range: f64,
) -> Result<f64> {
    if channels == 0 {
        bail_invalid!("ssim: channels must be > 0");
    }
    if height < SSIM_WIN || width < SSIM_WIN {
        bail_invalid!(
            "ssim: image is {height}x{width}, but both sides must be at least {SSIM_WIN} (the Gaussian window)"
        );
    }
    let plane = height
        .checked_mul(width)
        .and_then(|p| p.checked_mul(channels).map(|t| (p, t)));
    let Some((plane, total)) = plane else {
        bail_invalid!("ssim: image size {channels}x{height}x{width} overflows");
    };
    if a.len() != total || b.len() != total {
        bail_invalid!(
            "ssim: buffers have {} and {} values, expected {channels}x{height}x{width} = {total}",
            a.len(),
            b.len()
        );
    }
    check_finite_f32("ssim", "a", a)?;
    check_finite_f32("ssim", "b", b)?;
    check_data_range("ssim", data_range)?;
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    let per_channel: Vec<f64> = a
        .par_chunks_exact(plane)
        .zip(b.par_chunks_exact(plane))
        .map(|(pa, pb)| ssim_plane(pa, pb, height, width, c1, c2))
        .collect();
    Ok(per_channel.iter().sum::<f64>() / channels as f64)
}

/// [`ssim`] on candle tensors of shape `(C, H, W)` or `(H, W)` (any float dtype;
/// converted to `f32`). Both tensors must have the same shape.
pub fn ssim_tensor(a: &Tensor, b: &Tensor, data_range: f64) -> Result<f64> {
    if a.dims() != b.dims() {
        bail_invalid!(
            "ssim_tensor: shape mismatch ({:?} vs {:?})",
            a.dims(),
            b.dims()
        );
    }
    let (c, h, w) = match *a.dims() {
        [h, w] => (1, h, w),
        [c, h, w] => (c, h, w),
        ref d => {
            bail_invalid!("ssim_tensor: expected a (C, H, W) or (H, W) tensor, got shape {d:?}")
        }
    };
    let va = a.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let vb = b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    ssim(&va, &vb, c, h, w, data_range)
}

/// Zero-mean normalised cross-correlation
/// `Σ(a−ā)(b−b̄) / √(Σ(a−ā)² Σ(b−b̄)²)`, in [−1, 1].
///
/// Errors on empty input, length mismatch, non-finite values, or when either
/// input is constant (the correlation is undefined).
pub fn zncc(a: &[f32], b: &[f32]) -> Result<f64> {
    check_same_len("zncc", a.len(), b.len())?;
    check_finite_f32("zncc", "a", a)?;
    check_finite_f32("zncc", "b", b)?;
    let n = a.len() as f64;
    let mean_a = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let mean_b = b.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let dx = x as f64 - mean_a;
        let dy = y as f64 - mean_b;
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let constant = |v: &[f32]| v.iter().all(|&x| x == v[0]);
    if saa == 0.0 || constant(a) {
        bail_invalid!("zncc: `a` is constant, correlation undefined");
    }
    if sbb == 0.0 || constant(b) {
        bail_invalid!("zncc: `b` is constant, correlation undefined");
    }
    Ok((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

/// Fraction of positions where the two bit strings differ.
///
/// Errors on empty input or length mismatch.
pub fn bit_error_rate(a: &[bool], b: &[bool]) -> Result<f64> {
    check_same_len("bit_error_rate", a.len(), b.len())?;
    let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
    Ok(diff as f64 / a.len() as f64)
}

// ---------------------------------------------------------------------------
// Summary statistics
// ---------------------------------------------------------------------------

/// Mean, spread and 95 % confidence half-width of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); 0 when `n == 1`.
    pub std: f64,
    /// Half-width of the 95 % Student-t interval, `t₀.₉₇₅(n−1) · std / √n`;
    /// 0 when `n == 1` (undefined there).
    pub ci95: f64,
}

impl fmt::Display for Summary {
    /// `"mean ± std"`, with the formatter's precision (4 decimals by default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(4);
        write!(f, "{:.*} ± {:.*}", p, self.mean, p, self.std)
    }
}

/// Summarises repeated measurements: mean, sample std (ddof = 1) and the 95 %
/// t-interval half-width (see [`Summary`]).
///
/// Errors on empty input or non-finite values.
pub fn summarize(values: &[f64]) -> Result<Summary> {
    if values.is_empty() {
        bail_invalid!("summarize: empty input");
    }
    check_finite_f64("summarize", "values", values)?;
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Ok(Summary {
            n,
            mean,
            std: 0.0,
            ci95: 0.0,
        });
    }
    let ss: f64 = values.iter().map(|&x| (x - mean) * (x - mean)).sum();
    let std = (ss / (n - 1) as f64).sqrt();
    let ci95 = t_critical_95(n - 1)? * std / (n as f64).sqrt();
    Ok(Summary { n, mean, std, ci95 })
}

/// Two-sided 95 % critical value of Student's t distribution, i.e. the 0.975
/// quantile with `dof` degrees of freedom (`scipy.stats.t.ppf(0.975, dof)`),
/// accurate to ~1e-12.
///
/// Computed by bisection on the exact finite-sum CDF for integer dof
/// (Abramowitz & Stegun 26.7.3–4) up to 1000 dof, and by the Cornish–Fisher
/// expansion (A&S 26.7.5) beyond. Errors when `dof == 0`.
pub fn t_critical_95(dof: usize) -> Result<f64> {
    if dof == 0 {
        bail_invalid!("t_critical_95: degrees of freedom must be >= 1");
    }
    if dof > 1000 {
        let x = 1.959_963_984_540_054_f64; // standard normal 0.975 quantile
        let nu = dof as f64;
        let x2 = x * x;
        let g1 = (x2 + 1.0) * x / 4.0;
        let g2 = ((5.0 * x2 + 16.0) * x2 + 3.0) * x / 96.0;
        let g3 = (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * x / 384.0;
        let g4 = ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * x / 92160.0;
        return Ok(x + g1 / nu + g2 / (nu * nu) + g3 / nu.powi(3) + g4 / nu.powi(4));
    }
    // A(t | ν) = P(|T| < t); find A = 0.95 by bisection (A is increasing in t).
    let target = 0.95;
    let (mut lo, mut hi) = (0.0f64, 16.0f64); // t_{0.975}(1) ≈ 12.706
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t_two_sided_mass(mid, dof) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// `P(|T| < t)` for Student's t with integer `nu ≥ 1` degrees of freedom
/// (Abramowitz & Stegun 26.7.3 for odd ν, 26.7.4 for even ν).
fn t_two_sided_mass(t: f64, nu: usize) -> f64 {
    let theta = (t / (nu as f64).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    let c2 = c * c;
    if nu % 2 == 1 {
        if nu == 1 {
            return 2.0 * theta / std::f64::consts::PI;
        }
        // θ + sinθ (cosθ + (2/3) cos³θ + … + (2·4…(ν−3))/(1·3…(ν−2)) cos^{ν−2}θ)
        let mut term = c;
        let mut sum = c;
        let mut k = 2usize;
        while k < nu - 1 {
            term *= c2 * k as f64 / (k + 1) as f64;
            sum += term;
            k += 2;
        }
        2.0 * (theta + s * sum) / std::f64::consts::PI
    } else {
        // sinθ (1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + … + (1·3…(ν−3))/(2·4…(ν−2)) cos^{ν−2}θ)
        let mut term = 1.0;
        let mut sum = 1.0;
        let mut k = 1usize;
        while k < nu - 1 {
            term *= c2 * k as f64 / (k + 1) as f64;
            sum += term;
            k += 2;
        }
        s * sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn accuracy_strict_threshold() {
        let s = [0.2, 0.5, 0.7, 0.9];
        let l = [false, false, true, false];
        // 0.5 > 0.5 is false → predicted negative (correct).
        assert_eq!(accuracy(&s, &l, 0.5).unwrap(), 0.75);
        assert_eq!(
            accuracy_from_predictions(&[0, 1, 2, 2], &[0, 1, 1, 2]).unwrap(),
            0.75
        );
        assert!(accuracy(&s, &l, f64::NAN).is_err());
        assert!(accuracy_from_predictions(&[], &[]).is_err());
        assert!(accuracy_from_predictions(&[1], &[1, 2]).is_err());
    }

    #[test]
    fn auc_hand_cases() {
        // Perfect separation.
        let s = [0.1, 0.2, 0.8, 0.9];
        let l = [false, false, true, true];
        assert_eq!(roc_auc(&s, &l).unwrap(), 1.0);
        assert_eq!(eer(&s, &l).unwrap(), 0.0);
        assert_eq!(average_precision(&s, &l).unwrap(), 1.0);
        // All tied.
        let t = [0.3; 6];
        let lt = [true, false, true, false, false, true];
        assert_eq!(roc_auc(&t, &lt).unwrap(), 0.5);
        assert_eq!(mann_whitney_auc(&t, &lt).unwrap(), 0.5);
        assert_eq!(average_precision(&t, &lt).unwrap(), 0.5);
        // sklearn docstring: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] → AUC 0.75,
        // AP = 0.5·1 + 0.5·(2/3) = 0.8333…
        let s = [0.1, 0.4, 0.35, 0.8];
        let l = [false, false, true, true];
        let roc = roc_curve(&s, &l).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert!(close(roc_auc(&s, &l).unwrap(), 0.75, 1e-15));
        assert!(close(mann_whitney_auc(&s, &l).unwrap(), 0.75, 1e-15));
        assert!(close(average_precision(&s, &l).unwrap(), 5.0 / 6.0, 1e-15));
        // |fnr − fpr| = [1, 0.5, 0, 0.5, 1] → fpr = 0.5.
        assert_eq!(eer(&s, &l).unwrap(), 0.5);
    }

    #[test]
    fn roc_drops_collinear_points() {
        // Scores all distinct and alternating labels produce a staircase; a run of
        // negatives in a row gives collinear points that must be dropped.
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let l = [true, false, false, false, true];
        let roc = roc_curve(&s, &l).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.9, 0.6, 0.5]);
    }

    #[test]
    fn auc_matches_mann_whitney_on_tied_random_data() {
        let mut rng = StdRng::seed_from_u64(7);
        for &n in &[2usize, 5, 37, 500, 4000] {
            let s: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 10.0).round() / 10.0)
                .collect();
            let mut l: Vec<bool> = (0..n).map(|_| rng.random_bool(0.3)).collect();
            l[0] = true;
            l[n - 1] = false;
            let a = roc_auc(&s, &l).unwrap();
            let b = mann_whitney_auc(&s, &l).unwrap();
            assert!(close(a, b, 1e-12), "n={n}: {a} vs {b}");
            let ap = average_precision(&s, &l).unwrap();
            assert!((0.0..=1.0).contains(&ap));
            let e = eer(&s, &l).unwrap();
            assert!((0.0..=1.0).contains(&e));
        }
    }

    #[test]
    fn classification_bad_input_is_err() {
        let s = [0.1, 0.2];
        let l = [true, false];
        type F = fn(&[f64], &[bool]) -> Result<f64>;
        let fs: [F; 4] = [roc_auc, eer, average_precision, mann_whitney_auc];
        for f in fs {
            assert!(f(&[], &[]).is_err());
            assert!(f(&s, &[true]).is_err());
            assert!(f(&[0.1, f64::NAN], &l).is_err());
            assert!(f(&[0.1, f64::INFINITY], &l).is_err());
            assert!(f(&s, &[true, true]).is_err());
            assert!(f(&s, &[false, false]).is_err());
        }
        assert!(roc_curve(&s, &[true, true]).is_err());
        assert!(accuracy(&[f64::NAN], &[true], 0.5).is_err());
        assert!(accuracy(&[], &[], 0.5).is_err());
        // Single-class is fine for accuracy.
        assert_eq!(accuracy(&[0.9], &[true], 0.5).unwrap(), 1.0);
    }

    #[test]
    fn psnr_known_mse() {
        let a = vec![0.5f32; 100];
        let mut b = a.clone();
        for (i, v) in b.iter_mut().enumerate() {
            *v = if i % 2 == 0 { 0.75 } else { 0.25 };
        }
        // Differences of ±0.25 (exact in f32) → MSE 0.0625 → 10 log10(1 / 0.0625) dB.
        assert!(close(
            psnr(&a, &b, 1.0).unwrap(),
            10.0 * 16f64.log10(),
            1e-12
        ));
        assert!(close(
            psnr(&a, &b, 2.0).unwrap(),
            10.0 * 64f64.log10(),
            1e-12
        ));
        assert_eq!(psnr(&a, &a, 1.0).unwrap(), f64::INFINITY);
        assert!(psnr(&a, &b[..99], 1.0).is_err());
        assert!(psnr(&[], &[], 1.0).is_err());
        assert!(psnr(&a, &b, 0.0).is_err());
        assert!(psnr(&[f32::NAN], &[0.0], 1.0).is_err());
    }

    #[test]
    fn ssim_identical_and_bad_input() {
        let mut rng = StdRng::seed_from_u64(3);
        let (c, h, w) = (3, 16, 21);
        let a: Vec<f32> = (0..c * h * w).map(|_| rng.random::<f32>()).collect();
        assert!(close(ssim(&a, &a, c, h, w, 1.0).unwrap(), 1.0, 1e-12));
        let b: Vec<f32> = a
            .iter()
            .map(|x| (x + 0.1 * rng.random::<f32>()).min(1.0))
            .collect();
        let s = ssim(&a, &b, c, h, w, 1.0).unwrap();
        assert!(s < 1.0 && s > 0.0);
        // Symmetric.
        assert!(close(ssim(&b, &a, c, h, w, 1.0).unwrap(), s, 1e-12));
        // Per-channel mean.
        let plane = h * w;
        let mean: f64 = (0..c)
            .map(|k| {
                ssim(
                    &a[k * plane..(k + 1) * plane],
                    &b[k * plane..(k + 1) * plane],
                    1,
                    h,
                    w,
                    1.0,
                )
                .unwrap()
            })
            .sum::<f64>()
            / c as f64;
        assert!(close(mean, s, 1e-12));

        assert!(ssim(&a, &b, c, h, w - 1, 1.0).is_err());
        assert!(ssim(&a[..10], &b[..10], 1, 10, 1, 1.0).is_err());
        let small = vec![0.5f32; 10 * 20];
        assert!(ssim(&small, &small, 1, 10, 20, 1.0).is_err());
        assert!(ssim(&small, &small, 1, 20, 10, 1.0).is_err());
        assert!(ssim(&a, &b, 0, h, w, 1.0).is_err());
        assert!(ssim(&a, &b, c, h, w, -1.0).is_err());
        assert!(ssim(&a, &b, usize::MAX, usize::MAX, 11, 1.0).is_err());
        let mut bad = a.clone();
        bad[5] = f32::NAN;
        assert!(ssim(&a, &bad, c, h, w, 1.0).is_err());
    }

    #[test]
    fn ssim_tensor_shapes() {
        let dev = candle_core::Device::Cpu;
        let a = Tensor::rand(0f32, 1f32, (2, 12, 13), &dev).unwrap();
        let b = Tensor::rand(0f32, 1f32, (2, 12, 13), &dev).unwrap();
        let va = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let vb = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let expect = ssim(&va, &vb, 2, 12, 13, 1.0).unwrap();
        assert!(close(ssim_tensor(&a, &b, 1.0).unwrap(), expect, 1e-15));
        let a2 = a.get(0).unwrap();
        let b2 = b.get(0).unwrap();
        assert!(close(
            ssim_tensor(&a2, &b2, 1.0).unwrap(),
            ssim(&va[..156], &vb[..156], 1, 12, 13, 1.0).unwrap(),
            1e-15
        ));
        assert!(close(
            ssim_tensor(&a2, &a2.to_dtype(DType::F64).unwrap(), 1.0).unwrap(),
            1.0,
            1e-12
        ));
        assert!(ssim_tensor(&a, &b2, 1.0).is_err());
        let v = Tensor::zeros(200, DType::F32, &dev).unwrap();
        assert!(ssim_tensor(&v, &v, 1.0).is_err());
    }

    #[test]
    fn zncc_and_ber() {
        let a: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.1).collect();
        let b: Vec<f32> = a.iter().map(|x| 2.0 * x + 3.0).collect();
        assert!(close(zncc(&a, &b).unwrap(), 1.0, 1e-12));
        let c: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!(close(zncc(&a, &c).unwrap(), -1.0, 1e-12));
        assert!(zncc(&a, &[1.0; 50]).is_err());
        assert!(zncc(&[0.1; 50], &a).is_err());
        assert!(zncc(&a, &b[..3]).is_err());
        assert!(zncc(&[], &[]).is_err());
        assert!(zncc(&[0.0, f32::INFINITY], &[0.0, 1.0]).is_err());

        assert_eq!(
            bit_error_rate(&[true, false, true, true], &[true, true, false, true]).unwrap(),
            0.5
        );
        assert_eq!(bit_error_rate(&[true], &[true]).unwrap(), 0.0);
        assert!(bit_error_rate(&[], &[]).is_err());
        assert!(bit_error_rate(&[true], &[true, false]).is_err());
    }

    #[test]
    fn t_quantiles() {
        // scipy.stats.t.ppf(0.975, dof)
        let known = [
            (1, 12.706204736174694),
            (2, 4.302652729749462),
            (3, 3.1824463052837078),
            (4, 2.7764451051977934),
            (9, 2.262157162798205),
            (10, 2.228138851986274),
            (29, 2.045229642132703),
            (30, 2.0422724563012378),
            (100, 1.9839715185235518),
        ];
        for (dof, t) in known {
            let got = t_critical_95(dof).unwrap();
            assert!(close(got, t, 1e-12), "dof {dof}: {got} vs {t}");
        }
        // Continuity across the switch to the asymptotic expansion.
        let a = t_critical_95(1000).unwrap();
        let b = t_critical_95(1001).unwrap();
        assert!(a > b && a - b < 1e-5);
        assert!(t_critical_95(0).is_err());
    }

    #[test]
    fn summarize_values() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.n, 4);
        assert!(close(s.mean, 2.5, 1e-15));
        assert!(close(s.std, (5.0f64 / 3.0).sqrt(), 1e-15));
        assert!(close(s.ci95, 3.1824463052837078 * s.std / 2.0, 1e-12));
        assert_eq!(format!("{s}"), "2.5000 ± 1.2910");
        assert_eq!(format!("{s:.1}"), "2.5 ± 1.3");
        let one = summarize(&[3.0]).unwrap();
        assert_eq!((one.n, one.mean, one.std, one.ci95), (1, 3.0, 0.0, 0.0));
        assert!(summarize(&[]).is_err());
        assert!(summarize(&[1.0, f64::NAN]).is_err());
        assert!(summarize(&[1.0, f64::NEG_INFINITY]).is_err());
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
