//! User clicks: their encoding as the network's fourth input channel, the simulated
//! clicks of training, the deterministic clicks of the frozen test set, and the next
//! click of the interactive protocol.
//!
//! **Encoding** (Wei et al. 2021, \[transcribed\]): a foreground click sets a hard disk of
//! radius r to +1, a background click sets one to −1, everything else is 0; r = 15 px
//! at 512², scaled with the resolution: [`click_radius`] = max(3, round(15·res/512)).
//! Where disks of opposite signs overlap, the later click wins.
//!
//! **Training clicks** ([`simulate_clicks`]): the count is Geometric(p = 1/6) on
//! {1, 2, …} (mean 6) \[transcribed\]; the placement is the card's \[proposal\]: every
//! click agrees with the ground truth over its whole disk, i.e. a foreground click's
//! centre lies in the solid core (α ≥ 0.9, 8-bit α ≥ 230) eroded by r, a background
//! click's centre in the α = 0 region eroded by r. The first click is a foreground
//! click; each later one is foreground or background by a fair coin; a background click
//! lands on a distractor object with probability ½ when one is visible. A target
//! without a core wide enough for a disk gets background clicks only; a click of a kind
//! with no room is replaced by the other kind; an image with room for neither gets no
//! click.
//!
//! **Test clicks** ([`test_clicks`]): one foreground click at the deepest pixel of the
//! solid core (the maximum of its distance transform, the image border counting as
//! outside), then one background click per visible distractor at the deepest pixel of
//! its α = 0 part; each only where its disk agrees with the ground truth.
//!
//! **Next click** ([`next_click`]): the usual interactive protocol (Xu et al. 2016,
//! RITM): among the error regions, foreground pixels (α ≥ 0.9) predicted too low and
//! background pixels (α = 0) predicted too high by more than a threshold (0.5 by
//! default, i.e. on the wrong side of ½), take the largest 4-connected one and click
//! its deepest pixel, among those whose disk agrees with the ground truth (the next
//! largest region if none does).

use image::GrayImage;
use rand_distr::{Distribution, Geometric};
use serde::{Deserialize, Serialize};

use crate::morph::{argmax_where, depth_squared, erode_disk};
use crate::{Error, Result};
use candor_core::metrics::matting::Components;
use candor_core::SeededRng;

/// 8-bit alpha at or above which a pixel is solid foreground (α ≥ 0.9 ⇔ 255·α ≥ 229.5).
pub const SOLID_ALPHA: u8 = 230;

/// One click at pixel `(y, x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Click {
    /// Row.
    pub y: usize,
    /// Column.
    pub x: usize,
    /// Foreground (+1) or background (−1).
    pub foreground: bool,
}

impl Click {
    /// A foreground click.
    pub fn fg(y: usize, x: usize) -> Self {
        Click {
            y,
            x,
            foreground: true,
        }
    }

    /// A background click.
    pub fn bg(y: usize, x: usize) -> Self {
        Click {
            y,
            x,
            foreground: false,
        }
    }
}

/// The click-disk radius at resolution `res` (the shorter image side):
/// `max(3, round(15·res/512))` — 15 at 512², 4 at 128².
pub fn click_radius(res: usize) -> usize {
    ((15.0 * res as f64 / 512.0).round() as usize).max(3)
}

fn check_click(c: &Click, height: usize, width: usize) -> Result<()> {
    if c.y >= height || c.x >= width {
        return Err(Error::invalid(format!(
            "click at (y {}, x {}) is outside the {height}x{width} image",
            c.y, c.x
        )));
    }
    Ok(())
}

/// The click map: `height × width` row-major, +1 inside foreground disks, −1 inside
/// background disks (`dy² + dx² ≤ radius²`), 0 elsewhere; later clicks overwrite
/// earlier ones. Errors when a click is outside the image or the image is empty.
pub fn encode_clicks(
    clicks: &[Click],
    height: usize,
    width: usize,
    radius: usize,
) -> Result<Vec<f32>> {
    if height == 0 || width == 0 {
        return Err(Error::invalid(format!(
            "cannot encode clicks on an empty {height}x{width} image"
        )));
    }
    let mut map = vec![0f32; height * width];
    let r = radius as isize;
    for c in clicks {
        check_click(c, height, width)?;
        let v = if c.foreground { 1.0 } else { -1.0 };
        let (cy, cx) = (c.y as isize, c.x as isize);
        for y in (cy - r).max(0)..=(cy + r).min(height as isize - 1) {
            for x in (cx - r).max(0)..=(cx + r).min(width as isize - 1) {
                if (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r {
                    map[y as usize * width + x as usize] = v;
                }
            }
        }
    }
    Ok(map)
}

/// Settings of the training-time click simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickSimConfig {
    /// Success probability of the Geometric click count on {1, 2, …} (mean 1/p).
    pub p: f64,
    /// Disk radius in pixels (see [`click_radius`]).
    pub radius: usize,
    /// Probability that a background click goes on a distractor when one is visible.
    pub distractor_preference: f64,
}

impl Default for ClickSimConfig {
    /// p = 1/6 (mean 6 clicks), r = 15 (512²), distractor preference ½.
    fn default() -> Self {
        ClickSimConfig {
            p: 1.0 / 6.0,
            radius: 15,
            distractor_preference: 0.5,
        }
    }
}

impl ClickSimConfig {
    /// The default with the radius for resolution `res`.
    pub fn for_resolution(res: usize) -> Self {
        ClickSimConfig {
            radius: click_radius(res),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.distractor_preference) {
            return Err(Error::invalid(format!(
                "distractor preference must be in [0, 1], got {}",
                self.distractor_preference
            )));
        }
        Ok(())
    }
}

/// A click count from Geometric(p) on {1, 2, …}: P(m = k) = (1 − p)^(k−1)·p.
pub fn sample_click_count(p: f64, rng: &mut SeededRng) -> Result<usize> {
    if !(p > 0.0 && p <= 1.0) {
        return Err(Error::invalid(format!(
            "click count probability p must be in (0, 1], got {p}"
        )));
    }
    let g = Geometric::new(p)
        .map_err(|e| Error::invalid(format!("click count probability {p}: {e}")))?;
    // rand_distr's Geometric counts the failures before the first success (support 0…).
    Ok(g.sample(rng) as usize + 1)
}

/// Where clicks of each kind may go: centres whose whole disk agrees with the GT.
pub struct ClickRegions {
    /// Foreground centres (solid core eroded by the radius), as pixel indices.
    pub fg: Vec<usize>,
    /// Background centres (α = 0 eroded by the radius).
    pub bg: Vec<usize>,
    /// Background centres on a distractor object.
    pub bg_distractor: Vec<usize>,
    fg_mask: Vec<bool>,
    bg_mask: Vec<bool>,
}

fn check_alpha_and_distractors(alpha: &GrayImage, distractors: Option<&GrayImage>) -> Result<()> {
    if alpha.width() == 0 || alpha.height() == 0 {
        return Err(Error::invalid("empty alpha matte"));
    }
    if let Some(d) = distractors {
        if d.dimensions() != alpha.dimensions() {
            return Err(Error::invalid(format!(
                "distractor map is {}x{} but the alpha is {}x{} (width x height)",
                d.width(),
                d.height(),
                alpha.width(),
                alpha.height()
            )));
        }
    }
    Ok(())
}

impl ClickRegions {
    /// The click regions of a ground-truth alpha at `radius`.
    pub fn new(alpha: &GrayImage, distractors: Option<&GrayImage>, radius: usize) -> Result<Self> {
        check_alpha_and_distractors(alpha, distractors)?;
        let (h, w) = (alpha.height() as usize, alpha.width() as usize);
        let a = alpha.as_raw();
        let solid: Vec<bool> = a.iter().map(|&v| v >= SOLID_ALPHA).collect();
        let clear: Vec<bool> = a.iter().map(|&v| v == 0).collect();
        let fg_mask = erode_disk(&solid, h, w, radius)?;
        let bg_mask = erode_disk(&clear, h, w, radius)?;
        let idx = |m: &[bool]| (0..m.len()).filter(|&i| m[i]).collect::<Vec<_>>();
        let bg_distractor = match distractors {
            Some(d) => (0..h * w)
                .filter(|&i| bg_mask[i] && d.as_raw()[i] > 0)
                .collect(),
            None => Vec::new(),
        };
        Ok(ClickRegions {
            fg: idx(&fg_mask),
            bg: idx(&bg_mask),
            bg_distractor,
            fg_mask,
            bg_mask,
        })
    }

    /// Whether a click's disk agrees with the ground truth.
    pub fn allows(&self, c: &Click, width: usize) -> bool {
        let i = c.y * width + c.x;
        let m = if c.foreground {
            &self.fg_mask
        } else {
            &self.bg_mask
        };
        m.get(i).copied().unwrap_or(false)
    }
}

/// Training-time clicks for a ground-truth alpha (see the module docs): a Geometric
/// count, the first click foreground, then fair coins; every disk agrees with the GT.
pub fn simulate_clicks(
    alpha: &GrayImage,
    distractors: Option<&GrayImage>,
    cfg: &ClickSimConfig,
    rng: &mut SeededRng,
) -> Result<Vec<Click>> {
    cfg.validate()?;
    let m = sample_click_count(cfg.p, rng)?;
    let regions = ClickRegions::new(alpha, distractors, cfg.radius)?;
    Ok(place_clicks(&regions, alpha.width() as usize, m, cfg, rng))
}

/// Place `m` clicks in `regions` (the part of [`simulate_clicks`] after the count).
pub fn place_clicks(
    regions: &ClickRegions,
    width: usize,
    m: usize,
    cfg: &ClickSimConfig,
    rng: &mut SeededRng,
) -> Vec<Click> {
    let at = |i: usize, fg: bool| Click {
        y: i / width,
        x: i % width,
        foreground: fg,
    };
    let mut clicks = Vec::with_capacity(m);
    if regions.fg.is_empty() && regions.bg.is_empty() {
        return clicks;
    }
    for k in 0..m {
        let want_fg = k == 0 || rng.bernoulli(0.5);
        let fg = if want_fg {
            !regions.fg.is_empty()
        } else {
            regions.bg.is_empty()
        };
        if fg {
            clicks.push(at(regions.fg[rng.below(regions.fg.len())], true));
        } else {
            let pool =
                if !regions.bg_distractor.is_empty() && rng.bernoulli(cfg.distractor_preference) {
                    &regions.bg_distractor
                } else {
                    &regions.bg
                };
            clicks.push(at(pool[rng.below(pool.len())], false));
        }
    }
    clicks
}

/// The deterministic clicks of the frozen test set (see the module docs): the
/// foreground click first (when the core has room), then one background click per
/// distractor label 1, 2, … in order (when it has room).
pub fn test_clicks(
    alpha: &GrayImage,
    distractors: Option<&GrayImage>,
    radius: usize,
) -> Result<Vec<Click>> {
    let regions = ClickRegions::new(alpha, distractors, radius)?;
    let (h, w) = (alpha.height() as usize, alpha.width() as usize);
    let a = alpha.as_raw();
    let at = |i: usize, fg: bool| Click {
        y: i / w,
        x: i % w,
        foreground: fg,
    };
    let mut clicks = Vec::new();
    let solid: Vec<bool> = a.iter().map(|&v| v >= SOLID_ALPHA).collect();
    let depth = depth_squared(&solid, h, w)?;
    if let Some(i) = argmax_where(&depth, &regions.fg_mask) {
        clicks.push(at(i, true));
    }
    if let Some(d) = distractors {
        let labels = d.as_raw();
        let max_label = labels.iter().copied().max().unwrap_or(0);
        for k in 1..=max_label {
            let part: Vec<bool> = (0..h * w).map(|i| labels[i] == k && a[i] == 0).collect();
            let depth = depth_squared(&part, h, w)?;
            let allowed: Vec<bool> = (0..h * w).map(|i| part[i] && regions.bg_mask[i]).collect();
            if let Some(i) = argmax_where(&depth, &allowed) {
                clicks.push(at(i, false));
            }
        }
    }
    Ok(clicks)
}

/// Settings of [`next_click`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NextClickConfig {
    /// Disk radius in pixels.
    pub radius: usize,
    /// A pixel is an error when `|pred − gt|/255` exceeds this (0.5: the prediction is
    /// on the wrong side of ½ for a solid GT pixel).
    pub error_threshold: f64,
}

impl Default for NextClickConfig {
    /// r = 15 (512²), error threshold 0.5.
    fn default() -> Self {
        NextClickConfig {
            radius: 15,
            error_threshold: 0.5,
        }
    }
}

impl NextClickConfig {
    /// The default with the radius for resolution `res`.
    pub fn for_resolution(res: usize) -> Self {
        NextClickConfig {
            radius: click_radius(res),
            ..Default::default()
        }
    }
}

/// The next click of the interactive protocol for prediction `pred` against the
/// ground truth `gt` (both 8-bit alphas of one size): the deepest GT-consistent pixel
/// of the largest error region (see the module docs), or `None` when no error region
/// has room for a click. Ties go to the foreground errors, then to the region met
/// first in row-major order, then to the first pixel in row-major order.
pub fn next_click(
    pred: &GrayImage,
    gt: &GrayImage,
    cfg: &NextClickConfig,
) -> Result<Option<Click>> {
    if pred.dimensions() != gt.dimensions() {
        return Err(Error::invalid(format!(
            "next_click: the prediction is {}x{} but the ground truth is {}x{} (width x height)",
            pred.width(),
            pred.height(),
            gt.width(),
            gt.height()
        )));
    }
    if !(cfg.error_threshold.is_finite() && (0.0..1.0).contains(&cfg.error_threshold)) {
        return Err(Error::invalid(format!(
            "next_click: error threshold must be in [0, 1), got {}",
            cfg.error_threshold
        )));
    }
    let regions = ClickRegions::new(gt, None, cfg.radius)?;
    let (h, w) = (gt.height() as usize, gt.width() as usize);
    let (p, g) = (pred.as_raw(), gt.as_raw());
    let tau = cfg.error_threshold * 255.0;
    let fg_err: Vec<bool> = (0..h * w)
        .map(|i| g[i] >= SOLID_ALPHA && f64::from(g[i]) - f64::from(p[i]) > tau)
        .collect();
    let bg_err: Vec<bool> = (0..h * w)
        .map(|i| g[i] == 0 && f64::from(p[i]) > tau)
        .collect();
    // Every error region of both kinds, largest first (stable: fg before bg, then
    // row-major order of discovery).
    let mut all: Vec<(usize, bool, u32)> = Vec::new();
    let fg_cc = Components::new(&fg_err, h, w)?;
    let bg_cc = Components::new(&bg_err, h, w)?;
    for (cc, fg) in [(&fg_cc, true), (&bg_cc, false)] {
        all.extend(
            cc.sizes
                .iter()
                .enumerate()
                .map(|(k, &s)| (s, fg, k as u32 + 1)),
        );
    }
    all.sort_by_key(|a| std::cmp::Reverse(a.0));
    for (_, fg, label) in all {
        let labels = if fg { &fg_cc.labels } else { &bg_cc.labels };
        let region: Vec<bool> = labels.iter().map(|&l| l == label).collect();
        let allowed: Vec<bool> = region
            .iter()
            .zip(if fg {
                &regions.fg_mask
            } else {
                &regions.bg_mask
            })
            .map(|(&r, &a)| r && a)
            .collect();
        if !allowed.iter().any(|&a| a) {
            continue;
        }
        let depth = depth_squared(&region, h, w)?;
        if let Some(i) = argmax_where(&depth, &allowed) {
            return Ok(Some(Click {
                y: i / w,
                x: i % w,
                foreground: fg,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_scales_with_resolution() {
        assert_eq!(click_radius(512), 15);
        assert_eq!(click_radius(128), 4);
        assert_eq!(click_radius(256), 8); // 7.5 rounds away from zero
        assert_eq!(click_radius(64), 3);
        assert_eq!(click_radius(1024), 30);
    }

    #[test]
    fn disks_are_hard_and_signed() {
        let m = encode_clicks(&[Click::fg(2, 2), Click::bg(6, 7)], 9, 10, 2).unwrap();
        // Disk of radius 2: 13 pixels (the 5×5 square minus its 4 corners and the 8
        // pixels at distance √5 > 2).
        assert_eq!(m.iter().filter(|&&v| v == 1.0).count(), 13);
        assert_eq!(m.iter().filter(|&&v| v == -1.0).count(), 13);
        assert_eq!(m[2 * 10 + 4], 1.0);
        assert_eq!(m[3 * 10 + 4], 0.0); // (1, 2) away: 5 > 4
        assert_eq!(m[6 * 10 + 9], -1.0);
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0 || v == -1.0));
        // Later clicks win; disks are clipped at the border.
        let m = encode_clicks(&[Click::fg(0, 0), Click::bg(0, 1)], 3, 3, 1).unwrap();
        assert_eq!(m, vec![-1.0, -1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0]);
        let e = encode_clicks(&[Click::fg(3, 0)], 3, 3, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
        assert!(encode_clicks(&[], 0, 3, 1).is_err());
    }

    #[test]
    fn next_click_targets_the_largest_error() {
        // GT: left half solid, right half clear. The prediction misses a 6×6 block of
        // the foreground and adds a 3×3 block in the background.
        let (h, w) = (20u32, 30u32);
        let gt = GrayImage::from_fn(w, h, |x, _| image::Luma([if x < 15 { 255 } else { 0 }]));
        let mut pred = gt.clone();
        for y in 4..10 {
            for x in 3..9 {
                pred.put_pixel(x, y, image::Luma([40]));
            }
        }
        for y in 10..13 {
            for x in 22..25 {
                pred.put_pixel(x, y, image::Luma([200]));
            }
        }
        let cfg = NextClickConfig {
            radius: 2,
            ..Default::default()
        };
        let c = next_click(&pred, &gt, &cfg).unwrap().unwrap();
        assert!(c.foreground);
        assert!((6..=7).contains(&c.y) && (5..=6).contains(&c.x), "{c:?}");
        // Fix the foreground error: the background block is next.
        for y in 4..10 {
            for x in 3..9 {
                pred.put_pixel(x, y, image::Luma([255]));
            }
        }
        let c = next_click(&pred, &gt, &cfg).unwrap().unwrap();
        assert_eq!(c, Click::bg(11, 23));
        assert_eq!(next_click(&gt, &gt, &cfg).unwrap(), None);
        let small = GrayImage::new(3, 3);
        assert!(next_click(&small, &gt, &cfg).is_err());
    }
}
