//! Adversarial checks of the safe API: every safe function is sound for every argument, and
//! bad input gets an error, never a crash, a hang or a write to memory the caller did not lend.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use goro::syscall::{self as sc, IPPROTO_TCP};

/// `TCP_ZEROCOPY_RECEIVE` (Linux 4.18; its copy buffer 5.11) reads addresses from the
/// option's value and writes the received bytes there, which is why the raw byte-level
/// `getsockopt` is `unsafe` (its doc test checks that it does not compile without). The safe
/// typed helpers pass all-zero values: the same option writes nothing and consumes nothing.
#[test]
fn an_option_that_writes_through_an_address_needs_unsafe() {
    const TCP_ZEROCOPY_RECEIVE: u32 = 35;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"not yours").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut one = [0u8; 1];
    assert_eq!(c.peek(&mut one).unwrap(), 1, "the bytes have arrived");

    // The safe helpers: the option sees only null addresses.
    let _ = sc::getsockopt_timeval(c.as_fd(), IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE);
    let _ = sc::getsockopt_int(c.as_fd(), IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE);
    let mut buf = [0u8; 16];
    assert_eq!(c.peek(&mut buf).unwrap(), 9, "nothing was consumed");
    c.read_exact(&mut buf[..9]).unwrap();
    assert_eq!(&buf[..9], b"not yours");
}
