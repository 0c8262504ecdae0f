//! `torch.nn.ConvTranspose2d`: the up-sampling convolution of U-Net decoders, on
//! [`ops::conv_transpose2d`] (stride, padding, output padding, dilation and groups, with
//! a backward that is exact with output padding). Weight `(C_in, C_out/groups, kH, kW)`
//! as PyTorch stores it, bias `(C_out,)`; PyTorch's default initialisation
//! `U(±1/√(C_out/groups·k²))` (PyTorch's fan-in of this weight layout).
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::VarMap;
//! use candor_core::init::seeded_var_builder;
//! use candor_core::nn::{conv_transpose2d, ConvTranspose2dConfig};
//! let vm = VarMap::new();
//! let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
//! // pix2pix's decoder step: k 4, stride 2, padding 1 doubles the size.
//! let cfg = ConvTranspose2dConfig { stride: 2, padding: 1, ..Default::default() };
//! let up = conv_transpose2d(8, 4, 4, cfg, vb.pp("up")).unwrap();
//! let y = up.forward(&Tensor::zeros((1, 8, 16, 16), DType::F32, &Device::Cpu).unwrap()).unwrap();
//! assert_eq!(y.dims(), &[1, 4, 32, 32]);
//! ```

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::cerr;
use crate::init::LayerInit;
use crate::ops::{self, ConvTranspose2dParams};
use crate::{Error, Result};

/// A transposed convolution layer's options, PyTorch's names and defaults (padding 0,
/// output padding 0, stride 1, dilation 1, groups 1, bias, PyTorch's initialisation).
/// Square values; [`ConvTranspose2dParams`] takes `(h, w)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvTranspose2dConfig {
    pub padding: usize,
    pub output_padding: usize,
    pub stride: usize,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
    pub init: LayerInit,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        Self {
            padding: 0,
            output_padding: 0,
            stride: 1,
            dilation: 1,
            groups: 1,
            bias: true,
            init: LayerInit::TORCH,
        }
    }
}

impl ConvTranspose2dConfig {
    /// The op's geometry (square).
    pub fn params(&self) -> ConvTranspose2dParams {
        ConvTranspose2dParams {
            stride: (self.stride, self.stride),
            padding: (self.padding, self.padding),
            output_padding: (self.output_padding, self.output_padding),
            dilation: (self.dilation, self.dilation),
            groups: self.groups,
        }
    }
}

impl From<ConvTranspose2dConfig> for ConvTranspose2dParams {
    fn from(c: ConvTranspose2dConfig) -> Self {
        c.params()
    }
}

/// A 2-D transposed convolution.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: ConvTranspose2dParams,
}

impl ConvTranspose2d {
    /// A layer from its tensors: `weight` `(C_in, C_out/groups, kH, kW)`, `bias`
    /// `(C_out,)` (checked).
    pub fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        params: ConvTranspose2dParams,
    ) -> Result<Self> {
        let (c_in, og, _, _) = weight.dims4().map_err(|_| {
            Error::invalid(format!(
                "ConvTranspose2d: weight must be (C_in, C_out/groups, kH, kW), got {:?}",
                weight.dims()
            ))
        })?;
        if params.groups == 0 || !c_in.is_multiple_of(params.groups) {
            return Err(Error::invalid(format!(
                "ConvTranspose2d: {} groups must divide {c_in} input channels",
                params.groups
            )));
        }
        if let Some(b) = &bias {
            if b.dims() != [og * params.groups] {
                return Err(Error::invalid(format!(
                    "ConvTranspose2d: bias must be ({},), got {:?}",
                    og * params.groups,
                    b.dims()
                )));
            }
        }
        Ok(Self {
            weight,
            bias,
            params,
        })
    }

    /// The weight, `(C_in, C_out/groups, kH, kW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(C_out,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Stride, padding, output padding, dilation and groups.
    pub fn params(&self) -> ConvTranspose2dParams {
        self.params
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::conv_transpose2d(x, &self.weight, self.bias.as_ref(), self.params).map_err(cerr)
    }
}

/// `torch.nn.ConvTranspose2d(c_in, c_out, k, …)`: `weight` and (if `cfg.bias`) `bias`
/// created in `vb` with `cfg.init`.
pub fn conv_transpose2d(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    cfg: ConvTranspose2dConfig,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let g = cfg.groups;
    if g == 0 || !c_in.is_multiple_of(g) || !c_out.is_multiple_of(g) || kernel == 0 {
        return Err(Error::invalid(format!(
            "ConvTranspose2d: {g} groups must divide {c_in} input and {c_out} output channels (kernel {kernel})"
        )));
    }
    let shape = (c_in, c_out / g, kernel, kernel).into();
    let (w_init, b_init) = cfg.init.rules(&shape)?;
    let weight = vb.get_with_hints(shape, "weight", w_init)?;
    let bias = if cfg.bias {
        Some(vb.get_with_hints(c_out, "bias", b_init)?)
    } else {
        None
    };
    ConvTranspose2d::new(weight, bias, cfg.params())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, check, project};
    use crate::nn::test_util::{input, vb};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn shapes_init_and_every_parameter() {
        let vm = VarMap::new();
        let cfg = ConvTranspose2dConfig {
            stride: 2,
            padding: 1,
            output_padding: 1,
            groups: 2,
            ..Default::default()
        };
        let up = conv_transpose2d(4, 6, 3, cfg, vb(&vm, DType::F32).pp("up")).unwrap();
        assert_eq!(up.weight().dims(), &[4, 3, 3, 3]);
        let w = up.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let bound = 1.0 / 27f32.sqrt(); // fan-in = (C_out/groups)·k² = 27
        assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > 0.5 * bound));
        let y = up.forward(&input(&[2, 4, 5, 5], DType::F32)).unwrap();
        assert_eq!(y.dims(), &[2, 6, 10, 10]);
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
        let bad = ConvTranspose2dConfig {
            groups: 4,
            ..Default::default()
        };
        assert!(conv_transpose2d(4, 6, 3, bad, vb(&vm, DType::F32).pp("bad")).is_err());
    }

    #[test]
    fn gradients_match_finite_differences() {
        let p = ConvTranspose2dConfig {
            stride: 2,
            padding: 1,
            output_padding: 1,
            ..Default::default()
        }
        .params();
        let r = check(
            |t| Ok(ConvTranspose2d::new(t[1].clone(), Some(t[2].clone()), p)?.forward(&t[0])?),
            &[
                input(&[2, 3, 3, 4], DType::F64),
                input(&[3, 2, 3, 3], DType::F64),
                input(&[2], DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
    }
}
