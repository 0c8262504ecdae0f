//! `torch.nn.InstanceNorm2d(channels, eps, affine)` without running statistics (PyTorch's
//! default `track_running_stats=False`, so training and evaluation agree): each channel
//! of each sample of `(N, C, H, W)` is normalised over its `H × W` values (biased
//! variance), then, when `affine`, scaled by `weight` and shifted by `bias` per channel.
//! The U-Net generators of image-to-image models use it (pix2pix, the watermark paper's
//! embedding network).
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::InstanceNorm2d;
//! let x = Tensor::new(&[[[[1f32, 3.0]], [[10.0, 30.0]]]], &Device::Cpu).unwrap(); // (1, 2, 1, 2)
//! let y = InstanceNorm2d::new(None, None, 0.0).unwrap().forward(&x).unwrap();
//! assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![-1.0, 1.0, -1.0, 1.0]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::cerr;
use crate::ops;
use crate::{Error, Result};

/// Instance-norm settings; [`Default`] is PyTorch's (`affine = False`, ε 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceNormConfig {
    /// Learnable per-channel `weight` (1) and `bias` (0).
    pub affine: bool,
    pub eps: f64,
}

impl Default for InstanceNormConfig {
    fn default() -> Self {
        Self {
            affine: false,
            eps: 1e-5,
        }
    }
}

/// Instance normalisation of `(N, C, H, W)` maps.
#[derive(Debug, Clone)]
pub struct InstanceNorm2d {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    eps: f64,
}

impl InstanceNorm2d {
    /// A layer from its optional per-channel `weight` and `bias` `(C,)` (both or neither).
    pub fn new(weight: Option<Tensor>, bias: Option<Tensor>, eps: f64) -> Result<Self> {
        match (&weight, &bias) {
            (Some(w), Some(b)) if w.rank() == 1 && w.dims() == b.dims() => {}
            (None, None) => {}
            _ => {
                return Err(Error::invalid(format!(
                    "InstanceNorm2d: weight {:?} and bias {:?} must both be (C,) or both absent",
                    weight.as_ref().map(|t| t.dims().to_vec()),
                    bias.as_ref().map(|t| t.dims().to_vec())
                )))
            }
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::invalid(format!("InstanceNorm2d: bad eps {eps}")));
        }
        Ok(Self { weight, bias, eps })
    }

    /// `γ`, `(C,)`, when affine.
    pub fn weight(&self) -> Option<&Tensor> {
        self.weight.as_ref()
    }

    /// `β`, `(C,)`, when affine.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl InstanceNorm2d {
    /// The layer followed by `act`, fused into one op ([`ops::instance_norm_act`]): the
    /// same values and gradients as `act.apply(&self.forward(x))`, with one graph node
    /// fewer.
    pub fn forward_act(&self, x: &Tensor, act: ops::Activation) -> Result<Tensor> {
        self.check(x)?;
        ops::instance_norm_act(x, self.weight.as_ref(), self.bias.as_ref(), self.eps, act)
    }

    fn check(&self, x: &Tensor) -> Result<()> {
        let (_, c, h, w) = x.dims4().map_err(|_| {
            Error::invalid(format!(
                "InstanceNorm2d expects (N, C, H, W), got {:?}",
                x.dims()
            ))
        })?;
        if let Some(wt) = &self.weight {
            if wt.dims() != [c] {
                return Err(Error::invalid(format!(
                    "InstanceNorm2d: {} affine channels for an input of {c}",
                    wt.dims()[0]
                )));
            }
        }
        if h * w < 2 {
            return Err(Error::invalid(format!(
                "InstanceNorm2d needs more than one spatial element per channel, got {h}×{w}"
            )));
        }
        Ok(())
    }
}

impl Module for InstanceNorm2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.check(x).map_err(cerr)?;
        ops::instance_norm(x, self.weight.as_ref(), self.bias.as_ref(), self.eps).map_err(cerr)
    }
}

/// `torch.nn.InstanceNorm2d(channels, eps, affine)`: with `affine`, `weight` 1 and `bias` 0
/// created in `vb`; without, no variables.
pub fn instance_norm2d(
    channels: usize,
    cfg: InstanceNormConfig,
    vb: VarBuilder,
) -> Result<InstanceNorm2d> {
    if channels == 0 {
        return Err(Error::invalid("InstanceNorm2d: no channels"));
    }
    let (weight, bias) = if cfg.affine {
        (
            Some(vb.get_with_hints(channels, "weight", Init::Const(1.0))?),
            Some(vb.get_with_hints(channels, "bias", Init::Const(0.0))?),
        )
    } else {
        (None, None)
    };
    InstanceNorm2d::new(weight, bias, cfg.eps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::nn::test_util::{input, vb};
    use candle_core::{DType, D};
    use candle_nn::VarMap;

    #[test]
    fn normalises_each_channel_of_each_sample() {
        let x = (input(&[2, 3, 4, 5], DType::F64) * 3.0)
            .unwrap()
            .affine(1.0, 2.0)
            .unwrap();
        let y = InstanceNorm2d::new(None, None, 0.0)
            .unwrap()
            .forward(&x)
            .unwrap();
        let y = y.reshape((6, 20)).unwrap();
        let m = y.mean(D::Minus1).unwrap().abs().unwrap().max_all().unwrap();
        assert!(m.to_scalar::<f64>().unwrap() < 1e-12);
        for v in y
            .sqr()
            .unwrap()
            .mean(D::Minus1)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
        {
            assert!((v - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn gradients_affine_and_not() {
        let r = check(
            |t| {
                Ok(
                    InstanceNorm2d::new(Some(t[1].clone()), Some(t[2].clone()), 1e-5)?
                        .forward(&t[0])?,
                )
            },
            &[
                input(&[2, 3, 3, 4], DType::F64),
                input(&[3], DType::F64),
                input(&[3], DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "affine: {r:?}");
        let r = check(
            |t| Ok(InstanceNorm2d::new(None, None, 1e-5)?.forward(&t[0])?),
            &[input(&[2, 3, 3, 4], DType::F64)],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "plain: {r:?}");
    }

    #[test]
    fn every_parameter_and_bad_input() {
        let vm = VarMap::new();
        let cfg = InstanceNormConfig {
            affine: true,
            ..Default::default()
        };
        let n = instance_norm2d(3, cfg, vb(&vm, DType::F32).pp("in")).unwrap();
        let y = n.forward(&input(&[2, 3, 4, 4], DType::F32)).unwrap();
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        let vm2 = VarMap::new();
        let plain =
            instance_norm2d(3, InstanceNormConfig::default(), vb(&vm2, DType::F32)).unwrap();
        assert!(vm2.all_vars().is_empty() && plain.weight().is_none());
        assert!(n.forward(&input(&[2, 4, 4, 4], DType::F32)).is_err());
        assert!(n.forward(&input(&[2, 3, 1, 1], DType::F32)).is_err());
        assert!(n.forward(&input(&[3, 4, 4], DType::F32)).is_err());
        assert!(InstanceNorm2d::new(Some(input(&[3], DType::F32)), None, 1e-5).is_err());
    }
}
