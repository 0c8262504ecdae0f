//! Replays the committed fuzz corpus of the `config` target through this crate's config
//! types with the same harness the cargo-fuzz target runs (`fuzz/harness/erl.rs`), and
//! checks that every default config rejects unknown keys. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/erl.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

// `configs` and the ignored `write_config_seeds`.
config_tests!(8, "erl");
