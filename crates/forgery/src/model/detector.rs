//! The common detector interface: one trainer and one evaluator for the vanilla
//! baseline, MAT and SPSL.
//!
//! A detector takes images **as the data loader gives them** (`B×3×H×W`, normalised
//! as [`LoadOptions::normalize`](crate::data::LoadOptions), `(x − 0.5)/0.5` by
//! default, the normalisation of both papers) and 0/1 labels (`B`, u32, 1 = fake).
//! Whatever a method adds (SPSL's phase channel, MAT's attention-guided
//! augmentation and auxiliary losses) happens inside [`Detector::loss_step`] and
//! [`Detector::logits`], so the trainer never needs to know which method it runs.
//!
//! * [`Detector::loss_step`]: one training-mode forward pass (BatchNorm batch
//!   statistics, dropout, augmentation) returning the loss to back-propagate;
//! * [`Detector::logits`] / [`Detector::scores`]: evaluation mode; the score of a
//!   frame is `softmax(logits)[:, 1]`, the probability of *fake* (both papers'
//!   test protocol);
//! * [`Detector::set_epoch`]: epoch-dependent behaviour (MAT's backbone-only
//!   pre-training stage and its decaying RIL α);
//! * [`Detector::optimizer_restarts`]: epochs at which the trainer builds a fresh
//!   optimiser and restarts the LR schedule (the official MAT recipe's second stage).
//!
//! Non-trainable state lives in the `VarMap` next to the parameters, so
//! checkpoints carry it: BatchNorm running statistics (`running_mean`,
//! `running_var`) and MAT's regional-independence feature centres
//! (`auxiliary_loss.feature_centers`). [`is_buffer`] names them; they never get
//! a gradient and the trainer gives them to no optimiser.
//!
//! [`DetectorConfig`] is the serialisable choice of detector (`{"mat": {…}}`,
//! `{"spsl": {…}}`, `{"vanilla": {…}}`) and builds any of them.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use super::efficientnet::{EfficientNet, EfficientNetConfig};
use super::layers::{FeatureInfo, FeatureMaps};
use super::mat::{Mat, MatConfig};
use super::spsl::{Spsl, SpslConfig};
use super::vanilla::{Vanilla, VanillaConfig};
use super::xception::{Xception, XceptionConfig};

/// What one training step produced.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The scalar loss to back-propagate (all terms, weighted).
    pub loss: Tensor,
    /// `(B, 2)` logits of the step's main (un-augmented) forward pass, for the
    /// training accuracy.
    pub logits: Tensor,
    /// Named loss terms (unweighted values) for logging, e.g. `("ce", 0.69)`.
    pub parts: Vec<(String, f64)>,
}

/// A binary face-forgery detector (see the module docs).
pub trait Detector {
    /// A short name (`"vanilla"`, `"mat"`, `"spsl"`).
    fn name(&self) -> &'static str;

    /// The configuration it was built from (the trainer reads how pretrained
    /// backbone weights map onto it: [`super::pretrained::detector_spec`]).
    fn config(&self) -> DetectorConfig;

    /// One training step's loss on a batch: `images` `B×3×H×W` in the loader's
    /// normalisation, `labels` `B` (u32, 0 real / 1 fake). Runs in training mode;
    /// every random draw (augmentation, head dropout) comes from `rng`.
    fn loss_step(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        rng: &mut SeededRng,
    ) -> Result<StepOutput>;

    /// Evaluation-mode logits `(B, 2)` (class 1 = fake).
    fn logits(&self, images: &Tensor) -> Result<Tensor>;

    /// Evaluation-mode probability of *fake* per image: `softmax(logits)[:, 1]`.
    fn scores(&self, images: &Tensor) -> Result<Vec<f32>> {
        fake_probability(&self.logits(images)?)
    }

    /// Called by the trainer before each epoch (0-based) and after loading a
    /// checkpoint; detectors with epoch-dependent behaviour override it.
    fn set_epoch(&mut self, _epoch: usize) {}

    /// Epochs at whose start the trainer replaces the optimiser with a fresh one
    /// and restarts the LR schedule (none by default).
    fn optimizer_restarts(&self) -> Vec<usize> {
        Vec::new()
    }

    /// Restarts the backbone's dropout / drop-path generator (the trainer calls
    /// it once per epoch with a seed derived from the run's seed, so resumed runs
    /// repeat uninterrupted ones).
    fn reseed(&self, seed: u64);
}

/// Is this `VarMap` entry a buffer (BatchNorm running statistics, MAT's RIL
/// feature centres) rather than a trainable parameter?
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("running_mean")
        || name.ends_with("running_var")
        || name.ends_with("feature_centers")
}

/// `softmax(logits)[:, 1]` of `(B, 2)` logits, as `f32`.
pub fn fake_probability(logits: &Tensor) -> Result<Vec<f32>> {
    let (_, c) = logits.dims2().map_err(|_| {
        Error::invalid(format!(
            "expected (B, 2) logits, got shape {:?}",
            logits.dims()
        ))
    })?;
    if c != 2 {
        return Err(Error::invalid(format!(
            "expected 2-class logits, got {c} classes"
        )));
    }
    let p = candle_nn::ops::softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
    Ok(p.narrow(1, 1, 1)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Checks a batch and its labels: `images` `(B, 3, H, W)`, `labels` `B` values in
/// {0, 1}; returns the labels as a `Vec`.
pub fn check_batch(images: &Tensor, labels: &Tensor) -> Result<Vec<u32>> {
    let &[b, c, _, _] = images.dims() else {
        return Err(Error::invalid(format!(
            "detector input must be a (B, 3, H, W) batch, got shape {:?}",
            images.dims()
        )));
    };
    if c != 3 {
        return Err(Error::invalid(format!(
            "detector input must have 3 (RGB) channels, got {c}"
        )));
    }
    let y: Vec<u32> = labels
        .to_dtype(DType::U32)
        .and_then(|l| l.flatten_all()?.to_vec1::<u32>())
        .map_err(|e| Error::invalid(format!("labels: {e}")))?;
    if labels.rank() != 1 || y.len() != b {
        return Err(Error::invalid(format!(
            "labels must be a vector of {b} values, got shape {:?}",
            labels.dims()
        )));
    }
    if let Some(v) = y.iter().find(|&&v| v > 1) {
        return Err(Error::invalid(format!(
            "labels must be 0 (real) or 1 (fake), got {v}"
        )));
    }
    Ok(y)
}

/// The labels as a `u32` tensor on `device` (for cross-entropy).
pub(crate) fn label_tensor(y: &[u32], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(y, y.len(), device)?)
}

/// The value of a scalar tensor as `f64`.
pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Cross-entropy of `(B, C)` logits against `u32` labels.
pub(crate) fn cross_entropy(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(logits, y)?)
}

/// A backbone choice: Xception or EfficientNet, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneConfig {
    /// Xception (FaceForensics++'s and DeepfakeBench's baseline; SPSL's network).
    Xception(XceptionConfig),
    /// EfficientNet (MAT's backbone, B4).
    EfficientNet(EfficientNetConfig),
}

impl BackboneConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            BackboneConfig::Xception(c) => c.validate(),
            BackboneConfig::EfficientNet(c) => c.validate(),
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        match self {
            BackboneConfig::Xception(c) => c.in_channels,
            BackboneConfig::EfficientNet(c) => c.in_channels,
        }
    }

    /// Output classes of the backbone's own head.
    pub fn num_classes(&self) -> usize {
        match self {
            BackboneConfig::Xception(c) => c.num_classes,
            BackboneConfig::EfficientNet(c) => c.num_classes,
        }
    }

    /// The feature taps, in network order.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        match self {
            BackboneConfig::Xception(c) => c.feature_info(),
            BackboneConfig::EfficientNet(c) => c.feature_info(),
        }
    }
}

/// A built backbone (see [`BackboneConfig`]).
// Built once per model; boxing would only add an indirection to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Backbone {
    /// Xception.
    Xception(Xception),
    /// EfficientNet.
    EfficientNet(EfficientNet),
}

impl Backbone {
    /// Builds the backbone's variables under `vb`.
    pub fn new(vb: VarBuilder, cfg: &BackboneConfig) -> Result<Self> {
        Ok(match cfg {
            BackboneConfig::Xception(c) => Backbone::Xception(Xception::new(vb, c)?),
            BackboneConfig::EfficientNet(c) => Backbone::EfficientNet(EfficientNet::new(vb, c)?),
        })
    }

    /// Logits of the backbone's own head (global pool → linear).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Backbone::Xception(n) => n.forward_t(x, train),
            Backbone::EfficientNet(n) => n.forward_t(x, train),
        }
    }

    /// All named feature taps.
    pub fn forward_features_t(&self, x: &Tensor, train: bool) -> Result<FeatureMaps> {
        match self {
            Backbone::Xception(n) => n.forward_features_t(x, train),
            Backbone::EfficientNet(n) => n.forward_features_t(x, train),
        }
    }

    /// The backbone's head on its `final` tap.
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Backbone::Xception(n) => n.forward_head(features, train),
            Backbone::EfficientNet(n) => n.forward_head(features, train),
        }
    }

    /// The feature taps, in network order.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        match self {
            Backbone::Xception(n) => n.feature_info(),
            Backbone::EfficientNet(n) => n.feature_info(),
        }
    }

    /// Channels of `final`.
    pub fn num_features(&self) -> usize {
        match self {
            Backbone::Xception(n) => n.num_features(),
            Backbone::EfficientNet(n) => n.num_features(),
        }
    }

    /// Restarts the dropout / drop-path generator.
    pub fn reseed(&self, seed: u64) {
        match self {
            Backbone::Xception(n) => n.reseed(seed),
            Backbone::EfficientNet(n) => n.reseed(seed),
        }
    }
}

/// The serialisable choice of detector.
// A configuration value, built once; unboxed variants keep literals simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DetectorConfig {
    /// Backbone + global pooling + linear head.
    Vanilla(VanillaConfig),
    /// Multi-attentional detection.
    Mat(MatConfig),
    /// Spatial-phase shallow learning.
    Spsl(SpslConfig),
}

impl DetectorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            DetectorConfig::Vanilla(c) => c.validate(),
            DetectorConfig::Mat(c) => c.validate(),
            DetectorConfig::Spsl(c) => c.validate(),
        }
    }

    /// Builds the detector, creating its variables under `vb`.
    pub fn build(&self, vb: VarBuilder) -> Result<Box<dyn Detector>> {
        Ok(match self {
            DetectorConfig::Vanilla(c) => Box::new(Vanilla::new(vb, c)?),
            DetectorConfig::Mat(c) => Box::new(Mat::new(vb, c)?),
            DetectorConfig::Spsl(c) => Box::new(Spsl::new(vb, c)?),
        })
    }

    /// Builds the detector in a fresh `VarMap` whose variables are initialised
    /// from `seed` (f32, on `device`).
    pub fn build_seeded(&self, seed: u64, device: &Device) -> Result<(VarMap, Box<dyn Detector>)> {
        let vm = VarMap::new();
        let vb = candor_core::init::seeded_var_builder(&vm, seed, DType::F32, device);
        let det = self.build(vb)?;
        Ok((vm, det))
    }
}
