//! cargo-fuzz target `rollout`: see `fuzz/harness/rl.rs`.
#![no_main]

#[path = "../harness/rl.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::rollout(data);
});
