//! Go's `TestUsingVDSO`: under `strace`, 10,000 `clock_gettime` calls make no
//! `clock_gettime` system call, and with the vDSO switched off they all do.

use std::process::Command;

const CALLS: usize = 10_000;

/// The traced side: runs only when the parent test starts this binary with `GORO_VDSO_CHILD`.
#[test]
fn child() {
    if std::env::var_os("GORO_VDSO_CHILD").is_none() {
        return;
    }
    let mut last = 0;
    for _ in 0..CALLS {
        let t = goro::syscall::clock_gettime(1).unwrap();
        let ns = t.tv_sec * 1_000_000_000 + t.tv_nsec;
        assert!(ns >= last);
        last = ns;
    }
}

fn traced_calls(env: &[(&str, &str)]) -> usize {
    let out =
        std::env::temp_dir().join(format!("goro-strace-{}-{}", std::process::id(), env.len()));
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-e", "trace=clock_gettime", "-o"])
        .arg(&out);
    cmd.arg(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads=1"]);
    cmd.env("GORO_VDSO_CHILD", "1")
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("this test needs strace (apt-get install strace; .ci/run installs it): {e}")
    });
    assert!(status.success(), "traced child failed: {status}");
    let log = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    log.lines().filter(|l| l.contains("clock_gettime(")).count()
}

#[test]
fn clock_gettime_uses_the_vdso() {
    assert_eq!(traced_calls(&[]), 0, "clock_gettime entered the kernel");
    // The control: the same loop with the vDSO off makes every call a system call, which also
    // shows the first assertion could fail.
    assert!(traced_calls(&[("GORO_VDSO", "off")]) >= CALLS);
}
