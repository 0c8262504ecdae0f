//! Configuration: serde structs whose defaults are the paper's settings.
//!
//! [`Config::default`] is NROWAN-DQN on the 200-step `CartPole-v0` with the paper's
//! Tables 1–2 (as transcribed in the paper card). [`Config::paper`] gives the paper's
//! settings for any of the three algorithms on `CartPole-v0`, `MountainCar-v0` or
//! `Acrobot-v1` (the learning rate and the NROWAN reward bounds differ per task).
//! [`Config::from_json`] starts from `Config::paper(algo, env_id)` for the `algo` and
//! `env_id` it finds in the document, overlays the keys it is given, rejects unknown keys
//! and validates the result. [`Config::tiny`] is a seconds-long configuration for tests.

use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which agent to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algo {
    /// DQN (Mnih et al. 2015): ε-greedy exploration, plain linear layers.
    Dqn,
    /// NoisyNet-DQN (Fortunato et al. 2018): noisy last two layers, no noise reduction
    /// (k ≡ 0).
    NoisyNet,
    /// NROWAN-DQN: NoisyNet-DQN plus the noise-reduction term k_t·D (eqs. 8 and 12).
    Nrowan,
}

impl Algo {
    /// The three algorithms of the paper's Table 3, in its column order.
    pub const ALL: [Algo; 3] = [Algo::Dqn, Algo::NoisyNet, Algo::Nrowan];

    /// The paper's name of the algorithm.
    pub fn label(self) -> &'static str {
        match self {
            Algo::Dqn => "DQN",
            Algo::NoisyNet => "NoisyNet-DQN",
            Algo::Nrowan => "NROWAN-DQN",
        }
    }

    /// The serde / command-line name (`dqn`, `noisy-net`, `nrowan`).
    pub fn key(self) -> &'static str {
        match self {
            Algo::Dqn => "dqn",
            Algo::NoisyNet => "noisy-net",
            Algo::Nrowan => "nrowan",
        }
    }

    /// `true` for the two algorithms with noisy layers.
    pub fn is_noisy(self) -> bool {
        !matches!(self, Algo::Dqn)
    }
}

impl std::str::FromStr for Algo {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "dqn" => Ok(Algo::Dqn),
            "noisy-net" | "noisynet" | "noisynet-dqn" | "noisy" => Ok(Algo::NoisyNet),
            "nrowan" | "nrowan-dqn" => Ok(Algo::Nrowan),
            _ => Err(Error::invalid(format!(
                "unknown algorithm '{s}': expected dqn, noisy-net or nrowan"
            ))),
        }
    }
}

/// Initial σ of a noisy layer's **bias**. The weight σ is always σ₀/√p (p = fan-in).
///
/// On a two-action head the two rules differ eightfold: σ_b = 0.4/√128 ≈ 0.035 with
/// fan-in against 0.4/√2 ≈ 0.28 with fan-out, and on CartPole the bias noise is most of
/// the acting noise (fc1's output barely depends on CartPole's small observations). With
/// fan-in (measured, NoisyNet-DQN, paper settings, 15,000 steps): at initialisation the
/// noise changes the greedy action on 8–35 % of states (seeds 0–9); within the first
/// ≈ 300 updates the positive rewards raise the Q-value of whichever action the agent
/// happens to repeat, the μ gap between the two actions grows to 0.5–0.7 while the noise
/// on it stays ≈ 0.13 (rms), the noise then flips < 1 % of actions, and the agent
/// repeats one action (the pole falls after ≈ 9 steps, the lowest return) until the
/// untrained action's Q-value drifts above it through the shared layers. Of seeds 0–7,
/// seed 0 escaped after ≈ 6,000 steps (evaluation 188), seed 2 only after ≈ 9,000
/// (evaluation 57), seed 6 never (evaluation 9.35, noise on or off); with fan-out all 8
/// seeds left the lowest return within 1,500 steps and scored 200. This is the
/// algorithm's own dynamics under this init, not a defect of the sampling (the noise
/// is fresh on every forward and reaches both noisy layers; see the test
/// `acting_noise_flips_the_greedy_action` in `tests/it/noisy_linear.rs`). The default stays
/// the NoisyNet paper's rule, fixed before any run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BiasSigma {
    /// σ₀/√p, as the NoisyNet paper states for every σ of a factorised layer (default).
    FanIn,
    /// σ₀/√q (q = fan-out), as some NoisyNet ports initialise the bias σ.
    FanOut,
}

/// The Q-network (Linear(obs→h)+ReLU → Noisy(h→h)+ReLU → Noisy(h→|A|); all plain for DQN).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Width of both hidden layers (128).
    pub hidden: usize,
    /// σ₀ of the factorised noisy layers (0.4, paper Table 2).
    pub sigma0: f64,
    /// Initial bias σ convention (σ₀/√p).
    pub bias_sigma: BiasSigma,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            hidden: 128,
            sigma0: 0.4,
            bias_sigma: BiasSigma::FanIn,
        }
    }
}

/// DQN's ε-greedy schedule: linear from `start` to `end` over the first
/// `decay_fraction` of the run (or over `decay_steps` env steps when that is set), then
/// constant. Unused by the noisy agents.
///
/// The paper does not state it. The default follows CleanRL's `dqn.py` (`start_e` 1,
/// `end_e` 0.05, `exploration_fraction` 0.5, evaluation ε 0.05), so the agent explores
/// for the first half of whatever budget it gets and exploits for the second half.
/// `decay_steps = Some(1_000_000)` takes Mnih et al. (2015) literally, as the
/// third-party reproduction did (1.0 → 0.1 over 1M steps): over a 30k-step run ε then
/// stays above 0.97, so that DQN acts almost at random for its whole training and is no
/// baseline at all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpsilonConfig {
    /// ε at step 0 (1.0).
    pub start: f64,
    /// Final ε (0.05).
    pub end: f64,
    /// Fraction of `total_steps` over which ε decays (0.5, CleanRL's
    /// `exploration_fraction`); ignored when `decay_steps` is set.
    pub decay_fraction: f64,
    /// A fixed decay length in env steps instead of a fraction of the run (`None`).
    pub decay_steps: Option<usize>,
    /// ε of the evaluation rounds (0.05).
    pub eval: f64,
}

impl Default for EpsilonConfig {
    fn default() -> Self {
        Self {
            start: 1.0,
            end: 0.05,
            decay_fraction: 0.5,
            decay_steps: None,
            eval: 0.05,
        }
    }
}

impl EpsilonConfig {
    /// Env steps of the linear decay in a run of `total_steps` (at least 1).
    pub fn decay_length(&self, total_steps: usize) -> usize {
        self.decay_steps
            .unwrap_or_else(|| (self.decay_fraction * total_steps as f64).round() as usize)
            .max(1)
    }

    /// ε after `step` env steps of a run of `total_steps`.
    pub fn at(&self, step: usize, total_steps: usize) -> f64 {
        let frac = (step as f64 / self.decay_length(total_steps) as f64).min(1.0);
        self.start + (self.end - self.start) * frac
    }
}

/// NROWAN's online weight (eq. 12): `k_t = clip(k_final·(r⁺_t − R_inf)/(R_sup − R_inf),
/// 0, k_final)`, with r⁺_t the return collected so far in the current episode.
///
/// The paper does not publish R_inf/R_sup; the defaults are the third-party
/// reproduction's (CartPole [0, 200], MountainCar [−200, −90], Acrobot [−500, −60]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NrowanConfig {
    /// Largest k (4.0, paper Table 2).
    pub k_final: f64,
    /// R_inf: the in-episode return at which k reaches 0.
    pub r_inf: f64,
    /// R_sup: the in-episode return at which k reaches `k_final`.
    pub r_sup: f64,
}

impl Default for NrowanConfig {
    fn default() -> Self {
        Self {
            k_final: 4.0,
            r_inf: 0.0,
            r_sup: 200.0,
        }
    }
}

impl NrowanConfig {
    /// k_t for an in-episode return `r_plus` (eq. 12); see [`crate::nrowan::online_weight`].
    pub fn k(&self, r_plus: f64) -> f64 {
        crate::nrowan::online_weight(r_plus, self.k_final, self.r_inf, self.r_sup)
    }
}

/// How the parameters are updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// **Default.** Adam (PyTorch's, no weight decay) on the TD loss for every parameter;
    /// the noise-reduction term k·D is applied as a plain gradient step
    /// `σ ← σ − lr·k·∂D/∂σ` on the output layer's σ. A labelled deviation: with Adam on
    /// the whole loss the constant-sign D gradient is normalised away and σ moves by
    /// ≈ lr per update whatever k is (paper card, "Adam wipes out σ"); this keeps the
    /// paper's own reading that k·lr sets the step along ∇σD. Identical to `adam` for
    /// DQN and NoisyNet-DQN (k ≡ 0).
    AdamSgdD,
    /// Adam on the whole loss TD + k·D (the third-party reproduction's choice).
    Adam,
    /// Plain SGD on the whole loss.
    Sgd,
}

/// Optimiser settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// The update rule ([`OptimizerKind::AdamSgdD`]).
    pub kind: OptimizerKind,
    /// Learning rate (CartPole 1e-4; MountainCar and Acrobot 1e-3, paper Table 2).
    pub lr: f64,
    /// Adam's (β₁, β₂) ((0.9, 0.999)).
    pub betas: (f64, f64),
    /// Adam's ε (1e-8).
    pub eps: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::AdamSgdD,
            lr: 1e-4,
            betas: (0.9, 0.999),
            eps: 1e-8,
        }
    }
}

/// Everything one training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The agent (NROWAN-DQN).
    pub algo: Algo,
    /// A `candor_rl::make` id with a discrete action space (`CartPole-v0`).
    pub env_id: String,
    /// Env steps of training (30,000: the paper's CartPole budget).
    pub total_steps: usize,
    /// First env step at which updates start (32).
    pub learning_starts: usize,
    /// Replay capacity (10,000).
    pub buffer_capacity: usize,
    /// Mini-batch size (32).
    pub batch_size: usize,
    /// Discount γ (0.99).
    pub gamma: f64,
    /// Hard target copy every this many env steps (1000).
    pub target_update_interval: usize,
    /// Network shape and noisy-layer init.
    pub net: NetConfig,
    /// DQN's ε schedule.
    pub epsilon: EpsilonConfig,
    /// NROWAN's k_final and reward bounds.
    pub nrowan: NrowanConfig,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Record mean |σ| of the output layer and the mean TD loss every this many env
    /// steps (1000).
    pub log_interval: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            algo: Algo::Nrowan,
            env_id: "CartPole-v0".into(),
            total_steps: 30_000,
            learning_starts: 32,
            buffer_capacity: 10_000,
            batch_size: 32,
            gamma: 0.99,
            target_update_interval: 1000,
            net: NetConfig::default(),
            epsilon: EpsilonConfig::default(),
            nrowan: NrowanConfig::default(),
            optimizer: OptimizerConfig::default(),
            log_interval: 1000,
        }
    }
}

/// The paper's per-task settings: (env id, learning rate, R_inf, R_sup).
pub const PAPER_TASKS: [(&str, f64, f64, f64); 3] = [
    ("CartPole-v0", 1e-4, 0.0, 200.0),
    ("MountainCar-v0", 1e-3, -200.0, -90.0),
    ("Acrobot-v1", 1e-3, -500.0, -60.0),
];

impl Config {
    /// The paper's settings for `algo` on `env_id` (`CartPole-v0`, `MountainCar-v0` or
    /// `Acrobot-v1`): learning rate from Table 2, R_inf/R_sup from the reproduction, the
    /// 30,000-step budget (stated for CartPole only; the other budgets are unpublished).
    pub fn paper(algo: Algo, env_id: &str) -> Result<Self> {
        let &(id, lr, r_inf, r_sup) =
            PAPER_TASKS.iter().find(|t| t.0 == env_id).ok_or_else(|| {
                Error::invalid(format!(
                    "the paper's settings are known for CartPole-v0, MountainCar-v0 and \
                     Acrobot-v1, not '{env_id}'; build a Config by hand"
                ))
            })?;
        let mut c = Config {
            algo,
            env_id: id.to_string(),
            ..Config::default()
        };
        c.optimizer.lr = lr;
        c.nrowan.r_inf = r_inf;
        c.nrowan.r_sup = r_sup;
        Ok(c)
    }

    /// A seconds-long CartPole configuration for tests: 1,500 steps, a 32-wide network,
    /// lr 1e-3, target copy every 100 steps, ε decaying to 0.05 over 1,000 steps and 0 at
    /// evaluation.
    pub fn tiny(algo: Algo) -> Self {
        let mut c = Config {
            algo,
            total_steps: 1_500,
            buffer_capacity: 2_000,
            target_update_interval: 100,
            log_interval: 250,
            ..Config::default()
        };
        c.net.hidden = 32;
        c.optimizer.lr = 1e-3;
        c.epsilon = EpsilonConfig {
            start: 1.0,
            end: 0.05,
            decay_fraction: 0.5,
            decay_steps: Some(1_000),
            eval: 0.0,
        };
        c
    }

    /// Parse a JSON document. Keys that are absent take the paper's value for the
    /// document's `algo` and `env_id` (defaults: `nrowan`, `CartPole-v0`; for an env
    /// outside the paper, [`Config::default`]). Unknown keys, wrong types and invalid
    /// values (see [`validate`](Self::validate)) are errors.
    pub fn from_json(text: &str) -> Result<Self> {
        let user: Value = serde_json::from_str(text)?;
        let Value::Object(map) = &user else {
            return Err(Error::invalid("config: expected a JSON object"));
        };
        let algo: Algo = match map.get("algo") {
            Some(v) => serde_json::from_value(v.clone())?,
            None => Algo::Nrowan,
        };
        let base = match map.get("env_id").and_then(Value::as_str) {
            Some(env) => Config::paper(algo, env).unwrap_or_else(|_| Config {
                algo,
                ..Config::default()
            }),
            None => Config::paper(algo, "CartPole-v0")?,
        };
        let mut merged = serde_json::to_value(&base)?;
        merge(&mut merged, &user);
        // Unknown keys survive the merge, so deny_unknown_fields still sees them.
        let cfg: Config = serde_json::from_value(merged)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Serialise to pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Check every value; a bad one is an `Err` naming it.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("config: {m}")));
        if candor_rl::ENV_IDS.iter().all(|(id, _)| *id != self.env_id) {
            return bad(format!("unknown env_id '{}'", self.env_id));
        }
        for (name, v) in [
            ("total_steps", self.total_steps),
            ("learning_starts", self.learning_starts),
            ("buffer_capacity", self.buffer_capacity),
            ("batch_size", self.batch_size),
            ("target_update_interval", self.target_update_interval),
            ("log_interval", self.log_interval),
            ("net.hidden", self.net.hidden),
            ("epsilon.decay_steps", self.epsilon.decay_steps.unwrap_or(1)),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad(format!("gamma must be in [0, 1], got {}", self.gamma));
        }
        if !(self.net.sigma0.is_finite() && self.net.sigma0 >= 0.0) {
            return bad(format!(
                "net.sigma0 must be finite and ≥ 0, got {}",
                self.net.sigma0
            ));
        }
        let e = &self.epsilon;
        if !(e.decay_fraction > 0.0 && e.decay_fraction <= 1.0) {
            return bad(format!(
                "epsilon.decay_fraction must be in (0, 1], got {}",
                e.decay_fraction
            ));
        }
        for (name, v) in [
            ("epsilon.start", e.start),
            ("epsilon.end", e.end),
            ("epsilon.eval", e.eval),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1], got {v}"));
            }
        }
        let n = &self.nrowan;
        if !(n.k_final.is_finite() && n.k_final >= 0.0) {
            return bad(format!(
                "nrowan.k_final must be finite and ≥ 0, got {}",
                n.k_final
            ));
        }
        if !(n.r_inf.is_finite() && n.r_sup.is_finite()) || n.r_sup <= n.r_inf {
            return bad(format!(
                "nrowan needs finite r_inf < r_sup, got r_inf = {}, r_sup = {}",
                n.r_inf, n.r_sup
            ));
        }
        let o = &self.optimizer;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return bad(format!("optimizer.lr must be finite and > 0, got {}", o.lr));
        }
        if !(0.0..1.0).contains(&o.betas.0) || !(0.0..1.0).contains(&o.betas.1) {
            return bad(format!(
                "optimizer.betas must be in [0, 1), got {:?}",
                o.betas
            ));
        }
        if !(o.eps.is_finite() && o.eps >= 0.0) {
            return bad(format!(
                "optimizer.eps must be finite and ≥ 0, got {}",
                o.eps
            ));
        }
        Ok(())
    }
}

/// Overlay `user` onto `base`, recursing into objects.
fn merge(base: &mut Value, user: &Value) {
    match (base, user) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = Config::default();
        assert_eq!(
            (c.total_steps, c.batch_size, c.learning_starts),
            (30_000, 32, 32)
        );
        assert_eq!(
            (c.buffer_capacity, c.target_update_interval),
            (10_000, 1000)
        );
        assert_eq!(
            (c.net.hidden, c.net.sigma0, c.nrowan.k_final),
            (128, 0.4, 4.0)
        );
        assert_eq!(c.optimizer.lr, 1e-4);
        c.validate().unwrap();
        let a = Config::paper(Algo::Dqn, "Acrobot-v1").unwrap();
        assert_eq!(
            (a.optimizer.lr, a.nrowan.r_inf, a.nrowan.r_sup),
            (1e-3, -500.0, -60.0)
        );
        assert!(Config::paper(Algo::Dqn, "Pendulum-v1").is_err());
    }

    #[test]
    fn json_overlays_the_paper_settings_of_its_env() {
        let c =
            Config::from_json(r#"{"env_id": "MountainCar-v0", "nrowan": {"k_final": 2}}"#).unwrap();
        assert_eq!(c.optimizer.lr, 1e-3);
        assert_eq!((c.nrowan.k_final, c.nrowan.r_inf), (2.0, -200.0));
        let back = Config::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(Config::from_json("[1]").is_err());
        assert!(Config::from_json(r#"{"algo": "ppo"}"#).is_err());
    }

    #[test]
    fn epsilon_schedule_is_linear_then_flat() {
        let e = EpsilonConfig {
            start: 1.0,
            end: 0.1,
            decay_fraction: 0.5,
            decay_steps: Some(100),
            eval: 0.0,
        };
        assert_eq!(e.at(0, 30_000), 1.0);
        assert!((e.at(50, 30_000) - 0.55).abs() < 1e-12);
        assert!((e.at(100, 30_000) - 0.1).abs() < 1e-12);
        assert!((e.at(1_000, 30_000) - 0.1).abs() < 1e-12);
        // CleanRL's default: 1 → 0.05 over the first half of the run.
        let d = EpsilonConfig::default();
        assert_eq!(d.decay_length(30_000), 15_000);
        assert!((d.at(7_500, 30_000) - 0.525).abs() < 1e-12);
        assert!((d.at(15_000, 30_000) - 0.05).abs() < 1e-12);
        assert!((d.at(29_999, 30_000) - 0.05).abs() < 1e-12);
        // Mnih et al. literally (the reproduction): ε ≈ 0.97 after 30k of 1M steps.
        let mnih = EpsilonConfig {
            end: 0.1,
            decay_steps: Some(1_000_000),
            ..d
        };
        assert!((mnih.at(30_000, 30_000) - 0.973).abs() < 1e-12);
    }

    #[test]
    fn algo_parses() {
        assert_eq!("NROWAN".parse::<Algo>().unwrap(), Algo::Nrowan);
        assert_eq!("noisy_net".parse::<Algo>().unwrap(), Algo::NoisyNet);
        assert!("a2c".parse::<Algo>().is_err());
        assert_eq!(Algo::NoisyNet.key(), "noisy-net");
    }
}
