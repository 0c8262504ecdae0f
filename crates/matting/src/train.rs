//! The three-stage schedule (card, "Schedule"):
//!
//! 1. [`train_alpha`]: encoder + alpha decoder with L_reg + L_grad on the training
//!    stream, with simulated clicks ([`crate::clicks::simulate_clicks`]: Geometric(1/6)
//!    count, GT-consistent disks) in the click channel, or without it for the no-click
//!    baseline.
//! 2. [`train_sigma`]: encoder and alpha decoder frozen (their features detached), the
//!    uncertainty decoder trained with the Laplace NLL (or, as an ablation, L1 on the
//!    error).
//! 3. [`train_refine`]: the frozen network runs over the training stream; from each
//!    image the k×k windows with the largest mean |α_p − α_g| (after the same
//!    non-overlap rule as inference) are cropped and the refinement net is trained on
//!    them with L_ref (top-20 % hard pixels).
//!
//! Optimiser, learning rate and crop size are \[unverified\] in the card: Adam
//! (weight decay 0) with [`TrainConfig::lr`]. Training images are sample
//! `step·batch + i` of a per-stage stream of a [`TrainSource`]: the proxy's
//! `size × size` renders ([`train_alpha`], [`train_sigma`], [`train_refine`]) or any
//! other source, e.g. Composition-1k crops ([`crate::data::comp1k::Comp1kCrops`]),
//! through the `*_with` variants.
//!
//! Each stage writes a resumable checkpoint (model variables, Adam state, step and loss
//! history; atomically, through [`candor_core::checkpoint::save_training`]) every
//! [`TrainConfig::checkpoint_every`] steps and at its end, and resumes from it: a
//! finished stage is loaded, not retrained. Same seed, same result.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_training, save_training};
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::SeededRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::clicks::{encode_clicks, simulate_clicks, ClickSimConfig};
use crate::data::synth::{SynthClickMatte, SynthConfig};
use crate::data::{gray_tensor, rgb_tensor, MattingSample, TrainSource};
use crate::infer::{save_model, SavedModel};
use crate::loss::{
    alpha_loss, l1_error_loss, laplace_nll, refine_loss, AlphaLossConfig, RefineLossConfig,
};
use crate::model::{network_input, MattingNet, NetConfig, RefineConfig, RefineNet, SIGMA_PREFIX};
use crate::refine::{crop_windows, patch_size, select_windows};
use crate::{Error, Result};

/// The objective of the uncertainty decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigmaLoss {
    /// The paper's Laplace NLL (eq. 3).
    Laplace,
    /// The ablation: σ regresses |α_g − α_p| with an L1 loss.
    L1Error,
}

/// Where stage 3 takes its training patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefineWindows {
    /// The windows of largest |α̂ − α| (the card's step 3: "crop the patches with the
    /// largest error"). Inference refines the windows of largest σ instead, so the net
    /// sees windows whose coarse α is wrong by construction.
    #[default]
    LargestError,
    /// The windows of largest σ, as inference picks them (needs stage 2 first). Not in
    /// the paper: the ablation that matches training to inference.
    LargestSigma,
}

/// Settings of the three stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Side of the training images.
    pub size: usize,
    /// Images per step.
    pub batch: usize,
    /// Stage 1 steps.
    pub alpha_steps: usize,
    /// Stage 2 steps.
    pub sigma_steps: usize,
    /// Stage 3 steps.
    pub refine_steps: usize,
    /// Adam learning rate of every stage.
    pub lr: f64,
    /// Stage 1 loss weights.
    pub alpha_loss: AlphaLossConfig,
    /// Stage 2 objective.
    pub sigma_loss: SigmaLoss,
    /// Stage 3 loss.
    pub refine_loss: RefineLossConfig,
    /// Hardest patches taken from each training image in stage 3.
    pub patches_per_image: usize,
    /// How stage 3 picks those patches.
    pub refine_windows: RefineWindows,
    /// The click simulator (radius from the size by default).
    pub clicks: ClickSimConfig,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Seed of the data streams, clicks and initialisation.
    pub seed: u64,
}

impl Default for TrainConfig {
    /// 128², batch 8, 450 / 150 / 200 steps, Adam 1e-3.
    fn default() -> Self {
        TrainConfig {
            size: 128,
            batch: 8,
            alpha_steps: 450,
            sigma_steps: 150,
            refine_steps: 200,
            lr: 1e-3,
            alpha_loss: AlphaLossConfig::default(),
            sigma_loss: SigmaLoss::Laplace,
            refine_loss: RefineLossConfig::default(),
            patches_per_image: 2,
            refine_windows: RefineWindows::LargestError,
            clicks: ClickSimConfig::for_resolution(128),
            checkpoint_every: 50,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// The default at `size` (click radius and the rest scaled).
    pub fn at_size(size: usize) -> Self {
        TrainConfig {
            size,
            clicks: ClickSimConfig::for_resolution(size),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if self.size < 8 || self.batch == 0 || self.checkpoint_every == 0 {
            return Err(Error::invalid(format!(
                "training: size {} (≥ 8), batch {} and checkpoint_every {} must be positive",
                self.size, self.batch, self.checkpoint_every
            )));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(format!(
                "training: lr must be positive, got {}",
                self.lr
            )));
        }
        Ok(())
    }
}

/// What a checkpoint remembers besides the tensors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StageState {
    step: usize,
    losses: Vec<f32>,
}

/// One training batch: network input, GT alphas, the samples.
pub struct Batch {
    /// `(B, C, H, W)`.
    pub input: Tensor,
    /// `(B, 1, H, W)`.
    pub gt: Tensor,
    /// `(B, 3, H, W)` images.
    pub rgb: Tensor,
    /// The rendered samples.
    pub samples: Vec<MattingSample>,
}

/// Batch `step` of the stream `stream` (with simulated clicks when `clicks`).
pub fn training_batch(
    gen: &dyn TrainSource,
    cfg: &TrainConfig,
    stream: &str,
    step: usize,
    clicks: bool,
    device: &Device,
) -> Result<Batch> {
    let seed = SeededRng::derive(cfg.seed, stream).next_u64();
    let start = (step * cfg.batch) as u64;
    let samples = gen.batch(seed, start, cfg.batch)?;
    let mut images = Vec::with_capacity(samples.len());
    let mut maps = Vec::with_capacity(samples.len());
    let mut gts = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        images.push(rgb_tensor(&s.image, device)?);
        gts.push(gray_tensor(&s.alpha, device)?);
        if clicks {
            let mut rng = SeededRng::derive(seed, &format!("clicks/{}", start + i as u64));
            let c = simulate_clicks(&s.alpha, s.distractors.as_ref(), &cfg.clicks, &mut rng)?;
            let (h, w) = s.size();
            let m = encode_clicks(&c, h, w, cfg.clicks.radius)?;
            maps.push(Tensor::from_vec(m, (1, h, w), device)?);
        }
    }
    let input = network_input(&images, clicks.then_some(maps.as_slice()))?;
    Ok(Batch {
        input,
        gt: Tensor::stack(&gts, 0)?,
        rgb: Tensor::stack(&images, 0)?,
        samples,
    })
}

fn vars_with_prefix(vm: &VarMap, prefix: Option<&str>, exclude: Option<&str>) -> Vec<Var> {
    sorted_vars(vm)
        .into_iter()
        .filter(|(n, _)| prefix.is_none_or(|p| n.starts_with(p)))
        .filter(|(n, _)| exclude.is_none_or(|p| !n.starts_with(p)))
        .map(|(_, v)| v)
        .collect()
}

/// Run `steps` steps of `step_fn` with checkpoints at `ckpt`; returns the loss history.
fn run_stage(
    vm: &VarMap,
    opt: &mut Adam,
    steps: usize,
    every: usize,
    ckpt: Option<&Path>,
    mut step_fn: impl FnMut(usize) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let mut state = StageState::default();
    if let Some(p) = ckpt.filter(|p| p.exists()) {
        state = load_training(p, vm, opt)?;
    }
    while state.step < steps {
        let loss = step_fn(state.step)?;
        let v = loss.to_scalar::<f32>()?;
        if !v.is_finite() {
            return Err(Error::invalid(format!(
                "training diverged: loss {v} at step {}",
                state.step
            )));
        }
        opt.backward_step(&loss)?;
        state.losses.push(v);
        state.step += 1;
        if let Some(p) = ckpt {
            if state.step % every == 0 || state.step == steps {
                save_training(p, vm, opt, &state)?;
            }
        }
    }
    Ok(state.losses)
}

fn adam(vars: Vec<Var>, lr: f64) -> Result<Adam> {
    Adam::new(
        vars,
        AdamConfig {
            lr,
            ..Default::default()
        },
    )
}

fn generator(cfg: &TrainConfig) -> Result<SynthClickMatte> {
    SynthClickMatte::new(SynthConfig::with_size(cfg.size))
}

/// Stage 1: encoder + alpha decoder (the σ decoder's variables are left alone).
/// `ckpt`: the stage's checkpoint file (resumed from when it exists).
pub fn train_alpha(
    net: &MattingNet,
    vm: &VarMap,
    cfg: &TrainConfig,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    train_alpha_with(net, vm, cfg, &generator(cfg)?, ckpt)
}

/// [`train_alpha`] on the samples of `gen`.
pub fn train_alpha_with(
    net: &MattingNet,
    vm: &VarMap,
    cfg: &TrainConfig,
    gen: &dyn TrainSource,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    let clicks = net.config().clicks;
    let device = candor_core::device::varmap_device(vm);
    let mut opt = adam(vars_with_prefix(vm, None, Some(SIGMA_PREFIX)), cfg.lr)?;
    run_stage(
        vm,
        &mut opt,
        cfg.alpha_steps,
        cfg.checkpoint_every,
        ckpt,
        |step| {
            let b = training_batch(gen, cfg, "stage1", step, clicks, &device)?;
            let out = net.forward(&b.input, false, false)?;
            alpha_loss(&out.alpha, &b.gt, &cfg.alpha_loss)
        },
    )
}

/// Stage 2: the uncertainty decoder on the frozen encoder, with `cfg.sigma_loss`.
pub fn train_sigma(
    net: &MattingNet,
    vm: &VarMap,
    cfg: &TrainConfig,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    train_sigma_with(net, vm, cfg, &generator(cfg)?, ckpt)
}

/// [`train_sigma`] on the samples of `gen`.
pub fn train_sigma_with(
    net: &MattingNet,
    vm: &VarMap,
    cfg: &TrainConfig,
    gen: &dyn TrainSource,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    let clicks = net.config().clicks;
    let device = candor_core::device::varmap_device(vm);
    let mut opt = adam(vars_with_prefix(vm, Some(SIGMA_PREFIX), None), cfg.lr)?;
    run_stage(
        vm,
        &mut opt,
        cfg.sigma_steps,
        cfg.checkpoint_every,
        ckpt,
        |step| {
            let b = training_batch(gen, cfg, "stage2", step, clicks, &device)?;
            let out = net.forward(&b.input, true, true)?;
            let sigma = out.sigma.expect("asked for σ");
            match cfg.sigma_loss {
                SigmaLoss::Laplace => laplace_nll(&out.alpha, &sigma, &b.gt),
                SigmaLoss::L1Error => l1_error_loss(&out.alpha, &sigma, &b.gt),
            }
        },
    )
}

/// Stage 3: the refinement net on the hardest k×k patches of the frozen net's output.
pub fn train_refine(
    net: &MattingNet,
    refine: &RefineNet,
    refine_vm: &VarMap,
    cfg: &TrainConfig,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    train_refine_with(net, refine, refine_vm, cfg, &generator(cfg)?, ckpt)
}

/// [`train_refine`] on the samples of `gen`.
pub fn train_refine_with(
    net: &MattingNet,
    refine: &RefineNet,
    refine_vm: &VarMap,
    cfg: &TrainConfig,
    gen: &dyn TrainSource,
    ckpt: Option<&Path>,
) -> Result<Vec<f32>> {
    cfg.validate()?;
    let clicks = net.config().clicks;
    let device = candor_core::device::varmap_device(refine_vm);
    let k = patch_size(cfg.size);
    let mut opt = adam(vars_with_prefix(refine_vm, None, None), cfg.lr)?;
    run_stage(
        refine_vm,
        &mut opt,
        cfg.refine_steps,
        cfg.checkpoint_every,
        ckpt,
        |step| {
            let b = training_batch(gen, cfg, "stage3", step, clicks, &device)?;
            let by_sigma = cfg.refine_windows == RefineWindows::LargestSigma;
            let out = net.forward(&b.input, by_sigma, false)?;
            let alpha = out.alpha.detach();
            let score = match (&out.sigma, by_sigma) {
                (Some(sigma), true) => sigma.detach(),
                _ => (&alpha - &b.gt)?.abs()?,
            };
            let (mut rgb_p, mut a_p, mut g_p) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..b.samples.len() {
                let (h, w) = b.samples[i].size();
                let e = score.get(i)?.flatten_all()?.to_vec1::<f32>()?;
                let wins = select_windows(&e, h, w, k, (k / 2).max(1), cfg.patches_per_image)?;
                rgb_p.push(crop_windows(&b.rgb.get(i)?, &wins)?);
                a_p.push(crop_windows(&alpha.get(i)?, &wins)?);
                g_p.push(crop_windows(&b.gt.get(i)?, &wins)?);
            }
            let pred = refine.forward(&Tensor::cat(&rgb_p, 0)?, &Tensor::cat(&a_p, 0)?)?;
            refine_loss(&pred, &Tensor::cat(&g_p, 0)?, &cfg.refine_loss)
        },
    )
}

/// A network trained by [`train_model`], with its variables and loss histories.
pub struct TrainedModel {
    pub net: MattingNet,
    pub vm: VarMap,
    pub refine: RefineNet,
    pub refine_vm: VarMap,
    /// Loss per step of stages 1, 2 and 3.
    pub losses: [Vec<f32>; 3],
}

/// The three stages of one network and its refinement net, as a user trains a model
/// for the `matte` example: stage 1 ([`train_alpha`]), stage 2 ([`train_sigma`]) and
/// stage 3 ([`train_refine`]), each resumable from its checkpoint in `dir`
/// (`click.stage{1,2}.ckpt`, `refine.stage3.ckpt`); then the final networks go to `dir`
/// through [`crate::infer::save_model`], where [`crate::infer::load_model`] finds them.
/// Parameters are initialised from `cfg.seed` as in the reproduction.
pub fn train_model(
    net_cfg: &NetConfig,
    refine_cfg: &RefineConfig,
    cfg: &TrainConfig,
    dir: &Path,
    device: &Device,
) -> Result<TrainedModel> {
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let vm = VarMap::new();
    let net = MattingNet::new(
        net_cfg,
        seeded_var_builder(&vm, cfg.seed, DType::F32, device),
    )?;
    if !cfg.size.is_multiple_of(net_cfg.side_multiple()) {
        return Err(Error::invalid(format!(
            "training: size {} is not a multiple of {} (the network's stride)",
            cfg.size,
            net_cfg.side_multiple()
        )));
    }
    let l1 = train_alpha(&net, &vm, cfg, Some(&stage_checkpoint(dir, "click", 1)))?;
    let l2 = train_sigma(&net, &vm, cfg, Some(&stage_checkpoint(dir, "click", 2)))?;
    let refine_vm = VarMap::new();
    let refine = RefineNet::new(
        refine_cfg,
        seeded_var_builder(&refine_vm, cfg.seed ^ 0x5eed, DType::F32, device),
    )?;
    let l3 = train_refine(
        &net,
        &refine,
        &refine_vm,
        cfg,
        Some(&stage_checkpoint(dir, "refine", 3)),
    )?;
    let saved = SavedModel {
        net: net_cfg.clone(),
        refine: refine_cfg.clone(),
        size: cfg.size,
    };
    save_model(dir, &saved, &vm, &refine_vm)?;
    Ok(TrainedModel {
        net,
        vm,
        refine,
        refine_vm,
        losses: [l1, l2, l3],
    })
}

/// Checkpoint paths of one run under `dir`: `<name>.stage{1,2,3}.ckpt`.
pub fn stage_checkpoint(dir: &Path, name: &str, stage: usize) -> PathBuf {
    dir.join(format!("{name}.stage{stage}.ckpt"))
}
