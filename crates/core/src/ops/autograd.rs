//! Backward from a given output gradient: PyTorch's `y.backward(dy)`, which candle 0.11
//! lacks (its `backward` starts from a scalar).
//!
//! The usual candle spelling, `(y * dy).sum_all().backward()`, backpropagates through the
//! product and the sum as well: candle's `Mul` node computes a gradient for the constant
//! `dy` too, and every node's first gradient is a zero-filled buffer plus an addition. On
//! the ops bench's depthwise convolution (16×64×32², release, 2 threads) that loss's
//! backward took 2.0 ms, of which the convolution's own backward is 0.32 ms;
//! [`backward_from`] took 0.85 ms (`docs/performance.md`). It gives the same gradients
//! with one node above `y` whose backward hands `dy` straight down.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

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
    if y.dims() != dy.dims() {
        return Err(Error::invalid(format!(
            "backward_from: the output gradient's shape {:?} is not the output's {:?}",
            dy.dims(),
            y.dims()
        )));
    }
    if y.dtype() != dy.dtype() || !y.dtype().is_float() {
        return Err(Error::invalid(format!(
            "backward_from: output {:?} and gradient {:?} need one floating dtype",
            y.dtype(),
            dy.dtype()
        )));
    }
    if !y.device().same_device(dy.device()) {
        return Err(Error::invalid(format!(
            "backward_from: output on {:?}, gradient on {:?}",
            y.device().location(),
            dy.device().location()
        )));
    }
    if !y.device().is_cpu() || !matches!(y.dtype(), DType::F32 | DType::F64) {
        return Ok((y * dy)?.sum_all()?.backward()?);
    }
    Ok(y.apply_op1(Seed(dy.clone()))?.backward()?)
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
}
