//! # candor-watermark
//!
//! Zhang, Chen, Liao, Fang, Zhang, Zhou, Cui and Yu, *Model Watermarking for Image
//! Processing Networks*, AAAI 2020 (arXiv 2002.11088; journal extension TPAMI 2021,
//! arXiv 2103.04980). Paper card: `shared/papers/watermark.md`; official code:
//! `ZJZAC/Deep-Model-Watermarking` (MIT).
//!
//! The paper protects an image-to-image model M (A → B, e.g. X-ray bone suppression or
//! deraining) against *surrogate* theft — an attacker who trains a copy on M's
//! input/output pairs. An embedding network H hides one invisible watermark image δ in
//! every output, B′ = H(B, δ); an extractor R recovers δ from B′ and from the outputs of
//! any surrogate trained on (A, B′), and outputs a blank δ0 on clean images. A
//! traditional spatial bit watermark is the baseline.
//!
//! ## What exists
//!
//! | module | contents |
//! |---|---|
//! | [`config`] | every setting, defaults = the official code; the code-vs-paper choices as options (table there) |
//! | [`image`] | [`Image`]: planar `C × H × W` f32 in `[0, 1]`, tensor conversion, PNG/JPEG saving |
//! | [`data`] | the synthetic tasks "SynthDebone", "SynthDerain" and denoise (grey or RGB, any size, byte-identical per seed); a loader for real pairs (`A/` + `B/` folders, or the official aligned `[A \| B]` images); the procedural watermark δ, blank δ0 and bit message; splits by source image |
//! | [`traditional`] | keyed additive spread-spectrum bits in the spatial domain, blind extraction by correlation, amplitude matched to a target PSNR by bisection |
//! | [`eval`] | PSNR/SSIM; the projection decision score, zero-mean and uncentred NC, binarised BER, 1 − BER for bits; threshold calibration at a target false-positive rate (conformal order statistic); success and false-positive rates with Wilson intervals |
//! | [`model`] | the networks on candor-core's layers: H ([`model::Unet`], sigmoid output), R ([`model::Extractor`], dilated residual), D ([`model::Discriminator`], patch map), the attacker's [`model::Surrogate`] (CNet-like, ResNet-6/9/16, U-Net) and the fixed [`model::RandomFeatures`] of the perceptual loss |
//! | [`train`] | [`train::DeepScheme`]: the initial stage (the code's ×1e4 losses in f32, a NaN guard, Adam β1 0.5, ReduceLROnPlateau), the adversarial stage (R only), embedding/extraction of image lists, atomic safetensors checkpoints; [`train::train_surrogate`] |
//! | [`reproduce`] | `cargo xtask reproduce --paper watermark [--data DIR]`: the surrogate table, fidelity, the bit scheme at matched PSNR, figures and the four claims, on the synthetic debone task or on the user's own (A, B) pairs in `DIR` (`A/` + `B/`, or aligned `[A \| B]` images, at the scale's size) |
//!
//! CLIs: `examples/embed.rs` (`--model-output B.png --watermark logo.png --weights
//! H.safetensors --out Bw.png`) and `examples/extract.rs` (`--image X.png --weights
//! R.safetensors [--reference logo.png]`, JSON with the projection, NC, BER and
//! decision), on the weights, `config.json` and `decision.json` that the reproduction
//! writes to `<out>/watermark/weights/`.
//!
//! ## Choices
//!
//! * **Official code first.** Defaults follow the repository where it and the paper
//!   differ: the perceptual term of the embedding loss is off ([`config::LossConfig`]),
//!   the surrogate's GAN loss is vanilla ([`config::SurrogateConfig`]), greyscale
//!   256 × 256 debone ([`config::TaskConfig`]). Each is an option.
//! * **Watermark.** The code's `flower.png` has no known licence and is not reused: δ
//!   is a procedural logo (ring, module block, block-font text; or a QR-like grid), dark
//!   on white like the repository's logos; δ0 is all white as `clean.png`.
//! * **Decision.** The card's pitfall: uncentred NC gives a blank (all-white) extraction
//!   about 0.9 against a mostly-white logo, so "NC > 0.95" is not a safe rule. The
//!   decision score here is the projection of δ′ − δ0 onto δ − δ0; zero-mean NC (0 for
//!   a constant image) and the uncentred NC are reported beside it. The threshold is
//!   calibrated on clean negatives of a calibration split at a target false-positive
//!   rate (0.1 %), and rates are measured on held-out images.
//! * **Traditional scheme.** No code is released; the card's spread-spectrum proxy is
//!   implemented, with its amplitude set to match the deep scheme's PSNR.
//! * **Perceptual loss.** The surrogates' "perceptual" content loss (VGG19 features in
//!   the code) uses a fixed random-weight conv net ([`model::RandomFeatures`]):
//!   ImageNet weights are not available offline; every table says so.
//! * **Surrogate details.** Zero padding instead of reflection padding; the adversary
//!   of the adv. variants is the watermark's D (vanilla GAN loss on its patch logits)
//!   instead of DeblurGAN's PatchGAN; CNet (absent from the code) is a plain 6-layer
//!   CNN. WGAN-GP is not implemented (an error if selected; `train.py` forces vanilla).
//! * **Adversarial stage.** R is fine-tuned on B′ → δ, the outputs of one held-out L2
//!   surrogate (ResNet-6) → δ, and clean A, clean B and one clean-trained surrogate's
//!   outputs → δ0; the official code fine-tunes on a single surrogate set. Both
//!   surrogates are excluded from every claim. Its scheduler steps on the epoch's mean
//!   training loss (no validation split of surrogate outputs).
//! * **Data.** Chest X-ray and rain datasets have their own licences; the synthetic
//!   proxies are procedural (no natural-image statistics), so results on them are a
//!   mechanism replication, not the paper's numbers.
//!
//! ## Example
//!
//! Protect the outputs of a (synthetic) debone model with the traditional bit
//! watermark, calibrate the decision on clean outputs and test on held-out ones:
//!
//! ```
//! use candor_watermark::config::{Config, TaskConfig};
//! use candor_watermark::data::{logo, split_by_source, synthetic};
//! use candor_watermark::eval::{bit_score, calibrate_threshold, detection_rate};
//! use candor_watermark::traditional::{match_psnr, SpreadSpectrum};
//! use candor_watermark::Image;
//!
//! # fn main() -> candor_watermark::Result<()> {
//! let cfg = Config::tiny();
//! let task = TaskConfig { images: 40, ..cfg.task.clone() };
//! let splits = split_by_source(synthetic::generate(&task)?, &cfg.split)?;
//!
//! let t = &cfg.traditional;
//! let scheme = SpreadSpectrum::from_config(t, task.channels, task.height, task.width)?;
//! let message = logo::random_bits(t.bits, t.message_seed);
//! // The amplitude whose mean PSNR(B′, B) on the training outputs is 40 ± 0.5 dB.
//! let outputs: Vec<_> = splits.train.iter().map(|p| p.b.clone()).collect();
//! let fit = match_psnr(&scheme, &outputs, &message, 40.0, t.psnr_tolerance_db)?;
//! assert!((fit.mean_psnr - 40.0).abs() <= 0.5);
//!
//! let score = |img: &Image| bit_score(&scheme.extract(img)?, &message);
//! // Negatives: clean model outputs of the calibration split.
//! let negatives = splits.calibration.iter().map(|p| score(&p.b)).collect::<Result<Vec<_>, _>>()?;
//! let rule = calibrate_threshold(&negatives, cfg.decision.target_fpr)?;
//! assert!(!rule.target_reachable); // a handful of negatives cannot certify 0.1 %
//!
//! // Held-out watermarked outputs.
//! let positives = splits.test.iter()
//!     .map(|p| score(&scheme.embed(&p.b, &message, fit.amplitude)?))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let success = detection_rate(&positives, rule.threshold)?;
//! assert_eq!(success.rate, 1.0);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/bits.rs` runs the same protocol at a larger scale and prints the rates.

pub mod config;
pub mod data;
pub mod eval;
pub mod image;
pub mod model;
pub mod reproduce;
pub mod traditional;
pub mod train;

pub use candor_core::{Error, Result};
pub use config::Config;
pub use image::Image;
