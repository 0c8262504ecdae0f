//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/forgery.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/forgery.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn npy_corpus() {
    harness::replay_committed(DIR, "npy", &harness::npy, harness::text_bound);
}

#[test]
fn ff_splits_corpus() {
    harness::replay_committed(DIR, "ff_splits", &harness::ff_splits, harness::text_bound);
}

// `configs` and the ignored `write_config_seeds`.
config_tests!(2, "forgery");
