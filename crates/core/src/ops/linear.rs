//! Fully connected layers as ops over `(…, K)` rows: `nn::Linear`, the MLPs built from
//! it, and PointNet's shared point-wise MLPs ("1×1 convolutions" run as one matmul over
//! every point of the batch).
//!
//! * [`linear`]: `act(x·Wᵀ + b)` as one op: one gemm and one fused bias + activation
//!   pass forward; backward computes only the gradients that are needed (candle's
//!   matmul backward always computes the weight gradient, a second full gemm, even
//!   for detached weights, and every extra node costs a zero-fill and an add);
//! * [`bias_relu`]: `max(x + b, 0)` in one pass, with a one-pass backward for `x`
//!   and a parallel column sum for `b` (candle: a broadcast add, a ReLU and, for the
//!   gradient, a mask built in several full-size passes plus a strided sum over rows).
//!
//! The weight is `(out, in)`, PyTorch's layout; the product reads it transposed through
//! strides, so no transposed copy is made forward or backward.
//!
//! The three products (forward, `dX = dZ·W`, `dW = dZᵀ·X`) are candor's own for f32 on a
//! CPU with AVX-512 (`kernel::f32_avx512::gemm_strided`: the convolutions' 8 × 32 tile,
//! `A` read in place, `B` packed per column panel; dot products for layers of at most 8
//! outputs) and the `gemm` crate otherwise. On the 2-core AMD EPYC VM a 256 × 256 × 256
//! product takes 150–160 µs on two threads in any of the three layouts (about 210 GFLOP/s,
//! 90 % of the cores' nominal peak) against 257–288 µs for candle's matmul, and a
//! critic's 256 → 1 output layer at batch 256 5 µs against 40–52 µs (docs/performance.md).
//! Each value is one fixed chain of multiply-adds whatever the thread count, and the
//! same on every AVX-512 CPU (the `gemm` crate's blocking follows the detected caches).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{ActBwd, Activation};
use super::backend::{route, Candle, Route};
use super::batchnorm::{apply_with_stats, BnSaved, BnStats};
use super::kernel::{
    alloc_for_overwrite, dispatch, matmul, multiversion, out, slice, threads, Real,
};
use crate::{Error, Result};

/// Rows per parallel task.
const ROWS: usize = 256;

/// Rows per f64 part of [`ColumnSum`] (the parts are then added in order): fixed, so that
/// the bias gradient's rounding does not depend on the thread count.
pub(super) const COLUMN_SUM_PART_ROWS: usize = ROWS * 8;

struct BiasRelu;
struct ColumnSum;

impl CustomOp2 for BiasRelu {
    fn name(&self) -> &'static str {
        "candor-bias-relu"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch!(s1, "bias_relu", |T| {
            let (x, b) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let c = b.len();
            // SAFETY: every element is written below.
            let mut y = unsafe { alloc_for_overwrite::<T>(x.len()) };
            y.par_chunks_mut(c * ROWS)
                .zip(x.par_chunks(c * ROWS))
                .for_each(|(yc, xc)| {
                    for (yr, xr) in yc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
                        for ((o, &v), &bb) in yr.iter_mut().zip(xr).zip(b) {
                            let s = v + bb;
                            *o = if s > T::ZERO { s } else { T::ZERO };
                        }
                    }
                });
            Ok(out(T::wrap(y), l1.shape().clone()))
        })
    }
    fn bwd(
        &self,
        _x: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = res.apply_op2_no_bwd(&dy.contiguous()?, &ActBwd(Activation::Relu))?;
        let db = dx.apply_op1_no_bwd(&ColumnSum)?;
        Ok((Some(dx), Some(db)))
    }
}

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "candor-column-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let c = *l.dims().last().unwrap_or(&1);
        dispatch!(s, "column sum", |T| {
            let x = slice::<T>(s, l)?;
            let parts: Vec<Vec<f64>> = x
                .par_chunks(c * COLUMN_SUM_PART_ROWS)
                .map(|xc| {
                    let mut acc = vec![0f64; c];
                    column_sum_mv(xc, &mut acc);
                    acc
                })
                .collect();
            let mut total = vec![0f64; c];
            for p in parts {
                for (t, v) in total.iter_mut().zip(p) {
                    *t += v;
                }
            }
            let v: Vec<T> = total.into_iter().map(T::from_f64).collect();
            Ok(out(T::wrap(v), c))
        })
    }
}

/// `max(x + b, 0)` for `x` shaped `(…, C)` and `b` shaped `(C)`, differentiable in
/// both (gradient 0 at 0). Off the CPU and for dtypes other than f32/f64: candle ops
/// (`candle_relu` of a broadcast add).
pub fn bias_relu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    let c = *x.dims().last().unwrap_or(&0);
    if b.dims() != [c] || x.rank() == 0 {
        return Err(Error::invalid(format!(
            "bias_relu: bias {:?} does not match the last dimension of {:?}",
            b.dims(),
            x.dims()
        )));
    }
    same_dtype("bias_relu", &[x, b])?;
    match route("bias_relu", &[x, b], Candle::Trainable)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op2(&b.contiguous()?, BiasRelu)?),
        Route::Candle => candle_bias_relu(x, b),
    }
}

/// [`bias_relu`] from candle ops.
pub(super) fn candle_bias_relu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    Activation::Relu.apply_composed(&x.broadcast_add(b)?)
}

/// An error unless every tensor has the first one's dtype.
pub(super) fn same_dtype(op: &str, ts: &[&Tensor]) -> Result<()> {
    match ts.iter().find(|t| t.dtype() != ts[0].dtype()) {
        Some(t) => Err(Error::invalid(format!(
            "{op}: inputs of different dtypes ({:?} and {:?})",
            ts[0].dtype(),
            t.dtype()
        ))),
        None => Ok(()),
    }
}

/// `y[r][j] ← act(y[r][j] + b[j])` over whole rows of `y`: the linear layer's output pass.
/// The activation is matched once per call, not per element, so that the identity and
/// ReLU loops vectorise (same per-element arithmetic as [`Activation::f`]).
#[inline(always)]
fn bias_act_rows<T: Real>(y: &mut [T], b: &[T], act: Activation) {
    let rows = y.chunks_exact_mut(b.len());
    match act {
        Activation::Identity => {
            for yr in rows {
                for (o, &bb) in yr.iter_mut().zip(b) {
                    *o += bb;
                }
            }
        }
        Activation::Relu => {
            for yr in rows {
                for (o, &bb) in yr.iter_mut().zip(b) {
                    let s = *o + bb;
                    *o = if s > T::ZERO { s } else { T::ZERO };
                }
            }
        }
        act => {
            for yr in rows {
                for (o, &bb) in yr.iter_mut().zip(b) {
                    *o = act.f(*o + bb);
                }
            }
        }
    }
}

multiversion!(bias_act_mv => bias_act_rows(y: &mut [T], b: &[T], act: Activation));

/// Adds each row of `x` (`c` columns) to `acc` in f64: one part of [`ColumnSum`].
#[inline(always)]
fn column_sum_rows<T: Real>(x: &[T], acc: &mut [f64]) {
    for r in x.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(r) {
            *a += Real::to_f64(v);
        }
    }
}

multiversion!(column_sum_mv => column_sum_rows(x: &[T], acc: &mut [f64]));

struct Linear {
    act: Activation,
}

impl candle_core::CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "candor-linear"
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
        let (n, k) = l2.shape().dims2()?;
        let m = l1.shape().elem_count() / k.max(1);
        let mut shape = l1.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        dispatch!(s1, "linear", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            // SAFETY: the product overwrites every element (it does not read `y`; k = 0
            // writes zeros).
            let mut y = unsafe { alloc_for_overwrite::<T>(m * n) };
            // rhs[p][j] = W[j][p]
            matmul((m, n, k), &mut y, x, (k, 1), w, (1, k), threads());
            let act = self.act;
            y.par_chunks_mut(n * ROWS)
                .for_each(|yc| bias_act_mv(yc, b, act));
            Ok(out(T::wrap(y), shape))
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
        let (n, k) = w.dims2()?;
        let m = x.elem_count() / k.max(1);
        let dz = match self.act {
            Activation::Identity => dy.contiguous()?,
            act => res.apply_op2_no_bwd(&dy.contiguous()?, &ActBwd(act))?,
        };
        let dz2 = dz.reshape((m, n))?;
        let dx = if x.track_op() {
            let dx = dz2.apply_op2_no_bwd(w, &Product { lhs_t: false })?;
            Some(dx.reshape(x.shape())?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(dz2.apply_op2_no_bwd(&x.reshape((m, k))?, &Product { lhs_t: true })?)
        } else {
            None
        };
        let db = if b.track_op() {
            Some(dz2.apply_op1_no_bwd(&ColumnSum)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// `op(a) · b` for contiguous 2-D `a` and `b`, with `op(a) = aᵀ` when `lhs_t`: the
/// products of [`Linear`]'s backward, `dX = dZ · W` and `dW = dZᵀ · X` (the transpose
/// read through strides, not copied).
struct Product {
    lhs_t: bool,
}

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        "candor-linear-product"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (r, c) = l1.shape().dims2()?;
        let (kb, n) = l2.shape().dims2()?;
        let (m, k, strides) = if self.lhs_t {
            (c, r, (1, c))
        } else {
            (r, c, (c, 1))
        };
        if k != kb {
            candle_core::bail!("linear product: {m}×{k} times {kb}×{n}");
        }
        dispatch!(s1, "linear", |T| {
            let (a, b) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            // SAFETY: the product overwrites every element (k = 0 writes zeros).
            let mut y = unsafe { alloc_for_overwrite::<T>(m * n) };
            matmul((m, n, k), &mut y, a, strides, b, (n, 1), threads());
            Ok(out(T::wrap(y), (m, n)))
        })
    }
}

/// `act(batch_norm(x·Wᵀ))` in training mode for `x` `(M, K)`, `W` `(C, K)` and the batch
/// norm's `γ` and `β` as one `(2C)` tensor `[γ, β]`: the product and the batch norm as
/// one graph node, so the product's `(M, C)` output is never a node of its own (no
/// zero-filled gradient buffer and addition for it in candle's backward, and no pass
/// adding a zero bias). The product is kept here for the backward.
struct LinearBnTrain {
    saved: BnSaved,
}

impl CustomOp3 for LinearBnTrain {
    fn name(&self) -> &'static str {
        "candor-linear-batch-norm-train"
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
        let (n, kw) = l2.shape().dims2()?;
        if kw != k || l3.shape().elem_count() != 2 * n {
            candle_core::bail!(
                "linear_batch_norm: x {:?}, W {:?}, [γ, β] {:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        dispatch!(s1, "linear_batch_norm", |T| {
            let (x, w, gb) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            // SAFETY: the product overwrites every element (k = 0 writes zeros).
            let mut z = unsafe { alloc_for_overwrite::<T>(m * n) };
            matmul((m, n, k), &mut z, x, (k, 1), w, (1, k), threads());
            let y = self.saved.forward(z, (m, n, 1), (m, n), gb)?;
            Ok(out(T::wrap(y), (m, n)))
        })
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        gb: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dz, dgb) = self.saved.backward("linear_batch_norm", gb, res, dy)?;
        let (dx, dw) = product_grads(x, w, &dz)?;
        Ok((dx, dw, dgb))
    }
}

/// The gradients of `x` `(M, K)` and `W` `(C, K)` from the product's `dZ` `(M, C)`: `dZ·W`
/// and `dZᵀ·X`, each only where that input is tracked.
pub(super) fn product_grads(
    x: &Tensor,
    w: &Tensor,
    dz: &Tensor,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
    let dx = if x.track_op() {
        Some(dz.apply_op2_no_bwd(w, &Product { lhs_t: false })?)
    } else {
        None
    };
    let dw = if w.track_op() {
        Some(dz.apply_op2_no_bwd(x, &Product { lhs_t: true })?)
    } else {
        None
    };
    Ok((dx, dw))
}

/// The kernel route of [`super::linear_batch_norm_train_act`]: `x` `(M, K)` and `W`
/// `(C, K)` contiguous, `gb` = `[γ, β]`. Returns the output and the batch statistics.
pub(crate) fn linear_bn_train_fused(
    x: &Tensor,
    w: &Tensor,
    gb: &Tensor,
    eps: f64,
    act: Activation,
) -> candle_core::Result<(Tensor, BnStats)> {
    apply_with_stats(x, w, gb, |stats| LinearBnTrain {
        saved: BnSaved::new(eps, act, stats, x.device()),
    })
}

/// `act(x·Wᵀ + b)` for `x` shaped `(…, K)`, `W` `(N, K)` and `b` `(N)` (a zero bias when
/// `None`): a fully connected layer over rows, or PointNet's shared MLP over every point
/// of a batch. Gradients are computed only for the inputs that need one (a detached
/// weight costs no weight gradient).
///
/// On the CPU (f32, f64) this is one custom op; off the CPU and for other dtypes it is
/// candle's matmul, broadcast add and the activation composed from candle ops, each with
/// its own backward.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{linear, Activation};
/// let x = Tensor::new(&[[1f32, 2.0]], &Device::Cpu).unwrap();
/// let w = Tensor::new(&[[1f32, 1.0], [1.0, -1.0]], &Device::Cpu).unwrap(); // (out, in)
/// let b = Tensor::new(&[0.5f32, 0.0], &Device::Cpu).unwrap();
/// let y = linear(&x, &w, Some(&b), Activation::Relu).unwrap();
/// assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![3.5, 0.0]]);
/// ```
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: Activation) -> Result<Tensor> {
    act.validate()?;
    let (n, inputs) = check_args("linear", x, w, b)?;
    if route("linear", &inputs, Candle::Trainable)? == Route::Candle {
        return candle_linear(x, w, b, act);
    }
    if act.needs_input() {
        // The fused backward keeps only the output; SiLU runs as its own op.
        return act.apply(&linear(x, w, b, Activation::Identity)?);
    }
    let b = match b {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(n, x.dtype(), x.device())?,
    };
    Ok(x.contiguous()?
        .apply_op3(&w.contiguous()?, &b, Linear { act })?)
}

/// The checks shared by [`linear`] and [`super::linear_max`]: `W` `(N, K)`, `x` ending in
/// `K`, `b` `(N)`, one dtype. Returns `N` and the inputs `[x, W, b?]`.
pub(super) fn check_args<'a>(
    op: &str,
    x: &'a Tensor,
    w: &'a Tensor,
    b: Option<&'a Tensor>,
) -> Result<(usize, Vec<&'a Tensor>)> {
    let (n, k) = w.dims2().map_err(|_| {
        Error::invalid(format!(
            "{op}: weight must be (out, in), got {:?}",
            w.dims()
        ))
    })?;
    if x.rank() == 0 || *x.dims().last().unwrap_or(&0) != k {
        return Err(Error::invalid(format!(
            "{op}: input {:?} does not end in the weight's {k} inputs",
            x.dims()
        )));
    }
    if let Some(b) = b {
        if b.dims() != [n] {
            return Err(Error::invalid(format!(
                "{op}: bias {:?} for {n} outputs",
                b.dims()
            )));
        }
    }
    let mut inputs = vec![x, w];
    inputs.extend(b);
    same_dtype(op, &inputs)?;
    Ok((n, inputs))
}

/// [`linear`] from candle ops: a broadcast matmul, a broadcast add, the activation
/// composed from candle ops.
pub(super) fn candle_linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    act: Activation,
) -> Result<Tensor> {
    let y = x.broadcast_matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    act.apply_composed(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check;
    use crate::SeededRng;
    use candle_core::{DType, Device, Var};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, DType::F64, &Device::Cpu)
            .unwrap()
    }

    #[test]
    fn bias_relu_matches_candle_and_gradient_checks() {
        let x = rand(&[517, 7], 1);
        let b = rand(&[7], 2);
        let ours = bias_relu(&x, &b).unwrap();
        let theirs = x.broadcast_add(&b).unwrap().relu().unwrap();
        let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f64>().unwrap(), 0.0);
        let r = check(
            |t| bias_relu(&t[0], &t[1]),
            &[rand(&[3, 5, 4], 3), rand(&[4], 4)],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        assert!(bias_relu(&x, &rand(&[6], 5)).is_err());
    }

    /// The vectorised output pass, activation backward and column sum give the same bits
    /// as the per-element formulas they replace (`Activation::f`, `df_from_y`, an f64 sum
    /// row by row), on f32 and f64, with exact zeros, negative zeros and ties at 0.
    #[test]
    fn vectorised_passes_equal_the_per_element_formulas_bit_for_bit() {
        fn check<T: Real + std::fmt::Debug>(to: impl Fn(f64) -> T, bits: impl Fn(T) -> u64) {
            let (rows, c) = (37, 19);
            let mut r = SeededRng::new(41);
            let mut v = |i: usize| -> T {
                match i % 11 {
                    0 => to(0.0),
                    1 => to(-0.0),
                    _ => to(r.normal() * 3.0),
                }
            };
            let y0: Vec<T> = (0..rows * c).map(&mut v).collect();
            let b: Vec<T> = (0..c).map(&mut v).collect();
            let dy: Vec<T> = (0..rows * c).map(&mut v).collect();
            for act in [
                Activation::Identity,
                Activation::Relu,
                Activation::LeakyRelu(0.2),
                Activation::Tanh,
                Activation::Elu(1.0),
            ] {
                let mut fast = y0.clone();
                bias_act_mv(&mut fast, &b, act);
                let want: Vec<T> = y0
                    .chunks_exact(c)
                    .flat_map(|row| row.iter().zip(&b).map(|(&o, &bb)| act.f(o + bb)))
                    .collect();
                let (fb, wb): (Vec<u64>, Vec<u64>) = (
                    fast.iter().map(|&x| bits(x)).collect(),
                    want.iter().map(|&x| bits(x)).collect(),
                );
                assert_eq!(fb, wb, "bias + {act:?}");
                let yv: Vec<T> = want;
                let (yt, dyt) = (
                    Tensor::from_vec(yv.clone(), (rows, c), &Device::Cpu).unwrap(),
                    Tensor::from_vec(dy.clone(), (rows, c), &Device::Cpu).unwrap(),
                );
                let dx = yt
                    .apply_op2_no_bwd(&dyt, &ActBwd(act))
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<T>()
                    .unwrap();
                let want_dx: Vec<u64> = yv
                    .iter()
                    .zip(&dy)
                    .map(|(&y, &g)| bits(g * act.df_from_y(y)))
                    .collect();
                assert_eq!(
                    dx.iter().map(|&x| bits(x)).collect::<Vec<_>>(),
                    want_dx,
                    "{act:?}'"
                );
            }
            let mut acc = vec![0f64; c];
            column_sum_mv(&dy, &mut acc);
            let mut want = vec![0f64; c];
            for row in dy.chunks_exact(c) {
                for (a, &v) in want.iter_mut().zip(row) {
                    *a += Real::to_f64(v);
                }
            }
            assert_eq!(
                acc.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
        check::<f32>(|x| x as f32, |x| x.to_bits() as u64);
        check::<f64>(|x| x, |x| x.to_bits());
    }

    #[test]
    fn linear_matches_candle_and_gradient_checks() {
        let x = rand(&[2, 37, 6], 11);
        let w = rand(&[5, 6], 12);
        let b = rand(&[5], 13);
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::Elu(1.0),
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softplus,
        ] {
            let ours = linear(&x, &w, Some(&b), act).unwrap();
            let pre = x
                .broadcast_matmul(&w.t().unwrap())
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            let theirs = act.apply_composed(&pre).unwrap();
            let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f64>().unwrap() < 1e-12, "{act:?}");
            let r = check(
                |t| linear(&t[0], &t[1], Some(&t[2]), act),
                &[rand(&[3, 4, 6], 14), rand(&[5, 6], 15), rand(&[5], 16)],
                80,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "{act:?}: {r:?}");
        }
        let r = check(
            |t| linear(&t[0], &t[1], None, Activation::Identity),
            &[rand(&[7, 3], 17), rand(&[2, 3], 18)],
            40,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "no bias: {r:?}");
        // A detached weight gets no gradient, the input still does.
        let xv = Var::from_tensor(&x).unwrap();
        let g = linear(xv.as_tensor(), &w, Some(&b), Activation::Relu)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(xv.as_tensor()).is_some() && g.get(&w).is_none());
        assert!(linear(&x, &rand(&[5, 4], 1), None, Activation::Identity).is_err());
        assert!(linear(&x, &w, Some(&rand(&[4], 1)), Activation::Identity).is_err());
    }

    /// The fused product + batch norm + activation gives the bits of the two ops it
    /// replaces (values, batch statistics and every gradient), on f32 and f64, on a shape
    /// the AVX-512 tiles take and on a narrow one, with each activation the batch norm
    /// fuses; gradient-checked in f64; bad shapes are refused.
    #[test]
    fn linear_batch_norm_is_linear_then_batch_norm_bit_for_bit() {
        use crate::gradcheck::bits;
        use crate::ops::{batch_norm_train_act, linear_batch_norm_train_act};
        for dtype in [DType::F32, DType::F64] {
            for (m, k, c) in [(300, 64, 96), (37, 5, 3)] {
                for act in [Activation::Identity, Activation::Relu, Activation::Silu] {
                    let vars: Vec<Var> = [
                        rand(&[m, k], 21),
                        rand(&[c, k], 22),
                        rand(&[c], 23),
                        rand(&[c], 24),
                    ]
                    .iter()
                    .map(|t| Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap())
                    .collect();
                    let [x, w, g, b] = [0, 1, 2, 3].map(|i| vars[i].as_tensor());
                    // A weighted sum, so each output has its own gradient.
                    let r = rand(&[m, c], 25).to_dtype(dtype).unwrap();
                    let fused =
                        linear_batch_norm_train_act(x, w, Some(g), Some(b), 1e-5, act).unwrap();
                    let z = linear(x, w, None, Activation::Identity).unwrap();
                    let apart = batch_norm_train_act(&z, Some(g), Some(b), 1e-5, act).unwrap();
                    let what = format!("{dtype:?} {m}×{k}→{c} {act:?}");
                    for (u, v) in [
                        (&fused.0, &apart.0),
                        (&fused.1, &apart.1),
                        (&fused.2, &apart.2),
                    ] {
                        assert_eq!(bits(u), bits(v), "{what}");
                    }
                    let gf = fused
                        .0
                        .mul(&r)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let ga = apart
                        .0
                        .mul(&r)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    for t in [x, w, g, b] {
                        assert_eq!(
                            bits(gf.get(t).unwrap()),
                            bits(ga.get(t).unwrap()),
                            "{what}: gradient"
                        );
                    }
                }
            }
        }
        let r = check(
            |t| {
                let (y, _, _) = linear_batch_norm_train_act(
                    &t[0],
                    &t[1],
                    Some(&t[2]),
                    Some(&t[3]),
                    1e-5,
                    Activation::Silu,
                )?;
                Ok(y)
            },
            &[
                rand(&[9, 4], 26),
                rand(&[3, 4], 27),
                rand(&[3], 28),
                rand(&[3], 29),
            ],
            60,
            1e-6,
            1e-7,
            1e-5,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        let w = rand(&[3, 4], 30);
        let bad = |x: &Tensor, w: &Tensor| {
            linear_batch_norm_train_act(x, w, None, None, 1e-5, Activation::Relu).is_err()
        };
        assert!(bad(&rand(&[2, 5, 4], 31), &w), "3-D input");
        assert!(bad(&rand(&[5, 3], 32), &w), "K mismatch");
        assert!(bad(&rand(&[1, 4], 33), &w), "one row");
        assert!(bad(&rand(&[5, 4], 34), &rand(&[3, 4, 1], 35)), "3-D weight");
    }
}
