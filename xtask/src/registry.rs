//! The papers `cargo xtask reproduce` knows. Registering a paper is one line in
//! [`REGISTRY`] (plus its crate in xtask's Cargo.toml).

use candor_core::report::Report;
use candor_core::ReproduceOptions;

pub type RunFn = fn(&ReproduceOptions) -> candor_core::Result<Report>;

/// One paper: its name (used with `--paper` and as the output folder), title, and its
/// `reproduce::run` once implemented.
#[derive(Clone, Copy)]
pub struct Paper {
    pub name: &'static str,
    pub title: &'static str,
    /// For planned papers: where the work stands.
    pub status: &'static str,
    pub run: Option<RunFn>,
    /// Its runs are small networks trained side by side on worker threads (the RL
    /// papers' run queues). Its child process gets, unless the user set them:
    /// - `RAYON_NUM_THREADS=1`: candle's CPU matmul reads it to decide how many chunks to
    ///   split a product into, and candle's elementwise barrier pool is sized from it,
    ///   which only costs for the tiny tensors of small-network RL (whose seeds run in
    ///   parallel workers instead);
    /// - `CANDOR_ALLOC_ARENAS=per-thread`: glibc's per-thread arenas instead of
    ///   `tune_allocator`'s one, whose lock the workers' allocations would queue on
    ///   ([`candor_core::alloc::Arenas`]).
    ///
    /// Set in the paper's child process environment ([`crate::runner::child_env`]),
    /// never by a library.
    pub parallel_small_runs: bool,
}

/// An implemented paper.
pub const fn paper(name: &'static str, title: &'static str, run: RunFn) -> Paper {
    Paper {
        name,
        title,
        status: "implemented",
        run: Some(run),
        parallel_small_runs: false,
    }
}

/// A paper not implemented yet (none at the moment; kept for the next one).
#[allow(dead_code)]
pub const fn planned(name: &'static str, title: &'static str) -> Paper {
    Paper {
        name,
        title,
        status: "planned",
        run: None,
        parallel_small_runs: false,
    }
}

impl Paper {
    /// See [`Paper::parallel_small_runs`].
    pub const fn parallel_small_runs(mut self) -> Self {
        self.parallel_small_runs = true;
        self
    }
}

#[rustfmt::skip]
pub static REGISTRY: &[Paper] = &[
    paper("core", "candor-core self-checks (phase spectrum, metrics, kNN) against theory", crate::selfcheck::run),
    paper("pointcloud-defense", "SRS and SOR defenses against adversarial point clouds (arXiv 1812.11017)", candor_pointcloud_defense::reproduce::run),
    paper("forgery", "Multi-attentional deepfake detection (CVPR 2021) and SPSL (CVPR 2021)", candor_forgery::reproduce::run),
    paper("rl-noisy", "NROWAN-DQN (arXiv 2006.10980)", candor_rl_noisy::reproduce::run).parallel_small_runs(),
    paper("rl-ddpg", "RUD: regularly updated deterministic policy gradient (arXiv 2007.00169)", candor_rl_ddpg::reproduce::run).parallel_small_runs(),
    paper("erl", "RIM: recruitment-imitation mechanism for evolutionary RL (arXiv 1912.06310)", candor_erl::reproduce::run).parallel_small_runs(),
    paper("matting", "Image matting via real-time user clicks and uncertainty (CVPR 2021)", candor_matting::reproduce::run),
    paper("watermark", "Model watermarking for image processing networks (AAAI 2020)", candor_watermark::reproduce::run),
];
