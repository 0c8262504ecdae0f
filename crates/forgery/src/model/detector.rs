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
//! This module names no detector: each one ([`Vanilla`](super::Vanilla),
//! [`Mat`](super::Mat), [`Spsl`](super::Spsl)) implements the trait here, and
//! [`DetectorConfig`](super::DetectorConfig) in [`registry`](super::registry) is the
//! one place that lists them all, so imports only run from the detectors to this
//! module and from the registry to the detectors.

use candle_core::{DType, Device, Tensor, D};
use candor_core::{Error, Result, SeededRng};

use super::backbone::BackboneConfig;

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

    /// The backbone an ImageNet checkpoint initialises and the key prefix of its
    /// variables in this detector (`"net."` for MAT, `""` otherwise): what the
    /// trainer needs to load pretrained weights
    /// ([`backbone_spec`](super::pretrained::backbone_spec)).
    fn pretrained_backbone(&self) -> (BackboneConfig, &'static str);

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
