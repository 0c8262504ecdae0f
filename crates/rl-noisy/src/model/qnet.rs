//! The classic-control Q-network of the paper (Table 1, "Others").

use candle_core::Tensor;
use candle_nn::VarBuilder;
use candor_core::nn::{linear, Linear};
use candor_core::ops::Activation;
use candor_core::{Result, SeededRng};

use crate::config::NetConfig;
use crate::model::noisy::NoisyLinear;

/// A fully connected layer that is either plain (candor-core's `Linear`: weight
/// `(out, in)`, PyTorch's default initialisation `U(±1/√in)`) or noisy.
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
        self.forward_act(x, rng, Activation::Identity)
    }

    /// [`forward`](Self::forward) followed by `act`, fused into the product.
    pub fn forward_act(
        &self,
        x: &Tensor,
        rng: Option<&mut SeededRng>,
        act: Activation,
    ) -> Result<Tensor> {
        match self {
            Dense::Plain(l) => l.forward_act(x, act),
            Dense::Noisy(l) => l.forward_act(x, rng, act),
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
/// and plain for DQN. Variable names: `fc1.{weight,bias}`, `fc2.*`, `head.*`; every
/// weight is `(out, in)`, as in PyTorch.
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
        let fc1 = linear(obs_dim, h, vb.pp("fc1"))?;
        let dense = |p: usize, q: usize, vb: VarBuilder| -> Result<Dense> {
            Ok(if noisy {
                Dense::Noisy(NoisyLinear::new(p, q, net.sigma0, net.bias_sigma, vb)?)
            } else {
                Dense::Plain(linear(p, q, vb)?)
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
        let h = self.fc1.forward_act(x, Activation::Relu)?;
        let h = self
            .fc2
            .forward_act(&h, rng.as_deref_mut(), Activation::Relu)?;
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
