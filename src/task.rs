//! A spawned goroutine's task and its [`JoinHandle`]: the closure, then the result, in one
//! allocation the goroutine and the handle share, handed over by one atomic word.
//!
//! A spawn costs this allocation and the G. A million goroutines pending or finished but not
//! yet joined cost a million tasks, so the task is kept small: for a closure and a result of
//! one word each it is 24 bytes (a 32-byte heap block; a task behind an `Arc` with a locked
//! result slot was 72, an 80-byte block), and the handle three words (the third names the
//! goroutine's runtime; it is in the handle, not the task, whose block would grow a class).
//!
//! ```text
//!                  goroutine ends (swap)
//!   0 ───────────────────────────────────────────────────> DONE [| PANICKED]
//!   │ └──── join parks (CAS 0 -> node) ──> node ─ goroutine ends (swap), wakes ──^
//!   │ ^──── runtime ended (CAS node -> 0), wakes ───────────┘
//!   └────── handle dropped (CAS 0 -> HANDLE_GONE) ──> HANDLE_GONE ── goroutine ends: frees
//! ```
//! The side that moves the state last frees the task: the goroutine if the handle was dropped
//! first; else the handle (in `join`, or its drop). After its swap the goroutine touches the
//! task no more.
//!
//! A goroutine abandoned with its runtime (see `runtime/ended.rs`) never swaps. A join that
//! finds its runtime ended, or is woken by the end (which takes the node back, 0), gives the
//! task up as a dropped handle does (CAS 0 -> HANDLE_GONE) and returns an error: the task then
//! stays with the abandoned goroutine, which frees it if it ever ends (it cannot: it never
//! runs again), so nobody frees it twice or reads it after it is freed.

use core::cell::UnsafeCell;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::runtime::ended;
use crate::runtime::g::{Entry, WaitReason};
use crate::runtime::park::{NodeRef, WaitNode};
use crate::runtime::proc::{newproc, runtime_of_thread};
use crate::runtime::sched::{Sched, next_goid};

/// The goroutine has ended: the slot holds its result, and it touches the task no more.
const DONE: usize = 1;
/// With `DONE`: the slot holds a panic's payload rather than a value.
const PANICKED: usize = 2;
/// The handle was dropped unjoined: the goroutine frees the task when it ends.
const HANDLE_GONE: usize = 4;

/// The part of a task at the same offset whatever its closure's type, which is all the
/// handle reaches without knowing that type.
struct Header {
    /// `0` (running or pending, handle alive), a waiting joiner's node address (aligned, so
    /// never a flag), `HANDLE_GONE`, or `DONE` with perhaps `PANICKED`.
    state: AtomicUsize,
    /// The goroutine's id.
    id: u64,
}

#[repr(C)]
struct Task<F, T> {
    header: Header,
    /// The closure until the goroutine starts, nothing while it runs, its result once
    /// `DONE`. Touched by the goroutine before its final swap, by the last owner after.
    slot: UnsafeCell<Slot<F, T>>,
}

union Slot<F, T> {
    f: ManuallyDrop<F>,
    ok: ManuallyDrop<T>,
    /// Boxed twice so that the rare panic does not widen every task by a word.
    panic: ManuallyDrop<Box<Box<dyn Any + Send>>>,
}

impl<F: FnOnce() -> T + Send + 'static, T: Send + 'static> Task<F, T> {
    /// The goroutine's side: runs the closure, stores its result, hands the task over.
    ///
    /// # Safety
    /// `p` is a `Task<F, T>` made by [`spawn_on`], and this is its one start.
    unsafe fn run(p: NonNull<u8>) {
        let task = p.cast::<Task<F, T>>().as_ptr();
        // SAFETY: the slot holds the closure until this start, and nobody else reads the slot
        // before `DONE`.
        let f = unsafe { ManuallyDrop::take(&mut (*(*task).slot.get()).f) };
        let result = catch_unwind(AssertUnwindSafe(f));
        // The goroutine's locals go before its result is delivered, as a thread's do before
        // its `join` returns. A destructor that panics makes that the goroutine's panic when it
        // had none (std aborts the process there: "thread local panicked on drop"); its own
        // panic wins otherwise. Either way the unwinding ends here: past this function it
        // would reach the goroutine's first frame, where it aborts the process.
        let result = match catch_unwind(crate::local::clear_current) {
            Ok(()) => result,
            Err(e) => match result {
                Ok(v) => {
                    drop_quietly(v);
                    Err(e)
                }
                Err(first) => {
                    drop_quietly(e);
                    Err(first)
                }
            },
        };
        let (slot, state) = match result {
            Ok(v) => (
                Slot {
                    ok: ManuallyDrop::new(v),
                },
                DONE,
            ),
            Err(e) => (
                Slot {
                    panic: ManuallyDrop::new(Box::new(e)),
                },
                DONE | PANICKED,
            ),
        };
        // SAFETY: as above; the closure has been moved out.
        unsafe { (*task).slot.get().write(slot) };
        // Release: publishes the result to the handle. Acquire: the handle's last access
        // (its drop, or its node) comes before what we do next.
        // SAFETY: the task lives until this swap moves it to `DONE` (nobody frees it before).
        let was = unsafe { &(*task).header.state }.swap(state, Ordering::AcqRel);
        match was {
            0 => {}
            // Nobody can take the result any more: dropped here, where a `Drop` that panics
            // (the value's, or a panic payload's) must not unwind out of the goroutine.
            // SAFETY: the handle is gone, so we are the last owner of the finished task.
            HANDLE_GONE => {
                drop_quietly(unsafe { Self::finish(p.cast(), state) });
                // Locals that drop made go now too, not with the next goroutine on this G.
                if let Err(payload) = catch_unwind(crate::local::clear_current) {
                    drop_quietly(payload);
                }
            }
            // SAFETY: a joiner's node, published by its CAS; only this swap takes it.
            node => unsafe { WaitNode::wake(NodeRef::from_addr(node)) },
        }
    }

    /// Frees the finished task at `p` and returns its result.
    ///
    /// # Safety
    /// `p` is a `Task<F, T>` whose state is `state`, with `DONE`; the caller is its last owner.
    unsafe fn finish(p: NonNull<Header>, state: usize) -> std::thread::Result<T> {
        // SAFETY: the caller's contract; made by `Box::new` in `spawn_on`.
        let Task { slot, .. } = *unsafe { Box::from_raw(p.cast::<Task<F, T>>().as_ptr()) };
        let slot = slot.into_inner();
        if state & PANICKED == 0 {
            // SAFETY: `DONE` without `PANICKED`: the goroutine stored its value.
            Ok(ManuallyDrop::into_inner(unsafe { slot.ok }))
        } else {
            // SAFETY: `PANICKED`: it stored its panic's payload.
            Err(*ManuallyDrop::into_inner(unsafe { slot.panic }))
        }
    }
}

/// Drops `v` where nobody is left to report a panic of its `Drop` to, and where unwinding
/// must stop: the result of a goroutine whose handle is gone, a goroutine-local value beside
/// another whose destructor panicked. Such a panic is shown by the panic hook, as every panic
/// is, then swallowed (as tokio does for the output of a task whose `JoinHandle` was dropped;
/// std aborts there). So is a panic of the dropped payload's own `Drop`, and so on.
pub(crate) fn drop_quietly<V>(v: V) {
    let mut r = catch_unwind(AssertUnwindSafe(move || drop(v)));
    while let Err(payload) = r {
        r = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// Starts a goroutine running `f` on `sched`.
pub(crate) fn spawn_on<T: Send + 'static>(
    sched: &Sched,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    fn erase<F: FnOnce() -> T + Send + 'static, T: Send + 'static>(
        f: F,
        id: u64,
    ) -> (NonNull<Header>, Entry, Finish<T>) {
        let task = NonNull::from(Box::leak(Box::new(Task::<F, T> {
            header: Header {
                state: AtomicUsize::new(0),
                id,
            },
            slot: UnsafeCell::new(Slot::<F, T> {
                f: ManuallyDrop::new(f),
            }),
        })));
        // SAFETY: `run` takes a `Task<F, T>`, which `task` is; the G calls it once.
        let entry = unsafe { Entry::new(task.cast(), Task::<F, T>::run) };
        (task.cast(), entry, Task::<F, T>::finish)
    }
    let id = next_goid();
    let (task, entry, finish) = erase(f, id);
    newproc(sched, id, entry);
    JoinHandle {
        task,
        finish,
        rt: sched.id,
    }
}

/// The payload of the error [`JoinHandle::join`] returns for a goroutine abandoned with its
/// runtime.
pub(crate) const ABANDONED: &str = "goro: the goroutine's runtime was dropped before it finished";

/// [`Task::finish`] for the handle's task, whose closure type the handle does not know.
type Finish<T> = unsafe fn(NonNull<Header>, usize) -> std::thread::Result<T>;

/// An owned permission to wait for a goroutine and take its result.
pub struct JoinHandle<T> {
    task: NonNull<Header>,
    finish: Finish<T>,
    /// The goroutine's runtime (`Sched::id`), named, not kept alive: for `join` to see it end.
    rt: u64,
}

// SAFETY: the handle moves the task's result (a `T`, or a `Send` panic payload) to whichever
// thread joins or drops it; everything else it reads is atomic or never written.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&self` the handle only reads the id and the atomic state.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn header(&self) -> &Header {
        // SAFETY: the task lives while its handle does: only the handle frees it once the
        // goroutine has ended, and the goroutine only while the handle is gone.
        unsafe { self.task.as_ref() }
    }

    /// Waits for the goroutine and returns its result, or the payload of its panic, as
    /// `std::thread::JoinHandle::join` does. In a goroutine, parks only the goroutine.
    ///
    /// # Errors
    /// The payload of the goroutine's panic, or, for a goroutine its runtime abandoned (the
    /// [`Runtime`](crate::Runtime) was dropped before the goroutine finished, and it will
    /// never run again), the `&'static str`
    /// `"goro: the goroutine's runtime was dropped before it finished"` (tokio's
    /// `JoinError::Cancelled`). That error comes once the runtime's threads have all exited,
    /// whether the join began before the drop or after it; a goroutine still running then (in
    /// a long system call) may still finish, and its join then returns its result. A goroutine
    /// of the same runtime joining an abandoned one is abandoned itself, and never returns.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// let (_keep, rx) = goro::chan::<()>(0);
    /// let h = rt.spawn(move || rx.recv()); // waits for ever
    /// drop(rt);
    /// let err = h.join().unwrap_err();
    /// assert_eq!(
    ///     err.downcast_ref::<&str>(),
    ///     Some(&"goro: the goroutine's runtime was dropped before it finished")
    /// );
    /// ```
    ///
    /// # Panics
    /// If the goroutine joins itself, which would wait for ever (std's `join` panics with
    /// `EDEADLK` there).
    pub fn join(self) -> Result<T, Box<dyn Any + Send + 'static>> {
        let this = ManuallyDrop::new(self); // the task is freed here, not by `drop`
        let state = &this.header().state;
        // Acquire: pairs with the goroutine's swap; the result is visible.
        let mut s = state.load(Ordering::Acquire);
        if s & DONE == 0 {
            if crate::current() == Some(this.id()) {
                // Dropped on unwinding as the handle would be: the goroutine frees the task.
                drop(ManuallyDrop::into_inner(this));
                panic!("goro: a goroutine joined itself (deadlock)");
            }
            let node = WaitNode::new();
            let addr = node.as_ref().addr();
            // A goroutine of the same runtime ends with it: no need to see it end.
            let inside = runtime_of_thread().is_some_and(|s| s.id == this.rt);
            let rt = this.rt;
            // Published by a CAS from 0: fails if the goroutine ended meanwhile (it swapped in
            // `DONE`), and then the wait returns at once. From outside the runtime, also
            // recorded for its end, and not published if it has ended (`ended.rs`).
            node.park_if(WaitReason::Join, move || {
                if inside {
                    state
                        .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                } else {
                    ended::publish(rt, state, addr)
                }
            });
            if !inside {
                ended::withdraw(addr);
            }
            s = state.load(Ordering::Acquire);
            if s & DONE == 0 {
                // The runtime has ended (the state is 0, our node not in it): the goroutine
                // never runs again. Give the task up as a dropped handle does; if it finished
                // after all (`DONE`), the result is ours.
                debug_assert_eq!(s, 0, "an unfinished join finds its own state");
                match state.compare_exchange(0, HANDLE_GONE, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Err(Box::new(ABANDONED)),
                    Err(now) => s = now,
                }
            }
        }
        debug_assert!(s & DONE != 0, "a woken join finds the result");
        // SAFETY: `DONE`, and the handle, consumed here, is the last owner.
        unsafe { (this.finish)(this.task, s) }
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.header().id
    }

    /// Whether the goroutine has finished. A goroutine its runtime abandoned never does (see
    /// [`join`](Self::join)): this stays `false` for it.
    pub fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & DONE != 0
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let state = &self.header().state;
        if let Err(s) = state.compare_exchange(0, HANDLE_GONE, Ordering::AcqRel, Ordering::Acquire)
        {
            // `DONE` (no join waits: it would hold the handle): ours to free.
            // SAFETY: the goroutine has ended, and this is the last owner.
            drop(unsafe { (self.finish)(self.task, s) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_sized_task_is_three_words() {
        let f = {
            let i = 7u64;
            move || i
        };
        fn size<F, T>(_: &F) -> usize
        where
            F: FnOnce() -> T,
        {
            size_of::<Task<F, T>>()
        }
        assert_eq!(size(&f), 24);
        assert_eq!(size_of::<JoinHandle<u64>>(), 24);
    }
}
