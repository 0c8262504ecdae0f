//! Minimal NumPy `.npy` files for f32 arrays (format version 1.0, `'<f4'`, C order),
//! e.g. to compare the phase channel with numpy.

use std::path::Path;

use candor_core::fsio::write_atomic;

use crate::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The bytes of a `.npy` file holding `data` with `shape` (row-major). The header is
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }`, space-padded and ended by
/// `\n` so that data starts at a multiple of 64 bytes, as numpy writes it.
pub fn encode_npy_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    if count != data.len() {
        return Err(Error::invalid(format!(
            "npy: shape {shape:?} holds {count} values but {} were given",
            data.len()
        )));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // magic (6) + version (2) + header length (2) + header, padded to 64 bytes.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    if header.len() > u16::MAX as usize {
        return Err(Error::invalid("npy: header too long for format 1.0"));
    }
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Write an f32 array as a `.npy` file (atomically).
pub fn write_npy_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    write_atomic(path, &encode_npy_f32(shape, data)?)
}

/// Read a `.npy` file holding a little-endian f32 array in C order (format 1.x or
/// 2.x); returns `(shape, data)`. Anything else is an error naming the file.
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<f32>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|m| Error::format(path, format!("npy: {m}")))
}

/// Decode the bytes of a `.npy` file as [`read_npy_f32`] does (`name` is used in
/// errors). The shape must describe exactly the data bytes that follow the header, so
/// the values allocated never exceed the input's size.
pub fn decode_npy_f32(bytes: &[u8], name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    decode(bytes).map_err(|m| Error::format(name, format!("npy: {m}")))
}

fn decode(b: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let (hlen, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 => {
            if b.len() < 12 {
                return Err("truncated header".into());
            }
            (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported format version {v}")),
    };
    let header = b.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or(format!("header lacks '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or("malformed header")?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    if !(descr.starts_with("'<f4'") || descr.starts_with("\"<f4\"")) {
        return Err(format!("dtype must be '<f4', header is {header:?}"));
    }
    if !field("fortran_order")?.starts_with("False") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_txt = field("shape")?;
    let inner = shape_txt.strip_prefix('(').ok_or("malformed shape")?;
    let close = inner.find(')').ok_or("malformed shape")?;
    let shape: Vec<usize> = inner[..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry {s:?}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    // Checked: the shape must describe exactly the bytes that follow, so nothing is
    // allocated beyond the file's size.
    let count = if shape.contains(&0) {
        Some(0)
    } else {
        shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    };
    let data = &b[start + hlen..];
    if count.and_then(|c| c.checked_mul(4)) != Some(data.len()) {
        return Err(format!(
            "shape {shape:?} does not match the {} data bytes of the file",
            data.len()
        ));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, values))
}
