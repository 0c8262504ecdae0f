//! Holm's step-down correction (Holm 1979) for the one-sided p-values of one paper's
//! claims: sort ascending, multiply the i-th smallest (0-based) by m − i, carry the
//! running maximum, cap at 1 (statsmodels `multipletests(method="holm")`). Controls the
//! family-wise error rate under any dependence between the claims.

use crate::{Error, Result};

/// Holm-adjusted p-values, in the input order. NaN p-values are an error.
pub fn holm(p: &[f64]) -> Result<Vec<f64>> {
    if let Some(v) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(Error::invalid(format!("holm: p-value {v} outside [0, 1]")));
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (i, &k) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[k]).min(1.0));
        out[k] = running;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_values() {
        let a = holm(&[0.01, 0.04, 0.03, 0.5]).unwrap();
        // sorted 0.01, 0.03, 0.04, 0.5 → 0.04, 0.09, 0.09 (max carried), 0.5
        let want = [0.04, 0.09, 0.09, 0.5];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-15, "{a:?}");
        }
        assert!(holm(&[]).unwrap().is_empty());
        assert!(holm(&[f64::NAN]).is_err());
    }
}
