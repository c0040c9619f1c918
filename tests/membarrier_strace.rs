//! The system-call handshake's two modes, seen under `strace`: by default the process
//! registers for `membarrier(2)` and a retake calls it (the returning M's side has no fence);
//! with `GORO_MEMBARRIER=off` no `membarrier` call is made and both sides fence. In both, a
//! goroutine blocked in `read` on one P has its P retaken and the writer runs.

mod common;

use common::{strace_child, watchdog};
use goro::Runtime;
use goro::syscall as sc;
use std::os::fd::AsFd;

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
    let log = strace_child("membarrier", "GORO_MEMBARRIER_CHILD", env);
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
