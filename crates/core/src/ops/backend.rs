//! Where an op runs: one decision per call, made here for every op, so no op wrapper
//! asks "am I on the CPU?" itself and no device takes a silently wrong path.
//!
//! An op in this module has up to two implementations:
//!
//! * the project's **kernel** (a candle `CustomOp` with its own backward), for f32 and
//!   f64 on the CPU, and for f32 on a CUDA GPU where the op has a CUDA kernel for the
//!   call ([`decide_with_cuda`]; in a build with the `cuda` feature; see
//!   `ops::cuda`);
//! * **candle's own op** (or a composition of candle ops), where candle has one. Each op
//!   says, for the geometry of the call, how far candle's version can be trusted
//!   ([`Candle`]): forward and backward both correct, forward only (no backward, or a
//!   backward that is wrong for this geometry), or not at all.
//!
//! [`route`] picks the kernel when it can run, else candle's op when that is correct for
//! the call — a forward-only candle op only when no input needs a gradient — and
//! otherwise returns [`Error::Unsupported`] naming the op, the device, the dtype and
//! the reason. The decision is a pure function of ([`Backend`], dtype, gradient needed,
//! [`Candle`]), so it is unit-tested for a CUDA device on a machine without one, and
//! the candle fallbacks themselves are tested on the CPU against the kernels.

use candle_core::{DType, Device, Tensor};

use crate::device::device_name;
use crate::{Error, Result};

/// The kind of device a tensor lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The CPU: the project's kernels run here.
    Cpu,
    /// A CUDA GPU.
    Cuda,
    /// An Apple Metal GPU.
    Metal,
}

impl Backend {
    /// The backend of `device`.
    pub fn of(device: &Device) -> Self {
        match device {
            Device::Cpu => Backend::Cpu,
            Device::Cuda(_) => Backend::Cuda,
            Device::Metal(_) => Backend::Metal,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Metal => "metal",
        }
    }
}

/// How far candle's own version of an op can be trusted for one call's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candle {
    /// Forward and backward are correct.
    Trainable,
    /// The forward is correct; the backward is missing or wrong for this geometry
    /// (the reason says which). Usable when no input needs a gradient.
    ForwardOnly(&'static str),
    /// candle cannot compute this call (the reason says why).
    Missing(&'static str),
}

/// The implementation [`route`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The project's kernel (CPU, f32/f64).
    Kernel,
    /// candle's own op (or a composition of candle ops).
    Candle,
}

/// The decision itself, for a `backend` and `dtype`, whether a gradient must flow
/// through the op (`needs_grad`), and what candle offers for the call (`candle`).
/// `device` only names the device in the error.
pub fn decide(
    op: &str,
    backend: Backend,
    device: &str,
    dtype: DType,
    needs_grad: bool,
    candle: Candle,
) -> Result<Route> {
    decide_with_cuda(op, backend, device, dtype, needs_grad, candle, false)
}

/// [`decide`] for an op that has a CUDA kernel (f32) for this call when `cuda_kernel`:
/// on a CUDA device, in a build with the `cuda` feature, the kernel runs; otherwise as
/// [`decide`].
pub fn decide_with_cuda(
    op: &str,
    backend: Backend,
    device: &str,
    dtype: DType,
    needs_grad: bool,
    candle: Candle,
    cuda_kernel: bool,
) -> Result<Route> {
    if backend == Backend::Cpu && matches!(dtype, DType::F32 | DType::F64) {
        return Ok(Route::Kernel);
    }
    if backend == Backend::Cuda && dtype == DType::F32 && cuda_kernel && cfg!(feature = "cuda") {
        return Ok(Route::Kernel);
    }
    let why_not_kernel = if backend == Backend::Cpu {
        format!("the CPU kernel takes f32 or f64, not {dtype:?}")
    } else {
        format!("the project has no {} kernel for it yet", backend.name())
    };
    match candle {
        Candle::Trainable => Ok(Route::Candle),
        Candle::ForwardOnly(_) if !needs_grad => Ok(Route::Candle),
        Candle::ForwardOnly(reason) => Err(Error::Unsupported(format!(
            "{op} on {device} ({dtype:?}) with a gradient: {why_not_kernel}, and candle's \
             {op} {reason}; run on the CPU (--device cpu) or detach the input"
        ))),
        Candle::Missing(reason) => Err(Error::Unsupported(format!(
            "{op} on {device} ({dtype:?}): {why_not_kernel}, and candle's {reason}; \
             run on the CPU (--device cpu)"
        ))),
    }
}

/// [`decide`] for a call on `inputs` (the first one's device and dtype; a gradient is
/// needed when any input is a variable or depends on one).
pub fn route(op: &str, inputs: &[&Tensor], candle: Candle) -> Result<Route> {
    route_with_cuda(op, inputs, candle, false)
}

/// [`route`] for an op with a CUDA kernel for this call when `cuda_kernel` (see
/// [`decide_with_cuda`]).
pub fn route_with_cuda(
    op: &str,
    inputs: &[&Tensor],
    candle: Candle,
    cuda_kernel: bool,
) -> Result<Route> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::invalid(format!("{op}: no input")))?;
    if let Some(t) = inputs
        .iter()
        .find(|t| !t.device().same_device(first.device()))
    {
        return Err(Error::invalid(format!(
            "{op}: inputs on different devices ({} and {})",
            device_name(first.device()),
            device_name(t.device())
        )));
    }
    let needs_grad = inputs.iter().any(|t| t.track_op());
    decide_with_cuda(
        op,
        Backend::of(first.device()),
        &device_name(first.device()),
        first.dtype(),
        needs_grad,
        candle,
        cuda_kernel,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "has no backward";

    #[test]
    fn cpu_f32_f64_always_take_the_kernel() {
        for dt in [DType::F32, DType::F64] {
            for c in [
                Candle::Trainable,
                Candle::ForwardOnly(F),
                Candle::Missing(F),
            ] {
                for g in [false, true] {
                    assert_eq!(
                        decide("op", Backend::Cpu, "cpu", dt, g, c).unwrap(),
                        Route::Kernel
                    );
                }
            }
        }
    }

    #[test]
    fn gpu_takes_candle_only_where_it_is_correct() {
        for b in [Backend::Cuda, Backend::Metal] {
            let d = |g, c| decide("max_pool2d", b, "cuda:0", DType::F32, g, c);
            assert_eq!(d(true, Candle::Trainable).unwrap(), Route::Candle);
            assert_eq!(d(false, Candle::ForwardOnly(F)).unwrap(), Route::Candle);
            let e = d(true, Candle::ForwardOnly(F)).unwrap_err().to_string();
            assert!(e.contains("max_pool2d") && e.contains("cuda:0"), "{e}");
            assert!(
                e.contains("has no backward") && e.contains("gradient"),
                "{e}"
            );
            for g in [false, true] {
                let e = d(g, Candle::Missing("op has no padding"))
                    .unwrap_err()
                    .to_string();
                assert!(e.starts_with("unsupported: max_pool2d on cuda:0"), "{e}");
                assert!(e.contains("has no padding"), "{e}");
            }
        }
    }

    #[test]
    fn a_cuda_kernel_runs_only_for_f32_in_a_cuda_build() {
        let d = |dt, k| {
            decide_with_cuda(
                "conv2d",
                Backend::Cuda,
                "cuda:0",
                dt,
                true,
                Candle::Trainable,
                k,
            )
        };
        let want = if cfg!(feature = "cuda") {
            Route::Kernel
        } else {
            Route::Candle
        };
        assert_eq!(d(DType::F32, true).unwrap(), want);
        assert_eq!(d(DType::F32, false).unwrap(), Route::Candle);
        assert_eq!(d(DType::F64, true).unwrap(), Route::Candle);
        let m = decide_with_cuda(
            "op",
            Backend::Metal,
            "metal:0",
            DType::F32,
            true,
            Candle::Trainable,
            true,
        );
        assert_eq!(m.unwrap(), Route::Candle);
    }

    #[test]
    fn other_cpu_dtypes_fall_back_or_say_why() {
        let d = |c| decide("conv2d", Backend::Cpu, "cpu", DType::BF16, true, c);
        assert_eq!(d(Candle::Trainable).unwrap(), Route::Candle);
        let e = d(Candle::Missing("x")).unwrap_err().to_string();
        assert!(e.contains("f32 or f64, not BF16"), "{e}");
    }

    #[test]
    fn route_reads_device_dtype_and_gradient_from_the_inputs() {
        let x = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            route("op", &[&x], Candle::Missing("x")).unwrap(),
            Route::Kernel
        );
        let h = x.to_dtype(DType::F16).unwrap();
        // A plain tensor needs no gradient: a forward-only candle op is fine …
        assert_eq!(
            route("op", &[&h], Candle::ForwardOnly(F)).unwrap(),
            Route::Candle
        );
        // … a variable (or anything computed from one) does.
        let v = candle_core::Var::from_tensor(&h).unwrap();
        let y = (v.as_tensor() * 2.0).unwrap();
        assert!(route("op", &[&h, &y], Candle::ForwardOnly(F)).is_err());
        assert!(route("op", &[], Candle::Trainable).is_err());
    }
}
