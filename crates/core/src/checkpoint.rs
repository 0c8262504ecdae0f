//! Checkpoints: safetensors files written atomically (temporary file, fsync, rename), so
//! a crash never leaves a half-written checkpoint.
//!
//! A training checkpoint holds the model's variables under `model/<name>`, the
//! optimiser's buffers under `optim/<name>`, and the caller's serialisable training state
//! (step, epoch, RNG seed position, …) as JSON in the safetensors metadata under
//! `candor.state`. Loading checks that every model variable is present with the right
//! shape, so a checkpoint of another architecture is a clear error, not a silent no-op.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::init::sorted_named_vars;
use crate::optim::Optim;
use crate::{Error, Result};

const FORMAT_KEY: &str = "candor.format";
const STATE_KEY: &str = "candor.state";

/// Tensors and string metadata read from a safetensors file.
#[derive(Debug)]
pub struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

/// Write named tensors (and metadata) to `path` atomically.
pub fn save_tensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(cpu.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| Error::format(path, format!("cannot serialise checkpoint: {e}")))?;
    crate::fsio::write_atomic(path, &bytes)
}

/// Read every tensor and the metadata of a safetensors file onto `device`.
pub fn load_tensors(path: impl AsRef<Path>, device: &Device) -> Result<Checkpoint> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_tensors_from_bytes(&bytes, device, path)
}

/// Parse the bytes of a safetensors file as [`load_tensors`] does; `name` is used in
/// errors. The tensors copy the file's data, so they never take more memory than it.
pub fn load_tensors_from_bytes(
    bytes: &[u8],
    device: &Device,
    name: impl AsRef<Path>,
) -> Result<Checkpoint> {
    let path = name.as_ref();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| Error::format(path, format!("corrupt checkpoint: {e}")))?;
    Ok(Checkpoint { tensors, metadata })
}

/// Save all variables of `varmap` (sorted by name) to `path` atomically.
pub fn save_varmap(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = sorted_named_vars(varmap)
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    let meta = HashMap::from([(FORMAT_KEY.to_string(), "varmap-1".to_string())]);
    save_tensors(path, &tensors, meta)
}

fn set_vars(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<()> {
    let vars = sorted_named_vars(varmap);
    let mut missing = Vec::new();
    for (name, var) in &vars {
        let key = format!("{prefix}{name}");
        match tensors.get(&key) {
            None => missing.push(name.clone()),
            Some(t) if t.dims() != var.dims() => {
                return Err(Error::format(
                    path,
                    format!(
                        "variable {name}: checkpoint shape {:?}, model shape {:?}",
                        t.dims(),
                        var.dims()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "checkpoint lacks {} model variable(s): {}",
                missing.len(),
                missing.join(", ")
            ),
        ));
    }
    for (name, var) in &vars {
        let t = &tensors[&format!("{prefix}{name}")];
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}

/// Set every variable of `varmap` from `tensors` (read from `path`, named in errors):
/// the model variables of a [`save_training`] checkpoint (names under `model/`) when
/// there are any, else the plain names of [`save_varmap`]. Every variable must be
/// present with its shape; nothing is set unless all are.
pub fn set_model_vars(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<()> {
    let prefix = if tensors.keys().any(|k| k.starts_with("model/")) {
        "model/"
    } else {
        ""
    };
    set_vars(varmap, tensors, prefix, path)
}

/// Load a checkpoint written by [`save_varmap`] into an already built model's `varmap`.
/// Every variable must be in the file with the same shape.
pub fn load_varmap(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let device = first_device(varmap);
    let ck = load_tensors(path, &device)?;
    set_vars(varmap, &ck.tensors, "", path)
}

fn first_device(varmap: &VarMap) -> Device {
    sorted_named_vars(varmap)
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(Device::Cpu)
}

/// Save a resumable training checkpoint: model variables, optimiser state and the
/// caller's training state (any serialisable value).
pub fn save_training<S: Serialize>(
    path: impl AsRef<Path>,
    model: &VarMap,
    optim: &dyn Optim,
    state: &S,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = sorted_named_vars(model)
        .into_iter()
        .map(|(n, v)| (format!("model/{n}"), v.as_tensor().clone()))
        .collect();
    tensors.extend(
        optim
            .state()
            .into_iter()
            .map(|(n, t)| (format!("optim/{n}"), t)),
    );
    let meta = HashMap::from([
        (FORMAT_KEY.to_string(), "training-1".to_string()),
        (STATE_KEY.to_string(), serde_json::to_string(state)?),
    ]);
    save_tensors(path, &tensors, meta)
}

/// Resume from a checkpoint of [`save_training`]: restores the model variables and the
/// optimiser state, and returns the training state.
pub fn load_training<S: DeserializeOwned>(
    path: impl AsRef<Path>,
    model: &VarMap,
    optim: &mut dyn Optim,
) -> Result<S> {
    let path = path.as_ref();
    let ck = load_tensors(path, &first_device(model))?;
    if ck.metadata.get(FORMAT_KEY).map(String::as_str) != Some("training-1") {
        return Err(Error::format(path, "not a candor training checkpoint"));
    }
    set_vars(model, &ck.tensors, "model/", path)?;
    let optim_state: HashMap<String, Tensor> = ck
        .tensors
        .iter()
        .filter_map(|(k, t)| k.strip_prefix("optim/").map(|n| (n.to_string(), t.clone())))
        .collect();
    optim.load_state(&optim_state)?;
    let state = ck
        .metadata
        .get(STATE_KEY)
        .ok_or_else(|| Error::format(path, "checkpoint has no training state"))?;
    serde_json::from_str(state).map_err(|e| Error::format(path, format!("bad training state: {e}")))
}
