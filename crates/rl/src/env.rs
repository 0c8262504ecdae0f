//! The [`Env`] trait, the [`TimeLimit`] wrapper and [`make`].

use std::sync::Arc;

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
    /// Where the env's reset generator is in its stream (for training checkpoints; with
    /// [`state`](Env::state) right after a reset it is all an env needs to continue as
    /// if never stopped). `None` for an env that cannot say.
    fn rng_state(&self) -> Option<candor_core::RngState> {
        None
    }
    /// Restore what [`rng_state`](Env::rng_state) returned.
    fn set_rng_state(&mut self, _state: &candor_core::RngState) -> Result<()> {
        Err(Error::invalid(
            "this environment cannot restore its random stream (no rng_state support)",
        ))
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
    fn rng_state(&self) -> Option<candor_core::RngState> {
        (**self).rng_state()
    }
    fn set_rng_state(&mut self, state: &candor_core::RngState) -> Result<()> {
        (**self).set_rng_state(state)
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
    fn rng_state(&self) -> Option<candor_core::RngState> {
        self.env.rng_state()
    }
    fn set_rng_state(&mut self, state: &candor_core::RngState) -> Result<()> {
        self.env.set_rng_state(state)
    }
}

/// The classic-control ids with their time limits (Gymnasium 1.2.2 registry).
pub const ENV_IDS: [(&str, usize); 6] = [
    ("CartPole-v0", 200),
    ("CartPole-v1", 500),
    ("Acrobot-v1", 500),
    ("MountainCar-v0", 200),
    ("MountainCarContinuous-v0", 999),
    ("Pendulum-v1", 200),
];

/// The MuJoCo locomotion ids (feature `mujoco`), each with Gymnasium's 1000-step limit.
pub const MUJOCO_ENV_IDS: [(&str, usize); 5] = [
    ("HalfCheetah-v4", 1000),
    ("Hopper-v4", 1000),
    ("Walker2d-v4", 1000),
    ("Ant-v4", 1000),
    ("Swimmer-v4", 1000),
];

/// A boxed environment that can move to another thread (what [`Registry::make`] returns).
pub type BoxedEnv = Box<dyn Env + Send>;

/// Builds a fresh, unwrapped environment instance.
pub type EnvFactory = Arc<dyn Fn() -> Result<BoxedEnv> + Send + Sync>;

/// One registered environment: its factory and its time limit.
#[derive(Clone)]
pub struct EnvSpec {
    /// The id [`Registry::make`] knows it by.
    pub id: String,
    /// The [`TimeLimit`] that `make` wraps it in (`None`: no wrapper).
    pub max_episode_steps: Option<usize>,
    factory: EnvFactory,
}

impl std::fmt::Debug for EnvSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSpec")
            .field("id", &self.id)
            .field("max_episode_steps", &self.max_episode_steps)
            .finish_non_exhaustive()
    }
}

/// An open environment registry, Gymnasium's `register` / `make` as a value: the
/// built-in ids ([`Registry::default`]) plus whatever a user registers. It is a plain
/// value, not process-global state: pass it (or a clone; factories are shared) to the
/// code that builds envs, e.g. the off-policy trainer.
///
/// ```
/// use candor_rl::{envs::Pendulum, Env, Registry};
/// # fn main() -> candor_core::Result<()> {
/// let mut registry = Registry::default();
/// // A user's own env under a new name, with its own time limit.
/// registry.register("ShortPendulum-v0", Some(50), || Ok(Pendulum::new()))?;
/// let mut env = registry.make("ShortPendulum-v0")?;
/// env.reset(Some(0));
/// assert_eq!(env.max_episode_steps(), Some(50));
/// assert!(registry.make("NoSuchEnv-v0").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    specs: Vec<EnvSpec>,
}

impl Default for Registry {
    /// The built-in ids: [`ENV_IDS`], and [`MUJOCO_ENV_IDS`] with the `mujoco` feature.
    fn default() -> Self {
        let mut r = Registry::empty();
        for (id, limit) in ENV_IDS {
            let factory: fn() -> BoxedEnv = match id {
                "CartPole-v0" | "CartPole-v1" => || Box::new(CartPole::new()),
                "Acrobot-v1" => || Box::new(Acrobot::new()),
                "MountainCar-v0" => || Box::new(MountainCar::new()),
                "MountainCarContinuous-v0" => || Box::new(MountainCarContinuous::new()),
                _ => || Box::new(Pendulum::new()),
            };
            r.insert(id, Some(limit), Arc::new(move || Ok(factory())));
        }
        #[cfg(feature = "mujoco")]
        for (id, limit) in MUJOCO_ENV_IDS {
            let task = crate::envs::Locomotion::from_id(id).expect("every MuJoCo id has a task");
            r.insert(
                id,
                Some(limit),
                Arc::new(move || Ok(Box::new(crate::envs::MujocoEnv::new(task)?) as BoxedEnv)),
            );
        }
        r
    }
}

impl Registry {
    /// A registry with no ids.
    pub fn empty() -> Self {
        Self { specs: Vec::new() }
    }

    fn insert(&mut self, id: &str, max_episode_steps: Option<usize>, factory: EnvFactory) {
        self.specs.push(EnvSpec {
            id: id.to_string(),
            max_episode_steps,
            factory,
        });
    }

    /// Register `factory` under `id`; `make(id)` wraps what it builds in a [`TimeLimit`] of
    /// `max_episode_steps` (`None`: no limit). Errors if `id` is taken or the limit is 0.
    pub fn register<E, F>(
        &mut self,
        id: &str,
        max_episode_steps: Option<usize>,
        factory: F,
    ) -> Result<()>
    where
        E: Env + Send + 'static,
        F: Fn() -> Result<E> + Send + Sync + 'static,
    {
        if id.is_empty() {
            return Err(Error::invalid("Registry::register: empty id"));
        }
        if self.spec(id).is_some() {
            return Err(Error::invalid(format!(
                "Registry::register: '{id}' is already registered"
            )));
        }
        if max_episode_steps == Some(0) {
            return Err(Error::invalid(format!(
                "Registry::register: '{id}': max_episode_steps must be positive"
            )));
        }
        self.insert(
            id,
            max_episode_steps,
            Arc::new(move || Ok(Box::new(factory()?) as BoxedEnv)),
        );
        Ok(())
    }

    /// The spec registered under `id`.
    pub fn spec(&self, id: &str) -> Option<&EnvSpec> {
        self.specs.iter().find(|s| s.id == id)
    }

    /// Every registered id, in registration order.
    pub fn ids(&self) -> Vec<&str> {
        self.specs.iter().map(|s| s.id.as_str()).collect()
    }

    fn known(&self, id: &str) -> Result<&EnvSpec> {
        self.spec(id).ok_or_else(|| {
            Error::invalid(format!(
                "unknown environment id '{id}'; known ids: {}",
                self.ids().join(", ")
            ))
        })
    }

    /// A fresh instance without its time limit (`env.unwrapped`), e.g. for Monte-Carlo
    /// returns that continue past the episode cap.
    pub fn make_unwrapped(&self, id: &str) -> Result<BoxedEnv> {
        (self.known(id)?.factory)()
    }

    /// `gymnasium.make(id)`: a fresh instance wrapped in its registered [`TimeLimit`].
    /// Reset it before the first step.
    pub fn make(&self, id: &str) -> Result<BoxedEnv> {
        let spec = self.known(id)?;
        let env = (spec.factory)()?;
        Ok(match spec.max_episode_steps {
            Some(limit) => Box::new(TimeLimit::new(env, limit)?),
            None => env,
        })
    }
}

/// `gymnasium.make(id)` on the built-in ids ([`Registry::default`]): the environment
/// wrapped in its registered [`TimeLimit`]. Reset it before the first step.
pub fn make(id: &str) -> Result<BoxedEnv> {
    Registry::default().make(id)
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
