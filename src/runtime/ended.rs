//! Runtimes that ended with goroutines unfinished, and the joins that would otherwise wait on
//! those goroutines for ever.
//!
//! A runtime *ends* when it has been shut down (its `Runtime` dropped) and its last M has
//! exited (`Sched::end_if_done`). From then on none of its goroutines runs again: goroutines
//! run only on the runtime's Ms, and `startm` starts none at shutdown. A goroutine it leaves
//! unfinished is abandoned: its memory stays (a wait queue elsewhere may still reach it), its
//! task's state is never moved to `DONE`.
//!
//! A join waits for that move, so a joiner from outside the runtime (a plain thread, or a
//! goroutine of another runtime) records itself here before it parks, under [`ENDED`]'s lock:
//! when the runtime ends, [`runtime_ended`] takes each such joiner's node back out of its task
//! and wakes it, and a join that comes later finds the runtime in `dead` and does not park.
//! Either way the joiner sees the state it published from (0) and gives the task up as a
//! dropped handle does (`task.rs`). A goroutine of the same runtime records nothing: it ends
//! with its runtime.
//!
//! Publishing and ending take the same lock, so a joiner either publishes before the runtime
//! ends (and is woken by it) or sees it dead (and does not park): no wake-up is lost. The
//! node is taken out of the task by a CAS, as the goroutine's final swap takes it, so exactly
//! one of them wakes the joiner.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use super::park::{NodeRef, WaitNode};

/// A joiner parked on a goroutine of another runtime.
struct Joiner {
    /// The goroutine's runtime (`Sched::id`).
    rt: u64,
    /// The task's state word, which holds `node` while the joiner waits.
    word: *const AtomicUsize,
    /// The joiner's node address.
    node: usize,
}

struct Ended {
    /// The ids of runtimes that ended with goroutines unfinished. Each such runtime keeps its
    /// memory for good, so a word more per runtime is no new cost.
    dead: BTreeSet<u64>,
    /// Joiners recorded by [`publish`] and not yet withdrawn or woken by [`runtime_ended`].
    waiting: Vec<Joiner>,
}

// SAFETY: the raw pointers are task state words, read only under the lock while their joiner
// is recorded (it withdraws before it lets its task go).
unsafe impl Send for Ended {}

static ENDED: Mutex<Ended> = Mutex::new(Ended {
    dead: BTreeSet::new(),
    waiting: Vec::new(),
});

fn lock() -> MutexGuard<'static, Ended> {
    // Nothing panics under this lock.
    ENDED.lock().unwrap_or_else(|e| e.into_inner())
}

/// For a joiner outside runtime `rt` (on g0 of its own runtime, for a goroutine, once it is
/// ready to be woken): publishes `node` in the task's state `word` (0 -> node) and records
/// the joiner, unless `rt` has ended or the goroutine has finished (the word is not 0); `true`
/// if the joiner should park. A recorded joiner calls [`withdraw`] once it runs again, before
/// it lets its task go.
pub(crate) fn publish(rt: u64, word: &AtomicUsize, node: usize) -> bool {
    let mut e = lock();
    if e.dead.contains(&rt) {
        return false;
    }
    // AcqRel / Acquire: as the CAS of a join within the runtime (see `task.rs`).
    if word
        .compare_exchange(0, node, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    e.waiting.push(Joiner {
        rt,
        word: word as *const AtomicUsize,
        node,
    });
    true
}

/// Forgets the joiner of `node`, if [`runtime_ended`] has not already.
pub(crate) fn withdraw(node: usize) {
    let mut e = lock();
    if let Some(i) = e.waiting.iter().position(|j| j.node == node) {
        e.waiting.swap_remove(i);
    }
}

/// Runtime `rt` has ended with goroutines unfinished: joins of them stop waiting, now and
/// later. Each recorded joiner whose node is still in its task is woken with the state back
/// at 0; one whose goroutine finished meanwhile was woken by it.
pub(crate) fn runtime_ended(rt: u64) {
    let mut woken = Vec::new();
    {
        let mut e = lock();
        e.dead.insert(rt);
        e.waiting.retain(|j| {
            if j.rt != rt {
                return true;
            }
            // SAFETY: the word lives while its joiner is recorded (see `Ended`).
            let word = unsafe { &*j.word };
            if word
                .compare_exchange(j.node, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                woken.push(j.node);
            }
            false
        });
    }
    for node in woken {
        // SAFETY: taken out of its task by the CAS above, so no goroutine's swap finds it and
        // we alone wake it; its joiner stays parked (the node alive) until we do.
        unsafe { WaitNode::wake(NodeRef::from_addr(node)) };
    }
}
