//! A generic off-policy training loop for continuous control (DDPG, TD3, RUD; the
//! building blocks of ERL / RIM's generation loop).
//!
//! The loop owns the environment, the replay buffer, warm-up, exploration noise,
//! action scaling, the update schedule and the TD3 evaluation protocol; an [`Agent`] owns
//! its networks and everything inside one update (its critic target, the order of actor
//! and critic steps, regularisation, target networks), so RIM's dual-policy target,
//! actor-before-critic order and coupled L2 need nothing from this module.
//!
//! One env step of [`OffPolicyTrainer::step`], in the order of TD3's `main.py`:
//! 1. action in the unit box `[-1, 1]^d`: uniform during the first `warmup_steps` steps,
//!    else `clip(agent.act_explore(s) + noise, −1, 1)`;
//! 2. the env steps with the action mapped to its box ([`ActionScaler`]);
//! 3. the transition `(s, a_unit, r, s', terminated)` is stored: **truncation is never
//!    terminal** (the target bootstraps through a time limit); optionally the simulator
//!    state at `s` is stored beside it (for Q-bias measurements by Monte-Carlo rollouts,
//!    [`discounted_return`]);
//! 4. the [`UpdateSchedule`] says how many `agent.update(batch)` calls are due now (none
//!    until more than `learning_starts` transitions are stored and a batch fits);
//! 5. every `eval_every` steps, the deterministic policy plays `eval_episodes` episodes
//!    on a separate env instance ([`EvalHistory`]).
//!
//! Per-generation updates (ERL / RIM) use the pieces directly:
//! [`OffPolicyTrainer::collect_episode`] for each rollout, then
//! [`OffPolicyTrainer::run_updates`] with [`UpdateSchedule::updates_after_generation`].
//!
//! **Checkpoints.** [`OffPolicyTrainer::snapshot`] captures everything the loop needs to
//! continue as if never stopped (env simulator state and reset-stream position, current
//! observation, counters, episode records, evaluation history, fresh-data counts, noise
//! process, warm-up and sampling streams, replay buffer and stored simulator states);
//! [`OffPolicyTrainer::restore`] puts it into a freshly built trainer. Snapshots are
//! taken only at **episode boundaries**, for the reasons [`crate::resume`] gives. The
//! agent's networks, optimiser and random streams are the agent's to save beside it
//! (candor-rl-ddpg's `Ddpg::save_training`).
//!
//! Fresh-data usage ([`FreshDataUsage`]) counts, per transition, the samples drawn from it
//! by updates of the cycle in which it was inserted, the quantity behind RUD's argument
//! (`rl-rud.md`): [`expected_fresh_samples_interleaved`] and
//! [`expected_fresh_samples_block`] give its expectation under the two schedules.

use candle_core::{Device, Tensor};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use crate::action::{clip_unit, ActionScaler};
use crate::buffer::{Batch, ReplayBuffer};
use crate::env::{BoxedEnv, Env, Registry};
use crate::eval::{evaluate_env, EvalHistory};
use crate::noise::{Noise, NoiseConfig, NoiseState};
use crate::resume::EnvCheckpoint;
use crate::space::Action;

/// Scalars an update reports (losses, Q means …), averaged by the caller if it likes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateInfo {
    /// `(name, value)` pairs.
    pub scalars: Vec<(&'static str, f64)>,
}

/// What the off-policy loop needs from a learner. Actions are in the unit box
/// `[-1, 1]^d` (the loop maps them to the env's box and stores them unscaled).
pub trait Agent {
    /// The deterministic policy `π(s)`, used for evaluation.
    fn act(&mut self, obs: &[f32]) -> Result<Vec<f32>>;

    /// The behaviour policy before the loop's exploration noise (which may be
    /// [`NoiseConfig::None`]); defaults to [`act`](Agent::act). Override it for an agent
    /// that explores by itself (a dual policy, noisy networks).
    fn act_explore(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        self.act(obs)
    }

    /// One update on a uniformly sampled batch: the whole of it (targets, critic and
    /// actor steps in the agent's order, regularisation, Polyak averaging) is the agent's.
    /// `batch.actions` are unit-box actions, `batch.dones` the `terminated` flags.
    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo>;

    /// Where batches are placed.
    fn device(&self) -> &Device;
}

impl<A: Agent + ?Sized> Agent for Box<A> {
    fn act(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        (**self).act(obs)
    }
    fn act_explore(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        (**self).act_explore(obs)
    }
    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        (**self).update(batch)
    }
    fn device(&self) -> &Device {
        (**self).device()
    }
}

/// When updates happen relative to env steps (RUD's contribution is `Regular`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum UpdateSchedule {
    /// One update after every env step (DDPG, TD3's current `main.py`).
    Interleaved,
    /// `updates` updates back to back after every `interval` env steps, counted from the
    /// start of training (RUD: `interval = updates = N`). `Regular { interval: 1,
    /// updates: 1 }` is `Interleaved`.
    Regular { interval: usize, updates: usize },
    /// After each episode (terminated or truncated), as many updates as it had steps (the
    /// TD3 paper's 2018 `main.py`).
    EpisodeEnd,
    /// ERL / RIM: nothing per step; after each generation
    /// `⌊frames · updates_per_frame⌋` updates ([`UpdateSchedule::updates_after_generation`]).
    PerGeneration { updates_per_frame: f64 },
}

impl UpdateSchedule {
    /// Error on a zero interval or a negative / non-finite rate.
    pub fn validate(&self) -> Result<()> {
        match *self {
            UpdateSchedule::Regular { interval: 0, .. } => Err(Error::invalid(
                "UpdateSchedule::Regular: interval must be positive",
            )),
            UpdateSchedule::PerGeneration { updates_per_frame }
                if !(updates_per_frame.is_finite() && updates_per_frame >= 0.0) =>
            {
                Err(Error::invalid(format!(
                    "UpdateSchedule::PerGeneration: updates_per_frame = {updates_per_frame} must be finite and non-negative"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Updates due right after env step number `step` (1-based, counting every stored
    /// step); `episode_len` is the length of the episode that ended at this step, if one did.
    pub fn updates_after_step(&self, step: usize, episode_len: Option<usize>) -> usize {
        match *self {
            UpdateSchedule::Interleaved => 1,
            UpdateSchedule::Regular { interval, updates } => {
                if interval > 0 && step.is_multiple_of(interval) {
                    updates
                } else {
                    0
                }
            }
            UpdateSchedule::EpisodeEnd => episode_len.unwrap_or(0),
            UpdateSchedule::PerGeneration { .. } => 0,
        }
    }

    /// Updates due after a generation that collected `frames` env steps: `⌊frames · rate⌋`
    /// for `PerGeneration` (RIM's `int(gen_frames * frac_frames_train)`), 0 otherwise.
    pub fn updates_after_generation(&self, frames: usize) -> usize {
        match *self {
            UpdateSchedule::PerGeneration { updates_per_frame } => {
                (frames as f64 * updates_per_frame).floor() as usize
            }
            _ => 0,
        }
    }
}

/// The off-policy loop's settings. [`Default`] is the TD3 paper's protocol (Fujimoto et
/// al. 2018: batch 100, N(0, 0.1) noise, 10k uniform warm-up steps, evaluation of 10
/// episodes every 5000 steps, 1M steps) with the `Interleaved` schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffPolicyConfig {
    /// A [`Registry`] id with a box action space.
    pub env_id: String,
    /// Env steps of training (stored transitions).
    pub total_steps: usize,
    /// Steps at the start played with uniform random actions.
    pub warmup_steps: usize,
    /// No update until more than this many transitions have been stored.
    pub learning_starts: usize,
    /// Transitions per update batch (uniform, with replacement).
    pub batch_size: usize,
    /// Replay capacity.
    pub buffer_capacity: usize,
    /// When updates happen.
    pub schedule: UpdateSchedule,
    /// Exploration noise added to `act_explore` after warm-up (unit-box units).
    pub noise: NoiseConfig,
    /// Evaluate every this many steps (and once before training); 0: never.
    pub eval_every: usize,
    /// Noise-free episodes per evaluation.
    pub eval_episodes: usize,
    /// Store the simulator state ([`Env::state`]) with every transition.
    pub store_states: bool,
    /// Count fresh-data usage with cycles of this many steps ([`FreshDataUsage`]).
    pub fresh_usage_cycle: Option<usize>,
}

impl Default for OffPolicyConfig {
    fn default() -> Self {
        Self {
            env_id: "HalfCheetah-v4".into(),
            total_steps: 1_000_000,
            warmup_steps: 10_000,
            learning_starts: 10_000,
            batch_size: 100,
            buffer_capacity: 1_000_000,
            schedule: UpdateSchedule::Interleaved,
            noise: NoiseConfig::Gaussian { sigma: 0.1 },
            eval_every: 5000,
            eval_episodes: 10,
            store_states: false,
            fresh_usage_cycle: None,
        }
    }
}

impl OffPolicyConfig {
    /// Error on settings the loop cannot run with.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        if self.batch_size == 0 || self.buffer_capacity == 0 {
            return Err(Error::invalid(
                "OffPolicyConfig: batch_size and buffer_capacity must be positive",
            ));
        }
        if self.batch_size > self.buffer_capacity {
            return Err(Error::invalid(format!(
                "OffPolicyConfig: batch_size {} exceeds buffer_capacity {}",
                self.batch_size, self.buffer_capacity
            )));
        }
        if self.eval_every > 0 && self.eval_episodes == 0 {
            return Err(Error::invalid(
                "OffPolicyConfig: eval_episodes must be positive when eval_every > 0",
            ));
        }
        if self.fresh_usage_cycle == Some(0) {
            return Err(Error::invalid(
                "OffPolicyConfig: fresh_usage_cycle must be positive",
            ));
        }
        Ok(())
    }
}

/// One finished episode of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Training steps done when it ended (0 for unstored episodes before any step).
    pub end_step: usize,
    /// Undiscounted return.
    pub ret: f64,
    /// Steps.
    pub len: usize,
    /// It ended by termination (not only by the time limit).
    pub terminated: bool,
}

/// What one [`OffPolicyTrainer::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEvent {
    /// Training steps done, this one included.
    pub step: usize,
    /// The action came from the uniform warm-up.
    pub warmup: bool,
    /// Updates run after this step.
    pub updates: usize,
    /// The episode that ended at this step.
    pub episode: Option<EpisodeRecord>,
    /// The average return of the evaluation run after this step.
    pub evaluation: Option<f64>,
}

/// Per-transition fresh-data usage: how many times each transition was sampled by the
/// updates of the cycle it was inserted in. Cycles are consecutive blocks of `cycle`
/// training steps (steps `1..=cycle`, `cycle+1..=2·cycle`, …), and an update run after
/// step `t` belongs to `t`'s cycle, so with `Regular { interval: N, updates: N }` and
/// `cycle = N` a cycle is one collect-then-update block, and under `Interleaved` the same
/// `cycle` gives the comparison of `rl-rud.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreshDataUsage {
    cycle: usize,
    counts: Vec<u32>,
}

impl FreshDataUsage {
    /// Counting with cycles of `cycle` steps (positive).
    pub fn new(cycle: usize) -> Result<Self> {
        if cycle == 0 {
            return Err(Error::invalid("FreshDataUsage: cycle must be positive"));
        }
        Ok(Self {
            cycle,
            counts: Vec::new(),
        })
    }

    /// The cycle length.
    pub fn cycle(&self) -> usize {
        self.cycle
    }

    /// A transition was stored as step `counts().len() + 1`.
    pub fn on_insert(&mut self) {
        self.counts.push(0);
    }

    /// An update run after step `now` sampled the transition stored at step `step`
    /// (both 1-based).
    pub fn on_sample(&mut self, step: usize, now: usize) {
        if step >= 1 && now >= step && (step - 1) / self.cycle == (now - 1) / self.cycle {
            if let Some(c) = self.counts.get_mut(step - 1) {
                *c += 1;
            }
        }
    }

    /// First-cycle sample counts, one per stored transition in step order.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Fresh samples per complete cycle (the sum of `counts` over its transitions).
    pub fn per_cycle(&self) -> Vec<u64> {
        self.counts
            .chunks_exact(self.cycle)
            .map(|c| c.iter().map(|&x| u64::from(x)).sum())
            .collect()
    }
}

/// Expected fresh samples in one cycle of `n` interleaved updates (batch `b`) that starts
/// with `t` stored transitions: update `i` sees `i` fresh items among `t + i`, so
/// `Σ_{i=1..n} b·i/(t+i)` (`rl-rud.md`).
pub fn expected_fresh_samples_interleaved(t: usize, n: usize, b: usize) -> f64 {
    (1..=n).map(|i| b as f64 * i as f64 / (t + i) as f64).sum()
}

/// Expected fresh samples in one block of `n` collected steps then `n` updates (batch
/// `b`) starting with `t` stored transitions: `n·b·n/(t+n)` (`rl-rud.md`).
pub fn expected_fresh_samples_block(t: usize, n: usize, b: usize) -> f64 {
    (n * b * n) as f64 / (t + n) as f64
}

/// The serialisable part of an [`OffPolicyTrainer`] snapshot (see the module docs); the
/// replay buffer, stored simulator states and current observation travel as tensors in
/// [`TrainerSnapshot::tensors`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    /// The settings the trainer ran with (a restore into other settings is an error).
    pub config: OffPolicyConfig,
    /// The seed of evaluation envs.
    pub eval_seed: u64,
    /// The training env right after the reset that began the current episode.
    pub env: EnvCheckpoint,
    /// Training steps done (stored transitions).
    pub steps: usize,
    /// Updates run.
    pub updates: usize,
    /// Finished training episodes.
    pub episodes: Vec<EpisodeRecord>,
    /// Evaluations so far.
    pub history: EvalHistory,
    /// Fresh-data usage counts.
    pub usage: Option<FreshDataUsage>,
    /// The exploration noise process.
    pub noise: NoiseState,
    /// The warm-up action stream.
    pub warmup_rng: candor_core::RngState,
    /// The batch-sampling stream.
    pub sample_rng: candor_core::RngState,
}

/// A whole [`OffPolicyTrainer`] snapshot: its state and its tensors (names under
/// `trainer/`), ready for [`candor_core::checkpoint::save_training_extra`].
#[derive(Debug, Clone)]
pub struct TrainerSnapshot {
    /// Counters, histories, random streams, env state.
    pub state: TrainerState,
    /// `trainer/obs` (the current observation), `trainer/buffer/…` (the replay buffer,
    /// [`ReplayBuffer::to_tensors`]) and, with `store_states`, `trainer/sim_states`
    /// (`(len, width)` f64, one row per written replay slot).
    pub tensors: Vec<(String, Tensor)>,
}

const OBS_KEY: &str = "trainer/obs";
const BUFFER_PREFIX: &str = "trainer/buffer/";
const SIM_STATES_KEY: &str = "trainer/sim_states";

/// Simulator states stored beside the replay slots (a ring of fixed-width rows).
#[derive(Debug, Clone)]
struct StateStore {
    width: usize,
    rows: Vec<f64>,
}

/// The off-policy loop (see the module docs). Build it, then [`run`](Self::run) an agent,
/// or drive it with [`step`](Self::step) / [`collect_episode`](Self::collect_episode) /
/// [`run_updates`](Self::run_updates) and read its buffer, stored states and history.
pub struct OffPolicyTrainer {
    cfg: OffPolicyConfig,
    registry: Registry,
    eval_seed: u64,
    env: BoxedEnv,
    obs: Vec<f32>,
    episode_return: f64,
    episode_len: usize,
    scaler: ActionScaler,
    buffer: ReplayBuffer,
    states: Option<StateStore>,
    noise: Noise,
    warmup_rng: SeededRng,
    sample_rng: SeededRng,
    steps: usize,
    updates: usize,
    episodes: Vec<EpisodeRecord>,
    history: EvalHistory,
    usage: Option<FreshDataUsage>,
    last_update: UpdateInfo,
}

impl std::fmt::Debug for OffPolicyTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffPolicyTrainer")
            .field("env_id", &self.cfg.env_id)
            .field("steps", &self.steps)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

impl OffPolicyTrainer {
    /// A loop on `registry.make(cfg.env_id)` with all randomness derived from `seed`: the
    /// training env is reset with `seed`, evaluation envs with `seed + 100` (as TD3's
    /// `eval_env.seed(seed + 100)`, the same starts at every evaluation), and warm-up
    /// actions, noise and batch sampling draw from named sub-streams of `seed`.
    pub fn new(cfg: &OffPolicyConfig, registry: &Registry, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut env = registry.make(&cfg.env_id)?;
        let scaler = ActionScaler::new(env.action_space()).map_err(|e| {
            let msg = match e {
                Error::InvalidInput(msg) => msg,
                other => other.to_string(),
            };
            Error::invalid(format!(
                "{}: {msg} (off-policy training needs continuous actions)",
                cfg.env_id
            ))
        })?;
        let buffer = ReplayBuffer::new(
            cfg.buffer_capacity,
            env.observation_space().flat_dim(),
            env.action_space(),
        )?;
        let obs = env.reset(Some(seed));
        let states = if cfg.store_states {
            let width = env.state().len();
            Some(StateStore {
                width,
                rows: vec![0.0; width * cfg.buffer_capacity],
            })
        } else {
            None
        };
        let noise = cfg.noise.build(scaler.dim(), seed)?;
        let usage = cfg.fresh_usage_cycle.map(FreshDataUsage::new).transpose()?;
        Ok(Self {
            cfg: cfg.clone(),
            registry: registry.clone(),
            eval_seed: seed.wrapping_add(100),
            env,
            obs,
            episode_return: 0.0,
            episode_len: 0,
            scaler,
            buffer,
            states,
            noise,
            warmup_rng: SeededRng::derive(seed, "candor-rl/warmup-actions"),
            sample_rng: SeededRng::derive(seed, "candor-rl/replay-sampling"),
            steps: 0,
            updates: 0,
            episodes: Vec::new(),
            history: EvalHistory::default(),
            usage,
            last_update: UpdateInfo::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OffPolicyConfig {
        &self.cfg
    }

    /// Training steps done (stored transitions).
    pub fn steps_done(&self) -> usize {
        self.steps
    }

    /// Updates run.
    pub fn updates_done(&self) -> usize {
        self.updates
    }

    /// `true` once `total_steps` steps are done.
    pub fn finished(&self) -> bool {
        self.steps >= self.cfg.total_steps
    }

    /// The replay buffer.
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    /// The simulator state stored with replay slot `slot` (with `store_states`, for a
    /// slot that was written).
    pub fn stored_state(&self, slot: usize) -> Option<&[f64]> {
        let s = self.states.as_ref()?;
        (slot < self.buffer.len()).then(|| &s.rows[slot * s.width..(slot + 1) * s.width])
    }

    /// The action scaler between the unit box and the env's box.
    pub fn scaler(&self) -> &ActionScaler {
        &self.scaler
    }

    /// Evaluations so far.
    pub fn history(&self) -> &EvalHistory {
        &self.history
    }

    /// Finished training episodes.
    pub fn episodes(&self) -> &[EpisodeRecord] {
        &self.episodes
    }

    /// Fresh-data usage counts (with `fresh_usage_cycle`).
    pub fn fresh_usage(&self) -> Option<&FreshDataUsage> {
        self.usage.as_ref()
    }

    /// What the last update reported.
    pub fn last_update(&self) -> &UpdateInfo {
        &self.last_update
    }

    /// The registry envs are made from (e.g. for Monte-Carlo rollouts).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `true` right after an episode ended and the env was reset (or before the first
    /// step): the only points where [`snapshot`](Self::snapshot) may be taken.
    pub fn at_episode_boundary(&self) -> bool {
        self.episode_len == 0
    }

    /// Everything needed to continue this loop bit for bit (see the module docs); the
    /// agent is saved separately. Only at an episode boundary
    /// ([`at_episode_boundary`](Self::at_episode_boundary)): an error otherwise, and for
    /// an env that cannot report its reset stream ([`Env::rng_state`]).
    pub fn snapshot(&self) -> Result<TrainerSnapshot> {
        if !self.at_episode_boundary() {
            return Err(Error::invalid(format!(
                "{}: a trainer snapshot is taken at an episode boundary, not {} steps into an \
                 episode",
                self.cfg.env_id, self.episode_len
            )));
        }
        let env = EnvCheckpoint::capture(self.env.as_ref())
            .map_err(|e| Error::invalid(format!("{}: {e}", self.cfg.env_id)))?;
        let cpu = &Device::Cpu;
        let mut tensors = vec![(
            OBS_KEY.to_string(),
            Tensor::from_slice(&self.obs, self.obs.len(), cpu)?,
        )];
        tensors.extend(self.buffer.to_tensors(BUFFER_PREFIX)?);
        if let Some(store) = &self.states {
            let n = self.buffer.len();
            tensors.push((
                SIM_STATES_KEY.to_string(),
                Tensor::from_slice(&store.rows[..n * store.width], (n, store.width), cpu)?,
            ));
        }
        Ok(TrainerSnapshot {
            state: TrainerState {
                config: self.cfg.clone(),
                eval_seed: self.eval_seed,
                env,
                steps: self.steps,
                updates: self.updates,
                episodes: self.episodes.clone(),
                history: self.history.clone(),
                usage: self.usage.clone(),
                noise: self.noise.save_state(),
                warmup_rng: self.warmup_rng.state(),
                sample_rng: self.sample_rng.state(),
            },
            tensors,
        })
    }

    /// Continue from a [`snapshot`](Self::snapshot) (its state, and its tensors by name,
    /// e.g. as [`candor_core::checkpoint::load_training_extra`] returns them) in a trainer
    /// built with the same settings and registry: afterwards it steps exactly as the
    /// snapshotted one would have. Errors (other settings, missing or mis-shaped tensors,
    /// a simulator state whose observation is not the saved one) leave the trainer
    /// unusable: build a new one. [`last_update`](Self::last_update) is empty until the
    /// next update.
    pub fn restore(
        &mut self,
        state: &TrainerState,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<()> {
        if state.config != self.cfg {
            return Err(Error::invalid(format!(
                "trainer checkpoint: it was taken with other settings ({:?}) than this \
                 trainer's ({:?})",
                state.config, self.cfg
            )));
        }
        let obs = tensors
            .get(OBS_KEY)
            .ok_or_else(|| Error::invalid(format!("trainer checkpoint: no tensor {OBS_KEY}")))?
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        self.buffer.restore_tensors(tensors, BUFFER_PREFIX)?;
        if let Some(store) = self.states.as_mut() {
            let t = tensors.get(SIM_STATES_KEY).ok_or_else(|| {
                Error::invalid(format!("trainer checkpoint: no tensor {SIM_STATES_KEY}"))
            })?;
            let n = self.buffer.len();
            if t.dims() != [n, store.width] {
                return Err(Error::invalid(format!(
                    "trainer checkpoint: {SIM_STATES_KEY} has shape {:?}, expected [{n}, {}]",
                    t.dims(),
                    store.width
                )));
            }
            let rows = t
                .to_dtype(candle_core::DType::F64)?
                .flatten_all()?
                .to_vec1::<f64>()?;
            store.rows[..rows.len()].copy_from_slice(&rows);
        }
        state
            .env
            .restore(self.env.as_mut(), &obs)
            .map_err(|e| Error::invalid(format!("trainer checkpoint, {}: {e}", self.cfg.env_id)))?;
        self.noise.restore(&state.noise)?;
        self.obs = obs;
        self.episode_return = 0.0;
        self.episode_len = 0;
        self.eval_seed = state.eval_seed;
        self.steps = state.steps;
        self.updates = state.updates;
        self.episodes.clone_from(&state.episodes);
        self.history = state.history.clone();
        self.usage.clone_from(&state.usage);
        self.warmup_rng = SeededRng::from_state(&state.warmup_rng)?;
        self.sample_rng = SeededRng::from_state(&state.sample_rng)?;
        self.last_update = UpdateInfo::default();
        Ok(())
    }

    /// Play `unit` (clipped to the unit box) in the training env, store the transition
    /// if `store`, and handle the episode's end. Returns the ended episode, if any.
    fn env_step(&mut self, mut unit: Vec<f32>, store: bool) -> Result<Option<EpisodeRecord>> {
        if unit.len() != self.scaler.dim() {
            return Err(Error::invalid(format!(
                "{}: the agent returned {} action elements, the env has {}",
                self.cfg.env_id,
                unit.len(),
                self.scaler.dim()
            )));
        }
        clip_unit(&mut unit);
        let env_action = self.scaler.to_env(&unit)?;
        let state = match (&self.states, store) {
            (Some(_), true) => Some(self.env.state()),
            _ => None,
        };
        let step = self.env.step(&Action::Continuous(env_action))?;
        if store {
            let slot = self.steps % self.cfg.buffer_capacity;
            self.buffer.push(
                &self.obs,
                &Action::Continuous(unit),
                step.reward,
                &step.obs,
                step.terminated,
            )?;
            if let (Some(store), Some(state)) = (self.states.as_mut(), state) {
                if state.len() != store.width {
                    return Err(Error::invalid(format!(
                        "{}: env state length changed from {} to {}",
                        self.cfg.env_id,
                        store.width,
                        state.len()
                    )));
                }
                store.rows[slot * store.width..(slot + 1) * store.width].copy_from_slice(&state);
            }
            if let Some(u) = self.usage.as_mut() {
                u.on_insert();
            }
            self.steps += 1;
        }
        self.episode_return += step.reward;
        self.episode_len += 1;
        if step.done() {
            let record = EpisodeRecord {
                end_step: self.steps,
                ret: self.episode_return,
                len: self.episode_len,
                terminated: step.terminated,
            };
            if store {
                self.episodes.push(record);
            }
            self.obs = self.env.reset(None);
            self.noise.reset();
            self.episode_return = 0.0;
            self.episode_len = 0;
            Ok(Some(record))
        } else {
            self.obs = step.obs;
            Ok(None)
        }
    }

    /// The exploration action for the current observation: uniform during warm-up, else
    /// `act_explore + noise`.
    fn explore_action<A: Agent + ?Sized>(&mut self, agent: &mut A) -> Result<(Vec<f32>, bool)> {
        if self.steps < self.cfg.warmup_steps {
            let dim = self.scaler.dim();
            let a = (0..dim)
                .map(|_| self.warmup_rng.uniform_range(-1.0, 1.0) as f32)
                .collect();
            return Ok((a, true));
        }
        let mut a = agent.act_explore(&self.obs)?;
        self.noise.perturb(&mut a);
        Ok((a, false))
    }

    /// One training step (see the module docs): act, store, run the scheduled updates,
    /// evaluate if due.
    pub fn step<A: Agent + ?Sized>(&mut self, agent: &mut A) -> Result<StepEvent> {
        let (action, warmup) = self.explore_action(agent)?;
        let episode = self.env_step(action, true)?;
        let due = self
            .cfg
            .schedule
            .updates_after_step(self.steps, episode.map(|e| e.len));
        let updates = if self.steps > self.cfg.learning_starts {
            self.run_updates(agent, due)?
        } else {
            0
        };
        let evaluation =
            if self.cfg.eval_every > 0 && self.steps.is_multiple_of(self.cfg.eval_every) {
                Some(self.evaluate(agent)?)
            } else {
                None
            };
        Ok(StepEvent {
            step: self.steps,
            warmup,
            updates,
            episode,
            evaluation,
        })
    }

    /// Play one whole episode from a fresh reset with `actor` (unit-box actions; uniform
    /// random instead while fewer than `warmup_steps` steps are stored, as ERL / RIM's
    /// first frames), adding the loop's noise if `explore`, storing the transitions (and
    /// counting them as training steps) if `store`. An episode in progress is abandoned
    /// first. No updates run: follow with [`run_updates`](Self::run_updates).
    pub fn collect_episode(
        &mut self,
        actor: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
        explore: bool,
        store: bool,
    ) -> Result<EpisodeRecord> {
        if self.episode_len > 0 {
            self.obs = self.env.reset(None);
            self.noise.reset();
            self.episode_return = 0.0;
            self.episode_len = 0;
        }
        loop {
            let action = if store && self.steps < self.cfg.warmup_steps {
                let dim = self.scaler.dim();
                (0..dim)
                    .map(|_| self.warmup_rng.uniform_range(-1.0, 1.0) as f32)
                    .collect()
            } else {
                let mut a = actor(&self.obs)?;
                if explore {
                    self.noise.perturb(&mut a);
                }
                a
            };
            if let Some(record) = self.env_step(action, store)? {
                return Ok(record);
            }
        }
    }

    /// Run `n` updates of `agent` on batches sampled from the buffer (none while it holds
    /// fewer than `batch_size` transitions); returns how many ran.
    pub fn run_updates<A: Agent + ?Sized>(&mut self, agent: &mut A, n: usize) -> Result<usize> {
        if self.buffer.len() < self.cfg.batch_size {
            return Ok(0);
        }
        for _ in 0..n {
            let indices = self
                .buffer
                .sample_indices(self.cfg.batch_size, &mut self.sample_rng)?;
            let now = self.steps;
            let cap = self.cfg.buffer_capacity;
            if let Some(usage) = self.usage.as_mut() {
                for &slot in &indices {
                    usage.on_sample(step_of_slot(slot, now, cap), now);
                }
            }
            let batch = to_batch(&self.buffer, indices, agent.device())?;
            self.last_update = agent.update(&batch)?;
            self.updates += 1;
        }
        Ok(n)
    }

    /// The TD3 evaluation: `eval_episodes` noise-free episodes of `agent.act` on a fresh
    /// env instance reset with `seed + 100`; records and returns their average return.
    pub fn evaluate<A: Agent + ?Sized>(&mut self, agent: &mut A) -> Result<f64> {
        let mut env = self.registry.make(&self.cfg.env_id)?;
        let scaler = self.scaler.clone();
        let mut policy = |obs: &[f32]| -> Result<Action> {
            let mut a = agent.act(obs)?;
            clip_unit(&mut a);
            Ok(Action::Continuous(scaler.to_env(&a)?))
        };
        let returns = evaluate_env(
            env.as_mut(),
            &mut policy,
            self.cfg.eval_episodes,
            self.eval_seed,
        )?;
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        self.history.push(self.steps, returns);
        Ok(mean)
    }

    /// Train to `total_steps`, evaluating before the first step (if `eval_every > 0`) and
    /// every `eval_every` steps.
    pub fn run<A: Agent + ?Sized>(&mut self, agent: &mut A) -> Result<()> {
        self.run_with(agent, |_, _, _| Ok(()))
    }

    /// [`run`](Self::run), calling `hook` after every step (instrumentation: Q-bias
    /// measurements from stored states, logging, early stop by returning an error).
    pub fn run_with<A: Agent + ?Sized>(
        &mut self,
        agent: &mut A,
        mut hook: impl FnMut(&mut Self, &mut A, &StepEvent) -> Result<()>,
    ) -> Result<()> {
        if self.steps == 0 && self.cfg.eval_every > 0 && self.history.is_empty() {
            self.evaluate(agent)?;
        }
        while !self.finished() {
            let event = self.step(agent)?;
            hook(self, agent, &event)?;
        }
        Ok(())
    }
}

/// The training step (1-based) that last wrote replay slot `slot` when `now` steps are
/// done, given one push per stored step.
fn step_of_slot(slot: usize, now: usize, capacity: usize) -> usize {
    now - (now - 1 - slot) % capacity
}

/// The batch at `indices` as tensors on `device`.
fn to_batch(buffer: &ReplayBuffer, indices: Vec<usize>, device: &Device) -> Result<Batch> {
    let n = indices.len();
    let (od, ad) = (buffer.obs_dim(), buffer.action_dim());
    let a = buffer.gather(indices);
    Ok(Batch {
        obs: Tensor::from_vec(a.obs, (n, od), device)?,
        actions: Tensor::from_vec(a.actions, (n, ad), device)?,
        rewards: Tensor::from_vec(a.rewards, n, device)?,
        next_obs: Tensor::from_vec(a.next_obs, (n, od), device)?,
        dones: Tensor::from_vec(a.dones, n, device)?,
    })
}

/// The Monte-Carlo discounted return `Σ_h γ^h r_h` of `policy` from simulator `state`:
/// `set_state`, then step until the env terminates or `γ^h < tail` (RUD's Q-bias
/// measurement uses `tail = 1e-3`, continuing past the 1000-step cap). Pass an env without
/// a time limit ([`Registry::make_unwrapped`]); a truncation also ends the sum.
pub fn discounted_return(
    env: &mut dyn Env,
    state: &[f64],
    policy: &mut dyn FnMut(&[f32]) -> Result<Action>,
    gamma: f64,
    tail: f64,
) -> Result<f64> {
    if !((0.0..1.0).contains(&gamma) && tail > 0.0 && tail < 1.0) {
        return Err(Error::invalid(format!(
            "discounted_return: need 0 ≤ gamma < 1 and 0 < tail < 1, got {gamma}, {tail}"
        )));
    }
    let mut obs = env.set_state(state)?;
    let (mut total, mut discount) = (0.0, 1.0);
    loop {
        let step = env.step(&policy(&obs)?)?;
        total += discount * step.reward;
        discount *= gamma;
        if step.done() || discount < tail {
            return Ok(total);
        }
        obs = step.obs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_say_when_updates_are_due() {
        let steps = |s: UpdateSchedule, ends: &[usize]| -> Vec<usize> {
            (1..=12)
                .map(|t| s.updates_after_step(t, ends.contains(&t).then_some(4)))
                .collect()
        };
        assert_eq!(steps(UpdateSchedule::Interleaved, &[]), vec![1; 12]);
        assert_eq!(
            steps(
                UpdateSchedule::Regular {
                    interval: 5,
                    updates: 3
                },
                &[]
            ),
            vec![0, 0, 0, 0, 3, 0, 0, 0, 0, 3, 0, 0]
        );
        assert_eq!(
            steps(UpdateSchedule::EpisodeEnd, &[4, 8]),
            vec![0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0]
        );
        let gen = UpdateSchedule::PerGeneration {
            updates_per_frame: 0.5,
        };
        assert_eq!(steps(gen, &[4]), vec![0; 12]);
        assert_eq!(gen.updates_after_generation(11), 5);
        assert_eq!(UpdateSchedule::Interleaved.updates_after_generation(11), 0);
        assert!(UpdateSchedule::Regular {
            interval: 0,
            updates: 1
        }
        .validate()
        .is_err());
        assert!(UpdateSchedule::PerGeneration {
            updates_per_frame: -1.0
        }
        .validate()
        .is_err());
    }

    /// `rl-rud.md`'s formula on a hand-computed case: t = 100 stored, a cycle of n = 2
    /// steps, batch b = 10. Interleaved: 10·1/101 + 10·2/102 = 0.099010 + 0.196078 =
    /// 0.295088. Block: 2·10·2/102 = 0.392157.
    #[test]
    fn fresh_sample_formulas_on_a_hand_computed_case() {
        let inter = expected_fresh_samples_interleaved(100, 2, 10);
        let block = expected_fresh_samples_block(100, 2, 10);
        assert!((inter - 0.295_088).abs() < 1e-6, "{inter}");
        assert!((block - 0.392_157).abs() < 1e-6, "{block}");
        // i/(t+i) ≤ n/(t+n) for every i ≤ n: the block never uses fresh data less.
        for (t, n) in [(0, 1), (10, 5), (1000, 100), (5, 50)] {
            assert!(
                expected_fresh_samples_block(t, n, 7)
                    >= expected_fresh_samples_interleaved(t, n, 7) - 1e-12
            );
        }
    }

    #[test]
    fn fresh_usage_counts_only_samples_within_the_insertion_cycle() {
        let mut u = FreshDataUsage::new(3).unwrap();
        for _ in 0..6 {
            u.on_insert();
        }
        u.on_sample(2, 3); // same cycle (steps 1..=3)
        u.on_sample(2, 3);
        u.on_sample(3, 4); // step 3 is in cycle 0, update after step 4 in cycle 1
        u.on_sample(4, 6);
        u.on_sample(6, 6);
        assert_eq!(u.counts(), &[0, 2, 0, 1, 0, 1]);
        assert_eq!(u.per_cycle(), vec![2, 2]);
        assert!(FreshDataUsage::new(0).is_err());
    }
}
