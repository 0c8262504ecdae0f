//! The networks: a deterministic actor `π(s) = tanh(MLP(s))` in the unit box and a critic
//! `Q(s, a)` that takes the action at its input or after its first hidden layer, both on
//! candor-core's [`Mlp`] (fused `ops::linear` forward and backward).
//!
//! Each network can hand out a **frozen view** ([`Actor::frozen`], [`Critic::frozen`]):
//! the same parameter storage, detached, so a forward pass through it builds no
//! gradient for its weights. The update uses it for the target networks (whose
//! variables change only by Polyak averaging, in place) and for the critic inside the
//! actor loss (whose gradient must reach the actor, not the critic's weights: the fused
//! linear op then skips the weight-gradient products).

use candle_core::{Tensor, D};
use candle_nn::VarBuilder;
use candor_core::nn::{linear_with, mlp, Activation, LayerNorm, Linear, LinearConfig, Mlp};
use candor_core::{Error, Result};

use crate::config::{ActionInput, NetConfig};

/// The same MLP on detached (shared-storage) parameters.
fn frozen_mlp(net: &Mlp) -> Result<Mlp> {
    let layers = net
        .layers()
        .iter()
        .map(frozen_linear)
        .collect::<Result<Vec<_>>>()?;
    let norms = net
        .norms()
        .iter()
        .map(|n| LayerNorm::new(n.weight().detach(), n.bias().detach(), n.eps()))
        .collect::<Result<Vec<_>>>()?;
    Mlp::new(net.config().clone(), layers, norms)
}

fn frozen_linear(l: &Linear) -> Result<Linear> {
    Linear::new(l.weight().detach(), l.bias().map(Tensor::detach))
}

/// The deterministic policy `π(s) = tanh(MLP(s)) ∈ [-1, 1]^d` (the loop maps it to the
/// env's action box). Variables `fc{i}.weight`, `fc{i}.bias` under the builder's prefix.
#[derive(Debug, Clone)]
pub struct Actor {
    net: Mlp,
}

impl Actor {
    /// An actor from `obs_dim` observations to `action_dim` actions, created in `vb`.
    pub fn new(cfg: &NetConfig, obs_dim: usize, action_dim: usize, vb: VarBuilder) -> Result<Self> {
        cfg.validate("actor")?;
        let net = mlp(&cfg.mlp(obs_dim, action_dim, Activation::Tanh), vb)?;
        Ok(Self { net })
    }

    /// `π(s)` for a batch `(B, obs_dim)` → `(B, action_dim)`, differentiable.
    pub fn forward(&self, obs: &Tensor) -> Result<Tensor> {
        self.net.forward_t(obs)
    }

    /// `π(s)` for one observation on the host (no tensors, no graph).
    pub fn act(&self, obs: &[f32]) -> Result<Vec<f32>> {
        self.net.forward_one(obs)
    }

    /// A view on the same (detached) parameters: no gradient reaches them through it.
    pub fn frozen(&self) -> Result<Self> {
        Ok(Self {
            net: frozen_mlp(&self.net)?,
        })
    }

    /// The network (for flat-vector access: [`Mlp::to_flat`], [`Mlp::set_flat`]).
    pub fn mlp(&self) -> &Mlp {
        &self.net
    }
}

/// A critic `Q(s, a)`: with [`ActionInput::First`] an MLP on `[s, a]`; with
/// [`ActionInput::Second`] (Lillicrap et al.) a first layer on `s` alone, then an MLP on
/// `[h, a]`. Variables: `fc{i}.*` of the MLP, and `input.weight`, `input.bias` for the
/// separate first layer.
#[derive(Debug, Clone)]
pub struct Critic {
    input: Option<(Linear, Activation)>,
    body: Mlp,
}

impl Critic {
    /// A critic for `obs_dim` observations and `action_dim` actions, created in `vb`.
    pub fn new(
        cfg: &NetConfig,
        action_input: ActionInput,
        obs_dim: usize,
        action_dim: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        cfg.validate("critic")?;
        match action_input {
            ActionInput::First => {
                let body = mlp(&cfg.mlp(obs_dim + action_dim, 1, Activation::Identity), vb)?;
                Ok(Self { input: None, body })
            }
            ActionInput::Second => {
                if cfg.layer_norm {
                    return Err(Error::invalid(
                        "critic: LayerNorm with the action at the second layer is not supported",
                    ));
                }
                let Some((&first, rest)) = cfg.hidden.split_first().filter(|(_, r)| !r.is_empty())
                else {
                    return Err(Error::invalid(
                        "critic: the action can enter at the second layer only with two or more hidden layers",
                    ));
                };
                let lc = LinearConfig {
                    bias: true,
                    init: cfg.init,
                };
                let input = linear_with(obs_dim, first, lc, vb.pp("input"))?;
                let body_cfg = NetConfig {
                    hidden: rest.to_vec(),
                    ..cfg.clone()
                };
                let body = mlp(
                    &body_cfg.mlp(first + action_dim, 1, Activation::Identity),
                    vb,
                )?;
                Ok(Self {
                    input: Some((input, cfg.activation)),
                    body,
                })
            }
        }
    }

    /// `Q(s, a)` for `obs` `(B, obs_dim)` and `actions` `(B, action_dim)` → `(B,)`.
    pub fn forward(&self, obs: &Tensor, actions: &Tensor) -> Result<Tensor> {
        let x = match &self.input {
            None => Tensor::cat(&[obs, actions], D::Minus1)?,
            Some((layer, act)) => {
                let h = layer.forward_act(obs, *act)?;
                Tensor::cat(&[&h, actions], D::Minus1)?
            }
        };
        Ok(self.body.forward_t(&x)?.squeeze(D::Minus1)?)
    }

    /// A view on the same (detached) parameters: no gradient reaches them through it.
    pub fn frozen(&self) -> Result<Self> {
        let input = match &self.input {
            Some((l, a)) => Some((frozen_linear(l)?, *a)),
            None => None,
        };
        Ok(Self {
            input,
            body: frozen_mlp(&self.body)?,
        })
    }
}
