//! Checks `candor_core::metrics::matting` against a numpy/scipy port of Deep Image
//! Matting's MATLAB evaluation code (fixtures written by `tools/make_matting_fixtures.py`).

use candor_core::metrics::matting::{self, MattingErrors, Region};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/matting.json")).expect("valid JSON")
}

fn u8s(v: &Value) -> Vec<u8> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| u8::try_from(x.as_u64().expect("integer")).expect("byte"))
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number"))
}

/// Relative closeness (absolute for values below 1e-9).
fn assert_rel(name: &str, got: f64, want: f64, rel: f64) {
    let tol = rel * want.abs().max(1e-9);
    assert!(
        (got - want).abs() <= tol,
        "{name}: got {got:.12e}, want {want:.12e} (rel. diff {:e})",
        (got - want).abs() / want.abs().max(1e-300)
    );
}

struct Case {
    name: String,
    h: usize,
    w: usize,
    pred: Vec<u8>,
    gt: Vec<u8>,
    trimap: Option<Vec<u8>>,
    want: MattingErrors,
    mmeval_conn: f64,
}

fn cases() -> Vec<Case> {
    let f = fixture();
    f["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            h: c["height"].as_u64().expect("height") as usize,
            w: c["width"].as_u64().expect("width") as usize,
            pred: u8s(&c["pred"]),
            gt: u8s(&c["gt"]),
            trimap: (!c["trimap"].is_null()).then(|| u8s(&c["trimap"])),
            want: MattingErrors {
                sad: num(c, "sad"),
                mse: num(c, "mse"),
                grad: num(c, "grad"),
                conn: num(c, "conn"),
            },
            mmeval_conn: num(c, "mmeval_conn"),
        })
        .collect()
}

#[test]
fn kernel_matches_gaussgradient() {
    let f = fixture();
    let want: Vec<f64> = f["dog_kernel_sigma_1_4"]
        .as_array()
        .expect("kernel")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let got = matting::dog_kernel(matting::GRAD_SIGMA);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-15, "hx[{i}]: {g} vs {w}");
    }
}

#[test]
fn errors_match_the_dim_port() {
    let cases = cases();
    assert!(cases.len() >= 9);
    for c in &cases {
        let region = match &c.trimap {
            Some(t) => Region::Trimap(t),
            None => Region::Whole,
        };
        let all = matting::errors(&c.pred, &c.gt, c.h, c.w, region).expect("errors");
        for (metric, got, want) in [
            ("sad", all.sad, c.want.sad),
            ("mse", all.mse, c.want.mse),
            ("grad", all.grad, c.want.grad),
            ("conn", all.conn, c.want.conn),
        ] {
            assert_rel(&format!("{} {metric}", c.name), got, want, 1e-9);
        }
        // The single-metric functions agree with `errors`.
        let (p, g, h, w) = (&c.pred, &c.gt, c.h, c.w);
        assert_eq!(matting::sad(p, g, h, w, region).unwrap(), all.sad);
        assert_eq!(matting::mse(p, g, h, w, region).unwrap(), all.mse);
        assert_eq!(matting::grad(p, g, h, w, region).unwrap(), all.grad);
        assert_eq!(matting::conn(p, g, h, w, region).unwrap(), all.conn);
        // A boolean mask of the unknown pixels is the same region.
        if let Some(t) = &c.trimap {
            let mask: Vec<bool> = t.iter().map(|&v| v == 128).collect();
            let m = matting::errors(p, g, h, w, Region::Mask(&mask)).unwrap();
            assert_eq!(m, all, "{}: mask vs trimap", c.name);
        }
    }
}

#[test]
fn threshold_ties_and_component_ties_are_exercised() {
    // On these cases the fixed rules (exact threshold test, column-major tie) give a
    // different Conn from mmeval's float64 thresholds and row-major labels, so the
    // fixture really tests the rules; elsewhere the two agree.
    for c in cases() {
        let differs = (c.want.conn - c.mmeval_conn).abs() > 1e-12;
        match c.name.as_str() {
            "threshold_ties" | "threshold_ties_whole" | "component_tie" => {
                assert!(differs, "{}: the case does not exercise a tie", c.name)
            }
            "constant_128" | "constant_0_whole" | "constant_255_whole" | "random_trimap" => {
                assert!(!differs, "{}", c.name)
            }
            _ => {}
        }
    }
}

#[test]
fn constant_prediction_has_zero_gradient() {
    // A constant prediction's gradient is 0, so Grad is the GT's own gradient energy
    // whatever the constant.
    let c = cases();
    let by_name = |n: &str| c.iter().find(|c| c.name == n).expect("case").want;
    assert_rel(
        "grad of constants",
        by_name("constant_0_whole").grad,
        by_name("constant_255_whole").grad,
        1e-12,
    );
    let case = c.iter().find(|c| c.name == "constant_0_whole").unwrap();
    let zero_gt = vec![0u8; case.gt.len()];
    let g = matting::grad(&case.pred, &zero_gt, case.h, case.w, Region::Whole).unwrap();
    assert_eq!(g, 0.0);
}
