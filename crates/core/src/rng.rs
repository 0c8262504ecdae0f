//! One seeded random-number generator for the whole project.
//!
//! candle's CPU RNG cannot be seeded (`Device::Cpu.set_seed` fails and `Tensor::randn`
//! draws from the OS-seeded thread RNG), so every random draw that must be reproducible
//! goes through [`SeededRng`]: a ChaCha8 stream whose output is fixed by its seed and the
//! pinned `rand_chacha` version, independent of the platform and thread count.

use candle_core::{DType, Device, Shape, Tensor};
use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{Error, Result};

/// A seeded, portable random-number generator (ChaCha8).
///
/// It implements [`rand::RngCore`], so every `rand`/`rand_distr` API works on it.
#[derive(Debug, Clone)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

/// Where a [`SeededRng`] is in its stream, for checkpoints: restoring it with
/// [`SeededRng::from_state`] continues with exactly the draws the saved generator would
/// have made next.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    /// The ChaCha8 key, 64 hex digits.
    pub seed: String,
    /// The ChaCha stream number.
    pub stream: u64,
    /// 32-bit words consumed so far (a decimal `u128`).
    pub word_pos: String,
}

/// 64-bit FNV-1a: a stable hash for deriving named sub-streams.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: spreads a combined seed over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SeededRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// An independent stream for `name` under `seed`, e.g. `derive(seed, "actor/l1.weight")`.
    /// The same (seed, name) always gives the same stream, whatever else was drawn before.
    pub fn derive(seed: u64, name: &str) -> Self {
        Self::new(mix(seed ^ mix(fnv1a(name.as_bytes()))))
    }

    /// A child generator seeded from this one's next output (advances `self`).
    pub fn fork(&mut self) -> Self {
        Self::new(self.inner.next_u64())
    }

    /// The generator's position, to save in a checkpoint.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self
                .inner
                .get_seed()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            stream: self.inner.get_stream(),
            word_pos: self.inner.get_word_pos().to_string(),
        }
    }

    /// A generator at the position `state` saved; an error names a malformed field.
    pub fn from_state(state: &RngState) -> Result<Self> {
        let bad = |what: &str| Error::invalid(format!("RngState: {what}"));
        let hex = state.seed.as_bytes();
        if hex.len() != 64 {
            return Err(bad("seed must be 64 hex digits"));
        }
        let mut seed = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad("seed is not hex"))?;
            seed[i] = u8::from_str_radix(text, 16).map_err(|_| bad("seed is not hex"))?;
        }
        let word_pos: u128 = state
            .word_pos
            .parse()
            .map_err(|_| bad("word_pos is not a decimal u128"))?;
        let mut inner = ChaCha8Rng::from_seed(seed);
        inner.set_stream(state.stream);
        inner.set_word_pos(word_pos);
        Ok(Self { inner })
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.inner.random::<f64>()
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform_range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.inner)
    }

    /// Uniform integer in `[0, n)`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n.max(1))
    }

    /// `true` with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }

    /// `k` distinct indices from `0..n`, in random order (partial Fisher–Yates).
    pub fn choose_distinct(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        if k > n {
            return Err(Error::invalid(format!(
                "cannot choose {k} distinct items from {n}"
            )));
        }
        let mut p: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            p.swap(i, j);
        }
        p.truncate(k);
        Ok(p)
    }

    /// A tensor of i.i.d. uniform `[lo, hi)` values (drawn in f64, then cast).
    pub fn uniform_tensor(
        &mut self,
        lo: f64,
        hi: f64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.elem_count())
            .map(|_| self.uniform_range(lo, hi))
            .collect();
        Ok(Tensor::from_vec(v, shape, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?)
    }

    /// A tensor of i.i.d. normal values with the given mean and standard deviation.
    pub fn normal_tensor(
        &mut self,
        mean: f64,
        std: f64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f64> = (0..shape.elem_count())
            .map(|_| mean + std * self.normal())
            .collect();
        Ok(Tensor::from_vec(v, shape, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?)
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst)
    }
}

/// Seeded (inverted) dropout: zeroes each element with probability `p` and scales the
/// rest by `1 / (1 − p)`, as `torch.nn.functional.dropout` in training mode.
/// The mask comes from `rng`, so the same seed gives the same mask.
pub fn dropout(x: &Tensor, p: f64, rng: &mut SeededRng) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(format!(
            "dropout probability must be in [0, 1), got {p}"
        )));
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.uniform() < p { 0.0 } else { scale as f32 })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?;
    Ok(x.mul(&mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_state_continues_the_stream() {
        let mut a = SeededRng::derive(7, "x");
        // Odd numbers of 32-bit words and a normal draw in between.
        for _ in 0..13 {
            a.uniform();
        }
        a.normal();
        let _ = a.below(5);
        let st = a.state();
        let json = serde_json::to_string(&st).unwrap();
        let mut b = SeededRng::from_state(&serde_json::from_str(&json).unwrap()).unwrap();
        let xs: Vec<f64> = (0..100).map(|_| a.normal() + a.uniform()).collect();
        let ys: Vec<f64> = (0..100).map(|_| b.normal() + b.uniform()).collect();
        assert_eq!(xs, ys);
        let bad = RngState {
            seed: "zz".into(),
            ..st
        };
        assert!(SeededRng::from_state(&bad).is_err());
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
    }

    #[test]
    fn derived_streams_depend_on_name_only() {
        let mut a = SeededRng::derive(3, "w");
        let mut b = SeededRng::derive(3, "w");
        let mut c = SeededRng::derive(3, "b");
        let x = a.next_u64();
        assert_eq!(x, b.next_u64());
        assert_ne!(x, c.next_u64());
    }

    #[test]
    fn normal_moments() {
        let mut r = SeededRng::new(0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((v - 1.0).abs() < 0.01, "var {v}");
    }

    #[test]
    fn choose_distinct_is_distinct() {
        let mut r = SeededRng::new(1);
        let mut c = r.choose_distinct(100, 40).unwrap();
        c.sort();
        c.dedup();
        assert_eq!(c.len(), 40);
        assert!(r.choose_distinct(3, 4).is_err());
    }

    #[test]
    fn dropout_is_seeded_and_unbiased() {
        let x = Tensor::ones((1000,), DType::F32, &Device::Cpu).unwrap();
        let a = dropout(&x, 0.3, &mut SeededRng::new(5)).unwrap();
        let b = dropout(&x, 0.3, &mut SeededRng::new(5)).unwrap();
        let av = a.to_vec1::<f32>().unwrap();
        assert_eq!(av, b.to_vec1::<f32>().unwrap());
        let zeros = av.iter().filter(|v| **v == 0.0).count();
        assert!((250..350).contains(&zeros), "{zeros} zeros");
        let mean = av.iter().sum::<f32>() / 1000.0;
        assert!((mean - 1.0).abs() < 0.1);
        assert!(dropout(&x, 1.0, &mut SeededRng::new(0)).is_err());
    }
}
