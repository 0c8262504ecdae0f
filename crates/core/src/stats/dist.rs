//! The distributions the tests need: standard normal, Student's t, beta and binomial,
//! each with its CDF and quantile, accurate to about 1e-12 (checked against scipy in
//! `tests/it/stats_reference.rs`). `erfc` and `lgamma` come from `libm` (full double
//! precision); the regularised incomplete beta function is a continued fraction
//! (Numerical Recipes §6.4, modified Lentz), its inverse a safeguarded Newton iteration.

use crate::{Error, Result};

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// 1 − Φ(x), accurate in the upper tail.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p): Wichura's AS 241 (PPND16), relative error about 1e-16. `p` outside (0, 1)
/// gives ∓∞ at the ends and NaN beyond them.
// AS241 coefficients as published, grouped as printed.
#[allow(clippy::inconsistent_digit_grouping, clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q
            * (((((((2509.080_928_730_122_7 * r + 33430.575_583_588_128) * r
                + 67265.770_927_008_700)
                * r
                + 45921.953_931_549_871)
                * r
                + 13731.693_765_509_461)
                * r
                + 1971.590_950_306_551_3)
                * r
                + 133.141_667_891_784_38)
                * r
                + 3.387_132_872_796_366_5)
            / (((((((5226.495_278_852_545_5 * r + 28729.085_735_721_943) * r
                + 39307.895_800_092_710)
                * r
                + 21213.794_301_586_595)
                * r
                + 5394.196_021_424_751_1)
                * r
                + 687.187_007_492_057_91)
                * r
                + 42.313_330_701_600_911)
                * r
                + 1.0);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let v = if r <= 5.0 {
        let r = r - 1.6;
        (((((((7.745_450_142_783_414_1e-4 * r + 0.022_723_844_989_269_184) * r
            + 0.241_780_725_177_450_61)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691_4)
            * r
            + 4.630_337_846_156_545_3)
            * r
            + 1.423_437_110_749_683_5)
            / (((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_344_9e-4) * r
                + 0.015_198_666_563_616_457)
                * r
                + 0.148_103_976_427_480_07)
                * r
                + 0.689_767_334_985_100_05)
                * r
                + 1.676_384_830_183_803_8)
                * r
                + 2.053_191_626_637_758_8)
                * r
                + 1.0)
    } else {
        let r = r - 5.0;
        (((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_89)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114_4)
            * r
            + 6.657_904_643_501_103_8)
            / (((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
                + 1.846_318_317_510_054_8e-5)
                * r
                + 7.868_691_311_456_132_6e-4)
                * r
                + 0.014_875_361_290_850_615)
                * r
                + 0.136_929_880_922_735_81)
                * r
                + 0.599_832_206_555_887_94)
                * r
                + 1.0)
    };
    if q < 0.0 {
        -v
    } else {
        v
    }
}

/// ln Γ(x) for x > 0.
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ln B(a, b).
fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b) (the Beta(a, b) CDF at x).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = a * x.ln() + b * (1.0 - x).ln() - ln_beta(a, b);
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// 1 − I_x(a, b), accurate in the upper tail.
pub fn beta_inc_upper(a: f64, b: f64, x: f64) -> f64 {
    beta_inc(b, a, 1.0 - x)
}

/// The Beta(a, b) quantile: x with I_x(a, b) = p (bisection-safeguarded Newton).
pub fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if p == 0.0 {
        return 0.0;
    }
    if p == 1.0 {
        return 1.0;
    }
    // Solve in the tail nearer to 0 so that x keeps its relative precision:
    // I_x(a, b) = p ⇔ I_{1−x}(b, a) = 1 − p.
    if p > 0.5 {
        return 1.0 - beta_quantile(b, a, 1.0 - p);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    // Start from the mean; Newton steps that leave the bracket become bisections.
    let mut x = a / (a + b);
    let lb = ln_beta(a, b);
    for _ in 0..300 {
        let f = beta_inc(a, b, x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let dens = ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - lb).exp();
        let mut nx = x - f / dens;
        if !(nx > lo && nx < hi && nx.is_finite()) {
            nx = 0.5 * (lo + hi);
        }
        if (nx - x).abs() <= 1e-15 * x.max(1e-300) || hi - lo <= 1e-300 {
            return nx;
        }
        x = nx;
    }
    x
}

/// Student's t CDF with `df` degrees of freedom (df may be fractional, as Welch's).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let x = df / (df + t * t);
    let tail = 0.5 * beta_inc(df / 2.0, 0.5, x);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// 1 − t_cdf(t, df), accurate in the upper tail.
pub fn t_sf(t: f64, df: f64) -> f64 {
    t_cdf(-t, df)
}

/// Student's t quantile.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if p == 0.5 {
        return 0.0;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    // P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2) = 2·min(p, 1 − p).
    let two_tail = 2.0 * p.min(1.0 - p);
    let x = beta_quantile(df / 2.0, 0.5, two_tail);
    let t = (df * (1.0 - x) / x).sqrt();
    if p < 0.5 {
        -t
    } else {
        t
    }
}

/// P(X ≤ k) for X ~ Binomial(n, p).
pub fn binomial_cdf(k: i64, n: u64, p: f64) -> f64 {
    if k < 0 {
        return 0.0;
    }
    if k as u64 >= n {
        return 1.0;
    }
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let k = k as f64;
    beta_inc_upper(k + 1.0, n as f64 - k, p)
}

/// P(X ≥ k) for X ~ Binomial(n, p).
pub fn binomial_sf_ge(k: i64, n: u64, p: f64) -> f64 {
    if k <= 0 {
        return 1.0;
    }
    if k as u64 > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    beta_inc(k as f64, (n as i64 - k + 1) as f64, p)
}

pub(crate) fn check_finite(xs: &[f64], what: &str) -> Result<()> {
    if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "{what}: value {i} is {} (every value must be finite)",
            xs[i]
        )));
    }
    Ok(())
}

pub(crate) fn check_conf(conf: f64) -> Result<()> {
    if !(conf > 0.0 && conf < 1.0) {
        return Err(Error::invalid(format!(
            "confidence level {conf} must lie in (0, 1)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_invert_cdfs() {
        for &p in &[1e-10, 0.001, 0.025, 0.3, 0.5, 0.77, 0.975, 0.999_999] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 1e-14 * p.max(1e-3));
            for df in [1.0, 2.5, 7.0, 30.0, 1e4] {
                let t = t_quantile(p, df);
                assert!((t_cdf(t, df) - p).abs() < 1e-11, "p {p} df {df}");
            }
            for (a, b) in [(0.5, 0.5), (2.0, 9.0), (40.0, 3.0)] {
                let x = beta_quantile(a, b, p);
                assert!((beta_inc(a, b, x) - p).abs() < 1e-11, "p {p} a {a} b {b}");
            }
        }
    }

    #[test]
    fn hand_values() {
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-15);
        // Cauchy: t with 1 df.
        assert!((t_cdf(1.0, 1.0) - 0.75).abs() < 1e-15);
        // Binomial(4, 0.5): P(X ≤ 1) = 5/16.
        assert!((binomial_cdf(1, 4, 0.5) - 5.0 / 16.0).abs() < 1e-15);
        assert!((binomial_sf_ge(3, 4, 0.5) - 5.0 / 16.0).abs() < 1e-15);
    }
}
