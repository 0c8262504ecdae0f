//! Foreground alpha generators of the SynthClickMatte proxy (the card's list (a)–(e)):
//! SDF shapes with a smooth edge, hairy shapes (Bézier strands rendered as 4×4
//! supersampled coverage), semi-transparent veils, motion-blurred shapes, fBm smoke and
//! thin meshes. A spec holds resolution-independent geometry (coordinates in units of
//! the image side); edge widths and strand thicknesses are in pixels, so edges stay
//! thin at every resolution.

use std::f64::consts::PI;

use candor_core::SeededRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::noise;

/// The kind of a foreground's alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A superellipse, star or metaball union with a 0.5–2 px smooth edge.
    Solid,
    /// A solid shape with 150–400 fractional-alpha strands (0.3–1.5 px, opacity 0.3–1).
    Hairy,
    /// A semi-transparent shape (α from 0.2 to 0.8 along a gradient), over a solid
    /// shape half of the time.
    Veil,
    /// A solid shape motion-blurred along a line.
    Motion,
    /// fBm smoke under a soft threshold, fading out towards the edge of a disc.
    Smoke,
    /// A thin two-way mesh inside a shape, with a solid rim half of the time.
    Mesh,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 6] = [
        Kind::Solid,
        Kind::Hairy,
        Kind::Veil,
        Kind::Motion,
        Kind::Smoke,
        Kind::Mesh,
    ];
}

/// An implicit outline, negative inside, roughly (distance / size) near the edge.
#[derive(Debug, Clone)]
pub(crate) enum Outline {
    Superellipse {
        c: (f64, f64),
        a: f64,
        b: f64,
        n: f64,
        theta: f64,
    },
    Star {
        c: (f64, f64),
        r: f64,
        amp: f64,
        k: f64,
        phase: f64,
    },
    Metaballs {
        balls: Vec<(f64, f64, f64)>,
    },
}

impl Outline {
    pub fn sample(rng: &mut SeededRng, c: (f64, f64), r: f64) -> Self {
        match rng.below(3) {
            0 => Outline::Superellipse {
                c,
                a: r * rng.uniform_range(0.7, 1.2),
                b: r * rng.uniform_range(0.5, 1.0),
                n: rng.uniform_range(1.5, 5.0),
                theta: rng.uniform_range(0.0, PI),
            },
            1 => Outline::Star {
                c,
                r: r * rng.uniform_range(0.8, 1.1),
                amp: rng.uniform_range(0.12, 0.4),
                k: (3 + rng.below(6)) as f64,
                phase: rng.uniform_range(0.0, 2.0 * PI),
            },
            _ => {
                let n = 3 + rng.below(4);
                let balls = (0..n)
                    .map(|i| {
                        let (dx, dy) = if i == 0 {
                            (0.0, 0.0)
                        } else {
                            let ang = rng.uniform_range(0.0, 2.0 * PI);
                            let d = r * rng.uniform_range(0.3, 0.8);
                            (d * ang.cos(), d * ang.sin())
                        };
                        (c.0 + dx, c.1 + dy, r * rng.uniform_range(0.35, 0.6))
                    })
                    .collect();
                Outline::Metaballs { balls }
            }
        }
    }

    /// A point inside the outline.
    pub fn centre(&self) -> (f64, f64) {
        match self {
            Outline::Superellipse { c, .. } | Outline::Star { c, .. } => *c,
            Outline::Metaballs { balls } => (balls[0].0, balls[0].1),
        }
    }

    /// Half-side of a square around [`centre`](Self::centre) that contains the shape.
    fn extent(&self) -> f64 {
        match self {
            Outline::Superellipse { a, b, .. } => a.max(*b) * 1.45,
            Outline::Star { r, amp, .. } => r * (1.0 + amp) * 1.05,
            Outline::Metaballs { balls } => {
                let (x0, y0) = (balls[0].0, balls[0].1);
                balls
                    .iter()
                    .map(|&(x, y, r)| (x - x0).abs().max((y - y0).abs()) + 2.0 * r)
                    .fold(0.0, f64::max)
            }
        }
    }

    pub fn field(&self, u: f64, v: f64) -> f64 {
        match self {
            Outline::Superellipse { c, a, b, n, theta } => {
                let (s, co) = theta.sin_cos();
                let (du, dv) = (u - c.0, v - c.1);
                let p = (du * co + dv * s) / a;
                let q = (-du * s + dv * co) / b;
                (p.abs().powf(*n) + q.abs().powf(*n)).powf(1.0 / n) - 1.0
            }
            Outline::Star {
                c,
                r,
                amp,
                k,
                phase,
            } => {
                let (du, dv) = (u - c.0, v - c.1);
                let rho = (du * du + dv * dv).sqrt();
                let phi = dv.atan2(du);
                rho / (r * (1.0 + amp * (k * phi + phase).cos())) - 1.0
            }
            Outline::Metaballs { balls } => {
                let s: f64 = balls
                    .iter()
                    .map(|&(x, y, r)| r * r / ((u - x).powi(2) + (v - y).powi(2) + 1e-12))
                    .sum();
                1.0 / s.sqrt() - 1.0
            }
        }
    }

    /// Approximate signed distance in pixels (`field / |∇field|`, central differences
    /// half a pixel apart).
    pub fn sdf_px(&self, u: f64, v: f64, size: f64) -> f64 {
        let f = self.field(u, v);
        let h = 0.5 / size;
        let gx = (self.field(u + h, v) - self.field(u - h, v)) / (2.0 * h);
        let gy = (self.field(u, v + h) - self.field(u, v - h)) / (2.0 * h);
        let g = (gx * gx + gy * gy).sqrt().max(1e-9);
        f / g * size
    }

    /// Outward unit normal at `(u, v)`.
    fn normal(&self, u: f64, v: f64, size: f64) -> (f64, f64) {
        let h = 0.5 / size;
        let gx = self.field(u + h, v) - self.field(u - h, v);
        let gy = self.field(u, v + h) - self.field(u, v - h);
        let g = (gx * gx + gy * gy).sqrt().max(1e-12);
        (gx / g, gy / g)
    }

    /// The boundary point on the ray from the centre at angle `phi` (bisection), if
    /// the ray leaves the shape within 0.7 image sides.
    fn boundary(&self, phi: f64) -> Option<(f64, f64)> {
        let c = self.centre();
        let (dx, dy) = (phi.cos(), phi.sin());
        let at = |t: f64| self.field(c.0 + t * dx, c.1 + t * dy);
        let (mut lo, mut hi) = (0.0, 0.7);
        if at(lo) >= 0.0 || at(hi) < 0.0 {
            return None;
        }
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if at(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((c.0 + lo * dx, c.1 + lo * dy))
    }

    /// Pixel rows/columns `[y0, y1) × [x0, x1)` that can be non-zero, with `pad` pixels.
    fn pixel_box(&self, size: usize, pad: f64) -> (usize, usize, usize, usize) {
        let c = self.centre();
        let e = self.extent();
        let s = size as f64;
        let lo = |v: f64| ((v - e) * s - pad).floor().clamp(0.0, s) as usize;
        let hi = |v: f64| ((v + e) * s + pad).ceil().clamp(0.0, s) as usize;
        (lo(c.1), hi(c.1), lo(c.0), hi(c.0))
    }

    /// Alpha with a smooth edge `edge_px` wide (smoothstep across the edge), added into
    /// `alpha` with the "over" rule scaled by `opacity`.
    fn render_into(&self, alpha: &mut [f32], size: usize, edge_px: f64, opacity: f64) {
        let s = size as f64;
        let (y0, y1, x0, x1) = self.pixel_box(size, edge_px + 2.0);
        for y in y0..y1 {
            for x in x0..x1 {
                let (u, v) = ((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                let f = self.field(u, v);
                // Far from the edge the field decides alone.
                let a = if f <= -0.5 {
                    1.0
                } else if f >= 0.5 {
                    0.0
                } else {
                    smooth_edge(self.sdf_px(u, v, s), edge_px)
                };
                over(&mut alpha[y * size + x], a * opacity);
            }
        }
    }
}

/// `smoothstep` coverage of a pixel at signed distance `d` (px) from an edge `w` wide.
fn smooth_edge(d: f64, w: f64) -> f64 {
    let t = (0.5 - d / w).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Porter–Duff "over" of coverage `a` onto `dst`.
#[inline]
fn over(dst: &mut f32, a: f64) {
    if a > 0.0 {
        *dst = (1.0 - (1.0 - f64::from(*dst)) * (1.0 - a)) as f32;
    }
}

/// One strand: a cubic Bézier (image-side units), thickness in px, opacity.
#[derive(Debug, Clone)]
pub(crate) struct Strand {
    p: [(f64, f64); 4],
    thick_px: f64,
    opacity: f64,
}

/// A foreground's alpha, resolution-independent.
#[derive(Debug, Clone)]
pub(crate) struct AlphaSpec {
    pub kind: Kind,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    /// A shape with a smooth edge.
    Shape {
        outline: Outline,
        edge_px: f64,
        opacity: f64,
    },
    /// Strands over whatever is below.
    Strands(Vec<Strand>),
    /// A translucent shape: α from `lo` to `hi` along direction `theta`.
    Veil {
        outline: Outline,
        edge_px: f64,
        lo: f64,
        hi: f64,
        theta: f64,
    },
    /// A shape blurred along a line `len` long (image-side units) at angle `theta`.
    Motion {
        outline: Outline,
        edge_px: f64,
        len: f64,
        theta: f64,
    },
    /// fBm smoke under a soft threshold, inside a disc whose outer half fades out.
    Smoke {
        seed: u64,
        c: (f64, f64),
        radius: f64,
        freq: f64,
        t0: f64,
        width: f64,
        opacity: f64,
    },
    /// Two families of parallel lines clipped to a shape, optional solid rim.
    Mesh {
        outline: Outline,
        edge_px: f64,
        spacing: f64,
        thick_px: f64,
        theta: f64,
        theta2: f64,
        rim_px: Option<f64>,
        opacity: f64,
    },
}

impl AlphaSpec {
    /// Draw a spec of `kind` centred at `c` with radius `r` (image-side units).
    pub fn sample(
        kind: Kind,
        c: (f64, f64),
        r: f64,
        strand_scale: f64,
        rng: &mut SeededRng,
    ) -> Self {
        let edge = |rng: &mut SeededRng| rng.uniform_range(0.5, 2.0);
        let parts = match kind {
            Kind::Solid => vec![Part::Shape {
                outline: Outline::sample(rng, c, r),
                edge_px: edge(rng),
                opacity: 1.0,
            }],
            Kind::Hairy => {
                let outline = Outline::sample(rng, c, r * 0.8);
                let n = ((150 + rng.below(251)) as f64 * strand_scale).round() as usize;
                let len_lo = rng.uniform_range(0.03, 0.06);
                let len_hi = len_lo + rng.uniform_range(0.02, 0.08);
                let mut strands = Vec::with_capacity(n);
                for _ in 0..n {
                    let phi = rng.uniform_range(0.0, 2.0 * PI);
                    let len = rng.uniform_range(len_lo, len_hi);
                    let spread = rng.normal() * 0.35;
                    let bends = [rng.normal() * 0.15, rng.normal() * 0.15, rng.normal() * 0.2];
                    let thick_px = rng.uniform_range(0.3, 1.5);
                    let opacity = rng.uniform_range(0.3, 1.0);
                    let Some(b) = outline.boundary(phi) else {
                        continue;
                    };
                    // The normal at 512 px resolution is precise enough for a direction.
                    let nrm = outline.normal(b.0, b.1, 512.0);
                    let (s, co) = spread.sin_cos();
                    let d = (nrm.0 * co - nrm.1 * s, nrm.0 * s + nrm.1 * co);
                    let perp = (-d.1, d.0);
                    let start = (b.0 - d.0 * 0.004, b.1 - d.1 * 0.004);
                    let pt = |t: f64, bend: f64| {
                        (
                            start.0 + d.0 * len * t + perp.0 * bend * len,
                            start.1 + d.1 * len * t + perp.1 * bend * len,
                        )
                    };
                    strands.push(Strand {
                        p: [
                            start,
                            pt(1.0 / 3.0, bends[0]),
                            pt(2.0 / 3.0, bends[1]),
                            pt(1.0, bends[2]),
                        ],
                        thick_px,
                        opacity,
                    });
                }
                vec![
                    Part::Shape {
                        outline,
                        edge_px: edge(rng),
                        opacity: 1.0,
                    },
                    Part::Strands(strands),
                ]
            }
            Kind::Veil => {
                let mut parts = Vec::new();
                if rng.bernoulli(0.5) {
                    parts.push(Part::Shape {
                        outline: Outline::sample(rng, c, r * 0.55),
                        edge_px: edge(rng),
                        opacity: 1.0,
                    });
                }
                let offset = (rng.normal() * r * 0.3, rng.normal() * r * 0.3);
                let lo = rng.uniform_range(0.2, 0.5);
                parts.push(Part::Veil {
                    outline: Outline::sample(rng, (c.0 + offset.0, c.1 + offset.1), r),
                    edge_px: rng.uniform_range(1.0, 4.0),
                    lo,
                    hi: rng.uniform_range(lo, 0.8),
                    theta: rng.uniform_range(0.0, 2.0 * PI),
                });
                parts
            }
            Kind::Motion => vec![Part::Motion {
                outline: Outline::sample(rng, c, r * 0.85),
                edge_px: edge(rng),
                len: rng.uniform_range(0.01, 0.05),
                theta: rng.uniform_range(0.0, PI),
            }],
            Kind::Smoke => vec![Part::Smoke {
                seed: rng.next_u64(),
                c,
                radius: r * rng.uniform_range(1.0, 1.4),
                freq: rng.uniform_range(3.0, 8.0),
                t0: rng.uniform_range(0.35, 0.5),
                width: rng.uniform_range(0.1, 0.25),
                opacity: rng.uniform_range(0.6, 1.0),
            }],
            Kind::Mesh => {
                let theta = rng.uniform_range(0.0, PI);
                vec![Part::Mesh {
                    outline: Outline::sample(rng, c, r),
                    edge_px: edge(rng),
                    spacing: rng.uniform_range(0.03, 0.08),
                    thick_px: rng.uniform_range(0.5, 2.0),
                    theta,
                    theta2: theta + rng.uniform_range(PI / 3.0, PI / 2.0),
                    rim_px: rng.bernoulli(0.5).then(|| rng.uniform_range(2.0, 5.0)),
                    opacity: rng.uniform_range(0.7, 1.0),
                }]
            }
        };
        AlphaSpec { kind, parts }
    }

    /// Render at `size × size`: α in [0, 1], row-major.
    pub fn render(&self, size: usize) -> Vec<f32> {
        let mut alpha = vec![0f32; size * size];
        for p in &self.parts {
            p.render_into(&mut alpha, size);
        }
        alpha
    }
}

impl Part {
    fn render_into(&self, alpha: &mut [f32], size: usize) {
        let s = size as f64;
        match self {
            Part::Shape {
                outline,
                edge_px,
                opacity,
            } => outline.render_into(alpha, size, *edge_px, *opacity),
            Part::Strands(strands) => render_strands(strands, alpha, size),
            Part::Veil {
                outline,
                edge_px,
                lo,
                hi,
                theta,
            } => {
                let mut shape = vec![0f32; size * size];
                outline.render_into(&mut shape, size, *edge_px, 1.0);
                let (c, e) = (outline.centre(), outline.extent());
                let (dy, dx) = theta.sin_cos();
                let (y0, y1, x0, x1) = outline.pixel_box(size, edge_px + 2.0);
                for y in y0..y1 {
                    for x in x0..x1 {
                        let a = f64::from(shape[y * size + x]);
                        if a > 0.0 {
                            let (u, v) = ((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                            let t = (((u - c.0) * dx + (v - c.1) * dy) / (2.0 * e) + 0.5)
                                .clamp(0.0, 1.0);
                            over(&mut alpha[y * size + x], a * (lo + (hi - lo) * t));
                        }
                    }
                }
            }
            Part::Motion {
                outline,
                edge_px,
                len,
                theta,
            } => {
                let mut shape = vec![0f32; size * size];
                outline.render_into(&mut shape, size, *edge_px, 1.0);
                let len_px = len * s;
                let steps = (len_px.ceil() as usize + 1).max(3);
                let (dy, dx) = theta.sin_cos();
                let (y0, y1, x0, x1) = outline.pixel_box(size, edge_px + len_px + 3.0);
                for y in y0..y1 {
                    for x in x0..x1 {
                        let mut acc = 0.0;
                        for k in 0..steps {
                            let t = (k as f64 / (steps - 1) as f64 - 0.5) * len_px;
                            acc += bilinear(&shape, size, x as f64 + t * dx, y as f64 + t * dy);
                        }
                        over(&mut alpha[y * size + x], acc / steps as f64);
                    }
                }
            }
            Part::Smoke {
                seed,
                c,
                radius,
                freq,
                t0,
                width,
                opacity,
            } => {
                let smooth = |t: f64| {
                    let t = t.clamp(0.0, 1.0);
                    t * t * (3.0 - 2.0 * t)
                };
                for y in 0..size {
                    for x in 0..size {
                        let (u, v) = ((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                        let rho = ((u - c.0).powi(2) + (v - c.1).powi(2)).sqrt();
                        if rho >= *radius {
                            continue;
                        }
                        let env = smooth((1.0 - rho / radius) / 0.5);
                        let n = noise::fbm(*seed, u * freq, v * freq, 5, 0.55);
                        over(
                            &mut alpha[y * size + x],
                            opacity * env * smooth((n - t0) / width),
                        );
                    }
                }
            }
            Part::Mesh {
                outline,
                edge_px,
                spacing,
                thick_px,
                theta,
                theta2,
                rim_px,
                opacity,
            } => {
                let mut region = vec![0f32; size * size];
                outline.render_into(&mut region, size, *edge_px, 1.0);
                let (y0, y1, x0, x1) = outline.pixel_box(size, edge_px + 2.0);
                let spacing_px = spacing * s;
                let half = thick_px / 2.0;
                let dirs = [theta.sin_cos(), theta2.sin_cos()];
                let on_line = |px: f64, py: f64| {
                    dirs.iter().any(|&(sn, cs)| {
                        let t = (px * cs + py * sn) / spacing_px;
                        (t - t.round()).abs() * spacing_px <= half
                    })
                };
                for y in y0..y1 {
                    for x in x0..x1 {
                        let a = f64::from(region[y * size + x]);
                        if a <= 0.0 {
                            continue;
                        }
                        let mut hits = 0;
                        for j in 0..4 {
                            for i in 0..4 {
                                let px = x as f64 + (i as f64 + 0.5) / 4.0;
                                let py = y as f64 + (j as f64 + 0.5) / 4.0;
                                hits += usize::from(on_line(px, py));
                            }
                        }
                        let mut cov = hits as f64 / 16.0;
                        if let Some(rim) = rim_px {
                            let (u, v) = ((x as f64 + 0.5) / s, (y as f64 + 0.5) / s);
                            let d = outline.sdf_px(u, v, s);
                            if d > -rim {
                                cov = 1.0;
                            }
                        }
                        over(&mut alpha[y * size + x], a * cov * opacity);
                    }
                }
            }
        }
    }
}

/// Bilinear sample of a `size × size` plane at pixel coordinates (0 outside).
fn bilinear(plane: &[f32], size: usize, x: f64, y: f64) -> f64 {
    let (fx, fy) = (x.floor(), y.floor());
    let (tx, ty) = (x - fx, y - fy);
    let get = |xi: f64, yi: f64| {
        if xi < 0.0 || yi < 0.0 || xi >= size as f64 || yi >= size as f64 {
            0.0
        } else {
            f64::from(plane[yi as usize * size + xi as usize])
        }
    };
    let a = get(fx, fy) * (1.0 - tx) + get(fx + 1.0, fy) * tx;
    let b = get(fx, fy + 1.0) * (1.0 - tx) + get(fx + 1.0, fy + 1.0) * tx;
    a * (1.0 - ty) + b * ty
}

/// Render strands as 4×4-supersampled coverage: each strand's sub-pixel hits are
/// collected in a 16-bit mask per pixel, its coverage (hits / 16) times its opacity
/// is laid "over" the alpha, strand after strand.
fn render_strands(strands: &[Strand], alpha: &mut [f32], size: usize) {
    let s = size as f64;
    let mut masks = vec![0u16; size * size];
    let mut touched: Vec<usize> = Vec::new();
    for st in strands {
        let pts: Vec<(f64, f64)> = st.p.iter().map(|&(u, v)| (u * s, v * s)).collect();
        // Flatten the Bézier into ~1 px segments.
        let approx_len: f64 = pts
            .windows(2)
            .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
            .sum();
        let nseg = (approx_len.ceil() as usize).max(1);
        let bez = |t: f64| {
            let m = 1.0 - t;
            let (a, b, c, d) = (m * m * m, 3.0 * m * m * t, 3.0 * m * t * t, t * t * t);
            (
                a * pts[0].0 + b * pts[1].0 + c * pts[2].0 + d * pts[3].0,
                a * pts[0].1 + b * pts[1].1 + c * pts[2].1 + d * pts[3].1,
            )
        };
        let half = st.thick_px / 2.0;
        let mut prev = bez(0.0);
        for k in 1..=nseg {
            let cur = bez(k as f64 / nseg as f64);
            stamp_segment(prev, cur, half, size, &mut masks, &mut touched);
            prev = cur;
        }
        for &i in &touched {
            let cov = f64::from(masks[i].count_ones()) / 16.0;
            over(&mut alpha[i], cov * st.opacity);
            masks[i] = 0;
        }
        touched.clear();
    }
}

/// Set the sub-pixel bits (4×4 per pixel) within `half` px of segment `a`–`b`.
fn stamp_segment(
    a: (f64, f64),
    b: (f64, f64),
    half: f64,
    size: usize,
    masks: &mut [u16],
    touched: &mut Vec<usize>,
) {
    let s = size as f64;
    let x0 = (a.0.min(b.0) - half).floor().clamp(0.0, s) as usize;
    let x1 = (a.0.max(b.0) + half).ceil().clamp(0.0, s) as usize;
    let y0 = (a.1.min(b.1) - half).floor().clamp(0.0, s) as usize;
    let y1 = (a.1.max(b.1) + half).ceil().clamp(0.0, s) as usize;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-12);
    let h2 = half * half;
    for y in y0..y1 {
        for x in x0..x1 {
            let mut bits = 0u16;
            for j in 0..4 {
                for i in 0..4 {
                    let px = x as f64 + (i as f64 + 0.5) / 4.0;
                    let py = y as f64 + (j as f64 + 0.5) / 4.0;
                    let t = (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0);
                    let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
                    if qx * qx + qy * qy <= h2 {
                        bits |= 1 << (j * 4 + i);
                    }
                }
            }
            if bits != 0 {
                let idx = y * size + x;
                if masks[idx] == 0 {
                    touched.push(idx);
                }
                masks[idx] |= bits;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strands_have_fractional_coverage() {
        // A horizontal strand 0.5 px thick along a pixel boundary covers one sub-row
        // (of four) on each side of it.
        let strands = vec![Strand {
            p: [(0.1, 0.5), (0.3, 0.5), (0.6, 0.5), (0.9, 0.5)],
            thick_px: 0.5,
            opacity: 1.0,
        }];
        let size = 20;
        let mut alpha = vec![0f32; size * size];
        render_strands(&strands, &mut alpha, size);
        // Row 10 spans y ∈ [10, 11); the strand runs along y = 10 (0.5·20): sub-rows
        // at 10.125 (distance 0.125 ≤ 0.25) hit, 10.375 (0.375) miss → 4/16. Row 9:
        // sub-row 9.875 hits → 4/16.
        assert!(
            (alpha[10 * size + 10] - 0.25).abs() < 1e-6,
            "{}",
            alpha[10 * size + 10]
        );
        assert!((alpha[9 * size + 10] - 0.25).abs() < 1e-6);
        assert_eq!(alpha[12 * size + 10], 0.0);
        // Round caps: the start (x = 2) reaches one sub-sample into pixel 1, not 0.
        assert_eq!(alpha[10 * size], 0.0);
        assert!((alpha[10 * size + 1] - 1.0 / 16.0).abs() < 1e-6);
    }

    #[test]
    fn every_kind_renders_in_range_and_is_resolution_independent() {
        // Geometry is in image-side units, so the covered fraction is the same at 64²
        // and 128², except for hair and mesh lines, whose thickness is in pixels.
        for (k, kind) in Kind::ALL.iter().enumerate() {
            let mut rng = SeededRng::new(k as u64);
            let spec = AlphaSpec::sample(*kind, (0.5, 0.5), 0.25, 1.0, &mut rng);
            let a64 = spec.render(64);
            let a128 = spec.render(128);
            assert!(a64.iter().all(|v| (0.0..=1.0).contains(v)), "{kind:?}");
            let m64 = a64.iter().map(|&v| f64::from(v)).sum::<f64>() / (64.0 * 64.0);
            let m128 = a128.iter().map(|&v| f64::from(v)).sum::<f64>() / (128.0 * 128.0);
            assert!(m64 > 0.005, "{kind:?} is empty");
            if !matches!(kind, Kind::Hairy | Kind::Mesh) {
                assert!((m64 - m128).abs() < 0.1 * m128, "{kind:?}: {m64} vs {m128}");
            }
        }
    }
}
