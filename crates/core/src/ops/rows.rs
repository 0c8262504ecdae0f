//! Ops over `(rows, C)` feature matrices, the layout of point-wise MLPs (PointNet's
//! "1×1 convolutions" run as one matmul over every point of the batch):
//!
//! * [`linear`]: `x·Wᵀ (+ b) (then ReLU)` as one op: one gemm and one fused output
//!   pass forward; backward computes only the gradients that are needed (candle's
//!   matmul backward always computes the weight gradient, a second full gemm, even
//!   for detached weights, and every extra node costs a zero-fill and an add);
//! * [`bias_relu`]: `max(x + b, 0)` in one pass, with a one-pass backward for `x`
//!   and a parallel column sum for `b` (candle: a broadcast add, a ReLU and, for the
//!   gradient, a mask built in several full-size passes plus a strided sum over rows);
//! * [`max_dim1`]: the max over the middle dimension of `(B, N, C)` (a global max-pool
//!   over points), whose gradient goes to the **first** maximum of each column, as
//!   PyTorch and TensorFlow do. candle's `max` sends it to every tied maximum, which
//!   changes attack gradients when points are duplicated.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{candle_relu, ReluBwd};
use super::backend::{route, Candle, Route};
use super::kernel::{dispatch, gemm, out, slice, threads, Real};
use crate::{Error, Result};

/// Rows per parallel task.
const ROWS: usize = 256;

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
            let mut y = vec![T::ZERO; x.len()];
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
        let dx = res.apply_op2_no_bwd(&dy.contiguous()?, &ReluBwd)?;
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
                .par_chunks(c * ROWS * 8)
                .map(|xc| {
                    let mut acc = vec![0f64; c];
                    for r in xc.chunks_exact(c) {
                        for (a, &v) in acc.iter_mut().zip(r) {
                            *a += v.to_f64();
                        }
                    }
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
    candle_relu(&x.broadcast_add(b)?)
}

/// An error unless every tensor has the first one's dtype.
fn same_dtype(op: &str, ts: &[&Tensor]) -> Result<()> {
    match ts.iter().find(|t| t.dtype() != ts[0].dtype()) {
        Some(t) => Err(Error::invalid(format!(
            "{op}: inputs of different dtypes ({:?} and {:?})",
            ts[0].dtype(),
            t.dtype()
        ))),
        None => Ok(()),
    }
}

struct Linear {
    relu: bool,
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
            let mut y = vec![T::ZERO; m * n];
            // rhs[p][j] = W[j][p]
            gemm(m, n, k, &mut y, false, x, k, 1, w, 1, k, threads());
            let relu = self.relu;
            y.par_chunks_mut(n * ROWS).for_each(|yc| {
                for yr in yc.chunks_exact_mut(n) {
                    for (o, &bb) in yr.iter_mut().zip(b) {
                        let v = *o + bb;
                        *o = if relu && v <= T::ZERO { T::ZERO } else { v };
                    }
                }
            });
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
        let dz = if self.relu {
            res.apply_op2_no_bwd(&dy.contiguous()?, &ReluBwd)?
        } else {
            dy.contiguous()?
        };
        let dz2 = dz.reshape((m, n))?;
        let dx = if x.track_op() {
            Some(dz2.matmul(w)?.reshape(x.shape())?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(dz2.t()?.matmul(&x.reshape((m, k))?)?)
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

/// `x·Wᵀ + b`, then a ReLU when `relu`, for `x` shaped `(…, K)`, `W` `(N, K)` and `b`
/// `(N)` (a zero bias when `None`): a fully connected layer over rows, or PointNet's
/// shared MLP over every point of a batch. Gradients are computed only for the inputs
/// that need one (a detached weight costs no weight gradient). Off the CPU and for
/// dtypes other than f32/f64: candle's matmul, broadcast add and `candle_relu`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    let (n, k) = w.dims2().map_err(|_| {
        Error::invalid(format!(
            "linear: weight must be (out, in), got {:?}",
            w.dims()
        ))
    })?;
    if x.rank() == 0 || *x.dims().last().unwrap_or(&0) != k {
        return Err(Error::invalid(format!(
            "linear: input {:?} does not end in the weight's {k} inputs",
            x.dims()
        )));
    }
    if let Some(b) = b {
        if b.dims() != [n] {
            return Err(Error::invalid(format!(
                "linear: bias {:?} for {n} outputs",
                b.dims()
            )));
        }
    }
    let mut inputs = vec![x, w];
    inputs.extend(b);
    same_dtype("linear", &inputs)?;
    if route("linear", &inputs, Candle::Trainable)? == Route::Candle {
        return candle_linear(x, w, b, relu);
    }
    let b = match b {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(n, x.dtype(), x.device())?,
    };
    Ok(x.contiguous()?
        .apply_op3(&w.contiguous()?, &b, Linear { relu })?)
}

/// [`linear`] from candle ops: a broadcast matmul, a broadcast add, `candle_relu`.
pub(super) fn candle_linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    let y = x.broadcast_matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    if relu {
        candle_relu(&y)
    } else {
        Ok(y)
    }
}

struct MaxDim1;
struct MaxDim1Bwd;

impl CustomOp1 for MaxDim1 {
    fn name(&self) -> &'static str {
        "candor-max-dim1"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, c) = l.shape().dims3()?;
        dispatch!(s, "max_dim1", |T| {
            let x = slice::<T>(s, l)?;
            let mut y = vec![T::NEG_INF; b * c];
            y.par_chunks_mut(c)
                .zip(x.par_chunks(n * c))
                .for_each(|(yr, xb)| {
                    for row in xb.chunks_exact(c) {
                        for (m, &v) in yr.iter_mut().zip(row) {
                            // `!(v <= m)` also lets a NaN through, as torch.max does.
                            if v > *m || v.partial_cmp(m).is_none() {
                                *m = v;
                            }
                        }
                    }
                });
            Ok(out(T::wrap(y), (b, c)))
        })
    }
    fn bwd(&self, x: &Tensor, res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // Recompute the first arg-max from x and the result (no index storage).
        let pair = Tensor::cat(&[res, &dy.contiguous()?], 0)?;
        Ok(Some(x.apply_op2_no_bwd(&pair, &MaxDim1Bwd)?))
    }
}

impl CustomOp2 for MaxDim1Bwd {
    fn name(&self) -> &'static str {
        "candor-max-dim1-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, c) = l1.shape().dims3()?;
        dispatch!(s1, "max_dim1 backward", |T| {
            let (x, pair) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let (m, dy) = pair.split_at(b * c);
            let mut dx = vec![T::ZERO; x.len()];
            dx.par_chunks_mut(n * c)
                .zip(x.par_chunks(n * c))
                .enumerate()
                .for_each(|(bi, (db, xb))| {
                    let (mr, gr) = (&m[bi * c..(bi + 1) * c], &dy[bi * c..(bi + 1) * c]);
                    let mut done = vec![false; c];
                    let mut left = c;
                    for (dr, row) in db.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                        for j in 0..c {
                            let v = row[j];
                            let hit = v == mr[j]
                                || (v.partial_cmp(&v).is_none()
                                    && mr[j].partial_cmp(&mr[j]).is_none());
                            if !done[j] && hit {
                                dr[j] = gr[j];
                                done[j] = true;
                                left -= 1;
                            }
                        }
                        if left == 0 {
                            break;
                        }
                    }
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// The maximum over dimension 1 of a `(B, N, C)` tensor, `(B, C)`: PointNet's global
/// max-pool over points. The gradient of each output goes to the first (lowest `n`)
/// maximum only, as in PyTorch and TensorFlow. Off the CPU and for dtypes other than
/// f32/f64: `candle_max_dim1`.
pub fn max_dim1(x: &Tensor) -> Result<Tensor> {
    let (_, n, _) = x
        .dims3()
        .map_err(|_| Error::invalid(format!("max_dim1 expects (B, N, C), got {:?}", x.dims())))?;
    if n == 0 {
        return Err(Error::invalid("max_dim1: no elements along dimension 1"));
    }
    match route("max_dim1", &[x], Candle::Trainable)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(MaxDim1)?),
        Route::Candle => candle_max_dim1(x),
    }
}

/// [`max_dim1`] from candle ops: a gather at the arg-max, whose backward (a scatter-add)
/// sends the gradient to that one element, not to every tie as candle's `max` does.
/// candle's CPU arg-max picks the first maximum (as the kernel); a GPU arg-max may
/// pick another of several exactly tied values.
pub(crate) fn candle_max_dim1(x: &Tensor) -> Result<Tensor> {
    let idx = x.argmax_keepdim(1)?;
    Ok(x.gather(&idx, 1)?.squeeze(1)?)
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

    #[test]
    fn linear_matches_candle_and_gradient_checks() {
        let x = rand(&[2, 37, 6], 11);
        let w = rand(&[5, 6], 12);
        let b = rand(&[5], 13);
        for relu in [false, true] {
            let ours = linear(&x, &w, Some(&b), relu).unwrap();
            let mut theirs = x
                .broadcast_matmul(&w.t().unwrap())
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            if relu {
                theirs = theirs.relu().unwrap();
            }
            let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(d.to_scalar::<f64>().unwrap() < 1e-12);
            let r = check(
                |t| linear(&t[0], &t[1], Some(&t[2]), relu),
                &[rand(&[3, 4, 6], 14), rand(&[5, 6], 15), rand(&[5], 16)],
                80,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "relu {relu}: {r:?}");
        }
        let r = check(
            |t| linear(&t[0], &t[1], None, false),
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
        let g = linear(xv.as_tensor(), &w, Some(&b), true)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(xv.as_tensor()).is_some() && g.get(&w).is_none());
        assert!(linear(&x, &rand(&[5, 4], 1), None, false).is_err());
        assert!(linear(&x, &w, Some(&rand(&[4], 1)), false).is_err());
    }

    #[test]
    fn max_dim1_forward_gradient_and_first_tie() {
        let x = rand(&[3, 11, 5], 7);
        let d = (max_dim1(&x).unwrap() - x.max(1).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f64>().unwrap(), 0.0);
        let r = check(|t| max_dim1(&t[0]), &[x], 80, 1e-6, 1e-7, 1e-6).unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        // Ties: the gradient goes to the first maximum only.
        let v = Var::new(&[[[1f32, 5.0], [3.0, 5.0], [3.0, 2.0]]], &Device::Cpu).unwrap();
        let g = max_dim1(v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let dx = g.get(v.as_tensor()).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(
            dx,
            vec![vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.0, 0.0]]]
        );
        assert!(max_dim1(&rand(&[2, 0, 3], 1)).is_err());
        assert!(max_dim1(&rand(&[2, 3], 1)).is_err());
    }
}
