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
    check_mappings();
    let spawned = std::thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(f);
    if let Err(e) = spawned {
        super::throw(&[
            "cannot create a runtime thread: ",
            &e.to_string(),
            " (the system's limit on threads: `ulimit -u`, kernel.threads-max, or the cgroup's \
             pids.max; each goroutine blocked in a system call holds a thread)",
        ]);
    }
}

/// Kernel mappings a new runtime thread takes: its stack and guard page, std's signal stack
/// and guard page, ours, and the stack of the goroutine it will likely run.
const MAPS_PER_THREAD: usize = 7;

/// When `LIVE` reaches this, count the process's mappings again.
static NEXT_MAPS_CHECK: AtomicUsize = AtomicUsize::new(0);

/// Ends the process with a clear message before a new thread would take the process past
/// `vm.max_map_count`: past it, the failure surfaces wherever the next mapping happens to be
/// made (std's thread start, a signal stack, a goroutine stack), each with its own words.
/// Counts the mappings only now and then: when the threads alive have grown by a fraction of
/// the headroom last seen.
fn check_mappings() {
    let live = LIVE.load(Ordering::Relaxed);
    if live < NEXT_MAPS_CHECK.load(Ordering::Relaxed) {
        return;
    }
    let (Some(max), Some(used)) = (max_map_count(), mappings()) else {
        return;
    };
    let headroom = max.saturating_sub(used);
    if headroom < 16 * MAPS_PER_THREAD {
        let (mut a, mut b, mut c) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        super::throw(&[
            "cannot create another runtime thread: the process uses ",
            digits(used, &mut a),
            " of its vm.max_map_count = ",
            digits(max, &mut b),
            " kernel mappings with ",
            digits(live, &mut c),
            " runtime threads (each goroutine blocked in a system call holds a thread, and a \
             thread with its stacks takes about 7 mappings); raise the vm.max_map_count sysctl, \
             or block fewer goroutines in system calls at once",
        ]);
    }
    NEXT_MAPS_CHECK.store(
        live + (headroom / MAPS_PER_THREAD / 2).max(1),
        Ordering::Relaxed,
    );
}

fn digits(n: usize, buf: &mut [u8; 20]) -> &str {
    core::str::from_utf8(super::decimal(n as u64, buf)).unwrap_or("?")
}

fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The process's kernel mappings: the lines of `/proc/self/maps`.
fn mappings() -> Option<usize> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count())
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

/// Counts a new runtime thread if that stays within the limit; whether it did.
pub(crate) fn try_add_thread() -> bool {
    LIVE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < MAX.load(Ordering::Acquire)).then_some(n + 1)
    })
    .is_ok()
}

pub(crate) fn remove_thread() {
    LIVE.fetch_sub(1, Ordering::AcqRel);
}
