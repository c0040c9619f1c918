//! The cost of the system-call hand-off machinery, measured inside a goroutine (where the
//! hooks are live):
//! - the `entersyscall` + `exitsyscall` pair alone, and `syscall(getpid)` beside
//!   `raw_syscall(getpid)`;
//! - throughput of 1000 goroutines doing one-byte `write`s to /dev/null through `sys`.
//!
//! `cargo bench --bench handoff`. Retake latency is printed by the `retake_latency` test and
//! measured against Go in `bench/`.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};

#[path = "common/paired.rs"]
mod paired;
use goro::Runtime;
use goro::syscall as sc;

const NR_GETPID: usize = libc::SYS_getpid as usize;

fn pair(c: &mut Criterion) {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { Runtime::builder().max_procs(2).build() };
    let mut g = c.benchmark_group("in a goroutine");
    g.bench_function("entersyscall + exitsyscall", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    goro::__private::enter_exit_syscall();
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("raw_syscall(getpid)", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    // SAFETY: getpid touches no memory.
                    black_box(unsafe { sc::raw_syscall(black_box(NR_GETPID), 0, 0, 0) });
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("syscall(getpid)", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    // SAFETY: as above.
                    black_box(unsafe { sc::syscall(black_box(NR_GETPID), 0, 0, 0) });
                }
                t.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("short syscalls");
    const GOROUTINES: u64 = 1000;
    const WRITES: u64 = 100;
    g.throughput(Throughput::Elements(GOROUTINES * WRITES));
    g.bench_function("1000 goroutines x 100 one-byte writes to /dev/null", |b| {
        b.iter_custom(|iters| {
            rt.run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    let hs: Vec<_> = (0..GOROUTINES)
                        .map(|_| {
                            goro::spawn(|| {
                                let f = std::fs::File::options()
                                    .write(true)
                                    .open("/dev/null")
                                    .unwrap();
                                for _ in 0..WRITES {
                                    sc::write(f.as_fd(), b"x").unwrap();
                                }
                            })
                        })
                        .collect();
                    hs.into_iter().for_each(|h| h.join().unwrap());
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

/// `syscall(getpid)` minus `raw_syscall(getpid)`, paired: alternating rounds of each, the
/// median of the per-round differences. On a noisy machine the two separate criterion means
/// differ by more than the pair costs; pairing cancels the drift.
fn paired_difference() {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { Runtime::builder().max_procs(2).build() };
    let (raw, full, diff) = rt.run(|| {
        // SAFETY: getpid touches no memory.
        let raw = || {
            black_box(unsafe { sc::raw_syscall(black_box(NR_GETPID), 0, 0, 0) });
        };
        // SAFETY: as above.
        let full = || {
            black_box(unsafe { sc::syscall(black_box(NR_GETPID), 0, 0, 0) });
        };
        paired::paired(100_000, &raw, &full)
    });
    println!(
        "paired, in a goroutine: raw_syscall(getpid) {raw:.1} ns, syscall(getpid) {full:.1} ns, \
         enter/exit pair {diff:.1} ns (median of 41 rounds of 100,000)"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = pair
}

fn main() {
    paired_difference();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
