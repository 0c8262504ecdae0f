//! The two pre-processing defenses: simple random sampling (SRS) and
//! statistical outlier removal (SOR). Both take a flat row-major `x y z` cloud
//! and return the kept points **in their original order**; the `*_batch`
//! versions run many clouds in parallel (rayon) with results in input order.
//!
//! ## SOR
//!
//! For every point `i`, `dᵢ` = mean over its `k` nearest *other* points (self
//! excluded by index; exact duplicates count, at distance 0) of the distance,
//! either Euclidean `‖xᵢ − xⱼ‖` or squared `‖xᵢ − xⱼ‖²` ([`SorMetric`]).
//! With `μ` the mean of the `dᵢ` and `σ` their standard deviation with
//! `n − ddof` in the denominator, point `i` is kept iff `dᵢ ≤ μ + α·σ`
//! ([`KeepRule::LessEq`], an outlier is `dᵢ > μ + α·σ`).
//!
//! * Neighbours come from `candor_core::knn::knn` (exact; kd-tree above 64
//!   points). Squared distances are `f32` as there; `dᵢ` is accumulated in `f64`
//!   and rounded to `f32` (for `k = 2` squared this equals IF-Defense's fp32
//!   `mean`); `μ`, `σ` and the threshold are computed in `f64` (two passes).
//! * [`SorConfig::default`] is IF-Defense's `SOR.py` (`k = 2`, `α = 1.1`,
//!   squared, unbiased std, `≤`), the setting of IF-Defense's Table 2 and most
//!   toolkits; [`SorConfig::pcl`] is the official DUP-Net `filter.py`
//!   (python-pcl: `k = 50`, `α = 1.0`, Euclidean, unbiased std). The two metrics
//!   remove different points: squared distances let a few far points inflate σ.
//! * PCL gives non-finite points `d = 0` and leaves them out of `n`; here a
//!   non-finite coordinate is an error instead, as is `k ≥ n`.
//!
//! ## SRS
//!
//! Drops `drop` points chosen uniformly without replacement (IF-Defense `SRS.py`
//! uses 500: 1024 → 524 points) and does not re-normalise. Seeded by a
//! [`SeededRng`]; the batch version gives cloud `c` the stream
//! `derive(seed, "srs/<c>")`, independent of the thread count.

use candor_core::knn::knn;
use candor_core::SeededRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::cloud::check_cloud;
use crate::{Error, Result};

/// The distance SOR averages over the `k` neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SorMetric {
    /// `‖xᵢ − xⱼ‖` (PCL, the official DUP-Net code).
    Euclidean,
    /// `‖xᵢ − xⱼ‖²` (IF-Defense's `SOR.py`).
    Squared,
}

/// Which points SOR keeps, given the threshold `t = μ + α·σ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepRule {
    /// `dᵢ ≤ t` (PCL and IF-Defense).
    LessEq,
    /// `dᵢ < t`.
    Less,
}

/// Statistical outlier removal settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SorConfig {
    /// Neighbours per point (self excluded).
    pub k: usize,
    /// Threshold multiplier `α` of the standard deviation.
    pub alpha: f64,
    /// Distance averaged over the neighbours.
    pub metric: SorMetric,
    /// Delta degrees of freedom of σ: 1 = unbiased (`n − 1`, torch and PCL), 0 = population.
    pub ddof: u32,
    /// Keep rule.
    pub keep: KeepRule,
}

impl Default for SorConfig {
    /// [`SorConfig::if_defense`].
    fn default() -> Self {
        Self::if_defense()
    }
}

impl SorConfig {
    /// IF-Defense `SOR.py`: `k = 2`, `α = 1.1`, squared distances, unbiased σ, `≤`.
    pub fn if_defense() -> Self {
        SorConfig {
            k: 2,
            alpha: 1.1,
            metric: SorMetric::Squared,
            ddof: 1,
            keep: KeepRule::LessEq,
        }
    }

    /// Official DUP-Net `filter.py` (python-pcl `StatisticalOutlierRemovalFilter`):
    /// `k = 50`, `α = 1.0`, Euclidean distances, unbiased σ, `≤`.
    pub fn pcl() -> Self {
        SorConfig {
            k: 50,
            alpha: 1.0,
            metric: SorMetric::Euclidean,
            ddof: 1,
            keep: KeepRule::LessEq,
        }
    }

    /// Checks `k ≥ 1`, `α` finite and `ddof ∈ {0, 1}`.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::invalid("SOR: k must be at least 1"));
        }
        if !self.alpha.is_finite() {
            return Err(Error::invalid(format!(
                "SOR: alpha must be finite, got {}",
                self.alpha
            )));
        }
        if self.ddof > 1 {
            return Err(Error::invalid(format!(
                "SOR: ddof must be 0 or 1, got {}",
                self.ddof
            )));
        }
        Ok(())
    }
}

/// The statistics of one SOR pass (see [`sor_stats`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SorStats {
    /// `dᵢ` of every point.
    pub mean_dists: Vec<f32>,
    /// `μ`.
    pub mean: f64,
    /// `σ`.
    pub std: f64,
    /// `μ + α·σ`.
    pub threshold: f64,
    /// Whether each point is kept.
    pub keep: Vec<bool>,
}

impl SorStats {
    /// Number of points kept.
    pub fn num_kept(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }
}

/// Validates the cloud and `k`, runs the kNN query and turns its squared
/// distances into `dᵢ` **in place** (entry `i` of the returned vector; the rest
/// is scratch). Returns `(n, buffer)`.
fn mean_knn_dists(points: &[f32], cfg: &SorConfig) -> Result<(usize, Vec<f32>)> {
    cfg.validate()?;
    let n = check_cloud(points, "SOR")?;
    if cfg.k >= n {
        return Err(Error::invalid(format!(
            "SOR: k = {} needs more than k points, the cloud has {n}",
            cfg.k
        )));
    }
    let k = cfg.k;
    let mut d = knn(points, 3, k)?.sq_dists;
    let inv_k = 1.0 / k as f64;
    for i in 0..n {
        // Row i starts at i·k ≥ i: writing entry i never clobbers an unread row.
        let row = &d[i * k..i * k + k];
        let s: f64 = match cfg.metric {
            SorMetric::Squared => row.iter().map(|&v| f64::from(v)).sum(),
            SorMetric::Euclidean => row.iter().map(|&v| f64::from(v.sqrt())).sum(),
        };
        d[i] = (s * inv_k) as f32;
    }
    d.truncate(n);
    Ok((n, d))
}

/// `(μ, σ, threshold)` of the `dᵢ` (two-pass, `f64`).
fn threshold(d: &[f32], cfg: &SorConfig) -> (f64, f64, f64) {
    let n = d.len() as f64;
    let mean = d.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let ss: f64 = d
        .iter()
        .map(|&v| {
            let e = f64::from(v) - mean;
            e * e
        })
        .sum();
    let denom = (n - f64::from(cfg.ddof)).max(1.0);
    let std = (ss / denom).sqrt();
    (mean, std, mean + cfg.alpha * std)
}

#[inline]
fn keeps(d: f32, t: f64, rule: KeepRule) -> bool {
    match rule {
        KeepRule::LessEq => f64::from(d) <= t,
        KeepRule::Less => f64::from(d) < t,
    }
}

/// SOR on one cloud: the kept points, in their original order.
///
/// Errors on an empty cloud, a length not a multiple of 3, a non-finite
/// coordinate, an invalid config, or `k ≥` the number of points.
pub fn sor(points: &[f32], cfg: &SorConfig) -> Result<Vec<f32>> {
    let (_, d) = mean_knn_dists(points, cfg)?;
    let (_, _, t) = threshold(&d, cfg);
    let kept = d.iter().filter(|&&v| keeps(v, t, cfg.keep)).count();
    let mut out = Vec::with_capacity(kept * 3);
    for (p, &v) in points.chunks_exact(3).zip(&d) {
        if keeps(v, t, cfg.keep) {
            out.extend_from_slice(p);
        }
    }
    Ok(out)
}

/// SOR's per-point distances, statistics and keep mask (for analysis and tests).
pub fn sor_stats(points: &[f32], cfg: &SorConfig) -> Result<SorStats> {
    let (_, d) = mean_knn_dists(points, cfg)?;
    let (mean, std, t) = threshold(&d, cfg);
    let keep = d.iter().map(|&v| keeps(v, t, cfg.keep)).collect();
    Ok(SorStats {
        mean_dists: d,
        mean,
        std,
        threshold: t,
        keep,
    })
}

/// [`sor`] on many clouds in parallel; results in input order. Errors on the
/// first bad cloud (lowest index), naming it.
pub fn sor_batch(clouds: &[&[f32]], cfg: &SorConfig) -> Result<Vec<Vec<f32>>> {
    cfg.validate()?;
    clouds
        .par_iter()
        .enumerate()
        .map(|(c, p)| sor(p, cfg).map_err(|e| in_cloud(c, e)))
        .collect()
}

fn in_cloud(c: usize, e: Error) -> Error {
    match e {
        Error::InvalidInput(m) => Error::invalid(format!("cloud {c}: {m}")),
        other => other,
    }
}

/// Simple random sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SrsConfig {
    /// Points dropped per cloud (IF-Defense: 500).
    pub drop: usize,
}

impl Default for SrsConfig {
    /// IF-Defense `SRS.py`: drop 500 points.
    fn default() -> Self {
        SrsConfig { drop: 500 }
    }
}

/// Indices (ascending) of the `n − drop` points SRS keeps out of `n`.
///
/// Errors if `drop ≥ n` (nothing would be left).
pub fn srs_indices(n: usize, cfg: &SrsConfig, rng: &mut SeededRng) -> Result<Vec<usize>> {
    if cfg.drop >= n {
        return Err(Error::invalid(format!(
            "SRS: cannot drop {} of {n} points (at least one must remain)",
            cfg.drop
        )));
    }
    let mut keep = vec![true; n];
    for i in rng.choose_distinct(n, cfg.drop)? {
        keep[i] = false;
    }
    Ok((0..n).filter(|&i| keep[i]).collect())
}

/// SRS on one cloud: the `n − drop` kept points, in their original order.
///
/// Errors on an empty cloud, a length not a multiple of 3, a non-finite
/// coordinate, or `drop ≥ n`.
pub fn srs(points: &[f32], cfg: &SrsConfig, rng: &mut SeededRng) -> Result<Vec<f32>> {
    let n = check_cloud(points, "SRS")?;
    let idx = srs_indices(n, cfg, rng)?;
    let mut out = Vec::with_capacity(idx.len() * 3);
    for i in idx {
        out.extend_from_slice(&points[i * 3..i * 3 + 3]);
    }
    Ok(out)
}

/// [`srs`] on many clouds in parallel; cloud `c` draws from
/// `SeededRng::derive(seed, "srs/<c>")`. Results in input order.
pub fn srs_batch(clouds: &[&[f32]], cfg: &SrsConfig, seed: u64) -> Result<Vec<Vec<f32>>> {
    clouds
        .par_iter()
        .enumerate()
        .map(|(c, p)| {
            let mut rng = SeededRng::derive(seed, &format!("srs/{c}"));
            srs(p, cfg, &mut rng).map_err(|e| in_cloud(c, e))
        })
        .collect()
}

/// A defense as configuration (`{"kind": "sor", "k": 2, …}` in JSON/TOML); unknown
/// keys are an error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", from = "DefenseDe")]
pub enum Defense {
    /// No defense: the cloud is returned as is (after the same checks).
    #[default]
    None,
    /// Simple random sampling.
    Srs(SrsConfig),
    /// Statistical outlier removal.
    Sor(SorConfig),
}

/// How [`Defense`] is read: serde ignores the other keys of an internally tagged unit
/// variant (`{"kind": "none", "typo": 1}`), so `none` is read as an empty struct
/// variant, which rejects them.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum DefenseDe {
    None {},
    Srs(SrsConfig),
    Sor(SorConfig),
}

impl From<DefenseDe> for Defense {
    fn from(d: DefenseDe) -> Self {
        match d {
            DefenseDe::None {} => Defense::None,
            DefenseDe::Srs(c) => Defense::Srs(c),
            DefenseDe::Sor(c) => Defense::Sor(c),
        }
    }
}

impl Defense {
    /// Short name: `"none"`, `"srs"` or `"sor"`.
    pub fn name(&self) -> &'static str {
        match self {
            Defense::None => "none",
            Defense::Srs(_) => "srs",
            Defense::Sor(_) => "sor",
        }
    }

    /// Applies the defense to one cloud (`rng` is used by SRS only).
    pub fn apply(&self, points: &[f32], rng: &mut SeededRng) -> Result<Vec<f32>> {
        match self {
            Defense::None => {
                check_cloud(points, "defense input")?;
                Ok(points.to_vec())
            }
            Defense::Srs(c) => srs(points, c, rng),
            Defense::Sor(c) => sor(points, c),
        }
    }

    /// Applies the defense to many clouds in parallel (see [`srs_batch`] for the seeding).
    pub fn apply_batch(&self, clouds: &[&[f32]], seed: u64) -> Result<Vec<Vec<f32>>> {
        match self {
            Defense::None => clouds
                .iter()
                .enumerate()
                .map(|(c, p)| {
                    check_cloud(p, "defense input")
                        .map(|_| p.to_vec())
                        .map_err(|e| in_cloud(c, e))
                })
                .collect(),
            Defense::Srs(c) => srs_batch(clouds, c, seed),
            Defense::Sor(c) => sor_batch(clouds, c),
        }
    }
}
