//! `MountainCarContinuous-v0`, Gymnasium 1.2.2.

use candor_core::{Result, SeededRng};

use crate::env::{check_state, reset_rng, Env, Phase, Step};
use crate::space::{Action, Space};

const MIN_ACTION: f32 = -1.0;
const MAX_ACTION: f32 = 1.0;
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;
const GOAL_VELOCITY: f64 = 0.0;
const POWER: f64 = 0.0015;

/// A numpy scalar under NumPy 2 (NEP 50) promotion: a float32, a float64, or a Python
/// float (a "weak" float64 that takes the other operand's type).
#[derive(Debug, Clone, Copy)]
enum Num {
    F32(f32),
    F64(f64),
    Py(f64),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::F32(v) => f64::from(v),
            Num::F64(v) | Num::Py(v) => v,
        }
    }

    /// Apply a binary operation with NumPy 2 promotion.
    fn op(self, other: Num, f: impl Fn(f64, f64) -> f64) -> Num {
        match (self, other) {
            (Num::F64(_), _) | (_, Num::F64(_)) => Num::F64(f(self.value(), other.value())),
            (Num::Py(a), Num::Py(b)) => Num::Py(f(a, b)),
            // float32 with float32 or a weak float: the Python float is rounded to float32
            // and the float32 loop runs (exactly-rounded +, −, × agree with f64-then-round).
            _ => Num::F32(f(
                f64::from(self.value() as f32),
                f64::from(other.value() as f32),
            ) as f32),
        }
    }

    fn add(self, o: Num) -> Num {
        self.op(o, |a, b| a + b)
    }
    fn sub(self, o: Num) -> Num {
        self.op(o, |a, b| a - b)
    }
    fn mul(self, o: Num) -> Num {
        self.op(o, |a, b| a * b)
    }

    /// Compare with a Python float constant: float32 scalars compare in float32.
    fn cmp_py(self, c: f64) -> Option<std::cmp::Ordering> {
        match self {
            Num::F32(v) => v.partial_cmp(&(c as f32)),
            Num::F64(v) | Num::Py(v) => v.partial_cmp(&c),
        }
    }
    fn gt(self, c: f64) -> bool {
        self.cmp_py(c) == Some(std::cmp::Ordering::Greater)
    }
    fn lt(self, c: f64) -> bool {
        self.cmp_py(c) == Some(std::cmp::Ordering::Less)
    }
    fn ge(self, c: f64) -> bool {
        matches!(
            self.cmp_py(c),
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        )
    }
    fn eq_py(self, c: f64) -> bool {
        self.cmp_py(c) == Some(std::cmp::Ordering::Equal)
    }
}

/// Mountain car with a continuous force: state `(position, velocity)`, action
/// `[a]` with force `clip(a, −1, 1)`; `v += 0.0015·force − 0.0025·cos(3p)` and the same
/// clips as MountainCar. Reward `+100` on reaching the goal (p ≥ 0.45, v ≥ 0) minus
/// `0.1·a²` with the **unclipped** `a`. After every step the state is stored as float32,
/// and from then on Gymnasium's arithmetic runs partly in float32 (NumPy 2 promotion);
/// this is reproduced. Reset: p ~ U(−0.6, −0.4), v = 0, stored as float64.
#[derive(Debug, Clone)]
pub struct MountainCarContinuous {
    state: [f64; 2],
    /// `true` once a step has stored the state as a float32 array.
    state_is_f32: bool,
    phase: Phase,
    rng: SeededRng,
    observation_space: Space,
    action_space: Space,
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCarContinuous {
    /// A mountain car that must be reset before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            state_is_f32: false,
            phase: Phase::NeedsReset,
            rng: reset_rng(0),
            observation_space: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
                shape: vec![2],
            },
            action_space: Space::uniform_box(MIN_ACTION, MAX_ACTION, &[1]),
        }
    }

    fn obs(&self) -> Vec<f32> {
        vec![self.state[0] as f32, self.state[1] as f32]
    }
}

impl Env for MountainCarContinuous {
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
        self.state_is_f32 = false;
        self.phase = Phase::Running;
        self.obs()
    }

    fn step(&mut self, action: &Action) -> Result<Step> {
        self.action_space.check(action)?;
        self.phase.check_step("MountainCarContinuous")?;
        let a = action.as_continuous()?[0];
        let (mut position, mut velocity) = if self.state_is_f32 {
            (
                Num::F32(self.state[0] as f32),
                Num::F32(self.state[1] as f32),
            )
        } else {
            (Num::F64(self.state[0]), Num::F64(self.state[1]))
        };
        // `min(max(action[0], min_action), max_action)`: a clipped value is a Python float.
        let force = if a < MIN_ACTION {
            Num::Py(f64::from(MIN_ACTION))
        } else if a > MAX_ACTION {
            Num::Py(f64::from(MAX_ACTION))
        } else {
            Num::F32(a)
        };
        // `velocity += force * power - 0.0025 * math.cos(3 * position)`
        let cos_term = Num::Py(0.0025 * Num::Py(3.0).mul(position).value().cos());
        velocity = velocity.add(force.mul(Num::Py(POWER)).sub(cos_term));
        if velocity.gt(MAX_SPEED) {
            velocity = Num::Py(MAX_SPEED);
        }
        if velocity.lt(-MAX_SPEED) {
            velocity = Num::Py(-MAX_SPEED);
        }
        position = position.add(velocity);
        if position.gt(MAX_POSITION) {
            position = Num::Py(MAX_POSITION);
        }
        if position.lt(MIN_POSITION) {
            position = Num::Py(MIN_POSITION);
        }
        if position.eq_py(MIN_POSITION) && velocity.lt(0.0) {
            velocity = Num::Py(0.0);
        }
        let terminated = position.ge(GOAL_POSITION) && velocity.ge(GOAL_VELOCITY);
        let a64 = f64::from(a);
        let reward = if terminated { 100.0 } else { 0.0 } - a64 * a64 * 0.1;
        self.state = [
            f64::from(position.value() as f32),
            f64::from(velocity.value() as f32),
        ];
        self.state_is_f32 = true;
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            obs: self.obs(),
            reward,
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        check_state("MountainCarContinuous", state, 2)?;
        self.state.copy_from_slice(state);
        self.state_is_f32 = false;
        self.phase = Phase::Running;
        Ok(self.obs())
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }
}
