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
use super::sysmon::{SHORT_CALL, nanotime};

/// Histogram buckets: bucket 0 holds calls under 1 us, bucket `i` calls of `[2^(i-1),
/// 2^i)` us, the last one everything longer.
pub(crate) const BUCKETS: usize = 32;

/// System-call numbers timed (x86_64's run to about 460).
const NR_MAX: usize = 512;

/// The stamp sysmon (or an M back from another call, `exitsyscall_take`) leaves on a P it
/// took from a call (a sequence lock: only the P's new owner writes it, so one writer at a
/// time; the M coming back reads it without a lock and drops a torn read).
#[derive(Default)]
pub(crate) struct RetakeStamp {
    /// Odd while the owner writes.
    seq: AtomicU32,
    /// The P's `syscalltick` when it was retaken: which call it was.
    tick: AtomicU32,
    /// When sysmon first saw that call, or when an M took it (nanotime).
    since: AtomicU64,
}

impl RetakeStamp {
    /// sysmon or an M, owning the P it just took from a call.
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

/// The system-call numbers that blocked lately, in two steps, one bit each. sysmon marks a
/// number when it retakes a call of it (`blocked`): once, and it watches the next calls of
/// the number closely when work waits for their P; twice in a row, and the number is `sure`,
/// and its calls hand their P off at entry when work waits (`entersyscall`). A call that
/// proves short (a watched one, begun just before the watch, back within it; a handed-off one
/// back within `SHORT_CALL`) clears both steps. Two steps because a short call retaken once
/// (its thread descheduled mid-call on a loaded machine) must not cost the next calls a
/// handoff each.
/// Relaxed everywhere: a stale bit costs one watch, or one handoff, for nothing.
#[derive(Default)]
pub(crate) struct MayBlock {
    /// Retaken lately.
    bits: Bits,
    /// Retaken twice without a short call between.
    sure: Bits,
}

#[derive(Default)]
struct Bits([AtomicU64; NR_MAX / 64]);

impl Bits {
    #[inline(always)]
    fn get(&self, nr: usize) -> bool {
        self.0
            .get(nr / 64)
            .is_some_and(|w| w.load(Ordering::Relaxed) & 1 << (nr % 64) != 0)
    }

    /// Sets or clears `nr`; writes only when it changes, so a number blocking again and
    /// again does not keep the line bouncing between the Ms that call it.
    fn set(&self, nr: usize, on: bool) {
        if self.get(nr) != on
            && let Some(w) = self.0.get(nr / 64)
        {
            if on {
                w.fetch_or(1 << (nr % 64), Ordering::Relaxed);
            } else {
                w.fetch_and(!(1 << (nr % 64)), Ordering::Relaxed);
            }
        }
    }
}

impl MayBlock {
    /// Whether a call of `nr` was retaken lately. Inlined into every `syscall` (another
    /// crate's code): a call there costs more than the load and test it wraps.
    #[inline(always)]
    pub(crate) fn get(&self, nr: usize) -> bool {
        self.bits.get(nr)
    }

    /// Whether calls of `nr` were retaken twice without a short one between.
    pub(crate) fn sure(&self, nr: usize) -> bool {
        self.sure.get(nr)
    }

    /// A call of `nr` was retaken: one step up.
    pub(crate) fn blocked(&self, nr: usize) {
        if self.bits.get(nr) {
            self.sure.set(nr, true);
        } else {
            self.bits.set(nr, true);
        }
    }

    /// A call of `nr` proved short: both steps cleared.
    pub(crate) fn short(&self, nr: usize) {
        self.sure.set(nr, false);
        self.bits.set(nr, false);
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
/// been retaken (its `syscalltick` moved). Records how long the call lasted, if sysmon (or an
/// M back from another call, `exitsyscall_take`) retook the P from this very call. Clears no
/// marks: the stamp is when the call was first seen or taken, not when it began, so a call
/// back soon after it may have been long (a 1 ms `nanosleep` taken in its last microseconds;
/// such a verdict cleared `nanosleep`'s marks in the harness's `handoff` now and then). A
/// number whose calls have become short is cleared by a watch that began with the call, or by
/// a call handed off at entry (`handed_off_call_returned`).
#[cold]
pub(crate) fn syscall_blocked(m: &M, oldp: *mut P) {
    // SAFETY: Ps live as long as their runtime.
    let Some(p) = (unsafe { oldp.as_ref() }) else {
        return;
    };
    if let Some(since) = p.retake.read(m.syscalltick.load(Ordering::Relaxed)) {
        let nr = m.syscall_nr.load(Ordering::Relaxed) as usize;
        let took = nanotime().saturating_sub(since);
        m.sched().syscall_hist.record(nr, took);
    }
}

/// How long a call handed off at entry lasted: into the histogram; and a short one clears its
/// number's mark (see `entersyscall_handoff`).
#[cold]
pub(crate) fn handed_off_call_returned(m: &M, since: u64) {
    m.handoff_at.store(0, Ordering::Relaxed);
    let nr = m.syscall_nr.load(Ordering::Relaxed) as usize;
    let sched = m.sched();
    let took = nanotime().saturating_sub(since);
    sched.syscall_hist.record(nr, took);
    if took < SHORT_CALL.as_nanos() as u64 {
        sched.may_block.short(nr);
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
        assert!(!b.get(0) && !b.get(35));
        b.blocked(35);
        b.blocked(64);
        assert!(b.get(35) && b.get(64));
        assert!(!b.get(34) && !b.get(36) && !b.get(0) && !b.get(65));
        b.short(35);
        assert!(!b.get(35) && b.get(64));
        b.blocked(NR_MAX + 1); // out of range: ignored
        assert!(!b.get(NR_MAX + 1) && !b.sure(NR_MAX + 1));
    }

    #[test]
    fn may_block_is_sure_after_two_retakes_in_a_row() {
        let b = MayBlock::default();
        b.blocked(35);
        assert!(b.get(35) && !b.sure(35), "one retake: watched only");
        b.blocked(35);
        assert!(b.sure(35), "two: handed off at entry");
        b.short(35);
        assert!(!b.get(35) && !b.sure(35), "a short call clears both");
        b.blocked(35);
        assert!(!b.sure(35), "and the count starts over");
    }

    /// A call taken by an M back from another call (`exitsyscall_take`) and back itself at
    /// once is timed, but clears no marks: it may have run for long before the take.
    #[test]
    fn a_taken_call_back_soon_after_keeps_its_numbers_marks() {
        let sched = super::super::sched::Sched::new(1, 64 * 1024);
        let p = &sched.allp[0];
        let m = sched.test_m();
        m.syscalltick.store(7, Ordering::Relaxed);
        m.syscall_nr.store(35, Ordering::Relaxed);
        sched.may_block.blocked(35);
        sched.may_block.blocked(35);
        p.call_taken(7, Some(nanotime()));
        syscall_blocked(m, p as *const P as *mut P);
        assert!(sched.may_block.sure(35), "the marks were cleared");
        let timed: u64 = sched
            .syscall_hist
            .snapshot()
            .iter()
            .filter(|(nr, _)| *nr == 35)
            .map(|(_, b)| b.iter().sum::<u64>())
            .sum();
        assert_eq!(timed, 1, "the call was not timed");
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
