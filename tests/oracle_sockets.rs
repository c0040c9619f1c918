//! Sockets on success and on failure, against libc.

mod common;

use std::os::fd::{AsFd, AsRawFd};

use common::*;
use goro::syscall::{self as sc, Errno, Msghdr, Pod, SockaddrIn, SockaddrStorage, SockaddrUn};
use linux_raw_sys::general as k;
use linux_raw_sys::net as n;

fn unix_addr(path: &std::path::Path) -> SockaddrUn {
    let mut a = SockaddrUn {
        sun_family: n::AF_UNIX as u16,
        sun_path: [0; 108],
    };
    for (d, s) in a
        .sun_path
        .iter_mut()
        .zip(path.as_os_str().as_encoded_bytes())
    {
        *d = *s as _;
    }
    a
}

fn loopback(port: u16) -> SockaddrIn {
    // SAFETY: sockaddr_in is plain integers.
    let mut a: SockaddrIn = unsafe { std::mem::zeroed() };
    a.sin_family = n::AF_INET as u16;
    a.sin_port = port.to_be();
    a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    a
}

fn port_of(a: &SockaddrStorage) -> u16 {
    // SAFETY: an AF_INET address fits in the storage; both are plain data.
    let sin: SockaddrIn = unsafe { std::ptr::read((a as *const SockaddrStorage).cast()) };
    u16::from_be(sin.sin_port)
}

#[test]
fn socket_bind_listen_connect_accept() {
    assert_eq!(
        ours(sc::socket(n::AF_INET, n::SOCK_STREAM, 0)),
        fd_ok(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) })
    );
    assert_eq!(
        ours(sc::socket(9999, n::SOCK_STREAM, 0)),
        fd_ok(unsafe { libc::socket(9999, libc::SOCK_STREAM, 0) })
    );
    let l = sc::socket(n::AF_INET, n::SOCK_STREAM | k::O_CLOEXEC, 0).unwrap();
    assert_eq!(ours(sc::bind(l.as_fd(), &loopback(0))), Ok(0));
    let port = port_of(&sc::getsockname(l.as_fd()).unwrap());
    assert_ne!(port, 0);
    // Bound twice, and a listen on a datagram socket.
    let cl = loopback(0);
    assert_eq!(
        ours(sc::bind(l.as_fd(), &loopback(0))),
        lc(unsafe {
            libc::bind(
                l.as_raw_fd(),
                (&cl as *const SockaddrIn).cast(),
                size_of::<SockaddrIn>() as u32,
            )
        })
    );
    assert_eq!(
        ours(sc::listen(l.as_fd(), 16)),
        lc(unsafe { libc::listen(l.as_raw_fd(), 16) })
    );
    let u = sc::socket(n::AF_INET, n::SOCK_DGRAM, 0).unwrap();
    assert_eq!(
        ours(sc::listen(u.as_fd(), 16)),
        lc(unsafe { libc::listen(u.as_raw_fd(), 16) })
    );

    let c = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    assert_eq!(ours(sc::connect(c.as_fd(), &loopback(port))), Ok(0));
    let c2 = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    let ca = loopback(port);
    assert_eq!(
        lc(unsafe {
            libc::connect(
                c2.as_raw_fd(),
                (&ca as *const SockaddrIn).cast(),
                size_of::<SockaddrIn>() as u32,
            )
        }),
        Ok(0)
    );
    let (conn, peer) = sc::accept4(l.as_fd(), k::O_CLOEXEC).unwrap();
    assert_eq!(
        port_of(&peer),
        port_of(&sc::getsockname(c.as_fd()).unwrap())
    );
    let (conn2, _) = sc::accept(l.as_fd()).unwrap();
    assert_eq!(
        port_of(&sc::getpeername(conn.as_fd()).unwrap()),
        port_of(&peer)
    );
    // Failures: accept on a socket that is not listening, connect to a closed port,
    // getpeername of an unconnected socket.
    assert_eq!(
        sc::accept4(c.as_fd(), 0).map(|_| 0),
        lc(unsafe { libc::accept4(c.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), 0) })
            .map(|_| 0)
    );
    assert_eq!(
        sc::accept(u.as_fd()).map(|_| 0),
        lc(unsafe { libc::accept(u.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut()) })
            .map(|_| 0)
    );
    let free = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    sc::bind(free.as_fd(), &loopback(0)).unwrap();
    let closed_port = port_of(&sc::getsockname(free.as_fd()).unwrap());
    drop(free);
    let c3 = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    let c4 = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    let cp = loopback(closed_port);
    assert_eq!(
        ours(sc::connect(c3.as_fd(), &loopback(closed_port))),
        lc(unsafe {
            libc::connect(
                c4.as_raw_fd(),
                (&cp as *const SockaddrIn).cast(),
                size_of::<SockaddrIn>() as u32,
            )
        })
    );
    assert_eq!(
        sc::getpeername(u.as_fd()).map(|_| 0),
        lc(unsafe { libc::getpeername(u.as_raw_fd(), std::ptr::null_mut(), &mut 0) }).map(|_| 0)
    );
    assert_eq!(sc::getsockname(bad_fd()).map(|_| 0), Err(Errno::EBADF));

    // Data both ways, then shutdown.
    assert_eq!(ours(sc::send(c.as_fd(), b"ping", 0)), Ok(4));
    let mut buf = [0u8; 8];
    assert_eq!(ours(sc::recv(conn.as_fd(), &mut buf, 0)), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(
        ours(sc::shutdown(c.as_fd(), n::SHUT_WR)),
        lc(unsafe { libc::shutdown(c2.as_raw_fd(), libc::SHUT_WR) })
    );
    assert_eq!(
        ours(sc::recv(conn.as_fd(), &mut buf, 0)),
        Ok(0),
        "end of stream after shutdown"
    );
    assert_eq!(ours(sc::recv(conn2.as_fd(), &mut buf, 0)), Ok(0));
    assert_eq!(
        ours(sc::shutdown(u.as_fd(), n::SHUT_WR)),
        lc(unsafe { libc::shutdown(u.as_raw_fd(), libc::SHUT_WR) })
    );
    assert_eq!(
        ours(sc::send(u.as_fd(), b"x", 0)),
        lc(unsafe { libc::send(u.as_raw_fd(), b"x".as_ptr().cast(), 1, 0) } as i64)
    );
    assert_eq!(
        ours(sc::recv(l.as_fd(), &mut buf, 0)),
        lc(unsafe { libc::recv(l.as_raw_fd(), buf.as_mut_ptr().cast(), 8, 0) } as i64)
    );
}

#[test]
fn options() {
    let s = sc::socket(n::AF_INET, n::SOCK_STREAM, 0).unwrap();
    let one = 1i32.to_ne_bytes();
    assert_eq!(
        // SAFETY: an integer option holds no address.
        ours(unsafe { sc::setsockopt(s.as_fd(), n::SOL_SOCKET, n::SO_REUSEADDR, &one) }),
        lc(unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                one.as_ptr().cast(),
                4,
            )
        })
    );
    assert_eq!(
        // SAFETY: as above (no such level).
        ours(unsafe { sc::setsockopt(s.as_fd(), 9999, n::SO_REUSEADDR, &one) }),
        lc(unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                9999,
                libc::SO_REUSEADDR,
                one.as_ptr().cast(),
                4,
            )
        })
    );
    assert_eq!(
        // SAFETY: as above.
        ours(unsafe { sc::setsockopt(s.as_fd(), n::SOL_SOCKET, n::SO_REUSEADDR, &[1]) }),
        Err(Errno::EINVAL)
    );
    let mut v = [0u8; 4];
    let mut cv = [0u8; 4];
    let mut clen = 4u32;
    assert_eq!(
        // SAFETY: an all-zero value for an integer option.
        ours(unsafe { sc::getsockopt(s.as_fd(), n::SOL_SOCKET, n::SO_TYPE, &mut v) }),
        Ok(4)
    );
    assert_eq!(
        lc(unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                cv.as_mut_ptr().cast(),
                &mut clen,
            )
        }),
        Ok(0)
    );
    assert_eq!(v, cv);
    assert_eq!(i32::from_ne_bytes(v), n::SOCK_STREAM as i32);
    assert_eq!(
        // SAFETY: no such option.
        ours(unsafe { sc::getsockopt(s.as_fd(), n::SOL_SOCKET, 9999, &mut v) }),
        lc(unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                9999,
                cv.as_mut_ptr().cast(),
                &mut clen,
            )
        })
    );
}

#[test]
fn datagrams_and_pairs() {
    let d = TempDir::new();
    let a = sc::socket(n::AF_UNIX, n::SOCK_DGRAM, 0).unwrap();
    let b = sc::socket(n::AF_UNIX, n::SOCK_DGRAM, 0).unwrap();
    let (pa, pb) = (unix_addr(&d.join("a")), unix_addr(&d.join("b")));
    sc::bind(a.as_fd(), &pa).unwrap();
    sc::bind(b.as_fd(), &pb).unwrap();
    assert_eq!(ours(sc::sendto(a.as_fd(), b"hello", 0, Some(&pb))), Ok(5));
    assert_eq!(
        lc(unsafe {
            libc::sendto(
                a.as_raw_fd(),
                b"world".as_ptr().cast(),
                5,
                0,
                (&pb as *const SockaddrUn).cast(),
                size_of::<SockaddrUn>() as u32,
            )
        } as i64),
        Ok(5)
    );
    let mut buf = [0u8; 16];
    let (len, from) = sc::recvfrom(b.as_fd(), &mut buf, 0).unwrap();
    assert_eq!(&buf[..len], b"hello");
    // SAFETY: an AF_UNIX address fits in the storage.
    let from: SockaddrUn = unsafe { std::ptr::read((&from as *const SockaddrStorage).cast()) };
    assert_eq!(from.sun_path[..], pa.sun_path[..]);
    assert_eq!(
        ours(sc::recvfrom(b.as_fd(), &mut buf, 0).map(|r| r.0)),
        Ok(5)
    );
    // Failures: no destination; nothing to receive without blocking.
    let lone = sc::socket(n::AF_UNIX, n::SOCK_DGRAM, 0).unwrap();
    assert_eq!(
        ours(sc::sendto(lone.as_fd(), b"x", 0, None::<&SockaddrUn>)),
        lc(unsafe {
            libc::sendto(
                lone.as_raw_fd(),
                b"x".as_ptr().cast(),
                1,
                0,
                std::ptr::null(),
                0,
            )
        } as i64)
    );
    assert_eq!(
        sc::recvfrom(b.as_fd(), &mut buf, n::MSG_DONTWAIT).map(|r| r.0 as i64),
        lc(unsafe {
            libc::recvfrom(
                b.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                16,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        } as i64)
    );

    let (x, y) = sc::socketpair(n::AF_UNIX, n::SOCK_STREAM, 0).unwrap();
    let mut fds = [0i32; 2];
    assert_eq!(
        lc(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) }),
        Ok(0)
    );
    // SAFETY: the two new descriptors libc just made.
    unsafe {
        fds.iter().for_each(|&f| {
            libc::close(f);
        })
    };
    assert_eq!(
        sc::socketpair(n::AF_INET, n::SOCK_STREAM, 0).map(|_| 0),
        lc(unsafe { libc::socketpair(libc::AF_INET, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) })
    );

    // sendmsg / recvmsg with one iovec each.
    let mut out = *b"msg!";
    let mut iov = [libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: 4,
    }];
    let mut m = Msghdr::zeroed();
    m.msg_iov = iov.as_mut_ptr().cast();
    m.msg_iovlen = 1;
    // SAFETY: the header's only pointer is one iovec over a live buffer.
    assert_eq!(ours(unsafe { sc::sendmsg(x.as_fd(), &m, 0) }), Ok(4));
    let mut inb = [0u8; 8];
    let mut iov2 = [libc::iovec {
        iov_base: inb.as_mut_ptr().cast(),
        iov_len: 8,
    }];
    let mut m2 = Msghdr::zeroed();
    m2.msg_iov = iov2.as_mut_ptr().cast();
    m2.msg_iovlen = 1;
    // SAFETY: one iovec over a live, writable buffer.
    assert_eq!(ours(unsafe { sc::recvmsg(y.as_fd(), &mut m2, 0) }), Ok(4));
    assert_eq!(&inb[..4], b"msg!");
    let f = open_ro(&d.file("f", b""));
    // SAFETY: as above; the call fails before using the header.
    assert_eq!(
        ours(unsafe { sc::sendmsg(f.as_fd(), &m, 0) }),
        lc(unsafe { libc::sendmsg(f.as_raw_fd(), (&m as *const Msghdr).cast(), 0) } as i64)
    );
    // SAFETY: as above.
    assert_eq!(
        ours(unsafe { sc::recvmsg(f.as_fd(), &mut m2, 0) }),
        lc(unsafe { libc::recvmsg(f.as_raw_fd(), (&mut m2 as *mut Msghdr).cast(), 0) } as i64)
    );
    let _ = (&mut iov, &mut iov2);
}
