//! [`Stats`]: what a runtime has done (counters) and what it is doing now (goroutines,
//! threads and Ps by state), and how long its blocking system calls lasted: what a service
//! exports to its metrics system.
//!
//! Counting costs the fast paths nothing they did not do already: counters are kept per P by
//! their owner (plain stores) or bumped on slow paths, and merged when read; the states are
//! read from the scheduler's own fields when asked. Reading takes the scheduler lock for a
//! moment (as Go's `schedtrace` does), so read a few times a second, not in a tight loop.

use core::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use crate::runtime::g::WaitReason;
use crate::runtime::metrics::BUCKETS;
use crate::runtime::p::{P_STACKS, PGCSTOP, PIDLE, PRUNNING, PSYSCALL};
use crate::runtime::sched::Sched;

/// What a runtime has done so far, and what it is doing now.
///
/// The counters only grow. The states (`goroutines`, `thread_states`, `procs`) are a snapshot
/// read while the runtime runs: a goroutine or thread in the middle of a transition may be
/// counted in a neighbouring state, so their sums can be off by a few from `live_goroutines`
/// and `thread_states.total`.
///
/// Read it from inside a goroutine with [`goro::stats`](crate::stats), or from any thread
/// with [`Runtime::stats`](crate::Runtime::stats) or a [`StatsHandle`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Successful steals from another P's run queue.
    pub steals: u64,
    /// Goroutines moved by those steals.
    pub stolen: u64,
    /// OS threads (Ms) started.
    pub threads: u64,
    /// Goroutines spawned and not finished.
    pub live_goroutines: u64,
    /// Stacks kept for reuse, and the most that are kept.
    pub pooled_stacks: usize,
    pub pooled_stacks_bound: usize,
    /// System calls whose goroutine took its own P back on return (`exitsyscallfast`).
    pub syscalls_fast: u64,
    /// ... that found their P gone and took an idle one (`exitsyscallfast_pidle`).
    pub syscalls_idle_p: u64,
    /// ... that found none idle and took the P of another goroutine's call of a number that
    /// blocked lately (that call's goroutine gets a P when it returns).
    pub syscalls_took_blocked: u64,
    /// ... that found no P and went through the scheduler (`exitsyscall0`).
    pub syscalls_slow: u64,
    /// ... that found no P to take while goroutines already waited for one, after a call of a
    /// number that blocked lately, and ran on without one, as a goroutine preempted by handoff
    /// does, rather than queue behind them (the next runtime entry looks for a P again).
    pub syscalls_ran_on: u64,
    /// Ps that sysmon retook from a system call and handed off.
    pub retaken: u64,
    /// ... of which at its first sight of the call: a call of a number that blocked last time,
    /// still in the kernel after sysmon watched it for 10 us with work waiting for its P.
    pub retaken_watched: u64,
    /// Ps handed off at once by a known-blocking call ([`blocking`](crate::blocking)).
    pub handed_off: u64,
    /// Ps handed off at once by a system call whose number blocked lately, made while work
    /// waited for the P (instead of waiting for sysmon to retake it).
    pub handed_off_on_entry: u64,
    /// Preemption signals sysmon sent, and goroutines they moved off their P (preemption by
    /// handoff).
    pub preempt_signals: u64,
    pub preempted: u64,
    /// ... of the signals, those sent before the 10 ms slice was up, to a goroutine whose
    /// thread was off its CPU and asleep: blocked in the kernel outside goro's wrappers
    /// (`std::fs`, `std::thread::sleep`). A thread merely waiting for a CPU is not signalled.
    pub preempt_signals_off_cpu: u64,
    /// Stops of the world ([`set_max_procs`](crate::set_max_procs)).
    pub stop_the_worlds: u64,
    /// Goroutines now, by state.
    pub goroutines: GoroutineStates,
    /// The runtime's OS threads now, by what they do.
    pub thread_states: ThreadStates,
    /// Ps now, by status.
    pub procs: ProcStates,
    /// For each system-call number that blocked: how long its calls lasted (see
    /// [`SyscallHistogram`]), by number.
    pub blocking_syscalls: Vec<SyscallHistogram>,
}

/// Goroutines by state (Go's `_Grunning`, `_Gsyscall`, `_Grunnable`, `_Gwaiting`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoroutineStates {
    /// Running on a thread that holds a P.
    pub running: u64,
    /// In a system call, in [`blocking`](crate::blocking), or preempted by handoff: on a
    /// thread, without a P.
    pub syscall: u64,
    /// Waiting for a P: on a run queue, or just made or readied.
    pub runnable: u64,
    /// Parked until something readies them.
    pub waiting: u64,
    /// `waiting`, by reason, in Go's words (`"chan receive"`, `"sleep"`, `"sync.Mutex.Lock"`,
    /// ...); reasons with no goroutine are left out.
    pub waiting_by_reason: Vec<(&'static str, u64)>,
}

/// The runtime's OS threads by what they do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadStates {
    /// Threads alive: the Ms and sysmon.
    pub total: u64,
    /// Ms holding a P (running goroutines or looking for them).
    pub with_p: u64,
    /// Ms in a system call (or `blocking`) without a P.
    pub in_syscall: u64,
    /// Ms asleep on the idle list.
    pub idle: u64,
    /// Ms looking for work to steal.
    pub spinning: u64,
    /// Ms wired to a goroutine ([`lock_os_thread`](crate::lock_os_thread)).
    pub locked: u64,
}

/// Ps by status (Go's `_Pidle`, `_Prunning`, `_Psyscall`, `_Pgcstop`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcStates {
    pub idle: u64,
    pub running: u64,
    /// Left by a goroutine in a system call, not yet retaken.
    pub syscall: u64,
    /// Stopped for a stop-the-world.
    pub stopped: u64,
}

/// How long the calls of one system-call number lasted, for calls that blocked: those whose P
/// sysmon retook while they were in the kernel. A call that keeps its P is not timed (that
/// would cost every call a clock read); a call that blocked is timed from sysmon's first sight
/// of it, at most one sysmon tick (20 us while calls are being made) after it began, to its
/// return, so short blocks read a little short.
///
/// ```
/// use goro::SyscallHistogram;
/// use std::time::Duration;
/// // Bucket 0 counts calls under 1 us, bucket i calls of [2^(i-1), 2^i) us.
/// assert_eq!(SyscallHistogram::bucket_bounds(0), (Duration::ZERO, Some(Duration::from_micros(1))));
/// assert_eq!(
///     SyscallHistogram::bucket_bounds(11),
///     (Duration::from_micros(1024), Some(Duration::from_micros(2048)))
/// );
/// // The last bucket, and any index past it, has no upper bound.
/// assert_eq!(SyscallHistogram::bucket_bounds(usize::MAX).1, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyscallHistogram {
    /// The system-call number (`linux_raw_sys::general::__NR_read`, ...).
    pub nr: usize,
    /// Calls per duration bucket; see [`bucket_bounds`](SyscallHistogram::bucket_bounds).
    pub buckets: Vec<u64>,
}

impl SyscallHistogram {
    /// The durations bucket `i` counts: `[low, high)`, with no `high` for the last bucket (nor
    /// for an `i` past it, which counts nothing).
    pub fn bucket_bounds(i: usize) -> (Duration, Option<Duration>) {
        let low = if i == 0 { 0 } else { 1u64 << (i - 1).min(63) };
        let high = (i < BUCKETS - 1).then(|| Duration::from_micros(1u64 << i.min(63)));
        (Duration::from_micros(low), high)
    }

    /// Calls counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Reads a runtime's [`Stats`] from any thread, without keeping the runtime alive: give one
/// to a metrics exporter.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
/// let handle = rt.stats_handle();
/// let exporter = std::thread::spawn(move || handle.stats().map(|s| s.procs.idle));
/// rt.run(|| goro::sleep(std::time::Duration::from_millis(1)));
/// assert!(exporter.join().unwrap().is_some());
/// drop(rt);
/// ```
#[derive(Clone, Debug)]
pub struct StatsHandle(pub(crate) Weak<Sched>);

impl StatsHandle {
    /// The runtime's stats, or `None` once it has been dropped (its threads may still be
    /// finishing their last lines then, but it runs nothing more).
    pub fn stats(&self) -> Option<Stats> {
        let s = self.0.upgrade()?;
        (!s.shutdown.load(Ordering::Acquire)).then(|| Stats::of(&s))
    }
}

impl Stats {
    pub(crate) fn of(s: &Sched) -> Stats {
        let nprocs = s.nprocs.load(Ordering::Acquire);
        let allp = &s.allp[..nprocs];
        let c = &s.counters;
        let live = s.live_goroutines();
        let mut t = ThreadStates {
            total: s.mlive.load(Ordering::Acquire) as u64 + u64::from(s.sysmon_started()),
            spinning: u64::from(s.nmspinning.load(Ordering::Relaxed)),
            ..ThreadStates::default()
        };
        let mut g = GoroutineStates::default();
        {
            let l = s.locked();
            t.idle = l.midle.len() as u64;
        }
        s.each_m(|m| {
            let has_p = !m.p.load(Ordering::Relaxed).is_null();
            let has_g = !m.curg.load(Ordering::Relaxed).is_null();
            t.with_p += u64::from(has_p);
            t.locked += u64::from(!m.lockedg.load(Ordering::Relaxed).is_null());
            // A running goroutine without a P is in the system-call state, whatever put it
            // there (see `proc_syscall.rs`).
            g.running += u64::from(has_g && has_p);
            g.syscall += u64::from(has_g && !has_p);
        });
        t.in_syscall = g.syscall;
        for why in WaitReason::ALL {
            let n = s.waiting(why);
            if n > 0 {
                g.waiting += n as u64;
                g.waiting_by_reason.push((why.name(), n as u64));
            }
        }
        g.runnable = live.saturating_sub(g.running + g.syscall + g.waiting);
        let mut procs = ProcStates::default();
        for p in allp {
            match p.state() {
                PIDLE => procs.idle += 1,
                PRUNNING => procs.running += 1,
                PSYSCALL => procs.syscall += 1,
                PGCSTOP => procs.stopped += 1,
                _ => {}
            }
        }
        Stats {
            steals: c.steals.load(Ordering::Relaxed),
            stolen: c.stolen.load(Ordering::Relaxed),
            threads: c.threads.load(Ordering::Relaxed),
            live_goroutines: live,
            pooled_stacks: s.stacks.len() + s.allp.iter().map(|p| p.cached_stacks()).sum::<usize>(),
            pooled_stacks_bound: s.stacks.bound() + s.allp.len() * P_STACKS,
            syscalls_fast: s.allp.iter().map(|p| p.fast.load(Ordering::Relaxed)).sum(),
            syscalls_idle_p: s.allp.iter().map(|p| p.pidle.load(Ordering::Relaxed)).sum(),
            syscalls_took_blocked: s.allp.iter().map(|p| p.took.load(Ordering::Relaxed)).sum(),
            syscalls_slow: c.slow.load(Ordering::Relaxed),
            syscalls_ran_on: c.ran_on.load(Ordering::Relaxed),
            retaken: c.retaken.load(Ordering::Relaxed),
            retaken_watched: c.retaken_watched.load(Ordering::Relaxed),
            handed_off: c.handoffs.load(Ordering::Relaxed),
            handed_off_on_entry: c.handed_off_on_entry.load(Ordering::Relaxed),
            preempt_signals: c.preempt_signals.load(Ordering::Relaxed),
            preempted: c.preempted.load(Ordering::Relaxed),
            preempt_signals_off_cpu: c.preempt_signals_off_cpu.load(Ordering::Relaxed),
            stop_the_worlds: c.stw.load(Ordering::Relaxed),
            goroutines: g,
            thread_states: t,
            procs,
            blocking_syscalls: s
                .syscall_hist
                .snapshot()
                .into_iter()
                .map(|(nr, b)| SyscallHistogram {
                    nr,
                    buckets: b.to_vec(),
                })
                .collect(),
        }
    }
}
