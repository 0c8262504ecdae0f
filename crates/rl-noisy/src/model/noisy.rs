//! `NoisyLinear`: the factorised Gaussian noisy layer of NoisyNet (Fortunato et al. 2018,
//! §3.2), with noise drawn from a [`SeededRng`].

use candle_core::{Device, Tensor};
use candle_nn::{Init, VarBuilder};
use candor_core::{Error, Result, SeededRng};

use crate::config::BiasSigma;

/// `x · w + 1·bᵀ` for `x` `(B, p)`, `w` `(p, q)`, `b` `(q,)`, through candor-core's
/// fused [`linear`](candor_core::ops::linear) (one gemm and a bias pass; its backward
/// computes only the gradients needed).
///
/// On the CPU that kernel takes its thread count from the current rayon pool, so on
/// the one-thread pool of [`crate::train()`] the forward runs unsplit whatever the
/// process environment says. candle's own matmul instead asks the environment
/// (`RAYON_NUM_THREADS`, else the CPU count read from `/proc` and cgroup files) on
/// every call, which cost ≈ 4× the whole training step when unset.
pub fn affine(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    candor_core::ops::linear(x, &w.t()?, Some(b), false)
}

/// NoisyNet's `f(x) = sgn(x)·√|x|`.
pub fn f_noise(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x.signum() * x.abs().sqrt()
    }
}

/// One factorised noise sample: `f(ε_in)` (length p) and `f(ε_out)` (length q), with
/// ε ~ N(0, 1). The weight noise is `f(ε_out) f(ε_in)ᵀ`, the bias noise `f(ε_out)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorisedNoise {
    /// `f(ε_in)`, one value per input.
    pub f_in: Vec<f32>,
    /// `f(ε_out)`, one value per output.
    pub f_out: Vec<f32>,
}

impl FactorisedNoise {
    /// Draw p then q standard normals from `rng` and apply [`f_noise`].
    pub fn sample(p: usize, q: usize, rng: &mut SeededRng) -> Self {
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| f_noise(rng.normal()) as f32).collect() };
        let f_in = draw(p);
        let f_out = draw(q);
        Self { f_in, f_out }
    }
}

/// A factorised Gaussian noisy linear layer `y = x wᵀ + b` with
/// `w = μ_w + σ_w ⊙ (f(ε_out) f(ε_in)ᵀ)` and `b = μ_b + σ_b ⊙ f(ε_out)`.
///
/// Parameters (names in the `VarBuilder`): `mu_weight`, `sigma_weight`, `mu_bias` and
/// `sigma_bias`. **Layout:** the weights are stored input-major, `(p, q)`, i.e. as `wᵀ`
/// (the transpose of PyTorch's `(q, p)`), so the forward is `x · wᵀ` on a contiguous
/// tensor; in candle, back-propagating through a transposed view of a parameter costs a
/// strided copy that made updates about twice as slow. The biases are `(q,)`.
///
/// Initialisation (NoisyNet, factorised): μ ~ U(−1/√p, 1/√p) for weight and bias,
/// σ_w = σ₀/√p, and σ_b = σ₀/√p ([`BiasSigma::FanIn`], the NoisyNet paper's rule, our
/// default) or σ₀/√q ([`BiasSigma::FanOut`], as some ports do).
///
/// [`forward`](Self::forward) with `Some(rng)` (training mode) draws a fresh noise
/// sample for the call, shared by every row of the batch; with `None` (evaluation,
/// "noise off") it uses μ only: `y = x μ_wᵀ + μ_b` exactly.
///
/// The noisy forward materialises `wᵀ` and `b` (one matmul per forward; on a batch of
/// 32 this is cheaper than the two matmuls of the factorised form
/// `x μ_wᵀ + f(ε_out) ⊙ ((x ⊙ f(ε_in)) σ_wᵀ)`).
#[derive(Debug, Clone)]
pub struct NoisyLinear {
    mu_w: Tensor,
    sigma_w: Tensor,
    mu_b: Tensor,
    sigma_b: Tensor,
    p: usize,
    q: usize,
}

impl NoisyLinear {
    /// A layer from `p` inputs to `q` outputs, initialised as described above.
    pub fn new(
        p: usize,
        q: usize,
        sigma0: f64,
        bias_sigma: BiasSigma,
        vb: VarBuilder,
    ) -> Result<Self> {
        if p == 0 || q == 0 {
            return Err(Error::invalid(format!("NoisyLinear: empty layer {p}→{q}")));
        }
        let bound = 1.0 / (p as f64).sqrt();
        let mu = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let sw = sigma0 / (p as f64).sqrt();
        let sb = match bias_sigma {
            BiasSigma::FanIn => sw,
            BiasSigma::FanOut => sigma0 / (q as f64).sqrt(),
        };
        Ok(Self {
            mu_w: vb.get_with_hints((p, q), "mu_weight", mu)?,
            sigma_w: vb.get_with_hints((p, q), "sigma_weight", Init::Const(sw))?,
            mu_b: vb.get_with_hints(q, "mu_bias", mu)?,
            sigma_b: vb.get_with_hints(q, "sigma_bias", Init::Const(sb))?,
            p,
            q,
        })
    }

    /// A layer from given tensors: `mu_w`, `sigma_w` `(p, q)` (input-major), `mu_b`,
    /// `sigma_b` `(q,)`.
    pub fn from_tensors(
        mu_w: Tensor,
        sigma_w: Tensor,
        mu_b: Tensor,
        sigma_b: Tensor,
    ) -> Result<Self> {
        let (p, q) = mu_w.dims2()?;
        if sigma_w.dims() != [p, q] || mu_b.dims() != [q] || sigma_b.dims() != [q] {
            return Err(Error::invalid(format!(
                "NoisyLinear::from_tensors: shapes {:?} {:?} {:?} {:?} do not match (p, q) = ({p}, {q})",
                mu_w.dims(),
                sigma_w.dims(),
                mu_b.dims(),
                sigma_b.dims()
            )));
        }
        Ok(Self {
            mu_w,
            sigma_w,
            mu_b,
            sigma_b,
            p,
            q,
        })
    }

    /// Fan-in p.
    pub fn in_features(&self) -> usize {
        self.p
    }

    /// Fan-out q.
    pub fn out_features(&self) -> usize {
        self.q
    }

    /// μ_wᵀ, stored `(p, q)`.
    pub fn mu_weight(&self) -> &Tensor {
        &self.mu_w
    }

    /// σ_wᵀ, stored `(p, q)`.
    pub fn sigma_weight(&self) -> &Tensor {
        &self.sigma_w
    }

    /// μ_b `(q,)`.
    pub fn mu_bias(&self) -> &Tensor {
        &self.mu_b
    }

    /// σ_b `(q,)`.
    pub fn sigma_bias(&self) -> &Tensor {
        &self.sigma_b
    }

    /// A fresh noise sample for this layer.
    pub fn sample_noise(&self, rng: &mut SeededRng) -> FactorisedNoise {
        FactorisedNoise::sample(self.p, self.q, rng)
    }

    /// Training mode with a fresh sample from `rng` (`Some`), or μ only (`None`).
    pub fn forward(&self, x: &Tensor, rng: Option<&mut SeededRng>) -> Result<Tensor> {
        match rng {
            Some(rng) => {
                let noise = self.sample_noise(rng);
                self.forward_with_noise(x, &noise)
            }
            None => self.forward_mu(x),
        }
    }

    /// `x μ_wᵀ + μ_b` (noise off). `x` is `(B, p)`.
    pub fn forward_mu(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.mu_w, &self.mu_b)
    }

    /// `x wᵀ + b` with the weights perturbed by `noise`.
    pub fn forward_with_noise(&self, x: &Tensor, noise: &FactorisedNoise) -> Result<Tensor> {
        let (w, b) = self.noisy_parameters(noise)?;
        affine(x, &w, &b)
    }

    /// The perturbed weight, as `wᵀ = μ_wᵀ + σ_wᵀ ⊙ (f(ε_in) f(ε_out)ᵀ)` `(p, q)`, and
    /// the bias `b = μ_b + σ_b ⊙ f(ε_out)` for `noise` (differentiable in μ and σ).
    pub fn noisy_parameters(&self, noise: &FactorisedNoise) -> Result<(Tensor, Tensor)> {
        if noise.f_in.len() != self.p || noise.f_out.len() != self.q {
            return Err(Error::invalid(format!(
                "NoisyLinear: noise of sizes ({}, {}) for a {}→{} layer",
                noise.f_in.len(),
                noise.f_out.len(),
                self.p,
                self.q
            )));
        }
        let dev: &Device = self.mu_w.device();
        let dt = self.mu_w.dtype();
        let f_in = Tensor::from_slice(&noise.f_in, (self.p, 1), dev)?.to_dtype(dt)?;
        let f_out = Tensor::from_slice(&noise.f_out, (1, self.q), dev)?.to_dtype(dt)?;
        let eps_w = f_in.broadcast_mul(&f_out)?;
        let w = self.mu_w.add(&self.sigma_w.mul(&eps_w)?)?;
        let b = self.mu_b.add(&self.sigma_b.mul(&f_out.squeeze(0)?)?)?;
        Ok((w, b))
    }

    /// Eq. 8's D for this layer: mean |σ| over its `(p + 1)·q` noise parameters.
    pub fn noise_d(&self) -> Result<Tensor> {
        crate::nrowan::noise_reduction(&self.sigma_w, &self.sigma_b)
    }
}
