//! `torch.nn.BatchNorm2d` (also fine for any `(N, C, …)`): batch statistics and a
//! running-average update in training mode, running statistics in evaluation mode.
//! `running_mean`/`running_var` live in the `VarMap` (so checkpoints carry them) but get
//! no gradient. The running variance is updated with the unbiased batch variance, as
//! PyTorch does.
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::init::seeded_var_builder;
//! use candor_core::nn::{batch_norm2d, BatchNormConfig};
//! let vm = VarMap::new();
//! let bn = batch_norm2d(1, BatchNormConfig::default(),
//!                       seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu)).unwrap();
//! let x = Tensor::new(&[[[[1f32, 3.0]]], [[[5.0, 7.0]]]], &Device::Cpu).unwrap(); // (2, 1, 1, 2)
//! let _ = bn.forward_t(&x, true).unwrap();
//! // running_mean moved 10% of the way to the batch mean 4.
//! assert!((bn.running_mean().to_vec1::<f32>().unwrap()[0] - 0.4).abs() < 1e-6);
//! ```

use candle_core::{ModuleT, Tensor, Var};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::cerr;
use crate::ops;
use crate::{Error, Result};

/// BatchNorm settings; [`Default`] is PyTorch's (momentum 0.1, ε 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchNormConfig {
    /// Weight of the new batch statistic in the running averages (PyTorch convention).
    pub momentum: f64,
    pub eps: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            momentum: 0.1,
            eps: 1e-5,
        }
    }
}

/// Batch normalisation over the channels (dimension 1).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    eps: f64,
}

impl BatchNorm2d {
    /// A layer from its tensors, all `(C,)`. The running statistics are updated in place
    /// when they are variables (as [`batch_norm2d`] makes them), else copied into new ones.
    pub fn new(
        weight: Tensor,
        bias: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
        cfg: BatchNormConfig,
    ) -> Result<Self> {
        let c = weight.dims1().map_err(|_| {
            Error::invalid(format!(
                "BatchNorm2d: weight must be (C,), got {:?}",
                weight.dims()
            ))
        })?;
        for (n, t) in [
            ("bias", &bias),
            ("running_mean", &running_mean),
            ("running_var", &running_var),
        ] {
            if t.dims() != [c] {
                return Err(Error::invalid(format!(
                    "BatchNorm2d: {n} must be ({c},), got {:?}",
                    t.dims()
                )));
            }
        }
        if !((0.0..=1.0).contains(&cfg.momentum) && cfg.eps >= 0.0 && cfg.eps.is_finite()) {
            return Err(Error::invalid(format!("BatchNorm2d: bad settings {cfg:?}")));
        }
        Ok(Self {
            weight,
            bias,
            running_mean: Var::from_tensor(&running_mean)?,
            running_var: Var::from_tensor(&running_var)?,
            momentum: cfg.momentum,
            eps: cfg.eps,
        })
    }

    /// `γ`, `(C,)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `β`, `(C,)`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The running mean, `(C,)`.
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running (unbiased) variance, `(C,)`.
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// ε.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The momentum of the running averages.
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// Sets the momentum of the running averages (PyTorch convention).
    pub fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }
}

impl BatchNorm2d {
    /// The layer in training or evaluation mode followed by `act`. In training mode this
    /// is one fused op ([`ops::batch_norm_train_act`]): the same values, gradients and
    /// running statistics as `act.apply(&self.forward_t(x, true))`, bit for bit, with one
    /// graph node fewer (no activation tensor, no second gradient accumulation).
    pub fn forward_t_act(&self, x: &Tensor, train: bool, act: ops::Activation) -> Result<Tensor> {
        if !train {
            return act.apply(&self.forward_t(x, false)?);
        }
        let (y, mean, var) =
            ops::batch_norm_train_act(x, Some(&self.weight), Some(&self.bias), self.eps, act)?;
        self.update_running(mean, var)?;
        Ok(y)
    }

    /// A fully connected layer without bias (weight `w`, `(C, K)`) in front of this layer
    /// in training mode, then `act`: `act(self.forward_t(x·Wᵀ, true))` for `x` `(M, K)`,
    /// as one op ([`ops::linear_batch_norm_train_act`]: the product is not a graph node of
    /// its own). Updates the running statistics as [`Self::forward_t_act`] does.
    pub fn forward_linear_train_act(
        &self,
        x: &Tensor,
        w: &Tensor,
        act: ops::Activation,
    ) -> Result<Tensor> {
        let (y, mean, var) = ops::linear_batch_norm_train_act(
            x,
            w,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            act,
        )?;
        self.update_running(mean, var)?;
        Ok(y)
    }

    /// [`Self::forward_linear_train_act`] on `x` `(B, N, K)` followed by the max over each
    /// cloud's `N` points, `(B, C)`, as one op ([`ops::linear_batch_norm_train_act_max`]:
    /// the layer's `(B·N, C)` output is not a graph node). PointNet's last shared layer in
    /// training mode. Updates the running statistics as [`Self::forward_t_act`] does.
    pub fn forward_linear_train_act_max(
        &self,
        x: &Tensor,
        w: &Tensor,
        act: ops::Activation,
    ) -> Result<Tensor> {
        let (y, mean, var) = ops::linear_batch_norm_train_act_max(
            x,
            w,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            act,
        )?;
        self.update_running(mean, var)?;
        Ok(y)
    }

    /// A convolution without bias (weight `w`, geometry `p`) in front of this layer in
    /// training mode, then `act`: `act(self.forward_t(conv2d(x, w, p), true))` as one op
    /// ([`ops::conv2d_batch_norm_train_act`]: the convolution's output is not a graph node
    /// of its own). Updates the running statistics as [`Self::forward_t_act`] does.
    pub fn forward_conv_train_act(
        &self,
        x: &Tensor,
        w: &Tensor,
        p: ops::Conv2dParams,
        act: ops::Activation,
    ) -> Result<Tensor> {
        let (y, mean, var) = ops::conv2d_batch_norm_train_act(
            x,
            w,
            p,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            act,
        )?;
        self.update_running(mean, var)?;
        Ok(y)
    }

    /// The running averages after a training-mode batch with statistics `mean`, `var`.
    fn update_running(&self, mean: Tensor, var: Tensor) -> Result<()> {
        let m = self.momentum;
        let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (var * m)?)?;
        self.running_mean.set(&rm.detach())?;
        self.running_var.set(&rv.detach())?;
        Ok(())
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if train {
            self.forward_t_act(x, true, ops::Activation::Identity)
                .map_err(cerr)
        } else {
            ops::batch_norm_eval(
                x,
                self.running_mean.as_tensor(),
                self.running_var.as_tensor(),
                Some(&self.weight),
                Some(&self.bias),
                self.eps,
            )
            .map_err(cerr)
        }
    }
}

/// `torch.nn.BatchNorm2d(channels, eps, momentum)`: `weight` 1, `bias` 0, `running_mean`
/// 0 and `running_var` 1 created in `vb`.
pub fn batch_norm2d(channels: usize, cfg: BatchNormConfig, vb: VarBuilder) -> Result<BatchNorm2d> {
    BatchNorm2d::new(
        vb.get_with_hints(channels, "weight", Init::Const(1.0))?,
        vb.get_with_hints(channels, "bias", Init::Const(0.0))?,
        vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?,
        vb.get_with_hints(channels, "running_var", Init::Const(1.0))?,
        cfg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::nn::test_util::{input, vb};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn trains_tracks_stats_and_every_parameter_gets_a_gradient() {
        let vm = VarMap::new();
        let bn = batch_norm2d(3, BatchNormConfig::default(), vb(&vm, DType::F32).pp("bn")).unwrap();
        let x = (input(&[4, 3, 5, 5], DType::F32) * 2.0)
            .unwrap()
            .affine(1.0, 1.0)
            .unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        // running_mean moved 10% of the way to the batch mean (≈ 1).
        let rm = bn.running_mean().to_vec1::<f32>().unwrap();
        assert!(rm.iter().all(|v| (0.05..0.15).contains(v)), "{rm:?}");
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        let e = bn.forward_t(&x, false).unwrap();
        assert_eq!(e.dims(), x.dims());
    }

    /// The fused blocks of [`Conv2d::forward_bn_act`], [`SeparableConv2d::forward_bn_act`]
    /// and [`Linear::forward_bn_act`] give, in training and evaluation mode, the output
    /// and running statistics of the layer then `forward_t_act`, bit for bit; with a bias
    /// the layer keeps its own node and still agrees.
    #[test]
    fn fused_blocks_match_layer_then_batch_norm() {
        use crate::gradcheck::bits;
        use crate::nn::{conv2d, linear_with, separable_conv2d, Conv2dConfig, LinearConfig};
        use candle_core::Module;
        let vm = VarMap::new();
        let v = vb(&vm, DType::F32);
        let bns = |name: &str, c: usize| {
            let mk = |k: &str| {
                batch_norm2d(c, BatchNormConfig::default(), v.pp(format!("{name}{k}"))).unwrap()
            };
            (mk("a"), mk("b"))
        };
        let x = input(&[3, 4, 6, 6], DType::F32);
        let rows = input(&[10, 4], DType::F32);
        let cfg = |bias| Conv2dConfig {
            padding: 1,
            bias,
            ..Default::default()
        };
        for (i, bias) in [false, true].into_iter().enumerate() {
            let conv = conv2d(4, 5, 3, cfg(bias), v.pp(format!("conv{i}"))).unwrap();
            let sep = separable_conv2d(4, 5, 3, cfg(bias), v.pp(format!("sep{i}"))).unwrap();
            let lin = linear_with(
                4,
                5,
                LinearConfig {
                    bias,
                    ..Default::default()
                },
                v.pp(format!("lin{i}")),
            )
            .unwrap();
            type Block<'a> = Box<dyn Fn(&BatchNorm2d, bool) -> Result<Tensor> + 'a>;
            let cases: [(&str, Block, Block); 3] = [
                (
                    "conv",
                    Box::new(|bn, t| conv.forward_bn_act(bn, &x, t, ops::Activation::Relu)),
                    Box::new(|bn, t| {
                        bn.forward_t_act(&conv.forward(&x)?, t, ops::Activation::Relu)
                    }),
                ),
                (
                    "separable",
                    Box::new(|bn, t| sep.forward_bn_act(bn, &x, t, ops::Activation::Silu)),
                    Box::new(|bn, t| bn.forward_t_act(&sep.forward(&x)?, t, ops::Activation::Silu)),
                ),
                (
                    "linear",
                    Box::new(|bn, t| lin.forward_bn_act(bn, &rows, t, ops::Activation::Relu)),
                    Box::new(|bn, t| {
                        bn.forward_t_act(&lin.forward(&rows)?, t, ops::Activation::Relu)
                    }),
                ),
            ];
            for (what, fused, apart) in cases {
                let (bf, ba) = bns(&format!("{what}{i}"), 5);
                for train in [true, false] {
                    let (yf, ya) = (fused(&bf, train).unwrap(), apart(&ba, train).unwrap());
                    let why = format!("{what}, bias {bias}, train {train}");
                    assert_eq!(bits(&yf), bits(&ya), "{why}: output");
                    assert_eq!(bits(bf.running_mean()), bits(ba.running_mean()), "{why}");
                    assert_eq!(bits(bf.running_var()), bits(ba.running_var()), "{why}");
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let stats = (
            input(&[3], DType::F64),
            input(&[3], DType::F64).abs().unwrap(),
        );
        for train in [true, false] {
            let r = check(
                |t| {
                    let bn = BatchNorm2d::new(
                        t[1].clone(),
                        t[2].clone(),
                        stats.0.clone(),
                        stats.1.clone(),
                        BatchNormConfig::default(),
                    )?;
                    Ok(bn.forward_t(&t[0], train)?)
                },
                &[
                    input(&[3, 3, 2, 3], DType::F64),
                    input(&[3], DType::F64),
                    input(&[3], DType::F64),
                ],
                60,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "train {train}: {r:?}");
        }
    }
}
