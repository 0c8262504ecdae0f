//! A training process killed with SIGKILL at random moments and restarted resumes from
//! its last checkpoint and ends with the same bits as an uninterrupted run; the
//! checkpoint on disk always loads (old or new, never torn). A write that runs out of
//! space is an error and leaves the earlier file intact (issue 17, part 3).

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_training, save_training, save_varmap};
use candor_core::crashtest::{
    child_dir, child_test, kill_and_compare, KillSchedule, CHILD_DIR_ENV,
};
use candor_core::data::shuffled_batches;
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::nn::{linear, Linear};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::rng::dropout;
use candor_core::SeededRng;

const EPOCHS: usize = 400;

#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    epoch: usize,
    losses: Vec<f32>,
}

fn model(vm: &VarMap) -> (Linear, Linear) {
    let vb = seeded_var_builder(vm, 4, DType::F32, &Device::Cpu);
    (
        linear(8, 64, vb.pp("l1")).unwrap(),
        linear(64, 3, vb.pp("l2")).unwrap(),
    )
}

fn optimiser(vm: &VarMap) -> Adam {
    let vars = sorted_vars(vm).into_iter().map(|(_, v)| v).collect();
    Adam::new(
        vars,
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )
    .unwrap()
}

/// The child: trains `EPOCHS` epochs with a checkpoint after each, resuming from it.
#[test]
#[ignore = "run by crash_and_resume_* as a child process"]
fn child_trains_with_checkpoints() {
    let Some(dir) = child_dir() else { return };
    let ck = dir.join("ck.safetensors");
    let vm = VarMap::new();
    let (l1, l2) = model(&vm);
    let mut opt = optimiser(&vm);
    let mut state = if ck.exists() {
        load_training::<State>(&ck, &vm, &mut opt).unwrap()
    } else {
        State {
            epoch: 0,
            losses: Vec::new(),
        }
    };
    let mut data_rng = SeededRng::new(77);
    let x = data_rng
        .normal_tensor(0.0, 1.0, (256, 8), DType::F32, &Device::Cpu)
        .unwrap();
    let y = x
        .narrow(1, 0, 3)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap();
    while state.epoch < EPOCHS {
        // Every draw of an epoch comes from a stream derived from (seed, epoch).
        let mut rng = SeededRng::derive(9, &format!("epoch{}", state.epoch));
        for b in shuffled_batches(256, 64, false, &mut rng).unwrap() {
            let idx = Tensor::new(
                b.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                &Device::Cpu,
            )
            .unwrap();
            let h = l1
                .forward(&x.index_select(&idx, 0).unwrap())
                .unwrap()
                .relu()
                .unwrap();
            let h = dropout(&h, 0.1, &mut rng).unwrap();
            let logp = candle_nn::ops::log_softmax(&l2.forward(&h).unwrap(), D::Minus1).unwrap();
            let loss = candle_nn::loss::nll(&logp, &y.index_select(&idx, 0).unwrap()).unwrap();
            state.losses.push(loss.to_scalar::<f32>().unwrap());
            opt.backward_step(&loss).unwrap();
        }
        state.epoch += 1;
        save_training(&ck, &vm, &opt, &state).unwrap();
    }
    save_varmap(&vm, dir.join("final.safetensors")).unwrap();
    std::fs::write(
        dir.join("losses.json"),
        serde_json::to_string(&state.losses).unwrap(),
    )
    .unwrap();
}

#[test]
fn crash_and_resume_gives_the_uninterrupted_bits() {
    let root = tempfile::tempdir().unwrap();
    let mut epochs_seen = Vec::new();
    let report = kill_and_compare(
        "child_trains_with_checkpoints",
        root.path(),
        &KillSchedule {
            kills: 6,
            seed: 3,
            max_fraction: 0.3,
        },
        &["final.safetensors", "losses.json"],
        |dir, _| {
            // The checkpoint on disk is always a whole one.
            let ck = dir.join("ck.safetensors");
            if ck.exists() {
                let vm = VarMap::new();
                let _ = model(&vm);
                let mut opt = optimiser(&vm);
                let s: State = load_training(&ck, &vm, &mut opt)?;
                assert_eq!(s.losses.len(), s.epoch * 4);
                epochs_seen.push(s.epoch);
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("{report:?}; checkpoints at epochs {epochs_seen:?}");
    assert!(report.kills_landed >= 3, "{report:?}");
}

/// The child of the disk-full test: with its file-size limit at 4 KiB (set by the
/// parent), overwriting a small checkpoint with a large one must fail with an error
/// naming the file and leave the small one intact.
#[test]
#[ignore = "run by a_full_disk_is_an_error_and_keeps_the_old_checkpoint as a child"]
fn child_writes_past_its_file_size_limit() {
    let Some(dir) = child_dir() else { return };
    let ck = dir.join("ck.bin");
    candor_core::fsio::write_atomic(&ck, b"old checkpoint").unwrap();
    let err = candor_core::fsio::write_atomic(&ck, &vec![7u8; 1 << 16]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ck.bin"), "{msg}");
    assert_eq!(std::fs::read(&ck).unwrap(), b"old checkpoint");
    let n = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(n, 1, "the failed write left a temporary file");
    std::fs::write(dir.join("child-ok"), msg).unwrap();
}

#[test]
fn a_full_disk_is_an_error_and_keeps_the_old_checkpoint() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut c = child_test("child_writes_past_its_file_size_limit");
    c.env(CHILD_DIR_ENV, dir.path());
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child's report lives outside the size limit's reach (a few bytes).
    let msg = std::fs::read_to_string(dir.path().join("child-ok")).unwrap();
    assert!(msg.contains("large") || msg.contains("27"), "{msg}");
}
