//! Fused batch normalisation over `(N, C, …)`: per-channel statistics, normalisation
//! and affine transform in two parallel passes, and the analytic backward pass, instead
//! of a chain of full-size candle ops (about ten single-threaded passes, plus a
//! transpose copy).
//!
//! A `(M, C)` input (no trailing dimensions: PointNet's point-wise layers, the fully
//! connected layers' BatchNorm1d) runs row kernels vectorised across the channels, which
//! add each channel's values in the same order as the general `(N, C, R)` loops and so
//! give the same bits. An activation can follow in the same op ([`bn_train_fused`]): it
//! is applied in the output pass and its derivative (from the output) inside the two
//! backward passes, so neither the activation's tensor nor its gradient is ever stored.
//! SiLU, whose derivative needs its input `z = x·a + b`, is the exception: the backward
//! first computes `dy·silu′(z)` in one pass of its own, `z` recomputed from the saved
//! input with the forward's per-channel coefficients ([`affine_coeffs`]), and then runs
//! the identity's two passes on it: the bits of the separate [`super::silu`] op's
//! backward, without the SiLU node (its input tensor, gradient accumulation and `exp`
//! in both passes).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::silu_df;
use super::kernel::{
    alloc_for_overwrite, dispatch, multiversion, out, reduction_chunk, slice, Real,
};
use super::Activation;

/// `(N, C, R)` of a tensor shaped `(N, C, …)`.
pub(crate) fn ncr(dims: &[usize]) -> (usize, usize, usize) {
    let (n, c) = (dims[0], dims[1]);
    (n, c, dims[2..].iter().product())
}

/// Per-channel sums of `K` quantities over `(N, C, R)`: `plane(channel, span, acc)` adds
/// one plane's sums (the `R` values at `span`) into the channel's `K` accumulators.
/// Accumulated in f64, parallel over the batch in [`reduction_chunk`] parts summed in
/// order.
fn channel_sums<const K: usize>(
    (n, c, r): (usize, usize, usize),
    plane: impl Fn(usize, Range<usize>, &mut [f64]) + Sync,
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
                    plane(ch, base..base + r, a);
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

#[cfg(test)]
thread_local! {
    /// Set by [`generic_path`]: `(M, C)` inputs take the general `(N, C, R)` loops.
    static GENERIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether an `(N, C, R)` input takes the row kernels (`R = 1`). Decided on the calling
/// thread, before the kernels fan out.
fn rows_path(r: usize) -> bool {
    #[cfg(test)]
    if GENERIC.with(|g| g.get()) {
        return false;
    }
    r == 1
}

/// Run `f` with `(M, C)` inputs on the general loops, to test the row kernels against
/// them.
#[cfg(test)]
pub(crate) fn generic_path<R>(f: impl FnOnce() -> R) -> R {
    super::kernel::with_flag(&GENERIC, f)
}

/// Per-channel sums over the rows of a `(M, C)` input, in the parts of [`channel_sums`]
/// (fixed by `M`), each part adding its rows in order and the parts added in order: the
/// same sums, bit for bit, as [`channel_sums`] over `(M, C, 1)`. `part` adds rows
/// `range` into `K` per-channel accumulators.
fn row_sums<const K: usize>(
    m: usize,
    c: usize,
    part: impl Fn(Range<usize>, &mut [Vec<f64>; K]) + Sync,
) -> Vec<[f64; K]> {
    let per = reduction_chunk(m);
    let parts: Vec<[Vec<f64>; K]> = (0..m)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|r0| {
            let mut acc: [Vec<f64>; K] = std::array::from_fn(|_| vec![0.0; c]);
            part(r0..(r0 + per).min(m), &mut acc);
            acc
        })
        .collect();
    let mut total = vec![[0.0; K]; c];
    for p in parts {
        for (ch, t) in total.iter_mut().enumerate() {
            for k in 0..K {
                t[k] += p[k][ch];
            }
        }
    }
    total
}

/// Rows of a `(M, C)` input per parallel task of the elementwise passes (≈ 16 K values).
fn row_block(c: usize) -> usize {
    ((1 << 14) / c.max(1)).max(1)
}

/// `f(v)` of an activation, matched once outside the loop that `$body` runs, with the
/// per-element arithmetic of `Activation::f` (and of the activation kernels).
macro_rules! with_act {
    ($t:ty, $act:expr, |$f:ident| $body:expr) => {
        match $act {
            Activation::Identity => {
                let $f = |v: $t| v;
                $body
            }
            Activation::Relu => {
                let $f = |v: $t| if v > <$t>::ZERO { v } else { <$t>::ZERO };
                $body
            }
            Activation::LeakyRelu(s) => {
                let s = <$t as Real>::from_f64(s);
                let $f = move |v: $t| if v > <$t>::ZERO { v } else { v * s };
                $body
            }
            Activation::Silu => {
                let $f = |v: $t| v * v.sigmoid();
                $body
            }
            a => {
                let $f = move |v: $t| a.f(v);
                $body
            }
        }
    };
}

/// `dy · f′(y)` of an activation from its output, matched once outside `$body`'s loop,
/// with the arithmetic of the activation's backward kernel (`ActBwd`); the identity
/// passes `dy` through untouched, as the unfused graph has no activation node. (SiLU
/// never gets here: [`BnTrain`]'s backward turns `dy` into its gradient first.)
macro_rules! with_act_grad {
    ($t:ty, $act:expr, |$g:ident| $body:expr) => {
        match $act {
            Activation::Identity => {
                let $g = |dy: $t, _y: $t| dy;
                $body
            }
            Activation::Relu => {
                let $g = |dy: $t, y: $t| {
                    dy * if y > <$t>::ZERO {
                        <$t>::ONE
                    } else {
                        <$t>::ZERO
                    }
                };
                $body
            }
            a => {
                let $g = move |dy: $t, y: $t| dy * a.df_from_y(y);
                $body
            }
        }
    };
}

/// `s[c] += x[r][c]` over whole rows.
#[inline(always)]
fn rows_sum<T: Real>(x: &[T], s: &mut [f64]) {
    for xr in x.chunks_exact(s.len()) {
        for (a, &v) in s.iter_mut().zip(xr) {
            *a += Real::to_f64(v);
        }
    }
}

multiversion!(rows_sum_mv => rows_sum(x: &[T], s: &mut [f64]));

/// `s[c] += (x[r][c] − mean[c])²` over whole rows.
#[inline(always)]
fn rows_centred_sq<T: Real>(x: &[T], mean: &[f64], s: &mut [f64]) {
    for xr in x.chunks_exact(s.len()) {
        for ((a, &v), &m) in s.iter_mut().zip(xr).zip(mean) {
            let d = Real::to_f64(v) - m;
            *a += d * d;
        }
    }
}

multiversion!(rows_centred_sq_mv => rows_centred_sq(x: &[T], mean: &[f64], s: &mut [f64]));

/// `y = act(x·a[c] + b[c])` over whole rows.
#[inline(always)]
fn rows_affine_act<T: Real>(y: &mut [T], x: &[T], a: &[T], b: &[T], act: Activation) {
    let c = a.len();
    with_act!(T, act, |f| {
        for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for (((o, &v), &ac), &bc) in yr.iter_mut().zip(xr).zip(a).zip(b) {
                *o = f(v * ac + bc);
            }
        }
    })
}

multiversion!(rows_affine_act_mv => rows_affine_act(y: &mut [T], x: &[T], a: &[T], b: &[T], act: Activation));

/// The backward sums over whole rows, with `g = dy·f′(y)`: `sx[c] += g·(x − mean)·inv`
/// and `sg[c] += g`.
#[inline(always)]
fn rows_grad_sums<T: Real>(
    x: &[T],
    dy: &[T],
    y: &[T],
    k: &BnGradSums,
    sx: &mut [f64],
    sg: &mut [f64],
) {
    let c = k.mean.len();
    with_act_grad!(T, k.act, |grad| {
        let (mean, inv, sx, sg) = (&k.mean[..c], &k.inv[..c], &mut sx[..c], &mut sg[..c]);
        for ((xr, dr), yr) in x
            .chunks_exact(c)
            .zip(dy.chunks_exact(c))
            .zip(y.chunks_exact(c))
        {
            for ch in 0..c {
                let d = Real::to_f64(grad(dr[ch], yr[ch]));
                sx[ch] += d * (Real::to_f64(xr[ch]) - mean[ch]) * inv[ch];
                sg[ch] += d;
            }
        }
    })
}

multiversion!(rows_grad_sums_mv => rows_grad_sums(
    x: &[T], dy: &[T], y: &[T], k: &BnGradSums, sx: &mut [f64], sg: &mut [f64],
));

/// [`BnDx`]'s formula over whole rows, with `g = dy·f′(y)` in place of `dy`.
#[inline(always)]
fn rows_dx<T: Real>(dx: &mut [T], x: &[T], dy: &[T], y: &[T], k: &BnDx) {
    let c = k.mean.len();
    let (mean, inv, scale) = (&k.mean[..c], &k.inv[..c], &k.scale[..c]);
    let (mean_dy, mean_dy_xhat) = (&k.mean_dy[..c], &k.mean_dy_xhat[..c]);
    with_act_grad!(T, k.act, |grad| {
        for (((or, xr), dr), yr) in dx
            .chunks_exact_mut(c)
            .zip(x.chunks_exact(c))
            .zip(dy.chunks_exact(c))
            .zip(y.chunks_exact(c))
        {
            for ch in 0..c {
                let xhat = (Real::to_f64(xr[ch]) - mean[ch]) * inv[ch];
                let g = Real::to_f64(grad(dr[ch], yr[ch]));
                or[ch] =
                    <T as Real>::from_f64(scale[ch] * (g - mean_dy[ch] - xhat * mean_dy_xhat[ch]));
            }
        }
    })
}

multiversion!(rows_dx_mv => rows_dx(dx: &mut [T], x: &[T], dy: &[T], y: &[T], k: &BnDx));

/// `y = act(x·a + b)` over one plane (the per-element arithmetic of
/// [`rows_affine_act`]).
#[inline(always)]
fn plane_affine_act<T: Real>(y: &mut [T], x: &[T], a: T, b: T, act: Activation) {
    with_act!(T, act, |f| {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = f(v * a + b);
        }
    })
}

multiversion!(plane_affine_act_mv => plane_affine_act(y: &mut [T], x: &[T], a: T, b: T, act: Activation));

/// Interleaved partial sums of the plane reductions: two registers of f64 lanes, so that
/// the loop vectorises and two additions are in flight at once.
const LANES: usize = 16;

/// `s[0] += Σ x` over one plane, in [`LANES`] interleaved partial sums added in order at
/// the end: for a plane of one value, exactly `s[0] += x`.
#[inline(always)]
pub(super) fn plane_sum<T: Real>(x: &[T], s: &mut [f64]) {
    let mut p = [0.0f64; LANES];
    let mut it = x.chunks_exact(LANES);
    for xc in &mut it {
        for l in 0..LANES {
            p[l] += Real::to_f64(xc[l]);
        }
    }
    for (l, &v) in it.remainder().iter().enumerate() {
        p[l] += Real::to_f64(v);
    }
    s[0] += p.iter().sum::<f64>();
}

multiversion!(pub(super) plane_sum_mv => plane_sum(x: &[T], s: &mut [f64]));

/// `s[0] += Σ (x − mean)²` over one plane, summed as [`plane_sum`].
#[inline(always)]
pub(super) fn plane_centred_sq<T: Real>(x: &[T], mean: f64, s: &mut [f64]) {
    let mut p = [0.0f64; LANES];
    let mut it = x.chunks_exact(LANES);
    for xc in &mut it {
        for l in 0..LANES {
            let d = Real::to_f64(xc[l]) - mean;
            p[l] += d * d;
        }
    }
    for (l, &v) in it.remainder().iter().enumerate() {
        let d = Real::to_f64(v) - mean;
        p[l] += d * d;
    }
    s[0] += p.iter().sum::<f64>();
}

multiversion!(pub(super) plane_centred_sq_mv => plane_centred_sq(x: &[T], mean: f64, s: &mut [f64]));

/// `s[0] += Σ g·(x − mean)·inv`, `s[1] += Σ g` over one plane, `g = dy·f′(y)`, summed as
/// [`plane_sum`] (the batch- and group-norm backward sums).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn plane_grad_sums<T: Real>(
    x: &[T],
    dy: &[T],
    y: &[T],
    mean: f64,
    inv: f64,
    act: Activation,
    s: &mut [f64],
) {
    let (mut px, mut pg) = ([0.0f64; LANES], [0.0f64; LANES]);
    with_act_grad!(T, act, |grad| {
        let n = x.len();
        let n8 = n / LANES * LANES;
        let (dy, y) = (&dy[..n], &y[..n]);
        for i0 in (0..n8).step_by(LANES) {
            for l in 0..LANES {
                let i = i0 + l;
                let d = Real::to_f64(grad(dy[i], y[i]));
                px[l] += d * (Real::to_f64(x[i]) - mean) * inv;
                pg[l] += d;
            }
        }
        for i in n8..n {
            let l = i - n8;
            let d = Real::to_f64(grad(dy[i], y[i]));
            px[l] += d * (Real::to_f64(x[i]) - mean) * inv;
            pg[l] += d;
        }
    });
    s[0] += px.iter().sum::<f64>();
    s[1] += pg.iter().sum::<f64>();
}

multiversion!(pub(super) plane_grad_sums_mv => plane_grad_sums(
    x: &[T], dy: &[T], y: &[T], mean: f64, inv: f64, act: Activation, s: &mut [f64],
));

/// [`BnDx`]'s formula over one plane of channel `ch`.
#[inline(always)]
fn plane_dx<T: Real>(dx: &mut [T], x: &[T], dy: &[T], y: &[T], k: &BnDx, ch: usize) {
    let (m, inv, sc) = (k.mean[ch], k.inv[ch], k.scale[ch]);
    let (mdy, mdx) = (k.mean_dy[ch], k.mean_dy_xhat[ch]);
    with_act_grad!(T, k.act, |grad| {
        for (((o, &xv), &gv), &yv) in dx.iter_mut().zip(x).zip(dy).zip(y) {
            let xhat = (Real::to_f64(xv) - m) * inv;
            let g = Real::to_f64(grad(gv, yv));
            *o = <T as Real>::from_f64(sc * (g - mdy - xhat * mdx));
        }
    })
}

multiversion!(plane_dx_mv => plane_dx(dx: &mut [T], x: &[T], dy: &[T], y: &[T], k: &BnDx, ch: usize));

/// `y = act(x·a[c] + b[c])` over `(N, C, R)`, parallel over the batch (over blocks of rows
/// when `R = 1`).
fn channel_affine_fwd<T: Real>(
    x: &[T],
    (_, c, r): (usize, usize, usize),
    a: &[T],
    b: &[T],
    act: Activation,
) -> Vec<T> {
    // SAFETY: every channel of every sample below is written.
    let mut y = unsafe { alloc_for_overwrite::<T>(x.len()) };
    if rows_path(r) {
        let block = row_block(c) * c;
        y.par_chunks_mut(block)
            .zip(x.par_chunks(block))
            .for_each(|(yc, xc)| rows_affine_act_mv(yc, xc, a, b, act));
        return y;
    }
    y.par_chunks_mut(c * r)
        .zip(x.par_chunks(c * r))
        .for_each(|(yn, xn)| {
            for ch in 0..c {
                let span = ch * r..(ch + 1) * r;
                plane_affine_act_mv(&mut yn[span.clone()], &xn[span], a[ch], b[ch], act);
            }
        });
    y
}

fn to_f64s<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| Real::to_f64(x)).collect()
}

/// The forward's per-channel `y = act(x·a + b)` coefficients in `T`: `a = γ/√(var + ε)`,
/// `b = β − mean·a` (`γ`, `β` exact as f64). SiLU's backward recomputes them, bit for
/// bit, for `z = x·a + b`.
fn affine_coeffs<T: Real>(
    w: &[f64],
    beta: &[f64],
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> (Vec<T>, Vec<T>) {
    let a: Vec<T> = (0..w.len())
        .map(|ch| <T as Real>::from_f64(w[ch] / (var[ch] + eps).sqrt()))
        .collect();
    let b = (0..w.len())
        .map(|ch| <T as Real>::from_f64(beta[ch] - mean[ch] * Real::to_f64(a[ch])))
        .collect();
    (a, b)
}

/// `g = dy·silu′(x·a + b)` over one plane (the arithmetic of `SiluBwd` on the unfused
/// graph's `z`).
#[inline(always)]
fn plane_silu_grad<T: Real>(g: &mut [T], x: &[T], dy: &[T], a: T, b: T) {
    for ((o, &xv), &d) in g.iter_mut().zip(x).zip(dy) {
        *o = d * silu_df(xv * a + b);
    }
}

multiversion!(plane_silu_grad_mv => plane_silu_grad(g: &mut [T], x: &[T], dy: &[T], a: T, b: T));

/// [`plane_silu_grad`] over whole `(M, C)` rows.
#[inline(always)]
fn rows_silu_grad<T: Real>(g: &mut [T], x: &[T], dy: &[T], a: &[T], b: &[T]) {
    let c = a.len();
    for ((gr, xr), dr) in g
        .chunks_exact_mut(c)
        .zip(x.chunks_exact(c))
        .zip(dy.chunks_exact(c))
    {
        for ch in 0..c {
            gr[ch] = dr[ch] * silu_df(xr[ch] * a[ch] + b[ch]);
        }
    }
}

multiversion!(rows_silu_grad_mv => rows_silu_grad(g: &mut [T], x: &[T], dy: &[T], a: &[T], b: &[T]));

/// SiLU's gradient after batch norm, `dy·silu′(x·a + b)`, from `(x, dy)`.
struct BnSiluGrad {
    w: Vec<f64>,
    beta: Vec<f64>,
    stats: BnStats,
    eps: f64,
}

impl CustomOp2 for BnSiluGrad {
    fn name(&self) -> &'static str {
        "candor-batch-norm-silu-grad"
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
            let st = &self.stats;
            let (a, b) = affine_coeffs::<T>(&self.w, &self.beta, &st.mean, &st.var, self.eps);
            // SAFETY: every channel of every sample below is written.
            let mut g = unsafe { alloc_for_overwrite::<T>(x.len()) };
            if rows_path(r) {
                let block = row_block(c) * c;
                g.par_chunks_mut(block)
                    .zip(x.par_chunks(block).zip(dy.par_chunks(block)))
                    .for_each(|(gc, (xc, dc))| rows_silu_grad_mv(gc, xc, dc, &a, &b));
            } else {
                // One task per sample, as the other passes (planes can be 4 × 4).
                g.par_chunks_mut(c * r)
                    .zip(x.par_chunks(c * r).zip(dy.par_chunks(c * r)))
                    .for_each(|(gn, (xn, dn))| {
                        for ch in 0..c {
                            let span = ch * r..(ch + 1) * r;
                            let (xs, ds) = (&xn[span.clone()], &dn[span.clone()]);
                            plane_silu_grad_mv(&mut gn[span], xs, ds, a[ch], b[ch]);
                        }
                    });
            }
            Ok(out(T::wrap(g), l1.shape().clone()))
        })
    }
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
    /// Applied to the normalised output, in the same op.
    pub act: Activation,
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
        dispatch!(s1, "batch_norm", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let (y, st) = bn_forward(x, g, w, b, self.eps, self.act);
            *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = st;
            Ok(out(T::wrap(y), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (dx, dgamma, dbeta) = bn_backward(self.eps, self.act, st, x, w, b, res, dy)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// The training-mode forward over `(N, C, R)` values `x`: the per-channel statistics, then
/// `act(x̂·w + b)`. Returns the output and the statistics (f64).
pub(crate) fn bn_forward<T: Real>(
    x: &[T],
    g: (usize, usize, usize),
    w: &[T],
    b: &[T],
    eps: f64,
    act: Activation,
) -> (Vec<T>, BnStats) {
    let count = (g.0 * g.2) as f64;
    let c = g.1;
    let sums = if rows_path(g.2) {
        row_sums::<1>(g.0, c, |rows, [s]| {
            rows_sum_mv(&x[rows.start * c..rows.end * c], s)
        })
    } else {
        channel_sums::<1>(g, |_, span, s| plane_sum_mv(&x[span], s))
    };
    let mean: Vec<f64> = sums.iter().map(|s| s[0] / count).collect();
    // Second pass for the variance (stable), centred on the mean.
    let sq = if rows_path(g.2) {
        row_sums::<1>(g.0, c, |rows, [s]| {
            rows_centred_sq_mv(&x[rows.start * c..rows.end * c], &mean, s)
        })
    } else {
        channel_sums::<1>(g, |ch, span, s| plane_centred_sq_mv(&x[span], mean[ch], s))
    };
    let var: Vec<f64> = sq.iter().map(|s| s[0] / count).collect();
    let (w, b) = (to_f64s(w), to_f64s(b));
    let (a, bb) = affine_coeffs::<T>(&w, &b, &mean, &var, eps);
    let y = channel_affine_fwd(x, g, &a, &bb, act);
    (y, BnStats { mean, var })
}

/// The training-mode backward: `(dx, dγ, dβ)` from the forward's input `x`, weight `w`,
/// bias `b`, output `res`, statistics `st` and the output gradient `dy`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bn_backward(
    eps: f64,
    mut act: Activation,
    st: BnStats,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    res: &Tensor,
    dy: &Tensor,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let inv: Vec<f64> = st.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let f64s = |t: &Tensor| t.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>();
    let wv = f64s(w)?;
    let mut dy = dy.contiguous()?;
    if act == Activation::Silu {
        let op = BnSiluGrad {
            w: wv.clone(),
            beta: f64s(b)?,
            stats: st.clone(),
            eps,
        };
        dy = x.apply_op2_no_bwd(&dy, &op)?;
        act = Activation::Identity;
    }
    let res = res.contiguous()?;
    // (C, 2): Σ g·x̂ and Σ g per channel, g = dy·f′(y).
    let sums = x.apply_op3_no_bwd(
        &dy,
        &res,
        &BnGradSums {
            mean: st.mean.clone(),
            inv: inv.clone(),
            act,
        },
    )?;
    let sv = sums.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?;
    let (n, _, r) = ncr(x.dims());
    let m = (n * r) as f64;
    let dx = x.apply_op3_no_bwd(
        &dy,
        &res,
        &BnDx {
            mean: st.mean,
            scale: wv.iter().zip(&inv).map(|(w, i)| w * i).collect(),
            inv,
            mean_dy: sv.iter().map(|s| s[1] / m).collect(),
            mean_dy_xhat: sv.iter().map(|s| s[0] / m).collect(),
            act,
        },
    )?;
    let dgamma = sums.narrow(1, 0, 1)?.squeeze(1)?.to_dtype(w.dtype())?;
    let dbeta = sums.narrow(1, 1, 1)?.squeeze(1)?.to_dtype(w.dtype())?;
    Ok((dx, dgamma, dbeta))
}

/// Per-channel Σ g·x̂ and Σ g with `g = dy·f′(y)`, as a `(C, 2)` tensor, from `(x, dy, y)`.
struct BnGradSums {
    mean: Vec<f64>,
    inv: Vec<f64>,
    act: Activation,
}

impl CustomOp3 for BnGradSums {
    fn name(&self) -> &'static str {
        "candor-batch-norm-grad-sums"
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
        let c = g.1;
        dispatch!(s1, "batch_norm backward", |T| {
            let (x, dy, y) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let sums = if rows_path(g.2) {
                row_sums::<2>(g.0, c, |rows, [sx, sg]| {
                    let span = rows.start * c..rows.end * c;
                    rows_grad_sums_mv(&x[span.clone()], &dy[span.clone()], &y[span], self, sx, sg)
                })
            } else {
                channel_sums::<2>(g, |ch, span, s| {
                    let (x, dy, y) = (&x[span.clone()], &dy[span.clone()], &y[span]);
                    plane_grad_sums_mv(x, dy, y, self.mean[ch], self.inv[ch], self.act, s)
                })
            };
            let flat: Vec<T> = sums
                .iter()
                .flat_map(|s| [T::from_f64(s[0]), T::from_f64(s[1])])
                .collect();
            Ok(out(T::wrap(flat), (c, 2)))
        })
    }
}

/// `dx = γ·invstd·(g − mean(g) − x̂·mean(g·x̂))` per channel, `g = dy·f′(y)`, from
/// `(x, dy, y)`.
struct BnDx {
    mean: Vec<f64>,
    inv: Vec<f64>,
    scale: Vec<f64>,
    mean_dy: Vec<f64>,
    mean_dy_xhat: Vec<f64>,
    act: Activation,
}

impl CustomOp3 for BnDx {
    fn name(&self) -> &'static str {
        "candor-batch-norm-dx"
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
        dispatch!(s1, "batch_norm backward", |T| {
            let (x, dy, y) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            // SAFETY: every channel of every sample below is written.
            let mut dx = unsafe { alloc_for_overwrite::<T>(x.len()) };
            if rows_path(r) {
                let block = row_block(c) * c;
                dx.par_chunks_mut(block)
                    .zip(x.par_chunks(block))
                    .zip(dy.par_chunks(block).zip(y.par_chunks(block)))
                    .for_each(|((dc, xc), (gc, yc))| rows_dx_mv(dc, xc, gc, yc, self));
                return Ok(out(T::wrap(dx), l1.shape().clone()));
            }
            dx.par_chunks_mut(c * r)
                .zip(x.par_chunks(c * r))
                .zip(dy.par_chunks(c * r).zip(y.par_chunks(c * r)))
                .for_each(|((dxn, xn), (dyn_, yn))| {
                    for ch in 0..c {
                        let span = ch * r..(ch + 1) * r;
                        let (xs, gs, ys) =
                            (&xn[span.clone()], &dyn_[span.clone()], &yn[span.clone()]);
                        plane_dx_mv(&mut dxn[span], xs, gs, ys, self, ch);
                    }
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// Fused training-mode batch norm followed by `act`: `(y, mean, biased var)` per channel
/// (f64).
pub(crate) fn bn_train_fused(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
    act: Activation,
) -> candle_core::Result<(Tensor, BnStats)> {
    apply_with_stats(x, w, b, |stats| BnTrain { eps, act, stats })
}

/// What a fused "product → training-mode batch norm → activation" op (a fully connected
/// layer's or a convolution's) keeps from its forward for its backward: the batch
/// statistics and the product `z`, the batch norm's input, which is then no graph node of
/// its own.
pub(crate) struct BnSaved {
    eps: f64,
    act: Activation,
    stats: Arc<Mutex<BnStats>>,
    z: Arc<Mutex<Option<Tensor>>>,
    /// The input's device, for `z`'s tensor.
    pub(crate) device: candle_core::Device,
}

impl BnSaved {
    pub(crate) fn new(
        eps: f64,
        act: Activation,
        stats: Arc<Mutex<BnStats>>,
        device: &candle_core::Device,
    ) -> Self {
        Self {
            eps,
            act,
            stats,
            z: Arc::new(Mutex::new(None)),
            device: device.clone(),
        }
    }

    /// The batch norm and activation of the product `z` (`(N, C, R)` = `g`, `shape` its
    /// tensor shape) with `gb` = `[γ, β]`; keeps `z` and the batch statistics.
    pub(crate) fn forward<T: Real + candle_core::WithDType>(
        &self,
        z: Vec<T>,
        g: (usize, usize, usize),
        shape: impl Into<Shape>,
        gb: &[T],
    ) -> candle_core::Result<Vec<T>> {
        let c = g.1;
        let (y, st) = bn_forward(&z, g, &gb[..c], &gb[c..], self.eps, self.act);
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = st;
        *self.z.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Tensor::from_vec(z, shape, &self.device)?);
        Ok(y)
    }

    /// The gradient of the product and (if `gb` tracks) of `[γ, β]`, for the output `res`
    /// and its gradient `dy`; `what` names the op in the error if no forward ran.
    pub(crate) fn backward(
        &self,
        what: &str,
        gb: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        let z = self
            .z
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| candle_core::Error::Msg(format!("{what}: no forward")))?;
        let st = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let c = gb.dim(0)? / 2;
        let (gamma, beta) = (gb.narrow(0, 0, c)?, gb.narrow(0, c, c)?);
        let (dz, dgamma, dbeta) = bn_backward(self.eps, self.act, st, &z, &gamma, &beta, res, dy)?;
        let dgb = if gb.track_op() {
            Some(Tensor::cat(&[&dgamma, &dbeta], 0)?)
        } else {
            None
        };
        Ok((dz, dgb))
    }
}

/// Applies the op `op` builds around a fresh statistics slot to `(x, w, b)` (each made
/// contiguous) and returns its output with the statistics its forward left there.
pub(crate) fn apply_with_stats<C: CustomOp3 + Send + Sync + 'static>(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    op: impl FnOnce(Arc<Mutex<BnStats>>) -> C,
) -> candle_core::Result<(Tensor, BnStats)> {
    let stats = Arc::new(Mutex::new(BnStats::default()));
    let y = x
        .contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op(stats.clone()))?;
    let st = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((y, st))
}
