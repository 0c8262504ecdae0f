//! # candor-rl-noisy
//!
//! DQN, NoisyNet-DQN and NROWAN-DQN on candle, after
//! *NROWAN-DQN: A Stable Noisy Network with Noise Reduction and Online Weight Adjustment
//! for Exploration* (Han, Zhou, Liu, Lü; arXiv 2006.10980; Expert Systems with
//! Applications 203, 2022), which builds on NoisyNet (Fortunato et al., ICLR 2018).
//!
//! NoisyNet-DQN explores through learned, factorised Gaussian noise in its last two
//! layers; that noise keeps perturbing the greedy action late in training. NROWAN-DQN
//! adds to the TD loss a noise-reduction term D, the mean |σ| of the output layer's
//! noise parameters (eq. 8), weighted by k_t, which grows with the return collected so
//! far in the current episode (eq. 12): `L = TD + k_t·D`.
//!
//! ## What is implemented
//!
//! | item | what |
//! |---|---|
//! | [`NoisyLinear`] | factorised Gaussian layer, `f(x) = sgn(x)√|x|`, NoisyNet init with σ₀ configurable (0.4), fresh noise from a [`SeededRng`](candor_core::SeededRng) on each training forward, μ only with the noise off |
//! | [`QNetwork`] | Linear(obs→128)+ReLU → Noisy(128→128)+ReLU → Noisy(128→\|A\|); all plain for DQN |
//! | [`Agent`] | replay, MSE TD loss, hard target copy every 1000 steps, independent noise for acting, the online update and the target; DQN's ε-greedy |
//! | [`nrowan`] | D (eq. 8) and k_t (eq. 12) |
//! | [`train()`], [`evaluate_agent`], [`protocol_score`] | Algorithm 1 (one update per env step), the 5 × 64 evaluation protocol |
//! | [`Config`] | serde, unknown keys rejected, defaults = the paper's Tables 1–2, [`Config::paper`] per task, [`Config::tiny`] for tests |
//! | [`reproduce`] | Table 3 on CartPole-v0 (200 steps), MountainCar-v0, Acrobot-v1, plus NROWAN-DQN with Adam on the whole loss as an ablation row (`cargo xtask reproduce --paper rl-noisy`); Pong is not run |
//! | [`claims`] | the claims' tests on the trained instances' means, gated on beating a random policy |
//!
//! Every run is deterministic per seed on the CPU (parameter init, ε draws, the three
//! noise streams, replay sampling and env resets all derive from it).
//!
//! ## Choices where the paper is unclear (see the paper card)
//!
//! * **Bias σ init:** σ_b = σ₀/√p (fan-in), the NoisyNet paper's rule;
//!   [`BiasSigma::FanOut`] gives the σ₀/√q some ports use (the third-party
//!   reproduction among them). The choice matters on CartPole, see
//!   [`BiasSigma`]: with fan-in some seeds lock into one action.
//! * **Optimiser (labelled deviation):** Adam (PyTorch's, weight decay 0) on the TD
//!   loss, and the k·D term as a plain gradient step `σ ← σ − lr·k·∂D/∂σ` on the output
//!   σ ([`OptimizerKind::AdamSgdD`], the default). With Adam on the whole loss the
//!   constant-sign D gradient is normalised away and σ moves by ≈ lr per update
//!   whatever k is; the plain step keeps the paper's "k·lr sets the step size" reading.
//!   [`OptimizerKind::Adam`] (the third-party reproduction's choice) and
//!   [`OptimizerKind::Sgd`] are available. DQN and NoisyNet-DQN (k ≡ 0) are unaffected.
//! * **k_t:** recomputed every env step from the in-episode return r⁺ (reset to 0 at
//!   episode end), clipped to [0, k_final]; R_inf/R_sup are unpublished and default to
//!   the reproduction's (CartPole [0, 200], MountainCar [−200, −90], Acrobot [−500, −60]).
//! * **NoisyNet-DQN baseline:** k ≡ 0; the paper's unspecified noise-decay schedule
//!   for it is not reproduced.
//! * **DQN's ε:** unpublished. CleanRL's `dqn.py` schedule: 1.0 → 0.05 over the first
//!   half of the run ([`EpsilonConfig::decay_fraction`] 0.5), then 0.05, and 0.05 at
//!   evaluation. The third-party reproduction took Mnih et al. literally (1.0 → 0.1
//!   over 1M steps, [`EpsilonConfig::decay_steps`] `Some(1_000_000)`), which keeps ε ≈ 1
//!   through a 30k-step run: that DQN acts at random throughout and is no baseline.
//! * **Evaluation:** both settings are run. With the noise on
//!   ([`EvalNoise::On`], a fresh noise sample every step as in training) — the setting
//!   the claims use, because NROWAN's reduced noise can only steady a policy that
//!   keeps its noise — and greedy on μ ([`EvalNoise::Off`], the reproduction's choice).
//!   The paper does not say which it used. Table 3's "±" is the mean over instances of
//!   each instance's std over its rounds.
//! * **Threads:** [`train()`] runs on a one-thread rayon pool it builds itself (tiny
//!   matmuls are fastest unsplit); run several trainings on several threads for more
//!   cores. The layers' forward goes through candor-core's `linear` kernel, which takes
//!   its thread count from that pool (candle's matmul would read it from the
//!   environment on every call). Nothing in this crate reads or changes the process
//!   environment.
//! * **Time limits** are truncations: the TD target bootstraps through them.
//! * **Layout:** weights are `(out, in)` as in PyTorch (candor-core's `Linear` and
//!   `ops::linear`, which read them transposed through strides without a copy).
//!
//! ## Example
//!
//! ```
//! use candor_rl_noisy::{evaluate_agent, protocol_score, train, Algo, Config};
//!
//! # fn main() -> candor_rl_noisy::Result<()> {
//! // The paper's settings for NROWAN-DQN on CartPole, shortened for the example.
//! let mut cfg = Config::paper(Algo::Nrowan, "CartPole-v0")?;
//! cfg.total_steps = 300;
//! cfg.net.hidden = 32;
//! let (agent, log) = train(&cfg, 0, &candle_core::Device::Cpu)?;
//! assert_eq!(log.steps, 300);
//! assert!(log.points.last().unwrap().sigma_out.is_some()); // mean |σ_out| = D
//!
//! let returns = evaluate_agent(&agent, "CartPole-v0", 4, 1)?;
//! let score = protocol_score(&[returns])?;
//! assert!(score.mean >= 8.0 && score.mean <= 200.0);
//!
//! // Configs come from JSON too; absent keys take the paper's value for the task.
//! let c = Config::from_json(r#"{"algo": "dqn", "env_id": "Acrobot-v1"}"#)?;
//! assert_eq!(c.optimizer.lr, 1e-3);
//! assert!(Config::from_json(r#"{"k_final": 4}"#).is_err()); // belongs under "nrowan"
//! # Ok(())
//! # }
//! ```

pub mod claims;
pub mod config;
pub mod eval;
pub mod model;
pub mod nrowan;
pub mod reproduce;
pub mod train;

pub use candor_core::{Error, Result};
pub use candor_rl::Checkpointing;
pub use config::{
    Algo, BiasSigma, Config, EpsilonConfig, NetConfig, NrowanConfig, OptimizerConfig, OptimizerKind,
};
pub use eval::{
    curve_steps, evaluate_agent, evaluate_agent_with, instance_curve, learning_curve,
    protocol_score, sigma_curve, EvalNoise, InstanceScore, ProtocolScore,
};
pub use model::agent::{argmax, Agent, UpdateStats};
pub use model::noisy::{f_noise, FactorisedNoise, NoisyLinear};
pub use model::qnet::{Dense, QNetwork};
pub use train::{
    train, train_resumable, train_resumable_with, train_with, Episode, LogPoint, TrainLog,
};
