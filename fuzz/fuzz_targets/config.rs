//! cargo-fuzz target `config`: every paper's config types. `data[0]` picks the crate
//! (core, point-cloud, forgery, NROWAN-DQN), `data[1]` the type, the rest is JSON; see
//! `config` in `fuzz/harness/{core,pointcloud,forgery,rl_noisy}.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod core_harness;
#[path = "../harness/forgery.rs"]
mod forgery_harness;
#[path = "../harness/pointcloud.rs"]
mod pointcloud_harness;
#[path = "../harness/rl_noisy.rs"]
mod rl_noisy_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let _ = match sel % 4 {
        0 => core_harness::config(rest),
        1 => pointcloud_harness::config(rest),
        2 => forgery_harness::config(rest),
        _ => rl_noisy_harness::config(rest),
    };
});
