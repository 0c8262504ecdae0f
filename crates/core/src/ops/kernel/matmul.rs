//! Matrix products for the CPU kernels.

use super::Real;

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
    gemm_ld(
        m, n, k, dst, n, accumulate, lhs, lrs, lcs, rhs, rrs, rcs, threads,
    )
}

/// [`gemm`] into a `dst` whose rows are `dst_rs` elements apart (`dst_rs ≥ n`): a block of
/// columns of a wider matrix.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_ld<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_rs: usize,
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
            for i in 0..m {
                dst[i * dst_rs..][..n].iter_mut().for_each(|v| *v = T::ZERO);
            }
        }
        return;
    }
    assert!(dst_rs >= n && dst.len() >= (m - 1) * dst_rs + n);
    // Checked in release builds too: the product below is unsafe code that trusts them.
    check_operands(
        "gemm",
        (m, n, k),
        lhs.len(),
        (lrs, lcs),
        rhs.len(),
        (rrs, rcs),
    );
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
            dst_rs as isize,
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

/// Panics unless an `m × k` left operand of `a_len` values and a `k × n` right one of
/// `b_len` values hold every element their strides reach (`m, n, k ≥ 1`).
fn check_operands(
    name: &str,
    (m, n, k): (usize, usize, usize),
    a_len: usize,
    (ars, acs): (usize, usize),
    b_len: usize,
    (brs, bcs): (usize, usize),
) {
    assert!(
        a_len > (m - 1) * ars + (k - 1) * acs,
        "{name}: the left operand of {a_len} values is too short for {m}×{k} with strides ({ars}, {acs})"
    );
    assert!(
        b_len > (k - 1) * brs + (n - 1) * bcs,
        "{name}: the right operand of {b_len} values is too short for {k}×{n} with strides ({brs}, {bcs})"
    );
}

/// Row-major `dst (m×n) = lhs (m×k) · rhs (k×n)` through strides (as [`gemm`]):
/// [`f32_avx512::gemm_strided`] for f32 on a CPU with AVX-512 (where `rhs` has a unit
/// stride), the `gemm` crate otherwise. The products of `ops::linear`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    lhs: &[T],
    (lrs, lcs): (usize, usize),
    rhs: &[T],
    (rrs, rcs): (usize, usize),
    threads: usize,
) {
    if super::use_avx512::<T>() && (rcs == 1 || rrs == 1) {
        let (lhs, rhs) = (super::as_f32(lhs), super::as_f32(rhs));
        let dst = super::as_f32_mut(dst);
        f32_avx512::gemm_strided(
            (m, n, k),
            lhs,
            (lrs, lcs),
            rhs,
            (rrs, rcs),
            dst,
            n,
            false,
            threads,
        )
    } else {
        gemm(m, n, k, dst, false, lhs, lrs, lcs, rhs, rrs, rcs, threads)
    }
}

/// An AVX-512 f32 matrix product for the convolutions, on operands packed the way
/// im2col and the transposed gradient produce them (the `gemm` crate would repack them);
/// its 8 × 32 register tile runs at the cores' nominal peak (docs/performance.md).
///
/// `c (m × n, row stride ldc) [+]= A · B` where `A` is packed by [`pack_a`] and `B` by
/// [`pack_b`]. Falls back to nothing: callers check [`f32_avx512::available`] first.
pub(crate) mod f32_avx512 {
    /// Rows of `A` per micro-tile (broadcast values).
    pub const MR: usize = 8;
    /// Columns of `B` per micro-tile (two 16-lane registers).
    pub const NR: usize = 32;

    thread_local! {
        /// Set by [`portable`]: report AVX-512 as absent on this thread.
        static PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Whether the CPU has AVX-512 (and [`portable`] is not in effect on this thread).
    pub fn available() -> bool {
        if PORTABLE.with(|p| p.get()) {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Run `f` with [`available`] reporting no AVX-512 on this thread, so the callers'
    /// portable paths (the `gemm` crate) run on a machine that has AVX-512: how the tests
    /// cover the path every other CPU takes. The kernels decide on the calling thread,
    /// before they fan out.
    #[cfg(test)]
    pub fn portable<R>(f: impl FnOnce() -> R) -> R {
        super::super::with_flag(&PORTABLE, f)
    }

    /// Length of [`pack_a`]'s output for an `m × k` matrix.
    pub fn packed_a_len(m: usize, k: usize) -> usize {
        m.div_ceil(MR) * MR * k
    }

    /// Length of [`pack_b`]'s output for a `k × n` matrix.
    pub fn packed_b_len(k: usize, n: usize) -> usize {
        n.div_ceil(NR) * NR * k
    }

    /// Pack `a[i][p] = a[i·rs + p·cs]` (`m × k`) into blocks of `MR` rows, `[blk][p][i]`,
    /// zero-padded.
    pub fn pack_a(m: usize, k: usize, a: &[f32], rs: usize, cs: usize, out: &mut [f32]) {
        pack_a_by(m, k, |r| r, a, rs, cs, out)
    }

    /// [`pack_a`] of the rows `rows[0], rows[1], …` of `a` (`rows.len() × k`).
    pub fn pack_a_rows(rows: &[usize], k: usize, a: &[f32], rs: usize, cs: usize, out: &mut [f32]) {
        pack_a_by(rows.len(), k, |r| rows[r], a, rs, cs, out)
    }

    /// [`pack_a`] with packed row `r` taken from row `row(r)` of `a`.
    #[inline(always)]
    fn pack_a_by(
        m: usize,
        k: usize,
        row: impl Fn(usize) -> usize,
        a: &[f32],
        rs: usize,
        cs: usize,
        out: &mut [f32],
    ) {
        for (blk, o) in out
            .chunks_exact_mut(MR * k)
            .take(m.div_ceil(MR))
            .enumerate()
        {
            for p in 0..k {
                for i in 0..MR {
                    let r = blk * MR + i;
                    o[p * MR + i] = if r < m { a[row(r) * rs + p * cs] } else { 0.0 };
                }
            }
        }
    }

    /// Pack the row-major `b` (`k × n`, rows `rs` apart) into panels of `NR` columns,
    /// `[panel][p][j]`, zero-padded.
    pub fn pack_b(k: usize, n: usize, b: &[f32], rs: usize, out: &mut [f32]) {
        for (q, o) in out
            .chunks_exact_mut(NR * k)
            .take(n.div_ceil(NR))
            .enumerate()
        {
            let j0 = q * NR;
            let w = NR.min(n - j0);
            for p in 0..k {
                let dst = &mut o[p * NR..][..NR];
                if w == NR {
                    // A whole panel row: a fixed-size copy, inlined (a `memcpy` call
                    // per 128 bytes was 2 % of a TD3 update).
                    dst.copy_from_slice(&b[p * rs + j0..][..NR]);
                } else {
                    dst[..w].copy_from_slice(&b[p * rs + j0..][..w]);
                    dst[w..].fill(0.0);
                }
            }
        }
    }

    /// Pack the transpose of `src` (`n × k`, rows `ld` apart), `b[p][j] = src[j·ld + p]`,
    /// into [`pack_b`]'s layout: the operand `dYᵀ` of the weight gradient.
    pub fn pack_b_t(k: usize, n: usize, src: &[f32], ld: usize, out: &mut [f32]) {
        // pack_b_t_gap without extra rows (ow = wa = k).
        if k > 0 {
            pack_t_gap::<NR>(k, n, src, ld, k, k, out)
        }
    }

    /// Visit the micro-tiles of an `m × n` product, `mr_w × nr_w` each, panels of columns
    /// outermost (so that a panel of `B` is reused by every row block): `f(i0, j0, mr,
    /// nr)` with the tile's first row and column and its valid rows and columns.
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn tiles(
        m: usize,
        n: usize,
        mr_w: usize,
        nr_w: usize,
        mut f: impl FnMut(usize, usize, usize, usize),
    ) {
        for j0 in (0..n).step_by(nr_w) {
            for i0 in (0..m).step_by(mr_w) {
                f(i0, j0, mr_w.min(m - i0), nr_w.min(n - j0));
            }
        }
    }

    /// `buf[offs[i] + shift..][..n] += (A · B)[i]` for the `m` rows in order, `A` and
    /// `B` packed: col2im onto the phase planes fused into the product's store (rows
    /// may overlap; each tile adds its rows one after the other).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_packed_add_offsets(
        m: usize,
        n: usize,
        k: usize,
        pa: &[f32],
        pb: &[f32],
        buf: &mut [f32],
        offs: &[usize],
        shift: usize,
    ) {
        assert!(available() && pa.len() >= packed_a_len(m, k) && pb.len() >= packed_b_len(k, n));
        if m == 0 || n == 0 {
            return;
        }
        assert!(offs.len() >= m && offs[..m].iter().all(|&o| o + shift + n <= buf.len()));
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, MR, NR, |i0, j0, mr, nr| {
            let (a, b) = (&pa[i0 * k..][..MR * k], &pb[j0 * k..][..NR * k]);
            // SAFETY: avx512f was checked; row i's columns j0..j0 + nr lie inside buf
            // (asserted); rows past mr are neither read nor written.
            unsafe {
                let cp: [*mut f32; MR] = std::array::from_fn(|i| {
                    let o = offs[i0 + i.min(mr - 1)] + shift + j0;
                    buf.as_mut_ptr().add(o)
                });
                imp::tile_add_ptrs(k, a.as_ptr(), b.as_ptr(), cp, mr, nr)
            }
        });
    }

    /// `c (m × n) [+]= A · B` with `A`, `B` packed as above and inner dimension `k`.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_packed(
        m: usize,
        n: usize,
        k: usize,
        pa: &[f32],
        pb: &[f32],
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        assert!(available());
        assert!(pa.len() >= packed_a_len(m, k) && pb.len() >= packed_b_len(k, n));
        if m == 0 || n == 0 {
            return;
        }
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, MR, NR, |i0, j0, mr, nr| {
            let (a, b) = (&pa[i0 * k..][..MR * k], &pb[j0 * k..][..NR * k]);
            // SAFETY: avx512f was checked; the packed panels hold k·MR and k·NR values,
            // and the tile's mr rows × nr columns lie inside c (asserted).
            unsafe {
                let c = c.as_mut_ptr().add(i0 * ldc + j0);
                imp::tile(k, a.as_ptr(), b.as_ptr(), c, ldc, mr, nr, accumulate)
            }
        });
    }

    /// Where a product over extended columns goes ([`gemm_packed_drop`],
    /// [`gemm_b_offsets_drop`]): of every `wa` columns of `B` (one output row of a
    /// convolution over `ops::conv`'s phase planes) the first `ow` are real, and column
    /// `j` of row `i` lands at `c[i·ldc + (j / wa)·ow + j % wa]`, plus `bias[i]` when
    /// there is one; the other `wa − ow` columns are dropped in the store.
    #[derive(Clone, Copy)]
    pub struct DropCols<'a> {
        /// Extended columns per output row.
        pub wa: usize,
        /// Real columns per output row (`≤ wa`).
        pub ow: usize,
        /// Added to every value of row `i` (`v + bias[i]`, as a separate pass would).
        pub bias: Option<&'a [f32]>,
    }

    impl DropCols<'_> {
        fn check(&self, m: usize, n: usize) {
            assert!(self.ow > 0 && self.ow <= self.wa && n.is_multiple_of(self.wa));
            assert!(self.bias.is_none_or(|b| b.len() >= m));
        }
    }

    /// [`gemm_packed`] (`c = A · B`) with `B`'s extended columns dropped and the bias
    /// added as the tiles are stored ([`DropCols`]).
    ///
    /// # Safety
    /// For every `i < m`, the `n / wa · ow` values from `c + i·ldc` must be valid for
    /// writes and not accessed by anyone else during the call.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_packed_drop(
        m: usize,
        n: usize,
        k: usize,
        pa: &[f32],
        pb: &[f32],
        c: *mut f32,
        ldc: usize,
        d: DropCols,
    ) {
        assert!(available());
        assert!(pa.len() >= packed_a_len(m, k) && pb.len() >= packed_b_len(k, n));
        d.check(m, n);
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, MR, NR, |i0, j0, mr, nr| {
            let (a, b) = (&pa[i0 * k..][..MR * k], &pb[j0 * k..][..NR * k]);
            let bias = d.bias.map(|b| &b[i0..]);
            // SAFETY: avx512f was checked; the packed panels hold k·MR and k·NR values;
            // the tile stores its rows' real columns, inside c (the caller's contract).
            unsafe {
                let c = c.add(i0 * ldc);
                imp::tile_drop(
                    k,
                    a.as_ptr(),
                    b.as_ptr(),
                    c,
                    ldc,
                    (mr, nr, j0),
                    (d.wa, d.ow),
                    bias,
                );
            }
        });
    }

    /// `c = A · B` with `A` packed by [`pack_a`] and row `p` of `B` read in place at
    /// `base[offs[p] + shift..][..n]` (the implicit im2col: no packing pass, for products
    /// with few rows of `A` to share a packed `B` between), `B`'s extended columns
    /// dropped and the bias added as the tiles are stored ([`DropCols`]).
    ///
    /// # Safety
    /// As [`gemm_packed_drop`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_b_offsets_drop(
        m: usize,
        n: usize,
        k: usize,
        pa: &[f32],
        base: &[f32],
        offs: &[usize],
        shift: usize,
        c: *mut f32,
        ldc: usize,
        d: DropCols,
    ) {
        assert!(available() && pa.len() >= packed_a_len(m, k) && offs.len() >= k);
        d.check(m, n);
        assert!(offs[..k].iter().all(|&o| o + shift + n <= base.len()));
        // Fewer rows than the tile has: a tile of as many rows as needed, wider, so that
        // its multiply-adds are not mostly on the packed panel's zero rows (a convolution
        // with one output channel ran 7 of the 8 rows' products on zeros). Each value is
        // the same chain of multiply-adds, so the same bits.
        #[cfg(target_arch = "x86_64")]
        if m <= 4 {
            /// Tiles of `R` rows and `16·C` columns over the whole product.
            #[allow(clippy::too_many_arguments)]
            unsafe fn narrow<const R: usize, const C: usize>(
                (m, n, k): (usize, usize, usize),
                pa: *const f32,
                b: *const f32,
                offs: &[usize],
                c: *mut f32,
                ldc: usize,
                d: &DropCols,
            ) {
                tiles(m, n, R, 16 * C, |_, j0, mr, nr| unsafe {
                    let wo = (d.wa, d.ow);
                    imp::tile_b_offsets_drop_n::<R, C>(
                        k,
                        pa,
                        b.add(j0),
                        offs,
                        c,
                        ldc,
                        (mr, nr, j0),
                        wo,
                        d.bias,
                    )
                })
            }
            let (b, mnk) = (base.as_ptr().add(shift), (m, n, k));
            // SAFETY: as below, for tiles of R ≥ m rows (the packed rows past m are zeros,
            // read and not stored) and 16·C columns.
            match m {
                1 => narrow::<1, 8>(mnk, pa.as_ptr(), b, &offs[..k], c, ldc, &d),
                2 => narrow::<2, 4>(mnk, pa.as_ptr(), b, &offs[..k], c, ldc, &d),
                _ => narrow::<4, 2>(mnk, pa.as_ptr(), b, &offs[..k], c, ldc, &d),
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, MR, NR, |i0, j0, mr, nr| {
            let bias = d.bias.map(|b| &b[i0..]);
            // SAFETY: avx512f was checked; the masked loads read row p's columns
            // j0..j0 + nr, inside base (asserted); the stores as in gemm_packed_drop.
            unsafe {
                let (a, b) = (pa[i0 * k..].as_ptr(), base.as_ptr().add(shift + j0));
                let c = c.add(i0 * ldc);
                imp::tile_b_offsets_drop(
                    k,
                    a,
                    b,
                    &offs[..k],
                    c,
                    ldc,
                    (mr, nr, j0),
                    (d.wa, d.ow),
                    bias,
                );
            }
        });
    }

    /// Pack `B` (`k × n`) whose row `p` is `base[offs[p] + shift..][..n]` into
    /// [`pack_b`]'s layout: the implicit im2col of a convolution, whose rows are runs of
    /// the zero-padded, phase-split input (`ops::conv`'s `Phased`).
    pub fn pack_b_offsets(
        k: usize,
        n: usize,
        base: &[f32],
        offs: &[usize],
        shift: usize,
        out: &mut [f32],
    ) {
        assert!(available() && offs.len() >= k && out.len() >= packed_b_len(k, n));
        if n == 0 {
            return;
        }
        assert!(offs[..k].iter().all(|&o| o + shift + n <= base.len()));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; every row's n values lie inside base (asserted)
        // and the panels inside out (asserted); the masked loads read no lane past n.
        unsafe {
            imp::pack_offsets(k, n, base.as_ptr(), &offs[..k], shift, out.as_mut_ptr())
        }
    }

    /// [`pack_b_offsets`] of the real columns alone: of every `wa` extended columns (one
    /// output row over the phase planes) the first `ow` are packed, so `B` is `k × n` with
    /// `n` = rows × `ow` and column `j` is extended column `j / ow · wa + j % ow`. The
    /// product then spends nothing on the `wa − ow` extra columns (a 16-wide map's 17th),
    /// and each value is the same chain of multiply-adds as over the extended columns.
    /// Needs `4·(wa − ow) ≤ ow` (what `Phased` admits), so that a half panel of 16
    /// columns spans at most five output rows.
    #[allow(clippy::too_many_arguments)]
    pub fn pack_b_offsets_real(
        k: usize,
        n: usize,
        (ow, wa): (usize, usize),
        base: &[f32],
        offs: &[usize],
        shift: usize,
        out: &mut [f32],
    ) {
        assert!(available() && offs.len() >= k && out.len() >= packed_b_len(k, n));
        assert!(ow > 0 && wa >= ow && 4 * (wa - ow) <= ow && n.is_multiple_of(ow));
        if n == 0 {
            return;
        }
        let end = (n / ow - 1) * wa + ow;
        assert!(offs[..k].iter().all(|&o| o + shift + end <= base.len()));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; every lane loaded is a real column of a row inside
        // base (asserted), the panels inside out (asserted).
        unsafe {
            imp::pack_offsets_real(
                k,
                n,
                (ow, wa - ow),
                base.as_ptr(),
                &offs[..k],
                shift,
                out.as_mut_ptr(),
            )
        }
    }

    /// Pack `B` (`k × n`, `n` = rows × `wa` "extended" columns) from the row-major `src`
    /// (`k × rows·ow`, rows `ld` apart) with `wa − ow` zero columns after every `ow`:
    /// `dY` laid out like [`pack_b_offsets`]'s implicit im2col, whose extra columns
    /// must contribute nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn pack_b_gap(
        k: usize,
        n: usize,
        src: &[f32],
        ld: usize,
        ow: usize,
        wa: usize,
        out: &mut [f32],
    ) {
        assert!(available() && wa >= ow && ow > 0 && n.is_multiple_of(wa));
        assert!(out.len() >= packed_b_len(k, n));
        if k == 0 || n == 0 {
            return;
        }
        let valid = n / wa * ow;
        assert!(src.len() >= (k - 1) * ld + valid);
        // Per half panel of 16 columns: which lanes hold values, and the source column
        // of the first. The valid columns are consecutive in src (a row's last column
        // is followed by the next row's first), so each half is one expanding load.
        let halves: Vec<(u16, usize)> = (0..n.div_ceil(16))
            .map(|h| {
                let (mut mask, mut first) = (0u16, usize::MAX);
                for l in 0..16.min(n - h * 16) {
                    let j = h * 16 + l;
                    if j % wa < ow {
                        mask |= 1 << l;
                        first = first.min(j / wa * ow + j % wa);
                    }
                }
                (mask, if mask == 0 { 0 } else { first })
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; each expanding load reads popcount(mask) values
        // from `first`, all valid columns of row p (< valid ≤ ld), inside src (asserted).
        unsafe {
            imp::pack_gap(k, n, src.as_ptr(), ld, &halves, out.as_mut_ptr())
        }
    }

    /// `dst[i] = src[2·i]`: the stride-2 column split of the strided convolutions' phase
    /// planes. Sixteen values per two loads and a lane permute, the tail by masked loads;
    /// the compiler's own vectorisation of the loop took 64 values at a time and left a
    /// 32-value row (a 64-pixel map's) to its scalar remainder.
    pub fn gather_even(dst: &mut [f32], src: &[f32]) {
        let n = dst.len();
        assert!(available() && (n == 0 || src.len() > 2 * (n - 1)));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; the loads read src[..min(src.len(), 2·n)] only
        // (masked past its end) and the stores dst[..n].
        unsafe {
            imp::gather_even(n, src.as_ptr(), src.len(), dst.as_mut_ptr())
        }
    }

    /// `dst[2·i] = a[i]`, `dst[2·i + 1] = b[i]` for `i < a.len()`: the stride-2 input
    /// gradient's copy out of two column-phase planes. Two lane permutes per 16 pairs,
    /// masked at the tail.
    pub fn interleave(dst: &mut [f32], a: &[f32], b: &[f32]) {
        let n = a.len();
        assert!(available() && b.len() == n && dst.len() >= 2 * n);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: avx512f was checked; the loads read a[..n] and b[..n], the stores
        // dst[..2·n] (masked past them).
        unsafe {
            imp::interleave(n, a.as_ptr(), b.as_ptr(), dst.as_mut_ptr())
        }
    }

    /// Columns `c0..c0 + n` of a `rows × cols` matrix `src`, transposed:
    /// `dst[c·rows + r] = src[r·cols + c0 + c]` for `c < n`. 16 × 16 blocks in registers,
    /// the ragged edges one value at a time.
    pub fn transpose_cols(
        rows: usize,
        cols: usize,
        src: &[f32],
        c0: usize,
        n: usize,
        dst: &mut [f32],
    ) {
        assert!(available() && c0 + n <= cols && src.len() >= rows * cols);
        assert!(dst.len() >= n * rows);
        let (r16, n16) = (rows / 16 * 16, n / 16 * 16);
        let seq: [usize; 16] = std::array::from_fn(|i| i);
        for r in (0..r16).step_by(16) {
            for c in (0..n16).step_by(16) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: avx512f was checked; the loads read rows r..r + 16 of src at
                // columns c0 + c..c0 + c + 16 (≤ cols), the stores rows c..c + 16 of dst
                // at columns r..r + 16 (≤ rows): inside both (asserted above).
                unsafe {
                    imp::transpose16(
                        src.as_ptr().add(r * cols + c0 + c),
                        cols,
                        dst.as_mut_ptr().add(c * rows + r),
                        rows,
                        &seq,
                    )
                }
            }
        }
        for r in 0..rows {
            let from = if r < r16 { n16 } else { 0 };
            for c in from..n {
                dst[c * rows + r] = src[r * cols + c0 + c];
            }
        }
    }

    /// Columns of `B` per narrow micro-tile (one register): the weight gradient of a
    /// layer with at most 16 output channels, whose `NR`-wide panels would be ≥ half
    /// padding (pix2pix at ngf 8, the matting and watermark quick widths).
    pub const NR16: usize = 16;
    /// Rows of `A` per narrow micro-tile.
    pub const MR16: usize = 16;

    /// Length of [`pack_b_t_gap`]'s output with `narrow`.
    pub fn packed_b16_len(k: usize, n: usize) -> usize {
        n.div_ceil(NR16) * NR16 * k
    }

    /// [`pack_b_t`] into the extended layout of [`pack_b_gap`]: `b[p'][j] =
    /// src[j·ld + p]` for `p' = p / ow · wa + p % ow` (`p < rows·ow`), zero rows between.
    /// `k` counts the extended rows (`rows · wa`). Panels of [`NR`] columns, or of
    /// [`NR16`] with `narrow` (for [`gemm_offsets_acc`]'s narrow tile).
    #[allow(clippy::too_many_arguments)]
    pub fn pack_b_t_gap(
        k: usize,
        n: usize,
        src: &[f32],
        ld: usize,
        ow: usize,
        wa: usize,
        out: &mut [f32],
        narrow: bool,
    ) {
        if narrow {
            pack_t_gap::<NR16>(k, n, src, ld, ow, wa, out)
        } else {
            pack_t_gap::<NR>(k, n, src, ld, ow, wa, out)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pack_t_gap<const W: usize>(
        k: usize,
        n: usize,
        src: &[f32],
        ld: usize,
        ow: usize,
        wa: usize,
        out: &mut [f32],
    ) {
        assert!(wa >= ow && ow > 0 && k.is_multiple_of(wa));
        assert!(out.len() >= n.div_ceil(W) * W * k);
        let valid = k / wa * ow;
        if n == 0 || k == 0 {
            return;
        }
        assert!(src.len() >= (n - 1) * ld + valid);
        const P: usize = 16;
        let simd = available();
        for (q, o) in out.chunks_exact_mut(W * k).take(n.div_ceil(W)).enumerate() {
            let j0 = q * W;
            let w = W.min(n - j0);
            // Blocks of P source columns: the P × W block being written stays in L1.
            let mut t = [[0f32; W]; P];
            for p0 in (0..valid).step_by(P) {
                let pn = P.min(valid - p0);
                #[cfg(target_arch = "x86_64")]
                if simd && pn == P && w == W {
                    // Whole 16 × 16 blocks transposed in registers.
                    // Without gaps (ow = wa) the rows stay where they are: no division
                    // per row (16 per block were half the packing of a small product).
                    let dst: [usize; P] = if ow == wa {
                        std::array::from_fn(|i| p0 + i)
                    } else {
                        std::array::from_fn(|i| (p0 + i) / ow * wa + (p0 + i) % ow)
                    };
                    for h in (0..W).step_by(16) {
                        let at = (j0 + h) * ld + p0;
                        assert!(src.len() >= at + 15 * ld + P);
                        assert!(dst.iter().all(|&d| d * W + h + 16 <= o.len()));
                        // SAFETY: avx512f was checked (`available`); the 16
                        // rows of 16 values from `at` lie in src and the 16 runs of 16
                        // from `d·W + h` in o (asserted).
                        unsafe {
                            imp::transpose16(
                                src.as_ptr().add(at),
                                ld,
                                o.as_mut_ptr().add(h),
                                W,
                                &dst,
                            )
                        }
                    }
                    continue;
                }
                for jj in 0..w {
                    let row = &src[(j0 + jj) * ld + p0..][..pn];
                    for (i, &v) in row.iter().enumerate() {
                        t[i][jj] = v;
                    }
                }
                for (i, ti) in t.iter().enumerate().take(pn) {
                    let p = p0 + i;
                    o[(p / ow * wa + p % ow) * W..][..W].copy_from_slice(ti);
                }
            }
            if wa > ow {
                for r in 0..k / wa {
                    o[(r * wa + ow) * W..(r + 1) * wa * W].fill(0.0);
                }
            }
        }
    }

    /// `c (m × n, row stride ldc) += A · B` with row `i` of `A` at
    /// `base[offs[i] + shift..][..k]` (the implicit im2col of [`pack_b_offsets`]) and `B`
    /// packed by [`pack_b_t_gap`] with the same `narrow` (16 × 16 tiles if set): the
    /// weight gradient `dWᵀ = col · dYᵀ` without col.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_offsets_acc(
        m: usize,
        n: usize,
        k: usize,
        base: &[f32],
        offs: &[usize],
        shift: usize,
        pb: &[f32],
        c: &mut [f32],
        ldc: usize,
        narrow: bool,
    ) {
        assert!(available());
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        assert!(offs.len() >= m && offs[..m].iter().all(|&o| o + shift + k <= base.len()));
        let pb_len = if narrow {
            packed_b16_len(k, n)
        } else {
            packed_b_len(k, n)
        };
        assert!(pb.len() >= pb_len);
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
        #[cfg(target_arch = "x86_64")]
        if n == 1 && narrow {
            // One output channel: the 16 × 16 tile would run 16 multiply-adds per step for
            // one useful column. Instead each run of rows whose offsets follow one another
            // (a kernel row's taps, at most 16) is one register: at step p one masked load
            // puts each of the run's rows' values in its own lane, and each lane is that
            // row's chain of multiply-adds in the wide tile's order (the same bits), with
            // as many useful lanes per multiply-add as the run has rows. Eight runs at a
            // time: eight independent chains per step.
            let mut runs: Vec<(usize, usize)> = Vec::new();
            let mut l = 0;
            while l < m {
                let mut e = l + 1;
                while e < m && e - l < 16 && offs[e] == offs[l] + (e - l) {
                    e += 1;
                }
                runs.push((l, e - l));
                l = e;
            }
            for group in runs.chunks(8) {
                let at: [(u16, *const f32); 8] = std::array::from_fn(|t| match group.get(t) {
                    Some(&(r0, len)) => (
                        ((1u32 << len) - 1) as u16,
                        base.as_ptr().wrapping_add(offs[r0] + shift),
                    ),
                    None => (0, base.as_ptr()),
                });
                // SAFETY: avx512f was checked; lane j < len of run t reads row r0 + j's k
                // values, inside base (asserted), other lanes touch no memory; the panel
                // holds k rows of 16 (asserted).
                let sums = unsafe { imp::runs_acc(k, at, pb.as_ptr()) };
                for (&(r0, len), v) in group.iter().zip(&sums) {
                    for (j, x) in v.iter().enumerate().take(len) {
                        c[(r0 + j) * ldc] += *x;
                    }
                }
            }
            return;
        }
        let steps = if narrow { Steps::Narrow } else { Steps::Wide };
        offsets_acc_tiles((m, n, k), steps, (base, offs, shift), pb, c, ldc);
    }

    /// How [`offsets_acc_tiles`] walks the inner dimension: `k` consecutive steps with
    /// the 8 × 32 or the 16 × 16 tile, or `rows` runs of `ow` steps `wa` apart with the
    /// 8 × 32 tile (there is no 16 × 16 tile with runs).
    #[derive(Clone, Copy)]
    enum Steps {
        Wide,
        Narrow,
        Runs((usize, usize, usize)),
    }

    /// The tiles of [`gemm_offsets_acc`] and [`gemm_offsets_acc_rows`], their bounds
    /// asserted by the caller.
    fn offsets_acc_tiles(
        (m, n, k): (usize, usize, usize),
        steps: Steps,
        (base, offs, shift): (&[f32], &[usize], usize),
        pb: &[f32],
        c: &mut [f32],
        ldc: usize,
    ) {
        let (mrw, nrw) = match steps {
            Steps::Narrow => (MR16, NR16),
            Steps::Wide | Steps::Runs(_) => (MR, NR),
        };
        // Rows past mr repeat the last valid one (read, not stored).
        fn rows<const R: usize>(offs: &[usize], i0: usize, mr: usize) -> [usize; R] {
            std::array::from_fn(|i| offs[i0 + i.min(mr - 1)])
        }
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, mrw, nrw, |i0, j0, mr, nr| {
            let b = pb[j0 * k..][..nrw * k].as_ptr();
            let cq = c[i0 * ldc + j0..].as_mut_ptr();
            // SAFETY: avx512f was checked; rows i0..i0+mr hold their k steps from their
            // offsets, the panel k·nrw, and the tile's mr rows × nr columns lie inside c
            // (asserted by the callers).
            unsafe {
                let p = |o: usize| base.as_ptr().add(o + shift);
                match steps {
                    Steps::Narrow => {
                        let ar = rows::<MR16>(offs, i0, mr).map(p);
                        imp::tile_rows16(k, ar, b, cq, ldc, mr, nr)
                    }
                    Steps::Wide => {
                        let ar = rows::<MR>(offs, i0, mr).map(p);
                        imp::tile_rows(k, ar, b, cq, ldc, mr, nr)
                    }
                    Steps::Runs(seg) => {
                        let ar = rows::<MR>(offs, i0, mr).map(p);
                        imp::tile_rows_gap(seg, ar, b, cq, ldc, mr, nr)
                    }
                }
            }
        });
    }

    /// [`gemm_offsets_acc`] over the real pixels alone, with the 8 × 32 tile: the inner
    /// dimension is `rows` output rows of `ow` pixels, step `(r, u)` of row `i` of `A` at
    /// `base[offs[i] + shift + r·wa + u]`, and `B` packed by [`pack_b_t_gap`] with
    /// `wa = ow` (no zero rows) and without `narrow`. Each value is the chain of
    /// multiply-adds of [`gemm_offsets_acc`] over the extended pixels without the terms of
    /// the extra ones, whose `B` rows are zeros: the same sum. (A 16 × 16 tile with runs
    /// was slower than the plain one on the watermark networks' maps, so there is none.)
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_offsets_acc_rows(
        m: usize,
        n: usize,
        (rows, ow, wa): (usize, usize, usize),
        base: &[f32],
        offs: &[usize],
        shift: usize,
        pb: &[f32],
        c: &mut [f32],
        ldc: usize,
    ) {
        assert!(available() && wa >= ow);
        let k = rows * ow;
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        let end = (rows - 1) * wa + ow;
        assert!(offs.len() >= m && offs[..m].iter().all(|&o| o + shift + end <= base.len()));
        assert!(pb.len() >= packed_b_len(k, n));
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
        let im = (base, offs, shift);
        offsets_acc_tiles((m, n, k), Steps::Runs((rows, ow, wa)), im, pb, c, ldc);
    }

    /// `c (m × n, row stride ldc) += A · B` with `A` row-major and unpacked
    /// (`a[i·lda + p]`, `m × k`) and `B` packed by [`pack_b`] or [`pack_b_t`]: the weight
    /// gradient `dWᵀ = col · dYᵀ`, whose `col` rows are read in place.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_rows_acc(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        lda: usize,
        pb: &[f32],
        c: &mut [f32],
        ldc: usize,
    ) {
        assert!(available());
        if m == 0 || n == 0 || k == 0 {
            return;
        }
        assert!(lda >= k && a.len() >= (m - 1) * lda + k && pb.len() >= packed_b_len(k, n));
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
        #[cfg(target_arch = "x86_64")]
        tiles(m, n, MR, NR, |i0, j0, mr, nr| {
            let b = pb[j0 * k..][..NR * k].as_ptr();
            // SAFETY: avx512f was checked; rows i0..i0+mr of a hold k values each (rows
            // past mr repeat the last valid one), the panel k·NR, and the tile's mr rows ×
            // nr columns lie inside c (asserted).
            unsafe {
                let ar: [*const f32; MR] =
                    std::array::from_fn(|i| a.as_ptr().add((i0 + i.min(mr - 1)) * lda));
                let c = c.as_mut_ptr().add(i0 * ldc + j0);
                imp::tile_rows(k, ar, b, c, ldc, mr, nr)
            }
        });
    }

    /// `c (m × n, rows ldc apart) [+]= A · B` for operands read through strides,
    /// `a[i][p] = a[i·ars + p·acs]` and `b[p][j] = b[p·brs + j·bcs]`, on up to `threads`
    /// threads: the fully connected layers' products (`ops::linear`), forward and
    /// backward, without the `gemm` crate's repacking of both operands.
    ///
    /// `A` is read in place, one broadcast per row and step (its rows are contiguous in
    /// the forward and the input gradient, `acs = 1`; in the weight gradient `A = dZᵀ`
    /// and a step's 8 rows are 8 neighbouring values, `ars = 1`). `B` is packed per
    /// panel of [`NR`] columns by the thread that uses it: a row copy when `bcs = 1`, a
    /// transpose in 16 × 16 register blocks when `brs = 1` (the forward's `Wᵀ`; one of
    /// the two must hold). The
    /// threads split the column panels (the rows when there is one panel). Every value is
    /// one chain of multiply-adds in `p` order, starting from zero, or from `c`'s value
    /// with `accumulate` (on the dot-product path of few columns: 16 lane chains, summed
    /// and then added to `c`), so the result does not depend on the number of threads or
    /// the blocking.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_strided(
        (m, n, k): (usize, usize, usize),
        a: &[f32],
        (ars, acs): (usize, usize),
        b: &[f32],
        (brs, bcs): (usize, usize),
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
        threads: usize,
    ) {
        assert!(available());
        if m == 0 || n == 0 {
            return;
        }
        assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
        assert!(
            bcs == 1 || brs == 1,
            "gemm_strided: B needs unit row or column stride"
        );
        if k == 0 {
            if !accumulate {
                c.chunks_mut(ldc).take(m).for_each(|r| r[..n].fill(0.0));
            }
            return;
        }
        // Checked in release builds too: the tiles below read through raw pointers.
        super::check_operands(
            "gemm_strided",
            (m, n, k),
            a.len(),
            (ars, acs),
            b.len(),
            (brs, bcs),
        );
        // Below about half a million multiply-adds a second thread costs more than it
        // saves.
        let tasks = if m * n * k < (1 << 19) {
            1
        } else {
            threads.max(1)
        };
        if n <= DOT_COLS_MAX && acs == 1 && brs == 1 {
            #[cfg(target_arch = "x86_64")]
            {
                // A layer with a few outputs (a critic's value, an actor's actions): an
                // 8 × 32 tile would run 32 columns' multiply-adds for 1–8 useful ones.
                let rows = m.div_ceil(tasks);
                let c_ptr = c.as_mut_ptr() as usize;
                let run = |t: usize| {
                    let (i0, i1) = (t * rows, ((t + 1) * rows).min(m));
                    // SAFETY: avx512f was checked; rows i0..i1 of A and the n rows of
                    // Bᵀ hold k contiguous values each (asserted above, acs = brs = 1);
                    // this task alone writes rows i0..i1 of c, n ≤ ldc values each.
                    unsafe {
                        let a = a.as_ptr().add(i0 * ars);
                        let c = (c_ptr as *mut f32).add(i0 * ldc);
                        imp::dots(
                            i1.saturating_sub(i0),
                            n,
                            k,
                            (a, ars),
                            (b.as_ptr(), bcs),
                            c,
                            ldc,
                            accumulate,
                        )
                    }
                };
                if tasks == 1 {
                    run(0);
                } else {
                    use rayon::prelude::*;
                    (0..tasks).into_par_iter().for_each(run);
                }
                return;
            }
        }
        let panels = n.div_ceil(NR);
        let blocks = m.div_ceil(MR);
        let (by_panel, tasks) = if panels >= tasks {
            (true, tasks)
        } else {
            (false, tasks.min(blocks))
        };
        let units = if by_panel { panels } else { blocks };
        let per = units.div_ceil(tasks);
        let c_ptr = c.as_mut_ptr() as usize;
        let run = |t: usize| {
            let (u0, u1) = (t * per, ((t + 1) * per).min(units));
            if u0 >= u1 {
                return;
            }
            let (q0, q1, r0, r1) = if by_panel {
                (u0, u1, 0, blocks)
            } else {
                (0, panels, u0, u1)
            };
            let (j0, j1) = (q0 * NR, (q1 * NR).min(n));
            let pb_len = packed_b_len(KC.min(k), j1 - j0);
            super::super::with_scratch::<f32, _>(pb_len, |pb| {
                // Steps of KC (the packed panel stays in L1 across a block of rows) and
                // blocks of MC rows (their KC steps of A stay in L2 across the panels).
                for kc0 in (0..k).step_by(KC) {
                    let kc = KC.min(k - kc0);
                    let bq = &b[kc0 * brs + j0 * bcs..];
                    if bcs == 1 {
                        pack_b(kc, j1 - j0, bq, brs, pb);
                    } else {
                        pack_b_t(kc, j1 - j0, bq, bcs, pb);
                    }
                    // The first steps overwrite c (or continue from it); later ones
                    // continue each value's chain from where the last steps left it.
                    #[cfg(target_arch = "x86_64")]
                    let mode = if kc0 == 0 && !accumulate {
                        imp::Write::Overwrite
                    } else {
                        imp::Write::Continue
                    };
                    #[cfg(target_arch = "x86_64")]
                    if m <= 4 {
                        // A few rows (an action for one observation): tiles of m rows
                        // over up to four panels, not 8-row tiles mostly of padding.
                        let ar: [*const f32; 4] = std::array::from_fn(|i| {
                            // SAFETY: row min(i, m − 1)'s steps from kc0 lie in a.
                            unsafe { a.as_ptr().add(i.min(m - 1) * ars + kc0 * acs) }
                        });
                        let mut q = q0;
                        while q < q1 {
                            let jq = q * NR;
                            let panel = pb[(jq - j0) * kc..].as_ptr();
                            // SAFETY: avx512f was checked; the group's g panels (q + g ≤
                            // q1) hold kc·NR values each, rows as above, and this task
                            // alone writes columns jq.. of the m rows of c (inside c).
                            let g = unsafe {
                                let cp = (c_ptr as *mut f32).add(jq);
                                let t = imp::Narrow {
                                    k: kc,
                                    acs,
                                    b: panel,
                                    panel: NR * kc,
                                    c: cp,
                                    ldc,
                                    mr: m,
                                    nr: n - jq,
                                    into: mode,
                                };
                                match (m, q1 - q) {
                                    (1, 4..) => imp::tile_rows_narrow::<1, 8>([ar[0]], t),
                                    (1, 3) => imp::tile_rows_narrow::<1, 6>([ar[0]], t),
                                    (1, 2) | (2, 2..) => {
                                        imp::tile_rows_narrow::<2, 4>([ar[0], ar[1]], t)
                                    }
                                    (1, _) => imp::tile_rows_narrow::<1, 2>([ar[0]], t),
                                    (2, _) => imp::tile_rows_narrow::<2, 2>([ar[0], ar[1]], t),
                                    _ => imp::tile_rows_narrow::<4, 2>(ar, t),
                                }
                            };
                            q += g;
                        }
                        continue;
                    }
                    #[cfg(target_arch = "x86_64")]
                    for rc0 in (r0..r1).step_by(MC / MR) {
                        for q in q0..q1 {
                            let jq = q * NR;
                            let nr = NR.min(n - jq);
                            let panel = pb[(jq - j0) * kc..][..NR * kc].as_ptr();
                            for blk in rc0..(rc0 + MC / MR).min(r1) {
                                let i0 = blk * MR;
                                let mr = MR.min(m - i0);
                                // SAFETY: avx512f was checked; steps kc0..kc0 + kc of
                                // row i0 + i lie in a (asserted above; rows past mr
                                // repeat the last valid one), the panel holds kc·NR
                                // values, and this task alone reads and writes the
                                // tile's mr rows × nr columns of c (tasks own disjoint
                                // panels or rows; inside c, asserted above).
                                unsafe {
                                    let ar: [*const f32; MR] = std::array::from_fn(|i| {
                                        let row = (i0 + i.min(mr - 1)) * ars;
                                        a.as_ptr().add(row + kc0 * acs)
                                    });
                                    let cp = (c_ptr as *mut f32).add(i0 * ldc + jq);
                                    imp::tile_rows_strided(
                                        kc, ar, acs, panel, cp, ldc, mr, nr, mode,
                                    )
                                }
                            }
                        }
                    }
                }
            })
        };
        if tasks == 1 {
            run(0);
        } else {
            use rayon::prelude::*;
            (0..tasks).into_par_iter().for_each(run);
        }
    }

    /// Steps of `p` per packed `B` in [`gemm_strided`].
    const KC: usize = 256;
    /// Rows of `A` per block in [`gemm_strided`] (a multiple of [`MR`]).
    const MC: usize = 128;

    /// The widest product [`gemm_strided`] runs as dot products (one 16-lane sum per
    /// output value over `p`) when both operands are contiguous along `p`.
    pub const DOT_COLS_MAX: usize = 8;

    // The AVX-512 intrinsics are stable since Rust 1.89, as are the `avx512f` target
    // features that `multiversion!` already enables, so the crate needs 1.89 in practice
    // whatever `rust-version` says.
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::incompatible_msrv)]
    mod imp {
        use super::{MR, MR16, NR, NR16};
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile(
            k: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            accumulate: bool,
        ) {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            tile_body(k, a, b, &mut acc);
            store(acc, c, ldc, mr, nr, accumulate);
        }

        #[inline(always)]
        unsafe fn tile_body(k: usize, a: *const f32, b: *const f32, acc: &mut [[__m512; 2]; MR]) {
            let (mut a, mut b) = (a, b);
            for _ in 0..k {
                let b0 = _mm512_loadu_ps(b);
                let b1 = _mm512_loadu_ps(b.add(16));
                for (i, r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(i));
                    r[0] = _mm512_fmadd_ps(av, b0, r[0]);
                    r[1] = _mm512_fmadd_ps(av, b1, r[1]);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
        }

        #[inline(always)]
        unsafe fn store(
            acc: [[__m512; 2]; MR],
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            accumulate: bool,
        ) {
            if mr == MR && nr == NR {
                for (i, r) in acc.iter().enumerate() {
                    let p = c.add(i * ldc);
                    let (mut v0, mut v1) = (r[0], r[1]);
                    if accumulate {
                        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(p));
                        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(p.add(16)));
                    }
                    _mm512_storeu_ps(p, v0);
                    _mm512_storeu_ps(p.add(16), v1);
                }
            } else {
                let masks = lanes(nr);
                for (i, r) in acc.iter().enumerate().take(mr) {
                    store_row(*r, c.add(i * ldc), masks, accumulate);
                }
            }
        }

        /// One row of a tile into `p`'s first `nr` lanes (`masks = lanes(nr)`),
        /// `[+]=`.
        #[inline(always)]
        unsafe fn store_row(
            r: [__m512; 2],
            p: *mut f32,
            (m0, m1): (__mmask16, __mmask16),
            accumulate: bool,
        ) {
            let (mut v0, mut v1) = (r[0], r[1]);
            if accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, p));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, p.add(16)));
            }
            _mm512_mask_storeu_ps(p, m0, v0);
            _mm512_mask_storeu_ps(p.add(16), m1, v1);
        }

        /// [`tile`] with `A` read from `MR` row pointers instead of a packed block,
        /// always accumulating into `c`. Rows past `mr` must point at readable rows
        /// (callers repeat the last valid one); their sums are not stored.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_rows(
            k: usize,
            ar: [*const f32; MR],
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
        ) {
            tile_rows_strided(k, ar, 1, b, c, ldc, mr, nr, Write::Add)
        }

        /// A tile of [`tile_rows_narrow`]: `k` steps, `A`'s column stride, the first
        /// packed panel and the distance between panels, `c` and its row stride, the
        /// valid rows and columns (from the tile's first column to `c`'s last), and how
        /// the sums go into `c`.
        pub(super) struct Narrow {
            pub k: usize,
            pub acs: usize,
            pub b: *const f32,
            pub panel: usize,
            pub c: *mut f32,
            pub ldc: usize,
            pub mr: usize,
            pub nr: usize,
            pub into: Write,
        }

        /// [`tile_rows_strided`] for a product of at most `R ≤ 4` rows (`t.mr` valid;
        /// rows past it repeat the last valid one): an `R × 16·C` tile over `C / 2`
        /// neighbouring packed panels, so that a step runs `R·C` independent multiply-
        /// adds rather than 16 mostly on padded rows. Each value is the same chain of
        /// multiply-adds as in [`tile_rows_strided`]. Returns the panels covered.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn tile_rows_narrow<const R: usize, const C: usize>(
            ar: [*const f32; R],
            t: Narrow,
        ) -> usize {
            let mask = |g: usize| -> __mmask16 {
                let w = t.nr.saturating_sub(16 * g).min(16);
                ((1u32 << w) - 1) as __mmask16
            };
            let at = |i: usize, g: usize| t.c.add(i * t.ldc + 16 * g);
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            if t.into == Write::Continue {
                for (i, r) in acc.iter_mut().enumerate().take(t.mr) {
                    for (g, v) in r.iter_mut().enumerate() {
                        *v = _mm512_maskz_loadu_ps(mask(g), at(i, g));
                    }
                }
            }
            let mut off = 0;
            for p in 0..t.k {
                let bv: [__m512; C] = std::array::from_fn(|g| {
                    _mm512_loadu_ps(t.b.add(g / 2 * t.panel + p * NR + g % 2 * 16))
                });
                for (i, r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ar[i].add(off));
                    for (v, b) in r.iter_mut().zip(&bv) {
                        *v = _mm512_fmadd_ps(av, *b, *v);
                    }
                }
                off += t.acs;
            }
            for (i, r) in acc.iter().enumerate().take(t.mr) {
                for (g, v) in r.iter().enumerate() {
                    let m = mask(g);
                    let mut v = *v;
                    if t.into == Write::Add {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, at(i, g)));
                    }
                    _mm512_mask_storeu_ps(at(i, g), m, v);
                }
            }
            C / 2
        }

        /// How [`tile_rows_strided`] puts a tile's sums into `c`.
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub(super) enum Write {
            /// `c = Σ` (each chain starts from zero).
            Overwrite,
            /// `c = c + Σ` (each chain starts from zero; `c` added at the end).
            Add,
            /// Each chain starts from `c`'s value: a product split along `p` gives the
            /// bits of one unsplit chain.
            Continue,
        }

        /// `c[i·ldc + j] [+]= Σ_p a[i·ars + p] · b[j·bcs + p]` for `i < m`, `j < n`: one
        /// 16-lane chain of multiply-adds per value, lane `l` over `p ≡ l (mod 16)` (the
        /// last block masked), then the lanes summed by [`hsum`].
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn dots(
            m: usize,
            n: usize,
            k: usize,
            (a, ars): (*const f32, usize),
            (b, bcs): (*const f32, usize),
            c: *mut f32,
            ldc: usize,
            accumulate: bool,
        ) {
            let mut j = 0;
            while j < n {
                let (bj, cj) = (b.add(j * bcs), c.add(j));
                let rest = (m, k, (a, ars), (bj, bcs), (cj, ldc), accumulate);
                j += match n - j {
                    1 => dots_n::<1>(rest),
                    2 => dots_n::<2>(rest),
                    3 => dots_n::<3>(rest),
                    _ => dots_n::<4>(rest),
                };
            }
        }

        /// [`dots`] for `N` columns; returns `N`.
        #[inline(always)]
        #[allow(clippy::type_complexity)]
        unsafe fn dots_n<const N: usize>(
            (m, k, (a, ars), (b, bcs), (c, ldc), accumulate): (
                usize,
                usize,
                (*const f32, usize),
                (*const f32, usize),
                (*mut f32, usize),
                bool,
            ),
        ) -> usize {
            let full = k / 16 * 16;
            let tail = ((1u32 << (k - full)) - 1) as __mmask16;
            for i in 0..m {
                let ar = a.add(i * ars);
                let mut acc = [_mm512_setzero_ps(); N];
                let mut p = 0;
                while p < full {
                    let av = _mm512_loadu_ps(ar.add(p));
                    for (j, r) in acc.iter_mut().enumerate() {
                        *r = _mm512_fmadd_ps(av, _mm512_loadu_ps(b.add(j * bcs + p)), *r);
                    }
                    p += 16;
                }
                if tail != 0 {
                    let av = _mm512_maskz_loadu_ps(tail, ar.add(p));
                    for (j, r) in acc.iter_mut().enumerate() {
                        let bv = _mm512_maskz_loadu_ps(tail, b.add(j * bcs + p));
                        *r = _mm512_fmadd_ps(av, bv, *r);
                    }
                }
                for (j, r) in acc.iter().enumerate() {
                    let d = c.add(i * ldc + j);
                    let v = hsum(*r);
                    *d = if accumulate { *d + v } else { v };
                }
            }
            N
        }

        /// The sum of the 16 lanes in a fixed order: lanes `l` and `l + 8`, then `l` and
        /// `l + 4`, then `l` and `l + 2`, then the two that are left.
        #[inline(always)]
        unsafe fn hsum(v: __m512) -> f32 {
            let t = _mm512_add_ps(v, _mm512_shuffle_f32x4::<0b01_00_11_10>(v, v));
            let t = _mm512_add_ps(t, _mm512_shuffle_f32x4::<0b10_11_00_01>(t, t));
            let x = _mm512_castps512_ps128(t);
            let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            let x = _mm_add_ss(x, _mm_shuffle_ps::<0b01>(x, x));
            _mm_cvtss_f32(x)
        }

        /// [`tile_rows`] with step `p` of row `i` at `ar[i] + p·acs`, `[+]=` into `c`.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        #[inline]
        pub(super) unsafe fn tile_rows_strided(
            k: usize,
            ar: [*const f32; MR],
            acs: usize,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            into: Write,
        ) {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            if into == Write::Continue {
                let (m0, m1) = lanes(nr);
                for (i, r) in acc.iter_mut().enumerate().take(mr) {
                    let p = c.add(i * ldc);
                    *r = [
                        _mm512_maskz_loadu_ps(m0, p),
                        _mm512_maskz_loadu_ps(m1, p.add(16)),
                    ];
                }
            }
            let mut b = b;
            let mut off = 0;
            for _ in 0..k {
                let b0 = _mm512_loadu_ps(b);
                let b1 = _mm512_loadu_ps(b.add(16));
                for (i, r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ar[i].add(off));
                    r[0] = _mm512_fmadd_ps(av, b0, r[0]);
                    r[1] = _mm512_fmadd_ps(av, b1, r[1]);
                }
                off += acs;
                b = b.add(NR);
            }
            store(acc, c, ldc, mr, nr, into == Write::Add);
        }

        /// [`tile_rows`] with the steps in `rows` runs of `ow`, `wa` apart in `A` (see
        /// `gemm_offsets_acc_rows`), added into `c`.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_rows_gap(
            (rows, ow, wa): (usize, usize, usize),
            ar: [*const f32; MR],
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
        ) {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            let mut b = b;
            for r in 0..rows {
                // The run's rows, then tile_rows_strided's loop over them.
                let a = ar.map(|p| p.add(r * wa));
                for off in 0..ow {
                    let b0 = _mm512_loadu_ps(b);
                    let b1 = _mm512_loadu_ps(b.add(16));
                    for (i, x) in acc.iter_mut().enumerate() {
                        let av = _mm512_set1_ps(*a[i].add(off));
                        x[0] = _mm512_fmadd_ps(av, b0, x[0]);
                        x[1] = _mm512_fmadd_ps(av, b1, x[1]);
                    }
                    b = b.add(NR);
                }
            }
            store(acc, c, ldc, mr, nr, true);
        }

        /// The sums of a tile with row `p` of `B` at `b + offs[p]` (see
        /// `gemm_b_offsets_drop`), not stored.
        #[inline(always)]
        unsafe fn b_offsets_acc(
            k: usize,
            a: *const f32,
            b: *const f32,
            offs: &[usize],
            nr: usize,
        ) -> [[__m512; 2]; MR] {
            let (m0, m1) = lanes(nr);
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            let mut a = a;
            for &o in &offs[..k] {
                let bp = b.add(o);
                let b0 = _mm512_maskz_loadu_ps(m0, bp);
                let b1 = _mm512_maskz_loadu_ps(m1, bp.add(16));
                for (i, r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(i));
                    r[0] = _mm512_fmadd_ps(av, b0, r[0]);
                    r[1] = _mm512_fmadd_ps(av, b1, r[1]);
                }
                a = a.add(MR);
            }
            acc
        }

        /// [`tile`] stored by [`store_drop`] (see `gemm_packed_drop`).
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_drop(
            k: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            (mr, nr, j0): (usize, usize, usize),
            (wa, ow): (usize, usize),
            bias: Option<&[f32]>,
        ) {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            tile_body(k, a, b, &mut acc);
            store_drop(acc, c, ldc, mr, nr, j0, wa, ow, bias);
        }

        /// [`b_offsets_acc`] stored by [`store_drop`] (see `gemm_b_offsets_drop`).
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_b_offsets_drop(
            k: usize,
            a: *const f32,
            b: *const f32,
            offs: &[usize],
            c: *mut f32,
            ldc: usize,
            (mr, nr, j0): (usize, usize, usize),
            (wa, ow): (usize, usize),
            bias: Option<&[f32]>,
        ) {
            let acc = b_offsets_acc(k, a, b, offs, nr);
            store_drop(acc, c, ldc, mr, nr, j0, wa, ow, bias);
        }

        /// Store a tile whose columns are `j0..j0 + nr` of the extended columns (see
        /// `DropCols`): each output row's run of real columns is one masked store per
        /// register, at the address its first lane would have had (lanes outside the
        /// run are masked off and touch no memory).
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn store_drop(
            acc: [[__m512; 2]; MR],
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            j0: usize,
            wa: usize,
            ow: usize,
            bias: Option<&[f32]>,
        ) {
            for (i, r) in acc.iter().enumerate().take(mr) {
                let (mut v0, mut v1) = (r[0], r[1]);
                if let Some(b) = bias {
                    let bv = _mm512_set1_ps(b[i]);
                    v0 = _mm512_add_ps(v0, bv);
                    v1 = _mm512_add_ps(v1, bv);
                }
                let row = c.add(i * ldc);
                let mut q = j0 / wa;
                while q * wa < j0 + nr {
                    let lo = (q * wa).max(j0) - j0;
                    let hi = (q * wa + ow).min(j0 + nr).saturating_sub(j0);
                    if hi > lo {
                        let bits = ((1u64 << hi) - 1) & !((1u64 << lo) - 1);
                        // Lane l of this output row goes to row + q·ow + (j0 + l − q·wa).
                        let p = row.wrapping_add(q * ow + j0).wrapping_sub(q * wa);
                        _mm512_mask_storeu_ps(p, bits as __mmask16, v0);
                        _mm512_mask_storeu_ps(p.wrapping_add(16), (bits >> 16) as __mmask16, v1);
                    }
                    q += 1;
                }
            }
        }

        /// [`tile_b_offsets_drop`] for the first `R ≤ MR` rows of a packed block, over
        /// `16·C` columns: `acc[i][l]` is the same multiply-add chain as the wide tile's.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_b_offsets_drop_n<const R: usize, const C: usize>(
            k: usize,
            a: *const f32,
            b: *const f32,
            offs: &[usize],
            c: *mut f32,
            ldc: usize,
            (mr, nr, j0): (usize, usize, usize),
            (wa, ow): (usize, usize),
            bias: Option<&[f32]>,
        ) {
            let masks: [__mmask16; C] = std::array::from_fn(|l| {
                ((1u32 << nr.saturating_sub(16 * l).min(16)) - 1) as __mmask16
            });
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            let mut a = a;
            for &o in &offs[..k] {
                let bp = b.add(o);
                let bv: [__m512; C] =
                    std::array::from_fn(|l| _mm512_maskz_loadu_ps(masks[l], bp.add(16 * l)));
                for (i, r) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(i));
                    for (x, y) in r.iter_mut().zip(&bv) {
                        *x = _mm512_fmadd_ps(av, *y, *x);
                    }
                }
                a = a.add(MR);
            }
            for (i, r) in acc.iter().enumerate().take(mr) {
                let row = c.add(i * ldc);
                for (l, v) in r.iter().enumerate() {
                    let c0 = j0 + 16 * l;
                    let cend = (c0 + 16).min(j0 + nr);
                    if c0 >= cend {
                        break;
                    }
                    let v = match bias {
                        Some(bs) => _mm512_add_ps(*v, _mm512_set1_ps(bs[i])),
                        None => *v,
                    };
                    // As store_drop, one register at a time.
                    let mut q = c0 / wa;
                    while q * wa < cend {
                        let lo = (q * wa).max(c0) - c0;
                        let hi = (q * wa + ow).min(cend).saturating_sub(c0);
                        if hi > lo {
                            let bits = ((1u32 << hi) - 1) & !((1u32 << lo) - 1);
                            let p = row.wrapping_add(q * ow + c0).wrapping_sub(q * wa);
                            _mm512_mask_storeu_ps(p, bits as __mmask16, v);
                        }
                        q += 1;
                    }
                }
            }
        }

        /// For eight runs `(mask, ptr)` of rows, the sums `Σ_p ptr[j + p] · b[16·p]` in
        /// lane `j` of the run's mask (a run of no lanes sums nothing).
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn runs_acc(
            k: usize,
            runs: [(u16, *const f32); 8],
            b: *const f32,
        ) -> [[f32; 16]; 8] {
            let mut acc = [_mm512_setzero_ps(); 8];
            for p in 0..k {
                let bp = _mm512_set1_ps(*b.add(16 * p));
                for (a, &(mk, ptr)) in acc.iter_mut().zip(&runs) {
                    let x = _mm512_maskz_loadu_ps(mk, ptr.wrapping_add(p));
                    *a = _mm512_fmadd_ps(x, bp, *a);
                }
            }
            let mut out = [[0f32; 16]; 8];
            for (o, a) in out.iter_mut().zip(&acc) {
                _mm512_storeu_ps(o.as_mut_ptr(), *a);
            }
            out
        }

        /// `dst[rows[i]·ldd + j] = src[j·ld + i]` for `i, j < 16`: a 16 × 16 block
        /// transposed in registers (unpacks, then 128-bit lane shuffles).
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn transpose16(
            src: *const f32,
            ld: usize,
            dst: *mut f32,
            ldd: usize,
            rows: &[usize; 16],
        ) {
            let r: [__m512; 16] = std::array::from_fn(|j| _mm512_loadu_ps(src.add(j * ld)));
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            // u[4i + j], 128-bit lane l: rows 4i..4i + 4 of column 4l + j.
            let mut u = [_mm512_setzero_ps(); 16];
            for i in 0..4 {
                u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
                u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
            }
            for i in 0..2 {
                for j in 0..4 {
                    let (a, b) = (u[8 * i + j], u[8 * i + 4 + j]);
                    t[8 * i + j] = _mm512_shuffle_f32x4::<0x88>(a, b);
                    t[8 * i + 4 + j] = _mm512_shuffle_f32x4::<0xDD>(a, b);
                }
            }
            for j in 0..8 {
                let col = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
                _mm512_storeu_ps(dst.add(rows[j] * ldd), col);
                let col = _mm512_shuffle_f32x4::<0xDD>(t[j], t[8 + j]);
                _mm512_storeu_ps(dst.add(rows[8 + j] * ldd), col);
            }
        }

        /// [`tile`] adding its rows to `MR` row pointers, in order (see
        /// `gemm_packed_add_offsets`).
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn tile_add_ptrs(
            k: usize,
            a: *const f32,
            b: *const f32,
            cp: [*mut f32; MR],
            mr: usize,
            nr: usize,
        ) {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            tile_body(k, a, b, &mut acc);
            let masks = lanes(nr);
            for (r, &p) in acc.iter().zip(&cp).take(mr) {
                store_row(*r, p, masks, true);
            }
        }

        /// The 16 × 16 [`tile_rows`] of `gemm_offsets_acc` with `narrow`.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        pub(super) unsafe fn tile_rows16(
            k: usize,
            ar: [*const f32; MR16],
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
        ) {
            let mut acc = [_mm512_setzero_ps(); MR16];
            let mut b = b;
            for p in 0..k {
                let bv = _mm512_loadu_ps(b);
                for (i, r) in acc.iter_mut().enumerate() {
                    *r = _mm512_fmadd_ps(_mm512_set1_ps(*ar[i].add(p)), bv, *r);
                }
                b = b.add(NR16);
            }
            let m = lanes(nr).0;
            for (i, r) in acc.iter().enumerate().take(mr) {
                let p = c.add(i * ldc);
                _mm512_mask_storeu_ps(p, m, _mm512_add_ps(*r, _mm512_maskz_loadu_ps(m, p)));
            }
        }

        #[inline(always)]
        fn lanes(w: usize) -> (__mmask16, __mmask16) {
            let full = |w: usize| -> __mmask16 { ((1u32 << w.min(16)) - 1) as __mmask16 };
            (full(w), full(w.saturating_sub(16)))
        }

        /// See `gather_even`: `dst[i] = src[2·i]` for `i < n`, reading no value at or
        /// past `src + len`.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn gather_even(n: usize, src: *const f32, len: usize, dst: *mut f32) {
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let mut i = 0;
            while i + 16 <= n && 2 * i + 32 <= len {
                let a = _mm512_loadu_ps(src.add(2 * i));
                let b = _mm512_loadu_ps(src.add(2 * i + 16));
                _mm512_storeu_ps(dst.add(i), _mm512_permutex2var_ps(a, idx, b));
                i += 16;
            }
            while i < n {
                let (m0, m1) = lanes((len - 2 * i).min(32));
                let a = _mm512_maskz_loadu_ps(m0, src.add(2 * i));
                let b = _mm512_maskz_loadu_ps(m1, src.add(2 * i + 16));
                let v = _mm512_permutex2var_ps(a, idx, b);
                _mm512_mask_storeu_ps(dst.add(i), lanes(n - i).0, v);
                i += 16;
            }
        }

        /// See `interleave`: `dst[2i] = a[i]`, `dst[2i + 1] = b[i]` for `i < n`.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn interleave(n: usize, a: *const f32, b: *const f32, dst: *mut f32) {
            let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let hi =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            let mut i = 0;
            while i < n {
                let m = lanes(n - i).0;
                let (va, vb) = (
                    _mm512_maskz_loadu_ps(m, a.add(i)),
                    _mm512_maskz_loadu_ps(m, b.add(i)),
                );
                let (m0, m1) = lanes(2 * (n - i).min(16));
                _mm512_mask_storeu_ps(dst.add(2 * i), m0, _mm512_permutex2var_ps(va, lo, vb));
                _mm512_mask_storeu_ps(dst.add(2 * i + 16), m1, _mm512_permutex2var_ps(va, hi, vb));
                i += 16;
            }
        }

        /// See `pack_b_offsets`: `out[q][p][j] = base[offs[p] + shift + q·NR + j]`.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn pack_offsets(
            k: usize,
            n: usize,
            base: *const f32,
            offs: &[usize],
            shift: usize,
            out: *mut f32,
        ) {
            for q in 0..n.div_ceil(NR) {
                let j0 = q * NR;
                let (m0, m1) = lanes(n - j0);
                let o = out.add(q * NR * k);
                for (p, &off) in offs.iter().enumerate() {
                    let s = base.add(off + shift + j0);
                    let d = o.add(p * NR);
                    _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, s));
                    _mm512_storeu_ps(d.add(16), _mm512_maskz_loadu_ps(m1, s.add(16)));
                }
            }
        }

        /// See `pack_b_offsets_real`: per half panel, one masked load per output row
        /// that its 16 columns touch.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn pack_offsets_real(
            k: usize,
            n: usize,
            (ow, qw): (usize, usize),
            base: *const f32,
            offs: &[usize],
            shift: usize,
            out: *mut f32,
        ) {
            // (lanes, source of lane 0) per run of one output row, at most 5 per half.
            const RUNS: usize = 6;
            for q in 0..n.div_ceil(NR) {
                let mut runs = [[(0 as __mmask16, 0usize); RUNS]; 2];
                let mut count = [0usize; 2];
                for (h, (hr, c)) in runs.iter_mut().zip(&mut count).enumerate() {
                    let j = q * NR + 16 * h;
                    let mut i = 0;
                    while i < 16 && j + i < n {
                        let (r, t) = (j + i, (j + i) / ow);
                        let run = ((t + 1) * ow - r).min(16 - i).min(n - r);
                        // Lane i + u reads extended column r + u + t·qw, for u < run.
                        hr[*c] = ((((1u32 << run) - 1) << i) as __mmask16, j + t * qw);
                        *c += 1;
                        i += run;
                    }
                }
                let o = out.add(q * NR * k);
                for (p, &off) in offs.iter().enumerate() {
                    let s = base.add(off + shift);
                    let d = o.add(p * NR);
                    for h in 0..2 {
                        let mut v = _mm512_setzero_ps();
                        for &(m, at) in &runs[h][..count[h]] {
                            v = _mm512_mask_loadu_ps(v, m, s.add(at));
                        }
                        _mm512_storeu_ps(d.add(16 * h), v);
                    }
                }
            }
        }

        /// See `pack_b_gap`: one expanding load per half panel and row.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn pack_gap(
            k: usize,
            n: usize,
            src: *const f32,
            ld: usize,
            halves: &[(u16, usize)],
            out: *mut f32,
        ) {
            for q in 0..n.div_ceil(NR) {
                let o = out.add(q * NR * k);
                let (h0, h1) = (
                    halves[2 * q],
                    halves.get(2 * q + 1).copied().unwrap_or((0, 0)),
                );
                for p in 0..k {
                    let s = src.add(p * ld);
                    let d = o.add(p * NR);
                    _mm512_storeu_ps(d, _mm512_maskz_expandloadu_ps(h0.0, s.add(h0.1)));
                    _mm512_storeu_ps(d.add(16), _mm512_maskz_expandloadu_ps(h1.0, s.add(h1.1)));
                }
            }
        }
    }
}
