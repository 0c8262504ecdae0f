//! SynthClickMatte, the offline proxy for Composition-1k (the card's "Synthetic proxy").
//!
//! Composition-1k is licence-restricted, so the mechanisms the paper relies on — click
//! disambiguation between several objects, fractional alpha, uncertainty that
//! concentrates on hard boundaries — are exercised on procedural scenes instead:
//!
//! 1. **Target alpha** ([`Kind`]): SDF shapes (superellipses, stars, metaball unions)
//!    with a 0.5–2 px smoothstep edge; hairy shapes with 150–400 Bézier strands
//!    0.3–1.5 px thick, opacity 0.3–1, rendered as 4×4-supersampled coverage (true
//!    fractional alpha); semi-transparent veils (α 0.2–0.8 along a gradient);
//!    motion-blurred shapes; fBm smoke under a soft threshold; thin meshes. The card's
//!    item (f), clip-art silhouettes through `resvg`, is not implemented (hard-edged
//!    shapes are covered by (a)).
//! 2. **Foreground colour F**: fBm, stripes or a gradient between two colours; with
//!    probability `hard_colour` both colours are drawn close to the background's mean
//!    colour (a hard case).
//! 3. **Background B**: procedural (fBm, Worley cells, blurred shapes) or, with
//!    probability `photo_background`, a square crop (45–100 % of the shorter side) of
//!    one of candor-core's ten public-domain / CC0 photos
//!    ([`candor_core::assets::PHOTOS`], provenance in `crates/core/assets/`), resized,
//!    flipped with probability ½ and colour-jittered (per-channel gain, saturation,
//!    brightness).
//! 4. **Distractors**: 1–3 further foregrounds (any kind, smaller) composited onto B
//!    first; the ground truth is the target's alpha only. Their visible parts are
//!    returned as [`MattingSample::distractors`] so that background clicks can go on
//!    them.
//! 5. **Composite** `I = αF + (1 − α)B` in 8 bits exactly as DIM
//!    ([`composite`](super::composite)): F, B and α are quantised to 8 bits first, the
//!    sum is truncated.
//!
//! A sample is a pure function of (configuration, seed, index): the same call gives the
//! same bytes. Geometry is drawn in units of the image side, so one scene can be
//! rendered at 128² or 512² (the frozen test set does). Clicks are not part of a
//! sample: see [`crate::clicks`].

mod noise;
mod paint;
mod shapes;

pub use shapes::Kind;

use candor_core::SeededRng;
use image::{GrayImage, RgbImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::paint::{mean_colour, Backdrop, Paint};
use self::shapes::AlphaSpec;
use super::composite::composite_channel;
use super::MattingSample;
use crate::{Error, Result};

/// Relative weights of the target kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KindWeights {
    /// [`Kind::Solid`].
    pub solid: f64,
    /// [`Kind::Hairy`].
    pub hairy: f64,
    /// [`Kind::Veil`].
    pub veil: f64,
    /// [`Kind::Motion`].
    pub motion: f64,
    /// [`Kind::Smoke`].
    pub smoke: f64,
    /// [`Kind::Mesh`].
    pub mesh: f64,
}

impl Default for KindWeights {
    /// Hairy targets twice as often as each other kind (fractional alpha is what
    /// matting is about).
    fn default() -> Self {
        KindWeights {
            solid: 1.0,
            hairy: 2.0,
            veil: 1.0,
            motion: 1.0,
            smoke: 1.0,
            mesh: 1.0,
        }
    }
}

impl KindWeights {
    fn as_array(&self) -> [f64; 6] {
        [
            self.solid,
            self.hairy,
            self.veil,
            self.motion,
            self.smoke,
            self.mesh,
        ]
    }
}

/// Settings of the generator (\[proposal\] values from the card).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// Side of the square images, in pixels.
    pub size: usize,
    /// Inclusive range of the number of distractor objects.
    pub distractors: [usize; 2],
    /// Probability of a photo background (else procedural).
    pub photo_background: f64,
    /// Probability that the target's colours are close to the background's mean.
    pub hard_colour: f64,
    /// Relative frequency of the target kinds.
    pub kinds: KindWeights,
}

impl Default for SynthConfig {
    /// 128², 1–3 distractors, half photo backgrounds, 20 % hard colours.
    fn default() -> Self {
        SynthConfig {
            size: 128,
            distractors: [1, 3],
            photo_background: 0.5,
            hard_colour: 0.2,
            kinds: KindWeights::default(),
        }
    }
}

impl SynthConfig {
    /// The default at `size × size`.
    pub fn with_size(size: usize) -> Self {
        SynthConfig {
            size,
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if !(16..=4096).contains(&self.size) {
            return Err(Error::invalid(format!(
                "synthetic image size must be in 16..=4096, got {}",
                self.size
            )));
        }
        let [lo, hi] = self.distractors;
        if lo > hi || hi > 8 {
            return Err(Error::invalid(format!(
                "distractor range [{lo}, {hi}] must be ordered and at most 8"
            )));
        }
        for (name, p) in [
            ("photo_background", self.photo_background),
            ("hard_colour", self.hard_colour),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::invalid(format!("{name} must be in [0, 1], got {p}")));
            }
        }
        let w = self.kinds.as_array();
        if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || w.iter().sum::<f64>() <= 0.0 {
            return Err(Error::invalid(format!(
                "kind weights must be non-negative with a positive sum, got {w:?}"
            )));
        }
        Ok(())
    }
}

/// A target foreground: alpha geometry and colour.
#[derive(Debug, Clone)]
pub(crate) struct TargetSpec {
    pub alpha: AlphaSpec,
    pub paint: Paint,
}

/// Everything behind the target: the background and the distractors.
#[derive(Debug, Clone)]
pub(crate) struct SceneSpec {
    backdrop: Backdrop,
    distractors: Vec<(AlphaSpec, Paint)>,
}

/// The generator: a configuration and the decoded photos.
#[derive(Debug, Clone)]
pub struct SynthClickMatte {
    cfg: SynthConfig,
    photos: Vec<RgbImage>,
}

impl SynthClickMatte {
    /// Validate the configuration and decode the shipped photos.
    pub fn new(cfg: SynthConfig) -> Result<Self> {
        cfg.validate()?;
        let photos = candor_core::assets::PHOTOS
            .iter()
            .map(|(name, png)| {
                image::load_from_memory(png)
                    .map(|i| i.to_rgb8())
                    .map_err(|e| Error::invalid(format!("embedded photo {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SynthClickMatte { cfg, photos })
    }

    /// The configuration.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// Sample `index` of the training stream of `seed` (independent of every other
    /// index: the stream can be read in any order).
    pub fn sample(&self, seed: u64, index: u64) -> Result<MattingSample> {
        let mut rng = SeededRng::derive(seed, &format!("synthclickmatte/train/{index}"));
        let target = self.sample_target(&mut rng);
        let scene = self.sample_scene(&mut rng);
        self.render(&target, &scene, self.cfg.size)
    }

    /// Samples `start .. start + n` of the stream of `seed`, generated in parallel.
    pub fn batch(&self, seed: u64, start: u64, n: usize) -> Result<Vec<MattingSample>> {
        (0..n as u64)
            .into_par_iter()
            .map(|k| self.sample(seed, start + k))
            .collect()
    }

    /// The kind of the target of training sample `index` (without rendering it).
    pub fn target_kind(&self, seed: u64, index: u64) -> Kind {
        let mut rng = SeededRng::derive(seed, &format!("synthclickmatte/train/{index}"));
        self.sample_target(&mut rng).alpha.kind
    }

    fn pick_kind(&self, rng: &mut SeededRng) -> Kind {
        let w = self.cfg.kinds.as_array();
        let total: f64 = w.iter().sum();
        let mut u = rng.uniform() * total;
        for (k, wk) in Kind::ALL.iter().zip(w) {
            if u < wk {
                return *k;
            }
            u -= wk;
        }
        // Rounding at the top end: the last kind with a positive weight.
        *Kind::ALL
            .iter()
            .zip(w)
            .rev()
            .find(|(_, wk)| *wk > 0.0)
            .map(|(k, _)| k)
            .unwrap_or(&Kind::Solid)
    }

    /// A target centred in the middle 30 % of the image, radius 18–32 % of the side.
    pub(crate) fn sample_target(&self, rng: &mut SeededRng) -> TargetSpec {
        let kind = self.pick_kind(rng);
        let c = (rng.uniform_range(0.35, 0.65), rng.uniform_range(0.35, 0.65));
        let r = rng.uniform_range(0.18, 0.32);
        let alpha = AlphaSpec::sample(kind, c, r, 1.0, rng);
        let hard = rng.bernoulli(self.cfg.hard_colour);
        TargetSpec {
            alpha,
            paint: Paint::sample(rng, hard),
        }
    }

    /// A background and 1–3 distractors (radius 7–16 % of the side, anywhere, with
    /// a quarter of the hair of a target).
    pub(crate) fn sample_scene(&self, rng: &mut SeededRng) -> SceneSpec {
        let backdrop = Backdrop::sample(rng, self.photos.len(), self.cfg.photo_background);
        let [lo, hi] = self.cfg.distractors;
        let n = lo + rng.below(hi - lo + 1);
        let distractors = (0..n)
            .map(|_| {
                let kind = self.pick_kind(rng);
                let c = (rng.uniform_range(0.1, 0.9), rng.uniform_range(0.1, 0.9));
                let r = rng.uniform_range(0.07, 0.16);
                let alpha = AlphaSpec::sample(kind, c, r, 0.25, rng);
                (alpha, Paint::sample(rng, false))
            })
            .collect();
        SceneSpec {
            backdrop,
            distractors,
        }
    }

    /// Render a target over a scene at `size × size`.
    pub(crate) fn render(
        &self,
        target: &TargetSpec,
        scene: &SceneSpec,
        size: usize,
    ) -> Result<MattingSample> {
        let n = size * size;
        let mut bg = scene.backdrop.render(size, &self.photos);
        let mut labels = vec![0u8; n];
        for (k, (spec, paint)) in scene.distractors.iter().enumerate() {
            let a = spec.render(size);
            let f = paint.render(size, [0.5; 3], &a);
            for i in 0..n {
                let ai = a[i];
                if ai > 0.0 {
                    for c in 0..3 {
                        let j = c * n + i;
                        bg[j] = ai * f[j] + (1.0 - ai) * bg[j];
                    }
                    if ai >= 0.5 {
                        labels[i] = k as u8 + 1;
                    }
                }
            }
        }
        let bg8 = quantise(&bg);
        let bg_mean = mean_colour(&dequantise(&bg8));
        let alpha = target.alpha.render(size);
        let fg8 = quantise(&target.paint.render(size, bg_mean, &alpha));
        let alpha8: Vec<u8> = alpha
            .iter()
            .map(|&a| (a.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        let mut image = vec![0u8; 3 * n];
        for i in 0..n {
            let a = (f64::from(alpha8[i]) / 255.0) as f32;
            for c in 0..3 {
                image[3 * i + c] = composite_channel(fg8[3 * i + c], bg8[3 * i + c], a);
            }
        }
        let s = size as u32;
        let rgb = |v: Vec<u8>| RgbImage::from_raw(s, s, v).expect("buffer size matches");
        let gray = |v: Vec<u8>| GrayImage::from_raw(s, s, v).expect("buffer size matches");
        Ok(MattingSample {
            image: rgb(image),
            alpha: gray(alpha8),
            fg: rgb(fg8),
            bg: rgb(bg8),
            trimap: None,
            distractors: Some(gray(labels)),
        })
    }
}

/// `3×H×W` f32 planes → interleaved 8-bit RGB (rounded, clamped).
fn quantise(planes: &[f32]) -> Vec<u8> {
    let n = planes.len() / 3;
    let mut out = vec![0u8; 3 * n];
    for i in 0..n {
        for c in 0..3 {
            out[3 * i + c] = (planes[c * n + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Interleaved 8-bit RGB → `3×H×W` f32 planes in [0, 1].
fn dequantise(rgb: &[u8]) -> Vec<f32> {
    let n = rgb.len() / 3;
    let mut out = vec![0f32; 3 * n];
    for i in 0..n {
        for c in 0..3 {
            out[c * n + i] = f32::from(rgb[3 * i + c]) / 255.0;
        }
    }
    out
}
