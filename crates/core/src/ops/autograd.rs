//! Autograd without candle's extra nodes: [`backward_from`], PyTorch's `y.backward(dy)`,
//! which candle 0.11 lacks (its `backward` starts from a scalar), and [`dot`], the loss
//! `Σ a·b` as one node.
//!
//! The usual candle spelling of both, `(y * dy).sum_all()`, backpropagates through the
//! product and the sum as well: candle's `Mul` node computes a gradient for the constant
//! `dy` too, and every node's first gradient is a zero-filled buffer plus an addition. On
//! the ops bench's depthwise convolution (16×64×32², release, 2 threads) that loss's
//! backward took 2.0 ms, of which the convolution's own backward is 0.32 ms;
//! [`backward_from`] took 0.85 ms (`docs/performance.md`). It gives the same gradients
//! with one node above `y` whose backward hands `dy` straight down.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};

use crate::{Error, Result};

/// The gradients of `Σ y·dy` with respect to every variable `y` depends on: the
/// vector–Jacobian product with `dy` as `y`'s output gradient. The same values as
/// `(y * dy)?.sum_all()?.backward()` (bit for bit on the CPU: `y`'s gradient is `dy`
/// itself rather than `1·dy`), without that loss's own nodes.
///
/// `dy` must have `y`'s shape, dtype and device. Other than f32 and f64 on the CPU it takes
/// the `(y * dy).sum_all()` route.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// let x = Var::new(&[1f32, 2., 3.], &Device::Cpu)?;
/// let y = x.as_tensor().sqr()?; // dy/dx = 2x
/// let dy = Tensor::new(&[1f32, 10., 100.], &Device::Cpu)?;
/// let grads = candor_core::ops::backward_from(&y, &dy)?;
/// assert_eq!(grads.get(x.as_tensor()).unwrap().to_vec1::<f32>()?, [2., 40., 600.]);
/// # Ok::<(), candor_core::Error>(())
/// ```
pub fn backward_from(y: &Tensor, dy: &Tensor) -> Result<GradStore> {
    check_pair("backward_from", ("output", y), ("gradient", dy))?;
    if !y.device().is_cpu() || !matches!(y.dtype(), DType::F32 | DType::F64) {
        return Ok((y * dy)?.sum_all()?.backward()?);
    }
    Ok(y.apply_op1(Seed(dy.clone()))?.backward()?)
}

/// Same shape, one floating dtype, one device: the contract of [`backward_from`] and [`dot`].
fn check_pair(op: &str, (an, a): (&str, &Tensor), (bn, b): (&str, &Tensor)) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::invalid(format!(
            "{op}: the {bn}'s shape {:?} is not the {an}'s {:?}",
            b.dims(),
            a.dims()
        )));
    }
    if a.dtype() != b.dtype() || !a.dtype().is_float() {
        return Err(Error::invalid(format!(
            "{op}: {an} {:?} and {bn} {:?} need one floating dtype",
            a.dtype(),
            b.dtype()
        )));
    }
    if !a.device().same_device(b.device()) {
        return Err(Error::invalid(format!(
            "{op}: {an} on {:?}, {bn} on {:?}",
            a.device().location(),
            b.device().location()
        )));
    }
    Ok(())
}

/// `Σ a·b` over every element, as one autograd node: the loss `(a * b).sum_all()` (an inner
/// product, a linear loss with constant weights, a policy-gradient `Σ log π · A`) without
/// candle's product and sum nodes.
///
/// Its backward gives `b·g` to `a` and `a·g` to `b` (`g` the scalar's gradient), each only
/// where that input is tracked ([`Tensor::track_op`]): the constant factor gets no gradient.
/// Candle's `Mul` node computes one for it anyway, and every node's first gradient is a
/// zero-filled buffer plus an addition; on the ops bench's depthwise convolution
/// (16×64×32², release, 2 threads) `(y * r).sum_all()`'s backward cost three times the
/// convolution's own (`docs/performance.md`). The gradients are bit for bit those of
/// `(a * b).sum_all()`; the value is summed in f64 (for f32 inputs) and so can differ from
/// candle's in the last bits.
///
/// `a` and `b` must have one shape (no broadcasting), one floating dtype and one device.
/// Other than f32 and f64 on the CPU it takes the `(a * b).sum_all()` route.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// let x = Var::new(&[1f32, 2., 3.], &Device::Cpu)?;
/// let w = Tensor::new(&[4f32, 5., 6.], &Device::Cpu)?;
/// let loss = candor_core::ops::dot(x.as_tensor(), &w)?;
/// assert_eq!(loss.to_scalar::<f32>()?, 32.);
/// let grads = loss.backward()?;
/// assert_eq!(grads.get(x.as_tensor()).unwrap().to_vec1::<f32>()?, [4., 5., 6.]);
/// assert!(grads.get(&w).is_none()); // a constant: no gradient computed
/// # Ok::<(), candor_core::Error>(())
/// ```
pub fn dot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_pair("dot", ("left factor", a), ("right factor", b))?;
    if !a.device().is_cpu() || !matches!(a.dtype(), DType::F32 | DType::F64) {
        return Ok((a * b)?.sum_all()?);
    }
    Ok(a.contiguous()?.apply_op2(&b.contiguous()?, Dot)?)
}

/// The root node of [`backward_from`]: a scalar whose backward returns the output gradient.
/// It is never seen outside `backward_from`, so the gradient arriving at it is always
/// `backward`'s initial one, and `1·dy = dy`.
struct Seed(Tensor);

impl CustomOp1 for Seed {
    fn name(&self) -> &'static str {
        "candor-backward-from"
    }

    fn cpu_fwd(&self, s: &CpuStorage, _l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let zero = match s {
            CpuStorage::F32(_) => CpuStorage::F32(vec![0.0]),
            CpuStorage::F64(_) => CpuStorage::F64(vec![0.0]),
            _ => candle_core::bail!("backward_from: f32 or f64 on the CPU"),
        };
        Ok((zero, Shape::from(())))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _res: &Tensor,
        _one: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(self.0.clone()))
    }
}

/// The node of [`dot`]: contiguous f32 or f64 factors on the CPU.
struct Dot;

/// `Σ a·b` in f64 with eight running sums (vectorised; the order is fixed, so the value is
/// deterministic).
fn dot_f64<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += xa[k].into() * xb[k].into();
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(&x, &y)| x.into() * y.into()).sum();
    acc.iter().sum::<f64>() + tail
}

impl CustomOp2 for Dot {
    fn name(&self) -> &'static str {
        "candor-dot"
    }

    fn cpu_fwd(
        &self,
        sa: &CpuStorage,
        la: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some((a0, a1)), Some((b0, b1))) = (la.contiguous_offsets(), lb.contiguous_offsets())
        else {
            candle_core::bail!("dot: contiguous factors")
        };
        let v = match (sa, sb) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(vec![dot_f64(&a[a0..a1], &b[b0..b1]) as f32])
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(vec![dot_f64(&a[a0..a1], &b[b0..b1])])
            }
            _ => candle_core::bail!("dot: f32 or f64 factors on the CPU"),
        };
        Ok((v, Shape::from(())))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // `backward`'s own seed is exactly one: hand the other factor down unscaled (the
        // same bits as `1·b`, without a pass over it).
        let one = g.to_dtype(DType::F64)?.to_scalar::<f64>()? == 1.0;
        let scaled = |t: &Tensor| -> candle_core::Result<Tensor> {
            if one {
                Ok(t.clone())
            } else {
                t.broadcast_mul(g)
            }
        };
        let ga = if a.track_op() { Some(scaled(b)?) } else { None };
        let gb = if b.track_op() { Some(scaled(a)?) } else { None };
        Ok((ga, gb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::bits;
    use crate::ops::{conv2d, Conv2dParams};
    use crate::SeededRng;
    use candle_core::{Device, Var};

    fn randn(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, dtype, &Device::Cpu)
            .unwrap()
    }

    /// The same gradients, bit for bit, as backpropagating `Σ y·dy`, through a depthwise
    /// and a dense convolution and an elementwise tail, for f32 and f64.
    #[test]
    fn matches_the_product_loss_bit_for_bit() {
        for dtype in [DType::F32, DType::F64] {
            let x = Var::from_tensor(&randn(&[2, 4, 7, 6], 1, dtype)).unwrap();
            let wd = Var::from_tensor(&randn(&[4, 1, 3, 3], 2, dtype)).unwrap();
            let w = Var::from_tensor(&randn(&[5, 4, 3, 3], 3, dtype)).unwrap();
            let p = |groups| Conv2dParams {
                stride: (1, 1),
                padding: (1, 1),
                dilation: (1, 1),
                groups,
            };
            let h = conv2d(x.as_tensor(), wd.as_tensor(), p(4)).unwrap();
            let y = conv2d(&h.tanh().unwrap(), w.as_tensor(), p(1)).unwrap();
            let dy = randn(y.dims(), 4, dtype);
            let a = backward_from(&y, &dy).unwrap();
            let b = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
            for v in [&x, &wd, &w] {
                let (ga, gb) = (a.get(v.as_tensor()).unwrap(), b.get(v.as_tensor()).unwrap());
                assert_eq!(bits(ga), bits(gb), "{dtype:?}: gradients differ");
            }
        }
    }

    /// A variable as the output: its gradient is the seed.
    #[test]
    fn a_variable_gets_the_seed() {
        let x = Var::from_tensor(&randn(&[3, 2], 5, DType::F32)).unwrap();
        let dy = randn(&[3, 2], 6, DType::F32);
        let g = backward_from(x.as_tensor(), &dy).unwrap();
        assert_eq!(bits(g.get(x.as_tensor()).unwrap()), bits(&dy));
    }

    #[test]
    fn rejects_a_mismatched_gradient() {
        let y = randn(&[3, 2], 5, DType::F32);
        for (dy, what) in [
            (randn(&[2, 3], 6, DType::F32), "shape"),
            (randn(&[3, 2], 6, DType::F64), "dtype"),
        ] {
            let e = backward_from(&y, &dy).unwrap_err().to_string();
            assert!(e.contains("backward_from"), "{what}: {e}");
        }
        let yi = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
        assert!(backward_from(&yi, &yi).is_err());
        // f16 takes the product route and gives the same gradient.
        let x = Var::from_tensor(&randn(&[4], 7, DType::F16)).unwrap();
        let dy = randn(&[4], 8, DType::F16);
        let g = backward_from(&x.as_tensor().sqr().unwrap(), &dy).unwrap();
        let b = (x.as_tensor().sqr().unwrap() * &dy)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(
            bits(g.get(x.as_tensor()).unwrap()),
            bits(b.get(x.as_tensor()).unwrap())
        );
    }
    fn dot_grads(a: &Tensor, b: &Tensor, scale: f64, fused: bool) -> GradStore {
        let l = if fused {
            dot(a, b).unwrap()
        } else {
            (a * b).unwrap().sum_all().unwrap()
        };
        (l * scale).unwrap().backward().unwrap()
    }

    /// `dot`'s gradients are `(a * b).sum_all()`'s bit for bit: with one or both factors
    /// tracked, a seed of one and a scaled one, f32 and f64, through a convolution and on a
    /// transposed (non-contiguous) factor; the constant factor gets none.
    #[test]
    fn dot_matches_the_product_loss_bit_for_bit() {
        for dtype in [DType::F32, DType::F64] {
            let x = Var::from_tensor(&randn(&[2, 3, 5, 4], 11, dtype)).unwrap();
            let w = Var::from_tensor(&randn(&[3, 1, 3, 3], 12, dtype)).unwrap();
            let p = Conv2dParams {
                stride: (1, 1),
                padding: (1, 1),
                dilation: (1, 1),
                groups: 3,
            };
            let y = conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
            let r = randn(y.dims(), 13, dtype);
            let v = Var::from_tensor(&randn(y.dims(), 14, dtype)).unwrap();
            let vt = v.as_tensor().transpose(2, 3).unwrap();
            let yt = y.transpose(2, 3).unwrap();
            for scale in [1.0, -0.37] {
                for (a, b) in [(&y, &r), (&r, &y), (&y, v.as_tensor()), (&yt, &vt)] {
                    let (f, c) = (dot_grads(a, b, scale, true), dot_grads(a, b, scale, false));
                    for t in [x.as_tensor(), w.as_tensor(), v.as_tensor()] {
                        match (f.get(t), c.get(t)) {
                            (Some(gf), Some(gc)) => {
                                assert_eq!(bits(gf), bits(gc), "{dtype:?} × {scale}")
                            }
                            (None, None) => {}
                            _ => panic!("{dtype:?}: a gradient on one side only"),
                        }
                    }
                    assert!(f.get(&r).is_none(), "the constant got a gradient");
                }
            }
        }
    }

    /// The value: exact on small integers, within f32 rounding of candle's sum otherwise,
    /// and f16 (the product route) agrees.
    #[test]
    fn dot_value() {
        let a = Tensor::new(&[1f32, -2., 3., 4., 5., 6., 7., 8., 9., 10.], &Device::Cpu).unwrap();
        let b = Tensor::new(&[2f32, 2., 2., 2., 2., 2., 2., 2., 2., -1.], &Device::Cpu).unwrap();
        assert_eq!(dot(&a, &b).unwrap().to_scalar::<f32>().unwrap(), 72.);
        let a = randn(&[1000, 37], 15, DType::F64);
        let b = randn(&[1000, 37], 16, DType::F64);
        let want = (&a * &b)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let got = dot(&a, &b).unwrap().to_scalar::<f64>().unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
        let got32 = dot(
            &a.to_dtype(DType::F32).unwrap(),
            &b.to_dtype(DType::F32).unwrap(),
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert!(
            (got32 as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
            "{got32}"
        );
        let (h, k) = (
            a.to_dtype(DType::F16).unwrap(),
            b.to_dtype(DType::F16).unwrap(),
        );
        assert_eq!(
            bits(&dot(&h, &k).unwrap()),
            bits(&(&h * &k).unwrap().sum_all().unwrap())
        );
    }

    #[test]
    fn dot_rejects_mismatched_factors() {
        let a = randn(&[3, 2], 5, DType::F32);
        for (b, what) in [
            (randn(&[2, 3], 6, DType::F32), "shape"),
            (randn(&[3, 2], 6, DType::F64), "dtype"),
        ] {
            let e = dot(&a, &b).unwrap_err().to_string();
            assert!(e.contains("dot:"), "{what}: {e}");
        }
    }
}
