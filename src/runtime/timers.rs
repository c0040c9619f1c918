//! Timers (Go 1.23's design, `time.go`): each P owns a heap of timer entries ordered by when
//! they are due; the M holding a P runs its due timers when it looks for work
//! (`findrunnable`), and those of other Ps while it looks for work to steal; an M with nothing
//! to do sleeps until the earliest timer of any P (the *timer sleeper*, Go's M blocked in
//! `netpoll(delay)`), instead of indefinitely; adding a timer earlier than the sleeper's
//! deadline wakes it (Go's `wakeNetPoller`); sysmon starts an M for overdue timers when Ps are
//! idle. No timer needs a thread of its own.
//!
//! A [`Timer`]'s state is under its own lock: `when` (0: inactive), `period`, and `seq`, which
//! every stop or reset advances. Lock order: a timer's lock, then (inside its action) a
//! channel's or the scheduler's; a heap's lock is never held with a timer's. A heap entry carries the `seq` it was made for; entries that
//! no longer match (the timer was stopped or reset since) are dropped when they reach the top
//! (Go's zombies). A timer fires under its lock after checking `seq`, so a `stop` or `reset`
//! that returns has either seen the firing finished or prevented it: a timer channel never
//! delivers a value from before the last `stop`/`reset` (Go 1.23's guarantee).
//!
//! Timers made outside any runtime (a plain thread calling `goro::time::after`) go to one
//! process-wide thread that runs a heap of its own.

use core::cmp::Reverse;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::p::P;
use super::proc::enter;
use super::sched::Sched;
use super::sysmon::nanotime;

/// What a timer does when it fires. Runs under the timer's lock, on whichever M (or the
/// plain-thread timer thread) found it due: it must not block. Returns `false` to stop a
/// periodic timer (its receiver is gone).
pub(crate) type Action = Box<dyn FnMut() -> bool + Send>;

/// A timer, shared by its owner and the heap entries that point at it.
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    /// Advanced by every stop and reset, under the lock; entries of older sequences are
    /// stale. Read without the lock when a heap sheds its stale entries: a racy read can only
    /// be older, which keeps an entry, never drops a live one.
    seq: AtomicU64,
}

struct TimerState {
    /// When it is due (nanotime), or 0 if inactive.
    when: u64,
    /// Re-armed this long after each firing, if not 0.
    period: u64,
    action: Action,
}

/// An entry of a timer heap: due at `when`, valid while the timer's `seq` is still `seq`.
struct Entry {
    when: u64,
    seq: u64,
    timer: Arc<Timer>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Entry) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Entry) -> core::cmp::Ordering {
        (self.when, self.seq).cmp(&(o.when, o.seq))
    }
}

/// A heap of timer entries (a P's, or the plain-thread timer thread's), with its earliest
/// `when` readable without the lock.
pub(crate) struct TimerHeap {
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    /// The earliest entry's `when`, or `u64::MAX` when empty (Go's `timer0When`).
    next: AtomicU64,
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(BinaryHeap::new()),
            next: AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Entry>>> {
        // Nothing panics under this lock.
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest `when` in the heap (racy), `u64::MAX` if none.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    fn push(&self, e: Entry) {
        let mut h = self.lock();
        h.push(Reverse(e));
        // Stopped and reset timers leave stale entries until they come due (Go's zombies):
        // shed them each time the heap doubles, so they cost amortized O(1) and a timeout
        // reset on every message does not grow the heap without bound.
        let n = h.len();
        if n >= 64 && n.is_power_of_two() {
            h.retain(|e| e.0.timer.seq.load(Ordering::Relaxed) == e.0.seq);
        }
        self.publish(&h);
    }

    fn publish(&self, h: &BinaryHeap<Reverse<Entry>>) {
        let next = h.peek().map_or(u64::MAX, |e| e.0.when);
        self.next.store(next, Ordering::Release);
    }

    /// Fires the entries due now, if there are any (Go's `checkTimers`): reads the clock only
    /// when the heap is not empty.
    pub(crate) fn check(&self) -> usize {
        if self.next() == u64::MAX {
            return 0;
        }
        self.run(nanotime())
    }

    /// Fires every entry due at `now`; returns how many timers fired.
    pub(crate) fn run(&self, now: u64) -> usize {
        if self.next() > now {
            return 0;
        }
        // Every due entry comes off under one hold of the heap's lock.
        let due: Vec<Entry> = {
            let mut h = self.lock();
            let mut due = Vec::new();
            while h.peek().is_some_and(|e| e.0.when <= now) {
                due.extend(h.pop().map(|e| e.0));
            }
            self.publish(&h);
            due
        };
        let mut fired = 0;
        for e in due {
            let mut st = e.timer.lock();
            if e.timer.seq.load(Ordering::Relaxed) != e.seq || st.when != e.when {
                continue; // stopped or reset since: a zombie
            }
            fired += 1;
            let again = (st.action)();
            if st.period > 0 && again {
                // Re-armed from its due time, skipping periods already missed (Go drops ticks
                // for slow receivers too).
                let missed = (now - st.when) / st.period;
                st.when += (missed + 1) * st.period;
                let next = Entry {
                    when: st.when,
                    seq: e.seq,
                    timer: e.timer.clone(),
                };
                // The heap's lock is never taken under a timer's.
                drop(st);
                self.push(next);
            } else {
                st.when = 0;
            }
        }
        fired
    }

    /// Entries in the heap, stale ones not yet shed included (for `schedtrace`).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Moves every entry to `to` (a P retired by `set_max_procs`).
    pub(crate) fn move_to(&self, to: &TimerHeap) {
        let entries = core::mem::take(&mut *self.lock());
        self.next.store(u64::MAX, Ordering::Release);
        for e in entries {
            to.push(e.0);
        }
    }
}

impl Timer {
    /// An inactive timer that will run `action` when it fires.
    pub(crate) fn new(action: Action) -> Arc<Timer> {
        Arc::new(Timer {
            state: Mutex::new(TimerState {
                when: 0,
                period: 0,
                action,
            }),
            seq: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TimerState> {
        // Actions do not panic (they send without blocking or wake a waiter).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms the timer to fire `after` nanoseconds from now, and then every `period` if not 0;
    /// `before` runs under the timer's lock first (a timer channel is drained there). Returns
    /// whether it was active.
    pub(crate) fn reset(self: &Arc<Timer>, after: u64, period: u64, before: impl FnOnce()) -> bool {
        // A goroutine without a P takes one back before the timer's lock, not under it
        // (`before` may take a channel's lock).
        let _rt = enter();
        // u64::MAX is "no timer" in a heap's `next`: the latest a timer can be is one less.
        let when = nanotime().saturating_add(after).clamp(1, u64::MAX - 1);
        let mut st = self.lock();
        let was = st.when != 0;
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        self.seq.store(seq, Ordering::Relaxed);
        st.when = when;
        st.period = period;
        before();
        drop(st);
        add(Entry {
            when,
            seq,
            timer: self.clone(),
        });
        was
    }

    /// Stops the timer; `before` runs under its lock. Returns whether it was active.
    pub(crate) fn stop(&self, before: impl FnOnce()) -> bool {
        let _rt = enter();
        let mut st = self.lock();
        let was = st.when != 0;
        self.seq
            .store(self.seq.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        st.when = 0;
        before();
        was
    }
}

/// Puts `e` on the caller's P's heap (its runtime's P 0 from a goroutine without a P), or on
/// the plain-thread timer thread's, and wakes whoever must see it.
fn add(e: Entry) {
    let when = e.when;
    match enter() {
        Some(rt) => {
            let m = rt.m();
            let sched = m.sched();
            // SAFETY: Ps live as long as their runtime.
            let p = unsafe { m.p().as_ref() }.unwrap_or(&sched.allp[0]);
            p.timers.push(e);
            drop(rt);
            sched.timer_added(when);
        }
        None => thread_timers().add(e),
    }
}

impl Sched {
    /// The earliest timer of any P in use, `u64::MAX` if none (racy).
    pub(crate) fn next_timer(&self) -> u64 {
        let n = self.nprocs.load(Ordering::Acquire);
        self.allp[..n]
            .iter()
            .map(|p| p.timers.next())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Runs the due timers of `mine`, then of every other P in use (Go's `checkTimers` and the
    /// timer half of `stealWork`). Returns how many fired.
    pub(crate) fn run_timers(&self, mine: &P) -> usize {
        if self.next_timer() == u64::MAX {
            return 0;
        }
        let now = nanotime();
        let n = self.nprocs.load(Ordering::Acquire);
        mine.timers.run(now)
            + self.allp[..n]
                .iter()
                .filter(|p| p.id != mine.id)
                .map(|p| p.timers.run(now))
                .sum::<usize>()
    }
}

/// The heap of timers made outside any runtime, and the thread that runs it.
struct ThreadTimers {
    heap: TimerHeap,
    /// Woken when an entry earlier than the thread's deadline is added.
    wake: Condvar,
    lock: Mutex<()>,
}

fn thread_timers() -> &'static ThreadTimers {
    static T: OnceLock<&'static ThreadTimers> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static ThreadTimers = Box::leak(Box::new(ThreadTimers {
            heap: TimerHeap::new(),
            wake: Condvar::new(),
            lock: Mutex::new(()),
        }));
        super::threads::spawn("goro-timers".into(), 64 * 1024, move || t.run());
        t
    })
}

impl ThreadTimers {
    fn add(&self, e: Entry) {
        let when = e.when;
        self.heap.push(e);
        if when <= self.heap.next() {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
    }

    fn run(&self) -> ! {
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            drop(g);
            self.heap.run(nanotime());
            g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            let next = self.heap.next();
            let now = nanotime();
            if next > now {
                let wait = core::time::Duration::from_nanos(next.saturating_sub(now));
                g = self
                    .wake
                    .wait_timeout(g, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A timer reset over and over (a timeout renewed on every message) leaves one stale
    /// entry per reset; the heap sheds them as it grows instead of keeping them all.
    #[test]
    fn stale_entries_are_shed() {
        let heap = TimerHeap::new();
        let t = Timer::new(Box::new(|| false));
        for i in 1..=100_000u64 {
            t.seq.store(i, Ordering::Relaxed);
            heap.push(Entry {
                when: 1_000_000_000_000 + i,
                seq: i,
                timer: t.clone(),
            });
        }
        let n = heap.lock().len();
        assert!(n < 128, "{n} entries for one live timer");
        // The live entry survived the shedding and fires when due.
        t.lock().when = 1_000_000_000_000 + 100_000;
        assert_eq!(heap.run(u64::MAX - 1), 1);
        assert_eq!(heap.lock().len(), 0);
    }
}
