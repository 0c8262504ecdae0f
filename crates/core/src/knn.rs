//! k nearest neighbours inside one point set (point clouds, feature sets).
//!
//! Points are a flat, row-major `&[f32]`: `n` points of `dim` coordinates each
//! (point clouds use `dim = 3`). Two exact methods are provided and they return
//! **bit-identical** results:
//!
//! * [`knn_brute`] — every pair, `O(n²)`; best for small sets.
//! * [`KdTree`] — median-split k-d tree with leaf buckets and bounding-box
//!   pruning; [`KdTree::knn_all`] answers the all-points query and
//!   [`KdTree::query`] the nearest points to an arbitrary location.
//!
//! [`knn`] picks between the two (brute force up to
//! [`BRUTE_FORCE_MAX_POINTS`] points), [`knn_batch`] runs many clouds in
//! parallel with rayon.
//!
//! ## Speed
//!
//! The all-points query works leaf by leaf rather than point by point: the
//! distances from each point of a leaf to the (at most 16) points of a leaf
//! are computed in one vectorisable pass per coordinate over a
//! coordinate-major copy of the points; the leaf's own points are filtered by
//! the k-th smallest distance before any candidate is inserted; the other
//! leaves are visited from the nearest ancestor's other child upwards, pruned
//! first for the whole leaf (box-to-box distance against the largest current
//! k-th distance) and then per point (point-to-box distance). Candidates are
//! kept as packed `(distance bits, index)` keys in a small sorted array. A
//! 1024-point, `k = 2` cloud (build and query) takes about 0.2 ms on one core
//! (0.05 ms build, 0.15 ms query; `knn::tests::timing_1024_k2`, ignored by
//! default, prints the figures).
//!
//! ## Exactness
//!
//! The squared distance between `a` and `b` is always computed as
//! `Σ_d (a_d − b_d)²`, accumulated in `f32` in coordinate order (no fused
//! multiply-add). Neighbours are ordered by `(squared distance, index)`
//! ascending, so ties are broken by the smaller index. The tree only prunes a
//! node whose bounding-box distance² is *strictly* greater than the current
//! k-th best distance; because the box distance is computed with the same
//! monotone `f32` operations it is a true lower bound of every point's computed
//! distance, so pruning never changes the answer, ties included.

use rayon::prelude::*;

use crate::{bail_invalid, Error, Result};

/// Clouds with more points than this are searched with a [`KdTree`] by [`knn`];
/// smaller ones by brute force (building a tree does not pay off below it).
pub const BRUTE_FORCE_MAX_POINTS: usize = 64;

/// Maximum number of points in a k-d tree leaf bucket.
const LEAF_SIZE: usize = 16;

/// Marks a leaf in [`Node::axis`].
const LEAF: u32 = u32::MAX;

/// Above this many points [`KdTree::knn_all`] splits the queries over rayon's pool.
const PARALLEL_MIN_POINTS: usize = 16_384;

/// The `k` nearest other points of every point of a set.
///
/// Row `i` (entries `i*k .. (i+1)*k` of both vectors) holds the `k` nearest
/// points of point `i`, excluding `i` itself (by index: exact duplicates of
/// point `i` are kept, at distance 0), sorted by squared distance ascending and
/// then by index ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Neighbours per point.
    pub k: usize,
    /// `n * k` neighbour indices, row-major.
    pub indices: Vec<u32>,
    /// `n * k` squared Euclidean distances matching `indices`.
    pub sq_dists: Vec<f32>,
}

impl Neighbours {
    /// Number of points (rows).
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// `true` when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The neighbour indices and squared distances of point `i`, or `None` when
    /// `i` is out of range.
    pub fn row(&self, i: usize) -> Option<(&[u32], &[f32])> {
        let lo = i.checked_mul(self.k)?;
        let hi = lo.checked_add(self.k)?;
        Some((self.indices.get(lo..hi)?, self.sq_dists.get(lo..hi)?))
    }
}

// ---------------------------------------------------------------------------
// validation and shared kernels
// ---------------------------------------------------------------------------

/// Checks `points`/`dim` and returns the number of points.
fn validate_points(points: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        bail_invalid!("dim must be at least 1");
    }
    if !points.len().is_multiple_of(dim) {
        bail_invalid!(
            "points has {} values, which is not a multiple of dim = {dim}",
            points.len()
        );
    }
    let n = points.len() / dim;
    if n == 0 {
        bail_invalid!("the point set is empty");
    }
    if n >= u32::MAX as usize {
        bail_invalid!("too many points ({n}): indices must fit in u32");
    }
    if let Some(pos) = first_non_finite(points) {
        bail_invalid!(
            "point {} coordinate {} is {} (coordinates must be finite)",
            pos / dim,
            pos % dim,
            points[pos]
        );
    }
    Ok(n)
}

/// Checks `k` for a self-excluding query over `n` points.
fn validate_k_all(n: usize, k: usize) -> Result<()> {
    if k == 0 {
        bail_invalid!("k must be at least 1");
    }
    if k >= n {
        bail_invalid!(
            "k = {k} needs at least {} points, got {n}",
            k.saturating_add(1)
        );
    }
    Ok(())
}

/// Squared distance, accumulated in coordinate order. `D > 0` fixes the
/// dimension at compile time (same arithmetic, unrolled); `D == 0` uses `dim`.
#[inline(always)]
fn sq_dist<const D: usize>(a: &[f32], b: &[f32], dim: usize) -> f32 {
    let dim = if D > 0 { D } else { dim };
    let (a, b) = (&a[..dim], &b[..dim]);
    let mut s = 0.0f32;
    for d in 0..dim {
        let t = a[d] - b[d];
        s += t * t;
    }
    s
}

/// Packs a squared distance and an index into one sort key. Squared distances
/// are `+0.0`, positive or `+inf`, whose bit patterns order like their values,
/// so comparing keys compares `(distance, index)` lexicographically.
#[inline(always)]
fn pack(d: f32, j: u32) -> u64 {
    ((d.to_bits() as u64) << 32) | j as u64
}

/// The best `k` candidates so far, as packed keys sorted ascending.
struct Best {
    k: usize,
    len: usize,
    /// Key of the k-th candidate, `u64::MAX` while fewer than `k` are known.
    worst_key: u64,
    /// Distance of the k-th candidate, `+inf` while fewer than `k` are known.
    worst: f32,
    keys: Vec<u64>,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            k,
            len: 0,
            worst_key: u64::MAX,
            worst: f32::INFINITY,
            keys: vec![u64::MAX; k],
        }
    }

    #[inline(always)]
    fn clear(&mut self) {
        self.len = 0;
        self.worst_key = u64::MAX;
        self.worst = f32::INFINITY;
    }

    /// Inserts `key`, which callers have checked is below `worst_key`.
    #[inline(always)]
    fn push(&mut self, key: u64) {
        let k = self.k;
        let keys = &mut self.keys[..k];
        let mut p = if self.len < k {
            self.len += 1;
            self.len - 1
        } else {
            k - 1
        };
        while p > 0 && keys[p - 1] > key {
            keys[p] = keys[p - 1];
            p -= 1;
        }
        keys[p] = key;
        if self.len == k {
            self.worst_key = keys[k - 1];
            self.worst = f32::from_bits((self.worst_key >> 32) as u32);
        }
    }

    /// Offers `(d, j)`.
    #[inline(always)]
    fn offer(&mut self, d: f32, j: u32) {
        let key = pack(d, j);
        if key < self.worst_key {
            self.push(key);
        }
    }

    /// Writes the found indices and distances.
    fn write(&self, out_i: &mut [u32], out_d: &mut [f32]) {
        for ((&key, i), d) in self.keys[..self.len].iter().zip(out_i).zip(out_d) {
            *i = key as u32;
            *d = f32::from_bits((key >> 32) as u32);
        }
    }
}

/// Brute-force all-points search for a fixed `D` (0 = dynamic).
fn brute_impl<const D: usize>(points: &[f32], dim: usize, n: usize, k: usize) -> Neighbours {
    let mut indices = vec![0u32; n * k];
    let mut sq_dists = vec![0f32; n * k];
    let mut best = Best::new(k);
    for i in 0..n {
        best.clear();
        let a = &points[i * dim..(i + 1) * dim];
        for (j, b) in points.chunks_exact(dim).enumerate() {
            if j != i {
                best.offer(sq_dist::<D>(a, b, dim), j as u32);
            }
        }
        best.write(
            &mut indices[i * k..(i + 1) * k],
            &mut sq_dists[i * k..(i + 1) * k],
        );
    }
    Neighbours {
        k,
        indices,
        sq_dists,
    }
}

/// Exact k nearest neighbours of every point by comparing all pairs (`O(n²·dim)`).
///
/// Errors if `dim == 0`, `points.len()` is not a multiple of `dim`, the set is
/// empty, a coordinate is NaN or infinite, `k == 0` or `k ≥ n`.
pub fn knn_brute(points: &[f32], dim: usize, k: usize) -> Result<Neighbours> {
    let n = validate_points(points, dim)?;
    validate_k_all(n, k)?;
    Ok(match dim {
        2 => brute_impl::<2>(points, dim, n, k),
        3 => brute_impl::<3>(points, dim, n, k),
        _ => brute_impl::<0>(points, dim, n, k),
    })
}

// ---------------------------------------------------------------------------
// k-d tree
// ---------------------------------------------------------------------------

/// Lanes of the leaf kernels: distances from one query to the (up to)
/// `LEAF_SIZE` points of a leaf, or from the points of a leaf to one box.
type Lanes = [f32; LEAF_SIZE];

#[derive(Debug, Clone, Copy)]
struct Node {
    /// First point (position in the reordered buffers).
    lo: u32,
    /// One past the last point.
    hi: u32,
    /// Split axis, or [`LEAF`].
    axis: u32,
    /// Split coordinate: the left child holds points `≤ split` on `axis`,
    /// the right child points `≥ split`.
    split: f32,
    /// Index of the right child (the left child is the next node).
    right: u32,
    /// Index of the parent (0 for the root).
    parent: u32,
}

/// Maps `f32` to `u32` so that integer order equals `f32::total_cmp` order.
#[inline(always)]
fn order_bits(x: f32) -> u32 {
    let b = x.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// `max(a, b)` for non-NaN values (one `maxss`).
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `min(a, b)` for non-NaN values (one `minss`).
#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// Bit `i` set where `v[i] <= w[i]`.
#[inline(always)]
fn le_mask(v: &Lanes, w: &Lanes) -> u32 {
    let mut m = 0u32;
    for i in 0..LEAF_SIZE {
        m |= ((v[i] <= w[i]) as u32) << i;
    }
    m
}

/// Mask of the first `m` lanes.
#[inline(always)]
fn lane_mask(m: usize) -> u32 {
    ((1u64 << m) - 1) as u32
}

/// Minimum over all lanes.
#[inline(always)]
fn lanes_min(v: &Lanes) -> f32 {
    let mut a = *v;
    let mut w = LEAF_SIZE / 2;
    while w > 0 {
        for i in 0..w {
            a[i] = fmin(a[i], a[i + w]);
        }
        w /= 2;
    }
    a[0]
}

/// The `k`-th smallest value of `v` counting repeats (lanes set to `+inf`
/// are ignored), or `+inf` when there are fewer than `k` finite values.
#[inline(always)]
fn lanes_kth(v: &Lanes, k: usize) -> f32 {
    let mut remaining = k;
    let mut floor = -1.0f32; // below every squared distance
    loop {
        let above: Lanes = std::array::from_fn(|i| if v[i] > floor { v[i] } else { f32::INFINITY });
        let m = lanes_min(&above);
        if m == f32::INFINITY {
            return m;
        }
        let mut c = 0u32;
        for &x in &above {
            c += (x == m) as u32;
        }
        if c as usize >= remaining {
            return m;
        }
        remaining -= c as usize;
        floor = m;
    }
}

/// Checks that all values are finite; on failure returns the first bad position.
fn first_non_finite(values: &[f32]) -> Option<usize> {
    let mut chunks = values.chunks_exact(64);
    let mut ok = true;
    for c in &mut chunks {
        let mut c_ok = true;
        for &v in c {
            c_ok &= v.is_finite();
        }
        ok &= c_ok;
    }
    for &v in chunks.remainder() {
        ok &= v.is_finite();
    }
    if ok {
        None
    } else {
        values.iter().position(|v| !v.is_finite())
    }
}

/// State of the all-points query for the points of one leaf.
struct LeafQuery<'a> {
    /// The query leaf and its first tree position.
    leaf: usize,
    lo: usize,
    /// k-th distance per point (lane); -1 on unused lanes so they never pass.
    worsts: Lanes,
    /// The largest of `worsts`: leaves farther from the query leaf's box are useless.
    reach: f32,
    bests: &'a mut [Best],
}

/// A k-d tree over a fixed point set, for exact k-nearest-neighbour queries.
///
/// Built by median splits on the axis of widest spread down to leaf buckets of
/// at most 16 points. The points are stored reordered (tree order) in
/// contiguous buffers, row-major and coordinate-major, so a leaf's distances to
/// a query are computed by one vectorised pass per coordinate over consecutive
/// memory. Every node keeps its bounding box, and a node is skipped only when
/// its box distance² is strictly greater than the current k-th best distance,
/// so the results equal [`knn_brute`] bit for bit.
///
/// [`KdTree::knn_all`] works leaf by leaf: each point is first compared with
/// its own leaf; then the other leaves within reach of the leaf's bounding box
/// are visited nearest first, each only for the points whose distance to its
/// box passes the test.
#[derive(Debug, Clone)]
pub struct KdTree {
    dim: usize,
    n: usize,
    /// Points in tree order, row-major (`n * dim`).
    pts: Vec<f32>,
    /// Points in tree order, coordinate-major: coordinate `d` of point `p` at
    /// `d * stride + p`; each coordinate row is zero-padded by `LEAF_SIZE` so
    /// the leaf kernels always read full lanes.
    cols: Vec<f32>,
    stride: usize,
    /// Original index of each point in tree order.
    idx: Vec<u32>,
    nodes: Vec<Node>,
    /// Leaf node ids in tree order (their point ranges tile `0..n`).
    leaves: Vec<u32>,
    /// Per node: `dim` minima followed by `dim` maxima.
    bbox: Vec<f32>,
}

impl KdTree {
    /// Builds a tree over `n = points.len() / dim` points.
    ///
    /// Errors if `dim == 0`, `points.len()` is not a multiple of `dim`, the set
    /// is empty or a coordinate is NaN or infinite.
    pub fn build(points: &[f32], dim: usize) -> Result<KdTree> {
        let n = validate_points(points, dim)?;
        Ok(match dim {
            2 => Self::build_valid::<2>(points, dim, n),
            3 => Self::build_valid::<3>(points, dim, n),
            _ => Self::build_valid::<0>(points, dim, n),
        })
    }

    fn build_valid<const D: usize>(points: &[f32], dim: usize, n: usize) -> KdTree {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let n_nodes_hint = 2 * n.div_ceil(LEAF_SIZE / 2);
        let stride = n + LEAF_SIZE;
        let mut tree = KdTree {
            dim,
            n,
            pts: Vec::new(),
            cols: vec![0.0; stride * dim],
            stride,
            idx: Vec::new(),
            nodes: Vec::with_capacity(n_nodes_hint),
            leaves: Vec::with_capacity(n_nodes_hint / 2 + 1),
            bbox: Vec::with_capacity(n_nodes_hint * 2 * dim),
        };
        let mut scratch = Vec::with_capacity(n);
        tree.build_node::<D>(points, &mut perm, &mut scratch, 0, n, 0);
        let mut pts = vec![0.0f32; n * dim];
        for (p, (row, &src)) in pts.chunks_exact_mut(dim).zip(&perm).enumerate() {
            let src = &points[src as usize * dim..][..dim];
            for d in 0..if D > 0 { D } else { dim } {
                row[d] = src[d];
                tree.cols[d * stride + p] = src[d];
            }
        }
        tree.pts = pts;
        tree.idx = perm;
        tree
    }

    /// Number of points in the tree.
    pub fn num_points(&self) -> usize {
        self.n
    }

    /// Coordinates per point.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn build_node<const D: usize>(
        &mut self,
        points: &[f32],
        perm: &mut [u32],
        scratch: &mut Vec<u64>,
        lo: usize,
        hi: usize,
        parent: u32,
    ) -> u32 {
        let dim = if D > 0 { D } else { self.dim };
        let id = self.nodes.len() as u32;
        // bounding box
        let start = self.bbox.len();
        let first = &points[perm[lo] as usize * dim..][..dim];
        self.bbox.extend_from_slice(first);
        self.bbox.extend_from_slice(first);
        {
            let (mins, maxs) = self.bbox[start..start + 2 * dim].split_at_mut(dim);
            let (mins, maxs) = (&mut mins[..dim], &mut maxs[..dim]);
            for &p in &perm[lo + 1..hi] {
                let c = &points[p as usize * dim..][..dim];
                for d in 0..dim {
                    mins[d] = fmin(c[d], mins[d]);
                    maxs[d] = fmax(c[d], maxs[d]);
                }
            }
        }
        self.nodes.push(Node {
            lo: lo as u32,
            hi: hi as u32,
            axis: LEAF,
            split: 0.0,
            right: 0,
            parent,
        });
        if hi - lo <= LEAF_SIZE {
            self.leaves.push(id);
            return id;
        }
        // widest axis (first one on ties); spreads are computed in f64 so that
        // huge coordinate ranges do not overflow
        let mut axis = 0;
        let mut widest = -1.0f64;
        for d in 0..dim {
            let spread = self.bbox[start + dim + d] as f64 - self.bbox[start + d] as f64;
            if spread > widest {
                widest = spread;
                axis = d;
            }
        }
        // median by (coordinate, index): select on packed integer keys
        let mid = lo + (hi - lo) / 2;
        scratch.clear();
        scratch.extend(
            perm[lo..hi]
                .iter()
                .map(|&p| ((order_bits(points[p as usize * dim + axis]) as u64) << 32) | p as u64),
        );
        scratch.select_nth_unstable(mid - lo);
        for (dst, &key) in perm[lo..hi].iter_mut().zip(scratch.iter()) {
            *dst = key as u32;
        }
        let split = points[perm[mid] as usize * dim + axis];
        self.build_node::<D>(points, perm, scratch, lo, mid, id);
        let right = self.build_node::<D>(points, perm, scratch, mid, hi, id);
        let node = &mut self.nodes[id as usize];
        node.axis = axis as u32;
        node.split = split;
        node.right = right;
        id
    }

    /// Minima and maxima of node `node`'s box.
    #[inline(always)]
    fn bounds<const D: usize>(&self, node: usize) -> (&[f32], &[f32]) {
        let dim = if D > 0 { D } else { self.dim };
        let (mins, maxs) = self.bbox[node * 2 * dim..][..2 * dim].split_at(dim);
        (&mins[..dim], &maxs[..dim])
    }

    /// Lower bound of the squared distance from `q` to any point of `node`:
    /// the per-axis gap (`min − q`, `q − max` or 0) never exceeds the rounded
    /// `|q_d − p_d|` of a point inside, and gaps are squared and summed in
    /// coordinate order like [`sq_dist`], so the bound never exceeds a computed
    /// distance.
    #[inline(always)]
    fn box_dist<const D: usize>(&self, node: usize, q: &[f32]) -> f32 {
        let dim = if D > 0 { D } else { self.dim };
        let (mins, maxs) = self.bounds::<D>(node);
        let q = &q[..dim];
        let mut s = 0.0f32;
        for d in 0..dim {
            let g = fmax(fmax(mins[d] - q[d], q[d] - maxs[d]), 0.0);
            s += g * g;
        }
        s
    }

    /// Lower bound of the squared distance between any point of node `a` and
    /// any point of node `b` (box to box, same monotone arithmetic).
    #[inline(always)]
    fn box_box_dist<const D: usize>(&self, a: usize, b: usize) -> f32 {
        let dim = if D > 0 { D } else { self.dim };
        let (amin, amax) = self.bounds::<D>(a);
        let (bmin, bmax) = self.bounds::<D>(b);
        let mut s = 0.0f32;
        for d in 0..dim {
            let g = fmax(fmax(bmin[d] - amax[d], amin[d] - bmax[d]), 0.0);
            s += g * g;
        }
        s
    }

    /// Squared distances from `q` to the `LEAF_SIZE` points from tree position
    /// `lo` (lanes past the leaf read neighbours or padding and are ignored by
    /// callers). Each lane performs exactly the operations of [`sq_dist`] in
    /// the same order.
    #[inline(always)]
    fn leaf_dists<const D: usize>(&self, lo: usize, q: &[f32]) -> Lanes {
        let dim = if D > 0 { D } else { self.dim };
        // `0.0 + t²` is `t²` exactly (t² is never -0.0), so starting from the
        // first coordinate's squares is the same arithmetic as `sq_dist`
        let col = &self.cols[lo..][..LEAF_SIZE];
        let mut acc: Lanes = std::array::from_fn(|i| {
            let t = q[0] - col[i];
            t * t
        });
        for (d, &qd) in q[..dim].iter().enumerate().skip(1) {
            let col = &self.cols[d * self.stride + lo..][..LEAF_SIZE];
            for i in 0..LEAF_SIZE {
                let t = qd - col[i];
                acc[i] += t * t;
            }
        }
        acc
    }

    /// Distance² lower bounds from the `LEAF_SIZE` points from tree position
    /// `lo` to the box of `node`.
    #[inline(always)]
    fn lanes_box_dist<const D: usize>(&self, lo: usize, node: usize) -> Lanes {
        let dim = if D > 0 { D } else { self.dim };
        let (mins, maxs) = self.bounds::<D>(node);
        let mut acc = [0.0f32; LEAF_SIZE];
        for d in 0..dim {
            let col = &self.cols[d * self.stride + lo..][..LEAF_SIZE];
            let (mn, mx) = (mins[d], maxs[d]);
            for i in 0..LEAF_SIZE {
                let g = fmax(fmax(mn - col[i], col[i] - mx), 0.0);
                acc[i] += g * g;
            }
        }
        acc
    }

    /// Offers the lanes set in `mask` of `dists` (points from tree position
    /// `lo`) to `best`; returns the new k-th distance.
    #[inline(always)]
    fn offer(&self, dists: &Lanes, mut mask: u32, lo: usize, best: &mut Best) -> f32 {
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let key = pack(dists[i], self.idx[lo + i]);
            if key < best.worst_key {
                best.push(key);
            }
        }
        best.worst
    }

    /// Offers the points of leaf `node` to `best`, except tree position `skip`.
    #[inline(always)]
    fn scan_leaf<const D: usize>(
        &self,
        node: &Node,
        q: &[f32],
        skip: usize,
        best: &mut Best,
    ) -> f32 {
        let (lo, hi) = (node.lo as usize, node.hi as usize);
        let dists = self.leaf_dists::<D>(lo, q);
        let mut mask = lane_mask(hi - lo);
        if (lo..hi).contains(&skip) {
            mask &= !(1 << (skip - lo));
        }
        if best.worst < f32::INFINITY {
            mask &= le_mask(&dists, &[best.worst; LEAF_SIZE]);
        }
        self.offer(&dists, mask, lo, best)
    }

    /// Depth-first search of the subtree at `node` (whose box has already
    /// passed the pruning test).
    fn search<const D: usize>(&self, node: usize, q: &[f32], best: &mut Best) {
        let nd = &self.nodes[node];
        if nd.axis == LEAF {
            self.scan_leaf::<D>(nd, q, usize::MAX, best);
            return;
        }
        let (left, right) = (node + 1, nd.right as usize);
        let (near, far) = if q[nd.axis as usize] <= nd.split {
            (left, right)
        } else {
            (right, left)
        };
        if self.box_dist::<D>(near, q) <= best.worst {
            self.search::<D>(near, q, best);
        }
        if self.box_dist::<D>(far, q) <= best.worst {
            self.search::<D>(far, q, best);
        }
    }

    /// Visits the subtree at `node` (which does not contain the query leaf
    /// and whose box is within reach) for all points of the query leaf,
    /// nearer child first, pruning by box-to-box distance against the
    /// current reach.
    fn visit<const D: usize>(&self, node: usize, st: &mut LeafQuery<'_>) {
        let nd = &self.nodes[node];
        if nd.axis == LEAF {
            self.visit_leaf::<D>(nd, node, st);
            return;
        }
        let (left, right) = (node + 1, nd.right as usize);
        let (dl, dr) = (
            self.box_box_dist::<D>(st.leaf, left),
            self.box_box_dist::<D>(st.leaf, right),
        );
        let ((first, df), (second, ds)) = if dl <= dr {
            ((left, dl), (right, dr))
        } else {
            ((right, dr), (left, dl))
        };
        if df <= st.reach {
            self.visit::<D>(first, st);
        }
        if ds <= st.reach {
            self.visit::<D>(second, st);
        }
    }

    /// Offers the points of leaf `node` to the points of the query leaf whose
    /// distance to its box passes the test.
    #[inline(always)]
    fn visit_leaf<const D: usize>(&self, nd: &Node, node: usize, st: &mut LeafQuery<'_>) {
        let dim = if D > 0 { D } else { self.dim };
        let (clo, cmask) = (nd.lo as usize, lane_mask((nd.hi - nd.lo) as usize));
        let mut todo = le_mask(&self.lanes_box_dist::<D>(st.lo, node), &st.worsts);
        if todo == 0 {
            return;
        }
        while todo != 0 {
            let a = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            let q = &self.pts[(st.lo + a) * dim..][..dim];
            let dists = self.leaf_dists::<D>(clo, q);
            let mask = cmask & le_mask(&dists, &[st.worsts[a]; LEAF_SIZE]);
            st.worsts[a] = self.offer(&dists, mask, clo, &mut st.bests[a]);
        }
        st.reach = st.worsts.iter().fold(0.0f32, |r, &w| fmax(r, w));
    }

    /// All-points query for the leaves `leaves`; `emit(p, best)` receives the
    /// result of the point at tree position `p`.
    fn leaves_knn<const D: usize>(
        &self,
        leaves: &[u32],
        k: usize,
        mut emit: impl FnMut(usize, &Best),
    ) {
        let dim = if D > 0 { D } else { self.dim };
        let mut bests: Vec<Best> = (0..LEAF_SIZE).map(|_| Best::new(k)).collect();
        for &leaf in leaves {
            let leaf = leaf as usize;
            let nd = self.nodes[leaf];
            let (lo, hi) = (nd.lo as usize, nd.hi as usize);
            let m = hi - lo;
            // k-th distance per lane; -1 on unused lanes so that they never pass
            let mut worsts = [-1.0f32; LEAF_SIZE];
            let valid = lane_mask(m);
            for (a, best) in bests[..m].iter_mut().enumerate() {
                best.clear();
                let q = &self.pts[(lo + a) * dim..][..dim];
                // distances inside the leaf; only lanes up to the k-th
                // smallest distance can be among the k nearest
                let mut dists = self.leaf_dists::<D>(lo, q);
                dists[a] = f32::INFINITY;
                for d in &mut dists[m..] {
                    *d = f32::INFINITY;
                }
                let t = lanes_kth(&dists, k);
                let mask = valid & !(1 << a) & le_mask(&dists, &[t; LEAF_SIZE]);
                worsts[a] = self.offer(&dists, mask, lo, best);
            }
            let reach = worsts.iter().fold(0.0f32, |r, &w| fmax(r, w));
            let mut st = LeafQuery {
                leaf,
                lo,
                worsts,
                reach,
                bests: &mut bests[..m],
            };
            // the other child of every ancestor, bottom-up (nearest first)
            let mut child = leaf;
            while child != 0 {
                let parent = self.nodes[child].parent as usize;
                let sibling = if child == parent + 1 {
                    self.nodes[parent].right as usize
                } else {
                    parent + 1
                };
                if self.box_box_dist::<D>(leaf, sibling) <= st.reach {
                    self.visit::<D>(sibling, &mut st);
                }
                child = parent;
            }
            for (a, best) in bests[..m].iter().enumerate() {
                emit(lo + a, best);
            }
        }
    }

    fn knn_all_valid<const D: usize>(&self, k: usize) -> Neighbours {
        let n = self.n;
        let mut indices = vec![0u32; n * k];
        let mut sq_dists = vec![0f32; n * k];
        if n >= PARALLEL_MIN_POINTS {
            // groups of leaves in parallel, results in tree order, then scattered
            let parts: Vec<(usize, Vec<u32>, Vec<f32>)> = self
                .leaves
                .par_chunks(64)
                .map(|g| {
                    let first = self.nodes[g[0] as usize].lo as usize;
                    let end = self.nodes[g[g.len() - 1] as usize].hi as usize;
                    let mut oi = vec![0u32; (end - first) * k];
                    let mut od = vec![0f32; (end - first) * k];
                    self.leaves_knn::<D>(g, k, |p, best| {
                        let r = (p - first) * k;
                        best.write(&mut oi[r..r + k], &mut od[r..r + k]);
                    });
                    (first, oi, od)
                })
                .collect();
            for (first, oi, od) in parts {
                for (r, (ri, rd)) in oi.chunks_exact(k).zip(od.chunks_exact(k)).enumerate() {
                    let o = self.idx[first + r] as usize * k;
                    indices[o..o + k].copy_from_slice(ri);
                    sq_dists[o..o + k].copy_from_slice(rd);
                }
            }
        } else {
            self.leaves_knn::<D>(&self.leaves, k, |p, best| {
                let o = self.idx[p] as usize * k;
                best.write(&mut indices[o..o + k], &mut sq_dists[o..o + k]);
            });
        }
        Neighbours {
            k,
            indices,
            sq_dists,
        }
    }

    /// The `k` nearest other points of every point of the tree (self excluded
    /// by index), identical to [`knn_brute`] on the same points.
    ///
    /// Errors if `k == 0` or `k ≥ n`.
    pub fn knn_all(&self, k: usize) -> Result<Neighbours> {
        validate_k_all(self.n, k)?;
        Ok(match self.dim {
            2 => self.knn_all_valid::<2>(k),
            3 => self.knn_all_valid::<3>(k),
            _ => self.knn_all_valid::<0>(k),
        })
    }

    /// The `k` points nearest to an arbitrary query `q` (no point excluded), as
    /// `(index, squared distance)` sorted by distance then index.
    ///
    /// Errors if `k == 0`, `k > n`, `q.len() != dim` or `q` has a NaN or
    /// infinite coordinate.
    pub fn query(&self, q: &[f32], k: usize) -> Result<Vec<(u32, f32)>> {
        if k == 0 {
            bail_invalid!("k must be at least 1");
        }
        if k > self.n {
            bail_invalid!("k = {k} needs at least {k} points, got {}", self.n);
        }
        if q.len() != self.dim {
            bail_invalid!(
                "query has {} coordinates but the tree has dim = {}",
                q.len(),
                self.dim
            );
        }
        if let Some(d) = q.iter().position(|v| !v.is_finite()) {
            bail_invalid!(
                "query coordinate {d} is {} (coordinates must be finite)",
                q[d]
            );
        }
        let mut best = Best::new(k);
        match self.dim {
            2 => self.search::<2>(0, q, &mut best),
            3 => self.search::<3>(0, q, &mut best),
            _ => self.search::<0>(0, q, &mut best),
        }
        let mut out_i = vec![0u32; best.len];
        let mut out_d = vec![0f32; best.len];
        best.write(&mut out_i, &mut out_d);
        Ok(out_i.into_iter().zip(out_d).collect())
    }
}

/// Exact k nearest neighbours of every point, choosing the method by size:
/// brute force for `n ≤` [`BRUTE_FORCE_MAX_POINTS`] (64) points, a [`KdTree`]
/// above. Both give bit-identical results, so the choice only affects speed.
///
/// Errors as [`knn_brute`].
pub fn knn(points: &[f32], dim: usize, k: usize) -> Result<Neighbours> {
    let n = validate_points(points, dim)?;
    validate_k_all(n, k)?;
    Ok(match dim {
        _ if n <= BRUTE_FORCE_MAX_POINTS => match dim {
            2 => brute_impl::<2>(points, dim, n, k),
            3 => brute_impl::<3>(points, dim, n, k),
            _ => brute_impl::<0>(points, dim, n, k),
        },
        2 => KdTree::build_valid::<2>(points, dim, n).knn_all_valid::<2>(k),
        3 => KdTree::build_valid::<3>(points, dim, n).knn_all_valid::<3>(k),
        _ => KdTree::build_valid::<0>(points, dim, n).knn_all_valid::<0>(k),
    })
}

/// [`knn`] on many clouds in parallel (rayon), results in input order.
///
/// Errors on the first invalid cloud (lowest index), with its index in the message.
pub fn knn_batch(clouds: &[&[f32]], dim: usize, k: usize) -> Result<Vec<Neighbours>> {
    clouds
        .par_iter()
        .enumerate()
        .map(|(c, pts)| {
            knn(pts, dim, k).map_err(|e| match e {
                Error::InvalidInput(m) => Error::invalid(format!("cloud {c}: {m}")),
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random_cloud(rng: &mut StdRng, n: usize, dim: usize, kind: usize) -> Vec<f32> {
        match kind {
            // uniform
            0 => (0..n * dim)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect(),
            // integer grid: many exact ties
            1 => (0..n * dim)
                .map(|_| rng.random_range(0..5i32) as f32)
                .collect(),
            // many duplicate points
            _ => {
                let base: Vec<f32> = (0..4 * dim)
                    .map(|_| rng.random_range(-3.0f32..3.0))
                    .collect();
                let mut v = Vec::with_capacity(n * dim);
                for _ in 0..n {
                    if rng.random_bool(0.7) {
                        let b = rng.random_range(0..4);
                        v.extend_from_slice(&base[b * dim..(b + 1) * dim]);
                    } else {
                        for _ in 0..dim {
                            v.push(rng.random_range(-3.0f32..3.0));
                        }
                    }
                }
                v
            }
        }
    }

    fn assert_bit_identical(a: &Neighbours, b: &Neighbours) {
        assert_eq!(a.k, b.k);
        assert_eq!(a.indices, b.indices);
        let ab: Vec<u32> = a.sq_dists.iter().map(|v| v.to_bits()).collect();
        let bb: Vec<u32> = b.sq_dists.iter().map(|v| v.to_bits()).collect();
        assert_eq!(ab, bb);
    }

    #[test]
    fn brute_equals_tree_random_clouds() {
        let mut rng = StdRng::seed_from_u64(7);
        let sizes = [1usize, 2, 3, 5, 9, 17, 64, 65, 100, 257, 1000, 2000];
        for &dim in &[1usize, 2, 3, 5] {
            for &n in &sizes {
                for kind in 0..3 {
                    let pts = random_cloud(&mut rng, n, dim, kind);
                    let tree = KdTree::build(&pts, dim).unwrap();
                    for &k in &[1usize, 2, 3, 8, 16] {
                        if k >= n {
                            assert!(knn_brute(&pts, dim, k).is_err());
                            assert!(tree.knn_all(k).is_err());
                            continue;
                        }
                        let b = knn_brute(&pts, dim, k).unwrap();
                        let t = tree.knn_all(k).unwrap();
                        assert_bit_identical(&b, &t);
                        assert_bit_identical(&b, &knn(&pts, dim, k).unwrap());
                        // rows sorted and self-excluding
                        for i in 0..n {
                            let (ri, rd) = b.row(i).unwrap();
                            assert!(!ri.contains(&(i as u32)));
                            for w in 0..k - 1 {
                                assert!((rd[w], ri[w]) < (rd[w + 1], ri[w + 1]));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parallel_path_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(19);
        let n = PARALLEL_MIN_POINTS + 700;
        let pts = random_cloud(&mut rng, n, 3, 0);
        let tree = KdTree::build(&pts, 3).unwrap();
        assert_bit_identical(&knn_brute(&pts, 3, 3).unwrap(), &tree.knn_all(3).unwrap());
    }

    #[test]
    fn all_duplicates() {
        let pts = vec![1.5f32; 3 * 50];
        let t = KdTree::build(&pts, 3).unwrap().knn_all(3).unwrap();
        assert_bit_identical(&knn_brute(&pts, 3, 3).unwrap(), &t);
        assert_eq!(t.row(0).unwrap().0, &[1, 2, 3]);
        assert_eq!(t.row(2).unwrap().0, &[0, 1, 3]);
        assert_eq!(t.row(2).unwrap().1, &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn hand_made_four_points() {
        // (0,0) (1,0) (0,2) (3,0)
        let pts = [0.0f32, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 0.0];
        for nb in [
            knn_brute(&pts, 2, 2).unwrap(),
            KdTree::build(&pts, 2).unwrap().knn_all(2).unwrap(),
        ] {
            assert_eq!(nb.k, 2);
            assert_eq!(nb.len(), 4);
            // 0: 1 (1), 2 (4)
            // 1: 0 (1), 3 (4) — tie with 2 (5)? d(1,2)=1+4=5, d(1,3)=4
            // 2: 0 (4), 1 (5)
            // 3: 1 (4), 0 (9)
            assert_eq!(nb.indices, vec![1, 2, 0, 3, 0, 1, 1, 0]);
            assert_eq!(nb.sq_dists, vec![1.0, 4.0, 1.0, 4.0, 4.0, 5.0, 4.0, 9.0]);
        }
        // tie by index: point 0 of (0,0),(1,0),(-1,0) → 1 and 2 at distance 1
        let pts = [0.0f32, 0.0, 1.0, 0.0, -1.0, 0.0];
        let nb = knn(&pts, 2, 1).unwrap();
        assert_eq!(nb.indices, vec![1, 0, 0]);
        assert_eq!(nb.sq_dists, vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn query_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(11);
        for &(n, dim) in &[(1usize, 3usize), (7, 2), (300, 3), (1500, 2), (200, 4)] {
            for kind in 0..3 {
                let pts = random_cloud(&mut rng, n, dim, kind);
                let tree = KdTree::build(&pts, dim).unwrap();
                for _ in 0..30 {
                    let q: Vec<f32> = if rng.random_bool(0.3) {
                        let p = rng.random_range(0..n);
                        pts[p * dim..(p + 1) * dim].to_vec()
                    } else {
                        (0..dim).map(|_| rng.random_range(-4.0f32..6.0)).collect()
                    };
                    for &k in &[1usize, 2, 5, n] {
                        if k > n {
                            continue;
                        }
                        let mut all: Vec<(f32, u32)> = pts
                            .chunks_exact(dim)
                            .enumerate()
                            .map(|(j, p)| (sq_dist::<0>(&q, p, dim), j as u32))
                            .collect();
                        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        let want: Vec<(u32, f32)> = all[..k].iter().map(|&(d, j)| (j, d)).collect();
                        let got = tree.query(&q, k).unwrap();
                        assert_eq!(got.len(), k);
                        for (g, w) in got.iter().zip(&want) {
                            assert_eq!(g.0, w.0);
                            assert_eq!(g.1.to_bits(), w.1.to_bits());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn batch_matches_single() {
        let mut rng = StdRng::seed_from_u64(3);
        let clouds: Vec<Vec<f32>> = (0..9)
            .map(|c| random_cloud(&mut rng, 20 + 60 * c, 3, c % 3))
            .collect();
        let refs: Vec<&[f32]> = clouds.iter().map(|c| c.as_slice()).collect();
        let out = knn_batch(&refs, 3, 4).unwrap();
        for (c, nb) in clouds.iter().zip(&out) {
            assert_bit_identical(nb, &knn_brute(c, 3, 4).unwrap());
        }
        let bad: Vec<&[f32]> = vec![&clouds[0], &clouds[1][..5]];
        let err = knn_batch(&bad, 3, 4).unwrap_err().to_string();
        assert!(err.contains("cloud 1"), "{err}");
    }

    #[test]
    fn error_cases() {
        let pts = [0.0f32; 15];
        assert!(knn_brute(&pts, 0, 1).is_err());
        assert!(KdTree::build(&pts, 0).is_err());
        assert!(knn_brute(&pts[..14], 3, 1).is_err());
        assert!(KdTree::build(&pts[..14], 3).is_err());
        assert!(knn_brute(&[], 3, 1).is_err());
        assert!(KdTree::build(&[], 3).is_err());
        assert!(knn(&[], 3, 1).is_err());
        assert!(knn_brute(&pts, 3, 0).is_err());
        let e = knn_brute(&pts, 3, 5).unwrap_err().to_string();
        assert!(e.contains("k = 5 needs at least 6 points, got 5"), "{e}");
        assert!(knn(&pts, 3, 5).is_err());
        let tree = KdTree::build(&pts, 3).unwrap();
        assert!(tree.knn_all(0).is_err());
        assert!(tree.knn_all(5).is_err());
        assert!(tree.knn_all(4).is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut p = pts;
            p[7] = bad;
            let e = knn_brute(&p, 3, 1).unwrap_err().to_string();
            assert!(e.contains("point 2 coordinate 1"), "{e}");
            assert!(KdTree::build(&p, 3).is_err());
            assert!(knn(&p, 3, 1).is_err());
            assert!(knn_batch(&[&p], 3, 1).is_err());
            assert!(tree.query(&[0.0, bad, 0.0], 1).is_err());
        }
        assert!(tree.query(&[0.0, 0.0], 1).is_err());
        assert!(tree.query(&[0.0, 0.0, 0.0], 0).is_err());
        assert!(tree.query(&[0.0, 0.0, 0.0], 6).is_err());
        assert_eq!(tree.query(&[0.0, 0.0, 0.0], 5).unwrap().len(), 5);
        assert!(knn_batch(&[], 3, 1).unwrap().is_empty());
    }

    #[test]
    fn extreme_coordinates_do_not_break_ties() {
        // differences overflow to +inf: distances are inf, still consistent
        let pts = [f32::MAX, 0.0, -f32::MAX, 0.0, 0.0, 0.0, f32::MAX, 1.0];
        let b = knn_brute(&pts, 2, 3).unwrap();
        let t = KdTree::build(&pts, 2).unwrap().knn_all(3).unwrap();
        assert_bit_identical(&b, &t);
    }
}
