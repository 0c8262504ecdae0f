//! Evaluation metrics that match the reference implementations.
//!
//! | file | what | reference |
//! |---|---|---|
//! | [`classification`] | [`accuracy`], [`roc_curve`], [`roc_auc`], [`eer`], [`average_precision`], [`mann_whitney_auc`] | scikit-learn (`roc_curve`, `roc_auc_score`, `average_precision_score`), DeepfakeBench's EER |
//! | [`image_quality`] | [`psnr`], [`ssim`] / [`ssim_tensor`] (Gaussian weights, σ = 1.5, population covariance), [`zncc`] (NC), [`bit_error_rate`] | scikit-image (`peak_signal_noise_ratio`, `structural_similarity`) |
//! | [`statistics`] | [`summarize`] (mean, sample std, 95 % Student-t half-width), [`t_critical_95`] | scipy |
//! | [`matting`] | the four alpha-matting errors SAD, MSE, Grad and Conn over a trimap's unknown region or the whole image | the Deep Image Matting MATLAB code (Xu et al. 2017), as mmeval reports it |
//!
//! Every function of the first three files is re-exported here, so
//! `candor_core::metrics::roc_auc` and `candor_core::metrics::classification::roc_auc`
//! are the same function. The matting errors keep their module path
//! (`metrics::matting::sad`, …) because their short names would be ambiguous.
//!
//! All arithmetic is done in `f64`. Bad input (empty slices, length mismatches,
//! NaN/∞ values, a single class where two are needed, images smaller than the
//! SSIM window) is reported as [`Error::InvalidInput`](crate::Error::InvalidInput),
//! never as a panic.

pub mod classification;
pub mod image_quality;
pub mod matting;
pub mod statistics;

pub use classification::{
    accuracy, accuracy_from_predictions, average_precision, eer, mann_whitney_auc, roc_auc,
    roc_curve, RocCurve,
};
pub use image_quality::{bit_error_rate, psnr, ssim, ssim_tensor, zncc};
pub use matting::{MattingErrors, Region};
pub use statistics::{summarize, t_critical_95, Summary};

use crate::{bail_invalid, Result};

pub(crate) fn check_same_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        bail_invalid!("{what}: length mismatch ({a} vs {b})");
    }
    if a == 0 {
        bail_invalid!("{what}: empty input");
    }
    Ok(())
}

pub(crate) fn check_finite_f64(what: &str, name: &str, xs: &[f64]) -> Result<()> {
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail_invalid!("{what}: {name}[{i}] is not finite ({x})");
    }
    Ok(())
}

pub(crate) fn check_finite_f32(what: &str, name: &str, xs: &[f32]) -> Result<()> {
    if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail_invalid!("{what}: {name}[{i}] is not finite ({x})");
    }
    Ok(())
}

/// `|a − b| ≤ tol`, for the metric tests.
#[cfg(test)]
pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}
