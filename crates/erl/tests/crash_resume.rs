//! A RIM run killed with SIGKILL at random moments and restarted resumes from its
//! per-generation checkpoint and ends with the bits of an uninterrupted run; the
//! checkpoint on disk always loads, a whole one (issue 17, part 3; see
//! `candor_core::crashtest`).

use candle_core::Device;
use candor_core::checkpoint::{load_tensors, read_training_state, save_tensors};
use candor_core::crashtest::{child_dir, kill_and_compare, KillSchedule};
use candor_erl::train::{train_checkpointed, CheckpointState};
use candor_erl::{Config, Variant};

const FRAMES: usize = 8000;

fn config() -> Config {
    // Pendulum, population 4 × 200 steps + the RL episode: 1,000 frames a generation,
    // 8 generations; imitation on the odd RL episodes, copies on the even ones.
    let mut cfg = Config::tiny(Variant::Rim, "Pendulum-v1").unwrap();
    cfg.pop_size = 4;
    cfg.max_frames = FRAMES;
    cfg.imitation.steps = 50;
    cfg.synch_period = 2;
    cfg.threads = 1;
    cfg.q_bias_states = 5;
    cfg
}

/// The child: trains with a checkpoint after every generation (resumed from when
/// present), then writes the final checkpoint's tensors and the log without its
/// wall-clock seconds.
#[test]
#[ignore = "run by rim_training_survives_kills as a child process"]
fn child_trains_rim_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let ckpt = dir.join("train.ckpt");
    let mut log = train_checkpointed(&config(), 5, &Device::Cpu, &ckpt, 1).unwrap();
    log.seconds = 0.0;
    log.rollout_seconds = 0.0;
    log.update_seconds = 0.0;
    log.imitation_seconds = 0.0;
    std::fs::write(dir.join("log.json"), serde_json::to_vec(&log).unwrap()).unwrap();
    // The final checkpoint's tensors (population, buffer, networks, optimisers), sorted,
    // without the metadata (whose log holds wall-clock seconds).
    let ck = load_tensors(&ckpt, &Device::Cpu).unwrap();
    let mut tensors: Vec<(String, candle_core::Tensor)> = ck.tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    save_tensors(dir.join("final.safetensors"), &tensors, Default::default()).unwrap();
}

#[test]
fn rim_training_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let report = kill_and_compare(
        "child_trains_rim_with_checkpoints",
        root.path(),
        // Up to 60 % of the uninterrupted time: a start that resumes from generation g
        // must live through a process start and a generation to move the checkpoint on,
        // so shorter delays would keep killing the same generation.
        &KillSchedule {
            kills: 6,
            seed: 13,
            max_fraction: 0.6,
        },
        &["final.safetensors", "log.json"],
        |dir, _| {
            let ck = dir.join("train.ckpt");
            if ck.exists() {
                // A whole checkpoint: it loads and holds whole generations.
                let state: CheckpointState = read_training_state(&ck)?;
                assert!(state.frames > 0 && state.frames <= FRAMES + 1000);
                assert_eq!(state.log.generations.len(), state.generation);
                seen.push(state.generation);
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints after generations {seen:?}");
    assert!(report.kills_landed >= 2, "{report:?}");
}
