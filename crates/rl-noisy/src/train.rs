//! The training loop (the paper's Algorithm 1, one update per env step).
//!
//! Training runs on a one-thread rayon pool that [`train_with`] builds for itself
//! (unless it already runs on one): a 128-wide network on a batch of 32 is made of tiny
//! matmuls, where splitting work across threads only costs, and the pool keeps any
//! rayon parallelism on the calling core. candor-core's kernels (the layers'
//! `candor_core::ops::linear`) take their thread count from this pool; candle's own
//! matmuls, where some remain, still ask the process environment. For several
//! runs at once, call [`train`] from several threads (one per core), as
//! [`crate::reproduce`] does.
//!
//! **Checkpoints and resume.** [`train_resumable`] with a [`Checkpointing`] saves the
//! whole run (agent, optimiser state, the four random streams of the agent and the
//! replay stream, replay buffer, env, log) to one file, atomically, at the first episode end at least `every_steps`
//! env steps after the previous save (episode boundaries: see [`candor_rl::resume`]),
//! and when the file exists at the start it continues from it. A run killed at any
//! moment and restarted ends with the same weights and log, bit for bit, as a run never
//! stopped (`tests/crash_resume.rs`); only the wall times differ.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candor_core::{Error, Result, RngState, SeededRng};
use candor_rl::{make, Action, Checkpointing, EnvCheckpoint, ReplayBuffer};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::agent::Agent;

/// One finished training episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Env steps taken when the episode ended (1-based count).
    pub end_step: usize,
    /// Undiscounted return.
    pub ret: f64,
    /// Steps in the episode.
    pub length: usize,
}

/// Periodic diagnostics, every `log_interval` env steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogPoint {
    /// Env steps taken.
    pub step: usize,
    /// Mean |σ| of the output layer (= D), `None` for DQN.
    pub sigma_out: Option<f64>,
    /// Mean TD loss of the updates since the previous point (`None` before learning).
    pub td_loss: Option<f64>,
    /// Mean k_t of those updates.
    pub mean_k: Option<f64>,
}

/// What a training run recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// Every finished episode, in order.
    pub episodes: Vec<Episode>,
    /// Diagnostics every `log_interval` steps (and at the end).
    pub points: Vec<LogPoint>,
    /// Env steps taken.
    pub steps: usize,
    /// Gradient updates made.
    pub updates: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Wall-clock seconds spent in the updates (replay sampling, forward, backward and
    /// the optimiser step); the rest is acting, env steps and logging.
    #[serde(default)]
    pub update_seconds: f64,
}

impl TrainLog {
    /// Env steps per wall-clock second of the whole run.
    pub fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.seconds.max(1e-12)
    }

    /// Updates per wall-clock second spent updating.
    pub fn updates_per_second(&self) -> f64 {
        self.updates as f64 / self.update_seconds.max(1e-12)
    }

    /// Mean return of the last `n` finished episodes (`None` if there are none).
    pub fn recent_mean_return(&self, n: usize) -> Option<f64> {
        let k = self.episodes.len().min(n);
        (k > 0).then(|| {
            self.episodes[self.episodes.len() - k..]
                .iter()
                .map(|e| e.ret)
                .sum::<f64>()
                / k as f64
        })
    }
}

/// Train an agent as the config says, seeded by `seed` (network init, exploration,
/// noise, replay sampling and env resets all derive from it; the same seed gives the
/// same run on the CPU).
///
/// Per env step t = 1, 2, …: act (ε-greedy or noisy greedy), store `(s, a, r, s',
/// terminated)` (time-limit truncations bootstrap), add r to the in-episode return r⁺
/// and recompute k_t (eq. 12), update once on a batch of `batch_size` when
/// `t ≥ learning_starts`, hard-copy the target every `target_update_interval` steps,
/// and reset r⁺ to 0 when the episode ends.
/// The networks and every replay batch live on `device`.
pub fn train(cfg: &Config, seed: u64, device: &Device) -> Result<(Agent, TrainLog)> {
    train_with(cfg, seed, device, |_, _| {})
}

/// [`train`] with a callback `on_episode(episode, log_so_far)` after each episode.
///
/// The loop runs on a one-thread rayon pool built here, unless the calling thread
/// already belongs to a one-thread pool (see the module docs).
pub fn train_with(
    cfg: &Config,
    seed: u64,
    device: &Device,
    on_episode: impl FnMut(&Episode, &TrainLog) + Send,
) -> Result<(Agent, TrainLog)> {
    train_resumable_with(cfg, seed, device, None, on_episode)
}

/// [`train`] that saves resumable checkpoints as `checkpointing` says and, when its file
/// already exists, continues from it (see the module docs). The file must come from a
/// run of the same config and seed (else an error naming it). Its last save is left in
/// place when the run finishes: delete it once the results are safe, or a later call
/// repeats the steps after it.
pub fn train_resumable(
    cfg: &Config,
    seed: u64,
    device: &Device,
    checkpointing: Option<&Checkpointing>,
) -> Result<(Agent, TrainLog)> {
    train_resumable_with(cfg, seed, device, checkpointing, |_, _| {})
}

/// [`train_resumable`] with [`train_with`]'s `on_episode` callback (after a resume it
/// is called for the episodes that end after the checkpoint).
pub fn train_resumable_with(
    cfg: &Config,
    seed: u64,
    device: &Device,
    checkpointing: Option<&Checkpointing>,
    on_episode: impl FnMut(&Episode, &TrainLog) + Send,
) -> Result<(Agent, TrainLog)> {
    cfg.validate()?;
    if let Some(ck) = checkpointing {
        ck.validate()?;
    }
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() == 1 {
        return train_loop(cfg, seed, device, checkpointing, on_episode);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "candor-rl-noisy-train".into())
        .build()
        .map_err(|e| Error::invalid(format!("train: cannot build a thread pool: {e}")))?;
    pool.install(|| train_loop(cfg, seed, device, checkpointing, on_episode))
}

/// The loop's state in a checkpoint (taken right after an episode ended and the env was
/// reset, so the in-episode return and length are 0).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoopState {
    config: Config,
    seed: u64,
    /// Env steps done.
    steps: usize,
    env: EnvCheckpoint,
    replay_rng: RngState,
    log: TrainLog,
    /// The sums since the last log point.
    td_sum: f64,
    k_sum: f64,
    n_upd: usize,
}

const OBS_KEY: &str = "loop/obs";
const BUFFER_PREFIX: &str = "loop/buffer/";

fn train_loop(
    cfg: &Config,
    seed: u64,
    device: &Device,
    checkpointing: Option<&Checkpointing>,
    mut on_episode: impl FnMut(&Episode, &TrainLog),
) -> Result<(Agent, TrainLog)> {
    let t0 = Instant::now();
    let mut env = make(&cfg.env_id)?;
    let n_actions = env.action_space().n().ok_or_else(|| {
        Error::invalid(format!(
            "{} has a continuous action space; DQN needs discrete actions",
            cfg.env_id
        ))
    })?;
    let obs_dim = env.observation_space().flat_dim();
    let mut agent = Agent::new(cfg, obs_dim, n_actions, seed, device)?;
    let mut buffer = ReplayBuffer::for_env(cfg.buffer_capacity, env.as_ref())?;
    let mut replay_rng = SeededRng::derive(seed, "candor-rl-noisy/replay");
    let mut log = TrainLog::default();

    let mut obs = env.reset(Some(seed));
    let (mut r_plus, mut ep_len) = (0.0f64, 0usize);
    let (mut td_sum, mut k_sum, mut n_upd) = (0.0f64, 0.0f64, 0usize);
    let mut start = 1;
    let mut seconds_before = 0.0;
    if let Some(ck) = checkpointing.filter(|c| c.path.exists()) {
        let path = &ck.path;
        let (st, tensors): (LoopState, HashMap<String, Tensor>) = agent.load_training(path)?;
        if st.config != *cfg || st.seed != seed {
            return Err(Error::format(
                path,
                format!(
                    "the checkpoint is of another run (seed {}, or another config), not of seed \
                     {seed} with this config",
                    st.seed
                ),
            ));
        }
        let bad = |e: Error| Error::format(path, e.to_string());
        let saved_obs = tensors
            .get(OBS_KEY)
            .ok_or_else(|| Error::format(path, format!("no tensor {OBS_KEY}")))?
            .flatten_all()?
            .to_vec1::<f32>()?;
        buffer
            .restore_tensors(&tensors, BUFFER_PREFIX)
            .map_err(bad)?;
        st.env.restore(env.as_mut(), &saved_obs).map_err(bad)?;
        obs = saved_obs;
        replay_rng = SeededRng::from_state(&st.replay_rng)?;
        (td_sum, k_sum, n_upd) = (st.td_sum, st.k_sum, st.n_upd);
        seconds_before = st.log.seconds;
        log = st.log;
        start = st.steps + 1;
        tracing::info!(path = %path.display(), steps = st.steps, "resumed");
    }
    let mut last_save = start - 1;
    for t in start..=cfg.total_steps {
        let a = agent.act(&obs, t - 1)?;
        let action = Action::Discrete(a);
        let step = env.step(&action)?;
        buffer.push(&obs, &action, step.reward, &step.obs, step.terminated)?;
        r_plus += step.reward;
        ep_len += 1;
        let k = agent.k_weight(r_plus);
        if t >= cfg.learning_starts && buffer.len() >= cfg.batch_size {
            let u0 = Instant::now();
            let batch = buffer.sample(cfg.batch_size, &mut replay_rng, device)?;
            let stats = agent.update(&batch, k)?;
            log.update_seconds += u0.elapsed().as_secs_f64();
            td_sum += f64::from(stats.td_loss);
            k_sum += stats.k;
            n_upd += 1;
        }
        if t % cfg.target_update_interval == 0 {
            agent.sync_target()?;
        }
        if step.done() {
            let ep = Episode {
                end_step: t,
                ret: r_plus,
                length: ep_len,
            };
            log.episodes.push(ep);
            on_episode(&ep, &log);
            r_plus = 0.0;
            ep_len = 0;
            obs = env.reset(None);
        } else {
            obs = step.obs;
        }
        if t % cfg.log_interval == 0 || t == cfg.total_steps {
            log.points.push(LogPoint {
                step: t,
                sigma_out: agent.sigma_out_mean()?,
                td_loss: (n_upd > 0).then(|| td_sum / n_upd as f64),
                mean_k: (n_upd > 0).then(|| k_sum / n_upd as f64),
            });
            (td_sum, k_sum, n_upd) = (0.0, 0.0, 0);
        }
        if let Some(ck) = checkpointing {
            if ck.due(t, last_save, cfg.total_steps, ep_len == 0) {
                let mut tensors = vec![(
                    OBS_KEY.to_string(),
                    Tensor::from_slice(&obs, obs.len(), &Device::Cpu)?,
                )];
                tensors.extend(buffer.to_tensors(BUFFER_PREFIX)?);
                let mut saved_log = log.clone();
                saved_log.seconds = seconds_before + t0.elapsed().as_secs_f64();
                let st = LoopState {
                    config: cfg.clone(),
                    seed,
                    steps: t,
                    env: EnvCheckpoint::capture(env.as_ref())?,
                    replay_rng: replay_rng.state(),
                    log: saved_log,
                    td_sum,
                    k_sum,
                    n_upd,
                };
                agent.save_training(&ck.path, &tensors, &st)?;
                last_save = t;
            }
        }
    }
    log.steps = cfg.total_steps;
    log.updates = agent.updates();
    log.seconds = seconds_before + t0.elapsed().as_secs_f64();
    Ok((agent, log))
}
