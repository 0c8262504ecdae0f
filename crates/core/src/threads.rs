//! Running a training loop on rayon's worker threads.
//!
//! candor's CPU kernels (convolutions, norms, pooling, activations) split their work with
//! rayon. Called from a thread outside rayon's pool (a program's main thread), each
//! kernel hands all of its work to the pool and puts the caller to sleep until the pool
//! is done: on a 2-core machine, two thread wake-ups per kernel, and a training step calls
//! hundreds of kernels. Called from one of the pool's own threads, the caller does its
//! share and the other threads steal the rest, with no hand-over. [`on_pool`] runs a
//! closure (a training loop, or a whole experiment) on a pool thread once, so that every
//! kernel inside it is called the second way.
//!
//! Measured on the 2-core build VM (docs/performance.md): the MAT on EfficientNet-B0
//! training step (8 × 128²) 1.03 / 0.97 / 1.05 s from the main thread, 0.87 / 0.83 /
//! 0.86 s inside [`on_pool`]. It changes no result (the kernels split their work the same
//! way on either thread); `cargo xtask reproduce` and the benches run every paper inside
//! it.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! let x = Tensor::ones((2, 3, 8, 8), DType::F32, &Device::Cpu).unwrap();
//! let y = candor_core::threads::on_pool(|| candor_core::ops::relu(&x)).unwrap();
//! assert_eq!(y.dims(), &[2, 3, 8, 8]);
//! ```

/// The environment setting that makes candle's own CPU worker sleep as soon as an op is
/// done (candle 0.11): `Some((variable, value))` for a program to set early in `main`,
/// before the first tensor op, or `None` when the user has set the variable already. A
/// library sets no environment variable, so this only says what to set:
///
/// ```
/// if let Some((k, v)) = candor_core::threads::quiet_candle_pool_env() {
///     std::env::set_var(k, v);
/// }
/// ```
///
/// candle 0.11 runs its element-wise ops and reductions on a pool of its own ("barrier
/// pool", threads `candle-bp-N`, one per core but the caller's), beside rayon's pool that
/// candor's kernels use. After each op its workers spin (`spin_loop`, 25,000 times by
/// default) before they sleep, waiting for the next one; candor's convolutions, norms and
/// products follow candle's ops all through a training step, so that spinning thread
/// takes a core from rayon's threads for the first part of each kernel. On a 2-core
/// machine it was 18 % of the samples of the watermark surrogate step's profile. The
/// setting is candle's `CANDLE_BARRIER_POOL_SPIN_LIMIT=0` (its workers park at once; the
/// next op wakes them; candle reads it once, when its pool starts): measured on the
/// 2-core build VM (AMD EPYC, docs/performance.md) the ResNet-9 surrogate step went from
/// 126–135 ms to 101–104 ms, the depthwise convolution's backward from 3.8–4.1 to
/// 3.0–3.5 ms. It changes no result. `cargo xtask`, the benches and the examples apply it
/// at start-up, with [`crate::alloc::tune_allocator`].
pub fn quiet_candle_pool_env() -> Option<(&'static str, &'static str)> {
    const VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    std::env::var_os(VAR).is_none().then_some((VAR, "0"))
}

/// Run `f` on a thread of rayon's global pool and return its result, waiting for it on
/// the calling thread (which takes no part). On a pool thread already, `f` runs in
/// place. A panic in `f` is resumed on the calling thread.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

#[cfg(test)]
mod tests {
    use super::on_pool;

    #[test]
    fn runs_on_a_pool_thread_and_returns_its_value() {
        assert_eq!(rayon::current_thread_index(), None);
        let (inside, v) = on_pool(|| (rayon::current_thread_index(), 41 + 1));
        assert!(inside.is_some());
        assert_eq!(v, 42);
        // Nested: runs in place on the same pool thread.
        let same = on_pool(|| {
            let outer = rayon::current_thread_index();
            (outer, on_pool(rayon::current_thread_index))
        });
        assert_eq!(same.0, same.1);
    }

    #[test]
    fn candle_pool_setting_respects_the_users() {
        match std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT") {
            None => assert_eq!(
                super::quiet_candle_pool_env(),
                Some(("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0"))
            ),
            Some(_) => assert_eq!(super::quiet_candle_pool_env(), None),
        }
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| on_pool(|| panic!("inside")));
        assert!(r.is_err());
    }
}
