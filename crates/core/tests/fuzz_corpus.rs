//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/core.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/core.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Peak allocation allowed for an image input: the harness decodes at most
/// `FUZZ_MAX_PIXELS` pixels, whatever the file claims, at 64 bytes per pixel (the image,
/// the decoder's buffers and the resized copies).
fn image_bound(_len: usize) -> usize {
    64 * harness::FUZZ_MAX_PIXELS as usize
}

#[test]
fn image_corpus() {
    harness::replay_committed(DIR, "image", &harness::image, image_bound);
}

#[test]
fn safetensors_corpus() {
    harness::replay_committed(
        DIR,
        "safetensors",
        &harness::safetensors,
        harness::text_bound,
    );
}

#[test]
fn results_json_corpus() {
    harness::replay_committed(
        DIR,
        "results_json",
        &harness::results_json,
        harness::text_bound,
    );
}

// `configs` and the ignored `write_config_seeds`.
config_tests!(0, "core");

#[test]
fn pth_corpus() {
    harness::replay_committed(DIR, "pth", &harness::pth, harness::text_bound);
}
