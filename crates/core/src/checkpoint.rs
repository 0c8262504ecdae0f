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

use crate::init::sorted_vars;
use crate::optim::Optim;
use crate::{Error, Result};

mod pth_guard;
pub use pth_guard::{MAX_PICKLE_BYTES, MAX_PICKLE_DEPTH};

const FORMAT_KEY: &str = "candor.format";
const STATE_KEY: &str = "candor.state";
const EXTRA_PREFIX: &str = "extra/";

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
    let tensors: Vec<(String, Tensor)> = sorted_vars(varmap)
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    let meta = HashMap::from([(FORMAT_KEY.to_string(), "varmap-1".to_string())]);
    save_tensors(path, &tensors, meta)
}

/// Set every variable of `varmap` from `tensors[prefix + name]` (e.g. one network of a
/// training checkpoint that holds several, under `model/<part>/`). Every variable must
/// be present with its shape ([`Error::InvalidInput`] otherwise); nothing is set unless
/// all are.
pub fn set_vars_under(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
) -> Result<()> {
    let vars = sorted_vars(varmap);
    let mut missing = Vec::new();
    for (name, var) in &vars {
        let key = format!("{prefix}{name}");
        match tensors.get(&key) {
            None => missing.push(key),
            Some(t) if t.dims() != var.dims() => {
                return Err(Error::invalid(format!(
                    "variable {key}: checkpoint shape {:?}, model shape {:?}",
                    t.dims(),
                    var.dims()
                )))
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "checkpoint lacks {} model variable(s): {}",
            missing.len(),
            missing.join(", ")
        )));
    }
    for (name, var) in &vars {
        let t = &tensors[&format!("{prefix}{name}")];
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}

/// [`set_vars_under`] with its errors about the checkpoint read from `path`.
fn set_vars(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<()> {
    set_vars_under(varmap, tensors, prefix).map_err(|e| match e {
        Error::InvalidInput(m) => Error::format(path, m),
        e => e,
    })
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
    let device = crate::device::varmap_device(varmap);
    let ck = load_tensors(path, &device)?;
    set_vars(varmap, &ck.tensors, "", path)
}

/// Save a resumable training checkpoint: model variables, optimiser state and the
/// caller's training state (any serialisable value).
pub fn save_training<S: Serialize>(
    path: impl AsRef<Path>,
    model: &VarMap,
    optim: &dyn Optim,
    state: &S,
) -> Result<()> {
    save_training_parts(path, &[("", model, optim)], state)
}

/// Resume from a checkpoint of [`save_training`]: restores the model variables and the
/// optimiser state, and returns the training state.
pub fn load_training<S: DeserializeOwned>(
    path: impl AsRef<Path>,
    model: &VarMap,
    optim: &mut dyn Optim,
) -> Result<S> {
    load_training_parts(path, &mut [("", model, optim)])
}

/// The key prefixes of a part's model variables and optimiser state (`""` is the single
/// model of [`save_training`]).
fn part_prefixes(name: &str) -> (String, String) {
    if name.is_empty() {
        ("model/".into(), "optim/".into())
    } else {
        (format!("model/{name}/"), format!("optim/{name}/"))
    }
}

fn check_part_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if n.contains('/') || !seen.insert(n) {
            return Err(Error::invalid(format!(
                "training checkpoint parts need distinct names without '/', got {n:?} twice or with '/'"
            )));
        }
    }
    Ok(())
}

/// [`save_training`] for a training with several models, each with its own optimiser
/// (a GAN's generator and discriminator, an embedder, extractor and discriminator):
/// `parts` are `(name, model, optimiser)` with distinct names, stored under
/// `model/{name}/…` and `optim/{name}/…`.
pub fn save_training_parts<S: Serialize>(
    path: impl AsRef<Path>,
    parts: &[(&str, &VarMap, &dyn Optim)],
    state: &S,
) -> Result<()> {
    save_training_extra(path, parts, &[], state)
}

/// [`save_training_parts`] with `extra` named tensors beside the parts (a replay
/// buffer, target networks, simulator states: what a training needs to resume that is
/// neither a trained model nor an optimiser), stored under `extra/{name}`, all in the
/// same atomic write. [`load_training_extra`] gives them back.
pub fn save_training_extra<S: Serialize>(
    path: impl AsRef<Path>,
    parts: &[(&str, &VarMap, &dyn Optim)],
    extra: &[(String, Tensor)],
    state: &S,
) -> Result<()> {
    check_part_names(parts.iter().map(|p| p.0))?;
    let mut tensors: Vec<(String, Tensor)> = extra
        .iter()
        .map(|(n, t)| (format!("{EXTRA_PREFIX}{n}"), t.clone()))
        .collect();
    for (name, model, optim) in parts {
        let (mp, op) = part_prefixes(name);
        tensors.extend(
            sorted_vars(model)
                .into_iter()
                .map(|(n, v)| (format!("{mp}{n}"), v.as_tensor().clone())),
        );
        tensors.extend(
            optim
                .state()
                .into_iter()
                .map(|(n, t)| (format!("{op}{n}"), t)),
        );
    }
    let meta = HashMap::from([
        (FORMAT_KEY.to_string(), "training-1".to_string()),
        (STATE_KEY.to_string(), serde_json::to_string(state)?),
    ]);
    save_tensors(path, &tensors, meta)
}

/// Resume from a checkpoint of [`save_training_parts`]: restores every part's model and
/// optimiser, and returns the training state.
pub fn load_training_parts<S: DeserializeOwned>(
    path: impl AsRef<Path>,
    parts: &mut [(&str, &VarMap, &mut dyn Optim)],
) -> Result<S> {
    Ok(load_training_extra(path, parts)?.0)
}

/// Resume from a checkpoint of [`save_training_extra`] (or [`save_training_parts`]):
/// restores every part's model and optimiser, and returns the training state and the
/// extra tensors by the names they were saved under (on the first part's device).
pub fn load_training_extra<S: DeserializeOwned>(
    path: impl AsRef<Path>,
    parts: &mut [(&str, &VarMap, &mut dyn Optim)],
) -> Result<(S, HashMap<String, Tensor>)> {
    let path = path.as_ref();
    check_part_names(parts.iter().map(|p| p.0))?;
    let device = match parts.first() {
        Some(p) => crate::device::varmap_device(p.1),
        None => Device::Cpu,
    };
    let ck = load_tensors(path, &device)?;
    if ck.metadata.get(FORMAT_KEY).map(String::as_str) != Some("training-1") {
        return Err(Error::format(path, "not a candor training checkpoint"));
    }
    for (name, model, optim) in parts.iter_mut() {
        let (mp, op) = part_prefixes(name);
        set_vars(model, &ck.tensors, &mp, path)?;
        let optim_state: HashMap<String, Tensor> = ck
            .tensors
            .iter()
            .filter_map(|(k, t)| {
                let rest = k.strip_prefix(op.as_str())?;
                // The single model's optimiser keys have no part name: skip other parts'.
                (!name.is_empty() || !rest.contains('/')).then(|| (rest.to_string(), t.clone()))
            })
            .collect();
        optim.load_state(&optim_state)?;
    }
    let state = ck
        .metadata
        .get(STATE_KEY)
        .ok_or_else(|| Error::format(path, "checkpoint has no training state"))?;
    let state = serde_json::from_str(state)
        .map_err(|e| Error::format(path, format!("bad training state: {e}")))?;
    let extra = ck
        .tensors
        .into_iter()
        .filter_map(|(k, t)| Some((k.strip_prefix(EXTRA_PREFIX)?.to_string(), t)))
        .collect();
    Ok((state, extra))
}

/// The training state of a [`save_training`] checkpoint, without a model or an
/// optimiser to load into: to see how far a stopped run got, or to check that a file on
/// disk is a whole checkpoint.
pub fn read_training_state<S: DeserializeOwned>(path: impl AsRef<Path>) -> Result<S> {
    let path = path.as_ref();
    let ck = load_tensors(path, &Device::Cpu)?;
    if ck.metadata.get(FORMAT_KEY).map(String::as_str) != Some("training-1") {
        return Err(Error::format(path, "not a candor training checkpoint"));
    }
    let state = ck
        .metadata
        .get(STATE_KEY)
        .ok_or_else(|| Error::format(path, "checkpoint has no training state"))?;
    serde_json::from_str(state).map_err(|e| Error::format(path, format!("bad training state: {e}")))
}

/// How a pretrained weight file's names map onto a model's variables (see
/// [`load_pretrained`]). [`Default`]: the file's names are the model's, nothing skipped,
/// not strict.
#[derive(Debug, Clone, Default)]
pub struct LoadSpec {
    /// Removed from the front of every file key that has it (e.g. `module.` of a
    /// `DataParallel` checkpoint); keys without it are kept as they are.
    pub strip_prefix: Option<String>,
    /// The model variables the file fills live under this prefix (e.g. `net.` for MAT's
    /// backbone): it is put in front of every file key, and model variables outside it
    /// are neither loaded nor reported.
    pub model_prefix: String,
    /// `(from, to)` pairs: a key starting with `from` (after the prefixes) gets `to`
    /// instead (e.g. `("last_linear.", "fc.")`). The first match applies.
    pub renames: Vec<(String, String)>,
    /// Names (model side, prefix included) to leave alone, as patterns where `*` stands
    /// for any run of characters (e.g. `fc.*` for a classifier head). A skipped name is
    /// not loaded and not reported missing or unexpected. PyTorch's
    /// `*num_batches_tracked` counters are always skipped.
    pub skip: Vec<String>,
    /// Fail (and set nothing) when a model variable is missing from the file, a file
    /// tensor matches no variable, or a shape does not match.
    pub strict: bool,
    /// Accept a tensor whose shape differs from the variable's only by dimensions of
    /// size 1 (e.g. the 2-D pointwise weights of the original Cadene Xception file).
    pub reshape_unit_dims: bool,
    /// Variables (model names) filled from a file tensor of another shape by a rule.
    pub adapt: Vec<(String, Adapt)>,
    /// The entry of a PyTorch file that holds the state dict (`state_dict`, `model`, …).
    /// `None`: the top level, else the first of `state_dict`, `model` that exists.
    pub pickle_key: Option<String>,
}

/// A rule that makes a variable from a file tensor of another shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adapt {
    /// A convolution weight `(O, I, kH, kW)` from a file with other input channels:
    /// every input channel gets the mean of the file's input-channel kernels
    /// (DeepfakeBench's rule for SPSL's 4-channel `conv1`).
    InChannelsMean,
    /// The file's input-channel kernels are kept for the first channels; each extra
    /// channel gets their mean (needs at least as many model channels as file ones).
    InChannelsCopyThenMean,
}

impl Adapt {
    /// The variable of `shape` made from the file tensor `t`.
    pub fn apply(self, t: &Tensor, shape: &[usize]) -> Result<Tensor> {
        let (&[o, ci, kh, kw], &[fo, fci, fkh, fkw]) = (shape, t.dims()) else {
            return Err(Error::invalid(format!(
                "input-channel adaptation needs 4-D convolution weights, got file {:?} for \
                 model {shape:?}",
                t.dims()
            )));
        };
        if (o, kh, kw) != (fo, fkh, fkw) || fci == 0 {
            return Err(Error::invalid(format!(
                "input-channel adaptation: file {:?} and model {shape:?} differ beyond the \
                 input channels",
                t.dims()
            )));
        }
        let mean = t.mean_keepdim(1)?;
        Ok(match self {
            Adapt::InChannelsMean => mean.repeat((1, ci, 1, 1))?,
            Adapt::InChannelsCopyThenMean => {
                if ci < fci {
                    return Err(Error::invalid(format!(
                        "cannot keep the file's {fci} input channels in a weight of {ci}"
                    )));
                }
                Tensor::cat(&[t, &mean.repeat((1, ci - fci, 1, 1))?], 1)?
            }
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Adapt::InChannelsMean => "input channels = mean of the file's",
            Adapt::InChannelsCopyThenMean => "file's input channels kept, extra = their mean",
        }
    }
}

/// What [`load_pretrained`] did, by model name (file names, mapped, for `unexpected`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// Variables set from the file with their shape.
    pub loaded: Vec<String>,
    /// Variables set from a tensor of another shape: `(name, how)`.
    pub adapted: Vec<(String, String)>,
    /// Variables (under the model prefix, not skipped) the file lacks.
    pub missing: Vec<String>,
    /// File tensors that match no variable.
    pub unexpected: Vec<String>,
    /// `(name, file shape, model shape)` of tensors that could not be used.
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Names skipped by pattern (and PyTorch's batch counters).
    pub skipped: Vec<String>,
}

impl LoadReport {
    /// Nothing missing, unexpected or mismatched.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// One line: counts, and the first few names of each problem.
    pub fn summary(&self) -> String {
        let few = |v: &[String]| {
            let mut s = v.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
            if v.len() > 4 {
                s.push_str(&format!(", … ({} in all)", v.len()));
            }
            s
        };
        let mut s = format!(
            "{} loaded, {} adapted, {} skipped",
            self.loaded.len(),
            self.adapted.len(),
            self.skipped.len()
        );
        if !self.missing.is_empty() {
            s.push_str(&format!("; missing: {}", few(&self.missing)));
        }
        if !self.unexpected.is_empty() {
            s.push_str(&format!("; unexpected: {}", few(&self.unexpected)));
        }
        if !self.mismatched.is_empty() {
            let m: Vec<String> = self
                .mismatched
                .iter()
                .map(|(n, f, v)| format!("{n} (file {f:?}, model {v:?})"))
                .collect();
            s.push_str(&format!("; shape mismatch: {}", few(&m)));
        }
        s
    }
}

/// `*` matches any run of characters (including none); everything else literally.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Every tensor of a safetensors file or a (zip-format) PyTorch `.pth`/`.bin`/`.pt`
/// file, by name, on the CPU. The format is read from the file's first bytes.
pub fn read_weights(
    path: impl AsRef<Path>,
    pickle_key: Option<&str>,
) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let mut head = [0u8; 8];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        f.read_exact(&mut head)
            .map_err(|_| Error::format(path, "too short to be a weight file"))?;
    }
    if head.starts_with(b"PK") {
        let read = |key: Option<&str>| {
            pth_guard::check_pth(path, key)?;
            candle_core::pickle::read_all_with_key(path, key).map_err(|e| {
                Error::format(
                    path,
                    format!("cannot read the PyTorch file: {}", Error::from(e)),
                )
            })
        };
        if pickle_key.is_some() {
            return read(pickle_key);
        }
        let top = read(None)?;
        if !top.is_empty() {
            return Ok(top);
        }
        for key in ["state_dict", "model"] {
            if let Ok(t) = read(Some(key)) {
                if !t.is_empty() {
                    return Ok(t);
                }
            }
        }
        return Err(Error::format(
            path,
            "the PyTorch file holds no tensors at its top level, under `state_dict` or under \
             `model`; set LoadSpec::pickle_key",
        ));
    }
    if head[0] == 0x80 {
        return Err(Error::format(
            path,
            "a legacy (pre-1.6, non-zip) PyTorch pickle: re-save it with torch.save in a \
             recent PyTorch, or convert it to safetensors",
        ));
    }
    let mut v: Vec<(String, Tensor)> = load_tensors(path, &Device::Cpu)?
        .tensors
        .into_iter()
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// Load pretrained weights (safetensors, or PyTorch `.pth`/`.bin` through candle's
/// pickle reader) into an already built model's `varmap`, mapping names by `spec`;
/// tensors are converted to each variable's dtype and device.
///
/// Unlike [`set_model_vars`] (all or nothing, for the project's own checkpoints) this
/// loads what fits and reports the rest; with `spec.strict` any missing, unexpected or
/// mismatched tensor is an error and nothing is set. The report is returned either way.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::VarMap;
/// use candor_core::checkpoint::{load_pretrained, save_tensors, LoadSpec};
///
/// // A "timm" file with a 1000-class head and a batch counter.
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("w.safetensors");
/// let t = |s: &[usize]| Tensor::ones(s, DType::F32, &Device::Cpu).unwrap();
/// let tensors = vec![
///     ("conv1.weight".to_string(), t(&[8, 3, 3, 3])),
///     ("bn1.num_batches_tracked".to_string(), Tensor::new(&[7i64], &Device::Cpu).unwrap()),
///     ("fc.weight".to_string(), t(&[1000, 8])),
/// ];
/// save_tensors(&file, &tensors, Default::default()).unwrap();
/// // A model whose backbone sits under `net.`, with a 2-class head.
/// let vm = VarMap::new();
/// let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
/// let w = vb.get((8, 3, 3, 3), "net.conv1.weight").unwrap();
/// vb.get((2, 8), "net.fc.weight").unwrap();
/// vb.get(2, "head.bias").unwrap();
/// let spec = LoadSpec {
///     model_prefix: "net.".into(),
///     skip: vec!["net.fc.*".into()],
///     strict: true,
///     ..LoadSpec::default()
/// };
/// let report = load_pretrained(&vm, &file, &spec).unwrap();
/// assert_eq!(report.loaded, ["net.conv1.weight"]);
/// assert_eq!(report.skipped, ["net.bn1.num_batches_tracked", "net.fc.weight"]);
/// assert!(report.is_complete());
/// // The variable now holds the file's ones.
/// assert_eq!(w.sum_all().unwrap().to_scalar::<f32>().unwrap(), 216.0);
/// ```
pub fn load_pretrained(
    varmap: &VarMap,
    path: impl AsRef<Path>,
    spec: &LoadSpec,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let file = read_weights(path, spec.pickle_key.as_deref())?;
    let (report, plan) = plan_load(varmap, file, spec)?;
    if spec.strict && !report.is_complete() {
        return Err(Error::format(
            path,
            format!(
                "strict load of pretrained weights failed: {}",
                report.summary()
            ),
        ));
    }
    for (var, t) in plan {
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(report)
}

/// Matches file tensors to variables: the report and the `(variable, tensor)` pairs to
/// set (already reshaped or adapted).
fn plan_load(
    varmap: &VarMap,
    file: Vec<(String, Tensor)>,
    spec: &LoadSpec,
) -> Result<(LoadReport, Vec<(candle_core::Var, Tensor)>)> {
    let mut report = LoadReport::default();
    let skipped = |name: &str| {
        name.ends_with("num_batches_tracked") || spec.skip.iter().any(|p| glob_match(p, name))
    };
    let mut by_name: HashMap<String, Tensor> = HashMap::new();
    for (key, t) in file {
        let key = match &spec.strip_prefix {
            Some(p) => key
                .strip_prefix(p.as_str())
                .map(str::to_string)
                .unwrap_or(key),
            None => key,
        };
        let mut name = format!("{}{key}", spec.model_prefix);
        if let Some((from, to)) = spec
            .renames
            .iter()
            .find(|(f, _)| name.starts_with(f.as_str()))
        {
            name = format!("{to}{}", &name[from.len()..]);
        }
        if skipped(&name) {
            report.skipped.push(name);
        } else if by_name.insert(name.clone(), t).is_some() {
            return Err(Error::invalid(format!(
                "two file tensors map to the variable name {name}"
            )));
        }
    }
    let mut plan = Vec::new();
    for (name, var) in sorted_vars(varmap) {
        if !name.starts_with(spec.model_prefix.as_str()) || skipped(&name) {
            continue;
        }
        let Some(t) = by_name.remove(&name) else {
            report.missing.push(name);
            continue;
        };
        let (fs, ms) = (t.dims().to_vec(), var.dims().to_vec());
        if fs == ms {
            report.loaded.push(name);
            plan.push((var, t));
            continue;
        }
        if let Some((_, rule)) = spec.adapt.iter().find(|(n, _)| *n == name) {
            match rule.apply(&t.to_dtype(var.dtype())?, &ms) {
                Ok(a) => {
                    report.adapted.push((name, rule.describe().to_string()));
                    plan.push((var, a));
                }
                Err(_) => report.mismatched.push((name, fs, ms)),
            }
            continue;
        }
        let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
        if spec.reshape_unit_dims && squeeze(&fs) == squeeze(&ms) {
            report
                .adapted
                .push((name, format!("reshaped {fs:?} → {ms:?}")));
            plan.push((var, t.reshape(ms)?));
            continue;
        }
        report.mismatched.push((name, fs, ms));
    }
    let mut unexpected: Vec<String> = by_name.into_keys().collect();
    unexpected.sort();
    report.unexpected = unexpected;
    report.skipped.sort();
    Ok((report, plan))
}
