//! Xception (Chollet, CVPR 2017) as in timm's `xception` (`legacy_xception` in
//! newer timm), the Cadene port that FaceForensics++, DeepfakeBench and the
//! official MAT code all use; with SPSL's options (4 input channels, the
//! "shallow Xception" without middle flow).
//!
//! Structure (widths at `width_multiplier = 1`):
//!
//! * **Entry flow:** `conv1` 3×3 stride 2, no padding (C_in → 32) → `bn1` → ReLU →
//!   `conv2` 3×3, no padding (32 → 64) → `bn2` → ReLU; `block1` 64 → 128 (2 reps,
//!   stride 2, no leading ReLU); `block2` 128 → 256 and `block3` 256 → 728
//!   (2 reps, stride 2).
//! * **Middle flow:** `block4` … `block11`, 728 → 728, 3 reps, stride 1, identity
//!   skip. [`XceptionConfig::middle_blocks`] keeps the first `k` of them; `k = 0`
//!   is DeepfakeBench's `shallow_xception` mode (SPSL's shallow network).
//! * **Exit flow:** `block12` 728 → 1024 (2 reps, stride 2, widening on the last
//!   rep) → `conv3` separable 1024 → 1536 → `bn3` → ReLU → `conv4` separable
//!   1536 → 2048 → `bn4` → ReLU → global average pool → (dropout) → `fc`.
//! * **Block:** reps × [ReLU → separable 3×3 (depthwise `conv1` + 1×1
//!   `pointwise`, no bias) → BN]; a strided block ends in max-pool 3×3 / s2 /
//!   pad 1; the skip is a 1×1 strided conv + BN (`skip`, `skipbn`) when the shape
//!   changes, the identity otherwise.
//!
//! Parameter names are timm's state-dict keys (`conv1.weight`, `bn1.running_mean`,
//! `block1.skip.weight`, `block1.rep.0.conv1.weight`, `block2.rep.1.pointwise.weight`,
//! `block12.rep.5.bias`, `conv3.pointwise.weight`, `fc.weight`, …); a timm or
//! Cadene checkpoint loads after dropping its `num_batches_tracked` buffers
//! (DeepfakeBench and the official MAT code call `fc` `last_linear`).
//! Forward passes (evaluation and training mode, full and shallow, 4 channels)
//! were checked against timm's module structure in PyTorch to ~1e-6.
//! Initialisation follows timm: convolutions `N(0, √(2/(C_out·k²)))`, BN
//! weight 1 / bias 0, `fc` PyTorch's default `U(±1/√2048)`.
//!
//! Feature taps ([`Xception::forward_features_t`]) follow the official MAT
//! code's `models/xception.py`: `b0` = `bn2` output (before its ReLU), `b1` … `b12`
//! = block outputs (only the middle blocks that exist), `final` = `bn4` output
//! (before its ReLU; the head applies the ReLU).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use candor_forgery::model::xception::{Xception, XceptionConfig};
//!
//! let cfg = XceptionConfig::tiny();
//! let vm = VarMap::new();
//! let vb = candor_core::init::seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! let net = Xception::new(vb, &cfg).unwrap();
//! let x = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
//! let logits = net.forward_t(&x, false).unwrap();
//! assert_eq!(logits.dims(), &[2, 2]);
//! let taps = net.forward_features_t(&x, false).unwrap();
//! assert_eq!(taps.require("b3").unwrap().dim(1).unwrap(), net.feature_info()[3].channels);
//! ```

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;
use candor_core::nn::{
    batch_norm2d, linear, BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, Linear,
    SeparableConv2d,
};
use candor_core::ops::{adaptive_avg_pool2d, max_pool2d, relu, Activation, Pool2dParams};
use candor_core::rng::dropout;
use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};

use super::layers::{
    check_bn, check_input, check_rate, he_fan_out, lock, shared_rng, FeatureInfo, FeatureMaps,
    SharedRng,
};

/// Number of middle-flow blocks of the full network (`block4` … `block11`).
pub const FULL_MIDDLE_BLOCKS: usize = 8;

/// Xception settings. [`Default`] is the full RGB network with a 2-way head
/// (DeepfakeBench's Xception baseline; the SPSL benchmark run used it too, with
/// 4 channels: see [`XceptionConfig::spsl_deepfakebench`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XceptionConfig {
    /// Input channels: 3 (RGB) or 4 (SPSL's RGB + phase).
    pub in_channels: usize,
    /// Output classes (2 for the forgery detectors; timm's ImageNet model: 1000).
    pub num_classes: usize,
    /// Middle-flow blocks kept, 0 to 8 (8 = full Xception; 0 = SPSL's shallow
    /// Xception: entry flow straight into the exit flow).
    pub middle_blocks: usize,
    /// Scales every width (32, 64, 128, 256, 728, 1024, 1536, 2048) and rounds
    /// to the nearest integer (at least 1); 1.0 is the paper's network. Use
    /// small values (e.g. 1/16) for quick CPU runs.
    pub width_multiplier: f64,
    /// Dropout before `fc` in training mode (DeepfakeBench's optional
    /// `dropout`; 0 in its Xception and SPSL configs).
    pub dropout: f64,
    /// BatchNorm momentum, PyTorch convention (0.1).
    pub bn_momentum: f64,
    /// BatchNorm ε (1e-5).
    pub bn_eps: f64,
}

impl Default for XceptionConfig {
    fn default() -> Self {
        Self {
            in_channels: 3,
            num_classes: 2,
            middle_blocks: FULL_MIDDLE_BLOCKS,
            width_multiplier: 1.0,
            dropout: 0.0,
            bn_momentum: 0.1,
            bn_eps: 1e-5,
        }
    }
}

impl XceptionConfig {
    /// SPSL as the paper describes it: RGB + phase input (4 channels), shallow
    /// Xception (no middle flow), 2-way head.
    pub fn spsl() -> Self {
        Self {
            in_channels: 4,
            middle_blocks: 0,
            ..Self::default()
        }
    }

    /// SPSL as DeepfakeBench benchmarked it: 4 channels, full Xception
    /// (`mode: original`).
    pub fn spsl_deepfakebench() -> Self {
        Self {
            in_channels: 4,
            ..Self::default()
        }
    }

    /// timm's `xception`: RGB, 1000 ImageNet classes (22,855,952 parameters).
    pub fn imagenet() -> Self {
        Self {
            num_classes: 1000,
            ..Self::default()
        }
    }

    /// A small network for tests: widths ÷ 16, two middle blocks, RGB, 2 classes.
    pub fn tiny() -> Self {
        Self {
            width_multiplier: 1.0 / 16.0,
            middle_blocks: 2,
            ..Self::default()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(Error::invalid("Xception: in_channels must be at least 1"));
        }
        if self.num_classes == 0 {
            return Err(Error::invalid("Xception: num_classes must be at least 1"));
        }
        if self.middle_blocks > FULL_MIDDLE_BLOCKS {
            return Err(Error::invalid(format!(
                "Xception has at most {FULL_MIDDLE_BLOCKS} middle blocks, got {}",
                self.middle_blocks
            )));
        }
        if !(self.width_multiplier > 0.0 && self.width_multiplier.is_finite()) {
            return Err(Error::invalid(format!(
                "Xception: width_multiplier must be positive, got {}",
                self.width_multiplier
            )));
        }
        check_rate("Xception dropout", self.dropout)?;
        check_bn(self.bn_momentum, self.bn_eps)
    }

    /// A width of the paper's network scaled by [`Self::width_multiplier`].
    pub fn width(&self, c: usize) -> usize {
        ((c as f64 * self.width_multiplier).round() as usize).max(1)
    }

    /// Taps of this configuration, in network order (see the module docs).
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        let mut v = Vec::new();
        let mut add = |name: String, c: usize, r: usize| {
            v.push(FeatureInfo {
                name,
                channels: self.width(c),
                reduction: r,
            })
        };
        add("b0".into(), 64, 2);
        add("b1".into(), 128, 4);
        add("b2".into(), 256, 8);
        add("b3".into(), 728, 16);
        for i in 0..self.middle_blocks {
            add(format!("b{}", 4 + i), 728, 16);
        }
        add("b12".into(), 1024, 32);
        add("final".into(), 2048, 32);
        v
    }
}

/// Smallest accepted input side: the network's output stride, where the exit
/// flow reaches 1×1. (The unpadded stem alone would accept 7 px.)
pub const MIN_INPUT_SIZE: usize = 32;

fn conv(vb: VarBuilder, c_in: usize, c_out: usize, k: usize, cfg: Conv2dConfig) -> Result<Conv2d> {
    let cg = c_in / cfg.groups;
    let weight = vb.get_with_hints((c_out, cg, k, k), "weight", he_fan_out(c_out * k * k))?;
    Conv2d::new(weight, None, cfg.params())
}

fn separable(vb: VarBuilder, c_in: usize, c_out: usize) -> Result<SeparableConv2d> {
    let depthwise = Conv2dConfig {
        padding: 1,
        groups: c_in,
        ..Default::default()
    };
    SeparableConv2d::new(
        conv(vb.pp("conv1"), c_in, c_in, 3, depthwise)?,
        conv(vb.pp("pointwise"), c_in, c_out, 1, Conv2dConfig::default())?,
    )
}

#[derive(Debug, Clone)]
struct Rep {
    relu: bool,
    sep: SeparableConv2d,
    bn: BatchNorm2d,
}

/// timm's `Block`: the `rep` sequence and the optional `skip`/`skipbn`.
#[derive(Debug, Clone)]
struct Block {
    reps: Vec<Rep>,
    skip: Option<(Conv2d, BatchNorm2d)>,
    stride: usize,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        reps: usize,
        stride: usize,
        start_with_relu: bool,
        grow_first: bool,
        cfg: &XceptionConfig,
    ) -> Result<Self> {
        let bn_cfg = BatchNormConfig {
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let bn = |vb: VarBuilder, c| batch_norm2d(c, bn_cfg, vb);
        let skip = if c_in != c_out || stride != 1 {
            Some((
                conv(
                    vb.pp("skip"),
                    c_in,
                    c_out,
                    1,
                    Conv2dConfig {
                        stride,
                        ..Default::default()
                    },
                )?,
                bn(vb.pp("skipbn"), c_out)?,
            ))
        } else {
            None
        };
        // timm's `rep` is [ReLU, SepConv, BN] × reps, without the first ReLU when
        // `start_with_relu` is false: the index of rep i's SepConv in the Sequential.
        let offset = usize::from(start_with_relu);
        let mut out = Vec::with_capacity(reps);
        for i in 0..reps {
            let (inc, outc) = if grow_first {
                (if i == 0 { c_in } else { c_out }, c_out)
            } else {
                (c_in, if i + 1 < reps { c_in } else { c_out })
            };
            let idx = 3 * i + offset;
            let rvb = vb.pp("rep");
            out.push(Rep {
                relu: start_with_relu || i > 0,
                sep: separable(rvb.pp(idx.to_string()), inc, outc)?,
                bn: bn(rvb.pp((idx + 1).to_string()), outc)?,
            });
        }
        Ok(Self {
            reps: out,
            skip,
            stride,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for r in &self.reps {
            if r.relu {
                h = relu(&h)?;
            }
            h = r
                .sep
                .forward_bn_act(&r.bn, &h, train, Activation::Identity)?;
        }
        if self.stride != 1 {
            h = max_pool2d(&h, Pool2dParams::new(3, self.stride, 1))?;
        }
        let s = match &self.skip {
            Some((c, bn)) => c.forward_bn_act(bn, x, train, Activation::Identity)?,
            None => x.clone(),
        };
        Ok((h + s)?)
    }

    fn bns_mut(&mut self) -> impl Iterator<Item = &mut BatchNorm2d> {
        self.reps
            .iter_mut()
            .map(|r| &mut r.bn)
            .chain(self.skip.iter_mut().map(|(_, bn)| bn))
    }
}

/// The Xception network (see the module docs).
#[derive(Debug, Clone)]
pub struct Xception {
    cfg: XceptionConfig,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    /// `(tap name, block)`: block1 … block3, the kept middle blocks, block12.
    blocks: Vec<(String, Block)>,
    conv3: SeparableConv2d,
    bn3: BatchNorm2d,
    conv4: SeparableConv2d,
    bn4: BatchNorm2d,
    fc: Linear,
    dtype: DType,
    rng: SharedRng,
}

impl Xception {
    /// Builds the network, creating its variables in `vb` under timm's names
    /// (use `candor_core::init::seeded_var_builder` for reproducible weights).
    /// Dropout masks come from a generator seeded with 0 (see [`Self::reseed`]).
    pub fn new(vb: VarBuilder, cfg: &XceptionConfig) -> Result<Self> {
        cfg.validate()?;
        let w = |c| cfg.width(c);
        let bn_cfg = BatchNormConfig {
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let bn = |vb: VarBuilder, c| batch_norm2d(c, bn_cfg, vb);
        let conv1 = conv(
            vb.pp("conv1"),
            cfg.in_channels,
            w(32),
            3,
            Conv2dConfig {
                stride: 2,
                ..Default::default()
            },
        )?;
        let bn1 = bn(vb.pp("bn1"), w(32))?;
        let conv2 = conv(vb.pp("conv2"), w(32), w(64), 3, Conv2dConfig::default())?;
        let bn2 = bn(vb.pp("bn2"), w(64))?;
        let mut blocks = Vec::new();
        let entry = [(64, 128, false), (128, 256, true), (256, 728, true)];
        for (i, (ci, co, start_relu)) in entry.into_iter().enumerate() {
            let b = Block::new(
                vb.pp(format!("block{}", i + 1)),
                w(ci),
                w(co),
                2,
                2,
                start_relu,
                true,
                cfg,
            )?;
            blocks.push((format!("b{}", i + 1), b));
        }
        for i in 0..cfg.middle_blocks {
            let n = 4 + i;
            let b = Block::new(
                vb.pp(format!("block{n}")),
                w(728),
                w(728),
                3,
                1,
                true,
                true,
                cfg,
            )?;
            blocks.push((format!("b{n}"), b));
        }
        let b12 = Block::new(vb.pp("block12"), w(728), w(1024), 2, 2, true, false, cfg)?;
        blocks.push(("b12".into(), b12));
        let conv3 = separable(vb.pp("conv3"), w(1024), w(1536))?;
        let bn3 = bn(vb.pp("bn3"), w(1536))?;
        let conv4 = separable(vb.pp("conv4"), w(1536), w(2048))?;
        let bn4 = bn(vb.pp("bn4"), w(2048))?;
        let fc = linear(w(2048), cfg.num_classes, vb.pp("fc"))?;
        Ok(Self {
            cfg: cfg.clone(),
            dtype: conv1.weight().dtype(),
            conv1,
            bn1,
            conv2,
            bn2,
            blocks,
            conv3,
            bn3,
            conv4,
            bn4,
            fc,
            rng: shared_rng(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &XceptionConfig {
        &self.cfg
    }

    /// Taps of this network, in the order [`Self::forward_features_t`] returns them.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        self.cfg.feature_info()
    }

    /// Channels of `final` (the classifier's input).
    pub fn num_features(&self) -> usize {
        self.cfg.width(2048)
    }

    /// Restarts the dropout generator from `seed` (clones share one generator).
    pub fn reseed(&self, seed: u64) {
        *lock(&self.rng) = candor_core::SeededRng::new(seed);
    }

    /// Sets the momentum of every BatchNorm (PyTorch convention).
    pub fn set_bn_momentum(&mut self, momentum: f64) {
        let Self {
            bn1,
            bn2,
            blocks,
            bn3,
            bn4,
            ..
        } = self;
        let all = [bn1, bn2, bn3, bn4]
            .into_iter()
            .chain(blocks.iter_mut().flat_map(|(_, b)| b.bns_mut()));
        for bn in all {
            bn.set_momentum(momentum);
        }
    }

    /// Checks that `x` is a batch this network accepts: `(N, in_channels, H, W)`,
    /// `N ≥ 1`, `H, W ≥ 32`, the weights' dtype.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        check_input(
            "Xception",
            x,
            self.cfg.in_channels,
            MIN_INPUT_SIZE,
            self.dtype,
        )
    }

    /// All feature taps (`b0`, `b1`, …, `b12`, `final`; see the module docs).
    /// `train` selects batch statistics (and running-average updates) in every
    /// BatchNorm; training mode needs more than one value per channel at every
    /// layer (a batch of at least 2 at small input sizes).
    pub fn forward_features_t(&self, x: &Tensor, train: bool) -> Result<FeatureMaps> {
        self.check_input(x)?;
        let mut taps = FeatureMaps::with_capacity(self.blocks.len() + 2);
        let h = self
            .conv1
            .forward_bn_act(&self.bn1, x, train, Activation::Relu)?;
        let b0 = self
            .conv2
            .forward_bn_act(&self.bn2, &h, train, Activation::Identity)?;
        taps.push("b0", b0.clone());
        let mut h = relu(&b0)?;
        for (name, block) in &self.blocks {
            h = block.forward(&h, train)?;
            taps.push(name.clone(), h.clone());
        }
        let h = self
            .conv3
            .forward_bn_act(&self.bn3, &h, train, Activation::Relu)?;
        let fin = self
            .conv4
            .forward_bn_act(&self.bn4, &h, train, Activation::Identity)?;
        taps.push("final", fin);
        Ok(taps)
    }

    /// The classifier head on `final`: ReLU → global average pool → dropout
    /// (training mode only) → `fc`. Returns `(N, num_classes)` logits.
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        let pooled = self.pool(features)?;
        let pooled = if train && self.cfg.dropout > 0.0 {
            dropout(&pooled, self.cfg.dropout, &mut lock(&self.rng))?
        } else {
            pooled
        };
        Ok(self.fc.forward(&pooled)?)
    }

    /// ReLU → global average pool of `final`: the `(N, 2048·width)` embedding.
    pub fn pool(&self, features: &Tensor) -> Result<Tensor> {
        let h = adaptive_avg_pool2d(&relu(features)?, 1, 1)?;
        Ok(h.flatten_from(1)?)
    }

    /// Logits `(N, num_classes)`. `train`: BatchNorm batch statistics and dropout.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let taps = self.forward_features_t(x, train)?;
        self.forward_head(taps.last(), train)
    }
}
