//! `goro::net` and `goro::io` on the runtime's poller, with Go's `net` tests ported where they
//! apply (`TestTCPServer`, `TestCloseRead`, `TestCloseWrite`, the deadline tests,
//! `TestUDPServer`, `TestUnixAndUnixpacketServer`), and the poller's own cases: closing under a
//! waiter, a peer reset, an fd number reused under a waiting goroutine, bad input, and many
//! connections on few threads (in child processes, so the thread count is the runtime's).
//! Loopback only; every test runs under a watchdog.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::watchdog;
use goro::io::PollFd;
use goro::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use goro::{Runtime, WaitGroup};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

const MS: Duration = Duration::from_millis(1);

/// An echo server on `l`: one goroutine per connection, until the listener's accept fails.
fn serve_echo(l: TcpListener) {
    goro::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            goro::spawn(move || {
                let mut buf = [0u8; 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => c.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
}

/// Go's TestTCPServer: several clients at once against one echo server, on IPv4 and (where the
/// host has it) IPv6 loopback.
#[test]
fn go_tcp_server() {
    watchdog(60, "TestTCPServer", || {
        rt(2).run(|| {
            for addr in ["127.0.0.1:0", "[::1]:0"] {
                let Ok(l) = TcpListener::bind(addr) else {
                    continue; // no IPv6 here
                };
                let addr = l.local_addr().unwrap();
                serve_echo(l);
                let wg = WaitGroup::new();
                for i in 0..16u8 {
                    wg.go(move || {
                        let mut c = TcpStream::connect(addr).unwrap();
                        c.set_nodelay(true).unwrap();
                        assert!(c.nodelay().unwrap());
                        assert_eq!(c.peer_addr().unwrap(), addr);
                        for round in 0..50u8 {
                            let msg = [i, round, 7, 9];
                            c.write_all(&msg).unwrap();
                            let mut got = [0u8; 4];
                            c.read_exact(&mut got).unwrap();
                            assert_eq!(got, msg);
                        }
                    });
                }
                wg.wait();
            }
        })
    });
}

/// Go's TestTCPListener close/accept race: a goroutine blocked in `accept` wakes with an
/// error when the listener is shut down under it, over and over.
#[test]
fn accept_wakes_when_the_listener_shuts_down() {
    watchdog(60, "accept vs shutdown", || {
        rt(2).run(|| {
            for i in 0..50 {
                let l = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
                let l2 = l.clone();
                let h = goro::spawn(move || l2.accept().map(|_| ()));
                if i % 2 == 0 {
                    goro::sleep(MS); // sometimes parked already, sometimes not yet
                }
                goro::syscall::shutdown(l.as_fd(), goro::syscall::SHUT_RDWR).unwrap();
                assert!(
                    h.join().unwrap().is_err(),
                    "accept after shutdown succeeded"
                );
            }
        })
    });
}

/// Go's TestCloseRead and TestCloseWrite: after `shutdown(Read)` reads see the end; after
/// the peer's `shutdown(Write)` too, while writes still go the other way; writing after one's
/// own `shutdown(Write)` fails.
#[test]
fn go_close_read_and_close_write() {
    watchdog(30, "TestCloseRead/TestCloseWrite", || {
        rt(2).run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let server = goro::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = Vec::new();
                c.read_to_end(&mut buf).unwrap(); // the client's shutdown(Write)
                c.write_all(&buf).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                assert!(c.write(b"x").is_err(), "write after shutdown(Write)");
                buf
            });
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"hello").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            assert_eq!(back, b"hello");
            assert_eq!(server.join().unwrap(), b"hello");
            // CloseRead on a live connection: reads see the end at once.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let _peer = l.accept().unwrap();
            c.shutdown(Shutdown::Read).unwrap();
            assert_eq!(c.read(&mut [0u8; 4]).unwrap(), 0);
        })
    });
}

/// Go's deadline tests, on std's timeouts: a read with nothing to read fails with `TimedOut`
/// after about its timeout, a later read with data succeeds, and a zero timeout is refused.
#[test]
fn go_read_and_write_timeouts() {
    watchdog(30, "timeouts", || {
        rt(2).run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).unwrap();
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(50 * MS)).unwrap();
            assert_eq!(s.read_timeout().unwrap(), Some(50 * MS));
            let t = Instant::now();
            let e = s.read(&mut [0u8; 8]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            let took = t.elapsed();
            assert!(took >= 50 * MS && took < 5 * 1000 * MS, "{took:?}");
            // The expired deadline does not stay: data read now.
            (&c).write_all(b"ok").unwrap();
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"ok");
            assert_eq!(
                s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
            // Writes block once the buffers are full; the write timeout ends them.
            c.set_write_timeout(Some(50 * MS)).unwrap();
            let chunk = vec![0u8; 1 << 16];
            let e = loop {
                if let Err(e) = (&c).write(&chunk) {
                    break e;
                }
            };
            assert_eq!(e.kind(), ErrorKind::TimedOut);
        })
    });
}

/// Go's persistent deadlines on a `PollFd`: one in the past fails a wait at once; one set
/// while a goroutine waits wakes it; cleared, the wait sees data again.
#[test]
fn poll_fd_deadlines() {
    watchdog(30, "PollFd deadlines", || {
        rt(2).run(|| {
            let (r, mut w) = goro::pipe().unwrap();
            let pf = r.poll_fd();
            pf.set_read_deadline(Some(Instant::now() - Duration::from_secs(1)));
            assert_eq!(pf.readable().unwrap_err().kind(), ErrorKind::TimedOut);
            pf.set_read_deadline(None);
            let (r, mut w2) = goro::pipe().unwrap();
            let r = Arc::new(r);
            let r2 = r.clone();
            let t = Instant::now();
            let waiter = goro::spawn(move || r2.poll_fd().readable());
            goro::sleep(20 * MS);
            r.poll_fd()
                .set_read_deadline(Some(Instant::now() + 30 * MS));
            let e = waiter.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            assert!(t.elapsed() >= 50 * MS);
            r.poll_fd().set_read_deadline(None);
            w2.write_all(b"x").unwrap();
            r.poll_fd().readable().unwrap();
            w.write_all(b"y").unwrap();
        })
    });
}

/// Go's TestUDPServer: datagrams echoed back to their sender, through `recv_from` and
/// `send_to`, and through a connected socket's `send` and `recv`.
#[test]
fn go_udp_server() {
    watchdog(30, "TestUDPServer", || {
        rt(2).run(|| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = s.local_addr().unwrap();
            let server = goro::spawn(move || {
                let mut buf = [0u8; 64];
                for _ in 0..20 {
                    let (n, from) = s.recv_from(&mut buf).unwrap();
                    s.send_to(&buf[..n], from).unwrap();
                }
            });
            let c = UdpSocket::bind("127.0.0.1:0").unwrap();
            c.connect(addr).unwrap();
            assert_eq!(c.peer_addr().unwrap(), addr);
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for i in 0..20u8 {
                c.send(&[i; 10]).unwrap();
                let mut b = [0u8; 64];
                assert_eq!(c.recv(&mut b).unwrap(), 10);
                assert_eq!(b[..10], [i; 10]);
            }
            server.join().unwrap();
        })
    });
}

/// Go's TestUnixAndUnixpacketServer (stream part), and Unix datagrams with their senders'
/// addresses.
#[test]
fn go_unix_server_and_datagrams() {
    watchdog(30, "Unix sockets", || {
        let dir = common::TempDir::new();
        let path = dir.0.join("echo.sock");
        let dpath = dir.0.join("dgram.sock");
        rt(2).run(move || {
            let l = UnixListener::bind(&path).unwrap();
            assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
            goro::spawn(move || {
                for c in l.incoming() {
                    let mut c = c.unwrap();
                    goro::spawn(move || {
                        let mut b = [0u8; 16];
                        while let Ok(n @ 1..) = c.read(&mut b) {
                            c.write_all(&b[..n]).unwrap();
                        }
                    });
                }
            });
            let wg = WaitGroup::new();
            for i in 0..8u8 {
                let path = path.clone();
                wg.go(move || {
                    let mut c = UnixStream::connect(&path).unwrap();
                    for _ in 0..20 {
                        c.write_all(&[i; 3]).unwrap();
                        let mut b = [0u8; 3];
                        c.read_exact(&mut b).unwrap();
                        assert_eq!(b, [i; 3]);
                    }
                });
            }
            wg.wait();

            let d = UnixDatagram::bind(&dpath).unwrap();
            let c = UnixDatagram::unbound().unwrap();
            let h = goro::spawn(move || {
                let mut b = [0u8; 8];
                let (n, from) = d.recv_from(&mut b).unwrap();
                (b[..n].to_vec(), from.is_unnamed())
            });
            goro::sleep(5 * MS);
            c.send_to(b"dgram", &dpath).unwrap();
            assert_eq!(h.join().unwrap(), (b"dgram".to_vec(), true));
            let (a, b) = UnixStream::pair().unwrap();
            (&a).write_all(b"pair").unwrap();
            let mut got = [0u8; 4];
            (&b).read_exact(&mut got).unwrap();
            assert_eq!(&got, b"pair");
        })
    });
}

/// Closing under a waiter: `PollFd::close` (Go's `Close`) wakes a goroutine blocked reading
/// with an error, and a socket shut down under a reader gives it the end of the stream.
#[test]
fn closing_wakes_a_blocked_reader() {
    watchdog(30, "close under a reader", || {
        rt(2).run(|| {
            let (r, _w) = goro::pipe().unwrap();
            let r = Arc::new(r);
            let r2 = r.clone();
            let h = goro::spawn(move || {
                r2.poll_fd()
                    .read_with(|_| Err::<(), _>(std::io::Error::from(ErrorKind::WouldBlock)))
            });
            goro::sleep(10 * MS);
            r.poll_fd().close();
            assert_eq!(
                h.join().unwrap().unwrap_err().kind(),
                ErrorKind::NotConnected
            );
            assert!(r.poll_fd().readable().is_err(), "a wait after close");

            let (a, _b) = UnixStream::pair().unwrap();
            let a = Arc::new(a);
            let a2 = a.clone();
            let h = goro::spawn(move || (&*a2).read(&mut [0u8; 8]));
            goro::sleep(10 * MS);
            a.shutdown(Shutdown::Both).unwrap();
            assert_eq!(h.join().unwrap().unwrap(), 0);
        })
    });
}

/// A peer that resets the connection (linger 0): the blocked reader gets `ConnectionReset`.
#[test]
fn peer_reset() {
    watchdog(30, "peer reset", || {
        rt(2).run(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let h = goro::spawn(move || s.read(&mut [0u8; 8]));
            goro::sleep(10 * MS);
            let linger = goro::syscall::Linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: `Linger` is two plain ints.
            let bytes = unsafe {
                std::slice::from_raw_parts((&raw const linger).cast::<u8>(), size_of_val(&linger))
            };
            // SAFETY: a `struct linger` holds no address.
            unsafe {
                goro::syscall::setsockopt(
                    c.as_fd(),
                    goro::syscall::SOL_SOCKET,
                    goro::syscall::SO_LINGER,
                    bytes,
                )
            }
            .unwrap();
            drop(c);
            assert_eq!(
                h.join().unwrap().unwrap_err().kind(),
                ErrorKind::ConnectionReset
            );
        })
    });
}

/// A descriptor number we close behind the registration's back (the test owns it).
struct Raw(i32);
impl AsFd for Raw {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the test keeps the number open while it is used through this (see below).
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

/// An fd closed and its number reused under a waiting goroutine: the new descriptor's
/// events wake its own waiter, never the old one, which ends at its deadline.
#[test]
fn reused_fd_number_never_wakes_the_old_waiter() {
    watchdog(30, "fd reuse", || {
        rt(2).run(|| {
            let (mut r1, _w1) = goro::syscall::pipe2(0).unwrap();
            let n = r1.as_raw_fd();
            let old = Arc::new(PollFd::new(Raw(n)).unwrap());
            old.set_read_deadline(Some(Instant::now() + 300 * MS));
            let old2 = old.clone();
            let waiter = goro::spawn(move || old2.readable());
            goro::sleep(20 * MS);
            // The old pipe closed and its number reused, at once (other tests open
            // descriptors concurrently, so a plain close and reopen might not get it back).
            let (r2, w2) = goro::syscall::pipe2(0).unwrap();
            goro::syscall::dup3(r2.as_fd(), &mut r1, 0).unwrap();
            drop(r2);
            assert_eq!(r1.as_raw_fd(), n);
            let new = PollFd::new(r1).unwrap();
            goro::syscall::write(w2.as_fd(), b"x").unwrap();
            new.readable().unwrap();
            assert_eq!(
                waiter.join().unwrap().unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            // Either order: each registration names a duplicate of its own.
            drop(new);
            drop(old);
        })
    });
}

/// Bad input gives an error, never a crash or a hang.
#[test]
fn bad_input_is_an_error() {
    watchdog(30, "bad input", || {
        rt(1).run(|| {
            assert!(TcpListener::bind("256.0.0.1:0").is_err());
            assert!(TcpStream::connect("no-such-host.invalid:80").is_err());
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            drop(l);
            let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
            // An IPv6 destination for an IPv4 socket.
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            let v6: SocketAddr = "[::1]:9".parse().unwrap();
            assert!(u.send_to(b"x", v6).is_err());
            assert!(UnixStream::connect("/no/such/dir/sock").is_err());
            assert!(UnixListener::bind("x".repeat(200)).is_err());
            // A regular file cannot be polled; a closed descriptor cannot be registered.
            let f = std::fs::File::open("/proc/self/status").unwrap();
            assert!(PollFd::new(f).is_err());
            assert!(PollFd::new(common::bad_fd()).is_err());
        })
    });
}

/// An empty Unix socket path, as in std: `bind` gets an abstract name of the kernel's choosing
/// (a different one each time), `connect` and `send_to` are `InvalidInput`. The address was
/// sent at its full size, which names the abstract socket whose name is 107 NUL bytes: every
/// `bind("")` took that one name (a second failed with `AddrInUse`), and `connect("")` or
/// `send_to(.., "")` reached whoever held it, in any process of the network namespace.
#[test]
fn empty_unix_paths_as_std() {
    use std::os::unix::net as sn;
    watchdog(30, "empty Unix paths", || {
        rt(1).run(|| {
            let name = |a: std::os::unix::net::SocketAddr| {
                use std::os::linux::net::SocketAddrExt;
                a.as_abstract_name().map(<[u8]>::to_vec)
            };
            let (a, b) = (
                UnixListener::bind("").unwrap(),
                UnixListener::bind("").unwrap(),
            );
            let (na, nb) = (name(a.local_addr().unwrap()), name(b.local_addr().unwrap()));
            assert!(na.is_some() && na != nb, "{na:?} {nb:?}");
            assert!(
                na.unwrap().iter().any(|&c| c != 0),
                "a name the kernel picked"
            );
            let d = UnixDatagram::bind("").unwrap();
            assert!(name(d.local_addr().unwrap()).is_some());
            let kind = |r: std::io::Result<()>| r.map_err(|e| e.kind());
            let std_kind = kind(sn::UnixStream::connect("").map(drop));
            assert_eq!(std_kind, Err(ErrorKind::InvalidInput));
            assert_eq!(kind(UnixStream::connect("").map(drop)), std_kind);
            let u = UnixDatagram::unbound().unwrap();
            assert_eq!(kind(u.send_to(b"x", "").map(drop)), std_kind);
            assert_eq!(kind(u.connect("")), std_kind);
        })
    });
}

/// The same calls on a plain thread block the thread.
#[test]
fn plain_threads_block() {
    watchdog(30, "plain threads", || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).unwrap();
            c.write_all(&b).unwrap();
            let _ = wait.recv(); // keeps the connection open
        });
        let mut c = TcpStream::connect(addr).unwrap();
        std::thread::sleep(20 * MS);
        c.write_all(b"plain").unwrap();
        let mut b = [0u8; 5];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"plain");
        c.set_read_timeout(Some(30 * MS)).unwrap();
        assert_eq!(c.read(&mut b).unwrap_err().kind(), ErrorKind::TimedOut);
        drop(done);
        t.join().unwrap();
        // Conversions to and from std's types.
        let s: std::net::TcpStream = c.into();
        let c = TcpStream::from(s);
        assert_eq!(c.peer_addr().unwrap(), addr);
    });
}

// ---- many connections on few threads, in child processes ----

/// Environment variables of the child roles.
const ROLE: &str = "GORO_NET_ROLE";
const CONNS: &str = "GORO_NET_CONNS";
const ADDR: &str = "GORO_NET_ADDR";
const ROUNDS: usize = 10;

/// Runs this test binary's test `name` alone in a child process with `env`.
fn child(name: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--include-ignored",
        "--test-threads=1",
        "--nocapture",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Runs the `#[ignore]`d test `name` in a child process with `env`, and asserts it passed.
fn child_passes(name: &str, env: &[(&str, String)]) {
    let status = child(name, env).wait().unwrap();
    assert!(status.success(), "{name} failed: {status}");
}

/// The process's thread count.
fn threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line[8..].trim().parse().unwrap()
}

/// The names of the process's threads, for a failure message.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

fn many_connections(n: usize) {
    child_passes(
        "echo_server_child",
        &[(ROLE, "server".into()), (CONNS, n.to_string())],
    );
}

/// 2,000 concurrent loopback connections, one goroutine each, on GOMAXPROCS + 4 threads at
/// most (the clients run in a process of their own).
#[test]
fn two_thousand_connections_on_few_threads() {
    watchdog(120, "2,000 connections", || many_connections(2_000));
}

/// The same with 10,000 connections (needs `RLIMIT_NOFILE` above 10,000): run with
/// `cargo test --release --test net -- --ignored ten_thousand`.
#[test]
#[ignore]
fn ten_thousand_connections_on_few_threads() {
    watchdog(300, "10,000 connections", || many_connections(10_000));
}

/// The server role: accepts every connection, echoes on each in its own goroutine, and
/// checks the thread count while all are open.
#[test]
#[ignore]
fn echo_server_child() {
    if std::env::var(ROLE).as_deref() != Ok("server") {
        return;
    }
    let n: usize = std::env::var(CONNS).unwrap().parse().unwrap();
    let procs = 2;
    let before = threads();
    let peak = rt(procs).run(move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut client = child(
            "echo_client_child",
            &[
                (ROLE, "client".into()),
                (CONNS, n.to_string()),
                (ADDR, addr.to_string()),
            ],
        );
        let wg = WaitGroup::new();
        let mut peak = (0, Vec::new(), None);
        for i in 0..n {
            let (mut c, _) = l.accept().unwrap();
            wg.go(move || {
                let mut b = [0u8; 64];
                for _ in 0..ROUNDS {
                    c.read_exact(&mut b).unwrap();
                    c.write_all(&b).unwrap();
                }
            });
            if i % 256 == 0 && threads() > peak.0 {
                peak = (threads(), thread_names(), goro::stats());
            }
        }
        for _ in 0..20 {
            if threads() > peak.0 {
                peak = (threads(), thread_names(), goro::stats());
            }
            goro::sleep(5 * MS);
        }
        wg.wait();
        assert!(
            goro::blocking(|| client.wait()).unwrap().success(),
            "the clients failed"
        );
        peak
    });
    let ours = peak.0 - before;
    assert!(
        ours <= procs + 4,
        "{ours} runtime threads for {n} connections: {:?}\nthe runtime then: {:?}",
        peak.1,
        peak.2
    );
    println!("{n} connections: {ours} runtime threads (GOMAXPROCS {procs})");
}

/// The client role: `n` connections, one goroutine each, `ROUNDS` 64-byte round trips.
#[test]
#[ignore]
fn echo_client_child() {
    if std::env::var(ROLE).as_deref() != Ok("client") {
        return;
    }
    let n: usize = std::env::var(CONNS).unwrap().parse().unwrap();
    let addr: SocketAddr = std::env::var(ADDR).unwrap().parse().unwrap();
    rt(2).run(move || {
        let wg = WaitGroup::new();
        for _ in 0..n {
            wg.go(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let mut b = [7u8; 64];
                for _ in 0..ROUNDS {
                    c.write_all(&b).unwrap();
                    c.read_exact(&mut b).unwrap();
                }
            });
        }
        wg.wait();
    });
}

/// `goro::syscall`'s typed socket options read back what they set.
#[test]
fn typed_socket_options() {
    use goro::syscall::{self as sc, SO_RCVTIMEO, SO_REUSEADDR, SOL_SOCKET};
    let s = sc::socket(sc::AF_INET, sc::SOCK_STREAM | sc::SOCK_CLOEXEC, 0).unwrap();
    let fd = s.as_fd();
    sc::setsockopt_bool(fd, SOL_SOCKET, SO_REUSEADDR, true).unwrap();
    assert!(sc::getsockopt_bool(fd, SOL_SOCKET, SO_REUSEADDR).unwrap());
    sc::setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 0).unwrap();
    assert_eq!(sc::getsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR).unwrap(), 0);
    let d = Duration::from_millis(1500);
    sc::setsockopt_timeval(fd, SOL_SOCKET, SO_RCVTIMEO, Some(d)).unwrap();
    assert_eq!(
        sc::getsockopt_timeval(fd, SOL_SOCKET, SO_RCVTIMEO).unwrap(),
        Some(d)
    );
    sc::setsockopt_timeval(fd, SOL_SOCKET, SO_RCVTIMEO, None).unwrap();
    assert_eq!(
        sc::getsockopt_timeval(fd, SOL_SOCKET, SO_RCVTIMEO).unwrap(),
        None
    );
    assert!(sc::getsockopt_int(common::bad_fd(), SOL_SOCKET, SO_REUSEADDR).is_err());
}

// ---- runtimes dropped with goroutines left, in a child process ----

/// Runtimes the child drops with a goroutine left: more than the kernel's 500 wakeup paths.
const ABANDONED: usize = 520;

/// A runtime dropped with a goroutine left stays allocated for good (something may still
/// ready that goroutine), and used to keep its poller's own epoll set holding the process's.
/// The kernel counts each such set as a wakeup path on every `EPOLL_CTL_ADD` to the process's
/// set and refuses the add past 500 with `EINVAL`: after about 2,000 soak rounds (a quarter
/// of them abandon a runtime) `PollFd::new` failed with "Invalid argument". A dropped runtime
/// must take its set out of the process's.
#[test]
fn dropped_runtimes_leave_the_poller() {
    watchdog(120, "abandoned runtimes", || {
        child_passes("abandoned_runtimes_child", &[(ROLE, "abandon".into())]);
    });
}

/// The child: drops [`ABANDONED`] runtimes, each with a goroutine parked on a channel, then
/// registers a pipe with the poller.
#[test]
#[ignore]
fn abandoned_runtimes_child() {
    use linux_raw_sys::general::RLIMIT_NOFILE;
    if std::env::var(ROLE).as_deref() != Ok("abandon") {
        return;
    }
    // Each abandoned runtime kept its two descriptors (now closed once its Ms have exited).
    let mut lim = goro::syscall::getrlimit(RLIMIT_NOFILE).unwrap();
    if (lim.rlim_cur as usize) < 4 * ABANDONED {
        lim.rlim_cur = lim.rlim_max;
        goro::syscall::setrlimit(RLIMIT_NOFILE, &lim).unwrap();
    }
    let mut senders = Vec::new();
    for _ in 0..ABANDONED {
        let (tx, rx) = goro::chan::<()>(0);
        rt(1).run(move || {
            drop(goro::spawn(move || {
                let _ = rx.recv();
            }));
            goro::yield_now();
        });
        senders.push(tx); // the goroutine stays parked
    }
    rt(1).run(|| {
        let (mut r, mut w) = goro::pipe().expect("a pipe registered with the poller");
        let reader = goro::spawn(move || {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map(|()| b)
        });
        goro::sleep(MS);
        w.write_all(b"ok").unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"ok");
    });
    drop(senders);
}

// ---- runtimes sharing the poller, in a child process (its state is the process's) ----

/// How many of the process's epoll sets hold another epoll set: none while one runtime uses
/// the poller (its Ms block in the process's set itself), one per runtime while several do.
fn nested_sets() -> usize {
    let is_epoll = |fd: &str| {
        std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|l| l.to_string_lossy() == "anon_inode:[eventpoll]")
    };
    let mut n = 0;
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let fd = e.unwrap().file_name().into_string().unwrap();
        if !is_epoll(&fd) {
            continue;
        }
        // Gone meanwhile (another runtime's set): not ours to count.
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
            continue;
        };
        let targets = info.lines().filter_map(|l| l.strip_prefix("tfd:"));
        if targets
            .filter_map(|t| t.split_whitespace().next())
            .any(is_epoll)
        {
            n += 1;
        }
    }
    n
}

/// In a runtime: `rounds` pipe round trips with a goroutine, each after a short sleep. The
/// sleeper's M finds the other M blocked in the poller with no deadline (the echo goroutine
/// waits for its pipe), so the sleep's timer is a break of that poll; lost, the sleep would
/// last until sysmon noticed the timer overdue, or for ever once sysmon sleeps deeply.
fn poller_rounds(rounds: usize) {
    let (mut ar, mut aw) = goro::pipe().unwrap();
    let (mut br, mut bw) = goro::pipe().unwrap();
    let echo = goro::spawn(move || {
        let mut b = [0u8; 1];
        for _ in 0..rounds {
            br.read_exact(&mut b).unwrap();
            aw.write_all(&b).unwrap();
        }
    });
    for i in 0..rounds {
        let t = Instant::now();
        goro::sleep(MS);
        let slept = t.elapsed();
        assert!(
            slept < Duration::from_secs(2),
            "a 1 ms sleep took {slept:?}"
        );
        bw.write_all(&[i as u8]).unwrap();
        let mut b = [0u8; 1];
        ar.read_exact(&mut b).unwrap();
        assert_eq!(b[0], i as u8);
    }
    echo.join().unwrap();
}

/// Runtimes share the process's poller: one alone blocks in the process's set, nests no set,
/// and its breaks (timers) and I/O reach it; several at once, joining while others' Ms block
/// in the poller (which makes the one alone nest) and ending at staggered times, each get
/// their own; runtimes ending with an M blocked in the poller and a goroutine parked on a
/// descriptor end (their M leaves the set), and a runtime started after all have ended is
/// alone again.
#[test]
fn runtimes_share_the_poller() {
    watchdog(120, "runtimes sharing the poller", || {
        child_passes("shared_poller_child", &[(ROLE, "share".into())]);
    });
}

/// The child of [`runtimes_share_the_poller`].
#[test]
#[ignore]
fn shared_poller_child() {
    if std::env::var(ROLE).as_deref() != Ok("share") {
        return;
    }
    rt(2).run(|| {
        poller_rounds(20);
        assert_eq!(
            nested_sets(),
            0,
            "a runtime alone blocks through a set of its own"
        );
    });
    // Two at once, both past the barrier: each blocks through a set holding the process's.
    let both = Arc::new(std::sync::Barrier::new(2));
    let pair: Vec<_> = (0..2)
        .map(|i| {
            let both = both.clone();
            std::thread::spawn(move || {
                rt(1 + i).run(move || {
                    poller_rounds(10);
                    both.wait();
                    assert_eq!(nested_sets(), 2, "two runtimes, not both nested");
                    both.wait();
                    poller_rounds(10);
                })
            })
        })
        .collect();
    pair.into_iter().for_each(|h| h.join().unwrap());
    for round in 0..10u32 {
        let started: Vec<_> = (0..4u32)
            .map(|i| {
                std::thread::spawn(move || {
                    // Staggered: some join while others idle in the poller.
                    std::thread::sleep(MS * (3 * i + round % 3));
                    rt(1 + i as usize % 2).run(move || {
                        poller_rounds(5 + 5 * i as usize);
                        if i == 0 {
                            // Ends with its M in the poller and a goroutine parked there.
                            let (mut r, w) = goro::pipe().unwrap();
                            drop(goro::spawn(move || {
                                let _keep = w;
                                let _ = r.read(&mut [0u8; 1]);
                            }));
                            goro::sleep(5 * MS);
                        }
                    })
                })
            })
            .collect();
        started.into_iter().for_each(|h| h.join().unwrap());
    }
    rt(1).run(|| {
        poller_rounds(20);
        assert_eq!(nested_sets(), 0, "alone again after the others ended");
    });
}

/// The runtime serves goroutines the poller readied newest first, but none waits past the
/// network queue's age bound (300 ms, `runtime/netq.rs`) while newer ones are served: on one
/// P, a goroutine's socket becomes readable, then 32 pairs of goroutines start bouncing a
/// byte over Unix socket pairs, each bounce readying a fresh goroutine. Served newest first
/// without the bound, the first goroutine (and most of the pairs) waited until the bouncing
/// stopped, 3 s later.
#[test]
fn fresh_readiness_does_not_starve_older() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    watchdog(60, "network queue age bound", || {
        rt(1).run(|| {
            let (mut v, mut w) = UnixStream::pair().unwrap();
            let waited = Arc::new(std::sync::Mutex::new(None));
            let start = Arc::new(std::sync::Mutex::new(None::<Instant>));
            let wg = WaitGroup::new();
            let (waited2, start2) = (waited.clone(), start.clone());
            wg.go(move || {
                let mut x = [0u8; 1];
                v.read_exact(&mut x).unwrap();
                *waited2.lock().unwrap() = Some(start2.lock().unwrap().unwrap().elapsed());
            });
            goro::time::sleep(20 * MS); // until it waits
            *start.lock().unwrap() = Some(Instant::now());
            w.write_all(&[1]).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            for _ in 0..32 {
                let (mut a, mut b) = UnixStream::pair().unwrap();
                let stop = stop.clone();
                wg.go(move || {
                    let mut x = [0u8; 1];
                    while !stop.load(Relaxed) {
                        a.write_all(&x).unwrap();
                        a.read_exact(&mut x).unwrap();
                    }
                    // Dropping `a` ends the peer's loop.
                });
                wg.go(move || {
                    let mut x = [0u8; 1];
                    while b.read_exact(&mut x).is_ok() && b.write_all(&x).is_ok() {}
                });
            }
            // The bouncing stops on its own, so the test ends with or without the bound.
            goro::time::sleep(3000 * MS);
            stop.store(true, Relaxed);
            wg.wait();
            let waited = waited.lock().unwrap().unwrap();
            assert!(
                waited < 1500 * MS,
                "a goroutine readied by the poller waited {waited:?} while newer ones ran"
            );
        })
    });
}
