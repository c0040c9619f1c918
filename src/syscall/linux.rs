//! The declarations: one line per system call, from which [`syscalls!`] generates the typed
//! wrappers (Go's `syscall_linux.go` and `syscall_linux_amd64.go` comment lines, run through
//! `mksyscall.pl`). Names are Go's, in snake_case.
//!
//! Descriptors are `BorrowedFd` (or `OwnedFd` for a new one), paths anything that is a
//! [`PathArg`](super::PathArg), buffers slices, out-parameters `&mut` of a [`Pod`](super::Pod)
//! type, optional pointers `Option`. Flags and modes are the kernel's integers (the constants
//! are in `linux_raw_sys::general`).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd};

use super::arg::PathArg;
use super::mksyscall::syscalls;
use super::types::*;

syscalls! { table FILES;
    /// Reads up to `buf.len()` bytes (Go's `Read`).
    sys pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize = __NR_read;
    /// Writes `buf` (Go's `Write`).
    sys pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> usize = __NR_write;
    /// Reads at `offset` without moving the file position (Go's `Pread`).
    sys pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: i64) -> usize = __NR_pread64;
    /// Writes at `offset` without moving the file position (Go's `Pwrite`).
    sys pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: i64) -> usize = __NR_pwrite64;
    /// Scatter read into several buffers.
    sys pub fn readv(fd: BorrowedFd<'_>, iov: &mut [IoSliceMut<'_>]) -> usize = __NR_readv;
    /// Gather write from several buffers.
    sys pub fn writev(fd: BorrowedFd<'_>, iov: &[IoSlice<'_>]) -> usize = __NR_writev;
    /// Opens `path` relative to `dirfd` (Go's `Openat`).
    sys pub fn openat(dirfd: BorrowedFd<'_>, path: impl PathArg, flags: u32, mode: u32) -> OwnedFd = __NR_openat;
    /// Closes the descriptor numbered `fd`; see [`close`](super::close).
    ///
    /// # Safety
    /// `fd` is owned by the caller, who gives it up.
    unsafe sys pub(crate) fn close_raw(fd: i32) = __NR_close;
    /// A new descriptor for the same open file (Go's `Dup`).
    sysnb pub fn dup(fd: BorrowedFd<'_>) -> OwnedFd = __NR_dup;
    /// Makes `new` a copy of `old` (closing what `new` referred to), with `flags`
    /// (`O_CLOEXEC`); `old == new` is `EINVAL` (Go's `Dup3`).
    ///
    /// # Safety
    /// `new` is a descriptor the caller owns.
    unsafe sysnb pub(crate) fn dup3_raw(old: BorrowedFd<'_>, new: i32, flags: u32) -> i32 = __NR_dup3;
    /// `fcntl(2)` with any command and argument; see [`fcntl`](super::fcntl).
    ///
    /// # Safety
    /// For commands that take a pointer, `arg` is valid for what the command does with it; a
    /// command that makes a descriptor returns one the caller then owns.
    unsafe sys pub fn fcntl_raw(fd: BorrowedFd<'_>, cmd: u32, arg: usize) -> i32 = __NR_fcntl;
    /// Record locks: `F_GETLK`, `F_SETLK`, `F_SETLKW`, `F_OFD_*`; see [`fcntl_lock`](super::fcntl_lock).
    sys pub(crate) fn fcntl_flock(fd: BorrowedFd<'_>, cmd: u32, lock: &mut Flock) = __NR_fcntl;
    /// The status of an open file (Go's `Fstat`).
    sysnb pub fn fstat(fd: BorrowedFd<'_>, st: &mut Stat) = __NR_fstat;
    /// The status of `path` relative to `dirfd` (Go's `Fstatat`).
    sys pub fn fstatat(dirfd: BorrowedFd<'_>, path: impl PathArg, st: &mut Stat, flags: u32) = __NR_newfstatat;
    /// Extended status (`statx(2)`).
    sys pub fn statx(dirfd: BorrowedFd<'_>, path: impl PathArg, flags: u32, mask: u32, st: &mut Statx) = __NR_statx;
    /// File system statistics for `path` (Go's `Statfs`).
    sys pub fn statfs(path: impl PathArg, buf: &mut Statfs) = __NR_statfs;
    /// File system statistics for an open file (Go's `Fstatfs`).
    sys pub fn fstatfs(fd: BorrowedFd<'_>, buf: &mut Statfs) = __NR_fstatfs;
    /// Moves the file position (Go's `Seek`).
    sysnb pub fn lseek(fd: BorrowedFd<'_>, offset: i64, whence: u32) -> i64 = __NR_lseek;
    /// Sets an open file's length (Go's `Ftruncate`).
    sys pub fn ftruncate(fd: BorrowedFd<'_>, len: i64) = __NR_ftruncate;
    /// Sets `path`'s length (Go's `Truncate`).
    sys pub fn truncate(path: impl PathArg, len: i64) = __NR_truncate;
    /// Flushes a file's data and metadata to its device.
    sys pub fn fsync(fd: BorrowedFd<'_>) = __NR_fsync;
    /// Flushes a file's data to its device.
    sys pub fn fdatasync(fd: BorrowedFd<'_>) = __NR_fdatasync;
    /// Flushes every file system (cannot fail).
    sys pub fn sync() = __NR_sync;
    /// Flushes the file system holding `fd`.
    sys pub fn syncfs(fd: BorrowedFd<'_>) = __NR_syncfs;
    /// Allocates or punches space in a file.
    sys pub fn fallocate(fd: BorrowedFd<'_>, mode: u32, offset: i64, len: i64) = __NR_fallocate;
    /// Declares an access pattern (Go's `Fadvise`).
    sys pub fn fadvise(fd: BorrowedFd<'_>, offset: i64, len: i64, advice: u32) = __NR_fadvise64;
    /// Starts or waits for write-out of a range.
    sys pub fn sync_file_range(fd: BorrowedFd<'_>, offset: i64, n: i64, flags: u32) = __NR_sync_file_range;
    /// Reads directory entries (`struct linux_dirent64`) into `buf` (Go's `Getdents`).
    sys pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize = __NR_getdents64;
    /// Creates a directory relative to `dirfd` (Go's `Mkdirat`).
    sys pub fn mkdirat(dirfd: BorrowedFd<'_>, path: impl PathArg, mode: u32) = __NR_mkdirat;
    /// Creates a file node relative to `dirfd` (Go's `Mknodat`).
    sys pub fn mknodat(dirfd: BorrowedFd<'_>, path: impl PathArg, mode: u32, dev: u64) = __NR_mknodat;
    /// Removes a name (`AT_REMOVEDIR` for a directory) relative to `dirfd` (Go's `Unlinkat`).
    sys pub fn unlinkat(dirfd: BorrowedFd<'_>, path: impl PathArg, flags: u32) = __NR_unlinkat;
    /// Renames a file between two directories (Go's `Renameat`).
    sys pub fn renameat(olddirfd: BorrowedFd<'_>, oldpath: impl PathArg, newdirfd: BorrowedFd<'_>, newpath: impl PathArg) = __NR_renameat;
    /// `renameat` with flags (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
    sys pub fn renameat2(olddirfd: BorrowedFd<'_>, oldpath: impl PathArg, newdirfd: BorrowedFd<'_>, newpath: impl PathArg, flags: u32) = __NR_renameat2;
    /// Makes a hard link (Go's `Linkat`).
    sys pub fn linkat(olddirfd: BorrowedFd<'_>, oldpath: impl PathArg, newdirfd: BorrowedFd<'_>, newpath: impl PathArg, flags: u32) = __NR_linkat;
    /// Makes a symbolic link to `target` (Go's `Symlinkat`).
    sys pub fn symlinkat(target: impl PathArg, newdirfd: BorrowedFd<'_>, linkpath: impl PathArg) = __NR_symlinkat;
    /// Reads a symbolic link into `buf`; returns the length, unterminated (Go's `Readlinkat`).
    sys pub fn readlinkat(dirfd: BorrowedFd<'_>, path: impl PathArg, buf: &mut [u8]) -> usize = __NR_readlinkat;
    /// Checks access to `path` with the real ids (Go's `Faccessat` without flags).
    sys pub fn faccessat(dirfd: BorrowedFd<'_>, path: impl PathArg, mode: u32) = __NR_faccessat;
    /// `faccessat` with flags (`AT_EACCESS`, `AT_SYMLINK_NOFOLLOW`).
    sys pub fn faccessat2(dirfd: BorrowedFd<'_>, path: impl PathArg, mode: u32, flags: u32) = __NR_faccessat2;
    /// Changes an open file's mode (Go's `Fchmod`).
    sys pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) = __NR_fchmod;
    /// Changes `path`'s mode (Go's `Fchmodat`).
    sys pub fn fchmodat(dirfd: BorrowedFd<'_>, path: impl PathArg, mode: u32) = __NR_fchmodat;
    /// Changes an open file's owner (Go's `Fchown`).
    sys pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) = __NR_fchown;
    /// Changes `path`'s owner (Go's `Fchownat`).
    sys pub fn fchownat(dirfd: BorrowedFd<'_>, path: impl PathArg, uid: u32, gid: u32, flags: u32) = __NR_fchownat;
    /// Sets access and modification times (`None`: now) (Go's `utimensat`).
    sys pub fn utimensat(dirfd: BorrowedFd<'_>, path: impl PathArg, times: Option<&[Timespec; 2]>, flags: u32) = __NR_utimensat;
    /// Changes the working directory (Go's `Chdir`).
    sys pub fn chdir(path: impl PathArg) = __NR_chdir;
    /// Changes the working directory to an open directory (Go's `Fchdir`).
    sys pub fn fchdir(fd: BorrowedFd<'_>) = __NR_fchdir;
    /// Changes the root directory (Go's `Chroot`).
    sys pub fn chroot(path: impl PathArg) = __NR_chroot;
    /// The working directory, NUL-terminated, into `buf`; returns the length with the NUL.
    sys pub fn getcwd(buf: &mut [u8]) -> usize = __NR_getcwd;
    /// Sets the file mode creation mask, returning the old one (Go's `Umask`).
    sysnoerr pub fn umask(mask: u32) -> u32 = __NR_umask;
    /// An advisory lock on an open file (Go's `Flock`).
    sys pub fn flock(fd: BorrowedFd<'_>, how: u32) = __NR_flock;
    /// Copies between descriptors in the kernel (Go's `Sendfile`).
    sys pub fn sendfile(out_fd: BorrowedFd<'_>, in_fd: BorrowedFd<'_>, offset: Option<&mut i64>, count: usize) -> usize = __NR_sendfile;
    /// Moves data between a pipe and a descriptor (Go's `Splice`).
    sys pub fn splice(fd_in: BorrowedFd<'_>, off_in: Option<&mut i64>, fd_out: BorrowedFd<'_>, off_out: Option<&mut i64>, len: usize, flags: u32) -> usize = __NR_splice;
    /// Duplicates pipe content (Go's `Tee`).
    sys pub fn tee(fd_in: BorrowedFd<'_>, fd_out: BorrowedFd<'_>, len: usize, flags: u32) -> usize = __NR_tee;
    /// Copies a range between files in the kernel.
    sys pub fn copy_file_range(fd_in: BorrowedFd<'_>, off_in: Option<&mut i64>, fd_out: BorrowedFd<'_>, off_out: Option<&mut i64>, len: usize, flags: u32) -> usize = __NR_copy_file_range;
    /// Reads ahead into the page cache.
    sys pub fn readahead(fd: BorrowedFd<'_>, offset: i64, count: usize) = __NR_readahead;
    /// Mounts a file system (Go's `Mount`); `data` is its option string.
    sys pub fn mount(source: impl PathArg, target: impl PathArg, fstype: impl PathArg, flags: u64, data: impl PathArg) = __NR_mount;
    /// Unmounts (Go's `Unmount`).
    sys pub fn umount2(target: impl PathArg, flags: u32) = __NR_umount2;
    /// Changes the root mount (Go's `PivotRoot`).
    sys pub fn pivot_root(new_root: impl PathArg, put_old: impl PathArg) = __NR_pivot_root;
}

syscalls! { table XATTRS;
    /// Reads an extended attribute into `value`; an empty `value` asks for its size.
    sys pub fn getxattr(path: impl PathArg, name: impl PathArg, value: &mut [u8]) -> usize = __NR_getxattr;
    /// `getxattr` without following a final symbolic link.
    sys pub fn lgetxattr(path: impl PathArg, name: impl PathArg, value: &mut [u8]) -> usize = __NR_lgetxattr;
    /// `getxattr` of an open file.
    sys pub fn fgetxattr(fd: BorrowedFd<'_>, name: impl PathArg, value: &mut [u8]) -> usize = __NR_fgetxattr;
    /// Sets an extended attribute (`XATTR_CREATE`, `XATTR_REPLACE`).
    sys pub fn setxattr(path: impl PathArg, name: impl PathArg, value: &[u8], flags: u32) = __NR_setxattr;
    /// `setxattr` without following a final symbolic link.
    sys pub fn lsetxattr(path: impl PathArg, name: impl PathArg, value: &[u8], flags: u32) = __NR_lsetxattr;
    /// `setxattr` of an open file.
    sys pub fn fsetxattr(fd: BorrowedFd<'_>, name: impl PathArg, value: &[u8], flags: u32) = __NR_fsetxattr;
    /// Lists extended attribute names, NUL-separated, into `list`.
    sys pub fn listxattr(path: impl PathArg, list: &mut [u8]) -> usize = __NR_listxattr;
    /// `listxattr` without following a final symbolic link.
    sys pub fn llistxattr(path: impl PathArg, list: &mut [u8]) -> usize = __NR_llistxattr;
    /// `listxattr` of an open file.
    sys pub fn flistxattr(fd: BorrowedFd<'_>, list: &mut [u8]) -> usize = __NR_flistxattr;
    /// Removes an extended attribute.
    sys pub fn removexattr(path: impl PathArg, name: impl PathArg) = __NR_removexattr;
    /// `removexattr` without following a final symbolic link.
    sys pub fn lremovexattr(path: impl PathArg, name: impl PathArg) = __NR_lremovexattr;
    /// `removexattr` of an open file.
    sys pub fn fremovexattr(fd: BorrowedFd<'_>, name: impl PathArg) = __NR_fremovexattr;
}

syscalls! { table DESCRIPTORS;
    /// A pipe's two ends into `fds`; see [`pipe2`](super::pipe2).
    sysnb pub(crate) fn pipe2_raw(fds: &mut [i32; 2], flags: u32) = __NR_pipe2;
    /// An event counter descriptor (Go's `Eventfd`).
    sysnb pub fn eventfd(initval: u32, flags: u32) -> OwnedFd = __NR_eventfd2;
    /// Closes every descriptor in `[first, last]` (or sets `CLOSE_RANGE_CLOEXEC` on them).
    ///
    /// # Safety
    /// The caller owns every open descriptor in the range and gives them up (unless
    /// `CLOSE_RANGE_CLOEXEC` is in `flags`).
    unsafe sys pub fn close_range(first: u32, last: u32, flags: u32) = __NR_close_range;
    /// Waits for events on descriptors, `timeout` in milliseconds (negative: forever).
    sys pub fn poll(fds: &mut [PollFd], timeout: i32) -> usize = __NR_poll;
    /// `poll` with a precise timeout and a signal mask (`sigsetsize` = `size_of::<Sigset>()`).
    sys pub fn ppoll(fds: &mut [PollFd], timeout: Option<&Timespec>, sigmask: Option<&Sigset>, sigsetsize: usize) -> usize = __NR_ppoll;
    /// A new epoll instance (Go's `EpollCreate1`).
    sysnb pub fn epoll_create1(flags: u32) -> OwnedFd = __NR_epoll_create1;
    /// Adds, changes or removes `fd` in an epoll set (Go's `EpollCtl`).
    sysnb pub fn epoll_ctl(epfd: BorrowedFd<'_>, op: u32, fd: BorrowedFd<'_>, event: Option<&EpollEvent>) = __NR_epoll_ctl;
    /// Waits for events, `timeout` in milliseconds (Go's `EpollWait`).
    sys pub fn epoll_wait(epfd: BorrowedFd<'_>, events: &mut [EpollEvent], timeout: i32) -> usize = __NR_epoll_wait;
    /// `epoll_wait` with a signal mask (`sigsetsize` = `size_of::<Sigset>()`).
    sys pub fn epoll_pwait(epfd: BorrowedFd<'_>, events: &mut [EpollEvent], timeout: i32, sigmask: Option<&Sigset>, sigsetsize: usize) -> usize = __NR_epoll_pwait;
    /// A new inotify instance (Go's `InotifyInit1`).
    sysnb pub fn inotify_init1(flags: u32) -> OwnedFd = __NR_inotify_init1;
    /// Watches `path`; returns the watch descriptor (Go's `InotifyAddWatch`).
    sysnb pub fn inotify_add_watch(fd: BorrowedFd<'_>, path: impl PathArg, mask: u32) -> i32 = __NR_inotify_add_watch;
    /// Removes a watch (Go's `InotifyRmWatch`).
    sysnb pub fn inotify_rm_watch(fd: BorrowedFd<'_>, wd: i32) = __NR_inotify_rm_watch;
    /// A timer descriptor (`timerfd_create(2)`).
    sysnb pub fn timerfd_create(clock: i32, flags: u32) -> OwnedFd = __NR_timerfd_create;
    /// Arms or disarms a timer descriptor, returning the old setting in `old`.
    sysnb pub fn timerfd_settime(fd: BorrowedFd<'_>, flags: u32, new: &Itimerspec, old: Option<&mut Itimerspec>) = __NR_timerfd_settime;
    /// A timer descriptor's current setting.
    sysnb pub fn timerfd_gettime(fd: BorrowedFd<'_>, cur: &mut Itimerspec) = __NR_timerfd_gettime;
    /// A signal descriptor; see [`signalfd`](super::signalfd).
    ///
    /// # Safety
    /// `fd` is -1 (make a new descriptor) or a signalfd the caller owns, which is then returned.
    unsafe sysnb pub(crate) fn signalfd4_raw(fd: i32, mask: &Sigset, sizemask: usize, flags: u32) -> i32 = __NR_signalfd4;
    /// A file descriptor for process `pid` (`pidfd_open(2)`).
    sysnb pub fn pidfd_open(pid: i32, flags: u32) -> OwnedFd = __NR_pidfd_open;
    /// Sends `sig` to the process a pidfd refers to.
    sysnb pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: u32, info: Option<&Siginfo>, flags: u32) = __NR_pidfd_send_signal;
    /// A memory-backed file, named `name` for debugging.
    sysnb pub fn memfd_create(name: impl PathArg, flags: u32) -> OwnedFd = __NR_memfd_create;
    /// A device-specific request.
    ///
    /// # Safety
    /// `arg` is valid for what request `req` on `fd` does with it.
    unsafe sys pub fn ioctl(fd: BorrowedFd<'_>, req: u32, arg: usize) -> i32 = __NR_ioctl;
}

syscalls! { table PROCESSES;
    /// The process id (Go's `Getpid`).
    sysnoerr pub fn getpid() -> i32 = __NR_getpid;
    /// The parent's process id.
    sysnoerr pub fn getppid() -> i32 = __NR_getppid;
    /// The calling thread's id.
    sysnoerr pub fn gettid() -> i32 = __NR_gettid;
    /// The real user id.
    sysnoerr pub fn getuid() -> u32 = __NR_getuid;
    /// The effective user id.
    sysnoerr pub fn geteuid() -> u32 = __NR_geteuid;
    /// The real group id.
    sysnoerr pub fn getgid() -> u32 = __NR_getgid;
    /// The effective group id.
    sysnoerr pub fn getegid() -> u32 = __NR_getegid;
    /// Real, effective and saved user ids.
    sysnb pub fn getresuid(ruid: &mut u32, euid: &mut u32, suid: &mut u32) = __NR_getresuid;
    /// Real, effective and saved group ids.
    sysnb pub fn getresgid(rgid: &mut u32, egid: &mut u32, sgid: &mut u32) = __NR_getresgid;
    /// Supplementary groups into `list`; see [`getgroups`](super::getgroups).
    ///
    /// # Safety
    /// `list` is valid for writing `n` group ids (or `n` is 0).
    unsafe sysnb pub(crate) fn getgroups_raw(n: usize, list: *mut u32) -> usize = __NR_getgroups;
    /// The process group of `pid` (0: the caller).
    sysnb pub fn getpgid(pid: i32) -> i32 = __NR_getpgid;
    /// Moves `pid` into process group `pgid`.
    sysnb pub fn setpgid(pid: i32, pgid: i32) = __NR_setpgid;
    /// The session of `pid` (0: the caller).
    sysnb pub fn getsid(pid: i32) -> i32 = __NR_getsid;
    /// Starts a new session (fails for a group leader).
    sysnb pub fn setsid() -> i32 = __NR_setsid;
    /// Waits for a child to change state (Go's `Wait4`).
    sys pub fn wait4(pid: i32, status: Option<&mut i32>, options: u32, rusage: Option<&mut Rusage>) -> i32 = __NR_wait4;
    /// Waits for a child, reporting through `info`.
    sys pub fn waitid(idtype: u32, id: i32, info: &mut Siginfo, options: u32, rusage: Option<&mut Rusage>) = __NR_waitid;
    /// Sends signal `sig` to a process or group (Go's `Kill`).
    sysnb pub fn kill(pid: i32, sig: u32) = __NR_kill;
    /// Sends signal `sig` to one thread (Go's `Tgkill`).
    sysnb pub fn tgkill(tgid: i32, tid: i32, sig: u32) = __NR_tgkill;
    /// Scheduling priority, as `20 - nice` (Go's `Getpriority`).
    sysnb pub fn getpriority(which: u32, who: u32) -> i32 = __NR_getpriority;
    /// Sets the nice value (Go's `Setpriority`).
    sysnb pub fn setpriority(which: u32, who: u32, prio: i32) = __NR_setpriority;
    /// Gives the CPU to another thread; cannot fail.
    sysnoerr pub fn sched_yield() = __NR_sched_yield;
    /// The CPU set `pid` may run on, as a byte mask; see [`sched_getaffinity`](super::sched_getaffinity).
    ///
    /// # Safety
    /// `mask` is valid for writing `len` bytes.
    unsafe sysnb pub(crate) fn sched_getaffinity_raw(pid: i32, len: usize, mask: *mut u8) -> usize = __NR_sched_getaffinity;
    /// Restricts `pid` to a CPU set; see [`sched_setaffinity`](super::sched_setaffinity).
    ///
    /// # Safety
    /// `mask` is valid for reading `len` bytes.
    unsafe sysnb pub(crate) fn sched_setaffinity_raw(pid: i32, len: usize, mask: *const u8) = __NR_sched_setaffinity;
    /// The scheduling policy of `pid`.
    sysnb pub fn sched_getscheduler(pid: i32) -> i32 = __NR_sched_getscheduler;
    /// The highest static priority of `policy`.
    sysnb pub fn sched_get_priority_max(policy: i32) -> i32 = __NR_sched_get_priority_max;
    /// The lowest static priority of `policy`.
    sysnb pub fn sched_get_priority_min(policy: i32) -> i32 = __NR_sched_get_priority_min;
    /// Resource usage of `who` (`RUSAGE_SELF`, ...) (Go's `Getrusage`).
    sysnb pub fn getrusage(who: i32, ru: &mut Rusage) = __NR_getrusage;
    /// Gets and sets a resource limit of `pid` (Go's `Prlimit`).
    sysnb pub fn prlimit(pid: i32, resource: u32, new: Option<&Rlimit>, old: Option<&mut Rlimit>) = __NR_prlimit64;
    /// The kernel's name and version (Go's `Uname`).
    sysnb pub fn uname(buf: &mut Utsname) = __NR_uname;
    /// System statistics (Go's `Sysinfo`).
    sysnb pub fn sysinfo(info: &mut Sysinfo) = __NR_sysinfo;
    /// Random bytes (`GRND_NONBLOCK`, `GRND_RANDOM`); may block until the pool is ready.
    sys pub fn getrandom(buf: &mut [u8], flags: u32) -> usize = __NR_getrandom;
    /// Unshares parts of the execution context (Go's `Unshare`).
    sys pub fn unshare(flags: u32) = __NR_unshare;
    /// Joins the namespace `fd` refers to (Go's `Setns`).
    sys pub fn setns(fd: BorrowedFd<'_>, nstype: u32) = __NR_setns;
    /// Sets the execution domain, returning the old one; `0xffffffff` only queries.
    sysnb pub fn personality(persona: u32) -> i32 = __NR_personality;
    /// Process and thread operations (`prctl(2)`).
    ///
    /// # Safety
    /// The arguments are valid for what `option` does with them (several take pointers).
    unsafe sysnb pub fn prctl(option: u32, a2: usize, a3: usize, a4: usize, a5: usize) -> i32 = __NR_prctl;
    /// Executes a program; see [`execve`](super::execve).
    ///
    /// # Safety
    /// `argv` and `envp` are NULL-terminated arrays of pointers to C strings.
    unsafe sys pub(crate) fn execve_raw(path: impl PathArg, argv: *const *const u8, envp: *const *const u8) = __NR_execve;
    /// Sets the host name (needs `CAP_SYS_ADMIN`).
    sysnb pub fn sethostname(name: &[u8]) = __NR_sethostname;
    /// Sets the NIS domain name (needs `CAP_SYS_ADMIN`).
    sysnb pub fn setdomainname(name: &[u8]) = __NR_setdomainname;
    /// The kernel log (`syslog(2)`; Go's `Klogctl`): `SYSLOG_ACTION_SIZE_BUFFER` (10) returns
    /// the buffer's size.
    sys pub fn klogctl(action: u32, buf: &mut [u8]) -> usize = __NR_syslog;
}

syscalls! { table MEMORY;
    /// Maps memory (Go's `mmap`).
    ///
    /// # Safety
    /// With `MAP_FIXED`, `[addr, addr + len)` holds nothing the program still uses; the caller
    /// owns the new mapping and unmaps it only when nothing refers to it.
    unsafe sys pub fn mmap(addr: usize, len: usize, prot: u32, flags: u32, fd: i32, offset: i64) -> usize = __NR_mmap;
    /// Unmaps memory (Go's `munmap`).
    ///
    /// # Safety
    /// Nothing refers to `[addr, addr + len)` any more.
    unsafe sys pub fn munmap(addr: usize, len: usize) = __NR_munmap;
    /// Changes the protection of a range (Go's `Mprotect`).
    ///
    /// # Safety
    /// Nothing accesses the range in a way the new protection forbids.
    unsafe sys pub fn mprotect(addr: usize, len: usize, prot: u32) = __NR_mprotect;
    /// Advises the kernel about a range (Go's `Madvise`).
    ///
    /// # Safety
    /// `advice` (`MADV_DONTNEED`, `MADV_FREE`, ...) may discard the range's contents, and the
    /// kernel rounds `len` up to whole pages: the program must not need what it discards.
    unsafe sys pub fn madvise(addr: usize, len: usize, advice: u32) = __NR_madvise;
    /// Resizes or moves a mapping (`mremap(2)`).
    ///
    /// # Safety
    /// As for [`munmap`] of the old range and [`mmap`] of the new one.
    unsafe sys pub fn mremap(addr: usize, old_len: usize, new_len: usize, flags: u32, new_addr: usize) -> usize = __NR_mremap;
    /// Flushes a file mapping (`MS_SYNC`, `MS_ASYNC`, `MS_INVALIDATE`).
    ///
    /// # Safety
    /// `MS_INVALIDATE` may change what other mappings of the file show.
    unsafe sys pub fn msync(addr: usize, len: usize, flags: u32) = __NR_msync;
    /// Whether the pages of a range are resident, one byte per page into `vec`.
    ///
    /// # Safety
    /// `vec` is valid for writing one byte per page of `[addr, addr + len)`.
    unsafe sys pub fn mincore(addr: usize, len: usize, vec: *mut u8) = __NR_mincore;
    /// Locks the pages holding `b` in memory (Go's `Mlock`).
    sys pub fn mlock(b: &[u8]) = __NR_mlock;
    /// Unlocks the pages holding `b` (Go's `Munlock`).
    sys pub fn munlock(b: &[u8]) = __NR_munlock;
    /// Locks every page of the process (`MCL_CURRENT`, `MCL_FUTURE`).
    sys pub fn mlockall(flags: u32) = __NR_mlockall;
    /// Unlocks every page of the process.
    sys pub fn munlockall() = __NR_munlockall;
}

syscalls! { table TIME;
    /// The resolution of `clock`.
    sysnb pub fn clock_getres(clock: i32, res: Option<&mut Timespec>) = __NR_clock_getres;
    /// Sleeps for `req`; on `EINTR` the rest is in `rem` (Go's `Nanosleep`).
    sys pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) = __NR_nanosleep;
    /// Sleeps on `clock` (`TIMER_ABSTIME` in `flags` for a deadline).
    sys pub fn clock_nanosleep(clock: i32, flags: u32, req: &Timespec, rem: Option<&mut Timespec>) = __NR_clock_nanosleep;
    /// Sets an interval timer, returning the old one in `old`.
    sysnb pub fn setitimer(which: u32, new: &Itimerval, old: Option<&mut Itimerval>) = __NR_setitimer;
    /// An interval timer's current value.
    sysnb pub fn getitimer(which: u32, cur: &mut Itimerval) = __NR_getitimer;
    /// Arranges `SIGALRM` in `seconds` (0 cancels); returns the seconds left of the old alarm.
    sysnoerr pub fn alarm(seconds: u32) -> u32 = __NR_alarm;
}

syscalls! { table SIGNALS;
    /// Changes the calling thread's signal mask (`sigsetsize` = `size_of::<Sigset>()`).
    sysnb pub fn rt_sigprocmask(how: u32, set: Option<&Sigset>, old: Option<&mut Sigset>, sigsetsize: usize) = __NR_rt_sigprocmask;
    /// The signals pending for the calling thread.
    sysnb pub fn rt_sigpending(set: &mut Sigset, sigsetsize: usize) = __NR_rt_sigpending;
    /// Waits for one of `set`'s signals; returns its number.
    sys pub fn rt_sigtimedwait(set: &Sigset, info: Option<&mut Siginfo>, timeout: Option<&Timespec>, sigsetsize: usize) -> i32 = __NR_rt_sigtimedwait;
}

syscalls! { table SOCKETS;
    /// A new socket (Go's `Socket`).
    sysnb pub fn socket(domain: u32, ty: u32, proto: u32) -> OwnedFd = __NR_socket;
    /// A connected pair into `fds`; see [`socketpair`](super::socketpair).
    sysnb pub(crate) fn socketpair_raw(domain: u32, ty: u32, proto: u32, fds: &mut [i32; 2]) = __NR_socketpair;
    /// Binds a socket to an address (Go's `Bind`).
    sysnb pub fn bind(fd: BorrowedFd<'_>, addr: &impl Sockaddr) = __NR_bind;
    /// Connects a socket (Go's `Connect`).
    sys pub fn connect(fd: BorrowedFd<'_>, addr: &impl Sockaddr) = __NR_connect;
    /// Marks a socket as accepting connections (Go's `Listen`).
    sysnb pub fn listen(fd: BorrowedFd<'_>, backlog: i32) = __NR_listen;
    /// Accepts a connection; see [`accept4`](super::accept4).
    ///
    /// # Safety
    /// `addr` is null or valid for writing `*len` bytes, and `len` is null with it or valid.
    unsafe sys pub(crate) fn accept4_raw(fd: BorrowedFd<'_>, addr: *mut SockaddrStorage, len: *mut u32, flags: u32) -> OwnedFd = __NR_accept4;
    /// The local address; see [`getsockname`](super::getsockname).
    ///
    /// # Safety
    /// As for `accept4_raw`.
    unsafe sysnb pub(crate) fn getsockname_raw(fd: BorrowedFd<'_>, addr: *mut SockaddrStorage, len: *mut u32) = __NR_getsockname;
    /// The peer's address; see [`getpeername`](super::getpeername).
    ///
    /// # Safety
    /// As for `accept4_raw`.
    unsafe sysnb pub(crate) fn getpeername_raw(fd: BorrowedFd<'_>, addr: *mut SockaddrStorage, len: *mut u32) = __NR_getpeername;
    /// A socket option; see [`getsockopt`](super::getsockopt).
    ///
    /// # Safety
    /// `val` is valid for writing `*len` bytes.
    unsafe sys pub(crate) fn getsockopt_raw(fd: BorrowedFd<'_>, level: u32, opt: u32, val: *mut u8, len: *mut u32) = __NR_getsockopt;
    /// Sets a socket option from the bytes of `val` (Go's `setsockopt`); the typed
    /// [`setsockopt_int`](super::setsockopt_int), [`setsockopt_bool`](super::setsockopt_bool)
    /// and [`setsockopt_timeval`](super::setsockopt_timeval) are safe.
    ///
    /// # Safety
    /// Some options' values hold addresses the kernel reads through (`SO_ATTACH_FILTER`'s
    /// program) or keeps and writes through later (`XDP_UMEM_REG`'s packet memory): any
    /// address in `val` is valid for what option `opt` of `level` does with it.
    ///
    /// ```compile_fail,E0133
    /// use std::os::fd::AsFd;
    /// let s = goro::syscall::socket(2, 1, 0).unwrap();
    /// let _ = goro::syscall::setsockopt(s.as_fd(), goro::syscall::SOL_SOCKET, 26, &[0; 16]);
    /// ```
    unsafe sys pub fn setsockopt(fd: BorrowedFd<'_>, level: u32, opt: u32, val: &[u8]) = __NR_setsockopt;
    /// Sends `buf` to `addr` (Go's `Sendto`).
    sys pub fn sendto(fd: BorrowedFd<'_>, buf: &[u8], flags: u32, addr: Option<&impl Sockaddr>) -> usize = __NR_sendto;
    /// Receives into `buf` with the sender's address; see [`recvfrom`](super::recvfrom).
    ///
    /// # Safety
    /// As for `accept4_raw`.
    unsafe sys pub(crate) fn recvfrom_raw(fd: BorrowedFd<'_>, buf: &mut [u8], flags: u32, addr: *mut SockaddrStorage, len: *mut u32) -> usize = __NR_recvfrom;
    /// Sends a message (Go's `sendmsg`).
    ///
    /// # Safety
    /// Every pointer in `msg` (name, iovecs, control) is valid for the length beside it.
    unsafe sys pub fn sendmsg(fd: BorrowedFd<'_>, msg: &Msghdr, flags: u32) -> usize = __NR_sendmsg;
    /// Receives a message (Go's `recvmsg`).
    ///
    /// # Safety
    /// Every pointer in `msg` is valid for writing the length beside it; descriptors received
    /// in `SCM_RIGHTS` become the caller's.
    unsafe sys pub fn recvmsg(fd: BorrowedFd<'_>, msg: &mut Msghdr, flags: u32) -> usize = __NR_recvmsg;
    /// Shuts down part of a full-duplex connection (Go's `Shutdown`).
    sysnb pub fn shutdown(fd: BorrowedFd<'_>, how: u32) = __NR_shutdown;
}
