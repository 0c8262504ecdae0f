//! A TD3 run with Q-bias measurements, killed with SIGKILL at random moments and
//! restarted, resumes from its checkpoint (saved at episode ends) and ends with the bits
//! of an uninterrupted run: every network's weights, the evaluations, the Q-bias points
//! and the counters; every checkpoint on disk loads (issue 17, part 3; see
//! `candor_core::crashtest`).

use candle_core::Device;
use candor_core::checkpoint::read_training_state;
use candor_core::crashtest::{
    child_dir, kill_and_compare, write_report_summary, KillSchedule, ResumeFiles,
};
use candor_core::optim::sorted_vars;
use candor_core::{ReproduceOptions, Scale};
use candor_rl::Registry;
use candor_rl_ddpg::{train_resumable, Checkpointing, Config, Preset, QBiasConfig};

const TOTAL: usize = 2000;

fn tiny() -> Config {
    let mut cfg = Config::preset(Preset::Td3, "Pendulum-v1").with_q_bias(QBiasConfig {
        every: 500,
        states: 3,
        tail: 0.1,
    });
    cfg.learner.actor.hidden = vec![16, 16];
    cfg.learner.critic.hidden = vec![16, 16];
    cfg.train.total_steps = TOTAL;
    cfg.train.warmup_steps = 200;
    cfg.train.learning_starts = 200;
    cfg.train.batch_size = 16;
    cfg.train.buffer_capacity = 1500;
    cfg.train.eval_every = 400;
    cfg.train.eval_episodes = 1;
    cfg
}

/// The child: the run with a checkpoint at every episode end (200 steps), then its
/// final weights (as bits) and its log without the wall times.
#[test]
#[ignore = "run by ddpg_training_survives_kills as a child process"]
fn child_trains_td3_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let ck = Checkpointing {
        path: dir.join("run.ckpt"),
        every_steps: 200,
    };
    let (agent, mut log) =
        train_resumable(&tiny(), &Registry::default(), 4, &Device::Cpu, Some(&ck)).unwrap();
    let mut weights = Vec::new();
    for vm in agent.var_maps() {
        for (name, var) in sorted_vars(vm) {
            let v = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            weights.push((name, v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()));
        }
    }
    (log.seconds, log.update_seconds) = (0.0, 0.0);
    let write = |name: &str, bytes: Vec<u8>| {
        candor_core::fsio::write_atomic(dir.join(name), &bytes).unwrap();
    };
    write("weights.json", serde_json::to_vec(&weights).unwrap());
    write("log.json", serde_json::to_vec(&log).unwrap());
}

#[test]
fn ddpg_training_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let report = kill_and_compare(
        "child_trains_td3_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 6,
            seed: 3,
            max_fraction: 0.3,
        },
        &["weights.json", "log.json"],
        |dir, _| {
            let ck = dir.join("run.ckpt");
            if ck.exists() {
                // A whole checkpoint: it loads, and it was taken at an episode end.
                let s: serde_json::Value = read_training_state(&ck)?;
                let steps = s["run"]["trainer"]["steps"].as_u64().unwrap() as usize;
                assert!(
                    steps.is_multiple_of(200) && steps > 0 && steps < TOTAL,
                    "{steps}"
                );
                let evals = s["run"]["trainer"]["history"]["steps"]
                    .as_array()
                    .unwrap()
                    .len();
                assert_eq!(evals, 1 + steps / 400, "evaluations at {steps} steps");
                seen.push(steps);
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints at {seen:?}");
    // Two landed kills, one of them after a checkpoint: a resumed child runs only what
    // is left after its checkpoint, so a third kill lands only when the checkpoints
    // fall early (CI on a loaded machine saw 2 of 3 starts killed, checkpoints at steps
    // 522 and 1581).
    assert!(report.kills_landed >= 2, "{report:?}");
    assert!(!seen.is_empty(), "no kill landed after a checkpoint");
}

/// The child: the smoke-scale reproduction with `--resume` (checkpoints on), then its
/// claims and the tables that do not hold wall times.
#[test]
#[ignore = "run by ddpg_reproduce_survives_kills as a child process"]
fn child_reproduces_rl_ddpg_with_resume() {
    let Some(dir) = child_dir() else { return };
    let opts = ReproduceOptions {
        resume: true,
        ..ReproduceOptions::new(Scale::Smoke, 0, dir.join("out"))
    };
    let report = candor_rl_ddpg::reproduce::run(&opts).unwrap();
    write_report_summary(&dir, &report, 3).unwrap();
}

/// `cargo xtask reproduce --resume` after a kill: the reproduction, killed at random
/// moments and restarted with `resume`, continues its in-progress runs from their
/// checkpoints and reuses its finished ones, and reports the same claims and tables as
/// an uninterrupted one; every checkpoint and finished run on disk loads.
#[test]
fn ddpg_reproduce_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut files = ResumeFiles::default();
    let report = kill_and_compare(
        "child_reproduces_rl_ddpg_with_resume",
        root.path(),
        &KillSchedule {
            kills: 4,
            seed: 5,
            max_fraction: 0.3,
        },
        &["report.json"],
        |dir, _| files.check(&dir.join("out"), &["checkpoints", "runs"]),
    )
    .unwrap();
    eprintln!("{report:?}; seen {files:?}");
    assert!(report.kills_landed >= 2, "{report:?}");
}
