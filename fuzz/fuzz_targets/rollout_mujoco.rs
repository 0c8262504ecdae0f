//! cargo-fuzz target `rollout_mujoco`: the rollout example's inputs on the MuJoCo tasks;
//! see `rollout_mujoco` in `fuzz/harness/rl.rs`.
#![no_main]

#[path = "../harness/rl.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::rollout_mujoco(data);
});
