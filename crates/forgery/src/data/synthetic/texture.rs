//! Procedural "real" images: rendered directly at their final resolution (no
//! up-sampling anywhere, so they carry none of the artefact the detectors look for).
//!
//! A texture is a base colour plus a sum of oriented sinusoids with a `f^(−½)`
//! amplitude spectrum (each with its own colour), anti-aliased ellipses and
//! rotated rectangles (1-px linear edge ramp), and i.i.d. Gaussian sensor noise;
//! the result is stretched to `[0.04, 0.96]` and quantised to 8 bits.

use std::f64::consts::PI;

use candor_core::SeededRng;
use image::RgbImage;

/// Render one `size × size` texture from `rng`.
pub(crate) fn render(size: usize, rng: &mut SeededRng) -> RgbImage {
    let n = size * size;
    let mut planes = vec![0f64; 3 * n];
    let base: Vec<f64> = (0..3).map(|_| rng.uniform_range(0.2, 0.8)).collect();
    for c in 0..3 {
        planes[c * n..(c + 1) * n].fill(base[c]);
    }

    // Oriented sinusoids, frequencies log-uniform between 1.5 cycles per image and
    // 0.45 cycles/px, amplitude ∝ f^(−0.5) (more fine detail than a natural 1/f).
    let (f_lo, f_hi): (f64, f64) = (1.5 / size as f64, 0.45);
    let waves = 14 + rng.below(10);
    for _ in 0..waves {
        let f = (f_lo.ln() + rng.uniform() * (f_hi.ln() - f_lo.ln())).exp();
        let theta = rng.uniform_range(0.0, PI);
        let phi = rng.uniform_range(0.0, 2.0 * PI);
        let amp = 0.12 * (f / f_lo).powf(-0.5);
        let col: Vec<f64> = (0..3).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        let (s, co) = theta.sin_cos();
        let (ky, kx) = (2.0 * PI * f * s, 2.0 * PI * f * co);
        for y in 0..size {
            for x in 0..size {
                let v = amp * (kx * x as f64 + ky * y as f64 + phi).sin();
                for c in 0..3 {
                    planes[c * n + y * size + x] += col[c] * v;
                }
            }
        }
    }

    // Shapes with a 1-px anti-aliased edge (coverage = clamp(½ − signed distance)).
    let shapes = 6 + rng.below(12);
    for _ in 0..shapes {
        let cy = rng.uniform_range(0.0, size as f64);
        let cx = rng.uniform_range(0.0, size as f64);
        let a = rng.uniform_range(0.01, 0.15) * size as f64 + 1.0;
        let b = rng.uniform_range(0.01, 0.15) * size as f64 + 1.0;
        let theta = rng.uniform_range(0.0, PI);
        let rect = rng.bernoulli(0.5);
        let opacity = rng.uniform_range(0.3, 1.0);
        let col: Vec<f64> = (0..3).map(|_| rng.uniform_range(0.05, 0.95)).collect();
        let (s, co) = theta.sin_cos();
        let r = a.max(b) + 2.0;
        let y0 = (cy - r).floor().max(0.0) as usize;
        let y1 = ((cy + r).ceil().max(0.0) as usize).min(size);
        let x0 = (cx - r).floor().max(0.0) as usize;
        let x1 = ((cx + r).ceil().max(0.0) as usize).min(size);
        for y in y0..y1 {
            for x in x0..x1 {
                let (dy, dx) = (y as f64 + 0.5 - cy, x as f64 + 0.5 - cx);
                let u = dx * co + dy * s;
                let v = -dx * s + dy * co;
                let dist = if rect {
                    (u.abs() - a).max(v.abs() - b)
                } else {
                    // Approximate signed distance of an ellipse, in pixels.
                    (((u / a).powi(2) + (v / b).powi(2)).sqrt() - 1.0) * a.min(b)
                };
                let cover = (0.5 - dist).clamp(0.0, 1.0) * opacity;
                if cover > 0.0 {
                    for c in 0..3 {
                        let p = &mut planes[c * n + y * size + x];
                        *p = (1.0 - cover) * *p + cover * col[c];
                    }
                }
            }
        }
    }

    let noise = rng.uniform_range(0.01, 0.03);
    for p in planes.iter_mut() {
        *p += noise * rng.normal();
    }
    let (lo, hi) = planes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let scale = if hi > lo { 0.92 / (hi - lo) } else { 0.0 };
    let mut buf = Vec::with_capacity(3 * n);
    for i in 0..n {
        for c in 0..3 {
            let v = 0.04 + (planes[c * n + i] - lo) * scale;
            buf.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    RgbImage::from_raw(size as u32, size as u32, buf).expect("buffer size matches")
}
