//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/pointcloud.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[path = "../../../fuzz/harness/pointcloud.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Peak allocation allowed for a text input of `len` bytes: parsed values and JSON
/// trees stay within a constant factor of the text (TEXT_BOUND_FACTOR), plus 1 MiB.
/// Peak allocation allowed for an HDF5 file of `len` bytes: the reader caps every
/// dataset at `max_data_bytes(len)`; the harness holds two copies of the file and reads
/// each dataset as f32 and as i64 (at most 8 bytes per stored byte).
fn h5_bound(len: usize) -> usize {
    let data = candor_pointcloud_defense::data::hdf5::max_data_bytes(len as u64) as usize;
    H5_BOUND_FACTOR * data + 2 * len
}

const H5_BOUND_FACTOR: usize = 16;

const TEXT_BOUND_FACTOR: usize = 64;

fn text_bound(len: usize) -> usize {
    TEXT_BOUND_FACTOR * len + (1 << 20)
}

#[test]
fn hdf5_corpus() {
    harness::replay_committed(DIR, "hdf5", harness::hdf5, h5_bound);
}

#[test]
fn off_corpus() {
    harness::replay_committed(DIR, "off", harness::off, text_bound);
}

#[test]
fn ply_corpus() {
    harness::replay_committed(DIR, "ply", harness::ply, text_bound);
}

#[test]
fn xyz_corpus() {
    harness::replay_committed(DIR, "xyz", harness::xyz, text_bound);
}

/// The `config` target's inputs start with a crate selector; every input is run
/// through this crate's config types.
#[test]
fn config_corpus() {
    harness::replay_committed(
        DIR,
        "config",
        |d| harness::config(d.get(1..).unwrap_or_default()),
        text_bound,
    );
}

#[test]
fn configs_reject_unknown_keys_at_every_level() {
    harness::assert_configs_reject_unknown_keys(harness::config_defaults(), harness::config);
}

/// Writes this crate's seeds of the `config` fuzz target (run with `--ignored`).
#[test]
#[ignore]
fn write_config_seeds() {
    harness::write_config_seeds(DIR, 1, "pointcloud", harness::config_defaults());
}
