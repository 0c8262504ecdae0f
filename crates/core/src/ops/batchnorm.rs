//! Fused batch normalisation over `(N, C, …)`: per-channel statistics, normalisation
//! and affine transform in two parallel passes, and the analytic backward pass, instead
//! of a chain of full-size candle ops (about ten single-threaded passes, plus a
//! transpose copy).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::{alloc_for_overwrite, dispatch, out, reduction_chunk, slice, Real};

/// `(N, C, R)` of a tensor shaped `(N, C, …)`.
pub(crate) fn ncr(dims: &[usize]) -> (usize, usize, usize) {
    let (n, c) = (dims[0], dims[1]);
    (n, c, dims[2..].iter().product())
}

/// Per-channel sums of `K` quantities `f(channel, flat index)` over `(N, C, R)`,
/// accumulated in f64, parallel over the batch in [`reduction_chunk`] parts summed in
/// order.
fn channel_sums<const K: usize>(
    (n, c, r): (usize, usize, usize),
    f: impl Fn(usize, usize) -> [f64; K] + Sync,
) -> Vec<[f64; K]> {
    // Parts fixed by the batch size, not the thread count: bit-identical on any pool.
    let per = reduction_chunk(n);
    let parts: Vec<Vec<[f64; K]>> = (0..n)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|n0| {
            let mut acc = vec![[0.0; K]; c];
            for ni in n0..(n0 + per).min(n) {
                for (ch, a) in acc.iter_mut().enumerate() {
                    let base = (ni * c + ch) * r;
                    for idx in base..base + r {
                        let v = f(ch, idx);
                        for k in 0..K {
                            a[k] += v[k];
                        }
                    }
                }
            }
            acc
        })
        .collect();
    let mut total = vec![[0.0; K]; c];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            for k in 0..K {
                t[k] += v[k];
            }
        }
    }
    total
}

/// `y = x·a[c] + b[c]` over `(N, C, R)`, parallel over the batch.
fn channel_affine_fwd<T: Real>(
    x: &[T],
    (_, c, r): (usize, usize, usize),
    a: &[T],
    b: &[T],
) -> Vec<T> {
    // SAFETY: every channel of every sample below is written.
    let mut y = unsafe { alloc_for_overwrite::<T>(x.len()) };
    y.par_chunks_mut(c * r)
        .zip(x.par_chunks(c * r))
        .for_each(|(yn, xn)| {
            for ch in 0..c {
                let (ac, bc) = (a[ch], b[ch]);
                for (o, v) in yn[ch * r..(ch + 1) * r]
                    .iter_mut()
                    .zip(&xn[ch * r..(ch + 1) * r])
                {
                    *o = *v * ac + bc;
                }
            }
        });
    y
}

/// Batch statistics saved by the forward pass for the backward pass and the caller:
/// per-channel mean and biased variance.
#[derive(Debug, Clone, Default)]
pub(crate) struct BnStats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

pub(crate) struct BnTrain {
    pub eps: f64,
    pub stats: Arc<Mutex<BnStats>>,
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "candor-batch-norm-train"
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
        let g = ncr(l1.dims());
        let count = (g.0 * g.2) as f64;
        dispatch!(s1, "batch_norm", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let sums = channel_sums::<2>(g, |_, i| {
                let v = x[i].to_f64();
                [v, v * v]
            });
            let mean: Vec<f64> = sums.iter().map(|s| s[0] / count).collect();
            // Second pass for the variance (stable), centred on the mean.
            let sq = channel_sums::<1>(g, |ch, i| {
                let d = x[i].to_f64() - mean[ch];
                [d * d]
            });
            let var: Vec<f64> = sq.iter().map(|s| s[0] / count).collect();
            let a: Vec<T> = (0..g.1)
                .map(|ch| T::from_f64(w[ch].to_f64() / (var[ch] + self.eps).sqrt()))
                .collect();
            let bb: Vec<T> = (0..g.1)
                .map(|ch| T::from_f64(b[ch].to_f64() - mean[ch] * a[ch].to_f64()))
                .collect();
            let y = channel_affine_fwd(x, g, &a, &bb);
            *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = BnStats { mean, var };
            Ok(out(T::wrap(y), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let inv: Vec<f64> = st.var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let dy = dy.contiguous()?;
        // (C, 2): Σ dy·x̂ and Σ dy per channel.
        let sums = x.apply_op2_no_bwd(
            &dy,
            &BnGradSums {
                mean: st.mean.clone(),
                inv: inv.clone(),
            },
        )?;
        let sv = sums.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?;
        let wv = w.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        let (n, _, r) = ncr(x.dims());
        let m = (n * r) as f64;
        let dx = x.apply_op2_no_bwd(
            &dy,
            &BnDx {
                mean: st.mean,
                scale: wv.iter().zip(&inv).map(|(w, i)| w * i).collect(),
                inv,
                mean_dy: sv.iter().map(|s| s[1] / m).collect(),
                mean_dy_xhat: sv.iter().map(|s| s[0] / m).collect(),
            },
        )?;
        let dgamma = sums.narrow(1, 0, 1)?.squeeze(1)?.to_dtype(w.dtype())?;
        let dbeta = sums.narrow(1, 1, 1)?.squeeze(1)?.to_dtype(w.dtype())?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// Per-channel Σ dy·x̂ and Σ dy, as a `(C, 2)` tensor.
struct BnGradSums {
    mean: Vec<f64>,
    inv: Vec<f64>,
}

impl CustomOp2 for BnGradSums {
    fn name(&self) -> &'static str {
        "candor-batch-norm-grad-sums"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = ncr(l1.dims());
        dispatch!(s1, "batch_norm backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let sums = channel_sums::<2>(g, |ch, i| {
                let d = dy[i].to_f64();
                [d * (x[i].to_f64() - self.mean[ch]) * self.inv[ch], d]
            });
            let flat: Vec<T> = sums
                .iter()
                .flat_map(|s| [T::from_f64(s[0]), T::from_f64(s[1])])
                .collect();
            Ok(out(T::wrap(flat), (g.1, 2)))
        })
    }
}

/// `dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂))` per channel.
struct BnDx {
    mean: Vec<f64>,
    inv: Vec<f64>,
    scale: Vec<f64>,
    mean_dy: Vec<f64>,
    mean_dy_xhat: Vec<f64>,
}

impl CustomOp2 for BnDx {
    fn name(&self) -> &'static str {
        "candor-batch-norm-dx"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, c, r) = ncr(l1.dims());
        dispatch!(s1, "batch_norm backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            // SAFETY: every channel of every sample below is written.
            let mut dx = unsafe { alloc_for_overwrite::<T>(x.len()) };
            dx.par_chunks_mut(c * r)
                .zip(x.par_chunks(c * r).zip(dy.par_chunks(c * r)))
                .for_each(|(dxn, (xn, dyn_))| {
                    for ch in 0..c {
                        let (m, inv, sc) = (self.mean[ch], self.inv[ch], self.scale[ch]);
                        let (mdy, mdx) = (self.mean_dy[ch], self.mean_dy_xhat[ch]);
                        let span = ch * r..(ch + 1) * r;
                        for ((o, xv), g) in dxn[span.clone()]
                            .iter_mut()
                            .zip(&xn[span.clone()])
                            .zip(&dyn_[span])
                        {
                            let xhat = (xv.to_f64() - m) * inv;
                            *o = T::from_f64(sc * (g.to_f64() - mdy - xhat * mdx));
                        }
                    }
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// Fused training-mode batch norm: `(y, mean, biased var)` per channel (f64).
pub(crate) fn bn_train_fused(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
) -> candle_core::Result<(Tensor, BnStats)> {
    let stats = Arc::new(Mutex::new(BnStats::default()));
    let y = x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        BnTrain {
            eps,
            stats: stats.clone(),
        },
    )?;
    let st = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((y, st))
}
