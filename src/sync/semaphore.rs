//! A counting semaphore on the runtime's semaphore table.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::runtime::g::WaitReason;
use crate::runtime::sema::{cansemacquire, semacquire, semrelease};

/// A counting semaphore: at most `n` holders of a permit at once (Go's runtime semaphore,
/// `semacquire` / `semrelease`, made public).
///
/// [`acquire`](Semaphore::acquire) parks the goroutine (or blocks the thread) until a permit
/// is free; waiters are woken in FIFO order, though a newcomer may take a permit released
/// before the woken waiter runs. The permit goes back when the [`SemaphorePermit`] drops.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let sem = Arc::new(goro::sync::Semaphore::new(2));
///     let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
///     let wg = goro::WaitGroup::new();
///     for _ in 0..8 {
///         wg.add(1);
///         let (sem, now, max, wg) = (sem.clone(), now.clone(), max.clone(), wg.clone());
///         goro::spawn(move || {
///             let permit = sem.acquire();
///             max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
///             goro::yield_now();
///             now.fetch_sub(1, Ordering::SeqCst);
///             drop(permit);
///             wg.done();
///         });
///     }
///     wg.wait();
///     assert!(max.load(Ordering::SeqCst) <= 2);
/// });
/// ```
pub struct Semaphore {
    permits: AtomicU32,
}

/// A permit of a [`Semaphore`]; released when dropped.
///
/// Unlike the lock guards, a permit is `Send`: it is a count, not a borrow of guarded data.
#[must_use = "if unused the permit is released at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds `u32::MAX`.
    pub const fn new(permits: usize) -> Semaphore {
        assert!(permits <= u32::MAX as usize, "goro: too many permits");
        Semaphore {
            permits: AtomicU32::new(permits as u32),
        }
    }

    /// Takes a permit, waiting (parked, for a goroutine) until one is free.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        semacquire(&self.permits, false, WaitReason::Semacquire);
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        cansemacquire(&self.permits).then(|| SemaphorePermit { sem: self })
    }

    /// Adds `n` permits, waking up to `n` waiters.
    ///
    /// # Panics
    /// If the count would exceed `u32::MAX`.
    pub fn add_permits(&self, n: usize) {
        let now = self.permits.load(Ordering::Relaxed) as usize;
        assert!(
            now.checked_add(n).is_some_and(|t| t <= u32::MAX as usize),
            "goro: too many permits"
        );
        for _ in 0..n {
            semrelease(&self.permits, false);
        }
    }

    /// The permits free now (racy: for reports).
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Relaxed) as usize
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: the semaphore has one permit fewer.
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        semrelease(&self.sem.permits, false);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
