//! Claim verdicts from statistical tests, so that a paper crate writes each claim in a
//! few lines and cannot get the logic wrong.
//!
//! A [`Judgement`] is the outcome of one claim's test before the multiplicity
//! correction: the test's record ([`TestResult`]: estimate, interval at 1 − 2α, the
//! one-sided p of the statement) and the one-sided p of the opposite statement. The
//! constructors cover the claim shapes of the papers:
//!
//! | constructor | statement | holds if | fails if |
//! |---|---|---|---|
//! | [`Judgement::at_least`] | θ ≥ t ("at least 0.90") | H1 θ > t significant | H1 θ < t significant |
//! | [`Judgement::at_most`] | θ ≤ t | H1 θ < t significant | H1 θ > t significant |
//! | [`Judgement::superior`] | A beats B (d = A − B > 0) | H1 d > 0 significant (a tie never holds) | H1 d < 0 significant |
//! | [`Judgement::non_inferior`] | A at least as good as B, margin δ | H1 d > −δ significant | H1 d < −δ significant |
//! | [`Judgement::equivalent`] | \|θ − v\| < δ (TOST) | both one-sided tests significant | θ significantly outside v ± δ |
//! | [`Judgement::consistent_with`] | a control: θ = v not rejected | two-sided test at α does not reject | it rejects |
//! | [`Judgement::all_of`] | every part holds (intersection–union) | every part holds (p = max) | any part fails |
//! | [`Judgement::deterministic`] | an identity checked on every input | it held | it did not |
//!
//! "Significant" means p < α for the one-sided test; the interval shown is two-sided
//! at 1 − 2α, so "holds" and "its lower bound clears t" agree. A difference's sign
//! is the caller's: for "A's error is lower than B's" pass d = B − A.
//!
//! Modifiers: [`Judgement::gated`] makes a claim inconclusive unless its
//! preconditions hold (e.g. both agents beat a random policy), and
//! [`Judgement::every_part_agrees`] makes it inconclusive unless every per-seed estimate lies
//! on the claimed side (the sign-agreement rule for per-seed comparisons).
//!
//! A [`ClaimFamily`] collects one paper's claims: [`ClaimFamily::claim`] puts a claim in
//! the Holm family, [`ClaimFamily::control`] keeps sanity checks and preconditions out
//! of it; [`ClaimFamily::finish`] adjusts the family's p-values with Holm's method and
//! sets each final [`Verdict`]: *fails* when the opposite test is significant at the
//! unadjusted α, else *holds* when the Holm-adjusted p is below α, else
//! *inconclusive*; a blocked claim (precondition not met, seeds disagreeing) is
//! inconclusive.

use super::multiple::holm;
use super::Estimate;
use crate::report::{Claim, TestResult, Verdict};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// An ordinary one-sided test (holds / fails / inconclusive).
    Test,
    /// A control that holds unless the two-sided test rejects (holds / fails only).
    Consistency,
}

/// Which side of `value` the statement claims the quantity lies on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Above(f64),
    Below(f64),
    Between(f64, f64),
}

/// One claim's test before Holm's correction. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The test's record; `test.p` is the one-sided p-value of the statement.
    pub test: TestResult,
    /// One-sided p-value of the opposite statement: the claim fails when it is < α.
    pub p_opposite: f64,
    /// Extra evidence written after the caller's (e.g. each part of an
    /// intersection–union).
    pub detail: String,
    /// Why the claim cannot be decided although the test ran (a precondition not met,
    /// seeds disagreeing in sign); a blocked claim is inconclusive.
    pub blocked: Option<String>,
    kind: Kind,
    side: Side,
}

fn check_alpha(alpha: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(Error::invalid(format!(
            "claim: α = {alpha} must lie in (0, 0.5)"
        )));
    }
    Ok(())
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

impl Judgement {
    fn from_estimate(
        e: &dyn Estimate,
        what: String,
        p: f64,
        p_opposite: f64,
        alpha: f64,
        kind: Kind,
        side: Side,
    ) -> Result<Self> {
        check_alpha(alpha)?;
        let ci = e.interval(1.0 - 2.0 * alpha)?;
        Ok(Self {
            test: TestResult {
                name: format!("{}, {what}", e.name()),
                n: e.n(),
                unit: e.unit().to_string(),
                estimate: e.estimate(),
                ci,
                p,
                alpha,
                p_adjusted: None,
            },
            p_opposite,
            detail: String::new(),
            blocked: None,
            kind,
            side,
        })
    }

    /// "θ is at least `threshold`": holds when H1 θ > threshold is significant, fails
    /// when H1 θ < threshold is.
    pub fn at_least(e: &dyn Estimate, threshold: f64, alpha: f64) -> Result<Self> {
        Self::from_estimate(
            e,
            format!("one-sided vs {}", fmt(threshold)),
            e.p_greater(threshold)?,
            e.p_less(threshold)?,
            alpha,
            Kind::Test,
            Side::Above(threshold),
        )
    }

    /// "θ is at most `threshold`".
    pub fn at_most(e: &dyn Estimate, threshold: f64, alpha: f64) -> Result<Self> {
        Self::from_estimate(
            e,
            format!("one-sided vs {} (lower is the claim)", fmt(threshold)),
            e.p_less(threshold)?,
            e.p_greater(threshold)?,
            alpha,
            Kind::Test,
            Side::Below(threshold),
        )
    }

    /// "A beats B" on a difference estimate d = A − B: a superiority test against 0
    /// (a tie is never significant, so it never holds).
    pub fn superior(diff: &dyn Estimate, alpha: f64) -> Result<Self> {
        Self::from_estimate(
            diff,
            "superiority (H1: difference > 0)".into(),
            diff.p_greater(0.0)?,
            diff.p_less(0.0)?,
            alpha,
            Kind::Test,
            Side::Above(0.0),
        )
    }

    /// "A is at least as good as B" (no worse by more than `margin`, in the claim's own
    /// units) on d = A − B: H1 d > −margin.
    pub fn non_inferior(diff: &dyn Estimate, margin: f64, alpha: f64) -> Result<Self> {
        if !(margin >= 0.0 && margin.is_finite()) {
            return Err(Error::invalid(format!(
                "non-inferiority margin {margin} must be finite and ≥ 0"
            )));
        }
        Self::from_estimate(
            diff,
            format!("non-inferiority, margin {}", fmt(margin)),
            diff.p_greater(-margin)?,
            diff.p_less(-margin)?,
            alpha,
            Kind::Test,
            Side::Above(-margin),
        )
    }

    /// "θ equals `value` within ± `margin`" by two one-sided tests (TOST): p is the
    /// larger of the two; fails when θ is significantly outside the band. For a band
    /// relative to a reference r, pass `margin = rel · |r|`.
    pub fn equivalent(e: &dyn Estimate, value: f64, margin: f64, alpha: f64) -> Result<Self> {
        if !(margin > 0.0 && margin.is_finite()) {
            return Err(Error::invalid(format!(
                "equivalence margin {margin} must be finite and > 0"
            )));
        }
        let (lo, hi) = (value - margin, value + margin);
        let p = e.p_greater(lo)?.max(e.p_less(hi)?);
        let p_opp = e.p_less(lo)?.min(e.p_greater(hi)?);
        Self::from_estimate(
            e,
            format!("equivalence (TOST) within {} ± {}", fmt(value), fmt(margin)),
            p,
            p_opp,
            alpha,
            Kind::Test,
            Side::Between(lo, hi),
        )
    }

    /// A control check: holds unless the two-sided test at α rejects θ = `value` (e.g.
    /// the AUC of randomly labelled data is consistent with 0.5). Absence of evidence is
    /// all it shows, so use it only for sanity checks ([`ClaimFamily::control`]); `p` is
    /// the two-sided p-value and the interval is two-sided at 1 − α.
    pub fn consistent_with(e: &dyn Estimate, value: f64, alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        let p2 = (2.0 * e.p_greater(value)?.min(e.p_less(value)?)).min(1.0);
        let ci = e.interval(1.0 - alpha)?;
        Ok(Self {
            test: TestResult {
                name: format!(
                    "{}, two-sided consistency with {} (control)",
                    e.name(),
                    fmt(value)
                ),
                n: e.n(),
                unit: e.unit().to_string(),
                estimate: e.estimate(),
                ci,
                p: p2,
                alpha,
                p_adjusted: None,
            },
            p_opposite: f64::NAN,
            detail: String::new(),
            blocked: None,
            kind: Kind::Consistency,
            side: Side::Between(value, value),
        })
    }

    /// A deterministic check with no sampling error (an identity verified on every
    /// input, e.g. "the kd-tree returns exactly the brute-force neighbours"): holds if
    /// `passed`, fails otherwise (p = 0 or 1). `measured` is what was measured (a
    /// largest deviation, a count), shown as the estimate with a zero-width interval.
    pub fn deterministic(
        description: &str,
        measured: f64,
        passed: bool,
        n: usize,
        unit: &str,
        alpha: f64,
    ) -> Result<Self> {
        check_alpha(alpha)?;
        Ok(Self {
            test: TestResult {
                name: format!("deterministic check: {description}"),
                n,
                unit: unit.to_string(),
                estimate: measured,
                ci: [measured, measured],
                p: if passed { 0.0 } else { 1.0 },
                alpha,
                p_adjusted: None,
            },
            p_opposite: if passed { 1.0 } else { 0.0 },
            detail: String::new(),
            blocked: None,
            kind: Kind::Test,
            side: Side::Between(f64::NEG_INFINITY, f64::INFINITY),
        })
    }

    /// An intersection–union test: the statement holds only if every part holds; its p
    /// is the largest part's p (no multiplicity penalty is needed), it fails when any
    /// part fails (a part whose own preconditions are met: a decided failure settles the
    /// conjunction even if another part is blocked), and otherwise is blocked when any
    /// part is. The record shows the weakest part's estimate and interval; `detail` lists
    /// every part.
    pub fn all_of(parts: Vec<(String, Judgement)>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::invalid("intersection–union: no parts"));
        };
        if parts.iter().any(|(_, j)| j.kind != Kind::Test) {
            return Err(Error::invalid(
                "intersection–union: a control cannot be a part",
            ));
        }
        let alpha = first.1.test.alpha;
        let nanmax = |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        };
        let p = parts.iter().fold(0.0, |m, (_, j)| nanmax(m, j.test.p));
        let p_opp = parts
            .iter()
            .map(|(_, j)| j.p_opposite)
            .fold(f64::INFINITY, f64::min);
        let weakest = parts
            .iter()
            .max_by(|a, b| a.1.test.p.total_cmp(&b.1.test.p))
            .map(|(_, j)| j)
            .unwrap_or(&first.1);
        let detail = parts
            .iter()
            .map(|(label, j)| {
                let v = j.verdict(j.test.p);
                format!(
                    "{label}: {} [{}, {}], p = {} ({})",
                    fmt(j.test.estimate),
                    fmt(j.test.ci[0]),
                    fmt(j.test.ci[1]),
                    format_p(j.test.p),
                    v.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let blocked: Vec<String> = parts
            .iter()
            .filter_map(|(l, j)| j.blocked.as_ref().map(|b| format!("{l}: {b}")))
            .collect();
        let decided_failure = parts
            .iter()
            .any(|(_, j)| j.blocked.is_none() && j.verdict(j.test.p) == Verdict::Fails);
        let (detail, blocked) = if decided_failure && !blocked.is_empty() {
            let not_judged = format!("{detail}; not judged: {}", blocked.join("; "));
            (not_judged, Vec::new())
        } else {
            (detail, blocked)
        };
        Ok(Self {
            test: TestResult {
                name: format!(
                    "intersection–union over {} parts, each {}",
                    parts.len(),
                    first.1.test.name
                ),
                n: parts.iter().map(|(_, j)| j.test.n).min().unwrap_or(0),
                unit: first.1.test.unit.clone(),
                estimate: weakest.test.estimate,
                ci: weakest.test.ci,
                p,
                alpha,
                p_adjusted: None,
            },
            p_opposite: p_opp,
            detail,
            blocked: (!blocked.is_empty()).then(|| blocked.join("; ")),
            kind: Kind::Test,
            side: first.1.side,
        })
    }

    /// Inconclusive unless every precondition (e.g. "DQN beats random") holds at the
    /// unadjusted α. Preconditions belong outside the Holm family
    /// ([`ClaimFamily::control`]).
    pub fn gated(mut self, preconditions: &[(&str, &Judgement)]) -> Self {
        let unmet: Vec<String> = preconditions
            .iter()
            .filter(|(_, j)| j.verdict(j.test.p) != Verdict::Holds)
            .map(|(name, j)| format!("{name} ({})", j.verdict(j.test.p).as_str()))
            .collect();
        if !unmet.is_empty() {
            let why = format!("precondition not met: {}", unmet.join(", "));
            self.blocked = Some(match self.blocked.take() {
                Some(b) => format!("{b}; {why}"),
                None => why,
            });
        }
        self
    }

    /// The sign-agreement rule for a claim tested on data combined over seeds:
    /// inconclusive unless every per-seed estimate lies on the claimed side of the
    /// tested value (above the threshold, or above −margin, …).
    pub fn every_part_agrees(mut self, per_seed: &[f64]) -> Self {
        let ok = |v: f64| match self.side {
            Side::Above(t) => v > t,
            Side::Below(t) => v < t,
            Side::Between(lo, hi) => v > lo && v < hi,
        };
        let bad: Vec<String> = per_seed
            .iter()
            .enumerate()
            .filter(|(_, v)| !ok(**v))
            .map(|(i, v)| format!("#{i} {}", fmt(*v)))
            .collect();
        if !bad.is_empty() {
            let why = format!(
                "per-seed estimates not all on the claimed side ({})",
                bad.join(", ")
            );
            self.blocked = Some(match self.blocked.take() {
                Some(b) => format!("{b}; {why}"),
                None => why,
            });
        }
        self
    }

    /// The verdict at the given (adjusted) p-value: blocked → inconclusive; a control
    /// holds unless rejected; otherwise fails if the opposite test is significant,
    /// holds if `p_adjusted < α`, else inconclusive.
    pub fn verdict(&self, p_adjusted: f64) -> Verdict {
        let a = self.test.alpha;
        if self.blocked.is_some() {
            return Verdict::Inconclusive;
        }
        match self.kind {
            Kind::Consistency if self.test.p.is_nan() => Verdict::Inconclusive,
            Kind::Consistency if self.test.p >= a => Verdict::Holds,
            Kind::Consistency => Verdict::Fails,
            Kind::Test if self.p_opposite < a => Verdict::Fails,
            Kind::Test if p_adjusted < a => Verdict::Holds,
            Kind::Test => Verdict::Inconclusive,
        }
    }

    /// The verdict before any multiplicity correction (what a precondition uses).
    pub fn unadjusted_verdict(&self) -> Verdict {
        self.verdict(self.test.p)
    }
}

/// A p-value as the reports print it: three decimals from 0.001 up, one significant
/// digit in scientific notation below, "—" when there is none (NaN).
pub fn format_p(p: f64) -> String {
    if p.is_nan() {
        "—".into()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

struct Entry {
    id: String,
    statement: String,
    evidence: String,
    judgement: Option<Judgement>,
    reason: String,
    in_family: bool,
}

/// One paper's claims, in order; [`Self::finish`] applies Holm's correction to the
/// family members and returns the final [`Claim`]s.
pub struct ClaimFamily {
    alpha: f64,
    entries: Vec<Entry>,
}

impl ClaimFamily {
    /// A family tested at level `alpha` (0.05 in candor).
    pub fn new(alpha: f64) -> Self {
        Self {
            alpha,
            entries: Vec::new(),
        }
    }

    fn push(&mut self, id: &str, statement: &str, evidence: &str, j: Judgement, fam: bool) {
        self.entries.push(Entry {
            id: id.to_string(),
            statement: statement.to_string(),
            evidence: evidence.to_string(),
            in_family: fam && j.kind == Kind::Test,
            judgement: Some(j),
            reason: String::new(),
        });
    }

    /// A claim of the paper: its p-value joins the Holm family.
    pub fn claim(&mut self, id: &str, statement: &str, evidence: &str, j: Judgement) -> &mut Self {
        self.push(id, statement, evidence, j, true);
        self
    }

    /// A sanity check or precondition: decided at the unadjusted α, outside the family.
    pub fn control(
        &mut self,
        id: &str,
        statement: &str,
        evidence: &str,
        j: Judgement,
    ) -> &mut Self {
        self.push(id, statement, evidence, j, false);
        self
    }

    /// A claim whose test could not be run (inconclusive; `reason` says why).
    pub fn not_judged(
        &mut self,
        id: &str,
        statement: &str,
        evidence: &str,
        reason: &str,
    ) -> &mut Self {
        self.entries.push(Entry {
            id: id.to_string(),
            statement: statement.to_string(),
            evidence: evidence.to_string(),
            judgement: None,
            reason: reason.to_string(),
            in_family: false,
        });
        self
    }

    /// A claim decided from its per-task `parts` by `combine` (e.g.
    /// [`Judgement::all_of`]), or recorded as not judged when a part's test could not be
    /// computed (`failure`, the reason) or no part was run (`missing` says why).
    #[allow(clippy::too_many_arguments)]
    pub fn claim_from_parts(
        &mut self,
        id: &str,
        statement: &str,
        evidence: &str,
        failure: Option<String>,
        parts: Vec<(String, Judgement)>,
        missing: &str,
        combine: impl FnOnce(Vec<(String, Judgement)>) -> Result<Judgement>,
    ) -> Result<&mut Self> {
        Ok(match (failure, parts.is_empty()) {
            (Some(e), _) => self.not_judged(id, statement, evidence, &e),
            (None, true) => self.not_judged(id, statement, evidence, missing),
            (None, false) => self.claim(id, statement, evidence, combine(parts)?),
        })
    }

    /// The RL papers' precondition "`who` beats a uniform random policy", added as a
    /// control: Welch's t of `per_seed` (one statistic per seed) against `random` (one
    /// return per random-policy episode), one-sided superiority at the family's α. The
    /// evidence lists the seeds' values beside the random mean. Returns the judgement to
    /// [`gate`](Judgement::gated) claims on, or `None` when the test cannot be run (then
    /// recorded as not judged, with the reason).
    pub fn beats_random_control(
        &mut self,
        id: &str,
        statement: &str,
        who: &str,
        per_seed: &[f64],
        random: &[f64],
    ) -> Option<Judgement> {
        let judged = super::groups::welch(per_seed, random, "seeds vs random episodes")
            .and_then(|w| Judgement::superior(&w, self.alpha));
        match judged {
            Ok(j) => {
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                let evidence = format!(
                    "{who} {:.1} (seeds: {}) vs random {:.1} ({} episodes)",
                    mean(per_seed),
                    per_seed
                        .iter()
                        .map(|v| format!("{v:.1}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    mean(random),
                    random.len()
                );
                self.control(id, statement, &evidence, j.clone());
                Some(j)
            }
            Err(e) => {
                self.not_judged(id, statement, "", &e.to_string());
                None
            }
        }
    }

    /// Adjust the family's p-values (Holm; a NaN p counts as 1) and return every claim
    /// with its final verdict, in the order added. A judgement tested at another α than
    /// the family's is an error.
    pub fn try_finish(self) -> Result<Vec<Claim>> {
        for e in &self.entries {
            if let Some(j) = &e.judgement {
                if j.test.alpha != self.alpha {
                    return Err(Error::invalid(format!(
                        "claim {}: tested at α = {} in a family at α = {}",
                        e.id, j.test.alpha, self.alpha
                    )));
                }
            }
        }
        let fam: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].in_family)
            .collect();
        let ps: Vec<f64> = fam
            .iter()
            .map(|&i| {
                let p = self.entries[i].judgement.as_ref().map_or(1.0, |j| j.test.p);
                if p.is_nan() {
                    1.0
                } else {
                    p
                }
            })
            .collect();
        let adj = holm(&ps)?;
        let m = fam.len();
        let mut out = Vec::with_capacity(self.entries.len());
        for (i, e) in self.entries.into_iter().enumerate() {
            let Some(mut j) = e.judgement else {
                out.push(Claim::not_judged(e.id, e.statement, e.evidence, &e.reason));
                continue;
            };
            let p_adj = fam.iter().position(|&k| k == i).map(|k| adj[k]);
            let verdict = j.verdict(p_adj.unwrap_or(j.test.p));
            j.test.p_adjusted = p_adj;
            let mut ev: Vec<String> = Vec::new();
            if !e.evidence.is_empty() {
                ev.push(e.evidence);
            }
            if !j.detail.is_empty() {
                ev.push(j.detail.clone());
            }
            if let Some(b) = &j.blocked {
                ev.push(format!("inconclusive: {b}"));
            }
            if p_adj.is_some() {
                ev.push(format!("Holm family of {m}"));
            } else if j.kind == Kind::Consistency {
                ev.push("control (outside the Holm family)".into());
            } else {
                ev.push("outside the Holm family".into());
            }
            out.push(Claim::new(
                e.id,
                e.statement,
                verdict,
                ev.join("; "),
                j.test,
            ));
        }
        Ok(out)
    }

    /// [`Self::try_finish`] for families built with one α (the α given to `new`, as
    /// every constructor was): panics never; a mismatched α or an invalid p-value
    /// leaves those claims inconclusive with the error as their evidence.
    pub fn finish(self) -> Vec<Claim> {
        let ids: Vec<(String, String)> = self
            .entries
            .iter()
            .map(|e| (e.id.clone(), e.statement.clone()))
            .collect();
        match self.try_finish() {
            Ok(c) => c,
            Err(err) => ids
                .into_iter()
                .map(|(id, st)| {
                    Claim::not_judged(id, st, "", &format!("claim family invalid: {err}"))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
