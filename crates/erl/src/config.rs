//! The settings of one ERL / RIM run: the algorithm ([`Algorithm`] and its named
//! [`Variant`]s), the population and SSNE ([`SsneConfig`]), the learner (candor-rl-ddpg's
//! [`LearnerConfig`]), imitation ([`ImitationConfig`]), the reference code's quirks
//! ([`Quirks`]) and the per-task presets ([`TaskPreset`]).
//!
//! [`Config::preset`] gives the reference code's defaults (the card's table): γ 0.99,
//! batch 128, replay 10⁶, actor / critic lr 5e-5 / 5e-4 (Adam), critic **coupled** L2
//! 0.01, τ = τ₀ = 0.001, actor 400-400 ReLU + tanh, critic 300-300 ReLU on `[s, a]`,
//! Xavier-uniform weights with PyTorch's default biases, population 10, mutation
//! probability 0.9, 10,000 uniform random warm-up frames, one update per frame collected
//! in the generation, imitation with L1 for 30,000 steps of batch 32 and a fresh Adam
//! (lr 1e-3) per phase, and the per-task values of [`TaskPreset`].

use candor_core::init::LayerInit;
use candor_core::nn::Activation;
use candor_core::{Error, Result};
use candor_rl::NoiseConfig;
use candor_rl_ddpg::{ActionInput, LearnerConfig, NetConfig};
use serde::{Deserialize, Serialize};

/// The tasks the presets know (the RIM paper's four, ERL's Ant and Reacher, and the
/// classic-control Pendulum for tests).
pub const KNOWN_TASKS: [&str; 6] = [
    "HalfCheetah-v4",
    "Hopper-v4",
    "Walker2d-v4",
    "Swimmer-v4",
    "Ant-v4",
    "Pendulum-v1",
];

/// Per-task settings from the reference code's comments (RIM) and ERL's `run_erl.py`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TaskPreset {
    /// Fraction of the population kept as elites: Hopper, Ant 0.3; Reacher, Walker2d 0.2;
    /// others 0.1.
    pub elite_fraction: f64,
    /// Episodes per fitness evaluation: Hopper, Reacher 5; Walker2d 3; others 1.
    pub num_evals: usize,
    /// RIM's `synch_period` (in RL episodes): Ant, Hopper 2; others 10.
    pub synch_period: usize,
    /// ERL's `synch_period`: Hopper 1 (the issue; ERL's `run_erl.py`), others 10.
    pub erl_synch_period: usize,
    /// The frame budget of the reference runs (`max_frame` 1e6; ERL: Hopper 4M,
    /// Ant 6M, Walker2d 8M, others 2M).
    pub frames: usize,
}

impl TaskPreset {
    /// The preset of a Gymnasium id (`Hopper-v4`, …); an unknown id is an error listing
    /// the known ones.
    pub fn for_task(env_id: &str) -> Result<Self> {
        if !KNOWN_TASKS.contains(&env_id) {
            return Err(Error::invalid(format!(
                "candor-erl: unknown task '{env_id}'; presets exist for {}",
                KNOWN_TASKS.join(", ")
            )));
        }
        let base = env_id.split('-').next().unwrap_or(env_id);
        Ok(Self {
            elite_fraction: match base {
                "Hopper" | "Ant" => 0.3,
                "Walker2d" | "Reacher" => 0.2,
                _ => 0.1,
            },
            num_evals: match base {
                "Hopper" | "Reacher" => 5,
                "Walker2d" => 3,
                _ => 1,
            },
            synch_period: match base {
                "Hopper" | "Ant" => 2,
                _ => 10,
            },
            erl_synch_period: if base == "Hopper" { 1 } else { 10 },
            frames: 1_000_000,
        })
    }
}

/// Which actions the critic's bootstrap target uses (RIM's ablations RIM-EA / RIM-PG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DualTarget {
    /// `π_rl(s')`: per state, whichever of `π_pg(s')`, `π_ea(s')` the online critic
    /// values higher (RIM).
    Dual,
    /// `π_ea(s')` only (RIM-EA).
    EaOnly,
    /// `π_pg(s')` only (RIM-PG).
    PgOnly,
}

/// How information flows from the RL agent back to the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    /// The reference: on every `synch_period`-th RL episode the worst individual imitates
    /// the dual policy; on the others it is overwritten by a copy of `π_pg`.
    ImitateOrCopy,
    /// RIM-IL as the reference code reads without its imitation branch (the default
    /// of [`Variant::RimIl`]): nothing on the imitation episodes, the copy of `π_pg` on
    /// the others. With `synch_period` 1 every RL episode is an imitation episode, so
    /// nothing ever reaches the population and the champion scores are EA's, bit for
    /// bit (the quick scale's case).
    CopyOnly,
    /// ERL-style copying instead of imitation: a copy of `π_pg` on every RL episode.
    CopyAlways,
    /// RIM-IL as the paper describes RIM (imitation *instead of* ERL's injection, no
    /// copying): without imitation nothing flows from the learner to the population,
    /// whatever `synch_period`. The champion score is then EA's, bit for bit, since
    /// the population never sees the learner; kept as the switch for that reading.
    NoTransfer,
}

/// The algorithm of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Algorithm {
    /// The population alone (SSNE), no gradient learner.
    Ea,
    /// DDPG alone, on the same harness: no population; each generation is one RL episode
    /// with OU noise (stored) followed by one update per frame of it and the test
    /// episodes of the noise-free actor.
    Ddpg,
    /// ERL (Khadka & Tumer 2018): a DDPG learner (target actor in the target, critic
    /// step before actor step, exploration noise on its episode), its actor copied into
    /// the worst slot on every `synch_period`-th synchronisation.
    Erl,
    /// RIM: the dual-actor learner, soft recruitment, imitation.
    Rim {
        /// The critic target's actions.
        target: DualTarget,
        /// Recruitment rate τ₀ (`θ_ea ← (1 − τ₀)θ_ea + τ₀θ_champ` after every gradient
        /// step); 1.0 is hard recruitment (a copy).
        recruit_tau: f64,
        /// How the population receives the learner's policy.
        transfer: Transfer,
    },
}

/// The named variants of the paper's tables and ablations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Variant {
    Ea,
    /// DDPG alone (RIM's networks, ERL's OU noise).
    Ddpg,
    Erl,
    /// ERL with ERL's own networks (actor 128-128 LayerNorm + tanh, critic 200-300 ELU).
    ErlNets,
    Rim,
    /// RIM without imitation ([`Transfer::CopyOnly`]: the reference code without its
    /// imitation branch; [`Transfer::NoTransfer`] is the switch for the paper's reading,
    /// see the crate docs).
    RimIl,
    /// RIM with the `π_ea`-only target.
    RimEa,
    /// RIM with the `π_pg`-only target.
    RimPg,
    /// RIM with hard recruitment (τ₀ = 1).
    RimHard,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 9] = [
        Variant::Ea,
        Variant::Ddpg,
        Variant::Erl,
        Variant::ErlNets,
        Variant::Rim,
        Variant::RimIl,
        Variant::RimEa,
        Variant::RimPg,
        Variant::RimHard,
    ];

    /// The table name (`rim-il`, …).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Ea => "ea",
            Variant::Ddpg => "ddpg",
            Variant::Erl => "erl",
            Variant::ErlNets => "erl-nets",
            Variant::Rim => "rim",
            Variant::RimIl => "rim-il",
            Variant::RimEa => "rim-ea",
            Variant::RimPg => "rim-pg",
            Variant::RimHard => "rim-hard",
        }
    }

    /// The variant of a name; an unknown name is an error.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "candor-erl: unknown variant '{name}'; known: {}",
                    Self::ALL.map(|v| v.name()).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// SSNE's operators (ERL's `mod_neuro_evo.py`, RIM's `evolution.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsneConfig {
    /// Fraction of the population kept as elites, `e = max(1, ⌊K·f⌋)`.
    pub elite_fraction: f64,
    /// Probability of crossover between two tournament-selected offspring (0.0; the
    /// crossover of unselected slots always happens).
    pub crossover_prob: f64,
    /// Probability that a non-elite slot is mutated (0.9).
    pub mutation_prob: f64,
    /// At most `⌈frac·n⌉` entries of a mutated weight matrix change (0.1).
    pub mutation_frac: f64,
    /// Normal mutation `w += N(0, (s·w)²)` with s = 0.1.
    pub mutation_strength: f64,
    /// Super mutation `w += N(0, (s·w)²)` with s = 10, probability 0.05.
    pub super_mutation_strength: f64,
    /// Probability of a super mutation (0.05).
    pub super_mutation_prob: f64,
    /// Probability of a reset `w ~ N(0, 1)` (0.05).
    pub reset_prob: f64,
    /// Every mutated weight is clipped to `±clip` (1e6).
    pub weight_clip: f64,
    /// Tournament size (3).
    pub tournament_size: usize,
}

impl Default for SsneConfig {
    fn default() -> Self {
        Self {
            elite_fraction: 0.1,
            crossover_prob: 0.0,
            mutation_prob: 0.9,
            mutation_frac: 0.1,
            mutation_strength: 0.1,
            super_mutation_strength: 10.0,
            super_mutation_prob: 0.05,
            reset_prob: 0.05,
            weight_clip: 1e6,
            tournament_size: 3,
        }
    }
}

impl SsneConfig {
    /// Error on probabilities outside `[0, 1]` or a zero tournament.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("elite_fraction", self.elite_fraction),
            ("crossover_prob", self.crossover_prob),
            ("mutation_prob", self.mutation_prob),
            ("mutation_frac", self.mutation_frac),
            ("super_mutation_prob", self.super_mutation_prob),
            ("reset_prob", self.reset_prob),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::invalid(format!(
                    "SsneConfig: {name} = {v} must lie in [0, 1]"
                )));
            }
        }
        if self.super_mutation_prob + self.reset_prob > 1.0 {
            return Err(Error::invalid(
                "SsneConfig: super_mutation_prob + reset_prob must not exceed 1",
            ));
        }
        for (name, v) in [
            ("mutation_strength", self.mutation_strength),
            ("super_mutation_strength", self.super_mutation_strength),
            ("weight_clip", self.weight_clip),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(format!(
                    "SsneConfig: {name} = {v} must be finite and ≥ 0"
                )));
            }
        }
        if self.tournament_size == 0 {
            return Err(Error::invalid("SsneConfig: tournament_size must be ≥ 1"));
        }
        Ok(())
    }
}

/// The imitation phase: the worst individual regresses onto the dual policy `π_rl` on
/// replay-buffer states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImitationConfig {
    /// Gradient steps per phase (the reference's hard-coded `epoch_size` 30,000; its loop
    /// runs 30,001).
    pub steps: usize,
    /// States per step (32).
    pub batch_size: usize,
    /// Learning rate of the fresh Adam of each phase (1e-3).
    pub lr: f64,
}

impl Default for ImitationConfig {
    fn default() -> Self {
        Self {
            steps: 30_000,
            batch_size: 32,
            lr: 1e-3,
        }
    }
}

/// The reference code's quirks, each a switch: `true` reproduces the reference, `false`
/// is the fixed behaviour (see the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quirks {
    /// `get_batch_action` compares `q_pi[0] > q_IL[0]`: the whole batch follows the actor
    /// that wins on the first sample. Default `false` (the paper's per-state max).
    pub batch_wide_comparison: bool,
    /// `champ` and `worst` are taken before the SSNE epoch, which clones and mutates in
    /// place: recruitment tracks the (mutated) old champion slot and transfer may
    /// overwrite an elite clone. Fixed: recruit from the preserved elite copy and
    /// transfer into the lowest-ranked slot that holds no elite clone. Default `true`.
    pub stale_indices: bool,
    /// Gym's `TimeLimit` `done` is stored as terminal. Fixed: a truncation is not
    /// terminal. Default `true`.
    pub truncation_terminal: bool,
    /// ERL synchronises when `num_games % synch_period == 0`, `num_games` counting every
    /// stored episode (population and RL); fixed: every `synch_period`-th generation.
    /// Default `true`.
    pub erl_sync_on_games: bool,
    /// The champion test episodes (and DDPG's test episodes) are not counted as frames.
    /// Fixed: their steps count toward the frame budget (they are never stored).
    /// Default `true`.
    pub uncounted_test_frames: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            batch_wide_comparison: false,
            stale_indices: true,
            truncation_terminal: true,
            erl_sync_on_games: true,
            uncounted_test_frames: true,
        }
    }
}

/// One run's settings. [`Config::preset`] builds the reference's; [`Config::tiny`] a
/// seconds-long one for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A candor-rl id with a box action space.
    pub env_id: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Population size K (10).
    pub pop_size: usize,
    /// SSNE's operators.
    pub ssne: SsneConfig,
    /// Episodes per fitness evaluation.
    pub num_evals: usize,
    /// RL episodes between imitation phases (RIM) or synchronisations (ERL).
    pub synch_period: usize,
    /// Gradient updates per frame collected in the generation (`update_frc`, 1).
    pub updates_per_frame: f64,
    /// Uniform random actions while fewer frames than this have been collected (10,000).
    pub warmup_frames: usize,
    /// Updates start once the buffer holds more than this many transitions (5·batch).
    pub learning_starts: usize,
    /// Stop after the generation during which this many frames were reached.
    pub max_frames: usize,
    /// Noise-free episodes of the champion per generation (5; not stored, not counted).
    pub champion_test_episodes: usize,
    /// The gradient learner (networks, lrs, γ, τ, coupled L2). The population actors
    /// share `learner.actor`'s shape.
    pub learner: LearnerConfig,
    /// Transitions per update batch (128).
    pub batch_size: usize,
    /// Replay capacity (10⁶).
    pub buffer_capacity: usize,
    /// Exploration noise on the RL episode (RIM: none; ERL and DDPG: OU, scale 0.3).
    pub rl_noise: NoiseConfig,
    /// The imitation phase.
    pub imitation: ImitationConfig,
    /// The reference code's quirks.
    pub quirks: Quirks,
    /// Population rollout workers (0: one per core). The result does not depend on it.
    pub threads: usize,
    /// At the end of a run with a learner, measure the critic's bias against
    /// Monte-Carlo returns at this many simulator states sampled uniformly (reservoir)
    /// from every stored transition (0: off).
    #[serde(default)]
    pub q_bias_states: usize,
}

/// RIM's learner: actor 400-400 ReLU + tanh, critic 300-300 ReLU on `[s, a]`,
/// Xavier-uniform weights, lr 5e-5 / 5e-4, coupled L2 0.01 on the critic, τ 0.001.
pub fn rim_learner() -> LearnerConfig {
    let net = |hidden: &[usize]| NetConfig {
        hidden: hidden.to_vec(),
        activation: Activation::Relu,
        layer_norm: false,
        init: LayerInit::xavier_uniform(),
        output_init: None,
    };
    LearnerConfig {
        actor: net(&[400, 400]),
        critic: net(&[300, 300]),
        action_input: ActionInput::First,
        actor_lr: 5e-5,
        critic_lr: 5e-4,
        critic_weight_decay: 0.01,
        gamma: 0.99,
        tau: 0.001,
        twin_critics: false,
        policy_delay: 1,
        target_noise: 0.0,
        target_noise_clip: 0.5,
    }
}

/// ERL's own networks (commit 6019399 `core/ddpg.py`): actor 128-128 with LayerNorm and
/// tanh, critic 200-300 with ELU (the state and action enter together here), no critic
/// L2, lr 5e-5 / 5e-4, τ 0.001.
pub fn erl_learner() -> LearnerConfig {
    LearnerConfig {
        actor: NetConfig {
            hidden: vec![128, 128],
            activation: Activation::Tanh,
            layer_norm: true,
            init: LayerInit::xavier_uniform(),
            output_init: None,
        },
        critic: NetConfig {
            hidden: vec![200, 300],
            activation: Activation::Elu(1.0),
            layer_norm: false,
            init: LayerInit::xavier_uniform(),
            output_init: None,
        },
        critic_weight_decay: 0.0,
        ..rim_learner()
    }
}

/// ERL's OU exploration noise: θ 0.15, σ 0.2, scale 0.3.
pub fn erl_noise() -> NoiseConfig {
    NoiseConfig::OrnsteinUhlenbeck {
        theta: 0.15,
        sigma: 0.2,
        mu: 0.0,
        dt: 1.0,
        scale: 0.3,
    }
}

impl Config {
    /// The reference settings of `variant` on `env_id` (an unknown task is an error).
    /// All variants share RIM's networks except [`Variant::ErlNets`].
    pub fn preset(variant: Variant, env_id: &str) -> Result<Self> {
        let task = TaskPreset::for_task(env_id)?;
        let rim = |target, recruit_tau, transfer| Algorithm::Rim {
            target,
            recruit_tau,
            transfer,
        };
        let algorithm = match variant {
            Variant::Ea => Algorithm::Ea,
            Variant::Ddpg => Algorithm::Ddpg,
            Variant::Erl | Variant::ErlNets => Algorithm::Erl,
            Variant::Rim => rim(DualTarget::Dual, 0.001, Transfer::ImitateOrCopy),
            Variant::RimIl => rim(DualTarget::Dual, 0.001, Transfer::CopyOnly),
            Variant::RimEa => rim(DualTarget::EaOnly, 0.001, Transfer::ImitateOrCopy),
            Variant::RimPg => rim(DualTarget::PgOnly, 0.001, Transfer::ImitateOrCopy),
            Variant::RimHard => rim(DualTarget::Dual, 1.0, Transfer::ImitateOrCopy),
        };
        let is_erl = matches!(algorithm, Algorithm::Erl);
        let ou_noise = matches!(algorithm, Algorithm::Erl | Algorithm::Ddpg);
        Ok(Self {
            env_id: env_id.to_string(),
            algorithm,
            pop_size: 10,
            ssne: SsneConfig {
                elite_fraction: task.elite_fraction,
                ..SsneConfig::default()
            },
            num_evals: task.num_evals,
            synch_period: if is_erl {
                task.erl_synch_period
            } else {
                task.synch_period
            },
            updates_per_frame: 1.0,
            warmup_frames: 10_000,
            learning_starts: 5 * 128,
            max_frames: task.frames,
            champion_test_episodes: 5,
            learner: if variant == Variant::ErlNets {
                erl_learner()
            } else {
                rim_learner()
            },
            batch_size: 128,
            buffer_capacity: 1_000_000,
            rl_noise: if ou_noise {
                erl_noise()
            } else {
                NoiseConfig::None
            },
            imitation: ImitationConfig::default(),
            quirks: Quirks::default(),
            threads: 0,
            q_bias_states: 0,
        })
    }

    /// A seconds-long config for tests: population 6, 32-32 networks, batch 32, 200
    /// warm-up frames, imitation of 200 steps, 1 test episode.
    pub fn tiny(variant: Variant, env_id: &str) -> Result<Self> {
        let mut cfg = Self::preset(variant, env_id)?;
        cfg.pop_size = 6;
        cfg.num_evals = 1;
        cfg.learner.actor.hidden = vec![32, 32];
        cfg.learner.critic.hidden = vec![32, 32];
        cfg.batch_size = 32;
        cfg.learning_starts = 5 * 32;
        cfg.warmup_frames = 200;
        cfg.max_frames = 2000;
        cfg.champion_test_episodes = 1;
        cfg.imitation.steps = 200;
        cfg.buffer_capacity = 100_000;
        Ok(cfg)
    }

    /// Number of elites `e = max(1, ⌊K·elite_fraction⌋)`.
    pub fn num_elites(&self) -> usize {
        ((self.pop_size as f64 * self.ssne.elite_fraction).floor() as usize).max(1)
    }

    /// Error on settings no run can use: population 0, an elite fraction outside
    /// `[0, 1]`, zero episodes or periods, a bad learner, an unknown task.
    pub fn validate(&self) -> Result<()> {
        if self.pop_size == 0 {
            return Err(Error::invalid(
                "candor-erl: pop_size must be ≥ 1 (the population is empty)",
            ));
        }
        if !(0.0..=1.0).contains(&self.ssne.elite_fraction) {
            return Err(Error::invalid(format!(
                "candor-erl: elite_fraction = {} must lie in [0, 1]",
                self.ssne.elite_fraction
            )));
        }
        self.ssne.validate()?;
        if self.num_elites() > self.pop_size {
            return Err(Error::invalid(format!(
                "candor-erl: {} elites for a population of {}",
                self.num_elites(),
                self.pop_size
            )));
        }
        if self.num_evals == 0 || self.synch_period == 0 {
            return Err(Error::invalid(
                "candor-erl: num_evals and synch_period must be ≥ 1",
            ));
        }
        if !(self.updates_per_frame.is_finite() && self.updates_per_frame >= 0.0) {
            return Err(Error::invalid(format!(
                "candor-erl: updates_per_frame = {} must be finite and ≥ 0",
                self.updates_per_frame
            )));
        }
        if self.batch_size == 0 || self.batch_size > self.buffer_capacity {
            return Err(Error::invalid(format!(
                "candor-erl: batch_size {} must be in 1..={} (buffer_capacity)",
                self.batch_size, self.buffer_capacity
            )));
        }
        if self.max_frames == 0 {
            return Err(Error::invalid("candor-erl: max_frames must be ≥ 1"));
        }
        if let Algorithm::Rim { recruit_tau, .. } = self.algorithm {
            if !(recruit_tau > 0.0 && recruit_tau <= 1.0) {
                return Err(Error::invalid(format!(
                    "candor-erl: recruit_tau = {recruit_tau} must lie in (0, 1]"
                )));
            }
            if self.imitation.steps > 0 && self.imitation.batch_size == 0 {
                return Err(Error::invalid(
                    "candor-erl: imitation batch_size must be ≥ 1",
                ));
            }
        }
        if !(self.imitation.lr.is_finite() && self.imitation.lr >= 0.0) {
            return Err(Error::invalid(format!(
                "candor-erl: imitation lr = {} must be finite and ≥ 0",
                self.imitation.lr
            )));
        }
        if self.learner.twin_critics || self.learner.policy_delay != 1 {
            return Err(Error::invalid(
                "candor-erl: the ERL/RIM learner has one critic and updates its actor every step",
            ));
        }
        self.learner.validate()?;
        let known = candor_rl::Registry::default();
        if known.spec(&self.env_id).is_none() {
            return Err(Error::invalid(format!(
                "candor-erl: unknown task '{}'",
                self.env_id
            )));
        }
        Ok(())
    }
}
