//! Time TD3 updates as a whole process, for a side-by-side with PyTorch
//! (`tools/rl_ddpg_torch_timing.py --updates N --threads T`, the same settings).
//!
//! ```text
//! cargo run -p candor-rl-ddpg --example td3_update_timing -- [updates] [threads] [hidden] [batch]
//! ```
//! Defaults: `1000 2 256 256`: sfujim's current TD3.py (256-256 networks, batch 256) on
//! HalfCheetah's 17 observations and 6 actions, a random batch, twin critics, target
//! smoothing and the actor every second update. The updates run on a rayon pool of
//! `threads` threads (candor-core's kernels take their thread count from it). Prints the
//! median wall milliseconds per update over 5 blocks after 20 warm-up updates, and the
//! process CPU milliseconds per update over those blocks (`getrusage`; on a loaded
//! machine the wall time counts other processes' turns, the CPU time much less so).
//!
//! Threads: candle 0.11 runs its elementwise ops on 64 Ki elements or more (a 256 × 256
//! activation or gradient, e.g. every gradient accumulation of its backprop) on a global
//! spinning thread pool of its own, sized once from `CANDLE_NUM_THREADS`, else
//! `RAYON_NUM_THREADS`, else the physical cores, whatever rayon pool the caller installs;
//! its matmul reads `RAYON_NUM_THREADS` too. Unless they are set, this example sets both to
//! `threads` before any candle op, so that `threads` is the number of threads the update
//! really uses (without that, the "1 thread" update ran candle's elementwise ops on two
//! spinning threads and cost about 3× the CPU time). The allocator is tuned as in the
//! benches ([`candor_core::alloc::tune_allocator`]; the PyTorch script applies the same
//! glibc settings).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candor_core::SeededRng;
use candor_rl::{Agent, Batch};
use candor_rl_ddpg::{Config, Ddpg, Preset};

const OBS: usize = 17;
const ACT: usize = 6;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| -> anyhow::Result<usize> {
        Ok(args.get(i).map_or(Ok(d), |s| s.parse())?)
    };
    let (updates, threads, hidden, batch) = (arg(0, 1000)?, arg(1, 2)?, arg(2, 256)?, arg(3, 256)?);
    // Before any thread or candle op (see the module docs); the user's settings win.
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, threads.to_string());
        }
    }
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| -> anyhow::Result<()> {
        let mut cfg = Config::preset(Preset::Td3, "HalfCheetah-v4").learner;
        cfg.actor.hidden = vec![hidden, hidden];
        cfg.critic.hidden = vec![hidden, hidden];
        let dev = Device::Cpu;
        let mut agent = Ddpg::new(&cfg, OBS, ACT, 0, &dev)?;
        let mut rng = SeededRng::new(1);
        let mut t = |shape: &[usize]| rng.uniform_tensor(-1.0, 1.0, shape, DType::F32, &dev);
        let b = Batch {
            obs: t(&[batch, OBS])?,
            actions: t(&[batch, ACT])?,
            rewards: t(&[batch])?,
            next_obs: t(&[batch, OBS])?,
            dones: Tensor::zeros(batch, DType::F32, &dev)?,
        };
        for _ in 0..20 {
            agent.update(&b)?;
        }
        let blocks = 5;
        let per = (updates / blocks).max(2) & !1;
        let mut ms = Vec::new();
        let c0 = cpu_seconds();
        for _ in 0..blocks {
            let t0 = Instant::now();
            for _ in 0..per {
                agent.update(&b)?;
            }
            ms.push(t0.elapsed().as_secs_f64() * 1e3 / per as f64);
        }
        let cpu_ms = (cpu_seconds() - c0) * 1e3 / (per * blocks) as f64;
        ms.sort_by(f64::total_cmp);
        println!(
            "candor td3_update {hidden}-{hidden} batch {batch} threads {threads}: {:.2} ms (median of {blocks} blocks of {per}); CPU {cpu_ms:.2} ms per update",
            ms[blocks / 2]
        );
        Ok(())
    })
}

/// User + system CPU seconds of this process (all its threads).
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes the `rusage` it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a zeroed `rusage`, RUSAGE_SELF.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}
