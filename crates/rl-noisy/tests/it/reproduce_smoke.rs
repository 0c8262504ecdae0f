//! The smoke-scale reproduction runs end to end.

use candor_core::{ReproduceOptions, Scale};

#[test]
fn smoke_reproduction_writes_table_claims_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ReproduceOptions::new(Scale::Smoke, 0, dir.path());
    let rayon_before = std::env::var_os("RAYON_NUM_THREADS");
    let report = candor_rl_noisy::reproduce::run(&opts).unwrap();
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "nr.cartpole-mean",
            "nr.cartpole-std",
            "nr.acrobot",
            "nr.cartpole-level"
        ]
    );
    assert!(!report.proxy);
    // Table 3 with the noise on (the claims'), then with μ only, the ablation, details.
    assert_eq!(report.tables.len(), 4);
    for t3 in &report.tables[..2] {
        let labels: Vec<&str> = t3.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["CartPole", "Pong", "MountainCar", "Acrobot"]);
        assert_eq!(t3.paper.as_ref().unwrap().len(), 4);
        assert!(t3.to_markdown(2).contains("187.04 ± 13.99"));
    }
    assert!(report.tables[0].name.contains("noise on"));
    assert!(report.tables[1].name.contains("μ-only"));
    let ablation: Vec<&str> = report.tables[2]
        .rows
        .iter()
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(ablation.len(), 4);
    assert!(ablation[2].contains("(adam)"), "{ablation:?}");
    // 3 tasks × 4 agents, with the speed measured.
    assert_eq!(report.tables[3].rows.len(), 12);
    for c in &report.claims {
        assert!(c.evidence.contains("evaluation noise on"), "{}", c.evidence);
    }
    for p in &report.plots {
        assert!(dir.path().join(p).exists(), "{p} missing");
    }
    assert_eq!(report.plots.len(), 4);
    // The library leaves the process environment alone.
    assert_eq!(std::env::var_os("RAYON_NUM_THREADS"), rayon_before);
    for c in &report.claims {
        assert_eq!(c.holds, c.verdict == candor_core::report::Verdict::Holds);
    }
}

/// With checkpoints on (`--resume`), every finished run is written beside the
/// checkpoints (and its checkpoint removed), and a second reproduce reuses them: the
/// same tables and claims, without training again.
#[test]
fn a_resumed_reproduction_reuses_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ReproduceOptions {
        resume: true,
        ..ReproduceOptions::new(Scale::Smoke, 0, dir.path())
    };
    let t = std::time::Instant::now();
    let first = candor_rl_noisy::reproduce::run(&opts).unwrap();
    let first_s = t.elapsed().as_secs_f64();
    let ck = opts.checkpoint_dir().unwrap();
    let names: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // 3 tasks × 4 agents × 2 instances, no checkpoint left.
    assert_eq!(names.len(), 24, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".done.json")), "{names:?}");
    let t = std::time::Instant::now();
    let second = candor_rl_noisy::reproduce::run(&opts).unwrap();
    let second_s = t.elapsed().as_secs_f64();
    let json = |r: &candor_core::report::Report| {
        (
            serde_json::to_string(&r.claims).unwrap(),
            r.tables[..3]
                .iter()
                .map(|t| t.to_markdown(2))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(json(&first), json(&second));
    eprintln!("first {first_s:.1} s, reusing {second_s:.1} s");
}
