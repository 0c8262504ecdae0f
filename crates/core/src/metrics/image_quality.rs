//! Image-quality metrics: [`psnr`] and [`ssim`] / [`ssim_tensor`] as scikit-image
//! computes them, and the watermark checks [`zncc`] (normalised correlation, NC) and
//! [`bit_error_rate`].

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::{check_finite_f32, check_same_len};
use crate::{bail_invalid, Result};

fn check_data_range(what: &str, data_range: f64) -> Result<()> {
    if !(data_range.is_finite() && data_range > 0.0) {
        bail_invalid!("{what}: data_range must be finite and > 0, got {data_range}");
    }
    Ok(())
}

/// Peak signal-to-noise ratio `10 log₁₀(data_range² / MSE)` in dB, as
/// scikit-image's `peak_signal_noise_ratio`. Identical inputs give `f64::INFINITY`.
///
/// Errors on empty input, length mismatch, non-finite values or a non-positive
/// `data_range`.
pub fn psnr(a: &[f32], b: &[f32], data_range: f64) -> Result<f64> {
    check_same_len("psnr", a.len(), b.len())?;
    check_finite_f32("psnr", "a", a)?;
    check_finite_f32("psnr", "b", b)?;
    check_data_range("psnr", data_range)?;
    let sse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    let mse = sse / a.len() as f64;
    if mse == 0.0 {
        return Ok(f64::INFINITY);
    }
    Ok(10.0 * ((data_range * data_range) / mse).log10())
}

/// Radius of the SSIM Gaussian window: `int(truncate · σ + 0.5)` with σ = 1.5 and
/// truncate = 3.5, as `scipy.ndimage.gaussian_filter` computes it.
const SSIM_RADIUS: usize = 5;
/// Side of the SSIM window (11); images must be at least this large.
const SSIM_WIN: usize = 2 * SSIM_RADIUS + 1;

/// The 11-tap Gaussian of `scipy.ndimage._gaussian_kernel1d(1.5, 0, 5)`,
/// reproduced operation by operation (Horner evaluation of the exponent and
/// numpy's pairwise sum of the 11 weights).
fn ssim_kernel() -> [f64; SSIM_WIN] {
    let sigma = 1.5f64;
    let c2 = -0.5 / (sigma * sigma);
    let mut k = [0.0f64; SSIM_WIN];
    for (i, w) in k.iter_mut().enumerate() {
        let x = i as f64 - SSIM_RADIUS as f64;
        *w = (c2 * x * x).exp();
    }
    // numpy pairwise_sum for 8 <= n <= 128: eight partial sums, combined as a tree,
    // then the remainder added one by one.
    let mut sum = ((k[0] + k[1]) + (k[2] + k[3])) + ((k[4] + k[5]) + (k[6] + k[7]));
    for w in &k[8..] {
        sum += w;
    }
    for w in k.iter_mut() {
        *w /= sum;
    }
    k
}

/// Mean SSIM of one `h × w` plane (row-major), skimage semantics.
///
/// skimage filters the whole image with mode 'reflect' and then averages the SSIM
/// map cropped by the filter radius on every side. Every value that survives the
/// crop is computed from in-bounds pixels only, so only that "valid" region is
/// filtered here (bit-for-bit the same taps, no boundary handling needed).
fn ssim_plane(a: &[f32], b: &[f32], h: usize, w: usize, c1: f64, c2: f64) -> f64 {
    let k = ssim_kernel();
    let r = SSIM_RADIUS;
    let n = h * w;
    let oh = h - 2 * r;
    let ow = w - 2 * r;

    // Inputs of the five filters: a, b, a², b², ab (f64 products, as skimage on f64).
    let mut maps = vec![0.0f64; 5 * n];
    {
        let (ma, rest) = maps.split_at_mut(n);
        let (mb, rest) = rest.split_at_mut(n);
        let (maa, rest) = rest.split_at_mut(n);
        let (mbb, mab) = rest.split_at_mut(n);
        for i in 0..n {
            let x = a[i] as f64;
            let y = b[i] as f64;
            ma[i] = x;
            mb[i] = y;
            maa[i] = x * x;
            mbb[i] = y * y;
            mab[i] = x * y;
        }
    }

    // Separable correlation: axis 0 (rows) first, then axis 1, as gaussian_filter
    // does; scipy's symmetric-kernel loop is `x[0]·w0 + Σ_{j=r..1} (x[-j] + x[j])·w_j`.
    let mut tmp = vec![0.0f64; oh * w];
    let mut filtered = vec![0.0f64; 5 * oh * ow];
    for (m, out) in maps.chunks_exact(n).zip(filtered.chunks_exact_mut(oh * ow)) {
        for oi in 0..oh {
            let i = oi + r;
            let dst = &mut tmp[oi * w..(oi + 1) * w];
            let centre = &m[i * w..(i + 1) * w];
            for (d, &c) in dst.iter_mut().zip(centre) {
                *d = c * k[r];
            }
            for j in (1..=r).rev() {
                let up = &m[(i - j) * w..(i - j + 1) * w];
                let down = &m[(i + j) * w..(i + j + 1) * w];
                let wj = k[r + j];
                for ((d, &u), &v) in dst.iter_mut().zip(up).zip(down) {
                    *d += (u + v) * wj;
                }
            }
        }
        for oi in 0..oh {
            let row = &tmp[oi * w..(oi + 1) * w];
            let dst = &mut out[oi * ow..(oi + 1) * ow];
            for (oj, d) in dst.iter_mut().enumerate() {
                let jc = oj + r;
                let mut s = row[jc] * k[r];
                for j in (1..=r).rev() {
                    s += (row[jc - j] + row[jc + j]) * k[r + j];
                }
                *d = s;
            }
        }
    }

    let on = oh * ow;
    let (ux, rest) = filtered.split_at(on);
    let (uy, rest) = rest.split_at(on);
    let (uxx, rest) = rest.split_at(on);
    let (uyy, uxy) = rest.split_at(on);
    let mut total = 0.0f64;
    for i in 0..on {
        let (mx, my) = (ux[i], uy[i]);
        let vx = uxx[i] - mx * mx;
        let vy = uyy[i] - my * my;
        let vxy = uxy[i] - mx * my;
        let a1 = 2.0 * mx * my + c1;
        let a2 = 2.0 * vxy + c2;
        let b1 = mx * mx + my * my + c1;
        let b2 = vx + vy + c2;
        total += (a1 * a2) / (b1 * b2);
    }
    total / on as f64
}

/// Structural similarity of two planar `C × H × W` images (row-major planes),
/// matching scikit-image's
/// `structural_similarity(a, b, data_range=data_range, gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False, channel_axis=0)`: 11-tap Gaussian
/// window (σ = 1.5, truncate 3.5), K1 = 0.01, K2 = 0.03, SSIM map cropped by 5
/// pixels on each border, mean over pixels and then over channels.
///
/// Errors when `channels == 0`, `height` or `width` < 11, a buffer length is not
/// `channels · height · width`, a value is not finite, or `data_range` is not > 0.
pub fn ssim(
    a: &[f32],
    b: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    data_range: f64,
) -> Result<f64> {
    if channels == 0 {
        bail_invalid!("ssim: channels must be > 0");
    }
    if height < SSIM_WIN || width < SSIM_WIN {
        bail_invalid!(
            "ssim: image is {height}x{width}, but both sides must be at least {SSIM_WIN} (the Gaussian window)"
        );
    }
    let plane = height
        .checked_mul(width)
        .and_then(|p| p.checked_mul(channels).map(|t| (p, t)));
    let Some((plane, total)) = plane else {
        bail_invalid!("ssim: image size {channels}x{height}x{width} overflows");
    };
    if a.len() != total || b.len() != total {
        bail_invalid!(
            "ssim: buffers have {} and {} values, expected {channels}x{height}x{width} = {total}",
            a.len(),
            b.len()
        );
    }
    check_finite_f32("ssim", "a", a)?;
    check_finite_f32("ssim", "b", b)?;
    check_data_range("ssim", data_range)?;
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    let per_channel: Vec<f64> = a
        .par_chunks_exact(plane)
        .zip(b.par_chunks_exact(plane))
        .map(|(pa, pb)| ssim_plane(pa, pb, height, width, c1, c2))
        .collect();
    Ok(per_channel.iter().sum::<f64>() / channels as f64)
}

/// [`ssim`] on candle tensors of shape `(C, H, W)` or `(H, W)` (any float dtype;
/// converted to `f32`). Both tensors must have the same shape.
pub fn ssim_tensor(a: &Tensor, b: &Tensor, data_range: f64) -> Result<f64> {
    if a.dims() != b.dims() {
        bail_invalid!(
            "ssim_tensor: shape mismatch ({:?} vs {:?})",
            a.dims(),
            b.dims()
        );
    }
    let (c, h, w) = match *a.dims() {
        [h, w] => (1, h, w),
        [c, h, w] => (c, h, w),
        ref d => {
            bail_invalid!("ssim_tensor: expected a (C, H, W) or (H, W) tensor, got shape {d:?}")
        }
    };
    let va = a.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let vb = b.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    ssim(&va, &vb, c, h, w, data_range)
}

/// Zero-mean normalised cross-correlation
/// `Σ(a−ā)(b−b̄) / √(Σ(a−ā)² Σ(b−b̄)²)`, in [−1, 1].
///
/// Errors on empty input, length mismatch, non-finite values, or when either
/// input is constant (the correlation is undefined).
pub fn zncc(a: &[f32], b: &[f32]) -> Result<f64> {
    check_same_len("zncc", a.len(), b.len())?;
    check_finite_f32("zncc", "a", a)?;
    check_finite_f32("zncc", "b", b)?;
    let n = a.len() as f64;
    let mean_a = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let mean_b = b.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let dx = x as f64 - mean_a;
        let dy = y as f64 - mean_b;
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let constant = |v: &[f32]| v.iter().all(|&x| x == v[0]);
    if saa == 0.0 || constant(a) {
        bail_invalid!("zncc: `a` is constant, correlation undefined");
    }
    if sbb == 0.0 || constant(b) {
        bail_invalid!("zncc: `b` is constant, correlation undefined");
    }
    Ok((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0))
}

/// Fraction of positions where the two bit strings differ.
///
/// Errors on empty input or length mismatch.
pub fn bit_error_rate(a: &[bool], b: &[bool]) -> Result<f64> {
    check_same_len("bit_error_rate", a.len(), b.len())?;
    let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
    Ok(diff as f64 / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::close;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn psnr_known_mse() {
        let a = vec![0.5f32; 100];
        let mut b = a.clone();
        for (i, v) in b.iter_mut().enumerate() {
            *v = if i % 2 == 0 { 0.75 } else { 0.25 };
        }
        // Differences of ±0.25 (exact in f32) → MSE 0.0625 → 10 log10(1 / 0.0625) dB.
        assert!(close(
            psnr(&a, &b, 1.0).unwrap(),
            10.0 * 16f64.log10(),
            1e-12
        ));
        assert!(close(
            psnr(&a, &b, 2.0).unwrap(),
            10.0 * 64f64.log10(),
            1e-12
        ));
        assert_eq!(psnr(&a, &a, 1.0).unwrap(), f64::INFINITY);
        assert!(psnr(&a, &b[..99], 1.0).is_err());
        assert!(psnr(&[], &[], 1.0).is_err());
        assert!(psnr(&a, &b, 0.0).is_err());
        assert!(psnr(&[f32::NAN], &[0.0], 1.0).is_err());
    }

    #[test]
    fn ssim_identical_and_bad_input() {
        let mut rng = StdRng::seed_from_u64(3);
        let (c, h, w) = (3, 16, 21);
        let a: Vec<f32> = (0..c * h * w).map(|_| rng.random::<f32>()).collect();
        assert!(close(ssim(&a, &a, c, h, w, 1.0).unwrap(), 1.0, 1e-12));
        let b: Vec<f32> = a
            .iter()
            .map(|x| (x + 0.1 * rng.random::<f32>()).min(1.0))
            .collect();
        let s = ssim(&a, &b, c, h, w, 1.0).unwrap();
        assert!(s < 1.0 && s > 0.0);
        // Symmetric.
        assert!(close(ssim(&b, &a, c, h, w, 1.0).unwrap(), s, 1e-12));
        // Per-channel mean.
        let plane = h * w;
        let mean: f64 = (0..c)
            .map(|k| {
                ssim(
                    &a[k * plane..(k + 1) * plane],
                    &b[k * plane..(k + 1) * plane],
                    1,
                    h,
                    w,
                    1.0,
                )
                .unwrap()
            })
            .sum::<f64>()
            / c as f64;
        assert!(close(mean, s, 1e-12));

        assert!(ssim(&a, &b, c, h, w - 1, 1.0).is_err());
        assert!(ssim(&a[..10], &b[..10], 1, 10, 1, 1.0).is_err());
        let small = vec![0.5f32; 10 * 20];
        assert!(ssim(&small, &small, 1, 10, 20, 1.0).is_err());
        assert!(ssim(&small, &small, 1, 20, 10, 1.0).is_err());
        assert!(ssim(&a, &b, 0, h, w, 1.0).is_err());
        assert!(ssim(&a, &b, c, h, w, -1.0).is_err());
        assert!(ssim(&a, &b, usize::MAX, usize::MAX, 11, 1.0).is_err());
        let mut bad = a.clone();
        bad[5] = f32::NAN;
        assert!(ssim(&a, &bad, c, h, w, 1.0).is_err());
    }

    #[test]
    fn ssim_tensor_shapes() {
        let dev = candle_core::Device::Cpu;
        let a = Tensor::rand(0f32, 1f32, (2, 12, 13), &dev).unwrap();
        let b = Tensor::rand(0f32, 1f32, (2, 12, 13), &dev).unwrap();
        let va = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let vb = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let expect = ssim(&va, &vb, 2, 12, 13, 1.0).unwrap();
        assert!(close(ssim_tensor(&a, &b, 1.0).unwrap(), expect, 1e-15));
        let a2 = a.get(0).unwrap();
        let b2 = b.get(0).unwrap();
        assert!(close(
            ssim_tensor(&a2, &b2, 1.0).unwrap(),
            ssim(&va[..156], &vb[..156], 1, 12, 13, 1.0).unwrap(),
            1e-15
        ));
        assert!(close(
            ssim_tensor(&a2, &a2.to_dtype(DType::F64).unwrap(), 1.0).unwrap(),
            1.0,
            1e-12
        ));
        assert!(ssim_tensor(&a, &b2, 1.0).is_err());
        let v = Tensor::zeros(200, DType::F32, &dev).unwrap();
        assert!(ssim_tensor(&v, &v, 1.0).is_err());
    }

    #[test]
    fn zncc_and_ber() {
        let a: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.1).collect();
        let b: Vec<f32> = a.iter().map(|x| 2.0 * x + 3.0).collect();
        assert!(close(zncc(&a, &b).unwrap(), 1.0, 1e-12));
        let c: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!(close(zncc(&a, &c).unwrap(), -1.0, 1e-12));
        assert!(zncc(&a, &[1.0; 50]).is_err());
        assert!(zncc(&[0.1; 50], &a).is_err());
        assert!(zncc(&a, &b[..3]).is_err());
        assert!(zncc(&[], &[]).is_err());
        assert!(zncc(&[0.0, f32::INFINITY], &[0.0, 1.0]).is_err());

        assert_eq!(
            bit_error_rate(&[true, false, true, true], &[true, true, false, true]).unwrap(),
            0.5
        );
        assert_eq!(bit_error_rate(&[true], &[true]).unwrap(), 0.0);
        assert!(bit_error_rate(&[], &[]).is_err());
        assert!(bit_error_rate(&[true], &[true, false]).is_err());
    }
}
