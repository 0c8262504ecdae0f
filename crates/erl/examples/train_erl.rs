//! Train one ERL / RIM variant and print the champion's test score per generation.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run -p candor-erl --example train_erl -- rim Hopper-v4 20000
//! ```
//! Arguments: variant (`ea`, `erl`, `erl-nets`, `rim`, `rim-il`, `rim-ea`, `rim-pg`,
//! `rim-hard`), task, frame budget, and optionally warm-up frames, imitation steps and
//! synch period (defaults: the reference's).

use anyhow::Result;
use candle_core::Device;
use candor_erl::{Config, Trainer, Variant};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let variant = Variant::from_name(args.first().map_or("rim", String::as_str))?;
    let env_id = args.get(1).map_or("Pendulum-v1", String::as_str);
    let mut cfg = Config::preset(variant, env_id)?;
    cfg.max_frames = args.get(2).map_or(Ok(20_000), |s| s.parse())?;
    if let Some(w) = args.get(3) {
        cfg.warmup_frames = w.parse()?;
    }
    if let Some(s) = args.get(4) {
        cfg.imitation.steps = s.parse()?;
    }
    if let Some(p) = args.get(5) {
        cfg.synch_period = p.parse()?;
    }
    let mut trainer = Trainer::new(&cfg, 0, &Device::Cpu)?;
    while !trainer.finished() {
        let g = trainer.generation()?;
        println!(
            "gen {:3}  frames {:7}  best fitness {:8.1}  champion test {:8.1}  rl {:>8}  updates {:5}  {}",
            g.generation,
            g.frames,
            g.best_fitness,
            g.champion_test,
            g.rl_return.map_or("-".into(), |r| format!("{r:.1}")),
            g.updates,
            g.transfer
        );
    }
    let log = trainer.log();
    println!(
        "{} frames, {} updates, {} imitation phases; {:.1} s (rollouts {:.1}, updates {:.1}, imitation {:.1})",
        log.frames,
        log.updates,
        log.imitation_phases,
        log.seconds,
        log.rollout_seconds,
        log.update_seconds,
        log.imitation_seconds
    );
    Ok(())
}
