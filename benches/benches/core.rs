//! Criterion benches of candor-core's hot paths.
//!
//! `cargo bench -p candor-benches --bench core`

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::VarMap;
use candor_core::fft::{phase_spectrum, phase_spectrum_tensor};
use candor_core::init::seeded_var_builder;
use candor_core::knn::{knn_brute, KdTree};
use candor_core::metrics::{roc_auc, ssim};
use candor_core::nn::{mlp, Activation, MlpConfig};
use candor_core::ops::{
    batch_norm_train_act, conv2d, conv2d_batch_norm_train_act, linear, linear_batch_norm_train_act,
    Conv2dParams,
};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::SeededRng;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut r = SeededRng::new(seed);
    (0..n).map(|_| r.uniform() as f32).collect()
}

fn bench_phase(c: &mut Criterion) {
    let mut g = c.benchmark_group("phase_spectrum");
    let img = uniform(256 * 256, 0);
    g.bench_function(BenchmarkId::new("plane", "256x256"), |b| {
        b.iter(|| phase_spectrum(&img, 256, 256).unwrap())
    });
    let batch =
        Tensor::from_vec(uniform(32 * 256 * 256, 1), (32, 1, 256, 256), &Device::Cpu).unwrap();
    g.throughput(Throughput::Elements(32));
    g.bench_function(BenchmarkId::new("batch", "32x1x256x256"), |b| {
        b.iter(|| phase_spectrum_tensor(&batch).unwrap())
    });
    g.finish();
}

fn bench_knn(c: &mut Criterion) {
    let mut g = c.benchmark_group("knn_k2_1024");
    let mut r = SeededRng::new(2);
    let pts: Vec<f32> = (0..1024 * 3).map(|_| r.normal() as f32).collect();
    g.bench_function("brute", |b| b.iter(|| knn_brute(&pts, 3, 2).unwrap()));
    g.bench_function("kdtree", |b| {
        b.iter(|| KdTree::build(&pts, 3).unwrap().knn_all(2).unwrap())
    });
    g.finish();
}

fn bench_auc(c: &mut Criterion) {
    let mut r = SeededRng::new(3);
    let labels: Vec<bool> = (0..100_000).map(|_| r.bernoulli(0.5)).collect();
    let scores: Vec<f64> = labels
        .iter()
        .map(|&y| r.normal() + if y { 1.0 } else { 0.0 })
        .collect();
    c.bench_function("roc_auc/100k", |b| {
        b.iter(|| roc_auc(&scores, &labels).unwrap())
    });
}

fn bench_ssim(c: &mut Criterion) {
    let a = uniform(256 * 256, 4);
    let b_: Vec<f32> = a
        .iter()
        .zip(uniform(256 * 256, 5))
        .map(|(x, n)| x * 0.9 + 0.1 * n)
        .collect();
    c.bench_function("ssim/256x256", |b| {
        b.iter(|| ssim(&a, &b_, 1, 256, 256, 1.0).unwrap())
    });
}

/// A TD3-size actor (17 → 256 → 256 → 6, tanh) acting on one observation: the host
/// path reading the parameters in place, the same from a flat buffer, and the tensor
/// forward on a batch of one; and a critic-size (23 → 256 → 256 → 1) training step at
/// batch 256 (forward, MSE, backward, Adam).
fn bench_mlp(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp");
    let actor_cfg = MlpConfig::new(&[17, 256, 256, 6]).with_output_activation(Activation::Tanh);
    let vm = VarMap::new();
    let actor = mlp(
        &actor_cfg,
        seeded_var_builder(&vm, 0, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let obs = uniform(17, 3);
    let flat = actor.to_flat().unwrap();
    g.bench_function(BenchmarkId::new("actor_17_256_256_6", "forward_one"), |b| {
        b.iter(|| actor.forward_one(&obs).unwrap())
    });
    g.bench_function(
        BenchmarkId::new("actor_17_256_256_6", "forward_flat"),
        |b| b.iter(|| actor_cfg.forward_flat(&flat, &obs).unwrap()),
    );
    let x1 = Tensor::from_slice(&obs, (1, 17), &Device::Cpu).unwrap();
    g.bench_function(
        BenchmarkId::new("actor_17_256_256_6", "tensor_batch1"),
        |b| {
            b.iter(|| {
                actor
                    .forward(&x1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
        },
    );
    let critic_cfg = MlpConfig::new(&[23, 256, 256, 1]);
    let vm = VarMap::new();
    let critic = mlp(
        &critic_cfg,
        seeded_var_builder(&vm, 1, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let mut opt = Adam::new(vm.all_vars(), AdamConfig::default()).unwrap();
    let x = Tensor::from_vec(uniform(256 * 23, 4), (256, 23), &Device::Cpu).unwrap();
    let y = Tensor::from_vec(uniform(256, 5), (256, 1), &Device::Cpu).unwrap();
    g.throughput(Throughput::Elements(256));
    g.bench_function(
        BenchmarkId::new("critic_23_256_256_1", "train_step_batch256"),
        |b| {
            b.iter(|| {
                let loss = (critic.forward(&x).unwrap() - &y)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .mean_all()
                    .unwrap();
                opt.backward_step(&loss).unwrap();
            })
        },
    );
    g.finish();
}

/// The fused linear layer's passes at the TD3 critic's hidden size (batch 256, 256 → 256,
/// ReLU): the forward (product, then the vectorised bias + activation pass) and forward +
/// backward with every gradient (activation backward, both products, bias column sum).
fn bench_linear(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear_relu_256x256_batch256");
    let dev = Device::Cpu;
    let t = |n: usize, seed: u64, shape: (usize, usize)| {
        Tensor::from_vec(uniform(n, seed), shape, &dev).unwrap()
    };
    let x = Var::from_tensor(&(t(256 * 256, 6, (256, 256)) - 0.5).unwrap()).unwrap();
    let w =
        Var::from_tensor(&((t(256 * 256, 7, (256, 256)) - 0.5).unwrap() / 16.0).unwrap()).unwrap();
    let b = Var::from_tensor(&(t(256, 8, (1, 256)).flatten_all().unwrap() - 0.5).unwrap()).unwrap();
    g.throughput(Throughput::Elements(256));
    g.bench_function("forward", |bch| {
        bch.iter(|| {
            linear(
                x.as_tensor(),
                w.as_tensor(),
                Some(b.as_tensor()),
                Activation::Relu,
            )
            .unwrap()
        })
    });
    g.bench_function("forward_backward", |bch| {
        bch.iter(|| {
            linear(
                x.as_tensor(),
                w.as_tensor(),
                Some(b.as_tensor()),
                Activation::Relu,
            )
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
        })
    });
    g.finish();
}

/// PointNet's shared-MLP layer in training (8192 points, 64 → 128, batch norm, ReLU),
/// forward + backward with every gradient: `fused` is `linear_batch_norm_train_act` (one
/// node), `apart` is `linear` then `batch_norm_train_act` (the same bits, the product a
/// node of its own).
fn bench_linear_bn(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear_bn_relu_8192x64x128_fwdbwd");
    let dev = Device::Cpu;
    let var = |n: usize, seed: u64, shape: (usize, usize)| {
        let t = Tensor::from_vec(uniform(n, seed), shape, &dev).unwrap();
        Var::from_tensor(&(t - 0.5).unwrap()).unwrap()
    };
    let x = var(8192 * 64, 9, (8192, 64));
    let w = var(128 * 64, 10, (128, 64));
    let gamma = var(128, 11, (1, 128));
    let beta = var(128, 12, (1, 128));
    let (gamma, beta) = (
        gamma.as_tensor().flatten_all().unwrap(),
        beta.as_tensor().flatten_all().unwrap(),
    );
    g.throughput(Throughput::Elements(8192));
    g.bench_function("fused", |bch| {
        bch.iter(|| {
            let (y, _, _) = linear_batch_norm_train_act(
                x.as_tensor(),
                w.as_tensor(),
                Some(&gamma),
                Some(&beta),
                1e-5,
                Activation::Relu,
            )
            .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.bench_function("apart", |bch| {
        bch.iter(|| {
            let z = linear(x.as_tensor(), w.as_tensor(), None, Activation::Identity).unwrap();
            let (y, _, _) =
                batch_norm_train_act(&z, Some(&gamma), Some(&beta), 1e-5, Activation::Relu)
                    .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
}

/// An EfficientNet expand block in training: a 1×1 convolution 16 → 96 at 32², batch 8,
/// a training-mode batch norm and SiLU, forward + backward with every gradient: `fused`
/// is `conv2d_batch_norm_train_act` (one node), `apart` is `conv2d` then
/// `batch_norm_train_act` (the same bits, the convolution's output a node of its own).
fn bench_conv_bn(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv_bn_silu_8x16x32x32_to96_fwdbwd");
    let dev = Device::Cpu;
    let var = |shape: &[usize], seed: u64| {
        let n = shape.iter().product();
        let t = Tensor::from_vec(uniform(n, seed), shape, &dev).unwrap();
        Var::from_tensor(&(t - 0.5).unwrap()).unwrap()
    };
    let x = var(&[8, 16, 32, 32], 13);
    let w = var(&[96, 16, 1, 1], 14);
    let gamma = var(&[96], 15);
    let beta = var(&[96], 16);
    let p = Conv2dParams::default();
    g.throughput(Throughput::Elements(8));
    g.bench_function("fused", |bch| {
        bch.iter(|| {
            let (y, _, _) = conv2d_batch_norm_train_act(
                x.as_tensor(),
                w.as_tensor(),
                p,
                Some(gamma.as_tensor()),
                Some(beta.as_tensor()),
                1e-5,
                Activation::Silu,
            )
            .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.bench_function("apart", |bch| {
        bch.iter(|| {
            let z = conv2d(x.as_tensor(), w.as_tensor(), p).unwrap();
            let (y, _, _) = batch_norm_train_act(
                &z,
                Some(gamma.as_tensor()),
                Some(beta.as_tensor()),
                1e-5,
                Activation::Silu,
            )
            .unwrap();
            y.sum_all().unwrap().backward().unwrap()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_phase,
    bench_knn,
    bench_auc,
    bench_ssim,
    bench_mlp,
    bench_linear,
    bench_linear_bn,
    bench_conv_bn
);

fn main() {
    // Keep freed tensors' memory in the process (see candor_core::alloc); applies to the
    // candle baseline as much as to candor. CANDOR_NO_ALLOC_TUNING=1 measures without.
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
