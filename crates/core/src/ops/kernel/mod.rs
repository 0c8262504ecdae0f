//! Plumbing shared by the CPU kernels, one concern per file:
//!
//! * this file: the scalar trait [`Real`] (f32/f64) and its vectorisable [`exp_f32`],
//!   storage access ([`slice`], [`out`]), the dtype [`dispatch`] and CPU-feature
//!   [`multiversion`] macros, [`threads`], and the strided row copies the phase-plane
//!   layouts share ([`gather`], [`split_row_phases`], [`add_row_phases`]);
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
    /// The logistic `1 / (1 + e^{−x})`, branch-free so that a loop of it vectorises: f32
    /// through [`exp_f32`], f64 through libm's `exp`.
    fn sigmoid(self) -> Self;
    /// `self · a + b` with one rounding (an FMA instruction where the kernel is compiled
    /// for one, as the products' tiles use).
    fn mul_add(self, a: Self, b: Self) -> Self;
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
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + exp_f32(-self))
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
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + f64::exp(-self))
    }
}

/// `eˣ` in f32 without a libm call, so that loops of it vectorise (libm's `expf` is a
/// scalar call per element: 9 % of an EfficientNet-B0 training step went to it in SiLU).
///
/// Cephes' `expf` scheme: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (`n` rounded by the
/// 1.5·2²³ trick, `ln 2` split in two for an exact `r`), `eʳ` by its degree-7 minimax
/// polynomial, and `2ⁿ` built in the exponent bits as two factors so that results down to
/// the subnormals (`x ≥ −103.9`) are right. Measured against f64 `exp` over
/// `[−103, 88.7]`: at most 2 ulp for normal results (the test `exp_f32_is_within_2_ulp`).
/// `x > 88.72` gives `+∞`, `x < −104` gives 0, NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4; // 0x3f318000: n·LN2_HI exact for |n| ≤ 2⁹
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer.
    const MAGIC: f32 = 12_582_912.0;
    // Comparisons, not min/max: a NaN fails both and flows through to the polynomial.
    let xc = if x > 88.8 { 88.8 } else { x };
    let xc = if xc < -104.0 { -104.0 } else { xc };
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32); // n as an integer
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ as 2^{n1}·2^{n2}, each factor a normal number for n ∈ [−150, 129].
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let f1 = f32::from_bits((n1.wrapping_add(127) << 23) as u32);
    let f2 = f32::from_bits((n2.wrapping_add(127) << 23) as u32);
    y * f1 * f2
}

/// `dst[i] = src[i·s]`, vectorised for strides 1 and 2 (f32 with AVX-512:
/// [`f32_avx512::gather_even`]).
#[inline(always)]
pub(crate) fn gather<T: Real>(dst: &mut [T], src: &[T], s: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    match s {
        1 => dst.copy_from_slice(&src[..n]),
        2 if use_avx512::<T>() => f32_avx512::gather_even(as_f32_mut(dst), as_f32(src)),
        2 => {
            // Over a source of exactly 2·n values LLVM vectorises the loop (two loads and
            // a `vpermt2ps` per 16); over 2·n − 1 it stays scalar: the last one apart.
            let m = if src.len() >= 2 * n { n } else { n - 1 };
            let s2 = &src[..2 * m];
            for i in 0..m {
                dst[i] = s2[2 * i];
            }
            if m < n {
                dst[m] = src[2 * m];
            }
        }
        _ => {
            let src = &src[..(n - 1) * s + 1];
            for (i, d) in dst.iter_mut().enumerate() {
                *d = src[i * s];
            }
        }
    }
}

/// Whether `T` is f32 and the CPU has AVX-512: the kernels then take [`f32_avx512`]'s
/// paths (through [`as_f32`], [`as_f32_mut`], [`from_f32`]).
#[inline(always)]
pub(crate) fn use_avx512<T: Real>() -> bool {
    is_f32::<T>() && f32_avx512::available()
}

#[inline(always)]
fn is_f32<T: Real>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `s` as `&[f32]` where `T` is f32 (checked).
#[inline(always)]
pub(crate) fn as_f32<T: Real>(s: &[T]) -> &[f32] {
    assert!(is_f32::<T>());
    // SAFETY: T is f32 (checked above).
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len()) }
}

/// `s` as `&mut [f32]` where `T` is f32 (checked).
#[inline(always)]
pub(crate) fn as_f32_mut<T: Real>(s: &mut [T]) -> &mut [f32] {
    assert!(is_f32::<T>());
    // SAFETY: T is f32 (checked above).
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, s.len()) }
}

/// A `Vec<f32>` as `Vec<T>` where `T` is f32 (checked).
pub(crate) fn from_f32<T: Real>(v: Vec<f32>) -> Vec<T> {
    assert!(is_f32::<T>());
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: T is f32 (checked above): same size, alignment and validity.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut T, v.len(), v.capacity()) }
}

/// `dst[2·i] = a[i]`, `dst[2·i + 1] = b[i]` for `i < a.len()` (`b` as long, `dst` at
/// least twice): vectorised for f32 with AVX-512 ([`f32_avx512::interleave`]).
#[inline(always)]
pub(crate) fn interleave<T: Real>(dst: &mut [T], a: &[T], b: &[T]) {
    let n = a.len();
    assert!(b.len() == n && dst.len() >= 2 * n);
    if use_avx512::<T>() {
        return f32_avx512::interleave(as_f32_mut(dst), as_f32(a), as_f32(b));
    }
    for ((pair, x), y) in dst.chunks_exact_mut(2).zip(a).zip(b) {
        pair[0] = *x;
        pair[1] = *y;
    }
}

/// Run `f` with the thread-local switch `flag` set, its old value restored afterwards
/// (also on a panic): how the tests send one thread's ops down another kernel path.
#[cfg(test)]
pub(crate) fn with_flag<R>(
    flag: &'static std::thread::LocalKey<std::cell::Cell<bool>>,
    f: impl FnOnce() -> R,
) -> R {
    struct Reset(&'static std::thread::LocalKey<std::cell::Cell<bool>>, bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            self.0.with(|p| p.set(self.1));
        }
    }
    let _reset = Reset(flag, flag.with(|p| p.replace(true)));
    f()
}

/// One image row split by column phase for a stride-`s` pass over it padded by `pad` on
/// the left: column `c` goes to phase `b = (c + pad) mod s`, position `(c + pad) / s`,
/// i.e. `dst[b·stride + (c + pad) / s]` (`stride`: the distance between phases' rows).
#[inline(always)]
pub(crate) fn split_row_phases<T: Real>(
    xr: &[T],
    pad: usize,
    s: usize,
    dst: &mut [T],
    stride: usize,
) {
    for b in 0..s {
        // Columns c with (c + pad) mod s == b.
        let c0 = (b + s - pad % s) % s;
        if c0 < xr.len() {
            let cnt = (xr.len() - c0).div_ceil(s);
            gather(&mut dst[b * stride + (c0 + pad) / s..][..cnt], &xr[c0..], s);
        }
    }
}

/// The adjoint of [`split_row_phases`]: `dr[c] += src[b·stride + (c + pad) / s]`.
#[inline(always)]
pub(crate) fn add_row_phases<T: Real>(
    src: &[T],
    stride: usize,
    pad: usize,
    s: usize,
    dr: &mut [T],
) {
    for b in 0..s {
        let c0 = (b + s - pad % s) % s;
        if c0 < dr.len() {
            let src = &src[b * stride + (c0 + pad) / s..];
            for (k, d) in dr[c0..].iter_mut().step_by(s).enumerate() {
                *d += src[k];
            }
        }
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

pub(crate) use matmul::{f32_avx512, gemm, gemm_ld, matmul};
pub(crate) use scratch::{line_len, with_scratch};

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two f32 of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_f32_is_within_2_ulp() {
        let mut worst = (0u32, 0f32);
        let n = 2_000_000;
        for i in 0..=n {
            let x = -103.0 + (88.72 + 103.0) * i as f64 / n as f64;
            let x = x as f32;
            let want = (x as f64).exp() as f32;
            let got = exp_f32(x);
            // Subnormal results carry fewer bits: judged in absolute terms there.
            if want < f32::MIN_POSITIVE {
                assert!(
                    (got - want).abs() <= f32::from_bits(1),
                    "{x}: {got} vs {want}"
                );
                continue;
            }
            let u = ulps(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
        }
        assert!(worst.0 <= 2, "{} ulp at {}", worst.0, worst.1);
        for (x, want) in [
            (0.0f32, 1.0f32),
            (-0.0, 1.0),
            (88.8, f32::INFINITY),
            (1e4, f32::INFINITY),
            (f32::INFINITY, f32::INFINITY),
            (-104.5, 0.0),
            (f32::NEG_INFINITY, 0.0),
        ] {
            assert_eq!(exp_f32(x), want, "exp({x})");
        }
        assert!(exp_f32(f32::NAN).is_nan());
    }

    /// Every column lands in exactly one phase slot, and the adjoint puts it back.
    #[test]
    fn row_phases_split_and_add_back() {
        for (w, pad, s) in [
            (9usize, 1usize, 2usize),
            (8, 0, 2),
            (7, 2, 3),
            (5, 0, 1),
            (1, 1, 2),
            (10, 3, 4),
        ] {
            let xr: Vec<f64> = (0..w).map(|c| c as f64 + 1.0).collect();
            let stride = (w + 2 * pad).div_ceil(s);
            let mut dst = vec![0.0; s * stride];
            split_row_phases(&xr, pad, s, &mut dst, stride);
            for (c, v) in xr.iter().enumerate() {
                let (b, q) = ((c + pad) % s, (c + pad) / s);
                assert_eq!(dst[b * stride + q], *v, "w {w} pad {pad} s {s} c {c}");
            }
            assert_eq!(dst.iter().filter(|v| **v != 0.0).count(), w);
            let mut back = vec![0.0; w];
            add_row_phases(&dst, stride, pad, s, &mut back);
            assert_eq!(back, xr);
        }
    }

    /// Every stride's gather, f32 (AVX-512's `gather_even` for stride 2 where the CPU
    /// has it) and f64, against the plain loop: full registers, tails, sources of
    /// `2·n − 1` values (nothing read past them) and longer.
    #[test]
    fn gather_matches_the_loop() {
        for n in [1usize, 2, 15, 16, 17, 31, 32, 33, 47, 64, 100] {
            for s in 1..=3 {
                for extra in [0usize, 1, 7, 40] {
                    let len = (n - 1) * s + 1 + extra;
                    let src: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
                    let want: Vec<f32> = (0..n).map(|i| src[i * s]).collect();
                    let mut got = vec![f32::NAN; n];
                    gather(&mut got, &src, s);
                    assert_eq!(got, want, "f32 n {n} s {s} len {len}");
                    let src64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
                    let mut got64 = vec![f64::NAN; n];
                    gather(&mut got64, &src64, s);
                    assert!(got64.iter().zip(&want).all(|(a, b)| *a == *b as f64));
                }
            }
        }
    }

    /// `pack_b_offsets_real` against its definition: panel `q`, row `p`, lane `l` holds
    /// extended column `j / ow · wa + j % ow` (`j = q·NR + l`) of row `p`, or zero past
    /// `n`; over maps whose rows are shorter than, as long as, and longer than a half
    /// panel, with one and two extra columns, each row at its own offset.
    #[test]
    fn pack_b_offsets_real_packs_the_real_columns() {
        use f32_avx512::{pack_b_offsets_real, packed_b_len, NR};
        if !f32_avx512::available() {
            return;
        }
        for (ow, qw) in [
            (4usize, 1usize),
            (7, 1),
            (8, 2),
            (16, 1),
            (17, 1),
            (32, 1),
            (33, 2),
        ] {
            let wa = ow + qw;
            for rows in [1usize, 2, 3, 5] {
                let (k, n) = (3usize, rows * ow);
                let offs: Vec<usize> = (0..k).map(|p| p * (rows * wa + 5) + p).collect();
                let shift = 2;
                let len = offs[k - 1] + shift + (rows - 1) * wa + ow;
                let base: Vec<f32> = (0..len).map(|i| i as f32 + 0.25).collect();
                let mut out = vec![f32::NAN; packed_b_len(k, n)];
                pack_b_offsets_real(k, n, (ow, wa), &base, &offs, shift, &mut out);
                for (q, panel) in out.chunks_exact(NR * k).enumerate() {
                    for p in 0..k {
                        for l in 0..NR {
                            let j = q * NR + l;
                            let want = if j < n {
                                base[offs[p] + shift + j / ow * wa + j % ow]
                            } else {
                                0.0
                            };
                            let got = panel[p * NR + l];
                            assert_eq!(got, want, "ow {ow} qw {qw} rows {rows} q {q} p {p} l {l}");
                        }
                    }
                }
            }
        }
    }

    /// The product over the real columns ([`f32_avx512::pack_b_offsets_real`]) stores the
    /// same bits as the product over the extended columns with the extra ones dropped.
    #[test]
    fn real_column_product_is_the_extended_one_bit_for_bit() {
        use f32_avx512::{
            gemm_packed_drop, pack_a, pack_b_offsets, pack_b_offsets_real, packed_a_len,
            packed_b_len, DropCols,
        };
        if !f32_avx512::available() {
            return;
        }
        let mut rng = crate::SeededRng::new(3);
        for (m, k, ow, qw, rows) in [
            (32usize, 27usize, 16usize, 1usize, 3usize),
            (40, 50, 7, 1, 4),
        ] {
            let wa = ow + qw;
            let offs: Vec<usize> = (0..k).map(|p| p * 3 + p % 2).collect();
            let base: Vec<f32> = (0..offs[k - 1] + rows * wa + 1)
                .map(|_| rng.normal() as f32)
                .collect();
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.1).collect();
            let mut pa = vec![0.0; packed_a_len(m, k)];
            pack_a(m, k, &a, k, 1, &mut pa);
            let (ne, nr) = (rows * wa, rows * ow);
            let mut pb = vec![0.0; packed_b_len(k, ne)];
            let (mut c_ext, mut c_real) = (vec![0.0f32; m * nr], vec![0.0f32; m * nr]);
            let d = DropCols {
                wa,
                ow,
                bias: Some(&bias),
            };
            pack_b_offsets(k, ne, &base, &offs, 0, &mut pb);
            // SAFETY: c holds m rows of nr values, nr apart.
            unsafe { gemm_packed_drop(m, ne, k, &pa, &pb, c_ext.as_mut_ptr(), nr, d) };
            pack_b_offsets_real(k, nr, (ow, wa), &base, &offs, 0, &mut pb);
            let d = DropCols { wa: ow, ..d };
            // SAFETY: as above.
            unsafe { gemm_packed_drop(m, nr, k, &pa, &pb, c_real.as_mut_ptr(), nr, d) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c_ext), bits(&c_real), "m {m} k {k} ow {ow}");
        }
    }

    /// The weight gradient's product over the real pixels
    /// ([`f32_avx512::gemm_offsets_acc_rows`]) adds the same bits into `c` as the product
    /// over the extended pixels with zero rows for the extra ones.
    #[test]
    fn real_pixel_weight_product_is_the_extended_one_bit_for_bit() {
        use f32_avx512::{gemm_offsets_acc, gemm_offsets_acc_rows, pack_b_t_gap};
        use f32_avx512::{packed_b16_len, packed_b_len};
        if !f32_avx512::available() {
            return;
        }
        let mut rng = crate::SeededRng::new(4);
        let cases = [
            (27usize, 32usize, 16usize, 1usize, 3usize),
            (50, 40, 7, 1, 4),
            (18, 16, 16, 1, 2),
            (9, 5, 8, 2, 3),
        ];
        let narrow = false;
        for (m, n, ow, qw, rows) in cases {
            let wa = ow + qw;
            let offs: Vec<usize> = (0..m).map(|i| i * 2 + i % 3).collect();
            let base: Vec<f32> = (0..offs[m - 1] + rows * wa + 1)
                .map(|_| rng.normal() as f32)
                .collect();
            let ld = rows * ow + 3;
            let dy: Vec<f32> = (0..n * ld).map(|_| rng.normal() as f32).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| rng.normal() as f32).collect();
            let len = |k| {
                if narrow {
                    packed_b16_len(k, n)
                } else {
                    packed_b_len(k, n)
                }
            };
            let (ke, kr) = (rows * wa, rows * ow);
            let mut pb = vec![0.0; len(ke)];
            let (mut c_ext, mut c_real) = (c0.clone(), c0);
            pack_b_t_gap(ke, n, &dy, ld, ow, wa, &mut pb, narrow);
            gemm_offsets_acc(m, n, ke, &base, &offs, 0, &pb, &mut c_ext, n, narrow);
            pack_b_t_gap(kr, n, &dy, ld, ow, ow, &mut pb, narrow);
            let seg = (rows, ow, wa);
            gemm_offsets_acc_rows(m, n, seg, &base, &offs, 0, &pb, &mut c_real, n);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&c_ext),
                bits(&c_real),
                "m {m} n {n} ow {ow} narrow {narrow}"
            );
        }
    }

    /// `interleave` (AVX-512 for f32 where the CPU has it) against the plain loop, full
    /// registers and tails, f32 and f64, the slots past `2·n` untouched.
    #[test]
    fn interleave_matches_the_loop() {
        for n in [0usize, 1, 7, 15, 16, 17, 32, 33, 50] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| -(i as f32) - 0.25).collect();
            let mut want = vec![9.0f32; 2 * n + 3];
            for i in 0..n {
                want[2 * i] = a[i];
                want[2 * i + 1] = b[i];
            }
            let mut got = vec![9.0f32; 2 * n + 3];
            interleave(&mut got, &a, &b);
            assert_eq!(got, want, "f32 n {n}");
            let (a64, b64): (Vec<f64>, Vec<f64>) = (
                a.iter().map(|&v| v as f64).collect(),
                b.iter().map(|&v| v as f64).collect(),
            );
            let mut got64 = vec![9.0f64; 2 * n + 3];
            interleave(&mut got64, &a64, &b64);
            assert!(
                got64.iter().zip(&want).all(|(x, y)| *x == *y as f64),
                "f64 n {n}"
            );
        }
    }

    /// `f32_avx512::transpose_cols` against the plain loop: whole 16 × 16 blocks and
    /// ragged rows and columns, column ranges starting inside the matrix, the values past
    /// the range untouched.
    #[test]
    fn transpose_cols_matches_the_loop() {
        if !f32_avx512::available() {
            return;
        }
        for (rows, cols, c0, n) in [
            (16, 16, 0, 16),
            (37, 53, 0, 53),
            (64, 80, 16, 64),
            (33, 40, 5, 30),
            (3, 20, 17, 3),
            (728, 96, 32, 64),
        ] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.25 - 7.0).collect();
            let mut want = vec![9.0f32; n * rows + 5];
            for r in 0..rows {
                for c in 0..n {
                    want[c * rows + r] = src[r * cols + c0 + c];
                }
            }
            let mut got = vec![9.0f32; n * rows + 5];
            f32_avx512::transpose_cols(rows, cols, &src, c0, n, &mut got);
            assert_eq!(got, want, "{rows} × {cols}, columns {c0}..{}", c0 + n);
        }
    }

    /// The strided product against a scalar chain of `mul_add`s in `p` order (the same
    /// operations, so the same bits; for the dot-product path of few columns, 16 lane
    /// chains and the kernel's order of lane sums): `A` row-major and transposed, `B`
    /// row-major, transposed and inside a wider matrix, ragged tiles, one column, `k = 0`,
    /// products split along `p` and over row blocks, a wider `c` whose other columns stay
    /// untouched, overwrite and `+=`, split by panels and by rows on 2 threads and run
    /// on 1.
    #[test]
    fn gemm_strided_is_the_mul_add_chain() {
        if !f32_avx512::available() {
            return;
        }
        let val = |i: usize, s: usize| ((i * 7 + s * 13) % 23) as f32 * 0.37 - 4.0;
        for (m, n, k) in [
            (256, 256, 256),
            (37, 70, 23),
            (1030, 17, 130),
            (9, 1, 300),
            (1, 40, 5),
            (13, 33, 0),
            (1030, 6, 130),
            (256, 1, 256),
            (5, 8, 16),
            (3, 5, 7),
            // Several KC steps and MC row blocks.
            (300, 40, 600),
            (150, 300, 257),
            // One to four rows over 1–5 panels (the narrow tiles and their groups).
            (1, 130, 300),
            (2, 150, 40),
            (3, 70, 9),
            (4, 33, 20),
            (1, 17, 64),
        ] {
            for (a_t, b_layout, accumulate) in [
                (false, 0, false),
                (true, 1, false),
                (false, 2, true),
                (true, 0, true),
            ] {
                // A stored m × k (a_t: stored k × m); B stored k × n (1: n × k; 2: k
                // rows of a wider matrix, 2n + 1 apart).
                let a: Vec<f32> = (0..m * k.max(1)).map(|i| val(i, 1)).collect();
                let (ars, acs) = if a_t { (1, m) } else { (k, 1) };
                let (brs, bcs, blen) = match b_layout {
                    0 => (n, 1, k * n),
                    1 => (1, k, k * n),
                    _ => (2 * n + 1, 1, k * (2 * n + 1)),
                };
                let b: Vec<f32> = (0..blen.max(1)).map(|i| val(i, 2)).collect();
                let ldc = n + 3;
                let c0: Vec<f32> = (0..m * ldc).map(|i| val(i, 3)).collect();
                let mut want = c0.clone();
                let dots = n <= f32_avx512::DOT_COLS_MAX && acs == 1 && brs == 1;
                for i in 0..m {
                    for j in 0..n {
                        let acc = if dots {
                            // 16 lanes, lane l over p ≡ l (mod 16), padded with zeros to a
                            // whole block; then the kernel's fixed order of lane sums.
                            let mut lanes = [0f32; 16];
                            for p in 0..k.next_multiple_of(16) {
                                let (x, y) = if p < k {
                                    (a[i * ars + p], b[j * bcs + p])
                                } else {
                                    (0.0, 0.0)
                                };
                                lanes[p % 16] = x.mul_add(y, lanes[p % 16]);
                            }
                            let h8: Vec<f32> = (0..8).map(|l| lanes[l] + lanes[l + 8]).collect();
                            let h4: Vec<f32> = (0..4).map(|l| h8[l] + h8[l + 4]).collect();
                            (h4[0] + h4[2]) + (h4[1] + h4[3])
                        } else {
                            // One chain, from c's value when accumulating.
                            let mut acc = if accumulate { c0[i * ldc + j] } else { 0.0 };
                            for p in 0..k {
                                acc = a[i * ars + p * acs].mul_add(b[p * brs + j * bcs], acc);
                            }
                            acc
                        };
                        let w = &mut want[i * ldc + j];
                        *w = match (dots, accumulate) {
                            (true, true) => *w + acc,
                            _ => acc,
                        };
                    }
                }
                for threads in [1, 2] {
                    let mut c = c0.clone();
                    f32_avx512::gemm_strided(
                        (m, n, k),
                        &a,
                        (ars, acs),
                        &b,
                        (brs, bcs),
                        &mut c,
                        ldc,
                        accumulate,
                        threads,
                    );
                    let case = format!("{m}×{n}×{k}, A transposed {a_t}, B {b_layout}, += {accumulate}, {threads} threads");
                    assert!(
                        c.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()),
                        "{case}"
                    );
                }
            }
        }
    }

    #[test]
    fn sigmoid_f32_matches_f64() {
        for i in 0..=40_000 {
            let x = (i as f32 - 20_000.0) * 0.005;
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            let got = Real::sigmoid(x) as f64;
            // Below −88, 1 + e^{−x} overflows f32 (as with libm): σ is 0, not subnormal.
            let tol = 2.5e-7 * want + 1e-38;
            assert!((got - want).abs() <= tol, "σ({x}) = {got}, want {want}");
        }
        assert!(Real::sigmoid(f32::NAN).is_nan());
        assert_eq!(Real::sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(Real::sigmoid(f32::INFINITY), 1.0);
    }
}
