//! Pieces shared by the backbones: named feature taps, input checks, timm-style
//! initialisation rules, seeded drop-path.

use std::sync::{Arc, Mutex};

use candle_core::{DType, Tensor};
use candle_nn::Init;
use candor_core::{Error, Result, SeededRng};

/// One feature tap of a backbone: its name, channel count and nominal
/// reduction (output stride) relative to the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureInfo {
    /// The tap's name (`"b0"`, `"b5"`, `"final"`, …), as the official MAT code
    /// names its layer dictionary.
    pub name: String,
    /// Channels of the tapped map.
    pub channels: usize,
    /// Nominal output stride (2, 4, 8, 16 or 32). Xception's two unpadded stem
    /// convolutions make its maps a few pixels smaller than `input / reduction`.
    pub reduction: usize,
}

/// Feature maps of one forward pass, in network order, each under its tap name
/// (see [`FeatureInfo`]). The last entry is always `"final"`.
#[derive(Debug, Clone)]
pub struct FeatureMaps {
    entries: Vec<(String, Tensor)>,
}

impl FeatureMaps {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, name: impl Into<String>, t: Tensor) {
        self.entries.push((name.into(), t));
    }

    /// The map tapped under `name`, if the network has that tap.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The map tapped under `name`, or an error listing the available taps.
    pub fn require(&self, name: &str) -> Result<&Tensor> {
        self.get(name).ok_or_else(|| {
            Error::invalid(format!(
                "no feature tap named {name:?}; available: {:?}",
                self.names()
            ))
        })
    }

    /// The last map (`"final"`: the input of the classifier head).
    pub fn last(&self) -> &Tensor {
        // Every backbone pushes at least "final".
        &self.entries[self.entries.len() - 1].1
    }

    /// Tap names in network order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `(name, map)` pairs in network order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Number of taps.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no taps (never the case for a backbone's output).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The maps alone, in network order.
    pub fn into_vec(self) -> Vec<Tensor> {
        self.entries.into_iter().map(|(_, t)| t).collect()
    }
}

/// Checks that `x` is an `(N, C, H, W)` f32/f64 batch with `channels` channels,
/// `N ≥ 1`, `H, W ≥ min_size`, and the dtype of the network's weights.
pub(crate) fn check_input(
    net: &str,
    x: &Tensor,
    channels: usize,
    min_size: usize,
    weight_dtype: DType,
) -> Result<()> {
    let &[n, c, h, w] = x.dims() else {
        return Err(Error::invalid(format!(
            "{net} expects an (N, C, H, W) batch, got shape {:?}",
            x.dims()
        )));
    };
    if n == 0 {
        return Err(Error::invalid(format!("{net}: empty batch")));
    }
    if c != channels {
        return Err(Error::invalid(format!(
            "{net} is configured for {channels} input channels but the batch has {c} \
             (shape {:?})",
            x.dims()
        )));
    }
    if h < min_size || w < min_size {
        return Err(Error::invalid(format!(
            "{net} needs images of at least {min_size}×{min_size} (its output stride), \
             got {h}×{w}"
        )));
    }
    if x.dtype() != weight_dtype {
        return Err(Error::invalid(format!(
            "{net}: input is {:?} but the weights are {weight_dtype:?}",
            x.dtype()
        )));
    }
    Ok(())
}

/// `N(0, √(2 / fan_out))`: PyTorch's `kaiming_normal_(mode='fan_out',
/// nonlinearity='relu')` when `fan_out = C_out·k²`, and timm's
/// `_init_weight_goog` for convolutions when `fan_out = C_out·k² / groups`.
pub(crate) fn he_fan_out(fan_out: usize) -> Init {
    Init::Randn {
        mean: 0.0,
        stdev: (2.0 / fan_out.max(1) as f64).sqrt(),
    }
}

/// The RNG a backbone draws dropout and drop-path masks from.
pub(crate) type SharedRng = Arc<Mutex<SeededRng>>;

pub(crate) fn shared_rng(seed: u64) -> SharedRng {
    Arc::new(Mutex::new(SeededRng::new(seed)))
}

pub(crate) fn lock(rng: &SharedRng) -> std::sync::MutexGuard<'_, SeededRng> {
    // A poisoned lock only means another thread panicked mid-draw; the
    // generator state is still a valid state.
    rng.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stochastic depth ("drop connect" in efficientnet_pytorch, `drop_path` in
/// timm): zeroes the whole residual branch of each sample with probability `p`
/// and scales the survivors by `1 / (1 − p)`. `x` is `(N, …)`.
pub(crate) fn drop_path(x: &Tensor, p: f64, rng: &mut SeededRng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let n = x.dim(0)?;
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.bernoulli(keep) {
                (1.0 / keep) as f32
            } else {
                0.0
            }
        })
        .collect();
    let mut shape = vec![1usize; x.rank()];
    shape[0] = n;
    let mask = Tensor::from_vec(mask, shape, x.device())?.to_dtype(x.dtype())?;
    Ok(x.broadcast_mul(&mask)?)
}

/// Checks a probability-like setting in `[0, 1)`.
pub(crate) fn check_rate(name: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        return Err(Error::invalid(format!("{name} must be in [0, 1), got {v}")));
    }
    Ok(())
}

/// Checks BatchNorm settings.
pub(crate) fn check_bn(momentum: f64, eps: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(Error::invalid(format!(
            "bn_momentum must be in [0, 1], got {momentum}"
        )));
    }
    if !(eps > 0.0 && eps.is_finite()) {
        return Err(Error::invalid(format!(
            "bn_eps must be positive, got {eps}"
        )));
    }
    Ok(())
}
