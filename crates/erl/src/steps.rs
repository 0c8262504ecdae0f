//! The gradient steps of the ERL and RIM learners, with their two Adams held here.
//!
//! candor-rl-ddpg's [`Ddpg`] owns the networks (π, Q, their targets); its
//! `actor_step` / `critic_step` step Adams that it keeps private, which a training
//! checkpoint of this crate could then not save. [`DdpgSteps`] runs the same steps with
//! optimisers of its own, built exactly as `Ddpg::new` builds them (same variables in
//! the same order, same settings), so the numbers are bit for bit those of `Ddpg`'s own
//! steps (a test checks it) and the optimiser state can be checkpointed
//! ([`DdpgSteps::optimisers`]). `Ddpg`'s own Adams are never stepped.

use candle_core::{DType, Tensor, Var};
use candle_nn::VarMap;
use candor_core::optim::{sorted_vars, Adam, AdamConfig, Optim};
use candor_core::{Error, Result};
use candor_rl::{Batch, UpdateInfo};
use candor_rl_ddpg::{td_target, Critic, Ddpg};

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Actor and critic Adam steps on a [`Ddpg`]'s networks (see the module docs).
pub struct DdpgSteps {
    actor_opt: Adam,
    critic_opt: Adam,
    critic_frozen: Critic,
}

impl std::fmt::Debug for DdpgSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DdpgSteps").finish_non_exhaustive()
    }
}

impl DdpgSteps {
    /// Optimisers for `ddpg`'s online actor and critic, as `Ddpg::new` builds its own:
    /// actor Adam (lr `actor_lr`), critic Adam (lr `critic_lr`, coupled L2
    /// `critic_weight_decay`). One critic, no target smoothing (ERL and RIM).
    pub fn new(ddpg: &Ddpg) -> Result<Self> {
        let cfg = ddpg.config();
        if cfg.twin_critics || cfg.policy_delay != 1 || cfg.target_noise != 0.0 {
            return Err(Error::invalid(
                "candor-erl: the ERL/RIM learner has one critic, no target smoothing and an actor step every update",
            ));
        }
        let vars =
            |vm: &VarMap| -> Vec<Var> { sorted_vars(vm).into_iter().map(|(_, v)| v).collect() };
        let [actor_vars, _, critic_vars, _] = ddpg.var_maps();
        let actor_opt = Adam::new(
            vars(actor_vars),
            AdamConfig {
                lr: cfg.actor_lr,
                ..Default::default()
            },
        )?;
        let critic_opt = Adam::new(
            vars(critic_vars),
            AdamConfig {
                lr: cfg.critic_lr,
                weight_decay: cfg.critic_weight_decay,
                ..Default::default()
            },
        )?;
        Ok(Self {
            actor_opt,
            critic_opt,
            critic_frozen: ddpg.critics()[0].frozen()?,
        })
    }

    /// One Adam step of the actor on `−mean Q(s, π(s))` through the frozen critic
    /// (`Ddpg::actor_step`); returns the loss.
    pub fn actor_step(&mut self, ddpg: &Ddpg, obs: &Tensor) -> Result<f64> {
        let a = ddpg.actor().forward(obs)?;
        let loss = self.critic_frozen.forward(obs, &a)?.mean_all()?.neg()?;
        self.actor_opt.backward_step(&loss)?;
        scalar(&loss)
    }

    /// One Adam step of the critic on `mean (Q(s, a) − y)²` (`Ddpg::critic_step`);
    /// returns the loss and the mean of `Q(s, a)`.
    pub fn critic_step(
        &mut self,
        ddpg: &Ddpg,
        obs: &Tensor,
        actions: &Tensor,
        y: &Tensor,
    ) -> Result<(f64, f64)> {
        let q = ddpg.critics()[0].forward(obs, actions)?;
        let q_mean = scalar(&q.mean_all()?)?;
        let loss = q.sub(y)?.sqr()?.mean_all()?;
        self.critic_opt.backward_step(&loss)?;
        Ok((scalar(&loss)?, q_mean))
    }

    /// ERL's DDPG update (`Ddpg`'s `Agent::update` with one critic and no smoothing):
    /// target `y = r + γ(1 − d)·Q'(s', π'(s'))`, critic step, actor step, Polyak
    /// averaging of both targets.
    pub fn erl_update(&mut self, ddpg: &mut Ddpg, batch: &Batch) -> Result<UpdateInfo> {
        let next_a = ddpg.actor_target().forward(&batch.next_obs)?;
        let next_q = ddpg.critic_targets()[0].forward(&batch.next_obs, &next_a)?;
        let y = td_target(&batch.rewards, &batch.dones, &[next_q], ddpg.config().gamma)?;
        let (critic_loss, q_mean) = self.critic_step(ddpg, &batch.obs, &batch.actions, &y)?;
        let actor_loss = self.actor_step(ddpg, &batch.obs)?;
        ddpg.update_targets()?;
        Ok(UpdateInfo {
            scalars: vec![
                ("critic_loss", critic_loss),
                ("q_mean", q_mean),
                ("actor_loss", actor_loss),
            ],
        })
    }

    /// The actor's and the critic's optimiser (for checkpoints).
    pub fn optimisers(&self) -> [&dyn Optim; 2] {
        [&self.actor_opt, &self.critic_opt]
    }

    /// The same, mutable (to restore a checkpoint).
    pub fn optimisers_mut(&mut self) -> [&mut dyn Optim; 2] {
        [&mut self.actor_opt, &mut self.critic_opt]
    }
}

/// The variables of `vm` (sorted by name) as `(prefix + name, tensor)`.
pub(crate) fn var_tensors(vm: &VarMap, prefix: &str) -> Vec<(String, Tensor)> {
    sorted_vars(vm)
        .into_iter()
        .map(|(n, v)| (format!("{prefix}{n}"), v.as_tensor().clone()))
        .collect()
}

/// Set every variable of `vm` from `tensors[prefix + name]`; nothing is set unless all
/// are present with their shapes.
pub(crate) fn set_vars(
    vm: &VarMap,
    tensors: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
) -> Result<()> {
    let vars = sorted_vars(vm);
    for (name, var) in &vars {
        let key = format!("{prefix}{name}");
        match tensors.get(&key) {
            None => {
                return Err(Error::invalid(format!(
                    "candor-erl checkpoint: no tensor {key}"
                )))
            }
            Some(t) if t.dims() != var.dims() => {
                return Err(Error::invalid(format!(
                    "candor-erl checkpoint: {key} has shape {:?}, the model {:?}",
                    t.dims(),
                    var.dims()
                )))
            }
            Some(_) => {}
        }
    }
    for (name, var) in &vars {
        let t = &tensors[&format!("{prefix}{name}")];
        var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}

/// The optimiser entries of `tensors` under `prefix`, with the prefix removed.
fn optim_entries(
    tensors: &std::collections::HashMap<String, Tensor>,
    prefix: &str,
) -> std::collections::HashMap<String, Tensor> {
    tensors
        .iter()
        .filter_map(|(k, t)| Some((k.strip_prefix(prefix)?.to_string(), t.clone())))
        .collect()
}

/// Checkpoint names of the learner's networks and optimisers (candor-core's
/// training-checkpoint layout: `model/<part>/<variable>`, `optim/<part>/<entry>`).
const PARTS: [&str; 4] = ["actor", "actor_target", "critic", "critic_target"];

impl DdpgSteps {
    /// `ddpg`'s four networks and these two optimisers as named tensors, for a training
    /// checkpoint ([`restore_checkpoint`](Self::restore_checkpoint)).
    pub fn checkpoint_tensors(&self, ddpg: &Ddpg) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (part, vm) in PARTS.iter().zip(ddpg.var_maps()) {
            out.extend(var_tensors(vm, &format!("model/{part}/")));
        }
        for (part, opt) in ["actor", "critic"].iter().zip(self.optimisers()) {
            out.extend(
                opt.state()
                    .into_iter()
                    .map(|(n, t)| (format!("optim/{part}/{n}"), t)),
            );
        }
        out
    }

    /// Put what [`checkpoint_tensors`](Self::checkpoint_tensors) saved back into `ddpg`
    /// (built with the same settings) and these optimisers.
    pub fn restore_checkpoint(
        &mut self,
        ddpg: &Ddpg,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<()> {
        for (part, vm) in PARTS.iter().zip(ddpg.var_maps()) {
            set_vars(vm, tensors, &format!("model/{part}/"))?;
        }
        for (part, opt) in ["actor", "critic"].iter().zip(self.optimisers_mut()) {
            opt.load_state(&optim_entries(tensors, &format!("optim/{part}/")))?;
        }
        Ok(())
    }
}
