//! Activations as layers: [`Activation`] (defined with its kernels in
//! [`crate::ops::activation`]) is a `Module`, so a network can hold `LeakyRelu(0.2)` or
//! `Tanh` as one of its layers. Gradients: see the op; the forward is PyTorch's
//! `nn.ReLU`, `nn.LeakyReLU`, `nn.ELU`, `nn.Sigmoid`, `nn.Tanh` and `nn.Softplus`.
//!
//! ```
//! use candle_core::{Device, Module, Tensor};
//! use candor_core::nn::Activation;
//! let x = Tensor::new(&[-1.0f32, 0.0, 1.0], &Device::Cpu).unwrap();
//! let y = Activation::Sigmoid.forward(&x).unwrap().to_vec1::<f32>().unwrap();
//! assert!((y[0] - 0.268_941_4).abs() < 1e-6 && y[1] == 0.5);
//! ```

use candle_core::{Module, Tensor};

use super::cerr;
use crate::ops::Activation;

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x).map_err(cerr)
    }
}
