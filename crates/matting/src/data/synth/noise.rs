//! Procedural noise for the proxy's textures, smoke and backgrounds: value-noise fBm
//! and Worley (cellular) noise. Lattice values come from a hash of (seed, cell), so a
//! field is a pure function of its seed and coordinates, the same at any resolution.

/// SplitMix64-style hash of a seed and a 2-D lattice point.
fn hash(seed: u64, ix: i64, iy: i64) -> u64 {
    let mut z = seed
        ^ (ix as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (iy as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Value noise in [0, 1] at `(x, y)` (lattice spacing 1), quintic interpolation.
pub fn value(seed: u64, x: f64, y: f64) -> f64 {
    let (fx, fy) = (x.floor(), y.floor());
    let (ix, iy) = (fx as i64, fy as i64);
    let (tx, ty) = (x - fx, y - fy);
    let s = |t: f64| t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
    let (sx, sy) = (s(tx), s(ty));
    let v00 = unit(hash(seed, ix, iy));
    let v10 = unit(hash(seed, ix + 1, iy));
    let v01 = unit(hash(seed, ix, iy + 1));
    let v11 = unit(hash(seed, ix + 1, iy + 1));
    let a = v00 + (v10 - v00) * sx;
    let b = v01 + (v11 - v01) * sx;
    a + (b - a) * sy
}

/// Fractional Brownian motion: `octaves` of [`value`] noise, each at twice the
/// frequency and `gain` times the amplitude of the previous, normalised to [0, 1].
pub fn fbm(seed: u64, x: f64, y: f64, octaves: usize, gain: f64) -> f64 {
    let (mut sum, mut norm, mut amp, mut freq) = (0.0, 0.0, 1.0, 1.0);
    for o in 0..octaves {
        sum += amp
            * value(
                seed.wrapping_add(o as u64 * 0x632b_e59b_d9b4_e019),
                x * freq,
                y * freq,
            );
        norm += amp;
        amp *= gain;
        freq *= 2.0;
    }
    sum / norm
}

/// Worley noise: distance from `(x, y)` to the nearest feature point (one per unit
/// cell) and that point's hash (for a per-cell colour).
pub fn worley(seed: u64, x: f64, y: f64) -> (f64, u64) {
    let (ix, iy) = (x.floor() as i64, y.floor() as i64);
    let mut best = (f64::INFINITY, 0u64);
    for dy in -1..=1 {
        for dx in -1..=1 {
            let (cx, cy) = (ix + dx, iy + dy);
            let h = hash(seed, cx, cy);
            let px = cx as f64 + unit(h);
            let py = cy as f64 + unit(hash(h, 1, 7));
            let d = ((px - x).powi(2) + (py - y).powi(2)).sqrt();
            if d < best.0 {
                best = (d, h);
            }
        }
    }
    best
}

/// Uniform in [0, 1) from a cell hash (for per-cell colours).
pub fn cell_unit(h: u64, k: u64) -> f64 {
    unit(hash(h, k as i64, 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_ranges_and_continuity() {
        for i in 0..500 {
            let (x, y) = (i as f64 * 0.37, i as f64 * 0.11 - 20.0);
            let v = value(5, x, y);
            assert!((0.0..=1.0).contains(&v));
            let f = fbm(5, x, y, 5, 0.5);
            assert!((0.0..=1.0).contains(&f));
            assert!((value(5, x + 1e-7, y) - v).abs() < 1e-5);
            let (d, _) = worley(9, x, y);
            assert!(d < 1.5);
        }
        // Lattice points carry their own value.
        assert_eq!(value(1, 3.0, 4.0), unit(hash(1, 3, 4)));
        assert_ne!(value(1, 3.5, 4.5), value(2, 3.5, 4.5));
    }
}
