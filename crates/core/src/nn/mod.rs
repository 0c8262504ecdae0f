//! Trainable layers on candor-core's ops, one file per layer as in candle-nn, with
//! PyTorch's parameter names (`weight`, `bias`, `running_mean`, `running_var`) and
//! layouts, so that a converted PyTorch state dict loads unchanged, and PyTorch's default
//! initialisation drawn through the seeded `VarBuilder` of [`crate::init`].
//!
//! Each layer is a struct built from tensors (`Linear::new(weight, bias)`) plus a free
//! constructor that creates its variables (`linear(in, out, vb)`), as candle-nn does.
//!
//! | layer | file | PyTorch |
//! |---|---|---|
//! | [`Linear`], [`linear()`] | `linear.rs` | `nn.Linear` |
//! | [`Mlp`], [`MlpConfig`] | `mlp.rs` | a `Sequential` of `Linear` (+ `LayerNorm`) + activations |
//! | [`Conv2d`], [`Conv2dConfig`], [`SeparableConv2d`] | `conv.rs` | `nn.Conv2d` |
//! | [`ConvTranspose2d`], [`ConvTranspose2dConfig`] | `conv_transpose.rs` | `nn.ConvTranspose2d` |
//! | [`BatchNorm2d`] | `batch_norm.rs` | `nn.BatchNorm2d` |
//! | [`LayerNorm`] | `layer_norm.rs` | `nn.LayerNorm` |
//! | [`GroupNorm`] | `group_norm.rs` | `nn.GroupNorm` |
//! | [`InstanceNorm2d`] | `instance_norm.rs` | `nn.InstanceNorm2d` |
//! | [`Dropout`] | `dropout.rs` | `nn.Dropout` (seeded) |
//! | [`Activation`] | `activation.rs` | `nn.ReLU`, `LeakyReLU`, `ELU`, `Sigmoid`, `Tanh`, `Softplus` |
//! | [`MaxPool2d`], [`AvgPool2d`] | `pool.rs` | `nn.MaxPool2d`, `nn.AvgPool2d` |
//! | [`Upsample`] | `upsample.rs` | bilinear `nn.Upsample` |
//!
//! Every layer's tests check its gradients against finite differences and, through
//! [`crate::gradcheck::assert_every_param_has_grad`], that each parameter gets one;
//! `tests/it/ops_fixtures.rs` checks the ops under them against PyTorch.

mod activation;
pub mod batch_norm;
pub mod conv;
pub mod conv_transpose;
pub mod dropout;
pub mod group_norm;
pub mod instance_norm;
pub mod layer_norm;
pub mod linear;
pub mod mlp;
pub mod pool;
pub mod upsample;

pub use crate::ops::Activation;
pub use batch_norm::{batch_norm2d, BatchNorm2d, BatchNormConfig};
pub use conv::{conv2d, separable_conv2d, Conv2d, Conv2dConfig, SeparableConv2d};
pub use conv_transpose::{conv_transpose2d, ConvTranspose2d, ConvTranspose2dConfig};
pub use dropout::Dropout;
pub use group_norm::{group_norm, GroupNorm};
pub use instance_norm::{instance_norm2d, InstanceNorm2d, InstanceNormConfig};
pub use layer_norm::{layer_norm, LayerNorm};
pub use linear::{linear, linear_no_bias, linear_with, Linear, LinearConfig};
pub use mlp::{mlp, FlatParam, Mlp, MlpConfig};
pub use pool::{AvgPool2d, MaxPool2d};
pub use upsample::Upsample;

/// candor's error as candle's, for `Module::forward`.
pub(crate) fn cerr(e: crate::Error) -> candle_core::Error {
    match e {
        crate::Error::Candle(c) => c,
        other => candle_core::Error::Msg(other.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Inputs and variable builders for the layer tests.
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    /// A seeded standard-normal tensor.
    pub fn input(shape: &[usize], dtype: DType) -> Tensor {
        crate::SeededRng::new(3)
            .normal_tensor(0.0, 1.0, shape, dtype, &Device::Cpu)
            .unwrap()
    }

    /// A seeded builder over `vm`.
    pub fn vb(vm: &VarMap, dtype: DType) -> VarBuilder<'static> {
        crate::init::seeded_var_builder(vm, 0, dtype, &Device::Cpu)
    }
}
