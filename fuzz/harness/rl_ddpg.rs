//! Fuzz harness of candor-rl-ddpg's configs (the whole run's `Config::from_json`, the
//! learner, the networks, the Q-bias measurement). Used by the cargo-fuzz `config` target
//! and by the corpus replay test `crates/rl-ddpg/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_rl_ddpg::config::{Config, LearnerConfig, NetConfig, Preset, QBiasConfig};

/// `data[0]` picks the type, the rest is JSON. An accepted config must write and read
/// back to itself; its own check must answer without panicking.
pub fn config(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_core::Result<()>| r.map_err(|e| e.to_string());
    match sel % 4 {
        0 => {
            let c = Config::from_json(text).map_err(|e| e.to_string())?;
            let json = serde_json::to_string(&c).expect("a parsed config serialises");
            let back = Config::from_json(&json).expect("a written config parses");
            assert_eq!(back, c, "config changed in a JSON round trip: {json}");
            Ok(())
        }
        1 => config_roundtrip::<LearnerConfig>(text, |c| v(c.validate())),
        2 => config_roundtrip::<NetConfig>(text, |c| v(c.validate("actor"))),
        _ => config_roundtrip::<QBiasConfig>(text, |c| v(c.validate())),
    }
}

/// `config` inputs holding every preset's config (one with the Q-bias measurement) and
/// each part's defaults, for the unknown-key test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = Preset::ALL
        .iter()
        .map(|&p| input(0, &Config::preset(p, "Hopper-v4")))
        .collect();
    v.push(input(
        0,
        &Config::preset(Preset::Rud, "HalfCheetah-v4").with_q_bias(QBiasConfig::default()),
    ));
    v.push(input(1, &LearnerConfig::default()));
    v.push(input(2, &NetConfig::default()));
    v.push(input(3, &QBiasConfig::default()));
    v
}
