//! Elementwise activations (ReLU, LeakyReLU, ELU, sigmoid, tanh, softplus, SiLU) with
//! one-pass, parallel forward and backward kernels.
//!
//! Every activation here but SiLU has a derivative that is a function of its **output** `y`
//! (ReLU: `y > 0`; LeakyReLU: `y > 0 ? 1 : slope`; ELU: `y > 0 ? 1 : y + α`; sigmoid:
//! `y(1 − y)`; tanh: `1 − y²`; softplus: `1 − e^{−y}`), so the backward needs only the
//! result, and [`super::linear`](mod@super::linear) can fuse any of them into its output pass.
//! SiLU's derivative needs its input ([`Activation::needs_input`]): it runs as its own op
//! ([`silu`]) except after batch norm, whose fused backward recomputes the input from the
//! normalisation's saved input and statistics.
//!
//! On the CPU (f32, f64) each runs as one custom op. On any other device or dtype the
//! same function is composed from candle ops that all have a correct backward
//! (`relu`, `elu`, `tanh`, `exp`, `log`, candle-nn's `sigmoid`); a test checks those
//! compositions against the CPU kernels, value and gradient.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::backend::{route, Candle, Route};
use super::kernel::{alloc_for_overwrite, dispatch, multiversion, out, slice, Real};
use crate::{Error, Result};

const CHUNK: usize = 1 << 14;

/// PyTorch's softplus threshold (`beta = 1`): above it softplus is the identity.
const SOFTPLUS_THRESHOLD: f64 = 20.0;

/// An elementwise activation, with PyTorch's semantics (including the gradient at 0:
/// ReLU 0, LeakyReLU `slope`, ELU `α`).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::Activation;
/// let x = Tensor::new(&[-2.0f32, 0.0, 3.0], &Device::Cpu).unwrap();
/// let y = Activation::LeakyRelu(0.1).apply(&x).unwrap();
/// assert_eq!(y.to_vec1::<f32>().unwrap(), vec![-0.2, 0.0, 3.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Activation {
    /// `x` (no activation).
    #[default]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x` for `x > 0`, else `slope·x` (`torch.nn.LeakyReLU(negative_slope)`; PyTorch's
    /// default slope is 0.01, pix2pix's 0.2). The slope must be ≥ 0.
    LeakyRelu(f64),
    /// `x` for `x > 0`, else `α(eˣ − 1)` (`torch.nn.ELU(alpha)`, default α = 1); α ≥ 0.
    Elu(f64),
    /// `1 / (1 + e^{−x})`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// `ln(1 + eˣ)`, and `x` above 20 (`torch.nn.Softplus()`: β = 1, threshold 20).
    Softplus,
    /// `x·σ(x)` (`torch.nn.SiLU`, swish). Its derivative needs the input, not the output
    /// ([`Activation::needs_input`]).
    Silu,
}

impl Activation {
    /// An error for a negative LeakyReLU slope or ELU α, or a non-finite one.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu(s) if !(s >= 0.0 && s.is_finite()) => Err(Error::invalid(
                format!("LeakyReLU: negative slope must be finite and ≥ 0, got {s}"),
            )),
            Activation::Elu(a) if !(a >= 0.0 && a.is_finite()) => Err(Error::invalid(format!(
                "ELU: alpha must be finite and ≥ 0, got {a}"
            ))),
            _ => Ok(()),
        }
    }

    /// A short lowercase name (`"relu"`, `"leaky_relu"`, …), used in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Silu => "silu",
        }
    }

    /// Whether the derivative needs the activation's input (SiLU) rather than its output:
    /// the fused ops that keep only the output (linear, group norm) apply such an
    /// activation as its own op after theirs.
    pub fn needs_input(&self) -> bool {
        matches!(self, Activation::Silu)
    }

    /// The activation applied to `x`, differentiable.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.validate()?;
        match *self {
            Activation::Identity => return Ok(x.clone()),
            // The input-based backward of its own op.
            Activation::Silu => return silu(x),
            _ => {}
        }
        match route(self.name(), &[x], Candle::Trainable)? {
            Route::Kernel => Ok(x.contiguous()?.apply_op1(Act(*self))?),
            Route::Candle => self.apply_composed(x),
        }
    }

    /// The same function from candle ops with their own backward passes: the path for
    /// devices and dtypes without a kernel here.
    pub(crate) fn apply_composed(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match *self {
            Activation::Identity => x.clone(),
            Activation::Relu => candle_relu(x)?,
            // x · (s + (1 − s)·[x > 0]): slope s at and below 0, as PyTorch.
            Activation::LeakyRelu(s) => {
                x.mul(&((x.gt(0f64)?.to_dtype(x.dtype())? * (1.0 - s))? + s)?)?
            }
            Activation::Elu(a) => x.elu(a)?,
            Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
            Activation::Tanh => x.tanh()?,
            // ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}), without overflow.
            Activation::Softplus => (x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?,
            Activation::Silu => x.silu()?,
        })
    }

    /// `f(x)` for one value.
    #[inline(always)]
    pub(crate) fn f<T: Real>(&self, x: T) -> T {
        match *self {
            Activation::Identity => x,
            Activation::Relu => {
                if x > T::ZERO {
                    x
                } else {
                    T::ZERO
                }
            }
            Activation::LeakyRelu(s) => {
                if x > T::ZERO {
                    x
                } else {
                    x * <T as Real>::from_f64(s)
                }
            }
            Activation::Elu(a) => {
                if x > T::ZERO {
                    x
                } else {
                    <T as Real>::from_f64(a) * x.exp_m1()
                }
            }
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => {
                if x > <T as Real>::from_f64(SOFTPLUS_THRESHOLD) {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
            Activation::Silu => x * x.sigmoid(),
        }
    }

    /// `f′` at the input whose output is `y`.
    #[inline(always)]
    pub(crate) fn df_from_y<T: Real>(&self, y: T) -> T {
        match *self {
            Activation::Identity => T::ONE,
            Activation::Relu => {
                if y > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::LeakyRelu(s) => {
                if y > T::ZERO {
                    T::ONE
                } else {
                    <T as Real>::from_f64(s)
                }
            }
            Activation::Elu(a) => {
                if y > T::ZERO {
                    T::ONE
                } else {
                    y + <T as Real>::from_f64(a)
                }
            }
            Activation::Sigmoid => y * (T::ONE - y),
            Activation::Tanh => T::ONE - y * y,
            // σ(x) = 1 − e^{−y} (from e^y = 1 + eˣ); 1 in the linear region.
            Activation::Softplus => {
                if y > <T as Real>::from_f64(SOFTPLUS_THRESHOLD) {
                    T::ONE
                } else {
                    T::ZERO - (T::ZERO - y).exp_m1()
                }
            }
            Activation::Silu => unreachable!("SiLU's derivative needs its input (Activation::df)"),
        }
    }

    /// Apply in place to a host slice (the batch-1 paths of the MLP).
    pub(crate) fn apply_slice<T: Real>(&self, v: &mut [T]) {
        if *self != Activation::Identity {
            for x in v {
                *x = self.f(*x);
            }
        }
    }
}

/// The activation as a custom op (CPU, f32/f64).
struct Act(Activation);

/// `dy · f′(y)`: the backward of an activation from its output (shared with
/// [`super::linear`]).
pub(crate) struct ActBwd(pub(crate) Activation);

/// `y = f(x)` chunk by chunk in parallel, into a new vector (`f` writes every element of
/// its output chunk).
fn par_map<T: Real>(x: &[T], f: impl Fn(&mut [MaybeUninit<T>], &[T]) + Sync) -> Vec<T> {
    let mut y: Vec<T> = Vec::with_capacity(x.len());
    y.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| f(yc, xc));
    // SAFETY: the chunks above cover `0..x.len()` and `f` wrote every element.
    unsafe { y.set_len(x.len()) };
    y
}

/// `dx = f(a, dy)` chunk by chunk in parallel, into a new vector (`f` writes every
/// element of its output chunk): the backward passes of the elementwise ops.
fn par_map2<T: Real>(a: &[T], dy: &[T], f: impl Fn(&mut [T], &[T], &[T]) + Sync) -> Vec<T> {
    // SAFETY: the chunks below cover every element and `f` writes each.
    let mut dx = unsafe { alloc_for_overwrite::<T>(a.len()) };
    dx.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(dc, (ac, gc))| f(dc, ac, gc));
    dx
}

impl CustomOp1 for Act {
    fn name(&self) -> &'static str {
        "candor-activation"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let act = self.0;
        dispatch!(s, "activation", |T| {
            let y = par_map(slice::<T>(s, l)?, |yc, xc| act_fwd_mv(yc, xc, act));
            Ok(out(T::wrap(y), l.shape().clone()))
        })
    }
    fn bwd(&self, _x: &Tensor, res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            res.apply_op2_no_bwd(&dy.contiguous()?, &ActBwd(self.0))?,
        ))
    }
}

/// `v ← f(v)` over a chunk, the activation matched once per call so that the ReLU and
/// LeakyReLU loops vectorise (the same per-element arithmetic as [`Activation::f`], so the
/// same bits).
#[inline(always)]
pub(crate) fn act_inplace_chunk<T: Real>(v: &mut [T], act: Activation) {
    match act {
        Activation::Identity => {}
        Activation::Relu => {
            for x in v {
                *x = if *x > T::ZERO { *x } else { T::ZERO };
            }
        }
        Activation::LeakyRelu(s) => {
            let s = <T as Real>::from_f64(s);
            for x in v {
                *x = if *x > T::ZERO { *x } else { *x * s };
            }
        }
        act => {
            for x in v {
                *x = act.f(*x);
            }
        }
    }
}

/// `y ← f(x)` into uninitialised memory: [`act_inplace_chunk`]'s arithmetic, one pass.
#[inline(always)]
fn act_fwd_chunk<T: Real>(y: &mut [MaybeUninit<T>], x: &[T], act: Activation) {
    let it = y.iter_mut().zip(x);
    match act {
        Activation::Identity => it.for_each(|(o, v)| {
            o.write(*v);
        }),
        Activation::Relu => it.for_each(|(o, v)| {
            o.write(if *v > T::ZERO { *v } else { T::ZERO });
        }),
        Activation::LeakyRelu(s) => {
            let s = <T as Real>::from_f64(s);
            it.for_each(|(o, v)| {
                o.write(if *v > T::ZERO { *v } else { *v * s });
            })
        }
        act => it.for_each(|(o, v)| {
            o.write(act.f(*v));
        }),
    }
}

multiversion!(act_fwd_mv => act_fwd_chunk(y: &mut [MaybeUninit<T>], x: &[T], act: Activation));

/// `dx = dy · f'(y)` over a chunk, the activation matched once per call so that the
/// identity and ReLU loops vectorise (same per-element arithmetic as
/// [`Activation::df_from_y`]).
#[inline(always)]
fn act_bwd_chunk<T: Real>(dx: &mut [T], y: &[T], dy: &[T], act: Activation) {
    let it = dx.iter_mut().zip(y.iter().zip(dy));
    match act {
        Activation::Relu => {
            for (d, (v, g)) in it {
                *d = *g * if *v > T::ZERO { T::ONE } else { T::ZERO };
            }
        }
        act => {
            for (d, (v, g)) in it {
                *d = *g * act.df_from_y(*v);
            }
        }
    }
}

multiversion!(act_bwd_mv => act_bwd_chunk(dx: &mut [T], y: &[T], dy: &[T], act: Activation));

impl CustomOp2 for ActBwd {
    fn name(&self) -> &'static str {
        "candor-activation-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let act = self.0;
        dispatch!(s1, "activation backward", |T| {
            let (y, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let dx = par_map2(y, dy, |dc, yc, gc| act_bwd_mv(dc, yc, gc, act));
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// ReLU, differentiable (gradient 0 at 0, as PyTorch).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    Activation::Relu.apply(x)
}

/// LeakyReLU with `negative_slope ≥ 0` (gradient `negative_slope` at 0, as PyTorch).
pub fn leaky_relu(x: &Tensor, negative_slope: f64) -> Result<Tensor> {
    Activation::LeakyRelu(negative_slope).apply(x)
}

/// ELU with `alpha ≥ 0`.
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    Activation::Elu(alpha).apply(x)
}

/// The logistic sigmoid.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Activation::Sigmoid.apply(x)
}

/// The hyperbolic tangent.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    Activation::Tanh.apply(x)
}

/// Softplus `ln(1 + eˣ)` (β = 1, threshold 20, as `torch.nn.Softplus()`).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Activation::Softplus.apply(x)
}

/// SiLU (swish) `x·σ(x)`, as `torch.nn.SiLU` and candle's `silu`, with a one-pass
/// backward `dy·σ(x)·(1 + x·(1 − σ(x)))` from the saved input (candle's own backward
/// composes eight tensor ops).
pub fn silu(x: &Tensor) -> Result<Tensor> {
    match route("silu", &[x], Candle::Trainable)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(Silu)?),
        Route::Candle => Ok(x.silu()?),
    }
}

struct Silu;
struct SiluBwd;

/// `y = x·σ(x)` over a chunk, σ by [`Real::sigmoid`] (vectorised in f32): candle's
/// `x / (1 + e^{−x})` up to rounding (test `silu_f32_matches_candle`).
#[inline(always)]
fn silu_fwd_chunk<T: Real>(y: &mut [MaybeUninit<T>], x: &[T]) {
    for (o, &v) in y.iter_mut().zip(x) {
        o.write(v * v.sigmoid());
    }
}

multiversion!(silu_fwd_mv => silu_fwd_chunk(y: &mut [MaybeUninit<T>], x: &[T]));

/// SiLU's derivative `σ(x)·(1 + x·(1 − σ(x)))` (the arithmetic of [`silu`]'s backward
/// and of batch norm's fused one).
#[inline(always)]
pub(crate) fn silu_df<T: Real>(x: T) -> T {
    let s = x.sigmoid();
    s * (T::ONE + x * (T::ONE - s))
}

/// `dx = dy·σ(x)·(1 + x·(1 − σ(x)))` over a chunk.
#[inline(always)]
fn silu_bwd_chunk<T: Real>(dx: &mut [T], x: &[T], dy: &[T]) {
    for (d, (&v, &g)) in dx.iter_mut().zip(x.iter().zip(dy)) {
        *d = g * silu_df(v);
    }
}

multiversion!(silu_bwd_mv => silu_bwd_chunk(dx: &mut [T], x: &[T], dy: &[T]));

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "candor-silu"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch!(s, "silu", |T| {
            let y = par_map(slice::<T>(s, l)?, silu_fwd_mv);
            Ok(out(T::wrap(y), l.shape().clone()))
        })
    }
    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&dy.contiguous()?, &SiluBwd)?))
    }
}

impl CustomOp2 for SiluBwd {
    fn name(&self) -> &'static str {
        "candor-silu-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch!(s1, "silu backward", |T| {
            let dx = par_map2(slice::<T>(s1, l1)?, slice::<T>(s2, l2)?, silu_bwd_mv);
            Ok(out(T::wrap(dx), l1.shape().clone()))
        })
    }
}

/// ReLU from candle ops, `x · [x > 0]`, so that the gradient at 0 is 0 as PyTorch's
/// (candle's own `relu` passes the gradient at 0, and `maximum` passes half of it).
pub(crate) fn candle_relu(x: &Tensor) -> Result<Tensor> {
    Ok(x.mul(&x.gt(0f64)?.to_dtype(x.dtype())?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check;
    use candle_core::DType;
    use candle_core::{Device, Var};

    /// The vectorised forward and in-place passes are [`Activation::f`] bit for bit,
    /// including ±0, NaN and infinities, in f32 and f64 (a NaN is any NaN: which operand's
    /// sign a product like SiLU's `−∞·0` keeps depends on the instruction's operand order).
    #[test]
    fn vectorised_forward_is_the_per_element_function_bit_for_bit() {
        fn bits<T: Real>(v: T) -> u64 {
            let v = Real::to_f64(v);
            if v.is_nan() {
                u64::MAX
            } else {
                v.to_bits()
            }
        }
        fn check<T: Real>(xs: &[T]) {
            for act in ALL {
                let want: Vec<T> = xs.iter().map(|v| act.f(*v)).collect();
                let mut y: Vec<T> = Vec::with_capacity(xs.len());
                act_fwd_mv(&mut y.spare_capacity_mut()[..xs.len()], xs, act);
                // SAFETY: act_fwd_mv wrote every element.
                unsafe { y.set_len(xs.len()) };
                let mut z = xs.to_vec();
                act_inplace_chunk(&mut z, act);
                for ((w, a), b) in want.iter().zip(&y).zip(&z) {
                    assert_eq!(bits(*w), bits(*a), "{act:?} fwd");
                    if act != Activation::Identity {
                        assert_eq!(bits(*w), bits(*b), "{act:?} in place");
                    }
                }
            }
        }
        let mut xs: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) * 0.0731).collect();
        xs.extend([
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            25.0,
            1e-40,
        ]);
        check(&xs);
        check(&xs.iter().map(|v| *v as f32).collect::<Vec<f32>>());
    }

    const ALL: [Activation; 8] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Elu(1.3),
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Silu,
    ];

    /// Inputs away from the kinks at 0 (where finite differences straddle two slopes),
    /// plus values in softplus's linear region.
    fn input() -> Tensor {
        let v: Vec<f64> = (0..40)
            .map(|i| {
                let t = (i as f64 - 19.5) * 0.37;
                if i == 39 {
                    25.0
                } else {
                    t
                }
            })
            .collect();
        Tensor::from_vec(v, (5, 8), &Device::Cpu).unwrap()
    }

    #[test]
    fn relu_forward_backward() {
        let x = Var::new(&[-1.0f64, 0.0, 2.0, -0.5, 3.0], &Device::Cpu).unwrap();
        let y = relu(x.as_tensor()).unwrap();
        assert_eq!(y.to_vec1::<f64>().unwrap(), vec![0.0, 0.0, 2.0, 0.0, 3.0]);
        let r = Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0], &Device::Cpu).unwrap();
        let g = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(dx, vec![0.0, 0.0, 3.0, 0.0, 5.0]);
    }

    #[test]
    fn values_by_hand_and_gradients_at_zero() {
        let x = Var::new(&[-1.0f64, 0.0, 2.0], &Device::Cpu).unwrap();
        let e = std::f64::consts::E;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let cases: [(Activation, [f64; 3], [f64; 3]); 7] = [
            (
                Activation::Silu,
                [-sig(-1.0), 0.0, 2.0 * sig(2.0)],
                [
                    sig(-1.0) * (1.0 - (1.0 - sig(-1.0))),
                    0.5,
                    sig(2.0) * (1.0 + 2.0 * (1.0 - sig(2.0))),
                ],
            ),
            (
                Activation::LeakyRelu(0.1),
                [-0.1, 0.0, 2.0],
                [0.1, 0.1, 1.0],
            ),
            (
                Activation::Elu(2.0),
                [2.0 * (1.0 / e - 1.0), 0.0, 2.0],
                [2.0 / e, 2.0, 1.0],
            ),
            (
                Activation::Sigmoid,
                [1.0 / (1.0 + e), 0.5, 1.0 / (1.0 + (-2f64).exp())],
                [
                    e / (1.0 + e).powi(2),
                    0.25,
                    (-2f64).exp() / (1.0 + (-2f64).exp()).powi(2),
                ],
            ),
            (
                Activation::Tanh,
                [(-1f64).tanh(), 0.0, 2f64.tanh()],
                [1.0 - (-1f64).tanh().powi(2), 1.0, 1.0 - 2f64.tanh().powi(2)],
            ),
            (
                Activation::Softplus,
                [(1.0 + 1.0 / e).ln(), 2f64.ln(), (1.0 + e * e).ln()],
                [1.0 / (1.0 + e), 0.5, 1.0 / (1.0 + (-2f64).exp())],
            ),
            (Activation::Relu, [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
        ];
        for (act, want_y, want_dx) in cases {
            let y = act.apply(x.as_tensor()).unwrap();
            let g = y.sum_all().unwrap().backward().unwrap();
            let dx = g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
            for (a, b) in y.to_vec1::<f64>().unwrap().iter().zip(want_y) {
                assert!((a - b).abs() < 1e-12, "{act:?}: y {a} vs {b}");
            }
            for (a, b) in dx.iter().zip(want_dx) {
                assert!((a - b).abs() < 1e-12, "{act:?}: dx {a} vs {b}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in ALL {
            let r = check(|t| act.apply(&t[0]), &[input()], 40, 1e-6, 1e-8, 1e-6).unwrap();
            assert!(r.worst_ratio <= 1.0, "{act:?}: {r:?}");
        }
    }

    #[test]
    fn candle_compositions_match_the_kernels_in_value_and_gradient() {
        for act in ALL {
            let x = Var::from_tensor(&input()).unwrap();
            let r = crate::SeededRng::new(3)
                .normal_tensor(0.0, 1.0, (5, 8), DType::F64, &Device::Cpu)
                .unwrap();
            let mut outs = Vec::new();
            for composed in [false, true] {
                let y = if composed {
                    act.apply_composed(x.as_tensor()).unwrap()
                } else {
                    act.apply(x.as_tensor()).unwrap()
                };
                let g = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
                let dx = g.get(x.as_tensor()).cloned();
                let dx = dx.unwrap_or_else(|| r.clone()); // identity: dx = r
                outs.push((
                    y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
                    dx.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
                ));
            }
            for ((a, b), what) in [(&outs[0].0, &outs[1].0), (&outs[0].1, &outs[1].1)]
                .into_iter()
                .zip(["value", "gradient"])
            {
                for (u, v) in a.iter().zip(b.iter()) {
                    // Softplus at x = 25: the composition adds ln(1 + e⁻²⁵) ≈ 1.4e-11.
                    assert!((u - v).abs() < 1e-10, "{act:?} {what}: {u} vs {v}");
                }
            }
        }
    }

    /// The f32 kernel (vectorised `exp`) against candle's libm `silu`, value and
    /// gradient, over the range where σ is neither 0 nor 1 and beyond.
    #[test]
    fn silu_f32_matches_candle() {
        let v: Vec<f32> = (0..4001).map(|i| (i as f32 - 2000.0) * 0.02).collect();
        let x = Var::new(v.as_slice(), &Device::Cpu).unwrap();
        let r = crate::SeededRng::new(4)
            .normal_tensor(0.0, 1.0, v.len(), DType::F32, &Device::Cpu)
            .unwrap();
        let mut outs = Vec::new();
        for ours in [true, false] {
            let y = if ours {
                silu(x.as_tensor()).unwrap()
            } else {
                x.as_tensor().silu().unwrap()
            };
            let g = y.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
            let dx = g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
            outs.push((y.to_vec1::<f32>().unwrap(), dx));
        }
        for (a, b) in outs[0].0.iter().zip(&outs[1].0) {
            assert!(
                (a - b).abs() <= 4e-7 * b.abs().max(1e-3),
                "value {a} vs {b}"
            );
        }
        for (a, b) in outs[0].1.iter().zip(&outs[1].1) {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "gradient {a} vs {b}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let x = input();
        assert!(leaky_relu(&x, -0.1).is_err());
        assert!(elu(&x, f64::NAN).is_err());
        assert!(Activation::LeakyRelu(0.0).apply(&x).is_ok());
    }

    #[test]
    fn serde_names() {
        let s = serde_json::to_string(&[Activation::LeakyRelu(0.2), Activation::Tanh]).unwrap();
        assert_eq!(s, r#"[{"LeakyRelu":0.2},"Tanh"]"#);
        let back: Vec<Activation> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, vec![Activation::LeakyRelu(0.2), Activation::Tanh]);
    }
}
