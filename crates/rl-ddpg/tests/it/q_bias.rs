//! The Q-bias measurement on a hand-made MDP with a known value: a chain that pays 1 per
//! step and terminates after the number of steps held in its state (or never), so the
//! discounted return from any state is `(1 − γᵏ)/(1 − γ)` with `k` the steps left, or
//! the horizon where `γʰ` falls below the tail.

use candle_core::Device;
use candor_core::Result;
use candor_rl::{Action, Env, Registry, Space, Step};
use candor_rl_ddpg::{q_bias_at_states, train_in, Config, Preset, QBiasConfig, QBiasPoint};

/// State `[k]`: steps left before termination (`k < 0`: never terminates); reset to `len`.
struct Chain {
    k: f64,
    len: f64,
    obs_space: Space,
    act_space: Space,
}

impl Chain {
    fn new(len: f64) -> Self {
        Self {
            k: len,
            len,
            obs_space: Space::uniform_box(-1e6, 1e6, &[1]),
            act_space: Space::uniform_box(-1.0, 1.0, &[1]),
        }
    }
}

impl Env for Chain {
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>) -> Vec<f32> {
        self.k = self.len;
        vec![self.k as f32]
    }
    fn step(&mut self, action: &Action) -> Result<Step> {
        self.act_space.check(action)?;
        if self.k > 0.0 {
            self.k -= 1.0;
        }
        Ok(Step {
            obs: vec![self.k as f32],
            reward: 1.0,
            terminated: self.k == 0.0,
            truncated: false,
        })
    }
    fn set_state(&mut self, state: &[f64]) -> Result<Vec<f32>> {
        self.k = state[0];
        Ok(vec![self.k as f32])
    }
    fn state(&self) -> Vec<f64> {
        vec![self.k]
    }
}

fn value(k: f64, gamma: f64, tail: f64) -> f64 {
    // Terms h = 0 … H−1 with H the first n where γⁿ < tail, or k if it ends sooner.
    let horizon = (tail.ln() / gamma.ln()).floor() as i32 + 1;
    let steps = if k < 0.0 {
        horizon
    } else {
        (k as i32).min(horizon)
    };
    (1.0 - gamma.powi(steps)) / (1.0 - gamma)
}

#[test]
fn bias_and_variance_against_the_known_value() {
    let (gamma, tail) = (0.9, 1e-3);
    let mut env = Chain::new(5.0);
    let states = vec![vec![1.0], vec![2.0], vec![3.0], vec![-1.0]];
    // A critic that believes every state is worth 5.
    let mut estimate = |obs: &[Vec<f32>]| -> Result<Vec<f64>> { Ok(vec![5.0; obs.len()]) };
    let mut policy = |_: &[f32]| -> Result<Action> { Ok(Action::Continuous(vec![0.0])) };
    let (q, g) =
        q_bias_at_states(&mut env, &states, &mut estimate, &mut policy, gamma, tail).unwrap();
    // 1, 1 + 0.9, 1 + 0.9 + 0.81, and the non-terminating chain over 66 steps
    // (0.9⁶⁶ < 1e-3 ≤ 0.9⁶⁵).
    let want = [1.0, 1.9, 2.71, (1.0 - 0.9f64.powi(66)) / 0.1];
    for (got, w) in g.iter().zip(want) {
        assert!((got - w).abs() < 1e-12, "{g:?}");
    }
    assert!((want[3] - value(-1.0, gamma, tail)).abs() < 1e-12);
    let point = QBiasPoint {
        step: 0,
        estimates: q,
        returns: g,
    };
    let errors: Vec<f64> = want.iter().map(|v| 5.0 - v).collect();
    let m = errors.iter().sum::<f64>() / 4.0;
    let var = errors.iter().map(|e| (e - m).powi(2)).sum::<f64>() / 3.0;
    assert!((point.bias() - m).abs() < 1e-12);
    assert!((point.error_variance() - var).abs() < 1e-12);
    // A critic that is exactly right has zero bias and variance.
    let exact = QBiasPoint {
        step: 0,
        estimates: want.to_vec(),
        returns: want.to_vec(),
    };
    assert_eq!((exact.bias(), exact.error_variance()), (0.0, 0.0));
    // A wrong number of estimates is an error.
    let mut short = |_: &[Vec<f32>]| -> Result<Vec<f64>> { Ok(vec![1.0]) };
    assert!(q_bias_at_states(&mut env, &states, &mut short, &mut policy, gamma, tail).is_err());
}

/// Through a real run: the returns measured from the stored states are the chain's exact
/// values, and on a chain that never terminates they run past the 10-step time limit.
#[test]
fn measurements_during_training_use_saved_states_and_no_time_limit() {
    let mut registry = Registry::default();
    registry
        .register("Chain-v0", Some(4), || Ok(Chain::new(3.0)))
        .unwrap();
    registry
        .register("Endless-v0", Some(10), || Ok(Chain::new(-1.0)))
        .unwrap();
    for (id, possible) in [
        ("Chain-v0", vec![1.0, 1.99, 2.9701]),
        ("Endless-v0", vec![value(-1.0, 0.99, 1e-3)]),
    ] {
        let mut cfg = Config::preset(Preset::Ddpg, id).with_q_bias(QBiasConfig {
            every: 50,
            states: 8,
            tail: 1e-3,
        });
        cfg.learner.actor.hidden = vec![8];
        cfg.learner.critic.hidden = vec![8];
        cfg.train.total_steps = 150;
        cfg.train.warmup_steps = 20;
        cfg.train.learning_starts = 20;
        cfg.train.batch_size = 8;
        cfg.train.eval_every = 0;
        let (_, log) = train_in(&cfg, &registry, 3, &Device::Cpu).unwrap();
        assert_eq!(log.q_bias.len(), 3, "{id}: at 50, 100 and 150 steps");
        for p in &log.q_bias {
            assert_eq!(p.estimates.len(), 8);
            for g in &p.returns {
                assert!(
                    possible.iter().any(|v| (v - g).abs() < 1e-9),
                    "{id}: return {g} not in {possible:?}"
                );
            }
        }
        // 688 terms at γ = 0.99: far past the 10-step limit.
        if id == "Endless-v0" {
            assert!(possible[0] > 99.0);
        }
    }
}

#[test]
fn q_bias_needs_stored_states() {
    let mut cfg = Config::preset(Preset::Ddpg, "Pendulum-v1");
    cfg.q_bias = Some(QBiasConfig::default());
    assert!(cfg.validate().is_err(), "q_bias without store_states");
    let cfg = cfg.with_q_bias(QBiasConfig {
        states: 1,
        ..Default::default()
    });
    assert!(cfg.validate().is_err(), "one state has no variance");
}
