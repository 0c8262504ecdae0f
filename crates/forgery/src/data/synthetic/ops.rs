//! Pixel operations of the synthetic forgery proxy: crops, masks, feathering, the
//! up-sampling operators ("manipulation methods") and blending. Images are plain
//! `3×H×W` f32 planes in `[0, 1]`; resampling goes through `candor_core::imageio::resize`.

use candle_core::{Device, Tensor};
use candor_core::fft::{fft2, ifft2};
use candor_core::imageio::{resize, Filter};
use candor_core::SeededRng;
use image::{GrayImage, RgbImage};

use crate::{Error, Result};

/// A `3×H×W` image, row-major planes, values nominally in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Img {
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Img {
    pub fn from_rgb8(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut data = vec![0f32; 3 * h * w];
        for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[c * h * w + i] = f32::from(px[c]) / 255.0;
            }
        }
        Img { h, w, data }
    }

    /// Round to the 8-bit grid (clamped) and pack as RGB.
    pub fn to_rgb8(&self) -> RgbImage {
        let n = self.h * self.w;
        let mut buf = Vec::with_capacity(3 * n);
        for i in 0..n {
            for c in 0..3 {
                buf.push(quantize(self.data[c * n + i]));
            }
        }
        RgbImage::from_raw(self.w as u32, self.h as u32, buf).expect("buffer size matches")
    }

    /// A host tensor for `imageio::resize`: the generator works on the CPU and writes
    /// PNG files; no model ever sees this tensor.
    fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (3, self.h, self.w),
            &Device::Cpu,
        )?)
    }

    fn from_tensor(t: &Tensor) -> Result<Self> {
        let (c, h, w) = t.dims3()?;
        if c != 3 {
            return Err(Error::invalid(format!("expected 3 channels, got {c}")));
        }
        Ok(Img {
            h,
            w,
            data: t.flatten_all()?.to_vec1::<f32>()?,
        })
    }

    /// Rows `top..top+n`, columns `left..left+n`, optionally mirrored left–right.
    pub fn crop(&self, top: usize, left: usize, n: usize, flip: bool) -> Img {
        let mut data = Vec::with_capacity(3 * n * n);
        for c in 0..3 {
            let plane = &self.data[c * self.h * self.w..(c + 1) * self.h * self.w];
            for y in top..top + n {
                let row = &plane[y * self.w + left..y * self.w + left + n];
                if flip {
                    data.extend(row.iter().rev());
                } else {
                    data.extend_from_slice(row);
                }
            }
        }
        Img { h: n, w: n, data }
    }

    pub fn resize(&self, h: usize, w: usize, filter: Filter) -> Result<Img> {
        if (h, w) == (self.h, self.w) && filter == Filter::Nearest {
            return Ok(self.clone());
        }
        Img::from_tensor(&resize(&self.to_tensor()?, h, w, filter)?)
    }

    /// Per-channel mean and standard deviation.
    fn channel_stats(&self) -> [(f32, f32); 3] {
        let n = self.h * self.w;
        let mut out = [(0f32, 0f32); 3];
        for (c, o) in out.iter_mut().enumerate() {
            let p = &self.data[c * n..(c + 1) * n];
            let m = p.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let v = p.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n as f64;
            *o = (m as f32, v.sqrt() as f32);
        }
        out
    }

    /// Shift and scale each channel to `target`'s mean and standard deviation
    /// (a global Reinhard-style colour transfer, per RGB channel).
    pub fn color_matched_to(&self, target: &Img) -> Img {
        let (s, t) = (self.channel_stats(), target.channel_stats());
        let n = self.h * self.w;
        let mut out = self.clone();
        for c in 0..3 {
            let gain = t[c].1 / s[c].1.max(1e-3);
            for v in &mut out.data[c * n..(c + 1) * n] {
                *v = (*v - s[c].0) * gain + t[c].0;
            }
        }
        out
    }

    pub fn add_noise(&mut self, std: f64, rng: &mut SeededRng) {
        if std > 0.0 {
            for v in &mut self.data {
                *v += (std * rng.normal()) as f32;
            }
        }
    }
}

/// `round(255·clamp(x))`.
pub(crate) fn quantize(x: f32) -> u8 {
    (x.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// A mask shape in patch coordinates (pixels, centre of pixel `(y, x)` at `(y+0.5, x+0.5)`).
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// Centre `(cy, cx)`, semi-axes `(a, b)`, rotation `theta` (radians).
    Ellipse {
        cy: f64,
        cx: f64,
        a: f64,
        b: f64,
        theta: f64,
    },
    /// A convex polygon, vertices counter-clockwise (as `(y, x)`), at least 3.
    Polygon(Vec<(f64, f64)>),
}

impl Shape {
    fn contains(&self, y: f64, x: f64) -> bool {
        match self {
            Shape::Ellipse {
                cy,
                cx,
                a,
                b,
                theta,
            } => {
                let (dy, dx) = (y - cy, x - cx);
                let (s, c) = theta.sin_cos();
                let u = dx * c + dy * s;
                let v = -dx * s + dy * c;
                (u / a).powi(2) + (v / b).powi(2) <= 1.0
            }
            Shape::Polygon(p) => {
                // Inside a convex polygon: on the same side of every edge.
                let mut sign = 0.0;
                for i in 0..p.len() {
                    let (y0, x0) = p[i];
                    let (y1, x1) = p[(i + 1) % p.len()];
                    let cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0);
                    if cross != 0.0 {
                        if sign == 0.0 {
                            sign = cross.signum();
                        } else if cross.signum() != sign {
                            return false;
                        }
                    }
                }
                true
            }
        }
    }

    /// The binary mask (1 inside) rasterised at pixel centres.
    pub fn rasterize(&self, n: usize) -> Vec<f32> {
        let mut m = vec![0f32; n * n];
        for y in 0..n {
            for x in 0..n {
                if self.contains(y as f64 + 0.5, x as f64 + 0.5) {
                    m[y * n + x] = 1.0;
                }
            }
        }
        m
    }
}

/// Convex hull (Andrew's monotone chain) of points `(y, x)`, counter-clockwise.
pub(crate) fn convex_hull(mut pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &p in &pts {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &p in pts.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// Separable Gaussian blur of an `n×n` plane with standard deviation `sigma` px, the
/// kernel truncated at `ceil(3σ)` and normalised; zero outside the plane. The blurred
/// mask is exactly 0 farther than `ceil(3σ)` px (per axis) from the shape.
pub(crate) fn feather(mask: &[f32], n: usize, sigma: f64) -> Vec<f32> {
    separable_gaussian(mask, n, n, sigma, false)
}

/// Separable Gaussian blur of every channel of `img` with standard deviation `sigma`
/// px, the kernel truncated at `ceil(3σ)` and renormalised over the pixels inside the
/// image (no dark border; a constant image stays constant).
pub(crate) fn gaussian_blur(img: &Img, sigma: f64) -> Img {
    let (h, w) = (img.h, img.w);
    let mut data = Vec::with_capacity(img.data.len());
    for plane in img.data.chunks_exact(h * w) {
        data.extend(separable_gaussian(plane, h, w, sigma, true));
    }
    Img { h, w, data }
}

/// The Gaussian blur of one `h×w` plane behind [`feather`] and [`gaussian_blur`]: the
/// kernel truncated at `ceil(3σ)` and normalised; outside the plane counts as zero, or,
/// with `renormalise`, each output divides by the kernel weight that fell inside.
fn separable_gaussian(src: &[f32], h: usize, w: usize, sigma: f64, renormalise: bool) -> Vec<f32> {
    if sigma <= 0.0 {
        return src.to_vec();
    }
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    let k: Vec<f64> = k.iter().map(|v| v / s).collect();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; h * w];
        for y in 0..h {
            for x in 0..w {
                let (mut acc, mut norm) = (0f64, 0f64);
                for (t, kv) in k.iter().enumerate() {
                    let d = t as isize - r;
                    let (yy, xx) = if horizontal {
                        (y as isize, x as isize + d)
                    } else {
                        (y as isize + d, x as isize)
                    };
                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                        acc += kv * src[yy as usize * w + xx as usize] as f64;
                        norm += kv;
                    }
                }
                out[y * w + x] = if renormalise { acc / norm } else { acc } as f32;
            }
        }
        out
    };
    let first = pass(src, true);
    pass(&first, false)
}

/// Weight of the two end taps of the zero-insertion kernel relative to its inner taps
/// (0.5 would give equal phase gains, i.e. no checkerboard).
pub(crate) const ZERO_INSERTION_END_TAP: f32 = 0.6;

/// `mask·a + (1 − mask)·b` per channel. Where `mask` is 0 the result is `b` exactly.
pub(crate) fn blend(a: &Img, b: &Img, mask: &[f32]) -> Img {
    let n = b.h * b.w;
    let mut out = b.clone();
    for c in 0..3 {
        for (i, &m) in mask.iter().enumerate().take(n) {
            if m != 0.0 {
                out.data[c * n + i] = m * a.data[c * n + i] + (1.0 - m) * b.data[c * n + i];
            }
        }
    }
    out
}

/// Zero insertion by the integer factor `k` (each pixel followed by `k−1` zeros per
/// axis), then a fixed separable kernel of length `k+1` (3×3 for k = 2, 4×4 for k = 3):
/// inner taps `c`, the two end taps `γ·c` with γ = [`ZERO_INSERTION_END_TAP`], and
/// `c = k/(k − 1 + 2γ)` so the mean gain is 1. A kernel length not divisible by the
/// stride gives one output phase in `k` both end taps and the others one inner tap:
/// the transposed-convolution checkerboard, with per-axis phase gains `2γc` and `c`
/// (1.09 and 0.91 for k = 2). Output `(k·h)×(k·w)`.
pub(crate) fn zero_insertion_up(img: &Img, k: usize) -> Img {
    let (h, w) = (img.h, img.w);
    let (oh, ow) = (h * k, w * k);
    let gamma = ZERO_INSERTION_END_TAP;
    let inner = k as f32 / (k as f32 - 1.0 + 2.0 * gamma);
    let c0 = (k / 2) as isize; // kernel offsets −c0 ..= k − c0
                               // Input pixel j sits at output position j·k + off, near its centre (j + ½)·k − ½,
                               // so the result is aligned with the centre-aligned up-samplers.
    let off = ((k - 1) / 2) as isize;
    // One axis: y[i] = Σ_{d=−c0}^{k−c0} t_d · u[i + d], u[j·k + off] = x[j], else 0.
    let up_axis = |src: &[f32], len: usize, out_len: usize| -> Vec<f32> {
        let mut y = vec![0f32; out_len];
        for (i, yi) in y.iter_mut().enumerate() {
            let mut acc = 0f32;
            for d in -c0..=(k as isize - c0) {
                let p = i as isize + d - off;
                if p >= 0 && (p as usize).is_multiple_of(k) && (p as usize / k) < len {
                    let end = d == -c0 || d == k as isize - c0;
                    acc += if end { gamma * inner } else { inner } * src[p as usize / k];
                }
            }
            *yi = acc;
        }
        y
    };
    let mut data = Vec::with_capacity(3 * oh * ow);
    for c in 0..3 {
        let plane = &img.data[c * h * w..(c + 1) * h * w];
        // rows first
        let mut rows = vec![0f32; h * ow];
        for y in 0..h {
            let r = up_axis(&plane[y * w..(y + 1) * w], w, ow);
            rows[y * ow..(y + 1) * ow].copy_from_slice(&r);
        }
        let mut out = vec![0f32; oh * ow];
        let mut col = vec![0f32; h];
        for x in 0..ow {
            for y in 0..h {
                col[y] = rows[y * ow + x];
            }
            let r = up_axis(&col, h, oh);
            for y in 0..oh {
                out[y * ow + x] = r[y];
            }
        }
        data.extend(out);
    }
    Img { h: oh, w: ow, data }
}

/// Where frequency bin `k` of an `n`-point DFT goes in an `m`-point DFT (`m ≥ n`):
/// same signed frequency; an even `n`'s Nyquist bin is split in halves between `±n/2`
/// so that a real input stays real.
fn spectral_targets(k: usize, n: usize, m: usize) -> Vec<(usize, f64)> {
    let signed = if k <= n / 2 {
        k as isize
    } else {
        k as isize - n as isize
    };
    let wrap = |f: isize| f.rem_euclid(m as isize) as usize;
    if n.is_multiple_of(2) && k == n / 2 && m > n {
        vec![(wrap(signed), 0.5), (wrap(-signed), 0.5)]
    } else {
        vec![(wrap(signed), 1.0)]
    }
}

/// Fourier up-sampling (spectral zero-padding) of every channel to `oh × ow`:
/// the ideal band-limited interpolator. Uses candor-core's FFT.
pub(crate) fn fourier_up(img: &Img, oh: usize, ow: usize) -> Result<Img> {
    let (h, w) = (img.h, img.w);
    if oh < h || ow < w {
        return Err(Error::invalid("Fourier up-sampling needs a larger output"));
    }
    let gain = (oh * ow) as f64 / (h * w) as f64;
    let mut data = Vec::with_capacity(3 * oh * ow);
    for c in 0..3 {
        let plane: Vec<f64> = img.data[c * h * w..(c + 1) * h * w]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let spec = fft2(&plane, h, w)?;
        let mut zero = spec[0];
        zero.re = 0.0;
        zero.im = 0.0;
        let mut big = vec![zero; oh * ow];
        for ky in 0..h {
            let ty = spectral_targets(ky, h, oh);
            for kx in 0..w {
                let v = spec[ky * w + kx];
                for &(tx, wx) in &spectral_targets(kx, w, ow) {
                    for &(yy, wy) in &ty {
                        big[yy * ow + tx] += v * (wy * wx * gain);
                    }
                }
            }
        }
        data.extend(ifft2(&big, oh, ow)?.iter().map(|z| z.re as f32));
    }
    Ok(Img { h: oh, w: ow, data })
}

/// A mask plane as an 8-bit grey image.
pub(crate) fn mask_to_gray(mask: &[f32], n: usize) -> GrayImage {
    GrayImage::from_raw(
        n as u32,
        n as u32,
        mask.iter().map(|&m| quantize(m)).collect(),
    )
    .expect("buffer size matches")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Img {
        let mut data = Vec::new();
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    data.push(((x + 2 * y + c) % 7) as f32 / 7.0);
                }
            }
        }
        Img { h, w, data }
    }

    #[test]
    fn zero_insertion_has_checkerboard_gains() {
        let one = Img {
            h: 4,
            w: 4,
            data: vec![1.0; 48],
        };
        let up = zero_insertion_up(&one, 2);
        assert_eq!((up.h, up.w), (8, 8));
        // Interior: per-axis phase gains c = 2/2.2 (on a sample) and 2·0.6·c (between).
        let c = 2.0 / 2.2f32;
        let b = 1.2 * c;
        let g = |y: usize, x: usize| up.data[y * 8 + x];
        assert!((g(2, 2) - c * c).abs() < 1e-6);
        assert!((g(3, 2) - b * c).abs() < 1e-6);
        assert!((g(3, 3) - b * b).abs() < 1e-6);
        // Mean gain 1 over a period.
        let period = (g(2, 2) + g(2, 3) + g(3, 2) + g(3, 3)) / 4.0;
        assert!((period - 1.0).abs() < 1e-6);
    }

    #[test]
    fn fourier_up_keeps_mean_and_interpolates() {
        let img = ramp(6, 5);
        let up = fourier_up(&img, 12, 10).unwrap();
        for c in 0..3 {
            let m0: f32 = img.data[c * 30..(c + 1) * 30].iter().sum::<f32>() / 30.0;
            let m1: f32 = up.data[c * 120..(c + 1) * 120].iter().sum::<f32>() / 120.0;
            assert!((m0 - m1).abs() < 1e-5);
            // Pixel (0,0) of the input is a sample of the band-limited interpolant;
            // for odd sizes it is exact, for the even axis up to the Nyquist split.
        }
        let same = fourier_up(&img, 6, 5).unwrap();
        for (a, b) in same.data.iter().zip(&img.data) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn feather_is_normalised_and_compact() {
        let n = 20;
        let mut m = vec![0f32; n * n];
        m[10 * n + 10] = 1.0;
        let f = feather(&m, n, 1.0);
        let s: f32 = f.iter().sum();
        assert!((s - 1.0).abs() < 1e-5);
        assert_eq!(f[10 * n + 14], 0.0);
        assert!(f[10 * n + 13] > 0.0);
    }

    #[test]
    fn gaussian_blur_keeps_constants_and_smooths() {
        let flat = Img {
            h: 9,
            w: 7,
            data: vec![0.25; 3 * 63],
        };
        let b = gaussian_blur(&flat, 2.0);
        assert!(b.data.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let img = ramp(12, 12);
        let var = |x: &Img| {
            let m = x.data.iter().sum::<f32>() / x.data.len() as f32;
            x.data.iter().map(|v| (v - m).powi(2)).sum::<f32>() / x.data.len() as f32
        };
        let b = gaussian_blur(&img, 2.0);
        assert!(var(&b) < 0.2 * var(&img), "{} vs {}", var(&b), var(&img));
        assert_eq!(gaussian_blur(&img, 0.0), img);
    }

    #[test]
    fn hull_and_polygon_contain() {
        let hull = convex_hull(vec![
            (0.0, 0.0),
            (0.0, 4.0),
            (4.0, 4.0),
            (4.0, 0.0),
            (2.0, 2.0),
        ]);
        assert_eq!(hull.len(), 4);
        let p = Shape::Polygon(hull);
        assert!(p.contains(2.0, 2.0));
        assert!(!p.contains(5.0, 2.0));
    }
}
