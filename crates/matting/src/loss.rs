//! The card's losses, on `(B, 1, H, W)` tensors with α in [0, 1].
//!
//! 1. Regression (card eq. 1): L_reg = (1/|T|)·Σ_T |α_p − α_g| + (1/|S|)·Σ_S (α_p − α_g)²,
//!    T = transition pixels (0 < α_g < 1), S = solid pixels (α_g ∈ {0, 1}) — the
//!    reading of T and S is the card's \[proposal\]; an empty set contributes 0.
//! 2. Gradient (eq. 2): L_grad = mean |∇α_p − ∇α_g| with forward differences along x and
//!    y; its weight relative to L_reg is \[unverified\] ([`AlphaLossConfig::grad_weight`], 1).
//! 3. Uncertainty (eq. 3): α ~ Laplace(μ = α_p, b = σ_p), L_ue = mean(log σ_p + |α_g −
//!    α_p| / σ_p), with α_p detached (it is frozen in stage 2). The ablation
//!    [`l1_error_loss`] regresses σ on |α_g − α_p| directly.
//! 4. Refinement (eq. 4): L_ref = mean_C |α_p − α_g| + λ·mean_H |α_p − α_g|, H = the 20 %
//!    of each patch's pixels with the highest error (hard-pixel mining); λ is
//!    \[unverified\] ([`RefineLossConfig::hard_weight`], 1).

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Weights of the alpha losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlphaLossConfig {
    /// Weight of L_grad against L_reg (card: start at 1:1).
    pub grad_weight: f64,
}

impl Default for AlphaLossConfig {
    fn default() -> Self {
        AlphaLossConfig { grad_weight: 1.0 }
    }
}

/// Weights of the refinement loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefineLossConfig {
    /// λ of the hard-pixel term (card: start at 1).
    pub hard_weight: f64,
    /// Fraction of each patch's pixels in H (0.2).
    pub hard_fraction: f64,
}

impl Default for RefineLossConfig {
    fn default() -> Self {
        RefineLossConfig {
            hard_weight: 1.0,
            hard_fraction: 0.2,
        }
    }
}

fn same_shape(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::invalid(format!(
            "{what}: shapes differ: {:?} vs {:?}",
            a.dims(),
            b.dims()
        )));
    }
    Ok(())
}

/// Σ(x·m) / max(Σm, 1): a masked mean that is 0 on an empty mask.
fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let n = mask.sum_all()?.to_scalar::<f32>()?;
    Ok(((x * mask)?.sum_all()? / f64::from(n.max(1.0)))?)
}

/// L_reg (eq. 1).
pub fn regression_loss(pred: &Tensor, gt: &Tensor) -> Result<Tensor> {
    same_shape(pred, gt, "regression loss")?;
    let diff = (pred - gt)?;
    let transition = gt.gt(0.0)?.mul(&gt.lt(1.0)?)?.to_dtype(pred.dtype())?;
    let solid = (1.0 - &transition)?;
    let t = masked_mean(&diff.abs()?, &transition)?;
    let s = masked_mean(&diff.sqr()?, &solid)?;
    Ok((t + s)?)
}

/// L_grad (eq. 2): mean |∇α_p − ∇α_g| over both forward differences.
pub fn gradient_loss(pred: &Tensor, gt: &Tensor) -> Result<Tensor> {
    same_shape(pred, gt, "gradient loss")?;
    let d = (pred - gt)?;
    let (_, _, h, w) = d.dims4()?;
    if h < 2 || w < 2 {
        return Err(Error::invalid(format!(
            "gradient loss needs at least 2×2 pixels, got {h}×{w}"
        )));
    }
    let dx = (d.narrow(3, 1, w - 1)? - d.narrow(3, 0, w - 1)?)?;
    let dy = (d.narrow(2, 1, h - 1)? - d.narrow(2, 0, h - 1)?)?;
    Ok(((dx.abs()?.mean_all()? + dy.abs()?.mean_all()?)? * 0.5)?)
}

/// L_reg + w·L_grad.
pub fn alpha_loss(pred: &Tensor, gt: &Tensor, cfg: &AlphaLossConfig) -> Result<Tensor> {
    let r = regression_loss(pred, gt)?;
    if cfg.grad_weight == 0.0 {
        return Ok(r);
    }
    Ok((r + (gradient_loss(pred, gt)? * cfg.grad_weight)?)?)
}

/// The Laplace negative log-likelihood (eq. 3, without the constant log 2): mean(log σ +
/// |α_g − α_p| / σ). α_p is detached. Errors on shape mismatch; σ must be positive.
pub fn laplace_nll(alpha_p: &Tensor, sigma: &Tensor, alpha_g: &Tensor) -> Result<Tensor> {
    same_shape(alpha_p, sigma, "Laplace NLL")?;
    same_shape(alpha_p, alpha_g, "Laplace NLL")?;
    let err = (alpha_g - alpha_p.detach())?.abs()?;
    Ok((sigma.log()? + (err / sigma)?)?.mean_all()?)
}

/// The ablation: mean |σ − |α_g − α_p|| (σ regresses the error directly).
pub fn l1_error_loss(alpha_p: &Tensor, sigma: &Tensor, alpha_g: &Tensor) -> Result<Tensor> {
    same_shape(alpha_p, sigma, "L1-on-error loss")?;
    same_shape(alpha_p, alpha_g, "L1-on-error loss")?;
    let err = (alpha_g - alpha_p.detach())?.abs()?;
    Ok((sigma - err)?.abs()?.mean_all()?)
}

/// L_ref (eq. 4) on patches `(P, 1, k, k)`: mean |e| + λ·mean over each patch's top
/// `hard_fraction` errors (ties at the cut-off all count).
pub fn refine_loss(pred: &Tensor, gt: &Tensor, cfg: &RefineLossConfig) -> Result<Tensor> {
    same_shape(pred, gt, "refinement loss")?;
    if !(cfg.hard_fraction > 0.0 && cfg.hard_fraction <= 1.0) {
        return Err(Error::invalid(format!(
            "refinement loss: hard fraction must be in (0, 1], got {}",
            cfg.hard_fraction
        )));
    }
    let p = pred.dim(0)?;
    let err = (pred - gt)?.abs()?.flatten_from(1)?;
    let all = err.mean_all()?;
    // The mask of H from the detached errors: the k-th largest per patch.
    let rows = err.detach().to_vec2::<f32>()?;
    let mut mask = Vec::with_capacity(rows.len() * rows.first().map_or(0, Vec::len));
    for r in &rows {
        let k = ((r.len() as f64 * cfg.hard_fraction).ceil() as usize).clamp(1, r.len());
        let mut s = r.clone();
        s.sort_by(|a, b| b.total_cmp(a));
        let cut = s[k - 1];
        mask.extend(r.iter().map(|&e| if e >= cut { 1f32 } else { 0.0 }));
    }
    let n = rows.first().map_or(0, Vec::len);
    let mask = Tensor::from_vec(mask, (p, n), err.device())?;
    let hard = ((&err * &mask)?.sum(D::Minus1)? / mask.sum(D::Minus1)?)?.mean_all()?;
    Ok((all + (hard * cfg.hard_weight)?)?)
}
