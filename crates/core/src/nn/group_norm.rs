//! `torch.nn.GroupNorm(groups, channels, eps)`: `(N, C, …)` with the channels split into
//! `groups`, each group of each sample normalised (biased variance), then a per-channel
//! `weight` and `bias`.
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::GroupNorm;
//! let dev = Device::Cpu;
//! let gn = GroupNorm::new(Tensor::ones(2, candle_core::DType::F32, &dev).unwrap(),
//!                         Tensor::zeros(2, candle_core::DType::F32, &dev).unwrap(), 1, 0.0).unwrap();
//! // One group over both channels: mean 2, std 1.
//! let x = Tensor::new(&[[[1f32], [3.0]]], &dev).unwrap(); // (1, 2, 1)
//! assert_eq!(gn.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![-1.0, 1.0]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};

use super::cerr;
use crate::ops;
use crate::{Error, Result};

/// Group normalisation with per-channel affine parameters.
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// A layer from its per-channel `weight` and `bias` `(C,)`.
    pub fn new(weight: Tensor, bias: Tensor, groups: usize, eps: f64) -> Result<Self> {
        let c = weight.dims1().map_err(|_| {
            Error::invalid(format!(
                "GroupNorm: weight must be (C,), got {:?}",
                weight.dims()
            ))
        })?;
        if bias.dims() != [c] || groups == 0 || !c.is_multiple_of(groups) {
            return Err(Error::invalid(format!(
                "GroupNorm: {groups} groups must divide {c} channels; bias {:?}",
                bias.dims()
            )));
        }
        Ok(Self {
            weight,
            bias,
            groups,
            eps,
        })
    }

    /// `γ`, `(C,)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `β`, `(C,)`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }
}

impl GroupNorm {
    /// The layer followed by `act`, fused into one op ([`ops::group_norm_act`]): the same
    /// values and gradients as `act.apply(&self.forward(x))`, with one graph node fewer.
    pub fn forward_act(&self, x: &Tensor, act: ops::Activation) -> Result<Tensor> {
        ops::group_norm_act(
            x,
            self.groups,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            act,
        )
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::group_norm(
            x,
            self.groups,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
        )
        .map_err(cerr)
    }
}

/// `torch.nn.GroupNorm(groups, channels, eps)`: `weight` 1 and `bias` 0 created in `vb`.
pub fn group_norm(groups: usize, channels: usize, eps: f64, vb: VarBuilder) -> Result<GroupNorm> {
    if groups == 0 || !channels.is_multiple_of(groups) {
        return Err(Error::invalid(format!(
            "GroupNorm: {groups} groups do not divide {channels} channels"
        )));
    }
    GroupNorm::new(
        vb.get_with_hints(channels, "weight", Init::Const(1.0))?,
        vb.get_with_hints(channels, "bias", Init::Const(0.0))?,
        groups,
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
            |t| Ok(GroupNorm::new(t[1].clone(), t[2].clone(), 2, 1e-5)?.forward(&t[0])?),
            &[
                input(&[2, 4, 3, 3], DType::F64),
                input(&[4], DType::F64),
                input(&[4], DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        let vm = VarMap::new();
        let gn = group_norm(2, 4, 1e-5, vb(&vm, DType::F32).pp("gn")).unwrap();
        let y = gn.forward(&input(&[2, 4, 3, 5], DType::F32)).unwrap();
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        assert!(group_norm(3, 4, 1e-5, vb(&vm, DType::F32).pp("bad")).is_err());
    }
}
