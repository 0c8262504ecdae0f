//! Criterion benches of candor-core's hot paths.
//!
//! `cargo bench -p candor-benches --bench core`

use candle_core::{Device, Tensor};
use candor_core::fft::{phase_spectrum, phase_spectrum_tensor};
use candor_core::knn::{knn_brute, KdTree};
use candor_core::metrics::{roc_auc, ssim};
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

criterion_group!(benches, bench_phase, bench_knn, bench_auc, bench_ssim);

fn main() {
    // Keep freed tensors' memory in the process (see candor_core::alloc); applies to the
    // candle baseline as much as to candor. CANDOR_NO_ALLOC_TUNING=1 measures without.
    candor_core::alloc::tune_allocator();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
