//! # candor-rl
//!
//! The reinforcement-learning foundation shared by the candor RL crates (DQN /
//! NoisyNet / NROWAN, DDPG / TD3 / RUD, ERL / RIM):
//!
//! | item | what |
//! |---|---|
//! | [`Env`], [`Step`], [`Space`], [`Action`] | environments with Gymnasium 1.x semantics: `reset`, `step` → (obs, reward, terminated, truncated), `set_state` / `state` |
//! | [`make`], [`TimeLimit`], [`envs`] | `CartPole-v0` (200 steps), `CartPole-v1` (500), `Acrobot-v1` (500), `MountainCar-v0` (200), `MountainCarContinuous-v0` (999), `Pendulum-v1` (200) |
//! | [`ReplayBuffer`] | fixed-capacity ring of `(obs, action, reward, next_obs, terminated)`, seeded uniform sampling into flat arrays or candle tensors |
//! | [`evaluate`], [`run_seeds`] | N evaluation episodes on a separate env instance; independent seeds in parallel, one thread each |
//!
//! ## Fidelity to Gymnasium 1.2.2
//!
//! The dynamics follow the Python source operation by operation (float64 state,
//! float32 observations; Acrobot's RK4, wrap and clamps, its float32-rounded reset
//! state and reward 0 on the terminating step; CartPole's +1 on the terminating step;
//! MountainCarContinuous's float32 state and unclipped-action cost; Pendulum's pre-step
//! cost with a floored modulo). `tests/golden.rs` replays trajectories recorded from
//! `gymnasium==1.2.2` (`tools/record_gym_trajectories.py`) through
//! [`Env::set_state`].
//!
//! Known differences:
//! * **Reset streams.** `reset(Some(seed))` draws from the same distributions as
//!   Gymnasium but with candor's [`SeededRng`](candor_core::SeededRng), not numpy's
//!   PCG64, so a seed gives a different initial state than in Python. An env that was
//!   never seeded behaves as if seeded with 0 (Gymnasium would use OS entropy).
//! * **Misuse is an error.** Stepping before the first reset, after termination or after
//!   truncation, or with a malformed action (index out of range, wrong length, NaN or
//!   infinite, wrong kind) returns `Err`; Gymnasium asserts, warns or returns undefined
//!   values.
//! * **Both flags at the limit.** As in Gymnasium, a step that terminates exactly at
//!   the time limit is reported with `terminated` *and* `truncated` set.
//! * Only the single-env API is provided (no vector envs / autoreset).
//!
//! ## Example
//!
//! ```
//! use candle_core::Device;
//! use candor_core::SeededRng;
//! use candor_rl::{make, Action, Env, ReplayBuffer};
//!
//! # fn main() -> candor_core::Result<()> {
//! let mut env = make("CartPole-v1")?;
//! let mut rng = SeededRng::new(0);
//! let mut buffer = ReplayBuffer::for_env(10_000, env.as_ref())?;
//! let mut obs = env.reset(Some(0));
//! for _ in 0..100 {
//!     let action = env.action_space().sample(&mut rng)?;
//!     let step = env.step(&action)?;
//!     // Store `terminated`, not `truncated`: bootstrap through time limits.
//!     buffer.push(&obs, &action, step.reward, &step.obs, step.terminated)?;
//!     obs = if step.done() { env.reset(None) } else { step.obs };
//! }
//! let batch = buffer.sample(32, &mut rng, &Device::Cpu)?;
//! assert_eq!(batch.obs.dims(), &[32, 4]);
//!
//! // Replay a state recorded from Python (`env.unwrapped.state`).
//! let obs = env.set_state(&[0.01, 0.0, 0.02, 0.0])?;
//! assert_eq!(obs, vec![0.01, 0.0, 0.02, 0.0]);
//! let step = env.step(&Action::Discrete(1))?;
//! assert_eq!((step.reward, step.terminated, step.truncated), (1.0, false, false));
//! assert!(env.step(&Action::Discrete(2)).is_err()); // CartPole has actions 0 and 1
//!
//! // Evaluate a fixed policy on a fresh env instance.
//! let mut policy = |o: &[f32]| Ok(Action::Discrete(usize::from(o[2] + 0.5 * o[3] > 0.0)));
//! let returns = candor_rl::evaluate("CartPole-v0", &mut policy, 5, 123)?;
//! assert_eq!(returns.len(), 5);
//! # Ok(())
//! # }
//! ```

pub mod buffer;
pub mod env;
pub mod envs;
pub mod eval;
pub mod rollout;
pub mod space;

pub use buffer::{Batch, BatchArrays, ReplayBuffer};
pub use candor_core::{Error, Result};
pub use env::{make, Env, Step, TimeLimit, ENV_IDS};
pub use eval::{evaluate, evaluate_env, run_seeds};
pub use space::{Action, Space};
