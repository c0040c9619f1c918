//! `goro::stats()` as a service exports it: goroutines, threads and Ps by state, the
//! stop-the-world count, the blocking system calls' histogram, and reading it from another
//! thread. Every test runs under a watchdog.

mod common;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{serial, watchdog};
use goro::syscall as sc;
use goro::{Runtime, Stats, SyscallHistogram};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// Polls `read` until `ok` holds of it (5 s at most), returning the last value.
fn until(read: impl Fn() -> Stats, ok: impl Fn(&Stats) -> bool) -> Stats {
    let t = Instant::now();
    loop {
        let s = read();
        if ok(&s) || t.elapsed() > Duration::from_secs(5) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One goroutine in a system call, one waiting on a channel, one computing, read from a
/// plain thread through a `StatsHandle`.
#[test]
fn states_of_goroutines_threads_and_ps() {
    let _serial = serial();
    watchdog(30, "states", || {
        let rt = rt(2);
        let handle = rt.stats_handle();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, w) = sc::pipe().unwrap();
        let (tx, rx) = goro::chan::<u32>(0);
        let reader = rt.spawn(move || {
            let mut b = [0u8; 1];
            sc::read(r.as_fd(), &mut b).unwrap()
        });
        let receiver = rt.spawn(move || rx.recv());
        let s2 = stop.clone();
        let spinner = rt.spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let s = until(
            || handle.stats().unwrap(),
            |s| {
                s.goroutines.syscall == 1
                    && s.goroutines.running == 1
                    && s.goroutines.waiting_by_reason == [("chan receive", 1)]
            },
        );
        stop.store(true, Ordering::Relaxed);
        sc::write(w.as_fd(), b"x").unwrap();
        drop(tx);
        reader.join().unwrap();
        receiver.join().unwrap();
        spinner.join().unwrap();
        let g = &s.goroutines;
        assert_eq!(
            (g.syscall, g.running, g.waiting, g.runnable),
            (1, 1, 1, 0),
            "{s:#?}"
        );
        assert_eq!(s.live_goroutines, 3, "{s:#?}");
        let t = &s.thread_states;
        assert_eq!(t.in_syscall, 1, "{s:#?}");
        assert!(
            t.with_p >= 1 && t.total >= t.with_p + t.in_syscall + t.idle,
            "{s:#?}"
        );
        assert_eq!(t.locked, 0);
        let p = &s.procs;
        assert_eq!(p.idle + p.running + p.syscall + p.stopped, 2, "{s:#?}");
        assert!(p.running >= 1, "the spinner's P: {s:#?}");
        drop(rt);
        assert!(handle.stats().is_none(), "a dropped runtime has no stats");
    });
}

/// A `read` that blocks ~50 ms lands in the histogram under `read`'s number, in the bucket
/// of the time it blocked: between the writer's write and the read's return as the reader saw
/// it (a loaded machine stretches the 50 ms either way, so the bounds are measured).
#[test]
fn blocking_syscalls_histogram() {
    let _serial = serial();
    watchdog(30, "histogram", || {
        let rt = rt(1);
        let (r, w) = sc::pipe().unwrap();
        let (start_tx, start_rx) = std::sync::mpsc::channel::<Instant>();
        let writer = std::thread::spawn(move || {
            let read_from = start_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let written = Instant::now();
            sc::write(w.as_fd(), b"x").unwrap();
            written - read_from
        });
        let null = std::fs::File::create("/dev/null").unwrap();
        let (s, read_took) = rt.run(move || {
            // Calls that keep their P are not timed.
            for _ in 0..1000 {
                sc::write(null.as_fd(), b"x").unwrap();
            }
            let mut b = [0u8; 1];
            let t = Instant::now();
            start_tx.send(t).unwrap();
            sc::read(r.as_fd(), &mut b).unwrap();
            (goro::stats().unwrap(), t.elapsed())
        });
        let blocked_at_least = writer.join().unwrap();
        let read = linux_raw_sys::general::__NR_read as usize;
        // A write to /dev/null that the kernel held up for a sysmon tick (a loaded machine)
        // is a blocked call too: only the read's entry is checked.
        let h: Vec<&SyscallHistogram> = s
            .blocking_syscalls
            .iter()
            .filter(|h| h.nr == read)
            .collect();
        assert_eq!(h.len(), 1, "{s:#?}");
        assert_eq!(h[0].count(), 1, "{h:?}");
        let i = h[0].buckets.iter().position(|&n| n == 1).unwrap();
        let (low, high) = SyscallHistogram::bucket_bounds(i);
        // The call entered the kernel within a few microseconds after `t`.
        let slack = Duration::from_millis(1);
        assert!(
            low <= read_took && high.unwrap() + slack > blocked_at_least,
            "a read that blocked between {blocked_at_least:?} and {read_took:?} counted in \
             [{low:?}, {high:?})"
        );
        assert!(s.retaken >= 1, "{s:#?}");
    });
}

#[test]
fn stop_the_worlds_are_counted() {
    let _serial = serial();
    watchdog(30, "stw", || {
        let rt = rt(2);
        let before = rt.stats().stop_the_worlds;
        rt.run(|| {
            goro::set_max_procs(3);
            goro::set_max_procs(2);
        });
        assert_eq!(rt.stats().stop_the_worlds - before, 2);
    });
}
