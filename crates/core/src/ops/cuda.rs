//! candor's CUDA kernels (the `cuda` feature): CUDA C compiled once per process with
//! NVRTC (no nvcc at build time; the PTX always matches the installed driver) and loaded
//! into each device through candle's custom-function cache.
//!
//! So far: the max over the points of `(B, N, C)` (PointNet's global pool, the gradient
//! to the first maximum as on the CPU; candle's GPU arg-max may pick another tie), max
//! and average pooling with padding (forward and backward; candle's has no
//! padding and a wrong max-pool backward), bilinear resampling (forward and backward;
//! candle's has no backward) and the
//! depthwise convolution (`groups == C_in`, any channel multiplier), whose
//! candle fallback is one convolution per group (14.7 ms on an H100 where PyTorch takes
//! 0.25 ms, shared/candle-notes.md): forward with an optional bias, input gradient,
//! weight gradient, and the bias gradient (a per-channel sum) that `conv2d_bias` needs.
//! f32 only. Every output element is computed by one thread (forward, input gradient)
//! or one block with a fixed reduction tree (weight and bias gradients), without atomics,
//! so the results are deterministic.
//!
//! The op wrappers in [`super::conv`] decide what runs where ([`super::backend`]); the
//! functions here take plain sizes and contiguous storages.

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout};

/// Sizes of a depthwise convolution: input `n × cin × h × w`, weight `cout × 1 × kh × kw`
/// (`cout` a multiple of `cin`), output `n × cout × oh × ow`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DwDims {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
}

const MODULE: &str = "candor_dwconv";

/// Threads per block of the reductions (a power of two; the tree below assumes it).
const RED_THREADS: u32 = 256;

const SRC: &str = r#"
struct Dims { int n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow; };

extern "C" __global__ void dw_fwd_f32(const float* x, const float* wt, const float* bias,
                                      int has_bias, float* y, Dims d) {
    long long total = (long long)d.n * d.cout * d.oh * d.ow;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int ox = (int)(idx % d.ow);
    long long t = idx / d.ow;
    int oy = (int)(t % d.oh);
    t /= d.oh;
    int co = (int)(t % d.cout);
    int b = (int)(t / d.cout);
    int ci = co / (d.cout / d.cin);
    const float* xp = x + ((long long)b * d.cin + ci) * d.h * d.w;
    const float* wp = wt + (long long)co * d.kh * d.kw;
    float acc = 0.0f;
    for (int ki = 0; ki < d.kh; ++ki) {
        int iy = oy * d.sh - d.ph + ki * d.dh;
        if (iy < 0 || iy >= d.h) continue;
        for (int kj = 0; kj < d.kw; ++kj) {
            int ix = ox * d.sw - d.pw + kj * d.dw;
            if (ix < 0 || ix >= d.w) continue;
            acc += xp[(long long)iy * d.w + ix] * wp[ki * d.kw + kj];
        }
    }
    y[idx] = has_bias ? acc + bias[co] : acc;
}

extern "C" __global__ void dw_bwd_input_f32(const float* dy, const float* wt, float* dx,
                                            Dims d) {
    long long total = (long long)d.n * d.cin * d.h * d.w;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int ix = (int)(idx % d.w);
    long long t = idx / d.w;
    int iy = (int)(t % d.h);
    t /= d.h;
    int ci = (int)(t % d.cin);
    int b = (int)(t / d.cin);
    int m = d.cout / d.cin;
    float acc = 0.0f;
    for (int j = 0; j < m; ++j) {
        int co = ci * m + j;
        const float* dyp = dy + ((long long)b * d.cout + co) * d.oh * d.ow;
        const float* wp = wt + (long long)co * d.kh * d.kw;
        for (int ki = 0; ki < d.kh; ++ki) {
            int ty = iy + d.ph - ki * d.dh;
            if (ty < 0 || ty % d.sh != 0) continue;
            int oy = ty / d.sh;
            if (oy >= d.oh) continue;
            for (int kj = 0; kj < d.kw; ++kj) {
                int tx = ix + d.pw - kj * d.dw;
                if (tx < 0 || tx % d.sw != 0) continue;
                int ox = tx / d.sw;
                if (ox >= d.ow) continue;
                acc += dyp[(long long)oy * d.ow + ox] * wp[ki * d.kw + kj];
            }
        }
    }
    dx[idx] = acc;
}

// Sum of `v` over the block (blockDim.x a power of two, at most 256), in a fixed order.
__device__ float block_sum(float v) {
    __shared__ float s[256];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int st = blockDim.x / 2; st > 0; st >>= 1) {
        if (threadIdx.x < st) s[threadIdx.x] += s[threadIdx.x + st];
        __syncthreads();
    }
    return s[0];
}

// One block per weight element (co, ki, kj).
extern "C" __global__ void dw_bwd_weight_f32(const float* x, const float* dy, float* dwt,
                                             Dims d) {
    int tap = blockIdx.x;
    int kj = tap % d.kw;
    int ki = (tap / d.kw) % d.kh;
    int co = tap / (d.kw * d.kh);
    int ci = co / (d.cout / d.cin);
    long long per = (long long)d.oh * d.ow;
    long long total = (long long)d.n * per;
    float acc = 0.0f;
    for (long long i = threadIdx.x; i < total; i += blockDim.x) {
        int b = (int)(i / per);
        long long r = i % per;
        int oy = (int)(r / d.ow);
        int ox = (int)(r % d.ow);
        int iy = oy * d.sh - d.ph + ki * d.dh;
        int ix = ox * d.sw - d.pw + kj * d.dw;
        if (iy >= 0 && iy < d.h && ix >= 0 && ix < d.w) {
            acc += dy[((long long)b * d.cout + co) * per + r]
                 * x[((long long)b * d.cin + ci) * d.h * d.w + (long long)iy * d.w + ix];
        }
    }
    float s = block_sum(acc);
    if (threadIdx.x == 0) dwt[tap] = s;
}

// One block per channel c of an (n, c, hw) tensor: the sum over n and hw.
extern "C" __global__ void channel_sum_f32(const float* dy, float* out, int n, int c,
                                           long long hw) {
    int ch = blockIdx.x;
    long long total = (long long)n * hw;
    float acc = 0.0f;
    for (long long i = threadIdx.x; i < total; i += blockDim.x) {
        long long b = i / hw;
        acc += dy[(b * c + ch) * hw + i % hw];
    }
    float s = block_sum(acc);
    if (threadIdx.x == 0) out[ch] = s;
}
"#;

/// The kernel struct `Dims` as the kernels read it (15 `int`s, passed by value).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct KDims([i32; 15]);

// SAFETY: a plain array of i32, laid out as the kernels' `struct Dims`.
unsafe impl candle_core::cuda_backend::cudarc::driver::DeviceRepr for KDims {}

impl DwDims {
    fn kernel(&self) -> candle_core::Result<KDims> {
        let v = [
            self.n, self.cin, self.h, self.w, self.cout, self.kh, self.kw, self.sh, self.sw,
            self.ph, self.pw, self.dh, self.dw, self.oh, self.ow,
        ];
        let mut out = [0i32; 15];
        for (o, &x) in out.iter_mut().zip(&v) {
            *o = i32::try_from(x).map_err(|_| {
                candle_core::Error::Msg(format!("depthwise conv on CUDA: size {x} exceeds i32"))
            })?;
        }
        if self.cin == 0 || !self.cout.is_multiple_of(self.cin) {
            candle_core::bail!(
                "depthwise conv on CUDA: {} output channels for {} inputs",
                self.cout,
                self.cin
            );
        }
        Ok(KDims(out))
    }
}

/// A CUDA C source, its module name in candle's custom-function cache, and its PTX,
/// compiled once per process with NVRTC on first use.
struct Source {
    module: &'static str,
    src: &'static str,
    ptx: OnceLock<std::result::Result<String, String>>,
}

impl Source {
    const fn new(module: &'static str, src: &'static str) -> Self {
        Source {
            module,
            src,
            ptx: OnceLock::new(),
        }
    }

    fn ptx(&self) -> candle_core::Result<&str> {
        self.ptx
            .get_or_init(|| {
                candle_core::cuda_backend::cudarc::nvrtc::compile_ptx(self.src)
                    .map(|p| p.to_src())
                    .map_err(|e| format!("compiling {} with NVRTC: {e}", self.module))
            })
            .as_deref()
            .map_err(|e| candle_core::Error::Msg(e.clone()))
    }
}

static DWCONV: Source = Source::new(MODULE, SRC);
static UPSAMPLE: Source = Source::new("candor_upsample", UPSAMPLE_SRC);
static POOL: Source = Source::new("candor_pool", POOL_SRC);
static MAXDIM1: Source = Source::new("candor_max_dim1", MAXDIM1_SRC);

fn f32_slice<'a>(
    s: &'a CudaStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<candle_core::cuda_backend::cudarc::driver::CudaView<'a, f32>> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{what}: CUDA kernel needs a contiguous tensor")
    };
    Ok(s.as_cuda_slice::<f32>()?.slice(a..b))
}

fn blocks(total: usize, threads: u32) -> candle_core::Result<u32> {
    u32::try_from(total.div_ceil(threads as usize))
        .map_err(|_| candle_core::Error::Msg(format!("CUDA grid of {total} elements too large")))
}

fn elementwise(total: usize) -> candle_core::Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (blocks(total, 256)?.max(1), 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

fn per_block(blocks: usize) -> candle_core::Result<LaunchConfig> {
    let g = u32::try_from(blocks.max(1))
        .map_err(|_| candle_core::Error::Msg(format!("CUDA grid of {blocks} blocks too large")))?;
    Ok(LaunchConfig {
        grid_dim: (g, 1, 1),
        block_dim: (RED_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Depthwise forward: `y = conv(x, w) (+ bias)`, `n × cout × oh × ow`.
pub(crate) fn dw_fwd(
    d: &DwDims,
    x: (&CudaStorage, &Layout),
    w: (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
) -> candle_core::Result<CudaStorage> {
    let dev = x.0.device().clone();
    let k = d.kernel()?;
    let total = d.n * d.cout * d.oh * d.ow;
    let (xs, ws) = (
        f32_slice(x.0, x.1, "conv2d")?,
        f32_slice(w.0, w.1, "conv2d")?,
    );
    // Without a bias the kernel never reads `bias`: pass the weights in its place
    // rather than allocating a dummy buffer on every call.
    let bs = match bias {
        Some((s, l)) => f32_slice(s, l, "conv2d bias")?,
        None => f32_slice(w.0, w.1, "conv2d")?,
    };
    let has_bias = i32::from(bias.is_some());
    // SAFETY: every element is written by the kernel below.
    let y = unsafe { dev.alloc::<f32>(total.max(1))? };
    let f = dev.get_or_load_custom_func("dw_fwd_f32", DWCONV.module, DWCONV.ptx()?)?;
    let mut b = f.builder();
    b.arg(&xs);
    b.arg(&ws);
    b.arg(&bs);
    b.arg(&has_bias);
    b.arg(&y);
    b.arg(&k);
    // SAFETY: the kernel reads n·cin·h·w inputs, cout·kh·kw weights and cout biases
    // (checked by the caller's geometry) and writes `total` outputs.
    unsafe { b.launch(elementwise(total)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(y, dev))
}

/// Depthwise input gradient from `dy` (`n × cout × oh × ow`): `n × cin × h × w`.
pub(crate) fn dw_bwd_input(
    d: &DwDims,
    dy: (&CudaStorage, &Layout),
    w: (&CudaStorage, &Layout),
) -> candle_core::Result<CudaStorage> {
    let dev = dy.0.device().clone();
    let k = d.kernel()?;
    let total = d.n * d.cin * d.h * d.w;
    let (dys, ws) = (
        f32_slice(dy.0, dy.1, "conv2d backward")?,
        f32_slice(w.0, w.1, "conv2d backward")?,
    );
    // SAFETY: every element is written by the kernel below.
    let dx = unsafe { dev.alloc::<f32>(total.max(1))? };
    let f = dev.get_or_load_custom_func("dw_bwd_input_f32", DWCONV.module, DWCONV.ptx()?)?;
    let mut b = f.builder();
    b.arg(&dys);
    b.arg(&ws);
    b.arg(&dx);
    b.arg(&k);
    // SAFETY: reads n·cout·oh·ow gradients and cout·kh·kw weights, writes `total`.
    unsafe { b.launch(elementwise(total)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(dx, dev))
}

/// Depthwise weight gradient: `cout × 1 × kh × kw`.
pub(crate) fn dw_bwd_weight(
    d: &DwDims,
    x: (&CudaStorage, &Layout),
    dy: (&CudaStorage, &Layout),
) -> candle_core::Result<CudaStorage> {
    let dev = x.0.device().clone();
    let k = d.kernel()?;
    let taps = d.cout * d.kh * d.kw;
    let (xs, dys) = (
        f32_slice(x.0, x.1, "conv2d backward")?,
        f32_slice(dy.0, dy.1, "conv2d backward")?,
    );
    // SAFETY: every element is written by the kernel below.
    let dw = unsafe { dev.alloc::<f32>(taps.max(1))? };
    let f = dev.get_or_load_custom_func("dw_bwd_weight_f32", DWCONV.module, DWCONV.ptx()?)?;
    let mut b = f.builder();
    b.arg(&xs);
    b.arg(&dys);
    b.arg(&dw);
    b.arg(&k);
    // SAFETY: one block per weight element; reads inside x and dy as sized by `d`.
    unsafe { b.launch(per_block(taps)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(dw, dev))
}

/// The sum of `dy` (`n × c × hw`) over `n` and `hw`: `c` values (the bias gradient).
pub(crate) fn channel_sum(
    n: usize,
    c: usize,
    hw: usize,
    dy: (&CudaStorage, &Layout),
) -> candle_core::Result<CudaStorage> {
    let dev = dy.0.device().clone();
    let dys = f32_slice(dy.0, dy.1, "conv2d bias backward")?;
    let (ni, ci) = (
        i32::try_from(n).map_err(|_| candle_core::Error::Msg("batch exceeds i32".into()))?,
        i32::try_from(c).map_err(|_| candle_core::Error::Msg("channels exceed i32".into()))?,
    );
    let hwi = hw as i64;
    // SAFETY: every element is written by the kernel below.
    let out = unsafe { dev.alloc::<f32>(c.max(1))? };
    let f = dev.get_or_load_custom_func("channel_sum_f32", DWCONV.module, DWCONV.ptx()?)?;
    let mut b = f.builder();
    b.arg(&dys);
    b.arg(&out);
    b.arg(&ni);
    b.arg(&ci);
    b.arg(&hwi);
    // SAFETY: one block per channel; reads n·c·hw values.
    unsafe { b.launch(per_block(c)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}

const UPSAMPLE_SRC: &str = r#"
// Forward: one thread per output (plane, i, j); the taps per output row and column.
extern "C" __global__ void up_fwd_f32(const float* x, float* y, long long planes, int h, int w,
                                      int oh, int ow, const int* y0, const int* y1,
                                      const float* a0, const float* a1, const int* x0,
                                      const int* x1, const float* b0, const float* b1) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= planes * oh * ow) return;
    int j = (int)(idx % ow);
    int i = (int)((idx / ow) % oh);
    long long pl = idx / ((long long)oh * ow);
    const float* xp = x + pl * h * w;
    y[idx] = a0[i] * (b0[j] * xp[y0[i] * w + x0[j]] + b1[j] * xp[y0[i] * w + x1[j]])
           + a1[i] * (b0[j] * xp[y1[i] * w + x0[j]] + b1[j] * xp[y1[i] * w + x1[j]]);
}

// Backward as a gather (deterministic, no atomics): one thread per input (plane, r, c)
// sums over the outputs that tap it, listed per input row (rp/ri/rw, CSR) and per input
// column (cp/ci/cw).
extern "C" __global__ void up_bwd_f32(const float* dy, float* dx, long long planes, int h,
                                      int w, int oh, int ow, const int* rp, const int* ri,
                                      const float* rw, const int* cp, const int* ci,
                                      const float* cw) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= planes * h * w) return;
    int c = (int)(idx % w);
    int r = (int)((idx / w) % h);
    long long pl = idx / ((long long)h * w);
    const float* dyp = dy + pl * oh * ow;
    float acc = 0.0f;
    for (int a = rp[r]; a < rp[r + 1]; ++a) {
        float row = 0.0f;
        for (int b = cp[c]; b < cp[c + 1]; ++b) row += cw[b] * dyp[(long long)ri[a] * ow + ci[b]];
        acc += rw[a] * row;
    }
    dx[idx] = acc;
}
"#;

/// Taps of bilinear resampling along one axis, per output index: `(i0, i1, λ0, λ1)`.
pub(crate) type Taps = [(usize, usize, f64, f64)];

fn i32s(v: impl Iterator<Item = usize>) -> candle_core::Result<Vec<i32>> {
    v.map(|x| {
        i32::try_from(x).map_err(|_| candle_core::Error::Msg(format!("index {x} exceeds i32")))
    })
    .collect()
}

/// Bilinear resampling forward of `planes` planes `h × w` → `oh × ow` with the row taps
/// `ty` (`oh`) and column taps `tx` (`ow`).
pub(crate) fn upsample_fwd(
    x: (&CudaStorage, &Layout),
    planes: usize,
    (h, w): (usize, usize),
    ty: &Taps,
    tx: &Taps,
) -> candle_core::Result<CudaStorage> {
    let dev = x.0.device().clone();
    let (oh, ow) = (ty.len(), tx.len());
    let xs = f32_slice(x.0, x.1, "upsample_bilinear2d")?;
    let axis = |t: &Taps| -> candle_core::Result<_> {
        Ok((
            dev.clone_htod(&i32s(t.iter().map(|v| v.0))?)?,
            dev.clone_htod(&i32s(t.iter().map(|v| v.1))?)?,
            dev.clone_htod(&t.iter().map(|v| v.2 as f32).collect::<Vec<_>>())?,
            dev.clone_htod(&t.iter().map(|v| v.3 as f32).collect::<Vec<_>>())?,
        ))
    };
    let ((y0, y1, a0, a1), (x0, x1, b0, b1)) = (axis(ty)?, axis(tx)?);
    let total = planes * oh * ow;
    let (pl, hi, wi, ohi, owi) = (planes as i64, dim(h)?, dim(w)?, dim(oh)?, dim(ow)?);
    // SAFETY: every element is written by the kernel below.
    let y = unsafe { dev.alloc::<f32>(total.max(1))? };
    let f = dev.get_or_load_custom_func("up_fwd_f32", UPSAMPLE.module, UPSAMPLE.ptx()?)?;
    let mut b = f.builder();
    b.arg(&xs);
    b.arg(&y);
    b.arg(&pl);
    b.arg(&hi);
    b.arg(&wi);
    b.arg(&ohi);
    b.arg(&owi);
    b.arg(&y0);
    b.arg(&y1);
    b.arg(&a0);
    b.arg(&a1);
    b.arg(&x0);
    b.arg(&x1);
    b.arg(&b0);
    b.arg(&b1);
    // SAFETY: taps index inside h × w (built by `taps`); `total` outputs written.
    unsafe { b.launch(elementwise(total)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(y, dev))
}

/// The outputs that tap each input index along one axis, as CSR lists `(ptr, index,
/// weight)`, each list in output order.
fn taps_by_input(t: &Taps, len_in: usize) -> (Vec<usize>, Vec<usize>, Vec<f32>) {
    let mut lists: Vec<Vec<(usize, f32)>> = vec![Vec::new(); len_in];
    for (o, &(i0, i1, l0, l1)) in t.iter().enumerate() {
        lists[i0].push((o, l0 as f32));
        lists[i1].push((o, l1 as f32));
    }
    let mut ptr = vec![0];
    let (mut idx, mut wt) = (Vec::new(), Vec::new());
    for l in lists {
        for (o, v) in l {
            idx.push(o);
            wt.push(v);
        }
        ptr.push(idx.len());
    }
    (ptr, idx, wt)
}

/// Bilinear resampling backward: `dy` (`planes × oh × ow`) → `planes × h × w`.
pub(crate) fn upsample_bwd(
    dy: (&CudaStorage, &Layout),
    planes: usize,
    (h, w): (usize, usize),
    ty: &Taps,
    tx: &Taps,
) -> candle_core::Result<CudaStorage> {
    let dev = dy.0.device().clone();
    let (oh, ow) = (ty.len(), tx.len());
    let dys = f32_slice(dy.0, dy.1, "upsample_bilinear2d backward")?;
    let axis = |t: &Taps, len: usize| -> candle_core::Result<_> {
        let (p, i, v) = taps_by_input(t, len);
        Ok((
            dev.clone_htod(&i32s(p.into_iter())?)?,
            dev.clone_htod(&i32s(i.into_iter())?)?,
            dev.clone_htod(&v)?,
        ))
    };
    let ((rp, ri, rw), (cp, ci, cw)) = (axis(ty, h)?, axis(tx, w)?);
    let total = planes * h * w;
    let (pl, hi, wi, ohi, owi) = (planes as i64, dim(h)?, dim(w)?, dim(oh)?, dim(ow)?);
    // SAFETY: every element is written by the kernel below.
    let dx = unsafe { dev.alloc::<f32>(total.max(1))? };
    let f = dev.get_or_load_custom_func("up_bwd_f32", UPSAMPLE.module, UPSAMPLE.ptx()?)?;
    let mut b = f.builder();
    b.arg(&dys);
    b.arg(&dx);
    b.arg(&pl);
    b.arg(&hi);
    b.arg(&wi);
    b.arg(&ohi);
    b.arg(&owi);
    b.arg(&rp);
    b.arg(&ri);
    b.arg(&rw);
    b.arg(&cp);
    b.arg(&ci);
    b.arg(&cw);
    // SAFETY: the CSR lists index inside oh × ow; `total` inputs written.
    unsafe { b.launch(elementwise(total)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(dx, dev))
}

fn dim(x: usize) -> candle_core::Result<i32> {
    i32::try_from(x).map_err(|_| candle_core::Error::Msg(format!("size {x} exceeds i32")))
}

const POOL_SRC: &str = r#"
struct PDims { long long planes; int h, w, oh, ow, kh, kw, sh, sw, ph, pw, inc; };

// Input range [lo, hi) of output index o along an axis, clipped to the image.
__device__ void span(int o, int s, int p, int k, int len, int* lo, int* hi) {
    int st = o * s - p;
    *lo = st < 0 ? 0 : st;
    int e = st + k;
    if (e < 0) e = 0;
    *hi = e < len ? e : len;
}

// The first maximum of the window in scan order (strict >; NaN wins), as PyTorch.
__device__ int window_argmax(const float* xp, const PDims& d, int oy, int ox) {
    int r0, r1, c0, c1;
    span(oy, d.sh, d.ph, d.kh, d.h, &r0, &r1);
    span(ox, d.sw, d.pw, d.kw, d.w, &c0, &c1);
    int best = r0 * d.w + c0;
    float bv = 0.0f;
    bool first = true;
    for (int r = r0; r < r1; ++r) {
        for (int c = c0; c < c1; ++c) {
            float v = xp[r * d.w + c];
            bool nan = v != v;
            if (first || v > bv || nan) {
                best = r * d.w + c;
                bv = v;
                first = false;
                if (nan) return best;
            }
        }
    }
    return best;
}

__device__ int avg_divisor(const PDims& d, int oy, int ox) {
    if (d.inc) return d.kh * d.kw;
    int r0, r1, c0, c1;
    span(oy, d.sh, d.ph, d.kh, d.h, &r0, &r1);
    span(ox, d.sw, d.pw, d.kw, d.w, &c0, &c1);
    int n = (r1 - r0) * (c1 - c0);
    return n > 1 ? n : 1;
}

// Outputs [o0, o1] (inclusive) whose windows cover input index i along an axis.
__device__ void covering(int i, int s, int p, int k, int out_len, int* o0, int* o1) {
    int a = i + p - k + 1;
    *o0 = a <= 0 ? 0 : (a + s - 1) / s;
    int b = (i + p) / s;
    *o1 = b < out_len - 1 ? b : out_len - 1;
}

extern "C" __global__ void max_fwd_f32(const float* x, float* y, PDims d) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= d.planes * d.oh * d.ow) return;
    int ox = (int)(idx % d.ow);
    int oy = (int)((idx / d.ow) % d.oh);
    const float* xp = x + idx / ((long long)d.oh * d.ow) * d.h * d.w;
    y[idx] = xp[window_argmax(xp, d, oy, ox)];
}

// Gather form: each input sums the gradients of the windows whose first maximum it is.
extern "C" __global__ void max_bwd_f32(const float* x, const float* dy, float* dx, PDims d) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= d.planes * d.h * d.w) return;
    int c = (int)(idx % d.w);
    int r = (int)((idx / d.w) % d.h);
    long long pl = idx / ((long long)d.h * d.w);
    const float* xp = x + pl * d.h * d.w;
    const float* dyp = dy + pl * d.oh * d.ow;
    int oy0, oy1, ox0, ox1;
    covering(r, d.sh, d.ph, d.kh, d.oh, &oy0, &oy1);
    covering(c, d.sw, d.pw, d.kw, d.ow, &ox0, &ox1);
    int me = r * d.w + c;
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; ++oy)
        for (int ox = ox0; ox <= ox1; ++ox)
            if (window_argmax(xp, d, oy, ox) == me) acc += dyp[oy * d.ow + ox];
    dx[idx] = acc;
}

extern "C" __global__ void avg_fwd_f32(const float* x, float* y, PDims d) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= d.planes * d.oh * d.ow) return;
    int ox = (int)(idx % d.ow);
    int oy = (int)((idx / d.ow) % d.oh);
    const float* xp = x + idx / ((long long)d.oh * d.ow) * d.h * d.w;
    int r0, r1, c0, c1;
    span(oy, d.sh, d.ph, d.kh, d.h, &r0, &r1);
    span(ox, d.sw, d.pw, d.kw, d.w, &c0, &c1);
    float acc = 0.0f;
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c) acc += xp[r * d.w + c];
    y[idx] = acc / (float)avg_divisor(d, oy, ox);
}

extern "C" __global__ void avg_bwd_f32(const float* dy, float* dx, PDims d) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= d.planes * d.h * d.w) return;
    int c = (int)(idx % d.w);
    int r = (int)((idx / d.w) % d.h);
    const float* dyp = dy + idx / ((long long)d.h * d.w) * d.oh * d.ow;
    int oy0, oy1, ox0, ox1;
    covering(r, d.sh, d.ph, d.kh, d.oh, &oy0, &oy1);
    covering(c, d.sw, d.pw, d.kw, d.ow, &ox0, &ox1);
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; ++oy)
        for (int ox = ox0; ox <= ox1; ++ox)
            acc += dyp[oy * d.ow + ox] / (float)avg_divisor(d, oy, ox);
    dx[idx] = acc;
}
"#;

/// Sizes of a 2-D pooling: `planes` planes `h × w` → `oh × ow`, kernel, stride,
/// padding, and (average pooling) whether the padding counts in the divisor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolDims {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub include_pad: bool,
}

/// The kernels' `struct PDims`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct KPool {
    planes: i64,
    d: [i32; 11],
}

// SAFETY: an i64 and 11 i32s, laid out (with C's trailing padding) as `struct PDims`.
unsafe impl candle_core::cuda_backend::cudarc::driver::DeviceRepr for KPool {}

impl PoolDims {
    fn kernel(&self) -> candle_core::Result<KPool> {
        let v = [
            self.h,
            self.w,
            self.oh,
            self.ow,
            self.kernel.0,
            self.kernel.1,
            self.stride.0,
            self.stride.1,
            self.padding.0,
            self.padding.1,
            usize::from(self.include_pad),
        ];
        let mut d = [0i32; 11];
        for (o, &x) in d.iter_mut().zip(&v) {
            *o = dim(x)?;
        }
        Ok(KPool {
            planes: self.planes as i64,
            d,
        })
    }
}

/// Which pooling kernel [`pool`] launches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKernel {
    /// Max-pool forward: `x` → `planes × oh × ow`.
    MaxFwd,
    /// Max-pool backward: `(x, dy)` → `planes × h × w`.
    MaxBwd,
    /// Average-pool forward: `x` → `planes × oh × ow`.
    AvgFwd,
    /// Average-pool backward: `dy` → `planes × h × w`.
    AvgBwd,
}

/// Runs one pooling kernel on `inputs` (see [`PoolKernel`] for which).
pub(crate) fn pool(
    which: PoolKernel,
    d: &PoolDims,
    inputs: &[(&CudaStorage, &Layout)],
) -> candle_core::Result<CudaStorage> {
    let (name, want, total) = match which {
        PoolKernel::MaxFwd => ("max_fwd_f32", 1, d.planes * d.oh * d.ow),
        PoolKernel::MaxBwd => ("max_bwd_f32", 2, d.planes * d.h * d.w),
        PoolKernel::AvgFwd => ("avg_fwd_f32", 1, d.planes * d.oh * d.ow),
        PoolKernel::AvgBwd => ("avg_bwd_f32", 1, d.planes * d.h * d.w),
    };
    if inputs.len() != want {
        candle_core::bail!(
            "pooling on CUDA: {name} takes {want} inputs, got {}",
            inputs.len()
        );
    }
    let dev = inputs[0].0.device().clone();
    let k = d.kernel()?;
    let views = inputs
        .iter()
        .map(|(s, l)| f32_slice(s, l, "pooling"))
        .collect::<candle_core::Result<Vec<_>>>()?;
    // SAFETY: every element is written by the kernel below.
    let out = unsafe { dev.alloc::<f32>(total.max(1))? };
    let f = dev.get_or_load_custom_func(name, POOL.module, POOL.ptx()?)?;
    let mut b = f.builder();
    for v in &views {
        b.arg(v);
    }
    b.arg(&out);
    b.arg(&k);
    // SAFETY: windows are clipped to the image; `total` outputs written.
    unsafe { b.launch(elementwise(total)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}

const MAXDIM1_SRC: &str = r#"
// One thread per (batch, channel): the maximum over n, updated as the CPU kernel does
// (v > m, or either is NaN).
extern "C" __global__ void max_dim1_fwd_f32(const float* x, float* y, int b, int n, int c) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)b * c) return;
    int j = (int)(idx % c);
    const float* xb = x + (idx / c) * n * c;
    float m = -__int_as_float(0x7f800000);
    for (int i = 0; i < n; ++i) {
        float v = xb[(long long)i * c + j];
        if (v > m || v != v || m != m) m = v;
    }
    y[idx] = m;
}

// dx (zeroed by the caller): the gradient of each (batch, channel) goes to the first n
// whose value equals the maximum (both NaN counts as equal).
extern "C" __global__ void max_dim1_bwd_f32(const float* x, const float* m, const float* dy,
                                            float* dx, int b, int n, int c) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)b * c) return;
    int j = (int)(idx % c);
    long long base = (idx / c) * n * c;
    float mv = m[idx];
    for (int i = 0; i < n; ++i) {
        float v = x[base + (long long)i * c + j];
        if (v == mv || (v != v && mv != mv)) {
            dx[base + (long long)i * c + j] = dy[idx];
            return;
        }
    }
}
"#;

/// The max over dimension 1 of `x` (`b × n × c`): `b × c`.
pub(crate) fn max_dim1_fwd(
    x: (&CudaStorage, &Layout),
    (b, n, c): (usize, usize, usize),
) -> candle_core::Result<CudaStorage> {
    let dev = x.0.device().clone();
    let xs = f32_slice(x.0, x.1, "max_dim1")?;
    let (bi, ni, ci) = (dim(b)?, dim(n)?, dim(c)?);
    // SAFETY: every element is written by the kernel below.
    let y = unsafe { dev.alloc::<f32>((b * c).max(1))? };
    let f = dev.get_or_load_custom_func("max_dim1_fwd_f32", MAXDIM1.module, MAXDIM1.ptx()?)?;
    let mut l = f.builder();
    l.arg(&xs);
    l.arg(&y);
    l.arg(&bi);
    l.arg(&ni);
    l.arg(&ci);
    // SAFETY: reads b·n·c inputs, writes b·c outputs.
    unsafe { l.launch(elementwise(b * c)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(y, dev))
}

/// The gradient of [`max_dim1_fwd`]: `pair` holds the forward's result (`b × c`) then
/// `dy` (`b × c`); the output is `b × n × c`.
pub(crate) fn max_dim1_bwd(
    x: (&CudaStorage, &Layout),
    pair: (&CudaStorage, &Layout),
    (b, n, c): (usize, usize, usize),
) -> candle_core::Result<CudaStorage> {
    let dev = x.0.device().clone();
    let xs = f32_slice(x.0, x.1, "max_dim1 backward")?;
    let ps = f32_slice(pair.0, pair.1, "max_dim1 backward")?;
    let (m, dy) = (ps.slice(0..b * c), ps.slice(b * c..2 * b * c));
    let (bi, ni, ci) = (dim(b)?, dim(n)?, dim(c)?);
    let dx = dev.alloc_zeros::<f32>((b * n * c).max(1))?;
    let f = dev.get_or_load_custom_func("max_dim1_bwd_f32", MAXDIM1.module, MAXDIM1.ptx()?)?;
    let mut l = f.builder();
    l.arg(&xs);
    l.arg(&m);
    l.arg(&dy);
    l.arg(&dx);
    l.arg(&bi);
    l.arg(&ni);
    l.arg(&ci);
    // SAFETY: reads b·n·c inputs and 2·b·c values of `pair`, writes one element per
    // (batch, channel) column of dx.
    unsafe { l.launch(elementwise(b * c)?) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(dx, dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NVRTC needs no GPU: every kernel source compiles on the build machine too.
    #[test]
    fn cuda_kernels_compile_with_nvrtc() {
        for s in [&DWCONV, &UPSAMPLE, &POOL, &MAXDIM1] {
            let ptx = s.ptx().unwrap_or_else(|e| panic!("{}: {e}", s.module));
            assert!(ptx.contains(".entry"), "{}: no kernel in the PTX", s.module);
        }
    }

    #[test]
    fn taps_by_input_lists_every_tap_once() {
        let t = [(0, 1, 0.75, 0.25), (0, 1, 0.25, 0.75), (1, 1, 1.0, 0.0)];
        let (p, i, w) = taps_by_input(&t, 2);
        assert_eq!(p, vec![0, 2, 6]);
        assert_eq!(i, vec![0, 1, 0, 1, 2, 2]);
        assert_eq!(w, vec![0.75, 0.25, 0.25, 0.75, 1.0, 0.0]);
    }
}
