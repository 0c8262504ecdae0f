//! SOR and SRS behaviour, presets, errors and batch determinism.

use candor_core::SeededRng;
use candor_pointcloud_defense::defense::{
    sor, sor_batch, sor_stats, srs, srs_batch, srs_indices, Defense, KeepRule, SorConfig,
    SorMetric, SrsConfig,
};

/// `n` nearly evenly spaced points on the unit sphere (Fibonacci lattice).
fn fibonacci_sphere(n: usize) -> Vec<f32> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let mut out = Vec::with_capacity(n * 3);
    for i in 0..n {
        let y = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
        let r = (1.0 - y * y).sqrt();
        let t = golden * i as f64;
        out.extend_from_slice(&[(r * t.cos()) as f32, y as f32, (r * t.sin()) as f32]);
    }
    out
}

/// `n` uniformly random points on the unit sphere.
fn random_sphere(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    let mut out = Vec::with_capacity(n * 3);
    for _ in 0..n {
        let v = [rng.normal(), rng.normal(), rng.normal()];
        let r = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        out.extend(v.iter().map(|x| (x / r) as f32));
    }
    out
}

fn presets() -> [SorConfig; 3] {
    let euclid = SorConfig {
        metric: SorMetric::Euclidean,
        ..SorConfig::default()
    };
    [SorConfig::default(), euclid, SorConfig::pcl()]
}

#[test]
fn defaults_are_the_papers_settings() {
    let d = SorConfig::default();
    assert_eq!(
        (d.k, d.alpha, d.metric, d.ddof, d.keep),
        (2, 1.1, SorMetric::Squared, 1, KeepRule::LessEq)
    );
    let p = SorConfig::pcl();
    assert_eq!(
        (p.k, p.alpha, p.metric, p.ddof, p.keep),
        (50, 1.0, SorMetric::Euclidean, 1, KeepRule::LessEq)
    );
    assert_eq!(SrsConfig::default().drop, 500);
}

#[test]
fn sor_removes_exactly_one_far_point_from_a_regular_sphere() {
    for cfg in presets() {
        let mut cloud = fibonacci_sphere(1024);
        cloud.extend_from_slice(&[0.0, 4.0, 0.0]);
        let st = sor_stats(&cloud, &cfg).unwrap();
        let removed: Vec<usize> = (0..st.keep.len()).filter(|&i| !st.keep[i]).collect();
        assert_eq!(removed, [1024], "{cfg:?}");
        let kept = sor(&cloud, &cfg).unwrap();
        assert_eq!(kept, cloud[..1024 * 3], "{cfg:?}: order kept");
    }
}

#[test]
fn sor_removes_isolated_far_outliers_and_keeps_most_of_a_clean_sphere() {
    let clean = random_sphere(1024, 7);
    for cfg in presets() {
        let kept = sor(&clean, &cfg).unwrap().len() / 3;
        assert!(
            kept >= 820,
            "{cfg:?}: kept only {kept} of 1024 clean points"
        );
        // 10 isolated points well off the surface, in different directions.
        let mut cloud = clean.clone();
        let mut rng = SeededRng::new(11);
        for _ in 0..10 {
            let v = [rng.normal(), rng.normal(), rng.normal()];
            let r = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let s = rng.uniform_range(1.8, 3.0) / r;
            cloud.extend(v.iter().map(|x| (x * s) as f32));
        }
        let st = sor_stats(&cloud, &cfg).unwrap();
        assert!(
            st.keep[1024..].iter().all(|&k| !k),
            "{cfg:?}: an outlier survived"
        );
        assert!(st.num_kept() >= 800, "{cfg:?}: kept {}", st.num_kept());
    }
}

#[test]
fn sor_threshold_is_mean_plus_alpha_unbiased_std() {
    // 5 points on a line: 0, 1, 2, 4, 8 with k = 1 Euclidean:
    // d = [1, 1, 1, 2, 4], mean 1.8, unbiased var = (0.64·3 + 0.04 + 4.84) / 4 = 1.7.
    let cloud: Vec<f32> = [0.0, 1.0, 2.0, 4.0, 8.0]
        .iter()
        .flat_map(|&x| [x, 0.0, 0.0])
        .collect();
    let cfg = SorConfig {
        k: 1,
        alpha: 1.0,
        metric: SorMetric::Euclidean,
        ..SorConfig::pcl()
    };
    let st = sor_stats(&cloud, &cfg).unwrap();
    assert_eq!(st.mean_dists, [1.0, 1.0, 1.0, 2.0, 4.0]);
    assert!((st.mean - 1.8).abs() < 1e-12);
    assert!((st.std - 1.7f64.sqrt()).abs() < 1e-12);
    assert!((st.threshold - (1.8 + 1.7f64.sqrt())).abs() < 1e-12);
    assert_eq!(st.keep, [true, true, true, true, false]);
    // Squared, k = 2: d = [(1+4)/2, (1+1)/2, (1+4)/2, (4+9)/2, (16+36)/2].
    let cfg = SorConfig {
        k: 2,
        alpha: 0.0,
        ddof: 0,
        ..SorConfig::default()
    };
    let st = sor_stats(&cloud, &cfg).unwrap();
    assert_eq!(st.mean_dists, [2.5, 1.0, 2.5, 6.5, 26.0]);
    let mean = 38.5 / 5.0;
    assert!((st.threshold - mean).abs() < 1e-12);
    assert_eq!(st.keep, [true, true, true, true, false]);
    // Keep rule: with alpha 0 and all-equal distances, `<` drops everything, `≤` nothing.
    let square: Vec<f32> = [[0., 0.], [1., 0.], [0., 1.], [1., 1.]]
        .iter()
        .flat_map(|p| [p[0], p[1], 0.0])
        .collect();
    let eq = SorConfig {
        k: 2,
        alpha: 0.0,
        ..SorConfig::default()
    };
    assert_eq!(sor(&square, &eq).unwrap().len(), 12);
    let lt = SorConfig {
        keep: KeepRule::Less,
        ..eq
    };
    assert_eq!(sor(&square, &lt).unwrap().len(), 0);
}

#[test]
fn sor_matches_a_brute_force_reference() {
    let cloud = random_sphere(700, 3);
    let n = cloud.len() / 3;
    for cfg in presets() {
        let mut d = vec![0f64; n];
        for i in 0..n {
            let mut row: Vec<f32> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (0..3)
                        .map(|c| (cloud[i * 3 + c] - cloud[j * 3 + c]).powi(2))
                        .sum()
                })
                .collect();
            row.sort_by(f32::total_cmp);
            let s: f64 = row[..cfg.k]
                .iter()
                .map(|&v| {
                    if cfg.metric == SorMetric::Euclidean {
                        f64::from(v.sqrt())
                    } else {
                        f64::from(v)
                    }
                })
                .sum();
            d[i] = f64::from((s / cfg.k as f64) as f32);
        }
        let mean = d.iter().sum::<f64>() / n as f64;
        let std = (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let keep: Vec<bool> = d.iter().map(|&v| v <= mean + cfg.alpha * std).collect();
        assert_eq!(sor_stats(&cloud, &cfg).unwrap().keep, keep, "{cfg:?}");
    }
}

#[test]
fn srs_drops_exactly_n_distinct_points_in_order_and_is_seeded() {
    let cloud: Vec<f32> = (0..1024 * 3).map(|i| i as f32).collect();
    let cfg = SrsConfig::default();
    let a = srs(&cloud, &cfg, &mut SeededRng::new(5)).unwrap();
    assert_eq!(a.len(), 524 * 3);
    let b = srs(&cloud, &cfg, &mut SeededRng::new(5)).unwrap();
    assert_eq!(a, b);
    let c = srs(&cloud, &cfg, &mut SeededRng::new(6)).unwrap();
    assert_ne!(a, c);
    // Kept points are whole, distinct, and in the original order.
    let idx: Vec<usize> = a.chunks(3).map(|p| p[0] as usize / 3).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]));
    for (p, &i) in a.chunks(3).zip(&idx) {
        assert_eq!(p, &cloud[i * 3..i * 3 + 3]);
    }
    assert_eq!(
        srs_indices(10, &SrsConfig { drop: 0 }, &mut SeededRng::new(0)).unwrap(),
        (0..10).collect::<Vec<_>>()
    );
    // Every point is dropped with about the same probability.
    let mut hits = [0u32; 8];
    let mut rng = SeededRng::new(1);
    for _ in 0..4000 {
        for i in srs_indices(8, &SrsConfig { drop: 4 }, &mut rng).unwrap() {
            hits[i] += 1;
        }
    }
    assert!(hits.iter().all(|&h| (1850..2150).contains(&h)), "{hits:?}");
}

#[test]
fn batches_match_single_calls_and_are_deterministic() {
    let clouds: Vec<Vec<f32>> = (0..6)
        .map(|s| random_sphere(600 + 10 * s as usize, s))
        .collect();
    let refs: Vec<&[f32]> = clouds.iter().map(|c| c.as_slice()).collect();
    let cfg = SorConfig::default();
    let batch = sor_batch(&refs, &cfg).unwrap();
    for (c, out) in refs.iter().zip(&batch) {
        assert_eq!(out, &sor(c, &cfg).unwrap());
    }
    let s = SrsConfig { drop: 100 };
    let a = srs_batch(&refs, &s, 9).unwrap();
    assert_eq!(a, srs_batch(&refs, &s, 9).unwrap());
    for (c, out) in refs.iter().zip(&a) {
        assert_eq!(out.len(), c.len() - 300);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(pool.install(|| srs_batch(&refs, &s, 9).unwrap()), a);
    let d = Defense::Srs(s);
    assert_eq!(d.apply_batch(&refs, 9).unwrap(), a);
    assert_eq!(Defense::Sor(cfg).apply_batch(&refs, 0).unwrap(), batch);
    assert_eq!(Defense::None.apply_batch(&refs, 0).unwrap(), clouds);
}

#[test]
fn bad_input_gives_clear_errors() {
    let cfg = SorConfig::default();
    let msg = |r: candor_pointcloud_defense::Result<Vec<f32>>| r.unwrap_err().to_string();
    assert!(msg(sor(&[], &cfg)).contains("empty"));
    assert!(msg(sor(&[0.0; 7], &cfg)).contains("xyz"));
    let mut nan = random_sphere(50, 0);
    nan[31] = f32::NAN;
    let e = msg(sor(&nan, &cfg));
    assert!(e.contains("point 10") && e.contains("NaN"), "{e}");
    let e = msg(sor(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &cfg));
    assert!(e.contains("k = 2"), "{e}");
    assert!(msg(sor(&random_sphere(50, 0), &SorConfig::pcl())).contains("k = 50"));
    assert!(sor(&random_sphere(51, 0), &SorConfig::pcl()).is_ok());
    assert!(msg(sor(&random_sphere(9, 0), &SorConfig { k: 0, ..cfg })).contains("k must"));
    assert!(msg(sor(
        &random_sphere(9, 0),
        &SorConfig {
            alpha: f64::NAN,
            ..cfg
        }
    ))
    .contains("alpha"));
    assert!(msg(sor(&random_sphere(9, 0), &SorConfig { ddof: 2, ..cfg })).contains("ddof"));
    let mut rng = SeededRng::new(0);
    let e = msg(srs(&random_sphere(500, 0), &SrsConfig::default(), &mut rng));
    assert!(e.contains("cannot drop 500 of 500"), "{e}");
    assert!(srs(&[], &SrsConfig { drop: 0 }, &mut rng).is_err());
    assert!(srs(&nan, &SrsConfig { drop: 1 }, &mut rng).is_err());
    let good = random_sphere(40, 1);
    let e = sor_batch(&[&good, &nan, &[]], &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cloud 1"), "{e}");
    assert!(Defense::None.apply(&nan, &mut rng).is_err());
}

#[test]
fn configs_serialize_and_reject_unknown_keys() {
    let d = Defense::Sor(SorConfig::pcl());
    let j = serde_json::to_string(&d).unwrap();
    assert_eq!(
        j,
        r#"{"kind":"sor","k":50,"alpha":1.0,"metric":"euclidean","ddof":1,"keep":"less_eq"}"#
    );
    assert_eq!(serde_json::from_str::<Defense>(&j).unwrap(), d);
    let partial: Defense = serde_json::from_str(r#"{"kind":"sor","k":5}"#).unwrap();
    assert_eq!(
        partial,
        Defense::Sor(SorConfig {
            k: 5,
            ..SorConfig::default()
        })
    );
    let srs: Defense = serde_json::from_str(r#"{"kind":"srs"}"#).unwrap();
    assert_eq!(srs, Defense::Srs(SrsConfig { drop: 500 }));
    assert!(serde_json::from_str::<SorConfig>(r#"{"k":2,"alhpa":1.0}"#).is_err());
    assert!(serde_json::from_str::<Defense>(r#"{"kind":"sor","kk":2}"#).is_err());
    assert!(serde_json::from_str::<Defense>(r#"{"kind":"pointnet"}"#).is_err());
    assert_eq!(
        serde_json::from_str::<Defense>(r#"{"kind":"none"}"#).unwrap(),
        Defense::None
    );
}
