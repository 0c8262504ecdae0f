//! The verdict logic on hand-made results: holds, fails and inconclusive for each
//! claim shape.

use super::*;
use crate::stats::bootstrap::{bootstrap_paired_diff, BootstrapConfig};
use crate::stats::groups::{welch, MannWhitney};
use crate::stats::paired::McNemar;
use crate::stats::proportion::{Proportion, ProportionMethod};
use crate::stats::NormalEstimate;

const A: f64 = 0.05;

fn normal(estimate: f64, se: f64) -> NormalEstimate {
    NormalEstimate {
        name: "normal".into(),
        estimate,
        se,
        n: 100,
        unit: "videos".into(),
        bounds: None,
    }
}

fn prop(k: u64, n: u64) -> Proportion {
    Proportion::new(k, n, ProportionMethod::Exact, "clouds").unwrap()
}

fn v(j: &Judgement) -> Verdict {
    j.unadjusted_verdict()
}

#[test]
fn threshold_on_a_proportion() {
    assert_eq!(
        v(&Judgement::at_least(&prop(190, 200), 0.9, A).unwrap()),
        Verdict::Holds
    );
    assert_eq!(
        v(&Judgement::at_least(&prop(160, 200), 0.9, A).unwrap()),
        Verdict::Fails
    );
    // 45/50 sits on the threshold: no evidence either way.
    let j = Judgement::at_least(&prop(45, 50), 0.9, A).unwrap();
    assert_eq!(v(&j), Verdict::Inconclusive);
    assert!(j.test.ci[0] < 0.9 && j.test.ci[1] > 0.9);
    assert_eq!((j.test.n, j.test.unit.as_str()), (50, "clouds"));
    // The Wilson variant agrees here.
    let w = Proportion::new(190, 200, ProportionMethod::Wilson, "clouds").unwrap();
    assert_eq!(v(&Judgement::at_least(&w, 0.9, A).unwrap()), Verdict::Holds);
    // At most.
    assert_eq!(
        v(&Judgement::at_most(&prop(2, 200), 0.05, A).unwrap()),
        Verdict::Holds
    );
    assert_eq!(
        v(&Judgement::at_most(&prop(30, 200), 0.05, A).unwrap()),
        Verdict::Fails
    );
    assert_eq!(
        v(&Judgement::at_most(&prop(5, 100), 0.05, A).unwrap()),
        Verdict::Inconclusive
    );
}

#[test]
fn threshold_on_a_mean() {
    let t =
        crate::stats::groups::t_mean(&[180.0, 185.0, 190.0, 178.0, 188.0], "instances").unwrap();
    assert_eq!(
        v(&Judgement::at_least(&t, 170.0, A).unwrap()),
        Verdict::Holds
    );
    assert_eq!(
        v(&Judgement::at_least(&t, 195.0, A).unwrap()),
        Verdict::Fails
    );
    assert_eq!(
        v(&Judgement::at_least(&t, 184.0, A).unwrap()),
        Verdict::Inconclusive
    );
}

#[test]
fn superiority() {
    let mk = |n10: usize, n01: usize, same: usize| {
        let mut a = vec![true; n10];
        let mut b = vec![false; n10];
        a.extend(vec![false; n01]);
        b.extend(vec![true; n01]);
        a.extend(vec![true; same]);
        b.extend(vec![true; same]);
        McNemar::new(&a, &b, "clouds").unwrap()
    };
    assert_eq!(
        v(&Judgement::superior(&mk(30, 5, 100), A).unwrap()),
        Verdict::Holds
    );
    assert_eq!(
        v(&Judgement::superior(&mk(5, 30, 100), A).unwrap()),
        Verdict::Fails
    );
    assert_eq!(
        v(&Judgement::superior(&mk(10, 9, 100), A).unwrap()),
        Verdict::Inconclusive
    );
    // A tie never holds: identical outcomes, identical instance means at a cap.
    assert_eq!(
        v(&Judgement::superior(&mk(0, 0, 100), A).unwrap()),
        Verdict::Inconclusive
    );
    let cap = [200.0; 5];
    let w = welch(&cap, &cap, "trained instances").unwrap();
    assert_eq!(
        v(&Judgement::superior(&w, A).unwrap()),
        Verdict::Inconclusive
    );
    let mw = MannWhitney::new(&cap, &cap, "trained instances").unwrap();
    assert_eq!(
        v(&Judgement::superior(&mw, A).unwrap()),
        Verdict::Inconclusive
    );
    // Five instances each, fully separated: exact p = 1/252.
    let hi = [190.0, 192.0, 195.0, 198.0, 199.0];
    let lo = [150.0, 160.0, 161.0, 170.0, 171.0];
    let mw = MannWhitney::new(&hi, &lo, "trained instances").unwrap();
    assert_eq!(v(&Judgement::superior(&mw, A).unwrap()), Verdict::Holds);
    let mw = MannWhitney::new(&lo, &hi, "trained instances").unwrap();
    assert_eq!(v(&Judgement::superior(&mw, A).unwrap()), Verdict::Fails);
    assert_eq!(
        v(&Judgement::superior(&welch(&hi, &lo, "i").unwrap(), A).unwrap()),
        Verdict::Holds
    );
    // DeLong-style normal difference.
    assert_eq!(
        v(&Judgement::superior(&normal(0.05, 0.01), A).unwrap()),
        Verdict::Holds
    );
    assert_eq!(
        v(&Judgement::superior(&normal(-0.05, 0.01), A).unwrap()),
        Verdict::Fails
    );
    assert_eq!(
        v(&Judgement::superior(&normal(0.01, 0.02), A).unwrap()),
        Verdict::Inconclusive
    );
}

#[test]
fn non_inferiority_with_a_margin() {
    let cfg = BootstrapConfig::default();
    // Per-cloud differences of paired fractions: mean 0 ± small noise on 400 clouds.
    let noise = |i: usize, s: f64| s * (((i * 7919) % 101) as f64 / 100.0 - 0.5);
    let zero = vec![0.0; 400];
    let close: Vec<f64> = (0..400).map(|i| noise(i, 0.1)).collect();
    let e = bootstrap_paired_diff(&close, &zero, None, &cfg, "d", "clouds").unwrap();
    assert_eq!(
        v(&Judgement::non_inferior(&e, 0.02, A).unwrap()),
        Verdict::Holds
    );
    // Superiority is not shown by the same data.
    assert_eq!(
        v(&Judgement::superior(&e, A).unwrap()),
        Verdict::Inconclusive
    );
    let worse: Vec<f64> = (0..400).map(|i| -0.1 + noise(i, 0.1)).collect();
    let e = bootstrap_paired_diff(&worse, &zero, None, &cfg, "d", "clouds").unwrap();
    assert_eq!(
        v(&Judgement::non_inferior(&e, 0.02, A).unwrap()),
        Verdict::Fails
    );
    let few: Vec<f64> = (0..8).map(|i| noise(i, 2.0)).collect();
    let e = bootstrap_paired_diff(&few, &zero[..8], None, &cfg, "d", "clouds").unwrap();
    assert_eq!(
        v(&Judgement::non_inferior(&e, 0.02, A).unwrap()),
        Verdict::Inconclusive
    );
    assert!(Judgement::non_inferior(&e, -0.1, A).is_err());
}

#[test]
fn equivalence_and_controls() {
    let eq = |e, s| v(&Judgement::equivalent(&normal(e, s), 0.0, 0.05, A).unwrap());
    assert_eq!(eq(0.01, 0.005), Verdict::Holds);
    assert_eq!(eq(0.2, 0.01), Verdict::Fails);
    assert_eq!(eq(-0.2, 0.01), Verdict::Fails);
    assert_eq!(eq(0.03, 0.05), Verdict::Inconclusive);
    // A negative control: AUC consistent with 0.5.
    let c = |e, s| v(&Judgement::consistent_with(&normal(e, s), 0.5, A).unwrap());
    assert_eq!(c(0.51, 0.03), Verdict::Holds);
    assert_eq!(c(0.7, 0.03), Verdict::Fails);
    assert_eq!(c(0.3, 0.03), Verdict::Fails);
}

#[test]
fn intersection_union() {
    let part = |e, s| Judgement::superior(&normal(e, s), A).unwrap();
    let all = |ps: Vec<Judgement>| {
        Judgement::all_of(
            ps.into_iter()
                .enumerate()
                .map(|(i, j)| (format!("col {i}"), j))
                .collect(),
        )
        .unwrap()
    };
    let j = all(vec![part(0.1, 0.01), part(0.05, 0.01)]);
    assert_eq!(v(&j), Verdict::Holds);
    assert_eq!(j.test.estimate, 0.05, "the weakest part is shown");
    assert!(j.detail.contains("col 1: 0.0500"));
    assert_eq!(
        v(&all(vec![part(0.1, 0.01), part(-0.05, 0.01)])),
        Verdict::Fails
    );
    assert_eq!(
        v(&all(vec![part(0.1, 0.01), part(0.01, 0.02)])),
        Verdict::Inconclusive
    );
    // A decisive failure wins over an undecided part.
    assert_eq!(
        v(&all(vec![part(0.01, 0.02), part(-0.05, 0.01)])),
        Verdict::Fails
    );
    // A failed part settles the conjunction even where another part is blocked by its
    // precondition; a blocked part beside parts that hold or are undecided leaves it
    // undecided.
    let pre_fails = Judgement::superior(&normal(-0.05, 0.01), A).unwrap();
    let blocked = || part(0.1, 0.01).gated(&[("above chance", &pre_fails)]);
    let j = all(vec![blocked(), part(-0.05, 0.01)]);
    assert_eq!(v(&j), Verdict::Fails);
    assert!(j.blocked.is_none());
    assert!(
        j.detail.contains("not judged: col 0: precondition not met"),
        "{}",
        j.detail
    );
    for other in [part(0.1, 0.01), part(0.01, 0.02)] {
        let j = all(vec![blocked(), other]);
        assert_eq!(v(&j), Verdict::Inconclusive);
        assert!(j.blocked.is_some());
    }
    assert!(Judgement::all_of(vec![]).is_err());
    let ctrl = Judgement::consistent_with(&normal(0.5, 0.1), 0.5, A).unwrap();
    assert!(Judgement::all_of(vec![("c".into(), ctrl)]).is_err());
}

#[test]
fn preconditions_and_seed_agreement() {
    let claim = Judgement::superior(&normal(0.1, 0.01), A).unwrap();
    let learned = Judgement::at_least(&normal(-100.0, 5.0), -450.0, A).unwrap();
    let random = Judgement::at_least(&normal(-495.0, 5.0), -450.0, A).unwrap();
    let ok = claim.clone().gated(&[("A beats random", &learned)]);
    assert_eq!(v(&ok), Verdict::Holds);
    let blocked = claim
        .clone()
        .gated(&[("A beats random", &learned), ("B beats random", &random)]);
    assert_eq!(v(&blocked), Verdict::Inconclusive);
    assert!(blocked
        .blocked
        .as_ref()
        .unwrap()
        .contains("B beats random (fails)"));
    // Even a failing comparison is inconclusive when the agents did not learn.
    let fail = Judgement::superior(&normal(-0.1, 0.01), A).unwrap();
    assert_eq!(v(&fail.gated(&[("B", &random)])), Verdict::Inconclusive);
    // Sign agreement over seeds.
    assert_eq!(
        v(&claim.clone().every_part_agrees(&[0.08, 0.12, 0.01])),
        Verdict::Holds
    );
    assert_eq!(
        v(&claim.every_part_agrees(&[0.08, -0.02, 0.1])),
        Verdict::Inconclusive
    );
}

#[test]
fn holm_sets_the_final_verdicts() {
    let mut fam = ClaimFamily::new(A);
    // Two claims that each hold alone at p ≈ 0.03 and 0.04.
    let j1 = Judgement::superior(&normal(1.881, 1.0), A).unwrap();
    let j2 = Judgement::superior(&normal(1.751, 1.0), A).unwrap();
    assert_eq!(v(&j1), Verdict::Holds);
    assert_eq!(v(&j2), Verdict::Holds);
    // A strong one and a control outside the family.
    let j3 = Judgement::superior(&normal(5.0, 1.0), A).unwrap();
    let ctrl = Judgement::at_least(&normal(1.881, 1.0), 0.0, A).unwrap();
    fam.claim("a", "A", "ev a", j1)
        .claim("b", "B", "", j2)
        .claim("c", "C", "", j3)
        .control("sanity", "S", "", ctrl)
        .not_judged("later", "L", "old evidence", "needs per-cloud data");
    let claims = fam.try_finish().unwrap();
    let verdicts: Vec<Verdict> = claims.iter().map(|c| c.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Inconclusive,
            Verdict::Inconclusive,
            Verdict::Holds,
            Verdict::Holds,
            Verdict::Inconclusive
        ]
    );
    // Holm: 3·p(c), 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06.
    let pa = claims[0].test.p_adjusted.unwrap();
    assert!((pa - 2.0 * claims[0].test.p).abs() < 1e-12);
    assert_eq!(claims[1].test.p_adjusted, claims[0].test.p_adjusted);
    assert!(claims[3].test.p_adjusted.is_none());
    assert!(claims[0].evidence.starts_with("ev a"));
    assert!(claims[0].evidence.contains("Holm family of 3"));
    assert!(claims
        .iter()
        .all(|c| c.holds == (c.verdict == Verdict::Holds)));
    assert!(claims[4].test.name.contains("needs per-cloud data"));
    // Results validate.
    let mut r = crate::report::Report::new("t", "smoke", 0, false, "");
    r.claims = claims;
    crate::report::validate_results_json(&serde_json::to_value(&r).unwrap()).unwrap();
}

#[test]
fn mixed_alpha_is_an_error() {
    let mut fam = ClaimFamily::new(0.05);
    fam.claim(
        "x",
        "X",
        "",
        Judgement::superior(&normal(1.0, 1.0), 0.01).unwrap(),
    );
    assert!(ClaimFamily::try_finish(fam).is_err());
    let mut fam = ClaimFamily::new(0.05);
    fam.claim(
        "x",
        "X",
        "",
        Judgement::superior(&normal(1.0, 1.0), 0.01).unwrap(),
    );
    let c = fam.finish();
    assert_eq!(c[0].verdict, Verdict::Inconclusive);
    assert!(Judgement::superior(&normal(1.0, 1.0), 0.7).is_err());
}

#[test]
fn the_random_policy_gate_is_a_welch_control() {
    let mut fam = ClaimFamily::new(A);
    let random = [-1200.0, -1300.0, -1250.0, -1100.0, -1180.0];
    let good = fam
        .beats_random_control(
            "random.t.a",
            "a beats random",
            "a",
            &[-200.0, -180.0],
            &random,
        )
        .unwrap();
    let want = Judgement::superior(
        &welch(&[-200.0, -180.0], &random, "seeds vs random episodes").unwrap(),
        A,
    )
    .unwrap();
    assert_eq!(good, want);
    // One seed: Welch cannot run; recorded as not judged, nothing to gate on.
    assert!(fam
        .beats_random_control("random.t.b", "b beats random", "b", &[-200.0], &random)
        .is_none());
    let c = fam.finish();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].verdict, Verdict::Holds);
    assert_eq!(
        c[0].evidence,
        "a -190.0 (seeds: -200.0, -180.0) vs random -1206.0 (5 episodes); outside the Holm family"
    );
    assert_eq!(c[1].verdict, Verdict::Inconclusive);
    assert!(c[1].evidence.is_empty());
}
