//! Go's `TestUsingVDSO`: under `strace`, 10,000 `clock_gettime` calls make no
//! `clock_gettime` system call, and with the vDSO switched off they all do.

mod common;

use common::strace_child;

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
    strace_child("clock_gettime", "GORO_VDSO_CHILD", env)
        .lines()
        .filter(|l| l.contains("clock_gettime("))
        .count()
}

#[test]
fn clock_gettime_uses_the_vdso() {
    assert_eq!(traced_calls(&[]), 0, "clock_gettime entered the kernel");
    // The control: the same loop with the vDSO off makes every call a system call, which also
    // shows the first assertion could fail.
    assert!(traced_calls(&[("GORO_VDSO", "off")]) >= CALLS);
}
