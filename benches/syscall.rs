//! The system-call layer's costs, side by side in one run:
//! - `getpid` through a bare `syscall` instruction, goro's `raw_syscall` and `syscall`,
//!   `libc::syscall` and rustix;
//! - `clock_gettime(CLOCK_MONOTONIC)` through goro's vDSO, glibc's, and the real system call.
//!
//! `cargo bench --bench syscall`; compare medians within one run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};

#[path = "common/paired.rs"]
mod paired;
use goro::syscall::{self as sc, Vdso};

const NR_GETPID: usize = libc::SYS_getpid as usize;

/// The physical floor: the instruction and nothing else.
#[inline(always)]
fn bare_getpid(nr: usize) -> usize {
    let r;
    // SAFETY: getpid takes no arguments and writes no memory.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") nr => r, lateout("rcx") _,
                        lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

fn entry(c: &mut Criterion) {
    let mut g = c.benchmark_group("getpid");
    g.bench_function("bare syscall instruction", |b| {
        b.iter(|| black_box(bare_getpid(black_box(NR_GETPID))))
    });
    // SAFETY: getpid takes no arguments and touches no memory.
    g.bench_function("goro raw_syscall", |b| {
        b.iter(|| black_box(unsafe { sc::raw_syscall(black_box(NR_GETPID), 0, 0, 0) }))
    });
    // SAFETY: as above.
    g.bench_function("goro syscall", |b| {
        b.iter(|| black_box(unsafe { sc::syscall(black_box(NR_GETPID), 0, 0, 0) }))
    });
    g.bench_function("goro getpid wrapper", |b| {
        b.iter(|| black_box(sc::getpid()))
    });
    // SAFETY: as above.
    g.bench_function("libc::syscall", |b| {
        b.iter(|| black_box(unsafe { libc::syscall(black_box(libc::SYS_getpid)) }))
    });
    g.bench_function("rustix getpid", |b| {
        b.iter(|| black_box(rustix::process::getpid()))
    });
    g.finish();
}

fn vdso(c: &mut Criterion) {
    // Every variant reads the two fields the way a caller does, one at a time.
    let mut g = c.benchmark_group("clock_gettime");
    let mono = libc::CLOCK_MONOTONIC;
    g.bench_function("goro vDSO", |b| {
        b.iter(|| {
            let t = sc::clock_gettime(black_box(mono)).unwrap();
            (black_box(t.tv_sec), black_box(t.tv_nsec))
        })
    });
    g.bench_function("glibc", |b| {
        b.iter(|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid, writable timespec.
            assert_eq!(unsafe { libc::clock_gettime(black_box(mono), &mut ts) }, 0);
            (black_box(ts.tv_sec), black_box(ts.tv_nsec))
        })
    });
    g.bench_function("rustix", |b| {
        b.iter(|| {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            (black_box(t.tv_sec), black_box(t.tv_nsec))
        })
    });
    let without = Vdso::without();
    g.bench_function("system call", |b| {
        b.iter(|| {
            let t = without.clock_gettime(black_box(mono)).unwrap();
            (black_box(t.tv_sec), black_box(t.tv_nsec))
        })
    });
    g.finish();
}

/// `raw_syscall(getpid)` against the bare instruction, paired: alternating rounds, the median of
/// the per-round differences (separate criterion means drift by more than the difference).
fn paired_raw_vs_bare() {
    let bare = || {
        black_box(bare_getpid(black_box(NR_GETPID)));
    };
    // SAFETY: getpid takes no arguments and touches no memory.
    let raw = || {
        black_box(unsafe { sc::raw_syscall(black_box(NR_GETPID), 0, 0, 0) });
    };
    let (b, r, d) = paired::paired(200_000, &bare, &raw);
    println!(
        "paired: bare syscall {b:.1} ns, raw_syscall {r:.1} ns, difference {:.2}% (median of \
         41 rounds of 200,000)",
        d / b * 100.0
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = entry, vdso
}

fn main() {
    paired_raw_vs_bare();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
