//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/rl.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[path = "../../../fuzz/harness/rl.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Peak allocation allowed for a text input of `len` bytes: parsed values and JSON
/// trees stay within a constant factor of the text (TEXT_BOUND_FACTOR), plus 1 MiB.
const TEXT_BOUND_FACTOR: usize = 64;

fn text_bound(len: usize) -> usize {
    TEXT_BOUND_FACTOR * len + (1 << 20)
}

#[test]
fn rollout_corpus() {
    harness::replay_committed(DIR, "rollout", harness::rollout, text_bound);
}
