//! cargo-fuzz target `hdf5`: see `fuzz/harness/pointcloud.rs`.
#![no_main]

#[path = "../harness/pointcloud.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = harness::hdf5(data);
});
