//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/forgery.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

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

/// This crate's config types: the `config` corpus, and unknown keys rejected at every
/// level of every default config.
#[test]
fn configs() {
    harness::check_configs(DIR, harness::config, harness::config_defaults());
}

/// Writes this crate's seeds of the `config` fuzz target (run with `--ignored`).
#[test]
#[ignore]
fn write_config_seeds() {
    harness::write_config_seeds(DIR, 2, "forgery", harness::config_defaults());
}
