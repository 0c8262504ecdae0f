//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/rl_noisy.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/rl_noisy.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

// `configs` and the ignored `write_config_seeds`.
config_tests!(3, "rl-noisy");
