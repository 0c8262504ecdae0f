//! The serialisable choice of detector (`{"mat": {…}}`, `{"spsl": {…}}`,
//! `{"vanilla": {…}}`) and its builder: the one place that lists every detector.
//! Adding a detector is one variant here; the detectors themselves only know the
//! [`Detector`] trait.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candor_core::Result;
use serde::{Deserialize, Serialize};

use super::backbone::BackboneConfig;
use super::detector::Detector;
use super::mat::{Mat, MatConfig};
use super::spsl::{Spsl, SpslConfig};
use super::vanilla::{Vanilla, VanillaConfig};

/// The serialisable choice of detector.
// A configuration value, built once; unboxed variants keep literals simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DetectorConfig {
    /// Backbone + global pooling + linear head.
    Vanilla(VanillaConfig),
    /// Multi-attentional detection.
    Mat(MatConfig),
    /// Spatial-phase shallow learning.
    Spsl(SpslConfig),
}

impl DetectorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            DetectorConfig::Vanilla(c) => c.validate(),
            DetectorConfig::Mat(c) => c.validate(),
            DetectorConfig::Spsl(c) => c.validate(),
        }
    }

    /// The backbone an ImageNet checkpoint initialises and its key prefix in the
    /// detector's variables (see [`Detector::pretrained_backbone`]).
    pub fn pretrained_backbone(&self) -> (BackboneConfig, &'static str) {
        match self {
            DetectorConfig::Vanilla(c) => c.pretrained_backbone(),
            DetectorConfig::Mat(c) => c.pretrained_backbone(),
            DetectorConfig::Spsl(c) => c.pretrained_backbone(),
        }
    }

    /// Builds the detector, creating its variables under `vb`.
    pub fn build(&self, vb: VarBuilder) -> Result<Box<dyn Detector>> {
        Ok(match self {
            DetectorConfig::Vanilla(c) => Box::new(Vanilla::new(vb, c)?),
            DetectorConfig::Mat(c) => Box::new(Mat::new(vb, c)?),
            DetectorConfig::Spsl(c) => Box::new(Spsl::new(vb, c)?),
        })
    }

    /// Builds the detector in a fresh `VarMap` whose variables are initialised
    /// from `seed` (f32, on `device`).
    pub fn build_seeded(&self, seed: u64, device: &Device) -> Result<(VarMap, Box<dyn Detector>)> {
        let vm = VarMap::new();
        let vb = candor_core::init::seeded_var_builder(&vm, seed, DType::F32, device);
        let det = self.build(vb)?;
        Ok((vm, det))
    }
}
