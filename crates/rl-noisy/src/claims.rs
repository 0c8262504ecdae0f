//! The claims of Table 3 and how each one is tested, as a pure function of the scores
//! (so the logic is unit-tested on hand-made results).
//!
//! **The unit is the trained instance.** The 64 evaluation rounds of one instance share
//! its weights and are not independent, so every test runs on the 5 instance means (one
//! number per trained instance); the rounds only make each mean precise.
//!
//! **Evaluation with the noise on.** The scores that decide the claims come from
//! evaluation rounds in which the noisy agents keep their noise ([`EvalNoise::On`]):
//! NROWAN-DQN's point is that its reduced output noise steadies the policy, which can
//! only show when the noise acts. μ-only scores are reported beside them, not tested.
//!
//! **Gate.** A comparison between agents that did not learn says nothing, so every
//! claim first requires each agent it names to beat a uniformly random policy: a
//! one-sided one-sample t test of the instance means against the random policy's mean
//! return (measured over [`RANDOM_EPISODES`] episodes), at the unadjusted α = 0.05,
//! outside the Holm family. An unmet gate makes the claim inconclusive.
//!
//! | id | statement | test (fixed before the quick run) |
//! |---|---|---|
//! | `nr.cartpole-mean` | NROWAN-DQN's CartPole mean is higher than NoisyNet-DQN's | Welch t on the instance means, superiority (a tie, e.g. both at the 200-step cap, never holds) |
//! | `nr.cartpole-std` | NROWAN-DQN's CartPole scores spread less than NoisyNet-DQN's | Brown–Forsythe: Welch t on the absolute deviations of the instance means from their group median, NoisyNet − NROWAN > 0 |
//! | `nr.acrobot` | NROWAN-DQN's Acrobot mean is higher than NoisyNet-DQN's | Welch t on the instance means, superiority |
//! | `nr.cartpole-level` | NROWAN-DQN reaches a CartPole mean of at least 170 | one-sample t on the instance means, one-sided against 170 |
//!
//! The three comparisons and the level claim form one Holm family at α = 0.05; the gates
//! stay outside it. The spread test reads the paper's "std" as the spread between
//! trained instances (the independent unit); Table 3's "±" (the mean of the
//! per-instance stds over rounds) is shown in the evidence.

use candor_core::report::Claim;
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::dist::normal_quantile;
use candor_core::stats::groups::{t_mean, welch};
use candor_core::stats::Estimate;
use candor_core::{Error, Result};

use crate::eval::EvalNoise;

/// Significance level of every claim and gate.
pub const ALPHA: f64 = 0.05;

/// Episodes of the uniformly random policy that set each task's random baseline.
pub const RANDOM_EPISODES: usize = 1000;

/// The evaluation setting the claims use.
pub const CLAIM_EVAL: EvalNoise = EvalNoise::On;

/// Power at which the evidence states the instances per group a decisive test would
/// need.
const POWER: f64 = 0.8;

/// Number of claims in the Holm family (for the sample-size estimate).
const FAMILY: usize = 4;

/// The threshold of `nr.cartpole-level`.
pub const CARTPOLE_LEVEL: f64 = 170.0;

/// The scores of one task that the claims read.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskScores {
    /// Table 3 row label ("CartPole", "Acrobot").
    pub label: String,
    /// Budget text for the evidence ("30,000 steps").
    pub budget: String,
    /// Mean return of the uniformly random policy.
    pub random_mean: f64,
    /// NoisyNet-DQN's instance means (evaluation as [`CLAIM_EVAL`]).
    pub noisy: Vec<f64>,
    /// NROWAN-DQN's instance means.
    pub nrowan: Vec<f64>,
    /// Table 3's "±" of NoisyNet-DQN and NROWAN-DQN (mean per-instance std), for the
    /// evidence only.
    pub round_std: (f64, f64),
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn var(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Absolute deviations from the median (the Brown–Forsythe transform).
pub fn abs_dev_from_median(v: &[f64]) -> Vec<f64> {
    let m = median(v);
    v.iter().map(|x| (x - m).abs()).collect()
}

/// The gate: the instance means beat the random policy's mean (one-sided one-sample t).
pub fn beats_random(instance_means: &[f64], random_mean: f64) -> Result<Judgement> {
    let t = t_mean(instance_means, "trained instances")?;
    Judgement::at_least(&t, random_mean, ALPHA)
}

/// z quantile sum for a one-sided test at the Holm family's strictest level with
/// [`POWER`].
fn z_sum() -> f64 {
    normal_quantile(1.0 - ALPHA / FAMILY as f64) + normal_quantile(POWER)
}

/// Instances per group a Welch test would need to detect the observed difference
/// `diff` of two groups with variances `va`, `vb` (normal approximation).
pub fn instances_needed_two(diff: f64, va: f64, vb: f64) -> Option<usize> {
    if diff.is_nan() || diff <= 0.0 {
        return None;
    }
    let n = z_sum().powi(2) * (va + vb) / (diff * diff);
    Some((n.ceil() as usize).max(2))
}

/// Instances a one-sample test would need to show a mean `excess` above its threshold
/// with variance `v`.
pub fn instances_needed_one(excess: f64, v: f64) -> Option<usize> {
    if excess.is_nan() || excess <= 0.0 {
        return None;
    }
    Some(((z_sum().powi(2) * v / (excess * excess)).ceil() as usize).max(2))
}

fn need_text(n: Option<usize>, have: usize) -> String {
    match n {
        Some(n) if n > have => format!(
            "if the observed effect were the true one, a decisive test (power {POWER}, one-sided α \
             {:.4}, Holm's strictest step) would need ≈ {n} instances per group",
            ALPHA / FAMILY as f64
        ),
        Some(_) => String::new(),
        None => "the observed effect points the other way: no number of instances would \
                 support the claim"
            .into(),
    }
}

fn gate_text(name: &str, means: &[f64], random: f64, j: &Result<Judgement>) -> String {
    match j {
        Ok(j) => format!(
            "gate {name}: {:.1} vs random {random:.1}, p = {:.2e} ({})",
            mean(means),
            j.test.p,
            j.unadjusted_verdict().as_str()
        ),
        Err(e) => format!("gate {name}: not tested ({e})"),
    }
}

/// Build the four claims of Table 3 from the CartPole and Acrobot scores.
pub fn judge(cartpole: &TaskScores, acrobot: &TaskScores) -> Result<Vec<Claim>> {
    let mut fam = ClaimFamily::new(ALPHA);
    let eval = format!("evaluation {}", CLAIM_EVAL.label());

    let gates = |t: &TaskScores| {
        (
            beats_random(&t.noisy, t.random_mean),
            beats_random(&t.nrowan, t.random_mean),
        )
    };
    let (cp_noisy_gate, cp_nrowan_gate) = gates(cartpole);
    let (ac_noisy_gate, ac_nrowan_gate) = gates(acrobot);
    let gate_names = |t: &TaskScores| {
        (
            format!("NoisyNet-DQN beats random on {}", t.label),
            format!("NROWAN-DQN beats random on {}", t.label),
        )
    };

    // A comparison gated on both agents beating random; an untestable gate blocks it.
    let comparison = |t: &TaskScores,
                      j: Result<Judgement>,
                      g_noisy: &Result<Judgement>,
                      g_nrowan: &Result<Judgement>|
     -> Result<Judgement> {
        let (n_noisy, n_nrowan) = gate_names(t);
        let (Ok(a), Ok(b)) = (g_noisy, g_nrowan) else {
            return Err(Error::invalid(format!(
                "the gates on {} could not be tested (too few instances)",
                t.label
            )));
        };
        Ok(j?.gated(&[(n_noisy.as_str(), a), (n_nrowan.as_str(), b)]))
    };
    let gates_evidence =
        |t: &TaskScores, g_noisy: &Result<Judgement>, g_nrowan: &Result<Judgement>| {
            let (n_noisy, n_nrowan) = gate_names(t);
            format!(
                "{}; {}",
                gate_text(&n_noisy, &t.noisy, t.random_mean, g_noisy),
                gate_text(&n_nrowan, &t.nrowan, t.random_mean, g_nrowan)
            )
        };
    let add = |fam: &mut ClaimFamily, id: &str, st: &str, ev: String, j: Result<Judgement>| match j
    {
        Ok(j) => {
            fam.claim(id, st, &ev, j);
        }
        Err(e) => {
            fam.not_judged(id, st, &ev, &e.to_string());
        }
    };

    // The mean comparison of one task (Welch t superiority, gated), with its evidence.
    let mean_claim = |t: &TaskScores,
                      g_noisy: &Result<Judgement>,
                      g_nrowan: &Result<Judgement>,
                      budget_note: &str|
     -> (Result<Judgement>, String) {
        let j = comparison(
            t,
            welch(&t.nrowan, &t.noisy, "trained instances")
                .and_then(|d| Judgement::superior(&d, ALPHA)),
            g_noisy,
            g_nrowan,
        );
        let need = need_text(
            instances_needed_two(
                mean(&t.nrowan) - mean(&t.noisy),
                var(&t.nrowan),
                var(&t.noisy),
            ),
            t.nrowan.len().min(t.noisy.len()),
        );
        let ev = format!(
            "{eval}, {}{budget_note}; instance means NROWAN [{}] vs NoisyNet [{}] (difference \
             NROWAN − NoisyNet); {}{}{need}",
            t.budget,
            list(&t.nrowan),
            list(&t.noisy),
            gates_evidence(t, g_noisy, g_nrowan),
            if need.is_empty() { "" } else { "; " },
        );
        (j, ev)
    };

    // nr.cartpole-mean
    let cp = cartpole;
    let (j, ev) = mean_claim(cp, &cp_noisy_gate, &cp_nrowan_gate, "");
    add(
        &mut fam,
        "nr.cartpole-mean",
        "On CartPole, NROWAN-DQN's mean score is higher than NoisyNet-DQN's (paper: 187.04 vs 164.96)",
        ev,
        j,
    );

    // nr.cartpole-std
    let (dev_noisy, dev_nrowan) = (
        abs_dev_from_median(&cp.noisy),
        abs_dev_from_median(&cp.nrowan),
    );
    let spread = welch(&dev_noisy, &dev_nrowan, "trained instances").map(|mut d| {
        d.name = "Brown–Forsythe spread test (Welch t on |instance mean − group median|)".into();
        d
    });
    let j = comparison(
        cp,
        spread.and_then(|d| Judgement::superior(&d, ALPHA)),
        &cp_noisy_gate,
        &cp_nrowan_gate,
    );
    let need = need_text(
        instances_needed_two(
            mean(&dev_noisy) - mean(&dev_nrowan),
            var(&dev_noisy),
            var(&dev_nrowan),
        ),
        cp.nrowan.len().min(cp.noisy.len()),
    );
    let ev = format!(
        "{eval}, {}; std of the instance means NROWAN {:.2} vs NoisyNet {:.2}; mean \
         absolute deviation from the median NROWAN {:.2} vs NoisyNet {:.2} (estimate = \
         NoisyNet − NROWAN); Table 3's ± (mean per-instance std over rounds) NROWAN {:.2} vs \
         NoisyNet {:.2}; {}{}{need}",
        cp.budget,
        var(&cp.nrowan).sqrt(),
        var(&cp.noisy).sqrt(),
        mean(&dev_nrowan),
        mean(&dev_noisy),
        cp.round_std.1,
        cp.round_std.0,
        gates_evidence(cp, &cp_noisy_gate, &cp_nrowan_gate),
        if need.is_empty() { "" } else { "; " },
    );
    add(
        &mut fam,
        "nr.cartpole-std",
        "On CartPole, NROWAN-DQN's scores spread less than NoisyNet-DQN's (paper std: 13.99 vs 31.56)",
        ev,
        j,
    );

    // nr.acrobot
    let ac = acrobot;
    let (j, ev) = mean_claim(
        ac,
        &ac_noisy_gate,
        &ac_nrowan_gate,
        " (the paper's budget is unpublished)",
    );
    add(
        &mut fam,
        "nr.acrobot",
        "On Acrobot, NROWAN-DQN's mean score is higher than NoisyNet-DQN's (paper: −84.41 vs −86.57)",
        ev,
        j,
    );

    // nr.cartpole-level
    let (_, n_nrowan) = gate_names(cp);
    let j = match &cp_nrowan_gate {
        Ok(g) => t_mean(&cp.nrowan, "trained instances")
            .and_then(|t| Judgement::at_least(&t, CARTPOLE_LEVEL, ALPHA))
            .map(|j| j.gated(&[(n_nrowan.as_str(), g)])),
        Err(e) => Err(Error::invalid(format!("the gate could not be tested: {e}"))),
    };
    let need = need_text(
        instances_needed_one(mean(&cp.nrowan) - CARTPOLE_LEVEL, var(&cp.nrowan)),
        cp.nrowan.len(),
    );
    let ev = format!(
        "{eval}, {}; NROWAN instance means [{}]; {}{}{need}",
        cp.budget,
        list(&cp.nrowan),
        gate_text(&n_nrowan, &cp.nrowan, cp.random_mean, &cp_nrowan_gate),
        if need.is_empty() { "" } else { "; " },
    );
    add(
        &mut fam,
        "nr.cartpole-level",
        "NROWAN-DQN reaches a CartPole mean of at least 170 (paper: 187.04 ± 13.99)",
        ev,
        j,
    );

    fam.try_finish()
}

/// The instance means' test statistic as text ("183.2 [176.0, 190.4]") for tables.
pub fn mean_interval_text(instance_means: &[f64]) -> String {
    match t_mean(instance_means, "trained instances")
        .and_then(|t| Ok((t.estimate(), t.interval(1.0 - 2.0 * ALPHA)?)))
    {
        Ok((m, [lo, hi])) => format!("{m:.1} [{lo:.1}, {hi:.1}]"),
        Err(_) => format!("{:.1}", mean(instance_means)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candor_core::report::Verdict;

    fn task(label: &str, random: f64, noisy: &[f64], nrowan: &[f64]) -> TaskScores {
        TaskScores {
            label: label.into(),
            budget: "test".into(),
            random_mean: random,
            noisy: noisy.to_vec(),
            nrowan: nrowan.to_vec(),
            round_std: (10.0, 5.0),
        }
    }

    fn verdicts(cp: &TaskScores, ac: &TaskScores) -> Vec<(String, Verdict)> {
        judge(cp, ac)
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.verdict))
            .collect()
    }

    const IDS: [&str; 4] = [
        "nr.cartpole-mean",
        "nr.cartpole-std",
        "nr.acrobot",
        "nr.cartpole-level",
    ];
    /// CartPole instance means: widely spread / tight near the cap.
    const CP_SPREAD: [f64; 5] = [150.0, 120.0, 175.0, 190.0, 140.0];
    const CP_TIGHT: [f64; 5] = [196.0, 198.0, 197.5, 199.0, 196.5];
    /// Acrobot instance means: a worse and a better learned agent.
    const AC_WORSE: [f64; 5] = [-120.0, -110.0, -130.0, -125.0, -115.0];
    const AC_BETTER: [f64; 5] = [-85.0, -88.0, -84.0, -90.0, -86.0];

    fn v(cs: &[(String, Verdict)], id: &str) -> Verdict {
        cs.iter().find(|c| c.0 == id).unwrap().1
    }

    #[test]
    fn claims_hold_when_nrowan_is_clearly_better() {
        let cp = task("CartPole", 22.0, &CP_SPREAD, &CP_TIGHT);
        let ac = task("Acrobot", -499.0, &AC_WORSE, &AC_BETTER);
        let cs = verdicts(&cp, &ac);
        let ids: Vec<&str> = cs.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(ids, IDS);
        for (id, verdict) in &cs {
            assert_eq!(*verdict, Verdict::Holds, "{id}");
        }
    }

    #[test]
    fn claims_fail_when_nrowan_is_clearly_worse() {
        let cp = task(
            "CartPole",
            22.0,
            &CP_TIGHT,
            &[100.0, 60.0, 150.0, 90.0, 120.0],
        );
        let ac = task("Acrobot", -499.0, &AC_BETTER, &AC_WORSE);
        let cs = verdicts(&cp, &ac);
        for id in IDS {
            assert_eq!(v(&cs, id), Verdict::Fails, "{id}");
        }
    }

    #[test]
    fn a_tie_at_the_step_cap_is_inconclusive() {
        let cap = [200.0; 5];
        let cp = task("CartPole", 22.0, &cap, &cap);
        let ac = task(
            "Acrobot",
            -499.0,
            &[-90.0, -100.0, -95.0, -85.0, -92.0],
            &[-89.0, -99.0, -94.0, -84.0, -91.0],
        );
        let cs = verdicts(&cp, &ac);
        assert_eq!(v(&cs, "nr.cartpole-mean"), Verdict::Inconclusive);
        assert_eq!(v(&cs, "nr.cartpole-std"), Verdict::Inconclusive);
        assert_eq!(v(&cs, "nr.acrobot"), Verdict::Inconclusive);
        // A threshold below the cap is met by agents at the cap.
        assert_eq!(v(&cs, "nr.cartpole-level"), Verdict::Holds);
        let claims = judge(&cp, &ac).unwrap();
        let acro = claims.iter().find(|c| c.id == "nr.acrobot").unwrap();
        assert!(
            acro.evidence.contains("instances per group"),
            "{}",
            acro.evidence
        );
    }

    #[test]
    fn agents_that_did_not_learn_leave_comparisons_inconclusive() {
        // Acrobot: both agents at the random policy's −500 (NROWAN a little above by
        // chance in one instance), as the quick run of the old budgets did.
        let cp = task("CartPole", 22.0, &CP_SPREAD, &CP_TIGHT);
        let ac = task(
            "Acrobot",
            -499.0,
            &[-500.0, -500.0, -500.0, -500.0, -500.0],
            &[-430.0, -470.0, -480.0, -460.0, -450.0],
        );
        let claims = judge(&cp, &ac).unwrap();
        let acro = claims.iter().find(|c| c.id == "nr.acrobot").unwrap();
        assert_eq!(acro.verdict, Verdict::Inconclusive);
        assert!(
            acro.evidence
                .contains("precondition not met: NoisyNet-DQN beats random on Acrobot"),
            "{}",
            acro.evidence
        );
        // A gate blocks before the test is read: even a "significant" difference is not
        // a verdict.
        assert!(acro.test.p < ALPHA);
        // MountainCar-like: everyone at −200 with no spread.
        let flat = task("CartPole", 22.0, &[22.0; 5], &[22.0; 5]);
        let cs = verdicts(&flat, &ac);
        for id in ["nr.cartpole-mean", "nr.cartpole-std", "nr.cartpole-level"] {
            assert_eq!(v(&cs, id), Verdict::Inconclusive, "{id}");
        }
    }

    #[test]
    fn too_few_instances_are_not_judged() {
        let cp = task("CartPole", 22.0, &[150.0], &[190.0]);
        let ac = task("Acrobot", -499.0, &[-100.0], &[-90.0]);
        let claims = judge(&cp, &ac).unwrap();
        assert_eq!(claims.len(), 4);
        assert!(claims.iter().all(|c| c.verdict == Verdict::Inconclusive));
    }

    #[test]
    fn brown_forsythe_transform_and_sample_sizes() {
        assert_eq!(abs_dev_from_median(&[1.0, 5.0, 2.0]), vec![1.0, 3.0, 0.0]);
        assert_eq!(
            abs_dev_from_median(&[1.0, 2.0, 4.0, 10.0]),
            vec![2.0, 1.0, 1.0, 7.0]
        );
        assert_eq!(instances_needed_two(-1.0, 1.0, 1.0), None);
        assert_eq!(instances_needed_one(0.0, 1.0), None);
        // (z_{1−0.0125} + z_{0.8})² ≈ (2.2414 + 0.8416)² ≈ 9.505: a one-sd effect needs
        // ≈ 19 per group for two groups (2 × 9.505) and 10 for one.
        assert_eq!(instances_needed_two(1.0, 1.0, 1.0), Some(20));
        assert_eq!(instances_needed_one(1.0, 1.0), Some(10));
        assert_eq!(mean_interval_text(&[1.0]), "1.0");
    }
}
