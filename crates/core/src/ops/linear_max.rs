//! PointNet's last shared-MLP layer and its max-pool over the points as one op:
//! `max_n act(x[b, n]·Wᵀ + bias)`, [`linear_max`].
//!
//! Composed, the two ops keep the layer's `(B·N, C)` output (128 MB for a TF PointNet's
//! 1024 channels at 32 clouds of 1024 points), and the backward makes it dense again: the
//! max-pool's gradient is a `(B·N, C)` tensor with one non-zero per cloud and channel,
//! candle adds it to a zero-filled buffer, the activation's backward reads it, and the
//! input gradient is a full product `dZ·W` (4.3 G multiply-adds at that size) of which
//! all but `B·C` rows of terms are zeros. Here the forward reduces each cloud's product
//! while it is in cache and keeps only the winning point of every channel; the backward
//! touches those `B·C` points alone (`B·C·K` multiply-adds for each gradient).
//!
//! The values are those of `max_dim1(linear(x, W, b, act))`: each output is the same
//! activation of the same product chain and the first maximum is taken by the same rule
//! (`!(v ≤ m)`, so a NaN wins as in [`super::max_dim1`]); each gradient element is the
//! dense product's multiply-add chain over the same terms in the same order without its
//! zero terms, which on an AVX-512 CPU (candor's own products, one chain per value) gives
//! the same bits (the tests compare them).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{ActBwd, Activation};
use super::backend::{route, Candle, Route};
use super::batchnorm::{apply_with_stats, BnSaved, BnStats};
use super::kernel::{
    alloc_for_overwrite, dispatch, matmul, multiversion, out, slice, threads, Real,
};
use super::linear::{check_args, linear, product_grads, COLUMN_SUM_PART_ROWS};
use crate::{Error, Result};

/// Elements of one cloud's product block (4 MB of f32): a TF PointNet's 1024 × 1024
/// cloud in one block, reduced while it is in the last-level cache. (Small in the tests,
/// so that their clouds span several blocks.)
const BLOCK: usize = if cfg!(test) { 256 } else { 1 << 20 };

/// `max` over the points of `act(x·Wᵀ + b)`: `x` `(B, N, K)`, `W` `(C, K)`, `b` `(C)` (a
/// zero bias when `None`) → `(B, C)`, differentiable in all three. The values of
/// `max_dim1(&linear(x, w, b, act)?)` (one pass, the product never stored whole), with a
/// backward over the winning point of each cloud and channel only (module docs).
///
/// Off the CPU, for dtypes other than f32/f64 and for SiLU (whose backward needs the
/// product) it is that composition.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{linear_max, Activation};
/// // Two clouds of three 2-D points; two channels.
/// let x = Tensor::new(&[[[1f32, 0.], [0., 2.], [3., 1.]], [[-1., 0.], [0., -1.], [1., 1.]]],
///     &Device::Cpu)?;
/// let w = Tensor::new(&[[1f32, 0.], [0., -1.]], &Device::Cpu)?;
/// let y = linear_max(&x, &w, None, Activation::Relu)?;
/// assert_eq!(y.to_vec2::<f32>()?, [[3., 0.], [1., 1.]]);
/// # Ok::<(), candor_core::Error>(())
/// ```
pub fn linear_max(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: Activation) -> Result<Tensor> {
    act.validate()?;
    let (_, n, _) = x.dims3().map_err(|_| {
        Error::invalid(format!(
            "linear_max: input must be (clouds, points, features), got {:?}",
            x.dims()
        ))
    })?;
    if n == 0 {
        return Err(Error::invalid("linear_max: clouds of no points"));
    }
    let (c, inputs) = check_args("linear_max", x, w, b)?;
    if route("linear_max", &inputs, Candle::Trainable)? == Route::Candle || act.needs_input() {
        return super::max_dim1(&linear(x, w, b, act)?);
    }
    let b = match b {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(c, x.dtype(), x.device())?,
    };
    let op = LinearMax {
        act,
        winners: Mutex::new(Arc::new(Vec::new())),
    };
    Ok(x.contiguous()?.apply_op3(&w.contiguous()?, &b, op)?)
}

/// The op; the forward leaves the winning point of every cloud and channel (`(B, C)`,
/// row-major) for the backward.
struct LinearMax {
    act: Activation,
    winners: Mutex<Arc<Vec<u32>>>,
}

/// Folds rows of the product `z` (`rows × C`, points `p0..`) into the running maxima `m`
/// and their points `at`: `v = act(z + b)` as [`super::linear`]'s output pass computes
/// it, and the first maximum by [`super::max_dim1`]'s rule.
// `!(v <= m)`: "greater, or unordered" in one comparison (a NaN wins, as `max_dim1`'s
// `v > m || v.partial_cmp(m).is_none()`), which the loop vectorises as a masked blend.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline(always)]
fn fold_rows<T: Real>(z: &[T], b: &[T], act: Activation, p0: usize, m: &mut [T], at: &mut [u32]) {
    let rows = z.chunks_exact(b.len()).zip(p0 as u32..);
    macro_rules! fold {
        (|$s:ident| $v:expr) => {
            for (zr, p) in rows {
                for (((&zv, &bb), mj), aj) in zr.iter().zip(b).zip(m.iter_mut()).zip(at.iter_mut())
                {
                    let $s = zv + bb;
                    let v = $v;
                    if !(v <= *mj) {
                        *mj = v;
                        *aj = p;
                    }
                }
            }
        };
    }
    match act {
        Activation::Identity => fold!(|s| s),
        Activation::Relu => fold!(|s| if s > T::ZERO { s } else { T::ZERO }),
        act => fold!(|s| act.f(s)),
    }
}

multiversion!(fold_rows_mv => fold_rows(
    z: &[T], b: &[T], act: Activation, p0: usize, m: &mut [T], at: &mut [u32]
));

/// One cloud: `x` `(N, K)` → its maxima `m` and winning points `at` (`C` each), the
/// product in blocks of at most [`BLOCK`] elements on `th` threads.
fn cloud<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    (n, k): (usize, usize),
    act: Activation,
    (m, at): (&mut [T], &mut [u32]),
    th: usize,
) {
    let c = b.len();
    let rows = (BLOCK / c.max(1)).clamp(1, n);
    // SAFETY: each block's product overwrites the `r·C` elements the fold then reads.
    let mut z = unsafe { alloc_for_overwrite::<T>(rows * c) };
    m.fill(T::NEG_INF);
    at.fill(0);
    for p0 in (0..n).step_by(rows) {
        let r = rows.min(n - p0);
        let zb = &mut z[..r * c];
        // rhs[q][j] = W[j][q], as `linear`'s forward.
        matmul(
            (r, c, k),
            zb,
            &x[p0 * k..(p0 + r) * k],
            (k, 1),
            w,
            (1, k),
            th,
        );
        fold_rows_mv(zb, b, act, p0, m, at);
    }
}

impl CustomOp3 for LinearMax {
    fn name(&self) -> &'static str {
        "candor-linear-max"
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
        let (bs, n, k) = l1.shape().dims3()?;
        let c = l2.shape().dims2()?.0;
        dispatch!(s1, "linear_max", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let mut m = vec![T::ZERO; bs * c];
            let mut at = vec![0u32; bs * c];
            let th = threads();
            if bs >= 2 * th {
                // Clouds in parallel, each product on one thread (the same values: one
                // multiply-add chain per element whatever the split).
                m.par_chunks_mut(c.max(1))
                    .zip(at.par_chunks_mut(c.max(1)))
                    .zip(x.par_chunks((n * k).max(1)))
                    .for_each(|((mc, ac), xc)| cloud(xc, w, b, (n, k), self.act, (mc, ac), 1));
            } else {
                for ((mc, ac), xc) in m
                    .chunks_mut(c.max(1))
                    .zip(at.chunks_mut(c.max(1)))
                    .zip(x.chunks((n * k).max(1)))
                {
                    cloud(xc, w, b, (n, k), self.act, (mc, ac), th);
                }
            }
            *self.winners.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(at);
            Ok(out(T::wrap(m), (bs, c)))
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
        let winners = self
            .winners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // The activation's gradient at the winners (the dense gradient's only non-zeros).
        let dz = match self.act {
            Activation::Identity => dy.contiguous()?,
            act => res.apply_op2_no_bwd(&dy.contiguous()?, &ActBwd(act))?,
        };
        let (_, n, _) = x.dims3()?;
        let sparse = |what| Sparse {
            what,
            winners: winners.clone(),
            n,
        };
        let dx = if x.track_op() {
            Some(dz.apply_op2_no_bwd(w, &sparse(Grad::Input))?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(dz.apply_op2_no_bwd(x, &sparse(Grad::Weight))?)
        } else {
            None
        };
        let db = if b.track_op() {
            Some(dz.apply_op1_no_bwd(&sparse(Grad::Bias))?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

#[derive(Clone, Copy)]
enum Grad {
    Input,
    Weight,
    Bias,
}

/// A gradient of [`LinearMax`] from `dZ` `(B, C)` at the winning points: of the input
/// (with `W`), of the weight (with `x`) or of the bias.
struct Sparse {
    what: Grad,
    winners: Arc<Vec<u32>>,
    /// Points per cloud.
    n: usize,
}

/// `dx` rows of one cloud (`N × K`, zeroed): row `at[j]` gains `dz[j]·W[j]`, channel `j`
/// ascending, so each element is the chain `dZ·W` computes, without its zero terms.
#[inline(always)]
fn input_rows<T: Real>(dx: &mut [T], dz: &[T], w: &[T], at: &[u32]) {
    let k = w.len() / dz.len().max(1);
    for ((&g, &p), wr) in dz.iter().zip(at).zip(w.chunks_exact(k.max(1))) {
        if g == T::ZERO {
            continue;
        }
        let row = &mut dx[p as usize * k..][..k];
        for (o, &wv) in row.iter_mut().zip(wr) {
            *o = g.mul_add(wv, *o);
        }
    }
}

multiversion!(input_rows_mv => input_rows(dx: &mut [T], dz: &[T], w: &[T], at: &[u32]));

/// One weight row `dw` (`K`) of channel `j`: the clouds' terms `dz[b]·x[b, at[b]]` in
/// cloud order (the points' order in `dZᵀ·X`).
#[inline(always)]
fn weight_row<T: Real>(
    dw: &mut [T],
    dz: &[T],
    x: &[T],
    at: &[u32],
    (n, c, j): (usize, usize, usize),
) {
    let k = dw.len();
    dw.fill(T::ZERO);
    for bi in 0..dz.len() / c.max(1) {
        let g = dz[bi * c + j];
        if g == T::ZERO {
            continue;
        }
        let p = bi * n + at[bi * c + j] as usize;
        for (o, &xv) in dw.iter_mut().zip(&x[p * k..][..k]) {
            *o = g.mul_add(xv, *o);
        }
    }
}

multiversion!(weight_row_mv => weight_row(
    dw: &mut [T], dz: &[T], x: &[T], at: &[u32], ncj: (usize, usize, usize)
));

impl CustomOp2 for Sparse {
    fn name(&self) -> &'static str {
        "candor-linear-max-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (bs, c) = l1.shape().dims2()?;
        let n = self.n;
        let at = &self.winners[..];
        if at.len() != bs * c {
            candle_core::bail!("linear_max backward: no forward winners for {bs}×{c}");
        }
        dispatch!(s1, "linear_max backward", |T| {
            let (dz, other) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            match self.what {
                Grad::Input => {
                    let k = l2.shape().dims2()?.1;
                    let mut dx = vec![T::ZERO; bs * n * k];
                    dx.par_chunks_mut((n * k).max(1))
                        .zip(dz.par_chunks(c.max(1)).zip(at.par_chunks(c.max(1))))
                        .for_each(|(d, (g, a))| input_rows_mv(d, g, other, a));
                    Ok(out(T::wrap(dx), (bs, n, k)))
                }
                Grad::Weight => {
                    let k = l2.shape().dims3()?.2;
                    // SAFETY: weight_row fills each row before adding to it.
                    let mut dw = unsafe { alloc_for_overwrite::<T>(c * k) };
                    dw.par_chunks_mut(k.max(1))
                        .enumerate()
                        .for_each(|(j, row)| weight_row_mv(row, dz, other, at, (n, c, j)));
                    Ok(out(T::wrap(dw), (c, k)))
                }
                Grad::Bias => candle_core::bail!("linear_max backward: the bias is unary"),
            }
        })
    }
}

impl CustomOp1 for Sparse {
    fn name(&self) -> &'static str {
        "candor-linear-max-bias-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (bs, c) = l.shape().dims2()?;
        let at = &self.winners[..];
        if at.len() != bs * c {
            candle_core::bail!("linear_max backward: no forward winners for {bs}×{c}");
        }
        dispatch!(s, "linear_max backward", |T| {
            let dz = slice::<T>(s, l)?;
            let db: Vec<T> = (0..c)
                .map(|j| {
                    // As `linear`'s column sum: Σ over its parts of (Σ of the part's terms),
                    // in f64, rows ascending (a part's zero terms add nothing).
                    let (mut total, mut part, mut cur) = (0f64, 0f64, usize::MAX);
                    for bi in 0..bs {
                        let row = bi * self.n + at[bi * c + j] as usize;
                        if row / COLUMN_SUM_PART_ROWS != cur {
                            total += part;
                            (part, cur) = (0.0, row / COLUMN_SUM_PART_ROWS);
                        }
                        part += dz[bi * c + j].to_f64();
                    }
                    T::from_f64(total + part)
                })
                .collect();
            Ok(out(T::wrap(db), c))
        })
    }
}

/// `y` (`rows × C`, points `p0..` of one cloud) folded into the running maxima `m` and
/// their points `at` by [`super::max_dim1`]'s first-maximum rule.
// `!(v <= m)`: see `fold_rows`.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[inline(always)]
fn max_rows<T: Real>(y: &[T], p0: usize, m: &mut [T], at: &mut [u32]) {
    for (yr, p) in y.chunks_exact(m.len()).zip(p0 as u32..) {
        for ((&v, mj), aj) in yr.iter().zip(m.iter_mut()).zip(at.iter_mut()) {
            if !(v <= *mj) {
                *mj = v;
                *aj = p;
            }
        }
    }
}

multiversion!(max_rows_mv => max_rows(y: &[T], p0: usize, m: &mut [T], at: &mut [u32]));

/// `max_n act(batch_norm_train(x[b, n]·Wᵀ))` for `x` `(B·N, K)` rows of `B` clouds of
/// `points` points, `W` `(C, K)` and `gb` = `[γ, β]`: the training-mode PointNet layer in
/// front of the global max-pool as one node. The layer's `(B·N, C)` output is kept inside
/// the op (the batch norm's backward needs every point), so candle's backward makes no
/// zero-filled buffer for it and adds no gradient to one; the max-pool's gradient is
/// scattered straight into the batch norm's.
pub(super) struct LinearBnTrainMax {
    pub(super) saved: BnSaved,
    pub(super) points: usize,
    winners: Mutex<Arc<Vec<u32>>>,
    y: Mutex<Option<Tensor>>,
}

impl CustomOp3 for LinearBnTrainMax {
    fn name(&self) -> &'static str {
        "candor-linear-batch-norm-train-max"
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
        let (m, k) = l1.shape().dims2()?;
        let (c, kw) = l2.shape().dims2()?;
        let n = self.points;
        if kw != k || l3.shape().elem_count() != 2 * c || n == 0 || m % n != 0 {
            candle_core::bail!(
                "linear_batch_norm_max: x {:?}, W {:?}, [γ, β] {:?}, {n} points",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let bs = m / n;
        dispatch!(s1, "linear_batch_norm_max", |T| {
            let (x, w, gb) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            // SAFETY: the product overwrites every element (k = 0 writes zeros).
            let mut z = unsafe { alloc_for_overwrite::<T>(m * c) };
            matmul((m, c, k), &mut z, x, (k, 1), w, (1, k), threads());
            let y = self.saved.forward(z, (m, c, 1), (m, c), gb)?;
            let mut mx = vec![T::NEG_INF; bs * c];
            let mut at = vec![0u32; bs * c];
            mx.par_chunks_mut(c.max(1))
                .zip(at.par_chunks_mut(c.max(1)))
                .zip(y.par_chunks((n * c).max(1)))
                .for_each(|((mc, ac), yc)| max_rows_mv(yc, 0, mc, ac));
            *self.winners.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(at);
            *self.y.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Tensor::from_vec(y, (m, c), &self.saved.device)?);
            Ok(out(T::wrap(mx), (bs, c)))
        })
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        gb: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let what = "linear_batch_norm_max";
        let y = self
            .y
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| candle_core::Error::Msg(format!("{what}: no forward")))?;
        let winners = self
            .winners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // The max-pool's gradient, dense: each cloud's winner rows get `0 + g` (as candle's
        // first gradient `zeros + g`, which turns −0 into +0), every other element 0.
        let dense = dy.contiguous()?.apply_op1_no_bwd(&Scatter {
            winners,
            points: self.points,
        })?;
        let (dz, dgb) = self.saved.backward(what, gb, &y, &dense)?;
        let (dx, dw) = product_grads(x, w, &dz)?;
        Ok((dx, dw, dgb))
    }
}

/// `(B, C)` gradients → `(B·N, C)`: each at its cloud's winning point, zeros elsewhere.
struct Scatter {
    winners: Arc<Vec<u32>>,
    points: usize,
}

impl CustomOp1 for Scatter {
    fn name(&self) -> &'static str {
        "candor-max-scatter"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (bs, c) = l.shape().dims2()?;
        let (n, at) = (self.points, &self.winners[..]);
        if at.len() != bs * c {
            candle_core::bail!("linear_batch_norm_max backward: no forward winners");
        }
        dispatch!(s, "linear_batch_norm_max backward", |T| {
            let g = slice::<T>(s, l)?;
            let mut d = vec![T::ZERO; bs * n * c];
            d.par_chunks_mut((n * c).max(1))
                .zip(g.par_chunks(c.max(1)).zip(at.par_chunks(c.max(1))))
                .for_each(|(db, (gb, ab))| {
                    for (j, (&gv, &p)) in gb.iter().zip(ab).enumerate() {
                        db[p as usize * c + j] = T::ZERO + gv;
                    }
                });
            Ok(out(T::wrap(d), (bs * n, c)))
        })
    }
}

/// The kernel route of [`super::linear_batch_norm_train_act_max`]: `x` `(B·N, K)` and `W`
/// `(C, K)` contiguous, `gb` = `[γ, β]`. Returns `(B, C)` and the batch statistics.
pub(super) fn linear_bn_train_max_fused(
    x: &Tensor,
    w: &Tensor,
    gb: &Tensor,
    (points, eps, act): (usize, f64, Activation),
) -> candle_core::Result<(Tensor, BnStats)> {
    apply_with_stats(x, w, gb, |stats| LinearBnTrainMax {
        saved: BnSaved::new(eps, act, stats, x.device()),
        points,
        winners: Mutex::new(Arc::new(Vec::new())),
        y: Mutex::new(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{bits, check};
    use crate::ops::{backward_from, kernel::f32_avx512, max_dim1};
    use crate::SeededRng;
    use candle_core::{DType, Device, Var};

    fn randn(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, dtype, &Device::Cpu)
            .unwrap()
    }

    /// Clouds `(B, N, K)` in which points 1, 4 and 9 of each cloud are copies of point 6:
    /// exact ties, which the first maximum must settle as `max_dim1` does.
    fn clouds(b: usize, n: usize, k: usize, seed: u64, dtype: DType) -> Tensor {
        let mut x = randn(&[b, n, k], seed, dtype);
        let p = x.narrow(1, 6, 1).unwrap().affine(1.0, 0.5).unwrap();
        for i in [1, 4, 6, 9] {
            x = x.slice_assign(&[0..b, i..i + 1, 0..k], &p).unwrap();
        }
        x
    }

    /// Value and gradients (input, weight, bias) of `f` from the output gradient `dy`.
    fn run(
        f: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
        (x, w, b): (&Tensor, &Tensor, &Tensor),
        dy_seed: u64,
    ) -> Vec<Tensor> {
        let vs: Vec<Var> = [x, w, b]
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let y = f(vs[0].as_tensor(), vs[1].as_tensor(), vs[2].as_tensor()).unwrap();
        let dy = randn(y.dims(), dy_seed, y.dtype());
        let g = backward_from(&y, &dy).unwrap();
        let mut out = vec![y];
        out.extend(vs.iter().map(|v| g.get(v.as_tensor()).unwrap().clone()));
        out
    }

    /// The value and the three gradients of the composition `max_dim1(linear(…))`: bit for
    /// bit in f32 on an AVX-512 CPU (candor's products), to rounding elsewhere and in f64;
    /// clouds in parallel (B ≥ 2 threads) and one by one, several product blocks per cloud
    /// (the tests' block is 256 elements), ties and activations from the output.
    #[test]
    fn matches_the_composition() {
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Tanh,
            Activation::LeakyRelu(0.2),
        ];
        for dtype in [DType::F32, DType::F64] {
            for (bs, n, k, c) in [(5, 37, 16, 40), (1, 13, 32, 24), (4, 11, 3, 7)] {
                for (i, &act) in acts.iter().enumerate() {
                    let x = clouds(bs, n, k, 1 + i as u64, dtype);
                    let w = randn(&[c, k], 2, dtype);
                    let b = randn(&[c], 3, dtype);
                    let ours = run(|x, w, b| linear_max(x, w, Some(b), act), (&x, &w, &b), 4);
                    let theirs = run(
                        |x, w, b| max_dim1(&linear(x, w, Some(b), act)?),
                        (&x, &w, &b),
                        4,
                    );
                    let exact = dtype == DType::F32 && f32_avx512::available() && k >= 16;
                    for (what, (o, t)) in ["value", "dx", "dw", "db"]
                        .iter()
                        .zip(ours.iter().zip(&theirs))
                    {
                        let ctx = format!("{dtype:?} {bs}×{n}×{k}→{c} {act:?} {what}");
                        if exact {
                            assert_eq!(bits(o), bits(t), "{ctx}");
                        } else {
                            let d = (o - t).unwrap().abs().unwrap().flatten_all().unwrap();
                            let d = d.max(0).unwrap().to_dtype(DType::F64).unwrap();
                            let tol = if dtype == DType::F32 { 1e-4 } else { 1e-12 };
                            assert!(d.to_scalar::<f64>().unwrap() < tol, "{ctx}");
                        }
                    }
                }
            }
        }
    }

    /// The gradient goes to the first of several tied points only.
    #[test]
    fn ties_go_to_the_first_point() {
        let x = clouds(2, 12, 4, 5, DType::F32);
        let w = randn(&[6, 4], 6, DType::F32);
        let g = run(
            |x, w, b| linear_max(x, w, Some(b), Activation::Identity),
            (&x, &w, &randn(&[6], 7, DType::F32)),
            8,
        );
        let dx = g[1].to_vec3::<f32>().unwrap();
        for cloud in &dx {
            let moved = |p: usize| cloud[p].iter().any(|&v| v != 0.0);
            // Points 4, 6 and 9 copy point 1: at most point 1 of the four gets gradient.
            assert!(![4, 6, 9].iter().any(|&p| moved(p)), "{cloud:?}");
        }
    }

    /// The bias gradient adds the winners' terms in the column sum's f64 parts of 2048
    /// rows: clouds 0–1 and 2–3 of 1024 points fall in different parts, and terms
    /// `1e20, 0 | −1e20, 1` sum to 0 by parts but to 1 in one chain.
    #[test]
    fn bias_gradient_sums_by_the_column_sums_parts() {
        let x = randn(&[4, 1024, 16], 17, DType::F32);
        let (w, b) = (randn(&[2, 16], 18, DType::F32), randn(&[2], 19, DType::F32));
        let dy = Tensor::new(
            &[[1e20f32, 1e20], [0., 0.], [-1e20, -1e20], [1., 1.]],
            &Device::Cpu,
        )
        .unwrap();
        let grads = |fused: bool| {
            let bv = Var::from_tensor(&b).unwrap();
            let y = if fused {
                linear_max(&x, &w, Some(bv.as_tensor()), Activation::Identity).unwrap()
            } else {
                max_dim1(&linear(&x, &w, Some(bv.as_tensor()), Activation::Identity).unwrap())
                    .unwrap()
            };
            backward_from(&y, &dy)
                .unwrap()
                .get(bv.as_tensor())
                .unwrap()
                .clone()
        };
        let (ours, theirs) = (grads(true), grads(false));
        assert_eq!(theirs.to_vec1::<f32>().unwrap(), [0.0, 0.0]);
        assert_eq!(bits(&ours), bits(&theirs));
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Identity, Activation::Relu, Activation::Sigmoid] {
            let r = check(
                |t| linear_max(&t[0], &t[1], Some(&t[2]), act),
                &[
                    randn(&[3, 9, 5], 9, DType::F64),
                    randn(&[7, 5], 10, DType::F64),
                    randn(&[7], 11, DType::F64),
                ],
                80,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "{act:?}: {r:?}");
        }
    }

    /// Only the needed gradients; a detached weight gets none; SiLU (the composition) works.
    #[test]
    fn detached_inputs_and_silu() {
        let x = Var::from_tensor(&randn(&[2, 8, 5], 12, DType::F32)).unwrap();
        let (w, b) = (randn(&[6, 5], 13, DType::F32), randn(&[6], 14, DType::F32));
        for act in [Activation::Relu, Activation::Silu] {
            let y = linear_max(x.as_tensor(), &w, Some(&b), act).unwrap();
            let want = max_dim1(&linear(x.as_tensor(), &w, Some(&b), act).unwrap()).unwrap();
            assert_eq!(bits(&y), bits(&want), "{act:?}");
            let g = y.sum_all().unwrap().backward().unwrap();
            assert!(g.get(x.as_tensor()).is_some() && g.get(&w).is_none());
        }
    }

    /// The training-mode node against `max_dim1` of `linear_batch_norm_train_act`: the
    /// value, the batch statistics and the four gradients bit for bit (the same product and
    /// batch-norm kernels; the max-pool's gradient scattered as candle's `0 + g`), with ties,
    /// for ReLU, the identity and SiLU, f32 and f64.
    #[test]
    fn train_max_matches_the_composition_bit_for_bit() {
        use crate::ops::{linear_batch_norm_train_act, linear_batch_norm_train_act_max};
        for dtype in [DType::F32, DType::F64] {
            for act in [Activation::Relu, Activation::Identity, Activation::Silu] {
                let (bs, n, k, c) = (3, 12, 8, 6);
                // Clouds with copied points, and clouds of one point repeated (every
                // channel tied at every point: the first must win).
                let tied = randn(&[bs, 1, k], 25, dtype)
                    .broadcast_as((bs, n, k))
                    .unwrap()
                    .contiguous()
                    .unwrap();
                for x in [clouds(bs, n, k, 20, dtype), tied] {
                    let w = randn(&[c, k], 21, dtype);
                    let (g, b) = (randn(&[c], 22, dtype), randn(&[c], 23, dtype));
                    let run = |fused: bool| {
                        let vs: Vec<Var> = [&x, &w, &g, &b]
                            .iter()
                            .map(|t| Var::from_tensor(t).unwrap())
                            .collect();
                        let t = |i: usize| vs[i].as_tensor();
                        let (y, mean, var) = if fused {
                            linear_batch_norm_train_act_max(
                                t(0),
                                t(1),
                                Some(t(2)),
                                Some(t(3)),
                                1e-5,
                                act,
                            )
                            .unwrap()
                        } else {
                            let rows = t(0).reshape((bs * n, k)).unwrap();
                            let (h, mean, var) = linear_batch_norm_train_act(
                                &rows,
                                t(1),
                                Some(t(2)),
                                Some(t(3)),
                                1e-5,
                                act,
                            )
                            .unwrap();
                            (
                                max_dim1(&h.reshape((bs, n, c)).unwrap()).unwrap(),
                                mean,
                                var,
                            )
                        };
                        let dy = randn(y.dims(), 24, dtype);
                        let grads = backward_from(&y, &dy).unwrap();
                        let mut out = vec![y, mean, var];
                        out.extend((0..4).map(|i| grads.get(t(i)).unwrap().clone()));
                        out
                    };
                    let (ours, theirs) = (run(true), run(false));
                    let names = ["value", "mean", "var", "dx", "dw", "dγ", "dβ"];
                    for (what, (o, t)) in names.iter().zip(ours.iter().zip(&theirs)) {
                        assert_eq!(bits(o), bits(t), "{dtype:?} {act:?} {what}");
                    }
                }
            }
        }
        let e = linear_batch_norm_train_act_max(
            &randn(&[4, 3], 1, DType::F32),
            &randn(&[2, 3], 2, DType::F32),
            None,
            None,
            1e-5,
            Activation::Relu,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("linear_batch_norm_max"), "{e}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let x = randn(&[2, 8, 5], 15, DType::F32);
        let w = randn(&[6, 5], 16, DType::F32);
        for (r, what) in [
            (
                linear_max(&x.flatten(0, 1).unwrap(), &w, None, Activation::Relu),
                "rank",
            ),
            (
                linear_max(&x, &w.t().unwrap(), None, Activation::Relu),
                "inputs",
            ),
            (
                linear_max(&x, &w, Some(&randn(&[5], 1, DType::F32)), Activation::Relu),
                "bias",
            ),
            (
                linear_max(&x.narrow(1, 0, 0).unwrap(), &w, None, Activation::Relu),
                "points",
            ),
            (
                linear_max(&x, &w.to_dtype(DType::F64).unwrap(), None, Activation::Relu),
                "dtype",
            ),
        ] {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("linear_max"), "{what}: {e}");
        }
    }
}
