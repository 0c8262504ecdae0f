//! The networks of the deep scheme and of the surrogate attack, on candor-core's layers
//! (`candor_core::nn`: convolutions, transposed convolutions, batch and instance norm,
//! activations — all with backward), with the official code's structure and
//! initialisation (conv weights ~ N(0, 0.02), BatchNorm weight ~ N(1, 0.02), bias 0).
//!
//! | network | official code | here |
//! |---|---|---|
//! | H, [`Unet`] | pix2pix `UnetGenerator`, `num_downs` 7, ngf 64, BatchNorm, no dropout, sigmoid output B′ | same; channel multipliers `min(2^i, 8)` also for `num_downs < 5` |
//! | R, [`Extractor`] | `HidingRes`: 3 convs (the third stride 2), 9 dilated residual blocks, ConvTranspose 4×4/2, conv, 1×1 conv, ReLU output; affine InstanceNorm, convs without bias | same |
//! | D, [`Discriminator`] | conv3×3/2 blocks 64–512, LeakyReLU 0.2, non-affine InstanceNorm after the first, conv3×3 → 1 patch map | same |
//! | surrogate, [`Surrogate`] | DeblurGAN `ResnetGenerator` (7×7 conv, two stride-2 convs, n residual blocks, two transposed convs, 7×7 conv, tanh, `learn_residual`), `unet_256` | zero padding instead of reflection padding; a plain CNN for the paper's CNet, which the code lacks |
//! | surrogate's adversary | DeblurGAN `NLayerDiscriminator` | the [`Discriminator`] above (vanilla GAN loss on its patch logits) |
//! | perceptual features, [`RandomFeatures`] | VGG19 to conv3_3 (ImageNet weights) | a fixed, seeded random-weight conv net (ImageNet weights are not available offline) |
//!
//! Images are `(N, C, H, W)` in `[0, 1]`. Every network is built in a `VarBuilder`
//! (seeded: [`candor_core::init::seeded_var_builder`]) under PyTorch-like names, so a
//! `VarMap` saved with `candor_core::checkpoint::save_varmap` reloads into a network of
//! the same configuration.

use candle_core::{ModuleT, Tensor, D};
use candle_nn::{Init, VarBuilder};
use candor_core::nn::{
    BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig,
    InstanceNorm2d,
};
use candor_core::ops::{self, Activation};
use candor_core::{Error, Result};

use crate::config::{DiscriminatorConfig, EmbedderConfig, ExtractorConfig, SurrogateArch};

/// The official initialisation of conv weights, N(0, 0.02).
const W_INIT: Init = Init::Randn {
    mean: 0.0,
    stdev: 0.02,
};

fn conv(c_in: usize, c_out: usize, k: usize, cfg: Conv2dConfig, vb: VarBuilder) -> Result<Conv2d> {
    let w = vb.get_with_hints((c_out, c_in, k, k), "weight", W_INIT)?;
    let b = if cfg.bias {
        Some(vb.get_with_hints(c_out, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    Conv2d::new(w, b, cfg.params())
}

fn conv_t(
    c_in: usize,
    c_out: usize,
    k: usize,
    cfg: ConvTranspose2dConfig,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let w = vb.get_with_hints((c_in, c_out, k, k), "weight", W_INIT)?;
    let b = if cfg.bias {
        Some(vb.get_with_hints(c_out, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    ConvTranspose2d::new(w, b, cfg.params())
}

fn same(k: usize, stride: usize, dilation: usize, bias: bool) -> Conv2dConfig {
    Conv2dConfig {
        padding: dilation * (k - 1) / 2,
        stride,
        dilation,
        bias,
        ..Default::default()
    }
}

/// A normalisation layer of the networks here.
#[derive(Debug, Clone)]
pub enum Norm {
    /// BatchNorm (H), weight ~ N(1, 0.02).
    Batch(BatchNorm2d),
    /// InstanceNorm (R affine; D and the surrogates non-affine).
    Instance(InstanceNorm2d),
}

/// Which normalisation a [`Unet`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// BatchNorm2d (H, as the official code).
    Batch,
    /// Non-affine InstanceNorm2d (DeblurGAN's default for the surrogates).
    Instance,
}

impl Norm {
    fn batch(c: usize, vb: VarBuilder) -> Result<Self> {
        let w = vb.get_with_hints(
            c,
            "weight",
            Init::Randn {
                mean: 1.0,
                stdev: 0.02,
            },
        )?;
        let b = vb.get_with_hints(c, "bias", Init::Const(0.0))?;
        let rm = vb.get_with_hints(c, "running_mean", Init::Const(0.0))?;
        let rv = vb.get_with_hints(c, "running_var", Init::Const(1.0))?;
        Ok(Norm::Batch(BatchNorm2d::new(
            w,
            b,
            rm,
            rv,
            BatchNormConfig::default(),
        )?))
    }

    fn instance(c: usize, affine: bool, vb: VarBuilder) -> Result<Self> {
        let (w, b) = if affine {
            (
                Some(vb.get_with_hints(c, "weight", Init::Const(1.0))?),
                Some(vb.get_with_hints(c, "bias", Init::Const(0.0))?),
            )
        } else {
            (None, None)
        };
        Ok(Norm::Instance(InstanceNorm2d::new(w, b, 1e-5)?))
    }

    fn new(kind: NormKind, c: usize, vb: VarBuilder) -> Result<Self> {
        match kind {
            NormKind::Batch => Self::batch(c, vb),
            NormKind::Instance => Self::instance(c, false, vb),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(match self {
            Norm::Batch(bn) => bn.forward_t(x, train)?,
            Norm::Instance(n) => candle_core::Module::forward(n, x)?,
        })
    }

    /// The layer followed by `act`; InstanceNorm fuses the two into one op (the same
    /// values and gradients, one graph node fewer).
    fn forward_act(&self, x: &Tensor, train: bool, act: Activation) -> Result<Tensor> {
        match self {
            Norm::Batch(bn) => act.apply(&bn.forward_t(x, train)?),
            Norm::Instance(n) => n.forward_act(x, act),
        }
    }
}

fn check_input(x: &Tensor, channels: usize, multiple: usize, what: &str) -> Result<()> {
    let (_, c, h, w) = x.dims4().map_err(|_| {
        Error::invalid(format!(
            "{what}: input must be (N, C, H, W), got {:?}",
            x.dims()
        ))
    })?;
    if c != channels {
        return Err(Error::invalid(format!(
            "{what}: expected {channels} input channels, got {c}"
        )));
    }
    if h == 0 || w == 0 || !h.is_multiple_of(multiple) || !w.is_multiple_of(multiple) {
        return Err(Error::invalid(format!(
            "{what}: image size {h}x{w} must be a positive multiple of {multiple}"
        )));
    }
    Ok(())
}

/// pix2pix's `UnetGenerator`: `num_downs` 4×4 stride-2 convolutions (LeakyReLU 0.2 before
/// each but the first, norm after each but the first and the innermost), ReLU + 4×4
/// stride-2 transposed convolutions back up (norm after each but the outermost), skip
/// connections by concatenation, and an output activation (sigmoid for H, tanh for the
/// residual U-Net surrogate). Level `i` has `ngf·min(2^i, 8)` channels. Convolutions
/// followed by BatchNorm have no bias (pix2pix's `use_bias`).
#[derive(Debug, Clone)]
pub struct Unet {
    downs: Vec<(Conv2d, Option<Norm>)>,
    ups: Vec<(ConvTranspose2d, Option<Norm>)>,
    in_channels: usize,
    output: Activation,
}

impl Unet {
    /// A U-Net from `in_c` to `out_c` channels.
    pub fn new(
        in_c: usize,
        out_c: usize,
        cfg: &EmbedderConfig,
        norm: NormKind,
        output: Activation,
        vb: VarBuilder,
    ) -> Result<Self> {
        let n = cfg.num_downs;
        if n == 0 || cfg.ngf == 0 || in_c == 0 || out_c == 0 {
            return Err(Error::invalid(
                "U-Net: num_downs, ngf and channels must be positive",
            ));
        }
        let bias = norm == NormKind::Instance;
        let ch = |i: usize| cfg.ngf * (1usize << i.min(3));
        let mut downs = Vec::with_capacity(n);
        let mut ups = Vec::with_capacity(n);
        let down_cfg = Conv2dConfig {
            padding: 1,
            stride: 2,
            bias,
            ..Default::default()
        };
        for i in 0..n {
            let c_in = if i == 0 { in_c } else { ch(i - 1) };
            let vbi = vb.pp(format!("down.{i}"));
            let c = conv(c_in, ch(i), 4, down_cfg, vbi.pp("conv"))?;
            let nrm = if i == 0 || i == n - 1 {
                None
            } else {
                Some(Norm::new(norm, ch(i), vbi.pp("norm"))?)
            };
            downs.push((c, nrm));
        }
        for i in 0..n {
            let vbi = vb.pp(format!("up.{i}"));
            // Input: the innermost down output, or the concatenation [x_{i+1}, u_{i+1}].
            let c_in = if i == n - 1 { ch(i) } else { 2 * ch(i) };
            let c_out = if i == 0 { out_c } else { ch(i - 1) };
            let up_cfg = ConvTranspose2dConfig {
                padding: 1,
                stride: 2,
                bias: bias || i == 0,
                ..Default::default()
            };
            let c = conv_t(c_in, c_out, 4, up_cfg, vbi.pp("conv"))?;
            let nrm = if i == 0 {
                None
            } else {
                Some(Norm::new(norm, c_out, vbi.pp("norm"))?)
            };
            ups.push((c, nrm));
        }
        Ok(Self {
            downs,
            ups,
            in_channels: in_c,
            output,
        })
    }

    /// The embedder H: concat(B, δ) (2C channels) → B′ (C channels), BatchNorm, sigmoid.
    pub fn embedder(channels: usize, cfg: &EmbedderConfig, vb: VarBuilder) -> Result<Self> {
        Self::new(
            2 * channels,
            channels,
            cfg,
            NormKind::Batch,
            Activation::Sigmoid,
            vb,
        )
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// The forward pass; `train` selects BatchNorm's batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let n = self.downs.len();
        check_input(x, self.in_channels, 1 << n, "U-Net")?;
        let mut skips: Vec<Tensor> = Vec::with_capacity(n);
        let mut h = x.clone();
        for (i, (c, nrm)) in self.downs.iter().enumerate() {
            skips.push(h.clone());
            let a = if i == 0 { h } else { ops::leaky_relu(&h, 0.2)? };
            let mut y = candle_core::Module::forward(c, &a)?;
            if let Some(nrm) = nrm {
                y = nrm.forward_t(&y, train)?;
            }
            h = y;
        }
        for i in (0..n).rev() {
            let (c, nrm) = &self.ups[i];
            let mut u = candle_core::Module::forward(c, &ops::relu(&h)?)?;
            if let Some(nrm) = nrm {
                u = nrm.forward_t(&u, train)?;
            }
            h = if i == 0 {
                u
            } else {
                Tensor::cat(&[&skips[i], &u], 1)?
            };
        }
        self.output.apply(&h)
    }

    /// H's forward: B′ = H(concat(B, δ)); `delta` is `(1, C, H, W)` (broadcast over the
    /// batch) or `(N, C, H, W)`.
    pub fn embed(&self, b: &Tensor, delta: &Tensor, train: bool) -> Result<Tensor> {
        let (n, c, h, w) = b.dims4().map_err(|_| {
            Error::invalid(format!("embed: B must be (N, C, H, W), got {:?}", b.dims()))
        })?;
        let d = delta.dims();
        if d.len() != 4 || d[1] != c || d[2] != h || d[3] != w || (d[0] != 1 && d[0] != n) {
            return Err(Error::invalid(format!(
                "embed: watermark {:?} does not match the images {:?}",
                d,
                b.dims()
            )));
        }
        let delta = delta.broadcast_as((n, c, h, w))?;
        self.forward_t(&Tensor::cat(&[b, &delta], 1)?, train)
    }
}

/// One residual block of R: conv(dilated) → IN → ReLU → conv(dilated) → IN, output
/// ReLU(x + y).
#[derive(Debug, Clone)]
struct ResBlock {
    c1: Conv2d,
    n1: Norm,
    c2: Conv2d,
    n2: Norm,
}

impl ResBlock {
    fn new(width: usize, dilation: usize, affine: bool, vb: VarBuilder) -> Result<Self> {
        let cfg = same(3, 1, dilation, false);
        Ok(Self {
            c1: conv(width, width, 3, cfg, vb.pp("conv1"))?,
            n1: Norm::instance(width, affine, vb.pp("norm1"))?,
            c2: conv(width, width, 3, cfg, vb.pp("conv2"))?,
            n2: Norm::instance(width, affine, vb.pp("norm2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.n1.forward_act(
            &candle_core::Module::forward(&self.c1, x)?,
            true,
            Activation::Relu,
        )?;
        let y = self
            .n2
            .forward_t(&candle_core::Module::forward(&self.c2, &y)?, true)?;
        ops::relu(&(x + y)?)
    }
}

/// The extractor R (`HidingRes`): conv3×3 → conv3×3 → conv3×3 stride 2 (each with
/// affine InstanceNorm and ReLU, no bias), dilated residual blocks, ConvTranspose 4×4
/// stride 2 → IN → ReLU, conv3×3 → IN → ReLU, 1×1 conv with a ReLU output.
#[derive(Debug, Clone)]
pub struct Extractor {
    head: Vec<(Conv2d, Norm)>,
    blocks: Vec<ResBlock>,
    up: ConvTranspose2d,
    up_norm: Norm,
    conv4: Conv2d,
    norm4: Norm,
    out: Conv2d,
    in_channels: usize,
}

impl Extractor {
    /// R from `in_c` to `out_c` channels.
    pub fn new(in_c: usize, out_c: usize, cfg: &ExtractorConfig, vb: VarBuilder) -> Result<Self> {
        let w = cfg.width;
        if w == 0 || in_c == 0 || out_c == 0 || cfg.dilations.contains(&0) {
            return Err(Error::invalid(
                "extractor: width, channels and dilations must be positive",
            ));
        }
        let mut head = Vec::new();
        for (i, (c_in, stride)) in [(in_c, 1), (w, 1), (w, 2)].into_iter().enumerate() {
            let vbi = vb.pp(format!("conv{}", i + 1));
            head.push((
                conv(c_in, w, 3, same(3, stride, 1, false), vbi.clone())?,
                Norm::instance(w, true, vb.pp(format!("norm{}", i + 1)))?,
            ));
        }
        let blocks = cfg
            .dilations
            .iter()
            .enumerate()
            .map(|(i, &d)| ResBlock::new(w, d, true, vb.pp(format!("res{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let up_cfg = ConvTranspose2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            head,
            blocks,
            up: conv_t(w, w, 4, up_cfg, vb.pp("deconv"))?,
            up_norm: Norm::instance(w, true, vb.pp("norm_deconv"))?,
            conv4: conv(w, w, 3, same(3, 1, 1, false), vb.pp("conv4"))?,
            norm4: Norm::instance(w, true, vb.pp("norm4"))?,
            out: conv(w, out_c, 1, Conv2dConfig::default(), vb.pp("out"))?,
            in_channels: in_c,
        })
    }

    /// δ′ = R(x) for `x` `(N, C, H, W)` with even H and W.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_input(x, self.in_channels, 2, "extractor")?;
        let mut h = x.clone();
        for (c, n) in &self.head {
            h = n.forward_act(
                &candle_core::Module::forward(c, &h)?,
                true,
                Activation::Relu,
            )?;
        }
        for b in &self.blocks {
            h = b.forward(&h)?;
        }
        h = candle_core::Module::forward(&self.up, &h)?;
        h = self.up_norm.forward_act(&h, true, Activation::Relu)?;
        h = candle_core::Module::forward(&self.conv4, &h)?;
        h = self.norm4.forward_act(&h, true, Activation::Relu)?;
        ops::relu(&candle_core::Module::forward(&self.out, &h)?)
    }
}

/// The discriminator D: conv3×3 stride 2 blocks (non-affine InstanceNorm on all but the
/// first, LeakyReLU 0.2) and a final conv3×3 to a one-channel patch map of logits /
/// scores (`H/2^k × W/2^k`).
#[derive(Debug, Clone)]
pub struct Discriminator {
    blocks: Vec<(Conv2d, Option<Norm>)>,
    last: Conv2d,
    in_channels: usize,
}

impl Discriminator {
    /// D on `in_c`-channel images.
    pub fn new(in_c: usize, cfg: &DiscriminatorConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.widths.is_empty() || cfg.widths.contains(&0) || in_c == 0 {
            return Err(Error::invalid(
                "discriminator: widths must be non-empty and positive",
            ));
        }
        let mut blocks = Vec::new();
        let mut c_in = in_c;
        for (i, &w) in cfg.widths.iter().enumerate() {
            let vbi = vb.pp(format!("block{i}"));
            let c = conv(c_in, w, 3, same(3, 2, 1, true), vbi.pp("conv"))?;
            let n = if i == 0 {
                None
            } else {
                Some(Norm::instance(w, false, vbi.pp("norm"))?)
            };
            blocks.push((c, n));
            c_in = w;
        }
        Ok(Self {
            blocks,
            last: conv(c_in, 1, 3, same(3, 1, 1, true), vb.pp("last"))?,
            in_channels: in_c,
        })
    }

    /// The patch map `(N, 1, H/2^k, W/2^k)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_input(x, self.in_channels, 1 << self.blocks.len(), "discriminator")?;
        let mut h = x.clone();
        for (c, n) in &self.blocks {
            h = candle_core::Module::forward(c, &h)?;
            h = match n {
                Some(n) => n.forward_act(&h, true, Activation::LeakyRelu(0.2))?,
                None => ops::leaky_relu(&h, 0.2)?,
            };
        }
        Ok(candle_core::Module::forward(&self.last, &h)?)
    }
}

/// A residual block of the DeblurGAN ResNet generator: conv3×3 → IN → ReLU → conv3×3
/// → IN, output x + y (no output activation).
#[derive(Debug, Clone)]
struct PlainResBlock(ResBlock);

impl PlainResBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = &self.0;
        let y = b.n1.forward_act(
            &candle_core::Module::forward(&b.c1, x)?,
            true,
            Activation::Relu,
        )?;
        let y =
            b.n2.forward_t(&candle_core::Module::forward(&b.c2, &y)?, true)?;
        Ok((x + y)?)
    }
}

#[derive(Debug, Clone)]
enum SurrogateNet {
    Resnet {
        head: Conv2d,
        head_norm: Norm,
        downs: Vec<(Conv2d, Norm)>,
        blocks: Vec<PlainResBlock>,
        ups: Vec<(ConvTranspose2d, Norm)>,
        tail: Conv2d,
    },
    Cnet(Vec<Conv2d>),
    Unet(Unet),
}

/// The attacker's surrogate generator A → B″ (DeblurGAN code base): ResNet with 6, 9
/// or 16 blocks, a U-Net, or a plain CNN standing in for the paper's CNet. Output =
/// tanh(G(A)) added to A when `learn_residual` (forced by `train.py`), else
/// (tanh(G(A)) + 1)/2; clamped to `[0, 1]`.
#[derive(Debug, Clone)]
pub struct Surrogate {
    net: SurrogateNet,
    arch: SurrogateArch,
    channels: usize,
    learn_residual: bool,
}

impl Surrogate {
    /// A surrogate of `arch` with base width `ngf` on `channels`-channel images.
    /// The U-Net uses `unet_downs` levels (the code's `unet_256` has 8; the image side
    /// must be divisible by 2^levels).
    pub fn new(
        arch: SurrogateArch,
        channels: usize,
        ngf: usize,
        unet_downs: usize,
        learn_residual: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        if ngf == 0 || channels == 0 {
            return Err(Error::invalid(
                "surrogate: ngf and channels must be positive",
            ));
        }
        let net = match arch {
            SurrogateArch::Resnet6 | SurrogateArch::Resnet9 | SurrogateArch::Resnet16 => {
                let n_blocks = match arch {
                    SurrogateArch::Resnet6 => 6,
                    SurrogateArch::Resnet9 => 9,
                    _ => 16,
                };
                let head = conv(channels, ngf, 7, same(7, 1, 1, true), vb.pp("head"))?;
                let head_norm = Norm::instance(ngf, false, vb.pp("head_norm"))?;
                let mut downs = Vec::new();
                for i in 0..2 {
                    let (ci, co) = (ngf << i, ngf << (i + 1));
                    downs.push((
                        conv(ci, co, 3, same(3, 2, 1, true), vb.pp(format!("down{i}")))?,
                        Norm::instance(co, false, vb.pp(format!("down_norm{i}")))?,
                    ));
                }
                let w = ngf * 4;
                let blocks = (0..n_blocks)
                    .map(|i| {
                        let cfg = same(3, 1, 1, true);
                        let vbi = vb.pp(format!("block{i}"));
                        Ok(PlainResBlock(ResBlock {
                            c1: conv(w, w, 3, cfg, vbi.pp("conv1"))?,
                            n1: Norm::instance(w, false, vbi.pp("norm1"))?,
                            c2: conv(w, w, 3, cfg, vbi.pp("conv2"))?,
                            n2: Norm::instance(w, false, vbi.pp("norm2"))?,
                        }))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut ups = Vec::new();
                for i in 0..2 {
                    let (ci, co) = (ngf << (2 - i), ngf << (1 - i));
                    let cfg = ConvTranspose2dConfig {
                        padding: 1,
                        output_padding: 1,
                        stride: 2,
                        ..Default::default()
                    };
                    ups.push((
                        conv_t(ci, co, 3, cfg, vb.pp(format!("up{i}")))?,
                        Norm::instance(co, false, vb.pp(format!("up_norm{i}")))?,
                    ));
                }
                let tail = conv(ngf, channels, 7, same(7, 1, 1, true), vb.pp("tail"))?;
                SurrogateNet::Resnet {
                    head,
                    head_norm,
                    downs,
                    blocks,
                    ups,
                    tail,
                }
            }
            SurrogateArch::CnetLike => {
                // Six 3×3 convolutions, 4·ngf wide, ReLU between them.
                let w = 4 * ngf;
                let mut layers = Vec::new();
                for i in 0..6 {
                    let ci = if i == 0 { channels } else { w };
                    let co = if i == 5 { channels } else { w };
                    layers.push(conv(
                        ci,
                        co,
                        3,
                        same(3, 1, 1, true),
                        vb.pp(format!("conv{i}")),
                    )?);
                }
                SurrogateNet::Cnet(layers)
            }
            SurrogateArch::Unet => SurrogateNet::Unet(Unet::new(
                channels,
                channels,
                &EmbedderConfig {
                    ngf,
                    num_downs: unet_downs,
                },
                NormKind::Instance,
                Activation::Identity,
                vb.pp("unet"),
            )?),
        };
        Ok(Self {
            net,
            arch,
            channels,
            learn_residual,
        })
    }

    /// The architecture.
    pub fn arch(&self) -> SurrogateArch {
        self.arch
    }

    /// B″ = surrogate(A), in `[0, 1]`.
    pub fn forward(&self, a: &Tensor) -> Result<Tensor> {
        let mult = match &self.net {
            SurrogateNet::Resnet { .. } => 4,
            SurrogateNet::Cnet(_) => 1,
            SurrogateNet::Unet(u) => 1 << u.downs.len(),
        };
        check_input(a, self.channels, mult, "surrogate")?;
        let g = match &self.net {
            SurrogateNet::Resnet {
                head,
                head_norm,
                downs,
                blocks,
                ups,
                tail,
            } => {
                let mut h = candle_core::Module::forward(head, a)?;
                h = head_norm.forward_act(&h, true, Activation::Relu)?;
                for (c, n) in downs {
                    h = n.forward_act(
                        &candle_core::Module::forward(c, &h)?,
                        true,
                        Activation::Relu,
                    )?;
                }
                for b in blocks {
                    h = b.forward(&h)?;
                }
                for (c, n) in ups {
                    h = n.forward_act(
                        &candle_core::Module::forward(c, &h)?,
                        true,
                        Activation::Relu,
                    )?;
                }
                candle_core::Module::forward(tail, &h)?
            }
            SurrogateNet::Cnet(layers) => {
                let mut h = a.clone();
                for (i, c) in layers.iter().enumerate() {
                    h = candle_core::Module::forward(c, &h)?;
                    if i + 1 < layers.len() {
                        h = ops::relu(&h)?;
                    }
                }
                h
            }
            SurrogateNet::Unet(u) => u.forward_t(a, true)?,
        };
        let g = ops::tanh(&g)?;
        let y = if self.learn_residual {
            (a + g)?
        } else {
            ((g + 1.0)? * 0.5)?
        };
        Ok(y.clamp(0f32, 1f32)?)
    }
}

/// A fixed random-feature conv net for the "perceptual" loss (ImageNet VGG weights are
/// not available offline): three 3×3 convolutions (widths 16, 32, 32; the second with
/// stride 2), ReLU, Kaiming-normal weights from a seed; never trained.
#[derive(Debug, Clone)]
pub struct RandomFeatures {
    layers: Vec<Conv2d>,
}

impl RandomFeatures {
    /// Features of `channels`-channel images, weights drawn from `seed`.
    pub fn new(channels: usize, seed: u64, device: &candle_core::Device) -> Result<Self> {
        let mut rng = candor_core::SeededRng::derive(seed, "watermark/random-features");
        let mut layers = Vec::new();
        for (ci, co, stride) in [(channels, 16, 1), (16, 32, 2), (32, 32, 1)] {
            let std = (2.0 / (ci * 9) as f64).sqrt();
            let w =
                rng.normal_tensor(0.0, std, &[co, ci, 3, 3], candle_core::DType::F32, device)?;
            let p = same(3, stride, 1, false).params();
            layers.push(Conv2d::new(w, None, p)?);
        }
        Ok(Self { layers })
    }

    /// Feature maps of `x` (`(N, 32, H/2, W/2)`).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for c in &self.layers {
            h = ops::relu(&candle_core::Module::forward(c, &h)?)?;
        }
        Ok(h)
    }
}

/// Mean squared error of two tensors of one shape.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.sqr()?.mean_all()?)
}

/// Mean absolute error of two tensors of one shape.
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.abs()?.mean_all()?)
}

/// MSE of `x` against the constant `target`.
pub fn mse_to(x: &Tensor, target: f64) -> Result<Tensor> {
    Ok((x - target)?.sqr()?.mean_all()?)
}

/// Vanilla GAN loss on logits: mean BCE-with-logits against the constant label
/// (softplus(x) − x·label, stable for any x).
pub fn bce_logits(x: &Tensor, label: f64) -> Result<Tensor> {
    let sp = ops::softplus(x)?;
    Ok((sp - (x * label)?)?.mean_all()?)
}

/// The mean over all but the batch dimension, per sample: `(N,)`.
pub fn per_sample_mean(x: &Tensor) -> Result<Tensor> {
    Ok(x.flatten_from(1)?.mean(D::Minus1)?)
}
