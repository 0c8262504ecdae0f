//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/pointcloud.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/pointcloud.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Peak allocation allowed for an HDF5 file of `len` bytes: the reader caps every
/// dataset at `max_data_bytes(len)`; the harness holds two copies of the file and reads
/// each dataset as f32 and as i64 (at most 8 bytes per stored byte), so 16 times that
/// cap bounds it with room to spare.
fn h5_bound(len: usize) -> usize {
    let data = candor_pointcloud_defense::data::hdf5::max_data_bytes(len as u64) as usize;
    16 * data + 2 * len
}

#[test]
fn hdf5_corpus() {
    harness::replay_committed(DIR, "hdf5", &harness::hdf5, h5_bound);
}

#[test]
fn off_corpus() {
    harness::replay_committed(DIR, "off", &harness::off, harness::text_bound);
}

#[test]
fn ply_corpus() {
    harness::replay_committed(DIR, "ply", &harness::ply, harness::text_bound);
}

#[test]
fn xyz_corpus() {
    harness::replay_committed(DIR, "xyz", &harness::xyz, harness::text_bound);
}

// `configs` and the ignored `write_config_seeds`.
config_tests!(1, "pointcloud");
