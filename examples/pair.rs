//! What the enter/exit pair costs in the user's shape: `goro::syscall::syscall(SYS_getpid, ..)`
//! and `goro::syscall::raw_syscall(SYS_getpid, ..)` called straight in loops of the program's
//! own (inlined into them), inside a goroutine on a one-P runtime. Rounds of the two alternate
//! in one process, so drift hits both alike; many short rounds (12 ms each here) give the
//! median of their differences a spread of a few tenths of a ns where 15 long ones gave
//! several. The README's figure for the pair is this program's.
//!
//! ```text
//! cargo run --release --example pair -- [ROUNDS] [CALLS]    (default 201 100000)
//! ```
//!
//! Prints, in ns per call: the medians over rounds of `syscall` and `raw_syscall`, and the
//! median of the per-round differences (the pair); then the same from the quickest round of
//! each, which a machine shared with other work disturbs least.

use std::hint::black_box;
use std::time::Instant;

/// `getpid`: no arguments, no memory, no error.
const SYS_GETPID: usize = 39;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn least(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// ns per call of `n` `getpid`s through `syscall`, and whether every one returned `pid`.
fn with_scheduler(n: u64, pid: usize) -> (f64, bool) {
    let t = Instant::now();
    let mut ok = true;
    for _ in 0..n {
        // SAFETY: getpid touches no memory.
        let (r, _, _) = unsafe { goro::syscall::syscall(SYS_GETPID, 0, 0, 0) };
        ok &= r == pid;
    }
    (t.elapsed().as_nanos() as f64 / n as f64, ok)
}

/// The same through `raw_syscall`.
fn raw(n: u64, pid: usize) -> (f64, bool) {
    let t = Instant::now();
    let mut ok = true;
    for _ in 0..n {
        // SAFETY: getpid touches no memory.
        let (r, _, _) = unsafe { goro::syscall::raw_syscall(SYS_GETPID, 0, 0, 0) };
        ok &= r == pid;
    }
    (t.elapsed().as_nanos() as f64 / n as f64, ok)
}

fn main() {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .map_or(d, |s| s.parse().expect("a number"))
    };
    let (rounds, calls) = (arg(1, 201), black_box(arg(2, 100_000)));
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
    let pid = std::process::id() as usize;
    let (sys, rawv) = rt.run(move || {
        let (mut sys, mut rawv) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (a, ok_a) = raw(calls, pid);
            let (b, ok_b) = with_scheduler(calls, pid);
            assert!(ok_a && ok_b, "getpid returned another pid");
            rawv.push(a);
            sys.push(b);
        }
        (sys, rawv)
    });
    let pair = median(sys.iter().zip(&rawv).map(|(s, r)| s - r).collect());
    let (qs, qr) = (least(&sys), least(&rawv));
    println!(
        "medians: syscall {:.1} ns, raw_syscall {:.1} ns, pair {pair:.1} ns; \
         quickest rounds: {qs:.1} - {qr:.1} = {:.1} ns ({rounds} rounds of {calls} calls)",
        median(sys.clone()),
        median(rawv.clone()),
        qs - qr
    );
}
