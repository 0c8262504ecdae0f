//! Fast CPU ops with gradients, for what candle 0.11 lacks or runs slowly
//! (`shared/candle-notes.md`): convolutions (dense, grouped, depthwise) and transposed
//! convolutions, pooling with any kernel/stride/padding, bilinear upsampling,
//! normalisations, fully connected layers with fused activations, and activations.
//!
//! Each op is a candle `CustomOp` whose `bwd` is itself built from custom ops, so it takes
//! part in `loss.backward()` like a native op. The kernels work on f32 and f64 (f64 for
//! the finite-difference gradient checks). On a CUDA device the wrappers fall back to
//! candle's own ops where candle has them; the project's CUDA kernels are a later issue.

pub mod activation;
mod batchnorm;
pub mod conv;
pub mod conv_transpose;
mod kernel;
pub mod linear;
pub mod norm;
pub mod pool;
pub mod upsample;

pub use activation::{elu, leaky_relu, relu, sigmoid, softplus, tanh, Activation};
pub use conv::{conv2d, conv2d_bias, Conv2dParams};
pub use conv_transpose::{conv_transpose2d, ConvTranspose2dParams};
pub use linear::{bias_relu, linear};
pub use norm::{batch_norm_eval, batch_norm_train, group_norm, instance_norm, layer_norm};
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
