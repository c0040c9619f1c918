//! Stopping the world (Go's `stopTheWorldWithSema` / `startTheWorldWithSema`): every P is
//! brought to `Pgcstop` so the runtime can change what Ps exist (`set_max_procs`).
//!
//! Idle Ps are taken at once; Ps in system calls are retaken with the same CAS sysmon uses
//! (`Psyscall -> Pgcstop`), so goroutines blocked in the kernel do not hold it up; running Ps
//! stop at their next scheduling point (`gcstopm`), and those running goroutines that never
//! reach one are preempted by handoff and then retaken like a system call.

use core::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Duration;

use super::enterflags::GCWAITING;
use super::m::M;
use super::p::{P, PDEAD, PGCSTOP, PRUNNING};
use super::proc::{InRuntime, enter};
use super::proc_syscall::retake_syscall;
use super::sched::{Sched, acquirep, releasep};
use super::sysmon::preemptone;

/// The world is stopped while this lives; [`start_the_world`] restarts it.
pub(crate) struct Stopped<'a> {
    sched: &'a Sched,
    _serial: MutexGuard<'a, ()>,
    /// The caller, if it is one of this runtime's goroutines (it keeps its P).
    caller: Option<InRuntime>,
    /// Ps retaken from system calls.
    pub(crate) from_syscalls: usize,
}

/// Stops every P of `sched` but the caller's.
pub(crate) fn stop_the_world(sched: &Sched) -> Stopped<'_> {
    let serial = sched.stw_lock.lock().unwrap_or_else(|e| e.into_inner());
    sched.counters.stw.fetch_add(1, Ordering::Relaxed);
    if super::trace::on() {
        super::trace::record(Some(sched), super::trace::Kind::StwStart, 0, 0);
    }
    let caller = enter().filter(|rt| core::ptr::eq(rt.m().sched, sched));
    let nprocs = sched.nprocs.load(Ordering::Acquire);
    let mut from_syscalls = 0;
    {
        let mut l = sched.locked();
        sched.enter_flags.set(GCWAITING, true);
        l.stopwait = nprocs;
        if let Some(rt) = &caller {
            rt.p().status.store(PGCSTOP, Ordering::Release);
            sched.stopwait_done_locked(&mut l);
        }
        for p in &sched.allp[..nprocs] {
            if retake_syscall(p, PGCSTOP) {
                sched.stopwait_done_locked(&mut l);
                from_syscalls += 1;
            }
        }
        while let Some(p) = sched.pidleget_locked(&mut l) {
            // SAFETY: Ps live with the runtime.
            unsafe { (*p).status.store(PGCSTOP, Ordering::Release) };
            sched.stopwait_done_locked(&mut l);
        }
    }
    loop {
        let running: Vec<&P> = {
            let l = sched.locked();
            if l.stopwait == 0 {
                break;
            }
            sched.allp[..nprocs]
                .iter()
                .filter(|p| p.status.load(Ordering::Acquire) == PRUNNING)
                .collect()
        };
        for p in running {
            preemptone(sched, p);
        }
        if sched.stopnote.sleep_for(Duration::from_micros(100)) {
            break;
        }
        let mut l = sched.locked();
        for p in &sched.allp[..nprocs] {
            if l.stopwait > 0 && retake_syscall(p, PGCSTOP) {
                sched.stopwait_done_locked(&mut l);
                from_syscalls += 1;
            }
        }
    }
    sched.stopnote.clear();
    Stopped {
        sched,
        _serial: serial,
        caller,
        from_syscalls,
    }
}

/// Restarts every stopped P: those with work get an M, the rest go idle.
pub(crate) fn start_the_world(w: Stopped<'_>) {
    let sched = w.sched;
    let caller_p = w.caller.as_ref().map(|rt| rt.p() as *const P);
    let mut start = Vec::new();
    {
        let mut l = sched.locked();
        sched.enter_flags.set(GCWAITING, false);
        // sysmon sleeps deeply through a stop-the-world; the world runs again.
        sched.wake_sysmon_locked();
        let nprocs = sched.nprocs.load(Ordering::Acquire);
        for p in &sched.allp[..nprocs] {
            if Some(p as *const P) == caller_p {
                p.status.store(PRUNNING, Ordering::Release);
            } else if p.status.load(Ordering::Acquire) == PGCSTOP {
                if p.runq.is_empty() {
                    sched.pidleput_locked(&mut l, p as *const P as *mut P);
                } else {
                    start.push(p as *const P as *mut P);
                }
            }
        }
    }
    for p in start {
        sched.startm(Some(p), false);
    }
    sched.wakep();
    if super::trace::on() {
        super::trace::record(Some(sched), super::trace::Kind::StwEnd, 0, 0);
    }
}

/// On g0 of an M that found a stop-the-world pending: gives its P to it and stops. `false` at
/// shutdown (Go's `gcstopm`).
pub(crate) fn gcstopm(m: &M) -> bool {
    let sched = m.sched();
    if m.spinning.swap(false, Ordering::Relaxed) {
        // A stopped M is not looking for work; `start_the_world` wakes Ms as needed.
        sched.nmspinning.fetch_sub(1, Ordering::AcqRel);
    }
    {
        let mut l = sched.locked();
        if !sched.gcwaiting() {
            return true; // over already; keep the P
        }
        let p = releasep(m);
        // SAFETY: the P this M held.
        unsafe { (*p).status.store(PGCSTOP, Ordering::Release) };
        sched.stopwait_done_locked(&mut l);
    }
    sched.stopm(m)
}

/// Changes the number of Ps to `n` (at most the Ps allocated), through a stop-the-world;
/// returns the previous number (Go's `GOMAXPROCS`). `0` changes nothing, with no stop.
pub(crate) fn set_max_procs(sched: &Sched, n: usize) -> usize {
    if n == 0 {
        return sched.nprocs.load(Ordering::Acquire);
    }
    let w = stop_the_world(sched);
    let old = sched.nprocs.load(Ordering::Acquire);
    let n = n.clamp(1, sched.allp.len());
    if n != old {
        let mut l = sched.locked();
        for p in &sched.allp[n.min(old)..old] {
            // Retiring: its queued goroutines move to the global queue, its timers to P 0.
            while let Some(gp) = p.runq.pop() {
                Sched::globrunqput_locked(&mut l, gp);
                sched.runqsize.fetch_add(1, Ordering::Release);
            }
            p.timers.move_to(&sched.allp[0].timers);
            p.status.store(PDEAD, Ordering::Release);
        }
        for p in &sched.allp[old..n.max(old)] {
            p.status.store(PGCSTOP, Ordering::Release);
        }
        sched.nprocs.store(n, Ordering::Release);
        drop(l);
        if let Some(rt) = &w.caller
            && rt.p().id >= n
        {
            // The caller's own P is retired: it continues on P 0, which is stopped and free.
            let m = rt.m();
            let dead = releasep(m);
            // SAFETY: Ps live with the runtime.
            unsafe { (*dead).status.store(PDEAD, Ordering::Release) };
            acquirep(m, &sched.allp[0] as *const P as *mut P);
        }
    }
    start_the_world(w);
    old
}
