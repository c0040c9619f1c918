//! A tour of goro: `cargo run --release -p tour` (or `--example tour`).
//!
//! Shows the entry points and Go's errno convention, the vDSO beside the real system call,
//! a few generated and wrapped calls, goroutines blocking in system calls on one P while
//! others run (with the counters of each path, and an execution trace whose file it names),
//! and a select with a timeout; every figure is measured on this machine and explained as it
//! is printed.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use goro::syscall::{self as sc, Errno, Pod, Stat, Vdso};
use linux_raw_sys::general::{__NR_close, __NR_getpid, CLOCK_MONOTONIC};

/// Median nanoseconds per call of `f`, over 7 rounds of `n` calls.
fn ns_per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[3]
}

fn main() -> Result<(), Errno> {
    println!("== The entry points (Go's convention: (r1, r2, errno)) ==");
    // SAFETY: getpid and close(-1) touch no memory.
    let (pid, _, e) = unsafe { sc::raw_syscall(__NR_getpid as usize, 0, 0, 0) };
    println!(
        "raw_syscall(getpid)   = ({pid}, _, {e:?})   is_ok: {}",
        e.is_ok()
    );
    let r = unsafe { sc::syscall(__NR_close as usize, -1i32 as usize, 0, 0) };
    println!("syscall(close, -1)    = ({:#x}, {}, {:?})", r.0, r.1, r.2);
    println!(
        "  errno {}: \"{}\"; as io::Error: {:?}",
        r.2.0,
        r.2,
        std::io::Error::from(r.2).kind()
    );
    println!(
        "  EAGAIN: temporary={} timeout={}",
        Errno::EAGAIN.temporary(),
        Errno::EAGAIN.timeout()
    );

    let nr = __NR_getpid as usize;
    // SAFETY: as above.
    let raw = ns_per_call(200_000, || {
        black_box(unsafe { sc::raw_syscall(black_box(nr), 0, 0, 0) });
    });
    let full = ns_per_call(200_000, || {
        black_box(unsafe { sc::syscall(black_box(nr), 0, 0, 0) });
    });
    println!(
        "getpid: raw_syscall {raw:.1} ns, syscall {full:.1} ns (difference {:.1} ns)",
        full - raw
    );
    println!(
        "  `syscall` tells the scheduler the call may block (so another thread can take over\n  \
         the goroutine's processor); the difference is what that bookkeeping costs a call\n  \
         that returns at once. Here, on a plain thread, there is no scheduler to tell."
    );

    println!("\n== The vDSO ==");
    let v = Vdso::get();
    println!(
        "found clock_gettime, gettimeofday, time, getcpu: {:?}",
        v.found()
    );
    let clock = CLOCK_MONOTONIC as i32;
    let fast = ns_per_call(1_000_000, || {
        let _ = black_box(v.clock_gettime(black_box(clock)));
    });
    let slow_table = Vdso::without();
    let slow = ns_per_call(200_000, || {
        let _ = black_box(slow_table.clock_gettime(black_box(clock)));
    });
    let t = v.clock_gettime(clock)?;
    println!("clock_gettime(MONOTONIC) = {}.{:09} s", t.tv_sec, t.tv_nsec);
    println!(
        "  through the vDSO {fast:.1} ns, through the system call {slow:.1} ns ({:.1}x)",
        slow / fast
    );
    println!(
        "  (the vDSO is code the kernel maps into every process: reading the clock there\n  \
         needs no entry into the kernel)"
    );
    let (cpu, node) = sc::getcpu()?;
    println!("getcpu = cpu {cpu}, node {node}; time = {}", sc::time());

    println!("\n== Generated and wrapped calls ==");
    let (r, w) = sc::pipe2(0)?; // wrapped: pipe2_raw, then two OwnedFd
    sc::write(w.as_fd(), b"through a pipe")?; // sys: may block, tells the scheduler
    let mut buf = [0u8; 32];
    let n = sc::read(r.as_fd(), &mut buf)?;
    println!(
        "read {n} bytes: {:?}",
        std::str::from_utf8(&buf[..n]).unwrap()
    );
    let mut st = Stat::zeroed();
    sc::stat("/", &mut st)?; // wrapped: fstatat(AT_FDCWD, "/", .., 0)
    println!("stat(\"/\"): inode {}, mode {:o}", st.st_ino, st.st_mode);
    println!(
        "stat(\"/nonexistent\") = {:?}",
        sc::stat("/nonexistent", &mut st)
    );
    println!(
        "open(\"a\\0b\") = {:?} (an interior NUL never reaches the kernel)",
        sc::open("a\0b", 0, 0).map(drop)
    );
    let public = sc::WRAPPERS
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .filter(|w| w.public)
        .count();
    println!("{public} wrappers in all; the table is docs/wrappers.md");

    println!("\n== Goroutines and blocking system calls (one P) ==");
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
    // An execution trace of this section, unless `GORO_TRACE` records the whole run (the
    // runtime just built started it, and says where it went when dropped).
    let own_trace = std::env::temp_dir().join("goro-tour-trace.json");
    let own_trace = (!goro::trace::is_tracing())
        .then(|| goro::trace::start(&own_trace).map(|()| own_trace))
        .transpose()
        .unwrap_or_else(|e| {
            println!("(no trace of this section: {e})");
            None
        });
    let t = std::time::Instant::now();
    let report = rt.run(|| {
        let (r, w) = sc::pipe().expect("pipe");
        // Blocks in read(2) through a `sys` wrapper: its P is retaken and handed off.
        let reader = goro::spawn(move || {
            let mut buf = [0u8; 16];
            let n = sc::read(r.as_fd(), &mut buf).expect("read");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        // Blocks in nanosleep(2) for 100 ms.
        let sleeper = goro::spawn(|| {
            let ts = goro::syscall::Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
            sc::nanosleep(&ts, None).expect("nanosleep");
        });
        // Blocks in std::fs, which goro cannot see, inside `blocking`: handed off at once.
        let reader2 = goro::spawn(|| goro::blocking(|| std::fs::read("/proc/self/stat")).map(|v| v.len()));
        // Computes for 50 ms without entering the runtime: preempted by handoff.
        let spinner = goro::spawn(|| {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < std::time::Duration::from_millis(50) {
                x = black_box(x.wrapping_add(1));
            }
            x
        });
        // Let the four start and block first. Without this the 1000 below would keep the P
        // (each runs next, inside this goroutine's time slice, as in Go) until the write, and
        // the reader would find its bytes already there.
        goro::sleep(Duration::from_millis(1));
        // Meanwhile, on the same single P, 1000 short goroutines run to completion.
        let others: u64 = (0..1000u64).map(|i| goro::spawn(move || i)).map(|h| h.join().unwrap()).sum();
        sc::write(w.as_fd(), b"unblocked").expect("write");
        let line = reader.join().unwrap();
        sleeper.join().unwrap();
        let n = reader2.join().unwrap().unwrap_or(0);
        let spins = spinner.join().unwrap();
        format!("1000 goroutines summed {others} while others blocked; reader got {line:?}; std::fs read {n} bytes; spinner counted to {spins}")
    });
    println!("{report} ({:.0?} in all)", t.elapsed());
    if own_trace.is_some() {
        match goro::trace::stop() {
            Ok(path) => println!(
                "Execution trace of this section written to {}\n  \
                 (open it in https://ui.perfetto.dev; docs/trace.png is one in Catapult's viewer)",
                path.display()
            ),
            Err(e) => println!("(the trace of this section was not written: {e})"),
        }
    }
    let s = rt.stats();
    println!("What the scheduler did (a P is the right to run goroutines; this runtime has one):");
    for (n, what) in [
        (
            s.syscalls_fast,
            "system calls that returned and found their P still theirs",
        ),
        (
            s.syscalls_idle_p,
            "... that found it given away and took a free one",
        ),
        (
            s.syscalls_slow,
            "... that found none free and queued their goroutine",
        ),
        (
            s.retaken,
            "Ps taken from a goroutine blocked in the kernel, for the others",
        ),
        (
            s.handed_off,
            "Ps handed over at once by `blocking` (known to block)",
        ),
        (
            s.preempt_signals,
            "signals to a goroutine that held its P over 10 ms",
        ),
        (
            s.preempted,
            "... that moved it off its P (it runs on, on its own thread)",
        ),
        (
            s.threads,
            "OS threads started: one per goroutine blocked at once, plus one",
        ),
    ] {
        println!("  {n:>6}  {what}");
    }

    println!("\n== select with a timeout ==");
    // SAFETY: as above.
    let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
    let line = rt.run(|| {
        let (tx, rx) = goro::chan::<&str>(0);
        goro::spawn(move || {
            goro::sleep(Duration::from_millis(30));
            let _ = tx.send("too late");
        });
        let t = Instant::now();
        goro::select! {
            recv(rx) -> v => format!("received {v:?}"),
            recv(goro::time::after(Duration::from_millis(10))) -> _ => {
                format!("timed out after {:.1?}: the sender sleeps 30 ms", t.elapsed())
            }
        }
    });
    println!("{line}");
    Ok(())
}
