//! Statistical tests and intervals that decide a paper's claims.
//!
//! Every claim in candor is decided by a test fixed before the run (see `shared/design.md`
//! and [`claim`]). This module holds the tests, each checked against scipy/statsmodels
//! reference values (`tools/make_stats_fixtures.py` → `tests/fixtures/stats.json`):
//!
//! | family | functions | reference |
//! |---|---|---|
//! | [`dist`] | normal, Student's t, beta, binomial CDFs and quantiles | `scipy.stats` |
//! | [`proportion`] | Wilson and Clopper–Pearson intervals, exact binomial test | statsmodels `proportion_confint`, scipy `binomtest` |
//! | [`bootstrap`] | percentile and BCa intervals (Efron 1987) for a mean or a paired difference, resampling units or clusters | `scipy.stats.bootstrap` (within Monte Carlo error), coverage |
//! | [`paired`] | McNemar's exact test for paired binary outcomes | statsmodels `mcnemar(exact=True)` |
//! | [`delong`] | DeLong's covariance of correlated ROC AUCs (DeLong et al. 1988, fast form of Sun & Xu 2014), clustered as Obuchowski (1997) | fast DeLong written in the script |
//! | [`groups`] | Welch's t test, one-sample t, Mann–Whitney U (exact / normal with tie correction) with the Hodges–Lehmann shift | `scipy.stats.ttest_ind`, `ttest_1samp`, `mannwhitneyu` |
//! | [`multiple`] | Holm's step-down correction | statsmodels `multipletests(method="holm")` |
//!
//! Each test produces an [`Estimate`]: an estimate of the claimed quantity with a
//! two-sided interval at any confidence and a one-sided p-value against any value in
//! either direction. The claim helpers in [`claim`] turn an `Estimate` into a verdict
//! (threshold, superiority, non-inferiority, equivalence, intersection–union, gates)
//! and apply Holm's correction across one paper's claims.
//!
//! ```
//! use candor_core::stats::{claim::{ClaimFamily, Judgement}, proportion::*, Estimate};
//! // 190 of 200 attacked clouds fooled: does the attack succeed on at least 90%?
//! let succ = Proportion::new(190, 200, ProportionMethod::Exact, "clouds").unwrap();
//! let j = Judgement::at_least(&succ, 0.90, 0.05).unwrap();
//! let mut fam = ClaimFamily::new(0.05);
//! fam.claim("pc.attack", "The attack succeeds on at least 90% of clouds", "", j);
//! let claims = fam.finish();
//! assert_eq!(claims[0].verdict, candor_core::report::Verdict::Holds);
//! ```

pub mod bootstrap;
pub mod claim;
pub mod delong;
pub mod dist;
pub mod groups;
pub mod multiple;
pub mod paired;
pub mod proportion;

use crate::{Error, Result};
use dist::{normal_cdf, normal_quantile, normal_sf, t_cdf, t_quantile, t_sf};

/// An estimate of a quantity (a proportion, a mean, a difference, an AUC) from one
/// test, able to give a two-sided interval at any confidence and a one-sided p-value
/// against any value. The claim helpers in [`claim`] need nothing else.
pub trait Estimate {
    /// The test's name as `results.json` shows it, e.g. "DeLong (clustered by video)".
    fn name(&self) -> String;
    /// How many independent units the test rests on.
    fn n(&self) -> usize;
    /// What `n` counts: "clouds", "videos", "trained instances", "seeds".
    fn unit(&self) -> &str;
    /// The point estimate.
    fn estimate(&self) -> f64;
    /// A two-sided interval at confidence `conf` (e.g. 0.90).
    fn interval(&self, conf: f64) -> Result<[f64; 2]>;
    /// One-sided p-value for H1: θ > `value` (H0: θ ≤ value).
    fn p_greater(&self, value: f64) -> Result<f64>;
    /// One-sided p-value for H1: θ < `value` (H0: θ ≥ value).
    fn p_less(&self, value: f64) -> Result<f64>;
}

/// An asymptotically normal estimate with a standard error (DeLong AUCs and their
/// contrasts, inverse-variance combinations).
#[derive(Debug, Clone, PartialEq)]
pub struct NormalEstimate {
    pub name: String,
    pub estimate: f64,
    pub se: f64,
    pub n: usize,
    pub unit: String,
    /// Clip intervals to this range (e.g. [0, 1] for an AUC).
    pub bounds: Option<[f64; 2]>,
}

impl NormalEstimate {
    /// Combine independent estimates of one quantity (e.g. one per seed, each on its own
    /// test set) by inverse-variance weighting: θ = Σ wᵢθᵢ / Σ wᵢ, var = 1 / Σ wᵢ with
    /// wᵢ = 1/seᵢ². `n` adds up. Every se must be positive.
    pub fn combine_independent(parts: &[NormalEstimate]) -> Result<NormalEstimate> {
        let Some(first) = parts.first() else {
            return Err(Error::invalid("combine_independent: no estimates"));
        };
        let mut sw = 0.0;
        let mut swx = 0.0;
        for p in parts {
            if !(p.se > 0.0 && p.se.is_finite() && p.estimate.is_finite()) {
                return Err(Error::invalid(format!(
                    "combine_independent: '{}' has estimate {} and se {} (need a finite \
                     estimate and a positive se)",
                    p.name, p.estimate, p.se
                )));
            }
            let w = 1.0 / (p.se * p.se);
            sw += w;
            swx += w * p.estimate;
        }
        Ok(NormalEstimate {
            name: format!(
                "{} combined over {} independent parts (inverse-variance)",
                first.name,
                parts.len()
            ),
            estimate: swx / sw,
            se: (1.0 / sw).sqrt(),
            n: parts.iter().map(|p| p.n).sum(),
            unit: first.unit.clone(),
            bounds: first.bounds,
        })
    }
}

/// A zero standard error makes a test deterministic: the data either exceed `value`
/// (p = 0) or not (p = 1, a tie included).
fn degenerate_p(estimate: f64, value: f64, greater: bool) -> f64 {
    let exceeds = if greater {
        estimate > value
    } else {
        estimate < value
    };
    if exceeds {
        0.0
    } else {
        1.0
    }
}

fn clip(ci: [f64; 2], bounds: Option<[f64; 2]>) -> [f64; 2] {
    match bounds {
        Some([lo, hi]) => [ci[0].clamp(lo, hi), ci[1].clamp(lo, hi)],
        None => ci,
    }
}

impl Estimate for NormalEstimate {
    fn name(&self) -> String {
        self.name.clone()
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
        dist::check_conf(conf)?;
        let z = normal_quantile(1.0 - (1.0 - conf) / 2.0);
        Ok(clip(
            [self.estimate - z * self.se, self.estimate + z * self.se],
            self.bounds,
        ))
    }
    fn p_greater(&self, value: f64) -> Result<f64> {
        if self.se == 0.0 {
            return Ok(degenerate_p(self.estimate, value, true));
        }
        Ok(normal_sf((self.estimate - value) / self.se))
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        if self.se == 0.0 {
            return Ok(degenerate_p(self.estimate, value, false));
        }
        Ok(normal_cdf((self.estimate - value) / self.se))
    }
}

/// An estimate whose standardised error follows Student's t (one-sample t, Welch).
#[derive(Debug, Clone, PartialEq)]
pub struct TEstimate {
    pub name: String,
    pub estimate: f64,
    pub se: f64,
    /// Degrees of freedom (fractional for Welch).
    pub df: f64,
    pub n: usize,
    pub unit: String,
}

impl Estimate for TEstimate {
    fn name(&self) -> String {
        self.name.clone()
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
        dist::check_conf(conf)?;
        let t = t_quantile(1.0 - (1.0 - conf) / 2.0, self.df);
        Ok([self.estimate - t * self.se, self.estimate + t * self.se])
    }
    fn p_greater(&self, value: f64) -> Result<f64> {
        if self.se == 0.0 {
            return Ok(degenerate_p(self.estimate, value, true));
        }
        Ok(t_sf((self.estimate - value) / self.se, self.df))
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        if self.se == 0.0 {
            return Ok(degenerate_p(self.estimate, value, false));
        }
        Ok(t_cdf((self.estimate - value) / self.se, self.df))
    }
}
