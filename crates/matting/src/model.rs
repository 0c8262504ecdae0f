//! The matting network: RGB (+ the click map U) → a shared residual U-Net encoder →
//! an alpha decoder (α_p = sigmoid) and an uncertainty decoder (σ_p = softplus + ε, the
//! scale of the Laplace likelihood of α), and the small refinement network of the
//! uncertainty-guided local refinement.
//!
//! The paper's backbone and widths are not known (card: \[unverified\]); offline, with no
//! ImageNet weights, this is a small residual U-Net trained from scratch, sized by
//! [`NetConfig::widths`]: a 3×3 stem at full resolution, then one residual block
//! (two 3×3 convolutions with GroupNorm, a 1×1 projection shortcut) per stride-2 level.
//! Each decoder upsamples bilinearly ×2 (core's op, with backward), applies a 3×3
//! convolution, adds the encoder's skip of that level and applies a second 3×3
//! convolution; a 3×3 head gives one channel. The two decoders have the same shape and
//! separate weights (`alpha_decoder.*`, `sigma_decoder.*`), so stage 2 trains the σ
//! decoder on the frozen (detached) encoder features.
//!
//! The no-click baseline is the same network with `clicks = false`: three input
//! channels, otherwise identical.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use candor_core::nn::{conv2d, group_norm, Conv2d, Conv2dConfig, GroupNorm};
use candor_core::ops;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Shape of the matting network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Whether the click map is a fourth input channel (false: the trimap-free baseline).
    pub clicks: bool,
    /// Channels of the stem and of each stride-2 level ([`NetConfig::default`]:
    /// 16, 32, 64, 128; the input side must be divisible by 2^(levels − 1)).
    pub widths: Vec<usize>,
    /// GroupNorm groups (each width must be divisible by it).
    pub groups: usize,
    /// σ = softplus(z) + `sigma_eps`.
    pub sigma_eps: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            clicks: true,
            widths: vec![16, 32, 64, 128],
            groups: 4,
            sigma_eps: 1e-3,
        }
    }
}

impl NetConfig {
    /// The quick-scale network: widths 8, 16, 32, 64 (a training step at 128², batch 8,
    /// costs about 0.5 CPU-seconds, against 1.2 for the default widths).
    pub fn small() -> Self {
        NetConfig {
            widths: vec![8, 16, 32, 64],
            ..Default::default()
        }
    }

    /// A tiny network for tests (widths 4, 8, 8).
    pub fn tiny() -> Self {
        NetConfig {
            widths: vec![4, 8, 8],
            groups: 2,
            ..Default::default()
        }
    }

    /// Input channels (4 with clicks, 3 without).
    pub fn in_channels(&self) -> usize {
        if self.clicks {
            4
        } else {
            3
        }
    }

    /// The input side must be a multiple of this.
    pub fn side_multiple(&self) -> usize {
        1 << (self.widths.len().saturating_sub(1))
    }

    /// Errors on an empty width list, a width not divisible by the groups, or a
    /// non-positive ε.
    pub fn validate(&self) -> Result<()> {
        if self.widths.len() < 2 || self.groups == 0 {
            return Err(Error::invalid(format!(
                "matting net: need at least two widths and one group, got {:?} / {}",
                self.widths, self.groups
            )));
        }
        if let Some(w) = self
            .widths
            .iter()
            .find(|&&w| w == 0 || w % self.groups != 0)
        {
            return Err(Error::invalid(format!(
                "matting net: width {w} is not a positive multiple of {} groups",
                self.groups
            )));
        }
        if !(self.sigma_eps.is_finite() && self.sigma_eps > 0.0) {
            return Err(Error::invalid(format!(
                "matting net: sigma_eps must be positive, got {}",
                self.sigma_eps
            )));
        }
        Ok(())
    }
}

fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    conv2d(
        c_in,
        c_out,
        k,
        Conv2dConfig {
            padding: k / 2,
            stride,
            ..Default::default()
        },
        vb,
    )
}

/// Conv → GroupNorm (→ ReLU).
#[derive(Debug, Clone)]
struct ConvNorm {
    conv: Conv2d,
    norm: GroupNorm,
}

impl ConvNorm {
    fn new(
        c_in: usize,
        c_out: usize,
        stride: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(ConvNorm {
            conv: conv(c_in, c_out, 3, stride, vb.pp("conv"))?,
            norm: group_norm(groups, c_out, 1e-5, vb.pp("norm"))?,
        })
    }

    fn forward(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let act = if relu {
            ops::Activation::Relu
        } else {
            ops::Activation::Identity
        };
        // GroupNorm and ReLU fused into one op (the same values and gradients).
        self.norm.forward_act(&self.conv.forward(x)?, act)
    }
}

/// A residual block: ReLU(GN(conv(ReLU(GN(conv_s(x))))) + proj(x)).
#[derive(Debug, Clone)]
struct ResBlock {
    a: ConvNorm,
    b: ConvNorm,
    proj: Option<Conv2d>,
}

impl ResBlock {
    fn new(
        c_in: usize,
        c_out: usize,
        stride: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let proj = if stride != 1 || c_in != c_out {
            Some(conv(c_in, c_out, 1, stride, vb.pp("proj"))?)
        } else {
            None
        };
        Ok(ResBlock {
            a: ConvNorm::new(c_in, c_out, stride, groups, vb.pp("a"))?,
            b: ConvNorm::new(c_out, c_out, 1, groups, vb.pp("b"))?,
            proj,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.b.forward(&self.a.forward(x, true)?, false)?;
        let s = match &self.proj {
            Some(p) => p.forward(x)?,
            None => x.clone(),
        };
        ops::relu(&(y + s)?)
    }
}

/// The shared encoder: multi-scale features, finest first.
#[derive(Debug, Clone)]
struct Encoder {
    stem: ConvNorm,
    blocks: Vec<ResBlock>,
}

impl Encoder {
    fn new(cfg: &NetConfig, vb: VarBuilder) -> Result<Self> {
        let w = &cfg.widths;
        let stem = ConvNorm::new(cfg.in_channels(), w[0], 1, cfg.groups, vb.pp("stem"))?;
        let blocks = (1..w.len())
            .map(|i| ResBlock::new(w[i - 1], w[i], 2, cfg.groups, vb.pp(format!("block{i}"))))
            .collect::<Result<_>>()?;
        Ok(Encoder { stem, blocks })
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut feats = vec![self.stem.forward(x, true)?];
        for b in &self.blocks {
            let next = b.forward(feats.last().expect("stem"))?;
            feats.push(next);
        }
        Ok(feats)
    }
}

/// A U-Net decoder with one output channel (raw, before sigmoid/softplus).
#[derive(Debug, Clone)]
struct Decoder {
    /// Per level, coarsest first: (after-upsample conv, after-skip conv).
    ups: Vec<(ConvNorm, ConvNorm)>,
    head: Conv2d,
}

impl Decoder {
    fn new(cfg: &NetConfig, vb: VarBuilder) -> Result<Self> {
        let w = &cfg.widths;
        let ups = (0..w.len() - 1)
            .rev()
            .map(|i| {
                let v = vb.pp(format!("up{i}"));
                Ok((
                    ConvNorm::new(w[i + 1], w[i], 1, cfg.groups, v.pp("reduce"))?,
                    ConvNorm::new(w[i], w[i], 1, cfg.groups, v.pp("fuse"))?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Decoder {
            ups,
            head: conv(w[0], 1, 3, 1, vb.pp("head"))?,
        })
    }

    fn forward(&self, feats: &[Tensor]) -> Result<Tensor> {
        let mut d = feats.last().expect("features").clone();
        for (k, (reduce, fuse)) in self.ups.iter().enumerate() {
            let skip = &feats[feats.len() - 2 - k];
            let (_, _, h, w) = skip.dims4()?;
            let up = ops::upsample_bilinear2d(&d, h, w, false)?;
            let r = reduce.forward(&up, true)?;
            d = fuse.forward(&(r + skip)?, true)?;
        }
        Ok(self.head.forward(&d)?)
    }
}

/// What one forward pass gives.
#[derive(Debug, Clone)]
pub struct MattingOutput {
    /// α_p in (0, 1), `(B, 1, H, W)`.
    pub alpha: Tensor,
    /// σ_p > 0, `(B, 1, H, W)` (only when asked for).
    pub sigma: Option<Tensor>,
}

/// The matting network (encoder, alpha decoder, uncertainty decoder).
#[derive(Debug, Clone)]
pub struct MattingNet {
    cfg: NetConfig,
    encoder: Encoder,
    alpha_decoder: Decoder,
    sigma_decoder: Decoder,
}

/// Variable-name prefix of the uncertainty decoder (trained alone in stage 2).
pub const SIGMA_PREFIX: &str = "sigma_decoder.";

impl MattingNet {
    /// Create the network's variables in `vb`.
    pub fn new(cfg: &NetConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        Ok(MattingNet {
            cfg: cfg.clone(),
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            alpha_decoder: Decoder::new(cfg, vb.pp("alpha_decoder"))?,
            sigma_decoder: Decoder::new(cfg, vb.pp("sigma_decoder"))?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Check the input: `(B, C, H, W)` with C = [`NetConfig::in_channels`] and sides
    /// divisible by [`NetConfig::side_multiple`].
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let dims = x.dims();
        let m = self.cfg.side_multiple();
        if dims.len() != 4
            || dims[1] != self.cfg.in_channels()
            || !dims[2].is_multiple_of(m)
            || !dims[3].is_multiple_of(m)
            || dims[2] == 0
            || dims[3] == 0
        {
            return Err(Error::invalid(format!(
                "matting net: input must be (B, {}, H, W) with H and W positive multiples of {m}, got {dims:?}",
                self.cfg.in_channels()
            )));
        }
        Ok(())
    }

    /// α_p and (if `with_sigma`) σ_p. With `freeze_encoder` the encoder's features are
    /// detached (stage 2: only the σ decoder receives gradients).
    pub fn forward(
        &self,
        x: &Tensor,
        with_sigma: bool,
        freeze_encoder: bool,
    ) -> Result<MattingOutput> {
        self.check_input(x)?;
        let mut feats = self.encoder.forward(x)?;
        if freeze_encoder {
            feats = feats.iter().map(Tensor::detach).collect();
        }
        let alpha = ops::sigmoid(&self.alpha_decoder.forward(&feats)?)?;
        let sigma = if with_sigma {
            let z = self.sigma_decoder.forward(&feats)?;
            Some((ops::softplus(&z)? + self.cfg.sigma_eps)?)
        } else {
            None
        };
        Ok(MattingOutput { alpha, sigma })
    }
}

/// Shape of the refinement network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefineConfig {
    /// Hidden channels.
    pub width: usize,
    /// Number of hidden 3×3 convolutions.
    pub depth: usize,
    /// GroupNorm groups.
    pub groups: usize,
}

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            width: 32,
            depth: 3,
            groups: 4,
        }
    }
}

/// The refinement network: a patch of the image and of the coarse alpha (4 channels)
/// → a few 3×3 convolutions → a residual Δ added to the coarse alpha's logit, so an
/// untrained net (Δ ≈ 0 is not guaranteed, but the identity is one step away) starts
/// near the coarse prediction: α_ref = sigmoid(logit(α_c) + Δ).
#[derive(Debug, Clone)]
pub struct RefineNet {
    layers: Vec<ConvNorm>,
    head: Conv2d,
}

impl RefineNet {
    /// Create the variables in `vb`.
    pub fn new(cfg: &RefineConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.width == 0
            || cfg.depth == 0
            || cfg.groups == 0
            || !cfg.width.is_multiple_of(cfg.groups)
        {
            return Err(Error::invalid(format!(
                "refinement net: width {} must be a positive multiple of {} groups, depth {} ≥ 1",
                cfg.width, cfg.groups, cfg.depth
            )));
        }
        let layers = (0..cfg.depth)
            .map(|i| {
                let c_in = if i == 0 { 4 } else { cfg.width };
                ConvNorm::new(c_in, cfg.width, 1, cfg.groups, vb.pp(format!("layer{i}")))
            })
            .collect::<Result<_>>()?;
        Ok(RefineNet {
            layers,
            head: conv(cfg.width, 1, 3, 1, vb.pp("head"))?,
        })
    }

    /// `rgb`: `(P, 3, k, k)`, `coarse`: `(P, 1, k, k)` in [0, 1] → refined `(P, 1, k, k)`.
    pub fn forward(&self, rgb: &Tensor, coarse: &Tensor) -> Result<Tensor> {
        let (p, c, h, w) = rgb.dims4()?;
        if c != 3 || coarse.dims() != [p, 1, h, w] {
            return Err(Error::invalid(format!(
                "refinement net: expected (P, 3, k, k) and (P, 1, k, k), got {:?} and {:?}",
                rgb.dims(),
                coarse.dims()
            )));
        }
        let mut x = Tensor::cat(&[rgb, coarse], 1)?;
        for l in &self.layers {
            x = l.forward(&x, true)?;
        }
        let delta = self.head.forward(&x)?;
        let c = coarse.clamp(1e-4, 1.0 - 1e-4)?;
        let logit = (c.log()? - (1.0 - &c)?.log()?)?;
        ops::sigmoid(&(logit + delta)?)
    }
}

/// Stack images `(3, H, W)` and click maps into the network input `(B, C, H, W)`.
pub fn network_input(images: &[Tensor], click_maps: Option<&[Tensor]>) -> Result<Tensor> {
    let xs: Vec<Tensor> = match click_maps {
        Some(maps) => {
            if maps.len() != images.len() {
                return Err(Error::invalid(format!(
                    "network input: {} images but {} click maps",
                    images.len(),
                    maps.len()
                )));
            }
            images
                .iter()
                .zip(maps)
                .map(|(i, m)| Ok(Tensor::cat(&[i, m], 0)?))
                .collect::<Result<_>>()?
        }
        None => images.to_vec(),
    };
    Ok(Tensor::stack(&xs, 0)?)
}
