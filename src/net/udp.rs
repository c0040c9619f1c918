//! UDP: [`UdpSocket`], in `std::net`'s shape.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::fd::{NetFd, each_addr, fd_traits, resolve, socket_for, socket_methods};
use crate::syscall::{self, SO_BROADCAST, SOCK_DGRAM, SOL_SOCKET};

/// A UDP socket (std's `UdpSocket`): receives park the goroutine on the poller.
pub struct UdpSocket(NetFd);

fd_traits!(UdpSocket, std::net::UdpSocket);
socket_methods!(UdpSocket, timeouts);

impl UdpSocket {
    /// A socket bound to `addr`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let fd = socket_for(a, SOCK_DGRAM)?;
            syscall::bind(fd.fd(), &syscall::sockaddr(a))?;
            Ok(UdpSocket(fd))
        })
    }

    /// Sets the default peer: `send` goes to it, `recv` takes only its datagrams.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| {
            Ok(syscall::connect(self.0.fd(), &syscall::sockaddr(a))?)
        })
    }

    /// Sends `buf` to `addr` (its first address).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let a = resolve(addr)?.into_iter().next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.0.sendto(buf, Some(&syscall::sockaddr(&a)))
    }

    /// Receives a datagram, with its sender's address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, sa, _) = self.0.recvfrom(buf, 0)?;
        Ok((n, syscall::socket_addr(&sa)?))
    }

    /// [`recv_from`](Self::recv_from) leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, sa, _) = self.0.recvfrom(buf, syscall::MSG_PEEK)?;
        Ok((n, syscall::socket_addr(&sa)?))
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.sendto(buf, None::<&syscall::SockaddrStorage>)
    }

    /// Receives from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recvfrom(buf, 0).map(|(n, ..)| n)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        Ok(syscall::setsockopt_bool(
            self.0.fd(),
            SOL_SOCKET,
            SO_BROADCAST,
            on,
        )?)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        Ok(syscall::getsockopt_bool(
            self.0.fd(),
            SOL_SOCKET,
            SO_BROADCAST,
        )?)
    }
}
