//! Seeded bootstrap intervals and tests for a mean or a paired difference, resampling
//! either the samples or whole clusters of them (videos, clouds, foregrounds) when the
//! samples inside a unit are correlated.
//!
//! Percentile and BCa intervals follow Efron (1987) and `scipy.stats.bootstrap`: the
//! bias correction z₀ = Φ⁻¹(share of replicates below θ̂, ties counted ½), the
//! acceleration from the jackknife (leave one unit out), percentiles with linear
//! interpolation. A one-sided p-value against a value v inverts the same interval: the
//! smallest α at which the one-sided bound excludes v, so "p < α" and "the interval at
//! 1 − 2α excludes v" agree.
//!
//! With clusters, the statistic is the mean over all samples of the resampled clusters
//! (a ratio of sums, so clusters weigh by their size) and `n` counts clusters.

use super::dist::{check_conf, check_finite, normal_cdf, normal_quantile};
use super::Estimate;
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Percentile or bias-corrected and accelerated intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapMethod {
    Percentile,
    Bca,
}

/// How to bootstrap: number of resamples, seed, interval method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapConfig {
    pub resamples: usize,
    pub seed: u64,
    pub method: BootstrapMethod,
}

impl Default for BootstrapConfig {
    /// 10,000 BCa resamples with seed 0.
    fn default() -> Self {
        Self {
            resamples: 10_000,
            seed: 0,
            method: BootstrapMethod::Bca,
        }
    }
}

/// The bootstrap distribution of a mean, as an [`Estimate`].
#[derive(Debug, Clone)]
pub struct BootstrapEstimate {
    pub what: String,
    pub estimate: f64,
    /// Sorted bootstrap replicates.
    pub replicates: Vec<f64>,
    /// BCa bias correction z₀ and acceleration a (both 0 for percentile intervals).
    pub z0: f64,
    pub accel: f64,
    pub method: BootstrapMethod,
    pub clustered: bool,
    pub n: usize,
    pub unit: String,
}

/// Sum and count of each cluster, in first-seen order of the cluster ids.
fn cluster_sums(x: &[f64], clusters: Option<&[usize]>) -> Result<Vec<(f64, f64)>> {
    match clusters {
        None => Ok(x.iter().map(|&v| (v, 1.0)).collect()),
        Some(c) => {
            if c.len() != x.len() {
                return Err(Error::invalid(format!(
                    "bootstrap: {} cluster ids for {} values",
                    c.len(),
                    x.len()
                )));
            }
            let mut index = std::collections::HashMap::new();
            let mut out: Vec<(f64, f64)> = Vec::new();
            for (&v, &id) in x.iter().zip(c) {
                let k = *index.entry(id).or_insert_with(|| {
                    out.push((0.0, 0.0));
                    out.len() - 1
                });
                out[k].0 += v;
                out[k].1 += 1.0;
            }
            Ok(out)
        }
    }
}

/// Linear-interpolated quantile of sorted values (numpy's default).
fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    if i + 1 < s.len() {
        s[i] + f * (s[i + 1] - s[i])
    } else {
        s[i]
    }
}

/// Share of sorted replicates below `v`, ties counted ½ (scipy's percentile of score).
fn share_below(s: &[f64], v: f64) -> f64 {
    let lt = s.partition_point(|&x| x < v);
    let le = s.partition_point(|&x| x <= v);
    (lt + le) as f64 / (2 * s.len()) as f64
}

/// Bootstrap the mean of `x` (per sample, or per cluster when `clusters` gives each
/// sample's cluster id). `what` names the quantity in the test's name.
pub fn bootstrap_mean(
    x: &[f64],
    clusters: Option<&[usize]>,
    cfg: &BootstrapConfig,
    what: &str,
    unit: &str,
) -> Result<BootstrapEstimate> {
    check_finite(x, "bootstrap")?;
    if cfg.resamples < 100 {
        return Err(Error::invalid(format!(
            "bootstrap: {} resamples (use at least 100)",
            cfg.resamples
        )));
    }
    let units = cluster_sums(x, clusters)?;
    let k = units.len();
    if k < 2 {
        return Err(Error::invalid(format!(
            "bootstrap: {k} unit(s); at least 2 are needed"
        )));
    }
    let (ts, tn) = units.iter().fold((0.0, 0.0), |a, u| (a.0 + u.0, a.1 + u.1));
    let estimate = ts / tn;
    let mut rng = SeededRng::new(cfg.seed);
    let mut reps = Vec::with_capacity(cfg.resamples);
    for _ in 0..cfg.resamples {
        let (mut s, mut c) = (0.0, 0.0);
        for _ in 0..k {
            let u = units[rng.below(k)];
            s += u.0;
            c += u.1;
        }
        reps.push(s / c);
    }
    reps.sort_by(|a, b| a.total_cmp(b));
    let (z0, accel) = match cfg.method {
        BootstrapMethod::Percentile => (0.0, 0.0),
        BootstrapMethod::Bca => {
            let z0 = normal_quantile(share_below(&reps, estimate));
            // Jackknife: leave one unit out.
            let jack: Vec<f64> = units.iter().map(|u| (ts - u.0) / (tn - u.1)).collect();
            let jm = jack.iter().sum::<f64>() / k as f64;
            let (mut num, mut den) = (0.0, 0.0);
            for j in &jack {
                let d = jm - j;
                num += d * d * d;
                den += d * d;
            }
            let a = if den > 0.0 {
                num / (6.0 * den.powf(1.5))
            } else {
                0.0
            };
            (z0, a)
        }
    };
    Ok(BootstrapEstimate {
        what: what.to_string(),
        estimate,
        replicates: reps,
        z0: if z0.is_finite() { z0 } else { 0.0 },
        accel,
        method: cfg.method,
        clustered: clusters.is_some(),
        n: k,
        unit: unit.to_string(),
    })
}

/// Bootstrap the mean paired difference `a − b` (pairs resampled together, or whole
/// clusters of pairs).
pub fn bootstrap_paired_diff(
    a: &[f64],
    b: &[f64],
    clusters: Option<&[usize]>,
    cfg: &BootstrapConfig,
    what: &str,
    unit: &str,
) -> Result<BootstrapEstimate> {
    if a.len() != b.len() {
        return Err(Error::invalid(format!(
            "paired bootstrap: {} values against {}",
            a.len(),
            b.len()
        )));
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    bootstrap_mean(&d, clusters, cfg, what, unit)
}

/// Paired bootstrap of the difference of two paired fractions (e.g. correct under
/// defense A minus correct under defense B on the same clouds). Values may be 0/1 or,
/// where a unit's outcome is itself an average (SRS over random draws), in [0, 1].
pub fn bootstrap_paired_fractions(
    a: &[f64],
    b: &[f64],
    clusters: Option<&[usize]>,
    cfg: &BootstrapConfig,
    what: &str,
    unit: &str,
) -> Result<BootstrapEstimate> {
    if let Some(v) = a.iter().chain(b).find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid(format!(
            "paired fractions: value {v} outside [0, 1]"
        )));
    }
    bootstrap_paired_diff(a, b, clusters, cfg, what, unit)
}

impl BootstrapEstimate {
    /// The BCa-adjusted (or plain) percentile level for a nominal lower-tail level q.
    fn adjusted(&self, q: f64) -> f64 {
        if self.method == BootstrapMethod::Percentile {
            return q;
        }
        let zq = normal_quantile(q);
        let u = self.z0 + zq;
        normal_cdf(self.z0 + u / (1.0 - self.accel * u))
    }

    /// Share of replicates at or below v, kept off 0 and 1 by half a replicate.
    fn clamped_share(&self, v: f64) -> f64 {
        let b = self.replicates.len() as f64;
        share_below(&self.replicates, v).clamp(0.5 / b, 1.0 - 0.5 / b)
    }

    /// The nominal lower-tail level whose adjusted percentile sits at v (inverts
    /// [`Self::adjusted`]).
    fn nominal_level(&self, v: f64) -> f64 {
        let a0 = self.clamped_share(v);
        if self.method == BootstrapMethod::Percentile {
            return a0;
        }
        let w = normal_quantile(a0) - self.z0;
        let denom = 1.0 + self.accel * w;
        if denom <= 0.0 {
            // Beyond the range the BCa map can reach.
            return if w > 0.0 { 1.0 } else { 0.0 };
        }
        normal_cdf(w / denom - self.z0)
    }
}

impl Estimate for BootstrapEstimate {
    fn name(&self) -> String {
        format!(
            "{} bootstrap of {} ({} resamples{})",
            match self.method {
                BootstrapMethod::Percentile => "percentile",
                BootstrapMethod::Bca => "BCa",
            },
            self.what,
            self.replicates.len(),
            if self.clustered {
                format!(", resampling {}", self.unit)
            } else {
                String::new()
            }
        )
    }
    fn n(&self) -> usize {
        self.n
    }
    fn unit(&self) -> &str {
        &self.unit
    }
    fn estimate(&self) -> f64 {
        self.estimate
    }
    fn interval(&self, conf: f64) -> Result<[f64; 2]> {
        check_conf(conf)?;
        let a = (1.0 - conf) / 2.0;
        let (lo, hi) = (self.adjusted(a), self.adjusted(1.0 - a));
        Ok([
            quantile_sorted(&self.replicates, lo),
            quantile_sorted(&self.replicates, hi),
        ])
    }
    /// The smallest α at which the lower bound of the two-sided 1 − 2α interval exceeds
    /// `value` (at least half a replicate's share).
    fn p_greater(&self, value: f64) -> Result<f64> {
        Ok(self.nominal_level(value))
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        // Share of replicates at or above `value`, mirrored.
        Ok(1.0 - self.nominal_level(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_difference_is_a_tie() {
        let a = [1.0; 20];
        let e = bootstrap_paired_diff(&a, &a, None, &BootstrapConfig::default(), "d", "x").unwrap();
        assert_eq!(e.estimate, 0.0);
        assert_eq!(e.interval(0.9).unwrap(), [0.0, 0.0]);
        assert!(e.p_greater(0.0).unwrap() >= 0.5);
        assert!(e.p_less(0.0).unwrap() >= 0.5);
        // Non-inferiority with a margin is decided.
        assert!(e.p_greater(-0.02).unwrap() < 1e-3);
    }

    #[test]
    fn clusters_count_as_units() {
        let x = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let c = [7, 7, 7, 9, 9, 9];
        let e = bootstrap_mean(&x, Some(&c), &BootstrapConfig::default(), "m", "videos").unwrap();
        assert_eq!(e.n, 2);
        assert!(e.name().contains("resampling videos"));
        assert!(bootstrap_mean(&x, Some(&c[..3]), &BootstrapConfig::default(), "m", "v").is_err());
        assert!(bootstrap_mean(&[1.0], None, &BootstrapConfig::default(), "m", "v").is_err());
        assert!(bootstrap_mean(
            &[1.0, f64::NAN],
            None,
            &BootstrapConfig::default(),
            "m",
            "v"
        )
        .is_err());
    }

    #[test]
    fn same_seed_same_interval() {
        let x: Vec<f64> = (0..30).map(|i| ((i * 37) % 11) as f64).collect();
        let cfg = BootstrapConfig::default();
        let a = bootstrap_mean(&x, None, &cfg, "m", "u").unwrap();
        let b = bootstrap_mean(&x, None, &cfg, "m", "u").unwrap();
        assert_eq!(a.interval(0.95).unwrap(), b.interval(0.95).unwrap());
    }
}
