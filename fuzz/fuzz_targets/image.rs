//! cargo-fuzz target `image`: see `fuzz/harness/core.rs`.
#![no_main]

#[path = "../harness/core.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::image(data);
});
