//! Metrics and the ownership decision.
//!
//! **Fidelity** of the watermarked output B′ against B: [`psnr`] (`10 log₁₀(1/MSE)` on
//! `[0, 1]`, the official `util/metrics.py` formula) and [`ssim`] (candor-core's
//! scikit-image SSIM: 11-tap Gaussian window, σ 1.5, K1 0.01, K2 0.03, population
//! covariance, map cropped by the window radius; the official code's PyTorch SSIM
//! averages the map with zero padding at the borders instead, a difference of
//! ~1e-3 on smooth images).
//!
//! **Extraction** of δ′ = R(x) against the watermark δ and the blank δ0:
//! * the **decision score** is the projection [`projection_score`]
//!   `⟨δ′ − δ0, δ − δ0⟩ / ‖δ − δ0‖²`: 1 when δ′ = δ, 0 when δ′ = δ0, linear in between,
//!   and independent of how much of δ is background;
//! * [`pearson_nc`], the zero-mean normalised correlation, defined as **0 when either
//!   image is constant** (a blank δ0 has no variance; candor-core's `zncc` returns an
//!   error there, which is right for a generic correlation but not for a detector
//!   that must score blank extractions, hence this crate's own definition);
//! * [`uncentred_nc`] `Σ δδ′ / (‖δ‖ ‖δ′‖)`, the NC usually written (the paper's exact
//!   formula is unverified), reported beside the others: it rewards a blank extraction
//!   — the all-white δ0 scores 0.9+ against a mostly-white logo;
//! * [`binarised_ber`]: both images thresholded at ½, the fraction of differing pixels;
//! * for the bit scheme, [`bit_score`] = 1 − BER (candor-core's `bit_error_rate`).
//!
//! **Decision.** A detector says "watermarked" when score > t. [`calibrate_threshold`]
//! picks t from negative scores (clean A, clean B, clean-trained surrogates) of a
//! calibration split by the conformal order-statistic rule; [`detection_rate`] then
//! measures success (on positives) or false-positive rate (on negatives) on held-out
//! images with a 95 % Wilson interval.

use candor_core::{bail_invalid, Result};
use serde::{Deserialize, Serialize};

use crate::image::Image;

/// PSNR(x, reference) in dB for images in `[0, 1]`; ∞ when identical.
pub fn psnr(x: &Image, reference: &Image) -> Result<f64> {
    x.check_same_shape(reference, "psnr")?;
    candor_core::metrics::psnr(x.data(), reference.data(), 1.0)
}

/// Mean SSIM(x, reference) over channels (data range 1). Both sides must be ≥ 11 px.
pub fn ssim(x: &Image, reference: &Image) -> Result<f64> {
    x.check_same_shape(reference, "ssim")?;
    let (c, h, w) = x.shape();
    candor_core::metrics::ssim(x.data(), reference.data(), c, h, w, 1.0)
}

/// Per-image PSNR and SSIM of `outputs` against `references` (same order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// PSNR of each image, dB.
    pub psnr: Vec<f64>,
    /// SSIM of each image.
    pub ssim: Vec<f64>,
}

impl Fidelity {
    /// Mean PSNR (∞ if any image is unchanged).
    pub fn mean_psnr(&self) -> f64 {
        self.psnr.iter().sum::<f64>() / self.psnr.len().max(1) as f64
    }

    /// Mean SSIM.
    pub fn mean_ssim(&self) -> f64 {
        self.ssim.iter().sum::<f64>() / self.ssim.len().max(1) as f64
    }
}

/// PSNR and SSIM of every output against its reference.
pub fn fidelity(outputs: &[Image], references: &[Image]) -> Result<Fidelity> {
    if outputs.len() != references.len() || outputs.is_empty() {
        bail_invalid!(
            "fidelity: need as many outputs as references, at least one (got {} and {})",
            outputs.len(),
            references.len()
        );
    }
    let mut f = Fidelity {
        psnr: Vec::with_capacity(outputs.len()),
        ssim: Vec::with_capacity(outputs.len()),
    };
    for (i, (x, r)) in outputs.iter().zip(references).enumerate() {
        let p = psnr(x, r).map_err(|e| candor_core::Error::invalid(format!("image {i}: {e}")))?;
        let s = ssim(x, r).map_err(|e| candor_core::Error::invalid(format!("image {i}: {e}")))?;
        f.psnr.push(p);
        f.ssim.push(s);
    }
    Ok(f)
}

/// The decision score `⟨δ′ − δ0, δ − δ0⟩ / ‖δ − δ0‖²` (sums over all pixels and
/// channels): the coefficient of the least-squares projection of the extraction onto
/// the line from δ0 to δ. Errors when the shapes differ or δ = δ0.
pub fn projection_score(extracted: &Image, watermark: &Image, blank: &Image) -> Result<f64> {
    extracted.check_same_shape(watermark, "projection score: extraction vs watermark")?;
    watermark.check_same_shape(blank, "projection score: watermark vs blank")?;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for ((&e, &w), &b) in extracted
        .data()
        .iter()
        .zip(watermark.data())
        .zip(blank.data())
    {
        let d = w as f64 - b as f64;
        num += (e as f64 - b as f64) * d;
        den += d * d;
    }
    if den == 0.0 {
        bail_invalid!("projection score: the watermark equals the blank image");
    }
    Ok(num / den)
}

fn check_pair(a: &Image, b: &Image, what: &str) -> Result<()> {
    a.check_same_shape(b, what)
}

/// Zero-mean (Pearson) normalised correlation `Σ(a−ā)(b−b̄) / √(Σ(a−ā)² Σ(b−b̄)²)` in
/// [−1, 1]; **0 when either image is constant**.
pub fn pearson_nc(a: &Image, b: &Image) -> Result<f64> {
    check_pair(a, b, "pearson NC")?;
    Ok(pearson(a.data(), b.data()))
}

/// [`pearson_nc`] on two equally long slices (0 when either is constant or empty).
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let constant = |v: &[f32]| v.iter().all(|&x| x == v[0]);
    if constant(a) || constant(b) {
        return 0.0;
    }
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        return 0.0;
    }
    (sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0)
}

/// Uncentred normalised correlation `Σ ab / (‖a‖ ‖b‖)`; 0 when either image is all
/// zeros. For images in [0, 1] it lies in [0, 1].
pub fn uncentred_nc(a: &Image, b: &Image) -> Result<f64> {
    check_pair(a, b, "uncentred NC")?;
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.data().iter().zip(b.data()) {
        let (x, y) = (x as f64, y as f64);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        return Ok(0.0);
    }
    Ok((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

/// Fraction of pixels where `extracted > ½` and `watermark > ½` disagree.
pub fn binarised_ber(extracted: &Image, watermark: &Image) -> Result<f64> {
    check_pair(extracted, watermark, "binarised BER")?;
    let x: Vec<bool> = extracted.data().iter().map(|&v| v > 0.5).collect();
    let w: Vec<bool> = watermark.data().iter().map(|&v| v > 0.5).collect();
    candor_core::metrics::bit_error_rate(&x, &w)
}

/// Every extraction metric of one δ′.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExtractionScores {
    /// [`projection_score`], the decision score.
    pub projection: f64,
    /// [`pearson_nc`] against δ.
    pub nc_zero_mean: f64,
    /// [`uncentred_nc`] against δ.
    pub nc_uncentred: f64,
    /// [`binarised_ber`] against δ.
    pub ber_binarised: f64,
}

/// All extraction metrics of `extracted` against `watermark` and `blank`.
pub fn score_extraction(
    extracted: &Image,
    watermark: &Image,
    blank: &Image,
) -> Result<ExtractionScores> {
    Ok(ExtractionScores {
        projection: projection_score(extracted, watermark, blank)?,
        nc_zero_mean: pearson_nc(extracted, watermark)?,
        nc_uncentred: uncentred_nc(extracted, watermark)?,
        ber_binarised: binarised_ber(extracted, watermark)?,
    })
}

/// Decision score of the bit scheme: 1 − BER of the extracted bits against the
/// embedded message (1 = every bit right, ≈ ½ = chance).
pub fn bit_score(extracted: &[bool], message: &[bool]) -> Result<f64> {
    Ok(1.0 - candor_core::metrics::bit_error_rate(extracted, message)?)
}

/// A threshold calibrated on negative scores (see [`calibrate_threshold`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Decide "watermarked" when score > threshold.
    pub threshold: f64,
    /// The false-positive rate asked for.
    pub target_fpr: f64,
    /// Number of calibration negatives n.
    pub negatives: usize,
    /// Calibration negatives allowed above the threshold, k.
    pub allowed: usize,
    /// The rule's guarantee on a new exchangeable negative: P(score > t) ≤ (k+1)/(n+1).
    pub fpr_bound: f64,
    /// Whether `fpr_bound ≤ target_fpr`, i.e. n ≥ 1/target − 1; when not, the bound
    /// is 1/(n+1), the smallest these negatives can certify.
    pub target_reachable: bool,
    /// Fraction of the calibration negatives above the threshold.
    pub calibration_fpr: f64,
}

/// The fewest calibration negatives for which [`calibrate_threshold`] certifies
/// `target_fpr`: ⌈1/target⌉ − 1 (999 for 0.1 %).
pub fn min_negatives_for(target_fpr: f64) -> usize {
    ((1.0 / target_fpr).ceil() as usize)
        .saturating_sub(1)
        .max(1)
}

/// Threshold at a target false-positive rate α from `negatives` (scores of images
/// known to be unwatermarked).
///
/// **Rule (conformal order statistic).** Sort the n negatives, s₍₁₎ ≤ … ≤ s₍ₙ₎, let
/// k = ⌊α(n+1)⌋ − 1 and take t = s₍ₙ₋ₖ₎, deciding "watermarked" iff score > t. At most
/// k calibration negatives exceed t, and for a new negative exchangeable with them
/// P(score > t) ≤ (k+1)/(n+1) ≤ α (ties only lower it). When α(n+1) < 1 no order
/// statistic certifies α: the rule then uses the maximum (k = 0) and reports the
/// reachable bound 1/(n+1) with `target_reachable = false` — e.g. 300 negatives
/// certify 0.33 %, not 0.1 %; 999 are needed for 0.1 %.
///
/// Errors on no negatives, a non-finite score, or α outside (0, 1).
pub fn calibrate_threshold(negatives: &[f64], target_fpr: f64) -> Result<Threshold> {
    if negatives.is_empty() {
        bail_invalid!("calibrate_threshold: no negative scores");
    }
    if !(target_fpr > 0.0 && target_fpr < 1.0) {
        bail_invalid!("calibrate_threshold: target FPR must be in (0, 1), got {target_fpr}");
    }
    if let Some(i) = negatives.iter().position(|s| !s.is_finite()) {
        bail_invalid!(
            "calibrate_threshold: score {i} is not finite ({})",
            negatives[i]
        );
    }
    let n = negatives.len();
    let mut sorted = negatives.to_vec();
    sorted.sort_by(f64::total_cmp);
    let raw = (target_fpr * (n as f64 + 1.0)).floor() as i64 - 1;
    let target_reachable = raw >= 0;
    let k = raw.clamp(0, n as i64 - 1) as usize;
    let threshold = sorted[n - 1 - k];
    let above = sorted.iter().filter(|&&s| s > threshold).count();
    Ok(Threshold {
        threshold,
        target_fpr,
        negatives: n,
        allowed: k,
        fpr_bound: (k + 1) as f64 / (n + 1) as f64,
        target_reachable,
        calibration_fpr: above as f64 / n as f64,
    })
}

/// A proportion with its 95 % Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Count of "watermarked" decisions.
    pub hits: usize,
    /// Number of images.
    pub n: usize,
    /// hits / n.
    pub rate: f64,
    /// Lower end of the 95 % Wilson interval.
    pub low: f64,
    /// Upper end of the 95 % Wilson interval.
    pub high: f64,
}

/// Fraction of `scores` above `threshold` (success rate on positives, false-positive
/// rate on negatives) with its 95 % Wilson interval. Errors on no scores or a
/// non-finite score.
pub fn detection_rate(scores: &[f64], threshold: f64) -> Result<Rate> {
    if scores.is_empty() {
        bail_invalid!("detection_rate: no scores");
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        bail_invalid!("detection_rate: score {i} is not finite ({})", scores[i]);
    }
    let hits = scores.iter().filter(|&&s| s > threshold).count();
    let n = scores.len();
    let (low, high) = wilson_interval(hits, n)?;
    Ok(Rate {
        hits,
        n,
        rate: hits as f64 / n as f64,
        low,
        high,
    })
}

/// z of a two-sided 95 % interval, Φ⁻¹(0.975).
const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % Wilson score interval of `hits` successes in `n` trials:
/// (p̂ + z²/2n ± z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), as statsmodels'
/// `proportion_confint(method="wilson")`.
///
/// TODO-move: to `candor_core::stats` once helper "stats" lands it on main.
pub fn wilson_interval(hits: usize, n: usize) -> Result<(f64, f64)> {
    if n == 0 || hits > n {
        bail_invalid!("wilson_interval: need 0 ≤ hits ≤ n and n > 0, got {hits} of {n}");
    }
    let (nf, p) = (n as f64, hits as f64 / n as f64);
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom;
    // The bounds are exactly 0 at 0 hits and 1 at n hits (no rounding residue).
    let low = if hits == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if hits == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Ok((low, high))
}
