//! Short training runs: DQN learns CartPole, and a seed fixes the whole run.

use candor_core::optim::sorted_vars;
use candor_rl_noisy::{evaluate_agent, train, Algo, Config};

#[test]
fn short_dqn_run_beats_a_random_policy() {
    let mut cfg = Config::tiny(Algo::Dqn);
    cfg.total_steps = 4_000;
    let (agent, log) = train(&cfg, 0, &candle_core::Device::Cpu).unwrap();
    assert_eq!(log.steps, 4_000);
    assert_eq!(log.updates, 4_000 - cfg.learning_starts + 1);
    let returns = evaluate_agent(&agent, "CartPole-v0", 10, 99).unwrap();
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    // A uniformly random policy scores ≈ 22 on CartPole.
    assert!(mean > 60.0, "greedy DQN scored {mean} ({returns:?})");
}

/// (episode ends and returns, final parameters, evaluation returns).
type Fingerprint = (Vec<(usize, f64)>, Vec<Vec<f32>>, Vec<f64>);

fn fingerprint(algo: Algo, seed: u64) -> Fingerprint {
    let mut cfg = Config::tiny(algo);
    cfg.total_steps = 400;
    let (agent, log) = train(&cfg, seed, &candle_core::Device::Cpu).unwrap();
    let eps = log.episodes.iter().map(|e| (e.end_step, e.ret)).collect();
    let params = sorted_vars(agent.online_varmap())
        .into_iter()
        .map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    let eval = evaluate_agent(&agent, "CartPole-v0", 3, 7).unwrap();
    (eps, params, eval)
}

#[test]
fn same_seed_gives_identical_runs() {
    for algo in Algo::ALL {
        let a = fingerprint(algo, 5);
        let b = fingerprint(algo, 5);
        assert_eq!(a, b, "{algo:?}");
        let c = fingerprint(algo, 6);
        assert_ne!(a.1, c.1, "{algo:?}: seeds 5 and 6 gave the same weights");
    }
}

#[test]
fn noisy_training_logs_sigma_and_k() {
    let mut cfg = Config::tiny(Algo::Nrowan);
    cfg.total_steps = 500;
    let (agent, log) = train(&cfg, 1, &candle_core::Device::Cpu).unwrap();
    assert_eq!(log.points.len(), 2);
    let sigma0 = 0.4 / (cfg.net.hidden as f64).sqrt();
    let last = log.points.last().unwrap();
    let s = last.sigma_out.unwrap();
    assert!(
        s > 0.0 && s < sigma0,
        "σ_out {s} should have shrunk from {sigma0}"
    );
    assert!(last.mean_k.unwrap() > 0.0);
    assert_eq!(agent.sigma_out_mean().unwrap(), Some(s));
    let (_, dqn_log) = train(
        &Config {
            total_steps: 300,
            ..Config::tiny(Algo::Dqn)
        },
        1,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(dqn_log.points.iter().all(|p| p.sigma_out.is_none()));
}

#[test]
fn weights_round_trip_through_a_checkpoint() {
    let mut cfg = Config::tiny(Algo::NoisyNet);
    cfg.total_steps = 200;
    let (agent, _) = train(&cfg, 2, &candle_core::Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.safetensors");
    agent.save(&path).unwrap();
    let mut fresh = candor_rl_noisy::Agent::new(&cfg, 4, 2, 99, &candle_core::Device::Cpu).unwrap();
    fresh.load(&path).unwrap();
    let obs = [0.01f32, -0.02, 0.03, 0.0];
    assert_eq!(
        agent.q_values(&obs, None).unwrap(),
        fresh.q_values(&obs, None).unwrap()
    );
    assert!(fresh.load(dir.path().join("missing.safetensors")).is_err());
}
