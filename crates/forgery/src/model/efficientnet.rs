//! EfficientNet B0–B4 (Tan & Le, ICML 2019), MAT's backbone.
//!
//! The official MAT code uses lukemelas's `efficientnet_pytorch` (a copy in
//! `models/efficientnet/`) with AdvProp weights. This module builds the same
//! network under **timm's parameter names**, i.e. timm's `tf_efficientnet_b*`
//! (the port of the same TensorFlow weights, with the same TF-"same" padding and
//! BN ε = 1e-3). A lukemelas state dict maps one-to-one (checked numerically
//! against that code, eval and training mode, B0 and B4), with its flat block
//! index `N` split into stage `s` and position `j`:
//!
//! | efficientnet_pytorch | timm (here) |
//! |---|---|
//! | `_conv_stem`, `_bn0` | `conv_stem`, `bn1` |
//! | `_blocks.N._expand_conv`, `._bn0` | `blocks.s.j.conv_pw`, `.bn1` |
//! | `_blocks.N._depthwise_conv`, `._bn1` | `blocks.s.j.conv_dw`, `.bn2` (stage 0: `.bn1`) |
//! | `_blocks.N._se_reduce`, `._se_expand` | `blocks.s.j.se.conv_reduce`, `.se.conv_expand` |
//! | `_blocks.N._project_conv`, `._bn2` | `blocks.s.j.conv_pwl`, `.bn3` (stage 0: `conv_pw`, `bn2`) |
//! | `_conv_head`, `_bn1` | `conv_head`, `bn2` |
//! | `_fc` | `classifier` |
//!
//! (Stage 0 has no expansion; timm calls its blocks `DepthwiseSeparableConv`.)
//!
//! Structure: stem 3×3 s2 (32·w) → BN → SiLU; seven stages of MBConv blocks
//! (expansion 1×1 → BN → SiLU → depthwise k×k (stride on the first block of a
//! stage) → BN → SiLU → squeeze-excitation (reduce to ¼ of the block's input
//! channels, SiLU, expand, sigmoid gate) → projection 1×1 → BN; identity skip
//! with stochastic depth when stride 1 and in = out); head 1×1 (1280·w) → BN →
//! SiLU → global average pool → dropout → `classifier`.
//!
//! | stage | expand | kernel | stride | channels (B0) | repeats (B0) |
//! |---|---|---|---|---|---|
//! | 1 | 1 | 3 | 1 | 16 | 1 |
//! | 2 | 6 | 3 | 2 | 24 | 2 |
//! | 3 | 6 | 5 | 2 | 40 | 2 |
//! | 4 | 6 | 3 | 2 | 80 | 3 |
//! | 5 | 6 | 5 | 1 | 112 | 3 |
//! | 6 | 6 | 5 | 2 | 192 | 4 |
//! | 7 | 6 | 3 | 1 | 320 | 1 |
//!
//! Widths are `round_filters` (multiples of 8, never more than 10 % below
//! `c·width`); repeats are `⌈r·depth⌉` (B4: 2, 4, 4, 6, 6, 8, 2 = 32 blocks).
//!
//! **Choices** (the official MAT code's, recorded in [`EfficientNetConfig`]):
//! TF-"same" padding computed from the actual input size (lukemelas pads
//! statically for the nominal resolution; identical at that resolution) — set
//! [`Padding::Symmetric`] for timm's PyTorch-style `efficientnet_b*`; BN
//! momentum 0.01 (`1 − 0.99`; timm uses PyTorch's 0.1) and ε 1e-3; drop-connect
//! rate 0.2 scaled by `block index / block count`; classifier dropout per
//! variant (0.2, 0.2, 0.3, 0.3, 0.4), except that MAT sets B4's to 0.
//! Initialisation follows timm's `_init_weight_goog`: convolutions
//! `N(0, √(2/(k²·C_out/groups)))` with zero biases, the classifier
//! `U(±1/√num_classes)` with a zero bias, BN weight 1 / bias 0.
//!
//! Feature taps ([`EfficientNet::forward_features_t`]) use the official MAT
//! code's names: `b0` = stem output, `b1` … `b7` = output of the last block of
//! each stage (B4: blocks 1, 5, 9, 15, 21, 29, 31), `final` = head conv → BN →
//! SiLU. MAT taps `b2` (texture), `b5` (attention) and `final`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use candor_forgery::model::efficientnet::{EfficientNet, EfficientNetConfig};
//!
//! let cfg = EfficientNetConfig::tiny();
//! let vm = VarMap::new();
//! let vb = candor_core::init::seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! let net = EfficientNet::new(vb, &cfg).unwrap();
//! let x = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
//! let taps = net.forward_features_t(&x, false).unwrap();
//! assert_eq!(taps.require("b2").unwrap().dims()[2], 16); // stride 4
//! assert_eq!(taps.require("b5").unwrap().dims()[2], 4); // stride 16
//! let logits = net.forward_head(taps.last(), false).unwrap();
//! assert_eq!(logits.dims(), &[2, 2]);
//! ```

use candle_core::{DType, Module, Tensor};
use candle_nn::{Init, VarBuilder};
use candor_core::init::{BiasInit, LayerInit, WeightInit};
use candor_core::nn::{
    batch_norm2d, linear_with, BatchNorm2d, BatchNormConfig, Linear, LinearConfig,
};
use candor_core::ops::{adaptive_avg_pool2d, conv2d_bias, Activation, Conv2dParams};
use candor_core::rng::dropout;
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use super::layers::{
    check_bn, check_input, check_rate, drop_path, he_fan_out, lock, shared_rng, FeatureInfo,
    FeatureMaps, SharedRng,
};

/// How convolutions pad their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// TensorFlow's "same": output `⌈in / stride⌉`, total padding
    /// `max((out − 1)·stride + k − in, 0)`, the odd pixel at the bottom/right
    /// (efficientnet_pytorch, timm's `tf_efficientnet_*`, the official MAT).
    #[default]
    TfSame,
    /// PyTorch-style symmetric padding `((stride − 1) + (k − 1)) / 2` (timm's
    /// `efficientnet_b*`).
    Symmetric,
}

/// One stage of the B0 baseline: (expansion, kernel, stride, output channels,
/// repeats).
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];
const STEM: usize = 32;
const HEAD: usize = 1280;
const SE_RATIO: f64 = 0.25;

/// Smallest accepted input side: the network's output stride.
pub const MIN_INPUT_SIZE: usize = 32;

/// EfficientNet settings. [`Default`] is MAT's backbone: B4 with the official
/// code's settings ([`EfficientNetConfig::mat`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EfficientNetConfig {
    /// Width multiplier (B0 1.0, B1 1.0, B2 1.1, B3 1.2, B4 1.4).
    pub width_coefficient: f64,
    /// Depth multiplier (B0 1.0, B1 1.1, B2 1.2, B3 1.4, B4 1.8).
    pub depth_coefficient: f64,
    /// Channels are rounded to multiples of this (8).
    pub channel_divisor: usize,
    /// Input channels (3).
    pub in_channels: usize,
    /// Output classes (2 for the detectors; ImageNet: 1000).
    pub num_classes: usize,
    /// Dropout before the classifier in training mode.
    pub dropout_rate: f64,
    /// Stochastic-depth rate of the last block; block `i` of `n` uses
    /// `rate · i / n` (0.2).
    pub drop_connect_rate: f64,
    /// BatchNorm momentum, PyTorch convention (0.01 = TF's decay 0.99).
    pub bn_momentum: f64,
    /// BatchNorm ε (1e-3).
    pub bn_eps: f64,
    /// Convolution padding.
    pub padding: Padding,
}

impl Default for EfficientNetConfig {
    fn default() -> Self {
        Self::mat()
    }
}

impl EfficientNetConfig {
    /// EfficientNet-B`n` for `n` in 0..=4 with efficientnet_pytorch's (= timm's
    /// `tf_efficientnet_b*`) settings and a 2-way classifier. Nominal
    /// resolutions: 224, 240, 260, 300, 380.
    pub fn variant(n: usize) -> Result<Self> {
        let (w, d, drop) = match n {
            0 => (1.0, 1.0, 0.2),
            1 => (1.0, 1.1, 0.2),
            2 => (1.1, 1.2, 0.3),
            3 => (1.2, 1.4, 0.3),
            4 => (1.4, 1.8, 0.4),
            _ => {
                return Err(Error::invalid(format!(
                    "EfficientNet-B{n} is not supported (B0–B4 are)"
                )))
            }
        };
        Ok(Self {
            width_coefficient: w,
            depth_coefficient: d,
            channel_divisor: 8,
            in_channels: 3,
            num_classes: 2,
            dropout_rate: drop,
            drop_connect_rate: 0.2,
            bn_momentum: 0.01,
            bn_eps: 1e-3,
            padding: Padding::TfSame,
        })
    }

    /// EfficientNet-B0 (5,288,548 parameters with 1000 classes).
    pub fn b0() -> Self {
        Self::fixed(0)
    }
    /// EfficientNet-B1.
    pub fn b1() -> Self {
        Self::fixed(1)
    }
    /// EfficientNet-B2.
    pub fn b2() -> Self {
        Self::fixed(2)
    }
    /// EfficientNet-B3.
    pub fn b3() -> Self {
        Self::fixed(3)
    }
    /// EfficientNet-B4 (19,341,616 parameters with 1000 classes).
    pub fn b4() -> Self {
        Self::fixed(4)
    }

    fn fixed(n: usize) -> Self {
        match Self::variant(n) {
            Ok(c) => c,
            Err(_) => unreachable!("B0–B4 are defined"),
        }
    }

    /// MAT's backbone as the official code builds it: B4, 2 classes, classifier
    /// dropout 0 (`efficientnet_params` patched from 0.4), drop connect 0.2.
    pub fn mat() -> Self {
        Self {
            dropout_rate: 0.0,
            ..Self::b4()
        }
    }

    /// A small network for tests and quick CPU runs: width 0.25, depth 0.5
    /// (stages of 1, 1, 1, 2, 2, 2, 1 blocks; 8–80 channels, head 320),
    /// otherwise MAT's settings.
    pub fn tiny() -> Self {
        Self {
            width_coefficient: 0.25,
            depth_coefficient: 0.5,
            ..Self::mat()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("width_coefficient", self.width_coefficient),
            ("depth_coefficient", self.depth_coefficient),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::invalid(format!(
                    "EfficientNet: {name} must be positive, got {v}"
                )));
            }
        }
        if self.channel_divisor == 0 {
            return Err(Error::invalid(
                "EfficientNet: channel_divisor must be at least 1",
            ));
        }
        if self.in_channels == 0 {
            return Err(Error::invalid(
                "EfficientNet: in_channels must be at least 1",
            ));
        }
        if self.num_classes == 0 {
            return Err(Error::invalid(
                "EfficientNet: num_classes must be at least 1",
            ));
        }
        check_rate("EfficientNet dropout_rate", self.dropout_rate)?;
        check_rate("EfficientNet drop_connect_rate", self.drop_connect_rate)?;
        check_bn(self.bn_momentum, self.bn_eps)
    }

    /// `round_filters`: `c·width` rounded to the nearest multiple of the
    /// divisor (at least the divisor), bumped up one step if that lost > 10 %.
    pub fn round_filters(&self, c: usize) -> usize {
        let d = self.channel_divisor as f64;
        let f = c as f64 * self.width_coefficient;
        let mut n = (((f + d / 2.0) as usize) / self.channel_divisor * self.channel_divisor)
            .max(self.channel_divisor);
        if (n as f64) < 0.9 * f {
            n += self.channel_divisor;
        }
        n
    }

    /// `round_repeats`: `⌈r·depth⌉`.
    pub fn round_repeats(&self, r: usize) -> usize {
        (r as f64 * self.depth_coefficient).ceil() as usize
    }

    /// Blocks per stage (B4: 2, 4, 4, 6, 6, 8, 2).
    pub fn stage_repeats(&self) -> Vec<usize> {
        STAGES.iter().map(|s| self.round_repeats(s.4)).collect()
    }

    /// 0-based indices (in the flat block list) of the last block of each stage:
    /// the `b1` … `b7` taps (B4: 1, 5, 9, 15, 21, 29, 31).
    pub fn tap_block_indices(&self) -> Vec<usize> {
        let mut acc = 0;
        self.stage_repeats()
            .into_iter()
            .map(|r| {
                acc += r;
                acc - 1
            })
            .collect()
    }

    /// Taps of this configuration, in network order (see the module docs).
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut v = vec![FeatureInfo {
            name: "b0".into(),
            channels: self.round_filters(STEM),
            reduction: 2,
        }];
        let mut red = 2;
        for (i, s) in STAGES.iter().enumerate() {
            red *= s.2;
            v.push(FeatureInfo {
                name: format!("b{}", i + 1),
                channels: self.round_filters(s.3),
                reduction: red,
            });
        }
        v.push(FeatureInfo {
            name: "final".into(),
            channels: self.round_filters(HEAD),
            reduction: red,
        });
        v
    }
}

/// A convolution with TF-"same" or symmetric padding.
#[derive(Debug, Clone)]
struct PadConv {
    weight: Tensor,
    bias: Option<Tensor>,
    k: usize,
    stride: usize,
    groups: usize,
    padding: Padding,
}

impl PadConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        groups: usize,
        bias: bool,
        padding: Padding,
    ) -> Result<Self> {
        let weight = vb.get_with_hints(
            (c_out, c_in / groups, k, k),
            "weight",
            he_fan_out(k * k * c_out / groups),
        )?;
        let bias = if bias {
            Some(vb.get_with_hints(c_out, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            k,
            stride,
            groups,
            padding,
        })
    }

    /// TF-"same" padding of one axis: (padding on both sides, one extra pixel at
    /// the end?).
    fn same(len: usize, k: usize, s: usize) -> (usize, bool) {
        let out = len.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(len);
        (total / 2, total % 2 == 1)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (x, p) = self.padded(x)?;
        conv2d_bias(&x, &self.weight, self.bias.as_ref(), p)
    }

    /// `act(bn(self.forward(x)))`; in training, with no bias, as one op
    /// ([`BatchNorm2d::forward_conv_train_act`]: the same values and gradients, the
    /// convolution's output no graph node of its own).
    fn forward_bn(
        &self,
        bn: &BatchNorm2d,
        x: &Tensor,
        train: bool,
        act: Activation,
    ) -> Result<Tensor> {
        if train && self.bias.is_none() {
            let (x, p) = self.padded(x)?;
            return bn.forward_conv_train_act(&x, &self.weight, p, act);
        }
        bn.forward_t_act(&self.forward(x)?, train, act)
    }

    /// The input with TF-"same"'s extra row and column (if any) and the convolution's
    /// geometry for it.
    fn padded(&self, x: &Tensor) -> Result<(Tensor, Conv2dParams)> {
        let (k, s) = (self.k, self.stride);
        let (x, pad) = match self.padding {
            Padding::Symmetric => {
                let p = ((s - 1) + (k - 1)) / 2;
                (x.clone(), (p, p))
            }
            Padding::TfSame => {
                let (_, _, h, w) = x.dims4()?;
                let (ph, eh) = Self::same(h, k, s);
                let (pw, ew) = Self::same(w, k, s);
                let mut x = x.clone();
                if eh {
                    x = x.pad_with_zeros(2, 0, 1)?;
                }
                if ew {
                    x = x.pad_with_zeros(3, 0, 1)?;
                }
                (x, (ph, pw))
            }
        };
        let p = Conv2dParams {
            stride: (s, s),
            padding: pad,
            dilation: (1, 1),
            groups: self.groups,
        };
        Ok((x, p))
    }
}

/// SiLU with candor's one-pass backward (candle's `silu` up to float rounding).
fn silu(x: &Tensor) -> Result<Tensor> {
    candor_core::ops::silu(x)
}

/// Squeeze-and-excitation (`se.conv_reduce`, `se.conv_expand`).
#[derive(Debug, Clone)]
struct SqueezeExcite {
    reduce: PadConv,
    expand: PadConv,
}

impl SqueezeExcite {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = adaptive_avg_pool2d(x, 1, 1)?;
        let s = silu(&self.reduce.forward(&s)?)?;
        let g = candle_nn::ops::sigmoid(&self.expand.forward(&s)?)?;
        Ok(x.broadcast_mul(&g)?)
    }
}

/// timm's `InvertedResidual` (with `conv_pw`) or, without expansion,
/// `DepthwiseSeparableConv`.
#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<(PadConv, BatchNorm2d)>,
    dw: PadConv,
    bn_dw: BatchNorm2d,
    se: SqueezeExcite,
    project: PadConv,
    bn_project: BatchNorm2d,
    skip: bool,
    drop_rate: f64,
}

impl MbConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        expand_ratio: usize,
        k: usize,
        stride: usize,
        drop_rate: f64,
        cfg: &EfficientNetConfig,
    ) -> Result<Self> {
        let pad = cfg.padding;
        let bn_cfg = BatchNormConfig {
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let bn = |vb: VarBuilder, c| batch_norm2d(c, bn_cfg, vb);
        let mid = c_in * expand_ratio;
        let rd = ((c_in as f64 * SE_RATIO) as usize).max(1);
        let se = |vb: VarBuilder| -> Result<SqueezeExcite> {
            Ok(SqueezeExcite {
                reduce: PadConv::new(vb.pp("conv_reduce"), mid, rd, 1, 1, 1, true, pad)?,
                expand: PadConv::new(vb.pp("conv_expand"), rd, mid, 1, 1, 1, true, pad)?,
            })
        };
        let skip = stride == 1 && c_in == c_out;
        if expand_ratio != 1 {
            Ok(Self {
                expand: Some((
                    PadConv::new(vb.pp("conv_pw"), c_in, mid, 1, 1, 1, false, pad)?,
                    bn(vb.pp("bn1"), mid)?,
                )),
                dw: PadConv::new(vb.pp("conv_dw"), mid, mid, k, stride, mid, false, pad)?,
                bn_dw: bn(vb.pp("bn2"), mid)?,
                se: se(vb.pp("se"))?,
                project: PadConv::new(vb.pp("conv_pwl"), mid, c_out, 1, 1, 1, false, pad)?,
                bn_project: bn(vb.pp("bn3"), c_out)?,
                skip,
                drop_rate,
            })
        } else {
            Ok(Self {
                expand: None,
                dw: PadConv::new(vb.pp("conv_dw"), mid, mid, k, stride, mid, false, pad)?,
                bn_dw: bn(vb.pp("bn1"), mid)?,
                se: se(vb.pp("se"))?,
                project: PadConv::new(vb.pp("conv_pw"), mid, c_out, 1, 1, 1, false, pad)?,
                bn_project: bn(vb.pp("bn2"), c_out)?,
                skip,
                drop_rate,
            })
        }
    }

    fn forward(&self, x: &Tensor, train: bool, rng: &SharedRng) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some((conv, bn)) = &self.expand {
            h = conv.forward_bn(bn, &h, train, Activation::Silu)?;
        }
        h = self
            .dw
            .forward_bn(&self.bn_dw, &h, train, Activation::Silu)?;
        h = self.se.forward(&h)?;
        h = self
            .project
            .forward_bn(&self.bn_project, &h, train, Activation::Identity)?;
        if !self.skip {
            return Ok(h);
        }
        if train && self.drop_rate > 0.0 {
            h = drop_path(&h, self.drop_rate, &mut lock(rng))?;
        }
        Ok((h + x)?)
    }

    fn bns_mut(&mut self) -> impl Iterator<Item = &mut BatchNorm2d> {
        self.expand
            .iter_mut()
            .map(|(_, bn)| bn)
            .chain([&mut self.bn_dw, &mut self.bn_project])
    }
}

/// The EfficientNet network (see the module docs).
#[derive(Debug, Clone)]
pub struct EfficientNet {
    cfg: EfficientNetConfig,
    conv_stem: PadConv,
    bn1: BatchNorm2d,
    stages: Vec<Vec<MbConv>>,
    conv_head: PadConv,
    bn2: BatchNorm2d,
    classifier: Linear,
    dtype: DType,
    rng: SharedRng,
}

impl EfficientNet {
    /// Builds the network, creating its variables in `vb` under timm's names
    /// (use `candor_core::init::seeded_var_builder` for reproducible weights).
    /// Dropout and drop-connect masks come from a generator seeded with 0 (see
    /// [`Self::reseed`]).
    pub fn new(vb: VarBuilder, cfg: &EfficientNetConfig) -> Result<Self> {
        cfg.validate()?;
        let pad = cfg.padding;
        let bn_cfg = BatchNormConfig {
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let bn = |vb: VarBuilder, c| batch_norm2d(c, bn_cfg, vb);
        let stem = cfg.round_filters(STEM);
        let conv_stem = PadConv::new(
            vb.pp("conv_stem"),
            cfg.in_channels,
            stem,
            3,
            2,
            1,
            false,
            pad,
        )?;
        let bn1 = bn(vb.pp("bn1"), stem)?;
        let total: usize = cfg.stage_repeats().iter().sum();
        let mut idx = 0;
        let mut c = stem;
        let mut stages = Vec::with_capacity(STAGES.len());
        for (s, &(e, k, stride, out, r)) in STAGES.iter().enumerate() {
            let out = cfg.round_filters(out);
            let mut blocks = Vec::new();
            for j in 0..cfg.round_repeats(r) {
                let rate = cfg.drop_connect_rate * idx as f64 / total as f64;
                let st = if j == 0 { stride } else { 1 };
                blocks.push(MbConv::new(
                    vb.pp(format!("blocks.{s}.{j}")),
                    c,
                    out,
                    e,
                    k,
                    st,
                    rate,
                    cfg,
                )?);
                c = out;
                idx += 1;
            }
            stages.push(blocks);
        }
        let head = cfg.round_filters(HEAD);
        let conv_head = PadConv::new(vb.pp("conv_head"), c, head, 1, 1, 1, false, pad)?;
        let bn2 = bn(vb.pp("bn2"), head)?;
        let r = 1.0 / (cfg.num_classes as f64).sqrt();
        // timm's `_init_weight_goog`: U(±1/√fan_out), zero bias.
        let init = LayerInit {
            weight: WeightInit::Uniform { bound: r },
            bias: BiasInit::Zeros,
        };
        let classifier = linear_with(
            head,
            cfg.num_classes,
            LinearConfig { bias: true, init },
            vb.pp("classifier"),
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            dtype: conv_stem.weight.dtype(),
            conv_stem,
            bn1,
            stages,
            conv_head,
            bn2,
            classifier,
            rng: shared_rng(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EfficientNetConfig {
        &self.cfg
    }

    /// Taps of this network, in the order [`Self::forward_features_t`] returns them.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        self.cfg.feature_info()
    }

    /// Channels of `final` (the classifier's input).
    pub fn num_features(&self) -> usize {
        self.cfg.round_filters(HEAD)
    }

    /// Restarts the dropout/drop-connect generator from `seed` (clones share one
    /// generator).
    pub fn reseed(&self, seed: u64) {
        *lock(&self.rng) = SeededRng::new(seed);
    }

    /// Sets the momentum of every BatchNorm (PyTorch convention).
    pub fn set_bn_momentum(&mut self, momentum: f64) {
        let Self {
            bn1, stages, bn2, ..
        } = self;
        let all = [bn1, bn2]
            .into_iter()
            .chain(stages.iter_mut().flatten().flat_map(|b| b.bns_mut()));
        for bn in all {
            bn.set_momentum(momentum);
        }
    }

    /// Checks that `x` is a batch this network accepts: `(N, in_channels, H, W)`,
    /// `N ≥ 1`, `H, W ≥ 32`, the weights' dtype.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        check_input(
            "EfficientNet",
            x,
            self.cfg.in_channels,
            MIN_INPUT_SIZE,
            self.dtype,
        )
    }

    /// All feature taps (`b0` … `b7`, `final`; see the module docs). `train`
    /// selects BatchNorm batch statistics (with running-average updates) and
    /// stochastic depth; training mode needs more than one value per channel at
    /// every layer (a batch of at least 2 at small input sizes).
    pub fn forward_features_t(&self, x: &Tensor, train: bool) -> Result<FeatureMaps> {
        self.check_input(x)?;
        let mut taps = FeatureMaps::with_capacity(STAGES.len() + 2);
        let mut h = self
            .conv_stem
            .forward_bn(&self.bn1, x, train, Activation::Silu)?;
        taps.push("b0", h.clone());
        for (s, blocks) in self.stages.iter().enumerate() {
            for b in blocks {
                h = b.forward(&h, train, &self.rng)?;
            }
            taps.push(format!("b{}", s + 1), h.clone());
        }
        let fin = self
            .conv_head
            .forward_bn(&self.bn2, &h, train, Activation::Silu)?;
        taps.push("final", fin);
        Ok(taps)
    }

    /// Global average pool of `final`: the `(N, 1280·width)` embedding.
    pub fn pool(&self, features: &Tensor) -> Result<Tensor> {
        Ok(adaptive_avg_pool2d(features, 1, 1)?.flatten_from(1)?)
    }

    /// The classifier head on `final`: global average pool → dropout (training
    /// mode only) → `classifier`. Returns `(N, num_classes)` logits.
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        let pooled = self.pool(features)?;
        let pooled = if train && self.cfg.dropout_rate > 0.0 {
            dropout(&pooled, self.cfg.dropout_rate, &mut lock(&self.rng))?
        } else {
            pooled
        };
        Ok(self.classifier.forward(&pooled)?)
    }

    /// Logits `(N, num_classes)`. `train`: BatchNorm batch statistics,
    /// stochastic depth and dropout.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let taps = self.forward_features_t(x, train)?;
        self.forward_head(taps.last(), train)
    }
}
