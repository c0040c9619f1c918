//! Go's `sync.WaitGroup`: wait for a set of goroutines to finish.

use std::sync::{Arc, Mutex};

use crate::runtime::park::{NodeRef, WaitNode};

/// A counter that [`wait`](WaitGroup::wait) blocks on until it is zero. Clones share it.
///
/// ```
/// goro::run(|| {
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
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    count: usize,
    waiters: Vec<NodeRef>,
}

impl WaitGroup {
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Blocks the goroutine until the counter is zero.
    pub fn wait(&self) {
        let mut st = self.lock();
        if st.count == 0 {
            return;
        }
        let node = WaitNode::new();
        st.waiters.push(node.as_ref());
        node.park(move || drop(st));
    }
}
