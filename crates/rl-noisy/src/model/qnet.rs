//! The classic-control Q-network of the paper (Table 1, "Others").

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use candor_core::{Result, SeededRng};

use crate::config::NetConfig;
use crate::model::noisy::{affine, NoisyLinear};

/// A plain fully connected layer `y = x wᵀ + b` with `torch.nn.Linear`'s default
/// initialisation (weight and bias ~ U(−1/√p, 1/√p)). As in [`NoisyLinear`], the
/// weight is stored input-major: the variable `weight` holds `wᵀ`, `(p, q)`.
#[derive(Debug, Clone)]
pub struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    /// A `p → q` layer with variables `weight` `(p, q)` and `bias` `(q,)`.
    pub fn new(p: usize, q: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (p as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            w: vb.get_with_hints((p, q), "weight", init)?,
            b: vb.get_with_hints(q, "bias", init)?,
        })
    }

    /// `x wᵀ + b` for `x` `(B, p)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.w, &self.b)
    }

    /// `wᵀ`, `(p, q)`.
    pub fn weight(&self) -> &Tensor {
        &self.w
    }

    /// `b`, `(q,)`.
    pub fn bias(&self) -> &Tensor {
        &self.b
    }
}

/// A fully connected layer that is either plain or noisy.
#[derive(Debug, Clone)]
pub enum Dense {
    /// `y = x wᵀ + b`.
    Plain(Linear),
    /// A factorised Gaussian noisy layer.
    Noisy(NoisyLinear),
}

impl Dense {
    /// Forward; a noisy layer draws fresh noise from `rng` when given one.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut SeededRng>) -> Result<Tensor> {
        match self {
            Dense::Plain(l) => l.forward(x),
            Dense::Noisy(l) => l.forward(x, rng),
        }
    }

    /// The noisy layer, if this is one.
    pub fn as_noisy(&self) -> Option<&NoisyLinear> {
        match self {
            Dense::Noisy(l) => Some(l),
            Dense::Plain(_) => None,
        }
    }
}

/// `Linear(obs→h) + ReLU → Dense(h→h) + ReLU → Dense(h→|A|)`; the last two layers are
/// [`NoisyLinear`] for NoisyNet-/NROWAN-DQN ("noise sits in the last two FC layers")
/// and plain for DQN. Variable names: `fc1.{weight,bias}`, `fc2.*`, `head.*`.
#[derive(Debug, Clone)]
pub struct QNetwork {
    fc1: Linear,
    fc2: Dense,
    head: Dense,
    n_actions: usize,
}

impl QNetwork {
    /// Build the network's variables in `vb`.
    pub fn new(
        obs_dim: usize,
        n_actions: usize,
        noisy: bool,
        net: &NetConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let h = net.hidden;
        let fc1 = Linear::new(obs_dim, h, vb.pp("fc1"))?;
        let dense = |p: usize, q: usize, vb: VarBuilder| -> Result<Dense> {
            Ok(if noisy {
                Dense::Noisy(NoisyLinear::new(p, q, net.sigma0, net.bias_sigma, vb)?)
            } else {
                Dense::Plain(Linear::new(p, q, vb)?)
            })
        };
        Ok(Self {
            fc1,
            fc2: dense(h, h, vb.pp("fc2"))?,
            head: dense(h, n_actions, vb.pp("head"))?,
            n_actions,
        })
    }

    /// Q-values `(B, |A|)` for observations `(B, obs_dim)`. `Some(rng)`: training mode,
    /// fresh noise in both noisy layers (drawn fc2 first, then the head); `None`: μ only.
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut SeededRng>) -> Result<Tensor> {
        let h = self.fc1.forward(x)?.relu()?;
        let h = self.fc2.forward(&h, rng.as_deref_mut())?.relu()?;
        self.head.forward(&h, rng)
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// `true` when the last two layers are noisy.
    pub fn is_noisy(&self) -> bool {
        self.head.as_noisy().is_some()
    }

    /// The noisy hidden layer (NoisyNet / NROWAN only).
    pub fn hidden_noisy(&self) -> Option<&NoisyLinear> {
        self.fc2.as_noisy()
    }

    /// The noisy output layer (NoisyNet / NROWAN only).
    pub fn head_noisy(&self) -> Option<&NoisyLinear> {
        self.head.as_noisy()
    }

    /// Eq. 8's D on the output layer, or `None` for a plain network.
    pub fn noise_d(&self) -> Result<Option<Tensor>> {
        self.head_noisy().map(NoisyLinear::noise_d).transpose()
    }
}
