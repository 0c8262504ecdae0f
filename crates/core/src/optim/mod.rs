//! Optimisers, gradient clipping, learning-rate schedules and target-network
//! updates that candle-nn 0.11 lacks (it only has momentum-free SGD and AdamW).
//!
//! Every optimiser follows the update rule of its PyTorch counterpart
//! (`torch.optim.Adam`, `AdamW`, `SGD`, `RMSprop`, single-tensor path, no
//! `amsgrad`/`maximize`/`foreach`), operates on a `Vec<candle_core::Var>` and a
//! [`GradStore`] from `loss.backward()`, and does all tensor arithmetic with
//! candle ops, so it runs on any device and on `f32` or `f64` parameters.
//!
//! * Parameters without a gradient in the store are skipped, as PyTorch skips
//!   parameters whose `.grad` is `None`; their state (and step counter) is not
//!   touched.
//! * [`Optim::state`] / [`Optim::load_state`] expose the per-parameter buffers
//!   (`"{i}.exp_avg"`, `"{i}.exp_avg_sq"`, `"{i}.momentum_buffer"`,
//!   `"{i}.square_avg"`, `"{i}.grad_avg"`) and step counters (`"{i}.step"`, a
//!   scalar `f64` tensor on the CPU), where `i` is the parameter's position in
//!   the `Vec<Var>` given to the constructor. Saving them (e.g. with
//!   `candle_core::safetensors::save`) and loading them into a fresh optimiser
//!   over the same parameters resumes training bit-identically.
//! * `VarMap` iterates its variables in random order: build optimisers from
//!   [`sorted_vars`] so that parameter `i` is the same variable in every run
//!   (and checkpoints line up).

use std::collections::{HashMap, HashSet};

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use crate::{bail_invalid, Result};

pub mod clip;
mod fused;
pub mod optimisers;
pub mod schedule;
pub mod target;

pub use crate::init::sorted_vars;
pub use clip::clip_grad_norm;
pub use optimisers::{Adam, AdamConfig, AdamW, RmsProp, RmsPropConfig, Sgd, SgdConfig};
pub use schedule::{PlateauConfig, PlateauMode, ReduceLrOnPlateau, Schedule, ThresholdMode};
pub use target::{hard_update, soft_update};

// ---------------------------------------------------------------------------
// trait and shared machinery
// ---------------------------------------------------------------------------

/// A first-order optimiser over a fixed list of [`Var`]s.
pub trait Optim {
    /// Applies one update from the gradients in `grads` (parameters without a
    /// gradient are skipped).
    fn step(&mut self, grads: &GradStore) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate used by the next [`Optim::step`]. A negative or
    /// non-finite value is stored as given and makes the next `step` return `Err`.
    fn set_learning_rate(&mut self, lr: f64);

    /// Back-propagates `loss` and applies [`Optim::step`].
    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let g = loss.backward()?;
        self.step(&g)
    }

    /// Per-parameter buffers and step counters, named `"{i}.{buffer}"`, sorted
    /// by parameter index then name. Parameters that never had a gradient have
    /// no entries.
    fn state(&self) -> Vec<(String, Tensor)>;

    /// Restores state produced by [`Optim::state`] of an optimiser of the same
    /// kind and configuration over parameters of the same shapes. Parameters
    /// without entries start fresh. Errors (leaving the current state
    /// unchanged) on unknown names, incomplete or mis-shaped entries, or an
    /// invalid step counter.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// State of one parameter: step counter and named buffers.
#[derive(Debug, Clone)]
pub(super) struct ParamState {
    step: u64,
    bufs: Vec<Tensor>,
}

pub(super) fn check_finite_nonneg(what: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v < 0.0 {
        bail_invalid!("{what} must be finite and ≥ 0, got {v}");
    }
    Ok(())
}

pub(super) fn check_unit(what: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        bail_invalid!("{what} must be in [0, 1), got {v}");
    }
    Ok(())
}

pub(super) fn validate_vars(vars: &[Var]) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, v) in vars.iter().enumerate() {
        if !v.dtype().is_float() {
            bail_invalid!(
                "parameter {i} has dtype {:?}; optimisers need floating-point parameters",
                v.dtype()
            );
        }
        if !v.as_tensor().is_contiguous() {
            bail_invalid!("parameter {i} is not contiguous");
        }
        if !seen.insert(v.as_tensor().id()) {
            bail_invalid!("parameter {i} appears more than once in the parameter list");
        }
    }
    Ok(())
}

/// The (detached) gradient of parameter `i`, `None` when it has none or is empty.
pub(super) fn grad_of(var: &Var, i: usize, grads: &GradStore) -> Result<Option<Tensor>> {
    let Some(g) = grads.get(var.as_tensor()) else {
        return Ok(None);
    };
    if var.elem_count() == 0 {
        return Ok(None);
    }
    if g.shape() != var.shape() {
        bail_invalid!(
            "gradient of parameter {i} has shape {:?}, the parameter {:?}",
            g.shape(),
            var.shape()
        );
    }
    if g.dtype() != var.dtype() {
        bail_invalid!(
            "gradient of parameter {i} has dtype {:?}, the parameter {:?}",
            g.dtype(),
            var.dtype()
        );
    }
    Ok(Some(g.detach()))
}

pub(super) fn state_entries(
    states: &[Option<ParamState>],
    names: &[&str],
    has_step: bool,
) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (i, s) in states.iter().enumerate() {
        let Some(s) = s else { continue };
        let mut entries: Vec<(String, Tensor)> = names
            .iter()
            .zip(&s.bufs)
            // Deep copies: the CPU fast paths update the buffers in place.
            .map(|(n, t)| (format!("{i}.{n}"), t.copy().unwrap_or_else(|_| t.clone())))
            .collect();
        if has_step {
            // `Tensor::new` on a scalar on the CPU cannot fail.
            if let Ok(t) = Tensor::new(s.step as f64, &Device::Cpu) {
                entries.push((format!("{i}.step"), t));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(entries);
    }
    out
}

pub(super) fn load_states(
    vars: &[Var],
    map: &HashMap<String, Tensor>,
    names: &[&str],
    has_step: bool,
) -> Result<Vec<Option<ParamState>>> {
    let mut all_names: Vec<&str> = names.to_vec();
    if has_step {
        all_names.push("step");
    }
    let mut expected = HashSet::new();
    for i in 0..vars.len() {
        for n in &all_names {
            expected.insert(format!("{i}.{n}"));
        }
    }
    let mut unknown: Vec<&String> = map.keys().filter(|k| !expected.contains(*k)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        bail_invalid!(
            "optimiser state has unexpected entries {unknown:?} (expected per-parameter names {all_names:?} for {} parameters)",
            vars.len()
        );
    }
    let mut out = Vec::with_capacity(vars.len());
    for (i, var) in vars.iter().enumerate() {
        let present: Vec<&str> = all_names
            .iter()
            .copied()
            .filter(|n| map.contains_key(&format!("{i}.{n}")))
            .collect();
        if present.is_empty() {
            out.push(None);
            continue;
        }
        if present.len() != all_names.len() {
            let missing: Vec<&str> = all_names
                .iter()
                .copied()
                .filter(|n| !present.contains(n))
                .collect();
            bail_invalid!("optimiser state of parameter {i} is incomplete: missing {missing:?}");
        }
        let mut bufs = Vec::with_capacity(names.len());
        for n in names {
            let t = &map[&format!("{i}.{n}")];
            if t.shape() != var.shape() {
                bail_invalid!(
                    "optimiser state {i}.{n} has shape {:?}, the parameter {:?}",
                    t.shape(),
                    var.shape()
                );
            }
            // An owned copy: the CPU fast paths update the buffers in place.
            let t = t
                .detach()
                .to_dtype(var.dtype())?
                .to_device(var.device())?
                .copy()?;
            bufs.push(t);
        }
        let step = if has_step {
            let t = &map[&format!("{i}.step")];
            if t.elem_count() != 1 {
                bail_invalid!(
                    "optimiser state {i}.step must hold one value, has shape {:?}",
                    t.shape()
                );
            }
            let v = t
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_device(&Device::Cpu)?
                .to_vec1::<f64>()?[0];
            if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > u64::MAX as f64 {
                bail_invalid!("optimiser state {i}.step must be a non-negative integer, got {v}");
            }
            v as u64
        } else {
            0
        };
        out.push(Some(ParamState { step, bufs }));
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod test_util {
    //! Helpers shared by the optimiser, clipping and target-update tests.
    use super::*;

    pub(super) const DEV: Device = Device::Cpu;

    pub(super) fn var(v: &[f64]) -> Var {
        Var::from_slice(v, v.len(), &DEV).unwrap()
    }

    pub(super) fn grads_for(pairs: &[(&Var, &[f64])]) -> GradStore {
        let mut g = GradStore::default();
        for (v, vals) in pairs {
            g.insert(
                v.as_tensor(),
                Tensor::from_slice(vals, vals.len(), &DEV).unwrap(),
            );
        }
        g
    }

    pub(super) fn vals(v: &Var) -> Vec<f64> {
        v.as_tensor().to_vec1::<f64>().unwrap()
    }

    pub(super) fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }
}
