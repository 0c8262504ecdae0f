//! The ERL and RIM learners' use of candor-rl-ddpg's [`Ddpg`], and its checkpoint.
//!
//! Both learners train [`Ddpg`]'s networks with its own steps (`Agent::update` for ERL,
//! `Ddpg::actor_step` / `Ddpg::critic_step` in RIM's order with its dual-policy target)
//! and its own Adams, which a training checkpoint of this crate saves in its own layout
//! ([`learner_tensors`], [`restore_learner`]; `Ddpg::optimisers`).

use std::collections::HashMap;

use candle_core::Tensor;
use candle_nn::VarMap;
use candor_core::checkpoint::set_vars_under;
use candor_core::optim::sorted_vars;
use candor_core::{Error, Result};
use candor_rl_ddpg::{Ddpg, LearnerConfig};

/// Check that `cfg` is an ERL/RIM learner: one critic, no target smoothing, an actor
/// step every update.
pub fn check_learner(cfg: &LearnerConfig) -> Result<()> {
    if cfg.twin_critics || cfg.policy_delay != 1 || cfg.target_noise != 0.0 {
        return Err(Error::invalid(
            "candor-erl: the ERL/RIM learner has one critic, no target smoothing and an actor step every update",
        ));
    }
    Ok(())
}

/// The variables of `vm` (sorted by name) as `(prefix + name, tensor)`.
pub(crate) fn var_tensors(vm: &VarMap, prefix: &str) -> Vec<(String, Tensor)> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (format!("{prefix}{n}"), v.as_tensor().clone()))
        .collect()
}

/// The optimiser entries of `tensors` under `prefix`, with the prefix removed.
fn optim_entries(tensors: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    tensors
        .iter()
        .filter_map(|(k, t)| Some((k.strip_prefix(prefix)?.to_string(), t.clone())))
        .collect()
}

/// Checkpoint names of the learner's networks and optimisers (candor-core's
/// training-checkpoint layout: `model/<part>/<variable>`, `optim/<part>/<entry>`).
const PARTS: [&str; 4] = ["actor", "actor_target", "critic", "critic_target"];

/// `ddpg`'s four networks and its two Adams as named tensors, for a training checkpoint
/// ([`restore_learner`]).
pub fn learner_tensors(ddpg: &Ddpg) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (part, vm) in PARTS.iter().zip(ddpg.var_maps()) {
        out.extend(var_tensors(vm, &format!("model/{part}/")));
    }
    for (part, opt) in ["actor", "critic"].iter().zip(ddpg.optimisers()) {
        out.extend(
            opt.state()
                .into_iter()
                .map(|(n, t)| (format!("optim/{part}/{n}"), t)),
        );
    }
    out
}

/// Put what [`learner_tensors`] saved back into `ddpg` (built with the same settings).
pub fn restore_learner(ddpg: &mut Ddpg, tensors: &HashMap<String, Tensor>) -> Result<()> {
    for (part, vm) in PARTS.iter().zip(ddpg.var_maps()) {
        set_vars_under(vm, tensors, &format!("model/{part}/"))?;
    }
    for (part, opt) in ["actor", "critic"].iter().zip(ddpg.optimisers_mut()) {
        opt.load_state(&optim_entries(tensors, &format!("optim/{part}/")))?;
    }
    Ok(())
}
