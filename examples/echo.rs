//! An echo server on `goro::net`, one goroutine per connection, and a load client in a second
//! process, on loopback.
//!
//! ```text
//! cargo run --release --example echo -- [CONNECTIONS] [ROUND_TRIPS_EACH]   (default 1000 100)
//! ```
//!
//! The server prints the round trips per second, its peak thread count and peak resident
//! memory. `echo client ADDR CONNECTIONS ROUND_TRIPS_EACH` is the client's own mode.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use goro::net::{TcpListener, TcpStream};

const MSG: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::new() };
    if args.first().map(String::as_str) == Some("client") {
        let addr: SocketAddr = args[1].parse().expect("an address");
        let (conns, rounds) = (num(2, 1000), num(3, 100));
        rt.run(move || client(addr, conns, rounds));
        return;
    }
    let (conns, rounds) = (num(0, 1000), num(1, 100));
    let (elapsed, threads) = rt.run(move || server(conns, rounds));
    let rate = (conns * rounds) as f64 / elapsed.as_secs_f64();
    println!(
        "{conns} connections x {rounds} round trips of {MSG} bytes: {rate:.0} round trips/s, \
         peak {threads} threads, peak RSS {} KiB",
        status("VmHWM:")
    );
}

/// Accepts `conns` connections from a client process and echoes on each in its own goroutine;
/// returns the time from the first accept to the last connection's end, and the peak thread
/// count seen meanwhile.
fn server(conns: usize, rounds: usize) -> (std::time::Duration, u64) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("address");
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .args([
            "client",
            &addr.to_string(),
            &conns.to_string(),
            &rounds.to_string(),
        ])
        .spawn()
        .expect("the client process");
    let wg = goro::WaitGroup::new();
    let mut start = None;
    for _ in 0..conns {
        let (mut c, _) = l.accept().expect("accept");
        start.get_or_insert_with(Instant::now);
        wg.go(move || {
            let mut buf = [0u8; MSG];
            while c.read_exact(&mut buf).is_ok() {
                if c.write_all(&buf).is_err() {
                    break;
                }
            }
        });
    }
    let mut peak = status("Threads:");
    let watcher = goro::spawn(move || {
        for _ in 0..100 {
            peak = peak.max(status("Threads:"));
            goro::sleep(std::time::Duration::from_millis(10));
        }
        peak
    });
    wg.wait();
    let elapsed = start.map_or_else(Default::default, |s| s.elapsed());
    let status = goro::blocking(|| child.wait()).expect("wait for the client");
    assert!(status.success(), "the client failed: {status}");
    (elapsed, watcher.join().unwrap_or(0))
}

/// `conns` connections, one goroutine each, `rounds` round trips of `MSG` bytes.
fn client(addr: SocketAddr, conns: usize, rounds: usize) {
    let wg = goro::WaitGroup::new();
    for _ in 0..conns {
        wg.go(move || {
            let mut c = TcpStream::connect(addr).expect("connect");
            c.set_nodelay(true).expect("nodelay");
            let mut buf = [7u8; MSG];
            for _ in 0..rounds {
                c.write_all(&buf).expect("write");
                c.read_exact(&mut buf).expect("read");
            }
        });
    }
    wg.wait();
}

/// A field of `/proc/self/status` (kB or a count).
fn status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with(key))?;
            l.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
