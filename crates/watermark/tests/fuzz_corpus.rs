//! Replays the committed fuzz corpus of the `config` target through this crate's config
//! types with the same harness the cargo-fuzz target runs (`fuzz/harness/watermark.rs`), and
//! checks that every default config rejects unknown keys. See docs/reliability.md.

#[macro_use]
#[path = "../../../fuzz/harness/watermark.rs"]
mod harness;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

// `configs` and the ignored `write_config_seeds`.
config_tests!(6, "watermark");

/// The TOML seeds (default and tiny configs written as TOML) are accepted.
#[test]
fn toml_configs_parse() {
    for input in harness::toml_seeds() {
        assert_eq!(harness::config(&input), Ok(()));
    }
}
