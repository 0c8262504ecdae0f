//! Binary and multi-class classification metrics, as scikit-learn computes them:
//! [`accuracy`], [`roc_curve`], [`roc_auc`], [`eer`] (DeepfakeBench's definition),
//! [`average_precision`], and [`mann_whitney_auc`] as an independent rank-based check.

use std::cmp::Ordering;

use super::{check_finite_f64, check_same_len};
use crate::{bail_invalid, Error, Result};

fn check_binary(
    what: &str,
    scores: &[f64],
    labels: &[bool],
    need_both: bool,
) -> Result<(usize, usize)> {
    check_same_len(what, scores.len(), labels.len())?;
    check_finite_f64(what, "scores", scores)?;
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if need_both && (n_pos == 0 || n_neg == 0) {
        bail_invalid!(
            "{what}: both classes must be present (got {n_pos} positive and {n_neg} negative labels)"
        );
    }
    Ok((n_pos, n_neg))
}

// ---------------------------------------------------------------------------
// Binary classification
// ---------------------------------------------------------------------------

/// Fraction of samples whose prediction `score > threshold` (strict, as in
/// DeepfakeBench) equals the label (`true` = positive).
///
/// Errors on empty input, length mismatch, non-finite scores or a NaN threshold.
pub fn accuracy(scores: &[f64], labels: &[bool], threshold: f64) -> Result<f64> {
    check_binary("accuracy", scores, labels, false)?;
    if threshold.is_nan() {
        bail_invalid!("accuracy: threshold is NaN");
    }
    let correct = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| (s > threshold) == l)
        .count();
    Ok(correct as f64 / scores.len() as f64)
}

/// Multi-class accuracy: fraction of positions where `pred[i] == target[i]`.
///
/// Errors on empty input or length mismatch.
pub fn accuracy_from_predictions(pred: &[usize], target: &[usize]) -> Result<f64> {
    check_same_len("accuracy_from_predictions", pred.len(), target.len())?;
    let correct = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / pred.len() as f64)
}

/// A receiver operating characteristic curve, as returned by scikit-learn's
/// `roc_curve`: `thresholds` is decreasing and starts with `+∞` (the point
/// (0, 0)); the point `i` is obtained by predicting positive when
/// `score >= thresholds[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False-positive rates, non-decreasing, from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing, from 0 to 1.
    pub tpr: Vec<f64>,
    /// Decision thresholds, decreasing; `thresholds[0]` is `f64::INFINITY`.
    pub thresholds: Vec<f64>,
}

/// Cumulative false/true positive counts at each distinct threshold
/// (scikit-learn's `_binary_clf_curve` / `confusion_matrix_at_thresholds`),
/// scores sorted in decreasing order. Input must already be validated.
struct ClfCurve {
    fps: Vec<u64>,
    tps: Vec<u64>,
    thresholds: Vec<f64>,
}

fn binary_clf_curve(scores: &[f64], labels: &[bool]) -> ClfCurve {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // Stable sort, decreasing score; scores are finite so partial_cmp never fails
    // (and -0.0 == 0.0, as numpy's `diff` sees them).
    pairs.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(Ordering::Equal));
    let n = pairs.len();
    let mut fps = Vec::new();
    let mut tps = Vec::new();
    let mut thresholds = Vec::new();
    let mut tp: u64 = 0;
    for k in 0..n {
        if pairs[k].1 {
            tp += 1;
        }
        let last_of_group = k + 1 == n || pairs[k].0 != pairs[k + 1].0;
        if last_of_group {
            tps.push(tp);
            fps.push(k as u64 + 1 - tp);
            thresholds.push(pairs[k].0);
        }
    }
    ClfCurve {
        fps,
        tps,
        thresholds,
    }
}

/// ROC curve exactly as scikit-learn's `roc_curve(labels, scores,
/// drop_intermediate=True)` (scikit-learn ≥ 1.3: the first threshold is `+∞`).
///
/// Points are taken at every distinct score (stable descending sort), collinear
/// intermediate points are dropped, and (0, 0) is prepended.
///
/// Errors on empty input, length mismatch, non-finite scores, or when only one
/// class is present.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<RocCurve> {
    check_binary("roc_curve", scores, labels, true)?;
    let curve = binary_clf_curve(scores, labels);
    let m = curve.fps.len();
    let keep: Vec<usize> = if m > 2 {
        let second_diff_nonzero = |v: &[u64], i: usize| {
            // np.diff(v, 2)[i - 1] = (v[i+1] - v[i]) - (v[i] - v[i-1]); counts are
            // non-decreasing so the first differences are non-negative.
            (v[i + 1] - v[i]) != (v[i] - v[i - 1])
        };
        let mut keep = Vec::with_capacity(m);
        keep.push(0);
        for i in 1..m - 1 {
            if second_diff_nonzero(&curve.fps, i) || second_diff_nonzero(&curve.tps, i) {
                keep.push(i);
            }
        }
        keep.push(m - 1);
        keep
    } else {
        (0..m).collect()
    };
    let fps_total = curve.fps[m - 1] as f64;
    let tps_total = curve.tps[m - 1] as f64;
    let mut fpr = Vec::with_capacity(keep.len() + 1);
    let mut tpr = Vec::with_capacity(keep.len() + 1);
    let mut thresholds = Vec::with_capacity(keep.len() + 1);
    fpr.push(0.0);
    tpr.push(0.0);
    thresholds.push(f64::INFINITY);
    for &i in &keep {
        fpr.push(curve.fps[i] as f64 / fps_total);
        tpr.push(curve.tps[i] as f64 / tps_total);
        thresholds.push(curve.thresholds[i]);
    }
    Ok(RocCurve {
        fpr,
        tpr,
        thresholds,
    })
}

/// Area under the ROC curve (scikit-learn's `roc_auc_score` for binary labels):
/// trapezoidal integration of [`roc_curve`]. Ties between a positive and a
/// negative count ½, so this equals [`mann_whitney_auc`]. O(n log n).
///
/// Errors as [`roc_curve`].
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let roc = roc_curve(scores, labels)?;
    let area: f64 = roc
        .fpr
        .windows(2)
        .zip(roc.tpr.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
        .sum();
    Ok(area)
}

/// Equal error rate as computed by DeepfakeBench: with `fnr = 1 − tpr` on the
/// [`roc_curve`] points, returns `fpr[argmin |fnr − fpr|]` (first minimum,
/// NaN ignored as `np.nanargmin` does).
///
/// Errors as [`roc_curve`].
pub fn eer(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let roc = roc_curve(scores, labels)?;
    let mut best: Option<(f64, f64)> = None; // (|fnr - fpr|, fpr)
    for (&fpr, &tpr) in roc.fpr.iter().zip(&roc.tpr) {
        let d = ((1.0 - tpr) - fpr).abs();
        if d.is_nan() {
            continue;
        }
        match best {
            Some((bd, _)) if bd <= d => {}
            _ => best = Some((d, fpr)),
        }
    }
    best.map(|(_, fpr)| fpr)
        .ok_or_else(|| Error::invalid("eer: no finite point on the ROC curve"))
}

/// Average precision as scikit-learn's `average_precision_score`:
/// `Σₙ (Rₙ − Rₙ₋₁) Pₙ` over the distinct thresholds in decreasing order
/// (step-wise, not interpolated), with R₋₁ = 0.
///
/// Errors as [`roc_curve`].
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<f64> {
    check_binary("average_precision", scores, labels, true)?;
    let curve = binary_clf_curve(scores, labels);
    let m = curve.tps.len();
    let tps_total = curve.tps[m - 1] as f64;
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for i in 0..m {
        let tp = curve.tps[i] as f64;
        let precision = tp / (tp + curve.fps[i] as f64);
        let recall = tp / tps_total;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap.max(0.0))
}

/// AUC as the normalised Mann–Whitney U statistic: average ranks (1-based,
/// ties get the mean rank), `(R₊ − n₊(n₊+1)/2) / (n₊ n₋)`. Independent of
/// [`roc_auc`]; the two agree up to rounding.
///
/// Errors as [`roc_curve`].
pub fn mann_whitney_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    let (n_pos, n_neg) = check_binary("mann_whitney_auc", scores, labels, true)?;
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(Ordering::Equal));
    let n = pairs.len();
    let mut rank_sum_pos = 0.0f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && pairs[end].0 == pairs[start].0 {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = pairs[start..end].iter().filter(|p| p.1).count();
        rank_sum_pos += mean_rank * pos_in_group as f64;
        start = end;
    }
    let np = n_pos as f64;
    let u = rank_sum_pos - np * (np + 1.0) / 2.0;
    Ok(u / (np * n_neg as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::close;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn accuracy_strict_threshold() {
        let s = [0.2, 0.5, 0.7, 0.9];
        let l = [false, false, true, false];
        // 0.5 > 0.5 is false → predicted negative (correct).
        assert_eq!(accuracy(&s, &l, 0.5).unwrap(), 0.75);
        assert_eq!(
            accuracy_from_predictions(&[0, 1, 2, 2], &[0, 1, 1, 2]).unwrap(),
            0.75
        );
        assert!(accuracy(&s, &l, f64::NAN).is_err());
        assert!(accuracy_from_predictions(&[], &[]).is_err());
        assert!(accuracy_from_predictions(&[1], &[1, 2]).is_err());
    }

    #[test]
    fn auc_hand_cases() {
        // Perfect separation.
        let s = [0.1, 0.2, 0.8, 0.9];
        let l = [false, false, true, true];
        assert_eq!(roc_auc(&s, &l).unwrap(), 1.0);
        assert_eq!(eer(&s, &l).unwrap(), 0.0);
        assert_eq!(average_precision(&s, &l).unwrap(), 1.0);
        // All tied.
        let t = [0.3; 6];
        let lt = [true, false, true, false, false, true];
        assert_eq!(roc_auc(&t, &lt).unwrap(), 0.5);
        assert_eq!(mann_whitney_auc(&t, &lt).unwrap(), 0.5);
        assert_eq!(average_precision(&t, &lt).unwrap(), 0.5);
        // sklearn docstring: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] → AUC 0.75,
        // AP = 0.5·1 + 0.5·(2/3) = 0.8333…
        let s = [0.1, 0.4, 0.35, 0.8];
        let l = [false, false, true, true];
        let roc = roc_curve(&s, &l).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert!(close(roc_auc(&s, &l).unwrap(), 0.75, 1e-15));
        assert!(close(mann_whitney_auc(&s, &l).unwrap(), 0.75, 1e-15));
        assert!(close(average_precision(&s, &l).unwrap(), 5.0 / 6.0, 1e-15));
        // |fnr − fpr| = [1, 0.5, 0, 0.5, 1] → fpr = 0.5.
        assert_eq!(eer(&s, &l).unwrap(), 0.5);
    }

    #[test]
    fn roc_drops_collinear_points() {
        // Scores all distinct and alternating labels produce a staircase; a run of
        // negatives in a row gives collinear points that must be dropped.
        let s = [0.9, 0.8, 0.7, 0.6, 0.5];
        let l = [true, false, false, false, true];
        let roc = roc_curve(&s, &l).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.9, 0.6, 0.5]);
    }

    #[test]
    fn auc_matches_mann_whitney_on_tied_random_data() {
        let mut rng = StdRng::seed_from_u64(7);
        for &n in &[2usize, 5, 37, 500, 4000] {
            let s: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 10.0).round() / 10.0)
                .collect();
            let mut l: Vec<bool> = (0..n).map(|_| rng.random_bool(0.3)).collect();
            l[0] = true;
            l[n - 1] = false;
            let a = roc_auc(&s, &l).unwrap();
            let b = mann_whitney_auc(&s, &l).unwrap();
            assert!(close(a, b, 1e-12), "n={n}: {a} vs {b}");
            let ap = average_precision(&s, &l).unwrap();
            assert!((0.0..=1.0).contains(&ap));
            let e = eer(&s, &l).unwrap();
            assert!((0.0..=1.0).contains(&e));
        }
    }

    #[test]
    fn classification_bad_input_is_err() {
        let s = [0.1, 0.2];
        let l = [true, false];
        type F = fn(&[f64], &[bool]) -> Result<f64>;
        let fs: [F; 4] = [roc_auc, eer, average_precision, mann_whitney_auc];
        for f in fs {
            assert!(f(&[], &[]).is_err());
            assert!(f(&s, &[true]).is_err());
            assert!(f(&[0.1, f64::NAN], &l).is_err());
            assert!(f(&[0.1, f64::INFINITY], &l).is_err());
            assert!(f(&s, &[true, true]).is_err());
            assert!(f(&s, &[false, false]).is_err());
        }
        assert!(roc_curve(&s, &[true, true]).is_err());
        assert!(accuracy(&[f64::NAN], &[true], 0.5).is_err());
        assert!(accuracy(&[], &[], 0.5).is_err());
        // Single-class is fine for accuracy.
        assert_eq!(accuracy(&[0.9], &[true], 0.5).unwrap(), 1.0);
    }
}
