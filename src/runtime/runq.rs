//! A P's local run queue (Go's `runq`, `runqput` / `runqget` / `runqsteal`): a fixed ring that
//! its owner pushes to and pops from without locks, and other Ms steal half of.
//!
//! Who touches what:
//! - `tail` is written only by the owner (the M holding the P); everyone reads it.
//! - `head` moves forward by CAS, by the owner's pops and by thieves alike.
//! - A slot is written only by the owner, only at `tail`, only while `tail - head < CAP`, so a
//!   slot between `head` and `tail` does not change until `head` passes it. A thief copies its
//!   slots before claiming them with a CAS on `head`; if the CAS fails, the copies are dropped
//!   unread.
//! - `runnext` holds the G to run next (the one just readied, so a producer and consumer pair
//!   ping-pong on one P); the owner swaps it, a thief may CAS it away when the ring is empty.
//!
//! Indices are free-running `u32`s; `tail - head` (wrapping) is the length.

use super::atomic::{AtomicPtr, AtomicU32, Ordering};

/// Slots in the ring: Go's 256; 4 under loom, so the model reaches a full ring.
#[cfg(not(loom))]
pub(crate) const CAP: usize = 256;
#[cfg(loom)]
pub(crate) const CAP: usize = 4;

pub(crate) struct RunQueue<T> {
    head: AtomicU32,
    tail: AtomicU32,
    buf: [AtomicPtr<T>; CAP],
    runnext: AtomicPtr<T>,
}

/// Half a full ring plus the item that did not fit: what `push` hands to the global queue.
pub(crate) struct Overflow<T> {
    pub(crate) items: [*mut T; CAP / 2 + 1],
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> RunQueue<T> {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            buf: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            runnext: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Items in the ring plus `runnext`, as seen by a racy look (Go's `runqempty` is the
    /// careful version; this is for heuristics and counters).
    pub(crate) fn len(&self) -> usize {
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        let next = !self.runnext.load(Ordering::Acquire).is_null();
        (t.wrapping_sub(h) as usize).min(CAP) + usize::from(next)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Owner only. Puts `g` in `runnext` (kicking the old one to the ring) or at the tail.
    /// When the ring is full, half of it and `g` come back for the global queue.
    pub(crate) fn push(&self, mut g: *mut T, next: bool) -> Option<Overflow<T>> {
        if next {
            g = self.runnext.swap(g, Ordering::AcqRel);
            if g.is_null() {
                return None;
            }
        }
        loop {
            // Acquire: synchronizes with thieves' and pops' CAS on head, so the slot we are
            // about to reuse has been read by whoever took it.
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if (t.wrapping_sub(h) as usize) < CAP {
                self.buf[t as usize % CAP].store(g, Ordering::Relaxed);
                // Release: publishes the slot to pops and thieves that load tail.
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return None;
            }
            if let Some(o) = self.push_slow(g, h, t) {
                return Some(o);
            }
            // A thief moved head under us: there is room now.
        }
    }

    /// Moves half the ring and `g` out, for the global queue (Go's `runqputslow`).
    fn push_slow(&self, g: *mut T, h: u32, t: u32) -> Option<Overflow<T>> {
        let n = (t.wrapping_sub(h) / 2) as usize;
        debug_assert_eq!(n, CAP / 2);
        let mut items = [core::ptr::null_mut(); CAP / 2 + 1];
        for (i, item) in items.iter_mut().enumerate().take(n) {
            *item = self.buf[(h as usize + i) % CAP].load(Ordering::Relaxed);
        }
        // AcqRel: claims the slots against thieves, as their own CAS does.
        if self
            .head
            .compare_exchange(
                h,
                h.wrapping_add(n as u32),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return None;
        }
        items[n] = g;
        Some(Overflow { items })
    }

    /// Owner only. The next G: `runnext` first, then the head of the ring.
    pub(crate) fn pop(&self) -> Option<*mut T> {
        self.runqget().map(|(g, _)| g)
    }

    /// Owner only. As [`pop`](Self::pop), and whether the G came from `runnext`: it then
    /// inherits the rest of the current time slice (Go's `runqget`'s `inheritTime`).
    pub(crate) fn runqget(&self) -> Option<(*mut T, bool)> {
        let next = self.runnext.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !next.is_null() {
            return Some((next, true));
        }
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if h == t {
                return None;
            }
            let g = self.buf[h as usize % CAP].load(Ordering::Relaxed);
            // Release pairs with the owner's Acquire of head in `push`: the slot is free only
            // after we read it.
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some((g, false));
            }
        }
    }

    /// Any M. Moves about half of `self`'s ring into `dst` (whose owner is the caller) and
    /// returns one of them to run (Go's `runqsteal`). With `take_next`, an empty ring gives up
    /// its `runnext` too.
    pub(crate) fn steal_into(&self, dst: &RunQueue<T>, take_next: bool) -> Option<*mut T> {
        let dt = dst.tail.load(Ordering::Relaxed);
        // The caller's own ring is empty when it steals (it popped first), so there is room.
        let n = loop {
            let h = self.head.load(Ordering::Acquire);
            // Acquire: synchronizes with the owner's Release store of tail, so the slots below
            // it are written.
            let t = self.tail.load(Ordering::Acquire);
            let len = t.wrapping_sub(h);
            let n = len - len / 2;
            if n == 0 {
                if take_next {
                    // The owner is likely about to run its `runnext` (a goroutine it just
                    // readied, as in a ping-pong): give it time first, as Go does, rather
                    // than pull the pair apart onto two CPUs.
                    if !self.runnext.load(Ordering::Acquire).is_null() {
                        pause_briefly();
                    }
                    let next = self.runnext.load(Ordering::Acquire);
                    if !next.is_null()
                        && self
                            .runnext
                            .compare_exchange(
                                next,
                                core::ptr::null_mut(),
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                    {
                        return Some(next);
                    }
                }
                return None;
            }
            if n as usize > CAP / 2 {
                continue; // head and tail read inconsistently; look again
            }
            for i in 0..n {
                let g = self.buf[h.wrapping_add(i) as usize % CAP].load(Ordering::Relaxed);
                dst.buf[dt.wrapping_add(i) as usize % CAP].store(g, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                break n;
            }
        };
        // Keep the last one to run; publish the rest.
        let last = dt.wrapping_add(n - 1);
        let g = dst.buf[last as usize % CAP].load(Ordering::Relaxed);
        if n > 1 {
            dst.tail.store(last, Ordering::Release);
        }
        Some(g)
    }
}

/// A thief's pause before stealing `runnext`: Go's `usleep(3)` as it behaves on Linux, where
/// Go's threads keep the default 50 us timer slack, so it sleeps about 50 us (goro's Ms run
/// with the program's slack, so 50 us less the slack is asked for, at least 3 us). The thief
/// sleeps still counted as spinning, so the goroutines a ping-pong pair readies meanwhile find
/// a spinning M and wake no other; a 3 us busy-wait gave up sooner and made each `wakep` a
/// futex wake and sleep (select ping-pong: 25,000 context switches per 500,000 round trips
/// against Go's 2,300, and 1.35x the time). No-op under loom.
fn pause_briefly() {
    #[cfg(not(loom))]
    {
        let ns = 50_000u64.saturating_sub(super::sys::user_slack() as u64);
        let _ = super::sys::nanosleep(core::time::Duration::from_nanos(ns.max(3_000)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn p(i: usize) -> *mut u8 {
        i as *mut u8
    }

    #[test]
    fn fifo_runnext_overflow_and_steal() {
        let q = RunQueue::<u8>::new();
        assert!(q.pop().is_none());
        for i in 1..=CAP {
            assert!(q.push(p(i), false).is_none());
        }
        assert_eq!(q.len(), CAP);
        let o = q.push(p(CAP + 1), false).expect("a full ring overflows");
        let moved: Vec<usize> = o.items.iter().map(|&x| x as usize).collect();
        assert_eq!(moved, (1..=CAP / 2).chain([CAP + 1]).collect::<Vec<_>>());
        assert!(q.push(p(1000), true).is_none());
        assert_eq!(q.pop(), Some(p(1000)), "runnext first");
        assert_eq!(q.pop(), Some(p(CAP / 2 + 1)), "then FIFO");
        let thief = RunQueue::<u8>::new();
        let left = q.len();
        let got = q.steal_into(&thief, false).unwrap();
        assert_eq!(q.len() + thief.len() + 1, left);
        assert!(thief.len() + 1 >= left / 2);
        assert!(!got.is_null());
        let empty = RunQueue::<u8>::new();
        assert!(empty.steal_into(&thief, true).is_none());
        assert!(empty.push(p(7), true).is_none());
        assert_eq!(
            empty.steal_into(&thief, false),
            None,
            "runnext only when asked"
        );
        assert_eq!(empty.steal_into(&thief, true), Some(p(7)));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Owner pushes and pops while a thief steals: every item comes out exactly once.
    #[test]
    fn loom_runq_push_pop_steal() {
        loom::model(|| {
            let q = Arc::new(RunQueue::<u8>::new());
            let q2 = q.clone();
            let thief = loom::thread::spawn(move || {
                let mine = RunQueue::<u8>::new();
                let mut got = Vec::new();
                if let Some(g) = q2.steal_into(&mine, true) {
                    got.push(g as usize);
                    while let Some(g) = mine.pop() {
                        got.push(g as usize);
                    }
                }
                got
            });
            let mut seen = Vec::new();
            let mut overflowed = Vec::new();
            for i in 1..=CAP + 1 {
                if let Some(o) = q.push(i as *mut u8, i == 2) {
                    overflowed.extend(o.items.iter().map(|&x| x as usize));
                }
                if i == 3 {
                    if let Some(g) = q.pop() {
                        seen.push(g as usize);
                    }
                }
            }
            while let Some(g) = q.pop() {
                seen.push(g as usize);
            }
            seen.extend(thief.join().unwrap());
            seen.extend(overflowed);
            seen.sort_unstable();
            assert_eq!(seen, (1..=CAP + 1).collect::<Vec<_>>());
        });
    }
}
