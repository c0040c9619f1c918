//! What the execution trace costs a channel round trip, on a runtime of `PROCS` Ps (1 by
//! default: on 2 the idle M's spinning joins the process's CPU time and `trace_cost`'s
//! pingpong figure with it). Rounds with tracing off and on alternate in one process; each
//! round times `TRIPS` round trips between two goroutines by wall and CPU time, and the
//! figures are medians over the rounds, with the median of the paired differences (each on
//! round against the off round before it).
//!
//! ```text
//! cargo run --release --example trace_pingpong -- [PROCS] [TRIPS] [MODE] [ROUNDS]
//!     (default 1 50000 2 20; MODE 0: off only, 1: on only, 2: alternating)
//! chrt -f 10 taskset -c 1 target/release/examples/trace_pingpong 1 50000 2 20
//! ```
//!
//! Under callgrind, set `NO_SIGURG=1`: sysmon ends a pair's time slice on one P with a
//! preemption signal now and then, which callgrind cannot follow (it asserts); the variable
//! blocks the signal in every thread the runtime starts, and so the preemption with it.

mod measure;

use measure::median;

/// The process's CPU time in ns.
fn cpu() -> f64 {
    measure::clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn main() {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .map_or(d, |s| s.parse().expect("a number"))
    };
    let (procs, trips, mode, rounds) = (arg(1, 1) as usize, arg(2, 50_000), arg(3, 2), arg(4, 20));
    if std::env::var_os("NO_SIGURG").is_some() {
        // SAFETY: a signal mask built in place and set for this thread, which the runtime's
        // threads inherit.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGURG);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }
    // SAFETY: no goroutine here keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::builder().max_procs(procs).build() };
    let path = std::env::temp_dir().join(format!("goro-trace-pp-{}.json", std::process::id()));
    // (wall, CPU) per round trip, tracing off and on.
    let mut res: [Vec<(f64, f64)>; 2] = [vec![], vec![]];
    for round in 0..rounds {
        let on = if mode == 2 { round % 2 == 1 } else { mode == 1 };
        if on {
            goro::trace::start(&path).unwrap();
        }
        let (x, wall, cpu) = rt.run(move || {
            let (a_tx, a_rx) = goro::chan::<u64>(0);
            let (b_tx, b_rx) = goro::chan::<u64>(0);
            let echo = goro::spawn(move || {
                for v in a_rx {
                    b_tx.send(v + 1).unwrap();
                }
            });
            let mut x = 0;
            let (t, c) = (std::time::Instant::now(), cpu());
            for _ in 0..trips {
                a_tx.send(x).unwrap();
                x = b_rx.recv().unwrap();
            }
            let c = (cpu() - c) / trips as f64;
            let wall = t.elapsed().as_nanos() as f64 / trips as f64;
            drop(a_tx);
            echo.join().unwrap();
            (x, wall, c)
        });
        assert_eq!(x, trips);
        if on {
            goro::trace::stop().unwrap();
        }
        res[usize::from(on)].push((wall, cpu));
    }
    let _ = std::fs::remove_file(&path);
    if mode == 2 {
        let d: Vec<f64> = res[0].iter().zip(&res[1]).map(|(a, b)| b.1 - a.1).collect();
        println!(
            "tracing on - off, paired: {:+.1} CPU ns/round trip",
            median(d)
        );
    }
    for (on, v) in res.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let w: Vec<f64> = v.iter().map(|x| x.0).collect();
        let c: Vec<f64> = v.iter().map(|x| x.1).collect();
        println!(
            "tracing {}: {:.1} ns/round trip wall, {:.1} CPU (medians of {})",
            ["off", "on"][on],
            median(w),
            median(c),
            v.len()
        );
    }
}
