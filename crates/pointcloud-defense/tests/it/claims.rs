//! The claim logic of the reproduction on hand-made per-cloud results: each claim
//! holds, fails or is inconclusive as its test says.

use candor_core::report::{Claim, Verdict};
use candor_pointcloud_defense::eval::{AttackKind, ColumnResult, EvalConfig, Table2};
use candor_pointcloud_defense::reproduce::{judge_claims, CLAIMS};

/// `k` ones then `n − k` zeros.
fn ones(k: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| if i < k { 1.0 } else { 0.0 }).collect()
}

/// A column whose rows (none, SRS, SOR) are `rows`; targeted columns get
/// `on_target` for the undefended row and 0 after the defenses.
fn column(attack: AttackKind, rows: [Vec<f64>; 3], on_target: Option<Vec<f64>>) -> ColumnResult {
    let n = rows[0].len();
    let on = on_target.map(|t| [t, vec![0.0; n], vec![0.0; n]]);
    ColumnResult::from_outcomes(attack, rows, on).unwrap()
}

fn table(columns: Vec<ColumnResult>) -> Table2 {
    Table2 {
        clouds: columns[0].clouds(),
        columns,
    }
}

fn verdicts(t: &Table2) -> Vec<(String, Verdict)> {
    let claims: Vec<Claim> = judge_claims(t, &EvalConfig::default(), 7).unwrap();
    claims.into_iter().map(|c| (c.id, c.verdict)).collect()
}

fn verdict(v: &[(String, Verdict)], id: &str) -> Verdict {
    v.iter().find(|(i, _)| i == id).unwrap().1
}

/// Every attack column with the same rows (Drop untargeted).
fn attacks(rows: [Vec<f64>; 3], drop: [Vec<f64>; 3], on: Vec<f64>) -> Vec<ColumnResult> {
    vec![
        column(AttackKind::Perturb, rows.clone(), Some(on.clone())),
        column(AttackKind::AddCd, rows.clone(), Some(on.clone())),
        column(AttackKind::AddHd, rows, Some(on)),
        column(AttackKind::Drop, drop, None),
    ]
}

#[test]
fn every_claim_holds_on_clear_data() {
    let n = 200;
    let clean = column(
        AttackKind::Clean,
        [ones(195, n), vec![0.9; n], ones(195, n)],
        None,
    );
    // Perturb & co.: all clouds fooled; SOR recovers 180, SRS half of its draws.
    let attacked = [ones(0, n), vec![0.5; n], ones(180, n)];
    // Drop: SOR and SRS identical.
    let drop = [ones(120, n), ones(120, n), ones(120, n)];
    let mut cols = vec![clean];
    cols.extend(attacks(attacked, drop, ones(n, n)));
    let v = verdicts(&table(cols));
    assert_eq!(v.len(), 5);
    for (id, _) in CLAIMS {
        assert_eq!(verdict(&v, id), Verdict::Holds, "{id}: {v:?}");
    }
}

#[test]
fn every_claim_fails_when_the_data_say_the_opposite() {
    let n = 200;
    // Clean accuracy 0.75 (< 0.85); SOR loses 40 of the 150 correct clouds.
    let clean = column(
        AttackKind::Clean,
        [ones(150, n), ones(150, n), ones(110, n)],
        None,
    );
    // The attack fools only half; SOR recovers 60 (0.3 < 0.6) while SRS keeps 0.8.
    let attacked = [ones(100, n), vec![0.8; n], ones(60, n)];
    let drop = [ones(120, n), ones(120, n), ones(120, n)];
    let mut cols = vec![clean];
    cols.extend(attacks(attacked, drop, ones(100, n)));
    let v = verdicts(&table(cols));
    for (id, _) in CLAIMS {
        assert_eq!(verdict(&v, id), Verdict::Fails, "{id}: {v:?}");
    }
}

#[test]
fn small_or_borderline_data_are_inconclusive() {
    let n = 20;
    // 18 of 20 correct: consistent with both sides of 0.85.
    let clean = column(
        AttackKind::Clean,
        [ones(18, n), vec![0.9; n], ones(17, n)],
        None,
    );
    // 18 of 20 on target (vs 0.90), 12 of 20 recovered (vs 0.60); SOR ties SRS.
    let attacked = [ones(2, n), vec![0.6; n], ones(12, n)];
    let drop = [ones(10, n), ones(10, n), ones(10, n)];
    let mut cols = vec![clean];
    cols.extend(attacks(attacked, drop, ones(18, n)));
    let v = verdicts(&table(cols));
    for (id, _) in CLAIMS {
        assert_eq!(verdict(&v, id), Verdict::Inconclusive, "{id}: {v:?}");
    }
}

#[test]
fn sor_beats_srs_is_an_intersection_union() {
    let n = 200;
    let clean = column(
        AttackKind::Clean,
        [ones(195, n), ones(195, n), ones(195, n)],
        None,
    );
    let strong = [ones(0, n), vec![0.5; n], ones(180, n)];
    // Add-HD: SOR only ties SRS (0.5 each), so "beats" is not shown there.
    let tie = [ones(0, n), vec![0.5; n], ones(100, n)];
    let drop = [ones(120, n), ones(120, n), ones(120, n)];
    let on = ones(n, n);
    let cols = vec![
        clean.clone(),
        column(AttackKind::Perturb, strong.clone(), Some(on.clone())),
        column(AttackKind::AddCd, strong.clone(), Some(on.clone())),
        column(AttackKind::AddHd, tie, Some(on.clone())),
        column(AttackKind::Drop, drop, None),
    ];
    let claims = judge_claims(&table(cols), &EvalConfig::default(), 7).unwrap();
    let beats = claims.iter().find(|c| c.id == "pc.sor-beats-srs").unwrap();
    assert_eq!(beats.verdict, Verdict::Inconclusive, "{}", beats.evidence);
    assert!(beats.evidence.contains("Add-HD"), "{}", beats.evidence);
    assert_eq!(beats.test.unit, "clouds");
    assert_eq!(beats.test.n, n);

    // Drop-200 is non-inferiority: SOR 0.01 below SRS is within the 0.02 margin
    // given enough clouds, but 0.05 below is not.
    let n = 2000;
    let strong = [ones(0, n), vec![0.5; n], ones(1800, n)];
    let on = ones(n, n);
    let drop_cols = |sor_correct: usize| {
        vec![
            column(
                AttackKind::Clean,
                [ones(1950, n), ones(1950, n), ones(1950, n)],
                None,
            ),
            column(AttackKind::Perturb, strong.clone(), Some(on.clone())),
            column(
                AttackKind::Drop,
                [ones(1200, n), ones(1200, n), ones(sor_correct, n)],
                None,
            ),
        ]
    };
    let v = verdicts(&table(drop_cols(1180)));
    assert_eq!(verdict(&v, "pc.sor-beats-srs"), Verdict::Holds, "{v:?}");
    let v = verdicts(&table(drop_cols(1100)));
    assert_eq!(verdict(&v, "pc.sor-beats-srs"), Verdict::Fails, "{v:?}");
}

#[test]
fn a_missing_column_is_not_judged() {
    let n = 50;
    let clean = column(
        AttackKind::Clean,
        [ones(50, n), ones(50, n), ones(50, n)],
        None,
    );
    let claims = judge_claims(&table(vec![clean]), &EvalConfig::default(), 0).unwrap();
    let ids: Vec<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 5);
    for id in ["pc.attack", "pc.sor-recovers", "pc.sor-beats-srs"] {
        let c = claims.iter().find(|c| c.id == id).unwrap();
        assert_eq!(c.verdict, Verdict::Inconclusive, "{id}");
        assert!(c.test.p.is_nan(), "{id} has no test");
    }
}

#[test]
fn outcomes_are_checked() {
    assert!(
        ColumnResult::from_outcomes(AttackKind::Clean, [vec![], vec![], vec![]], None).is_err()
    );
    assert!(ColumnResult::from_outcomes(
        AttackKind::Clean,
        [vec![1.0], vec![1.0, 0.0], vec![1.0]],
        None
    )
    .is_err());
    assert!(ColumnResult::from_outcomes(
        AttackKind::Clean,
        [vec![1.5], vec![1.0], vec![1.0]],
        None
    )
    .is_err());
    // A fractional outcome in a deterministic row cannot enter a binomial test.
    let c = ColumnResult::from_outcomes(
        AttackKind::Clean,
        [vec![0.5, 1.0], vec![1.0, 1.0], vec![1.0, 1.0]],
        None,
    )
    .unwrap();
    assert!(judge_claims(&table(vec![c]), &EvalConfig::default(), 0).is_err());
    // Accuracies, success and eliminated from the outcomes.
    let c = ColumnResult::from_outcomes(
        AttackKind::Perturb,
        [
            vec![0.0, 0.0, 1.0, 1.0],
            vec![0.5, 0.7, 0.1, 1.0],
            vec![1.0, 0.0, 1.0, 1.0],
        ],
        Some([
            vec![1.0, 1.0, 0.0, 0.0],
            vec![0.4, 0.2, 0.0, 0.0],
            vec![0.0, 1.0, 0.0, 0.0],
        ]),
    )
    .unwrap();
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12);
    assert!(close(c.accuracy, [0.5, 0.575, 0.75]), "{:?}", c.accuracy);
    assert!(
        close(c.success.unwrap(), [0.5, 0.15, 0.25]),
        "{:?}",
        c.success
    );
    // Of the 2 fooled clouds: SRS turns away 0.6 and 0.8 of its draws, SOR 1 of 2.
    let e = c.eliminated.unwrap();
    assert_eq!(e[0], 0.0);
    assert!((e[1] - 0.7).abs() < 1e-12 && e[2] == 0.5, "{e:?}");
}
