//! The scheduler: the global run queue, the idle P and M lists, spinning Ms, and the loop every
//! M runs on its g0 (Go's `schedule`, `findrunnable`, `execute`, `wakep`, `startm`, `stopm`).
//!
//! Locking: `Sched::lock` guards the global run queue and the idle lists. Counters that the
//! fast paths read without the lock (`npidle`, `nmspinning`, `runqsize`) are kept in step
//! under it and read racily outside, as Go does; every racy read is followed by a locked
//! re-check before anything depends on it.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::context::{prepare, switch};
use super::enterflags::{EnterFlags, GCWAITING, SYSMONWAIT};
use super::g::{G, GDEAD, GRUNNABLE, GRUNNING, GWAITING, WaitReason};
use super::gfree::GlobalFree;
use super::m::{M, Pending, set_current_m};
use super::netpoll::{self, GList};
use super::netpoll_epoll::{BATCH, Poller, netpoll_now};
use super::netq::{AGE_BOUND, FAIR_WAIT, NetQueue};
use super::note::Note;
use super::p::{P, PGCSTOP, PIDLE, PRUNNING};
use super::proc_syscall::handoffp;
use super::stack::StackPool;
use super::sysmon::nanotime;
use super::trace::{self, Kind};
use super::{signal, sys};
use core::time::Duration;

/// Every 61st scheduling round on a P looks at the global queue first, so it cannot starve
/// (Go's `schedtick % 61`).
const GLOBAL_CHECK: u32 = 61;

/// A P taking goroutines from the network queue (`netq.rs`) polls again first every this
/// many scheduling rounds, so the newest readiness is served first, once the queue's oldest
/// entry has waited `FAIR_WAIT`, when the queue turns to newest first: before that, first
/// come first served is quick enough for TCP's 40 ms ACK timeout, and polling sooner only
/// costs system calls (1,000 connections: 4.3x the `epoll_pwait2` calls, 2x the context
/// switches, 1.15x the CPU per round trip).
const DRAIN_EVERY: u32 = 8;
/// Polls of `BATCH` events one drain makes at most: the kernel's ready list is FIFO, so only
/// a drain that empties it sees the newest readiness.
const DRAIN_POLLS: usize = 8;

/// Counters a user can read through `Runtime::stats`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) steals: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) threads: AtomicU64,
    /// `exitsyscall0`: no P on return; the goroutine went through g0.
    pub(crate) slow: AtomicU64,
    /// ... none: a goroutine back from a call ran on without a P (`runs_on_without_p`).
    pub(crate) ran_on: AtomicU64,
    /// Ps retaken by sysmon from a system call.
    pub(crate) retaken: AtomicU64,
    /// ... at sysmon's first sight of the call, after watching it (see `sysmon.rs`).
    pub(crate) retaken_watched: AtomicU64,
    /// Ps handed off at once by `entersyscallblock`.
    pub(crate) handoffs: AtomicU64,
    /// ... by a call of a number that blocked lately, with work waiting (`entersyscall`).
    pub(crate) handed_off_on_entry: AtomicU64,
    /// Preemption signals sent by sysmon, and goroutines the handler put into the system-call
    /// state.
    pub(crate) preempt_signals: AtomicU64,
    pub(crate) preempted: AtomicU64,
    /// Preemption signals sent early, to a goroutine whose thread was off its CPU, asleep.
    pub(crate) preempt_signals_off_cpu: AtomicU64,
    /// Stops of the world.
    pub(crate) stw: AtomicU64,
}

pub(crate) struct Sched {
    /// Unique in the process, never reused: how a `JoinHandle` names its goroutine's runtime
    /// without keeping it alive (see `ended.rs`).
    pub(crate) id: u64,
    lock: Mutex<Locked>,
    /// Every P; the first `nprocs` are in use.
    pub(crate) allp: Box<[P]>,
    pub(crate) nprocs: AtomicUsize,
    /// Ps on the idle list.
    pub(crate) npidle: AtomicU32,
    /// Ms that hold a P and look for work.
    pub(crate) nmspinning: AtomicU32,
    /// Goroutines on the global run queue.
    pub(crate) runqsize: AtomicU32,
    /// Goroutines readied by polls of Ms looking for work, served in order while the oldest
    /// is recent, else newest first within a bound (see `netq.rs`).
    pub(crate) netq: NetQueue<G>,
    pub(crate) stacks: StackPool,
    /// Dead goroutines beyond what the Ps keep (see `gfree.rs`).
    pub(crate) gfree: GlobalFree,
    /// Set when the runtime is shut down: Ms exit instead of looking for work.
    pub(crate) shutdown: AtomicBool,
    /// Ms whose threads have not exited yet.
    pub(crate) mlive: AtomicUsize,
    /// [`end_if_done`](Sched::end_if_done) has run.
    ended: AtomicBool,
    /// Goroutines spawned from outside the runtime (inside, each P counts its own).
    pub(crate) spawned_outside: AtomicU64,
    /// Goroutines readied from outside the runtime, by `WaitReason` (see `P::waits`).
    pub(crate) waits_outside: [core::sync::atomic::AtomicI64; WaitReason::COUNT],
    pub(crate) counters: Counters,
    /// `gcwaiting`, `sysmonwait` and tracing's mirror, in one word for `entersyscall`.
    /// `gcwaiting`: a stop-the-world is under way or pending, Ps go to Pgcstop instead of
    /// running. `sysmonwait`: sysmon sleeps on `sysmon_note` (1 ms or more, or deeply: every P
    /// idle), and `entersyscall` (of a number not sure to block) and `startm` wake it; written
    /// under the lock.
    pub(crate) enter_flags: EnterFlags,
    /// Woken when the last P of a stop-the-world stops.
    pub(crate) stopnote: Note,
    /// Serializes stop-the-world callers.
    pub(crate) stw_lock: Mutex<()>,
    /// sysmon's sleep is the deep one (every P idle): a P leaving the idle list wakes it.
    /// Written under the lock.
    pub(crate) sysmon_deep: AtomicBool,
    /// sysmon was woken by `wake_sysmon_locked` (a system call), not by a P leaving the idle
    /// list: it goes back to its shortest tick. Written under the lock.
    pub(crate) sysmon_syscall_wake: AtomicBool,
    pub(crate) sysmon_note: Note,
    sysmon_started: AtomicBool,
    /// This runtime's way into the network poller, where an idle M sleeps until the earliest
    /// timer or a ready descriptor (timers and I/O share one sleep).
    pub(crate) poller: Poller,
    /// When the poller was last polled (nanotime), 0 while an M blocks in it: at most one M
    /// of a runtime blocks there (Go's `sched.lastpoll`).
    pub(crate) lastpoll: AtomicU64,
    /// When that M wakes (nanotime), `u64::MAX` for never, 0 if not known yet (Go's
    /// `sched.pollUntil`).
    poll_until: AtomicU64,
    /// Every M this runtime started; freed with the runtime (sysmon reads them at any time).
    allm: Mutex<MList>,
    mnext: AtomicU64,
    /// Keeps the runtime alive for its Ms: each M thread holds a clone.
    this: std::sync::Weak<Sched>,
    /// `GODEBUG`'s `schedtrace` / `scheddetail`, read when the runtime was made.
    pub(crate) debug: super::schedtrace::Debug,
    /// Every live G, with `scheddetail` only.
    pub(crate) allgs: super::schedtrace::AllGs,
    /// How long blocking system calls lasted (see `metrics.rs`).
    pub(crate) syscall_hist: super::metrics::SyscallHist,
    /// The system-call numbers whose last timed call blocked.
    pub(crate) may_block: super::metrics::MayBlock,
}

pub(crate) struct Locked {
    runq_head: *mut G,
    runq_tail: *mut G,
    pidle: Vec<*mut P>,
    pub(crate) midle: Vec<*mut M>,
    /// A spare M whose thread is starting, not yet on `midle` (see `start_spare`): `startm`
    /// hands it a P rather than start another thread. Null if there is none.
    spare: *mut M,
    /// Locked Ms asleep in `stoplockedm` until their goroutine is handed back (Go's
    /// `nmidlelocked`): woken at shutdown.
    pub(crate) mlocked: Vec<*mut M>,
    /// Ps a stop-the-world still waits for.
    pub(crate) stopwait: usize,
}

// SAFETY: the raw pointers are to Gs, Ps and Ms, which are shared between threads by design and
// only touched here under the lock.
unsafe impl Send for Locked {}

/// Every M a runtime started.
struct MList(Vec<*mut M>);
// SAFETY: Ms are shared between threads by design; the list itself is under a mutex.
unsafe impl Send for MList {}

/// Goroutine ids are unique across runtimes.
static GOIDGEN: AtomicU64 = AtomicU64::new(0);

/// Runtime ids, likewise.
static RTIDGEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn next_goid() -> u64 {
    GOIDGEN.fetch_add(1, Ordering::Relaxed) + 1
}

impl Sched {
    pub(crate) fn new(nprocs: usize, stack_size: usize) -> Arc<Sched> {
        super::membarrier::init();
        sys::init_user_slack();
        let debug = super::schedtrace::Debug::from_env();
        let sched = Arc::new_cyclic(|this| Sched {
            id: RTIDGEN.fetch_add(1, Ordering::Relaxed) + 1,
            lock: Mutex::new(Locked {
                runq_head: core::ptr::null_mut(),
                runq_tail: core::ptr::null_mut(),
                pidle: Vec::new(),
                midle: Vec::new(),
                spare: core::ptr::null_mut(),
                mlocked: Vec::new(),
                stopwait: 0,
            }),
            allp: (0..nprocs.max(MAX_PROCS_FLOOR)).map(P::new).collect(),
            nprocs: AtomicUsize::new(nprocs),
            npidle: AtomicU32::new(0),
            nmspinning: AtomicU32::new(0),
            runqsize: AtomicU32::new(0),
            netq: NetQueue::new(),
            // Kept with their pages; past that a stack waits in its region for a batched
            // release (`stack.rs`).
            stacks: StackPool::new(stack_size, 32 + 8 * nprocs),
            gfree: GlobalFree::new(),
            shutdown: AtomicBool::new(false),
            mlive: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            spawned_outside: AtomicU64::new(0),
            waits_outside: Default::default(),
            counters: Counters::default(),
            enter_flags: EnterFlags::new(),
            stopnote: Note::new(),
            stw_lock: Mutex::new(()),
            sysmon_deep: AtomicBool::new(false),
            sysmon_syscall_wake: AtomicBool::new(false),
            sysmon_note: Note::new(),
            sysmon_started: AtomicBool::new(false),
            poller: Poller::new().unwrap_or_else(|e| {
                // The only EINVAL here: the kernel's limit on sets holding the process's.
                let why = if e == crate::linux::errno::Errno::EINVAL {
                    " (more than 500 runtimes alive at once: the kernel's limit on nested \
                     epoll sets)"
                } else {
                    ""
                };
                panic!("goro: cannot create the network poller's descriptors: {e}{why}")
            }),
            lastpoll: AtomicU64::new(nanotime()),
            poll_until: AtomicU64::new(0),
            allm: Mutex::new(MList(Vec::new())),
            mnext: AtomicU64::new(0),
            this: this.clone(),
            debug,
            allgs: super::schedtrace::AllGs::new(debug.scheddetail),
            syscall_hist: Default::default(),
            may_block: Default::default(),
        });
        sched.idle_all_ps();
        super::checkdead::register(&sched);
        sched
    }

    /// The first `nprocs` Ps start idle; the rest, allocated for `set_max_procs`, dead.
    fn idle_all_ps(&self) {
        let mut l = self.locked();
        let n = self.nprocs.load(Ordering::Relaxed);
        for p in self.allp[..n].iter().rev() {
            self.pidleput_locked(&mut l, p as *const P as *mut P);
        }
        for p in &self.allp[n..] {
            p.status.store(super::p::PDEAD, Ordering::Relaxed);
        }
    }

    pub(crate) fn locked(&self) -> MutexGuard<'_, Locked> {
        // A panic never happens under this lock; if one did, the lists are still consistent.
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Goroutines spawned and not yet finished.
    pub(crate) fn live_goroutines(&self) -> u64 {
        let spawned: u64 = self
            .allp
            .iter()
            .map(|p| p.spawned.load(Ordering::Acquire))
            .sum::<u64>()
            + self.spawned_outside.load(Ordering::Acquire);
        let exited: u64 = self
            .allp
            .iter()
            .map(|p| p.exited.load(Ordering::Acquire))
            .sum();
        spawned.saturating_sub(exited)
    }

    // ---- the global run queue (Go's globrunqput / globrunqget) ----

    pub(crate) fn globrunqput_locked(l: &mut Locked, gp: *mut G) {
        // SAFETY: `gp` is owned by the caller and now by the queue; links are under the lock.
        unsafe { *(*gp).schedlink.get() = core::ptr::null_mut() };
        if l.runq_tail.is_null() {
            l.runq_head = gp;
        } else {
            // SAFETY: the tail is a queued G; under the lock.
            unsafe { *(*l.runq_tail).schedlink.get() = gp };
        }
        l.runq_tail = gp;
    }

    /// Puts a runnable G on the global queue.
    pub(crate) fn globrunqput(&self, gp: *mut G) {
        let mut l = self.locked();
        Self::globrunqput_locked(&mut l, gp);
        self.runqsize.fetch_add(1, Ordering::Release);
    }

    fn globrunqget_locked(&self, l: &mut Locked, p: &P, max: usize) -> Option<*mut G> {
        let size = self.runqsize.load(Ordering::Relaxed) as usize;
        if size == 0 {
            return None;
        }
        let nprocs = self.nprocs.load(Ordering::Relaxed).max(1);
        let mut n = size.min(size / nprocs + 1).min(super::runq::CAP / 2);
        if max > 0 {
            n = n.min(max);
        }
        let take = |l: &mut Locked| {
            let gp = l.runq_head;
            // SAFETY: a queued G, under the lock.
            l.runq_head = unsafe { *(*gp).schedlink.get() };
            if l.runq_head.is_null() {
                l.runq_tail = core::ptr::null_mut();
            }
            gp
        };
        let first = take(l);
        for _ in 1..n {
            let gp = take(l);
            // The ring has room: the caller's P looks for work only when its queue is empty or
            // at the fairness check, and n is at most half the ring.
            if let Some(o) = p.runq.push(gp, false) {
                o.items.iter().for_each(|&g| Self::globrunqput_locked(l, g));
            }
        }
        self.runqsize.fetch_sub(n as u32, Ordering::Release);
        Some(first)
    }

    /// Takes goroutines from the global queue for `p` (at most `max`, if not 0): one to run,
    /// some more onto `p`'s run queue.
    fn globrunqget(&self, p: &P, max: usize) -> Option<*mut G> {
        let mut l = self.locked();
        self.globrunqget_locked(&mut l, p, max)
    }

    /// Owner of `p` only. Queues `gp` on `p` (in `runnext` if `next`), spilling to the global
    /// queue when the ring is full (Go's `runqput`).
    pub(crate) fn runqput(&self, p: &P, gp: *mut G, next: bool) {
        if let Some(o) = p.runq.push(gp, next) {
            let mut l = self.locked();
            o.items
                .iter()
                .for_each(|&g| Self::globrunqput_locked(&mut l, g));
            self.runqsize
                .fetch_add(o.items.len() as u32, Ordering::Release);
        }
    }

    // ---- idle Ps and Ms ----

    /// Puts `p`, which the caller owns and no M holds, on the idle list; or, while a
    /// stop-the-world is pending, hands it to the stop-the-world instead. The check is made here,
    /// under the lock, because a stop-the-world collects idle Ps once, under the lock, when it
    /// begins: a P idled after that would never be collected and the stop would wait for ever
    /// (Go re-checks `gcwaiting` under `sched.lock` before `pidleput` for the same reason).
    pub(crate) fn pidleput_locked(&self, l: &mut Locked, p: *mut P) {
        if self.gcwaiting() {
            // SAFETY: Ps live as long as the runtime.
            unsafe { (*p).status.store(PGCSTOP, Ordering::Release) };
            self.stopwait_done_locked(l);
            return;
        }
        // SAFETY: Ps live as long as the runtime.
        unsafe { (*p).status.store(PIDLE, Ordering::Release) };
        l.pidle.push(p);
        self.npidle.fetch_add(1, Ordering::Release);
    }

    /// Takes a P off the idle list. sysmon may be in its deep sleep, which it enters only when
    /// every P is idle (checked under the lock): a P leaving the list wakes it from that sleep
    /// only (see `wake_sysmon_deep_locked`).
    pub(crate) fn pidleget_locked(&self, l: &mut Locked) -> Option<*mut P> {
        let p = l.pidle.pop()?;
        // SAFETY: off the idle list under the lock: ours now; Ps live as long as the runtime.
        unsafe { &*p }.passed();
        self.npidle.fetch_sub(1, Ordering::Release);
        self.wake_sysmon_deep_locked();
        Some(p)
    }

    /// One more P has stopped for the stop-the-world under way; the last one wakes its caller.
    pub(crate) fn stopwait_done_locked(&self, l: &mut Locked) {
        debug_assert!(l.stopwait > 0, "a P stopped for no stop-the-world");
        l.stopwait -= 1;
        if l.stopwait == 0 {
            self.stopnote.wakeup();
        }
    }

    /// Any idle P, for `exitsyscallfast_pidle` and the like.
    pub(crate) fn pidleget(&self) -> Option<*mut P> {
        if self.npidle.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut l = self.locked();
        self.pidleget_locked(&mut l)
    }

    // ---- waking and stopping Ms ----

    /// Wakes an M to look for work, if a P is idle and no M is already looking (Go's `wakep`).
    pub(crate) fn wakep(&self) {
        if self.npidle.load(Ordering::Acquire) == 0 {
            return;
        }
        if self.nmspinning.load(Ordering::Acquire) != 0
            || self
                .nmspinning
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.startm(None, true);
    }

    /// Runs `p` (or an idle P) on an idle M, or a new one (Go's `startm`). With `spinning`, the
    /// caller has counted the M in `nmspinning`. Returns whether the P went to a thread that
    /// has yet to start (a new M, or the spare), not to an idle one woken.
    pub(crate) fn startm(&self, p: Option<*mut P>, spinning: bool) -> bool {
        let mut l = self.locked();
        if self.shutdown.load(Ordering::Acquire) {
            // The runtime is ending: start nothing. A P handed to us goes idle; without this
            // an M exiting at shutdown hands its P to a new M, which exits and hands it on, for
            // ever.
            if let Some(p) = p {
                self.pidleput_locked(&mut l, p);
            }
            drop(l);
            if spinning {
                self.nmspinning.fetch_sub(1, Ordering::AcqRel);
            }
            return false;
        }
        let p = match p.or_else(|| self.pidleget_locked(&mut l)) {
            Some(p) => p,
            None => {
                drop(l);
                if spinning {
                    self.nmspinning.fetch_sub(1, Ordering::AcqRel);
                }
                return false;
            }
        };
        let m = l.midle.pop();
        self.wake_sysmon_deep_locked();
        if m.is_none() && !l.spare.is_null() {
            // The spare, its thread still starting: it reads `nextp` as it starts and again
            // under the lock (`park_spare`, which we hold off), so one of the two reads sees
            // this store and it needs no wake-up.
            let m = core::mem::replace(&mut l.spare, core::ptr::null_mut());
            // SAFETY: Ms live with the runtime; both fields are atomics.
            unsafe {
                (*m).nextp.store(p, Ordering::Relaxed);
                (*m).spinning.store(spinning, Ordering::Relaxed);
            }
            return true;
        }
        drop(l);
        match m {
            Some(m) => {
                // SAFETY: an idle M is parked on its note and touches neither field until woken.
                unsafe {
                    (*m).nextp.store(p, Ordering::Relaxed);
                    (*m).spinning.store(spinning, Ordering::Relaxed);
                    (*m).park.wakeup();
                }
                false
            }
            None => {
                self.newm(p, spinning);
                true
            }
        }
    }

    /// Starts a spare M, which parks on the idle list, if there is no idle M nor a spare
    /// starting: sysmon's, after it retook a P for waiting work (see `sysmon.rs`). The next
    /// handoff then wakes an M (~20-50 us here) instead of making a thread (~100 us, about
    /// half of it in `clone` and the mappings, before the thread is even scheduled), while
    /// sysmon waits out the tick it needs to see a blocked call. Go keeps every M it made; this
    /// keeps one more, made only once a call blocked while work waited, so a program that never
    /// blocks makes none. Never past the thread limit: it is no thread the program asked for.
    /// Returns whether it started one.
    pub(crate) fn start_spare(&self) -> bool {
        let mut l = self.locked();
        if self.shutdown.load(Ordering::Acquire)
            || !l.midle.is_empty()
            || !l.spare.is_null()
            || !super::threads::try_add_thread()
        {
            return false;
        }
        let m = self.allocm(core::ptr::null_mut(), false);
        l.spare = m;
        // The thread is made outside the lock: `clone` and the stack's mappings take tens of
        // microseconds.
        drop(l);
        self.spawn_m(m);
        true
    }

    /// The spare M `m`, its thread started: runs the P `startm` handed it meanwhile, or parks
    /// on the idle list until one does. False at shutdown.
    fn park_spare(&self, m: &M) -> bool {
        let mut l = self.locked();
        if core::ptr::eq(l.spare, m) {
            l.spare = core::ptr::null_mut();
        }
        let p = m.nextp.swap(core::ptr::null_mut(), Ordering::Relaxed);
        if !p.is_null() {
            drop(l);
            acquirep(m, p);
            return true;
        }
        self.stopm_locked(l, m)
    }

    /// Starts a new M thread that begins by acquiring `p`.
    fn newm(&self, p: *mut P, spinning: bool) {
        super::threads::add_thread();
        let m = self.allocm(p, spinning);
        self.spawn_m(m);
    }

    /// A new M, listed and counted as live, handed `p` (null for a spare: see `start_spare`).
    /// Its thread is counted by the caller, and started by `spawn_m`.
    fn allocm(&self, p: *mut P, spinning: bool) -> *mut M {
        let m = self.listm();
        // SAFETY: the M is not yet shared.
        unsafe {
            (*m).nextp.store(p, Ordering::Relaxed);
            (*m).spinning.store(spinning, Ordering::Relaxed);
        }
        self.mlive.fetch_add(1, Ordering::AcqRel);
        self.counters.threads.fetch_add(1, Ordering::Relaxed);
        m
    }

    /// A new M with the next id, on the list of the runtime's Ms (freed with them).
    fn listm(&self) -> *mut M {
        let id = self.mnext.fetch_add(1, Ordering::Relaxed) + 1;
        let m = Box::into_raw(Box::new(M::new(self, id)));
        self.allm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .push(m);
        m
    }

    /// Starts the thread of `m`, made by `allocm` (and sysmon, with the first M).
    fn spawn_m(&self, m: *mut M) {
        let sched = self
            .this
            .upgrade()
            .expect("the runtime is alive while it starts Ms");
        if !self.sysmon_started.swap(true, Ordering::AcqRel) {
            super::sysmon::start(sched.clone());
        }
        // SAFETY: Ms live as long as their runtime.
        let id = unsafe { (*m).id };
        let mp = m as usize;
        super::threads::spawn(format!("goro-m{id}"), G0_STACK, move || {
            mstart(sched, mp as *mut M)
        });
    }

    /// Parks the calling M until `startm` hands it a P; returns false at shutdown (Go's
    /// `stopm`).
    pub(crate) fn stopm(&self, m: &M) -> bool {
        self.stopm_locked(self.locked(), m)
    }

    /// [`stopm`](Sched::stopm), the lock taken.
    fn stopm_locked(&self, mut l: MutexGuard<'_, Locked>, m: &M) -> bool {
        if self.shutdown.load(Ordering::Acquire) {
            return false;
        }
        l.midle.push(m as *const M as *mut M);
        self.checkdead_locked(&l);
        drop(l);
        m.park.sleep();
        m.park.clear();
        let p = m.nextp.swap(core::ptr::null_mut(), Ordering::Relaxed);
        if p.is_null() {
            return false; // woken to exit
        }
        acquirep(m, p);
        true
    }

    /// At shutdown: frees the stacks and dead goroutines kept for reuse, in the runtime's lists
    /// and those of idle Ps, which leave the idle list for good (so no M returning from a
    /// system call takes one and its lists again).
    pub(crate) fn release_free_stacks(&self) {
        let idle = {
            let mut l = self.locked();
            let idle = core::mem::take(&mut l.pidle);
            self.npidle.store(0, Ordering::Release);
            idle
        };
        for p in idle {
            // SAFETY: Ps live with the runtime; off the idle list under the lock, so ours.
            let p = unsafe { &*p };
            p.status.store(super::p::PDEAD, Ordering::Release);
            while p.take_stack().is_some() {}
            // SAFETY: the P is ours (above).
            unsafe { p.gfree.clear() };
        }
        self.stacks.clear();
        self.gfree.clear();
    }

    /// Ends the runtime: Ms exit when they next look for work.
    pub(crate) fn begin_shutdown(&self) {
        // SeqCst: against an exiting M's decrement of `mlive` (see `end_if_done`).
        self.shutdown.store(true, Ordering::SeqCst);
        let mut l = self.locked();
        self.wake_sysmon_locked();
        let mut idle = core::mem::take(&mut l.midle);
        idle.append(&mut l.mlocked);
        drop(l);
        self.poller.netpoll_break();
        // The runtime may outlive this, parked goroutines left: free its wakeup path now.
        self.poller.leave();
        for m in idle {
            // SAFETY: an idle M waits on its note; a null nextp tells it to exit.
            unsafe { (*m).park.wakeup() };
        }
    }
}

impl Sched {
    /// After shutdown, once the last M has exited, the runtime has ended: none of its
    /// goroutines runs again (they run only on its Ms, and `startm` starts none at shutdown),
    /// and no M blocks in its poller again. Then closes the poller's descriptors (an
    /// abandoned runtime is never freed and would keep them for good) and has the joins of
    /// any goroutines left stop waiting (`ended.rs`). Called by each exiting M and by
    /// `Runtime`'s drop; runs once, in whichever sees both conditions.
    ///
    /// `shutdown` is stored and `mlive` decremented before each side loads the other, all
    /// `SeqCst`: of the last M's exit and the shutdown, the later one sees the earlier.
    pub(crate) fn end_if_done(&self) {
        if !self.shutdown.load(Ordering::SeqCst)
            || self.mlive.load(Ordering::SeqCst) != 0
            || self.ended.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.poller.release();
        self.hand_timers_to_threads();
        // Every M has gone, so every goroutine that finished has been counted.
        if self.live_goroutines() > 0 {
            super::ended::runtime_ended(self.id);
        }
    }

    /// A handle that does not keep the runtime alive.
    pub(crate) fn weak(&self) -> std::sync::Weak<Sched> {
        self.this.clone()
    }

    /// A timer due at `when` was added (Go's `wakeNetPoller`): if an M blocks in the poller
    /// until later, break its sleep; if none does, start one looking for work, which finds
    /// the timer and sleeps until it (or runs it). With no idle P the busy Ps run it.
    pub(crate) fn timer_added(&self, when: u64) {
        if self.lastpoll.load(Ordering::Acquire) == 0 {
            let until = self.poll_until.load(Ordering::Acquire);
            if until == 0 || until > when {
                self.poller.netpoll_break();
            }
        } else {
            self.wakep();
        }
    }

    /// Queues the goroutines a poll readied (Go's `injectglist`). If the caller is g0 of an M
    /// of this runtime holding a P, the ones idle Ps can take go on the global queue with an M
    /// started for each, and the rest on the caller's P; otherwise all go on the global queue
    /// of their runtime. Goroutines of other runtimes (the epoll set is the process's) go to
    /// their own.
    pub(crate) fn injectglist(&self, mine: Option<&P>, list: &mut GList) {
        let mut global = match mine {
            Some(_) => (self.npidle.load(Ordering::Acquire) as usize).min(list.len),
            None => list.len,
        };
        let mut started = 0;
        while let Some(gp) = list.pop() {
            // SAFETY: a parked G just taken from its semaphore: ours to ready.
            let g = unsafe { &*gp };
            let why = g.waitreason();
            // SAFETY: a G's runtime outlives it.
            let sched = unsafe { &*g.sched };
            g.casstatus(GWAITING, GRUNNABLE);
            match mine {
                Some(p) if core::ptr::eq(sched, self) && global == 0 => {
                    p.count_wait(why, -1);
                    self.runqput(p, gp, false);
                }
                _ => {
                    sched.waits_outside[why as usize].fetch_sub(1, Ordering::Relaxed);
                    sched.globrunqput(gp);
                    if core::ptr::eq(sched, self) {
                        global = global.saturating_sub(1);
                        started += 1;
                    } else {
                        sched.wakep();
                    }
                }
            }
        }
        // Go's `startIdle`.
        for _ in 0..started {
            if self.npidle.load(Ordering::Acquire) == 0 {
                break;
            }
            self.startm(None, false);
        }
    }

    /// Polls the network without blocking, if someone waits and no M blocks in the poller,
    /// until the kernel's ready list is empty or `DRAIN_POLLS` polls have been made, and
    /// queues what it readies on the network queue, newest last (`netq.rs`); goroutines of
    /// other runtimes go home. The caller holds `p` and takes one; if it queued more, wakes an
    /// M to share them (as `injectglist` starts Ms only for the goroutines past the one its
    /// caller runs: waking one for a single goroutine cost ~5% more CPU per round trip at
    /// 1,000 echo connections, in context switches and contention on the epoll set).
    fn netpoll_drain(&self, p: &P) {
        if !netpoll::any_waiters() || self.lastpoll.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = nanotime();
        let mut queued = 0;
        for _ in 0..DRAIN_POLLS {
            let mut list = GList::new();
            let n = netpoll_now(&mut list);
            if n == 0 {
                break;
            }
            self.polled(now);
            // An event readies a reader and a writer at most. The list pops the last
            // readied first: fill from the end, so the batch runs oldest to newest.
            let mut batch = [core::ptr::null_mut(); 2 * BATCH];
            let mut k = batch.len();
            let mut others = GList::new();
            while let Some(gp) = list.pop() {
                // SAFETY: a parked G just taken from its semaphore: ours to ready.
                let g = unsafe { &*gp };
                if !core::ptr::eq(g.sched, self) {
                    others.push(gp);
                    continue;
                }
                g.casstatus(GWAITING, GRUNNABLE);
                p.count_wait(g.waitreason(), -1);
                k -= 1;
                batch[k] = gp;
            }
            self.injectglist(None, &mut others);
            self.netq.put(&batch[k..], now);
            queued += batch.len() - k;
            if n < BATCH {
                break;
            }
        }
        if queued > 1 {
            self.wakep();
        }
    }

    /// A poll that did not block happened at `now`: moves `lastpoll` forward unless an M
    /// blocks in the poller (`lastpoll` 0). Storing over that 0 would let a second M block
    /// there too, and shutdown's single `netpoll_break` wakes only one of them.
    fn polled(&self, now: u64) {
        let _ = self
            .lastpoll
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                (last != 0).then_some(now.max(1))
            });
    }

    /// With a P of this runtime, takes one goroutine of this runtime off `list` to run now.
    fn take_own(&self, mine: Option<&P>, list: &mut GList) -> Option<*mut G> {
        let p = mine?;
        let gp = list.pop()?;
        // SAFETY: as in `injectglist`.
        let g = unsafe { &*gp };
        if !core::ptr::eq(g.sched, self) {
            list.push(gp); // another runtime's: it goes home with the rest
            return None;
        }
        g.casstatus(GWAITING, GRUNNABLE);
        p.count_wait(g.waitreason(), -1);
        Some(gp)
    }

    /// Calls `f` with each M this runtime started; skipped if the list is busy (for dumps from
    /// a watchdog, which must not wait on a hung thread).
    pub(crate) fn for_each_m(&self, mut f: impl FnMut(&M)) {
        if let Ok(all) = self.allm.try_lock() {
            // SAFETY: Ms are freed only with the runtime, which the caller holds.
            all.0.iter().for_each(|&m| f(unsafe { &*m }));
        }
    }

    /// Calls `f` with each M this runtime started, oldest first, waiting for the list.
    pub(crate) fn each_m(&self, f: impl FnMut(&M)) {
        let all = self.allm.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: Ms are freed only with the runtime, which the caller holds.
        all.0.iter().map(|&m| unsafe { &*m }).for_each(f);
    }

    /// An M for a unit test, on no thread: listed with the runtime's Ms (and freed with them).
    #[cfg(test)]
    pub(crate) fn test_m(&self) -> &M {
        let m = self.listm();
        // SAFETY: freed only when the runtime is dropped, which outlives the borrow.
        unsafe { &*m }
    }

    pub(crate) fn sysmon_started(&self) -> bool {
        self.sysmon_started.load(Ordering::Acquire)
    }

    /// Wakes sysmon from its deep sleep only. Its shorter sleeps (up to 10 ms) are cut short
    /// by system calls, not by Ps going busy: with goroutines waiting for the network, Ps go
    /// idle and busy again all the time, and a spinning M starts in every ping-pong; waking
    /// sysmon for each kept it on 20 us ticks, a context switch each.
    /// Such a wake-up leaves sysmon's tick where it was: it resumes its duties without going
    /// back to 20 us ticks, as Go's sysmon does when a timer rather than a system call ends
    /// its deep sleep. Resetting the tick here kept it, in the echo workload (where every P
    /// idles in the poller many times a millisecond), at 7,000 sleeps a second per process.
    pub(crate) fn wake_sysmon_deep_locked(&self) {
        if self.sysmon_deep.load(Ordering::Relaxed) {
            self.wake_sysmon_note_locked();
        }
    }

    /// A stop-the-world is under way or pending (Go's `sched.gcwaiting`).
    #[inline]
    pub(crate) fn gcwaiting(&self) -> bool {
        self.enter_flags.get(GCWAITING)
    }

    /// sysmon sleeps where `entersyscall` or `startm` should wake it (Go's `sched.sysmonwait`).
    pub(crate) fn sysmonwait(&self) -> bool {
        self.enter_flags.get(SYSMONWAIT)
    }

    /// Wakes sysmon from any sleep `entersyscall` may cut short, and has it tick fast again
    /// for a while, in case the call blocks (Go's `entersyscall_sysmon` body).
    pub(crate) fn wake_sysmon_locked(&self) {
        if self.wake_sysmon_note_locked() {
            self.sysmon_syscall_wake.store(true, Ordering::Relaxed);
        }
    }

    /// Wakes sysmon if it sleeps on its note; true if this call woke it. Under the lock, so a
    /// wake-up is never doubled.
    fn wake_sysmon_note_locked(&self) -> bool {
        let wake = self.enter_flags.take(SYSMONWAIT);
        if wake {
            self.sysmon_note.wakeup();
        }
        wake
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        // Every M thread has ended: each held a strong count until its last line.
        for m in self
            .allm
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .drain(..)
        {
            // SAFETY: made by `newm` with `Box::into_raw`, freed only here.
            drop(unsafe { Box::from_raw(m) });
        }
    }
}

/// Every runtime has at least this many Ps allocated, so `set_max_procs` can raise the count
/// up to it (or up to the initial count, if larger).
pub(crate) const MAX_PROCS_FLOOR: usize = 64;

/// The stack of an M's own thread, on which the scheduler (g0) runs.
const G0_STACK: usize = 256 * 1024;

/// Makes `p` the P of `m` (Go's `acquirep`).
pub(crate) fn acquirep(m: &M, p: *mut P) {
    // SAFETY: Ps live as long as the runtime; `p` was handed to this M alone.
    let pr = unsafe { &*p };
    pr.m.store(m as *const M as *mut M, Ordering::Relaxed);
    pr.status.store(PRUNNING, Ordering::Release);
    m.p.store(p, Ordering::Relaxed);
}

/// Takes `m`'s P away from it (Go's `releasep`), after writing the trace's events waiting in
/// `m` (`trace::settle`): the M may sleep now.
pub(crate) fn releasep(m: &M) -> *mut P {
    trace::settle(m);
    let p = m.p.swap(core::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: as for `acquirep`.
    unsafe { (*p).m.store(core::ptr::null_mut(), Ordering::Relaxed) };
    p
}

/// The body of every M thread (Go's `mstart`).
fn mstart(sched: Arc<Sched>, m: *mut M) {
    set_current_m(m);
    // Goroutines run with the program's timer slack (the runtime's own timed sleeps take 1 ns
    // for their length: `with_precise_slack`). Set, not inherited: the thread starting this
    // one may be sysmon, whose slack is 1 ns.
    sys::set_timerslack(sys::user_slack());
    let altstack = signal::minit();
    // SAFETY: this thread is `m` until it returns; Ms are freed with the runtime.
    let mr = unsafe { &*m };
    mr.tid.store(sys::gettid(), Ordering::Relaxed);
    let p = mr.nextp.swap(core::ptr::null_mut(), Ordering::Relaxed);
    // No P: a spare, which may have been handed one since (read under the lock).
    let run = if p.is_null() {
        sched.park_spare(mr)
    } else {
        acquirep(mr, p);
        true
    };
    if run {
        if trace::on() {
            trace::record_m(mr, Kind::ThreadStart, 0, 0);
        }
        schedule(mr);
        if trace::on() {
            trace::record_m(mr, Kind::ThreadStop, 0, 0);
        }
    }
    // Shutdown, or a locked goroutine ended: give the P to someone else.
    if !mr.p().is_null() {
        let p = releasep(mr);
        handoffp(&sched, p);
    }
    drop(altstack);
    mr.tid.store(0, Ordering::Relaxed);
    set_current_m(core::ptr::null_mut());
    super::threads::remove_thread();
    // SeqCst: see `end_if_done`.
    sched.mlive.fetch_sub(1, Ordering::SeqCst);
    sched.end_if_done();
}

/// What `execute` tells the scheduler loop after the goroutine switched back.
pub(crate) enum Next {
    /// Run this goroutine now (it kept or regained a P for it), in a time slice of its own.
    Run(*mut G),
    /// Run it again at once, in the rest of the time slice it was in.
    Resume(*mut G),
    /// Find something to run.
    Schedule,
    /// End this M's thread (its locked goroutine exited).
    ExitThread,
}

/// The scheduler loop on g0: find a goroutine, run it, deal with how it came back. Returns at
/// shutdown or when the thread must end (Go's `schedule`).
fn schedule(m: &M) {
    let sched = m.sched();
    let mut next = None;
    // The M slept since the goroutine it ran last left it.
    let mut slept = false;
    loop {
        let (gp, inherit, straight) = match next.take() {
            // Resumed at once (its park was called off), or handed over with a P.
            Some((gp, inherit)) => (gp, inherit, inherit),
            None => {
                let locked = m.lockedg.load(Ordering::Relaxed);
                if !locked.is_null() {
                    // A locked M runs only its goroutine: wait for it to be runnable.
                    if !super::lockosthread::stoplockedm(m) {
                        return;
                    }
                    (locked, false, false)
                } else {
                    match findrunnable(m) {
                        Some(gp) => gp,
                        None => return,
                    }
                }
            }
        };
        // SAFETY: a G just taken off a queue (or handed to us) lives while queued.
        let lockedm = unsafe { (*gp).lockedm.load(Ordering::Relaxed) };
        if !lockedm.is_null() && !core::ptr::eq(lockedm, m) {
            // Locked to another M: give it our P and the goroutine, and stop.
            super::lockosthread::startlockedm(m, gp);
            if !sched.stopm(m) {
                return;
            }
            slept = true;
            continue;
        }
        let straight = straight && !core::mem::replace(&mut slept, false);
        match execute(m, gp, inherit, straight) {
            Next::Run(gp) => next = Some((gp, false)),
            Next::Resume(gp) => next = Some((gp, true)),
            Next::Schedule => {}
            Next::ExitThread => return,
        }
    }
}

/// A runnable goroutine for `m`, which holds a P, whether it inherits the current time
/// slice, and whether it came straight from the P's own run queue (nothing waited for, no
/// other thread's goroutine: see `trace::go_start`); parks the M when there is none. `None`
/// at shutdown (Go's `findRunnable`).
fn findrunnable(m: &M) -> Option<(*mut G, bool, bool)> {
    let sched = m.sched();
    let mut first = true;
    loop {
        let straight = core::mem::replace(&mut first, false);
        if sched.shutdown.load(Ordering::Acquire) {
            return None;
        }
        if sched.gcwaiting() {
            if !super::stw::gcstopm(m) {
                return None;
            }
            continue;
        }
        // SAFETY: the M holds its P while it looks for work.
        let p = unsafe { &*m.p() };
        // This P's due timers ready their goroutines (Go's `checkTimers`).
        p.timers.check();
        let tick = p.schedtick.load(Ordering::Relaxed);
        if tick % GLOBAL_CHECK == 0
            && sched.runqsize.load(Ordering::Acquire) > 0
            && let Some(gp) = sched.globrunqget(p, 1)
        {
            return Some((found(m, gp), false, false));
        }
        // The same for the network queue's entries past its age bound.
        if tick % GLOBAL_CHECK == 1
            && sched.netq.len() > 0
            && let Some(gp) = sched.netq.get_aged(nanotime(), AGE_BOUND)
        {
            return Some((found(m, gp), false, false));
        }
        if let Some((gp, inherit)) = p.runq.runqget() {
            return Some((found(m, gp), inherit, straight));
        }
        if sched.runqsize.load(Ordering::Acquire) > 0
            && let Some(gp) = sched.globrunqget(p, 0)
        {
            return Some((found(m, gp), false, false));
        }
        // The network, without blocking, before stealing (Go's findRunnable polls there too):
        // in order while the network queue's oldest entry is recent, else the newest readiness
        // first, within its bound. The clock is read only when the queue holds something (a P
        // with nothing to do passes here often).
        if sched.netq.len() == 0
            || (tick % DRAIN_EVERY == 0 && sched.netq.oldest_wait(nanotime()) > FAIR_WAIT)
        {
            sched.netpoll_drain(p);
        }
        if sched.netq.len() > 0
            && let Some(gp) = sched.netq.get(nanotime(), FAIR_WAIT, AGE_BOUND)
        {
            return Some((found(m, gp), false, false));
        }
        // Steal, if spinning is worth it: at most half the busy Ps' worth of spinning Ms.
        let nprocs = sched.nprocs.load(Ordering::Relaxed);
        let busy = nprocs.saturating_sub(sched.npidle.load(Ordering::Acquire) as usize);
        if m.spinning.load(Ordering::Relaxed)
            || 2 * (sched.nmspinning.load(Ordering::Acquire) as usize) < busy
        {
            if !m.spinning.load(Ordering::Relaxed) {
                m.spinning.store(true, Ordering::Relaxed);
                sched.nmspinning.fetch_add(1, Ordering::AcqRel);
            }
            if let Some(gp) = steal_work(sched, p, nprocs) {
                return Some((found(m, gp), false, false));
            }
        }
        // Timers due on any P (one may be busy for a while), before giving up.
        if sched.run_timers(p) > 0 {
            continue;
        }
        // Nothing: give up the P, stop spinning, check once more, sleep.
        {
            let mut l = sched.locked();
            if let Some(gp) = sched.globrunqget_locked(&mut l, p, 0) {
                drop(l);
                return Some((found(m, gp), false, false));
            }
            let p = releasep(m);
            sched.pidleput_locked(&mut l, p);
        }
        // The spinning -> idle transition races with a goroutine readied right now, whose
        // `wakep` saw us spinning and woke nobody: re-check every queue after leaving the
        // count (Go's "delicate dance").
        let was_spinning = m.spinning.swap(false, Ordering::Relaxed);
        if was_spinning {
            sched.nmspinning.fetch_sub(1, Ordering::AcqRel);
            let work = sched.runqsize.load(Ordering::Acquire) > 0
                || sched.netq.len() > 0
                || sched.allp[..nprocs].iter().any(|p| !p.runq.is_empty());
            if work && let Some(p) = sched.pidleget() {
                acquirep(m, p);
                m.spinning.store(true, Ordering::Relaxed);
                sched.nmspinning.fetch_add(1, Ordering::AcqRel);
                continue;
            }
        }
        let next = sched.next_timer();
        if next != u64::MAX && next <= nanotime() {
            if let Some(p) = sched.pidleget() {
                acquirep(m, p);
                continue;
            }
        }
        // Block in the poller until the earliest timer or a ready descriptor, if someone waits
        // for either and no other M of this runtime blocks there (Go's `netpoll(delay)`).
        if (netpoll::any_waiters() || next != u64::MAX)
            && sched.lastpoll.swap(0, Ordering::AcqRel) != 0
        {
            match netpoll_block(m, next) {
                Some(Some(gp)) => return Some((found(m, gp), false, false)),
                Some(None) => continue,
                None => {}
            }
        } else if next != u64::MAX {
            // The poller sleeps until later than our earliest timer: wake it.
            let until = sched.poll_until.load(Ordering::Acquire);
            if until == 0 || until > next {
                sched.poller.netpoll_break();
            }
        }
        if !sched.stopm(m) {
            return None;
        }
    }
}

/// `m`, without a P, blocks in the poller until `next` (nanotime, `u64::MAX`: no timer) or a
/// break, then takes an idle P: `Some(Some(gp))` to run a goroutine the poll readied,
/// `Some(None)` to look for work again (timers may be due), `None` if no P is idle (what the
/// poll readied is queued; the caller stops).
fn netpoll_block(m: &M, next: u64) -> Option<Option<*mut G>> {
    let sched = m.sched();
    sched.poll_until.store(next, Ordering::Release);
    let delay = (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(nanotime())));
    let mut list = GList::new();
    if !sched.shutdown.load(Ordering::Acquire) {
        match delay {
            // Until a timer: on time, not up to the slack later.
            Some(_) => sys::with_precise_slack(|| sched.poller.wait(delay, &mut list)),
            None => sched.poller.wait(delay, &mut list),
        }
    }
    sched.poll_until.store(0, Ordering::Release);
    sched.lastpoll.store(nanotime().max(1), Ordering::Release);
    // Under the lock, never the racy `npidle` shortcut: an M that idles its P under the lock
    // after this either leaves it to us or, taking the lock after us, sees `lastpoll` set and
    // becomes the poller; with the shortcut both could miss the other and nobody would poll.
    let p = {
        let mut l = sched.locked();
        sched.pidleget_locked(&mut l)
    };
    match p {
        Some(p) => {
            acquirep(m, p);
            // SAFETY: just acquired.
            let p = unsafe { &*p };
            let gp = sched.take_own(Some(p), &mut list);
            sched.injectglist(Some(p), &mut list);
            Some(gp)
        }
        None => {
            sched.injectglist(None, &mut list);
            None
        }
    }
}

/// Bookkeeping when `m` found `gp`: a spinning M stops spinning, and if it was the last one,
/// wakes another, since there may be more work (Go's `resetspinning`).
fn found(m: &M, gp: *mut G) -> *mut G {
    if m.spinning.swap(false, Ordering::Relaxed) {
        let sched = m.sched();
        if sched.nmspinning.fetch_sub(1, Ordering::AcqRel) == 1 {
            sched.wakep();
        }
    }
    gp
}

/// Four rounds over the other Ps in a random order, taking half of a run queue; the last round
/// also takes `runnext` (Go's `stealWork`).
fn steal_work(sched: &Sched, p: &P, nprocs: usize) -> Option<*mut G> {
    let mut seed =
        (p.schedtick.load(Ordering::Relaxed) as usize).wrapping_mul(2_654_435_761) ^ p.id;
    for round in 0..4 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let start = (seed >> 33) % nprocs.max(1);
        for i in 0..nprocs {
            let victim = &sched.allp[(start + i) % nprocs];
            if victim.id == p.id {
                continue;
            }
            let before = p.runq.len();
            if let Some(gp) = victim.runq.steal_into(&p.runq, round == 3) {
                sched.counters.steals.fetch_add(1, Ordering::Relaxed);
                if trace::on() {
                    let n = p.runq.len() - before + 1;
                    trace::record(None, Kind::Steal, 0, n as u64);
                }
                sched
                    .counters
                    .stolen
                    .fetch_add((p.runq.len() - before + 1) as u64, Ordering::Relaxed);
                return Some(gp);
            }
        }
    }
    None
}

/// The goroutine side of a switch to g0 (Go's `mcall`): g0 does `pending`, and this returns
/// when the goroutine is resumed, maybe on another M.
pub(crate) fn mcall(pending: Pending) {
    let m = super::m::current_m();
    // SAFETY: called on a goroutine, so `m` is this thread's M and `curg` the caller; the
    // switch saves this stack and resumes g0 on the same thread.
    unsafe {
        let gp = (*m).curg.load(Ordering::Relaxed);
        super::lockosthread::pin_while_unwinding(&*m, &*gp);
        (*m).owned().pending = pending;
        let g0_sp = (*m).owned().g0_sp;
        switch(&raw mut (*gp).owned().sp, g0_sp);
    }
    // Do not touch `m` here: the goroutine may have moved.
}

/// Runs `gp` on `m` until it switches back, then does what it asked (Go's `execute` and the
/// g0 half of `mcall`). With `inherit`, `gp` runs in the current time slice: `schedtick` does
/// not move, so sysmon sees a pair of goroutines that hand the P to each other through
/// `runnext` as one long runner, and asks for the slice to end (`P::preempt`). With
/// `straight`, `gp` comes straight after the goroutine this M ran last, which lets the
/// trace time its start by that one's leaving (`trace::go_start`).
fn execute(m: &M, gp: *mut G, inherit: bool, straight: bool) -> Next {
    let sched = m.sched();
    // SAFETY: `gp` came off a run queue, so this M owns it now.
    let g = unsafe { &*gp };
    // SAFETY: the M holds a P while it runs goroutines.
    let p = unsafe { &*m.p() };
    p.passed();
    if inherit {
        if p.preempt.load(Ordering::Relaxed) {
            // The slice is over: to the back of the global queue, behind those waiting.
            p.preempt.store(false, Ordering::Relaxed);
            sched.globrunqput(gp);
            return Next::Schedule;
        }
    } else {
        p.new_slice();
    }
    g.casstatus(GRUNNABLE, GRUNNING);
    g.m.store(m as *const M as *mut M, Ordering::Relaxed);
    m.curg.store(gp, Ordering::Relaxed);
    // SAFETY: owned by this M (above), and the goroutine is not running.
    let owned = unsafe { g.owned() };
    if owned.stack.is_none() {
        let stack = p.take_stack().unwrap_or_else(|| sched.stacks.get());
        // SAFETY: a fresh or pooled stack nobody runs on; its top is page aligned.
        owned.sp = unsafe { prepare(stack.top(), goentry, gp as usize) };
        g.stack_lo.store(stack.guard().0, Ordering::Relaxed);
        g.stack_hi.store(stack.top(), Ordering::Relaxed);
        owned.stack = Some(stack);
    }
    let sp = owned.sp;
    if trace::on() {
        trace::go_start(m, g, straight);
    }
    // SAFETY: `sp` is the goroutine's saved (or prepared) state; g0's is saved in return.
    unsafe { switch(&raw mut m.owned().g0_sp, sp) };

    // Back on g0, on this thread. The M may hold another P now, or none (a goroutine that
    // entered a system call and lost its P comes back through `ExitSyscall`).
    m.curg.store(core::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: g0 of this M; the goroutine is suspended.
    let pending = core::mem::replace(unsafe { &mut m.owned().pending }, Pending::None);
    let traced = trace::mode();
    if traced != trace::OFF {
        if let Pending::Park { .. } = pending {
            trace::left_park(m, g, traced);
        } else {
            trace::left(m, g, &pending);
        }
    }
    match pending {
        Pending::Yield => {
            g.m.store(core::ptr::null_mut(), Ordering::Relaxed);
            g.casstatus(GRUNNING, GRUNNABLE);
            sched.globrunqput(gp);
            // Unlike Go, wake an idle P for it: otherwise goroutines that only yield stay on
            // whichever M drains the global queue first while other Ps sleep.
            sched.wakep();
            Next::Schedule
        }
        Pending::Park { data, call } => {
            g.m.store(core::ptr::null_mut(), Ordering::Relaxed);
            // Counted before the closure lets a waker find it (and count it readied).
            // SAFETY: the M holds a P on g0 after a park.
            unsafe { &*m.p() }.count_wait(g.waitreason(), 1);
            g.casstatus(GRUNNING, GWAITING);
            // SAFETY: `gopark` left its closure at `data` for us alone; `call` moves it into
            // g0's frame before running it, so nothing refers to the goroutine's stack once
            // the closure releases its lock and a waker may resume the goroutine.
            if unsafe { call(data) } {
                Next::Schedule
            } else {
                // SAFETY: as above.
                unsafe { &*m.p() }.count_wait(g.waitreason(), -1);
                g.casstatus(GWAITING, GRUNNABLE);
                Next::Resume(gp)
            }
        }
        Pending::ExitSyscall => super::proc_syscall::exitsyscall0(m, gp),
        Pending::Exit => {
            let locked = !g.lockedm.load(Ordering::Relaxed).is_null();
            gfree(m, gp);
            if locked {
                // A goroutine that exits while locked takes its thread with it (Go's
                // `goexit0`): the thread may hold state the goroutine changed.
                m.lockedg.store(core::ptr::null_mut(), Ordering::Relaxed);
                Next::ExitThread
            } else {
                Next::Schedule
            }
        }
        Pending::None => super::throw(&["execute: goroutine switched back with nothing to do"]),
    }
}

/// Frees a finished goroutine: its stack to the P's cache (the next goroutine this P starts
/// takes it), the G to the P's list for the next spawn.
fn gfree(m: &M, gp: *mut G) {
    let sched = m.sched();
    // SAFETY: the goroutine has finished; this M owns it.
    sched.allgs.remove(unsafe { &*gp });
    // SAFETY: as above, and now nothing else refers to it.
    let g = unsafe { Box::from_raw(gp) };
    g.casstatus(GRUNNING, GDEAD);
    // SAFETY: as above.
    // SAFETY: the M holds a P.
    let p = unsafe { &*m.p() };
    // SAFETY: as above.
    if let Some(stack) = unsafe { g.owned() }.stack.take()
        && let Some(spill) = p.keep_stack(stack)
    {
        sched.stacks.put(spill);
    }
    // SAFETY: the M holds the P, on g0.
    unsafe { p.gfree.put(g, &sched.gfree) };
    P::bump(&p.exited);
}

/// The first function on every goroutine stack.
unsafe extern "sysv64" fn goentry(gp: usize) -> ! {
    // SAFETY: `execute` passes the G it is starting, which this goroutine now is.
    let entry = unsafe { (*(gp as *const G)).owned().entry.take() };
    match entry {
        // Entries never unwind: `spawn` catches panics inside them. If one did, unwinding
        // into this `extern` function would abort, never cross the switch.
        Some(f) => f.start(),
        None => super::throw(&["goentry: goroutine without an entry"]),
    }
    super::proc::goexit()
}
