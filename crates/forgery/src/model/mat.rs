//! MAT: Multi-attentional Deepfake Detection (Zhao et al., CVPR 2021), as the
//! official code builds it (`yoctta/multiple-attention`, `models/MAT.py`,
//! `AGDA.py`, `train.py`, `config.py`), with DeepfakeBench's re-implementation
//! (`multi_attention_detector.py`, `region_independent_loss.py`) as a switch.
//! Card: `shared/papers/forgery-mat.md`.
//!
//! # Network
//!
//! An EfficientNet-B4 backbone (or any [`BackboneConfig`]) is tapped at three
//! places: a shallow stage (`feature_layer`, `b2`), a middle stage
//! (`attention_layer`, `b5`) and the last one (`final`).
//!
//! * **Attention module** (on `b5`, C channels): conv 3×3 (C→C, bias) → BN → ReLU →
//!   conv 1×1 (C→M, no bias) → BN → `ELU + 1` (strictly positive), times a fixed
//!   border mask (a 24×24 template, 1 on `[2:-2, 2:-2]`, nearest-resized).
//! * **Texture enhancement** on `b2` (N channels), two versions ([`TextureVersion`]):
//!   **v2** (official): conv 3×3 → `D` = adaptive average pool to the attention
//!   size → residual `F − nearest_up(D)` → one copy per head multiplied by
//!   `tanh(bilinear_up(A))` (A detached) → a dense block of grouped convolutions
//!   (groups = M; 5×5 then three 3×3, each on BN → ReLU of the per-head
//!   concatenation of all earlier outputs; 1×1 `4N·M → N·M`; BN → ReLU):
//!   `[B, M, N, H, W]`. **v1** (paper text, DeepfakeBench): no extraction conv, no
//!   modulation, an ungrouped dense block (1×1, three 3×3, 1×1 to 4N, BN): `[B, 4N, H, W]`.
//! * **Bilinear attention pooling** ([`bilinear_attention_pooling`]):
//!   `P[b,m,n] = Σ_hw A[b,m,h,w]·F[b,(m,)n,h,w]` with A bilinearly resized
//!   (align-corners) to the features; textural features L2-normalised per head
//!   ([`BapNorm::L2`]), the global `final` features pooled by the **sum** of the
//!   maps and divided by its area ([`BapNorm::Area`]).
//! * **Heads** (mid = 256): local `Linear(M·N → 256) → Hardswish → Linear → Hardswish`;
//!   global `Linear(C_final → 256) → Hardswish`; classifier on the concatenation
//!   `Linear(512 → 256) → Hardswish → Linear(256 → 2)`, cross-entropy.
//! * **Regularisation in training**: official: a Dropout2d-style mask of shape
//!   `[B, M, 1]` (p = 0.25) drops whole heads of P and of the maps that pool the
//!   global branch, and dropout 0.5 on the global feature; DeepfakeBench:
//!   element-wise dropout 0.25 on P only.
//!
//! # Losses
//!
//! * **Regional independence loss** ([`ril_official`], [`ril_deepfakebench`]) on
//!   `V = BAP(D̂, A)` (L2), with feature centres `c` (an `M×N` buffer,
//!   `auxiliary_loss.feature_centers`, initially 0) moved by EMA with rate α;
//!   α = 0.05 is multiplied by 0.9 every epoch of the MAT stage.
//! * **AGDA** ([`Agda`], soft mode): degrade the region of one attention map
//!   (drawn ∝ `√(ΣA + 1)`): `x' = x·(1 − A') + up(blur(down(x)) + noise)·A'`.
//! * Official total: `1·CE(x) + 0.5·RIL(x) + 1·CE(AGDA(x)) + 0.1·match`, where
//!   `match` is the mean over (sample, head) of `‖V(AGDA(x)) − V(x)‖` with the
//!   degraded head's entry zeroed; the AGDA pass also updates the centres.
//!   DeepfakeBench: `1·CE + 1·RIL` on the AGDA-replaced batch.
//!
//! # Where the references disagree (switch, default)
//!
//! | aspect | official code (default) | DeepfakeBench ([`MatConfig::deepfakebench`]) | switch |
//! |---|---|---|---|
//! | texture block | v2 (grouped, tanh(A)-modulated) | v1 | [`MatConfig::texture`] |
//! | RIL centres | reals only (sum ÷ whole batch), gradient through the new centres | all samples, detached | [`MatConfig::variant`] |
//! | RIL intra term | per sample, ‖·‖ over (M, N), signed margins [0.2, −0.8] (fakes pushed out) | per (sample, head), margins [0.05, 0.1] | [`RilConfig::intra_margin`] + variant |
//! | RIL inter margin | 0.8 (÷ M ÷ α) | 0.2 (÷ M ÷ α) | [`RilConfig::inter_margin`] |
//! | D before RIL | standardised per channel (unbiased std + 1e-8) | raw | variant |
//! | AGDA | second forward pass + match loss, maps of the first pass | replaces the batch, maps from a no-grad pass | variant, [`MatConfig::use_agda`] |
//! | dropout | head mask [B, M, 1] + 0.5 on the global feature | element-wise on P | variant |
//! | loss weights | CE 1, RIL 0.5, AGDA-CE 1, match 0.1 | CE 1, RIL 1 | [`LossWeights`] |
//! | backbone-only stage | 20 epochs, then a fresh optimiser (separate run) | first 10 of 50 epochs, same optimiser | [`MatConfig::pretrain_epochs`] |
//! | α decay | ×0.9 per epoch | ×0.9 per 3591 batches (= one of its FF++ epochs) | per MAT epoch here |
//!
//! The paper's own text (λ = 1/1, lr 1e-3, centres from all samples) is unverified
//! and not a separate preset. The backbone here carries timm's parameter names
//! (`net.blocks.…`), not efficientnet_pytorch's; the MAT modules carry the official
//! names (`attentions.conv_extract`, `texture_enhance.conv0`, `projection_local.0`,
//! `project_final`, `ensemble_classifier_fc.2`, `auxiliary_loss.feature_centers`).
//!
//! # Example
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::SeededRng;
//! use candor_forgery::model::{Detector, Mat, MatConfig};
//!
//! let vm = VarMap::new();
//! let vb = candor_core::init::seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! let mut mat = Mat::new(vb, &MatConfig::tiny()).unwrap();
//! let x = SeededRng::new(1).normal_tensor(0.0, 0.5, (2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
//! let y = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
//! // CE + RIL + AGDA pass + match loss, one scalar to back-propagate.
//! let step = mat.loss_step(&x, &y, &mut SeededRng::new(2)).unwrap();
//! assert_eq!(step.loss.rank(), 0);
//! let names: Vec<&str> = step.parts.iter().map(|(n, _)| n.as_str()).collect();
//! assert_eq!(names, ["ce", "ril", "agda_ce", "match"]);
//! // Four attention maps at the b5 tap (stride 16).
//! assert_eq!(mat.attention_maps(&x).unwrap().dims(), &[2, 4, 4, 4]);
//! assert_eq!(mat.scores(&x).unwrap().len(), 2);
//! ```

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::{Init, VarBuilder};
use candor_core::nn::{
    batch_norm2d, conv2d, linear, BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, Linear,
};
use candor_core::ops::{adaptive_avg_pool2d, relu, upsample_bilinear2d, Activation};
use candor_core::rng::dropout;
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use super::backbone::{Backbone, BackboneConfig};
use super::detector::{check_batch, cross_entropy, label_tensor, scalar, Detector, StepOutput};
use super::efficientnet::EfficientNetConfig;

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

/// Which implementation MAT follows where the references disagree (see the
/// module docs' table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatVariant {
    /// The official code (`yoctta/multiple-attention`).
    #[default]
    Official,
    /// DeepfakeBench's re-implementation.
    DeepfakeBench,
}

/// The texture-enhancement block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextureVersion {
    /// Official `Texture_Enhance_v2`: per-head grouped dense block, tanh(A)-modulated.
    #[default]
    V2,
    /// `Texture_Enhance_v1` (paper text, DeepfakeBench): ungrouped, 4N outputs.
    V1,
}

/// Regional-independence-loss settings. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RilConfig {
    /// Centre update rate α at the start of the MAT stage (0.05).
    pub alpha: f64,
    /// α is multiplied by this after every MAT epoch (0.9).
    pub alpha_decay: f64,
    /// Inter-head margin between centres (official 0.8; DeepfakeBench 0.2).
    pub inter_margin: f64,
    /// Intra margins for [real, fake] (official [0.2, −0.8]: a negative margin
    /// pushes fakes at least |m| away; DeepfakeBench [0.05, 0.1]).
    pub intra_margin: [f64; 2],
}

impl Default for RilConfig {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            alpha_decay: 0.9,
            inter_margin: 0.8,
            intra_margin: [0.2, -0.8],
        }
    }
}

/// AGDA settings (soft mode; official `config.py` values). Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgdaConfig {
    /// Gaussian blur kernel size (11; odd).
    pub kernel_size: usize,
    /// Gaussian blur σ (7).
    pub sigma: f64,
    /// Down-sampling factor before the blur (0.5).
    pub scale_factor: f64,
    /// Range of the soft-mask threshold θ, drawn once per batch ([0.4, 0.6]).
    pub threshold: [f64; 2],
    /// Range of the soft-mask steepness z, drawn once per batch ([3, 5]).
    pub zoom: [f64; 2],
    /// Standard deviation of the Gaussian noise added at low resolution, in the
    /// normalised `[−1, 1]` units (0.1).
    pub noise_rate: f64,
}

impl Default for AgdaConfig {
    fn default() -> Self {
        Self {
            kernel_size: 11,
            sigma: 7.0,
            scale_factor: 0.5,
            threshold: [0.4, 0.6],
            zoom: [3.0, 5.0],
            noise_rate: 0.1,
        }
    }
}

impl AgdaConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("AGDA: {m}")));
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) {
            return bad(format!(
                "kernel_size must be odd and positive, got {}",
                self.kernel_size
            ));
        }
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return bad(format!("sigma must be positive, got {}", self.sigma));
        }
        if !(self.scale_factor > 0.0 && self.scale_factor <= 1.0) {
            return bad(format!(
                "scale_factor must be in (0, 1], got {}",
                self.scale_factor
            ));
        }
        let [t0, t1] = self.threshold;
        if !(0.0 <= t0 && t0 <= t1 && t1 < 1.0) {
            return bad(format!(
                "threshold must satisfy 0 ≤ lo ≤ hi < 1, got {:?}",
                self.threshold
            ));
        }
        let [z0, z1] = self.zoom;
        if !(z0 > 0.0 && z0 <= z1 && z1.is_finite()) {
            return bad(format!(
                "zoom must satisfy 0 < lo ≤ hi, got {:?}",
                self.zoom
            ));
        }
        if !(self.noise_rate >= 0.0 && self.noise_rate.is_finite()) {
            return bad(format!("noise_rate must be ≥ 0, got {}", self.noise_rate));
        }
        Ok(())
    }
}

/// Loss weights (official `config.py`: 1, 0.5, 1, 0.1; DeepfakeBench: 1, 1, –, –).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossWeights {
    /// Cross-entropy of the ensemble classifier.
    pub ensemble: f64,
    /// Regional independence loss.
    pub aux: f64,
    /// Cross-entropy of the AGDA pass (official variant; 0 turns AGDA off as in
    /// the official code).
    pub agda: f64,
    /// Match loss between the two passes' `V` (official variant).
    pub matching: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            ensemble: 1.0,
            aux: 0.5,
            agda: 1.0,
            matching: 0.1,
        }
    }
}

/// MAT settings. [`Default`] is the official code's released experiment
/// (`aexp()`: EfficientNet-B4, attention on `b5`, texture on `b2`, M = 4,
/// margins [0.2, −0.8] / 0.8). Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatConfig {
    /// Official code or DeepfakeBench behaviour (see the module docs).
    pub variant: MatVariant,
    /// The backbone (3 input channels, 2-class head for the backbone-only stage).
    pub backbone: BackboneConfig,
    /// Tap feeding the attention module (`b5`).
    pub attention_layer: String,
    /// Tap feeding the texture-enhancement block (`b2`).
    pub feature_layer: String,
    /// Number of attention maps M (4).
    pub num_attentions: usize,
    /// Width of the projection heads (256).
    pub mid_dims: usize,
    /// Texture-enhancement block (official v2).
    pub texture: TextureVersion,
    /// Head dropout (official: whole heads, [B, M, 1]; DeepfakeBench: element-wise on P) (0.25).
    pub dropout_rate: f64,
    /// Dropout on the pooled global feature (official only) (0.5).
    pub drop_final_rate: f64,
    /// Regional independence loss.
    pub ril: RilConfig,
    /// Attention-guided data augmentation.
    pub agda: AgdaConfig,
    /// Use AGDA in training (the card asks for runs with and without it).
    pub use_agda: bool,
    /// Loss weights.
    pub weights: LossWeights,
    /// Epochs trained as a plain backbone classifier before MAT (official stage 1:
    /// 20, then a fresh optimiser; DeepfakeBench: 10, same optimiser).
    pub pretrain_epochs: usize,
}

impl Default for MatConfig {
    fn default() -> Self {
        Self::official()
    }
}

impl MatConfig {
    /// The backbone an ImageNet checkpoint initialises and its key prefix in this
    /// detector's variables (see [`Detector::pretrained_backbone`]).
    pub fn pretrained_backbone(&self) -> (BackboneConfig, &'static str) {
        (self.backbone.clone(), "net.")
    }

    /// The official code's settings (the default).
    pub fn official() -> Self {
        Self {
            variant: MatVariant::Official,
            backbone: BackboneConfig::EfficientNet(EfficientNetConfig::mat()),
            attention_layer: "b5".into(),
            feature_layer: "b2".into(),
            num_attentions: 4,
            mid_dims: 256,
            texture: TextureVersion::V2,
            dropout_rate: 0.25,
            drop_final_rate: 0.5,
            ril: RilConfig::default(),
            agda: AgdaConfig::default(),
            use_agda: true,
            weights: LossWeights::default(),
            pretrain_epochs: 20,
        }
    }

    /// DeepfakeBench's `multi_attention.yaml`.
    pub fn deepfakebench() -> Self {
        Self {
            variant: MatVariant::DeepfakeBench,
            texture: TextureVersion::V1,
            ril: RilConfig {
                alpha: 0.05,
                alpha_decay: 0.9,
                inter_margin: 0.2,
                intra_margin: [0.05, 0.1],
            },
            weights: LossWeights {
                ensemble: 1.0,
                aux: 1.0,
                agda: 0.0,
                matching: 0.0,
            },
            pretrain_epochs: 10,
            ..Self::official()
        }
    }

    /// A tiny official MAT for tests: [`EfficientNetConfig::tiny`], M = 4,
    /// mid 32, no backbone-only stage.
    pub fn tiny() -> Self {
        Self {
            backbone: BackboneConfig::EfficientNet(EfficientNetConfig::tiny()),
            mid_dims: 32,
            pretrain_epochs: 0,
            ..Self::official()
        }
    }

    /// [`MatConfig::tiny`] with DeepfakeBench's behaviour.
    pub fn tiny_deepfakebench() -> Self {
        Self {
            backbone: BackboneConfig::EfficientNet(EfficientNetConfig::tiny()),
            mid_dims: 32,
            pretrain_epochs: 0,
            ..Self::deepfakebench()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("MAT: {m}")));
        self.backbone.validate()?;
        if self.backbone.in_channels() != 3 {
            return bad(format!(
                "the backbone must take 3 channels, got {}",
                self.backbone.in_channels()
            ));
        }
        if self.backbone.num_classes() != 2 {
            return bad(format!(
                "the backbone head must have 2 classes, got {}",
                self.backbone.num_classes()
            ));
        }
        let taps = self.backbone.feature_info();
        for (what, name) in [
            ("attention_layer", &self.attention_layer),
            ("feature_layer", &self.feature_layer),
        ] {
            if !taps.iter().any(|t| &t.name == name) {
                let names: Vec<&str> = taps.iter().map(|t| t.name.as_str()).collect();
                return bad(format!(
                    "{what} {name:?} is not a tap of the backbone ({names:?})"
                ));
            }
        }
        if self.num_attentions == 0 {
            return bad("num_attentions must be at least 1".into());
        }
        if self.mid_dims == 0 {
            return bad("mid_dims must be at least 1".into());
        }
        for (n, v) in [
            ("dropout_rate", self.dropout_rate),
            ("drop_final_rate", self.drop_final_rate),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{n} must be in [0, 1), got {v}"));
            }
        }
        let r = &self.ril;
        if !(r.alpha > 0.0 && r.alpha.is_finite()) {
            return bad(format!("ril.alpha must be positive, got {}", r.alpha));
        }
        if !(r.alpha_decay > 0.0 && r.alpha_decay <= 1.0) {
            return bad(format!(
                "ril.alpha_decay must be in (0, 1], got {}",
                r.alpha_decay
            ));
        }
        if !r.inter_margin.is_finite() || r.intra_margin.iter().any(|m| !m.is_finite()) {
            return bad("RIL margins must be finite".into());
        }
        let w = &self.weights;
        for (n, v) in [
            ("ensemble", w.ensemble),
            ("aux", w.aux),
            ("agda", w.agda),
            ("matching", w.matching),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("weights.{n} must be ≥ 0, got {v}"));
            }
        }
        self.agda.validate()
    }

    fn tap_channels(&self, name: &str) -> usize {
        self.backbone
            .feature_info()
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.channels)
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------
// differentiable building blocks
// ---------------------------------------------------------------------------

/// Normalisation of [`bilinear_attention_pooling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BapNorm {
    /// The raw sums.
    None,
    /// Each head's row divided by its L2 norm (`F.normalize(p=2, dim=-1)`, norm
    /// floored at 1e-12): `norm=2`, the textural features.
    L2,
    /// Divided by the map's area `Σ(A + 1e-8)` after adding 1e-8 to A: `norm=1`,
    /// the global features.
    Area,
}

/// `max(‖x‖₂, 1e-12)` over `dims` (kept), with a gradient that stays finite at 0
/// (candle's `sqrt` would give `∞·0 = NaN` there; PyTorch's norm gives 0).
fn safe_norm(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let mut s = x.sqr()?;
    for &d in dims {
        s = s.sum_keepdim(d)?;
    }
    Ok(s.maximum(1e-24)?.sqrt()?)
}

/// Bilinear attention pooling: `P[b,m,n] = Σ_hw A[b,m,h,w]·F[b,n,h,w]` for
/// features `(B, N, H, W)`, or `Σ_hw A[b,m,h,w]·F[b,m,n,h,w]` for per-head
/// features `(B, M, N, H, W)`; attention maps `(B, M, h, w)` are first resized to
/// `H×W` (bilinear, align-corners) when the sizes differ. Returns `(B, M, N)`.
pub fn bilinear_attention_pooling(
    features: &Tensor,
    attentions: &Tensor,
    norm: BapNorm,
) -> Result<Tensor> {
    let (b, m, ah, aw) = attentions.dims4().map_err(|_| {
        Error::invalid(format!(
            "BAP: attention maps must be (B, M, h, w), got {:?}",
            attentions.dims()
        ))
    })?;
    let (fb, n, h, w, per_head) = match *features.dims() {
        [fb, n, h, w] => (fb, n, h, w, false),
        [fb, fm, n, h, w] if fm == m => (fb, n, h, w, true),
        _ => {
            return Err(Error::invalid(format!(
                "BAP: features must be (B, N, H, W) or (B, {m}, N, H, W), got {:?}",
                features.dims()
            )))
        }
    };
    if fb != b {
        return Err(Error::invalid(format!(
            "BAP: {fb} feature maps but {b} attention maps"
        )));
    }
    let mut a = if (ah, aw) != (h, w) {
        upsample_bilinear2d(attentions, h, w, true)?
    } else {
        attentions.clone()
    };
    if norm == BapNorm::Area {
        a = (a + 1e-8)?;
    }
    let p = if per_head {
        let f = features.reshape((b * m, n, h * w))?;
        let av = a.reshape((b * m, h * w, 1))?;
        f.matmul(&av)?.reshape((b, m, n))?
    } else {
        let av = a.reshape((b, m, h * w))?;
        let f = features
            .reshape((b, n, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        av.matmul(&f)?
    };
    Ok(match norm {
        BapNorm::None => p,
        BapNorm::L2 => p.broadcast_div(&safe_norm(&p, &[2])?)?,
        BapNorm::Area => {
            let area = a.sum_keepdim(3)?.sum_keepdim(2)?.reshape((b, m, 1))?;
            p.broadcast_div(&area)?
        }
    })
}

/// Nearest-neighbour resize of `(B, C, h, w)` to `(B, C, H, W)` with PyTorch's
/// `mode='nearest'` index rule `⌊i·h/H⌋`, differentiable (`index_select`).
fn resize_nearest(x: &Tensor, oh: usize, ow: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let idx = |n_in: usize, n_out: usize| -> Result<Tensor> {
        let v: Vec<u32> = (0..n_out)
            .map(|i| ((i * n_in) / n_out).min(n_in - 1) as u32)
            .collect();
        Ok(Tensor::from_vec(v, n_out, x.device())?)
    };
    let y = if oh != h {
        x.index_select(&idx(h, oh)?, 2)?
    } else {
        x.clone()
    };
    Ok(if ow != w {
        y.index_select(&idx(w, ow)?, 3)?
    } else {
        y
    })
}

/// The attention module's fixed border mask: a 24×24 template, 1 on `[2:-2, 2:-2]`,
/// nearest-resized to `h×w`; shape `(1, 1, h, w)`.
pub fn border_mask(h: usize, w: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let inside = |i: usize, n: usize| {
        let t = (i * 24) / n;
        (2..22).contains(&t)
    };
    let v: Vec<f32> = (0..h)
        .flat_map(|i| (0..w).map(move |j| (i, j)))
        .map(|(i, j)| f32::from(u8::from(inside(i, h) && inside(j, w))))
        .collect();
    Ok(Tensor::from_vec(v, (1, 1, h, w), device)?.to_dtype(dtype)?)
}

fn hardswish(x: &Tensor) -> Result<Tensor> {
    Ok((x * candle_nn::ops::hard_sigmoid(x)?)?)
}

fn conv(
    vb: VarBuilder,
    c_in: usize,
    c_out: usize,
    k: usize,
    groups: usize,
    bias: bool,
) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: k / 2,
        groups,
        bias,
        ..Default::default()
    };
    conv2d(c_in, c_out, k, cfg, vb)
}

/// `AttentionMap` of the official code.
#[derive(Debug, Clone)]
struct AttentionMap {
    conv_extract: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
}

impl AttentionMap {
    fn new(vb: VarBuilder, c: usize, m: usize) -> Result<Self> {
        Ok(Self {
            conv_extract: conv(vb.pp("conv_extract"), c, c, 3, 1, true)?,
            bn1: batch_norm2d(c, BatchNormConfig::default(), vb.pp("bn1"))?,
            conv2: conv(vb.pp("conv2"), c, m, 1, 1, false)?,
            bn2: batch_norm2d(m, BatchNormConfig::default(), vb.pp("bn2"))?,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self
            .conv_extract
            .forward_bn_act(&self.bn1, x, train, Activation::Relu)?;
        let h = self
            .conv2
            .forward_bn_act(&self.bn2, &h, train, Activation::Identity)?;
        let a = (h.elu(1.0)? + 1.0)?;
        let (_, _, hh, ww) = a.dims4()?;
        Ok(a.broadcast_mul(&border_mask(hh, ww, a.dtype(), a.device())?)?)
    }
}

/// The dense block shared by both texture versions: conv0 → [BN → ReLU → conv] × 3
/// on growing concatenations → BN → ReLU → conv_last → BN.
#[derive(Debug, Clone)]
struct DenseBlock {
    conv0: Conv2d,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Conv2d,
    bn3: BatchNorm2d,
    conv_last: Conv2d,
    bn4: BatchNorm2d,
    bn_last: BatchNorm2d,
    /// Groups (= M for v2, 1 for v1): concatenations are per group.
    groups: usize,
}

impl DenseBlock {
    /// `c` = channels per group·groups of conv0's output; `k0` = conv0's kernel;
    /// `last` = conv_last's output channels.
    fn new(vb: VarBuilder, c: usize, k0: usize, last: usize, groups: usize) -> Result<Self> {
        Ok(Self {
            conv0: conv(vb.pp("conv0"), c, c, k0, groups, true)?,
            conv1: conv(vb.pp("conv1"), c, c, 3, groups, true)?,
            bn1: batch_norm2d(c, BatchNormConfig::default(), vb.pp("bn1"))?,
            conv2: conv(vb.pp("conv2"), 2 * c, c, 3, groups, true)?,
            bn2: batch_norm2d(2 * c, BatchNormConfig::default(), vb.pp("bn2"))?,
            conv3: conv(vb.pp("conv3"), 3 * c, c, 3, groups, true)?,
            bn3: batch_norm2d(3 * c, BatchNormConfig::default(), vb.pp("bn3"))?,
            conv_last: conv(vb.pp("conv_last"), 4 * c, last, 1, groups, true)?,
            bn4: batch_norm2d(4 * c, BatchNormConfig::default(), vb.pp("bn4"))?,
            bn_last: batch_norm2d(last, BatchNormConfig::default(), vb.pp("bn_last"))?,
            groups,
        })
    }

    /// Per-group channel concatenation (the official `cat`).
    fn cat(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if self.groups == 1 {
            return Ok(Tensor::cat(&[a, b], 1)?);
        }
        let (bs, ca, h, w) = a.dims4()?;
        let cb = b.dim(1)?;
        let g = self.groups;
        let a5 = a.reshape((bs, g, ca / g, h, w))?;
        let b5 = b.reshape((bs, g, cb / g, h, w))?;
        Ok(Tensor::cat(&[a5, b5], 2)?.reshape((bs, ca + cb, h, w))?)
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let br = |bn: &BatchNorm2d, t: &Tensor| bn.forward_t_act(t, train, Activation::Relu);
        let f0 = self.conv0.forward(x)?;
        let f1 = self.conv1.forward(&br(&self.bn1, &f0)?)?;
        let f1c = self.cat(&f0, &f1)?;
        let f2 = self.conv2.forward(&br(&self.bn2, &f1c)?)?;
        let f2c = self.cat(&f1c, &f2)?;
        let f3 = self.conv3.forward(&br(&self.bn3, &f2c)?)?;
        let f3c = self.cat(&f2c, &f3)?;
        let out = self.conv_last.forward(&br(&self.bn4, &f3c)?)?;
        Ok(self.bn_last.forward_t(&out, train)?)
    }
}

/// Texture enhancement, v1 or v2.
#[derive(Debug, Clone)]
struct TextureEnhance {
    version: TextureVersion,
    conv_extract: Option<Conv2d>,
    dense: DenseBlock,
    m: usize,
}

impl TextureEnhance {
    fn new(vb: VarBuilder, n: usize, m: usize, version: TextureVersion) -> Result<Self> {
        Ok(match version {
            TextureVersion::V2 => Self {
                version,
                conv_extract: Some(conv(vb.pp("conv_extract"), n, n, 3, 1, true)?),
                dense: DenseBlock::new(vb, n * m, 5, n * m, m)?,
                m,
            },
            TextureVersion::V1 => Self {
                version,
                conv_extract: None,
                dense: DenseBlock::new(vb, n, 1, 4 * n, 1)?,
                m,
            },
        })
    }

    /// Enhanced features (`(B, M, N, H, W)` for v2, `(B, 4N, H, W)` for v1) and D
    /// (`(B, N, h, w)`, the local averages at the attention size).
    fn forward_t(&self, fm: &Tensor, attn: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let (b, n, h, w) = fm.dims4()?;
        let (_, _, ah, aw) = attn.dims4()?;
        let fm = match &self.conv_extract {
            Some(c) => c.forward(fm)?,
            None => fm.clone(),
        };
        let d = adaptive_avg_pool2d(&fm, ah, aw)?;
        let residual = match self.version {
            TextureVersion::V2 if h <= ah => fm,
            _ => (&fm - resize_nearest(&d, h, w)?)?,
        };
        match self.version {
            TextureVersion::V1 => Ok((self.dense.forward_t(&residual, train)?, d)),
            TextureVersion::V2 => {
                let a = upsample_bilinear2d(&attn.detach(), h, w, true)?
                    .tanh()?
                    .unsqueeze(2)?;
                let x = residual
                    .unsqueeze(1)?
                    .broadcast_mul(&a)?
                    .reshape((b, self.m * n, h, w))?;
                let y = relu(&self.dense.forward_t(&x, train)?)?;
                Ok((y.reshape((b, self.m, n, h, w))?, d))
            }
        }
    }
}

/// Standardises each channel of `(B, N, h, w)` over space: `(x − mean)/(std + 1e-8)`
/// with the unbiased standard deviation (`torch.std`). Needs `h·w ≥ 2`.
fn standardize(d: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = d.dims4()?;
    let n = h * w;
    if n < 2 {
        return Err(Error::invalid(format!(
            "MAT: the attention tap is {h}×{w}; standardising D needs at least 2 pixels \
             (use larger images)"
        )));
    }
    let mean = d.mean_keepdim(3)?.mean_keepdim(2)?;
    let c = d.broadcast_sub(&mean)?;
    let var = (c.sqr()?.sum_keepdim(3)?.sum_keepdim(2)? / (n - 1) as f64)?;
    let std = var.maximum(1e-24)?.sqrt()?;
    Ok(c.broadcast_div(&(std + 1e-8)?)?)
}

// ---------------------------------------------------------------------------
// regional independence loss
// ---------------------------------------------------------------------------

/// Result of a regional-independence-loss evaluation.
#[derive(Debug, Clone)]
pub struct RilOutput {
    /// `intra + inter`, a scalar.
    pub loss: Tensor,
    /// The intra-class term.
    pub intra: Tensor,
    /// The inter-head term.
    pub inter: Tensor,
    /// The updated centres `c'` (detached), `(M, N)`: the new buffer value.
    pub centers: Tensor,
}

fn check_ril_input(v: &Tensor, centers: &Tensor, labels: &[u32]) -> Result<(usize, usize, usize)> {
    let (b, m, n) = v
        .dims3()
        .map_err(|_| Error::invalid(format!("RIL: V must be (B, M, N), got {:?}", v.dims())))?;
    if centers.dims() != [m, n] {
        return Err(Error::invalid(format!(
            "RIL: centres must be ({m}, {n}), got {:?}",
            centers.dims()
        )));
    }
    if labels.len() != b || labels.iter().any(|&y| y > 1) {
        return Err(Error::invalid(format!(
            "RIL: need {b} labels in {{0, 1}}, got {labels:?}"
        )));
    }
    Ok((b, m, n))
}

/// `Σ_{j<k} relu(margin − ‖c_j − c_k‖) / M / α` over the rows of `c` `(M, N)`.
fn inter_term(c: &Tensor, margin: f64, alpha: f64) -> Result<Tensor> {
    let m = c.dim(0)?;
    let mut total = Tensor::zeros((), c.dtype(), c.device())?;
    for j in 0..m {
        for k in j + 1..m {
            let d = safe_norm(&(c.get(j)? - c.get(k)?)?, &[0])?.squeeze(0)?;
            total = (total + (margin - d)?.relu()?)?;
        }
    }
    Ok((total / (m as f64 * alpha))?)
}

fn label_column(labels: &[u32], f: impl Fn(u32) -> f64, like: &Tensor) -> Result<Tensor> {
    let v: Vec<f64> = labels.iter().map(|&y| f(y)).collect();
    Ok(Tensor::from_vec(v, labels.len(), like.device())?.to_dtype(like.dtype())?)
}

/// The official code's regional independence loss (`Auxiliary_Loss_v2`) on
/// `V = BAP(D̂, A)` `(B, M, N)` with the current centres `(M, N)`:
///
/// * `c' = c + α · (1/B) Σ_{real i} (V_i − c)` (the sum over reals divided by the
///   whole batch; gradients flow into V through `c'`);
/// * intra `= mean_i relu(‖V_i − c'‖_F · sign(m_{y_i}) − m_{y_i})` with
///   `m = intra_margin` = [real, fake];
/// * inter `= Σ_{j<k} relu(inter_margin − ‖c'_j − c'_k‖) / M / α`.
pub fn ril_official(
    v: &Tensor,
    centers: &Tensor,
    labels: &[u32],
    alpha: f64,
    intra_margin: [f64; 2],
    inter_margin: f64,
) -> Result<RilOutput> {
    let (b, _, _) = check_ril_input(v, centers, labels)?;
    let c = centers.detach().to_dtype(v.dtype())?;
    let real = label_column(labels, |y| f64::from(u8::from(y == 0)), v)?.reshape((b, 1, 1))?;
    let step = (v.broadcast_sub(&c)?.broadcast_mul(&real)?.mean(0)? * alpha)?;
    let fcts = (c + step)?;
    let dist = safe_norm(&v.broadcast_sub(&fcts)?, &[1, 2])?.flatten_all()?;
    let sign = |m: f64| {
        if m > 0.0 {
            1.0
        } else if m < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let margin = label_column(labels, |y| intra_margin[y as usize], v)?;
    let sgn = label_column(labels, |y| sign(intra_margin[y as usize]), v)?;
    let intra = ((dist * sgn)? - margin)?.relu()?.mean_all()?;
    let inter = inter_term(&fcts, inter_margin, alpha)?;
    Ok(RilOutput {
        loss: (&intra + &inter)?,
        intra,
        inter,
        centers: fcts.detach(),
    })
}

/// DeepfakeBench's regional independence loss (`region_independent_loss.py`):
///
/// * `c' = c + α · mean_i (V_i − c)` over all samples, detached;
/// * intra `= mean_{i,m} relu(‖V_{i,m} − c'_m‖ − m_{y_i})`;
/// * inter `= Σ_{j<k} relu(inter_margin − ‖c'_j − c'_k‖) / M / α` (constant: the
///   centres are detached).
pub fn ril_deepfakebench(
    v: &Tensor,
    centers: &Tensor,
    labels: &[u32],
    alpha: f64,
    intra_margin: [f64; 2],
    inter_margin: f64,
) -> Result<RilOutput> {
    let (b, _, _) = check_ril_input(v, centers, labels)?;
    let c = centers.detach().to_dtype(v.dtype())?;
    let fcts = (&c + (v.broadcast_sub(&c)?.mean(0)? * alpha)?)?.detach();
    let dist = safe_norm(&v.broadcast_sub(&fcts)?, &[2])?.squeeze(2)?; // (B, M)
    let margin = label_column(labels, |y| intra_margin[y as usize], v)?.reshape((b, 1))?;
    let intra = dist.broadcast_sub(&margin)?.relu()?.mean_all()?;
    let inter = inter_term(&fcts, inter_margin, alpha)?;
    Ok(RilOutput {
        loss: (&intra + &inter)?,
        intra,
        inter,
        centers: fcts,
    })
}

// ---------------------------------------------------------------------------
// AGDA
// ---------------------------------------------------------------------------

/// Attention-guided data augmentation, soft mode (official `AGDA.py`,
/// `soft_drop2`), run outside the autograd graph:
///
/// 1. per sample, draw head k with probability ∝ `√(Σ_hw A_k + 1)`;
/// 2. up-sample `A_k` to the image (bilinear, align-corners), divide by its max + 1e-8;
/// 3. draw θ ~ U(threshold), z ~ U(zoom) once per batch; soft mask
///    `A' = (σ(z(A* − θ)) − σ(−zθ)) / (1 − σ(−zθ))`;
/// 4. `x_d = up(blur(down(x, scale_factor)) + N(0, noise_rate²))` (bilinear,
///    align-corners; Gaussian blur with reflect borders, as kornia);
/// 5. `x' = x·(1 − A') + x_d·A'`. Labels are kept.
#[derive(Debug, Clone)]
pub struct Agda {
    cfg: AgdaConfig,
    kernel: Vec<f32>,
}

/// What [`Agda::apply`] did.
#[derive(Debug, Clone)]
pub struct AgdaOutput {
    /// The augmented batch, the input's shape.
    pub images: Tensor,
    /// The head chosen for each sample.
    pub heads: Vec<usize>,
    /// The soft masks `A'` `(B, 1, H, W)`, in `[0, 1]`.
    pub masks: Tensor,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Reflect (mirror without repeating the edge) index into `0..n`.
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let mut r = i.rem_euclid(period);
    if r >= n as isize {
        r = period - r;
    }
    r as usize
}

impl Agda {
    /// AGDA with these settings.
    pub fn new(cfg: &AgdaConfig) -> Result<Self> {
        cfg.validate()?;
        let k = cfg.kernel_size as isize;
        let g: Vec<f64> = (0..k)
            .map(|i| {
                let x = (i - k / 2) as f64;
                (-x * x / (2.0 * cfg.sigma * cfg.sigma)).exp()
            })
            .collect();
        let s: f64 = g.iter().sum();
        Ok(Self {
            cfg: cfg.clone(),
            kernel: g.into_iter().map(|v| (v / s) as f32).collect(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &AgdaConfig {
        &self.cfg
    }

    /// Separable Gaussian blur of `(B, C, H, W)` with reflect borders.
    fn blur(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let src = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let r = (self.kernel.len() / 2) as isize;
        let mut tmp = vec![0f32; src.len()];
        let mut out = vec![0f32; src.len()];
        for p in 0..b * c {
            let s = &src[p * h * w..][..h * w];
            let t = &mut tmp[p * h * w..][..h * w];
            for i in 0..h {
                for j in 0..w {
                    let mut acc = 0f32;
                    for (t_i, kv) in self.kernel.iter().enumerate() {
                        let jj = reflect(j as isize + t_i as isize - r, w);
                        acc += kv * s[i * w + jj];
                    }
                    t[i * w + j] = acc;
                }
            }
            let o = &mut out[p * h * w..][..h * w];
            for i in 0..h {
                for j in 0..w {
                    let mut acc = 0f32;
                    for (t_i, kv) in self.kernel.iter().enumerate() {
                        let ii = reflect(i as isize + t_i as isize - r, h);
                        acc += kv * t[ii * w + j];
                    }
                    o[i * w + j] = acc;
                }
            }
        }
        Ok(Tensor::from_vec(out, (b, c, h, w), x.device())?.to_dtype(x.dtype())?)
    }

    /// The degraded image `up(blur(down(x)) + noise)`.
    pub fn degrade(&self, x: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let sh = ((h as f64 * self.cfg.scale_factor).floor() as usize).max(1);
        let sw = ((w as f64 * self.cfg.scale_factor).floor() as usize).max(1);
        let small = upsample_bilinear2d(x, sh, sw, true)?;
        let mut small = self.blur(&small)?;
        if self.cfg.noise_rate > 0.0 {
            let noise = rng.normal_tensor(
                0.0,
                self.cfg.noise_rate,
                (b, c, sh, sw),
                x.dtype(),
                x.device(),
            )?;
            small = (small + noise)?;
        }
        upsample_bilinear2d(&small, h, w, true)
    }

    /// Augments the batch `x` `(B, C, H, W)` with attention maps `(B, M, h, w)`
    /// (used detached).
    pub fn apply(&self, x: &Tensor, attn: &Tensor, rng: &mut SeededRng) -> Result<AgdaOutput> {
        let (b, _, h, w) = x.dims4().map_err(|_| {
            Error::invalid(format!(
                "AGDA: images must be (B, C, H, W), got {:?}",
                x.dims()
            ))
        })?;
        let (ab, m, ah, aw) = attn.dims4().map_err(|_| {
            Error::invalid(format!(
                "AGDA: attention maps must be (B, M, h, w), got {:?}",
                attn.dims()
            ))
        })?;
        if ab != b {
            return Err(Error::invalid(format!(
                "AGDA: {b} images but {ab} attention maps"
            )));
        }
        let a = attn.detach().to_dtype(DType::F32)?;
        let flat = a.flatten_all()?.to_vec1::<f32>()?;
        if flat.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::invalid(
                "AGDA: attention maps must be finite and non-negative",
            ));
        }
        // 1. One head per sample, ∝ √(ΣA + 1).
        let heads: Vec<usize> = (0..b)
            .map(|i| {
                let wts: Vec<f64> = (0..m)
                    .map(|k| {
                        let s: f64 = flat[(i * m + k) * ah * aw..][..ah * aw]
                            .iter()
                            .map(|&v| f64::from(v))
                            .sum();
                        (s + 1.0).sqrt()
                    })
                    .collect();
                let total: f64 = wts.iter().sum();
                let mut u = rng.uniform() * total;
                for (k, wk) in wts.iter().enumerate() {
                    if u < *wk {
                        return k;
                    }
                    u -= wk;
                }
                m - 1
            })
            .collect();
        // 2. Up-sample the chosen maps and scale by their max.
        let idx = Tensor::from_vec(
            heads
                .iter()
                .enumerate()
                .map(|(i, &k)| (i * m + k) as u32)
                .collect::<Vec<_>>(),
            b,
            a.device(),
        )?;
        let chosen = a.reshape((b * m, 1, ah, aw))?.index_select(&idx, 0)?;
        let up = upsample_bilinear2d(&chosen, h, w, true)?;
        let max = up.flatten_from(1)?.max_keepdim(1)?.reshape((b, 1, 1, 1))?;
        let astar = up.broadcast_div(&(max + 1e-8)?)?;
        // 3. Soft mask.
        let [t0, t1] = self.cfg.threshold;
        let [z0, z1] = self.cfg.zoom;
        let theta = rng.uniform_range(t0, t1.max(t0));
        let zoom = rng.uniform_range(z0, z1.max(z0));
        let bottom = sigmoid(-theta * zoom);
        let soft: Vec<f32> = astar
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| {
                let s = (sigmoid((f64::from(v) - theta) * zoom) - bottom) / (1.0 - bottom);
                s.clamp(0.0, 1.0) as f32
            })
            .collect();
        let mask = Tensor::from_vec(soft, (b, 1, h, w), x.device())?.to_dtype(x.dtype())?;
        // 4–5. Blend with the degraded image.
        let xd = self.degrade(&x.detach(), rng)?;
        let keep = (1.0 - &mask)?;
        let images = (x.detach().broadcast_mul(&keep)? + xd.broadcast_mul(&mask)?)?;
        Ok(AgdaOutput {
            images,
            heads,
            masks: mask,
        })
    }
}

// ---------------------------------------------------------------------------
// the detector
// ---------------------------------------------------------------------------

/// One MAT forward pass.
struct Pass {
    logits: Tensor,
    /// Undropped attention maps `(B, M, h, w)`.
    attn: Tensor,
    /// D, the texture block's local averages `(B, N, h, w)`.
    d: Tensor,
}

/// The MAT detector (see the module docs).
#[derive(Debug, Clone)]
pub struct Mat {
    cfg: MatConfig,
    net: Backbone,
    attentions: AttentionMap,
    texture: TextureEnhance,
    projection_local: (Linear, Linear),
    project_final: Linear,
    ensemble: (Linear, Linear),
    centers: Var,
    agda: Agda,
    alpha: f64,
    pretraining: bool,
}

impl Mat {
    /// Builds MAT under `vb`: the backbone under `net`, the MAT modules under the
    /// official code's names. A new detector is in its MAT stage with α at its
    /// initial value; [`Detector::set_epoch`] (called by the trainer) moves it to
    /// the backbone-only stage for epochs below `pretrain_epochs`.
    pub fn new(vb: VarBuilder, cfg: &MatConfig) -> Result<Self> {
        cfg.validate()?;
        let m = cfg.num_attentions;
        let n = cfg.tap_channels(&cfg.feature_layer);
        let c_att = cfg.tap_channels(&cfg.attention_layer);
        let net = Backbone::new(vb.pp("net"), &cfg.backbone)?;
        let c_final = net.num_features();
        let attentions = AttentionMap::new(vb.pp("attentions"), c_att, m)?;
        let texture = TextureEnhance::new(vb.pp("texture_enhance"), n, m, cfg.texture)?;
        let n_out = match cfg.texture {
            TextureVersion::V2 => n,
            TextureVersion::V1 => 4 * n,
        };
        let mid = cfg.mid_dims;
        let pl = vb.pp("projection_local");
        let projection_local = (
            linear(m * n_out, mid, pl.pp("0"))?,
            linear(mid, mid, pl.pp("2"))?,
        );
        let project_final = linear(c_final, mid, vb.pp("project_final"))?;
        let ec = vb.pp("ensemble_classifier_fc");
        let ensemble = (
            linear(2 * mid, mid, ec.pp("0"))?,
            linear(mid, 2, ec.pp("2"))?,
        );
        let c =
            vb.pp("auxiliary_loss")
                .get_with_hints((m, n), "feature_centers", Init::Const(0.0))?;
        let centers = Var::from_tensor(&c)?;
        Ok(Self {
            cfg: cfg.clone(),
            net,
            attentions,
            texture,
            projection_local,
            project_final,
            ensemble,
            centers,
            agda: Agda::new(&cfg.agda)?,
            alpha: cfg.ril.alpha,
            pretraining: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MatConfig {
        &self.cfg
    }

    /// The backbone.
    pub fn backbone(&self) -> &Backbone {
        &self.net
    }

    /// The current RIL α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Is the detector in its backbone-only stage (epoch < `pretrain_epochs`)?
    pub fn is_pretraining(&self) -> bool {
        self.pretraining
    }

    /// The RIL feature centres `(M, N)`.
    pub fn feature_centers(&self) -> &Tensor {
        self.centers.as_tensor()
    }

    /// The AGDA module.
    pub fn agda(&self) -> &Agda {
        &self.agda
    }

    /// Evaluation-mode attention maps `(B, M, h, w)` of an image batch (in the
    /// loader's normalisation), e.g. for [`save_attention_figure`].
    pub fn attention_maps(&self, images: &Tensor) -> Result<Tensor> {
        let taps = self.net.forward_features_t(images, false)?;
        self.attentions
            .forward_t(taps.require(&self.cfg.attention_layer)?, false)
    }

    fn official(&self) -> bool {
        self.cfg.variant == MatVariant::Official
    }

    /// The MAT forward pass; `rng` = training mode (BatchNorm batch statistics,
    /// dropout), `None` = evaluation.
    fn pass(&self, x: &Tensor, mut rng: Option<&mut SeededRng>) -> Result<Pass> {
        let train = rng.is_some();
        let cfg = &self.cfg;
        let official = self.official();
        let taps = self.net.forward_features_t(x, train)?;
        let attn = self
            .attentions
            .forward_t(taps.require(&cfg.attention_layer)?, train)?;
        let (b, m, _, _) = attn.dims4()?;
        let (feat, d) = self
            .texture
            .forward_t(taps.require(&cfg.feature_layer)?, &attn, train)?;
        let p = bilinear_attention_pooling(&feat, &attn, BapNorm::L2)?;
        // Official: Dropout2d on ones[B, M, 1] drops whole heads of P and of the
        // maps pooling the global branch. DeepfakeBench: element-wise on P.
        let head_mask = match rng.as_deref_mut() {
            Some(r) if official && cfg.dropout_rate > 0.0 => {
                let keep = 1.0 - cfg.dropout_rate;
                let v: Vec<f32> = (0..b * m)
                    .map(|_| {
                        if r.bernoulli(keep) {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Some(Tensor::from_vec(v, (b, m, 1), p.device())?.to_dtype(p.dtype())?)
            }
            _ => None,
        };
        let p = match (&head_mask, rng.as_deref_mut()) {
            (Some(mask), _) => p.broadcast_mul(mask)?,
            (None, Some(r)) if !official && cfg.dropout_rate > 0.0 => {
                dropout(&p, cfg.dropout_rate, r)?
            }
            _ => p,
        };
        let local = p.flatten_from(1)?;
        let local = hardswish(&self.projection_local.0.forward(&local)?)?;
        let local = hardswish(&self.projection_local.1.forward(&local)?)?;
        let maps = match &head_mask {
            Some(mask) => attn.broadcast_mul(&mask.unsqueeze(3)?)?,
            None => attn.clone(),
        };
        let a_sum = maps.sum_keepdim(1)?;
        let g = bilinear_attention_pooling(taps.last(), &a_sum, BapNorm::Area)?.squeeze(1)?;
        let g = match rng {
            Some(r) if official && cfg.drop_final_rate > 0.0 => {
                dropout(&g, cfg.drop_final_rate, r)?
            }
            _ => g,
        };
        let g = hardswish(&self.project_final.forward(&g)?)?;
        let h = Tensor::cat(&[local, g], 1)?;
        let h = hardswish(&self.ensemble.0.forward(&h)?)?;
        let logits = self.ensemble.1.forward(&h)?;
        Ok(Pass { logits, attn, d })
    }

    /// The RIL of a pass (updates the centre buffer); returns the output and V.
    fn ril(&self, pass: &Pass, y: &[u32]) -> Result<(RilOutput, Tensor)> {
        // Official: D standardised per channel first; DeepfakeBench: raw.
        let d = if self.official() {
            standardize(&pass.d)?
        } else {
            pass.d.clone()
        };
        let v = bilinear_attention_pooling(&d, &pass.attn, BapNorm::L2)?;
        let r = &self.cfg.ril;
        let out = match self.cfg.variant {
            MatVariant::Official => ril_official(
                &v,
                self.centers.as_tensor(),
                y,
                self.alpha,
                r.intra_margin,
                r.inter_margin,
            )?,
            MatVariant::DeepfakeBench => ril_deepfakebench(
                &v,
                self.centers.as_tensor(),
                y,
                self.alpha,
                r.intra_margin,
                r.inter_margin,
            )?,
        };
        self.centers
            .set(&out.centers.to_dtype(self.centers.dtype())?)?;
        Ok((out, v))
    }

    /// Evaluation-mode (or, with `rng`, training-mode) logits of the current stage.
    pub fn forward(&self, images: &Tensor, rng: Option<&mut SeededRng>) -> Result<Tensor> {
        if self.pretraining {
            return self.net.forward_t(images, rng.is_some());
        }
        Ok(self.pass(images, rng)?.logits)
    }
}

impl Detector for Mat {
    fn name(&self) -> &'static str {
        "mat"
    }

    fn pretrained_backbone(&self) -> (BackboneConfig, &'static str) {
        self.cfg.pretrained_backbone()
    }

    fn loss_step(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<StepOutput> {
        let y = check_batch(images, labels)?;
        let yt = label_tensor(&y, images.device())?;
        if self.pretraining {
            let logits = self.net.forward_t(images, true)?;
            let loss = cross_entropy(&logits, &yt)?;
            let ce = scalar(&loss)?;
            return Ok(StepOutput {
                loss,
                logits,
                parts: vec![("ce".into(), ce)],
            });
        }
        let w = self.cfg.weights.clone();
        match self.cfg.variant {
            MatVariant::Official => {
                let p1 = self.pass(images, Some(rng))?;
                let ce = cross_entropy(&p1.logits, &yt)?;
                let (ril, v1) = self.ril(&p1, &y)?;
                let mut loss = ((&ce * w.ensemble)? + (&ril.loss * w.aux)?)?;
                let mut parts = vec![
                    ("ce".to_string(), scalar(&ce)?),
                    ("ril".to_string(), scalar(&ril.loss)?),
                ];
                if self.cfg.use_agda && w.agda != 0.0 {
                    let aug = self.agda.apply(images, &p1.attn, rng)?;
                    let p2 = self.pass(&aug.images, Some(rng))?;
                    let ce2 = cross_entropy(&p2.logits, &yt)?;
                    // The second RIL call only moves the centres (its value is
                    // not part of the official loss).
                    let (_, v2) = self.ril(&p2, &y)?;
                    let (b, m, _) = v1.dims3()?;
                    let keep: Vec<f32> = (0..b)
                        .flat_map(|i| (0..m).map(move |k| (i, k)))
                        .map(|(i, k)| if aug.heads[i] == k { 0.0 } else { 1.0 })
                        .collect();
                    let keep = Tensor::from_vec(keep, (b, m), v1.device())?.to_dtype(v1.dtype())?;
                    let dist = safe_norm(&(&v2 - &v1)?, &[2])?.squeeze(2)?;
                    let matching = (dist * keep)?.mean_all()?;
                    loss = (loss + (&ce2 * w.agda)? + (&matching * w.matching)?)?;
                    parts.push(("agda_ce".into(), scalar(&ce2)?));
                    parts.push(("match".into(), scalar(&matching)?));
                }
                Ok(StepOutput {
                    loss,
                    logits: p1.logits,
                    parts,
                })
            }
            MatVariant::DeepfakeBench => {
                let x = if self.cfg.use_agda {
                    let taps = self.net.forward_features_t(&images.detach(), true)?;
                    let attn = self
                        .attentions
                        .forward_t(taps.require(&self.cfg.attention_layer)?, true)?
                        .detach();
                    self.agda.apply(images, &attn, rng)?.images
                } else {
                    images.clone()
                };
                let p = self.pass(&x, Some(rng))?;
                let ce = cross_entropy(&p.logits, &yt)?;
                let (ril, _) = self.ril(&p, &y)?;
                let loss = ((&ce * w.ensemble)? + (&ril.loss * w.aux)?)?;
                let parts = vec![
                    ("ce".to_string(), scalar(&ce)?),
                    ("ril".to_string(), scalar(&ril.loss)?),
                ];
                Ok(StepOutput {
                    loss,
                    logits: p.logits,
                    parts,
                })
            }
        }
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        self.forward(images, None)
    }

    fn set_epoch(&mut self, epoch: usize) {
        self.pretraining = epoch < self.cfg.pretrain_epochs;
        let k = epoch.saturating_sub(self.cfg.pretrain_epochs);
        self.alpha = self.cfg.ril.alpha * self.cfg.ril.alpha_decay.powi(k as i32);
    }

    fn optimizer_restarts(&self) -> Vec<usize> {
        if self.official() && self.cfg.pretrain_epochs > 0 {
            vec![self.cfg.pretrain_epochs]
        } else {
            Vec::new()
        }
    }

    fn reseed(&self, seed: u64) {
        self.net.reseed(seed)
    }
}

// ---------------------------------------------------------------------------
// figure
// ---------------------------------------------------------------------------

/// The "jet" colour map at `t ∈ [0, 1]`.
fn jet(t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    let c = |x: f32| (1.5 - (4.0 * t - x).abs()).clamp(0.0, 1.0);
    [c(3.0), c(2.0), c(1.0)]
}

/// Writes a PNG row: the image, then each attention map as a jet heat map blended
/// 50/50 over the image (each map bilinearly up-sampled, align-corners, and scaled
/// by its own maximum). `image` is `3×H×W` (or `1×3×H×W`) **in `[0, 1]`** (undo
/// the loader's normalisation with [`Normalize::invert`](crate::data::Normalize::invert));
/// `maps` is `M×h×w` (or `1×M×h×w`), e.g. one row of [`Mat::attention_maps`].
/// Written atomically.
pub fn save_attention_figure(path: impl AsRef<Path>, image: &Tensor, maps: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let image = if image.rank() == 4 && image.dim(0)? == 1 {
        image.squeeze(0)?
    } else {
        image.clone()
    };
    let maps = if maps.rank() == 4 && maps.dim(0)? == 1 {
        maps.squeeze(0)?
    } else {
        maps.clone()
    };
    let (c, h, w) = image.dims3().map_err(|_| {
        Error::invalid(format!(
            "attention figure: image must be 3×H×W, got {:?}",
            image.dims()
        ))
    })?;
    if c != 3 {
        return Err(Error::invalid(format!(
            "attention figure: image must have 3 channels, got {c}"
        )));
    }
    let (m, _, _) = maps.dims3().map_err(|_| {
        Error::invalid(format!(
            "attention figure: maps must be M×h×w, got {:?}",
            maps.dims()
        ))
    })?;
    let img = image
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let up = upsample_bilinear2d(
        &maps.to_dtype(DType::F32)?.detach().unsqueeze(0)?,
        h,
        w,
        true,
    )?
    .flatten_all()?
    .to_vec1::<f32>()?;
    if img.iter().chain(&up).any(|v| !v.is_finite()) {
        return Err(Error::invalid("attention figure: non-finite values"));
    }
    let gap = 2;
    let width = (m + 1) * w + m * gap;
    let mut canvas = image::RgbImage::from_pixel(width as u32, h as u32, image::Rgb([255; 3]));
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for panel in 0..=m {
        let x0 = panel * (w + gap);
        let map = (panel > 0).then(|| &up[(panel - 1) * h * w..][..h * w]);
        let max = map
            .map(|mp| mp.iter().cloned().fold(0f32, f32::max))
            .unwrap_or(1.0);
        for i in 0..h {
            for j in 0..w {
                let px = [0, 1, 2].map(|k| img[k * h * w + i * w + j]);
                let rgb = match map {
                    None => px,
                    Some(mp) => {
                        let t = if max > 0.0 { mp[i * w + j] / max } else { 0.0 };
                        let hc = jet(t);
                        [0, 1, 2].map(|k| 0.5 * px[k].clamp(0.0, 1.0) + 0.5 * hc[k])
                    }
                };
                canvas.put_pixel((x0 + j) as u32, i as u32, image::Rgb(rgb.map(to_u8)));
            }
        }
    }
    let mut bytes = Vec::new();
    canvas
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| Error::invalid(format!("attention figure: cannot encode PNG: {e}")))?;
    candor_core::fsio::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_indices() {
        let v: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(v, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn border_mask_matches_template() {
        let m = border_mask(24, 24, DType::F32, &Device::Cpu).unwrap();
        let v = m.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v.iter().sum::<f32>(), 400.0);
        let m = border_mask(4, 4, DType::F32, &Device::Cpu).unwrap();
        let v = m.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // Template rows 0, 6, 12, 18: the first row and column are masked.
        assert_eq!(
            v,
            [0., 0., 0., 0., 0., 1., 1., 1., 0., 1., 1., 1., 0., 1., 1., 1.]
        );
    }

    #[test]
    fn nearest_resize_rule() {
        let x = Tensor::arange(0f32, 3.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 3))
            .unwrap();
        let y = resize_nearest(&x, 1, 7).unwrap();
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v, [0., 0., 0., 1., 1., 2., 2.]);
    }

    #[test]
    fn gaussian_kernel_is_normalised_and_symmetric() {
        let a = Agda::new(&AgdaConfig::default()).unwrap();
        assert_eq!(a.kernel.len(), 11);
        assert!((a.kernel.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((a.kernel[0] - a.kernel[10]).abs() < 1e-9);
        assert!(a.kernel[5] > a.kernel[4]);
    }
}
