//! Gradient clipping by the global L2 norm (`torch.nn.utils.clip_grad_norm_`).

use std::collections::HashSet;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use super::check_finite_nonneg;
use crate::Result;

// ---------------------------------------------------------------------------
// gradient clipping
// ---------------------------------------------------------------------------

/// `torch.nn.utils.clip_grad_norm_`: the L2 norm over the gradients of all
/// `vars` (as one vector; vars without a gradient are ignored, a var listed
/// twice counts once) is computed, and if `coef = max_norm / (total + 1e-6)`
/// is below 1 every gradient is multiplied by `coef`. Returns the total norm
/// before clipping (0 when no var has a gradient).
///
/// The sum of squares is accumulated in `f64` (`f32` on Metal). When the
/// total norm is NaN or infinite the gradients are left unchanged and the
/// non-finite norm is returned, so the caller can skip the step (PyTorch
/// would instead scale the gradients into NaN/0). Errors if `max_norm` is
/// negative or not finite.
pub fn clip_grad_norm(vars: &[Var], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    check_finite_nonneg("max_norm", max_norm)?;
    let mut seen = HashSet::new();
    let mut present: Vec<&Var> = Vec::new();
    let mut sum: Option<Tensor> = None;
    for var in vars {
        if !seen.insert(var.as_tensor().id()) {
            continue;
        }
        let Some(g) = grads.get(var.as_tensor()) else {
            continue;
        };
        present.push(var);
        // f64 accumulation where the device has it (Metal has no f64)
        let acc_dtype = if g.device().is_metal() {
            DType::F32
        } else {
            DType::F64
        };
        let s = g.detach().to_dtype(acc_dtype)?.sqr()?.sum_all()?;
        sum = Some(match sum {
            None => s,
            Some(acc) => {
                let s = if s.device().same_device(acc.device()) {
                    s
                } else {
                    s.to_device(acc.device())?
                };
                acc.add(&s.to_dtype(acc.dtype())?)?
            }
        });
    }
    let Some(sum) = sum else {
        return Ok(0.0);
    };
    let total = sum
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?
        .sqrt();
    if !total.is_finite() {
        return Ok(total);
    }
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for var in present {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = g.detach().affine(coef, 0.0)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

    #[test]
    fn clip_grad_norm_scales_to_max_norm() {
        let (a, b) = (var(&[0.0, 0.0]), var(&[0.0]));
        let mut g = grads_for(&[(&a, &[3.0, 4.0]), (&b, &[12.0])]);
        let vars = [a.clone(), b.clone()];
        let total = clip_grad_norm(&vars, &mut g, 6.5).unwrap();
        assert_close(&[total], &[13.0], 1e-12);
        let coef = 6.5 / (13.0 + 1e-6);
        let ga = g.get(a.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        let gb = g.get(b.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert_close(&ga, &[3.0 * coef, 4.0 * coef], 1e-12);
        assert_close(&gb, &[12.0 * coef], 1e-12);
        // new norm is max_norm (up to the 1e-6 guard)
        let again = clip_grad_norm(&vars, &mut g, 100.0).unwrap();
        assert_close(&[again], &[6.5], 1e-6);
        // below the threshold nothing changes
        let gb2 = g.get(b.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(gb, gb2);
        // no gradients → 0; bad max_norm → Err; non-finite norm returned untouched
        assert_eq!(clip_grad_norm(&[var(&[1.0])], &mut g, 1.0).unwrap(), 0.0);
        assert!(clip_grad_norm(&vars, &mut g, -1.0).is_err());
        assert!(clip_grad_norm(&vars, &mut g, f64::NAN).is_err());
        let mut gi = grads_for(&[(&a, &[f64::INFINITY, 1.0])]);
        assert!(clip_grad_norm(&vars, &mut gi, 1.0).unwrap().is_infinite());
        assert_eq!(
            gi.get(a.as_tensor()).unwrap().to_vec1::<f64>().unwrap()[1],
            1.0
        );
    }
}
