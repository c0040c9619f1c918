//! Goroutines locked to their thread (Go's `LockOSThread`): a locked goroutine runs only on
//! its M, and that M runs nothing else.
//!
//! When a locked goroutine parks, yields or blocks, its M gives its P away and sleeps
//! (`stoplockedm`); whichever M later finds the goroutine runnable hands its own P to the
//! locked M and stops (`startlockedm`). A goroutine that exits while locked ends its thread.

use core::sync::atomic::Ordering;

use super::g::G;
use super::m::M;
use super::proc::enter;
use super::proc_syscall::handoffp;
use super::sched::{acquirep, releasep};

/// Wires the calling goroutine to its current thread; nests (Go's `LockOSThread`). A no-op
/// outside a goroutine, whose thread is its own anyway.
pub(crate) fn lock_os_thread() {
    let Some(rt) = enter() else { return };
    let (m, g) = (rt.m(), rt.g());
    // SAFETY: the running goroutine owns its own fields.
    let owned = unsafe { g.owned() };
    owned.locks += 1;
    if owned.locks == 1 {
        g.lockedm.store(m as *const M as *mut M, Ordering::Relaxed);
        m.lockedg.store(g as *const G as *mut G, Ordering::Relaxed);
    }
}

/// Undoes one [`lock_os_thread`]; at zero the goroutine may move again. More unlocks than
/// locks are ignored, as in Go.
pub(crate) fn unlock_os_thread() {
    let Some(rt) = enter() else { return };
    let (m, g) = (rt.m(), rt.g());
    // SAFETY: as above.
    let owned = unsafe { g.owned() };
    if owned.locks == 0 {
        return;
    }
    owned.locks -= 1;
    if owned.locks == 0 {
        g.lockedm.store(core::ptr::null_mut(), Ordering::Relaxed);
        m.lockedg.store(core::ptr::null_mut(), Ordering::Relaxed);
    }
}

/// On g0 of a locked M whose goroutine cannot run now: gives the P (if any) away and sleeps
/// until `startlockedm` hands one back with the goroutine. `false` at shutdown (Go's
/// `stoplockedm`).
pub(crate) fn stoplockedm(m: &M) -> bool {
    let sched = m.sched();
    if !m.p().is_null() {
        let p = releasep(m);
        handoffp(sched, p);
    }
    m.park.sleep();
    m.park.clear();
    let p = m.nextp.swap(core::ptr::null_mut(), Ordering::Relaxed);
    if p.is_null() {
        return false;
    }
    acquirep(m, p);
    true
}

/// On g0 of `m`, which found `gp` runnable but locked to another M: hands that M our P (it
/// will run `gp`). The caller then stops (Go's `startlockedm`).
pub(crate) fn startlockedm(m: &M, gp: *mut G) {
    // SAFETY: `gp` came off a run queue and is locked to a live M of this runtime.
    let lm = unsafe { &*(*gp).lockedm.load(Ordering::Relaxed) };
    let p = releasep(m);
    lm.nextp.store(p, Ordering::Relaxed);
    lm.park.wakeup();
}
