//! Fuzz harness of candor-watermark's config (`Config::from_json`, `Config::from_toml`).
//! Used by the cargo-fuzz `config` target and by the corpus replay test
//! `crates/watermark/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_watermark::config::Config;

/// `data[0]` picks the format (even: JSON, odd: TOML), the rest is the document. An
/// accepted config must write (as JSON) and read back to itself.
pub fn config(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let c = if sel % 2 == 0 {
        Config::from_json(text)
    } else {
        Config::from_toml(text)
    }
    .map_err(|e| e.to_string())?;
    let json = c.to_json().expect("a parsed config serialises");
    let back = Config::from_json(&json).expect("a written config parses");
    assert_eq!(back, c, "config changed in a JSON round trip: {json}");
    Ok(())
}

/// `config` inputs holding the default and the tiny config in both formats, for the
/// unknown-key test and as fuzzing seeds. (The unknown-key test edits JSON, so the TOML
/// inputs are JSON documents too, which TOML rejects; the JSON ones carry the check.)
pub fn config_defaults() -> Vec<Vec<u8>> {
    [Config::default(), Config::tiny()]
        .iter()
        .map(|c| [vec![0u8], c.to_json().unwrap().into_bytes()].concat())
        .collect()
}

/// TOML seeds of the `config` target (format selector 1).
pub fn toml_seeds() -> Vec<Vec<u8>> {
    [Config::default(), Config::tiny()]
        .iter()
        .map(|c| [vec![1u8], toml::to_string(c).unwrap().into_bytes()].concat())
        .collect()
}
