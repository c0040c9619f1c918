//! The workloads, one function per (workload, contender), each measuring itself in this
//! process and returning its figures and an answer every contender must agree on.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro::syscall as sc;

/// What one run measured.
pub struct Outcome {
    /// (name, value) pairs; the first is the workload's headline figure.
    pub figures: Vec<(&'static str, f64)>,
    /// The result every contender computes the same way.
    pub answer: u64,
}

fn ns_per(n: u64, d: Duration) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Peak threads and resident memory of this process, from /proc.
pub fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples the thread count every millisecond while `f` runs; returns `f`'s value and the peak.
fn with_thread_peak<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let (s, p) = (stop.clone(), peak.clone());
    let sampler = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            p.fetch_max(proc_status("Threads:"), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let v = f();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (v, peak.load(Ordering::Relaxed).saturating_sub(1)) // minus the sampler
}

/// Pairs of rounds in a `goro-trace-paired` run.
const TRACE_PAIRS: usize = 15;

/// The execution trace's cost, a difference of a few percent, measured as such: in one
/// process and on one runtime, [`TRACE_PAIRS`] pairs of rounds with tracing off in one and on
/// in the other (which goes first alternating), after one round that warms the runtime up.
/// Separate processes of one build spread more than the difference (on two Ps, a pingpong's
/// goroutines may share a P or not for a whole run). `round` returns its figure; the result is
/// the medians of the untraced and traced figures and of the pairs' ratios, traced over
/// untraced. Each trace goes to a temporary file (written untimed) removed at the end.
fn trace_paired(mut round: impl FnMut() -> f64) -> [f64; 3] {
    let path = std::env::temp_dir().join(format!("goro-bench-trace-{}.json", std::process::id()));
    round();
    let (mut off, mut on, mut ratio) = (vec![], vec![], vec![]);
    for pair in 0..TRACE_PAIRS {
        let mut fig = [0.0; 2];
        for traced in [pair % 2 == 1, pair % 2 == 0] {
            if traced {
                goro::trace::start(&path).unwrap();
            }
            fig[usize::from(traced)] = round();
            if traced {
                goro::trace::stop().unwrap();
            }
        }
        off.push(fig[0]);
        on.push(fig[1]);
        ratio.push(fig[1] / fig[0]);
    }
    let _ = std::fs::remove_file(&path);
    [median(off), median(on), median(ratio)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn goro_rt(procs: usize) -> goro::Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { goro::Runtime::builder().max_procs(procs).build() }
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// [`tokio_rt`] with its timer driver, for the workloads that sleep.
fn tokio_rt_time(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

/// [`tokio_rt`] with its I/O driver, for `echo`.
fn tokio_rt_io(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()
        .unwrap()
}

fn may_config(workers: usize) {
    may::config().set_workers(workers);
}

// ---- 1. entry: ns per getpid ----

const NR_GETPID: usize = libc::SYS_getpid as usize;

#[inline(always)]
fn bare_getpid(nr: usize) -> usize {
    let r;
    // SAFETY: getpid takes no arguments and writes no memory.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") nr => r, lateout("rcx") _, lateout("r11") _,
                        options(nostack, preserves_flags));
    }
    r
}

/// `$n` evaluations of `$call` in a loop of the caller's own, the call written into it (the
/// user's shape): ns per call, and how many returned `$pid`. A macro, not a function taking a
/// closure: LLVM left the closure holding goro's `syscall` out of line (too big to inline
/// into a generic loop), and a `ret` right after a system call mispredicts on kernels that
/// refill the return-stack predictor on the way back (AMD's SRSO "Safe RET" here): ~50 ns a
/// call that the user's inlined loop never pays, as `libc`'s row (an out-of-line call) shows.
macro_rules! direct_loop {
    ($n:expr, $pid:expr, $call:expr) => {{
        let (n, pid): (u64, usize) = ($n, $pid);
        let t = Instant::now();
        let mut ok = 0u64;
        for _ in 0..n {
            ok += u64::from($call == pid);
        }
        (ns_per(n, t.elapsed()), ok)
    }};
}

/// One `getpid` through goro's `raw_syscall`, its number a constant as a user writes it (and
/// as the generated wrappers pass it).
#[inline(always)]
fn goro_raw_getpid() -> usize {
    // SAFETY: getpid touches no memory.
    unsafe { sc::raw_syscall(NR_GETPID, 0, 0, 0) }.0
}

/// One `getpid` through goro's `syscall` (entersyscall / exitsyscall around it), the same
/// way: a number hidden from the compiler costs the pair ~4 ns here, the may-block bit's
/// index computed and checked at run time.
#[inline(always)]
fn goro_getpid() -> usize {
    // SAFETY: getpid touches no memory.
    unsafe { sc::syscall(NR_GETPID, 0, 0, 0) }.0
}

/// Rounds in `entry`'s `goro-pair`: alternating, so drift hits both sides alike; many short
/// ones (100 k calls each at full size) steady the median of their differences.
const PAIR_ROUNDS: u64 = 100;

pub fn entry(contender: &str, n: u64) -> Outcome {
    let pid = std::process::id() as usize;
    let (figures, ok) = match contender {
        "bare" => {
            let (ns, ok) = direct_loop!(n, pid, bare_getpid(black_box(NR_GETPID)));
            (vec![("ns/call", ns)], ok)
        }
        // goro's calls run in a goroutine, as a user's would.
        "goro-raw" => goro_rt(2).run(move || {
            let (ns, ok) = direct_loop!(n, pid, goro_raw_getpid());
            (vec![("ns/call", ns)], ok)
        }),
        "goro-syscall" => goro_rt(2).run(move || {
            let (ns, ok) = direct_loop!(n, pid, goro_getpid());
            (vec![("ns/call", ns)], ok)
        }),
        // The enter/exit pair: `syscall` minus `raw_syscall`, rounds alternating in one
        // goroutine; the median of the per-round differences.
        "goro-pair" => goro_rt(2).run(move || {
            let per = n / PAIR_ROUNDS;
            let (mut diffs, mut ok) = (Vec::new(), 0);
            for _ in 0..PAIR_ROUNDS {
                let (raw, a) = direct_loop!(per, pid, goro_raw_getpid());
                let (full, b) = direct_loop!(per, pid, goro_getpid());
                diffs.push(full - raw);
                ok += a + b;
            }
            diffs.sort_by(f64::total_cmp);
            (vec![("pair ns", diffs[diffs.len() / 2])], ok / 2)
        }),
        // What one locked instruction right after the call costs (a CAS on a line only this
        // thread touches): the price of a fast path with a CAS in it, as goro's had, and Go's
        // has two. The median of per-round differences, rounds alternating.
        "locked-after" => {
            let word = std::sync::atomic::AtomicU64::new(0);
            let per = n / PAIR_ROUNDS;
            let (mut diffs, mut ok) = (Vec::new(), 0);
            for _ in 0..PAIR_ROUNDS {
                let (plain, a) = direct_loop!(per, pid, bare_getpid(black_box(NR_GETPID)));
                let (locked, b) = direct_loop!(per, pid, {
                    let r = bare_getpid(black_box(NR_GETPID));
                    let v = word.load(Ordering::Relaxed);
                    let _ = word.compare_exchange(v, v + 1, Ordering::AcqRel, Ordering::Relaxed);
                    r
                });
                diffs.push(locked - plain);
                ok += a + b;
            }
            diffs.sort_by(f64::total_cmp);
            (vec![("CAS after ns", diffs[diffs.len() / 2])], ok / 2)
        }
        // SAFETY: as above.
        "libc" => {
            let (ns, ok) = direct_loop!(n, pid, unsafe {
                libc::syscall(black_box(libc::SYS_getpid)) as usize
            });
            (vec![("ns/call", ns)], ok)
        }
        "rustix" => {
            let (ns, ok) = direct_loop!(n, pid, {
                rustix::process::getpid().as_raw_nonzero().get() as usize
            });
            (vec![("ns/call", ns)], ok)
        }
        _ => unreachable!(),
    };
    Outcome {
        figures,
        answer: ok,
    }
}

// ---- 2. vdso: ns per clock_gettime(CLOCK_MONOTONIC) ----

pub fn vdso(contender: &str, n: u64) -> Outcome {
    let mono = libc::CLOCK_MONOTONIC;
    let time = |f: &dyn Fn() -> (i64, i64)| {
        let t = Instant::now();
        let mut last = (0, 0);
        let mut monotonic = 0u64;
        for _ in 0..n {
            let now = f();
            monotonic += u64::from(now >= last);
            last = now;
        }
        (ns_per(n, t.elapsed()), monotonic)
    };
    let without = goro::syscall::Vdso::without();
    let (ns, ok) = match contender {
        "goro" => time(&|| {
            let t = sc::clock_gettime(black_box(mono)).unwrap();
            (t.tv_sec, t.tv_nsec)
        }),
        "glibc" => time(&|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid, writable timespec.
            unsafe { libc::clock_gettime(black_box(mono), &mut ts) };
            (ts.tv_sec, ts.tv_nsec)
        }),
        "rustix" => time(&|| {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            (t.tv_sec, t.tv_nsec)
        }),
        "syscall" => time(&|| {
            let t = without.clock_gettime(black_box(mono)).unwrap();
            (t.tv_sec, t.tv_nsec)
        }),
        _ => unreachable!(),
    };
    Outcome {
        figures: vec![("ns/call", ns)],
        answer: ok,
    }
}

// ---- 3. handoff: CPU work beside 200 goroutines in blocking nanosleep(1 ms) ----

/// The fixed computation: `iters` steps of an LCG.
pub fn cpu_work(iters: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..iters {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i | 1));
    }
    x
}

fn nanosleep_1ms() {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    // SAFETY: a valid timespec; no remainder pointer.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

fn goro_nanosleep_1ms() {
    let ts = sc::Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    let _ = sc::nanosleep(&ts, None);
}

pub const SLEEPERS: usize = 200;

pub fn handoff(contender: &str, iters: u64) -> Outcome {
    // The CPU work alone, on this machine, in the same process: the slowdown's base.
    let alone = {
        let t = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || cpu_work(iters)))
            .collect();
        hs.into_iter().for_each(|h| drop(h.join()));
        t.elapsed()
    };
    let sleeps = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let ((answer, work), peak) = with_thread_peak(|| match contender {
        "goro" => {
            let (sleeps, done) = (sleeps.clone(), done.clone());
            goro_rt(2).run(move || {
                let sleepers: Vec<_> = (0..SLEEPERS)
                    .map(|_| {
                        let (s, d) = (sleeps.clone(), done.clone());
                        goro::spawn(move || {
                            while !d.load(Ordering::Relaxed) {
                                goro_nanosleep_1ms();
                                s.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                let t = Instant::now();
                let cpu: Vec<_> = (0..2)
                    .map(|_| goro::spawn(move || cpu_work(iters)))
                    .collect();
                let a = cpu
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .fold(0, u64::wrapping_add);
                let work = t.elapsed();
                done.store(true, Ordering::Relaxed);
                sleepers.into_iter().for_each(|h| h.join().unwrap());
                (a, work)
            })
        }
        "tokio-spawn_blocking" | "tokio-block_in_place" => {
            let rt = tokio_rt(2);
            let in_place = contender.ends_with("block_in_place");
            let (sleeps, done) = (sleeps.clone(), done.clone());
            rt.block_on(async move {
                let sleepers: Vec<_> = (0..SLEEPERS)
                    .map(|_| {
                        let (s, d) = (sleeps.clone(), done.clone());
                        tokio::spawn(async move {
                            while !d.load(Ordering::Relaxed) {
                                if in_place {
                                    tokio::task::block_in_place(nanosleep_1ms);
                                } else {
                                    tokio::task::spawn_blocking(nanosleep_1ms).await.unwrap();
                                }
                                s.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                let t = Instant::now();
                let cpu: Vec<_> = (0..2)
                    .map(|_| tokio::spawn(async move { cpu_work(iters) }))
                    .collect();
                let mut a = 0u64;
                for h in cpu {
                    a = a.wrapping_add(h.await.unwrap());
                }
                let work = t.elapsed();
                done.store(true, Ordering::Relaxed);
                for h in sleepers {
                    h.await.unwrap();
                }
                (a, work)
            })
        }
        "may" => {
            may_config(2);
            let (sleeps, done) = (sleeps.clone(), done.clone());
            let sleepers: Vec<_> = (0..SLEEPERS)
                .map(|_| {
                    let (s, d) = (sleeps.clone(), done.clone());
                    // SAFETY: may's spawn is unsafe because coroutines must not use thread-locals
                    // across yields; this one uses none.
                    unsafe {
                        may::coroutine::spawn(move || {
                            while !d.load(Ordering::Relaxed) {
                                nanosleep_1ms();
                                s.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    }
                })
                .collect();
            let t = Instant::now();
            // SAFETY: as above.
            let cpu: Vec<_> = (0..2)
                .map(|_| unsafe { may::coroutine::spawn(move || cpu_work(iters)) })
                .collect();
            let a = cpu
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add);
            let work = t.elapsed();
            done.store(true, Ordering::Relaxed);
            sleepers.into_iter().for_each(|h| h.join().unwrap());
            (a, work)
        }
        "threads" => {
            let sleepers: Vec<_> = (0..SLEEPERS)
                .map(|_| {
                    let (s, d) = (sleeps.clone(), done.clone());
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            while !d.load(Ordering::Relaxed) {
                                nanosleep_1ms();
                                s.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                        .unwrap()
                })
                .collect();
            let t = Instant::now();
            let cpu: Vec<_> = (0..2)
                .map(|_| std::thread::spawn(move || cpu_work(iters)))
                .collect();
            let a = cpu
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add);
            let work = t.elapsed();
            done.store(true, Ordering::Relaxed);
            sleepers.into_iter().for_each(|h| h.join().unwrap());
            (a, work)
        }
        _ => unreachable!(),
    });
    let slowdown = work.as_secs_f64() / alone.as_secs_f64();
    let rate = sleeps.load(Ordering::Relaxed) as f64 / work.as_secs_f64();
    Outcome {
        figures: vec![
            ("slowdown", slowdown),
            ("sleeps/s", rate),
            ("peak threads", peak as f64),
        ],
        answer,
    }
}

// ---- 4. short-syscalls: one-byte writes to /dev/null ----

fn dev_null() -> std::fs::File {
    std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .unwrap()
}

/// goro's side of `short-syscalls` on `rt`: `tasks` goroutines of `writes` calls each; returns
/// the bytes written.
fn goro_short_syscalls(rt: &goro::Runtime, tasks: usize, writes: usize) -> usize {
    let total = Arc::new(AtomicUsize::new(0));
    let t = total.clone();
    rt.run(move || {
        let hs: Vec<_> = (0..tasks)
            .map(|_| {
                let total = t.clone();
                goro::spawn(move || {
                    let f = dev_null();
                    let n: usize = (0..writes)
                        .map(|_| sc::write(f.as_fd(), b"x").unwrap())
                        .sum();
                    total.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    total.load(Ordering::Relaxed)
}

pub fn short_syscalls(contender: &str, tasks: usize, writes: usize) -> Outcome {
    if contender == "goro-trace-paired" {
        let rt = goro_rt(2);
        let [off, on, ratio] = trace_paired(|| {
            let t = Instant::now();
            let n = goro_short_syscalls(&rt, tasks, writes);
            assert_eq!(n, tasks * writes);
            n as f64 / t.elapsed().as_secs_f64()
        });
        return Outcome {
            figures: vec![
                ("untraced calls/s", off),
                ("traced calls/s", on),
                ("traced/untraced", ratio),
            ],
            answer: (tasks * writes) as u64,
        };
    }
    let total = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    match contender {
        "goro" => {
            total.fetch_add(
                goro_short_syscalls(&goro_rt(2), tasks, writes),
                Ordering::Relaxed,
            );
        }
        "tokio-spawn_blocking" | "tokio-block_in_place" => {
            let in_place = contender.ends_with("block_in_place");
            let total = total.clone();
            tokio_rt(2).block_on(async move {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        let total = total.clone();
                        tokio::spawn(async move {
                            let f = Arc::new(dev_null());
                            let mut n = 0;
                            for _ in 0..writes {
                                let f = f.clone();
                                let w = move || rustix::io::write(&*f, b"x").unwrap();
                                n += if in_place {
                                    tokio::task::block_in_place(w)
                                } else {
                                    tokio::task::spawn_blocking(w).await.unwrap()
                                };
                            }
                            total.fetch_add(n, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
        }
        "may" => {
            may_config(2);
            let hs: Vec<_> = (0..tasks)
                .map(|_| {
                    let total = total.clone();
                    // SAFETY: no thread-locals across yields.
                    unsafe {
                        may::coroutine::spawn(move || {
                            let f = dev_null();
                            let n: usize = (0..writes)
                                .map(|_| rustix::io::write(&f, b"x").unwrap())
                                .sum();
                            total.fetch_add(n, Ordering::Relaxed);
                        })
                    }
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        }
        "one-thread" => {
            let f = dev_null();
            let n: usize = (0..tasks * writes)
                .map(|_| rustix::io::write(&f, b"x").unwrap())
                .sum();
            total.fetch_add(n, Ordering::Relaxed);
        }
        _ => unreachable!(),
    }
    let d = t.elapsed();
    let n = total.load(Ordering::Relaxed);
    Outcome {
        figures: vec![("calls/s", n as f64 / d.as_secs_f64())],
        answer: n as u64,
    }
}

// ---- 6. spawn: spawn and join N ----

pub fn spawn(contender: &str, n: u64) -> Outcome {
    let t = Instant::now();
    let answer = match contender {
        "goro" => goro_rt(2).run(move || {
            let hs: Vec<_> = (0..n).map(|i| goro::spawn(move || i)).collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        }),
        // Go's shape: no handles kept, each goroutine writes its slot, a WaitGroup waits.
        "goro-wg" => goro_rt(2).run(move || {
            let res: Arc<[AtomicU64]> = (0..n).map(|_| AtomicU64::new(0)).collect();
            let wg = goro::WaitGroup::new();
            for i in 0..n {
                let res = res.clone();
                wg.go(move || res[i as usize].store(i, Ordering::Relaxed));
            }
            wg.wait();
            res.iter()
                .map(|v| v.load(Ordering::Relaxed))
                .fold(0, u64::wrapping_add)
        }),
        "tokio" => tokio_rt(2).block_on(async move {
            let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            let mut s = 0u64;
            for h in hs {
                s = s.wrapping_add(h.await.unwrap());
            }
            s
        }),
        "may" => {
            may_config(2);
            // SAFETY: no thread-locals across yields.
            let hs: Vec<_> = (0..n)
                .map(|i| unsafe { may::coroutine::spawn(move || i) })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        }
        _ => unreachable!(),
    };
    let d = t.elapsed();
    Outcome {
        figures: vec![
            ("seconds", d.as_secs_f64()),
            ("peak RSS MiB", proc_status("VmHWM:") as f64 / 1024.0),
        ],
        answer,
    }
}

/// How many goroutines can be parked on a channel at once: spawns `n`, all blocked, then
/// releases them. Exits the process (by abort) if the runtime cannot.
pub fn alive(n: u64) -> Outcome {
    let base = proc_status("VmRSS:");
    let answer = goro_rt(2).run(move || {
        let (tx, rx) = goro::chan::<u64>(0);
        let wg = goro::WaitGroup::new();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (rx, wg) = (rx.clone(), wg.clone());
                wg.add(1);
                goro::spawn(move || {
                    wg.done();
                    rx.recv().unwrap_or(0)
                })
            })
            .collect();
        wg.wait(); // every one has started and is about to block
        for i in 0..n {
            tx.send(i).unwrap();
        }
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .fold(0, u64::wrapping_add)
    });
    let peak = proc_status("VmHWM:");
    Outcome {
        figures: vec![
            ("alive", n as f64),
            ("peak RSS MiB", peak as f64 / 1024.0),
            ("KiB/goroutine", (peak - base) as f64 / n as f64),
        ],
        answer,
    }
}

// ---- 7. pingpong: round trips between two goroutines ----

/// goro's side of `pingpong` on `rt`: the time `n` round trips took, and the last value.
fn goro_pingpong(rt: &goro::Runtime, n: u64) -> (Duration, u64) {
    rt.run(move || {
        let (a_tx, a_rx) = goro::chan::<u64>(0);
        let (b_tx, b_rx) = goro::chan::<u64>(0);
        let echo = goro::spawn(move || {
            for v in a_rx {
                b_tx.send(v + 1).unwrap();
            }
        });
        let t = Instant::now();
        let mut x = 0;
        for _ in 0..n {
            a_tx.send(x).unwrap();
            x = b_rx.recv().unwrap();
        }
        let d = t.elapsed();
        drop(a_tx);
        echo.join().unwrap();
        (d, x)
    })
}

pub fn pingpong(contender: &str, n: u64) -> Outcome {
    if contender == "goro-trace-paired" {
        let rt = goro_rt(2);
        let [off, on, ratio] = trace_paired(|| {
            let (d, x) = goro_pingpong(&rt, n);
            assert_eq!(x, n);
            ns_per(n, d)
        });
        return Outcome {
            figures: vec![
                ("untraced ns/round trip", off),
                ("traced ns/round trip", on),
                ("traced/untraced", ratio),
            ],
            answer: n,
        };
    }
    let (d, answer) = match contender {
        "goro" => goro_pingpong(&goro_rt(2), n),
        // Both ends are tasks on the workers (not `block_on`'s thread, which would make every
        // round trip a cross-thread wake-up).
        "tokio" => tokio_rt(2).block_on(async move {
            tokio::spawn(async move {
                let (a_tx, mut a_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (b_tx, mut b_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Some(v) = a_rx.recv().await {
                        b_tx.send(v + 1).await.unwrap();
                    }
                });
                let t = Instant::now();
                let mut x = 0;
                for _ in 0..n {
                    a_tx.send(x).await.unwrap();
                    x = b_rx.recv().await.unwrap();
                }
                let d = t.elapsed();
                drop(a_tx);
                echo.await.unwrap();
                (d, x)
            })
            .await
            .unwrap()
        }),
        "may" => {
            may_config(2);
            let (a_tx, a_rx) = may::sync::mpsc::channel::<u64>();
            let (b_tx, b_rx) = may::sync::mpsc::channel::<u64>();
            // SAFETY: no thread-locals across yields.
            let echo = unsafe {
                may::coroutine::spawn(move || {
                    while let Ok(v) = a_rx.recv() {
                        b_tx.send(v + 1).unwrap();
                    }
                })
            };
            // SAFETY: as above.
            let main = unsafe {
                may::coroutine::spawn(move || {
                    let t = Instant::now();
                    let mut x = 0;
                    for _ in 0..n {
                        a_tx.send(x).unwrap();
                        x = b_rx.recv().unwrap();
                    }
                    (t.elapsed(), x)
                })
            };
            let r = main.join().unwrap();
            echo.join().unwrap();
            r
        }
        _ => unreachable!(),
    };
    Outcome {
        figures: vec![("ns/round trip", ns_per(n, d))],
        answer,
    }
}

// ---- 8. retake: P = 1; A blocks in read; how long until B runs ----

pub fn retake(contender: &str, samples: usize) -> Outcome {
    let mut lat: Vec<Duration> = match contender {
        // `goro-std`: A blocks in std's `read` on the pipe, outside goro's wrappers.
        "goro" | "goro-std" => {
            let std_read = contender == "goro-std";
            let rt = goro_rt(1);
            (0..samples)
                .map(|_| {
                    rt.run(move || {
                        let (r, w) = sc::pipe().unwrap();
                        let t0 = Instant::now();
                        let ran = Arc::new(AtomicU64::new(0));
                        let ran2 = ran.clone();
                        let a = goro::spawn(move || {
                            let b = goro::spawn(move || {
                                ran2.store(t0.elapsed().as_nanos() as u64, Ordering::Release)
                            });
                            let entered = t0.elapsed();
                            let mut buf = [0u8; 1];
                            if std_read {
                                let _ = std::io::Read::read(&mut std::fs::File::from(r), &mut buf);
                            } else {
                                let _ = sc::read(r.as_fd(), &mut buf);
                            }
                            b.join().unwrap();
                            entered
                        });
                        goro::spawn(move || {
                            let ts = sc::Timespec {
                                tv_sec: 0,
                                tv_nsec: 200_000_000,
                            };
                            let _ = sc::nanosleep(&ts, None);
                            sc::write(w.as_fd(), b"x").unwrap();
                        });
                        let entered = a.join().unwrap();
                        Duration::from_nanos(ran.load(Ordering::Acquire)).saturating_sub(entered)
                    })
                })
                .collect()
        }
        "tokio-block_in_place" => {
            let rt = tokio_rt(1);
            (0..samples)
                .map(|_| {
                    rt.block_on(async {
                        let (r, w) = rustix::pipe::pipe().unwrap();
                        let t0 = Instant::now();
                        let ran = Arc::new(AtomicU64::new(0));
                        let ran2 = ran.clone();
                        let a = tokio::spawn(async move {
                            let b = tokio::spawn(async move {
                                ran2.store(t0.elapsed().as_nanos() as u64, Ordering::Release)
                            });
                            let entered = t0.elapsed();
                            tokio::task::block_in_place(|| {
                                let mut buf = [0u8; 1];
                                let _ = rustix::io::read(&r, &mut buf);
                            });
                            b.await.unwrap();
                            entered
                        });
                        let writer = std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(200));
                            rustix::io::write(&w, b"x").unwrap();
                        });
                        let entered = a.await.unwrap();
                        writer.join().unwrap();
                        Duration::from_nanos(ran.load(Ordering::Acquire)).saturating_sub(entered)
                    })
                })
                .collect()
        }
        _ => unreachable!(),
    };
    if std::env::var_os("BENCH_RETAKE_SAMPLES").is_some() {
        // Each sample in order, for telling the first ones (new threads) from the rest.
        let each: Vec<String> = lat
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e6))
            .collect();
        eprintln!("retake samples us: {}", each.join(" "));
    }
    lat.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Outcome {
        figures: vec![
            ("median us", us(lat[lat.len() / 2])),
            ("max us", us(lat[lat.len() - 1])),
        ],
        answer: samples as u64,
    }
}

// ---- 5. treewalk: du over a tree, one task per directory ----

/// Makes (once) a tree of `dirs` x `per_dir` sparse files under `root` and returns the sum of
/// their sizes.
pub fn make_tree(root: &std::path::Path, dirs: usize, per_dir: usize) -> u64 {
    let stamp = root.join(format!(".complete-{dirs}-{per_dir}"));
    let mut sum = 0u64;
    let build = !stamp.exists();
    if build {
        let _ = std::fs::remove_dir_all(root);
    }
    for d in 0..dirs {
        let dir = root
            .join(format!("d{:03}", d / 100))
            .join(format!("e{d:05}"));
        if build {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for f in 0..per_dir {
            let size = ((d * per_dir + f) * 37 % 10_000) as u64;
            sum += size;
            if build {
                std::fs::File::create(dir.join(format!("f{f:04}")))
                    .unwrap()
                    .set_len(size)
                    .unwrap();
            }
        }
    }
    if build {
        std::fs::write(&stamp, b"").unwrap();
    }
    sum
}

/// Sizes of the regular files in `dir`, and its subdirectories, through goro's wrappers.
fn goro_dir(dir: &std::path::Path) -> (u64, Vec<std::path::PathBuf>) {
    use linux_raw_sys::general::{
        AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_DIRECTORY, O_RDONLY, S_IFDIR, S_IFMT,
    };
    let fd = sc::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0).unwrap();
    let mut buf = vec![0u8; 32 * 1024];
    let (mut sum, mut subdirs) = (0u64, Vec::new());
    let mut st = <sc::Stat as sc::Pod>::zeroed();
    loop {
        let n = sc::getdents64(fd.as_fd(), &mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap()];
            off += reclen;
            if name == b"." || name == b".." || name.starts_with(b".complete") {
                continue;
            }
            let cname = std::ffi::CString::new(name).unwrap();
            sc::fstatat(fd.as_fd(), cname.as_c_str(), &mut st, AT_SYMLINK_NOFOLLOW).unwrap();
            if st.st_mode & S_IFMT == S_IFDIR {
                subdirs.push(dir.join(std::ffi::OsStr::new(std::str::from_utf8(name).unwrap())));
            } else {
                sum += st.st_size as u64;
            }
        }
    }
    (sum, subdirs)
}

/// The same through `goro::fs`: `read_dir`, and each entry's `metadata` (an `fstatat`-like
/// `statx` relative to the directory's descriptor, as std's `DirEntry::metadata`).
fn goro_fs_dir(dir: &std::path::Path) -> (u64, Vec<std::path::PathBuf>) {
    let (mut sum, mut subdirs) = (0u64, Vec::new());
    for e in goro::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name_cstr().to_bytes().starts_with(b".complete") {
            continue;
        }
        let md = e.metadata().unwrap();
        if md.is_dir() {
            subdirs.push(e.path());
        } else {
            sum += md.len();
        }
    }
    (sum, subdirs)
}

fn std_dir(dir: &std::path::Path) -> (u64, Vec<std::path::PathBuf>) {
    let (mut sum, mut subdirs) = (0u64, Vec::new());
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(".complete") {
            continue;
        }
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        if md.is_dir() {
            subdirs.push(e.path());
        } else {
            sum += md.len();
        }
    }
    (sum, subdirs)
}

/// One directory's file sizes and subdirectories.
type DirFn = fn(&std::path::Path) -> (u64, Vec<std::path::PathBuf>);

pub fn treewalk(contender: &str, root: &std::path::Path) -> Outcome {
    let t = Instant::now();
    let root = root.to_path_buf();
    let answer = match contender {
        "goro" | "goro-fs" => {
            let dir_fn = if contender == "goro" {
                goro_dir
            } else {
                goro_fs_dir
            };
            goro_rt(2).run(move || {
                fn walk(dir: std::path::PathBuf, dir_fn: DirFn) -> u64 {
                    let (sum, subdirs) = dir_fn(&dir);
                    let hs: Vec<_> = subdirs
                        .into_iter()
                        .map(|d| goro::spawn(move || walk(d, dir_fn)))
                        .collect();
                    sum + hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                }
                walk(root, dir_fn)
            })
        }
        "tokio" => tokio_rt(2).block_on(async move {
            fn walk(
                dir: std::path::PathBuf,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
                Box::pin(async move {
                    let (sum, subdirs) = tokio::task::spawn_blocking(move || std_dir(&dir))
                        .await
                        .unwrap();
                    let hs: Vec<_> = subdirs.into_iter().map(|d| tokio::spawn(walk(d))).collect();
                    let mut s = sum;
                    for h in hs {
                        s += h.await.unwrap();
                    }
                    s
                })
            }
            walk(root).await
        }),
        "may" => {
            may_config(2);
            fn walk(dir: std::path::PathBuf) -> u64 {
                let (sum, subdirs) = std_dir(&dir);
                // SAFETY: no thread-locals across yields.
                let hs: Vec<_> = subdirs
                    .into_iter()
                    .map(|d| unsafe { may::coroutine::spawn(move || walk(d)) })
                    .collect();
                sum + hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            }
            // SAFETY: as above.
            unsafe { may::coroutine::spawn(move || walk(root)) }
                .join()
                .unwrap()
        }
        _ => unreachable!(),
    };
    Outcome {
        figures: vec![("seconds", t.elapsed().as_secs_f64())],
        answer,
    }
}

// ---- 9. sleep: lateness of a 1 ms sleep; the rate of many tasks sleeping 1-10 ms ----

/// The CPU time (user and system) of this process (`RUSAGE_SELF`) or of its children waited
/// for (`RUSAGE_CHILDREN`).
fn cpu_time(who: i32) -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let ru = unsafe {
        let mut ru = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The next sleep of a sleeper whose LCG state is `x`: 1 to 10 ms.
fn next_sleep(x: &mut u64) -> Duration {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Duration::from_millis(1 + (*x >> 33) % 10)
}

/// Where the steady-state phase of the sleepers starts: wall clock, CPU time, sleeps so far.
struct Window(Instant, Duration, u64);

impl Window {
    fn start(sleeps: &AtomicU64) -> Window {
        Window(
            Instant::now(),
            cpu_time(libc::RUSAGE_SELF),
            sleeps.load(Ordering::Relaxed),
        )
    }

    /// (sleeps per second, CPU microseconds per sleep) since `start`.
    fn end(&self, sleeps: &AtomicU64) -> (f64, f64) {
        let n = (sleeps.load(Ordering::Relaxed) - self.2) as f64;
        let (wall, cpu) = (self.0.elapsed(), cpu_time(libc::RUSAGE_SELF) - self.1);
        (n / wall.as_secs_f64(), cpu.as_secs_f64() * 1e6 / n)
    }
}

const ONE_MS: Duration = Duration::from_millis(1);

/// `samples` 1 ms sleeps in a row, then `tasks` sleepers of 1-10 ms for `millis` of wall time.
/// The answer: samples, plus the sleepers that slept at least once (all of them).
pub fn sleep(contender: &str, samples: usize, tasks: u64, millis: u64) -> Outcome {
    let wall = Duration::from_millis(millis);
    let sleeps = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (mut late, (rate, cpu), done): (Vec<Duration>, _, u64) = match contender {
        "goro" => goro_rt(2).run(move || {
            let late = (0..samples)
                .map(|_| {
                    let t = Instant::now();
                    goro::sleep(ONE_MS);
                    t.elapsed() - ONE_MS
                })
                .collect();
            let hs: Vec<_> = (0..tasks)
                .map(|i| {
                    let (sleeps, stop) = (sleeps.clone(), stop.clone());
                    goro::spawn(move || {
                        let mut x = i;
                        loop {
                            goro::sleep(next_sleep(&mut x));
                            sleeps.fetch_add(1, Ordering::Relaxed);
                            if stop.load(Ordering::Relaxed) {
                                return 1;
                            }
                        }
                    })
                })
                .collect();
            let w = Window::start(&sleeps);
            goro::sleep(wall);
            let r = w.end(&sleeps);
            stop.store(true, Ordering::Relaxed);
            (late, r, hs.into_iter().map(|h| h.join().unwrap()).sum())
        }),
        "tokio" => tokio_rt_time(2).block_on(async move {
            tokio::spawn(async move {
                let mut late = Vec::with_capacity(samples);
                for _ in 0..samples {
                    let t = Instant::now();
                    tokio::time::sleep(ONE_MS).await;
                    late.push(t.elapsed() - ONE_MS);
                }
                let hs: Vec<_> = (0..tasks)
                    .map(|i| {
                        let (sleeps, stop) = (sleeps.clone(), stop.clone());
                        tokio::spawn(async move {
                            let mut x = i;
                            loop {
                                tokio::time::sleep(next_sleep(&mut x)).await;
                                sleeps.fetch_add(1, Ordering::Relaxed);
                                if stop.load(Ordering::Relaxed) {
                                    return 1;
                                }
                            }
                        })
                    })
                    .collect();
                let w = Window::start(&sleeps);
                tokio::time::sleep(wall).await;
                let r = w.end(&sleeps);
                stop.store(true, Ordering::Relaxed);
                let mut done = 0;
                for h in hs {
                    done += h.await.unwrap();
                }
                (late, r, done)
            })
            .await
            .unwrap()
        }),
        "threads" => {
            let late = (0..samples)
                .map(|_| {
                    let t = Instant::now();
                    std::thread::sleep(ONE_MS);
                    t.elapsed() - ONE_MS
                })
                .collect();
            let hs: Vec<_> = (0..tasks)
                .map(|i| {
                    let (sleeps, stop) = (sleeps.clone(), stop.clone());
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            let mut x = i;
                            loop {
                                std::thread::sleep(next_sleep(&mut x));
                                sleeps.fetch_add(1, Ordering::Relaxed);
                                if stop.load(Ordering::Relaxed) {
                                    return 1;
                                }
                            }
                        })
                        .expect("a sleeper thread")
                })
                .collect();
            let w = Window::start(&sleeps);
            std::thread::sleep(wall);
            let r = w.end(&sleeps);
            stop.store(true, Ordering::Relaxed);
            (late, r, hs.into_iter().map(|h| h.join().unwrap()).sum())
        }
        _ => unreachable!(),
    };
    late.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Outcome {
        figures: vec![
            ("late median us", us(late[late.len() / 2])),
            (
                "late p99 us",
                us(late[(late.len() * 99 / 100).min(late.len() - 1)]),
            ),
            ("sleeps/s", rate),
            ("CPU us/sleep", cpu),
        ],
        answer: samples as u64 + done,
    }
}

// ---- 10. select: ping-pong where each side waits in a two-arm select ----

/// A sends on c1 and waits in a select over {c2, a channel that never fires}; B mirrors it.
/// The answer: the value after `n` round trips, each adding one (n).
pub fn select(contender: &str, n: u64) -> Outcome {
    let (d, answer) = match contender {
        "goro" => goro_rt(2).run(move || {
            let (c1_tx, c1_rx) = goro::chan::<u64>(0);
            let (c2_tx, c2_rx) = goro::chan::<u64>(0);
            let (_never_a_tx, never_a) = goro::chan::<u64>(0);
            let (_never_b_tx, never_b) = goro::chan::<u64>(0);
            let b = goro::spawn(move || {
                for _ in 0..n {
                    goro::select! {
                        recv(c1_rx) -> v => c2_tx.send(v.unwrap() + 1).unwrap(),
                        recv(never_b) -> _ => unreachable!(),
                    }
                }
            });
            let t = Instant::now();
            let mut x = 0;
            for _ in 0..n {
                c1_tx.send(x).unwrap();
                goro::select! {
                    recv(c2_rx) -> v => x = v.unwrap(),
                    recv(never_a) -> _ => unreachable!(),
                }
            }
            let d = t.elapsed();
            b.join().unwrap();
            (d, x)
        }),
        "crossbeam" => {
            let (c1_tx, c1_rx) = crossbeam_channel::bounded::<u64>(0);
            let (c2_tx, c2_rx) = crossbeam_channel::bounded::<u64>(0);
            let (_never_a_tx, never_a) = crossbeam_channel::bounded::<u64>(0);
            let (_never_b_tx, never_b) = crossbeam_channel::bounded::<u64>(0);
            let b = std::thread::spawn(move || {
                for _ in 0..n {
                    crossbeam_channel::select! {
                        recv(c1_rx) -> v => c2_tx.send(v.unwrap() + 1).unwrap(),
                        recv(never_b) -> _ => unreachable!(),
                    }
                }
            });
            let t = Instant::now();
            let mut x = 0;
            for _ in 0..n {
                c1_tx.send(x).unwrap();
                crossbeam_channel::select! {
                    recv(c2_rx) -> v => x = v.unwrap(),
                    recv(never_a) -> _ => unreachable!(),
                }
            }
            let d = t.elapsed();
            b.join().unwrap();
            (d, x)
        }
        // tokio's mpsc has no rendezvous channel: capacity 1, the smallest.
        "tokio" => tokio_rt(2).block_on(async move {
            tokio::spawn(async move {
                let (c1_tx, mut c1_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (c2_tx, mut c2_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (_never_a_tx, mut never_a) = tokio::sync::mpsc::channel::<u64>(1);
                let (_never_b_tx, mut never_b) = tokio::sync::mpsc::channel::<u64>(1);
                let b = tokio::spawn(async move {
                    for _ in 0..n {
                        tokio::select! {
                            v = c1_rx.recv() => c2_tx.send(v.unwrap() + 1).await.unwrap(),
                            _ = never_b.recv() => unreachable!(),
                        }
                    }
                });
                let t = Instant::now();
                let mut x = 0;
                for _ in 0..n {
                    c1_tx.send(x).await.unwrap();
                    tokio::select! {
                        v = c2_rx.recv() => x = v.unwrap(),
                        _ = never_a.recv() => unreachable!(),
                    }
                }
                let d = t.elapsed();
                b.await.unwrap();
                (d, x)
            })
            .await
            .unwrap()
        }),
        _ => unreachable!(),
    };
    Outcome {
        figures: vec![("ns/round trip", ns_per(n, d))],
        answer,
    }
}

// ---- 11. mutex: 2 x P tasks incrementing one counter under one lock ----

/// Tasks contending for the lock: twice the Ps / worker threads.
const MUTEX_TASKS: u64 = 4;

/// The work between two increments, outside the lock: 100 steps of an LCG.
#[inline(always)]
fn between(x: u64) -> u64 {
    let mut x = x;
    for _ in 0..100 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    x
}

/// `total` increments shared by [`MUTEX_TASKS`] tasks; each times its `lock()` calls and keeps
/// the longest. The answer: the final counter (`total` rounded down to a multiple of the tasks).
pub fn mutex(contender: &str, total: u64) -> Outcome {
    let per = total / MUTEX_TASKS;
    let (count, waits, d): (u64, Vec<Duration>, Duration) = match contender {
        "goro" => goro_rt(2).run(move || {
            let m = Arc::new(goro::sync::Mutex::new(0u64));
            let t = Instant::now();
            let hs: Vec<_> = (0..MUTEX_TASKS)
                .map(|i| {
                    let m = m.clone();
                    goro::spawn(move || {
                        let (mut x, mut worst) = (i, Duration::ZERO);
                        for _ in 0..per {
                            x = between(x);
                            let t0 = Instant::now();
                            let mut g = m.lock();
                            worst = worst.max(t0.elapsed());
                            *g += 1;
                            drop(g);
                        }
                        black_box(x);
                        worst
                    })
                })
                .collect();
            let waits = hs.into_iter().map(|h| h.join().unwrap()).collect();
            (*m.lock(), waits, t.elapsed())
        }),
        "std" => goro_rt(2).run(move || {
            let m = Arc::new(std::sync::Mutex::new(0u64));
            let t = Instant::now();
            let hs: Vec<_> = (0..MUTEX_TASKS)
                .map(|i| {
                    let m = m.clone();
                    goro::spawn(move || {
                        let (mut x, mut worst) = (i, Duration::ZERO);
                        for _ in 0..per {
                            x = between(x);
                            let t0 = Instant::now();
                            let mut g = m.lock().unwrap();
                            worst = worst.max(t0.elapsed());
                            *g += 1;
                            drop(g);
                        }
                        black_box(x);
                        worst
                    })
                })
                .collect();
            let waits = hs.into_iter().map(|h| h.join().unwrap()).collect();
            (*m.lock().unwrap(), waits, t.elapsed())
        }),
        "parking_lot" => goro_rt(2).run(move || {
            let m = Arc::new(parking_lot::Mutex::new(0u64));
            let t = Instant::now();
            let hs: Vec<_> = (0..MUTEX_TASKS)
                .map(|i| {
                    let m = m.clone();
                    goro::spawn(move || {
                        let (mut x, mut worst) = (i, Duration::ZERO);
                        for _ in 0..per {
                            x = between(x);
                            let t0 = Instant::now();
                            let mut g = m.lock();
                            worst = worst.max(t0.elapsed());
                            *g += 1;
                            drop(g);
                        }
                        black_box(x);
                        worst
                    })
                })
                .collect();
            let waits = hs.into_iter().map(|h| h.join().unwrap()).collect();
            (*m.lock(), waits, t.elapsed())
        }),
        "tokio" => tokio_rt(2).block_on(async move {
            let m = Arc::new(tokio::sync::Mutex::new(0u64));
            let t = Instant::now();
            let hs: Vec<_> = (0..MUTEX_TASKS)
                .map(|i| {
                    let m = m.clone();
                    tokio::spawn(async move {
                        let (mut x, mut worst) = (i, Duration::ZERO);
                        for _ in 0..per {
                            x = between(x);
                            let t0 = Instant::now();
                            let mut g = m.lock().await;
                            worst = worst.max(t0.elapsed());
                            *g += 1;
                            drop(g);
                        }
                        black_box(x);
                        worst
                    })
                })
                .collect();
            let mut waits = Vec::new();
            for h in hs {
                waits.push(h.await.unwrap());
            }
            let count = *m.lock().await;
            (count, waits, t.elapsed())
        }),
        _ => unreachable!(),
    };
    let worst = waits.into_iter().max().unwrap_or_default();
    Outcome {
        figures: vec![
            ("M locks/s", count as f64 / d.as_secs_f64() / 1e6),
            ("max wait us", worst.as_secs_f64() * 1e6),
        ],
        answer: count,
    }
}

// ---- echo: N connections x 64-byte round trips, server here, load client in a child ----

/// Bytes per message of `echo`.
const ECHO_MSG: usize = 64;

/// The client's process: this binary's `one echo-client CONTENDER CONNS ROUNDS ADDR`, of the
/// server's contender, or of the one `BENCH_ECHO_CLIENT` names (to pair one contender's server
/// with another's client: `BENCH_ECHO_CLIENT=tokio bench one echo goro 100 100`).
fn echo_client_process(server: &str, conns: u64, rounds: u64, addr: &str) -> std::process::Child {
    let contender = std::env::var("BENCH_ECHO_CLIENT").unwrap_or_else(|_| server.to_string());
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["one", "echo-client", &contender])
        .args([conns.to_string(), rounds.to_string(), addr.to_string()])
        .stdout(std::process::Stdio::null()) // the server's RESULT line is the one
        .spawn()
        .unwrap()
}

/// The kernel's `somaxconn`: the listen backlog of every contender's `echo` server (Go's and
/// goro's own choice). With std's 128 (tokio, threads) or may's 1024, a burst of 10,000
/// connects overflows the accept queue; the SYNs dropped are sent again after 1 s, 3 s, ...,
/// which measures the backlog rather than the runtime.
fn somaxconn() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Raises the backlog of a listening socket to [`somaxconn`]: `listen` again on a socket that
/// listens already only changes its backlog (for may and std, which take no backlog).
fn relisten(l: &impl std::os::fd::AsRawFd) {
    // SAFETY: `listen` on a descriptor the caller's listener owns and keeps open.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), somaxconn()) }, 0);
}

/// The times `echo`'s server measures: the first accept, and the last.
#[derive(Default)]
struct Accepts(Option<Instant>, Option<Instant>);

impl Accepts {
    fn accepted(&mut self) {
        let now = Instant::now();
        self.0.get_or_insert(now);
        self.1 = Some(now);
    }

    /// The whole run (first accept to now) and the part of it spent accepting.
    fn end(&self) -> (Duration, Duration) {
        let first = self.0.unwrap();
        (first.elapsed(), self.1.unwrap() - first)
    }
}

/// The server side of `echo`: accepts `conns` connections from a client process of the same
/// contender and echoes on each until it closes. Every server listens with the same backlog
/// ([`somaxconn`]). Figures: round trips per second (from the first accept to the last
/// connection's end: connection set-up included), how long of that the accepts took (the
/// client connects all at once; each connection starts its round trips when connected), the
/// server's peak threads and peak RSS, and the CPU time per round trip of the server process
/// and of the client process (each whole process: start-up and connecting included).
pub fn echo(contender: &str, conns: u64, rounds: u64) -> Outcome {
    let (((d, accepting), bytes), threads) = with_thread_peak(|| match contender {
        "goro" => goro_rt(2).run(move || {
            use std::io::{Read, Write};
            let l = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let mut client = echo_client_process("goro", conns, rounds, &addr);
            let total = Arc::new(AtomicU64::new(0));
            let wg = goro::WaitGroup::new();
            let mut t = Accepts::default();
            for _ in 0..conns {
                let (mut c, _) = l.accept().unwrap();
                t.accepted();
                let total = total.clone();
                wg.go(move || {
                    let mut b = [0u8; ECHO_MSG];
                    while c.read_exact(&mut b).is_ok() && c.write_all(&b).is_ok() {
                        total.fetch_add(ECHO_MSG as u64, Ordering::Relaxed);
                    }
                });
            }
            wg.wait();
            let d = t.end();
            assert!(goro::blocking(|| client.wait()).unwrap().success());
            (d, total.load(Ordering::Relaxed))
        }),
        "tokio" => tokio_rt_io(2).block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.set_reuseaddr(true).unwrap();
            s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let l = s.listen(somaxconn() as u32).unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let mut client = echo_client_process("tokio", conns, rounds, &addr);
            let total = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            let mut t = Accepts::default();
            for _ in 0..conns {
                let (mut c, _) = l.accept().await.unwrap();
                t.accepted();
                let total = total.clone();
                tasks.push(tokio::spawn(async move {
                    let mut b = [0u8; ECHO_MSG];
                    while c.read_exact(&mut b).await.is_ok() && c.write_all(&b).await.is_ok() {
                        total.fetch_add(ECHO_MSG as u64, Ordering::Relaxed);
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let d = t.end();
            assert!(
                tokio::task::block_in_place(|| client.wait())
                    .unwrap()
                    .success()
            );
            (d, total.load(Ordering::Relaxed))
        }),
        "may" => {
            may_config(2);
            // SAFETY: may's spawn is unsafe because coroutines must not use thread-locals
            // across yields; neither the acceptor nor the connections use any.
            unsafe {
                may::coroutine::spawn(move || {
                    use std::io::{Read, Write};
                    let l = may::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    relisten(&l);
                    let addr = l.local_addr().unwrap().to_string();
                    let mut client = echo_client_process("may", conns, rounds, &addr);
                    let total = Arc::new(AtomicU64::new(0));
                    let mut t = Accepts::default();
                    let handles: Vec<_> = (0..conns)
                        .map(|_| {
                            let (mut c, _) = l.accept().unwrap();
                            t.accepted();
                            let total = total.clone();
                            // SAFETY: as above.
                            may::coroutine::spawn(move || {
                                let mut b = [0u8; ECHO_MSG];
                                while c.read_exact(&mut b).is_ok() && c.write_all(&b).is_ok() {
                                    total.fetch_add(ECHO_MSG as u64, Ordering::Relaxed);
                                }
                            })
                        })
                        .collect();
                    handles.into_iter().for_each(|h| h.join().unwrap());
                    let d = t.end();
                    assert!(client.wait().unwrap().success());
                    (d, total.load(Ordering::Relaxed))
                })
            }
            .join()
            .unwrap()
        }
        "threads" => {
            use std::io::{Read, Write};
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            relisten(&l);
            let addr = l.local_addr().unwrap().to_string();
            let mut client = echo_client_process("threads", conns, rounds, &addr);
            let total = Arc::new(AtomicU64::new(0));
            let mut t = Accepts::default();
            let handles: Vec<_> = (0..conns)
                .map(|_| {
                    let (mut c, _) = l.accept().unwrap();
                    t.accepted();
                    let total = total.clone();
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            let mut b = [0u8; ECHO_MSG];
                            while c.read_exact(&mut b).is_ok() && c.write_all(&b).is_ok() {
                                total.fetch_add(ECHO_MSG as u64, Ordering::Relaxed);
                            }
                        })
                        .unwrap()
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            let d = t.end();
            assert!(client.wait().unwrap().success());
            (d, total.load(Ordering::Relaxed))
        }
        _ => unreachable!(),
    });
    let per_rt = |t: Duration| t.as_secs_f64() * 1e6 / (conns * rounds) as f64;
    Outcome {
        figures: vec![
            ("round trips/s", (conns * rounds) as f64 / d.as_secs_f64()),
            ("accepting s", accepting.as_secs_f64()),
            ("peak threads", threads as f64),
            ("peak RSS MiB", proc_status("VmHWM:") as f64 / 1024.0),
            ("server CPU us/rt", per_rt(cpu_time(libc::RUSAGE_SELF))),
            ("client CPU us/rt", per_rt(cpu_time(libc::RUSAGE_CHILDREN))),
        ],
        answer: bytes / ECHO_MSG as u64,
    }
}

/// The client side of `echo`: `conns` connections to `addr`, each making `rounds` round trips.
pub fn echo_client(contender: &str, conns: u64, rounds: u64, addr: &str) -> Outcome {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    match contender {
        "goro" => goro_rt(2).run(move || {
            use std::io::{Read, Write};
            let wg = goro::WaitGroup::new();
            for _ in 0..conns {
                wg.go(move || {
                    let mut c = goro::net::TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    let mut b = [7u8; ECHO_MSG];
                    for _ in 0..rounds {
                        c.write_all(&b).unwrap();
                        c.read_exact(&mut b).unwrap();
                    }
                });
            }
            wg.wait();
        }),
        "tokio" => tokio_rt_io(2).block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let tasks: Vec<_> = (0..conns)
                .map(|_| {
                    tokio::spawn(async move {
                        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        let mut b = [7u8; ECHO_MSG];
                        for _ in 0..rounds {
                            c.write_all(&b).await.unwrap();
                            c.read_exact(&mut b).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }),
        "may" => {
            use std::io::{Read, Write};
            may_config(2);
            let handles: Vec<_> = (0..conns)
                .map(|_| {
                    // SAFETY: no thread-locals across yields.
                    unsafe {
                        may::coroutine::spawn(move || {
                            let mut c = may::net::TcpStream::connect(addr).unwrap();
                            c.set_nodelay(true).unwrap();
                            let mut b = [7u8; ECHO_MSG];
                            for _ in 0..rounds {
                                c.write_all(&b).unwrap();
                                c.read_exact(&mut b).unwrap();
                            }
                        })
                    }
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        }
        "threads" => {
            use std::io::{Read, Write};
            let handles: Vec<_> = (0..conns)
                .map(|_| {
                    std::thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            let mut c = std::net::TcpStream::connect(addr).unwrap();
                            c.set_nodelay(true).unwrap();
                            let mut b = [7u8; ECHO_MSG];
                            for _ in 0..rounds {
                                c.write_all(&b).unwrap();
                                c.read_exact(&mut b).unwrap();
                            }
                        })
                        .unwrap()
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        }
        _ => unreachable!(),
    }
    Outcome {
        figures: vec![],
        answer: conns * rounds,
    }
}
