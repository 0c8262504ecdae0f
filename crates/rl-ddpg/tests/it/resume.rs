//! A run stopped at a checkpoint and resumed in a fresh process state (new loop, new
//! learner) ends with the same bits as a run never stopped: weights of every network,
//! evaluations, Q-bias points, counters (issue 17, part 3).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candor_core::optim::sorted_vars;
use candor_core::{Error, Result};
use candor_rl::{OffPolicyTrainer, Registry, TrainerState};
use candor_rl_ddpg::{
    train, train_resumable, Checkpointing, Config, Ddpg, Preset, QBiasConfig, RunLog,
};

fn small(preset: Preset) -> Config {
    let mut cfg = Config::preset(preset, "Pendulum-v1").with_q_bias(QBiasConfig {
        every: 300,
        states: 3,
        tail: 0.1,
    });
    cfg.learner.actor.hidden = vec![16, 16];
    cfg.learner.critic.hidden = vec![16, 16];
    cfg.train.total_steps = 1000;
    cfg.train.warmup_steps = 150;
    cfg.train.learning_starts = 150;
    cfg.train.batch_size = 16;
    cfg.train.buffer_capacity = 700; // wraps before the end
    cfg.train.eval_every = 250;
    cfg.train.eval_episodes = 1;
    cfg.train.fresh_usage_cycle = Some(100);
    cfg
}

/// Every variable of the learner (online and target networks), as bits, by name.
fn weights(agent: &Ddpg) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    for (i, vm) in agent.var_maps().into_iter().enumerate() {
        for (name, var) in sorted_vars(vm) {
            let v = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            out.push((
                format!("{i}/{name}"),
                v.iter().map(|x| x.to_bits()).collect(),
            ));
        }
    }
    out
}

/// The parts of a log that must not depend on interruptions (not the wall times).
fn outcome(log: &RunLog) -> String {
    format!(
        "{:?} {:?} {} {} {} {:?}",
        log.history, log.q_bias, log.steps, log.updates, log.actor_updates, log.fresh
    )
}

/// The loop's own pieces: stop at the first episode end after 500 steps, save the
/// learner and the loop's snapshot with `Ddpg::save_training`, then load them into a
/// new learner and loop (built with another seed, so nothing survives by accident) and
/// finish; TD3 (twin critics, delayed actor, target smoothing noise) and DDPG.
#[test]
fn a_run_resumed_from_its_checkpoint_ends_bit_identical() {
    for preset in [Preset::Td3, Preset::Ddpg] {
        let mut cfg = small(preset);
        cfg.q_bias = None;
        cfg.train.store_states = false;
        let (full, full_log) = train(&cfg, 5, &Device::Cpu).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let reg = Registry::default();
        let mut trainer = OffPolicyTrainer::new(&cfg.train, &reg, 5).unwrap();
        let mut agent = Ddpg::new(&cfg.learner, 3, 1, 5, &Device::Cpu).unwrap();
        let stopped = trainer.run_with(&mut agent, |t, a, ev| {
            if ev.episode.is_some() && ev.step > 500 {
                let snap = t.snapshot()?;
                a.save_training(&path, &snap.tensors, &snap.state)?;
                return Err(Error::invalid("stop"));
            }
            Ok(())
        });
        assert!(stopped.is_err());
        assert_eq!(trainer.steps_done(), 600);
        drop((trainer, agent));

        let mut agent = Ddpg::new(&cfg.learner, 3, 1, 99, &Device::Cpu).unwrap();
        let (state, tensors): (TrainerState, HashMap<String, Tensor>) =
            agent.load_training(&path).unwrap();
        let mut trainer = OffPolicyTrainer::new(&cfg.train, &reg, 99).unwrap();
        trainer.restore(&state, &tensors).unwrap();
        trainer.run(&mut agent).unwrap();

        assert!(
            weights(&full) == weights(&agent),
            "{preset}: weights differ"
        );
        assert_eq!(full.updates_done(), agent.updates_done(), "{preset}");
        assert_eq!(&full_log.history, trainer.history(), "{preset}");
        assert_eq!(full_log.history.len(), 5);
    }
}

/// `train_resumable` end to end, with Q-bias measurements and stored simulator states:
/// a finished run leaves its last checkpoint (at the episode end of step 800, the first
/// at least 300 steps after the one at 400), and a second call continues from it to the
/// same bits as a run without checkpoints.
#[test]
fn train_resumable_continues_from_its_file() {
    let cfg = small(Preset::Rud);
    let (full, full_log) = train(&cfg, 2, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpointing {
        path: dir.path().join("sub/run.ckpt"),
        every_steps: 300,
    };
    let reg = Registry::default();
    let (a, log_a) = train_resumable(&cfg, &reg, 2, &Device::Cpu, Some(&ck)).unwrap();
    assert!(weights(&full) == weights(&a));
    assert_eq!(outcome(&full_log), outcome(&log_a));
    assert_eq!(full_log.q_bias.len(), 3);

    let (b, log_b) = train_resumable(&cfg, &reg, 2, &Device::Cpu, Some(&ck)).unwrap();
    assert!(
        weights(&full) == weights(&b),
        "the resumed run's weights differ"
    );
    assert_eq!(outcome(&full_log), outcome(&log_b));

    // Another seed or config cannot continue from it; a bad period is an error.
    let err = train_resumable(&cfg, &reg, 3, &Device::Cpu, Some(&ck))
        .unwrap_err()
        .to_string();
    assert!(err.contains("run.ckpt"), "{err}");
    let mut other = cfg.clone();
    other.train.eval_every = 500;
    assert!(train_resumable(&other, &reg, 2, &Device::Cpu, Some(&ck)).is_err());
    let zero = Checkpointing {
        every_steps: 0,
        ..ck.clone()
    };
    assert!(train_resumable(&cfg, &reg, 2, &Device::Cpu, Some(&zero)).is_err());
}

/// A checkpoint that cannot be written (its folder is a file) stops the run with an
/// error naming the file, not a panic.
#[test]
fn an_unwritable_checkpoint_is_an_error() -> Result<()> {
    let mut cfg = small(Preset::Td3);
    cfg.q_bias = None;
    cfg.train.store_states = false;
    cfg.train.total_steps = 500;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let ck = Checkpointing {
        path: blocker.join("run.ckpt"),
        every_steps: 100,
    };
    let err = train_resumable(&cfg, &Registry::default(), 1, &Device::Cpu, Some(&ck))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&*blocker.to_string_lossy()), "{err}");
    Ok(())
}
