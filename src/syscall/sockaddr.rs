//! Socket addresses between std's types and the kernel's (Go's `Sockaddr` and
//! `anyToSockaddr`), typed socket options (Go's `SetsockoptInt`, `GetsockoptInt`,
//! `SetsockoptTimeval`), and the socket constants.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::BorrowedFd;
use std::time::Duration;

pub use linux_raw_sys::net::{
    AF_INET, AF_INET6, AF_UNIX, IP_TTL, IPV6_V6ONLY, MSG_PEEK, SHUT_RD, SHUT_RDWR, SHUT_WR,
    SO_BROADCAST, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT,
    SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, TCP_NODELAY,
};

use super::types::{Sockaddr, SockaddrIn, SockaddrIn6, SockaddrStorage, SockaddrUn};
use super::{Errno, getsockopt, setsockopt};

/// `IPPROTO_IP`, `IPPROTO_TCP`, `IPPROTO_IPV6` as option levels.
pub const IPPROTO_IP: u32 = linux_raw_sys::net::IPPROTO_IP as u32;
/// See [`IPPROTO_IP`].
pub const IPPROTO_TCP: u32 = linux_raw_sys::net::IPPROTO_TCP as u32;
/// See [`IPPROTO_IP`].
pub const IPPROTO_IPV6: u32 = linux_raw_sys::net::IPPROTO_IPV6 as u32;
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`, or-ed into a socket type.
pub const SOCK_NONBLOCK: u32 = linux_raw_sys::general::O_NONBLOCK;
/// See [`SOCK_NONBLOCK`].
pub const SOCK_CLOEXEC: u32 = linux_raw_sys::general::O_CLOEXEC;

/// An all-zero socket address.
fn zeroed<S: Sockaddr>() -> S {
    // SAFETY: `Sockaddr`s are the kernel's plain structures, valid all-zero.
    unsafe { core::mem::zeroed() }
}

/// An IPv4 socket address as the kernel reads it.
pub fn sockaddr_in(a: &SocketAddrV4) -> SockaddrIn {
    let mut s: SockaddrIn = zeroed();
    s.sin_family = AF_INET as u16;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
    s
}

/// An IPv6 socket address as the kernel reads it.
pub fn sockaddr_in6(a: &SocketAddrV6) -> SockaddrIn6 {
    let mut s: SockaddrIn6 = zeroed();
    s.sin6_family = AF_INET6 as u16;
    s.sin6_port = a.port().to_be();
    s.sin6_flowinfo = a.flowinfo().to_be();
    s.sin6_addr.in6_u.u6_addr8 = a.ip().octets();
    s.sin6_scope_id = a.scope_id();
    s
}

/// Any socket address as the kernel reads it, in storage of its family.
pub fn sockaddr(a: &SocketAddr) -> SockaddrStorage {
    let mut s: SockaddrStorage = zeroed();
    let dst = &raw mut s;
    // SAFETY: storage is larger than and aligned for either address; both are plain data.
    unsafe {
        match a {
            SocketAddr::V4(a) => dst.cast::<SockaddrIn>().write(sockaddr_in(a)),
            SocketAddr::V6(a) => dst.cast::<SockaddrIn6>().write(sockaddr_in6(a)),
        }
    }
    s
}

/// The IP socket address in `s` (Go's `anyToSockaddr`), or `EAFNOSUPPORT` for another family.
pub fn socket_addr(s: &SockaddrStorage) -> Result<SocketAddr, Errno> {
    let p = s as *const SockaddrStorage;
    // SAFETY: every socket address begins with its family, a u16.
    let family = unsafe { p.cast::<u16>().read() };
    match u32::from(family) {
        AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is aligned for it.
            let a = unsafe { &*p.cast::<SockaddrIn>() };
            let ip = Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe { &*p.cast::<SockaddrIn6>() };
            // SAFETY: every field of the union is the same 16 bytes of plain data.
            let ip = Ipv6Addr::from(unsafe { a.sin6_addr.in6_u.u6_addr8 });
            let port = u16::from_be(a.sin6_port);
            Ok(SocketAddrV6::new(ip, port, u32::from_be(a.sin6_flowinfo), a.sin6_scope_id).into())
        }
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// A Unix socket address for the path `path`: `EINVAL` if it holds a NUL byte or is empty,
/// `ENAMETOOLONG` if it does not fit (107 bytes).
///
/// Empty is an error because the calls taking a [`Sockaddr`] pass the whole structure: an
/// empty path would be the abstract name of 107 NUL bytes, one fixed name any process may
/// bind, not the kernel's autobind (an address of the family alone) that an empty path means
/// to Go and std.
pub fn sockaddr_un(path: &[u8]) -> Result<SockaddrUn, Errno> {
    let mut s: SockaddrUn = zeroed();
    s.sun_family = AF_UNIX as u16;
    if path.is_empty() || path.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if path.len() >= s.sun_path.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    for (d, &b) in s.sun_path.iter_mut().zip(path) {
        *d = b as _;
    }
    Ok(s)
}

/// Sets an integer socket option (Go's `SetsockoptInt`).
pub fn setsockopt_int(fd: BorrowedFd<'_>, level: u32, opt: u32, v: i32) -> Result<(), Errno> {
    // SAFETY: four bytes hold no address: the options that read one take a larger value.
    unsafe { setsockopt(fd, level, opt, &v.to_ne_bytes()) }
}

/// An integer socket option (Go's `GetsockoptInt`).
pub fn getsockopt_int(fd: BorrowedFd<'_>, level: u32, opt: u32) -> Result<i32, Errno> {
    let mut b = [0u8; 4];
    // SAFETY: all zero: any address the option reads from its value is null.
    unsafe { getsockopt(fd, level, opt, &mut b) }?;
    Ok(i32::from_ne_bytes(b))
}

/// Sets a boolean socket option (an integer 0 or 1 to the kernel).
pub fn setsockopt_bool(fd: BorrowedFd<'_>, level: u32, opt: u32, v: bool) -> Result<(), Errno> {
    setsockopt_int(fd, level, opt, i32::from(v))
}

/// A boolean socket option.
pub fn getsockopt_bool(fd: BorrowedFd<'_>, level: u32, opt: u32) -> Result<bool, Errno> {
    getsockopt_int(fd, level, opt).map(|v| v != 0)
}

/// Sets a `timeval` socket option such as `SO_RCVTIMEO` (Go's `SetsockoptTimeval`); `None`
/// is zero, "no timeout" to the kernel.
pub fn setsockopt_timeval(
    fd: BorrowedFd<'_>,
    level: u32,
    opt: u32,
    d: Option<Duration>,
) -> Result<(), Errno> {
    let d = d.unwrap_or_default();
    // `struct timeval`: seconds, then microseconds, both i64.
    let mut tv = [0u8; 16];
    tv[..8].copy_from_slice(&(d.as_secs().min(i64::MAX as u64) as i64).to_ne_bytes());
    tv[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    // SAFETY: 16 bytes, the second word under 10^6. The options that write through an address
    // in their value take larger ones (`XDP_UMEM_REG`: 24 bytes); those that take 16 only read
    // through the second word (`SO_ATTACH_FILTER`'s program): the first MiB of address space,
    // where nothing is mapped unless the program asked for that address.
    unsafe { setsockopt(fd, level, opt, &tv) }
}

/// A `timeval` socket option; zero is `None`.
pub fn getsockopt_timeval(
    fd: BorrowedFd<'_>,
    level: u32,
    opt: u32,
) -> Result<Option<Duration>, Errno> {
    let mut tv = [0u8; 16];
    // SAFETY: all zero, as in `getsockopt_int`.
    unsafe { getsockopt(fd, level, opt, &mut tv) }?;
    let half = |b: &[u8]| i64::from_ne_bytes(b.try_into().unwrap_or_default());
    let (sec, usec) = (half(&tv[..8]), half(&tv[8..]));
    let d = Duration::new(sec.max(0) as u64, (usec.clamp(0, 999_999) * 1000) as u32);
    Ok((!d.is_zero()).then_some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for a in [
            "127.0.0.1:80",
            "0.0.0.0:0",
            "255.1.2.3:65535",
            "[::1]:8080",
            "[fe80::1%3]:9",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(socket_addr(&sockaddr(&a)), Ok(a));
        }
        assert_eq!(
            socket_addr(&zeroed::<SockaddrStorage>()),
            Err(Errno::EAFNOSUPPORT)
        );
        assert_eq!(sockaddr_un(b"a\0b").err(), Some(Errno::EINVAL));
        assert_eq!(sockaddr_un(b"").err(), Some(Errno::EINVAL));
        assert_eq!(sockaddr_un(&[b'x'; 108]).err(), Some(Errno::ENAMETOOLONG));
    }
}
