//! Q-estimate bias and variance (the "analytical experiments" of the RUD card, measured
//! as in the TD3 paper's Figures 1–2): at states drawn from the replay buffer, the
//! critic's estimate `Q₁(s, π(s))` of the current deterministic policy is compared with
//! the Monte-Carlo discounted return `Σₕ γʰ rₕ` of that policy from the simulator state
//! saved with the transition.
//!
//! * Rollouts run on an env **without** its time limit
//!   ([`Registry::make_unwrapped`](candor_rl::Registry::make_unwrapped)), so a state
//!   near the 1000-step cap is valued over the same horizon as any other: they stop when
//!   `γʰ < tail` (1e-3: 688 steps at γ = 0.99; the neglected tail is at most
//!   `tail·r_max/(1 − γ)`) or when the task terminates.
//! * The error is `Q̂ − G` (positive: over-estimation). [`QBiasPoint`] keeps the
//!   per-state values; its bias is their mean and its variance their sample variance
//!   across states. Across seeds the caller aggregates (the unit of the claim is the
//!   seed).

use candle_core::Tensor;
use candor_core::{Error, Result, SeededRng};
use candor_rl::{discounted_return, Action, ActionScaler, Env, OffPolicyTrainer};
use serde::{Deserialize, Serialize};

use crate::config::QBiasConfig;
use crate::learner::Ddpg;

/// One measurement: per sampled state, the critic's estimate and the Monte-Carlo return.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QBiasPoint {
    /// Training env steps done when measured.
    pub step: usize,
    /// `Q̂(s)` per state.
    pub estimates: Vec<f64>,
    /// The discounted return `G(s)` per state.
    pub returns: Vec<f64>,
}

impl QBiasPoint {
    /// `Q̂ − G` per state.
    pub fn errors(&self) -> Vec<f64> {
        self.estimates
            .iter()
            .zip(&self.returns)
            .map(|(q, g)| q - g)
            .collect()
    }

    /// The mean error (positive: over-estimation); NaN without states.
    pub fn bias(&self) -> f64 {
        let e = self.errors();
        e.iter().sum::<f64>() / e.len() as f64
    }

    /// The sample variance (n − 1) of the error across states; NaN with fewer than two.
    pub fn error_variance(&self) -> f64 {
        let e = self.errors();
        if e.len() < 2 {
            return f64::NAN;
        }
        let m = e.iter().sum::<f64>() / e.len() as f64;
        e.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (e.len() - 1) as f64
    }
}

/// A critic's estimates for a batch of observations (one value each).
pub type BatchEstimate<'a> = dyn FnMut(&[Vec<f32>]) -> Result<Vec<f64>> + 'a;

/// Estimates and Monte-Carlo returns at `states`: for each, `env.set_state` gives the
/// observation, `estimate` values all observations at once (`Q̂`), and
/// [`discounted_return`] rolls `policy` out from the state until termination or
/// `γʰ < tail`. `env` should have no time limit.
pub fn q_bias_at_states(
    env: &mut dyn Env,
    states: &[Vec<f64>],
    estimate: &mut BatchEstimate<'_>,
    policy: &mut dyn FnMut(&[f32]) -> Result<Action>,
    gamma: f64,
    tail: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut observations = Vec::with_capacity(states.len());
    let mut returns = Vec::with_capacity(states.len());
    for state in states {
        observations.push(env.set_state(state)?);
        returns.push(discounted_return(env, state, policy, gamma, tail)?);
    }
    let estimates = estimate(&observations)?;
    if estimates.len() != states.len() {
        return Err(Error::invalid(format!(
            "q_bias_at_states: {} estimates for {} states",
            estimates.len(),
            states.len()
        )));
    }
    Ok((estimates, returns))
}

/// One Q-bias measurement of `agent` during `trainer`'s run: `cfg.states` replay slots
/// drawn uniformly (with replacement) with `rng`, valued by `Q₁(s, π(s))` and by
/// rollouts of the noise-free actor (mapped to the env's box) on a fresh, unwrapped
/// instance of the training env. Needs `store_states` in the loop's config.
pub fn measure(
    trainer: &OffPolicyTrainer,
    agent: &Ddpg,
    cfg: &QBiasConfig,
    rng: &mut SeededRng,
) -> Result<QBiasPoint> {
    let n = trainer.buffer().len();
    if n == 0 {
        return Err(Error::invalid("Q-bias: the replay buffer is empty"));
    }
    let mut states = Vec::with_capacity(cfg.states);
    for _ in 0..cfg.states {
        let slot = rng.below(n);
        let s = trainer.stored_state(slot).ok_or_else(|| {
            Error::invalid("Q-bias: no simulator states stored (set store_states)")
        })?;
        states.push(s.to_vec());
    }
    let env_id = &trainer.config().env_id;
    let mut env = trainer.registry().make_unwrapped(env_id)?;
    let scaler: &ActionScaler = trainer.scaler();
    let actor = agent.actor();
    let mut policy = |obs: &[f32]| -> Result<Action> {
        Ok(Action::Continuous(scaler.to_env(&actor.act(obs)?)?))
    };
    let device = candor_rl::Agent::device(agent).clone();
    let mut estimate = |obs: &[Vec<f32>]| -> Result<Vec<f64>> {
        let dim = obs.first().map_or(0, Vec::len);
        let flat: Vec<f32> = obs.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (obs.len(), dim), &device)?;
        Ok(agent.policy_value(&t)?.into_iter().map(f64::from).collect())
    };
    let (estimates, returns) = q_bias_at_states(
        env.as_mut(),
        &states,
        &mut estimate,
        &mut policy,
        agent.config().gamma,
        cfg.tail,
    )?;
    Ok(QBiasPoint {
        step: trainer.steps_done(),
        estimates,
        returns,
    })
}
