//! Tests on the scores of independent runs (seeds, trained instances): the one-sample t
//! test against a threshold, Welch's unequal-variance t test, and the Mann–Whitney U
//! test, all as `scipy.stats` (`ttest_1samp`, `ttest_ind(equal_var=False)`,
//! `mannwhitneyu` with `method="auto"`: exact when either group has at most 8 values
//! and there are no ties, otherwise the normal approximation with tie correction and a
//! continuity correction).

use super::dist::{check_finite, normal_quantile, normal_sf};
use super::{Estimate, TEstimate};
use crate::{Error, Result};

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// One-sample t: the mean of `x` with standard error s/√n and n − 1 degrees of freedom.
pub fn t_mean(x: &[f64], unit: &str) -> Result<TEstimate> {
    check_finite(x, "t test")?;
    if x.len() < 2 {
        return Err(Error::invalid(format!(
            "t test: {} value(s); at least 2 are needed",
            x.len()
        )));
    }
    let (m, v) = mean_var(x);
    Ok(TEstimate {
        name: "one-sample t".into(),
        estimate: m,
        se: (v / x.len() as f64).sqrt(),
        df: x.len() as f64 - 1.0,
        n: x.len(),
        unit: unit.to_string(),
    })
}

/// Welch's t: mean(a) − mean(b) with standard error √(s²ₐ/nₐ + s²_b/n_b) and the
/// Welch–Satterthwaite degrees of freedom. `n` is nₐ + n_b.
pub fn welch(a: &[f64], b: &[f64], unit: &str) -> Result<TEstimate> {
    check_finite(a, "Welch t test")?;
    check_finite(b, "Welch t test")?;
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::invalid(format!(
            "Welch t test: groups of {} and {} (need at least 2 each)",
            a.len(),
            b.len()
        )));
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (qa, qb) = (va / a.len() as f64, vb / b.len() as f64);
    let se2 = qa + qb;
    let df = if se2 > 0.0 {
        se2 * se2 / (qa * qa / (a.len() as f64 - 1.0) + qb * qb / (b.len() as f64 - 1.0))
    } else {
        (a.len() + b.len() - 2) as f64
    };
    Ok(TEstimate {
        name: "Welch t".into(),
        estimate: ma - mb,
        se: se2.sqrt(),
        df,
        n: a.len() + b.len(),
        unit: unit.to_string(),
    })
}

/// The Mann–Whitney U test of group `a` against group `b`, as an [`Estimate`] of the
/// Hodges–Lehmann shift (the median of all differences aᵢ − bⱼ) with its
/// distribution-free (Moses) interval. `p_greater(v)` tests whether `a − v` tends to
/// exceed `b` (a shift of v; v = 0 is the usual test).
#[derive(Debug, Clone)]
pub struct MannWhitney {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub unit: String,
}

/// U statistic of `a`, the tie sizes, and whether the exact distribution applies.
struct UStat {
    u1: f64,
    tie_term: f64,
    exact: bool,
}

fn u_stat(a: &[f64], b: &[f64]) -> UStat {
    let n1 = a.len();
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut r1, mut tie_term, mut ties) = (0.0, 0.0, false);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            ties = true;
            tie_term += t * t * t - t;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        r1 += mid * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let n1f = n1 as f64;
    UStat {
        u1: r1 - n1f * (n1f + 1.0) / 2.0,
        tie_term,
        exact: (n1 <= 8 || b.len() <= 8) && !ties,
    }
}

/// Null distribution of U for group sizes (m, n): P(U = u), u = 0..=mn, from the
/// Gaussian binomial coefficient ∏ᵢ (1 − q^{n+i}) / (1 − qⁱ).
fn u_pmf(m: usize, n: usize) -> Vec<f64> {
    let (m, n) = if m < n { (m, n) } else { (n, m) };
    let len = m * n + 1;
    let mut c = vec![0.0f64; len];
    c[0] = 1.0;
    for i in 1..=m {
        let k = n + i;
        for u in (k..len).rev() {
            c[u] -= c[u - k];
        }
        for u in i..len {
            c[u] += c[u - i];
        }
    }
    let total: f64 = c.iter().sum();
    c.iter().map(|v| v / total).collect()
}

/// P(U ≥ u) under H0 (u may be fractional only when not exact; here integral).
fn exact_sf(pmf: &[f64], u: f64) -> f64 {
    let k = u.ceil().max(0.0) as usize;
    if k >= pmf.len() {
        return 0.0;
    }
    pmf[k..].iter().sum::<f64>().min(1.0)
}

impl MannWhitney {
    pub fn new(a: &[f64], b: &[f64], unit: &str) -> Result<Self> {
        check_finite(a, "Mann–Whitney")?;
        check_finite(b, "Mann–Whitney")?;
        if a.is_empty() || b.is_empty() {
            return Err(Error::invalid(format!(
                "Mann–Whitney: groups of {} and {} (need at least 1 each)",
                a.len(),
                b.len()
            )));
        }
        Ok(Self {
            a: a.to_vec(),
            b: b.to_vec(),
            unit: unit.to_string(),
        })
    }

    /// U of group `a` (pairs with aᵢ > bⱼ, ties ½).
    pub fn u(&self) -> f64 {
        u_stat(&self.a, &self.b).u1
    }

    /// Whether the exact null distribution is used (scipy's `method="auto"` rule).
    pub fn exact(&self) -> bool {
        u_stat(&self.a, &self.b).exact
    }

    /// P(U ≥ u) for the statistic `u` of shifted data, scipy's way.
    fn sf(&self, a: &[f64], b: &[f64], greater: bool) -> f64 {
        let s = u_stat(a, b);
        let (n1, n2) = (a.len() as f64, b.len() as f64);
        let u = if greater { s.u1 } else { n1 * n2 - s.u1 };
        if s.exact {
            exact_sf(&u_pmf(a.len(), b.len()), u)
        } else {
            let n = n1 + n2;
            let sd = (n1 * n2 / 12.0 * ((n + 1.0) - s.tie_term / (n * (n - 1.0)))).sqrt();
            let z = (u - n1 * n2 / 2.0 - 0.5) / sd;
            if z.is_nan() {
                1.0
            } else {
                normal_sf(z)
            }
        }
    }

    /// The two-sided p-value (scipy: twice the upper tail of max(U₁, U₂), at most 1).
    pub fn p_two_sided(&self) -> f64 {
        let s = u_stat(&self.a, &self.b);
        let u2 = (self.a.len() * self.b.len()) as f64 - s.u1;
        let greater = s.u1 >= u2;
        (2.0 * self.sf(&self.a, &self.b, greater)).min(1.0)
    }

    fn sorted_diffs(&self) -> Vec<f64> {
        let mut d: Vec<f64> = self
            .a
            .iter()
            .flat_map(|x| self.b.iter().map(move |y| x - y))
            .collect();
        d.sort_by(|x, y| x.total_cmp(y));
        d
    }
}

fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

impl Estimate for MannWhitney {
    fn name(&self) -> String {
        format!(
            "Mann–Whitney U ({}; Hodges–Lehmann shift)",
            if self.exact() {
                "exact"
            } else {
                "normal approximation, tie-corrected"
            }
        )
    }
    fn n(&self) -> usize {
        self.a.len() + self.b.len()
    }
    fn unit(&self) -> &str {
        &self.unit
    }
    fn estimate(&self) -> f64 {
        median_sorted(&self.sorted_diffs())
    }
    /// Moses' interval [D₍c₎, D₍N+1−c₎] of the N = nₐn_b sorted differences, c the
    /// largest count with P(U ≤ c − 1) ≤ (1 − conf)/2 (exact, or its normal
    /// approximation); infinite where the groups are too small for `conf`.
    fn interval(&self, conf: f64) -> Result<[f64; 2]> {
        super::dist::check_conf(conf)?;
        let d = self.sorted_diffs();
        let nn = d.len();
        let half = (1.0 - conf) / 2.0;
        let c = if self.exact() {
            let pmf = u_pmf(self.a.len(), self.b.len());
            let mut cum = 0.0;
            let mut c = 0;
            for p in &pmf {
                if cum + p > half {
                    break;
                }
                cum += p;
                c += 1;
            }
            c
        } else {
            let (n1, n2) = (self.a.len() as f64, self.b.len() as f64);
            let sd = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
            let z = normal_quantile(1.0 - half);
            (nn as f64 / 2.0 - z * sd).floor().max(0.0) as usize
        };
        if c == 0 {
            return Ok([f64::NEG_INFINITY, f64::INFINITY]);
        }
        let c = c.min(nn.div_ceil(2));
        Ok([d[c - 1], d[nn - c]])
    }
    fn p_greater(&self, value: f64) -> Result<f64> {
        let a: Vec<f64> = self.a.iter().map(|x| x - value).collect();
        Ok(self.sf(&a, &self.b, true))
    }
    fn p_less(&self, value: f64) -> Result<f64> {
        let a: Vec<f64> = self.a.iter().map(|x| x - value).collect();
        Ok(self.sf(&a, &self.b, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_by_hand() {
        // m = n = 2: U takes 0, 1, 2, 2, 3, 4 over the 6 arrangements.
        let p = u_pmf(2, 2);
        let want = [1.0, 1.0, 2.0, 1.0, 1.0].map(|v| v / 6.0);
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        let mw = MannWhitney::new(&[3.0, 4.0], &[1.0, 2.0], "seeds").unwrap();
        assert_eq!(mw.u(), 4.0);
        assert!((mw.p_greater(0.0).unwrap() - 1.0 / 6.0).abs() < 1e-15);
        assert_eq!(mw.estimate(), 2.0);
    }

    #[test]
    fn a_tie_everywhere_is_no_evidence() {
        let a = [200.0; 5];
        let mw = MannWhitney::new(&a, &a, "instances").unwrap();
        assert!(mw.p_greater(0.0).unwrap() > 0.5);
        assert!(mw.p_less(0.0).unwrap() > 0.5);
        let w = welch(&a, &a, "instances").unwrap();
        assert_eq!(w.p_greater(0.0).unwrap(), 1.0);
        assert_eq!(w.p_less(0.0).unwrap(), 1.0);
        assert!(welch(&a[..1], &a, "i").is_err());
        assert!(t_mean(&[1.0], "i").is_err());
    }
}
