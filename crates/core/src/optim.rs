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
use serde::{Deserialize, Serialize};

use crate::{bail_invalid, Result};

mod fused;

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
struct ParamState {
    step: u64,
    bufs: Vec<Tensor>,
}

fn check_finite_nonneg(what: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v < 0.0 {
        bail_invalid!("{what} must be finite and ≥ 0, got {v}");
    }
    Ok(())
}

fn check_unit(what: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        bail_invalid!("{what} must be in [0, 1), got {v}");
    }
    Ok(())
}

fn validate_vars(vars: &[Var]) -> Result<()> {
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
fn grad_of(var: &Var, i: usize, grads: &GradStore) -> Result<Option<Tensor>> {
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

fn state_entries(
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

fn load_states(
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

// ---------------------------------------------------------------------------
// Adam / AdamW
// ---------------------------------------------------------------------------

/// Hyper-parameters of [`Adam`] and [`AdamW`] (PyTorch names and defaults,
/// except that `torch.optim.AdamW` defaults to `weight_decay = 0.01`; see
/// [`AdamConfig::adamw`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate (1e-3).
    pub lr: f64,
    /// Decay rates of the first and second moments ((0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to the denominator (1e-8).
    pub eps: f64,
    /// L2 penalty, coupled ([`Adam`]) or decoupled ([`AdamW`]) (0).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// `torch.optim.AdamW`'s defaults: as [`Default`] but `weight_decay = 0.01`.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        check_finite_nonneg("lr", self.lr)?;
        check_unit("beta1", self.betas.0)?;
        check_unit("beta2", self.betas.1)?;
        check_finite_nonneg("eps", self.eps)?;
        check_finite_nonneg("weight_decay", self.weight_decay)
    }
}

const ADAM_BUFS: &[&str] = &["exp_avg", "exp_avg_sq"];

#[derive(Debug)]
struct AdamCore {
    vars: Vec<Var>,
    states: Vec<Option<ParamState>>,
    config: AdamConfig,
    decoupled: bool,
}

impl AdamCore {
    fn new(vars: Vec<Var>, config: AdamConfig, decoupled: bool) -> Result<Self> {
        config.validate()?;
        validate_vars(&vars)?;
        let states = vec![None; vars.len()];
        Ok(AdamCore {
            vars,
            states,
            config,
            decoupled,
        })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.config.validate()?;
        let AdamConfig {
            lr,
            betas: (beta1, beta2),
            eps,
            weight_decay: wd,
        } = self.config;
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grad_of(var, i, grads)? else {
                continue;
            };
            let st = match &mut self.states[i] {
                Some(st) => st,
                slot => slot.insert(ParamState {
                    step: 0,
                    bufs: vec![g.zeros_like()?, g.zeros_like()?],
                }),
            };
            st.step += 1;
            let t = st.step as f64;
            let bias_correction1 = 1.0 - beta1.powf(t);
            let bias_correction2 = 1.0 - beta2.powf(t);
            let step_size = lr / bias_correction1;
            let pass = fused::AdamStep {
                beta1,
                beta2,
                coupled_decay: if self.decoupled { 0.0 } else { wd },
                decoupled_decay: if self.decoupled { lr * wd } else { 0.0 },
                inv_sqrt_bc2: 1.0 / bias_correction2.sqrt(),
                eps,
                step_size,
            };
            if fused::adam_step(var.as_tensor(), &g, &st.bufs[0], &st.bufs[1], &pass)? {
                continue;
            }
            let mut g = g;
            let mut theta = var.as_detached_tensor();
            if wd != 0.0 {
                if self.decoupled {
                    // param.mul_(1 - lr * weight_decay)
                    theta = theta.affine(1.0 - lr * wd, 0.0)?;
                } else {
                    // grad = grad.add(param, alpha=weight_decay)
                    g = g.add(&theta.affine(wd, 0.0)?)?;
                }
            }
            // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            let m = st.bufs[0].add(&g.sub(&st.bufs[0])?.affine(1.0 - beta1, 0.0)?)?;
            let v = st.bufs[1]
                .affine(beta2, 0.0)?
                .add(&g.sqr()?.affine(1.0 - beta2, 0.0)?)?;
            // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            let denom = v
                .sqrt()?
                .affine(1.0 / bias_correction2.sqrt(), 0.0)?
                .affine(1.0, eps)?;
            // param.addcdiv_(exp_avg, denom, value=-step_size)
            let theta = theta.sub(&m.div(&denom)?.affine(step_size, 0.0)?)?;
            var.set(&theta)?;
            st.bufs = vec![m, v];
        }
        Ok(())
    }
}

macro_rules! impl_adam_like {
    ($ty:ident) => {
        impl $ty {
            /// The parameters, in optimiser order.
            pub fn vars(&self) -> &[Var] {
                &self.0.vars
            }

            /// The hyper-parameters (the learning rate reflects
            /// [`Optim::set_learning_rate`]).
            pub fn config(&self) -> &AdamConfig {
                &self.0.config
            }
        }

        impl Optim for $ty {
            fn step(&mut self, grads: &GradStore) -> Result<()> {
                self.0.step(grads)
            }

            fn learning_rate(&self) -> f64 {
                self.0.config.lr
            }

            fn set_learning_rate(&mut self, lr: f64) {
                self.0.config.lr = lr;
            }

            fn state(&self) -> Vec<(String, Tensor)> {
                state_entries(&self.0.states, ADAM_BUFS, true)
            }

            fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
                self.0.states = load_states(&self.0.vars, state, ADAM_BUFS, true)?;
                Ok(())
            }
        }
    };
}

/// `torch.optim.Adam` with *coupled* L2 weight decay: `g ← g + wd·θ` before the
/// moment updates, then `θ ← θ − lr·m̂ / (√v̂ + eps)` with bias-corrected moments.
#[derive(Debug)]
pub struct Adam(AdamCore);

impl Adam {
    /// Adam over `vars` (pass [`sorted_vars`] values for a deterministic order).
    ///
    /// Errors on invalid hyper-parameters (negative or non-finite `lr`, `eps`,
    /// `weight_decay`; betas outside `[0, 1)`), non-float, non-contiguous or
    /// repeated parameters.
    pub fn new(vars: Vec<Var>, config: AdamConfig) -> Result<Self> {
        Ok(Adam(AdamCore::new(vars, config, false)?))
    }
}

/// `torch.optim.AdamW`: *decoupled* weight decay `θ ← θ·(1 − lr·wd)` first,
/// then the [`Adam`] update on the raw gradient.
#[derive(Debug)]
pub struct AdamW(AdamCore);

impl AdamW {
    /// AdamW over `vars` (pass [`sorted_vars`] values for a deterministic order).
    /// Errors as [`Adam::new`].
    pub fn new(vars: Vec<Var>, config: AdamConfig) -> Result<Self> {
        Ok(AdamW(AdamCore::new(vars, config, true)?))
    }
}

impl_adam_like!(Adam);
impl_adam_like!(AdamW);

// ---------------------------------------------------------------------------
// SGD
// ---------------------------------------------------------------------------

/// Hyper-parameters of [`Sgd`] (`torch.optim.SGD` names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate (1e-3).
    pub lr: f64,
    /// Momentum factor μ (0).
    pub momentum: f64,
    /// Dampening of the momentum (0).
    pub dampening: f64,
    /// Coupled L2 penalty (0).
    pub weight_decay: f64,
    /// Nesterov momentum (false; needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    fn validate(&self) -> Result<()> {
        check_finite_nonneg("lr", self.lr)?;
        check_finite_nonneg("momentum", self.momentum)?;
        if !self.dampening.is_finite() {
            bail_invalid!("dampening must be finite, got {}", self.dampening);
        }
        check_finite_nonneg("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            bail_invalid!("Nesterov momentum requires a momentum > 0 and zero dampening");
        }
        Ok(())
    }
}

const SGD_BUFS: &[&str] = &["momentum_buffer"];

/// `torch.optim.SGD`: `d = g + wd·θ`; with momentum μ the buffer starts as
/// `d` and then follows `buf ← μ·buf + (1 − dampening)·d`, and `d` becomes
/// `buf` (or `d + μ·buf` with Nesterov); `θ ← θ − lr·d`.
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    states: Vec<Option<ParamState>>,
    config: SgdConfig,
}

impl Sgd {
    /// SGD over `vars` (pass [`sorted_vars`] values for a deterministic order).
    ///
    /// Errors on invalid hyper-parameters (see [`SgdConfig`]) or non-float,
    /// non-contiguous or repeated parameters.
    pub fn new(vars: Vec<Var>, config: SgdConfig) -> Result<Self> {
        config.validate()?;
        validate_vars(&vars)?;
        let states = vec![None; vars.len()];
        Ok(Sgd {
            vars,
            states,
            config,
        })
    }

    /// The parameters, in optimiser order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    fn buf_names(&self) -> &'static [&'static str] {
        if self.config.momentum != 0.0 {
            SGD_BUFS
        } else {
            &[]
        }
    }
}

impl Optim for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.config.validate()?;
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay: wd,
            nesterov,
        } = self.config;
        for (i, var) in self.vars.iter().enumerate() {
            let Some(mut d_p) = grad_of(var, i, grads)? else {
                continue;
            };
            let theta = var.as_detached_tensor();
            if wd != 0.0 {
                d_p = d_p.add(&theta.affine(wd, 0.0)?)?;
            }
            if momentum != 0.0 {
                let buf = match &self.states[i] {
                    None => d_p.clone(),
                    Some(st) => st.bufs[0]
                        .affine(momentum, 0.0)?
                        .add(&d_p.affine(1.0 - dampening, 0.0)?)?,
                };
                d_p = if nesterov {
                    d_p.add(&buf.affine(momentum, 0.0)?)?
                } else {
                    buf.clone()
                };
                self.states[i] = Some(ParamState {
                    step: 0,
                    bufs: vec![buf],
                });
            }
            var.set(&theta.sub(&d_p.affine(lr, 0.0)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        state_entries(&self.states, self.buf_names(), false)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.states = load_states(&self.vars, state, self.buf_names(), false)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// RMSprop
// ---------------------------------------------------------------------------

/// Hyper-parameters of [`RmsProp`] (`torch.optim.RMSprop` names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmsPropConfig {
    /// Learning rate (1e-2).
    pub lr: f64,
    /// Smoothing constant α of the squared-gradient average (0.99).
    pub alpha: f64,
    /// Term added to the denominator (1e-8).
    pub eps: f64,
    /// Coupled L2 penalty (0).
    pub weight_decay: f64,
    /// Momentum factor (0).
    pub momentum: f64,
    /// Normalise by the estimated variance instead of the raw second moment (false).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl RmsPropConfig {
    fn validate(&self) -> Result<()> {
        check_finite_nonneg("lr", self.lr)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            bail_invalid!("alpha must be in [0, 1], got {}", self.alpha);
        }
        check_finite_nonneg("eps", self.eps)?;
        check_finite_nonneg("weight_decay", self.weight_decay)?;
        check_finite_nonneg("momentum", self.momentum)
    }
}

/// `torch.optim.RMSprop`: `sa ← α·sa + (1 − α)·g²`; centred: `ga ← lerp(ga, g, 1 − α)`,
/// `avg = √(sa − ga²) + eps`, else `avg = √sa + eps`; with momentum
/// `buf ← μ·buf + g/avg`, `θ ← θ − lr·buf`, else `θ ← θ − lr·g/avg`.
#[derive(Debug)]
pub struct RmsProp {
    vars: Vec<Var>,
    states: Vec<Option<ParamState>>,
    config: RmsPropConfig,
}

impl RmsProp {
    /// RMSprop over `vars` (pass [`sorted_vars`] values for a deterministic order).
    ///
    /// Errors on invalid hyper-parameters or non-float, non-contiguous or
    /// repeated parameters.
    pub fn new(vars: Vec<Var>, config: RmsPropConfig) -> Result<Self> {
        config.validate()?;
        validate_vars(&vars)?;
        let states = vec![None; vars.len()];
        Ok(RmsProp {
            vars,
            states,
            config,
        })
    }

    /// The parameters, in optimiser order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }

    /// Buffer names in storage order: square_avg, then momentum_buffer, grad_avg when used.
    fn buf_names(&self) -> Vec<&'static str> {
        let mut names = vec!["square_avg"];
        if self.config.momentum > 0.0 {
            names.push("momentum_buffer");
        }
        if self.config.centered {
            names.push("grad_avg");
        }
        names
    }
}

impl Optim for RmsProp {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.config.validate()?;
        let RmsPropConfig {
            lr,
            alpha,
            eps,
            weight_decay: wd,
            momentum,
            centered,
        } = self.config;
        let n_bufs = self.buf_names().len();
        for (i, var) in self.vars.iter().enumerate() {
            let Some(mut g) = grad_of(var, i, grads)? else {
                continue;
            };
            let theta = var.as_detached_tensor();
            if wd != 0.0 {
                g = g.add(&theta.affine(wd, 0.0)?)?;
            }
            let st = match &mut self.states[i] {
                Some(st) => st,
                slot => {
                    let mut bufs = Vec::with_capacity(n_bufs);
                    for _ in 0..n_bufs {
                        bufs.push(g.zeros_like()?);
                    }
                    slot.insert(ParamState { step: 0, bufs })
                }
            };
            st.step += 1;
            let mut bufs = st.bufs.iter().cloned();
            let (Some(square_avg), buf, grad_avg) = (
                bufs.next(),
                if momentum > 0.0 { bufs.next() } else { None },
                if centered { bufs.next() } else { None },
            ) else {
                bail_invalid!("internal: RMSprop state of parameter {i} has no square_avg");
            };
            // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            let square_avg = square_avg
                .affine(alpha, 0.0)?
                .add(&g.sqr()?.affine(1.0 - alpha, 0.0)?)?;
            let mut new_bufs = vec![square_avg.clone()];
            let (avg, grad_avg) = match grad_avg {
                Some(ga) => {
                    // grad_avg.lerp_(grad, 1 - alpha); avg = square_avg.addcmul(ga, ga, value=-1).sqrt_()
                    let ga = ga.add(&g.sub(&ga)?.affine(1.0 - alpha, 0.0)?)?;
                    (square_avg.sub(&ga.sqr()?)?.sqrt()?, Some(ga))
                }
                None => (square_avg.sqrt()?, None),
            };
            let avg = avg.affine(1.0, eps)?;
            let theta = match buf {
                Some(buf) => {
                    // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
                    let buf = buf.affine(momentum, 0.0)?.add(&g.div(&avg)?)?;
                    let theta = theta.sub(&buf.affine(lr, 0.0)?)?;
                    new_bufs.push(buf);
                    theta
                }
                // param.addcdiv_(grad, avg, value=-lr)
                None => theta.sub(&g.div(&avg)?.affine(lr, 0.0)?)?,
            };
            new_bufs.extend(grad_avg);
            var.set(&theta)?;
            st.bufs = new_bufs;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        state_entries(&self.states, &self.buf_names(), true)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.states = load_states(&self.vars, state, &self.buf_names(), true)?;
        Ok(())
    }
}

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

// ---------------------------------------------------------------------------
// learning-rate schedules
// ---------------------------------------------------------------------------

/// Epoch-indexed learning-rate schedules (closed forms of PyTorch's schedulers).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// The base learning rate throughout.
    #[default]
    Constant,
    /// `torch.optim.lr_scheduler.StepLR`: `base · γ^⌊epoch / step_size⌋`.
    Step {
        /// Epochs between decays (≥ 1).
        step_size: usize,
        /// Multiplicative decay.
        gamma: f64,
    },
    /// `torch.optim.lr_scheduler.CosineAnnealingLR` (closed form):
    /// `eta_min + (base − eta_min)·(1 + cos(π·epoch / t_max)) / 2`.
    Cosine {
        /// Half period in epochs (≥ 1).
        t_max: usize,
        /// Minimum learning rate.
        eta_min: f64,
    },
}

impl Schedule {
    /// Checks the parameters: `step_size ≥ 1`, finite `gamma ≥ 0`, `t_max ≥ 1`,
    /// finite `eta_min`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => {}
            Schedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    bail_invalid!("Step schedule needs step_size ≥ 1");
                }
                check_finite_nonneg("gamma", gamma)?;
            }
            Schedule::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    bail_invalid!("Cosine schedule needs t_max ≥ 1");
                }
                if !eta_min.is_finite() {
                    bail_invalid!("eta_min must be finite, got {eta_min}");
                }
            }
        }
        Ok(())
    }

    /// The learning rate at `epoch` (0-based) for base rate `base_lr`.
    ///
    /// Never panics: an invalid schedule (see [`Schedule::validate`]) is read
    /// with `step_size = 0` as 1 and `t_max = 0` as "already annealed"
    /// (`eta_min`). The cosine continues past `t_max` as PyTorch's closed
    /// form does (rising again towards `base_lr` at `2·t_max`).
    pub fn lr_at(&self, base_lr: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::Step { step_size, gamma } => {
                let k = epoch / step_size.max(1);
                base_lr * gamma.powf(k as f64)
            }
            Schedule::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    return eta_min;
                }
                let c = (std::f64::consts::PI * epoch as f64 / t_max as f64).cos();
                eta_min + (base_lr - eta_min) * (1.0 + c) / 2.0
            }
        }
    }
}

/// Whether a smaller or larger metric is better for [`ReduceLrOnPlateau`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    #[default]
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How [`PlateauConfig::threshold`] is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ThresholdMode {
    /// Improvement relative to the best: `best·(1 ∓ threshold)`.
    #[default]
    Rel,
    /// Absolute improvement: `best ∓ threshold`.
    Abs,
}

/// Hyper-parameters of [`ReduceLrOnPlateau`] (`torch.optim.lr_scheduler.ReduceLROnPlateau`
/// names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlateauConfig {
    /// Min or Max (Min).
    pub mode: PlateauMode,
    /// Multiplier applied on a plateau, in `[0, 1)` (0.1).
    pub factor: f64,
    /// Bad epochs tolerated before reducing (10).
    pub patience: usize,
    /// Minimum significant improvement (1e-4).
    pub threshold: f64,
    /// Relative or absolute threshold (Rel).
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction before counting bad epochs again (0).
    pub cooldown: usize,
    /// Lower bound of the learning rate (0).
    pub min_lr: f64,
    /// A reduction smaller than this is ignored (1e-8).
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`: multiplies the learning rate
/// by `factor` (not below `min_lr`) once the metric has not improved for more
/// than `patience` epochs, then waits `cooldown` epochs.
///
/// Serialisable for checkpoints (the "no best yet" state is `best: null`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: Option<f64>,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: usize,
}

impl ReduceLrOnPlateau {
    /// Errors if `factor` is not in `[0, 1)` or `threshold`, `min_lr`, `eps`
    /// are negative or not finite.
    pub fn new(config: PlateauConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&config.factor) {
            bail_invalid!("factor must be in [0, 1), got {}", config.factor);
        }
        check_finite_nonneg("threshold", config.threshold)?;
        check_finite_nonneg("min_lr", config.min_lr)?;
        check_finite_nonneg("eps", config.eps)?;
        Ok(ReduceLrOnPlateau {
            config,
            ..Default::default()
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    /// Best metric seen so far (`None` before the first [`ReduceLrOnPlateau::step`]).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Consecutive epochs without improvement.
    pub fn num_bad_epochs(&self) -> usize {
        self.num_bad_epochs
    }

    fn is_better(&self, a: f64) -> bool {
        let c = &self.config;
        let best = self.best.unwrap_or(match c.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        });
        match (c.mode, c.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - c.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - c.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (c.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + c.threshold,
        }
    }

    /// Records the epoch's `metric` and returns the learning rate to use next
    /// (`current_lr` or the reduced rate). A NaN metric counts as a bad epoch.
    pub fn step(&mut self, metric: f64, current_lr: f64) -> f64 {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = Some(metric);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        let mut lr = current_lr;
        if self.num_bad_epochs > self.config.patience {
            let new_lr = (current_lr * self.config.factor).max(self.config.min_lr);
            if current_lr - new_lr > self.config.eps {
                lr = new_lr;
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
        lr
    }
}

// ---------------------------------------------------------------------------
// VarMap helpers and target networks
// ---------------------------------------------------------------------------

pub use crate::init::sorted_vars;

/// Pairs the variables of `target` and `source` by name, checking that the
/// names, shapes and dtypes agree.
fn paired_vars(
    target: &candle_nn::VarMap,
    source: &candle_nn::VarMap,
) -> Result<Vec<(String, Var, Var)>> {
    // Each map is locked once, separately (they may be the same map).
    let t = sorted_vars(target);
    let s: HashMap<String, Var> = sorted_vars(source).into_iter().collect();
    let t_names: HashSet<&String> = t.iter().map(|(n, _)| n).collect();
    let mut only_target: Vec<&String> = t
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !s.contains_key(*n))
        .collect();
    let mut only_source: Vec<&String> = s.keys().filter(|n| !t_names.contains(n)).collect();
    only_target.sort();
    only_source.sort();
    let mut problems = Vec::new();
    if !only_target.is_empty() {
        problems.push(format!("only in target: {only_target:?}"));
    }
    if !only_source.is_empty() {
        problems.push(format!("only in source: {only_source:?}"));
    }
    let mut out = Vec::with_capacity(t.len());
    for (name, tv) in &t {
        let Some(sv) = s.get(name) else { continue };
        if tv.shape() != sv.shape() {
            problems.push(format!(
                "{name}: target shape {:?}, source shape {:?}",
                tv.shape(),
                sv.shape()
            ));
        } else if tv.dtype() != sv.dtype() {
            problems.push(format!(
                "{name}: target dtype {:?}, source dtype {:?}",
                tv.dtype(),
                sv.dtype()
            ));
        } else {
            out.push((name.clone(), tv.clone(), sv.clone()));
        }
    }
    if !problems.is_empty() {
        bail_invalid!(
            "target and source VarMaps do not match: {}",
            problems.join("; ")
        );
    }
    Ok(out)
}

/// Polyak averaging of a target network: `θ' ← τ·θ + (1 − τ)·θ'` for every
/// variable, matched by name. Errors, before changing anything, if `tau` is not
/// in `[0, 1]` or the maps differ in names, shapes or dtypes (the offending
/// names are listed).
pub fn soft_update(target: &candle_nn::VarMap, source: &candle_nn::VarMap, tau: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&tau) {
        bail_invalid!("tau must be in [0, 1], got {tau}");
    }
    let pairs = paired_vars(target, source)?;
    for (_, tv, sv) in pairs {
        if fused::polyak(tv.as_tensor(), sv.as_tensor(), tau)? {
            continue;
        }
        let s = sv.as_detached_tensor().to_device(tv.device())?;
        let new = tv
            .as_detached_tensor()
            .affine(1.0 - tau, 0.0)?
            .add(&s.affine(tau, 0.0)?)?;
        if new.elem_count() > 0 {
            tv.set(&new)?;
        }
    }
    Ok(())
}

/// Copies every variable of `source` into the variable of the same name in
/// `target`. Errors, before changing anything, if the maps differ in names,
/// shapes or dtypes (the offending names are listed).
pub fn hard_update(target: &candle_nn::VarMap, source: &candle_nn::VarMap) -> Result<()> {
    let pairs = paired_vars(target, source)?;
    for (_, tv, sv) in pairs {
        if tv.elem_count() == 0 {
            continue;
        }
        // a fresh copy, so that updating a map from itself is allowed
        let s = sv.as_detached_tensor().to_device(tv.device())?.copy()?;
        tv.set(&s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    const DEV: Device = Device::Cpu;

    fn var(v: &[f64]) -> Var {
        Var::from_slice(v, v.len(), &DEV).unwrap()
    }

    fn grads_for(pairs: &[(&Var, &[f64])]) -> GradStore {
        let mut g = GradStore::default();
        for (v, vals) in pairs {
            g.insert(
                v.as_tensor(),
                Tensor::from_slice(vals, vals.len(), &DEV).unwrap(),
            );
        }
        g
    }

    fn vals(v: &Var) -> Vec<f64> {
        v.as_tensor().to_vec1::<f64>().unwrap()
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }

    /// Reference Adam/AdamW, written out from torch.optim's formulas, in f64.
    fn adam_ref(theta: &[f64], grads: &[Vec<f64>], c: AdamConfig, decoupled: bool) -> Vec<f64> {
        let (b1, b2) = c.betas;
        let mut th = theta.to_vec();
        let mut m = vec![0.0; th.len()];
        let mut v = vec![0.0; th.len()];
        for (t, g) in grads.iter().enumerate() {
            let t = (t + 1) as f64;
            for j in 0..th.len() {
                let mut gj = g[j];
                if decoupled {
                    th[j] *= 1.0 - c.lr * c.weight_decay;
                } else {
                    gj += c.weight_decay * th[j];
                }
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                let mhat = m[j] / (1.0 - b1.powf(t));
                let vhat = v[j] / (1.0 - b2.powf(t));
                th[j] -= c.lr * mhat / (vhat.sqrt() + c.eps);
            }
        }
        th
    }

    #[test]
    fn adam_first_step_by_hand() {
        // m̂ = g, v̂ = g² after one step: θ ← θ − lr·g/(|g| + eps) ≈ θ − lr·sign(g)
        let x = var(&[1.0, -2.0]);
        let mut opt = Adam::new(
            vec![x.clone()],
            AdamConfig {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        opt.step(&grads_for(&[(&x, &[0.5, -1.0])])).unwrap();
        assert_close(&vals(&x), &[0.9, -1.9], 1e-7);
    }

    #[test]
    fn adam_and_adamw_two_steps() {
        let theta = [1.0, -2.0, 0.5];
        let gs = vec![vec![0.5, -1.0, 0.0], vec![0.1, 0.3, -0.2]];
        let c = AdamConfig {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut results = Vec::new();
        for decoupled in [false, true] {
            let x = var(&theta);
            let mut opt: Box<dyn Optim> = if decoupled {
                Box::new(AdamW::new(vec![x.clone()], c).unwrap())
            } else {
                Box::new(Adam::new(vec![x.clone()], c).unwrap())
            };
            for g in &gs {
                opt.step(&grads_for(&[(&x, g)])).unwrap();
            }
            let want = adam_ref(&theta, &gs, c, decoupled);
            assert_close(&vals(&x), &want, 1e-12);
            results.push(vals(&x));
        }
        // Coupled L2 goes through the normalisation: for the zero-gradient entry
        // (θ = 0.5) Adam's first step is ≈ −lr·sign(wd·θ) = −0.1, AdamW's only
        // the decay 0.5·lr·wd = 0.005 (then the second gradient's step).
        assert!((results[0][2] - results[1][2]).abs() > 1e-3);
        // AdamW with wd = 0 equals Adam with wd = 0
        let c0 = AdamConfig {
            weight_decay: 0.0,
            ..c
        };
        let (a, b) = (var(&theta), var(&theta));
        let mut oa = Adam::new(vec![a.clone()], c0).unwrap();
        let mut ob = AdamW::new(vec![b.clone()], c0).unwrap();
        for g in &gs {
            oa.step(&grads_for(&[(&a, g)])).unwrap();
            ob.step(&grads_for(&[(&b, g)])).unwrap();
        }
        assert_eq!(vals(&a), vals(&b));
    }

    #[test]
    fn adamw_first_step_by_hand() {
        // θ = 1, g = 1, lr = 0.1, wd = 0.5: θ ← 1·(1 − 0.05) = 0.95, then − 0.1·1/(1 + 1e-8)
        let x = var(&[1.0]);
        let mut opt = AdamW::new(
            vec![x.clone()],
            AdamConfig {
                lr: 0.1,
                weight_decay: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        opt.step(&grads_for(&[(&x, &[1.0])])).unwrap();
        assert_close(&vals(&x), &[0.85], 1e-8);
    }

    #[test]
    fn adam_backward_step_and_f32() {
        let x = Var::from_slice(&[3.0f32, -1.0], 2, &DEV).unwrap();
        let mut opt = Adam::new(
            vec![x.clone()],
            AdamConfig {
                lr: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.backward_step(&loss).unwrap();
        let got = x.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (got[0] - 2.5).abs() < 1e-6 && (got[1] + 0.5).abs() < 1e-6,
            "{got:?}"
        );
        assert_eq!(opt.state().len(), 3);
    }

    #[test]
    fn skips_vars_without_grad() {
        let (a, b) = (var(&[1.0]), var(&[2.0]));
        let mut opt = Adam::new(vec![a.clone(), b.clone()], AdamConfig::default()).unwrap();
        opt.step(&grads_for(&[(&a, &[1.0])])).unwrap();
        assert_eq!(vals(&b), vec![2.0]);
        let names: Vec<String> = opt.state().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["0.exp_avg", "0.exp_avg_sq", "0.step"]);
    }

    fn sgd_run(config: SgdConfig, steps: usize) -> f64 {
        let x = var(&[1.0]);
        let mut opt = Sgd::new(vec![x.clone()], config).unwrap();
        for _ in 0..steps {
            opt.step(&grads_for(&[(&x, &[1.0])])).unwrap();
        }
        vals(&x)[0]
    }

    #[test]
    fn sgd_by_hand() {
        let base = SgdConfig {
            lr: 0.1,
            ..Default::default()
        };
        // plain: 1 − 0.1, 1 − 0.2
        assert_close(&[sgd_run(base, 1), sgd_run(base, 2)], &[0.9, 0.8], 1e-15);
        // weight decay 0.1: d = 1 + 0.1·1 = 1.1 → 0.89
        let wd = SgdConfig {
            weight_decay: 0.1,
            ..base
        };
        assert_close(&[sgd_run(wd, 1)], &[0.89], 1e-15);
        // momentum 0.9: buf 1 → θ 0.9; buf 1.9 → θ 0.71
        let mom = SgdConfig {
            momentum: 0.9,
            ..base
        };
        assert_close(&[sgd_run(mom, 1), sgd_run(mom, 2)], &[0.9, 0.71], 1e-15);
        // dampening 0.5: buf 1 (no dampening on the first step) → 0.9; buf 0.9 + 0.5 → 0.76
        let damp = SgdConfig {
            dampening: 0.5,
            ..mom
        };
        assert_close(&[sgd_run(damp, 1), sgd_run(damp, 2)], &[0.9, 0.76], 1e-15);
        // nesterov: d = 1 + 0.9·1 = 1.9 → 0.81; buf 1.9, d = 1 + 0.9·1.9 = 2.71 → 0.539
        let nest = SgdConfig {
            nesterov: true,
            ..mom
        };
        assert_close(&[sgd_run(nest, 1), sgd_run(nest, 2)], &[0.81, 0.539], 1e-15);
        // nesterov needs momentum and no dampening
        assert!(Sgd::new(
            vec![],
            SgdConfig {
                nesterov: true,
                ..base
            }
        )
        .is_err());
        assert!(Sgd::new(
            vec![],
            SgdConfig {
                dampening: 0.1,
                ..nest
            }
        )
        .is_err());
    }

    #[test]
    fn rmsprop_centered_momentum_by_hand() {
        let c = RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
            momentum: 0.9,
            centered: true,
        };
        let x = var(&[1.0, -0.5]);
        let mut opt = RmsProp::new(vec![x.clone()], c).unwrap();
        let gs = [[1.0, 2.0], [-0.5, 0.25]];
        // reference, written out
        let mut th = [1.0f64, -0.5];
        let (mut sa, mut ga, mut buf) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        for g in &gs {
            opt.step(&grads_for(&[(&x, g)])).unwrap();
            for j in 0..2 {
                let gj = g[j] + c.weight_decay * th[j];
                sa[j] = c.alpha * sa[j] + (1.0 - c.alpha) * gj * gj;
                ga[j] += (1.0 - c.alpha) * (gj - ga[j]);
                let avg = (sa[j] - ga[j] * ga[j]).sqrt() + c.eps;
                buf[j] = c.momentum * buf[j] + gj / avg;
                th[j] -= c.lr * buf[j];
            }
            assert_close(&vals(&x), &th, 1e-12);
        }
        // first step by hand for entry 0: g = 1.1, sa = 0.01·1.21 = 0.0121,
        // ga = 0.011, avg = √(0.0121 − 0.000121) + eps, θ = 1 − 0.01·1.1/avg
        let avg0 = (0.0121f64 - 0.000121).sqrt() + 1e-8;
        let y = var(&[1.0]);
        let mut o2 = RmsProp::new(vec![y.clone()], c).unwrap();
        o2.step(&grads_for(&[(&y, &[1.0])])).unwrap();
        assert_close(&vals(&y), &[1.0 - 0.01 * 1.1 / avg0], 1e-12);
    }

    #[test]
    fn rmsprop_plain_by_hand() {
        // θ = 1, g = 1, α = 0.99: sa = 0.01, θ ← 1 − 0.01·1/(0.1 + 1e-8)
        let x = var(&[1.0]);
        let mut opt = RmsProp::new(vec![x.clone()], RmsPropConfig::default()).unwrap();
        opt.step(&grads_for(&[(&x, &[1.0])])).unwrap();
        assert_close(&vals(&x), &[1.0 - 0.01 / (0.1 + 1e-8)], 1e-14);
        let names: Vec<String> = opt.state().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["0.square_avg", "0.step"]);
    }

    fn round_trip<O: Optim>(make: impl Fn(Vec<Var>) -> O) {
        let theta = [0.3, -1.2, 2.0];
        let gs = [
            [0.1, -0.4, 0.9],
            [0.5, 0.2, -0.3],
            [-0.7, 0.05, 0.6],
            [0.2, 0.2, 0.2],
        ];
        let a = var(&theta);
        let b0 = var(&[0.5]); // never has a gradient
        let mut oa = make(vec![a.clone(), b0.clone()]);
        for g in &gs[..2] {
            oa.step(&grads_for(&[(&a, g)])).unwrap();
        }
        let saved: HashMap<String, Tensor> = oa.state().into_iter().collect();
        // fresh optimiser over a copy of the parameters
        let b = var(&vals(&a));
        let mut ob = make(vec![b.clone(), var(&[0.5])]);
        ob.load_state(&saved).unwrap();
        for g in &gs[2..] {
            oa.step(&grads_for(&[(&a, g)])).unwrap();
            ob.step(&grads_for(&[(&b, g)])).unwrap();
        }
        let (va, vb) = (vals(&a), vals(&b));
        assert_eq!(
            va.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            vb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // without the state the continuation differs (when there is state)
        if !saved.is_empty() {
            let c = var(&theta);
            let mut oc = make(vec![c.clone(), var(&[0.5])]);
            for g in &gs[..2] {
                oc.step(&grads_for(&[(&c, g)])).unwrap();
            }
            let mut od = make(vec![c.clone(), var(&[0.5])]);
            for g in &gs[2..] {
                od.step(&grads_for(&[(&c, g)])).unwrap();
            }
            assert_ne!(vals(&c), va);
        }
        // bad states are rejected and leave the state unchanged
        let before = ob.state().len();
        let mut bad = saved.clone();
        bad.insert("7.exp_avg".into(), Tensor::new(&[1.0f64], &DEV).unwrap());
        assert!(ob.load_state(&bad).is_err());
        if let Some(k) = saved.keys().find(|k| !k.ends_with("step")) {
            let mut bad = saved.clone();
            bad.insert(k.clone(), Tensor::new(&[1.0f64, 2.0], &DEV).unwrap());
            assert!(ob.load_state(&bad).is_err());
            let prefix = k.split('.').next().unwrap().to_string() + ".";
            if saved.keys().filter(|n| n.starts_with(&prefix)).count() > 1 {
                let mut bad = saved.clone();
                bad.remove(k);
                assert!(ob.load_state(&bad).is_err());
            }
        }
        if saved.contains_key("0.step") {
            let mut bad = saved.clone();
            bad.insert("0.step".into(), Tensor::new(1.5f64, &DEV).unwrap());
            assert!(ob.load_state(&bad).is_err());
        }
        assert_eq!(ob.state().len(), before);
    }

    #[test]
    fn state_round_trip_is_bit_identical() {
        let c = AdamConfig {
            lr: 0.05,
            weight_decay: 0.01,
            ..Default::default()
        };
        round_trip(|v| Adam::new(v, c).unwrap());
        round_trip(|v| AdamW::new(v, c).unwrap());
        round_trip(|v| {
            Sgd::new(
                v,
                SgdConfig {
                    lr: 0.1,
                    momentum: 0.9,
                    nesterov: true,
                    ..Default::default()
                },
            )
            .unwrap()
        });
        round_trip(|v| {
            Sgd::new(
                v,
                SgdConfig {
                    lr: 0.1,
                    ..Default::default()
                },
            )
            .unwrap()
        });
        round_trip(|v| {
            RmsProp::new(
                v,
                RmsPropConfig {
                    momentum: 0.5,
                    centered: true,
                    ..Default::default()
                },
            )
            .unwrap()
        });
    }

    #[test]
    fn invalid_configs_and_lr() {
        let x = var(&[1.0]);
        for c in [
            AdamConfig {
                lr: -1.0,
                ..Default::default()
            },
            AdamConfig {
                betas: (1.0, 0.999),
                ..Default::default()
            },
            AdamConfig {
                eps: f64::NAN,
                ..Default::default()
            },
        ] {
            assert!(Adam::new(vec![x.clone()], c).is_err());
        }
        assert!(Adam::new(vec![x.clone(), x.clone()], AdamConfig::default()).is_err());
        let xi = Var::from_slice(&[1u32], 1, &DEV).unwrap();
        assert!(Sgd::new(vec![xi], SgdConfig::default()).is_err());
        assert!(RmsProp::new(
            vec![],
            RmsPropConfig {
                alpha: 1.5,
                ..Default::default()
            }
        )
        .is_err());
        let mut opt = Sgd::new(vec![x.clone()], SgdConfig::default()).unwrap();
        opt.set_learning_rate(f64::NAN);
        assert!(opt.step(&grads_for(&[(&x, &[1.0])])).is_err());
        opt.set_learning_rate(0.5);
        assert_eq!(opt.learning_rate(), 0.5);
        opt.step(&grads_for(&[(&x, &[1.0])])).unwrap();
        assert_eq!(vals(&x), vec![0.5]);
        // mis-shaped gradient
        assert!(opt.step(&grads_for(&[(&x, &[1.0, 2.0])])).is_err());
        // config serde round trip with defaults filled in
        let c: AdamConfig = serde_json::from_str(r#"{"lr": 0.5}"#).unwrap();
        assert_eq!(
            c,
            AdamConfig {
                lr: 0.5,
                ..Default::default()
            }
        );
    }

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

    #[test]
    fn step_and_cosine_schedules() {
        let s = Schedule::Step {
            step_size: 3,
            gamma: 0.1,
        };
        let got: Vec<f64> = (0..8).map(|e| s.lr_at(1.0, e)).collect();
        assert_close(&got, &[1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01], 1e-15);
        let c = Schedule::Cosine {
            t_max: 4,
            eta_min: 0.1,
        };
        let got: Vec<f64> = (0..=4).map(|e| c.lr_at(1.1, e)).collect();
        let h = (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
        assert_close(&got, &[1.1, 0.1 + h, 0.6, 0.1 + (1.0 - h), 0.1], 1e-12);
        assert_eq!(Schedule::Constant.lr_at(0.3, 99), 0.3);
        assert!(s.validate().is_ok() && c.validate().is_ok());
        let bad = Schedule::Step {
            step_size: 0,
            gamma: 0.5,
        };
        assert!(bad.validate().is_err());
        assert_eq!(bad.lr_at(1.0, 2), 0.25);
        assert!(Schedule::Cosine {
            t_max: 0,
            eta_min: 0.0
        }
        .validate()
        .is_err());
        let js = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&js).unwrap(), c);
    }

    fn plateau_run(config: PlateauConfig, lr0: f64, metrics: &[f64]) -> Vec<f64> {
        let mut p = ReduceLrOnPlateau::new(config).unwrap();
        let mut lr = lr0;
        metrics
            .iter()
            .map(|&m| {
                lr = p.step(m, lr);
                lr
            })
            .collect()
    }

    #[test]
    fn plateau_sequences() {
        // patience 2: the 3rd bad epoch in a row reduces
        let c = PlateauConfig {
            factor: 0.5,
            patience: 2,
            ..Default::default()
        };
        let got = plateau_run(c, 1.0, &[10., 9., 9., 9., 9., 9., 9., 9., 8.]);
        assert_close(&got, &[1., 1., 1., 1., 0.5, 0.5, 0.5, 0.25, 0.25], 0.0);
        // relative threshold: 9.9995 is not better than 10·(1 − 1e-4) = 9.999
        let c1 = PlateauConfig { patience: 0, ..c };
        let got = plateau_run(c1, 1.0, &[10., 9.9995, 9.99, 9.99]);
        assert_close(&got, &[1., 0.5, 0.5, 0.25], 0.0);
        // cooldown 2, patience 0, min_lr 1e-3: a constant metric
        let c2 = PlateauConfig {
            factor: 0.1,
            patience: 0,
            cooldown: 2,
            min_lr: 1e-3,
            ..Default::default()
        };
        let got = plateau_run(c2, 1.0, &[5.0; 11]);
        let want = [1., 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 1e-3, 1e-3, 1e-3, 1e-3];
        assert_close(&got, &want, 1e-15);
        // max mode (accuracy), absolute threshold 0.01
        let c3 = PlateauConfig {
            mode: PlateauMode::Max,
            threshold_mode: ThresholdMode::Abs,
            threshold: 0.01,
            patience: 1,
            ..Default::default()
        };
        let got = plateau_run(c3, 1.0, &[0.5, 0.6, 0.605, 0.608, 0.7, 0.69, 0.7]);
        assert_close(&got, &[1., 1., 1., 0.1, 0.1, 0.1, 0.01], 1e-15);
        // invalid configs
        assert!(ReduceLrOnPlateau::new(PlateauConfig {
            factor: 1.0,
            ..Default::default()
        })
        .is_err());
        assert!(ReduceLrOnPlateau::new(PlateauConfig {
            min_lr: -1.0,
            ..Default::default()
        })
        .is_err());
        // serde round trip, including the initial "no best yet"
        let mut p = ReduceLrOnPlateau::new(c).unwrap();
        let js = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ReduceLrOnPlateau>(&js).unwrap(), p);
        p.step(3.0, 1.0);
        let js = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ReduceLrOnPlateau>(&js).unwrap(), p);
    }

    fn varmap(entries: &[(&str, &[f64])]) -> VarMap {
        let vm = VarMap::new();
        {
            let mut data = vm.data().lock().unwrap();
            for (n, v) in entries {
                data.insert(n.to_string(), var(v));
            }
        }
        vm
    }

    fn vm_vals(vm: &VarMap) -> Vec<(String, Vec<f64>)> {
        sorted_vars(vm)
            .into_iter()
            .map(|(n, v)| (n, vals(&v)))
            .collect()
    }

    #[test]
    fn soft_and_hard_update() {
        let target = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0])]);
        let source = varmap(&[("a", &[3.0, 4.0]), ("b", &[5.0])]);
        soft_update(&target, &source, 0.25).unwrap();
        let got = vm_vals(&target);
        assert_eq!(got[0].0, "a");
        assert_close(&got[0].1, &[1.5, 2.5], 1e-15);
        assert_close(&got[1].1, &[3.5], 1e-15);
        // source untouched
        assert_eq!(vm_vals(&source)[0].1, vec![3.0, 4.0]);
        // updating a map from itself does not deadlock and changes nothing
        soft_update(&target, &target, 0.5).unwrap();
        hard_update(&target, &target).unwrap();
        assert_close(&vm_vals(&target)[0].1, &[1.5, 2.5], 1e-15);
        hard_update(&target, &source).unwrap();
        assert_eq!(vm_vals(&target), vm_vals(&source));
        // the copy is independent of the source
        source
            .data()
            .lock()
            .unwrap()
            .get("b")
            .unwrap()
            .set(&Tensor::new(&[9.0f64], &DEV).unwrap())
            .unwrap();
        assert_eq!(vm_vals(&target)[1].1, vec![5.0]);
        assert!(soft_update(&target, &source, 1.5).is_err());
    }

    #[test]
    fn mismatched_varmaps_are_rejected() {
        let target = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0])]);
        let extra = varmap(&[("a", &[1.0, 2.0]), ("b", &[3.0]), ("c", &[0.0])]);
        let missing = varmap(&[("a", &[1.0, 2.0])]);
        let shape = varmap(&[("a", &[1.0, 2.0, 3.0]), ("b", &[3.0])]);
        let e = soft_update(&target, &extra, 0.5).unwrap_err().to_string();
        assert!(e.contains("only in source") && e.contains("\"c\""), "{e}");
        let e = hard_update(&target, &missing).unwrap_err().to_string();
        assert!(e.contains("only in target") && e.contains("\"b\""), "{e}");
        let e = hard_update(&target, &shape).unwrap_err().to_string();
        assert!(e.contains("a: target shape"), "{e}");
        // nothing was changed
        assert_eq!(vm_vals(&target)[0].1, vec![1.0, 2.0]);
    }
}
