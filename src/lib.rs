//! goro: Go's goroutine runtime and system-call design, for Rust on x86_64 Linux.
//!
//! - [`run`], [`spawn`], [`JoinHandle`], [`yield_now`]: stackful goroutines on a G-M-P
//!   scheduler, migrating between threads, with work stealing.
//! - [`chan`], [`WaitGroup`]: Go's channel and wait group, parking the goroutine, never its
//!   thread.
//! - [`syscall`]: Go's `syscall` package: entry points, `Errno`, the vDSO, and typed wrappers
//!   declared blocking or not.
//!
//! ```
//! let (tx, rx) = goro::chan::<u32>(0);
//! let total = goro::run(move || {
//!     goro::spawn(move || (1..=10).for_each(|i| tx.send(i).unwrap()));
//!     rx.into_iter().sum::<u32>()
//! });
//! assert_eq!(total, 55);
//! ```
//!
//! # What is safe inside a goroutine
//!
//! A goroutine may move to another OS thread whenever it enters the runtime (a channel
//! operation, `join`, `yield_now`, a `sys` system call). So:
//! - `thread_local!` values are those of whichever thread the goroutine runs on *now*: reading
//!   one, switching, and reading again may see two different threads' values, and a reference
//!   into one must not be held across a runtime call. (The runtime itself never holds a
//!   thread-local address across a switch; an optimised build would otherwise keep the old
//!   thread's address in a register.)
//! - Holding a `std::sync::Mutex` guard across a runtime call is allowed but blocks the other
//!   goroutines that want it on their threads; prefer channels.
//! - Blocking calls that bypass goro's wrappers (`std::fs`, `std::thread::sleep`, DNS) block
//!   the thread and, until the runtime retakes its processor, the goroutines queued behind.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("goro supports x86_64 Linux only");

mod chan;
mod linux;
mod rt;
mod runtime;
pub mod syscall;
mod waitgroup;

pub use chan::{Receiver, SendError, Sender, chan};
pub use rt::{
    Builder, JoinHandle, Runtime, Stats, blocking, current, lock_os_thread, max_procs, run,
    set_max_procs, set_max_threads, spawn, stats, unlock_os_thread, yield_now,
};
pub use waitgroup::WaitGroup;

/// Hooks for the crate's own tests; not part of the API.
#[doc(hidden)]
pub mod __private {
    /// Stops and restarts the world of the caller's runtime; returns how many Ps were taken
    /// from goroutines in system calls.
    pub fn stop_start_world() -> usize {
        let sched = crate::runtime::proc::current_sched().expect("inside a goroutine");
        let w = crate::runtime::stw::stop_the_world(sched);
        let n = w.from_syscalls;
        crate::runtime::stw::start_the_world(w);
        n
    }

    /// `entersyscall` then `exitsyscall` with no system call between: the cost the pair adds
    /// to every `sys` call.
    #[inline]
    pub fn enter_exit_syscall() {
        let s = crate::runtime::entersyscall();
        crate::runtime::exitsyscall_from(s);
    }

    /// The kernel thread id of the M the runtime believes the caller runs on.
    pub fn current_m_tid() -> Option<i32> {
        crate::runtime::proc::enter()
            .map(|rt| rt.m().tid.load(core::sync::atomic::Ordering::Relaxed))
    }
}
