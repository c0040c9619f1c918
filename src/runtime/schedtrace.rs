//! Go's scheduler trace: `GODEBUG=schedtrace=N` prints one line about the scheduler to
//! standard error every N milliseconds, and `scheddetail=1` adds a line for every P, M and G,
//! in Go's format field for field (Go's `schedtrace` in `proc.go`), so a Go user reads them
//! without a manual. sysmon prints them, as Go's does.
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=4 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0 [ 0 3 ] schedticks=[ 1162 1292 ]
//! ```
//!
//! What the fields are in goro, where Go's word does not say it:
//! - `threads`: the runtime's OS threads alive, its Ms and sysmon (Go's `mcount` counts
//!   sysmon's M too). M lines are for the Ms whose threads run (sysmon is not an M in goro);
//!   M ids are the `N` of the threads' names `goro-mN`, from 1.
//! - `needspinning`: always 0 (goro has no such flag: an M that finds work wakes the next
//!   spinning M at once).
//! - `P: status`: Go's numbers, `0` idle, `1` running, `2` in a system call (goro keeps
//!   Go 1.25's `_Psyscall`; Go 1.26+ prints it as 1), `3` stopped for a stop-the-world, `4`
//!   dead. `gfreecnt`: the stacks the P keeps for its next goroutines (goro frees a finished
//!   G but keeps its stack; Go keeps both). `timerslen`: entries in its timer heap, stopped
//!   timers not yet shed included (Go's count has the same zombies).
//! - `M: mallocing`, `throwing`, `dying`: always 0, `preemptoff` always empty (goro has no
//!   allocator or fatal state of its own per M). `locks`: how deep the running goroutine is
//!   in runtime code (`G::in_runtime`), during which it cannot be preempted, as during Go's
//!   `m.locks`. `blocked`: asleep on the idle list (`stopm`) or waiting for its locked
//!   goroutine (`stoplockedm`).
//! - `G: status`: Go's numbers, `1` runnable, `2` running, `3` in a system call (or
//!   preempted by handoff, or inside `blocking`), `4` waiting; finished goroutines are freed,
//!   so there is no `6` (dead) line. The wait reason is printed only while waiting (Go prints
//!   the last one, even for a running G); goro's reasons use Go's words, plus `join` for
//!   `JoinHandle::join`.
//!
//! Only one line (and the P, M, G lines) is formatted under the scheduler lock, as Go's is; Ps,
//! Ms and Gs change under it and are read racily, as Go reads them. It is written to standard
//! error after the lock is released, so a slow reader of the pipe never holds up the scheduler.
//! The G lines need every live G: with `scheddetail`, `newproc` and `gfree` keep them in
//! [`AllGs`] (Go's `allgs`); without it, that costs one branch.

use core::fmt::Write;
use core::sync::atomic::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::g::{G, GDEAD, GWAITING};
use super::m::M;
use super::sched::Sched;
use super::sys;

/// The `GODEBUG` settings goro reads, once, when a runtime is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Debug {
    /// `schedtrace=N`: print every N ms; 0 for never.
    pub(crate) schedtrace: u64,
    /// `scheddetail=1`: P, M and G lines too.
    pub(crate) scheddetail: bool,
}

impl Debug {
    /// From the `GODEBUG` environment variable.
    pub(crate) fn from_env() -> Debug {
        std::env::var("GODEBUG").map_or_else(|_| Debug::default(), |v| Debug::parse(&v))
    }

    /// Go's rules (`parsegodebug` at start-up): comma-separated `key=value`, left to right,
    /// a later setting overriding an earlier one; other keys, fields without `=` and values
    /// that are not numbers are ignored.
    pub(crate) fn parse(godebug: &str) -> Debug {
        let mut d = Debug::default();
        for (key, value) in godebug.split(',').filter_map(|f| f.split_once('=')) {
            let Ok(n) = value.parse::<i32>() else {
                continue;
            };
            let n = u64::try_from(n).unwrap_or(0);
            match key {
                "schedtrace" => d.schedtrace = n,
                "scheddetail" => d.scheddetail = n > 0,
                _ => {}
            }
        }
        d
    }
}

/// A G pointer in the registry; Gs are shared between threads by design.
#[derive(Clone, Copy)]
struct GPtr(*mut G);
// SAFETY: only dereferenced under the registry's lock, while the G is alive (see `AllGs`).
unsafe impl Send for GPtr {}

/// Every live goroutine by id, kept only when `scheddetail` asks for G lines (Go's `allgs`).
/// A G leaves it before it is freed, under its lock, so a G found in it under the lock is
/// alive.
pub(crate) struct AllGs(Option<Mutex<BTreeMap<u64, GPtr>>>);

impl AllGs {
    pub(crate) fn new(enabled: bool) -> AllGs {
        AllGs(enabled.then(Mutex::default))
    }

    fn lock(m: &Mutex<BTreeMap<u64, GPtr>>) -> MutexGuard<'_, BTreeMap<u64, GPtr>> {
        // Nothing panics under this lock.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A goroutine was made (`newproc`).
    #[inline]
    pub(crate) fn add(&self, g: &G) {
        if let Some(m) = &self.0 {
            Self::lock(m).insert(g.goid, GPtr(g as *const G as *mut G));
        }
    }

    /// A goroutine is about to be freed (`gfree`).
    #[inline]
    pub(crate) fn remove(&self, g: &G) {
        if let Some(m) = &self.0 {
            Self::lock(m).remove(&g.goid);
        }
    }
}

/// sysmon's clock for the trace (Go's `starttime` and `lasttrace`).
pub(crate) struct Tracer {
    every: u64,
    detail: bool,
    start: u64,
    last: Option<u64>,
}

impl Tracer {
    /// `None` unless `schedtrace` is set.
    pub(crate) fn new(d: Debug) -> Option<Tracer> {
        (d.schedtrace > 0).then(|| Tracer {
            every: d.schedtrace.saturating_mul(1_000_000),
            detail: d.scheddetail,
            start: 0,
            last: None,
        })
    }

    /// Nanoseconds from `now` until the next trace is due: sysmon sleeps no longer.
    pub(crate) fn until_due(&self, now: u64) -> u64 {
        self.last
            .map_or(0, |l| l.saturating_add(self.every).saturating_sub(now))
    }

    /// Prints the trace if it is due at `now` (a `nanotime`). The first one is due at once,
    /// at 0 ms, as Go's.
    pub(crate) fn tick(&mut self, sched: &Sched, now: u64) {
        if self
            .last
            .is_some_and(|l| l.saturating_add(self.every) > now)
        {
            return;
        }
        if self.last.is_none() {
            self.start = now;
        }
        self.last = Some(now);
        let text = schedtrace(sched, self.detail, (now - self.start) / 1_000_000);
        write_all(text.as_bytes());
    }
}

/// Writes all of `buf` to standard error; gives up on an error (nothing to report it to).
fn write_all(mut buf: &[u8]) {
    while !buf.is_empty() {
        match sys::write(2, buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf = &buf[n..],
        }
    }
}

/// `nil` or the id, as Go prints an optional M or G.
struct Id(Option<u64>);

impl core::fmt::Display for Id {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(id) => write!(f, "{id}"),
            None => f.write_str("nil"),
        }
    }
}

fn m_id(m: *mut M) -> Id {
    // SAFETY: Ms live as long as their runtime, which the caller holds.
    Id(unsafe { m.as_ref() }.map(|m| m.id))
}

/// Go's number for a G status (Go 1.27 has `_Gdead = 6`; the others are the same).
fn go_gstatus(s: u32) -> u32 {
    if s == GDEAD { 6 } else { s }
}

/// The trace text: Go's `schedtrace(detailed)`, `ms` after the first one.
pub(crate) fn schedtrace(sched: &Sched, detailed: bool, ms: u64) -> String {
    let mut out = String::new();
    let l = sched.locked();
    let nprocs = sched.nprocs.load(Ordering::Acquire);
    let allp = &sched.allp[..nprocs];
    let threads = sched.mlive.load(Ordering::Acquire) + usize::from(sched.sysmon_started());
    let _ = write!(
        out,
        "SCHED {ms}ms: gomaxprocs={nprocs} idleprocs={} threads={threads} spinningthreads={} \
         needspinning=0 idlethreads={} runqueue={}",
        sched.npidle.load(Ordering::Relaxed),
        sched.nmspinning.load(Ordering::Relaxed),
        l.midle.len(),
        sched.runqsize.load(Ordering::Relaxed),
    );
    if !detailed {
        let lens: Vec<String> = allp.iter().map(|p| p.runq.len().to_string()).collect();
        let ticks: String = allp
            .iter()
            .map(|p| format!("{} ", p.schedtick.load(Ordering::Relaxed)))
            .collect();
        let _ = writeln!(out, " [ {} ] schedticks=[ {ticks}]", lens.join(" "));
        return out;
    }
    let _ = writeln!(
        out,
        " gcwaiting={} nmidlelocked={} stopwait={} sysmonwait={}",
        sched.gcwaiting(),
        l.mlocked.len(),
        l.stopwait,
        sched.sysmonwait(),
    );
    for (i, p) in allp.iter().enumerate() {
        let _ = writeln!(
            out,
            "  P{i}: status={} schedtick={} syscalltick={} m={} runqsize={} gfreecnt={} \
             timerslen={}",
            p.state(),
            p.schedtick.load(Ordering::Relaxed),
            p.syscalltick.load(Ordering::Relaxed),
            m_id(p.m.load(Ordering::Relaxed)),
            p.runq.len(),
            p.cached_stacks(),
            p.timers.len(),
        );
    }
    let gs = sched.allgs.0.as_ref().map(AllGs::lock);
    let by_ptr: HashMap<*mut G, u64> = gs
        .iter()
        .flat_map(|gs| gs.iter().map(|(&id, g)| (g.0, id)))
        .collect();
    // A G pointer an M holds, if that G is alive (in the registry, whose lock we hold).
    let live = |gp: *mut G| -> Option<&G> {
        by_ptr.contains_key(&gp).then(|| {
            // SAFETY: Gs in the registry are alive while its lock is held (see `AllGs`).
            unsafe { &*gp }
        })
    };
    // Ms whose threads run (Go frees the others).
    let mut ms = Vec::new();
    sched.each_m(|m| {
        if m.tid.load(Ordering::Relaxed) != 0 {
            ms.push(m as *const M);
        }
    });
    // Go's `allm` lists the newest M first.
    for &m in ms.iter().rev() {
        // SAFETY: Ms live as long as their runtime.
        let m = unsafe { &*m };
        let p = m.p.load(Ordering::Relaxed);
        // SAFETY: Ps live as long as their runtime.
        let pid = Id(unsafe { p.as_ref() }.map(|p| p.id as u64));
        let curg = live(m.curg.load(Ordering::Relaxed));
        let lockedg = live(m.lockedg.load(Ordering::Relaxed));
        let me = m as *const M as *mut M;
        let blocked = l.midle.contains(&me) || l.mlocked.contains(&me);
        let _ = writeln!(
            out,
            "  M{}: p={pid} curg={} mallocing=0 throwing=0 preemptoff= locks={} dying=0 \
             spinning={} blocked={blocked} lockedg={}",
            m.id,
            Id(curg.map(|g| g.goid)),
            curg.map_or(0, |g| g.in_runtime.load(Ordering::Relaxed)),
            m.spinning.load(Ordering::Relaxed),
            Id(lockedg.map(|g| g.goid)),
        );
    }
    for g in gs.iter().flat_map(|gs| gs.values()) {
        // SAFETY: as for `live`.
        let g = unsafe { &*g.0 };
        let status = g.status.load(Ordering::Relaxed);
        let why = if status == GWAITING {
            g.waitreason().name()
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  G{}: status={}({why}) m={} lockedm={}",
            g.goid,
            go_gstatus(status),
            m_id(g.m.load(Ordering::Relaxed)),
            m_id(g.lockedm.load(Ordering::Relaxed)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Debug;

    #[test]
    fn godebug_is_parsed_as_go_does() {
        let d = |s: &str| Debug::parse(s);
        assert_eq!(d(""), Debug::default());
        assert_eq!(
            d("schedtrace=1000,scheddetail=1"),
            Debug {
                schedtrace: 1000,
                scheddetail: true
            }
        );
        // Later settings win; unknown keys, fields without `=` and bad numbers are ignored.
        assert_eq!(
            d("schedtrace=5,gctrace=1,schedtrace=7,junk,scheddetail=x").schedtrace,
            7
        );
        assert!(!d("scheddetail=x").scheddetail);
        assert!(!d("scheddetail=0").scheddetail);
        assert_eq!(d("schedtrace=-3").schedtrace, 0);
        assert_eq!(d("schedtrace=99999999999").schedtrace, 0);
    }
}
