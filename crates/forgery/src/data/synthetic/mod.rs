//! The synthetic-forgery proxy of `shared/papers/forgery-spsl.md` ("Synthetic-forgery
//! proxy"), written in the frame-folder layout that [`FrameFolder`](super::FrameFolder)
//! reads, so training code cannot tell it from a FaceForensics++ export.
//!
//! **It is a research instrument, not a substitute for FaceForensics++**: numbers
//! measured on it are proxy numbers and never comparable with the papers'.
//!
//! # Recipe (per frame)
//!
//! 1. **Real patch X**: an `image_size²` crop of a source image at its native
//!    resolution (never up-sampled), mirrored per video with probability ½. Sources
//!    are the shipped public-domain/CC0 photos (`assets/photos/`, see
//!    `assets/PROVENANCE.md`), optional user photos, and procedural textures rendered
//!    at their final resolution.
//!    The frames of one *video* are crops of one source around one base position
//!    (jitter ±`image_size/8`): the analogue of an FF++ video.
//! 2. **Mask M**: an ellipse (random centre and rotation, axes `mask_axes` × side), a
//!    random convex polygon, or a centred ellipse; feathered by a Gaussian blur with
//!    σ = `feather` × side (truncated at `ceil(3σ)`, so M is exactly 0 farther away)
//!    and scaled by α ∈ `alphas`.
//! 3. **Source S**: the patch itself (*self-blend*, SBI-like) or, with probability
//!    `swap_prob`, the same frame of another video of the **same split** made from a
//!    different source image (*swap*), colour-matched to X (per-channel mean and
//!    standard deviation) when `color_match`. The choice and the partner are fixed
//!    per video and shared by all methods, like FF++'s `target_source` pairs.
//! 4. **Operator G = up ∘ (optional noise) ∘ down** with a scale s ∈ `scales`: down to
//!    `round(n/s)` with `down_filter` (anti-aliased), then back to `n` with the
//!    method's up-sampler. Each [`Method`] is one up-sampler; [`Method::None`] is the
//!    identity and is always a self-blend (the null control).
//! 5. **Fake = M·G(S) + (1 − M)·X**, quantised to 8 bits. Outside M's support the fake
//!    equals X exactly.
//! 6. **The same post-processing for both classes**: PNG (lossless) or JPEG at a
//!    quality drawn per frame from `jpeg_quality` and used for the real frame and all
//!    its fakes (the c23/c40 analogue; [`JPEG_C23`], [`JPEG_C40`]).
//!
//! The mask, scale, α and quality are drawn per frame and shared by all methods, so
//! methods differ only by their up-sampler.
//!
//! # Splits and determinism
//!
//! Sources are split into train/val/test by [`Config::split`] (photos and textures
//! separately, so each split gets both; every split with a positive fraction gets at
//! least one source of each kind the pool allows), so no source image reaches two splits (the
//! analogue of FF++'s split by video); swap partners come from the same split.
//! Every random draw comes from `SeededRng::derive(seed, name)` with a name made of
//! the video and frame indices, so a frame does not depend on the order of
//! generation or on the thread count: the same config gives byte-identical files.
//!
//! # Written layout
//!
//! ```text
//! root/real/<video>/<frame>.{png|jpg}             video ids 000, 001, …
//! root/fake/<method>/<target>_<source>/<frame>.…   e.g. fake/bilinear/004_011
//! root/masks/<method>/<target>_<source>/<frame>.png   only with write_masks
//! root/splits.json                                {"train": [ids], "val": […], "test": […]}
//! root/manifest.json                              config, sources, videos (written last)
//! ```
//!
//! Controls: [`Method::None`] (fakes identical to reals: any detector must be at
//! chance), [`Method::Blur`] (a strong blur of the region: any working detector must
//! catch it), [`shuffle_labels`](super::shuffle_labels) (labels permuted over videos)
//! and [`random_video_labels`](super::random_video_labels) (random labels for
//! identically processed frames).

mod ops;
mod texture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candor_core::fsio::write_atomic;
use candor_core::imageio::Filter;
use candor_core::SeededRng;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, GrayImage, RgbImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::ops::{
    blend, convex_hull, feather, fourier_up, gaussian_blur, mask_to_gray, zero_insertion_up, Img,
    Shape,
};
use super::Split;
use crate::{Error, Result};
pub use candor_core::assets::PHOTOS;

/// JPEG quality range used as the analogue of FF++'s light compression (c23).
pub const JPEG_C23: [u8; 2] = [85, 95];
/// JPEG quality range used as the analogue of FF++'s strong compression (c40).
pub const JPEG_C40: [u8; 2] = [45, 65];

/// A manipulation method: the up-sampler of the operator G (card methods m1–m7), or
/// the identity (null control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Null manipulation: G is the identity and the source is always the patch itself,
    /// so a fake equals its real frame (after the same blend, rounding and encoder).
    None,
    /// m1: bilinear (triangle) up-sampling.
    Bilinear,
    /// m2: bicubic (Catmull–Rom) up-sampling.
    Bicubic,
    /// m3: Lanczos-3 up-sampling.
    Lanczos3,
    /// m4: nearest-neighbour up-sampling.
    Nearest,
    /// m5: zero insertion by the integer factor `k = max(2, round(s))` (down-sampling
    /// to `ceil(n/k)`), then a fixed separable kernel of length `k+1` (3×3 for k = 2)
    /// whose end taps weigh 0.6 of the inner ones: the transposed-convolution
    /// checkerboard (one output phase in `k` gets both end taps; gains ±9 % per axis
    /// for k = 2).
    ZeroInsertion,
    /// m6: Fourier zero-padding (ideal band-limited interpolation).
    Fourier,
    /// m7: SPSL's cumulative up-sampling: two cascaded bilinear steps through the
    /// geometric-mean size.
    Cascade,
    /// The positive control's easy manipulation: a strong Gaussian blur of the source
    /// (σ = [`BLUR_SIGMA`] × side, 4 px at 64 px; no re-sampling, `scales` unused)
    /// blended into the region. Not one of the card's methods m1–m7.
    Blur,
}

/// σ of [`Method::Blur`] as a fraction of the side.
pub const BLUR_SIGMA: f64 = 1.0 / 16.0;

impl Method {
    /// Every real manipulation (m1–m7), without the null control.
    pub const ALL: [Method; 7] = [
        Method::Bilinear,
        Method::Bicubic,
        Method::Lanczos3,
        Method::Nearest,
        Method::ZeroInsertion,
        Method::Fourier,
        Method::Cascade,
    ];

    /// The methods generated by default (m1–m5).
    pub const DEFAULT: [Method; 5] = [
        Method::Bilinear,
        Method::Bicubic,
        Method::Lanczos3,
        Method::Nearest,
        Method::ZeroInsertion,
    ];

    /// The folder name under `fake/` (as in the config files).
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Bilinear => "bilinear",
            Method::Bicubic => "bicubic",
            Method::Lanczos3 => "lanczos3",
            Method::Nearest => "nearest",
            Method::ZeroInsertion => "zero_insertion",
            Method::Fourier => "fourier",
            Method::Cascade => "cascade",
            Method::Blur => "blur",
        }
    }

    /// The method with this [`name`](Method::name).
    pub fn from_name(name: &str) -> Option<Method> {
        [Method::None, Method::Blur]
            .into_iter()
            .chain(Method::ALL)
            .find(|m| m.name() == name)
    }

    /// Apply the operator `G = up ∘ noise ∘ down` to an `n×n` patch.
    fn apply(self, s: &Img, scale: f64, cfg: &Config, noise: &mut SeededRng) -> Result<Img> {
        let n = s.h;
        let mut down = |d: usize| -> Result<Img> {
            let mut low = s.resize(d, d, cfg.down_filter)?;
            low.add_noise(cfg.low_res_noise, noise);
            Ok(low)
        };
        let d = ((n as f64 / scale).round() as usize).clamp(2, n);
        Ok(match self {
            Method::None => s.clone(),
            Method::Bilinear => down(d)?.resize(n, n, Filter::Bilinear)?,
            Method::Bicubic => down(d)?.resize(n, n, Filter::Bicubic)?,
            Method::Lanczos3 => down(d)?.resize(n, n, Filter::Lanczos3)?,
            Method::Nearest => down(d)?.resize(n, n, Filter::Nearest)?,
            Method::ZeroInsertion => {
                let k = (scale.round() as usize).max(2);
                let low = down(n.div_ceil(k))?;
                let up = zero_insertion_up(&low, k);
                up.crop(0, 0, n, false)
            }
            Method::Fourier => fourier_up(&down(d)?, n, n)?,
            Method::Cascade => {
                let mid = ((d as f64 * n as f64).sqrt().round() as usize).clamp(d, n);
                down(d)?
                    .resize(mid, mid, Filter::Bilinear)?
                    .resize(n, n, Filter::Bilinear)?
            }
            Method::Blur => gaussian_blur(s, BLUR_SIGMA * n as f64),
        })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Shape of the blending mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskShape {
    /// Random centre (middle 40 % of the patch per axis), rotation and axes.
    Ellipse,
    /// Convex hull of 5–9 random points in a box of the ellipse's size.
    Polygon,
    /// A vertical ellipse at the patch centre (the "face" mask).
    CentredEllipse,
}

/// How a fake video's source patch was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlendMode {
    /// The source is the real patch itself (SBI-like).
    SelfBlend,
    /// The source is the same frame of another video (another source image).
    Swap,
}

/// Where a source image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A shipped photo ([`PHOTOS`]).
    Photo,
    /// A user photo from [`Config::extra_photos`].
    File,
    /// A procedural texture.
    Texture,
}

/// Settings of the synthetic forgery generator. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seed of every random draw.
    pub seed: u64,
    /// Side `n` of the square frames, in pixels (crops at native resolution).
    pub image_size: usize,
    /// Number of real videos in (train, val, test); each has one fake video per method.
    pub videos: [usize; 3],
    /// Frames (crops) per video.
    pub frames_per_video: usize,
    /// Fractions of the source images in (train, val, test).
    pub split: [f64; 3],
    /// Use the shipped photos ([`PHOTOS`]).
    pub photos: bool,
    /// Number of procedural textures added to the pool.
    pub textures: usize,
    /// Further PNG/JPEG photos (e.g. a second pool for cross-data-set tests).
    pub extra_photos: Vec<PathBuf>,
    /// Manipulation methods; each becomes a `fake/<method>/` folder.
    pub methods: Vec<Method>,
    /// Down-sampling factors s, drawn uniformly per frame (1 ≤ s ≤ `image_size`/2).
    pub scales: Vec<f64>,
    /// Blend strengths α, drawn uniformly per frame.
    pub alphas: Vec<f64>,
    /// Mask shapes, drawn uniformly per frame.
    pub mask_shapes: Vec<MaskShape>,
    /// Range of the mask's (full) axis lengths, as fractions of the side.
    pub mask_axes: [f64; 2],
    /// Range of the feathering blur's σ, as a fraction of the side (2–8 px at 128).
    pub feather: [f64; 2],
    /// Probability that a fake video is a swap (else a self-blend).
    pub swap_prob: f64,
    /// Colour-match swapped sources to the target patch.
    pub color_match: bool,
    /// Filter of the down-sampling step (anti-aliased).
    pub down_filter: Filter,
    /// Standard deviation of Gaussian noise added at low resolution (0 = none).
    pub low_res_noise: f64,
    /// JPEG quality range `[lo, hi]` for real and fake frames alike; `None` = PNG.
    pub jpeg_quality: Option<[u8; 2]>,
    /// Mirror videos left–right with probability ½.
    pub flip: bool,
    /// Also write the masks under `masks/<method>/`.
    pub write_masks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0,
            image_size: 128,
            videos: [48, 12, 12],
            frames_per_video: 4,
            split: [0.6, 0.2, 0.2],
            photos: true,
            textures: 6,
            extra_photos: Vec::new(),
            methods: Method::DEFAULT.to_vec(),
            scales: vec![1.5, 2.0, 3.0, 4.0],
            alphas: vec![0.5, 0.75, 1.0],
            mask_shapes: vec![MaskShape::Ellipse, MaskShape::Polygon],
            mask_axes: [0.25, 0.6],
            feather: [2.0 / 128.0, 8.0 / 128.0],
            swap_prob: 0.5,
            color_match: true,
            down_filter: Filter::Bilinear,
            low_res_noise: 0.0,
            jpeg_quality: Some(JPEG_C23),
            flip: true,
            write_masks: false,
        }
    }
}

impl Config {
    /// A tiny set for tests: 32-px frames, 3/2/2 videos of 2 frames, 3 textures.
    pub fn tiny() -> Self {
        Config {
            image_size: 32,
            videos: [3, 2, 2],
            frames_per_video: 2,
            textures: 3,
            ..Config::default()
        }
    }

    /// Check every field; the error says which one is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("synthetic config: {m}")));
        if self.image_size < 8 {
            return bad(format!("image_size must be ≥ 8, got {}", self.image_size));
        }
        if self.videos.iter().sum::<usize>() == 0 {
            return bad("videos must ask for at least one video".into());
        }
        if self.frames_per_video == 0 {
            return bad("frames_per_video must be ≥ 1".into());
        }
        if self.split.iter().any(|f| !(0.0..=1.0).contains(f))
            || (self.split.iter().sum::<f64>() - 1.0).abs() > 1e-9
        {
            return bad(format!(
                "split fractions must be in [0, 1] and sum to 1, got {:?}",
                self.split
            ));
        }
        if self.methods.is_empty() {
            return bad("methods must not be empty".into());
        }
        let uniq: BTreeSet<_> = self.methods.iter().collect();
        if uniq.len() != self.methods.len() {
            return bad(format!("methods contain duplicates: {:?}", self.methods));
        }
        let max_scale = self.image_size as f64 / 2.0;
        if self.scales.is_empty()
            || self
                .scales
                .iter()
                .any(|s| !s.is_finite() || *s < 1.0 || *s > max_scale)
        {
            return bad(format!(
                "scales must be non-empty and in [1, image_size/2 = {max_scale}], got {:?}",
                self.scales
            ));
        }
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(*a > 0.0 && *a <= 1.0)) {
            return bad(format!(
                "alphas must be non-empty and in (0, 1], got {:?}",
                self.alphas
            ));
        }
        if self.mask_shapes.is_empty() {
            return bad("mask_shapes must not be empty".into());
        }
        let [a0, a1] = self.mask_axes;
        if !(a0 > 0.0 && a0 <= a1 && a1 <= 1.0) {
            return bad(format!(
                "mask_axes must satisfy 0 < lo ≤ hi ≤ 1, got {:?}",
                self.mask_axes
            ));
        }
        let [f0, f1] = self.feather;
        if !(f0 >= 0.0 && f0 <= f1 && f1 <= 0.5) {
            return bad(format!(
                "feather must satisfy 0 ≤ lo ≤ hi ≤ 0.5, got {:?}",
                self.feather
            ));
        }
        if !(0.0..=1.0).contains(&self.swap_prob) {
            return bad(format!(
                "swap_prob must be in [0, 1], got {}",
                self.swap_prob
            ));
        }
        if !(self.low_res_noise.is_finite() && self.low_res_noise >= 0.0) {
            return bad(format!(
                "low_res_noise must be ≥ 0, got {}",
                self.low_res_noise
            ));
        }
        if let Some([q0, q1]) = self.jpeg_quality {
            if !(1 <= q0 && q0 <= q1 && q1 <= 100) {
                return bad(format!(
                    "jpeg_quality must satisfy 1 ≤ lo ≤ hi ≤ 100, got [{q0}, {q1}]"
                ));
            }
        }
        if !self.photos && self.textures == 0 && self.extra_photos.is_empty() {
            return bad("no source images: enable photos, textures or extra_photos".into());
        }
        Ok(())
    }

    /// Read a config from JSON (unknown keys are an error).
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Config = serde_json::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A source image of the pool, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Unique name (photo name, file stem, or `texture_<i>`).
    pub name: String,
    /// Where it comes from.
    pub kind: SourceKind,
    /// The split it belongs to.
    pub split: Split,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// A real video and its fakes, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Real video id (folder under `real/`).
    pub id: String,
    /// Its split.
    pub split: Split,
    /// Name of its source image.
    pub source: String,
    /// Self-blend or swap (for every method but [`Method::None`], always a self-blend).
    pub mode: BlendMode,
    /// Id of the video the swapped source comes from (its own id for a self-blend).
    pub partner: String,
    /// Fake video id `<id>_<partner>` (folder under `fake/<method>/`).
    pub fake_id: String,
}

/// What a generated tree contains (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format tag.
    pub generator: String,
    /// The config that produced the tree.
    pub config: Config,
    /// The source images and their splits.
    pub sources: Vec<SourceInfo>,
    /// Every real video, in id order.
    pub videos: Vec<VideoInfo>,
}

const GENERATOR_TAG: &str = "candor-forgery synthetic v1";

impl Manifest {
    /// Read `manifest.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a synthetic manifest: {e}")))
    }

    /// Ids of the real videos of `split`.
    pub fn video_ids(&self, split: Split) -> Vec<String> {
        self.videos
            .iter()
            .filter(|v| v.split == split)
            .map(|v| v.id.clone())
            .collect()
    }
}

/// The per-frame random draws (shared by all methods).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameParams {
    /// Mask shape.
    pub shape: MaskShape,
    /// Down-sampling factor s.
    pub scale: f64,
    /// Blend strength α.
    pub alpha: f64,
    /// Feathering σ in pixels.
    pub feather_sigma: f64,
    /// JPEG quality of the real frame and its fakes (`None`: PNG).
    pub jpeg_quality: Option<u8>,
}

/// One generated frame before post-processing: the real crop, one fake per method,
/// and the blending mask.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Video index (position in [`Manifest::videos`]).
    pub video: usize,
    /// Frame index within the video.
    pub index: usize,
    /// The real crop X.
    pub real: RgbImage,
    /// `(method, fake)` in [`Config::methods`] order, before compression.
    pub fakes: Vec<(Method, RgbImage)>,
    /// The blending mask α·feather(shape), row-major `n×n`, in `[0, 1]`.
    pub mask: Vec<f32>,
    /// The frame's random draws.
    pub params: FrameParams,
}

impl Frame {
    /// File extension of the encoded frames: `png` or `jpg`.
    pub fn extension(&self) -> &'static str {
        if self.params.jpeg_quality.is_some() {
            "jpg"
        } else {
            "png"
        }
    }

    /// Encode an image (the real frame or a fake) with this frame's post-processing:
    /// PNG, or baseline JPEG at [`FrameParams::jpeg_quality`].
    pub fn encode(&self, img: &RgbImage) -> Result<Vec<u8>> {
        encode(img, self.params.jpeg_quality)
    }
}

fn encode(img: &RgbImage, quality: Option<u8>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match quality {
        Some(q) => JpegEncoder::new_with_quality(&mut out, q)
            .encode_image(img)
            .map_err(|e| Error::invalid(format!("JPEG encoding failed: {e}")))?,
        None => DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .map_err(|e| Error::invalid(format!("PNG encoding failed: {e}")))?,
    }
    Ok(out)
}

fn encode_gray(img: &GrayImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    DynamicImage::ImageLuma8(img.clone())
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| Error::invalid(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

struct Source {
    info: SourceInfo,
    img: Img,
}

struct VideoPlan {
    info: VideoInfo,
    source: usize,
    partner: usize,
    top: usize,
    left: usize,
    flip: bool,
}

/// The seeded generator: decodes and splits the source pool and plans every video on
/// construction; frames are made on demand ([`Generator::frame`]) or all written to
/// a folder tree ([`Generator::write`]).
pub struct Generator {
    cfg: Config,
    sources: Vec<Source>,
    videos: Vec<VideoPlan>,
}

/// How many of `n` items go to each split: largest remainders of `n·fraction`, then
/// at least one item for every split with a positive fraction when `n` allows
/// (taken from the largest split), so that a small pool still feeds every split.
fn split_counts(n: usize, fractions: [f64; 3]) -> [usize; 3] {
    let exact: Vec<f64> = fractions.iter().map(|f| f * n as f64).collect();
    let mut counts = [0usize; 3];
    for (c, e) in counts.iter_mut().zip(&exact) {
        *c = e.floor() as usize;
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.partial_cmp(&ra)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut left = n - counts.iter().sum::<usize>().min(n);
    for &i in order.iter().cycle().take(3 * n) {
        if left == 0 {
            break;
        }
        if fractions[i] > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    let wanted = fractions.iter().filter(|f| **f > 0.0).count();
    if n >= wanted {
        for i in 0..3 {
            if fractions[i] > 0.0 && counts[i] == 0 {
                let donor = (0..3).max_by_key(|&j| (counts[j], 3 - j)).unwrap_or(0);
                if counts[donor] > 1 {
                    counts[donor] -= 1;
                    counts[i] += 1;
                }
            }
        }
    }
    counts
}

fn pick<T: Copy>(xs: &[T], rng: &mut SeededRng) -> T {
    xs[rng.below(xs.len())]
}

impl Generator {
    /// Validate the config, load and split the sources, and plan the videos.
    pub fn new(cfg: Config) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.image_size;
        let seed = cfg.seed;

        // The pool: (name, kind, image).
        let mut pool: Vec<(String, SourceKind, Img)> = Vec::new();
        if cfg.photos {
            for (name, bytes) in PHOTOS {
                let img = image::load_from_memory(bytes)
                    .map_err(|e| Error::invalid(format!("embedded photo {name}: {e}")))?;
                pool.push((
                    name.to_string(),
                    SourceKind::Photo,
                    Img::from_rgb8(&img.to_rgb8()),
                ));
            }
        }
        for path in &cfg.extra_photos {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let img = image::load_from_memory(&bytes)
                .map_err(|e| Error::format(path, format!("cannot decode image: {e}")))?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            pool.push((
                format!("file_{stem}"),
                SourceKind::File,
                Img::from_rgb8(&img.to_rgb8()),
            ));
        }
        let tex_size = (2 * n).max(256);
        let textures: Vec<(String, SourceKind, Img)> = (0..cfg.textures)
            .into_par_iter()
            .map(|i| {
                let mut rng = SeededRng::derive(seed, &format!("texture/{i}"));
                let img = texture::render(tex_size, &mut rng);
                (
                    format!("texture_{i:02}"),
                    SourceKind::Texture,
                    Img::from_rgb8(&img),
                )
            })
            .collect();
        pool.extend(textures);
        let mut names = BTreeSet::new();
        for (name, _, img) in &pool {
            if !names.insert(name.clone()) {
                return Err(Error::invalid(format!(
                    "synthetic config: two source images are named {name:?}"
                )));
            }
            if img.h < n || img.w < n {
                return Err(Error::invalid(format!(
                    "source image {name} is {}×{}, smaller than image_size {n}",
                    img.h, img.w
                )));
            }
        }

        // Split photos and textures separately, so that each split gets both kinds.
        let mut split_of = std::collections::BTreeMap::new();
        for (group, textures) in [("photos", false), ("textures", true)] {
            let names: Vec<String> = pool
                .iter()
                .filter(|(_, k, _)| (*k == SourceKind::Texture) == textures)
                .map(|(name, _, _)| name.clone())
                .collect();
            if names.is_empty() {
                continue;
            }
            let mut names = names;
            SeededRng::derive(seed, &format!("split/{group}")).shuffle(&mut names);
            let counts = split_counts(names.len(), cfg.split);
            let mut it = names.into_iter();
            for (split, count) in Split::ALL.into_iter().zip(counts) {
                for name in it.by_ref().take(count) {
                    split_of.insert(name, split);
                }
            }
        }
        let sources: Vec<Source> = pool
            .into_iter()
            .map(|(name, kind, img)| Source {
                info: SourceInfo {
                    split: split_of[&name],
                    name,
                    kind,
                    height: img.h,
                    width: img.w,
                },
                img,
            })
            .collect();

        // Videos: round-robin over each split's sources in a seeded order.
        let total: usize = cfg.videos.iter().sum();
        let width = total.saturating_sub(1).to_string().len().max(3);
        let mut videos = Vec::with_capacity(total);
        for (si, split) in Split::ALL.into_iter().enumerate() {
            let count = cfg.videos[si];
            if count == 0 {
                continue;
            }
            let mut members: Vec<usize> = (0..sources.len())
                .filter(|&i| sources[i].info.split == split)
                .collect();
            if members.is_empty() {
                return Err(Error::invalid(format!(
                    "synthetic config: the {split} split asks for {count} videos but got no \
                     source image ({} sources split {:?}); add sources or change split",
                    sources.len(),
                    cfg.split
                )));
            }
            SeededRng::derive(seed, &format!("order/{split}")).shuffle(&mut members);
            for i in 0..count {
                let v = videos.len();
                let source = members[i % members.len()];
                let src = &sources[source].img;
                let mut rng = SeededRng::derive(seed, &format!("video/{v}"));
                let top = rng.below(src.h - n + 1);
                let left = rng.below(src.w - n + 1);
                let flip = cfg.flip && rng.bernoulli(0.5);
                let id = format!("{v:0width$}");
                videos.push(VideoPlan {
                    info: VideoInfo {
                        id: id.clone(),
                        split,
                        source: sources[source].info.name.clone(),
                        mode: BlendMode::SelfBlend,
                        partner: id.clone(),
                        fake_id: format!("{id}_{id}"),
                    },
                    source,
                    partner: v,
                    top,
                    left,
                    flip,
                });
            }
        }
        // Swap partners: another video of the same split with another source image.
        for v in 0..videos.len() {
            let mut rng = SeededRng::derive(seed, &format!("partner/{v}"));
            if !rng.bernoulli(cfg.swap_prob) {
                continue;
            }
            let candidates: Vec<usize> = (0..videos.len())
                .filter(|&u| {
                    videos[u].info.split == videos[v].info.split
                        && videos[u].source != videos[v].source
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let p = pick(&candidates, &mut rng);
            let partner_id = videos[p].info.id.clone();
            let plan = &mut videos[v];
            plan.partner = p;
            plan.info.mode = BlendMode::Swap;
            plan.info.fake_id = format!("{}_{}", plan.info.id, partner_id);
            plan.info.partner = partner_id;
        }
        Ok(Generator {
            cfg,
            sources,
            videos,
        })
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Number of real videos (train, then val, then test).
    pub fn num_videos(&self) -> usize {
        self.videos.len()
    }

    /// What [`write`](Generator::write) records in `manifest.json`.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            generator: GENERATOR_TAG.to_string(),
            config: self.cfg.clone(),
            sources: self.sources.iter().map(|s| s.info.clone()).collect(),
            videos: self.videos.iter().map(|v| v.info.clone()).collect(),
        }
    }

    /// The crop of frame `j` of video `v` (base position plus seeded jitter).
    fn crop(&self, v: usize, j: usize) -> Img {
        let plan = &self.videos[v];
        let src = &self.sources[plan.source].img;
        let n = self.cfg.image_size;
        let jit = (n / 8) as isize;
        let mut rng = SeededRng::derive(self.cfg.seed, &format!("jitter/{v}/{j}"));
        let mut offset = |base: usize, max: usize| -> usize {
            let d = rng.below((2 * jit + 1) as usize) as isize - jit;
            (base as isize + d).clamp(0, max as isize) as usize
        };
        let top = offset(plan.top, src.h - n);
        let left = offset(plan.left, src.w - n);
        src.crop(top, left, n, plan.flip)
    }

    fn shape(&self, kind: MaskShape, rng: &mut SeededRng) -> Shape {
        let n = self.cfg.image_size as f64;
        let [a0, a1] = self.cfg.mask_axes;
        let mut semi = || rng.uniform_range(a0, a1) * n / 2.0;
        let (a, b) = (semi(), semi());
        match kind {
            MaskShape::Ellipse => Shape::Ellipse {
                cy: rng.uniform_range(0.3, 0.7) * n,
                cx: rng.uniform_range(0.3, 0.7) * n,
                a,
                b,
                theta: rng.uniform_range(0.0, std::f64::consts::PI),
            },
            MaskShape::CentredEllipse => Shape::Ellipse {
                cy: n / 2.0,
                cx: n / 2.0,
                a: a.min(b),
                b: a.max(b),
                theta: 0.0,
            },
            MaskShape::Polygon => {
                let cy = rng.uniform_range(0.3, 0.7) * n;
                let cx = rng.uniform_range(0.3, 0.7) * n;
                let k = 5 + rng.below(5);
                let pts: Vec<(f64, f64)> = (0..k)
                    .map(|_| (cy + rng.uniform_range(-b, b), cx + rng.uniform_range(-a, a)))
                    .collect();
                let hull = convex_hull(pts);
                if hull.len() >= 3 {
                    Shape::Polygon(hull)
                } else {
                    Shape::Ellipse {
                        cy,
                        cx,
                        a,
                        b,
                        theta: 0.0,
                    }
                }
            }
        }
    }

    /// Frame `index` of video `video`: the real crop, every method's fake and the mask.
    /// Depends only on the config and the two indices.
    pub fn frame(&self, video: usize, index: usize) -> Result<Frame> {
        if video >= self.videos.len() || index >= self.cfg.frames_per_video {
            return Err(Error::invalid(format!(
                "frame {index} of video {video} does not exist ({} videos of {} frames)",
                self.videos.len(),
                self.cfg.frames_per_video
            )));
        }
        let cfg = &self.cfg;
        let n = cfg.image_size;
        let plan = &self.videos[video];
        let mut rng = SeededRng::derive(cfg.seed, &format!("frame/{video}/{index}"));
        let kind = pick(&cfg.mask_shapes, &mut rng);
        let shape = self.shape(kind, &mut rng);
        let sigma = rng.uniform_range(cfg.feather[0], cfg.feather[1]) * n as f64;
        let alpha = pick(&cfg.alphas, &mut rng);
        let scale = pick(&cfg.scales, &mut rng);
        let jpeg_quality = cfg.jpeg_quality.map(|[lo, hi]| {
            let span = (hi - lo) as usize + 1;
            lo + rng.below(span) as u8
        });

        let mut mask = feather(&shape.rasterize(n), n, sigma);
        for m in &mut mask {
            *m *= alpha as f32;
        }
        let x = self.crop(video, index);
        let swapped = match plan.info.mode {
            BlendMode::SelfBlend => None,
            BlendMode::Swap => {
                let s = self.crop(plan.partner, index);
                Some(if cfg.color_match {
                    s.color_matched_to(&x)
                } else {
                    s
                })
            }
        };
        let mut fakes = Vec::with_capacity(cfg.methods.len());
        for &method in &cfg.methods {
            let src = match (&swapped, method) {
                (Some(s), m) if m != Method::None => s,
                _ => &x,
            };
            let mut noise = SeededRng::derive(
                cfg.seed,
                &format!("noise/{video}/{index}/{}", method.name()),
            );
            let g = method.apply(src, scale, cfg, &mut noise)?;
            fakes.push((method, blend(&g, &x, &mask).to_rgb8()));
        }
        Ok(Frame {
            video,
            index,
            real: x.to_rgb8(),
            fakes,
            mask,
            params: FrameParams {
                shape: kind,
                scale,
                alpha,
                feather_sigma: sigma,
                jpeg_quality,
            },
        })
    }

    /// Write the whole tree under `root`, which must be absent or empty (so stale files
    /// of another config can never mix in). Frames are generated in parallel;
    /// `manifest.json` is written last, atomically, and is returned.
    pub fn write(&self, root: impl AsRef<Path>) -> Result<Manifest> {
        let root = root.as_ref();
        if root.exists() {
            let mut entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
            if entries.next().is_some() {
                return Err(Error::invalid(format!(
                    "{}: refusing to generate into a non-empty directory",
                    root.display()
                )));
            }
        }
        let mkdir = |p: &Path| std::fs::create_dir_all(p).map_err(|e| Error::io(p, e));
        for plan in &self.videos {
            mkdir(&root.join("real").join(&plan.info.id))?;
            for m in &self.cfg.methods {
                mkdir(&root.join("fake").join(m.name()).join(&plan.info.fake_id))?;
                if self.cfg.write_masks {
                    mkdir(&root.join("masks").join(m.name()).join(&plan.info.fake_id))?;
                }
            }
        }
        let jobs: Vec<(usize, usize)> = (0..self.videos.len())
            .flat_map(|v| (0..self.cfg.frames_per_video).map(move |j| (v, j)))
            .collect();
        jobs.par_iter()
            .try_for_each(|&(v, j)| self.write_frame(root, v, j))?;

        let manifest = self.manifest();
        let mut splits = serde_json::Map::new();
        for split in Split::ALL {
            splits.insert(split.name().into(), manifest.video_ids(split).into());
        }
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(splits))?;
        write_atomic(root.join("splits.json"), text.as_bytes())?;
        let text = serde_json::to_string_pretty(&manifest)?;
        write_atomic(root.join("manifest.json"), text.as_bytes())?;
        Ok(manifest)
    }

    fn write_frame(&self, root: &Path, v: usize, j: usize) -> Result<()> {
        let frame = self.frame(v, j)?;
        let plan = &self.videos[v];
        let name = format!("{j:03}.{}", frame.extension());
        let put = |path: PathBuf, bytes: Vec<u8>| -> Result<()> {
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
        };
        put(
            root.join("real").join(&plan.info.id).join(&name),
            frame.encode(&frame.real)?,
        )?;
        let mask_png = if self.cfg.write_masks {
            Some(encode_gray(&mask_to_gray(
                &frame.mask,
                self.cfg.image_size,
            ))?)
        } else {
            None
        };
        for (m, fake) in &frame.fakes {
            let dir = root.join("fake").join(m.name()).join(&plan.info.fake_id);
            put(dir.join(&name), frame.encode(fake)?)?;
            if let Some(png) = &mask_png {
                let dir = root.join("masks").join(m.name()).join(&plan.info.fake_id);
                put(dir.join(format!("{j:03}.png")), png.clone())?;
            }
        }
        Ok(())
    }
}

/// Generate the tree for `cfg` under `root` (absent or empty): [`Generator::new`]
/// then [`Generator::write`].
pub fn generate(cfg: &Config, root: impl AsRef<Path>) -> Result<Manifest> {
    Generator::new(cfg.clone())?.write(root)
}

/// Like [`generate`], but reuse `root` if it already holds a complete tree made with the
/// same config (its `manifest.json` records it); a non-empty `root` made otherwise is
/// an error, never overwritten.
pub fn generate_or_reuse(cfg: &Config, root: impl AsRef<Path>) -> Result<Manifest> {
    let root = root.as_ref();
    let manifest = root.join("manifest.json");
    if manifest.exists() {
        let m = Manifest::read(&manifest)?;
        if m.generator == GENERATOR_TAG && m.config == *cfg {
            return Ok(m);
        }
        return Err(Error::invalid(format!(
            "{}: holds a synthetic tree made with another config; remove it or pick another directory",
            root.display()
        )));
    }
    generate(cfg, root)
}

#[cfg(test)]
mod tests {
    use super::split_counts;

    #[test]
    fn split_counts_cover_every_split() {
        assert_eq!(split_counts(10, [0.6, 0.2, 0.2]), [6, 2, 2]);
        assert_eq!(split_counts(3, [0.6, 0.2, 0.2]), [1, 1, 1]);
        assert_eq!(split_counts(6, [0.6, 0.2, 0.2]), [4, 1, 1]);
        assert_eq!(split_counts(2, [0.6, 0.2, 0.2]), [1, 1, 0]);
        assert_eq!(split_counts(5, [1.0, 0.0, 0.0]), [5, 0, 0]);
        assert_eq!(split_counts(7, [0.5, 0.5, 0.0]), [4, 3, 0]);
        for n in 0..30 {
            assert_eq!(split_counts(n, [0.7, 0.15, 0.15]).iter().sum::<usize>(), n);
        }
    }
}
