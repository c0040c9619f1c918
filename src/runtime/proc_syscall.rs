//! The scheduler's side of a system call: `entersyscall` before the goroutine enters the
//! kernel, `exitsyscall` after it returns.
//!
//! They are called only from the public `syscall` / `syscall6` entry points, never from the
//! runtime's own calls in [`sys`](super::sys). On a thread that is not one of the runtime's
//! Ms they do nothing, which makes every wrapper usable on any thread. No goroutine threads
//! exist yet (the scheduler is built in its own issue), so for now every thread is such a
//! thread.

/// The goroutine is about to enter the kernel through `syscall` / `syscall6`.
#[inline(always)]
pub(crate) fn entersyscall() {}

/// The goroutine has returned from the kernel.
#[inline(always)]
pub(crate) fn exitsyscall() {}
