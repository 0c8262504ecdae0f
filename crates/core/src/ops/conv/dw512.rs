//! AVX-512 kernels for the depthwise convolutions whose output plane has the input's size
//! (stride 1, dilation 1, a `(2p + 1)`-wide kernel: [`super::dw_flat`]), on f32.
//!
//! Each 16-column block of an output row is one register: the taps are masked loads of
//! the input rows (the columns past a row's edge load as zero, so no tap is added and
//! taken back out) and multiply-adds, and each output is written once. The flat-plane
//! kernels they replace on this path ([`super::dw_fwd_plane_flat`] and its adjoints) add
//! each tap into the whole output plane, a load and a store of every output per tap.
//!
//! - **Forward**: `y[r][c] = Σ w[i][j] · x[r + i − p][c + j − p]` over the taps inside
//!   the plane, in tap order (row-major), one fused multiply-add each.
//! - **Input gradient**: the forward of `dy` with the kernel turned by 180° (the
//!   padding is the same, since the kernel is `2p + 1` wide).
//! - **Weight gradient**: `dw[i][j] += Σ_{r,c} dy[r][c] · x[r + i − p][c + j − p]`, all
//!   the taps' sums in registers at once for 3×3 and 5×5 kernels (each `dy` block loaded
//!   once), one horizontal sum per tap and plane.
//!
//! The sums round differently from the flat-plane kernels' (fused multiply-adds, no
//! add-then-subtract at the row edges); the tests hold both to the f64 convolution.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The largest kernel (`kH·kW` taps) these kernels take.
const MAX_TAPS: usize = 49;

/// Output rows per column block in the 3×3 and 5×5 forward.
const ROWS: usize = 4;

/// One plane's geometry and, per 16-column block and kernel column, the lanes whose
/// input column lies inside the row.
pub(super) struct DwPlane {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    /// `masks[b·kW + j]`: lane `l` set iff `0 ≤ 16·b + l + j − pw < W` and `16·b + l < W`.
    masks: Vec<u16>,
}

impl DwPlane {
    /// The geometry of an `H × W` plane under a `kH × kW` kernel with the "same" padding,
    /// or `None` where these kernels do not apply (an even or a larger kernel).
    pub(super) fn new(h: usize, w: usize, kh: usize, kw: usize) -> Option<Self> {
        if kh.is_multiple_of(2) || kw.is_multiple_of(2) || kh * kw > MAX_TAPS || h == 0 || w == 0 {
            return None;
        }
        let pw = (kw / 2) as isize;
        let nb = w.div_ceil(16);
        let mut masks = Vec::with_capacity(nb * kw);
        for b in 0..nb {
            for j in 0..kw {
                let mut m = 0u16;
                for l in 0..16 {
                    let c = (16 * b + l) as isize;
                    let src = c + j as isize - pw;
                    if c < w as isize && src >= 0 && src < w as isize {
                        m |= 1 << l;
                    }
                }
                masks.push(m);
            }
        }
        Some(DwPlane {
            h,
            w,
            kh,
            kw,
            masks,
        })
    }

    /// Whether [`DwPlane::bwd_weight`] takes this kernel (its sums live in registers).
    pub(super) fn has_weight_kernel(&self) -> bool {
        self.kh == self.kw && (self.kh == 3 || self.kh == 5)
    }

    fn check(&self, a: &[f32], b: &[f32], wt: &[f32]) {
        let n = self.h * self.w;
        assert!(a.len() == n && b.len() == n && wt.len() == self.kh * self.kw);
        assert!(super::f32_avx512::available());
    }

    /// `y = Σ_taps w · x` (`accumulate`: `y += …`) over one plane.
    pub(super) fn fwd(&self, x: &[f32], wt: &[f32], y: &mut [f32], accumulate: bool) {
        self.check(x, y, wt);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; the loads read x inside the plane (masked at the
        // row edges) and the stores write y's plane.
        unsafe {
            self.fwd_imp(x.as_ptr(), wt.as_ptr(), y.as_mut_ptr(), accumulate)
        }
    }

    /// The input gradient of [`DwPlane::fwd`]: `dx (+)= Σ_taps w · dy`, shifted back.
    pub(super) fn bwd_input(&self, dy: &[f32], wt: &[f32], dx: &mut [f32], accumulate: bool) {
        let kk = self.kh * self.kw;
        let mut flip = [0f32; MAX_TAPS];
        for (f, v) in flip[..kk].iter_mut().zip(wt.iter().rev()) {
            *f = *v;
        }
        self.fwd(dy, &flip[..kk], dx, accumulate);
    }

    /// The weight gradient of [`DwPlane::fwd`]: `dw[tap] += Σ dy · x` (shifted by the
    /// tap), for a kernel [`DwPlane::has_weight_kernel`] takes.
    pub(super) fn bwd_weight(&self, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        self.check(x, dy, dw);
        assert!(self.has_weight_kernel());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `fwd`; dw holds kH·kW values.
        unsafe {
            let mut sums = [0f32; MAX_TAPS];
            match self.kh {
                3 => self.bwd_weight_imp::<3, 9>(x.as_ptr(), dy.as_ptr(), &mut sums),
                _ => self.bwd_weight_imp::<5, 25>(x.as_ptr(), dy.as_ptr(), &mut sums),
            }
            for (d, s) in dw.iter_mut().zip(&sums) {
                *d += *s;
            }
        }
    }

    /// Kernel rows `i` whose input row `r + i − p` lies inside the plane.
    #[inline(always)]
    fn rows(&self, r: usize) -> (usize, usize) {
        let ph = self.kh / 2;
        (ph.saturating_sub(r), self.kh.min(self.h + ph - r))
    }

    /// Input row `rr − p` from column `c0 − p` (the block's first tap column), and the
    /// lanes to load from it: all if the row lies inside the plane, none if not (a kernel
    /// row in the padding then reads nothing and adds ±0). Pointers outside the plane
    /// are formed with wrapping arithmetic and only masked loads read through them.
    #[inline(always)]
    fn shifted_row(&self, x: *const f32, rr: usize, p: usize, c0: usize) -> (*const f32, u16) {
        let ir = rr.wrapping_sub(p);
        let inside = if ir < self.h { u16::MAX } else { 0 };
        let row = x.wrapping_add(ir.wrapping_mul(self.w));
        (row.wrapping_add(c0).wrapping_sub(p), inside)
    }

    /// Lanes of block `b` inside the row.
    #[inline(always)]
    fn out_mask(&self, b: usize) -> u16 {
        let lanes = (self.w - 16 * b).min(16);
        ((1u32 << lanes) - 1) as u16
    }
}

#[cfg(target_arch = "x86_64")]
impl DwPlane {
    #[target_feature(enable = "avx512f")]
    unsafe fn fwd_imp(&self, x: *const f32, wt: *const f32, y: *mut f32, accumulate: bool) {
        match (self.kh, self.kw) {
            (3, 3) => self.fwd_rows::<3>(x, wt, y, accumulate),
            (5, 5) => self.fwd_rows::<5>(x, wt, y, accumulate),
            _ => self.fwd_any(x, wt, y, accumulate),
        }
    }

    /// [`DwPlane::fwd`] for a `K × K` kernel, [`ROWS`] output rows of a column block at a
    /// time: each input row's `K` shifted loads serve every output row it reaches, and
    /// the output rows' sums are independent chains of multiply-adds. Each output's taps
    /// are added in tap order; a kernel row outside the plane loads zeros (adding ±0).
    #[target_feature(enable = "avx512f")]
    unsafe fn fwd_rows<const K: usize>(
        &self,
        x: *const f32,
        wt: *const f32,
        y: *mut f32,
        accumulate: bool,
    ) {
        let (h, w) = (self.h, self.w);
        let p = K / 2;
        let nb = w.div_ceil(16);
        let mut wv = [_mm512_setzero_ps(); 25];
        for (t, v) in wv[..K * K].iter_mut().enumerate() {
            *v = _mm512_set1_ps(*wt.add(t));
        }
        for r0 in (0..h).step_by(ROWS) {
            for b in 0..nb {
                let (c0, mo) = (16 * b, self.out_mask(b));
                let ms = self.masks.as_ptr().add(b * K);
                let mut acc = [_mm512_setzero_ps(); ROWS];
                for (t, a) in acc.iter_mut().enumerate() {
                    let rm = if r0 + t < h { mo } else { 0 };
                    if accumulate {
                        *a = _mm512_maskz_loadu_ps(rm, y.wrapping_add((r0 + t) * w + c0));
                    }
                }
                // Input rows r0 − p .. r0 + ROWS + p; row `q` of them meets output row
                // `t` through kernel row `q − t`.
                for q in 0..ROWS + K - 1 {
                    let (xr, inside) = self.shifted_row(x, r0 + q, p, c0);
                    for j in 0..K {
                        let v = _mm512_maskz_loadu_ps(*ms.add(j) & inside, xr.wrapping_add(j));
                        for (t, a) in acc.iter_mut().enumerate() {
                            if q >= t && q - t < K {
                                *a = _mm512_fmadd_ps(wv[(q - t) * K + j], v, *a);
                            }
                        }
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    let rm = if r0 + t < h { mo } else { 0 };
                    _mm512_mask_storeu_ps(y.wrapping_add((r0 + t) * w + c0), rm, *a);
                }
            }
        }
    }

    /// [`DwPlane::fwd`] for any kernel these kernels take, one output block at a time.
    #[target_feature(enable = "avx512f")]
    unsafe fn fwd_any(&self, x: *const f32, wt: *const f32, y: *mut f32, accumulate: bool) {
        let (h, w, kw) = (self.h, self.w, self.kw);
        let (ph, pw) = (self.kh / 2, kw / 2);
        let nb = w.div_ceil(16);
        for r in 0..h {
            let (i0, i1) = self.rows(r);
            for b in 0..nb {
                let (c0, mo) = (16 * b, self.out_mask(b));
                let yo = y.add(r * w + c0);
                let mut acc = if accumulate {
                    _mm512_maskz_loadu_ps(mo, yo)
                } else {
                    _mm512_setzero_ps()
                };
                let ms = self.masks.as_ptr().add(b * kw);
                for i in i0..i1 {
                    // The block's first tap column, possibly left of the row (masked).
                    let xr = x.add((r + i - ph) * w).wrapping_add(c0).wrapping_sub(pw);
                    let wr = wt.add(i * kw);
                    for j in 0..kw {
                        let v = _mm512_maskz_loadu_ps(*ms.add(j), xr.wrapping_add(j));
                        acc = _mm512_fmadd_ps(_mm512_set1_ps(*wr.add(j)), v, acc);
                    }
                }
                _mm512_mask_storeu_ps(yo, mo, acc);
            }
        }
    }

    /// `sums[tap] = Σ dy · x` over the plane, `K × K` kernel (`KK = K²` sums in
    /// registers).
    #[target_feature(enable = "avx512f")]
    unsafe fn bwd_weight_imp<const K: usize, const KK: usize>(
        &self,
        x: *const f32,
        dy: *const f32,
        sums: &mut [f32; MAX_TAPS],
    ) {
        let (h, w) = (self.h, self.w);
        let p = K / 2;
        let nb = w.div_ceil(16);
        let mut acc = [_mm512_setzero_ps(); KK];
        for r in 0..h {
            for b in 0..nb {
                let c0 = 16 * b;
                let d = _mm512_maskz_loadu_ps(self.out_mask(b), dy.add(r * w + c0));
                let ms = self.masks.as_ptr().add(b * K);
                for i in 0..K {
                    let (xr, inside) = self.shifted_row(x, r + i, p, c0);
                    for j in 0..K {
                        let v = _mm512_maskz_loadu_ps(*ms.add(j) & inside, xr.wrapping_add(j));
                        acc[i * K + j] = _mm512_fmadd_ps(d, v, acc[i * K + j]);
                    }
                }
            }
        }
        for (s, a) in sums.iter_mut().zip(&acc) {
            *s = _mm512_reduce_add_ps(*a);
        }
    }
}
