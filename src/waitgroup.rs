//! Go's `sync.WaitGroup`: wait for a set of goroutines to finish.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::runtime::g::WaitReason;
use crate::runtime::park::{NodeRef, WaitLock, WaitNode};

/// A counter that [`wait`](WaitGroup::wait) blocks on until it is zero. Clones share it.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let wg = goro::WaitGroup::new();
///     let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
///     for _ in 0..8 {
///         wg.add(1);
///         let (wg, done) = (wg.clone(), done.clone());
///         goro::spawn(move || {
///             done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///             wg.done();
///         });
///     }
///     wg.wait();
///     assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), 8);
/// });
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

/// The counter is an atomic, as Go's is: `add` and `done` take no lock, so a spawner adding
/// while the goroutines it spawned finish on other Ps do not queue on one lock for every
/// goroutine (a mutex here made Go's `spawn` shape 1.5x slower than the same work with
/// `JoinHandle`s). Only waiting, and the `done` that brings the count to zero, lock `waiters`.
struct Inner {
    count: AtomicUsize,
    waiters: WaitLock<Vec<NodeRef>>,
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                count: AtomicUsize::new(0),
                waiters: WaitLock::new(Vec::new()),
            }),
        }
    }
}

impl WaitGroup {
    /// A group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `n` to the counter.
    ///
    /// # Panics
    /// If the counter would pass `usize::MAX` (Go: the counter overflows into "negative
    /// WaitGroup counter"); the counter is left as it was.
    pub fn add(&self, n: usize) {
        let was = self.inner.count.fetch_add(n, Ordering::AcqRel);
        if was.checked_add(n).is_none() {
            // Wrapped: undone before anyone could take the count for real (a wait that saw
            // the wrapped value may have returned early, as in Go, where the panic leaves
            // the group broken for good).
            self.inner.count.fetch_sub(n, Ordering::AcqRel);
            panic!("goro: WaitGroup counter overflow");
        }
    }

    /// Subtracts one; at zero, wakes every waiter.
    ///
    /// # Panics
    /// If the counter is already zero (Go: "negative WaitGroup counter").
    pub fn done(&self) {
        // AcqRel: what the goroutines did before `done` is visible to whoever sees zero.
        let was = self.inner.count.fetch_sub(1, Ordering::AcqRel);
        if was == 0 {
            self.inner.count.fetch_add(1, Ordering::AcqRel);
            panic!("goro: negative WaitGroup counter");
        }
        if was == 1 {
            // A waiter checks the count under this lock before it parks, so one that missed
            // the zero is in the list by the time we get the lock.
            let waiters = core::mem::take(&mut *self.inner.waiters.lock());
            for w in waiters {
                // SAFETY: taken out of the list under the lock: we are the one waker.
                unsafe { WaitNode::wake(w) };
            }
        }
    }

    /// Runs `f` in a new goroutine counted in the group: `add(1)` now, `done()` when `f`
    /// returns or panics (Go 1.25's `WaitGroup.Go`).
    ///
    /// # Panics
    /// Outside a goroutine, as [`spawn`](crate::spawn) does.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let wg = goro::WaitGroup::new();
    ///     let sum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    ///     for i in 1..=4 {
    ///         let sum = sum.clone();
    ///         wg.go(move || {
    ///             sum.fetch_add(i, std::sync::atomic::Ordering::Relaxed);
    ///         });
    ///     }
    ///     wg.wait();
    ///     assert_eq!(sum.load(std::sync::atomic::Ordering::Relaxed), 10);
    /// });
    /// ```
    pub fn go(&self, f: impl FnOnce() + Send + 'static) {
        /// Counts the goroutine done however it ends.
        struct Done(WaitGroup);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        self.add(1);
        let done = Done(self.clone());
        crate::spawn(move || {
            let _done = done;
            f();
        });
    }

    /// Blocks the goroutine until the counter is zero.
    pub fn wait(&self) {
        loop {
            if self.inner.count.load(Ordering::Acquire) == 0 {
                return;
            }
            let mut waiters = self.inner.waiters.lock();
            if self.inner.count.load(Ordering::Acquire) == 0 {
                return;
            }
            let node = WaitNode::new();
            waiters.push(node.as_ref());
            node.park(waiters, WaitReason::WaitGroup);
            // Woken at a zero; the group may have been reused (`add` again) since, and then
            // this waits for the new zero, as it would have had it come later.
        }
    }
}
