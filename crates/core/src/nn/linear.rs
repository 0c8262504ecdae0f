//! `torch.nn.Linear`: `y = x·Wᵀ + b` over the last dimension, with the weight `(out, in)`
//! as PyTorch stores it.
//!
//! The product runs through [`ops::linear()`], which adds the bias and an optional
//! activation ([`Linear::forward_act`]) in the same pass and, backward, computes only the
//! gradients that are needed (a frozen weight costs no weight gradient).
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::{Activation, Linear};
//! let w = Tensor::new(&[[1f32, 2.0], [3.0, 4.0], [5.0, 6.0]], &Device::Cpu).unwrap(); // (3, 2)
//! let b = Tensor::new(&[0f32, 0.5, -20.0], &Device::Cpu).unwrap();
//! let fc = Linear::new(w, Some(b)).unwrap();
//! let x = Tensor::new(&[[1f32, 1.0]], &Device::Cpu).unwrap();
//! assert_eq!(fc.forward(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![3.0, 7.5, -9.0]]);
//! let y = fc.forward_act(&x, Activation::Relu).unwrap();
//! assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![3.0, 7.5, 0.0]]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::{cerr, BatchNorm2d};
use crate::init::LayerInit;
use crate::ops::{self, Activation};
use crate::{Error, Result};

/// A fully connected layer: `weight` `(out, in)`, optional `bias` `(out,)`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from its tensors (checked: `weight` `(out, in)`, `bias` `(out,)`).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (out, _) = weight.dims2().map_err(|_| {
            Error::invalid(format!(
                "Linear: weight must be (out, in), got {:?}",
                weight.dims()
            ))
        })?;
        if let Some(b) = &bias {
            if b.dims() != [out] {
                return Err(Error::invalid(format!(
                    "Linear: bias must be ({out},), got {:?}",
                    b.dims()
                )));
            }
        }
        Ok(Self { weight, bias })
    }

    /// The weight, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(out,)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Number of inputs.
    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Number of outputs.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `act(x·Wᵀ + b)` in one op, for `x` shaped `(…, in)`.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        ops::linear(x, &self.weight, self.bias.as_ref(), act)
    }

    /// `act(bn.forward_t(self.forward(x), train))` for `x` `(M, in)`, the linear → batch
    /// norm → activation block (batch statistics over the rows). In training, without a
    /// bias, it is one op ([`BatchNorm2d::forward_linear_train_act`]): the same values
    /// and gradients, the product no graph node of its own.
    pub fn forward_bn_act(
        &self,
        bn: &BatchNorm2d,
        x: &Tensor,
        train: bool,
        act: Activation,
    ) -> Result<Tensor> {
        if train && self.bias.is_none() {
            return bn.forward_linear_train_act(x, &self.weight, act);
        }
        bn.forward_t_act(&self.forward_act(x, Activation::Identity)?, train, act)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_act(x, Activation::Identity).map_err(cerr)
    }
}

/// A [`Linear`]'s options: bias or not, and its initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearConfig {
    /// Whether the layer has a bias (PyTorch's default: yes).
    pub bias: bool,
    /// How weight and bias are drawn (default: PyTorch's `U(±1/√in)` for both).
    pub init: LayerInit,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            bias: true,
            init: LayerInit::TORCH,
        }
    }
}

/// An `in → out` layer with PyTorch's names and default initialisation, its variables
/// created in `vb` (`weight`, `bias`).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    linear_with(in_dim, out_dim, LinearConfig::default(), vb)
}

/// [`linear`] without a bias.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let cfg = LinearConfig {
        bias: false,
        ..Default::default()
    };
    linear_with(in_dim, out_dim, cfg, vb)
}

/// [`linear`] with the given options.
pub fn linear_with(
    in_dim: usize,
    out_dim: usize,
    cfg: LinearConfig,
    vb: VarBuilder,
) -> Result<Linear> {
    if in_dim == 0 || out_dim == 0 {
        return Err(Error::invalid(format!(
            "Linear: empty layer {in_dim} → {out_dim}"
        )));
    }
    let shape = (out_dim, in_dim).into();
    let (w_init, b_init) = cfg.init.rules(&shape)?;
    let weight = vb.get_with_hints(shape, "weight", w_init)?;
    let bias = if cfg.bias {
        Some(vb.get_with_hints(out_dim, "bias", b_init)?)
    } else {
        None
    };
    Linear::new(weight, bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::init::{sorted_vars, WeightInit};
    use crate::nn::test_util::{input, vb};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn names_shapes_and_pytorch_init_bounds() {
        let vm = VarMap::new();
        let fc = linear(16, 5, vb(&vm, DType::F32).pp("fc")).unwrap();
        assert_eq!((fc.in_features(), fc.out_features()), (16, 5));
        let vars = sorted_vars(&vm);
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["fc.bias", "fc.weight"]);
        assert_eq!(fc.weight().dims(), &[5, 16]);
        for (_, v) in &vars {
            let x = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(x.iter().all(|v| v.abs() <= 0.25), "U(±1/√16)");
            assert!(x.iter().any(|v| v.abs() > 0.1));
        }
        let nb = linear_no_bias(3, 2, vb(&vm, DType::F32).pp("nb")).unwrap();
        assert!(nb.bias().is_none());
        let cfg = LinearConfig {
            bias: true,
            init: LayerInit {
                weight: WeightInit::Zeros,
                ..LayerInit::zeros()
            },
        };
        let z = linear_with(3, 2, cfg, vb(&vm, DType::F32).pp("z")).unwrap();
        let zw = z.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(zw.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Identity, Activation::Tanh] {
            let r = check(
                |t| Linear::new(t[1].clone(), Some(t[2].clone()))?.forward_act(&t[0], act),
                &[
                    input(&[2, 3, 4], DType::F64),
                    input(&[5, 4], DType::F64),
                    input(&[5], DType::F64),
                ],
                60,
                1e-6,
                1e-7,
                1e-6,
            )
            .unwrap();
            assert!(r.worst_ratio <= 1.0, "{act:?}: {r:?}");
        }
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let vm = VarMap::new();
        let fc = linear(4, 3, vb(&vm, DType::F32).pp("fc")).unwrap();
        let y = fc.forward(&input(&[6, 4], DType::F32)).unwrap();
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let w = input(&[3, 4], DType::F32);
        assert!(Linear::new(input(&[3], DType::F32), None).is_err());
        assert!(Linear::new(w.clone(), Some(input(&[4], DType::F32))).is_err());
        let fc = Linear::new(w, None).unwrap();
        assert!(fc.forward(&input(&[2, 3], DType::F32)).is_err());
        let vm = VarMap::new();
        assert!(linear(0, 3, vb(&vm, DType::F32)).is_err());
    }
}
