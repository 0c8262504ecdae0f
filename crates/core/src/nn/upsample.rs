//! Bilinear `torch.nn.Upsample(scale_factor, mode="bilinear", align_corners)` by an
//! integer or fractional factor, on [`ops::upsample_bilinear2d`] (with backward; candle's
//! `upsample_bilinear2d` has none). The output size is `floor(size · scale)`.
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::Upsample;
//! let x = Tensor::new(&[[[[0f32, 1.0]]]], &Device::Cpu).unwrap(); // (1, 1, 1, 2)
//! let up = Upsample { scale: 2.0, align_corners: true };
//! let y = up.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
//! assert_eq!(y.len(), 8);
//! assert!((y[1] - 1.0 / 3.0).abs() < 1e-6);
//! ```

use candle_core::{Module, Tensor};

use super::cerr;
use crate::ops;

/// Bilinear `torch.nn.Upsample` by an integer or fractional factor.
#[derive(Debug, Clone, Copy)]
pub struct Upsample {
    pub scale: f64,
    pub align_corners: bool,
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let oh = (h as f64 * self.scale).floor() as usize;
        let ow = (w as f64 * self.scale).floor() as usize;
        ops::upsample_bilinear2d(x, oh, ow, self.align_corners).map_err(cerr)
    }
}
