//! `torch.nn.Dropout(p)`, seeded: in training mode each element is zeroed with probability
//! `p` and the survivors scaled by `1/(1 − p)`; in evaluation mode the layer is the
//! identity. The masks come from the layer's own [`SeededRng`] (candle's dropout draws
//! from an unseedable thread RNG), so the same seed gives the same masks in the same
//! order. Clones share the generator, as they share one stream of draws.
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use candor_core::nn::Dropout;
//! let x = Tensor::ones(8, DType::F32, &Device::Cpu).unwrap();
//! let d = Dropout::new(0.5, 7).unwrap();
//! assert_eq!(d.forward_t(&x, false).unwrap().to_vec1::<f32>().unwrap(), vec![1.0; 8]);
//! let y = d.forward_t(&x, true).unwrap().to_vec1::<f32>().unwrap();
//! assert!(y.iter().all(|v| *v == 0.0 || *v == 2.0));
//! let again = Dropout::new(0.5, 7).unwrap().forward_t(&x, true).unwrap();
//! assert_eq!(again.to_vec1::<f32>().unwrap(), y);
//! ```

use std::sync::{Arc, Mutex};

use candle_core::{ModuleT, Tensor};

use super::cerr;
use crate::{Error, Result, SeededRng};

/// Seeded inverted dropout.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    rng: Arc<Mutex<SeededRng>>,
}

impl Dropout {
    /// Drop probability `p` in `[0, 1)`; masks drawn from `SeededRng::new(seed)`.
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(format!(
                "Dropout: probability must be in [0, 1), got {p}"
            )));
        }
        Ok(Self {
            p,
            rng: Arc::new(Mutex::new(SeededRng::new(seed))),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Restart the mask stream from `seed`.
    pub fn reseed(&self, seed: u64) {
        *self.lock() = SeededRng::new(seed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SeededRng> {
        // A poisoned lock only means another thread panicked mid-draw; the generator
        // state is still a valid state.
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ModuleT for Dropout {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if !train || self.p == 0.0 {
            return Ok(x.clone());
        }
        crate::rng::dropout(x, self.p, &mut self.lock()).map_err(cerr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check;
    use crate::nn::test_util::input;
    use candle_core::DType;

    #[test]
    fn gradient_is_the_mask() {
        // Fresh layer per call: every evaluation draws the same mask.
        let r = check(
            |t| Ok(Dropout::new(0.3, 5)?.forward_t(&t[0], true)?),
            &[input(&[4, 6], DType::F64)],
            24,
            1e-6,
            1e-7,
            1e-6,
        )
        .unwrap();
        assert!(r.worst_ratio <= 1.0, "{r:?}");
    }

    #[test]
    fn rate_stream_and_errors() {
        let x = candle_core::Tensor::ones(4000, DType::F32, &candle_core::Device::Cpu).unwrap();
        let d = Dropout::new(0.25, 1).unwrap();
        let a = d.forward_t(&x, true).unwrap().to_vec1::<f32>().unwrap();
        let b = d.forward_t(&x, true).unwrap().to_vec1::<f32>().unwrap();
        assert_ne!(a, b, "each call draws a new mask");
        let zeros = a.iter().filter(|v| **v == 0.0).count();
        assert!((900..1100).contains(&zeros), "{zeros}");
        d.reseed(1);
        assert_eq!(d.forward_t(&x, true).unwrap().to_vec1::<f32>().unwrap(), a);
        assert!(Dropout::new(1.0, 0).is_err());
        assert!(Dropout::new(-0.1, 0).is_err());
    }
}
