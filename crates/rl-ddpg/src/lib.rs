//! # candor-rl-ddpg
//!
//! DDPG, TD3 and **RUD** — "Regularly Updated Deterministic Policy Gradient Algorithm"
//! (Han, Zhou, Lü, Yu; *Knowledge-Based Systems* 214, 2021; arXiv 2007.00169) — on
//! candle, with the paper's analytical instrumentation (Q-estimate bias and variance
//! against Monte-Carlo returns, fresh-data usage).
//!
//! RUD changes *when* a DDPG-style agent trains: instead of one gradient step after every
//! env step, it alternates blocks of N env steps with blocks of N updates. No code was
//! published; the block schedule is the card's reading of the abstract
//! (`shared/papers/rl-rud.md`) and is one setting of candor-rl's
//! [`UpdateSchedule`](candor_rl::UpdateSchedule), so other readings are a config change.
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`Preset`]s (`ddpg`, `ddpg-original`, `rud`, `rud-cdq`, `td3`, `td3-2018`), each a documented set of switches of [`LearnerConfig`] and the loop's [`OffPolicyConfig`](candor_rl::OffPolicyConfig) |
//! | [`model`] | [`Actor`] (tanh MLP in the unit box) and [`Critic`] (action at the first or second layer) on candor-core's `nn::Mlp`, with frozen views |
//! | [`learner`] | [`Ddpg`]: target ([`td_target`], [`smoothed_target_action`]), critic step, delayed actor step, Polyak averaging, each reusable |
//! | [`qbias`] | Q-estimate bias/variance against discounted Monte-Carlo returns from saved simulator states |
//! | [`train`](mod@train) | one run of a [`Config`]: evaluations, Q-bias points, fresh-data usage, update throughput |
//! | [`reproduce`] | `cargo xtask reproduce --paper rl-ddpg`: learning curves, the claims |
//!
//! The off-policy loop itself (warm-up, exploration noise, action scaling, schedules,
//! the TD3 evaluation protocol, stored simulator states, fresh-data counts) is
//! candor-rl's [`OffPolicyTrainer`](candor_rl::OffPolicyTrainer); this crate adds the
//! learner and the experiments. Truncation is never terminal: the loop stores
//! `terminated` only and the target bootstraps through time limits.
//!
//! ## Fidelity
//!
//! * The networks, optimiser settings and targets follow sfujim/TD3 (`TD3.py`,
//!   `OurDDPG.py`, `DDPG.py` and the 2018 `main.py`); see [`config`] for each preset's
//!   sources and the choices made where the RUD paper is silent (N = 100, CDQ as a
//!   separate switch).
//! * Adam is PyTorch's (candor-core's `optim::Adam`, coupled L2 for `ddpg-original`'s
//!   critic); initialisation is PyTorch's default, drawn from seeded streams.
//! * Tasks are Gymnasium v4 (candor-rl's MuJoCo envs); the TD3 paper used gym -v1.
//!
//! ## Example
//!
//! ```
//! use candle_core::Device;
//! use candor_rl_ddpg::{train, Config, Preset};
//!
//! # fn main() -> candor_core::Result<()> {
//! let mut cfg = Config::preset(Preset::Td3, "Pendulum-v1");
//! cfg.learner.actor.hidden = vec![32, 32]; // small, for a doctest
//! cfg.learner.critic.hidden = vec![32, 32];
//! cfg.train.total_steps = 400;
//! cfg.train.warmup_steps = 200;
//! cfg.train.learning_starts = 200;
//! cfg.train.eval_every = 200;
//! cfg.train.eval_episodes = 1;
//! let (mut agent, log) = train(&cfg, 0, &Device::Cpu)?;
//! assert_eq!(log.steps, 400);
//! assert_eq!(log.updates, 200); // one per step after the warm-up
//! assert_eq!(log.history.len(), 3); // before training, at 200 and at 400 steps
//! let action = candor_rl::Agent::act(&mut agent, &[1.0, 0.0, 0.0])?;
//! assert!(action[0].abs() <= 1.0); // unit box; the loop maps it to Pendulum's ±2
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod learner;
pub mod model;
pub mod qbias;
pub mod reproduce;
pub mod train;

pub use candor_rl::Checkpointing;
pub use config::{
    default_warmup, ActionInput, Config, LearnerConfig, NetConfig, Preset, QBiasConfig, RUD_N,
};
pub use learner::{smoothed_target_action, td_target, Ddpg};
pub use model::{Actor, Critic};
pub use qbias::{q_bias_at_states, QBiasPoint};
pub use train::{train, train_in, train_resumable, FreshSummary, RunLog};
