//! The smoke-scale reproduction runs end to end, resumes from its checkpoints, and the
//! uncertainty curves and the flood-fill reference behave on hand-made inputs.

use candor_core::{ReproduceOptions, Scale};
use candor_matting::clicks::Click;
use candor_matting::infer::{flood_fill_matte, load_model};
use candor_matting::reproduce::{ause, run, sparsification};

#[test]
fn smoke_reproduction_runs_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ReproduceOptions::new(Scale::Smoke, 0, dir.path());
    let r = run(&opts).unwrap();
    let ids: Vec<&str> = r.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["mt.clicks-help", "mt.refine-helps", "mt.uncertainty-ranks"]
    );
    assert_eq!(r.tables.len(), 4);
    assert_eq!(r.tables[0].rows.len(), 7);
    for p in &r.plots {
        assert!(dir.path().join(p).exists(), "{p}");
    }
    // A second run resumes every finished stage and gives the same tables.
    let again = run(&opts).unwrap();
    assert_eq!(r.tables[0].rows, again.tables[0].rows);
    assert_eq!(r.tables[2].rows, again.tables[2].rows);
    // The saved model loads for the matte example.
    let m = load_model(&dir.path().join("checkpoints"), &candle_core::Device::Cpu).unwrap();
    assert_eq!(m.saved.size, 32);
    assert!(load_model(&dir.path().join("missing"), &candle_core::Device::Cpu).is_err());
}

#[test]
fn sparsification_on_hand_values() {
    let err = [0.4f32, 0.0, 0.2, 0.1, 0.3];
    // The oracle removes the largest errors first; its curve falls to 0.
    let oracle = sparsification(&err, &err);
    assert!((oracle[0] - 0.2).abs() < 1e-6);
    assert!(oracle.windows(2).all(|w| w[1] <= w[0] + 1e-12));
    assert_eq!(ause(&oracle, &oracle), 0.0);
    // The reverse ranking is worse than the oracle.
    let rev: Vec<f32> = err.iter().map(|e| -e).collect();
    let worst = sparsification(&err, &rev);
    assert!(ause(&worst, &oracle) > 0.0);
}

#[test]
fn flood_fill_stops_at_colour_edges_and_background_clicks() {
    // Left half red, right half blue, 8×8.
    let (h, w) = (8usize, 8usize);
    let mut rgb = vec![0u8; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            let i = 3 * (y * w + x);
            if x < 4 {
                rgb[i] = 255;
            } else {
                rgb[i + 2] = 255;
            }
        }
    }
    let a = flood_fill_matte(&rgb, h, w, &[Click::fg(3, 1)], 1, 0.2, 0).unwrap();
    for y in 0..h {
        for x in 0..w {
            assert_eq!(a[y * w + x], if x < 4 { 1.0 } else { 0.0 });
        }
    }
    assert!(flood_fill_matte(&rgb[1..], h, w, &[], 1, 0.2, 0).is_err());
    assert!(flood_fill_matte(&rgb, h, w, &[Click::fg(9, 1)], 1, 0.2, 0).is_err());
}
