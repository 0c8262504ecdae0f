//! Criterion benches of candor-matting's hot paths:
//!
//! * one stage-1 training step of the matting net (click channel, default widths
//!   16…128) at 192², batch 8: forward, L_reg + L_grad, backward, Adam step, on a fixed
//!   batch of the proxy (data generation excluded); the same for the quick
//!   reproduction's small widths (8…64) at 128²;
//! * one inference (α and σ) of the default network at 512², batch 1.
//!
//! `cargo bench -p candor-benches --bench matting`; `tools/matting_bench.py` times
//! the same steps in PyTorch on the CPU.

use candle_core::{DType, Device};
use candle_nn::VarMap;
use candor_core::init::{seeded_var_builder, sorted_vars};
use candor_core::optim::{Adam, AdamConfig, Optim};
use candor_core::SeededRng;
use candor_matting::data::synth::{SynthClickMatte, SynthConfig};
use candor_matting::loss::{alpha_loss, AlphaLossConfig};
use candor_matting::model::{MattingNet, NetConfig};
use candor_matting::train::{training_batch, TrainConfig};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

const BATCH: usize = 8;

fn bench_train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("matting_train_step");
    g.sample_size(10);
    for (name, net_cfg, side) in [
        ("default", NetConfig::default(), 192),
        ("small", NetConfig::small(), 128),
    ] {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let net = MattingNet::new(&net_cfg, seeded_var_builder(&vm, 0, DType::F32, &dev)).unwrap();
        let cfg = TrainConfig {
            batch: BATCH,
            ..TrainConfig::at_size(side)
        };
        let gen = SynthClickMatte::new(SynthConfig::with_size(side)).unwrap();
        let b = training_batch(&gen, &cfg, "bench", 0, true, &dev).unwrap();
        let vars = sorted_vars(&vm).into_iter().map(|(_, v)| v).collect();
        let mut opt = Adam::new(vars, AdamConfig::default()).unwrap();
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(
            BenchmarkId::new(name, format!("batch8_{side}x{side}")),
            |bench| {
                bench.iter(|| {
                    let out = net.forward(&b.input, false, false).unwrap();
                    let loss = alpha_loss(&out.alpha, &b.gt, &AlphaLossConfig::default()).unwrap();
                    opt.backward_step(&loss).unwrap();
                })
            },
        );
    }
    g.finish();
}

fn bench_inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("matting_inference");
    g.sample_size(10);
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let net = MattingNet::new(
        &NetConfig::default(),
        seeded_var_builder(&vm, 0, DType::F32, &dev),
    )
    .unwrap();
    let x = SeededRng::new(0)
        .uniform_tensor(0.0, 1.0, (1, 4, 512, 512), DType::F32, &dev)
        .unwrap();
    g.bench_function("default_512x512", |b| {
        b.iter(|| net.forward(&x, true, false).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_train_step, bench_inference);

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
