//! goro: Go's goroutine runtime and system-call design, for Rust on x86_64 Linux.
//!
//! - [`run`], [`spawn`], [`JoinHandle`], [`yield_now`]: stackful goroutines on a G-M-P
//!   scheduler, migrating between threads, with work stealing.
//! - [`chan`], [`select!`], [`WaitGroup`]: Go's channel, select and wait group, parking the
//!   goroutine, never its thread.
//! - [`sleep`], [`time`]: timers on the scheduler's per-P heaps (`time.After`, `Timer`,
//!   `Ticker`, `AfterFunc`).
//! - [`sync`]: Go's `sync` package with std's interface: `Mutex`, `RwLock`, `Condvar`, `Once`,
//!   `OnceLock`, `Semaphore`, parking the goroutine too.
//! - [`net`], [`io`], [`pipe`]: sockets in std's shape and any pollable descriptor on Go's
//!   network poller: a goroutine waiting for I/O parks, its thread runs others.
//! - [`syscall`]: Go's `syscall` package: entry points, `Errno`, the vDSO, and typed wrappers
//!   declared blocking or not.
//!
//! ```
//! // SAFETY: no goroutine keeps thread-local state across a switch.
//! let rt = unsafe { goro::Runtime::new() };
//! let (tx, rx) = goro::chan::<u32>(0);
//! let total = rt.run(move || {
//!     goro::spawn(move || (1..=10).for_each(|i| tx.send(i).unwrap()));
//!     rx.into_iter().sum::<u32>()
//! });
//! assert_eq!(total, 55);
//! ```
//!
//! # The goroutine contract
//!
//! A goroutine may move to another OS thread whenever it calls into goro in a way that can
//! block or yield: a channel operation, `join`, `WaitGroup::wait`, a [`sync`] lock or wait,
//! `yield_now`, a `sys` system-call wrapper, leaving [`blocking`]. Rust cannot see this, and no
//! migrating stackful runtime can make it safe: in optimised builds the compiler computes a
//! `thread_local!`'s address once per function, so code that reads one, switches, and reads it
//! again (even through two separate `with` calls) touches the *old* thread's value while
//! another goroutine uses it there, which is a data race. So creating a runtime
//! ([`Runtime::new`], [`Builder::build`], or [`run`], which does both) is `unsafe`, once, with
//! this contract for every goroutine it will run; everything after that is safe:
//!
//! > Code running in a goroutine keeps nothing tied to its OS thread across such a call: no
//! > `thread_local!` access on both sides of it in one function, no reference, pointer or
//! > guard into thread-local state (a `RefCell` borrow of a thread-local, `rand::ThreadRng`,
//! > `std::io::stdout().lock()`), unless the goroutine is locked to its thread with
//! > [`lock_os_thread`].
//!
//! What this leaves: thread-locals used within one stretch of code that makes no such call
//! are fine (as in most libraries: a logger, an allocator's cache); per-goroutine state goes in
//! [`local!`], which moves with the goroutine. goro keeps to the rule itself: the runtime reads
//! its thread's state afresh after every switch, a goroutine unwinding a panic is kept on its
//! thread until the unwinding ends (std counts panics per thread), and no std lock is held
//! across a switch.
//!
//! Besides:
//! - Holding a `std::sync::Mutex` guard across a runtime call is allowed but blocks the other
//!   goroutines that want it on their threads; prefer channels.
//! - Blocking calls that bypass goro's wrappers (`std::fs`, `std::thread::sleep`, DNS) block
//!   the thread and, until the runtime retakes its processor (~10 ms), the goroutines queued
//!   behind; wrap them in [`blocking`].

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("goro supports x86_64 Linux only");

mod chan;
pub mod fs;
mod hint;
pub mod io;
mod linux;
mod local;
pub mod net;
mod rt;
mod runtime;
mod select;
mod stats;
pub mod sync;
pub mod syscall;
mod task;
pub mod time;
pub mod trace;
mod waitgroup;

pub use chan::{Iter, Receiver, SendError, Sender, TryRecvError, TrySendError, chan};
pub use io::pipe;
pub use local::LocalKey;
pub use rt::{
    Builder, JoinHandle, MAX_PROCS, Runtime, blocking, current, lock_os_thread, max_procs, run,
    set_max_procs, set_max_threads, spawn, stats, unlock_os_thread, yield_now,
};
pub use select::{RecvTimeoutError, SendTimeoutError};
pub use stats::{GoroutineStates, ProcStates, Stats, StatsHandle, SyscallHistogram, ThreadStates};
pub use time::sleep;
pub use waitgroup::WaitGroup;

/// What `select!` expands to; not part of the API.
#[doc(hidden)]
pub mod __select {
    pub use crate::select::{Locks, Park, RecvCase, SelectCase, SendCase, Wake, select};
}

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
        let s = crate::runtime::entersyscall(usize::MAX);
        crate::runtime::exitsyscall_from(s);
    }

    /// Every runtime's Ps and Ms, one line each, read racily: for a watchdog's report.
    pub fn sched_dump() -> String {
        crate::runtime::debug::dump()
    }

    /// The kernel thread id of the M the runtime believes the caller runs on.
    pub fn current_m_tid() -> Option<i32> {
        crate::runtime::proc::enter()
            .map(|rt| rt.m().tid.load(core::sync::atomic::Ordering::Relaxed))
    }
}
