//! cargo-fuzz target `config`: every paper's config types. `data[0]` picks the crate
//! (core, point-cloud, forgery, NROWAN-DQN, rl, rl-ddpg, watermark, matting, erl), `data[1]`
//! the type, the rest is JSON (or TOML); see `config` in `fuzz/harness/*.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod core_harness;
#[path = "../harness/erl.rs"]
mod erl_harness;
#[path = "../harness/forgery.rs"]
mod forgery_harness;
#[path = "../harness/matting.rs"]
mod matting_harness;
#[path = "../harness/pointcloud.rs"]
mod pointcloud_harness;
#[path = "../harness/rl.rs"]
mod rl_harness;
#[path = "../harness/rl_ddpg.rs"]
mod rl_ddpg_harness;
#[path = "../harness/rl_noisy.rs"]
mod rl_noisy_harness;
#[path = "../harness/watermark.rs"]
mod watermark_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let _ = match sel % 9 {
        0 => core_harness::config(rest),
        1 => pointcloud_harness::config(rest),
        2 => forgery_harness::config(rest),
        3 => rl_noisy_harness::config(rest),
        4 => rl_harness::config(rest),
        5 => rl_ddpg_harness::config(rest),
        6 => watermark_harness::config(rest),
        7 => matting_harness::config(rest),
        _ => erl_harness::config(rest),
    };
});
