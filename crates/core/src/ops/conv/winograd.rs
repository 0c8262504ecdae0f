//! Winograd's minimal filtering F(2×2, 3×3) for dense and grouped 3×3 stride-1
//! convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR
//! 2016): each 2×2 block of outputs ("tile") from its 4×4 input patch `d` as
//! `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`,
//! summed over the input channels: 16 products per tile and channel pair instead of the
//! direct convolution's 36. The sum over channels is one matrix product per frequency
//! `ξ` of the 4×4 transforms, `M_ξ (C_out × tiles) = U_ξ (C_out × C_in) · V_ξ (C_in ×
//! tiles)` (per group), run on [`f32_avx512`]'s kernels.
//!
//! - **Forward**: `V = Bᵀ d B` per input channel and tile, written straight into the
//!   packed panels of the product; `M_ξ = U_ξ · V_ξ`; `Y = Aᵀ M A` (+ bias) into the
//!   output planes.
//! - **Input gradient**: the forward of `dY` with the kernel flipped and its channels
//!   swapped, padded by `2 − p` (a stride-1 convolution's adjoint).
//! - **Weight gradient**: by linearity, `∂L/∂U_ξ = Σ_tiles (A dY Aᵀ)_ξ · V_ξᵀ` (one
//!   product per frequency, the tiles its inner dimension) and `∂L/∂g = Gᵀ (∂L/∂U) G`.
//!
//! The values are the direct convolution's up to float rounding (the transforms' sums
//! round differently; the tests hold them to the f64 direct convolution's tolerance).
//! [`ConvAlgorithm::Direct`] turns this path off.
//!
//! Tiles are indexed as the stride-2 phase planes of the padded input are
//! (`ops::conv`'s `Phased` with a 4×4 kernel): tile `(ti, tj)` is `n = ti·wa + tj` with
//! `wa = tw + 1`, so that the 16 values of `d` for 16 consecutive `n` are 16 contiguous
//! loads from the four planes; the extra column `tj = tw` meets no output.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::atomic::{AtomicU8, Ordering};

use rayon::prelude::*;

use super::{
    f32_avx512, line_len, phase_fill_mv, reduction_chunk, sum_parts, threads, with_scratch, Geom,
    RowBlocksOut,
};

/// Which algorithm the dense 3×3 stride-1 convolutions use on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgorithm {
    /// Winograd F(2×2, 3×3) where it applies (3×3 stride 1, f32, AVX-512, at least
    /// 24 input and output channels per group, outputs of 256 pixels or more and 8
    /// columns or more), the
    /// direct convolution elsewhere.
    #[default]
    Auto,
    /// Always the direct convolution (im2col products): bit for bit the results of
    /// candor before the Winograd path.
    Direct,
}

static ALGORITHM: AtomicU8 = AtomicU8::new(0);

/// Choose the convolution algorithm for the whole process (default
/// [`ConvAlgorithm::Auto`]). Takes effect for the next convolution.
pub fn set_conv_algorithm(a: ConvAlgorithm) {
    ALGORITHM.store(a as u8, Ordering::Relaxed);
}

/// The algorithm set by [`set_conv_algorithm`].
pub fn conv_algorithm() -> ConvAlgorithm {
    match ALGORITHM.load(Ordering::Relaxed) {
        0 => ConvAlgorithm::Auto,
        _ => ConvAlgorithm::Direct,
    }
}

thread_local! {
    /// Set by [`direct_only`]: this thread's convolutions take the direct path.
    static DIRECT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with the direct convolution on this thread (the tests compare the paths).
#[cfg(test)]
pub(crate) fn direct_only<R>(f: impl FnOnce() -> R) -> R {
    super::super::kernel::with_flag(&DIRECT, f)
}

/// Fewest input and output channels per group for the Winograd path: below it the
/// products are too narrow (the forward's inner dimension, the weight gradient's columns)
/// for the transforms to pay (16 → 16 at 64² was even in the forward and 1.6× slower in the
/// weight gradient; 24 → 40 at 20² faster in all three).
pub(super) const MIN_CHANNELS: usize = 24;

/// Fewest output pixels: on an 8 × 8 map (20 % of the tiles the extra column's) the
/// direct convolution was faster.
const MIN_PIXELS: usize = 256;

/// Whether the f32 AVX-512 convolution `g` runs as Winograd F(2×2, 3×3). The caller has
/// checked f32 and AVX-512.
pub(super) fn applies(g: &Geom) -> bool {
    g.kh == 3
        && g.kw == 3
        && (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1)
        && g.cg() >= MIN_CHANNELS
        && g.og() >= MIN_CHANNELS
        && g.ph <= 2
        && g.pw <= 2
        && g.oh + 2 == g.h + 2 * g.ph
        && g.ow + 2 == g.w + 2 * g.pw
        && g.ohw() >= MIN_PIXELS
        // Four tiles a row at least: 16 consecutive tiles then touch at most 5 tile rows
        // (`Segments`), and a narrower map wastes a fifth or more on the extra column.
        && g.ow >= 8
        && cfg!(target_arch = "x86_64")
        && conv_algorithm() == ConvAlgorithm::Auto
        && !DIRECT.with(|d| d.get())
}

/// Tiles and their phase-plane layout for one convolution.
struct Plan {
    th: usize,
    tw: usize,
    /// Tiles per row of the layout: `tw` and one extra.
    wa: usize,
    /// `g` as a 4×4 stride-2 convolution over the tiles: [`phase_fill_mv`]'s geometry.
    fake: Geom,
    /// Tiles per product (a multiple of the kernel's 32 columns).
    chunk: usize,
    /// Chunks per band (one fill of the phase planes).
    band: usize,
}

/// Bytes of one chunk's transforms (`16 · (C_in + C_out) · chunk` floats): in L2 with the
/// band of phase planes they come from.
const CHUNK_BYTES: usize = 384 << 10;
/// Bytes of one band of the phase planes.
const BAND_BYTES: usize = 256 << 10;

impl Plan {
    fn new(g: &Geom) -> Plan {
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        let wa = tw + 1;
        let mut fake = *g;
        (fake.kh, fake.kw, fake.sh, fake.sw, fake.oh, fake.ow) = (4, 4, 2, 2, th, tw);
        let nr = f32_avx512::NR;
        let per_tile = 16 * (g.cin + g.cout) * 4;
        let total = th * wa;
        let chunk = (CHUNK_BYTES / per_tile / nr * nr).clamp(nr, total.next_multiple_of(nr));
        // Plane rows per band: 4 planes of wa per input channel.
        let rows = (BAND_BYTES / (16 * g.cin * wa)).max(2);
        let band = (rows * wa / chunk).max(1);
        Plan {
            th,
            tw,
            wa,
            fake,
            chunk,
            band,
        }
    }

    /// Extended tiles per image.
    fn total(&self) -> usize {
        self.th * self.wa
    }

    /// Plane rows `(i0, hl)` that tiles `s0..s1` read, and the length of their planes'
    /// buffer for `c` channels (with slack for the lanes past `s1`, which read on).
    fn rows(&self, s0: usize, s1: usize, c: usize) -> (usize, usize, usize) {
        let i0 = s0 / self.wa;
        let hl = (s1 - 1) / self.wa + 2 - i0;
        let len = 4 * c * hl * self.wa + 2 * f32_avx512::NR + self.wa + 2;
        (i0, hl, len)
    }
}

// ------------------------------------------------------------------- transforms

/// `U_ξ = (G g Gᵀ)_ξ` of every `(o, c)` of `w` (`O × C/groups × 3 × 3`), each frequency
/// and group packed as the product's `A` ([`f32_avx512::pack_a`], `O/groups × C/groups`),
/// frequency-major.
fn weight_transform(o: usize, c: usize, groups: usize, w: &[f32]) -> Vec<f32> {
    let mut u = vec![0f32; 16 * o * c];
    for (oc, g) in w.chunks_exact(9).enumerate() {
        // Rows: G g (4 × 3); then columns: (G g) Gᵀ (4 × 4).
        let mut s = [[0f32; 3]; 4];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            s[0][j] = g0;
            s[1][j] = 0.5 * (g0 + g1 + g2);
            s[2][j] = 0.5 * (g0 - g1 + g2);
            s[3][j] = g2;
        }
        for (i, r) in s.iter().enumerate() {
            let v = [
                r[0],
                0.5 * (r[0] + r[1] + r[2]),
                0.5 * (r[0] - r[1] + r[2]),
                r[2],
            ];
            for (j, x) in v.into_iter().enumerate() {
                u[(4 * i + j) * o * c + oc] = x;
            }
        }
    }
    let og = o / groups;
    let la = f32_avx512::packed_a_len(og, c);
    let mut pa = vec![0f32; 16 * groups * la];
    for (xg, p) in pa.chunks_exact_mut(la).enumerate() {
        // Frequency xg / groups, group xg % groups: rows g·og.. of U_ξ.
        f32_avx512::pack_a(og, c, &u[xg * og * c..][..og * c], c, 1, p);
    }
    pa
}

/// `∂L/∂g = Gᵀ D G` for every `(o, c)`, `D_ξ` the sum `dUᵀ` (`16 × groups × cg × og`):
/// the weight gradient, `groups·og × cg × 3 × 3`.
fn weight_grad_transform(og: usize, cg: usize, groups: usize, dut: &[f32]) -> Vec<f32> {
    let (o, c) = (groups * og, cg);
    let mut dw = vec![0f32; o * c * 9];
    for oi in 0..o {
        let (grp, ol) = (oi / og, oi % og);
        for ci in 0..c {
            let d = |xi: usize| dut[((xi * groups + grp) * cg + ci) * og + ol];
            // Rows: Gᵀ D (3 × 4); then columns: (Gᵀ D) G (3 × 3).
            let cols: [[f32; 3]; 4] = std::array::from_fn(|j| {
                let (d0, d1, d2, d3) = (d(j), d(4 + j), d(8 + j), d(12 + j));
                [d0 + 0.5 * (d1 + d2), 0.5 * (d1 - d2), 0.5 * (d1 + d2) + d3]
            });
            let r: [[f32; 4]; 3] = std::array::from_fn(|i| cols.map(|c| c[i]));
            let out = &mut dw[(oi * c + ci) * 9..][..9];
            for (i, v) in r.iter().enumerate() {
                out[3 * i] = v[0] + 0.5 * (v[1] + v[2]);
                out[3 * i + 1] = 0.5 * (v[1] - v[2]);
                out[3 * i + 2] = 0.5 * (v[1] + v[2]) + v[3];
            }
        }
    }
    dw
}

/// Where the input transform writes: frequency `ξ`, channel `c`, tile `l` of the chunk.
#[derive(Clone, Copy)]
enum VLayout {
    /// The products' packed `B` (`C/groups × chunk` per frequency and group of `cg`
    /// channels, [`f32_avx512::pack_b`]).
    Packed { c: usize, cg: usize, np: usize },
    /// Row-major `C × np` per frequency (the weight gradient's `A` rows).
    Rows { c: usize, np: usize },
}

impl VLayout {
    fn len(self) -> usize {
        match self {
            VLayout::Packed { c, np, .. } | VLayout::Rows { c, np } => 16 * c * np,
        }
    }

    #[inline(always)]
    fn at(self, xi: usize, ci: usize, l: usize) -> usize {
        match self {
            VLayout::Packed { c, cg, np } => {
                let nr = f32_avx512::NR;
                let (grp, cl) = (ci / cg, ci % cg);
                (xi * c + grp * cg) * np + l / nr * nr * cg + cl * nr + l % nr
            }
            VLayout::Rows { c, np } => (xi * c + ci) * np + l,
        }
    }
}

/// `V = Bᵀ d B` of tiles `n0..n0 + np` (relative to the planes' first row) for the `c`
/// channels of the planes in `buf` (`hl·wa` each), into `v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_transform(
    buf: &[f32],
    plane: usize,
    wa: usize,
    (n0, np): (usize, usize),
    lay: VLayout,
    c: usize,
    v: &mut [f32],
) {
    assert!(np.is_multiple_of(16) && 4 * c * plane - plane + n0 + np + wa <= buf.len());
    assert!(v.len() >= lay.len());
    let ld = |p: *const f32| _mm512_loadu_ps(p);
    for ci in 0..c {
        let base = buf.as_ptr().add(4 * ci * plane + n0);
        // Planes (a, b): padded pixel (2i + a, 2j + b).
        let p = [
            base,
            base.add(plane),
            base.add(2 * plane),
            base.add(3 * plane),
        ];
        for l in (0..np).step_by(16) {
            // d[r][s] = plane (r % 2, s % 2) at (r / 2)·wa + s / 2.
            let mut d = [[_mm512_setzero_ps(); 4]; 4];
            for (r, dr) in d.iter_mut().enumerate() {
                for (s, x) in dr.iter_mut().enumerate() {
                    *x = ld(p[(r % 2) * 2 + s % 2].add(l + (r / 2) * wa + s / 2));
                }
            }
            // Bᵀ d: rows.
            let mut t = [[_mm512_setzero_ps(); 4]; 4];
            for s in 0..4 {
                t[0][s] = _mm512_sub_ps(d[0][s], d[2][s]);
                t[1][s] = _mm512_add_ps(d[1][s], d[2][s]);
                t[2][s] = _mm512_sub_ps(d[2][s], d[1][s]);
                t[3][s] = _mm512_sub_ps(d[1][s], d[3][s]);
            }
            // (Bᵀ d) B: columns.
            for (i, ti) in t.iter().enumerate() {
                let o = [
                    _mm512_sub_ps(ti[0], ti[2]),
                    _mm512_add_ps(ti[1], ti[2]),
                    _mm512_sub_ps(ti[2], ti[1]),
                    _mm512_sub_ps(ti[1], ti[3]),
                ];
                for (j, x) in o.into_iter().enumerate() {
                    _mm512_storeu_ps(v.as_mut_ptr().add(lay.at(4 * i + j, ci, l)), x);
                }
            }
        }
    }
}

/// Where the 2 × 2 outputs of 16 consecutive tiles go: per tile row they touch, the
/// offset (in floats, from the start of the plane) of output row `2q`'s position 0 of
/// the interleaved pair of registers (position `p`: lane `p / 2`, column `p % 2` of
/// its tile), the 32-bit mask of the positions with an output, and whether row `2q + 1`
/// is inside the map.
struct Segments {
    segs: [(isize, u32, bool); 6],
    len: usize,
}

impl Segments {
    /// The segments of tiles `n..n + lanes` (extended indices of one image).
    fn new(pl: &Plan, g: &Geom, n: usize, lanes: usize) -> Segments {
        let mut out = Segments {
            segs: [(0, 0, false); 6],
            len: 0,
        };
        if lanes == 0 {
            return out;
        }
        // applies() keeps ow ≥ 8 (wa ≥ 5), its adjoint ow ≥ 6 (wa ≥ 4): at most 5 rows.
        debug_assert!(15 / pl.wa + 2 <= out.segs.len());
        for q in n / pl.wa..=((n + lanes - 1) / pl.wa).min(pl.th - 1) {
            let lo = (q * pl.wa).max(n) - n;
            let hi = (q * pl.wa + pl.tw).min(n + lanes).saturating_sub(n);
            // Position p is output column 2·(n − q·wa) + p.
            let off = 2 * (n as isize - (q * pl.wa) as isize);
            let pmax = ((2 * hi) as isize).min(g.ow as isize - off);
            if hi <= lo || pmax <= 2 * lo as isize {
                continue;
            }
            let bits = |k: isize| -> u32 {
                if k >= 32 {
                    u32::MAX
                } else {
                    (1u32 << k) - 1
                }
            };
            let mask = bits(pmax) & !bits(2 * lo as isize);
            let row = (2 * q * g.ow) as isize + off;
            out.segs[out.len] = (row, mask, 2 * q + 1 < g.oh);
            out.len += 1;
        }
        out
    }

    fn iter(&self) -> impl Iterator<Item = &(isize, u32, bool)> {
        self.segs[..self.len].iter()
    }
}

/// `Y = Aᵀ M A` (+ bias) of tiles `s0..s0 + nc` (extended indices of one image) from `m`
/// (`16 × O × ldm`, frequency-major, tile `s0 + l` in column `l`), stored into the
/// output planes of that image at `y` (`O × oh × ow`).
///
/// # Safety
/// avx512f; `y` valid for the image's `O·oh·ow` values, those of these tiles this
/// caller's to write.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn output_transform(
    pl: &Plan,
    g: &Geom,
    m: &[f32],
    ldm: usize,
    (s0, nc): (usize, usize),
    bias: Option<&[f32]>,
    y: *mut f32,
) {
    let (o, ohw, ow) = (g.cout, g.ohw(), g.ow as isize);
    assert!(m.len() >= 16 * o * ldm && nc <= ldm && bias.is_none_or(|b| b.len() >= o));
    let lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let groups: Vec<Segments> = (0..nc)
        .step_by(16)
        .map(|l| Segments::new(pl, g, s0 + l, (nc - l).min(16)))
        .collect();
    for oi in 0..o {
        let bv = _mm512_set1_ps(bias.map_or(0.0, |b| b[oi]));
        let yo = y.add(oi * ohw);
        for (gi, segs) in groups.iter().enumerate() {
            let l = 16 * gi;
            let mp = m.as_ptr().add(oi * ldm + l);
            let mm: [__m512; 16] = std::array::from_fn(|xi| _mm512_loadu_ps(mp.add(xi * o * ldm)));
            // Aᵀ M: rows; then (Aᵀ M) A: columns.
            let u = |j: usize| {
                (
                    _mm512_add_ps(_mm512_add_ps(mm[j], mm[4 + j]), mm[8 + j]),
                    _mm512_sub_ps(_mm512_sub_ps(mm[4 + j], mm[8 + j]), mm[12 + j]),
                )
            };
            let (u0, u1, u2, u3) = (u(0), u(1), u(2), u(3));
            let yv = [
                (
                    _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(u0.0, u1.0), u2.0), bv),
                    _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(u1.0, u2.0), u3.0), bv),
                ),
                (
                    _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(u0.1, u1.1), u2.1), bv),
                    _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(u1.1, u2.1), u3.1), bv),
                ),
            ];
            // Per output row r: the two columns of each tile interleaved.
            let rows = yv.map(|(c0, c1)| {
                (
                    _mm512_permutex2var_ps(c0, lo_idx, c1),
                    _mm512_permutex2var_ps(c0, hi_idx, c1),
                )
            });
            for &(off, mask, second) in segs.iter() {
                for (r, (lo, hi)) in rows.iter().enumerate().take(1 + second as usize) {
                    // Masked-off lanes touch no memory: the offsets may point outside.
                    let p = yo.wrapping_offset(off + r as isize * ow);
                    _mm512_mask_storeu_ps(p, mask as __mmask16, *lo);
                    _mm512_mask_storeu_ps(p.wrapping_add(16), (mask >> 16) as __mmask16, *hi);
                }
            }
        }
    }
}

/// `(A dY Aᵀ)_ξ` of tiles `s0..s0 + nc` (extended indices of one image) from the output
/// gradient of that image (`dy`, `O × oh × ow`), into `out` (`16 × O × np`, row-major,
/// tile `s0 + l` in column `l`): zero for the extra column, past the map and past `nc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dy_transform(
    pl: &Plan,
    g: &Geom,
    dy: &[f32],
    (s0, nc): (usize, usize),
    np: usize,
    out: &mut [f32],
) {
    let (o, ohw, ow) = (g.cout, g.ohw(), g.ow as isize);
    assert!(dy.len() >= o * ohw && out.len() >= 16 * o * np && nc <= np);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let zero = _mm512_setzero_ps();
    let groups: Vec<Segments> = (0..np)
        .step_by(16)
        .map(|l| Segments::new(pl, g, s0 + l, nc.saturating_sub(l).min(16)))
        .collect();
    for oi in 0..o {
        let dyo = dy.as_ptr().add(oi * ohw);
        for (gi, segs) in groups.iter().enumerate() {
            let l = 16 * gi;
            // Rows 2q and 2q + 1 of each tile's 2 × 2 block, interleaved as in the output.
            let mut v = [(zero, zero); 2];
            for &(off, mask, second) in segs.iter() {
                for (r, (lo, hi)) in v.iter_mut().enumerate().take(1 + second as usize) {
                    // Masked-off lanes read no memory.
                    let p = dyo.wrapping_offset(off + r as isize * ow);
                    *lo = _mm512_mask_loadu_ps(*lo, mask as __mmask16, p);
                    *hi = _mm512_mask_loadu_ps(*hi, (mask >> 16) as __mmask16, p.wrapping_add(16));
                }
            }
            // d[r] = (column 0, column 1) of row r of each tile.
            let d = v.map(|(lo, hi)| {
                (
                    _mm512_permutex2var_ps(lo, even, hi),
                    _mm512_permutex2var_ps(lo, odd, hi),
                )
            });
            // A dY: rows [d0, d0 + d1, d0 − d1, −d1]; then (A dY) Aᵀ: the same on columns.
            let a = [
                d[0],
                (_mm512_add_ps(d[0].0, d[1].0), _mm512_add_ps(d[0].1, d[1].1)),
                (_mm512_sub_ps(d[0].0, d[1].0), _mm512_sub_ps(d[0].1, d[1].1)),
                (_mm512_sub_ps(zero, d[1].0), _mm512_sub_ps(zero, d[1].1)),
            ];
            for (i, (c0, c1)) in a.into_iter().enumerate() {
                let t = [
                    c0,
                    _mm512_add_ps(c0, c1),
                    _mm512_sub_ps(c0, c1),
                    _mm512_sub_ps(zero, c1),
                ];
                for (j, x) in t.into_iter().enumerate() {
                    _mm512_storeu_ps(out.as_mut_ptr().add(((4 * i + j) * o + oi) * np + l), x);
                }
            }
        }
    }
}

// ------------------------------------------------------------------- passes

/// The forward of `g` (f32, [`applies`]): `x` `N × C × H × W`, `w` `O × C × 3 × 3`.
#[cfg(target_arch = "x86_64")]
pub(super) fn forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let pl = Plan::new(g);
    let (c, o, ohw, hw) = (g.cin, g.cout, g.ohw(), g.hw());
    let (cg, og, groups) = (g.cg(), g.og(), g.groups);
    let pa = weight_transform(o, cg, groups, w);
    let la = f32_avx512::packed_a_len(og, cg);
    let total = pl.total();
    let chunks = total.div_ceil(pl.chunk);
    // About four tasks per thread over the batch (a batch of one fills the pool too).
    let per_image = (4 * threads()).div_ceil(g.n).clamp(1, chunks);
    let band = pl.band.min(chunks.div_ceil(per_image));
    let tasks = chunks.div_ceil(band);
    let span = band * pl.chunk;
    let blen_max = pl.rows(0, span.min(total), c).2 + 4 * c * pl.wa;
    let vlen = 16 * c * pl.chunk;
    let mlen = 16 * o * pl.chunk;
    // SAFETY: every output is written: task (b, t) stores the outputs of tiles
    // t·span.. of image b, and the tiles cover the map.
    let mut y = unsafe { super::alloc_for_overwrite::<f32>(g.n * o * ohw) };
    let yp = RowBlocksOut(y.as_mut_ptr());
    (0..g.n * tasks).into_par_iter().for_each(|t| {
        let (b, s0) = (t / tasks, t % tasks * span);
        let s1 = (s0 + span).min(total);
        let (i0, hl, blen) = pl.rows(s0, s1, c);
        let split = [line_len::<f32>(blen_max), line_len::<f32>(vlen), mlen];
        with_scratch::<f32, _>(split.iter().sum(), |scr| {
            let (buf, rest) = scr.split_at_mut(split[0]);
            let (v, m) = rest.split_at_mut(split[1]);
            let buf = &mut buf[..blen];
            phase_fill_mv(&pl.fake, i0, hl, pl.wa, &x[b * c * hw..][..c * hw], buf);
            let plane = hl * pl.wa;
            for cs in (s0..s1).step_by(pl.chunk) {
                let nc = pl.chunk.min(s1 - cs);
                let np = nc.next_multiple_of(f32_avx512::NR);
                let lay = VLayout::Packed { c, cg, np };
                // SAFETY: avx512f (the caller's check); the bounds are asserted.
                unsafe { input_transform(buf, plane, pl.wa, (cs - i0 * pl.wa, np), lay, c, v) };
                // Frequency xg / groups, group xg % groups.
                for xg in 0..16 * groups {
                    let (pa, pb) = (&pa[xg * la..][..la], &v[xg * cg * np..][..cg * np]);
                    let mx = &mut m[xg * og * np..][..og * np];
                    f32_avx512::gemm_packed(og, np, cg, pa, pb, mx, np, false);
                }
                // SAFETY: avx512f; image b's planes lie inside y and these tiles'
                // outputs belong to this task alone (see above).
                unsafe {
                    output_transform(&pl, g, m, np, (cs, nc), bias, yp.get().add(b * o * ohw))
                };
            }
        });
    });
    y
}

/// The input gradient of `g` ([`applies`]): the forward of `dy` with the kernel flipped
/// and its channels swapped, padded by `2 − p`.
#[cfg(target_arch = "x86_64")]
pub(super) fn backward_input(g: &Geom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (o, c, og, cg) = (g.cout, g.cin, g.og(), g.cg());
    // Output channel o = grp·og + ol, input channel c = grp·cg + cl: the adjoint's weight
    // (C × og × 3 × 3) has w[o][cl] flipped at [c][ol].
    let mut wf = vec![0f32; c * og * 9];
    for oi in 0..o {
        let (grp, ol) = (oi / og, oi % og);
        for cl in 0..cg {
            let src = &w[(oi * cg + cl) * 9..][..9];
            let dst = &mut wf[((grp * cg + cl) * og + ol) * 9..][..9];
            for t in 0..9 {
                dst[8 - t] = src[t];
            }
        }
    }
    let p = super::Conv2dParams {
        padding: (2 - g.ph, 2 - g.pw),
        groups: g.groups,
        ..Default::default()
    };
    let gt = Geom::new(&[g.n, o, g.oh, g.ow], &[c, og, 3, 3], &p)
        .expect("the adjoint of a valid convolution is valid");
    debug_assert!((gt.oh, gt.ow) == (g.h, g.w));
    forward(&gt, dy, &wf, None)
}

/// The weight gradient of `g` ([`applies`]): `Σ_tiles dYt_ξ · V_ξᵀ` per frequency (in
/// parts fixed by the batch size, summed in order), then `Gᵀ (·) G`.
#[cfg(target_arch = "x86_64")]
pub(super) fn backward_weight(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let pl = Plan::new(g);
    let (c, o, ohw, hw) = (g.cin, g.cout, g.ohw(), g.hw());
    let (cg, og, groups) = (g.cg(), g.og(), g.groups);
    let total = pl.total();
    let span = pl.band * pl.chunk;
    let blen_max = pl.rows(0, span.min(total), c).2 + 4 * c * pl.wa;
    let np_max = pl.chunk;
    let plen = f32_avx512::packed_b_len(np_max, og);
    let split = [
        line_len::<f32>(blen_max),
        line_len::<f32>(16 * c * np_max),
        line_len::<f32>(16 * o * np_max),
        plen,
    ];
    // Per frequency and group, dUᵀ (cg × og).
    let dlen = 16 * groups * cg * og;
    let per = reduction_chunk(g.n);
    let parts: Vec<Vec<f32>> = (0..g.n)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|b0| {
            let mut dut = vec![0f32; dlen];
            with_scratch::<f32, _>(split.iter().sum(), |scr| {
                let (buf, rest) = scr.split_at_mut(split[0]);
                let (v, rest) = rest.split_at_mut(split[1]);
                let (yt, pb) = rest.split_at_mut(split[2]);
                for b in b0..(b0 + per).min(g.n) {
                    let (xb, dyb) = (&x[b * c * hw..][..c * hw], &dy[b * o * ohw..][..o * ohw]);
                    for s0 in (0..total).step_by(span) {
                        let s1 = (s0 + span).min(total);
                        let (i0, hl, blen) = pl.rows(s0, s1, c);
                        let buf = &mut buf[..blen];
                        phase_fill_mv(&pl.fake, i0, hl, pl.wa, xb, buf);
                        let plane = hl * pl.wa;
                        for cs in (s0..s1).step_by(pl.chunk) {
                            let nc = pl.chunk.min(s1 - cs);
                            let np = nc.next_multiple_of(f32_avx512::NR);
                            let lay = VLayout::Rows { c, np };
                            // SAFETY: avx512f (the caller's check); bounds asserted.
                            unsafe {
                                input_transform(
                                    buf,
                                    plane,
                                    pl.wa,
                                    (cs - i0 * pl.wa, np),
                                    lay,
                                    c,
                                    v,
                                );
                                dy_transform(&pl, g, dyb, (cs, nc), np, yt);
                            }
                            // Frequency xg / groups, group xg % groups: the rows of V
                            // and dYt are channel-major, a group's consecutive.
                            for xg in 0..16 * groups {
                                let pb = &mut pb[..f32_avx512::packed_b_len(np, og)];
                                let ytg = &yt[xg * og * np..][..og * np];
                                f32_avx512::pack_b_t(np, og, ytg, np, pb);
                                let a = &v[xg * cg * np..][..cg * np];
                                let d = &mut dut[xg * cg * og..][..cg * og];
                                f32_avx512::gemm_rows_acc(cg, og, np, a, np, pb, d, og);
                            }
                        }
                    }
                }
            });
            dut
        })
        .collect();
    weight_grad_transform(og, cg, groups, &sum_parts(parts, dlen))
}
