//! Whether a thread of this process is runnable, read from `/proc` by sysmon, which asks it
//! of the thread of a call before it retakes the call's P (see `sysmon.rs`).
//!
//! Each thread's `stat` file stays open once read: a read through the open descriptor takes
//! ~5 us here, where opening, reading and closing the file takes 12 us warm and ~40 us for a
//! thread read the first time, and the read lies in the path of every retake's verdict. The
//! descriptors are sysmon's own, so none is closed under a read; a thread that has exited
//! reads as nothing, and its entry is opened afresh (its id may name a new thread by then).

use super::sys;

/// The open `stat` files of the threads sysmon has read, most recent last.
#[derive(Default)]
pub(crate) struct ThreadStates(Vec<(i32, i32)>);

impl ThreadStates {
    /// At most this many files stay open; the least recently opened goes first. A runtime
    /// has a few Ms per P; only a program that makes and ends threads all the time (locked
    /// goroutines that exit) cycles through more.
    const MAX: usize = 64;

    /// Opens the file of thread `tid` unless it is kept already: a first read of a thread
    /// costs the opening, which a caller about to wait anyway (sysmon's watch) pays then.
    pub(crate) fn open(&mut self, tid: i32) {
        if !self.0.iter().any(|&(t, _)| t == tid) {
            self.open_new(tid);
        }
    }

    /// Whether thread `tid` of this process is running or waiting for a CPU (state `R`)
    /// rather than asleep in the kernel or stopped; `None` if its file cannot be read.
    pub(crate) fn runnable(&mut self, tid: i32) -> Option<bool> {
        let mut buf = [0u8; 64];
        let kept = self.0.iter().position(|&(t, _)| t == tid);
        let n = match kept.map(|i| (i, sys::pread(self.0[i].1, &mut buf, 0))) {
            Some((_, Ok(n))) if n > 0 => n,
            stale => {
                if let Some((i, _)) = stale {
                    sys::close(self.0.remove(i).1);
                }
                sys::pread(self.open_new(tid)?, &mut buf, 0).ok()?
            }
        };
        // "tid (name) S ...": the name is at most 15 bytes and may hold ')' itself, the fields
        // after it are numbers, so the state follows the last ')' of the first 64 bytes.
        let close = buf[..n].iter().rposition(|&b| b == b')')?;
        buf.get(close + 2).map(|&state| state == b'R')
    }

    /// Opens `/proc/self/task/<tid>/stat` and keeps it, closing the oldest kept if need be.
    fn open_new(&mut self, tid: i32) -> Option<i32> {
        use std::io::Write;
        let mut path = [0u8; 40];
        write!(&mut path[..], "/proc/self/task/{tid}/stat\0").ok()?;
        let path = core::ffi::CStr::from_bytes_until_nul(&path).ok()?;
        let fd = sys::open_read(path).ok()?;
        if self.0.len() == Self::MAX {
            sys::close(self.0.remove(0).1);
        }
        self.0.push((tid, fd));
        Some(fd)
    }
}

impl Drop for ThreadStates {
    fn drop(&mut self) {
        for &(_, fd) in &self.0 {
            sys::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_running_and_a_sleeping_thread() {
        let mut st = ThreadStates::default();
        let me = sys::gettid();
        assert_eq!(st.runnable(me), Some(true), "this thread runs");
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(sys::gettid()).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        // It blocks in `recv` (a futex wait) soon after sending its id.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while st.runnable(tid) != Some(false) {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread never slept"
            );
            std::thread::yield_now();
        }
        assert_eq!(st.0.len(), 2, "each thread's file stays open");
        done_tx.send(()).unwrap();
        t.join().unwrap();
        // An exited thread reads as nothing, through its kept descriptor or afresh. The join
        // returns once the kernel has cleared the thread's id word, a little before the
        // thread is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while st.runnable(tid).is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread never went"
            );
            std::thread::yield_now();
        }
        assert_eq!(st.runnable(me), Some(true), "kept files still read");
    }

    #[test]
    fn keeps_at_most_max_files() {
        let mut st = ThreadStates::default();
        // Ids of no thread of this process fail to open and are not kept.
        assert_eq!(st.runnable(-1), None);
        assert!(st.0.is_empty());
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_rx = std::sync::Arc::new(std::sync::Mutex::new(done_rx));
        let threads: Vec<_> = (0..ThreadStates::MAX + 2)
            .map(|_| {
                let (tx, done_rx) = (tx.clone(), done_rx.clone());
                std::thread::spawn(move || {
                    tx.send(sys::gettid()).unwrap();
                    let _ = done_rx.lock().unwrap().recv();
                })
            })
            .collect();
        let tids: Vec<i32> = (0..threads.len()).map(|_| rx.recv().unwrap()).collect();
        for &tid in &tids {
            assert!(st.runnable(tid).is_some(), "thread {tid} unreadable");
        }
        assert_eq!(st.0.len(), ThreadStates::MAX);
        assert_eq!(st.0[0].0, tids[2], "the first two opened were closed first");
        // An evicted thread is opened again.
        st.open(tids[1]);
        assert_eq!(st.0.last().unwrap().0, tids[1]);
        assert!(st.runnable(tids[1]).is_some());
        assert_eq!(st.0.len(), ThreadStates::MAX);
        for _ in &threads {
            done_tx.send(()).unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}
