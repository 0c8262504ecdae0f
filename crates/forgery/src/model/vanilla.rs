//! The papers' baseline: a backbone with global average pooling and a linear
//! 2-way head, trained with cross-entropy.
//!
//! * Xception ([`VanillaConfig::default`]): the FaceForensics++ / DeepfakeBench
//!   Xception baseline that SPSL compares against.
//! * EfficientNet-B4 ([`VanillaConfig::efficientnet_b4`]): the plain backbone
//!   classifier of MAT's first training stage (official code: 20 epochs, then MAT
//!   starts from it) and DeepfakeBench's EfficientNet-B4 row.
//!
//! The head is the backbone's own (`fc` / `classifier`, timm names): Xception
//! applies ReLU before pooling its `final` tap, EfficientNet's `final` already ends
//! in SiLU.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::SeededRng;
//! use candor_forgery::model::{Detector, Vanilla, VanillaConfig};
//!
//! let vm = VarMap::new();
//! let vb = candor_core::init::seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! let mut det = Vanilla::new(vb, &VanillaConfig::tiny()).unwrap();
//! let x = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
//! let y = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
//! let step = det.loss_step(&x, &y, &mut SeededRng::new(0)).unwrap();
//! assert_eq!(step.logits.dims(), &[2, 2]);
//! assert_eq!(det.scores(&x).unwrap().len(), 2);
//! ```

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use super::backbone::{Backbone, BackboneConfig};
use super::detector::{check_batch, cross_entropy, label_tensor, scalar, Detector, StepOutput};
use super::efficientnet::EfficientNetConfig;
use super::xception::XceptionConfig;

/// Settings of the vanilla detector. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VanillaConfig {
    /// The backbone (its head must have 2 classes and 3 input channels).
    pub backbone: BackboneConfig,
}

impl Default for VanillaConfig {
    /// Full Xception, RGB, 2 classes (DeepfakeBench's Xception baseline).
    fn default() -> Self {
        Self {
            backbone: BackboneConfig::Xception(XceptionConfig::default()),
        }
    }
}

impl VanillaConfig {
    /// The backbone an ImageNet checkpoint initialises and its key prefix in this
    /// detector's variables (see [`Detector::pretrained_backbone`]).
    pub fn pretrained_backbone(&self) -> (BackboneConfig, &'static str) {
        (self.backbone.clone(), "")
    }

    /// EfficientNet-B4 as MAT's first stage builds it (classifier dropout 0).
    pub fn efficientnet_b4() -> Self {
        Self {
            backbone: BackboneConfig::EfficientNet(EfficientNetConfig::mat()),
        }
    }

    /// A tiny Xception for tests ([`XceptionConfig::tiny`]).
    pub fn tiny() -> Self {
        Self {
            backbone: BackboneConfig::Xception(XceptionConfig::tiny()),
        }
    }

    /// A tiny EfficientNet for tests ([`EfficientNetConfig::tiny`]).
    pub fn tiny_efficientnet() -> Self {
        Self {
            backbone: BackboneConfig::EfficientNet(EfficientNetConfig::tiny()),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.backbone.validate()?;
        if self.backbone.in_channels() != 3 {
            return Err(Error::invalid(format!(
                "vanilla detector: the backbone must take 3 (RGB) channels, not {}",
                self.backbone.in_channels()
            )));
        }
        if self.backbone.num_classes() != 2 {
            return Err(Error::invalid(format!(
                "vanilla detector: the backbone head must have 2 classes, not {}",
                self.backbone.num_classes()
            )));
        }
        Ok(())
    }
}

/// Backbone + global pooling + linear head (see the module docs).
#[derive(Debug, Clone)]
pub struct Vanilla {
    cfg: VanillaConfig,
    net: Backbone,
}

impl Vanilla {
    /// Builds the detector; the backbone's variables are created under `vb`
    /// with their timm names (no prefix).
    pub fn new(vb: VarBuilder, cfg: &VanillaConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg: cfg.clone(),
            net: Backbone::new(vb, &cfg.backbone)?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VanillaConfig {
        &self.cfg
    }

    /// The backbone.
    pub fn backbone(&self) -> &Backbone {
        &self.net
    }

    /// Logits `(B, 2)`; `train` selects BatchNorm batch statistics and dropout.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        self.net.forward_t(images, train)
    }
}

impl Detector for Vanilla {
    fn name(&self) -> &'static str {
        "vanilla"
    }

    fn pretrained_backbone(&self) -> (BackboneConfig, &'static str) {
        self.cfg.pretrained_backbone()
    }

    fn loss_step(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        _rng: &mut SeededRng,
    ) -> Result<StepOutput> {
        let y = check_batch(images, labels)?;
        let logits = self.forward_t(images, true)?;
        let loss = cross_entropy(&logits, &label_tensor(&y, images.device())?)?;
        let ce = scalar(&loss)?;
        Ok(StepOutput {
            loss,
            logits,
            parts: vec![("ce".into(), ce)],
        })
    }

    fn logits(&self, images: &Tensor) -> Result<Tensor> {
        self.forward_t(images, false)
    }

    fn reseed(&self, seed: u64) {
        self.net.reseed(seed)
    }
}
