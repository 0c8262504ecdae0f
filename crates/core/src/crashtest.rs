//! Kill-and-resume testing: run a training process, kill it with `SIGKILL` at random
//! moments, restart it until it finishes, and check what it left on disk after every
//! kill.
//!
//! The promise under test (docs/reliability.md): a crash or kill loses at most the work
//! since the last checkpoint, a checkpoint on disk is the old one or the new one (never
//! torn), and a run resumed from it ends with the same bits as an uninterrupted run.
//!
//! The child is the test binary itself: [`child_test`] re-runs one `#[ignore]`d test of
//! the current test executable (the "child" test, which trains with a checkpoint in the
//! folder named by [`CHILD_DIR_ENV`] and resumes from it), so a crate needs no extra
//! binary target. The parent test:
//!
//! 1. runs the child once without interruption in one folder and times it;
//! 2. runs it in a second folder with [`run_with_kills`]: each start is killed after a
//!    random delay in `[0.02, max_fraction]` × the uninterrupted time (a seeded draw), `after_kill`
//!    checks the folder (the checkpoint must load), and the child is started again until
//!    it exits on its own;
//! 3. compares the two folders' final outputs bit for bit.
//!
//! ```no_run
//! use candor_core::crashtest::{child_test, run_with_kills, KillSchedule, CHILD_DIR_ENV};
//! let dir = std::path::Path::new("/tmp/run");
//! let cmd = || {
//!     let mut c = child_test("child_trains_with_checkpoints");
//!     c.env(CHILD_DIR_ENV, dir);
//!     c
//! };
//! let report = run_with_kills(
//!     cmd,
//!     std::time::Duration::from_secs(2),
//!     &KillSchedule { kills: 4, seed: 1, max_fraction: 0.3 },
//!     |_| Ok(()),
//! )
//! .unwrap();
//! assert!(report.kills_landed >= 1);
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result, SeededRng};

/// The environment variable that names the child's working folder.
pub const CHILD_DIR_ENV: &str = "CANDOR_CRASHTEST_DIR";

/// The child's working folder, when this process is a [`child_test`] child.
pub fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR_ENV).map(PathBuf::from)
}

/// A command that runs the `#[ignore]`d test `name` of the current test executable, alone
/// and single-threaded (add the child's folder with `.env(CHILD_DIR_ENV, dir)`).
pub fn child_test(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the current test executable");
    let mut c = Command::new(exe);
    c.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

/// How often and when to kill.
#[derive(Debug, Clone, Copy)]
pub struct KillSchedule {
    /// Kills to attempt before letting the child finish.
    pub kills: usize,
    /// Seed of the kill delays.
    pub seed: u64,
    /// Each delay is drawn uniformly in `[0.02, max_fraction]` × the uninterrupted run's
    /// time; small enough that several kills land before a resumed child finishes
    /// (0.3 lets six kills land in a run of a few seconds).
    pub max_fraction: f64,
}

/// What [`run_with_kills`] did.
#[derive(Debug, Clone, Default)]
pub struct KillReport {
    /// Kills that hit a running child (a child that had already exited is not counted).
    pub kills_landed: usize,
    /// Starts of the child, the final one included.
    pub starts: usize,
    /// The delays (seconds after a start) at which kills were sent.
    pub delays: Vec<f64>,
}

/// Run `cmd()` to completion, killing it with `SIGKILL` up to `schedule.kills` times at
/// random delays in `[0.02, schedule.max_fraction]` × `full` (the time of an uninterrupted run), calling
/// `after_kill(k)` after the k-th kill that landed, and starting it again each time. The
/// child must resume from its own checkpoint. Errors if a start exits with failure.
pub fn run_with_kills(
    cmd: impl Fn() -> Command,
    full: Duration,
    schedule: &KillSchedule,
    mut after_kill: impl FnMut(usize) -> Result<()>,
) -> Result<KillReport> {
    let mut rng = SeededRng::derive(schedule.seed, "crashtest-delays");
    let mut report = KillReport::default();
    let mut attempts = 0;
    loop {
        let log = std::env::temp_dir().join(format!(
            "candor-crashtest-{}-{}.log",
            std::process::id(),
            report.starts
        ));
        let log_file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
        let mut child = cmd()
            .stderr(log_file)
            .spawn()
            .map_err(|e| Error::invalid(format!("crashtest: cannot start the child: {e}")))?;
        report.starts += 1;
        let deadline = if attempts < schedule.kills {
            attempts += 1;
            let d = full.as_secs_f64() * rng.uniform_range(0.02, schedule.max_fraction.max(0.02));
            report.delays.push(d);
            Some(Instant::now() + Duration::from_secs_f64(d))
        } else {
            None
        };
        let status = loop {
            if let Some(s) = child
                .try_wait()
                .map_err(|e| Error::invalid(format!("crashtest: waiting for the child: {e}")))?
            {
                break Some(s);
            }
            if deadline.is_some_and(|t| Instant::now() >= t) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        match status {
            None => {
                // Still running at the deadline: kill it (SIGKILL on Unix).
                child
                    .kill()
                    .map_err(|e| Error::invalid(format!("crashtest: kill: {e}")))?;
                let _ = child.wait();
                report.kills_landed += 1;
                after_kill(report.kills_landed)?;
            }
            Some(s) if s.success() => {
                let _ = std::fs::remove_file(&log);
                return Ok(report);
            }
            Some(s) => {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                let _ = std::fs::remove_file(&log);
                let lines: Vec<&str> = err.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                return Err(Error::invalid(format!(
                    "crashtest: the child failed ({s}) on start {}:\n{tail}",
                    report.starts
                )));
            }
        }
        let _ = std::fs::remove_file(&log);
    }
}

/// Run `cmd()` once to completion and return how long it took (an error if it fails).
pub fn run_once(cmd: impl Fn() -> Command) -> Result<Duration> {
    let t = Instant::now();
    let out = cmd()
        .output()
        .map_err(|e| Error::invalid(format!("crashtest: cannot start the child: {e}")))?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "crashtest: the uninterrupted child failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(t.elapsed())
}

/// The whole kill-and-resume check: run the `#[ignore]`d test `child` of the current test
/// executable once without interruption in `root/uninterrupted`, then in `root/killed`
/// under [`run_with_kills`] (calling `after_kill(folder, k)` after each kill: check that
/// the checkpoint loads there), and require every file of `outputs` (written by the child
/// when it finishes) to be byte-identical in the two folders, and no temporary file of an
/// interrupted atomic write to be left in `root/killed`. Returns the kill report.
pub fn kill_and_compare(
    child: &str,
    root: &std::path::Path,
    schedule: &KillSchedule,
    outputs: &[&str],
    mut after_kill: impl FnMut(&std::path::Path, usize) -> Result<()>,
) -> Result<KillReport> {
    let (a, b) = (root.join("uninterrupted"), root.join("killed"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let cmd = |dir: &std::path::Path| {
        let mut c = child_test(child);
        c.env(CHILD_DIR_ENV, dir);
        c
    };
    let full = run_once(|| cmd(&a))?;
    let report = run_with_kills(|| cmd(&b), full, schedule, |k| after_kill(&b, k))?;
    for f in outputs {
        let read = |d: &std::path::Path| {
            let p = d.join(f);
            std::fs::read(&p).map_err(|e| Error::io(&p, e))
        };
        if read(&a)? != read(&b)? {
            return Err(Error::invalid(format!(
                "crashtest: {f} differs between the uninterrupted run and the run killed {} \
                 times (delays {:?} s, full run {full:?})",
                report.kills_landed, report.delays
            )));
        }
    }
    let litter: Vec<String> = std::fs::read_dir(&b)
        .map_err(|e| Error::io(&b, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    if !litter.is_empty() {
        return Err(Error::invalid(format!(
            "crashtest: interrupted writes left {litter:?}"
        )));
    }
    Ok(report)
}

/// The files a `--resume` reproduction had on disk when it was killed, counted by
/// [`ResumeFiles::check`] over the kills of a [`kill_and_compare`] run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResumeFiles {
    /// Training checkpoints (`*.ckpt`), every one of which loaded.
    pub checkpoints: usize,
    /// Finished runs (`*.json`), every one of which was whole JSON.
    pub finished: usize,
}

impl ResumeFiles {
    /// Check the files in each of `subdirs` under `out` (a missing folder is skipped:
    /// the run may not have made it yet): every `*.ckpt` must load as a training state
    /// and every `*.json` must parse, and count them.
    pub fn check(&mut self, out: &std::path::Path, subdirs: &[&str]) -> Result<()> {
        for sub in subdirs {
            let dir = out.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.map_err(|e| Error::io(&dir, e))?.path();
                let name = path.to_string_lossy();
                if name.ends_with(".ckpt") {
                    crate::checkpoint::read_training_state::<serde_json::Value>(&path)?;
                    self.checkpoints += 1;
                } else if name.ends_with(".json") {
                    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                        Error::invalid(format!("crashtest: {} is not whole JSON: {e}", name))
                    })?;
                    self.finished += 1;
                }
            }
        }
        Ok(())
    }
}

/// The child's side of a reproduction kill test: write `report`'s claims and its first
/// `tables` tables (those without wall-clock columns) to `dir/report.json`, the file
/// [`kill_and_compare`] compares between the uninterrupted and the killed run.
pub fn write_report_summary(
    dir: &std::path::Path,
    report: &crate::report::Report,
    tables: usize,
) -> Result<()> {
    let n = tables.min(report.tables.len());
    let tables: Vec<String> = report.tables[..n]
        .iter()
        .map(|t| t.to_markdown(6))
        .collect();
    let json = serde_json::to_vec(&(&report.claims, tables))
        .map_err(|e| Error::invalid(format!("crashtest: report summary: {e}")))?;
    crate::fsio::write_atomic(dir.join("report.json"), &json)
}
