//! candor-watermark's integration tests in one test binary (one link instead of one per
//! file; the files are modules). The fuzz-corpus replay (a counting allocator), the
//! kill-and-resume tests (timed kills of child processes) and any test that changes
//! process-wide state stay binaries of their own beside this folder.

mod data;
mod deep;
mod eval;
mod reproduce;
mod traditional;
