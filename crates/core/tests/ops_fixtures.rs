//! candor-core's ops against PyTorch: forward outputs and gradients of Σ y ⊙ r on random
//! inputs, fixtures made by `tools/make_ops_fixtures.py` (float64).

use candle_core::{Device, Tensor, Var};
use candor_core::ops::{self, Conv2dParams, Pool2dParams};
use serde_json::Value;

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect()
}

fn close(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 + 1e-9 * b.abs(),
            "{name}[{i}]: ours {a}, PyTorch {b}"
        );
    }
}

fn usize_of(p: &Value, k: &str) -> usize {
    p[k].as_u64().unwrap() as usize
}

#[test]
fn ops_match_pytorch() {
    let fx: Value = serde_json::from_str(include_str!("fixtures/ops.json")).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for (ci, c) in cases.iter().enumerate() {
        let kind = c["kind"].as_str().unwrap();
        let p = &c["params"];
        let vars: Vec<Var> = c["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Var::from_tensor(&tensor(v)).unwrap())
            .collect();
        let t: Vec<&Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
        let pool = || {
            Pool2dParams::new(
                usize_of(p, "kernel"),
                usize_of(p, "stride"),
                usize_of(p, "padding"),
            )
        };
        let eps = p.get("eps").and_then(|e| e.as_f64()).unwrap_or(1e-5);
        let y = match kind {
            "conv2d" => ops::conv2d(
                t[0],
                t[1],
                Conv2dParams::new(
                    usize_of(p, "stride"),
                    usize_of(p, "padding"),
                    usize_of(p, "dilation"),
                    usize_of(p, "groups"),
                ),
            ),
            "max_pool2d" => ops::max_pool2d(t[0], pool()),
            "avg_pool2d" => {
                ops::avg_pool2d(t[0], pool(), p["count_include_pad"].as_bool().unwrap())
            }
            "adaptive_avg_pool2d" => {
                ops::adaptive_avg_pool2d(t[0], usize_of(p, "oh"), usize_of(p, "ow"))
            }
            "upsample_bilinear2d" => ops::upsample_bilinear2d(
                t[0],
                usize_of(p, "oh"),
                usize_of(p, "ow"),
                p["align_corners"].as_bool().unwrap(),
            ),
            "layer_norm" => ops::layer_norm(t[0], 1, Some(t[1]), Some(t[2]), eps),
            "group_norm" => {
                ops::group_norm(t[0], usize_of(p, "groups"), Some(t[1]), Some(t[2]), eps)
            }
            "batch_norm_train" => {
                ops::batch_norm_train(t[0], Some(t[1]), Some(t[2]), eps).map(|r| r.0)
            }
            other => panic!("unknown fixture kind {other}"),
        }
        .unwrap();
        let name = format!("case {ci} ({kind} {p})");
        let want = tensor(&c["output"]);
        assert_eq!(y.dims(), want.dims(), "{name}");
        close(
            &format!("{name} output"),
            &y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            &want.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        );
        let r = Tensor::from_vec(floats(&c["r"]), y.shape().clone(), &Device::Cpu).unwrap();
        let grads = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, (v, g)) in vars.iter().zip(c["grads"].as_array().unwrap()).enumerate() {
            let got = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no grad {i}"));
            close(
                &format!("{name} grad {i}"),
                &got.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
                &floats(g),
            );
        }
    }
}
