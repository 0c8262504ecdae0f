//! The paper's experiments: Table 3 on CartPole (200-step `CartPole-v0`), MountainCar-v0
//! and Acrobot-v1 for DQN, NoisyNet-DQN and NROWAN-DQN (`cargo xtask reproduce --paper
//! rl-noisy`). Pong is listed as not run.
//!
//! Per task and algorithm, `instances` agents are trained with independent seeds (the
//! same instance seeds for every algorithm) and each plays `rounds` evaluation episodes;
//! the score is the mean of the instance means ± the mean of the instance stds (the
//! protocol of the paper card, see [`crate::eval`]). All (task, algorithm, instance)
//! runs go through one [`candor_rl::run_seeds`] queue, one thread per core.
//!
//! | scale | instances × rounds | CartPole | MountainCar | Acrobot |
//! |---|---|---|---|---|
//! | smoke | 2 × 5 | 600 steps | 600 | 600 |
//! | quick | 5 × 64 | 30,000 (the paper's) | 10,000 | 30,000 |
//! | paper | 5 × 64 | 30,000 | 200,000 | 200,000 |
//!
//! The paper states 30,000 steps for CartPole only; the MountainCar and Acrobot budgets
//! are unpublished. `paper` uses 200,000 for both (the third-party reproduction's
//! Acrobot budget; it found 30,000 too short for MountainCar with every method). `quick`
//! keeps 30,000 for CartPole and Acrobot and cuts MountainCar to 10,000 (no method
//! leaves −200 there at 30,000 either) to stay within 15 minutes on a 2-core CPU.
//!
//! Small-network training is fastest single-threaded. Each run already gets its own
//! one-thread rayon pool ([`candor_rl::run_seeds`]); candle's CPU matmul also reads
//! `RAYON_NUM_THREADS` to decide how many chunks to split a product into, and only the
//! program may set that (a library never changes the process environment): `cargo
//! xtask reproduce` runs this paper with `RAYON_NUM_THREADS=1` unless the user set it,
//! and a user's program should do the same.

use std::sync::atomic::{AtomicUsize, Ordering};

use candor_core::plot::{line_plot, Series};
use candor_core::progress::progress_bar;
use candor_core::report::{Cell, Report, Table};
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::groups::t_mean;
use candor_core::{Error, ReproduceOptions, Result, Scale};
use candor_rl::run_seeds;

use crate::config::{Algo, Config};
use crate::eval::{evaluate_agent, learning_curve, protocol_score, sigma_curve, ProtocolScore};
use crate::train::{train, TrainLog};

/// One task of Table 3 that we run.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    /// `candor_rl::make` id.
    pub env_id: &'static str,
    /// Row label of Table 3.
    pub label: &'static str,
    /// The paper's (mean, std) for DQN, NoisyNet-DQN, NROWAN-DQN.
    pub paper: [(f64, f64); 3],
    /// Env steps per instance at smoke, quick and paper scale.
    pub steps: [usize; 3],
    /// What the paper says about the budget.
    pub paper_budget: &'static str,
}

/// The three classic-control tasks of Table 3, in the table's order.
pub const TASKS: [Task; 3] = [
    Task {
        env_id: "CartPole-v0",
        label: "CartPole",
        paper: [(170.49, 35.86), (164.96, 31.56), (187.04, 13.99)],
        steps: [600, 30_000, 30_000],
        paper_budget: "30,000 steps (Table 1)",
    },
    Task {
        env_id: "MountainCar-v0",
        label: "MountainCar",
        paper: [(-131.90, 21.09), (-128.37, 21.97), (-121.85, 19.88)],
        steps: [600, 10_000, 200_000],
        paper_budget: "unpublished",
    },
    Task {
        env_id: "Acrobot-v1",
        label: "Acrobot",
        paper: [(-87.24, 22.33), (-86.57, 29.32), (-84.41, 15.58)],
        steps: [600, 30_000, 200_000],
        paper_budget: "unpublished",
    },
];

/// Table 3's Pong row (DQN, NoisyNet-DQN, NROWAN-DQN), not run here.
pub const PONG_PAPER: [(f64, f64); 3] = [(17.07, 3.36), (17.95, 3.08), (18.81, 2.87)];

const PONG_REASON: &str =
    "no Atari emulator or ROMs offline, and 1M frames with a CNN is far beyond a CPU budget";

impl Task {
    /// Env steps per instance at `scale`.
    pub fn steps_at(&self, scale: Scale) -> usize {
        scale.pick(self.steps[0], self.steps[1], self.steps[2])
    }
}

struct Job {
    task: usize,
    algo: Algo,
    instance: usize,
    seed: u64,
}

struct JobOut {
    returns: Vec<f64>,
    log: TrainLog,
}

/// Run the experiment and return its report (plots are written to `opts.out_dir`).
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::io(&opts.out_dir, e))?;
    let scale = opts.scale;
    let instances = scale.pick(2, 5, 5);
    let rounds = scale.pick(5, 64, 64);

    let mut jobs = Vec::new();
    for (ti, _) in TASKS.iter().enumerate() {
        for algo in Algo::ALL {
            for i in 0..instances {
                jobs.push(Job {
                    task: ti,
                    algo,
                    instance: i,
                    seed: opts.seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
                });
            }
        }
    }
    // Longest first, so the queue ends with short jobs on both cores.
    let cost = |j: &Job| TASKS[j.task].steps_at(scale) * if j.algo.is_noisy() { 2 } else { 1 };
    jobs.sort_by_key(|j| std::cmp::Reverse(cost(j)));

    let pb = progress_bar(jobs.len() as u64, "rl-noisy");
    let finished = AtomicUsize::new(0);
    let ids: Vec<u64> = (0..jobs.len() as u64).collect();
    let outs = {
        run_seeds(&ids, |id| {
            let job = &jobs[id as usize];
            let task = &TASKS[job.task];
            let mut cfg = Config::paper(job.algo, task.env_id)?;
            cfg.total_steps = task.steps_at(scale);
            cfg.log_interval = (cfg.total_steps / 50).max(1);
            let (agent, log) = train(&cfg, job.seed, &opts.device)?;
            let returns = evaluate_agent(&agent, task.env_id, rounds, job.seed ^ 0x5eed_e7a1)?;
            pb.inc(1);
            let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(
                task = task.label,
                algo = job.algo.label(),
                instance = job.instance,
                eval_mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64,
                train_s = log.seconds,
                "run {n}/{} done",
                jobs.len()
            );
            Ok(JobOut { returns, log })
        })?
    };
    pb.finish_and_clear();

    // Gather per (task, algo), instances in order.
    let mut by_cell: Vec<Vec<Vec<(usize, JobOut)>>> = (0..TASKS.len())
        .map(|_| (0..3).map(|_| Vec::new()).collect())
        .collect();
    for (job, out) in jobs.iter().zip(outs) {
        let ai = Algo::ALL.iter().position(|a| *a == job.algo).unwrap_or(0);
        by_cell[job.task][ai].push((job.instance, out));
    }
    for cell in by_cell.iter_mut().flatten() {
        cell.sort_by_key(|(i, _)| *i);
    }
    let mut scores: Vec<Vec<ProtocolScore>> = Vec::new();
    for cells in &by_cell {
        let mut row = Vec::new();
        for cell in cells {
            let per: Vec<Vec<f64>> = cell.iter().map(|(_, o)| o.returns.clone()).collect();
            row.push(protocol_score(&per)?);
        }
        scores.push(row);
    }

    let budget_text = TASKS
        .iter()
        .map(|t| {
            format!(
                "{} {} steps (paper: {})",
                t.label,
                fmt_steps(t.steps_at(scale)),
                t.paper_budget
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut report = Report::new(
        "rl-noisy",
        scale.as_str(),
        opts.seed,
        false,
        format!(
            "Gymnasium-exact classic-control environments from candor-rl (the 200-step \
             CartPole-v0, MountainCar-v0, Acrobot-v1). Budget per instance: {budget_text}. \
             {instances} instances × {rounds} evaluation rounds per cell (paper: 5 × 64). \
             Pong not run."
        ),
    );

    // Table 3.
    let cols = ["DQN", "NoisyNet-DQN", "NROWAN-DQN"];
    let mut t3 = Table::new(
        "Table 3: mean ± std of the evaluation return (instances × rounds)",
        &cols,
    );
    let ms = |m: f64, s: f64| Cell::MeanStd { mean: m, std: s };
    for (ti, task) in TASKS.iter().enumerate() {
        if ti == 1 {
            t3.row("Pong", vec![Cell::Text("not run (see note)".into()); 3]);
        }
        t3.row(
            task.label,
            scores[ti].iter().map(|s| ms(s.mean, s.std)).collect(),
        );
    }
    for (ti, task) in TASKS.iter().enumerate() {
        if ti == 1 {
            t3.paper_row("Pong", PONG_PAPER.iter().map(|&(m, s)| ms(m, s)).collect());
        }
        t3.paper_row(
            task.label,
            task.paper.iter().map(|&(m, s)| ms(m, s)).collect(),
        );
    }
    report.tables.push(t3.with_note(format!(
        "Budget per instance: {budget_text}; the paper states 30,000 steps for CartPole only. \
         {instances} instances × {rounds} rounds (paper 5 × 64). Score = mean of the instance \
         means; ± = mean over instances of each instance's sample std over its rounds (the \
         card's reading of \"computed in a similar way\"; the spread of the instance means is \
         in the next table). Evaluation: NoisyNet-/NROWAN-DQN act greedily on μ (noise off), \
         DQN ε-greedy with ε = 0.05. Settings: paper Tables 1–2 (batch 32, γ 0.99, replay \
         10k, learning starts 32, target copy every 1000 steps, σ₀ 0.4, k_final 4, lr 1e-4 \
         CartPole / 1e-3 MountainCar and Acrobot); R_inf/R_sup (unpublished) from the \
         third-party reproduction: CartPole [0, 200], MountainCar [−200, −90], Acrobot \
         [−500, −60]. DQN's ε decays 1.0 → 0.1 over 1M steps (Mnih et al. literally, so ε \
         stays ≈ 1 during training). NoisyNet-DQN uses k ≡ 0 (the paper's unspecified \
         noise-decay schedule for it is not reproduced). Deviation: Adam (no weight decay) \
         on the TD loss, the k·D term applied as a plain gradient step on the output σ \
         (with Adam on the whole loss the constant-sign D gradient is normalised away and σ \
         moves by ≈ lr per update whatever k is; see the paper card). Pong not run: \
         {PONG_REASON}."
    )));

    // Spread and noise diagnostics.
    let mut t_diag = Table::new(
        "Per-cell details: instance spread and output-layer noise",
        &[
            "env steps",
            "instance means",
            "std of instance means",
            "final mean |σ_out|",
            "train s / instance",
        ],
    );
    for (ti, task) in TASKS.iter().enumerate() {
        for (ai, algo) in Algo::ALL.iter().enumerate() {
            let cell = &by_cell[ti][ai];
            let s = &scores[ti][ai];
            let means = s
                .instances
                .iter()
                .map(|i| format!("{:.1}", i.mean))
                .collect::<Vec<_>>()
                .join(", ");
            let sig: Vec<f64> = cell
                .iter()
                .filter_map(|(_, o)| o.log.points.last().and_then(|p| p.sigma_out))
                .collect();
            let secs =
                cell.iter().map(|(_, o)| o.log.seconds).sum::<f64>() / cell.len().max(1) as f64;
            t_diag.row(
                format!("{} / {}", task.label, algo.label()),
                vec![
                    Cell::Text(fmt_steps(task.steps_at(scale))),
                    Cell::Text(means),
                    Cell::Num(s.std_of_means),
                    if sig.is_empty() {
                        Cell::Null
                    } else {
                        Cell::Num(sig.iter().sum::<f64>() / sig.len() as f64)
                    },
                    Cell::Num(secs),
                ],
            );
        }
    }
    let sigma_init = 0.4 / 128f64.sqrt();
    report.tables.push(t_diag.with_note(format!(
        "Instance means in instance order (same seeds for every algorithm). |σ_out| = D of eq. \
         8 (mean |σ| of the output layer), initially σ₀/√128 = {sigma_init:.4}. Training \
         seconds are wall-clock per instance with {} runs in parallel.",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )));

    // Claims.
    let (cp_noisy, cp_nrowan) = (&scores[0][1], &scores[0][2]);
    let ac = (&scores[2][1], &scores[2][2]);
    let budget = |ti: usize| format!("{} steps", fmt_steps(TASKS[ti].steps_at(scale)));
    let reason = "needs the instance-mean tests with the learned-vs-random precondition (issue 10)";
    let mut fam = ClaimFamily::new(0.05);
    fam.not_judged(
        "nr.cartpole-mean",
        "On CartPole, NROWAN-DQN's mean score is at least NoisyNet-DQN's (paper: 187.04 vs 164.96)",
        &format!(
            "NROWAN {:.2} vs NoisyNet {:.2} ({}, {instances} × {rounds})",
            cp_nrowan.mean,
            cp_noisy.mean,
            budget(0)
        ),
        reason,
    );
    fam.not_judged(
        "nr.cartpole-std",
        "On CartPole, NROWAN-DQN's std is smaller than NoisyNet-DQN's (paper: 13.99 vs 31.56)",
        &format!(
            "mean per-instance std: NROWAN {:.2} vs NoisyNet {:.2}; std of instance means {:.2} vs {:.2}",
            cp_nrowan.std, cp_noisy.std, cp_nrowan.std_of_means, cp_noisy.std_of_means
        ),
        reason,
    );
    fam.not_judged(
        "nr.acrobot",
        "On Acrobot, NROWAN-DQN's mean score is at least NoisyNet-DQN's (paper: −84.41 vs −86.57)",
        &format!(
            "NROWAN {:.2} vs NoisyNet {:.2} ({}; the paper's budget is unpublished)",
            ac.1.mean,
            ac.0.mean,
            budget(2),
        ),
        reason,
    );
    // A threshold on the mean of the trained instances' means (the independent unit):
    // one-sample t.
    let level: Vec<f64> = cp_nrowan.instances.iter().map(|i| i.mean).collect();
    let evidence = format!(
        "NROWAN {:.2} ± {:.2} ({}; instance means {})",
        cp_nrowan.mean,
        cp_nrowan.std,
        budget(0),
        level
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let statement = "NROWAN-DQN reaches a CartPole mean of at least 170 (paper: 187.04 ± 13.99)";
    match t_mean(&level, "trained instances") {
        Ok(t) => fam.claim(
            "nr.cartpole-level",
            statement,
            &evidence,
            Judgement::at_least(&t, 170.0, 0.05)?,
        ),
        Err(e) => fam.not_judged("nr.cartpole-level", statement, &evidence, &e.to_string()),
    };
    report.claims = fam.try_finish()?;

    // Learning curves and σ_out.
    let points = scale.pick(10, 50, 100);
    let mut sigma_series = Vec::new();
    for (ti, task) in TASKS.iter().enumerate() {
        let total = task.steps_at(scale);
        let mut series = Vec::new();
        for (ai, algo) in Algo::ALL.iter().enumerate() {
            let logs: Vec<&TrainLog> = by_cell[ti][ai].iter().map(|(_, o)| &o.log).collect();
            let curve = learning_curve(&logs, total, points, 10);
            if !curve.is_empty() {
                series.push(Series::new(algo.label(), curve));
            }
            if algo.is_noisy() {
                let sc = sigma_curve(&logs);
                if !sc.is_empty() {
                    sigma_series.push(Series::new(format!("{} {}", task.label, algo.label()), sc));
                }
            }
        }
        if !series.is_empty() {
            let file = format!("learning_{}.png", task.label.to_ascii_lowercase());
            line_plot(
                opts.out_dir.join(&file),
                &format!(
                    "{}: mean return of the last 10 training episodes ({instances} instances)",
                    task.env_id
                ),
                "env steps",
                "episode return",
                &series,
            )?;
            report.plots.push(file);
        }
    }
    if !sigma_series.is_empty() {
        let file = "sigma_out.png".to_string();
        line_plot(
            opts.out_dir.join(&file),
            "Mean |σ| of the output layer (D, eq. 8) during training",
            "env steps",
            "mean |σ_out|",
            &sigma_series,
        )?;
        report.plots.push(file);
    }
    Ok(report)
}

fn fmt_steps(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_formatted() {
        assert_eq!(fmt_steps(30_000), "30,000");
        assert_eq!(fmt_steps(600), "600");
        assert_eq!(fmt_steps(1_200_000), "1,200,000");
    }
}
