//! cargo-fuzz target `npy`: see `fuzz/harness/forgery.rs`.
#![no_main]

#[path = "../harness/forgery.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::npy(data);
});
