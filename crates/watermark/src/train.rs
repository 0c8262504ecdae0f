//! Training of the deep scheme and of the attacker's surrogates, as the official code.
//!
//! * **Initial stage** ([`DeepScheme::train_initial`], `Initial stage/main.py`):
//!   B′ = H(B, δ);
//!   errH = s·MSE(B′, B) + λ_adv·MSE(D(B′), 1) (+ λ_L1·L1(B′, B));
//!   errR = s·MSE(R(B′), δ) + λ_clean·s·(λ_A·MSE(R(A), δ0) + λ_B·MSE(R(B), δ0)) +
//!   λ_cons·s·MSE(R(B′)₁, R(B′)₂) (the two halves of the batch);
//!   H and R step on one backward of errH + λ·errR; then
//!   errD = s_D·½·(MSE(D(B), 1) + MSE(D(B′), 0)). The scale s = 1e4 is kept in f32;
//!   a step whose loss is not finite is skipped (**NaN guard**), and ten in a row are
//!   an error. Plain Adam (β1 0.5, no weight decay) and ReduceLROnPlateau (factor 0.2,
//!   patience 5 for H and D, 8 for R) on the validation losses after each epoch.
//! * **Surrogate attack** ([`train_surrogate`], `SR attack/`): the attacker's generator
//!   on (A, B′) with λ_A·content (L1, L2, or random-feature perceptual) plus an optional
//!   vanilla-GAN term; Adam (lr 1e-4, β1 0.5), constant then linearly decaying rate.
//! * **Adversarial stage** ([`DeepScheme::finetune_extractor`], `adversarial
//!   stage/main.py` plus the TPAMI figure's surrogate outputs): R only, on watermarked
//!   outputs → δ, one held-out surrogate's outputs → δ, clean A, clean B and one
//!   clean-trained surrogate's outputs → δ0, plus the consistency term, all at s·MSE.
//!
//! **Checkpoints and resume.** With [`DeepScheme::set_checkpoint_dir`], the initial and
//! adversarial stages write `initial.ckpt` / `adversarial.ckpt` there after every epoch
//! (networks, Adam states, plateau schedulers, learning rates, the log; atomically,
//! through [`candor_core::checkpoint::save_training_parts`]) and a stage whose file
//! exists resumes from it; [`train_surrogate_resumable`] does the same for a surrogate.
//! The epoch's batches come from one seeded stream that a resumed run fast-forwards, so
//! a run killed at any point and resumed ends with the bits of an uninterrupted run
//! (`tests/crash_resume.rs` kills one with SIGKILL).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_training_parts, load_varmap, save_training_parts, save_varmap};
use candor_core::init::seeded_var_builder;
use candor_core::optim::{sorted_vars, Adam, AdamConfig, Optim, PlateauConfig, ReduceLrOnPlateau};
use candor_core::{Error, Result, SeededRng};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ContentLoss, DiscriminatorConfig, GanType, SurrogateConfig};
use crate::data::Pair;
use crate::image::Image;
use crate::model::{
    bce_logits, l1, mse, mse_to, Discriminator, Extractor, RandomFeatures, Surrogate, Unet,
};

/// Consecutive non-finite losses tolerated before training stops with an error.
const MAX_BAD_STEPS: usize = 10;

/// Images per forward pass at inference.
const INFER_CHUNK: usize = 16;

fn adam(vm: &VarMap, lr: f64, beta1: f64, beta2: f64) -> Result<Adam> {
    let vars = sorted_vars(vm).into_iter().map(|(_, v)| v).collect();
    Adam::new(
        vars,
        AdamConfig {
            lr,
            betas: (beta1, beta2),
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )
}

fn plateau(factor: f64, patience: usize) -> Result<ReduceLrOnPlateau> {
    ReduceLrOnPlateau::new(PlateauConfig {
        factor,
        patience,
        ..Default::default()
    })
}

fn gather(images: &[Image], idx: &[usize], device: &Device) -> Result<Tensor> {
    let v: Vec<Image> = idx.iter().map(|&i| images[i].clone()).collect();
    Image::batch(&v, device)
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// `f` on `images` in chunks, results unbatched.
pub fn map_images(
    images: &[Image],
    device: &Device,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Image>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(INFER_CHUNK) {
        let x = Image::batch(chunk, device)?;
        out.extend(Image::unbatch(&f(&x)?)?);
    }
    Ok(out)
}

/// Counts and traces of one training run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Steps skipped by the NaN guard.
    pub skipped: usize,
    /// (step, loss) per logged step (every epoch's last step).
    pub losses: Vec<(usize, f64)>,
    /// Validation loss after each epoch (initial stage: errH + errR).
    pub val_losses: Vec<f64>,
    /// The learning rate at the end.
    pub final_lr: f64,
}

/// Planned steps: the budget, or `epochs` passes of `per_epoch` batches.
fn planned(steps: Option<usize>, epochs: usize, per_epoch: usize) -> usize {
    steps.unwrap_or(epochs * per_epoch)
}

/// Batches of one epoch: a seeded permutation cut into full batches.
fn epoch_batches(n: usize, batch: usize, rng: &mut SeededRng) -> Vec<Vec<usize>> {
    let perm = rng.permutation(n);
    perm.chunks_exact(batch).map(|c| c.to_vec()).collect()
}

/// A stage's state between epochs, stored in its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StageCheckpoint {
    /// Epochs finished.
    epoch: usize,
    log: TrainLog,
    /// Consecutive non-finite losses at the end of the epoch.
    bad: usize,
    /// Plateau schedulers of the stage's optimisers, in the order of its parts.
    schedulers: Vec<ReduceLrOnPlateau>,
    /// Learning rates of the stage's optimisers, in the order of its parts.
    lrs: Vec<f64>,
}

/// Advance the batch stream past `epochs` finished epochs (a resumed run draws what the
/// uninterrupted one drew next).
fn skip_epochs(rng: &mut SeededRng, epochs: usize, n: usize, batch: usize) {
    for _ in 0..epochs {
        epoch_batches(n, batch, rng);
    }
}

/// H, R and D with their variables.
pub struct DeepScheme {
    /// The embedder H.
    pub h: Unet,
    /// The extractor R.
    pub r: Extractor,
    /// The discriminator D.
    pub d: Discriminator,
    h_vars: VarMap,
    r_vars: VarMap,
    d_vars: VarMap,
    channels: usize,
    device: Device,
    checkpoint_dir: Option<PathBuf>,
}

impl DeepScheme {
    /// Fresh networks of `cfg`'s widths for `cfg.task.channels`, seeded by
    /// `cfg.train.seed`.
    pub fn new(cfg: &Config, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let c = cfg.task.channels;
        let seed = cfg.train.seed;
        let h_vars = VarMap::new();
        let r_vars = VarMap::new();
        let d_vars = VarMap::new();
        let h = Unet::embedder(
            c,
            &cfg.embedder,
            seeded_var_builder(&h_vars, seed ^ 0x4801, DType::F32, device),
        )?;
        let r = Extractor::new(
            c,
            c,
            &cfg.extractor,
            seeded_var_builder(&r_vars, seed ^ 0x5202, DType::F32, device),
        )?;
        let d = Discriminator::new(
            c,
            &cfg.discriminator,
            seeded_var_builder(&d_vars, seed ^ 0x4403, DType::F32, device),
        )?;
        Ok(Self {
            h,
            r,
            d,
            h_vars,
            r_vars,
            d_vars,
            channels: c,
            device: device.clone(),
            checkpoint_dir: None,
        })
    }

    /// Networks of `cfg` with H and R loaded from safetensors files written by
    /// [`DeepScheme::save`] (D stays fresh). A missing or mismatched file is an error.
    pub fn load(cfg: &Config, h_path: &Path, r_path: &Path, device: &Device) -> Result<Self> {
        let s = Self::new(cfg, device)?;
        load_varmap(&s.h_vars, h_path)?;
        load_varmap(&s.r_vars, r_path)?;
        Ok(s)
    }

    /// Networks of `cfg` with only H loaded (for embedding).
    pub fn load_embedder(cfg: &Config, h_path: &Path, device: &Device) -> Result<Self> {
        let s = Self::new(cfg, device)?;
        load_varmap(&s.h_vars, h_path)?;
        Ok(s)
    }

    /// Networks of `cfg` with only R loaded (for extraction).
    pub fn load_extractor(cfg: &Config, r_path: &Path, device: &Device) -> Result<Self> {
        let s = Self::new(cfg, device)?;
        load_varmap(&s.r_vars, r_path)?;
        Ok(s)
    }

    /// Write `H.safetensors`, `R.safetensors` and `D.safetensors` into `dir` (atomic).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        save_varmap(&self.h_vars, dir.join("H.safetensors"))?;
        save_varmap(&self.r_vars, dir.join("R.safetensors"))?;
        save_varmap(&self.d_vars, dir.join("D.safetensors"))
    }

    fn check_images(&self, images: &[Image], what: &str) -> Result<()> {
        if let Some(i) = images.iter().position(|im| im.channels() != self.channels) {
            return Err(Error::invalid(format!(
                "{what}: image {i} has {} channels, the networks {}",
                images[i].channels(),
                self.channels
            )));
        }
        Ok(())
    }

    /// B′ = H(B, δ) for each image (BatchNorm in evaluation mode). Errors when δ and
    /// the images differ in shape or channel count.
    pub fn embed_images(&self, images: &[Image], watermark: &Image) -> Result<Vec<Image>> {
        self.check_images(images, "embed")?;
        if let Some(im) = images.first() {
            watermark.check_same_shape(im, "embed: watermark vs image")?;
        }
        let delta = watermark.to_tensor(&self.device)?.unsqueeze(0)?;
        map_images(images, &self.device, |x| self.h.embed(x, &delta, false))
    }

    /// δ′ = R(x) for each image.
    pub fn extract_images(&self, images: &[Image]) -> Result<Vec<Image>> {
        self.check_images(images, "extract")?;
        map_images(images, &self.device, |x| self.r.forward(x))
    }

    /// Write a checkpoint of each stage into `dir` after every epoch, and resume a stage
    /// from its checkpoint there when it exists (`None`: no checkpoints). The folder is
    /// created when the first checkpoint is written. A checkpoint written with another
    /// configuration or other data must not be resumed from: use a fresh folder per run.
    pub fn set_checkpoint_dir(&mut self, dir: Option<PathBuf>) {
        self.checkpoint_dir = dir;
    }

    fn stage_checkpoint(&self, stage: &str) -> Option<PathBuf> {
        self.checkpoint_dir
            .as_ref()
            .map(|d| d.join(format!("{stage}.ckpt")))
    }

    /// The initial stage on `train` pairs, validated on `val` pairs (ReduceLROnPlateau);
    /// `watermark` is δ, `blank` δ0.
    pub fn train_initial(
        &mut self,
        cfg: &Config,
        train: &[Pair],
        val: &[Pair],
        watermark: &Image,
        blank: &Image,
    ) -> Result<TrainLog> {
        let t = &cfg.train;
        let l = &cfg.loss;
        let bs = t.batch_size;
        if train.len() < bs {
            return Err(Error::invalid(format!(
                "initial stage: {} training pairs, fewer than one batch of {bs}",
                train.len()
            )));
        }
        if val.is_empty() {
            return Err(Error::invalid("initial stage: no validation pairs"));
        }
        if let Some(p) = train.first() {
            watermark.check_same_shape(&p.b, "initial stage: watermark vs image")?;
            blank.check_same_shape(&p.b, "initial stage: blank vs image")?;
        }
        let dev = self.device.clone();
        let delta = watermark.to_tensor(&dev)?.unsqueeze(0)?;
        let delta0 = blank.to_tensor(&dev)?.unsqueeze(0)?;
        let a_imgs: Vec<Image> = train.iter().map(|p| p.a.clone()).collect();
        let b_imgs: Vec<Image> = train.iter().map(|p| p.b.clone()).collect();
        let mut opt = self.initial_optimisers(cfg)?;
        let mut sch_h = plateau(t.plateau_factor, t.patience_hd)?;
        let mut sch_r = plateau(t.plateau_factor, t.patience_r)?;
        let mut sch_d = plateau(t.plateau_factor, t.patience_hd)?;
        let per_epoch = train.len() / bs;
        let total = planned(t.steps, t.epochs, per_epoch);
        let mut rng = SeededRng::derive(t.seed, "watermark/initial-batches");
        let mut log = TrainLog::default();
        let mut bad = 0usize;
        let mut epoch = 0usize;
        let ckpt = self.stage_checkpoint("initial");
        if let Some(p) = ckpt.as_ref().filter(|p| p.exists()) {
            let st: StageCheckpoint = load_training_parts(
                p,
                &mut [
                    ("h", &self.h_vars, &mut opt.h),
                    ("r", &self.r_vars, &mut opt.r),
                    ("d", &self.d_vars, &mut opt.d),
                ],
            )?;
            let [a, b, c]: [ReduceLrOnPlateau; 3] = st
                .schedulers
                .try_into()
                .map_err(|_| Error::format(p, "initial-stage checkpoint: expected 3 schedulers"))?;
            (sch_h, sch_r, sch_d) = (a, b, c);
            if st.lrs.len() != 3 {
                return Err(Error::format(
                    p,
                    "initial-stage checkpoint: expected 3 rates",
                ));
            }
            opt.h.set_learning_rate(st.lrs[0]);
            opt.r.set_learning_rate(st.lrs[1]);
            opt.d.set_learning_rate(st.lrs[2]);
            (epoch, log, bad) = (st.epoch, st.log, st.bad);
            skip_epochs(&mut rng, epoch, train.len(), bs);
        }
        let (s, sd) = (l.mse_scale, l.d_scale);
        while log.steps + log.skipped < total {
            let mut last = f64::NAN;
            for idx in epoch_batches(train.len(), bs, &mut rng) {
                if log.steps + log.skipped >= total {
                    break;
                }
                let a = gather(&a_imgs, &idx, &dev)?;
                let b = gather(&b_imgs, &idx, &dev)?;
                let Some(v) = self.initial_step(cfg, &a, &b, &delta, &delta0, &mut opt)? else {
                    log.skipped += 1;
                    bad += 1;
                    if bad >= MAX_BAD_STEPS {
                        return Err(Error::invalid(format!(
                            "initial stage: {bad} consecutive non-finite losses; lower the learning rate or the loss scale"
                        )));
                    }
                    continue;
                };
                bad = 0;
                log.steps += 1;
                last = v;
            }
            log.losses.push((log.steps, last));
            // Validation losses → the schedulers.
            let (vh, vr, vd) = self.validation(cfg, val, &delta, &delta0, s, sd)?;
            log.val_losses.push(vh + vr);
            opt.h
                .set_learning_rate(sch_h.step(vh, opt.h.learning_rate()));
            opt.r
                .set_learning_rate(sch_r.step(vr, opt.r.learning_rate()));
            opt.d
                .set_learning_rate(sch_d.step(vd, opt.d.learning_rate()));
            epoch += 1;
            if let Some(p) = &ckpt {
                let st = StageCheckpoint {
                    epoch,
                    log: log.clone(),
                    bad,
                    schedulers: vec![sch_h.clone(), sch_r.clone(), sch_d.clone()],
                    lrs: vec![
                        opt.h.learning_rate(),
                        opt.r.learning_rate(),
                        opt.d.learning_rate(),
                    ],
                };
                save_training_parts(
                    p,
                    &[
                        ("h", &self.h_vars, &opt.h),
                        ("r", &self.r_vars, &opt.r),
                        ("d", &self.d_vars, &opt.d),
                    ],
                    &st,
                )?;
            }
        }
        log.final_lr = opt.h.learning_rate();
        Ok(log)
    }

    /// Fresh Adam optimisers of H, R and D with `cfg.train`'s settings.
    pub fn initial_optimisers(&self, cfg: &Config) -> Result<InitialOptimisers> {
        let t = &cfg.train;
        Ok(InitialOptimisers {
            h: adam(&self.h_vars, t.lr, t.beta1, t.beta2)?,
            r: adam(&self.r_vars, t.lr, t.beta1, t.beta2)?,
            d: adam(&self.d_vars, t.lr, t.beta1, t.beta2)?,
        })
    }

    /// One step of the initial stage on a batch (A, B) of `(N, C, H, W)` tensors with
    /// δ and δ0 as `(1, C, H, W)`: H and R step on errH + λ·errR, then D on errD.
    /// Returns the joint loss, or `None` when it was not finite (no parameter, Adam
    /// state or BatchNorm running statistic moved).
    pub fn initial_step(
        &self,
        cfg: &Config,
        a: &Tensor,
        b: &Tensor,
        delta: &Tensor,
        delta0: &Tensor,
        opt: &mut InitialOptimisers,
    ) -> Result<Option<f64>> {
        let l = &cfg.loss;
        // H's training-mode forward moves its BatchNorm running statistics; a skipped
        // step must not, so they are restored when the loss is not finite.
        let stats = self.h_running_stats()?;
        let losses = self.initial_losses(cfg, a, b, delta, delta0, true)?;
        let total_loss = (&losses.err_h + (&losses.err_r * l.reveal_weight)?)?;
        let v = scalar(&total_loss)?;
        if !v.is_finite() {
            for (var, t) in &stats {
                var.set(t)?;
            }
            return Ok(None);
        }
        let grads = total_loss.backward()?;
        opt.h.step(&grads)?;
        opt.r.step(&grads)?;
        // D on real B and the detached B′.
        let bp = losses.b_prime.detach();
        let err_d = ((mse_to(&self.d.forward(b)?, 1.0)? + mse_to(&self.d.forward(&bp)?, 0.0)?)?
            * (l.d_scale * 0.5))?;
        if scalar(&err_d)?.is_finite() {
            opt.d.backward_step(&err_d)?;
        }
        Ok(Some(v))
    }

    /// Copies of H's BatchNorm running statistics with their variables (the only state
    /// a forward pass changes).
    fn h_running_stats(&self) -> Result<Vec<(Var, Tensor)>> {
        let data = self
            .h_vars
            .data()
            .lock()
            .map_err(|_| Error::invalid("H's variables: poisoned lock"))?;
        data.iter()
            .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
            .map(|(_, v)| Ok((v.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    fn initial_losses(
        &self,
        cfg: &Config,
        a: &Tensor,
        b: &Tensor,
        delta: &Tensor,
        delta0: &Tensor,
        train: bool,
    ) -> Result<InitialLosses> {
        let l = &cfg.loss;
        let s = l.mse_scale;
        let n = b.dim(0)?;
        let bp = self.h.embed(b, delta, train)?;
        let mut err_h = (mse(&bp, b)? * s)?;
        if l.adv_weight > 0.0 {
            err_h = (err_h + (mse_to(&self.d.forward(&bp)?, 1.0)? * l.adv_weight)?)?;
        }
        if l.l1_weight > 0.0 {
            err_h = (err_h + (l1(&bp, b)? * l.l1_weight)?)?;
        }
        // One R pass over [B′; A; B].
        let r_all = self.r.forward(&Tensor::cat(&[&bp, a, b], 0)?)?;
        let r_bp = r_all.narrow(0, 0, n)?;
        let r_a = r_all.narrow(0, n, n)?;
        let r_b = r_all.narrow(0, 2 * n, n)?;
        let wm = mse(&r_bp, &delta.broadcast_as(r_bp.shape())?)?;
        let clean = ((mse(&r_a, &delta0.broadcast_as(r_a.shape())?)? * l.clean_a_weight)?
            + (mse(&r_b, &delta0.broadcast_as(r_b.shape())?)? * l.clean_b_weight)?)?;
        let half = n / 2;
        let cons = if half > 0 {
            mse(&r_bp.narrow(0, 0, half)?, &r_bp.narrow(0, half, half)?)?
        } else {
            Tensor::zeros((), DType::F32, b.device())?
        };
        let err_r = (((wm + (clean * l.clean_weight)?)? + (cons * l.consistency_weight)?)? * s)?;
        Ok(InitialLosses {
            b_prime: bp,
            err_h,
            err_r,
        })
    }

    fn validation(
        &self,
        cfg: &Config,
        val: &[Pair],
        delta: &Tensor,
        delta0: &Tensor,
        _s: f64,
        sd: f64,
    ) -> Result<(f64, f64, f64)> {
        let n = (val.len() / 2 * 2).clamp(2, 16).min(val.len());
        let idx: Vec<usize> = (0..n).collect();
        let a_imgs: Vec<Image> = val.iter().map(|p| p.a.clone()).collect();
        let b_imgs: Vec<Image> = val.iter().map(|p| p.b.clone()).collect();
        let a = gather(&a_imgs, &idx, &self.device)?;
        let b = gather(&b_imgs, &idx, &self.device)?;
        let v = self.initial_losses(cfg, &a, &b, delta, delta0, false)?;
        let d = ((mse_to(&self.d.forward(&b)?, 1.0)?
            + mse_to(&self.d.forward(&v.b_prime)?, 0.0)?)?
            * (sd * 0.5))?;
        Ok((scalar(&v.err_h)?, scalar(&v.err_r)?, scalar(&d)?))
    }

    /// The adversarial stage: fine-tune R only (Adam, `cfg.adversarial`) on `data`.
    pub fn finetune_extractor(
        &mut self,
        cfg: &Config,
        data: &FinetuneData,
        watermark: &Image,
        blank: &Image,
    ) -> Result<TrainLog> {
        let ad = &cfg.adversarial;
        let l = &cfg.loss;
        let n = data.len()?;
        let bs = ad.batch_size;
        if n < bs {
            return Err(Error::invalid(format!(
                "adversarial stage: {n} images, fewer than one batch of {bs}"
            )));
        }
        let dev = self.device.clone();
        let delta = watermark.to_tensor(&dev)?.unsqueeze(0)?;
        let delta0 = blank.to_tensor(&dev)?.unsqueeze(0)?;
        let mut opt = adam(&self.r_vars, ad.lr, ad.beta1, 0.999)?;
        let mut sch = plateau(cfg.train.plateau_factor, ad.patience)?;
        let total = planned(ad.steps, ad.epochs, n / bs);
        let mut rng = SeededRng::derive(cfg.train.seed, "watermark/adversarial-batches");
        let mut log = TrainLog::default();
        let mut bad = 0usize;
        let mut epoch = 0usize;
        let ckpt = self.stage_checkpoint("adversarial");
        if let Some(p) = ckpt.as_ref().filter(|p| p.exists()) {
            let st: StageCheckpoint = load_training_parts(p, &mut [("r", &self.r_vars, &mut opt)])?;
            match (st.schedulers.first(), st.lrs.first()) {
                (Some(sc), Some(&lr)) if st.schedulers.len() == 1 && st.lrs.len() == 1 => {
                    sch = sc.clone();
                    opt.set_learning_rate(lr);
                }
                _ => {
                    return Err(Error::format(
                        p,
                        "adversarial-stage checkpoint: expected 1 scheduler and 1 rate",
                    ))
                }
            }
            (epoch, log, bad) = (st.epoch, st.log, st.bad);
            skip_epochs(&mut rng, epoch, n, bs);
        }
        let s = l.mse_scale;
        while log.steps + log.skipped < total {
            let mut epoch_loss = 0.0;
            let mut count = 0usize;
            for idx in epoch_batches(n, bs, &mut rng) {
                if log.steps + log.skipped >= total {
                    break;
                }
                let sets = [
                    &data.watermarked,
                    &data.surrogate,
                    &data.clean_a,
                    &data.clean_b,
                    &data.clean_surrogate,
                ];
                let xs = sets
                    .iter()
                    .map(|set| gather(set, &idx, &dev))
                    .collect::<Result<Vec<_>>>()?;
                let r = self
                    .r
                    .forward(&Tensor::cat(&xs.iter().collect::<Vec<_>>(), 0)?)?;
                let part = |k: usize| r.narrow(0, k * bs, bs);
                let to = |x: &Tensor, t: &Tensor| mse(x, &t.broadcast_as(x.shape())?);
                let wm = (to(&part(0)?, &delta)? + to(&part(1)?, &delta)?)?;
                let clean = ((to(&part(2)?, &delta0)? + to(&part(3)?, &delta0)?)?
                    + to(&part(4)?, &delta0)?)?;
                let r0 = part(0)?;
                let half = bs / 2;
                let cons = mse(&r0.narrow(0, 0, half)?, &r0.narrow(0, half, half)?)?;
                let loss =
                    (((wm + (clean * l.clean_weight)?)? + (cons * l.consistency_weight)?)? * s)?;
                let v = scalar(&loss)?;
                if !v.is_finite() {
                    log.skipped += 1;
                    bad += 1;
                    if bad >= MAX_BAD_STEPS {
                        return Err(Error::invalid(format!(
                            "adversarial stage: {bad} consecutive non-finite losses"
                        )));
                    }
                    continue;
                }
                bad = 0;
                opt.backward_step(&loss)?;
                log.steps += 1;
                epoch_loss += v;
                count += 1;
            }
            let mean = epoch_loss / count.max(1) as f64;
            log.losses.push((log.steps, mean));
            // The official code steps on a validation loss; the epoch's mean training
            // loss stands in for it here (no separate validation split of surrogate
            // outputs).
            opt.set_learning_rate(sch.step(mean, opt.learning_rate()));
            epoch += 1;
            if let Some(p) = &ckpt {
                let st = StageCheckpoint {
                    epoch,
                    log: log.clone(),
                    bad,
                    schedulers: vec![sch.clone()],
                    lrs: vec![opt.learning_rate()],
                };
                save_training_parts(p, &[("r", &self.r_vars, &opt)], &st)?;
            }
        }
        log.final_lr = opt.learning_rate();
        Ok(log)
    }
}

/// The Adam optimisers of H, R and D in the initial stage.
pub struct InitialOptimisers {
    /// H's.
    pub h: Adam,
    /// R's.
    pub r: Adam,
    /// D's.
    pub d: Adam,
}

struct InitialLosses {
    b_prime: Tensor,
    err_h: Tensor,
    err_r: Tensor,
}

/// The images of the adversarial stage, index-aligned (image i of each set comes from
/// the same source).
#[derive(Debug, Clone, Default)]
pub struct FinetuneData {
    /// Watermarked outputs B′ (→ δ).
    pub watermarked: Vec<Image>,
    /// A held-out surrogate's outputs on A (→ δ).
    pub surrogate: Vec<Image>,
    /// Clean inputs A (→ δ0).
    pub clean_a: Vec<Image>,
    /// Clean outputs B (→ δ0).
    pub clean_b: Vec<Image>,
    /// A clean-trained surrogate's outputs on A (→ δ0).
    pub clean_surrogate: Vec<Image>,
}

impl FinetuneData {
    fn len(&self) -> Result<usize> {
        let n = self.watermarked.len();
        for (name, v) in [
            ("surrogate", &self.surrogate),
            ("clean_a", &self.clean_a),
            ("clean_b", &self.clean_b),
            ("clean_surrogate", &self.clean_surrogate),
        ] {
            if v.len() != n {
                return Err(Error::invalid(format!(
                    "adversarial stage: {} {name} images against {n} watermarked",
                    v.len()
                )));
            }
        }
        Ok(n)
    }
}

/// A trained surrogate and its log.
pub struct TrainedSurrogate {
    /// The generator.
    pub net: Surrogate,
    /// Its training log.
    pub log: TrainLog,
}

impl TrainedSurrogate {
    /// B″ = surrogate(A) for each image.
    pub fn apply(&self, inputs: &[Image], device: &Device) -> Result<Vec<Image>> {
        map_images(inputs, device, |x| self.net.forward(x))
    }
}

/// Train the attacker's surrogate of `cfg` on (`inputs`, `targets`) pairs (A, B′ — or
/// clean (A, B) for a negative control). `features` is the fixed network of the
/// perceptual loss (required for [`ContentLoss::Perceptual`]).
pub fn train_surrogate(
    cfg: &SurrogateConfig,
    inputs: &[Image],
    targets: &[Image],
    features: Option<&RandomFeatures>,
    device: &Device,
) -> Result<TrainedSurrogate> {
    train_surrogate_resumable(cfg, inputs, targets, features, device, None)
}

/// [`train_surrogate`] with a checkpoint at `ckpt` after every epoch, resumed from when
/// it exists (the same configuration and data are expected).
pub fn train_surrogate_resumable(
    cfg: &SurrogateConfig,
    inputs: &[Image],
    targets: &[Image],
    features: Option<&RandomFeatures>,
    device: &Device,
    ckpt: Option<&Path>,
) -> Result<TrainedSurrogate> {
    if inputs.len() != targets.len() || inputs.is_empty() {
        return Err(Error::invalid(format!(
            "surrogate: {} inputs against {} targets (need equal, non-zero counts)",
            inputs.len(),
            targets.len()
        )));
    }
    let c = inputs[0].channels();
    for (i, (a, b)) in inputs.iter().zip(targets).enumerate() {
        a.check_same_shape(b, &format!("surrogate pair {i}"))?;
    }
    if cfg.content == ContentLoss::Perceptual && features.is_none() {
        return Err(Error::invalid(
            "surrogate: the perceptual loss needs a feature network",
        ));
    }
    if cfg.adversarial && cfg.gan_type == GanType::WganGp {
        return Err(Error::invalid(
            "surrogate: WGAN-GP is not implemented (train.py forces the vanilla GAN)",
        ));
    }
    let bs = cfg.batch_size.min(inputs.len());
    let g_vars = VarMap::new();
    let d_vars = VarMap::new();
    let net = Surrogate::new(
        cfg.arch,
        c,
        cfg.ngf,
        cfg.unet_downs,
        cfg.learn_residual,
        seeded_var_builder(&g_vars, cfg.seed ^ 0x5347, DType::F32, device),
    )?;
    let d = Discriminator::new(
        c,
        &DiscriminatorConfig {
            widths: vec![cfg.ngf, 2 * cfg.ngf, 4 * cfg.ngf],
        },
        seeded_var_builder(&d_vars, cfg.seed ^ 0x5344, DType::F32, device),
    )?;
    let mut opt_g = adam(&g_vars, cfg.lr, cfg.beta1, 0.999)?;
    let mut opt_d = adam(&d_vars, cfg.lr, cfg.beta1, 0.999)?;
    let per_epoch = inputs.len() / bs;
    let total = planned(cfg.steps, cfg.epochs + cfg.decay_epochs, per_epoch);
    let constant = (total * cfg.epochs)
        .checked_div(cfg.epochs + cfg.decay_epochs)
        .unwrap_or(total);
    let mut rng = SeededRng::derive(cfg.seed, "watermark/surrogate-batches");
    let mut log = TrainLog::default();
    let mut bad = 0usize;
    let mut epoch = 0usize;
    if let Some(p) = ckpt.filter(|p| p.exists()) {
        let st: StageCheckpoint = load_training_parts(
            p,
            &mut [("g", &g_vars, &mut opt_g), ("d", &d_vars, &mut opt_d)],
        )?;
        if let [g, d] = st.lrs[..] {
            opt_g.set_learning_rate(g);
            opt_d.set_learning_rate(d);
        } else {
            return Err(Error::format(p, "surrogate checkpoint: expected 2 rates"));
        }
        (epoch, log, bad) = (st.epoch, st.log, st.bad);
        skip_epochs(&mut rng, epoch, inputs.len(), bs);
    }
    let gan = |x: &Tensor, real: bool| -> Result<Tensor> {
        let label = if real { 1.0 } else { 0.0 };
        match cfg.gan_type {
            GanType::Lsgan => mse_to(x, label),
            _ => bce_logits(x, label),
        }
    };
    while log.steps + log.skipped < total {
        let mut last = f64::NAN;
        for idx in epoch_batches(inputs.len(), bs, &mut rng) {
            let t = log.steps + log.skipped;
            if t >= total {
                break;
            }
            let lr = if t < constant {
                cfg.lr
            } else {
                cfg.lr * (1.0 - (t - constant) as f64 / (total - constant).max(1) as f64)
            };
            opt_g.set_learning_rate(lr);
            opt_d.set_learning_rate(lr);
            let a = gather(inputs, &idx, device)?;
            let b = gather(targets, &idx, device)?;
            let out = net.forward(&a)?;
            let content = match cfg.content {
                ContentLoss::L1 => l1(&out, &b)?,
                ContentLoss::L2 => mse(&out, &b)?,
                ContentLoss::Perceptual => {
                    let f = features.expect("checked above");
                    mse(&f.forward(&out)?, &f.forward(&b)?.detach())?
                }
            };
            let mut loss = (content * cfg.content_weight)?;
            if cfg.adversarial {
                loss = (loss + gan(&d.forward(&out)?, true)?)?;
            }
            let v = scalar(&loss)?;
            if !v.is_finite() {
                log.skipped += 1;
                bad += 1;
                if bad >= MAX_BAD_STEPS {
                    return Err(Error::invalid(format!(
                        "surrogate: {bad} consecutive non-finite losses"
                    )));
                }
                continue;
            }
            bad = 0;
            opt_g.backward_step(&loss)?;
            if cfg.adversarial {
                let fake = out.detach();
                let ld = ((gan(&d.forward(&b)?, true)? + gan(&d.forward(&fake)?, false)?)? * 0.5)?;
                if scalar(&ld)?.is_finite() {
                    opt_d.backward_step(&ld)?;
                }
            }
            log.steps += 1;
            last = v;
        }
        log.losses.push((log.steps, last));
        epoch += 1;
        if let Some(p) = ckpt {
            // The rate is a function of the step (no scheduler state); the last one set
            // is kept for a resumed run that has no step left to set it.
            let st = StageCheckpoint {
                epoch,
                log: log.clone(),
                bad,
                schedulers: Vec::new(),
                lrs: vec![opt_g.learning_rate(), opt_d.learning_rate()],
            };
            save_training_parts(p, &[("g", &g_vars, &opt_g), ("d", &d_vars, &opt_d)], &st)?;
        }
    }
    log.final_lr = opt_g.learning_rate();
    Ok(TrainedSurrogate { net, log })
}
