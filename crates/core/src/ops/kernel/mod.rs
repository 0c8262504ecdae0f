//! Plumbing shared by the CPU kernels, one concern per file:
//!
//! * this file: the scalar trait [`Real`] (f32/f64), storage access ([`slice`], [`out`]),
//!   the dtype [`dispatch`] and CPU-feature [`multiversion`] macros, [`threads`];
//! * [`matmul`]: matrix products (the `gemm` crate with strides, and an AVX-512 f32
//!   micro-kernel for the convolutions);
//! * [`scratch`]: per-thread scratch memory reused between calls.

use candle_core::{CpuStorage, Layout, Shape};

/// f32 or f64.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + candle_core::WithDType
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INF: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn wrap(v: Vec<Self>) -> CpuStorage;
    fn exp(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn tanh(self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f32::NEG_INFINITY;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(v)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn ln_1p(self) -> Self {
        f32::ln_1p(self)
    }
    fn exp_m1(self) -> Self {
        f32::exp_m1(self)
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f64::NEG_INFINITY;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(v)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
}

/// The contiguous slice of a storage under a layout.
pub(crate) fn slice<'a, T: Real>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("custom op needs contiguous inputs"),
    }
}

pub(crate) fn out(v: CpuStorage, shape: impl Into<Shape>) -> (CpuStorage, Shape) {
    (v, shape.into())
}

mod matmul;
mod scratch;

pub(crate) use matmul::{f32_avx512, gemm, gemm_ld};
pub(crate) use scratch::with_scratch;

/// Threads of the current rayon pool: how many tasks to offer a parallel loop. Never use
/// it to split a reduction (see [`reduction_chunk`]).
pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// How many partial sums a parallel reduction over `total` items keeps: a constant, not
/// the thread count, so that the order of additions (and so the rounded result) is the
/// same on 1, 2 or 64 threads. 16 parts keep 2–16 cores busy; the price is at most 16
/// partial buffers and their final sum.
pub(crate) const REDUCTION_PARTS: usize = 16;

/// Items per part of a parallel reduction over `total` items: fixed by the problem size
/// alone ([`REDUCTION_PARTS`]), whatever the number of threads.
pub(crate) fn reduction_chunk(total: usize) -> usize {
    total.div_ceil(REDUCTION_PARTS).max(1)
}

/// Dispatch a generic kernel on the storage's dtype (f32 or f64).
macro_rules! dispatch {
    ($s:expr, $name:expr, |$t:ident| $body:expr) => {
        match $s {
            candle_core::CpuStorage::F32(_) => {
                type $t = f32;
                $body
            }
            candle_core::CpuStorage::F64(_) => {
                type $t = f64;
                $body
            }
            _ => candle_core::bail!("{}: only f32 and f64 are supported", $name),
        }
    };
}
pub(crate) use dispatch;

/// A buffer of `len` elements for a kernel that writes every one of them before anything
/// reads it: no zero-filling pass, which on the calling thread is serial work in front of
/// each parallel kernel (about 6 % of a 2-thread convolutional training step). In tests
/// the buffer is filled with NaN instead, so an element a kernel forgot to write shows.
///
/// # Safety
///
/// The caller writes all `len` elements before reading any (f32 and f64 have no invalid
/// bit patterns and no destructor; the contract is about never observing stale memory).
#[allow(clippy::uninit_vec)]
pub(crate) unsafe fn alloc_for_overwrite<T: Real>(len: usize) -> Vec<T> {
    if cfg!(test) {
        return vec![<T as Real>::from_f64(f64::NAN); len];
    }
    let mut v = Vec::with_capacity(len);
    // SAFETY: capacity is `len`; the caller's contract covers the contents.
    unsafe { v.set_len(len) };
    v
}

/// Define `$name`, which calls the `#[inline(always)]` kernel `$inner` through a copy
/// compiled for AVX-512 or AVX2+FMA when the CPU has them (runtime detection), so the
/// kernel's loops are vectorised with wide registers in a portable binary.
macro_rules! multiversion {
    ($vis:vis $name:ident => $inner:ident ($($a:ident : $t:ty),* $(,)?)) => {
        $vis fn $name<T: Real>($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn v512<T: Real>($($a: $t),*) {
                    $inner($($a),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v256<T: Real>($($a: $t),*) {
                    $inner($($a),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features v512 was compiled for.
                    return unsafe { v512($($a),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above, for AVX2 and FMA.
                    return unsafe { v256($($a),*) };
                }
            }
            $inner($($a),*)
        }
    };
}
pub(crate) use multiversion;
