//! Checks shared by the harnesses.

// `cargo fuzz` builds with `--cfg fuzzing`; the crates whose tests include this file do
// not all declare that cfg.
#![allow(unexpected_cfgs)]

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The harness's verdict on one input: `Ok` when the reader accepted it, `Err` with the
/// reader's message when it rejected it. A panic is a bug.
pub type Outcome = Result<(), String>;

/// Every error of a reader that was given a file name must name that file.
pub fn named<E: std::fmt::Display>(e: E, name: &str) -> String {
    let m = e.to_string();
    assert!(
        m.contains(name),
        "error does not name the file {name:?}: {m}"
    );
    m
}

/// Parses `text` as a `T` config; an accepted config must serialise and parse back to
/// itself, and its own checks (`validate`) must answer without panicking.
pub fn config_roundtrip<T>(text: &str, validate: impl Fn(&T) -> Outcome) -> Outcome
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let cfg: T = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let checked = validate(&cfg);
    let json = serde_json::to_string(&cfg).expect("a parsed config serialises");
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("a serialised config parses back: {e}\n{json}"));
    assert_eq!(back, cfg, "config changed in a JSON round trip: {json}");
    checked
}

/// A `config` harness input: the type selector, then `value` as JSON.
pub fn input<T: Serialize>(sel: u8, value: &T) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend(serde_json::to_vec(value).unwrap());
    v
}

/// Wall-clock time one input may take in the replay tests (the fuzzer's `-timeout` is
/// 20 s under AddressSanitizer; an uninstrumented build takes milliseconds).
pub const MAX_SECONDS_PER_INPUT: f64 = 5.0;

/// What the replay of one target measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    /// Inputs replayed (corpus and regressions).
    pub inputs: usize,
    /// Inputs the reader accepted.
    pub accepted: usize,
    /// The slowest input, seconds.
    pub max_seconds: f64,
    /// The largest peak allocation of one input above what was allocated before it,
    /// bytes (0 in fuzzing builds, which count nothing).
    pub max_alloc_bytes: usize,
}

/// Counts the bytes the process has allocated, and their peak, so that the replay tests
/// can check that a reader's allocations stay within its documented bound. Only in the
/// replay tests: fuzzing builds leave the allocator to libFuzzer's `-malloc_limit_mb`.
#[cfg(not(fuzzing))]
pub mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    fn grow(n: usize) {
        let now = CURRENT.fetch_add(n, Relaxed) + n;
        PEAK.fetch_max(now, Relaxed);
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the counters
    // are plain atomics and allocate nothing.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                grow(l.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            if !p.is_null() {
                grow(l.size());
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            CURRENT.fetch_sub(l.size(), Relaxed);
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                if new >= l.size() {
                    grow(new - l.size());
                } else {
                    CURRENT.fetch_sub(l.size() - new, Relaxed);
                }
            }
            q
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;

    /// Starts a measurement: the peak is reset to what is allocated now, which is
    /// returned.
    pub fn start() -> usize {
        let now = CURRENT.load(Relaxed);
        PEAK.store(now, Relaxed);
        now
    }

    /// The peak allocation since [`start`] returned `base`, above `base`.
    pub fn peak_since(base: usize) -> usize {
        PEAK.load(Relaxed).saturating_sub(base)
    }
}

#[cfg(fuzzing)]
mod alloc_count {
    pub fn start() -> usize {
        0
    }
    pub fn peak_since(_: usize) -> usize {
        0
    }
}

/// Replays run one at a time within a test binary, so that the allocation counter sees
/// one input's allocations (plus whatever a concurrent non-replay test allocates, which
/// only makes the check stricter).
static REPLAY_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>` through
/// `run`, as the corpus replay tests do, and checks what the fuzzer checks:
///
/// - nothing panics (a panic names the input);
/// - every regression input is rejected (`Err`) unless its name starts with `ok-`
///   (those only had to stop panicking or hanging);
/// - each input takes at most [`MAX_SECONDS_PER_INPUT`];
/// - each input's peak allocation is at most `max_alloc(input length)` bytes.
pub fn replay(
    fuzz_dir: &std::path::Path,
    target: &str,
    run: &dyn Fn(&[u8]) -> Outcome,
    max_alloc: fn(usize) -> usize,
) -> ReplayStats {
    let _serial = REPLAY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut stats = ReplayStats::default();
    // With library backtraces on (RUST_BACKTRACE without RUST_LIB_BACKTRACE=0), candle's
    // errors capture a backtrace, and candle prints some of them (`skipping: {err:?}`),
    // which loads the binary's debug info: tens of MiB, once per process, charged to
    // whichever input comes first (50 MiB for a 2 KB `.pth` on 2026-12-06). That is not the
    // reader's allocation, so the bounds are only checked with library backtraces off;
    // `.ci/run` sets RUST_LIB_BACKTRACE=0.
    let check_alloc =
        std::backtrace::Backtrace::capture().status() != std::backtrace::BacktraceStatus::Captured;
    if !check_alloc {
        eprintln!(
            "{target}: allocation bounds not checked (library backtraces are on; set \
             RUST_LIB_BACKTRACE=0)"
        );
    }
    for (kind, must_fail) in [("corpus", false), ("regressions", true)] {
        let dir = fuzz_dir.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            let data = std::fs::read(&p).unwrap();
            let base = alloc_count::start();
            let t0 = std::time::Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data)))
                .unwrap_or_else(|_| panic!("{} panicked", p.display()));
            let secs = t0.elapsed().as_secs_f64();
            let peak = alloc_count::peak_since(base);
            let ok_name = p
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("ok-"));
            if must_fail && !ok_name {
                assert!(r.is_err(), "{} was accepted", p.display());
            }
            assert!(
                secs <= MAX_SECONDS_PER_INPUT,
                "{} took {secs:.1} s",
                p.display()
            );
            let limit = max_alloc(data.len());
            assert!(
                !check_alloc || peak <= limit,
                "{} ({} bytes) allocated {peak} bytes at its peak, over its bound of {limit}",
                p.display(),
                data.len()
            );
            stats.inputs += 1;
            stats.accepted += usize::from(r.is_ok());
            stats.max_seconds = stats.max_seconds.max(secs);
            stats.max_alloc_bytes = stats.max_alloc_bytes.max(peak);
        }
    }
    stats
}

/// Every way of adding an unknown key `"fuzz_unknown_key"` to one object of `json`
/// (the top level and every nested object, in arrays too), as JSON text.
pub fn with_unknown_keys(json: &str) -> Vec<String> {
    use serde_json::Value;
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                out.push(at.clone());
                for (k, child) in m {
                    let k = k.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let v: Value = serde_json::from_str(json).unwrap();
    let mut pointers = Vec::new();
    walk(&v, String::new(), &mut pointers);
    pointers
        .into_iter()
        .map(|at| {
            let mut w = v.clone();
            w.pointer_mut(&at)
                .and_then(Value::as_object_mut)
                .unwrap()
                .insert("fuzz_unknown_key".into(), Value::from(1));
            serde_json::to_string(&w).unwrap()
        })
        .collect()
}

/// `fuzz/` seen from a crate's manifest directory (`env!("CARGO_MANIFEST_DIR")`).
pub fn fuzz_dir(manifest_dir: &str) -> std::path::PathBuf {
    std::path::Path::new(manifest_dir).join("../../fuzz")
}

/// Replays `target`'s committed inputs (see [`replay`]), fails when there are none, and
/// prints what was measured (visible with `--nocapture`).
pub fn replay_committed(
    manifest_dir: &str,
    target: &str,
    run: &dyn Fn(&[u8]) -> Outcome,
    max_alloc: fn(usize) -> usize,
) -> ReplayStats {
    let s = replay(&fuzz_dir(manifest_dir), target, run, max_alloc);
    assert!(s.inputs > 0, "no committed inputs for fuzz target {target}");
    eprintln!(
        "{target}: {} inputs ({} accepted), slowest {:.3} s, peak allocation {:.1} MiB",
        s.inputs,
        s.accepted,
        s.max_seconds,
        s.max_alloc_bytes as f64 / (1 << 20) as f64
    );
    s
}

/// Peak allocation allowed for a text-like input of `len` bytes (OFF, PLY, `.xyz`,
/// `.npy`, safetensors, JSON, configs, rollout inputs): what a reader builds from it
/// stays within 64 bytes per input byte, plus 1 MiB.
pub fn text_bound(len: usize) -> usize {
    64 * len + (1 << 20)
}

/// The config checks of one crate, `config` being its harness and `defaults` its
/// `config_defaults()`: the committed `config` corpus replays through this crate's types
/// (the `config` target's first byte, which picks the crate, is skipped), and the
/// defaults pass [`assert_configs_reject_unknown_keys`].
pub fn check_configs(manifest_dir: &str, config: fn(&[u8]) -> Outcome, defaults: Vec<Vec<u8>>) {
    replay_committed(
        manifest_dir,
        "config",
        &|d| config(d.get(1..).unwrap_or_default()),
        text_bound,
    );
    assert_configs_reject_unknown_keys(defaults, config);
}

/// The config tests of a crate's `fuzz_corpus` test file, whose harness module is
/// `harness`: `configs` ([`check_configs`]) and the ignored `write_config_seeds`, which
/// writes the crate's seeds of the `config` fuzz target (crate selector `$sel`, file
/// names `$prefix-<i>`).
#[allow(unused_macros)]
macro_rules! config_tests {
    ($sel:expr, $prefix:expr) => {
        /// This crate's config types: the `config` corpus, and unknown keys rejected at
        /// every level of every default config.
        #[test]
        fn configs() {
            harness::check_configs(DIR, harness::config, harness::config_defaults());
        }

        /// Writes this crate's seeds of the `config` fuzz target (run with `--ignored`).
        #[test]
        #[ignore]
        fn write_config_seeds() {
            harness::write_config_seeds(DIR, $sel, $prefix, harness::config_defaults());
        }
    };
}

/// Each default config (a `config` harness input) is accepted, and adding an unknown
/// key to any of its objects makes it rejected.
pub fn assert_configs_reject_unknown_keys(defaults: Vec<Vec<u8>>, run: fn(&[u8]) -> Outcome) {
    for input in defaults {
        let (sel, json) = (input[0], std::str::from_utf8(&input[1..]).unwrap());
        assert_eq!(run(&input), Ok(()), "defaults {json}");
        for bad in with_unknown_keys(json) {
            let r = run(&[&[sel][..], bad.as_bytes()].concat());
            assert!(r.is_err(), "accepted an unknown key: {bad}");
        }
    }
}

/// Writes `defaults` as seeds of the `config` target (crate selector `crate_sel` first)
/// under `fuzz/seeds/config/<prefix>-<i>`.
pub fn write_config_seeds(manifest_dir: &str, crate_sel: u8, prefix: &str, defaults: Vec<Vec<u8>>) {
    let dir = fuzz_dir(manifest_dir).join("seeds/config");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, input) in defaults.into_iter().enumerate() {
        let data = [&[crate_sel][..], &input].concat();
        std::fs::write(dir.join(format!("{prefix}-{i}")), data).unwrap();
    }
}
