//! Criterion benches of candor-forgery's hot paths:
//!
//! * SPSL's phase channel (FFT → unit amplitude → inverse FFT, per image) on a
//!   batch of 8 RGB images at 64² (quick scale) and 256² (DeepfakeBench input);
//! * evaluation-mode forward of MAT and SPSL at batch 8: the reduced networks of
//!   the quick reproduction at 64² (MAT on EfficientNet `tiny`, SPSL on the
//!   shallow Xception at ÷8 widths) and the papers' networks at 256² (MAT on
//!   EfficientNet-B4, SPSL on the full-width shallow Xception);
//! * one training step at batch 8, 64² (forward with every loss term, backward,
//!   Adam step) of the quick reproduction's vanilla EfficientNet, MAT (with AGDA)
//!   and SPSL, and at 128² of MAT on EfficientNet-B0 and SPSL on the full-width
//!   shallow Xception (the same Adam); throughput in images per second.
//!
//! `tools/forgery_bench.py` times the same training steps in PyTorch.
//!
//! `cargo bench -p candor-benches --bench forgery`

use candle_core::{DType, Device, Tensor};
use candor_core::SeededRng;
use candor_forgery::data::{with_phase_channel, Normalize, PhaseScale};
use candor_forgery::model::detector::is_buffer;
use candor_forgery::model::{
    BackboneConfig, DetectorConfig, EfficientNetConfig, MatConfig, SpslConfig, XceptionConfig,
};
use candor_forgery::reproduce::Setup;
use candor_forgery::train::TrainConfig;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

const BATCH: usize = 8;

fn images(side: usize) -> Tensor {
    SeededRng::new(0)
        .uniform_tensor(-1.0, 1.0, (BATCH, 3, side, side), DType::F32, &Device::Cpu)
        .unwrap()
}

fn labels() -> Tensor {
    let y: Vec<u32> = (0..BATCH as u32).map(|i| i % 2).collect();
    Tensor::from_vec(y, BATCH, &Device::Cpu).unwrap()
}

/// The quick reproduction's configuration of a model key.
fn quick(key: &str) -> DetectorConfig {
    Setup::for_scale(candor_core::Scale::Quick, 0)
        .models
        .into_iter()
        .find(|m| m.key == key)
        .unwrap()
        .config
}

fn bench_phase(c: &mut Criterion) {
    let mut g = c.benchmark_group("phase_channel");
    for side in [64, 256] {
        let x = images(side);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("batch8", format!("{side}x{side}")), |b| {
            b.iter(|| with_phase_channel(&x, Normalize::Symmetric, PhaseScale::Raw).unwrap())
        });
    }
    g.finish();
}

fn bench_forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("detector_forward");
    g.sample_size(10);
    let paper_spsl = DetectorConfig::Spsl(SpslConfig {
        xception: XceptionConfig::spsl(),
        ..SpslConfig::default()
    });
    for (name, cfg, side) in [
        ("mat_quick", quick("mat"), 64),
        ("spsl_quick", quick("spsl"), 64),
        ("mat_b4", DetectorConfig::Mat(MatConfig::official()), 256),
        ("spsl_paper", paper_spsl, 256),
    ] {
        let (_vm, det) = cfg.build_seeded(0, &Device::Cpu).unwrap();
        let x = images(side);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new(name, format!("8x3x{side}x{side}")), |b| {
            b.iter(|| det.logits(&x).unwrap())
        });
    }
    g.finish();
}

fn bench_train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    let y = labels();
    let optim = TrainConfig::quick().optimizer;
    let mat_b0 = DetectorConfig::Mat(MatConfig {
        backbone: BackboneConfig::EfficientNet(EfficientNetConfig::b0()),
        ..MatConfig::official()
    });
    let paper_spsl = DetectorConfig::Spsl(SpslConfig {
        xception: XceptionConfig::spsl(),
        ..SpslConfig::default()
    });
    for (key, cfg, side) in [
        ("efficientnet", quick("efficientnet"), 64),
        ("mat", quick("mat"), 64),
        ("spsl", quick("spsl"), 64),
        ("mat_b0", mat_b0, 128),
        ("spsl_paper", paper_spsl, 128),
    ] {
        let x = images(side);
        let (vm, mut det) = cfg.build_seeded(0, &Device::Cpu).unwrap();
        if let DetectorConfig::Mat(m) = &cfg {
            // MAT's first MAT-stage epoch (after the backbone-only ones).
            det.set_epoch(m.pretrain_epochs);
        }
        let vars = candor_core::init::sorted_vars(&vm)
            .into_iter()
            .filter(|(n, _)| !is_buffer(n))
            .map(|(_, v)| v)
            .collect();
        let mut opt = optim.build(vars).unwrap();
        let mut rng = SeededRng::new(0);
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new(key, format!("8x3x{side}x{side}")), |b| {
            b.iter(|| {
                let out = det.loss_step(&x, &y, &mut rng).unwrap();
                let grads = out.loss.backward().unwrap();
                opt.step(&grads).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_phase, bench_forward, bench_train_step);

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
