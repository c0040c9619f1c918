//! Timers (Go 1.23's design, `time.go`): each P owns a heap of timer entries ordered by when
//! they are due; the M holding a P runs its due timers when it looks for work
//! (`findrunnable`), and those of other Ps while it looks for work to steal; an M with nothing
//! to do sleeps until the earliest timer of any P (the *timer sleeper*, Go's M blocked in
//! `netpoll(delay)`), instead of indefinitely; adding a timer earlier than the sleeper's
//! deadline wakes it (Go's `wakeNetPoller`); sysmon starts an M for overdue timers when Ps are
//! idle. No timer needs a thread of its own.
//!
//! The heaps are 4-ary, as Go's (`siftupTimer` / `siftdownTimer`), of entries `(when,
//! what)`: either a shared [`Timer`] or, for [`sleep`], the parked goroutine itself, so a sleep
//! allocates nothing. A [`Timer`]'s `when` (0: inactive) and `period` change under its own
//! lock. Lock order: a timer's lock, then (inside its action) a channel's or the scheduler's;
//! the scheduler's lock, then a heap's (`set_max_procs`); a heap's lock is never held with a
//! timer's or while a goroutine is readied. A stop or reset leaves the timer's old entry in the
//! heap (Go's zombies, without Go's in-place `adjust`): an entry is live while its timer's
//! `when` equals its own, and stale ones are skipped when they come due or shed when the heap
//! grows. A timer fires under its lock after checking `when`, so a `stop` or `reset` that
//! returns has either seen the firing finished or prevented it: a timer channel never
//! delivers a value from before the last `stop`/`reset` (Go 1.23's guarantee).
//!
//! Times are `u64` nanoseconds of [`nanotime`] (`CLOCK_MONOTONIC` through goro's vDSO);
//! `goro::time` converts at the API.
//!
//! Timers made outside any runtime (a plain thread calling `goro::time::after`) go to one
//! process-wide thread that runs a heap of its own.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::context::prefetch;
use super::g::{G, WaitReason};
use super::m::current_m;
use super::p::P;
use super::proc::{current_g, enter, gopark, goready};
use super::sched::Sched;
pub(crate) use super::sysmon::nanotime;

/// What a timer does when it fires, given when it was due (nanotime). Runs under the timer's
/// lock, on whichever M (or the plain-thread timer thread) found it due: it must not block.
/// Returns `false` to stop a periodic timer (its receiver is gone).
pub(crate) type Action = Box<dyn FnMut(u64) -> bool + Send>;

/// A timer, shared by its owner and the heap entries that point at it.
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    /// When it is due (nanotime), or 0 if inactive. Written only under `state`'s lock; read
    /// without it when a heap sheds its stale entries (see [`Entry`]).
    when: AtomicU64,
    /// Whether nobody can see the timer fire any more (a `time::after` channel whose receiver
    /// was dropped): then its entries are stale too, and shed with the others. Without it, a
    /// `select` on `after(d)` in a loop kept every iteration's timer until `d` had passed.
    /// Must stay true once true, and be cheap: it runs under a heap's lock.
    unseen: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

struct TimerState {
    /// Re-armed this long after each firing, if not 0.
    period: u64,
    action: Action,
}

/// What an entry does when it comes due.
enum Fire {
    /// Readies a goroutine parked in [`sleep`]. The entry is the whole timer of a sleep (Go
    /// keeps one in each G, `g.timer`): a sleep is never stopped or reset, so it needs no
    /// shared state, and sleeping allocates nothing. `sp` is the parked goroutine's saved
    /// stack pointer, kept so that the memory resuming it reads can be prefetched without
    /// first loading the G (see [`Fire::prefetch`]).
    Ready { g: *mut G, sp: usize },
    /// Fires a [`Timer`], if it is still due when this entry says.
    Timer(Arc<Timer>),
}

/// An entry of a timer heap, due at `when`.
///
/// A timer's entry is live while the timer's `when` equals the entry's; stopping or
/// resetting a timer leaves its old entries in place (Go's zombies), and they are skipped when
/// they come due, or shed when the heap grows. Two live entries for one timer (it was reset
/// to the very nanosecond it had before) fire it once: firing moves its `when`.
struct Entry {
    when: u64,
    fire: Fire,
}

// SAFETY: a `Ready` G pointer is handed to `goready` by the one party that took the entry off
// its heap (the G is parked until then); `Arc<Timer>` is Send.
unsafe impl Send for Fire {}

impl Entry {
    /// Fires the entry, due at `now` or before, on `heap` (where a periodic timer goes back).
    /// Returns whether it fired (a stale entry does not).
    fn fire(self, heap: &TimerHeap, now: u64) -> bool {
        let t = match self.fire {
            Fire::Ready { g, .. } => {
                // SAFETY: parked by `sleep` before its entry was pushed; this entry was its
                // one way back, and we took it off the heap.
                unsafe { goready(g) };
                return true;
            }
            Fire::Timer(t) => t,
        };
        let mut st = t.lock();
        if t.when.load(Ordering::Relaxed) != self.when {
            return false; // stopped or reset since: a zombie
        }
        let again = (st.action)(self.when);
        if st.period > 0 && again {
            // Re-armed from its due time, skipping periods already missed (Go drops ticks
            // for slow receivers too).
            let missed = (now - self.when) / st.period;
            let when = self.when + (missed + 1) * st.period;
            t.when.store(when, Ordering::Relaxed);
            // The heap's lock is never taken under a timer's.
            drop(st);
            heap.push(Entry {
                when,
                fire: Fire::Timer(t),
            });
        } else {
            t.when.store(0, Ordering::Relaxed);
        }
        true
    }
}

impl Fire {
    /// Whether an entry due at `when` can only be skipped (a stopped or reset timer's, or one
    /// nobody can see fire). Racy: a timer's `when` read after the entry was pushed is that
    /// entry's or a later one's, so a live entry is never taken for stale.
    fn stale(&self, when: u64) -> bool {
        match self {
            Fire::Ready { .. } => false,
            Fire::Timer(t) => {
                t.when.load(Ordering::Relaxed) != when || t.unseen.as_ref().is_some_and(|f| f())
            }
        }
    }

    /// Starts loading what firing and then running this entry's goroutine will read: its G
    /// and the top of its stack. A sleeper is a cold G and a cold stack (20,000 of them do not
    /// fit in a cache); without this, each is a miss in turn when it is readied and when it
    /// runs, with it the misses of a batch overlap, and the next entry's are under way while
    /// the heap waits for it.
    fn prefetch(&self) {
        if let &Fire::Ready { g, sp } = self {
            prefetch(g as usize);
            prefetch(sp);
        }
    }
}

/// A 4-ary min-heap of entries by `when` (Go's `timers.heap`): half the depth of a binary
/// heap. The `when`s are an array of their own, parallel to what fires, so the four children
/// a sift compares are 32 contiguous bytes; a sift carries the moving `when` in a register
/// (a hole, as std's `BinaryHeap` does) and swaps only the `Fire`s.
#[derive(Default)]
struct Heap {
    when: Vec<u64>,
    fire: Vec<Fire>,
    /// The length at which stale entries are shed next: twice what the last shedding left
    /// (at least [`SHED_MIN`]), so each shedding is paid for by as many pushes as it scans.
    shed_at: usize,
}

/// The smallest heap that is ever scanned for stale entries.
const SHED_MIN: usize = 64;

impl Heap {
    fn len(&self) -> usize {
        self.when.len()
    }

    fn earliest(&self) -> u64 {
        self.when.first().copied().unwrap_or(u64::MAX)
    }

    fn push(&mut self, e: Entry) {
        self.when.push(e.when);
        self.fire.push(e.fire);
        self.sift_up(self.len() - 1);
    }

    /// Takes the earliest entry, if it is due at `now`.
    fn pop_due(&mut self, now: u64) -> Option<Entry> {
        if *self.when.first()? > now {
            return None;
        }
        let e = Entry {
            when: self.when.swap_remove(0),
            fire: self.fire.swap_remove(0),
        };
        if self.len() > 0 {
            self.sift_down(0);
            self.fire[0].prefetch();
        }
        Some(e)
    }

    /// Keeps the entries for which `keep(when, fire)` holds, in place; returns the others, for
    /// the caller to drop once it has released the heap's lock (a timer's last reference may
    /// be among them, and with it a user's `after_fn` closure and whatever its `Drop` does).
    #[must_use = "dropped entries may run user code: drop them outside the lock"]
    fn retain(&mut self, mut keep: impl FnMut(u64, &Fire) -> bool) -> Vec<Fire> {
        let mut kept = 0;
        for i in 0..self.len() {
            if keep(self.when[i], &self.fire[i]) {
                self.when[kept] = self.when[i];
                self.fire.swap(kept, i);
                kept += 1;
            }
        }
        self.when.truncate(kept);
        let shed = self.fire.split_off(kept);
        for i in (0..kept.div_ceil(4)).rev() {
            self.sift_down(i);
        }
        shed
    }

    /// Empties the heap, returning its entries (in no order).
    fn take(&mut self) -> (Vec<u64>, Vec<Fire>) {
        self.shed_at = 0;
        (
            core::mem::take(&mut self.when),
            core::mem::take(&mut self.fire),
        )
    }

    fn sift_up(&mut self, mut i: usize) {
        let w = self.when[i];
        while i > 0 {
            let parent = (i - 1) / 4;
            if w >= self.when[parent] {
                break;
            }
            self.when[i] = self.when[parent];
            self.fire.swap(i, parent);
            i = parent;
        }
        self.when[i] = w;
    }

    fn sift_down(&mut self, mut i: usize) {
        let (n, w) = (self.len(), self.when[i]);
        loop {
            let first = 4 * i + 1;
            let (k, least) = match self.when.get(first..first + 4) {
                // All four children (the common case): two pairs, then the pairs' winners,
                // which compiles to conditional moves rather than branches.
                Some(&[a, b, c, d]) => {
                    let (i1, w1) = if b < a { (1, b) } else { (0, a) };
                    let (i2, w2) = if d < c { (3, d) } else { (2, c) };
                    if w2 < w1 { (i2, w2) } else { (i1, w1) }
                }
                _ => {
                    let kids = &self.when[first.min(n)..n];
                    match kids.iter().enumerate().min_by_key(|&(_, &w)| w) {
                        Some((k, &least)) => (k, least),
                        None => break,
                    }
                }
            };
            if least >= w {
                break;
            }
            self.when[i] = least;
            self.fire.swap(i, first + k);
            i = first + k;
        }
        self.when[i] = w;
    }
}

/// How many due entries come off a heap under one hold of its lock.
const BATCH: usize = 32;

/// A heap of timer entries (a P's, or the plain-thread timer thread's), with its earliest
/// `when` readable without the lock.
pub(crate) struct TimerHeap {
    heap: Mutex<Heap>,
    /// The earliest entry's `when`, or `u64::MAX` when empty (Go's `timer0When`).
    next: AtomicU64,
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(Heap::default()),
            next: AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Heap> {
        // Nothing panics under this lock.
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest `when` in the heap (racy), `u64::MAX` if none.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    fn push(&self, e: Entry) {
        let mut h = self.lock();
        h.push(e);
        // Stopped and reset timers leave stale entries until they come due (Go's zombies):
        // shed them whenever the heap has doubled since the last shedding, so they cost
        // amortized O(1) and a timeout reset on every message does not grow the heap without
        // bound.
        let mut shed = Vec::new();
        if h.len() >= h.shed_at.max(SHED_MIN) {
            shed = h.retain(|when, fire| !fire.stale(when));
            h.shed_at = 2 * h.len();
        }
        self.publish(&h);
        drop(h);
        drop(shed);
    }

    fn publish(&self, h: &Heap) {
        self.next.store(h.earliest(), Ordering::Release);
    }

    /// Fires the entries due now, if there are any (Go's `checkTimers`): reads the clock only
    /// when the heap is not empty.
    pub(crate) fn check(&self) -> usize {
        if self.next() == u64::MAX {
            return 0;
        }
        self.run(nanotime())
    }

    /// Fires every entry due at `now`; returns how many fired. Due entries come off in
    /// batches under one hold of the lock, and fire after it is released: firing may take the
    /// scheduler's lock, which is taken before a heap's (`set_max_procs`).
    pub(crate) fn run(&self, now: u64) -> usize {
        let mut fired = 0;
        while self.next() <= now {
            let mut due: [Option<Entry>; BATCH] = [const { None }; BATCH];
            {
                let mut h = self.lock();
                for slot in &mut due {
                    *slot = h.pop_due(now);
                    if slot.is_none() {
                        break;
                    }
                }
                self.publish(&h);
            }
            let full = due[BATCH - 1].is_some();
            due.iter().flatten().for_each(|e| e.fire.prefetch());
            fired += due
                .into_iter()
                .flatten()
                .map(|e| usize::from(e.fire(self, now)))
                .sum::<usize>();
            if !full {
                break;
            }
        }
        fired
    }

    /// Entries in the heap, stale ones not yet shed included (for `schedtrace`).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Moves the entries of timers to the plain-thread timers, as their runtime has ended
    /// (see [`Sched::hand_timers_to_threads`]); stale ones and sleeps are dropped.
    fn hand_to_threads(&self) {
        let (when, fire) = self.lock().take();
        self.next.store(u64::MAX, Ordering::Release);
        for (when, fire) in when.into_iter().zip(fire) {
            // A sleeping goroutine's entry goes with the goroutine, which never runs again.
            if matches!(fire, Fire::Timer(_)) && !fire.stale(when) {
                thread_timers().add(Entry { when, fire });
            }
        }
    }

    /// Moves every entry to `to` (a P retired by `set_max_procs`).
    pub(crate) fn move_to(&self, to: &TimerHeap) {
        let (when, fire) = self.lock().take();
        self.next.store(u64::MAX, Ordering::Release);
        for (when, fire) in when.into_iter().zip(fire) {
            to.push(Entry { when, fire });
        }
    }
}

impl Timer {
    /// An inactive timer that will run `action` when it fires.
    pub(crate) fn new(action: Action) -> Arc<Timer> {
        Timer::make(action, None)
    }

    /// [`new`](Timer::new), with `unseen` saying when nobody can see it fire any more (it
    /// must stay true once true): its heap entries are then shed like stale ones.
    pub(crate) fn watched(
        action: Action,
        unseen: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Arc<Timer> {
        Timer::make(action, Some(Box::new(unseen)))
    }

    fn make(action: Action, unseen: Option<Box<dyn Fn() -> bool + Send + Sync>>) -> Arc<Timer> {
        Arc::new(Timer {
            state: Mutex::new(TimerState { period: 0, action }),
            when: AtomicU64::new(0),
            unseen,
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
        let when = deadline(after);
        let mut st = self.lock();
        let was = self.when.swap(when, Ordering::Relaxed) != 0;
        st.period = period;
        before();
        drop(st);
        add(Entry {
            when,
            fire: Fire::Timer(self.clone()),
        });
        was
    }

    /// Stops the timer; `before` runs under its lock. Returns whether it was active.
    pub(crate) fn stop(&self, before: impl FnOnce()) -> bool {
        let _rt = enter();
        let _st = self.lock();
        let was = self.when.swap(0, Ordering::Relaxed) != 0;
        before();
        was
    }
}

/// The nanotime `after` nanoseconds from now. `u64::MAX` is "no timer" in a heap's `next`
/// and 0 an inactive timer's `when`, so the result lies between.
fn deadline(after: u64) -> u64 {
    nanotime().saturating_add(after).clamp(1, u64::MAX - 1)
}

/// Parks the calling goroutine for at least `after` nanoseconds (Go's `time.Sleep`); returns
/// `false` at once on a thread that is not a goroutine. The sleep's timer is its heap entry
/// alone, pushed on g0 once the goroutine is parked (Go's `resetForSleep`), so it cannot fire
/// before there is a goroutine to ready.
pub(crate) fn sleep(after: u64) -> bool {
    let Some(g) = current_g() else {
        return false;
    };
    let when = deadline(after);
    gopark(WaitReason::Sleep, move || {
        // SAFETY: on g0 after a park, this thread's M holds a P (Ps live with the runtime),
        // and owns the parked G until its entry is pushed.
        let (m, p, sp) = unsafe {
            let m = &*current_m();
            (m, &*m.p(), (*g).owned().sp)
        };
        p.timers.push(Entry {
            when,
            fire: Fire::Ready { g, sp },
        });
        m.sched().timer_added(when);
        true
    });
    true
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
    /// The earliest timer of any P in use, `u64::MAX` if none (racy). This is what an idle M
    /// sleeps until (the timer sleeper now; a network poller's `epoll_wait` timeout later),
    /// and what sysmon and `checkdead` look at.
    pub(crate) fn next_timer(&self) -> u64 {
        let n = self.nprocs.load(Ordering::Acquire);
        self.allp[..n]
            .iter()
            .map(|p| p.timers.next())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The runtime has ended (`end_if_done`: its last M has exited), so nothing runs its
    /// timers any more. The timers plain threads may still wait for (a channel of `after`, a
    /// `Timer` or a `Ticker` they hold, an `after_fn` function, a deadline) go to the
    /// plain-thread timers, to fire on time there as if they had been armed outside any
    /// runtime. Left in the heaps, they never fired: a plain thread's receive from such a
    /// channel waited for ever (or, with the heap the channel's last sender, found it
    /// closed).
    pub(crate) fn hand_timers_to_threads(&self) {
        for p in &self.allp {
            if p.timers.next() != u64::MAX {
                p.timers.hand_to_threads();
            }
        }
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

std::thread_local! {
    /// Set on the plain-thread timer thread.
    static ON_TIMER_THREAD: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Whether the caller is the thread that runs the timers made outside any runtime: what
/// blocks it delays them all (a plain thread's `recv_timeout` included).
pub(crate) fn on_timer_thread() -> bool {
    ON_TIMER_THREAD.with(core::cell::Cell::get)
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
        ON_TIMER_THREAD.with(|on| on.set(true));
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

    fn at(when: u64, t: &Arc<Timer>) -> Entry {
        Entry {
            when,
            fire: Fire::Timer(t.clone()),
        }
    }

    /// A timer reset over and over (a timeout renewed on every message) leaves one stale
    /// entry per reset; the heap sheds them as it grows instead of keeping them all.
    #[test]
    fn stale_entries_are_shed() {
        let heap = TimerHeap::new();
        let t = Timer::new(Box::new(|_| false));
        const BASE: u64 = 1_000_000_000_000;
        for i in 1..=100_000u64 {
            t.when.store(BASE + i, Ordering::Relaxed);
            heap.push(at(BASE + i, &t));
        }
        let n = heap.lock().len();
        assert!(n < 128, "{n} entries for one live timer");
        // The live entry survived the shedding and fires when due, once.
        assert_eq!(heap.run(u64::MAX - 1), 1);
        assert_eq!(heap.lock().len(), 0);
        assert_eq!(t.when.load(Ordering::Relaxed), 0, "fired: inactive");
    }

    /// Live timers nobody can see fire any more (`after` in a `select` loop, its receiver
    /// dropped) are shed as the heap grows, like stopped ones; those still seen stay.
    #[test]
    fn unseen_timers_are_shed() {
        let heap = TimerHeap::new();
        const BASE: u64 = 1_000_000_000_000;
        let seen = Timer::watched(Box::new(|_| true), || false);
        seen.when.store(BASE, Ordering::Relaxed);
        heap.push(at(BASE, &seen));
        for i in 1..=100_000u64 {
            let t = Timer::watched(Box::new(|_| true), || true);
            t.when.store(BASE + i, Ordering::Relaxed);
            heap.push(at(BASE + i, &t));
        }
        let n = heap.lock().len();
        assert!(n < 128, "{n} entries for one timer still seen");
        assert_eq!(heap.next(), BASE, "the seen timer stays");
    }

    /// The 4-ary heap gives its entries back in `when` order, whatever the order of pushes,
    /// and stays a heap after shedding; more due entries than a batch all fire in one run.
    #[test]
    fn heap_order() {
        let t = Timer::new(Box::new(|_| true));
        let mut h = Heap::default();
        let mut x = 12345u64;
        let mut whens = Vec::new();
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let when = 1 + (x >> 40);
            whens.push(when);
            h.push(at(when, &t));
        }
        whens.sort_unstable();
        assert_eq!(h.earliest(), whens[0]);
        drop(h.retain(|when, _| when % 3 != 0));
        let kept: Vec<u64> = whens.iter().copied().filter(|w| w % 3 != 0).collect();
        let popped: Vec<u64> =
            core::iter::from_fn(|| h.pop_due(u64::MAX).map(|e| e.when)).collect();
        assert_eq!(popped, kept);
        assert_eq!(h.pop_due(u64::MAX).map(|e| e.when), None);

        // Two live entries at one instant fire the timer once; a stale one never. More
        // entries are due than a batch holds: one run takes them all.
        let heap = TimerHeap::new();
        let fires = Arc::new(AtomicU64::new(0));
        let f = fires.clone();
        let t = Timer::new(Box::new(move |_| {
            f.fetch_add(1, Ordering::Relaxed);
            true
        }));
        t.when.store(7, Ordering::Relaxed);
        heap.push(at(5, &t));
        for _ in 0..2 * BATCH {
            heap.push(at(7, &t));
        }
        assert_eq!(heap.run(10), 1);
        assert_eq!(fires.load(Ordering::Relaxed), 1);
        assert_eq!(heap.next(), u64::MAX);
    }
}
