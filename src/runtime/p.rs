//! P: a processor, the right to run Go code. An M needs one to run goroutines; there are
//! `max_procs` of them.
//!
//! ```text
//!          acquirep                   entersyscall
//!  Pidle ────────────> Prunning ─────────────────────> Psyscall <─────────┐ the M is back
//!    ^      releasep      │  ^     exitsyscallfast (store) │  │ CAS       │
//!    └────────────────────┘  └─────────────────────────────┘  v           │
//!    ^                                                      Pretake* ─────┘
//!    └──────────────────────────────────── retake, handoffp ──┘
//!  Prunning / Pretake ── stop the world ──> Pgcstop ── start the world ──> Pidle / Prunning
//!  any ── set_max_procs shrinks ──> Pdead
//! ```
//!
//! `Pretake*` (one value per retaker, sysmon's and the stop-the-world's) is the moment a
//! retaker holds a P in a system call while it checks whether the M has come back; see
//! `proc_syscall.rs`. Everything outside that file reads it as `Psyscall`.

use core::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use core::cell::UnsafeCell;

use super::atomic::AtomicU32 as StatusWord;
use super::stack::Stack;

use super::g::{G, WaitReason};
use super::gfree::LocalFree;
use super::m::M;
use super::runq::RunQueue;
use super::timers::TimerHeap;

pub(crate) const PIDLE: u32 = 0;
pub(crate) const PRUNNING: u32 = 1;
pub(crate) const PSYSCALL: u32 = 2;
pub(crate) const PGCSTOP: u32 = 3;
pub(crate) const PDEAD: u32 = 4;
/// sysmon is retaking the P from a system call (transient; see `proc_syscall.rs`).
pub(crate) const PRETAKE_SYSMON: u32 = 5;
/// A stop-the-world is taking the P from a system call (transient).
pub(crate) const PRETAKE_STW: u32 = 6;
/// Plus an M's id: that M, back from its own call, is taking its old P from the call another
/// M has entered on it since (transient; Go's `exitsyscallfast` takes it the same way), or
/// any P from a call of a number sure to block (`exitsyscall_take`).
pub(crate) const PRETAKE_M: u32 = 0x100;

/// Whether `status` is a retaker's hold on a P in a system call.
pub(crate) fn retaking(status: u32) -> bool {
    status == PRETAKE_SYSMON || status == PRETAKE_STW || status >= PRETAKE_M
}

pub(crate) struct P {
    pub(crate) id: usize,
    /// One of the `P*` states above. Model-checked under loom (see `proc_syscall.rs`).
    pub(crate) status: StatusWord,
    /// The M that owns it (Prunning), or null.
    pub(crate) m: AtomicPtr<M>,
    /// In `Psyscall`: the `returning` flag of the M in the call, which a retaker reads (see
    /// `proc_syscall.rs`). Set before the state is published, so whoever takes the state sees
    /// it.
    pub(crate) returning: super::atomic::AtomicPtr<StatusWord>,
    /// Runnable goroutines, pushed and popped by the owner, stolen by others.
    pub(crate) runq: RunQueue<G>,
    /// Incremented by every scheduling round on this P; sysmon watches it.
    pub(crate) schedtick: AtomicU32,
    /// Incremented each time the scheduler runs a goroutine on this P (`execute`) or the P
    /// leaves the idle list (whose Ps had nothing to run), not when a call's return takes the
    /// P from another call: sysmon sees by it a P that calls pass along, kept from its timers
    /// and queues.
    pub(crate) passes: AtomicU32,
    /// Set by sysmon when the goroutines on this P have run one time slice too long while
    /// others wait; the next goroutine that would inherit the slice goes to the global queue
    /// instead (the owner clears it).
    pub(crate) preempt: AtomicBool,
    /// Incremented by every system call that keeps its P; sysmon watches it.
    pub(crate) syscalltick: AtomicU32,
    /// Goroutines started and ended on this P (the owner counts; others read).
    pub(crate) spawned: AtomicU64,
    pub(crate) exited: AtomicU64,
    /// System calls that got this P back on return (`exitsyscallfast`), and that came back
    /// to find it gone and took it from the idle list (`exitsyscallfast_pidle`). Counted by
    /// the owner.
    pub(crate) fast: AtomicU64,
    pub(crate) pidle: AtomicU64,
    /// ... and that found none idle and took this one from another goroutine's call of a
    /// number sure to block (`exitsyscall_take`). Counted by the new owner.
    pub(crate) took: AtomicU64,
    /// Goroutines parked, less those readied, by each `WaitReason`, as counted on this P (by
    /// its owner; a goroutine may park on one P and be readied on another, so only the sum
    /// over the Ps and `Sched::waits_outside` means anything).
    pub(crate) waits: [AtomicI64; WaitReason::COUNT],
    /// Its timers (see `timers.rs`).
    pub(crate) timers: TimerHeap,
    /// Which call sysmon last retook it from, and since when (see `metrics.rs`).
    pub(crate) retake: super::metrics::RetakeStamp,
    /// Stacks kept by this P for its next goroutines, so starting and ending goroutines takes
    /// no lock in the common case. Only the owner touches it.
    stacks: UnsafeCell<Vec<Stack>>,
    /// How many `stacks` holds, for others to read (the owner writes it).
    ncached: AtomicUsize,
    /// Dead goroutines (without stacks) kept for this P's next spawns.
    pub(crate) gfree: LocalFree,
}

/// Stacks a P keeps before giving them to the runtime's pool.
pub(crate) const P_STACKS: usize = 32;

// SAFETY: every field is atomic except `stacks`, which only the P's owner touches (the M that
// holds the P, on its g0); others read its size through `ncached`.
unsafe impl Sync for P {}

impl P {
    pub(crate) fn new(id: usize) -> P {
        P {
            id,
            status: StatusWord::new(PIDLE),
            m: AtomicPtr::new(core::ptr::null_mut()),
            returning: super::atomic::AtomicPtr::new(core::ptr::null_mut()),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            passes: AtomicU32::new(0),
            preempt: AtomicBool::new(false),
            syscalltick: AtomicU32::new(0),
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
            fast: AtomicU64::new(0),
            pidle: AtomicU64::new(0),
            took: AtomicU64::new(0),
            waits: Default::default(),
            timers: TimerHeap::new(),
            retake: Default::default(),
            stacks: UnsafeCell::new(Vec::new()),
            ncached: AtomicUsize::new(0),
            gfree: LocalFree::new(),
        }
    }

    /// Its state as everything but the system-call handshake sees it: a P being retaken is
    /// still in its system call.
    pub(crate) fn state(&self) -> u32 {
        match self.status.load(Ordering::Relaxed) {
            s if retaking(s) => PSYSCALL,
            s => s,
        }
    }

    /// Owner only: a stack from this P's cache.
    pub(crate) fn take_stack(&self) -> Option<Stack> {
        // SAFETY: only the owner calls this, on g0; no reference to the cache outlives the call.
        let cache = unsafe { &mut *self.stacks.get() };
        let s = cache.pop();
        self.ncached.store(cache.len(), Ordering::Relaxed);
        s
    }

    /// Owner only: keeps `s` if there is room, else hands it back.
    pub(crate) fn keep_stack(&self, s: Stack) -> Option<Stack> {
        // SAFETY: as above.
        let cache = unsafe { &mut *self.stacks.get() };
        if cache.len() < P_STACKS {
            cache.push(s);
            self.ncached.store(cache.len(), Ordering::Relaxed);
            None
        } else {
            Some(s)
        }
    }

    /// Stacks in the cache, as its owner last counted them (any thread).
    pub(crate) fn cached_stacks(&self) -> usize {
        self.ncached.load(Ordering::Relaxed)
    }

    /// The new owner of a P taken from the call made on it at `tick` (by sysmon, or by an M
    /// back from another call): the call's M times the call from `since` when it returns
    /// (`None`: a goroutine preempted by handoff, not timed), and the P's next call is a new
    /// one.
    pub(crate) fn call_taken(&self, tick: u32, since: Option<u64>) {
        if let Some(since) = since {
            self.retake.stamp(tick, since);
        }
        self.syscalltick
            .store(tick.wrapping_add(1), Ordering::Relaxed);
    }

    /// Owner only: starts a new time slice, which sysmon times from its next look (a new
    /// `schedtick`), and forgets a request to end the last one.
    pub(crate) fn new_slice(&self) {
        let t = self.schedtick.load(Ordering::Relaxed);
        self.schedtick.store(t.wrapping_add(1), Ordering::Relaxed);
        if self.preempt.load(Ordering::Relaxed) {
            self.preempt.store(false, Ordering::Relaxed);
        }
    }

    /// Owner only: the P has been through the scheduler (see `passes`).
    pub(crate) fn passed(&self) {
        let n = self.passes.load(Ordering::Relaxed);
        self.passes.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    /// Counts one for the owner: a plain load and store, as only the owner writes.
    #[inline(always)]
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Owner only: counts a goroutine parking (`+1`) or readied (`-1`) for `why`.
    #[inline(always)]
    pub(crate) fn count_wait(&self, why: WaitReason, n: i64) {
        let c = &self.waits[why as usize];
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}
