//! Project chores. `cargo xtask reproduce` runs the papers' experiments and writes
//! `results.json`, `results.md` and plots per paper, plus a summary `REPORT.md` of the
//! run. Each paper runs in a child process of its own (thread pools and environment are
//! per paper; a crash stays with its paper). A paper that fails (an error, a panic or a
//! crash) is reported as failed and the others still run; the command then exits
//! non-zero.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};
use candor_core::{DeviceSpec, Scale};
use clap::{Parser, Subcommand};

mod registry;
mod runner;
mod selfcheck;
use registry::{Paper, REGISTRY};
use runner::{run_papers, RunSettings};

#[derive(Parser)]
#[command(name = "xtask", about = "candor project chores")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Reproduce the papers' experiments (all implemented papers by default).
    Reproduce(ReproduceArgs),
}

#[derive(clap::Args)]
struct ReproduceArgs {
    /// Paper(s) to run; repeat the flag for several. Default: every implemented paper.
    #[arg(long = "paper", value_name = "NAME")]
    papers: Vec<String>,
    /// smoke (seconds), quick (minutes per paper on a 2-core CPU) or paper (full budget).
    #[arg(long, default_value = "quick")]
    scale: Scale,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "target/reproduce")]
    out: PathBuf,
    /// Folder holding the real data sets (per paper: see each crate's docs).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder holding pretrained weights (per paper: see each crate's docs).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Continue a stopped run from the checkpoints in each paper's
    /// `<out>/<paper>/checkpoints` (same scale and seed); without it they are cleared.
    #[arg(long)]
    resume: bool,
    /// List the papers and their status, then exit.
    #[arg(long)]
    list: bool,
    /// Internal: run the one `--paper` in this process, as the child process the
    /// parent starts per paper; writes its results or `failure.txt`, no REPORT.md.
    #[arg(long, hide = true)]
    child: bool,
}

fn git_commit() -> String {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(rev) = rev else {
        return "unknown".into();
    };
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{rev}-dirty")
    } else {
        rev
    }
}

fn select(names: &[String]) -> Result<Vec<Paper>> {
    if names.is_empty() {
        return Ok(REGISTRY
            .iter()
            .filter(|e| e.run.is_some())
            .copied()
            .collect());
    }
    let mut out: Vec<Paper> = Vec::new();
    for n in names {
        let Some(e) = REGISTRY.iter().find(|e| e.name == n.as_str()) else {
            let known: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
            bail!("unknown paper '{n}'; known papers: {}", known.join(", "));
        };
        if e.run.is_none() {
            bail!(
                "paper '{n}' ({}) is not implemented yet: {}",
                e.title,
                e.status
            );
        }
        if !out.iter().any(|x| x.name == e.name) {
            out.push(*e);
        }
    }
    Ok(out)
}

fn list() {
    println!("{:<20} {:<14} title", "paper", "status");
    for e in REGISTRY {
        println!("{:<20} {:<14} {}", e.name, e.status, e.title);
    }
}

fn reproduce(args: ReproduceArgs) -> Result<()> {
    if args.list {
        list();
        return Ok(());
    }
    let papers = select(&args.papers)?;
    let settings = RunSettings {
        scale: args.scale,
        seed: args.seed,
        out: args.out,
        data: args.data,
        weights: args.weights,
        device: args.device.open()?,
        device_name: args.device.to_string(),
        commit: git_commit(),
        resume: args.resume,
    };
    if args.child {
        let [paper] = papers.as_slice() else {
            bail!("--child runs exactly one --paper");
        };
        return match runner::run_one(paper, &settings).outcome {
            runner::Outcome::Done(_) => Ok(()),
            runner::Outcome::Failed { message, .. } => {
                let f = runner::failure_file(&settings.out, paper.name);
                candor_core::fsio::write_atomic(&f, message.as_bytes())?;
                bail!("{}: {message}", paper.name)
            }
        };
    }
    let exe = std::env::current_exe()?;
    let (runs, totals) = run_papers(
        &papers,
        REGISTRY,
        &settings,
        &runner::Isolation::ChildOf(exe),
    )?;
    if totals.failed > 0 {
        let failed: Vec<&str> = runs
            .iter()
            .filter(|r| matches!(r.outcome, runner::Outcome::Failed { .. }))
            .map(|r| r.name)
            .collect();
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

fn main() -> Result<()> {
    candor_core::alloc::tune_allocator();
    if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
        std::env::set_var(k, v);
    }
    // Colour only on a terminal: a redirected log gets plain lines.
    let ansi = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Reproduce(a) => reproduce(a),
    }
}
