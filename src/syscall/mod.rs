//! The top floor: Go's `syscall` package for linux/amd64, usable on any thread.
//!
//! - The four entry points ([`syscall`], [`syscall6`], [`raw_syscall`], [`raw_syscall6`]) and
//!   [`raw_syscall_no_error`], with Go's result convention.
//! - [`Errno`], every Linux error number.
//! - The vDSO calls [`clock_gettime`], [`gettimeofday`], [`time`], [`getcpu`].
//! - Typed wrappers, declared once as blocking (`sys`) or not (`sysnb`) and generated, and the
//!   "wrapped" calls written on top of them (`rename` on `renameat`), with [`read_full`] and
//!   [`write_all`], which retry `EINTR` and short counts.
//! - [`parse_dirent`], Go's `ParseDirent`: the entries of a [`getdents64`] buffer.
//!
//! A `sys` wrapper tells the scheduler that the goroutine may block, so other goroutines keep
//! running; a `sysnb` one does not, and is only used for calls that return at once.
//!
//! ```
//! use goro::syscall::{self, Errno, Pod, Stat};
//!
//! let (r, w) = syscall::pipe2(0)?;
//! assert_eq!(syscall::write(w.as_fd(), b"hi")?, 2);
//! let mut buf = [0u8; 8];
//! assert_eq!(syscall::read(r.as_fd(), &mut buf)?, 2);
//!
//! let mut st = Stat::zeroed();
//! assert_eq!(syscall::stat("/no/such/file", &mut st), Err(Errno::ENOENT));
//! # use std::os::fd::AsFd;
//! # Ok::<(), Errno>(())
//! ```
//!
//! # The wrappers
#![doc = include_str!("../../docs/wrappers.md")]

mod arg;
mod dirent;
mod entry;
mod linux;
pub(crate) mod mksyscall;
mod sockaddr;
mod types;
mod wrapped;

pub use crate::linux::errno::Errno;
pub use crate::linux::vdso::Vdso;
pub use arg::{PathArg, PathBytes, Pod};
pub use dirent::{Dirent, DirentError, Dirents, parse_dirent};
pub use entry::{raw_syscall, raw_syscall_no_error, raw_syscall6, syscall, syscall6};
pub use linux::*;
pub use mksyscall::{Kind, Wrapper};
pub use sockaddr::*;
pub use types::*;
pub use wrapped::*;

use linux_raw_sys::general::{__NR_clock_gettime, __NR_getcpu, __NR_gettimeofday, __NR_time};

/// `clock_gettime(2)` through the vDSO (falling back to the system call): the time of `clock`
/// (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`, ...).
#[inline]
pub fn clock_gettime(clock: i32) -> Result<Timespec, Errno> {
    Vdso::get().clock_gettime(clock)
}

/// `gettimeofday(2)` through the vDSO.
#[inline]
pub fn gettimeofday() -> Result<Timeval, Errno> {
    Vdso::get().gettimeofday()
}

/// `time(2)` through the vDSO: seconds since the epoch.
#[inline]
pub fn time() -> i64 {
    Vdso::get().time()
}

/// `getcpu(2)` through the vDSO: (CPU, NUMA node) of the calling thread.
#[inline]
pub fn getcpu() -> Result<(u32, u32), Errno> {
    Vdso::get().getcpu()
}

const VDSO: &[Wrapper] = {
    const fn v(name: &'static str, nr: u32) -> Wrapper {
        Wrapper {
            name,
            kind: Kind::Vdso,
            nr,
            unsafe_: false,
            public: true,
        }
    }
    &[
        v("clock_gettime", __NR_clock_gettime),
        v("gettimeofday", __NR_gettimeofday),
        v("time", __NR_time),
        v("getcpu", __NR_getcpu),
    ]
};

/// Every wrapper of this module, by group: the generated ones, the vDSO calls and the wrapped
/// ones. `docs/wrappers.md` is made from it.
pub const WRAPPERS: &[(&str, &[Wrapper])] = &[
    ("files", linux::FILES),
    ("extended attributes", linux::XATTRS),
    ("descriptors, polling and events", linux::DESCRIPTORS),
    ("processes and ids", linux::PROCESSES),
    ("memory", linux::MEMORY),
    ("time", linux::TIME),
    ("vDSO", VDSO),
    ("signals", linux::SIGNALS),
    ("sockets", linux::SOCKETS),
    ("wrapped", wrapped::WRAPPED),
];

/// The Markdown table of [`WRAPPERS`] (public ones only), as `docs/wrappers.md` holds it.
pub fn wrapper_table() -> String {
    use std::fmt::Write;
    let mut out = String::from("| group | name | kind | number |\n|---|---|---|---|\n");
    for (group, rows) in WRAPPERS {
        for w in rows.iter().filter(|w| w.public) {
            let kind = match w.kind {
                Kind::Sys => "sys".to_string(),
                Kind::Sysnb => "sysnb".to_string(),
                Kind::Sysnoerr => "sysnb (no error)".to_string(),
                Kind::Vdso => "vDSO, else sysnb".to_string(),
                Kind::Wrapped(on) => format!("wrapped: `{on}`"),
            };
            let unsafety = if w.unsafe_ { " (unsafe)" } else { "" };
            let _ = writeln!(
                out,
                "| {group} | `{}`{unsafety} | {kind} | {} |",
                w.name, w.nr
            );
        }
    }
    out
}
