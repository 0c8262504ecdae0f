//! Step a Gymnasium-semantics environment through a list of actions and print one JSON
//! object per step.
//!
//! ```text
//! cargo run -p candor-rl --example rollout -- --env CartPole-v1 --state 0.01,0,0.02,0 --actions actions.txt
//! cargo run -p candor-rl --example rollout -- --env HalfCheetah-v4 --state <qpos...,qvel...> --actions actions.txt
//! ```
//!
//! `--state` sets the internal state (Gymnasium's `env.unwrapped.state`; for the MuJoCo
//! tasks `qpos` then `qvel`, as `env.unwrapped.set_state(qpos, qvel)`, or the full state
//! that `Env::state` returns); without it the env is reset with `--seed`. The time limit counts from that state. The actions file
//! holds one action per line: an integer for discrete action spaces, comma-separated
//! floats for box action spaces; blank lines are ignored. Stepping stops at termination,
//! truncation or the end of the file. Each step prints
//! `{"obs": [...], "reward": r, "terminated": b, "truncated": b}`, and with
//! `--print-state` also `"state": [...]` (float64, `Env::state`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use candor_rl::rollout::{parse_actions, parse_state};
use candor_rl::{Env, Registry};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Roll out a list of actions in a candor-rl environment")]
struct Args {
    /// Environment id, e.g. CartPole-v1.
    #[arg(long)]
    env: String,
    /// Initial internal state, comma-separated (e.g. 0.01,0,0.02,0 for CartPole).
    #[arg(long, allow_hyphen_values = true)]
    state: Option<String>,
    /// Reset seed, used when --state is not given.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// File with one action per line ("-" reads standard input).
    #[arg(long)]
    actions: PathBuf,
    /// Also print the internal float64 state after each step.
    #[arg(long)]
    print_state: bool,
}

/// One output line; float32 observations print in their shortest form.
#[derive(serde::Serialize)]
struct StepLine<'a> {
    obs: &'a [f32],
    reward: f64,
    terminated: bool,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<Vec<f64>>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut env = Registry::default()
        .make(&args.env)
        .with_context(|| format!("--env {}", args.env))?;
    match &args.state {
        Some(s) => {
            let state = parse_state(s).context("--state")?;
            env.set_state(&state).context("--state")?;
        }
        None => {
            env.reset(Some(args.seed));
        }
    }

    let name = args.actions.display().to_string();
    let text = if name == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading actions from stdin")?
    } else {
        std::fs::read_to_string(&args.actions).with_context(|| format!("reading {name}"))?
    };
    // Parse every line before stepping, so a typo late in the file prints nothing.
    let actions =
        parse_actions(&text, env.action_space()).with_context(|| format!("reading {name}"))?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (line, action) in actions {
        let step = env
            .step(&action)
            .with_context(|| format!("{name} line {line}"))?;
        let line = StepLine {
            obs: &step.obs,
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            state: args.print_state.then(|| env.state()),
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
        if step.done() {
            break;
        }
    }
    Ok(())
}
