//! The [`Env`] trait, the [`TimeLimit`] wrapper and [`make`].

use candor_core::{Error, Result, SeededRng};

use crate::envs::{Acrobot, CartPole, MountainCar, MountainCarContinuous, Pendulum};
use crate::space::{Action, Space};

/// What one [`Env::step`] returns (Gymnasium's `(obs, reward, terminated, truncated)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The observation after the step (float32, as Gymnasium returns it).
    pub obs: Vec<f32>,
    /// The reward of the transition (Gymnasium computes it in float64).
    pub reward: f64,
    /// The MDP reached a terminal state: do not bootstrap from `obs`.
    pub terminated: bool,
    /// The episode was cut by a time limit: `obs` is not terminal, bootstrap through it.
    pub truncated: bool,
}

impl Step {
    /// `terminated || truncated`: the episode is over and the env needs a reset.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An environment with Gymnasium 1.x semantics.
///
/// * [`reset`](Env::reset) starts an episode. `Some(seed)` re-seeds the env's own
///   [`SeededRng`]; `None` continues its stream (an env that was never seeded starts
///   from seed 0, so runs are deterministic). The initial-state *distribution* is
///   Gymnasium's, but numpy's PCG64 stream is not reproduced: the same seed gives a
///   different initial state than in Python. To replay a Gymnasium episode exactly,
///   inject its state with [`set_state`](Env::set_state).
/// * [`step`](Env::step) returns an error, never panics, on a malformed action
///   (out-of-range index, wrong length, NaN/inf, wrong kind), before the first reset, and
///   after the episode ended (Gymnasium would warn and return undefined values).
/// * [`set_state`](Env::set_state) is `env.unwrapped.state = state` followed by reading
///   the observation; it starts a new episode at that state (a [`TimeLimit`] counts from
///   there).
pub trait Env {
    /// The observation space (always a float32 box for the built-in envs).
    fn observation_space(&self) -> &Space;
    /// The action space.
    fn action_space(&self) -> &Space;
    /// Start a new episode and return its first observation.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;
    /// Advance one step.
    fn step(&mut self, action: &Action) -> Result<Step>;
    /// Overwrite the internal (float64) state, as `env.unwrapped.state = …` in Python, and
    /// return the matching observation. Starts a new episode from that state.
    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>>;
    /// The internal float64 state (`env.unwrapped.state`).
    fn state(&self) -> Vec<f64>;
    /// The time limit, if this env (or a wrapper) has one.
    fn max_episode_steps(&self) -> Option<usize> {
        None
    }
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        (**self).reset(seed)
    }
    fn step(&mut self, action: &Action) -> Result<Step> {
        (**self).step(action)
    }
    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        (**self).set_state(state)
    }
    fn state(&self) -> Vec<f64> {
        (**self).state()
    }
    fn max_episode_steps(&self) -> Option<usize> {
        (**self).max_episode_steps()
    }
}

/// Gymnasium's `TimeLimit`: `truncated = true` on the step at which the number of steps
/// since the last [`reset`](Env::reset) / [`set_state`](Env::set_state) reaches
/// `max_episode_steps`.
///
/// As in Gymnasium 1.2.2, a step that terminates exactly at the limit reports both
/// `terminated` and `truncated`; learners must let `terminated` win (no bootstrap).
/// Stepping after a truncation is an error until the next reset.
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: usize,
    elapsed: usize,
    truncated: bool,
}

impl<E: Env> TimeLimit<E> {
    /// Wrap `env`; `max_episode_steps` must be positive.
    pub fn new(env: E, max_episode_steps: usize) -> Result<Self> {
        if max_episode_steps == 0 {
            return Err(Error::invalid(
                "TimeLimit: max_episode_steps must be positive",
            ));
        }
        Ok(Self {
            env,
            max_episode_steps,
            elapsed: 0,
            truncated: false,
        })
    }

    /// Steps taken since the last reset / set_state.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
    }

    /// The wrapped env (`env.unwrapped`).
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped env, mutably. Calling its `set_state` re-syncs the state *without*
    /// restarting the step count (useful to replay chaotic trajectories step by step).
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwrap.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.elapsed = 0;
        self.truncated = false;
        self.env.reset(seed)
    }
    fn step(&mut self, action: &Action) -> Result<Step> {
        if self.truncated {
            return Err(Error::invalid(format!(
                "step called after the episode was truncated at the time limit of {} steps; call reset first",
                self.max_episode_steps
            )));
        }
        let mut step = self.env.step(action)?;
        self.elapsed += 1;
        if self.elapsed >= self.max_episode_steps {
            step.truncated = true;
        }
        self.truncated = step.truncated;
        Ok(step)
    }
    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        let obs = self.env.set_state(state)?;
        self.elapsed = 0;
        self.truncated = false;
        Ok(obs)
    }
    fn state(&self) -> Vec<f64> {
        self.env.state()
    }
    fn max_episode_steps(&self) -> Option<usize> {
        Some(self.max_episode_steps)
    }
}

/// The ids [`make`] knows, with their time limits (Gymnasium 1.2.2 registry).
pub const ENV_IDS: [(&str, usize); 6] = [
    ("CartPole-v0", 200),
    ("CartPole-v1", 500),
    ("Acrobot-v1", 500),
    ("MountainCar-v0", 200),
    ("MountainCarContinuous-v0", 999),
    ("Pendulum-v1", 200),
];

/// `gymnasium.make(id)`: the environment wrapped in its registered [`TimeLimit`].
/// Reset it before the first step.
pub fn make(id: &str) -> Result<Box<dyn Env + Send>> {
    let limit = ENV_IDS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|&(_, limit)| limit)
        .ok_or_else(|| {
            let known: Vec<&str> = ENV_IDS.iter().map(|(k, _)| *k).collect();
            Error::invalid(format!(
                "unknown environment id '{id}'; known ids: {}",
                known.join(", ")
            ))
        })?;
    Ok(match id {
        "CartPole-v0" | "CartPole-v1" => Box::new(TimeLimit::new(CartPole::new(), limit)?),
        "Acrobot-v1" => Box::new(TimeLimit::new(Acrobot::new(), limit)?),
        "MountainCar-v0" => Box::new(TimeLimit::new(MountainCar::new(), limit)?),
        "MountainCarContinuous-v0" => {
            Box::new(TimeLimit::new(MountainCarContinuous::new(), limit)?)
        }
        _ => Box::new(TimeLimit::new(Pendulum::new(), limit)?),
    })
}

/// The RNG an env's `reset(Some(seed))` starts from (a named sub-stream of `seed`, so it
/// does not coincide with a network initialised from the same seed).
pub(crate) fn reset_rng(seed: u64) -> SeededRng {
    SeededRng::derive(seed, "candor-rl/env-reset")
}

/// Where an episode stands; shared by the built-in envs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    NeedsReset,
    Running,
    Terminated,
}

impl Phase {
    /// Error unless a step is allowed now.
    pub(crate) fn check_step(self, name: &str) -> Result<()> {
        match self {
            Phase::Running => Ok(()),
            Phase::NeedsReset => Err(Error::invalid(format!(
                "{name}: step called before reset (or set_state)"
            ))),
            Phase::Terminated => Err(Error::invalid(format!(
                "{name}: step called after the episode terminated; call reset (or set_state) first"
            ))),
        }
    }
}

/// Validate a state vector for `set_state`.
pub(crate) fn check_state(name: &str, state: &[f64], n: usize) -> Result<()> {
    if state.len() != n {
        return Err(Error::invalid(format!(
            "{name}: set_state expects {n} values, got {}",
            state.len()
        )));
    }
    if let Some(i) = state.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!(
            "{name}: set_state value {i} is {} (must be finite)",
            state[i]
        )));
    }
    Ok(())
}
