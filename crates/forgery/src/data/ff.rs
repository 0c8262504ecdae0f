//! FaceForensics++-style frame folders: listing, splits, lazy loading.
//!
//! # Accepted layouts
//!
//! **candor layout** (what [`synthetic`](super::synthetic) writes; any extracted face
//! crops can be arranged this way):
//!
//! ```text
//! root/real/<video_id>/<frame>.{png,jpg,jpeg}
//! root/fake/<method>/<video_id>/<frame>.{png,jpg,jpeg}
//! ```
//!
//! **FaceForensics++ layout** (the official download with frames extracted, as
//! DeepfakeBench's preprocessing leaves it):
//!
//! ```text
//! root/original_sequences/youtube/<comp>/frames/<video_id>/<frame>.png
//! root/manipulated_sequences/<Method>/<comp>/frames/<video_id>/<frame>.png
//! ```
//!
//! `<comp>` is `raw`, `c23` or `c40`; choose one with [`FolderOptions::compression`]
//! (needed when several are present). Only `original_sequences/youtube` is read for
//! reals (not the `actors` of DeepFakeDetection).
//!
//! Extensions are matched case-insensitively; hidden entries and other files are
//! ignored; frames are listed in natural order (`2.png` before `10.png`). A video
//! folder without frames is skipped. Fake video ids follow FF++'s `<target>_<source>`
//! convention; [`Sample::target_id`] is the part before `_`, which decides a fake's
//! split ([`FrameFolder::select`]). Listing opens no image: files are decoded only by
//! [`Sample::load`] / [`load_batch`], and a corrupt or missing file is an error that
//! names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use candor_core::imageio::{center_crop, load_image, resize, stack_batch, Filter};
use candor_core::SeededRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Split;
use crate::{Error, Result};

/// Image extensions recognised as frames.
pub const FRAME_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// One frame of a real or fake video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The image file.
    pub path: PathBuf,
    /// 0 real, 1 fake.
    pub label: u32,
    /// Manipulation method (folder name) of a fake; `None` for a real frame.
    pub method: Option<String>,
    /// Video folder name: `000` for a real video, `000_003` for a fake one.
    pub video_id: String,
}

impl Sample {
    /// Is this frame labelled fake?
    pub fn is_fake(&self) -> bool {
        self.label != 0
    }

    /// A key unique to the video across the whole tree: `real/<id>` or
    /// `fake/<method>/<id>` (fake ids repeat across methods, as in FF++). Use it to
    /// group frames for video-level metrics.
    pub fn video_key(&self) -> String {
        match &self.method {
            Some(m) => format!("fake/{m}/{}", self.video_id),
            None => format!("real/{}", self.video_id),
        }
    }

    /// The target video: the id before the first `_` (the whole id for reals).
    pub fn target_id(&self) -> &str {
        self.video_id.split('_').next().unwrap_or(&self.video_id)
    }

    /// Decode this frame (see [`load_frame`]).
    pub fn load(&self, opts: &LoadOptions) -> Result<Tensor> {
        load_frame(&self.path, opts)
    }
}

/// Which layout a tree was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `real/…` and `fake/<method>/…`.
    Candor,
    /// `original_sequences/…` and `manipulated_sequences/…` at one compression.
    FaceForensics {
        /// `raw`, `c23`, `c40`, …
        compression: String,
    },
}

/// Options of [`FrameFolder::open_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderOptions {
    /// FF++ compression folder to read (`raw`, `c23`, `c40`); required when the tree
    /// holds several; ignored for the candor layout.
    pub compression: Option<String>,
    /// Keep only these methods (folder names); unknown names are an error.
    pub methods: Option<Vec<String>>,
    /// Keep at most this many frames per video, evenly spaced (frame `⌊i·n/k⌋`).
    pub frames_per_video: Option<usize>,
}

/// A listed frame-folder tree.
#[derive(Debug, Clone)]
pub struct FrameFolder {
    root: PathBuf,
    layout: Layout,
    samples: Vec<Sample>,
}

fn io_dir(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let e = e.map_err(|e| Error::io(path, e))?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(e.path());
    }
    out.sort_by(|a, b| natural_cmp(&file_name(a), &file_name(b)));
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn subdirs(path: &Path) -> Result<Vec<PathBuf>> {
    Ok(io_dir(path)?.into_iter().filter(|p| p.is_dir()).collect())
}

/// Compare names with digit runs as numbers: `2.png < 10.png`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                xt.len()
                    .cmp(&yt.len())
                    .then(xt.cmp(yt))
                    .then(x.len().cmp(&y.len()))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then(a.cmp(b))
}

fn is_frame(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .map(|e| FRAME_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            .unwrap_or(false)
}

/// Evenly spaced subset of `n` items: indices `⌊i·n/k⌋`, `i < k`.
fn spaced(n: usize, k: Option<usize>) -> Vec<usize> {
    match k {
        Some(k) if k < n => (0..k).map(|i| i * n / k).collect(),
        _ => (0..n).collect(),
    }
}

/// List the frames of every video folder under `dir` and append them to `out`.
fn list_videos(
    dir: &Path,
    label: u32,
    method: Option<&str>,
    opts: &FolderOptions,
    out: &mut Vec<Sample>,
) -> Result<()> {
    for video in subdirs(dir)? {
        let frames: Vec<PathBuf> = io_dir(&video)?
            .into_iter()
            .filter(|p| is_frame(p))
            .collect();
        let video_id = file_name(&video);
        for i in spaced(frames.len(), opts.frames_per_video) {
            out.push(Sample {
                path: frames[i].clone(),
                label,
                method: method.map(str::to_string),
                video_id: video_id.clone(),
            });
        }
    }
    Ok(())
}

impl FrameFolder {
    /// List a tree with default options (see the module docs for the layouts).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, &FolderOptions::default())
    }

    /// List a tree: detect its layout, select the compression and methods.
    pub fn open_with(root: impl AsRef<Path>, opts: &FolderOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::io(
                &root,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        if opts.frames_per_video == Some(0) {
            return Err(Error::invalid("frames_per_video must be ≥ 1"));
        }
        let (layout, dirs) = if root.join("real").is_dir() || root.join("fake").is_dir() {
            (Layout::Candor, candor_dirs(&root)?)
        } else if root.join("original_sequences").is_dir()
            || root.join("manipulated_sequences").is_dir()
        {
            let (comp, dirs) = ffpp_dirs(&root, opts.compression.as_deref())?;
            (Layout::FaceForensics { compression: comp }, dirs)
        } else {
            return Err(Error::format(
                &root,
                "not a frame-folder tree: expected real/<video>/… and fake/<method>/<video>/…, \
                 or FaceForensics++'s original_sequences/youtube/<comp>/frames/<video>/… and \
                 manipulated_sequences/<Method>/<comp>/frames/<video>/…",
            ));
        };
        let available: BTreeSet<&str> = dirs.iter().filter_map(|(m, _)| m.as_deref()).collect();
        if let Some(wanted) = &opts.methods {
            for m in wanted {
                if !available.contains(m.as_str()) {
                    return Err(Error::format(
                        &root,
                        format!("no method {m:?} in this tree (found: {available:?})"),
                    ));
                }
            }
        }
        let mut samples = Vec::new();
        for (method, dir) in &dirs {
            if let (Some(m), Some(wanted)) = (method, &opts.methods) {
                if !wanted.contains(m) {
                    continue;
                }
            }
            let label = u32::from(method.is_some());
            list_videos(dir, label, method.as_deref(), opts, &mut samples)?;
        }
        if samples.is_empty() {
            return Err(Error::format(&root, "no frames (.png, .jpg, .jpeg) found"));
        }
        Ok(FrameFolder {
            root,
            layout,
            samples,
        })
    }

    /// The tree's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The detected layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Every frame: reals first, then each method in name order; videos and frames in
    /// natural order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Take the samples.
    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// `true` if there are no frames (never, for an opened tree).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Methods present, sorted.
    pub fn methods(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .samples
            .iter()
            .filter_map(|s| s.method.as_ref())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// The frames of the videos of a split: real videos whose id is in `ids`, fake
    /// videos whose [target](Sample::target_id) is in `ids`.
    pub fn select(&self, ids: &[String]) -> Vec<Sample> {
        let ids: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        self.samples
            .iter()
            .filter(|s| ids.contains(s.target_id()))
            .cloned()
            .collect()
    }
}

/// `(method, folder)` pairs: `None` for the real videos' folder.
type MethodDirs = Vec<(Option<String>, PathBuf)>;

/// `(method, folder)` pairs of the candor layout (`None` = real).
fn candor_dirs(root: &Path) -> Result<MethodDirs> {
    let mut dirs = Vec::new();
    if root.join("real").is_dir() {
        dirs.push((None, root.join("real")));
    }
    if root.join("fake").is_dir() {
        for m in subdirs(&root.join("fake"))? {
            dirs.push((Some(file_name(&m)), m));
        }
    }
    Ok(dirs)
}

/// `(method, frames folder)` pairs of the FF++ layout at the chosen compression.
fn ffpp_dirs(root: &Path, compression: Option<&str>) -> Result<(String, MethodDirs)> {
    // Every (method, comp folder) present.
    let mut groups: MethodDirs = Vec::new();
    let real = root.join("original_sequences").join("youtube");
    if real.is_dir() {
        groups.push((None, real));
    }
    let fake = root.join("manipulated_sequences");
    if fake.is_dir() {
        for m in subdirs(&fake)? {
            groups.push((Some(file_name(&m)), m));
        }
    }
    let mut comps: BTreeMap<String, MethodDirs> = BTreeMap::new();
    let mut videos_only = Vec::new();
    for (method, dir) in &groups {
        for comp in subdirs(dir)? {
            let frames = comp.join("frames");
            if frames.is_dir() {
                comps
                    .entry(file_name(&comp))
                    .or_default()
                    .push((method.clone(), frames));
            } else if comp.join("videos").is_dir() {
                videos_only.push(comp.join("videos"));
            }
        }
    }
    let comp = match compression {
        Some(c) => c.to_string(),
        None if comps.len() == 1 => comps.keys().next().cloned().unwrap_or_default(),
        None if comps.is_empty() => {
            let hint = match videos_only.first() {
                Some(v) => format!(
                    "; found videos in {} but no extracted frames (extract them to …/frames/<video>/*.png)",
                    v.display()
                ),
                None => String::new(),
            };
            return Err(Error::format(
                root,
                format!("no <comp>/frames/ folder in the FaceForensics++ tree{hint}"),
            ));
        }
        None => {
            return Err(Error::format(
                root,
                format!(
                "several compressions present ({:?}): choose one with FolderOptions::compression",
                comps.keys().collect::<Vec<_>>()
            ),
            ))
        }
    };
    match comps.remove(&comp) {
        Some(dirs) => Ok((comp, dirs)),
        None => Err(Error::format(
            root,
            format!(
                "no frames at compression {comp:?} (found: {:?})",
                comps.keys().collect::<Vec<_>>()
            ),
        )),
    }
}

/// Video ids of train/val/test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Splits {
    /// Training video ids.
    pub train: Vec<String>,
    /// Validation video ids.
    pub val: Vec<String>,
    /// Test video ids.
    pub test: Vec<String>,
}

impl Splits {
    /// Read `splits.json` as the generator writes it: `{"train": […], "val": […], "test": […]}`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parse the text of a `splits.json` as [`Splits::read`] does; `name` is used in errors.
    pub fn from_json(text: &str, name: impl AsRef<Path>) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::format(name.as_ref(), format!("bad splits file: {e}")))
    }

    /// Read FaceForensics++'s `train.json`, `val.json` and `test.json` from `dir`.
    pub fn read_ffpp_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        Ok(Splits {
            train: read_ffpp_split(dir.join("train.json"))?,
            val: read_ffpp_split(dir.join("val.json"))?,
            test: read_ffpp_split(dir.join("test.json"))?,
        })
    }

    /// The ids of one split.
    pub fn get(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

/// Read one FaceForensics++ split file: a JSON list of `[target, source]` pairs
/// (`[["071", "054"], …]`); returns every video id in it, sorted and deduplicated.
pub fn read_ffpp_split(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_ffpp_split(&text, path)
}

/// Parse the text of one FaceForensics++ split file as [`read_ffpp_split`] does; `name`
/// is used in errors.
pub fn parse_ffpp_split(text: &str, name: impl AsRef<Path>) -> Result<Vec<String>> {
    let pairs: Vec<[String; 2]> = serde_json::from_str(text).map_err(|e| {
        Error::format(
            name.as_ref(),
            format!("expected a list of [target, source] id pairs: {e}"),
        )
    })?;
    let ids: BTreeSet<String> = pairs.into_iter().flatten().collect();
    Ok(ids.into_iter().collect())
}

/// Pixel normalisation applied after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Values in `[0, 1]`.
    Unit,
    /// `(x − 0.5)/0.5`, values in `[−1, 1]` (MAT, SPSL/DeepfakeBench).
    #[default]
    Symmetric,
    /// ImageNet mean/std per channel.
    ImageNet,
}

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Normalize {
    /// Map a `3×H×W` (or `B×3×H×W`) image in `[0, 1]` to this normalisation.
    pub fn apply(self, x01: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Normalize::Unit => x01.clone(),
            Normalize::Symmetric => x01.affine(2.0, -1.0)?,
            Normalize::ImageNet => {
                let (mean, std) = imagenet_stats(x01)?;
                x01.broadcast_sub(&mean)?.broadcast_div(&std)?
            }
        })
    }

    /// The inverse of [`apply`](Normalize::apply): back to `[0, 1]`.
    pub fn invert(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Normalize::Unit => x.clone(),
            Normalize::Symmetric => x.affine(0.5, 0.5)?,
            Normalize::ImageNet => {
                let (mean, std) = imagenet_stats(x)?;
                x.broadcast_mul(&std)?.broadcast_add(&mean)?
            }
        })
    }
}

/// ImageNet mean and std shaped to broadcast over `3×H×W` or `B×3×H×W`.
fn imagenet_stats(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let c = match x.rank() {
        3 => x.dims()[0],
        4 => x.dims()[1],
        _ => 0,
    };
    if c != 3 {
        return Err(Error::invalid(format!(
            "ImageNet normalisation needs 3 channels (3×H×W or B×3×H×W), got {:?}",
            x.dims()
        )));
    }
    let dev = x.device();
    let shape = (3, 1, 1);
    let mean = Tensor::from_slice(&IMAGENET_MEAN, shape, dev)?.to_dtype(x.dtype())?;
    let std = Tensor::from_slice(&IMAGENET_STD, shape, dev)?.to_dtype(x.dtype())?;
    Ok((mean, std))
}

/// How a frame is brought to [`LoadOptions::size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Resize with this filter (DeepfakeBench resizes to 256).
    Resize(Filter),
    /// Take the central crop without resizing (official MAT: 380 crop); an image
    /// smaller than the crop is an error.
    CenterCrop,
}

/// How [`load_frame`] decodes a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadOptions {
    /// Output `(height, width)`; `None` keeps the file's size.
    pub size: Option<(usize, usize)>,
    /// Resize or centre-crop to `size`.
    pub fit: Fit,
    /// Pixel normalisation.
    pub normalize: Normalize,
}

impl Default for LoadOptions {
    /// Native size, bilinear resizing if a size is set, `(x − 0.5)/0.5`.
    fn default() -> Self {
        LoadOptions {
            size: None,
            fit: Fit::Resize(Filter::Bilinear),
            normalize: Normalize::Symmetric,
        }
    }
}

impl LoadOptions {
    /// Default options at `h × w`.
    pub fn sized(h: usize, w: usize) -> Self {
        LoadOptions {
            size: Some((h, w)),
            ..Self::default()
        }
    }
}

/// Decode one frame as a `3×H×W` f32 tensor: load (grey and RGBA become RGB), bring
/// to `size`, normalise. Every error names the file. Note that resizing a synthetic
/// fake changes its up-sampling trace: generate at the size the model uses.
pub fn load_frame(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Tensor> {
    let path = path.as_ref();
    let img = load_image(path)?;
    let named = |e: Error| Error::format(path, e.to_string());
    let img = match opts.size {
        None => img,
        Some((h, w)) => {
            let (_, ih, iw) = img.dims3()?;
            if (ih, iw) == (h, w) {
                img
            } else {
                match opts.fit {
                    Fit::Resize(f) => resize(&img, h, w, f).map_err(named)?,
                    Fit::CenterCrop => center_crop(&img, h, w).map_err(named)?,
                }
            }
        }
    };
    opts.normalize.apply(&img).map_err(named)
}

/// Decode frames in parallel into a `B×3×H×W` batch and a `B` u32 label tensor.
/// All frames must come out at one size (set [`LoadOptions::size`]).
pub fn load_batch(samples: &[Sample], opts: &LoadOptions) -> Result<(Tensor, Tensor)> {
    if samples.is_empty() {
        return Err(Error::invalid("cannot load a batch of zero samples"));
    }
    let images: Vec<Tensor> = samples
        .par_iter()
        .map(|s| s.load(opts))
        .collect::<Result<_>>()?;
    if let Some((s, t)) = samples
        .iter()
        .zip(&images)
        .find(|(_, t)| t.dims() != images[0].dims())
    {
        return Err(Error::format(
            &s.path,
            format!(
                "frame is {:?} but the batch's first frame is {:?}; set LoadOptions::size",
                t.dims(),
                images[0].dims()
            ),
        ));
    }
    let labels: Vec<u32> = samples.iter().map(|s| s.label).collect();
    let x = stack_batch(&images)?;
    let y = Tensor::from_vec(labels, samples.len(), x.device())?;
    Ok((x, y))
}

/// The permuted-labels control: the labels of whole videos (grouped by
/// [`Sample::video_key`]) are permuted with a seeded RNG, so the number of fake videos
/// is kept, every frame of a video keeps one label, and labels no longer depend on the
/// pixels. Paths, methods and ids are unchanged (the method then records provenance,
/// not the label). A detector trained on the result must be at chance on held-out data.
pub fn shuffle_labels(samples: &[Sample], seed: u64) -> Vec<Sample> {
    let keys: Vec<String> = samples.iter().map(Sample::video_key).collect();
    let mut label_of: BTreeMap<String, u32> = BTreeMap::new();
    for (k, s) in keys.iter().zip(samples) {
        label_of.entry(k.clone()).or_insert(s.label);
    }
    let videos: Vec<&String> = label_of.keys().collect();
    let mut labels: Vec<u32> = label_of.values().copied().collect();
    SeededRng::derive(seed, "shuffle_labels").shuffle(&mut labels);
    let new: BTreeMap<String, u32> = videos.into_iter().cloned().zip(labels).collect();
    samples
        .iter()
        .zip(&keys)
        .map(|(s, k)| Sample {
            label: new[k.as_str()],
            ..s.clone()
        })
        .collect()
}

/// The negative control's labels: every video (grouped by [`Sample::video_key`]) gets
/// a random label, `floor(videos / 2)` of them fake, drawn with a seeded RNG; every
/// frame of a video shares its label. Meant for identically processed frames (e.g.
/// only the real videos), so that nothing in the pixels, paths or encoding can tell
/// the classes apart: a detector trained and tested on such labels must be at chance
/// unless frames leak between splits.
pub fn random_video_labels(samples: &[Sample], seed: u64) -> Vec<Sample> {
    let keys: Vec<String> = samples.iter().map(Sample::video_key).collect();
    let videos: BTreeSet<&String> = keys.iter().collect();
    let mut labels: Vec<u32> = (0..videos.len())
        .map(|i| u32::from(i < videos.len() / 2))
        .collect();
    SeededRng::derive(seed, "random_video_labels").shuffle(&mut labels);
    let new: BTreeMap<&String, u32> = videos.into_iter().zip(labels).collect();
    samples
        .iter()
        .zip(&keys)
        .map(|(s, k)| Sample {
            label: new[k],
            ..s.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["10.png", "2.png", "1.png", "01.png", "a10", "a9"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["1.png", "01.png", "2.png", "10.png", "a9", "a10"]);
    }

    #[test]
    fn evenly_spaced() {
        assert_eq!(spaced(10, Some(4)), [0, 2, 5, 7]);
        assert_eq!(spaced(3, Some(4)), [0, 1, 2]);
        assert_eq!(spaced(3, None), [0, 1, 2]);
    }

    #[test]
    fn target_ids() {
        let s = Sample {
            path: "x.png".into(),
            label: 1,
            method: Some("Deepfakes".into()),
            video_id: "071_054".into(),
        };
        assert_eq!(s.target_id(), "071");
        assert_eq!(s.video_key(), "fake/Deepfakes/071_054");
    }
}
