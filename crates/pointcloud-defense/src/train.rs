//! PointNet training and evaluation, as `charlesq34/pointnet` `train.py`
//! (the default) or IF-Defense's recipe.
//!
//! * Each cloud contributes its first [`TrainConfig::num_points`] points (TF:
//!   the first 1024 of ModelNet40's 2048).
//! * Augmentation (both recipes): a rotation about the up (`y`) axis by
//!   `U[0, 2π)` and jitter `clip(N(0, σ²), ±c)` per coordinate, σ = 0.01,
//!   c = 0.05 (`provider.rotate_point_cloud`, `provider.jitter_point_cloud`).
//! * Loss: mean cross-entropy plus `ortho_weight` (0.001) times the feature
//!   transform's orthogonality penalty (TF variant only).
//! * Adam (β = (0.9, 0.999), coupled L2 `weight_decay`) with a per-step
//!   [`LrSchedule`]: TF's staircase `lr · 0.7^⌊samples / 200 000⌋` floored at
//!   1e-5, or IF-Defense's cosine over the epochs to 1e-5. TF also decays the
//!   BatchNorm momentum ([`BnMomentumSchedule`]).
//! * Mini-batches are reshuffled every epoch from `derive(seed, "epoch/<e>")`,
//!   and a last incomplete batch is dropped (as `train.py`); augmentation and
//!   dropout draw from the same per-epoch streams, so a run resumed from a
//!   checkpoint matches an uninterrupted one bit for bit.
//! * Checkpoints (model, BatchNorm statistics, optimiser state, history) go
//!   through `candor_core::checkpoint::save_training`, written atomically
//!   after every epoch.

use std::f64::consts::PI;
use std::path::Path;

use candle_core::Tensor;
use candle_nn::VarMap;
use candor_core::checkpoint::{load_training, save_training};
use candor_core::data::shuffled_batches;
use candor_core::metrics::accuracy_from_predictions;
use candor_core::optim::{Adam, AdamConfig, Optim, Schedule};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use crate::data::PointCloudSet;
use crate::model::pointnet::{clouds_to_tensor, trainable_vars, PointNet};

/// Learning-rate schedule, evaluated before every step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LrSchedule {
    /// TF: `lr · gamma^⌊samples_seen / decay_samples⌋`, at least `min_lr`.
    TfExponential {
        /// Training samples per decay (TF: 200 000).
        decay_samples: usize,
        /// Decay factor (TF: 0.7).
        gamma: f64,
        /// Floor (TF: 1e-5).
        min_lr: f64,
    },
    /// IF-Defense: cosine annealing over all epochs down to `eta_min` (1e-5),
    /// stepped per epoch.
    Cosine {
        /// Final learning rate.
        eta_min: f64,
    },
}

impl LrSchedule {
    /// The learning rate for base rate `lr` at `epoch` after `samples_seen`
    /// training samples, in a run of `epochs` epochs.
    pub fn lr_at(&self, lr: f64, epoch: usize, samples_seen: usize, epochs: usize) -> f64 {
        match *self {
            LrSchedule::TfExponential {
                decay_samples,
                gamma,
                min_lr,
            } => {
                let k = samples_seen / decay_samples.max(1);
                (lr * gamma.powi(k.min(i32::MAX as usize) as i32)).max(min_lr)
            }
            LrSchedule::Cosine { eta_min } => Schedule::Cosine {
                t_max: epochs.max(1),
                eta_min,
            }
            .lr_at(lr, epoch),
        }
    }
}

/// TF's BatchNorm schedule in PyTorch's momentum convention:
/// `max(min, init · rate^⌊samples_seen / decay_samples⌋)` (TF's decay
/// `min(0.99, 1 − 0.5·0.5^…)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BnMomentumSchedule {
    /// Initial momentum (0.5).
    pub init: f64,
    /// Decay factor (0.5).
    pub rate: f64,
    /// Training samples per decay (200 000).
    pub decay_samples: usize,
    /// Floor (0.01, i.e. TF's decay clip 0.99).
    pub min: f64,
}

impl Default for BnMomentumSchedule {
    fn default() -> Self {
        BnMomentumSchedule {
            init: 0.5,
            rate: 0.5,
            decay_samples: 200_000,
            min: 0.01,
        }
    }
}

impl BnMomentumSchedule {
    /// The momentum after `samples_seen` samples.
    pub fn momentum_at(&self, samples_seen: usize) -> f64 {
        let k = samples_seen / self.decay_samples.max(1);
        (self.init * self.rate.powi(k.min(i32::MAX as usize) as i32)).max(self.min)
    }
}

/// Training settings. [`Default`] is `charlesq34/pointnet` `train.py`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs (TF: 250; IF-Defense: 200).
    pub epochs: usize,
    /// Clouds per batch (32); at least 2.
    pub batch_size: usize,
    /// Points per cloud: the first `num_points` of each (1024).
    pub num_points: usize,
    /// Base learning rate (1e-3).
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// Coupled L2 weight decay (TF: 0; IF-Defense: 1e-4).
    pub weight_decay: f64,
    /// BatchNorm momentum schedule (TF); `None` keeps the model's momentum.
    pub bn_momentum: Option<BnMomentumSchedule>,
    /// Weight of the feature-transform orthogonality penalty (0.001).
    pub ortho_weight: f64,
    /// Random rotation about the up axis.
    pub rotate: bool,
    /// Jitter standard deviation (0.01; 0 disables jitter).
    pub jitter_sigma: f64,
    /// Jitter clip (0.05).
    pub jitter_clip: f64,
    /// Evaluate on the test set every this many epochs and after the last
    /// (0: only after the last).
    pub eval_every: usize,
    /// Seed of shuffling, augmentation and dropout.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::tf_original()
    }
}

impl TrainConfig {
    /// `charlesq34/pointnet` `train.py`.
    pub fn tf_original() -> Self {
        TrainConfig {
            epochs: 250,
            batch_size: 32,
            num_points: 1024,
            lr: 1e-3,
            schedule: LrSchedule::TfExponential {
                decay_samples: 200_000,
                gamma: 0.7,
                min_lr: 1e-5,
            },
            weight_decay: 0.0,
            bn_momentum: Some(BnMomentumSchedule::default()),
            ortho_weight: 1e-3,
            rotate: true,
            jitter_sigma: 0.01,
            jitter_clip: 0.05,
            eval_every: 1,
            seed: 0,
        }
    }

    /// IF-Defense's recipe (use with `PointNetConfig::if_defense`).
    pub fn if_defense() -> Self {
        TrainConfig {
            epochs: 200,
            schedule: LrSchedule::Cosine { eta_min: 1e-5 },
            weight_decay: 1e-4,
            bn_momentum: None,
            ortho_weight: 0.0,
            ..Self::tf_original()
        }
    }

    /// The TF recipe shrunk for tests: 16 epochs of batch 8 on 64 points at
    /// lr 2e-3, the decay intervals scaled down with the data (1 000 samples).
    pub fn tiny() -> Self {
        TrainConfig {
            epochs: 16,
            batch_size: 8,
            num_points: 64,
            lr: 2e-3,
            schedule: LrSchedule::TfExponential {
                decay_samples: 1_000,
                gamma: 0.7,
                min_lr: 1e-5,
            },
            bn_momentum: Some(BnMomentumSchedule {
                decay_samples: 1_000,
                ..Default::default()
            }),
            eval_every: 0,
            ..Self::tf_original()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size < 2 {
            return Err(Error::invalid("batch_size must be at least 2 (BatchNorm)"));
        }
        if self.num_points == 0 {
            return Err(Error::invalid("num_points must be positive"));
        }
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !(finite_nonneg(self.lr)
            && finite_nonneg(self.weight_decay)
            && finite_nonneg(self.ortho_weight)
            && finite_nonneg(self.jitter_sigma)
            && finite_nonneg(self.jitter_clip))
        {
            return Err(Error::invalid(
                "lr, weight_decay, ortho_weight and jitter settings must be finite and ≥ 0",
            ));
        }
        match self.schedule {
            LrSchedule::TfExponential {
                decay_samples,
                gamma,
                min_lr,
            } => {
                if decay_samples == 0 || !finite_nonneg(gamma) || !finite_nonneg(min_lr) {
                    return Err(Error::invalid(
                        "TfExponential needs decay_samples ≥ 1 and finite gamma, min_lr ≥ 0",
                    ));
                }
            }
            LrSchedule::Cosine { eta_min } => {
                if !finite_nonneg(eta_min) {
                    return Err(Error::invalid("Cosine eta_min must be finite and ≥ 0"));
                }
            }
        }
        if let Some(bn) = &self.bn_momentum {
            if bn.decay_samples == 0
                || !(0.0..=1.0).contains(&bn.init)
                || !(0.0..=1.0).contains(&bn.min)
                || !finite_nonneg(bn.rate)
            {
                return Err(Error::invalid(
                    "bn_momentum needs decay_samples ≥ 1, init and min in [0, 1], rate ≥ 0",
                ));
            }
        }
        Ok(())
    }
}

/// Rotates a flat `x y z` cloud about the `y` axis by `angle` (TF's
/// `rotate_point_cloud`: row vectors times `[[c, 0, s], [0, 1, 0], [−s, 0, c]]`).
pub fn rotate_y(points: &mut [f32], angle: f64) {
    let (c, s) = (angle.cos(), angle.sin());
    for p in points.chunks_exact_mut(3) {
        let (x, z) = (f64::from(p[0]), f64::from(p[2]));
        p[0] = (x * c - z * s) as f32;
        p[2] = (x * s + z * c) as f32;
    }
}

/// Adds `clip(σ·N(0, 1), ±clip)` to every coordinate (TF's `jitter_point_cloud`).
pub fn jitter(points: &mut [f32], sigma: f64, clip: f64, rng: &mut SeededRng) {
    for v in points.iter_mut() {
        *v += (sigma * rng.normal()).clamp(-clip, clip) as f32;
    }
}

/// The training augmentation of `cfg` on one cloud: rotation, then jitter.
pub fn augment(points: &mut [f32], cfg: &TrainConfig, rng: &mut SeededRng) {
    if cfg.rotate {
        rotate_y(points, rng.uniform_range(0.0, 2.0 * PI));
    }
    if cfg.jitter_sigma > 0.0 {
        jitter(points, cfg.jitter_sigma, cfg.jitter_clip, rng);
    }
}

/// Statistics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean training loss (cross-entropy + penalty) over the epoch's batches.
    pub loss: f64,
    /// Training accuracy of the (augmented, training-mode) batches.
    pub train_accuracy: f64,
    /// Test accuracy, where evaluated this epoch.
    pub test_accuracy: Option<f64>,
}

/// What [`train`] returns (and stores in its checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// One entry per finished epoch, resumed epochs included.
    pub history: Vec<EpochStats>,
    /// Optimiser steps taken.
    pub steps: usize,
}

impl TrainReport {
    /// The last test accuracy measured, if any.
    pub fn final_test_accuracy(&self) -> Option<f64> {
        self.history.iter().rev().find_map(|e| e.test_accuracy)
    }
}

/// Evaluation of a classifier on a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Overall accuracy (summed counts, every cloud once).
    pub accuracy: f64,
    /// Mean of the per-class accuracies over the classes present.
    pub class_accuracy: f64,
    /// Predicted class per cloud, in set order.
    pub predictions: Vec<usize>,
}

fn check_set(set: &PointCloudSet, num_points: usize) -> Result<()> {
    if set.labels.is_empty() {
        return Err(Error::invalid("empty point cloud set"));
    }
    if set.num_points < num_points {
        return Err(Error::invalid(format!(
            "the set has {} points per cloud, {num_points} requested",
            set.num_points
        )));
    }
    Ok(())
}

/// The first `num_points` points of cloud `i`.
fn cloud(set: &PointCloudSet, i: usize, num_points: usize) -> &[f32] {
    let start = i * set.num_points * 3;
    &set.points[start..start + num_points * 3]
}

/// Evaluation-mode accuracy of `net` on the first `num_points` points of every
/// cloud of `set`, in batches of `batch_size` (no augmentation).
pub fn evaluate(
    net: &PointNet,
    set: &PointCloudSet,
    num_points: usize,
    batch_size: usize,
) -> Result<Evaluation> {
    check_set(set, num_points)?;
    if num_points == 0 || batch_size == 0 {
        return Err(Error::invalid("num_points and batch_size must be positive"));
    }
    let n = set.labels.len();
    let mut predictions = Vec::with_capacity(n);
    for start in (0..n).step_by(batch_size) {
        let clouds: Vec<&[f32]> = (start..(start + batch_size).min(n))
            .map(|i| cloud(set, i, num_points))
            .collect();
        predictions.extend(net.predict(&clouds_to_tensor(&clouds, net.device())?)?);
    }
    let labels: Vec<usize> = set.labels.iter().map(|&l| l as usize).collect();
    let accuracy = accuracy_from_predictions(&predictions, &labels)?;
    let num_classes = set.class_names.len().max(1);
    let mut correct = vec![0usize; num_classes];
    let mut total = vec![0usize; num_classes];
    for (&p, &l) in predictions.iter().zip(&labels) {
        total[l] += 1;
        correct[l] += usize::from(p == l);
    }
    let per_class: Vec<f64> = correct
        .iter()
        .zip(&total)
        .filter(|(_, &t)| t > 0)
        .map(|(&c, &t)| c as f64 / t as f64)
        .collect();
    let class_accuracy = per_class.iter().sum::<f64>() / per_class.len() as f64;
    Ok(Evaluation {
        accuracy,
        class_accuracy,
        predictions,
    })
}

/// Trains `net` (whose variables live in `varmap`) on `train_set`, evaluating
/// on `test_set` where given.
///
/// With `checkpoint = Some(path)`, the state is saved to `path` after every
/// epoch, and a run whose `path` already exists resumes from it (continuing
/// up to `cfg.epochs`; the same `cfg` is expected).
pub fn train(
    net: &mut PointNet,
    varmap: &VarMap,
    train_set: &PointCloudSet,
    test_set: Option<&PointCloudSet>,
    cfg: &TrainConfig,
    checkpoint: Option<&Path>,
) -> Result<TrainReport> {
    cfg.validate()?;
    check_set(train_set, cfg.num_points)?;
    if let Some(t) = test_set {
        check_set(t, cfg.num_points)?;
    }
    let n_classes = net.config().num_classes;
    if let Some(&l) = train_set.labels.iter().find(|&&l| l as usize >= n_classes) {
        return Err(Error::invalid(format!(
            "label {l} out of range for a {n_classes}-class network"
        )));
    }
    let n = train_set.labels.len();
    if n < cfg.batch_size {
        return Err(Error::invalid(format!(
            "{n} training clouds are fewer than one batch of {}",
            cfg.batch_size
        )));
    }
    let vars = trainable_vars(varmap)
        .into_iter()
        .map(|(_, v)| v)
        .collect::<Vec<_>>();
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let mut report = match checkpoint {
        Some(path) if path.exists() => load_training::<TrainReport>(path, varmap, &mut opt)?,
        _ => TrainReport::default(),
    };
    let device = net.device().clone();
    for epoch in report.history.len()..cfg.epochs {
        let mut rng = SeededRng::derive(cfg.seed, &format!("epoch/{epoch}"));
        let batches = shuffled_batches(n, cfg.batch_size, true, &mut rng)?;
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut lr = opt.learning_rate();
        for batch in &batches {
            let samples = report.steps * cfg.batch_size;
            lr = cfg.schedule.lr_at(cfg.lr, epoch, samples, cfg.epochs);
            opt.set_learning_rate(lr);
            if let Some(bn) = &cfg.bn_momentum {
                net.set_bn_momentum(bn.momentum_at(samples));
            }
            let mut clouds: Vec<Vec<f32>> = batch
                .iter()
                .map(|&i| cloud(train_set, i, cfg.num_points).to_vec())
                .collect();
            for c in &mut clouds {
                augment(c, cfg, &mut rng);
            }
            let refs: Vec<&[f32]> = clouds.iter().map(Vec::as_slice).collect();
            let x = clouds_to_tensor(&refs, &device)?;
            let labels: Vec<u32> = batch.iter().map(|&i| train_set.labels[i]).collect();
            let y = Tensor::new(labels.as_slice(), &device)?;
            let out = net.forward_train(&x, &mut rng)?;
            let loss = net.loss(&out, &y, cfg.ortho_weight)?;
            let loss_v = f64::from(loss.to_scalar::<f32>()?);
            if !loss_v.is_finite() {
                return Err(Error::invalid(format!(
                    "non-finite training loss at epoch {epoch}, step {}",
                    report.steps
                )));
            }
            opt.backward_step(&loss)?;
            report.steps += 1;
            loss_sum += loss_v;
            let pred = out
                .logits
                .argmax(candle_core::D::Minus1)?
                .to_vec1::<u32>()?;
            correct += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
            seen += labels.len();
        }
        let last = epoch + 1 == cfg.epochs;
        let due = cfg.eval_every > 0 && (epoch + 1) % cfg.eval_every == 0;
        let test_accuracy = match test_set {
            Some(t) if last || due => {
                Some(evaluate(net, t, cfg.num_points, cfg.batch_size)?.accuracy)
            }
            _ => None,
        };
        report.history.push(EpochStats {
            epoch,
            lr,
            loss: loss_sum / batches.len() as f64,
            train_accuracy: correct as f64 / seen as f64,
            test_accuracy,
        });
        if let Some(path) = checkpoint {
            save_training(path, varmap, &opt, &report)?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{generate_split, Split, SyntheticConfig};
    use crate::model::PointNetConfig;
    use candle_core::{DType, Device};
    use candor_core::init::{seeded_var_builder, sorted_vars};

    fn data() -> (PointCloudSet, PointCloudSet) {
        let cfg = SyntheticConfig {
            num_classes: 4,
            train_per_class: 16,
            test_per_class: 6,
            num_points: 64,
            ..SyntheticConfig::tiny()
        };
        (
            generate_split(&cfg, Split::Train).unwrap(),
            generate_split(&cfg, Split::Test).unwrap(),
        )
    }

    fn build() -> (VarMap, PointNet) {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 7, DType::F32, &Device::Cpu);
        let net = PointNet::new(vb, &PointNetConfig::tiny()).unwrap();
        (vm, net)
    }

    #[test]
    fn schedules_match_tf() {
        let s = TrainConfig::tf_original().schedule;
        assert_eq!(s.lr_at(1e-3, 0, 199_999, 250), 1e-3);
        assert!((s.lr_at(1e-3, 0, 200_000, 250) - 7e-4).abs() < 1e-15);
        assert!((s.lr_at(1e-3, 0, 400_000, 250) - 4.9e-4).abs() < 1e-15);
        assert_eq!(s.lr_at(1e-3, 0, 1_000_000_000, 250), 1e-5);
        let bn = BnMomentumSchedule::default();
        assert_eq!(bn.momentum_at(0), 0.5);
        assert_eq!(bn.momentum_at(200_000), 0.25);
        assert_eq!(bn.momentum_at(100_000_000), 0.01);
        let c = LrSchedule::Cosine { eta_min: 1e-5 };
        assert_eq!(c.lr_at(1e-3, 0, 0, 200), 1e-3);
        assert!((c.lr_at(1e-3, 200, 0, 200) - 1e-5).abs() < 1e-15);
    }

    #[test]
    fn augmentation_rotates_about_y_and_clips_jitter() {
        let mut p = vec![1.0f32, 2.0, 0.0];
        rotate_y(&mut p, PI / 2.0);
        assert!(p[0].abs() < 1e-6 && p[1] == 2.0 && (p[2] - 1.0).abs() < 1e-6);
        let mut z = vec![0.0f32; 3000];
        jitter(&mut z, 1.0, 0.05, &mut SeededRng::new(0));
        assert!(z.iter().all(|v| v.abs() <= 0.05));
        assert!(z.iter().any(|&v| v != 0.0));
        // rotation keeps distances to the y axis
        let mut q = vec![0.3f32, -0.2, 0.4];
        augment(
            &mut q,
            &TrainConfig {
                jitter_sigma: 0.0,
                ..TrainConfig::tiny()
            },
            &mut SeededRng::new(3),
        );
        assert!(((q[0] * q[0] + q[2] * q[2]) - 0.25).abs() < 1e-6 && q[1] == -0.2);
    }

    #[test]
    fn tiny_training_lowers_loss_and_beats_chance() {
        let (train_set, test_set) = data();
        let (vm, mut net) = build();
        let cfg = TrainConfig::tiny();
        let report = train(&mut net, &vm, &train_set, Some(&test_set), &cfg, None).unwrap();
        let first = report.history.first().unwrap().loss;
        let last = report.history.last().unwrap().loss;
        assert!(last < first, "loss {first} → {last}");
        let acc = report.final_test_accuracy().unwrap();
        assert!(acc > 0.5, "test accuracy {acc} (chance 0.25)");
        let ev = evaluate(&net, &test_set, 64, 5).unwrap();
        assert_eq!(ev.accuracy, acc);
        assert_eq!(ev.predictions.len(), 24);
        assert!(ev.class_accuracy > 0.25);
    }

    #[test]
    fn resumed_training_matches_uninterrupted() {
        let (train_set, _) = data();
        let cfg = TrainConfig {
            epochs: 3,
            ..TrainConfig::tiny()
        };
        let (vm_a, mut net_a) = build();
        let ra = train(&mut net_a, &vm_a, &train_set, None, &cfg, None).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("pointnet.safetensors");
        let (vm_b, mut net_b) = build();
        let two = TrainConfig {
            epochs: 2,
            ..cfg.clone()
        };
        train(&mut net_b, &vm_b, &train_set, None, &two, Some(&ck)).unwrap();
        let (vm_c, mut net_c) = build(); // fresh model, state from the file
        let rc = train(&mut net_c, &vm_c, &train_set, None, &cfg, Some(&ck)).unwrap();
        // (the stored history goes through JSON, exact up to the last bit)
        assert_eq!(ra.steps, rc.steps);
        assert_eq!(ra.history.len(), rc.history.len());
        for (a, c) in ra.history.iter().zip(&rc.history) {
            assert!((a.loss - c.loss).abs() < 1e-12);
            assert_eq!(a.train_accuracy, c.train_accuracy);
        }
        assert_eq!(ra.history[2], rc.history[2]); // the resumed epoch itself
                                                  // the training checkpoint loads as a model
        let (_, loaded) =
            crate::model::load_pointnet(&ck, Some(&PointNetConfig::tiny()), &Device::Cpu).unwrap();
        let x = clouds_to_tensor(
            &[cloud(&train_set, 0, 64), cloud(&train_set, 1, 64)],
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(net_c.predict(&x).unwrap(), loaded.predict(&x).unwrap());
        for ((na, a), (nc, c)) in sorted_vars(&vm_a).iter().zip(sorted_vars(&vm_c).iter()) {
            assert_eq!(na, nc);
            let (a, c) = (
                a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                c.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            assert_eq!(a, c, "{na}");
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        let (train_set, _) = data();
        let (vm, mut net) = build();
        let too_many = TrainConfig {
            num_points: 65,
            ..TrainConfig::tiny()
        };
        assert!(train(&mut net, &vm, &train_set, None, &too_many, None).is_err());
        let one = TrainConfig {
            batch_size: 1,
            ..TrainConfig::tiny()
        };
        assert!(train(&mut net, &vm, &train_set, None, &one, None).is_err());
        assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 3}"#).is_err());
        let c: TrainConfig = serde_json::from_str(r#"{"epochs": 3}"#).unwrap();
        assert_eq!(c.batch_size, 32);
    }
}
