//! `torch.nn.LayerNorm(normalized_shape, eps)`: normalise over the last dimension(s) with
//! the biased variance, then scale by `weight` and shift by `bias` (both of the normalised
//! shape). Runs on [`ops::layer_norm`], which has a backward (candle-nn's `LayerNorm`
//! uses a fused op without one).
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::LayerNorm;
//! let dev = Device::Cpu;
//! let ln = LayerNorm::new(
//!     Tensor::new(&[1f32, 1.0], &dev).unwrap(),
//!     Tensor::new(&[0f32, 10.0], &dev).unwrap(),
//!     0.0,
//! )
//! .unwrap();
//! let y = ln.forward(&Tensor::new(&[[1f32, 3.0]], &dev).unwrap()).unwrap();
//! assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![-1.0, 11.0]]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};

use super::cerr;
use crate::ops;
use crate::{Error, Result};

/// Layer normalisation over the trailing `weight.dims()`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// A layer from its tensors (`weight` and `bias` of the normalised shape).
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<Self> {
        if weight.dims() != bias.dims() || weight.rank() == 0 {
            return Err(Error::invalid(format!(
                "LayerNorm: weight {:?} and bias {:?} must share the normalised shape",
                weight.dims(),
                bias.dims()
            )));
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::invalid(format!("LayerNorm: bad eps {eps}")));
        }
        Ok(Self { weight, bias, eps })
    }

    /// `γ`, of the normalised shape.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `β`, of the normalised shape.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// ε.
    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let nd = self.weight.rank();
        if x.rank() < nd || x.dims()[x.rank() - nd..] != *self.weight.dims() {
            return Err(cerr(Error::invalid(format!(
                "LayerNorm over {:?}: input {:?} does not end in that shape",
                self.weight.dims(),
                x.dims()
            ))));
        }
        ops::layer_norm(x, nd, Some(&self.weight), Some(&self.bias), self.eps).map_err(cerr)
    }
}

/// `torch.nn.LayerNorm(normalized_shape, eps)`: `weight` 1 and `bias` 0 created in `vb`.
pub fn layer_norm(normalized_shape: &[usize], eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    if normalized_shape.is_empty() || normalized_shape.contains(&0) {
        return Err(Error::invalid(format!(
            "LayerNorm: bad normalised shape {normalized_shape:?}"
        )));
    }
    LayerNorm::new(
        vb.get_with_hints(normalized_shape, "weight", Init::Const(1.0))?,
        vb.get_with_hints(normalized_shape, "bias", Init::Const(0.0))?,
        eps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::nn::test_util::{input, vb};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn gradients_and_every_parameter() {
        let r = check(
            |t| Ok(LayerNorm::new(t[1].clone(), t[2].clone(), 1e-5)?.forward(&t[0])?),
            &[
                input(&[2, 3, 4], DType::F64),
                input(&[3, 4], DType::F64),
                input(&[3, 4], DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        let vm = VarMap::new();
        let ln = layer_norm(&[5], 1e-5, vb(&vm, DType::F32).pp("ln")).unwrap();
        let y = ln.forward(&input(&[3, 5], DType::F32)).unwrap();
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        assert!(ln.forward(&input(&[3, 4], DType::F32)).is_err());
        assert!(layer_norm(&[], 1e-5, vb(&vm, DType::F32)).is_err());
    }
}
