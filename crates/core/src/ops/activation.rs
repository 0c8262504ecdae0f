//! Elementwise activations with one-pass, parallel forward and backward kernels
//! (candle's ReLU backward builds a mask with several full-size passes).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::backend::{route, Candle, Route};
use super::kernel::{dispatch, out, slice, Real};
use crate::Result;

const CHUNK: usize = 1 << 14;

struct Relu;
/// `dy` where `y > 0`, else 0: the backward of ReLU from its output (shared with
/// `rows::linear` and `rows::bias_relu`).
pub(crate) struct ReluBwd;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "candor-relu"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch!(s, "relu", |T| {
            let x = slice::<T>(s, l)?;
            let mut y = vec![T::ZERO; x.len()];
            y.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(yc, xc)| {
                    for (o, v) in yc.iter_mut().zip(xc) {
                        *o = if *v > T::ZERO { *v } else { T::ZERO };
                    }
                });
            Ok(out(T::wrap(y), l.shape().clone()))
        })
    }
    fn bwd(&self, _x: &Tensor, res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let r = res.apply_op2_no_bwd(&dy.contiguous()?, &ReluBwd)?;
        Ok(Some(r))
    }
}

impl CustomOp2 for ReluBwd {
    fn name(&self) -> &'static str {
        "candor-relu-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch!(s1, "relu backward", |T| {
            let (y, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let mut dx = vec![T::ZERO; y.len()];
            dx.par_chunks_mut(CHUNK)
                .zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
                .for_each(|(dc, (yc, gc))| {
                    for (d, (v, g)) in dc.iter_mut().zip(yc.iter().zip(gc)) {
                        *d = if *v > T::ZERO { *g } else { T::ZERO };
                    }
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// ReLU, differentiable (gradient 0 at 0, as PyTorch). Off the CPU and for dtypes
/// other than f32/f64: `candle_relu`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    match route("relu", &[x], Candle::Trainable)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(Relu)?),
        Route::Candle => candle_relu(x),
    }
}

/// ReLU from candle ops, `x · [x > 0]`, so that the gradient at 0 is 0 as PyTorch's
/// (candle's own `relu` passes the gradient at 0, and `maximum` passes half of it).
pub(crate) fn candle_relu(x: &Tensor) -> Result<Tensor> {
    Ok(x.mul(&x.gt(0f64)?.to_dtype(x.dtype())?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn relu_forward_backward() {
        let x = Var::new(&[-1.0f64, 0.0, 2.0, -0.5, 3.0], &Device::Cpu).unwrap();
        let y = relu(x.as_tensor()).unwrap();
        assert_eq!(y.to_vec1::<f64>().unwrap(), vec![0.0, 0.0, 2.0, 0.0, 3.0]);
        let r = Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0], &Device::Cpu).unwrap();
        let g = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(dx, vec![0.0, 0.0, 3.0, 0.0, 5.0]);
    }
}
