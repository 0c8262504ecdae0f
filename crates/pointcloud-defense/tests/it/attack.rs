//! Attacks on a tiny PointNet trained on the synthetic proxy: the perturbation
//! attack succeeds without defense and less after SOR, the outputs of every
//! attack have the documented shapes, runs are deterministic, and bad input is
//! an error.

use candle_core::{DType, Device};
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_pointcloud_defense::attack::{
    add_attack, critical_points, perturbation_attack, random_targets, saliency_drop, AddDistance,
    CwConfig, DropConfig,
};
use candor_pointcloud_defense::data::{generate_split, PointCloudSet, Split, SyntheticConfig};
use candor_pointcloud_defense::defense::{Defense, SorConfig};
use candor_pointcloud_defense::eval::{evaluate_attacks, AttackKind, EvalConfig};
use candor_pointcloud_defense::model::{PointNet, PointNetConfig};
use candor_pointcloud_defense::train::{train, TrainConfig};

const POINTS: usize = 128;

fn trained() -> (PointNet, PointCloudSet) {
    let data_cfg = SyntheticConfig {
        num_classes: 4,
        train_per_class: 16,
        test_per_class: 4,
        num_points: POINTS,
        seed: 5,
        ..SyntheticConfig::tiny()
    };
    let train_set = generate_split(&data_cfg, Split::Train).unwrap();
    let test_set = generate_split(&data_cfg, Split::Test).unwrap();
    let varmap = VarMap::new();
    let mut net = PointNet::new(
        seeded_var_builder(&varmap, 2, DType::F32, &Device::Cpu),
        &PointNetConfig::tiny(),
    )
    .unwrap();
    let cfg = TrainConfig {
        num_points: POINTS,
        ..TrainConfig::tiny()
    };
    train(&mut net, &varmap, &train_set, None, &cfg, None).unwrap();
    (net, test_set)
}

fn quick_cw() -> CwConfig {
    CwConfig {
        batch_size: 8,
        ..CwConfig::perturbation().with_schedule(2, 30)
    }
}

#[test]
fn attacks_defenses_and_table() {
    let (net, test) = trained();
    let clouds: Vec<&[f32]> = test.clouds().collect();
    let labels: Vec<usize> = test.labels.iter().map(|&l| l as usize).collect();
    let targets = random_targets(&labels, 4, 0).unwrap();

    // Perturbation: success without defense, deterministic, less after SOR.
    let cfg = quick_cw();
    let a = perturbation_attack(&net, &clouds, &targets, &cfg, 1, &mut |_| {}).unwrap();
    let b = perturbation_attack(&net, &clouds, &targets, &cfg, 1, &mut |_| {}).unwrap();
    assert_eq!(a, b, "same seed, same attack");
    assert!(a.success_rate() > 0.0, "no successful attack");
    assert_eq!(a.clouds.len(), clouds.len());
    assert!(a.clouds.iter().all(|c| c.len() == POINTS * 3));
    let adv: Vec<&[f32]> = a.clouds.iter().map(|c| c.as_slice()).collect();
    let hits = |p: &[usize]| p.iter().zip(&targets).filter(|(p, t)| p == t).count();
    let before = hits(&net.predict_clouds(&adv, 16).unwrap());
    let sor = Defense::Sor(SorConfig::default())
        .apply_batch(&adv, 0)
        .unwrap();
    let sor: Vec<&[f32]> = sor.iter().map(|c| c.as_slice()).collect();
    let after = hits(&net.predict_clouds(&sor, 16).unwrap());
    assert!(after < before, "SOR: {after} hits after vs {before} before");

    // Padding a batch by repeating points leaves predictions unchanged.
    let one_by_one: Vec<usize> = sor
        .iter()
        .map(|c| net.predict_clouds(&[c], 1).unwrap()[0])
        .collect();
    assert_eq!(net.predict_clouds(&sor, 5).unwrap(), one_by_one);

    // Point adding: the clean points first, then m added ones.
    let m = 16;
    let crit = critical_points(&net, &clouds[..2], m).unwrap();
    assert!(crit.iter().all(|c| c.len() == m));
    let add_cfg = CwConfig {
        batch_size: 8,
        ..CwConfig::add_hausdorff().with_schedule(1, 5)
    };
    let add = add_attack(
        &net,
        &clouds[..4],
        &targets[..4],
        m,
        AddDistance::Hausdorff,
        &add_cfg,
        0,
        &mut |_| {},
    )
    .unwrap();
    for (adv, clean) in add.clouds.iter().zip(&clouds) {
        assert_eq!(adv.len(), (POINTS + m) * 3);
        assert_eq!(&adv[..POINTS * 3], *clean);
    }
    assert!(add.distance.iter().all(|d| d.is_finite() && *d >= 0.0));

    // Saliency dropping keeps n − drop of the original points, in order.
    let drop = DropConfig {
        num_drop: 12,
        per_round: 5,
        ..DropConfig::default()
    };
    let dropped = saliency_drop(&net, &clouds[..3], &labels[..3], &drop, &mut |_| {}).unwrap();
    for (d, c) in dropped.iter().zip(&clouds) {
        assert_eq!(d.len(), (POINTS - 12) * 3);
        let mut it = c.chunks_exact(3);
        for p in d.chunks_exact(3) {
            assert!(it.any(|q| q == p), "dropped cloud is not an ordered subset");
        }
    }

    // The whole table on a few clouds.
    let eval_cfg = EvalConfig {
        num_points: POINTS,
        perturb: quick_cw().with_schedule(1, 5),
        add_cd: CwConfig::add_chamfer().with_schedule(1, 3),
        add_hd: CwConfig::add_hausdorff().with_schedule(1, 3),
        add_points: 8,
        drop: DropConfig {
            num_drop: 10,
            ..DropConfig::default()
        },
        srs: candor_pointcloud_defense::defense::SrsConfig { drop: 20 },
        ..EvalConfig::default()
    };
    let small = test.first_points(POINTS).unwrap();
    let t = evaluate_attacks(&net, &small, &eval_cfg, &mut |_, _, _| {}).unwrap();
    assert_eq!(t.columns.len(), 5);
    let clean = t.column(AttackKind::Clean).unwrap();
    assert_eq!(clean.mean_points, [128.0, 108.0, clean.mean_points[2]]);
    assert!(clean.success.is_none());
    let p = t.column(AttackKind::Perturb).unwrap();
    assert!(p.success.is_some() && p.eliminated.unwrap()[0] == 0.0);
    assert_eq!(t.column(AttackKind::Drop).unwrap().mean_points[0], 118.0);
    // Per-cloud outcomes: none and SOR are 0/1, SRS a share of its 10 draws.
    let draws = eval_cfg.srs_draws as f64;
    assert_eq!(draws, 10.0);
    for c in &t.columns {
        assert_eq!(c.clouds(), small.len());
        assert!(c.correct[0]
            .iter()
            .chain(&c.correct[2])
            .all(|&v| v == 0.0 || v == 1.0));
        assert!(c.correct[1]
            .iter()
            .all(|&v| (v * draws - (v * draws).round()).abs() < 1e-9));
        let [lo, hi] = c.accuracy_interval(1, 0.95).unwrap();
        assert!(lo <= c.accuracy[1] && c.accuracy[1] <= hi);
    }
}

#[test]
fn bad_input_is_an_error() {
    let varmap = VarMap::new();
    let net = PointNet::new(
        seeded_var_builder(&varmap, 0, DType::F32, &Device::Cpu),
        &PointNetConfig::tiny(),
    )
    .unwrap();
    let cloud: Vec<f32> = (0..30).map(|i| i as f32 * 0.1).collect();
    let cfg = CwConfig::perturbation().with_schedule(1, 1);
    let run = |clouds: &[&[f32]], targets: &[usize], cfg: &CwConfig| {
        perturbation_attack(&net, clouds, targets, cfg, 0, &mut |_| {})
    };
    assert!(run(&[], &[], &cfg).is_err());
    assert!(run(&[&cloud], &[1, 2], &cfg).is_err());
    assert!(run(&[&cloud], &[4], &cfg).is_err(), "target out of range");
    let mut nan = cloud.clone();
    nan[4] = f32::NAN;
    assert!(run(&[&nan], &[1], &cfg).is_err());
    assert!(run(&[&cloud, &cloud[..27]], &[1, 1], &cfg).is_err());
    let bad = CwConfig {
        lr: 0.0,
        ..cfg.clone()
    };
    assert!(run(&[&cloud], &[1], &bad).is_err());
    assert!(critical_points(&net, &[&cloud], 11).is_err());
    let drop = DropConfig {
        num_drop: 10,
        ..DropConfig::default()
    };
    assert!(saliency_drop(&net, &[&cloud], &[0], &drop, &mut |_| {}).is_err());
    assert!(random_targets(&[0], 1, 0).is_err());
}
