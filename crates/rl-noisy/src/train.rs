//! The training loop (the paper's Algorithm 1, one update per env step).

use std::time::Instant;

use candle_core::Device;
use candor_core::{Error, Result, SeededRng};
use candor_rl::{make, Action, ReplayBuffer};
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
}

impl TrainLog {
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
pub fn train_with(
    cfg: &Config,
    seed: u64,
    device: &Device,
    mut on_episode: impl FnMut(&Episode, &TrainLog),
) -> Result<(Agent, TrainLog)> {
    cfg.validate()?;
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
    for t in 1..=cfg.total_steps {
        let a = agent.act(&obs, t - 1)?;
        let action = Action::Discrete(a);
        let step = env.step(&action)?;
        buffer.push(&obs, &action, step.reward, &step.obs, step.terminated)?;
        r_plus += step.reward;
        ep_len += 1;
        let k = agent.k_weight(r_plus);
        if t >= cfg.learning_starts && buffer.len() >= cfg.batch_size {
            let batch = buffer.sample(cfg.batch_size, &mut replay_rng, device)?;
            let stats = agent.update(&batch, k)?;
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
    }
    log.steps = cfg.total_steps;
    log.updates = agent.updates();
    log.seconds = t0.elapsed().as_secs_f64();
    Ok((agent, log))
}
