//! Colours of the SynthClickMatte proxy: foreground colour fields (fBm, stripes,
//! gradients) and backgrounds (fBm, Worley cells, blurred shapes, or a crop of a shipped
//! public-domain / CC0 photo with a flip and colour jitter). Planes are `3×H×W` f32 in
//! [0, 1], row-major.

use std::f64::consts::PI;

use candor_core::SeededRng;
use image::imageops::FilterType;
use image::RgbImage;
use rand::RngCore;

use super::noise;

type Rgb = [f64; 3];

fn colour(rng: &mut SeededRng) -> Rgb {
    [rng.uniform(), rng.uniform(), rng.uniform()]
}

fn mix(a: Rgb, b: Rgb, t: f64) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A foreground colour field.
#[derive(Debug, Clone)]
pub(crate) struct Paint {
    pattern: Pattern,
    c0: Rgb,
    c1: Rgb,
    /// Colours are replaced by ones close to the background's mean (hard cases).
    pub hard: bool,
    /// Offsets from the background mean used when `hard`.
    jitter: [Rgb; 2],
}

#[derive(Debug, Clone)]
enum Pattern {
    Fbm { seed: u64, freq: f64 },
    Stripes { period: f64, theta: f64, phase: f64 },
    Gradient { theta: f64 },
}

impl Paint {
    pub fn sample(rng: &mut SeededRng, hard: bool) -> Self {
        let pattern = match rng.below(3) {
            0 => Pattern::Fbm {
                seed: rng.next_u64(),
                freq: rng.uniform_range(2.0, 10.0),
            },
            1 => Pattern::Stripes {
                period: rng.uniform_range(0.02, 0.12),
                theta: rng.uniform_range(0.0, PI),
                phase: rng.uniform_range(0.0, 2.0 * PI),
            },
            _ => Pattern::Gradient {
                theta: rng.uniform_range(0.0, 2.0 * PI),
            },
        };
        let (c0, c1) = (colour(rng), colour(rng));
        let mut jit = || {
            [
                rng.uniform_range(-0.08, 0.08),
                rng.uniform_range(-0.08, 0.08),
                rng.uniform_range(-0.08, 0.08),
            ]
        };
        let jitter = [jit(), jit()];
        Paint {
            pattern,
            c0,
            c1,
            hard,
            jitter,
        }
    }

    /// Render at `size × size` where `alpha > 0` (0 elsewhere); `bg_mean` is the
    /// background's mean colour (used by hard cases).
    pub fn render(&self, size: usize, bg_mean: Rgb, alpha: &[f32]) -> Vec<f32> {
        let (c0, c1) = if self.hard {
            let near = |j: Rgb| {
                [
                    (bg_mean[0] + j[0]).clamp(0.0, 1.0),
                    (bg_mean[1] + j[1]).clamp(0.0, 1.0),
                    (bg_mean[2] + j[2]).clamp(0.0, 1.0),
                ]
            };
            (near(self.jitter[0]), near(self.jitter[1]))
        } else {
            (self.c0, self.c1)
        };
        let n = size * size;
        let s = size as f64;
        let mut out = vec![0f32; 3 * n];
        for y in 0..size {
            for x in 0..size {
                if alpha[y * size + x] <= 0.0 {
                    continue;
                }
                let (u, v) = ((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                let t = match self.pattern {
                    Pattern::Fbm { seed, freq } => noise::fbm(seed, u * freq, v * freq, 4, 0.5),
                    Pattern::Stripes {
                        period,
                        theta,
                        phase,
                    } => {
                        let (sn, cs) = theta.sin_cos();
                        0.5 + 0.5 * ((u * cs + v * sn) * 2.0 * PI / period + phase).sin()
                    }
                    Pattern::Gradient { theta } => {
                        let (sn, cs) = theta.sin_cos();
                        ((u - 0.5) * cs + (v - 0.5) * sn + 0.5).clamp(0.0, 1.0)
                    }
                };
                let c = mix(c0, c1, t);
                for k in 0..3 {
                    out[k * n + y * size + x] = c[k] as f32;
                }
            }
        }
        out
    }
}

/// A background.
#[derive(Debug, Clone)]
pub(crate) enum Backdrop {
    Fbm {
        seed: u64,
        freq: f64,
        palette: [Rgb; 3],
    },
    Worley {
        seed: u64,
        freq: f64,
        palette: [Rgb; 2],
        edge: Rgb,
    },
    Blobs {
        base: [Rgb; 2],
        theta: f64,
        blobs: Vec<(f64, f64, f64, f64, Rgb)>,
    },
    Photo {
        index: usize,
        side: f64,
        at: (f64, f64),
        flip: bool,
        gains: Rgb,
        saturation: f64,
        brightness: f64,
    },
}

impl Backdrop {
    /// Draw a background: a photo (one of `photos` of them) with probability `photo_p`.
    pub fn sample(rng: &mut SeededRng, photos: usize, photo_p: f64) -> Self {
        if photos > 0 && rng.bernoulli(photo_p) {
            return Backdrop::Photo {
                index: rng.below(photos),
                side: rng.uniform_range(0.45, 1.0),
                at: (rng.uniform(), rng.uniform()),
                flip: rng.bernoulli(0.5),
                gains: [
                    rng.uniform_range(0.75, 1.25),
                    rng.uniform_range(0.75, 1.25),
                    rng.uniform_range(0.75, 1.25),
                ],
                saturation: rng.uniform_range(0.5, 1.3),
                brightness: rng.uniform_range(-0.1, 0.1),
            };
        }
        match rng.below(3) {
            0 => Backdrop::Fbm {
                seed: rng.next_u64(),
                freq: rng.uniform_range(2.0, 12.0),
                palette: [colour(rng), colour(rng), colour(rng)],
            },
            1 => Backdrop::Worley {
                seed: rng.next_u64(),
                freq: rng.uniform_range(4.0, 16.0),
                palette: [colour(rng), colour(rng)],
                edge: colour(rng),
            },
            _ => {
                let base = [colour(rng), colour(rng)];
                let theta = rng.uniform_range(0.0, 2.0 * PI);
                let n = 4 + rng.below(8);
                let blobs = (0..n)
                    .map(|_| {
                        (
                            rng.uniform(),
                            rng.uniform(),
                            rng.uniform_range(0.05, 0.25),
                            rng.uniform_range(0.02, 0.08),
                            colour(rng),
                        )
                    })
                    .collect();
                Backdrop::Blobs { base, theta, blobs }
            }
        }
    }

    pub fn render(&self, size: usize, photos: &[RgbImage]) -> Vec<f32> {
        let n = size * size;
        let mut out = vec![0f32; 3 * n];
        let put = |out: &mut [f32], i: usize, c: Rgb| {
            for k in 0..3 {
                out[k * n + i] = c[k].clamp(0.0, 1.0) as f32;
            }
        };
        // The procedural backgrounds: a colour per pixel centre (u, v).
        let procedural: Box<dyn Fn(f64, f64) -> Rgb + '_> = match self {
            Backdrop::Fbm {
                seed,
                freq,
                palette,
            } => Box::new(move |u, v| {
                let t = noise::fbm(*seed, u * freq, v * freq, 5, 0.55);
                let t2 = noise::value(seed ^ 0x55, u * freq * 0.5, v * freq * 0.5);
                mix(mix(palette[0], palette[1], t), palette[2], t2 * 0.6)
            }),
            Backdrop::Worley {
                seed,
                freq,
                palette,
                edge,
            } => Box::new(move |u, v| {
                let (d, h) = noise::worley(*seed, u * freq, v * freq);
                let cell = mix(palette[0], palette[1], noise::cell_unit(h, 0));
                mix(cell, *edge, (d * 1.2).clamp(0.0, 1.0).powi(3))
            }),
            Backdrop::Blobs { base, theta, blobs } => {
                let (sn, cs) = theta.sin_cos();
                Box::new(move |u, v| {
                    let t = ((u - 0.5) * cs + (v - 0.5) * sn + 0.5).clamp(0.0, 1.0);
                    let mut c = mix(base[0], base[1], t);
                    for &(bx, by, r, soft, col) in blobs {
                        let d = ((u - bx).powi(2) + (v - by).powi(2)).sqrt() - r;
                        let a = (0.5 - d / soft).clamp(0.0, 1.0);
                        c = mix(c, col, a * a * (3.0 - 2.0 * a));
                    }
                    c
                })
            }
            Backdrop::Photo {
                index,
                side,
                at,
                flip,
                gains,
                saturation,
                brightness,
            } => {
                let photo = &photos[*index % photos.len()];
                let (pw, ph) = photo.dimensions();
                let crop = ((f64::from(pw.min(ph)) * side).round() as u32).clamp(1, pw.min(ph));
                let left = ((f64::from(pw - crop)) * at.0).floor() as u32;
                let top = ((f64::from(ph - crop)) * at.1).floor() as u32;
                let view = image::imageops::crop_imm(photo, left, top, crop, crop).to_image();
                let mut img =
                    image::imageops::resize(&view, size as u32, size as u32, FilterType::Triangle);
                if *flip {
                    image::imageops::flip_horizontal_in_place(&mut img);
                }
                for (i, p) in img.pixels().enumerate() {
                    let c = [
                        f64::from(p.0[0]) / 255.0 * gains[0],
                        f64::from(p.0[1]) / 255.0 * gains[1],
                        f64::from(p.0[2]) / 255.0 * gains[2],
                    ];
                    let m = (c[0] + c[1] + c[2]) / 3.0;
                    let c = [
                        m + (c[0] - m) * saturation + brightness,
                        m + (c[1] - m) * saturation + brightness,
                        m + (c[2] - m) * saturation + brightness,
                    ];
                    put(&mut out, i, c);
                }
                return out;
            }
        };
        let s = size as f64;
        for y in 0..size {
            for x in 0..size {
                let c = procedural((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                put(&mut out, y * size + x, c);
            }
        }
        out
    }
}

/// Mean colour of a `3×H×W` plane.
pub(crate) fn mean_colour(planes: &[f32]) -> Rgb {
    let n = planes.len() / 3;
    let mut m = [0.0; 3];
    for (k, mk) in m.iter_mut().enumerate() {
        *mk = planes[k * n..(k + 1) * n]
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>()
            / n.max(1) as f64;
    }
    m
}
