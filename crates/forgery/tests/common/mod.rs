//! The synthetic proxy and training settings shared by the training tests
//! (`train.rs`, `crash_resume.rs`).

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;

use candor_forgery::data::{synthetic, FrameFolder, Sample, Split, Splits};
use candor_forgery::train::TrainConfig;

/// A 64-px proxy: 4/2/2 real videos of 2 frames, two up-samplers (bilinear and
/// nearest), textures only, PNG. 8 + 16 training frames.
pub fn proxy_config() -> synthetic::Config {
    synthetic::Config {
        image_size: 64,
        videos: [4, 2, 2],
        frames_per_video: 2,
        methods: vec![synthetic::Method::Bilinear, synthetic::Method::Nearest],
        photos: false,
        textures: 6,
        jpeg_quality: None,
        ..synthetic::Config::default()
    }
}

/// Write [`proxy_config`]'s proxy to `dir` and read back its training and validation
/// samples.
pub fn proxy(dir: &Path) -> (Vec<Sample>, Vec<Sample>) {
    proxy_with(dir, proxy_config())
}

/// Write the proxy `cfg` describes to `dir` and read back its training and validation
/// samples.
pub fn proxy_with(dir: &Path, cfg: synthetic::Config) -> (Vec<Sample>, Vec<Sample>) {
    synthetic::generate(&cfg, dir).unwrap();
    read_proxy(dir)
}

/// The training and validation samples of a proxy already written to `dir`.
pub fn read_proxy(dir: &Path) -> (Vec<Sample>, Vec<Sample>) {
    let tree = FrameFolder::open(dir).unwrap();
    let splits = Splits::read(dir.join("splits.json")).unwrap();
    (
        tree.select(splits.get(Split::Train)),
        tree.select(splits.get(Split::Val)),
    )
}

/// `epochs` smoke-scale epochs of batch 8 at 64 px.
pub fn train_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        image_size: 64,
        ..TrainConfig::smoke()
    }
}
