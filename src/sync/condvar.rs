//! Go's `sync.Cond` as [`Condvar`], on Go's `notifyList` ticket scheme.

use std::collections::VecDeque;

use super::mutex::MutexGuard;
use crate::runtime::g::WaitReason;
use crate::runtime::park::{NodeRef, WaitLock, WaitNode};

/// Go's `notifyList`: a waiter takes a ticket (`wait`, then incremented) while it still holds
/// the mutex, releases the mutex, then queues under its ticket unless that ticket was already
/// notified (`notify` passed it). So a notification between the release and the queueing is
/// not lost, and `notify_one` wakes the waiter with the oldest unnotified ticket.
struct NotifyList {
    /// The next ticket to hand out.
    wait: u32,
    /// The next ticket to notify.
    notify: u32,
    /// Parked waiters and their tickets, in ticket order (mostly).
    waiters: VecDeque<(u32, NodeRef)>,
}

/// `a < b`, with wrap-around (Go's `less`).
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
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
                wait: 0,
                notify: 0,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Releases the mutex of `guard`, waits to be notified, locks it again and returns the
    /// new guard.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        // The ticket is taken while the mutex is held: a notifier that changed the condition
        // under the mutex after we saw it notifies this ticket or a later one.
        let ticket = {
            let mut l = self.list.lock();
            let t = l.wait;
            l.wait = t.wrapping_add(1);
            t
        };
        drop(guard);
        let node = WaitNode::new();
        let mut l = self.list.lock();
        if less(ticket, l.notify) {
            // Notified between the release and now.
            drop(l);
        } else {
            l.waiters.push_back((ticket, node.as_ref()));
            node.park(l, WaitReason::SyncCondWait);
        }
        mutex.raw().lock(WaitReason::SyncMutexLock);
        MutexGuard::new(mutex)
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

    /// Wakes the longest-waiting waiter, if there is one (Go's `Signal`).
    pub fn notify_one(&self) {
        let mut l = self.list.lock();
        if l.wait == l.notify {
            return;
        }
        let t = l.notify;
        l.notify = t.wrapping_add(1);
        // The waiter with ticket `t` may not have queued yet: then it sees `notify` past its
        // ticket and does not park.
        let found = l.waiters.iter().position(|&(ticket, _)| ticket == t);
        let node = found.and_then(|i| l.waiters.remove(i)).map(|(_, n)| n);
        drop(l);
        if let Some(n) = node {
            // SAFETY: taken out of the list under its lock: we are its one waker.
            unsafe { WaitNode::wake(n) };
        }
    }

    /// Wakes every waiter (Go's `Broadcast`).
    pub fn notify_all(&self) {
        let mut l = self.list.lock();
        if l.wait == l.notify {
            return;
        }
        l.notify = l.wait;
        let waiters = core::mem::take(&mut l.waiters);
        drop(l);
        for (_, n) in waiters {
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
