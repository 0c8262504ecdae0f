//! `NoisyLinear`: the factorised Gaussian noisy layer of NoisyNet (Fortunato et al. 2018,
//! §3.2), with noise drawn from a [`SeededRng`].

use candle_core::{Device, Tensor};
use candle_nn::{Init, VarBuilder};
use candor_core::ops::{linear, Activation};
use candor_core::{Error, Result, SeededRng};

use crate::config::BiasSigma;

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
/// Parameters (names in the `VarBuilder`): `mu_weight`, `sigma_weight` `(q, p)`, i.e.
/// `(out, in)` as PyTorch's NoisyNet layers store them, and `mu_bias`, `sigma_bias`
/// `(q,)`. The product runs through `candor_core::ops::linear`, which reads the weight
/// transposed through strides (no transposed copy, forward or backward) and fuses the
/// bias and the following ReLU.
///
/// Initialisation (NoisyNet, factorised): μ ~ U(−1/√p, 1/√p) for weight and bias,
/// σ_w = σ₀/√p, and σ_b = σ₀/√p ([`BiasSigma::FanIn`], the NoisyNet paper's rule, our
/// default) or σ₀/√q ([`BiasSigma::FanOut`], as some ports do).
///
/// [`forward`](Self::forward) with `Some(rng)` (training mode) draws a fresh noise
/// sample for the call, shared by every row of the batch; with `None` (evaluation,
/// "noise off") it uses μ only: `y = x μ_wᵀ + μ_b` exactly.
///
/// The noisy forward materialises `w` and `b` (one matmul per forward; on a batch of
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
            mu_w: vb.get_with_hints((q, p), "mu_weight", mu)?,
            sigma_w: vb.get_with_hints((q, p), "sigma_weight", Init::Const(sw))?,
            mu_b: vb.get_with_hints(q, "mu_bias", mu)?,
            sigma_b: vb.get_with_hints(q, "sigma_bias", Init::Const(sb))?,
            p,
            q,
        })
    }

    /// A layer from given tensors: `mu_w`, `sigma_w` `(q, p)` (`(out, in)`), `mu_b`,
    /// `sigma_b` `(q,)`.
    pub fn from_tensors(
        mu_w: Tensor,
        sigma_w: Tensor,
        mu_b: Tensor,
        sigma_b: Tensor,
    ) -> Result<Self> {
        let (q, p) = mu_w.dims2()?;
        if sigma_w.dims() != [q, p] || mu_b.dims() != [q] || sigma_b.dims() != [q] {
            return Err(Error::invalid(format!(
                "NoisyLinear::from_tensors: shapes {:?} {:?} {:?} {:?} do not match (q, p) = ({q}, {p})",
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

    /// μ_w, `(q, p)`.
    pub fn mu_weight(&self) -> &Tensor {
        &self.mu_w
    }

    /// σ_w, `(q, p)`.
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
        self.forward_act(x, rng, Activation::Identity)
    }

    /// [`forward`](Self::forward) followed by `act`, fused into the product.
    pub fn forward_act(
        &self,
        x: &Tensor,
        rng: Option<&mut SeededRng>,
        act: Activation,
    ) -> Result<Tensor> {
        match rng {
            Some(rng) => {
                let noise = self.sample_noise(rng);
                let (w, b) = self.noisy_parameters(&noise)?;
                linear(x, &w, Some(&b), act)
            }
            None => linear(x, &self.mu_w, Some(&self.mu_b), act),
        }
    }

    /// `x μ_wᵀ + μ_b` (noise off). `x` is `(B, p)`.
    pub fn forward_mu(&self, x: &Tensor) -> Result<Tensor> {
        self.forward(x, None)
    }

    /// `x wᵀ + b` with the weights perturbed by `noise`.
    pub fn forward_with_noise(&self, x: &Tensor, noise: &FactorisedNoise) -> Result<Tensor> {
        let (w, b) = self.noisy_parameters(noise)?;
        linear(x, &w, Some(&b), Activation::Identity)
    }

    /// The perturbed weight `w = μ_w + σ_w ⊙ (f(ε_out) f(ε_in)ᵀ)` `(q, p)` and the bias
    /// `b = μ_b + σ_b ⊙ f(ε_out)` for `noise` (differentiable in μ and σ).
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
        let f_in = Tensor::from_slice(&noise.f_in, (1, self.p), dev)?.to_dtype(dt)?;
        let f_out = Tensor::from_slice(&noise.f_out, (self.q, 1), dev)?.to_dtype(dt)?;
        let eps_w = f_out.broadcast_mul(&f_in)?;
        let w = self.mu_w.add(&self.sigma_w.mul(&eps_w)?)?;
        let b = self.mu_b.add(&self.sigma_b.mul(&f_out.squeeze(1)?)?)?;
        Ok((w, b))
    }

    /// Eq. 8's D for this layer: mean |σ| over its `(p + 1)·q` noise parameters.
    pub fn noise_d(&self) -> Result<Tensor> {
        crate::nrowan::noise_reduction(&self.sigma_w, &self.sigma_b)
    }
}
