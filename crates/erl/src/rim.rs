//! RIM's dual-actor learner (Lü et al. 2021, Sec. 3; the reference code's `Agent` with
//! `update_with_IL`).
//!
//! The learner keeps candor-rl-ddpg's [`Ddpg`] (π_pg, the critic Q and their targets),
//! steps them with its own `actor_step` / `critic_step` and Adams (saved in this crate's
//! checkpoints through `Ddpg::optimisers`) and adds the **recruitment actor** π_ea, which no gradient trains: after
//! every gradient step it moves toward the population champion,
//! `θ_ea ← (1 − τ₀)θ_ea + τ₀θ_champ` ([`RimLearner::recruit`]; τ₀ = 1 is hard
//! recruitment).
//!
//! The **dual policy** ([`RimLearner::dual_action`]) picks per state
//! `π_rl(s) = π_pg(s)` if `Q(s, π_pg(s)) ≥ Q(s, π_ea(s))`, else `π_ea(s)`, with the
//! online critic. One [`RimLearner::update`] on a batch of 128:
//!
//! 1. actor step on `−mean Q(s, π_pg(s))` (before the critic, as the reference);
//! 2. `a' = π_rl(s')` (or `π_pg(s')` / `π_ea(s')` for RIM-PG / RIM-EA), chosen with the
//!    online π_pg, π_ea and critic;
//! 3. `y = r + γ(1 − d)·Q'(s', a')` with the target critic;
//! 4. critic step on `MSE(Q(s, a), y)` (Adam with coupled L2 0.01 through the learner's
//!    `critic_weight_decay`);
//! 5. Polyak averaging of Q' and π_pg' (τ 0.001; π_pg' is kept but unused, as in the
//!    reference).
//!
//! **Imitation** ([`RimLearner::imitate`]): the worst individual, turned into trainable
//! variables for the phase, minimises the L1 loss `mean |π_wt(s) − π_rl(s)|` (torch's
//! `L1Loss`, the mean over batch and action elements) on replay-buffer states with a
//! fresh Adam; no environment interaction.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::checkpoint::set_vars_under;
use candor_core::init::seeded_var_builder;
use candor_core::optim::{sorted_vars, Adam, AdamConfig, Optim};
use candor_core::{Error, Result, SeededRng};
use candor_rl::{Agent, Batch, ReplayBuffer, UpdateInfo};
use candor_rl_ddpg::{td_target, Actor, Critic, Ddpg, LearnerConfig, NetConfig};

use crate::config::{DualTarget, ImitationConfig};
use crate::steps::{check_learner, learner_tensors, restore_learner, var_tensors};

/// What one imitation phase did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImitationLog {
    /// Steps taken.
    pub steps: usize,
    /// L1 loss of the first and of the last step.
    pub first_loss: f64,
    pub last_loss: f64,
}

/// RIM's learner (see the module docs).
pub struct RimLearner {
    ddpg: Ddpg,
    net: NetConfig,
    obs_dim: usize,
    action_dim: usize,
    ea_vars: VarMap,
    ea: Actor,
    ea_frozen: Actor,
    ea_flat: Vec<f32>,
    pg_frozen: Actor,
    critic_frozen: Critic,
    target: DualTarget,
    recruit_tau: f64,
    batch_wide: bool,
    device: Device,
    updates: usize,
}

impl std::fmt::Debug for RimLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RimLearner")
            .field("target", &self.target)
            .field("recruit_tau", &self.recruit_tau)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl RimLearner {
    /// A learner with the given target rule, recruitment rate τ₀ ∈ (0, 1] and the
    /// reference's batch-wide comparison when `batch_wide` (see [`crate::Quirks`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &LearnerConfig,
        obs_dim: usize,
        action_dim: usize,
        target: DualTarget,
        recruit_tau: f64,
        batch_wide: bool,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if !(recruit_tau > 0.0 && recruit_tau <= 1.0) {
            return Err(Error::invalid(format!(
                "RimLearner: recruit_tau = {recruit_tau} must lie in (0, 1]"
            )));
        }
        let ddpg = Ddpg::new(cfg, obs_dim, action_dim, seed, device)?;
        check_learner(cfg)?;
        let ea_vars = VarMap::new();
        let vb = seeded_var_builder(&ea_vars, seed ^ 0x5eed_0fea, DType::F32, device);
        let ea = Actor::new(&cfg.actor, obs_dim, action_dim, vb.pp("actor_ea"))?;
        let ea_flat = ea.mlp().to_flat()?;
        let ea_frozen = ea.frozen()?;
        let pg_frozen = ddpg.actor().frozen()?;
        let critic_frozen = ddpg.critics()[0].frozen()?;
        Ok(Self {
            ddpg,
            net: cfg.actor.clone(),
            obs_dim,
            action_dim,
            ea_vars,
            ea,
            ea_frozen,
            ea_flat,
            pg_frozen,
            critic_frozen,
            target,
            recruit_tau,
            batch_wide,
            device: device.clone(),
            updates: 0,
        })
    }

    /// The DDPG part (π_pg, critic, targets).
    pub fn ddpg(&self) -> &Ddpg {
        &self.ddpg
    }

    /// The recruitment actor π_ea.
    pub fn recruit_actor(&self) -> &Actor {
        &self.ea
    }

    /// π_ea's parameters as a flat buffer.
    pub fn recruit_params(&self) -> &[f32] {
        &self.ea_flat
    }

    /// π_pg's parameters as a flat buffer (for an ERL-style copy into the population).
    pub fn pg_params(&self) -> Result<Vec<f32>> {
        self.ddpg.actor().mlp().to_flat()
    }

    /// Overwrite π_pg's parameters (e.g. to set up a test).
    pub fn set_pg_params(&self, flat: &[f32]) -> Result<()> {
        self.ddpg.actor().mlp().set_flat(flat)
    }

    /// Overwrite π_ea's parameters.
    pub fn set_recruit_params(&mut self, flat: &[f32]) -> Result<()> {
        self.ea.mlp().set_flat(flat)?;
        self.ea_flat.copy_from_slice(flat);
        Ok(())
    }

    /// The variables of π_ea (sorted by name).
    pub fn recruit_vars(&self) -> Vec<(String, Var)> {
        sorted_vars(&self.ea_vars)
    }

    /// Soft recruitment `θ_ea ← (1 − τ₀)θ_ea + τ₀θ_champ` toward `champion` (a flat
    /// actor of the same shape); τ₀ = 1 copies it exactly.
    pub fn recruit(&mut self, champion: &[f32]) -> Result<()> {
        if champion.len() != self.ea_flat.len() {
            return Err(Error::invalid(format!(
                "RimLearner::recruit: champion has {} values, π_ea {}",
                champion.len(),
                self.ea_flat.len()
            )));
        }
        let t = self.recruit_tau as f32;
        if self.recruit_tau >= 1.0 {
            self.ea_flat.copy_from_slice(champion);
        } else {
            for (e, &c) in self.ea_flat.iter_mut().zip(champion) {
                *e = (1.0 - t) * *e + t * c;
            }
        }
        self.ea.mlp().set_flat(&self.ea_flat)
    }

    /// The dual policy's actions `(B, action_dim)` at `obs` `(B, obs_dim)`, detached, and
    /// per row whether π_pg was chosen. Per-sample `Q(s, π_pg(s)) ≥ Q(s, π_ea(s))`; with
    /// the batch-wide quirk every row follows row 0's strict comparison `>`.
    pub fn dual_action(&self, obs: &Tensor) -> Result<(Tensor, Vec<bool>)> {
        let a_pg = self.pg_frozen.forward(obs)?.detach();
        let a_ea = self.ea_frozen.forward(obs)?.detach();
        let q_pg = self.critic_frozen.forward(obs, &a_pg)?.detach();
        let q_ea = self.critic_frozen.forward(obs, &a_ea)?.detach();
        let (qp, qe) = (q_pg.to_vec1::<f32>()?, q_ea.to_vec1::<f32>()?);
        let choose: Vec<bool> = if self.batch_wide {
            let first = qp.first().zip(qe.first()).is_some_and(|(p, e)| p > e);
            vec![first; qp.len()]
        } else {
            qp.iter().zip(&qe).map(|(p, e)| p >= e).collect()
        };
        let mask: Vec<u8> = choose.iter().map(|&c| u8::from(c)).collect();
        let mask = Tensor::from_vec(mask, (qp.len(), 1), obs.device())?
            .broadcast_as(a_pg.dims())?
            .contiguous()?;
        Ok((mask.where_cond(&a_pg, &a_ea)?, choose))
    }

    /// One `update_with_IL` (see the module docs): actor step, dual-policy target, critic
    /// step, Polyak averaging. Recruitment is separate ([`recruit`](Self::recruit)).
    pub fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        self.updates += 1;
        let actor_loss = self.ddpg.actor_step(&batch.obs)?;
        let next_a = self.target_policy(&batch.next_obs, self.target)?;
        let next_q = self.ddpg.critic_targets()[0].forward(&batch.next_obs, &next_a)?;
        let y = td_target(
            &batch.rewards,
            &batch.dones,
            &[next_q],
            self.ddpg.config().gamma,
        )?;
        let (critic_loss, q_mean) = self.ddpg.critic_step(&batch.obs, &batch.actions, &y)?;
        self.ddpg.update_targets()?;
        Ok(UpdateInfo {
            scalars: vec![
                ("critic_loss", critic_loss),
                ("q_mean", q_mean),
                ("actor_loss", actor_loss),
            ],
        })
    }

    /// Updates done.
    pub fn updates_done(&self) -> usize {
        self.updates
    }

    /// Everything a training checkpoint needs to continue this learner bit for bit: π_pg,
    /// Q and their targets, both Adams ([`crate::steps::learner_tensors`]) and π_ea
    /// (`model/recruit/…`). The update count travels in the caller's state.
    pub fn checkpoint_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = learner_tensors(&self.ddpg);
        out.extend(var_tensors(&self.ea_vars, "model/recruit/"));
        out
    }

    /// Put what [`checkpoint_tensors`](Self::checkpoint_tensors) saved back into this
    /// learner (built with the same settings), with `updates` updates done.
    pub fn restore_checkpoint(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        updates: usize,
    ) -> Result<()> {
        restore_learner(&mut self.ddpg, tensors)?;
        set_vars_under(&self.ea_vars, tensors, "model/recruit/")?;
        self.ea_flat = self.ea.mlp().to_flat()?;
        self.updates = updates;
        Ok(())
    }

    /// One imitation phase: `student` (a flat actor of the learner's shape) regresses on
    /// the dual policy at states sampled from `buffer`; it is overwritten with the result.
    pub fn imitate(
        &self,
        student: &mut [f32],
        buffer: &ReplayBuffer,
        cfg: &ImitationConfig,
        rng: &mut SeededRng,
    ) -> Result<ImitationLog> {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 0, DType::F32, &self.device);
        let actor = Actor::new(&self.net, self.obs_dim, self.action_dim, vb.pp("student"))?;
        actor.mlp().set_flat(student)?;
        let vars = sorted_vars(&vm).into_iter().map(|(_, v)| v).collect();
        let mut opt = Adam::new(
            vars,
            AdamConfig {
                lr: cfg.lr,
                ..Default::default()
            },
        )?;
        let mut log = ImitationLog {
            steps: 0,
            first_loss: f64::NAN,
            last_loss: f64::NAN,
        };
        for step in 0..cfg.steps {
            let b = buffer.sample_arrays(cfg.batch_size, rng)?;
            let obs = Tensor::from_vec(b.obs, (cfg.batch_size, self.obs_dim), &self.device)?;
            let loss = self.imitation_loss(&actor, &obs)?;
            opt.backward_step(&loss)?;
            let l = scalar(&loss)?;
            if step == 0 {
                log.first_loss = l;
            }
            log.last_loss = l;
            log.steps += 1;
        }
        student.copy_from_slice(&actor.mlp().to_flat()?);
        Ok(log)
    }

    /// `mean |π(s) − π_rl(s)|` over batch and action elements (differentiable in π).
    pub fn imitation_loss(&self, actor: &Actor, obs: &Tensor) -> Result<Tensor> {
        let (target, _) = self.dual_action(obs)?;
        Ok(actor.forward(obs)?.sub(&target)?.abs()?.mean_all()?)
    }

    /// The L1 gap `mean |π(s) − π_rl(s)|` of a flat actor at `obs` (no gradients).
    pub fn imitation_gap(&self, flat: &[f32], obs: &Tensor) -> Result<f64> {
        let (target, _) = self.dual_action(obs)?;
        let target = target.to_vec2::<f32>()?;
        let cfg = self.ea.mlp().config();
        let rows = obs.to_vec2::<f32>()?;
        let mut sum = 0.0;
        let mut n = 0usize;
        for (o, t) in rows.iter().zip(&target) {
            let a = cfg.forward_flat(flat, o)?;
            for (x, y) in a.iter().zip(t) {
                sum += (x - y).abs() as f64;
                n += 1;
            }
        }
        Ok(sum / n.max(1) as f64)
    }

    /// The actions of the policy a target rule bootstraps on: π_rl, π_pg or π_ea.
    fn target_policy(&self, obs: &Tensor, target: DualTarget) -> Result<Tensor> {
        match target {
            DualTarget::Dual => Ok(self.dual_action(obs)?.0),
            DualTarget::PgOnly => Ok(self.pg_frozen.forward(obs)?.detach()),
            DualTarget::EaOnly => Ok(self.ea_frozen.forward(obs)?.detach()),
        }
    }

    /// `Q(s, π(s))` per state with the online critic, π the policy of `target` (for
    /// Q-bias measurements).
    pub fn target_policy_value(&self, obs: &Tensor, target: DualTarget) -> Result<Vec<f32>> {
        let a = self.target_policy(obs, target)?;
        Ok(self.critic_frozen.forward(obs, &a)?.to_vec1::<f32>()?)
    }

    /// The action of `target`'s policy at one observation (unit box).
    pub fn target_policy_act(&self, obs: &[f32], target: DualTarget) -> Result<Vec<f32>> {
        match target {
            DualTarget::PgOnly => self.pg_frozen.act(obs),
            DualTarget::EaOnly => self.ea_frozen.act(obs),
            DualTarget::Dual => {
                let t = Tensor::from_slice(obs, (1, obs.len()), &self.device)?;
                Ok(self.dual_action(&t)?.0.flatten_all()?.to_vec1::<f32>()?)
            }
        }
    }
}

impl Agent for RimLearner {
    /// π_pg (the reference acts with π_pg only on its RL episode).
    fn act(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        self.ddpg.actor().act(obs)
    }

    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        RimLearner::update(self, batch)
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
