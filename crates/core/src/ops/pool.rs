//! Max and average pooling with any kernel, stride and padding (forward and backward;
//! the max-pool forward vectorised over output columns and keeping each window's index
//! for the backward),
//! and adaptive average pooling, as `torch.nn.functional` (floor mode); and
//! [`max_dim1`], the max over the middle dimension of `(B, N, C)` (PointNet's global
//! max-pool over points), whose gradient goes to the **first** maximum of each column as
//! in PyTorch and TensorFlow (candle's `max` sends it to every tied maximum, which
//! changes attack gradients when points are duplicated).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use std::sync::{Arc, Mutex};

use super::backend::{route, route_with_cuda, Candle, Route};
use super::kernel::{
    alloc_for_overwrite, dispatch, multiversion, out, slice, split_row_phases, with_scratch, Real,
};
use crate::{Error, Result};

/// Kernel, stride and padding per axis `(h, w)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dParams {
    /// Square kernel, stride and padding.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel: (kernel, kernel),
            stride: (stride, stride),
            padding: (padding, padding),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PGeom {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    p: Pool2dParams,
}

impl PGeom {
    pub(super) fn new(dims: &[usize], p: Pool2dParams, op: &str) -> Result<(PGeom, usize, usize)> {
        let &[n, c, h, w] = dims else {
            return Err(Error::invalid(format!(
                "{op}: expected (N, C, H, W), got {dims:?}"
            )));
        };
        let (kh, kw) = p.kernel;
        let (sh, sw) = p.stride;
        let (ph, pw) = p.padding;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::invalid(format!(
                "{op}: kernel and stride must be positive"
            )));
        }
        if 2 * ph > kh || 2 * pw > kw {
            return Err(Error::invalid(format!(
                "{op}: padding {:?} must be at most half the kernel {:?}",
                p.padding, p.kernel
            )));
        }
        if h + 2 * ph < kh || w + 2 * pw < kw || n * c == 0 {
            return Err(Error::invalid(format!(
                "{op}: kernel {:?} larger than the padded input {h}×{w}",
                p.kernel
            )));
        }
        Ok((
            PGeom {
                planes: n * c,
                h,
                w,
                oh: (h + 2 * ph - kh) / sh + 1,
                ow: (w + 2 * pw - kw) / sw + 1,
                p,
            },
            n,
            c,
        ))
    }
    /// Input range `[lo, hi)` of output index `o` along an axis, clipped to the image.
    fn span(o: usize, s: usize, p: usize, k: usize, len: usize) -> (usize, usize) {
        let start = (o * s) as isize - p as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + k as isize).max(0) as usize).min(len);
        (lo, hi)
    }
    fn rows(&self, o: usize) -> (usize, usize) {
        Self::span(
            o,
            self.p.stride.0,
            self.p.padding.0,
            self.p.kernel.0,
            self.h,
        )
    }
    fn cols(&self, o: usize) -> (usize, usize) {
        Self::span(
            o,
            self.p.stride.1,
            self.p.padding.1,
            self.p.kernel.1,
            self.w,
        )
    }
    /// The sizes the CUDA pooling kernels take.
    #[cfg(feature = "cuda")]
    fn cuda(&self, include_pad: bool) -> super::cuda::PoolDims {
        super::cuda::PoolDims {
            planes: self.planes,
            h: self.h,
            w: self.w,
            oh: self.oh,
            ow: self.ow,
            kernel: self.p.kernel,
            stride: self.p.stride,
            padding: self.p.padding,
            include_pad,
        }
    }
    /// Index (within the plane) of the first maximum of the window, as PyTorch picks it
    /// (scan order, strict `>`; NaN wins).
    fn argmax<T: Real>(&self, xp: &[T], oh: usize, ow: usize) -> usize {
        let (r0, r1) = self.rows(oh);
        let (c0, c1) = self.cols(ow);
        let mut best = r0 * self.w + c0;
        let mut bv = T::NEG_INF;
        let mut first = true;
        for r in r0..r1 {
            for c in c0..c1 {
                let v = xp[r * self.w + c];
                #[allow(clippy::eq_op)]
                let is_nan = v != v;
                if first || v > bv || is_nan {
                    best = r * self.w + c;
                    bv = v;
                    first = false;
                    if is_nan {
                        return best;
                    }
                }
            }
        }
        best
    }
}

/// Max-pool; the CPU forward keeps the index of each window's maximum for the backward
/// (as PyTorch's `max_pool2d_with_indices`), so the backward is a scatter.
struct MaxPool(PGeom, Mutex<Option<Arc<Vec<u32>>>>);
/// The backward from the forward's indices, or (without them: CUDA, a forward that did
/// not keep them) by scanning the windows of `x` again.
struct MaxPoolBwd(PGeom, Option<Arc<Vec<u32>>>);

/// Input elements per task of the max-pool forward (whole planes, at least one).
const PLANE_TASK_ELEMS: usize = 8192;

/// Scratch of [`max_fwd_plane`]: `sw` phase copies of the plane, `wq` wide.
fn max_fwd_scratch(g: &PGeom) -> usize {
    let (sw, pw) = (g.p.stride.1, g.p.padding.1);
    sw * g.h * (g.w + 2 * pw).div_ceil(sw)
}

/// Max-pool forward of one plane: `y` the maximum of each window and `idx` its index in
/// the plane, the same choice as [`PGeom::argmax`] (first maximum in scan order, strict
/// `>`, the first NaN wins). The plane's rows are split by column phase into `buf`
/// (padded with −∞, which never wins a strict `>`), so that kernel column `kj` reads one
/// contiguous run for a whole output row: each tap is a vectorised compare-and-select
/// over the output columns.
#[inline(always)]
fn max_fwd_plane<T: Real>(g: &PGeom, xp: &[T], yp: &mut [T], ip: &mut [u32], buf: &mut [T]) {
    let ((_, kw), (_, sw), (_, pw)) = (g.p.kernel, g.p.stride, g.p.padding);
    let wq = (g.w + 2 * pw).div_ceil(sw);
    let plane = g.h * wq;
    let q = &mut buf[..sw * plane];
    q.fill(T::NEG_INF);
    for r in 0..g.h {
        split_row_phases(&xp[r * g.w..(r + 1) * g.w], pw, sw, &mut q[r * wq..], plane);
    }
    for oh in 0..g.oh {
        let (r0, r1) = g.rows(oh);
        let ym = &mut yp[oh * g.ow..(oh + 1) * g.ow];
        let im = &mut ip[oh * g.ow..(oh + 1) * g.ow];
        // Each window starts from its first element inside the image.
        for (o, (y, i)) in ym.iter_mut().zip(im.iter_mut()).enumerate() {
            let at = r0 * g.w + (o * sw).saturating_sub(pw);
            *y = xp[at];
            *i = at as u32;
        }
        for r in r0..r1 {
            for kj in 0..kw {
                let s = &q[(kj % sw) * plane + r * wq + kj / sw..][..g.ow];
                // Index of output column o's tap: r·W + o·sw + kj − pw (wrapping: the
                // padding's never wins).
                let base = ((r * g.w + kj) as u32).wrapping_sub(pw as u32);
                for (o, ((y, i), &v)) in ym.iter_mut().zip(im.iter_mut()).zip(s).enumerate() {
                    let m = *y;
                    #[allow(clippy::eq_op)]
                    let take = v > m || (v != v && m == m);
                    *y = if take { v } else { m };
                    *i = if take {
                        base.wrapping_add((o * sw) as u32)
                    } else {
                        *i
                    };
                }
            }
        }
    }
}

multiversion!(max_fwd_plane_mv => max_fwd_plane(g: &PGeom, xp: &[T], yp: &mut [T], ip: &mut [u32], buf: &mut [T]));
multiversion!(max_fwd_wide_mv => max_fwd_wide(g: &PGeom, mw: &MaxWide, xp: &[T], yp: &mut [T], ip: &mut [u32], buf: &mut [T], iw: &mut [u32]));

/// The max-pool forward of narrow outputs (fewer than [`MaxWide::BELOW`] columns:
/// Xception's 31-, 16-, 8- and 4-column maps) on phase planes split by row and column
/// phase: each tap is then one long compare-and-select over all the output rows at once
/// (`wq` wide, the extra columns dropped), not one short run per output row.
struct MaxWide {
    hq: usize,
    wq: usize,
    /// Outputs computed per plane: `(OH − 1)·wq + OW`.
    len: usize,
    /// Per tap in scan order: its offset into the stacked phase planes and the plane index
    /// of its input for output 0 (wrapping below 0: only padding, which never wins).
    taps: Vec<(usize, u32)>,
    /// `t[i]`: the index's step from output 0 to wide output `i` (`sh·W·oh + sw·ow`).
    t: Vec<u32>,
    /// `first[i]`: the index of the first element inside the image of wide output `i`'s
    /// window, kept where no value beats −∞.
    first: Vec<u32>,
}

impl MaxWide {
    /// Output widths this path takes.
    const BELOW: usize = 32;

    fn new(g: &PGeom) -> Option<MaxWide> {
        let ((kh, kw), (sh, sw), (ph, pw)) = (g.p.kernel, g.p.stride, g.p.padding);
        if g.ow >= Self::BELOW || g.oh < 2 {
            return None;
        }
        let hq = (g.h + 2 * ph)
            .div_ceil(sh)
            .max(g.oh - 1 + (kh - 1) / sh + 1);
        let wq = (g.w + 2 * pw)
            .div_ceil(sw)
            .max(g.ow - 1 + (kw - 1) / sw + 1);
        let len = (g.oh - 1) * wq + g.ow;
        let plane = hq * wq;
        let mut taps = Vec::with_capacity(kh * kw);
        for ki in 0..kh {
            for kj in 0..kw {
                let q = (ki % sh) * sw + kj % sw;
                let off = q * plane + ki / sh * wq + kj / sw;
                let base = ((ki * g.w + kj) as u32).wrapping_sub((ph * g.w + pw) as u32);
                taps.push((off, base));
            }
        }
        let (mut t, mut first) = (Vec::with_capacity(len), Vec::with_capacity(len));
        for i in 0..len {
            let (oh, ow) = (i / wq, (i % wq).min(g.ow - 1));
            t.push((sh * g.w * oh + sw * (i % wq)) as u32);
            let (r0, c0) = (g.rows(oh).0, g.cols(ow).0);
            first.push((r0 * g.w + c0) as u32);
        }
        Some(MaxWide {
            hq,
            wq,
            len,
            taps,
            t,
            first,
        })
    }

    /// Scratch of [`max_fwd_wide`] in `T`: the phase planes and the wide maxima.
    fn scratch(&self, g: &PGeom) -> usize {
        g.p.stride.0 * g.p.stride.1 * self.hq * self.wq + self.len
    }
}

/// [`max_fwd_plane`] through [`MaxWide`]: the same choice (first maximum in scan order,
/// strict `>`, the first NaN wins; a window of −∞ keeps its first element inside the
/// image). Every window starts at −∞ with that element's index: the first value of the
/// scan that beats −∞ (or is NaN) is the first element inside the image whenever that
/// one does, since the padding before it is −∞.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn max_fwd_wide<T: Real>(
    g: &PGeom,
    mw: &MaxWide,
    xp: &[T],
    yp: &mut [T],
    ip: &mut [u32],
    buf: &mut [T],
    iw: &mut [u32],
) {
    let ((sh, sw), (ph, pw)) = (g.p.stride, g.p.padding);
    let plane = mw.hq * mw.wq;
    let (q, yw) = buf.split_at_mut(sh * sw * plane);
    q.fill(T::NEG_INF);
    for ih in 0..g.h {
        let r = ih + ph;
        let (a, rq) = (r % sh, r / sh);
        let dst = &mut q[a * sw * plane + rq * mw.wq..];
        split_row_phases(&xp[ih * g.w..(ih + 1) * g.w], pw, sw, dst, plane);
    }
    let (yw, iw) = (&mut yw[..mw.len], &mut iw[..mw.len]);
    yw.fill(T::NEG_INF);
    iw.copy_from_slice(&mw.first);
    for &(off, base) in &mw.taps {
        let s = &q[off..off + mw.len];
        for (((y, i), &v), &t) in yw.iter_mut().zip(iw.iter_mut()).zip(s).zip(&mw.t) {
            let m = *y;
            #[allow(clippy::eq_op)]
            let take = v > m || (v != v && m == m);
            *y = if take { v } else { m };
            *i = if take { base.wrapping_add(t) } else { *i };
        }
    }
    for oh in 0..g.oh {
        yp[oh * g.ow..][..g.ow].copy_from_slice(&yw[oh * mw.wq..][..g.ow]);
        ip[oh * g.ow..][..g.ow].copy_from_slice(&iw[oh * mw.wq..][..g.ow]);
    }
}
struct AvgPool(PGeom, bool);
struct AvgPoolBwd(PGeom, bool);

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "candor-max-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let dims = l.dims();
        if g.h * g.w > u32::MAX as usize {
            candle_core::bail!("max_pool2d: planes of over 2³² pixels");
        }
        let ohw = g.oh * g.ow;
        dispatch!(s, "max_pool2d", |T| {
            let x = slice::<T>(s, l)?;
            // SAFETY: max_fwd_plane writes every output of its plane.
            let mut y = unsafe { alloc_for_overwrite::<T>(g.planes * ohw) };
            let mut idx = vec![0u32; g.planes * ohw];
            let wide = MaxWide::new(&g);
            let hw = g.h * g.w;
            // Several small planes per task: one task per 8×8 plane cost more in the
            // pool's hand-offs than the plane's work.
            let per = PLANE_TASK_ELEMS.div_ceil(hw).max(1);
            y.par_chunks_mut(per * ohw)
                .zip(idx.par_chunks_mut(per * ohw))
                .enumerate()
                .for_each(|(task, (ys, is))| {
                    let xs = &x[task * per * hw..];
                    let planes = ys.chunks_mut(ohw).zip(is.chunks_mut(ohw));
                    match &wide {
                        Some(mw) => with_scratch(mw.scratch(&g), |buf| {
                            let mut iw = vec![0u32; mw.len];
                            for (j, (yp, ip)) in planes.enumerate() {
                                let xp = &xs[j * hw..][..hw];
                                max_fwd_wide_mv(&g, mw, xp, yp, ip, buf, &mut iw)
                            }
                        }),
                        None => with_scratch(max_fwd_scratch(&g), |buf| {
                            for (j, (yp, ip)) in planes.enumerate() {
                                max_fwd_plane_mv(&g, &xs[j * hw..][..hw], yp, ip, buf)
                            }
                        }),
                    }
                });
            *self.1.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(idx));
            Ok(out(T::wrap(y), (dims[0], dims[1], g.oh, g.ow)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda::{pool, PoolKernel};
        let (g, dims) = (self.0, l.dims());
        let y = pool(PoolKernel::MaxFwd, &g.cuda(false), &[(s, l)])?;
        Ok((y, (dims[0], dims[1], g.oh, g.ow).into()))
    }
    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let idx = self.1.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(Some(x.apply_op2_no_bwd(
            &dy.contiguous()?,
            &MaxPoolBwd(self.0, idx),
        )?))
    }
}

impl CustomOp2 for MaxPoolBwd {
    fn name(&self) -> &'static str {
        "candor-max-pool2d-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let dims = l1.dims().to_vec();
        dispatch!(s1, "max_pool2d backward", |T| {
            let (x, dy) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let ohw = g.oh * g.ow;
            // SAFETY: each plane is zeroed in its task before the gradient is added in.
            let mut dx = unsafe { alloc_for_overwrite::<T>(g.planes * g.h * g.w) };
            let idx = self.1.as_deref().filter(|i| i.len() == g.planes * ohw);
            dx.par_chunks_mut(g.h * g.w)
                .enumerate()
                .for_each(|(pl, dxp)| {
                    dxp.fill(T::ZERO);
                    let dyp = &dy[pl * ohw..][..ohw];
                    if let Some(idx) = idx {
                        for (&i, &d) in idx[pl * ohw..][..ohw].iter().zip(dyp) {
                            dxp[i as usize] += d;
                        }
                        return;
                    }
                    let xp = &x[pl * g.h * g.w..][..g.h * g.w];
                    for oh in 0..g.oh {
                        for ow in 0..g.ow {
                            dxp[g.argmax(xp, oh, ow)] += dyp[oh * g.ow + ow];
                        }
                    }
                });
            Ok(out(T::wrap(dx), dims))
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
        use super::cuda::{pool, PoolKernel};
        let dx = pool(
            PoolKernel::MaxBwd,
            &self.0.cuda(false),
            &[(s1, l1), (s2, l2)],
        )?;
        Ok((dx, l1.shape().clone()))
    }
}

impl AvgPool {
    fn divisor(g: &PGeom, include_pad: bool, oh: usize, ow: usize) -> usize {
        if include_pad {
            // Floor mode: a window never leaves the padded image.
            g.p.kernel.0 * g.p.kernel.1
        } else {
            let (r0, r1) = g.rows(oh);
            let (c0, c1) = g.cols(ow);
            ((r1 - r0) * (c1 - c0)).max(1)
        }
    }
}

impl CustomOp1 for AvgPool {
    fn name(&self) -> &'static str {
        "candor-avg-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, inc) = (self.0, self.1);
        let dims = l.dims();
        dispatch!(s, "avg_pool2d", |T| {
            let x = slice::<T>(s, l)?;
            // SAFETY: every output of every plane is written below.
            let mut y = unsafe { alloc_for_overwrite::<T>(g.planes * g.oh * g.ow) };
            y.par_chunks_mut(g.oh * g.ow)
                .enumerate()
                .for_each(|(pl, yp)| {
                    let xp = &x[pl * g.h * g.w..][..g.h * g.w];
                    for oh in 0..g.oh {
                        let (r0, r1) = g.rows(oh);
                        for ow in 0..g.ow {
                            let (c0, c1) = g.cols(ow);
                            let mut acc = T::ZERO;
                            for r in r0..r1 {
                                for v in &xp[r * g.w + c0..r * g.w + c1] {
                                    acc += *v;
                                }
                            }
                            yp[oh * g.ow + ow] =
                                acc / T::from_f64(AvgPool::divisor(&g, inc, oh, ow) as f64);
                        }
                    }
                });
            Ok(out(T::wrap(y), (dims[0], dims[1], g.oh, g.ow)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda::{pool, PoolKernel};
        let (g, dims) = (self.0, l.dims());
        let y = pool(PoolKernel::AvgFwd, &g.cuda(self.1), &[(s, l)])?;
        Ok((y, (dims[0], dims[1], g.oh, g.ow).into()))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            dy.contiguous()?
                .apply_op1_no_bwd(&AvgPoolBwd(self.0, self.1))?,
        ))
    }
}

impl CustomOp1 for AvgPoolBwd {
    fn name(&self) -> &'static str {
        "candor-avg-pool2d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, inc) = (self.0, self.1);
        let dims = l.dims();
        dispatch!(s, "avg_pool2d backward", |T| {
            let dy = slice::<T>(s, l)?;
            // SAFETY: each plane is zeroed in its task before the gradient is added in.
            let mut dx = unsafe { alloc_for_overwrite::<T>(g.planes * g.h * g.w) };
            dx.par_chunks_mut(g.h * g.w)
                .enumerate()
                .for_each(|(pl, dxp)| {
                    dxp.fill(T::ZERO);
                    let dyp = &dy[pl * g.oh * g.ow..][..g.oh * g.ow];
                    for oh in 0..g.oh {
                        let (r0, r1) = g.rows(oh);
                        for ow in 0..g.ow {
                            let (c0, c1) = g.cols(ow);
                            let v = dyp[oh * g.ow + ow]
                                / T::from_f64(AvgPool::divisor(&g, inc, oh, ow) as f64);
                            for r in r0..r1 {
                                for d in &mut dxp[r * g.w + c0..r * g.w + c1] {
                                    *d += v;
                                }
                            }
                        }
                    }
                });
            Ok(out(T::wrap(dx), (dims[0], dims[1], g.h, g.w)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda::{pool, PoolKernel};
        let (g, dims) = (self.0, l.dims());
        let dx = pool(PoolKernel::AvgBwd, &g.cuda(self.1), &[(s, l)])?;
        Ok((dx, (dims[0], dims[1], g.h, g.w).into()))
    }
}

/// `torch.nn.functional.max_pool2d(x, kernel, stride, padding)` (floor mode, −∞ padding).
/// The gradient goes to the first maximum of each window, as PyTorch. On a CUDA GPU (f32,
/// `cuda` feature) candor's kernels run; elsewhere off the CPU, candle's max-pool runs
/// without padding and without a gradient (`candle_max_pool_support`).
pub fn max_pool2d(x: &Tensor, p: Pool2dParams) -> Result<Tensor> {
    let (g, _, _) = PGeom::new(x.dims(), p, "max_pool2d")?;
    match route_with_cuda("max_pool2d", &[x], candle_max_pool_support(&g), true)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(MaxPool(g, Mutex::new(None)))?),
        Route::Candle => candle_max_pool2d(x, p),
    }
}

/// `torch.nn.functional.avg_pool2d(x, kernel, stride, padding, count_include_pad)`
/// (floor mode). On a CUDA GPU (f32, `cuda` feature) candor's kernels run; elsewhere off
/// the CPU, candle's average pool runs without padding, with a gradient only where it
/// is correct (`candle_avg_pool_support`).
pub fn avg_pool2d(x: &Tensor, p: Pool2dParams, count_include_pad: bool) -> Result<Tensor> {
    let (g, _, _) = PGeom::new(x.dims(), p, "avg_pool2d")?;
    match route_with_cuda("avg_pool2d", &[x], candle_avg_pool_support(&g), true)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(AvgPool(g, count_include_pad))?),
        Route::Candle => candle_avg_pool2d(x, p),
    }
}

/// candle's max-pool (no padding).
pub(super) fn candle_max_pool2d(x: &Tensor, p: Pool2dParams) -> Result<Tensor> {
    Ok(x.max_pool2d_with_stride(p.kernel, p.stride)?)
}

/// candle's average pool (no padding).
pub(super) fn candle_avg_pool2d(x: &Tensor, p: Pool2dParams) -> Result<Tensor> {
    Ok(x.avg_pool2d_with_stride(p.kernel, p.stride)?)
}

/// candle's `max_pool2d_with_stride` has no padding, and its backward (only for
/// kernel = stride) scales each window's gradient by the share of its elements that
/// are maxima (1/k² for a unique maximum) instead of passing it whole: forward only.
pub(super) fn candle_max_pool_support(g: &PGeom) -> Candle {
    if g.p.padding != (0, 0) {
        return Candle::Missing("max_pool2d has no padding");
    }
    Candle::ForwardOnly("has no correct backward (it divides the gradient by the window size)")
}

/// candle's `avg_pool2d_with_stride` has no padding (`count_include_pad` is then moot);
/// its backward, a nearest-neighbour up-sampling, is right only when the windows tile
/// the input exactly (kernel = stride, sizes divisible).
pub(super) fn candle_avg_pool_support(g: &PGeom) -> Candle {
    let p = g.p;
    if p.padding != (0, 0) {
        return Candle::Missing("avg_pool2d has no padding");
    }
    if p.kernel != p.stride || !g.h.is_multiple_of(p.kernel.0) || !g.w.is_multiple_of(p.kernel.1) {
        return Candle::ForwardOnly(
            "has a backward only when the windows tile the input (kernel = stride, \
             sizes divisible)",
        );
    }
    Candle::Trainable
}

struct Adaptive {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Adaptive {
    fn span(o: usize, len: usize, out: usize) -> (usize, usize) {
        ((o * len) / out, ((o + 1) * len).div_ceil(out))
    }
}

struct AdaptiveBwd(Adaptive);

impl CustomOp1 for Adaptive {
    fn name(&self) -> &'static str {
        "candor-adaptive-avg-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = l.dims();
        let planes = dims[0] * dims[1];
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        dispatch!(s, "adaptive_avg_pool2d", |T| {
            let x = slice::<T>(s, l)?;
            // SAFETY: every output of every plane is written below.
            let mut y = unsafe { alloc_for_overwrite::<T>(planes * oh * ow) };
            y.par_chunks_mut(oh * ow).enumerate().for_each(|(pl, yp)| {
                let xp = &x[pl * h * w..][..h * w];
                for i in 0..oh {
                    let (r0, r1) = Adaptive::span(i, h, oh);
                    for j in 0..ow {
                        let (c0, c1) = Adaptive::span(j, w, ow);
                        let mut acc = T::ZERO;
                        for r in r0..r1 {
                            for v in &xp[r * w + c0..r * w + c1] {
                                acc += *v;
                            }
                        }
                        yp[i * ow + j] = acc / T::from_f64(((r1 - r0) * (c1 - c0)) as f64);
                    }
                }
            });
            Ok(out(T::wrap(y), (dims[0], dims[1], oh, ow)))
        })
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let a = Adaptive {
            h: self.h,
            w: self.w,
            oh: self.oh,
            ow: self.ow,
        };
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(&AdaptiveBwd(a))?))
    }
}

impl CustomOp1 for AdaptiveBwd {
    fn name(&self) -> &'static str {
        "candor-adaptive-avg-pool2d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = l.dims();
        let planes = dims[0] * dims[1];
        let Adaptive { h, w, oh, ow } = self.0;
        dispatch!(s, "adaptive_avg_pool2d backward", |T| {
            let dy = slice::<T>(s, l)?;
            // SAFETY: each plane is zeroed in its task before the gradient is added in.
            let mut dx = unsafe { alloc_for_overwrite::<T>(planes * h * w) };
            dx.par_chunks_mut(h * w).enumerate().for_each(|(pl, dxp)| {
                dxp.fill(T::ZERO);
                let dyp = &dy[pl * oh * ow..][..oh * ow];
                for i in 0..oh {
                    let (r0, r1) = Adaptive::span(i, h, oh);
                    for j in 0..ow {
                        let (c0, c1) = Adaptive::span(j, w, ow);
                        let v = dyp[i * ow + j] / T::from_f64(((r1 - r0) * (c1 - c0)) as f64);
                        for r in r0..r1 {
                            for d in &mut dxp[r * w + c0..r * w + c1] {
                                *d += v;
                            }
                        }
                    }
                }
            });
            Ok(out(T::wrap(dx), (dims[0], dims[1], h, w)))
        })
    }
}

/// `torch.nn.functional.adaptive_avg_pool2d(x, (oh, ow))`.
pub fn adaptive_avg_pool2d(x: &Tensor, oh: usize, ow: usize) -> Result<Tensor> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::invalid(format!(
            "adaptive_avg_pool2d: expected (N, C, H, W), got {:?}",
            x.dims()
        )));
    };
    if oh == 0 || ow == 0 || h == 0 || w == 0 || n * c == 0 {
        return Err(Error::invalid(format!(
            "adaptive_avg_pool2d: cannot pool {:?} to {oh}×{ow}",
            x.dims()
        )));
    }
    // Off the CPU: means over candle slices, which have a backward.
    match route("adaptive_avg_pool2d", &[x], Candle::Trainable)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(Adaptive { h, w, oh, ow })?),
        Route::Candle => candle_adaptive_avg_pool2d(x, oh, ow),
    }
}

/// Adaptive average pooling from candle ops: one mean over each window (PyTorch's
/// windows, [`Adaptive::span`]), or a single reshaped mean when the windows tile the
/// input evenly.
pub(super) fn candle_adaptive_avg_pool2d(x: &Tensor, oh: usize, ow: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if h.is_multiple_of(oh) && w.is_multiple_of(ow) {
        let (kh, kw) = (h / oh, w / ow);
        return Ok(x.reshape((n, c, oh, kh, ow, kw))?.mean(5)?.mean(3)?);
    }
    let mut rows = Vec::with_capacity(oh);
    for i in 0..oh {
        let (r0, r1) = Adaptive::span(i, h, oh);
        let band = x.narrow(2, r0, r1 - r0)?.mean_keepdim(2)?;
        let cells = (0..ow)
            .map(|j| {
                let (c0, c1) = Adaptive::span(j, w, ow);
                band.narrow(3, c0, c1 - c0)?.mean_keepdim(3)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        rows.push(Tensor::cat(&cells, 3)?);
    }
    Ok(Tensor::cat(&rows, 2)?)
}

// ------------------------------------------------ global max over points

struct MaxDim1;
struct MaxDim1Bwd;

impl CustomOp1 for MaxDim1 {
    fn name(&self) -> &'static str {
        "candor-max-dim1"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, c) = l.shape().dims3()?;
        dispatch!(s, "max_dim1", |T| {
            let x = slice::<T>(s, l)?;
            let mut y = vec![T::NEG_INF; b * c];
            y.par_chunks_mut(c)
                .zip(x.par_chunks(n * c))
                .for_each(|(yr, xb)| {
                    for row in xb.chunks_exact(c) {
                        for (m, &v) in yr.iter_mut().zip(row) {
                            // `!(v <= m)` also lets a NaN through, as torch.max does.
                            if v > *m || v.partial_cmp(m).is_none() {
                                *m = v;
                            }
                        }
                    }
                });
            Ok(out(T::wrap(y), (b, c)))
        })
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (b, n, c) = l.shape().dims3()?;
        Ok((super::cuda::max_dim1_fwd((s, l), (b, n, c))?, (b, c).into()))
    }
    fn bwd(&self, x: &Tensor, res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // Recompute the first arg-max from x and the result (no index storage).
        let pair = Tensor::cat(&[res, &dy.contiguous()?], 0)?;
        Ok(Some(x.apply_op2_no_bwd(&pair, &MaxDim1Bwd)?))
    }
}

impl CustomOp2 for MaxDim1Bwd {
    fn name(&self) -> &'static str {
        "candor-max-dim1-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, c) = l1.shape().dims3()?;
        dispatch!(s1, "max_dim1 backward", |T| {
            let (x, pair) = (slice::<T>(s1, l1)?, slice::<T>(s2, l2)?);
            let (m, dy) = pair.split_at(b * c);
            // SAFETY: each sample's block is zeroed in its task before the gradient is set.
            let mut dx = unsafe { alloc_for_overwrite::<T>(x.len()) };
            dx.par_chunks_mut(n * c)
                .zip(x.par_chunks(n * c))
                .enumerate()
                .for_each(|(bi, (db, xb))| {
                    db.fill(T::ZERO);
                    let (mr, gr) = (&m[bi * c..(bi + 1) * c], &dy[bi * c..(bi + 1) * c]);
                    let mut done = vec![false; c];
                    let mut left = c;
                    for (dr, row) in db.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                        for j in 0..c {
                            let v = row[j];
                            let hit = v == mr[j]
                                || (v.partial_cmp(&v).is_none()
                                    && mr[j].partial_cmp(&mr[j]).is_none());
                            if !done[j] && hit {
                                dr[j] = gr[j];
                                done[j] = true;
                                left -= 1;
                            }
                        }
                        if left == 0 {
                            break;
                        }
                    }
                });
            Ok(out(T::wrap(dx), l1.shape().clone()))
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
        let dims = l1.shape().dims3()?;
        let dx = super::cuda::max_dim1_bwd((s1, l1), (s2, l2), dims)?;
        Ok((dx, l1.shape().clone()))
    }
}

/// The maximum over dimension 1 of a `(B, N, C)` tensor, `(B, C)`: PointNet's global
/// max-pool over points. The gradient of each output goes to the first (lowest `n`)
/// maximum only, as in PyTorch and TensorFlow. On a CUDA GPU (f32, `cuda` feature)
/// candor's kernel runs; elsewhere off the CPU and for other dtypes, `candle_max_dim1`.
pub fn max_dim1(x: &Tensor) -> Result<Tensor> {
    let (_, n, _) = x
        .dims3()
        .map_err(|_| Error::invalid(format!("max_dim1 expects (B, N, C), got {:?}", x.dims())))?;
    if n == 0 {
        return Err(Error::invalid("max_dim1: no elements along dimension 1"));
    }
    // A CUDA kernel (f32) keeps the first-maximum rule on the GPU.
    match route_with_cuda("max_dim1", &[x], Candle::Trainable, true)? {
        Route::Kernel => Ok(x.contiguous()?.apply_op1(MaxDim1)?),
        Route::Candle => candle_max_dim1(x),
    }
}

/// [`max_dim1`] from candle ops: a gather at the arg-max, whose backward (a scatter-add)
/// sends the gradient to that one element, not to every tie as candle's `max` does.
/// candle's CPU arg-max picks the first maximum (as the kernel); a GPU arg-max may
/// pick another of several exactly tied values.
pub(crate) fn candle_max_dim1(x: &Tensor) -> Result<Tensor> {
    let idx = x.argmax_keepdim(1)?;
    Ok(x.gather(&idx, 1)?.squeeze(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check;
    use candle_core::{DType, Device, Var};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        crate::SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, DType::F64, &Device::Cpu)
            .unwrap()
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_max_dim1_matches_the_cpu_with_ties() {
        let Some(gpu) = crate::ops::gpu_for_tests() else {
            return;
        };
        // Points 3 and 7 duplicate point 1: the gradient must go to point 1 only.
        let mut x = rand(&[2, 9, 5], 11).to_dtype(DType::F32).unwrap();
        let p1 = x.narrow(1, 1, 1).unwrap().affine(1.0, 10.0).unwrap();
        for i in [1, 3, 7] {
            x = x.slice_assign(&[0..2, i..i + 1, 0..5], &p1).unwrap();
        }
        let run = |dev: &Device| crate::ops::value_and_grad_on(dev, &x, 2, max_dim1);
        let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&gpu));
        let bits = |t: &Tensor| {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&yc), bits(&yg), "forward");
        assert_eq!(bits(&gc), bits(&gg), "backward");
        let on_tie = gc
            .narrow(1, 3, 1)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap();
        assert_eq!(
            on_tie.to_scalar::<f32>().unwrap(),
            0.0,
            "no gradient on a later tie"
        );
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_max_and_avg_pool_match_the_cpu() {
        let Some(gpu) = crate::ops::gpu_for_tests() else {
            return;
        };
        // Ties (a constant plane: the gradient goes to the first maximum), padding,
        // ragged windows, overlapping and disjoint windows.
        let mut x = rand(&[2, 3, 11, 9], 5).to_dtype(DType::F32).unwrap();
        x = x
            .slice_assign(
                &[0..1, 0..1, 0..11, 0..9],
                &Tensor::ones((1, 1, 11, 9), DType::F32, &Device::Cpu).unwrap(),
            )
            .unwrap();
        for p in [
            Pool2dParams::new(3, 2, 1),
            Pool2dParams::new(2, 2, 0),
            Pool2dParams {
                kernel: (3, 5),
                stride: (1, 2),
                padding: (1, 2),
            },
        ] {
            for op in ["max", "avg-incl", "avg-excl"] {
                let run = |dev: &Device| {
                    crate::ops::value_and_grad_on(dev, &x, 9, |v| match op {
                        "max" => max_pool2d(v, p),
                        "avg-incl" => avg_pool2d(v, p, true),
                        _ => avg_pool2d(v, p, false),
                    })
                };
                let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&gpu));
                let d = crate::ops::max_abs_f32;
                assert!(d(&yc, &yg) < 1e-5, "{op} {p:?}: forward");
                assert!(d(&gc, &gg) < 1e-5, "{op} {p:?}: backward");
            }
        }
    }

    /// The vectorised forward picks what the scalar scan picks, index and value, with
    /// ties (values on a coarse grid), −∞, NaN, padding, strides 1–3 and kernels 1–4.
    #[test]
    fn vectorised_max_forward_is_the_scalar_scan() {
        let mut rng = crate::SeededRng::new(9);
        let (mut cases, mut wide) = (0, 0);
        for (h, w) in [(7, 9), (8, 8), (5, 13), (1, 6), (9, 40)] {
            for k in 1..=4 {
                for s in 1..=3 {
                    for p in 0..=k / 2 {
                        let par = Pool2dParams {
                            kernel: (k.min(h + 2 * p), k),
                            stride: (s, s),
                            padding: (p.min(k.min(h + 2 * p) / 2), p),
                        };
                        let Ok((g, _, _)) = PGeom::new(&[1, 1, h, w], par, "test") else {
                            continue;
                        };
                        let mut x: Vec<f32> = (0..h * w)
                            .map(|_| (rng.uniform() * 4.0).floor() as f32)
                            .collect();
                        x[rng.below(h * w)] = f32::NEG_INFINITY;
                        if cases % 3 == 0 {
                            x[rng.below(h * w)] = f32::NAN;
                        }
                        let (mut y, mut i) = (vec![0f32; g.oh * g.ow], vec![0u32; g.oh * g.ow]);
                        let mut buf = vec![0f32; max_fwd_scratch(&g)];
                        max_fwd_plane_mv(&g, &x, &mut y, &mut i, &mut buf);
                        let (mut yw, mut iw) = (y.clone(), i.clone());
                        if let Some(mw) = MaxWide::new(&g) {
                            let mut buf = vec![0f32; mw.scratch(&g)];
                            let mut wide_idx = vec![0u32; mw.len];
                            max_fwd_wide_mv(&g, &mw, &x, &mut yw, &mut iw, &mut buf, &mut wide_idx);
                            wide += 1;
                        }
                        for oh in 0..g.oh {
                            for ow in 0..g.ow {
                                let want = g.argmax(&x, oh, ow);
                                let o = oh * g.ow + ow;
                                for (y, i, what) in [(&y, &i, "rows"), (&yw, &iw, "wide")] {
                                    let at = format!("{what} {h}×{w} {par:?} at ({oh}, {ow})");
                                    assert_eq!(i[o] as usize, want, "{at}");
                                    assert_eq!(y[o].to_bits(), x[want].to_bits(), "{at}");
                                }
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases > 60 && wide > 40, "{cases} {wide}");
    }

    #[test]
    fn max_pool_hand_case_and_first_max_gradient() {
        let x = candle_core::Var::new(
            &[[[[1.0f64, 5.0, 5.0], [2.0, 0.0, 3.0], [4.0, 4.0, 1.0]]]],
            &Device::Cpu,
        )
        .unwrap();
        let x = x.as_tensor();
        let y = max_pool2d(x, Pool2dParams::new(2, 1, 0)).unwrap();
        let v = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(v, vec![5.0, 5.0, 4.0, 4.0]);
        let g = y.sum_all().unwrap().backward().unwrap();
        let dx = g
            .get(x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        // Window (0,1) has the tie 5/5: the first (scan order) gets it, as PyTorch.
        assert_eq!(dx, vec![0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn avg_pool_matches_candle_when_candle_has_it() {
        let x = crate::SeededRng::new(0)
            .normal_tensor(0.0, 1.0, (2, 3, 8, 10), DType::F32, &Device::Cpu)
            .unwrap();
        let ours = avg_pool2d(&x, Pool2dParams::new(2, 2, 0), true).unwrap();
        let theirs = x.avg_pool2d(2).unwrap();
        let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6);
        let ours = max_pool2d(&x, Pool2dParams::new(2, 2, 0)).unwrap();
        let theirs = x.max_pool2d(2).unwrap();
        let d = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn adaptive_uneven_windows() {
        let x = Tensor::arange(0f64, 10.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 10))
            .unwrap();
        let y = adaptive_avg_pool2d(&x, 1, 3).unwrap();
        // windows [0,4), [3,7), [6,10)
        let v = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_eq!(v, vec![1.5, 4.5, 7.5]);
    }

    #[test]
    fn bad_params_are_errors() {
        let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool2d(&x, Pool2dParams::new(3, 2, 2)).is_err());
        assert!(max_pool2d(&x, Pool2dParams::new(5, 1, 0)).is_err());
        assert!(max_pool2d(&x, Pool2dParams::new(2, 0, 0)).is_err());
        assert!(adaptive_avg_pool2d(&x, 0, 1).is_err());
        let x3 = Tensor::zeros((1, 4, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(avg_pool2d(&x3, Pool2dParams::new(2, 2, 0), true).is_err());
    }

    #[test]
    fn max_dim1_forward_gradient_and_first_tie() {
        let x = rand(&[3, 11, 5], 7);
        let d = (max_dim1(&x).unwrap() - x.max(1).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f64>().unwrap(), 0.0);
        let r = check(|t| max_dim1(&t[0]), &[x], 80, 1e-6, 1e-7, 1e-6).unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
        // Ties: the gradient goes to the first maximum only.
        let v = Var::new(&[[[1f32, 5.0], [3.0, 5.0], [3.0, 2.0]]], &Device::Cpu).unwrap();
        let g = max_dim1(v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let dx = g.get(v.as_tensor()).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(
            dx,
            vec![vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.0, 0.0]]]
        );
        assert!(max_dim1(&rand(&[2, 0, 3], 1)).is_err());
        assert!(max_dim1(&rand(&[2, 3], 1)).is_err());
    }
}
