//! Pieces shared by the RL crates' resumable trainings (issue 17, part 3): where and how
//! often to checkpoint ([`Checkpointing`]), and an env captured at an episode boundary
//! ([`EnvCheckpoint`]).
//!
//! Checkpoints are taken only at episode boundaries, right after the reset that ends an
//! episode: there an env is fully described by its simulator state and the position of
//! its reset stream ([`Env::set_state`] + [`Env::set_rng_state`], tested bit for bit on
//! every built-in env in `tests/it/env_resume.rs`). Mid-episode, `set_state` restarts a
//! [`TimeLimit`](crate::TimeLimit)'s step count and a MuJoCo simulator carries more than
//! its `qpos`/`qvel` (solver warm starts), so a restore there would not give the same
//! bits. A run that checkpoints "every N steps" saves at the first episode end at least
//! N steps after its previous save, and a crash loses at most N steps plus one episode.

use std::path::PathBuf;

use candor_core::{Error, Result, RngState};
use serde::{Deserialize, Serialize};

use crate::env::Env;

/// Where and how often a resumable training saves its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpointing {
    /// The checkpoint file (safetensors; its folder is created). It is replaced
    /// atomically at every save, so it always holds a whole checkpoint.
    pub path: PathBuf,
    /// Save at the first episode end at least this many env steps after the previous
    /// save (or the start); positive.
    pub every_steps: usize,
}

impl Checkpointing {
    /// Error on a zero period.
    pub fn validate(&self) -> Result<()> {
        if self.every_steps == 0 {
            return Err(Error::invalid(format!(
                "checkpointing to {}: every_steps must be positive",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Whether a run that last saved after `last_save` steps saves now, after `step`
    /// steps of `total`, where an episode ended at this step if `episode_ended`.
    pub fn due(&self, step: usize, last_save: usize, total: usize, episode_ended: bool) -> bool {
        episode_ended && step < total && step.saturating_sub(last_save) >= self.every_steps
    }
}

/// An env right after a reset, for a checkpoint: its simulator state and reset stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvCheckpoint {
    /// [`Env::state`].
    pub state: Vec<f64>,
    /// [`Env::rng_state`].
    pub rng: RngState,
}

impl EnvCheckpoint {
    /// Capture `env` (call it right after a reset); an error for an env that cannot
    /// report its random stream.
    pub fn capture(env: &dyn Env) -> Result<Self> {
        let rng = env.rng_state().ok_or_else(|| {
            Error::invalid(
                "the env cannot report its random stream (Env::rng_state), so its training \
                 cannot be checkpointed",
            )
        })?;
        Ok(Self {
            state: env.state(),
            rng,
        })
    }

    /// Put `env` (of the same kind) where the captured one was, and check that it then
    /// shows `obs`, the observation saved with it (bit for bit).
    pub fn restore(&self, env: &mut dyn Env, obs: &[f32]) -> Result<()> {
        let restored = env.set_state(&self.state)?;
        env.set_rng_state(&self.rng)?;
        if restored.len() != obs.len()
            || restored
                .iter()
                .zip(obs)
                .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(Error::invalid(
                "the saved simulator state gives another observation than the saved one (a \
                 checkpoint not taken at an episode boundary, or of another env)",
            ));
        }
        Ok(())
    }
}
