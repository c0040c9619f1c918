//! The scheduler's side of a system call (the seed's "和调度的交互"): a goroutine entering the
//! kernel leaves its P in `Psyscall`, so that if the call blocks, sysmon can retake the P and
//! hand it to another M while this one waits in the kernel.
//!
//! ```text
//!            entersyscall                           exitsyscallfast: CAS Psyscall -> Prunning
//!  Prunning ─────────────> Psyscall ────────────────────────────────────────────> Prunning
//!                             │ sysmon retake: CAS Psyscall -> Pidle, handoffp
//!                             │ stop-the-world: CAS Psyscall -> Pgcstop
//!                             v
//!                          another M           the caller comes back: an idle P
//!                                              (exitsyscallfast_pidle), else exitsyscall0
//! ```
//!
//! The CAS on the P's status settles every race: between the M coming back from the kernel and
//! sysmon retaking the P, and between either of them and a stop-the-world. Whoever wins owns the
//! P; the loser takes another path. No lock, allocation or system call is on the fast paths.
//!
//! `entersyscall` / `exitsyscall` are called only from the public `syscall` / `syscall6` entry
//! points (and `blocking`), never from the runtime's own calls in [`sys`](super::sys).

use core::sync::atomic::{Ordering, compiler_fence};

use super::g::{G, GRUNNABLE, GRUNNING, GSYSCALL};
use super::m::{M, Pending, current_m};
use super::p::{P, PGCSTOP, PIDLE, PRUNNING, PSYSCALL};
use super::sched::{Next, Sched, acquirep, mcall, releasep};
use super::trace::{self, Exit, Kind};

/// The running goroutine of this thread's M, or `None` on any other thread (or on g0).
#[inline(always)]
fn this_goroutine() -> Option<(&'static M, &'static G)> {
    let m = current_m();
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
}

/// The goroutine is about to enter the kernel for system call `nr` (Go's `entersyscall`).
/// `None` on threads that are not goroutines, for which the pair does nothing.
#[inline(always)]
pub(crate) fn entersyscall(nr: usize) -> Option<InSyscall> {
    let (m, g) = this_goroutine()?;
    m.sigeintr.store(false, Ordering::Relaxed);
    m.syscall_nr.store(nr as u32, Ordering::Relaxed);
    // Recorded while the P is still ours: recording inside the `Psyscall` window would
    // lengthen it, and sysmon retakes a P whose call it finds still in that window. Not for a
    // call inside a `blocking` region (or after a preemption by handoff): the goroutine is in
    // the system-call state already, and its region's slice holds the call.
    if trace::on() && g.status.load(Ordering::Relaxed) != GSYSCALL {
        trace::record_m(m, Kind::SyscallEnter, g.goid, nr as u64);
    }
    let oldp = reentersyscall(m, g)?;
    Some(InSyscall { m, g, oldp })
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
fn reentersyscall(m: &M, g: &G) -> Option<*mut P> {
    lock_preemption(g);
    if g.status.load(Ordering::Relaxed) == GSYSCALL {
        // Already in the system-call state, without a P: put there by the preemption signal
        // (which did all of what follows on our behalf; this call's return takes the P
        // back), or inside `blocking` (whose end does).
        let preempted = take_handoff(g);
        unlock_preemption(g);
        return preempted.then(|| m.oldp.load(Ordering::Relaxed));
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
    // Release: whoever wins the CAS on the status (sysmon, a stop-the-world) sees the stores
    // above.
    p.status.store(PSYSCALL, Ordering::Release);
    let sched = m.sched();
    if sched.sysmonwait.load(Ordering::Relaxed) {
        entersyscall_sysmon(sched);
    }
    if sched.gcwaiting.load(Ordering::Relaxed) {
        entersyscall_gcwait(sched, p);
    }
    unlock_preemption(g);
    Some(pp)
}

/// sysmon sleeps deeply when every P is idle; a goroutine in a system call may need it.
#[cold]
fn entersyscall_sysmon(sched: &Sched) {
    let _l = sched.locked();
    sched.wake_sysmon_locked();
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
    g.status.store(GSYSCALL, Ordering::Relaxed);
    let sched = m.sched();
    let pp = releasep(m);
    // SAFETY: the P this M held.
    let p = unsafe { &*pp };
    m.syscalltick
        .store(p.syscalltick.load(Ordering::Relaxed), Ordering::Relaxed);
    p.syscalltick.store(
        p.syscalltick.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    sched.counters.handoffs.fetch_add(1, Ordering::Relaxed);
    if trace::on() {
        trace::record_m(m, Kind::SyscallEnter, g.goid, trace::BLOCKING);
        trace::record_m(m, Kind::Handoff, g.goid, p.id as u64);
    }
    handoffp(sched, pp);
    unlock_preemption(g);
    true
}

/// The goroutine has returned from the raw call `entersyscall` prepared (Go's
/// `exitsyscall`).
#[inline(always)]
pub(crate) fn exitsyscall_from(s: Option<InSyscall>) {
    if let Some(s) = s {
        exit(s.m, s.g, s.oldp);
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
        exit(m, g, m.oldp.load(Ordering::Relaxed));
    }
}

/// Take back the old P, or any idle P, or go through g0 (`exitsyscall0`) and wait for one.
/// The fast path is inlined into the caller (see `syscall`); the rest is out of line.
#[inline(always)]
fn exit(m: &M, g: &G, oldp: *mut P) {
    lock_preemption(g);
    // A preemption signal during the call finds the goroutine in Gsyscall and does nothing.
    m.oldp.store(core::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: Ps live as long as the runtime.
    if let Some(p) = unsafe { oldp.as_ref() }
        && reacquire(p)
    {
        exitsyscallfast_reacquired(m, p);
        g.status.store(GRUNNING, Ordering::Relaxed);
        if trace::on() {
            trace::record_m(m, Kind::SyscallExit, g.goid, Exit::Fast as u64);
        }
        unlock_preemption(g);
        return;
    }
    exit_without_oldp(m, g, oldp);
}

/// The old P is gone: an idle one, or the slow path.
#[cold]
#[inline(never)]
fn exit_without_oldp(m: &M, g: &G, oldp: *mut P) {
    super::metrics::syscall_blocked(m, oldp);
    if exitsyscallfast_pidle(m, m.sched()) {
        g.status.store(GRUNNING, Ordering::Relaxed);
        trace::record_m(m, Kind::SyscallExit, g.goid, Exit::IdleP as u64);
        unlock_preemption(g);
        return;
    }
    trace::record_m(m, Kind::SyscallExit, g.goid, Exit::Slow as u64);
    mcall(Pending::ExitSyscall);
    // Resumed by `execute` with a P, perhaps on another M: `g` is still this goroutine.
    unlock_preemption(g);
}

/// Go's `exitsyscallfast` after its CAS won: the P is ours again (Go's `wirep` +
/// `exitsyscallfast_reacquired`). No check of a pending stop-the-world: it takes a P in a
/// system call with the same CAS, so if we won, the P stops at our next scheduling point.
#[inline(always)]
fn exitsyscallfast_reacquired(m: &M, p: &P) {
    p.m.store(m as *const M as *mut M, Ordering::Relaxed);
    m.p.store(p as *const P as *mut P, Ordering::Relaxed);
    let tick = p.syscalltick.load(Ordering::Relaxed);
    if tick != m.syscalltick.load(Ordering::Relaxed) {
        // The P was retaken during the call and is ours again only because another M's call
        // had left it in `Psyscall` (Go's `exitsyscallfast` takes it the same way): the call
        // blocked, so time it.
        super::metrics::syscall_blocked(m, p as *const P as *mut P);
    }
    p.syscalltick.store(tick.wrapping_add(1), Ordering::Relaxed);
    P::bump(&p.fast);
}

/// Takes `p` back from `Psyscall` for the M returning from the call: the one CAS of
/// `exitsyscallfast`. It races sysmon's retake and a stop-the-world's, which CAS the same word
/// from `Psyscall`; exactly one of them wins.
#[inline(always)]
pub(crate) fn reacquire(p: &P) -> bool {
    p.status.load(Ordering::Relaxed) == PSYSCALL
        // Acquire: if sysmon or another M owned the P meanwhile, their writes to it are seen.
        && p.status.compare_exchange(PSYSCALL, PRUNNING, Ordering::Acquire, Ordering::Relaxed).is_ok()
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
    let p = if sched.gcwaiting.load(Ordering::Relaxed) {
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
pub(crate) fn handoffp(sched: &Sched, pp: *mut P) {
    // SAFETY: Ps live as long as the runtime; the caller owns `pp`.
    let p = unsafe { &*pp };
    if !p.runq.is_empty() || sched.runqsize.load(Ordering::Acquire) != 0 {
        sched.startm(Some(pp), false);
        return;
    }
    if sched.nmspinning.load(Ordering::Acquire) + sched.npidle.load(Ordering::Acquire) == 0
        && sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        sched.startm(Some(pp), true);
        return;
    }
    let mut l = sched.locked();
    if sched.runqsize.load(Ordering::Acquire) != 0 && !sched.gcwaiting.load(Ordering::Acquire) {
        drop(l);
        sched.startm(Some(pp), false);
        return;
    }
    // Idle, or stopped if a stop-the-world is pending.
    sched.pidleput_locked(&mut l, pp);
}

/// Retakes `p` from a system call if it is still in one (sysmon, stop-the-world). Returns
/// whether the CAS won; the caller then owns the P.
pub(crate) fn retake_syscall(p: &P, to: u32) -> bool {
    debug_assert!(to == PIDLE || to == PGCSTOP);
    p.status
        .compare_exchange(PSYSCALL, to, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
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

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The P-status protocol: an M returning from a system call (`exitsyscallfast`), sysmon's
    /// retake and a stop-the-world race for a P in `Psyscall`. Exactly one wins, the P ends
    /// in the winner's state, and nobody else believes they own it.
    #[test]
    fn loom_psyscall_has_exactly_one_owner() {
        loom::model(|| {
            let p = Arc::new(P::new(0));
            // entersyscall's release store, as the M entering the call makes it.
            p.status.store(PSYSCALL, Ordering::Release);
            let (p1, p2) = (p.clone(), p.clone());
            let sysmon = loom::thread::spawn(move || retake_syscall(&p1, PIDLE));
            let stw = loom::thread::spawn(move || retake_syscall(&p2, PGCSTOP));
            let m = reacquire(&p);
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
            assert_eq!(p.status.load(Ordering::Acquire), want);
        });
    }

    /// The M comes back (and may enter another call) while sysmon retakes: a P lost to sysmon
    /// is never taken back by the stale `oldp` CAS after sysmon handed it on.
    #[test]
    fn loom_retaken_p_is_not_taken_twice() {
        loom::model(|| {
            let p = Arc::new(P::new(0));
            p.status.store(PSYSCALL, Ordering::Release);
            let p1 = p.clone();
            let sysmon = loom::thread::spawn(move || {
                if retake_syscall(&p1, PIDLE) {
                    // handoffp gives it to another M, which runs it.
                    p1.status.store(PRUNNING, Ordering::Release);
                    true
                } else {
                    false
                }
            });
            let m = reacquire(&p);
            let s = sysmon.join().unwrap();
            assert!(m ^ s, "exactly one owner: m={m} sysmon={s}");
            assert_eq!(p.status.load(Ordering::Acquire), PRUNNING);
            // The loser's retry finds it running and does not take it.
            assert!(!reacquire(&p) && !retake_syscall(&p, PIDLE));
        });
    }
}
