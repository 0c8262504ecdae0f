//! `torch.nn.Conv2d` and Xception's separable convolution, on [`ops::conv2d_bias`]
//! (dense, grouped and depthwise kernels with backward).
//!
//! [`Conv2dConfig`] names PyTorch's options (`padding`, `stride`, `dilation`, `groups`,
//! `bias`) with PyTorch's defaults, in place of positional integers:
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::init::seeded_var_builder;
//! use candor_core::nn::{conv2d, Conv2d, Conv2dConfig};
//! let vm = VarMap::new();
//! let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! let cfg = Conv2dConfig { padding: 1, stride: 2, ..Default::default() };
//! let conv = conv2d(3, 8, 3, cfg, vb.pp("conv1")).unwrap(); // conv1.weight (8, 3, 3, 3), conv1.bias
//! let y = conv.forward(&Tensor::zeros((1, 3, 32, 32), DType::F32, &Device::Cpu).unwrap()).unwrap();
//! assert_eq!(y.dims(), &[1, 8, 16, 16]);
//!
//! // From tensors: a 1×1 convolution that sums two channels.
//! let w = Tensor::ones((1, 2, 1, 1), DType::F32, &Device::Cpu).unwrap();
//! let sum = Conv2d::new(w, None, Conv2dConfig::default().params()).unwrap();
//! let x = Tensor::new(&[[[[1f32]], [[2.0]]]], &Device::Cpu).unwrap();
//! assert_eq!(sum.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![3.0]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::{cerr, BatchNorm2d};
use crate::init::LayerInit;
use crate::ops::{self, Conv2dParams};
use crate::{Error, Result};

/// A convolution layer's options, PyTorch's names and defaults (padding 0, stride 1,
/// dilation 1, groups 1, bias, PyTorch's initialisation). Square padding, stride and
/// dilation; [`Conv2dParams`] takes `(h, w)` pairs where a model needs them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conv2dConfig {
    pub padding: usize,
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
    pub init: LayerInit,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Self {
            padding: 0,
            stride: 1,
            dilation: 1,
            groups: 1,
            bias: true,
            init: LayerInit::TORCH,
        }
    }
}

impl Conv2dConfig {
    /// The op's geometry (square).
    pub fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: (self.stride, self.stride),
            padding: (self.padding, self.padding),
            dilation: (self.dilation, self.dilation),
            groups: self.groups,
        }
    }
}

impl From<Conv2dConfig> for Conv2dParams {
    fn from(c: Conv2dConfig) -> Self {
        c.params()
    }
}

/// A 2-D convolution: `weight` `(C_out, C_in/groups, kH, kW)`, optional `bias` `(C_out,)`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: Conv2dParams,
}

impl Conv2d {
    /// A layer from its tensors and geometry (shapes checked).
    pub fn new(weight: Tensor, bias: Option<Tensor>, params: Conv2dParams) -> Result<Self> {
        let (c_out, _, _, _) = weight.dims4().map_err(|_| {
            Error::invalid(format!(
                "Conv2d: weight must be (C_out, C_in/groups, kH, kW), got {:?}",
                weight.dims()
            ))
        })?;
        if params.groups == 0 || !c_out.is_multiple_of(params.groups) {
            return Err(Error::invalid(format!(
                "Conv2d: {} groups must divide {c_out} output channels",
                params.groups
            )));
        }
        if let Some(b) = &bias {
            if b.dims() != [c_out] {
                return Err(Error::invalid(format!(
                    "Conv2d: bias must be ({c_out},), got {:?}",
                    b.dims()
                )));
            }
        }
        Ok(Self {
            weight,
            bias,
            params,
        })
    }

    /// The weight, `(C_out, C_in/groups, kH, kW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(C_out,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Stride, padding, dilation and groups.
    pub fn params(&self) -> Conv2dParams {
        self.params
    }

    /// `act(self.forward(x))` as one op ([`ops::conv2d_bias_act`]): the same values and
    /// gradients, one graph node and one pass over the output fewer.
    pub fn forward_act(&self, x: &Tensor, act: ops::Activation) -> Result<Tensor> {
        ops::conv2d_bias_act(x, &self.weight, self.bias.as_ref(), self.params, act)
    }

    /// `act(bn.forward_t(self.forward(x), train))`, the conv → BN → activation block. In
    /// training, without a bias, it is one op
    /// ([`BatchNorm2d::forward_conv_train_act`]): the same values and gradients, the
    /// convolution's output no graph node of its own.
    pub fn forward_bn_act(
        &self,
        bn: &BatchNorm2d,
        x: &Tensor,
        train: bool,
        act: ops::Activation,
    ) -> Result<Tensor> {
        if train && self.bias.is_none() {
            return bn.forward_conv_train_act(x, &self.weight, self.params, act);
        }
        bn.forward_t_act(&self.forward(x)?, train, act)
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::conv2d_bias(x, &self.weight, self.bias.as_ref(), self.params).map_err(cerr)
    }
}

/// `torch.nn.Conv2d(c_in, c_out, k, …)`: `weight` and (if `cfg.bias`) `bias` created in
/// `vb` with `cfg.init` (PyTorch's `U(±1/√(C_in/groups·k²))` by default).
pub fn conv2d(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let g = cfg.groups;
    if g == 0 || !c_in.is_multiple_of(g) || !c_out.is_multiple_of(g) || kernel == 0 {
        return Err(Error::invalid(format!(
            "Conv2d: {g} groups must divide {c_in} input and {c_out} output channels (kernel {kernel})"
        )));
    }
    let shape = (c_out, c_in / g, kernel, kernel).into();
    let (w_init, b_init) = cfg.init.rules(&shape)?;
    let weight = vb.get_with_hints(shape, "weight", w_init)?;
    let bias = if cfg.bias {
        Some(vb.get_with_hints(c_out, "bias", b_init)?)
    } else {
        None
    };
    Conv2d::new(weight, bias, cfg.params())
}

/// Xception's separable convolution: a depthwise `k × k` convolution (`conv1`) followed by
/// a pointwise 1×1 convolution (`pointwise`), timm's names.
#[derive(Debug, Clone)]
pub struct SeparableConv2d {
    conv1: Conv2d,
    pointwise: Conv2d,
}

impl SeparableConv2d {
    /// From its two convolutions (the first depthwise: groups = its input channels).
    pub fn new(conv1: Conv2d, pointwise: Conv2d) -> Result<Self> {
        let (c_mid, cg, _, _) = conv1.weight().dims4()?;
        if cg != 1 || conv1.params().groups != c_mid || pointwise.weight().dims()[1] != c_mid {
            return Err(Error::invalid(format!(
                "SeparableConv2d: conv1 {:?} (groups {}) must be depthwise and feed pointwise {:?}",
                conv1.weight().dims(),
                conv1.params().groups,
                pointwise.weight().dims()
            )));
        }
        Ok(Self { conv1, pointwise })
    }

    /// The depthwise convolution.
    pub fn conv1(&self) -> &Conv2d {
        &self.conv1
    }

    /// The pointwise convolution.
    pub fn pointwise(&self) -> &Conv2d {
        &self.pointwise
    }

    /// `act(bn.forward_t(self.forward(x), train))`, with the pointwise convolution and
    /// `bn` as one op in training ([`Conv2d::forward_bn_act`]).
    pub fn forward_bn_act(
        &self,
        bn: &BatchNorm2d,
        x: &Tensor,
        train: bool,
        act: ops::Activation,
    ) -> Result<Tensor> {
        self.pointwise
            .forward_bn_act(bn, &self.conv1.forward(x)?, train, act)
    }
}

impl Module for SeparableConv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.pointwise.forward(&self.conv1.forward(x)?)
    }
}

/// A separable convolution whose depthwise step takes `cfg`'s padding, stride and
/// dilation (its `groups` is ignored: the depthwise step has `c_in` groups); both steps
/// take `cfg.bias` and `cfg.init`.
pub fn separable_conv2d(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<SeparableConv2d> {
    let dw = Conv2dConfig {
        groups: c_in,
        ..cfg
    };
    let pw = Conv2dConfig {
        bias: cfg.bias,
        init: cfg.init,
        ..Default::default()
    };
    SeparableConv2d::new(
        conv2d(c_in, c_in, kernel, dw, vb.pp("conv1"))?,
        conv2d(c_in, c_out, 1, pw, vb.pp("pointwise"))?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::init::sorted_vars;
    use crate::nn::test_util::{input, vb};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn conv2d_layer() {
        let vm = VarMap::new();
        let cfg = Conv2dConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        let c = conv2d(3, 4, 3, cfg, vb(&vm, DType::F32).pp("c")).unwrap();
        let y = c.forward(&input(&[2, 3, 9, 9], DType::F32)).unwrap();
        assert_eq!(y.dims(), &[2, 4, 5, 5]);
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        let w = c.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let bound = 1.0 / 27f32.sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > 0.5 * bound));
        let bad = Conv2dConfig {
            groups: 2,
            ..Default::default()
        };
        assert!(conv2d(3, 4, 3, bad, vb(&vm, DType::F32).pp("d")).is_err());
        assert!(Conv2d::new(input(&[4, 3, 3], DType::F32), None, cfg.params()).is_err());
        assert!(Conv2d::new(
            input(&[4, 3, 3, 3], DType::F32),
            Some(input(&[3], DType::F32)),
            cfg.params()
        )
        .is_err());
    }

    #[test]
    fn conv2d_gradients() {
        let p = Conv2dConfig {
            stride: 2,
            padding: 1,
            groups: 2,
            ..Default::default()
        }
        .params();
        let r = check(
            |t| Ok(Conv2d::new(t[1].clone(), Some(t[2].clone()), p)?.forward(&t[0])?),
            &[
                input(&[2, 4, 5, 6], DType::F64),
                input(&[6, 2, 3, 3], DType::F64),
                input(&[6], DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
    }

    #[test]
    fn separable_conv_layer() {
        let vm = VarMap::new();
        let cfg = Conv2dConfig {
            padding: 1,
            bias: false,
            ..Default::default()
        };
        let c = separable_conv2d(4, 6, 3, cfg, vb(&vm, DType::F32).pp("s")).unwrap();
        let y = c.forward(&input(&[2, 4, 7, 7], DType::F32)).unwrap();
        assert_eq!(y.dims(), &[2, 6, 7, 7]);
        let names: Vec<String> = sorted_vars(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["s.conv1.weight", "s.pointwise.weight"]);
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
    }

    #[test]
    fn config_serde_defaults() {
        let c: Conv2dConfig = serde_json::from_str(r#"{"padding": 1, "bias": false}"#).unwrap();
        assert_eq!(
            c,
            Conv2dConfig {
                padding: 1,
                bias: false,
                ..Default::default()
            }
        );
        assert!(serde_json::from_str::<Conv2dConfig>(r#"{"pad": 1}"#).is_err());
    }
}
