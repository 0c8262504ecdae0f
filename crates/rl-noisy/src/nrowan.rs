//! NROWAN's two additions to NoisyNet-DQN: the noise-reduction term D (eq. 8) and the
//! online weight k_t (eq. 12). The total loss is `L = TD + k_t·D`.

use candle_core::Tensor;
use candor_core::{Error, Result};

/// Eq. 12: `k_t = clip(k_final·(r⁺_t − R_inf)/(R_sup − R_inf), 0, k_final)`.
///
/// `r_plus` is the return collected so far in the current episode (reset to 0 when an
/// episode ends). On CartPole (R = [0, 200]) k ramps linearly from 0 to k_final over an
/// episode; on the negative-reward tasks (R_sup < 0) k starts at k_final (r⁺ = 0 ≥
/// R_sup) and falls as the penalties accumulate. Returns 0 when `r_sup ≤ r_inf` or any
/// input is not finite (the config rejects such bounds; this keeps the function total).
pub fn online_weight(r_plus: f64, k_final: f64, r_inf: f64, r_sup: f64) -> f64 {
    let spread = r_sup - r_inf;
    if !(spread > 0.0 && spread.is_finite() && r_plus.is_finite() && k_final.is_finite()) {
        return 0.0;
    }
    (k_final * (r_plus - r_inf) / spread).clamp(0.0, k_final.max(0.0))
}

/// Eq. 8: `D = (Σ|σ_w| + Σ|σ_b|) / ((p* + 1)·N_a)`, the mean |σ| over all noise
/// parameters of the output layer, as a differentiable scalar tensor.
///
/// `sigma_w` is the output layer's weight σ, `(N_a, p*)` (`(out, in)`) as in
/// [`NoisyLinear`](crate::NoisyLinear), and `sigma_b` its `(N_a,)` bias σ. Its gradient
/// is `sign(σ)/((p* + 1)·N_a)` on every σ.
pub fn noise_reduction(sigma_w: &Tensor, sigma_b: &Tensor) -> Result<Tensor> {
    let (n_a, p) = sigma_w.dims2()?;
    if sigma_b.dims() != [n_a] {
        return Err(Error::invalid(format!(
            "noise_reduction: sigma_b has shape {:?}, expected [{n_a}]",
            sigma_b.dims()
        )));
    }
    let total = sigma_w.abs()?.sum_all()?.add(&sigma_b.abs()?.sum_all()?)?;
    Ok(total.affine(1.0 / ((p + 1) * n_a) as f64, 0.0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn k_follows_eq_12() {
        // CartPole bounds: linear ramp, clipped at both ends.
        assert_eq!(online_weight(0.0, 4.0, 0.0, 200.0), 0.0);
        assert_eq!(online_weight(50.0, 4.0, 0.0, 200.0), 1.0);
        assert_eq!(online_weight(250.0, 4.0, 0.0, 200.0), 4.0);
        assert_eq!(online_weight(-3.0, 4.0, 0.0, 200.0), 0.0);
        assert_eq!(online_weight(1.0, 4.0, 1.0, 1.0), 0.0);
    }

    #[test]
    fn d_is_the_mean_abs_sigma() {
        // p* = 3 inputs, N_a = 2 actions: (3 + 1)·2 = 8 noise parameters.
        // σ_w is (N_a, p*).
        let w = Tensor::new(&[[0.5f32, 0.0, -0.75], [-0.25, 1.0, 0.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[-0.5f32, 0.25], &Device::Cpu).unwrap();
        let d = noise_reduction(&w, &b).unwrap().to_scalar::<f32>().unwrap();
        assert!((d - 3.25 / 8.0).abs() < 1e-7);
        let bad = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        assert!(noise_reduction(&w, &bad).is_err());
    }
}
