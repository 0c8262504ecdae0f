//! Fuzz harness of the NROWAN-DQN config (`Config::from_json`). Used by the cargo-fuzz
//! `config` target and by the corpus replay test `crates/rl-noisy/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_rl_noisy::Config;

/// `data[0]` is ignored (the `config` target's selector); the rest is the JSON document.
/// An accepted config must write and read back to itself.
pub fn config(data: &[u8]) -> Outcome {
    let rest = data.get(1..).unwrap_or_default();
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let c = Config::from_json(text).map_err(|e| e.to_string())?;
    let json = c.to_json().expect("a parsed config serialises");
    let back = Config::from_json(&json).expect("a written config parses");
    assert_eq!(back, c, "config changed in a JSON round trip: {json}");
    Ok(())
}

/// `config` inputs holding the paper's configs of every algorithm, for the unknown-key
/// test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    use candor_rl_noisy::Algo;
    [Algo::Dqn, Algo::NoisyNet, Algo::Nrowan]
        .into_iter()
        .map(|a| {
            let c = Config::paper(a, "CartPole-v0").unwrap();
            [vec![3u8], c.to_json().unwrap().into_bytes()].concat()
        })
        .collect()
}
