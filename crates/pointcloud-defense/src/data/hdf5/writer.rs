//! A minimal HDF5 writer: a few contiguous numeric datasets in the root group,
//! in the oldest widely readable format (superblock v0, object header v1,
//! symbol-table root group), i.e. what h5py writes by default and what the
//! ModelNet40 files use.

use std::path::Path;

use candor_core::fsio::write_atomic;

use crate::{Error, Result};

/// The values of a dataset to write.
#[derive(Debug, Clone, Copy)]
pub enum H5Data<'a> {
    /// 32-bit little-endian floats.
    F32(&'a [f32]),
    /// Unsigned bytes.
    U8(&'a [u8]),
    /// 32-bit little-endian signed integers.
    I32(&'a [i32]),
}

impl H5Data<'_> {
    fn len(&self) -> usize {
        match self {
            H5Data::F32(v) => v.len(),
            H5Data::U8(v) => v.len(),
            H5Data::I32(v) => v.len(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            H5Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            H5Data::U8(v) => v.to_vec(),
            H5Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// The datatype message body (padded to 8 bytes).
    fn datatype_message(&self) -> Vec<u8> {
        let mut m = Vec::new();
        match self {
            H5Data::F32(_) => {
                // class 1 (float), version 1; little-endian, IEEE normalisation, sign at bit 31
                m.extend_from_slice(&[0x11, 0x20, 0x1f, 0x00]);
                m.extend_from_slice(&4u32.to_le_bytes());
                m.extend_from_slice(&0u16.to_le_bytes()); // bit offset
                m.extend_from_slice(&32u16.to_le_bytes()); // precision
                m.extend_from_slice(&[23, 8, 0, 23]); // exponent location/size, mantissa location/size
                m.extend_from_slice(&127u32.to_le_bytes()); // exponent bias
            }
            H5Data::U8(_) => {
                m.extend_from_slice(&[0x10, 0x00, 0x00, 0x00]);
                m.extend_from_slice(&1u32.to_le_bytes());
                m.extend_from_slice(&0u16.to_le_bytes());
                m.extend_from_slice(&8u16.to_le_bytes());
            }
            H5Data::I32(_) => {
                m.extend_from_slice(&[0x10, 0x08, 0x00, 0x00]); // signed
                m.extend_from_slice(&4u32.to_le_bytes());
                m.extend_from_slice(&0u16.to_le_bytes());
                m.extend_from_slice(&32u16.to_le_bytes());
            }
        }
        pad8(&mut m);
        m
    }
}

/// One dataset of a file to write: a name in the root group, a shape and values.
#[derive(Debug, Clone)]
pub struct H5WriteDataset<'a> {
    /// Name in the root group (no `/`, no NUL, unique).
    pub name: &'a str,
    /// Dimensions (row-major); their product must equal the number of values.
    pub shape: Vec<usize>,
    /// The values.
    pub data: H5Data<'a>,
}

const SO: usize = 8;
const UNDEF: u64 = u64::MAX;
/// Group leaf node K: a symbol table node holds up to 2K entries.
const LEAF_K: usize = 4;
/// Group internal node K (B-tree width).
const INTERNAL_K: usize = 16;
const SUPERBLOCK_LEN: usize = 96;
const BTREE_LEN: usize = 24 + (2 * INTERNAL_K + 1) * 8 + 2 * INTERNAL_K * SO;
const SNOD_LEN: usize = 8 + 2 * LEAF_K * 40;
/// Most datasets this writer puts in one file (one symbol table node).
pub const MAX_DATASETS: usize = 2 * LEAF_K;

fn pad8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Encodes `datasets` as an HDF5 file in memory.
///
/// Errors on an empty list, more than [`MAX_DATASETS`] datasets, a bad or
/// duplicate name, or a shape whose product differs from the number of values.
pub fn encode_h5(datasets: &[H5WriteDataset<'_>]) -> Result<Vec<u8>> {
    if datasets.is_empty() {
        return Err(Error::invalid("HDF5 writer: no datasets to write"));
    }
    if datasets.len() > MAX_DATASETS {
        return Err(Error::invalid(format!(
            "HDF5 writer: at most {MAX_DATASETS} datasets per file, got {}",
            datasets.len()
        )));
    }
    for (i, d) in datasets.iter().enumerate() {
        if d.name.is_empty() || d.name.contains(['/', '\0']) || d.name == "." {
            return Err(Error::invalid(format!(
                "HDF5 writer: bad dataset name {:?}",
                d.name
            )));
        }
        if datasets[..i].iter().any(|o| o.name == d.name) {
            return Err(Error::invalid(format!(
                "HDF5 writer: duplicate dataset name {:?}",
                d.name
            )));
        }
        let n = d
            .shape
            .iter()
            .try_fold(1usize, |a, &x| a.checked_mul(x))
            .ok_or_else(|| Error::invalid(format!("HDF5 writer: shape {:?} overflows", d.shape)))?;
        if n != d.data.len() {
            return Err(Error::invalid(format!(
                "HDF5 writer: dataset {:?} has shape {:?} ({n} values) but {} values",
                d.name,
                d.shape,
                d.data.len()
            )));
        }
        if d.shape.len() > 32 {
            return Err(Error::invalid("HDF5 writer: rank above 32"));
        }
    }
    // Names sorted as the B-tree requires.
    let mut order: Vec<usize> = (0..datasets.len()).collect();
    order.sort_by(|&a, &b| datasets[a].name.as_bytes().cmp(datasets[b].name.as_bytes()));

    // Local heap data segment: "" at 0, then each name NUL-terminated, 8-aligned.
    let mut heap_data = vec![0u8; 8];
    let mut name_off = vec![0u64; datasets.len()];
    for &i in &order {
        name_off[i] = heap_data.len() as u64;
        heap_data.extend_from_slice(datasets[i].name.as_bytes());
        heap_data.push(0);
        pad8(&mut heap_data);
    }

    let root_oh = SUPERBLOCK_LEN;
    let btree = root_oh + 16 + 24;
    let heap = btree + BTREE_LEN;
    let heap_seg = heap + 32;
    let snod = heap_seg + heap_data.len();
    let mut at = snod + SNOD_LEN;

    // Object headers of the datasets, then their raw data.
    let mut headers = Vec::new();
    let mut oh_addr = vec![0u64; datasets.len()];
    for (i, d) in datasets.iter().enumerate() {
        let oh = dataset_header(d, 0)?;
        oh_addr[i] = at as u64;
        at += oh.len();
        headers.push(oh);
    }
    let mut data_addr = vec![0u64; datasets.len()];
    let mut raws = Vec::new();
    for (i, d) in datasets.iter().enumerate() {
        let raw = d.data.bytes();
        data_addr[i] = at as u64;
        at += raw.len();
        raws.push(raw);
    }
    let eof = at;
    let mut out = vec![0u8; eof];

    // Superblock v0.
    out[..8].copy_from_slice(&[0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n']);
    out[13] = SO as u8;
    out[14] = 8; // size of lengths
    out[16..18].copy_from_slice(&(LEAF_K as u16).to_le_bytes());
    out[18..20].copy_from_slice(&(INTERNAL_K as u16).to_le_bytes());
    put_u64(&mut out, 24, 0); // base address
    put_u64(&mut out, 32, UNDEF); // free-space info
    put_u64(&mut out, 40, eof as u64);
    put_u64(&mut out, 48, UNDEF); // driver info
                                  // root symbol table entry: name offset 0, header address, cache type 1 + scratch pad
    put_u64(&mut out, 56, 0);
    put_u64(&mut out, 64, root_oh as u64);
    out[72..76].copy_from_slice(&1u32.to_le_bytes());
    put_u64(&mut out, 80, btree as u64);
    put_u64(&mut out, 88, heap as u64);

    // Root object header v1 with one symbol table message.
    let r = root_oh;
    out[r] = 1;
    out[r + 2..r + 4].copy_from_slice(&1u16.to_le_bytes()); // messages
    out[r + 4..r + 8].copy_from_slice(&1u32.to_le_bytes()); // reference count
    out[r + 8..r + 12].copy_from_slice(&24u32.to_le_bytes()); // header size
    out[r + 16..r + 18].copy_from_slice(&0x11u16.to_le_bytes());
    out[r + 18..r + 20].copy_from_slice(&16u16.to_le_bytes());
    put_u64(&mut out, r + 24, btree as u64);
    put_u64(&mut out, r + 32, heap as u64);

    // Group B-tree (one leaf-level node pointing at the symbol table node).
    out[btree..btree + 4].copy_from_slice(b"TREE");
    out[btree + 6..btree + 8].copy_from_slice(&1u16.to_le_bytes());
    put_u64(&mut out, btree + 8, UNDEF);
    put_u64(&mut out, btree + 16, UNDEF);
    put_u64(&mut out, btree + 24, 0);
    put_u64(&mut out, btree + 32, snod as u64);
    put_u64(&mut out, btree + 40, name_off[order[order.len() - 1]]);

    // Local heap.
    out[heap..heap + 4].copy_from_slice(b"HEAP");
    put_u64(&mut out, heap + 8, heap_data.len() as u64);
    put_u64(&mut out, heap + 16, 1); // no free block (H5HL_FREE_NULL)
    put_u64(&mut out, heap + 24, heap_seg as u64);
    out[heap_seg..heap_seg + heap_data.len()].copy_from_slice(&heap_data);

    // Symbol table node.
    out[snod..snod + 4].copy_from_slice(b"SNOD");
    out[snod + 4] = 1;
    out[snod + 6..snod + 8].copy_from_slice(&(datasets.len() as u16).to_le_bytes());
    for (j, &i) in order.iter().enumerate() {
        let e = snod + 8 + 40 * j;
        put_u64(&mut out, e, name_off[i]);
        put_u64(&mut out, e + 8, oh_addr[i]);
    }

    for (i, d) in datasets.iter().enumerate() {
        let oh = dataset_header(d, data_addr[i])?;
        let a = oh_addr[i] as usize;
        out[a..a + oh.len()].copy_from_slice(&oh);
        let a = data_addr[i] as usize;
        out[a..a + raws[i].len()].copy_from_slice(&raws[i]);
    }
    Ok(out)
}

/// Object header v1 of a contiguous dataset whose data starts at `data_addr`.
fn dataset_header(d: &H5WriteDataset<'_>, data_addr: u64) -> Result<Vec<u8>> {
    let mut msgs: Vec<(u16, u8, Vec<u8>)> = Vec::new();
    // Dataspace v1, no max dims (= dims).
    let mut space = vec![1u8, d.shape.len() as u8, 0, 0, 0, 0, 0, 0];
    for &s in &d.shape {
        space.extend_from_slice(&(s as u64).to_le_bytes());
    }
    msgs.push((0x01, 0, space));
    msgs.push((0x03, 1, d.data.datatype_message()));
    // Fill value v2: allocation late, write if set, default fill value.
    msgs.push((0x05, 1, vec![2, 2, 2, 1, 0, 0, 0, 0]));
    // Layout v3, contiguous.
    let nbytes = (d.data.len() * d.data.bytes_per_value()) as u64;
    let mut layout = vec![3u8, 1];
    layout.extend_from_slice(&data_addr.to_le_bytes());
    layout.extend_from_slice(&nbytes.to_le_bytes());
    pad8(&mut layout);
    msgs.push((0x08, 0, layout));
    let body: usize = msgs.iter().map(|m| 8 + m.2.len()).sum();
    let mut oh = vec![1u8, 0];
    oh.extend_from_slice(&(msgs.len() as u16).to_le_bytes());
    oh.extend_from_slice(&1u32.to_le_bytes());
    oh.extend_from_slice(&(body as u32).to_le_bytes());
    oh.extend_from_slice(&[0; 4]);
    for (t, flags, m) in msgs {
        oh.extend_from_slice(&t.to_le_bytes());
        oh.extend_from_slice(&(m.len() as u16).to_le_bytes());
        oh.extend_from_slice(&[flags, 0, 0, 0]);
        oh.extend_from_slice(&m);
    }
    Ok(oh)
}

impl H5Data<'_> {
    fn bytes_per_value(&self) -> usize {
        match self {
            H5Data::F32(_) | H5Data::I32(_) => 4,
            H5Data::U8(_) => 1,
        }
    }
}

/// Writes `datasets` to `path` atomically (see [`encode_h5`]).
pub fn write_h5(path: impl AsRef<Path>, datasets: &[H5WriteDataset<'_>]) -> Result<()> {
    let bytes = encode_h5(datasets)?;
    write_atomic(path, &bytes)
}

/// Writes a ModelNet40-layout file: `data` f32 `[n, num_points, 3]` and
/// `label` u8 `[n, 1]`.
///
/// Errors if `points.len() != labels.len() * num_points * 3` or nothing is given.
pub fn write_modelnet_h5(
    path: impl AsRef<Path>,
    points: &[f32],
    labels: &[u8],
    num_points: usize,
) -> Result<()> {
    let bytes = encode_modelnet_h5(points, labels, num_points)?;
    write_atomic(path, &bytes)
}

/// [`write_modelnet_h5`] into memory.
pub fn encode_modelnet_h5(points: &[f32], labels: &[u8], num_points: usize) -> Result<Vec<u8>> {
    let n = labels.len();
    if n == 0 || num_points == 0 {
        return Err(Error::invalid(
            "ModelNet HDF5: need at least one cloud of at least one point",
        ));
    }
    if Some(points.len()) != n.checked_mul(num_points).and_then(|v| v.checked_mul(3)) {
        return Err(Error::invalid(format!(
            "ModelNet HDF5: {} point values for {n} clouds of {num_points} points (expected {})",
            points.len(),
            n.saturating_mul(num_points).saturating_mul(3)
        )));
    }
    encode_h5(&[
        H5WriteDataset {
            name: "data",
            shape: vec![n, num_points, 3],
            data: H5Data::F32(points),
        },
        H5WriteDataset {
            name: "label",
            shape: vec![n, 1],
            data: H5Data::U8(labels),
        },
    ])
}
