//! Triangle meshes: the OFF format of ModelNet40's meshes, and area-weighted
//! surface sampling.

use std::path::Path;

use candor_core::SeededRng;

use crate::data::cloud::strip_invalid;
use crate::{Error, Result};

/// A triangle mesh (polygons are fan-triangulated when read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions.
    pub vertices: Vec<[f32; 3]>,
    /// Triangles as vertex indices.
    pub faces: Vec<[u32; 3]>,
}

impl Mesh {
    /// Checks that the mesh has faces, every index is in range and every
    /// coordinate is finite.
    pub fn validate(&self) -> Result<()> {
        if self.faces.is_empty() {
            return Err(Error::invalid("the mesh has no faces"));
        }
        if let Some((i, v)) = self
            .vertices
            .iter()
            .enumerate()
            .find(|(_, v)| v.iter().any(|c| !c.is_finite()))
        {
            return Err(Error::invalid(format!(
                "vertex {i} has a non-finite coordinate {v:?}"
            )));
        }
        let nv = self.vertices.len();
        if let Some((i, f)) = self
            .faces
            .iter()
            .enumerate()
            .find(|(_, f)| f.iter().any(|&j| j as usize >= nv))
        {
            return Err(Error::invalid(format!(
                "face {i} {f:?} refers to a vertex beyond the {nv} vertices"
            )));
        }
        Ok(())
    }

    /// Triangle areas (in `f64`).
    pub fn face_areas(&self) -> Vec<f64> {
        self.faces
            .iter()
            .map(|f| {
                let [a, b, c] = f.map(|i| self.vertices[i as usize].map(f64::from));
                let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
                let x = u[1] * v[2] - u[2] * v[1];
                let y = u[2] * v[0] - u[0] * v[2];
                let z = u[0] * v[1] - u[1] * v[0];
                0.5 * (x * x + y * y + z * z).sqrt()
            })
            .collect()
    }

    /// Total surface area.
    pub fn area(&self) -> f64 {
        self.face_areas().iter().sum()
    }

    /// Samples `n` points uniformly on the surface: a triangle with probability
    /// proportional to its area, then a uniform point in it (`√r₁`
    /// barycentric). Returns a flat `n × 3` cloud. Seeded by `rng`.
    ///
    /// Errors if `n == 0`, the mesh is invalid or its total area is zero.
    pub fn sample_surface(&self, n: usize, rng: &mut SeededRng) -> Result<Vec<f32>> {
        if n == 0 {
            return Err(Error::invalid("cannot sample 0 points"));
        }
        self.validate()?;
        let mut cum = self.face_areas();
        let mut total = 0f64;
        for a in cum.iter_mut() {
            total += *a;
            *a = total;
        }
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::invalid(format!(
                "the mesh's surface area is {total}: nothing to sample"
            )));
        }
        let mut out = Vec::with_capacity(n * 3);
        for _ in 0..n {
            let t = rng.uniform() * total;
            let fi = cum.partition_point(|&c| c <= t).min(cum.len() - 1);
            let [a, b, c] = self.faces[fi].map(|i| self.vertices[i as usize].map(f64::from));
            let r1 = rng.uniform().sqrt();
            let r2 = rng.uniform();
            let (wa, wb, wc) = (1.0 - r1, r1 * (1.0 - r2), r1 * r2);
            for d in 0..3 {
                out.push((wa * a[d] + wb * b[d] + wc * c[d]) as f32);
            }
        }
        Ok(out)
    }
}

/// Parses OFF text. Tolerates the ModelNet40 header quirk with the counts glued
/// to the keyword (`OFF1046 900 0`), counts on the line after `OFF`, `#`
/// comments, blank lines and `\r\n` line ends. Polygons with more than three
/// vertices are fan-triangulated; extra values after a vertex's coordinates or
/// a face's indices (colours) are ignored.
///
/// Errors (with the line number) on a missing header, too few vertices or
/// faces, non-numeric or non-finite values, and out-of-range indices.
pub fn parse_off(text: &str) -> Result<Mesh> {
    // Non-empty lines with comments removed, numbered from 1.
    let mut lines = text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("").trim();
        (!l.is_empty()).then_some((i + 1, l))
    });
    let (hno, header) = lines
        .next()
        .ok_or_else(|| Error::invalid("empty OFF file"))?;
    let rest = header
        .strip_prefix("OFF")
        .ok_or_else(|| Error::invalid(format!("line {hno}: expected \"OFF\", got {header:?}")))?;
    let mut counts: Vec<&str> = rest.split_whitespace().collect();
    let mut cno = hno;
    if counts.is_empty() {
        let (no, l) = lines
            .next()
            .ok_or_else(|| Error::invalid("OFF file ends before the counts line"))?;
        counts = l.split_whitespace().collect();
        cno = no;
    }
    if counts.len() < 2 {
        return Err(Error::invalid(format!(
            "line {cno}: expected vertex and face counts, got {counts:?}"
        )));
    }
    let parse_count = |s: &str| -> Result<usize> {
        s.parse::<usize>()
            .map_err(|_| Error::invalid(format!("line {cno}: bad count {s:?}")))
    };
    let nv = parse_count(counts[0])?;
    let nf = parse_count(counts[1])?;
    // Every vertex and face needs a line, so the counts cannot exceed the text.
    if nv.saturating_add(nf) > text.len() {
        return Err(Error::invalid(format!(
            "line {cno}: counts {nv} vertices / {nf} faces exceed what the file can hold"
        )));
    }
    let mut mesh = Mesh {
        vertices: Vec::with_capacity(nv),
        faces: Vec::with_capacity(nf),
    };
    for i in 0..nv {
        let (no, l) = lines
            .next()
            .ok_or_else(|| Error::invalid(format!("OFF file ends after {i} of {nv} vertices")))?;
        let mut v = [0f32; 3];
        let mut toks = l.split_whitespace();
        for c in &mut v {
            let t = toks.next().ok_or_else(|| {
                Error::invalid(format!("line {no}: a vertex needs 3 coordinates"))
            })?;
            *c = t
                .parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::invalid(format!("line {no}: bad coordinate {t:?}")))?;
        }
        mesh.vertices.push(v);
    }
    for i in 0..nf {
        let (no, l) = lines
            .next()
            .ok_or_else(|| Error::invalid(format!("OFF file ends after {i} of {nf} faces")))?;
        let mut toks = l.split_whitespace();
        let bad = |t: &str| Error::invalid(format!("line {no}: bad face entry {t:?}"));
        let k_tok = toks.next().unwrap_or("");
        let k: usize = k_tok.parse().map_err(|_| bad(k_tok))?;
        if k < 3 {
            return Err(Error::invalid(format!(
                "line {no}: a face needs at least 3 vertices, got {k}"
            )));
        }
        let mut idx = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let t = toks.next().ok_or_else(|| {
                Error::invalid(format!("line {no}: face lists fewer than {k} indices"))
            })?;
            let j: u32 = t.parse().map_err(|_| bad(t))?;
            if j as usize >= nv {
                return Err(Error::invalid(format!(
                    "line {no}: vertex index {j} out of range (the mesh has {nv} vertices)"
                )));
            }
            idx.push(j);
        }
        for w in 1..k - 1 {
            mesh.faces.push([idx[0], idx[w], idx[w + 1]]);
        }
    }
    Ok(mesh)
}

/// Reads an OFF file (see [`parse_off`]).
pub fn read_off(path: impl AsRef<Path>) -> Result<Mesh> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    parse_off(&text).map_err(|e| Error::format(path, strip_invalid(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_on_the_surface_and_seeded() {
        // Unit square in the xz plane, two triangles.
        let m = Mesh {
            vertices: vec![[0., 0., 0.], [1., 0., 0.], [1., 0., 1.], [0., 0., 1.]],
            faces: vec![[0, 1, 2], [0, 2, 3]],
        };
        assert!((m.area() - 1.0).abs() < 1e-12);
        let a = m.sample_surface(500, &mut SeededRng::new(3)).unwrap();
        let b = m.sample_surface(500, &mut SeededRng::new(3)).unwrap();
        assert_eq!(a, b);
        assert!(a
            .chunks(3)
            .all(|p| p[1] == 0.0 && (0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[2])));
        // Roughly uniform: about half the points on each side of the diagonal x = z.
        let below = a.chunks(3).filter(|p| p[0] > p[2]).count();
        assert!((200..300).contains(&below), "{below}");
        let degenerate = Mesh {
            vertices: vec![[0.; 3]; 3],
            faces: vec![[0, 1, 2]],
        };
        assert!(degenerate
            .sample_surface(5, &mut SeededRng::new(0))
            .is_err());
    }
}
