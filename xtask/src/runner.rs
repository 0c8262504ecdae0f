//! Running papers: each paper runs in its own child process (see [`run_one_isolated`]);
//! its error, panic or crash is reported as *failed*, and the next paper still runs; REPORT.md lists the papers of this run only (results of
//! other papers found on disk are listed as stale, with their commit and date) and ends
//! with a summary line.

use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use candor_core::report::{verdict_counts, Report};
use candor_core::{ReproduceOptions, Scale};

use crate::registry::Paper;

/// What every paper of one run shares.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub scale: Scale,
    pub seed: u64,
    pub out: PathBuf,
    pub data: Option<PathBuf>,
    /// Folder holding pretrained weights (`--weights`).
    pub weights: Option<PathBuf>,
    /// The device every paper runs on (`--device`, opened once).
    pub device: candle_core::Device,
    /// `--device` as the user wrote it, for the log.
    pub device_name: String,
    pub commit: String,
    /// `--resume`: keep and continue from each paper's checkpoints.
    pub resume: bool,
}

impl RunSettings {
    /// The options one paper's `run` gets.
    fn options(&self, dir: PathBuf) -> ReproduceOptions {
        let mut o = ReproduceOptions::new(self.scale, self.seed, dir);
        o.data_dir = self.data.clone();
        o.weights_dir = self.weights.clone();
        o.device = self.device.clone();
        o.resume = self.resume;
        o
    }
}

/// How one paper's run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Results written to its folder.
    Done(Box<Report>),
    /// An error, a panic, or results that could not be written.
    Failed { message: String, seconds: f64 },
}

#[derive(Debug)]
pub struct PaperRun {
    pub name: &'static str,
    pub outcome: Outcome,
}

/// The text of a panic payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// The environment a paper's child process gets on top of ours: for a
/// [`Paper::parallel_small_runs`] paper, `RAYON_NUM_THREADS=1` and
/// `CANDOR_ALLOC_ARENAS=per-thread`, each unless the user set it (`user_set` answers for
/// a variable's name). Both are read once per process, so they must be set before it
/// starts, not by `set_var`: candle's elementwise barrier pool is built on first use and
/// shared by every thread (a pool built for an earlier paper's convolutions made the RL
/// papers' parallel seed workers queue on its lock: 2026-12-06, 54 % of a core each, 878 s
/// for a 15k-step Pendulum run that takes about 70 s alone), and `main` tunes the
/// allocator before any thread starts (with one arena, two NoisyNet-DQN runs side by side
/// took 34–36 s each against 20.5 s with an arena per thread: `candor_core::alloc`).
pub fn child_env(
    paper: &Paper,
    user_set: impl Fn(&str) -> bool,
) -> Vec<(&'static str, &'static str)> {
    if !paper.parallel_small_runs {
        return Vec::new();
    }
    [
        ("RAYON_NUM_THREADS", "1"),
        (
            candor_core::alloc::ARENAS_VAR,
            candor_core::alloc::Arenas::PerThread.as_str(),
        ),
    ]
    .into_iter()
    .filter(|(k, _)| !user_set(k))
    .collect()
}

/// Where a paper's child process leaves its failure message.
pub fn failure_file(out: &Path, paper: &str) -> PathBuf {
    out.join(paper).join("failure.txt")
}

/// The settings a paper's checkpoints were written with (`checkpoints/run.json`).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct CheckpointOrigin {
    scale: String,
    seed: u64,
}

/// A fresh run clears the paper's `checkpoints` folder; a resumed one keeps it, after
/// checking that it was written with the same scale and seed, and says how much is
/// there.
fn prepare_checkpoints(ck: &Path, settings: &RunSettings) -> Result<(), String> {
    let origin = CheckpointOrigin {
        scale: settings.scale.to_string(),
        seed: settings.seed,
    };
    let stamp = ck.join("run.json");
    if !settings.resume {
        if ck.exists() {
            std::fs::remove_dir_all(ck)
                .map_err(|e| format!("cannot clear {}: {e}", ck.display()))?;
        }
    } else if stamp.exists() {
        let text = std::fs::read_to_string(&stamp)
            .map_err(|e| format!("cannot read {}: {e}", stamp.display()))?;
        let found: CheckpointOrigin =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", stamp.display()))?;
        if found != origin {
            return Err(format!(
                "--resume: the checkpoints in {} were written at scale {} with seed {}, \
                 not scale {} with seed {}; rerun with those settings or without --resume",
                ck.display(),
                found.scale,
                found.seed,
                origin.scale,
                origin.seed
            ));
        }
        let files = walk_count(ck);
        tracing::info!(folder = %ck.display(), files, "resuming from checkpoints");
    }
    if settings.resume || settings.scale == Scale::Paper {
        let json = serde_json::to_string_pretty(&origin).map_err(|e| e.to_string())?;
        candor_core::fsio::write_atomic(&stamp, json.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Files under `dir`, recursively.
fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk_count(&p)
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Run one paper, catching its error or panic, and write its results.
pub fn run_one(paper: &Paper, settings: &RunSettings) -> PaperRun {
    let t0 = Instant::now();
    let failed = |message: String| PaperRun {
        name: paper.name,
        outcome: Outcome::Failed {
            message,
            seconds: t0.elapsed().as_secs_f64(),
        },
    };
    let Some(run) = paper.run else {
        return failed(format!("{} is not implemented yet", paper.name));
    };
    let dir = settings.out.join(paper.name);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return failed(format!("cannot create {}: {e}", dir.display()));
    }
    let opts = settings.options(dir.clone());
    if let Err(e) = prepare_checkpoints(&dir.join("checkpoints"), settings) {
        return failed(e);
    }
    tracing::info!(paper = paper.name, scale = %settings.scale, seed = settings.seed, device = %settings.device_name, "reproducing");
    // On a rayon pool thread: every kernel's caller then takes its share of the work
    // instead of handing it over and sleeping (candor_core::threads).
    let result = catch_unwind(AssertUnwindSafe(|| {
        candor_core::threads::on_pool(|| run(&opts))
    }));
    let mut report = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed(format!("error: {e}")),
        Err(p) => return failed(format!("panicked: {}", panic_message(p.as_ref()))),
    };
    report.seconds = t0.elapsed().as_secs_f64();
    report.commit = settings.commit.clone();
    report.scale = settings.scale.to_string();
    report.seed = settings.seed;
    if let Err(e) = report.write(&dir) {
        return failed(format!("writing results: {e}"));
    }
    PaperRun {
        name: paper.name,
        outcome: Outcome::Done(Box::new(report)),
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub papers: usize,
    pub failed: usize,
    pub holds: usize,
    pub fails: usize,
    pub inconclusive: usize,
}

impl Totals {
    pub fn of(runs: &[PaperRun]) -> Self {
        let mut t = Totals {
            papers: runs.len(),
            failed: 0,
            holds: 0,
            fails: 0,
            inconclusive: 0,
        };
        for r in runs {
            match &r.outcome {
                Outcome::Done(rep) => {
                    let (h, f, i) = verdict_counts(&rep.claims);
                    t.holds += h;
                    t.fails += f;
                    t.inconclusive += i;
                }
                Outcome::Failed { .. } => t.failed += 1,
            }
        }
        t
    }

    pub fn line(&self, seconds: f64) -> String {
        format!(
            "papers run: {}, failed: {}; claims: {} hold, {} fail, {} inconclusive; total time {:.1} s",
            self.papers, self.failed, self.holds, self.fails, self.inconclusive, seconds
        )
    }
}

/// A `results.json` on disk that this run did not produce.
#[derive(Debug, Clone)]
pub struct Stale {
    pub name: String,
    pub commit: String,
    pub scale: String,
    /// Modification date of the file (UTC, YYYY-MM-DD).
    pub date: String,
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn file_date(p: &Path) -> String {
    let Some(secs) = std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
    else {
        return "unknown date".into();
    };
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Results of registered papers found under `out` that this run did not write.
pub fn stale_results(out: &Path, registry: &[Paper], runs: &[PaperRun]) -> Vec<Stale> {
    let fresh = |name: &str| {
        runs.iter()
            .any(|r| r.name == name && matches!(r.outcome, Outcome::Done(_)))
    };
    registry
        .iter()
        .filter(|p| !fresh(p.name))
        .filter_map(|p| {
            let path = out.join(p.name).join("results.json");
            if !path.is_file() {
                return None;
            }
            let (commit, scale) = match Report::read(&path) {
                Ok(r) => (r.commit, r.scale),
                Err(_) => ("unreadable (older schema)".into(), "?".into()),
            };
            Some(Stale {
                name: p.name.to_string(),
                commit,
                scale,
                date: file_date(&path),
            })
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The content of REPORT.md for this run.
pub fn report_markdown(
    runs: &[PaperRun],
    stale: &[Stale],
    totals: &Totals,
    seconds: f64,
) -> String {
    let mut s = String::from("# candor — reproduction report\n\n");
    s.push_str(
        "Generated by `cargo xtask reproduce`; it lists the papers of this run only. Each \
         paper's folder holds `results.json`, `results.md` and its plots. Where the data is \
         a proxy, the paper's numbers are shown for reference only. Every claim is decided \
         by a statistical test: *holds*, *fails* or *inconclusive*.\n\n",
    );
    s.push_str("| paper | status | scale | seed | commit | runtime (s) | proxy data | claims: hold / fail / inconclusive |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut bodies = String::new();
    for r in runs {
        match &r.outcome {
            Outcome::Done(rep) => {
                let (h, f, i) = verdict_counts(&rep.claims);
                s.push_str(&format!(
                    "| [{}]({}/results.md) | done | {} | {} | `{}` | {:.1} | {} | {h} / {f} / {i} |\n",
                    rep.paper,
                    r.name,
                    rep.scale,
                    rep.seed,
                    rep.commit,
                    rep.seconds,
                    if rep.proxy { "yes" } else { "no" },
                ));
                // results.md links its plots relative to the paper's folder; REPORT.md
                // sits one level up. (Plots are the only links a report has.)
                let md = rep.to_markdown().replace("](", &format!("]({}/", r.name));
                bodies.push_str(&md);
                bodies.push('\n');
            }
            Outcome::Failed { message, seconds } => {
                s.push_str(&format!(
                    "| {} | **failed** | — | — | — | {seconds:.1} | — | — |\n",
                    r.name
                ));
                bodies.push_str(&format!(
                    "## {}\n\n**Failed** after {seconds:.1} s: {}\n\n",
                    r.name,
                    escape(message)
                ));
            }
        }
    }
    s.push('\n');
    if !stale.is_empty() {
        s.push_str("Older results found on disk, not from this run (stale):\n\n");
        for st in stale {
            s.push_str(&format!(
                "- {}: commit `{}`, scale {}, written {} ({}/results.md)\n",
                st.name, st.commit, st.scale, st.date, st.name
            ));
        }
        s.push('\n');
    }
    s.push_str(&bodies);
    s.push_str(&format!("---\n\n**Summary:** {}\n", totals.line(seconds)));
    s
}

/// Run one paper in a child process of `exe` (this binary, `reproduce --child`), with
/// [`child_env`]: each paper gets a fresh process, so thread pools, allocator state and
/// a crash (a signal, an abort, the out-of-memory killer) stay with that paper. The
/// child writes `results.json` (read back here) or [`failure_file`].
pub fn run_one_isolated(paper: &Paper, settings: &RunSettings, exe: &Path) -> PaperRun {
    let t0 = Instant::now();
    let failed = |message: String| PaperRun {
        name: paper.name,
        outcome: Outcome::Failed {
            message,
            seconds: t0.elapsed().as_secs_f64(),
        },
    };
    let dir = settings.out.join(paper.name);
    let failure = failure_file(&settings.out, paper.name);
    let results = dir.join("results.json");
    for f in [&failure, &results] {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return failed(format!("cannot remove {}: {e}", f.display()));
            }
        }
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["reproduce", "--child", "--paper", paper.name])
        .arg("--scale")
        .arg(settings.scale.to_string())
        .arg("--seed")
        .arg(settings.seed.to_string())
        .arg("--out")
        .arg(&settings.out)
        .arg("--device")
        .arg(&settings.device_name);
    if let Some(d) = &settings.data {
        cmd.arg("--data").arg(d);
    }
    if let Some(w) = &settings.weights {
        cmd.arg("--weights").arg(w);
    }
    if settings.resume {
        cmd.arg("--resume");
    }
    cmd.envs(child_env(paper, |k| std::env::var_os(k).is_some()));
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => return failed(format!("cannot start {}: {e}", exe.display())),
    };
    if let Ok(message) = std::fs::read_to_string(&failure) {
        return failed(message.trim().to_string());
    }
    if !status.success() {
        return failed(format!("the paper's process ended with {status}"));
    }
    match Report::read(&results) {
        Ok(report) => PaperRun {
            name: paper.name,
            outcome: Outcome::Done(Box::new(report)),
        },
        Err(e) => failed(format!("reading {}: {e}", results.display())),
    }
}

/// How [`run_papers`] runs each paper.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// In this process ([`run_one`]); for tests.
    #[cfg_attr(not(test), allow(dead_code))]
    InProcess,
    /// In a child process of this binary ([`run_one_isolated`]).
    ChildOf(PathBuf),
}

/// Run `papers` one after another (each failure caught), write REPORT.md under
/// `settings.out`, and return every paper's outcome with the totals. `registry` is
/// where stale results are looked for.
pub fn run_papers(
    papers: &[Paper],
    registry: &[Paper],
    settings: &RunSettings,
    isolation: &Isolation,
) -> anyhow::Result<(Vec<PaperRun>, Totals)> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&settings.out)?;
    let mut runs = Vec::new();
    for p in papers {
        let r = match isolation {
            Isolation::InProcess => run_one(p, settings),
            Isolation::ChildOf(exe) => run_one_isolated(p, settings, exe),
        };
        print_outcome(&r, &settings.out);
        runs.push(r);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let totals = Totals::of(&runs);
    let stale = stale_results(&settings.out, registry, &runs);
    let md = report_markdown(&runs, &stale, &totals, seconds);
    let path = settings.out.join("REPORT.md");
    candor_core::fsio::write_atomic(&path, md.as_bytes())?;
    println!("summary -> {}", path.display());
    println!("{}", totals.line(seconds));
    let _ = std::io::stdout().flush();
    Ok((runs, totals))
}

fn print_outcome(r: &PaperRun, out: &Path) {
    match &r.outcome {
        Outcome::Done(rep) => {
            let (h, f, i) = verdict_counts(&rep.claims);
            println!(
                "{:<20} {:>7.1} s  claims: {h} hold, {f} fail, {i} inconclusive  -> {}",
                r.name,
                rep.seconds,
                out.join(r.name).join("results.md").display()
            );
            for c in rep.claims.iter().filter(|c| !c.holds) {
                println!("    {}: {} — {}", c.verdict.as_str(), c.id, c.evidence);
            }
        }
        Outcome::Failed { message, seconds } => {
            println!("{:<20} {:>7.1} s  FAILED: {message}", r.name, seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::paper;
    use candor_core::report::Table;
    use candor_core::stats::claim::{ClaimFamily, Judgement};
    use candor_core::stats::proportion::{Proportion, ProportionMethod};

    fn panics(_: &ReproduceOptions) -> candor_core::Result<Report> {
        panic!("deliberate test panic");
    }

    fn errs(_: &ReproduceOptions) -> candor_core::Result<Report> {
        Err(candor_core::Error::invalid("deliberate test error"))
    }

    fn works(o: &ReproduceOptions) -> candor_core::Result<Report> {
        let mut r = Report::new("works", o.scale.as_str(), o.seed, false, "synthetic");
        let mut t = Table::new("t", &["a"]);
        t.row("x", vec![1.0.into()]);
        r.tables.push(t);
        let mut fam = ClaimFamily::new(0.05);
        let e = Proportion::new(190, 200, ProportionMethod::Exact, "clouds")?;
        fam.claim(
            "w.rate",
            "rate ≥ 0.9",
            "",
            Judgement::at_least(&e, 0.9, 0.05)?,
        );
        let e = Proportion::new(45, 50, ProportionMethod::Exact, "clouds")?;
        fam.claim(
            "w.edge",
            "rate ≥ 0.9",
            "",
            Judgement::at_least(&e, 0.9, 0.05)?,
        );
        r.claims = fam.try_finish()?;
        Ok(r)
    }

    #[test]
    fn a_panicking_paper_is_reported_and_the_next_still_runs() {
        let dir = tempfile::tempdir().unwrap();
        let registry = [
            paper("boom", "panics", panics),
            paper("broken", "returns an error", errs),
            paper("works", "works", works),
            paper("old", "not run this time", works),
        ];
        // An older result on disk for a paper not in this run.
        let settings = RunSettings {
            scale: Scale::Smoke,
            seed: 1,
            out: dir.path().to_path_buf(),
            data: None,
            weights: None,
            device: candle_core::Device::Cpu,
            device_name: "cpu".into(),
            commit: "abc123".into(),
            resume: false,
        };
        let old = run_one(
            &registry[3],
            &RunSettings {
                commit: "old999".into(),
                ..settings.clone()
            },
        );
        assert!(matches!(old.outcome, Outcome::Done(_)));
        let (runs, totals) =
            run_papers(&registry[..3], &registry, &settings, &Isolation::InProcess).unwrap();
        assert_eq!(runs.len(), 3);
        assert!(
            matches!(&runs[0].outcome, Outcome::Failed { message, .. } if message.contains("deliberate test panic"))
        );
        assert!(
            matches!(&runs[1].outcome, Outcome::Failed { message, .. } if message.contains("deliberate test error"))
        );
        assert!(matches!(runs[2].outcome, Outcome::Done(_)));
        assert_eq!(
            totals,
            Totals {
                papers: 3,
                failed: 2,
                holds: 1,
                fails: 0,
                inconclusive: 1
            }
        );
        // The next paper's results are written.
        let r = Report::read(dir.path().join("works/results.json")).unwrap();
        assert_eq!(r.commit, "abc123");
        let md = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
        assert!(md.contains("| boom | **failed** |"), "{md}");
        assert!(md.contains("panicked: deliberate test panic"), "{md}");
        assert!(
            md.contains("error: invalid input: deliberate test error")
                || md.contains("deliberate test error")
        );
        assert!(md.contains("[works](works/results.md) | done"), "{md}");
        assert!(md.contains("- old: commit `old999`"), "stale listed: {md}");
        assert!(
            md.contains(
                "**Summary:** papers run: 3, failed: 2; claims: 1 hold, 0 fail, 1 inconclusive"
            ),
            "{md}"
        );
        // Only this run's papers have sections.
        assert!(!md.contains("## old"));
    }

    #[test]
    fn rl_papers_get_one_rayon_thread_and_arenas_per_thread_unless_the_user_chose() {
        let rl = paper("rl", "t", works).parallel_small_runs();
        let conv = paper("conv", "t", works);
        assert_eq!(
            child_env(&rl, |_| false),
            vec![
                ("RAYON_NUM_THREADS", "1"),
                ("CANDOR_ALLOC_ARENAS", "per-thread")
            ]
        );
        assert_eq!(
            child_env(&rl, |k| k == "RAYON_NUM_THREADS"),
            vec![("CANDOR_ALLOC_ARENAS", "per-thread")]
        );
        assert!(child_env(&rl, |_| true).is_empty());
        assert!(child_env(&conv, |_| false).is_empty());
    }

    /// A stand-in for the xtask binary: a shell script run as the paper's child.
    #[cfg(unix)]
    fn fake_child(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("fake-xtask.sh");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    #[cfg(unix)]
    #[test]
    fn a_child_that_crashes_fails_or_reports_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let settings = RunSettings {
            scale: Scale::Smoke,
            seed: 1,
            out: out.clone(),
            data: None,
            weights: None,
            device: candle_core::Device::Cpu,
            device_name: "cpu".into(),
            commit: "test".into(),
            resume: false,
        };
        let p = paper("p", "a paper", works);
        std::fs::create_dir_all(out.join("p")).unwrap();
        // Killed by a signal (as the out-of-memory killer would): failed, with the signal.
        let r = run_one_isolated(&p, &settings, &fake_child(dir.path(), "kill -9 $$"));
        match r.outcome {
            Outcome::Failed { message, .. } => assert!(message.contains("signal"), "{message}"),
            o => panic!("{o:?}"),
        }
        // A failure message left by the child is the reported one.
        let body = format!(
            "printf 'error: no data' > {}; exit 1",
            failure_file(&out, "p").display()
        );
        let r = run_one_isolated(&p, &settings, &fake_child(dir.path(), &body));
        match r.outcome {
            Outcome::Failed { message, .. } => assert_eq!(message, "error: no data"),
            o => panic!("{o:?}"),
        }
        // An old results.json is not taken for this run's: exit 0 without writing one fails.
        let old = works(&settings.options(out.join("p"))).unwrap();
        old.write(out.join("p")).unwrap();
        let r = run_one_isolated(&p, &settings, &fake_child(dir.path(), "exit 0"));
        assert!(matches!(r.outcome, Outcome::Failed { .. }), "{r:?}");
        // The child's results are read back; the arguments carry the run's settings.
        let body = format!(
            "echo \"$@\" > {args}; cp {src} {dst}",
            args = dir.path().join("args").display(),
            src = dir.path().join("saved.json").display(),
            dst = out.join("p/results.json").display()
        );
        old.write(dir.path()).unwrap();
        std::fs::rename(
            dir.path().join("results.json"),
            dir.path().join("saved.json"),
        )
        .unwrap();
        let r = run_one_isolated(&p, &settings, &fake_child(dir.path(), &body));
        assert!(matches!(r.outcome, Outcome::Done(_)), "{r:?}");
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert!(
            args.contains("reproduce --child --paper p --scale smoke --seed 1 --out")
                && args.contains("--device cpu"),
            "{args}"
        );
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    /// A paper that counts its runs in a checkpoint file, so a test can see whether the
    /// checkpoints were kept.
    fn counts(opts: &ReproduceOptions) -> candor_core::Result<Report> {
        if let Some(d) = opts.checkpoint_dir() {
            std::fs::create_dir_all(&d).unwrap();
            let p = d.join("count");
            let n: u32 = std::fs::read_to_string(&p)
                .map(|s| s.parse().unwrap())
                .unwrap_or(0);
            std::fs::write(&p, (n + 1).to_string()).unwrap();
        }
        works(opts)
    }

    #[test]
    fn resume_keeps_checkpoints_of_the_same_settings_and_a_fresh_run_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let registry = [paper("ck", "counts", counts)];
        let settings = RunSettings {
            scale: Scale::Smoke,
            seed: 4,
            out: dir.path().to_path_buf(),
            data: None,
            weights: None,
            device: candle_core::Device::Cpu,
            device_name: "cpu".into(),
            commit: "c".into(),
            resume: true,
        };
        let count = || std::fs::read_to_string(dir.path().join("ck/checkpoints/count")).ok();
        assert!(matches!(
            run_one(&registry[0], &settings).outcome,
            Outcome::Done(_)
        ));
        assert!(matches!(
            run_one(&registry[0], &settings).outcome,
            Outcome::Done(_)
        ));
        assert_eq!(
            count().as_deref(),
            Some("2"),
            "--resume keeps the checkpoints"
        );
        // Another seed cannot resume from them …
        let other = RunSettings {
            seed: 5,
            ..settings.clone()
        };
        match run_one(&registry[0], &other).outcome {
            Outcome::Failed { message, .. } => {
                assert!(message.contains("seed 4"), "{message}")
            }
            Outcome::Done(_) => panic!("resumed from another seed's checkpoints"),
        }
        assert_eq!(count().as_deref(), Some("2"));
        // … and a run without --resume starts afresh (smoke scale: no checkpoints).
        let fresh = RunSettings {
            resume: false,
            ..settings.clone()
        };
        assert!(matches!(
            run_one(&registry[0], &fresh).outcome,
            Outcome::Done(_)
        ));
        assert_eq!(count(), None);
        assert!(matches!(
            run_one(&registry[0], &settings).outcome,
            Outcome::Done(_)
        ));
        assert_eq!(count().as_deref(), Some("1"));
    }
}
