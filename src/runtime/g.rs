//! G: a goroutine.
//!
//! ```text
//!            newproc                 execute
//!  Gidle ───────────────> Grunnable ─────────> Grunning ──── goexit ───> Gdead
//!                            ^   ^                │  │ ^
//!                  goready   │   └─── gosched ────┘  │ └───────────┐
//!                            │                       │ gopark      │ exitsyscall
//!                         Gwaiting <─────────────────┘             │
//!                                                 Grunning ──> Gsyscall
//!                                                     entersyscall
//! ```
//!
//! A G is reached through raw pointers from run queues, wait queues and its M. Its fields say
//! who may touch them; the rule that makes that sound is that a G is *owned* by exactly one
//! party at a time: the run queue holding it (Grunnable), the M running it (Grunning,
//! Gsyscall), or the wait queue that will ready it (Gwaiting).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

use super::m::M;
use super::sched::Sched;
use super::stack::Stack;

pub(crate) const GIDLE: u32 = 0;
pub(crate) const GRUNNABLE: u32 = 1;
pub(crate) const GRUNNING: u32 = 2;
pub(crate) const GSYSCALL: u32 = 3;
pub(crate) const GWAITING: u32 = 4;
pub(crate) const GDEAD: u32 = 5;

/// Why a goroutine is parked (Go's `waitReason`), for the deadlock report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum WaitReason {
    ChanSend,
    ChanReceive,
    Join,
    WaitGroup,
    Sleep,
    Select,
    SelectNoCases,
    SyncMutexLock,
    SyncRWMutexRLock,
    SyncRWMutexLock,
    SyncCondWait,
    Semacquire,
    IoWait,
}

impl WaitReason {
    pub(crate) const COUNT: usize = 13;
    pub(crate) const ALL: [WaitReason; Self::COUNT] = [
        WaitReason::ChanSend,
        WaitReason::ChanReceive,
        WaitReason::Join,
        WaitReason::WaitGroup,
        WaitReason::Sleep,
        WaitReason::Select,
        WaitReason::SelectNoCases,
        WaitReason::SyncMutexLock,
        WaitReason::SyncRWMutexRLock,
        WaitReason::SyncRWMutexLock,
        WaitReason::SyncCondWait,
        WaitReason::Semacquire,
        WaitReason::IoWait,
    ];

    /// Go's words for it, where Go has the same wait.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::Join => "join",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Sleep => "sleep",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::SyncMutexLock => "sync.Mutex.Lock",
            WaitReason::SyncRWMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncRWMutexLock => "sync.RWMutex.Lock",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::Semacquire => "semacquire",
            WaitReason::IoWait => "IO wait",
        }
    }
}

/// What a G runs: a spawned task, its type erased (`task.rs`), and the function that runs it.
/// Started once, on the G's own stack; the function must not unwind.
pub(crate) struct Entry {
    data: core::ptr::NonNull<u8>,
    run: unsafe fn(core::ptr::NonNull<u8>),
}

// SAFETY: `Entry::new`'s contract: `run(data)` may be called on any thread.
unsafe impl Send for Entry {}

impl Entry {
    /// # Safety
    /// `run(data)` may be called once, on any thread (the task it starts is `Send`).
    pub(crate) unsafe fn new(
        data: core::ptr::NonNull<u8>,
        run: unsafe fn(core::ptr::NonNull<u8>),
    ) -> Entry {
        Entry { data, run }
    }

    /// Runs the task; consumes the entry, so it runs once.
    pub(crate) fn start(self) {
        // SAFETY: `new`'s contract, and this is the one call.
        unsafe { (self.run)(self.data) }
    }
}

pub(crate) struct G {
    /// The goroutine id, unique in the process, from 1.
    pub(crate) goid: u64,
    /// One of the `G*` states above.
    pub(crate) status: AtomicU32,
    /// The runtime the goroutine belongs to; it outlives the G.
    pub(crate) sched: *const Sched,
    /// The M running it (Grunning, Gsyscall); null otherwise. Written by that M.
    pub(crate) m: AtomicPtr<M>,
    /// Its owner's private state (see [`GOwned`]).
    owned: UnsafeCell<GOwned>,
    /// Link in the global run queue; touched only under the scheduler lock.
    pub(crate) schedlink: UnsafeCell<*mut G>,
    /// The M this goroutine is locked to (`lock_os_thread`), or null.
    pub(crate) lockedm: AtomicPtr<M>,
    /// Non-zero while the goroutine runs runtime code on its own stack; the preemption signal
    /// leaves it alone then. Only its own thread writes it, so a compiler fence orders it
    /// against the handler.
    pub(crate) in_runtime: AtomicU32,
    /// The goroutine's stack, `[guard page start, top)`, once it has one (0, 0 before): for
    /// the signal handlers, which must not borrow the owner's fields.
    pub(crate) stack_lo: AtomicUsize,
    pub(crate) stack_hi: AtomicUsize,
    /// Set by the preemption signal when it put the goroutine into the system-call state on
    /// its behalf; its next runtime entry goes through `exitsyscall` (see `proc_syscall.rs`).
    pub(crate) handoff: AtomicBool,
    /// Why it is parked (a `WaitReason`), while Gwaiting. Written by the goroutine before it
    /// parks; read by whoever readies it.
    pub(crate) waitreason: AtomicU8,
    /// How many times the goroutine started while traced (its `GoStart` events, counted by
    /// the M starting it), so the event that readies it can name the start it leads to.
    /// Read by whoever readies it, after it parked.
    pub(crate) trace_starts: AtomicU32,
}

/// Fields only the G's current owner touches (see the module doc).
pub(crate) struct GOwned {
    /// The saved stack pointer while the G is not running.
    pub(crate) sp: usize,
    /// Its stack, from its first run on.
    pub(crate) stack: Option<Stack>,
    /// What it runs; taken at its first run.
    pub(crate) entry: Option<Entry>,
    /// `lock_os_thread` nesting depth.
    pub(crate) locks: u32,
    /// Wired to its thread while it unwinds a panic (see `lockosthread::pin_while_unwinding`).
    pub(crate) unwinding: bool,
    /// Its goroutine-local values (`goro::local!`).
    pub(crate) locals: crate::local::Locals,
}

// SAFETY: a G moves between threads by design; every field is atomic, or owned by one party
// at a time as the module doc says.
unsafe impl Send for G {}
// SAFETY: as above.
unsafe impl Sync for G {}

impl G {
    pub(crate) fn new(goid: u64, sched: *const Sched, entry: Entry) -> Box<G> {
        Box::new(G::fresh(goid, sched, entry))
    }

    /// Makes the dead G `g` (which gave its stack away) a new goroutine (Go's `gfget`).
    pub(crate) fn renew(g: &mut G, goid: u64, entry: Entry) {
        debug_assert!(*g.status.get_mut() == GDEAD && g.owned.get_mut().stack.is_none());
        *g = G::fresh(goid, g.sched, entry);
    }

    fn fresh(goid: u64, sched: *const Sched, entry: Entry) -> G {
        G {
            goid,
            status: AtomicU32::new(GRUNNABLE),
            sched,
            m: AtomicPtr::new(core::ptr::null_mut()),
            owned: UnsafeCell::new(GOwned {
                sp: 0,
                stack: None,
                entry: Some(entry),
                locks: 0,
                unwinding: false,
                locals: crate::local::Locals::default(),
            }),
            schedlink: UnsafeCell::new(core::ptr::null_mut()),
            lockedm: AtomicPtr::new(core::ptr::null_mut()),
            in_runtime: AtomicU32::new(0),
            stack_lo: AtomicUsize::new(0),
            stack_hi: AtomicUsize::new(0),
            handoff: AtomicBool::new(false),
            waitreason: AtomicU8::new(0),
            trace_starts: AtomicU32::new(0),
        }
    }

    /// The owner's fields.
    ///
    /// # Safety
    /// The caller owns the G (it runs it, or holds it out of every queue) and holds no other
    /// reference from this method.
    #[allow(clippy::mut_from_ref, reason = "exclusive by the ownership rule")]
    pub(crate) unsafe fn owned(&self) -> &mut GOwned {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.owned.get() }
    }

    pub(crate) fn waitreason(&self) -> WaitReason {
        WaitReason::ALL[usize::from(self.waitreason.load(Ordering::Relaxed))]
    }

    /// Moves the status from `from` to `to`; anything else is a runtime bug (Go's
    /// `casgstatus`).
    pub(crate) fn casstatus(&self, from: u32, to: u32) {
        if let Err(was) =
            self.status
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        {
            super::throw(&[
                "casgstatus: bad transition from ",
                status_name(was),
                " (expected ",
                status_name(from),
                ") to ",
                status_name(to),
            ]);
        }
    }
}

fn status_name(s: u32) -> &'static str {
    match s {
        GIDLE => "Gidle",
        GRUNNABLE => "Grunnable",
        GRUNNING => "Grunning",
        GSYSCALL => "Gsyscall",
        GWAITING => "Gwaiting",
        GDEAD => "Gdead",
        _ => "G?",
    }
}
