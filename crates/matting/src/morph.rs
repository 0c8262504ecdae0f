//! Exact Euclidean distance transforms and the erosions built on them: where a click's
//! disk fits inside a region, the "deepest" point of a region, and the GT-derived
//! unknown band used as an evaluation region when no trimap exists.
//!
//! Distances are squared and exact (integers held in `f64`), computed with the
//! separable lower-envelope algorithm of Felzenszwalb & Huttenlocher (2012) in
//! O(H·W). Masks are row-major `height × width`.

use crate::{Error, Result};

/// Squared distance to the nearest `true` pixel of `features`, per pixel (0 on the
/// features themselves); `f64::INFINITY` everywhere when there is no feature pixel.
pub fn squared_distance_to(features: &[bool], height: usize, width: usize) -> Result<Vec<f64>> {
    if features.len() != height * width {
        return Err(Error::invalid(format!(
            "distance transform: mask has {} pixels, expected {height}x{width}",
            features.len()
        )));
    }
    let inf = f64::INFINITY;
    let mut d: Vec<f64> = features
        .iter()
        .map(|&f| if f { 0.0 } else { inf })
        .collect();
    if !features.iter().any(|&f| f) {
        return Ok(d);
    }
    let n = height.max(width);
    let mut buf = Scratch::new(n);
    // Columns, then rows.
    let mut col = vec![0.0f64; height];
    for x in 0..width {
        for y in 0..height {
            col[y] = d[y * width + x];
        }
        buf.transform(&col);
        for y in 0..height {
            d[y * width + x] = buf.out[y];
        }
    }
    for y in 0..height {
        let row = &mut d[y * width..(y + 1) * width];
        buf.transform(row);
        row.copy_from_slice(&buf.out[..width]);
    }
    Ok(d)
}

/// Buffers of the 1-D lower-envelope transform.
struct Scratch {
    v: Vec<usize>,
    z: Vec<f64>,
    out: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            v: vec![0; n],
            z: vec![0.0; n + 1],
            out: vec![0.0; n],
        }
    }

    /// `out[q] = min_p (q − p)² + f[p]` (parabolas at the finite samples only).
    fn transform(&mut self, f: &[f64]) {
        let n = f.len();
        let (v, z) = (&mut self.v, &mut self.z);
        let mut k: isize = -1;
        for q in 0..n {
            if !f[q].is_finite() {
                continue;
            }
            loop {
                if k < 0 {
                    k = 0;
                    v[0] = q;
                    z[0] = f64::NEG_INFINITY;
                    z[1] = f64::INFINITY;
                    break;
                }
                let p = v[k as usize];
                let s =
                    ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q - p) as f64);
                if s <= z[k as usize] {
                    k -= 1;
                    continue;
                }
                k += 1;
                v[k as usize] = q;
                z[k as usize] = s;
                z[k as usize + 1] = f64::INFINITY;
                break;
            }
        }
        if k < 0 {
            self.out[..n].fill(f64::INFINITY);
            return;
        }
        let mut j = 0usize;
        for q in 0..n {
            while z[j + 1] < q as f64 {
                j += 1;
            }
            let p = v[j];
            let dq = q as f64 - p as f64;
            self.out[q] = dq * dq + f[p];
        }
    }
}

/// Pixels of `region` whose whole disk of `radius` (`dy² + dx² ≤ r²`) lies inside
/// `region`; parts of the disk outside the image do not count against it.
pub fn erode_disk(
    region: &[bool],
    height: usize,
    width: usize,
    radius: usize,
) -> Result<Vec<bool>> {
    let outside: Vec<bool> = region.iter().map(|&r| !r).collect();
    let d = squared_distance_to(&outside, height, width)?;
    let r2 = (radius * radius) as f64;
    Ok(d.iter().map(|&v| v > r2).collect())
}

/// Squared distance from each pixel of `region` to the nearest pixel outside it, where
/// the outside includes the ring of pixels just beyond the image border (so a region
/// touching the border is shallow there); 0 outside the region.
pub fn depth_squared(region: &[bool], height: usize, width: usize) -> Result<Vec<f64>> {
    let outside: Vec<bool> = region.iter().map(|&r| !r).collect();
    let mut d = squared_distance_to(&outside, height, width)?;
    for y in 0..height {
        let dy = (y + 1).min(height - y) as f64;
        for x in 0..width {
            let dx = (x + 1).min(width - x) as f64;
            let b = dy.min(dx);
            let v = &mut d[y * width + x];
            *v = v.min(b * b);
        }
    }
    Ok(d)
}

/// A trimap derived from a ground-truth alpha (the evaluation band of click methods,
/// which have no test trimap): 255 where the disk of `radius` around the pixel is all
/// α = 255, 0 where it is all α = 0, and 128 (unknown) elsewhere; i.e. the transition
/// pixels dilated by `radius`. Disk parts outside the image are ignored.
pub fn band_trimap(alpha: &[u8], height: usize, width: usize, radius: usize) -> Result<Vec<u8>> {
    let fg: Vec<bool> = alpha.iter().map(|&a| a == 255).collect();
    let bg: Vec<bool> = alpha.iter().map(|&a| a == 0).collect();
    let fg_core = erode_disk(&fg, height, width, radius)?;
    let bg_core = erode_disk(&bg, height, width, radius)?;
    Ok(fg_core
        .iter()
        .zip(&bg_core)
        .map(|(&f, &b)| {
            if f {
                255
            } else if b {
                0
            } else {
                128
            }
        })
        .collect())
}

/// Index of the largest value (the first one in row-major order on ties) among the
/// pixels where `allowed` is true; `None` when none is allowed.
pub fn argmax_where(values: &[f64], allowed: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (&v, &a)) in values.iter().zip(allowed).enumerate() {
        if a && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(features: &[bool], h: usize, w: usize) -> Vec<f64> {
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f64, (i % w) as f64);
                (0..h * w)
                    .filter(|&j| features[j])
                    .map(|j| {
                        let (fy, fx) = ((j / w) as f64, (j % w) as f64);
                        (y - fy).powi(2) + (x - fx).powi(2)
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force() {
        let mut state = 12345u64;
        for &(h, w, density) in &[
            (9usize, 13usize, 5u64),
            (17, 6, 40),
            (1, 10, 20),
            (12, 12, 1),
        ] {
            let f: Vec<bool> = (0..h * w)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % 100 < density
                })
                .collect();
            assert_eq!(squared_distance_to(&f, h, w).unwrap(), brute(&f, h, w));
        }
        let none = squared_distance_to(&[false; 6], 2, 3).unwrap();
        assert!(none.iter().all(|v| v.is_infinite()));
        assert!(squared_distance_to(&[false; 5], 2, 3).is_err());
    }

    #[test]
    fn erosion_and_band() {
        // A 7x7 square of foreground inside 11x11: radius 2 keeps the 3x3 centre
        // (disk of radius 2 reaches 2 px along the axes).
        let (h, w) = (11, 11);
        let alpha: Vec<u8> = (0..h * w)
            .map(|i| {
                if (2..9).contains(&(i / w)) && (2..9).contains(&(i % w)) {
                    255
                } else {
                    0
                }
            })
            .collect();
        let fg: Vec<bool> = alpha.iter().map(|&a| a == 255).collect();
        let core = erode_disk(&fg, h, w, 2).unwrap();
        let kept: Vec<usize> = (0..h * w).filter(|&i| core[i]).collect();
        let want: Vec<usize> = (4..7)
            .flat_map(|y| (4..7).map(move |x| y * w + x))
            .collect();
        assert_eq!(kept, want);
        let tri = band_trimap(&alpha, h, w, 1).unwrap();
        assert_eq!(tri[5 * w + 5], 255);
        assert_eq!(tri[2 * w + 5], 128); // on the edge of the square
        assert_eq!(tri[w + 5], 128); // one pixel outside
        assert_eq!(tri[0], 0);
        let d = depth_squared(&fg, h, w).unwrap();
        assert_eq!(argmax_where(&d, &fg), Some(5 * w + 5));
        assert_eq!(d[5 * w + 5], 16.0);
        assert_eq!(argmax_where(&d, &vec![false; h * w]), None);
    }
}
