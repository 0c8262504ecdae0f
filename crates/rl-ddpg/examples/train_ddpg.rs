//! Train one preset on one task and print its learning curve.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p candor-rl-ddpg --example train_ddpg -- \
//!     [preset: ddpg|ddpg-original|rud|rud-cdq|td3|td3-2018] [env id] [env steps] [seed] \
//!     [checkpoint file]
//! ```
//! Defaults: `td3 Pendulum-v1 15000 0`, no checkpoint. With `RAYON_NUM_THREADS=1`
//! candle's matmul runs single-threaded, which is fastest for networks this small. With a
//! checkpoint file the run saves a resumable checkpoint there at the first episode end
//! every twentieth of its steps and, when the file exists, continues from it (a killed
//! run, rerun with the same arguments, ends as if never stopped).

use candle_core::Device;
use candor_rl::Registry;
use candor_rl_ddpg::{train_resumable, Checkpointing, Config, Preset};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset: Preset = args.first().map_or("td3", String::as_str).parse()?;
    let env_id = args.get(1).map_or("Pendulum-v1", String::as_str);
    let steps: usize = args.get(2).map_or(Ok(15_000), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let ck = args.get(4).map(|p| Checkpointing {
        path: p.into(),
        every_steps: (steps / 20).max(200),
    });

    let mut cfg = Config::preset(preset, env_id);
    cfg.train.total_steps = steps;
    cfg.train.eval_every = (steps / 15).max(1);
    let (_, log) = train_resumable(&cfg, &Registry::default(), seed, &Device::Cpu, ck.as_ref())?;

    println!("{preset} on {env_id}, seed {seed}: evaluation return (10 episodes)");
    for (step, ret) in log.history.steps.iter().zip(log.history.means()) {
        println!("{step:>9} {ret:>10.1}");
    }
    println!(
        "max average {:.1}; {} updates at {:.0} updates/s; {:.1} s",
        log.history.max_average().unwrap_or(f64::NAN),
        log.updates,
        log.updates_per_second(),
        log.seconds
    );
    Ok(())
}
