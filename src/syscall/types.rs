//! The kernel's structures the wrappers read and write, under Go's names. Layouts come from
//! `linux-raw-sys`; this file only names them.

use std::os::fd::BorrowedFd;

use linux_raw_sys::{general as g, net as n, system as s};

use super::arg::{Pod, pod};

/// `struct stat` (Go's `Stat_t`).
pub type Stat = g::stat;
/// `struct statx`.
pub type Statx = g::statx;
/// `struct statfs` (Go's `Statfs_t`).
pub type Statfs = g::statfs;
/// `struct timespec`, 64-bit.
pub type Timespec = crate::linux::vdso::Timespec;
/// `struct timeval`.
pub type Timeval = crate::linux::vdso::Timeval;
/// `struct itimerspec` (timerfd).
pub type Itimerspec = g::__kernel_itimerspec;
/// `struct itimerval` (setitimer).
pub type Itimerval = g::itimerval;
/// `struct rlimit64` (Go's `Rlimit`).
pub type Rlimit = g::rlimit64;
/// `struct rusage`.
pub type Rusage = g::rusage;
/// `struct new_utsname` (Go's `Utsname`).
pub type Utsname = s::new_utsname;
/// `struct sysinfo` (Go's `Sysinfo_t`).
pub type Sysinfo = s::sysinfo;
/// `struct epoll_event` (packed on x86_64).
pub type EpollEvent = g::epoll_event;
/// `struct pollfd`.
pub type PollFd = g::pollfd;
/// The kernel's signal set (64 signals; Go's `Sigset_t`).
pub type Sigset = g::kernel_sigset_t;
/// `siginfo_t`.
pub type Siginfo = g::siginfo;
/// `struct flock` (record locks).
pub type Flock = g::flock;
/// `struct sockaddr_in`.
pub type SockaddrIn = n::sockaddr_in;
/// `struct sockaddr_in6`.
pub type SockaddrIn6 = n::sockaddr_in6;
/// `struct sockaddr_un`.
pub type SockaddrUn = n::sockaddr_un;
/// `struct sockaddr_storage`: room for any address.
pub type SockaddrStorage = n::__kernel_sockaddr_storage;
/// `struct linger`.
pub type Linger = n::linger;
/// `struct msghdr`, whose pointers the caller of [`sendmsg`](super::sendmsg) vouches for.
pub type Msghdr = n::msghdr;

pod!(
    Stat,
    Statx,
    Statfs,
    Timespec,
    Timeval,
    Itimerspec,
    Itimerval,
    Rlimit,
    Rusage,
    Utsname,
    Sysinfo,
    EpollEvent,
    PollFd,
    Sigset,
    Siginfo,
    Flock,
    Linger,
    Msghdr,
    [Timespec; 2],
);
// SAFETY: as for the types above. Only `Pod`, without `&T` arguments: a `&SockaddrStorage`
// argument is a `Sockaddr` (pointer and size), and `&mut` ones appear only in hand-written
// wrappers.
unsafe impl Pod for SockaddrStorage {}

/// A socket address the kernel reads: the structure and its size.
///
/// # Safety
/// `Self` is a `repr(C)` socket address whose first field is the address family.
pub unsafe trait Sockaddr: Copy {}
// SAFETY: the kernel's own socket address structures.
unsafe impl Sockaddr for SockaddrIn {}
// SAFETY: as above.
unsafe impl Sockaddr for SockaddrIn6 {}
// SAFETY: as above.
unsafe impl Sockaddr for SockaddrUn {}
// SAFETY: as above.
unsafe impl Sockaddr for SockaddrStorage {}

/// The current working directory, as a `dirfd` argument of the `*at` calls.
// SAFETY: AT_FDCWD (-100) is never a real descriptor, so borrowing it closes nothing and is
// never -1; the kernel reads it as "relative to the working directory".
pub const AT_FDCWD: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(g::AT_FDCWD) };
