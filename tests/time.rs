//! `goro::sleep` and `goro::time`, with Go's own tests ported (`time/sleep_test.go`,
//! `tick_test.go`) where they apply without `select` (its tests come with it), and the
//! scheduler's side: many sleepers on few threads, timers while every P is in a system call,
//! timers on plain threads. Every test runs under a watchdog.

mod common;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::watchdog;
use goro::time::{Ticker, Timer, after, after_fn, tick};
use goro::{Runtime, WaitGroup, chan, sleep};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

const MS: Duration = Duration::from_millis(1);

/// Go's TestSleep (without `Interrupt`, which has no goro counterpart): a sleep lasts at
/// least its duration, while another goroutine sleeps half as long beside it.
#[test]
fn go_sleep() {
    watchdog(30, "TestSleep", || {
        rt(2).run(|| {
            goro::spawn(|| sleep(50 * MS));
            let start = Instant::now();
            sleep(100 * MS);
            let slept = start.elapsed();
            assert!(slept >= 100 * MS, "sleep(100ms) slept for only {slept:?}");
        });
    });
}

/// Go's TestAfter: the channel fires no sooner than asked, and the time it carries is no
/// earlier than that either.
#[test]
fn go_after() {
    watchdog(30, "TestAfter", || {
        rt(2).run(|| {
            let start = Instant::now();
            let end = after(100 * MS).recv().unwrap();
            assert!(start.elapsed() >= 100 * MS);
            assert!(
                end >= start + 100 * MS,
                "After(100ms) fired at {:?}",
                end - start
            );
        });
    });
}

/// Go's TestAfterTick: ten `after`s in a row take between 0.9 and 3 times their sum. Never
/// less, in any attempt (a timer never fires early); the upper bound, which a loaded machine
/// can stretch any sleep past, must hold in one of five attempts (Go's rule for its timing
/// tests, as in `testAfterStop`: report only five failures in a row).
#[test]
fn go_after_tick() {
    watchdog(30, "TestAfterTick", || {
        rt(2).run(|| {
            let delta = 10 * MS;
            let mut slow = Vec::new();
            for _ in 0..5 {
                let t0 = Instant::now();
                for _ in 0..10 {
                    after(delta).recv().unwrap();
                }
                let d = t0.elapsed();
                assert!(d >= delta * 9, "10 ticks of {delta:?} too fast: {d:?}");
                if d <= delta * 30 {
                    return;
                }
                slow.push(d);
            }
            panic!("10 ticks of {delta:?} too slow five times in a row: {slow:?}");
        });
    });
}

/// Go's TestAfterFunc: a function that re-arms itself with `after_fn(0)` ten times, each run
/// in a goroutine of its own (which then sleeps a second: the next run must not wait for it).
#[test]
fn go_after_func() {
    watchdog(30, "TestAfterFunc", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<bool>(0);
            let i = Arc::new(AtomicUsize::new(10));
            fn f(i: Arc<AtomicUsize>, tx: goro::Sender<bool>) {
                if i.fetch_sub(1, Ordering::SeqCst) > 0 {
                    let (i2, tx2) = (i.clone(), tx.clone());
                    after_fn(Duration::ZERO, move || f(i2.clone(), tx2.clone()));
                    sleep(Duration::from_secs(1));
                } else {
                    tx.send(true).unwrap();
                }
            }
            let t0 = Instant::now();
            let (i2, tx2) = (i.clone(), tx.clone());
            after_fn(Duration::ZERO, move || f(i2.clone(), tx2.clone()));
            assert_eq!(rx.recv(), Some(true));
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the runs waited for each other"
            );
        });
    });
}

/// Go's TestTickerStress and TestTickerConcurrentStress: a 1 ns ticker read 100 times, by one
/// goroutine and by ten at once, while another goroutine sleeps 1 ns in a loop.
#[test]
fn go_ticker_stress() {
    watchdog(30, "TestTickerStress", || {
        rt(4).run(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            goro::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    sleep(Duration::from_nanos(1));
                }
            });
            let ticker = Ticker::new(Duration::from_nanos(1));
            for _ in 0..100 {
                ticker.receiver().recv().unwrap();
            }
            let ticker = Arc::new(ticker);
            let wg = WaitGroup::new();
            for _ in 0..10 {
                let (t, wg) = (ticker.clone(), wg.clone());
                wg.add(1);
                goro::spawn(move || {
                    for _ in 0..100 {
                        t.receiver().recv().unwrap();
                    }
                    wg.done();
                });
            }
            wg.wait();
            ticker.stop();
            stop.store(true, Ordering::Relaxed);
        });
    });
}

/// Go's TestTicker: a ticker's first half of ticks, then a reset to twice the period for the
/// second half, take about the expected time (Go's bounds: 0.5x to 1.5x, tried with a short
/// and a long period).
#[test]
fn go_ticker() {
    watchdog(60, "TestTicker", || {
        rt(2).run(|| {
            let mut errs = Vec::new();
            for (count, delta) in [(10u32, 20 * MS), (8, Duration::from_secs(1))] {
                let ticker = Ticker::new(delta);
                let t0 = Instant::now();
                for _ in 0..count / 2 {
                    ticker.receiver().recv().unwrap();
                }
                ticker.reset(delta * 2);
                for _ in count / 2..count {
                    ticker.receiver().recv().unwrap();
                }
                ticker.stop();
                let dt = t0.elapsed();
                let target = delta * 3 * count / 2;
                let (lo, hi) = (target / 2, target * 3 / 2);
                if dt >= lo && dt <= hi {
                    return;
                }
                errs.push(format!(
                    "{count} {delta:?} ticks then {count} {:?} ticks took {dt:?}, expected \
                     [{lo:?},{hi:?}]",
                    delta * 2
                ));
            }
            panic!("{errs:?}");
        });
    });
}

/// Go's TestReset and TestStopResult/TestResetResult: `stop` and `reset` report whether the
/// timer was active, and a reset timer fires at its new time.
#[test]
fn go_reset_and_stop_results() {
    watchdog(30, "TestReset", || {
        rt(2).run(|| {
            let t = Timer::new(Duration::from_secs(3600));
            assert!(t.stop(), "a pending timer's stop reports true");
            assert!(!t.stop(), "stopped twice");
            assert!(!t.reset(10 * MS), "reset of a stopped timer reports false");
            // The value received is the time the timer was due (Go's): 20 ms after the reset.
            let armed = Instant::now();
            assert!(t.reset(20 * MS), "reset of a pending timer reports true");
            let fired = t.receiver().unwrap().recv().unwrap();
            assert!(fired >= armed + 20 * MS, "fired at the old time");
            assert!(!t.stop(), "a fired timer is not active");
        });
    });
}

/// Waits until `t` has fired and nobody has received: its value waits on the channel. A
/// timer due at once has fired 2 ms later on a quiet machine; a loaded one may take longer to
/// run it.
fn fired(t: &Timer) {
    while t.receiver().unwrap().is_empty() {
        sleep(MS);
    }
}

/// Go 1.23's guarantee (TestChan's core): after `stop` or `reset` returns, no value from
/// before is on the channel, even when the timer had already fired and nobody received.
#[test]
fn no_stale_value_after_stop_or_reset() {
    watchdog(30, "no stale timer values", || {
        rt(2).run(|| {
            for _ in 0..20 {
                let t = Timer::new(Duration::ZERO);
                fired(&t);
                let reset_at = Instant::now();
                // Fired, not received: still active to reset (Go 1.23), which drains it.
                assert!(t.reset(5 * MS), "a fired, unreceived timer is active");
                let v = t.receiver().unwrap().recv().unwrap();
                assert!(v >= reset_at, "a stale value survived the reset");

                let t = Timer::new(Duration::ZERO);
                fired(&t);
                t.stop();
                let reset_at = Instant::now();
                t.reset(Duration::ZERO);
                let v = t.receiver().unwrap().recv().unwrap();
                assert!(v >= reset_at, "a stale value survived the stop");
            }
        });
    });
}

/// Go 1.23's results: a timer that has fired but whose value nobody has received is still
/// active to `stop` and `reset` (they drain the value, and report `true`), so Go's classic
/// `if !t.Stop() { <-t.C }` never waits for ever, on a timer that fired unseen or not. They
/// reported `false` after draining the value, and that idiom's receive then waited for ever.
/// Measured against Go 1.27: `NewTimer(0)`, sleep, `Stop()` is `true`, as is `Reset`; after
/// the value was received, `Stop()` is `false`.
#[test]
fn an_unreceived_fire_counts_as_active() {
    watchdog(30, "stop and reset of a timer that fired unseen", || {
        rt(2).run(|| {
            let t = Timer::new(Duration::ZERO);
            fired(&t);
            assert!(t.stop(), "stop of a fired, unreceived timer");
            assert!(t.receiver().unwrap().is_empty(), "stop drained the value");

            let t = Timer::new(Duration::ZERO);
            fired(&t);
            assert!(
                t.reset(Duration::from_secs(3600)),
                "reset of a fired, unreceived timer"
            );
            assert!(t.stop());

            let t = Timer::new(Duration::ZERO);
            t.receiver().unwrap().recv().unwrap();
            assert!(!t.stop(), "stop of a timer whose value was received");

            // Go's pre-1.23 idiom, on timers that fired unseen and on pending ones.
            for d in [Duration::ZERO, Duration::from_secs(3600)] {
                let t = Timer::new(d);
                if d.is_zero() {
                    fired(&t);
                }
                if !t.stop() {
                    t.receiver().unwrap().recv().unwrap();
                }
                assert!(!t.reset(MS), "stopped");
                t.receiver().unwrap().recv().unwrap();
            }
        });
    });
}

/// A ticker whose receiver is slow drops ticks rather than queueing them (Go's behaviour).
#[test]
fn a_slow_ticker_receiver_gets_no_backlog() {
    watchdog(30, "ticker drops ticks", || {
        rt(2).run(|| {
            let t = tick(MS);
            sleep(50 * MS);
            let first = t.recv().unwrap();
            let second = t.recv().unwrap();
            assert!(
                second >= first + MS / 2,
                "ticks were queued: {:?} apart",
                second - first
            );
        });
    });
}

/// Go's TestOverflowSleep: a sleep and an `after` of the largest duration neither return nor
/// fire, and do not keep other timers from firing.
#[test]
fn go_overflow_sleep() {
    watchdog(30, "TestOverflowSleep", || {
        rt(2).run(|| {
            let returned = Arc::new(AtomicBool::new(false));
            let r = returned.clone();
            goro::spawn(move || {
                sleep(Duration::MAX);
                r.store(true, Ordering::SeqCst);
            });
            let big = after(Duration::MAX);
            after(25 * MS).recv().unwrap();
            assert!(!returned.load(Ordering::SeqCst), "a huge sleep returned");
            drop(big);
        });
    });
}

/// 20,000 goroutines each sleeping a random 1-10 ms in a loop all finish, parked on timers
/// rather than threads: at most GOMAXPROCS + 4 threads are started (the bound).
#[test]
fn twenty_thousand_sleepers_on_few_threads() {
    watchdog(120, "20,000 sleepers", || {
        let rt = rt(2);
        rt.run(|| {
            let wg = WaitGroup::new();
            let slept = Arc::new(AtomicU64::new(0));
            for i in 0..20_000u64 {
                let (wg, slept) = (wg.clone(), slept.clone());
                wg.add(1);
                goro::spawn(move || {
                    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for _ in 0..3 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        sleep(Duration::from_millis(1 + x % 10));
                        slept.fetch_add(1, Ordering::Relaxed);
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(slept.load(Ordering::Relaxed), 60_000);
        });
        let threads = rt.stats().threads;
        assert!(threads <= 2 + 4, "{threads} threads for 20,000 sleepers");
    });
}

/// sysmon's duty: a timer fires while every P is held by a goroutine blocked in a system
/// call, so no P looks for work until one is retaken.
#[test]
fn a_timer_fires_while_every_p_is_in_a_system_call() {
    watchdog(30, "timer during blocked system calls", || {
        rt(2).run(|| {
            let pipes: Vec<_> = (0..2).map(|_| goro::syscall::pipe().unwrap()).collect();
            let writers: Vec<_> = pipes
                .into_iter()
                .map(|(r, w)| {
                    goro::spawn(move || {
                        let mut b = [0u8; 1];
                        goro::syscall::read(r.as_fd(), &mut b).unwrap();
                    });
                    w
                })
                .collect();
            let start = Instant::now();
            sleep(20 * MS);
            let late = start.elapsed();
            for w in &writers {
                goro::syscall::write(w.as_fd(), b"x").unwrap();
            }
            assert!(
                late < Duration::from_secs(1),
                "the timer fired after {late:?}"
            );
        });
    });
}

/// sysmon's duty: a timer (a sleep's, a read deadline's) fires while every P is held by a
/// goroutine that computes without entering the runtime and nothing else waits in a run
/// queue. Only work in a run queue made sysmon end a long slice, so a due timer waited for
/// ever (the computing goroutines never reach the scheduler that runs it).
#[test]
fn a_timer_fires_while_every_p_runs_a_long_goroutine() {
    for procs in [1, 2] {
        watchdog(30, "timer during long-running goroutines", move || {
            rt(procs).run(move || {
                let stop = Arc::new(AtomicBool::new(false));
                let spinners: Vec<_> = (0..procs)
                    .map(|_| {
                        let stop = stop.clone();
                        goro::spawn(move || {
                            while !stop.load(Ordering::Relaxed) {
                                std::hint::spin_loop();
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                sleep(MS);
                let slept = start.elapsed();
                // A deadline's timer too: the read fails with a timeout.
                let (mut r, _w) = goro::pipe().unwrap();
                r.poll_fd().set_read_deadline(Some(Instant::now() + MS));
                let start = Instant::now();
                let read = std::io::Read::read(&mut r, &mut [0u8; 1]);
                let waited = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                spinners.into_iter().for_each(|h| h.join().unwrap());
                assert!(
                    slept < Duration::from_secs(1),
                    "{procs} P(s): the timer fired after {slept:?}"
                );
                assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
                assert!(
                    waited < Duration::from_secs(1),
                    "{procs} P(s): the deadline passed after {waited:?}"
                );
            });
        });
    }
}

/// Timers made on a plain thread fire too (on the process's timer thread), and `sleep`
/// sleeps the thread.
#[test]
fn timers_on_plain_threads() {
    watchdog(30, "plain-thread timers", || {
        let start = Instant::now();
        sleep(10 * MS);
        assert!(start.elapsed() >= 10 * MS);
        let fired = after(10 * MS).recv().unwrap();
        assert!(fired >= start + 20 * MS);
        let (tx, rx) = chan::<u32>(1);
        after_fn(5 * MS, move || {
            let _ = tx.send(7);
        });
        assert_eq!(rx.recv(), Some(7));
    });
}

/// A goroutine sleeping is not a deadlock: everything else waiting on it is fine.
#[test]
fn sleeping_goroutines_keep_the_program_alive() {
    watchdog(30, "sleep is not deadlock", || {
        rt(1).run(|| {
            let (tx, rx) = chan::<u32>(0);
            goro::spawn(move || {
                sleep(50 * MS);
                tx.send(1).unwrap();
            });
            assert_eq!(rx.recv(), Some(1));
        });
    });
}

/// `recv_timeout` and `send_timeout`: a value already there is taken at once, nothing within
/// the time is a `Timeout` (not early), a closed channel is `Closed`, and a value that could
/// not be sent comes back.
#[test]
fn channel_timeouts() {
    use goro::{RecvTimeoutError, SendTimeoutError};
    watchdog(30, "channel timeouts", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<u32>(1);
            let t = Instant::now();
            assert_eq!(rx.recv_timeout(20 * MS), Err(RecvTimeoutError::Timeout));
            assert!(t.elapsed() >= 20 * MS, "timed out early");
            tx.send(1).unwrap();
            assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(1));
            let t = Instant::now();
            assert_eq!(tx.send_timeout(2, 5 * MS), Ok(()), "room in the buffer");
            assert_eq!(
                tx.send_timeout(3, 20 * MS),
                Err(SendTimeoutError::Timeout(3))
            );
            assert!(t.elapsed() >= 20 * MS, "timed out early");
            // A receiver arriving in time gets the value.
            let rx2 = rx.clone();
            goro::spawn(move || {
                sleep(5 * MS);
                assert_eq!(rx2.recv(), Some(2));
                assert_eq!(rx2.recv(), Some(4));
            });
            assert_eq!(tx.send_timeout(4, Duration::from_secs(10)), Ok(()));
            // Closed while waiting.
            let (tx, rx) = chan::<u32>(0);
            goro::spawn(move || {
                sleep(5 * MS);
                drop(tx);
            });
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)),
                Err(RecvTimeoutError::Closed)
            );
        });
    });
}

/// `WaitGroup::go` counts each goroutine done however it ends, panics included.
#[test]
fn waitgroup_go() {
    watchdog(30, "WaitGroup::go", || {
        rt(2).run(|| {
            let wg = WaitGroup::new();
            let n = Arc::new(AtomicUsize::new(0));
            for i in 0..100 {
                let n = n.clone();
                wg.go(move || {
                    n.fetch_add(1, Ordering::Relaxed);
                    if i % 10 == 0 {
                        std::panic::panic_any("goro-test: expected panic");
                    }
                });
            }
            wg.wait();
            assert_eq!(n.load(Ordering::Relaxed), 100);
        });
    });
}

/// Timers armed in a runtime that is dropped before they fire still fire, on the thread that
/// runs plain-thread timers: the channel of `after` and of a `Timer`, a `Ticker`'s ticks, an
/// `after_fn` function (on a thread of its own, as outside any runtime), for the plain
/// threads that still hold them. They used to stay in the dropped runtime's heaps, where
/// nothing runs timers any more: a plain thread's `recv` on such a channel waited for ever.
#[test]
fn timers_outlive_their_runtime() {
    watchdog(60, "timers of a dropped runtime", || {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let runtime = rt(1);
        // A goroutine left waiting keeps the dropped runtime's memory alive for good: its
        // scheduler is still there, but runs nothing.
        let (keep, never) = chan::<u32>(0);
        runtime.spawn(move || never.recv());
        let (rx, timer, ticker, f) = runtime.run(move || {
            (
                after(50 * MS),
                Timer::new(60 * MS),
                Ticker::new(70 * MS),
                after_fn(80 * MS, move || r.store(true, Ordering::Release)),
            )
        });
        drop(runtime);
        let wait = Duration::from_secs(10);
        assert!(rx.recv_timeout(wait).is_ok(), "after");
        assert!(
            timer.receiver().unwrap().recv_timeout(wait).is_ok(),
            "Timer"
        );
        for _ in 0..2 {
            assert!(ticker.receiver().recv_timeout(wait).is_ok(), "Ticker");
        }
        let start = Instant::now();
        while !ran.load(Ordering::Acquire) && start.elapsed() < wait {
            std::thread::sleep(MS);
        }
        assert!(ran.load(Ordering::Acquire), "after_fn");
        assert!(!f.stop(), "it fired");
        ticker.stop();
        drop(keep);
    });
}
