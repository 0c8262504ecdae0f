//! Fuzz harness of candor-matting's configs (training, networks, click simulation,
//! losses). Used by the cargo-fuzz `config` target and by the corpus replay test
//! `crates/matting/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_matting::clicks::{ClickSimConfig, NextClickConfig};
use candor_matting::loss::{AlphaLossConfig, RefineLossConfig};
use candor_matting::model::{NetConfig, RefineConfig};
use candor_matting::train::TrainConfig;

/// `data[0]` picks the type, the rest is JSON. An accepted config must write and read
/// back to itself; the network's check must answer without panicking.
pub fn config(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    match sel % 7 {
        0 => config_roundtrip::<TrainConfig>(text, |_| Ok(())),
        1 => config_roundtrip::<NetConfig>(text, |c| c.validate().map_err(|e| e.to_string())),
        2 => config_roundtrip::<RefineConfig>(text, |_| Ok(())),
        3 => config_roundtrip::<ClickSimConfig>(text, |_| Ok(())),
        4 => config_roundtrip::<NextClickConfig>(text, |_| Ok(())),
        5 => config_roundtrip::<AlphaLossConfig>(text, |_| Ok(())),
        _ => config_roundtrip::<RefineLossConfig>(text, |_| Ok(())),
    }
}

/// `config` inputs holding every config type's defaults, for the unknown-key test and as
/// fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    vec![
        input(0, &TrainConfig::default()),
        input(0, &TrainConfig::at_size(64)),
        input(1, &NetConfig::default()),
        input(1, &NetConfig::tiny()),
        input(2, &RefineConfig::default()),
        input(3, &ClickSimConfig::default()),
        input(4, &NextClickConfig::default()),
        input(5, &AlphaLossConfig::default()),
        input(6, &RefineLossConfig::default()),
    ]
}
