//! Go's `sync.Mutex` (`internal/sync/mutex.go`): [`RawMutex`], and [`Mutex<T>`] on top.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::runtime::g::WaitReason;
use crate::runtime::sema::{can_spin, do_spin, semacquire, semrelease};

const MUTEX_LOCKED: i32 = 1;
const MUTEX_WOKEN: i32 = 1 << 1;
const MUTEX_STARVING: i32 = 1 << 2;
const MUTEX_WAITER_SHIFT: u32 = 3;

/// A waiter that waited this long switches the mutex to starvation mode (Go's
/// `starvationThresholdNs`).
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

/// The lock word and semaphore of Go's `sync.Mutex`, without data.
///
/// `state` packs, from bit 0: locked, woken (a waiter is awake and competing, so `unlock`
/// wakes nobody), starving, then the number of parked waiters. `sema` is the semaphore the
/// waiters park on (see `runtime/sema.rs`).
///
/// Normal mode: waiters queue FIFO, but a woken waiter competes with newly arriving goroutines,
/// which usually win (they are already running); one that loses goes back to the *front* of
/// the queue. A waiter that has waited more than 1 ms switches the mutex to starvation mode:
/// `unlock` then hands ownership straight to the first waiter, and newcomers queue at the
/// tail without trying. The last waiter, or one that waited under 1 ms, switches back.
pub(crate) struct RawMutex {
    state: AtomicI32,
    sema: AtomicU32,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicI32::new(0),
            sema: AtomicU32::new(0),
        }
    }

    /// Locks: one CAS when the mutex is free.
    #[inline]
    pub(crate) fn lock(&self, why: WaitReason) {
        // Acquire: synchronizes with the Release in `unlock` of the previous holder.
        if self
            .state
            .compare_exchange(0, MUTEX_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(why);
        }
    }

    /// Locks if the mutex is free and not handed off to a waiter.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
            return false;
        }
        self.state
            .compare_exchange(
                old,
                old | MUTEX_LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    #[cold]
    fn lock_slow(&self, why: WaitReason) {
        let mut wait_start: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin only in normal mode while locked: in starvation mode ownership goes to the
            // waiters, so we could not get it anyway.
            if old & (MUTEX_LOCKED | MUTEX_STARVING) == MUTEX_LOCKED && can_spin(iter) {
                // Set the woken flag so that `unlock` does not wake a parked waiter while we
                // are about to take the lock ourselves.
                if !awoke
                    && old & MUTEX_WOKEN == 0
                    && old >> MUTEX_WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(
                            old,
                            old | MUTEX_WOKEN,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Don't try to take a starving mutex: newcomers queue.
            if old & MUTEX_STARVING == 0 {
                new |= MUTEX_LOCKED;
            }
            if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
                new += 1 << MUTEX_WAITER_SHIFT;
            }
            // Switch to starvation mode, unless the mutex is free now (then `unlock` would
            // expect waiters that may not be there).
            if starving && old & MUTEX_LOCKED != 0 {
                new |= MUTEX_STARVING;
            }
            if awoke {
                // We were woken (or set the flag ourselves): clear it either way.
                if new & MUTEX_WOKEN == 0 {
                    crate::runtime::throw(&["sync: inconsistent mutex state"]);
                }
                new &= !MUTEX_WOKEN;
            }
            // Acquire: if this takes the lock, synchronizes with the previous `unlock`.
            match self
                .state
                .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    if old & (MUTEX_LOCKED | MUTEX_STARVING) == 0 {
                        break; // locked with the CAS
                    }
                    // Waited before: back to the front of the queue.
                    let queue_lifo = wait_start.is_some();
                    let start = *wait_start.get_or_insert_with(Instant::now);
                    semacquire(&self.sema, queue_lifo, why);
                    starving = starving || start.elapsed() > STARVATION_THRESHOLD;
                    old = self.state.load(Ordering::Acquire);
                    if old & MUTEX_STARVING != 0 {
                        // Handed off to us: the state is inconsistent (locked not set, still
                        // counted as a waiter) until we fix it up.
                        if old & (MUTEX_LOCKED | MUTEX_WOKEN) != 0 || old >> MUTEX_WAITER_SHIFT == 0
                        {
                            crate::runtime::throw(&["sync: inconsistent mutex state"]);
                        }
                        let mut delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
                        if !starving || old >> MUTEX_WAITER_SHIFT == 1 {
                            // Leave starvation mode: we did not wait long, or we were the
                            // last waiter.
                            delta -= MUTEX_STARVING;
                        }
                        self.state.fetch_add(delta, Ordering::Acquire);
                        break;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(now) => old = now,
            }
        }
    }

    /// Unlocks. The caller holds the lock (a goroutine or thread may unlock a mutex another
    /// locked, as in Go).
    #[inline]
    pub(crate) fn unlock(&self) {
        // Release: synchronizes with the Acquire of the next `lock`.
        let new = self.state.fetch_sub(MUTEX_LOCKED, Ordering::Release) - MUTEX_LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    fn unlock_slow(&self, new: i32) {
        if (new + MUTEX_LOCKED) & MUTEX_LOCKED == 0 {
            crate::runtime::throw(&["sync: unlock of unlocked mutex"]);
        }
        if new & MUTEX_STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or someone else is already awake, or the lock is taken
                // again (that holder's `unlock` will wake).
                if old >> MUTEX_WAITER_SHIFT == 0
                    || old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING) != 0
                {
                    return;
                }
                // Take the right to wake one.
                let new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
                match self
                    .state
                    .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        semrelease(&self.sema, false);
                        return;
                    }
                    Err(now) => old = now,
                }
            }
        } else {
            // Starvation mode: hand ownership to the first waiter. The locked bit stays clear;
            // the waiter sets it. The starving bit keeps newcomers out meanwhile.
            semrelease(&self.sema, true);
        }
    }
}

/// A mutual-exclusion lock protecting a `T`: Go's `sync.Mutex`, with std's interface.
///
/// A goroutine that has to wait parks (its thread runs other goroutines); a plain thread
/// blocks. Goroutines and plain threads may share one. [`lock`](Mutex::lock) returns the
/// guard directly: there is no poisoning (see the [module doc](crate::sync)).
///
/// Fairness as Go's: normally a newcomer may take the lock ahead of a woken waiter (that is
/// faster), but a waiter that has waited more than 1 ms puts the mutex in starvation mode,
/// where the lock is handed to waiters in FIFO order.
///
/// ```
/// use std::sync::Arc;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// let total = rt.run(|| {
///     let m = Arc::new(goro::sync::Mutex::new(0));
///     let wg = goro::WaitGroup::new();
///     for _ in 0..10 {
///         wg.add(1);
///         let (m, wg) = (m.clone(), wg.clone());
///         goro::spawn(move || {
///             for _ in 0..100 {
///                 *m.lock() += 1;
///             }
///             wg.done();
///         });
///     }
///     wg.wait();
///     let n = *m.lock();
///     n
/// });
/// assert_eq!(total, 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands the `T` to one holder at a time, on whatever thread; so a `T` that
// may move between threads may be shared through it.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Holds a [`Mutex`] locked; unlocks it when dropped. Dereferences to the data.
///
/// Not `Send`, like std's (see the [module doc](crate::sync)).
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting (parked, for a goroutine) until the mutex is free.
    ///
    /// Locking a mutex the caller already holds deadlocks (as in Go and std).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock(WaitReason::SyncMutexLock);
        MutexGuard::new(self)
    }

    /// Locks if the mutex is free now; `None` otherwise (Go's `TryLock`).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub(super) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The caller has just locked `mutex`.
    pub(super) fn new(mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so nobody else touches the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the one borrow through the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}
