//! Dead goroutines kept for reuse (Go's `gfput` / `gfget`), so a spawn in the steady state
//! does not allocate its G.
//!
//! A dead G has given its stack to the P it ended on (`P::keep_stack`): the next goroutine
//! that P starts runs on it while it is still in the cache. The G itself goes to that P's
//! list. Goroutines often end on another P than the one that spawned them (the spawner's queue
//! is stolen from), so a P whose list fills up moves half of it to the runtime's global list,
//! and a P that runs dry takes a batch back: the lock is taken once per `P_GFREE` goroutines.

#![allow(
    clippy::vec_box,
    reason = "the G's allocation is what is reused: goroutines are run by address"
)]

use core::cell::UnsafeCell;
use std::sync::Mutex;

use super::g::G;

/// The batch a P moves to or from the global list.
pub(crate) const P_GFREE: usize = 32;

/// The most dead Gs the global list keeps; beyond it they are freed.
pub(crate) const GFREE_BOUND: usize = 4096;

/// A P's dead Gs. Only the P's owner (the M holding it, on g0) touches the list.
pub(crate) struct LocalFree {
    list: UnsafeCell<Vec<Box<G>>>,
}

// SAFETY: the list is touched only by the P's owner (see the type's doc).
unsafe impl Sync for LocalFree {}

impl LocalFree {
    pub(crate) fn new() -> LocalFree {
        LocalFree {
            list: UnsafeCell::new(Vec::new()),
        }
    }

    /// A dead G, from this list or, when it is empty, a batch from `global`.
    ///
    /// # Safety
    /// The caller owns the P this list belongs to.
    pub(crate) unsafe fn get(&self, global: &GlobalFree) -> Option<Box<G>> {
        // SAFETY: the caller's contract; no reference to the list outlives the call.
        let list = unsafe { &mut *self.list.get() };
        if list.is_empty() {
            global.refill(list);
        }
        list.pop()
    }

    /// Keeps the dead `g`; moves a batch to `global` when the list is full.
    ///
    /// # Safety
    /// As for `get`.
    pub(crate) unsafe fn put(&self, g: Box<G>, global: &GlobalFree) {
        // SAFETY: as above.
        let list = unsafe { &mut *self.list.get() };
        list.push(g);
        if list.len() >= 2 * P_GFREE {
            global.put(list.drain(P_GFREE..));
        }
    }

    /// Frees every G the list holds.
    ///
    /// # Safety
    /// As for `get`.
    pub(crate) unsafe fn clear(&self) {
        // SAFETY: as above.
        drop(core::mem::take(unsafe { &mut *self.list.get() }));
    }
}

/// The runtime's dead Gs, shared by its Ps, at most `GFREE_BOUND` of them.
pub(crate) struct GlobalFree {
    free: Mutex<Vec<Box<G>>>,
}

impl GlobalFree {
    pub(crate) fn new() -> GlobalFree {
        GlobalFree {
            free: Mutex::new(Vec::new()),
        }
    }

    /// Moves up to `P_GFREE` Gs into `into`.
    fn refill(&self, into: &mut Vec<Box<G>>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let from = free.len().saturating_sub(P_GFREE);
        into.extend(free.drain(from..));
    }

    /// Takes `gs` back; past the bound they are freed.
    fn put(&self, gs: impl Iterator<Item = Box<G>>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let room = GFREE_BOUND.saturating_sub(free.len());
        let mut gs = gs;
        free.extend(gs.by_ref().take(room));
        drop(free);
        gs.for_each(drop); // freed outside the lock
    }

    /// Frees every G it holds.
    pub(crate) fn clear(&self) {
        let free = core::mem::take(&mut *self.free.lock().unwrap_or_else(|e| e.into_inner()));
        drop(free); // outside the lock
    }
}
