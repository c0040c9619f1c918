//! One-shot notifications that park an OS thread (Go's `note`, `lock_futex.go`). An M with
//! nothing to do sleeps on its note until another thread hands it work.
//!
//! States of `key`: 0, nobody has woken the note; 1, woken. `notesleep` returns once it is 1;
//! `noteclear` resets it before the next use. A note is woken at most once per clear: a second
//! wake-up is a runtime bug and fatal.

use core::time::Duration;

use super::atomic::{AtomicU32, Ordering, futex_wait, futex_wake};

pub(crate) struct Note {
    key: AtomicU32,
}

impl Note {
    pub(crate) fn new() -> Note {
        Note {
            key: AtomicU32::new(0),
        }
    }

    /// Makes the note ready for the next sleep. Only the sleeper calls it, when no wake-up can
    /// be in flight.
    pub(crate) fn clear(&self) {
        self.key.store(0, Ordering::Relaxed);
    }

    /// Wakes the sleeper (now or when it comes to sleep).
    pub(crate) fn wakeup(&self) {
        // Release: what the waker wrote before is visible to the sleeper after its Acquire.
        if self.key.swap(1, Ordering::Release) != 0 {
            super::throw(&["notewakeup: double wakeup"]);
        }
        futex_wake(&self.key, 1);
    }

    /// Sleeps the thread until [`Note::wakeup`].
    pub(crate) fn sleep(&self) {
        while self.key.load(Ordering::Acquire) == 0 {
            // EAGAIN (already woken), EINTR and spurious returns all re-check the key.
            let _ = futex_wait(&self.key, 0, None);
        }
    }

    /// Sleeps at most `d`; returns whether the note was woken.
    pub(crate) fn sleep_for(&self, d: Duration) -> bool {
        let deadline = std::time::Instant::now() + d;
        while self.key.load(Ordering::Acquire) == 0 {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = futex_wait(&self.key, 0, Some(deadline - now));
        }
        true
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A wake-up is never lost, whichever side comes first.
    #[test]
    fn loom_note_wakeup_is_never_lost() {
        loom::model(|| {
            let n = Arc::new(Note::new());
            let n2 = n.clone();
            let t = loom::thread::spawn(move || n2.wakeup());
            n.sleep();
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sleep_wakeup_clear() {
        let n = Arc::new(Note::new());
        assert!(!n.sleep_for(Duration::from_millis(5)));
        let n2 = n.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            n2.wakeup();
        });
        n.sleep();
        t.join().unwrap();
        assert!(n.sleep_for(Duration::ZERO), "stays woken until cleared");
        n.clear();
        assert!(!n.sleep_for(Duration::from_millis(1)));
    }
}
