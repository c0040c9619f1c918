//! Whether a thread of this process is runnable, read from `/proc` by sysmon, which asks it
//! of the thread of a call before it retakes the call's P (see `sysmon.rs`).
//!
//! A read opens the thread's `stat` file (std's `File`), reads it and closes it: 12 us here,
//! ~40 us for a thread read the first time. sysmon's watch opens the file once it sees the
//! call still in and reads it after its 10 us spin, through the same descriptor (a `pread`,
//! ~5 us), so the opening costs no time of the retake's. No descriptor outlives its read: one kept per thread would take a
//! program's descriptors (up to its `RLIMIT_NOFILE`, or the lowest number it expects an `open`
//! to return) for the runtime's bookkeeping.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// A thread's open `stat` file (closed when dropped).
pub(crate) struct StatFile(File);

impl StatFile {
    /// Opens `/proc/self/task/<tid>/stat`; `None` if there is no such thread (or no
    /// descriptor to spare).
    pub(crate) fn open(tid: i32) -> Option<StatFile> {
        use std::io::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut path = [0u8; 40];
        let mut rest = &mut path[..];
        write!(rest, "/proc/self/task/{tid}/stat").ok()?;
        let len = 40 - rest.len();
        let path = std::ffi::OsStr::from_bytes(&path[..len]);
        File::open(path).ok().map(StatFile)
    }

    /// Whether the thread is running or waiting for a CPU (state `R`) rather than asleep in
    /// the kernel or stopped, as of now; `None` if the file cannot be read (the thread has
    /// exited).
    pub(crate) fn runnable(&self) -> Option<bool> {
        let mut buf = [0u8; 64];
        let n = self.0.read_at(&mut buf, 0).ok()?;
        // "tid (name) S ...": the name is at most 15 bytes and may hold ')' itself, the fields
        // after it are numbers, so the state follows the last ')' of the first 64 bytes.
        let close = buf[..n].iter().rposition(|&b| b == b')')?;
        buf.get(close + 2).map(|&state| state == b'R')
    }
}

/// Whether thread `tid` of this process is running or waiting for a CPU rather than asleep in
/// the kernel or stopped; `None` if its file cannot be read. Read only where a verdict hangs
/// on it: a thread the kernel has merely not run (a loaded machine) makes no call that
/// blocks, and another thread given its P would wait for a CPU as long.
pub(crate) fn runnable(tid: i32) -> Option<bool> {
    StatFile::open(tid)?.runnable()
}

#[cfg(test)]
mod tests {
    use super::super::sys;
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn reads_a_running_and_a_sleeping_thread_through_one_descriptor() {
        let me = sys::gettid();
        assert_eq!(runnable(me), Some(true), "this thread runs");
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(sys::gettid()).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let file = StatFile::open(tid).expect("the thread's file");
        // It blocks in `recv` (a futex wait) soon after sending its id: the open file reads
        // its state afresh each time.
        let deadline = Instant::now() + Duration::from_secs(10);
        while file.runnable() != Some(false) {
            assert!(Instant::now() < deadline, "the thread never slept");
            std::thread::yield_now();
        }
        done_tx.send(()).unwrap();
        t.join().unwrap();
        // An exited thread reads as nothing, through the open file or afresh. The join
        // returns once the kernel has cleared the thread's id word, a little before the
        // thread is gone.
        while file.runnable().is_some() || runnable(tid).is_some() {
            assert!(Instant::now() < deadline, "the thread never went");
            std::thread::yield_now();
        }
        assert!(StatFile::open(-1).is_none(), "no such thread");
    }
}
