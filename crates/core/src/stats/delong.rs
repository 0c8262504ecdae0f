//! DeLong's nonparametric covariance of correlated ROC AUCs measured on one test set
//! (DeLong, DeLong & Clarke-Pearson 1988), computed with mid-ranks in O(n log n) per
//! score set (Sun & Xu 2014), and its clustered form (Obuchowski 1997) for test sets
//! whose samples come in correlated groups (frames of one video).
//!
//! For each score set r, a positive's placement V₁₀ is the share of negatives it
//! outscores (ties ½) and a negative's V₀₁ the share of positives that outscore it; the
//! AUC is their mean. Summing placements per cluster i (m_i positives, n_i negatives;
//! M, N in all; I₁₀ / I₀₁ clusters holding positives / negatives; I clusters):
//!
//! S₁₀ʳˢ = I₁₀ / ((I₁₀ − 1) M) Σᵢ (V₁₀ᵢʳ − mᵢθʳ)(V₁₀ᵢˢ − mᵢθˢ), S₀₁ likewise with N,
//! S₁₁ʳˢ = I / (I − 1) Σᵢ (V₁₀ᵢʳ − mᵢθʳ)(V₀₁ᵢˢ − nᵢθˢ),
//! cov(θʳ, θˢ) = S₁₀ʳˢ/M + S₀₁ʳˢ/N + (S₁₁ʳˢ + S₁₁ˢʳ)/(MN).
//!
//! With one sample per cluster this is exactly DeLong's covariance. Differences and
//! contrasts of AUCs (e.g. the mean over seeds of A − B when every seed is scored on the
//! same test set) are normal with variance wᵀCw.

use super::dist::check_finite;
use super::NormalEstimate;
use crate::{Error, Result};

/// AUCs of several score sets on one labelled test set, and their covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct DeLong {
    pub aucs: Vec<f64>,
    /// Covariance matrix of the AUCs (row-major, k × k).
    pub cov: Vec<Vec<f64>>,
    pub positives: usize,
    pub negatives: usize,
    /// Number of clusters (samples when unclustered).
    pub clusters: usize,
    pub clustered: bool,
}

/// Mid-ranks (1-based) of `x`.
fn midranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        i = j + 1;
    }
    r
}

impl DeLong {
    /// AUCs and covariance of `score_sets` (each one score per sample, higher = more
    /// positive) on `labels`; `clusters` gives each sample's cluster id (e.g. its video)
    /// for the clustered covariance.
    pub fn new(score_sets: &[&[f64]], labels: &[bool], clusters: Option<&[usize]>) -> Result<Self> {
        if score_sets.is_empty() {
            return Err(Error::invalid("DeLong: no score sets"));
        }
        let n = labels.len();
        for (r, s) in score_sets.iter().enumerate() {
            if s.len() != n {
                return Err(Error::invalid(format!(
                    "DeLong: score set {r} has {} scores for {n} labels",
                    s.len()
                )));
            }
            check_finite(s, "DeLong scores")?;
        }
        let pos: Vec<usize> = (0..n).filter(|&i| labels[i]).collect();
        let neg: Vec<usize> = (0..n).filter(|&i| !labels[i]).collect();
        let (m, nn) = (pos.len(), neg.len());
        if m < 2 || nn < 2 {
            return Err(Error::invalid(format!(
                "DeLong: {m} positives and {nn} negatives (need at least 2 of each)"
            )));
        }
        // Cluster index of every sample.
        let (cid, ncl) = match clusters {
            None => ((0..n).collect::<Vec<_>>(), n),
            Some(c) => {
                if c.len() != n {
                    return Err(Error::invalid(format!(
                        "DeLong: {} cluster ids for {n} samples",
                        c.len()
                    )));
                }
                let mut map = std::collections::HashMap::new();
                let ids: Vec<usize> = c
                    .iter()
                    .map(|id| {
                        let k = map.len();
                        *map.entry(*id).or_insert(k)
                    })
                    .collect();
                (ids, map.len())
            }
        };
        let mut mi = vec![0.0; ncl];
        let mut ni = vec![0.0; ncl];
        for i in 0..n {
            if labels[i] {
                mi[cid[i]] += 1.0;
            } else {
                ni[cid[i]] += 1.0;
            }
        }
        let i10 = mi.iter().filter(|&&v| v > 0.0).count() as f64;
        let i01 = ni.iter().filter(|&&v| v > 0.0).count() as f64;
        if i10 < 2.0 || i01 < 2.0 {
            return Err(Error::invalid(format!(
                "DeLong: positives in {i10} cluster(s) and negatives in {i01} (need at least \
                 2 of each)"
            )));
        }
        let (mf, nf) = (m as f64, nn as f64);
        let k = score_sets.len();
        let mut aucs = Vec::with_capacity(k);
        // Per cluster, centred placement sums for each score set.
        let mut d10 = vec![vec![0.0; ncl]; k];
        let mut d01 = vec![vec![0.0; ncl]; k];
        for (r, s) in score_sets.iter().enumerate() {
            let all = midranks(s);
            let xs: Vec<f64> = pos.iter().map(|&i| s[i]).collect();
            let ys: Vec<f64> = neg.iter().map(|&i| s[i]).collect();
            let (rx, ry) = (midranks(&xs), midranks(&ys));
            let v10: Vec<f64> = pos
                .iter()
                .enumerate()
                .map(|(j, &i)| (all[i] - rx[j]) / nf)
                .collect();
            let v01: Vec<f64> = neg
                .iter()
                .enumerate()
                .map(|(j, &i)| 1.0 - (all[i] - ry[j]) / mf)
                .collect();
            let auc = v10.iter().sum::<f64>() / mf;
            for (j, &i) in pos.iter().enumerate() {
                d10[r][cid[i]] += v10[j];
            }
            for (j, &i) in neg.iter().enumerate() {
                d01[r][cid[i]] += v01[j];
            }
            for c in 0..ncl {
                d10[r][c] -= mi[c] * auc;
                d01[r][c] -= ni[c] * auc;
            }
            aucs.push(auc);
        }
        let ic = ncl as f64;
        let mut cov = vec![vec![0.0; k]; k];
        for r in 0..k {
            for s in 0..k {
                let (mut s10, mut s01, mut s11, mut s11t) = (0.0, 0.0, 0.0, 0.0);
                for c in 0..ncl {
                    s10 += d10[r][c] * d10[s][c];
                    s01 += d01[r][c] * d01[s][c];
                    s11 += d10[r][c] * d01[s][c];
                    s11t += d10[s][c] * d01[r][c];
                }
                s10 *= i10 / ((i10 - 1.0) * mf);
                s01 *= i01 / ((i01 - 1.0) * nf);
                let f11 = ic / (ic - 1.0);
                cov[r][s] = s10 / mf + s01 / nf + f11 * (s11 + s11t) / (mf * nf);
            }
        }
        Ok(Self {
            aucs,
            cov,
            positives: m,
            negatives: nn,
            clusters: ncl,
            clustered: clusters.is_some(),
        })
    }

    fn units(&self) -> usize {
        if self.clustered {
            self.clusters
        } else {
            self.positives + self.negatives
        }
    }

    fn label(&self, unit: &str) -> String {
        if self.clustered {
            format!("DeLong (clustered by {unit}, Obuchowski)")
        } else {
            "DeLong".to_string()
        }
    }

    /// The AUC of score set `i`, with its standard error (intervals clipped to [0, 1]).
    pub fn auc(&self, i: usize, unit: &str) -> Result<NormalEstimate> {
        let mut w = vec![0.0; self.aucs.len()];
        *w.get_mut(i)
            .ok_or_else(|| Error::invalid(format!("DeLong: no score set {i}")))? = 1.0;
        let mut e = self.contrast(&w, unit)?;
        e.name = format!("{} AUC", self.label(unit));
        e.bounds = Some([0.0, 1.0]);
        Ok(e)
    }

    /// The difference AUC(i) − AUC(j).
    pub fn diff(&self, i: usize, j: usize, unit: &str) -> Result<NormalEstimate> {
        let k = self.aucs.len();
        if i >= k || j >= k || i == j {
            return Err(Error::invalid(format!(
                "DeLong: cannot compare score sets {i} and {j} of {k}"
            )));
        }
        let mut w = vec![0.0; k];
        w[i] = 1.0;
        w[j] = -1.0;
        let mut e = self.contrast(&w, unit)?;
        e.name = format!("{} difference of correlated AUCs", self.label(unit));
        Ok(e)
    }

    /// A contrast Σ wᵣ AUCᵣ with variance wᵀCw, e.g. weights ±1/S for the mean over S
    /// seeds of A − B when all 2S score sets were scored on this test set.
    pub fn contrast(&self, weights: &[f64], unit: &str) -> Result<NormalEstimate> {
        let k = self.aucs.len();
        if weights.len() != k {
            return Err(Error::invalid(format!(
                "DeLong: {} contrast weights for {k} score sets",
                weights.len()
            )));
        }
        let est: f64 = weights.iter().zip(&self.aucs).map(|(w, a)| w * a).sum();
        let mut var = 0.0;
        for r in 0..k {
            for s in 0..k {
                var += weights[r] * weights[s] * self.cov[r][s];
            }
        }
        Ok(NormalEstimate {
            name: format!("{} contrast of AUCs", self.label(unit)),
            estimate: est,
            se: var.max(0.0).sqrt(),
            n: self.units(),
            unit: unit.to_string(),
            bounds: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singleton_clusters_equal_plain_delong() {
        let s1 = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.5, 0.5];
        let s2 = [0.3, 0.2, 0.6, 0.7, 0.1, 0.8, 0.4, 0.6];
        let y = [false, false, true, true, false, true, false, true];
        let ids: Vec<usize> = (0..8).map(|i| 100 + i).collect();
        let a = DeLong::new(&[&s1, &s2], &y, None).unwrap();
        let b = DeLong::new(&[&s1, &s2], &y, Some(&ids)).unwrap();
        for r in 0..2 {
            assert!((a.aucs[r] - b.aucs[r]).abs() < 1e-15);
            for s in 0..2 {
                assert!((a.cov[r][s] - b.cov[r][s]).abs() < 1e-15);
            }
        }
        // By hand: 13.5 of 16 positive–negative pairs ordered (one tie at 0.5).
        assert_eq!(a.aucs[0], 13.5 / 16.0);
    }

    #[test]
    fn bad_input() {
        let y = [true, false, true];
        assert!(DeLong::new(&[&[0.1, 0.2, 0.3]], &y, None).is_err());
        assert!(DeLong::new(&[&[0.1, 0.2]], &[true, false], None).is_err());
        assert!(DeLong::new(&[], &y, None).is_err());
    }
}
