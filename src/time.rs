//! Go's `time` package, the parts that wait: [`sleep`], timers whose channel delivers the
//! time when they fire ([`after`], [`Timer`]), tickers ([`tick`], [`Ticker`]) and functions run
//! after a delay ([`after_fn`]). They park the goroutine, never its thread: timers live in the
//! scheduler's per-P heaps and are fired by whichever thread looks for work (see
//! `runtime/timers.rs`). On a thread that is not a goroutine they block the thread.
//!
//! Go 1.23's semantics: after [`Timer::stop`] or [`Timer::reset`] returns, the channel holds
//! no value from before, so a receive never sees a stale time, and a timer that fired while
//! nobody received its value counts as active to them (they take the value back and return
//! `true`); a [`Ticker`] whose receiver is slow drops ticks rather than queueing them. The
//! value a channel receives is the time the timer was due, as in Go (not the later moment a
//! busy scheduler got to it): an `Instant` no earlier than the call that armed it plus the
//! duration.
//!
//! Clock: the runtime reads `CLOCK_MONOTONIC` through goro's own vDSO call and keeps times as
//! nanoseconds; `Duration`s are converted on the way in, `Instant`s on the way out (the clock
//! std's `Instant` reads too, so they compare with `Instant::now()`).
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! // SAFETY: no goroutine keeps thread-local state across a switch.
//! let rt = unsafe { goro::Runtime::new() };
//! rt.run(|| {
//!     let start = Instant::now();
//!     goro::time::sleep(Duration::from_millis(5));
//!     let fired = goro::time::after(Duration::from_millis(5)).recv().unwrap();
//!     assert!(fired - start >= Duration::from_millis(10));
//! });
//! ```

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::chan::{Receiver, Sender, TrySendError, chan};
use crate::runtime::timers::{self, Action, Timer as RawTimer, nanotime};

/// `d` in nanoseconds, the runtime's unit (saturating: no timer is that far off).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Pauses the calling goroutine for at least `d` (Go's `time.Sleep`); its thread runs other
/// goroutines meanwhile. A zero duration returns at once. On a thread that is not a goroutine,
/// sleeps the thread.
pub fn sleep(d: Duration) {
    if !d.is_zero() && !timers::sleep(nanos(d)) {
        std::thread::sleep(d);
    }
}

/// The `Instant` of a runtime time (nanotime: `CLOCK_MONOTONIC` through goro's vDSO, the
/// clock `Instant` reads too). The runtime keeps times as nanoseconds and converts here, at
/// the API, against one pair of readings taken the first time: an `Instant` read between two
/// nanotimes `a` and `b` stands for `a`, so a converted time is never earlier than the clock
/// was (and at most `b - a`, tens of nanoseconds, later).
fn instant_at(ns: u64) -> Instant {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    let &(base, base_ns) = BASE.get_or_init(|| {
        // The tightest of a few bracketings (a preemption may fall inside one).
        (0..4)
            .map(|_| (nanotime(), Instant::now(), nanotime()))
            .min_by_key(|&(a, _, b)| b - a)
            .map(|(a, i, _)| (i, a))
            .expect("four readings")
    });
    if ns >= base_ns {
        base + Duration::from_nanos(ns - base_ns)
    } else {
        base.checked_sub(Duration::from_nanos(base_ns - ns))
            .unwrap_or(base)
    }
}

/// A timer's channel end and the action that fills it with the time the timer was due (as
/// Go's `sendTime` does: a value never says later than the deadline because the firing was).
fn channel_timer(period: u64) -> (Arc<RawTimer>, Receiver<Instant>) {
    let (tx, rx): (Sender<Instant>, Receiver<Instant>) = chan(1);
    // The channel's handles are this sender, kept by the action, and the receivers: with one
    // left, every receiver is gone, and none can be made again.
    let chan = Arc::downgrade(&tx.c);
    let unseen = move || chan.strong_count() <= 1;
    let action: Action = Box::new(move |when| match tx.try_send(instant_at(when)) {
        // Full: a tick the receiver has not taken yet; this one is dropped, as Go does.
        Ok(()) | Err(TrySendError::Full(_)) => true,
        // Nobody can receive any more: a ticker stops.
        Err(TrySendError::Closed(_)) => period == 0,
    });
    (RawTimer::watched(action, unseen), rx)
}

/// A channel that receives the time once, `d` from now (Go's `time.After`).
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let (_tx, rx) = goro::chan::<u32>(0);
///     let timeout = goro::time::after(Duration::from_millis(1));
///     // Nothing arrives on `rx`: the timer's channel fires.
///     assert!(timeout.recv().is_some());
///     drop(rx);
/// });
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (t, rx) = channel_timer(0);
    t.reset(nanos(d), 0, || {});
    rx
}

/// A channel that receives the time every `d` (Go's `time.Tick`); the ticker stops when the
/// receiver is dropped.
///
/// # Panics
/// If `d` is zero (Go's `NewTicker` panics on a non-positive interval).
pub fn tick(d: Duration) -> Receiver<Instant> {
    Ticker::new(d).rx
}

/// Runs `f` in a goroutine of its own, `d` from now (Go's `time.AfterFunc`); again after each
/// [`Timer::reset`]. The returned timer has no channel ([`Timer::receiver`] is `None`).
/// Outside a goroutine, `f` runs on a new thread.
pub fn after_fn(d: Duration, f: impl Fn() + Send + Sync + 'static) -> Timer {
    let f = AfterFn(Some(Arc::new(f)));
    let sched = crate::runtime::proc::current_sched().map(|s| s.weak());
    let action: Action = Box::new(move |_| {
        let f = f.arc().clone();
        // A runtime dropped since (its timers fire on the plain-thread timers then) runs no
        // goroutine any more: `f` gets a thread, as outside any runtime.
        let live = sched
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .filter(|s| !s.shutdown.load(std::sync::atomic::Ordering::Acquire));
        run_apart(live.as_deref(), move || f());
        true
    });
    let t = RawTimer::new(action);
    t.reset(nanos(d), 0, || {});
    Timer { t, rx: None }
}

/// Runs `f` in a goroutine of `sched`'s, or on a thread of its own without one.
fn run_apart(sched: Option<&crate::runtime::sched::Sched>, f: impl FnOnce() + Send + 'static) {
    match sched {
        Some(s) => drop(crate::rt::spawn_on(s, f)),
        None => drop(std::thread::spawn(f)),
    }
}

/// The function of an [`after_fn`] timer, in its action; the goroutines it starts hold
/// clones. The action's last reference can go wherever the runtime drops a timer heap entry:
/// on the scheduler's stack, when an entry is taken or shed there (after a `stop`, say), or in
/// whichever goroutine's timer call sheds it. Dropping `F` there would run its captures'
/// `Drop` in that place: one that waits on goro (a channel send) would block a thread holding
/// a P (the goroutine it waits for may need that P: a hang) or an unrelated goroutine. So, in
/// a runtime, the last reference goes to a goroutine of its own, which drops it; on the thread
/// that runs the timers made outside any runtime (whose blocking would delay them all), to a
/// thread of its own.
struct AfterFn<F: Send + Sync + 'static>(Option<Arc<F>>);

impl<F: Send + Sync + 'static> AfterFn<F> {
    fn arc(&self) -> &Arc<F> {
        self.0.as_ref().expect("taken only by drop")
    }
}

impl<F: Send + Sync + 'static> Drop for AfterFn<F> {
    fn drop(&mut self) {
        let Some(f) = self.0.take().and_then(Arc::into_inner) else {
            return; // a goroutine it started drops the function
        };
        match crate::runtime::proc::runtime_of_thread() {
            // A plain thread other than the one where plain-thread timers fire (there it goes
            // to a thread of its own, as `f` itself runs) drops it in place.
            None if !timers::on_timer_thread() => drop(f),
            s => run_apart(s, move || drop(f)),
        }
    }
}

/// A single event in the future, delivered on a channel (Go's `time.Timer`).
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let t = goro::time::Timer::new(Duration::from_secs(3600));
///     assert!(t.stop(), "it was active");
///     assert!(!t.reset(Duration::from_millis(1)), "stopped: not active");
///     assert!(t.receiver().unwrap().recv().is_some());
/// });
/// ```
pub struct Timer {
    t: Arc<RawTimer>,
    rx: Option<Receiver<Instant>>,
}

impl Timer {
    /// A timer that sends the time on its channel `d` from now (Go's `time.NewTimer`).
    pub fn new(d: Duration) -> Timer {
        let (t, rx) = channel_timer(0);
        t.reset(nanos(d), 0, || {});
        Timer { t, rx: Some(rx) }
    }

    /// The channel the time is sent on (Go's `t.C`); `None` for an [`after_fn`] timer.
    pub fn receiver(&self) -> Option<&Receiver<Instant>> {
        self.rx.as_ref()
    }

    /// Stops the timer; returns whether it was active: it had not fired or been stopped, or
    /// it had fired and nobody had received the value, which the stop takes back (Go 1.23's
    /// result: the classic `if !t.stop() { t.receiver().unwrap().recv(); }` then never waits
    /// for ever). After it returns, no value from before is on the channel.
    pub fn stop(&self) -> bool {
        let mut drained = false;
        self.t.stop(|| drained = self.drain()) || drained
    }

    /// Makes the timer fire `d` from now, as if new; returns whether it was active (as
    /// [`stop`](Timer::stop) counts it). No value from before is on the channel after it
    /// returns.
    pub fn reset(&self, d: Duration) -> bool {
        let mut drained = false;
        self.t.reset(nanos(d), 0, || drained = self.drain()) || drained
    }

    /// Empties the channel; whether it held a value (the timer fired and nobody received).
    fn drain(&self) -> bool {
        self.rx.as_ref().is_some_and(Receiver::drain)
    }
}

/// Sends the time on a channel every period (Go's `time.Ticker`). Ticks a slow receiver has
/// not taken are dropped, not queued.
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let t = goro::time::Ticker::new(Duration::from_millis(1));
///     for _ in 0..3 {
///         t.receiver().recv().unwrap();
///     }
///     t.stop();
/// });
/// ```
pub struct Ticker {
    t: Arc<RawTimer>,
    rx: Receiver<Instant>,
}

impl Ticker {
    /// A ticker with period `d` (Go's `time.NewTicker`).
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "goro: non-positive interval for Ticker::new");
        let (t, rx) = channel_timer(nanos(d));
        t.reset(nanos(d), nanos(d), || {});
        Ticker { t, rx }
    }

    /// The channel the ticks arrive on (Go's `t.C`).
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker; no tick from before is on the channel afterwards.
    pub fn stop(&self) {
        self.t.stop(|| {
            self.rx.drain();
        });
    }

    /// Stops the ticker and restarts it with period `d`.
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(
            !d.is_zero(),
            "goro: non-positive interval for Ticker::reset"
        );
        self.t.reset(nanos(d), nanos(d), || {
            self.rx.drain();
        });
    }
}
