//! One training run: a [`Config`] on one seed, through candor-rl's
//! [`OffPolicyTrainer`] (warm-up, noise, schedule, TD3 evaluation), with the Q-bias
//! measurements and the fresh-data usage summary.

use std::time::Instant;

use candle_core::Device;
use candor_core::{Result, SeededRng};
use candor_rl::{
    expected_fresh_samples_block, expected_fresh_samples_interleaved, EvalHistory,
    OffPolicyTrainer, Registry, UpdateSchedule,
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
    cfg.validate()?;
    let start = Instant::now();
    let mut trainer = OffPolicyTrainer::new(&cfg.train, registry, seed)?;
    let obs_dim = trainer.buffer().obs_dim();
    let action_dim = trainer.scaler().dim();
    let mut agent = Ddpg::new(&cfg.learner, obs_dim, action_dim, seed, device)?;
    let mut q_rng = SeededRng::derive(seed, "rl-ddpg/q-bias-states");
    let mut q_bias = Vec::new();
    let learning_starts = cfg.train.learning_starts;
    trainer.run_with(&mut agent, |trainer, agent, event| {
        if let Some(q) = &cfg.q_bias {
            if event.step > learning_starts && event.step.is_multiple_of(q.every) {
                q_bias.push(measure(trainer, agent, q, &mut q_rng)?);
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
        seconds: start.elapsed().as_secs_f64(),
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
