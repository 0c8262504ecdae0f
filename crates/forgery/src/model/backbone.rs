//! The backbone a detector is built on: Xception or EfficientNet, chosen by a
//! serialisable [`BackboneConfig`] and built as a [`Backbone`] with one interface
//! (logits, named feature taps, the head on the `final` tap).

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candor_core::Result;
use serde::{Deserialize, Serialize};

use super::efficientnet::{EfficientNet, EfficientNetConfig};
use super::layers::{FeatureInfo, FeatureMaps};
use super::xception::{Xception, XceptionConfig};

/// A backbone choice: Xception or EfficientNet, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneConfig {
    /// Xception (FaceForensics++'s and DeepfakeBench's baseline; SPSL's network).
    Xception(XceptionConfig),
    /// EfficientNet (MAT's backbone, B4).
    EfficientNet(EfficientNetConfig),
}

impl BackboneConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            BackboneConfig::Xception(c) => c.validate(),
            BackboneConfig::EfficientNet(c) => c.validate(),
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        match self {
            BackboneConfig::Xception(c) => c.in_channels,
            BackboneConfig::EfficientNet(c) => c.in_channels,
        }
    }

    /// Output classes of the backbone's own head.
    pub fn num_classes(&self) -> usize {
        match self {
            BackboneConfig::Xception(c) => c.num_classes,
            BackboneConfig::EfficientNet(c) => c.num_classes,
        }
    }

    /// The feature taps, in network order.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        match self {
            BackboneConfig::Xception(c) => c.feature_info(),
            BackboneConfig::EfficientNet(c) => c.feature_info(),
        }
    }
}

/// A built backbone (see [`BackboneConfig`]).
// Built once per model; boxing would only add an indirection to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Backbone {
    /// Xception.
    Xception(Xception),
    /// EfficientNet.
    EfficientNet(EfficientNet),
}

impl Backbone {
    /// Builds the backbone's variables under `vb`.
    pub fn new(vb: VarBuilder, cfg: &BackboneConfig) -> Result<Self> {
        Ok(match cfg {
            BackboneConfig::Xception(c) => Backbone::Xception(Xception::new(vb, c)?),
            BackboneConfig::EfficientNet(c) => Backbone::EfficientNet(EfficientNet::new(vb, c)?),
        })
    }

    /// Logits of the backbone's own head (global pool → linear).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Backbone::Xception(n) => n.forward_t(x, train),
            Backbone::EfficientNet(n) => n.forward_t(x, train),
        }
    }

    /// All named feature taps.
    pub fn forward_features_t(&self, x: &Tensor, train: bool) -> Result<FeatureMaps> {
        match self {
            Backbone::Xception(n) => n.forward_features_t(x, train),
            Backbone::EfficientNet(n) => n.forward_features_t(x, train),
        }
    }

    /// The backbone's head on its `final` tap.
    pub fn forward_head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Backbone::Xception(n) => n.forward_head(features, train),
            Backbone::EfficientNet(n) => n.forward_head(features, train),
        }
    }

    /// The feature taps, in network order.
    pub fn feature_info(&self) -> Vec<FeatureInfo> {
        match self {
            Backbone::Xception(n) => n.feature_info(),
            Backbone::EfficientNet(n) => n.feature_info(),
        }
    }

    /// Channels of `final`.
    pub fn num_features(&self) -> usize {
        match self {
            Backbone::Xception(n) => n.num_features(),
            Backbone::EfficientNet(n) => n.num_features(),
        }
    }

    /// Restarts the dropout / drop-path generator.
    pub fn reseed(&self, seed: u64) {
        match self {
            Backbone::Xception(n) => n.reseed(seed),
            Backbone::EfficientNet(n) => n.reseed(seed),
        }
    }
}
