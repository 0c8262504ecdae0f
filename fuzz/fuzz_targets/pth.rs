//! cargo-fuzz target `pth`: PyTorch checkpoints; see `pth` in `fuzz/harness/core.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::pth(data);
});
