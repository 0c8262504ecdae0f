//! The agents' settings: what one update does ([`LearnerConfig`]), the networks
//! ([`NetConfig`]), the loop around it ([`OffPolicyConfig`] from candor-rl), the Q-bias
//! measurement ([`QBiasConfig`]), and the six [`Preset`]s, each a documented set of
//! switches.
//!
//! | preset | networks | lr actor / critic | batch | τ | critic | actor | schedule | noise |
//! |---|---|---|---|---|---|---|---|---|
//! | `ddpg` | 400-300, action at the input | 1e-3 / 1e-3 | 100 | 0.005 | one | every update | `Interleaved` | N(0, 0.1) |
//! | `ddpg-original` | 400-300, action at the 2nd layer | 1e-4 / 1e-3, critic L2 1e-2 | 64 | 0.001 | one | every update | `Interleaved` | OU(θ 0.15, σ 0.2) |
//! | `rud` | as `ddpg` | | | | one | every update | `Regular { 100, 100 }` | N(0, 0.1) |
//! | `rud-cdq` | as `ddpg` | | | | twin, min target (CDQ) | every update | `Regular { 100, 100 }` | N(0, 0.1) |
//! | `td3` | as `ddpg` | | | | twin, min target | every 2nd, smoothing N(0, 0.2) clipped ±0.5 | `Interleaved` | N(0, 0.1) |
//! | `td3-2018` | as `td3` | | | | | | `EpisodeEnd`, updates from the first episode's end | N(0, 0.1) |
//!
//! Shared by all: γ 0.99, Adam (PyTorch's, L2 coupled where set), PyTorch's default
//! initialisation, ReLU hidden layers and a tanh actor output in the unit box, replay of
//! 10⁶ transitions, uniform random actions for the first 10,000 steps on HalfCheetah and
//! Ant and 1,000 on every other task (TD3's `run_experiments.sh`), evaluation of 10
//! noise-free episodes every 5000 steps; a time-limit truncation is never terminal (the
//! loop stores `terminated` only).
//!
//! Sources and choices:
//! * `ddpg` is the TD3 paper's re-tuned "Our DDPG" (`OurDDPG.py` at sfujim/TD3 commit
//!   bc98e62, 2018) but with one update per env step (`Interleaved`, as the current
//!   `main.py` calls `train` every step) instead of 2018's updates at episode end: the
//!   "traditional procedure" RUD is compared against. Updates start once the warm-up is
//!   over (current `main.py`).
//! * `ddpg-original` follows sfujim's `DDPG.py` (Lillicrap et al. 2016 hyper-parameters:
//!   the action enters the critic after its first hidden layer, critic weight decay 1e-2
//!   as `torch.optim.Adam(weight_decay=1e-2)`, i.e. coupled L2, batch 64, τ 0.001) with
//!   Lillicrap's Ornstein–Uhlenbeck exploration. Initialisation is PyTorch's default as in
//!   `DDPG.py`, not Lillicrap's `U(±3e-3)` output layers (set
//!   [`NetConfig::output_init`] for those).
//! * `rud` is exactly `ddpg` with the block schedule: collect N = 100 steps, then N
//!   updates (the card's inference from the abstract; N fixed before any run). `rud-cdq`
//!   adds clipped double Q only (twin critics, the minimum in the target, both trained on
//!   it), so "RUD + CDQ" and TD3 differ in schedule, actor delay and target smoothing.
//! * `td3` is `ddpg` with TD3's three changes (twin critics with the clipped target,
//!   actor and target updates every 2nd update, target-policy smoothing), interleaved.
//! * `td3-2018` is the setting of the TD3 paper's published learning curves (2018
//!   `main.py`/`TD3.py`): updates run after each episode, as many as it had steps, from
//!   the end of the first episode on (even during the random warm-up). The 2018 code
//!   restarts its delay counter at each episode; here it runs on across episodes (the
//!   same on 1000-step episodes).

use candor_core::init::LayerInit;
use candor_core::nn::{Activation, MlpConfig};
use candor_core::{Error, Result};
use candor_rl::{NoiseConfig, OffPolicyConfig, UpdateSchedule};
use serde::{Deserialize, Serialize};

/// Where the action enters the critic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ActionInput {
    /// `Q(s, a) = MLP([s, a])` (TD3, "Our DDPG", the RUD card).
    #[default]
    First,
    /// `h = act(W₁s + b₁)`, then `Q = MLP([h, a])` (Lillicrap et al.; sfujim's `DDPG.py`).
    Second,
}

/// One network's shape: hidden sizes, hidden activation, optional LayerNorm and the
/// initialisation. The actor adds a tanh output, the critic a linear one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Hidden layer sizes (400-300 in the TD3 paper).
    pub hidden: Vec<usize>,
    /// After every hidden layer (ReLU; ERL uses tanh or ELU).
    pub activation: Activation,
    /// A LayerNorm after every hidden `Linear` (ERL's actor).
    pub layer_norm: bool,
    /// Initialisation of every layer (PyTorch's default).
    pub init: LayerInit,
    /// Initialisation of the output layer when it differs (Lillicrap: `U(±3e-3)`).
    pub output_init: Option<LayerInit>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            hidden: vec![400, 300],
            activation: Activation::Relu,
            layer_norm: false,
            init: LayerInit::TORCH,
            output_init: None,
        }
    }
}

impl NetConfig {
    /// `hidden` layers with the other defaults.
    pub fn with_hidden(hidden: &[usize]) -> Self {
        Self {
            hidden: hidden.to_vec(),
            ..Self::default()
        }
    }

    /// The MLP from `inputs` through the hidden layers to `outputs`.
    pub fn mlp(&self, inputs: usize, outputs: usize, output: Activation) -> MlpConfig {
        let mut sizes = vec![inputs];
        sizes.extend(&self.hidden);
        sizes.push(outputs);
        let mut cfg = MlpConfig::new(&sizes)
            .with_activation(self.activation)
            .with_output_activation(output)
            .with_init(self.init);
        if self.layer_norm {
            cfg = cfg.with_layer_norm(1e-5);
        }
        if let Some(o) = self.output_init {
            cfg = cfg.with_output_init(o);
        }
        cfg
    }

    /// Error on an empty or zero hidden size, or a bad activation / initialisation.
    pub fn validate(&self, what: &str) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::invalid(format!(
                "{what}: hidden sizes must be non-empty and positive, got {:?}",
                self.hidden
            )));
        }
        self.mlp(1, 1, Activation::Identity).validate()
    }
}

/// What one update does (the learner's switches). [`Default`] is the `ddpg` preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnerConfig {
    /// The actor π(s) (tanh output in `[-1, 1]^d`).
    pub actor: NetConfig,
    /// Each critic Q(s, a).
    pub critic: NetConfig,
    /// Where the action enters the critic.
    pub action_input: ActionInput,
    /// Adam learning rate of the actor.
    pub actor_lr: f64,
    /// Adam learning rate of the critic(s).
    pub critic_lr: f64,
    /// L2 penalty on the critic, coupled (`torch.optim.Adam(weight_decay=…)`).
    pub critic_weight_decay: f64,
    /// Discount γ.
    pub gamma: f64,
    /// Polyak rate τ of the target networks: `θ' ← τθ + (1 − τ)θ'`.
    pub tau: f64,
    /// Clipped double Q: twin critics, the target takes the smaller of the two target
    /// critics' values (TD3 eq. 10); both critics regress on that target.
    pub twin_critics: bool,
    /// The actor and the target networks are updated every `policy_delay`-th update (1:
    /// every update; TD3: 2).
    pub policy_delay: usize,
    /// Target-policy smoothing: the target action is `clip(π'(s') + clip(ε, ±c), −1, 1)`
    /// with `ε ~ N(0, σ)`, σ this value in unit-box units (0: off; TD3: 0.2).
    pub target_noise: f64,
    /// The clip `c` of the smoothing noise (TD3: 0.5).
    pub target_noise_clip: f64,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            actor: NetConfig::default(),
            critic: NetConfig::default(),
            action_input: ActionInput::First,
            actor_lr: 1e-3,
            critic_lr: 1e-3,
            critic_weight_decay: 0.0,
            gamma: 0.99,
            tau: 0.005,
            twin_critics: false,
            policy_delay: 1,
            target_noise: 0.0,
            target_noise_clip: 0.5,
        }
    }
}

impl LearnerConfig {
    /// Error on settings no update can run with.
    pub fn validate(&self) -> Result<()> {
        self.actor.validate("actor")?;
        self.critic.validate("critic")?;
        let finite_nonneg = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "LearnerConfig: {name} = {v} must be finite and ≥ 0"
                )))
            }
        };
        finite_nonneg("actor_lr", self.actor_lr)?;
        finite_nonneg("critic_lr", self.critic_lr)?;
        finite_nonneg("critic_weight_decay", self.critic_weight_decay)?;
        finite_nonneg("target_noise", self.target_noise)?;
        finite_nonneg("target_noise_clip", self.target_noise_clip)?;
        if !(0.0..1.0).contains(&self.gamma) {
            return Err(Error::invalid(format!(
                "LearnerConfig: gamma = {} must lie in [0, 1)",
                self.gamma
            )));
        }
        if !(0.0..=1.0).contains(&self.tau) {
            return Err(Error::invalid(format!(
                "LearnerConfig: tau = {} must lie in [0, 1]",
                self.tau
            )));
        }
        if self.policy_delay == 0 {
            return Err(Error::invalid(
                "LearnerConfig: policy_delay must be at least 1",
            ));
        }
        if self.action_input == ActionInput::Second && self.critic.hidden.len() < 2 {
            return Err(Error::invalid(
                "LearnerConfig: the action can enter at the second layer only with two or more critic hidden layers",
            ));
        }
        Ok(())
    }
}

/// The Q-bias measurement (`rl-rud.md`, "analytical experiments"): every `every` env
/// steps, `states` replay transitions are drawn at random; at each, the critic's
/// `Q₁(s, π(s))` is compared with the Monte-Carlo discounted return of the current
/// deterministic policy from the simulator state saved with the transition, rolled out
/// without the time limit until the discount `γʰ` falls below `tail` (or the task
/// terminates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QBiasConfig {
    /// Measure every this many env steps (after the warm-up).
    pub every: usize,
    /// Replay states per measurement.
    pub states: usize,
    /// Stop a rollout when `γʰ < tail` (1e-3: 688 steps at γ = 0.99).
    pub tail: f64,
}

impl Default for QBiasConfig {
    fn default() -> Self {
        Self {
            every: 5000,
            states: 50,
            tail: 1e-3,
        }
    }
}

impl QBiasConfig {
    /// Error on a zero period or state count or a tail outside (0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.every == 0 || self.states < 2 {
            return Err(Error::invalid(format!(
                "QBiasConfig: every = {} must be positive and states = {} at least 2",
                self.every, self.states
            )));
        }
        if !(self.tail > 0.0 && self.tail < 1.0) {
            return Err(Error::invalid(format!(
                "QBiasConfig: tail = {} must lie in (0, 1)",
                self.tail
            )));
        }
        Ok(())
    }
}

/// A whole training run: learner, loop and instrumentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What one update does.
    pub learner: LearnerConfig,
    /// The off-policy loop (env, budget, batch, schedule, noise, warm-up, evaluation).
    pub train: OffPolicyConfig,
    /// Q-bias measurements (`None`: off; they store the simulator state with every
    /// transition).
    pub q_bias: Option<QBiasConfig>,
}

impl Config {
    /// The preset's settings on `env_id`, 1M steps.
    pub fn preset(preset: Preset, env_id: &str) -> Self {
        let warmup = default_warmup(env_id);
        let mut learner = LearnerConfig::default();
        let mut train = OffPolicyConfig {
            env_id: env_id.to_string(),
            total_steps: 1_000_000,
            warmup_steps: warmup,
            learning_starts: warmup,
            batch_size: 100,
            buffer_capacity: 1_000_000,
            schedule: UpdateSchedule::Interleaved,
            noise: NoiseConfig::Gaussian { sigma: 0.1 },
            eval_every: 5000,
            eval_episodes: 10,
            store_states: false,
            fresh_usage_cycle: None,
        };
        let rud = UpdateSchedule::Regular {
            interval: RUD_N,
            updates: RUD_N,
        };
        let td3 = |l: &mut LearnerConfig| {
            l.twin_critics = true;
            l.policy_delay = 2;
            l.target_noise = 0.2;
            l.target_noise_clip = 0.5;
        };
        match preset {
            Preset::Ddpg => {}
            Preset::DdpgOriginal => {
                learner.action_input = ActionInput::Second;
                learner.actor_lr = 1e-4;
                learner.critic_lr = 1e-3;
                learner.critic_weight_decay = 1e-2;
                learner.tau = 0.001;
                train.batch_size = 64;
                train.noise = NoiseConfig::OrnsteinUhlenbeck {
                    theta: 0.15,
                    sigma: 0.2,
                    mu: 0.0,
                    dt: 1.0,
                    scale: 1.0,
                };
            }
            Preset::Rud => train.schedule = rud,
            Preset::RudCdq => {
                train.schedule = rud;
                learner.twin_critics = true;
            }
            Preset::Td3 => td3(&mut learner),
            Preset::Td3_2018 => {
                td3(&mut learner);
                train.schedule = UpdateSchedule::EpisodeEnd;
                train.learning_starts = 0;
            }
        }
        Self {
            learner,
            train,
            q_bias: None,
        }
    }

    /// Error on settings the run cannot use.
    pub fn validate(&self) -> Result<()> {
        self.learner.validate()?;
        self.train.validate()?;
        if let Some(q) = &self.q_bias {
            q.validate()?;
            if !self.train.store_states {
                return Err(Error::invalid(
                    "Config: q_bias needs train.store_states = true (rollouts start from saved simulator states)",
                ));
            }
        }
        Ok(())
    }

    /// Turn the Q-bias measurement on (and the state storage it needs).
    pub fn with_q_bias(mut self, q: QBiasConfig) -> Self {
        self.train.store_states = true;
        self.q_bias = Some(q);
        self
    }

    /// Parse a JSON config (unknown keys are errors).
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("rl-ddpg config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// RUD's block length N (= updates per block), fixed before any run: the middle of the
/// card's grid {1, 50, 100, 1000}.
pub const RUD_N: usize = 100;

/// Uniform-random warm-up steps: 10,000 on HalfCheetah and Ant, 1,000 elsewhere (TD3's
/// `run_experiments.sh`, 2018).
pub fn default_warmup(env_id: &str) -> usize {
    if env_id.starts_with("HalfCheetah") || env_id.starts_with("Ant") {
        10_000
    } else {
        1_000
    }
}

/// The named agents (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Preset {
    #[serde(rename = "ddpg")]
    Ddpg,
    #[serde(rename = "ddpg-original")]
    DdpgOriginal,
    #[serde(rename = "rud")]
    Rud,
    #[serde(rename = "rud-cdq")]
    RudCdq,
    #[serde(rename = "td3")]
    Td3,
    #[serde(rename = "td3-2018")]
    Td3_2018,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 6] = [
        Preset::Ddpg,
        Preset::DdpgOriginal,
        Preset::Rud,
        Preset::RudCdq,
        Preset::Td3,
        Preset::Td3_2018,
    ];

    /// The preset's name (`ddpg`, `ddpg-original`, `rud`, `rud-cdq`, `td3`, `td3-2018`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Ddpg => "ddpg",
            Preset::DdpgOriginal => "ddpg-original",
            Preset::Rud => "rud",
            Preset::RudCdq => "rud-cdq",
            Preset::Td3 => "td3",
            Preset::Td3_2018 => "td3-2018",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown preset '{s}'; known: {}",
                    Preset::ALL.map(Preset::name).join(", ")
                ))
            })
    }
}
