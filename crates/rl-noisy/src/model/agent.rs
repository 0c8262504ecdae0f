//! The DQN learner shared by DQN, NoisyNet-DQN and NROWAN-DQN.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use candor_core::optim::{hard_update, sorted_vars, Adam, AdamConfig, Optim, Sgd, SgdConfig};
use candor_core::{checkpoint, init, Error, Result, SeededRng};
use candor_rl::Batch;

use crate::config::{Algo, Config, OptimizerKind};
use crate::model::qnet::QNetwork;

/// The optimiser(s) of an agent (see [`OptimizerKind`]).
enum Optimiser {
    /// Adam on the TD loss; SGD (same lr) on the output σ for the k·D term.
    AdamSgdD { adam: Adam, d_sgd: Sgd },
    /// Adam on TD + k·D.
    Adam(Adam),
    /// SGD on TD + k·D.
    Sgd(Sgd),
}

/// The agent's counters and random streams in a training checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentState {
    explore_rng: candor_core::RngState,
    act_noise_rng: candor_core::RngState,
    update_noise_rng: candor_core::RngState,
    target_noise_rng: candor_core::RngState,
    updates: usize,
}

#[derive(serde::Serialize)]
struct SavedState<'a, S> {
    agent: AgentState,
    run: &'a S,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadedState<S> {
    agent: AgentState,
    run: S,
}

/// Key prefixes in a training checkpoint: the target net, the σ-SGD's state (for
/// [`OptimizerKind::AdamSgdD`]) and the caller's tensors.
const TARGET_PREFIX: &str = "agent/target/";
const D_SGD_PREFIX: &str = "agent/d_sgd/";
const RUN_PREFIX: &str = "run/";

/// What one gradient update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The TD loss `mean (Q(s,a) − y)²` before the update.
    pub td_loss: f32,
    /// The k_t used (0 for DQN and NoisyNet-DQN).
    pub k: f64,
    /// D (mean |σ| of the output layer) before the update; 0 for DQN.
    pub d: f32,
}

/// A DQN-family agent: online and target Q-networks, optimiser and the seeded random
/// streams of exploration and noise.
///
/// Random streams (all derived from the agent's seed, so a run is reproducible):
/// parameter init, ε-greedy draws (DQN), the acting noise, the online net's noise in
/// updates and the target net's noise in updates; the last three are independent, so
/// every forward pass gets fresh noise and the target's noise is independent of the
/// online net's.
pub struct Agent {
    cfg: Config,
    obs_dim: usize,
    device: Device,
    online_vm: VarMap,
    target_vm: VarMap,
    online: QNetwork,
    target: QNetwork,
    optim: Optimiser,
    explore_rng: SeededRng,
    act_noise_rng: SeededRng,
    update_noise_rng: SeededRng,
    target_noise_rng: SeededRng,
    updates: usize,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("algo", &self.cfg.algo)
            .field("env_id", &self.cfg.env_id)
            .field("obs_dim", &self.obs_dim)
            .field("n_actions", &self.online.n_actions())
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

fn stream(seed: u64, name: &str) -> SeededRng {
    SeededRng::derive(seed, &format!("candor-rl-noisy/{name}"))
}

impl Agent {
    /// A fresh agent for observations of `obs_dim` floats and `n_actions` discrete
    /// actions, its networks on `device`. The config is validated; the target starts
    /// as a copy of the online net.
    pub fn new(
        cfg: &Config,
        obs_dim: usize,
        n_actions: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        if obs_dim == 0 || n_actions == 0 {
            return Err(Error::invalid(format!(
                "Agent: need obs_dim > 0 and n_actions > 0, got {obs_dim} and {n_actions}"
            )));
        }
        let device = device.clone();
        let noisy = cfg.algo.is_noisy();
        // Each variable draws from its own stream derived from (seed, variable name).
        let init_seed = seed;
        let online_vm = VarMap::new();
        let online = QNetwork::new(
            obs_dim,
            n_actions,
            noisy,
            &cfg.net,
            init::seeded_var_builder(&online_vm, init_seed, DType::F32, &device),
        )?;
        let target_vm = VarMap::new();
        let target = QNetwork::new(
            obs_dim,
            n_actions,
            noisy,
            &cfg.net,
            init::seeded_var_builder(&target_vm, init_seed, DType::F32, &device),
        )?;
        hard_update(&target_vm, &online_vm)?;
        let vars: Vec<Var> = sorted_vars(&online_vm)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let o = &cfg.optimizer;
        let adam_cfg = AdamConfig {
            lr: o.lr,
            betas: o.betas,
            eps: o.eps,
            weight_decay: 0.0,
        };
        let sgd_cfg = SgdConfig {
            lr: o.lr,
            ..SgdConfig::default()
        };
        let optim = match o.kind {
            OptimizerKind::AdamSgdD => {
                let sigma_out: Vec<Var> = sorted_vars(&online_vm)
                    .into_iter()
                    .filter(|(n, _)| n == "head.sigma_weight" || n == "head.sigma_bias")
                    .map(|(_, v)| v)
                    .collect();
                Optimiser::AdamSgdD {
                    adam: Adam::new(vars, adam_cfg)?,
                    d_sgd: Sgd::new(sigma_out, sgd_cfg)?,
                }
            }
            OptimizerKind::Adam => Optimiser::Adam(Adam::new(vars, adam_cfg)?),
            OptimizerKind::Sgd => Optimiser::Sgd(Sgd::new(vars, sgd_cfg)?),
        };
        Ok(Self {
            cfg: cfg.clone(),
            obs_dim,
            device,
            online_vm,
            target_vm,
            online,
            target,
            optim,
            explore_rng: stream(seed, "explore"),
            act_noise_rng: stream(seed, "act-noise"),
            update_noise_rng: stream(seed, "update-noise"),
            target_noise_rng: stream(seed, "target-noise"),
            updates: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The online Q-network.
    pub fn online(&self) -> &QNetwork {
        &self.online
    }

    /// The target Q-network.
    pub fn target(&self) -> &QNetwork {
        &self.target
    }

    /// The online network's variables.
    pub fn online_varmap(&self) -> &VarMap {
        &self.online_vm
    }

    /// The target network's variables.
    pub fn target_varmap(&self) -> &VarMap {
        &self.target_vm
    }

    /// Number of gradient updates so far.
    pub fn updates(&self) -> usize {
        self.updates
    }

    /// Q-values of one observation: `Some(rng)` with fresh noise, `None` with μ only.
    pub fn q_values(&self, obs: &[f32], rng: Option<&mut SeededRng>) -> Result<Vec<f32>> {
        q_row(&self.online, self.obs_dim, &self.device, obs, rng)
    }

    /// The exploratory action of training after `step` env steps: ε-greedy with
    /// ε = `epsilon.at(step, total_steps)` for DQN; greedy on freshly perturbed
    /// Q-values for the noisy agents.
    pub fn act(&mut self, obs: &[f32], step: usize) -> Result<usize> {
        let n = self.online.n_actions();
        if self.cfg.algo.is_noisy() {
            let q = q_row(
                &self.online,
                self.obs_dim,
                &self.device,
                obs,
                Some(&mut self.act_noise_rng),
            )?;
            argmax(&q)
        } else if self.explore_rng.uniform() < self.cfg.epsilon.at(step, self.cfg.total_steps) {
            Ok(self.explore_rng.below(n))
        } else {
            argmax(&self.q_values(obs, None)?)
        }
    }

    /// The greedy action with the noise off (μ only; plain greedy for DQN).
    pub fn greedy_action(&self, obs: &[f32]) -> Result<usize> {
        argmax(&self.q_values(obs, None)?)
    }

    /// The evaluation policy with the noise off: DQN is ε-greedy with `epsilon.eval`
    /// (draws from `rng`); the noisy agents act greedily on μ (the reproduction's
    /// choice).
    pub fn eval_action(&self, obs: &[f32], rng: &mut SeededRng) -> Result<usize> {
        if !self.cfg.algo.is_noisy() && rng.uniform() < self.cfg.epsilon.eval {
            return Ok(rng.below(self.online.n_actions()));
        }
        self.greedy_action(obs)
    }

    /// The evaluation policy with the noise on: the noisy agents act greedily on
    /// Q-values perturbed by a fresh noise sample from `rng` at every step, as they act
    /// in training (the setting in which NROWAN's noise reduction can matter); DQN,
    /// which has no noise, is ε-greedy with `epsilon.eval` as in
    /// [`eval_action`](Self::eval_action).
    pub fn eval_action_noisy(&self, obs: &[f32], rng: &mut SeededRng) -> Result<usize> {
        if !self.cfg.algo.is_noisy() {
            return self.eval_action(obs, rng);
        }
        argmax(&self.q_values(obs, Some(rng))?)
    }

    /// k_t for the in-episode return `r_plus` (eq. 12); 0 unless the agent is NROWAN.
    pub fn k_weight(&self, r_plus: f64) -> f64 {
        match self.cfg.algo {
            Algo::Nrowan => self.cfg.nrowan.k(r_plus),
            _ => 0.0,
        }
    }

    /// The TD loss `mean (Q(s,a) − y)²` with `y = r + γ(1 − terminated)·max_a' Q⁻(s', a')`
    /// (fresh, independent noise for the online and the target net), and D (eq. 8) of the
    /// online output layer (`None` for DQN). Both are differentiable scalars.
    pub fn losses(&mut self, batch: &Batch) -> Result<(Tensor, Option<Tensor>)> {
        let noisy = self.cfg.algo.is_noisy();
        let q = self
            .online
            .forward(&batch.obs, noisy.then_some(&mut self.update_noise_rng))?;
        let q_sa = q.gather(&batch.actions.unsqueeze(1)?, 1)?.squeeze(1)?;
        let q_next = self
            .target
            .forward(&batch.next_obs, noisy.then_some(&mut self.target_noise_rng))?
            .max(1)?
            .detach();
        let not_done = batch.dones.affine(-1.0, 1.0)?;
        let y = batch
            .rewards
            .add(&not_done.mul(&q_next)?.affine(self.cfg.gamma, 0.0)?)?;
        let td = q_sa.sub(&y)?.sqr()?.mean_all()?;
        Ok((td, self.online.noise_d()?))
    }

    /// The NROWAN loss `TD + k·D` (just TD for DQN), from [`losses`](Self::losses).
    pub fn total_loss(&mut self, batch: &Batch, k: f64) -> Result<Tensor> {
        let (td, d) = self.losses(batch)?;
        Ok(match d {
            Some(d) if k != 0.0 => td.add(&d.affine(k, 0.0)?)?,
            _ => td,
        })
    }

    /// One gradient update on `batch` with weight `k` on D (ignored unless NROWAN).
    pub fn update(&mut self, batch: &Batch, k: f64) -> Result<UpdateStats> {
        let k = if self.cfg.algo == Algo::Nrowan {
            k
        } else {
            0.0
        };
        let (td, d) = self.losses(batch)?;
        let td_loss = td.to_scalar::<f32>()?;
        if !td_loss.is_finite() {
            return Err(Error::invalid(format!(
                "TD loss became {td_loss} after {} updates (diverged)",
                self.updates
            )));
        }
        let d_val = match &d {
            Some(d) => d.to_scalar::<f32>()?,
            None => 0.0,
        };
        let weighted_d = match d {
            Some(d) if k > 0.0 => Some(d.affine(k, 0.0)?),
            _ => None,
        };
        match &mut self.optim {
            Optimiser::AdamSgdD { adam, d_sgd } => {
                let g_td = td.backward()?;
                let g_d = weighted_d.map(|d| d.backward()).transpose()?;
                adam.step(&g_td)?;
                if let Some(g) = g_d {
                    d_sgd.step(&g)?;
                }
            }
            Optimiser::Adam(adam) => {
                let loss = match weighted_d {
                    Some(d) => td.add(&d)?,
                    None => td,
                };
                adam.backward_step(&loss)?;
            }
            Optimiser::Sgd(sgd) => {
                let loss = match weighted_d {
                    Some(d) => td.add(&d)?,
                    None => td,
                };
                sgd.backward_step(&loss)?;
            }
        }
        self.updates += 1;
        Ok(UpdateStats {
            td_loss,
            k,
            d: d_val,
        })
    }

    /// Hard copy of the online net into the target net.
    pub fn sync_target(&mut self) -> Result<()> {
        hard_update(&self.target_vm, &self.online_vm)
    }

    /// Mean |σ| of the online output layer (= D), or `None` for DQN.
    pub fn sigma_out_mean(&self) -> Result<Option<f64>> {
        Ok(match self.online.noise_d()? {
            Some(d) => Some(f64::from(d.to_scalar::<f32>()?)),
            None => None,
        })
    }

    /// Save the online network's weights (safetensors, atomic).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        checkpoint::save_varmap(&self.online_vm, path)
    }

    /// Save a resumable training checkpoint to `path` in one atomic write (candor-core's
    /// [`checkpoint::save_training_extra`]): the online net with its optimiser state
    /// (moments, step counts; the σ-SGD's too), the target net, the four random streams
    /// (ε-greedy, acting noise, the online and target nets' update noise) and the update
    /// count, beside the caller's `extra` tensors and serialisable `state`. A write that
    /// fails (disk full, read-only folder) is an error naming the file; the previous
    /// checkpoint stays.
    pub fn save_training<S: serde::Serialize>(
        &self,
        path: impl AsRef<Path>,
        extra: &[(String, Tensor)],
        state: &S,
    ) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = sorted_vars(&self.target_vm)
            .into_iter()
            .map(|(n, v)| (format!("{TARGET_PREFIX}{n}"), v.as_tensor().clone()))
            .collect();
        if let Optimiser::AdamSgdD { d_sgd, .. } = &self.optim {
            tensors.extend(
                d_sgd
                    .state()
                    .into_iter()
                    .map(|(n, t)| (format!("{D_SGD_PREFIX}{n}"), t)),
            );
        }
        tensors.extend(
            extra
                .iter()
                .map(|(n, t)| (format!("{RUN_PREFIX}{n}"), t.clone())),
        );
        let saved = SavedState {
            agent: AgentState {
                explore_rng: self.explore_rng.state(),
                act_noise_rng: self.act_noise_rng.state(),
                update_noise_rng: self.update_noise_rng.state(),
                target_noise_rng: self.target_noise_rng.state(),
                updates: self.updates,
            },
            run: state,
        };
        let main: &dyn Optim = match &self.optim {
            Optimiser::AdamSgdD { adam, .. } => adam,
            Optimiser::Adam(adam) => adam,
            Optimiser::Sgd(sgd) => sgd,
        };
        checkpoint::save_training_extra(
            path,
            &[("online", &self.online_vm, main)],
            &tensors,
            &saved,
        )
    }

    /// Continue from a checkpoint of [`save_training`](Self::save_training) in an agent
    /// built with the same config and sizes: restores both nets, the optimiser state,
    /// the random streams and the update count, and returns the caller's state and extra
    /// tensors. On an error (another architecture, a corrupt file) the agent may be
    /// partly overwritten: build a new one.
    pub fn load_training<S: serde::de::DeserializeOwned>(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<(S, HashMap<String, Tensor>)> {
        let path = path.as_ref();
        let main: &mut dyn Optim = match &mut self.optim {
            Optimiser::AdamSgdD { adam, .. } => adam,
            Optimiser::Adam(adam) => adam,
            Optimiser::Sgd(sgd) => sgd,
        };
        let (loaded, tensors): (LoadedState<S>, _) =
            checkpoint::load_training_extra(path, &mut [("online", &self.online_vm, main)])?;
        let under = |prefix: &str| -> HashMap<String, Tensor> {
            tensors
                .iter()
                .filter_map(|(k, t)| Some((k.strip_prefix(prefix)?.to_string(), t.clone())))
                .collect()
        };
        checkpoint::set_model_vars(&self.target_vm, &under(TARGET_PREFIX), path)?;
        if let Optimiser::AdamSgdD { d_sgd, .. } = &mut self.optim {
            d_sgd
                .load_state(&under(D_SGD_PREFIX))
                .map_err(|e| Error::format(path, format!("σ optimiser state: {e}")))?;
        }
        let a = loaded.agent;
        self.explore_rng = SeededRng::from_state(&a.explore_rng)?;
        self.act_noise_rng = SeededRng::from_state(&a.act_noise_rng)?;
        self.update_noise_rng = SeededRng::from_state(&a.update_noise_rng)?;
        self.target_noise_rng = SeededRng::from_state(&a.target_noise_rng)?;
        self.updates = a.updates;
        Ok((loaded.run, under(RUN_PREFIX)))
    }

    /// Load weights written by [`save`](Self::save) into the online net and copy them
    /// to the target net. The agent must have been built with the same config shape.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        checkpoint::load_varmap(&self.online_vm, path)?;
        self.sync_target()
    }
}

/// Q-values of one observation through `net`.
fn q_row(
    net: &QNetwork,
    obs_dim: usize,
    device: &Device,
    obs: &[f32],
    rng: Option<&mut SeededRng>,
) -> Result<Vec<f32>> {
    if obs.len() != obs_dim {
        return Err(Error::invalid(format!(
            "observation has {} values, the agent expects {obs_dim}",
            obs.len()
        )));
    }
    let x = Tensor::from_slice(obs, (1, obs_dim), device)?;
    Ok(net.forward(&x, rng)?.squeeze(0)?.to_vec1::<f32>()?)
}

/// Index of the largest value (the first one on ties, as `torch.argmax`); an error on
/// an empty or non-finite vector.
pub fn argmax(q: &[f32]) -> Result<usize> {
    if q.is_empty() {
        return Err(Error::invalid("argmax of no Q-values"));
    }
    if let Some(i) = q.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "Q-value {i} is {} (diverged)",
            q[i]
        )));
    }
    let mut best = 0;
    for (i, v) in q.iter().enumerate().skip(1) {
        if *v > q[best] {
            best = i;
        }
    }
    Ok(best)
}
