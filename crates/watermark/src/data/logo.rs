//! The watermark image δ, the blank δ0, and the bit string of the traditional scheme.
//!
//! The official code hard-codes `secret/flower.png` (a photo of unknown licence, not
//! reused) and `secret/clean.png` (all white) as δ and δ0. Here δ is drawn
//! procedurally at any size:
//!
//! * [`LogoKind::Logo`]: a ring around a keyed 5 × 5 module block above a line of text
//!   in a 5 × 7 block font — dark marks on white by default, mostly background (mean
//!   ≈ 0.86), like the repository's copyright/IEEE logos, so the card's uncentred-NC
//!   pitfall shows on it;
//! * [`LogoKind::Grid`]: a keyed QR-like 21 × 21 module grid with three finder squares
//!   inside a white margin (mean ≈ 0.66).
//!
//! Shapes are defined in normalised coordinates and rendered with 4 × 4 supersampling
//! (anti-aliased edges). [`Polarity::LightOnDark`] inverts δ; δ0 is all white
//! ([`BlankKind::White`](crate::config::BlankKind::White), `clean.png`) or all black. A user's own logo is read with
//! [`load_watermark`], which requires the image's size.

use std::path::Path;

use candor_core::{bail_invalid, Error, Result, SeededRng};

use crate::config::{LogoKind, Polarity, WatermarkConfig};
use crate::data::folder;
use crate::image::Image;

/// Supersampling factor per axis.
const SUPERSAMPLE: usize = 4;

/// The watermark δ of `cfg` as a `channels × height × width` image in `[0, 1]`.
///
/// Errors on a zero size, channels other than 1 or 3, or text with characters outside
/// the font.
pub fn watermark(
    cfg: &WatermarkConfig,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Image> {
    check_dims(channels, height, width)?;
    check_text(&cfg.text)?;
    let coverage = match cfg.kind {
        LogoKind::Logo => {
            let modules = keyed_modules(cfg.key, 5);
            let text: Vec<[u8; 7]> = cfg
                .text
                .chars()
                .map(|c| glyph(c).expect("checked"))
                .collect();
            render(height, width, |u, v| logo_ink(u, v, &modules, &text))
        }
        LogoKind::Grid => {
            let modules = keyed_modules(cfg.key, GRID_MODULES);
            render(height, width, |u, v| grid_ink(u, v, &modules))
        }
    };
    let plane: Vec<f32> = coverage
        .iter()
        .map(|&ink| {
            let ink = ink as f32;
            match cfg.polarity {
                Polarity::DarkOnLight => 1.0 - ink,
                Polarity::LightOnDark => ink,
            }
        })
        .collect();
    Image::from_parts(1, height, width, plane).with_channels(channels)
}

/// The blank watermark δ0 of `cfg` (constant: white as `clean.png`, or black).
pub fn blank(cfg: &WatermarkConfig, channels: usize, height: usize, width: usize) -> Result<Image> {
    check_dims(channels, height, width)?;
    Image::filled(channels, height, width, cfg.blank.value())
}

/// Read a watermark image from `path` and check that it is `channels × height × width`
/// (the size of the images it will be hidden in). Colour files are converted to grey
/// for a greyscale task only when `to_grey` (as the official code's PIL `L`
/// conversion). Errors name the file and both sizes.
pub fn load_watermark(
    path: impl AsRef<Path>,
    channels: usize,
    height: usize,
    width: usize,
    to_grey: bool,
) -> Result<Image> {
    let path = path.as_ref();
    let img = folder::load_image_file(path, channels, to_grey)?;
    if (img.height(), img.width()) != (height, width) {
        return Err(Error::format(
            path,
            format!(
                "watermark is {}x{} but the images it is hidden in are {height}x{width} (HxW); \
                 resize the watermark to the image size",
                img.height(),
                img.width()
            ),
        ));
    }
    Ok(img)
}

/// `n` keyed pseudo-random bits (the traditional scheme's message), from `seed`.
pub fn random_bits(n: usize, seed: u64) -> Vec<bool> {
    let mut rng = SeededRng::derive(seed, "watermark/message");
    (0..n).map(|_| rng.bernoulli(0.5)).collect()
}

/// `Err` unless every character of `text` is in the block font (A–Z, 0–9, space, `-`,
/// `.`; lower case is drawn as upper case) and the text is at most 32 characters.
pub fn check_text(text: &str) -> Result<()> {
    if text.chars().count() > 32 {
        bail_invalid!("watermark text is longer than 32 characters: '{text}'");
    }
    if let Some(c) = text.chars().find(|&c| glyph(c).is_none()) {
        bail_invalid!(
            "watermark text '{text}' has the character '{c}', which the block font lacks \
             (use A-Z, 0-9, space, '-' or '.')"
        );
    }
    Ok(())
}

fn check_dims(channels: usize, height: usize, width: usize) -> Result<()> {
    if channels != 1 && channels != 3 {
        bail_invalid!("watermark: channels must be 1 or 3, got {channels}");
    }
    if height == 0 || width == 0 {
        bail_invalid!("watermark: size must be positive, got {height}x{width}");
    }
    Ok(())
}

/// Ink coverage in `[0, 1]` per pixel: the fraction of the pixel's
/// `SUPERSAMPLE²` sample points where `ink(u, v)` holds, `u` = x / width, `v` = y / height.
fn render(height: usize, width: usize, ink: impl Fn(f64, f64) -> bool) -> Vec<f64> {
    let s = SUPERSAMPLE;
    let mut out = vec![0.0; height * width];
    for y in 0..height {
        for x in 0..width {
            let mut hits = 0;
            for sy in 0..s {
                for sx in 0..s {
                    let v = (y as f64 + (sy as f64 + 0.5) / s as f64) / height as f64;
                    let u = (x as f64 + (sx as f64 + 0.5) / s as f64) / width as f64;
                    if ink(u, v) {
                        hits += 1;
                    }
                }
            }
            out[y * width + x] = hits as f64 / (s * s) as f64;
        }
    }
    out
}

/// `n × n` keyed on/off modules, row-major.
fn keyed_modules(key: u64, n: usize) -> Vec<bool> {
    let mut rng = SeededRng::derive(key, "watermark/modules");
    (0..n * n).map(|_| rng.bernoulli(0.5)).collect()
}

/// The default logo: ring (centre (0.5, 0.36), radii 0.20–0.26), a 5 × 5 module
/// block inside it, and a text line centred at v = 0.8.
fn logo_ink(u: f64, v: f64, modules: &[bool], text: &[[u8; 7]]) -> bool {
    let (cu, cv) = (0.5, 0.36);
    let r = ((u - cu).powi(2) + (v - cv).powi(2)).sqrt();
    if (0.20..=0.26).contains(&r) {
        return true;
    }
    // Module block: 5 × 5 modules over [cu ± 0.11] × [cv ± 0.11].
    let half = 0.11;
    if (u - cu).abs() < half && (v - cv).abs() < half {
        let mu = (((u - cu + half) / (2.0 * half)) * 5.0) as usize;
        let mv = (((v - cv + half) / (2.0 * half)) * 5.0) as usize;
        return modules[mv.min(4) * 5 + mu.min(4)];
    }
    text_ink(u, v, text, 0.8)
}

/// Block-font text centred at (0.5, `centre_v`): glyph cells of 5 × 7 dots with one
/// blank column between glyphs, dots at most 0.017 of the image and at most 90 % of its
/// width in total.
fn text_ink(u: f64, v: f64, text: &[[u8; 7]], centre_v: f64) -> bool {
    if text.is_empty() {
        return false;
    }
    let columns = (6 * text.len() - 1) as f64;
    let dot = (0.9 / columns).min(0.017);
    let (left, top) = (0.5 - columns * dot / 2.0, centre_v - 3.5 * dot);
    let (cx, cy) = ((u - left) / dot, (v - top) / dot);
    if cx < 0.0 || cy < 0.0 || cx >= columns || cy >= 7.0 {
        return false;
    }
    let (col, row) = (cx as usize, cy as usize);
    let (g, in_glyph) = (col / 6, col % 6);
    in_glyph < 5 && text[g][row] & (0b10000 >> in_glyph) != 0
}

/// Modules per side of [`LogoKind::Grid`] (QR version 1's 21).
const GRID_MODULES: usize = 21;

/// A QR-like grid over [0.1, 0.9]²: three 7 × 7 finder squares (outer ring, blank ring,
/// 3 × 3 core) in three corners, keyed modules elsewhere.
fn grid_ink(u: f64, v: f64, modules: &[bool]) -> bool {
    let n = GRID_MODULES;
    let (lo, hi) = (0.1, 0.9);
    if !(lo..hi).contains(&u) || !(lo..hi).contains(&v) {
        return false;
    }
    let mu = (((u - lo) / (hi - lo)) * n as f64) as usize;
    let mv = (((v - lo) / (hi - lo)) * n as f64) as usize;
    let (mu, mv) = (mu.min(n - 1), mv.min(n - 1));
    for (r0, c0) in [(0, 0), (0, n - 7), (n - 7, 0)] {
        // Finder square plus a one-module blank separator.
        let (r_lo, c_lo) = (r0.saturating_sub(1), c0.saturating_sub(1));
        if (r_lo..r0 + 8).contains(&mv) && (c_lo..c0 + 8).contains(&mu) {
            if !(r0..r0 + 7).contains(&mv) || !(c0..c0 + 7).contains(&mu) {
                return false;
            }
            let (r, c) = (mv - r0, mu - c0);
            let ring = r == 0 || r == 6 || c == 0 || c == 6;
            let core = (2..=4).contains(&r) && (2..=4).contains(&c);
            return ring || core;
        }
    }
    modules[mv * n + mu]
}

/// 5 × 7 block glyph of `c` (rows top to bottom, bit 4 = leftmost dot).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        _ => return None,
    })
}
