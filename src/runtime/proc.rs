//! Goroutine creation, parking and readying (Go's `newproc`, `gopark`, `goready`,
//! `gosched`).

use core::sync::atomic::Ordering;

use super::g::{Entry, G, GRUNNABLE, GWAITING};
use super::m::{M, Pending, current_m};
use super::p::P;
use super::sched::{Sched, mcall, next_goid};

/// The M of the calling goroutine, or `None` on a thread that is not running a goroutine.
pub(crate) fn running_m() -> Option<&'static M> {
    let m = current_m();
    // SAFETY: a non-null current M lives until its thread ends, after the caller returns.
    let m = unsafe { m.as_ref() }?;
    if m.curg.load(Ordering::Relaxed).is_null() {
        None
    } else {
        Some(m)
    }
}

/// Creates a goroutine running `entry` on `sched`: on the caller's P if the caller is one of
/// `sched`'s goroutines (in `runnext`, as Go does), else on the global queue. Returns its id.
pub(crate) fn newproc(sched: &Sched, entry: Entry) -> u64 {
    let goid = next_goid();
    let gp = Box::into_raw(G::new(goid, sched, entry));
    match running_m() {
        Some(m) if core::ptr::eq(m.sched, sched) => {
            // SAFETY: a goroutine's M holds a P while the goroutine runs runtime code.
            let p = unsafe { &*m.p() };
            P::bump(&p.spawned);
            sched.runqput(p, gp, true);
        }
        _ => {
            sched.spawned_outside.fetch_add(1, Ordering::AcqRel);
            sched.globrunqput(gp);
        }
    }
    sched.wakep();
    goid
}

/// Parks the calling goroutine. On g0, after the goroutine is marked waiting and its state
/// saved, `unlock` runs: it releases whatever lock its waker takes, and returns `true` to stay
/// parked or `false` to resume at once. Returns when someone calls [`goready`].
pub(crate) fn gopark(mut unlock: impl FnMut() -> bool) {
    let f: &mut dyn FnMut() -> bool = &mut unlock;
    // SAFETY: only the lifetime is erased; `execute` calls the closure while this frame is
    // suspended and alive.
    let f: *mut (dyn FnMut() -> bool + 'static) = unsafe { core::mem::transmute(f) };
    mcall(Pending::Park(f));
}

/// Makes a parked goroutine runnable: next on the caller's P when the caller runs on the same
/// runtime, else on its runtime's global queue.
///
/// # Safety
/// `gp` is a goroutine parked by [`gopark`] whose waker is the caller (so nobody else readies
/// it).
pub(crate) unsafe fn goready(gp: *mut G) {
    // SAFETY: the caller's contract: the G is parked and ours to ready.
    let g = unsafe { &*gp };
    // SAFETY: a G's runtime outlives it.
    let sched = unsafe { &*g.sched };
    g.casstatus(GWAITING, GRUNNABLE);
    match running_m() {
        Some(m) if core::ptr::eq(m.sched, g.sched) => {
            // SAFETY: the M holds a P while its goroutine runs runtime code.
            sched.runqput(unsafe { &*m.p() }, gp, true);
        }
        _ => sched.globrunqput(gp),
    }
    sched.wakep();
}

/// Yields the processor: the goroutine goes to the back of the global queue (Go's
/// `Gosched`). On a thread that is not a goroutine, yields the thread.
pub(crate) fn gosched() {
    if running_m().is_some() {
        mcall(Pending::Yield);
    } else {
        super::sys::sched_yield();
    }
}

/// The id of the calling goroutine, or `None` outside one.
pub(crate) fn goid() -> Option<u64> {
    // SAFETY: the current G of this thread's M is the caller, alive while it runs.
    running_m().map(|m| unsafe { (*m.curg.load(Ordering::Relaxed)).goid })
}

/// The runtime of the calling goroutine.
pub(crate) fn current_sched() -> Option<&'static Sched> {
    running_m().map(|m| m.sched())
}
