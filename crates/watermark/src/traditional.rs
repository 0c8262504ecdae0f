//! The traditional (bit) watermark: keyed additive spread spectrum in the spatial
//! domain, the paper's "traditional watermark" baseline (no code released; this is the
//! card's faithful simple proxy \[proposal\], after Cox et al. 1997).
//!
//! * **Patterns.** Bit k has a keyed pseudo-random pattern P_k ∈ {−1, +1}^(C·H·W),
//!   drawn from `SeededRng::derive(key, "bit/<k>")`.
//! * **Embedding.** With message bits s_k ∈ {−1, +1} (`true` = +1) and amplitude a,
//!   B′ = clip(B + a/√K · Σ_k s_k P_k, 0, 1). The sum of K independent ±1 patterns has
//!   unit variance after the 1/√K, so **a is the RMS change per pixel before
//!   clipping** (the card writes a·Σ s_k P_k; its a is ours divided by √K), and
//!   PSNR(B′, B) ≈ −20 log₁₀ a where nothing clips.
//! * **Extraction (blind).** The residual r = x − lowpass(x) (a (2ρ+1)² box mean per
//!   channel, edges replicated; ρ = 0 removes only each channel's mean) removes most
//!   of the host image;
//!   c_k = ⟨r, P_k⟩ / (C·H·W), and bit k is 1 iff c_k > 0. At zero noise the
//!   watermark contributes a/√K·(1 − 1/(2ρ+1)²) to c_k against interference of order
//!   a/√N from the other bits and σ_r/√N from the host residual (N = C·H·W), so the
//!   round trip is exact for any reasonable image size.
//! * **Score.** The bit error rate against the embedded message (BER); the decision
//!   uses 1 − BER ([`crate::eval::bit_score`]) so that the same calibrated rule
//!   (score above a threshold) applies to both schemes.
//! * **Fidelity matching.** [`match_psnr`] finds, by bisection on log a, the amplitude
//!   whose mean PSNR(B′, B) over a set of images is within a tolerance of a target —
//!   the deep scheme's PSNR in the reproduction, so the two schemes are compared at
//!   equal invisibility.

use candor_core::{bail_invalid, Result, SeededRng};
use rand::RngCore;
use rayon::prelude::*;

use crate::config::TraditionalConfig;
use crate::image::Image;

/// A keyed spread-spectrum watermark for images of one shape.
#[derive(Debug, Clone)]
pub struct SpreadSpectrum {
    shape: (usize, usize, usize),
    lowpass_radius: usize,
    /// Pattern of bit k at `patterns[k * n..(k + 1) * n]`, values ±1.
    patterns: Vec<i8>,
    bits: usize,
}

impl SpreadSpectrum {
    /// The patterns of `bits` bits under `key` for `channels × height × width` images;
    /// `lowpass_radius` as [`TraditionalConfig::lowpass_radius`].
    pub fn new(
        key: u64,
        bits: usize,
        lowpass_radius: usize,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        if bits == 0 {
            bail_invalid!("spread spectrum: need at least one bit");
        }
        if channels == 0 || height == 0 || width == 0 {
            bail_invalid!(
                "spread spectrum: image size must be positive, got {channels}x{height}x{width}"
            );
        }
        let n = channels * height * width;
        let mut patterns = vec![0i8; bits * n];
        patterns
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(k, p)| fill_signs(p, &mut SeededRng::derive(key, &format!("bit/{k}"))));
        Ok(Self {
            shape: (channels, height, width),
            lowpass_radius,
            patterns,
            bits,
        })
    }

    /// [`new`](Self::new) with the key, bit count and low-pass of `cfg`.
    pub fn from_config(
        cfg: &TraditionalConfig,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        Self::new(
            cfg.key,
            cfg.bits,
            cfg.lowpass_radius,
            channels,
            height,
            width,
        )
    }

    /// Number of bits K.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `(C, H, W)` of the images this key works on.
    pub fn shape(&self) -> (usize, usize, usize) {
        self.shape
    }

    fn pattern(&self, k: usize) -> &[i8] {
        let n = self.len();
        &self.patterns[k * n..(k + 1) * n]
    }

    fn len(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    fn check_image(&self, image: &Image, what: &str) -> Result<()> {
        if image.shape() != self.shape {
            let (c, h, w) = self.shape;
            let (ic, ih, iw) = image.shape();
            bail_invalid!(
                "{what}: image is {ic}x{ih}x{iw} but the key was made for {c}x{h}x{w} (CxHxW)"
            );
        }
        Ok(())
    }

    /// The unit-variance spreading signal Σ_k s_k P_k / √K of `message`.
    pub fn signal(&self, message: &[bool]) -> Result<Vec<f32>> {
        if message.len() != self.bits {
            bail_invalid!(
                "spread spectrum: message has {} bits, the key has {}",
                message.len(),
                self.bits
            );
        }
        let n = self.len();
        let mut sum = vec![0i32; n];
        for (k, &bit) in message.iter().enumerate() {
            let s = if bit { 1 } else { -1 };
            for (acc, &p) in sum.iter_mut().zip(self.pattern(k)) {
                *acc += s * p as i32;
            }
        }
        let scale = 1.0 / (self.bits as f64).sqrt();
        Ok(sum.iter().map(|&v| (v as f64 * scale) as f32).collect())
    }

    /// B′ = clip(B + amplitude · signal(message), 0, 1).
    pub fn embed(&self, image: &Image, message: &[bool], amplitude: f64) -> Result<Image> {
        self.check_image(image, "spread spectrum embed")?;
        let signal = self.signal(message)?;
        embed_signal(image, &signal, amplitude)
    }

    /// The correlations c_k = ⟨x − lowpass(x), P_k⟩ / N, one per bit.
    pub fn correlations(&self, image: &Image) -> Result<Vec<f64>> {
        self.check_image(image, "spread spectrum extract")?;
        let residual = highpass(image, self.lowpass_radius);
        let n = self.len() as f64;
        Ok((0..self.bits)
            .into_par_iter()
            .map(|k| {
                residual
                    .iter()
                    .zip(self.pattern(k))
                    .map(|(&r, &p)| r * p as f64)
                    .sum::<f64>()
                    / n
            })
            .collect())
    }

    /// The extracted bits: bit k is 1 iff c_k > 0.
    pub fn extract(&self, image: &Image) -> Result<Vec<bool>> {
        Ok(self.correlations(image)?.iter().map(|&c| c > 0.0).collect())
    }
}

/// Fills `out` with ±1 from `rng`, 64 signs per draw.
fn fill_signs(out: &mut [i8], rng: &mut SeededRng) {
    for chunk in out.chunks_mut(64) {
        let bits = rng.next_u64();
        for (i, v) in chunk.iter_mut().enumerate() {
            *v = if (bits >> i) & 1 == 1 { 1 } else { -1 };
        }
    }
}

fn embed_signal(image: &Image, signal: &[f32], amplitude: f64) -> Result<Image> {
    if !(amplitude.is_finite() && amplitude >= 0.0) {
        bail_invalid!("spread spectrum: amplitude must be finite and ≥ 0, got {amplitude}");
    }
    let a = amplitude as f32;
    let data = image
        .data()
        .iter()
        .zip(signal)
        .map(|(&x, &s)| (x + a * s).clamp(0.0, 1.0))
        .collect();
    let (c, h, w) = image.shape();
    Image::new(c, h, w, data)
}

/// x − box_mean_ρ(x) per channel, with replicated edges (ρ = 0: x minus each
/// channel's mean).
fn highpass(image: &Image, radius: usize) -> Vec<f64> {
    let (c, h, w) = image.shape();
    let mut x: Vec<f64> = image.data().iter().map(|&v| v as f64).collect();
    if radius == 0 {
        for plane in x.chunks_exact_mut(h * w) {
            let mean = plane.iter().sum::<f64>() / (h * w) as f64;
            plane.iter_mut().for_each(|v| *v -= mean);
        }
        return x;
    }
    let r = radius as isize;
    let clampi = |v: isize, hi: usize| v.clamp(0, hi as isize - 1) as usize;
    let n = h * w;
    let mut out = vec![0.0; c * n];
    let mut tmp = vec![0.0; n];
    let norm = 1.0 / ((2 * radius + 1) as f64).powi(2);
    for ch in 0..c {
        let plane = &x[ch * n..(ch + 1) * n];
        // Horizontal box sum, then vertical.
        for y in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for d in -r..=r {
                    s += plane[y * w + clampi(xx as isize + d, w)];
                }
                tmp[y * w + xx] = s;
            }
        }
        for y in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for d in -r..=r {
                    s += tmp[clampi(y as isize + d, h) * w + xx];
                }
                out[ch * n + y * w + xx] = plane[y * w + xx] - s * norm;
            }
        }
    }
    out
}

/// Result of [`match_psnr`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AmplitudeMatch {
    /// The amplitude a found.
    pub amplitude: f64,
    /// Mean PSNR(B′, B) over the images at that amplitude, dB.
    pub mean_psnr: f64,
    /// The target, dB.
    pub target_psnr: f64,
    /// Bisection steps taken.
    pub iterations: usize,
}

/// Mean PSNR(B′, B) (dB, data range 1) over `images` when `message` is embedded with
/// `amplitude`. An image left unchanged (PSNR = ∞) makes the mean ∞.
pub fn mean_psnr(
    scheme: &SpreadSpectrum,
    images: &[Image],
    message: &[bool],
    amplitude: f64,
) -> Result<f64> {
    if images.is_empty() {
        bail_invalid!("mean PSNR: no images");
    }
    for im in images {
        scheme.check_image(im, "mean PSNR")?;
    }
    let signal = scheme.signal(message)?;
    let psnrs: Vec<f64> = images
        .par_iter()
        .map(|im| {
            let marked = embed_signal(im, &signal, amplitude)?;
            candor_core::metrics::psnr(marked.data(), im.data(), 1.0)
        })
        .collect::<Result<_>>()?;
    Ok(psnrs.iter().sum::<f64>() / psnrs.len() as f64)
}

/// The amplitude at which the mean PSNR(B′, B) over `images` is within `tolerance_db`
/// of `target_psnr`: bisection on log₁₀ a over [1e-6, 1] (the PSNR falls monotonically
/// with a, since clipping never moves a pixel back towards B), stopped once within a
/// tenth of the tolerance or after 100 steps; an `Err` if the target is outside what
/// [1e-6, 1] reaches or the tolerance was not met.
pub fn match_psnr(
    scheme: &SpreadSpectrum,
    images: &[Image],
    message: &[bool],
    target_psnr: f64,
    tolerance_db: f64,
) -> Result<AmplitudeMatch> {
    if !target_psnr.is_finite() {
        bail_invalid!("match_psnr: target PSNR must be finite, got {target_psnr}");
    }
    if !(tolerance_db.is_finite() && tolerance_db > 0.0) {
        bail_invalid!("match_psnr: tolerance must be > 0 dB, got {tolerance_db}");
    }
    let psnr_at = |log_a: f64| mean_psnr(scheme, images, message, 10f64.powf(log_a));
    let (mut lo, mut hi) = (-6.0f64, 0.0f64);
    let (p_lo, p_hi) = (psnr_at(lo)?, psnr_at(hi)?);
    if p_lo < target_psnr {
        bail_invalid!(
            "match_psnr: target {target_psnr:.2} dB is above what amplitude 1e-6 gives ({p_lo:.2} dB)"
        );
    }
    if p_hi > target_psnr {
        bail_invalid!(
            "match_psnr: target {target_psnr:.2} dB is below what amplitude 1 gives ({p_hi:.2} dB)"
        );
    }
    let mut best = (f64::INFINITY, 0.0, 0.0); // (|error|, log a, psnr)
    for it in 1..=100 {
        let mid = 0.5 * (lo + hi);
        let p = psnr_at(mid)?;
        let err = (p - target_psnr).abs();
        if err < best.0 {
            best = (err, mid, p);
        }
        if err <= 0.1 * tolerance_db {
            return Ok(AmplitudeMatch {
                amplitude: 10f64.powf(mid),
                mean_psnr: p,
                target_psnr,
                iterations: it,
            });
        }
        if p > target_psnr {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if best.0 <= tolerance_db {
        return Ok(AmplitudeMatch {
            amplitude: 10f64.powf(best.1),
            mean_psnr: best.2,
            target_psnr,
            iterations: 100,
        });
    }
    bail_invalid!(
        "match_psnr: could not reach {target_psnr:.2} dB within {tolerance_db} dB (closest {:.2} dB)",
        best.2
    )
}
