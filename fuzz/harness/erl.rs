//! Fuzz harness of candor-erl's configs (a whole run's `Config`, SSNE, imitation, the
//! reference-code quirk switches). Used by the cargo-fuzz `config` target and by the
//! corpus replay test `crates/erl/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_erl::config::{Config, ImitationConfig, Quirks, SsneConfig, Variant};

/// `data[0]` picks the type, the rest is JSON. An accepted config must write and read
/// back to itself; its own check must answer without panicking.
pub fn config(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_core::Result<()>| r.map_err(|e| e.to_string());
    match sel % 4 {
        0 => config_roundtrip::<Config>(text, |c| v(c.validate())),
        1 => config_roundtrip::<SsneConfig>(text, |c| v(c.validate())),
        2 => config_roundtrip::<ImitationConfig>(text, |_| Ok(())),
        _ => config_roundtrip::<Quirks>(text, |_| Ok(())),
    }
}

/// `config` inputs holding every variant's reference config on Hopper and each part's
/// defaults, for the unknown-key test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Variant::ALL
        .iter()
        .map(|&x| input(0, &Config::preset(x, "Hopper-v4").expect("a preset")))
        .collect();
    v.push(input(1, &SsneConfig::default()));
    v.push(input(2, &ImitationConfig::default()));
    v.push(input(3, &Quirks::default()));
    v
}
