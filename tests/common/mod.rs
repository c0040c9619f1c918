//! Helpers shared by the oracle tests: libc's results in our shape, scratch directories, and a
//! descriptor number that can never be open.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use goro::syscall::Errno;

/// A libc return value as a `Result`: -1 is the error in `errno`.
pub fn lc(r: impl Into<i64>) -> Result<i64, Errno> {
    let r = r.into();
    if r == -1 {
        Err(Errno(
            std::io::Error::last_os_error().raw_os_error().unwrap() as u16,
        ))
    } else {
        Ok(r)
    }
}

/// A wrapper's result in the same shape as [`lc`]'s.
pub fn ours<T: Val>(r: Result<T, Errno>) -> Result<i64, Errno> {
    r.map(Val::val)
}

/// A success value as a number: integers as they are, `()` as 0, a descriptor as 0 (libc's
/// descriptors are compared by [`fd_ok`]).
pub trait Val {
    fn val(self) -> i64;
}
impl Val for () {
    fn val(self) -> i64 {
        0
    }
}
macro_rules! val {
    ($($t:ty),*) => { $(impl Val for $t { fn val(self) -> i64 { self as i64 } })* };
}
val!(i32, u32, i64, usize);
impl Val for OwnedFd {
    fn val(self) -> i64 {
        assert!(self.as_raw_fd() >= 0);
        0
    }
}

/// libc's new descriptor in the shape of `ours(Result<OwnedFd, _>)`, closing it.
pub fn fd_ok(r: i32) -> Result<i64, Errno> {
    lc(r).map(|fd| {
        // SAFETY: a descriptor libc just returned to this test.
        unsafe { libc::close(fd as i32) };
        0
    })
}

/// A descriptor number above any possible `RLIMIT_NOFILE` (the kernel caps it at 2^30), so it
/// is never open and borrowing it steals nothing: every call on it is `EBADF`.
pub fn bad_fd() -> BorrowedFd<'static> {
    // SAFETY: see above; the number is not -1.
    unsafe { BorrowedFd::borrow_raw(i32::MAX - 1) }
}

/// A scratch directory, removed with its contents on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "goro-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// A path inside the directory as a C string for libc.
    pub fn c(&self, name: &str) -> CString {
        cs(&self.join(name))
    }
    /// Creates a file with `content` and returns its path.
    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn cs(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Opens `p` with std, read-only.
pub fn open_ro(p: &Path) -> std::fs::File {
    std::fs::File::open(p).unwrap()
}

/// Opens `p` with std, read-write.
pub fn open_rw(p: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap()
}

/// Runs `f` on a thread of its own and fails the test with a clear message if it has not
/// finished within `secs` seconds (the stuck thread is left behind; the test process ends
/// anyway).
pub fn watchdog<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => {
            panic!("watchdog: {what} did not finish within {secs} s (deadlock or lost wake-up)")
        }
    }
}

/// Waits for `child` and takes its output; kills it and fails the test if it has not ended
/// within `secs` seconds.
pub fn output_within(child: std::process::Child, secs: u64) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kills the child the caller started, by its id.
            unsafe { libc::kill(id as i32, libc::SIGKILL) };
            panic!("the child did not finish within {secs} s");
        }
    }
}

/// Runs `f` in a forked child and returns its exit status. `f` must not allocate or take
/// locks (the parent has other threads); wrappers called with borrowed C strings obey that.
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only `f`, which makes system calls, then `_exit`s.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            libc::_exit(f());
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        assert!(libc::WIFEXITED(status), "child died: {status:#x}");
        libc::WEXITSTATUS(status)
    }
}

/// Tests that measure time or need the CPUs to themselves (the machine may have only two)
/// would measure each other if run at once: each holds this lock.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `timespec` for `d`.
pub fn timespec(d: std::time::Duration) -> goro::syscall::Timespec {
    goro::syscall::Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Sleeps `d` in goro's `nanosleep` wrapper (a goroutine's P is handed on meanwhile),
/// resuming after `EINTR` with the time left.
pub fn nanosleep_resuming(d: std::time::Duration) {
    let mut req = timespec(d);
    loop {
        let mut rem = timespec(std::time::Duration::ZERO);
        match goro::syscall::nanosleep(&req, Some(&mut rem)) {
            Ok(()) => return,
            Err(Errno::EINTR) => req = rem,
            Err(e) => panic!("nanosleep: {e:?}"),
        }
    }
}

/// Runs this test binary's test `child` under `strace -f -e trace=<calls>`, with `marker` and
/// `env` set in its environment, and returns strace's log. The child must succeed.
pub fn strace_child(calls: &str, marker: &str, env: &[(&str, &str)]) -> String {
    let out = std::env::temp_dir().join(format!(
        "goro-strace-{}-{marker}-{}",
        std::process::id(),
        env.len()
    ));
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-e", &format!("trace={calls}"), "-o"])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--test-threads=1"])
        .env(marker, "1")
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
    log
}

/// The first CPU this thread may run on.
pub fn first_cpu() -> usize {
    // SAFETY: a zeroed `cpu_set_t` is an empty set; the kernel writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(
        r,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: reads a set the kernel filled.
    (0..libc::CPU_SETSIZE as usize)
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .expect("a CPU to run on")
}

/// Pins the calling thread to `cpu`.
pub fn pin_to(cpu: usize) {
    // SAFETY: a zeroed `cpu_set_t` is an empty set; `CPU_SET` writes within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE (the caller's, from `first_cpu`).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the kernel reads the set.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

/// Waits until every P of `rt` is idle (10 s at most): `run` returns as soon as its closure
/// has, while the goroutine is still ending on its M (and the trace's events waiting in an M
/// are written only when it gives up its P).
pub fn wait_idle(rt: &goro::Runtime) {
    let t = std::time::Instant::now();
    while rt.stats().procs.idle < rt.max_procs() as u64
        && t.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}
