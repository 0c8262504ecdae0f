//! candor-forgery's integration tests in one test binary (one link instead of one per
//! file; the files are modules). The fuzz-corpus replay (a counting allocator), the
//! kill-and-resume tests (timed kills of child processes) and any test that changes
//! process-wide state stay binaries of their own beside this folder.

mod backbones;
#[path = "../common/mod.rs"]
mod common;
mod data;
mod detectors;
mod pretrained;
mod reproduce;
mod train;
