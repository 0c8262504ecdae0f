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

/// Keep freed memory in the process instead of returning it to the OS (glibc only; a
/// no-op elsewhere). Call it once, early in `main`, before threads start. Returns whether
/// the tuning was applied.
pub fn tune_allocator() -> bool {
    if std::env::var_os("CANDOR_NO_ALLOC_TUNING").is_some_and(|v| v != "0") {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // SAFETY: mallopt only changes allocator parameters; 32 MB is glibc's maximum mmap
    // threshold on 64-bit, any positive trim threshold is valid, with no mmapped blocks
    // allowed the main arena grows its heap instead, and with one arena every thread
    // allocates there (a thread arena maps what does not fit its 64 MB heaps).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
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
}
