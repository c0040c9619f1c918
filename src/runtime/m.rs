//! M: an OS thread. Its own stack is its g0, on which the scheduler runs; it runs goroutines
//! while it holds a P.
//!
//! ```text
//!   newm ──> running the scheduler on g0 ──execute──> running a G ──switch back──┐
//!                 ^   │ findrunnable finds nothing                               │
//!                 │   v                                                          │
//!                 │  stopm: on the idle list, asleep on `park`                   │
//!                 └── startm: handed `nextp`, woken  <───────────────────────────┘
//! ```
//!
//! Fields written only by the M's own thread are in [`MOwned`]; the rest are atomics other
//! threads read (sysmon, `startm`, stop-the-world).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::g::G;
use super::note::Note;
use super::p::P;
use super::sched::Sched;

/// What g0 does when a goroutine switches back to it (the body of Go's `mcall`).
pub(crate) enum Pending {
    /// Nothing: the goroutine was never switched to.
    None,
    /// `gosched`: put the goroutine on the global queue.
    Yield,
    /// `gopark`: mark it waiting, then run `call(data)`, which moves the goroutine's unlock
    /// closure out of its stack and runs it (releasing the lock its waker takes); a `false`
    /// resumes the goroutine at once.
    Park {
        data: *mut u8,
        call: unsafe fn(*mut u8) -> bool,
    },
    /// `goexit`: the goroutine has finished; free it.
    Exit,
    /// `exitsyscall`'s slow path (`exitsyscall0`): no P could be had on the goroutine's
    /// stack; find one or queue the goroutine and stop.
    ExitSyscall,
}

pub(crate) struct M {
    pub(crate) sched: *const Sched,
    /// Its number in the runtime, from 1 (the `N` of its thread's name `goro-mN`, and of
    /// `schedtrace`'s `MN`).
    pub(crate) id: u64,
    /// The goroutine running on this M, or null on g0.
    pub(crate) curg: AtomicPtr<G>,
    /// The P it holds, or null.
    pub(crate) p: AtomicPtr<P>,
    /// The P it is handed before being woken by `startm`.
    pub(crate) nextp: AtomicPtr<P>,
    /// The P it held when its goroutine entered a system call.
    pub(crate) oldp: AtomicPtr<P>,
    /// The P's `syscalltick` when the system call began.
    pub(crate) syscalltick: AtomicU32,
    /// Cleared as a system call begins, set as it returns before the M looks at its old P:
    /// the M's half of the handshake with a retaker (see `proc_syscall.rs`).
    pub(crate) returning: super::atomic::AtomicU32,
    /// Whether its side of that handshake needs a real fence (no `membarrier`); fixed when
    /// the M is made, so the fast path reads it from the M rather than from a global.
    pub(crate) fences: bool,
    /// The number of the system call it is in, or was last in (for `metrics`).
    pub(crate) syscall_nr: AtomicU32,
    /// When its current call handed its P off at entry (`entersyscall_handoff`); 0 if it did
    /// not.
    pub(crate) handoff_at: AtomicU64,
    /// Looking for work with a P and no goroutine (counted in `Sched::nmspinning`).
    pub(crate) spinning: AtomicBool,
    /// Where it sleeps when idle.
    pub(crate) park: Note,
    /// The kernel thread id while its thread runs; 0 before it starts and after it ends (so
    /// nobody signals a thread id the kernel may have given to another thread).
    pub(crate) tid: AtomicI32,
    /// Set by sysmon or a stop-the-world just before it sends this M the preemption signal;
    /// the handler takes it, so a SIGURG it does not find set is someone else's and is passed
    /// on to the handler installed before ours.
    pub(crate) preempt_sent: AtomicBool,
    /// Set by the handler when our preemption signal arrived; cleared as a system call
    /// begins. A call that then fails with `EINTR` was interrupted by the runtime, not by the
    /// program, and is made again (see `syscall::syscall`).
    pub(crate) sigeintr: AtomicBool,
    /// A goroutine has locked itself to this thread, and may have changed its state: new
    /// threads are not started from it (see `threads::spawn`). Never cleared.
    tainted: AtomicBool,
    /// The goroutine locked to this thread (`lock_os_thread`), or null. Such an M runs no
    /// other goroutine.
    pub(crate) lockedg: AtomicPtr<G>,
    /// The thread's own state.
    owned: UnsafeCell<MOwned>,
    /// The execution tracer's state for this M (its thread's alone).
    pub(crate) trace: super::trace::MTrace,
}

/// State only the M's thread touches.
pub(crate) struct MOwned {
    /// g0's saved stack pointer while a goroutine runs.
    pub(crate) g0_sp: usize,
    /// What g0 does after the running goroutine switches back.
    pub(crate) pending: Pending,
}

// SAFETY: an M is shared with other threads only through its atomics and its note; `owned` and
// `trace` are touched by its own thread alone.
unsafe impl Send for M {}
// SAFETY: as above.
unsafe impl Sync for M {}

impl M {
    pub(crate) fn new(sched: *const Sched, id: u64) -> M {
        M {
            sched,
            id,
            curg: AtomicPtr::new(core::ptr::null_mut()),
            p: AtomicPtr::new(core::ptr::null_mut()),
            nextp: AtomicPtr::new(core::ptr::null_mut()),
            oldp: AtomicPtr::new(core::ptr::null_mut()),
            syscalltick: AtomicU32::new(0),
            syscall_nr: AtomicU32::new(0),
            handoff_at: AtomicU64::new(0),
            spinning: AtomicBool::new(false),
            park: Note::new(),
            tid: AtomicI32::new(0),
            preempt_sent: AtomicBool::new(false),
            sigeintr: AtomicBool::new(false),
            returning: super::atomic::AtomicU32::new(0),
            fences: super::membarrier::light_fences(),
            tainted: AtomicBool::new(false),
            lockedg: AtomicPtr::new(core::ptr::null_mut()),
            owned: UnsafeCell::new(MOwned {
                g0_sp: 0,
                pending: Pending::None,
            }),
            trace: super::trace::MTrace::new(),
        }
    }

    /// The thread's own state.
    ///
    /// # Safety
    /// Called on this M's thread, with no other reference from this method alive.
    #[allow(
        clippy::mut_from_ref,
        reason = "exclusive: one thread, no overlapping calls"
    )]
    pub(crate) unsafe fn owned(&self) -> &mut MOwned {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.owned.get() }
    }

    /// See the field. Only the M's own thread writes it.
    pub(crate) fn tainted(&self) -> bool {
        self.tainted.load(Ordering::Relaxed)
    }

    pub(crate) fn taint(&self) {
        self.tainted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn p(&self) -> *mut P {
        self.p.load(Ordering::Relaxed)
    }

    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: an M's runtime outlives it (the M holds a strong count; see `Sched`).
        unsafe { &*self.sched }
    }
}

// The M this thread is, or null on threads that are not a runtime's: an 8-byte slot of static
// (initial-exec) TLS, zero in every new thread. It is defined here in assembly, not with
// `thread_local!`, so every read can be an `asm!` block that computes the slot's address from
// `%fs` afresh: LLVM takes a thread-local's address to be fixed for a whole function and may
// keep it in a register across a call that switches goroutines, after which the goroutine may
// run on another thread. An `asm!` block without `pure` is never merged, hoisted or cached, so
// [`current_m_inline`] can be inlined into the system-call fast path (two loads; the linker turns the
// first into an immediate in an executable) where a never-inlined accessor cost a call, a
// return and a GOT load. As glibc's own `errno`, a shared object holding goro that is
// `dlopen`ed takes the slot from the static TLS glibc reserves for that.
//
// The slot's symbol is named after [`CURRENT_ANCHOR`]'s mangled name, which holds this
// crate's hash, so two versions of goro in one program have two slots.
core::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl {anchor}_m",
    ".type {anchor}_m,@object",
    ".size {anchor}_m,8",
    "{anchor}_m:",
    ".zero 8",
    ".popsection",
    anchor = sym CURRENT_ANCHOR,
);

/// Names the thread-local slot above; its value is never read.
#[used]
static CURRENT_ANCHOR: u8 = 0;

/// The M of the calling thread, or null.
///
/// Read afresh at every call (see the slot above), so it may be called on either side of a
/// goroutine switch; a value it returned goes stale when the goroutine switches. Out of line:
/// inlined into every runtime path, the read made the spawn workload ~10% slower (`bench one
/// spawn goro 1000000`: 0.40 s against 0.37, and 0.34 out of line); only the system-call fast
/// path, where a call and a return are a third of the pair, inlines [`current_m_inline`].
#[inline(never)]
pub(crate) fn current_m() -> *mut M {
    current_m_inline()
}

/// [`current_m`], inlined into the caller.
#[inline(always)]
pub(crate) fn current_m_inline() -> *mut M {
    let m: *mut M;
    // SAFETY: reads this thread's own 8-byte slot, which every thread has (static TLS) and
    // only `set_current_m` on the same thread writes.
    unsafe {
        core::arch::asm!(
            "mov {m}, qword ptr [rip + {anchor}_m@GOTTPOFF]",
            "mov {m}, qword ptr fs:[{m}]",
            anchor = sym CURRENT_ANCHOR,
            m = out(reg) m,
            options(nostack, readonly, preserves_flags),
        );
    }
    m
}

/// Marks the calling thread as `m` (at its start) or as no M (null, at its end).
pub(crate) fn set_current_m(m: *mut M) {
    // SAFETY: writes this thread's own slot (see `current_m`).
    unsafe {
        core::arch::asm!(
            "mov {slot}, qword ptr [rip + {anchor}_m@GOTTPOFF]",
            "mov qword ptr fs:[{slot}], {m}",
            anchor = sym CURRENT_ANCHOR,
            m = in(reg) m,
            slot = out(reg) _,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_m_slot_is_the_threads_own_and_starts_null() {
        assert!(current_m().is_null());
        // Never dereferenced: nothing on this thread enters the runtime while it is set.
        let fake = core::ptr::dangling_mut::<M>();
        set_current_m(fake);
        assert_eq!(current_m(), fake);
        std::thread::spawn(|| {
            assert!(current_m().is_null(), "a new thread's slot is null");
            set_current_m(core::ptr::dangling_mut::<M>().wrapping_add(1));
        })
        .join()
        .unwrap();
        assert_eq!(
            current_m(),
            fake,
            "another thread's write left this one's slot alone"
        );
        set_current_m(core::ptr::null_mut());
        assert!(current_m().is_null());
    }
}
