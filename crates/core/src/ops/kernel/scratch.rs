//! Per-thread scratch memory for the CPU kernels.

use super::Real;

thread_local! {
    /// Per-thread scratch memory, kept between calls: fresh allocations of a few MB
    /// page-fault on every call, which costs milliseconds on a virtual machine.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with a scratch slice of `len` elements of `T` (contents unspecified: `f` must
/// write before it reads), starting on a 64-byte boundary (a cache line, and an
/// AVX-512 register: the packed panels of the products load whole lines). The slice is
/// reused by later calls on the same thread.
pub(crate) fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    SCRATCH.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            // Re-entrant use on this thread (not expected): fall back to a fresh buffer.
            return f(&mut vec![T::ZERO; len]);
        };
        // Seven spare words: room to start on the next 64-byte boundary.
        let words = (len * std::mem::size_of::<T>()).div_ceil(8) + 7;
        if buf.len() < words {
            buf.resize(words, 0);
        }
        let skip = buf.as_ptr().align_offset(64).min(7);
        // SAFETY: T is f32 or f64 (alignment ≤ 8, any bit pattern valid); the buffer
        // holds at least skip words plus len·size_of::<T>() bytes and is borrowed
        // exclusively here.
        let s =
            unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().add(skip) as *mut T, len) };
        f(s)
    })
}

/// `len` rounded up to whole 64-byte lines of `T`: where a scratch slice is split, the
/// second part starts on a boundary too.
pub(crate) fn line_len<T>(len: usize) -> usize {
    len.next_multiple_of(64 / std::mem::size_of::<T>())
}
