//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/core.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[path = "../../../fuzz/harness/core.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Peak allocation allowed for a text input of `len` bytes: parsed values and JSON
/// trees stay within a constant factor of the text (TEXT_BOUND_FACTOR), plus 1 MiB.
/// Peak allocation allowed for an image input: the harness decodes at most
/// `FUZZ_MAX_PIXELS` pixels, whatever the file claims.
fn image_bound(_len: usize) -> usize {
    IMAGE_BYTES_PER_PIXEL * harness::FUZZ_MAX_PIXELS as usize
}

const IMAGE_BYTES_PER_PIXEL: usize = 64;

const TEXT_BOUND_FACTOR: usize = 64;

fn text_bound(len: usize) -> usize {
    TEXT_BOUND_FACTOR * len + (1 << 20)
}

#[test]
fn image_corpus() {
    harness::replay_committed(DIR, "image", harness::image, image_bound);
}

#[test]
fn safetensors_corpus() {
    harness::replay_committed(DIR, "safetensors", harness::safetensors, text_bound);
}

#[test]
fn results_json_corpus() {
    harness::replay_committed(DIR, "results_json", harness::results_json, text_bound);
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
    harness::write_config_seeds(DIR, 0, "core", harness::config_defaults());
}
