//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/rl_noisy.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[path = "../../../fuzz/harness/rl_noisy.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

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
    harness::write_config_seeds(DIR, 3, "rl-noisy", harness::config_defaults());
}
