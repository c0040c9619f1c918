//! The process-wide limit on runtime threads (Go's `debug.SetMaxThreads`): a program that
//! blocks more goroutines in system calls than the limit allows ends with a clear fatal error
//! instead of exhausting the machine.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Go's default.
pub(crate) const DEFAULT_MAX_THREADS: usize = 10_000;

static MAX: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_THREADS);
/// Runtime threads alive in the process (Ms and sysmons of every runtime).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Sets the limit, returning the previous one.
pub(crate) fn set_max_threads(n: usize) -> usize {
    MAX.swap(n.max(1), Ordering::AcqRel)
}

/// Counts a new runtime thread, or ends the process if that exceeds the limit.
pub(crate) fn add_thread() {
    let n = LIVE.fetch_add(1, Ordering::AcqRel) + 1;
    let max = MAX.load(Ordering::Acquire);
    if n > max {
        let mut buf = [0u8; 20];
        let _ = super::sys::write(2, b"goro: program exceeds ");
        let _ = super::sys::write(2, super::decimal(max as u64, &mut buf));
        let _ = super::sys::write(2, b"-thread limit\n");
        super::throw(&["thread exhaustion"]);
    }
}

pub(crate) fn remove_thread() {
    LIVE.fetch_sub(1, Ordering::AcqRel);
}
