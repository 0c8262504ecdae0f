//! Task data: (A, B) pairs of the image-processing model M that is protected, the
//! watermark δ and the blank δ0, and splits by source image.
//!
//! As in the official code, no model M is trained: B (the task's target, the clean
//! image) *is* the model output that gets watermarked, B′ = H(B, δ), and A is M's input.
//!
//! * [`synthetic`]: the card's proxies "SynthDebone" and "SynthDerain" and a denoise
//!   task, greyscale or RGB at any size, byte-identical per seed.
//! * [`folder`]: real pairs from `A/` + `B/` folders with matching names, or the
//!   official aligned `[A | B]` images (256 × 512).
//! * [`logo`]: the procedural watermark δ, the blank δ0, a watermark file loader and
//!   the bit string of the traditional scheme.

pub mod folder;
pub mod logo;
pub mod synthetic;

use candor_core::{bail_invalid, Result, SeededRng};

use crate::config::SplitConfig;
use crate::image::Image;

/// One example of the protected task: input A, model output B (= clean target).
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The source image this pair comes from; splits never separate a source.
    pub source: String,
    /// The model's input (degraded image).
    pub a: Image,
    /// The model's output (clean image), the image that gets watermarked.
    pub b: Image,
}

/// Pairs split by source image into the three uses of the protocol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Splits {
    /// Training H/R/D and the surrogates.
    pub train: Vec<Pair>,
    /// Negatives (and positives) for calibrating the decision threshold.
    pub calibration: Vec<Pair>,
    /// Held-out images for the reported success and false-positive rates.
    pub test: Vec<Pair>,
}

/// Split `pairs` by [`Pair::source`] into train / calibration / test with the
/// fractions and seed of `cfg` (candor-core's group split: all pairs of one source
/// land in the same split; each split keeps the input order).
///
/// Errors on fractions that are not in `[0, 1]` or do not sum to 1, or on no pairs.
pub fn split_by_source(pairs: Vec<Pair>, cfg: &SplitConfig) -> Result<Splits> {
    if pairs.is_empty() {
        bail_invalid!("split_by_source: no pairs");
    }
    let sources: Vec<String> = pairs.iter().map(|p| p.source.clone()).collect();
    let (train, cal, _test) = candor_core::data::split_groups(
        &sources,
        (cfg.train, cfg.calibration, cfg.test),
        &mut SeededRng::derive(cfg.seed, "watermark/split"),
    )?;
    let mut out = Splits::default();
    for p in pairs {
        if train.binary_search(&p.source).is_ok() {
            out.train.push(p);
        } else if cal.binary_search(&p.source).is_ok() {
            out.calibration.push(p);
        } else {
            out.test.push(p);
        }
    }
    Ok(out)
}
