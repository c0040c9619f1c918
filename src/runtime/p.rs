//! P: a processor, the right to run Go code. An M needs one to run goroutines; there are
//! `max_procs` of them.
//!
//! ```text
//!          acquirep                   entersyscall
//!  Pidle ────────────> Prunning ─────────────────────> Psyscall
//!    ^      releasep      │  ^     exitsyscallfast (CAS)   │
//!    └────────────────────┘  └─────────────────────────────┤
//!    ^                                                      │ retake / handoffp
//!    └──────────────────────────────────────────────────────┘
//!  Prunning / Psyscall ── stop the world ──> Pgcstop ── start the world ──> Pidle / Prunning
//!  any ── set_max_procs shrinks ──> Pdead
//! ```

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::g::G;
use super::m::M;
use super::runq::RunQueue;

pub(crate) const PIDLE: u32 = 0;
pub(crate) const PRUNNING: u32 = 1;
#[expect(
    dead_code,
    reason = "the system-call hand-off (proc_syscall.rs) is its user"
)]
pub(crate) const PSYSCALL: u32 = 2;
#[expect(dead_code, reason = "stop-the-world (stw.rs) is its user")]
pub(crate) const PGCSTOP: u32 = 3;
#[expect(dead_code, reason = "set_max_procs (stw.rs) is its user")]
pub(crate) const PDEAD: u32 = 4;

pub(crate) struct P {
    pub(crate) id: usize,
    /// One of the `P*` states above.
    pub(crate) status: AtomicU32,
    /// The M that owns it (Prunning), or null.
    pub(crate) m: AtomicPtr<M>,
    /// Runnable goroutines, pushed and popped by the owner, stolen by others.
    pub(crate) runq: RunQueue<G>,
    /// Incremented by every scheduling round on this P; sysmon watches it.
    pub(crate) schedtick: AtomicU32,
    /// Incremented by every system call that keeps its P; sysmon watches it.
    #[expect(
        dead_code,
        reason = "the system-call hand-off (proc_syscall.rs) is its user"
    )]
    pub(crate) syscalltick: AtomicU32,
    /// Goroutines started and ended on this P (the owner counts; others read).
    pub(crate) spawned: AtomicU64,
    pub(crate) exited: AtomicU64,
}

impl P {
    pub(crate) fn new(id: usize) -> P {
        P {
            id,
            status: AtomicU32::new(PIDLE),
            m: AtomicPtr::new(core::ptr::null_mut()),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            syscalltick: AtomicU32::new(0),
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
        }
    }

    /// Counts one for the owner: a plain load and store, as only the owner writes.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}
