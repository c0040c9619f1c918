//! Go's `sync.Once` as [`Once`], and [`OnceLock<T>`] on the same scheme.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use super::mutex::RawMutex;
use crate::runtime::g::WaitReason;

/// Unlocks a [`RawMutex`] when dropped, on unwinding too.
struct Unlock<'a>(&'a RawMutex);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

/// Sets a flag when dropped, on unwinding too (Go's `defer o.done.Store(true)`).
struct SetDone<'a>(&'a AtomicBool);

impl Drop for SetDone<'_> {
    fn drop(&mut self) {
        // Release: synchronizes with the Acquire in `is_completed` and the fast path.
        self.0.store(true, Ordering::Release);
    }
}

/// Runs a function once: Go's `sync.Once`, with std's names.
///
/// The first [`call_once`](Once::call_once) runs its function; the others wait until it has
/// returned, then return without running theirs. As in Go, a function that panics counts as
/// done: the panic goes to its caller, and later calls return at once (std's `Once` is
/// poisoned instead, and later calls panic). See the [module doc](crate::sync).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static INIT: goro::sync::Once = goro::sync::Once::new();
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let wg = goro::WaitGroup::new();
///     for _ in 0..10 {
///         wg.add(1);
///         let wg = wg.clone();
///         goro::spawn(move || {
///             INIT.call_once(|| {
///                 RUNS.fetch_add(1, Ordering::Relaxed);
///             });
///             wg.done();
///         });
///     }
///     wg.wait();
/// });
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    done: AtomicBool,
    m: RawMutex,
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once {
            done: AtomicBool::new(false),
            m: RawMutex::new(),
        }
    }

    /// Runs `f` if no call has run yet (or is running: then waits for it to finish).
    ///
    /// Calling `call_once` on the same `Once` from inside `f` deadlocks, as in Go.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Acquire: synchronizes with the Release in `SetDone`, so `f`'s effects are visible.
        if !self.done.load(Ordering::Acquire) {
            self.call_slow(f);
        }
    }

    #[cold]
    fn call_slow<F: FnOnce()>(&self, f: F) {
        self.m.lock(WaitReason::SyncMutexLock);
        let _unlock = Unlock(&self.m);
        if !self.done.load(Ordering::Relaxed) {
            // Dropped before `_unlock`: done is set before the next caller gets the mutex.
            let _done = SetDone(&self.done);
            f();
        }
    }

    /// Whether a call has completed (returned or panicked).
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

/// A cell written once: std's `OnceLock`, on a goro mutex (waiters for a running
/// initialization park).
///
/// If the initializing function panics, the cell stays empty and the next caller of
/// [`get_or_init`](OnceLock::get_or_init) runs its own (as std's does).
///
/// ```
/// static CONFIG: goro::sync::OnceLock<String> = goro::sync::OnceLock::new();
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     assert!(CONFIG.get().is_none());
///     let h = goro::spawn(|| CONFIG.get_or_init(|| "from a goroutine".to_string()).len());
///     let n = h.join().unwrap();
///     assert_eq!(CONFIG.get().map(String::len), Some(n));
///     assert!(CONFIG.set("too late".to_string()).is_err());
/// });
/// ```
pub struct OnceLock<T> {
    done: AtomicBool,
    m: RawMutex,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, under the mutex, before `done` is set (Release); after
// that it is only read. Sharing hands `&T` to any thread (T: Sync) and the value may be
// written by one thread and dropped by another (T: Send): std's bounds.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// SAFETY: as above: owning the cell owns the value.
unsafe impl<T: Send> Send for OnceLock<T> {}

// As std's: a panic while initializing leaves the cell empty, never half-written.
impl<T: core::panic::RefUnwindSafe + core::panic::UnwindSafe> core::panic::RefUnwindSafe
    for OnceLock<T>
{
}
impl<T: core::panic::UnwindSafe> core::panic::UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            done: AtomicBool::new(false),
            m: RawMutex::new(),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if the cell is written.
    pub fn get(&self) -> Option<&T> {
        // Acquire: synchronizes with the Release that published the value.
        if self.done.load(Ordering::Acquire) {
            // SAFETY: `done` is set only after the value was written, and it is never
            // written again while shared.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value through a unique borrow, if the cell is written.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.done.get_mut() {
            // SAFETY: written, as `done` says; `&mut self` is the only borrow.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Writes `value` if the cell is empty; otherwise gives it back in `Err`.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, written first by `f` if the cell is empty. Callers that come while `f`
    /// runs wait for it. If `f` panics the cell stays empty. Calling it on the same cell
    /// from inside `f` deadlocks.
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        self.init_slow(f);
        self.get().expect("initialized under the mutex")
    }

    #[cold]
    fn init_slow<F: FnOnce() -> T>(&self, f: F) {
        self.m.lock(WaitReason::SyncMutexLock);
        let _unlock = Unlock(&self.m);
        if !self.done.load(Ordering::Relaxed) {
            let v = f();
            // SAFETY: the mutex is held and `done` is clear: nobody reads or writes the value.
            unsafe { (*self.value.get()).write(v) };
            self.done.store(true, Ordering::Release);
        }
    }

    /// The value, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        if *self.done.get_mut() {
            *self.done.get_mut() = false;
            // SAFETY: written, as `done` said; cleared so that `drop` does not drop it again.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if *self.done.get_mut() {
            // SAFETY: written, as `done` says, and dropped once here.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
