//! Training loop for every [`Detector`]: seeded, resumable, with per-epoch logs
//! and validation.
//!
//! # Recipes ([`TrainConfig`] presets)
//!
//! | preset | optimiser | schedule | epochs | batch | input | other |
//! |---|---|---|---|---|---|---|
//! | [`mat_official`](TrainConfig::mat_official) | AdamW lr 1e-4, betas (0.9, 0.999), wd 1e-6 | StepLR 5 / 0.5 | 20 backbone + 50 MAT | 15 | 380 centre crop | h-flip, reals oversampled, select by ACC |
//! | [`mat_deepfakebench`](TrainConfig::mat_deepfakebench) | Adam lr 2e-4, eps 1e-8, wd 1e-6 (coupled L2) | StepLR 5 / 0.5 | 50 (first 10 backbone-only) | 64 | 256 resize | no augmentation, select by AUC |
//! | [`spsl_deepfakebench`](TrainConfig::spsl_deepfakebench) | Adam lr 2e-4, wd 5e-4 (coupled L2) | none | 10 | 32 | 256 resize | h-flip (of DeepfakeBench's augmentations), select by AUC |
//! | [`vanilla`](TrainConfig::vanilla) | as SPSL (DeepfakeBench's Xception recipe) | none | 10 | 32 | 256 resize | h-flip |
//! | [`quick`](TrainConfig::quick) / [`smoke`](TrainConfig::smoke) | Adam lr 1e-3 | none | 8 / 2 | 16 / 8 | 64 / 32 | frames cached in memory; CPU minutes / seconds |
//!
//! The official MAT recipe trains the plain backbone first and starts MAT from
//! that checkpoint with a new optimiser; here both stages are one run whose
//! optimiser and LR schedule restart at the stage boundary
//! ([`Detector::optimizer_restarts`]); MAT's own `pretrain_epochs` decides where it
//! is, so the MAT presets' `epochs` include the backbone stage.
//!
//! Deviations, all deliberate: DeepfakeBench's rotation, blur, colour and JPEG
//! augmentations are not implemented (only the horizontal flip); a trailing batch
//! of one frame is skipped (BatchNorm cannot train on it; PyTorch would raise).
//!
//! # Determinism and resumption
//!
//! Every random draw of epoch `e` (shuffle, flips, real oversampling, AGDA, head
//! dropout, the backbone's dropout/drop-path generator) comes from
//! `SeededRng::derive(seed, "train/epoch{e}")`, and parameters are initialised by
//! the caller's seeded `VarBuilder`: the same seed gives the same weights on the
//! CPU. After every epoch the model (parameters and buffers), the optimiser state
//! and the history are written atomically with
//! [`candor_core::checkpoint::save_training`]; a run resumed from that file repeats
//! the uninterrupted run exactly.
//!
//! ```
//! use candor_forgery::data::{synthetic, FrameFolder, Split, Splits};
//! use candor_forgery::model::{DetectorConfig, SpslConfig};
//! use candor_forgery::train::{train, RunOptions, TrainConfig};
//!
//! # fn main() -> candor_forgery::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let data = synthetic::Config { photos: false, ..synthetic::Config::tiny() };
//! synthetic::generate(&data, dir.path())?;
//! let tree = FrameFolder::open(dir.path())?;
//! let splits = Splits::read(dir.path().join("splits.json"))?;
//! let (train_set, val_set) = (tree.select(splits.get(Split::Train)), tree.select(splits.get(Split::Val)));
//!
//! let (vm, mut det) = DetectorConfig::Spsl(SpslConfig::tiny()).build_seeded(0, &candle_core::Device::Cpu)?;
//! let cfg = TrainConfig { epochs: 1, ..TrainConfig::smoke() };
//! let report = train(det.as_mut(), &vm, &train_set, Some(&val_set), &cfg, &mut RunOptions::default())?;
//! assert_eq!(report.history.len(), 1);
//! assert!(report.history[0].mean_loss.is_finite());
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Tensor;
use candle_nn::VarMap;
use candor_core::checkpoint::{
    load_pretrained, load_training, save_training, save_varmap, Adapt, LoadReport,
};
use candor_core::imageio::{stack_batch, Filter};
use candor_core::init::sorted_vars;
use candor_core::optim::{
    clip_grad_norm, Adam, AdamConfig, AdamW, Optim, Schedule, Sgd, SgdConfig,
};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use crate::data::{load_batch, Fit, LoadOptions, Normalize, Sample};
use crate::eval::{evaluate, EvalOptions, Metrics, SelectMetric};
use crate::model::detector::{fake_probability, is_buffer};
use crate::model::pretrained::backbone_spec;
use crate::model::Detector;

/// The optimiser and its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// `torch.optim.Adam` (weight decay = coupled L2; DeepfakeBench).
    Adam(AdamConfig),
    /// `torch.optim.AdamW` (decoupled weight decay; official MAT).
    AdamW(AdamConfig),
    /// `torch.optim.SGD`.
    Sgd(SgdConfig),
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::Sgd(c) => c.lr,
        }
    }

    /// Builds the optimiser over `vars`.
    pub fn build(&self, vars: Vec<candle_core::Var>) -> Result<Box<dyn Optim>> {
        Ok(match self {
            OptimizerConfig::Adam(c) => Box::new(Adam::new(vars, *c)?),
            OptimizerConfig::AdamW(c) => Box::new(AdamW::new(vars, *c)?),
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(vars, *c)?),
        })
    }
}

/// Training settings. [`Default`] is [`TrainConfig::quick`]. Unknown keys are
/// rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs in total (for MAT including its backbone-only stage).
    pub epochs: usize,
    /// Frames per step (≥ 2: BatchNorm trains on batch statistics).
    pub batch_size: usize,
    /// Seed of every random draw of the run.
    pub seed: u64,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Epoch-indexed LR schedule (restarted with the optimiser).
    pub schedule: Schedule,
    /// Side of the square network input.
    pub image_size: usize,
    /// How frames reach `image_size` (resize or centre crop).
    pub fit: Fit,
    /// Pixel normalisation (both papers: `(x − 0.5)/0.5`).
    pub normalize: Normalize,
    /// Random horizontal flips (p = ½).
    pub hflip: bool,
    /// Oversample real frames to as many as fake ones each epoch (official MAT).
    pub balance_reals: bool,
    /// Drop the last incomplete batch of an epoch.
    pub drop_last: bool,
    /// Clip the global gradient norm to this value (none in either paper).
    pub max_grad_norm: Option<f64>,
    /// Decode the training frames once and keep them in memory.
    pub cache_frames: bool,
    /// Frames per evaluation forward pass.
    pub eval_batch_size: usize,
    /// Validation metric that picks the best epoch.
    pub select_metric: SelectMetric,
    /// Stop each epoch after this many steps (quick runs).
    pub max_steps_per_epoch: Option<usize>,
    /// A timm ImageNet checkpoint of the detector's backbone (safetensors or PyTorch
    /// `.pth`/`.bin`), loaded before the first epoch of a fresh run (not on resume):
    /// see [`crate::model::pretrained`]. `None`: random initialisation.
    pub pretrained: Option<PathBuf>,
    /// How a backbone with more than 3 input channels (SPSL's 4-channel `conv1`) is made
    /// from the file's RGB kernels; the default is the card's (DeepfakeBench's) rule.
    pub pretrained_conv1: Adapt,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::quick()
    }
}

impl TrainConfig {
    /// The official MAT recipe (`config.py`, `train.py`, `main.py`): AdamW lr 1e-4,
    /// wd 1e-6, StepLR(5, 0.5), batch 15, 380 centre crop without resizing,
    /// flips, reals oversampled, 20 + 50 epochs, best validation ACC.
    pub fn mat_official() -> Self {
        Self {
            epochs: 70,
            batch_size: 15,
            seed: 1_234_567,
            optimizer: OptimizerConfig::AdamW(AdamConfig {
                lr: 1e-4,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 1e-6,
            }),
            schedule: Schedule::Step {
                step_size: 5,
                gamma: 0.5,
            },
            image_size: 380,
            fit: Fit::CenterCrop,
            normalize: Normalize::Symmetric,
            hflip: true,
            balance_reals: true,
            drop_last: false,
            max_grad_norm: None,
            cache_frames: false,
            eval_batch_size: 32,
            select_metric: SelectMetric::Acc,
            max_steps_per_epoch: None,
            pretrained: None,
            pretrained_conv1: Adapt::InChannelsMean,
        }
    }

    /// DeepfakeBench's `multi_attention.yaml`: Adam lr 2e-4, wd 1e-6 (coupled),
    /// StepLR(5, 0.5), batch 64, 256 resize, 50 epochs (10 backbone-only), no
    /// augmentation, best AUC.
    pub fn mat_deepfakebench() -> Self {
        Self {
            epochs: 50,
            batch_size: 64,
            seed: 1024,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 2e-4,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 1e-6,
            }),
            schedule: Schedule::Step {
                step_size: 5,
                gamma: 0.5,
            },
            image_size: 256,
            fit: Fit::Resize(Filter::Bilinear),
            hflip: false,
            balance_reals: false,
            select_metric: SelectMetric::Auc,
            ..Self::mat_official()
        }
    }

    /// DeepfakeBench's `spsl.yaml`: Adam lr 2e-4, wd 5e-4 (coupled), no
    /// schedule, batch 32, 256 resize, 10 epochs, flips, best AUC.
    pub fn spsl_deepfakebench() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 2e-4,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 5e-4,
            }),
            schedule: Schedule::Constant,
            hflip: true,
            ..Self::mat_deepfakebench()
        }
    }

    /// DeepfakeBench's Xception baseline recipe (the same as SPSL's).
    pub fn vanilla() -> Self {
        Self::spsl_deepfakebench()
    }

    /// A CPU-minutes run for reduced-width, randomly initialised networks: 8
    /// epochs of batch 16 at 64 px, Adam lr 1e-3, cached frames, h-flip, best AUC.
    pub fn quick() -> Self {
        Self {
            epochs: 8,
            batch_size: 16,
            seed: 0,
            optimizer: OptimizerConfig::Adam(AdamConfig {
                lr: 1e-3,
                ..AdamConfig::default()
            }),
            schedule: Schedule::Constant,
            image_size: 64,
            fit: Fit::Resize(Filter::Bilinear),
            normalize: Normalize::Symmetric,
            hflip: true,
            balance_reals: false,
            drop_last: true,
            max_grad_norm: None,
            cache_frames: true,
            eval_batch_size: 32,
            select_metric: SelectMetric::Auc,
            max_steps_per_epoch: None,
            pretrained: None,
            pretrained_conv1: Adapt::InChannelsMean,
        }
    }

    /// A seconds-long run for tests: 2 epochs of batch 8 at 32 px.
    pub fn smoke() -> Self {
        Self {
            epochs: 2,
            batch_size: 8,
            image_size: 32,
            ..Self::quick()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("train config: {m}")));
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size must be ≥ 2 (BatchNorm trains on batch statistics), got {}",
                self.batch_size
            ));
        }
        if self.image_size < 32 {
            return bad(format!(
                "image_size must be ≥ 32 (the backbones' stride), got {}",
                self.image_size
            ));
        }
        if self.eval_batch_size == 0 {
            return bad("eval_batch_size must be positive".into());
        }
        if self.max_steps_per_epoch == Some(0) {
            return bad("max_steps_per_epoch must be positive".into());
        }
        if let Some(c) = self.max_grad_norm {
            if !(c > 0.0 && c.is_finite()) {
                return bad(format!("max_grad_norm must be positive, got {c}"));
            }
        }
        self.schedule.validate()?;
        let lr = self.optimizer.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return bad(format!("learning rate must be positive, got {lr}"));
        }
        Ok(())
    }

    /// How frames are decoded for training and evaluation.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            size: Some((self.image_size, self.image_size)),
            fit: self.fit,
            normalize: self.normalize,
        }
    }

    /// Evaluation options matching this training run.
    pub fn eval_options(&self) -> EvalOptions {
        EvalOptions {
            batch_size: self.eval_batch_size,
            load: self.load_options(),
        }
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Mean of the step losses.
    pub mean_loss: f64,
    /// Means of the named loss terms.
    pub parts: Vec<(String, f64)>,
    /// Training accuracy of the main forward pass (score > 0.5).
    pub train_acc: f64,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
    /// Validation metrics, if a validation set was given.
    pub val: Option<Metrics>,
}

/// The result of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// One entry per epoch, including epochs restored from a checkpoint.
    pub history: Vec<EpochLog>,
    /// Best validation epoch and its [`TrainConfig::select_metric`] score.
    pub best: Option<(usize, f64)>,
    /// Epochs already done in the checkpoint this run resumed from.
    pub resumed_from: Option<usize>,
    /// What [`TrainConfig::pretrained`] loaded (fresh runs with a pretrained file).
    pub pretrained: Option<LoadReport>,
}

/// Training state stored in a checkpoint's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    epochs_done: usize,
    history: Vec<EpochLog>,
    best: Option<(usize, f64)>,
    config: TrainConfig,
}

/// Where [`train`] writes and what it reports.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Resumable checkpoint, rewritten atomically after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Continue from `checkpoint` if the file exists (the configuration must
    /// match, except `epochs`).
    pub resume: bool,
    /// Model variables of the best validation epoch (needs a validation set).
    pub best: Option<PathBuf>,
    /// Show a progress bar (only drawn when stdout is a terminal).
    pub progress: bool,
    /// Called after every epoch.
    pub on_epoch: Option<&'a mut dyn FnMut(&EpochLog)>,
}

/// Where training frames come from.
enum Frames {
    Cached(Vec<Tensor>),
    Disk(LoadOptions),
}

impl Frames {
    fn batch(&self, samples: &[Sample], idx: &[usize], flips: &[bool]) -> Result<Tensor> {
        let images: Vec<Tensor> = match self {
            Frames::Cached(all) => idx.iter().map(|&i| all[i].clone()).collect(),
            Frames::Disk(opts) => {
                let chosen: Vec<Sample> = idx.iter().map(|&i| samples[i].clone()).collect();
                let (x, _) = load_batch(&chosen, opts)?;
                (0..idx.len())
                    .map(|i| x.get(i))
                    .collect::<candle_core::Result<_>>()?
            }
        };
        let images: Vec<Tensor> = images
            .into_iter()
            .zip(flips)
            .map(|(t, &f)| if f { hflip(&t) } else { Ok(t) })
            .collect::<Result<_>>()?;
        stack_batch(&images)
    }
}

/// Mirror a `C×H×W` image left–right.
fn hflip(t: &Tensor) -> Result<Tensor> {
    let w = t.dim(2)?;
    let rev: Vec<u32> = (0..w as u32).rev().collect();
    Ok(t.index_select(&Tensor::from_vec(rev, w, t.device())?, 2)?)
}

/// The sample order of one epoch: all samples, reals repeated to the number of
/// fakes when `balance` (⌊F/R⌋ copies plus a random remainder), shuffled.
fn epoch_order(samples: &[Sample], balance: bool, rng: &mut SeededRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    if balance {
        let reals: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| !samples[i].is_fake())
            .collect();
        let n_fake = samples.len() - reals.len();
        if !reals.is_empty() && n_fake > reals.len() {
            let extra = n_fake - reals.len();
            for _ in 0..extra / reals.len() {
                order.extend(&reals);
            }
            let rem = extra % reals.len();
            let mut pick = reals.clone();
            rng.shuffle(&mut pick);
            order.extend(&pick[..rem]);
        }
    }
    rng.shuffle(&mut order);
    order
}

fn trainable_vars(varmap: &VarMap) -> Vec<candle_core::Var> {
    sorted_vars(varmap)
        .into_iter()
        .filter(|(n, _)| !is_buffer(n))
        .map(|(_, v)| v)
        .collect()
}

/// Trains `detector` (whose variables live in `varmap`) on `train_set`, evaluating
/// on `val` after every epoch (see the module docs).
pub fn train(
    detector: &mut dyn Detector,
    varmap: &VarMap,
    train_set: &[Sample],
    val: Option<&[Sample]>,
    cfg: &TrainConfig,
    opts: &mut RunOptions<'_>,
) -> Result<TrainReport> {
    cfg.validate()?;
    if train_set.is_empty() {
        return Err(Error::invalid("cannot train on zero samples"));
    }
    if val.is_some_and(|v| v.is_empty()) {
        return Err(Error::invalid("the validation set is empty"));
    }
    if opts.resume && opts.checkpoint.is_none() {
        return Err(Error::invalid("resume needs a checkpoint path"));
    }
    // Frames are decoded (and cached) on the CPU; each batch moves to the
    // variables' device once.
    let device = candor_core::device::varmap_device(varmap);
    let restarts = detector.optimizer_restarts();
    let mut optim = cfg.optimizer.build(trainable_vars(varmap))?;
    let mut history = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut start = 0;
    let mut resumed_from = None;
    if let Some(path) = opts
        .checkpoint
        .as_ref()
        .filter(|p| opts.resume && p.exists())
    {
        let state: TrainState = load_training(path, varmap, optim.as_mut())?;
        let same = TrainConfig {
            epochs: 0,
            ..state.config.clone()
        } == TrainConfig {
            epochs: 0,
            ..cfg.clone()
        };
        if !same {
            return Err(Error::format(
                path,
                "the checkpoint was written with a different training configuration",
            ));
        }
        start = state.epochs_done;
        history = state.history;
        best = state.best;
        resumed_from = Some(start);
    }
    // ImageNet weights for a fresh run (a resumed one has its own).
    let pretrained = match (&cfg.pretrained, resumed_from) {
        (Some(path), None) => {
            let (backbone, prefix) = detector.pretrained_backbone();
            let spec = backbone_spec(&backbone, prefix, cfg.pretrained_conv1);
            Some(load_pretrained(varmap, path, &spec)?)
        }
        _ => None,
    };

    let frames = if cfg.cache_frames {
        let opts_l = cfg.load_options();
        let mut all = Vec::with_capacity(train_set.len());
        for chunk in train_set.chunks(64) {
            let (x, _) = load_batch(chunk, &opts_l)?;
            for i in 0..chunk.len() {
                all.push(x.get(i)?);
            }
        }
        Frames::Cached(all)
    } else {
        Frames::Disk(cfg.load_options())
    };

    for epoch in start..cfg.epochs {
        let t0 = Instant::now();
        if epoch > 0 && restarts.contains(&epoch) {
            // A new stage: fresh optimiser (also when resuming exactly at the
            // boundary, where the checkpoint holds the previous stage's state).
            optim = cfg.optimizer.build(trainable_vars(varmap))?;
        }
        let stage_start = restarts
            .iter()
            .copied()
            .filter(|&r| r <= epoch)
            .max()
            .unwrap_or(0);
        let lr = cfg.schedule.lr_at(cfg.optimizer.lr(), epoch - stage_start);
        optim.set_learning_rate(lr);
        detector.set_epoch(epoch);
        let mut rng = SeededRng::derive(cfg.seed, &format!("train/epoch{epoch}"));
        detector.reseed(rng.below(usize::MAX) as u64);

        let order = epoch_order(train_set, cfg.balance_reals, &mut rng);
        let mut batches: Vec<&[usize]> = order
            .chunks(cfg.batch_size)
            .filter(|c| c.len() == cfg.batch_size || (!cfg.drop_last && c.len() >= 2))
            .collect();
        if let Some(max) = cfg.max_steps_per_epoch {
            batches.truncate(max);
        }
        if batches.is_empty() {
            return Err(Error::invalid(format!(
                "{} training frames give no batch of {} (drop_last = {})",
                order.len(),
                cfg.batch_size,
                cfg.drop_last
            )));
        }
        let pb = opts.progress.then(|| {
            candor_core::progress::progress_bar(
                batches.len() as u64,
                format!("{} epoch {}", detector.name(), epoch + 1),
            )
        });
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut parts: Vec<(String, f64)> = Vec::new();
        for idx in &batches {
            let flips: Vec<bool> = idx
                .iter()
                .map(|_| cfg.hflip && rng.bernoulli(0.5))
                .collect();
            let x = frames.batch(train_set, idx, &flips)?.to_device(&device)?;
            let labels: Vec<u32> = idx.iter().map(|&i| train_set[i].label.min(1)).collect();
            let y = Tensor::from_slice(&labels, labels.len(), &device)?;
            let out = detector.loss_step(&x, &y, &mut rng)?;
            let loss = out
                .loss
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
            if !loss.is_finite() {
                return Err(Error::invalid(format!(
                    "{}: non-finite loss ({loss}) at epoch {epoch}; lower the learning rate",
                    detector.name()
                )));
            }
            let mut grads = out.loss.backward()?;
            if let Some(max) = cfg.max_grad_norm {
                clip_grad_norm(&trainable_vars(varmap), &mut grads, max)?;
            }
            optim.step(&grads)?;
            loss_sum += loss;
            for (name, v) in &out.parts {
                match parts.iter_mut().find(|(n, _)| n == name) {
                    Some(p) => p.1 += v,
                    None => parts.push((name.clone(), *v)),
                }
            }
            let p = fake_probability(&out.logits)?;
            correct += p
                .iter()
                .zip(&labels)
                .filter(|(&s, &l)| (s > 0.5) == (l == 1))
                .count();
            seen += labels.len();
            if let Some(pb) = &pb {
                pb.inc(1);
            }
        }
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let steps = batches.len();
        for p in &mut parts {
            p.1 /= steps as f64;
        }
        let val_metrics = match val {
            Some(v) => Some(evaluate(&*detector, v, &cfg.eval_options(), &device)?),
            None => None,
        };
        let log = EpochLog {
            epoch,
            lr,
            steps,
            mean_loss: loss_sum / steps as f64,
            parts,
            train_acc: correct as f64 / seen as f64,
            seconds: t0.elapsed().as_secs_f64(),
            val: val_metrics,
        };
        if let Some(m) = &log.val {
            let s = m.score(cfg.select_metric);
            if s.is_finite() && best.is_none_or(|(_, b)| s > b) {
                best = Some((epoch, s));
                if let Some(path) = &opts.best {
                    save_varmap(varmap, path)?;
                }
            }
        }
        if let Some(cb) = opts.on_epoch.as_mut() {
            cb(&log);
        }
        history.push(log);
        if let Some(path) = &opts.checkpoint {
            let state = TrainState {
                epochs_done: epoch + 1,
                history: history.clone(),
                best,
                config: cfg.clone(),
            };
            save_training(path, varmap, optim.as_ref(), &state)?;
        }
    }
    detector.set_epoch(cfg.epochs.saturating_sub(1));
    Ok(TrainReport {
        history,
        best,
        resumed_from,
        pretrained,
    })
}
