//! sysmon: the monitor thread, with no P (Go's `sysmon`). It retakes Ps that sit in system
//! calls, and preempts goroutines that hold a P too long while others wait, or a timer of
//! that P is due (preemption by handoff; see `proc_syscall.rs`).
//!
//! It sleeps 20 us between rounds, doubling after 1 ms without work up to 10 ms. When it would
//! sleep longer than [`WAKE_ON_SYSCALL`] it sets `sysmonwait`, so the next `entersyscall` wakes
//! it: a call that blocks is then retaken within two short ticks instead of up to 10 ms later.
//! Not a call of a number sure to block (it hands its P off itself when work waits), unless
//! its P holds timers or goroutines wait for the network (see `entersyscall_sysmon`). Each
//! burst of short ticks so bought that finds nothing to do doubles the sleep a call may cut
//! short, until none may (see [`CallWake`]).
//! With every P idle it sleeps until woken. Its timer slack is 1 ns: the default 50 us would
//! turn every 20 us tick into about 100 us on these machines (even at 1 ns a 20 us sleep lasts
//! ~39 us here: any sleep costs ~18 us more than asked on these VMs).
//!
//! Go retakes a P whose system call it saw at two rounds in a row, so a call that blocks waits
//! one to two ticks. sysmon here watches a call at its first sight when work waits for its P:
//! it spins up to [`SHORT_CALL`] (10 us) and retakes the P if the call is still in the kernel
//! and its thread asleep there (one that waits for a CPU is left to Go's rule, a tick later,
//! which reads the thread too: see [`CallThread`]). A retake marks the call's number; a
//! watched call that returns in time, begun just before, clears its number's marks (see
//! [`watch`]), so a number whose calls are short again (a `write` to a pipe that blocked once,
//! then to `/dev/null`) stops handing its P off at entry. With one P the watch took the
//! harness's retake median from ~95 us to ~60 us (for marked numbers), and its first
//! sample's from ~220 us to ~150 us (for all).
//!
//! A P retaken from a call for waiting work goes to an M; if none is idle, one is made, which
//! costs ~100 us or more here before it runs. So after such a retake sysmon leaves a spare M
//! parked if none is idle (`Sched::start_spare`): the next call that blocks while work waits
//! gets its P to a woken thread. It is made at once if the retake's P went to a thread still
//! starting, and a round later (once no round wakes an M) if it went to an idle M, whose
//! wake-up the new thread's start would delay (see [`Spare`]). Making it takes sysmon longer
//! than a tick, so it looks again at once after.
//!
//! Whether a call's thread sleeps is read from `/proc` (see `threadstate.rs`); a watched
//! call's file is opened during the watch, once the call is seen still in.

use core::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::enterflags::SYSMONWAIT;
use super::m::M;
use super::p::{P, PIDLE, PRUNNING, PSYSCALL};
use super::proc_syscall::{handoffp, retake_syscall};
use super::sched::Sched;
use super::schedtrace::Tracer;
use super::threadstate::{StatFile, runnable};
use super::trace::{self, Kind};
use super::{signal, sys};

/// The shortest sleep between rounds.
const MIN_DELAY: Duration = Duration::from_micros(20);
/// The longest.
const MAX_DELAY: Duration = Duration::from_millis(10);
/// Sleeps at least this long are cut short by the next system call, while calls have been
/// found blocking (see [`CallWake`]).
const WAKE_ON_SYSCALL: Duration = Duration::from_millis(1);
/// A goroutine that holds its P this long while others wait is preempted (Go's
/// `forcePreemptNS`).
pub(crate) const FORCE_PREEMPT: Duration = Duration::from_millis(10);
/// A goroutine holding its P while others wait is preempted well before [`FORCE_PREEMPT`] if
/// its thread spent under a quarter of this long on a CPU (see [`off_cpu`]).
const OFF_CPU_WINDOW: Duration = Duration::from_micros(20);
/// sysmon polls the network when nobody has for this long (Go's 10 ms).
const NETPOLL_STALE: Duration = Duration::from_millis(10);
/// A call still in the kernel this long after sysmon first saw it is no short call (a short
/// write takes a microsecond): with work waiting for its P, sysmon retakes it then rather than
/// a tick later.
pub(crate) const SHORT_CALL: Duration = Duration::from_micros(10);
/// A call first seen at most this long after sysmon's previous look at its P is young: it
/// began after that look (see [`watch`]). A few of sysmon's shortest ticks (~39 us each here).
const RECENT_LOOK: Duration = Duration::from_micros(100);
/// A P in a system call is left alone this long if there is nothing for it to do and other Ps
/// are free.
const SYSCALL_GRACE: Duration = Duration::from_millis(10);

/// How long a sleep of sysmon's a system call's entry may cut short. A wake-up buys ~10 short
/// ticks, which retake the call within two of them if it blocks; a program whose calls are
/// all short pays for those ticks and never gains. `short-syscalls` (two Ps making `write`s to
/// `/dev/null` back to back) had sysmon woken every ~1.7 ms, ~10 k ticks a second, each taking
/// one of the two CPUs from a goroutine: 7.7 M calls/s against 9.2 M with no such wake-up. So
/// each burst that ends with nothing preempted or retaken doubles the sleep a call must
/// interrupt, from [`WAKE_ON_SYSCALL`] until it exceeds [`MAX_DELAY`] and no call wakes
/// sysmon (Go's rule: a blocked call waits for the next tick, up to 10 ms); any round that
/// preempts or retakes for work brings it back to [`WAKE_ON_SYSCALL`].
#[derive(Default)]
struct CallWake {
    /// The sleep a call may cut short is `WAKE_ON_SYSCALL << level`.
    level: u32,
    /// A call woke sysmon, and no round since has done anything.
    burst: bool,
}

impl CallWake {
    /// `WAKE_ON_SYSCALL << MAX_LEVEL` exceeds `MAX_DELAY`: no call wakes sysmon.
    const MAX_LEVEL: u32 = 4;

    /// Whether a sleep of `delay` is one a call's entry may cut short.
    fn cuts(&self, delay: Duration) -> bool {
        delay >= WAKE_ON_SYSCALL * (1 << self.level)
    }

    /// A round's outcome: whether it preempted or retook a P for work.
    fn round(&mut self, acted: bool) {
        if acted {
            self.level = 0;
            self.burst = false;
        }
    }

    /// sysmon goes to a long sleep, with every P idle or not: a burst that came to nothing
    /// (the program kept running) raises the bar for the next.
    fn long_sleep(&mut self, all_idle: bool) {
        if core::mem::take(&mut self.burst) && !all_idle {
            self.level = (self.level + 1).min(Self::MAX_LEVEL);
        }
    }
}

/// What sysmon saw of one P at its last round (Go's `sysmontick`).
#[derive(Clone, Copy)]
struct PData {
    schedtick: u32,
    schedwhen: u64,
    syscalltick: u32,
    syscallwhen: u64,
    /// A preemption signal went to its M: retake it as soon as it is in `Psyscall`.
    sysretake: bool,
    /// When sysmon last read the running M's CPU clock in this slice (0: not yet), which
    /// thread, and what it read (see [`off_cpu`]).
    cpu_at: u64,
    cpu_tid: i32,
    cpu: u64,
    /// When sysmon last looked at the P (the clock read before that round; 0: never). A call
    /// first seen now began after that look.
    looked: u64,
    /// The P's `passes` when sysmon saw them change, or the P idle, last, and when.
    passes: u32,
    passwhen: u64,
}

impl Default for PData {
    /// Ticks no P can have yet, so the first sighting of a P in a system call records it
    /// instead of finding it "unchanged" since time zero and retaking it at once.
    fn default() -> PData {
        PData {
            schedtick: u32::MAX,
            schedwhen: 0,
            syscalltick: u32::MAX,
            syscallwhen: 0,
            sysretake: false,
            cpu_at: 0,
            cpu_tid: 0,
            cpu: 0,
            looked: 0,
            passes: u32::MAX,
            passwhen: 0,
        }
    }
}

impl PData {
    /// Samples thread `tid`'s CPU clock, `cpu` read at `now`: how long the thread ran since the
    /// sample kept, and how long ago that was; `None` if none is kept of this thread (`cpu_at`
    /// is cleared at a new call). The sample is kept for the next one if `slide` (a window
    /// between two looks), else only if it is the first (a call's life since sysmon first
    /// sampled it).
    fn cpu_sample(&mut self, tid: i32, cpu: u64, now: u64, slide: bool) -> Option<(u64, u64)> {
        let first = self.cpu_at == 0 || self.cpu_tid != tid;
        let since = (!first).then(|| {
            (
                cpu.saturating_sub(self.cpu),
                now.saturating_sub(self.cpu_at),
            )
        });
        if first || slide {
            (self.cpu_at, self.cpu_tid, self.cpu) = (now, tid, cpu);
        }
        since
    }
}

/// Starts the monitor thread of `sched`.
pub(crate) fn start(sched: Arc<Sched>) {
    super::threads::add_thread();
    super::threads::spawn("goro-sysmon".into(), 128 * 1024, move || sysmon(&sched));
}

/// Monotonic nanoseconds.
pub(crate) fn nanotime() -> u64 {
    clock_ns(linux_raw_sys::general::CLOCK_MONOTONIC as i32).unwrap_or(0)
}

/// The time of `clock` in nanoseconds. Through the vDSO, whose `clock_gettime` makes the
/// system call itself for clocks it does not keep (CPU clocks).
fn clock_ns(clock: i32) -> Option<u64> {
    let ts = crate::linux::vdso::Vdso::get().clock_gettime(clock).ok()?;
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The CPU time thread `tid` of this process has used, in nanoseconds. Its clock id is built
/// as the kernel's `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)` builds it
/// (`include/linux/posix-timers_types.h`, not in the UAPI headers): the complemented id above
/// three bits, then the per-thread bit (4) and the scheduler clock (2).
fn thread_cpu_ns(tid: i32) -> Option<u64> {
    const CPUCLOCK_PERTHREAD_SCHED: i32 = 4 | 2;
    clock_ns((!tid << 3) | CPUCLOCK_PERTHREAD_SCHED)
}

fn sysmon(sched: &Sched) {
    sys::set_timerslack(1);
    let mut pd = vec![PData::default(); sched.allp.len()];
    let mut delay = MIN_DELAY;
    let mut idle = 0u32;
    let mut call_wake = CallWake::default();
    let mut tracer = Tracer::new(sched.debug);
    // The last round wanted a spare M after it (see `Spare::NextRound`).
    let mut spare_due = false;
    // The last round started a spare M: making its thread took longer than a tick (~80 us
    // here), so this round looks at once.
    let mut spawned = false;
    while !sched.shutdown.load(Ordering::Acquire) {
        let look_now = core::mem::take(&mut spawned);
        delay = if idle == 0 {
            MIN_DELAY
        } else if idle > 50 {
            (delay * 2).min(MAX_DELAY)
        } else {
            delay
        };
        // A long sleep is decided under the lock, as Go's sysmon does: whoever takes a P off
        // the idle list or ends a stop-the-world holds it too and wakes us, so sysmon never
        // goes to sleep just after the last reason for it went away. The short ticks take no
        // lock.
        let all_idle = || {
            sched.gcwaiting()
                || sched.npidle.load(Ordering::Acquire) as usize
                    == sched.nprocs.load(Ordering::Acquire)
        };
        let sleep = if call_wake.cuts(delay) || all_idle() {
            let _l = sched.locked();
            if sched.shutdown.load(Ordering::Acquire) {
                break;
            }
            let all_idle = all_idle();
            call_wake.long_sleep(all_idle);
            let long = all_idle || call_wake.cuts(delay);
            // Sleep on the note, so `entersyscall` (or a P starting) can cut it short.
            sched.enter_flags.set(SYSMONWAIT, long);
            sched.sysmon_deep.store(all_idle, Ordering::Release);
            long.then_some(all_idle)
        } else {
            None
        };
        if let Some(all_idle) = sleep {
            let long = if all_idle {
                Duration::from_secs(60)
            } else {
                delay
            };
            // Not past the next trace (Go's sysmon does not sleep deeply while tracing).
            let due = tracer
                .as_ref()
                .map_or(long, |t| Duration::from_nanos(t.until_due(nanotime())));
            let woken = sched.sysmon_note.sleep_for(long.min(due));
            let syscall = {
                let _l = sched.locked();
                sched.enter_flags.set(SYSMONWAIT, false);
                sched.sysmon_deep.store(false, Ordering::Release);
                sched.sysmon_note.clear();
                sched.sysmon_syscall_wake.swap(false, Ordering::Relaxed)
            };
            if woken && syscall {
                // A goroutine entered a system call: a few short ticks catch it if it blocks,
                // then back off again. A P that left the idle list (work appeared) leaves the
                // tick as it was (see `wake_sysmon_deep_locked`).
                idle = 40;
                delay = MIN_DELAY;
                call_wake.burst = true;
            }
        } else if !look_now {
            let _ = sys::nanosleep(delay);
        }
        let now = nanotime();
        let (n, spare) = retake(sched, &mut pd, now);
        // A spare the last round left for this one waits again if this round woke an M too.
        let due = core::mem::replace(&mut spare_due, spare == Spare::NextRound);
        spawned = (spare == Spare::Now || due && spare == Spare::No) && sched.start_spare();
        let acted = n > 0;
        call_wake.round(acted);
        if acted {
            idle = 0;
        } else {
            idle += 1;
        }
        // Poll the network if nobody has for 10 ms (Go's sysmon): Ms busy with goroutines
        // that never run out of work would otherwise leave ready descriptors unseen.
        let last = sched.lastpoll.load(Ordering::Acquire);
        if last != 0
            && now.saturating_sub(last) > NETPOLL_STALE.as_nanos() as u64
            && super::netpoll::any_waiters()
            && sched
                .lastpoll
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // What it finds does not make sysmon tick faster (Go's does not either): with
            // every P busy (10,000 connections), it polls every 10 ms and finds something
            // each time, and going back to 20 us ticks then cost 5,000 sleeps a second.
            let mut list = super::netpoll::GList::new();
            if super::netpoll_epoll::netpoll_now(&mut list) > 0 {
                sched.injectglist(None, &mut list);
            }
        }
        // Overdue timers while Ps sit idle and nobody looks for work: the timer sleeper
        // should have run them; start an M in case it could not (Go's sysmon does the same).
        if sched.next_timer() <= now
            && sched.npidle.load(Ordering::Acquire) > 0
            && sched.nmspinning.load(Ordering::Acquire) == 0
        {
            sched.wakep();
        }
        if let Some(t) = &mut tracer {
            t.tick(sched, now);
        }
    }
    super::threads::remove_thread();
}

/// One round over the Ps (Go's `retake`): preempt long runners, retake Ps stuck in system
/// calls. Returns how many Ps it preempted, or retook for work waiting: a P retaken with
/// nothing waiting goes idle, which is no reason to tick faster (Go counts it: in the harness's
/// `handoff` that kept sysmon at 25 k wake-ups a second on CPUs the computing goroutines use).
/// And when it wants a spare M started.
fn retake(sched: &Sched, pd: &mut [PData], now: u64) -> (usize, Spare) {
    let mut n = 0;
    let mut spare = Spare::No;
    let nprocs = sched.nprocs.load(Ordering::Acquire);
    for (p, d) in sched.allp[..nprocs].iter().zip(pd.iter_mut()) {
        let looked = core::mem::replace(&mut d.looked, now);
        let s = p.status.load(Ordering::Acquire);
        let passes = p.passes.load(Ordering::Relaxed);
        if s == PIDLE || d.passes != passes {
            // An idle P keeps nothing from its queue and timers (and leaves the idle list
            // with a new `passes`).
            (d.passes, d.passwhen) = (passes, now);
        }
        if s == PRUNNING || s == PSYSCALL {
            let t = p.schedtick.load(Ordering::Relaxed);
            let long = now.saturating_sub(d.schedwhen) >= FORCE_PREEMPT.as_nanos() as u64;
            if d.schedtick != t {
                d.schedtick = t;
                // The slice is timed from a clock read after its tick was: `now` was read
                // before this look, and a sysmon descheduled in between would date the slice
                // to before it began, and end it early.
                d.schedwhen = nanotime();
                d.sysretake = false;
                d.cpu_at = 0;
            } else if s == PRUNNING
                && others_waiting(sched, p, now)
                && (long || off_cpu(p, d, now))
                // Only an M running a goroutine (as Go's `preemptone`): one in the scheduler
                // that has just taken the P off the idle list still has the tick of the slice
                // the P ran before it went idle, whose time (the idle time with it) would end
                // the slice about to begin. `execute` starts the slice before it sets `curg`,
                // so the tick read below is the new one if `curg` is.
                && runs_goroutine(p)
                // Still the slice seen at `t`: a sysmon descheduled since (a loaded machine)
                // may have read the status of a P just taken and its tick from before the
                // new slice's bump, and must not end that slice on the old one's time.
                && p.schedtick.load(Ordering::Relaxed) == t
            {
                d.cpu_at = 0;
                if sched.npidle.load(Ordering::Acquire) > 0 {
                    // An idle P can take the waiting work: wake it rather than preempt.
                    sched.wakep();
                } else {
                    // Ends the slice at the next switch on the P even if the signal finds the
                    // goroutine in the runtime (Go's `gp.preempt`): a pair handing the P to
                    // each other through `runnext` would never leave it otherwise.
                    p.preempt.store(true, Ordering::Relaxed);
                    if preemptone(sched, p) {
                        if !long {
                            sched
                                .counters
                                .preempt_signals_off_cpu
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        d.sysretake = true;
                        d.schedwhen = now;
                        // Short ticks from here: the P is retaken as soon as the handler has
                        // put the goroutine into the system-call state.
                        n += 1;
                    }
                }
            }
        }
        if s != PSYSCALL {
            continue;
        }
        let t = p.syscalltick.load(Ordering::Relaxed);
        let first = !d.sysretake && d.syscalltick != t;
        // Calls that pass the P from one to the next (`exitsyscall_take`, each return a new
        // slice) keep it from the scheduler, which runs its timers and serves the queues, and
        // sysmon may never see one of them at two looks (1 ms sleeps against its 10 ms tick):
        // a timer beside 50 such sleepers on one P waited seconds. Once the P has not been
        // through the scheduler for `FORCE_PREEMPT` while work waits, the call it is in is
        // retaken whatever it is, as a long runner is preempted.
        let starving = now.saturating_sub(d.passwhen) >= FORCE_PREEMPT.as_nanos() as u64
            && others_waiting(sched, p, now);
        if first {
            d.syscalltick = t;
            // The thread's CPU time is sampled afresh for this call (see `call_thread`).
            d.cpu_at = 0;
            // Read after the tick, as a slice's start is: the call is timed (and watched) from
            // no earlier than sysmon saw it.
            let now = nanotime();
            d.syscallwhen = now;
            // A first sighting: Go waits a whole tick for the second look. A call of a number
            // that blocked last time, with work waiting for its P, is watched for
            // `SHORT_CALL` instead. The call began after sysmon's previous look at the P: if
            // that was recent, a return within the watch shows a short call; else the call may
            // have been long, and just ended.
            let young = looked != 0 && now.saturating_sub(looked) <= RECENT_LOOK.as_nanos() as u64;
            if !(starving || others_waiting(sched, p, now) && watch(sched, p, t, now, young)) {
                continue;
            }
        }
        let watched = first && !starving;
        // Leave it if there is nothing for it to do and other Ps are free, for a while: the
        // call will likely return soon and keep its P (Go's rule).
        if !d.sysretake
            && !starving
            && p.runq.is_empty()
            && sched.nmspinning.load(Ordering::Acquire) + sched.npidle.load(Ordering::Acquire) > 0
            && now.saturating_sub(d.syscallwhen) < SYSCALL_GRACE.as_nanos() as u64
        {
            continue;
        }
        // Go's rule, a call seen at two looks, retakes a call whose thread merely waits for a
        // CPU (another M given the P would wait as long). On two CPUs busy with calls that
        // was most of sysmon's retakes, each one putting a third thread on the CPUs, so the
        // next call waited too: `short-syscalls` retook ~300 `write`s to `/dev/null` a run.
        // What is read of the thread here (whether it sleeps in the call) also decides below
        // whether the call's number is marked, without a second read (~30 us each here).
        let mut asleep = None;
        if !first && !d.sysretake && !starving {
            match call_thread(sched, p, t, d) {
                CallThread::WaitsForCpu => continue,
                thread => asleep = Some(thread == CallThread::Asleep),
            }
        }
        // The verdict read `/proc` and a CPU clock, and a sysmon starved of its CPU may wait
        // between: it is of this call only if the P is still in it (a call that returned
        // meanwhile, its thread running on through the next ones, reads as computing).
        if p.syscalltick.load(Ordering::Relaxed) != t {
            continue;
        }
        // Whether the retake gives the P to work (a preempted goroutine's, or waiting): only
        // those keep sysmon on its shortest tick.
        let for_work = d.sysretake || others_waiting(sched, p, now);
        if retake_syscall(p, PIDLE) {
            // The CAS won: sysmon owns the P until `handoffp` gives it away.
            let preempted = core::mem::take(&mut d.sysretake);
            if starving {
                // Once: `handoffp` sends the P through the scheduler.
                d.passwhen = now;
            }
            // A call that blocked (not a goroutine preempted by handoff): its M times it.
            p.call_taken(t, (!preempted).then_some(d.syscallwhen));
            sched.counters.retaken.fetch_add(1, Ordering::Relaxed);
            if watched {
                sched
                    .counters
                    .retaken_watched
                    .fetch_add(1, Ordering::Relaxed);
            }
            let call = if preempted {
                None
            } else {
                call_of(sched, p, t)
            };
            if trace::on() {
                trace::record(Some(sched), Kind::Retake, 0, p.id as u64);
            }
            n += usize::from(for_work);
            // Not for a goroutine preempted by handoff: its next retake is 10 ms away (or an
            // off-CPU window), where a thread's making is lost in the noise; and such a
            // goroutine is often a one-off (the echo server's `Command::spawn`, which waits
            // outside goro's wrappers), which would leave a spare thread for nothing.
            let starting = handoffp(sched, p as *const P as *mut P);
            if for_work && !preempted && !starving {
                spare = spare.max(if starting {
                    Spare::Now
                } else {
                    Spare::NextRound
                });
            }
            // After the handoff, which the read of the thread's state would delay. Blocked for
            // a whole tick, or through a watch (which read the state): its number is watched
            // next time, or (a second time in a row) handed off at entry. Not a call whose
            // thread waits for a CPU or computes in the kernel: that says nothing of whether
            // the number sleeps.
            if let Some((nr, tid)) = call
                && (watched || asleep.unwrap_or_else(|| runnable(tid) != Some(true)))
            {
                sched.may_block.blocked(nr);
            }
        }
    }
    (n, spare)
}

/// When sysmon starts a spare M (see `Sched::start_spare`) after a round that retook a P from
/// a call for waiting work: the next such call then finds an M ready.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Spare {
    No,
    /// The P went to an idle M, woken: a round later, once it runs. Made at once, the new
    /// thread's start kept the woken M from a CPU (the retake's wake-up took 150-170 us
    /// instead of 20-40, on two CPUs).
    NextRound,
    /// The P went to a thread yet to start: at once, as it starts too. The first calls of a
    /// runtime that block come close together (a server's goroutines each reaching their
    /// first read), and a spare one round late was not ready for the next.
    Now,
}

/// Watches `p`, first seen at `now` in the system call of tick `t` with work waiting for it:
/// whether the call is still in the kernel [`SHORT_CALL`] later, its thread asleep there. A
/// call that returns within the watch ends it at once, and clears its number's marks if it is
/// `young`: begun at most [`RECENT_LOOK`] before the watch (sysmon's previous look at the P
/// was that recent). An older call that returns may have been long: sysmon's first sight of
/// a call comes up to a whole sleep after it began (10 ms once backed off), and a 1 ms
/// `nanosleep` first seen in its last 10 us cleared `nanosleep`'s marks, so its calls stopped
/// handing off their P and running on without one until sysmon had retaken two more (in the
/// harness's `handoff`, tens of times a second on a loaded machine). A call whose thread is
/// runnable is never retaken here: on a loaded machine the M watched may be waiting for
/// sysmon's very CPU, which makes a short call look long. (When only numbers that had blocked
/// were watched, for that reason, and before the thread was read, watching every call retook
/// ~50% more short writes in `short-syscalls`.)
fn watch(sched: &Sched, p: &P, t: u32, now: u64, young: bool) -> bool {
    let Some((nr, tid)) = call_of(sched, p, t) else {
        return false;
    };
    let until = now + SHORT_CALL.as_nanos() as u64;
    // The thread's file, opened once the call is seen still in (a short one is back by then,
    // and is spared the opening): within the watch, which waits anyway (a thread's first
    // opening costs 25-45 us here), so the read after it is quick.
    let mut stat = None;
    loop {
        let back = p.state() != PSYSCALL || p.syscalltick.load(Ordering::Relaxed) != t;
        // Read after: a call seen back before `until` came back within the watch.
        let over = nanotime() >= until;
        if back {
            if young && !over {
                sched.may_block.short(nr);
            }
            return false;
        }
        if over {
            break;
        }
        stat.get_or_insert_with(|| StatFile::open(tid));
        core::hint::spin_loop();
    }
    // Still in the kernel: asleep there (or unreadable), it is blocked.
    let stat = stat.unwrap_or_else(|| StatFile::open(tid));
    if stat.and_then(|f| f.runnable()) != Some(true) {
        return true;
    }
    // Or off its CPU: if sysmon's own wake-up took the CPU from the call's M, the spin kept it
    // there. Give it back once, for a descheduled short call to show itself short; a thread
    // that waits for a CPU (other programs' threads hold them) is in no call that blocks, and
    // Go's rule, a tick later, decides.
    sys::sched_yield();
    let back = p.state() != PSYSCALL || p.syscalltick.load(Ordering::Relaxed) != t;
    if back && young {
        sched.may_block.short(nr);
    }
    false
}

/// The number of the system call `p` is in, entered at tick `t`, and its M's thread id, if
/// the M is found.
fn call_of(sched: &Sched, p: &P, t: u32) -> Option<(usize, i32)> {
    // Several Ms may name `p` as their old P (those whose calls lost it and have not returned
    // yet), but only this call's M entered it at tick `t`.
    let mut call = None;
    sched.for_each_m(|m| {
        if core::ptr::eq(m.oldp.load(Ordering::Relaxed), p)
            && m.syscalltick.load(Ordering::Relaxed) == t
        {
            let nr = m.syscall_nr.load(Ordering::Relaxed) as usize;
            call = Some((nr, m.tid.load(Ordering::Relaxed)));
        }
    });
    call
}

/// Work waits for `p`: runnable goroutines on its queue, the global one or the network queue,
/// or a timer of its heap due at `now`. The timer counts: only the M holding `p` (or one
/// looking for work) runs it, so a goroutine computing without entering the runtime, on every
/// P, kept a sleeper's due timer waiting for ever (Go preempts every slice past 10 ms, work
/// waiting or not).
fn others_waiting(sched: &Sched, p: &P, now: u64) -> bool {
    !p.runq.is_empty()
        || sched.runqsize.load(Ordering::Acquire) > 0
        || sched.netq.len() > 0
        || p.timers.next() <= now
}

/// Whether the goroutine holding `p` (others waiting) is blocked in the kernel outside goro's
/// wrappers (`std::fs`, `std::thread::sleep`, a lock of std's), which would otherwise hold the
/// P until [`FORCE_PREEMPT`]: its thread ran for less than a quarter of the [`OFF_CPU_WINDOW`]
/// or more since sysmon's previous reading of its CPU clock, and is asleep ([`runnable`]; one
/// the kernel has merely not run, on a loaded machine, keeps its P). One clock read per P per
/// window, and only while goroutines wait for that P; the state only when the clock says so.
fn off_cpu(p: &P, d: &mut PData, now: u64) -> bool {
    if d.cpu_at != 0 && now.saturating_sub(d.cpu_at) < OFF_CPU_WINDOW.as_nanos() as u64 {
        return false;
    }
    let Some((m, tid)) = running_m(p) else {
        return false;
    };
    // Only a goroutine can be preempted: not an M in the scheduler (a thief's pause holds its
    // P), nor one whose last signal is still pending (a second would merge into it).
    if m.curg.load(Ordering::Relaxed).is_null() || m.preempt_sent.load(Ordering::Relaxed) {
        return false;
    }
    let Some(cpu) = thread_cpu_ns(tid) else {
        return false;
    };
    d.cpu_sample(tid, cpu, now, true)
        .is_some_and(|(ran, window)| ran < window / 4)
        && runnable(tid) != Some(true)
}

/// What sysmon reads of the thread of a call it would retake by Go's rule.
#[derive(PartialEq)]
enum CallThread {
    /// Asleep in the kernel, or its state unreadable: blocked, retaken.
    Asleep,
    /// Runnable, and on a CPU for a quarter of the time since sysmon's first sample of its
    /// CPU clock in this call, and longer than [`SHORT_CALL`]: computing in the kernel,
    /// retaken.
    Computing,
    /// Runnable otherwise: it waits for a CPU and is in no call that blocks (another M given
    /// the P would wait as long), so it keeps the P. A thread with no sample yet is judged so,
    /// and looked at again at the next round.
    WaitsForCpu,
}

/// Reads the thread of the call `p` has been in since sysmon's previous look (entered at tick
/// `t`): see [`CallThread`].
fn call_thread(sched: &Sched, p: &P, t: u32, d: &mut PData) -> CallThread {
    let Some((_, tid)) = call_of(sched, p, t) else {
        return CallThread::Asleep;
    };
    if runnable(tid) != Some(true) {
        return CallThread::Asleep;
    }
    let Some(cpu) = thread_cpu_ns(tid) else {
        return CallThread::Computing;
    };
    // The few microseconds around a short call's instruction, which a thread starved of its
    // CPU can run and still be in the same call (in a debug build most of all), are no
    // computing. Nor is a burst counted to a thread that waited long in one call: on a
    // starved CPU of this VM a short write's thread was charged 27-59 us of CPU in one ~80 us
    // window between two looks of the same call, 28 ms old, and was retaken as computing
    // (1 run in 30 of the starved-CPU test, with the other CPU busy).
    let computing = d
        .cpu_sample(tid, cpu, nanotime(), false)
        .is_some_and(|(ran, window)| ran >= window / 4 && ran >= SHORT_CALL.as_nanos() as u64);
    if computing {
        CallThread::Computing
    } else {
        CallThread::WaitsForCpu
    }
}

/// Whether the M holding `p` runs a goroutine (not the scheduler's own code), or is not known
/// (then `preemptone` finds no M to signal).
fn runs_goroutine(p: &P) -> bool {
    running_m(p).is_none_or(|(m, _)| !m.curg.load(Ordering::Relaxed).is_null())
}

/// The M holding `p` and its thread's id, if it has one and has started.
fn running_m(p: &P) -> Option<(&M, i32)> {
    // SAFETY: Ms are freed only with the runtime, which outlives its Ps' borrows.
    let m = unsafe { p.m.load(Ordering::Acquire).as_ref() }?;
    let tid = m.tid.load(Ordering::Relaxed);
    (tid != 0).then_some((m, tid))
}

/// Signals the M running on `p` to hand its P off (see `proc_syscall.rs`). Returns whether a
/// signal was sent.
pub(crate) fn preemptone(sched: &Sched, p: &P) -> bool {
    let Some((m, tid)) = running_m(p) else {
        return false;
    };
    // Counted before it is sent: the handler counts the preemption at once, and a reader of
    // the counters must never see more preemptions than signals.
    let signals = &sched.counters.preempt_signals;
    signals.fetch_add(1, Ordering::Relaxed);
    // Release: the handler's Acquire swap sees the request with the signal.
    m.preempt_sent.store(true, Ordering::Release);
    if sys::tgkill(signal::pid(), tid, signal::PREEMPT_SIGNAL).is_err() {
        signals.fetch_sub(1, Ordering::Relaxed);
        return false;
    }
    if trace::on() {
        trace::record(Some(sched), Kind::Preempt, 0, p.id as u64);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysmon descheduled between reading the clock and looking at a P (a loaded machine)
    /// must not date the slice it then sees begin to before it began: here the clock was read
    /// 20 ms before the look, and the next look, with work waiting, came at once.
    #[test]
    fn a_slice_is_timed_from_when_sysmon_saw_it() {
        let sched = Sched::new(1, 64 * 1024);
        let p = sched.pidleget().expect("an idle P");
        // SAFETY: just taken off the idle list: ours, and no M runs on it.
        let p = unsafe { &*p };
        p.status.store(PRUNNING, Ordering::Release);
        p.new_slice();
        // A goroutine waits on the global queue (none is there: only the count is read).
        sched.runqsize.store(1, Ordering::Release);
        let mut pd = vec![PData::default(); sched.allp.len()];
        let stale = nanotime() - Duration::from_millis(20).as_nanos() as u64;
        retake(&sched, &mut pd, stale);
        retake(&sched, &mut pd, nanotime());
        assert!(
            !p.preempt.load(Ordering::Relaxed),
            "a slice sysmon first saw just now was ended as 10 ms long"
        );
        sched.runqsize.store(0, Ordering::Release);
    }

    /// A P taken off the idle list by an M that has not yet started a goroutine on it (the M is
    /// in the scheduler, about to run the goroutine that waits) still has the tick of the slice
    /// it ran before it went idle: that slice's time, idle time and all, must not end the one
    /// about to begin. Found by `a_goroutine_back_from_a_blocked_call_gets_a_whole_slice` (1 run
    /// in ~400): sysmon, backed off to 10 ms ticks, last saw the P in a slice 10 ms before, and
    /// signalled the M as it took the P for the next `run`'s goroutine. As in Go's
    /// `preemptone`, only an M running a goroutine is preempted.
    #[test]
    fn a_p_just_taken_off_the_idle_list_is_not_preempted_for_its_old_slice() {
        let sched = Sched::new(1, 64 * 1024);
        let p = sched.pidleget().expect("an idle P");
        // SAFETY: just taken off the idle list: ours, and no M runs on it.
        let p = unsafe { &*p };
        // A slice on the P, which sysmon sees.
        p.status.store(PRUNNING, Ordering::Release);
        p.new_slice();
        let mut pd = vec![PData::default(); sched.allp.len()];
        retake(&sched, &mut pd, nanotime());
        // The P goes idle for longer than a slice, then an M takes it, and is in the scheduler
        // (no goroutine) while one waits on the global queue.
        p.status.store(PIDLE, Ordering::Release);
        std::thread::sleep(FORCE_PREEMPT + Duration::from_millis(2));
        let m = sched.test_m();
        m.tid.store(sys::gettid(), Ordering::Relaxed);
        m.p.store(p as *const P as *mut P, Ordering::Relaxed);
        p.m.store(m as *const M as *mut M, Ordering::Release);
        p.status.store(PRUNNING, Ordering::Release);
        sched.runqsize.store(1, Ordering::Release);
        retake(&sched, &mut pd, nanotime());
        sched.runqsize.store(0, Ordering::Release);
        p.m.store(core::ptr::null_mut(), Ordering::Release);
        m.p.store(core::ptr::null_mut(), Ordering::Relaxed);
        assert!(
            !p.preempt.load(Ordering::Relaxed) && !m.preempt_sent.load(Ordering::Relaxed),
            "an M with no goroutine was preempted for the slice before the P went idle"
        );
    }

    /// A watched call that returns during the watch clears its number's marks only if it began
    /// just before (sysmon's previous look at its P was recent): a long call first seen late
    /// (a `nanosleep(1 ms)` in its last microseconds, sysmon backed off) just ended. Here a
    /// call of a number sure to block, work waiting, returns (its P's tick moves, from another
    /// thread) at a varying moment after sysmon's first sight; with the previous look long ago
    /// the marks stay every time, with one 20 us ago the same timing clears them (the control:
    /// the return did land in the watch).
    #[test]
    fn only_a_young_call_back_within_the_watch_proves_short() {
        const NR: usize = 35;
        let sched = Sched::new(1, 64 * 1024);
        let p = sched.pidleget().expect("an idle P");
        // SAFETY: just taken off the idle list: ours, and no M runs on it.
        let p = unsafe { &*p };
        // The call's M: running (this thread), so a call still in the kernel after the watch
        // is left to Go's rule, never retaken here.
        let m = sched.test_m();
        m.oldp.store(p as *const P as *mut P, Ordering::Relaxed);
        m.syscall_nr.store(NR as u32, Ordering::Relaxed);
        m.tid.store(sys::gettid(), Ordering::Relaxed);
        sched.runqsize.store(1, Ordering::Release);
        let (mut young_cleared, mut old_cleared) = (0, 0);
        for i in 0..400 {
            if young_cleared >= 3 && i >= 40 {
                break;
            }
            let young = i % 2 == 0;
            let t = 7;
            p.syscalltick.store(t, Ordering::Relaxed);
            m.syscalltick.store(t, Ordering::Relaxed);
            p.status.store(PSYSCALL, Ordering::Release);
            sched.may_block.blocked(NR);
            sched.may_block.blocked(NR);
            let mut pd = vec![PData::default(); 1];
            let now = nanotime();
            pd[0].looked = if young { now - 20_000 } else { 0 };
            let delay = (i as u64 / 2 % 8) * 2_000;
            let start = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                s.spawn(|| {
                    start.wait();
                    let at = nanotime() + delay;
                    while nanotime() < at {
                        core::hint::spin_loop();
                    }
                    p.syscalltick.store(t + 1, Ordering::Relaxed);
                });
                start.wait();
                retake(&sched, &mut pd, nanotime());
            });
            assert_eq!(p.status.load(Ordering::Acquire), PSYSCALL, "retaken");
            if !sched.may_block.get(NR) {
                if young {
                    young_cleared += 1;
                } else {
                    old_cleared += 1;
                }
            }
        }
        sched.runqsize.store(0, Ordering::Release);
        assert!(young_cleared >= 1, "no return landed in a watch");
        assert_eq!(
            old_cleared, 0,
            "a call of unknown age back within the watch cleared the marks"
        );
    }
}
