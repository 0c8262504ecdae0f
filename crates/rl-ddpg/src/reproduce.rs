//! The experiments (`cargo xtask reproduce --paper rl-ddpg`): learning curves of the
//! presets with the TD3 evaluation protocol, Q-estimate bias and variance, fresh-data
//! usage and update throughput, and the four claims fixed in the issue.
//!
//! | scale | tasks × seeds × env steps | presets |
//! |---|---|---|
//! | smoke | Pendulum-v1 × 2 × 600 (64-64 networks, batch 32) | ddpg, rud, rud-cdq, td3 |
//! | quick | Pendulum-v1 × 5 × 15,000; HalfCheetah-v4 × 2 × 30,000 | ddpg, rud, td3 on both; rud-cdq and td3-2018 on HalfCheetah |
//! | paper | HalfCheetah-v4, Hopper-v4, Walker2d-v4, Ant-v4 × 10 × 1,000,000 | ddpg, rud, rud-cdq, td3, td3-2018 |
//!
//! Evaluation: 10 noise-free episodes every 1000 steps (Pendulum), 2500 (HalfCheetah at
//! quick scale) or 5000 (paper scale; TD3's protocol). Q-bias: 50 replay states every
//! 3000 steps (Pendulum) or 5000 (MuJoCo), after learning starts. Fresh-data usage is
//! counted in cycles of N = 100 steps for every run. Every (task, preset, seed) run goes
//! through one [`candor_rl::runs`] queue, one single-threaded worker per core; seeds are
//! shared across presets. At quick and paper scale each finished run is written to
//! `<out>/runs/<task>-<preset>-<seed>.json` (at smoke scale too when resuming) and a
//! rerun with the same config reuses it.
//! With checkpoints (paper scale, or `cargo xtask reproduce --resume`:
//! [`ReproduceOptions::checkpoint_dir`]) every unfinished run also saves a resumable
//! checkpoint `<checkpoints>/<task>-<preset>-<seed>.ckpt` ([`train_resumable`]) at the
//! first episode end every [`checkpoint_every`] steps, so a stopped reproduce continues
//! each in-progress run from its last checkpoint, to the bits it would have had; the
//! checkpoint is deleted once the run's result is cached.
//!
//! ## Claims (fixed before any run; α = 0.05, Holm across the four)
//!
//! The unit is the seed. Each claim first requires, on each task it uses, both agents to
//! beat a uniform random policy (Welch's t of the agent's per-seed statistic against 100
//! random-policy episodes, one-sided at α; controls outside the Holm family);
//! otherwise it is inconclusive.
//!
//! * `rud.beats-ddpg`: `rud`'s max average return (TD3 Table 1's statistic) exceeds
//!   `ddpg`'s on every task run: Welch superiority per task, intersection–union.
//! * `rud.vs-td3`: `rud-cdq`'s max average return is no worse than `td3`'s by more than
//!   10 % of `td3`'s (|mean|) on at least half the tasks where both ran: Welch
//!   non-inferiority per task, combined with Rüger's bound (the k-th smallest of m
//!   p-values times m − k + 1, k = ⌈m/2⌉; it fails when at least m − k + 1 tasks are
//!   significantly inferior).
//! * `rud.q-variance`: the variance across states of `rud`'s Q-estimate error is lower
//!   than `ddpg`'s (both without CDQ): per seed, the mean over measurements of the error
//!   variance; Welch's t on the logarithms (`ddpg` − `rud` > 0) per task,
//!   intersection–union.
//! * `td3.level`: `td3-2018`'s average return at the cut budget on HalfCheetah lies within
//!   ± 25 % of the TD3 paper's published curve (mean of 10 seeds) at that step: TOST on
//!   the one-sample t of our seeds.

use std::collections::BTreeMap;
use std::path::Path;

use candor_core::plot::{band_plot, Band};
use candor_core::report::{Cell, Report, Table};
use candor_core::stats::claim::{ClaimFamily, Judgement};
use candor_core::stats::dist::t_quantile;
use candor_core::stats::groups::{t_mean, welch};
use candor_core::{Error, ReproduceOptions, Result, Scale};
use candor_rl::runs::{by_cell, default_workers, grid_jobs, RunCache, Runner};
use candor_rl::{random_policy_returns, Checkpointing, Registry};

use crate::config::{Config, Preset, QBiasConfig, RUD_N};
use crate::train::{train_resumable, RunLog};

/// The TD3 paper's published learning curves (sfujim/TD3 `learning_curves/*.npy`, 10
/// seeds, gym -v1), as `task,step,mean,std,n` rows (`tools/rl_ddpg_td3_curves.py`).
pub const TD3_CURVES_CSV: &str = include_str!("../data/td3_2018_curves.csv");

/// Significance level of every test.
const ALPHA: f64 = 0.05;

/// One task of a scale's plan.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    /// `candor_rl::make` id.
    pub env_id: &'static str,
    /// Short label (`Pendulum`, `HalfCheetah`, …).
    pub label: &'static str,
    /// Seeds per preset.
    pub seeds: usize,
    /// Env steps per run.
    pub steps: usize,
    /// Evaluate every this many steps.
    pub eval_every: usize,
    /// Q-bias measurement period (steps).
    pub q_every: usize,
    /// The presets run on this task.
    pub presets: Vec<Preset>,
}

/// The tasks, seeds, budgets and presets of `scale` (see the module docs).
pub fn plan(scale: Scale) -> Vec<TaskPlan> {
    use Preset::*;
    match scale {
        Scale::Smoke => vec![TaskPlan {
            env_id: "Pendulum-v1",
            label: "Pendulum",
            seeds: 2,
            steps: 600,
            eval_every: 200,
            q_every: 300,
            presets: vec![Ddpg, Rud, RudCdq, Td3],
        }],
        Scale::Quick => vec![
            TaskPlan {
                env_id: "Pendulum-v1",
                label: "Pendulum",
                seeds: 5,
                steps: 15_000,
                eval_every: 1000,
                q_every: 3000,
                presets: vec![Ddpg, Rud, Td3],
            },
            TaskPlan {
                env_id: "HalfCheetah-v4",
                label: "HalfCheetah",
                seeds: 2,
                steps: 30_000,
                eval_every: 2500,
                q_every: 5000,
                presets: vec![Ddpg, Rud, RudCdq, Td3, Td3_2018],
            },
        ],
        Scale::Paper => ["HalfCheetah", "Hopper", "Walker2d", "Ant"]
            .into_iter()
            .map(|label| TaskPlan {
                env_id: match label {
                    "HalfCheetah" => "HalfCheetah-v4",
                    "Hopper" => "Hopper-v4",
                    "Walker2d" => "Walker2d-v4",
                    _ => "Ant-v4",
                },
                label,
                seeds: 10,
                steps: 1_000_000,
                eval_every: 5000,
                q_every: 5000,
                presets: vec![Ddpg, Rud, RudCdq, Td3, Td3_2018],
            })
            .collect(),
    }
}

/// The full config of one run of `preset` on `task` at `scale`.
pub fn run_config(task: &TaskPlan, preset: Preset, scale: Scale) -> Config {
    let mut cfg = Config::preset(preset, task.env_id).with_q_bias(QBiasConfig {
        every: task.q_every,
        states: scale.pick(10, 50, 50),
        tail: 1e-3,
    });
    cfg.train.total_steps = task.steps;
    cfg.train.eval_every = task.eval_every;
    cfg.train.fresh_usage_cycle = Some(RUD_N);
    if scale == Scale::Smoke {
        cfg.learner.actor.hidden = vec![64, 64];
        cfg.learner.critic.hidden = vec![64, 64];
        cfg.train.batch_size = 32;
        cfg.train.warmup_steps = 200;
        cfg.train.learning_starts = cfg.train.learning_starts.min(200);
        cfg.train.eval_episodes = 2;
    }
    cfg
}

/// One published curve point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub step: usize,
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

/// The published TD3 curve of `task` (`HalfCheetah`, `Hopper`, `Walker2d`, `Ant`).
pub fn td3_curve(task: &str) -> Result<Vec<CurvePoint>> {
    let mut out = Vec::new();
    for line in TD3_CURVES_CSV.lines() {
        if line.starts_with('#') || line.starts_with("task,") || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = || Error::invalid(format!("td3_2018_curves.csv: bad row '{line}'"));
        if f.len() != 5 {
            return Err(bad());
        }
        if f[0] != task {
            continue;
        }
        out.push(CurvePoint {
            step: f[1].parse().map_err(|_| bad())?,
            mean: f[2].parse().map_err(|_| bad())?,
            std: f[3].parse().map_err(|_| bad())?,
            n: f[4].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// Returns of `episodes` episodes of uniformly random actions (the claims' baseline).
pub fn random_returns(env_id: &str, episodes: usize, seed: u64) -> Result<Vec<f64>> {
    random_policy_returns(env_id, episodes, seed, "rl-ddpg/random-policy")
}

/// Per (task, preset): the runs in seed order.
type Runs = BTreeMap<(usize, Preset), Vec<RunLog>>;

/// Run the experiment and return its report (plots are written to `opts.out_dir`).
pub fn run(opts: &ReproduceOptions) -> Result<Report> {
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| Error::io(&opts.out_dir, e))?;
    let scale = opts.scale;
    let tasks = plan(scale);
    // Finished runs are cached at quick and paper scale, and whenever checkpoints are on
    // (a resumed smoke run too), so a checkpoint is only ever removed once its run is
    // cached.
    let runner = Runner {
        label: "rl-ddpg",
        workers: default_workers(),
        cache: (scale != Scale::Smoke || opts.checkpoint_dir().is_some()).then(|| RunCache {
            dir: opts.out_dir.join("runs"),
            suffix: ".json",
        }),
        checkpoints: opts.checkpoint_dir(),
    };
    let mut jobs = grid_jobs(
        opts.seed,
        tasks.iter().map(|t| (&t.presets[..], t.seeds)),
        |id| {
            let t = &tasks[id.task];
            Ok((
                format!("{}-{}-{}", t.label, id.variant, id.seed),
                run_config(t, id.variant, scale),
            ))
        },
    )?;
    // Shortest first: every finished run is cached (quick and paper scale), so an
    // interrupted reproduce has completed as many runs as it could.
    jobs.sort_by_key(|j| tasks[j.data.task].steps * cost_factor(&tasks[j.data.task]));

    let logs = runner.run(&jobs, |job, ckpt| {
        let (task, id) = (&tasks[job.data.task], &job.data);
        let ck = ckpt.map(|path| Checkpointing {
            path: path.to_path_buf(),
            every_steps: checkpoint_every(task.steps),
        });
        let (_, log) = train_resumable(
            &job.config,
            &Registry::default(),
            id.seed,
            &opts.device,
            ck.as_ref(),
        )?;
        tracing::info!(
            task = task.label,
            preset = id.variant.name(),
            seed = id.seed,
            max_average = log.history.max_average().unwrap_or(f64::NAN),
            updates_per_s = log.updates_per_second(),
            seconds = log.seconds,
            "run trained"
        );
        Ok(log)
    })?;

    let runs: Runs = by_cell(&jobs, logs);
    let random: Vec<Vec<f64>> = tasks
        .iter()
        .map(|t| random_returns(t.env_id, scale.pick(20, 100, 100), opts.seed))
        .collect::<Result<_>>()?;

    let budget_text = tasks
        .iter()
        .map(|t| {
            format!(
                "{} {} seeds × {} steps ({})",
                t.label,
                t.seeds,
                fmt_steps(t.steps),
                t.presets
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut report = Report::new(
        "rl-ddpg",
        scale.as_str(),
        opts.seed,
        false,
        format!(
            "Gymnasium-exact tasks from candor-rl (Pendulum-v1; MuJoCo v4 on MuJoCo 3.17.0; the \
             papers used gym -v1/-v2). {budget_text}. Reduced budgets are not comparable with \
             the papers' 1M-step tables; the TD3 paper's published curve is compared at the \
             same step count."
        ),
    );
    report
        .tables
        .push(returns_table(&tasks, &runs, &random, scale));
    report.tables.push(q_bias_table(&tasks, &runs));
    report.tables.push(fresh_table(&tasks, &runs));
    report.tables.push(throughput_table(&tasks, &runs));
    report.claims = claims(&tasks, &runs, &random)?;
    report.plots = plots(&opts.out_dir, &tasks, &runs)?;
    Ok(report)
}

/// The checkpoint period of a run of `steps` env steps: a twentieth of the run, at least
/// 200 steps (a paper-scale MuJoCo checkpoint holds the whole replay buffer, up to
/// ≈ 0.3 GB with stored simulator states, so saving is kept to about twenty times a run).
pub fn checkpoint_every(steps: usize) -> usize {
    (steps / 20).max(200)
}

/// Relative cost of a task's steps (for ordering the queue).
fn cost_factor(task: &TaskPlan) -> usize {
    if task.env_id.starts_with("Pendulum") {
        1
    } else {
        2
    }
}

fn fmt_steps(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn mean_std(v: &[f64]) -> Cell {
    if v.is_empty() {
        Cell::Null
    } else {
        Cell::MeanStd {
            mean: mean(v),
            std: std(v),
        }
    }
}

/// Per-seed max average return (TD3 Table 1).
fn max_averages(logs: &[RunLog]) -> Vec<f64> {
    logs.iter()
        .filter_map(|l| l.history.max_average())
        .collect()
}

/// Per-seed mean of the last 10 evaluations (TD3 Table 2).
fn last10(logs: &[RunLog]) -> Vec<f64> {
    logs.iter()
        .filter_map(|l| l.history.last_mean(10))
        .collect()
}

/// Per-seed average return at the last evaluation.
fn final_returns(logs: &[RunLog]) -> Vec<f64> {
    logs.iter()
        .filter_map(|l| l.history.means().last().copied())
        .collect()
}

/// Per-seed mean over measurements of the Q-error variance across states.
fn q_variances(logs: &[RunLog]) -> Vec<f64> {
    logs.iter()
        .filter_map(|l| {
            let v: Vec<f64> = l
                .q_bias
                .iter()
                .map(|p| p.error_variance())
                .filter(|v| v.is_finite())
                .collect();
            (!v.is_empty()).then(|| mean(&v))
        })
        .collect()
}

/// Per-seed mean over measurements of the Q bias (mean error).
fn q_biases(logs: &[RunLog]) -> Vec<f64> {
    logs.iter()
        .filter_map(|l| {
            let v: Vec<f64> = l.q_bias.iter().map(|p| p.bias()).collect();
            (!v.is_empty()).then(|| mean(&v))
        })
        .collect()
}

fn preset_columns() -> Vec<&'static str> {
    Preset::ALL.iter().map(|p| p.name()).collect()
}

fn cells_by_preset(task: usize, runs: &Runs, f: impl Fn(&[RunLog]) -> Cell) -> Vec<Cell> {
    Preset::ALL
        .iter()
        .map(|p| runs.get(&(task, *p)).map_or(Cell::Null, |l| f(l)))
        .collect()
}

fn returns_table(tasks: &[TaskPlan], runs: &Runs, random: &[Vec<f64>], scale: Scale) -> Table {
    let cols = preset_columns();
    let mut t = Table::new(
        "Max average return (TD3 Table 1 statistic) and last-10 average (Table 2), mean ± std over seeds",
        &cols,
    );
    for (ti, task) in tasks.iter().enumerate() {
        t.row(
            format!("{} max average ({})", task.label, fmt_steps(task.steps)),
            cells_by_preset(ti, runs, |l| mean_std(&max_averages(l))),
        );
        t.row(
            format!("{} last-10 average", task.label),
            cells_by_preset(ti, runs, |l| mean_std(&last10(l))),
        );
        t.row(
            format!("{} return at {}", task.label, fmt_steps(task.steps)),
            cells_by_preset(ti, runs, |l| mean_std(&final_returns(l))),
        );
    }
    // The TD3 paper's numbers at 1M steps (Table 1: TD3, "Our DDPG"; DDPG.py-style
    // Lillicrap DDPG) and its published curve at our budget.
    let table1: [(&str, f64, f64, f64); 4] = [
        ("HalfCheetah", 9636.95, 8577.29, 3305.60),
        ("Hopper", 3564.07, 1860.02, 2020.46),
        ("Walker2d", 4682.82, 3098.11, 1843.85),
        ("Ant", 4372.44, 888.77, 1005.30),
    ];
    for task in tasks {
        if let Some(&(_, td3, our_ddpg, lillicrap)) = table1.iter().find(|(l, ..)| *l == task.label)
        {
            let mut row = vec![Cell::Null; Preset::ALL.len()];
            row[0] = Cell::Num(our_ddpg);
            row[1] = Cell::Num(lillicrap);
            row[4] = Cell::Num(td3);
            row[5] = Cell::Num(td3);
            t.paper_row(
                format!(
                    "{} max average, 1M steps (TD3 paper Table 1, gym -v1)",
                    task.label
                ),
                row,
            );
        }
        if let Ok(curve) = td3_curve(task.label) {
            if let Some(p) = curve.iter().find(|p| p.step == task.steps) {
                let mut row = vec![Cell::Null; Preset::ALL.len()];
                row[5] = Cell::MeanStd {
                    mean: p.mean,
                    std: p.std,
                };
                t.paper_row(
                    format!(
                        "{} return at {} (TD3 published curve, 10 seeds)",
                        task.label,
                        fmt_steps(p.step)
                    ),
                    row,
                );
            }
        }
    }
    let random_note = tasks
        .iter()
        .zip(random)
        .map(|(t, r)| format!("{} {:.1} ± {:.1}", t.label, mean(r), std(r)))
        .collect::<Vec<_>>()
        .join(", ");
    t.with_note(format!(
        "Evaluation: 10 noise-free episodes on a separate env instance (reset with seed + 100) \
         before training and every {}; max average = the largest evaluation average of a run \
         (TD3 Table 1), last-10 = the mean of its last 10 evaluations (Table 2). Uniform \
         random policy over {} episodes: {random_note}. Paper rows: TD3 Table 1 at 1M steps \
         (columns: \"Our DDPG\" under ddpg, Lillicrap's DDPG under ddpg-original, TD3 under \
         td3 and td3-2018) and the TD3 repository's learning curves (td3-2018's setting) at \
         our budget; gym -v1 tasks, so not comparable digit for digit with v4.",
        tasks
            .iter()
            .map(|t| format!("{} steps on {}", fmt_steps(t.eval_every), t.label))
            .collect::<Vec<_>>()
            .join(", "),
        scale.pick(20, 100, 100),
    ))
}

fn q_bias_table(tasks: &[TaskPlan], runs: &Runs) -> Table {
    let cols = preset_columns();
    let mut t = Table::new(
        "Q-estimate error Q₁(s, π(s)) − G(s) against Monte-Carlo returns, mean ± std over seeds",
        &cols,
    );
    for (ti, task) in tasks.iter().enumerate() {
        t.row(
            format!("{} bias (mean error)", task.label),
            cells_by_preset(ti, runs, |l| mean_std(&q_biases(l))),
        );
        t.row(
            format!("{} error variance across states", task.label),
            cells_by_preset(ti, runs, |l| mean_std(&q_variances(l))),
        );
    }
    t.with_note(
        "Per seed: every measurement draws replay states, compares the first critic's \
         Q₁(s, π(s)) with the discounted return of the noise-free policy from the saved \
         simulator state (no time limit, until γʰ < 1e-3), and the seed's value is the mean \
         over its measurements of the bias (mean error) and of the error variance across \
         states. Positive bias: over-estimation.",
    )
}

fn fresh_table(tasks: &[TaskPlan], runs: &Runs) -> Table {
    let cols = preset_columns();
    let mut t = Table::new(
        "Fresh-data usage: samples drawn from a cycle's own new transitions per cycle of 100 steps",
        &cols,
    );
    for (ti, task) in tasks.iter().enumerate() {
        let pick = |l: &[RunLog], f: fn(&crate::train::FreshSummary) -> f64| {
            let v: Vec<f64> = l.iter().filter_map(|r| r.fresh.as_ref().map(f)).collect();
            if v.is_empty() {
                Cell::Null
            } else {
                Cell::Num(mean(&v))
            }
        };
        t.row(
            format!("{} measured", task.label),
            cells_by_preset(ti, runs, |l| pick(l, |f| f.measured)),
        );
        t.row(
            format!("{} formula (rl-rud.md)", task.label),
            cells_by_preset(ti, runs, |l| pick(l, |f| f.expected)),
        );
    }
    t.with_note(
        "Counted per transition over the cycles that start after learning begins (mean over \
         cycles and seeds). Formula: interleaved Σᵢ b·i/(t+i), block N·b·N/(t+N), with t the \
         transitions stored at the cycle's start and b the batch; null where the schedule \
         has no closed form here (EpisodeEnd).",
    )
}

fn throughput_table(tasks: &[TaskPlan], runs: &Runs) -> Table {
    let cols = preset_columns();
    let mut t = Table::new(
        "Throughput: updates per second of update time, and seconds per run",
        &cols,
    );
    for (ti, task) in tasks.iter().enumerate() {
        t.row(
            format!("{} updates/s", task.label),
            cells_by_preset(ti, runs, |l| {
                mean_std(&l.iter().map(RunLog::updates_per_second).collect::<Vec<_>>())
            }),
        );
        t.row(
            format!("{} seconds per run", task.label),
            cells_by_preset(ti, runs, |l| {
                mean_std(&l.iter().map(|r| r.seconds).collect::<Vec<_>>())
            }),
        );
    }
    t.with_note(format!(
        "Wall-clock, with {} runs in parallel (one single-threaded worker per core); a run's \
         seconds include evaluations and Q-bias rollouts.",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ))
}

/// Rüger's bound for "at least k of the m parts hold": p = (m − k + 1)·p₍ₖ₎ on the
/// sorted part p-values; it fails when at least m − k + 1 parts fail
/// (p_opposite = k·q₍ₘ₋ₖ₊₁₎ on the sorted opposite p-values). Blocked if any part is.
fn at_least_k_of(parts: Vec<(String, Judgement)>, k: usize) -> Result<Judgement> {
    let m = parts.len();
    if k == 0 || k > m {
        return Err(Error::invalid(format!(
            "at least {k} of {m}: need 1 ≤ k ≤ m"
        )));
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| parts[a].1.test.p.total_cmp(&parts[b].1.test.p));
    let mut opp: Vec<f64> = parts.iter().map(|(_, j)| j.p_opposite).collect();
    opp.sort_by(f64::total_cmp);
    let mut out = parts[order[k - 1]].1.clone();
    let base_name = out.test.name.clone();
    out.test.p = ((m - k + 1) as f64 * out.test.p).min(1.0);
    out.p_opposite = (k as f64 * opp[m - k]).min(1.0);
    out.test.name = format!(
        "at least {k} of {m} tasks (Rüger's bound on the {k}-th smallest p), each {base_name}"
    );
    out.detail = parts
        .iter()
        .map(|(label, j)| {
            format!(
                "{label}: {:.1} [{:.1}, {:.1}], p = {:.3} ({})",
                j.test.estimate,
                j.test.ci[0],
                j.test.ci[1],
                j.test.p,
                j.unadjusted_verdict().as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let blocked: Vec<String> = parts
        .iter()
        .filter_map(|(l, j)| j.blocked.as_ref().map(|b| format!("{l}: {b}")))
        .collect();
    out.blocked = (!blocked.is_empty()).then(|| blocked.join("; "));
    Ok(out)
}

/// Test "`p` beats the random policy on `task`" on `stat` and add it as a control.
fn add_gate(
    fam: &mut ClaimFamily,
    task: &TaskPlan,
    p: Preset,
    what: &str,
    stat: &[f64],
    random: &[f64],
) -> Option<Judgement> {
    let id = format!(
        "random.{}.{}.{}",
        task.label,
        p.name(),
        what.replace(' ', "-")
    );
    let statement = format!(
        "{} beats a uniform random policy on {} ({what})",
        p.name(),
        task.label
    );
    fam.beats_random_control(&id, &statement, p.name(), stat, random)
}

fn claims(
    tasks: &[TaskPlan],
    runs: &Runs,
    random: &[Vec<f64>],
) -> Result<Vec<candor_core::report::Claim>> {
    let mut fam = ClaimFamily::new(ALPHA);
    let get = |ti: usize, p: Preset| runs.get(&(ti, p)).map(Vec::as_slice);
    // Preconditions (controls): every agent run beats the random policy on its max
    // average return (td3.level adds its own on the return at the budget).
    let mut gates: BTreeMap<(usize, Preset), Judgement> = BTreeMap::new();
    for (&(ti, p), logs) in runs {
        let stat = max_averages(logs);
        add_gate(&mut fam, &tasks[ti], p, "max average", &stat, &random[ti])
            .map(|j| gates.insert((ti, p), j));
    }
    let gate = |ti: usize, p: Preset| gates.get(&(ti, p)).cloned();

    // rud.beats-ddpg
    let statement = "RUD's max average return exceeds DDPG's on every task run (same settings, block schedule N = 100 vs interleaved)";
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    let mut failure = None;
    for (ti, task) in tasks.iter().enumerate() {
        let (Some(r), Some(d)) = (get(ti, Preset::Rud), get(ti, Preset::Ddpg)) else {
            continue;
        };
        let (r, d) = (max_averages(r), max_averages(d));
        evidence.push(format!(
            "{}: rud {:.1} ± {:.1} vs ddpg {:.1} ± {:.1}",
            task.label,
            mean(&r),
            std(&r),
            mean(&d),
            std(&d)
        ));
        let gates = (gate(ti, Preset::Rud), gate(ti, Preset::Ddpg));
        match welch(&r, &d, "seeds").and_then(|w| Judgement::superior(&w, ALPHA)) {
            Ok(j) => {
                let (Some(gr), Some(gd)) = gates else {
                    failure = Some("a random-policy precondition could not be tested".to_string());
                    continue;
                };
                parts.push((
                    task.label.to_string(),
                    j.gated(&[("rud beats random", &gr), ("ddpg beats random", &gd)]),
                ));
            }
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let evidence = evidence.join("; ");
    fam.claim_from_parts(
        "rud.beats-ddpg",
        statement,
        &evidence,
        failure,
        parts,
        "rud and ddpg not both run",
        Judgement::all_of,
    )?;

    // rud.vs-td3
    let statement = "RUD + CDQ is no worse than TD3 by more than 10% of TD3's max average return on at least half the tasks";
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    let mut failure = None;
    for (ti, task) in tasks.iter().enumerate() {
        let (Some(r), Some(t)) = (get(ti, Preset::RudCdq), get(ti, Preset::Td3)) else {
            continue;
        };
        let (r, t) = (max_averages(r), max_averages(t));
        let margin = 0.1 * mean(&t).abs();
        evidence.push(format!(
            "{}: rud-cdq {:.1} ± {:.1} vs td3 {:.1} ± {:.1} (margin {margin:.1})",
            task.label,
            mean(&r),
            std(&r),
            mean(&t),
            std(&t)
        ));
        let gates = (gate(ti, Preset::RudCdq), gate(ti, Preset::Td3));
        match welch(&r, &t, "seeds").and_then(|w| Judgement::non_inferior(&w, margin, ALPHA)) {
            Ok(j) => {
                let (Some(gr), Some(gt)) = gates else {
                    failure = Some("a random-policy precondition could not be tested".to_string());
                    continue;
                };
                parts.push((
                    task.label.to_string(),
                    j.gated(&[("rud-cdq beats random", &gr), ("td3 beats random", &gt)]),
                ));
            }
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let evidence = evidence.join("; ");
    let k = parts.len().div_ceil(2);
    fam.claim_from_parts(
        "rud.vs-td3",
        statement,
        &evidence,
        failure,
        parts,
        "rud-cdq and td3 not both run on any task",
        |p| at_least_k_of(p, k),
    )?;

    // rud.q-variance
    let statement = "The variance of RUD's Q-estimate error is lower than DDPG's (both without CDQ) on every task run";
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    let mut failure = None;
    for (ti, task) in tasks.iter().enumerate() {
        let (Some(r), Some(d)) = (get(ti, Preset::Rud), get(ti, Preset::Ddpg)) else {
            continue;
        };
        let (vr, vd) = (q_variances(r), q_variances(d));
        evidence.push(format!(
            "{}: error variance rud {:.1} vs ddpg {:.1} (geometric means {:.1} vs {:.1})",
            task.label,
            mean(&vr),
            mean(&vd),
            mean(&vr.iter().map(|v| v.ln()).collect::<Vec<_>>()).exp(),
            mean(&vd.iter().map(|v| v.ln()).collect::<Vec<_>>()).exp(),
        ));
        let log = |v: &[f64]| v.iter().map(|x| x.ln()).collect::<Vec<_>>();
        let gates = (gate(ti, Preset::Rud), gate(ti, Preset::Ddpg));
        match welch(&log(&vd), &log(&vr), "seeds").and_then(|w| Judgement::superior(&w, ALPHA)) {
            Ok(j) => {
                let (Some(gr), Some(gd)) = gates else {
                    failure = Some("a random-policy precondition could not be tested".to_string());
                    continue;
                };
                parts.push((
                    task.label.to_string(),
                    j.gated(&[("rud beats random", &gr), ("ddpg beats random", &gd)]),
                ));
            }
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let evidence = format!(
        "{}; test on ln(ddpg variance) − ln(rud variance) per seed",
        evidence.join("; ")
    );
    fam.claim_from_parts(
        "rud.q-variance",
        statement,
        &evidence,
        failure,
        parts,
        "rud and ddpg not both run",
        Judgement::all_of,
    )?;

    // td3.level
    let statement = "TD3 (2018 settings) on HalfCheetah reaches the TD3 paper's published curve within ±25% at the cut budget";
    let half_cheetah = tasks.iter().position(|t| t.label == "HalfCheetah");
    match half_cheetah.and_then(|ti| get(ti, Preset::Td3_2018).map(|l| (ti, l))) {
        None => {
            fam.not_judged(
                "td3.level",
                statement,
                "",
                "td3-2018 not run on HalfCheetah",
            );
        }
        Some((ti, logs)) => {
            let task = &tasks[ti];
            let curve = td3_curve("HalfCheetah")?;
            let ours = final_returns(logs);
            match curve.iter().find(|p| p.step == task.steps) {
                None => {
                    fam.not_judged(
                        "td3.level",
                        statement,
                        "",
                        &format!("no published point at {} steps", task.steps),
                    );
                }
                Some(p) => {
                    let evidence = format!(
                        "td3-2018 at {}: {:.1} ± {:.1} (seeds: {}); published TD3 curve {:.1} ± {:.1} (10 seeds, gym -v1); band ±{:.1}",
                        fmt_steps(p.step),
                        mean(&ours),
                        std(&ours),
                        ours.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(", "),
                        p.mean,
                        p.std,
                        0.25 * p.mean.abs()
                    );
                    let g = add_gate(
                        &mut fam,
                        task,
                        Preset::Td3_2018,
                        "return at the budget",
                        &ours,
                        &random[ti],
                    );
                    match t_mean(&ours, "seeds")
                        .and_then(|t| Judgement::equivalent(&t, p.mean, 0.25 * p.mean.abs(), ALPHA))
                    {
                        Ok(j) => {
                            let j = match &g {
                                Some(g) => j.gated(&[("td3-2018 beats random", g)]),
                                None => j,
                            };
                            fam.claim("td3.level", statement, &evidence, j);
                        }
                        Err(e) => {
                            fam.not_judged("td3.level", statement, &evidence, &e.to_string());
                        }
                    }
                }
            }
        }
    }
    fam.try_finish()
}

fn plots(out: &Path, tasks: &[TaskPlan], runs: &Runs) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for (ti, task) in tasks.iter().enumerate() {
        let mut bands = Vec::new();
        let mut q_bands = Vec::new();
        for &p in &task.presets {
            let Some(logs) = runs.get(&(ti, p)) else {
                continue;
            };
            let Some(first) = logs.first() else { continue };
            let xs: Vec<f64> = first.history.steps.iter().map(|&s| s as f64).collect();
            let curves: Vec<Vec<f64>> = logs.iter().map(|l| l.history.means()).collect();
            bands.push(Band::mean_t_interval(p.name(), &xs, &curves, 0.95)?);
            let qx: Vec<f64> = first.q_bias.iter().map(|q| q.step as f64).collect();
            let qs: Vec<Vec<f64>> = logs
                .iter()
                .map(|l| l.q_bias.iter().map(|q| q.bias()).collect())
                .collect();
            if !qx.is_empty() && qs.iter().all(|q| q.len() == qx.len()) {
                q_bands.push(Band::mean_t_interval(p.name(), &qx, &qs, 0.95)?);
            }
        }
        if let Ok(curve) = td3_curve(task.label) {
            let t = t_quantile(0.975, 9.0);
            let points: Vec<(f64, f64, f64, f64)> = curve
                .iter()
                .filter(|p| p.step <= task.steps)
                .map(|p| {
                    let half = t * p.std / (p.n as f64).sqrt();
                    (p.step as f64, p.mean, p.mean - half, p.mean + half)
                })
                .collect();
            if !points.is_empty() {
                bands.push(Band::new("TD3 paper (published, -v1)", points));
            }
        }
        let name = format!("curves_{}.png", task.label.to_lowercase());
        band_plot(
            out.join(&name),
            &format!(
                "{}: evaluation return, {}",
                task.env_id,
                Band::caption(task.seeds, 0.95, "seeds")
            ),
            "env steps",
            "average return (10 episodes)",
            &bands,
        )?;
        files.push(name);
        if !q_bands.is_empty() {
            let name = format!("q_bias_{}.png", task.label.to_lowercase());
            band_plot(
                out.join(&name),
                &format!(
                    "{}: Q₁(s, π(s)) − Monte-Carlo return, {}",
                    task.env_id,
                    Band::caption(task.seeds, 0.95, "seeds")
                ),
                "env steps",
                "Q-estimate bias",
                &q_bands,
            )?;
            files.push(name);
        }
    }
    Ok(files)
}
