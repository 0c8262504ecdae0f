//! # candor-rl
//!
//! The reinforcement-learning foundation shared by the candor RL crates (DQN /
//! NoisyNet / NROWAN, DDPG / TD3 / RUD, ERL / RIM):
//!
//! | item | what |
//! |---|---|
//! | [`Env`], [`Step`], [`Space`], [`Action`] | environments with Gymnasium 1.x semantics: `reset`, `step` → (obs, reward, terminated, truncated), `set_state` / `state` |
//! | [`make`], [`Registry`], [`TimeLimit`], [`envs`] | an open registry (built-ins plus a user's own envs by name): `CartPole-v0` (200 steps), `CartPole-v1` (500), `Acrobot-v1` (500), `MountainCar-v0` (200), `MountainCarContinuous-v0` (999), `Pendulum-v1` (200); with the default `mujoco` feature `HalfCheetah-v4`, `Hopper-v4`, `Walker2d-v4`, `Ant-v4`, `Swimmer-v4` (1000) on MuJoCo 3.17.0 ([`envs::mujoco`]) |
//! | [`ReplayBuffer`] | fixed-capacity ring of `(obs, action, reward, next_obs, terminated)`, seeded uniform sampling into flat arrays or candle tensors |
//! | [`evaluate`], [`EvalHistory`], [`run_seeds`], [`random_policy_returns`] | N evaluation episodes on a separate env instance; TD3's max-average and last-10 statistics; independent seeds in parallel, one single-threaded worker per core; the uniform random policy's returns |
//! | [`runs`] | the reproduce modules' job runner: variant × task × seed runs on a chosen number of workers, each finished run cached (atomically, keyed by its config), each unfinished one handed its checkpoint path |
//! | [`OffPolicyTrainer`], [`Agent`], [`UpdateSchedule`] | the off-policy loop for continuous control ([`offpolicy`]): warm-up, [`NoiseConfig`] (Gaussian, Ornstein–Uhlenbeck), [`ActionScaler`] between `[-1, 1]` and the action box, update schedules (`Interleaved`, `Regular`, `EpisodeEnd`, `PerGeneration`), TD3 evaluation, stored simulator states, [`FreshDataUsage`] |
//!
//! ## MuJoCo: how the library is found
//!
//! The `mujoco` feature (default) builds `mujoco-rs =7.0.0` against `libmujoco.so.3.17.0`
//! from PyPI's `mujoco==3.17.0` wheel, with no manual step: candor-rl's build script
//! (via the `candor-mujoco-build` helper) fetches the wheel with `python3` (`pip
//! download`, else a direct HTTPS fetch), checks its SHA-256, and extracts the library
//! into `<target dir>/mujoco-3.17.0/`; the workspace's `.cargo/config.toml` points
//! `MUJOCO_DYNAMIC_LINK_DIR` at a committed linker-script stub that forwards there, and
//! binaries get an rpath to it. Offline, the build stops with a message naming the wheel
//! (or library) to place in that folder, or set `CANDOR_MUJOCO_LIB_DIR` to a folder
//! holding the library. A crate outside this workspace that depends on candor-rl sets
//! `MUJOCO_DYNAMIC_LINK_DIR` itself (to a folder with `libmujoco.so`, as `mujoco-rs`
//! documents) and calls `candor_mujoco_build::rpath()` from its `build.rs` or sets
//! `LD_LIBRARY_PATH`; or it disables the feature.
//!
//! ## Fidelity to Gymnasium 1.2.2
//!
//! The dynamics follow the Python source operation by operation (float64 state,
//! float32 observations; Acrobot's RK4, wrap and clamps, its float32-rounded reset
//! state and reward 0 on the terminating step; CartPole's +1 on the terminating step;
//! MountainCarContinuous's float32 state and unclipped-action cost; Pendulum's pre-step
//! cost with a floored modulo). `tests/it/golden.rs` replays trajectories recorded from
//! `gymnasium==1.2.2` (`tools/record_gym_trajectories.py`) through
//! [`Env::set_state`].
//!
//! The MuJoCo tasks replay Gymnasium 1.2.2 + mujoco 3.17.0 trajectories **bit for bit**
//! (`tests/it/golden_mujoco.rs`: qpos, qvel, rewards and flags, including Hopper's and
//! Walker2d's unhealthy terminations), and their random-policy returns match Gymnasium's.
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

pub mod action;
pub mod buffer;
pub mod env;
pub mod envs;
pub mod eval;
pub mod noise;
pub mod offpolicy;
pub mod resume;
pub mod rollout;
pub mod runs;
pub mod space;

pub use action::{clip_unit, ActionScaler};

pub use buffer::{Batch, BatchArrays, ReplayBuffer};
pub use candor_core::{Error, Result};
pub use env::{
    make, BoxedEnv, Env, EnvFactory, EnvSpec, Registry, Step, TimeLimit, ENV_IDS, MUJOCO_ENV_IDS,
};
pub use eval::{evaluate, evaluate_env, random_policy_returns, run_seeds, EvalHistory};
pub use noise::{Noise, NoiseConfig, NoiseState};
pub use offpolicy::{
    discounted_return, expected_fresh_samples_block, expected_fresh_samples_interleaved, Agent,
    EpisodeRecord, FreshDataUsage, OffPolicyConfig, OffPolicyTrainer, StepEvent, TrainerSnapshot,
    TrainerState, UpdateInfo, UpdateSchedule,
};
pub use resume::{Checkpointing, EnvCheckpoint};
pub use space::{Action, Space};
