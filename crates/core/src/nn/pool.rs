//! `torch.nn.MaxPool2d` and `torch.nn.AvgPool2d` (`count_include_pad=True`) with any
//! kernel, stride and padding, on [`ops::max_pool2d`]/[`ops::avg_pool2d`], whose
//! backward passes work for every geometry (candle's only for kernel = stride).
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::MaxPool2d;
//! use candor_core::ops::Pool2dParams;
//! let x = Tensor::new(&[[[[1f32, 2.0], [4.0, 3.0]]]], &Device::Cpu).unwrap();
//! let y = MaxPool2d(Pool2dParams::new(2, 2, 0)).forward(&x).unwrap();
//! assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![4.0]);
//! ```

use candle_core::{Module, Tensor};

use super::cerr;
use crate::ops::{self, Pool2dParams};

/// `torch.nn.MaxPool2d(kernel, stride, padding)`.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d(pub Pool2dParams);

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::max_pool2d(x, self.0).map_err(cerr)
    }
}

/// `torch.nn.AvgPool2d(kernel, stride, padding, count_include_pad=True)`.
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d(pub Pool2dParams);

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        ops::avg_pool2d(x, self.0, true).map_err(cerr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_every_param_has_grad, project};
    use crate::nn::test_util::{input, vb};
    use crate::nn::{conv2d, Conv2dConfig, Upsample};
    use candle_core::DType;
    use candle_nn::VarMap;

    #[test]
    fn pooling_and_upsample_pass_gradients_to_the_layer_below() {
        let vm = VarMap::new();
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let c = conv2d(2, 2, 3, cfg, vb(&vm, DType::F32).pp("c")).unwrap();
        let h = c.forward(&input(&[1, 2, 8, 8], DType::F32)).unwrap();
        let y = MaxPool2d(Pool2dParams::new(3, 2, 1)).forward(&h).unwrap();
        let y = AvgPool2d(Pool2dParams::new(2, 1, 0)).forward(&y).unwrap();
        let y = Upsample {
            scale: 2.0,
            align_corners: false,
        }
        .forward(&y)
        .unwrap();
        assert_eq!(y.dims(), &[1, 2, 6, 6]);
        assert_every_param_has_grad(&vm, &project(&y).unwrap());
    }
}
