//! Go's `sync.WaitGroup`: wait for a set of goroutines to finish.

use std::sync::Arc;

use crate::runtime::g::WaitReason;
use crate::runtime::park::{NodeRef, WaitGuard, WaitLock, WaitNode};

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
    inner: Arc<WaitLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    count: usize,
    waiters: Vec<NodeRef>,
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(WaitLock::new(Inner::default())),
        }
    }
}

impl WaitGroup {
    /// A group with a zero counter.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    fn lock(&self) -> WaitGuard<'_, Inner> {
        self.inner.lock()
    }

    /// Adds `n` to the counter.
    pub fn add(&self, n: usize) {
        self.lock().count += n;
    }

    /// Subtracts one; at zero, wakes every waiter.
    ///
    /// # Panics
    /// If the counter is already zero (Go: "negative WaitGroup counter").
    pub fn done(&self) {
        let mut st = self.lock();
        assert!(st.count > 0, "goro: negative WaitGroup counter");
        st.count -= 1;
        if st.count == 0 {
            let waiters = core::mem::take(&mut st.waiters);
            drop(st);
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
        let mut st = self.lock();
        if st.count == 0 {
            return;
        }
        let node = WaitNode::new();
        st.waiters.push(node.as_ref());
        node.park(st, WaitReason::WaitGroup);
    }
}
