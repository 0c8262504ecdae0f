//! Saving and loading a trained detector as one self-describing safetensors file.
//!
//! [`save_detector`] writes every variable of the detector's `VarMap`
//! (parameters and buffers: BatchNorm running statistics, MAT's feature centres)
//! under its own name, with three metadata entries:
//!
//! | key | value |
//! |---|---|
//! | [`CONFIG_KEY`] `forgery.detector` | the [`DetectorConfig`] as JSON (`{"mat": {…}}`) |
//! | [`INPUT_KEY`] `forgery.input` | the [`LoadOptions`] the detector was trained with (size, fit, normalisation) as JSON |
//! | [`EPOCH_KEY`] `forgery.epoch` | the 0-based training epoch the weights come from |
//!
//! so [`load_detector`] rebuilds the model without any other file, puts it in
//! that epoch's state ([`Detector::set_epoch`]: a MAT checkpoint taken during its
//! backbone-only stage scores with the backbone's head) and tells the caller how
//! to decode images for it. It also reads the trainer's files (the `best` file of
//! [`crate::train::RunOptions`], written by `candor_core::checkpoint::save_varmap`,
//! and resumable training checkpoints whose variables sit under `model/`) when
//! the configuration is passed explicitly.
//!
//! ```
//! use candle_core::Device;
//! use candor_forgery::data::LoadOptions;
//! use candor_forgery::model::{load_detector, save_detector, DetectorConfig, SpslConfig};
//!
//! let cfg = DetectorConfig::Spsl(SpslConfig::tiny());
//! let (vm, det) = cfg.build_seeded(0, &Device::Cpu).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("spsl.safetensors");
//! save_detector(&path, &vm, &cfg, &LoadOptions::sized(32, 32), 3).unwrap();
//! let loaded = load_detector(&path, None, &Device::Cpu).unwrap();
//! assert_eq!(loaded.config, cfg);
//! assert_eq!(loaded.input.size, Some((32, 32)));
//! assert_eq!(loaded.epoch, Some(3));
//! let x = candle_core::Tensor::zeros((2, 3, 32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(loaded.detector.scores(&x).unwrap(), det.scores(&x).unwrap());
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_tensors, save_tensors};
use candor_core::init::sorted_vars;
use candor_core::{Error, Result};

use super::detector::Detector;
use super::registry::DetectorConfig;
use crate::data::LoadOptions;

/// Metadata key of the detector configuration (JSON).
pub const CONFIG_KEY: &str = "forgery.detector";
/// Metadata key of the input decoding options (JSON [`LoadOptions`]).
pub const INPUT_KEY: &str = "forgery.input";
/// Metadata key of the training epoch the weights come from.
pub const EPOCH_KEY: &str = "forgery.epoch";

/// A detector read by [`load_detector`].
pub struct LoadedDetector {
    /// Its configuration.
    pub config: DetectorConfig,
    /// How to decode images for it (the file's, or the default options when the
    /// file records none).
    pub input: LoadOptions,
    /// The training epoch of the weights, when recorded.
    pub epoch: Option<usize>,
    /// Its variables.
    pub varmap: VarMap,
    /// The detector, in the state of `epoch`.
    pub detector: Box<dyn Detector>,
}

/// Writes every variable of `varmap` with `cfg`, the input options and the
/// epoch as metadata (atomically; see the module docs).
pub fn save_detector(
    path: impl AsRef<Path>,
    varmap: &VarMap,
    cfg: &DetectorConfig,
    input: &LoadOptions,
    epoch: usize,
) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = sorted_vars(varmap)
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    if tensors.is_empty() {
        return Err(Error::invalid(
            "save_detector: the VarMap holds no variable",
        ));
    }
    let meta = HashMap::from([
        (CONFIG_KEY.to_string(), serde_json::to_string(cfg)?),
        (INPUT_KEY.to_string(), serde_json::to_string(input)?),
        (EPOCH_KEY.to_string(), epoch.to_string()),
    ]);
    save_tensors(path, &tensors, meta)
}

/// Reads a detector written by [`save_detector`] (or, with `config` given, a
/// `save_varmap` file or a training checkpoint) onto `device`. `config`
/// overrides the file's configuration. Every variable of the model must be in
/// the file with its shape; the error names the first that is not.
pub fn load_detector(
    path: impl AsRef<Path>,
    config: Option<&DetectorConfig>,
    device: &Device,
) -> Result<LoadedDetector> {
    let path = path.as_ref();
    let ck = load_tensors(path, device)?;
    let config = match (config, ck.metadata.get(CONFIG_KEY)) {
        (Some(c), _) => c.clone(),
        (None, Some(json)) => serde_json::from_str(json)
            .map_err(|e| Error::format(path, format!("bad detector configuration: {e}")))?,
        (None, None) => {
            return Err(Error::format(
                path,
                "the file records no detector configuration (it was not written by \
                 save_detector); pass the DetectorConfig",
            ))
        }
    };
    config.validate()?;
    let input = match ck.metadata.get(INPUT_KEY) {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| Error::format(path, format!("bad input options: {e}")))?,
        None => LoadOptions::default(),
    };
    let epoch = match ck.metadata.get(EPOCH_KEY) {
        Some(s) => Some(
            s.parse::<usize>()
                .map_err(|e| Error::format(path, format!("bad epoch {s:?}: {e}")))?,
        ),
        None => None,
    };
    let (varmap, mut detector) = config.build_seeded(0, device)?;
    candor_core::checkpoint::set_model_vars(&varmap, &ck.tensors, path)?;
    if let Some(e) = epoch {
        detector.set_epoch(e);
    }
    Ok(LoadedDetector {
        config,
        input,
        epoch,
        varmap,
        detector,
    })
}
