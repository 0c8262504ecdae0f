//! Intervals and one-sided tests for a binomial proportion k/n: Wilson's score
//! interval (Wilson 1927; also for fractional counts, the mean of values in [0, 1])
//! and the exact Clopper–Pearson interval (1934), as statsmodels'
//! `proportion_confint(method="wilson" | "beta")`; the exact binomial test as scipy's
//! `binomtest`.

use super::dist::{beta_quantile, binomial_cdf, binomial_sf_ge, check_conf, normal_quantile};
use super::dist::{normal_cdf, normal_sf};
use super::Estimate;
use crate::{Error, Result};

fn check(k: u64, n: u64) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("proportion: n must be at least 1"));
    }
    if k > n {
        return Err(Error::invalid(format!(
            "proportion: {k} successes out of {n} trials"
        )));
    }
    Ok(())
}

/// Wilson's two-sided score interval for k successes in n trials at confidence `conf`.
pub fn wilson_interval(k: u64, n: u64, conf: f64) -> Result<[f64; 2]> {
    check(k, n)?;
    wilson_interval_fractional(k as f64, n as f64, conf)
}

/// Wilson's interval for a fractional count: `count` "successes" out of `n` units, as
/// statsmodels' `proportion_confint(count, n, method="wilson")` computes it for
/// non-integer counts. Use it for the mean `p̂ = count / n` of `n` independent values
/// in `[0, 1]` (e.g. per-cloud shares of several random draws): for 0/1 values it is
/// the usual interval, and for averages it is conservative, since the variance of a
/// value in `[0, 1]` with mean μ is at most μ(1 − μ), the variance the interval assumes.
/// Errors unless `0 ≤ count ≤ n`, `n > 0` (both finite) and `conf` is in (0, 1).
pub fn wilson_interval_fractional(count: f64, n: f64, conf: f64) -> Result<[f64; 2]> {
    if !(n.is_finite() && n > 0.0 && count.is_finite() && (0.0..=n).contains(&count)) {
        return Err(Error::invalid(format!(
            "proportion: {count} successes out of {n} (need 0 ≤ count ≤ n, n > 0)"
        )));
    }
    check_conf(conf)?;
    let z = normal_quantile(1.0 - (1.0 - conf) / 2.0);
    let (nf, p) = (n, count / n);
    let denom = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / denom;
    Ok([(centre - half).max(0.0), (centre + half).min(1.0)])
}

/// The exact Clopper–Pearson two-sided interval (beta quantiles) at confidence `conf`.
pub fn clopper_pearson_interval(k: u64, n: u64, conf: f64) -> Result<[f64; 2]> {
    check(k, n)?;
    check_conf(conf)?;
    let a = (1.0 - conf) / 2.0;
    let (kf, nf) = (k as f64, n as f64);
    let lo = if k == 0 {
        0.0
    } else {
        beta_quantile(kf, nf - kf + 1.0, a)
    };
    let hi = if k == n {
        1.0
    } else {
        beta_quantile(kf + 1.0, nf - kf, 1.0 - a)
    };
    Ok([lo, hi])
}

/// Exact one-sided binomial p-value for H1: θ > θ0, i.e. P(X ≥ k | n, θ0).
pub fn binomial_test_greater(k: u64, n: u64, theta0: f64) -> Result<f64> {
    check(k, n)?;
    Ok(binomial_sf_ge(k as i64, n, theta0))
}

/// Exact one-sided binomial p-value for H1: θ < θ0, i.e. P(X ≤ k | n, θ0).
pub fn binomial_test_less(k: u64, n: u64, theta0: f64) -> Result<f64> {
    check(k, n)?;
    Ok(binomial_cdf(k as i64, n, theta0))
}

/// Which interval and test a [`Proportion`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProportionMethod {
    /// Clopper–Pearson interval and the exact binomial test (never anti-conservative).
    Exact,
    /// Wilson's interval and the matching score test (z with the null variance).
    Wilson,
}

/// k successes out of n independent units, as an [`Estimate`] of the proportion.
#[derive(Debug, Clone)]
pub struct Proportion {
    pub k: u64,
    pub n: u64,
    pub method: ProportionMethod,
    pub unit: String,
}

impl Proportion {
    /// `k` of `n` units (`unit` names them: "clouds", "videos").
    pub fn new(k: u64, n: u64, method: ProportionMethod, unit: &str) -> Result<Self> {
        check(k, n)?;
        Ok(Self {
            k,
            n,
            method,
            unit: unit.to_string(),
        })
    }

    /// Count the `true` outcomes.
    pub fn from_outcomes(outcomes: &[bool], method: ProportionMethod, unit: &str) -> Result<Self> {
        let k = outcomes.iter().filter(|&&o| o).count() as u64;
        Self::new(k, outcomes.len() as u64, method, unit)
    }

    fn score_z(&self, theta0: f64) -> Result<f64> {
        if !(theta0 > 0.0 && theta0 < 1.0) {
            return Err(Error::invalid(format!(
                "Wilson score test: null proportion {theta0} must lie in (0, 1)"
            )));
        }
        let nf = self.n as f64;
        Ok((self.k as f64 / nf - theta0) / (theta0 * (1.0 - theta0) / nf).sqrt())
    }
}

impl Estimate for Proportion {
    fn name(&self) -> String {
        match self.method {
            ProportionMethod::Exact => "exact binomial (Clopper–Pearson interval)".into(),
            ProportionMethod::Wilson => "Wilson score".into(),
        }
    }
    fn n(&self) -> usize {
        self.n as usize
    }
    fn unit(&self) -> &str {
        &self.unit
    }
    fn estimate(&self) -> f64 {
        self.k as f64 / self.n as f64
    }
    fn interval(&self, conf: f64) -> Result<[f64; 2]> {
        match self.method {
            ProportionMethod::Exact => clopper_pearson_interval(self.k, self.n, conf),
            ProportionMethod::Wilson => wilson_interval(self.k, self.n, conf),
        }
    }
    fn p_greater(&self, value: f64) -> Result<f64> {
        if value < 0.0 {
            return Ok(0.0);
        }
        if value >= 1.0 {
            return Ok(1.0);
        }
        match self.method {
            ProportionMethod::Exact => binomial_test_greater(self.k, self.n, value),
            ProportionMethod::Wilson if value == 0.0 => Ok(if self.k > 0 { 0.0 } else { 1.0 }),
            ProportionMethod::Wilson => Ok(normal_sf(self.score_z(value)?)),
        }
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        if value > 1.0 {
            return Ok(0.0);
        }
        if value <= 0.0 {
            return Ok(1.0);
        }
        match self.method {
            ProportionMethod::Exact => binomial_test_less(self.k, self.n, value),
            ProportionMethod::Wilson if value == 1.0 => Ok(if self.k < self.n { 0.0 } else { 1.0 }),
            ProportionMethod::Wilson => Ok(normal_cdf(self.score_z(value)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_and_errors() {
        assert_eq!(clopper_pearson_interval(0, 10, 0.95).unwrap()[0], 0.0);
        assert_eq!(clopper_pearson_interval(10, 10, 0.95).unwrap()[1], 1.0);
        // k = 0: upper bound 1 − (α/2)^(1/n).
        let hi = clopper_pearson_interval(0, 10, 0.95).unwrap()[1];
        assert!((hi - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-12);
        assert!(wilson_interval(3, 0, 0.95).is_err());
        assert!(wilson_interval(4, 3, 0.95).is_err());
        assert!(wilson_interval(1, 3, 1.0).is_err());
        assert!(wilson_interval_fractional(3.5, 3.0, 0.95).is_err());
        assert!(wilson_interval_fractional(-0.5, 3.0, 0.95).is_err());
        assert!(wilson_interval_fractional(0.5, 0.0, 0.95).is_err());
        assert!(wilson_interval_fractional(f64::NAN, 3.0, 0.95).is_err());
        // statsmodels 0.15: proportion_confint(110.5, 200, alpha=0.05, method="wilson")
        // = (0.483243732084336, 0.619777508646051); more cases in stats_reference.rs.
        let [lo, hi] = wilson_interval_fractional(110.5, 200.0, 0.95).unwrap();
        assert!((lo - 0.483_243_732_084_336).abs() < 1e-12, "{lo}");
        assert!((hi - 0.619_777_508_646_051).abs() < 1e-12, "{hi}");
        let p = Proportion::new(45, 50, ProportionMethod::Exact, "clouds").unwrap();
        // 45/50 against 0.9: the observed value sits on the threshold, no evidence.
        assert!(p.p_greater(0.9).unwrap() > 0.4);
        assert!(p.p_less(0.9).unwrap() > 0.4);
    }
}
