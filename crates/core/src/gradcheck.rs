//! Gradient tests for ops, layers and models.
//!
//! * [`check`]: finite differences. The function under test is reduced to a scalar with a
//!   fixed random projection, `L = Σ f(x) ⊙ R` ([`project`]), so every output element
//!   contributes; analytic gradients from `L.backward()` are compared with central
//!   differences in f64.
//! * [`assert_every_param_has_grad`] and [`assert_param_grads`]: every trainable variable
//!   of a `VarMap` receives a finite, non-zero gradient (candle silently drops gradients
//!   through some of its ops, see `shared/candle-notes.md`), and buffers such as
//!   BatchNorm's running statistics receive none. One helper for every crate's
//!   "every parameter gets a gradient" test.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;

use crate::{Error, Result, SeededRng};

/// Suffixes of variables that are buffers, not parameters: they live in the `VarMap` so
/// that checkpoints carry them, but never get a gradient (BatchNorm's running statistics).
pub const BUFFER_SUFFIXES: [&str; 2] = ["running_mean", "running_var"];

/// Whether `name` is a buffer (see [`BUFFER_SUFFIXES`]).
pub fn is_buffer(name: &str) -> bool {
    BUFFER_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// `Σ y ⊙ R` with `R` standard normal from a fixed seed: a scalar loss to which every
/// element of `y` contributes (with random signs, so nothing cancels by symmetry).
pub fn project(y: &Tensor) -> Result<Tensor> {
    let r = SeededRng::new(99).normal_tensor(0.0, 1.0, y.shape().clone(), y.dtype(), y.device())?;
    Ok(y.mul(&r)?.sum_all()?)
}

/// Back-propagates `loss` and panics, naming them, unless every parameter of `varmap`
/// gets a finite, non-zero gradient and no buffer ([`is_buffer`]) gets one. Returns the
/// gradients for further checks. For tests; see [`assert_param_grads`] for variables
/// that are meant to get none.
///
/// ```
/// use candle_core::{DType, Device, Module, Tensor};
/// use candle_nn::VarMap;
/// use candor_core::{gradcheck, init::seeded_var_builder, nn};
/// let vm = VarMap::new();
/// let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
/// let layer = nn::linear(3, 2, vb.pp("fc")).unwrap();
/// let x = Tensor::ones((4, 3), DType::F32, &Device::Cpu).unwrap();
/// let loss = gradcheck::project(&layer.forward(&x).unwrap()).unwrap();
/// gradcheck::assert_every_param_has_grad(&vm, &loss);
/// ```
pub fn assert_every_param_has_grad(varmap: &VarMap, loss: &Tensor) -> GradStore {
    let grads = loss
        .backward()
        .unwrap_or_else(|e| panic!("backward failed: {e}"));
    assert_param_grads(varmap, &grads, &[]);
    grads
}

/// Panics, listing every offender, unless each variable of `varmap` gets a finite,
/// non-zero gradient in `grads`, except buffers ([`is_buffer`]) and variables whose name
/// starts or ends with an entry of `expect_none`, which must get none. `&[""]` expects
/// no variable to get a gradient (a target network).
pub fn assert_param_grads(varmap: &VarMap, grads: &GradStore, expect_none: &[&str]) {
    let vars = crate::init::sorted_vars(varmap);
    assert!(!vars.is_empty(), "the VarMap has no variables");
    let mut bad = Vec::new();
    for (name, v) in vars {
        let g = grads.get(v.as_tensor());
        let none = is_buffer(&name)
            || expect_none
                .iter()
                .any(|p| name.starts_with(p) || name.ends_with(p));
        match (none, g) {
            (true, Some(_)) => bad.push(format!("{name}: got a gradient, expected none")),
            (true, None) => {}
            (false, None) => bad.push(format!("{name}: no gradient")),
            (false, Some(g)) => {
                let n = g
                    .to_dtype(DType::F64)
                    .and_then(|g| g.sqr()?.sum_all()?.to_scalar::<f64>())
                    .unwrap_or(f64::NAN);
                if !(n > 0.0 && n.is_finite()) {
                    bad.push(format!("{name}: gradient norm² {n}"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "parameter gradients:\n  {}",
        bad.join("\n  ")
    );
}

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
    let grads = crate::ops::backward_from(&y, &r)?;
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

/// The bit patterns of every value of `t` (any float dtype) as `f64`: the comparison of
/// the tests that check one computation gives another's exact bits.
#[cfg(test)]
pub(crate) fn bits(t: &Tensor) -> Vec<u64> {
    let t = t.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
    t.to_vec1::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_param_helper_catches_missing_zero_and_unexpected_gradients() {
        use candle_nn::Init;
        let vm = VarMap::new();
        let vb = crate::init::seeded_var_builder(&vm, 0, DType::F64, &Device::Cpu);
        let a = vb.get_with_hints(3, "a", Init::Const(1.0)).unwrap();
        let b = vb.get_with_hints(3, "b", Init::Const(1.0)).unwrap();
        let _rm = vb
            .get_with_hints(3, "bn.running_mean", Init::Const(0.0))
            .unwrap();
        let x = Tensor::new(&[1.0f64, 2.0, 3.0], &Device::Cpu).unwrap();
        // Both used: passes.
        let loss = project(&(a.mul(&x).unwrap() + b.clone()).unwrap()).unwrap();
        let g = assert_every_param_has_grad(&vm, &loss);
        // `b` declared unused but used: fails.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_param_grads(&vm, &g, &["b"])
        }));
        assert!(r.is_err());
        // `b` unused: fails unless declared.
        let loss = project(&a.mul(&x).unwrap()).unwrap();
        let g = loss.backward().unwrap();
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_param_grads(&vm, &g, &[])
        }))
        .is_err());
        assert_param_grads(&vm, &g, &["b"]);
        // A zero gradient fails.
        let loss = a.mul(&x.zeros_like().unwrap()).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_param_grads(&vm, &g, &["b"])
        }))
        .is_err());
        // Nothing trained: everything expected none.
        let g = x.sum_all().unwrap().backward().unwrap();
        assert_param_grads(&vm, &g, &[""]);
    }

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
