//! A counting semaphore on the runtime's semaphore table.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::runtime::g::WaitReason;
use crate::runtime::sema::{cansemacquire, semacquire, semrelease, semrelease_n};

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
    /// The free permits: the runtime semaphore's tokens.
    permits: AtomicU32,
    /// The permits free or held, forgotten ones not counted: at most [`MAX_PERMITS`]
    /// (checked by `add_permits`), and never below `permits`, so a permit coming back can
    /// never overflow the count. Changed only by `add_permits` and `forget`.
    ///
    /// [`MAX_PERMITS`]: Semaphore::MAX_PERMITS
    total: AtomicU32,
}

/// A permit of a [`Semaphore`]; released when dropped.
///
/// Unlike the lock guards, a permit is `Send`: it is a count, not a borrow of guarded data.
#[must_use = "if unused the permit is released at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// The most permits a semaphore can have, free and held together (`u32::MAX`: the
    /// runtime's semaphores count in 32 bits, as Go's do).
    pub const MAX_PERMITS: usize = u32::MAX as usize;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`MAX_PERMITS`](Semaphore::MAX_PERMITS).
    pub const fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Self::MAX_PERMITS,
            "goro: a semaphore may not have more than Semaphore::MAX_PERMITS permits"
        );
        Semaphore {
            permits: AtomicU32::new(permits as u32),
            total: AtomicU32::new(permits as u32),
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
    /// If the semaphore would have more than [`MAX_PERMITS`](Semaphore::MAX_PERMITS)
    /// permits, counting those held now (they come back when their [`SemaphorePermit`]s drop,
    /// and the count must have room for them then) but not forgotten ones. Nothing is added
    /// then: the count never wraps, and a permit's drop never panics.
    ///
    /// ```
    /// use goro::sync::Semaphore;
    /// let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    /// let held = sem.try_acquire().unwrap();
    /// // One permit is free now, but the held one needs its place back.
    /// let r = std::panic::catch_unwind(|| sem.add_permits(1));
    /// assert!(r.is_err());
    /// drop(held);
    /// assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    /// ```
    pub fn add_permits(&self, n: usize) {
        // First the total, atomically, so concurrent calls cannot both pass the check.
        let fits = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t as usize)
                    .checked_add(n)
                    .filter(|&t| t <= Self::MAX_PERMITS)
                    .map(|t| t as u32)
            });
        if fits.is_err() {
            panic!(
                "goro: a semaphore may not have more than Semaphore::MAX_PERMITS ({}) permits",
                Self::MAX_PERMITS
            );
        }
        // At most `MAX_PERMITS`, checked above.
        semrelease_n(&self.permits, n as u32);
    }

    /// The permits free now (racy: for reports).
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Relaxed) as usize
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: the semaphore has one permit fewer (and room for
    /// one more in [`add_permits`](Semaphore::add_permits)).
    pub fn forget(self) {
        // Held, so counted in the total, which is at least 1.
        self.sem.total.fetch_sub(1, Ordering::AcqRel);
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
