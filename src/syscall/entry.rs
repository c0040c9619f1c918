//! The four entry points, with Go's convention for results and errors.
//!
//! `syscall` / `syscall6` tell the runtime that the goroutine is entering the kernel
//! (`entersyscall`) and has left it (`exitsyscall`), so that a call that blocks can lose its P to
//! another thread while the other goroutines run on. `raw_syscall` / `raw_syscall6` do not: they
//! are for calls that never block (`getpid`), and a blocking call made through them holds its P
//! for as long as it blocks. On a thread that is not one of the runtime's, the two are the same.
//!
//! Results follow Go: a kernel result in `[-4095, -1]` is an error, returned as
//! `(usize::MAX, 0, errno)`; anything else is `(rax, rdx, Errno(0))`.
//!
//! `EINTR` is the program's own: a call that `syscall` / `syscall6` see interrupted by the
//! runtime's preemption signal is made again (Go's `syscall` package instead lets its users see
//! those, and its `os` package retries). An `EINTR` from a signal the program handles itself is
//! returned as it is, as Go's `syscall` returns it.
//!
//! ```
//! use goro::syscall::{raw_syscall, Errno};
//! use linux_raw_sys::general::{__NR_close, __NR_getpid};
//!
//! // SAFETY: getpid takes no arguments and touches no memory.
//! let (pid, _, e) = unsafe { raw_syscall(__NR_getpid as usize, 0, 0, 0) };
//! assert!(e.is_ok() && pid as u32 == std::process::id());
//! // SAFETY: closing a descriptor that cannot exist touches no memory.
//! let (r1, r2, e) = unsafe { raw_syscall(__NR_close as usize, -1i32 as usize, 0, 0) };
//! assert_eq!((r1, r2, e), (usize::MAX, 0, Errno::EBADF));
//! ```

use crate::linux::arch;
use crate::linux::errno::Errno;
use crate::runtime::proc_syscall::interrupted_by_runtime;
use crate::runtime::{InSyscall, entersyscall, exitsyscall_from};

use super::arg::Words;

/// Go's result convention, from the kernel's `rax` and `rdx`.
#[inline(always)]
fn convention(rax: usize, rdx: usize) -> (usize, usize, Errno) {
    match Errno::check(rax) {
        Ok(r1) => (r1, rdx, Errno(0)),
        Err(e) => (usize::MAX, 0, e),
    }
}

/// Makes system call `trap` with three arguments, telling the scheduler (Go's `Syscall`).
///
/// Always inlined, with the scheduler's fast paths: the kernel refills the return-stack
/// predictor on the way back (a Spectre mitigation), so every `ret` to a frame made before the
/// call mispredicts, and a non-inlined `syscall` costs ~50 ns more here than an inlined one.
///
/// # Safety
/// The call and its arguments must be sound: every pointer valid for what `trap` does with it,
/// no memory or descriptor the program still uses freed or closed behind its back.
#[inline(always)]
pub unsafe fn syscall(trap: usize, a1: usize, a2: usize, a3: usize) -> (usize, usize, Errno) {
    loop {
        let s = entersyscall(trap);
        // SAFETY: the caller's contract.
        let r = unsafe { raw_syscall(trap, a1, a2, a3) };
        if let Some(r) = leave(trap, s, r) {
            return r;
        }
    }
}

/// `exitsyscall`, and the call's result; `None` if the runtime's own signal interrupted it
/// and it must be made again.
#[inline(always)]
fn leave(
    trap: usize,
    s: Option<InSyscall>,
    r: (usize, usize, Errno),
) -> Option<(usize, usize, Errno)> {
    if r.2 == Errno::EINTR && interrupted_by_runtime() {
        crate::hint::cold_path();
        exitsyscall_from(s);
        return restart(trap);
    }
    exitsyscall_from(s);
    Some(r)
}

/// What a call the runtime interrupted returns: nothing, it is made again (`None`), as
/// `SA_RESTART` would for the calls the kernel restarts itself; the kernel does not for
/// `nanosleep`, `poll`, `epoll_wait` and the like, which are made again with their arguments
/// as they were (a sleep may last as long as it did before the signal, a few microseconds:
/// the signal is sent just as the call begins). `close` has released the descriptor anyway
/// (Linux), so making it again could close a descriptor another thread has just opened: it
/// succeeded.
#[cold]
fn restart(trap: usize) -> Option<(usize, usize, Errno)> {
    (trap == linux_raw_sys::general::__NR_close as usize).then_some((0, 0, Errno(0)))
}

/// Makes system call `trap` with six arguments, telling the scheduler (Go's `Syscall6`).
/// Always inlined, as [`syscall`] is.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn syscall6(
    trap: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> (usize, usize, Errno) {
    loop {
        let s = entersyscall(trap);
        // SAFETY: the caller's contract.
        let r = unsafe { raw_syscall6(trap, a1, a2, a3, a4, a5, a6) };
        if let Some(r) = leave(trap, s, r) {
            return r;
        }
    }
}

/// Makes system call `trap` with three arguments without telling the scheduler (Go's
/// `RawSyscall`): only for calls that do not block.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
pub unsafe fn raw_syscall(trap: usize, a1: usize, a2: usize, a3: usize) -> (usize, usize, Errno) {
    // SAFETY: the caller's contract.
    let (rax, rdx) = unsafe { arch::syscall3_pair(trap, a1, a2, a3) };
    convention(rax, rdx)
}

/// Makes system call `trap` with six arguments without telling the scheduler (Go's
/// `RawSyscall6`).
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn raw_syscall6(
    trap: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> (usize, usize, Errno) {
    // SAFETY: the caller's contract.
    let (rax, rdx) = unsafe { arch::syscall6_pair(trap, a1, a2, a3, a4, a5, a6) };
    convention(rax, rdx)
}

/// Makes a system call that cannot fail (`getpid`, `getuid`), returning `rax` and `rdx` as
/// they are (Go's `rawSyscallNoError`).
///
/// # Safety
/// As for [`syscall`], and `trap` must be a call that has no error results.
#[inline]
pub unsafe fn raw_syscall_no_error(trap: usize, a1: usize, a2: usize, a3: usize) -> (usize, usize) {
    // SAFETY: the caller's contract.
    unsafe { arch::syscall3_pair(trap, a1, a2, a3) }
}

/// How a declaration's wrapper enters the kernel (the `sys` / `sysnb` / `sysnoerr` marks).
#[doc(hidden)]
pub struct Via;

impl Via {
    /// `sys`: through `syscall` or `syscall6`, as many words as there are.
    ///
    /// # Safety
    /// As for [`syscall`], for call `nr` with the words in `w`.
    #[inline(always)]
    pub unsafe fn sys(nr: u32, w: &Words) -> Result<usize, Errno> {
        let ([a1, a2, a3, a4, a5, a6], n) = w.get();
        // SAFETY: the caller's contract.
        let (r1, _, e) = unsafe {
            if n <= 3 {
                syscall(nr as usize, a1, a2, a3)
            } else {
                syscall6(nr as usize, a1, a2, a3, a4, a5, a6)
            }
        };
        if e.is_ok() { Ok(r1) } else { Err(e) }
    }

    /// `sysnb`: through `raw_syscall` or `raw_syscall6`. Written out like [`Via::sys`] rather
    /// than sharing a generic helper: with the helper, LLVM stopped inlining the whole chain,
    /// and a `ret` after the kernel returns costs ~35 ns here (see `syscall`).
    ///
    /// # Safety
    /// As for [`Via::sys`].
    #[inline(always)]
    pub unsafe fn sysnb(nr: u32, w: &Words) -> Result<usize, Errno> {
        let ([a1, a2, a3, a4, a5, a6], n) = w.get();
        // SAFETY: the caller's contract.
        let (r1, _, e) = unsafe {
            if n <= 3 {
                raw_syscall(nr as usize, a1, a2, a3)
            } else {
                raw_syscall6(nr as usize, a1, a2, a3, a4, a5, a6)
            }
        };
        if e.is_ok() { Ok(r1) } else { Err(e) }
    }

    /// `sysnoerr`: through `raw_syscall_no_error` (at most three words).
    ///
    /// # Safety
    /// As for [`Via::sys`], and call `nr` cannot fail.
    #[inline(always)]
    pub unsafe fn sysnoerr(nr: u32, w: &Words) -> usize {
        let ([a1, a2, a3, ..], n) = w.get();
        debug_assert!(n <= 3);
        // SAFETY: the caller's contract.
        unsafe { raw_syscall_no_error(nr as usize, a1, a2, a3).0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general::{__NR_close, __NR_getpid, __NR_pipe2};

    #[test]
    fn go_convention_on_real_calls() {
        for f in [raw_syscall, syscall] {
            // SAFETY: close of a descriptor that cannot exist.
            let r = unsafe { f(__NR_close as usize, -1i32 as usize, 0, 0) };
            assert_eq!(r, (usize::MAX, 0, Errno::EBADF));
            // SAFETY: getpid touches no memory; rdx holds a3, which the kernel preserves.
            let (pid, r2, e) = unsafe { f(__NR_getpid as usize, 0, 0, 77) };
            assert_eq!((pid as u32, r2, e), (std::process::id(), 77, Errno(0)));
        }
        for f in [raw_syscall6, syscall6] {
            // SAFETY: as above.
            let r = unsafe { f(__NR_close as usize, -1i32 as usize, 0, 0, 0, 0, 0) };
            assert_eq!(r, (usize::MAX, 0, Errno::EBADF));
        }
        // An out-of-range call number is ENOSYS.
        // SAFETY: no such call exists, so nothing happens.
        assert_eq!(unsafe { raw_syscall(100_000, 0, 0, 0) }.2, Errno::ENOSYS);
        // SAFETY: getpid, as above.
        let (pid, _) = unsafe { raw_syscall_no_error(__NR_getpid as usize, 0, 0, 0) };
        assert_eq!(pid as u32, std::process::id());
    }

    #[test]
    fn convention_at_every_edge() {
        for (rax, want) in [
            (0usize, (0, 9, Errno(0))),
            (1, (1, 9, Errno(0))),
            (
                4096usize.wrapping_neg(),
                (4096usize.wrapping_neg(), 9, Errno(0)),
            ),
            (4095usize.wrapping_neg(), (usize::MAX, 0, Errno(4095))),
            (4094usize.wrapping_neg(), (usize::MAX, 0, Errno(4094))),
            (2usize.wrapping_neg(), (usize::MAX, 0, Errno(2))),
            (usize::MAX, (usize::MAX, 0, Errno(1))),
        ] {
            assert_eq!(convention(rax, 9), want, "rax = {rax:#x}");
        }
    }

    #[test]
    fn a_fault_is_an_errno_not_a_crash() {
        // SAFETY: the kernel checks the pointer and reports EFAULT; nothing is written.
        let r = unsafe { raw_syscall(__NR_pipe2 as usize, 8, 0, 0) };
        assert_eq!(r, (usize::MAX, 0, Errno::EFAULT));
    }
}
