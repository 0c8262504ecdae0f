//! # candor-core
//!
//! What several candor paper crates need, written once:
//!
//! | module | what |
//! |---|---|
//! | [`alloc`] | glibc allocator tuning that keeps freed tensors' memory (page faults are slow on VMs) |
//! | [`assets`] | ten public-domain / CC0 sample photos (scikit-image's) embedded for the synthetic data generators |
//! | [`rng`] | [`SeededRng`], seeded dropout: the same seed gives the same numbers |
//! | [`init`] | a seeded `VarBuilder`: candle-nn layers initialised reproducibly |
//! | [`imageio`] | images ↔ `C×H×W` tensors in `[0, 1]`, PNG/JPEG, JPEG re-encoding, resizing, crops |
//! | [`fft`] | 2-D FFT, the SPSL phase spectrum, the amplitude spectrum (per plane, batched) |
//! | [`knn`] | k nearest neighbours inside a point set: brute force and kd-tree, identical results |
//! | [`metrics`] | accuracy, ROC/AUC, EER, AP (as scikit-learn), PSNR, SSIM (as scikit-image), NC, BER, mean ± std with 95% CI, the DIM matting errors SAD/MSE/Grad/Conn |
//! | [`ops`] | CPU ops with gradients that candle lacks or runs slowly: conv2d (dense, grouped, depthwise), conv_transpose2d, max/avg/adaptive pooling, bilinear resampling, layer/group/instance/batch norm, linear with fused activation, ReLU/LeakyReLU/ELU/sigmoid/tanh/softplus |
//! | [`nn`] | trainable layers on those ops with PyTorch names, one file each: `Linear`, `Mlp`, `Conv2d`, `ConvTranspose2d`, `SeparableConv2d`, `BatchNorm2d`, `LayerNorm`, `GroupNorm`, `InstanceNorm2d`, `Dropout`, activations, pools, `Upsample` |
//! | [`gradcheck`] | finite-difference gradient checks and the every-parameter-gets-a-gradient assertion, for tests |
//! | [`optim`] | Adam (coupled L2), AdamW, SGD with momentum/Nesterov, RMSprop, clipping, LR schedules, target-network updates |
//! | [`checkpoint`] | safetensors checkpoints written atomically; resumable training state |
//! | [`data`] | seeded mini-batches and group splits |
//! | [`device`] | `--device cpu\|cuda[:N]`: [`DeviceSpec`], parsed once and opened once |
//! | [`stats`] | Wilson / Clopper–Pearson, bootstrap (percentile, BCa, clustered), McNemar, DeLong (clustered), Welch, Mann–Whitney, Holm; claim verdicts from tests |
//! | [`report`], [`plot`] | results tables (ours beside the paper's), claims, `results.json`, PNG plots |
//! | [`reproduce`] | the options every paper's `reproduce::run` takes |
//!
//! ```
//! use candor_core::{fft, metrics};
//! let p = fft::phase_spectrum(&[0.0, 1.0, 0.5, 0.25], 2, 2).unwrap();
//! let rms = (p.iter().map(|v| v * v).sum::<f32>() / 4.0).sqrt();
//! assert!((rms - 0.5).abs() < 1e-6); // 1/sqrt(H·W)
//! let auc = metrics::roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
//! assert_eq!(auc, 0.75);
//! ```

pub mod alloc;
pub mod assets;
pub mod checkpoint;
pub mod crashtest;
pub mod data;
pub mod device;
pub mod error;
pub mod fft;
pub mod fsio;
pub mod gradcheck;
pub mod imageio;
pub mod init;
pub mod knn;
pub mod metrics;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod rng;
pub mod stats;
pub mod threads;

pub use device::DeviceSpec;
pub use error::{Error, Result};
pub use reproduce::{ReproduceOptions, Scale};
pub use rng::{RngState, SeededRng};

/// The README's Rust example, compiled and run as a doctest so the snippet stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
