//! What `entersyscall` must look at besides its own call, in one word of the runtime: whether
//! tracing is on, whether sysmon sleeps where the call should wake it (Go's
//! `sched.sysmonwait`), whether a stop-the-world waits for Ps (Go's `sched.gcwaiting`).
//!
//! The entry reads the word twice, from a line it reaches through its M anyway: for tracing
//! before the P is published as in a call (the clock is read while the P is still ours), and
//! for the other two after (each then only makes sysmon or the stop-the-world prompt: a
//! stop-the-world takes Ps in calls by itself every 100 us, and sysmon sleeps a bounded time).
//! That replaced a process-wide flag reached through the GOT and two loads of separate bytes,
//! and saved ~1.4 ns of the ~8 ns enter/exit pair (ARCHITECTURE.md). Tracing's bit mirrors
//! `trace::ON` in every runtime: `trace::start` and `stop` set it in each runtime after they
//! switch `ON`, and a runtime made meanwhile reads `ON` itself (`checkdead::register`).

use core::sync::atomic::{AtomicU32, Ordering};

/// The flags, one bit each.
pub(crate) struct EnterFlags(AtomicU32);

/// Tracing is on (the process-wide `trace::ON`, mirrored).
pub(crate) const TRACING: u32 = 1;
/// sysmon sleeps on its note, 1 ms or more: a call that may block wakes it.
pub(crate) const SYSMONWAIT: u32 = 2;
/// A stop-the-world is under way or pending: Ps go to `Pgcstop` instead of running.
pub(crate) const GCWAITING: u32 = 4;

impl EnterFlags {
    pub(crate) const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// Every flag, for the system call's entry. Relaxed: each flag's reader that acts on
    /// what the flag guards reads it again with [`get`](Self::get).
    #[inline(always)]
    pub(crate) fn all(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether `flag` is set. Acquire: whoever set it published what it guards first.
    #[inline]
    pub(crate) fn get(&self, flag: u32) -> bool {
        self.0.load(Ordering::Acquire) & flag != 0
    }

    /// Sets or clears `flag`, after what the caller wrote before (Release).
    pub(crate) fn set(&self, flag: u32, on: bool) {
        if on {
            self.0.fetch_or(flag, Ordering::AcqRel);
        } else {
            self.0.fetch_and(!flag, Ordering::AcqRel);
        }
    }

    /// Clears `flag`; whether it was set (for one waker among several).
    pub(crate) fn take(&self, flag: u32) -> bool {
        self.get(flag) && self.0.fetch_and(!flag, Ordering::AcqRel) & flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_is_its_own_bit() {
        let f = EnterFlags::new();
        assert_eq!(f.all(), 0);
        f.set(SYSMONWAIT, true);
        f.set(TRACING, true);
        assert!(f.get(SYSMONWAIT) && f.get(TRACING) && !f.get(GCWAITING));
        assert!(f.take(SYSMONWAIT));
        assert!(!f.take(SYSMONWAIT), "taken twice");
        assert_eq!(f.all(), TRACING);
        f.set(TRACING, false);
        f.set(GCWAITING, true);
        assert_eq!(f.all(), GCWAITING);
    }
}
