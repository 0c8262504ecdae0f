//! 2-D convolution (dense, grouped and depthwise) with forward and backward passes.
//!
//! Dense and grouped convolutions use im2col + gemm (the `gemm` crate candle itself
//! uses), one image per task in parallel over the batch; a 1×1, stride-1, unpadded
//! convolution skips im2col. With AVX-512 (f32) the products are `f32_avx512`'s, and
//! where it pays im2col is implicit (`Phased`): the input is split by stride phase and
//! zero-padded, a band of rows at a time (`Band`, kept in cache), so that every im2col
//! row is a contiguous run of it, which the forward and the weight gradient read in place
//! and the input gradient's product adds onto; the forward's tiles store straight into
//! the output, dropping the bands' extra columns (`f32_avx512::DropCols`); maps under 64
//! pixels run one product over the whole batch (`batched`).
//! Dense and grouped 3×3 stride-1 convolutions with at least 24 input and output channels
//! per group run as
//! Winograd F(2×2, 3×3) on that path (`winograd`: 16 products per 2×2 outputs and
//! channel pair instead of 36, the same values up to float rounding);
//! [`set_conv_algorithm`]`(`[`ConvAlgorithm::Direct`]`)` turns it off.
//! Depthwise convolutions (`groups == C_in`) use direct kernels, far faster than candle's
//! "one convolution per group": stride-1 "same" layers one long loop per tap over the
//! flattened plane (`FlatTap`), every other layer the stride-phase planes of `DwPhased`
//! with blocks of outputs held in registers across the taps. Semantics follow
//! `torch.nn.functional.conv2d`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{act_inplace_chunk, ActBwd, Activation};
use super::backend::{route_with_cuda, Candle, Route};
use super::batchnorm::{apply_with_stats, BnSaved, BnStats};
use super::kernel::{
    add_row_phases, alloc_for_overwrite, as_f32, as_f32_mut, dispatch, f32_avx512, from_f32,
    gather, gemm, gemm_ld, interleave, line_len, multiversion, out, reduction_chunk, slice,
    split_row_phases, threads, use_avx512, with_scratch, Real,
};
use crate::{Error, Result};

mod dw512;
mod winograd;
pub use winograd::{conv_algorithm, set_conv_algorithm, ConvAlgorithm};

/// Stride, padding and dilation per axis `(h, w)`, and the number of groups (the op's
/// geometry; a layer takes [`crate::nn::Conv2dConfig`], whose `params()` gives this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// Every size of one convolution.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
    groups: usize,
    oh: usize,
    ow: usize,
    /// [`Geom::ow_range`] of the first 16 kernel columns, precomputed: the kernels ask
    /// for it once per row and tap, and it costs two divisions.
    owr: [(usize, usize); 16],
}

impl Geom {
    fn new(x: &[usize], wt: &[usize], p: &Conv2dParams) -> Result<Geom> {
        Self::build(x, wt, p, None)
    }

    /// The convolution whose input gradient is a transposed convolution producing `x`
    /// (`(N, C, H, W)`, the transposed convolution's output) from `(N, C_out, oh, ow)`
    /// (its input): like [`Geom::new`], but with the output size given, which may be
    /// smaller than the formula's when `output_padding` added rows the convolution never
    /// reaches back to.
    pub(super) fn with_output(
        x: &[usize],
        wt: &[usize],
        p: &Conv2dParams,
        oh: usize,
        ow: usize,
    ) -> Result<Geom> {
        Self::build(x, wt, p, Some((oh, ow)))
    }

    fn build(
        x: &[usize],
        wt: &[usize],
        p: &Conv2dParams,
        out_size: Option<(usize, usize)>,
    ) -> Result<Geom> {
        let (&[n, cin, h, w], &[cout, cg, kh, kw]) = (x, wt) else {
            return Err(Error::invalid(format!(
                "conv2d: input must be (N, C, H, W) and weight (C_out, C_in/groups, kH, kW), got {x:?} and {wt:?}"
            )));
        };
        let g = p.groups;
        if g == 0 || cin % g != 0 || cout % g != 0 || cg != cin / g {
            return Err(Error::invalid(format!(
                "conv2d: {cin} input and {cout} output channels with {g} groups need a weight of (C_out, {}, kH, kW), got {wt:?}",
                cin.checked_div(g).unwrap_or(0)
            )));
        }
        if p.stride.0 == 0 || p.stride.1 == 0 || p.dilation.0 == 0 || p.dilation.1 == 0 {
            return Err(Error::invalid(
                "conv2d: stride and dilation must be positive",
            ));
        }
        if kh == 0 || kw == 0 || n == 0 || cin == 0 {
            return Err(Error::invalid(format!(
                "conv2d: empty input or kernel: {x:?}, {wt:?}"
            )));
        }
        let eh = p.dilation.0 * (kh - 1) + 1;
        let ew = p.dilation.1 * (kw - 1) + 1;
        if h + 2 * p.padding.0 < eh || w + 2 * p.padding.1 < ew {
            return Err(Error::invalid(format!(
                "conv2d: kernel {kh}×{kw} (dilation {:?}) larger than the padded input {h}×{w}",
                p.dilation
            )));
        }
        let mut g = Geom {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            sh: p.stride.0,
            sw: p.stride.1,
            ph: p.padding.0,
            pw: p.padding.1,
            dh: p.dilation.0,
            dw: p.dilation.1,
            groups: g,
            oh: (h + 2 * p.padding.0 - eh) / p.stride.0 + 1,
            ow: (w + 2 * p.padding.1 - ew) / p.stride.1 + 1,
            owr: [(0, 0); 16],
        };
        if let Some((oh, ow)) = out_size {
            if oh == 0 || ow == 0 || oh > g.oh || ow > g.ow {
                return Err(Error::invalid(format!(
                    "conv2d: output {oh}×{ow} outside 1..={}×1..={}",
                    g.oh, g.ow
                )));
            }
            (g.oh, g.ow) = (oh, ow);
        }
        for kj in 0..kw.min(16) {
            g.owr[kj] = g.ow_range_calc(kj);
        }
        Ok(g)
    }
    fn cg(&self) -> usize {
        self.cin / self.groups
    }
    fn og(&self) -> usize {
        self.cout / self.groups
    }
    /// Rows of the im2col matrix of one group.
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    pub(super) fn out_shape(&self) -> (usize, usize, usize, usize) {
        (self.n, self.cout, self.oh, self.ow)
    }
    pub(super) fn in_shape(&self) -> (usize, usize, usize, usize) {
        (self.n, self.cin, self.h, self.w)
    }
    pub(super) fn weight_shape(&self) -> (usize, usize, usize, usize) {
        (self.cout, self.cg(), self.kh, self.kw)
    }
    pub(super) fn ohw(&self) -> usize {
        self.oh * self.ow
    }
    fn hw(&self) -> usize {
        self.h * self.w
    }
    pub(super) fn depthwise(&self) -> bool {
        self.groups == self.cin && self.groups > 1
    }
    /// The sizes the CUDA depthwise kernels take; an error for other convolutions
    /// (routing sends those to candle on a GPU, so this is a guard, not a path).
    #[cfg(feature = "cuda")]
    fn cuda_depthwise(&self) -> candle_core::Result<super::cuda::DwDims> {
        if !self.depthwise() {
            candle_core::bail!(
                "candor conv2d on CUDA: only depthwise convolutions have a CUDA kernel \
                 (groups {} of {} input channels)",
                self.groups,
                self.cin
            );
        }
        Ok(super::cuda::DwDims {
            n: self.n,
            cin: self.cin,
            h: self.h,
            w: self.w,
            cout: self.cout,
            kh: self.kh,
            kw: self.kw,
            sh: self.sh,
            sw: self.sw,
            ph: self.ph,
            pw: self.pw,
            dh: self.dh,
            dw: self.dw,
            oh: self.oh,
            ow: self.ow,
        })
    }
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    /// Output columns `ow` whose input column `ow·s + kj·d − p` lies in `[0, W)`.
    #[inline(always)]
    fn ow_range(&self, kj: usize) -> (usize, usize) {
        if kj < 16 {
            self.owr[kj]
        } else {
            self.ow_range_calc(kj)
        }
    }

    fn ow_range_calc(&self, kj: usize) -> (usize, usize) {
        let off = kj * self.dw;
        let lo = if off >= self.pw {
            0
        } else {
            (self.pw - off).div_ceil(self.sw)
        };
        let hi = if self.w + self.pw > off {
            ((self.w + self.pw - off - 1) / self.sw + 1).min(self.ow)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
    /// Input row of output row `oh` and kernel row `ki`, if inside the image.
    fn ih(&self, oh: usize, ki: usize) -> Option<usize> {
        let v = (oh * self.sh + ki * self.dh) as isize - self.ph as isize;
        (v >= 0 && (v as usize) < self.h).then_some(v as usize)
    }
}

/// `dst[i·s] += src[i]`.
#[inline(always)]
fn scatter_add<T: Real>(dst: &mut [T], src: &[T], s: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    if s == 1 {
        for (d, v) in dst[..n].iter_mut().zip(src) {
            *d += *v;
        }
    } else {
        let dst = &mut dst[..(n - 1) * s + 1];
        for (i, v) in src.iter().enumerate() {
            dst[i * s] += *v;
        }
    }
}

/// im2col of output rows `oh0..oh1` of one group of one image: `x` is `cg × H × W`, `col`
/// is `K × (oh1 − oh0)·OW`.
#[inline(always)]
fn im2col_rows<T: Real>(g: &Geom, x: &[T], col: &mut [T], oh0: usize, oh1: usize) {
    im2col_rows_ld(g, x, col, (oh1 - oh0) * g.ow, oh0, oh1)
}

/// [`im2col_rows`] into rows `ld` apart: one image's columns of a batch's im2col.
#[inline(always)]
fn im2col_rows_ld<T: Real>(g: &Geom, x: &[T], col: &mut [T], ld: usize, oh0: usize, oh1: usize) {
    let ow = g.ow;
    let nc = (oh1 - oh0) * ow;
    for c in 0..g.cg() {
        let xc = &x[c * g.hw()..][..g.hw()];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &mut col[((c * g.kh + ki) * g.kw + kj) * ld..][..nc];
                let (lo, hi) = g.ow_range(kj);
                for oh in oh0..oh1 {
                    let dst = &mut row[(oh - oh0) * ow..][..ow];
                    match g.ih(oh, ki) {
                        Some(ih) if lo < hi => {
                            dst[..lo].fill(T::ZERO);
                            dst[hi..].fill(T::ZERO);
                            let s0 = lo * g.sw + kj * g.dw - g.pw;
                            gather(&mut dst[lo..hi], &xc[ih * g.w + s0..(ih + 1) * g.w], g.sw);
                        }
                        _ => dst.fill(T::ZERO),
                    }
                }
            }
        }
    }
}

/// Accumulate `col` (`K × (oh1 − oh0)·OW`, output rows `oh0..oh1`) back into the image
/// gradient `dx` (`cg × H × W`).
#[inline(always)]
fn col2im_rows<T: Real>(g: &Geom, col: &[T], dx: &mut [T], oh0: usize, oh1: usize) {
    col2im_rows_ld(g, col, (oh1 - oh0) * g.ow, dx, oh0, oh1)
}

/// [`col2im_rows`] from rows `ld` apart.
#[inline(always)]
fn col2im_rows_ld<T: Real>(g: &Geom, col: &[T], ld: usize, dx: &mut [T], oh0: usize, oh1: usize) {
    let ow = g.ow;
    let nc = (oh1 - oh0) * ow;
    for c in 0..g.cg() {
        let dxc = &mut dx[c * g.hw()..][..g.hw()];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &col[((c * g.kh + ki) * g.kw + kj) * ld..][..nc];
                let (lo, hi) = g.ow_range(kj);
                if lo >= hi {
                    continue;
                }
                for oh in oh0..oh1 {
                    if let Some(ih) = g.ih(oh, ki) {
                        let s0 = lo * g.sw + kj * g.dw - g.pw;
                        let src = &row[(oh - oh0) * ow..][lo..hi];
                        scatter_add(&mut dxc[ih * g.w + s0..(ih + 1) * g.w], src, g.sw);
                    }
                }
            }
        }
    }
}

/// im2col of output rows `oh0..oh1` of one group of one image written straight into
/// [`f32_avx512::pack_b`]'s layout (panels of `NR` columns, `[panel][p][j]`, the last
/// panel's missing columns zero): the same values as [`im2col_rows`] followed by
/// `pack_b`, in one pass instead of two.
#[inline(always)]
fn im2col_packed_rows<T: Real>(g: &Geom, x: &[T], pb: &mut [T], oh0: usize, oh1: usize) {
    const NR: usize = f32_avx512::NR;
    let (ow, k) = (g.ow, g.k());
    let nc = (oh1 - oh0) * ow;
    let panels = nc.div_ceil(NR);
    let pb = &mut pb[..panels * NR * k];
    let tail = nc % NR;
    if tail != 0 {
        let last = &mut pb[(panels - 1) * NR * k..];
        for row in last.chunks_exact_mut(NR) {
            row[tail..].fill(T::ZERO);
        }
    }
    for c in 0..g.cg() {
        let xc = &x[c * g.hw()..][..g.hw()];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let p = (c * g.kh + ki) * g.kw + kj;
                let (lo, hi) = g.ow_range(kj);
                for oh in oh0..oh1 {
                    let j0 = (oh - oh0) * ow;
                    let src = match g.ih(oh, ki) {
                        Some(ih) if lo < hi => Some(&xc[ih * g.w..(ih + 1) * g.w]),
                        _ => None,
                    };
                    // Output columns o..o + len of this row lie in one panel.
                    let mut o = 0;
                    while o < ow {
                        let j = j0 + o;
                        let len = (NR - j % NR).min(ow - o);
                        let dst = &mut pb[(j / NR) * NR * k + p * NR + j % NR..][..len];
                        match src {
                            None => dst.fill(T::ZERO),
                            Some(xr) => {
                                let (a, b) = (lo.clamp(o, o + len), hi.clamp(o, o + len));
                                dst[..a - o].fill(T::ZERO);
                                dst[b - o..].fill(T::ZERO);
                                if a < b {
                                    let s0 = a * g.sw + kj * g.dw - g.pw;
                                    gather(&mut dst[a - o..b - o], &xr[s0..], g.sw);
                                }
                            }
                        }
                        o += len;
                    }
                }
            }
        }
    }
}

multiversion!(im2col_packed_rows_mv => im2col_packed_rows(g: &Geom, x: &[T], pb: &mut [T], oh0: usize, oh1: usize));
multiversion!(im2col_rows_mv => im2col_rows(g: &Geom, x: &[T], col: &mut [T], oh0: usize, oh1: usize));
multiversion!(col2im_rows_mv => col2im_rows(g: &Geom, col: &[T], dx: &mut [T], oh0: usize, oh1: usize));
multiversion!(im2col_rows_ld_mv => im2col_rows_ld(g: &Geom, x: &[T], col: &mut [T], ld: usize, oh0: usize, oh1: usize));
multiversion!(col2im_rows_ld_mv => col2im_rows_ld(g: &Geom, col: &[T], ld: usize, dx: &mut [T], oh0: usize, oh1: usize));

/// The implicit im2col of the AVX-512 paths: the input of one group of one image split
/// by stride phase and zero-padded, so that every im2col row is one contiguous run.
///
/// Plane `(c, a, b)` (`a < sh`, `b < sw`) holds the padded input pixel
/// `(i·sh + a, j·sw + b)` at `(i, j)`, planes `ha × wa`. Tap `(ki, kj)` reads phase
/// `(ki·dh mod sh, kj·dw mod sw)` shifted by `(⌊ki·dh/sh⌋, ⌊kj·dw/sw⌋)`, so im2col row
/// `r = (c, ki, kj)` for output rows `oh0..oh1` is `buf[offs[r] + oh0·wa..][..(oh1 −
/// oh0)·wa]`: `wa ≥ OW` "extended" columns per output row, the last `wa − OW` of which
/// meet no output (the forward drops them, the backward passes give them zero weight).
/// A strided convolution becomes a stride-1 one over its phases, so no pass gathers
/// with a stride, and the weight gradient reads the planes in place.
struct Phased {
    ha: usize,
    wa: usize,
    /// The taps' largest row and column shifts.
    qh: usize,
    qw: usize,
    offs: Vec<usize>,
    len: usize,
}

impl Phased {
    /// The layout, if it pays: every phase is read by some tap (a 1×1 stride-2
    /// convolution reads a quarter of them) and at most a quarter of the columns are
    /// extra (small maps with wide kernels take the explicit im2col).
    fn new(g: &Geom) -> Option<Phased> {
        if g.pointwise() {
            return None;
        }
        let covers = |k: usize, d: usize, s: usize| {
            let mut seen = vec![false; s];
            (0..k).for_each(|t| seen[t * d % s] = true);
            seen.iter().all(|&b| b)
        };
        if !covers(g.kh, g.dh, g.sh) || !covers(g.kw, g.dw, g.sw) {
            return None;
        }
        let (qh, qw) = ((g.kh - 1) * g.dh / g.sh, (g.kw - 1) * g.dw / g.sw);
        let (ha, wa) = (g.oh + qh, g.ow + qw);
        if 4 * qw > g.ow {
            return None;
        }
        let (offs, len) = Self::layout(g, ha, wa, qw);
        Some(Phased {
            ha,
            wa,
            qh,
            qw,
            offs,
            len,
        })
    }

    /// The im2col rows' offsets and the buffer length for planes `hl × wa`.
    fn layout(g: &Geom, hl: usize, wa: usize, qw: usize) -> (Vec<usize>, usize) {
        let plane = hl * wa;
        let mut offs = Vec::with_capacity(g.k());
        for c in 0..g.cg() {
            for ki in 0..g.kh {
                let (a, qi) = (ki * g.dh % g.sh, ki * g.dh / g.sh);
                for kj in 0..g.kw {
                    let (b, qj) = (kj * g.dw % g.sw, kj * g.dw / g.sw);
                    offs.push(((c * g.sh + a) * g.sw + b) * plane + qi * wa + qj);
                }
            }
        }
        // The last plane's shifted rows run qw values past its end.
        (offs, g.cg() * g.sh * g.sw * plane + qw)
    }

    /// Bands of the planes for blocks of output rows: the most rows, a multiple of
    /// `step` (or all of them), whose band ([`Band`]) stays within `BAND_BYTES`, so that
    /// it is still in the cache when the products read it; at least `step`, at most
    /// `cap` (rounded up to a multiple of `step`).
    fn band(&self, g: &Geom, step: usize, cap: usize) -> Band {
        let per_row = g.cg() * g.sh * g.sw * self.wa * std::mem::size_of::<f32>();
        let fit = (BAND_BYTES / per_row.max(1)).saturating_sub(self.qh);
        let rows = (fit / step * step).clamp(step, cap.div_ceil(step) * step);
        if rows >= g.oh {
            return Band {
                rows: g.oh,
                hl: self.ha,
                offs: self.offs.clone(),
                len: self.len,
            };
        }
        let hl = rows + self.qh;
        let (offs, len) = Self::layout(g, hl, self.wa, self.qw);
        Band {
            rows,
            hl,
            offs,
            len,
        }
    }
}

/// The phase planes' rows that a band of `rows` output rows reads (`oh0..oh0 + rows +
/// qh` for the band from `oh0`), as [`Phased`]'s layout with planes `hl` rows high:
/// filled by [`phase_fill`] with `i0 = oh0`, read by the products with the band's
/// `offs` and shifts from the band's first row.
struct Band {
    rows: usize,
    hl: usize,
    offs: Vec<usize>,
    len: usize,
}

/// The largest [`Band`] of the phase planes: with the panel it is packed into (at most
/// `COL_BLOCK_BYTES`), well inside a 2 MB L2.
const BAND_BYTES: usize = 1 << 20;

/// Fill `buf` (`Phased::len`, or a [`Band`]'s) with rows `i0..i0 + hl` of the phase
/// planes of `x` (`cg × H × W`).
#[inline(always)]
fn phase_fill<T: Real>(g: &Geom, i0: usize, hl: usize, wa: usize, x: &[T], buf: &mut [T]) {
    let plane = hl * wa;
    // The channels of x (all cg, or a slice of them), then the slack.
    let (body, slack) = buf.split_at_mut(x.len() / g.hw() * g.sh * g.sw * plane);
    slack.fill(T::ZERO);
    for (pi, pl) in body.chunks_exact_mut(plane).enumerate() {
        let (c, a, b) = (pi / (g.sh * g.sw), pi / g.sw % g.sh, pi % g.sw);
        let xc = &x[c * g.hw()..][..g.hw()];
        // Columns j whose input column j·sw + b − pw lies in [0, W).
        let jlo = g.pw.saturating_sub(b).div_ceil(g.sw).min(wa);
        let jhi = if g.w + g.pw > b {
            ((g.w + g.pw - b - 1) / g.sw + 1).clamp(jlo, wa)
        } else {
            jlo
        };
        for (i, row) in pl.chunks_exact_mut(wa).enumerate() {
            let ih = ((i0 + i) * g.sh + a) as isize - g.ph as isize;
            if ih < 0 || ih as usize >= g.h || jlo == jhi {
                row.fill(T::ZERO);
                continue;
            }
            row[..jlo].fill(T::ZERO);
            row[jhi..].fill(T::ZERO);
            let s0 = jlo * g.sw + b - g.pw;
            gather(
                &mut row[jlo..jhi],
                &xc[ih as usize * g.w + s0..][..g.w - s0],
                g.sw,
            );
        }
    }
}

/// The inverse of [`phase_fill`] for gradients: the rows of `dx` (`cg × H × W`) that
/// plane rows `i0..i1` hold, from a buffer of planes `hl` rows high whose row 0 is plane
/// row `i0` (the whole planes: `i0 = 0`, `hl = ha`); pixels that no output reaches
/// (plane rows ≥ `ha`) get zero when `i1` reaches past them.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn phase_unfill<T: Real>(
    g: &Geom,
    (i0, i1): (usize, usize),
    ha: usize,
    hl: usize,
    wa: usize,
    buf: &[T],
    dx: &mut [T],
) {
    let plane = hl * wa;
    for (c, dxc) in dx.chunks_exact_mut(g.hw()).enumerate().take(g.cg()) {
        for (ih, row) in dxc.chunks_exact_mut(g.w).enumerate() {
            let (i, a) = ((ih + g.ph) / g.sh, (ih + g.ph) % g.sh);
            if i < i0 || i >= i1 {
                continue;
            }
            if i >= ha {
                row.fill(T::ZERO);
                continue;
            }
            let base = (c * g.sh + a) * g.sw * plane + (i - i0) * wa;
            if g.sw == 1 {
                let n = g.w.min(wa.saturating_sub(g.pw));
                row[..n].copy_from_slice(&buf[base + g.pw..][..n]);
                row[n..].fill(T::ZERO);
            } else if g.sw == 2 {
                // The two planes' runs interleaved, pairs at a time (the loop below,
                // column by column, stayed scalar).
                let run = |iw0: usize| {
                    let b = (iw0 + g.pw) % 2;
                    let j0 = (iw0 + g.pw) / 2;
                    let src = &buf[base + b * plane..][..wa];
                    let want = (g.w - iw0.min(g.w)).div_ceil(2);
                    (&src[j0.min(wa)..][..want.min(wa.saturating_sub(j0))], want)
                };
                let ((ev, ne), (od, no)) = (run(0), run(1));
                let both = ev.len().min(od.len()).min(row.len() / 2);
                interleave(row, &ev[..both], &od[..both]);
                for t in both..ne {
                    row[2 * t] = ev.get(t).copied().unwrap_or(T::ZERO);
                }
                for t in both..no {
                    row[2 * t + 1] = od.get(t).copied().unwrap_or(T::ZERO);
                }
            } else {
                // Columns iw ≡ b − pw (mod sw) come from plane b, in order.
                for b in 0..g.sw {
                    let iw0 = (b + g.sw - g.pw % g.sw) % g.sw;
                    let j0 = (iw0 + g.pw) / g.sw;
                    let src = &buf[base + b * plane..][..wa];
                    let dst = row.iter_mut().skip(iw0).step_by(g.sw);
                    for (t, v) in dst.enumerate() {
                        *v = src.get(j0 + t).copied().unwrap_or(T::ZERO);
                    }
                }
            }
        }
    }
}

multiversion!(phase_fill_mv => phase_fill(g: &Geom, i0: usize, hl: usize, wa: usize, x: &[T], buf: &mut [T]));
multiversion!(phase_unfill_mv => phase_unfill(g: &Geom, rows: (usize, usize), ha: usize, hl: usize, wa: usize, buf: &[T], dx: &mut [T]));

/// Output rows per im2col block: the block (`K × rows·OW`) is kept near `COL_BLOCK_BYTES`
/// so that it stays in the L2 cache between im2col and the product that reads it.
fn tile_rows<T: Real>(g: &Geom) -> usize {
    let per_row = g.k() * g.ow * std::mem::size_of::<T>();
    (COL_BLOCK_BYTES / per_row.max(1)).clamp(1, g.oh)
}

const COL_BLOCK_BYTES: usize = 1 << 20;

// ---------------------------------------------------------------- dense / grouped

fn dense_fwd<T: Real>(g: &Geom, x: &[T], wt: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (k, ohw, og, cg, ow) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow);
    // Few images: let gemm use the threads; many: one image per task.
    let inner = if g.n >= threads() { 1 } else { threads() };
    let rows = tile_rows::<T>(g);
    let fast = use_avx512::<T>();
    // Before the direct path packs its weight (Winograd transforms its own).
    #[cfg(target_arch = "x86_64")]
    if fast && winograd::applies(g) {
        return from_f32(winograd::forward(
            g,
            as_f32(x),
            as_f32(wt),
            bias.map(as_f32),
        ));
    }
    // The AVX-512 path writes im2col straight into the packed panels.
    let col_len = if g.pointwise() || fast {
        0
    } else {
        k * rows * ow
    };
    let (pa, pb_len) = if fast {
        let la = f32_avx512::packed_a_len(og, k);
        let mut pa = vec![0f32; g.groups * la];
        for (grp, o) in pa.chunks_exact_mut(la).enumerate() {
            f32_avx512::pack_a(og, k, &as_f32(wt)[grp * og * k..], k, 1, o);
        }
        (pa, f32_avx512::packed_b_len(k, rows * ow))
    } else {
        (Vec::new(), 0)
    };
    if fast && batched(g) {
        let y = dense_fwd_batched(g, as_f32(x), bias.map(as_f32), &pa);
        return from_f32(y);
    }
    if fast {
        if let Some(ph) = Phased::new(g) {
            let y = dense_fwd_phased(g, &ph, as_f32(x), bias.map(as_f32), &pa);
            return from_f32(y);
        }
    }
    if fast && g.n < threads() {
        return dense_fwd_row_blocks(g, x, bias, &pa);
    }
    // SAFETY: each image's planes are filled with the bias and accumulated into, or
    // written by a product that does not read them (`accumulate` false), group by group
    // and row block by row block: every element.
    let mut y = unsafe { alloc_for_overwrite::<T>(g.n * g.cout * ohw) };
    y.par_chunks_mut(g.cout * ohw)
        .enumerate()
        .for_each(|(b, yb)| {
            if let Some(bias) = bias {
                for (yp, &bv) in yb.chunks_mut(ohw).zip(bias) {
                    yp.fill(bv);
                }
            }
            let acc = bias.is_some();
            with_scratch::<T, _>(line_len::<T>(col_len) + pb_len, |scratch| {
                let (col, pb) = scratch.split_at_mut(line_len::<T>(col_len));
                for grp in 0..g.groups {
                    let xg = &x[(b * g.cin + grp * cg) * g.hw()..][..cg * g.hw()];
                    let wg = &wt[grp * og * k..][..og * k];
                    let dst = &mut yb[grp * og * ohw..][..og * ohw];
                    for oh0 in (0..g.oh).step_by(rows) {
                        let oh1 = (oh0 + rows).min(g.oh);
                        let nc = (oh1 - oh0) * ow;
                        let d = &mut dst[oh0 * ow..];
                        if fast {
                            if g.pointwise() {
                                f32_avx512::pack_b(
                                    k,
                                    nc,
                                    as_f32(&xg[oh0 * ow..]),
                                    ohw,
                                    as_f32_mut(pb),
                                );
                            } else {
                                im2col_packed_rows_mv(g, xg, pb, oh0, oh1);
                            }
                            let la = f32_avx512::packed_a_len(og, k);
                            let pa = &pa[grp * la..][..la];
                            let pb = as_f32(pb);
                            f32_avx512::gemm_packed(og, nc, k, pa, pb, as_f32_mut(d), ohw, acc);
                        } else {
                            let (rhs, rs): (&[T], usize) = if g.pointwise() {
                                (&xg[oh0 * ow..], ohw)
                            } else {
                                let col = &mut col[..k * nc];
                                im2col_rows_mv(g, xg, col, oh0, oh1);
                                (col, nc)
                            };
                            gemm_ld(og, nc, k, d, ohw, acc, wg, k, 1, rhs, rs, 1, inner);
                        }
                    }
                }
            })
        });
    y
}

/// The forward when the batch has fewer images than the pool has threads (a batch of
/// one at inference): the per-image loop would leave threads idle, so each image's
/// output rows are split into blocks that run in parallel, each into its own buffer,
/// then copied into place plane by plane. The values are the per-image path's: every
/// output is the same product over the whole `K`, in the same order, whatever the
/// blocks. `pa` is the packed weight of every group.
fn dense_fwd_row_blocks<T: Real>(g: &Geom, x: &[T], bias: Option<&[T]>, pa: &[f32]) -> Vec<T> {
    let (k, ohw, og, cg, ow) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow);
    let la = f32_avx512::packed_a_len(og, k);
    // About four blocks per thread over the batch, never larger than the L2 block.
    let per_image = (4 * threads()).div_ceil(g.n * g.groups);
    let rows = tile_rows::<T>(g).min(g.oh.div_ceil(per_image)).max(1);
    let blocks = g.oh.div_ceil(rows);
    let outs: Vec<Vec<T>> = (0..g.n * g.groups * blocks)
        .into_par_iter()
        .map(|t| {
            let (b, grp, oh0) = (
                t / (g.groups * blocks),
                t / blocks % g.groups,
                t % blocks * rows,
            );
            let oh1 = (oh0 + rows).min(g.oh);
            let nc = (oh1 - oh0) * ow;
            let mut yo = vec![T::ZERO; og * nc];
            if let Some(bias) = bias {
                for (yp, &bv) in yo.chunks_mut(nc).zip(&bias[grp * og..]) {
                    yp.fill(bv);
                }
            }
            let xg = &x[(b * g.cin + grp * cg) * g.hw()..][..cg * g.hw()];
            with_scratch::<T, _>(f32_avx512::packed_b_len(k, nc), |pb| {
                if g.pointwise() {
                    f32_avx512::pack_b(k, nc, as_f32(&xg[oh0 * ow..]), ohw, as_f32_mut(pb));
                } else {
                    im2col_packed_rows_mv(g, xg, pb, oh0, oh1);
                }
                let pb = as_f32(pb);
                let pa = &pa[grp * la..][..la];
                f32_avx512::gemm_packed(og, nc, k, pa, pb, as_f32_mut(&mut yo), nc, bias.is_some());
            });
            yo
        })
        .collect();
    // SAFETY: every row block of every plane is copied in below.
    let mut y = unsafe { alloc_for_overwrite::<T>(g.n * g.cout * ohw) };
    y.par_chunks_mut(ohw).enumerate().for_each(|(plane, yp)| {
        let (b, c) = (plane / g.cout, plane % g.cout);
        let (grp, co) = (c / og, c % og);
        for blk in 0..blocks {
            let oh0 = blk * rows;
            let nc = ((oh0 + rows).min(g.oh) - oh0) * ow;
            let yo = &outs[(b * g.groups + grp) * blocks + blk];
            yp[oh0 * ow..][..nc].copy_from_slice(&yo[co * nc..][..nc]);
        }
    });
    y
}

/// `Wg · B` where `B` is rows `shift..shift + nce` of the implicit im2col in `buf`,
/// written straight into the output planes: `c` is row `oh0` of the first of `og` planes
/// `ldc` apart; the extended columns are dropped and the bias added in the store
/// ([`f32_avx512::DropCols`]). For at most [`DIRECT_MAX_OUT`] output channels the kernel
/// reads `B` in place (too few row blocks of `Wg` to share a packed panel), otherwise
/// `B`'s real columns are packed into `pb` first (no products for the extended ones).
///
/// # Safety
/// As [`f32_avx512::gemm_packed_drop`]: for each of the `og` planes, the `nce / wa · ow`
/// values from `c + i·ldc` are this caller's to write.
#[allow(clippy::too_many_arguments)]
unsafe fn phased_product(
    og: usize,
    nce: usize,
    k: usize,
    pa: &[f32],
    (buf, offs, shift): (&[f32], &[usize], usize),
    pb: &mut [f32],
    c: *mut f32,
    ldc: usize,
    d: f32_avx512::DropCols,
) {
    // SAFETY: the caller's contract is the kernels'.
    unsafe {
        if og <= DIRECT_MAX_OUT {
            f32_avx512::gemm_b_offsets_drop(og, nce, k, pa, buf, offs, shift, c, ldc, d);
        } else if d.wa > d.ow && d.ow >= REAL_COLS_MIN_OW {
            // The real columns alone: no products for the extra ones.
            let n = nce / d.wa * d.ow;
            f32_avx512::pack_b_offsets_real(k, n, (d.ow, d.wa), buf, offs, shift, pb);
            let d = f32_avx512::DropCols { wa: d.ow, ..d };
            f32_avx512::gemm_packed_drop(og, n, k, pa, pb, c, ldc, d);
        } else {
            f32_avx512::pack_b_offsets(k, nce, buf, offs, shift, pb);
            f32_avx512::gemm_packed_drop(og, nce, k, pa, pb, c, ldc, d);
        }
    }
}

/// The narrowest map on which the products skip the phase planes' extra columns
/// ([`f32_avx512::pack_b_offsets_real`], [`f32_avx512::gemm_offsets_acc_rows`]): on
/// narrower ones the runs are too short to pay (the watermark H/R/D step, whose maps go
/// down to 4 wide and whose weight gradients mostly take the 16 × 16 tile, ran 345–351
/// ms before and 393–399 ms with every map and tile; the 16 × 16 tile has no such path).
const REAL_COLS_MIN_OW: usize = 16;

/// Output channels up to which [`phased_product`] reads `B` in place: three row blocks
/// of the register tile.
const DIRECT_MAX_OUT: usize = 3 * f32_avx512::MR;

// ------------------------------------------------------- small maps, whole batch

/// Whether the f32 AVX-512 passes run as one product over the images of the batch: on
/// maps of fewer than 64 pixels a per-image product has fewer columns than two of the
/// kernel's 32-wide panels (a U-Net's 4×4 … 1×1 levels would run at 50 … 3 % of the
/// tile's width), and the weight gradient's inner dimension would be that small too.
fn batched(g: &Geom) -> bool {
    g.ohw() < 64 && g.n > 1
}

/// Images per block of a batched pass: the block's im2col (`K × images·OHW`) near
/// `BATCH_BLOCK_BYTES`.
fn batch_block(g: &Geom) -> usize {
    let per_image = g.k() * g.ohw() * std::mem::size_of::<f32>();
    (BATCH_BLOCK_BYTES / per_image.max(1)).clamp(1, g.n)
}

const BATCH_BLOCK_BYTES: usize = 8 << 20;

/// `c (m × n, rows ldc apart) = A · B` ([`f32_avx512::gemm_packed`]), its rows split
/// into blocks of whole `MR`-row tiles, in parallel: the batched passes have one
/// product, not one per image, to share out.
#[allow(clippy::too_many_arguments)]
fn par_gemm_packed(
    m: usize,
    n: usize,
    k: usize,
    pa: &[f32],
    pb: &[f32],
    c: &mut [f32],
    ldc: usize,
) {
    const MR: usize = f32_avx512::MR;
    let per = m.div_ceil(MR).div_ceil(4 * threads()).max(1) * MR;
    c[..m * ldc]
        .par_chunks_mut(per * ldc)
        .enumerate()
        .for_each(|(t, cc)| {
            let m0 = t * per;
            let mm = per.min(m - m0);
            f32_avx512::gemm_packed(mm, n, k, &pa[m0 * k..], pb, cc, ldc, false);
        });
}

/// `dycat (og × nb·OHW)`: the output gradient of group `grp` of images `b0..b0 + nb`,
/// side by side.
fn gather_dy(g: &Geom, dy: &[f32], b0: usize, nb: usize, grp: usize, dycat: &mut [f32]) {
    let (ohw, og) = (g.ohw(), g.og());
    let nt = nb * ohw;
    for b in 0..nb {
        let src = &dy[((b0 + b) * g.cout + grp * og) * ohw..][..og * ohw];
        for (co, s) in src.chunks_exact(ohw).enumerate() {
            dycat[co * nt + b * ohw..][..ohw].copy_from_slice(s);
        }
    }
}

/// im2col of group `grp` of images `b0..b0 + nb` side by side (`K × nb·OHW`).
fn batch_im2col(g: &Geom, x: &[f32], b0: usize, nb: usize, grp: usize, col: &mut [f32]) {
    let (ohw, cg) = (g.ohw(), g.cg());
    let nt = nb * ohw;
    for b in 0..nb {
        let xg = &x[((b0 + b) * g.cin + grp * cg) * g.hw()..][..cg * g.hw()];
        im2col_rows_ld_mv(g, xg, &mut col[b * ohw..], nt, 0, g.oh);
    }
}

/// [`dense_fwd`] for [`batched`] geometries: per block of images and group, one
/// `Wg · col` over all their pixels, split by output channels across the threads.
fn dense_fwd_batched(g: &Geom, x: &[f32], bias: Option<&[f32]>, pa: &[f32]) -> Vec<f32> {
    let (k, ohw, og) = (g.k(), g.ohw(), g.og());
    let la = f32_avx512::packed_a_len(og, k);
    let per = batch_block(g);
    // SAFETY: every plane of every image is written by the copy-out below.
    let mut y = unsafe { alloc_for_overwrite::<f32>(g.n * g.cout * ohw) };
    let ntmax = per * ohw;
    let mut col = vec![0f32; k * ntmax];
    let mut pb = vec![0f32; f32_avx512::packed_b_len(k, ntmax)];
    let mut tmp = vec![0f32; og * ntmax];
    for b0 in (0..g.n).step_by(per) {
        let nb = per.min(g.n - b0);
        let nt = nb * ohw;
        for grp in 0..g.groups {
            batch_im2col(g, x, b0, nb, grp, &mut col);
            f32_avx512::pack_b(k, nt, &col, nt, &mut pb);
            par_gemm_packed(og, nt, k, &pa[grp * la..], &pb, &mut tmp, nt);
            for b in 0..nb {
                let yb = &mut y[((b0 + b) * g.cout + grp * og) * ohw..][..og * ohw];
                for (co, yp) in yb.chunks_exact_mut(ohw).enumerate() {
                    let bv = bias.map_or(0.0, |bs| bs[grp * og + co]);
                    let src = &tmp[co * nt + b * ohw..][..ohw];
                    drop_extra_cols_mv(yp, src, ohw, ohw, bv);
                }
            }
        }
    }
    y
}

/// [`dense_bwd_input`] for [`batched`] geometries: `col = Wgᵀ · dY` over a block's
/// pixels in one product (split by im2col rows), then col2im image by image in parallel.
fn dense_bwd_input_batched(g: &Geom, dy: &[f32], pa: &[f32]) -> Vec<f32> {
    let (k, ohw, og, cg) = (g.k(), g.ohw(), g.og(), g.cg());
    let la = f32_avx512::packed_a_len(k, og);
    let per = batch_block(g);
    let mut dx = vec![0f32; g.n * g.cin * g.hw()];
    let ntmax = per * ohw;
    let mut dycat = vec![0f32; og * ntmax];
    let mut pb = vec![0f32; f32_avx512::packed_b_len(og, ntmax)];
    let mut col = vec![0f32; k * ntmax];
    for b0 in (0..g.n).step_by(per) {
        let nb = per.min(g.n - b0);
        let nt = nb * ohw;
        for grp in 0..g.groups {
            gather_dy(g, dy, b0, nb, grp, &mut dycat);
            f32_avx512::pack_b(og, nt, &dycat, nt, &mut pb);
            par_gemm_packed(k, nt, og, &pa[grp * la..], &pb, &mut col, nt);
            let col = &col;
            dx[b0 * g.cin * g.hw()..]
                .par_chunks_mut(g.cin * g.hw())
                .take(nb)
                .enumerate()
                .for_each(|(b, dxb)| {
                    let dxg = &mut dxb[grp * cg * g.hw()..][..cg * g.hw()];
                    col2im_rows_ld_mv(g, &col[b * ohw..], nt, dxg, 0, g.oh);
                });
        }
    }
    dx
}

/// The transposed weight gradient `dWᵀ (groups × K × og)` for [`batched`] geometries:
/// `col · dYᵀ` over a block's pixels in one product, split by im2col rows; blocks
/// accumulate in order.
fn dense_bwd_weight_t_batched(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    const MR: usize = f32_avx512::MR;
    let (k, ohw, og) = (g.k(), g.ohw(), g.og());
    let per = batch_block(g);
    let mut dwt = vec![0f32; g.cout * k];
    let ntmax = per * ohw;
    let mut col = vec![0f32; k * ntmax];
    let mut dycat = vec![0f32; og * ntmax];
    let mut pb = vec![0f32; f32_avx512::packed_b_len(ntmax, og)];
    let rows_per = k.div_ceil(MR).div_ceil(4 * threads()).max(1) * MR;
    for b0 in (0..g.n).step_by(per) {
        let nb = per.min(g.n - b0);
        let nt = nb * ohw;
        for grp in 0..g.groups {
            batch_im2col(g, x, b0, nb, grp, &mut col);
            gather_dy(g, dy, b0, nb, grp, &mut dycat);
            f32_avx512::pack_b_t(nt, og, &dycat, nt, &mut pb);
            let (col, pb) = (&col, &pb);
            dwt[grp * og * k..][..og * k]
                .par_chunks_mut(rows_per * og)
                .enumerate()
                .for_each(|(t, d)| {
                    let r0 = t * rows_per;
                    let m = d.len() / og;
                    f32_avx512::gemm_rows_acc(m, og, nt, &col[r0 * nt..], nt, pb, d, og);
                });
        }
    }
    dwt
}

/// `dst (rows × ow) = src (rows × wa, the first ow of each row) + bv`: a product's
/// extended columns dropped as it is copied out.
#[inline(always)]
fn drop_extra_cols<T: Real>(dst: &mut [T], src: &[T], ow: usize, wa: usize, bv: T) {
    for (dr, sr) in dst.chunks_exact_mut(ow).zip(src.chunks_exact(wa)) {
        for (o, &v) in dr.iter_mut().zip(sr) {
            *o = v + bv;
        }
    }
}

multiversion!(drop_extra_cols_mv => drop_extra_cols(dst: &mut [T], src: &[T], ow: usize, wa: usize, bv: T));

/// The output of [`dense_fwd_phased`], shared by its tasks, each of which
/// writes its own rows of every plane.
#[derive(Clone, Copy)]
struct RowBlocksOut(*mut f32);
// SAFETY: the tasks write disjoint elements (see dense_fwd_phased).
unsafe impl Send for RowBlocksOut {}
// SAFETY: as above.
unsafe impl Sync for RowBlocksOut {}

impl RowBlocksOut {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// [`dense_fwd`] over the implicit im2col of [`Phased`]: tasks of one image, group and
/// band of output rows ([`Band`], about four per thread over the batch, so that a batch
/// of one at inference fills the pool), each filling its band of the phase planes into
/// scratch, where blocks of its rows' products read them (packing their panels, or in
/// place) and store straight into the output planes, the extended columns dropped.
fn dense_fwd_phased(
    g: &Geom,
    ph: &Phased,
    x: &[f32],
    bias: Option<&[f32]>,
    pa: &[f32],
) -> Vec<f32> {
    let (k, ohw, og, cg, ow, wa) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow, ph.wa);
    let la = f32_avx512::packed_a_len(og, k);
    let per_image = (4 * threads()).div_ceil(g.n * g.groups);
    let band = ph.band(g, 1, g.oh.div_ceil(per_image));
    let bands = g.oh.div_ceil(band.rows);
    // Output rows per product: its packed panel within COL_BLOCK_BYTES.
    let rows = tile_rows_ext(g, wa).min(band.rows);
    let pb_len = if og <= DIRECT_MAX_OUT {
        0
    } else {
        f32_avx512::packed_b_len(k, rows * wa)
    };
    // The product adds a bias of zeros where there is none and the map has extra
    // columns: the +0 that a separate copy-out pass added (−0 becomes +0), kept.
    let zeros = vec![0f32; if bias.is_none() && wa > ow { og } else { 0 }];
    // SAFETY: every element is written: task (b, grp, band) writes the band's rows of
    // the og planes of group grp of image b, and the tasks cover every (b, grp, row).
    let mut y = unsafe { alloc_for_overwrite::<f32>(g.n * g.cout * ohw) };
    let yp = RowBlocksOut(y.as_mut_ptr());
    (0..g.n * g.groups * bands).into_par_iter().for_each(|t| {
        let (bg, b0) = (t / bands, t % bands * band.rows);
        let (b, grp) = (bg / g.groups, bg % g.groups);
        let b1 = (b0 + band.rows).min(g.oh);
        let xg = &x[bg * cg * g.hw()..][..cg * g.hw()];
        let pa = &pa[grp * la..][..la];
        let bias = match bias {
            Some(bs) => Some(&bs[grp * og..][..og]),
            None if wa > ow => Some(&zeros[..]),
            None => None,
        };
        let d = f32_avx512::DropCols { wa, ow, bias };
        with_scratch::<f32, _>(line_len::<f32>(band.len) + pb_len, |scratch| {
            let (buf, pb) = scratch.split_at_mut(line_len::<f32>(band.len));
            phase_fill_mv(g, b0, band.hl, wa, xg, buf);
            for oh0 in (b0..b1).step_by(rows) {
                let nce = ((oh0 + rows).min(b1) - oh0) * wa;
                let im = (&buf[..], &band.offs[..], (oh0 - b0) * wa);
                // SAFETY: rows oh0.. of the og planes of group grp of image b lie inside
                // y and belong to this task alone (see above).
                unsafe {
                    let c = yp.get().add((b * g.cout + grp * og) * ohw + oh0 * ow);
                    phased_product(og, nce, k, pa, im, pb, c, ohw, d);
                }
            }
        });
    });
    y
}

/// [`tile_rows`] for blocks of `wa` extended columns per output row.
fn tile_rows_ext(g: &Geom, wa: usize) -> usize {
    let per_row = g.k() * wa * std::mem::size_of::<f32>();
    (COL_BLOCK_BYTES / per_row.max(1)).clamp(1, g.oh)
}

/// [`dense_bwd_input`] over [`Phased`]: `Wᵀ · dY` in extended columns (`dY`'s extra
/// columns packed as zeros), each row of it added by the product's store onto its run of
/// the phase planes (col2im without col), and the planes copied back into the image
/// layout once per image.
fn dense_bwd_input_phased<T: Real>(g: &Geom, ph: &Phased, dy: &[T], wt: &[f32]) -> Vec<T> {
    let (k, ohw, og, cg, ow, wa) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow, ph.wa);
    let la = f32_avx512::packed_a_len(k, og);
    // The rows of Wᵀ tap by tap, `(ki, kj, c)`: a tile's rows then add onto MR different
    // channels' planes. In im2col's order `(c, ki, kj)` each row's run is the previous
    // row's shifted one column, so every masked load of the store read back what the row
    // before had just stored at another alignment (a failed store forwarding, a stall,
    // per row). Each channel's taps still come in order, so every plane element receives
    // the same sums in the same order.
    let kk = g.kh * g.kw;
    let order: Vec<usize> = (0..kk)
        .flat_map(|t| (0..cg).map(move |c| c * kk + t))
        .collect();
    let mut pa = vec![0f32; g.groups * la];
    for (grp, o) in pa.chunks_exact_mut(la).enumerate() {
        f32_avx512::pack_a_rows(&order, og, &wt[grp * og * k..], 1, k, o);
    }
    let rows = tile_rows_ext(g, wa);
    let pb_len = f32_avx512::packed_b_len(og, rows * wa);
    // The planes a band at a time: a band's plane rows are complete once its products
    // are in (later output rows reach only later plane rows) and are copied out; the qh
    // rows below them, which the next band's products add to as well, move to the top.
    // Every plane element receives the same sums in the same order as over the whole
    // planes (only the exact zeros of dY's extra columns land elsewhere).
    let band = ph.band(g, rows, g.oh);
    let offs: Vec<usize> = order.iter().map(|&r| band.offs[r]).collect();
    let (plane, carry) = (band.hl * wa, ph.qh * wa);
    let body = cg * g.sh * g.sw * plane;
    // SAFETY: phase_unfill writes every element of each group of each image: the bands'
    // row ranges cover every plane row, the last one those no output reaches.
    let mut dx = unsafe { alloc_for_overwrite::<T>(g.n * g.cin * g.hw()) };
    dx.par_chunks_mut(g.cin * g.hw())
        .enumerate()
        .for_each(|(b, dxb)| {
            with_scratch::<f32, _>(line_len::<f32>(band.len) + pb_len, |scratch| {
                let (buf, pb) = scratch.split_at_mut(line_len::<f32>(band.len));
                for grp in 0..g.groups {
                    let dyg = as_f32(&dy[(b * g.cout + grp * og) * ohw..][..og * ohw]);
                    let pa = &pa[grp * la..][..la];
                    let dxg = as_f32_mut(&mut dxb[grp * cg * g.hw()..][..cg * g.hw()]);
                    for b0 in (0..g.oh).step_by(band.rows) {
                        let b1 = (b0 + band.rows).min(g.oh);
                        if b0 == 0 {
                            buf.fill(0.0);
                        } else {
                            let (planes, slack) = buf.split_at_mut(body);
                            for pl in planes.chunks_exact_mut(plane) {
                                pl.copy_within(band.rows * wa..band.rows * wa + carry, 0);
                                pl[carry..].fill(0.0);
                            }
                            slack.fill(0.0);
                        }
                        for oh0 in (b0..b1).step_by(rows) {
                            let oh1 = (oh0 + rows).min(g.oh);
                            let nce = (oh1 - oh0) * wa;
                            f32_avx512::pack_b_gap(og, nce, &dyg[oh0 * ow..], ohw, ow, wa, pb);
                            // col2im in the product's store: each row of Wᵀ·dY is added
                            // straight onto its run of the planes.
                            let (offs, shift) = (&offs[..], (oh0 - b0) * wa);
                            f32_avx512::gemm_packed_add_offsets(
                                k, nce, og, pa, pb, buf, offs, shift,
                            );
                        }
                        let done = if b1 == g.oh { usize::MAX } else { b1 };
                        phase_unfill_mv(g, (b0, done), ph.ha, band.hl, wa, buf, dxg);
                    }
                }
            })
        });
    dx
}

fn dense_bwd_input<T: Real>(g: &Geom, dy: &[T], wt: &[T]) -> Vec<T> {
    let (k, ohw, og, cg, ow) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow);
    let inner = if g.n >= threads() { 1 } else { threads() };
    let rows = tile_rows::<T>(g);
    let col_len = if g.pointwise() { 0 } else { k * rows * ow };
    let fast = use_avx512::<T>();
    #[cfg(target_arch = "x86_64")]
    if fast && winograd::applies(g) {
        return from_f32(winograd::backward_input(g, as_f32(dy), as_f32(wt)));
    }
    if fast && !batched(g) {
        if let Some(ph) = Phased::new(g) {
            return dense_bwd_input_phased(g, &ph, dy, as_f32(wt));
        }
    }
    let la = f32_avx512::packed_a_len(k, og);
    let pa = if fast {
        let mut pa = vec![0f32; g.groups * la];
        for (grp, o) in pa.chunks_exact_mut(la).enumerate() {
            f32_avx512::pack_a(k, og, &as_f32(wt)[grp * og * k..], 1, k, o);
        }
        pa
    } else {
        Vec::new()
    };
    if fast && batched(g) {
        return from_f32(dense_bwd_input_batched(g, as_f32(dy), &pa));
    }
    let pb_len = if fast {
        f32_avx512::packed_b_len(og, rows * ow)
    } else {
        0
    };
    // SAFETY: each image's gradient is zeroed by its own task before col2im adds to it,
    // or (a 1×1 convolution on the AVX-512 path) written whole by the products.
    let mut dx = unsafe { alloc_for_overwrite::<T>(g.n * g.cin * g.hw()) };
    dx.par_chunks_mut(g.cin * g.hw())
        .enumerate()
        .for_each(|(b, dxb)| {
            if !(fast && g.pointwise()) {
                dxb.fill(T::ZERO);
            }
            with_scratch::<T, _>(line_len::<T>(col_len) + pb_len, |scratch| {
                let (col, pb) = scratch.split_at_mut(line_len::<T>(col_len));
                for grp in 0..g.groups {
                    let dyg = &dy[(b * g.cout + grp * og) * ohw..][..og * ohw];
                    let wg = &wt[grp * og * k..][..og * k];
                    let dxg = &mut dxb[grp * cg * g.hw()..][..cg * g.hw()];
                    // dcol (K × OHW) = Wgᵀ (K × og) · dyg (og × OHW)
                    if g.pointwise() && !fast {
                        gemm(k, ohw, og, dxg, false, wg, 1, k, dyg, ohw, 1, inner);
                        continue;
                    }
                    for oh0 in (0..g.oh).step_by(rows) {
                        let oh1 = (oh0 + rows).min(g.oh);
                        let nc = (oh1 - oh0) * ow;
                        let rhs = &dyg[oh0 * ow..];
                        if fast && g.pointwise() {
                            // dcol is the gradient itself: straight into place.
                            let pb = as_f32_mut(pb);
                            f32_avx512::pack_b(og, nc, as_f32(rhs), ohw, pb);
                            let pa = &pa[grp * la..][..la];
                            let d = as_f32_mut(&mut dxg[oh0 * ow..]);
                            f32_avx512::gemm_packed(k, nc, og, pa, pb, d, ohw, false);
                            continue;
                        }
                        let col = &mut col[..k * nc];
                        if fast {
                            let pb = as_f32_mut(pb);
                            f32_avx512::pack_b(og, nc, as_f32(rhs), ohw, pb);
                            let pa = &pa[grp * la..][..la];
                            f32_avx512::gemm_packed(k, nc, og, pa, pb, as_f32_mut(col), nc, false);
                        } else {
                            gemm(k, nc, og, col, false, wg, 1, k, rhs, ohw, 1, inner);
                        }
                        col2im_rows_mv(g, col, dxg, oh0, oh1);
                    }
                }
            })
        });
    dx
}

fn dense_bwd_weight<T: Real>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    if use_avx512::<T>() {
        return dense_bwd_weight_avx512(g, x, dy);
    }
    let (k, ohw, og, cg, ow) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow);
    let wlen = g.cout * k;
    // Parts fixed by the batch size (not the thread count), summed in order.
    let per = reduction_chunk(g.n);
    let inner = if g.n >= threads() { 1 } else { threads() };
    let rows = tile_rows::<T>(g);
    let parts: Vec<Vec<T>> = (0..g.n)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|b0| {
            let mut dw = vec![T::ZERO; wlen];
            let col_len = if g.pointwise() { 0 } else { k * rows * ow };
            with_scratch::<T, _>(col_len, |col| {
                for b in b0..(b0 + per).min(g.n) {
                    for grp in 0..g.groups {
                        let xg = &x[(b * g.cin + grp * cg) * g.hw()..][..cg * g.hw()];
                        let dyg = &dy[(b * g.cout + grp * og) * ohw..][..og * ohw];
                        let dwg = &mut dw[grp * og * k..][..og * k];
                        // dWg (og × K) += dyg (og × OHW) · colᵀ (OHW × K)
                        if g.pointwise() {
                            gemm(og, k, ohw, dwg, true, dyg, ohw, 1, xg, 1, ohw, inner);
                            continue;
                        }
                        for oh0 in (0..g.oh).step_by(rows) {
                            let oh1 = (oh0 + rows).min(g.oh);
                            let nc = (oh1 - oh0) * ow;
                            let col = &mut col[..k * nc];
                            im2col_rows_mv(g, xg, col, oh0, oh1);
                            let lhs = &dyg[oh0 * ow..];
                            gemm(og, k, nc, dwg, true, lhs, ohw, 1, col, 1, nc, inner);
                        }
                    }
                }
            });
            dw
        })
        .collect();
    sum_parts(parts, wlen)
}

/// The weight gradient with [`f32_avx512`]'s product. The pixels, contiguous in both `col`
/// and `dy`, are the product's inner dimension, which the register-tiled kernel wants
/// outermost in its `B` operand: so the transposed gradient is accumulated,
/// `dWgᵀ (K × og) += col (K × nc) · dygᵀ (nc × og)`, block of output rows by block, with
/// the small `dygᵀ` packed from `dy` and `col` (or, for a 1×1 convolution, the input
/// itself) read in place; the parts' sum is transposed once at the end.
fn dense_bwd_weight_avx512<T: Real>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    let (k, ohw, og, cg, ow) = (g.k(), g.ohw(), g.og(), g.cg(), g.ow);
    let wlen = g.cout * k;
    // Parts fixed by the batch size (not the thread count), summed in order.
    let per = reduction_chunk(g.n);
    #[cfg(target_arch = "x86_64")]
    if winograd::applies(g) {
        return from_f32(winograd::backward_weight(g, as_f32(x), as_f32(dy)));
    }
    if batched(g) {
        let dwt = dense_bwd_weight_t_batched(g, as_f32(x), as_f32(dy));
        return from_f32(transpose_groups(g, &dwt));
    }
    let phased = Phased::new(g);
    let wa = phased.as_ref().map_or(ow, |ph| ph.wa);
    let rows = match &phased {
        Some(_) => tile_rows_ext(g, wa),
        None => tile_rows::<T>(g),
    };
    let band = phased.as_ref().map(|ph| ph.band(g, rows, g.oh));
    let (x, dy) = (as_f32(x), as_f32(dy));
    let parts: Vec<Vec<f32>> = (0..g.n)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|b0| {
            let mut dwt = vec![0f32; wlen];
            let col_len = match &band {
                Some(band) => band.len,
                None if g.pointwise() => 0,
                None => k * rows * ow,
            };
            // At most 16 output channels: the narrow tile, whose panels are not half empty.
            let narrow = phased.is_some() && og <= f32_avx512::NR16;
            let pb_len = f32_avx512::packed_b_len(rows * wa, og);
            with_scratch::<f32, _>(line_len::<f32>(col_len) + pb_len, |scratch| {
                let (col, pb) = scratch.split_at_mut(line_len::<f32>(col_len));
                for b in b0..(b0 + per).min(g.n) {
                    for grp in 0..g.groups {
                        let xg = &x[(b * g.cin + grp * cg) * g.hw()..][..cg * g.hw()];
                        let dyg = &dy[(b * g.cout + grp * og) * ohw..][..og * ohw];
                        let dwtg = &mut dwt[grp * og * k..][..og * k];
                        if let Some(band) = &band {
                            // The planes are the im2col rows: read in place, a band at
                            // a time, the blocks (and sums) those of the whole map.
                            for b0 in (0..g.oh).step_by(band.rows) {
                                phase_fill_mv(g, b0, band.hl, wa, xg, col);
                                let b1 = (b0 + band.rows).min(g.oh);
                                for oh0 in (b0..b1).step_by(rows) {
                                    let nrows = (oh0 + rows).min(g.oh) - oh0;
                                    let nce = nrows * wa;
                                    let src = &dyg[oh0 * ow..];
                                    let (offs, shift) = (&band.offs, (oh0 - b0) * wa);
                                    if wa > ow && ow >= REAL_COLS_MIN_OW && !narrow {
                                        // The real pixels alone: no multiply-adds on the
                                        // extra columns' zeros.
                                        let nr = nrows * ow;
                                        f32_avx512::pack_b_t_gap(
                                            nr, og, src, ohw, ow, ow, pb, narrow,
                                        );
                                        f32_avx512::gemm_offsets_acc_rows(
                                            k,
                                            og,
                                            (nrows, ow, wa),
                                            col,
                                            offs,
                                            shift,
                                            pb,
                                            dwtg,
                                            og,
                                        );
                                        continue;
                                    }
                                    f32_avx512::pack_b_t_gap(nce, og, src, ohw, ow, wa, pb, narrow);
                                    f32_avx512::gemm_offsets_acc(
                                        k, og, nce, col, offs, shift, pb, dwtg, og, narrow,
                                    );
                                }
                            }
                            continue;
                        }
                        for oh0 in (0..g.oh).step_by(rows) {
                            let oh1 = (oh0 + rows).min(g.oh);
                            let nc = (oh1 - oh0) * ow;
                            f32_avx512::pack_b_t(nc, og, &dyg[oh0 * ow..], ohw, pb);
                            let (a, lda): (&[f32], usize) = if g.pointwise() {
                                (&xg[oh0 * ow..], ohw)
                            } else {
                                let col = &mut col[..k * nc];
                                im2col_rows_mv(g, xg, col, oh0, oh1);
                                (col, nc)
                            };
                            f32_avx512::gemm_rows_acc(k, og, nc, a, lda, pb, dwtg, og);
                        }
                    }
                }
            });
            dwt
        })
        .collect();
    // Σ dWᵀ, then (K × og per group) → dW (og × K per group), once.
    from_f32(transpose_groups(g, &sum_parts(parts, wlen)))
}

/// `dW` (per group `og × K`) from `dWᵀ` (per group `K × og`).
fn transpose_groups(g: &Geom, dwt: &[f32]) -> Vec<f32> {
    let (k, og) = (g.k(), g.og());
    if f32_avx512::available() {
        // Tasks of 64 output channels (rows of dW), in registers 16 × 16 at a time.
        const ROWS: usize = 64;
        // SAFETY: every row of every group is written by `transpose_cols`.
        let mut dw = unsafe { alloc_for_overwrite::<f32>(dwt.len()) };
        for (src, dst) in dwt.chunks_exact(og * k).zip(dw.chunks_exact_mut(og * k)) {
            dst.par_chunks_mut(ROWS * k).enumerate().for_each(|(i, d)| {
                f32_avx512::transpose_cols(k, og, src, i * ROWS, d.len() / k, d)
            });
        }
        return dw;
    }
    let mut dw = vec![0f32; dwt.len()];
    // 32 × 32 blocks: a 728 × 728 weight (Xception) otherwise writes every value to a
    // different cache line and page.
    const B: usize = 32;
    for grp in 0..g.groups {
        let (src, dst) = (&dwt[grp * og * k..][..og * k], &mut dw[grp * og * k..]);
        for r0 in (0..k).step_by(B) {
            for o0 in (0..og).step_by(B) {
                for r in r0..(r0 + B).min(k) {
                    let row = &src[r * og..][..og];
                    for o in o0..(o0 + B).min(og) {
                        dst[o * k + r] = row[o];
                    }
                }
            }
        }
    }
    dw
}

fn sum_parts<T: Real>(parts: Vec<Vec<T>>, len: usize) -> Vec<T> {
    let mut it = parts.into_iter();
    let mut acc = it.next().unwrap_or_else(|| vec![T::ZERO; len]);
    for p in it {
        for (a, b) in acc.iter_mut().zip(p) {
            *a += b;
        }
    }
    acc
}

// ---------------------------------------------------------------- depthwise

multiversion!(dw_fwd_plane_flat_mv => dw_fwd_plane_flat(taps: &[FlatTap], xp: &[T], wp: &[T], yp: &mut [T]));
multiversion!(dw_bwd_input_plane_flat_mv => dw_bwd_input_plane_flat(taps: &[FlatTap], dyp: &[T], wp: &[T], dxp: &mut [T]));
multiversion!(dw_bwd_weight_plane_flat_mv => dw_bwd_weight_plane_flat(taps: &[FlatTap], xp: &[T], dyp: &[T], dwp: &mut [T]));
multiversion!(dw_phase_fwd_mv => dw_phase_fwd(ph: &DwPhased, g: &Geom, xp: &[T], wp: &[T], yp: &mut [T], buf: &mut [T]));
multiversion!(dw_phase_bwd_input_mv => dw_phase_bwd_input(ph: &DwPhased, g: &Geom, dyp: &[T], wp: &[T], dxp: &mut [T], buf: &mut [T]));
multiversion!(dw_phase_bwd_weight_mv => dw_phase_bwd_weight(ph: &DwPhased, g: &Geom, xp: &[T], dyp: &[T], dwp: &mut [T], buf: &mut [T]));

/// A depthwise convolution that is not [`dw_flat`] (strided, dilated, or not keeping the
/// plane's size) on *phase planes*: the zero-padded input plane split by stride phase,
/// `P_ab[r][c] = x_pad[r·sh + a][c·sw + b]`, so that tap `(ki, kj)` reads plane
/// `(ki·dh mod sh, kj·dw mod sw)` at a fixed offset, contiguously, with no bounds to
/// check. Output rows are computed `wq` wide (the phase planes' width; the `wq − OW`
/// extra columns are dropped), so each tap is one long loop over `(OH − 1)·wq + OW`
/// outputs, and [`dw_taps`] keeps a block of outputs in registers across all the taps.
/// The input gradient is the same product on each phase plane from the zero-padded
/// output gradient (the taps of that phase, offsets mirrored); the weight gradient one
/// dot product per tap.
struct DwPhased {
    hq: usize,
    wq: usize,
    /// `(tap, offset)` into the stacked phase planes, for the forward and the weight
    /// gradient.
    taps: Vec<(usize, usize)>,
    /// Per phase plane `(a·sw + b)`: its taps as `(tap, max_off − off)`, offsets within
    /// the plane mirrored for the input gradient's correlation, and `max_off`.
    phase_taps: Vec<(Vec<(usize, usize)>, usize)>,
    /// The largest `max_off`: zeros before the padded output gradient.
    pad: usize,
    /// Outputs per plane computed `wq` wide: `(OH − 1)·wq + OW`.
    len: usize,
}

impl DwPhased {
    fn new(g: &Geom) -> DwPhased {
        let hq = (g.h + 2 * g.ph).div_ceil(g.sh);
        let wq = (g.w + 2 * g.pw).div_ceil(g.sw);
        let mut taps = Vec::with_capacity(g.kh * g.kw);
        let mut per: Vec<Vec<(usize, usize)>> = vec![Vec::new(); g.sh * g.sw];
        for ki in 0..g.kh {
            let (a, qi) = ((ki * g.dh) % g.sh, ki * g.dh / g.sh);
            for kj in 0..g.kw {
                let (b, qj) = ((kj * g.dw) % g.sw, kj * g.dw / g.sw);
                let phase = a * g.sw + b;
                let off = qi * wq + qj;
                taps.push((ki * g.kw + kj, phase * hq * wq + off));
                per[phase].push((ki * g.kw + kj, off));
            }
        }
        let phase_taps: Vec<_> = per
            .into_iter()
            .map(|t| {
                let max = t.iter().map(|&(_, o)| o).max().unwrap_or(0);
                (t.into_iter().map(|(k, o)| (k, max - o)).collect(), max)
            })
            .collect();
        let pad = phase_taps.iter().map(|t| t.1).max().unwrap_or(0);
        DwPhased {
            hq,
            wq,
            taps,
            phase_taps,
            pad,
            len: (g.oh - 1) * wq + g.ow,
        }
    }

    /// Elements of the stacked phase planes.
    fn planes(&self, g: &Geom) -> usize {
        g.sh * g.sw * self.hq * self.wq
    }

    /// Scratch one plane's pass needs: the phase planes and a `wq`-wide output (forward,
    /// weight gradient) or a padded output gradient (input gradient).
    fn scratch(&self, g: &Geom) -> usize {
        self.planes(g) + self.pad + self.hq * self.wq
    }

    /// `ph ← x` split into zero-padded phase planes.
    #[inline(always)]
    fn fill<T: Real>(&self, g: &Geom, xp: &[T], ph: &mut [T]) {
        ph.fill(T::ZERO);
        let plane = self.hq * self.wq;
        for ih in 0..g.h {
            let r = ih + g.ph;
            let (a, rq) = (r % g.sh, r / g.sh);
            let xr = &xp[ih * g.w..(ih + 1) * g.w];
            let dst = &mut ph[a * g.sw * plane + rq * self.wq..];
            split_row_phases(xr, g.pw, g.sw, dst, plane);
        }
    }

    /// `dx ← dP`: the input's positions read back out of the phase planes.
    #[inline(always)]
    fn unfill<T: Real>(&self, g: &Geom, ph: &[T], dxp: &mut [T]) {
        let plane = self.hq * self.wq;
        for ih in 0..g.h {
            let r = ih + g.ph;
            let (a, rq) = (r % g.sh, r / g.sh);
            let dxr = &mut dxp[ih * g.w..(ih + 1) * g.w];
            add_row_phases(
                &ph[a * g.sw * plane + rq * self.wq..],
                plane,
                g.pw,
                g.sw,
                dxr,
            );
        }
    }
}

/// `out[i] = Σ_(t, o) w[t] · src[o + i]` over all `i`: blocks of 64 outputs held in
/// registers across the taps (one load and one multiply-add per tap and element).
#[inline(always)]
fn dw_taps<T: Real>(src: &[T], taps: &[(usize, usize)], wp: &[T], out: &mut [T]) {
    const B: usize = 64;
    let len = out.len();
    let mut i0 = 0;
    while i0 + B <= len {
        let mut acc = [T::ZERO; B];
        for &(t, o) in taps {
            let wv = wp[t];
            let s = &src[o + i0..o + i0 + B];
            for l in 0..B {
                acc[l] += wv * s[l];
            }
        }
        out[i0..i0 + B].copy_from_slice(&acc);
        i0 += B;
    }
    if i0 < len {
        let rest = len - i0;
        let mut acc = [T::ZERO; B];
        for &(t, o) in taps {
            let wv = wp[t];
            let s = &src[o + i0..o + i0 + rest];
            for (a, v) in acc.iter_mut().zip(s) {
                *a += wv * *v;
            }
        }
        out[i0..].copy_from_slice(&acc[..rest]);
    }
}

/// One plane's forward on [`DwPhased`] planes; `buf` is [`DwPhased::scratch`] long.
#[inline(always)]
fn dw_phase_fwd<T: Real>(ph: &DwPhased, g: &Geom, xp: &[T], wp: &[T], yp: &mut [T], buf: &mut [T]) {
    let (planes, wide) = buf.split_at_mut(ph.planes(g));
    ph.fill(g, xp, planes);
    let wide = &mut wide[..ph.len];
    dw_taps(planes, &ph.taps, wp, wide);
    for (oh, yr) in yp.chunks_exact_mut(g.ow).enumerate() {
        yr.copy_from_slice(&wide[oh * ph.wq..][..g.ow]);
    }
}

/// The output gradient `wq` wide, its extra columns zero, at `buf[at..]`; the rest of
/// `buf[..at + hq·wq]` zero.
#[inline(always)]
fn dw_phase_dy<T: Real>(ph: &DwPhased, g: &Geom, dyp: &[T], buf: &mut [T], at: usize) {
    let end = at + ph.hq * ph.wq;
    buf[..end].fill(T::ZERO);
    for (oh, dr) in dyp.chunks_exact(g.ow).enumerate() {
        buf[at + oh * ph.wq..][..g.ow].copy_from_slice(dr);
    }
}

/// One output plane's contribution to the input gradient: each phase plane
/// `dP_ab[j] = Σ w[t] · dy[j − off_t]` over the taps of that phase, then `dx += dP`.
#[inline(always)]
fn dw_phase_bwd_input<T: Real>(
    ph: &DwPhased,
    g: &Geom,
    dyp: &[T],
    wp: &[T],
    dxp: &mut [T],
    buf: &mut [T],
) {
    let plane = ph.hq * ph.wq;
    let (dplanes, padded) = buf.split_at_mut(ph.planes(g));
    let pad = ph.pad;
    dw_phase_dy(ph, g, dyp, padded, pad);
    for (q, (taps, max)) in ph.phase_taps.iter().enumerate() {
        let out = &mut dplanes[q * plane..(q + 1) * plane];
        if taps.is_empty() {
            out.fill(T::ZERO);
            continue;
        }
        // Tap offset mirrored: src index (max − off) + (pad − max) + j = pad + j − off.
        dw_taps(&padded[pad - max..], taps, wp, out);
    }
    ph.unfill(g, dplanes, dxp);
}

/// One plane's contribution to the weight gradient: a dot product per tap of the
/// `wq`-wide output gradient (extra columns zero) with the phase planes.
#[inline(always)]
fn dw_phase_bwd_weight<T: Real>(
    ph: &DwPhased,
    g: &Geom,
    xp: &[T],
    dyp: &[T],
    dwp: &mut [T],
    buf: &mut [T],
) {
    let (planes, wide) = buf.split_at_mut(ph.planes(g));
    ph.fill(g, xp, planes);
    dw_phase_dy(ph, g, dyp, wide, 0);
    let dyw = &wide[..ph.len];
    for &(t, o) in &ph.taps {
        dwp[t] += dot(dyw, &planes[o..o + ph.len]);
    }
}

/// Whether a depthwise convolution keeps the plane's size with stride 1 and dilation 1:
/// the "flat" kernels then treat each tap as one long loop over the flattened plane.
fn dw_flat(g: &Geom) -> bool {
    g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.oh == g.h && g.ow == g.w
}

/// One tap of a [`dw_flat`] convolution on the flattened `H × W` plane: output
/// `i ∈ lo..hi` reads input `i + off`, except at the columns whose input column left the
/// row and so read the neighbouring row's, which the kernels take back out
/// ([`FlatTap::wrapped`]).
struct FlatTap {
    tap: usize,
    off: isize,
    lo: usize,
    hi: usize,
    /// `(i, i + off)` for the wrapped outputs `i` inside `lo..hi`.
    wrapped: Vec<(usize, usize)>,
}

impl FlatTap {
    /// The taps that see some of the plane, with their ranges.
    fn all(g: &Geom) -> Vec<FlatTap> {
        let (h, w) = (g.h as isize, g.w as isize);
        let n = h * w;
        let mut taps = Vec::with_capacity(g.kh * g.kw);
        for ki in 0..g.kh {
            let dy = ki as isize - g.ph as isize;
            let (r0, r1) = ((-dy).max(0), (h - dy).min(h));
            if r0 >= r1 {
                continue;
            }
            for kj in 0..g.kw {
                let dx = kj as isize - g.pw as isize;
                let off = dy * w + dx;
                let lo = (r0 * w).max(-off).max(0);
                let hi = (r1 * w).min(n - off);
                if lo >= hi {
                    // Only padding under this tap (a kernel wider than the plane).
                    continue;
                }
                let bad = if dx < 0 {
                    0..(-dx).min(w)
                } else {
                    (w - dx).max(0)..w
                };
                let wrapped = (r0..r1)
                    .flat_map(|r| bad.clone().map(move |c| r * w + c))
                    .filter(|&i| i >= lo && i < hi)
                    .map(|i| (i as usize, (i + off) as usize))
                    .collect();
                taps.push(FlatTap {
                    tap: ki * g.kw + kj,
                    off,
                    lo: lo as usize,
                    hi: hi as usize,
                    wrapped,
                });
            }
        }
        taps
    }

    /// The input range `lo + off .. hi + off` of the long loop.
    #[inline(always)]
    fn src(&self) -> std::ops::Range<usize> {
        (self.lo as isize + self.off) as usize..(self.hi as isize + self.off) as usize
    }
}

/// Depthwise forward of one plane for a [`dw_flat`] convolution: each tap is one long
/// multiply-add over the flattened plane, then the few columns that wrapped around a row
/// edge are taken back out. Far fewer, longer loops than [`dw_fwd_plane`] on small
/// feature maps.
#[inline(always)]
fn dw_fwd_plane_flat<T: Real>(taps: &[FlatTap], xp: &[T], wp: &[T], yp: &mut [T]) {
    for t in taps {
        let wv = wp[t.tap];
        for (o, v) in yp[t.lo..t.hi].iter_mut().zip(&xp[t.src()]) {
            *o += wv * *v;
        }
        for &(i, j) in &t.wrapped {
            yp[i] -= wv * xp[j];
        }
    }
}

/// The input gradient of [`dw_fwd_plane_flat`]: `dx[i + off] += w · dy[i]`, tap by tap.
#[inline(always)]
fn dw_bwd_input_plane_flat<T: Real>(taps: &[FlatTap], dyp: &[T], wp: &[T], dxp: &mut [T]) {
    for t in taps {
        let wv = wp[t.tap];
        for (d, v) in dxp[t.src()].iter_mut().zip(&dyp[t.lo..t.hi]) {
            *d += wv * *v;
        }
        for &(i, j) in &t.wrapped {
            dxp[j] -= wv * dyp[i];
        }
    }
}

/// The weight gradient of [`dw_fwd_plane_flat`]: `dw[tap] += Σ_i dy[i] · x[i + off]`, one
/// long dot product per tap.
#[inline(always)]
fn dw_bwd_weight_plane_flat<T: Real>(taps: &[FlatTap], xp: &[T], dyp: &[T], dwp: &mut [T]) {
    for t in taps {
        let mut acc = dot(&dyp[t.lo..t.hi], &xp[t.src()]);
        for &(i, j) in &t.wrapped {
            acc -= dyp[i] * xp[j];
        }
        dwp[t.tap] += acc;
    }
}

/// The AVX-512 kernels of a [`dw_flat`] convolution on f32 ([`dw512`]), where they
/// apply.
fn dw_plane512<T: Real>(g: &Geom) -> Option<dw512::DwPlane> {
    if !(dw_flat(g) && use_avx512::<T>()) {
        return None;
    }
    dw512::DwPlane::new(g.h, g.w, g.kh, g.kw)
}

/// The flat-plane taps of a [`dw_flat`] convolution whose kernels will use them
/// (`wanted`: no [`dw512`] kernel took the pass); none otherwise.
fn flat_taps(g: &Geom, wanted: bool) -> Vec<FlatTap> {
    if wanted && dw_flat(g) {
        FlatTap::all(g)
    } else {
        Vec::new()
    }
}

/// Depthwise: `groups == C_in`, `C_out = m·C_in`; output channel `c·m + j` reads input
/// channel `c` with its own `kH × kW` filter.
fn dw_fwd<T: Real>(g: &Geom, x: &[T], wt: &[T]) -> Vec<T> {
    let m = g.og();
    let (ohw, kk) = (g.ohw(), g.kh * g.kw);
    // SAFETY: each plane is zeroed (flat taps add into it) or overwritten (phase planes)
    // below; zeroed there, in its task, rather than here on one thread.
    let mut y = unsafe { alloc_for_overwrite::<T>(g.n * g.cout * ohw) };
    let flat = dw_flat(g);
    let fast = dw_plane512::<T>(g);
    let taps = flat_taps(g, fast.is_none());
    let ph = (!flat).then(|| DwPhased::new(g));
    y.par_chunks_mut(ohw).enumerate().for_each(|(plane, yp)| {
        let (b, co) = (plane / g.cout, plane % g.cout);
        let ci = co / m;
        let xp = &x[(b * g.cin + ci) * g.hw()..][..g.hw()];
        let wp = &wt[co * kk..][..kk];
        match &ph {
            None => match &fast {
                Some(dp) => dp.fwd(as_f32(xp), as_f32(wp), as_f32_mut(yp), false),
                None => {
                    yp.fill(T::ZERO);
                    dw_fwd_plane_flat_mv(&taps, xp, wp, yp)
                }
            },
            Some(ph) => with_scratch(ph.scratch(g), |buf| dw_phase_fwd_mv(ph, g, xp, wp, yp, buf)),
        }
    });
    y
}

fn dw_bwd_input<T: Real>(g: &Geom, dy: &[T], wt: &[T]) -> Vec<T> {
    let m = g.og();
    let (ohw, kk) = (g.ohw(), g.kh * g.kw);
    // SAFETY: each plane is zeroed in its task before the taps add into it.
    let mut dx = unsafe { alloc_for_overwrite::<T>(g.n * g.cin * g.hw()) };
    let flat = dw_flat(g);
    let fast = dw_plane512::<T>(g);
    let taps = flat_taps(g, fast.is_none());
    let ph = (!flat).then(|| DwPhased::new(g));
    dx.par_chunks_mut(g.hw())
        .enumerate()
        .for_each(|(plane, dxp)| {
            if fast.is_none() {
                dxp.fill(T::ZERO);
            }
            let (b, ci) = (plane / g.cin, plane % g.cin);
            for j in 0..m {
                let co = ci * m + j;
                let dyp = &dy[(b * g.cout + co) * ohw..][..ohw];
                let wp = &wt[co * kk..][..kk];
                match (&ph, &fast) {
                    (None, Some(dp)) => {
                        dp.bwd_input(as_f32(dyp), as_f32(wp), as_f32_mut(dxp), j > 0)
                    }
                    (None, None) => dw_bwd_input_plane_flat_mv(&taps, dyp, wp, dxp),
                    (Some(ph), _) => with_scratch(ph.scratch(g), |buf| {
                        dw_phase_bwd_input_mv(ph, g, dyp, wp, dxp, buf)
                    }),
                }
            }
        });
    dx
}

/// Dot product with 64 independent partial sums (four AVX-512 registers of f32, so that
/// the multiply-adds are not one long dependency chain), summed as a tree.
#[inline(always)]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    const L: usize = 64;
    let mut part = [T::ZERO; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..L {
            part[l] += x[l] * y[l];
        }
    }
    for ((p, x), y) in part.iter_mut().zip(ra).zip(rb) {
        *p += *x * *y;
    }
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            part[l] += part[l + w];
        }
    }
    part[0]
}

fn dw_bwd_weight<T: Real>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    let m = g.og();
    let (ohw, kk) = (g.ohw(), g.kh * g.kw);
    let mut dw = vec![T::ZERO; g.cout * kk];
    let flat = dw_flat(g);
    let fast = dw_plane512::<T>(g).filter(|dp| dp.has_weight_kernel());
    let taps = flat_taps(g, fast.is_none());
    let ph = (!flat).then(|| DwPhased::new(g));
    dw.par_chunks_mut(kk).enumerate().for_each(|(co, dwp)| {
        let ci = co / m;
        for b in 0..g.n {
            let xp = &x[(b * g.cin + ci) * g.hw()..][..g.hw()];
            let dyp = &dy[(b * g.cout + co) * ohw..][..ohw];
            match (&ph, &fast) {
                (None, Some(dp)) => dp.bwd_weight(as_f32(xp), as_f32(dyp), as_f32_mut(dwp)),
                (None, None) => dw_bwd_weight_plane_flat_mv(&taps, xp, dyp, dwp),
                (Some(ph), _) => with_scratch(ph.scratch(g), |buf| {
                    dw_phase_bwd_weight_mv(ph, g, xp, dyp, dwp, buf)
                }),
            }
        }
    });
    dw
}

// ---------------------------------------------------------------- custom ops

/// Gradients of the input and the weight; skipped for a tensor that needs none (an input
/// image, a frozen weight): candle would compute and then discard it.
#[allow(clippy::type_complexity)]
fn conv_grads(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    g: Geom,
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
    conv_grads_for(x, w, dy, g, (x.track_op(), w.track_op()))
}

/// [`conv_grads`] for the gradients `need` asks for: `(input, weight)`.
#[allow(clippy::type_complexity)]
fn conv_grads_for(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    g: Geom,
    need: (bool, bool),
) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
    if need.0 && need.1 && dw_fused(&g) && x.device().is_cpu() {
        let op = DwBwdBoth {
            g,
            dw: std::sync::Mutex::new(None),
        };
        let dx = x.apply_op3_no_bwd(dy, w, &op)?;
        let dw = match op.dw.into_inner().expect("not poisoned") {
            Some(CpuStorage::F32(v)) => Tensor::from_vec(v, g.weight_shape(), x.device())?,
            Some(CpuStorage::F64(v)) => Tensor::from_vec(v, g.weight_shape(), x.device())?,
            _ => candle_core::bail!("depthwise backward: no weight gradient"),
        };
        return Ok((Some(dx), Some(dw)));
    }
    let dx = if need.0 {
        Some(dy.apply_op2_no_bwd(w, &Conv2dBwdInput { g })?)
    } else {
        None
    };
    let dw = if need.1 {
        Some(x.apply_op2_no_bwd(dy, &Conv2dBwdWeight { g })?)
    } else {
        None
    };
    Ok((dx, dw))
}

/// Whether both gradients of a depthwise convolution come from one pass over its planes
/// ([`dw_bwd_both`]): the flat-plane kernels, one output channel per input channel.
fn dw_fused(g: &Geom) -> bool {
    g.depthwise() && g.og() == 1 && dw_flat(g)
}

/// Both gradients of a [`dw_fused`] convolution in one pass: each task takes one plane of
/// `dy` (in cache once) for its plane of `dx` and for its nine (`kH·kW`) weight-gradient
/// sums, which are then added up over the batch in order. The same sums in the same order
/// as [`dw_bwd_input`] and [`dw_bwd_weight`] (which add each plane's sum to the running
/// total as they go), so the same bits; `x` and `dy` are read once, not twice, and there
/// is one parallel pass, not two.
fn dw_bwd_both<T: Real>(g: &Geom, x: &[T], dy: &[T], wt: &[T]) -> (Vec<T>, Vec<T>) {
    let (hw, kk) = (g.hw(), g.kh * g.kw);
    let fast = dw_plane512::<T>(g).filter(|dp| dp.has_weight_kernel());
    let taps = flat_taps(g, fast.is_none());
    // SAFETY: each plane is zeroed in its task before the taps add into it.
    let mut dx = unsafe { alloc_for_overwrite::<T>(g.n * g.cin * hw) };
    let mut part = vec![T::ZERO; g.n * g.cin * kk];
    dx.par_chunks_mut(hw)
        .zip(part.par_chunks_mut(kk))
        .enumerate()
        .for_each(|(plane, (dxp, pp))| {
            let c = plane % g.cin;
            let (xp, dyp) = (&x[plane * hw..][..hw], &dy[plane * hw..][..hw]);
            let wp = &wt[c * kk..][..kk];
            match &fast {
                Some(dp) => {
                    dp.bwd_input(as_f32(dyp), as_f32(wp), as_f32_mut(dxp), false);
                    dp.bwd_weight(as_f32(xp), as_f32(dyp), as_f32_mut(pp));
                }
                None => {
                    dxp.fill(T::ZERO);
                    dw_bwd_input_plane_flat_mv(&taps, dyp, wp, dxp);
                    dw_bwd_weight_plane_flat_mv(&taps, xp, dyp, pp);
                }
            }
        });
    let mut dw = vec![T::ZERO; g.cout * kk];
    dw.par_chunks_mut(kk).enumerate().for_each(|(c, dwp)| {
        for b in 0..g.n {
            for (d, v) in dwp.iter_mut().zip(&part[(b * g.cin + c) * kk..][..kk]) {
                *d += *v;
            }
        }
    });
    (dx, dw)
}

/// [`dw_bwd_both`] as an op on `(x, dy, w)`: returns `dx` and leaves `dw` in `self.dw`.
struct DwBwdBoth {
    g: Geom,
    dw: std::sync::Mutex<Option<CpuStorage>>,
}

impl CustomOp3 for DwBwdBoth {
    fn name(&self) -> &'static str {
        "candor-depthwise-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        dispatch!(s1, "depthwise backward", |T| {
            let (x, dy, w) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let (dx, dw) = dw_bwd_both(&g, x, dy, w);
            *self.dw.lock().expect("not poisoned") = Some(T::wrap(dw));
            Ok(out(T::wrap(dx), g.in_shape()))
        })
    }
}

fn geom(x: &[usize], w: &[usize], p: &Conv2dParams) -> candle_core::Result<Geom> {
    Geom::new(x, w, p).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// The forward pass, with the bias (if any) added per output plane.
pub(super) fn forward<T: Real>(g: &Geom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    if !g.depthwise() {
        return dense_fwd(g, x, w, bias);
    }
    let mut y = dw_fwd(g, x, w);
    if let Some(b) = bias {
        y.par_chunks_mut(g.ohw()).enumerate().for_each(|(pl, yp)| {
            let bv = b[pl % g.cout];
            yp.iter_mut().for_each(|v| *v += bv);
        });
    }
    y
}

/// The gradient of the input `(N, C_in, H, W)` from `dy` `(N, C_out, oh, ow)`.
pub(super) fn input_grad<T: Real>(g: &Geom, dy: &[T], w: &[T]) -> Vec<T> {
    if g.depthwise() {
        dw_bwd_input(g, dy, w)
    } else {
        dense_bwd_input(g, dy, w)
    }
}

/// The gradient of the weight `(C_out, C_in/groups, kH, kW)`.
pub(super) fn weight_grad<T: Real>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    if g.depthwise() {
        dw_bwd_weight(g, x, dy)
    } else {
        dense_bwd_weight(g, x, dy)
    }
}

struct Conv2dOp {
    p: Conv2dParams,
}

struct Conv2dBwdInput {
    g: Geom,
}

struct Conv2dBwdWeight {
    g: Geom,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "candor-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        dispatch!(s1, "conv2d", |T| {
            let (x, w) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(forward(&g, x, w, None)), g.out_shape()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        let d = g.cuda_depthwise()?;
        let y = super::cuda::dw_fwd(&d, (s1, l1), (s2, l2), None)?;
        Ok((y, g.out_shape().into()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = geom(x.dims(), w.dims(), &self.p)?;
        let dy = dy.contiguous()?;
        let (dx, dw) = conv_grads(x, w, &dy, g)?;
        Ok((dx, dw))
    }
}

struct Conv2dBiasOp {
    p: Conv2dParams,
}

/// `dy` summed over batch and space: the bias gradient, `(C_out,)`.
pub(super) struct BiasGrad;

impl CustomOp3 for Conv2dBiasOp {
    fn name(&self) -> &'static str {
        "candor-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        dispatch!(s1, "conv2d", |T| {
            let (x, w, b) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            Ok(out(T::wrap(forward(&g, x, w, Some(b))), g.out_shape()))
        })
    }

    #[cfg(feature = "cuda")]
    #[allow(clippy::too_many_arguments)]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        let d = g.cuda_depthwise()?;
        let y = super::cuda::dw_fwd(&d, (s1, l1), (s2, l2), Some((s3, l3)))?;
        Ok((y, g.out_shape().into()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = geom(x.dims(), w.dims(), &self.p)?;
        let dy = dy.contiguous()?;
        let (dx, dw) = conv_grads(x, w, &dy, g)?;
        let db = if b.track_op() {
            Some(dy.apply_op1_no_bwd(&BiasGrad)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// Channels whose sums [`channel_sums`] interleaves.
const CHANNEL_SUMS: usize = 8;

/// The sums over batch and pixels of channels `c0..c0 + m` (`m ≤ CHANNEL_SUMS`) of `dy`
/// (`n × c × hw`), each added in the order of its values.
fn channel_sums<T: Real>(
    dy: &[T],
    (n, c, hw): (usize, usize, usize),
    c0: usize,
    m: usize,
) -> Vec<T> {
    let mut acc = [T::ZERO; CHANNEL_SUMS];
    for b in 0..n {
        let planes: [&[T]; CHANNEL_SUMS] =
            std::array::from_fn(|k| &dy[(b * c + c0 + k.min(m - 1)) * hw..][..hw]);
        if m == CHANNEL_SUMS {
            for i in 0..hw {
                for (a, p) in acc.iter_mut().zip(&planes) {
                    *a += p[i];
                }
            }
        } else {
            for i in 0..hw {
                for (a, p) in acc.iter_mut().zip(&planes).take(m) {
                    *a += p[i];
                }
            }
        }
    }
    acc[..m].to_vec()
}

impl candle_core::CustomOp1 for BiasGrad {
    fn name(&self) -> &'static str {
        "candor-bias-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let &[n, c, h, w] = l.dims() else {
            candle_core::bail!("bias grad expects (N, C, H, W)")
        };
        dispatch!(s, "conv2d bias backward", |T| {
            let dy = slice::<T>(s, l)?;
            // Up to 8 channels per task, their sums interleaved: each channel's sum is one
            // chain of additions in the order of its values (batch, then pixels), as one
            // channel per task had it, but 8 chains run side by side instead of one
            // waiting on each add's latency.
            let per = c.div_ceil(2 * threads()).clamp(1, CHANNEL_SUMS);
            let db: Vec<T> = (0..c)
                .step_by(per)
                .collect::<Vec<_>>()
                .into_par_iter()
                .flat_map_iter(|c0| channel_sums(dy, (n, c, h * w), c0, per.min(c - c0)))
                .collect();
            Ok(out(T::wrap(db), c))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let &[n, c, h, w] = l.dims() else {
            candle_core::bail!("bias grad expects (N, C, H, W)")
        };
        Ok((super::cuda::channel_sum(n, c, h * w, (s, l))?, c.into()))
    }
}

impl CustomOp2 for Conv2dBwdInput {
    fn name(&self) -> &'static str {
        "candor-conv2d-bwd-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        dispatch!(s1, "conv2d backward", |T| {
            let (dy, w) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(input_grad(&g, dy, w)), g.in_shape()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let d = self.g.cuda_depthwise()?;
        let dx = super::cuda::dw_bwd_input(&d, (s1, l1), (s2, l2))?;
        Ok((dx, self.g.in_shape().into()))
    }
}

impl CustomOp2 for Conv2dBwdWeight {
    fn name(&self) -> &'static str {
        "candor-conv2d-bwd-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        dispatch!(s1, "conv2d backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            Ok(out(T::wrap(weight_grad(&g, x, dy)), g.weight_shape()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let d = self.g.cuda_depthwise()?;
        let dw = super::cuda::dw_bwd_weight(&d, (s1, l1), (s2, l2))?;
        Ok((dw, self.g.weight_shape().into()))
    }
}

/// `torch.nn.functional.conv2d(x, weight, stride, padding, dilation, groups)` without bias.
/// `x` is `(N, C_in, H, W)`, `weight` is `(C_out, C_in/groups, kH, kW)`; f32 or f64.
/// Differentiable with respect to both.
pub fn conv2d(x: &Tensor, weight: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    conv2d_bias(x, weight, None, p)
}

/// [`conv2d`] with an optional bias `(C_out,)` added inside the kernel (and its gradient
/// computed in one pass), which saves candle's broadcast-add and its reduction backward.
/// Off the CPU (or for dtypes other than f32/f64) candle's convolution runs where it is
/// correct for the call (`candle_support`); elsewhere the error names the reason.
pub fn conv2d_bias(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: Conv2dParams,
) -> Result<Tensor> {
    let g = checked_geom(x, weight, bias, &p)?;
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    // Depthwise convolutions have a CUDA kernel (f32); the rest go to candle on a GPU.
    match route_with_cuda("conv2d", &inputs, candle_support(&g), g.depthwise())? {
        Route::Candle => candle_conv2d(x, weight, bias, &p),
        Route::Kernel => {
            let (x, w) = (x.contiguous()?, weight.contiguous()?);
            Ok(match bias {
                None => x.apply_op2(&w, Conv2dOp { p })?,
                Some(b) => x.apply_op3(&w, &b.contiguous()?, Conv2dBiasOp { p })?,
            })
        }
    }
}

/// The gradients of [`conv2d`] for an output gradient `dy`, without an autograd graph:
/// `(∂L/∂x, ∂L/∂weight)` of `L = Σ dy ⊙ conv2d(x, weight)`. The CPU runs the kernels of
/// `conv2d`'s own backward (both from one pass over the planes for a depthwise "same"
/// convolution); elsewhere candle's convolution and backprop give them.
///
/// For training loops that keep their own gradients, and for timing a convolution's
/// backward alone: `loss.backward()` through candle also zero-fills and adds a buffer for
/// each gradient it stores.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{conv2d_backward, Conv2dParams};
/// let x = Tensor::randn(0f32, 1.0, (2, 4, 8, 8), &Device::Cpu)?;
/// let w = Tensor::randn(0f32, 1.0, (4, 1, 3, 3), &Device::Cpu)?;
/// let p = Conv2dParams { padding: (1, 1), groups: 4, ..Default::default() };
/// let dy = Tensor::ones((2, 4, 8, 8), candle_core::DType::F32, &Device::Cpu)?;
/// let (dx, dw) = conv2d_backward(&x, &w, &dy, p)?;
/// assert_eq!((dx.dims(), dw.dims()), (x.dims(), w.dims()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn conv2d_backward(
    x: &Tensor,
    weight: &Tensor,
    dy: &Tensor,
    p: Conv2dParams,
) -> Result<(Tensor, Tensor)> {
    let g = checked_geom(x, weight, None, &p)?;
    let (n, c, oh, ow) = g.out_shape();
    if dy.dims() != [n, c, oh, ow] || dy.dtype() != x.dtype() {
        return Err(Error::invalid(format!(
            "conv2d_backward: the output gradient must be {:?} {:?}, got {:?} {:?}",
            [n, c, oh, ow],
            x.dtype(),
            dy.dims(),
            dy.dtype()
        )));
    }
    match route_with_cuda(
        "conv2d",
        &[x, weight, dy],
        candle_support(&g),
        g.depthwise(),
    )? {
        Route::Kernel => {
            let (x, w, dy) = (x.contiguous()?, weight.contiguous()?, dy.contiguous()?);
            match conv_grads_for(&x, &w, &dy, g, (true, true))? {
                (Some(dx), Some(dw)) => Ok((dx, dw)),
                _ => unreachable!("both gradients were asked for"),
            }
        }
        Route::Candle => {
            let xv = candle_core::Var::from_tensor(x)?;
            let wv = candle_core::Var::from_tensor(weight)?;
            let y = candle_conv2d(xv.as_tensor(), wv.as_tensor(), None, &p)?;
            let grads = super::backward_from(&y, dy)?;
            let get = |v: &candle_core::Var| {
                grads
                    .get(v.as_tensor())
                    .cloned()
                    .ok_or_else(|| Error::invalid("conv2d_backward: candle gave no gradient"))
            };
            Ok((get(&xv)?, get(&wv)?))
        }
    }
}

/// `act(conv2d_bias(x, weight, bias))`, the activation applied in place to the
/// convolution's output as one graph node in training: no second tensor, no separate
/// activation pass over it, and the convolution's output gradient `dy · f′(y)` formed
/// once in its backward instead of through a node of its own (with candle's gradient
/// accumulation for it). The values and gradients are those of the two ops, bit for bit
/// (up to the sign of zero gradients). Activations whose derivative needs the input
/// ([`Activation::needs_input`]: SiLU), other devices and dtypes run as the two ops.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candor_core::ops::{conv2d_bias, conv2d_bias_act, relu, Activation, Conv2dParams};
/// let x = Tensor::randn(0f32, 1.0, (2, 3, 8, 8), &Device::Cpu)?;
/// let w = Tensor::randn(0f32, 1.0, (4, 3, 3, 3), &Device::Cpu)?;
/// let b = Tensor::randn(0f32, 1.0, 4, &Device::Cpu)?;
/// let p = Conv2dParams { padding: (1, 1), ..Default::default() };
/// let y = conv2d_bias_act(&x, &w, Some(&b), p, Activation::Relu)?;
/// let two_ops = relu(&conv2d_bias(&x, &w, Some(&b), p)?)?;
/// assert_eq!(y.dims(), &[2, 4, 8, 8]);
/// assert_eq!(
///     (y - two_ops)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?,
///     0.0
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn conv2d_bias_act(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: Conv2dParams,
    act: Activation,
) -> Result<Tensor> {
    act.validate()?;
    let g = checked_geom(x, weight, bias, &p)?;
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    let fused = !act.needs_input()
        && act != Activation::Identity
        && x.device().is_cpu()
        && matches!(
            route_with_cuda("conv2d", &inputs, candle_support(&g), g.depthwise())?,
            Route::Kernel
        );
    if !fused {
        return act.apply(&conv2d_bias(x, weight, bias, p)?);
    }
    let (x, w) = (x.contiguous()?, weight.contiguous()?);
    let op = Conv2dActOp { p, act };
    Ok(match bias {
        None => x.apply_op2(&w, op)?,
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op)?,
    })
}

/// [`super::conv2d_batch_norm_train_act`]'s node on the CPU: the convolution (no bias),
/// a training-mode batch norm over its output and `act`. The convolution's output `z` is
/// kept inside the op for the backward instead of being a graph node of its own.
struct ConvBnTrain {
    p: Conv2dParams,
    saved: BnSaved,
}

impl CustomOp3 for ConvBnTrain {
    fn name(&self) -> &'static str {
        "candor-conv2d-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        let c = g.cout;
        if l3.shape().elem_count() != 2 * c {
            candle_core::bail!(
                "conv2d_batch_norm: [γ, β] {:?} for {c} output channels",
                l3.dims()
            );
        }
        dispatch!(s1, "conv2d_batch_norm", |T| {
            let (x, w, gb) = (
                slice::<T>(s1, l1)?,
                slice::<T>(s2, l2)?,
                slice::<T>(s3, l3)?,
            );
            let z = forward(&g, x, w, None);
            let y = self
                .saved
                .forward(z, (g.n, c, g.ohw()), g.out_shape(), gb)?;
            Ok(out(T::wrap(y), g.out_shape()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        gb: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dz, dgb) = self.saved.backward("conv2d_batch_norm", gb, res, dy)?;
        let g = geom(x.dims(), w.dims(), &self.p)?;
        let (dx, dw) = conv_grads_for(x, w, &dz, g, (x.track_op(), w.track_op()))?;
        Ok((dx, dw, dgb))
    }
}

/// The kernel route of [`super::conv2d_batch_norm_train_act`]: `gb` = `[γ, β]`. Returns
/// the output and the batch statistics; `None` where the convolution does not run on
/// candor's CPU kernels (the caller composes the two ops instead).
pub(crate) fn conv_bn_train_fused(
    x: &Tensor,
    w: &Tensor,
    gb: &Tensor,
    p: Conv2dParams,
    eps: f64,
    act: Activation,
) -> Result<Option<(Tensor, BnStats)>> {
    let g = checked_geom(x, w, None, &p)?;
    if g.n * g.ohw() < 2 {
        return Err(Error::invalid(format!(
            "batch_norm in training mode needs more than one value per channel, got {:?}",
            g.out_shape()
        )));
    }
    let on_kernels = x.device().is_cpu()
        && matches!(
            route_with_cuda("conv2d", &[x, w], candle_support(&g), g.depthwise())?,
            Route::Kernel
        );
    if !on_kernels {
        return Ok(None);
    }
    Ok(Some(apply_with_stats(x, w, gb, |stats| ConvBnTrain {
        p,
        saved: BnSaved::new(eps, act, stats, x.device()),
    })?))
}

/// The geometry of `conv2d_bias`'s arguments, with their dtypes and the bias's shape
/// checked.
fn checked_geom(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
) -> Result<Geom> {
    let g = Geom::new(x.dims(), weight.dims(), p)?;
    if x.dtype() != weight.dtype() {
        return Err(Error::invalid(format!(
            "conv2d: input is {:?} but weight is {:?}",
            x.dtype(),
            weight.dtype()
        )));
    }
    if let Some(b) = bias {
        if b.dims() != [weight.dim(0)?] || b.dtype() != x.dtype() {
            return Err(Error::invalid(format!(
                "conv2d: bias must be ({},) {:?}, got {:?} {:?}",
                weight.dim(0)?,
                x.dtype(),
                b.dims(),
                b.dtype()
            )));
        }
    }
    Ok(g)
}

/// [`conv2d_bias_act`]'s node: the convolution (with or without bias), then the
/// activation in place; its backward forms `dy · f′(y)` from the output and runs the
/// convolution's.
struct Conv2dActOp {
    p: Conv2dParams,
    act: Activation,
}

impl Conv2dActOp {
    fn fwd(
        &self,
        (s1, l1): (&CpuStorage, &Layout),
        (s2, l2): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), &self.p)?;
        let act = self.act;
        dispatch!(s1, "conv2d", |T| {
            let (x, w) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let b = match bias {
                Some((s3, l3)) => Some(slice::<T>(s3, l3)?),
                None => None,
            };
            let mut y = forward(&g, x, w, b);
            y.par_chunks_mut(1 << 14)
                .for_each(|c| act_inplace_chunk(c, act));
            Ok(out(T::wrap(y), g.out_shape()))
        })
    }

    /// `(dx, dw, db)` from the output `y` and its gradient.
    #[allow(clippy::type_complexity)]
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = geom(x.dims(), w.dims(), &self.p)?;
        let dz = y.apply_op2_no_bwd(&dy.contiguous()?, &ActBwd(self.act))?;
        let (dx, dw) = conv_grads(x, w, &dz, g)?;
        let db = match b {
            Some(b) if b.track_op() => Some(dz.apply_op1_no_bwd(&BiasGrad)?),
            _ => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for Conv2dActOp {
    fn name(&self) -> &'static str {
        "candor-conv2d-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.grads(x, w, None, res, dy)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Conv2dActOp {
    fn name(&self) -> &'static str {
        "candor-conv2d-bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.grads(x, w, Some(b), res, dy)
    }
}

/// `candle_support` for an input, weight and parameters (checked as [`conv2d`] does).
#[cfg(test)]
pub(super) fn candle_conv_support(x: &[usize], w: &[usize], p: &Conv2dParams) -> Result<Candle> {
    Ok(candle_support(&Geom::new(x, w, p)?))
}

/// How far candle's `Tensor::conv2d` can be trusted for this geometry. It takes one
/// stride, padding and dilation for both axes; its backward derives the input
/// gradient's `output_padding` from the height alone, which gives the wrong width when
/// the two axes leave different remainders.
fn candle_support(g: &Geom) -> Candle {
    if g.sh != g.sw || g.ph != g.pw || g.dh != g.dw {
        return Candle::Missing("conv2d takes one stride, padding and dilation for both axes");
    }
    let rem = |len: usize, k: usize| (len + 2 * g.ph - g.dh * (k - 1) - 1) % g.sh;
    if rem(g.h, g.kh) != rem(g.w, g.kw) {
        return Candle::ForwardOnly(
            "backward takes the width's output padding from the height, which is wrong \
             for this input size",
        );
    }
    Candle::Trainable
}

/// candle's convolution (plus a broadcast bias), for the calls `candle_support` admits.
pub(super) fn candle_conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
) -> Result<Tensor> {
    let y = x.conv2d(weight, p.padding.0, p.stride.0, p.dilation.0, p.groups)?;
    Ok(match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?,
        None => y,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededRng;
    use candle_core::{DType, Device};

    fn rand(shape: &[usize], seed: u64, dt: DType) -> Tensor {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, dt, &Device::Cpu)
            .unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        crate::gradcheck::max_abs_diff(a, b).unwrap()
    }

    /// `conv2d_bias` of seeded random x, weight and bias on `dev` in `dt`, and the
    /// gradients of Σ y·r (r seeded random): `(y, [dx, dw, db])`, on the CPU in f64.
    fn conv_and_grads(
        xs: &[usize],
        ws: &[usize],
        p: Conv2dParams,
        seed: u64,
        dt: DType,
        dev: &Device,
    ) -> (Tensor, [Tensor; 3]) {
        let var = |t: Tensor| candle_core::Var::from_tensor(&t.to_device(dev).unwrap()).unwrap();
        let x = var(rand(xs, seed, dt));
        let w = var(rand(ws, 50 + seed, dt));
        let b = var(rand(&[ws[0]], 90 + seed, dt));
        let y = conv2d_bias(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), p).unwrap();
        let r = rand(y.dims(), 200 + seed, dt).to_device(dev).unwrap();
        let gr = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let host = |t: &Tensor| {
            t.to_device(&Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
        };
        let grads = [x.as_tensor(), w.as_tensor(), b.as_tensor()].map(|t| host(gr.get(t).unwrap()));
        (host(&y), grads)
    }

    /// `got` (an output and its three gradients) within [`f32_tol`] of `want`.
    fn assert_close(got: (&Tensor, &[Tensor; 3]), want: (&Tensor, &[Tensor; 3]), what: &str) {
        assert!(max_diff(got.0, want.0) < f32_tol(want.0), "{what}: forward");
        for (j, (a, b)) in got.1.iter().zip(want.1).enumerate() {
            assert!(max_diff(a, b) < f32_tol(b), "{what}: gradient {j}");
        }
    }

    /// (input shape, weight shape, stride, padding, dilation, groups).
    type Case<'a> = (&'a [usize], &'a [usize], usize, usize, usize, usize);

    /// Square stride, padding and dilation, and the groups, as op parameters.
    fn params(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
        crate::nn::Conv2dConfig {
            stride,
            padding,
            dilation,
            groups,
            ..Default::default()
        }
        .params()
    }

    /// 1e-4 of `1 + max |t|`: the tolerance of an f32 result against a reference `t`.
    fn f32_tol(t: &Tensor) -> f64 {
        1e-4 * (1.0
            + t.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap())
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_depthwise_matches_the_cpu_forward_and_gradients() {
        let Some(gpu) = crate::ops::gpu_for_tests() else {
            return;
        };
        // (x, weight, stride, padding, dilation, groups): multipliers 1 and 2, stride 2,
        // dilation, a 5×5 kernel, an odd map, a kernel larger than the padded input.
        let cases: &[Case] = &[
            (&[2, 8, 17, 13], &[8, 1, 3, 3], 1, 1, 1, 8),
            (&[3, 6, 20, 20], &[12, 1, 3, 3], 2, 1, 1, 6),
            (&[1, 4, 31, 9], &[4, 1, 5, 5], 1, 4, 2, 4),
            (&[2, 5, 3, 2], &[5, 1, 5, 5], 1, 2, 1, 5),
            (&[16, 64, 32, 32], &[64, 1, 3, 3], 1, 1, 1, 64),
        ];
        for (i, &(xs, ws, st, pd, dl, g)) in cases.iter().enumerate() {
            let p = params(st, pd, dl, g);
            let run = |dev: &Device| conv_and_grads(xs, ws, p, 10 + i as u64, DType::F32, dev);
            let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&gpu));
            assert_close((&yg, &gg), (&yc, &gc), &format!("case {i}"));
        }
    }

    #[test]
    fn kernel_larger_than_a_tiny_input() {
        // EfficientNet's 5×5 "same" convolutions reach 1×1 and 2×1 maps on small
        // images: kernel taps that see only padding must be skipped, not indexed.
        for (xs, ws, groups, pad, stride) in [
            ([2usize, 3, 1, 1], [3usize, 1, 5, 5], 3, 2, 1),
            ([1, 4, 2, 1], [4, 1, 5, 5], 4, 2, 2),
            ([2, 2, 1, 1], [3, 2, 5, 5], 1, 2, 1),
            ([1, 2, 1, 2], [2, 2, 3, 3], 1, 1, 2),
        ] {
            let x = candle_core::Var::from_tensor(&rand(&xs, 1, DType::F64)).unwrap();
            let w = candle_core::Var::from_tensor(&rand(&ws, 2, DType::F64)).unwrap();
            let p = crate::nn::Conv2dConfig {
                stride,
                padding: pad,
                groups,
                ..Default::default()
            }
            .params();
            let y = conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
            let theirs = x
                .as_tensor()
                .conv2d(w.as_tensor(), pad, stride, 1, groups)
                .unwrap();
            assert!(max_diff(&y, &theirs) < 1e-12, "{xs:?} {ws:?}");
            let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            assert!(g.get(x.as_tensor()).is_some() && g.get(w.as_tensor()).is_some());
        }
    }

    #[test]
    fn forward_matches_candle() {
        // (x shape, w shape, stride, padding, dilation, groups)
        let cases: &[Case] = &[
            (&[2, 3, 9, 11], &[4, 3, 3, 3], 1, 1, 1, 1),
            (&[2, 3, 9, 11], &[4, 3, 3, 3], 2, 0, 1, 1),
            (&[1, 4, 10, 7], &[6, 2, 3, 3], 2, 1, 1, 2),
            (&[2, 4, 12, 12], &[4, 1, 3, 3], 1, 1, 1, 4),
            (&[2, 4, 12, 13], &[8, 1, 5, 5], 2, 2, 1, 4),
            (&[2, 5, 8, 8], &[7, 5, 1, 1], 1, 0, 1, 1),
            (&[1, 2, 13, 13], &[3, 2, 3, 3], 1, 2, 2, 1),
            (&[3, 6, 7, 9], &[6, 1, 3, 3], 1, 2, 2, 6),
            // Depthwise "same" convolutions take the flat-plane path (multiplier 2,
            // a kernel wider than the image).
            (&[2, 3, 6, 5], &[6, 1, 5, 5], 1, 2, 1, 3),
            (&[1, 2, 4, 3], &[2, 1, 7, 7], 1, 3, 1, 2),
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            let x = rand(xs, i as u64, DType::F64);
            let w = rand(ws, 100 + i as u64, DType::F64);
            let ours = conv2d(
                &x,
                &w,
                crate::nn::Conv2dConfig {
                    stride: s,
                    padding: p,
                    dilation: d,
                    groups: g,
                    ..Default::default()
                }
                .params(),
            )
            .unwrap();
            let theirs = x.conv2d(&w, p, s, d, g).unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "case {i}");
            assert!(max_diff(&ours, &theirs) < 1e-10, "case {i}");
        }
    }

    #[test]
    fn im2col_into_packed_panels_equals_im2col_then_pack() {
        // Strides, dilations, paddings, kernels wider than the padding, rows that end
        // mid-panel, and blocks that start at a later output row.
        type Case = ([usize; 4], [usize; 4], usize, usize, usize, usize, usize);
        let cases: &[Case] = &[
            ([1, 3, 9, 11], [5, 3, 3, 3], 1, 1, 1, 0, 9),
            ([1, 4, 13, 70], [6, 4, 3, 3], 2, 1, 1, 1, 5),
            ([1, 2, 17, 15], [3, 2, 5, 3], 1, 2, 2, 3, 11),
            ([1, 5, 8, 33], [2, 5, 3, 5], 1, 0, 1, 0, 4),
            ([1, 1, 6, 7], [1, 1, 7, 7], 1, 3, 1, 2, 6),
        ];
        for (i, (xs, ws, st, pd, dl, oh0, oh1)) in cases.iter().enumerate() {
            let p = Conv2dParams {
                stride: (*st, *st),
                padding: (*pd, *pd),
                dilation: (*dl, *dl),
                groups: 1,
            };
            let g = geom(xs, ws, &p).unwrap();
            let (oh0, oh1) = (*oh0, (*oh1).min(g.oh));
            let x: Vec<f32> = (0..xs.iter().product::<usize>())
                .map(|v| (v as f32 * 0.37).sin())
                .collect();
            let (k, nc) = (g.k(), (oh1 - oh0) * g.ow);
            let mut col = vec![0f32; k * nc];
            im2col_rows(&g, &x, &mut col, oh0, oh1);
            let mut want = vec![f32::NAN; f32_avx512::packed_b_len(k, nc)];
            f32_avx512::pack_b(k, nc, &col, nc, &mut want);
            let mut got = vec![f32::NAN; want.len()];
            im2col_packed_rows_mv(&g, &x, &mut got, oh0, oh1);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "case {i}");
        }
    }

    #[test]
    fn batch_smaller_than_the_pool_splits_rows_with_the_same_bits() {
        // One thread runs the per-image forward; more threads than images split each
        // image's rows into blocks (several blocks per image, ragged last block): the
        // outputs must be the same bits, with groups, bias, stride and a 1×1 case.
        type Case<'a> = (&'a [usize], &'a [usize], usize, usize, usize);
        let cases: &[Case] = &[
            (&[1, 6, 37, 29], &[8, 3, 3, 3], 1, 1, 2),
            (&[1, 4, 33, 20], &[5, 4, 3, 3], 2, 1, 1),
            (&[2, 5, 19, 23], &[7, 5, 1, 1], 1, 0, 1),
        ];
        for (i, &(xs, ws, s, p, g)) in cases.iter().enumerate() {
            let p = crate::nn::Conv2dConfig {
                stride: s,
                padding: p,
                groups: g,
                ..Default::default()
            }
            .params();
            let x = rand(xs, 300 + i as u64, DType::F32);
            let w = rand(ws, 400 + i as u64, DType::F32);
            let b = rand(&[ws[0]], 500 + i as u64, DType::F32);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| conv2d_bias(&x, &w, Some(&b), p).unwrap())
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            };
            let one = run(1);
            for threads in [2, 3, 8] {
                let many = run(threads);
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "case {i}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn f32_kernels_match_f64() {
        // f32 takes the AVX-512 products where the CPU has them (and, forced, the gemm
        // crate's portable path every other CPU takes), f64 the gemm crate: both
        // directions and the bias, with odd sizes (tiles with ragged rows and columns),
        // batches of 1 and 3, groups, stride 2, dilation, a 1×1 convolution, and a map
        // large enough to be split into several im2col blocks.
        let cases: &[Case] = &[
            (&[1, 3, 9, 11], &[5, 3, 3, 3], 1, 1, 1, 1),
            (&[3, 4, 13, 7], &[6, 2, 3, 3], 2, 1, 1, 2),
            (&[3, 5, 11, 10], &[9, 5, 3, 3], 1, 2, 2, 1),
            (&[1, 6, 17, 15], &[10, 3, 5, 3], 2, 2, 1, 2),
            (&[3, 7, 6, 9], &[11, 7, 1, 1], 1, 0, 1, 1),
            (&[2, 64, 40, 36], &[17, 64, 3, 3], 1, 1, 1, 1),
            // The phase-split implicit im2col (`Phased`): 4×4 stride 2 (pix2pix), a
            // dilated kernel, stride 3 with input rows no output reaches, 2×2 stride 2 (all
            // with few output channels: the forward reads B in place).
            (&[3, 6, 16, 16], &[8, 6, 4, 4], 2, 1, 1, 1),
            (&[2, 4, 20, 24], &[5, 4, 3, 3], 1, 2, 2, 1),
            (&[2, 3, 29, 30], &[4, 3, 3, 3], 3, 0, 1, 1),
            (&[2, 2, 17, 20], &[3, 2, 2, 2], 2, 0, 1, 1),
            // More output channels than the in-place B reads take: the packed forward.
            (&[2, 5, 20, 22], &[26, 5, 3, 3], 1, 1, 1, 1),
            // A batch of one, its output rows split across the threads, packed.
            (&[1, 5, 20, 22], &[26, 5, 3, 3], 2, 1, 1, 1),
            // Maps under 64 pixels, one product over the batch (`batched`): a 3×3, a
            // 4×4 stride 2 down to 2×2 with groups, and a batch of two blocks.
            (&[4, 8, 6, 6], &[16, 8, 3, 3], 1, 1, 1, 1),
            (&[5, 8, 4, 4], &[6, 4, 4, 4], 2, 1, 1, 2),
            (&[80, 64, 7, 7], &[16, 64, 3, 3], 1, 1, 1, 1),
            // Depthwise on phase planes (`DwPhased`): 5×5 stride 2 (EfficientNet's, a
            // block of 64 outputs and a tail), multiplier 2 at stride 2, dilation 2,
            // no padding; then the flat-plane kernels on a plane longer than `dot`'s block.
            (&[2, 6, 15, 13], &[6, 1, 5, 5], 2, 2, 1, 6),
            (&[3, 4, 12, 11], &[8, 1, 3, 3], 2, 1, 1, 4),
            (&[2, 4, 10, 9], &[4, 1, 3, 3], 1, 2, 2, 4),
            (&[2, 4, 9, 9], &[4, 1, 3, 3], 1, 0, 1, 4),
            (&[2, 3, 20, 21], &[3, 1, 3, 3], 1, 1, 1, 3),
            // A 1×1 with groups on a map of ≥ 64 pixels: the input gradient's products
            // write straight into place.
            (&[2, 6, 10, 9], &[8, 3, 1, 1], 1, 0, 1, 2),
            // Phase planes filled a band of rows at a time (a map wider than a band's
            // budget allows whole), stride 1 and 2.
            (&[1, 32, 70, 130], &[8, 32, 3, 3], 1, 1, 1, 1),
            (&[2, 16, 90, 260], &[56, 16, 3, 3], 2, 1, 1, 1),
            // One to four output channels over phase planes: the forward's narrow tiles
            // (1, 2 and 4 rows) and, for one channel, the weight gradient's runs of
            // taps (a 7 × 7 kernel's rows of 7 taps, a 3 × 3 stride 2's of 2 and 1).
            (&[2, 5, 30, 28], &[1, 5, 7, 7], 1, 3, 1, 1),
            (&[1, 3, 25, 40], &[2, 3, 3, 3], 1, 1, 1, 1),
            (&[2, 4, 21, 19], &[3, 4, 3, 3], 1, 1, 1, 1),
            (&[2, 20, 18, 34], &[1, 20, 3, 3], 2, 1, 1, 1),
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate().skip(6) {
            let geom = Geom::new(xs, ws, &params(s, p, d, g)).unwrap();
            if i > 22 {
                assert!(Phased::new(&geom).is_some() && geom.og() <= 4, "case {i}");
            } else if i > 20 {
                let ph = Phased::new(&geom).unwrap();
                let step = tile_rows_ext(&geom, ph.wa);
                assert!(ph.band(&geom, step, geom.oh).rows < geom.oh, "case {i}");
            } else if i == 20 {
                assert!(geom.pointwise() && !batched(&geom), "case {i}");
            } else if i >= 15 {
                assert!(geom.depthwise() && dw_flat(&geom) == (i == 19), "case {i}");
            } else if i < 12 {
                assert!(Phased::new(&geom).is_some() && !batched(&geom), "case {i}");
            } else {
                assert!(batched(&geom), "case {i}");
            }
        }
        let last = Geom::new(&[80, 64, 7, 7], &[16, 64, 3, 3], &params(1, 1, 1, 1)).unwrap();
        assert!(batch_block(&last) < 80, "the last case spans two blocks");
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            let p = params(s, p, d, g);
            let run = |dt| conv_and_grads(xs, ws, p, i as u64, dt, &Device::Cpu);
            let (y64, g64) = &run(DType::F64);
            // f32 on this CPU's fastest path, then on the portable one.
            for (path, (y32, g32)) in [
                ("native", run(DType::F32)),
                ("portable", f32_avx512::portable(|| run(DType::F32))),
            ] {
                assert_close((&y32, &g32), (y64, g64), &format!("case {i} {path}"));
            }
        }
        assert!(!f32_avx512::portable(f32_avx512::available));
    }

    /// The AVX-512 kernels of the "same" stride-1 depthwise convolutions (`dw512`) against
    /// the f64 convolution: 3×3 and 5×5 (the weight gradient's registers), a 7×7 wider
    /// than its map (the flat-plane weight gradient), ragged and whole 16-column blocks,
    /// one-row maps, a channel multiplier of 2 (the input gradient adds both outputs'
    /// parts) and batches of one and three (the fused backward's sums over the batch).
    #[test]
    fn depthwise_avx512_matches_f64() {
        if !f32_avx512::available() {
            return;
        }
        let cases: &[Case] = &[
            (&[3, 4, 20, 21], &[4, 1, 3, 3], 1, 1, 1, 4),
            (&[1, 3, 16, 32], &[3, 1, 3, 3], 1, 1, 1, 3),
            (&[2, 5, 13, 37], &[5, 1, 5, 5], 1, 2, 1, 5),
            (&[2, 2, 1, 9], &[2, 1, 3, 3], 1, 1, 1, 2),
            (&[2, 3, 6, 5], &[6, 1, 5, 5], 1, 2, 1, 3),
            (&[1, 2, 4, 3], &[2, 1, 7, 7], 1, 3, 1, 2),
            (&[2, 3, 9, 18], &[3, 1, 7, 7], 1, 3, 1, 3),
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            let p = params(s, p, d, g);
            let geom = Geom::new(xs, ws, &p).unwrap();
            let dp = dw_plane512::<f32>(&geom).expect("the AVX-512 depthwise path");
            assert_eq!(dp.has_weight_kernel(), ws[2] < 7, "case {i}");
            let run = |dt| conv_and_grads(xs, ws, p, 700 + i as u64, dt, &Device::Cpu);
            let (y64, g64) = &run(DType::F64);
            let (y32, g32) = run(DType::F32);
            assert_close((&y32, &g32), (y64, g64), &format!("case {i}"));
        }
    }

    /// `conv2d_backward` gives the gradients `backward()` stores, bit for bit (the same
    /// kernels): dense, Winograd, strided, grouped and depthwise (the fused pass), f32
    /// and f64; a wrong output gradient is an error.
    #[test]
    fn conv2d_backward_is_the_autograd_gradients() {
        let cases: &[Case] = &[
            (&[2, 3, 9, 11], &[5, 3, 3, 3], 1, 1, 1, 1),
            (&[2, 32, 16, 16], &[32, 32, 3, 3], 1, 1, 1, 1),
            (&[3, 4, 13, 7], &[6, 2, 3, 3], 2, 1, 1, 2),
            (&[2, 6, 12, 20], &[6, 1, 3, 3], 1, 1, 1, 6),
            (&[2, 6, 15, 13], &[6, 1, 5, 5], 2, 2, 1, 6),
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            for dt in [DType::F32, DType::F64] {
                let p = params(s, p, d, g);
                let x = candle_core::Var::from_tensor(&rand(xs, i as u64, dt)).unwrap();
                let w = candle_core::Var::from_tensor(&rand(ws, 10 + i as u64, dt)).unwrap();
                let y = conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
                let dy = rand(y.dims(), 20 + i as u64, dt);
                let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
                let (dx, dw) = conv2d_backward(x.as_tensor(), w.as_tensor(), &dy, p).unwrap();
                for (got, v) in [(&dx, &x), (&dw, &w)] {
                    let want = grads.get(v.as_tensor()).unwrap();
                    assert_eq!(max_diff(got, want), 0.0, "case {i} {dt:?}");
                }
            }
        }
        let x = rand(&[1, 2, 5, 5], 0, DType::F32);
        let w = rand(&[2, 2, 3, 3], 1, DType::F32);
        let p = params(1, 1, 1, 1);
        for dy in [
            rand(&[1, 2, 4, 5], 2, DType::F32),
            rand(&[1, 2, 5, 5], 2, DType::F64),
        ] {
            let err = conv2d_backward(&x, &w, &dy, p).unwrap_err().to_string();
            assert!(
                err.contains("output gradient must be [1, 2, 5, 5]"),
                "{err}"
            );
        }
    }

    /// Winograd F(2×2, 3×3) (`winograd`) and the direct convolution, each against the
    /// f64 direct one: odd sizes (tiles cut by the map's last row and column), paddings
    /// 0, 1 and 2, a batch of one, maps of several chunks and bands of tiles, groups, and
    /// a convolution transposed (its forward is the input gradient's pass).
    #[test]
    fn winograd_matches_f64() {
        if !f32_avx512::available() {
            return;
        }
        let cases: &[Case] = &[
            (&[2, 32, 17, 19], &[40, 32, 3, 3], 1, 1, 1, 1),
            (&[1, 48, 18, 20], &[24, 48, 3, 3], 1, 0, 1, 1),
            (&[3, 24, 15, 30], &[33, 24, 3, 3], 1, 2, 1, 1),
            (&[1, 32, 75, 42], &[32, 32, 3, 3], 1, 1, 1, 1),
            (&[2, 130, 16, 16], &[70, 130, 3, 3], 1, 1, 1, 1),
            // Groups (MAT's dense blocks): 2 × (24 → 24), 3 × (32 → 24).
            (&[2, 48, 17, 19], &[48, 24, 3, 3], 1, 1, 1, 2),
            (&[1, 96, 16, 18], &[72, 32, 3, 3], 1, 1, 1, 3),
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            let p = params(s, p, d, g);
            let geom = Geom::new(xs, ws, &p).unwrap();
            assert!(winograd::applies(&geom), "case {i} takes the Winograd path");
            let (y64, g64) = &conv_and_grads(xs, ws, p, i as u64, DType::F64, &Device::Cpu);
            let run = || conv_and_grads(xs, ws, p, i as u64, DType::F32, &Device::Cpu);
            let (yw, gw) = run();
            let (yd, gd) = winograd::direct_only(run);
            assert!(winograd::direct_only(|| !winograd::applies(&geom)));
            for (path, y, gr) in [("winograd", &yw, &gw), ("direct", &yd, &gd)] {
                assert_close((y, gr), (y64, g64), &format!("case {i} {path}"));
            }
            // The two f32 paths round differently: not the same bits.
            assert!(max_diff(&yw, &yd) > 0.0, "case {i}");
        }
        // Too few channels, a small or narrow map, stride 2: the direct path.
        for (xs, ws, s) in [
            (&[2, 16, 32, 32], &[32, 16, 3, 3], 1),
            (&[2, 32, 8, 8], &[32, 32, 3, 3], 1),
            (&[1, 32, 300, 4], &[32, 32, 3, 3], 1),
            (&[2, 32, 32, 32], &[32, 32, 3, 3], 2),
        ] {
            assert!(!winograd::applies(
                &Geom::new(xs, ws, &params(s, 1, 1, 1)).unwrap()
            ));
        }
        // A 3×3 stride-1 transposed convolution runs the Winograd forward as its own.
        let x = rand(&[2, 32, 20, 18], 7, DType::F32);
        let w = rand(&[32, 40, 3, 3], 8, DType::F32);
        let tp = crate::ops::ConvTranspose2dParams {
            padding: (1, 1),
            ..Default::default()
        };
        let y = crate::ops::conv_transpose2d(&x, &w, None, tp).unwrap();
        let y64 = crate::ops::conv_transpose2d(
            &x.to_dtype(DType::F64).unwrap(),
            &w.to_dtype(DType::F64).unwrap(),
            None,
            tp,
        )
        .unwrap();
        let y = y.to_dtype(DType::F64).unwrap();
        assert!(max_diff(&y, &y64) < f32_tol(&y64));
    }

    /// `conv2d_bias_act` against the convolution then the activation: outputs and every
    /// gradient the same (to the bit, zeros of either sign equal), with and without bias,
    /// on the Winograd, phase-plane and depthwise paths; SiLU runs as the two ops.
    #[test]
    fn conv_bias_act_is_the_two_ops_bit_for_bit() {
        use crate::ops::Activation;
        let cases: &[Case] = &[
            (&[2, 32, 17, 19], &[24, 32, 3, 3], 1, 1, 1, 1),
            (&[2, 5, 20, 22], &[26, 5, 3, 3], 2, 1, 1, 1),
            (&[2, 6, 15, 13], &[6, 1, 5, 5], 2, 2, 1, 6),
        ];
        let acts = [
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Silu,
        ];
        for (i, &(xs, ws, s, p, d, g)) in cases.iter().enumerate() {
            let p = params(s, p, d, g);
            for (j, act) in acts.iter().enumerate() {
                for with_bias in [true, false] {
                    let run = |fused: bool| {
                        let x =
                            candle_core::Var::from_tensor(&rand(xs, i as u64, DType::F32)).unwrap();
                        let w = candle_core::Var::from_tensor(&rand(ws, 10 + i as u64, DType::F32))
                            .unwrap();
                        let b =
                            candle_core::Var::from_tensor(&rand(&[ws[0]], 20, DType::F32)).unwrap();
                        let bias = with_bias.then_some(b.as_tensor());
                        let y = if fused {
                            conv2d_bias_act(x.as_tensor(), w.as_tensor(), bias, p, *act).unwrap()
                        } else {
                            act.apply(&conv2d_bias(x.as_tensor(), w.as_tensor(), bias, p).unwrap())
                                .unwrap()
                        };
                        let r = rand(y.dims(), 30, DType::F32);
                        let gr = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                        let mut out = vec![y, gr.get(x.as_tensor()).unwrap().clone()];
                        out.push(gr.get(w.as_tensor()).unwrap().clone());
                        if with_bias {
                            out.push(gr.get(b.as_tensor()).unwrap().clone());
                        }
                        out
                    };
                    for (k, (a, b)) in run(true).iter().zip(&run(false)).enumerate() {
                        assert_eq!(
                            max_diff(a, b),
                            0.0,
                            "case {i} act {j} bias {with_bias}: {k}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = rand(&[1, 3, 5, 5], 0, DType::F32);
        assert!(conv2d(
            &x,
            &rand(&[4, 2, 3, 3], 1, DType::F32),
            Conv2dParams::default()
        )
        .is_err());
        assert!(conv2d(
            &x,
            &rand(&[4, 3, 7, 7], 1, DType::F32),
            Conv2dParams::default()
        )
        .is_err());
        assert!(conv2d(
            &x,
            &rand(&[4, 3, 3, 3], 1, DType::F64),
            Conv2dParams::default()
        )
        .is_err());
        assert!(conv2d(
            &rand(&[3, 5, 5], 0, DType::F32),
            &rand(&[4, 3, 3, 3], 1, DType::F32),
            Conv2dParams::default()
        )
        .is_err());
        let p = Conv2dParams {
            stride: (0, 1),
            ..Default::default()
        };
        assert!(conv2d(&x, &rand(&[4, 3, 3, 3], 1, DType::F32), p).is_err());
    }

    /// The fused convolution + batch norm + activation gives the bits of the two ops it
    /// replaces (values, batch statistics and every gradient), on f32 and f64, for a
    /// dense 3×3, a strided, a depthwise and a point-wise layout, with each activation the
    /// batch norm fuses; gradient-checked in f64; bad shapes are refused.
    #[test]
    fn conv_batch_norm_is_conv_then_batch_norm_bit_for_bit() {
        use crate::gradcheck::bits;
        use crate::ops::{batch_norm_train_act, conv2d_batch_norm_train_act};
        let params = |stride, padding, groups| Conv2dParams {
            stride: (stride, stride),
            padding: (padding, padding),
            groups,
            ..Default::default()
        };
        // (x shape, weight shape, params)
        let layouts = [
            ([2, 8, 9, 9], [16, 8, 3, 3], params(1, 1, 1)),
            ([2, 5, 10, 10], [6, 5, 3, 3], params(2, 1, 1)),
            ([2, 16, 12, 12], [16, 1, 3, 3], params(1, 1, 16)),
            ([3, 12, 7, 7], [20, 12, 1, 1], params(1, 0, 1)),
        ];
        for dt in [DType::F32, DType::F64] {
            for (xs, ws, p) in layouts {
                let c = ws[0];
                for act in [Activation::Identity, Activation::Relu, Activation::Silu] {
                    let vars: Vec<candle_core::Var> = [
                        rand(&xs, 41, dt),
                        rand(&ws, 42, dt),
                        rand(&[c], 43, dt),
                        rand(&[c], 44, dt),
                    ]
                    .iter()
                    .map(|t| candle_core::Var::from_tensor(t).unwrap())
                    .collect();
                    let [x, w, g, b] = [0, 1, 2, 3].map(|i| vars[i].as_tensor());
                    let fused =
                        conv2d_batch_norm_train_act(x, w, p, Some(g), Some(b), 1e-5, act).unwrap();
                    let z = conv2d(x, w, p).unwrap();
                    let apart = batch_norm_train_act(&z, Some(g), Some(b), 1e-5, act).unwrap();
                    let what = format!("{dt:?} {xs:?} * {ws:?} {p:?} {act:?}");
                    for (u, v) in [
                        (&fused.0, &apart.0),
                        (&fused.1, &apart.1),
                        (&fused.2, &apart.2),
                    ] {
                        assert_eq!(bits(u), bits(v), "{what}");
                    }
                    // A weighted sum, so each output has its own gradient.
                    let r = rand(fused.0.dims(), 45, dt);
                    let grads = |y: &Tensor| crate::ops::backward_from(y, &r).unwrap();
                    let (gf, ga) = (grads(&fused.0), grads(&apart.0));
                    for t in [x, w, g, b] {
                        assert_eq!(
                            bits(gf.get(t).unwrap()),
                            bits(ga.get(t).unwrap()),
                            "{what}: gradient"
                        );
                    }
                }
            }
        }
        let p = params(2, 1, 1);
        let r = crate::gradcheck::check(
            |t| {
                let (y, _, _) = conv2d_batch_norm_train_act(
                    &t[0],
                    &t[1],
                    p,
                    Some(&t[2]),
                    Some(&t[3]),
                    1e-5,
                    Activation::Silu,
                )?;
                Ok(y)
            },
            &[
                rand(&[2, 2, 5, 5], 46, DType::F64),
                rand(&[3, 2, 3, 3], 47, DType::F64),
                rand(&[3], 48, DType::F64),
                rand(&[3], 49, DType::F64),
            ],
            60,
            1e-6,
            1e-7,
            1e-5,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        let w = rand(&[4, 3, 3, 3], 50, DType::F32);
        let bad = |x: &Tensor, w: &Tensor| {
            conv2d_batch_norm_train_act(x, w, params(1, 1, 1), None, None, 1e-5, Activation::Relu)
                .is_err()
        };
        assert!(bad(&rand(&[2, 3, 8], 51, DType::F32), &w), "3-D input");
        assert!(
            bad(&rand(&[2, 5, 8, 8], 52, DType::F32), &w),
            "channel mismatch"
        );
        assert!(
            bad(&rand(&[1, 3, 1, 1], 53, DType::F32), &w),
            "one value per channel"
        );
        assert!(
            bad(
                &rand(&[2, 3, 8, 8], 54, DType::F32),
                &rand(&[4, 3, 3], 55, DType::F32)
            ),
            "3-D weight"
        );
        assert!(
            bad(&rand(&[2, 3, 8, 8], 56, DType::F64), &w),
            "mixed dtypes"
        );
    }
}
