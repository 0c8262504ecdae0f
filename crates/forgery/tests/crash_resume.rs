//! MAT training killed with SIGKILL at random moments and restarted resumes from its
//! per-epoch checkpoint, across the backbone → MAT stage boundary, and ends with the
//! bits of an uninterrupted run; the checkpoint on disk always loads (issue 17, part 3;
//! see `candor_core::crashtest`).

use candle_core::Device;
use candor_core::checkpoint::{read_training_state, save_varmap};
use candor_core::crashtest::{child_dir, kill_and_compare, KillSchedule};
use candor_forgery::data::synthetic;
use candor_forgery::model::{DetectorConfig, MatConfig};
use candor_forgery::train::{train, EpochLog, RunOptions, TrainConfig};

const EPOCHS: usize = 8;

mod common;

/// The child: one backbone-only epoch, then MAT, with a checkpoint after every epoch
/// (resumed from when present); writes the final weights and the epoch logs.
#[test]
#[ignore = "run by mat_training_survives_kills as a child process"]
fn child_trains_mat_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let data = dir.parent().unwrap().join("data");
    let (train_set, _) = common::read_proxy(&data);
    let det_cfg = DetectorConfig::Mat(MatConfig {
        pretrain_epochs: 1,
        ..MatConfig::tiny()
    });
    let cfg = TrainConfig {
        max_steps_per_epoch: Some(2),
        ..common::train_config(EPOCHS)
    };
    let (vm, mut det) = det_cfg.build_seeded(5, &Device::Cpu).unwrap();
    let mut opts = RunOptions {
        checkpoint: Some(dir.join("train.ckpt")),
        resume: true,
        ..RunOptions::default()
    };
    let report = train(det.as_mut(), &vm, &train_set, None, &cfg, &mut opts).unwrap();
    save_varmap(&vm, dir.join("final.safetensors")).unwrap();
    // Wall-clock seconds differ between runs; everything else must not.
    let logs: Vec<EpochLog> = report
        .history
        .iter()
        .map(|e| EpochLog {
            seconds: 0.0,
            ..e.clone()
        })
        .collect();
    std::fs::write(
        dir.join("history.json"),
        serde_json::to_string(&logs).unwrap(),
    )
    .unwrap();
}

/// What the test reads back from a checkpoint's metadata.
#[derive(serde::Deserialize)]
struct Done {
    epochs_done: usize,
}

#[test]
fn mat_training_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    synthetic::generate(&common::proxy_config(), root.path().join("data")).unwrap();
    let mut epochs = Vec::new();
    let report = kill_and_compare(
        "child_trains_mat_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 5,
            seed: 17,
            max_fraction: 0.3,
        },
        &["final.safetensors", "history.json"],
        |dir, _| {
            let ck = dir.join("train.ckpt");
            if ck.exists() {
                // A whole checkpoint: it loads and counts whole epochs.
                let state: Done = read_training_state(&ck)?;
                assert!((1..=EPOCHS).contains(&state.epochs_done));
                epochs.push(state.epochs_done);
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints at epochs {epochs:?}");
    assert!(report.kills_landed >= 2, "{report:?}");
}
