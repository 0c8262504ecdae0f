//! Criterion benches of candor-watermark's training steps:
//!
//! * one initial-stage step (H, R and D: forward with every loss term, one backward
//!   for H and R, Adam steps, then D's step) at 128² greyscale, batch 8, with the
//!   official widths (H ngf 64, R 128 wide with 9 blocks, D 64–512) and with the quick
//!   reproduction's narrow widths;
//! * one surrogate step (ResNet-9, L2, ngf 64 and the quick ngf) at 128², batch 8.
//!
//! `cargo bench -p candor-benches --bench watermark`; `tools/watermark_bench.py` times
//! the same steps in PyTorch on the CPU.

use candle_core::{DType, Device, Tensor};
use candor_core::SeededRng;
use candor_watermark::config::{
    Config, ContentLoss, EmbedderConfig, SurrogateArch, SurrogateConfig,
};
use candor_watermark::reproduce::Setup;
use candor_watermark::train::{train_surrogate, DeepScheme};
use candor_watermark::Image;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

const BATCH: usize = 8;
const SIDE: usize = 128;

fn images(seed: u64) -> Tensor {
    SeededRng::new(seed)
        .uniform_tensor(0.0, 1.0, (BATCH, 1, SIDE, SIDE), DType::F32, &Device::Cpu)
        .unwrap()
}

fn configs() -> Vec<(&'static str, Config)> {
    let mut official = Config::default();
    official.task.height = SIDE;
    official.task.width = SIDE;
    official.train.batch_size = BATCH;
    let mut quick = Setup::for_scale(candor_core::Scale::Quick, 0).cfg;
    quick.task.height = SIDE;
    quick.task.width = SIDE;
    quick.train.batch_size = BATCH;
    quick.embedder = EmbedderConfig {
        num_downs: 7,
        ..quick.embedder
    };
    vec![("official", official), ("quick", quick)]
}

fn bench_initial_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("watermark_hrd_step");
    g.sample_size(10);
    let (a, b) = (images(1), images(2));
    let delta = images(3).narrow(0, 0, 1).unwrap();
    let delta0 = Tensor::ones((1, 1, SIDE, SIDE), DType::F32, &Device::Cpu).unwrap();
    for (name, cfg) in configs() {
        let scheme = DeepScheme::new(&cfg, &Device::Cpu).unwrap();
        let mut opt = scheme.initial_optimisers(&cfg).unwrap();
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("batch8_128", name), |bch| {
            bch.iter(|| {
                scheme
                    .initial_step(&cfg, &a, &b, &delta, &delta0, &mut opt)
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn bench_surrogate_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("watermark_surrogate_step");
    g.sample_size(10);
    let a = Image::unbatch(&images(4)).unwrap();
    let b = Image::unbatch(&images(5)).unwrap();
    for ngf in [64, 8] {
        let sc = SurrogateConfig {
            arch: SurrogateArch::Resnet9,
            content: ContentLoss::L2,
            adversarial: false,
            ngf,
            batch_size: BATCH,
            steps: Some(1),
            ..SurrogateConfig::default()
        };
        g.throughput(Throughput::Elements(BATCH as u64));
        // One step including building the network (construction is small beside it).
        g.bench_function(
            BenchmarkId::new("resnet9_l2_batch8_128", format!("ngf{ngf}")),
            |bch| bch.iter(|| train_surrogate(&sc, &a, &b, None, &Device::Cpu).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench_initial_step, bench_surrogate_step);

fn main() {
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
