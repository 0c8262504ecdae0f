//! Exploration noise for deterministic policies, added in the unit action box
//! (see [`ActionScaler`](crate::ActionScaler)); every process owns its seeded stream.

use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

/// Which exploration noise, as configured (see [`Noise`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub enum NoiseConfig {
    /// No noise (ERL/RIM's RL episode; evaluation).
    #[default]
    None,
    /// Independent `N(0, sigma²)` per element and step (TD3: `sigma = 0.1`).
    Gaussian { sigma: f64 },
    /// Ornstein–Uhlenbeck process per element (DDPG, Lillicrap et al.; ERL):
    /// `x ← x + theta·(mu − x)·dt + sigma·√dt·N(0, 1)`, output `scale · x`, and `x ← mu`
    /// at every episode start. Lillicrap et al.: theta 0.15, sigma 0.2, dt 1 (sfujim's
    /// `DDPG.py` era code); ERL: the same with `scale` 0.3.
    OrnsteinUhlenbeck {
        theta: f64,
        sigma: f64,
        mu: f64,
        dt: f64,
        scale: f64,
    },
}

impl NoiseConfig {
    /// Lillicrap et al.'s OU noise: theta 0.15, sigma 0.2, mu 0, dt 1, scale 1.
    pub fn ou_default() -> Self {
        NoiseConfig::OrnsteinUhlenbeck {
            theta: 0.15,
            sigma: 0.2,
            mu: 0.0,
            dt: 1.0,
            scale: 1.0,
        }
    }

    /// A noise process of `dim` elements drawing from its own stream `seed`.
    pub fn build(&self, dim: usize, seed: u64) -> Result<Noise> {
        let check = |name: &str, v: f64, positive: bool| -> Result<()> {
            if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
                return Err(Error::invalid(format!(
                    "noise {name} = {v}: must be finite and {}",
                    if positive { "positive" } else { "non-negative" }
                )));
            }
            Ok(())
        };
        match *self {
            NoiseConfig::None => {}
            NoiseConfig::Gaussian { sigma } => check("sigma", sigma, false)?,
            NoiseConfig::OrnsteinUhlenbeck {
                theta,
                sigma,
                mu,
                dt,
                scale,
            } => {
                check("theta", theta, false)?;
                check("sigma", sigma, false)?;
                check("dt", dt, true)?;
                check("scale", scale, false)?;
                if !mu.is_finite() {
                    return Err(Error::invalid(format!("noise mu = {mu}: must be finite")));
                }
            }
        }
        let mu = match *self {
            NoiseConfig::OrnsteinUhlenbeck { mu, .. } => mu,
            _ => 0.0,
        };
        Ok(Noise {
            config: *self,
            state: vec![mu; dim],
            rng: SeededRng::derive(seed, "candor-rl/exploration-noise"),
        })
    }
}

/// A running noise process (see [`NoiseConfig`]).
#[derive(Debug, Clone)]
pub struct Noise {
    config: NoiseConfig,
    state: Vec<f64>,
    rng: SeededRng,
}

/// Where a [`Noise`] process is, for a training checkpoint: the process value (OU) and
/// the position of its random stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseState {
    /// The OU process value per element (`mu` for the other kinds).
    pub value: Vec<f64>,
    /// The random stream's position.
    pub rng: candor_core::RngState,
}

impl Noise {
    /// The process's state, to save in a checkpoint ([`restore`](Self::restore)).
    pub fn save_state(&self) -> NoiseState {
        NoiseState {
            value: self.state.clone(),
            rng: self.rng.state(),
        }
    }

    /// Continue from `state` (saved from a process of the same configuration and size):
    /// the next samples are those the saved process would have drawn. A state of another
    /// size is an error and changes nothing.
    pub fn restore(&mut self, state: &NoiseState) -> Result<()> {
        if state.value.len() != self.state.len() {
            return Err(Error::invalid(format!(
                "noise state has {} elements, the process {}",
                state.value.len(),
                self.state.len()
            )));
        }
        self.rng = SeededRng::from_state(&state.rng)?;
        self.state.clone_from(&state.value);
        Ok(())
    }

    /// Start of an episode: the OU state returns to `mu` (no-op otherwise).
    pub fn reset(&mut self) {
        if let NoiseConfig::OrnsteinUhlenbeck { mu, .. } = self.config {
            self.state.fill(mu);
        }
    }

    /// The next noise vector.
    pub fn sample(&mut self) -> Vec<f32> {
        match self.config {
            NoiseConfig::None => vec![0.0; self.state.len()],
            NoiseConfig::Gaussian { sigma } => (0..self.state.len())
                .map(|_| (sigma * self.rng.normal()) as f32)
                .collect(),
            NoiseConfig::OrnsteinUhlenbeck {
                theta,
                sigma,
                mu,
                dt,
                scale,
            } => {
                let rng = &mut self.rng;
                self.state
                    .iter_mut()
                    .map(|x| {
                        *x += theta * (mu - *x) * dt + sigma * dt.sqrt() * rng.normal();
                        (scale * *x) as f32
                    })
                    .collect()
            }
        }
    }

    /// `action + noise`, element by element.
    pub fn perturb(&mut self, action: &mut [f32]) {
        for (a, n) in action.iter_mut().zip(self.sample()) {
            *a += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_has_its_sigma_and_is_seeded() {
        let cfg = NoiseConfig::Gaussian { sigma: 0.1 };
        let mut a = cfg.build(3, 7).unwrap();
        let mut b = cfg.build(3, 7).unwrap();
        let xs: Vec<f32> = (0..20_000).flat_map(|_| a.sample()).collect();
        assert_eq!(xs[..3], b.sample()[..]);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let sd = (xs
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        assert!(
            mean.abs() < 0.003 && (sd - 0.1).abs() < 0.003,
            "{mean} {sd}"
        );
    }

    /// OU with dt = 1: x₁ = θ(μ − 0) + σε₁, and the stationary sd is σ/√(θ(2 − θ)).
    #[test]
    fn ou_follows_its_recursion_and_resets() {
        let cfg = NoiseConfig::OrnsteinUhlenbeck {
            theta: 0.15,
            sigma: 0.2,
            mu: 0.0,
            dt: 1.0,
            scale: 0.3,
        };
        let mut noise = cfg.build(1, 3).unwrap();
        let mut eps = SeededRng::derive(3, "candor-rl/exploration-noise");
        let e1 = eps.normal();
        let e2 = eps.normal();
        let x1 = 0.2 * e1;
        let x2 = x1 + 0.15 * (0.0 - x1) + 0.2 * e2;
        assert!((f64::from(noise.sample()[0]) - 0.3 * x1).abs() < 1e-6);
        assert!((f64::from(noise.sample()[0]) - 0.3 * x2).abs() < 1e-6);
        noise.reset();
        let e3 = eps.normal();
        assert!((f64::from(noise.sample()[0]) - 0.3 * 0.2 * e3).abs() < 1e-6);
        // Stationary spread.
        let xs: Vec<f64> = (0..200_000)
            .map(|_| f64::from(noise.sample()[0]) / 0.3)
            .collect();
        let var = xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64;
        let want = 0.2f64.powi(2) / (0.15 * (2.0 - 0.15));
        assert!((var / want - 1.0).abs() < 0.05, "{var} vs {want}");
    }

    #[test]
    fn a_restored_process_continues_its_samples() {
        let cfg = NoiseConfig::ou_default();
        let mut a = cfg.build(2, 5).unwrap();
        for _ in 0..7 {
            a.sample();
        }
        let saved = a.save_state();
        let mut b = cfg.build(2, 99).unwrap();
        b.restore(&saved).unwrap();
        for _ in 0..5 {
            assert_eq!(a.sample(), b.sample());
        }
        let mut wrong = cfg.build(3, 5).unwrap();
        assert!(wrong.restore(&saved).is_err());
    }

    #[test]
    fn none_is_zero_and_bad_configs_are_errors() {
        let mut n = NoiseConfig::None.build(2, 0).unwrap();
        assert_eq!(n.sample(), vec![0.0, 0.0]);
        let mut a = [0.5f32, -0.5];
        n.perturb(&mut a);
        assert_eq!(a, [0.5, -0.5]);
        assert!(NoiseConfig::Gaussian { sigma: -1.0 }.build(1, 0).is_err());
        assert!(NoiseConfig::Gaussian { sigma: f64::NAN }
            .build(1, 0)
            .is_err());
        let bad_dt = NoiseConfig::OrnsteinUhlenbeck {
            theta: 0.15,
            sigma: 0.2,
            mu: 0.0,
            dt: 0.0,
            scale: 1.0,
        };
        assert!(bad_dt.build(1, 0).is_err());
    }
}
