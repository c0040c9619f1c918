//! The scheduler's costs: spawn + join, a channel round trip between two goroutines, and a
//! yield (two goroutine switches and a trip through the run queue).
//!
//! `cargo bench --bench sched`. The comparison with Go, tokio and may is in `bench/`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use goro::{Runtime, chan};

fn sched(c: &mut Criterion) {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { Runtime::builder().max_procs(2).build() };
    let mut g = c.benchmark_group("goroutines");
    g.bench_function("spawn + join, one at a time", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for i in 0..iters {
                    black_box(goro::spawn(move || i).join().unwrap());
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("spawn 1000, then join them (per goroutine)", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    let hs: Vec<_> = (0..1000u64).map(|i| goro::spawn(move || i)).collect();
                    hs.into_iter().for_each(|h| drop(black_box(h.join())));
                }
                t.elapsed() / 1000
            })
        })
    });
    g.bench_function("channel ping-pong round trip", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let (ping_tx, ping_rx) = chan::<u64>(0);
                let (pong_tx, pong_rx) = chan::<u64>(0);
                let echo = goro::spawn(move || {
                    for v in ping_rx {
                        pong_tx.send(v).unwrap();
                    }
                });
                let t = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    black_box(pong_rx.recv());
                }
                let d = t.elapsed();
                drop(ping_tx);
                echo.join().unwrap();
                d
            })
        })
    });
    g.finish();

    // SAFETY: no goroutine keeps thread-local state across a switch.
    let one = unsafe { Runtime::builder().max_procs(1).build() };
    c.bench_function("yield_now (P = 1, one goroutine)", |b| {
        b.iter_custom(|iters| {
            one.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    goro::yield_now();
                }
                t.elapsed()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = sched
}
criterion_main!(benches);
