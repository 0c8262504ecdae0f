//! Fuzz harness of the `rollout` example's inputs (`--state`, `--actions`), stepping the
//! environment as the example does. Used by the cargo-fuzz target and by the corpus
//! replay test `crates/rl/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
mod common;
pub use common::*;

use candor_rl::rollout::{parse_actions, parse_state};
use candor_rl::{make, Env, ENV_IDS};

/// `data[0]` picks the environment; the first line is the state (`-` for a seeded
/// reset), the other lines the actions file. At most 2000 steps are taken.
pub fn rollout(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let (id, _) = ENV_IDS[sel as usize % ENV_IDS.len()];
    let mut env = make(id).expect("a known env id");
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let (state, actions) = text.split_once('\n').unwrap_or((text, ""));
    if state.trim() == "-" {
        env.reset(Some(u64::from(sel)));
    } else {
        let s = parse_state(state).map_err(|e| e.to_string())?;
        env.set_state(&s).map_err(|e| e.to_string())?;
    }
    let actions = parse_actions(actions, env.action_space()).map_err(|e| e.to_string())?;
    for (_, a) in actions.iter().take(2000) {
        let step = env.step(a).map_err(|e| e.to_string())?;
        assert_eq!(step.obs.len(), env.observation_space().flat_dim());
        if step.done() {
            break;
        }
    }
    Ok(())
}
