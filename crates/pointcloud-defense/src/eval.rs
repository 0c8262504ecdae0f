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
//! ([`random_targets`]). SRS draws its points from a seed derived per column.

use std::time::Instant;

use candor_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::attack::{
    add_attack, perturbation_attack, random_targets, saliency_drop, AddDistance, AttackOutcome,
    CwConfig, DropConfig,
};
use crate::data::PointCloudSet;
use crate::defense::{Defense, SorConfig, SrsConfig};
use crate::model::PointNet;

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

/// Settings of the evaluation. [`Default`] is IF-Defense's protocol.
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
    /// Accuracy per defense row (none, SRS, SOR).
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

fn fraction(hits: impl Iterator<Item = bool>) -> f64 {
    let (mut k, mut n) = (0usize, 0usize);
    for h in hits {
        k += usize::from(h);
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
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
    let rows = defenses(cfg);
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
        let mut accuracy = [0.0; 3];
        let mut success = [0.0; 3];
        let mut eliminated = [0.0; 3];
        let mut mean_points = [0.0; 3];
        let mut undefended_hit = Vec::new();
        for (r, defense) in rows.iter().enumerate() {
            let seed = cfg.seed ^ (0x5e5 + 7919 * columns.len() as u64);
            let defended = defense.apply_batch(&adv, seed)?;
            let d: Vec<&[f32]> = defended.iter().map(|c| c.as_slice()).collect();
            mean_points[r] = d.iter().map(|c| (c.len() / 3) as f64).sum::<f64>() / d.len() as f64;
            let pred = net.predict_clouds(&d, cfg.batch_size)?;
            accuracy[r] = fraction(pred.iter().zip(&labels).map(|(p, l)| p == l));
            success[r] = fraction(pred.iter().zip(&targets).map(|(p, t)| p == t));
            if r == 0 {
                undefended_hit = pred.iter().zip(&targets).map(|(p, t)| p == t).collect();
            }
            eliminated[r] = fraction(
                pred.iter()
                    .zip(&targets)
                    .zip(&undefended_hit)
                    .filter(|(_, &hit)| hit)
                    .map(|((p, t), _)| p != t),
            );
        }
        columns.push(ColumnResult {
            attack,
            accuracy,
            success: attack.targeted().then_some(success),
            eliminated: attack.targeted().then_some(eliminated),
            mean_distance: outcome
                .as_ref()
                .map(|o| o.distance.iter().sum::<f64>() / o.distance.len().max(1) as f64),
            mean_points,
            seconds,
            first_cloud: adversarial.first().cloned().unwrap_or_default(),
            first_success: outcome.as_ref().and_then(|o| o.success.first().copied()),
        });
    }
    Ok(Table2 {
        clouds: total,
        columns,
    })
}
