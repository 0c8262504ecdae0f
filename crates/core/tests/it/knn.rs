//! Public API of `candor_core::knn`: tree and brute force agree bit for bit,
//! `query` finds the nearest points, bad input is an error.

use candor_core::knn::{knn, knn_batch, knn_brute, KdTree, BRUTE_FORCE_MAX_POINTS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cloud(seed: u64, n: usize, dim: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * dim)
        .map(|_| (rng.random_range(-20i32..20) as f32) * 0.25)
        .collect()
}

#[test]
fn tree_equals_brute_force_on_a_point_cloud() {
    for (seed, n) in [(1u64, 300usize), (2, 1024), (3, BRUTE_FORCE_MAX_POINTS + 1)] {
        let pts = cloud(seed, n, 3);
        for k in [1, 2, 6] {
            let a = knn_brute(&pts, 3, k).unwrap();
            let b = KdTree::build(&pts, 3).unwrap().knn_all(k).unwrap();
            assert_eq!(a, b);
            assert_eq!(a, knn(&pts, 3, k).unwrap());
            assert_eq!(a.len(), n);
            assert!(a.sq_dists.iter().all(|d| d.is_finite() && *d >= 0.0));
        }
    }
}

#[test]
fn query_returns_the_nearest_points() {
    // points on a line at x = 0, 1, …, 9
    let pts: Vec<f32> = (0..10).flat_map(|i| [i as f32, 0.0]).collect();
    let tree = KdTree::build(&pts, 2).unwrap();
    assert_eq!(tree.num_points(), 10);
    assert_eq!(tree.dim(), 2);
    let got = tree.query(&[3.4, 1.0], 3).unwrap();
    let idx: Vec<u32> = got.iter().map(|p| p.0).collect();
    assert_eq!(idx, vec![3, 4, 2]);
    assert!((got[0].1 - (0.4f32 * 0.4 + 1.0)).abs() < 1e-6);
    // an exact hit on a point comes first, at distance 0; ties by index
    let got = tree.query(&[5.0, 0.0], 3).unwrap();
    assert_eq!(got, vec![(5, 0.0), (4, 1.0), (6, 1.0)]);
}

#[test]
fn batch_and_errors() {
    let a = cloud(4, 100, 3);
    let b = cloud(5, 40, 3);
    let out = knn_batch(&[&a, &b], 3, 2).unwrap();
    assert_eq!(out[0], knn_brute(&a, 3, 2).unwrap());
    assert_eq!(out[1], knn_brute(&b, 3, 2).unwrap());
    let e = knn(&a[..15], 3, 5).unwrap_err().to_string();
    assert!(e.contains("k = 5 needs at least 6 points, got 5"), "{e}");
    assert!(knn(&a[..10], 3, 1).is_err());
    assert!(knn(&a, 0, 1).is_err());
    assert!(knn(&a, 3, 0).is_err());
    assert!(knn(&[0.0, f32::NAN, 1.0, 2.0], 2, 1).is_err());
    assert!(KdTree::build(&[], 2).is_err());
}
