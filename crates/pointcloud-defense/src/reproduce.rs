//! The paper's experiment (`cargo xtask reproduce --paper pointcloud-defense`):
//! a PointNet victim, the C&W perturbation and point-adding attacks and
//! saliency dropping, and the SRS/SOR defenses, scored in the layout of
//! IF-Defense's Table 2 (see [`crate::eval`]).
//!
//! | scale | data | victim | attacks (binary steps × iterations) | clouds attacked |
//! |---|---|---|---|---|
//! | smoke | synthetic, 4 classes, 128 points | tiny PointNet, 3 epochs | 1 × 3 | 8 |
//! | quick | synthetic, 10 classes, 1024 of 2048 points | small TF PointNet (widths ≤ 256), 8 epochs | Perturb 3 × 60, Add 2 × 25 | 600 |
//! | paper | ModelNet40 HDF5 from `--data DIR` | TF-original PointNet, 250 epochs | 10 × 500 | all 2468 |
//!
//! The synthetic set is written in the ModelNet40 layout under the output folder
//! and read back through the same HDF5 loader as the real data. Its numbers are
//! a proxy: the paper's (IF-Defense's) are printed beside ours for reference
//! only. At paper scale (or with `--resume`), training checkpoints to
//! `checkpoints/pointnet-train.ckpt` in the output folder after every epoch, and
//! `cargo xtask reproduce --resume` resumes from it.
//!
//! **Victim and reference.** Our victim is the TF-original PointNet
//! (`charlesq34/pointnet`, the one Xiang et al. and DUP-Net attack; narrowed at
//! quick scale); IF-Defense's Table 2, printed as the paper rows, was measured
//! on IF-Defense's own PyTorch PointNet (no feature T-Net), so even at paper
//! scale the rows compare different victims.
//!
//! **Threat model.** Every attack is defense-oblivious: it is optimised against
//! the undefended victim and SRS/SOR are applied afterwards, as in the paper
//! and IF-Defense. No adaptive attack is run (no BPDA through SOR's
//! non-differentiable filter, no EOT over SRS's random draws); defended
//! accuracies are upper bounds against an attacker who knows the defense.
//!
//! ## Claims and their tests
//!
//! Fixed before any run (issue 10); the unit of every test is the attacked
//! cloud, α = 0.05 one-sided, Holm across the five claims ([`judge_claims`]):
//!
//! | id | statement | test |
//! |---|---|---|
//! | `pc.clean` | clean accuracy ≥ 0.85 | exact binomial, one-sided |
//! | `pc.attack` | Perturb's targeted success without defense ≥ 0.90 | exact binomial, one-sided |
//! | `pc.sor-recovers` | accuracy after SOR under Perturb ≥ 0.60 | exact binomial, one-sided |
//! | `pc.sor-beats-srs` | SOR beats SRS on Perturb, Add-CD, Add-HD; no worse (margin 0.02) on Drop-200 | intersection–union of paired BCa bootstraps over clouds (SOR 0/1 vs SRS's share of 10 draws): superiority, and non-inferiority on Drop |
//! | `pc.sor-clean-cost` | SOR costs ≤ 0.03 of clean accuracy | paired BCa bootstrap over clouds, one-sided |
//!
//! Table cells show 95% Wilson intervals over the clouds
//! ([`wilson_interval_fractional`] of the summed outcomes; conservative for SRS's
//! averages); claim intervals are two-sided 90%.

use std::time::Instant;

use candle_core::DType;
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_core::plot::{
    grouped_bar_plot, scatter_panels, BarGroup, BarValue, GroupedBars, Panel, Series,
};
use candor_core::progress::progress_bar;
use candor_core::report::{Cell, Claim, Report, Table};
use candor_core::stats::bootstrap::{bootstrap_paired_fractions, BootstrapConfig, BootstrapMethod};
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::proportion::{Proportion, ProportionMethod};
use candor_core::{Error, ReproduceOptions, Result, Scale};

use crate::attack::{CwConfig, DropConfig};
use crate::data::synthetic::{write_synthetic_modelnet, SyntheticConfig};
use crate::data::ModelNet40;
use crate::defense::{sor_stats, SrsConfig};
use crate::eval::{evaluate_attacks, AttackKind, EvalConfig, Table2};
use crate::model::{save_pointnet, PointNet, PointNetConfig};
use crate::train::{train, TrainConfig, TrainReport};
use candor_core::stats::proportion::wilson_interval_fractional;

/// IF-Defense Table 2, PointNet on ModelNet40, accuracy (%): rows none, SRS,
/// SOR; columns Clean, Perturb, Add-CD, Add-HD, Drop-200.
pub const IF_DEFENSE_TABLE2: [[f64; 5]; 3] = [
    [88.41, 0.00, 0.00, 0.00, 40.24],
    [87.44, 77.47, 76.34, 73.66, 39.51],
    [87.88, 82.81, 82.58, 82.25, 42.59],
];

/// The settings of one scale.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The synthetic set (smoke, quick); `None` reads ModelNet40.
    pub synthetic: Option<SyntheticConfig>,
    /// The victim.
    pub model: PointNetConfig,
    /// Its training.
    pub train: TrainConfig,
    /// Test clouds attacked (`None`: all).
    pub attack_clouds: Option<usize>,
    /// The attacks and defenses.
    pub eval: EvalConfig,
}

/// The small TF-variant PointNet of the quick scale (widths 32–256).
pub fn small_pointnet(num_classes: usize) -> PointNetConfig {
    PointNetConfig {
        num_classes,
        stem: vec![32, 32],
        trunk: vec![32, 64, 256],
        tnet_conv: vec![32, 64, 256],
        tnet_fc: vec![128, 64],
        head: vec![128, 64],
        ..PointNetConfig::tf_original()
    }
}

impl Setup {
    /// The settings of `scale` (`seed` seeds data, training and attacks).
    pub fn for_scale(scale: Scale, seed: u64) -> Setup {
        match scale {
            Scale::Smoke => {
                let synthetic = SyntheticConfig {
                    num_classes: 4,
                    train_per_class: 8,
                    test_per_class: 2,
                    num_points: 128,
                    clouds_per_file: 16,
                    seed,
                    ..SyntheticConfig::default()
                };
                let tiny = CwConfig::perturbation().with_schedule(1, 3);
                Setup {
                    synthetic: Some(synthetic),
                    model: PointNetConfig::tiny(),
                    train: TrainConfig {
                        epochs: 3,
                        num_points: 128,
                        seed,
                        ..TrainConfig::tiny()
                    },
                    attack_clouds: None,
                    eval: EvalConfig {
                        num_points: 128,
                        perturb: tiny.clone(),
                        add_cd: CwConfig::add_chamfer().with_schedule(1, 3),
                        add_hd: CwConfig::add_hausdorff().with_schedule(1, 3),
                        add_points: 16,
                        drop: DropConfig {
                            num_drop: 10,
                            ..DropConfig::default()
                        },
                        srs: SrsConfig { drop: 32 },
                        seed,
                        ..EvalConfig::default()
                    },
                }
            }
            Scale::Quick => {
                let synthetic = SyntheticConfig {
                    num_classes: 10,
                    train_per_class: 40,
                    // 600 attacked clouds (200, then 250, until issue 18's speed-ups;
                    // raised from timing alone, to what fits in an estimated 2/3 of the
                    // 10-minute share: 172.7 s with 250 at b7d16a6, ≈ 386 s with 600).
                    test_per_class: 60,
                    seed,
                    ..SyntheticConfig::default()
                };
                let sched = |c: CwConfig, iterations: usize| CwConfig {
                    batch_size: 50,
                    ..c.with_schedule(2, iterations)
                };
                Setup {
                    synthetic: Some(synthetic),
                    model: small_pointnet(10),
                    train: TrainConfig {
                        epochs: 8,
                        // 400 clouds per epoch: the TF decays scaled to the data.
                        schedule: crate::train::LrSchedule::TfExponential {
                            decay_samples: 1_600,
                            gamma: 0.7,
                            min_lr: 1e-5,
                        },
                        bn_momentum: Some(crate::train::BnMomentumSchedule {
                            decay_samples: 1_600,
                            ..Default::default()
                        }),
                        eval_every: 0,
                        seed,
                        ..TrainConfig::tf_original()
                    },
                    attack_clouds: None,
                    eval: EvalConfig {
                        perturb: CwConfig {
                            binary_steps: 3,
                            ..sched(CwConfig::perturbation(), 60)
                        },
                        add_cd: sched(CwConfig::add_chamfer(), 25),
                        add_hd: sched(CwConfig::add_hausdorff(), 25),
                        drop: DropConfig {
                            batch_size: 50,
                            ..DropConfig::default()
                        },
                        batch_size: 50,
                        seed,
                        ..EvalConfig::default()
                    },
                }
            }
            Scale::Paper => Setup {
                synthetic: None,
                model: PointNetConfig::tf_original(),
                train: TrainConfig {
                    seed,
                    ..TrainConfig::tf_original()
                },
                attack_clouds: None,
                eval: EvalConfig {
                    seed,
                    ..EvalConfig::default()
                },
            },
        }
    }
}

/// Runs the experiment and returns its report (also writing the plots and
/// the trained victim into `opts.out_dir`).
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    let started = Instant::now();
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let setup = Setup::for_scale(opts.scale, opts.seed);

    // Data.
    let (data, data_text, proxy) = match &setup.synthetic {
        Some(cfg) => {
            let dir = out.join("synthetic-modelnet");
            write_synthetic_modelnet(&dir, cfg)?;
            let data = ModelNet40::load(&dir)?;
            let text = format!(
                "Synthetic proxy of ModelNet40 (seeded procedural shapes: {}; {} train / {} \
                 test clouds of {} points, per-axis scale U[{}, {}], random rotation about the \
                 up axis), written as ModelNet40 HDF5 files and read back with the crate's HDF5 \
                 loader. Not comparable to the paper's numbers.",
                cfg.class_names().join(", "),
                data.train.len(),
                data.test.len(),
                cfg.num_points,
                cfg.scale_min,
                cfg.scale_max
            );
            (data, text, true)
        }
        None => {
            let dir = opts.data_dir.as_ref().ok_or_else(|| {
                Error::invalid(
                    "the paper scale needs ModelNet40 (modelnet40_ply_hdf5_2048): pass --data DIR",
                )
            })?;
            let data = ModelNet40::load(dir)?;
            let text = format!(
                "ModelNet40 (modelnet40_ply_hdf5_2048) from {}: {} train / {} test clouds.",
                dir.display(),
                data.train.len(),
                data.test.len()
            );
            (data, text, false)
        }
    };
    let mut model_cfg = setup.model.clone();
    model_cfg.num_classes = data.train.num_classes();

    // Victim.
    let t_train = Instant::now();
    let varmap = VarMap::new();
    let vb = seeded_var_builder(&varmap, opts.seed, DType::F32, &opts.device);
    let mut net = PointNet::new(vb, &model_cfg)?;
    // Per-epoch checkpoints at paper scale or with --resume (xtask clears them otherwise).
    let ckpt = opts.checkpoint_dir().map(|d| d.join("pointnet-train.ckpt"));
    let train_report = train(
        &mut net,
        &varmap,
        &data.train,
        None,
        &setup.train,
        ckpt.as_deref(),
    )?;
    let train_seconds = t_train.elapsed().as_secs_f64();
    save_pointnet(out.join("pointnet.safetensors"), &varmap, &model_cfg)?;

    // Attacks and defenses.
    let test = match setup.attack_clouds {
        Some(n) if n < data.test.len() => crate::data::PointCloudSet::new(
            data.test.points[..n * data.test.num_points * 3].to_vec(),
            data.test.labels[..n].to_vec(),
            data.test.num_points,
            data.test.class_names.clone(),
        )?,
        _ => data.test.clone(),
    };
    let mut eval_cfg = setup.eval.clone();
    eval_cfg.num_points = eval_cfg.num_points.min(test.num_points);
    let total = (test.len() * eval_cfg.attacks.len()) as u64;
    let pb = progress_bar(total, "pointcloud-defense");
    let mut finished = 0u64;
    let mut last_col = String::new();
    let mut last_done = 0usize;
    let table = evaluate_attacks(&net, &test, &eval_cfg, &mut |col, done, _| {
        if col != last_col {
            last_col = col.to_string();
            last_done = 0;
        }
        finished += (done - last_done) as u64;
        last_done = done;
        pb.set_position(finished);
        pb.set_message(format!("attack {col}"));
    })?;
    pb.finish_and_clear();

    let mut report = Report::new(
        "pointcloud-defense",
        opts.scale.as_str(),
        opts.seed,
        proxy,
        data_text,
    );
    add_tables(
        &mut report,
        &table,
        &eval_cfg,
        &setup,
        &train_report,
        train_seconds,
        proxy,
    );
    report.claims = judge_claims(&table, &eval_cfg, opts.seed)?;
    plots(&mut report, &table, &eval_cfg, &net, &test, out)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn pct(v: f64) -> Cell {
    Cell::Num(v)
}

/// Confidence of the descriptive intervals in the tables and the plot.
pub const TABLE_CONFIDENCE: f64 = 0.95;

/// A cell with the Wilson interval of a mean over `n` clouds.
fn with_interval(value: f64, n: usize) -> Cell {
    match wilson_interval_fractional(value * n as f64, n as f64, TABLE_CONFIDENCE) {
        Ok(ci) => Cell::Interval { value, ci },
        Err(_) => Cell::Num(value),
    }
}

/// The defense rows of the tables.
const ROWS: [&str; 3] = ["No defense", "SRS", "SOR"];

fn add_tables(
    report: &mut Report,
    t: &Table2,
    cfg: &EvalConfig,
    setup: &Setup,
    train_report: &TrainReport,
    train_seconds: f64,
    proxy: bool,
) {
    let labels: Vec<String> = t
        .columns
        .iter()
        .map(|c| c.attack.label(cfg.drop.num_drop))
        .collect();
    let cols: Vec<&str> = labels.iter().map(|s| s.as_str()).collect();
    let mut t2 = Table::new(
        "Table 2 (IF-Defense layout): accuracy on defended clouds",
        &cols,
    );
    for (r, name) in ROWS.iter().enumerate() {
        t2.row(
            *name,
            t.columns
                .iter()
                .map(|c| with_interval(c.accuracy[r], c.clouds()))
                .collect(),
        );
    }
    for (r, name) in ROWS.iter().enumerate() {
        let vals = t
            .columns
            .iter()
            .map(|c| {
                let i = AttackKind::ALL
                    .iter()
                    .position(|a| *a == c.attack)
                    .unwrap_or(0);
                if c.attack == AttackKind::Drop && cfg.drop.num_drop != 200 {
                    Cell::Null
                } else {
                    Cell::Num(IF_DEFENSE_TABLE2[r][i] / 100.0)
                }
            })
            .collect();
        t2.paper_row(*name, vals);
    }
    let schedule = |c: &CwConfig| format!("{} × {}", c.binary_steps, c.iterations);
    report.tables.push(t2.with_note(format!(
        "{}{} test clouds, first {} points each, every one attacked towards a fixed random \
         target ≠ its label. Each cell: accuracy [{:.0}% Wilson interval over the {} clouds]. \
         SRS drops {} random points, averaged over {} independent draws per cloud (the \
         adversarial cloud is attacked once; the interval is conservative for these averages); \
         SOR k {}, α {}, {:?} distance, keep d ≤ μ + α·σ (σ with n−1). Every attack is \
         defense-oblivious: it optimises against the undefended victim and the defense is \
         applied afterwards (no BPDA through SOR, no EOT over SRS's draws), as in the paper and \
         IF-Defense, so defended accuracies are upper bounds against an adaptive attacker. \
         Perturb: C&W L2, λ 10 (≤ 80), {}; Add-CD / Add-HD: {} points added at the critical \
         points, λ 5000 / 200 (≤ 40000 / 900), {} / {}; Adam lr 0.01, κ 0 (IF-Defense: \
         10 × 500). Drop: {} points by saliency, {} per round, untargeted. Our victim is the \
         TF-original PointNet ({}); the paper rows are IF-Defense's Table 2 (its PyTorch \
         PointNet without the feature T-Net, ModelNet40), for reference only.",
        if proxy {
            "PROXY DATA (synthetic shapes), numbers not comparable to the paper's. "
        } else {
            ""
        },
        t.clouds,
        cfg.num_points,
        100.0 * TABLE_CONFIDENCE,
        t.clouds,
        cfg.srs.drop,
        cfg.srs_draws,
        cfg.sor.k,
        cfg.sor.alpha,
        cfg.sor.metric,
        schedule(&cfg.perturb),
        cfg.add_points,
        schedule(&cfg.add_cd),
        schedule(&cfg.add_hd),
        cfg.drop.num_drop,
        cfg.drop.per_round,
        if setup.model == PointNetConfig::tf_original() {
            "full widths".to_string()
        } else {
            format!(
                "narrowed: stem {:?}, trunk {:?}, head {:?}",
                setup.model.stem, setup.model.trunk, setup.model.head
            )
        },
    )));

    let targeted: Vec<_> = t.columns.iter().filter(|c| c.attack.targeted()).collect();
    let tl: Vec<String> = targeted
        .iter()
        .map(|c| c.attack.label(cfg.drop.num_drop))
        .collect();
    let tcols: Vec<&str> = tl.iter().map(|s| s.as_str()).collect();
    let mut ts = Table::new(
        "Targeted success before and after each defense, and attacks eliminated",
        &tcols,
    );
    for (r, name) in ROWS.iter().enumerate() {
        ts.row(
            format!("success, {name}"),
            targeted
                .iter()
                .map(|c| {
                    c.success
                        .map_or(Cell::Null, |s| with_interval(s[r], c.clouds()))
                })
                .collect(),
        );
    }
    for (r, name) in ROWS.iter().enumerate().skip(1) {
        ts.row(
            format!("eliminated = 1 − post-defense success, {name}"),
            targeted
                .iter()
                .map(|c| c.eliminated.map_or(Cell::Null, |s| pct(s[r])))
                .collect(),
        );
        ts.row(
            format!("accuracy recovered, {name}"),
            targeted.iter().map(|c| pct(c.accuracy[r])).collect(),
        );
    }
    ts.paper_row(
        "eliminated = 1 − post-defense success, SOR",
        targeted
            .iter()
            .map(|c| {
                if c.attack == AttackKind::Perturb {
                    Cell::Num(0.814)
                } else {
                    Cell::Null
                }
            })
            .collect(),
    );
    report.tables.push(ts.with_note(format!(
        "Success = fraction of all attacked clouds classified as their target [{:.0}% Wilson \
         interval]. \"Eliminated\" is computed over the clouds attacked successfully without \
         defense: the fraction the defense turns away from the target (SRS: averaged over its \
         draws). \"Accuracy recovered\" is the accuracy on the defended adversarial clouds. \
         Paper value: \"eliminates 81.4 %\" of C&W + L2 attacks with SOR (arXiv v1 abstract, \
         ModelNet40), placed under the first reading although which reading it means is \
         unverified (the paper card). The ICCV version reports 83.8 % (perturbation) and \
         50.0 % (Hausdorff adding) for DUP-Net = SOR + PU-Net, which is not implemented here. \
         All attacks are defense-oblivious (no BPDA/EOT).",
        100.0 * TABLE_CONFIDENCE
    )));

    let mut td = Table::new(
        "Run details",
        &[
            "attack seconds",
            "mean distance D",
            "points after none / SRS / SOR",
        ],
    );
    for c in &t.columns {
        td.row(
            c.attack.label(cfg.drop.num_drop),
            vec![
                Cell::Num(c.seconds),
                c.mean_distance.map_or(Cell::Null, Cell::Num),
                Cell::Text(format!(
                    "{:.0} / {:.0} / {:.0}",
                    c.mean_points[0], c.mean_points[1], c.mean_points[2]
                )),
            ],
        );
    }
    let last = train_report.history.last();
    td.row(
        "victim training",
        vec![
            Cell::Num(train_seconds),
            Cell::Null,
            Cell::Text(format!(
                "{} epochs, final train accuracy {:.3}, loss {:.4}",
                setup.train.epochs,
                last.map_or(f64::NAN, |e| e.train_accuracy),
                last.map_or(f64::NAN, |e| e.loss)
            )),
        ],
    );
    report.tables.push(td.with_note(format!(
        "Victim: {:?} PointNet (stem {:?}, trunk {:?}, T-Net {:?}/{:?}, head {:?}), trained \
         with the TF recipe (batch {}, Adam {}, y-rotation + jitter σ {} clipped {}, \
         orthogonality weight {}). D: L2 norm of the perturbation (Perturb), mean / max squared \
         nearest-neighbour distance of the added points (Add-CD / Add-HD). Wall-clock seconds \
         on this machine.",
        setup.model.variant,
        setup.model.stem,
        setup.model.trunk,
        setup.model.tnet_conv,
        setup.model.tnet_fc,
        setup.model.head,
        setup.train.batch_size,
        setup.train.lr,
        setup.train.jitter_sigma,
        setup.train.jitter_clip,
        setup.train.ortho_weight,
    )));
}

/// Significance level of the claims (one-sided; Holm across the five claims).
pub const ALPHA: f64 = 0.05;
/// `pc.clean`: the clean accuracy claimed (IF-Defense: 0.8841).
pub const CLEAN_MIN: f64 = 0.85;
/// `pc.attack`: the targeted success claimed for the perturbation attack.
pub const ATTACK_MIN: f64 = 0.90;
/// `pc.sor-recovers`: the accuracy SOR restores under the perturbation attack.
pub const RECOVER_MIN: f64 = 0.60;
/// `pc.sor-clean-cost`: the largest clean accuracy SOR may cost.
pub const CLEAN_COST_MAX: f64 = 0.03;
/// `pc.sor-beats-srs` on Drop-200: the non-inferiority margin (accuracy).
pub const DROP_MARGIN: f64 = 0.02;
/// Bootstrap resamples of the paired comparisons.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;

/// The claims' statements, by id (fixed before any run; see issue 10).
pub const CLAIMS: [(&str, &str); 5] = [
    (
        "pc.clean",
        "PointNet's clean accuracy is at least 0.85 (IF-Defense: 0.8841 on ModelNet40)",
    ),
    (
        "pc.attack",
        "The C&W perturbation attack succeeds (targeted) on at least 90% of clouds without defense",
    ),
    (
        "pc.sor-recovers",
        "Under the perturbation attack, SOR restores accuracy to at least 0.6 (IF-Defense: 0.8281)",
    ),
    (
        "pc.sor-beats-srs",
        "SOR's accuracy beats SRS's under every attack that shifts or adds points (Perturb, \
         Add-CD, Add-HD) and is no worse than SRS's (margin 0.02) under Drop-200, where SOR has \
         no added outliers to remove",
    ),
    (
        "pc.sor-clean-cost",
        "SOR costs at most 3 points of clean accuracy (IF-Defense: 0.53)",
    ),
];

/// 0/1 outcomes as booleans (`None` if some value is not 0 or 1).
fn binary(v: &[f64]) -> Option<Vec<bool>> {
    v.iter()
        .map(|&x| {
            if x == 1.0 {
                Some(true)
            } else if x == 0.0 {
                Some(false)
            } else {
                None
            }
        })
        .collect()
}

/// A one-sided exact binomial test over clouds of "the rate is at least `threshold`".
fn rate_at_least(outcomes: &[f64], threshold: f64) -> Result<(Judgement, String)> {
    let b = binary(outcomes)
        .ok_or_else(|| Error::invalid("a deterministic row has outcomes other than 0 and 1"))?;
    let e = Proportion::from_outcomes(&b, ProportionMethod::Exact, "clouds")?;
    let text = format!("{} of {} clouds", e.k, e.n);
    Ok((Judgement::at_least(&e, threshold, ALPHA)?, text))
}

fn bootstrap(seed: u64, i: u64) -> BootstrapConfig {
    BootstrapConfig {
        resamples: BOOTSTRAP_RESAMPLES,
        seed: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i),
        method: BootstrapMethod::Bca,
    }
}

/// Decides the five claims from the per-cloud outcomes of `t` (the unit of every
/// test is the cloud):
///
/// * `pc.clean`, `pc.attack`, `pc.sor-recovers`: exact one-sided binomial tests
///   of the undefended clean accuracy ≥ 0.85, the undefended targeted success of
///   Perturb ≥ 0.90 and SOR's accuracy under Perturb ≥ 0.60;
/// * `pc.sor-clean-cost`: a paired BCa bootstrap over clouds of the clean
///   accuracy without SOR minus with SOR, one-sided "≤ 0.03";
/// * `pc.sor-beats-srs`: an intersection–union over the attack columns of
///   paired BCa bootstraps over clouds of SOR's correctness (0/1) minus SRS's
///   (the share of its draws that are correct): superiority on Perturb, Add-CD
///   and Add-HD, non-inferiority with margin 0.02 on Drop.
///
/// All five are in one Holm family at α = 0.05. A column that was not run
/// leaves its claims not judged (inconclusive); `seed` seeds the bootstraps.
pub fn judge_claims(t: &Table2, cfg: &EvalConfig, seed: u64) -> Result<Vec<Claim>> {
    let mut fam = ClaimFamily::new(ALPHA);
    let [clean_st, attack_st, recover_st, beats_st, cost_st] = CLAIMS.map(|c| c.1);
    let [clean_id, attack_id, recover_id, beats_id, cost_id] = CLAIMS.map(|c| c.0);
    let not_run = "the column was not run";

    let clean = t.column(AttackKind::Clean);
    match clean {
        Some(c) => {
            let (j, text) = rate_at_least(&c.correct[0], CLEAN_MIN)?;
            fam.claim(
                clean_id,
                clean_st,
                &format!("correct without defense on {text}"),
                j,
            );
        }
        None => {
            fam.not_judged(clean_id, clean_st, "", not_run);
        }
    }

    let perturb = t.column(AttackKind::Perturb);
    match perturb.and_then(|c| c.on_target.as_ref()) {
        Some(on) => {
            let (j, text) = rate_at_least(&on[0], ATTACK_MIN)?;
            fam.claim(
                attack_id,
                attack_st,
                &format!(
                    "classified as the target without defense on {text} ({} × {} schedule)",
                    cfg.perturb.binary_steps, cfg.perturb.iterations
                ),
                j,
            );
        }
        None => {
            fam.not_judged(attack_id, attack_st, "", not_run);
        }
    }

    match perturb {
        Some(c) => {
            let (j, text) = rate_at_least(&c.correct[2], RECOVER_MIN)?;
            fam.claim(
                recover_id,
                recover_st,
                &format!("correct after SOR on {text} perturbed"),
                j,
            );
        }
        None => {
            fam.not_judged(recover_id, recover_st, "", not_run);
        }
    }

    let attacked: Vec<_> = t
        .columns
        .iter()
        .filter(|c| c.attack != AttackKind::Clean)
        .collect();
    if attacked.is_empty() {
        fam.not_judged(beats_id, beats_st, "", "no attack column was run");
    } else {
        let mut parts = Vec::new();
        for (i, c) in attacked.iter().enumerate() {
            let label = c.attack.label(cfg.drop.num_drop);
            let d = bootstrap_paired_fractions(
                &c.correct[2],
                &c.correct[1],
                None,
                &bootstrap(seed, i as u64),
                &format!("{label}: SOR − SRS accuracy"),
                "clouds",
            )?;
            let j = if c.attack == AttackKind::Drop {
                Judgement::non_inferior(&d, DROP_MARGIN, ALPHA)?
            } else {
                Judgement::superior(&d, ALPHA)?
            };
            parts.push((label, j));
        }
        let evidence = attacked
            .iter()
            .map(|c| {
                format!(
                    "{}: SOR {:.3}, SRS {:.3} (mean of {} draws)",
                    c.attack.label(cfg.drop.num_drop),
                    c.accuracy[2],
                    c.accuracy[1],
                    cfg.srs_draws
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        fam.claim(beats_id, beats_st, &evidence, Judgement::all_of(parts)?);
    }

    match clean {
        Some(c) => {
            let d = bootstrap_paired_fractions(
                &c.correct[0],
                &c.correct[2],
                None,
                &bootstrap(seed, 100),
                "clean accuracy without SOR − with SOR",
                "clouds",
            )?;
            let lost = (0..c.clouds())
                .filter(|&i| c.correct[0][i] > c.correct[2][i])
                .count();
            let gained = (0..c.clouds())
                .filter(|&i| c.correct[0][i] < c.correct[2][i])
                .count();
            fam.claim(
                cost_id,
                cost_st,
                &format!(
                    "clean accuracy {:.3} → {:.3} with SOR; SOR turns {lost} correct clouds \
                     wrong and {gained} wrong ones correct of {}",
                    c.accuracy[0],
                    c.accuracy[2],
                    c.clouds()
                ),
                Judgement::at_most(&d, CLEAN_COST_MAX, ALPHA)?,
            );
        }
        None => {
            fam.not_judged(cost_id, cost_st, "", not_run);
        }
    }
    fam.try_finish()
}

fn plots(
    report: &mut Report,
    t: &Table2,
    cfg: &EvalConfig,
    net: &PointNet,
    test: &crate::data::PointCloudSet,
    out: &std::path::Path,
) -> Result<()> {
    // One group per attack, one colour per defense, Wilson intervals over the
    // attacked clouds (SRS: the mean of its draws per cloud).
    let groups = t
        .columns
        .iter()
        .map(|c| {
            let bars = (0..3)
                .map(|r| {
                    BarValue::new(c.accuracy[r], c.accuracy_interval(r, TABLE_CONFIDENCE).ok())
                })
                .collect();
            BarGroup {
                label: c.attack.label(cfg.drop.num_drop),
                bars,
            }
        })
        .collect();
    grouped_bar_plot(
        out.join("accuracy.png"),
        &GroupedBars {
            title: format!(
                "Accuracy per attack and defense ({} clouds, {:.0}% Wilson intervals)",
                t.clouds,
                100.0 * TABLE_CONFIDENCE
            ),
            y_label: "accuracy".into(),
            variants: vec![
                "no defense".into(),
                format!("SRS (mean of {} draws)", cfg.srs_draws),
                "SOR".into(),
            ],
            groups,
            y_range: Some((0.0, 1.0)),
            references: Vec::new(),
        },
    )?;
    report.plots.push("accuracy.png".into());

    // One cloud: clean, perturbed, and what SOR removes from the perturbed one
    // (x–y projection).
    let data = test.first_points(cfg.num_points)?;
    let Some(clean) = data.cloud(0) else {
        return Ok(());
    };
    let label = data.labels[0] as usize;
    let target = crate::attack::random_targets(
        &data.labels.iter().map(|&l| l as usize).collect::<Vec<_>>(),
        net.config().num_classes,
        cfg.seed,
    )?[0];
    let Some(col) = t.column(AttackKind::Perturb) else {
        return Ok(());
    };
    let adv = &col.first_cloud;
    let success = col.first_success.unwrap_or(false);
    let stats = sor_stats(adv, &cfg.sor)?;
    let proj = |c: &[f32], keep: &dyn Fn(usize) -> bool| -> Vec<(f64, f64)> {
        c.chunks_exact(3)
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, p)| (p[0] as f64, p[1] as f64))
            .collect()
    };
    let names = &test.class_names;
    let panels = [
        Panel {
            title: format!("clean ({})", names.get(label).map_or("?", |s| s)),
            sets: vec![Series::new("points", proj(clean, &|_| true))],
        },
        Panel {
            title: format!(
                "perturbed → target {} ({})",
                names.get(target).map_or("?", |s| s),
                if success { "success" } else { "failed" }
            ),
            sets: vec![Series::new("points", proj(adv, &|_| true))],
        },
        Panel {
            title: "SOR on the perturbed cloud".into(),
            sets: vec![
                Series::new("kept", proj(adv, &|i| stats.keep[i])),
                Series::new("removed", proj(adv, &|i| !stats.keep[i])),
            ],
        },
    ];
    scatter_panels(
        out.join("sor_example.png"),
        "x–y projection of one test cloud",
        &panels,
    )?;
    report.plots.push("sor_example.png".into());
    Ok(())
}
