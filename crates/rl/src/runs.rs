//! The multi-seed job runner of the RL papers' `reproduce` modules: a list of runs
//! (variant × task × seed), run in parallel on a caller-chosen number of workers, each
//! finished run cached on disk so that a rerun with the same settings reuses it, and each
//! unfinished run handed the path of its resumable checkpoint.
//!
//! A [`Job`] names its run by a stable `key` (a file stem such as
//! `Pendulum-ddpg-7`, unique within one experiment: it must include the seed) and carries
//! the `config` that decides its result (the full training config, plus anything else
//! that changes the numbers, e.g. evaluation rounds). [`Runner::run`] calls the work
//! function for every job whose result is not cached and returns the results in job
//! order; the work function must be deterministic in its job, so the results do not
//! depend on the number of workers or on which runs came from the cache.
//!
//! [`grid_jobs`] builds the usual (task, variant, seed) grid with the seeds shared across
//! variants ([`run_seed`]), and [`by_cell`] gathers its results per (task, variant).
//!
//! **Cache.** With [`Runner::cache`] set, a finished run is written atomically
//! ([`candor_core::fsio::write_atomic`]) to `<dir>/<key><suffix>` as JSON: a format tag
//! ([`CACHE_FORMAT`]), the key, the job's config serialised as JSON, and the result. An
//! entry is reused only if all three match exactly (the config compared as serialised
//! JSON, so a changed setting, even one a newer config added with a default, never
//! reuses a stale entry); a missing, unreadable, corrupt, older-format or mismatching
//! entry is ignored and the run trains again (and overwrites it).
//!
//! **Checkpoints.** With [`Runner::checkpoints`] set, the work function gets
//! `<dir>/<key>.ckpt` to save its resumable training checkpoints in (and to resume from,
//! when a stopped experiment is started again). Once a run's result is cached the
//! checkpoint has served and is removed; without a cache it stays, so a second start
//! resumes the run from it.
//!
//! **Threads.** [`run_queue`] runs the jobs on `workers` threads of a pool of its own,
//! each job on a one-thread rayon pool of its own (see [`crate::run_seeds`] for why);
//! the caller chooses `workers` (e.g. [`default_workers`]); nothing here reads or sets
//! the process environment. A binary that tunes glibc's allocator should give these
//! workers an arena each (`candor_core::alloc::tune_allocator_with(Arenas::PerThread)`,
//! or `CANDOR_ALLOC_ARENAS=per-thread`, as `cargo xtask reproduce` does for the RL
//! papers): with `tune_allocator`'s default single arena two workers queue on its lock
//! (two NoisyNet-DQN runs side by side: 34–36 s each against 20.5 s).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use candor_core::progress::progress_bar;
use candor_core::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format tag of a cached run. Entries without it (or with another tag: the
/// per-crate caches that came before this module) are ignored.
pub const CACHE_FORMAT: &str = "candor-rl/run/1";

/// One run of an experiment: its cache and checkpoint name, the settings that decide its
/// result, and the caller's own data (task, variant, seed, …), which is not cached.
#[derive(Debug, Clone)]
pub struct Job<C, D> {
    /// File stem of the cache entry and the checkpoint; unique within the experiment.
    pub key: String,
    /// Everything that decides the result (cached beside it and compared on reuse).
    pub config: C,
    /// The caller's data for the work function.
    pub data: D,
}

/// One run of an experiment's (task, variant, seed) grid ([`grid_jobs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId<V> {
    /// Index of the task in the experiment's plan.
    pub task: usize,
    pub variant: V,
    /// Index of the seed (0, 1, …; an "instance").
    pub index: usize,
    /// The run's seed ([`run_seed`] of the experiment's seed and `index`).
    pub seed: u64,
}

/// The seed of run `index` of an experiment with seed `base`: `base·1,000,003 + index`
/// (wrapping), the same for every variant, so variants are compared on the same seeds.
pub fn run_seed(base: u64, index: usize) -> u64 {
    base.wrapping_mul(1_000_003).wrapping_add(index as u64)
}

/// The jobs of a grid: for each task `t` of `tasks` (its variants and its number of
/// seeds), every variant × seed in that order, with the seeds of [`run_seed`]; `job`
/// gives each run's cache key and config.
pub fn grid_jobs<'a, V: Copy + 'a, C>(
    base_seed: u64,
    tasks: impl IntoIterator<Item = (&'a [V], usize)>,
    mut job: impl FnMut(&RunId<V>) -> Result<(String, C)>,
) -> Result<Vec<Job<C, RunId<V>>>> {
    let mut out = Vec::new();
    for (task, (variants, seeds)) in tasks.into_iter().enumerate() {
        for &variant in variants {
            for index in 0..seeds {
                let id = RunId {
                    task,
                    variant,
                    index,
                    seed: run_seed(base_seed, index),
                };
                let (key, config) = job(&id)?;
                out.push(Job {
                    key,
                    config,
                    data: id,
                });
            }
        }
    }
    Ok(out)
}

/// The results of a grid's jobs (as [`Runner::run`] returns them, in `jobs` order)
/// gathered per (task, variant), each cell in seed-index order.
pub fn by_cell<V: Ord + Copy, C, T>(
    jobs: &[Job<C, RunId<V>>],
    results: Vec<T>,
) -> BTreeMap<(usize, V), Vec<T>> {
    let mut cells: BTreeMap<(usize, V), Vec<(usize, T)>> = BTreeMap::new();
    for (job, r) in jobs.iter().zip(results) {
        let id = &job.data;
        cells
            .entry((id.task, id.variant))
            .or_default()
            .push((id.index, r));
    }
    cells
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|(i, _)| *i);
            (k, v.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

/// Where finished runs are cached: `<dir>/<key><suffix>`.
#[derive(Debug, Clone)]
pub struct RunCache {
    pub dir: PathBuf,
    /// File-name suffix, e.g. `.json`.
    pub suffix: &'static str,
}

/// The runner's settings (see the module docs).
#[derive(Debug, Clone)]
pub struct Runner {
    /// Progress-bar label (the paper's name).
    pub label: &'static str,
    /// Jobs run at once (at least 1).
    pub workers: usize,
    /// Cache of finished runs; `None` caches nothing.
    pub cache: Option<RunCache>,
    /// Folder of the runs' resumable checkpoints; `None` hands no checkpoint path.
    pub checkpoints: Option<PathBuf>,
}

/// One worker per core (`std::thread::available_parallelism`): the reproduce modules'
/// choice.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Serialize)]
struct EntryOut<'a, T> {
    format: &'static str,
    key: &'a str,
    config: &'a Value,
    result: &'a T,
}

#[derive(Deserialize)]
struct EntryIn<T> {
    format: String,
    key: String,
    config: Value,
    result: T,
}

impl RunCache {
    /// The entry file of `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{}", self.suffix))
    }

    /// The cached result of `key` if its entry has this format, this key and exactly
    /// `config`; `None` otherwise (see the module docs).
    pub fn read<T: DeserializeOwned>(&self, key: &str, config: &Value) -> Option<T> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let e: EntryIn<T> = serde_json::from_slice(&bytes).ok()?;
        (e.format == CACHE_FORMAT && e.key == key && e.config == *config).then_some(e.result)
    }

    /// Cache `result` of `key` run with `config`, atomically.
    pub fn write<T: Serialize>(&self, key: &str, config: &Value, result: &T) -> Result<()> {
        let json = serde_json::to_vec(&EntryOut {
            format: CACHE_FORMAT,
            key,
            config,
            result,
        })?;
        candor_core::fsio::write_atomic(self.path(key), &json)
    }
}

impl Runner {
    /// Run `work(job, checkpoint)` for every job not in the cache, `workers` at a time,
    /// caching each result as it finishes; return every result in `jobs` order (or the
    /// error of the earliest failing job). `checkpoint` is `Some(<checkpoints>/<key>.ckpt)`
    /// when checkpoints are on.
    pub fn run<C, D, T>(
        &self,
        jobs: &[Job<C, D>],
        work: impl Fn(&Job<C, D>, Option<&Path>) -> Result<T> + Sync,
    ) -> Result<Vec<T>>
    where
        C: Serialize + Sync,
        D: Sync,
        T: Serialize + DeserializeOwned + Send,
    {
        for d in self.cache.iter().map(|c| &c.dir).chain(&self.checkpoints) {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let pb = progress_bar(jobs.len() as u64, self.label);
        let finished = AtomicUsize::new(0);
        let out = run_queue(jobs.len(), self.workers, |i| {
            let job = &jobs[i];
            let config = serde_json::to_value(&job.config)?;
            let cached = self
                .cache
                .as_ref()
                .and_then(|c| c.read::<T>(&job.key, &config));
            let from_cache = cached.is_some();
            let result = match cached {
                Some(r) => r,
                None => {
                    let ckpt = self
                        .checkpoints
                        .as_ref()
                        .map(|d| d.join(format!("{}.ckpt", job.key)));
                    let r = work(job, ckpt.as_deref())?;
                    if let Some(c) = &self.cache {
                        c.write(&job.key, &config, &r)?;
                        // The result is cached: the checkpoint has served.
                        if let Some(p) = &ckpt {
                            match std::fs::remove_file(p) {
                                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                    return Err(Error::io(p, e))
                                }
                                _ => {}
                            }
                        }
                    }
                    r
                }
            };
            pb.inc(1);
            let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(
                run = job.key.as_str(),
                cached = from_cache,
                "{}: run {n}/{} done",
                self.label,
                jobs.len()
            );
            Ok(result)
        })?;
        pb.finish_and_clear();
        Ok(out)
    }
}

/// Run `f(i)` for `i` in `0..len` on `workers` threads (at most `len`), taking the
/// indices in order, and return the results in index order (or the error of the
/// earliest failing index; once one fails, indices not yet started are skipped).
///
/// The threads form a rayon pool of this call's own; inside, each `f(i)` runs on a
/// one-thread rayon pool of its worker, so any rayon parallelism within `f` (candle's,
/// or the caller's) stays on that worker's core.
pub fn run_queue<T: Send>(
    len: usize,
    workers: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let threads = len.min(workers.max(1));
    let outer = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("candor-rl-run-{i}"))
        .build()
        .map_err(|e| Error::invalid(format!("run_queue: cannot build thread pool: {e}")))?;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..len).map(|_| Mutex::new(None)).collect();
    // One worker per outer thread pulls indices from a shared counter. (A parallel
    // iterator would let a worker that waits on its inner pool steal and start further
    // jobs, running more jobs at once than there are threads.)
    let built: Vec<Result<()>> = outer.broadcast(|_| {
        let inner = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| Error::invalid(format!("run_queue: cannot build thread pool: {e}")))?;
        loop {
            if failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= len {
                return Ok(());
            }
            let result = inner.install(|| f(i));
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        }
    });
    built.into_iter().collect::<Result<()>>()?;
    let mut out = Vec::with_capacity(len);
    for (i, slot) in slots.into_iter().enumerate() {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::invalid(format!(
                    "run_queue: job {i} was skipped after an earlier job failed"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("candor-rl-runs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn jobs(configs: &[u32]) -> Vec<Job<u32, u64>> {
        configs
            .iter()
            .enumerate()
            .map(|(i, &c)| Job {
                key: format!("task-{i}"),
                config: c,
                data: i as u64,
            })
            .collect()
    }

    #[test]
    fn results_come_in_job_order_on_any_worker_count() {
        let jobs = jobs(&[5, 6, 7, 8, 9]);
        for workers in [1, 2, 3] {
            let r = Runner {
                label: "test",
                workers,
                cache: None,
                checkpoints: None,
            };
            let out = r
                .run(&jobs, |j, ck| {
                    assert!(ck.is_none());
                    Ok((j.data, j.config * 2, rayon::current_num_threads()))
                })
                .unwrap();
            let want: Vec<(u64, u32, usize)> = (0..5).map(|i| (i, (i as u32 + 5) * 2, 1)).collect();
            assert_eq!(out, want);
        }
    }

    #[test]
    fn cached_runs_are_reused_only_with_the_same_format_key_and_config() {
        let dir = temp_dir("cache");
        let runner = Runner {
            label: "test",
            workers: 2,
            cache: Some(RunCache {
                dir: dir.join("runs"),
                suffix: ".json",
            }),
            checkpoints: Some(dir.join("ck")),
        };
        let calls = AtomicUsize::new(0);
        let work = |j: &Job<u32, u64>, ck: Option<&Path>| {
            calls.fetch_add(1, Ordering::Relaxed);
            let ck = ck.unwrap();
            assert_eq!(ck, dir.join("ck").join(format!("{}.ckpt", j.key)));
            // A checkpoint the run wrote is removed once the result is cached.
            std::fs::write(ck, b"ckpt").unwrap();
            Ok(u64::from(j.config) + j.data)
        };
        let first = runner.run(&jobs(&[1, 2, 3]), work).unwrap();
        assert_eq!(first, vec![1, 3, 5]);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert_eq!(std::fs::read_dir(dir.join("ck")).unwrap().count(), 0);
        // Same settings: everything from the cache.
        assert_eq!(runner.run(&jobs(&[1, 2, 3]), work).unwrap(), first);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        // A changed config runs again (and replaces the entry).
        assert_eq!(
            runner.run(&jobs(&[1, 20, 3]), work).unwrap(),
            vec![1, 21, 5]
        );
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        // An entry of the per-crate format that came before, a corrupt one, and one of
        // another key are ignored, never misread.
        let cache = runner.cache.as_ref().unwrap();
        std::fs::write(cache.path("task-0"), br#"{"config":1,"log":99}"#).unwrap();
        std::fs::write(cache.path("task-1"), b"{\"format\":").unwrap();
        let other = std::fs::read(cache.path("task-2")).unwrap();
        std::fs::write(
            cache.path("task-2"),
            String::from_utf8(other)
                .unwrap()
                .replace("\"task-2\"", "\"task-9\""),
        )
        .unwrap();
        assert_eq!(
            runner.run(&jobs(&[1, 20, 3]), work).unwrap(),
            vec![1, 21, 5]
        );
        assert_eq!(calls.load(Ordering::Relaxed), 7);
        let v: Value =
            serde_json::from_slice(&std::fs::read(cache.path("task-1")).unwrap()).unwrap();
        assert_eq!(v["format"], CACHE_FORMAT);
        assert_eq!(v["config"], 20);
        assert_eq!(v["result"], 21);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn without_a_cache_checkpoints_stay() {
        let dir = temp_dir("nocache");
        let runner = Runner {
            label: "test",
            workers: 1,
            cache: None,
            checkpoints: Some(dir.clone()),
        };
        runner
            .run(&jobs(&[1]), |_, ck| {
                std::fs::write(ck.unwrap(), b"ckpt").unwrap();
                Ok(0u8)
            })
            .unwrap();
        assert!(dir.join("task-0.ckpt").exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_first_error_is_reported() {
        let err = run_queue(3, 2, |i| {
            if i == 1 {
                Err(Error::invalid("job one failed"))
            } else {
                Ok(i)
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("job one failed"), "{err}");
        assert!(run_queue(0, 4, Ok).unwrap().is_empty());
    }

    #[test]
    fn a_grid_shares_seeds_across_variants_and_gathers_by_cell() {
        let jobs = grid_jobs(7, [(&['a', 'b'][..], 2), (&['c'][..], 3)], |id| {
            Ok((format!("{}-{}-{}", id.task, id.variant, id.seed), ()))
        })
        .unwrap();
        let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        let s = |i| run_seed(7, i);
        assert_eq!(s(1), 7 * 1_000_003 + 1);
        assert_eq!(
            keys,
            [
                format!("0-a-{}", s(0)),
                format!("0-a-{}", s(1)),
                format!("0-b-{}", s(0)),
                format!("0-b-{}", s(1)),
                format!("1-c-{}", s(0)),
                format!("1-c-{}", s(1)),
                format!("1-c-{}", s(2)),
            ]
        );
        // Results in any job order come back per cell in seed-index order.
        let mut shuffled = jobs.clone();
        shuffled.reverse();
        let results: Vec<usize> = shuffled.iter().map(|j| j.data.index).collect();
        let cells = by_cell(&shuffled, results);
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[&(0, 'a')], vec![0, 1]);
        assert_eq!(cells[&(1, 'c')], vec![0, 1, 2]);
    }
}
