//! Go's `sync.Cond` as [`Condvar`], on a list of waiters like Go's `notifyList`, with std's
//! timed waits.

use core::sync::atomic::{AtomicBool, Ordering};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use crate::runtime::g::WaitReason;
use crate::runtime::park::{NodeRef, WaitLock, WaitNode};
use crate::runtime::timers::Timer;

/// The waiters of a [`Condvar`] (Go's `notifyList`). A waiter queues under a ticket while it
/// still holds the mutex, releases the mutex, then parks unless a notification has taken its
/// entry off the queue meanwhile. So a notification between the release and the parking is
/// not lost, and `notify_one` wakes the oldest waiter. Go keeps only a counter for the
/// waiters not yet parked; a queued entry for each lets a timed-out waiter leave the queue
/// without taking a later notification with it.
struct NotifyList {
    /// The next waiter's ticket.
    next: u64,
    /// Waiters not yet notified, in ticket order: the ticket, and the node once the waiter
    /// parks (`None` until then).
    waiters: VecDeque<(u64, Option<NodeRef>)>,
}

impl NotifyList {
    /// Takes the waiter with `ticket` off the queue, if no notification has yet; returns
    /// whether it was there and its node, if it had parked.
    fn remove(&mut self, ticket: u64) -> Option<Option<NodeRef>> {
        let i = self.waiters.binary_search_by_key(&ticket, |w| w.0).ok()?;
        self.waiters.remove(i).map(|w| w.1)
    }
}

/// Whether a timed wait ended because its time ran out (std's `WaitTimeoutResult`).
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the time ran out, not because of a notification.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// The timer of a timed wait: takes the waiter off the queue when it fires, unless a
/// notification did first.
struct Expiry {
    cv: *const Condvar,
    ticket: u64,
    timed_out: *const AtomicBool,
}

// SAFETY: both pointers are to the waiter's borrowed condvar and stack, which it keeps until
// it has stopped the timer, after which the timer never fires (see `Condvar::wait_for`).
unsafe impl Send for Expiry {}

impl Expiry {
    fn fire(&self) {
        // SAFETY: see the `Send` impl: the waiter is still in `wait_for`.
        let (cv, timed_out) = unsafe { (&*self.cv, &*self.timed_out) };
        let mut l = cv.list.lock();
        if let Some(node) = l.remove(self.ticket) {
            // Under the list lock, as a notification would have taken the entry: exactly
            // one of the two ends the wait.
            timed_out.store(true, Ordering::Relaxed);
            drop(l);
            if let Some(n) = node {
                // SAFETY: taken out of the list under its lock: we are its one waker.
                unsafe { WaitNode::wake(n) };
            }
        }
    }
}

/// A condition variable: Go's `sync.Cond`, with std's interface.
///
/// [`wait`](Condvar::wait) atomically releases the mutex and parks the goroutine (or blocks
/// the thread) until [`notify_one`](Condvar::notify_one) or
/// [`notify_all`](Condvar::notify_all), then locks again. Wake-ups are in the order the
/// waiters arrived, and there are no spurious ones; still, test the condition in a loop (or
/// use [`wait_while`](Condvar::wait_while)), since another holder may have changed it before
/// the woken waiter got the mutex back. Unlike std's, a `Condvar` may be used with several
/// mutexes (as Go's `Cond` with its `L` changed); nothing checks it.
///
/// ```
/// use std::sync::Arc;
/// use goro::sync::{Condvar, Mutex};
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let p = pair.clone();
///     goro::spawn(move || {
///         *p.0.lock() = true;
///         p.1.notify_one();
///     });
///     let (m, cv) = &*pair;
///     let ready = cv.wait_while(m.lock(), |ready| !*ready);
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    list: WaitLock<NotifyList>,
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar {
            list: WaitLock::new(NotifyList {
                next: 0,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Releases the mutex of `guard`, waits to be notified, locks it again and returns the
    /// new guard.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_for(guard, None).0
    }

    /// Waits while `condition` holds for the data: on return the mutex is held and
    /// `condition` is false.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// [`wait`](Condvar::wait), for at most `dur`: also returns, with the mutex locked
    /// again, once `dur` has passed without a notification (std's `wait_timeout`, without its
    /// `LockResult`: goro's locks do not poison). A notification and the timeout never both
    /// count: a waiter that times out leaves the queue, and a later
    /// [`notify_one`](Condvar::notify_one) wakes the next waiter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::sync::{Condvar, Mutex};
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let (m, cv) = (Mutex::new(()), Condvar::new());
    ///     let (_guard, r) = cv.wait_timeout(m.lock(), Duration::from_millis(1));
    ///     assert!(r.timed_out(), "nobody notifies");
    /// });
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        self.wait_for(guard, Some(dur))
    }

    /// [`wait_while`](Condvar::wait_while) for at most `dur` in all (std's
    /// `wait_timeout_while`): the result says it timed out if `condition` still held when
    /// the time ran out.
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return (guard, WaitTimeoutResult(false));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return (guard, WaitTimeoutResult(true));
            };
            guard = self.wait_timeout(guard, left).0;
        }
    }

    /// The waits: until notified, or for at most `timeout`.
    fn wait_for<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Option<Duration>,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let mutex = guard.mutex;
        // Queued while the mutex is held: a notifier that changed the condition under the
        // mutex after we saw it finds this entry (or one of a later waiter).
        let ticket = {
            let mut l = self.list.lock();
            let t = l.next;
            l.next += 1;
            l.waiters.push_back((t, None));
            t
        };
        drop(guard);
        let timed_out = AtomicBool::new(false);
        let timer = timeout.map(|d| {
            let e = Expiry {
                cv: self,
                ticket,
                timed_out: &timed_out,
            };
            let t = Timer::new(Box::new(move |_| {
                e.fire();
                false
            }));
            t.reset(crate::time::nanos(d), 0, || {});
            t
        });
        let node = WaitNode::new();
        let mut l = self.list.lock();
        match l.waiters.binary_search_by_key(&ticket, |w| w.0) {
            Ok(i) => {
                l.waiters[i].1 = Some(node.as_ref());
                node.park(l, WaitReason::SyncCondWait);
            }
            // Notified (or timed out) between the release and now.
            Err(_) => drop(l),
        }
        if let Some(t) = timer {
            // Once `stop` returns the timer's action has finished or will never run, so
            // `timed_out` and `self` may go.
            t.stop(|| {});
        }
        mutex.raw().lock(WaitReason::SyncMutexLock);
        (
            MutexGuard::new(mutex),
            WaitTimeoutResult(timed_out.load(Ordering::Relaxed)),
        )
    }

    /// Wakes the longest-waiting waiter, if there is one (Go's `Signal`).
    pub fn notify_one(&self) {
        let mut l = self.list.lock();
        let Some((_, node)) = l.waiters.pop_front() else {
            return;
        };
        drop(l);
        // A waiter that has not parked yet finds its entry gone and does not park.
        if let Some(n) = node {
            // SAFETY: taken out of the list under its lock: we are its one waker.
            unsafe { WaitNode::wake(n) };
        }
    }

    /// Wakes every waiter (Go's `Broadcast`).
    pub fn notify_all(&self) {
        let waiters = core::mem::take(&mut self.list.lock().waiters);
        for n in waiters.into_iter().filter_map(|w| w.1) {
            // SAFETY: taken out of the list under its lock: we are the one waker.
            unsafe { WaitNode::wake(n) };
        }
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl core::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
