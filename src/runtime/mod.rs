//! The middle floor: the scheduler and what it needs from the kernel. It knows nothing of the
//! public wrappers in `syscall/`; both stand on `linux/`.

pub(crate) mod atomic;
mod context;
pub(crate) mod g;
pub(crate) mod m;
pub(crate) mod note;
pub(crate) mod p;
pub(crate) mod park;
pub(crate) mod proc;
mod proc_syscall;
pub(crate) mod runq;
pub(crate) mod sched;
mod signal;
pub(crate) mod stack;
pub(crate) mod sys;

pub(crate) use proc_syscall::{entersyscall, exitsyscall};

/// A fatal runtime error (Go's `throw`): writes `fatal error: ` and the parts to standard
/// error, without allocating, and aborts the process.
#[cold]
pub(crate) fn throw(parts: &[&str]) -> ! {
    let _ = sys::write(2, b"fatal error: ");
    for p in parts {
        let _ = sys::write(2, p.as_bytes());
    }
    let _ = sys::write(2, b"\n");
    std::process::abort()
}
