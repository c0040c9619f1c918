//! Waiting for an event, for a goroutine or a plain thread alike: the one primitive channels,
//! `WaitGroup` and `JoinHandle` are built on.
//!
//! A waiter puts a [`WaitNode`] (on its own stack) into the structure it waits on, under that
//! structure's lock, and calls [`WaitNode::park`] with a closure that releases the lock. A
//! goroutine parks through `gopark` (its thread runs other goroutines meanwhile); a plain
//! thread sleeps in `thread::park`. The waker, under the same lock, takes the node out, fills
//! in whatever result the structure passes, and calls [`WaitNode::wake`] after releasing the
//! lock. After `wake` the node may be gone at any moment, so nothing touches it afterwards.

use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;

use super::g::{G, WaitReason};
use super::proc::{InRuntime, current_g, enter, gopark, goready};

/// The lock of a structure goroutines wait on (a channel, a `WaitGroup`'s waiters).
pub(crate) struct WaitLock<T>(Mutex<T>);

/// Holds a [`WaitLock`]; for a goroutine, also marks it as in the runtime.
pub(crate) struct WaitGuard<'a, T> {
    // Dropped in this order: the lock, then the runtime mark.
    guard: MutexGuard<'a, T>,
    rt: Option<InRuntime>,
}

impl<T> WaitLock<T> {
    pub(crate) const fn new(v: T) -> WaitLock<T> {
        WaitLock(Mutex::new(v))
    }

    /// Takes the lock. A goroutine first enters the runtime: if it was running without a P
    /// (preempted by handoff, or inside `blocking`) it takes one back now, which may park it,
    /// rather than later under the lock, where parking would stall every other user of the
    /// structure; and the preemption signal leaves it alone while it holds the lock.
    pub(crate) fn lock(&self) -> WaitGuard<'_, T> {
        let rt = enter();
        // No user code runs under these locks, so they are never poisoned mid-update.
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        WaitGuard { guard, rt }
    }
}

/// Locks a parking select releases (see [`WaitNode::park_all`]): the guards of channels of
/// different element types, their types erased, kept inline (no allocation) up to
/// [`HeldLocks::INLINE`] of them.
pub(crate) struct HeldLocks {
    /// One runtime mark for all of them, taken while the locks' own marks still held (so the
    /// count never drops to 0 with a lock held); each lock's own mark is released on `push`.
    rt: Option<InRuntime>,
    guards: ErasedGuards,
}

/// The guards of [`HeldLocks`]: what a parking goroutine hands to g0 to release.
struct ErasedGuards {
    inline: [Option<ErasedGuard>; HeldLocks::INLINE],
    /// The guards beyond `INLINE`; empty (unallocated) for a select of up to `INLINE` channels.
    spill: Vec<ErasedGuard>,
}

/// A `MutexGuard<'_, T>` of a [`WaitLock`], its `T` and lifetime erased: stored in place of a
/// `MutexGuard<'static, ()>`, which has the same layout (a guard holds a reference to its
/// mutex and a flag, whatever `T` is; checked at compile time in [`ErasedGuard::new`]).
struct ErasedGuard {
    guard: MaybeUninit<MutexGuard<'static, ()>>,
    /// Drops `guard` as the `MutexGuard<'_, T>` it is.
    drop: unsafe fn(*mut MaybeUninit<MutexGuard<'static, ()>>),
}

impl ErasedGuard {
    /// # Safety
    /// The lock `guard` holds outlives the returned value.
    unsafe fn new<T>(guard: MutexGuard<'_, T>) -> ErasedGuard {
        /// # Safety
        /// `p` holds a live `MutexGuard<'_, T>`, dropped by nobody else.
        unsafe fn drop_as<T>(p: *mut MaybeUninit<MutexGuard<'static, ()>>) {
            // SAFETY: the caller's contract.
            unsafe { core::ptr::drop_in_place(p.cast::<MutexGuard<'_, T>>()) }
        }
        const {
            assert!(size_of::<MutexGuard<'_, T>>() == size_of::<MutexGuard<'_, ()>>());
            assert!(align_of::<MutexGuard<'_, T>>() == align_of::<MutexGuard<'_, ()>>());
        }
        let mut e = ErasedGuard {
            guard: MaybeUninit::uninit(),
            drop: drop_as::<T>,
        };
        // SAFETY: the slot has the guard's size and alignment (asserted above); the guard is
        // moved in, and dropped only through `drop_as::<T>`.
        unsafe {
            e.guard
                .as_mut_ptr()
                .cast::<MutexGuard<'_, T>>()
                .write(guard)
        };
        e
    }
}

impl Drop for ErasedGuard {
    fn drop(&mut self) {
        // SAFETY: `new` stored a guard of the type `drop` was made for; this runs once.
        unsafe { (self.drop)(&mut self.guard) }
    }
}

impl HeldLocks {
    /// Guards kept without allocating: a select's channels, as Go keeps its orders in the
    /// caller's frame for small selects.
    pub(crate) const INLINE: usize = 8;

    /// Empty; takes the runtime mark that covers the wait. Create it while the locks to be
    /// pushed are still held.
    pub(crate) fn new() -> HeldLocks {
        HeldLocks {
            rt: enter(),
            guards: ErasedGuards {
                inline: [const { None }; HeldLocks::INLINE],
                spill: Vec::new(),
            },
        }
    }

    /// Keeps `guard`'s lock held until the wait releases it; its runtime mark is released
    /// now (this one covers it).
    ///
    /// # Safety
    /// The lock outlives `self` (its lifetime is erased): `self` is passed to
    /// [`WaitNode::park_all`] or dropped while the lock's owner is still borrowed.
    pub(crate) unsafe fn push<T>(&mut self, guard: WaitGuard<'_, T>) {
        let WaitGuard { guard, rt } = guard;
        // SAFETY: the caller's contract.
        let e = unsafe { ErasedGuard::new(guard) };
        match self.guards.inline.iter_mut().find(|g| g.is_none()) {
            Some(slot) => *slot = Some(e),
            None => self.guards.spill.push(e),
        }
        drop(rt);
    }
}

impl<T> Deref for WaitGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for WaitGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Plain threads (not goroutines) parked here, in any runtime: they can wake nobody until a
/// goroutine wakes them, which the deadlock check (`checkdead`) relies on.
pub(crate) static PARKED_THREADS: AtomicUsize = AtomicUsize::new(0);

enum Waiter {
    G(*mut G),
    Thread(Thread),
}

pub(crate) struct WaitNode {
    waiter: Waiter,
    woken: AtomicBool,
}

// SAFETY: the G pointer is handed to `goready` by the one waker that took the node; `Thread`
// is Send and Sync.
unsafe impl Send for WaitNode {}
// SAFETY: as above.
unsafe impl Sync for WaitNode {}

/// A node's address, as wait queues hold it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeRef(*const WaitNode);

// SAFETY: a NodeRef is only dereferenced by the waker that removed it from its queue, while
// the waiter is still parked.
unsafe impl Send for NodeRef {}

impl NodeRef {
    /// The node's address: a multiple of 8, so a word holding it has three bits to spare
    /// for flags (a `JoinHandle`'s task state).
    pub(crate) fn addr(self) -> usize {
        const { assert!(align_of::<WaitNode>() >= 8) };
        self.0 as usize
    }

    /// The node at `addr`, as [`addr`](Self::addr) gave it.
    ///
    /// # Safety
    /// `addr` came from `addr` of a node whose waiter is still parked.
    pub(crate) unsafe fn from_addr(addr: usize) -> NodeRef {
        NodeRef(addr as *const WaitNode)
    }
}

impl WaitNode {
    /// A node for the calling goroutine or thread.
    pub(crate) fn new() -> WaitNode {
        let waiter = match current_g() {
            Some(g) => Waiter::G(g),
            None => Waiter::Thread(std::thread::current()),
        };
        WaitNode {
            waiter,
            woken: AtomicBool::new(false),
        }
    }

    pub(crate) fn as_ref(&self) -> NodeRef {
        NodeRef(self)
    }

    /// Waits until woken, releasing `guard` (the lock the waker takes) once the caller is
    /// ready to be woken. `why` says what it waits for, for the deadlock report.
    pub(crate) fn park<T>(&self, guard: WaitGuard<'_, T>, why: WaitReason) {
        // The runtime mark stays with the goroutine; only the lock goes to g0 to be released.
        let WaitGuard { guard, rt } = guard;
        self.wait(why, move || drop(guard));
        drop(rt);
    }

    /// [`park`](Self::park) releasing several locks (a select's channels; none for a select
    /// with no cases, which is never woken). The guards move to g0 by value (inline, or their
    /// spill vector), so releasing them reads nothing on the goroutine's stack: after the
    /// first is released, a waker may resume the goroutine elsewhere.
    pub(crate) fn park_all(&self, locks: HeldLocks, why: WaitReason) {
        let HeldLocks { rt, guards } = locks;
        self.wait(why, move || drop(guards));
        drop(rt);
    }

    /// Waits until woken, for a structure that publishes its waiter with one atomic operation
    /// rather than under a lock (a `JoinHandle`'s task): `publish` makes the node findable by
    /// its waker and returns `true`, or finds the event already there and returns `false`, and
    /// then this returns at once. It runs once the caller is ready to be woken (on g0 for a
    /// goroutine).
    pub(crate) fn park_if(&self, why: WaitReason, publish: impl FnOnce() -> bool) {
        match self.waiter {
            Waiter::G(_) => gopark(why, publish),
            Waiter::Thread(_) => {
                if !publish() {
                    return;
                }
                // Counted once findable, so a quick waker may uncount it first and the count
                // reads one short for a moment (`checkdead` wraps, sees a mismatch and stands
                // down). Counted before, a failed publish would leave a running thread counted
                // as blocked for a moment: a false deadlock report.
                PARKED_THREADS.fetch_add(1, Ordering::AcqRel);
                super::checkdead::checkdead_all();
                // Acquire: as in `wait`.
                while !self.woken.load(Ordering::Acquire) {
                    std::thread::park();
                }
            }
        }
    }

    /// Waits until woken; `release` lets the waker in, once the caller is ready to be woken
    /// (on g0 for a goroutine).
    fn wait(&self, why: WaitReason, release: impl FnOnce()) {
        match self.waiter {
            Waiter::G(_) => {
                gopark(why, move || {
                    release();
                    true
                });
                debug_assert!(self.woken.load(Ordering::Acquire));
            }
            Waiter::Thread(_) => {
                // Counted until its waker uncounts it, before it can be woken.
                PARKED_THREADS.fetch_add(1, Ordering::AcqRel);
                release();
                super::checkdead::checkdead_all();
                // Acquire: synchronizes with the Release in `wake`, so the result the waker
                // wrote is visible.
                while !self.woken.load(Ordering::Acquire) {
                    std::thread::park();
                }
            }
        }
    }

    /// Wakes the waiter of `node`.
    ///
    /// # Safety
    /// The caller took `node` out of its wait queue (so it alone wakes it), and the waiter has
    /// not been woken.
    pub(crate) unsafe fn wake(node: NodeRef) {
        // SAFETY: the waiter is parked until `woken` is set, so the node is alive until then.
        let n = unsafe { &*node.0 };
        match &n.waiter {
            &Waiter::G(gp) => {
                n.woken.store(true, Ordering::Release);
                // SAFETY: the goroutine is parked (or about to be, under `gopark`, which makes it
                // waiting before `unlock` lets us find it) and this is its one waker.
                unsafe { goready(gp) };
            }
            Waiter::Thread(t) => {
                // What waits in this M's trace (an unblock, held for its next record) is
                // written first: the thread may stop the trace as soon as it is woken
                // (`Runtime::run` returning, then `trace::stop`), and would drop it, leaving
                // the start it led to, on another M, with no arrow.
                super::trace::settle_current();
                let t = t.clone();
                // Uncounted by the waker, not the thread: from here it may run on.
                PARKED_THREADS.fetch_sub(1, Ordering::AcqRel);
                // Release: publishes what the waker wrote before; after this store the waiter
                // may return and free the node, so `t` was cloned first.
                n.woken.store(true, Ordering::Release);
                t.unpark();
            }
        }
    }
}
