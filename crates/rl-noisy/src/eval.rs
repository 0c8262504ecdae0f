//! The paper's evaluation protocol and learning curves.
//!
//! Table 3: 5 independently trained instances, each plays 64 rounds after training.
//! An instance's score is the mean of its rounds; the reported mean is the mean of the
//! instance scores, and the reported std is computed "in a similar way": the mean over
//! instances of each instance's std over its rounds (the third-party reproduction's
//! reading, followed here). We use the sample std (ddof = 1) of
//! [`candor_core::metrics::summarize`]; the spread of the instance means is reported
//! alongside.

use candor_core::metrics::summarize;
use candor_core::{Error, Result, SeededRng};
use candor_rl::{evaluate, Action};
use serde::{Deserialize, Serialize};

use crate::model::agent::Agent;
use crate::train::TrainLog;

/// Whether the noisy agents keep their noise at evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvalNoise {
    /// Noise off: greedy on μ ([`Agent::eval_action`]; the third-party reproduction's
    /// choice).
    Off,
    /// Noise on: greedy on Q-values with a fresh noise sample every step
    /// ([`Agent::eval_action_noisy`]), the setting the paper's argument rests on (the
    /// reduced noise of NROWAN-DQN steadies the policy only if the noise acts).
    On,
}

impl EvalNoise {
    /// Short label for tables ("noise on", "μ only").
    pub fn label(self) -> &'static str {
        match self {
            EvalNoise::Off => "μ only",
            EvalNoise::On => "noise on",
        }
    }
}

/// Play `rounds` full episodes of `env_id` with the agent's noise-off evaluation
/// policy ([`Agent::eval_action`]: μ-only greedy for the noisy agents, ε-greedy with
/// `epsilon.eval` for DQN) and return the returns. Deterministic in `seed`.
pub fn evaluate_agent(agent: &Agent, env_id: &str, rounds: usize, seed: u64) -> Result<Vec<f64>> {
    evaluate_agent_with(agent, env_id, rounds, seed, EvalNoise::Off)
}

/// [`evaluate_agent`] with the noise `on` or off. DQN's policy is the same either way
/// (ε-greedy with `epsilon.eval`), so for DQN both give the same returns for a seed.
pub fn evaluate_agent_with(
    agent: &Agent,
    env_id: &str,
    rounds: usize,
    seed: u64,
    noise: EvalNoise,
) -> Result<Vec<f64>> {
    let mut rng = SeededRng::derive(seed, "candor-rl-noisy/eval-epsilon");
    let mut policy = |obs: &[f32]| {
        let a = match noise {
            EvalNoise::Off => agent.eval_action(obs, &mut rng)?,
            EvalNoise::On => agent.eval_action_noisy(obs, &mut rng)?,
        };
        Ok(Action::Discrete(a))
    };
    evaluate(env_id, &mut policy, rounds, seed)
}

/// One trained instance's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InstanceScore {
    /// Mean return over its rounds.
    pub mean: f64,
    /// Sample std of its returns (0 for a single round).
    pub std: f64,
}

/// The Table 3 score of one algorithm on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolScore {
    /// Mean of the instance means.
    pub mean: f64,
    /// Mean of the instance stds (the "±" of Table 3, as the card defines it).
    pub std: f64,
    /// Sample std of the instance means (spread between instances).
    pub std_of_means: f64,
    /// Per-instance scores.
    pub instances: Vec<InstanceScore>,
}

/// Score instances from their evaluation returns (one `Vec` per instance).
pub fn protocol_score(per_instance: &[Vec<f64>]) -> Result<ProtocolScore> {
    if per_instance.is_empty() {
        return Err(Error::invalid("protocol_score: no instances"));
    }
    let instances = per_instance
        .iter()
        .map(|r| {
            summarize(r).map(|s| InstanceScore {
                mean: s.mean,
                std: s.std,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let means: Vec<f64> = instances.iter().map(|i| i.mean).collect();
    let stds: Vec<f64> = instances.iter().map(|i| i.std).collect();
    let m = summarize(&means)?;
    Ok(ProtocolScore {
        mean: m.mean,
        std: stds.iter().sum::<f64>() / stds.len() as f64,
        std_of_means: m.std,
        instances,
    })
}

/// One instance's learning curve at the env steps `xs`: at each x, the mean return of
/// the last `window` episodes it finished by x (NaN before its first episode).
pub fn instance_curve(log: &TrainLog, xs: &[f64], window: usize) -> Vec<f64> {
    xs.iter()
        .map(|&x| {
            let done = log.episodes.partition_point(|e| e.end_step as f64 <= x);
            let k = done.min(window.max(1));
            if k == 0 {
                f64::NAN
            } else {
                log.episodes[done - k..done]
                    .iter()
                    .map(|e| e.ret)
                    .sum::<f64>()
                    / k as f64
            }
        })
        .collect()
}

/// `points` evenly spaced env steps x_j = j·total_steps/points, j = 1..=points.
pub fn curve_steps(total_steps: usize, points: usize) -> Vec<f64> {
    let points = points.max(1);
    (1..=points)
        .map(|j| ((j * total_steps) / points) as f64)
        .collect()
}

/// A learning curve averaged over instances: at `points` evenly spaced env steps
/// ([`curve_steps`]), the mean over the instances that finished an episode by then of
/// their [`instance_curve`].
pub fn learning_curve(
    logs: &[&TrainLog],
    total_steps: usize,
    points: usize,
    window: usize,
) -> Vec<(f64, f64)> {
    let xs = curve_steps(total_steps, points);
    let curves: Vec<Vec<f64>> = logs
        .iter()
        .map(|l| instance_curve(l, &xs, window))
        .collect();
    xs.iter()
        .enumerate()
        .filter_map(|(j, &x)| {
            let vals: Vec<f64> = curves
                .iter()
                .map(|c| c[j])
                .filter(|v| v.is_finite())
                .collect();
            (!vals.is_empty()).then(|| (x, vals.iter().sum::<f64>() / vals.len() as f64))
        })
        .collect()
}

/// Mean |σ_out| over instances at each logged step (noisy agents; empty for DQN).
pub fn sigma_curve(logs: &[&TrainLog]) -> Vec<(f64, f64)> {
    let Some(first) = logs.first() else {
        return Vec::new();
    };
    first
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let vals: Vec<f64> = logs
                .iter()
                .filter_map(|l| l.points.get(i).and_then(|q| q.sigma_out))
                .collect();
            (!vals.is_empty())
                .then(|| (p.step as f64, vals.iter().sum::<f64>() / vals.len() as f64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Episode;

    #[test]
    fn protocol_averages_instance_stds() {
        let s = protocol_score(&[vec![1.0, 3.0], vec![5.0, 5.0]]).unwrap();
        assert_eq!(s.mean, 3.5);
        assert!((s.std - 2f64.sqrt() / 2.0).abs() < 1e-12);
        assert!((s.std_of_means - (4.5f64).sqrt()).abs() < 1e-12);
        assert!(protocol_score(&[]).is_err());
    }

    #[test]
    fn learning_curve_uses_finished_episodes() {
        let ep = |end_step, ret| Episode {
            end_step,
            ret,
            length: 1,
        };
        let a = TrainLog {
            episodes: vec![ep(10, 1.0), ep(20, 3.0), ep(30, 5.0)],
            ..Default::default()
        };
        let c = learning_curve(&[&a], 30, 3, 2);
        assert_eq!(c, vec![(10.0, 1.0), (20.0, 2.0), (30.0, 4.0)]);
        let b = TrainLog::default();
        assert_eq!(learning_curve(&[&b], 30, 3, 2), vec![]);
        let per = instance_curve(&a, &[5.0, 20.0], 2);
        assert!(per[0].is_nan());
        assert_eq!(per[1], 2.0);
        assert_eq!(curve_steps(30, 3), vec![10.0, 20.0, 30.0]);
    }
}
