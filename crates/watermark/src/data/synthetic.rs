//! The card's synthetic proxy tasks, "SynthDebone", "SynthDerain" and denoise.
//!
//! **Clean images B** (the model outputs that get watermarked):
//! * debone: an X-ray-like chest, grey — a soft body silhouette, two darker lung
//!   fields, fractal (fBm) soft-tissue texture and large blurred blobs; the RGB variant
//!   repeats the grey plane;
//! * derain and denoise: a procedural scene in colour — a vertical gradient, fBm
//!   texture mixed into the three channels and soft-edged ellipses and rotated
//!   rectangles; the greyscale variant is its luma (ITU-R 601).
//!
//! **Inputs A** (what the task removes), added to B and clamped to `[0, 1]`:
//! * debone: 8–11 ribs per side (parabolic arcs from the spine outwards with random
//!   rise, curvature, spacing and thickness, Gaussian cross-section, tapered ends) and
//!   two clavicle-like bars;
//! * derain: 1–3 layers of streaks; a scene angle θ0 ~ U(−30°, 30°) from vertical,
//!   per layer θ ~ N(θ0, 5°), length U(10, 40) px, intensity U(0.1, 0.4), 100–400
//!   streaks; these are the values at 256 × 256: on other sizes lengths scale with
//!   the side (at least 2 px), widths too (but by no less than ½), and the count so
//!   that streaks cover the same fraction of the image. Motion blur is modelled by the
//!   streak profile: a Gaussian cross-section (σ 0.5–1 px) and linear ramps over the
//!   first and last quarter of the length;
//! * denoise: i.i.d. N(0, σ²) per pixel and channel, σ ~ U(15, 50)/255 per image.
//!
//! Image `i` depends only on `(seed, task, channels, size, i)`: B is drawn from the
//! stream `derive(seed, "<task>/clean/<i>")` and A from `derive(seed, "<task>/input/<i>")`,
//! so any subset can be generated, in any order or in parallel, byte-identically.
//! The images are procedural: they lack natural-image statistics (see the card's
//! honesty statement), so results on them are a mechanism replication only.

use std::f64::consts::PI;

use candor_core::{bail_invalid, Result, SeededRng};
use rayon::prelude::*;

use crate::config::{TaskConfig, TaskKind};
use crate::data::Pair;
use crate::image::Image;

/// Side of the reference image the card's pixel sizes are given at.
const REFERENCE_SIDE: f64 = 256.0;

/// The (A, B) pair of source image `index` of the task in `cfg`.
pub fn pair(cfg: &TaskConfig, index: usize) -> Result<Pair> {
    check(cfg)?;
    let b = clean_image(cfg, index);
    let mut rng = SeededRng::derive(cfg.seed, &format!("{}/input/{index}", cfg.kind.key()));
    let a = degrade(cfg.kind, &b, &mut rng);
    Ok(Pair {
        source: format!("{}-{index:05}", cfg.kind.key()),
        a,
        b,
    })
}

/// Pairs `range` of the task (in parallel; the result does not depend on the thread count).
pub fn generate_range(cfg: &TaskConfig, range: std::ops::Range<usize>) -> Result<Vec<Pair>> {
    check(cfg)?;
    range.into_par_iter().map(|i| pair(cfg, i)).collect()
}

/// All `cfg.images` pairs of the task.
pub fn generate(cfg: &TaskConfig) -> Result<Vec<Pair>> {
    generate_range(cfg, 0..cfg.images)
}

fn check(cfg: &TaskConfig) -> Result<()> {
    if cfg.channels != 1 && cfg.channels != 3 {
        bail_invalid!(
            "synthetic task: channels must be 1 or 3, got {}",
            cfg.channels
        );
    }
    if cfg.height < 8 || cfg.width < 8 {
        bail_invalid!(
            "synthetic task: images must be at least 8x8, got {}x{}",
            cfg.height,
            cfg.width
        );
    }
    Ok(())
}

/// The clean image B of source `index` (the model output).
pub fn clean_image(cfg: &TaskConfig, index: usize) -> Image {
    let mut rng = SeededRng::derive(cfg.seed, &format!("{}/clean/{index}", cfg.kind.key()));
    let (h, w) = (cfg.height, cfg.width);
    match cfg.kind {
        TaskKind::Debone => {
            let grey = chest(h, w, &mut rng);
            Image::from_parts(1, h, w, grey)
                .with_channels(cfg.channels)
                .expect("1 → 1 or 3 channels")
        }
        TaskKind::Derain | TaskKind::Denoise => {
            let rgb = scene(h, w, &mut rng);
            Image::from_parts(3, h, w, rgb)
                .with_channels(cfg.channels)
                .expect("3 → 1 or 3 channels")
        }
    }
}

/// The task input A for clean image `b`, drawing from `rng`.
pub fn degrade(kind: TaskKind, b: &Image, rng: &mut SeededRng) -> Image {
    let (c, h, w) = b.shape();
    let mut data = b.data().to_vec();
    let n = h * w;
    match kind {
        TaskKind::Debone => {
            let bones = bones(h, w, rng);
            for plane in data.chunks_exact_mut(n) {
                for (v, &d) in plane.iter_mut().zip(&bones) {
                    *v += d as f32;
                }
            }
        }
        TaskKind::Derain => {
            let theta0 = rng.uniform_range(-30.0, 30.0).to_radians();
            let layers = 1 + rng.below(3);
            for _ in 0..layers {
                let (map, intensity) = rain_layer(h, w, theta0, rng);
                for plane in data.chunks_exact_mut(n) {
                    for (v, &s) in plane.iter_mut().zip(&map) {
                        *v = (*v + (intensity * s) as f32).min(1.0);
                    }
                }
            }
        }
        TaskKind::Denoise => {
            let sigma = rng.uniform_range(15.0, 50.0) / 255.0;
            for v in data.iter_mut() {
                *v += (sigma * rng.normal()) as f32;
            }
        }
    }
    for v in data.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
    Image::from_parts(c, h, w, data)
}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Value noise in `[-1, 1]`: a random lattice with spacing `cell` px, interpolated with
/// smoothstep weights.
fn value_noise(h: usize, w: usize, cell: f64, rng: &mut SeededRng) -> Vec<f64> {
    let gh = (h as f64 / cell).ceil() as usize + 2;
    let gw = (w as f64 / cell).ceil() as usize + 2;
    let lattice: Vec<f64> = (0..gh * gw).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        let fy = y as f64 / cell;
        let (iy, ty) = (fy.floor() as usize, smoothstep(fy.fract()));
        for x in 0..w {
            let fx = x as f64 / cell;
            let (ix, tx) = (fx.floor() as usize, smoothstep(fx.fract()));
            let at = |r: usize, c: usize| lattice[r * gw + c];
            let top = at(iy, ix) * (1.0 - tx) + at(iy, ix + 1) * tx;
            let bottom = at(iy + 1, ix) * (1.0 - tx) + at(iy + 1, ix + 1) * tx;
            out[y * w + x] = top * (1.0 - ty) + bottom * ty;
        }
    }
    out
}

/// Fractional Brownian motion in about `[-1, 1]`: octaves of [`value_noise`] from a
/// lattice of `base_cell` px down to 2 px, amplitude halved per octave.
fn fbm(h: usize, w: usize, base_cell: f64, rng: &mut SeededRng) -> Vec<f64> {
    let mut out = vec![0.0; h * w];
    let (mut cell, mut amp, mut total) = (base_cell.max(2.0), 1.0, 0.0);
    loop {
        let layer = value_noise(h, w, cell, rng);
        for (o, v) in out.iter_mut().zip(&layer) {
            *o += amp * v;
        }
        total += amp;
        if cell <= 2.0 {
            break;
        }
        cell = (cell / 2.0).max(2.0);
        amp *= 0.5;
    }
    for o in out.iter_mut() {
        *o /= total;
    }
    out
}

/// Soft mask of an axis-aligned ellipse (centre and semi-axes in pixels), 1 inside,
/// falling to 0 over `soft` pixels outside its edge.
fn soft_ellipse(h: usize, w: usize, cy: f64, cx: f64, ry: f64, rx: f64, soft: f64) -> Vec<f64> {
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            let dy = (y as f64 - cy) / ry;
            let dx = (x as f64 - cx) / rx;
            // Distance outside the edge, approximately in pixels.
            let r = (dy * dy + dx * dx).sqrt();
            let outside = (r - 1.0) * rx.min(ry);
            out[y * w + x] = 1.0 - smoothstep(outside / soft.max(1e-9));
        }
    }
    out
}

/// Adds `intensity · exp(−d² / 2σ²)` along the polyline `points` (pixel coordinates
/// `(y, x)`), with linear ramps over the first and last `taper` fraction of its length.
fn draw_curve(
    plane: &mut [f64],
    h: usize,
    w: usize,
    points: &[(f64, f64)],
    sigma: f64,
    intensity: f64,
    taper: f64,
) {
    if points.len() < 2 {
        return;
    }
    let mut cum = vec![0.0];
    for s in points.windows(2) {
        let l = ((s[1].0 - s[0].0).powi(2) + (s[1].1 - s[0].1).powi(2)).sqrt();
        cum.push(cum.last().copied().unwrap_or(0.0) + l);
    }
    let total = cum.last().copied().unwrap_or(0.0).max(1e-9);
    let reach = 3.5 * sigma + 1.0;
    let (mut y0, mut y1, mut x0, mut x1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(y, x) in points {
        y0 = y0.min(y);
        y1 = y1.max(y);
        x0 = x0.min(x);
        x1 = x1.max(x);
    }
    let ylo = (y0 - reach).floor().max(0.0) as usize;
    let yhi = ((y1 + reach).ceil().max(0.0) as usize).min(h);
    let xlo = (x0 - reach).floor().max(0.0) as usize;
    let xhi = ((x1 + reach).ceil().max(0.0) as usize).min(w);
    let inv = 1.0 / (2.0 * sigma * sigma);
    for py in ylo..yhi {
        for px in xlo..xhi {
            let (fy, fx) = (py as f64, px as f64);
            // Nearest point of the polyline: squared distance and arc position.
            let mut best = (f64::MAX, 0.0);
            for (k, s) in points.windows(2).enumerate() {
                let (ay, ax) = s[0];
                let (dy, dx) = (s[1].0 - ay, s[1].1 - ax);
                let len2 = dy * dy + dx * dx;
                let t = if len2 > 0.0 {
                    (((fy - ay) * dy + (fx - ax) * dx) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qy, qx) = (ay + t * dy, ax + t * dx);
                let d2 = (fy - qy).powi(2) + (fx - qx).powi(2);
                if d2 < best.0 {
                    best = (d2, cum[k] + t * (cum[k + 1] - cum[k]));
                }
            }
            if best.0 > reach * reach {
                continue;
            }
            let u = best.1 / total;
            let ramp = if taper > 0.0 {
                (u.min(1.0 - u) / taper).min(1.0)
            } else {
                1.0
            };
            plane[py * w + px] += intensity * ramp * (-best.0 * inv).exp();
        }
    }
}

// ---------------------------------------------------------------------------
// Clean images
// ---------------------------------------------------------------------------

/// An X-ray-like chest in `[0, 1]` (grey, `h × w`).
fn chest(h: usize, w: usize, rng: &mut SeededRng) -> Vec<f32> {
    let (hf, wf) = (h as f64, w as f64);
    let side = hf.min(wf);
    let background = rng.uniform_range(0.02, 0.12);
    let tissue = rng.uniform_range(0.45, 0.6);
    let body = soft_ellipse(
        h,
        w,
        hf * rng.uniform_range(0.52, 0.58),
        wf * rng.uniform_range(0.47, 0.53),
        hf * rng.uniform_range(0.45, 0.55),
        wf * rng.uniform_range(0.38, 0.46),
        0.04 * side,
    );
    let mut img: Vec<f64> = body
        .iter()
        .map(|m| background + (tissue - background) * m)
        .collect();
    // Two lung fields, darker than the surrounding tissue.
    let lung_y = hf * rng.uniform_range(0.45, 0.5);
    let lung_dx = wf * rng.uniform_range(0.17, 0.22);
    for s in [-1.0, 1.0] {
        let lung = soft_ellipse(
            h,
            w,
            lung_y + hf * rng.uniform_range(-0.02, 0.02),
            wf / 2.0 + s * lung_dx,
            hf * rng.uniform_range(0.22, 0.28),
            wf * rng.uniform_range(0.12, 0.16),
            0.05 * side,
        );
        let depth = rng.uniform_range(0.15, 0.25);
        for (v, m) in img.iter_mut().zip(&lung) {
            *v -= depth * m;
        }
    }
    // Soft-tissue texture inside the body.
    let texture = fbm(h, w, side / 4.0, rng);
    for ((v, t), m) in img.iter_mut().zip(&texture).zip(&body) {
        *v += 0.07 * t * m;
    }
    // Large blurred blobs (heart, vessels, soft-tissue overlap).
    let blobs = 3 + rng.below(6);
    for _ in 0..blobs {
        let cy = hf * rng.uniform_range(0.2, 0.85);
        let cx = wf * rng.uniform_range(0.2, 0.8);
        let sigma = side * rng.uniform_range(0.03, 0.12);
        let amp = rng.uniform_range(-0.1, 0.12);
        add_gaussian_blob(&mut img, h, w, cy, cx, sigma, amp);
    }
    img.iter().map(|&v| v.clamp(0.0, 1.0) as f32).collect()
}

fn add_gaussian_blob(img: &mut [f64], h: usize, w: usize, cy: f64, cx: f64, sigma: f64, amp: f64) {
    let inv = 1.0 / (2.0 * sigma * sigma);
    for y in 0..h {
        let dy2 = (y as f64 - cy).powi(2);
        for x in 0..w {
            let d2 = dy2 + (x as f64 - cx).powi(2);
            img[y * w + x] += amp * (-d2 * inv).exp();
        }
    }
}

/// A procedural colour scene in `[0.02, 0.98]` (planar RGB, `3 × h × w`).
fn scene(h: usize, w: usize, rng: &mut SeededRng) -> Vec<f32> {
    let n = h * w;
    let side = (h.min(w)) as f64;
    let top: Vec<f64> = (0..3).map(|_| rng.uniform_range(0.15, 0.85)).collect();
    let bottom: Vec<f64> = (0..3).map(|_| rng.uniform_range(0.15, 0.85)).collect();
    let mut img = vec![0.0f64; 3 * n];
    for c in 0..3 {
        for y in 0..h {
            let t = y as f64 / (h.max(2) - 1) as f64;
            let v = top[c] * (1.0 - t) + bottom[c] * t;
            img[c * n + y * w..c * n + (y + 1) * w].fill(v);
        }
    }
    // Three fBm fields mixed into the channels (correlated colour texture).
    for _ in 0..3 {
        let field = fbm(h, w, side / rng.uniform_range(2.0, 8.0), rng);
        let mix: Vec<f64> = (0..3).map(|_| rng.uniform_range(-0.15, 0.15)).collect();
        for c in 0..3 {
            for (v, f) in img[c * n..(c + 1) * n].iter_mut().zip(&field) {
                *v += mix[c] * f;
            }
        }
    }
    // Soft-edged shapes with their own colour and a little shading.
    let shapes = 4 + rng.below(7);
    for _ in 0..shapes {
        let cy = rng.uniform_range(0.0, h as f64);
        let cx = rng.uniform_range(0.0, w as f64);
        let a = side * rng.uniform_range(0.05, 0.3);
        let b = side * rng.uniform_range(0.05, 0.3);
        let theta = rng.uniform_range(0.0, PI);
        let rect = rng.bernoulli(0.5);
        let opacity = rng.uniform_range(0.5, 1.0);
        let colour: Vec<f64> = (0..3).map(|_| rng.uniform_range(0.05, 0.95)).collect();
        let shade = rng.uniform_range(-0.15, 0.15);
        let (s, co) = theta.sin_cos();
        for y in 0..h {
            for x in 0..w {
                let (dy, dx) = (y as f64 - cy, x as f64 - cx);
                let u = dx * co + dy * s;
                let v = -dx * s + dy * co;
                // Signed distance (pixels, approximately) outside the shape.
                let outside = if rect {
                    (u.abs() - a).max(v.abs() - b)
                } else {
                    let r = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                    (r - 1.0) * a.min(b)
                };
                let cover = opacity * (0.5 - outside).clamp(0.0, 1.0);
                if cover <= 0.0 {
                    continue;
                }
                let grad = 1.0 + shade * (v / b).clamp(-1.0, 1.0);
                for c in 0..3 {
                    let p = &mut img[c * n + y * w + x];
                    *p = *p * (1.0 - cover) + (colour[c] * grad) * cover;
                }
            }
        }
    }
    img.iter().map(|&v| v.clamp(0.02, 0.98) as f32).collect()
}

// ---------------------------------------------------------------------------
// Degradations
// ---------------------------------------------------------------------------

/// Ribs and clavicles (grey additive map, `h × w`).
fn bones(h: usize, w: usize, rng: &mut SeededRng) -> Vec<f64> {
    let (hf, wf) = (h as f64, w as f64);
    let side = hf.min(wf);
    let mut map = vec![0.0; h * w];
    let samples = 24;
    for s in [-1.0f64, 1.0] {
        let ribs = 8 + rng.below(4);
        let y_top = rng.uniform_range(0.18, 0.24);
        let spacing = rng.uniform_range(0.05, 0.065);
        for j in 0..ribs {
            let y0 = y_top + j as f64 * spacing + 0.004 * rng.normal();
            let xs = 0.5 + s * rng.uniform_range(0.03, 0.05);
            let reach = rng.uniform_range(0.28, 0.38) * (1.0 - 0.15 * j as f64 / ribs as f64);
            let rise = rng.uniform_range(0.02, 0.06);
            let curvature = rng.uniform_range(0.06, 0.14);
            let points: Vec<(f64, f64)> = (0..=samples)
                .map(|k| {
                    let u = k as f64 / samples as f64;
                    let y = y0 - rise * u + curvature * u * u;
                    let x = xs + s * reach * u;
                    (y * hf, x * wf)
                })
                .collect();
            let sigma = (side * rng.uniform_range(0.010, 0.016)).max(0.6);
            let intensity = rng.uniform_range(0.10, 0.22);
            draw_curve(&mut map, h, w, &points, sigma, intensity, 0.08);
        }
        // Clavicle: from near the spine up and out, slightly bowed.
        let (ya, xa) = (rng.uniform_range(0.16, 0.2), 0.5 + s * 0.06);
        let (yb, xb) = (
            rng.uniform_range(0.1, 0.15),
            0.5 + s * rng.uniform_range(0.3, 0.36),
        );
        let bow = rng.uniform_range(-0.02, 0.02);
        let points: Vec<(f64, f64)> = (0..=samples)
            .map(|k| {
                let u = k as f64 / samples as f64;
                let y = ya + (yb - ya) * u + bow * 4.0 * u * (1.0 - u);
                (y * hf, (xa + (xb - xa) * u) * wf)
            })
            .collect();
        let sigma = (side * rng.uniform_range(0.014, 0.02)).max(0.6);
        let intensity = rng.uniform_range(0.15, 0.25);
        draw_curve(&mut map, h, w, &points, sigma, intensity, 0.1);
    }
    map
}

/// One rain layer: a streak map in `[0, 1]` and its intensity.
fn rain_layer(h: usize, w: usize, theta0: f64, rng: &mut SeededRng) -> (Vec<f64>, f64) {
    let scale = (h.min(w)) as f64 / REFERENCE_SIDE;
    let area = (h * w) as f64 / (REFERENCE_SIDE * REFERENCE_SIDE);
    let theta = theta0 + 5f64.to_radians() * rng.normal();
    let length_ref = rng.uniform_range(10.0, 40.0);
    let length = (length_ref * scale).max(2.0);
    let intensity = rng.uniform_range(0.1, 0.4);
    let sigma_ref = rng.uniform_range(0.5, 1.0);
    let sigma = sigma_ref * scale.clamp(0.5, 1.0);
    // As many streaks as cover the same fraction of the image as at 256 × 256.
    let shrink = (length / length_ref) * (sigma / sigma_ref);
    let count = ((rng.uniform_range(100.0, 400.0) * area / shrink).round() as usize).max(1);
    // Direction of fall: angle from vertical.
    let (dy, dx) = (theta.cos(), theta.sin());
    let mut map = vec![0.0; h * w];
    for _ in 0..count {
        let cy = rng.uniform_range(0.0, h as f64);
        let cx = rng.uniform_range(0.0, w as f64);
        let l = length * rng.uniform_range(0.8, 1.2) / 2.0;
        let points = [(cy - l * dy, cx - l * dx), (cy + l * dy, cx + l * dx)];
        draw_curve(&mut map, h, w, &points, sigma, 1.0, 0.25);
    }
    for v in map.iter_mut() {
        *v = v.min(1.0);
    }
    (map, intensity)
}
