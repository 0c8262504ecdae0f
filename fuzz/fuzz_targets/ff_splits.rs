//! cargo-fuzz target `ff_splits`: see `fuzz/harness/forgery.rs`.
#![no_main]

#[path = "../harness/forgery.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::ff_splits(data);
});
