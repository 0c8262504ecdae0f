//! Fast CPU ops with gradients, for what candle 0.11 lacks or runs slowly
//! (`shared/candle-notes.md`): convolutions (dense, grouped, depthwise) and transposed
//! convolutions, pooling with any kernel/stride/padding, bilinear upsampling,
//! normalisations, fully connected layers with fused activations, and activations.
//! The training blocks "layer → batch norm → activation" are single nodes where the layer
//! has no bias ([`linear_batch_norm_train_act`], [`conv2d_batch_norm_train_act`]; in
//! [`crate::nn`], `Linear`/`Conv2d`/`SeparableConv2d::forward_bn_act`): the layer's output
//! is kept inside the op, so candle's backward makes no gradient buffer for it.
//! [`backward_from`] backpropagates from a given output gradient (PyTorch's
//! `y.backward(dy)`) without the two nodes of a `Σ y·dy` loss, and [`dot`] is such a loss
//! as one node. PointNet's layer in front of its max-pool over the points is one op with
//! the max ([`linear_max`], whose backward touches only each channel's winning point;
//! [`linear_batch_norm_train_act_max`] in training mode).
//!
//! Each op is a candle `CustomOp` whose `bwd` is itself built from custom ops, so it takes
//! part in `loss.backward()` like a native op. The kernels work on f32 and f64 (f64 for
//! the finite-difference gradient checks). Where each call runs is decided in one place,
//! [`backend`]: the kernel on the CPU; elsewhere candle's own op where it is correct for
//! the call (with its backward, or forward-only for inputs that need no gradient), else
//! an error naming the op and the device. The project's CUDA kernels are a later issue.

pub mod activation;
mod autograd;
pub mod backend;
mod batchnorm;
pub mod conv;
pub mod conv_transpose;
#[cfg(feature = "cuda")]
mod cuda;

/// The CUDA device for the GPU checks, or `None` (and a note) where there is none.
/// `CANDOR_REQUIRE_GPU=1` (set by `tools/gpu_check.sh`) makes a missing GPU a failure,
/// so the GPU run cannot pass by skipping.
#[cfg(all(test, feature = "cuda"))]
pub(crate) fn gpu_for_tests() -> Option<candle_core::Device> {
    match candle_core::Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) if std::env::var("CANDOR_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("CANDOR_REQUIRE_GPU=1 but no CUDA device: {e}")
        }
        Err(e) => {
            eprintln!("no CUDA device ({e}); GPU check skipped");
            None
        }
    }
}

/// `f(x)` with `x` on `dev`, and the gradient of Σ f(x)·r for a seeded normal `r`, both
/// copied back to the CPU: one side of a GPU-vs-CPU check.
#[cfg(all(test, feature = "cuda"))]
pub(crate) fn value_and_grad_on(
    dev: &candle_core::Device,
    x: &candle_core::Tensor,
    seed: u64,
    f: impl Fn(&candle_core::Tensor) -> crate::Result<candle_core::Tensor>,
) -> (candle_core::Tensor, candle_core::Tensor) {
    use candle_core::Device;
    let v = candle_core::Var::from_tensor(&x.to_device(dev).unwrap()).unwrap();
    let y = f(v.as_tensor()).unwrap();
    let r = crate::SeededRng::new(seed)
        .normal_tensor(0.0, 1.0, y.dims(), y.dtype(), dev)
        .unwrap();
    let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let dx = g
        .get(v.as_tensor())
        .unwrap()
        .to_device(&Device::Cpu)
        .unwrap();
    (y.to_device(&Device::Cpu).unwrap(), dx)
}

/// The largest |a − b| of two f32 tensors.
#[cfg(all(test, feature = "cuda"))]
pub(crate) fn max_abs_f32(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
mod groupnorm;
mod kernel;
pub mod linear;
mod linear_max;
pub mod norm;
pub mod pool;
pub mod upsample;

pub use activation::{elu, leaky_relu, relu, sigmoid, silu, softplus, tanh, Activation};
pub use autograd::{backward_from, dot};
pub use conv::{
    conv2d, conv2d_backward, conv2d_bias, conv2d_bias_act, conv_algorithm, set_conv_algorithm,
    Conv2dParams, ConvAlgorithm,
};
pub use conv_transpose::{conv_transpose2d, ConvTranspose2dParams};
pub use linear::{bias_relu, linear};
pub use linear_max::linear_max;
pub use norm::{
    batch_norm_eval, batch_norm_train, batch_norm_train_act, conv2d_batch_norm_train_act,
    group_norm, group_norm_act, instance_norm, instance_norm_act, layer_norm,
    linear_batch_norm_train_act, linear_batch_norm_train_act_max,
};
pub use pool::{adaptive_avg_pool2d, avg_pool2d, max_dim1, max_pool2d, Pool2dParams};
pub use upsample::upsample_bilinear2d;

#[cfg(test)]
mod gradient_tests {
    //! Finite-difference gradient checks of every op, f64, over odd sizes, strides,
    //! padding, dilation and groups.
    use super::*;
    use crate::gradcheck::check;
    use crate::SeededRng;
    use candle_core::{DType, Device, Tensor};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, DType::F64, &Device::Cpu)
            .unwrap()
    }

    fn assert_ok(name: &str, r: crate::gradcheck::GradCheck) {
        assert!(r.worst_ratio <= 1.0, "{name}: {r:?}");
        assert!(r.checked > 0);
    }

    #[test]
    fn conv2d_gradients() {
        let cases: &[(&[usize], &[usize], Conv2dParams)] = &[
            (
                &[2, 3, 7, 9],
                &[4, 3, 3, 3],
                crate::nn::Conv2dConfig {
                    padding: 1,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[2, 3, 8, 7],
                &[4, 3, 3, 3],
                crate::nn::Conv2dConfig {
                    stride: 2,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[1, 4, 9, 9],
                &[6, 2, 3, 3],
                crate::nn::Conv2dConfig {
                    stride: 2,
                    padding: 1,
                    groups: 2,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[2, 4, 7, 8],
                &[4, 1, 3, 3],
                crate::nn::Conv2dConfig {
                    padding: 1,
                    groups: 4,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[2, 3, 9, 8],
                &[6, 1, 3, 3],
                crate::nn::Conv2dConfig {
                    stride: 2,
                    padding: 1,
                    groups: 3,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[1, 2, 11, 10],
                &[3, 2, 3, 3],
                crate::nn::Conv2dConfig {
                    padding: 2,
                    dilation: 2,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[2, 4, 9, 9],
                &[4, 1, 3, 3],
                crate::nn::Conv2dConfig {
                    padding: 2,
                    dilation: 2,
                    groups: 4,
                    ..Default::default()
                }
                .params(),
            ),
            // Depthwise "same" with multiplier 2 and a kernel wider than the image: the
            // flat-plane kernels, rows and columns that wrap.
            (
                &[1, 3, 4, 5],
                &[6, 1, 5, 5],
                crate::nn::Conv2dConfig {
                    padding: 2,
                    groups: 3,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[2, 5, 6, 6],
                &[3, 5, 1, 1],
                crate::nn::Conv2dConfig::default().params(),
            ),
            (
                &[1, 2, 7, 9],
                &[3, 2, 2, 3],
                Conv2dParams {
                    stride: (2, 1),
                    padding: (1, 0),
                    dilation: (1, 2),
                    groups: 1,
                },
            ),
        ];
        for (i, (xs, ws, p)) in cases.iter().enumerate() {
            let r = check(
                |t| conv2d(&t[0], &t[1], *p),
                &[rand(xs, i as u64), rand(ws, 50 + i as u64)],
                60,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert_ok(&format!("conv2d case {i}"), r);
        }
    }

    #[test]
    fn conv2d_bias_and_relu_gradients() {
        for (i, (ws, p)) in [
            (
                &[4usize, 3, 3, 3][..],
                crate::nn::Conv2dConfig {
                    stride: 2,
                    padding: 1,
                    ..Default::default()
                }
                .params(),
            ),
            (
                &[3, 1, 3, 3][..],
                crate::nn::Conv2dConfig {
                    padding: 1,
                    groups: 3,
                    ..Default::default()
                }
                .params(),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let r = check(
                |t| relu(&conv2d_bias(&t[0], &t[1], Some(&t[2]), p)?),
                &[
                    rand(&[2, 3, 6, 7], i as u64),
                    rand(ws, 9),
                    rand(&[ws[0]], 10),
                ],
                60,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert_ok(&format!("conv2d_bias+relu {i}"), r);
        }
    }

    #[test]
    fn pool_gradients() {
        for (i, p) in [
            Pool2dParams::new(3, 2, 1),
            Pool2dParams::new(2, 2, 0),
            Pool2dParams::new(3, 1, 1),
            Pool2dParams {
                kernel: (2, 3),
                stride: (1, 2),
                padding: (1, 1),
            },
        ]
        .into_iter()
        .enumerate()
        {
            let x = rand(&[2, 3, 7, 9], 10 + i as u64);
            let r = check(
                |t| max_pool2d(&t[0], p),
                std::slice::from_ref(&x),
                80,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert_ok(&format!("max_pool2d {p:?}"), r);
            for inc in [true, false] {
                let r = check(
                    |t| avg_pool2d(&t[0], p, inc),
                    std::slice::from_ref(&x),
                    80,
                    1e-6,
                    1e-7,
                    1e-6,
                )
                .unwrap();
                assert_ok(&format!("avg_pool2d {p:?} {inc}"), r);
            }
        }
        for (oh, ow) in [(1, 1), (3, 4), (5, 2)] {
            let r = check(
                |t| adaptive_avg_pool2d(&t[0], oh, ow),
                &[rand(&[2, 2, 7, 9], 3)],
                80,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert_ok("adaptive_avg_pool2d", r);
        }
    }

    #[test]
    fn upsample_gradients() {
        for align in [true, false] {
            for (oh, ow) in [(10, 14), (7, 5), (3, 3), (1, 1)] {
                let r = check(
                    |t| upsample_bilinear2d(&t[0], oh, ow, align),
                    &[rand(&[2, 2, 5, 7], 4)],
                    80,
                    1e-6,
                    1e-7,
                    1e-6,
                )
                .unwrap();
                assert_ok(&format!("upsample {oh}×{ow} align {align}"), r);
            }
        }
    }

    #[test]
    fn norm_gradients() {
        let x = rand(&[3, 4, 3, 5], 7);
        let w = rand(&[4], 8);
        let b = rand(&[4], 9);
        let r = check(
            |t| group_norm(&t[0], 2, Some(&t[1]), Some(&t[2]), 1e-5),
            &[x.clone(), w.clone(), b.clone()],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert_ok("group_norm", r);
        let r = check(
            |t| instance_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5),
            &[x.clone(), w.clone(), b.clone()],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert_ok("instance_norm", r);
        let r = check(
            |t| Ok(batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0),
            &[x.clone(), w, b],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert_ok("batch_norm_train", r);
        let (rm, rv) = (rand(&[4], 12), rand(&[4], 13).abs().unwrap());
        let r = check(
            |t| batch_norm_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), 1e-5),
            &[x.clone(), rand(&[4], 14), rand(&[4], 15)],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert_ok("batch_norm_eval", r);
        let lw = rand(&[5], 10);
        let lb = rand(&[5], 11);
        let r = check(
            |t| layer_norm(&t[0], 1, Some(&t[1]), Some(&t[2]), 1e-5),
            &[x, lw, lb],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert_ok("layer_norm", r);
    }
}

#[cfg(test)]
mod candle_route_tests {
    //! The candle fallbacks that [`backend::route`] picks off the CPU, run on the CPU
    //! against the kernels: values always, gradients wherever the route allows one.
    //! Where a fallback is marked forward-only, a test shows candle's backward is
    //! wrong or missing for that geometry.
    use super::backend::Candle;
    use super::*;
    use crate::SeededRng;
    use candle_core::{DType, Device, Tensor, Var};

    type Op<'a> = &'a dyn Fn(&[Tensor]) -> crate::Result<Tensor>;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, DType::F64, &Device::Cpu)
            .unwrap()
    }

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        crate::gradcheck::max_abs_diff(a, b).unwrap()
    }

    /// Output and input gradients of `f` (loss `Σ y·r`, `r` fixed).
    fn run(f: Op, inputs: &[Tensor], grad: bool) -> crate::Result<(Tensor, Vec<Tensor>)> {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts)?;
        if !grad {
            return Ok((y, vec![]));
        }
        let r = rand(y.dims(), 99);
        let g = backward_from(&y, &r)?;
        let gs = ts
            .iter()
            .map(|t| g.get(t).cloned().unwrap_or(t.zeros_like().unwrap()))
            .collect();
        Ok((y, gs))
    }

    /// The kernel and the candle fallback agree on values (and gradients when `grad`).
    fn agree(what: &str, kernel: Op, candle: Op, inputs: &[Tensor], grad: bool) {
        let (yk, gk) = run(kernel, inputs, grad).unwrap();
        let (yc, gc) = run(candle, inputs, grad).unwrap();
        let d = max_abs(&yk, &yc);
        assert!(d < 1e-10, "{what}: values differ by {d}");
        for (i, (a, b)) in gk.iter().zip(&gc).enumerate() {
            let d = max_abs(a, b);
            assert!(d < 1e-10, "{what}: gradient {i} differs by {d}");
        }
    }

    /// Square stride, padding and dilation, and a group count.
    fn square(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
        Conv2dParams {
            stride: (stride, stride),
            padding: (padding, padding),
            dilation: (dilation, dilation),
            groups,
        }
    }

    #[test]
    fn conv2d_fallback_matches_where_admitted() {
        let cases: &[(&[usize], &[usize], Conv2dParams)] = &[
            (&[2, 3, 7, 9], &[4, 3, 3, 3], square(1, 1, 1, 1)),
            (&[2, 3, 8, 8], &[4, 3, 3, 3], square(2, 1, 1, 1)),
            (&[1, 4, 9, 9], &[6, 2, 3, 3], square(2, 1, 1, 2)),
            (&[2, 4, 7, 8], &[4, 1, 3, 3], square(1, 1, 1, 4)),
            (&[1, 2, 11, 10], &[3, 2, 3, 3], square(1, 2, 2, 1)),
            (&[2, 5, 6, 6], &[3, 5, 1, 1], square(1, 0, 1, 1)),
            // Odd heights and widths with the same remainder.
            (&[1, 3, 9, 7], &[2, 3, 3, 3], square(2, 0, 1, 1)),
            // Forward only: 8 and 7 (and a 2×3 kernel on 9×9) leave different
            // remainders at stride 2.
            (&[2, 3, 8, 7], &[4, 3, 3, 3], square(2, 1, 1, 1)),
            (&[1, 2, 9, 9], &[3, 2, 2, 3], square(2, 0, 1, 1)),
        ];
        let mut seen = [0usize; 2];
        for (i, (xs, ws, p)) in cases.iter().enumerate() {
            let support = conv::candle_conv_support(xs, ws, p).unwrap();
            let b = rand(&[ws[0]], 7);
            let inputs = [rand(xs, i as u64), rand(ws, 50 + i as u64), b];
            let grad = match support {
                Candle::Trainable => true,
                Candle::ForwardOnly(_) => false,
                Candle::Missing(m) => panic!("case {i}: {m}"),
            };
            seen[grad as usize] += 1;
            agree(
                &format!("conv2d case {i}"),
                &|t| conv2d_bias(&t[0], &t[1], Some(&t[2]), *p),
                &|t| conv::candle_conv2d(&t[0], &t[1], Some(&t[2]), p),
                &inputs,
                grad,
            );
            if !grad {
                // The reason is real: candle's backward fails for this size.
                let (x, w) = (Var::from_tensor(&inputs[0]).unwrap(), &inputs[1]);
                let y = conv::candle_conv2d(x.as_tensor(), w, None, p).unwrap();
                assert!(y.sum_all().unwrap().backward().is_err(), "case {i}");
            }
        }
        assert_eq!(seen, [2, cases.len() - 2]);
        let rect = Conv2dParams {
            stride: (2, 1),
            ..Conv2dParams::default()
        };
        assert!(matches!(
            conv::candle_conv_support(&[1, 1, 5, 5], &[1, 1, 3, 3], &rect).unwrap(),
            Candle::Missing(_)
        ));
    }

    #[test]
    fn pooling_fallbacks_match_where_admitted() {
        let x = rand(&[2, 3, 8, 12], 3);
        for p in [
            Pool2dParams::new(2, 2, 0),
            Pool2dParams::new(4, 4, 0),
            Pool2dParams::new(3, 2, 0),
            Pool2dParams::new(3, 3, 0),
            Pool2dParams {
                kernel: (2, 3),
                stride: (2, 3),
                padding: (0, 0),
            },
        ] {
            let (g, _, _) = pool::PGeom::new(x.dims(), p, "t").unwrap();
            assert!(matches!(
                pool::candle_max_pool_support(&g),
                Candle::ForwardOnly(_)
            ));
            agree(
                &format!("max_pool2d {p:?}"),
                &|t| max_pool2d(&t[0], p),
                &|t| pool::candle_max_pool2d(&t[0], p),
                std::slice::from_ref(&x),
                false,
            );
            let grad = pool::candle_avg_pool_support(&g) == Candle::Trainable;
            let tiles = p.kernel == p.stride && 8 % p.kernel.0 == 0 && 12 % p.kernel.1 == 0;
            assert_eq!(grad, tiles, "{p:?}");
            for inc in [true, false] {
                agree(
                    &format!("avg_pool2d {p:?}"),
                    &|t| avg_pool2d(&t[0], p, inc),
                    &|t| pool::candle_avg_pool2d(&t[0], p),
                    std::slice::from_ref(&x),
                    grad,
                );
            }
        }
        // Padding: candle has none.
        let (g, _, _) = pool::PGeom::new(x.dims(), Pool2dParams::new(3, 2, 1), "t").unwrap();
        assert!(matches!(
            pool::candle_max_pool_support(&g),
            Candle::Missing(_)
        ));
        assert!(matches!(
            pool::candle_avg_pool_support(&g),
            Candle::Missing(_)
        ));
    }

    #[test]
    fn candle_max_pool_backward_is_scaled_so_it_is_forward_only() {
        // One maximum per 2×2 window: PyTorch's gradient there is 1; candle's is 1/4.
        let x = Var::new(&[[[[1f64, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap();
        let g = x
            .as_tensor()
            .max_pool2d(2)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gc = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let ours = max_pool2d(x.as_tensor(), Pool2dParams::new(2, 2, 0))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gk = ours.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(gk.to_vec1::<f64>().unwrap(), [0.0, 0.0, 0.0, 1.0]);
        assert_ne!(gc.to_vec1::<f64>().unwrap(), [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn adaptive_pool_fallback_matches() {
        let x = rand(&[2, 3, 7, 9], 4);
        for (oh, ow) in [(1, 1), (7, 3), (3, 4), (5, 2), (7, 9)] {
            agree(
                &format!("adaptive {oh}×{ow}"),
                &|t| adaptive_avg_pool2d(&t[0], oh, ow),
                &|t| pool::candle_adaptive_avg_pool2d(&t[0], oh, ow),
                std::slice::from_ref(&x),
                true,
            );
        }
    }

    #[test]
    fn upsample_fallback_forward_matches() {
        let x = rand(&[2, 2, 5, 7], 5);
        for align in [true, false] {
            for (oh, ow) in [(10, 14), (7, 5), (3, 3), (5, 7), (11, 4)] {
                agree(
                    &format!("upsample {oh}×{ow} align {align}"),
                    &|t| upsample_bilinear2d(&t[0], oh, ow, align),
                    &|t| upsample::candle_upsample(&t[0], oh, ow, align),
                    std::slice::from_ref(&x),
                    false,
                );
            }
        }
        assert!(matches!(upsample::CANDLE, Candle::ForwardOnly(_)));
    }

    #[test]
    fn elementwise_and_row_fallbacks_match() {
        // Exact zeros and ties, where candle's own relu and max differ from PyTorch.
        let mut x = rand(&[3, 5, 4], 6);
        x = x
            .broadcast_mul(&Tensor::new(&[1f64, 0.0, 1.0, 1.0], &Device::Cpu).unwrap())
            .unwrap();
        let tied = Tensor::cat(&[&x, &x.narrow(1, 0, 2).unwrap()], 1).unwrap();
        agree(
            "relu",
            &|t| relu(&t[0]),
            &|t| activation::candle_relu(&t[0]),
            std::slice::from_ref(&x),
            true,
        );
        agree(
            "silu",
            &|t| silu(&t[0]),
            &|t| Ok(t[0].silu()?),
            std::slice::from_ref(&x),
            true,
        );
        agree(
            "max_dim1",
            &|t| max_dim1(&t[0]),
            &|t| pool::candle_max_dim1(&t[0]),
            std::slice::from_ref(&tied),
            true,
        );
        let b = rand(&[4], 8);
        agree(
            "bias_relu",
            &|t| bias_relu(&t[0], &t[1]),
            &|t| linear::candle_bias_relu(&t[0], &t[1]),
            &[x.clone(), b.clone()],
            true,
        );
        let w = rand(&[6, 4], 9);
        for act in [Activation::Identity, Activation::Relu, Activation::Tanh] {
            agree(
                "linear",
                &|t| linear(&t[0], &t[1], Some(&t[2]), act),
                &|t| linear::candle_linear(&t[0], &t[1], Some(&t[2]), act),
                &[x.clone(), w.clone(), rand(&[6], 10)],
                true,
            );
        }
        let bn = rand(&[4, 3, 5, 2], 11);
        agree(
            "batch_norm_train",
            &|t| Ok(batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0),
            &|t| Ok(norm::candle_batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0),
            &[bn, rand(&[3], 12), rand(&[3], 13)],
            true,
        );
        agree(
            "linear_batch_norm_train",
            &|t| {
                let (y, _, _) = linear_batch_norm_train_act(
                    &t[0],
                    &t[1],
                    Some(&t[2]),
                    Some(&t[3]),
                    1e-5,
                    Activation::Relu,
                )?;
                Ok(y)
            },
            &|t| {
                let z = linear::candle_linear(&t[0], &t[1], None, Activation::Identity)?;
                let (y, _, _) = norm::candle_batch_norm_train(&z, Some(&t[2]), Some(&t[3]), 1e-5)?;
                Activation::Relu.apply_composed(&y)
            },
            &[
                rand(&[7, 4], 16),
                w.narrow(0, 0, 3).unwrap(),
                rand(&[3], 17),
                rand(&[3], 18),
            ],
            true,
        );
        let p = square(2, 1, 1, 1);
        agree(
            "conv2d_batch_norm_train",
            &|t| {
                let (y, _, _) = conv2d_batch_norm_train_act(
                    &t[0],
                    &t[1],
                    p,
                    Some(&t[2]),
                    Some(&t[3]),
                    1e-5,
                    Activation::Relu,
                )?;
                Ok(y)
            },
            &|t| {
                let z = conv::candle_conv2d(&t[0], &t[1], None, &p)?;
                let (y, _, _) = norm::candle_batch_norm_train(&z, Some(&t[2]), Some(&t[3]), 1e-5)?;
                Activation::Relu.apply_composed(&y)
            },
            &[
                rand(&[2, 3, 7, 7], 21),
                rand(&[4, 3, 3, 3], 22),
                rand(&[4], 23),
                rand(&[4], 24),
            ],
            true,
        );
    }

    #[test]
    fn other_dtypes_on_the_cpu_take_the_candle_route() {
        // f16 has no kernel: the public ops run candle's path instead of failing.
        let x = rand(&[1, 2, 6, 6], 14).to_dtype(DType::F16).unwrap();
        let w = rand(&[3, 2, 3, 3], 15).to_dtype(DType::F16).unwrap();
        assert_eq!(
            conv2d(&x, &w, square(1, 1, 1, 1)).unwrap().dims(),
            &[1, 3, 6, 6]
        );
        assert_eq!(relu(&x).unwrap().dtype(), DType::F16);
        let rows = rand(&[5, 4], 19).to_dtype(DType::F16).unwrap();
        let wl = rand(&[3, 4], 20).to_dtype(DType::F16).unwrap();
        let (y, _, _) =
            linear_batch_norm_train_act(&rows, &wl, None, None, 1e-5, Activation::Relu).unwrap();
        assert_eq!((y.dims(), y.dtype()), (&[5usize, 3][..], DType::F16));
        let wc = rand(&[4, 2, 3, 3], 21).to_dtype(DType::F16).unwrap();
        let p = Conv2dParams {
            padding: (1, 1),
            ..Default::default()
        };
        let (y, _, _) =
            conv2d_batch_norm_train_act(&x, &wc, p, None, None, 1e-5, Activation::Relu).unwrap();
        assert_eq!((y.dims(), y.dtype()), (&[1usize, 4, 6, 6][..], DType::F16));
        assert_eq!(adaptive_avg_pool2d(&x, 1, 1).unwrap().dims(), &[1, 2, 1, 1]);
        // A padded pool has no candle path: the error names the op and the device.
        let e = max_pool2d(&x, Pool2dParams::new(3, 2, 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_pool2d on cpu (F16)"), "{e}");
    }
}
