//! Fuzz harnesses of the `rollout` example's inputs (`--state`, `--actions`), stepping the
//! environment as the example does (classic control and MuJoCo), and of candor-rl's
//! configs. Used by the cargo-fuzz targets and by the corpus replay test
//! `crates/rl/tests/fuzz_corpus.rs`.
#![allow(dead_code)]

#[path = "common.rs"]
#[macro_use]
mod common;
pub use common::*;

use candor_rl::rollout::{parse_actions, parse_state};
use candor_rl::{make, Env, ENV_IDS, MUJOCO_ENV_IDS};

/// `data[0]` picks the classic-control environment; the first line is the state (`-` for
/// a seeded reset), the other lines the actions file. At most 2000 steps are taken.
pub fn rollout(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let (id, _) = ENV_IDS[sel as usize % ENV_IDS.len()];
    run(id, sel, rest, 2000)
}

/// As [`rollout`] on the MuJoCo locomotion tasks (`data[0]` picks one of
/// `MUJOCO_ENV_IDS`; the state line is `qpos` then `qvel`). At most 300 steps are taken.
pub fn rollout_mujoco(data: &[u8]) -> Outcome {
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let (id, _) = MUJOCO_ENV_IDS[sel as usize % MUJOCO_ENV_IDS.len()];
    run(id, sel, rest, 300)
}

/// The rollout example's work on env `id`: a state line, then actions, at most `max_steps`.
fn run(id: &str, sel: u8, rest: &[u8], max_steps: usize) -> Outcome {
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
    for (_, a) in actions.iter().take(max_steps) {
        let step = env.step(a).map_err(|e| e.to_string())?;
        assert_eq!(step.obs.len(), env.observation_space().flat_dim());
        if step.done() {
            break;
        }
    }
    Ok(())
}

/// candor-rl's configs: `data[0]` picks the type (the off-policy loop's config, its
/// update schedule, the exploration noise), the rest is JSON. An accepted config must
/// write and read back to itself; its own check must answer without panicking.
pub fn config(data: &[u8]) -> Outcome {
    use candor_rl::{NoiseConfig, OffPolicyConfig, UpdateSchedule};
    let Some((&sel, rest)) = data.split_first() else {
        return Err("empty".into());
    };
    let text = std::str::from_utf8(rest).map_err(|e| e.to_string())?;
    let v = |r: candor_rl::Result<()>| r.map_err(|e| e.to_string());
    match sel % 3 {
        0 => config_roundtrip::<OffPolicyConfig>(text, |c| v(c.validate())),
        1 => config_roundtrip::<UpdateSchedule>(text, |c| v(c.validate())),
        _ => config_roundtrip::<NoiseConfig>(text, |c| v(c.build(3, 0).map(|_| ()))),
    }
}

/// `config` inputs holding the defaults of every config type and each schedule and
/// noise, for the unknown-key test and as fuzzing seeds.
pub fn config_defaults() -> Vec<Vec<u8>> {
    use candor_rl::{NoiseConfig, OffPolicyConfig, UpdateSchedule};
    vec![
        input(0, &OffPolicyConfig::default()),
        input(1, &UpdateSchedule::Interleaved),
        input(
            1,
            &UpdateSchedule::Regular {
                interval: 2,
                updates: 2,
            },
        ),
        input(1, &UpdateSchedule::EpisodeEnd),
        input(
            1,
            &UpdateSchedule::PerGeneration {
                updates_per_frame: 1.0,
            },
        ),
        input(2, &NoiseConfig::None),
        input(2, &NoiseConfig::Gaussian { sigma: 0.1 }),
        input(2, &NoiseConfig::ou_default()),
    ]
}
