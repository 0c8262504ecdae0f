//! One training run: a [`Config`] on one seed, through candor-rl's
//! [`OffPolicyTrainer`] (warm-up, noise, schedule, TD3 evaluation), with the Q-bias
//! measurements and the fresh-data usage summary.
//!
//! **Checkpoints and resume.** [`train_resumable`] with a [`Checkpointing`] saves the
//! whole run (loop, replay buffer, learner, Q-bias points and their stream) to one file,
//! atomically, at the first episode end at least `every_steps` env steps after the
//! previous save (episode boundaries: see [`candor_rl::resume`]), and when the file
//! exists at the start it continues from it. A run killed at any moment and
//! restarted ends with the same weights, evaluations and Q-bias points, bit for bit, as
//! a run never stopped (`tests/crash_resume.rs`); only the wall times differ.

use std::time::Instant;

use candle_core::Device;
use candor_core::{Error, Result, RngState, SeededRng};
use candor_rl::{
    expected_fresh_samples_block, expected_fresh_samples_interleaved, Checkpointing, EvalHistory,
    OffPolicyTrainer, Registry, TrainerState, UpdateSchedule,
};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::learner::Ddpg;
use crate::qbias::{measure, QBiasPoint};

/// Fresh-data usage over the cycles that started after learning began: the mean number
/// of samples each cycle's updates drew from that cycle's own new transitions, beside
/// the expectation of `rl-rud.md`'s formula for the run's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshSummary {
    /// Cycle length (env steps).
    pub cycle: usize,
    /// Complete cycles counted.
    pub cycles: usize,
    /// Measured mean fresh samples per cycle.
    pub measured: f64,
    /// The formula's mean over the same cycles: block (`N·b·N/(t+N)`) for a `Regular`
    /// schedule whose interval is the cycle, interleaved (`Σᵢ b·i/(t+i)`) for
    /// `Interleaved`; NaN for other schedules.
    pub expected: f64,
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The env id.
    pub env_id: String,
    /// The seed.
    pub seed: u64,
    /// Evaluations (TD3 protocol).
    pub history: EvalHistory,
    /// Q-bias measurements (empty when off).
    pub q_bias: Vec<QBiasPoint>,
    /// Env steps done.
    pub steps: usize,
    /// Updates run, and of those the actor steps.
    pub updates: usize,
    pub actor_updates: usize,
    /// Wall time of the run, and of the updates alone (seconds).
    pub seconds: f64,
    pub update_seconds: f64,
    /// Fresh-data usage (when the loop counted it).
    pub fresh: Option<FreshSummary>,
}

impl RunLog {
    /// Updates per second of update time.
    pub fn updates_per_second(&self) -> f64 {
        self.updates as f64 / self.update_seconds.max(1e-12)
    }
}

/// The run's own state in a checkpoint (beside the learner's and the loop's tensors).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunState {
    config: Config,
    seed: u64,
    trainer: TrainerState,
    q_bias: Vec<QBiasPoint>,
    q_rng: RngState,
    seconds: f64,
}

/// Train `cfg` with `seed` on `device` (envs from the default registry).
pub fn train(cfg: &Config, seed: u64, device: &Device) -> Result<(Ddpg, RunLog)> {
    train_in(cfg, &Registry::default(), seed, device)
}

/// [`train`] with envs from `registry` (a user's own envs).
pub fn train_in(
    cfg: &Config,
    registry: &Registry,
    seed: u64,
    device: &Device,
) -> Result<(Ddpg, RunLog)> {
    train_resumable(cfg, registry, seed, device, None)
}

/// [`train_in`] that saves resumable checkpoints as `checkpointing` says and, when its
/// file already exists, continues from it (see the module docs). The file must come
/// from a run of the same config and seed (else an error naming it). Its last save is
/// left in place when the run finishes: delete it once the results are safe, or a later
/// call repeats the steps after it.
pub fn train_resumable(
    cfg: &Config,
    registry: &Registry,
    seed: u64,
    device: &Device,
    checkpointing: Option<&Checkpointing>,
) -> Result<(Ddpg, RunLog)> {
    cfg.validate()?;
    if let Some(ck) = checkpointing {
        ck.validate()?;
    }
    let start = Instant::now();
    let mut trainer = OffPolicyTrainer::new(&cfg.train, registry, seed)?;
    let obs_dim = trainer.buffer().obs_dim();
    let action_dim = trainer.scaler().dim();
    let mut agent = Ddpg::new(&cfg.learner, obs_dim, action_dim, seed, device)?;
    let mut q_rng = SeededRng::derive(seed, "rl-ddpg/q-bias-states");
    let mut q_bias = Vec::new();
    let mut seconds_before = 0.0;
    if let Some(ck) = checkpointing.filter(|c| c.path.exists()) {
        let path = &ck.path;
        let (run, tensors): (RunState, _) = agent.load_training(path)?;
        if run.config != *cfg || run.seed != seed {
            return Err(Error::format(
                path,
                format!(
                    "the checkpoint is of another run (seed {}, or another config), not of seed \
                     {seed} with this config",
                    run.seed
                ),
            ));
        }
        trainer
            .restore(&run.trainer, &tensors)
            .map_err(|e| Error::format(path, e.to_string()))?;
        q_bias = run.q_bias;
        q_rng = SeededRng::from_state(&run.q_rng)?;
        seconds_before = run.seconds;
        tracing::info!(path = %path.display(), steps = trainer.steps_done(), "resumed");
    }
    let learning_starts = cfg.train.learning_starts;
    let mut last_save = trainer.steps_done();
    trainer.run_with(&mut agent, |trainer, agent, event| {
        if let Some(q) = &cfg.q_bias {
            if event.step > learning_starts && event.step.is_multiple_of(q.every) {
                q_bias.push(measure(trainer, agent, q, &mut q_rng)?);
            }
        }
        if let Some(ck) = checkpointing {
            if ck.due(
                event.step,
                last_save,
                cfg.train.total_steps,
                event.episode.is_some(),
            ) {
                let snap = trainer.snapshot()?;
                let run = RunState {
                    config: cfg.clone(),
                    seed,
                    trainer: snap.state,
                    q_bias: q_bias.clone(),
                    q_rng: q_rng.state(),
                    seconds: seconds_before + start.elapsed().as_secs_f64(),
                };
                agent.save_training(&ck.path, &snap.tensors, &run)?;
                last_save = event.step;
            }
        }
        Ok(())
    })?;
    let (updates, actor_updates) = agent.updates_done();
    let log = RunLog {
        env_id: cfg.train.env_id.clone(),
        seed,
        history: trainer.history().clone(),
        q_bias,
        steps: trainer.steps_done(),
        updates,
        actor_updates,
        seconds: seconds_before + start.elapsed().as_secs_f64(),
        update_seconds: agent.update_time().as_secs_f64(),
        fresh: fresh_summary(&trainer),
    };
    Ok((agent, log))
}

/// The fresh-data summary of a finished run (see [`FreshSummary`]).
fn fresh_summary(trainer: &OffPolicyTrainer) -> Option<FreshSummary> {
    let usage = trainer.fresh_usage()?;
    let cfg = trainer.config();
    let n = usage.cycle();
    let b = cfg.batch_size;
    let per_cycle = usage.per_cycle();
    let mut measured = 0.0;
    let mut expected = 0.0;
    let mut cycles = 0;
    for (k, &fresh) in per_cycle.iter().enumerate() {
        let t = k * n; // transitions stored when the cycle starts
        if t < cfg.learning_starts.max(b) {
            continue;
        }
        let t = t.min(cfg.buffer_capacity);
        measured += fresh as f64;
        expected += match cfg.schedule {
            UpdateSchedule::Interleaved => expected_fresh_samples_interleaved(t, n, b),
            UpdateSchedule::Regular { interval, updates } if interval == n && updates == n => {
                expected_fresh_samples_block(t, n, b)
            }
            _ => f64::NAN,
        };
        cycles += 1;
    }
    (cycles > 0).then(|| FreshSummary {
        cycle: n,
        cycles,
        measured: measured / cycles as f64,
        expected: expected / cycles as f64,
    })
}
