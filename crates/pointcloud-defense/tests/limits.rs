//! Bounded resources: crafted files that claim huge sizes are errors before any large
//! allocation. A counting global allocator (this test binary's own) measures the peak
//! bytes the reading thread holds during each read.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use candor_pointcloud_defense::data::cloud::parse_ply;
use candor_pointcloud_defense::data::hdf5::{
    encode_h5, max_data_bytes, H5Data, H5File, H5WriteDataset,
};
use candor_pointcloud_defense::data::parse_off;

/// The system allocator, counting the live and peak bytes of each thread.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + n);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        sub(layout.size());
        add(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the most bytes this thread held above what it
/// held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

const MIB: usize = 1 << 20;

/// A small file with one contiguous f32 dataset `data` of shape (4, 3).
fn small_file() -> Vec<u8> {
    let values: Vec<f32> = (0..12).map(|i| i as f32).collect();
    encode_h5(&[H5WriteDataset {
        name: "data",
        shape: vec![4, 3],
        data: H5Data::F32(&values),
    }])
    .unwrap()
}

/// Position of the only occurrence of `pat` in `hay`.
fn find(hay: &[u8], pat: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(pat.len())
        .enumerate()
        .filter(|(_, w)| *w == pat)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "pattern {pat:x?}");
    hits[0]
}

/// `small_file()` with its dataspace set to `dims` (rank 2) and, when `unwritten`, its
/// data address set to "undefined" (a dataset never written, read as zeros).
fn crafted(dims: [u64; 2], unwritten: bool) -> Vec<u8> {
    let mut b = small_file();
    // Dataspace message v1, rank 2: its two 8-byte dimensions follow the 8-byte header.
    let space = find(&b, &[1, 2, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
    b[space + 8..space + 16].copy_from_slice(&dims[0].to_le_bytes());
    b[space + 16..space + 24].copy_from_slice(&dims[1].to_le_bytes());
    if unwritten {
        // Layout message (type 8, 24 bytes) v3, contiguous: the address follows the
        // message header, the version and the class.
        let layout = find(&b, &[8, 0, 24, 0, 0, 0, 0, 0, 3, 1]) + 10;
        b[layout..layout + 8].fill(0xff);
    }
    b
}

#[test]
fn a_gigabyte_extent_in_a_small_hdf5_file_is_an_error_not_an_allocation() {
    let gib = 1u64 << 28; // 2^28 f32 values = 1 GiB
    for unwritten in [true, false] {
        let bytes = crafted([gib, 1], unwritten);
        assert!(bytes.len() < 4096, "{} bytes", bytes.len());
        assert!(max_data_bytes(bytes.len() as u64) < 8 * MIB as u64);
        let (r, peak) = peak_during(|| {
            let f = H5File::from_bytes(bytes.clone(), "crafted.h5")?;
            let d = f.dataset("data")?;
            assert_eq!(d.len(), 1 << 28);
            d.read_f32()
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("crafted.h5") && e.contains("claims"), "{e}");
        assert!(peak < MIB, "peak {peak} bytes (unwritten: {unwritten})");
    }
    // The same file with its real extent reads fine.
    let ok = H5File::from_bytes(crafted([4, 3], false), "ok.h5").unwrap();
    assert_eq!(ok.dataset("data").unwrap().read_f32().unwrap().len(), 12);
}

#[test]
fn hdf5_extents_whose_product_overflows_are_errors() {
    let bytes = crafted([1 << 40, 1 << 40], true);
    let f = H5File::from_bytes(bytes, "huge.h5").unwrap();
    let e = f.dataset("data").unwrap_err().to_string();
    assert!(e.contains("huge.h5") && e.contains("too large"), "{e}");
}

#[test]
fn off_and_ply_counts_beyond_the_file_are_errors_not_allocations() {
    let (r, peak) = peak_during(|| parse_off("OFF\n1000000000 1 0\n0 0 0\n"));
    assert!(r.unwrap_err().to_string().contains("exceed"));
    assert!(peak < MIB, "OFF peak {peak}");
    for format in ["ascii", "binary_little_endian"] {
        let ply = format!(
            "ply\nformat {format} 1.0\nelement vertex 100000000\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n"
        );
        let (r, peak) = peak_during(|| parse_ply(ply.as_bytes()));
        assert!(r.is_err(), "{format}");
        assert!(peak < MIB, "PLY {format} peak {peak}");
    }
}
