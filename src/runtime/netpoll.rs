//! The network poller's descriptors (Go's `netpoll.go`): a [`PollDesc`] per registered
//! descriptor, where at most one goroutine per direction waits for it to become ready.
//!
//! Each direction has a semaphore word, `rg` / `wg` (Go's states):
//!
//! ```text
//!   PD_NIL ──netpollblock──> PD_WAIT ──gopark commit──> G pointer
//!     ^  ^                      │                          │
//!     │  └──── timeout/close ───┤<──── timeout/close ──────┤  (the G is readied)
//!     │                         v                          v
//!     └── netpollblock ──── PD_READY <──── I/O ready ───────┘  (the G is readied)
//! ```
//!
//! An I/O call tries the non-blocking system call first and waits here only on `EAGAIN`; the
//! edge-triggered event that follows leaves `PD_READY` (consumed by the next wait) or readies
//! the waiting goroutine. Closing ([`PollDesc::unblock`], Go's `pollUnblock`) marks the
//! descriptor and wakes both waiters with an error; deadlines are timers on the timer heaps
//! that do the same for one direction. Poll descriptors are never freed: they go back to a
//! cache and are reused, and each reuse advances `fdseq`, which tags the epoll user word, so
//! an event still in flight for a previous user of the same memory (or of the same fd number)
//! is dropped rather than waking the wrong goroutine.
//!
//! Lock order: `deadline_lock`, then a deadline timer's lock, then `lock`. The timer's action
//! takes `lock` under its own, so nothing holding `lock` touches a timer.

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::context::prefetch;
use super::g::{G, WaitReason};
use super::netpoll_epoll::{netpollclose, netpollopen};
use super::proc::{current_g, gopark, goready};
use super::sysmon::nanotime;
use super::timers::Timer;
use crate::linux::errno::Errno;

const PD_NIL: usize = 0;
const PD_READY: usize = 1;
const PD_WAIT: usize = 2;

/// `info` bits, readable without the lock (Go's `pollInfo`).
const CLOSING: u32 = 1;
const RD_EXPIRED: u32 = 2;
const WD_EXPIRED: u32 = 4;

/// The epoll user word: the descriptor's address with the low bits of its `fdseq` on top
/// (Go's `taggedPointer`). User addresses fit in 47 bits on x86_64.
const TAG_SHIFT: u32 = 48;

/// Goroutines parked on a poll descriptor, in every runtime (Go's `netpollWaiters`): while
/// there are any, an idle M blocks in the poller rather than on its note.
static WAITERS: AtomicU32 = AtomicU32::new(0);

/// Whether any goroutine waits for a descriptor.
pub(crate) fn any_waiters() -> bool {
    WAITERS.load(Ordering::Acquire) > 0
}

/// A direction of I/O.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// Why a wait ended without the descriptor being ready.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PollError {
    /// The descriptor was closed ([`PollDesc::unblock`]; Go's `errNetClosing`).
    Closing,
    /// The direction's deadline has passed (Go's `os.ErrDeadlineExceeded`).
    Timeout,
}

pub(crate) struct PollDesc {
    /// The descriptor, while in use.
    fd: AtomicI32,
    /// Advanced each time the descriptor is freed; events tagged with another are stale.
    fdseq: AtomicU64,
    /// The read and write semaphores: `PD_NIL`, `PD_READY`, `PD_WAIT` or a parked G.
    rg: AtomicUsize,
    wg: AtomicUsize,
    /// `CLOSING | RD_EXPIRED | WD_EXPIRED`, published under `lock`.
    info: AtomicU32,
    lock: Mutex<Locked>,
    /// Serializes deadline setters, so the last deadline set is the one its timer is armed
    /// for.
    deadline_lock: Mutex<()>,
    /// The read and write deadline timers, made at first use and kept across reuse.
    timers: [OnceLock<Arc<Timer>>; 2],
}

/// What `lock` guards (Go's `pd.lock` fields).
struct Locked {
    closing: bool,
    /// Deadlines (nanotime): 0 none, -1 passed.
    rd: i64,
    wd: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Freed descriptors, for reuse (Go's `pollcache`).
static CACHE: Mutex<Vec<&'static PollDesc>> = Mutex::new(Vec::new());

/// Registers `fd` with the poller (Go's `poll_runtime_pollOpen`). The caller keeps `fd` open
/// until after [`PollDesc::close`].
pub(crate) fn poll_open(fd: i32) -> Result<&'static PollDesc, Errno> {
    let pd = lock(&CACHE).pop().unwrap_or_else(|| {
        Box::leak(Box::new(PollDesc {
            fd: AtomicI32::new(-1),
            fdseq: AtomicU64::new(0),
            rg: AtomicUsize::new(PD_NIL),
            wg: AtomicUsize::new(PD_NIL),
            info: AtomicU32::new(0),
            lock: Mutex::new(Locked {
                closing: false,
                rd: 0,
                wd: 0,
            }),
            deadline_lock: Mutex::new(()),
            timers: [OnceLock::new(), OnceLock::new()],
        }))
    });
    {
        let mut l = lock(&pd.lock);
        *l = Locked {
            closing: false,
            rd: 0,
            wd: 0,
        };
        pd.fd.store(fd, Ordering::Relaxed);
        // A stale event may have left PD_READY: it belonged to the previous user.
        pd.rg.store(PD_NIL, Ordering::Relaxed);
        pd.wg.store(PD_NIL, Ordering::Relaxed);
        pd.publish(&l);
    }
    let addr = pd as *const PollDesc as u64;
    if addr >> (TAG_SHIFT - 1) != 0 {
        super::throw(&["netpoll: a poll descriptor above the tagged-pointer range"]);
    }
    let tag = pd.fdseq.load(Ordering::Acquire) & 0xffff;
    if let Err(e) = netpollopen(fd, addr | tag << TAG_SHIFT) {
        pd.free();
        return Err(e);
    }
    Ok(pd)
}

/// Starts loading the poll descriptor tagged `data` (an epoll user word) into the cache, so
/// that the misses of a batch of events overlap instead of stalling [`netpollready`] one by
/// one (10,000 descriptors do not fit in a cache). A hint: it reads nothing and never faults.
pub(crate) fn prefetch_pd(data: u64) {
    prefetch((data & ((1 << TAG_SHIFT) - 1)) as usize);
}

/// The readiness of the descriptor tagged `data` (an epoll user word) changed: readies its
/// waiters into `list` (Go's `netpollready`).
pub(crate) fn netpollready(list: &mut GList, data: u64, read: bool, write: bool) {
    let addr = data & ((1 << TAG_SHIFT) - 1);
    // SAFETY: every user word registered is a poll descriptor's address, and descriptors are
    // never freed; the tag below tells whether it still has the registering user.
    let pd = unsafe { &*(addr as *const PollDesc) };
    if pd.fdseq.load(Ordering::Acquire) & 0xffff != data >> TAG_SHIFT {
        return; // a previous user's event
    }
    for (on, gpp) in [(read, &pd.rg), (write, &pd.wg)] {
        if on && let Some(gp) = netpollunblock(gpp, true) {
            prefetch(gp as usize);
            list.push(gp);
        }
    }
}

/// Takes the waiter out of `gpp`, leaving `PD_READY` if `ioready` (Go's `netpollunblock`).
fn netpollunblock(gpp: &AtomicUsize, ioready: bool) -> Option<*mut G> {
    loop {
        let old = gpp.load(Ordering::Acquire);
        if old == PD_READY || (old == PD_NIL && !ioready) {
            return None;
        }
        let new = if ioready { PD_READY } else { PD_NIL };
        if gpp
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if old <= PD_WAIT {
                // PD_WAIT: the goroutine has not committed to sleep; it sees the new state.
                return None;
            }
            WAITERS.fetch_sub(1, Ordering::AcqRel);
            return Some(old as *mut G);
        }
    }
}

impl PollDesc {
    /// The registered descriptor.
    pub(crate) fn fd(&self) -> i32 {
        self.fd.load(Ordering::Relaxed)
    }

    fn slot(&self, mode: Mode) -> &AtomicUsize {
        match mode {
            Mode::Read => &self.rg,
            Mode::Write => &self.wg,
        }
    }

    fn publish(&self, l: &Locked) {
        let mut info = 0;
        if l.closing {
            info |= CLOSING;
        }
        if l.rd < 0 {
            info |= RD_EXPIRED;
        }
        if l.wd < 0 {
            info |= WD_EXPIRED;
        }
        self.info.store(info, Ordering::Release);
    }

    /// Whether `mode` can be waited for (Go's `netpollcheckerr`).
    pub(crate) fn check(&self, mode: Mode) -> Result<(), PollError> {
        let info = self.info.load(Ordering::Acquire);
        if info & CLOSING != 0 {
            return Err(PollError::Closing);
        }
        let expired = match mode {
            Mode::Read => RD_EXPIRED,
            Mode::Write => WD_EXPIRED,
        };
        if info & expired != 0 {
            return Err(PollError::Timeout);
        }
        Ok(())
    }

    /// Waits until `mode` may be ready: an event since the last wait, or one now (Go's
    /// `poll_runtime_pollWait`). A goroutine parks; a plain thread blocks in `poll(2)`.
    /// Readiness may be spurious: the caller retries its call and waits again on `EAGAIN`.
    /// At most one goroutine waits per direction (the caller serializes them).
    pub(crate) fn wait(&self, mode: Mode) -> Result<(), PollError> {
        self.check(mode)?;
        match current_g() {
            Some(gp) => {
                if self.netpollblock(gp, mode) {
                    Ok(())
                } else {
                    self.check(mode)
                }
            }
            None => self.wait_thread(mode),
        }
    }

    /// Go's `netpollblock`: true if ready, false if woken by a timeout or close.
    fn netpollblock(&self, gp: *mut G, mode: Mode) -> bool {
        let gpp = self.slot(mode);
        loop {
            if gpp
                .compare_exchange(PD_READY, PD_NIL, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
            match gpp.compare_exchange(PD_NIL, PD_WAIT, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(PD_READY) => continue,
                Err(_) => super::throw(&["netpollblock: double wait"]),
            }
        }
        // Closing and deadlines store their state, then look at `gpp`; we stored PD_WAIT,
        // now look at their state: one of us sees the other.
        if self.check(mode).is_ok() {
            let slot = gpp as *const AtomicUsize as usize;
            gopark(WaitReason::IoWait, move || {
                // SAFETY: poll descriptors are never freed.
                let gpp = unsafe { &*(slot as *const AtomicUsize) };
                // Counted before the CAS publishes the G: whoever takes it uncounts it.
                WAITERS.fetch_add(1, Ordering::AcqRel);
                let parked = gpp
                    .compare_exchange(PD_WAIT, gp as usize, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if !parked {
                    WAITERS.fetch_sub(1, Ordering::AcqRel);
                }
                parked
            });
        }
        let old = gpp.swap(PD_NIL, Ordering::AcqRel);
        if old > PD_WAIT {
            super::throw(&["netpollblock: corrupted state"]);
        }
        old == PD_READY
    }

    /// A plain thread's wait: `poll(2)` on the descriptor, in slices of at most 100 ms so a
    /// close or a new deadline is seen.
    fn wait_thread(&self, mode: Mode) -> Result<(), PollError> {
        use linux_raw_sys::general::{POLLIN, POLLOUT, POLLRDHUP};
        const SLICE: u64 = 100_000_000;
        let events = match mode {
            Mode::Read => POLLIN | POLLRDHUP,
            Mode::Write => POLLOUT,
        };
        loop {
            self.check(mode)?;
            let now = nanotime();
            let deadline = {
                let l = lock(&self.lock);
                match mode {
                    Mode::Read => l.rd,
                    Mode::Write => l.wd,
                }
            };
            let mut slice = SLICE;
            if deadline > 0 {
                let left = (deadline as u64).saturating_sub(now);
                if left == 0 {
                    return Err(PollError::Timeout);
                }
                slice = slice.min(left);
            }
            let d = core::time::Duration::from_nanos(slice);
            if super::sys::poll1(self.fd(), events as i16, d).unwrap_or(true) {
                return Ok(());
            }
        }
    }

    /// Sets the deadline of `mode` to `after` from now (`None` clears it). A deadline that has
    /// passed (zero) fails the current and later waits at once (Go's
    /// `poll_runtime_pollSetDeadline`).
    pub(crate) fn set_deadline(&'static self, mode: Mode, after: Option<core::time::Duration>) {
        let _dl = lock(&self.deadline_lock);
        let now = nanotime();
        let (d, gp) = {
            let mut l = lock(&self.lock);
            if l.closing {
                return;
            }
            let d = match after {
                None => 0,
                Some(a) if a.is_zero() => -1,
                Some(a) => now
                    .saturating_add(a.as_nanos().min(i64::MAX as u128) as u64)
                    .min(i64::MAX as u64) as i64,
            };
            match mode {
                Mode::Read => l.rd = d,
                Mode::Write => l.wd = d,
            }
            self.publish(&l);
            let gp = if d < 0 {
                netpollunblock(self.slot(mode), false)
            } else {
                None
            };
            (d, gp)
        };
        let i = mode as usize;
        if d > 0 {
            let t = self.timers[i].get_or_init(|| {
                Timer::new(Box::new(move |_due| {
                    self.deadline_passed(mode);
                    true
                }))
            });
            t.reset(d as u64 - now, 0, || ());
        } else if let Some(t) = self.timers[i].get() {
            t.stop(|| ());
        }
        drop(_dl);
        ready(gp);
    }

    /// A deadline timer fired: if the deadline it was armed for still stands, mark it passed
    /// and wake the waiter (Go's `netpolldeadlineimpl`). Runs under the timer's lock.
    fn deadline_passed(&self, mode: Mode) {
        let gp = {
            let mut l = lock(&self.lock);
            let closing = l.closing;
            let d = match mode {
                Mode::Read => &mut l.rd,
                Mode::Write => &mut l.wd,
            };
            // A later deadline set meanwhile (its timer is re-armed after us), or none.
            if closing || *d <= 0 || *d as u64 > nanotime() {
                return;
            }
            *d = -1;
            self.publish(&l);
            netpollunblock(self.slot(mode), false)
        };
        ready(gp);
    }

    /// Marks the descriptor closing and wakes both waiters with [`PollError::Closing`]; every
    /// later wait fails the same way (Go's `poll_runtime_pollUnblock`).
    pub(crate) fn unblock(&self) {
        let _dl = lock(&self.deadline_lock);
        let (rg, wg) = {
            let mut l = lock(&self.lock);
            if l.closing {
                return;
            }
            l.closing = true;
            self.publish(&l);
            (
                netpollunblock(&self.rg, false),
                netpollunblock(&self.wg, false),
            )
        };
        for t in self.timers.iter().filter_map(OnceLock::get) {
            t.stop(|| ());
        }
        drop(_dl);
        ready(rg);
        ready(wg);
    }

    /// Unregisters the descriptor and returns this to the cache (Go's `poll_runtime_pollClose`).
    /// Call after [`unblock`](Self::unblock), with no waiter left, before closing the fd.
    pub(crate) fn close(&'static self) {
        let l = lock(&self.lock);
        let busy = |g: &AtomicUsize| g.load(Ordering::Acquire) > PD_READY;
        if !l.closing || busy(&self.rg) || busy(&self.wg) {
            super::throw(&["netpoll: close of a poll descriptor in use"]);
        }
        drop(l);
        netpollclose(self.fd());
        self.free();
    }

    fn free(&'static self) {
        self.fd.store(-1, Ordering::Relaxed);
        // Events tagged with the old sequence are dropped from here on.
        self.fdseq.fetch_add(1, Ordering::AcqRel);
        lock(&CACHE).push(self);
    }
}

/// Readies a goroutine taken from a poll descriptor.
fn ready(gp: Option<*mut G>) {
    if let Some(gp) = gp {
        // SAFETY: taken out of its semaphore by `netpollunblock`, so it is parked (its commit
        // CAS published it) and we are its one waker.
        unsafe { goready(gp) };
    }
}

/// A list of goroutines readied by a poll, linked through `schedlink` (Go's `gList`).
pub(crate) struct GList {
    head: *mut G,
    pub(crate) len: usize,
}

impl GList {
    pub(crate) fn new() -> GList {
        GList {
            head: core::ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, gp: *mut G) {
        // SAFETY: a parked G taken from its semaphore: its link is ours until it is queued.
        unsafe { *(*gp).schedlink.get() = self.head };
        self.head = gp;
        self.len += 1;
    }

    /// Starts loading the tops of the stacks of the `n` goroutines pushed last, which will
    /// run soon: as with the timers' sleepers, the misses of a batch then overlap.
    pub(crate) fn prefetch_stacks(&self, n: usize) {
        let mut gp = self.head;
        for _ in 0..n {
            if gp.is_null() {
                break;
            }
            // SAFETY: the list's Gs are parked and taken from their semaphores: ours until
            // queued, so their saved stack pointer and link are ours to read.
            unsafe {
                prefetch((*gp).owned().sp);
                gp = *(*gp).schedlink.get();
            }
        }
    }

    pub(crate) fn pop(&mut self) -> Option<*mut G> {
        let gp = self.head;
        if gp.is_null() {
            return None;
        }
        // SAFETY: as in `push`.
        self.head = unsafe { *(*gp).schedlink.get() };
        self.len -= 1;
        Some(gp)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn pipe() -> [i32; 2] {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) },
            0
        );
        fds
    }

    fn word(pd: &PollDesc) -> u64 {
        pd as *const PollDesc as u64 | (pd.fdseq.load(Ordering::Acquire) & 0xffff) << TAG_SHIFT
    }

    /// An event tagged for a poll descriptor's previous user (its memory reused for another
    /// descriptor) is dropped; one for the current user marks it ready.
    #[test]
    fn stale_events_are_dropped() {
        let (a, b) = (pipe(), pipe());
        let pd = poll_open(a[0]).unwrap();
        let old = word(pd);
        pd.unblock();
        pd.close();
        let pd2 = poll_open(b[0]).unwrap();
        let mut list = GList::new();
        netpollready(&mut list, old, true, true);
        if core::ptr::eq(pd, pd2) {
            assert_eq!(
                pd2.rg.load(Ordering::Acquire),
                PD_NIL,
                "a stale event was taken"
            );
        }
        netpollready(&mut list, word(pd2), true, false);
        assert_eq!(pd2.rg.load(Ordering::Acquire), PD_READY);
        assert_eq!(pd2.wg.load(Ordering::Acquire), PD_NIL);
        assert_eq!(list.len, 0);
        // A closed descriptor's waits fail; a passed deadline fails them too.
        pd2.set_deadline(Mode::Write, Some(core::time::Duration::ZERO));
        assert_eq!(pd2.check(Mode::Write), Err(PollError::Timeout));
        assert_eq!(pd2.check(Mode::Read), Ok(()));
        pd2.unblock();
        assert_eq!(pd2.check(Mode::Read), Err(PollError::Closing));
        pd2.close();
        for fd in a.into_iter().chain(b) {
            // SAFETY: the test's own descriptors, closed once.
            unsafe { libc::close(fd) };
        }
    }
}
