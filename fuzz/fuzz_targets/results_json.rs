//! cargo-fuzz target `results_json`: see `fuzz/harness/core.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::results_json(data);
});
