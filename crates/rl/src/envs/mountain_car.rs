//! `MountainCar-v0` (Moore 1990), Gymnasium 1.2.2.

use candor_core::{Result, SeededRng};

use crate::env::{check_state, reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// Under-powered car in a valley: state `(position, velocity)`, actions 0 (push left) /
/// 1 (none) / 2 (push right); `v += (a − 1)·0.001 − 0.0025·cos(3p)`, v clipped to ±0.07,
/// `p += v` clipped to [−1.2, 0.6], v zeroed against the left wall. Reward −1 per step;
/// terminated when p ≥ 0.5 and v ≥ 0. Reset: p ~ U(−0.6, −0.4), v = 0.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// A mountain car that must be reset before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
                shape: vec![2],
            },
            action_space: Space::Discrete(3),
        }
    }

    fn obs(&self) -> Vec<f32> {
        vec![self.state[0] as f32, self.state[1] as f32]
    }
}

impl Env for MountainCar {
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
        self.state = [self.rng.uniform_range(-0.6, -0.4), 0.0];
        self.phase = Phase::Running;
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.action_space.check(action)?;
        self.phase.check_step("MountainCar")?;
        let a = action.as_discrete()? as f64;
        let [mut position, mut velocity] = self.state;
        velocity += (a - 1.0) * FORCE + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        self.state = [position, velocity];
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            obs: self.obs(),
            reward: -1.0,
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        check_state("MountainCar", state, 2)?;
        self.state.copy_from_slice(state);
        self.phase = Phase::Running;
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }
}
