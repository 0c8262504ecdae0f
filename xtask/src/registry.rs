//! The papers `cargo xtask reproduce` knows. A paper crate that lands adds its
//! `reproduce::run` here.

use candor_core::report::Report;
use candor_core::ReproduceOptions;

pub type RunFn = fn(&ReproduceOptions) -> candor_core::Result<Report>;

pub struct Entry {
    /// The name used with `--paper` and as the output folder.
    pub name: &'static str,
    pub title: &'static str,
    /// For planned papers: where the work stands.
    pub status: &'static str,
    pub run: Option<RunFn>,
}

pub static REGISTRY: &[Entry] = &[
    Entry {
        name: "core",
        title: "candor-core self-checks (phase spectrum, metrics, kNN) against theory",
        status: "implemented",
        run: Some(candor_core::selfcheck::run),
    },
    Entry {
        name: "pointcloud-defense",
        title: "SRS and SOR defenses against adversarial point clouds (arXiv 1812.11017)",
        status: "implemented",
        run: Some(candor_pointcloud_defense::reproduce::run),
    },
    Entry {
        name: "forgery",
        title: "Multi-attentional deepfake detection (CVPR 2021) and SPSL (CVPR 2021)",
        status: "implemented",
        run: Some(candor_forgery::reproduce::run),
    },
    Entry {
        name: "rl-noisy",
        title: "NROWAN-DQN (arXiv 2006.10980)",
        status: "implemented",
        run: Some(candor_rl_noisy::reproduce::run),
    },
    Entry {
        name: "rl-ddpg",
        title: "RUD: regularly updated deterministic policy gradient (arXiv 2007.00169)",
        status: "planned",
        run: None,
    },
    Entry {
        name: "erl",
        title: "RIM: recruitment-imitation mechanism for evolutionary RL (arXiv 1912.06310)",
        status: "planned",
        run: None,
    },
    Entry {
        name: "matting",
        title: "Image matting via real-time user clicks and uncertainty (CVPR 2021)",
        status: "planned",
        run: None,
    },
    Entry {
        name: "watermark",
        title: "Model watermarking for image processing networks (AAAI 2020)",
        status: "planned",
        run: None,
    },
];
