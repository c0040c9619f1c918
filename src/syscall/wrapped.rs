//! Calls written on top of others, as Go writes them: `rename` is `renameat(AT_FDCWD, ...)`,
//! `pipe` is `pipe2(0)`; and the safe faces of declarations whose raw form takes pointers
//! (`accept4`, `getsockopt`, `execve`).
//!
//! They are `#[inline(always)]` like the generated wrappers, so no `ret` to a frame older than
//! the system call follows the kernel's return (see `mksyscall.rs`).

use core::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use linux_raw_sys::general::{
    __NR_accept4, __NR_close, __NR_dup3, __NR_execve, __NR_exit_group, __NR_faccessat,
    __NR_fchmodat, __NR_fchownat, __NR_fcntl, __NR_getgroups, __NR_getpeername, __NR_getpgid,
    __NR_getsockname, __NR_getsockopt, __NR_linkat, __NR_mkdirat, __NR_mknodat, __NR_newfstatat,
    __NR_openat, __NR_pipe2, __NR_prlimit64, __NR_read, __NR_readlinkat, __NR_recvfrom,
    __NR_renameat, __NR_sched_getaffinity, __NR_sched_setaffinity, __NR_sendto, __NR_signalfd4,
    __NR_socketpair, __NR_symlinkat, __NR_unlinkat, __NR_write, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW,
    F_ADD_SEALS, F_DUPFD, F_DUPFD_CLOEXEC, F_GET_SEALS, F_GETFD, F_GETFL, F_GETLEASE, F_GETLK,
    F_GETOWN, F_GETPIPE_SZ, F_GETSIG, F_NOTIFY, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_SETFD,
    F_SETFL, F_SETLEASE, F_SETLK, F_SETLKW, F_SETOWN, F_SETPIPE_SZ, F_SETSIG, O_CREAT, O_TRUNC,
    O_WRONLY,
};

use super::arg::{PathArg, Pod};
use super::linux::*;
use super::mksyscall::{Kind, Wrapper};
use super::types::*;
use crate::linux::errno::Errno;

/// Renames `old` to `new` (Go's `Rename`).
#[inline(always)]
pub fn rename(old: impl PathArg, new: impl PathArg) -> Result<(), Errno> {
    renameat(AT_FDCWD, old, AT_FDCWD, new)
}

/// Checks access to `path` with the real ids, `mode` a mask of `R_OK`, `W_OK`, `X_OK` or
/// `F_OK` (Go's `Access`).
#[inline(always)]
pub fn access(path: impl PathArg, mode: u32) -> Result<(), Errno> {
    faccessat(AT_FDCWD, path, mode)
}

/// Changes `path`'s mode (Go's `Chmod`).
#[inline(always)]
pub fn chmod(path: impl PathArg, mode: u32) -> Result<(), Errno> {
    fchmodat(AT_FDCWD, path, mode)
}

/// Changes `path`'s owner, following symbolic links (Go's `Chown`).
#[inline(always)]
pub fn chown(path: impl PathArg, uid: u32, gid: u32) -> Result<(), Errno> {
    fchownat(AT_FDCWD, path, uid, gid, 0)
}

/// Changes the owner of `path` itself, not following a final symbolic link (Go's `Lchown`).
#[inline(always)]
pub fn lchown(path: impl PathArg, uid: u32, gid: u32) -> Result<(), Errno> {
    fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)
}

/// Opens `path` (Go's `Open`).
#[inline(always)]
pub fn open(path: impl PathArg, flags: u32, mode: u32) -> Result<OwnedFd, Errno> {
    openat(AT_FDCWD, path, flags, mode)
}

/// Creates or truncates `path` for writing (Go's `Creat`).
#[inline(always)]
pub fn creat(path: impl PathArg, mode: u32) -> Result<OwnedFd, Errno> {
    open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

/// Makes a hard link (Go's `Link`).
#[inline(always)]
pub fn link(old: impl PathArg, new: impl PathArg) -> Result<(), Errno> {
    linkat(AT_FDCWD, old, AT_FDCWD, new, 0)
}

/// Creates a directory (Go's `Mkdir`).
#[inline(always)]
pub fn mkdir(path: impl PathArg, mode: u32) -> Result<(), Errno> {
    mkdirat(AT_FDCWD, path, mode)
}

/// Creates a file node (Go's `Mknod`).
#[inline(always)]
pub fn mknod(path: impl PathArg, mode: u32, dev: u64) -> Result<(), Errno> {
    mknodat(AT_FDCWD, path, mode, dev)
}

/// Reads a symbolic link into `buf`; returns its length (Go's `Readlink`).
#[inline(always)]
pub fn readlink(path: impl PathArg, buf: &mut [u8]) -> Result<usize, Errno> {
    readlinkat(AT_FDCWD, path, buf)
}

/// Removes an empty directory (Go's `Rmdir`).
#[inline(always)]
pub fn rmdir(path: impl PathArg) -> Result<(), Errno> {
    unlinkat(AT_FDCWD, path, AT_REMOVEDIR)
}

/// Makes a symbolic link `link` pointing at `target` (Go's `Symlink`).
#[inline(always)]
pub fn symlink(target: impl PathArg, link: impl PathArg) -> Result<(), Errno> {
    symlinkat(target, AT_FDCWD, link)
}

/// Removes a name that is not a directory (Go's `Unlink`).
#[inline(always)]
pub fn unlink(path: impl PathArg) -> Result<(), Errno> {
    unlinkat(AT_FDCWD, path, 0)
}

/// The status of `path`, following symbolic links (Go's `Stat`).
#[inline(always)]
pub fn stat(path: impl PathArg, st: &mut Stat) -> Result<(), Errno> {
    fstatat(AT_FDCWD, path, st, 0)
}

/// The status of `path` itself (Go's `Lstat`).
#[inline(always)]
pub fn lstat(path: impl PathArg, st: &mut Stat) -> Result<(), Errno> {
    fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW)
}

/// Closes `fd`, reporting the error that dropping it would ignore (Go's `Close`). The
/// descriptor is gone whatever the result, as close(2) says of Linux.
#[inline(always)]
pub fn close(fd: OwnedFd) -> Result<(), Errno> {
    // SAFETY: the descriptor is ours, given up by `into_raw_fd`.
    unsafe { close_raw(fd.into_raw_fd()) }
}

/// Makes `new` refer to `old`'s open file, with `flags` (`O_CLOEXEC`) (Go's `Dup3`);
/// `new` keeps its number.
#[inline(always)]
pub fn dup3(old: BorrowedFd<'_>, new: &mut OwnedFd, flags: u32) -> Result<(), Errno> {
    // SAFETY: `new` is owned by the caller and stays owned: dup3 replaces its open file.
    unsafe { dup3_raw(old, new.as_raw_fd(), flags) }.map(drop)
}

/// [`dup3`] without flags, where `old` and `new` being the same descriptor is not an error
/// (Go's `Dup2`).
#[inline(always)]
pub fn dup2(old: BorrowedFd<'_>, new: &mut OwnedFd) -> Result<(), Errno> {
    if old.as_raw_fd() == new.as_raw_fd() {
        // dup2 of a descriptor onto itself only checks that it is open; an `OwnedFd` is.
        return Ok(());
    }
    dup3(old, new, 0)
}

/// A pipe: (read end, write end), with `flags` (`O_CLOEXEC`, `O_NONBLOCK`, `O_DIRECT`)
/// (Go's `Pipe2`).
#[inline(always)]
pub fn pipe2(flags: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [-1; 2];
    pipe2_raw(&mut fds, flags)?;
    // SAFETY: pipe2 succeeded, so both are new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe without flags (Go's `Pipe`).
#[inline(always)]
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    pipe2(0)
}

/// A connected socket pair (Go's `Socketpair`).
#[inline(always)]
pub fn socketpair(domain: u32, ty: u32, proto: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [-1; 2];
    socketpair_raw(domain, ty, proto, &mut fds)?;
    // SAFETY: as for `pipe2`.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The process group of the caller (Go's `Getpgrp`).
#[inline(always)]
pub fn getpgrp() -> i32 {
    // getpgid(0) cannot fail: the caller exists and is in its own session.
    getpgid(0).unwrap_or_else(|e| unreachable!("getpgid(0): {e}"))
}

/// A resource limit of the calling process (Go's `Getrlimit`).
#[inline(always)]
pub fn getrlimit(resource: u32) -> Result<Rlimit, Errno> {
    let mut old = Rlimit::zeroed();
    prlimit(0, resource, None, Some(&mut old)).map(|()| old)
}

/// Sets a resource limit of the calling process (Go's `Setrlimit`).
#[inline(always)]
pub fn setrlimit(resource: u32, limit: &Rlimit) -> Result<(), Errno> {
    prlimit(0, resource, Some(limit), None)
}

/// The supplementary group ids, into `list`; with an empty `list`, only their number
/// (Go's `Getgroups`).
#[inline(always)]
pub fn getgroups(list: &mut [u32]) -> Result<usize, Errno> {
    // SAFETY: `list` is valid for writing `list.len()` ids.
    unsafe { getgroups_raw(list.len(), list.as_mut_ptr()) }
}

/// The CPUs `pid` (0: the caller) may run on, as a bit mask into `mask`; returns the bytes
/// the kernel wrote.
#[inline(always)]
pub fn sched_getaffinity(pid: i32, mask: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `mask` is valid for writing its length.
    unsafe { sched_getaffinity_raw(pid, mask.len(), mask.as_mut_ptr()) }
}

/// Restricts `pid` (0: the caller) to the CPUs in the bit mask `mask`.
#[inline(always)]
pub fn sched_setaffinity(pid: i32, mask: &[u8]) -> Result<(), Errno> {
    // SAFETY: `mask` is valid for reading its length.
    unsafe { sched_setaffinity_raw(pid, mask.len(), mask.as_ptr()) }
}

/// Accepts a connection, returning it and the peer's address (Go's `Accept4`).
#[inline(always)]
pub fn accept4(fd: BorrowedFd<'_>, flags: u32) -> Result<(OwnedFd, SockaddrStorage), Errno> {
    let mut addr = SockaddrStorage::zeroed();
    let mut len = size_of::<SockaddrStorage>() as u32;
    // SAFETY: `addr` is valid for `len` bytes, and the kernel writes at most that.
    let conn = unsafe { accept4_raw(fd, &mut addr, &mut len, flags) }?;
    Ok((conn, addr))
}

/// [`accept4`] without flags (Go's `Accept`).
#[inline(always)]
pub fn accept(fd: BorrowedFd<'_>) -> Result<(OwnedFd, SockaddrStorage), Errno> {
    accept4(fd, 0)
}

/// The address a socket is bound to (Go's `Getsockname`).
#[inline(always)]
pub fn getsockname(fd: BorrowedFd<'_>) -> Result<SockaddrStorage, Errno> {
    // SAFETY: `sockaddr_of` passes storage valid for the length beside it.
    sockaddr_of(|a, l| unsafe { getsockname_raw(fd, a, l) })
}

/// Runs a call that writes a socket address and its length into fresh storage.
#[inline(always)]
fn sockaddr_of(
    call: impl FnOnce(*mut SockaddrStorage, *mut u32) -> Result<(), Errno>,
) -> Result<SockaddrStorage, Errno> {
    let mut addr = SockaddrStorage::zeroed();
    let mut len = size_of::<SockaddrStorage>() as u32;
    call(&mut addr, &mut len).map(|()| addr)
}

/// The address of a socket's peer (Go's `Getpeername`).
#[inline(always)]
pub fn getpeername(fd: BorrowedFd<'_>) -> Result<SockaddrStorage, Errno> {
    // SAFETY: as in `getsockname`.
    sockaddr_of(|a, l| unsafe { getpeername_raw(fd, a, l) })
}

/// A socket option into `val`, which also carries the option's input; returns how many
/// bytes the kernel wrote (Go's `getsockopt`). The typed
/// [`getsockopt_int`](super::getsockopt_int), [`getsockopt_bool`](super::getsockopt_bool)
/// and [`getsockopt_timeval`](super::getsockopt_timeval) are safe.
///
/// # Safety
/// Some options read addresses from `val` and write through them: `TCP_ZEROCOPY_RECEIVE`
/// copies received bytes to its `copybuf_address` and maps pages at its `address`. Any
/// address in `val` is valid for what option `opt` of `level` does with it (an all-zero `val`
/// holds only null ones, which the kernel refuses).
///
/// ```compile_fail,E0133
/// use std::os::fd::AsFd;
/// let s = goro::syscall::socket(2, 1, 0).unwrap();
/// let mut zc = [0u8; 64]; // `struct tcp_zerocopy_receive`, addresses and all
/// let _ = goro::syscall::getsockopt(s.as_fd(), goro::syscall::IPPROTO_TCP, 35, &mut zc);
/// ```
#[inline(always)]
pub unsafe fn getsockopt(
    fd: BorrowedFd<'_>,
    level: u32,
    opt: u32,
    val: &mut [u8],
) -> Result<usize, Errno> {
    let mut len = u32::try_from(val.len()).unwrap_or(u32::MAX);
    // SAFETY: `val` is valid for writing `len` bytes, and the kernel writes at most that
    // there; the addresses inside it are the caller's contract.
    unsafe { getsockopt_raw(fd, level, opt, val.as_mut_ptr(), &mut len) }.map(|()| len as usize)
}

/// Receives into `buf`; returns the length and the sender's address (Go's `Recvfrom`).
#[inline(always)]
pub fn recvfrom(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: u32,
) -> Result<(usize, SockaddrStorage), Errno> {
    let mut addr = SockaddrStorage::zeroed();
    let mut len = size_of::<SockaddrStorage>() as u32;
    // SAFETY: as in `accept4`.
    let n = unsafe { recvfrom_raw(fd, buf, flags, &mut addr, &mut len) }?;
    Ok((n, addr))
}

/// Sends on a connected socket.
#[inline(always)]
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: u32) -> Result<usize, Errno> {
    sendto(fd, buf, flags, None::<&SockaddrStorage>)
}

/// Receives on a connected socket.
#[inline(always)]
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    // SAFETY: null address and length: the kernel reports no address.
    unsafe { recvfrom_raw(fd, buf, flags, core::ptr::null_mut(), core::ptr::null_mut()) }
}

/// A new descriptor that reads the signals of `mask` (Go's `Signalfd`).
#[inline(always)]
pub fn signalfd(mask: &Sigset, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: -1 asks for a new descriptor.
    let fd = unsafe { signalfd4_raw(-1, mask, size_of::<Sigset>(), flags) }?;
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Replaces the process's program; returns only on failure (Go's `Exec`).
pub fn execve(path: impl PathArg, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    let argv: Vec<*const u8> = argv
        .iter()
        .map(|a| a.as_ptr().cast())
        .chain([core::ptr::null()])
        .collect();
    let envp: Vec<*const u8> = envp
        .iter()
        .map(|a| a.as_ptr().cast())
        .chain([core::ptr::null()])
        .collect();
    // SAFETY: both arrays are NULL-terminated arrays of pointers to live C strings.
    match unsafe { execve_raw(path, argv.as_ptr(), envp.as_ptr()) } {
        Ok(()) => unreachable!("execve returned success"),
        Err(e) => e,
    }
}

/// Ends the process at once with `code`, running no destructors and flushing nothing
/// (Go's `Exit`).
pub fn exit(code: i32) -> ! {
    crate::runtime::sys::exit_group(code)
}

/// `fcntl(2)` with a command whose argument is an integer: `F_GETFD`, `F_SETFD`, `F_GETFL`,
/// `F_SETFL`, `F_GETOWN`, `F_SETOWN`, `F_GETSIG`, `F_SETSIG`, `F_GETLEASE`, `F_SETLEASE`,
/// `F_NOTIFY`, `F_GETPIPE_SZ`, `F_SETPIPE_SZ`, `F_ADD_SEALS`, `F_GET_SEALS`, and `F_DUPFD` /
/// `F_DUPFD_CLOEXEC` (whose result is a new descriptor number the caller then owns). Any other
/// command is `EINVAL`: those that take pointers are [`fcntl_lock`] or [`fcntl_raw`].
#[inline(always)]
pub fn fcntl(fd: BorrowedFd<'_>, cmd: u32, arg: usize) -> Result<i32, Errno> {
    const INT_COMMANDS: [u32; 17] = [
        F_DUPFD,
        F_DUPFD_CLOEXEC,
        F_GETFD,
        F_SETFD,
        F_GETFL,
        F_SETFL,
        F_GETOWN,
        F_SETOWN,
        F_GETSIG,
        F_SETSIG,
        F_GETLEASE,
        F_SETLEASE,
        F_NOTIFY,
        F_GETPIPE_SZ,
        F_SETPIPE_SZ,
        F_ADD_SEALS,
        F_GET_SEALS,
    ];
    if !INT_COMMANDS.contains(&cmd) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: every allowed command reads `arg` as an integer.
    unsafe { fcntl_raw(fd, cmd, arg) }
}

/// A record lock command (`F_GETLK`, `F_SETLK`, `F_SETLKW`, `F_OFD_GETLK`, `F_OFD_SETLK`,
/// `F_OFD_SETLKW`) on `lock`; any other command is `EINVAL`.
#[inline(always)]
pub fn fcntl_lock(fd: BorrowedFd<'_>, cmd: u32, lock: &mut Flock) -> Result<(), Errno> {
    const LOCK_COMMANDS: [u32; 6] = [
        F_GETLK,
        F_SETLK,
        F_SETLKW,
        F_OFD_GETLK,
        F_OFD_SETLK,
        F_OFD_SETLKW,
    ];
    if !LOCK_COMMANDS.contains(&cmd) {
        return Err(Errno::EINVAL);
    }
    fcntl_flock(fd, cmd, lock)
}

/// Reads until `buf` is full or the file ends, retrying `EINTR` and short reads; returns how
/// many bytes it read, less than `buf.len()` only at the end of the file (Go's `io.ReadFull`
/// on a descriptor, without its `ErrUnexpectedEOF`).
#[inline(always)]
pub fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        match read(fd, &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Writes all of `buf`, retrying `EINTR` and short writes. A write that takes nothing (which
/// regular files, pipes and sockets never do for a non-empty buffer) is `EIO`, not a loop.
#[inline(always)]
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Rows of the table of wrappers for this file.
pub(crate) const WRAPPED: &[Wrapper] = {
    const fn w(name: &'static str, on: &'static str, nr: u32) -> Wrapper {
        Wrapper {
            name,
            kind: Kind::Wrapped(on),
            nr,
            unsafe_: false,
            public: true,
        }
    }
    const fn unsafe_w(name: &'static str, on: &'static str, nr: u32) -> Wrapper {
        Wrapper {
            unsafe_: true,
            ..w(name, on, nr)
        }
    }
    &[
        w("rename", "renameat", __NR_renameat),
        w("access", "faccessat", __NR_faccessat),
        w("chmod", "fchmodat", __NR_fchmodat),
        w("chown", "fchownat", __NR_fchownat),
        w("lchown", "fchownat", __NR_fchownat),
        w("open", "openat", __NR_openat),
        w("creat", "openat", __NR_openat),
        w("link", "linkat", __NR_linkat),
        w("mkdir", "mkdirat", __NR_mkdirat),
        w("mknod", "mknodat", __NR_mknodat),
        w("readlink", "readlinkat", __NR_readlinkat),
        w("rmdir", "unlinkat", __NR_unlinkat),
        w("symlink", "symlinkat", __NR_symlinkat),
        w("unlink", "unlinkat", __NR_unlinkat),
        w("stat", "fstatat", __NR_newfstatat),
        w("lstat", "fstatat", __NR_newfstatat),
        w("close", "close", __NR_close),
        w("dup3", "dup3", __NR_dup3),
        w("dup2", "dup3", __NR_dup3),
        w("pipe2", "pipe2", __NR_pipe2),
        w("pipe", "pipe2", __NR_pipe2),
        w("socketpair", "socketpair", __NR_socketpair),
        w("getpgrp", "getpgid", __NR_getpgid),
        w("getrlimit", "prlimit", __NR_prlimit64),
        w("setrlimit", "prlimit", __NR_prlimit64),
        w("getgroups", "getgroups", __NR_getgroups),
        w(
            "sched_getaffinity",
            "sched_getaffinity",
            __NR_sched_getaffinity,
        ),
        w(
            "sched_setaffinity",
            "sched_setaffinity",
            __NR_sched_setaffinity,
        ),
        w("accept4", "accept4", __NR_accept4),
        w("accept", "accept4", __NR_accept4),
        w("getsockname", "getsockname", __NR_getsockname),
        w("getpeername", "getpeername", __NR_getpeername),
        unsafe_w("getsockopt", "getsockopt", __NR_getsockopt),
        w("recvfrom", "recvfrom", __NR_recvfrom),
        w("send", "sendto", __NR_sendto),
        w("recv", "recvfrom", __NR_recvfrom),
        w("signalfd", "signalfd4", __NR_signalfd4),
        w("execve", "execve", __NR_execve),
        w("exit", "exit_group", __NR_exit_group),
        w("fcntl", "fcntl", __NR_fcntl),
        w("fcntl_lock", "fcntl", __NR_fcntl),
        w("read_full", "read", __NR_read),
        w("write_all", "write", __NR_write),
    ]
};
