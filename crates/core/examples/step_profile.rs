//! Where the small ConvNet train step's time goes (issue 18): the `convnet_train_step`
//! of `benches/benches/ops.rs` (16×3×64×64; 3×3 convs 3→32, 32→64/2, 64→128/2 with bias
//! and ReLU, global average pooling, a linear head, cross-entropy, candle-nn's AdamW),
//! run N times with a wall-clock timer around each phase. candle's CPU ops are
//! synchronous, so a phase's time is the time of its ops.
//!
//! `cargo run -p candor-core --example step_profile -- [STEPS] [WARMUP]` (default 60, 10).
//! Prints each phase's median ms per step and its share of the summed medians, plus the
//! whole step's median and the load average before and after.

use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Optimizer, VarMap};
use candor_core::init::seeded_var_builder;
use candor_core::nn::{conv2d, linear, Conv2dConfig};
use candor_core::ops;
use candor_core::SeededRng;

const PHASES: [&str; 9] = [
    "conv0 forward 3→32 @64² (im2col + GEMM + bias)",
    "conv1 forward 32→64 /2",
    "conv2 forward 64→128 /2",
    "ReLU ×3 (forward)",
    "head forward (mean over H,W + linear)",
    "cross-entropy loss (forward)",
    "backward (loss.backward(): all grads)",
    "AdamW step (candle-nn)",
    "drop of the step's graph and grads",
];

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> candor_core::Result<()> {
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(60, |s| s.parse().expect("STEPS"));
    let warmup: usize = args.next().map_or(10, |s| s.parse().expect("WARMUP"));

    let dev = Device::Cpu;
    // Same inputs and initialisation as the bench.
    let x = SeededRng::new(4).normal_tensor(0.0, 1.0, &[16, 3, 64, 64], DType::F32, &dev)?;
    let y = Tensor::new((0..16u32).map(|i| i % 10).collect::<Vec<_>>(), &dev)?;
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 0, DType::F32, &dev);
    let mk = |i: usize, ci, co, s| {
        let cfg = Conv2dConfig {
            stride: s,
            padding: 1,
            ..Default::default()
        };
        conv2d(ci, co, 3, cfg, vb.pp(format!("c{i}")))
    };
    let convs = [mk(0, 3, 32, 1)?, mk(1, 32, 64, 2)?, mk(2, 64, 128, 2)?];
    let fc = linear(128, 10, vb.pp("fc"))?;
    let params = candle_nn::ParamsAdamW {
        lr: 1e-3,
        ..Default::default()
    };
    let mut opt = candle_nn::AdamW::new(vm.all_vars(), params)?;

    let load_before = loadavg();
    let mut t = vec![Vec::with_capacity(steps); PHASES.len()];
    let mut total = Vec::with_capacity(steps);
    for it in 0..warmup + steps {
        let mut p = [0f64; PHASES.len()];
        let t_step = Instant::now();
        let mut lap = Instant::now();
        let mut tick = |i: usize, lap: &mut Instant| {
            p[i] += lap.elapsed().as_secs_f64() * 1e3;
            *lap = Instant::now();
        };
        {
            let mut h = x.clone();
            let mut pre = Vec::new();
            for (i, c) in convs.iter().enumerate() {
                let z = c.forward(&h)?;
                tick(i, &mut lap);
                h = ops::relu(&z)?;
                tick(3, &mut lap);
                pre.push(z);
            }
            let logits = fc.forward(&h.mean((2, 3))?)?;
            tick(4, &mut lap);
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            tick(5, &mut lap);
            let grads = loss.backward()?;
            tick(6, &mut lap);
            opt.step(&grads)?;
            tick(7, &mut lap);
            drop((grads, loss, logits, h, pre));
        }
        tick(8, &mut lap);
        let step_ms = t_step.elapsed().as_secs_f64() * 1e3;
        if it >= warmup {
            for (i, v) in p.iter().enumerate() {
                t[i].push(*v);
            }
            total.push(step_ms);
        }
    }
    let load_after = loadavg();

    let med: Vec<f64> = t.iter_mut().map(|v| median(v)).collect();
    let sum: f64 = med.iter().sum();
    println!(
        "ConvNet train step, {steps} steps after {warmup} warm-up, {} rayon threads",
        rayon_threads()
    );
    println!("load average (1, 5, 15 min) before: {load_before}; after: {load_after}");
    println!("| phase | median ms | share of summed medians |");
    println!("|---|---|---|");
    for (name, m) in PHASES.iter().zip(&med) {
        println!("| {name} | {m:.2} | {:.1} % |", 100.0 * m / sum);
    }
    let mut sorted = total.clone();
    let whole = median(&mut sorted);
    println!(
        "| whole step (median; min {:.2}, max {:.2}) | {whole:.2} | sum of phase medians {sum:.2} |",
        sorted[0],
        sorted[sorted.len() - 1]
    );
    Ok(())
}

fn rayon_threads() -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
}
