//! The atomics of the structures that `loom` model-checks (the run queue and notes), and the
//! futex they sleep on: the real ones normally, loom's under `cfg(loom)`.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

#[cfg(not(loom))]
pub(crate) use super::sys::{futex_wait, futex_wake};

/// Under loom, a futex is a condition variable every waiter shares: `wait` returns at once if
/// the word differs, and any `wake` may wake every sleeper (spurious wake-ups, which callers
/// handle, as they must with a real futex).
#[cfg(loom)]
mod loom_futex {
    use core::time::Duration;
    use loom::sync::{Condvar, Mutex};

    use super::{AtomicU32, Ordering};
    use crate::linux::errno::Errno;

    loom::lazy_static! {
        static ref LOCK: Mutex<()> = Mutex::new(());
        static ref CV: Condvar = Condvar::new();
    }

    pub(crate) fn futex_wait(
        word: &AtomicU32,
        expected: u32,
        _timeout: Option<Duration>,
    ) -> Result<(), Errno> {
        let g = LOCK.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return Err(Errno::EAGAIN);
        }
        drop(CV.wait(g).unwrap());
        Ok(())
    }

    pub(crate) fn futex_wake(_word: &AtomicU32, _n: u32) -> usize {
        let _g = LOCK.lock().unwrap();
        CV.notify_all();
        0
    }
}
#[cfg(loom)]
pub(crate) use loom_futex::{futex_wait, futex_wake};
