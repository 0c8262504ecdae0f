//! Evaluation protocol of both papers (DeepfakeBench `training/metrics/utils.py`,
//! official MAT `evaluation.py`; card: `shared/papers/forgery-spsl.md`, "Metrics").
//!
//! * **Frame level**: the score of a frame is the detector's `softmax[:, 1]`
//!   (probability of *fake*); ACC counts `score > 0.5` (strict) as fake; AUC, EER
//!   and AP are scikit-learn's (`roc_curve` + trapezoidal `auc`, EER as
//!   DeepfakeBench: fpr at the first argmin `|fnr − fpr|`, AP the step-wise sum),
//!   all from [`candor_core::metrics`].
//! * **Video level**: frames are grouped by [`Sample::video_key`] (unique across
//!   methods; DeepfakeBench groups by the parent folder), a video's score is the
//!   mean of its frames' scores and its label `⌊mean label⌋`; video AUC and ACC are
//!   computed over videos (official MAT reports both).
//!
//! A metric that is undefined on the given data (AUC, EER or AP with one class
//! only) is `NaN` (serialised as `null`), never a panic; non-finite scores are an
//! error. Select checkpoints on a validation split, never on the test set (the
//! DeepfakeBench protocol caveat in the card).
//!
//! ```
//! use candor_forgery::eval::{frame_metrics, video_scores};
//! let y = [false, false, true, true, false, true, true, false, true, false];
//! let p = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.4, 0.2, 0.65, 0.7];
//! let m = frame_metrics(&p, &y).unwrap();
//! assert!((m.auc - 0.76).abs() < 1e-12 && (m.eer - 0.2).abs() < 1e-12);
//! assert!((m.ap - 0.789286).abs() < 1e-6 && (m.acc - 0.7).abs() < 1e-12);
//! let keys: Vec<String> = [0, 0, 2, 2, 1, 3, 3, 1, 3, 1].iter().map(|g| g.to_string()).collect();
//! let labels: Vec<u32> = y.iter().map(|&b| b as u32).collect();
//! let (vs, vl) = video_scores(&p, &labels, &keys).unwrap();
//! assert_eq!(vl, [false, false, true, true]);
//! assert!((vs[1] - 0.4333333).abs() < 1e-6);
//! assert_eq!(candor_core::metrics::roc_auc(&vs, &vl).unwrap(), 1.0);
//! ```

use std::collections::BTreeMap;

use candle_core::Device;
use candor_core::metrics;
use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::data::{load_batch, LoadOptions, Sample};
use crate::model::Detector;

/// Serialise `f64` with NaN as JSON `null` (and back).
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Frame-level metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMetrics {
    /// Accuracy at `score > 0.5`.
    pub acc: f64,
    /// ROC AUC (NaN with one class).
    pub auc: f64,
    /// Equal error rate (NaN with one class).
    pub eer: f64,
    /// Average precision (NaN with one class).
    pub ap: f64,
}

/// All metrics of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Frames evaluated.
    pub frames: usize,
    /// Videos evaluated.
    pub videos: usize,
    /// Frame accuracy at 0.5.
    #[serde(with = "nan_as_null")]
    pub acc: f64,
    /// Frame AUC.
    #[serde(with = "nan_as_null")]
    pub auc: f64,
    /// Frame EER.
    #[serde(with = "nan_as_null")]
    pub eer: f64,
    /// Frame AP.
    #[serde(with = "nan_as_null")]
    pub ap: f64,
    /// Video AUC (mean frame score per video).
    #[serde(with = "nan_as_null")]
    pub video_auc: f64,
    /// Video accuracy at 0.5.
    #[serde(with = "nan_as_null")]
    pub video_acc: f64,
}

/// A metric to select checkpoints by (higher is better, EER is negated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Frame accuracy (official MAT).
    Acc,
    /// Frame AUC (DeepfakeBench's `metric_scoring: auc`).
    #[default]
    Auc,
    /// Video AUC.
    VideoAuc,
    /// Average precision.
    Ap,
    /// Equal error rate (lower is better).
    Eer,
}

impl Metrics {
    /// The value of `which`, oriented so that higher is better (NaN if undefined).
    pub fn score(&self, which: SelectMetric) -> f64 {
        match which {
            SelectMetric::Acc => self.acc,
            SelectMetric::Auc => self.auc,
            SelectMetric::VideoAuc => self.video_auc,
            SelectMetric::Ap => self.ap,
            SelectMetric::Eer => -self.eer,
        }
    }
}

/// Frame-level ACC/AUC/EER/AP of `scores` (probability of fake) against labels
/// (`true` = fake). Errors on empty input, length mismatch or non-finite scores;
/// AUC, EER and AP are NaN when only one class is present.
pub fn frame_metrics(scores: &[f64], labels: &[bool]) -> Result<FrameMetrics> {
    let acc = metrics::accuracy(scores, labels, 0.5)?;
    let both = labels.iter().any(|&l| l) && labels.iter().any(|&l| !l);
    if !both {
        return Ok(FrameMetrics {
            acc,
            auc: f64::NAN,
            eer: f64::NAN,
            ap: f64::NAN,
        });
    }
    Ok(FrameMetrics {
        acc,
        auc: metrics::roc_auc(scores, labels)?,
        eer: metrics::eer(scores, labels)?,
        ap: metrics::average_precision(scores, labels)?,
    })
}

/// Video-level scores and labels: frames grouped by `keys`, score = mean frame
/// score, label = `⌊mean label⌋ ≥ 1`. Videos come out sorted by key.
pub fn video_scores(
    scores: &[f64],
    labels: &[u32],
    keys: &[String],
) -> Result<(Vec<f64>, Vec<bool>)> {
    if scores.len() != labels.len() || scores.len() != keys.len() {
        return Err(Error::invalid(format!(
            "video_scores: {} scores, {} labels, {} keys",
            scores.len(),
            labels.len(),
            keys.len()
        )));
    }
    let mut groups: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    for ((s, &l), k) in scores.iter().zip(labels).zip(keys) {
        let e = groups.entry(k.as_str()).or_insert((0.0, 0.0, 0));
        e.0 += s;
        e.1 += f64::from(l.min(1));
        e.2 += 1;
    }
    Ok(groups
        .values()
        .map(|&(s, l, n)| (s / n as f64, (l / n as f64).floor() >= 1.0))
        .unzip())
}

/// All metrics from per-frame scores of `samples` (same order).
pub fn metrics_from_scores(scores: &[f32], samples: &[Sample]) -> Result<Metrics> {
    if scores.len() != samples.len() {
        return Err(Error::invalid(format!(
            "{} scores for {} samples",
            scores.len(),
            samples.len()
        )));
    }
    let s: Vec<f64> = scores.iter().map(|&v| f64::from(v)).collect();
    let labels: Vec<u32> = samples.iter().map(|x| x.label).collect();
    let y: Vec<bool> = labels.iter().map(|&l| l != 0).collect();
    let f = frame_metrics(&s, &y)?;
    let keys: Vec<String> = samples.iter().map(Sample::video_key).collect();
    let (vs, vy) = video_scores(&s, &labels, &keys)?;
    let v = frame_metrics(&vs, &vy)?;
    Ok(Metrics {
        frames: s.len(),
        videos: vs.len(),
        acc: f.acc,
        auc: f.auc,
        eer: f.eer,
        ap: f.ap,
        video_auc: v.auc,
        video_acc: v.acc,
    })
}

/// How [`evaluate`] loads frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalOptions {
    /// Frames per forward pass.
    pub batch_size: usize,
    /// Decoding: size, fit, normalisation (as in training).
    pub load: LoadOptions,
}

impl EvalOptions {
    /// Batches of `batch_size` frames at `size × size`, `(x − 0.5)/0.5`.
    pub fn sized(size: usize, batch_size: usize) -> Self {
        Self {
            batch_size,
            load: LoadOptions::sized(size, size),
        }
    }
}

/// Evaluation-mode scores (probability of fake) of every sample, in order. Frames
/// are decoded on the CPU and each batch is moved to `device` (the detector's).
pub fn predict(
    detector: &dyn Detector,
    samples: &[Sample],
    opts: &EvalOptions,
    device: &Device,
) -> Result<Vec<f32>> {
    if opts.batch_size == 0 {
        return Err(Error::invalid("evaluation batch size must be positive"));
    }
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(opts.batch_size) {
        let (x, _) = load_batch(chunk, &opts.load)?;
        out.extend(detector.scores(&x.to_device(device)?)?);
    }
    Ok(out)
}

/// Frame- and video-level metrics of `detector` (whose variables live on `device`)
/// on `samples`.
pub fn evaluate(
    detector: &dyn Detector,
    samples: &[Sample],
    opts: &EvalOptions,
    device: &Device,
) -> Result<Metrics> {
    if samples.is_empty() {
        return Err(Error::invalid("cannot evaluate on zero samples"));
    }
    let scores = predict(detector, samples, opts, device)?;
    metrics_from_scores(&scores, samples)
}
