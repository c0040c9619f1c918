//! Goroutine creation, parking and readying (Go's `newproc`, `gopark`, `goready`,
//! `gosched`), and the guard every runtime entry from a goroutine takes.

use core::sync::atomic::Ordering;

use super::g::{Entry, G, GRUNNABLE, GWAITING, WaitReason};
use super::m::{M, Pending, current_m};
use super::p::P;
use super::proc_syscall::{exit_handoff, lock_preemption, unlock_preemption};
use super::sched::{Sched, mcall};

/// A goroutine inside the runtime: the preemption signal leaves it alone, and it holds a P.
/// Dropped when the runtime operation ends (perhaps on another M than it began on).
pub(crate) struct InRuntime {
    g: &'static G,
}

impl InRuntime {
    /// The goroutine's M *now*: read afresh, since the goroutine may have moved.
    pub(crate) fn m(&self) -> &'static M {
        // SAFETY: the caller is a goroutine, so this thread has an M, which lives with its
        // runtime.
        unsafe { &*current_m() }
    }

    /// The goroutine's P now.
    pub(crate) fn p(&self) -> &'static P {
        // SAFETY: inside the runtime a goroutine's M holds a P (see `enter`); Ps live with the
        // runtime.
        unsafe { &*self.m().p() }
    }

    pub(crate) fn g(&self) -> &'static G {
        self.g
    }
}

impl Drop for InRuntime {
    fn drop(&mut self) {
        unlock_preemption(self.g);
    }
}

/// Enters the runtime from the calling goroutine, or `None` on a thread that is not running
/// one. If the preemption signal had moved the goroutine into the system-call state, this
/// takes a P back first (through `exitsyscall`).
pub(crate) fn enter() -> Option<InRuntime> {
    let m = current_m();
    // SAFETY: a non-null current M lives with its runtime.
    let m = unsafe { m.as_ref() }?;
    let gp = m.curg.load(Ordering::Relaxed);
    // SAFETY: the current goroutine is the caller.
    let g: &'static G = unsafe { gp.as_ref() }?;
    lock_preemption(g);
    exit_handoff(g);
    Some(InRuntime { g })
}

/// The runtime whose M the calling thread is, running a goroutine or the scheduler (g0);
/// `None` on other threads.
pub(crate) fn runtime_of_thread() -> Option<&'static Sched> {
    // SAFETY: a non-null current M lives with its runtime.
    unsafe { current_m().as_ref() }.map(M::sched)
}

/// Creates a goroutine running `entry` on `sched`: on the caller's P if the caller is one of
/// `sched`'s goroutines (in `runnext`, as Go does), else on the global queue. `goid` is the
/// id `next_goid` gave it.
///
/// A goroutine that spawns faster than the other Ps run what it spawns fills the global queue
/// (its own run queue spills there): once that holds more than [`SPAWN_BACKLOG`] goroutines,
/// the spawner yields, to the back of that queue, so its P helps run them before it spawns
/// more. Without that, a loop spawning a million goroutines ran up to hundreds of thousands of
/// them ahead of the Ps running them (each pending one holds its G and its closure), and
/// further still when the machine was busy and the other Ps' threads got little CPU.
pub(crate) fn newproc(sched: &Sched, goid: u64, entry: Entry) {
    let mut backlog = false;
    match enter() {
        Some(rt) if core::ptr::eq(rt.m().sched, sched) => {
            let p = rt.p();
            // SAFETY: inside the runtime the goroutine's M holds `p`; preemption is off.
            let g = match unsafe { p.gfree.get(&sched.gfree) } {
                Some(mut g) => {
                    G::renew(&mut g, goid, entry);
                    g
                }
                None => G::new(goid, sched, entry),
            };
            let gp = created(sched, g);
            P::bump(&p.spawned);
            sched.runqput(p, gp, true);
            backlog = sched.runqsize.load(Ordering::Relaxed) > SPAWN_BACKLOG;
        }
        _ => {
            let gp = created(sched, G::new(goid, sched, entry));
            sched.spawned_outside.fetch_add(1, Ordering::AcqRel);
            sched.globrunqput(gp);
        }
    }
    sched.wakep();
    if backlog {
        gosched();
    }
}

/// The global queue length past which a spawning goroutine yields (see [`newproc`]): a few
/// times what one steal or spill moves, so the yields are rare (one per thousand spawns at
/// most) and the backlog small (a few hundred KiB of Gs and closures).
pub(crate) const SPAWN_BACKLOG: u32 = 1024;

/// Records a new goroutine (for scheddetail and the trace) before it is queued, so before
/// anyone can start it; returns it as the queues hold it.
fn created(sched: &Sched, g: Box<G>) -> *mut G {
    // Nobody else has it yet.
    sched.allgs.add(&g);
    if super::trace::on() {
        super::trace::record(Some(sched), super::trace::Kind::GoCreate, g.goid, 0);
    }
    Box::into_raw(g)
}

/// Parks the calling goroutine. On g0, after the goroutine is marked waiting and its state
/// saved, `unlock` runs: it releases whatever lock its waker takes, and returns `true` to stay
/// parked or `false` to resume at once. Returns when someone calls [`goready`].
///
/// g0 first moves `unlock` out of the goroutine's stack into its own frame and runs it there:
/// once it releases the lock another M may resume the goroutine and reuse that stack, so no
/// reference into it may be alive by then.
pub(crate) fn gopark<F: FnOnce() -> bool>(why: WaitReason, unlock: F) {
    /// Runs on g0: takes ownership of the closure at `data` and calls it.
    ///
    /// # Safety
    /// `data` points to an `F` that nobody else will use or drop.
    unsafe fn call<F: FnOnce() -> bool>(data: *mut u8) -> bool {
        // SAFETY: the caller's contract; from here the closure lives in this frame.
        let f = unsafe { core::ptr::read(data.cast::<F>()) };
        f()
    }
    let rt = enter().expect("gopark outside a goroutine");
    rt.g().waitreason.store(why as u8, Ordering::Relaxed);
    // Owned by g0 from the switch on: never dropped here.
    let mut unlock = core::mem::ManuallyDrop::new(unlock);
    mcall(Pending::Park {
        data: (&raw mut *unlock).cast::<u8>(),
        call: call::<F>,
    });
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
    let why = g.waitreason();
    g.casstatus(GWAITING, GRUNNABLE);
    let rt = enter();
    let m = rt.as_ref().map(|rt| rt.m()).or_else(g0_with_p);
    if super::trace::on() {
        super::trace::unblock(m, sched, g);
    }
    match m {
        Some(m) if core::ptr::eq(m.sched, g.sched) => {
            // SAFETY: a goroutine inside the runtime, or g0, holds its M's P (owner-only
            // queue operations are ours).
            let p = unsafe { &*m.p() };
            p.count_wait(why, -1);
            sched.runqput(p, gp, true);
        }
        _ => {
            sched.waits_outside[why as usize].fetch_sub(1, Ordering::Relaxed);
            sched.globrunqput(gp);
        }
    }
    drop(rt);
    sched.wakep();
}

/// This thread's M if it is on g0 holding a P (running timers in `findrunnable`): what it
/// readies goes on its own P, as from a goroutine, not through the global queue.
fn g0_with_p() -> Option<&'static M> {
    // SAFETY: a non-null current M lives with its runtime.
    let m = unsafe { current_m().as_ref() }?;
    (m.curg.load(Ordering::Relaxed).is_null() && !m.p().is_null()).then_some(m)
}

/// Yields the processor: the goroutine goes to the back of the global queue (Go's
/// `Gosched`). On a thread that is not a goroutine, yields the thread.
pub(crate) fn gosched() {
    match enter() {
        Some(_rt) => mcall(Pending::Yield),
        None => super::sys::sched_yield(),
    }
}

/// Ends the calling goroutine (Go's `goexit`).
pub(crate) fn goexit() -> ! {
    let rt = enter().expect("goexit outside a goroutine");
    core::mem::forget(rt); // the G is freed on g0; nothing may touch it after the switch
    mcall(Pending::Exit);
    super::throw(&["goexit: a dead goroutine was resumed"])
}

/// The id of the calling goroutine, or `None` outside one.
pub(crate) fn goid() -> Option<u64> {
    enter().map(|rt| rt.g().goid)
}

/// The runtime of the calling goroutine.
pub(crate) fn current_sched() -> Option<&'static Sched> {
    enter().map(|rt| rt.m().sched())
}

/// The running goroutine's G, for wait queues.
pub(crate) fn current_g() -> Option<*mut G> {
    enter().map(|rt| rt.g() as *const G as *mut G)
}
