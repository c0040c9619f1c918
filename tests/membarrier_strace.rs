//! The system-call handshake's two modes, seen under `strace`: by default the process
//! registers for `membarrier(2)` and a retake calls it (the returning M's side has no fence);
//! with `GORO_MEMBARRIER=off` no `membarrier` call is made and both sides fence. In both, a
//! goroutine blocked in `read` on one P has its P retaken and the writer runs.

mod common;

use std::os::fd::AsFd;
use std::process::Command;

use common::watchdog;
use goro::Runtime;
use goro::syscall as sc;

/// The traced side: runs only when the parent test starts this binary with the variable set.
#[test]
fn child() {
    if std::env::var_os("GORO_MEMBARRIER_CHILD").is_none() {
        return;
    }
    watchdog(30, "retake under strace", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { Runtime::builder().max_procs(1).build() };
        rt.run(|| {
            let (r, w) = sc::pipe().unwrap();
            let reader = goro::spawn(move || {
                let mut buf = [0u8; 2];
                sc::read(r.as_fd(), &mut buf).unwrap();
                buf
            });
            goro::yield_now(); // the reader blocks first; only a retake lets us on
            sc::write(w.as_fd(), b"ok").unwrap();
            assert_eq!(&reader.join().unwrap(), b"ok");
        });
        assert!(rt.stats().retaken >= 1, "{:?}", rt.stats());
    });
}

/// `membarrier` calls of the child run with `env`: (registrations, barriers).
fn traced(env: &[(&str, &str)]) -> (usize, usize) {
    let out = std::env::temp_dir().join(format!(
        "goro-membarrier-{}-{}",
        std::process::id(),
        env.len()
    ));
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-e", "trace=membarrier", "-o"])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads=1"])
        .env("GORO_MEMBARRIER_CHILD", "1")
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
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    (
        count("membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED"),
        count("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED"),
    )
}

#[test]
fn a_retake_calls_membarrier_unless_switched_off() {
    let (registered, barriers) = traced(&[]);
    assert_eq!(registered, 1, "registered once");
    assert!(barriers >= 1, "the retake's barrier");
    assert_eq!(traced(&[("GORO_MEMBARRIER", "off")]), (0, 0));
}
