//! cargo-fuzz target `ply`: see `fuzz/harness/pointcloud.rs`.
#![no_main]

#[path = "../harness/pointcloud.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::ply(data);
});
