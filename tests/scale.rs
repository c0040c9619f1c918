//! Goroutines at scale: many parked at once on a default `vm.max_map_count`, and memory given
//! back after a burst. Each case runs in a child process (this test binary re-run with one test
//! selected), so its mappings and memory are its own.

mod common;

use std::process::Command;

use common::watchdog;

const CHILD: &str = "GORO_SCALE_CHILD";

/// The child: parks `n` goroutines on one channel, then lets them all finish, and prints the
/// process's mapping count and RSS before, at the peak and after the runtime is dropped.
#[test]
fn parked_child() {
    let Some(n) = std::env::var(CHILD)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let base = rss_kib();
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
    let (maps, peak) = rt.run(move || {
        let (tx, rx) = goro::chan::<()>(0);
        let (parked_tx, parked) = goro::chan::<()>(n);
        let wg = goro::WaitGroup::new();
        for _ in 0..n {
            let (rx, parked_tx) = (rx.clone(), parked_tx.clone());
            wg.go(move || {
                parked_tx.send(()).unwrap();
                assert_eq!(rx.recv(), None, "nobody sends");
            });
        }
        for _ in 0..n {
            parked.recv().unwrap();
        }
        // Every goroutine has started (so has its stack) and is parked or about to be.
        let at_peak = (mappings(), rss_kib());
        drop(tx);
        wg.wait();
        at_peak
    });
    drop(rt);
    println!(
        "scale: n={n} maps={maps} rss_base={base} rss_peak={peak} rss_after={}",
        rss_kib()
    );
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Report {
    maps: usize,
    rss_base: usize,
    rss_peak: usize,
    rss_after: usize,
}

/// Runs the child with `n` goroutines and the extra environment `env`.
fn run_child(n: usize, env: &[(&str, &str)]) -> Report {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "parked_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, n.to_string())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child with {n} goroutines failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("scale: ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no report in: {stdout}"));
    let field = |name: &str| -> usize {
        let key = format!("{name}=");
        let v = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix(key.as_str()));
        v.unwrap_or_else(|| panic!("no {name} in {line}"))
            .parse()
            .unwrap()
    };
    Report {
        maps: field("maps"),
        rss_base: field("rss_base"),
        rss_peak: field("rss_peak"),
        rss_after: field("rss_after"),
    }
}

/// Whether this kernel has guard markers (`MADV_GUARD_INSTALL`, Linux 6.13).
fn kernel_has_guard_markers() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 13)
}

/// 200,000 parked goroutines on a default `vm.max_map_count` (65530): with guard markers the
/// stacks share a few hundred mappings, where a mapping per stack and one per guard page stopped
/// at about 32,000. After they finish and the runtime is dropped, their memory is given back.
#[test]
fn two_hundred_thousand_parked_goroutines() {
    if !kernel_has_guard_markers() {
        eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (the fallback test covers it)");
        return;
    }
    let _serial = common::serial();
    let n = 200_000;
    let r = watchdog(120, "200,000 parked goroutines", move || run_child(n, &[]));
    assert!(r.maps < 2_000, "{} mappings for {n} stacks", r.maps);
    let grown = r.rss_peak - r.rss_base;
    assert!(
        grown >= n * 4,
        "each parked goroutine touches at least a page: grew only {grown} KiB"
    );
    assert!(
        r.rss_after < r.rss_base + grown / 4,
        "memory not given back: {} KiB at the peak, {} KiB after (from {} KiB)",
        r.rss_peak,
        r.rss_after,
        r.rss_base
    );
}

/// `GORO_STACK_GUARD=mprotect` forces the fallback of older kernels: a guard page `mprotect`ed
/// per stack, each splitting its region, so the mappings grow with the goroutines.
#[test]
fn mprotect_guards_when_forced() {
    let _serial = common::serial();
    let n = 10_000;
    let r = watchdog(60, "mprotect fallback", move || {
        run_child(n, &[("GORO_STACK_GUARD", "mprotect")])
    });
    assert!(
        r.maps >= 2 * n,
        "{} mappings for {n} mprotect-guarded stacks",
        r.maps
    );
}

/// A goroutine spawning in a loop does not run far ahead of the Ps that run what it spawns:
/// once the global queue holds `SPAWN_BACKLOG` (1,024) goroutines the spawner yields and its P
/// helps, so the runnable goroutines stay in the low thousands rather than growing with the
/// loop (each holds its G and its closure). With one P nobody else would ever run them.
#[test]
fn a_spawning_loop_keeps_a_bounded_backlog() {
    watchdog(60, "spawn backlog", || {
        for procs in [1, 2] {
            // SAFETY: no goroutine keeps thread-local state across a switch.
            let rt = unsafe { goro::Runtime::builder().max_procs(procs).build() };
            let most = rt.run(|| {
                let wg = goro::WaitGroup::new();
                let mut most = 0;
                for i in 0..200_000 {
                    wg.go(|| {});
                    if i % 500 == 0 {
                        most = most.max(goro::stats().unwrap().goroutines.runnable);
                    }
                }
                wg.wait();
                most
            });
            assert!(
                most < 4096,
                "{most} goroutines runnable at once with {procs} P(s)"
            );
        }
    });
}
