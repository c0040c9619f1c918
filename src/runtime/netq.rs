//! The runtime's queue of goroutines readied by the network poller when an M looking for work
//! polls without blocking (`findrunnable`): first in, first out while its oldest entry has
//! waited at most [`FAIR_WAIT`], newest first once it has waited longer, so a connection whose
//! data just arrived is answered while its socket and stack are still in cache, but never past
//! [`AGE_BOUND`]: an entry older than that is served before any newer one.
//!
//! Why not first in, first out throughout, as Go's run queues are: with 10,000 connections in a
//! closed loop, FIFO service makes every request wait about connections / rate (40-45 ms on each
//! side of the echo benchmark), past TCP's 40 ms ACK timeout. The kernel then takes every
//! connection out of its interactive ("pingpong") mode, and acknowledges each request and each
//! reply with a segment of its own rather than with the answer: ~3.8-4.0 segments per round trip
//! against 2.5 served newest first (`nstat TcpOutSegs`), and all the per-request state is cold.
//! Served newest first, most round trips are answered at once and the rest wait longer, up to the
//! bound (tokio's LIFO slot and its global queue, checked every few dozen tasks, give it the same
//! split by accident, its old entries waiting up to ~300 ms). With a bound `T` and a mean wait `W`
//! fixed by the load (Little's law), at most a fraction `1 - W / T` of round trips can be served at
//! once: a bound near FIFO's wait wins nothing (50 ms: no gain measured), so it is several times
//! it.
//!
//! Why in order while the oldest entry is recent: with a short queue (100 connections) every entry
//! is served within a millisecond or two either way, far from TCP's 40 ms ACK timeout, and
//! newest first only served the connections unevenly: some went ahead while others waited (in the
//! echo benchmark, 100 connections x 100 round trips, the first connection finished a median 8.3 ms
//! before the last, against 2.1 ms served in order, and the run's rate waits for the last). A queue
//! whose oldest entry has waited past `FAIR_WAIT` is one that first in, first out would keep long,
//! and from there it is served newest first until it empties or the bound takes its oldest.
//!
//! Who touches what: any M (with or without a P) pushes and pops under the mutex; `len` is
//! kept in step under it and read racily by the fast paths that ask whether work waits, each
//! followed by a locked look before anything depends on it (as `Sched::runqsize` is).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::collections::VecDeque;
use std::sync::Mutex;

/// How long a readied goroutine may wait while newer ones are served first (nanoseconds).
pub(crate) const AGE_BOUND: u64 = 300_000_000;

/// While the oldest entry has waited at most this long, entries are served in order
/// (nanoseconds): a quarter of TCP's 40 ms delayed-ACK timeout.
pub(crate) const FAIR_WAIT: u64 = 10_000_000;

struct Entry<T> {
    gp: *mut T,
    /// When it was queued (nanotime).
    since: u64,
}

pub(crate) struct NetQueue<T> {
    /// Oldest at the front.
    q: Mutex<VecDeque<Entry<T>>>,
    len: AtomicU32,
    /// When the front entry was queued (`u64::MAX`: none), kept in step under the mutex.
    front_since: AtomicU64,
}

// SAFETY: the raw pointers are to goroutines, shared between threads by design and touched
// here only under the mutex.
unsafe impl<T> Send for NetQueue<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for NetQueue<T> {}

impl<T> NetQueue<T> {
    pub(crate) fn new() -> NetQueue<T> {
        NetQueue {
            q: Mutex::new(VecDeque::new()),
            len: AtomicU32::new(0),
            front_since: AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry<T>>> {
        // Nothing panics under this lock.
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `len` and `front_since` for `q`, under the mutex.
    fn publish(&self, q: &VecDeque<Entry<T>>) {
        self.len.store(q.len() as u32, Ordering::Release);
        let since = q.front().map_or(u64::MAX, |e| e.since);
        self.front_since.store(since, Ordering::Release);
    }

    /// How long the oldest entry has waited at `now`, as a racy look sees it (0: none).
    pub(crate) fn oldest_wait(&self, now: u64) -> u64 {
        now.saturating_sub(self.front_since.load(Ordering::Acquire))
    }

    /// Entries, as a racy look sees them.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire) as usize
    }

    /// Queues `gps`, oldest readiness first, as readied at `now`.
    pub(crate) fn put(&self, gps: &[*mut T], now: u64) {
        if gps.is_empty() {
            return;
        }
        let mut q = self.lock();
        q.extend(gps.iter().map(|&gp| Entry { gp, since: now }));
        self.publish(&q);
    }

    /// The oldest entry if it has waited at most `fair` or longer than `bound` at `now`, else
    /// the newest.
    pub(crate) fn get(&self, now: u64, fair: u64, bound: u64) -> Option<*mut T> {
        self.take(now, Some(fair), bound)
    }

    /// The oldest entry, only if it has waited longer than `bound` at `now`: the fairness
    /// check of a P that has work of its own.
    pub(crate) fn get_aged(&self, now: u64, bound: u64) -> Option<*mut T> {
        self.take(now, None, bound)
    }

    /// The oldest entry if it is past `bound` at `now` or, with `fair`, has waited at most
    /// that; else, with `fair`, the newest.
    fn take(&self, now: u64, fair: Option<u64>, bound: u64) -> Option<*mut T> {
        if self.len() == 0 {
            return None;
        }
        let mut q = self.lock();
        let wait = now.saturating_sub(q.front()?.since);
        let e = match fair {
            _ if wait > bound => q.pop_front(),
            Some(fair) if wait <= fair => q.pop_front(),
            Some(_) => q.pop_back(),
            None => return None,
        };
        self.publish(&q);
        e.map(|e| e.gp)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn p(i: usize) -> *mut u8 {
        i as *mut u8
    }

    #[test]
    fn in_order_then_newest_first_until_the_oldest_is_past_the_bound() {
        let q = NetQueue::<u8>::new();
        assert_eq!(q.get(0, 3, 10), None);
        q.put(&[p(1), p(2)], 100);
        q.put(&[p(3), p(4), p(5)], 102);
        assert_eq!(q.len(), 5);
        assert_eq!(q.oldest_wait(103), 3);
        assert_eq!(
            q.get(103, 3, 10),
            Some(p(1)),
            "in order while the oldest is recent"
        );
        assert_eq!(q.get(103, 3, 10), Some(p(2)));
        assert_eq!(
            q.get(106, 3, 10),
            Some(p(5)),
            "the oldest waited 4: newest first"
        );
        q.put(&[p(6)], 106);
        assert_eq!(q.get(107, 3, 10), Some(p(6)), "newest first");
        assert_eq!(q.get_aged(108, 10), None, "nothing past the bound yet");
        assert_eq!(
            q.get(113, 3, 10),
            Some(p(3)),
            "then the oldest, past the bound"
        );
        assert_eq!(q.get_aged(113, 10), Some(p(4)));
        assert_eq!(q.len(), 0);
        assert_eq!(q.oldest_wait(200), 0);
        assert_eq!(q.get(200, 3, 10), None);
        q.put(&[p(7), p(8)], 200);
        q.put(&[p(9)], 201);
        assert_eq!(q.get(201, 3, 10), Some(p(7)), "emptied: in order again");
    }
}
