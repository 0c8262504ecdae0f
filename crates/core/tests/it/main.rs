//! candor-core's integration tests in one test binary (one link instead of one per
//! file; the files are modules). The fuzz-corpus replay (a counting allocator), the
//! kill-and-resume tests (timed kills of child processes) and any test that changes
//! process-wide state stay binaries of their own beside this folder.

mod fft_fixtures;
mod knn;
mod matting_fixtures;
mod metrics_fixtures;
mod ops_fixtures;
mod optim;
mod pretrained;
mod stats_reference;
mod thread_determinism;
mod training;
