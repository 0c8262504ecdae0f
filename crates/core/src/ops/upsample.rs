//! Bilinear up/down-sampling of `(N, C, H, W)` tensors with gradients, as
//! `torch.nn.functional.interpolate(mode="bilinear", align_corners=…)` given an output size.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::backend::{route_with_cuda, Candle, Route};
use super::kernel::{alloc_for_overwrite, dispatch, multiversion, out, slice, Real};
use crate::{Error, Result};

/// Source taps of one output index along an axis: `(i0, i1, λ0, λ1)`.
type Tap = (usize, usize, f64, f64);

/// The [`Tap`] of every output index along an axis.
fn taps(len_in: usize, len_out: usize, align_corners: bool) -> Vec<Tap> {
    (0..len_out)
        .map(|o| {
            let src = if align_corners {
                if len_out > 1 {
                    o as f64 * (len_in - 1) as f64 / (len_out - 1) as f64
                } else {
                    0.0
                }
            } else {
                ((o as f64 + 0.5) * len_in as f64 / len_out as f64 - 0.5).max(0.0)
            };
            let i0 = (src.floor() as usize).min(len_in - 1);
            let i1 = if i0 + 1 < len_in { i0 + 1 } else { i0 };
            let l1 = src - i0 as f64;
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// A [`Tap`] with its weights in the tensor's float type.
type TapT<T> = (usize, usize, T, T);

/// The [`TapT`] of a [`Tap`]: its weights rounded once, as every use would round them.
fn tap_t<T: Real>((i0, i1, l0, l1): Tap) -> TapT<T> {
    (i0, i1, <T as Real>::from_f64(l0), <T as Real>::from_f64(l1))
}

/// One plane's bilinear resampling, separably: each needed input row is interpolated
/// along `x` once (`r[j] = b0·x[x0] + b1·x[x1]`), and each output row blends two such
/// rows (`y = a0·r[y0] + a1·r[y1]`). These are the operations, in the order, of the direct
/// formula `a0·(b0·x00 + b1·x01) + a1·(b0·x10 + b1·x11)`, so the result is the same bits;
/// the row blend vectorises and each input row's gathers run once, not once per output
/// row that reads it.
fn resample_plane<T: Real>(
    yp: &mut [T],
    xp: &[T],
    w: usize,
    ty: &[TapT<T>],
    (tx, gather): (&[TapT<T>], Option<&GatherTaps>),
) {
    let ow = tx.len();
    // The two most recently interpolated rows: (input row, values). Output rows read
    // input rows in non-decreasing order, so two slots hold every row still needed.
    let mut held = [usize::MAX; 2];
    let mut rows = [vec![T::ZERO; ow], vec![T::ZERO; ow]];
    for (yrow, &(y0, y1, a0, a1)) in yp.chunks_exact_mut(ow).zip(ty) {
        let s0 = match held.iter().position(|&r| r == y0) {
            Some(s) => s,
            None => {
                let s = usize::from(held[0] == y1);
                lerp_row(&mut rows[s], &xp[y0 * w..][..w], tx, gather);
                held[s] = y0;
                s
            }
        };
        let s1 = match held.iter().position(|&r| r == y1) {
            Some(s) => s,
            None => {
                let s = 1 - s0;
                lerp_row(&mut rows[s], &xp[y1 * w..][..w], tx, gather);
                held[s] = y1;
                s
            }
        };
        blend_rows_mv(yrow, &rows[s0], &rows[s1], a0, a1);
    }
}

/// `r[j] = b0·x[x0] + b1·x[x1]` for each column tap `(x0, x1, b0, b1)`: with AVX-512
/// gathers for f32 where the CPU has them, the same products and sum.
#[inline]
fn lerp_row<T: Real>(r: &mut [T], x: &[T], tx: &[TapT<T>], gather: Option<&GatherTaps>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(gt) = gather {
        assert!(r.len() == gt.b0.len() && gt.max_index < x.len());
        let (r, x) = (super::kernel::as_f32_mut(r), super::kernel::as_f32(x));
        // SAFETY: the CPU has AVX-512 (GatherTaps::new checked); every index is below
        // x.len() (asserted).
        unsafe { gather_row(r, x, gt) };
        return;
    }
    let _ = gather;
    for (o, &(x0, x1, b0, b1)) in r.iter_mut().zip(tx) {
        *o = b0 * x[x0] + b1 * x[x1];
    }
}

/// The column taps as AVX-512 gather operands (f32): indices and weights, one array each.
struct GatherTaps {
    i0: Vec<i32>,
    i1: Vec<i32>,
    b0: Vec<f32>,
    b1: Vec<f32>,
    max_index: usize,
}

impl GatherTaps {
    /// The operands, where `T` is f32, the CPU has AVX-512 and the row fits `i32`.
    fn new<T: Real>(tx: &[TapT<T>], w: usize) -> Option<GatherTaps> {
        if !super::kernel::use_avx512::<T>() || i32::try_from(w).is_err() {
            return None;
        }
        Some(GatherTaps {
            i0: tx.iter().map(|t| t.0 as i32).collect(),
            i1: tx.iter().map(|t| t.1 as i32).collect(),
            b0: tx.iter().map(|t| <T as Real>::to_f64(t.2) as f32).collect(),
            b1: tx.iter().map(|t| <T as Real>::to_f64(t.3) as f32).collect(),
            max_index: tx.iter().map(|t| t.0.max(t.1)).max().unwrap_or(0),
        })
    }
}

/// [`lerp_row`] for f32, sixteen columns per step: two gathers, two products, one sum.
///
/// # Safety
/// The CPU has AVX-512F; `r.len() == gt.b0.len()` and every index in `gt` is below
/// `x.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::incompatible_msrv)]
unsafe fn gather_row(r: &mut [f32], x: &[f32], gt: &GatherTaps) {
    use std::arch::x86_64::*;
    let n = r.len();
    let mut j = 0;
    while j + 16 <= n {
        // SAFETY: j + 16 ≤ n, the length of r and of every tap array; the gathered
        // indices are in x (the caller's contract).
        unsafe {
            let i0 = _mm512_loadu_si512(gt.i0.as_ptr().add(j) as *const _);
            let i1 = _mm512_loadu_si512(gt.i1.as_ptr().add(j) as *const _);
            let x0 = _mm512_i32gather_ps::<4>(i0, x.as_ptr());
            let x1 = _mm512_i32gather_ps::<4>(i1, x.as_ptr());
            let p0 = _mm512_mul_ps(_mm512_loadu_ps(gt.b0.as_ptr().add(j)), x0);
            let p1 = _mm512_mul_ps(_mm512_loadu_ps(gt.b1.as_ptr().add(j)), x1);
            _mm512_storeu_ps(r.as_mut_ptr().add(j), _mm512_add_ps(p0, p1));
        }
        j += 16;
    }
    for j in j..n {
        let (x0, x1) = (x[gt.i0[j] as usize], x[gt.i1[j] as usize]);
        r[j] = gt.b0[j] * x0 + gt.b1[j] * x1;
    }
}

/// `y = a0·r0 + a1·r1`.
#[inline(always)]
fn blend_rows<T: Real>(y: &mut [T], r0: &[T], r1: &[T], a0: T, a1: T) {
    for ((o, &u), &v) in y.iter_mut().zip(r0).zip(r1) {
        *o = a0 * u + a1 * v;
    }
}

multiversion!(blend_rows_mv => blend_rows(y: &mut [T], r0: &[T], r1: &[T], a0: T, a1: T));

#[derive(Clone, Copy)]
struct Up {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    align: bool,
}

struct UpBwd(Up);

impl Up {
    /// The row and column taps of this resampling.
    #[cfg(feature = "cuda")]
    fn axis_taps(&self) -> (Vec<Tap>, Vec<Tap>) {
        (
            taps(self.h, self.oh, self.align),
            taps(self.w, self.ow, self.align),
        )
    }
}

impl CustomOp1 for Up {
    fn name(&self) -> &'static str {
        "candor-upsample-bilinear2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = l.dims();
        let Up {
            h,
            w,
            oh,
            ow,
            align,
        } = *self;
        let (ty, tx) = (taps(h, oh, align), taps(w, ow, align));
        dispatch!(s, "upsample_bilinear2d", |T| {
            let x = slice::<T>(s, l)?;
            let ty: Vec<TapT<T>> = ty.iter().map(|&t| tap_t(t)).collect();
            let tx: Vec<TapT<T>> = tx.iter().map(|&t| tap_t(t)).collect();
            // SAFETY: every output pixel of every plane is written below.
            let mut y = unsafe { alloc_for_overwrite::<T>(d[0] * d[1] * oh * ow) };
            let gather = GatherTaps::new(&tx, w);
            y.par_chunks_mut(oh * ow).enumerate().for_each(|(pl, yp)| {
                let cols = (&tx[..], gather.as_ref());
                resample_plane(yp, &x[pl * h * w..][..h * w], w, &ty, cols);
            });
            Ok(out(T::wrap(y), (d[0], d[1], oh, ow)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let d = l.dims();
        let (ty, tx) = self.axis_taps();
        let y = super::cuda::upsample_fwd((s, l), d[0] * d[1], (self.h, self.w), &ty, &tx)?;
        Ok((y, (d[0], d[1], self.oh, self.ow).into()))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(&UpBwd(*self))?))
    }
}

impl CustomOp1 for UpBwd {
    fn name(&self) -> &'static str {
        "candor-upsample-bilinear2d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = l.dims();
        let Up {
            h,
            w,
            oh,
            ow,
            align,
        } = self.0;
        let (ty, tx) = (taps(h, oh, align), taps(w, ow, align));
        dispatch!(s, "upsample_bilinear2d backward", |T| {
            let dy = slice::<T>(s, l)?;
            let ty: Vec<TapT<T>> = ty.iter().map(|&t| tap_t(t)).collect();
            let tx: Vec<TapT<T>> = tx.iter().map(|&t| tap_t(t)).collect();
            // SAFETY: each plane is zeroed in its task before the taps add into it.
            let mut dx = unsafe { alloc_for_overwrite::<T>(d[0] * d[1] * h * w) };
            dx.par_chunks_mut(h * w).enumerate().for_each(|(pl, dxp)| {
                dxp.fill(T::ZERO);
                let dyp = &dy[pl * oh * ow..][..oh * ow];
                for (i, &(y0, y1, a0, a1)) in ty.iter().enumerate() {
                    for (j, &(x0, x1, b0, b1)) in tx.iter().enumerate() {
                        let g = dyp[i * ow + j];
                        dxp[y0 * w + x0] += a0 * b0 * g;
                        dxp[y0 * w + x1] += a0 * b1 * g;
                        dxp[y1 * w + x0] += a1 * b0 * g;
                        dxp[y1 * w + x1] += a1 * b1 * g;
                    }
                }
            });
            Ok(out(T::wrap(dx), (d[0], d[1], h, w)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (d, up) = (l.dims(), self.0);
        let (ty, tx) = up.axis_taps();
        let dx = super::cuda::upsample_bwd((s, l), d[0] * d[1], (up.h, up.w), &ty, &tx)?;
        Ok((dx, (d[0], d[1], up.h, up.w).into()))
    }
}

/// Bilinear resampling of `(N, C, H, W)` to `(N, C, oh, ow)`, differentiable.
/// `align_corners` as in PyTorch; with `false`, source coordinates below 0 are clamped
/// to 0 (PyTorch's rule), and no anti-aliasing is applied when down-sampling. On a CUDA
/// GPU (f32, `cuda` feature) candor's kernels run, with the backward; elsewhere off the
/// CPU, candle's resampling runs for inputs that need no gradient.
pub fn upsample_bilinear2d(
    x: &Tensor,
    oh: usize,
    ow: usize,
    align_corners: bool,
) -> Result<Tensor> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::invalid(format!(
            "upsample_bilinear2d: expected (N, C, H, W), got {:?}",
            x.dims()
        )));
    };
    if oh == 0 || ow == 0 || h == 0 || w == 0 || n * c == 0 {
        return Err(Error::invalid(format!(
            "upsample_bilinear2d: cannot resize {:?} to {oh}×{ow}",
            x.dims()
        )));
    }
    // A CUDA kernel (f32, forward and backward) where the build has one.
    match route_with_cuda("upsample_bilinear2d", &[x], CANDLE, true)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(Up {
            h,
            w,
            oh,
            ow,
            align: align_corners,
        })?),
        Route::Candle => candle_upsample(x, oh, ow, align_corners),
    }
}

/// candle's bilinear resampling.
pub(super) fn candle_upsample(x: &Tensor, oh: usize, ow: usize, align: bool) -> Result<Tensor> {
    Ok(x.upsample_bilinear2d(oh, ow, align)?)
}

/// candle's `upsample_bilinear2d` computes PyTorch's forward (both `align_corners`) but
/// has no backward.
pub(super) const CANDLE: Candle = Candle::ForwardOnly("has no backward");

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn hand_values() {
        let x = Tensor::new(&[[[[0.0f64, 1.0], [2.0, 3.0]]]], &Device::Cpu).unwrap();
        let y = upsample_bilinear2d(&x, 3, 3, true).unwrap();
        let v = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(v, vec![0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
        // align_corners=false, ×2: PyTorch gives [0, .25, .75, 1] along a row of [0, 1].
        let y = upsample_bilinear2d(&x, 2, 4, false).unwrap();
        let v = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(&v[..4], &[0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn matches_candle_forward() {
        let x = crate::SeededRng::new(1)
            .normal_tensor(0.0, 1.0, (2, 3, 5, 7), DType::F32, &Device::Cpu)
            .unwrap();
        for (oh, ow) in [(10, 14), (9, 13), (3, 4)] {
            let ours = upsample_bilinear2d(&x, oh, ow, false).unwrap();
            let theirs = x.upsample_bilinear2d(oh, ow, false).unwrap();
            let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-5, "{oh}×{ow}");
        }
    }

    /// The separable forward (with the AVX-512 gathers where the CPU has them, rows of 16
    /// columns and a tail) is the direct per-pixel formula, bit for bit, up and down.
    #[test]
    fn separable_forward_is_the_direct_formula_bit_for_bit() {
        // (input h × w, output sizes and align_corners)
        type Case<'a> = ((usize, usize), &'a [(usize, usize, bool)]);
        let cases: &[Case] = &[
            (
                (6, 7),
                &[
                    (12, 14, false),
                    (11, 13, true),
                    (3, 4, false),
                    (6, 7, true),
                    (1, 9, false),
                ],
            ),
            (
                (5, 23),
                &[
                    (10, 46, false),
                    (9, 50, true),
                    (5, 16, false),
                    (3, 37, true),
                ],
            ),
        ];
        for (ci, &((h, w), sizes)) in cases.iter().enumerate() {
            let x = crate::SeededRng::new(2 + ci as u64)
                .normal_tensor(0.0, 1.0, (2, 3, h, w), DType::F32, &Device::Cpu)
                .unwrap();
            let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for &(oh, ow, align) in sizes {
                let ours = upsample_bilinear2d(&x, oh, ow, align).unwrap();
                let ours = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let (ty, tx) = (taps(h, oh, align), taps(w, ow, align));
                let mut direct = Vec::new();
                for pl in 0..6 {
                    let xp = &xv[pl * h * w..][..h * w];
                    for &(y0, y1, a0, a1) in &ty {
                        let (a0, a1) = (a0 as f32, a1 as f32);
                        for &(x0, x1, b0, b1) in &tx {
                            let (b0, b1) = (b0 as f32, b1 as f32);
                            direct.push(
                                a0 * (b0 * xp[y0 * w + x0] + b1 * xp[y0 * w + x1])
                                    + a1 * (b0 * xp[y1 * w + x0] + b1 * xp[y1 * w + x1]),
                            );
                        }
                    }
                }
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&ours),
                    bits(&direct),
                    "{h}×{w} → {oh}×{ow}, align {align}"
                );
            }
        }
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_matches_the_cpu_forward_and_backward() {
        let Some(gpu) = crate::ops::gpu_for_tests() else {
            return;
        };
        for (h, w, oh, ow, align) in [
            (5, 7, 10, 14, false),
            (5, 7, 9, 13, true),
            (12, 9, 5, 4, false),
            (1, 3, 4, 6, true),
        ] {
            let x = crate::SeededRng::new(3)
                .normal_tensor(0.0, 1.0, (2, 3, h, w), DType::F32, &Device::Cpu)
                .unwrap();
            let run = |dev: &Device| {
                crate::ops::value_and_grad_on(dev, &x, 4, |v| upsample_bilinear2d(v, oh, ow, align))
            };
            let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&gpu));
            let d = crate::ops::max_abs_f32;
            assert!(d(&yc, &yg) < 1e-5, "{h}×{w} → {oh}×{ow}: forward");
            assert!(d(&gc, &gg) < 1e-4, "{h}×{w} → {oh}×{ow}: backward");
        }
    }

    #[test]
    fn bad_input() {
        let x = Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(upsample_bilinear2d(&x, 0, 2, false).is_err());
        assert!(upsample_bilinear2d(&x.squeeze(0).unwrap(), 2, 2, false).is_err());
    }
}
