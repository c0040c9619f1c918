//! A snapshot of every runtime's Ps and Ms, for a watchdog to print when something hangs
//! (in the spirit of Go's `scheddetail`). Read racily from atomics, never through the
//! scheduler lock (a hung thread may hold it) and never through a goroutine pointer (the
//! goroutine may be freed meanwhile).

use core::fmt::Write;
use core::sync::atomic::Ordering;

use super::p::{PDEAD, PGCSTOP, PIDLE, PRUNNING, PSYSCALL};

/// One line for each runtime, then one for each of its Ps and Ms.
pub(crate) fn dump() -> String {
    let mut out = String::new();
    for (i, s) in super::checkdead::runtimes().iter().enumerate() {
        let nprocs = s.nprocs.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "runtime {i}: procs={nprocs} idleprocs={} spinning={} runqueue={} gcwaiting={} \
             sysmonwait={} shutdown={} threads={} goroutines={}",
            s.npidle.load(Ordering::Relaxed),
            s.nmspinning.load(Ordering::Relaxed),
            s.runqsize.load(Ordering::Relaxed),
            s.gcwaiting(),
            s.sysmonwait(),
            s.shutdown.load(Ordering::Relaxed),
            s.mlive.load(Ordering::Relaxed),
            s.live_goroutines(),
        );
        for p in &s.allp[..nprocs] {
            let status = match p.state() {
                PIDLE => "idle",
                PRUNNING => "running",
                PSYSCALL => "syscall",
                PGCSTOP => "gcstop",
                PDEAD => "dead",
                _ => "?",
            };
            let m = p.m.load(Ordering::Relaxed);
            // SAFETY: Ms live as long as their runtime.
            let tid = unsafe { m.as_ref() }.map_or(0, |m| m.tid.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "  P{}: {status} m-tid={tid} runq={} schedtick={} syscalltick={} preempt={}",
                p.id,
                p.runq.len(),
                p.schedtick.load(Ordering::Relaxed),
                p.syscalltick.load(Ordering::Relaxed),
                p.preempt.load(Ordering::Relaxed),
            );
        }
        s.for_each_m(|m| {
            let p = m.p.load(Ordering::Relaxed);
            let oldp = m.oldp.load(Ordering::Relaxed);
            // SAFETY: Ps live as long as their runtime.
            let pid = |p: *mut super::p::P| unsafe { p.as_ref() }.map(|p| p.id);
            let _ = writeln!(
                out,
                "  M tid={}: p={:?} oldp={:?} running-g={} spinning={} locked-g={}",
                m.tid.load(Ordering::Relaxed),
                pid(p),
                pid(oldp),
                !m.curg.load(Ordering::Relaxed).is_null(),
                m.spinning.load(Ordering::Relaxed),
                !m.lockedg.load(Ordering::Relaxed).is_null(),
            );
        });
    }
    out
}
