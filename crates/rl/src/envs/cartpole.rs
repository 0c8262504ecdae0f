//! `CartPole-v0` / `CartPole-v1` (Barto, Sutton & Anderson 1983), Gymnasium 1.2.2.

use candor_core::{Result, SeededRng};

use crate::env::{check_state, reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASSPOLE + MASSCART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLEMASS_LENGTH: f64 = MASSPOLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// Cart-pole balancing: state `(x, ẋ, θ, θ̇)`, actions 0 (push left) / 1 (push right),
/// explicit Euler with τ = 0.02, reward +1 on every step *including* the terminating one,
/// terminated when |x| > 2.4 or |θ| > 12°. Reset: 4 × U(−0.05, 0.05).
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// A cart-pole that must be reset before stepping.
    pub fn new() -> Self {
        let high = vec![
            (X_THRESHOLD * 2.0) as f32,
            f32::MAX,
            (THETA_THRESHOLD * 2.0) as f32,
            f32::MAX,
        ];
        Self {
            state: [0.0; 4],
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high,
                shape: vec![4],
            },
            action_space: Space::Discrete(2),
        }
    }

    fn obs(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }
}

impl Env for CartPole {
    fn rng_state(&self) -> Option<candor_core::RngState> {
        Some(self.rng.state())
    }
    fn set_rng_state(&mut self, state: &candor_core::RngState) -> candor_core::Result<()> {
        self.rng = candor_core::SeededRng::from_state(state)?;
        Ok(())
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = reset_rng(seed);
        }
        for v in &mut self.state {
            *v = self.rng.uniform_range(-0.05, 0.05);
        }
        self.phase = Phase::Running;
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.action_space.check(action)?;
        self.phase.check_step("CartPole")?;
        let a = action.as_discrete()?;
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if a == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        // Explicit Euler, every update from the old values.
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
        let [x, _, theta, _] = self.state;
        // Written as in Gymnasium (a NaN state would not terminate there either).
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -THETA_THRESHOLD
            || theta > THETA_THRESHOLD;
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            obs: self.obs(),
            reward: 1.0,
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        check_state("CartPole", state, 4)?;
        self.state.copy_from_slice(state);
        self.phase = Phase::Running;
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }
}
