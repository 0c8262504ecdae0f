//! Data: FaceForensics++-style frame folders and the synthetic forgery proxy.
//!
//! | module | what |
//! |---|---|
//! | [`ff`] | [`FrameFolder`]: lists `real/<video>/…` + `fake/<method>/<video>/…` trees (or FF++'s own `original_sequences`/`manipulated_sequences`), splits, lazy loading into normalised `3×H×W` tensors, the permuted-labels control |
//! | [`synthetic`] | the seeded synthetic-forgery generator of the SPSL card, writing that same layout from the shipped public-domain/CC0 photos and procedural textures |
//! | [`phase`] | SPSL's phase channel (DeepfakeBench v2 definition) and the 4-channel input |
//! | [`npy`] | `.npy` writing and reading for f32 arrays |
//!
//! FaceForensics++, Celeb-DF and DFDC are licence-restricted and never shipped; the
//! synthetic proxy stands in for them in tests and offline runs. Its numbers are proxy
//! numbers, not comparable with the papers'.
//!
//! # Example
//!
//! Generate a tiny proxy, list it like an FF++ export, load a batch and add SPSL's
//! phase channel:
//!
//! ```
//! use candor_forgery::data::{
//!     load_batch, synthetic, with_phase_channel, FrameFolder, LoadOptions, Normalize,
//!     PhaseScale, Split, Splits,
//! };
//!
//! # fn main() -> candor_forgery::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let cfg = synthetic::Config {
//!     image_size: 16,
//!     videos: [2, 1, 1],
//!     frames_per_video: 1,
//!     methods: vec![synthetic::Method::Bilinear, synthetic::Method::Nearest],
//!     photos: false,
//!     textures: 3,
//!     ..synthetic::Config::default()
//! };
//! let manifest = synthetic::generate(&cfg, dir.path())?;
//! assert_eq!(manifest.videos.len(), 4);
//!
//! let tree = FrameFolder::open(dir.path())?;
//! assert_eq!(tree.len(), 4 * 3); // 4 real frames + 4 per method
//! assert_eq!(tree.methods(), ["bilinear", "nearest"]);
//!
//! let splits = Splits::read(dir.path().join("splits.json"))?;
//! let train = tree.select(splits.get(Split::Train));
//! assert_eq!(train.len(), 2 * 3);
//!
//! let (x, y) = load_batch(&train, &LoadOptions::default())?; // (x − 0.5)/0.5
//! assert_eq!(x.dims(), &[6, 3, 16, 16]);
//! assert_eq!(y.to_vec1::<u32>()?.iter().filter(|&&l| l == 1).count(), 4);
//! let x4 = with_phase_channel(&x, Normalize::Symmetric, PhaseScale::Raw)?;
//! assert_eq!(x4.dims(), &[6, 4, 16, 16]);
//! # Ok(())
//! # }
//! ```

pub mod ff;
pub mod npy;
pub mod phase;
pub mod synthetic;

pub use ff::{
    load_batch, load_frame, parse_ffpp_split, random_video_labels, read_ffpp_split, shuffle_labels,
    Fit, FolderOptions, FrameFolder, Layout, LoadOptions, Normalize, Sample, Splits,
};
pub use npy::{decode_npy_f32, encode_npy_f32, read_npy_f32, write_npy_f32};
pub use phase::{phase_channel, phase_channel_batch, with_phase_channel, PhaseScale};

use serde::{Deserialize, Serialize};

/// A data split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training.
    Train,
    /// Validation (checkpoint selection; never the test set, see the SPSL card).
    Val,
    /// Test.
    Test,
}

impl Split {
    /// The three splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
