//! Checks `candor_core::metrics` against reference values from scikit-learn,
//! scikit-image and scipy (fixtures written by `tools/make_core_fixtures.py`).

use candor_core::metrics;
use serde_json::Value;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is valid JSON")
}

/// A JSON number, or the strings "inf" / "-inf".
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|b| b.as_bool().expect("bool"))
        .collect()
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("unsigned integer") as usize
}

fn assert_close(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol || got == want,
        "{name}: got {got:e}, want {want:e} (|diff| = {:e} > {tol:e})",
        (got - want).abs()
    );
}

fn assert_all_close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: length {} vs {}",
        got.len(),
        want.len()
    );
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{name}[{i}]"), g, w, tol);
    }
}

#[test]
fn binary_metrics_match_sklearn() {
    let fx = parse(include_str!("../fixtures/metrics.json"));
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let scores = f64s(&case["scores"]);
        let labels = bools(&case["labels"]);

        let roc = metrics::roc_curve(&scores, &labels).expect("roc_curve");
        assert_all_close(&format!("{name} fpr"), &roc.fpr, &f64s(&case["fpr"]), 1e-12);
        assert_all_close(&format!("{name} tpr"), &roc.tpr, &f64s(&case["tpr"]), 1e-12);
        assert_all_close(
            &format!("{name} thresholds"),
            &roc.thresholds,
            &f64s(&case["thresholds"]),
            1e-12,
        );
        assert_eq!(roc.thresholds[0], f64::INFINITY);

        let auc = metrics::roc_auc(&scores, &labels).expect("roc_auc");
        assert_close(&format!("{name} auc"), auc, num(&case["roc_auc"]), 1e-12);
        let mw = metrics::mann_whitney_auc(&scores, &labels).expect("mann_whitney_auc");
        assert_close(
            &format!("{name} mann-whitney"),
            mw,
            num(&case["roc_auc"]),
            1e-12,
        );
        let eer = metrics::eer(&scores, &labels).expect("eer");
        assert_close(&format!("{name} eer"), eer, num(&case["eer"]), 1e-12);
        let ap = metrics::average_precision(&scores, &labels).expect("average_precision");
        assert_close(
            &format!("{name} ap"),
            ap,
            num(&case["average_precision"]),
            1e-12,
        );
    }
}

#[test]
fn ssim_and_psnr_match_skimage() {
    let fx = parse(include_str!("../fixtures/ssim.json"));
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 2);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (c, h, w) = (
            usize_of(&case["c"]),
            usize_of(&case["h"]),
            usize_of(&case["w"]),
        );
        let a = f32s(&case["a"]);
        let b = f32s(&case["b"]);
        let s = metrics::ssim(&a, &b, c, h, w, 1.0).expect("ssim");
        // Reference computed by skimage in float64 on the float32 values.
        assert_close(&format!("{name} ssim"), s, num(&case["ssim"]), 1e-6);
        // skimage on float32 arrays computes in float32: looser agreement.
        assert_close(&format!("{name} ssim_f32"), s, num(&case["ssim_f32"]), 1e-5);

        let dev = candle_core::Device::Cpu;
        let ta = candle_core::Tensor::from_vec(a.clone(), (c, h, w), &dev).expect("tensor");
        let tb = candle_core::Tensor::from_vec(b.clone(), (c, h, w), &dev).expect("tensor");
        let st = metrics::ssim_tensor(&ta, &tb, 1.0).expect("ssim_tensor");
        assert_close(&format!("{name} ssim_tensor"), st, s, 1e-15);

        let p = metrics::psnr(&a, &b, 1.0).expect("psnr");
        assert_close(&format!("{name} psnr"), p, num(&case["psnr"]), 1e-6);
        assert_close(&format!("{name} psnr_f32"), p, num(&case["psnr_f32"]), 1e-5);
    }
}

#[test]
fn summary_matches_scipy() {
    let fx = parse(include_str!("../fixtures/summary.json"));
    for row in fx["t975"].as_array().expect("t975") {
        let dof = usize_of(&row["dof"]);
        let t = metrics::t_critical_95(dof).expect("t_critical_95");
        assert_close(&format!("t975 dof {dof}"), t, num(&row["t"]), 1e-9);
    }
    for case in fx["cases"].as_array().expect("cases") {
        let values = f64s(&case["values"]);
        let s = metrics::summarize(&values).expect("summarize");
        assert_eq!(s.n, usize_of(&case["n"]));
        assert_close("mean", s.mean, num(&case["mean"]), 1e-9);
        assert_close("std", s.std, num(&case["std"]), 1e-9);
        assert_close("ci95", s.ci95, num(&case["ci95"]), 1e-9);
    }
}
