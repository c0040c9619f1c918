//! The scheduler seen from outside: parallelism, many goroutines, stealing, migration,
//! channels, panics, stack overflow. Every test runs under a watchdog.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::watchdog;
use goro::{Runtime, WaitGroup, chan};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// Go's TestGoroutineParallelism: P goroutines take turns on a counter, each waiting for its
/// turn without yielding. That finishes only if all of them run at the same time.
#[test]
fn goroutines_run_in_parallel() {
    watchdog(30, "parallel turn-taking", || {
        for procs in [2, 3] {
            let rt = rt(procs);
            rt.run(move || {
                let x = Arc::new(AtomicUsize::new(0));
                let hs: Vec<_> = (0..procs)
                    .map(|i| {
                        let x = x.clone();
                        goro::spawn(move || {
                            for round in 0..200 {
                                let want = round * procs + i;
                                while x.load(Ordering::Acquire) != want {
                                    std::hint::spin_loop();
                                }
                                x.store(want + 1, Ordering::Release);
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
                assert_eq!(x.load(Ordering::Relaxed), 200 * procs);
            });
        }
    });
}

#[test]
fn a_hundred_thousand_goroutines() {
    watchdog(120, "100,000 goroutines", || {
        for procs in [1, 2, 4] {
            let rt = rt(procs);
            let stats = rt.run(|| {
                let hs: Vec<_> = (0..100_000u64)
                    .map(|i| goro::spawn(move || i * 3))
                    .collect();
                let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                assert_eq!(sum, 3 * (100_000 * 99_999 / 2));
                // A joined goroutine's result is in before its exit is counted.
                let t = std::time::Instant::now();
                while goro::stats().unwrap().live_goroutines > 1 && t.elapsed().as_secs() < 5 {
                    goro::yield_now();
                }
                goro::stats().unwrap()
            });
            assert_eq!(stats.live_goroutines, 1, "only main is left (P = {procs})");
            assert!(
                stats.pooled_stacks <= stats.pooled_stacks_bound,
                "{stats:?}"
            );
            assert!(stats.threads >= 1);
            // `join` returns once the result is in; the goroutine's exit follows at once.
            let t = std::time::Instant::now();
            while rt.stats().live_goroutines != 0 && t.elapsed().as_secs() < 5 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert_eq!(rt.stats().live_goroutines, 0, "main has finished too");
        }
    });
}

#[test]
fn idle_ps_steal_from_a_loaded_one() {
    watchdog(60, "work stealing", || {
        let rt = rt(2);
        rt.run(|| {
            // Spawned on this P, fewer than its run queue holds (so none spills to the global
            // queue); each spins ~200 us without yielding. The other P gets work only by
            // stealing it.
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    goro::spawn(|| {
                        let t = std::time::Instant::now();
                        while t.elapsed() < std::time::Duration::from_micros(200) {
                            std::hint::spin_loop();
                        }
                        goro::syscall::gettid()
                    })
                })
                .collect();
            let tids: std::collections::HashSet<i32> =
                hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(tids.len() >= 2, "all ran on one thread");
        });
        let s = rt.stats();
        assert!(s.steals > 0 && s.stolen >= s.steals, "{s:?}");
    });
}

#[test]
fn goroutines_migrate_and_the_runtime_always_knows_its_m() {
    // Each goroutine yields until it has seen itself move between threads 50 times, checking
    // after every resume that the runtime's current M is the thread it runs on. The release
    // and LTO builds are where a thread-local address cached across the switch would show.
    watchdog(120, "migration", || {
        let rt = rt(2);
        let checks = rt.run(|| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    goro::spawn(|| {
                        let (mut moves, mut checks) = (0, 0u64);
                        let mut last = goro::syscall::gettid();
                        while moves < 50 {
                            goro::yield_now();
                            // The runtime's view first: asking it may take the goroutine to
                            // another thread (if sysmon preempted it by handoff just now), but
                            // nothing moves it between the answer and `gettid`.
                            let m_tid = goro::__private::current_m_tid();
                            let tid = goro::syscall::gettid();
                            assert_eq!(m_tid, Some(tid), "the runtime's M is not this thread");
                            checks += 1;
                            moves += usize::from(tid != last);
                            last = tid;
                        }
                        checks
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert!(checks >= 400);
    });
}

#[test]
fn channels_deliver_every_value_exactly_once() {
    watchdog(60, "channels", || {
        for cap in [0, 1, 64] {
            let rt = rt(4);
            rt.run(move || {
                let (tx, rx) = chan::<u64>(cap);
                let (out_tx, out_rx) = chan::<Vec<u64>>(16);
                let senders = 8u64;
                let per = 2000u64;
                for s in 0..senders {
                    let tx = tx.clone();
                    goro::spawn(move || (0..per).for_each(|i| tx.send(s * per + i).unwrap()));
                }
                drop(tx); // the last sender's drop closes the channel
                for _ in 0..6 {
                    let (rx, out_tx) = (rx.clone(), out_tx.clone());
                    goro::spawn(move || {
                        let got: Vec<u64> = rx.into_iter().collect();
                        out_tx.send(got).unwrap();
                    });
                }
                drop((rx, out_tx));
                let mut all: Vec<u64> = out_rx.into_iter().flatten().collect();
                all.sort_unstable();
                assert_eq!(all, (0..senders * per).collect::<Vec<_>>(), "cap {cap}");
            });
        }
    });
}

#[test]
fn close_wakes_every_waiter() {
    watchdog(30, "close", || {
        let rt = rt(2);
        rt.run(|| {
            let (tx, rx) = chan::<u32>(0);
            let wg = WaitGroup::new();
            let woke = Arc::new(AtomicUsize::new(0));
            let started = Arc::new(AtomicUsize::new(0));
            for _ in 0..50 {
                let (rx, wg, woke, started) =
                    (rx.clone(), wg.clone(), woke.clone(), started.clone());
                wg.add(1);
                goro::spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(rx.recv(), None);
                    woke.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            // Let them all reach `recv` and block (the watchdog bounds this), then close.
            while started.load(Ordering::Relaxed) < 50 {
                goro::yield_now();
            }
            for _ in 0..10 {
                goro::yield_now();
            }
            tx.close();
            wg.wait();
            assert_eq!(woke.load(Ordering::Relaxed), 50);

            // Blocked senders get their values back when the channel closes or loses its
            // receivers.
            let (tx, rx) = chan::<u32>(0);
            let hs: Vec<_> = (0..10)
                .map(|i| {
                    let tx = tx.clone();
                    goro::spawn(move || tx.send(i))
                })
                .collect();
            goro::yield_now();
            drop(rx);
            let mut back: Vec<u32> = hs
                .into_iter()
                .map(|h| h.join().unwrap().unwrap_err().0)
                .collect();
            back.sort_unstable();
            assert_eq!(back, (0..10).collect::<Vec<_>>());
        });
    });
}

#[test]
fn channels_between_threads_and_goroutines() {
    watchdog(30, "threads and goroutines", || {
        let rt = rt(2);
        let (tx, rx) = chan::<u32>(0);
        let h = rt.spawn(move || rx.into_iter().sum::<u32>());
        let t = std::thread::spawn(move || (1..=100).for_each(|i| tx.send(i).unwrap()));
        t.join().unwrap();
        assert_eq!(h.join().unwrap(), 5050);
    });
}

#[test]
fn panics_go_to_join_and_the_runtime_keeps_running() {
    watchdog(30, "panics", || {
        let rt = rt(2);
        rt.run(|| {
            let h = goro::spawn(|| -> u32 { panic!("boom in a goroutine") });
            let err = h.join().unwrap_err();
            assert_eq!(err.downcast_ref::<&str>(), Some(&"boom in a goroutine"));
            assert_eq!(goro::spawn(|| 7).join().unwrap(), 7, "still running");
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.run(|| panic!("main panics"))
        }));
        assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"main panics"));
        assert_eq!(rt.run(|| 1 + 1), 2, "and the runtime still works");
    });
}

/// The child side of `stack_overflow_is_reported`.
#[test]
fn overflow_child() {
    if std::env::var_os("GORO_OVERFLOW_CHILD").is_none() {
        return;
    }
    #[inline(never)]
    fn deep(n: u64) -> u64 {
        let pad = std::hint::black_box([n; 64]);
        if n == u64::MAX {
            0
        } else {
            deep(n + 1) + pad[3]
        }
    }
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe {
        goro::Runtime::builder()
            .max_procs(1)
            .stack_size(64 * 1024)
            .build()
    }
    .run(|| deep(0));
}

#[test]
fn stack_overflow_is_reported() {
    overflow_is_reported("");
}

/// The same with the guard pages of older kernels (`mprotect` rather than guard markers).
#[test]
fn stack_overflow_is_reported_with_mprotect_guards() {
    overflow_is_reported("mprotect");
}

fn overflow_is_reported(guard: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "overflow_child", "--nocapture"])
        .env("GORO_OVERFLOW_CHILD", "1")
        .env("GORO_STACK_GUARD", guard)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let line = err
        .lines()
        .find(|l| l.contains("stack overflow"))
        .unwrap_or_else(|| panic!("no report in: {err}"));
    assert!(
        line.starts_with("goroutine ") && line.ends_with(" stack overflow"),
        "{line}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(6), "ends in abort");
}

#[test]
fn ids_and_procs() {
    watchdog(10, "ids", || {
        assert_eq!(goro::current(), None);
        let rt = rt(3);
        let (a, b, p) = rt.run(|| {
            let a = goro::current().unwrap();
            let b = goro::spawn(goro::current).join().unwrap().unwrap();
            (a, b, goro::max_procs())
        });
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(p, 3);
    });
}

goro::local! {
    static MINE: std::cell::Cell<u64> = std::cell::Cell::new(0);
    static DROPS: Counted = Counted;
}

/// Counts its drops in a global.
struct Counted;
static DROPPED: AtomicU64 = AtomicU64::new(0);
impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// `goro::local!` values belong to the goroutine: each sees its own across yields that move it
/// between threads, and they are dropped when it ends, before `join` returns.
#[test]
fn goroutine_locals_move_with_their_goroutine() {
    watchdog(30, "goroutine locals", || {
        rt(2).run(|| {
            let before = DROPPED.load(Ordering::Relaxed);
            let hs: Vec<_> = (1..=64u64)
                .map(|id| {
                    goro::spawn(move || {
                        DROPS.with(|_| ());
                        MINE.with(|m| m.set(id));
                        for _ in 0..50 {
                            goro::yield_now();
                            assert_eq!(MINE.with(|m| m.get()), id, "another goroutine's value");
                            MINE.with(|m| m.set(id));
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(DROPPED.load(Ordering::Relaxed) - before, 64);
            assert_eq!(MINE.with(|m| m.get()), 0, "the main goroutine has its own");
        });
    });
}

/// The watchdogs' snapshot names each P with its status and each M with its thread.
#[test]
fn the_sched_dump_shows_ps_and_ms() {
    let dump = watchdog(30, "sched dump", || {
        rt(2).run(|| {
            let tid = goro::syscall::gettid();
            (goro::__private::sched_dump(), tid)
        })
    });
    let (d, tid) = dump;
    assert!(d.contains("procs=2"), "{d}");
    assert!(d.contains("P1: "), "{d}");
    assert!(
        d.contains(&format!("m-tid={tid} ")) && d.contains(&format!("M tid={tid}: p=Some(")),
        "the caller's P is running on its M: {d}"
    );
}

/// A result that counts its drops.
struct Tally(Arc<AtomicUsize>);

impl Drop for Tally {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The goroutine and its `JoinHandle` share the task: whichever lets go last frees it, and the
/// result is dropped exactly once in every order (handle dropped before or after the end,
/// joined before or after it).
#[test]
fn every_result_is_dropped_once_whoever_goes_last() {
    watchdog(30, "join and drop orders", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        rt(2).run(move || {
            let ended = |h: &goro::JoinHandle<Tally>| {
                while !h.is_finished() {
                    goro::yield_now();
                }
            };
            // Dropped while the goroutine waits: the goroutine frees the task.
            let (tx, rx) = chan::<()>(0);
            let dd = d.clone();
            drop(goro::spawn(move || {
                rx.recv().unwrap();
                Tally(dd)
            }));
            tx.send(()).unwrap();
            // Dropped after it ended: the handle frees it.
            let dd = d.clone();
            let h = goro::spawn(move || Tally(dd));
            ended(&h);
            drop(h);
            // Joined before it ends (the joiner parks), and after.
            let (tx, rx) = chan::<()>(0);
            let dd = d.clone();
            let h = goro::spawn(move || {
                rx.recv().unwrap();
                Tally(dd)
            });
            let t = goro::spawn(move || tx.send(()).unwrap());
            drop(h.join().unwrap());
            t.join().unwrap();
            let dd = d.clone();
            let h = goro::spawn(move || Tally(dd));
            ended(&h);
            drop(h.join().unwrap());
        });
        // The first goroutine may still be ending on the other P.
        while drops.load(Ordering::Relaxed) < 4 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    });
}

/// A plain thread joining a goroutine that has not ended parks until it does.
#[test]
fn a_thread_joins_a_running_goroutine() {
    watchdog(30, "thread join", || {
        let rt = rt(2);
        let (tx, rx) = chan::<u64>(0);
        let h = rt.spawn(move || rx.recv().unwrap() + 1);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            rt.spawn(move || tx.send(41).unwrap()).join().unwrap();
            rt
        });
        assert_eq!(h.join().unwrap(), 42);
        drop(t.join().unwrap());
    });
}
