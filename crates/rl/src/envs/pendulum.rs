//! `Pendulum-v1`, Gymnasium 1.2.2.

use std::f64::consts::PI;

use candor_core::{Result, SeededRng};

use crate::env::{check_state, reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// `((x + π) mod 2π) − π` with Python's floored modulo (`rem_euclid`, not Rust's `%`).
pub(crate) fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

/// Inverted-pendulum swing-up: state `(θ, θ̇)` (θ never wrapped), action `[u]` clipped
/// to ±2. Reward `−(angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²)` from the **pre-step**
/// state; then `θ̇ ← clip(θ̇ + (15 sin θ + 3u)·0.05, ±8)`, `θ ← θ + θ̇·0.05`. Observation
/// `(cos θ, sin θ, θ̇)`. Never terminates. Reset: θ ~ U(−π, π), θ̇ ~ U(−1, 1).
/// As in Gymnasium, the `u` terms are computed in float32 (the action's dtype).
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: [f64; 2],
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// A pendulum that must be reset before stepping.
    pub fn new() -> Self {
        let high = vec![1.0, 1.0, MAX_SPEED as f32];
        Self {
            state: [0.0; 2],
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high,
                shape: vec![3],
            },
            action_space: Space::uniform_box(-MAX_TORQUE, MAX_TORQUE, &[1]),
        }
    }

    fn obs(&self) -> Vec<f32> {
        let [th, thdot] = self.state;
        vec![th.cos() as f32, th.sin() as f32, thdot as f32]
    }
}

impl Env for Pendulum {
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
        self.state = [
            self.rng.uniform_range(-PI, PI),
            self.rng.uniform_range(-1.0, 1.0),
        ];
        self.phase = Phase::Running;
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.action_space.check(action)?;
        self.phase.check_step("Pendulum")?;
        let u = action.as_continuous()?[0].clamp(-MAX_TORQUE, MAX_TORQUE);
        let [th, thdot] = self.state;
        let an = angle_normalize(th);
        // `0.001 * (u**2)` is a float32 product in NumPy 2.
        let costs = an * an + 0.1 * (thdot * thdot) + f64::from(0.001f32 * (u * u));
        // `3 * g / (2 * l) * sin(th) + 3.0 / (m * l**2) * u`, the second term in float32.
        let u_term = f64::from((3.0 / (M * L * L)) as f32 * u);
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + u_term) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        Ok(Step {
            obs: self.obs(),
            reward: -costs,
            terminated: false,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        check_state("Pendulum", state, 2)?;
        self.state.copy_from_slice(state);
        self.phase = Phase::Running;
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::angle_normalize;
    use std::f64::consts::PI;

    #[test]
    fn angle_normalize_is_floored() {
        // Python: ((-4 + pi) % (2 pi)) - pi == 2 pi - 4
        assert!((angle_normalize(-4.0) - (2.0 * PI - 4.0)).abs() < 1e-12);
        assert!((angle_normalize(4.0) - (4.0 - 2.0 * PI)).abs() < 1e-12);
        assert!((angle_normalize(0.5) - 0.5).abs() < 1e-15);
        assert!((angle_normalize(-7.0 * PI + 0.25) - (-PI + 0.25)).abs() < 1e-12);
    }
}
