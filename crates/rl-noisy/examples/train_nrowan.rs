//! Train one agent on one environment and print its evaluation.
//!
//! ```text
//! cargo run -p candor-rl-noisy --example train_nrowan -- \
//!     --algo nrowan --env CartPole-v0 --steps 30000 --seed 0 --rounds 64
//! ```
//!
//! Training runs single-threaded on a rayon pool of its own (see `candor_rl_noisy::train`).
//! It prints the evaluation with the noise on (the claims' setting) and with μ only.
//!
//! `--config file.json` starts from a JSON config (absent keys take the paper's values
//! for its `algo` and `env_id`); the flags given override it. `--save path` writes the
//! trained online network (safetensors). `--checkpoint run.ckpt` saves a resumable
//! checkpoint at the first episode end every `--checkpoint-every` steps and, when the
//! file exists, continues from it (a killed run, rerun with the same flags, ends as if
//! never stopped).

use std::path::PathBuf;

use anyhow::Context;
use candor_rl_noisy::{
    evaluate_agent_with, protocol_score, train_resumable_with, Algo, Checkpointing, Config,
    EvalNoise, OptimizerKind,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Train DQN, NoisyNet-DQN or NROWAN-DQN and evaluate it")]
struct Args {
    /// dqn, noisy-net or nrowan.
    #[arg(long)]
    algo: Option<Algo>,
    /// CartPole-v0, MountainCar-v0 or Acrobot-v1 (any discrete candor-rl env with --config).
    #[arg(long)]
    env: Option<String>,
    /// Env steps of training (paper: 30000 on CartPole).
    #[arg(long)]
    steps: Option<usize>,
    /// adam-sgd-d (default), adam or sgd.
    #[arg(long)]
    optimizer: Option<String>,
    /// JSON config to start from.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluation rounds after training (paper: 64).
    #[arg(long, default_value_t = 64)]
    rounds: usize,
    /// Write the trained online network here.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Resumable training checkpoint (continued from when it exists).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Env steps between checkpoints (saved at the next episode end).
    #[arg(long, default_value_t = 5000)]
    checkpoint_every: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_json(&text)?
        }
        None => Config::paper(
            args.algo.unwrap_or(Algo::Nrowan),
            args.env.as_deref().unwrap_or("CartPole-v0"),
        )?,
    };
    if args.config.is_some() {
        if let Some(a) = args.algo {
            cfg.algo = a;
        }
        if let Some(e) = &args.env {
            cfg.env_id = e.clone();
        }
    }
    if let Some(s) = args.steps {
        cfg.total_steps = s;
    }
    if let Some(o) = &args.optimizer {
        cfg.optimizer.kind = serde_json::from_value::<OptimizerKind>(o.as_str().into())
            .with_context(|| format!("unknown optimizer '{o}' (adam-sgd-d, adam, sgd)"))?;
    }
    cfg.validate()?;
    println!(
        "{} on {}: {} steps, lr {}, seed {}",
        cfg.algo.label(),
        cfg.env_id,
        cfg.total_steps,
        cfg.optimizer.lr,
        args.seed
    );
    let report_every = (cfg.total_steps / 10).max(1);
    let mut next_report = report_every;
    let ck = args.checkpoint.clone().map(|path| Checkpointing {
        path,
        every_steps: args.checkpoint_every,
    });
    let device = candle_core::Device::Cpu;
    let (agent, log) = train_resumable_with(&cfg, args.seed, &device, ck.as_ref(), |ep, log| {
        if ep.end_step >= next_report {
            // The next multiple (a resumed run starts past several).
            next_report = (ep.end_step / report_every + 1) * report_every;
            let sigma = log
                .points
                .last()
                .and_then(|p| p.sigma_out)
                .map_or(String::new(), |s| format!(", mean |σ_out| {s:.4}"));
            println!(
                "  step {:>7}: mean return of the last 10 episodes {:.1}{sigma}",
                ep.end_step,
                log.recent_mean_return(10).unwrap_or(f64::NAN)
            );
        }
    })?;
    println!(
        "trained in {:.1} s ({} updates, {} episodes; {:.0} env steps/s, {:.0} updates/s)",
        log.seconds,
        log.updates,
        log.episodes.len(),
        log.steps_per_second(),
        log.updates_per_second()
    );
    for noise in [EvalNoise::On, EvalNoise::Off] {
        let returns = evaluate_agent_with(
            &agent,
            &cfg.env_id,
            args.rounds,
            args.seed ^ 0x5eed_e7a1,
            noise,
        )?;
        let score = protocol_score(&[returns])?;
        println!(
            "evaluation over {} rounds, {}: {:.2} ± {:.2}",
            args.rounds,
            noise.label(),
            score.mean,
            score.std
        );
    }
    if let Some(path) = &args.save {
        agent.save(path)?;
        println!("saved the online network to {}", path.display());
    }
    Ok(())
}
