//! `select!`, `try_send` and `try_recv` seen from outside, mostly ported from Go's
//! runtime/chan_test.go. Every test runs under a watchdog.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::watchdog;
use goro::{Receiver, Runtime, SendError, Sender, TryRecvError, TrySendError, WaitGroup, chan};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// Go's `time.Sleep` for these tests: the thread sleeps, its P goes to other goroutines.
fn sleep_ms(ms: u64) {
    goro::blocking(|| std::thread::sleep(Duration::from_millis(ms)));
}

/// A receiver that never becomes ready (Go's nil channel in a select): its sender is leaked.
fn never_recv<T: Send>() -> Receiver<T> {
    let (tx, rx) = chan(0);
    std::mem::forget(tx);
    rx
}

/// A sender that never becomes ready: its receiver is leaked.
fn never_send<T: Send>() -> Sender<T> {
    let (tx, rx) = chan(0);
    std::mem::forget(rx);
    tx
}

#[test]
fn try_send_and_try_recv() {
    watchdog(30, "try_send/try_recv", || {
        rt(2).run(|| {
            // Buffered: fills, then is full; drains, then is empty.
            let (tx, rx) = chan::<u32>(2);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert_eq!((tx.len(), tx.capacity(), tx.is_empty()), (0, 2, true));
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            assert!(tx.is_full() && rx.is_full());
            assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
            assert_eq!(rx.len(), 2);
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.try_recv(), Ok(2));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            // Closed: buffered values drain first, then Closed; sends fail.
            tx.send(4).unwrap();
            tx.close();
            assert!(tx.is_closed() && rx.is_closed());
            assert_eq!(tx.try_send(5), Err(TrySendError::Closed(5)));
            assert_eq!(rx.try_recv(), Ok(4));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

            // Unbuffered: nothing without a partner waiting.
            let (tx, rx) = chan::<u32>(0);
            assert!(tx.is_empty() && tx.is_full());
            assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            // A blocked sender is a partner for try_recv.
            let tx2 = tx.clone();
            let h = goro::spawn(move || tx2.send(9));
            let v = loop {
                match rx.try_recv() {
                    Ok(v) => break v,
                    Err(TryRecvError::Empty) => goro::yield_now(),
                    Err(TryRecvError::Closed) => unreachable!(),
                }
            };
            assert_eq!(v, 9);
            assert_eq!(h.join().unwrap(), Ok(()));
            // A blocked receiver is a partner for try_send.
            let rx2 = rx.clone();
            let h = goro::spawn(move || rx2.recv());
            let mut v = 10;
            loop {
                match tx.try_send(v) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        v = back;
                        goro::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(h.join().unwrap(), Some(10));
            // The last receiver gone: sends fail as closed.
            drop(rx);
            assert!(tx.is_closed());
            assert!(tx.try_send(1).unwrap_err().is_closed());
            // Errors are std errors.
            let e: Box<dyn std::error::Error> = Box::new(TrySendError::Full(1u8));
            assert_eq!(e.to_string(), "sending on a full channel");
            let e: Box<dyn std::error::Error> = Box::new(TryRecvError::Closed);
            assert_eq!(e.to_string(), "receiving on a closed channel");
            assert_eq!(format!("{:?}", TrySendError::Closed(1)), "Closed(..)");
        });
    });
}

#[test]
fn select_default_never_blocks() {
    watchdog(30, "select with default", || {
        rt(1).run(|| {
            let (tx, rx) = chan::<u32>(0);
            let (tx2, rx2) = chan::<String>(1);
            tx2.send("full".to_string()).unwrap();
            for _ in 0..1000 {
                let r = goro::select! {
                    recv(rx) -> _v => 1,
                    send(tx, 1) -> _r => 2,
                    send(tx2, "more".to_string()) -> _r => 3,
                    default => 0,
                };
                assert_eq!(r, 0);
            }
            // Only a default: taken.
            let r = goro::select! { default => 5 };
            assert_eq!(r, 5);
            // A ready case wins over default.
            let r = goro::select! {
                recv(rx2) -> v => v,
                default => None,
            };
            assert_eq!(r.as_deref(), Some("full"));
        });
    });
}

#[test]
fn select_closed_cases() {
    watchdog(30, "select on closed channels", || {
        rt(2).run(|| {
            let (tx, rx) = chan::<u32>(1);
            tx.send(1).unwrap();
            tx.close();
            // Drains, then None.
            let r = goro::select! { recv(rx) -> v => v };
            assert_eq!(r, Some(1));
            let r = goro::select! { recv(rx) -> v => v };
            assert_eq!(r, None);
            // A send on a closed channel is a ready case with its value back.
            let r = goro::select! { send(tx, 7) -> res => res };
            assert_eq!(r, Err(SendError(7)));
            // A blocked select is woken by close.
            let (tx, rx) = chan::<u32>(0);
            let (tx2, rx2) = chan::<u64>(0);
            let h = goro::spawn(move || {
                goro::select! {
                    recv(rx) -> v => v.map(u64::from),
                    recv(rx2) -> v => v,
                }
            });
            sleep_ms(5);
            tx.close();
            assert_eq!(h.join().unwrap(), None);
            drop(tx2);
            // A blocked send case is woken by its receiver's drop, with the value back.
            let (tx, rx) = chan::<u32>(0);
            let h = goro::spawn(move || goro::select! { send(tx, 3) -> res => res });
            sleep_ms(5);
            drop(rx);
            assert_eq!(h.join().unwrap(), Err(SendError(3)));
        });
    });
}

/// Go's TestNonblockRecvRace: a select with default on a ready channel never takes default,
/// even while the channel is being closed.
#[test]
fn nonblock_recv_race() {
    watchdog(60, "TestNonblockRecvRace", || {
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                for _ in 0..10_000 {
                    let (tx, rx) = chan::<u32>(1);
                    tx.send(1).unwrap();
                    let rx2 = rx.clone();
                    let h = goro::spawn(move || {
                        goro::select! {
                            recv(rx2) -> _v => true,
                            default => false,
                        }
                    });
                    tx.close();
                    let _ = rx.recv();
                    assert!(h.join().unwrap(), "chan is not ready");
                }
            });
        }
    });
}

/// Go's TestSelfSelect: send and receive on the same channel in one select neither crashes nor
/// deadlocks, and an unbuffered select never receives its own value.
#[test]
fn self_select() {
    watchdog(60, "TestSelfSelect", || {
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                for cap in [0, 10] {
                    let (tx, rx) = chan::<usize>(cap);
                    let hs: Vec<_> = (0..2)
                        .map(|p| {
                            let (tx, rx) = (tx.clone(), rx.clone());
                            goro::spawn(move || {
                                for i in 0..1000 {
                                    let got = if p == 0 || i % 2 == 0 {
                                        goro::select! {
                                            send(tx, p) -> r => { r.unwrap(); None }
                                            recv(rx) -> v => v,
                                        }
                                    } else {
                                        goro::select! {
                                            recv(rx) -> v => v,
                                            send(tx, p) -> r => { r.unwrap(); None }
                                        }
                                    };
                                    if cap == 0 {
                                        assert_ne!(got, Some(p), "self receive");
                                    }
                                }
                            })
                        })
                        .collect();
                    hs.into_iter().for_each(|h| h.join().unwrap());
                }
            });
        }
    });
}

/// Go's TestSelectStress: plain senders and receivers on four channels, plus one select
/// sending on all four and one receiving on all four; nothing deadlocks.
#[test]
fn select_stress() {
    watchdog(120, "TestSelectStress", || {
        const N: usize = 20_000;
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                let c: Vec<(Sender<u32>, Receiver<u32>)> =
                    [0, 0, 2, 3].into_iter().map(chan::<u32>).collect();
                let mut hs = Vec::new();
                for (tx, rx) in &c {
                    let tx = tx.clone();
                    hs.push(goro::spawn(move || {
                        for _ in 0..N {
                            tx.send(0).unwrap();
                        }
                    }));
                    let rx = rx.clone();
                    hs.push(goro::spawn(move || {
                        for _ in 0..N {
                            rx.recv().unwrap();
                        }
                    }));
                }
                let mut txs: Vec<Sender<u32>> = c.iter().map(|(t, _)| t.clone()).collect();
                hs.push(goro::spawn(move || {
                    let mut n = [0; 4];
                    for _ in 0..4 * N {
                        let k = goro::select! {
                            send(txs[3], 0) -> r => { r.unwrap(); 3 }
                            send(txs[2], 0) -> r => { r.unwrap(); 2 }
                            send(txs[0], 0) -> r => { r.unwrap(); 0 }
                            send(txs[1], 0) -> r => { r.unwrap(); 1 }
                        };
                        n[k] += 1;
                        if n[k] == N {
                            txs[k] = never_send();
                        }
                    }
                }));
                let mut rxs: Vec<Receiver<u32>> = c.iter().map(|(_, r)| r.clone()).collect();
                hs.push(goro::spawn(move || {
                    let mut n = [0; 4];
                    for _ in 0..4 * N {
                        let k = goro::select! {
                            recv(rxs[0]) -> v => { v.unwrap(); 0 }
                            recv(rxs[1]) -> v => { v.unwrap(); 1 }
                            recv(rxs[2]) -> v => { v.unwrap(); 2 }
                            recv(rxs[3]) -> v => { v.unwrap(); 3 }
                        };
                        n[k] += 1;
                        if n[k] == N {
                            rxs[k] = never_recv();
                        }
                    }
                }));
                hs.into_iter().for_each(|h| h.join().unwrap());
            });
        }
    });
}

/// Go's TestSelectFairness: with two always-ready cases (and two never-ready ones), each is
/// chosen about half the time: within 10 sigma of the mean.
#[test]
fn select_fairness() {
    watchdog(60, "TestSelectFairness", || {
        const TRIALS: usize = 10_000;
        for procs in [1, 2] {
            rt(procs).run(|| {
                let (c1_tx, c1) = chan::<u8>(TRIALS + 1);
                let (c2_tx, c2) = chan::<u8>(TRIALS + 1);
                for _ in 0..=TRIALS {
                    c1_tx.send(1).unwrap();
                    c2_tx.send(2).unwrap();
                }
                let (_c3_tx, c3) = chan::<u8>(0);
                let (_c4_tx, c4) = chan::<u8>(0);
                let (out_tx, out) = chan::<u8>(0);
                let (done_tx, done) = chan::<()>(0);
                let h = goro::spawn(move || {
                    loop {
                        let b = goro::select! {
                            recv(c3) -> b => b,
                            recv(c4) -> b => b,
                            recv(c1) -> b => b,
                            recv(c2) -> b => b,
                        }
                        .unwrap();
                        goro::select! {
                            send(out_tx, b) -> r => r.unwrap(),
                            recv(done) -> _d => return,
                        }
                    }
                });
                let (mut cnt1, mut cnt2) = (0.0f64, 0.0f64);
                for _ in 0..TRIALS {
                    match out.recv().unwrap() {
                        1 => cnt1 += 1.0,
                        2 => cnt2 += 1.0,
                        b => panic!("unexpected value {b} on channel"),
                    }
                }
                let mean = TRIALS as f64 * 0.5;
                let stddev = (TRIALS as f64 * 0.5 * 0.5).sqrt();
                assert!(
                    (cnt1 - mean).abs() <= 10.0 * stddev,
                    "unfair select: in {TRIALS} trials, results were {cnt1}, {cnt2}"
                );
                drop(done_tx); // Go's close(done)
                h.join().unwrap();
                drop((c1_tx, c2_tx));
            });
        }
    });
}

/// Go's TestSelectDuplicateChannel: a select queued twice on one channel takes both waiters
/// out when another case fires, leaving the queue intact for the next receiver.
#[test]
fn select_duplicate_channel() {
    watchdog(30, "TestSelectDuplicateChannel", || {
        for procs in [1, 2] {
            rt(procs).run(|| {
                let (c_tx, c) = chan::<u32>(0);
                let (d_tx, d) = chan::<u32>(0);
                let (e_tx, e) = chan::<u32>(0);
                // goroutine A
                let ca = c.clone();
                goro::spawn(move || {
                    goro::select! {
                        recv(ca) -> _v => {},
                        recv(ca) -> _v => {},
                        recv(d) -> _v => {},
                    }
                    e_tx.send(9).unwrap();
                });
                sleep_ms(1); // A queues first on c
                // goroutine B
                let b = goro::spawn(move || c.recv());
                sleep_ms(1); // B queues on c too
                d_tx.send(7).unwrap(); // wakes A, which takes itself out of c's queue
                assert_eq!(e.recv(), Some(9));
                c_tx.send(8).unwrap(); // wakes B, not a stale waiter of A
                assert_eq!(b.join().unwrap(), Some(8));
            });
        }
    });
}

/// Go's TestChanSendSelectBarrier, in spirit: a select receiving on a channel and another
/// that never fires sees every value a plain sender sends, in order.
#[test]
fn send_select_barrier() {
    watchdog(30, "TestChanSendSelectBarrier", || {
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                let (tx, rx) = chan::<u32>(0);
                let never = never_recv::<u32>();
                let h = goro::spawn(move || {
                    for i in 0..10_000 {
                        tx.send(i).unwrap();
                    }
                });
                for i in 0..10_000 {
                    let v = goro::select! {
                        recv(rx) -> v => v,
                        recv(never) -> _v => unreachable!(),
                    };
                    assert_eq!(v, Some(i));
                }
                h.join().unwrap();
            });
        }
    });
}

/// Go's TestMultiConsumer, with the workers receiving through a select: every value is seen
/// exactly once, and the sum comes out right.
#[test]
fn multi_consumer() {
    watchdog(120, "TestMultiConsumer", || {
        const NWORK: usize = 23;
        const NITER: usize = 271_828;
        const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                let (q_tx, q) = chan::<usize>(NWORK * 3);
                let (r_tx, r) = chan::<usize>(NWORK * 3);
                let wg = WaitGroup::new();
                let never = never_recv::<()>();
                for w in 0..NWORK {
                    wg.add(1);
                    let (q, r_tx, wg, never) = (q.clone(), r_tx.clone(), wg.clone(), never.clone());
                    goro::spawn(move || {
                        loop {
                            let v = goro::select! {
                                recv(q) -> v => v,
                                recv(never) -> _n => unreachable!(),
                            };
                            let Some(v) = v else { break };
                            if PN[w % PN.len()] == v {
                                goro::yield_now();
                            }
                            r_tx.send(v).unwrap();
                        }
                        wg.done();
                    });
                }
                drop((q, r_tx));
                let feeder = goro::spawn(move || {
                    let mut expect = 0;
                    for i in 0..NITER {
                        let v = PN[i % PN.len()];
                        expect += v;
                        q_tx.send(v).unwrap();
                    }
                    q_tx.close();
                    wg.wait();
                    expect
                });
                let (mut n, mut s) = (0, 0);
                for v in r {
                    n += 1;
                    s += v;
                }
                let expect = feeder.join().unwrap();
                assert_eq!((n, s), (NITER, expect));
            });
        }
    });
}

/// Many goroutines sending through selects on several channels of different types, many
/// receiving through selects: every value arrives exactly once.
#[test]
fn every_value_exactly_once() {
    watchdog(120, "values through selects", || {
        const SENDERS: usize = 16;
        const PER: usize = 5_000;
        for procs in [1, 2, 4] {
            rt(procs).run(|| {
                let (a_tx, a_rx) = chan::<u32>(0);
                let (b_tx, b_rx) = chan::<u64>(3);
                let mut hs = Vec::new();
                for s in 0..SENDERS {
                    let (a_tx, b_tx) = (a_tx.clone(), b_tx.clone());
                    hs.push(goro::spawn(move || {
                        for i in 0..PER {
                            let v = (s * PER + i) as u32;
                            goro::select! {
                                send(a_tx, v) -> r => r.unwrap(),
                                send(b_tx, u64::from(v)) -> r => r.unwrap(),
                            }
                        }
                    }));
                }
                drop((a_tx, b_tx));
                let seen: Arc<Vec<AtomicUsize>> =
                    Arc::new((0..SENDERS * PER).map(|_| AtomicUsize::new(0)).collect());
                let receivers: Vec<_> = (0..8)
                    .map(|_| {
                        let (a_rx, b_rx, seen) = (a_rx.clone(), b_rx.clone(), seen.clone());
                        goro::spawn(move || {
                            let (mut a_open, mut b_open) = (true, true);
                            let never_a = never_recv::<u32>();
                            let never_b = never_recv::<u64>();
                            while a_open || b_open {
                                let a = if a_open { &a_rx } else { &never_a };
                                let b = if b_open { &b_rx } else { &never_b };
                                let v = goro::select! {
                                    recv(a) -> v => match v {
                                        Some(v) => Some(v as usize),
                                        None => { a_open = false; None }
                                    },
                                    recv(b) -> v => match v {
                                        Some(v) => Some(v as usize),
                                        None => { b_open = false; None }
                                    },
                                };
                                if let Some(v) = v {
                                    seen[v].fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        })
                    })
                    .collect();
                drop((a_rx, b_rx));
                hs.into_iter().for_each(|h| h.join().unwrap());
                receivers.into_iter().for_each(|h| h.join().unwrap());
                for (v, n) in seen.iter().enumerate() {
                    assert_eq!(n.load(Ordering::Relaxed), 1, "value {v}");
                }
            });
        }
    });
}

/// A plain thread selects alongside goroutines: it parks on its own thread and is woken by
/// goroutines, and goroutines' selects are woken by it.
#[test]
fn select_on_a_plain_thread() {
    watchdog(60, "select on a plain thread", || {
        let rt = rt(2);
        let (to_thread_tx, to_thread) = chan::<u32>(0);
        let (from_thread_tx, from_thread) = chan::<String>(0);
        let (stop_tx, stop) = chan::<()>(0);
        const N: u32 = 2_000;
        let t = std::thread::spawn(move || {
            let (mut got, mut sent, mut sum) = (0, 0, 0);
            let nothing = never_recv::<u32>();
            let mut rx = &to_thread;
            while got < N || sent < N {
                let tx = if sent < N {
                    from_thread_tx.clone()
                } else {
                    never_send()
                };
                goro::select! {
                    recv(rx) -> v => match v {
                        Some(v) => { sum += v; got += 1; }
                        None => { assert_eq!(got, N); rx = &nothing; }
                    },
                    send(tx, sent.to_string()) -> r => { r.unwrap(); sent += 1; }
                    recv(stop) -> _s => unreachable!(),
                }
            }
            sum
        });
        rt.run(move || {
            let h = goro::spawn(move || {
                for i in 0..N {
                    to_thread_tx.send(i).unwrap();
                }
            });
            let mut n = 0;
            while n < N {
                let s = goro::select! {
                    recv(from_thread) -> s => s.unwrap(),
                };
                assert_eq!(s, n.to_string());
                n += 1;
            }
            h.join().unwrap();
            drop(stop_tx);
        });
        assert_eq!(t.join().unwrap(), (0..N).sum::<u32>());
    });
}

/// Channels of different element types in one select, one channel in several cases, and
/// control flow out of an arm.
#[test]
fn heterogeneous_types_and_duplicates() {
    watchdog(30, "mixed select", || {
        rt(2).run(|| {
            let (s_tx, s_rx) = chan::<String>(1);
            let (u_tx, u_rx) = chan::<u8>(1);
            // The same channel as a send and a receive case, and twice as a receive case.
            for i in 0..100u8 {
                let r = goro::select! {
                    send(u_tx, i) -> r => { r.unwrap(); 0 }
                    recv(u_rx) -> v => { assert_eq!(v, Some(i.wrapping_sub(1))); 1 }
                    recv(u_rx) -> v => { assert_eq!(v, Some(i.wrapping_sub(1))); 2 }
                    recv(s_rx) -> _v => 3,
                };
                match r {
                    0 => assert_eq!(u_rx.recv(), Some(i)),
                    1 | 2 => unreachable!("empty before the send"),
                    _ => unreachable!(),
                }
            }
            s_tx.send("x".into()).unwrap();
            let r = goro::select! {
                recv(u_rx) -> _v => String::new(),
                recv(s_rx) -> v => v.unwrap(),
            };
            assert_eq!(r, "x");
            // break / continue from an arm.
            let mut n = 0;
            loop {
                goro::select! {
                    send(u_tx, 1) -> _r => { n += 1; continue }
                    default => break,
                }
            }
            assert_eq!(n, 1);
            // A reference or a temporary as the channel expression.
            s_tx.send("y".into()).unwrap();
            let r = goro::select! {
                recv(&s_rx) -> v => v,
                recv(never_recv::<u8>()) -> _v => None,
            };
            assert_eq!(r.as_deref(), Some("y"));
            let r = goro::select! {
                send(&s_tx, "z".to_string()) -> r => r.is_ok(),
                default => { false },
            };
            assert!(r);
        });
    });
}

/// Go's `select {}`: blocks forever; the rest of the program runs on.
#[test]
fn select_with_no_cases_blocks_forever() {
    watchdog(30, "select {}", || {
        let rt = rt(2);
        rt.run(|| {
            let (tx, rx) = chan::<u32>(0);
            let h = goro::spawn(move || {
                tx.send(1).unwrap();
                goro::select! {}
            });
            assert_eq!(rx.recv(), Some(1));
            sleep_ms(20);
            assert!(!h.is_finished());
            // It is left parked; the runtime's memory stays with it.
            std::mem::forget(h);
        });
    });
}
