//! The deterministic actor-critic learner behind every preset: DDPG (Lillicrap et al.
//! 2016), TD3 (Fujimoto et al. 2018) and RUD (Han et al. 2021) differ only in the
//! switches of [`LearnerConfig`] and in the loop's schedule.
//!
//! One [`Ddpg::update`] on a batch `(s, a, r, s', d)` (`d` = terminated, never a
//! truncation), in the order of TD3's Algorithm 1 / CleanRL's `td3_continuous_action.py`:
//!
//! 1. **target** ([`Ddpg::target`]): `a' = π'(s')`, with target-policy smoothing
//!    `a' = clip(π'(s') + clip(ε, −c, c), −1, 1)`, `ε ~ N(0, σ)` (TD3 eq. 14);
//!    `y = r + γ(1 − d)·Q'(s', a')`, or with clipped double Q
//!    `y = r + γ(1 − d)·min(Q'₁, Q'₂)(s', a')` (TD3 eq. 10) — [`td_target`];
//! 2. **critic step** ([`Ddpg::critic_step`]): Adam on `Σᵢ mean (Qᵢ(s, a) − y)²` (one
//!    term per critic; coupled L2 through the optimiser's weight decay);
//! 3. every `policy_delay`-th update, **actor step** ([`Ddpg::actor_step`]): Adam on
//!    `−mean Q₁(s, π(s))` (DDPG's deterministic policy gradient, Silver et al. 2014),
//!    the critic frozen;
//! 4. then **Polyak averaging** ([`Ddpg::update_targets`]): `θ' ← τθ + (1 − τ)θ'` for the
//!    target actor and critics.
//!
//! Each step is a public method, so a learner with another target or order (RIM's
//! dual-policy target, actor before critic) reuses them: compute its own `y`, then
//! call `critic_step(obs, actions, &y)`, `actor_step(obs)` and `update_targets()` in its
//! own order.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::checkpoint::{load_training_extra, save_training_extra, set_model_vars};
use candor_core::init::seeded_var_builder;
use candor_core::optim::{hard_update, soft_update, sorted_vars, Adam, AdamConfig, Optim};
use candor_core::{Error, Result, SeededRng};
use candor_rl::{Agent, Batch, UpdateInfo};

use crate::config::LearnerConfig;
use crate::model::{Actor, Critic};

/// The learner's counters and smoothing-noise stream in a checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DdpgState {
    noise_rng: candor_core::RngState,
    updates: usize,
    actor_updates: usize,
    update_seconds: f64,
}

#[derive(serde::Serialize)]
struct SavedState<'a, S> {
    agent: DdpgState,
    run: &'a S,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadedState<S> {
    agent: DdpgState,
    run: S,
}

/// Key prefixes of the target networks and of the caller's tensors in a checkpoint.
const TARGET_ACTOR: &str = "agent/actor_target/";
const TARGET_CRITIC: &str = "agent/critic_target/";
const RUN_PREFIX: &str = "run/";

/// The TD target `y = r + γ(1 − d)·minᵢ q'ᵢ` (the minimum over one or two target
/// critics' values, TD3 eq. 10; a single critic gives DDPG's target). All inputs are
/// `(B,)`; `dones` holds 1.0 for terminated transitions (truncations are 0).
///
/// ```
/// use candle_core::{Device, Tensor};
/// let dev = Device::Cpu;
/// let r = Tensor::new(&[1f32, 0.5], &dev).unwrap();
/// let d = Tensor::new(&[0f32, 1.0], &dev).unwrap();
/// let q1 = Tensor::new(&[10f32, 4.0], &dev).unwrap();
/// let q2 = Tensor::new(&[8f32, 6.0], &dev).unwrap();
/// let y = candor_rl_ddpg::td_target(&r, &d, &[q1, q2], 0.9).unwrap();
/// // 1 + 0.9·min(10, 8) = 8.2; terminated: 0.5
/// assert_eq!(y.to_vec1::<f32>().unwrap(), vec![8.2, 0.5]);
/// ```
pub fn td_target(
    rewards: &Tensor,
    dones: &Tensor,
    next_q: &[Tensor],
    gamma: f64,
) -> Result<Tensor> {
    let Some(first) = next_q.first() else {
        return Err(Error::invalid("td_target: no target critic values"));
    };
    let mut q = first.clone();
    for other in &next_q[1..] {
        q = q.minimum(other)?;
    }
    if q.dims() != rewards.dims() || dones.dims() != rewards.dims() {
        return Err(Error::invalid(format!(
            "td_target: rewards {:?}, dones {:?} and target values {:?} must have one shape",
            rewards.dims(),
            dones.dims(),
            q.dims()
        )));
    }
    // (1 − d)·γ·q
    let bootstrap = dones.affine(-gamma, gamma)?.mul(&q)?;
    Ok(rewards.add(&bootstrap)?.detach())
}

/// Target-policy smoothing (TD3 eq. 14): `clip(a' + clip(ε, −c, c), −1, 1)` for target
/// actions `a'` and pre-drawn noise `ε` of the same shape, in unit-box units.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let dev = Device::Cpu;
/// let a = Tensor::new(&[[0.9f32, 0.0, -0.2]], &dev).unwrap();
/// let eps = Tensor::new(&[[0.3f32, 0.7, -0.1]], &dev).unwrap();
/// let s = candor_rl_ddpg::smoothed_target_action(&a, &eps, 0.5).unwrap();
/// assert_eq!(s.to_vec2::<f32>().unwrap(), vec![vec![1.0, 0.5, -0.3]]);
/// ```
pub fn smoothed_target_action(actions: &Tensor, noise: &Tensor, clip: f64) -> Result<Tensor> {
    if actions.dims() != noise.dims() {
        return Err(Error::invalid(format!(
            "smoothed_target_action: actions {:?} and noise {:?} differ in shape",
            actions.dims(),
            noise.dims()
        )));
    }
    let eps = noise.clamp(-clip, clip)?;
    Ok(actions.add(&eps)?.clamp(-1.0, 1.0)?)
}

/// Scalar of a one-element tensor.
fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The learner: actor, one or two critics, their target copies and two Adam optimisers
/// (see the module docs). It is a [`candor_rl::Agent`]: the loop calls
/// [`Agent::update`] as its schedule says.
pub struct Ddpg {
    cfg: LearnerConfig,
    device: Device,
    actor_vars: VarMap,
    actor_target_vars: VarMap,
    critic_vars: VarMap,
    critic_target_vars: VarMap,
    actor: Actor,
    actor_target: Actor,
    critics: Vec<Critic>,
    critics_frozen: Vec<Critic>,
    critic_targets: Vec<Critic>,
    actor_opt: Adam,
    critic_opt: Adam,
    noise_rng: SeededRng,
    updates: usize,
    actor_updates: usize,
    update_time: Duration,
}

impl std::fmt::Debug for Ddpg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ddpg")
            .field("cfg", &self.cfg)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

impl Ddpg {
    /// A learner for `obs_dim` observations and `action_dim` actions on `device`, every
    /// parameter and the smoothing noise drawn from `seed`. Target networks start as
    /// copies of the online ones.
    pub fn new(
        cfg: &LearnerConfig,
        obs_dim: usize,
        action_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        if obs_dim == 0 || action_dim == 0 {
            return Err(Error::invalid(format!(
                "Ddpg: obs_dim = {obs_dim} and action_dim = {action_dim} must be positive"
            )));
        }
        let n_critics = if cfg.twin_critics { 2 } else { 1 };
        let build_actor = |vm: &VarMap| {
            let vb = seeded_var_builder(vm, seed, DType::F32, device);
            Actor::new(&cfg.actor, obs_dim, action_dim, vb.pp("actor"))
        };
        let build_critics = |vm: &VarMap| -> Result<Vec<Critic>> {
            let vb = seeded_var_builder(vm, seed, DType::F32, device);
            (1..=n_critics)
                .map(|i| {
                    Critic::new(
                        &cfg.critic,
                        cfg.action_input,
                        obs_dim,
                        action_dim,
                        vb.pp(format!("critic{i}")),
                    )
                })
                .collect()
        };
        let actor_vars = VarMap::new();
        let actor = build_actor(&actor_vars)?;
        let actor_target_vars = VarMap::new();
        let actor_target = build_actor(&actor_target_vars)?.frozen()?;
        hard_update(&actor_target_vars, &actor_vars)?;
        let critic_vars = VarMap::new();
        let critics = build_critics(&critic_vars)?;
        let critic_target_vars = VarMap::new();
        let critic_targets = build_critics(&critic_target_vars)?
            .iter()
            .map(Critic::frozen)
            .collect::<Result<Vec<_>>>()?;
        hard_update(&critic_target_vars, &critic_vars)?;
        let critics_frozen = critics.iter().map(Critic::frozen).collect::<Result<_>>()?;
        let vars =
            |vm: &VarMap| -> Vec<Var> { sorted_vars(vm).into_iter().map(|(_, v)| v).collect() };
        let actor_opt = Adam::new(
            vars(&actor_vars),
            AdamConfig {
                lr: cfg.actor_lr,
                ..Default::default()
            },
        )?;
        let critic_opt = Adam::new(
            vars(&critic_vars),
            AdamConfig {
                lr: cfg.critic_lr,
                weight_decay: cfg.critic_weight_decay,
                ..Default::default()
            },
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            device: device.clone(),
            actor_vars,
            actor_target_vars,
            critic_vars,
            critic_target_vars,
            actor,
            actor_target,
            critics,
            critics_frozen,
            critic_targets,
            actor_opt,
            critic_opt,
            noise_rng: SeededRng::derive(seed, "rl-ddpg/target-smoothing"),
            updates: 0,
            actor_updates: 0,
            update_time: Duration::ZERO,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LearnerConfig {
        &self.cfg
    }

    /// The online actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The online critics (one, or two with clipped double Q).
    pub fn critics(&self) -> &[Critic] {
        &self.critics
    }

    /// The target actor (a frozen view).
    pub fn actor_target(&self) -> &Actor {
        &self.actor_target
    }

    /// The target critics (frozen views).
    pub fn critic_targets(&self) -> &[Critic] {
        &self.critic_targets
    }

    /// The variables: online actor, target actor, online critics, target critics.
    pub fn var_maps(&self) -> [&VarMap; 4] {
        [
            &self.actor_vars,
            &self.actor_target_vars,
            &self.critic_vars,
            &self.critic_target_vars,
        ]
    }

    /// Updates run, and of those the ones that stepped the actor.
    pub fn updates_done(&self) -> (usize, usize) {
        (self.updates, self.actor_updates)
    }

    /// Wall time spent inside [`Agent::update`].
    pub fn update_time(&self) -> Duration {
        self.update_time
    }

    /// `Q₁(s, π(s))`: the first critic's estimate of the current deterministic policy's
    /// value at each state of `obs` `(B, obs_dim)` (no gradients).
    pub fn policy_value(&self, obs: &Tensor) -> Result<Vec<f32>> {
        let a = self.actor.frozen()?.forward(obs)?;
        Ok(self.critics_frozen[0].forward(obs, &a)?.to_vec1::<f32>()?)
    }

    /// Step 1: the TD target `y` `(B,)` for a batch (see the module docs), detached.
    pub fn target(&mut self, batch: &Batch) -> Result<Tensor> {
        let mut next_action = self.actor_target.forward(&batch.next_obs)?;
        if self.cfg.target_noise > 0.0 {
            let noise = self.noise_rng.normal_tensor(
                0.0,
                self.cfg.target_noise,
                next_action.dims(),
                DType::F32,
                &self.device,
            )?;
            next_action = smoothed_target_action(&next_action, &noise, self.cfg.target_noise_clip)?;
        }
        let next_q = self
            .critic_targets
            .iter()
            .map(|q| q.forward(&batch.next_obs, &next_action))
            .collect::<Result<Vec<_>>>()?;
        td_target(&batch.rewards, &batch.dones, &next_q, self.cfg.gamma)
    }

    /// Step 2: one Adam step of every critic on `Σᵢ mean (Qᵢ(s, a) − y)²`; returns the
    /// loss and the mean of `Q₁(s, a)`.
    pub fn critic_step(
        &mut self,
        obs: &Tensor,
        actions: &Tensor,
        y: &Tensor,
    ) -> Result<(f64, f64)> {
        let mut loss: Option<Tensor> = None;
        let mut q1_mean = 0.0;
        for (i, critic) in self.critics.iter().enumerate() {
            let q = critic.forward(obs, actions)?;
            if i == 0 {
                q1_mean = scalar(&q.mean_all()?)?;
            }
            let mse = q.sub(y)?.sqr()?.mean_all()?;
            loss = Some(match loss {
                Some(l) => l.add(&mse)?,
                None => mse,
            });
        }
        let loss = loss.ok_or_else(|| Error::invalid("critic_step: no critic"))?;
        self.critic_opt.backward_step(&loss)?;
        Ok((scalar(&loss)?, q1_mean))
    }

    /// Step 3: one Adam step of the actor on `−mean Q₁(s, π(s))` through the frozen
    /// first critic; returns the loss.
    pub fn actor_step(&mut self, obs: &Tensor) -> Result<f64> {
        let a = self.actor.forward(obs)?;
        let loss = self.critics_frozen[0].forward(obs, &a)?.mean_all()?.neg()?;
        self.actor_opt.backward_step(&loss)?;
        self.actor_updates += 1;
        scalar(&loss)
    }

    /// Step 4: Polyak averaging of the target actor and critics with τ.
    pub fn update_targets(&mut self) -> Result<()> {
        soft_update(&self.actor_target_vars, &self.actor_vars, self.cfg.tau)?;
        soft_update(&self.critic_target_vars, &self.critic_vars, self.cfg.tau)
    }

    /// The online actor's and critics' Adams, `[actor, critic]`: for a caller that
    /// saves them in a checkpoint of its own layout (candor-erl's learners) instead of
    /// [`save_training`](Self::save_training)'s.
    pub fn optimisers(&self) -> [&dyn Optim; 2] {
        [&self.actor_opt, &self.critic_opt]
    }

    /// The same, mutable (to restore such a checkpoint).
    pub fn optimisers_mut(&mut self) -> [&mut dyn Optim; 2] {
        [&mut self.actor_opt, &mut self.critic_opt]
    }

    /// Save a resumable training checkpoint to `path` in one atomic write (candor-core's
    /// [`save_training_extra`]): the online actor and critics with their Adam moments
    /// and step counts, the target networks, the smoothing-noise stream and the update
    /// counters, beside the caller's `extra` tensors and serialisable `state` (the
    /// loop's, e.g. a [`candor_rl::TrainerSnapshot`]). A write that fails (disk full,
    /// read-only folder) is an error naming the file; the previous checkpoint stays.
    pub fn save_training<S: serde::Serialize>(
        &self,
        path: impl AsRef<Path>,
        extra: &[(String, Tensor)],
        state: &S,
    ) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (prefix, vm) in [
            (TARGET_ACTOR, &self.actor_target_vars),
            (TARGET_CRITIC, &self.critic_target_vars),
        ] {
            tensors.extend(
                sorted_vars(vm)
                    .into_iter()
                    .map(|(n, v)| (format!("{prefix}{n}"), v.as_tensor().clone())),
            );
        }
        tensors.extend(
            extra
                .iter()
                .map(|(n, t)| (format!("{RUN_PREFIX}{n}"), t.clone())),
        );
        let saved = SavedState {
            agent: DdpgState {
                noise_rng: self.noise_rng.state(),
                updates: self.updates,
                actor_updates: self.actor_updates,
                update_seconds: self.update_time.as_secs_f64(),
            },
            run: state,
        };
        save_training_extra(
            path,
            &[
                ("actor", &self.actor_vars, &self.actor_opt),
                ("critic", &self.critic_vars, &self.critic_opt),
            ],
            &tensors,
            &saved,
        )
    }

    /// Continue from a checkpoint of [`save_training`](Self::save_training) in a
    /// learner built with the same config and sizes: restores every network, both
    /// optimisers, the smoothing-noise stream and the counters, and returns the caller's
    /// state and extra tensors. On an error (another architecture, a corrupt file) the
    /// learner may be partly overwritten: build a new one.
    pub fn load_training<S: serde::de::DeserializeOwned>(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<(S, HashMap<String, Tensor>)> {
        let path = path.as_ref();
        let (loaded, tensors): (LoadedState<S>, _) = load_training_extra(
            path,
            &mut [
                ("actor", &self.actor_vars, &mut self.actor_opt),
                ("critic", &self.critic_vars, &mut self.critic_opt),
            ],
        )?;
        let under = |prefix: &str| -> HashMap<String, Tensor> {
            tensors
                .iter()
                .filter_map(|(k, t)| Some((k.strip_prefix(prefix)?.to_string(), t.clone())))
                .collect()
        };
        set_model_vars(&self.actor_target_vars, &under(TARGET_ACTOR), path)?;
        set_model_vars(&self.critic_target_vars, &under(TARGET_CRITIC), path)?;
        let a = loaded.agent;
        self.noise_rng = SeededRng::from_state(&a.noise_rng)?;
        self.updates = a.updates;
        self.actor_updates = a.actor_updates;
        self.update_time = Duration::try_from_secs_f64(a.update_seconds).unwrap_or_default();
        Ok((loaded.run, under(RUN_PREFIX)))
    }
}

impl Agent for Ddpg {
    fn act(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        self.actor.act(obs)
    }

    fn update(&mut self, batch: &Batch) -> Result<UpdateInfo> {
        let start = Instant::now();
        self.updates += 1;
        // 1. target y = r + γ(1 − d)·minᵢ Q'ᵢ(s', π'(s') [+ clipped noise])
        let y = self.target(batch)?;
        // 2. critic step(s) on the MSE to y
        let (critic_loss, q_mean) = self.critic_step(&batch.obs, &batch.actions, &y)?;
        let mut scalars = vec![("critic_loss", critic_loss), ("q_mean", q_mean)];
        // 3–4. delayed actor step, then Polyak averaging of the targets
        if self.updates.is_multiple_of(self.cfg.policy_delay) {
            let actor_loss = self.actor_step(&batch.obs)?;
            self.update_targets()?;
            scalars.push(("actor_loss", actor_loss));
        }
        self.update_time += start.elapsed();
        Ok(UpdateInfo { scalars })
    }

    fn device(&self) -> &Device {
        &self.device
    }
}
