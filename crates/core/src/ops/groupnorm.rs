//! Fused group normalisation over `(N, C, …)` (GroupNorm, and InstanceNorm as one group
//! per channel): the statistics of each (sample, group) row, the normalisation and the
//! per-channel affine transform in one pass over a row, and the analytic backward pass
//! in two, instead of a chain of about nine full-size candle ops (mean, subtract, square,
//! mean, add, square root, divide, multiply, add), each with its own backward.
//!
//! A row is contiguous in `(N, C, …)` memory, and every row is reduced sequentially by
//! one thread, so the result is the same on any thread count. Statistics are accumulated
//! in f64 (two passes for the variance, as the batch-norm kernel).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{act_inplace_chunk, ActBwd};
use super::batchnorm::{ncr, plane_centred_sq_mv, plane_grad_sums_mv, plane_sum_mv};
use super::kernel::{alloc_for_overwrite, dispatch, multiversion, out, slice, Real};
use super::Activation;

/// Per-row (sample-major, then group) mean and 1/√(var + ε), saved by the forward pass.
#[derive(Debug, Clone, Default)]
struct GnStats {
    mean: Vec<f64>,
    inv: Vec<f64>,
}

struct GnTrain {
    groups: usize,
    eps: f64,
    /// Applied to the output in the same pass (`Identity`: plain group norm).
    act: Activation,
    stats: Arc<Mutex<GnStats>>,
}

/// Mean and biased variance of a row, in f64 (two passes).
fn row_stats<T: Real>(x: &[T]) -> (f64, f64) {
    let m = x.len() as f64;
    let mut s = [0.0];
    plane_sum_mv(x, &mut s);
    let mean = s[0] / m;
    let mut sq = [0.0];
    plane_centred_sq_mv(x, mean, &mut sq);
    (mean, sq[0] / m)
}

/// `y = act((x − μ)·a + b)` over one plane: ReLU and LeakyReLU in the same loop, other
/// activations in a second pass over the plane while it is in cache (the same per-element
/// arithmetic as a separate activation, so the same bits).
#[inline(always)]
fn affine_plane<T: Real>(y: &mut [T], x: &[T], mu: T, a: T, b: T, act: Activation) {
    let it = y.iter_mut().zip(x);
    match act {
        Activation::Relu => it.for_each(|(o, v)| {
            let t = (*v - mu) * a + b;
            *o = if t > T::ZERO { t } else { T::ZERO };
        }),
        Activation::LeakyRelu(s) => {
            let s = <T as Real>::from_f64(s);
            it.for_each(|(o, v)| {
                let t = (*v - mu) * a + b;
                *o = if t > T::ZERO { t } else { t * s };
            })
        }
        act => {
            it.for_each(|(o, v)| *o = (*v - mu) * a + b);
            act_inplace_chunk(y, act);
        }
    }
}

multiversion!(affine_plane_mv => affine_plane(y: &mut [T], x: &[T], mu: T, a: T, b: T, act: Activation));

/// `dx = A·dy + B·(x − μ) + C` over one plane, `[A, B, C, μ] = k`.
#[inline(always)]
fn dx_plane<T: Real>(dx: &mut [T], x: &[T], dy: &[T], k: [T; 4]) {
    let [a, b, c, mu] = k;
    for ((o, xv), d) in dx.iter_mut().zip(x).zip(dy) {
        *o = a * *d + b * (*xv - mu) + c;
    }
}

multiversion!(dx_plane_mv => dx_plane(dx: &mut [T], x: &[T], dy: &[T], k: [T; 4]));

impl CustomOp3 for GnTrain {
    fn name(&self) -> &'static str {
        "candor-group-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, c, r) = ncr(l1.dims());
        let g = self.groups;
        let cg = c / g;
        dispatch!(s1, "group_norm", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            // SAFETY: every row below writes all of its elements.
            let mut y = unsafe { alloc_for_overwrite::<T>(x.len()) };
            let stats: Vec<(f64, f64)> = y
                .par_chunks_mut(cg * r)
                .zip(x.par_chunks(cg * r))
                .enumerate()
                .map(|(row, (yr, xr))| {
                    let (mean, var) = row_stats(xr);
                    let inv = 1.0 / (var + self.eps).sqrt();
                    let mu = T::from_f64(mean);
                    for k in 0..cg {
                        let ch = (row % g) * cg + k;
                        let a = T::from_f64(w[ch].to_f64() * inv);
                        let bc = b[ch];
                        let span = k * r..(k + 1) * r;
                        affine_plane_mv(&mut yr[span.clone()], &xr[span], mu, a, bc, self.act);
                    }
                    (mean, inv)
                })
                .collect();
            *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = GnStats {
                mean: stats.iter().map(|s| s.0).collect(),
                inv: stats.iter().map(|s| s.1).collect(),
            };
            Ok(out(T::wrap(y), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut dy = dy.contiguous()?;
        if self.act != Activation::Identity {
            // Through the activation first: the same op (and bits) as a separate
            // activation node's backward, without that node's gradient bookkeeping.
            dy = res.apply_op2_no_bwd(&dy, &ActBwd(self.act))?;
        }
        let (n, c, r) = ncr(x.dims());
        let (g, cg) = (self.groups, c / self.groups);
        // Per (sample, channel): Σ dy·x̂ and Σ dy, f64.
        let sums = x
            .apply_op2_no_bwd(
                &dy,
                &GnGradSums {
                    cg,
                    mean: st.mean.clone(),
                    inv: st.inv.clone(),
                },
            )?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let wv = w.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        // dx = inv·(w·dy − mean(w·dy) − x̂·mean(w·dy·x̂)) over each row, as
        // A·dy + B·(x − μ) + C per (sample, channel).
        let m = (cg * r) as f64;
        let mut coef = vec![[0.0f64; 4]; n * c];
        for row in 0..n * g {
            // The row's channels: their weights, their (Σ dy·x̂, Σ dy) pairs, their coefficients.
            let (ni, gi) = (row / g, row % g);
            let ws = &wv[gi * cg..(gi + 1) * cg];
            let planes = (ni * c + gi * cg)..(ni * c + (gi + 1) * cg);
            let pairs = sums[2 * planes.start..2 * planes.end].chunks_exact(2);
            let (mut s_dyx, mut s_dy) = (0.0, 0.0);
            for (w, p) in ws.iter().zip(pairs) {
                s_dyx += w * p[0];
                s_dy += w * p[1];
            }
            let (mu, inv) = (st.mean[row], st.inv[row]);
            for (k, w) in coef[planes].iter_mut().zip(ws) {
                *k = [inv * w, -inv * inv * s_dyx / m, -inv * s_dy / m, mu];
            }
        }
        let dx = x.apply_op2_no_bwd(&dy, &GnDx { coef })?;
        let (mut dw, mut db) = (vec![0.0f64; c], vec![0.0f64; c]);
        for ni in 0..n {
            for ch in 0..c {
                let i = (ni * c + ch) * 2;
                dw[ch] += sums[i];
                db[ch] += sums[i + 1];
            }
        }
        let dw = Tensor::from_vec(dw, c, x.device())?.to_dtype(w.dtype())?;
        let db = Tensor::from_vec(db, c, x.device())?.to_dtype(w.dtype())?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Per (sample, channel) Σ dy·x̂ and Σ dy, as an f64 `(N, C, 2)` tensor.
struct GnGradSums {
    cg: usize,
    mean: Vec<f64>,
    inv: Vec<f64>,
}

impl CustomOp2 for GnGradSums {
    fn name(&self) -> &'static str {
        "candor-group-norm-grad-sums"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, r) = ncr(l1.dims());
        dispatch!(s1, "group_norm backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let sums: Vec<[f64; 2]> = x
                .par_chunks(r)
                .zip(dy.par_chunks(r))
                .enumerate()
                .map(|(i, (xs, ds))| {
                    // Plane i = (sample, channel) lies in row i / cg.
                    let (mu, inv) = (self.mean[i / self.cg], self.inv[i / self.cg]);
                    let mut s = [0.0; 2];
                    plane_grad_sums_mv(xs, ds, ds, mu, inv, Activation::Identity, &mut s);
                    s
                })
                .collect();
            let flat: Vec<f64> = sums.into_iter().flatten().collect();
            Ok(out(CpuStorage::F64(flat), (n, c, 2)))
        })
    }
}

/// `dx = A·dy + B·(x − μ) + C` with `[A, B, C, μ]` per (sample, channel) plane.
struct GnDx {
    coef: Vec<[f64; 4]>,
}

impl CustomOp2 for GnDx {
    fn name(&self) -> &'static str {
        "candor-group-norm-dx"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, _, r) = ncr(l1.dims());
        dispatch!(s1, "group_norm backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            // SAFETY: every plane below writes all of its elements.
            let mut dx = unsafe { alloc_for_overwrite::<T>(x.len()) };
            dx.par_chunks_mut(r)
                .zip(x.par_chunks(r).zip(dy.par_chunks(r)))
                .enumerate()
                .for_each(|(i, (o, (xs, ds)))| {
                    dx_plane_mv(o, xs, ds, self.coef[i].map(T::from_f64));
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// Fused group norm of a contiguous-or-not `(N, C, …)` tensor with per-channel `w`, `b`
/// (`C` each); `groups` must divide `C` (checked by the caller).
pub(crate) fn gn_fused(
    x: &Tensor,
    groups: usize,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
    act: Activation,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        GnTrain {
            groups,
            eps,
            act,
            stats: Arc::new(Mutex::new(GnStats::default())),
        },
    )
}
