//! candor-core's ops and layers against PyTorch: forward outputs and gradients of Σ y ⊙ r
//! on random inputs, fixtures made by `tools/make_ops_fixtures.py` (float64).

use candle_core::{Device, Module, Tensor, Var};
use candor_core::nn::{
    Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, InstanceNorm2d, LayerNorm, Linear, Mlp,
    MlpConfig,
};
use candor_core::ops::{self, Activation, Pool2dParams};
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
    let fx: Value = serde_json::from_str(include_str!("../fixtures/ops.json")).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 46);
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
                Conv2dConfig {
                    stride: usize_of(p, "stride"),
                    padding: usize_of(p, "padding"),
                    dilation: usize_of(p, "dilation"),
                    groups: usize_of(p, "groups"),
                    ..Default::default()
                }
                .params(),
            ),
            // Through the layer, which runs `ops::conv_transpose2d`.
            "conv_transpose2d" => {
                let cfg = ConvTranspose2dConfig {
                    stride: usize_of(p, "stride"),
                    padding: usize_of(p, "padding"),
                    output_padding: usize_of(p, "output_padding"),
                    dilation: usize_of(p, "dilation"),
                    groups: usize_of(p, "groups"),
                    ..Default::default()
                };
                ConvTranspose2d::new(t[1].clone(), Some(t[2].clone()), cfg.params())
                    .and_then(|l| Ok(l.forward(t[0])?))
            }
            "linear" => {
                let act = match p["activation"].as_str().unwrap() {
                    "identity" => Activation::Identity,
                    "relu" => Activation::Relu,
                    "tanh" => Activation::Tanh,
                    "sigmoid" => Activation::Sigmoid,
                    a => panic!("unknown activation {a}"),
                };
                Linear::new(t[1].clone(), Some(t[2].clone())).and_then(|l| l.forward_act(t[0], act))
            }
            "instance_norm" => {
                let (w, b) = match p["affine"].as_bool().unwrap() {
                    true => (Some(t[1].clone()), Some(t[2].clone())),
                    false => (None, None),
                };
                InstanceNorm2d::new(w, b, eps).and_then(|l| Ok(l.forward(t[0])?))
            }
            "leaky_relu" => ops::leaky_relu(t[0], p["negative_slope"].as_f64().unwrap()),
            "elu" => ops::elu(t[0], p["alpha"].as_f64().unwrap()),
            "sigmoid" => ops::sigmoid(t[0]),
            "tanh" => ops::tanh(t[0]),
            "softplus" => ops::softplus(t[0]),
            "mlp_layer_norm_tanh" => {
                let cfg = MlpConfig::new(&[3, 5, 2])
                    .with_layer_norm(eps)
                    .with_activation(Activation::Tanh)
                    .with_output_activation(Activation::Tanh);
                let layers = vec![
                    Linear::new(t[1].clone(), Some(t[2].clone())).unwrap(),
                    Linear::new(t[5].clone(), Some(t[6].clone())).unwrap(),
                ];
                let norms = vec![LayerNorm::new(t[3].clone(), t[4].clone(), eps).unwrap()];
                Mlp::new(cfg, layers, norms).and_then(|m| m.forward_t(t[0]))
            }
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
