//! Normalisations with gradients, composed from candle ops that all have a backward
//! pass (candle-nn's `LayerNorm`/`RmsNorm` use a fused forward-only op: their inputs and
//! parameters silently get no gradient).

use candle_core::{Tensor, D};

use super::backend::{route, Candle, Route};
use super::Activation;
use crate::{Error, Result};

fn affine(
    y: Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    shape: &[usize],
) -> Result<Tensor> {
    let y = match weight {
        Some(w) => y.broadcast_mul(&w.reshape(shape)?)?,
        None => y,
    };
    Ok(match bias {
        Some(b) => y.broadcast_add(&b.reshape(shape)?)?,
        None => y,
    })
}

/// The per-channel weight and bias a fused kernel takes: the given ones, or ones and
/// zeros (no affine transform) of `c` channels on `x`'s device and dtype.
fn affine_or_identity(
    x: &Tensor,
    c: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let w = match weight {
        Some(w) => w.clone(),
        None => Tensor::ones(c, x.dtype(), x.device())?,
    };
    let b = match bias {
        Some(b) => b.clone(),
        None => Tensor::zeros(c, x.dtype(), x.device())?,
    };
    Ok((w, b))
}

/// Normalise each row of `x` viewed as `(rows, m)` (biased variance, as PyTorch).
fn normalise_rows(x: &Tensor, rows: usize, m: usize, eps: f64) -> Result<Tensor> {
    let xr = x.reshape((rows, m))?;
    let mean = xr.mean_keepdim(D::Minus1)?;
    let xc = xr.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(xc.broadcast_div(&(var + eps)?.sqrt()?)?)
}

/// `torch.nn.functional.layer_norm` over the last `normalized_dims` dimensions, with
/// optional elementwise `weight` and `bias` of those dimensions' shape.
pub fn layer_norm(
    x: &Tensor,
    normalized_dims: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    if normalized_dims == 0 || normalized_dims > dims.len() {
        return Err(Error::invalid(format!(
            "layer_norm: cannot normalise the last {normalized_dims} dims of {dims:?}"
        )));
    }
    let split = dims.len() - normalized_dims;
    let m: usize = dims[split..].iter().product();
    let rows: usize = dims[..split].iter().product();
    if m == 0 {
        return Err(Error::invalid("layer_norm: empty normalised shape"));
    }
    let y = normalise_rows(x, rows, m, eps)?.reshape(dims.clone())?;
    let mut pshape = vec![1usize; split];
    pshape.extend_from_slice(&dims[split..]);
    affine(y, weight, bias, &pshape)
}

/// `torch.nn.functional.group_norm`: `x` is `(N, C, …)`, channels split in `groups`;
/// `weight`/`bias` are per channel.
pub fn group_norm(
    x: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    group_norm_act(x, groups, weight, bias, eps, Activation::Identity)
}

/// [`group_norm`] followed by `act`, as one op on the CPU kernel route: the activation is
/// applied in the normalisation's output pass and its derivative at the start of the
/// backward, so the graph has one node instead of two (no separate activation tensor, no
/// second gradient accumulation). The same values and gradients as `act.apply(&group_norm(…))`,
/// bit for bit.
pub fn group_norm_act(
    x: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<Tensor> {
    act.validate()?;
    let dims = x.dims().to_vec();
    if dims.len() < 2 || groups == 0 || !dims[1].is_multiple_of(groups) {
        return Err(Error::invalid(format!(
            "group_norm: {groups} groups do not divide the channels of {dims:?}"
        )));
    }
    let (n, c) = (dims[0], dims[1]);
    let m = x.elem_count() / (n * groups).max(1);
    if m == 0 {
        return Err(Error::invalid("group_norm: empty input"));
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            if t.dims() != [c] {
                return Err(Error::invalid(format!(
                    "group_norm: {name} must be ({c},), got {:?}",
                    t.dims()
                )));
            }
        }
    }
    if act.needs_input() {
        // The fused backward keeps only the output; SiLU runs as its own op.
        return act.apply(&group_norm_act(
            x,
            groups,
            weight,
            bias,
            eps,
            Activation::Identity,
        )?);
    }
    if route("group_norm", &[x], Candle::Trainable)? == Route::Kernel {
        // Fused kernel (`ops::groupnorm`): one pass per row forward, two backward.
        let (w, b) = affine_or_identity(x, c, weight, bias)?;
        return Ok(super::groupnorm::gn_fused(x, groups, &w, &b, eps, act)?);
    }
    act.apply(&group_norm_composed(x, groups, weight, bias, eps)?)
}

/// [`group_norm`] as a chain of candle ops (the route off the CPU kernel, and the
/// reference the kernel is tested against).
fn group_norm_composed(
    x: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let m = x.elem_count() / (n * groups).max(1);
    let y = normalise_rows(x, n * groups, m, eps)?.reshape(dims.clone())?;
    let mut pshape = vec![1usize; dims.len()];
    pshape[1] = c;
    affine(y, weight, bias, &pshape)
}

/// `torch.nn.functional.instance_norm` without running statistics: group norm with one
/// group per channel.
pub fn instance_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    instance_norm_act(x, weight, bias, eps, Activation::Identity)
}

/// [`instance_norm`] followed by `act`, fused as [`group_norm_act`].
pub fn instance_norm_act(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<Tensor> {
    let c = *x
        .dims()
        .get(1)
        .ok_or_else(|| Error::invalid("instance_norm: expected (N, C, …)"))?;
    group_norm_act(x, c, weight, bias, eps, act)
}

/// Batch normalisation in training mode over `(N, C, …)`: normalises with the batch
/// statistics per channel and returns `(y, mean, unbiased variance)`; the caller updates
/// its running statistics from the last two (detached), as PyTorch does.
pub fn batch_norm_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_train_act(x, weight, bias, eps, Activation::Identity)
}

/// [`batch_norm_train`] followed by `act` on `y`, as one op on the CPU kernel route (the
/// activation in the output pass, its derivative inside the backward passes: no separate
/// activation tensor, gradient or gradient accumulation). The same values and gradients
/// as `act.apply(&batch_norm_train(…).0)`, bit for bit.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{batch_norm_train_act, Activation};
/// // (M, C) rows: 4 points with 2 channels.
/// let x = Tensor::new(&[[1f32, -2.0], [3.0, 0.0], [5.0, 2.0], [7.0, 4.0]], &Device::Cpu).unwrap();
/// let (y, mean, var) = batch_norm_train_act(&x, None, None, 1e-5, Activation::Relu).unwrap();
/// assert_eq!(mean.to_vec1::<f32>().unwrap(), vec![4.0, 1.0]);
/// assert!(y.to_vec2::<f32>().unwrap().iter().flatten().all(|v| *v >= 0.0));
/// # let _ = var;
/// ```
pub fn batch_norm_train_act(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    act.validate()?;
    let (c, count) = train_sizes(x)?;
    if route("batch_norm", &[x], Candle::Trainable)? == Route::Kernel {
        // Fused kernel: statistics, normalisation and affine in two passes.
        let (w, b) = batch_norm_affine(x, c, weight, bias)?;
        let (y, st) = super::batchnorm::bn_train_fused(x, &w, &b, eps, act)?;
        let (mean, var) = stats_tensors(st, count, x)?;
        return Ok((y, mean, var));
    }
    let (y, mean, var) = candle_batch_norm_train(x, weight, bias, eps)?;
    Ok((act.apply(&y)?, mean, var))
}

/// [`affine_or_identity`] for a batch norm's `c` channels, checked to be `(c,)` each.
fn batch_norm_affine(
    x: &Tensor,
    c: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let (w, b) = affine_or_identity(x, c, weight, bias)?;
    if w.dims() != [c] || b.dims() != [c] {
        return Err(Error::invalid(format!(
            "batch_norm: weight and bias must be ({c},), got {:?} and {:?}",
            w.dims(),
            b.dims()
        )));
    }
    Ok((w, b))
}

/// The batch mean and unbiased variance of a fused kernel's statistics (`count` values per
/// channel) as tensors of `x`'s device and dtype.
fn stats_tensors(
    st: super::batchnorm::BnStats,
    count: usize,
    x: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let c = st.mean.len();
    let mean = Tensor::from_vec(st.mean, c, x.device())?.to_dtype(x.dtype())?;
    let unbiased: Vec<f64> = st
        .var
        .iter()
        .map(|v| v * count as f64 / (count - 1) as f64)
        .collect();
    let var = Tensor::from_vec(unbiased, c, x.device())?.to_dtype(x.dtype())?;
    Ok((mean, var))
}

/// A fully connected layer without bias followed by a training-mode batch norm over its
/// rows and `act`: `act(batch_norm_train(x·Wᵀ))` for `x` `(M, K)` and `W` `(C, K)`,
/// returning `(y, mean, unbiased variance)` as [`batch_norm_train_act`] does. PointNet's
/// shared MLP layers and its fully connected ones, and any `Linear` → `BatchNorm1d` block.
///
/// On the CPU kernel route (f32, f64) the product and the batch norm are one graph node:
/// the product's `(M, C)` output is kept inside the op for the backward instead of being a
/// node, so candle's backward fills and adds no gradient buffer for it, and no zero bias is
/// added to it. The values and gradients are those of
/// `batch_norm_train_act(&linear(x, w, None, Identity), …)` (which adds that zero bias: the
/// two can differ only in the sign of an exact zero). Elsewhere it is that composition.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{linear_batch_norm_train_act, Activation};
/// let x = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [2.0, 2.0]], &Device::Cpu).unwrap();
/// let w = Tensor::new(&[[1f32, 1.0]], &Device::Cpu).unwrap(); // one output: x₀ + x₁
/// let (y, mean, _var) =
///     linear_batch_norm_train_act(&x, &w, None, None, 1e-5, Activation::Relu).unwrap();
/// assert_eq!(mean.to_vec1::<f32>().unwrap(), vec![2.0]);
/// // The two rows below the mean are clipped by the ReLU.
/// let y = y.to_vec2::<f32>().unwrap();
/// assert_eq!((y[0][0], y[1][0]), (0.0, 0.0));
/// assert!(y[2][0] > 1.0);
/// ```
pub fn linear_batch_norm_train_act(
    x: &Tensor,
    w: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    act.validate()?;
    let (c, k) = w.dims2().map_err(|_| {
        Error::invalid(format!(
            "linear_batch_norm: weight must be (out, in), got {:?}",
            w.dims()
        ))
    })?;
    let (m, kx) = x.dims2().map_err(|_| {
        Error::invalid(format!(
            "linear_batch_norm: input must be (rows, {k}), got {:?}",
            x.dims()
        ))
    })?;
    if kx != k {
        return Err(Error::invalid(format!(
            "linear_batch_norm: input {:?} for a weight of {k} inputs",
            x.dims()
        )));
    }
    if m < 2 {
        return Err(Error::invalid(format!(
            "batch_norm in training mode needs more than one value per channel, got {m} rows"
        )));
    }
    let mut inputs = vec![x, w];
    inputs.extend(weight);
    inputs.extend(bias);
    super::linear::same_dtype("linear_batch_norm", &inputs)?;
    if route("linear_batch_norm", &inputs, Candle::Trainable)? == Route::Kernel {
        let (g, b) = batch_norm_affine(x, c, weight, bias)?;
        let gb = Tensor::cat(&[&g, &b], 0)?;
        let (y, st) = super::linear::linear_bn_train_fused(x, w, &gb, eps, act)?;
        let (mean, var) = stats_tensors(st, m, x)?;
        return Ok((y, mean, var));
    }
    let z = super::linear(x, w, None, Activation::Identity)?;
    batch_norm_train_act(&z, weight, bias, eps, act)
}

/// [`linear_batch_norm_train_act`] followed by the max over each cloud's points:
/// `x` `(B, N, K)` → `(max over N of act(batch_norm_train(x·Wᵀ))` `(B, C)`, mean,
/// unbiased variance)`. PointNet's last shared layer in training mode in front of its
/// global max-pool.
///
/// On the CPU kernels (f32, f64) it is one graph node: the layer's `(B·N, C)` output stays
/// inside the op (the batch norm's backward needs every point), so candle's backward makes
/// no zero-filled buffer for it and adds no gradient to one. Values and gradients are those
/// of `max_dim1` of the layer, bit for bit. Elsewhere it is that composition.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{linear_batch_norm_train_act_max, Activation};
/// let x = Tensor::new(&[[[1f32, 0.], [0., 1.]], [[2., 0.], [0., 3.]]], &Device::Cpu)?;
/// let w = Tensor::new(&[[1f32, 0.], [0., 1.]], &Device::Cpu)?;
/// let (y, mean, _var) =
///     linear_batch_norm_train_act_max(&x, &w, None, None, 1e-5, Activation::Relu)?;
/// assert_eq!(y.dims(), [2, 2]);
/// assert_eq!(mean.to_vec1::<f32>()?, [0.75, 1.0]);
/// # Ok::<(), candor_core::Error>(())
/// ```
pub fn linear_batch_norm_train_act_max(
    x: &Tensor,
    w: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, n, k) = x.dims3().map_err(|_| {
        Error::invalid(format!(
            "linear_batch_norm_max: input must be (clouds, points, features), got {:?}",
            x.dims()
        ))
    })?;
    if n == 0 {
        return Err(Error::invalid("linear_batch_norm_max: clouds of no points"));
    }
    let rows = x.reshape((b * n, k))?;
    let mut inputs = vec![x, w];
    inputs.extend(weight);
    inputs.extend(bias);
    let kernel = route("linear_batch_norm", &inputs, Candle::Trainable)? == Route::Kernel;
    if !kernel || w.dims2().is_err() || b * n < 2 {
        // The composition (and its errors for bad shapes).
        let (y, mean, var) = linear_batch_norm_train_act(&rows, w, weight, bias, eps, act)?;
        let c = y.dim(1)?;
        return Ok((super::max_dim1(&y.reshape((b, n, c))?)?, mean, var));
    }
    act.validate()?;
    let (c, kw) = w.dims2()?;
    if kw != k {
        return Err(Error::invalid(format!(
            "linear_batch_norm_max: input {:?} for a weight of {kw} inputs",
            x.dims()
        )));
    }
    super::linear::same_dtype("linear_batch_norm_max", &inputs)?;
    let (g, bb) = batch_norm_affine(x, c, weight, bias)?;
    let gb = Tensor::cat(&[&g, &bb], 0)?;
    let (y, st) = super::linear_max::linear_bn_train_max_fused(
        &rows.contiguous()?,
        &w.contiguous()?,
        &gb,
        (n, eps, act),
    )?;
    let (mean, var) = stats_tensors(st, b * n, x)?;
    Ok((y, mean, var))
}

/// A convolution without bias followed by a training-mode batch norm and `act`:
/// `act(batch_norm_train(conv2d(x, w, p)))`, returning `(y, mean, unbiased variance)` as
/// [`batch_norm_train_act`] does. The conv → BN → activation blocks of EfficientNet,
/// Xception and MAT.
///
/// Where the convolution runs on candor's CPU kernels (f32, f64) the three are one graph
/// node: the convolution's output is kept inside the op for the backward instead of being
/// a node, so candle's backward neither fills nor adds a gradient buffer for it. The values
/// and gradients are those of `batch_norm_train_act(&conv2d(x, w, p), …)` (up to the sign
/// of an exact zero gradient, which candle's `0 + g` makes positive). Elsewhere it is that
/// composition.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{conv2d_batch_norm_train_act, Activation, Conv2dParams};
/// // Two images of one 1×2 plane; a 1×1 kernel of 2 doubles them.
/// let x = Tensor::new(&[1f32, 3.0, 5.0, 7.0], &Device::Cpu).unwrap().reshape((2, 1, 1, 2)).unwrap();
/// let w = Tensor::new(&[2f32], &Device::Cpu).unwrap().reshape((1, 1, 1, 1)).unwrap();
/// let (y, mean, _var) =
///     conv2d_batch_norm_train_act(&x, &w, Conv2dParams::default(), None, None, 1e-5, Activation::Relu)
///         .unwrap();
/// assert_eq!(mean.to_vec1::<f32>().unwrap(), vec![8.0]);
/// // The two values below the mean are clipped by the ReLU.
/// let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
/// assert_eq!((y[0], y[1]), (0.0, 0.0));
/// assert!(y[3] > 1.0);
/// ```
pub fn conv2d_batch_norm_train_act(
    x: &Tensor,
    w: &Tensor,
    p: super::Conv2dParams,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    act.validate()?;
    let &[c, _, _, _] = w.dims() else {
        return Err(Error::invalid(format!(
            "conv2d_batch_norm: weight must be (out, in/groups, kH, kW), got {:?}",
            w.dims()
        )));
    };
    let mut inputs = vec![x, w];
    inputs.extend(weight);
    inputs.extend(bias);
    super::linear::same_dtype("conv2d_batch_norm", &inputs)?;
    let (g, b) = batch_norm_affine(x, c, weight, bias)?;
    let gb = Tensor::cat(&[&g, &b], 0)?;
    if let Some((y, st)) = super::conv::conv_bn_train_fused(x, w, &gb, p, eps, act)? {
        let count = y.elem_count() / c;
        let (mean, var) = stats_tensors(st, count, x)?;
        return Ok((y, mean, var));
    }
    let z = super::conv2d(x, w, p)?;
    batch_norm_train_act(&z, weight, bias, eps, act)
}

/// Channels and values per channel of a training-mode batch norm input, checked.
fn train_sizes(x: &Tensor) -> Result<(usize, usize)> {
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(Error::invalid(format!(
            "batch_norm: expected (N, C, …), got {dims:?}"
        )));
    }
    let c = dims[1];
    let count = x.elem_count() / c.max(1);
    if count < 2 {
        return Err(Error::invalid(format!(
            "batch_norm in training mode needs more than one value per channel, got {dims:?}"
        )));
    }
    Ok((c, count))
}

/// [`batch_norm_train`] from candle ops (every one with a backward), off the CPU.
pub(super) fn candle_batch_norm_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (c, count) = train_sizes(x)?;
    let dims = x.dims().to_vec();
    // (N, C, R) → (C, N·R)
    let xr = x
        .reshape((dims[0], c, count / dims[0]))?
        .transpose(0, 1)?
        .reshape((c, count))?;
    let mean = xr.mean_keepdim(D::Minus1)?;
    let xc = xr.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let mut shape = vec![1usize; dims.len()];
    shape[1] = c;
    let y = x
        .broadcast_sub(&mean.reshape(shape.clone())?)?
        .broadcast_div(&(var.clone() + eps)?.sqrt()?.reshape(shape.clone())?)?;
    let unbiased = (var.flatten_all()? * (count as f64 / (count - 1) as f64))?;
    let y = affine(y, weight, bias, &shape)?;
    Ok((y, mean.flatten_all()?.detach(), unbiased.detach()))
}

/// Batch normalisation in evaluation mode with running statistics.
pub fn batch_norm_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(Error::invalid(format!(
            "batch_norm: expected (N, C, …), got {dims:?}"
        )));
    }
    let c = dims[1];
    let mut shape = vec![1usize; dims.len()];
    shape[1] = c;
    // Fold the statistics and the affine transform into one scale and shift per channel
    // (small tensors, differentiable in weight and bias): two full-size passes, not four.
    let inv = (running_var + eps)?.sqrt()?.recip()?;
    let scale = match weight {
        Some(w) => w.mul(&inv)?,
        None => inv,
    };
    let shift = match bias {
        Some(b) => b.sub(&running_mean.mul(&scale)?)?,
        None => running_mean.mul(&scale)?.neg()?,
    };
    Ok(x.broadcast_mul(&scale.reshape(shape.clone())?)?
        .broadcast_add(&shift.reshape(shape)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn norm_with_fused_activation_is_the_two_ops_bit_for_bit() {
        let mut r = crate::SeededRng::new(5);
        let dev = Device::Cpu;
        let x = r
            .normal_tensor(0.0, 2.0, (2, 4, 5, 3), DType::F32, &dev)
            .unwrap();
        let w = r.normal_tensor(1.0, 0.5, (4,), DType::F32, &dev).unwrap();
        let b = r.normal_tensor(0.0, 0.5, (4,), DType::F32, &dev).unwrap();
        let dy = r
            .normal_tensor(0.0, 1.0, (2, 4, 5, 3), DType::F32, &dev)
            .unwrap();
        for act in [
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::Sigmoid,
            Activation::Identity,
            Activation::Silu,
        ] {
            for groups in [1, 2, 4] {
                let run = |fused: bool| {
                    let (xv, wv, bv) = (
                        candle_core::Var::from_tensor(&x).unwrap(),
                        candle_core::Var::from_tensor(&w).unwrap(),
                        candle_core::Var::from_tensor(&b).unwrap(),
                    );
                    let (xt, wt, bt) = (xv.as_tensor(), wv.as_tensor(), bv.as_tensor());
                    let y = if fused {
                        group_norm_act(xt, groups, Some(wt), Some(bt), 1e-5, act).unwrap()
                    } else {
                        act.apply(&group_norm(xt, groups, Some(wt), Some(bt), 1e-5).unwrap())
                            .unwrap()
                    };
                    let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
                    let bits = |t: &Tensor| -> Vec<u32> {
                        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                        // +0 and −0 compare equal (an accumulation into zeros may flip the sign).
                        v.iter().map(|v| (v + 0.0).to_bits()).collect()
                    };
                    [
                        bits(&y),
                        bits(grads.get(xt).unwrap()),
                        bits(grads.get(wt).unwrap()),
                        bits(grads.get(bt).unwrap()),
                    ]
                };
                assert_eq!(run(true), run(false), "{act:?}, {groups} groups");
            }
        }
        let x4 = x.clone();
        let fused = instance_norm_act(&x4, None, None, 1e-5, Activation::Relu).unwrap();
        let two = Activation::Relu
            .apply(&instance_norm(&x4, None, None, 1e-5).unwrap())
            .unwrap();
        assert_eq!(
            fused.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            two.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    /// Batch norm in training mode on `(x, w, b)` with `act` fused into it (`fused`) or
    /// applied as its own op after it, then `(y · dy).sum()` backward: the bits of the
    /// output, the statistics and the gradients of x, γ and β.
    fn batch_norm_act_bits(
        (x, w, b, dy): (&Tensor, &Tensor, &Tensor, &Tensor),
        act: Activation,
        fused: bool,
    ) -> [Vec<u64>; 6] {
        let (xv, wv, bv) = (
            candle_core::Var::from_tensor(x).unwrap(),
            candle_core::Var::from_tensor(w).unwrap(),
            candle_core::Var::from_tensor(b).unwrap(),
        );
        let (xt, wt, bt) = (xv.as_tensor(), wv.as_tensor(), bv.as_tensor());
        let (y, mean, var) = if fused {
            batch_norm_train_act(xt, Some(wt), Some(bt), 1e-3, act).unwrap()
        } else {
            let (y, mean, var) = batch_norm_train(xt, Some(wt), Some(bt), 1e-3).unwrap();
            (act.apply(&y).unwrap(), mean, var)
        };
        let grads = (&y * dy).unwrap().sum_all().unwrap().backward().unwrap();
        let bits = |t: &Tensor| -> Vec<u64> {
            let v = t.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
            let v = v.to_vec1::<f64>().unwrap();
            v.iter().map(|v| (v + 0.0).to_bits()).collect()
        };
        [
            bits(&y),
            bits(&mean),
            bits(&var),
            bits(grads.get(xt).unwrap()),
            bits(grads.get(wt).unwrap()),
            bits(grads.get(bt).unwrap()),
        ]
    }

    /// Batch norm on `(N, C, H, W)` with the activation fused is batch norm followed by
    /// the separate activation op, bit for bit (output, statistics, and the gradients of
    /// x, γ and β), in f32 and f64, on planes of 63 and of 600 values (a remainder after
    /// the kernels' 16 lanes, one and several of SiLU's 256-value gradient blocks); SiLU's
    /// derivative comes from the recomputed input `x·a + b`.
    #[test]
    fn batch_norm_planes_with_fused_activation_are_the_two_ops_bit_for_bit() {
        let mut r = crate::SeededRng::new(9);
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            for shape in [(3, 5, 7, 9), (2, 3, 20, 30)] {
                let x = (r.normal_tensor(0.0, 2.0, shape, dtype, &dev).unwrap() + 1.0).unwrap();
                let w = r.normal_tensor(1.0, 0.5, (shape.1,), dtype, &dev).unwrap();
                let b = r.normal_tensor(0.0, 0.5, (shape.1,), dtype, &dev).unwrap();
                let dy = r.normal_tensor(0.0, 1.0, shape, dtype, &dev).unwrap();
                for act in [Activation::Identity, Activation::Relu, Activation::Silu] {
                    let t = (&x, &w, &b, &dy);
                    assert_eq!(
                        batch_norm_act_bits(t, act, true),
                        batch_norm_act_bits(t, act, false),
                        "{dtype:?} {shape:?} {act:?}"
                    );
                }
            }
        }
    }

    /// Batch norm on `(M, C)` rows: the row kernels with the activation fused give the
    /// bits of the general `(N, C, R)` loops followed by the separate activation op
    /// (output, running statistics' inputs, and the gradients of x, γ and β), in f32 and
    /// f64, for row counts that do and do not split evenly into the reduction's parts.
    #[test]
    fn batch_norm_rows_with_fused_activation_are_the_general_loops_bit_for_bit() {
        let mut r = crate::SeededRng::new(8);
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            for (m, c) in [(37, 5), (300, 64), (1024, 3)] {
                let x = (r.normal_tensor(0.0, 2.0, (m, c), dtype, &dev).unwrap() + 3.0).unwrap();
                let w = r.normal_tensor(1.0, 0.5, (c,), dtype, &dev).unwrap();
                let b = r.normal_tensor(0.0, 0.5, (c,), dtype, &dev).unwrap();
                let dy = r.normal_tensor(0.0, 1.0, (m, c), dtype, &dev).unwrap();
                for act in [
                    Activation::Identity,
                    Activation::Relu,
                    Activation::LeakyRelu(0.2),
                    Activation::Sigmoid,
                    Activation::Silu,
                ] {
                    let t = (&x, &w, &b, &dy);
                    let rows = batch_norm_act_bits(t, act, true);
                    let general = super::super::batchnorm::generic_path(|| {
                        batch_norm_act_bits(t, act, false)
                    });
                    assert_eq!(rows, general, "{dtype:?} {m}×{c} {act:?}");
                }
            }
        }
    }

    /// The fused kernel against the composed candle ops: output and the gradients of
    /// x, weight and bias, in f64 and f32, for one group, several, and one per channel
    /// (instance norm), with a large mean offset (x + 100) to catch cancellation.
    #[test]
    fn fused_group_norm_matches_the_composed_ops() {
        let mut r = crate::SeededRng::new(3);
        for dtype in [DType::F64, DType::F32] {
            let tol = if dtype == DType::F64 { 1e-10 } else { 2e-4 };
            for (groups, offset) in [(1, 0.0), (2, 0.0), (6, 0.0), (3, 100.0)] {
                let x = (r
                    .normal_tensor(0.5, 2.0, (3, 6, 4, 5), dtype, &Device::Cpu)
                    .unwrap()
                    + offset)
                    .unwrap();
                let w = r
                    .normal_tensor(1.0, 0.5, (6,), dtype, &Device::Cpu)
                    .unwrap();
                let b = r
                    .normal_tensor(0.0, 0.5, (6,), dtype, &Device::Cpu)
                    .unwrap();
                let dy = r
                    .normal_tensor(0.0, 1.0, (3, 6, 4, 5), dtype, &Device::Cpu)
                    .unwrap();
                let run = |fused: bool| {
                    let (xv, wv, bv) = (
                        candle_core::Var::from_tensor(&x).unwrap(),
                        candle_core::Var::from_tensor(&w).unwrap(),
                        candle_core::Var::from_tensor(&b).unwrap(),
                    );
                    let f = if fused {
                        group_norm
                    } else {
                        group_norm_composed
                    };
                    let y = f(
                        xv.as_tensor(),
                        groups,
                        Some(wv.as_tensor()),
                        Some(bv.as_tensor()),
                        1e-5,
                    )
                    .unwrap();
                    let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
                    let flat = |t: &Tensor| {
                        t.to_dtype(DType::F64)
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f64>()
                            .unwrap()
                    };
                    vec![
                        flat(&y),
                        flat(grads.get(xv.as_tensor()).unwrap()),
                        flat(grads.get(wv.as_tensor()).unwrap()),
                        flat(grads.get(bv.as_tensor()).unwrap()),
                    ]
                };
                let (a, e) = (run(true), run(false));
                for (k, (a, e)) in a.iter().zip(&e).enumerate() {
                    let scale = e.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    let worst = a
                        .iter()
                        .zip(e)
                        .map(|(p, q)| (p - q).abs())
                        .fold(0.0, f64::max);
                    assert!(
                        worst <= tol * scale,
                        "{dtype:?} groups {groups} offset {offset}: output {k} differs by {worst} (scale {scale})"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_norm_matches_candle_slow() {
        let mut r = crate::SeededRng::new(0);
        let x = r
            .normal_tensor(1.0, 2.0, (4, 6), DType::F64, &Device::Cpu)
            .unwrap();
        let w = r
            .normal_tensor(0.0, 1.0, (6,), DType::F64, &Device::Cpu)
            .unwrap();
        let b = r
            .normal_tensor(0.0, 1.0, (6,), DType::F64, &Device::Cpu)
            .unwrap();
        let ours = layer_norm(&x, 1, Some(&w), Some(&b), 1e-5).unwrap();
        let theirs = candle_nn::ops::layer_norm_slow(&x, &w, &b, 1e-5).unwrap();
        let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f64>().unwrap() < 1e-12);
    }

    #[test]
    fn group_norm_statistics() {
        let mut r = crate::SeededRng::new(1);
        let x = r
            .normal_tensor(3.0, 2.0, (2, 6, 5, 5), DType::F64, &Device::Cpu)
            .unwrap();
        let y = group_norm(&x, 3, None, None, 0.0).unwrap();
        let g = y.reshape((2, 3, 50)).unwrap();
        let mean = g.mean(D::Minus1).unwrap().abs().unwrap().max_all().unwrap();
        assert!(mean.to_scalar::<f64>().unwrap() < 1e-12);
        let var = g
            .sqr()
            .unwrap()
            .mean(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap();
        for v in var.to_vec1::<f64>().unwrap() {
            assert!((v - 1.0).abs() < 1e-9);
        }
        assert!(group_norm(&x, 4, None, None, 1e-5).is_err());
    }

    #[test]
    fn batch_norm_eval_matches_the_formula() {
        let mut r = crate::SeededRng::new(4);
        let dev = Device::Cpu;
        let x = r
            .normal_tensor(0.0, 1.0, (2, 3, 4), DType::F64, &dev)
            .unwrap();
        let rm = r.normal_tensor(0.0, 1.0, 3, DType::F64, &dev).unwrap();
        let rv = r.uniform_tensor(0.5, 2.0, 3, DType::F64, &dev).unwrap();
        let w = r.normal_tensor(0.0, 1.0, 3, DType::F64, &dev).unwrap();
        let b = r.normal_tensor(0.0, 1.0, 3, DType::F64, &dev).unwrap();
        let y = batch_norm_eval(&x, &rm, &rv, Some(&w), Some(&b), 1e-3).unwrap();
        let (xv, yv) = (x.to_vec3::<f64>().unwrap(), y.to_vec3::<f64>().unwrap());
        let (m, v, wv, bv) = (
            rm.to_vec1::<f64>().unwrap(),
            rv.to_vec1::<f64>().unwrap(),
            w.to_vec1::<f64>().unwrap(),
            b.to_vec1::<f64>().unwrap(),
        );
        for n in 0..2 {
            for c in 0..3 {
                for i in 0..4 {
                    let want = (xv[n][c][i] - m[c]) / (v[c] + 1e-3).sqrt() * wv[c] + bv[c];
                    assert!((yv[n][c][i] - want).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn batch_norm_stats() {
        let x = Tensor::new(&[[[1.0f64, 3.0]], [[5.0, 7.0]]], &Device::Cpu).unwrap(); // (2,1,2)
        let (y, m, v) = batch_norm_train(&x, None, None, 0.0).unwrap();
        assert_eq!(m.to_vec1::<f64>().unwrap(), vec![4.0]);
        assert!((v.to_vec1::<f64>().unwrap()[0] - 20.0 / 3.0).abs() < 1e-12);
        let yv = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let s = 5f64.sqrt();
        for (a, b) in yv.iter().zip([-3.0 / s, -1.0 / s, 1.0 / s, 3.0 / s]) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
