//! TCP: [`TcpListener`] and [`TcpStream`], in `std::net`'s shape.

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::fd::{NetFd, backlog, each_addr, fd_traits, socket_for, socket_methods, stream_io};
use crate::syscall::{
    self, IP_TTL, IPPROTO_IP, IPPROTO_TCP, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, TCP_NODELAY,
};

/// A TCP socket server (std's `TcpListener`): `accept` parks the goroutine on the poller.
///
/// ```
/// use std::io::{Read, Write};
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let l = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = l.local_addr().unwrap();
///     goro::spawn(move || {
///         let (mut c, _) = l.accept().unwrap();
///         let mut b = [0; 4];
///         c.read_exact(&mut b).unwrap();
///         c.write_all(&b).unwrap();
///     });
///     let mut s = goro::net::TcpStream::connect(addr).unwrap();
///     s.write_all(b"ping").unwrap();
///     let mut b = [0; 4];
///     s.read_exact(&mut b).unwrap();
///     assert_eq!(&b, b"ping");
/// });
/// ```
pub struct TcpListener(NetFd);

/// A TCP connection (std's `TcpStream`): reads and writes park the goroutine on the poller
/// while the socket is not ready.
pub struct TcpStream(NetFd);

fd_traits!(TcpListener, std::net::TcpListener);
fd_traits!(TcpStream, std::net::TcpStream);
stream_io!(TcpStream);
socket_methods!(TcpListener);
socket_methods!(TcpStream, timeouts);

impl TcpListener {
    /// A listener bound to `addr` (`SO_REUSEADDR`, backlog the kernel's `somaxconn`).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let fd = socket_for(a, SOCK_STREAM)?;
            syscall::setsockopt_bool(fd.fd(), SOL_SOCKET, SO_REUSEADDR, true)?;
            syscall::bind(fd.fd(), &syscall::sockaddr(a))?;
            syscall::listen(fd.fd(), backlog())?;
            Ok(TcpListener(fd))
        })
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, sa) = self.0.accept()?;
        Ok((TcpStream(fd), syscall::socket_addr(&sa)?))
    }

    /// The connections, as `accept` returns them, for ever.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        core::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_inner(a, None))
    }

    /// Connects to `addr`, giving up after `timeout` (zero is an error, as in std).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_inner(addr, Some(timeout))
    }

    fn connect_inner(a: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let fd = socket_for(a, SOCK_STREAM)?;
        fd.connect(&syscall::sockaddr(a), timeout)?;
        Ok(TcpStream(fd))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Shuts down the read half, the write half, or both: a goroutine reading then sees the
    /// end of the stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }

    /// Reads without removing the data from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recvfrom(buf, syscall::MSG_PEEK).map(|(n, ..)| n)
    }

    /// `TCP_NODELAY`: send small segments at once (Nagle's algorithm off).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Ok(syscall::setsockopt_bool(
            self.0.fd(),
            IPPROTO_TCP,
            TCP_NODELAY,
            on,
        )?)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(syscall::getsockopt_bool(
            self.0.fd(),
            IPPROTO_TCP,
            TCP_NODELAY,
        )?)
    }

    /// `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = i32::try_from(ttl).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(syscall::setsockopt_int(
            self.0.fd(),
            IPPROTO_IP,
            IP_TTL,
            ttl,
        )?)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        Ok(syscall::getsockopt_int(self.0.fd(), IPPROTO_IP, IP_TTL)? as u32)
    }
}
