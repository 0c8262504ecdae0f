//! SPSL's phase channel (`shared/papers/forgery-spsl.md`, "Phase channel"), as
//! DeepfakeBench v2 computes it:
//!
//! 1. RGB/255 → `(x − 0.5)/0.5` (values in `[−1, 1]`);
//! 2. grey = the **plain mean** of the three channels (after normalisation);
//! 3. `p = Re(IFFT2(exp(i·arg FFT2(grey))))` per image over `(H, W)`, the inverse
//!    normalised by `1/(H·W)`; no fftshift, log or rescaling
//!    ([`candor_core::fft::phase_spectrum`]).
//!
//! By Parseval the RMS of `p` is `1/sqrt(H·W)` for every image (0.0039 at 256²).
//! [`PhaseScale::Raw`] keeps that (parity with DeepfakeBench);
//! [`PhaseScale::UnitRms`] multiplies by `sqrt(H·W)` so the channel has RMS 1, a
//! documented deviation a model may choose.
//!
//! Step 2 follows step 1, so the affine map matters only for the DC bin: when the
//! mean grey level is below ½ the DC phase flips and `p` differs from the `[0, 1]`
//! version by the constant `−2/(H·W)`.

use candle_core::{DType, Tensor, D};
use candor_core::fft::{phase_spectrum, phase_spectrum_tensor};

use super::Normalize;
use crate::{Error, Result};

/// Scaling of the phase channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseScale {
    /// As DeepfakeBench: RMS `1/sqrt(H·W)`.
    #[default]
    Raw,
    /// Multiplied by `sqrt(H·W)`: RMS 1.
    UnitRms,
}

impl PhaseScale {
    fn factor(self, h: usize, w: usize) -> f64 {
        match self {
            PhaseScale::Raw => 1.0,
            PhaseScale::UnitRms => ((h * w) as f64).sqrt(),
        }
    }
}

/// The symmetric-normalised grey plane(s): the mean over channels of `(x−0.5)/0.5`,
/// for `C×H×W` (→ `H×W`) or `B×C×H×W` (→ `B×1×H×W`) input normalised as `input`.
fn grey_symmetric(x: &Tensor, input: Normalize) -> Result<Tensor> {
    let x = x.to_dtype(DType::F32)?;
    let (channel_dim, keep) = match x.rank() {
        3 => (0, false),
        4 => (1, true),
        _ => {
            return Err(Error::invalid(format!(
                "phase channel: expected C×H×W or B×C×H×W, got shape {:?}",
                x.dims()
            )))
        }
    };
    let c = x.dims()[channel_dim];
    if c != 1 && c != 3 {
        return Err(Error::invalid(format!(
            "phase channel: expected 1 or 3 channels, got {c}"
        )));
    }
    let sym = input.invert(&x)?.affine(2.0, -1.0)?;
    Ok(if keep {
        sym.mean_keepdim(channel_dim)?
    } else {
        sym.mean(channel_dim)?
    })
}

/// The phase channel of one image `C×H×W` (C = 3 or 1) whose values are normalised
/// as `input` (files load as [`Normalize::Unit`]); returns `H×W` f32.
pub fn phase_channel(img: &Tensor, input: Normalize, scale: PhaseScale) -> Result<Tensor> {
    if img.rank() != 3 {
        return Err(Error::invalid(format!(
            "phase_channel: expected C×H×W, got shape {:?}",
            img.dims()
        )));
    }
    let g = grey_symmetric(img, input)?;
    let (h, w) = g.dims2()?;
    let plane = g.flatten_all()?.to_vec1::<f32>()?;
    let p = phase_spectrum(&plane, h, w)?;
    let t = Tensor::from_vec(p, (h, w), img.device())?;
    Ok(t.affine(scale.factor(h, w), 0.0)?)
}

/// The phase channel of a batch `B×C×H×W` normalised as `input`: `B×1×H×W`, each image
/// transformed on its own (never across the batch, the DeepfakeBench v1 bug).
pub fn phase_channel_batch(batch: &Tensor, input: Normalize, scale: PhaseScale) -> Result<Tensor> {
    if batch.rank() != 4 {
        return Err(Error::invalid(format!(
            "phase_channel_batch: expected B×C×H×W, got shape {:?}",
            batch.dims()
        )));
    }
    let g = grey_symmetric(batch, input)?;
    let (h, w) = (g.dims()[2], g.dims()[3]);
    let p = phase_spectrum_tensor(&g)?;
    Ok(p.affine(scale.factor(h, w), 0.0)?)
}

/// SPSL's 4-channel network input: the batch `B×3×H×W` as given (normalised as
/// `input`) with its phase channel appended: `B×4×H×W`.
pub fn with_phase_channel(batch: &Tensor, input: Normalize, scale: PhaseScale) -> Result<Tensor> {
    let p = phase_channel_batch(batch, input, scale)?.to_dtype(batch.dtype())?;
    Ok(Tensor::cat(&[batch, &p], D::Minus(3))?)
}
