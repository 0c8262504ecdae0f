//! # candor-forgery
//!
//! Face-forgery detectors from two CVPR 2021 papers, on candle and
//! candor-core's ops:
//!
//! * Zhao et al., *Multi-attentional Deepfake Detection* (MAT);
//! * Liu et al., *Spatial-Phase Shallow Learning: Rethinking Face Forgery
//!   Detection in Frequency Domain* (SPSL).
//!
//! Paper cards: `shared/papers/forgery-mat.md`, `shared/papers/forgery-spsl.md`.
//!
//! ## What exists
//!
//! | module | contents |
//! |---|---|
//! | [`data`] | FaceForensics++-style frame folders ([`data::FrameFolder`]: FF++'s own layout or `real/` + `fake/<method>/`, split files, lazy or cached loading); the seeded synthetic-forgery proxy ([`data::synthetic`]: up-sampler "methods" m1–m7 and the null control, written in that layout); SPSL's phase channel ([`data::phase`]) |
//! | [`model`] | Xception (0–8 middle blocks, 3 or 4 channels) and EfficientNet B0–B4 with timm names; the detectors behind one [`model::Detector`] trait: the vanilla baseline, MAT (official code or DeepfakeBench variant: attention maps, texture enhancement v1/v2, bilinear attention pooling, regional independence loss, AGDA, backbone-only first stage) and SPSL (shallow or full depth, with or without the phase channel); [`model::save_detector`] / [`model::load_detector`]: a checkpoint file that carries its [`model::DetectorConfig`]; [`model::save_attention_figure`] |
//! | [`train`] | one seeded, resumable training loop for every detector, with per-epoch validation and the recipes of both references ([`train::TrainConfig`] presets) |
//! | [`eval`] | frame ACC/AUC/EER/AP and video AUC/ACC exactly as scikit-learn and DeepfakeBench compute them |
//! | [`reproduce`] | `cargo xtask reproduce --paper forgery`: MAT vs its backbone in-domain, SPSL vs its RGB-only and full-depth ablations across manipulation methods, a negative (random labels) and a positive (blurred region) control; every claim decided by DeLong tests on a shared test set, clustered by video, over 3 seeds ([`reproduce::claims`]) |
//!
//! Examples: `phase` (the phase channel of one image as `.npy`/PNG), `detect`
//! (score every image of a folder with a saved detector:
//! `cargo run --release -p candor-forgery --example detect -- --checkpoint
//! model.safetensors --images DIR [--threshold 0.5]`) and `features` (pooled features
//! and logits of one image from a timm checkpoint, for parity with timm:
//! `cargo run --release -p candor-forgery --example features -- --arch xception
//! --pretrained legacy_xception.safetensors --image face.png`).
//!
//! ## Reproduction scales
//!
//! | scale | data | networks | training | time |
//! |---|---|---|---|---|
//! | smoke | proxy, 32 px, 4/2/4 videos × 2 frames | Xception ÷ 16 widths, EfficientNet/MAT `tiny` | 2 epochs of batch 8, 2 seeds | seconds |
//! | quick | proxy (procedural textures, strong re-sampling), 64 px, 36/12/192 videos × 4 frames | Xception ÷ 8 widths, EfficientNet/MAT `tiny` | [`reproduce::QUICK_EPOCHS`] epochs of batch 16, Adam 1e-3 (MAT: the official 20 : 50 split scaled); 3 seeds of the claims' models | ≤ 10 minutes on 2 cores |
//! | paper | FaceForensics++ c23 frames (`--data DIR`), 32 per video | full networks | official MAT recipe (20 + 50 epochs) for MAT and its backbone, DeepfakeBench's for the Xception family, 256 px | hours, GPU-class |
//!
//! See [`reproduce`] for the experiments, claims and outputs.
//!
//! ## Choices
//!
//! * **Proxy data.** FaceForensics++, Celeb-DF and DFDC are licence-restricted
//!   and never shipped; the synthetic proxy (public-domain/CC0 photos and
//!   procedural textures, blended regions re-sampled by different up-samplers)
//!   stands in for them. Its numbers are proxy numbers, never comparable with the
//!   papers'; cross-*method* tests on it stand in for the papers' cross-*dataset*
//!   tests. The reproduction uses textures and strong re-sampling so that the
//!   reduced networks learn in-domain at all, a choice made from a pilot with the
//!   vanilla Xception before any claim was seen (see [`reproduce`], "Proxy
//!   settings"; `results.json`'s `data` says the same).
//! * **AGDA on the proxy.** AGDA degrades *real* images by down-sampling, blur,
//!   noise and bilinear up-sampling and keeps their label; the proxy's in-domain
//!   manipulation is bilinear re-sampling, so AGDA makes real-labelled copies of the
//!   fake signature and can only handicap MAT in-domain (the MAT card's warning).
//!   The reproduction reports MAT without AGDA beside it.
//! * **Claims.** Decided by DeLong tests of AUCs (clustered by video) on one shared
//!   test set, the seeds' mean compared with the joint covariance, Holm-corrected;
//!   a transfer claim also needs the better AUC above 0.5; a negative and a
//!   positive control can fail ([`reproduce::claims`]).
//! * **Initialisation.** Both papers start from ImageNet weights (Xception;
//!   AdvProp EfficientNet-B4). Timm checkpoints load into every detector
//!   ([`model::pretrained`]: MAT's `net.` prefix, the 1000-class head skipped,
//!   SPSL's 4-channel `conv1` by the card's averaging rule) through
//!   [`train::TrainConfig::pretrained`] or, at paper scale, `cargo xtask reproduce
//!   --weights DIR`. None ship with the project and nothing downloads, so without
//!   them (and always at the reduced widths of smoke and quick scale) models start
//!   from a seeded random initialisation.
//! * **MAT** follows the official code by default (texture v2, RIL on reals with
//!   signed margins, AGDA as a second pass with the match loss, head dropout);
//!   DeepfakeBench's re-implementation is a switch. Its checkpoint is selected
//!   among MAT-stage epochs only.
//! * **SPSL** follows DeepfakeBench v2 (per-image FFT, raw phase channel: the
//!   v1 batch-wide FFT bug is not replicated); "shallow" = no middle flow.
//! * **Protocol.** Checkpoints are selected on a validation split, never on the
//!   test set (unlike DeepfakeBench's best-over-checkpoints reporting).
//! * **Not implemented:** DeepfakeBench's rotation/blur/colour/JPEG training
//!   augmentations (only the flip), the card's hand-crafted logistic-regression
//!   baseline and difficulty curves, DDP/SyncBN.
//!
//! ## Example
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candor_forgery::model::{DetectorConfig, SpslConfig};
//!
//! # fn main() -> candor_forgery::Result<()> {
//! // A tiny SPSL (RGB + phase, shallow Xception at 1/16 width), untrained.
//! let (_vars, det) = DetectorConfig::Spsl(SpslConfig::tiny()).build_seeded(0, &Device::Cpu)?;
//! let images = Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu)?; // (x − 0.5)/0.5
//! let p_fake = det.scores(&images)?;
//! assert_eq!(p_fake.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod data;
pub mod eval;
pub mod model;
pub mod reproduce;
pub mod train;

pub use candor_core::{Error, Result};
