//! cargo-fuzz target `safetensors`: see `fuzz/harness/core.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::safetensors(data);
});
