//! Allocator tuning for training loops on Linux/glibc.
//!
//! glibc returns freed blocks of more than a few MB to the operating system (they are
//! `mmap`ed, and the heap top is trimmed), so a training loop that allocates the same
//! multi-MB tensors every step page-faults all of that memory in again on every step.
//! On a virtual machine a page fault is expensive: measured on the 2-core build VM, a
//! depthwise-convolution backward spent 42% of its time in the kernel, with about 12,000
//! page faults per step. [`tune_allocator`] raises glibc's mmap and trim thresholds so
//! freed memory stays in the process and is reused, and stops the main arena from
//! `mmap`ing blocks at all: 32 MB is the highest threshold glibc accepts, so without that
//! a larger tensor (PointNet's 32 × 1024 × 1024 activations are 134 MB) is still mapped
//! fresh and faulted in on every step (PointNet-TF train step, batch 32: 2.2 s → 1.6 s
//! on the build VM). Every thread allocates from that one arena (`M_ARENA_MAX` 1): a
//! training loop run on a rayon pool thread ([`crate::threads::on_pool`]) would otherwise
//! allocate from a thread arena, whose heaps cannot hold a block over 64 MB, which glibc
//! then maps fresh, mmap limit or not (PointNet-TF train step on the pool: 2.05–2.20 s
//! with thread arenas, 1.30–1.35 s with the one arena). It changes no result, only speed;
//! `cargo xtask`, the benches and the examples call it at start-up, and a user's own
//! binary may call it too. The environment variable `CANDOR_NO_ALLOC_TUNING=1` turns
//! it off (to measure its effect).
//!
//! **Several training loops at once want the opposite arena setting.** With one arena,
//! every `malloc` and `free` too large for glibc's per-thread cache (over 1,032 bytes: a
//! 32 × 128 activation is 16 KB) takes that arena's lock, so the parallel workers of the
//! RL papers' run queues (`candor_rl::runs`), each training a small network and
//! allocating its tensors thousands of times a second, wait on one another: measured on
//! the 2-core build VM (AMD EPYC), two NoisyNet-DQN MountainCar runs of 100,000 steps
//! side by side took 34–36 s each with one arena and 20.5 s each with glibc's per-thread
//! arenas, the time of one run alone. [`Arenas::PerThread`] keeps glibc's arenas (the
//! other settings are the same); [`tune_allocator`] picks it when `CANDOR_ALLOC_ARENAS`
//! is `per-thread` (`cargo xtask reproduce` sets that for the RL papers' processes), and
//! [`tune_allocator_with`] takes it directly.

/// Which of glibc's arenas the threads allocate from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arenas {
    /// Every thread allocates from the main arena (`M_ARENA_MAX` 1): a training loop on
    /// a pool thread gets the main arena's large blocks. For one training loop at a time.
    #[default]
    One,
    /// glibc's own choice (an arena per thread, up to eight per core): threads that
    /// allocate at once do not share a lock. For several training loops of small networks
    /// at once, on worker threads.
    PerThread,
}

/// The environment variable [`tune_allocator`] reads its [`Arenas`] from: `one` (the
/// default when unset) or `per-thread`.
pub const ARENAS_VAR: &str = "CANDOR_ALLOC_ARENAS";

impl Arenas {
    /// The setting named by [`ARENAS_VAR`]'s value.
    pub fn parse(value: &str) -> Result<Arenas, String> {
        match value {
            "one" => Ok(Arenas::One),
            "per-thread" => Ok(Arenas::PerThread),
            other => Err(format!(
                "{ARENAS_VAR}={other:?}: expected \"one\" or \"per-thread\""
            )),
        }
    }

    /// The value [`Arenas::parse`] reads back.
    pub fn as_str(self) -> &'static str {
        match self {
            Arenas::One => "one",
            Arenas::PerThread => "per-thread",
        }
    }
}

/// Keep freed memory in the process instead of returning it to the OS (glibc only; a
/// no-op elsewhere), with the [`Arenas`] named by `CANDOR_ALLOC_ARENAS` ([`Arenas::One`]
/// when unset). Call it once, early in `main`, before threads start. Returns whether
/// the tuning was applied.
///
/// # Panics
///
/// When `CANDOR_ALLOC_ARENAS` is set to anything but `one` or `per-thread`: a typo would
/// otherwise measure the wrong setting without a word.
pub fn tune_allocator() -> bool {
    let arenas = match std::env::var(ARENAS_VAR) {
        Ok(v) => Arenas::parse(&v).unwrap_or_else(|e| panic!("{e}")),
        Err(std::env::VarError::NotPresent) => Arenas::One,
        Err(e) => panic!("{ARENAS_VAR}: {e}"),
    };
    tune_allocator_with(arenas)
}

/// [`tune_allocator`] with the given [`Arenas`], whatever the environment says (but
/// `CANDOR_NO_ALLOC_TUNING=1` still turns all of it off).
pub fn tune_allocator_with(arenas: Arenas) -> bool {
    if std::env::var_os("CANDOR_NO_ALLOC_TUNING").is_some_and(|v| v != "0") {
        return false;
    }
    apply(arenas)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply(arenas: Arenas) -> bool {
    // SAFETY: mallopt only changes allocator parameters; 32 MB is glibc's maximum mmap
    // threshold on 64-bit, any positive trim threshold is valid, with no mmapped blocks
    // allowed the main arena grows its heap instead, and with one arena every thread
    // allocates there (a thread arena maps what does not fit its 64 MB heaps).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && (arenas == Arenas::PerThread || libc::mallopt(libc::M_ARENA_MAX, 1) == 1)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply(_arenas: Arenas) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn tuning_applies_on_glibc() {
        let applied = super::tune_allocator();
        if cfg!(all(target_os = "linux", target_env = "gnu"))
            && std::env::var_os("CANDOR_NO_ALLOC_TUNING").is_none()
        {
            assert!(applied);
        }
        // Allocation still works afterwards.
        let v = vec![1u8; 64 << 20];
        assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 64 << 20);
    }

    #[test]
    fn arena_setting_round_trips_and_names_a_bad_value() {
        use super::Arenas;
        for a in [Arenas::One, Arenas::PerThread] {
            assert_eq!(Arenas::parse(a.as_str()), Ok(a));
        }
        assert_eq!(Arenas::default(), Arenas::One);
        let e = Arenas::parse("perthread").unwrap_err();
        assert!(
            e.contains("CANDOR_ALLOC_ARENAS") && e.contains("\"perthread\""),
            "{e}"
        );
    }
}
