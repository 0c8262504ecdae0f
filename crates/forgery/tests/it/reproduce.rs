//! The reproduction end to end at smoke scale: report, claims, plots, seeds and
//! loadable checkpoints; the frame-folder (paper-scale) code path on a small
//! candor-layout tree; the clear error without `--data`.

use candle_core::Device;
use candor_core::{ReproduceOptions, Scale};
use candor_forgery::data::{load_batch, synthetic};
use candor_forgery::model::load_detector;
use candor_forgery::reproduce::{run, run_setup, DataPlan, PositivePlan, Setup};

#[test]
fn smoke_run_reports_claims_plots_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&ReproduceOptions::new(Scale::Smoke, 1, dir.path())).unwrap();
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "fg.sanity-negative",
            "fg.sanity-positive",
            "fg.mat-beats-vanilla",
            "fg.spsl-transfers",
            "fg.shallow"
        ]
    );
    // Every claim carries its test; the three claims are one Holm family.
    for c in &report.claims {
        assert_eq!(c.test.alpha, 0.05, "{}", c.id);
        if c.id.starts_with("fg.sanity") {
            assert!(c.test.p_adjusted.is_none(), "{}", c.id);
        }
    }
    let data = &report.data;
    assert!(data.contains("pilot with the vanilla Xception"), "{data}");
    assert!(report.proxy);
    for p in &report.plots {
        assert!(dir.path().join(p).is_file(), "{p}");
    }
    assert!(report.plots.iter().any(|p| p == "mat_attention_fake.png"));
    report.write(dir.path()).unwrap();
    let names = [
        "xception",
        "efficientnet",
        "mat",
        "mat-no-agda",
        "spsl",
        "spsl-full",
        "spsl-rgb",
        "efficientnet-seed1",
        "mat-seed1",
        "spsl-seed1",
        "spsl-rgb-seed1",
        "control-negative",
        "control-positive",
    ];
    for p in [
        "auc_by_test_set.png",
        "auc_differences.png",
        "controls.png",
        "val_auc.png",
    ] {
        assert!(report.plots.iter().any(|x| x == p), "{p}");
    }
    // Every run left a checkpoint that rebuilds its detector without other input.
    let frame = std::fs::read_dir(dir.path().join("synthetic-ff/real"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let frame = std::fs::read_dir(frame)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for n in names {
        let path = dir.path().join(format!("checkpoints/{n}.safetensors"));
        let loaded = load_detector(&path, None, &Device::Cpu).unwrap();
        assert_eq!(loaded.input.size, Some((32, 32)), "{n}");
        let sample = candor_forgery::data::Sample {
            path: frame.clone(),
            label: 0,
            method: None,
            video_id: "x".into(),
        };
        let (x, _) = load_batch(&[sample], &loaded.input).unwrap();
        let s = loaded.detector.scores(&x).unwrap();
        assert!(
            s[0].is_finite() && (0.0..=1.0).contains(&s[0]),
            "{n}: {s:?}"
        );
    }
    // The run-details table lists every run.
    let details = report
        .tables
        .iter()
        .find(|t| t.name == "Run details")
        .unwrap();
    let labels: Vec<&str> = details.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, names);
}

#[test]
fn paper_scale_needs_data() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(&ReproduceOptions::new(Scale::Paper, 0, dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--data"), "{err}");
}

#[test]
fn frame_folder_path_trains_cross_runs_separately() {
    let data = tempfile::tempdir().unwrap();
    let cfg = synthetic::Config {
        seed: 5,
        image_size: 32,
        videos: [4, 2, 2],
        frames_per_video: 2,
        textures: 3,
        methods: vec![synthetic::Method::Bilinear, synthetic::Method::Nearest],
        ..synthetic::Config::default()
    };
    synthetic::generate(&cfg, data.path()).unwrap();
    let mut setup = Setup::for_scale(Scale::Smoke, 5);
    setup.data = DataPlan::Folder {
        frames_per_video: Some(2),
    };
    setup.in_domain = vec!["bilinear".into(), "nearest".into()];
    setup.cross_train = vec!["bilinear".into()];
    setup.test_methods = vec!["nearest".into()];
    setup.cross_methods = vec!["nearest".into()];
    setup.models.retain(|m| m.key.starts_with("spsl"));
    setup.cross_models = vec!["spsl", "spsl-rgb"];
    setup.seeds = 1;
    setup.positive = PositivePlan::Synthetic(synthetic::Config {
        methods: vec![synthetic::Method::Blur],
        ..cfg.clone()
    });
    let out = tempfile::tempdir().unwrap();
    let mut opts = ReproduceOptions::new(Scale::Smoke, 5, out.path());
    opts.data_dir = Some(data.path().to_path_buf());
    let report = run_setup(&opts, &setup).unwrap();
    assert!(!report.proxy);
    let details = report
        .tables
        .iter()
        .find(|t| t.name == "Run details")
        .unwrap();
    let labels: Vec<&str> = details.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "spsl",
            "spsl-full",
            "spsl-rgb",
            "spsl-cross",
            "spsl-rgb-cross",
            "control-negative",
            "control-positive"
        ]
    );
    assert!(out.path().join("positive-proxy/manifest.json").is_file());
    assert!(out
        .path()
        .join("checkpoints/spsl-cross.safetensors")
        .is_file());
    // The claims needing models that did not run are reported, not dropped.
    assert_eq!(report.claims.len(), 5);
    let mat = report
        .claims
        .iter()
        .find(|c| c.id == "fg.mat-beats-vanilla")
        .unwrap();
    assert!(!mat.holds);
}
