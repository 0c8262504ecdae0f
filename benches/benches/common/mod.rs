//! Setup shared by the RL benches (`rl`, `rl_ddpg`, `erl`).

#![allow(dead_code)] // each bench uses its own part

use candle_core::{DType, Device, Tensor};
use candor_core::SeededRng;
use candor_rl::Batch;

/// Run the criterion group `benches` the way RL runs: one single-threaded worker per
/// core (candle's matmul reads RAYON_NUM_THREADS on every call; single-observation
/// inference is far faster single-threaded) unless the caller set RAYON_NUM_THREADS,
/// with candor-core's allocator tuning and, as `cargo xtask reproduce` gives the RL
/// papers, glibc's per-thread arenas unless the caller set `CANDOR_ALLOC_ARENAS`.
pub fn rl_main(benches: fn()) {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    if std::env::var_os(candor_core::alloc::ARENAS_VAR).is_none() {
        candor_core::alloc::tune_allocator_with(candor_core::alloc::Arenas::PerThread);
    } else {
        candor_core::alloc::tune_allocator();
    }
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    // On a pool thread, as `cargo xtask reproduce` runs every paper: a kernel that splits
    // its work does its share in place instead of handing all of it to the pool and
    // sleeping until the pool is done (`candor_core::threads`).
    candor_core::threads::on_pool(benches);
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

/// A seeded batch of `n` transitions with observations, actions and rewards uniform
/// in [-1, 1] and no terminal states.
pub fn random_batch(n: usize, obs: usize, act: usize) -> Batch {
    let mut rng = SeededRng::new(1);
    let dev = Device::Cpu;
    let mut t = |shape: &[usize]| {
        rng.uniform_tensor(-1.0, 1.0, shape, DType::F32, &dev)
            .unwrap()
    };
    Batch {
        obs: t(&[n, obs]),
        actions: t(&[n, act]),
        rewards: t(&[n]),
        next_obs: t(&[n, obs]),
        dones: Tensor::zeros(n, DType::F32, &dev).unwrap(),
    }
}

/// A fixed, varying continuous action of `dim` components for step `t` (no policy).
pub fn sine_action(dim: usize, t: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| ((t * 7 + i) as f32 * 0.37).sin())
        .collect()
}
