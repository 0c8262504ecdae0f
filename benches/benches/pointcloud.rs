//! Criterion benches of candor-pointcloud-defense's hot paths: SOR on one
//! 1024-point cloud and on a batch of 128 (the IF-Defense GPU anchor: 20.2 ms
//! per batch of 128 on an H100), PointNet (TF original) forward at batch 32, and
//! one iteration of the C&W perturbation attack at batch 32 (forward, margin
//! loss, input gradient and Adam step; H100 anchor: 6.5 ms), and one PointNet
//! training step at batch 32 (training-mode forward, loss, backward, Adam), and the
//! TF PointNet's last shared layer (128 → 1024) with the global max-pool, forward and
//! input gradient, as one op (`ops::linear_max`) and composed.
//!
//! `cargo bench -p candor-benches --bench pointcloud`

use candle_core::{DType, Device, Var};
use candle_nn::VarMap;
use candor_core::init::seeded_var_builder;
use candor_core::ops::{self, Activation};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::SeededRng;
use candor_pointcloud_defense::attack::{perturbation_attack, CwConfig};
use candor_pointcloud_defense::data::synthetic::synthetic_cloud;
use candor_pointcloud_defense::data::ShapeClass;
use candor_pointcloud_defense::defense::{sor, sor_batch, SorConfig};
use candor_pointcloud_defense::model::{
    clouds_to_tensor, trainable_vars, PointNet, PointNetConfig,
};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

/// `n` synthetic 1024-point clouds of the first shape classes.
fn clouds(n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let class = ShapeClass::ALL[i % ShapeClass::ALL.len()];
            let mut rng = SeededRng::derive(0, &format!("bench/{i}"));
            synthetic_cloud(class, 1024, (0.7, 1.3), &mut rng).unwrap()
        })
        .collect()
}

fn bench_sor(c: &mut Criterion) {
    let mut g = c.benchmark_group("sor_1024");
    let cs = clouds(128);
    for (name, cfg) in [
        ("if_defense_k2", SorConfig::if_defense()),
        ("pcl_k50", SorConfig::pcl()),
    ] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new(name, "1"), |b| {
            b.iter(|| sor(&cs[0], &cfg).unwrap())
        });
        let refs: Vec<&[f32]> = cs.iter().map(Vec::as_slice).collect();
        g.throughput(Throughput::Elements(128));
        g.bench_function(BenchmarkId::new(name, "128"), |b| {
            b.iter(|| sor_batch(&refs, &cfg).unwrap())
        });
    }
    g.finish();
}

fn bench_pointnet(c: &mut Criterion) {
    let mut g = c.benchmark_group("pointnet_forward");
    g.sample_size(10);
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
    let net = PointNet::new(vb, &PointNetConfig::tf_original()).unwrap();
    let cs = clouds(32);
    let refs: Vec<&[f32]> = cs.iter().map(Vec::as_slice).collect();
    let x = clouds_to_tensor(&refs, &Device::Cpu).unwrap();
    g.throughput(Throughput::Elements(32));
    g.bench_function(BenchmarkId::new("tf_original_eval", "32x1024"), |b| {
        b.iter(|| net.forward_eval(&x).unwrap())
    });
    g.finish();
}

fn bench_max_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("pointnet_max_layer_fwdbwd");
    g.sample_size(10);
    let rng = |seed, shape: &[usize]| {
        SeededRng::new(seed)
            .normal_tensor(0.0, 1.0, shape, DType::F32, &Device::Cpu)
            .unwrap()
    };
    let x = Var::from_tensor(&rng(0, &[32, 1024, 128])).unwrap();
    let (w, b) = (rng(1, &[1024, 128]), rng(2, &[1024]));
    let dy = rng(3, &[32, 1024]);
    g.bench_function(BenchmarkId::new("candor", "32x1024x128to1024"), |bch| {
        bch.iter(|| {
            let y = ops::linear_max(x.as_tensor(), &w, Some(&b), Activation::Relu).unwrap();
            ops::backward_from(&y, &dy).unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("composed", "32x1024x128to1024"), |bch| {
        bch.iter(|| {
            let h = ops::linear(x.as_tensor(), &w, Some(&b), Activation::Relu).unwrap();
            let y = ops::max_dim1(&h).unwrap();
            ops::backward_from(&y, &dy).unwrap()
        })
    });
    g.finish();
}

fn bench_train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("pointnet_train_step");
    g.sample_size(10);
    let cs = clouds(32);
    let refs: Vec<&[f32]> = cs.iter().map(Vec::as_slice).collect();
    let x = clouds_to_tensor(&refs, &Device::Cpu).unwrap();
    let labels: Vec<u32> = (0..32).map(|i| (i * 7 + 3) % 40).collect();
    let y = candle_core::Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    for (name, cfg) in [
        ("tf_original", PointNetConfig::tf_original()),
        (
            "quick_small",
            candor_pointcloud_defense::reproduce::small_pointnet(40),
        ),
    ] {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
        let net = PointNet::new(vb, &cfg).unwrap();
        let vars = trainable_vars(&vm).into_iter().map(|(_, v)| v).collect();
        let mut opt = Adam::new(vars, AdamConfig::default()).unwrap();
        let mut rng = SeededRng::new(1);
        g.throughput(Throughput::Elements(32));
        g.bench_function(BenchmarkId::new(name, "32x1024"), |b| {
            b.iter(|| {
                let out = net.forward_train(&x, &mut rng).unwrap();
                let loss = net.loss(&out, &y, 1e-3).unwrap();
                opt.backward_step(&loss).unwrap();
            })
        });
    }
    g.finish();
}

fn bench_attack(c: &mut Criterion) {
    let mut g = c.benchmark_group("cw_perturb_iteration");
    g.sample_size(10);
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu);
    let cs = clouds(32);
    let refs: Vec<&[f32]> = cs.iter().map(Vec::as_slice).collect();
    let targets: Vec<usize> = (0..32).map(|i| (i * 7 + 3) % 40).collect();
    for (name, cfg) in [
        ("tf_original", PointNetConfig::tf_original()),
        (
            "quick_small",
            candor_pointcloud_defense::reproduce::small_pointnet(40),
        ),
    ] {
        let net = PointNet::new(vb.pp(name), &cfg).unwrap();
        // One binary step of one iteration: the cost of an iteration plus a
        // negligible set-up (initial δ, Adam state).
        let attack = CwConfig::perturbation().with_schedule(1, 1);
        g.throughput(Throughput::Elements(32));
        g.bench_function(BenchmarkId::new(name, "32x1024"), |b| {
            b.iter(|| perturbation_attack(&net, &refs, &targets, &attack, 0, &mut |_| {}).unwrap())
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_sor,
    bench_pointnet,
    bench_max_layer,
    bench_train_step,
    bench_attack
);

fn main() {
    // Keep freed tensors' memory in the process (see candor_core::alloc).
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    // On a rayon pool thread, as `cargo xtask reproduce` runs the papers (see
    // candor_core::threads): each kernel's caller takes its share of the work.
    candor_core::threads::on_pool(benches);
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
