//! Per-thread scratch memory for the CPU kernels.

use super::Real;

thread_local! {
    /// Per-thread scratch memory, kept between calls: fresh allocations of a few MB
    /// page-fault on every call, which costs milliseconds on a virtual machine.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with a scratch slice of `len` elements of `T` (contents unspecified: `f` must
/// write before it reads). The slice is reused by later calls on the same thread.
pub(crate) fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    SCRATCH.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            // Re-entrant use on this thread (not expected): fall back to a fresh buffer.
            return f(&mut vec![T::ZERO; len]);
        };
        let words = (len * std::mem::size_of::<T>()).div_ceil(8);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        // SAFETY: T is f32 or f64 (alignment ≤ 8, any bit pattern valid); the buffer
        // holds at least len·size_of::<T>() bytes and is borrowed exclusively here.
        let s = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut T, len) };
        f(s)
    })
}
