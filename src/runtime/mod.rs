//! The middle floor: the scheduler and what it needs from the kernel. It knows nothing of the
//! public wrappers in `syscall/`; both stand on `linux/`.

pub(crate) mod atomic;
pub(crate) mod checkdead;
mod context;
pub(crate) mod debug;
pub(crate) mod ended;
pub(crate) mod enterflags;
pub(crate) mod g;
pub(crate) mod gfree;
pub(crate) mod lockosthread;
pub(crate) mod m;
mod membarrier;
pub(crate) mod metrics;
pub(crate) mod netpoll;
mod netpoll_epoll;
pub(crate) mod netq;
pub(crate) mod note;
pub(crate) mod p;
pub(crate) mod park;
pub(crate) mod proc;
pub(crate) mod proc_syscall;
pub(crate) mod runq;
pub(crate) mod sched;
pub(crate) mod schedtrace;
pub(crate) mod sema;
mod signal;
pub(crate) mod stack;
pub(crate) mod stw;
pub(crate) mod sys;
mod sysmon;
pub(crate) mod threads;
mod threadstate;
pub(crate) mod timers;
pub(crate) mod trace;
mod valgrind;

pub(crate) use proc_syscall::{InSyscall, entersyscall, exitsyscall, exitsyscall_from};

/// Writes `n` in decimal into `buf`, returning the digits (no allocation: for fatal paths and
/// signal handlers).
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// A fatal runtime error (Go's `throw`): writes `fatal error: ` and the parts to standard
/// error, without allocating, and aborts the process. If several threads throw at once, the
/// first one's message is printed and the others wait for the end.
#[cold]
pub(crate) fn throw(parts: &[&str]) -> ! {
    static THROWING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if THROWING.swap(true, core::sync::atomic::Ordering::AcqRel) {
        loop {
            let _ = sys::nanosleep(core::time::Duration::from_secs(1));
        }
    }
    let _ = sys::write(2, b"fatal error: ");
    for p in parts {
        let _ = sys::write(2, p.as_bytes());
    }
    let _ = sys::write(2, b"\n");
    std::process::abort()
}
