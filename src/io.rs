//! Waiting for descriptors the way Go's `internal/poll` does: [`PollFd`] (the analogue of
//! tokio's `AsyncFd`) registers any pollable descriptor (pipe, socket, eventfd, timerfd,
//! inotify, signalfd) with the runtime's network poller, so a goroutine waiting for it parks
//! instead of holding its thread; [`pipe`] makes a pollable pipe.
//!
//! An operation tries the non-blocking call first and waits only when it reports
//! `WouldBlock`. A goroutine parks on the poller; a plain thread blocks in `poll(2)`.
//!
//! ```
//! use std::io::{Read, Write};
//! // SAFETY: no goroutine keeps thread-local state across a switch.
//! let rt = unsafe { goro::Runtime::new() };
//! let got = rt.run(|| {
//!     let (mut r, mut w) = goro::pipe().unwrap();
//!     let reader = goro::spawn(move || {
//!         let mut s = String::new();
//!         r.read_to_string(&mut s).map(|_| s)
//!     });
//!     w.write_all(b"hello").unwrap();
//!     drop(w);
//!     reader.join().unwrap().unwrap()
//! });
//! assert_eq!(got, "hello");
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::runtime::netpoll::{Mode, PollDesc, PollError, poll_open};
use crate::sync::{Mutex, MutexGuard};
use crate::syscall::{self, Errno};

/// A descriptor's registration with the poller, made when first needed (a call that never
/// has to wait costs no `epoll_ctl`), and the locks that let one goroutine at a time wait per
/// direction (Go's `pollDesc` with `fdMutex`'s read and write locks).
pub(crate) struct Registration {
    fd: RawFd,
    pd: OnceLock<Result<&'static PollDesc, Errno>>,
    read: Mutex<()>,
    write: Mutex<()>,
}

impl From<PollError> for io::Error {
    fn from(e: PollError) -> io::Error {
        match e {
            PollError::Closing => io::Error::new(
                io::ErrorKind::NotConnected,
                "use of closed file or network connection",
            ),
            PollError::Timeout => io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"),
        }
    }
}

impl Registration {
    /// For `fd`, which must be non-blocking and stay open until this is dropped.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Registration {
        Registration {
            fd: fd.as_raw_fd(),
            pd: OnceLock::new(),
            read: Mutex::new(()),
            write: Mutex::new(()),
        }
    }

    /// The poll descriptor, registering the fd at the first call. A failure (a descriptor
    /// epoll cannot watch) is the answer for good.
    pub(crate) fn pd(&self) -> io::Result<&'static PollDesc> {
        Ok((*self.pd.get_or_init(|| poll_open(self.fd)))?)
    }

    /// Runs `op` until it does not report `EAGAIN`, waiting for `mode` in between, one
    /// goroutine at a time per direction; `EINTR` is retried. With `timeout`, waits end with
    /// `TimedOut` that long after the first wait began (std's `set_read_timeout`), a deadline
    /// armed only if the call had to wait.
    pub(crate) fn io<R>(
        &self,
        mode: Mode,
        timeout: Option<Duration>,
        mut op: impl FnMut() -> Result<R, Errno>,
    ) -> io::Result<R> {
        let _serial = self.turn(mode);
        if let Some(Ok(pd)) = self.pd.get() {
            pd.check(mode)?;
        }
        let mut armed = false;
        let r = loop {
            match op() {
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                r => break r.map_err(io::Error::from),
            }
            let pd = match self.pd() {
                Ok(pd) => pd,
                Err(e) => break Err(e),
            };
            if let Some(t) = timeout
                && !armed
            {
                pd.set_deadline(mode, Some(t));
                armed = true;
            }
            if let Err(e) = pd.wait(mode) {
                break Err(e.into());
            }
        };
        if armed && let Ok(pd) = self.pd() {
            pd.set_deadline(mode, None);
        }
        r
    }

    /// The turn of one goroutine at a time in `mode`'s direction: the poll descriptor holds one
    /// waiter per direction, as Go's holds `fdMutex`'s read or write lock.
    fn turn(&self, mode: Mode) -> MutexGuard<'_, ()> {
        match mode {
            Mode::Read => self.read.lock(),
            Mode::Write => self.write.lock(),
        }
    }

    /// Waits once for `mode` (see [`PollFd::readable`]), taking its turn with the other
    /// waits in that direction: the poll descriptor holds one waiter per direction (a second
    /// is a fatal "double wait"), as Go's takes its `fdMutex` read or write lock first.
    fn wait(&self, mode: Mode) -> io::Result<()> {
        let _serial = self.turn(mode);
        Ok(self.pd()?.wait(mode)?)
    }

    /// Sets Go's deadline for `mode`: `None` clears it, a time in the past fails waits at once.
    pub(crate) fn set_deadline(&self, mode: Mode, at: Option<Instant>) -> io::Result<()> {
        let after = at.map(|t| t.saturating_duration_since(Instant::now()));
        self.pd()?.set_deadline(mode, after);
        Ok(())
    }

    /// Go's `Close` half: wakes every waiter with an error, and fails every later operation.
    pub(crate) fn close(&self) -> io::Result<()> {
        self.pd()?.unblock();
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(Ok(pd)) = self.pd.get() {
            pd.unblock();
            pd.close();
        }
    }
}

/// A pollable descriptor registered with the runtime's poller: goroutines waiting for it park
/// on the poller (tokio's `AsyncFd`, Go's `os.File` on a pipe). The descriptor is made
/// non-blocking.
///
/// Readiness is edge-triggered: after [`readable`](Self::readable) returns, perform I/O until
/// it reports `WouldBlock` before waiting again, or use [`read_with`](Self::read_with) /
/// [`write_with`](Self::write_with), which do that.
///
/// What is registered is a duplicate of the descriptor, which the `PollFd` owns: so `inner`
/// may be replaced through [`get_mut`](Self::get_mut) (its old descriptor closed, its number
/// reused) without the registration ever naming another descriptor. (tokio's `AsyncFd`
/// registers `inner`'s own number, and asks that it never change: when it does, dropping the
/// `AsyncFd` unregisters whichever descriptor has the number by then.) Readiness follows the
/// open file both share; after a replacement it is the old one's.
pub struct PollFd<T: AsFd> {
    // Dropped first: unregistered before `registered` closes the descriptor it names.
    reg: Registration,
    /// The descriptor `reg` names: a duplicate of `inner`'s at `new`, or `None` where the
    /// crate registers a descriptor it owns and never hands out mutably (a [`PipeEnd`]'s).
    registered: Option<OwnedFd>,
    inner: T,
}

impl<T: AsFd> PollFd<T> {
    /// Registers (a duplicate of) `inner`'s descriptor and makes it non-blocking. Fails for
    /// descriptors epoll cannot watch (a regular file: `EPERM`), or when no descriptor is
    /// left for the duplicate (`EMFILE`).
    pub fn new(inner: T) -> io::Result<PollFd<T>> {
        use linux_raw_sys::general::F_DUPFD_CLOEXEC;
        set_nonblocking(inner.as_fd())?;
        let fd = syscall::fcntl(inner.as_fd(), F_DUPFD_CLOEXEC, 0)?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a new descriptor that nothing else owns.
        let dup = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let reg = Registration::new(dup.as_fd());
        reg.pd()?;
        Ok(PollFd {
            reg,
            registered: Some(dup),
            inner,
        })
    }

    /// The descriptor's owner.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The descriptor's owner, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unregisters the descriptor and returns its owner (still non-blocking).
    pub fn into_inner(self) -> T {
        let PollFd {
            reg,
            registered,
            inner,
        } = self;
        drop(reg);
        drop(registered);
        inner
    }

    /// Waits until the descriptor may be readable: an event since the last wait, or one now.
    /// Fails with `TimedOut` past the read deadline, and with `NotConnected` after
    /// [`close`](Self::close). Goroutines waiting at once take turns (with
    /// [`read_with`](Self::read_with)'s waits too), each for an event after the last one's.
    pub fn readable(&self) -> io::Result<()> {
        self.reg.wait(Mode::Read)
    }

    /// Waits until the descriptor may be writable (see [`readable`](Self::readable)).
    pub fn writable(&self) -> io::Result<()> {
        self.reg.wait(Mode::Write)
    }

    /// Runs `f` until it does not fail with `WouldBlock`, waiting for readability in
    /// between (tokio's `async_io`): a read, `accept`, `recv` on the descriptor. It holds the
    /// read turn throughout, so `f` must not wait on this `PollFd` for reading itself (a
    /// `readable` or `read_with` inside it waits for ever).
    pub fn read_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.reg.io(Mode::Read, None, || errno_of(f(&self.inner)))?
    }

    /// [`read_with`](Self::read_with) for writes (with the write turn).
    pub fn write_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.reg
            .io(Mode::Write, None, || errno_of(f(&self.inner)))?
    }

    /// Go's `SetReadDeadline`: waits for reading fail with `TimedOut` from `at` on (at once if
    /// it has passed); `None` removes the deadline.
    pub fn set_read_deadline(&self, at: Option<Instant>) {
        // Registered by `new`: cannot fail.
        let _ = self.reg.set_deadline(Mode::Read, at);
    }

    /// Go's `SetWriteDeadline` (see [`set_read_deadline`](Self::set_read_deadline)).
    pub fn set_write_deadline(&self, at: Option<Instant>) {
        let _ = self.reg.set_deadline(Mode::Write, at);
    }

    /// Go's `Close`, from any goroutine while others wait: every waiter, now or later, fails
    /// with `NotConnected`. The descriptor itself is closed when this is dropped.
    pub fn close(&self) {
        let _ = self.reg.close();
    }
}

/// `f`'s result with `WouldBlock` and `Interrupted` as errnos for [`Registration::io`], and
/// any other error passed through inside.
fn errno_of<R>(r: io::Result<R>) -> Result<io::Result<R>, Errno> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Errno::EAGAIN),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(Errno::EINTR),
        r => Ok(r),
    }
}

impl<T: AsFd> AsFd for PollFd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl<T: AsFd> AsRawFd for PollFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_fd().as_raw_fd()
    }
}

/// Sets `O_NONBLOCK` on `fd`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    use linux_raw_sys::general::{F_GETFL, F_SETFL, O_NONBLOCK};
    let flags = syscall::fcntl(fd, F_GETFL, 0)?;
    if flags as u32 & O_NONBLOCK == 0 {
        syscall::fcntl(fd, F_SETFL, (flags as u32 | O_NONBLOCK) as usize)?;
    }
    Ok(())
}

/// One end of a [`pipe`]: `Read` for the read end, `Write` for the write end.
pub struct PipeEnd(PollFd<OwnedFd>);

/// A pollable pipe: (read end, write end), close-on-exec; goroutines blocked on either end
/// park on the poller (Go's `os.Pipe`).
pub fn pipe() -> io::Result<(PipeEnd, PipeEnd)> {
    use linux_raw_sys::general::{O_CLOEXEC, O_NONBLOCK};
    let (r, w) = syscall::pipe2(O_CLOEXEC | O_NONBLOCK)?;
    Ok((PipeEnd(PipeEnd::poll(r)?), PipeEnd(PipeEnd::poll(w)?)))
}

impl PipeEnd {
    /// `fd` registered as it is, without [`PollFd::new`]'s duplicate: a pipe end never hands
    /// out its `PollFd` mutably, so the descriptor cannot change under the registration.
    fn poll(fd: OwnedFd) -> io::Result<PollFd<OwnedFd>> {
        let reg = Registration::new(fd.as_fd());
        reg.pd()?;
        Ok(PollFd {
            reg,
            registered: None,
            inner: fd,
        })
    }

    /// The end as a [`PollFd`], for deadlines and `close`.
    pub fn poll_fd(&self) -> &PollFd<OwnedFd> {
        &self.0
    }
}

impl io::Read for PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.0.as_fd();
        self.0.reg.io(Mode::Read, None, || syscall::read(fd, buf))
    }
}

impl io::Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.0.as_fd();
        self.0.reg.io(Mode::Write, None, || syscall::write(fd, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for PipeEnd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<PipeEnd> for OwnedFd {
    fn from(p: PipeEnd) -> OwnedFd {
        p.0.into_inner()
    }
}
