//! The public face of the scheduler: [`run`], [`Runtime`], [`spawn`], [`JoinHandle`].

use core::sync::atomic::Ordering;
use std::panic::resume_unwind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::proc::{current_sched, goid, gosched, runtime_of_thread};
use crate::runtime::sched::Sched;
use crate::runtime::stack::DEFAULT_STACK;
use crate::stats::{Stats, StatsHandle};
pub use crate::task::JoinHandle;
pub(crate) use crate::task::spawn_on;

/// Runs `f` as the main goroutine of a new runtime with the default configuration and returns
/// its result, like Go's `main`: `Runtime::new().run(f)`. A panic in `f` is resumed on the
/// caller. Goroutines still running when `f` returns are abandoned, as Go's are when `main`
/// returns.
///
/// ```
/// let main = || {
///     let handles: Vec<_> = (0..10u64).map(|i| goro::spawn(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// };
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// assert_eq!(unsafe { goro::run(main) }, 285);
/// ```
///
/// # Safety
/// The goroutine contract: see [the crate documentation](crate#the-goroutine-contract).
pub unsafe fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: the caller's contract.
    unsafe { Runtime::new() }.run(f)
}

/// A goroutine runtime: Ps, the threads (Ms) that run them, and the goroutines.
///
/// Several runtimes may exist in one process; each has its own threads.
///
/// # Dropping
/// Dropping a runtime shuts it down: its threads exit as soon as they come back to the
/// scheduler (the drop waits up to 200 ms for them), and goroutines still unfinished then
/// never run again. They are abandoned, as Go's are when `main` returns: their memory stays
/// (a wait queue elsewhere may still reach them), and once the runtime's last thread has
/// exited, its two descriptors are closed and [`JoinHandle::join`] of such a goroutine returns
/// an error (`"goro: the goroutine's runtime was dropped before it finished"`) instead of
/// waiting for ever, for a join already waiting and for any later one.
/// [`JoinHandle::is_finished`] stays `false` for them. A goroutine still running on its
/// thread when the drop returns (in a long system call) may still finish, or reach its next
/// wait and be abandoned there.
///
/// The last `Arc<Runtime>` may be dropped inside one of the runtime's own goroutines: the
/// drop then shuts the runtime down the same way without waiting for its threads (the
/// caller's cannot exit under it), and the goroutine runs on until it ends, or until it next
/// yields or waits, where it is abandoned like the others; then its thread exits too.
pub struct Runtime {
    sched: Arc<Sched>,
    /// This runtime started the trace `GORO_TRACE` asks for, and ends it when dropped.
    traced: bool,
}

/// Configures a [`Runtime`].
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
/// assert_eq!(rt.max_procs(), 2);
/// assert_eq!(rt.run(|| goro::max_procs()), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    max_procs: Option<usize>,
    stack_size: usize,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            max_procs: None,
            stack_size: DEFAULT_STACK,
        }
    }
}

impl Builder {
    /// The number of Ps: how many goroutines run at once. Default: `GOMAXPROCS` from the
    /// environment, else the number of CPUs the process may use. `0` leaves the default, as
    /// Go's `GOMAXPROCS(0)` leaves the setting; a number above [`MAX_PROCS`] is clamped to it
    /// (each P is allocated when the runtime is made, so `usize::MAX` cannot be).
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::builder().max_procs(usize::MAX).build() };
    /// assert_eq!(rt.max_procs(), goro::MAX_PROCS);
    /// ```
    pub fn max_procs(mut self, n: usize) -> Builder {
        self.max_procs = (n > 0).then_some(n.min(MAX_PROCS));
        self
    }

    /// Usable bytes of each goroutine stack (default 256 KiB, of which only touched pages
    /// take memory), clamped to between a page and 1 GiB (Go's limit). A goroutine that
    /// overflows it ends the process with `goroutine N stack overflow`.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        use crate::runtime::stack::{MAX_STACK, PAGE};
        self.stack_size = bytes.clamp(PAGE, MAX_STACK);
        self
    }

    /// Creates the runtime. Threads start when the first goroutine does.
    ///
    /// # Safety
    /// Every goroutine the runtime runs keeps the goroutine contract: see [the crate
    /// documentation](crate#the-goroutine-contract).
    pub unsafe fn build(self) -> Runtime {
        let n = self.max_procs.unwrap_or_else(default_procs);
        Runtime {
            sched: Sched::new(n, self.stack_size),
            traced: crate::trace::start_from_env(),
        }
    }
}

/// The most Ps a runtime has: [`Builder::max_procs`], a `GOMAXPROCS` environment variable and
/// the CPU count are clamped to it. Go had the same limit, `_MaxGomaxprocs`, until Go 1.10
/// made its list of Ps grow on demand; goro allocates a runtime's Ps when it is made (at
/// least 64 of them, for [`set_max_procs`] to raise the number to), a few KiB each.
pub const MAX_PROCS: usize = 1024;

/// `GOMAXPROCS` if set to a positive number, else the CPUs available to the process; at most
/// [`MAX_PROCS`].
fn default_procs() -> usize {
    std::env::var("GOMAXPROCS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_PROCS)
}

impl Runtime {
    /// A runtime with the default configuration.
    ///
    /// # Safety
    /// As for [`Builder::build`].
    #[allow(clippy::new_without_default, reason = "creating a runtime is unsafe")]
    pub unsafe fn new() -> Runtime {
        // SAFETY: the caller's contract.
        unsafe { Builder::default().build() }
    }

    /// A [`Builder`] to configure one.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Runs `f` as a goroutine of this runtime and waits for it on the calling thread, which
    /// must not be one of this runtime's goroutines. A panic in `f` is resumed here.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        match self.spawn(f).join() {
            Ok(v) => v,
            Err(p) => resume_unwind(p),
        }
    }

    /// Starts a goroutine on this runtime, from any thread.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_on(&self.sched, f)
    }

    /// The number of Ps.
    pub fn max_procs(&self) -> usize {
        self.sched.nprocs.load(Ordering::Relaxed)
    }

    /// Sets the number of Ps, returning the previous one; `0` changes nothing. See
    /// [`set_max_procs`] for the limits.
    pub fn set_max_procs(&self, n: usize) -> usize {
        crate::runtime::stw::set_max_procs(&self.sched, n)
    }

    /// What the runtime has done and what it is doing now (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        Stats::of(&self.sched)
    }

    /// A handle to read [`stats`](Runtime::stats) from any thread (an exporter's), which
    /// does not keep the runtime alive.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.sched.weak())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.traced {
            match crate::trace::stop() {
                Ok(path) => eprintln!("goro: trace written to {}", path.display()),
                Err(e) => eprintln!("goro: GORO_TRACE: {e}"),
            }
        }
        // On a thread of our own (in a goroutine), whose M cannot exit while we run on it.
        // Read without entering the runtime, which could park us once it is shut down.
        let inside = runtime_of_thread().is_some_and(|s| core::ptr::eq(s, &*self.sched));
        self.sched.begin_shutdown();
        // Idle Ms exit at once; give busy ones a moment to come back to the scheduler.
        let deadline = Instant::now() + Duration::from_millis(200);
        while !inside && self.sched.mlive.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // If every M has gone, the runtime has ended here (else the last M's exit ends it).
        self.sched.end_if_done();
        // A goroutine that never finished may be parked in a wait queue another runtime or
        // thread still reaches, and that would ready it through this runtime: keep the runtime's
        // memory alive for good rather than free it under them.
        if self.sched.mlive.load(Ordering::Acquire) > 0 || self.sched.live_goroutines() > 0 {
            // What nobody can use any more still goes: the memory of the stacks no goroutine
            // runs on.
            self.sched.release_free_stacks();
            core::mem::forget(self.sched.clone());
        }
    }
}

/// Starts a goroutine on the caller's runtime.
///
/// # Panics
/// When called outside a goroutine: use [`Runtime::spawn`] there.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let h = goro::spawn(|| "hello from a goroutine");
///     assert_eq!(h.join().unwrap(), "hello from a goroutine");
/// });
/// ```
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let sched =
        current_sched().expect("goro::spawn called outside a goroutine; use Runtime::spawn");
    spawn_on(sched, f)
}

/// Gives the processor to another goroutine; the caller runs again later (Go's
/// `runtime.Gosched`). Outside a goroutine, yields the thread.
pub fn yield_now() {
    gosched();
}

/// The id of the calling goroutine (unique in the process, from 1), or `None` outside one.
pub fn current() -> Option<u64> {
    goid()
}

/// The number of Ps of the caller's runtime, or the default for a new runtime when called
/// outside a goroutine (Go's `runtime.GOMAXPROCS(0)`).
pub fn max_procs() -> usize {
    current_sched().map_or_else(default_procs, |s| s.nprocs.load(Ordering::Relaxed))
}

/// Sets the number of Ps of the caller's runtime to `n` and returns the previous number (Go's
/// `runtime.GOMAXPROCS(n)`). The change goes through a stop-the-world, which goroutines
/// blocked in system calls do not hold up. As in Go, `0` changes nothing and just returns the
/// number. A larger `n` than the Ps the runtime allocated (64, or the initial number if
/// larger; never more than [`MAX_PROCS`]) is clamped to that, `usize::MAX` included.
///
/// # Panics
/// Outside a goroutine: use [`Runtime::set_max_procs`] there.
pub fn set_max_procs(n: usize) -> usize {
    let sched = current_sched().expect("goro::set_max_procs called outside a goroutine");
    crate::runtime::stw::set_max_procs(sched, n)
}

/// Sets the most OS threads goro's runtimes may use in this process, returning the previous
/// limit (Go's `debug.SetMaxThreads`; default 10,000). A program that needs more (say, more
/// goroutines blocked in system calls at once) ends with `goro: program exceeds N-thread
/// limit` and `fatal error: thread exhaustion`.
pub fn set_max_threads(n: usize) -> usize {
    crate::runtime::threads::set_max_threads(n)
}

/// Wires the calling goroutine to its current OS thread until a matching
/// [`unlock_os_thread`]; calls nest (Go's `runtime.LockOSThread`). While locked, the goroutine
/// runs only on this thread and the thread runs nothing else, so thread-local state
/// (`thread_local!`, a thread's signal mask or namespace) stays the goroutine's. A goroutine
/// that ends while locked ends its thread too. Outside a goroutine it does nothing.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     goro::lock_os_thread();
///     let tid = goro::syscall::gettid();
///     goro::yield_now();
///     assert_eq!(goro::syscall::gettid(), tid);
///     goro::unlock_os_thread();
/// });
/// ```
pub fn lock_os_thread() {
    crate::runtime::lockosthread::lock_os_thread();
}

/// Undoes one [`lock_os_thread`]; extra calls do nothing.
pub fn unlock_os_thread() {
    crate::runtime::lockosthread::unlock_os_thread();
}

/// Runs `f`, which blocks in ways goro cannot see (`std::fs`, DNS, a `std` mutex, a C library),
/// as a blocking system call: the goroutine's P is handed to another thread at once, so the
/// other goroutines keep running, and taken back (or another one) when `f` returns. Go's
/// `entersyscallblock`; tokio's `block_in_place`. Outside a goroutine it just runs `f`.
///
/// `f` may use goro freely: `sys` wrappers inside it need no P and run as plain calls, nested
/// `blocking` calls are part of the outer one, and a channel operation or `spawn` inside it
/// takes a P back first (the rest of `f` then runs holding it, like ordinary code).
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let text = goro::blocking(|| std::fs::read_to_string("/proc/self/status")).unwrap();
///     assert!(text.contains("Name:"));
/// });
/// ```
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    /// Leaves the system-call state however `f` ends, unwinding included.
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            crate::runtime::exitsyscall();
        }
    }
    // Nested inside another `blocking`, the outer one's end leaves the state.
    let _exit = crate::runtime::proc_syscall::entersyscallblock().then_some(Exit);
    f()
}

/// The caller's runtime's [`Stats`], or `None` outside a goroutine.
pub fn stats() -> Option<Stats> {
    current_sched().map(Stats::of)
}
