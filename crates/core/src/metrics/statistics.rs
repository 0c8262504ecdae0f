//! Summaries of repeated measurements: [`summarize`] (mean, sample standard deviation,
//! 95 % Student-t half-width) and the exact [`t_critical_95`] quantile.

use std::fmt;

use super::check_finite_f64;
use crate::{bail_invalid, Result};

/// Mean, spread and 95 % confidence half-width of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); 0 when `n == 1`.
    pub std: f64,
    /// Half-width of the 95 % Student-t interval, `t₀.₉₇₅(n−1) · std / √n`;
    /// 0 when `n == 1` (undefined there).
    pub ci95: f64,
}

impl fmt::Display for Summary {
    /// `"mean ± std"`, with the formatter's precision (4 decimals by default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(4);
        write!(f, "{:.*} ± {:.*}", p, self.mean, p, self.std)
    }
}

/// Summarises repeated measurements: mean, sample std (ddof = 1) and the 95 %
/// t-interval half-width (see [`Summary`]).
///
/// Errors on empty input or non-finite values.
pub fn summarize(values: &[f64]) -> Result<Summary> {
    if values.is_empty() {
        bail_invalid!("summarize: empty input");
    }
    check_finite_f64("summarize", "values", values)?;
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Ok(Summary {
            n,
            mean,
            std: 0.0,
            ci95: 0.0,
        });
    }
    let ss: f64 = values.iter().map(|&x| (x - mean) * (x - mean)).sum();
    let std = (ss / (n - 1) as f64).sqrt();
    let ci95 = t_critical_95(n - 1)? * std / (n as f64).sqrt();
    Ok(Summary { n, mean, std, ci95 })
}

/// Two-sided 95 % critical value of Student's t distribution, i.e. the 0.975
/// quantile with `dof` degrees of freedom (`scipy.stats.t.ppf(0.975, dof)`),
/// accurate to ~1e-12.
///
/// Computed by bisection on the exact finite-sum CDF for integer dof
/// (Abramowitz & Stegun 26.7.3–4) up to 1000 dof, and by the Cornish–Fisher
/// expansion (A&S 26.7.5) beyond. Errors when `dof == 0`.
pub fn t_critical_95(dof: usize) -> Result<f64> {
    if dof == 0 {
        bail_invalid!("t_critical_95: degrees of freedom must be >= 1");
    }
    if dof > 1000 {
        let x = 1.959_963_984_540_054_f64; // standard normal 0.975 quantile
        let nu = dof as f64;
        let x2 = x * x;
        let g1 = (x2 + 1.0) * x / 4.0;
        let g2 = ((5.0 * x2 + 16.0) * x2 + 3.0) * x / 96.0;
        let g3 = (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * x / 384.0;
        let g4 = ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * x / 92160.0;
        return Ok(x + g1 / nu + g2 / (nu * nu) + g3 / nu.powi(3) + g4 / nu.powi(4));
    }
    // A(t | ν) = P(|T| < t); find A = 0.95 by bisection (A is increasing in t).
    let target = 0.95;
    let (mut lo, mut hi) = (0.0f64, 16.0f64); // t_{0.975}(1) ≈ 12.706
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t_two_sided_mass(mid, dof) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// `P(|T| < t)` for Student's t with integer `nu ≥ 1` degrees of freedom
/// (Abramowitz & Stegun 26.7.3 for odd ν, 26.7.4 for even ν).
fn t_two_sided_mass(t: f64, nu: usize) -> f64 {
    let theta = (t / (nu as f64).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    let c2 = c * c;
    if nu % 2 == 1 {
        if nu == 1 {
            return 2.0 * theta / std::f64::consts::PI;
        }
        // θ + sinθ (cosθ + (2/3) cos³θ + … + (2·4…(ν−3))/(1·3…(ν−2)) cos^{ν−2}θ)
        let mut term = c;
        let mut sum = c;
        let mut k = 2usize;
        while k < nu - 1 {
            term *= c2 * k as f64 / (k + 1) as f64;
            sum += term;
            k += 2;
        }
        2.0 * (theta + s * sum) / std::f64::consts::PI
    } else {
        // sinθ (1 + (1/2) cos²θ + (1·3)/(2·4) cos⁴θ + … + (1·3…(ν−3))/(2·4…(ν−2)) cos^{ν−2}θ)
        let mut term = 1.0;
        let mut sum = 1.0;
        let mut k = 1usize;
        while k < nu - 1 {
            term *= c2 * k as f64 / (k + 1) as f64;
            sum += term;
            k += 2;
        }
        s * sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::close;

    #[test]
    fn t_quantiles() {
        // scipy.stats.t.ppf(0.975, dof)
        let known = [
            (1, 12.706204736174694),
            (2, 4.302652729749462),
            (3, 3.1824463052837078),
            (4, 2.7764451051977934),
            (9, 2.262157162798205),
            (10, 2.228138851986274),
            (29, 2.045229642132703),
            (30, 2.0422724563012378),
            (100, 1.9839715185235518),
        ];
        for (dof, t) in known {
            let got = t_critical_95(dof).unwrap();
            assert!(close(got, t, 1e-12), "dof {dof}: {got} vs {t}");
        }
        // Continuity across the switch to the asymptotic expansion.
        let a = t_critical_95(1000).unwrap();
        let b = t_critical_95(1001).unwrap();
        assert!(a > b && a - b < 1e-5);
        assert!(t_critical_95(0).is_err());
    }

    #[test]
    fn summarize_values() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.n, 4);
        assert!(close(s.mean, 2.5, 1e-15));
        assert!(close(s.std, (5.0f64 / 3.0).sqrt(), 1e-15));
        assert!(close(s.ci95, 3.1824463052837078 * s.std / 2.0, 1e-12));
        assert_eq!(format!("{s}"), "2.5000 ± 1.2910");
        assert_eq!(format!("{s:.1}"), "2.5 ± 1.3");
        let one = summarize(&[3.0]).unwrap();
        assert_eq!((one.n, one.mean, one.std, one.ci95), (1, 3.0, 0.0, 0.0));
        assert!(summarize(&[]).is_err());
        assert!(summarize(&[1.0, f64::NAN]).is_err());
        assert!(summarize(&[1.0, f64::NEG_INFINITY]).is_err());
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
