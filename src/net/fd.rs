//! A socket registered with the poller (Go's `netFD`): what every type of `goro::net` wraps.

use std::io;
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::io::{Registration, set_nonblocking};
use crate::runtime::netpoll::Mode;
use linux_raw_sys::general as nr;

use crate::syscall::{
    self, Errno, Pod, SO_ERROR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, Sockaddr, SockaddrStorage,
    raw_syscall6,
};

/// The result of a raw call on a non-blocking socket.
///
/// The I/O calls on sockets (read, send, receive, accept) go straight to the kernel, without
/// `entersyscall` (Go's `RawSyscall`; Go itself uses `Syscall` here): on a non-blocking
/// descriptor they return at once, and through a `sys` wrapper sysmon retakes the P whenever
/// the thread is descheduled mid-call with goroutines queued, starting another M; under load
/// that grows the thread count past GOMAXPROCS for no blocking at all.
fn nb((r, _, e): (usize, usize, Errno)) -> Result<usize, Errno> {
    if e == Errno(0) { Ok(r) } else { Err(e) }
}

pub(crate) struct NetFd {
    // Dropped first: unregistered before the descriptor closes.
    reg: Registration,
    fd: OwnedFd,
    /// std's read and write timeouts in nanoseconds, 0 for none.
    timeouts: [AtomicU64; 2],
}

impl NetFd {
    /// Wraps a non-blocking socket.
    pub(crate) fn new(fd: OwnedFd) -> NetFd {
        NetFd {
            reg: Registration::new(fd.as_fd()),
            fd,
            timeouts: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Wraps a socket from elsewhere (std's types), making it non-blocking.
    pub(crate) fn adopt(fd: OwnedFd) -> NetFd {
        // Only fails for a descriptor that is not open, which an `OwnedFd` is; any error shows
        // at the first call instead.
        let _ = set_nonblocking(fd.as_fd());
        NetFd::new(fd)
    }

    /// A new non-blocking, close-on-exec socket.
    pub(crate) fn socket(domain: u32, ty: u32) -> io::Result<NetFd> {
        let fd = syscall::socket(domain, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)?;
        Ok(NetFd::new(fd))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn into_owned(self) -> OwnedFd {
        let NetFd { reg, fd, .. } = self;
        drop(reg);
        fd
    }

    /// Runs a non-blocking `op` in direction `mode`, waiting on the poller while it reports
    /// `EAGAIN`, within std's timeout for that direction.
    pub(crate) fn io<R>(&self, mode: Mode, op: impl FnMut() -> Result<R, Errno>) -> io::Result<R> {
        let t = self.timeouts[mode as usize].load(Ordering::Relaxed);
        self.reg
            .io(mode, (t != 0).then(|| Duration::from_nanos(t)), op)
    }

    /// Reads from a connected socket: `recvfrom` without an address, as tokio and std's
    /// `recv` do, rather than Go's `read`, whose way through the VFS (file position lock,
    /// permission hook, iterator) costs more for the same result.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (fd, p, n) = (self.raw(), buf.as_mut_ptr() as usize, buf.len());
        self.io(Mode::Read, || {
            // SAFETY: the kernel writes at most `n` bytes into the live buffer; no address.
            nb(unsafe { raw_syscall6(nr::__NR_recvfrom as usize, fd, p, n, 0, 0, 0) })
        })
    }

    /// Writes to a connected socket; a peer that has gone is `EPIPE`, never `SIGPIPE`.
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.sendto(buf, None::<&SockaddrStorage>)
    }

    /// Receives with `flags` (`MSG_PEEK`), with the sender's address and its length.
    pub(crate) fn recvfrom(
        &self,
        buf: &mut [u8],
        flags: u32,
    ) -> io::Result<(usize, SockaddrStorage, usize)> {
        let mut sa = SockaddrStorage::zeroed();
        let mut len = size_of::<SockaddrStorage>() as u32;
        let (fd, p, n) = (self.raw(), buf.as_mut_ptr() as usize, buf.len());
        let (sap, lenp) = (&raw mut sa as usize, &raw mut len as usize);
        let flags = flags as usize;
        let n = self.io(Mode::Read, || {
            // SAFETY: the kernel writes at most `n` bytes into the buffer, and at most `len`
            // bytes of address into `sa`, both alive across the call.
            nb(unsafe { raw_syscall6(nr::__NR_recvfrom as usize, fd, p, n, flags, sap, lenp) })
        })?;
        Ok((n, sa, len as usize))
    }

    /// Sends `buf` (to `to`, if given), without `SIGPIPE`.
    pub(crate) fn sendto<S: Sockaddr>(&self, buf: &[u8], to: Option<&S>) -> io::Result<usize> {
        let (fd, p, n) = (self.raw(), buf.as_ptr() as usize, buf.len());
        let (sap, salen) = to.map_or((0, 0), |a| (a as *const S as usize, size_of::<S>()));
        let flags = linux_raw_sys::net::MSG_NOSIGNAL as usize;
        self.io(Mode::Write, || {
            // SAFETY: the kernel reads `n` bytes of the buffer and the address, both alive.
            nb(unsafe { raw_syscall6(nr::__NR_sendto as usize, fd, p, n, flags, sap, salen) })
        })
    }

    /// Accepts a connection, non-blocking and close-on-exec, with its peer's address.
    pub(crate) fn accept(&self) -> io::Result<(NetFd, SockaddrStorage)> {
        let mut sa = SockaddrStorage::zeroed();
        let mut len = size_of::<SockaddrStorage>() as u32;
        let (sap, lenp) = (&raw mut sa as usize, &raw mut len as usize);
        let flags = (SOCK_NONBLOCK | SOCK_CLOEXEC) as usize;
        let fd = self.raw();
        let new = self.io(Mode::Read, || {
            // SAFETY: the kernel writes at most `len` bytes of address into `sa`.
            nb(unsafe { raw_syscall6(nr::__NR_accept4 as usize, fd, sap, lenp, flags, 0, 0) })
        })?;
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let new = unsafe { OwnedFd::from_raw_fd(new as i32) };
        Ok((NetFd::new(new), sa))
    }

    fn raw(&self) -> usize {
        self.fd.as_raw_fd() as usize
    }

    /// Connects, waiting for a connection in progress on the poller (Go's `netFD.connect`),
    /// at most `timeout`.
    pub(crate) fn connect(&self, to: &impl Sockaddr, timeout: Option<Duration>) -> io::Result<()> {
        use Errno as E;
        let mut started = false;
        // `Ok(Err(e))`: a failure to report, even `EAGAIN`, which from `connect(2)` itself
        // means no port or backlog room (Go returns it too), not "wait".
        let r = self.reg.io(Mode::Write, timeout, || {
            let e = if started {
                match syscall::getsockopt_int(self.fd(), SOL_SOCKET, SO_ERROR)? {
                    // Writable with no error: connected, unless the wake-up was spurious.
                    0 => match syscall::getpeername(self.fd()) {
                        Err(E::ENOTCONN) => return Err(E::EAGAIN),
                        r => return Ok(r.map(drop)),
                    },
                    e => E(e as u16),
                }
            } else {
                started = true;
                match syscall::connect(self.fd(), to) {
                    Ok(()) => return Ok(Ok(())),
                    Err(E::EAGAIN) => return Ok(Err(E::EAGAIN)),
                    Err(e) => e,
                }
            };
            match e {
                E::EINPROGRESS | E::EALREADY | E::EINTR | E::EAGAIN => Err(E::EAGAIN),
                E::EISCONN => Ok(Ok(())),
                e => Ok(Err(e)),
            }
        })?;
        Ok(r?)
    }

    /// std's `set_read_timeout` / `set_write_timeout`: a zero duration is an error.
    pub(crate) fn set_timeout(&self, mode: Mode, d: Option<Duration>) -> io::Result<()> {
        let ns = match d {
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(d) => d.as_nanos().clamp(1, u64::MAX as u128) as u64,
            None => 0,
        };
        self.timeouts[mode as usize].store(ns, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, mode: Mode) -> Option<Duration> {
        let t = self.timeouts[mode as usize].load(Ordering::Relaxed);
        (t != 0).then(|| Duration::from_nanos(t))
    }

    /// A second handle to the socket (a new descriptor), with the same timeouts.
    pub(crate) fn try_clone(&self) -> io::Result<NetFd> {
        use linux_raw_sys::general::F_DUPFD_CLOEXEC;
        let fd = syscall::fcntl(self.fd(), F_DUPFD_CLOEXEC, 0)?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a new descriptor that nothing else owns.
        let new = NetFd::new(unsafe { OwnedFd::from_raw_fd(fd) });
        for (n, o) in new.timeouts.iter().zip(&self.timeouts) {
            n.store(o.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        Ok(new)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(syscall::socket_addr(&syscall::getsockname(self.fd())?)?)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(syscall::socket_addr(&syscall::getpeername(self.fd())?)?)
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        use crate::syscall::{SHUT_RD, SHUT_RDWR, SHUT_WR};
        let how = match how {
            std::net::Shutdown::Read => SHUT_RD,
            std::net::Shutdown::Write => SHUT_WR,
            std::net::Shutdown::Both => SHUT_RDWR,
        };
        Ok(syscall::shutdown(self.fd(), how)?)
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = syscall::getsockopt_int(self.fd(), SOL_SOCKET, SO_ERROR)?;
        Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
    }

    /// Runs `f` on a std socket of type `S` borrowing this descriptor (for what std already
    /// does without blocking: Unix socket addresses).
    pub(crate) fn with_std<S: FromRawFd, R>(&self, f: impl FnOnce(&S) -> R) -> R {
        // SAFETY: the std value borrows our open descriptor and is never dropped, so it does
        // not close it; `f` gets only a shared reference.
        let s = ManuallyDrop::new(unsafe { S::from_raw_fd(self.fd.as_raw_fd()) });
        f(&s)
    }
}

/// The listen backlog: the kernel's `somaxconn`, as Go uses (std uses 128).
pub(crate) fn backlog() -> i32 {
    static N: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(128) // the kernel's `SOMAXCONN`, the floor of `somaxconn`
    })
}

/// Resolves `addr`. Names are looked up inside [`crate::blocking`] (the resolver blocks its
/// thread); address values, which need no lookup, are converted in place.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let ty = core::any::type_name::<A>();
    if ty.contains("str") || ty.contains("String") {
        crate::blocking(|| addr.to_socket_addrs().map(Iterator::collect))
    } else {
        addr.to_socket_addrs().map(Iterator::collect)
    }
}

/// Tries `f` on each address of `addr` until one succeeds (std's `each_addr`).
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A socket of `addr`'s family and type `ty`.
pub(crate) fn socket_for(addr: &SocketAddr, ty: u32) -> io::Result<NetFd> {
    let domain = match addr {
        SocketAddr::V4(_) => syscall::AF_INET,
        SocketAddr::V6(_) => syscall::AF_INET6,
    };
    NetFd::socket(domain, ty)
}

/// Implements the traits every `goro::net` type shares: `AsFd`, `AsRawFd`, `From<OwnedFd>`,
/// `From<T> for OwnedFd`, and the conversions from and into the std type.
macro_rules! fd_traits {
    ($t:ident, $std:ty) => {
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.0.fd()
            }
        }
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.0.fd())
            }
        }
        impl From<std::os::fd::OwnedFd> for $t {
            /// Adopts the socket, making it non-blocking.
            fn from(fd: std::os::fd::OwnedFd) -> $t {
                $t($crate::net::fd::NetFd::adopt(fd))
            }
        }
        impl From<$t> for std::os::fd::OwnedFd {
            fn from(s: $t) -> std::os::fd::OwnedFd {
                s.0.into_owned()
            }
        }
        impl From<$std> for $t {
            /// Adopts std's socket, making it non-blocking.
            fn from(s: $std) -> $t {
                $t::from(std::os::fd::OwnedFd::from(s))
            }
        }
        impl From<$t> for $std {
            /// The socket as std's; it stays non-blocking (`set_nonblocking(false)` for std's
            /// blocking calls).
            fn from(s: $t) -> $std {
                <$std>::from(std::os::fd::OwnedFd::from(s))
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&self.0.fd()))
                    .finish()
            }
        }
    };
}
pub(crate) use fd_traits;

/// `Read` and `Write` for a stream type and for a reference to it.
macro_rules! stream_io {
    ($t:ident) => {
        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_io;

/// The methods every `goro::net` type shares: `try_clone` and `take_error`, and with
/// `timeouts`, std's read and write timeouts.
macro_rules! socket_methods {
    ($t:ident) => {
        impl $t {
            /// A second handle to the socket (a new descriptor), with the same timeouts.
            pub fn try_clone(&self) -> std::io::Result<$t> {
                self.0.try_clone().map($t)
            }

            /// The pending error (`SO_ERROR`), cleared by reading it.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.0.take_error()
            }
        }
    };
    ($t:ident, timeouts) => {
        $crate::net::fd::socket_methods!($t);
        impl $t {
            /// Each read or receive waits at most `d` (`None`: for ever), then fails with
            /// `TimedOut`: a deadline on the timer heap, armed only when the call has to wait.
            /// A zero duration is an error, as in std.
            pub fn set_read_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
                self.0.set_timeout($crate::runtime::netpoll::Mode::Read, d)
            }

            /// [`set_read_timeout`](Self::set_read_timeout) for writes and sends.
            pub fn set_write_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
                self.0.set_timeout($crate::runtime::netpoll::Mode::Write, d)
            }

            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.0.timeout($crate::runtime::netpoll::Mode::Read))
            }

            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.0.timeout($crate::runtime::netpoll::Mode::Write))
            }
        }
    };
}
pub(crate) use socket_methods;
