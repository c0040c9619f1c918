//! Starting runtime threads: the process-wide limit on them (Go's `debug.SetMaxThreads`), so a
//! program that blocks more goroutines in system calls than the limit allows ends with a clear
//! fatal error instead of exhausting the machine; and the template thread, so no new thread
//! inherits what a locked goroutine changed in its own.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

use super::m::current_m;

/// A thread to start.
type Job = Box<dyn FnOnce() + Send>;

/// The template thread's queue, once a goroutine has locked itself to a thread.
static TEMPLATE: OnceLock<Sender<Job>> = OnceLock::new();

/// Starts a thread named `name` running `f`. A new thread shares or copies parts of its
/// parent's state (working directory and umask with `CLONE_FS`, namespaces, the signal mask),
/// which a goroutine locked to its thread may have changed; from such a thread the new one is
/// started by the template thread instead, a clean thread made when the first goroutine locks
/// itself (Go's `templateThread`). Ends the process if the thread cannot be created.
pub(crate) fn spawn(name: String, stack: usize, f: impl FnOnce() + Send + 'static) {
    // SAFETY: the calling thread's M, if it is one, lives with its runtime.
    let tainted = unsafe { current_m().as_ref() }.is_some_and(|m| m.tainted());
    let job: Job = Box::new(move || start(name, stack, f));
    match TEMPLATE.get() {
        Some(template) if tainted => {
            if template.send(job).is_err() {
                super::throw(&["the template thread has ended"]);
            }
        }
        _ => job(),
    }
}

fn start(name: String, stack: usize, f: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(f);
    if let Err(e) = spawned {
        super::throw(&["cannot create a runtime thread: ", &e.to_string()]);
    }
}

/// Whether the template thread exists (it lives as long as the process).
pub(crate) fn template_started() -> bool {
    TEMPLATE.get().is_some()
}

/// Starts the template thread if there is none, from the calling thread, which must not have
/// been changed by a locked goroutine (it is called as the first one locks).
pub(crate) fn start_template_thread() {
    TEMPLATE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        start("goro-template".into(), 64 * 1024, move || {
            for job in rx {
                job();
            }
        });
        tx
    });
}

/// Go's default.
pub(crate) const DEFAULT_MAX_THREADS: usize = 10_000;

static MAX: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_THREADS);
/// Runtime threads alive in the process (Ms and sysmons of every runtime).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Sets the limit, returning the previous one.
pub(crate) fn set_max_threads(n: usize) -> usize {
    MAX.swap(n.max(1), Ordering::AcqRel)
}

/// Counts a new runtime thread, or ends the process if that exceeds the limit.
pub(crate) fn add_thread() {
    let n = LIVE.fetch_add(1, Ordering::AcqRel) + 1;
    let max = MAX.load(Ordering::Acquire);
    if n > max {
        let mut buf = [0u8; 20];
        let _ = super::sys::write(2, b"goro: program exceeds ");
        let _ = super::sys::write(2, super::decimal(max as u64, &mut buf));
        let _ = super::sys::write(2, b"-thread limit\n");
        super::throw(&["thread exhaustion"]);
    }
}

pub(crate) fn remove_thread() {
    LIVE.fetch_sub(1, Ordering::AcqRel);
}
