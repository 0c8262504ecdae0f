//! Replays the committed fuzz corpus and regression inputs of this crate's readers
//! through the same harness the cargo-fuzz targets run (`fuzz/harness/rl.rs`), so CI
//! keeps every fixed crash fixed on stable without nightly. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/rl.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn rollout_corpus() {
    harness::replay_committed(DIR, "rollout", &harness::rollout, harness::text_bound);
}

#[test]
fn rollout_mujoco_corpus() {
    harness::replay_committed(
        DIR,
        "rollout_mujoco",
        &harness::rollout_mujoco,
        harness::text_bound,
    );
}

// `configs` and the ignored `write_config_seeds`.
config_tests!(4, "rl");
