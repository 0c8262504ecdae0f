//! Finite-difference gradient checks, for testing ops and layers.
//!
//! The function under test is reduced to a scalar with a fixed random projection,
//! `L = Σ f(x) ⊙ R`, so every output element contributes; analytic gradients from
//! `L.backward()` are compared with central differences in f64.

use candle_core::{DType, Device, Tensor, Var};

use crate::{Error, Result, SeededRng};

/// Result of a gradient check: the worst error over the checked elements.
#[derive(Debug, Clone, Copy)]
pub struct GradCheck {
    /// Largest `|analytic − numeric| / (atol + rtol·|numeric|)`; ≤ 1 passes.
    pub worst_ratio: f64,
    pub max_abs_err: f64,
    pub checked: usize,
}

/// Check the gradients of `f` with respect to every input (f64 tensors on the CPU).
/// At most `max_elems` elements per input are perturbed (chosen by a seeded RNG).
pub fn check(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    max_elems: usize,
    eps: f64,
    atol: f64,
    rtol: f64,
) -> Result<GradCheck> {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| {
            if t.dtype() != DType::F64 {
                return Err(Error::invalid("gradcheck needs f64 inputs"));
            }
            Ok(Var::from_tensor(&t.to_device(&Device::Cpu)?)?)
        })
        .collect::<Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts)?;
    let mut rng = SeededRng::new(1234);
    let r = rng.normal_tensor(0.0, 1.0, y.shape().clone(), DType::F64, &Device::Cpu)?;
    let loss_of =
        |ts: &[Tensor]| -> Result<f64> { Ok(f(ts)?.mul(&r)?.sum_all()?.to_scalar::<f64>()?) };
    let grads = y.mul(&r)?.sum_all()?.backward()?;
    let mut out = GradCheck {
        worst_ratio: 0.0,
        max_abs_err: 0.0,
        checked: 0,
    };
    for (i, v) in vars.iter().enumerate() {
        let analytic = match grads.get(v.as_tensor()) {
            Some(g) => g.flatten_all()?.to_vec1::<f64>()?,
            None => vec![0.0; v.elem_count()],
        };
        let base = v.as_tensor().flatten_all()?.to_vec1::<f64>()?;
        let idx = if base.len() <= max_elems {
            (0..base.len()).collect()
        } else {
            rng.choose_distinct(base.len(), max_elems)?
        };
        for j in idx {
            let probe = |delta: f64| -> Result<f64> {
                let mut b = base.clone();
                b[j] += delta;
                v.set(&Tensor::from_vec(b, v.shape().clone(), &Device::Cpu)?)?;
                let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
                loss_of(&ts)
            };
            let num = (probe(eps)? - probe(-eps)?) / (2.0 * eps);
            let err = (analytic[j] - num).abs();
            out.max_abs_err = out.max_abs_err.max(err);
            out.worst_ratio = out.worst_ratio.max(err / (atol + rtol * num.abs()));
            out.checked += 1;
        }
        v.set(&Tensor::from_vec(base, v.shape().clone(), &Device::Cpu)?)?;
        let _ = i;
    }
    Ok(out)
}

/// The largest `|a − b|` over two tensors of one shape (any float dtype), as `f64`:
/// the comparison of every test that checks one computation against another.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        return Err(Error::invalid(format!(
            "max_abs_diff: shapes {:?} and {:?} differ",
            a.dims(),
            b.dims()
        )));
    }
    let d = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?.abs()?;
    Ok(d.flatten_all()?.max(0)?.to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_wrong_gradient() {
        let x = SeededRng::new(0)
            .normal_tensor(0.0, 1.0, (3, 4), DType::F64, &Device::Cpu)
            .unwrap();
        // Right: d/dx (x²) = 2x.
        let ok = check(
            |t| Ok(t[0].sqr()?),
            std::slice::from_ref(&x),
            12,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(ok.worst_ratio <= 1.0, "{ok:?}");
        // Wrong: a detached factor hides half of the gradient.
        let bad = check(
            |t| Ok(t[0].mul(&t[0].detach())?),
            std::slice::from_ref(&x),
            12,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(bad.worst_ratio > 1.0, "{bad:?}");
        // No gradient at all.
        let none = check(|t| Ok(t[0].detach().sqr()?), &[x], 12, 1e-6, 1e-7, 1e-6).unwrap();
        assert!(none.worst_ratio > 1.0, "{none:?}");
    }
}
