//! Networks: backbones (Xception, EfficientNet), the detectors, and their
//! checkpoint files ([`io`]: [`save_detector`] / [`load_detector`], a
//! self-describing safetensors file with the [`DetectorConfig`] as metadata).
//!
//! Backbones, built on candor-core's ops and layers (fast depthwise convolution,
//! pooling with padding and a backward pass, BatchNorm with running statistics),
//! with timm's parameter names so converted timm checkpoints load:
//!
//! * [`xception`]: Xception (timm `xception` / DeepfakeBench), 3 or 4 input
//!   channels, 0–8 middle blocks (0 = SPSL's shallow Xception), a width
//!   multiplier for quick runs.
//! * [`efficientnet`]: EfficientNet B0–B4 with TF-"same" padding (MAT's backbone
//!   is B4), a `tiny()` configuration for quick runs.
//!
//! [`pretrained`] loads timm ImageNet checkpoints into them (and into the
//! detectors) and reproduces timm's preprocessing.
//!
//! The detectors: [`detector`] holds the [`Detector`] trait and the helpers every
//! detector uses; [`vanilla`], [`mat`] and [`spsl`] implement it on a [`backbone`];
//! [`registry`]'s [`DetectorConfig`] lists them all and builds any of them. Imports
//! run one way (registry → detectors → detector trait, backbone), never back.
//!
//! Both have the same interface: `new(vb, &cfg)`, `forward_t(x, train)` → logits,
//! `forward_features_t(x, train)` → named [`FeatureMaps`] (the official MAT code's
//! tap names: `b0`, `b1`, …, `final`), `forward_head(final, train)`,
//! `feature_info()`, and a serde `Config` whose default is the paper setting and
//! whose `validate()` rejects bad settings. Inputs are checked: an `(N, C, H, W)`
//! batch with the configured channel count and `H, W ≥ 32`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::VarMap;
//! use candor_forgery::model::{EfficientNet, EfficientNetConfig, Xception, XceptionConfig};
//!
//! let dev = Device::Cpu;
//! let vm = VarMap::new();
//! let vb = candor_core::init::seeded_var_builder(&vm, 42, DType::F32, &dev);
//! // SPSL-style 4-channel shallow Xception at 1/16 width.
//! let cfg = XceptionConfig { width_multiplier: 1.0 / 16.0, ..XceptionConfig::spsl() };
//! let spsl = Xception::new(vb.pp("spsl"), &cfg).unwrap();
//! let x = Tensor::zeros((2, 4, 64, 64), DType::F32, &dev).unwrap();
//! assert_eq!(spsl.forward_t(&x, true).unwrap().dims(), &[2, 2]);
//! // A tiny EfficientNet; MAT taps b2 (texture), b5 (attention) and final.
//! let eff = EfficientNet::new(vb.pp("mat"), &EfficientNetConfig::tiny()).unwrap();
//! let taps = eff.forward_features_t(&Tensor::zeros((2, 3, 64, 64), DType::F32, &dev).unwrap(), false).unwrap();
//! assert_eq!(taps.names(), ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "final"]);
//! // Wrong channel count: a clear error, not a panic.
//! assert!(eff.forward_t(&x, false).is_err());
//! ```

pub mod backbone;
pub mod detector;
pub mod efficientnet;
pub mod io;
mod layers;
pub mod mat;
pub mod pretrained;
pub mod registry;
pub mod spsl;
pub mod vanilla;
pub mod xception;

pub use efficientnet::{EfficientNet, EfficientNetConfig, Padding};
pub use io::{load_detector, save_detector, LoadedDetector};
pub use layers::{FeatureInfo, FeatureMaps};
pub use pretrained::{backbone_spec, detector_spec, TimmPreprocess};
pub use xception::{Xception, XceptionConfig};

pub use backbone::{Backbone, BackboneConfig};
pub use detector::{Detector, StepOutput};
pub use mat::{save_attention_figure, Mat, MatConfig, MatVariant, TextureVersion};
pub use registry::DetectorConfig;
pub use spsl::{Spsl, SpslConfig};
pub use vanilla::{Vanilla, VanillaConfig};
