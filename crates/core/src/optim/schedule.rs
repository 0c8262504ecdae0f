//! Learning-rate schedules: epoch-indexed closed forms ([`Schedule`]) and
//! `ReduceLROnPlateau` ([`ReduceLrOnPlateau`]), with PyTorch's semantics.

use serde::{Deserialize, Serialize};

use super::check_finite_nonneg;
use crate::{bail_invalid, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::*;

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
}
