//! Trainable layers on candor-core's ops, with PyTorch's parameter names (`weight`,
//! `bias`, `running_mean`, `running_var`) so that a converted PyTorch state dict loads
//! unchanged, and PyTorch's default initialisation (drawn through the seeded
//! `VarBuilder` of [`crate::init`]).

use candle_core::{Module, ModuleT, Tensor, Var};
use candle_nn::{Init, VarBuilder};

use crate::ops::{self, Conv2dParams, Pool2dParams};
use crate::{Error, Result};

fn cerr(e: crate::Error) -> candle_core::Error {
    match e {
        crate::Error::Candle(c) => c,
        other => candle_core::Error::Msg(other.to_string()),
    }
}

/// PyTorch's default for conv and linear layers: kaiming_uniform(a = √5), i.e.
/// U(−1/√fan_in, 1/√fan_in), for the weight and the bias alike.
fn torch_default(fan_in: usize) -> Init {
    let b = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// `torch.nn.Conv2d`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub params: Conv2dParams,
}

impl Conv2d {
    /// A `c_in → c_out` convolution with a `k × k` kernel.
    pub fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        k: usize,
        params: Conv2dParams,
        bias: bool,
    ) -> Result<Self> {
        if params.groups == 0
            || !c_in.is_multiple_of(params.groups)
            || !c_out.is_multiple_of(params.groups)
        {
            return Err(Error::invalid(format!(
                "Conv2d: {} groups must divide {c_in} input and {c_out} output channels",
                params.groups
            )));
        }
        let cg = c_in / params.groups;
        let init = torch_default(cg * k * k);
        let weight = vb.get_with_hints((c_out, cg, k, k), "weight", init)?;
        let bias = if bias {
            Some(vb.get_with_hints(c_out, "bias", init)?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            params,
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::conv2d_bias(x, &self.weight, self.bias.as_ref(), self.params).map_err(cerr)
    }
}

/// Xception's separable convolution: a depthwise `k × k` convolution (`conv1`) followed by
/// a pointwise 1×1 convolution (`pointwise`), both without bias by default (timm's names).
#[derive(Debug, Clone)]
pub struct SeparableConv2d {
    pub conv1: Conv2d,
    pub pointwise: Conv2d,
}

impl SeparableConv2d {
    /// `params` gives the depthwise convolution's stride, padding and dilation (its
    /// `groups` is ignored: the depthwise step always has `c_in` groups).
    pub fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        k: usize,
        params: Conv2dParams,
        bias: bool,
    ) -> Result<Self> {
        let dw = Conv2dParams {
            groups: c_in,
            ..params
        };
        let conv1 = Conv2d::new(vb.pp("conv1"), c_in, c_in, k, dw, bias)?;
        let pointwise = Conv2d::new(
            vb.pp("pointwise"),
            c_in,
            c_out,
            1,
            Conv2dParams::default(),
            bias,
        )?;
        Ok(Self { conv1, pointwise })
    }
}

impl Module for SeparableConv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.pointwise.forward(&self.conv1.forward(x)?)
    }
}

/// `torch.nn.BatchNorm2d` (also fine for any `(N, C, …)`): batch statistics and a
/// running-average update in training mode, running statistics in evaluation mode.
/// `running_mean`/`running_var` live in the `VarMap` (so checkpoints carry them) but get
/// no gradient.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Var,
    pub running_var: Var,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm2d {
    /// PyTorch's defaults: momentum 0.1, eps 1e-5, weight 1, bias 0.
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Self::with(vb, channels, 0.1, 1e-5)
    }

    pub fn with(vb: VarBuilder, channels: usize, momentum: f64, eps: f64) -> Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        let rm = vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?;
        let rv = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
        Ok(Self {
            weight,
            bias,
            running_mean: Var::from_tensor(&rm)?,
            running_var: Var::from_tensor(&rv)?,
            momentum,
            eps,
        })
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if train {
            let (y, mean, var) =
                ops::batch_norm_train(x, Some(&self.weight), Some(&self.bias), self.eps)
                    .map_err(cerr)?;
            let m = self.momentum;
            let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?;
            let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (var * m)?)?;
            self.running_mean.set(&rm.detach())?;
            self.running_var.set(&rv.detach())?;
            Ok(y)
        } else {
            ops::norm::batch_norm_eval(
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

/// `torch.nn.LayerNorm(normalized_shape)` over the last dimension(s).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub dims: usize,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(vb: VarBuilder, normalized_shape: &[usize], eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(normalized_shape, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(normalized_shape, "bias", Init::Const(0.0))?,
            dims: normalized_shape.len(),
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::layer_norm(x, self.dims, Some(&self.weight), Some(&self.bias), self.eps).map_err(cerr)
    }
}

/// `torch.nn.GroupNorm(groups, channels)`.
#[derive(Debug, Clone)]
pub struct GroupNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub groups: usize,
    pub eps: f64,
}

impl GroupNorm {
    pub fn new(vb: VarBuilder, groups: usize, channels: usize, eps: f64) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(Error::invalid(format!(
                "GroupNorm: {groups} groups do not divide {channels} channels"
            )));
        }
        Ok(Self {
            weight: vb.get_with_hints(channels, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(channels, "bias", Init::Const(0.0))?,
            groups,
            eps,
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::group_norm(
            x,
            self.groups,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
        )
        .map_err(cerr)
    }
}

/// `torch.nn.MaxPool2d(kernel, stride, padding)`.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d(pub Pool2dParams);

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::max_pool2d(x, self.0).map_err(cerr)
    }
}

/// `torch.nn.AvgPool2d(kernel, stride, padding, count_include_pad=True)`.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d(pub Pool2dParams);

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::avg_pool2d(x, self.0, true).map_err(cerr)
    }
}

/// Bilinear `torch.nn.Upsample` by an integer or fractional factor.
#[derive(Debug, Clone, Copy)]
pub struct Upsample {
    pub scale: f64,
    pub align_corners: bool,
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let oh = (h as f64 * self.scale).floor() as usize;
        let ow = (w as f64 * self.scale).floor() as usize;
        ops::upsample_bilinear2d(x, oh, ow, self.align_corners).map_err(cerr)
    }
}

#[cfg(test)]
mod tests {
    //! Every parameter of every layer receives a non-zero gradient.
    use super::*;
    use crate::init::{seeded_var_builder, sorted_named_vars};
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn input(shape: &[usize]) -> Tensor {
        crate::SeededRng::new(3)
            .normal_tensor(0.0, 1.0, shape, DType::F32, &Device::Cpu)
            .unwrap()
    }

    /// Run `f`, back-propagate a random projection of its output, and check each
    /// trainable variable (running statistics excluded) has a non-zero gradient.
    fn all_params_get_gradients(vm: &VarMap, y: Tensor, skip: &[&str]) {
        let r = input(y.dims());
        let grads = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
        let vars = sorted_named_vars(vm);
        assert!(!vars.is_empty());
        for (name, v) in vars {
            if skip.iter().any(|s| name.ends_with(s)) {
                assert!(
                    grads.get(v.as_tensor()).is_none(),
                    "{name} should get no gradient"
                );
                continue;
            }
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            let n = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n > 0.0, "{name}: zero gradient");
        }
    }

    fn vb(vm: &VarMap) -> VarBuilder<'static> {
        seeded_var_builder(vm, 0, DType::F32, &Device::Cpu)
    }

    #[test]
    fn conv2d_layer() {
        let vm = VarMap::new();
        let c = Conv2d::new(
            vb(&vm).pp("c"),
            3,
            4,
            3,
            Conv2dParams::new(2, 1, 1, 1),
            true,
        )
        .unwrap();
        let y = c.forward(&input(&[2, 3, 9, 9])).unwrap();
        assert_eq!(y.dims(), &[2, 4, 5, 5]);
        all_params_get_gradients(&vm, y, &[]);
        assert!(Conv2d::new(
            vb(&vm).pp("d"),
            3,
            4,
            3,
            Conv2dParams::new(1, 1, 1, 2),
            true
        )
        .is_err());
    }

    #[test]
    fn separable_conv_layer() {
        let vm = VarMap::new();
        let c = SeparableConv2d::new(
            vb(&vm).pp("s"),
            4,
            6,
            3,
            Conv2dParams::new(1, 1, 1, 1),
            false,
        )
        .unwrap();
        let y = c.forward(&input(&[2, 4, 7, 7])).unwrap();
        assert_eq!(y.dims(), &[2, 6, 7, 7]);
        let names: Vec<String> = sorted_named_vars(&vm).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["s.conv1.weight", "s.pointwise.weight"]);
        all_params_get_gradients(&vm, y, &[]);
    }

    #[test]
    fn batch_norm_layer_trains_and_tracks_stats() {
        let vm = VarMap::new();
        let bn = BatchNorm2d::new(vb(&vm).pp("bn"), 3).unwrap();
        let x = (input(&[4, 3, 5, 5]) * 2.0)
            .unwrap()
            .affine(1.0, 1.0)
            .unwrap();
        let y = bn.forward_t(&x, true).unwrap();
        // running_mean moved 10% of the way to the batch mean (≈ 1).
        let rm = bn.running_mean.as_tensor().to_vec1::<f32>().unwrap();
        assert!(rm.iter().all(|v| (0.05..0.15).contains(v)), "{rm:?}");
        all_params_get_gradients(&vm, y, &["running_mean", "running_var"]);
        let e = bn.forward_t(&x, false).unwrap();
        assert_eq!(e.dims(), x.dims());
    }

    #[test]
    fn norm_layers() {
        let vm = VarMap::new();
        let ln = LayerNorm::new(vb(&vm).pp("ln"), &[5], 1e-5).unwrap();
        let gn = GroupNorm::new(vb(&vm).pp("gn"), 2, 4, 1e-5).unwrap();
        let x = input(&[2, 4, 3, 5]);
        let y = (ln.forward(&x).unwrap() + gn.forward(&x).unwrap()).unwrap();
        all_params_get_gradients(&vm, y, &[]);
        assert!(GroupNorm::new(vb(&vm).pp("bad"), 3, 4, 1e-5).is_err());
    }

    #[test]
    fn pooling_and_upsample_pass_gradients_to_the_layer_below() {
        let vm = VarMap::new();
        let c = Conv2d::new(
            vb(&vm).pp("c"),
            2,
            2,
            3,
            Conv2dParams::new(1, 1, 1, 1),
            true,
        )
        .unwrap();
        let x = input(&[1, 2, 8, 8]);
        let h = c.forward(&x).unwrap();
        let y = MaxPool2d(Pool2dParams::new(3, 2, 1)).forward(&h).unwrap();
        let y = AvgPool2d(Pool2dParams::new(2, 1, 0)).forward(&y).unwrap();
        let y = Upsample {
            scale: 2.0,
            align_corners: false,
        }
        .forward(&y)
        .unwrap();
        assert_eq!(y.dims(), &[1, 2, 6, 6]);
        all_params_get_gradients(&vm, y, &[]);
    }
}
