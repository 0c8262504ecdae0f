//! candor-rl's integration tests in one test binary (one link instead of one per
//! file; the files are modules). The fuzz-corpus replay (a counting allocator), the
//! kill-and-resume tests (timed kills of child processes) and any test that changes
//! process-wide state stay binaries of their own beside this folder.

mod env_resume;
mod envs;
mod golden;
mod golden_mujoco;
mod mujoco_envs;
mod offpolicy;
