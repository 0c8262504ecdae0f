//! McNemar's exact test for two classifiers (or defenses) scored on the same units:
//! only the discordant pairs carry information, and under H0 each is equally likely to
//! favour either side, so the count favouring A is Binomial(n₁₀ + n₀₁, ½) (as
//! statsmodels' `mcnemar(exact=True)`).

use super::dist::{binomial_cdf, binomial_sf_ge, check_conf};
use super::proportion::clopper_pearson_interval;
use super::Estimate;
use crate::{Error, Result};

/// Paired binary outcomes of A and B on the same units, as an [`Estimate`] of the
/// difference of their success rates, P(A) − P(B) = (n₁₀ − n₀₁)/n.
///
/// Only the superiority test (against 0) is exact; a margin needs
/// [`super::bootstrap::bootstrap_paired_fractions`]. The interval maps the exact
/// Clopper–Pearson interval of π = n₁₀/(n₁₀ + n₀₁) to (2π − 1)(n₁₀ + n₀₁)/n, i.e. it is
/// conditional on the number of discordant pairs, and excludes 0 exactly when the
/// two-sided exact test rejects at the same level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McNemar {
    /// Units where A is right and B wrong.
    pub n10: u64,
    /// Units where A is wrong and B right.
    pub n01: u64,
    /// All units.
    pub n: u64,
    pub unit: String,
}

impl McNemar {
    /// Count the discordant pairs of two outcome vectors (true = success).
    pub fn new(a: &[bool], b: &[bool], unit: &str) -> Result<Self> {
        if a.len() != b.len() || a.is_empty() {
            return Err(Error::invalid(format!(
                "McNemar: {} outcomes against {} (need equal, non-zero lengths)",
                a.len(),
                b.len()
            )));
        }
        let n10 = a.iter().zip(b).filter(|(x, y)| **x && !**y).count() as u64;
        let n01 = a.iter().zip(b).filter(|(x, y)| !**x && **y).count() as u64;
        Ok(Self {
            n10,
            n01,
            n: a.len() as u64,
            unit: unit.to_string(),
        })
    }

    /// The two-sided exact p-value, min(1, 2·P(X ≤ min(n₁₀, n₀₁))).
    pub fn p_two_sided(&self) -> f64 {
        let nd = self.n10 + self.n01;
        (2.0 * binomial_cdf(self.n10.min(self.n01) as i64, nd, 0.5)).min(1.0)
    }

    fn zero_only(value: f64) -> Result<()> {
        if value != 0.0 {
            return Err(Error::invalid(format!(
                "McNemar's exact test only tests a zero difference (asked {value}); \
                 use the paired bootstrap for a margin"
            )));
        }
        Ok(())
    }
}

impl Estimate for McNemar {
    fn name(&self) -> String {
        format!(
            "McNemar exact ({} discordant: {} for A, {} for B)",
            self.n10 + self.n01,
            self.n10,
            self.n01
        )
    }
    fn n(&self) -> usize {
        self.n as usize
    }
    fn unit(&self) -> &str {
        &self.unit
    }
    fn estimate(&self) -> f64 {
        (self.n10 as f64 - self.n01 as f64) / self.n as f64
    }
    fn interval(&self, conf: f64) -> Result<[f64; 2]> {
        check_conf(conf)?;
        let nd = self.n10 + self.n01;
        if nd == 0 {
            return Ok([0.0, 0.0]);
        }
        let [lo, hi] = clopper_pearson_interval(self.n10, nd, conf)?;
        let s = nd as f64 / self.n as f64;
        Ok([(2.0 * lo - 1.0) * s, (2.0 * hi - 1.0) * s])
    }
    /// P(X ≥ n₁₀) for X ~ Binomial(n₁₀ + n₀₁, ½): evidence that A beats B.
    fn p_greater(&self, value: f64) -> Result<f64> {
        Self::zero_only(value)?;
        Ok(binomial_sf_ge(self.n10 as i64, self.n10 + self.n01, 0.5))
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        Self::zero_only(value)?;
        Ok(binomial_sf_ge(self.n01 as i64, self.n10 + self.n01, 0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_hand_values() {
        let a = [true, true, true, false, true, true];
        let b = [false, false, true, true, false, true];
        let m = McNemar::new(&a, &b, "clouds").unwrap();
        assert_eq!((m.n10, m.n01), (3, 1));
        // P(X ≥ 3 | 4, ½) = 5/16.
        assert!((m.p_greater(0.0).unwrap() - 5.0 / 16.0).abs() < 1e-15);
        assert!((m.p_two_sided() - 10.0 / 16.0).abs() < 1e-15);
        assert!(m.p_greater(0.02).is_err());
        let none = McNemar::new(&a, &a, "clouds").unwrap();
        assert_eq!(none.p_greater(0.0).unwrap(), 1.0);
        assert_eq!(none.interval(0.9).unwrap(), [0.0, 0.0]);
        assert!(McNemar::new(&a, &b[..2], "c").is_err());
    }
}
