//! An NROWAN-DQN run (noisy networks, Adam plus the σ-SGD), killed with SIGKILL at
//! random moments and restarted, resumes from its checkpoint (saved at episode ends) and
//! ends with the bits of an uninterrupted run: both networks and the training log; every
//! checkpoint on disk loads (issue 17, part 3; see `candor_core::crashtest`).

use candle_core::Device;
use candor_core::checkpoint::read_training_state;
use candor_core::crashtest::{
    child_dir, kill_and_compare, write_report_summary, KillSchedule, ResumeFiles,
};
use candor_core::optim::sorted_vars;
use candor_core::{ReproduceOptions, Scale};
use candor_rl_noisy::{train_resumable, Algo, Checkpointing, Config};

const TOTAL: usize = 3000;

fn tiny() -> Config {
    let mut cfg = Config::tiny(Algo::Nrowan);
    cfg.total_steps = TOTAL;
    cfg.buffer_capacity = 2000;
    cfg
}

/// The child: the run with a checkpoint at the first episode end every 100 steps, then
/// its final weights (as bits) and its log without the wall times.
#[test]
#[ignore = "run by dqn_training_survives_kills as a child process"]
fn child_trains_nrowan_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let ck = Checkpointing {
        path: dir.join("run.ckpt"),
        every_steps: 100,
    };
    let (agent, mut log) = train_resumable(&tiny(), 8, &Device::Cpu, Some(&ck)).unwrap();
    let weights: Vec<(String, Vec<u32>)> = [agent.online_varmap(), agent.target_varmap()]
        .into_iter()
        .flat_map(sorted_vars)
        .map(|(n, v)| {
            let x = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (n, x.iter().map(|f| f.to_bits()).collect())
        })
        .collect();
    (log.seconds, log.update_seconds) = (0.0, 0.0);
    let write = |name: &str, bytes: Vec<u8>| {
        candor_core::fsio::write_atomic(dir.join(name), &bytes).unwrap();
    };
    write("weights.json", serde_json::to_vec(&weights).unwrap());
    write("log.json", serde_json::to_vec(&log).unwrap());
}

#[test]
fn dqn_training_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let report = kill_and_compare(
        "child_trains_nrowan_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 6,
            seed: 4,
            max_fraction: 0.3,
        },
        &["weights.json", "log.json"],
        |dir, _| {
            let ck = dir.join("run.ckpt");
            if ck.exists() {
                // A whole checkpoint: it loads, and it was taken at an episode end.
                let s: serde_json::Value = read_training_state(&ck)?;
                let run = &s["run"];
                let steps = run["steps"].as_u64().unwrap() as usize;
                let last_end = run["log"]["episodes"]
                    .as_array()
                    .and_then(|e| e.last())
                    .map(|e| e["end_step"].as_u64().unwrap() as usize);
                assert_eq!(last_end, Some(steps), "not at an episode end");
                assert!((100..TOTAL).contains(&steps), "{steps}");
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
#[ignore = "run by noisy_reproduce_survives_kills as a child process"]
fn child_reproduces_rl_noisy_with_resume() {
    let Some(dir) = child_dir() else { return };
    let opts = ReproduceOptions {
        resume: true,
        ..ReproduceOptions::new(Scale::Smoke, 0, dir.join("out"))
    };
    let report = candor_rl_noisy::reproduce::run(&opts).unwrap();
    write_report_summary(&dir, &report, 3).unwrap();
}

/// `cargo xtask reproduce --resume` after a kill: the reproduction, killed at random
/// moments and restarted with `resume`, continues its in-progress runs from their
/// checkpoints and reuses its finished ones, and reports the same claims and tables as
/// an uninterrupted one; every checkpoint and finished run on disk loads.
#[test]
fn noisy_reproduce_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut files = ResumeFiles::default();
    let report = kill_and_compare(
        "child_reproduces_rl_noisy_with_resume",
        root.path(),
        &KillSchedule {
            kills: 4,
            seed: 6,
            max_fraction: 0.3,
        },
        &["report.json"],
        |dir, _| files.check(&dir.join("out"), &["checkpoints"]),
    )
    .unwrap();
    eprintln!("{report:?}; seen {files:?}");
    assert!(report.kills_landed >= 2, "{report:?}");
}
