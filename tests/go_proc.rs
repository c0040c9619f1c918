//! Go's scheduler tests from `runtime/proc_test.go` (and the `testprog` programs they run),
//! ported to goro's public API, and reproductions of known scheduler defects.
//!
//! Every test runs under a watchdog, so a deadlock fails with a message instead of hanging the
//! suite. Tests that can crash or taint the process (a segfault, an abort, a thread with its own
//! working directory, a runtime abandoned with running goroutines) run their body in a fresh
//! copy of this test binary (`child_entry`, selected by `GORO_GO_PROC_CHILD`), so the parent
//! reports how the child ended: its exit code or the signal that killed it.
//!
//! Where a Go test relies on something goro lacks (`select`, timers, the garbage collector,
//! the network poller), the part that applies is ported and the doc comment says what stands in
//! for the rest. A GC's stop-the-world is played by `set_max_procs` (which stops the world too)
//! or by the crate's `__private::stop_start_world` hook.

mod common;

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{nanosleep_resuming as sleep, serial, timespec as ts, watchdog};
use goro::syscall::{self as sc, Errno};
use goro::{Runtime, WaitGroup, chan};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// A flag a plain thread sets after `secs` seconds: spinning goroutines also stop on it, so a
/// test that failed by its watchdog does not leave them burning the CPUs under the next tests.
fn abandon_after(secs: u64) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        f.store(true, Ordering::Relaxed);
    });
    flag
}

/// Computes for `d` without entering the runtime.
fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes.

const CHILD_ENV: &str = "GORO_GO_PROC_CHILD";

/// Not a test of its own: the body of a child process started by [`child`]. Without
/// `GORO_GO_PROC_CHILD` it does nothing.
#[test]
fn child_entry() {
    let Ok(which) = std::env::var(CHILD_ENV) else {
        return;
    };
    // Stay quiet about the panics the children cause on purpose; report any other.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&EXPECTED_PANIC) {
            default_hook(info);
        }
    }));
    let body: fn() = match which.as_str() {
        "blocking_write" => child_blocking_write,
        "nested_blocking" => child_nested_blocking,
        "threads_after_drop" => child_threads_after_drop,
        "pollers_after_drop" => child_pollers_after_drop,
        "panic_count" => child_panic_count,
        "state_propagation" => child_state_propagation,
        other => panic!("unknown child {other}"),
    };
    watchdog(20, &format!("child {which}"), body);
    println!("GORO_CHILD_OK {which}");
}

/// How a child ended, in words.
fn describe(status: ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGKILL => "SIGKILL",
            libc::SIGILL => "SIGILL",
            libc::SIGTRAP => "SIGTRAP",
            _ => "?",
        };
        format!(
            "killed by signal {sig} ({name}){}",
            if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            }
        )
    } else {
        format!("exit code {:?}", status.code())
    }
}

/// Runs the child body `which` in a fresh process and returns its output; kills it and fails if
/// it has not ended within `secs` seconds.
fn run_child(which: &'static str, secs: u64) -> Output {
    watchdog(secs + 10, &format!("child process {which}"), move || {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, which)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                // SAFETY: our own child, not yet reaped (its waiter has not returned).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let out = rx.recv().unwrap().unwrap();
                panic!(
                    "child {which} did not finish within {secs} s (hang); it was killed\n\
                     --- stdout\n{}\n--- stderr\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    })
}

/// Runs the child body `which` and fails unless it finished successfully, naming the signal
/// that killed it if one did.
fn child(which: &'static str, secs: u64) -> Output {
    let out = run_child(which, secs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("GORO_CHILD_OK {which}")),
        "child {which}: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        describe(out.status),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The payload of the panics the children cause on purpose (not printed).
const EXPECTED_PANIC: &str = "goro-go-proc: expected panic";

// ---------------------------------------------------------------------------------------------
// Ports of Go's tests.

/// Goroutine `me` of `n` takes its 3 turns on `x`, spinning (without yielding) until each is
/// due, then reports on `done`: finishes only if all `n` run at the same time.
fn take_turns(x: &AtomicU32, n: usize, me: usize, abandon: &AtomicBool, done: &goro::Sender<bool>) {
    for i in 0..3 {
        let expected = (n * i + me) as u32;
        while x.load(Ordering::SeqCst) != expected {
            if abandon.load(Ordering::Relaxed) {
                return;
            }
        }
        x.store(expected + 1, Ordering::SeqCst);
    }
    done.send(true).unwrap();
}

/// Go's TestGoroutineParallelism: P = 4 goroutines take turns on a counter, each spinning
/// (without yielding) until it is its turn, 3 rounds, 10 tries. That finishes only if all of
/// them run at the same time. (Go disables the GC for it; goro has none.)
#[test]
fn goroutine_parallelism() {
    let _serial = serial();
    watchdog(20, "TestGoroutineParallelism", || {
        const P: usize = 4;
        const N: usize = 10;
        let abandon = abandon_after(20);
        rt(P).run(move || {
            for _try in 0..N {
                let (done_tx, done_rx) = chan::<bool>(0);
                let x = Arc::new(AtomicU32::new(0));
                for p in 0..P {
                    let (x, done, abandon) = (x.clone(), done_tx.clone(), abandon.clone());
                    goro::spawn(move || take_turns(&x, P, p, &abandon, &done));
                }
                for _ in 0..P {
                    assert_eq!(done_rx.recv(), Some(true));
                }
                assert_eq!(x.load(Ordering::SeqCst), 3 * P as u32);
            }
        });
    });
}

/// One run of Go's testGoroutineParallelism2: optionally first P goroutines that spin until
/// all of them have started (so the Ms running them park afterwards), then P goroutines
/// spawned two by two from P/2 goroutines, taking turns on a counter as in
/// [`goroutine_parallelism`].
fn goroutine_parallelism2(load: bool) {
    const P: usize = 4;
    const N: usize = 10;
    let abandon = abandon_after(20);
    rt(P).run(move || {
        for _try in 0..N {
            if load {
                let (done_tx, done_rx) = chan::<bool>(0);
                let x = Arc::new(AtomicU32::new(0));
                for _ in 0..P {
                    let (x, done, abandon) = (x.clone(), done_tx.clone(), abandon.clone());
                    goro::spawn(move || {
                        if x.fetch_add(1, Ordering::SeqCst) + 1 == P as u32 {
                            done.send(true).unwrap();
                            return;
                        }
                        while x.load(Ordering::SeqCst) != P as u32 {
                            if abandon.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                    });
                }
                assert_eq!(done_rx.recv(), Some(true));
            }
            let (done_tx, done_rx) = chan::<bool>(0);
            let x = Arc::new(AtomicU32::new(0));
            for p in 0..P / 2 {
                let (x, done, abandon) = (x.clone(), done_tx.clone(), abandon.clone());
                goro::spawn(move || {
                    for p2 in 0..2 {
                        let (x, done, abandon) = (x.clone(), done.clone(), abandon.clone());
                        goro::spawn(move || take_turns(&x, P, p * 2 + p2, &abandon, &done));
                    }
                });
            }
            for _ in 0..P {
                assert_eq!(done_rx.recv(), Some(true));
            }
        }
    });
}

/// Go's TestGoroutineParallelism2, the variants that apply: with the "load" prelude and
/// without it. goro has no network poller, so the `netpoll` half of Go's three variants
/// (which opens a TCP listener to change the scheduler's behaviour) has nothing to port; the
/// variant without load stands in for Go's (false, true) one.
#[test]
fn goroutine_parallelism_2() {
    let _serial = serial();
    watchdog(20, "TestGoroutineParallelism2 (load)", || {
        goroutine_parallelism2(true)
    });
    watchdog(20, "TestGoroutineParallelism2 (no load)", || {
        goroutine_parallelism2(false)
    });
}

/// Go's TestPreemptionAfterSyscall: on 2 Ps, 8 goroutines loop on "system calls" of 10 us,
/// 100 us and 1 ms until a flag is set; all of them must see it and finish within 5 s, 10
/// times for each duration. Go's `fakeSyscall` spins inside `entersyscall`/`exitsyscall`;
/// goro's public API has no bare pair, so two stand-ins run: real `nanosleep(2)` calls of that
/// length through goro's wrapper, and `goro::blocking` around a spin of that length.
#[test]
fn preemption_after_syscall() {
    let _serial = serial();
    for (blocking, d) in [
        (false, Duration::from_micros(10)),
        (false, Duration::from_micros(100)),
        (false, Duration::from_millis(1)),
        (true, Duration::from_micros(10)),
        (true, Duration::from_micros(100)),
        (true, Duration::from_millis(1)),
    ] {
        let what = format!(
            "TestPreemptionAfterSyscall({d:?}, {})",
            if blocking {
                "blocking spin"
            } else {
                "nanosleep"
            }
        );
        watchdog(15, &what.clone(), move || {
            const MAX_DURATION: Duration = Duration::from_secs(5);
            const NROUTINES: usize = 8;
            rt(2).run(move || {
                for i in 0..10 {
                    let (c_tx, c_rx) = chan::<bool>(NROUTINES);
                    let stop = Arc::new(AtomicBool::new(false));
                    let start = Instant::now();
                    for _ in 0..NROUTINES {
                        let (c, stop) = (c_tx.clone(), stop.clone());
                        goro::spawn(move || {
                            c.send(true).unwrap();
                            while !stop.load(Ordering::SeqCst) {
                                if blocking {
                                    goro::blocking(|| spin_for(d));
                                } else {
                                    sleep(d);
                                }
                            }
                            c.send(true).unwrap();
                        });
                    }
                    for _ in 0..NROUTINES {
                        c_rx.recv().unwrap();
                    }
                    stop.store(true, Ordering::SeqCst);
                    for _ in 0..NROUTINES {
                        c_rx.recv().unwrap();
                    }
                    let duration = start.elapsed();
                    assert!(
                        duration <= MAX_DURATION,
                        "{what}, iteration {i}: timeout exceeded: {duration:?} ({MAX_DURATION:?})"
                    );
                }
            });
        });
    }
}

/// Go's `perpetuumMobile`: a goroutine that starts another like itself until told to stop
/// (Go's `select` on a `stop` channel with a `default` is a flag here).
fn perpetuum_mobile(stop: Arc<AtomicBool>) {
    if !stop.load(Ordering::Acquire) {
        goro::spawn(move || perpetuum_mobile(stop));
    }
}

/// Go's TestStopTheWorldDeadlock: with GOMAXPROCS 3, one goroutine stops the world 1000 times
/// (Go: `runtime.GC()`; here goro's stop/start-world hook) and another calls
/// `GOMAXPROCS(3)` 1000 times, while a perpetuum mobile of goroutines keeps spawning. Both
/// must finish.
#[test]
fn stop_the_world_deadlock() {
    let _serial = serial();
    watchdog(20, "TestStopTheWorldDeadlock", || {
        rt(2).run(|| {
            let maxprocs = goro::set_max_procs(3);
            let (compl_tx, compl_rx) = chan::<bool>(2);
            let c = compl_tx.clone();
            goro::spawn(move || {
                for _ in 0..1000 {
                    goro::__private::stop_start_world();
                }
                c.send(true).unwrap();
            });
            let c = compl_tx;
            goro::spawn(move || {
                for _ in 0..1000 {
                    goro::set_max_procs(3);
                }
                c.send(true).unwrap();
            });
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            goro::spawn(move || perpetuum_mobile(s));
            assert_eq!(compl_rx.recv(), Some(true));
            assert_eq!(compl_rx.recv(), Some(true));
            stop.store(true, Ordering::Release);
            assert_eq!(goro::set_max_procs(maxprocs), 3);
            assert_eq!(goro::max_procs(), 2);
        });
    });
}

/// Go's TestLockOSThreadTemplateThreadRace (testprog `LockOSThreadTemplateThreadRace`,
/// golang.org/issue/38931): on 4 Ps, a goroutine stops the world over and over (Go:
/// `ReadMemStats`; here `set_max_procs(4)`) while two goroutines, lined up on a start time,
/// each spawn a goroutine (work on the local run queue, so `handoffp` starts an M early),
/// lock their thread, yield and finish while locked. Both must finish. Go runs 100 fresh
/// processes; this runs 100 fresh runtimes.
#[test]
fn lock_os_thread_template_thread_race() {
    let _serial = serial();
    watchdog(20, "TestLockOSThreadTemplateThreadRace", || {
        for i in 0..100 {
            watchdog(
                5,
                &format!("TestLockOSThreadTemplateThreadRace run {i}"),
                || {
                    rt(4).run(|| {
                        let stop = Arc::new(AtomicBool::new(false));
                        let s = stop.clone();
                        let stw = goro::spawn(move || {
                            while !s.load(Ordering::Acquire) {
                                goro::set_max_procs(4);
                            }
                        });
                        let start = Instant::now() + Duration::from_millis(10);
                        let wg = WaitGroup::new();
                        wg.add(2);
                        for _ in 0..2 {
                            let wg = wg.clone();
                            goro::spawn(move || {
                                while Instant::now() < start {}
                                goro::spawn(|| {});
                                goro::lock_os_thread();
                                goro::yield_now();
                                wg.done();
                            });
                        }
                        wg.wait();
                        stop.store(true, Ordering::Release);
                        stw.join().unwrap();
                    })
                },
            );
        }
    });
}

/// The child side of [`lock_os_thread_avoids_state_propagation`], Go's testprog
/// `LockOSThreadAvoidsStatePropagation` on 1 P.
fn child_state_propagation() {
    fn cwd() -> String {
        let mut buf = [0u8; 4096];
        let n = sc::getcwd(&mut buf).expect("getcwd");
        let s = &buf[..n];
        let s = s.split(|&b| b == 0).next().unwrap();
        String::from_utf8_lossy(s).into_owned()
    }
    rt(1).run(|| {
        // Go's main goroutine runs locked to the main thread here.
        goro::lock_os_thread();
        sc::chdir("/").expect("failed to chdir");
        let cwd0 = cwd();
        assert_eq!(cwd0, "/", "unexpected cwd");

        let (ready_tx, ready_rx) = chan::<bool>(1);
        goro::spawn(move || {
            // This goroutine must be running on a new thread.
            goro::lock_os_thread();
            // Unshare the filesystem attributes (the cwd) with the rest of the process on this
            // thread, then change directory here only.
            match sc::unshare(libc::CLONE_FS as u32) {
                Ok(()) => {}
                Err(Errno::EPERM) => {
                    println!("unshare not permitted");
                    ready_tx.send(false).unwrap();
                    return;
                }
                Err(e) => panic!("failed to unshare fs: {e:?}"),
            }
            sc::chdir(std::env::temp_dir().as_path()).expect("failed to chdir");
            // The thread is now "tainted"; it must die with this goroutine, and no thread
            // may be cloned from it.
            ready_tx.send(true).unwrap();
            // Exit with the thread locked.
        });
        if !ready_rx.recv().unwrap() {
            return; // Go skips the test
        }

        // Since GOMAXPROCS = 1, if state from the (hopefully dead) locked thread propagated
        // into a newly created thread, or that thread is reused, this likely runs there.
        let (done_tx, done_rx) = chan::<bool>(0);
        let checker = goro::spawn(move || {
            goro::lock_os_thread();
            let wd = cwd();
            done_rx.recv();
            goro::unlock_os_thread();
            wd
        });
        done_tx.send(true).unwrap();
        goro::unlock_os_thread();
        let wd = checker.join().unwrap();
        assert_eq!(
            wd, cwd0,
            "bad state from old thread propagated after it should have died"
        );

        // Beyond Go's check: goroutines that block hand their P off, which starts new Ms;
        // every thread the runtime runs goroutines on must have the process's cwd.
        let hs: Vec<_> = (0..8)
            .map(|_| {
                goro::spawn(|| {
                    let before = cwd();
                    goro::blocking(|| std::thread::sleep(Duration::from_millis(20)));
                    (before, cwd(), sc::gettid())
                })
            })
            .collect();
        for h in hs {
            let (before, after, tid) = h.join().unwrap();
            assert!(
                before == cwd0 && after == cwd0,
                "a goroutine on thread {tid} saw cwd {before:?} then {after:?}, not {cwd0:?}: \
                 a thread inherited the dead locked thread's state"
            );
        }
    });
}

/// Go's TestLockOSThreadAvoidsStatePropagation (also defect 10): a locked goroutine
/// `unshare(CLONE_FS)`s and `chdir`s to the temporary directory, then exits while locked.
/// Its thread must die with it, and no thread created afterwards may be cloned from it: a
/// goroutine locked on a thread started later must see the process's cwd (`/`). Runs in a
/// child process, which it taints. Passes as skipped if `unshare` is not permitted.
#[test]
fn lock_os_thread_avoids_state_propagation() {
    let _serial = serial();
    let out = child("state_propagation", 20);
    if String::from_utf8_lossy(&out.stdout).contains("unshare not permitted") {
        println!("skipped: unshare not permitted on this system");
    }
}

/// Go's `run` in TestPingPongHog: waits for the pair's token, does `limit` units of work, passes
/// the token on. Go `select`s between the token and `done`; here closing the channel ends it.
fn ping_pong(limit: u64, counter: &AtomicU64, tx: &goro::Sender<bool>, rx: &goro::Receiver<bool>) {
    while let Some(t) = rx.recv() {
        let mut n = 0u64;
        for _ in 0..limit {
            n = std::hint::black_box(n + 1);
        }
        counter.fetch_add(n, Ordering::Relaxed);
        if tx.send(t).is_err() {
            return;
        }
    }
}

/// Go's TestPingPongHog: on 1 P, a "hog" pair of goroutines does 1e6 units of work per turn
/// and a "light" pair 1e3, each pair passing a token back and forth through an unbuffered
/// channel. After 1 s (Go: 100 ms) the two pairs' work must be within a factor of 20: both
/// pairs must hand the P on within a time slice (a pair that wakes its buddy into `runnext`
/// must not keep the P forever). Go's `done` channel is a close of the token channels here.
#[test]
fn ping_pong_hog() {
    let _serial = serial();
    let (hog, light) = watchdog(20, "TestPingPongHog", || {
        rt(1).run(|| {
            let (hog_tx, hog_rx) = chan::<bool>(0);
            let (light_tx, light_rx) = chan::<bool>(0);
            let hog_count = Arc::new(AtomicU64::new(0));
            let light_count = Arc::new(AtomicU64::new(0));
            let mut hs = Vec::new();
            for (limit, counter, tx, rx) in [
                (1_000_000, &hog_count, &hog_tx, &hog_rx),
                (1_000_000, &hog_count, &hog_tx, &hog_rx),
                (1_000, &light_count, &light_tx, &light_rx),
                (1_000, &light_count, &light_tx, &light_rx),
            ] {
                let (counter, tx, rx) = (counter.clone(), tx.clone(), rx.clone());
                hs.push(goro::spawn(move || ping_pong(limit, &counter, &tx, &rx)));
            }
            hog_tx.send(true).unwrap();
            light_tx.send(true).unwrap();
            sleep(Duration::from_secs(1));
            // Take each token back (after at most one more turn of the buddy waiting ahead of
            // us), then end both pairs.
            assert_eq!(hog_rx.recv(), Some(true));
            assert_eq!(light_rx.recv(), Some(true));
            hog_tx.close();
            light_tx.close();
            hs.into_iter().for_each(|h| h.join().unwrap());
            (
                hog_count.load(Ordering::Relaxed),
                light_count.load(Ordering::Relaxed),
            )
        })
    });
    println!("hog {hog}, light {light}");
    const FACTOR: u64 = 20;
    assert!(
        hog / FACTOR <= light && light / FACTOR <= hog,
        "want hogCount/lightCount in [{}, {FACTOR}]; got {hog}/{light} = {}",
        1.0 / FACTOR as f64,
        hog as f64 / light as f64
    );
}

#[inline(never)]
fn dummy() {
    std::hint::black_box(());
}

/// Go's `frameless`: arithmetic in a loop with no calls (bounded here by `stop`).
#[inline(never)]
fn frameless(stop: &AtomicBool) -> i64 {
    let mut out = 0i64;
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        out = out.wrapping_add(
            i.wrapping_mul(i)
                .wrapping_mul(i)
                .wrapping_mul(i)
                .wrapping_mul(i)
                .wrapping_mul(12345),
        );
        out = std::hint::black_box(out);
        i += 1;
    }
    out
}

/// Go's testprog `AsyncPreempt` on `procs` Ps: goroutines with no safe point (a loop storing
/// `ready` and calling an empty function, a frameless arithmetic loop, an empty loop) must not
/// keep the main goroutine from running, nor a stop-the-world from finishing (Go: `runtime.GC()`;
/// here `set_max_procs`). On more than 1 P, `procs` goroutines of the first kind keep every P
/// busy. The loops end when the test sets `stop` (Go's run forever, until the process exits).
fn async_preempt(procs: usize) {
    rt(procs).run(move || {
        let ready = Arc::new(AtomicU32::new(0));
        let ready2 = Arc::new(AtomicU32::new(0));
        // Set by the test when done, or by a timer when its watchdog has given up.
        let stop = abandon_after(20);
        let mut hs = Vec::new();
        for _ in 0..procs {
            let (ready, stop) = (ready.clone(), stop.clone());
            hs.push(goro::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    ready.store(1, Ordering::SeqCst);
                    dummy();
                    dummy();
                }
            }));
        }
        let (r2, s) = (ready2.clone(), stop.clone());
        hs.push(goro::spawn(move || {
            r2.fetch_add(1, Ordering::SeqCst);
            std::hint::black_box(frameless(&s));
        }));
        let (r2, s) = (ready2.clone(), stop.clone());
        hs.push(goro::spawn(move || {
            r2.fetch_add(1, Ordering::SeqCst);
            while !s.load(Ordering::Relaxed) {}
        }));
        // Wait for the goroutines to stop passing through safe points.
        while ready.load(Ordering::SeqCst) == 0 || ready2.load(Ordering::SeqCst) < 2 {
            goro::yield_now();
        }
        // Stop the world, which has to take every P from the spinning goroutines.
        assert_eq!(goro::set_max_procs(procs), procs);
        goro::__private::stop_start_world();
        // Other goroutines still run.
        let t = Instant::now();
        assert_eq!(goro::spawn(|| 7).join().unwrap(), 7);
        let waited = t.elapsed();
        stop.store(true, Ordering::SeqCst);
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert!(
            waited < Duration::from_secs(1),
            "a new goroutine waited {waited:?} behind the spinning ones"
        );
    });
}

/// Go's TestAsyncPreempt (testprog `AsyncPreempt`) on 1 P, as Go runs it.
#[test]
fn async_preempt_1() {
    let _serial = serial();
    watchdog(20, "AsyncPreempt, 1 P", || async_preempt(1));
}

/// TestAsyncPreempt's program on 2 Ps.
#[test]
fn async_preempt_2() {
    let _serial = serial();
    watchdog(20, "AsyncPreempt, 2 Ps", || async_preempt(2));
}

/// TestAsyncPreempt's program on 4 Ps.
#[test]
fn async_preempt_4() {
    let _serial = serial();
    watchdog(20, "AsyncPreempt, 4 Ps", || async_preempt(4));
}

// ---------------------------------------------------------------------------------------------
// Defect reproductions.

/// Defect 1 (stop-the-world hang): on 2 Ps, one goroutine loops on `nanosleep(20 us)` through
/// goro's wrapper while the main goroutine calls `set_max_procs(2)` in a loop for 2.5 s. Every
/// stop-the-world must finish. The hang is a race (the caller waits in `stop_the_world` for a P
/// that never stops while the sleeper waits in `exitsyscall0`; here about one 2.5 s round in
/// four hung), so this runs 6 fresh runtimes, each under its own watchdog.
#[test]
fn stw_with_a_goroutine_in_a_nanosleep_loop() {
    let _serial = serial();
    for round in 0..6 {
        watchdog(
            6,
            &format!("round {round}: set_max_procs(2) beside a nanosleep(20 us) loop"),
            move || {
                rt(2).run(|| {
                    let stop = Arc::new(AtomicBool::new(false));
                    let s = stop.clone();
                    let sleeper = goro::spawn(move || {
                        let mut n = 0u64;
                        while !s.load(Ordering::Acquire) {
                            let _ = sc::nanosleep(&ts(Duration::from_micros(20)), None);
                            n += 1;
                        }
                        n
                    });
                    let t = Instant::now();
                    let mut stws = 0u64;
                    while t.elapsed() < Duration::from_millis(2500) {
                        assert_eq!(goro::set_max_procs(2), 2);
                        stws += 1;
                    }
                    stop.store(true, Ordering::Release);
                    let sleeps = sleeper.join().unwrap();
                    assert!(stws > 0 && sleeps > 0, "{stws} {sleeps}");
                });
            },
        );
    }
}

/// The child side of [`blocking_around_a_wrapped_syscall`].
fn child_blocking_write() {
    rt(2).run(|| {
        let (r, w) = sc::pipe().unwrap();
        for i in 0..100u8 {
            let n = goro::blocking(|| sc::write(w.as_fd(), &[i])).unwrap();
            assert_eq!(n, 1);
            let mut b = [0u8; 1];
            assert_eq!(goro::blocking(|| sc::read(r.as_fd(), &mut b)), Ok(1));
            assert_eq!(b[0], i);
        }
        // The runtime still works afterwards, from several goroutines at once.
        let hs: Vec<_> = (0..8u8)
            .map(|i| {
                goro::spawn(move || {
                    let (r, w) = sc::pipe().unwrap();
                    goro::blocking(|| sc::write(w.as_fd(), &[i])).unwrap();
                    goro::yield_now();
                    let mut b = [0u8; 1];
                    sc::read(r.as_fd(), &mut b).unwrap();
                    b[0]
                })
            })
            .collect();
        let got: Vec<u8> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, (0..8).collect::<Vec<u8>>());
    });
}

/// Defect 2a: a wrapped system call inside `goro::blocking` (`blocking(|| write(fd, b"x"))`)
/// must work: the wrapper's `entersyscall` finds the goroutine already in the system-call
/// state with no P. Segfaulted. Runs in a child process, so a crash names its signal.
#[test]
fn blocking_around_a_wrapped_syscall() {
    let _serial = serial();
    child("blocking_write", 20);
}

/// The child side of [`nested_blocking`].
fn child_nested_blocking() {
    rt(2).run(|| {
        assert_eq!(goro::blocking(|| goro::blocking(|| 42)), 42);
        assert_eq!(
            goro::blocking(|| goro::blocking(|| goro::blocking(|| "three"))),
            "three"
        );
        // Nested, with real blocking inside, while other goroutines keep running.
        let other = goro::spawn(|| {
            let mut n = 0u64;
            for _ in 0..1000 {
                goro::yield_now();
                n += 1;
            }
            n
        });
        let slept = goro::blocking(|| {
            let t = Instant::now();
            goro::blocking(|| std::thread::sleep(Duration::from_millis(20)));
            t.elapsed()
        });
        assert!(slept >= Duration::from_millis(20));
        assert_eq!(other.join().unwrap(), 1000);
        // And from many goroutines, then the runtime still schedules.
        let hs: Vec<_> = (0..16u64)
            .map(|i| goro::spawn(move || goro::blocking(|| goro::blocking(|| i * 2))))
            .collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 2 * (0..16).sum::<u64>());
        assert_eq!(goro::spawn(|| 5).join().unwrap(), 5);
    });
}

/// Defect 2b: nested `goro::blocking(|| goro::blocking(|| ...))` must work. Runs in a child
/// process, so a crash names its signal.
#[test]
fn nested_blocking() {
    let _serial = serial();
    child("nested_blocking", 20);
}

/// The thread ids of this process.
fn tids() -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// The child side of [`no_thread_churn_after_a_runtime_is_dropped`].
fn child_threads_after_drop() {
    let before = tids().len();
    let rt = rt(2);
    rt.run(|| {
        for _ in 0..16 {
            goro::spawn(|| {
                loop {
                    goro::yield_now();
                }
            });
        }
        goro::yield_now();
    });
    let t = Instant::now();
    drop(rt);
    let dropped_in = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    // Then watch for half a second, every millisecond: every thread id seen that was not
    // there at the start is a thread created since.
    let first = tids();
    let mut seen = first.clone();
    let mut most = first.len();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(500) {
        let now = tids();
        most = most.max(now.len());
        seen.extend(now);
        seen.sort_unstable();
        seen.dedup();
        std::thread::sleep(Duration::from_millis(1));
    }
    let last = tids();
    let new = seen.len() - first.len();
    println!(
        "threads: {before} before the runtime, {} 1 s after drop (drop took {dropped_in:?}), \
         {} 0.5 s later (at most {most}); {new} threads created in that 0.5 s",
        first.len(),
        last.len(),
    );
    assert!(
        new == 0 && last.len() <= first.len(),
        "threads keep being created after the runtime was dropped: {new} new threads within \
         0.5 s, starting 1 s after the drop ({} threads then, {} at the end, at most {most})",
        first.len(),
        last.len()
    );
}

/// Defect 3: a 2-P runtime whose `run` returns while 16 goroutines loop on `yield_now`, then
/// is dropped. The process's threads must settle within about 1 s of the drop: no new thread
/// (`/proc/self/task`) in the half second after that. Created ~6000 threads/s. Runs in a
/// child process (the abandoned goroutines stay behind).
#[test]
fn no_thread_churn_after_a_runtime_is_dropped() {
    let _serial = serial();
    let out = child("threads_after_drop", 20);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

/// Every M of a dropped runtime ends, also when goroutines were parked on the poller: 4 s of
/// rounds (at most 300: each leaves its parked pipe's two descriptors open), each a 2-P runtime whose goroutines ping-pong over pollable pipes (so Ms look for
/// work, poll without blocking and block in the poller all at once) and leave one goroutine
/// parked on a pipe nobody writes; after the drop the process's threads must fall back to the
/// count before the runtime within 2 s. A non-blocking poll used to mark the poller free while
/// an M blocked in it, a second M then blocked there too, and shutdown's single break woke only
/// one: the other slept in `epoll_pwait2` forever (4 of 4 runs leaked one within 3 rounds).
#[test]
fn every_m_ends_when_a_runtime_with_pollers_is_dropped() {
    let _serial = serial();
    let out = child("pollers_after_drop", 20);
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

fn child_pollers_after_drop() {
    use std::io::{Read, Write};
    let t = Instant::now();
    let mut rounds = 0;
    while t.elapsed() < Duration::from_secs(4) && rounds < 300 {
        let before = tids().len();
        let rt = rt(2);
        rt.run(|| {
            let (idle_r, idle_w) = goro::io::pipe().unwrap();
            goro::spawn(move || {
                let mut idle_r = idle_r;
                let _ = idle_r.read(&mut [0u8; 1]);
            });
            let wg = WaitGroup::new();
            for _ in 0..4 {
                let (mut ar, mut aw) = goro::io::pipe().unwrap();
                let (mut br, mut bw) = goro::io::pipe().unwrap();
                wg.add(2);
                let done = wg.clone();
                goro::spawn(move || {
                    let mut b = [0u8; 1];
                    for _ in 0..50 {
                        if br.read_exact(&mut b).is_err() || aw.write_all(&b).is_err() {
                            break;
                        }
                    }
                    done.done();
                });
                let done = wg.clone();
                goro::spawn(move || {
                    let mut b = [7u8; 1];
                    for _ in 0..50 {
                        if bw.write_all(&b).is_err() || ar.read_exact(&mut b).is_err() {
                            break;
                        }
                    }
                    done.done();
                });
            }
            wg.wait();
            std::mem::forget(idle_w); // the parked reader must stay parked
        });
        drop(rt);
        let settled = Instant::now();
        while tids().len() > before && settled.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let left = tids().len();
        assert!(
            left <= before,
            "round {rounds}: {} threads of a dropped runtime still there 2 s after its drop \
             ({before} before it, {left} now): an M never ended",
            left - before
        );
        rounds += 1;
    }
    println!("{rounds} runtimes with pollers dropped, every M ended");
}

/// Defect 4 (sysmon left asleep by a stop-the-world): on 1 P, 300 ms of `set_max_procs(1)`
/// calls, then the main goroutine spawns a goroutine that sets a flag and spins (a pure CPU
/// loop, no runtime call) until the flag is set. sysmon must preempt it so the new goroutine
/// runs within 1 s. It never did within 20 s: sysmon saw the world stopped and went into its
/// deep sleep, and nothing woke it.
#[test]
fn sysmon_preempts_after_a_stop_the_world() {
    let _serial = serial();
    let waited = watchdog(20, "spin after stop-the-world", || {
        rt(1).run(|| {
            let t = Instant::now();
            let mut n = 0u64;
            while t.elapsed() < Duration::from_millis(300) {
                assert_eq!(goro::set_max_procs(1), 1);
                n += 1;
            }
            assert!(n > 0);
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            goro::spawn(move || f.store(true, Ordering::Release));
            let t = Instant::now();
            while !flag.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(3) {
                std::hint::spin_loop();
            }
            (flag.load(Ordering::Acquire), t.elapsed())
        })
    });
    assert!(
        waited.0 && waited.1 < Duration::from_secs(1),
        "the new goroutine did not run while main spun for {:?} after 300 ms of \
         stop-the-worlds (ran: {})",
        waited.1,
        waited.0
    );
}

/// Unwinds through goroutine switches: its `drop` (run during the panic's unwinding) yields
/// and does channel operations, with another P free to pick the goroutine up, and records
/// whether the goroutine ever changed threads and whether `std::thread::panicking()` still
/// said true after the switches. goro keeps an unwinding goroutine on its thread (std counts
/// panics per thread), so it must not move.
struct MigrateOnUnwind {
    moved: Arc<AtomicBool>,
    panicking_after_switches: Arc<AtomicBool>,
}

impl Drop for MigrateOnUnwind {
    fn drop(&mut self) {
        let tid0 = sc::gettid();
        let (tx, rx) = chan::<u32>(0);
        let echo = goro::spawn(move || {
            let mut n = 0;
            while let Some(v) = rx.recv() {
                n += v;
            }
            n
        });
        for i in 0..10_000 {
            tx.send(1).unwrap();
            goro::yield_now();
            if sc::gettid() != tid0 {
                self.moved.store(true, Ordering::SeqCst);
                break;
            }
            if i % 100 == 99 {
                // Give the other P's M time to be the one that picks us up.
                spin_for(Duration::from_micros(50));
            }
        }
        self.panicking_after_switches
            .store(std::thread::panicking(), Ordering::SeqCst);
        drop(tx);
        echo.join().unwrap();
    }
}

/// Checks `std::thread::panicking()` from many goroutines spread over the runtime's threads;
/// returns the threads on which it said true.
fn panicking_anywhere() -> Vec<i32> {
    let bad = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..64)
        .map(|_| {
            let bad = bad.clone();
            goro::spawn(move || {
                for _ in 0..20 {
                    if std::thread::panicking() {
                        bad.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(sc::gettid());
                    }
                    goro::yield_now();
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    if std::thread::panicking() {
        bad.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sc::gettid());
    }
    let mut v = std::mem::take(&mut *bad.lock().unwrap_or_else(|e| e.into_inner()));
    v.sort_unstable();
    v.dedup();
    v
}

/// The child side of [`panic_count_survives_a_goroutine_switch_during_unwinding`].
fn child_panic_count() {
    let rt = rt(2);
    for round in 0..5 {
        let moved = Arc::new(AtomicBool::new(false));
        let panicking_after_switches = Arc::new(AtomicBool::new(false));
        let (m, p) = (moved.clone(), panicking_after_switches.clone());
        let joined = rt.run(move || {
            goro::spawn(move || {
                let _guard = MigrateOnUnwind {
                    moved: m,
                    panicking_after_switches: p,
                };
                std::panic::panic_any(EXPECTED_PANIC);
            })
            .join()
            .map_err(|e| e.downcast_ref::<&str>().copied())
        });
        assert_eq!(joined, Err(Some(EXPECTED_PANIC)), "round {round}");
        assert!(
            !moved.load(Ordering::SeqCst),
            "round {round}: a goroutine changed threads while unwinding a panic: std's \
             per-thread panic count is left counting on one thread and wrapped on the other"
        );
        // std's panic count is per thread, with a global count in front: while no thread
        // panics, `panicking()` is false everywhere whatever the per-thread counts say. Hold a
        // panic open on a plain thread so the per-thread counts are what answer.
        let (in_drop_tx, in_drop_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            struct Hold(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>);
            impl Drop for Hold {
                fn drop(&mut self) {
                    self.0.send(()).unwrap();
                    let _ = self.1.recv();
                }
            }
            let _hold = Hold(in_drop_tx, release_rx);
            std::panic::panic_any(EXPECTED_PANIC);
        });
        in_drop_rx.recv().unwrap();
        let bad = rt.run(panicking_anywhere);
        release_tx.send(()).unwrap();
        assert!(holder.join().is_err());
        assert!(
            bad.is_empty(),
            "round {round}: after a goroutine's panic was caught (it changed threads while \
             unwinding), std::thread::panicking() is true for other goroutines on threads \
             {bad:?}"
        );
        assert!(
            panicking_after_switches.load(Ordering::SeqCst),
            "round {round}: a goroutine unwinding from a panic saw std::thread::panicking() \
             false after switching"
        );
        // Ordinary panics still work, on every thread.
        let caught = rt.run(|| {
            let hs: Vec<_> = (0..32)
                .map(|_| {
                    goro::spawn(|| {
                        goro::yield_now();
                        std::panic::panic_any(EXPECTED_PANIC);
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join())
                .filter(Result::is_err)
                .count()
        });
        assert_eq!(caught, 32, "round {round}");
    }
}

/// Defect 6 (the panic count crosses threads): a goroutine whose `Drop`, run during a panic's
/// unwinding, does channel operations and yields with another P free to take it. It must stay
/// on its thread; after `join` returns `Err`, `std::thread::panicking()` must be false in
/// other goroutines on every M (checked while a panic is held open on a plain thread, so the
/// per-thread counts answer), the unwinding goroutine must have seen it true after its
/// switches, ordinary panics must still be caught, and the process must not abort. Runs in a child process, so an abort names its
/// signal.
#[test]
fn panic_count_survives_a_goroutine_switch_during_unwinding() {
    let _serial = serial();
    child("panic_count", 20);
}

/// Defect 8 (`EINTR` from the preemption signal): while one goroutine stops the world over and
/// over (`set_max_procs` in a loop, 3 s), goroutines sleeping in `nanosleep` (5-20 us, half of
/// them inside `blocking`) and reading and writing pipes through goro's wrappers must never get
/// `Err(EINTR)`: the runtime's signals are its own business.
#[test]
fn syscalls_never_fail_with_eintr_under_stop_the_world() {
    let _serial = serial();
    let (eintr, calls, stws) = watchdog(20, "EINTR under stop-the-world", || {
        rt(2).run(|| {
            let stop = Arc::new(AtomicBool::new(false));
            // Counts of EINTR: nanosleep, read, write.
            let eintr: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
            let calls = Arc::new(AtomicU64::new(0));
            let mut hs = Vec::new();
            for i in 0..4u64 {
                let (stop, eintr, calls) = (stop.clone(), eintr.clone(), calls.clone());
                hs.push(goro::spawn(move || {
                    let req = ts(Duration::from_micros(5 * (i + 1)));
                    while !stop.load(Ordering::Relaxed) {
                        // Half of them inside `blocking`, where the wrapper runs as a plain
                        // call on an M without a P (a signal sent just before is still ours).
                        let r = if i % 2 == 0 {
                            sc::nanosleep(&req, None)
                        } else {
                            goro::blocking(|| sc::nanosleep(&req, None))
                        };
                        match r {
                            Ok(()) => {}
                            Err(Errno::EINTR) => {
                                eintr[0].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("nanosleep: {e:?}"),
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            for _ in 0..2 {
                let (r, w) = sc::pipe().unwrap();
                let (eintr2, calls2) = (eintr.clone(), calls.clone());
                hs.push(goro::spawn(move || {
                    let mut b = [0u8; 64];
                    loop {
                        match sc::read(r.as_fd(), &mut b) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(Errno::EINTR) => {
                                eintr2[1].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("read: {e:?}"),
                        }
                        calls2.fetch_add(1, Ordering::Relaxed);
                    }
                }));
                let (stop, eintr, calls) = (stop.clone(), eintr.clone(), calls.clone());
                hs.push(goro::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sleep(Duration::from_micros(50));
                        match sc::write(w.as_fd(), b"x") {
                            Ok(_) => {}
                            Err(Errno::EINTR) => {
                                eintr[2].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("write: {e:?}"),
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(w); // the reader sees EOF
                }));
            }
            let t = Instant::now();
            let mut stws = 0u64;
            while t.elapsed() < Duration::from_secs(3) {
                goro::set_max_procs(2);
                stws += 1;
            }
            stop.store(true, Ordering::Relaxed);
            hs.into_iter().for_each(|h| h.join().unwrap());
            (
                eintr
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
                calls.load(Ordering::Relaxed),
                stws,
            )
        })
    });
    println!("{calls} calls, {stws} stop-the-worlds, EINTR (nanosleep, read, write): {eintr:?}");
    assert!(calls > 0 && stws > 0);
    assert_eq!(
        eintr,
        vec![0, 0, 0],
        "system calls failed with EINTR (nanosleep, read, write) during {stws} \
         stop-the-worlds, out of {calls} calls"
    );
}
