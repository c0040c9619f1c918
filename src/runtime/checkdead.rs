//! Deadlock detection (Go's `checkdead`): when every goroutine is parked on something only
//! another goroutine could wake, and nothing else in the process could wake one either, the
//! program can never go on. Go then ends with `all goroutines are asleep - deadlock!`; so does
//! goro, rather than hang for ever.
//!
//! Unlike Go's, a goro program has threads that are not goroutines, and any of them may hold a
//! channel end or a `WaitGroup` and use it later. So the check counts *every* thread of the
//! process and reports a deadlock only if each one is accounted for as unable to wake anyone:
//! an idle M of this runtime, its sysmon, the template thread, or a plain thread parked on a
//! goro wait (a `join`, a channel, a `WaitGroup`), which only a goroutine can wake; and no
//! timer is pending, since one would wake somebody. A thread in
//! anything else (a `sleep`, a read, another runtime's goroutines, a test harness) might act
//! later, so the check stays silent: it never reports a deadlock that is not one.

use core::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use super::enterflags::TRACING;
use super::g::WaitReason;
use super::park::PARKED_THREADS;
use super::sched::{Locked, Sched};

/// Every runtime of the process, for [`checkdead_all`].
static RUNTIMES: Mutex<Vec<Weak<Sched>>> = Mutex::new(Vec::new());

/// Makes `sched` known to [`checkdead_all`] and to the tracer, which mirrors whether it is on
/// into every runtime's `enter_flags` (read here under the lock that `trace::start` and `stop`
/// take to list the runtimes, after they switch: a runtime made meanwhile misses neither).
pub(crate) fn register(sched: &Arc<Sched>) {
    let mut all = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(sched));
    if super::trace::on() {
        sched.enter_flags.set(TRACING, true);
    }
}

/// Checks every runtime, from a plain thread that has just parked on a goro wait: it may be
/// the last thread to go to sleep, after the Ms did (a `run` whose main goroutine deadlocked
/// before the caller got to `join`).
pub(crate) fn checkdead_all() {
    for sched in runtimes() {
        sched.checkdead_locked(&sched.locked());
    }
}

/// The runtimes alive now.
pub(crate) fn runtimes() -> Vec<Arc<Sched>> {
    RUNTIMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

impl Sched {
    /// Called under the lock as an M goes idle. Cheap unless every M of the runtime is idle.
    pub(crate) fn checkdead_locked(&self, l: &Locked) {
        // A runtime shut down has abandoned what it left (none of it runs again): that is not
        // the program's deadlock, and its threads, gone or going, count for nothing here.
        if self.shutdown.load(Ordering::Acquire) {
            return;
        }
        let mlive = self.mlive.load(Ordering::Acquire);
        if l.idle_ms() < mlive
            || self.live_goroutines() == 0
            || self.has_runnable()
            || self.next_timer() != u64::MAX
        {
            return; // someone runs, or will: a timer wakes the sleeper
        }
        // Wrapping: a thread parked through `WaitNode::park_if` may be uncounted by its waker
        // a moment before it counts itself, and the count reads one short (see there).
        let accounted = (mlive
            + usize::from(self.sysmon_started())
            + usize::from(super::threads::template_started()))
        .wrapping_add(PARKED_THREADS.load(Ordering::Acquire));
        if process_threads() != Some(accounted) {
            return;
        }
        self.report_deadlock();
    }

    fn has_runnable(&self) -> bool {
        self.runqsize.load(Ordering::Acquire) > 0
            || self.netq.len() > 0
            || self.allp[..self.nprocs.load(Ordering::Acquire)]
                .iter()
                .any(|p| !p.runq.is_empty())
    }

    /// Goroutines parked for `why`.
    pub(crate) fn waiting(&self, why: WaitReason) -> i64 {
        self.allp
            .iter()
            .map(|p| p.waits[why as usize].load(Ordering::Acquire))
            .sum::<i64>()
            + self.waits_outside[why as usize].load(Ordering::Acquire)
    }

    #[cold]
    fn report_deadlock(&self) -> ! {
        // Assembled without allocating: `throw` writes the parts in order.
        let mut nums = [[0u8; 20]; WaitReason::COUNT + 1];
        let (total, rest) = nums.split_first_mut().expect("one buffer per number");
        let mut parts: Vec<&str> = vec![
            "all goroutines are asleep - deadlock!\n\n",
            core::str::from_utf8(super::decimal(self.live_goroutines(), total)).unwrap_or("?"),
            " goroutines:",
        ];
        for (why, buf) in WaitReason::ALL.into_iter().zip(rest.iter_mut()) {
            let n = self.waiting(why);
            if n > 0 {
                parts.push(" ");
                parts.push(core::str::from_utf8(super::decimal(n as u64, buf)).unwrap_or("?"));
                parts.push(" [");
                parts.push(why.name());
                parts.push("]");
            }
        }
        super::throw(&parts)
    }
}

impl Locked {
    /// Ms asleep with nothing to do: idle, or locked and waiting for their goroutine.
    fn idle_ms(&self) -> usize {
        self.midle.len() + self.mlocked.len()
    }
}

/// The number of threads in the process (`/proc/self/stat`, field 20), if it can be read.
fn process_threads() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(17)?.parse().ok()
}
