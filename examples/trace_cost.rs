//! What the execution trace costs while on, by CPU time rather than wall time (which a shared
//! machine makes too noisy to resolve a few nanoseconds): rounds with tracing off and on
//! alternate in one process, on one runtime, and the medians are compared.
//!
//! ```text
//! cargo run --release --example trace_cost -- [ROUNDS] [CALLS] [ROUND_TRIPS] [WRITES]
//!     (default 12 200000 100000 200)
//! ```
//!
//! - `syscall`: a goroutine makes `CALLS` `getpid`s through `goro::syscall::syscall` (two
//!   events each: enter, exit); the figure is its thread's CPU time per call.
//! - `pingpong`: `ROUND_TRIPS` round trips between two goroutines over unbuffered channels
//!   (six events each: unblock, block, start, twice); the figure is the process's CPU time
//!   (user + system) per round trip.
//! - `short-syscalls`: the harness's workload, 1000 goroutines each opening /dev/null and
//!   making `WRITES` one-byte `write`s to it, on 2 Ps; the figure is the process's CPU time
//!   per write.

/// short-syscalls' goroutines.
const TASKS: u64 = 1000;

use std::os::fd::AsFd;

mod measure;

use measure::{clock, median};

fn main() {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .map_or(d, |s| s.parse().expect("a number"))
    };
    let (rounds, calls, trips, writes) =
        (arg(1, 12), arg(2, 200_000), arg(3, 100_000), arg(4, 200));
    // SAFETY: no goroutine here keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
    let path = std::env::temp_dir().join(format!("goro-trace-cost-{}.json", std::process::id()));
    let (mut sys, mut pp, mut ss) = ([vec![], vec![]], [vec![], vec![]], [vec![], vec![]]);
    for round in 0..rounds * 2 {
        let on = round % 2 == 1;
        // Each workload its own trace, so each starts with the buffers `start` maps ahead.
        let traced = |f: &dyn Fn() -> f64| {
            if on {
                goro::trace::start(&path).unwrap();
            }
            let v = f();
            if on {
                goro::trace::stop().unwrap();
            }
            v
        };
        let per_call = traced(&|| {
            rt.run(move || {
                goro::spawn(move || {
                    let t = clock(libc::CLOCK_THREAD_CPUTIME_ID);
                    for _ in 0..calls {
                        // SAFETY: getpid takes no arguments and touches no memory.
                        let _ =
                            unsafe { goro::syscall::syscall(libc::SYS_getpid as usize, 0, 0, 0) };
                    }
                    (clock(libc::CLOCK_THREAD_CPUTIME_ID) - t) / calls as f64
                })
                .join()
                .unwrap()
            })
        });
        let per_trip = traced(&|| {
            rt.run(move || {
                let (a_tx, a_rx) = goro::chan::<u64>(0);
                let (b_tx, b_rx) = goro::chan::<u64>(0);
                let echo = goro::spawn(move || {
                    for v in a_rx {
                        b_tx.send(v + 1).unwrap();
                    }
                });
                let t = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
                let mut x = 0;
                for _ in 0..trips {
                    a_tx.send(x).unwrap();
                    x = b_rx.recv().unwrap();
                }
                let d = (clock(libc::CLOCK_PROCESS_CPUTIME_ID) - t) / trips as f64;
                drop(a_tx);
                echo.join().unwrap();
                d
            })
        });
        let per_write = traced(&|| {
            rt.run(move || {
                let t = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
                let hs: Vec<_> = (0..TASKS)
                    .map(|_| {
                        goro::spawn(move || {
                            let null = std::fs::File::options()
                                .write(true)
                                .open("/dev/null")
                                .unwrap();
                            for _ in 0..writes {
                                goro::syscall::write(null.as_fd(), b"x").unwrap();
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
                (clock(libc::CLOCK_PROCESS_CPUTIME_ID) - t) / (TASKS * writes) as f64
            })
        });
        sys[on as usize].push(per_call);
        ss[on as usize].push(per_write);
        pp[on as usize].push(per_trip);
    }
    let _ = std::fs::remove_file(&path);
    for (name, unit, [off, on]) in [
        ("syscall", "CPU ns/call", sys),
        ("pingpong", "CPU ns/round trip", pp),
        ("short-syscalls", "CPU ns/write", ss),
    ] {
        let (off, on) = (median(off), median(on));
        println!(
            "{name}: {unit}: tracing off {off:.1}, on {on:.1}: {:.2}x (+{:.1} ns), medians of {rounds}",
            on / off,
            on - off
        );
    }
}
