//! 2-D FFT (rustfft), the SPSL phase spectrum and the amplitude spectrum.
//!
//! Planes are row-major `H × W`. Arithmetic is f64 throughout, so results match numpy's
//! `np.fft.fft2` to rounding. Tensors are processed one `(H, W)` plane at a time, never
//! across the batch (DeepfakeBench v1 transformed the whole `B×1×H×W` batch, mixing
//! images; see `shared/papers/forgery-spsl.md`).

use std::cell::RefCell;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use crate::{Error, Result};

thread_local! {
    static PLANNER: RefCell<FftPlanner<f64>> = RefCell::new(FftPlanner::new());
}

fn plans(n: usize) -> (Arc<dyn Fft<f64>>, Arc<dyn Fft<f64>>) {
    PLANNER.with(|p| {
        let mut p = p.borrow_mut();
        (p.plan_fft_forward(n), p.plan_fft_inverse(n))
    })
}

fn check_plane(len: usize, h: usize, w: usize) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(Error::invalid(format!("empty plane {h}×{w}")));
    }
    if len != h * w {
        return Err(Error::invalid(format!(
            "plane of {len} values is not {h}×{w}"
        )));
    }
    Ok(())
}

fn transpose(src: &[Complex64], dst: &mut [Complex64], rows: usize, cols: usize) {
    const B: usize = 16;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// The spectrum of a real plane, kept **transposed** (`W × H`) to save two transposes
/// when it is transformed back by [`inverse_from_transposed`].
fn forward_transposed(plane: &[f64], h: usize, w: usize) -> Vec<Complex64> {
    let (fw, _) = plans(w);
    let (fh, _) = plans(h);
    let mut rows: Vec<Complex64> = plane.iter().map(|&v| Complex64::new(v, 0.0)).collect();
    fw.process(&mut rows);
    let mut cols = vec![Complex64::default(); h * w];
    transpose(&rows, &mut cols, h, w);
    fh.process(&mut cols);
    cols
}

/// Inverse of [`forward_transposed`], normalised by `1/(H·W)` as `numpy.fft.ifft2`.
fn inverse_from_transposed(mut cols: Vec<Complex64>, h: usize, w: usize) -> Vec<Complex64> {
    let (_, iw) = plans(w);
    let (_, ih) = plans(h);
    ih.process(&mut cols);
    let mut rows = vec![Complex64::default(); h * w];
    transpose(&cols, &mut rows, w, h);
    iw.process(&mut rows);
    let s = 1.0 / (h * w) as f64;
    rows.iter_mut().for_each(|z| *z *= s);
    rows
}

/// `numpy.fft.fft2` of a real `H × W` plane (row-major output).
pub fn fft2(plane: &[f64], h: usize, w: usize) -> Result<Vec<Complex64>> {
    check_plane(plane.len(), h, w)?;
    check_finite(plane.iter().copied())?;
    let t = forward_transposed(plane, h, w);
    let mut out = vec![Complex64::default(); h * w];
    transpose(&t, &mut out, w, h);
    Ok(out)
}

/// `numpy.fft.ifft2` of an `H × W` spectrum (row-major), normalised by `1/(H·W)`.
pub fn ifft2(spectrum: &[Complex64], h: usize, w: usize) -> Result<Vec<Complex64>> {
    check_plane(spectrum.len(), h, w)?;
    let mut t = vec![Complex64::default(); h * w];
    transpose(spectrum, &mut t, h, w);
    Ok(inverse_from_transposed(t, h, w))
}

fn check_finite(mut it: impl Iterator<Item = f64>) -> Result<()> {
    if it.any(|v| !v.is_finite()) {
        return Err(Error::invalid("plane contains NaN or infinite values"));
    }
    Ok(())
}

fn phase_f64(plane: &[f64], h: usize, w: usize) -> Vec<f32> {
    let mut spec = forward_transposed(plane, h, w);
    for z in spec.iter_mut() {
        // exp(i·atan2(im, re)); atan2(0, 0) = 0 gives 1 for empty bins, as numpy/PyTorch.
        let n = z.norm();
        *z = if n > 0.0 {
            *z / n
        } else {
            Complex64::new(1.0, 0.0)
        };
    }
    inverse_from_transposed(spec, h, w)
        .iter()
        .map(|z| z.re as f32)
        .collect()
}

/// The phase spectrum of one plane: `Re(IFFT2(exp(i·arg FFT2(x))))`, the inverse
/// normalised by `1/(H·W)`: exactly SPSL's phase channel (no fftshift, log or rescale).
/// Its RMS is `1/sqrt(H·W)` for every input (Parseval).
pub fn phase_spectrum(plane: &[f32], h: usize, w: usize) -> Result<Vec<f32>> {
    check_plane(plane.len(), h, w)?;
    check_finite(plane.iter().map(|&v| v as f64))?;
    let p: Vec<f64> = plane.iter().map(|&v| v as f64).collect();
    Ok(phase_f64(&p, h, w))
}

/// The amplitude spectrum `|FFT2(x)|` of one plane (row-major, not shifted, not logged).
pub fn amplitude_spectrum(plane: &[f32], h: usize, w: usize) -> Result<Vec<f32>> {
    let p: Vec<f64> = plane.iter().map(|&v| v as f64).collect();
    Ok(fft2(&p, h, w)?.iter().map(|z| z.norm() as f32).collect())
}

fn per_plane(x: &Tensor, f: fn(&[f32], usize, usize) -> Result<Vec<f32>>) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(Error::invalid(format!(
            "expected a tensor of rank ≥ 2 (…, H, W), got shape {dims:?}"
        )));
    }
    let (h, w) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let data = x
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    if data.is_empty() {
        return Err(Error::invalid(format!("empty tensor of shape {dims:?}")));
    }
    let out: Vec<Vec<f32>> = data
        .par_chunks(h * w)
        .map(|plane| f(plane, h, w))
        .collect::<Result<_>>()?;
    let out: Vec<f32> = out.into_iter().flatten().collect();
    Ok(Tensor::from_vec(out, dims, &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?)
}

/// [`phase_spectrum`] of every `(H, W)` plane of a tensor of shape `(…, H, W)`
/// (one image, `C×H×W`, or a batch `B×C×H×W`), planes in parallel; same shape out.
pub fn phase_spectrum_tensor(x: &Tensor) -> Result<Tensor> {
    per_plane(x, phase_spectrum)
}

/// [`amplitude_spectrum`] of every `(H, W)` plane of a tensor of shape `(…, H, W)`.
pub fn amplitude_spectrum_tensor(x: &Tensor) -> Result<Tensor> {
    per_plane(x, amplitude_spectrum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn random_plane(h: usize, w: usize, seed: u64) -> Vec<f32> {
        let mut r = SeededRng::new(seed);
        (0..h * w).map(|_| r.uniform() as f32).collect()
    }

    #[test]
    fn fft_roundtrip() {
        let (h, w) = (7, 12);
        let x: Vec<f64> = random_plane(h, w, 1).iter().map(|&v| v as f64).collect();
        let y = ifft2(&fft2(&x, h, w).unwrap(), h, w).unwrap();
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b.re).abs() < 1e-12 && b.im.abs() < 1e-12);
        }
    }

    #[test]
    fn fft_matches_dft() {
        let (h, w) = (3, 5);
        let x: Vec<f64> = (0..15).map(|i| (i as f64 * 0.37).sin()).collect();
        let y = fft2(&x, h, w).unwrap();
        for k in 0..h {
            for l in 0..w {
                let mut s = Complex64::default();
                for m in 0..h {
                    for n in 0..w {
                        let ang = -2.0
                            * std::f64::consts::PI
                            * ((k * m) as f64 / h as f64 + (l * n) as f64 / w as f64);
                        s += x[m * w + n] * Complex64::new(ang.cos(), ang.sin());
                    }
                }
                assert!((s - y[k * w + l]).norm() < 1e-12);
            }
        }
    }

    #[test]
    fn phase_rms_is_one_over_sqrt_hw() {
        for (h, w) in [(16, 16), (9, 14), (32, 20)] {
            let p = phase_spectrum(&random_plane(h, w, 3), h, w).unwrap();
            let rms = (p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / (h * w) as f64).sqrt();
            let want = 1.0 / ((h * w) as f64).sqrt();
            assert!((rms - want).abs() < 1e-6 * want.max(1.0), "{rms} vs {want}");
        }
    }

    #[test]
    fn phase_scale_invariant_and_impulse() {
        let (h, w) = (10, 13);
        let x = random_plane(h, w, 4);
        let p1 = phase_spectrum(&x, h, w).unwrap();
        let x3: Vec<f32> = x.iter().map(|v| v * 3.5).collect();
        let p2 = phase_spectrum(&x3, h, w).unwrap();
        for (a, b) in p1.iter().zip(&p2) {
            assert!((a - b).abs() < 1e-6);
        }
        let mut imp = vec![0.0f32; h * w];
        imp[3 * w + 5] = 2.0;
        let p = phase_spectrum(&imp, h, w).unwrap();
        for (i, v) in p.iter().enumerate() {
            let want = if i == 3 * w + 5 { 1.0 } else { 0.0 };
            assert!((v - want).abs() < 1e-6, "{i}: {v}");
        }
    }

    #[test]
    fn batch_equals_per_plane() {
        let (b, c, h, w) = (3, 2, 6, 9);
        let data = random_plane(b * c * h, w, 5);
        let t = Tensor::from_vec(data.clone(), (b, c, h, w), &Device::Cpu).unwrap();
        let p = phase_spectrum_tensor(&t).unwrap();
        assert_eq!(p.dims(), &[b, c, h, w]);
        let pv = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for i in 0..b * c {
            let one = phase_spectrum(&data[i * h * w..(i + 1) * h * w], h, w).unwrap();
            assert_eq!(&pv[i * h * w..(i + 1) * h * w], &one[..]);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(phase_spectrum(&[], 0, 0).is_err());
        assert!(phase_spectrum(&[1.0, 2.0], 2, 2).is_err());
        assert!(phase_spectrum(&[1.0, f32::NAN, 0.0, 0.0], 2, 2).is_err());
        let t = Tensor::zeros((4,), DType::F32, &Device::Cpu).unwrap();
        assert!(phase_spectrum_tensor(&t).is_err());
    }
}
