//! Asymmetric fences: the frequent side of a handshake pays nothing, the rare side pays for
//! both.
//!
//! An M returning from a system call and a retake (sysmon, a stop-the-world) race for a P left
//! in `Psyscall` (see `proc_syscall.rs`). Each side stores its own word and then loads the
//! other's (Dekker's pattern): without a full fence between the store and the load on *both*
//! sides, x86's store buffer lets each miss the other's store. Any locked instruction or fence
//! right after the kernel returns costs ~17 ns on this machine, most of what the enter/exit
//! pair cost when its fast path was a CAS. `membarrier(2)`'s `PRIVATE_EXPEDITED` command moves
//! that cost to the rare side: before it returns, every CPU running one of our threads has
//! executed a full barrier (threads not running pass one when they are switched back in), so
//! the returning M's store and load are ordered as if it had fenced between them at that
//! instant, while it only keeps the compiler from reordering them. This is liburcu's
//! `urcu-memb` flavour and the JVM's and folly's "asymmetric heavy barrier".
//!
//! Registered once per process. Where the kernel lacks it (before Linux 4.14, or behind a
//! seccomp filter), or with `GORO_MEMBARRIER=off` in the environment, both sides fence: the
//! old cost, still correct. The mode only ever moves from fencing both sides to asymmetric,
//! so a handshake whose two sides read different modes is fenced on both sides, or more.
//! Under loom both sides are `SeqCst` fences: that is the guarantee `membarrier` gives, and
//! what the model checks.

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, Ordering, compiler_fence, fence};

#[cfg(not(loom))]
use linux_raw_sys::general::membarrier_cmd::{
    MEMBARRIER_CMD_PRIVATE_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
};

/// Whether the process is registered for expedited private barriers, so the light side may
/// skip its fence.
#[cfg(not(loom))]
static ASYMMETRIC: AtomicBool = AtomicBool::new(false);

/// Registers the process for expedited barriers, once, before the first goroutine runs.
#[cfg(not(loom))]
pub(crate) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let off = std::env::var_os("GORO_MEMBARRIER").is_some_and(|v| v == "off");
        if !off && super::sys::membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED).is_ok() {
            ASYMMETRIC.store(true, Ordering::Release);
        }
    });
}

/// Whether the frequent side must fence for real (the process is not registered). Read once
/// by each M as it is made, which is after `init`: the answer never changes after that.
#[cfg(not(loom))]
pub(crate) fn light_fences() -> bool {
    !ASYMMETRIC.load(Ordering::Acquire)
}

/// The frequent side's fence, between its store and its load: only the compiler's unless
/// `fences` (from [`light_fences`]).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn light(fences: bool) {
    if fences {
        // Off the straight line the common call runs after the kernel returns.
        crate::hint::cold_path();
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// The rare side's fence, between its store and its load: a barrier on every CPU running one
/// of our threads.
#[cfg(not(loom))]
pub(crate) fn heavy() {
    if ASYMMETRIC.load(Ordering::Acquire) {
        if let Err(e) = super::sys::membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) {
            // Registered, it cannot fail; carrying on would let two owners share a P.
            super::throw(&["membarrier: ", e.name().unwrap_or("an unknown error")]);
        }
    } else {
        fence(Ordering::SeqCst);
    }
}

#[cfg(loom)]
pub(crate) fn init() {}

/// The rare side's fence when the frequent side fences too (a call that published itself as
/// fenced): an ordinary full fence.
pub(crate) fn fence_both() {
    #[cfg(not(loom))]
    fence(Ordering::SeqCst);
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

#[cfg(loom)]
pub(crate) fn light_fences() -> bool {
    true
}

#[cfg(loom)]
pub(crate) fn light(_fences: bool) {
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

#[cfg(loom)]
pub(crate) fn heavy() {
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}
