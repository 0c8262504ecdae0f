//! PointNet training killed with SIGKILL at random moments and restarted resumes from
//! its per-epoch checkpoint and ends with the bits of an uninterrupted run; the
//! checkpoint on disk always loads (issue 17, part 3; see `candor_core::crashtest`).

use candle_core::{DType, Device};
use candle_nn::VarMap;
use candor_core::checkpoint::read_training_state;
use candor_core::crashtest::{child_dir, kill_and_compare, KillSchedule};
use candor_core::init::seeded_var_builder;
use candor_pointcloud_defense::data::{write_synthetic_modelnet, ModelNet40, SyntheticConfig};
use candor_pointcloud_defense::model::{save_pointnet, PointNet, PointNetConfig};
use candor_pointcloud_defense::train::{train, TrainConfig, TrainReport};

fn train_cfg() -> TrainConfig {
    TrainConfig {
        epochs: 40,
        ..TrainConfig::tiny()
    }
}

/// The child: trains with a checkpoint after every epoch (resuming from it), then writes
/// the final weights and the training report.
#[test]
#[ignore = "run by pointnet_training_survives_kills as a child process"]
fn child_trains_pointnet_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let data = ModelNet40::load(dir.parent().unwrap().join("data")).unwrap();
    let cfg = PointNetConfig::tiny();
    let vm = VarMap::new();
    let mut net =
        PointNet::new(seeded_var_builder(&vm, 1, DType::F32, &Device::Cpu), &cfg).unwrap();
    let ck = dir.join("ck.safetensors");
    let report = train(&mut net, &vm, &data.train, None, &train_cfg(), Some(&ck)).unwrap();
    save_pointnet(dir.join("final.safetensors"), &vm, &cfg).unwrap();
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string(&report).unwrap(),
    )
    .unwrap();
}

#[test]
fn pointnet_training_survives_kills() {
    let root = tempfile::tempdir().unwrap();
    let data_cfg = SyntheticConfig {
        num_classes: 4,
        train_per_class: 16,
        test_per_class: 2,
        num_points: 64,
        clouds_per_file: 40,
        seed: 3,
        ..SyntheticConfig::tiny()
    };
    write_synthetic_modelnet(root.path().join("data"), &data_cfg).unwrap();
    let mut epochs = Vec::new();
    let report = kill_and_compare(
        "child_trains_pointnet_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 5,
            seed: 11,
            max_fraction: 0.3,
        },
        &["final.safetensors", "report.json"],
        |dir, _| {
            let ck = dir.join("ck.safetensors");
            if ck.exists() {
                // A whole checkpoint: it loads, with one history entry per epoch.
                let state: TrainReport = read_training_state(&ck)?;
                assert!(state.history.iter().enumerate().all(|(i, e)| e.epoch == i));
                epochs.push(state.history.len());
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints at epochs {epochs:?}");
    assert!(report.kills_landed >= 2, "{report:?}");
}
