//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`], in
//! `std::os::unix::net`'s shape. Addresses are std's (`std::os::unix::net::SocketAddr`); std
//! reads them from the descriptor, which never blocks.

use std::io;
use std::net::Shutdown;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::fd::{NetFd, backlog, fd_traits, socket_methods, stream_io};
use crate::syscall::{self, AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM};

/// A Unix stream socket server (std's `UnixListener`).
pub struct UnixListener(NetFd);
/// A Unix stream connection (std's `UnixStream`).
pub struct UnixStream(NetFd);
/// A Unix datagram socket (std's `UnixDatagram`).
pub struct UnixDatagram(NetFd);

fd_traits!(UnixListener, std::os::unix::net::UnixListener);
fd_traits!(UnixStream, std::os::unix::net::UnixStream);
fd_traits!(UnixDatagram, std::os::unix::net::UnixDatagram);
stream_io!(UnixStream);
socket_methods!(UnixListener);
socket_methods!(UnixStream, timeouts);
socket_methods!(UnixDatagram, timeouts);

/// The address of the socket at `path`, to connect or send to. An empty path names no
/// socket: `InvalidInput`, as with std (and the kernel, for an address that is the family
/// alone). As an address of the full size, it would name the abstract socket whose name is
/// all NUL bytes, which any process may bind.
fn sockaddr(path: &Path) -> io::Result<syscall::SockaddrUn> {
    if path.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty path names no Unix socket",
        ));
    }
    Ok(syscall::sockaddr_un(path.as_os_str().as_bytes())?)
}

/// A Unix socket address that is the family alone: to `bind`, unix(7)'s autobind, an
/// abstract name the kernel picks, unique in the network namespace (what std's and Go's bind
/// to an empty path do).
#[repr(C)]
#[derive(Clone, Copy)]
struct Autobind {
    family: u16,
}

// SAFETY: `repr(C)`, its one field the address family; the kernel reads its two bytes.
unsafe impl syscall::Sockaddr for Autobind {}

/// A connected pair of sockets of type `ty`.
fn pair(ty: u32) -> io::Result<(NetFd, NetFd)> {
    let (a, b) = syscall::socketpair(AF_UNIX, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)?;
    Ok((NetFd::new(a), NetFd::new(b)))
}

/// A Unix socket of type `ty` bound to `path`; to an abstract name of the kernel's choosing
/// for an empty path (see [`Autobind`]).
fn bound(path: &Path, ty: u32) -> io::Result<NetFd> {
    if path.as_os_str().is_empty() {
        let fd = NetFd::socket(AF_UNIX, ty)?;
        syscall::bind(
            fd.fd(),
            &Autobind {
                family: AF_UNIX as u16,
            },
        )?;
        return Ok(fd);
    }
    let sa = sockaddr(path)?;
    let fd = NetFd::socket(AF_UNIX, ty)?;
    syscall::bind(fd.fd(), &sa)?;
    Ok(fd)
}

impl UnixListener {
    /// A listener bound to `path` (backlog the kernel's `somaxconn`); for an empty path, to
    /// an abstract name the kernel picks, as std's.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let fd = bound(path.as_ref(), SOCK_STREAM)?;
        syscall::listen(fd.fd(), backlog())?;
        Ok(UnixListener(fd))
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, _) = self.0.accept()?;
        let s = UnixStream(fd);
        let addr = s.peer_addr()?;
        Ok((s, addr))
    }

    /// The connections, as `accept` returns them, for ever.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<UnixStream>> + '_ {
        core::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .with_std(|s: &std::os::unix::net::UnixListener| s.local_addr())
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let sa = sockaddr(path.as_ref())?;
        let fd = NetFd::socket(AF_UNIX, SOCK_STREAM)?;
        fd.connect(&sa, None)?;
        Ok(UnixStream(fd))
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = pair(SOCK_STREAM)?;
        Ok((UnixStream(a), UnixStream(b)))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .with_std(|s: &std::os::unix::net::UnixStream| s.local_addr())
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .with_std(|s: &std::os::unix::net::UnixStream| s.peer_addr())
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }
}

impl UnixDatagram {
    /// A socket bound to `path`; for an empty path, to an abstract name the kernel picks, as
    /// std's.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        bound(path.as_ref(), SOCK_DGRAM).map(UnixDatagram)
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        NetFd::socket(AF_UNIX, SOCK_DGRAM).map(UnixDatagram)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = pair(SOCK_DGRAM)?;
        Ok((UnixDatagram(a), UnixDatagram(b)))
    }

    /// Sets the default peer.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        Ok(syscall::connect(self.0.fd(), &sockaddr(path.as_ref())?)?)
    }

    /// Sends `buf` to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.0.sendto(buf, Some(&sockaddr(path.as_ref())?))
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.sendto(buf, None::<&syscall::SockaddrUn>)
    }

    /// Receives a datagram.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recvfrom(buf, 0).map(|(n, ..)| n)
    }

    /// Receives a datagram with its sender's address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, sa, len) = self.0.recvfrom(buf, 0)?;
        // SAFETY: recvfrom wrote a Unix socket address (or nothing: an unnamed sender) into
        // storage aligned and large enough for one.
        let un = unsafe { &*(&raw const sa).cast::<syscall::SockaddrUn>() };
        // The kernel's length counts the family and the path bytes it wrote (a pathname's
        // NUL or not; an abstract name's leading NUL and every byte of the name).
        let at = core::mem::offset_of!(syscall::SockaddrUn, sun_path);
        let path: Vec<u8> = un.sun_path[..len.saturating_sub(at).min(un.sun_path.len())]
            .iter()
            .map(|&c| c as u8)
            .collect();
        let addr = match path.split_first() {
            Some((0, name)) => SocketAddr::from_abstract_name(name)?,
            // A pathname up to its NUL; an empty one is std's unnamed address.
            _ => {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(&path[..end]))?
            }
        };
        Ok((n, addr))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .with_std(|s: &std::os::unix::net::UnixDatagram| s.local_addr())
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0
            .with_std(|s: &std::os::unix::net::UnixDatagram| s.peer_addr())
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }
}
