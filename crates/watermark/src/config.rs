//! Configuration: serde structs whose defaults are the **official code**
//! (`ZJZAC/Deep-Model-Watermarking`, as read in the paper card), with every place where
//! the code and the paper differ exposed as an option.
//!
//! Unknown keys are rejected everywhere (`deny_unknown_fields`), absent keys take the
//! default, and [`Config::validate`] checks values. [`Config::tiny`] is a seconds-long
//! configuration for tests.
//!
//! | option | official code (default) | paper / alternative |
//! |---|---|---|
//! | [`LossConfig::vgg_weight`] | 0 (the VGG-relu2_2 term is off) | part of L_emd \[unverified\]; offline it is a random-feature net |
//! | [`LossConfig::l1_weight`] | 0 | — |
//! | [`WatermarkConfig::kind`] | a logo image (the code hard-codes `flower.png`, which is not reused; ours is procedural) | any logo, [`LogoKind`] |
//! | [`SurrogateConfig::gan_type`] | vanilla GAN (`train.py` forces it) | WGAN-GP, the options file's unused default |
//! | [`SurrogateConfig::content`] | `content_gan`: perceptual + adversarial | L1, L2, with or without the adversarial term |
//! | [`SurrogateConfig::arch`] | ResNet-9 | ResNet-6/16, U-Net, and a plain "CNet-like" CNN (CNet is not in the repository) |
//! | [`TaskConfig::channels`] | 1 (greyscale) | 3 (RGB derain, issue #5 of the repository) |
//!
//! The network, loss, training and surrogate sections are consumed by the deep scheme
//! (embedder H, extractor R, discriminator D and the surrogate attack), which is built on
//! candor-core's layers; the data, watermark, split, traditional and decision sections
//! are used by [`crate::data`], [`crate::traditional`] and [`crate::eval`].

use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The image-to-image task whose outputs are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// X-ray bone suppression proxy ("SynthDebone"): A = B + ribs + clavicles.
    Debone,
    /// Rain removal proxy ("SynthDerain"): A = B + 1–3 layers of rain streaks.
    Derain,
    /// Denoising: A = B + N(0, σ²), σ ∈ [15, 50]/255.
    Denoise,
}

impl TaskKind {
    /// All tasks.
    pub const ALL: [TaskKind; 3] = [TaskKind::Debone, TaskKind::Derain, TaskKind::Denoise];

    /// The serde name (`debone`, `derain`, `denoise`).
    pub fn key(self) -> &'static str {
        match self {
            TaskKind::Debone => "debone",
            TaskKind::Derain => "derain",
            TaskKind::Denoise => "denoise",
        }
    }
}

impl std::str::FromStr for TaskKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "debone" | "synthdebone" => Ok(TaskKind::Debone),
            "derain" | "synthderain" => Ok(TaskKind::Derain),
            "denoise" => Ok(TaskKind::Denoise),
            _ => Err(Error::invalid(format!(
                "unknown task '{s}': expected debone, derain or denoise"
            ))),
        }
    }
}

/// The synthetic task data ([`crate::data::synthetic`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// Which task (debone, the official code's default).
    pub kind: TaskKind,
    /// Image height (256, the official size).
    pub height: usize,
    /// Image width (256).
    pub width: usize,
    /// 1 = greyscale (the official default), 3 = RGB.
    pub channels: usize,
    /// Number of source images, one (A, B) pair each (2000 \[proposal\]: the dataset
    /// sizes are \[unverified\]; 2000 leaves 1000 clean A/B negatives in a 25 %
    /// calibration split, enough for a 0.1 % false-positive target).
    pub images: usize,
    /// Seed of the generator: image `i` depends only on `(seed, task, i)`.
    pub seed: u64,
}

impl Default for TaskConfig {
    fn default() -> Self {
        Self {
            kind: TaskKind::Debone,
            height: 256,
            width: 256,
            channels: 1,
            images: 2000,
            seed: 0,
        }
    }
}

/// Which procedural logo is the watermark δ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogoKind {
    /// A ring, a text line in block glyphs and a small module grid (like the
    /// repository's copyright/IEEE logos: mostly background, dark marks).
    Logo,
    /// A keyed QR-like grid of square modules with three finder squares.
    Grid,
}

/// Which side of the logo is dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Polarity {
    /// Dark marks on white, as every logo in the repository.
    DarkOnLight,
    /// White marks on black: exercises the uncentred-NC pitfall the other way round.
    LightOnDark,
}

/// The blank watermark δ0 that the extractor must output on clean images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlankKind {
    /// All white, the repository's `secret/clean.png`.
    White,
    /// All black.
    Black,
}

impl BlankKind {
    /// The constant value of δ0.
    pub fn value(self) -> f32 {
        match self {
            BlankKind::White => 1.0,
            BlankKind::Black => 0.0,
        }
    }
}

/// The watermark image δ and the blank δ0 ([`crate::data::logo`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatermarkConfig {
    /// Logo kind (the procedural logo; the code's `flower.png` has no known licence).
    pub kind: LogoKind,
    /// Text of [`LogoKind::Logo`] (A–Z, 0–9, space, `-`, `.`).
    pub text: String,
    /// Dark on light (the repository's logos).
    pub polarity: Polarity,
    /// δ0 (all white, `clean.png`).
    pub blank: BlankKind,
    /// Seed of the [`LogoKind::Grid`] modules and of the logo's module block.
    pub key: u64,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        Self {
            kind: LogoKind::Logo,
            text: "CANDOR".into(),
            polarity: Polarity::DarkOnLight,
            blank: BlankKind::White,
            key: 2020,
        }
    }
}

/// Fractions of source images in the three splits ([`crate::data::split_by_source`]).
/// No source image crosses splits, so a threshold is never calibrated on an image it
/// is then tested on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Training H/R/D and the surrogates (0.5).
    pub train: f64,
    /// Calibrating the decision threshold on negatives (0.25).
    pub calibration: f64,
    /// Held-out success and false-positive rates (0.25).
    pub test: f64,
    /// Seed of the assignment.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            train: 0.5,
            calibration: 0.25,
            test: 0.25,
            seed: 0,
        }
    }
}

/// Embedding network H: pix2pix `UnetGenerator` on concat(B, δ), BatchNorm, no dropout,
/// sigmoid output B′ (not a residual).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedderConfig {
    /// Base width (64).
    pub ngf: usize,
    /// Down-sampling steps (7: 256 → 2 × 2); the image side must be divisible by 2^num_downs.
    pub num_downs: usize,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            ngf: 64,
            num_downs: 7,
        }
    }
}

/// Extractor R: `HidingRes` (three convs, the third with stride 2, residual blocks with
/// dilations, a transposed conv, a conv, a 1×1 conv with ReLU output), affine
/// InstanceNorm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractorConfig {
    /// Width (128).
    pub width: usize,
    /// Dilation of each residual block (2, 2, 2, 2, 4, 4, 4, 4, 1).
    pub dilations: Vec<usize>,
}

impl Default for ExtractorConfig {
    fn default() -> Self {
        Self {
            width: 128,
            dilations: vec![2, 2, 2, 2, 4, 4, 4, 4, 1],
        }
    }
}

/// Discriminator D: 3×3 stride-2 convs, LeakyReLU 0.2, non-affine InstanceNorm after
/// the first block, a final conv to a 1-channel patch map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Channel widths of the blocks (64, 128, 256, 512).
    pub widths: Vec<usize>,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        Self {
            widths: vec![64, 128, 256, 512],
        }
    }
}

/// Loss weights of the initial stage (`Initial stage/main.py`; argument names in
/// brackets). errH = mse_scale·MSE(B′, B) + adv_weight·MSE(D(B′), 1) + l1_weight·L1 +
/// vgg_weight·VGG; errR = mse_scale·[MSE(R(B′), δ) + consistency·MSE(halves) +
/// clean·(clean_a·MSE(R(A), δ0) + clean_b·MSE(R(B), δ0))]; total = errH + reveal·errR;
/// errD = d_scale·0.5·(MSE(D(B), 1) + MSE(D(B′), 0)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Scale of every MSE (1e4, `betamse`).
    pub mse_scale: f64,
    /// Adversarial term of errH (0.01, `betagans`).
    pub adv_weight: f64,
    /// L1 term of errH (0, `betapix`).
    pub l1_weight: f64,
    /// Perceptual term of errH (0, `betavgg`; the paper's L_emd has one \[unverified\]).
    pub vgg_weight: f64,
    /// Weight of errR in the joint loss (1, `beta`).
    pub reveal_weight: f64,
    /// Clean-image term (1, `betaclean`).
    pub clean_weight: f64,
    /// R(A) → δ0 (1, `betacleanA`).
    pub clean_a_weight: f64,
    /// R(B) → δ0 (1, `betacleanB`).
    pub clean_b_weight: f64,
    /// Consistency between the two halves of the batch (1, `betacons`).
    pub consistency_weight: f64,
    /// Scale of the discriminator loss (1e4, hard-coded).
    pub d_scale: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            mse_scale: 1e4,
            adv_weight: 0.01,
            l1_weight: 0.0,
            vgg_weight: 0.0,
            reveal_weight: 1.0,
            clean_weight: 1.0,
            clean_a_weight: 1.0,
            clean_b_weight: 1.0,
            consistency_weight: 1.0,
            d_scale: 1e4,
        }
    }
}

/// Optimisation of the initial stage: plain Adam (no weight decay) for H, R and D,
/// ReduceLROnPlateau on the validation losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Learning rate (2e-4).
    pub lr: f64,
    /// Adam β1 (0.5).
    pub beta1: f64,
    /// Adam β2 (0.999).
    pub beta2: f64,
    /// Batch size (16; even, the consistency term compares the two halves).
    pub batch_size: usize,
    /// Epochs (200).
    pub epochs: usize,
    /// ReduceLROnPlateau factor (0.2).
    pub plateau_factor: f64,
    /// Patience of H's and D's schedulers (5).
    pub patience_hd: usize,
    /// Patience of R's scheduler (8).
    pub patience_r: usize,
    /// Clamp B′ to [0, 1] (`--clip`, off; the sigmoid already bounds it).
    pub clip_container: bool,
    /// Seed of initialisation and batching.
    pub seed: u64,
    /// Step budget; `None` = `epochs` passes over the training split (the official
    /// schedule). With a budget an epoch is still one pass, and the schedulers step
    /// at each epoch's end.
    pub steps: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            batch_size: 16,
            epochs: 200,
            plateau_factor: 0.2,
            patience_hd: 5,
            patience_r: 8,
            clip_container: false,
            seed: 0,
            steps: None,
        }
    }
}

/// Surrogate generator architecture (`which_model_netG`; CNet-like is our substitute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SurrogateArch {
    /// A plain 6-layer CNN standing in for the paper's CNet (absent from the code).
    CnetLike,
    /// ResNet generator with 6 blocks.
    Resnet6,
    /// ResNet generator with 9 blocks (the code's default).
    Resnet9,
    /// ResNet generator with 16 blocks.
    Resnet16,
    /// U-Net (`unet_256`).
    Unet,
}

/// Content loss of the surrogate (`model`: pix2pix = L1, mse = L2, content_gan =
/// perceptual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentLoss {
    /// L1 (`pix2pix`).
    L1,
    /// L2 (`mse`).
    L2,
    /// Feature MSE (`content_gan`: VGG19 to conv3_3 in the code; offline a fixed
    /// random-feature conv net, since ImageNet weights are unavailable).
    Perceptual,
}

/// GAN loss of the surrogate's adversarial term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GanType {
    /// Vanilla (BCE) GAN, which `train.py` forces.
    Vanilla,
    /// Least-squares GAN.
    Lsgan,
    /// WGAN-GP, the options file's (unused) default.
    WganGp,
}

/// The attacker's surrogate model (`SR attack/`, a DeblurGAN code base).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurrogateConfig {
    /// Architecture (ResNet-9).
    pub arch: SurrogateArch,
    /// Content loss (perceptual, `content_gan`).
    pub content: ContentLoss,
    /// Add the adversarial term (yes, `ganloss`).
    pub adversarial: bool,
    /// GAN loss (vanilla).
    pub gan_type: GanType,
    /// Weight of the content loss, λ_A (100).
    pub content_weight: f64,
    /// Output = input + generator(input) (forced on by `train.py`).
    pub learn_residual: bool,
    /// Generator base width (64).
    pub ngf: usize,
    /// Learning rate (1e-4).
    pub lr: f64,
    /// Adam β1 (0.5).
    pub beta1: f64,
    /// Batch size (16).
    pub batch_size: usize,
    /// Epochs at the full learning rate (150).
    pub epochs: usize,
    /// Epochs of linear decay to zero after them (150).
    pub decay_epochs: usize,
    /// Seed of initialisation and batching.
    pub seed: u64,
    /// Levels of the U-Net surrogate (8, `unet_256`; the image side must be divisible
    /// by 2^levels).
    pub unet_downs: usize,
    /// Step budget; `None` = (`epochs` + `decay_epochs`) passes. With a budget the
    /// learning rate is constant for the first `epochs/(epochs+decay_epochs)` of the
    /// steps and decays linearly to zero over the rest.
    pub steps: Option<usize>,
}

impl Default for SurrogateConfig {
    fn default() -> Self {
        Self {
            arch: SurrogateArch::Resnet9,
            content: ContentLoss::Perceptual,
            adversarial: true,
            gan_type: GanType::Vanilla,
            content_weight: 100.0,
            learn_residual: true,
            ngf: 64,
            lr: 1e-4,
            beta1: 0.5,
            batch_size: 16,
            epochs: 150,
            decay_epochs: 150,
            seed: 0,
            unet_downs: 8,
            steps: None,
        }
    }
}

/// Adversarial stage: fine-tune R only on watermarked, surrogate and clean outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdversarialConfig {
    /// Learning rate (1e-4).
    pub lr: f64,
    /// Adam β1 (0.5).
    pub beta1: f64,
    /// ReduceLROnPlateau patience (8), factor as the initial stage.
    pub patience: usize,
    /// Epochs (the code's default, 200).
    pub epochs: usize,
    /// Step budget; `None` = `epochs` passes over the training split.
    pub steps: Option<usize>,
    /// Batch size (the initial stage's).
    pub batch_size: usize,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            beta1: 0.5,
            patience: 8,
            epochs: 200,
            steps: None,
            batch_size: 16,
        }
    }
}

/// The traditional spread-spectrum bit watermark ([`crate::traditional`]); no code is
/// released, so everything here is \[proposal\].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraditionalConfig {
    /// Number of embedded bits (64).
    pub bits: usize,
    /// Secret key: the ±1 pattern of bit k is drawn from `(key, k)`.
    pub key: u64,
    /// Seed of the embedded bit string.
    pub message_seed: u64,
    /// Radius of the box low-pass subtracted before correlating (1: a 3×3 box; 0: only
    /// the mean is subtracted).
    pub lowpass_radius: usize,
    /// RMS amplitude per pixel before clipping; `None` = matched to a target PSNR
    /// ([`crate::traditional::match_psnr`]), the deep scheme's in the reproduction.
    pub amplitude: Option<f64>,
    /// Allowed |mean PSNR − target| of the matching, in dB (0.5).
    pub psnr_tolerance_db: f64,
}

impl Default for TraditionalConfig {
    fn default() -> Self {
        Self {
            bits: 64,
            key: 0x5eed_b175,
            message_seed: 1,
            lowpass_radius: 1,
            amplitude: None,
            psnr_tolerance_db: 0.5,
        }
    }
}

/// The ownership decision ([`crate::eval`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionConfig {
    /// False-positive rate the threshold is calibrated for (0.001).
    pub target_fpr: f64,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self { target_fpr: 1e-3 }
    }
}

/// Everything, with the official code's defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Task data.
    pub task: TaskConfig,
    /// Watermark δ and blank δ0.
    pub watermark: WatermarkConfig,
    /// Train / calibration / test split by source image.
    pub split: SplitConfig,
    /// Embedding network H.
    pub embedder: EmbedderConfig,
    /// Extractor R.
    pub extractor: ExtractorConfig,
    /// Discriminator D.
    pub discriminator: DiscriminatorConfig,
    /// Initial-stage losses.
    pub loss: LossConfig,
    /// Initial-stage optimisation.
    pub train: TrainConfig,
    /// Surrogate attack.
    pub surrogate: SurrogateConfig,
    /// Adversarial stage.
    pub adversarial: AdversarialConfig,
    /// Traditional bit watermark.
    pub traditional: TraditionalConfig,
    /// Decision and calibration.
    pub decision: DecisionConfig,
}

impl Config {
    /// A configuration for tests: 32 × 32 greyscale, 24 images, narrow networks, a few
    /// steps' worth of epochs.
    pub fn tiny() -> Self {
        Self {
            task: TaskConfig {
                height: 32,
                width: 32,
                images: 24,
                ..TaskConfig::default()
            },
            embedder: EmbedderConfig {
                ngf: 8,
                num_downs: 3,
            },
            extractor: ExtractorConfig {
                width: 8,
                dilations: vec![2, 1],
            },
            discriminator: DiscriminatorConfig {
                widths: vec![8, 16],
            },
            train: TrainConfig {
                batch_size: 4,
                epochs: 2,
                ..TrainConfig::default()
            },
            surrogate: SurrogateConfig {
                ngf: 8,
                batch_size: 4,
                epochs: 2,
                decay_epochs: 0,
                unet_downs: 3,
                ..SurrogateConfig::default()
            },
            adversarial: AdversarialConfig {
                epochs: 2,
                batch_size: 4,
                ..AdversarialConfig::default()
            },
            traditional: TraditionalConfig {
                bits: 16,
                ..TraditionalConfig::default()
            },
            ..Self::default()
        }
    }

    /// Parse JSON; absent keys take the defaults, unknown keys are errors; validated.
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Config = serde_json::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse TOML; as [`from_json`](Self::from_json).
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| Error::invalid(format!("config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Check every value; a bad one is an `Err` naming it.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("config: {m}")));
        let t = &self.task;
        for (name, v) in [
            ("task.height", t.height),
            ("task.width", t.width),
            ("task.images", t.images),
            ("embedder.ngf", self.embedder.ngf),
            ("embedder.num_downs", self.embedder.num_downs),
            ("extractor.width", self.extractor.width),
            ("train.batch_size", self.train.batch_size),
            ("surrogate.ngf", self.surrogate.ngf),
            ("surrogate.batch_size", self.surrogate.batch_size),
            ("surrogate.unet_downs", self.surrogate.unet_downs),
            ("adversarial.batch_size", self.adversarial.batch_size),
            ("traditional.bits", self.traditional.bits),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if t.channels != 1 && t.channels != 3 {
            return bad(format!(
                "task.channels must be 1 (greyscale) or 3 (RGB), got {}",
                t.channels
            ));
        }
        if t.height < 16 || t.width < 16 {
            return bad(format!(
                "task images must be at least 16x16 (SSIM needs 11x11), got {}x{}",
                t.height, t.width
            ));
        }
        let step = 1usize
            .checked_shl(self.embedder.num_downs as u32)
            .unwrap_or(usize::MAX);
        if !t.height.is_multiple_of(step) || !t.width.is_multiple_of(step) {
            return bad(format!(
                "task size {}x{} must be divisible by 2^embedder.num_downs = {step}",
                t.height, t.width
            ));
        }
        if self.extractor.dilations.contains(&0) {
            return bad("extractor.dilations must be positive".into());
        }
        if self.discriminator.widths.is_empty() || self.discriminator.widths.contains(&0) {
            return bad("discriminator.widths must be non-empty and positive".into());
        }
        if !self.train.batch_size.is_multiple_of(2) {
            return bad(format!(
                "train.batch_size must be even (the consistency term compares the two halves), got {}",
                self.train.batch_size
            ));
        }
        if !self.adversarial.batch_size.is_multiple_of(2) {
            return bad(format!(
                "adversarial.batch_size must be even (consistency term), got {}",
                self.adversarial.batch_size
            ));
        }
        let s = &self.split;
        let fr = [s.train, s.calibration, s.test];
        if fr.iter().any(|f| !(0.0..=1.0).contains(f))
            || (fr.iter().sum::<f64>() - 1.0).abs() > 1e-9
        {
            return bad(format!(
                "split fractions must be in [0, 1] and sum to 1, got ({}, {}, {})",
                s.train, s.calibration, s.test
            ));
        }
        let l = &self.loss;
        for (name, v) in [
            ("loss.mse_scale", l.mse_scale),
            ("loss.adv_weight", l.adv_weight),
            ("loss.l1_weight", l.l1_weight),
            ("loss.vgg_weight", l.vgg_weight),
            ("loss.reveal_weight", l.reveal_weight),
            ("loss.clean_weight", l.clean_weight),
            ("loss.clean_a_weight", l.clean_a_weight),
            ("loss.clean_b_weight", l.clean_b_weight),
            ("loss.consistency_weight", l.consistency_weight),
            ("loss.d_scale", l.d_scale),
            ("surrogate.content_weight", self.surrogate.content_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} must be finite and ≥ 0, got {v}"));
            }
        }
        for (name, v) in [
            ("train.lr", self.train.lr),
            ("surrogate.lr", self.surrogate.lr),
            ("adversarial.lr", self.adversarial.lr),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be finite and > 0, got {v}"));
            }
        }
        for (name, v) in [
            ("train.beta1", self.train.beta1),
            ("train.beta2", self.train.beta2),
            ("surrogate.beta1", self.surrogate.beta1),
            ("adversarial.beta1", self.adversarial.beta1),
            ("train.plateau_factor", self.train.plateau_factor),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1), got {v}"));
            }
        }
        let tr = &self.traditional;
        if let Some(a) = tr.amplitude {
            if !(a.is_finite() && a > 0.0) {
                return bad(format!("traditional.amplitude must be > 0, got {a}"));
            }
        }
        if !(tr.psnr_tolerance_db.is_finite() && tr.psnr_tolerance_db > 0.0) {
            return bad(format!(
                "traditional.psnr_tolerance_db must be > 0, got {}",
                tr.psnr_tolerance_db
            ));
        }
        let d = &self.decision;
        if !(d.target_fpr > 0.0 && d.target_fpr < 1.0) {
            return bad(format!(
                "decision.target_fpr must be in (0, 1), got {}",
                d.target_fpr
            ));
        }
        crate::data::logo::check_text(&self.watermark.text)?;
        Ok(())
    }
}
