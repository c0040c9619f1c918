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
        // Before the goroutine can change anything in this thread: the template is cloned
        // from it.
        super::threads::start_template_thread();
        m.taint();
        if !owned.unwinding {
            wire(m, g);
        }
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
    if owned.locks == 0 && !owned.unwinding {
        unwire(m, g);
    }
}

fn wire(m: &M, g: &G) {
    g.lockedm.store(m as *const M as *mut M, Ordering::Relaxed);
    m.lockedg.store(g as *const G as *mut G, Ordering::Relaxed);
}

fn unwire(m: &M, g: &G) {
    g.lockedm.store(core::ptr::null_mut(), Ordering::Relaxed);
    m.lockedg.store(core::ptr::null_mut(), Ordering::Relaxed);
}

/// Called by the running goroutine `g` on `m` before every switch to g0: while it unwinds a
/// panic it stays on this thread. std keeps the panic count in a thread-local that
/// `catch_unwind` decrements on the thread where the unwinding ends; a goroutine that changed
/// threads on the way (a `Drop` that parks, joins or leaves `blocking`) would leave one thread
/// counting a panic for ever and wrap the other's count below zero. Pinned while
/// `std::thread::panicking()`, released at the first switch after it is over. Costs one
/// relaxed load of std's global panic count while nobody panics.
pub(crate) fn pin_while_unwinding(m: &M, g: &G) {
    let panicking = std::thread::panicking();
    // SAFETY: the running goroutine owns its fields; no other reference is alive.
    let owned = unsafe { g.owned() };
    if panicking == owned.unwinding {
        return;
    }
    owned.unwinding = panicking;
    if owned.locks == 0 {
        if panicking { wire(m, g) } else { unwire(m, g) }
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
    {
        let mut l = sched.locked();
        if sched.shutdown.load(Ordering::Acquire) {
            return false;
        }
        // Listed for `begin_shutdown` unless `startlockedm` has handed us the goroutine
        // already (it sets `nextp` under the lock before waking us).
        if m.nextp.load(Ordering::Relaxed).is_null() {
            l.mlocked.push(m as *const M as *mut M);
            sched.checkdead_locked(&l);
        }
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
    let sched = m.sched();
    let p = releasep(m);
    {
        let mut l = sched.locked();
        if sched.shutdown.load(Ordering::Acquire) {
            // `begin_shutdown` has woken (or will wake) `lm` to exit; the goroutine is
            // abandoned with the runtime.
            sched.pidleput_locked(&mut l, p);
            return;
        }
        l.mlocked.retain(|&x| !core::ptr::eq(x, lm));
        lm.nextp.store(p, Ordering::Relaxed);
    }
    lm.park.wakeup();
}
