//! A run that left a checkpoint, continued from it by a second call, ends with the same
//! bits as a run never stopped: both networks, the optimiser's effect, the episodes and
//! the log points, for DQN, NoisyNet-DQN and NROWAN-DQN (issue 17, part 3).

use candle_core::Device;
use candor_core::checkpoint::read_training_state;
use candor_core::optim::sorted_vars;
use candor_rl_noisy::{
    train, train_resumable, Agent, Algo, Checkpointing, Config, OptimizerKind, TrainLog,
};

/// Both networks' variables, as bits.
fn weights(agent: &Agent) -> Vec<Vec<u32>> {
    [agent.online_varmap(), agent.target_varmap()]
        .into_iter()
        .flat_map(sorted_vars)
        .map(|(_, v)| {
            let x = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            x.iter().map(|f| f.to_bits()).collect()
        })
        .collect()
}

/// The log without the wall times.
fn outcome(log: &TrainLog) -> String {
    format!(
        "{:?} {:?} {} {}",
        log.episodes, log.points, log.steps, log.updates
    )
}

/// 800 CartPole steps with a checkpoint every 400: the first call finishes and leaves
/// its only checkpoint (at the first episode end from step 400 on); a second call
/// continues from it for the remaining few hundred steps. Both end as a plain run.
#[test]
fn every_agent_resumes_bit_identical() {
    let cases = [
        (Algo::Dqn, OptimizerKind::Adam),
        (Algo::NoisyNet, OptimizerKind::Adam),
        (Algo::Nrowan, OptimizerKind::AdamSgdD),
        (Algo::Nrowan, OptimizerKind::Sgd),
    ];
    for (algo, kind) in cases {
        let mut cfg = Config::tiny(algo);
        cfg.optimizer.kind = kind;
        cfg.total_steps = 800;
        cfg.buffer_capacity = 500; // wraps before the end
        cfg.log_interval = 100;
        let (full, full_log) = train(&cfg, 3, &Device::Cpu).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ck = Checkpointing {
            path: dir.path().join("run.ckpt"),
            every_steps: 400,
        };
        let (a, log_a) = train_resumable(&cfg, 3, &Device::Cpu, Some(&ck)).unwrap();
        let saved: serde_json::Value = read_training_state(&ck.path).unwrap();
        let at = saved["run"]["steps"].as_u64().unwrap();
        assert!(
            (400..600).contains(&at),
            "{algo:?}/{kind:?}: checkpoint at {at}"
        );
        assert!(weights(&full) == weights(&a), "{algo:?}/{kind:?}");
        assert_eq!(outcome(&full_log), outcome(&log_a), "{algo:?}/{kind:?}");
        let (b, log_b) = train_resumable(&cfg, 3, &Device::Cpu, Some(&ck)).unwrap();
        assert!(
            weights(&full) == weights(&b),
            "{algo:?}/{kind:?}: the resumed run's weights differ"
        );
        assert_eq!(outcome(&full_log), outcome(&log_b), "{algo:?}/{kind:?}");
        assert!(full_log.episodes.len() > 5);
    }
}

/// Another seed or config cannot continue from a checkpoint; an unwritable checkpoint
/// stops the run with an error naming the file, not a panic.
#[test]
fn mismatched_or_unwritable_checkpoints_are_errors() {
    let mut cfg = Config::tiny(Algo::Nrowan);
    cfg.total_steps = 300;
    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpointing {
        path: dir.path().join("run.ckpt"),
        every_steps: 50,
    };
    train_resumable(&cfg, 1, &Device::Cpu, Some(&ck)).unwrap();
    let err = train_resumable(&cfg, 2, &Device::Cpu, Some(&ck))
        .unwrap_err()
        .to_string();
    assert!(err.contains("run.ckpt"), "{err}");
    let mut other = cfg.clone();
    other.log_interval = 7;
    assert!(train_resumable(&other, 1, &Device::Cpu, Some(&ck)).is_err());

    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let bad = Checkpointing {
        path: blocker.join("run.ckpt"),
        every_steps: 50,
    };
    let err = train_resumable(&cfg, 1, &Device::Cpu, Some(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&*blocker.to_string_lossy()), "{err}");
}
