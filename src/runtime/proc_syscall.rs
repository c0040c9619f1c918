//! The scheduler's side of a system call (the seed's "和调度的交互"): a goroutine entering the
//! kernel leaves its P in `Psyscall`, so that if the call blocks, sysmon can retake the P and
//! hand it to another M while this one waits in the kernel.
//!
//! ```text
//!            entersyscall                       exitsyscallfast: the P's status is still
//!  Prunning ─────────────> Psyscall ──────────────────────────────────────────> Prunning
//!                             │                 Psyscall, with our flag: store Prunning
//!                             │ sysmon / stop-the-world: CAS Psyscall -> Pretake,
//!                             │ membarrier, read the M's flag:
//!                             │   set   -> CAS back to Psyscall (the M keeps it)
//!                             v   clear -> CAS Pretake -> Pidle / Pgcstop, handoffp
//!                          another M           the caller comes back: an idle P
//!                                              (exitsyscallfast_pidle), else exitsyscall0
//! ```
//!
//! The M coming back and a retaker race for the P. Each side writes its own word and then
//! reads the other's: the M sets its `returning` flag and reads the P's status; the retaker
//! CASes the status to its `Pretake` value and reads the flag. With a full fence between the
//! write and the read on both sides, at least one sees the other (Dekker): an M that still
//! reads `Psyscall` is seen by the retaker, which backs off; an M that reads `Pretake` waits
//! for the verdict. The retaker's fence is `membarrier(2)`, which fences every running thread
//! of the process for it, so the M's is only a compiler fence (see `membarrier.rs`): the fast
//! path has no locked instruction, which after a system call costs ~17 ns here. Retakers CAS
//! among themselves, each with its own `Pretake` value and one thread at a time (sysmon is
//! one thread, stop-the-worlds are serialized), so a late CAS never lands on another's hold.
//!
//! `entersyscall` / `exitsyscall` are called only from the public `syscall` / `syscall6` entry
//! points (and `blocking`), never from the runtime's own calls in [`sys`](super::sys).

use core::sync::atomic::{Ordering, compiler_fence};

use super::atomic::AtomicU32 as Flag;
use super::enterflags::{GCWAITING, SYSMONWAIT, TRACING};
use super::g::{G, GRUNNABLE, GRUNNING, GSYSCALL};
use super::m::{M, Pending, current_m, current_m_inline};
use super::membarrier;
use super::p::{
    P, PGCSTOP, PIDLE, PRETAKE_M, PRETAKE_STW, PRETAKE_SYSMON, PRUNNING, PSYSCALL, retaking,
};
use super::sched::{Next, Sched, acquirep, mcall, releasep};
use super::sysmon::nanotime;
use super::trace::{self, Exit, Kind};

/// The running goroutine of this thread's M, or `None` on any other thread (or on g0).
#[inline(always)]
fn this_goroutine() -> Option<(&'static M, &'static G)> {
    let m = current_m_inline();
    // SAFETY: a non-null current M lives with its runtime, beyond this call.
    let m = unsafe { m.as_ref() }?;
    let gp = m.curg.load(Ordering::Relaxed);
    // SAFETY: the current goroutine is the caller, alive while it runs.
    unsafe { gp.as_ref() }.map(|g| (m, g))
}

/// Marks the goroutine as in runtime code, so the preemption signal leaves it alone. Only its
/// own thread reads it (from a signal handler), so a compiler fence is the ordering needed.
#[inline(always)]
pub(crate) fn lock_preemption(g: &G) {
    g.in_runtime
        .store(g.in_runtime.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

#[inline(always)]
pub(crate) fn unlock_preemption(g: &G) {
    compiler_fence(Ordering::SeqCst);
    g.in_runtime
        .store(g.in_runtime.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
}

/// Whether the preemption signal put `g` into the system-call state, clearing the mark. A load
/// and a store rather than a locked swap: the only other writer is the signal handler on this
/// thread, which does not run while `lock_preemption` is held.
#[inline(always)]
fn take_handoff(g: &G) -> bool {
    let h = g.handoff.load(Ordering::Relaxed);
    if h {
        g.handoff.store(false, Ordering::Relaxed);
    }
    h
}

/// What `entersyscall` hands to `exitsyscall_from` across the raw call. Holding the M across
/// it is sound where holding it across a goroutine switch is not: the system call instruction
/// cannot move the goroutine to another thread. It spares the return path a chain of
/// dependent loads, which costs most right after the kernel returns.
pub(crate) struct InSyscall {
    m: &'static M,
    g: &'static G,
    oldp: *mut P,
    /// Tracing was on at entry: read before the call, not after it, where every load the
    /// kernel's return left cold costs (~2.5 ns for this one here). A trace started during the
    /// call misses the exit as it missed the entry; one stopped during it is checked again by
    /// the recording. The entry's clock reading waits in the M (`trace::syscall_entry`): a
    /// wider `InSyscall` made the untraced pair slower.
    traced: bool,
    /// This call's side of the handshake fences for real (see `set_returning`).
    fenced: bool,
}

/// The goroutine is about to enter the kernel for system call `nr` (Go's `entersyscall`).
/// `None` on threads that are not goroutines, for which the pair does nothing. Tracing, sysmon
/// and a stop-the-world are looked at in the runtime's
/// [`EnterFlags`](super::enterflags::EnterFlags), almost always clear.
#[inline(always)]
pub(crate) fn entersyscall(nr: usize) -> Option<InSyscall> {
    let (m, g) = this_goroutine()?;
    m.sigeintr.store(false, Ordering::Relaxed);
    m.syscall_nr.store(nr as u32, Ordering::Relaxed);
    // Timed while the P is still ours, and recorded at the exit (with it, one event for a
    // call back on the fast path). Not for a call inside a `blocking` region: the goroutine
    // is in the system-call state already, and the region's slice holds the call. A call
    // after a preemption by handoff (in that state too, `handoff` set, and whichever way the
    // signal falls against these loads) is drawn as its own.
    let traced = m.sched().enter_flags.all() & TRACING != 0;
    if traced {
        crate::hint::cold_path();
        let own = g.status.load(Ordering::Relaxed) != GSYSCALL || g.handoff.load(Ordering::Relaxed);
        trace::syscall_entry(m, own);
    }
    // A number that blocked lately is likely to be retaken, or its P taken by another M
    // coming back: its return fences, so those retakes skip `membarrier`'s IPIs. Read before
    // the call, as `traced` is.
    let may_block = m.sched().may_block.get(nr);
    let mut tag = usize::from(m.fences || may_block);
    if may_block {
        match entersyscall_handoff(m, g, traced) {
            Handoff::Done(s) => return Some(s),
            Handoff::Kept { sure } => tag |= usize::from(sure) * SURE,
        }
    }
    let (oldp, fenced) = reentersyscall(m, g, tag)?;
    Some(InSyscall {
        m,
        g,
        oldp,
        traced,
        fenced,
    })
}

/// Whether the runtime's own preemption signal arrived during the system call this thread
/// just made (since `entersyscall`): its `EINTR` is then ours, not the program's. sysmon and
/// a stop-the-world signal only Ms that hold a P, but an M may enter a call (or `blocking`)
/// between their look and the signal. Read from the thread's M afresh: the caller has not
/// switched since the call.
#[cold]
pub(crate) fn interrupted_by_runtime() -> bool {
    // SAFETY: a non-null current M lives with its runtime.
    unsafe { current_m().as_ref() }.is_some_and(|m| m.sigeintr.swap(false, Ordering::Relaxed))
}

/// Go's `reentersyscall`: the goroutine goes `Grunning -> Gsyscall`, its P `Prunning ->
/// Psyscall` with no M, and the M remembers the P as `oldp` with its `syscalltick`. A few
/// plain stores and one release store; no lock, no allocation, no system call. Returns the P,
/// or `None` if the goroutine is inside [`blocking`](crate::blocking), whose end takes a P back.
#[inline(always)]
fn reentersyscall(m: &M, g: &G, tag: usize) -> Option<(*mut P, bool)> {
    lock_preemption(g);
    if g.status.load(Ordering::Relaxed) == GSYSCALL {
        crate::hint::cold_path();
        // Already in the system-call state, without a P: put there by the preemption signal
        // (which did all of what follows on our behalf; this call's return takes the P
        // back), or inside `blocking` (whose end does).
        let preempted = take_handoff(g);
        unlock_preemption(g);
        // The handler published a fenced call.
        return preempted.then(|| (m.oldp.load(Ordering::Relaxed), true));
    }
    g.status.store(GSYSCALL, Ordering::Relaxed);
    let pp = m.p.load(Ordering::Relaxed);
    // SAFETY: a running goroutine's M holds a P; Ps live as long as the runtime.
    let p = unsafe { &*pp };
    m.syscalltick
        .store(p.syscalltick.load(Ordering::Relaxed), Ordering::Relaxed);
    p.m.store(core::ptr::null_mut(), Ordering::Relaxed);
    m.oldp.store(pp, Ordering::Relaxed);
    m.p.store(core::ptr::null_mut(), Ordering::Relaxed);
    set_returning(m, p, tag);
    // Release: whoever wins the CAS on the status (sysmon, a stop-the-world) sees the stores
    // above.
    p.status.store(PSYSCALL, Ordering::Release);
    let sched = m.sched();
    if sched.enter_flags.all() & (SYSMONWAIT | GCWAITING) != 0 {
        entersyscall_looks(sched, p, tag & SURE != 0);
    }
    unlock_preemption(g);
    Some((pp, tag & FENCED != 0))
}

/// The M's flag starts clear for this call, and the P names it for retakers, tagged with
/// `tag`: [`FENCED`] when the M's return will fence for real (a retaker then needs only a
/// fence of its own, not `membarrier`, whose IPIs cost every running thread a few
/// microseconds; either way one call has one mode, chosen here, on both sides), [`SURE`] when
/// the call is of a number sure to block.
#[inline(always)]
fn set_returning(m: &M, p: &P, tag: usize) {
    m.returning.store(0, Ordering::Relaxed);
    let flag = &m.returning as *const Flag as *mut Flag;
    p.returning
        .store(flag.map_addr(|a| a | tag), Ordering::Relaxed);
}

/// Tags of `P::returning` (the flag is a 4-byte word, so its two low bits are free): the call's
/// M fences on its return.
const FENCED: usize = 1;
/// ... and the call is of a number sure to block (`MayBlock::sure`): an M back from another
/// call, finding no P, takes this one (`exitsyscall_take`).
const SURE: usize = 2;
const TAGS: usize = FENCED | SURE;

/// What `entersyscall_handoff` did.
enum Handoff {
    /// The P went to `handoffp`.
    Done(InSyscall),
    /// The call keeps its P; `sure` if its number is sure to block.
    Kept { sure: bool },
}

/// A call of a number whose last two calls sysmon retook (`MayBlock::sure`), made while work
/// waits for the P: the P is handed off at once, as `entersyscallblock` does, rather than a
/// sysmon tick and a watch later (a runnable goroutine starts ~10 us after the call rather
/// than ~50 us here). The call is timed; one back within sysmon's `SHORT_CALL` clears its
/// number's marks, so a number whose calls blocked (`write` to a full pipe) and are short
/// since (to a file) costs about one handoff per P. `Kept`, without touching any state, if
/// the number is not sure or no work waits: the call keeps its P, and sysmon watches it (and
/// if sure, an M back from another call without a P may take it: `exitsyscall_take`).
#[cold]
#[inline(never)]
fn entersyscall_handoff(m: &'static M, g: &'static G, traced: bool) -> Handoff {
    let sched = m.sched();
    if !sched
        .may_block
        .sure(m.syscall_nr.load(Ordering::Relaxed) as usize)
    {
        return Handoff::Kept { sure: false };
    }
    // Before the status is read: a preemption signal may put the goroutine into the
    // system-call state (and take its P) until then, never after.
    lock_preemption(g);
    let work_waits = || {
        // SAFETY: a running goroutine's M holds a P; Ps live as long as the runtime.
        let p = unsafe { &*m.p.load(Ordering::Relaxed) };
        // Due timers too: Ms back from calls take the P from this call (`exitsyscall_take`)
        // without going through the scheduler, which runs them.
        let timer = p.timers.next();
        !p.runq.is_empty()
            || sched.runqsize.load(Ordering::Relaxed) != 0
            || sched.netq.len() != 0
            || (timer != u64::MAX && timer <= nanotime())
    };
    if g.status.load(Ordering::Relaxed) == GSYSCALL || !work_waits() {
        unlock_preemption(g);
        return Handoff::Kept { sure: true };
    }
    sched
        .counters
        .handed_off_on_entry
        .fetch_add(1, Ordering::Relaxed);
    handoff_now(m, g, sched);
    unlock_preemption(g);
    // Timed from here, not before the handoff: waking (or starting) an M for the P takes
    // longer than a short call, and counting it made every handed-off call look blocked, so
    // a number stayed sure on the handoffs' own cost.
    m.handoff_at.store(nanotime(), Ordering::Relaxed);
    Handoff::Done(InSyscall {
        m,
        g,
        // The return finds no P of its own: an idle one, or the slow path.
        oldp: core::ptr::null_mut(),
        traced,
        fenced: true,
    })
}

/// sysmon sleeps 1 ms or more (deeply when every P is idle); a goroutine in a system call
/// may need it. Not a `sure` call (of a number sure to block, which kept `p` because no work
/// waited): later work gets the P from the next sure call's entry, which hands it off, or at
/// sysmon's next look (within 10 ms, as in Go). Unless `p` holds timers or goroutines wait for
/// the network, which no sure call runs. Waking sysmon at every such entry kept it at ~8 k
/// wake-ups a second in the harness's `handoff` (see ARCHITECTURE.md).
#[cold]
fn entersyscall_sysmon(sched: &Sched, p: &P, sure: bool) {
    if sure && p.timers.next() == u64::MAX && !super::netpoll::any_waiters() {
        return;
    }
    let _l = sched.locked();
    sched.wake_sysmon_locked();
}

/// sysmon sleeps or a stop-the-world waits, as the call's entry read once its P was published:
/// wake the one, give the other our P now rather than when the call returns.
#[cold]
#[inline(never)]
fn entersyscall_looks(sched: &Sched, p: &P, sure: bool) {
    let flags = sched.enter_flags.all();
    if flags & SYSMONWAIT != 0 {
        entersyscall_sysmon(sched, p, sure);
    }
    if flags & GCWAITING != 0 {
        entersyscall_gcwait(sched, p);
    }
}

/// A stop-the-world is waiting: give it our P now rather than when the call returns.
#[cold]
fn entersyscall_gcwait(sched: &Sched, p: &P) {
    let mut l = sched.locked();
    if l.stopwait > 0
        && p.status
            .compare_exchange(PSYSCALL, PGCSTOP, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        sched.stopwait_done_locked(&mut l);
    }
}

/// Go's `entersyscallblock`: the call is known to block, so hand the P off at once instead of
/// waiting for sysmon. Returns whether the caller must end the region with `exitsyscall`:
/// `false` on a thread that is not a goroutine, and inside another such region (nested
/// [`blocking`](crate::blocking)), whose end takes the P back.
pub(crate) fn entersyscallblock() -> bool {
    let Some((m, g)) = this_goroutine() else {
        return false;
    };
    lock_preemption(g);
    if g.status.load(Ordering::Relaxed) == GSYSCALL {
        // Preempted by handoff: already without a P (sysmon retakes the old one at its next
        // tick), and this region's end takes one back. Otherwise nested: the outer region's.
        let preempted = take_handoff(g);
        unlock_preemption(g);
        return preempted;
    }
    if trace::on() {
        trace::record_m(m, Kind::SyscallEnter, g.goid, trace::BLOCKING);
    }
    let sched = m.sched();
    sched.counters.handoffs.fetch_add(1, Ordering::Relaxed);
    handoff_now(m, g, sched);
    unlock_preemption(g);
    true
}

/// The running goroutine `g` enters the system-call state without its P, which goes to
/// `handoffp` (preemption locked by the caller).
fn handoff_now(m: &M, g: &G, sched: &Sched) {
    g.status.store(GSYSCALL, Ordering::Relaxed);
    let pp = releasep(m);
    // SAFETY: the P this M held.
    let p = unsafe { &*pp };
    m.syscalltick
        .store(p.syscalltick.load(Ordering::Relaxed), Ordering::Relaxed);
    p.syscalltick.store(
        p.syscalltick.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    if trace::on() {
        trace::record_m(m, Kind::Handoff, g.goid, p.id as u64);
    }
    handoffp(sched, pp);
}

/// The goroutine has returned from the raw call `entersyscall` prepared (Go's
/// `exitsyscall`).
#[inline(always)]
pub(crate) fn exitsyscall_from(s: Option<InSyscall>) {
    if let Some(s) = s {
        exit(s.m, s.g, s.oldp, s.traced, s.fenced, true);
    }
}

/// `exitsyscall` for a goroutine that may have run other code since entering the system-call
/// state (`blocking`, or a preemption by handoff): reads its M afresh, and does nothing if it
/// has left the state already.
pub(crate) fn exitsyscall() {
    let Some((m, g)) = this_goroutine() else {
        return;
    };
    if g.status.load(Ordering::Relaxed) == GSYSCALL {
        // Fencing is right whatever mode the call was published in.
        let traced = trace::on();
        if traced {
            trace::syscall_entry(m, false);
        }
        exit(m, g, m.oldp.load(Ordering::Relaxed), traced, true, false);
    }
}

/// Take back the old P, or any idle P, or go through g0 (`exitsyscall0`) and wait for one.
/// The fast path is inlined into the caller (see `syscall`); the rest is out of line. `call`:
/// back from a system call itself (not entering the runtime from the system-call state),
/// which may run on without a P (`runs_on_without_p`).
#[inline(always)]
fn exit(m: &M, g: &G, oldp: *mut P, traced: bool, fenced: bool, call: bool) {
    lock_preemption(g);
    // A preemption signal during the call finds the goroutine in Gsyscall and does nothing.
    m.oldp.store(core::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: Ps live as long as the runtime.
    if let Some(p) = unsafe { oldp.as_ref() }
        && reacquire(p, &m.returning, fenced)
    {
        exitsyscallfast_reacquired(m, p);
        g.status.store(GRUNNING, Ordering::Relaxed);
        if traced {
            crate::hint::cold_path();
            trace::syscall_exit_fast(m, g.goid, oldp);
        }
        unlock_preemption(g);
        return;
    }
    exit_without_oldp(m, g, oldp, traced, call);
}

/// The old P is gone: an idle one, the P of another goroutine's call, running on without a
/// P, or the slow path.
#[cold]
#[inline(never)]
fn exit_without_oldp(m: &M, g: &G, oldp: *mut P, traced: bool, call: bool) {
    let record = |how| {
        if traced {
            trace::syscall_exit(m, g.goid, oldp, how);
        }
    };
    // Retaken, and perhaps now in another M's call: take it from that call, as Go's
    // `exitsyscallfast` does (its CAS on `Psyscall` does not ask whose call it is). Ours to
    // run at once, where the other M, blocked in the kernel, has no use for it; without this,
    // goroutines that block in turn (the harness's `handoff`) each waited for sysmon.
    // SAFETY: Ps live as long as the runtime.
    if let Some(p) = unsafe { oldp.as_ref() }
        && retake_with(p, PRETAKE_M + m.id as u32, PRUNNING, 0)
    {
        exitsyscallfast_reacquired(m, p);
        // The slice sysmon has been timing was the other call's.
        p.new_slice();
        g.status.store(GRUNNING, Ordering::Relaxed);
        record(Exit::Fast);
        unlock_preemption(g);
        return;
    }
    // The call blocked (the steal above times it in `exitsyscallfast_reacquired`).
    super::metrics::syscall_blocked(m, oldp);
    let since = m.handoff_at.load(Ordering::Relaxed);
    if since != 0 {
        super::metrics::handed_off_call_returned(m, since);
    }
    if exitsyscallfast_pidle(m, m.sched()) || exitsyscall_take(m, m.sched()) {
        // Sysmon may have timed the P's last slice, before it went idle or into the other
        // call: this goroutine starts a new one (Go's `exitsyscall0` does, through `execute`).
        // SAFETY: the M holds the P it just took.
        unsafe { &*m.p() }.new_slice();
        g.status.store(GRUNNING, Ordering::Relaxed);
        record(Exit::IdleP);
        unlock_preemption(g);
        return;
    }
    if call && runs_on_without_p(m, m.sched()) {
        // As if preempted by handoff: the goroutine keeps its thread, in the system-call
        // state, and its next runtime entry (or call) looks for a P again.
        g.handoff.store(true, Ordering::Relaxed);
        record(Exit::NoP);
        unlock_preemption(g);
        return;
    }
    record(Exit::Slow);
    mcall(Pending::ExitSyscall);
    // Resumed by `execute` with a P, perhaps on another M: `g` is still this goroutine.
    unlock_preemption(g);
}

/// Go's `exitsyscallfast` after its CAS won: the P is ours again (Go's `wirep` +
/// `exitsyscallfast_reacquired`). No check of a pending stop-the-world: it takes a P in a
/// system call with the same CAS, so if we won, the P stops at our next scheduling point.
#[inline(always)]
fn exitsyscallfast_reacquired(m: &M, p: &P) {
    wirep(m, p);
    let tick = p.syscalltick.load(Ordering::Relaxed);
    if tick != m.syscalltick.load(Ordering::Relaxed) {
        crate::hint::cold_path();
        // The P was retaken during the call and is ours again only because another M's call
        // had left it in `Psyscall` (Go's `exitsyscallfast` takes it the same way): the call
        // blocked, so time it.
        super::metrics::syscall_blocked(m, p as *const P as *mut P);
    }
    p.syscalltick.store(tick.wrapping_add(1), Ordering::Relaxed);
    P::bump(&p.fast);
}

/// `m` and the P it has just taken from a call (`Prunning` already) name each other (Go's
/// `wirep`, less the status `acquirep` stores).
#[inline(always)]
fn wirep(m: &M, p: &P) {
    p.m.store(m as *const M as *mut M, Ordering::Relaxed);
    m.p.store(p as *const P as *mut P, Ordering::Relaxed);
}

/// Takes `p` back from `Psyscall` for the M returning from the call whose flag is
/// `returning`: `exitsyscallfast`'s half of the handshake with a retaker (see the module's
/// documentation). A plain store and a plain load unless `fences` (no `membarrier`). The
/// first look is inlined straight-line, with no loop: every branch taken after the kernel
/// returns costs here, and the loop's rotation put a jump back and forth on the fast path.
#[inline(always)]
pub(crate) fn reacquire(p: &P, returning: &Flag, fences: bool) -> bool {
    returning.store(1, Ordering::Relaxed);
    membarrier::light(fences);
    // Acquire: if sysmon or another M owned the P meanwhile, their writes to it are seen.
    let status = p.status.load(Ordering::Acquire);
    if status == PSYSCALL && ours(p, returning) {
        set_running(p);
        return true;
    }
    reacquire_contended(p, returning, status)
}

/// `reacquire` after a first look that did not find our call in `Psyscall`: waits out a
/// retaker holding the P, then looks again.
#[cold]
#[inline(never)]
fn reacquire_contended(p: &P, returning: &Flag, mut status: u32) -> bool {
    loop {
        match status {
            PSYSCALL if ours(p, returning) => {
                set_running(p);
                return true;
            }
            s if retaking(s) => wait_for_retaker(),
            _ => return false,
        }
        status = p.status.load(Ordering::Acquire);
    }
}

/// Whether the call `p` is in (`Psyscall`) is the one whose flag is `returning`: after a
/// retake, the P may be in another M's call.
#[inline(always)]
fn ours(p: &P, returning: &Flag) -> bool {
    p.returning.load(Ordering::Relaxed).addr() & !TAGS == flag_addr(returning)
}

/// `Psyscall -> Prunning` by the M that has read `Psyscall` of its own call: a plain store,
/// which a retaker's CAS after our read cannot slip under (it would see our flag and back
/// off). Under loom, a swap: loom 0.7 lets a load read a CAS's value from before a plain store
/// the same thread made earlier (a coherence order C11 forbids), which a swap avoids; for the
/// model a swap is the same store.
#[inline(always)]
fn set_running(p: &P) {
    #[cfg(not(loom))]
    p.status.store(PRUNNING, Ordering::Release);
    #[cfg(loom)]
    p.status.swap(PRUNNING, Ordering::Release);
}

fn flag_addr(f: &Flag) -> usize {
    (f as *const Flag).addr()
}

/// A retaker holds the P while it reads our flag, a `membarrier` call away from its verdict.
#[cold]
fn wait_for_retaker() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    super::sys::sched_yield();
}

/// The old P is gone (retaken, or taken by a stop-the-world): any idle P will do.
#[cold]
fn exitsyscallfast_pidle(m: &M, sched: &Sched) -> bool {
    match sched.pidleget() {
        Some(pp) => {
            acquirep(m, pp);
            // SAFETY: just acquired.
            P::bump(&unsafe { &*pp }.pidle);
            true
        }
        None => false,
    }
}

/// No P is idle: take one from another goroutine's call of a number sure to block, as the
/// goroutine's own P would be taken back from such a call (above), rather than queue the
/// goroutine and stop the M, for another M to be woken for the next free P: that is two thread
/// switches and a futex wake per blocked call, which left the harness's `handoff` at ~100 k
/// sleeps/s where plain threads make 185 k. The call's M does the same when it returns. The
/// P's queues are not starved: a sure call hands its P off at entry when work waits for it,
/// its due timers included (`entersyscall_handoff`).
#[cold]
fn exitsyscall_take(m: &M, sched: &Sched) -> bool {
    if sched.gcwaiting() {
        // The stop-the-world takes those Ps.
        return false;
    }
    let nprocs = sched.nprocs.load(Ordering::Acquire);
    // Ms back at the same moment start their search at different Ps.
    let start = m.id as usize;
    for i in 0..nprocs {
        let p = &sched.allp[(start + i) % nprocs];
        if p.status.load(Ordering::Relaxed) == PSYSCALL
            && p.returning.load(Ordering::Relaxed).addr() & SURE != 0
            && retake_with(p, PRETAKE_M + m.id as u32, PRUNNING, SURE)
        {
            // Times the call for its M, from now (see `metrics::syscall_blocked`).
            p.call_taken(p.syscalltick.load(Ordering::Relaxed), Some(nanotime()));
            wirep(m, p);
            P::bump(&p.took);
            return true;
        }
    }
    false
}

/// A goroutine back from a call of a number sure to block finds no P to take while others
/// already wait for one on the global queue: it runs on without a P, as a goroutine preempted
/// by handoff does, rather than join that queue and park its thread. Its next runtime entry
/// looks for a P again; its next system call is made without one (as a preempted goroutine's
/// is) and looks again when it returns.
///
/// The queue is the reason. Every goroutine in it needs an M woken for it, one at a time per
/// P: the next sure call to enter with work waiting hands its P off (`entersyscall_handoff`),
/// and the P waits for the woken M. That call then comes back to no P and queues too. So once
/// a queue has formed, every blocking call costs a handoff, a park and a wake-up, and calls
/// are served at the rate Ms wake up, ~2 per 50 us on a loaded 2-CPU VM, where plain threads
/// each wake on their own: in the harness's `handoff` (200 goroutines in 1 ms `nanosleep`s)
/// a queue of 100-200 held for most of a run, from the start (all 200 queued) or after any
/// burst, at 30-70 k sleeps/s against threads' ~180 k. Goroutines that run on leave the
/// queue to drain. With the queue empty the first to find no P still parks as in Go (the next
/// sure call hands it a P), so a P-less goroutine is the exception, not a way around
/// `max_procs`; and only after a number sure to block, whose goroutine is likely to be back in
/// the kernel soon.
#[cold]
fn runs_on_without_p(m: &M, sched: &Sched) -> bool {
    if sched.runqsize.load(Ordering::Acquire) == 0
        || sched.gcwaiting()
        || !sched
            .may_block
            .sure(m.syscall_nr.load(Ordering::Relaxed) as usize)
    {
        return false;
    }
    sched.counters.ran_on.fetch_add(1, Ordering::Relaxed);
    true
}

/// `exitsyscall`'s slow path, on g0 (Go's `exitsyscall0`): the goroutine becomes runnable;
/// with an idle P it runs at once, otherwise it goes on the global queue and the M stops (or,
/// if the goroutine is locked to this M, waits until it is handed back).
pub(crate) fn exitsyscall0(m: &M, gp: *mut G) -> Next {
    let sched = m.sched();
    // SAFETY: the goroutine is suspended and this M still owns it.
    let g = unsafe { &*gp };
    g.m.store(core::ptr::null_mut(), Ordering::Relaxed);
    g.casstatus(GSYSCALL, GRUNNABLE);
    sched.counters.slow.fetch_add(1, Ordering::Relaxed);
    // Read before the goroutine is queued: once it is on the global queue another M may run
    // it to its end and free it (Go reads `lockedm` under the lock for the same reason).
    let locked = core::ptr::eq(g.lockedm.load(Ordering::Relaxed), m);
    let mut l = sched.locked();
    let p = if sched.gcwaiting() {
        None
    } else {
        sched.pidleget_locked(&mut l)
    };
    if p.is_none() {
        Sched::globrunqput_locked(&mut l, gp);
        sched.runqsize.fetch_add(1, Ordering::Release);
    }
    drop(l);
    if let Some(p) = p {
        acquirep(m, p);
        return Next::Run(gp);
    }
    if locked {
        // Whoever finds the goroutine on the global queue hands it back to us with a P.
        return if super::lockosthread::stoplockedm(m) {
            Next::Run(gp)
        } else {
            Next::ExitThread
        };
    }
    if sched.stopm(m) {
        Next::Schedule
    } else {
        Next::ExitThread
    }
}

/// Hands off `pp`, which no M holds, as Go's `handoffp` decides: start an M if there is work;
/// start a spinning M if none is spinning or idle; give it to a stop-the-world; else idle.
/// Returns whether it went to a thread that has yet to start (see `Sched::startm`).
pub(crate) fn handoffp(sched: &Sched, pp: *mut P) -> bool {
    // SAFETY: Ps live as long as the runtime; the caller owns `pp`.
    let p = unsafe { &*pp };
    if !p.runq.is_empty() || sched.runqsize.load(Ordering::Acquire) != 0 || sched.netq.len() != 0 {
        return sched.startm(Some(pp), false);
    }
    if sched.nmspinning.load(Ordering::Acquire) + sched.npidle.load(Ordering::Acquire) == 0
        && sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        return sched.startm(Some(pp), true);
    }
    let mut l = sched.locked();
    if (sched.runqsize.load(Ordering::Acquire) != 0 || sched.netq.len() != 0) && !sched.gcwaiting()
    {
        drop(l);
        return sched.startm(Some(pp), false);
    }
    // Idle, or stopped if a stop-the-world is pending.
    sched.pidleput_locked(&mut l, pp);
    false
}

/// Retakes `p` from a system call if it is still in one, for sysmon (`to` = `Pidle`) or a
/// stop-the-world (`Pgcstop`): the retaker's half of the handshake (see the module's
/// documentation). Returns whether it won; the caller then owns the P.
pub(crate) fn retake_syscall(p: &P, to: u32) -> bool {
    debug_assert!(to == PIDLE || to == PGCSTOP);
    let hold = if to == PIDLE {
        PRETAKE_SYSMON
    } else {
        PRETAKE_STW
    };
    retake_with(p, hold, to, 0)
}

/// The retaker's half of the handshake, holding the P with `hold` (its own value: one
/// retake in flight per value) and leaving it in `to` if it wins. Only a call tagged with all
/// of `need` is taken.
fn retake_with(p: &P, hold: u32, to: u32, need: usize) -> bool {
    if p.status
        .compare_exchange(PSYSCALL, hold, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    let tagged = p.returning.load(Ordering::Relaxed);
    let flag = tagged.map_addr(|a| a & !TAGS);
    // Not the kind of call the caller looked for (the P has gone on to another call since):
    // left to its M, which waits out our hold.
    let wanted = tagged.addr() & need == need;
    if wanted {
        if tagged.addr() & FENCED != 0 {
            // The M fences on its return (see `set_returning`).
            membarrier::fence_both();
        } else {
            membarrier::heavy();
        }
    }
    // SAFETY: set by the M that entered the call before it published `Psyscall`, which the
    // CAS read; Ms live as long as the runtime.
    let back = wanted && unsafe { &*flag }.load(Ordering::Relaxed) != 0;
    // The M is back: it keeps the P (if it saw `Psyscall` it has stored `Prunning` over our
    // hold already, or will, and this CAS fails). Otherwise the M has not read the status
    // yet and will find the P gone, or has since taken it back and entered another call
    // (clearing its flag), and this CAS fails.
    let take = wanted && !back;
    let verdict = if take { to } else { PSYSCALL };
    p.status
        .compare_exchange(hold, verdict, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
        && take
}

/// Preemption by handoff, from the signal handler: performs `entersyscall` on behalf of a
/// goroutine that has held its P too long, so sysmon can retake the P. The goroutine keeps its
/// thread and runs on without a P; its next runtime entry goes through `exitsyscall`.
///
/// # Safety
/// Called from the preemption signal handler on `m`'s thread, which interrupted `g` running
/// its own code (not runtime code) while `m` held a P. Only atomic stores: async-signal-safe.
pub(crate) unsafe fn entersyscall_preempted(m: &M, g: &G) {
    let pp = m.p.load(Ordering::Relaxed);
    // SAFETY: the caller's contract: `m` holds this P.
    let p = unsafe { &*pp };
    g.status.store(GSYSCALL, Ordering::Relaxed);
    m.syscalltick
        .store(p.syscalltick.load(Ordering::Relaxed), Ordering::Relaxed);
    p.m.store(core::ptr::null_mut(), Ordering::Relaxed);
    m.oldp.store(pp, Ordering::Relaxed);
    m.p.store(core::ptr::null_mut(), Ordering::Relaxed);
    set_returning(m, p, FENCED);
    g.handoff.store(true, Ordering::Relaxed);
    p.status.store(PSYSCALL, Ordering::Release);
    m.sched().counters.preempted.fetch_add(1, Ordering::Relaxed);
}

/// Takes a P back for a goroutine in the system-call state: moved there by the preemption
/// signal, or calling into the runtime from inside `blocking`. Called at every runtime entry,
/// after `lock_preemption`.
#[inline]
pub(crate) fn exit_handoff(g: &G) {
    if g.status.load(Ordering::Relaxed) == GSYSCALL {
        g.handoff.store(false, Ordering::Relaxed);
        exitsyscall();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// sysmon, in a sleep `entersyscall` may cut short, is woken by a call that may block,
    /// but not by a sure call with no timer on its P and nobody waiting for the network.
    #[test]
    fn a_sure_call_leaves_sysmon_asleep() {
        let sched = Sched::new(1, 64 * 1024);
        let p = &sched.allp[0];
        let asleep = |sure| {
            // As sysmon leaves them when it goes to sleep.
            sched.sysmon_note.clear();
            sched.enter_flags.set(SYSMONWAIT, true);
            entersyscall_sysmon(&sched, p, sure);
            sched.sysmonwait()
        };
        assert!(!asleep(false), "a call that may block woke no sysmon");
        assert!(sched.sysmon_syscall_wake.swap(false, Ordering::Relaxed));
        // Other tests of this process may wait for the network meanwhile, which wakes it.
        let quiet = !super::super::netpoll::any_waiters();
        let kept = asleep(true);
        if quiet && !super::super::netpoll::any_waiters() {
            assert!(kept, "a sure call woke sysmon");
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// `entersyscall` as the M entering the call makes it: its flag clear, named by the P,
    /// then the state published. Returns the P and the M's flag.
    fn in_syscall() -> (Arc<P>, Arc<Flag>) {
        in_tagged_syscall(0)
    }

    /// `in_syscall`, the P naming the call with `tag` (`FENCED`, `SURE`).
    fn in_tagged_syscall(tag: usize) -> (Arc<P>, Arc<Flag>) {
        let p = Arc::new(P::new(0));
        let flag = Arc::new(Flag::new(0));
        publish_call(&p, &flag, tag);
        (p, flag)
    }

    /// The M owning `p` enters a call tagged `tag` (`set_returning`; a swap: see
    /// `set_running`).
    fn publish_call(p: &P, flag: &Flag, tag: usize) {
        flag.store(0, Ordering::Relaxed);
        let named = (flag as *const Flag as *mut Flag).map_addr(|a| a | tag);
        p.returning.store(named, Ordering::Relaxed);
        p.status.swap(PSYSCALL, Ordering::Release);
    }

    /// Another M back from a call, without a P (`exitsyscall_take`).
    fn take(p: &P) -> bool {
        retake_with(p, PRETAKE_M + 1, PRUNNING, SURE)
    }

    /// The P-status protocol: an M returning from a system call (`exitsyscallfast`), sysmon's
    /// retake and a stop-the-world race for a P in `Psyscall`. Exactly one wins, the P ends
    /// in the winner's state, and nobody else believes they own it. The M's side has no fence
    /// of its own: `membarrier` is modelled as the `SeqCst` fence it amounts to.
    #[test]
    fn loom_psyscall_has_exactly_one_owner() {
        loom::model(|| {
            let (p, flag) = in_syscall();
            let (p1, p2) = (p.clone(), p.clone());
            let sysmon = loom::thread::spawn(move || retake_syscall(&p1, PIDLE));
            let stw = loom::thread::spawn(move || retake_syscall(&p2, PGCSTOP));
            let m = reacquire(&p, &flag, true);
            let (s, w) = (sysmon.join().unwrap(), stw.join().unwrap());
            assert_eq!(
                usize::from(m) + usize::from(s) + usize::from(w),
                1,
                "owned by {m} {s} {w}"
            );
            let want = if m {
                PRUNNING
            } else if s {
                PIDLE
            } else {
                PGCSTOP
            };
            assert_eq!(
                p.status.load(Ordering::Acquire),
                want,
                "owned by {m} {s} {w}"
            );
        });
    }

    /// The M comes back while sysmon retakes, takes the P back if it can, enters another call
    /// and comes back again: sysmon may retake either call, but a late verdict on the first
    /// never lands on the second, and a P lost to sysmon is never taken back by the stale M
    /// after sysmon handed it on. Exactly one owner at the end.
    #[test]
    fn loom_retaken_p_is_not_taken_twice() {
        loom::model(|| {
            let (p, flag) = in_syscall();
            let p1 = p.clone();
            let sysmon = loom::thread::spawn(move || {
                if retake_syscall(&p1, PIDLE) {
                    // handoffp gives it to another M, which runs it (a swap: see
                    // `set_running`).
                    p1.status.swap(PRUNNING, Ordering::Release);
                    true
                } else {
                    false
                }
            });
            let mut m = reacquire(&p, &flag, true);
            if m {
                // The next call on the same P, and its return.
                flag.store(0, Ordering::Relaxed);
                p.status.swap(PSYSCALL, Ordering::Release);
                m = reacquire(&p, &flag, true);
            }
            let s = sysmon.join().unwrap();
            assert!(m ^ s, "exactly one owner: m={m} sysmon={s}");
            assert_eq!(p.status.load(Ordering::Acquire), PRUNNING);
            // The loser's retry finds it running and does not take it.
            assert!(!reacquire(&p, &flag, true) && !retake_syscall(&p, PIDLE));
        });
    }

    /// A P retaken from one M's call and now in another M's call is not the first M's: its
    /// return does not take it, even though the state is `Psyscall` again.
    #[test]
    fn loom_stale_m_leaves_another_calls_p() {
        loom::model(|| {
            let (p, stale) = in_syscall();
            assert!(retake_syscall(&p, PIDLE));
            let other = Arc::new(Flag::new(0));
            p.returning
                .store(Arc::as_ptr(&other) as *mut Flag, Ordering::Relaxed);
            p.status.store(PSYSCALL, Ordering::Release);
            let p1 = p.clone();
            let sysmon = loom::thread::spawn(move || retake_syscall(&p1, PIDLE));
            let s = reacquire(&p, &stale, true);
            let o = reacquire(&p, &other, true);
            let y = sysmon.join().unwrap();
            assert!(!s, "the stale M took another call's P");
            assert!(o ^ y, "exactly one owner: other={o} sysmon={y}");
        });
    }

    /// A call of a number sure to block, raced for by its own M coming back, sysmon, and
    /// another M back from its call without a P (`exitsyscall_take`): exactly one owner, the
    /// P in the winner's state.
    #[test]
    fn loom_sure_call_has_exactly_one_owner() {
        loom::model(|| {
            let (p, flag) = in_tagged_syscall(FENCED | SURE);
            let (p1, p2) = (p.clone(), p.clone());
            let sysmon = loom::thread::spawn(move || retake_syscall(&p1, PIDLE));
            let taker = loom::thread::spawn(move || take(&p2));
            let m = reacquire(&p, &flag, true);
            let (s, t) = (sysmon.join().unwrap(), taker.join().unwrap());
            assert_eq!(
                usize::from(m) + usize::from(s) + usize::from(t),
                1,
                "owned by {m} {s} {t}"
            );
            let want = if s { PIDLE } else { PRUNNING };
            assert_eq!(
                p.status.load(Ordering::Acquire),
                want,
                "owned by {m} {s} {t}"
            );
        });
    }

    /// An M back without a P takes only a sure call's P: its M comes back from that call,
    /// takes the P back if it can and enters a call of another number on it; the taker, which
    /// saw the first call, never takes the second (its hold is undone without a verdict), and
    /// the second call's M always gets its P back.
    #[test]
    fn loom_taker_leaves_a_call_not_sure() {
        loom::model(|| {
            let (p, flag) = in_tagged_syscall(FENCED | SURE);
            let p1 = p.clone();
            let taker = loom::thread::spawn(move || take(&p1));
            let first = reacquire(&p, &flag, true);
            let second = first && {
                publish_call(&p, &flag, FENCED);
                reacquire(&p, &flag, true)
            };
            let t = taker.join().unwrap();
            assert!(t ^ first, "the first call's P: taker={t} m={first}");
            assert!(!first || second, "the taker took a call not sure");
            assert_eq!(p.status.load(Ordering::Acquire), PRUNNING);
        });
    }
}
