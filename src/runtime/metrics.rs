//! How long blocking system calls last, per system-call number, without slowing the calls
//! that do not block.
//!
//! Only calls whose P sysmon retook are timed: those are the calls that blocked (a call that
//! keeps its P is either short, or left alone by the retake rule because nothing waited for
//! the P). The fast paths gain one store (the call's number, on the M's cache line that
//! `entersyscall` writes anyway) and no clock read. The start is sysmon's: when it retakes a P
//! it stamps it with the call's `syscalltick` and the time it first saw the call, at most one
//! sysmon tick after the call began (20 us while calls are being made: a sysmon asleep longer
//! is woken by `entersyscall`). The M that comes back from the call without its P reads the
//! stamp on the slow path, checks that the tick is its call's (the P may have run and lost
//! other calls since), and records `now - start` in a log2 histogram for the call's number.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

use super::m::M;
use super::p::P;
use super::sysmon::nanotime;

/// Histogram buckets: bucket 0 holds calls under 1 us, bucket `i` calls of `[2^(i-1),
/// 2^i)` us, the last one everything longer.
pub(crate) const BUCKETS: usize = 32;

/// System-call numbers timed (x86_64's run to about 460).
const NR_MAX: usize = 512;

/// The stamp sysmon leaves on a P it retook from a call (a sequence lock: sysmon is its only
/// writer; the M coming back reads it without a lock and drops a torn read).
#[derive(Default)]
pub(crate) struct RetakeStamp {
    /// Odd while sysmon writes.
    seq: AtomicU32,
    /// The P's `syscalltick` when it was retaken: which call it was.
    tick: AtomicU32,
    /// When sysmon first saw that call (nanotime).
    since: AtomicU64,
}

impl RetakeStamp {
    /// sysmon, owning the P it just retook.
    pub(crate) fn stamp(&self, tick: u32, since: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the data for a reader that sees the data.
        fence(Ordering::Release);
        self.tick.store(tick, Ordering::Relaxed);
        self.since.store(since, Ordering::Relaxed);
        // Release: a reader that sees the even sequence sees the data.
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// When the call made at `tick` was first seen, if this stamp is its and was read whole.
    fn read(&self, tick: u32) -> Option<u64> {
        let s1 = self.seq.load(Ordering::Acquire);
        let t = self.tick.load(Ordering::Relaxed);
        let since = self.since.load(Ordering::Relaxed);
        // Orders the data reads before the second sequence read.
        fence(Ordering::Acquire);
        let s2 = self.seq.load(Ordering::Relaxed);
        (s1 == s2 && s1 % 2 == 0 && t == tick && since != 0).then_some(since)
    }
}

/// The system-call numbers that blocked last time sysmon looked, one bit each: sysmon marks a
/// number when it retakes a call of it the Go way (unchanged over a whole tick), watches the
/// next calls of a marked number closely when work waits for their P, and clears the mark
/// when a watched call returns quickly (see `sysmon.rs`). Relaxed everywhere: a stale bit
/// only makes sysmon watch one call for nothing, or not at all.
pub(crate) struct MayBlock {
    bits: [AtomicU64; NR_MAX / 64],
}

impl Default for MayBlock {
    fn default() -> MayBlock {
        MayBlock {
            bits: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl MayBlock {
    /// Whether the last timed call of `nr` blocked.
    pub(crate) fn get(&self, nr: usize) -> bool {
        self.bits
            .get(nr / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & 1 << (nr % 64) != 0)
    }

    /// Whether any number is marked.
    pub(crate) fn any(&self) -> bool {
        self.bits.iter().any(|w| w.load(Ordering::Relaxed) != 0)
    }

    /// Marks or clears `nr`; writes only when it changes, so a number blocking again and
    /// again does not keep the line bouncing between the Ms that call it.
    pub(crate) fn set(&self, nr: usize, blocks: bool) {
        if self.get(nr) != blocks
            && let Some(w) = self.bits.get(nr / 64)
        {
            if blocks {
                w.fetch_or(1 << (nr % 64), Ordering::Relaxed);
            } else {
                w.fetch_and(!(1 << (nr % 64)), Ordering::Relaxed);
            }
        }
    }
}

/// One histogram per system-call number, made at its first blocking call.
pub(crate) struct SyscallHist {
    by_nr: Box<[AtomicPtr<[AtomicU64; BUCKETS]>]>,
}

impl Default for SyscallHist {
    fn default() -> SyscallHist {
        SyscallHist {
            by_nr: (0..NR_MAX)
                .map(|_| AtomicPtr::new(core::ptr::null_mut()))
                .collect(),
        }
    }
}

/// The bucket of a call that lasted `ns`.
pub(crate) fn bucket(ns: u64) -> usize {
    let us = ns / 1000;
    ((u64::BITS - us.leading_zeros()) as usize).min(BUCKETS - 1)
}

impl SyscallHist {
    fn record(&self, nr: usize, ns: u64) {
        let Some(slot) = self.by_nr.get(nr) else {
            return;
        };
        let mut h = slot.load(Ordering::Acquire);
        if h.is_null() {
            let new = Box::into_raw(Box::new(core::array::from_fn(|_| AtomicU64::new(0))));
            h = match slot.compare_exchange(
                core::ptr::null_mut(),
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => new,
                Err(theirs) => {
                    // SAFETY: ours, never shared: the CAS failed.
                    drop(unsafe { Box::from_raw(new) });
                    theirs
                }
            };
        }
        // SAFETY: histograms are freed only with the table.
        unsafe { &(*h)[bucket(ns)] }.fetch_add(1, Ordering::Relaxed);
    }

    /// Every number with a call recorded, and its buckets.
    pub(crate) fn snapshot(&self) -> Vec<(usize, [u64; BUCKETS])> {
        let mut out = Vec::new();
        for (nr, slot) in self.by_nr.iter().enumerate() {
            // SAFETY: as in `record`.
            if let Some(h) = unsafe { slot.load(Ordering::Acquire).as_ref() } {
                out.push((nr, core::array::from_fn(|i| h[i].load(Ordering::Relaxed))));
            }
        }
        out
    }
}

impl Drop for SyscallHist {
    fn drop(&mut self) {
        for slot in self.by_nr.iter_mut() {
            let h = *slot.get_mut();
            if !h.is_null() {
                // SAFETY: made by `record` with `Box::into_raw`; the table is going away.
                drop(unsafe { Box::from_raw(h) });
            }
        }
    }
}

/// The goroutine's call lost `oldp` (or it was never given one), or got it back after it had
/// been retaken (its `syscalltick` moved). Records how long the call lasted, if sysmon retook
/// the P from this very call.
#[cold]
pub(crate) fn syscall_blocked(m: &M, oldp: *mut P) {
    // SAFETY: Ps live as long as their runtime.
    let Some(p) = (unsafe { oldp.as_ref() }) else {
        return;
    };
    if let Some(since) = p.retake.read(m.syscalltick.load(Ordering::Relaxed)) {
        let nr = m.syscall_nr.load(Ordering::Relaxed) as usize;
        let sched = m.sched();
        sched
            .syscall_hist
            .record(nr, nanotime().saturating_sub(since));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_microseconds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1_000), 1);
        assert_eq!(bucket(1_999), 1);
        assert_eq!(bucket(2_000), 2);
        assert_eq!(bucket(1_000_000), 10); // 1 ms: [512, 1024) us
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_stamp_is_read_only_for_its_call() {
        let s = RetakeStamp::default();
        assert_eq!(s.read(0), None, "never stamped");
        s.stamp(7, 123);
        assert_eq!(s.read(7), Some(123));
        assert_eq!(s.read(8), None, "another call on the same P");
    }

    #[test]
    fn may_block_marks_each_number_alone() {
        let b = MayBlock::default();
        assert!(!b.get(0) && !b.get(35) && !b.any());
        b.set(35, true);
        assert!(b.any());
        b.set(64, true);
        assert!(b.get(35) && b.get(64));
        assert!(!b.get(34) && !b.get(36) && !b.get(0) && !b.get(65));
        b.set(35, false);
        assert!(!b.get(35) && b.get(64));
        b.set(NR_MAX + 1, true); // out of range: ignored
        assert!(!b.get(NR_MAX + 1));
    }

    #[test]
    fn histograms_are_per_number() {
        let h = SyscallHist::default();
        h.record(0, 5_000);
        h.record(0, 5_500);
        h.record(35, 2_000_000);
        h.record(NR_MAX + 3, 1); // out of range: ignored
        let snap = h.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].0, 0);
        assert_eq!(snap[0].1[bucket(5_000)], 2);
        assert_eq!(snap[1].0, 35);
        assert_eq!(snap[1].1.iter().sum::<u64>(), 1);
    }
}
