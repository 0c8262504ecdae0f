//! Plumbing shared by the CPU kernels: the scalar trait, storage access, gemm.

use candle_core::{CpuStorage, Layout, Shape};

use crate::{Error, Result};

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

/// Row-major `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)` with arbitrary strides.
/// `lhs[i][p] = lhs[i*lrs + p*lcs]`, `rhs[p][j] = rhs[p*rrs + j*rcs]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    lrs: usize,
    lcs: usize,
    rhs: &[T],
    rrs: usize,
    rcs: usize,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    debug_assert!(dst.len() >= m * n);
    debug_assert!(lhs.len() > (m - 1) * lrs + (k - 1) * lcs);
    debug_assert!(rhs.len() > (k - 1) * rrs + (n - 1) * rcs);
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above (checked by callers' shape arithmetic) keep every index
    // that gemm touches inside the slices; dst does not alias lhs or rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lcs as isize,
            lrs as isize,
            rhs.as_ptr(),
            rcs as isize,
            rrs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

thread_local! {
    /// Per-thread scratch memory, kept between calls: fresh allocations of a few MB
    /// page-fault on every call, which costs milliseconds on a virtual machine.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with a scratch slice of `len` elements of `T` (contents unspecified: `f` must
/// write before it reads). The slice is reused by later calls on the same thread.
pub(crate) fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    SCRATCH.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            // Re-entrant use on this thread (not expected): fall back to a fresh buffer.
            return f(&mut vec![T::ZERO; len]);
        };
        let words = (len * std::mem::size_of::<T>()).div_ceil(8);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        // SAFETY: T is f32 or f64 (alignment ≤ 8, any bit pattern valid); the buffer
        // holds at least len·size_of::<T>() bytes and is borrowed exclusively here.
        let s = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut T, len) };
        f(s)
    })
}

pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

pub(crate) fn cpu_f32_or_f64(dtype: candle_core::DType, op: &str) -> Result<()> {
    match dtype {
        candle_core::DType::F32 | candle_core::DType::F64 => Ok(()),
        d => Err(Error::invalid(format!(
            "{op}: only f32 and f64 are supported, got {d:?}"
        ))),
    }
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

/// Define `$name`, which calls the `#[inline(always)]` kernel `$inner` through a copy
/// compiled for AVX-512 or AVX2+FMA when the CPU has them (runtime detection), so the
/// kernel's loops are vectorised with wide registers in a portable binary.
macro_rules! multiversion {
    ($name:ident => $inner:ident ($($a:ident : $t:ty),* $(,)?)) => {
        fn $name<T: Real>($($a: $t),*) {
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
