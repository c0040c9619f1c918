//! The runtime's own system calls (Go's `runtime/sys_linux_amd64.s`).
//!
//! They go straight to the instruction and never notify the scheduler: the runtime knows which
//! of them block (a futex wait parks the whole M, on purpose) and calls them where that is
//! what it wants. Nothing here allocates, so they are safe to use from the scheduler's own
//! stack and, where noted, from a signal handler.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use linux_raw_sys::general::{
    __NR_exit_group, __NR_futex, __NR_gettid, __NR_madvise, __NR_membarrier, __NR_mmap,
    __NR_mprotect, __NR_munmap, __NR_nanosleep, __NR_prctl, __NR_rt_sigaction, __NR_sched_yield,
    __NR_sigaltstack, __NR_tgkill, __NR_write, __kernel_timespec, FUTEX_PRIVATE_FLAG, FUTEX_WAIT,
    FUTEX_WAKE, iovec, kernel_sigaction, membarrier_cmd, stack_t,
};

use crate::linux::arch;
use crate::linux::errno::Errno;

fn timespec(d: Duration) -> __kernel_timespec {
    __kernel_timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Sleeps while `*word == expected`, for at most `timeout`. Returns `Ok` on a wake-up and
/// `EAGAIN` (the value differed), `EINTR` or `ETIMEDOUT` otherwise; spurious wake-ups happen,
/// so callers re-check their condition. Safe in a signal handler.
pub(crate) fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    let ts = timeout.map(timespec);
    let tsp = ts.as_ref().map_or(0, |t| t as *const _ as usize);
    // SAFETY: `word` is a live, aligned u32 the kernel only reads; `tsp` is null or points to a
    // timespec that outlives the call. FUTEX_PRIVATE_FLAG: the word is not shared with other
    // processes.
    let r = unsafe {
        arch::syscall4(
            __NR_futex as usize,
            word.as_ptr() as usize,
            (FUTEX_WAIT | FUTEX_PRIVATE_FLAG) as usize,
            expected as usize,
            tsp,
        )
    };
    Errno::check(r).map(drop)
}

/// Wakes at most `n` threads sleeping in [`futex_wait`] on `word`; returns how many woke.
/// Safe in a signal handler.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> usize {
    // SAFETY: as for `futex_wait`; waking touches no memory of ours.
    let r = unsafe {
        arch::syscall3(
            __NR_futex as usize,
            word.as_ptr() as usize,
            (FUTEX_WAKE | FUTEX_PRIVATE_FLAG) as usize,
            n as usize,
        )
    };
    // FUTEX_WAKE on a valid private word cannot fail.
    Errno::check(r).unwrap_or(0)
}

/// Maps `len` bytes of anonymous memory with protection `prot` and `flags`.
///
/// # Safety
/// `flags` must not include `MAP_FIXED` over memory the program still uses.
pub(crate) unsafe fn mmap(len: usize, prot: u32, flags: u32) -> Result<*mut c_void, Errno> {
    // SAFETY: with a null hint and no MAP_FIXED (caller), the kernel picks fresh addresses.
    let r = unsafe {
        arch::syscall6_pair(
            __NR_mmap as usize,
            0,
            len,
            prot as usize,
            flags as usize,
            usize::MAX,
            0,
        )
    }
    .0;
    Errno::check(r).map(|p| p as *mut c_void)
}

/// Unmaps `[addr, addr + len)`.
///
/// # Safety
/// Nothing may use the range afterwards.
pub(crate) unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    Errno::check(unsafe { arch::syscall2(__NR_munmap as usize, addr as usize, len) }).map(drop)
}

/// Advises the kernel about `[addr, addr + len)` (`MADV_DONTNEED` frees the pages).
///
/// # Safety
/// `advice` must not discard memory the program still needs the contents of.
pub(crate) unsafe fn madvise(addr: *mut c_void, len: usize, advice: u32) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    let r = unsafe { arch::syscall3(__NR_madvise as usize, addr as usize, len, advice as usize) };
    Errno::check(r).map(drop)
}

/// Frees the pages of every range in `ranges` (`MADV_DONTNEED`), in one `process_madvise` on
/// the process itself where the kernel takes it (`PIDFD_SELF_THREAD_GROUP`, Linux 6.15): one
/// TLB shootdown for the batch rather than one per range. Each shootdown interrupts every CPU
/// running a thread of the process; on a 2-core VM with the other CPU busy, a `madvise` of a
/// stack slot cost ~18 us, a slot in a batch of 64 ~0.6 us. Falls back to a `madvise` per
/// range on an older kernel (and from then on).
///
/// # Safety
/// Nothing may need the contents of the ranges.
pub(crate) unsafe fn release_ranges(ranges: &[iovec]) {
    use linux_raw_sys::general::{__NR_process_madvise, MADV_DONTNEED, PIDFD_SELF_THREAD_GROUP};
    static ONE_BY_ONE: AtomicBool = AtomicBool::new(false);
    if !ONE_BY_ONE.load(Ordering::Relaxed) {
        let want: usize = ranges.iter().map(|r| r.iov_len as usize).sum();
        // SAFETY: `ranges` is a live array of `ranges.len()` iovecs (the caller keeps batches
        // within UIO_MAXIOV); the caller's contract covers the advice.
        let r = unsafe {
            arch::syscall6_pair(
                __NR_process_madvise as usize,
                PIDFD_SELF_THREAD_GROUP as isize as usize,
                ranges.as_ptr() as usize,
                ranges.len(),
                MADV_DONTNEED as usize,
                0,
                0,
            )
        };
        match Errno::check(r.0) {
            Ok(n) if n == want => return,
            // No such call, no `PIDFD_SELF`, or no `MADV_DONTNEED` through it: never again.
            Err(Errno::ENOSYS | Errno::EBADF | Errno::EINVAL | Errno::EPERM) => {
                ONE_BY_ONE.store(true, Ordering::Relaxed);
            }
            // Stopped part way: all of them one by one (twice is harmless).
            _ => {}
        }
    }
    for r in ranges {
        // SAFETY: the caller's contract.
        let _ = unsafe { madvise(r.iov_base, r.iov_len as usize, MADV_DONTNEED) };
    }
}

/// Changes the protection of `[addr, addr + len)` (guard pages).
///
/// # Safety
/// Nothing may access the range in a way the new protection forbids.
pub(crate) unsafe fn mprotect(addr: *mut c_void, len: usize, prot: u32) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    let r = unsafe { arch::syscall3(__NR_mprotect as usize, addr as usize, len, prot as usize) };
    Errno::check(r).map(drop)
}

/// Sets the calling thread's timer slack to `ns` nanoseconds (`PR_SET_TIMERSLACK`).
pub(crate) fn set_timerslack(ns: usize) {
    // SAFETY: takes a number; touches no memory.
    let _ = unsafe {
        arch::syscall2(
            __NR_prctl as usize,
            linux_raw_sys::prctl::PR_SET_TIMERSLACK as usize,
            ns,
        )
    };
}

/// The timer slack goroutines run with: the program's, read from the thread that made the
/// first runtime (the kernel's default is 50 us). 0 until then.
static USER_SLACK: AtomicUsize = AtomicUsize::new(0);

/// Reads the calling thread's timer slack as the one goroutines run with, once per process.
pub(crate) fn init_user_slack() {
    if USER_SLACK.load(Ordering::Relaxed) == 0 {
        // SAFETY: takes no pointer.
        let r = unsafe {
            arch::syscall1(
                __NR_prctl as usize,
                linux_raw_sys::prctl::PR_GET_TIMERSLACK as usize,
            )
        };
        let slack = Errno::check(r).unwrap_or(50_000).max(1);
        USER_SLACK.store(slack, Ordering::Relaxed);
    }
}

/// See [`USER_SLACK`].
pub(crate) fn user_slack() -> usize {
    match USER_SLACK.load(Ordering::Relaxed) {
        0 => 50_000,
        s => s,
    }
}

/// Runs `f`, a sleep of the runtime's own until a deadline, with 1 ns of timer slack: Ms run
/// goroutines with the program's slack (a goroutine's `nanosleep` lasts as long as on a
/// plain thread, and the kernel can batch the wake-ups of many), but the runtime's timers
/// must not fire 50 us late. Two `prctl`s around a sleep.
pub(crate) fn with_precise_slack<T>(f: impl FnOnce() -> T) -> T {
    set_timerslack(1);
    let r = f();
    set_timerslack(user_slack());
    r
}

/// `membarrier(cmd, 0, 0)`: with `MEMBARRIER_CMD_PRIVATE_EXPEDITED`, a full memory barrier
/// on every CPU running one of this process's threads, by IPI, before it returns (once
/// registered with `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`).
pub(crate) fn membarrier(cmd: membarrier_cmd) -> Result<(), Errno> {
    // SAFETY: takes a command number; touches no memory of ours.
    let r = unsafe { arch::syscall3(__NR_membarrier as usize, cmd as usize, 0, 0) };
    Errno::check(r).map(drop)
}

/// Gives the CPU to another thread.
pub(crate) fn sched_yield() {
    // SAFETY: no arguments; cannot fail.
    unsafe { arch::syscall3(__NR_sched_yield as usize, 0, 0, 0) };
}

/// The calling thread's id. Safe in a signal handler.
pub(crate) fn gettid() -> i32 {
    // SAFETY: no arguments, no memory written, cannot fail.
    unsafe { arch::syscall0_readonly(__NR_gettid as usize) as i32 }
}

/// Sends `sig` to thread `tid` of process `tgid`.
pub(crate) fn tgkill(tgid: i32, tid: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: sends a signal; touches no memory of ours.
    let r = unsafe {
        arch::syscall3(
            __NR_tgkill as usize,
            tgid as usize,
            tid as usize,
            sig as usize,
        )
    };
    Errno::check(r).map(drop)
}

/// Sleeps the thread for `d` (returns early with `EINTR` on a signal).
pub(crate) fn nanosleep(d: Duration) -> Result<(), Errno> {
    let ts = timespec(d);
    // SAFETY: `ts` outlives the call; the remaining-time pointer is null.
    let r = unsafe { arch::syscall2(__NR_nanosleep as usize, &ts as *const _ as usize, 0) };
    Errno::check(r).map(drop)
}

/// Writes `buf` to `fd` (fatal messages to standard error). Safe in a signal handler.
pub(crate) fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads `buf.len()` bytes of a live slice.
    Errno::check(unsafe {
        arch::syscall3(
            __NR_write as usize,
            fd as usize,
            buf.as_ptr() as usize,
            buf.len(),
        )
    })
}

/// Ends the process with `code`, without running destructors or flushing anything.
pub(crate) fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    unsafe { arch::syscall1_noreturn(__NR_exit_group as usize, code as usize) }
}

/// Installs `new` (if any) as the action for `sig` and returns the old one.
///
/// # Safety
/// `new`'s handler must be sound to run for `sig` at any point of any thread, and its flags
/// must include `SA_RESTORER` with a valid restorer.
pub(crate) unsafe fn rt_sigaction(
    sig: u32,
    new: Option<&kernel_sigaction>,
) -> Result<kernel_sigaction, Errno> {
    // SAFETY: `kernel_sigaction` is plain data; all-zero is a valid value.
    let mut old: kernel_sigaction = unsafe { core::mem::zeroed() };
    let newp = new.map_or(0, |a| a as *const kernel_sigaction as usize);
    // SAFETY: the caller's contract for `new`; `old` is writable; the mask is 8 bytes.
    let r = unsafe {
        arch::syscall4(
            __NR_rt_sigaction as usize,
            sig as usize,
            newp,
            &raw mut old as usize,
            8,
        )
    };
    Errno::check(r).map(|_| old)
}

/// Installs `new` (if any) as the calling thread's signal stack and returns the old one.
///
/// # Safety
/// `new`'s memory must stay mapped and unused by anything else while it is installed.
pub(crate) unsafe fn sigaltstack(new: Option<&stack_t>) -> Result<stack_t, Errno> {
    // SAFETY: `stack_t` is plain data; all-zero is a valid value.
    let mut old: stack_t = unsafe { core::mem::zeroed() };
    let newp = new.map_or(0, |s| s as *const stack_t as usize);
    // SAFETY: the caller's contract for `new`; `old` is writable.
    let r = unsafe { arch::syscall2(__NR_sigaltstack as usize, newp, &raw mut old as usize) };
    Errno::check(r).map(|_| old)
}

/// A new epoll instance, close-on-exec (for the network poller).
pub(crate) fn epoll_create() -> Result<i32, Errno> {
    // SAFETY: takes a flag; touches no memory of ours.
    let r = unsafe {
        arch::syscall1(
            linux_raw_sys::general::__NR_epoll_create1 as usize,
            linux_raw_sys::general::EPOLL_CLOEXEC as usize,
        )
    };
    Errno::check(r).map(|fd| fd as i32)
}

/// Adds (`EPOLL_CTL_ADD`), changes or removes `fd` in the set `epfd`, with `events` and the
/// user word `data`.
pub(crate) fn epoll_ctl(epfd: i32, op: u32, fd: i32, events: u32, data: u64) -> Result<(), Errno> {
    let ev = linux_raw_sys::general::epoll_event { events, data };
    // SAFETY: `ev` outlives the call and the kernel only reads it.
    let r = unsafe {
        arch::syscall4(
            linux_raw_sys::general::__NR_epoll_ctl as usize,
            epfd as usize,
            op as usize,
            fd as usize,
            &ev as *const _ as usize,
        )
    };
    Errno::check(r).map(drop)
}

/// Waits for events of `epfd` into `events`, at most `timeout` (`None`: for ever); returns
/// how many arrived. `epoll_pwait2` takes the timeout in nanoseconds; before Linux 5.11 it is
/// `epoll_wait`'s milliseconds, rounded up so a timer is never woken for early.
pub(crate) fn epoll_wait(
    epfd: i32,
    events: &mut [linux_raw_sys::general::epoll_event],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    use core::sync::atomic::{AtomicBool, Ordering};
    use linux_raw_sys::general::{__NR_epoll_pwait2, __NR_epoll_wait};
    static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
    let n = events.len().min(i32::MAX as usize);
    let ptr = events.as_mut_ptr() as usize;
    if !NO_PWAIT2.load(Ordering::Relaxed) {
        let ts = timeout.map(timespec);
        let tsp = ts.as_ref().map_or(0, |t| t as *const _ as usize);
        // SAFETY: the kernel writes at most `n` entries into the live slice and reads the
        // timespec (or none); no signal mask.
        let r = unsafe {
            arch::syscall6_pair(__NR_epoll_pwait2 as usize, epfd as usize, ptr, n, tsp, 0, 0)
        }
        .0;
        match Errno::check(r) {
            Err(Errno::ENOSYS) => NO_PWAIT2.store(true, Ordering::Relaxed),
            r => return r,
        }
    }
    let ms = timeout.map_or(-1, |d| {
        d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
    });
    // SAFETY: as above.
    let r = unsafe {
        arch::syscall4(
            __NR_epoll_wait as usize,
            epfd as usize,
            ptr,
            n,
            ms as isize as usize,
        )
    };
    Errno::check(r)
}

/// A new non-blocking, close-on-exec eventfd (the poller's wake-up).
pub(crate) fn eventfd() -> Result<i32, Errno> {
    use linux_raw_sys::general::{__NR_eventfd2, EFD_CLOEXEC, EFD_NONBLOCK};
    // SAFETY: takes numbers; touches no memory of ours.
    let r = unsafe {
        arch::syscall2(
            __NR_eventfd2 as usize,
            0,
            (EFD_CLOEXEC | EFD_NONBLOCK) as usize,
        )
    };
    Errno::check(r).map(|fd| fd as i32)
}

/// Reads from `fd` into `buf`: the number of bytes read.
pub(crate) fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into a live slice.
    let r = unsafe {
        arch::syscall3(
            linux_raw_sys::general::__NR_read as usize,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    };
    Errno::check(r)
}

/// Reads 8 bytes from `fd` (drains an eventfd).
pub(crate) fn read_u64(fd: i32) -> Result<u64, Errno> {
    let mut v = [0u8; 8];
    read(fd, &mut v).map(|_| u64::from_ne_bytes(v))
}

/// Closes `fd`, a descriptor the runtime owns.
pub(crate) fn close(fd: i32) {
    // SAFETY: the caller owns `fd`; nothing else uses it after this.
    let _ = unsafe { arch::syscall1(linux_raw_sys::general::__NR_close as usize, fd as usize) };
}

/// Waits up to `timeout` for `events` on `fd` (`ppoll(2)`, one descriptor): whether any
/// arrived. A plain thread's wait for a pollable descriptor.
pub(crate) fn poll1(fd: i32, events: i16, timeout: Duration) -> Result<bool, Errno> {
    let mut pfd = linux_raw_sys::general::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = timespec(timeout);
    // SAFETY: one live pollfd the kernel may write, a timespec it reads; no signal mask.
    let r = unsafe {
        arch::syscall4(
            linux_raw_sys::general::__NR_ppoll as usize,
            &raw mut pfd as usize,
            1,
            &ts as *const _ as usize,
            0,
        )
    };
    Errno::check(r).map(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general::{
        MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE, SS_DISABLE,
    };
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn futex_wait_times_out_and_is_woken() {
        let w = Arc::new(AtomicU32::new(0));
        assert_eq!(futex_wait(&w, 1, None), Err(Errno::EAGAIN));
        assert_eq!(
            futex_wait(&w, 0, Some(Duration::from_millis(5))),
            Err(Errno::ETIMEDOUT)
        );
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                let _ = futex_wait(&w2, 0, Some(Duration::from_secs(10)));
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        w.store(1, Ordering::Release);
        futex_wake(&w, 1);
        t.join().unwrap();
        assert_eq!(futex_wake(&w, 1), 0);
    }

    #[test]
    fn memory_calls() {
        let len = 3 * 4096;
        // SAFETY: fresh anonymous memory, used only here, unmapped at the end.
        unsafe {
            let p = mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS).unwrap();
            let b = p.cast::<u8>();
            b.write(7);
            madvise(p, len, MADV_DONTNEED).unwrap();
            assert_eq!(b.read(), 0, "MADV_DONTNEED gives back zero pages");
            mprotect(p, 4096, PROT_NONE).unwrap();
            assert_eq!(
                mprotect(p.cast::<u8>().add(1).cast(), 4096, PROT_NONE),
                Err(Errno::EINVAL)
            );
            munmap(p, len).unwrap();
            assert_eq!(
                mmap(0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS),
                Err(Errno::EINVAL)
            );
        }
    }

    #[test]
    fn thread_and_signal_calls() {
        sched_yield();
        let pid = std::process::id() as i32;
        assert!(gettid() > 0);
        // Signal 0 checks the target without sending anything.
        tgkill(pid, gettid(), 0).unwrap();
        assert_eq!(tgkill(pid, -5, 0), Err(Errno::EINVAL));
        nanosleep(Duration::from_micros(10)).unwrap();
        assert_eq!(write(-1, b"x"), Err(Errno::EBADF));
        assert_eq!(write(2, b""), Ok(0));
        // SAFETY: reading the current signal stack only.
        let cur = unsafe { sigaltstack(None) }.unwrap();
        assert!(cur.ss_flags as u32 & SS_DISABLE != 0 || cur.ss_size > 0);
    }
}
