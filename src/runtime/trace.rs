//! The execution tracer's recording side (Go's `trace.go`): while tracing is on, each thread
//! appends timestamped events (vDSO clock) to a buffer of its own; `stop` collects them and
//! `trace_json` writes them out. While it is off, each hook costs one load of [`ON`] and a
//! predictable branch; the recording itself is out of line.
//!
//! Buffers belong to threads, not Ms: Ms, sysmon and plain threads (which ready goroutines
//! too) all record. A thread's buffer is found through a thread-local inside
//! [`record`], which never switches goroutines, so no thread-local address is held across a
//! switch. Each buffer has a lock, taken by its thread for every event (uncontended) and by
//! `stop` once.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use super::m::current_m;
use super::sched::Sched;
use super::sysmon::nanotime;

/// Tracing is on.
pub(crate) static ON: AtomicBool = AtomicBool::new(false);

/// Whether to record: the one branch a hook adds.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `arg`: the new goroutine's id.
    GoCreate,
    GoStart,
    /// The goroutine left its M; `arg` a [`Stop`].
    GoStop,
    /// Parked; `arg` its `WaitReason` as a number.
    GoBlock,
    GoEnd,
    /// `g` was made runnable by this thread.
    GoUnblock,
    /// `arg`: the system-call number.
    SyscallEnter,
    /// `arg`: an [`Exit`].
    SyscallExit,
    /// sysmon retook P `arg` from a system call.
    Retake,
    /// P `arg` handed off at once (`blocking`).
    Handoff,
    /// sysmon signalled the M on P `arg` to preempt it by handoff.
    Preempt,
    /// This M's P stole `arg` goroutines.
    Steal,
    StwStart,
    StwEnd,
    ThreadStart,
    ThreadStop,
}

/// Why a goroutine left its M without blocking.
#[derive(Clone, Copy)]
pub(crate) enum Stop {
    Yield = 0,
    /// Its system call came back to no P (`exitsyscall0`).
    NoP = 1,
}

/// A system call's way back.
#[derive(Clone, Copy)]
pub(crate) enum Exit {
    Fast = 0,
    IdleP = 1,
    Slow = 2,
}

/// One event (48 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub(crate) ts: u64,
    /// The runtime (its address), 0 for a thread of none.
    pub(crate) rt: usize,
    pub(crate) g: u64,
    pub(crate) arg: u64,
    /// The recording M's id, 0 if the thread is not an M.
    pub(crate) m: u32,
    /// The kernel thread id.
    pub(crate) tid: i32,
    /// The id of the P the M holds, [`NO_P`] if none.
    pub(crate) p: u32,
    pub(crate) kind: Kind,
}

/// `Rec::p` of an M without a P.
pub(crate) const NO_P: u32 = u32::MAX;

/// Events a thread keeps (48 MiB); later ones are dropped and counted, so a long trace
/// cannot take all the memory.
pub(crate) const CAP: usize = 1 << 20;

/// Events dropped since tracing started.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);

type Buf = Arc<Mutex<Vec<Rec>>>;

/// Every thread's buffer (a thread that ends leaves its buffer here).
static BUFFERS: Mutex<Vec<Buf>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// This thread's buffer and kernel thread id, made at its first event.
    static MINE: RefCell<Option<(Buf, i32)>> = const { RefCell::new(None) };
}

/// Records an event on the calling thread: about `g`, with `arg`, for `rt` if the thread is
/// not one of a runtime's Ms (an M records for its own runtime). Never switches goroutines.
#[cold]
#[inline(never)]
pub(crate) fn record(rt: Option<&Sched>, kind: Kind, g: u64, arg: u64) {
    if !on() {
        return;
    }
    let ts = nanotime();
    // SAFETY: a non-null current M lives with its runtime.
    let m = unsafe { current_m().as_ref() };
    let (rt, mid, p) = match m {
        Some(m) => {
            // SAFETY: Ps live with their runtime.
            let p = unsafe { m.p().as_ref() }.map_or(NO_P, |p| p.id as u32);
            (m.sched as usize, m.id as u32, p)
        }
        None => (rt.map_or(0, |s| s as *const Sched as usize), 0, NO_P),
    };
    MINE.with(|mine| {
        let mut mine = mine.borrow_mut();
        let (buf, tid) = mine.get_or_insert_with(|| {
            let buf = Buf::default();
            lock(&BUFFERS).push(buf.clone());
            (buf, super::sys::gettid())
        });
        let mut buf = lock(buf);
        if buf.len() >= CAP {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.push(Rec {
            ts,
            rt,
            m: mid,
            tid: *tid,
            p,
            g,
            kind,
            arg,
        });
    });
}

/// `SyscallEnter`'s number for a [`blocking`](crate::blocking) region.
pub(crate) const BLOCKING: u64 = u64::MAX;

/// Records how the goroutine `g` left its M, from what it asked g0 to do.
#[cold]
pub(crate) fn left(g: &super::g::G, pending: &super::m::Pending) {
    use super::m::Pending;
    let (kind, arg) = match pending {
        Pending::Yield => (Kind::GoStop, Stop::Yield as u64),
        Pending::Park { .. } => (Kind::GoBlock, g.waitreason() as u64),
        Pending::Exit => (Kind::GoEnd, 0),
        Pending::ExitSyscall => (Kind::GoStop, Stop::NoP as u64),
        Pending::None => return,
    };
    record(None, kind, g.goid, arg);
}

/// Clears every buffer and turns tracing on; `false` if it was on already.
pub(crate) fn start() -> bool {
    let mut bufs = lock(&BUFFERS);
    if ON.load(Ordering::Acquire) {
        return false;
    }
    // Buffers of threads that have ended go; the others start empty.
    bufs.retain(|b| Arc::strong_count(b) > 1);
    bufs.iter().for_each(|b| lock(b).clear());
    DROPPED.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
    true
}

/// Turns tracing off and takes every event, in time order; `None` if it was off. An event a
/// thread was recording just as tracing stopped may be missed.
pub(crate) fn stop() -> Option<Vec<Rec>> {
    let bufs = lock(&BUFFERS);
    if !ON.swap(false, Ordering::AcqRel) {
        return None;
    }
    let mut all: Vec<Rec> = bufs
        .iter()
        .flat_map(|b| core::mem::take(&mut *lock(b)))
        .collect();
    // Stable: one thread's events keep their order if the clock reads the same twice.
    all.sort_by_key(|r| r.ts);
    Some(all)
}
