//! `goro::sync` seen from outside: Go's `sync` tests (mutex_test.go, rwmutex_test.go,
//! cond_test.go, once_test.go) ported, plus goroutines and plain threads sharing a lock, a
//! lock held across a yield, and a semaphore's bound. Every test runs under a watchdog.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{nanosleep_resuming as sleep, watchdog};
use goro::sync::{Condvar, Mutex, Once, OnceLock, RwLock, Semaphore};
use goro::{Runtime, WaitGroup, chan};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// Go's HammerMutex: lock/unlock in a loop, every third round a `try_lock`.
fn hammer_mutex(m: &Mutex<u64>, loops: usize) {
    for i in 0..loops {
        if i % 3 == 0 {
            if let Some(mut g) = m.try_lock() {
                *g += 1;
            }
            continue;
        }
        *m.lock() += 1;
    }
}

/// Go's TestMutex: `try_lock` fails while locked, succeeds when free; then 10 goroutines
/// hammer one mutex. Also checks mutual exclusion through a plain (non-atomic) counter.
#[test]
fn mutex_try_lock_and_hammer() {
    watchdog(60, "TestMutex", || {
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                let m = Arc::new(Mutex::new(0u64));
                let g = m.lock();
                assert!(
                    m.try_lock().is_none(),
                    "try_lock succeeded with mutex locked"
                );
                drop(g);
                assert!(
                    m.try_lock().is_some(),
                    "try_lock failed with mutex unlocked"
                );

                let (tx, rx) = chan::<bool>(0);
                for _ in 0..10 {
                    let (m, tx) = (m.clone(), tx.clone());
                    goro::spawn(move || {
                        hammer_mutex(&m, 1000);
                        tx.send(true).unwrap();
                    });
                }
                for _ in 0..10 {
                    assert_eq!(rx.recv(), Some(true));
                }
                // Every lock()ed round counted (666 of 1000 each); try_lock rounds may add.
                let n = *m.lock();
                assert!((6660..=10_000).contains(&n), "count {n}");
            });
        }
    });
}

/// Go's TestMutexFairness: a goroutine that holds the mutex almost all the time (locking
/// again right after each unlock) must not starve another that wants it ten times.
#[test]
fn mutex_fairness() {
    watchdog(60, "TestMutexFairness", || {
        for procs in [1, 2] {
            rt(procs).run(move || {
                let mu = Arc::new(Mutex::new(()));
                let stop = Arc::new(AtomicBool::new(false));
                let start = Instant::now();
                // The hog gives up after 10 s (Go's `time.After`), so a starved waiter ends
                // in the assertion below rather than the watchdog.
                let hog = {
                    let (mu, stop) = (mu.clone(), stop.clone());
                    goro::spawn(move || {
                        while !stop.load(Ordering::Relaxed)
                            && start.elapsed() < Duration::from_secs(10)
                        {
                            let g = mu.lock();
                            sleep(Duration::from_micros(100));
                            drop(g);
                        }
                    })
                };
                let (done_tx, done_rx) = chan::<bool>(1);
                let mu2 = mu.clone();
                goro::spawn(move || {
                    for _ in 0..10 {
                        sleep(Duration::from_micros(100));
                        drop(mu2.lock());
                    }
                    done_tx.send(true).unwrap();
                });
                assert_eq!(done_rx.recv(), Some(true));
                let took = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                hog.join().unwrap();
                assert!(
                    took < Duration::from_secs(10),
                    "can't acquire Mutex in 10 seconds ({procs} procs: {took:?})"
                );
            });
        }
    });
}

/// Go's `reader`: activity counts readers in, plus 10000 per writer.
fn reader(rwm: &RwLock<()>, iterations: usize, activity: &AtomicI32) {
    for _ in 0..iterations {
        let g = rwm.read();
        let n = activity.fetch_add(1, Ordering::SeqCst) + 1;
        assert!((1..10_000).contains(&n), "wlock({n})");
        for _ in 0..100 {
            std::hint::black_box(());
        }
        activity.fetch_sub(1, Ordering::SeqCst);
        drop(g);
    }
}

/// Go's `writer`.
fn writer(rwm: &RwLock<()>, iterations: usize, activity: &AtomicI32) {
    for _ in 0..iterations {
        let g = rwm.write();
        let n = activity.fetch_add(10_000, Ordering::SeqCst) + 10_000;
        assert_eq!(n, 10_000, "wlock({n})");
        for _ in 0..100 {
            std::hint::black_box(());
        }
        activity.fetch_sub(10_000, Ordering::SeqCst);
        drop(g);
    }
}

/// Go's HammerRWMutex: two writers and `readers` readers, the second writer started halfway
/// through the readers.
fn hammer_rwmutex(procs: usize, readers: usize, iterations: usize) {
    rt(procs).run(move || {
        let rwm = Arc::new(RwLock::new(()));
        let activity = Arc::new(AtomicI32::new(0));
        let (tx, rx) = chan::<bool>(0);
        let spawn = |is_writer: bool| {
            let (rwm, activity, tx) = (rwm.clone(), activity.clone(), tx.clone());
            goro::spawn(move || {
                if is_writer {
                    writer(&rwm, iterations, &activity);
                } else {
                    reader(&rwm, iterations, &activity);
                }
                tx.send(true).unwrap();
            });
        };
        spawn(true);
        let mut i = 0;
        while i < readers / 2 {
            spawn(false);
            i += 1;
        }
        spawn(true);
        while i < readers {
            spawn(false);
            i += 1;
        }
        for _ in 0..2 + readers {
            assert_eq!(rx.recv(), Some(true));
        }
    });
}

/// Go's TestRWMutex: the try_ variants, then the hammer with several reader counts and
/// processor counts.
#[test]
fn rwmutex_try_and_hammer() {
    watchdog(120, "TestRWMutex", || {
        rt(1).run(|| {
            let m = RwLock::new(());
            let w = m.write();
            assert!(
                m.try_write().is_none(),
                "try_write succeeded with lock held"
            );
            assert!(m.try_read().is_none(), "try_read succeeded with lock held");
            drop(w);
            assert!(m.try_write().is_some(), "try_write failed with lock free");
            let r1 = m.try_read().expect("try_read failed with lock free");
            let r2 = m.try_read().expect("try_read failed with lock read-held");
            assert!(
                m.try_write().is_none(),
                "try_write succeeded with lock read-held"
            );
            drop((r1, r2));
        });
        for (procs, readers) in [
            (1, 1),
            (1, 3),
            (1, 10),
            (2, 1),
            (2, 3),
            (2, 10),
            (4, 1),
            (4, 3),
            (4, 10),
            (4, 5),
        ] {
            hammer_rwmutex(procs, readers, 1000);
        }
    });
}

/// After Go's TestRLocker: a writer waits while two read locks are held, still waits after
/// one is released, and gets the lock once both are; a writer waiting blocks new readers.
#[test]
fn rwlock_writer_waits_for_readers() {
    watchdog(60, "TestRLocker", || {
        rt(2).run(|| {
            let l = Arc::new(RwLock::new(0));
            for _ in 0..10 {
                let (step_tx, step_rx) = chan::<()>(0);
                let (held_tx, held_rx) = chan::<()>(0);
                let r = {
                    let l = l.clone();
                    goro::spawn(move || {
                        let a = l.read();
                        let b = l.read();
                        held_tx.send(()).unwrap();
                        step_rx.recv().unwrap();
                        drop(a);
                        step_rx.recv().unwrap();
                        drop(b);
                    })
                };
                held_rx.recv().unwrap();
                let wlocked = Arc::new(AtomicBool::new(false));
                let w = {
                    let (l, wlocked) = (l.clone(), wlocked.clone());
                    goro::spawn(move || {
                        let mut g = l.write();
                        wlocked.store(true, Ordering::SeqCst);
                        *g += 1;
                    })
                };
                // Let the writer queue up; then new readers must wait behind it.
                while l.try_read().is_some() {
                    goro::yield_now();
                }
                step_tx.send(()).unwrap();
                for _ in 0..10 {
                    goro::yield_now();
                }
                assert!(
                    !wlocked.load(Ordering::SeqCst),
                    "writer in with a read lock held"
                );
                step_tx.send(()).unwrap();
                w.join().unwrap();
                r.join().unwrap();
                assert!(wlocked.load(Ordering::SeqCst));
            }
            assert_eq!(*l.read(), 10);
        });
    });
}

/// Go's TestCondSignal: each signal wakes exactly one of two waiters.
#[test]
fn cond_signal() {
    watchdog(30, "TestCondSignal", || {
        for procs in [1, 2] {
            rt(procs).run(|| {
                let pair = Arc::new((Mutex::new(()), Condvar::new()));
                let mut n = 2;
                let (running_tx, running_rx) = chan::<bool>(n);
                let (awake_tx, awake_rx) = chan::<bool>(n);
                let awake_count = Arc::new(AtomicUsize::new(0));
                for _ in 0..n {
                    let (pair, running_tx, awake_tx, awake_count) = (
                        pair.clone(),
                        running_tx.clone(),
                        awake_tx.clone(),
                        awake_count.clone(),
                    );
                    goro::spawn(move || {
                        let (m, c) = &*pair;
                        let g = m.lock();
                        running_tx.send(true).unwrap();
                        let g = c.wait(g);
                        awake_count.fetch_add(1, Ordering::SeqCst);
                        awake_tx.send(true).unwrap();
                        drop(g);
                    });
                }
                for _ in 0..n {
                    running_rx.recv().unwrap(); // wait for everyone to run
                }
                let mut woken = 0;
                while n > 0 {
                    assert_eq!(awake_count.load(Ordering::SeqCst), woken, "not asleep");
                    let (m, c) = &*pair;
                    let g = m.lock();
                    c.notify_one();
                    drop(g);
                    awake_rx.recv().unwrap(); // deadlocks if no goroutine wakes up
                    woken += 1;
                    for _ in 0..10 {
                        goro::yield_now();
                    }
                    assert_eq!(awake_count.load(Ordering::SeqCst), woken, "too many awake");
                    n -= 1;
                }
                pair.1.notify_one();
            });
        }
    });
}

/// Go's TestCondSignalGenerations: `notify_one` wakes the waiters in the order they waited.
#[test]
fn cond_signal_generations() {
    watchdog(30, "TestCondSignalGenerations", || {
        for procs in [1, 2] {
            rt(procs).run(|| {
                let pair = Arc::new((Mutex::new(()), Condvar::new()));
                const N: usize = 100;
                let (running_tx, running_rx) = chan::<bool>(N);
                let (awake_tx, awake_rx) = chan::<usize>(N);
                for i in 0..N {
                    let (p, running_tx, awake_tx) =
                        (pair.clone(), running_tx.clone(), awake_tx.clone());
                    goro::spawn(move || {
                        let (m, c) = &*p;
                        let g = m.lock();
                        running_tx.send(true).unwrap();
                        let g = c.wait(g);
                        awake_tx.send(i).unwrap();
                        drop(g);
                    });
                    if i > 0 {
                        let a = awake_rx.recv().unwrap();
                        assert_eq!(a, i - 1, "wrong goroutine woke up");
                    }
                    running_rx.recv().unwrap();
                    let (m, c) = &*pair;
                    let g = m.lock();
                    c.notify_one();
                    drop(g);
                }
                assert_eq!(awake_rx.recv(), Some(N - 1));
            });
        }
    });
}

/// Go's TestCondBroadcast: 200 waiters, 200 rounds; every broadcast wakes each exactly once.
#[test]
fn cond_broadcast() {
    watchdog(120, "TestCondBroadcast", || {
        rt(2).run(|| {
            const N: usize = 200;
            // The data is Go's `exit` flag.
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let (running_tx, running_rx) = chan::<usize>(N);
            let (awake_tx, awake_rx) = chan::<usize>(N);
            let awake_count = Arc::new(AtomicUsize::new(0));
            for g in 0..N {
                let (pair, running_tx, awake_tx, awake_count) = (
                    pair.clone(),
                    running_tx.clone(),
                    awake_tx.clone(),
                    awake_count.clone(),
                );
                goro::spawn(move || {
                    let (m, c) = &*pair;
                    let mut exit = m.lock();
                    while !*exit {
                        running_tx.send(g).unwrap();
                        exit = c.wait(exit);
                        awake_count.fetch_add(1, Ordering::SeqCst);
                        awake_tx.send(g).unwrap();
                    }
                });
            }
            drop(running_tx);
            let (m, c) = &*pair;
            for i in 0..N {
                for _ in 0..N {
                    running_rx.recv().unwrap(); // deadlocks unless N are running
                }
                if i == N - 1 {
                    *m.lock() = true;
                }
                assert_eq!(awake_count.load(Ordering::SeqCst), i * N, "not asleep");
                let g = m.lock();
                c.notify_all();
                drop(g);
                let mut seen = [false; N];
                for _ in 0..N {
                    let g = awake_rx.recv().unwrap();
                    assert!(!seen[g], "goroutine woke up twice");
                    seen[g] = true;
                }
            }
            // Every waiter has exited: the running channel is closed and empty.
            assert_eq!(running_rx.recv(), None, "goroutine did not exit");
            c.notify_all();
        });
    });
}

/// Go's TestCondSignalStealing: a broadcast racing a new waiter must still wake the waiter
/// that was already asleep.
#[test]
fn cond_signal_stealing() {
    watchdog(120, "TestCondSignalStealing", || {
        rt(2).run(|| {
            for _ in 0..1000 {
                // The data is Go's `done`.
                let pair = Arc::new((Mutex::new(false), Condvar::new()));
                let (ch_tx, ch_rx) = chan::<()>(0);
                {
                    let pair = pair.clone();
                    goro::spawn(move || {
                        let (m, c) = &*pair;
                        let g = m.lock();
                        ch_tx.send(()).unwrap();
                        let g = c.wait(g);
                        drop(g);
                        ch_tx.send(()).unwrap();
                    });
                }
                ch_rx.recv().unwrap();
                // The waiter is in `wait`: it held the mutex when it sent, and we got it.
                drop(pair.0.lock());
                {
                    let pair = pair.clone();
                    goro::spawn(move || pair.1.notify_all());
                }
                let second = {
                    let pair = pair.clone();
                    goro::spawn(move || {
                        let (m, c) = &*pair;
                        drop(c.wait_while(m.lock(), |done| !*done));
                    })
                };
                // The first waiter must be signalled.
                ch_rx.recv().unwrap();
                // Release the second waiter in case it missed the broadcast.
                *pair.0.lock() = true;
                pair.1.notify_all();
                second.join().unwrap();
            }
        });
    });
}

/// Go's TestOnce: ten goroutines, the function runs once, and each caller sees its effect.
#[test]
fn once_runs_once() {
    watchdog(30, "TestOnce", || {
        for procs in [1, 4] {
            rt(procs).run(|| {
                let once = Arc::new(Once::new());
                let o = Arc::new(AtomicUsize::new(0));
                let (tx, rx) = chan::<bool>(0);
                const N: usize = 10;
                for _ in 0..N {
                    let (once, o, tx) = (once.clone(), o.clone(), tx.clone());
                    goro::spawn(move || {
                        once.call_once(|| {
                            // Slow enough that the others arrive while it runs.
                            goro::yield_now();
                            o.fetch_add(1, Ordering::Relaxed);
                        });
                        assert_eq!(o.load(Ordering::Relaxed), 1, "once failed inside run");
                        tx.send(true).unwrap();
                    });
                }
                for _ in 0..N {
                    assert_eq!(rx.recv(), Some(true));
                }
                assert_eq!(o.load(Ordering::Relaxed), 1, "once failed outside run");
                assert!(once.is_completed());
            });
        }
    });
}

/// Go's TestOncePanic: the panic reaches the caller, and the `Once` counts as done (Go's
/// semantics, not std's poisoning).
#[test]
fn once_panic_counts_as_done() {
    watchdog(30, "TestOncePanic", || {
        rt(2).run(|| {
            let once = Arc::new(Once::new());
            let o = once.clone();
            let r = goro::spawn(move || o.call_once(|| panic!("failed"))).join();
            assert!(r.is_err(), "call_once did not panic");
            assert!(once.is_completed());
            once.call_once(|| panic!("call_once called twice"));
            // In the same goroutine too, caught there.
            let once = Once::new();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                once.call_once(|| panic!("failed"))
            }));
            assert!(r.is_err());
            once.call_once(|| panic!("call_once called twice"));
        });
    });
}

/// `OnceLock`: one initializer among many racing goroutines and a plain thread; a panicking
/// initializer leaves the cell empty for the next.
#[test]
fn once_lock_get_or_init() {
    watchdog(30, "OnceLock", || {
        rt(2).run(|| {
            let cell = Arc::new(OnceLock::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let init = |cell: &OnceLock<usize>, runs: &AtomicUsize, who: usize| {
                *cell.get_or_init(|| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    goro::yield_now();
                    who
                })
            };
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    goro::spawn(move || init(&cell, &runs, i))
                })
                .collect();
            let t = {
                let (cell, runs) = (cell.clone(), runs.clone());
                std::thread::spawn(move || init(&cell, &runs, 100))
            };
            let first: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            let v = t.join().unwrap();
            assert!(first.iter().all(|&x| x == v));
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert_eq!(cell.get(), Some(&v));
            assert_eq!(cell.set(7), Err(7));

            let cell = OnceLock::<String>::new();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cell.get_or_init(|| panic!("init failed"));
            }));
            assert!(r.is_err());
            assert!(cell.get().is_none());
            assert_eq!(cell.set("second".into()), Ok(()));
            assert_eq!(cell.into_inner().as_deref(), Some("second"));
        });
    });
}

/// One mutex shared by goroutines and plain threads at once; a plain counter checks mutual
/// exclusion.
#[test]
fn mutex_shared_by_goroutines_and_threads() {
    watchdog(60, "mutex goroutines + threads", || {
        struct Counter(std::cell::UnsafeCell<u64>);
        // SAFETY: only touched under the mutex below.
        unsafe impl Sync for Counter {}
        let m = Arc::new(Mutex::new(0u64));
        let racy = Arc::new(Counter(std::cell::UnsafeCell::new(0)));
        const ROUNDS: u64 = 5000;
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (m, racy) = (m.clone(), racy.clone());
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut g = m.lock();
                        *g += 1;
                        // SAFETY: under the mutex.
                        unsafe { *racy.0.get() += 1 };
                    }
                })
            })
            .collect();
        let (m2, racy2) = (m.clone(), racy.clone());
        rt(2).run(move || {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let (m, racy) = (m2.clone(), racy2.clone());
                    goro::spawn(move || {
                        for k in 0..ROUNDS {
                            let mut g = m.lock();
                            *g += 1;
                            // SAFETY: under the mutex.
                            unsafe { *racy.0.get() += 1 };
                            if (k + i) % 64 == 0 {
                                goro::yield_now(); // migrate while holding it, now and then
                            }
                            drop(g);
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*m.lock(), 6 * ROUNDS);
        // SAFETY: every user has finished.
        assert_eq!(unsafe { *racy.0.get() }, 6 * ROUNDS);
    });
}

/// A goroutine holds the mutex across `yield_now` while others wait for it: they park, and
/// the other goroutines (here a counter) keep running meanwhile.
#[test]
fn mutex_held_across_yield_parks_waiters() {
    watchdog(30, "mutex held across yield", || {
        for procs in [1, 2] {
            rt(procs).run(|| {
                let m = Arc::new(Mutex::new(Vec::new()));
                let progress = Arc::new(AtomicUsize::new(0));
                let stop = Arc::new(AtomicBool::new(false));
                let worker = {
                    let (progress, stop) = (progress.clone(), stop.clone());
                    goro::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            progress.fetch_add(1, Ordering::Relaxed);
                            goro::yield_now();
                        }
                    })
                };
                let g = m.lock();
                let wg = WaitGroup::new();
                for i in 0..8 {
                    wg.add(1);
                    let (m, wg) = (m.clone(), wg.clone());
                    goro::spawn(move || {
                        m.lock().push(i);
                        wg.done();
                    });
                }
                // Yield, holding the mutex, until the worker has made progress (the OS may
                // keep its thread off the CPU for a while: a time bound, not a count).
                let before = progress.load(Ordering::Relaxed);
                let start = Instant::now();
                while progress.load(Ordering::Relaxed) < before + 100
                    && start.elapsed() < Duration::from_secs(10)
                {
                    goro::yield_now();
                }
                assert!(
                    progress.load(Ordering::Relaxed) >= before + 100,
                    "nothing ran while the mutex was held"
                );
                assert!(g.is_empty(), "a waiter got in while the lock was held");
                drop(g);
                wg.wait();
                let mut got = m.lock().clone();
                got.sort();
                assert_eq!(got, (0..8).collect::<Vec<_>>());
                stop.store(true, Ordering::Relaxed);
                worker.join().unwrap();
            });
        }
    });
}

/// A semaphore of `n` permits: never more than `n` holders at once, and with holders that
/// yield, exactly `n` at the peak; `try_acquire` fails when none is free; `add_permits` adds.
#[test]
fn semaphore_limits_concurrency() {
    watchdog(30, "Semaphore", || {
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                const N: usize = 3;
                let sem = Arc::new(Semaphore::new(N));
                let now = Arc::new(AtomicUsize::new(0));
                let max = Arc::new(AtomicUsize::new(0));
                let wg = WaitGroup::new();
                for _ in 0..20 {
                    wg.add(1);
                    let (sem, now, max, wg) = (sem.clone(), now.clone(), max.clone(), wg.clone());
                    goro::spawn(move || {
                        for _ in 0..20 {
                            let p = sem.acquire();
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(n, Ordering::SeqCst);
                            for _ in 0..5 {
                                goro::yield_now();
                            }
                            now.fetch_sub(1, Ordering::SeqCst);
                            drop(p);
                        }
                        wg.done();
                    });
                }
                wg.wait();
                assert_eq!(max.load(Ordering::SeqCst), N);
                assert_eq!(sem.available_permits(), N);

                let held: Vec<_> = (0..N).map(|_| sem.acquire()).collect();
                assert!(sem.try_acquire().is_none());
                let waiter = {
                    let sem = sem.clone();
                    goro::spawn(move || sem.acquire().forget())
                };
                sem.add_permits(1);
                waiter.join().unwrap();
                drop(held);
                assert_eq!(sem.available_permits(), N);
            });
        }
    });
}

/// The panic of an `add_permits` past the maximum, as text; the call must panic.
fn add_permits_panic(sem: &Semaphore, n: usize) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.add_permits(n)));
    let p = r.expect_err("add_permits past the maximum panics");
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Permits past `u32::MAX`, counting held ones, make `add_permits` panic before it changes
/// anything, so the count never wraps. It used to check the free permits alone: with one
/// permit held, adding one passed, and the held permit's return wrapped the count to 0.
/// Concurrent adds that together pass the maximum: exactly one panics. A forgotten permit
/// makes room for one; a huge add is one step, not one release per permit.
#[test]
fn semaphore_permits_never_wrap() {
    watchdog(30, "semaphore permits", || {
        let max = u32::MAX as usize;
        let sem = Semaphore::new(max);
        let held = sem.try_acquire().unwrap();
        let msg = add_permits_panic(&sem, 1);
        assert!(msg.contains("may not have more than"), "{msg:?}");
        assert_eq!(sem.available_permits(), max - 1, "nothing added");
        drop(held);
        assert_eq!(sem.available_permits(), max);
        sem.try_acquire().unwrap().forget();
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), max);
        add_permits_panic(&sem, usize::MAX);

        let sem = Arc::new(Semaphore::new(0));
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                std::thread::spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sem.add_permits(max / 2 + 1)
                    }))
                    .is_ok()
                })
            })
            .collect();
        let added: Vec<bool> = adders.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(added.iter().filter(|&&ok| ok).count(), 1, "{added:?}");
        assert_eq!(sem.available_permits(), max / 2 + 1);

        // Waiters are woken by a many-permit add, each taking one.
        rt(2).run(move || {
            let sem = Arc::new(Semaphore::new(0));
            let waiters: Vec<_> = (0..4)
                .map(|_| {
                    let sem = sem.clone();
                    goro::spawn(move || sem.acquire().forget())
                })
                .collect();
            goro::sleep(Duration::from_millis(5));
            sem.add_permits(max - 1);
            waiters.into_iter().for_each(|w| w.join().unwrap());
            assert_eq!(sem.available_permits(), max - 5);
        });
    });
}

/// A `WaitGroup::add` past `usize::MAX` panics and leaves the counter as it was. It used to
/// wrap the counter, here to 0 with a waiter parked: a zero that woke nobody (only `done`
/// wakes), and the waiter's later `done` found the counter "negative".
#[test]
fn waitgroup_counter_never_wraps() {
    watchdog(30, "waitgroup overflow", || {
        rt(2).run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            let waiter = goro::spawn(move || w.wait());
            goro::sleep(Duration::from_millis(5));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.add(usize::MAX)));
            let p = r.expect_err("an add past usize::MAX panics");
            let msg = p.downcast_ref::<&str>().copied().unwrap_or_default();
            assert!(msg.contains("WaitGroup counter overflow"), "{msg:?}");
            assert!(!waiter.is_finished(), "the counter is still 1");
            wg.done();
            waiter.join().unwrap();
            // Up to usize::MAX itself, and not one more.
            wg.add(usize::MAX);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.add(1)));
            assert!(r.is_err(), "usize::MAX is the most it holds");
        });
    });
}

/// A condition variable between a plain thread and goroutines, both ways: a thread waits and
/// a goroutine notifies; goroutines wait and a thread notifies them all.
#[test]
fn condvar_between_threads_and_goroutines() {
    watchdog(30, "condvar threads + goroutines", || {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let p = pair.clone();
        let thread_waiter = std::thread::spawn(move || {
            let (m, c) = &*p;
            *c.wait_while(m.lock(), |n| *n < 1)
        });
        let p = pair.clone();
        rt(2).run(move || {
            let (m, c) = &*p;
            *m.lock() = 1;
            c.notify_all();
            // Now goroutines wait for the thread below.
            let wg = WaitGroup::new();
            for _ in 0..4 {
                wg.add(1);
                let (p, wg) = (p.clone(), wg.clone());
                goro::spawn(move || {
                    let (m, c) = &*p;
                    drop(c.wait_while(m.lock(), |n| *n < 2));
                    wg.done();
                });
            }
            let p2 = p.clone();
            let notifier = std::thread::spawn(move || {
                let (m, c) = &*p2;
                *m.lock() = 2;
                c.notify_all();
            });
            wg.wait();
            notifier.join().unwrap();
        });
        assert!(thread_waiter.join().unwrap() >= 1);
    });
}

/// `wait_timeout` with nobody notifying: it times out no sooner than asked, with the mutex
/// held again, and parks the goroutine (on one P another goroutine runs meanwhile); on a plain
/// thread it blocks the thread. A notification before the time is up ends it early and is
/// not a timeout. std's semantics (Go's `Cond` has no timed wait).
#[test]
fn cond_wait_timeout() {
    watchdog(30, "Condvar::wait_timeout", || {
        let d = Duration::from_millis(20);
        rt(1).run(move || {
            let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
            let ran = Arc::new(AtomicUsize::new(0));
            let r2 = ran.clone();
            goro::spawn(move || {
                while r2.load(Ordering::Relaxed) < 1000 {
                    r2.fetch_add(1, Ordering::Relaxed);
                    goro::yield_now();
                }
            });
            let (m, c) = &*pair;
            let start = Instant::now();
            let (mut g, r) = c.wait_timeout(m.lock(), d);
            assert!(r.timed_out());
            assert!(start.elapsed() >= d, "woke after {:?}", start.elapsed());
            assert!(
                ran.load(Ordering::Relaxed) > 0,
                "the one P ran nothing else"
            );
            *g += 1; // held again
            drop(g);

            // Notified long before the timeout: not a timeout, and early.
            let p = pair.clone();
            goro::spawn(move || {
                goro::sleep(Duration::from_millis(5));
                *p.0.lock() = 2;
                p.1.notify_one();
            });
            let start = Instant::now();
            let (g, r) = c.wait_timeout_while(m.lock(), Duration::from_secs(20), |n| *n < 2);
            assert!(!r.timed_out());
            assert_eq!(*g, 2);
            assert!(start.elapsed() < Duration::from_secs(10));
            drop(g);

            // The condition never turns: timed out after `d` in all, still true.
            let start = Instant::now();
            let (g, r) = c.wait_timeout_while(m.lock(), d, |n| *n < 3);
            assert!(r.timed_out() && *g == 2 && start.elapsed() >= d);
        });
        // A plain thread.
        let (m, c) = (Mutex::new(()), Condvar::new());
        let start = Instant::now();
        let (_g, r) = c.wait_timeout(m.lock(), d);
        assert!(r.timed_out() && start.elapsed() >= d);
    });
}

/// A notification racing a timeout, over many rounds: waiter A waits with a short timeout,
/// B (queued after A) without one, and `notify_one` comes at about A's deadline. Exactly one
/// of them takes it: if A timed out, the notification is not lost (it wakes B); if A was
/// notified, B stays asleep until notified again.
#[test]
fn cond_notify_races_timeout() {
    watchdog(60, "Condvar notify vs timeout", || {
        #[derive(Default)]
        struct S {
            a_waiting: bool,
            b_waiting: bool,
            b_woken: bool,
        }
        for (procs, threads) in [(2, false), (1, false), (2, true)] {
            let outcomes = rt(procs).run(move || {
                let mut outcomes = [0u32; 2];
                let mut x = 7u64;
                for _ in 0..200 {
                    let pair = Arc::new((Mutex::new(S::default()), Condvar::new()));
                    let timeout = Duration::from_micros(300);
                    let p = pair.clone();
                    let a = move || {
                        let (m, c) = &*p;
                        let mut g = m.lock();
                        g.a_waiting = true;
                        c.wait_timeout(g, timeout).1.timed_out()
                    };
                    // A on a plain thread (timers off the runtime), or a goroutine.
                    let a: Box<dyn FnOnce() -> bool> = if threads {
                        let h = std::thread::spawn(a);
                        Box::new(move || h.join().unwrap())
                    } else {
                        let h = goro::spawn(a);
                        Box::new(move || h.join().unwrap())
                    };
                    let p = pair.clone();
                    let b = goro::spawn(move || {
                        let (m, c) = &*p;
                        let mut g = m.lock();
                        while !g.a_waiting {
                            drop(g);
                            goro::yield_now();
                            g = m.lock();
                        }
                        g.b_waiting = true;
                        let mut g = c.wait(g);
                        g.b_woken = true;
                    });
                    while !pair.0.lock().b_waiting {
                        goro::yield_now();
                    }
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    goro::sleep(Duration::from_micros((x >> 33) % 600));
                    pair.1.notify_one();
                    let timed_out = a();
                    outcomes[usize::from(timed_out)] += 1;
                    if timed_out {
                        b.join().unwrap(); // hangs (watchdog) if the notification was lost
                    } else {
                        for _ in 0..20 {
                            goro::yield_now();
                        }
                        assert!(!pair.0.lock().b_woken, "one notify woke both");
                        pair.1.notify_one();
                        b.join().unwrap();
                    }
                    assert!(pair.0.lock().b_woken);
                }
                outcomes
            });
            eprintln!(
                "{procs} procs, A on a thread {threads}: notified {}, timed out {}",
                outcomes[0], outcomes[1]
            );
        }
    });
}
