//! Point clouds as flat row-major `&[f32]` (`x y z` per point): checks,
//! unit-sphere normalisation, and `.xyz` / `.ply` files.

use std::path::Path;

use candor_core::fsio::write_atomic;

use crate::{Error, Result};

/// Checks a cloud (non-empty, a multiple of 3 values, all finite) and returns
/// its number of points. `what` names the cloud in the error message.
pub fn check_cloud(points: &[f32], what: &str) -> Result<usize> {
    if points.is_empty() {
        return Err(Error::invalid(format!("{what}: the point cloud is empty")));
    }
    if !points.len().is_multiple_of(3) {
        return Err(Error::invalid(format!(
            "{what}: {} values is not a whole number of xyz points",
            points.len()
        )));
    }
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "{what}: point {} coordinate {} is {} (coordinates must be finite)",
            i / 3,
            ["x", "y", "z"][i % 3],
            points[i]
        )));
    }
    Ok(points.len() / 3)
}

/// Centres a cloud at its mean and scales it so the farthest point has norm 1
/// (the ModelNet40 HDF5 convention; PointNet's `pc_normalize`). Sums are in `f64`.
/// A cloud whose points all coincide is only centred.
///
/// Errors on an empty cloud, a length not a multiple of 3, or a non-finite value.
pub fn normalize_unit_sphere(points: &mut [f32]) -> Result<()> {
    let n = check_cloud(points, "normalize_unit_sphere")?;
    let mut mean = [0f64; 3];
    for p in points.chunks_exact(3) {
        for d in 0..3 {
            mean[d] += f64::from(p[d]);
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let mut max2 = 0f64;
    for p in points.chunks_exact_mut(3) {
        let mut r2 = 0f64;
        for d in 0..3 {
            let v = f64::from(p[d]) - mean[d];
            p[d] = v as f32;
            r2 += v * v;
        }
        max2 = max2.max(r2);
    }
    let scale = max2.sqrt();
    if scale > 0.0 {
        for v in points.iter_mut() {
            *v = (f64::from(*v) / scale) as f32;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// .xyz
// ---------------------------------------------------------------------------

/// Parses `.xyz` text: one point per line, the first three whitespace- or
/// comma-separated numbers (extra columns such as normals are ignored); blank
/// lines and lines starting with `#` or `//` are skipped.
pub fn parse_xyz(text: &str) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let mut it = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty());
        for d in 0..3 {
            let tok = it.next().ok_or_else(|| {
                Error::invalid(format!("line {}: expected 3 coordinates, got {d}", no + 1))
            })?;
            let v: f32 = tok
                .parse()
                .map_err(|_| Error::invalid(format!("line {}: {tok:?} is not a number", no + 1)))?;
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "line {}: coordinate {tok:?} is not finite",
                    no + 1
                )));
            }
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(Error::invalid("no points found"));
    }
    Ok(out)
}

/// Reads an `.xyz` file (see [`parse_xyz`]).
pub fn read_xyz(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::format(path, "not UTF-8 text (an .xyz file is text)"))?;
    parse_xyz(&text).map_err(|e| Error::format(path, strip_invalid(e)))
}

/// Writes a cloud as `.xyz` text (`x y z` per line, shortest round-trip decimals).
pub fn write_xyz(path: impl AsRef<Path>, points: &[f32]) -> Result<()> {
    check_cloud(points, "write_xyz")?;
    let mut s = String::with_capacity(points.len() * 12);
    for p in points.chunks_exact(3) {
        s.push_str(&format!("{} {} {}\n", p[0], p[1], p[2]));
    }
    write_atomic(path, s.as_bytes())
}

pub(crate) fn strip_invalid(e: Error) -> String {
    match e {
        Error::InvalidInput(m) => m,
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// .ply
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(s: &str) -> Option<Scalar> {
        Some(match s {
            "char" | "int8" => Scalar::I8,
            "uchar" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }
    fn decode(self, b: &[u8], big: bool) -> f64 {
        let mut a = [0u8; 8];
        let n = self.size();
        a[..n].copy_from_slice(&b[..n]);
        if big {
            a[..n].reverse();
        }
        match self {
            Scalar::I8 => f64::from(a[0] as i8),
            Scalar::U8 => f64::from(a[0]),
            Scalar::I16 => f64::from(i16::from_le_bytes([a[0], a[1]])),
            Scalar::U16 => f64::from(u16::from_le_bytes([a[0], a[1]])),
            Scalar::I32 => f64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            Scalar::U32 => f64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            Scalar::F32 => f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            Scalar::F64 => f64::from_le_bytes(a),
        }
    }
}

#[derive(Debug)]
struct Property {
    name: String,
    /// `Some(count type)` for a list property.
    list: Option<Scalar>,
    ty: Scalar,
}

#[derive(Debug)]
struct Element {
    name: String,
    count: usize,
    props: Vec<Property>,
}

/// Parses a `.ply` file (ASCII, `binary_little_endian` or `binary_big_endian`)
/// and returns the `x y z` of its `vertex` element; other properties and
/// elements (faces, normals, colours) are skipped.
pub fn parse_ply(bytes: &[u8]) -> Result<Vec<f32>> {
    let bad = |m: String| Error::invalid(m);
    // Header: text lines up to "end_header".
    let mut pos = 0usize;
    let mut lines = Vec::new();
    loop {
        let rest = &bytes[pos..];
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("PLY header has no end_header line".into()))?;
        let line = String::from_utf8_lossy(&rest[..nl]).trim().to_string();
        pos += nl + 1;
        if line == "end_header" {
            break;
        }
        lines.push(line);
        if lines.len() > 10_000 {
            return Err(bad("PLY header is too long".into()));
        }
    }
    if lines.first().map(String::as_str) != Some("ply") {
        return Err(bad("not a PLY file (first line is not \"ply\")".into()));
    }
    let mut format = None;
    let mut elements: Vec<Element> = Vec::new();
    for line in &lines[1..] {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.first().copied() {
            Some("format") => format = t.get(1).map(|s| s.to_string()),
            Some("element") if t.len() == 3 => {
                let count = t[2]
                    .parse()
                    .map_err(|_| bad(format!("PLY: bad element count in {line:?}")))?;
                elements.push(Element {
                    name: t[1].to_string(),
                    count,
                    props: Vec::new(),
                });
            }
            Some("property") => {
                let el = elements
                    .last_mut()
                    .ok_or_else(|| bad(format!("PLY: property before any element: {line:?}")))?;
                let p = if t.get(1) == Some(&"list") && t.len() == 5 {
                    Property {
                        name: t[4].to_string(),
                        list: Some(
                            Scalar::parse(t[2])
                                .ok_or_else(|| bad(format!("PLY: unknown type in {line:?}")))?,
                        ),
                        ty: Scalar::parse(t[3])
                            .ok_or_else(|| bad(format!("PLY: unknown type in {line:?}")))?,
                    }
                } else if t.len() == 3 {
                    Property {
                        name: t[2].to_string(),
                        list: None,
                        ty: Scalar::parse(t[1])
                            .ok_or_else(|| bad(format!("PLY: unknown type in {line:?}")))?,
                    }
                } else {
                    return Err(bad(format!("PLY: malformed property line {line:?}")));
                };
                el.props.push(p);
            }
            Some("comment") | Some("obj_info") | None => {}
            Some(_) => return Err(bad(format!("PLY: unexpected header line {line:?}"))),
        }
    }
    let big = match format.as_deref() {
        Some("ascii") => None,
        Some("binary_little_endian") => Some(false),
        Some("binary_big_endian") => Some(true),
        other => return Err(bad(format!("PLY: unsupported format {other:?}"))),
    };
    let vi = elements
        .iter()
        .position(|e| e.name == "vertex")
        .ok_or_else(|| bad("PLY: no vertex element".into()))?;
    let xyz: Vec<usize> = ["x", "y", "z"]
        .iter()
        .map(|n| {
            elements[vi]
                .props
                .iter()
                .position(|p| p.name == *n && p.list.is_none())
                .ok_or_else(|| {
                    bad(format!(
                        "PLY: the vertex element has no scalar property {n:?}"
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let nv = elements[vi].count;
    if nv == 0 {
        return Err(bad("PLY: the vertex element is empty".into()));
    }
    let body = &bytes[pos..];
    // Every vertex takes at least one byte of the body (three in binary, a number and
    // a separator per value in ASCII), so a count beyond the body is a corrupt header,
    // found before anything is allocated for it.
    if nv > body.len() {
        return Err(bad(format!(
            "PLY: {nv} vertices cannot fit in the {} bytes of data",
            body.len()
        )));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(nv * 3)
        .map_err(|_| bad(format!("PLY: cannot hold {nv} vertices")))?;
    match big {
        None => {
            let text = String::from_utf8_lossy(body);
            let mut toks = text.split_whitespace();
            let mut next = |what: &str| -> Result<f64> {
                let t = toks
                    .next()
                    .ok_or_else(|| bad(format!("PLY: data ends early (in {what})")))?;
                t.parse::<f64>()
                    .map_err(|_| bad(format!("PLY: {t:?} is not a number (in {what})")))
            };
            // An element without properties holds no data, whatever its count.
            for (ei, el) in elements.iter().enumerate().take(vi + 1) {
                if el.props.is_empty() {
                    continue;
                }
                for _ in 0..el.count {
                    let mut row = [0f64; 3];
                    for (pi, p) in el.props.iter().enumerate() {
                        if p.list.is_some() {
                            let n = next(&el.name)?;
                            if !(0.0..=1e6).contains(&n) {
                                return Err(bad(format!("PLY: bad list length {n}")));
                            }
                            for _ in 0..n as usize {
                                next(&el.name)?;
                            }
                        } else {
                            let v = next(&el.name)?;
                            if ei == vi {
                                if let Some(d) = xyz.iter().position(|&x| x == pi) {
                                    row[d] = v;
                                }
                            }
                        }
                    }
                    if ei == vi {
                        out.extend(row.iter().map(|&v| v as f32));
                    }
                }
            }
        }
        Some(big) => {
            let mut at = 0usize;
            let take = |at: &mut usize, n: usize, what: &str| -> Result<usize> {
                match at.checked_add(n) {
                    Some(end) if end <= body.len() => {
                        let s = *at;
                        *at = end;
                        Ok(s)
                    }
                    _ => Err(bad(format!("PLY: binary data ends early (in {what})"))),
                }
            };
            for (ei, el) in elements.iter().enumerate().take(vi + 1) {
                if el.props.is_empty() {
                    continue;
                }
                let fixed: Option<usize> = el
                    .props
                    .iter()
                    .map(|p| {
                        if p.list.is_some() {
                            None
                        } else {
                            Some(p.ty.size())
                        }
                    })
                    .sum();
                if ei != vi {
                    if let Some(sz) = fixed {
                        take(&mut at, sz.saturating_mul(el.count), &el.name)?;
                        continue;
                    }
                }
                for _ in 0..el.count {
                    let mut row = [0f64; 3];
                    for (pi, p) in el.props.iter().enumerate() {
                        if let Some(ct) = p.list {
                            let s = take(&mut at, ct.size(), &el.name)?;
                            let n = ct.decode(&body[s..], big);
                            if !(0.0..=1e6).contains(&n) {
                                return Err(bad(format!("PLY: bad list length {n}")));
                            }
                            take(&mut at, n as usize * p.ty.size(), &el.name)?;
                        } else {
                            let s = take(&mut at, p.ty.size(), &el.name)?;
                            if ei == vi {
                                if let Some(d) = xyz.iter().position(|&x| x == pi) {
                                    row[d] = p.ty.decode(&body[s..], big);
                                }
                            }
                        }
                    }
                    if ei == vi {
                        out.extend(row.iter().map(|&v| v as f32));
                    }
                }
            }
        }
    }
    check_cloud(&out, "PLY vertices")?;
    Ok(out)
}

/// Reads a `.ply` file (see [`parse_ply`]).
pub fn read_ply(path: impl AsRef<Path>) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_ply(&bytes).map_err(|e| Error::format(path, strip_invalid(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_centres_and_scales() {
        let mut p = vec![1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 2.0, 1.0, 0.0];
        normalize_unit_sphere(&mut p).unwrap();
        let mean: f32 = p.chunks(3).map(|q| q[0]).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-7);
        let maxn = p
            .chunks(3)
            .map(|q| (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt())
            .fold(0f32, f32::max);
        assert!((maxn - 1.0).abs() < 1e-6);
        assert!(normalize_unit_sphere(&mut []).is_err());
        assert!(normalize_unit_sphere(&mut [f32::NAN, 0.0, 0.0]).is_err());
    }

    #[test]
    fn xyz_parses_and_rejects() {
        let p = parse_xyz("# c\n1 2 3\n\n4,5,6 0 0 1\n").unwrap();
        assert_eq!(p, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let e = parse_xyz("1 2\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_xyz("1 nan 2").is_err());
        assert!(parse_xyz("").is_err());
    }

    #[test]
    fn ply_ascii_and_binary() {
        let ascii = "ply\nformat ascii 1.0\ncomment x\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n1 2 3 255\n4 5 6 0\n3 0 1 1\n";
        assert_eq!(
            parse_ply(ascii.as_bytes()).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let mut bin = b"ply\r\nformat binary_little_endian 1.0\r\nelement vertex 2\r\nproperty double nx\r\nproperty float x\r\nproperty float y\r\nproperty float z\r\nend_header\r\n".to_vec();
        for v in [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]] {
            bin.extend_from_slice(&9.0f64.to_le_bytes());
            for x in v {
                bin.extend_from_slice(&x.to_le_bytes());
            }
        }
        assert_eq!(parse_ply(&bin).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(parse_ply(&bin[..bin.len() - 2]).is_err());
        assert!(parse_ply(b"ply\nformat ascii 1.0\nelement face 0\nend_header\n").is_err());
    }
}
