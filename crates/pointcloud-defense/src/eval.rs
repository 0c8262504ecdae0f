//! Attack-and-defense evaluation in the layout of IF-Defense's Table 2: rows
//! No defense / SRS / SOR, columns Clean / Perturb / Add-CD / Add-HD /
//! Drop-200, each cell the accuracy on the defended (adversarial) clouds; plus
//! the targeted success rate before and after each defense and both readings
//! of the paper's "attacks eliminated":
//!
//! * **1 − post-defense success**: the fraction of the successfully attacked
//!   clouds whose defended prediction is no longer the target;
//! * **accuracy recovered**: the accuracy on the defended adversarial clouds
//!   (all clouds), the table's cell.
//!
//! Every cloud of the test set is attacked (including the ones the clean model
//! misclassifies, as IF-Defense), towards a fixed random target `≠` its label
//! ([`random_targets`]).
//!
//! **Every attack is defense-oblivious**: it optimises against the undefended
//! PointNet and the defenses are applied afterwards, as in the paper and in
//! IF-Defense's Table 2. No adaptive attack (BPDA through SOR, EOT over SRS's
//! random draws) is run, so the defended accuracies are upper bounds on what a
//! defense-aware attacker would leave.
//!
//! ## Per-cloud outcomes
//!
//! Each column keeps, for every cloud and defense row, whether the defended
//! cloud is classified correctly ([`ColumnResult::correct`]) and as its target
//! ([`ColumnResult::on_target`]), so that claims can be tested with the cloud
//! as the unit (paired comparisons of two defenses on the same clouds). SRS is
//! random: each cloud is defended by [`EvalConfig::srs_draws`] independent
//! draws (10 by default; the adversarial cloud is attacked once) and its
//! outcome is the share of draws that classify it correctly, a value in
//! `[0, 1]`; none and SOR are deterministic (0 or 1). Cloud `c`'s draw `d` in
//! column `label` uses `SeededRng::derive(seed, "srs/<label>/<d>/<c>")`.
//!
//! ## Intervals
//!
//! [`ColumnResult::accuracy_interval`] gives each cell a Wilson score interval over
//! the clouds (core's [`wilson_interval_fractional`], the count being the sum of the
//! per-cloud outcomes). For the 0/1 rows it is the usual Wilson interval; for SRS's mean of
//! per-cloud shares it is conservative, since a variable in `[0, 1]` with mean
//! `μ` has variance at most `μ(1 − μ)`, the variance the Wilson interval
//! assumes.

use std::time::Instant;

use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::attack::{
    add_attack, perturbation_attack, random_targets, saliency_drop, AddDistance, AttackOutcome,
    CwConfig, DropConfig,
};
use crate::data::PointCloudSet;
use crate::defense::{sor_batch, srs, Defense, SorConfig, SrsConfig};
use crate::model::PointNet;
use candor_core::stats::proportion::wilson_interval_fractional;
use candor_core::SeededRng;
use rayon::prelude::*;

/// The attacks of the evaluation, in column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttackKind {
    /// No attack.
    Clean,
    /// C&W L2 perturbation.
    Perturb,
    /// Point adding, Chamfer distance.
    AddCd,
    /// Point adding, Hausdorff distance.
    AddHd,
    /// Saliency point dropping.
    Drop,
}

impl AttackKind {
    /// All columns, in Table 2's order.
    pub const ALL: [AttackKind; 5] = [
        AttackKind::Clean,
        AttackKind::Perturb,
        AttackKind::AddCd,
        AttackKind::AddHd,
        AttackKind::Drop,
    ];

    /// Column label.
    pub fn label(self, drop: usize) -> String {
        match self {
            AttackKind::Clean => "Clean".into(),
            AttackKind::Perturb => "Perturb".into(),
            AttackKind::AddCd => "Add-CD".into(),
            AttackKind::AddHd => "Add-HD".into(),
            AttackKind::Drop => format!("Drop-{drop}"),
        }
    }

    /// Whether the attack is targeted (has a success rate).
    pub fn targeted(self) -> bool {
        matches!(
            self,
            AttackKind::Perturb | AttackKind::AddCd | AttackKind::AddHd
        )
    }
}

/// Settings of the evaluation. [`Default`] is IF-Defense's protocol, except
/// that SRS is drawn [`srs_draws`](Self::srs_draws) = 10 times per cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Points per cloud (the first `num_points` of each; 1024).
    pub num_points: usize,
    /// The perturbation attack.
    pub perturb: CwConfig,
    /// The Chamfer point-adding attack.
    pub add_cd: CwConfig,
    /// The Hausdorff point-adding attack.
    pub add_hd: CwConfig,
    /// Points added by the adding attacks (512).
    pub add_points: usize,
    /// The dropping attack.
    pub drop: DropConfig,
    /// SRS (drop 500).
    pub srs: SrsConfig,
    /// Independent SRS draws per cloud, averaged (10; IF-Defense draws once).
    pub srs_draws: usize,
    /// SOR (IF-Defense: k 2, α 1.1, squared).
    pub sor: SorConfig,
    /// Which columns to run.
    pub attacks: Vec<AttackKind>,
    /// Batch size for classification.
    pub batch_size: usize,
    /// Seed of targets, attack initialisations and SRS.
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            num_points: 1024,
            perturb: CwConfig::perturbation(),
            add_cd: CwConfig::add_chamfer(),
            add_hd: CwConfig::add_hausdorff(),
            add_points: 512,
            drop: DropConfig::default(),
            srs: SrsConfig::default(),
            srs_draws: 10,
            sor: SorConfig::default(),
            attacks: AttackKind::ALL.to_vec(),
            batch_size: 32,
            seed: 0,
        }
    }
}

/// The defenses of the rows, in order.
pub fn defenses(cfg: &EvalConfig) -> [Defense; 3] {
    [Defense::None, Defense::Srs(cfg.srs), Defense::Sor(cfg.sor)]
}

/// One column of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnResult {
    /// The attack.
    pub attack: AttackKind,
    /// Per defense row (none, SRS, SOR), per cloud: the share of the row's
    /// draws that classify the defended cloud correctly (0 or 1 for none and
    /// SOR; SRS averages [`EvalConfig::srs_draws`] draws).
    pub correct: [Vec<f64>; 3],
    /// The same for "classified as the cloud's target" (targeted columns).
    pub on_target: Option<[Vec<f64>; 3]>,
    /// Accuracy per defense row (none, SRS, SOR): the mean of `correct`.
    pub accuracy: [f64; 3],
    /// Targeted success per defense row (fraction of all clouds predicted as
    /// their target); `None` for untargeted columns.
    pub success: Option<[f64; 3]>,
    /// Among clouds attacked successfully before any defense, the fraction a
    /// defense row turns away from the target (row 0 is 0 by definition).
    pub eliminated: Option<[f64; 3]>,
    /// Mean distance `D` of the attack's output (targeted attacks).
    pub mean_distance: Option<f64>,
    /// Mean points per cloud after each defense.
    pub mean_points: [f64; 3],
    /// Seconds spent on the attack.
    pub seconds: f64,
    /// The first adversarial cloud (for figures; not serialised).
    #[serde(skip)]
    pub first_cloud: Vec<f32>,
    /// Whether the attack reached its target on the first cloud (targeted
    /// attacks).
    #[serde(skip)]
    pub first_success: Option<bool>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table2 {
    /// Clouds evaluated.
    pub clouds: usize,
    /// Columns in the order run.
    pub columns: Vec<ColumnResult>,
}

impl Table2 {
    /// The column of `attack`, if it was run.
    pub fn column(&self, attack: AttackKind) -> Option<&ColumnResult> {
        self.columns.iter().find(|c| c.attack == attack)
    }
}

impl ColumnResult {
    /// A column from per-cloud outcomes (see the fields), computing the
    /// accuracies, success rates and eliminated fractions from them.
    /// `mean_points`, `seconds`, `mean_distance` and the figure fields are
    /// left empty.
    pub fn from_outcomes(
        attack: AttackKind,
        correct: [Vec<f64>; 3],
        on_target: Option<[Vec<f64>; 3]>,
    ) -> Result<Self> {
        let n = correct[0].len();
        let rows = correct.iter().chain(on_target.iter().flatten());
        if n == 0 || rows.clone().any(|r| r.len() != n) {
            return Err(Error::invalid(format!(
                "column {attack:?}: every row needs the same positive number of clouds"
            )));
        }
        if let Some(v) = rows.flatten().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::invalid(format!(
                "column {attack:?}: outcome {v} outside [0, 1]"
            )));
        }
        let accuracy = [mean(&correct[0]), mean(&correct[1]), mean(&correct[2])];
        let (success, eliminated) = match &on_target {
            Some(t) => {
                let success = [mean(&t[0]), mean(&t[1]), mean(&t[2])];
                // Among the clouds the attack fooled without defense, the share
                // of each row's draws that no longer predict the target.
                let fooled: Vec<usize> = (0..n).filter(|&i| t[0][i] == 1.0).collect();
                let elim = |r: usize| {
                    if fooled.is_empty() {
                        0.0
                    } else {
                        fooled.iter().map(|&i| 1.0 - t[r][i]).sum::<f64>() / fooled.len() as f64
                    }
                };
                (Some(success), Some([elim(0), elim(1), elim(2)]))
            }
            None => (None, None),
        };
        Ok(ColumnResult {
            attack,
            correct,
            on_target,
            accuracy,
            success,
            eliminated,
            mean_distance: None,
            mean_points: [0.0; 3],
            seconds: 0.0,
            first_cloud: Vec::new(),
            first_success: None,
        })
    }

    /// Number of clouds.
    pub fn clouds(&self) -> usize {
        self.correct[0].len()
    }

    /// The Wilson interval at `conf` of row `r`'s accuracy over the clouds
    /// (the Wilson interval of the fractional count `Σ outcomes` out of the clouds;
    /// see the module docs).
    pub fn accuracy_interval(&self, r: usize, conf: f64) -> Result<[f64; 2]> {
        let row = self
            .correct
            .get(r)
            .ok_or_else(|| Error::invalid(format!("no defense row {r}")))?;
        wilson_interval_fractional(row.iter().sum(), row.len() as f64, conf)
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Per-cloud shares of `draws` predictions that are correct and on target.
fn score(preds: &[Vec<usize>], labels: &[usize], targets: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let draws = preds.len() as f64;
    let share =
        |i: usize, want: usize| preds.iter().filter(|p| p[i] == want).count() as f64 / draws;
    (
        (0..labels.len()).map(|i| share(i, labels[i])).collect(),
        (0..labels.len()).map(|i| share(i, targets[i])).collect(),
    )
}

/// Runs every configured attack on the first `cfg.num_points` points of each
/// cloud of `set` and scores the three defenses. `progress(column, done,
/// total)` is called as clouds are attacked.
pub fn evaluate_attacks(
    net: &PointNet,
    set: &PointCloudSet,
    cfg: &EvalConfig,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Table2> {
    if set.is_empty() {
        return Err(Error::invalid("evaluate_attacks: empty test set"));
    }
    let data = set.first_points(cfg.num_points)?;
    let clouds: Vec<&[f32]> = data.clouds().collect();
    let labels: Vec<usize> = data.labels.iter().map(|&l| l as usize).collect();
    let num_classes = net.config().num_classes;
    let targets = random_targets(&labels, num_classes, cfg.seed)?;
    if cfg.srs_draws == 0 {
        return Err(Error::invalid(
            "evaluate_attacks: srs_draws must be at least 1",
        ));
    }
    let total = clouds.len();
    let mut columns = Vec::new();
    for &attack in &cfg.attacks {
        let label = attack.label(cfg.drop.num_drop);
        let t0 = Instant::now();
        let mut report = |done: usize| progress(&label, done, total);
        let outcome: Option<AttackOutcome>;
        let adversarial: Vec<Vec<f32>> = match attack {
            AttackKind::Clean => {
                outcome = None;
                clouds.iter().map(|c| c.to_vec()).collect()
            }
            AttackKind::Perturb => {
                let o = perturbation_attack(
                    net,
                    &clouds,
                    &targets,
                    &cfg.perturb,
                    cfg.seed,
                    &mut report,
                )?;
                let c = o.clouds.clone();
                outcome = Some(o);
                c
            }
            AttackKind::AddCd | AttackKind::AddHd => {
                let (dist, c) = if attack == AttackKind::AddCd {
                    (AddDistance::Chamfer, &cfg.add_cd)
                } else {
                    (AddDistance::Hausdorff, &cfg.add_hd)
                };
                let o = add_attack(
                    net,
                    &clouds,
                    &targets,
                    cfg.add_points,
                    dist,
                    c,
                    cfg.seed,
                    &mut report,
                )?;
                let c = o.clouds.clone();
                outcome = Some(o);
                c
            }
            AttackKind::Drop => {
                outcome = None;
                saliency_drop(net, &clouds, &labels, &cfg.drop, &mut report)?
            }
        };
        let seconds = t0.elapsed().as_secs_f64();
        let adv: Vec<&[f32]> = adversarial.iter().map(|c| c.as_slice()).collect();
        let bs = cfg.batch_size;
        let npts = |cs: &[Vec<f32>]| {
            cs.iter().map(|c| (c.len() / 3) as f64).sum::<f64>() / cs.len().max(1) as f64
        };
        // No defense.
        for c in &adv {
            crate::data::check_cloud(c, "defense input")?;
        }
        let none = vec![net.predict_clouds(&adv, bs)?];
        // SRS, `srs_draws` independent draws per cloud.
        let mut srs_preds = Vec::with_capacity(cfg.srs_draws);
        let mut srs_points = 0.0;
        for d in 0..cfg.srs_draws {
            let defended: Vec<Vec<f32>> = adv
                .par_iter()
                .enumerate()
                .map(|(c, p)| {
                    let mut rng = SeededRng::derive(cfg.seed, &format!("srs/{label}/{d}/{c}"));
                    srs(p, &cfg.srs, &mut rng)
                })
                .collect::<Result<_>>()?;
            srs_points += npts(&defended);
            let d: Vec<&[f32]> = defended.iter().map(|c| c.as_slice()).collect();
            srs_preds.push(net.predict_clouds(&d, bs)?);
        }
        // SOR.
        let sor_clouds = sor_batch(&adv, &cfg.sor)?;
        let sor_points = npts(&sor_clouds);
        let d: Vec<&[f32]> = sor_clouds.iter().map(|c| c.as_slice()).collect();
        let sor = vec![net.predict_clouds(&d, bs)?];

        let (c0, t0v) = score(&none, &labels, &targets);
        let (c1, t1v) = score(&srs_preds, &labels, &targets);
        let (c2, t2v) = score(&sor, &labels, &targets);
        let mut col = ColumnResult::from_outcomes(
            attack,
            [c0, c1, c2],
            attack.targeted().then_some([t0v, t1v, t2v]),
        )?;
        col.mean_distance = outcome
            .as_ref()
            .map(|o| o.distance.iter().sum::<f64>() / o.distance.len().max(1) as f64);
        col.mean_points = [
            npts(&adversarial),
            srs_points / cfg.srs_draws as f64,
            sor_points,
        ];
        col.seconds = seconds;
        col.first_cloud = adversarial.first().cloned().unwrap_or_default();
        col.first_success = outcome.as_ref().and_then(|o| o.success.first().copied());
        columns.push(col);
    }
    Ok(Table2 {
        clouds: total,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candor_core::stats::proportion::wilson_interval;

    #[test]
    fn accuracy_interval_is_wilson_over_clouds() {
        // 0/1 rows: the usual Wilson interval of k/n; averaged draws (SRS): the
        // interval of the fractional count, with the mean inside.
        let col = ColumnResult::from_outcomes(
            AttackKind::Perturb,
            [
                vec![1.0, 1.0, 0.0, 1.0],
                vec![0.5, 0.8, 0.1, 0.9],
                vec![1.0, 1.0, 1.0, 1.0],
            ],
            None,
        )
        .unwrap();
        let got = col.accuracy_interval(0, 0.95).unwrap();
        assert_eq!(got, wilson_interval(3, 4, 0.95).unwrap());
        let [lo, hi] = col.accuracy_interval(1, 0.95).unwrap();
        assert!(lo < 0.575 && 0.575 < hi);
        assert_eq!(col.accuracy_interval(2, 0.95).unwrap()[1], 1.0);
        assert!(col.accuracy_interval(3, 0.95).is_err());
        assert!(col.accuracy_interval(0, 1.0).is_err());
    }
}
