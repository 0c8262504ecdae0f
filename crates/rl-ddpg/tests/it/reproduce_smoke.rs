//! `reproduce::run` at smoke scale: every table, claim and plot is produced, and the
//! published TD3 table parses.

use candor_core::report::Verdict;
use candor_core::{ReproduceOptions, Scale};
use candor_rl_ddpg::reproduce::{plan, run, td3_curve};

#[test]
fn smoke_run_writes_tables_claims_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(&ReproduceOptions::new(Scale::Smoke, 0, dir.path())).unwrap();
    assert_eq!(report.tables.len(), 4);
    for t in &report.tables {
        assert!(!t.rows.is_empty(), "{}", t.name);
        for r in t.rows.iter().chain(t.paper.iter().flatten()) {
            assert_eq!(r.values.len(), t.columns.len(), "{}: {}", t.name, r.label);
        }
    }
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "rud.beats-ddpg",
        "rud.vs-td3",
        "rud.q-variance",
        "td3.level",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    // Smoke runs only Pendulum: no published TD3 point to compare with.
    let level = report.claims.iter().find(|c| c.id == "td3.level").unwrap();
    assert_eq!(level.verdict, Verdict::Inconclusive);
    for p in &report.plots {
        assert!(dir.path().join(p).exists(), "{p}");
    }
    assert!(report.plots.contains(&"curves_pendulum.png".to_string()));
    report.write(dir.path()).unwrap();
}

#[test]
fn published_td3_curves_parse() {
    for task in ["HalfCheetah", "Hopper", "Walker2d", "Ant"] {
        let c = td3_curve(task).unwrap();
        assert_eq!(c.len(), 201, "{task}");
        assert_eq!(c[0].step, 0);
        assert_eq!(c[200].step, 1_000_000);
        assert!(c.iter().all(|p| p.n == 10 && p.std >= 0.0));
    }
    // The card's 1M-step HalfCheetah point (mean of the 10 curves).
    let hc = td3_curve("HalfCheetah").unwrap();
    assert!((hc[200].mean - 9566.56).abs() < 0.01);
    // Quick scale's cut budget has a published point.
    let quick = plan(Scale::Quick);
    let cheetah = quick.iter().find(|t| t.label == "HalfCheetah").unwrap();
    assert!(hc.iter().any(|p| p.step == cheetah.steps));
}
