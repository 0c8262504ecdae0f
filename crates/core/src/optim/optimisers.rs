//! The optimisers: Adam and AdamW (one core, coupled or decoupled weight decay),
//! SGD with momentum and Nesterov, and RMSprop (plain, centred, with momentum), each
//! with PyTorch's update rule, defaults and state names (see [the module](super)).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::{
    check_finite_nonneg, check_unit, fused, grad_of, load_states, state_entries, validate_vars,
    Optim, ParamState,
};
use crate::{bail_invalid, Result};

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
    /// Adam over `vars` (pass [`sorted_vars`](crate::init::sorted_vars) values for a deterministic order).
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
    /// AdamW over `vars` (pass [`sorted_vars`](crate::init::sorted_vars) values for a deterministic order).
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
    /// SGD over `vars` (pass [`sorted_vars`](crate::init::sorted_vars) values for a deterministic order).
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
    /// RMSprop over `vars` (pass [`sorted_vars`](crate::init::sorted_vars) values for a deterministic order).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

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
}
