//! Training and evaluation on the synthetic proxy: losses fall for every detector,
//! metrics are sane, runs are reproducible and resumable, the reference metric
//! vectors of the SPSL card.

use candle_core::Device;
use candle_nn::VarMap;
use candor_core::init::sorted_vars;
use candor_forgery::data::{synthetic, Sample};
use candor_forgery::eval::{evaluate, frame_metrics, metrics_from_scores, Metrics, SelectMetric};
use candor_forgery::model::{Detector, DetectorConfig, MatConfig, SpslConfig, VanillaConfig};
use candor_forgery::train::{train, EpochLog, RunOptions, TrainConfig};

use crate::common;
use common::{proxy, proxy_with, train_config as cfg};

fn snapshot(vm: &VarMap) -> Vec<(String, Vec<f32>)> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

fn run(
    det_cfg: &DetectorConfig,
    seed: u64,
    train_set: &[Sample],
    val: Option<&[Sample]>,
    cfg: &TrainConfig,
    opts: &mut RunOptions<'_>,
) -> (VarMap, Box<dyn Detector>, Vec<EpochLog>) {
    let (vm, mut det) = det_cfg.build_seeded(seed, &Device::Cpu).unwrap();
    let report = train(det.as_mut(), &vm, train_set, val, cfg, opts).unwrap();
    (vm, det, report.history)
}

fn check_metrics(m: &Metrics, samples: &[Sample]) {
    assert_eq!(m.frames, samples.len());
    let mut keys: Vec<String> = samples.iter().map(Sample::video_key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(m.videos, keys.len());
    for v in [m.acc, m.auc, m.eer, m.ap, m.video_auc, m.video_acc] {
        assert!((0.0..=1.0).contains(&v), "{m:?}");
    }
}

#[test]
fn loss_falls_for_every_detector_and_metrics_are_sane() {
    // An easy, balanced 48-px proxy: nearest-neighbour ×3–4 up-sampling of
    // large, fully blended regions; 8 real + 8 fake training frames (class
    // prior: loss ln 2), so a falling loss means the detector learns the trace.
    let dir = tempfile::tempdir().unwrap();
    let (train_set, val) = proxy_with(
        dir.path(),
        synthetic::Config {
            image_size: 48,
            videos: [4, 2, 2],
            frames_per_video: 2,
            methods: vec![synthetic::Method::Nearest],
            scales: vec![3.0, 4.0],
            alphas: vec![1.0],
            mask_axes: [0.5, 0.8],
            photos: false,
            textures: 6,
            jpeg_quality: None,
            ..synthetic::Config::default()
        },
    );
    assert_eq!(train_set.len(), 16);
    let cases = [
        (DetectorConfig::Vanilla(VanillaConfig::tiny()), 20),
        (DetectorConfig::Spsl(SpslConfig::tiny()), 20),
        (DetectorConfig::Mat(MatConfig::tiny()), 12),
    ];
    for (det_cfg, epochs) in cases {
        let mut seen = 0;
        let mut count = |_: &EpochLog| seen += 1;
        let mut opts = RunOptions {
            on_epoch: Some(&mut count),
            ..RunOptions::default()
        };
        let c = TrainConfig {
            image_size: 48,
            ..cfg(epochs)
        };
        let (_, det, history) = run(&det_cfg, 0, &train_set, None, &c, &mut opts);
        assert_eq!(seen, epochs);
        assert_eq!(history.len(), epochs);
        // MAT's total includes the RIL inter-head term, divided by α, which
        // decays ×0.9 per epoch: in a short run it grows by design while the
        // centres are still close together. Its classification loss must fall.
        let loss = |h: &EpochLog| {
            if det.name() == "mat" {
                h.parts.iter().find(|(n, _)| n == "ce").unwrap().1
            } else {
                h.mean_loss
            }
        };
        let (first, last) = (loss(&history[0]), loss(&history[epochs - 1]));
        assert!(
            last < first,
            "{}: loss {first:.4} → {last:.4} ({history:?})",
            det.name()
        );
        assert!(history.iter().all(|h| h.steps == 2 && h.val.is_none()));
        let m = evaluate(det.as_ref(), &val, &c.eval_options(), &Device::Cpu).unwrap();
        check_metrics(&m, &val);
    }
}

#[test]
fn same_seed_same_weights_and_validation_picks_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (train_set, val) = proxy(dir.path());
    let det_cfg = DetectorConfig::Spsl(SpslConfig::tiny());
    let c = cfg(2);
    let best = dir.path().join("best.safetensors");
    let mut opts = RunOptions {
        best: Some(best.clone()),
        ..RunOptions::default()
    };
    let (vm_a, _, hist) = run(&det_cfg, 7, &train_set, Some(&val), &c, &mut opts);
    let (vm_b, _, _) = run(
        &det_cfg,
        7,
        &train_set,
        None,
        &c,
        &mut RunOptions::default(),
    );
    assert_eq!(snapshot(&vm_a), snapshot(&vm_b));
    // Another training seed (same initial weights) gives other weights.
    let (vm_c, _, _) = run(
        &det_cfg,
        7,
        &train_set,
        None,
        &TrainConfig {
            seed: 1,
            ..c.clone()
        },
        &mut RunOptions::default(),
    );
    assert_ne!(snapshot(&vm_a), snapshot(&vm_c));
    // Validation every epoch; the best epoch's weights were written.
    for h in &hist {
        check_metrics(h.val.as_ref().unwrap(), &val);
    }
    assert!(best.exists());
}

#[test]
fn resumed_run_repeats_the_uninterrupted_one_across_mats_stage_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let (train_set, _) = proxy(dir.path());
    // One backbone-only epoch, then MAT with a fresh optimiser: one step each.
    let det_cfg = DetectorConfig::Mat(MatConfig {
        pretrain_epochs: 1,
        ..MatConfig::tiny()
    });
    let c = TrainConfig {
        max_steps_per_epoch: Some(1),
        ..cfg(3)
    };
    let (vm_full, _, full) = run(
        &det_cfg,
        3,
        &train_set,
        None,
        &c,
        &mut RunOptions::default(),
    );
    assert_eq!(full[0].parts.len(), 1, "backbone stage: CE only");
    assert_eq!(full[1].parts.len(), 4, "MAT stage: CE, RIL, AGDA CE, match");

    let ck = dir.path().join("run.safetensors");
    let mut opts = RunOptions {
        checkpoint: Some(ck.clone()),
        resume: true,
        ..RunOptions::default()
    };
    // Interrupted after the first MAT epoch …
    let (_, _, part) = run(
        &det_cfg,
        3,
        &train_set,
        None,
        &TrainConfig {
            epochs: 2,
            ..c.clone()
        },
        &mut opts,
    );
    assert_eq!(part.len(), 2);
    // … and resumed into a freshly built model with another initialisation seed.
    let (vm_new, mut det) = det_cfg.build_seeded(99, &Device::Cpu).unwrap();
    let report = train(det.as_mut(), &vm_new, &train_set, None, &c, &mut opts).unwrap();
    assert_eq!(report.resumed_from, Some(2));
    assert_eq!(report.history.len(), 3);
    let timeless = |h: &[EpochLog]| -> Vec<EpochLog> {
        h.iter()
            .map(|e| EpochLog {
                seconds: 0.0,
                ..e.clone()
            })
            .collect()
    };
    assert_eq!(timeless(&report.history), timeless(&full));
    assert_eq!(snapshot(&vm_new), snapshot(&vm_full));
    // A different training configuration cannot resume from it.
    let (vm_x, mut det_x) = det_cfg.build_seeded(3, &Device::Cpu).unwrap();
    let other = TrainConfig {
        batch_size: 4,
        ..c.clone()
    };
    assert!(train(det_x.as_mut(), &vm_x, &train_set, None, &other, &mut opts).is_err());
}

#[test]
fn reference_metrics_and_edge_cases() {
    // SPSL card vectors (scikit-learn 1.9.1).
    let y = [
        false, false, true, true, false, true, true, false, true, false,
    ];
    let p = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.4, 0.2, 0.65, 0.7];
    let m = frame_metrics(&p, &y).unwrap();
    assert!((m.auc - 0.76).abs() < 1e-12);
    assert!((m.eer - 0.2).abs() < 1e-12);
    assert!((m.ap - 0.789_285_714_285_714_3).abs() < 1e-9);
    assert!((m.acc - 0.7).abs() < 1e-12);
    let tied = frame_metrics(&[0.5; 4], &[false, true, false, true]).unwrap();
    assert_eq!((tied.auc, tied.ap), (0.5, 0.5));
    // One class: AUC/EER/AP undefined (NaN), accuracy defined; NaN scores: error.
    let one = frame_metrics(&[0.2, 0.9], &[true, true]).unwrap();
    assert!(one.auc.is_nan() && one.eer.is_nan() && one.ap.is_nan());
    assert_eq!(one.acc, 0.5);
    assert!(frame_metrics(&[f64::NAN, 0.1], &[true, false]).is_err());

    // Video grouping through samples (video_key) and NaN ↔ null in JSON.
    let groups = [0, 0, 2, 2, 1, 3, 3, 1, 3, 1];
    let samples: Vec<Sample> = groups
        .iter()
        .zip(y)
        .map(|(&g, l)| Sample {
            path: format!("{g}/f.png").into(),
            label: u32::from(l),
            method: l.then(|| "m".to_string()),
            video_id: format!("v{g}"),
        })
        .collect();
    let scores: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let m = metrics_from_scores(&scores, &samples).unwrap();
    assert_eq!((m.frames, m.videos), (10, 4));
    assert_eq!(m.video_auc, 1.0);
    let reals: Vec<Sample> = samples.iter().filter(|s| s.label == 0).cloned().collect();
    let r = metrics_from_scores(&vec![0.1; reals.len()], &reals).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"auc\":null"), "{json}");
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert!(back.auc.is_nan() && back.acc == 1.0);
    assert!(metrics_from_scores(&scores[..3], &samples).is_err());
}

#[test]
fn train_configs_validate_and_round_trip() {
    for c in [
        TrainConfig::mat_official(),
        TrainConfig::mat_deepfakebench(),
        TrainConfig::spsl_deepfakebench(),
        TrainConfig::vanilla(),
        TrainConfig::quick(),
        TrainConfig::smoke(),
    ] {
        c.validate().unwrap();
        let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
    assert_eq!(TrainConfig::mat_official().select_metric, SelectMetric::Acc);
    assert!(serde_json::from_str::<TrainConfig>(r#"{"epochs": 1, "lr": 0.1}"#).is_err());
    let (vm, mut det) = DetectorConfig::Vanilla(VanillaConfig::tiny())
        .build_seeded(0, &Device::Cpu)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (train_set, _) = proxy(dir.path());
    for bad in [
        TrainConfig {
            batch_size: 1,
            ..TrainConfig::smoke()
        },
        TrainConfig {
            image_size: 16,
            ..TrainConfig::smoke()
        },
        TrainConfig {
            batch_size: 100,
            ..TrainConfig::smoke()
        },
    ] {
        let r = train(
            det.as_mut(),
            &vm,
            &train_set,
            None,
            &bad,
            &mut RunOptions::default(),
        );
        assert!(r.is_err(), "{bad:?}");
    }
    assert!(train(
        det.as_mut(),
        &vm,
        &[],
        None,
        &TrainConfig::smoke(),
        &mut RunOptions::default()
    )
    .is_err());
}
