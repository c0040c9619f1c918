//! The epoll half of the network poller (Go's `netpoll_epoll.go`).
//!
//! Every pollable descriptor is registered once, edge-triggered, in one epoll set for the
//! process ([`epfd`]), as Go does. A process may run several runtimes, and each needs its own
//! way to cut a blocking poll short (Go's `netpollBreak`): an eventfd per runtime, its
//! [`Wake`]. Two ways to block, chosen per runtime:
//!
//! - **Alone**: while a runtime is the only one using the poller, its Ms block in the process
//!   set itself, which also holds its eventfd (edge-triggered, tagged [`BREAK_TAG`]). A
//!   wake-up is then one epoll callback, and one `epoll_wait` both blocks and harvests.
//! - **Nested**: otherwise each runtime blocks through a set of its own, [`Poller::wait_fd`],
//!   holding its eventfd and the process set (level-triggered: readable while events are
//!   pending), so a break wakes only its own runtime. The kernel then runs a second callback
//!   for every event (one per nested set), and a wake-up takes a second `epoll_wait` to
//!   harvest. At 100 connections the echo server spent ~4% more CPU per round trip so.
//!
//! The first runtime to start while none uses the poller is alone; a second one makes it
//! nested ([`Poller::new`]), and runtimes started while any is nested are nested, until all
//! have shut down. At most one M in the process ever blocks in the process set: only the
//! alone runtime's Ms may, one at a time (`lastpoll`), and a runtime stops being alone only
//! after its M has left ([`evict`]). That matters because epoll wakes its waiters
//! exclusively: with several, a break could wake the wrong one. Whoever harvests events of
//! the process set without being that M (a poll that does not block, sysmon) may harvest the
//! alone runtime's break: it writes the eventfd again if that runtime's M blocks in the set
//! ([`Wake::direct`]), which wakes it (the set's only waiter); if none blocks, the M that next
//! would sees the break pending ([`Wake::sig`]) and does not block (see [`Poller::wait`]).
//!
//! The kernel counts each nested set as a wakeup path of every descriptor in the process set,
//! checked on each `EPOLL_CTL_ADD` to it (and on nesting it in a new runtime's), and past 500
//! refuses the add with `EINVAL`: at most 500 runtimes can use the poller at once. A runtime
//! shutting down leaves ([`Poller::leave`]), as it may stay allocated for good (goroutines
//! left parked), and once its last M has exited it gives its descriptors up
//! ([`Poller::release`]): its own set is closed, its eventfd goes to later runtimes.

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use core::time::Duration;
use std::sync::{Mutex, MutexGuard};

use linux_raw_sys::general::{
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP,
    epoll_event,
};

use super::netpoll::{GList, netpollready, prefetch_pd};
use super::sys;
use crate::linux::errno::Errno;

/// What every descriptor is registered for: both directions, peer shutdown, edge-triggered.
const EVENTS: u32 = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
/// Events one poll harvests at most (Go's 128).
pub(crate) const BATCH: usize = 128;
/// The user words of a runtime's own set (nested blocking).
const BREAK: u64 = 0;
const SHARED: u64 = 1;

/// The process's epoll set (Go's `epfd`), made at first use. A failure (no descriptors left)
/// is returned and tried again next time.
pub(crate) fn epfd() -> Result<i32, Errno> {
    static EPFD: AtomicI32 = AtomicI32::new(-1);
    let fd = EPFD.load(Ordering::Acquire);
    if fd >= 0 {
        return Ok(fd);
    }
    let new = sys::epoll_create()?;
    match EPFD.compare_exchange(-1, new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(new),
        Err(won) => {
            sys::close(new);
            Ok(won)
        }
    }
}

/// Registers `fd` with the user word `data` (a tagged poll descriptor; Go's `netpollopen`).
pub(crate) fn netpollopen(fd: i32, data: u64) -> Result<(), Errno> {
    sys::epoll_ctl(epfd()?, EPOLL_CTL_ADD, fd, EVENTS, data)
}

/// Removes `fd` from the set (Go's `netpollclose`). A descriptor already closed left the set
/// by itself; the error is then of no interest.
pub(crate) fn netpollclose(fd: i32) {
    if let Ok(ep) = epfd() {
        let _ = sys::epoll_ctl(ep, EPOLL_CTL_DEL, fd, 0, 0);
    }
}

/// Polls the process set without blocking, readying the goroutines whose descriptors are
/// ready into `list` (Go's `netpoll(0)`). Returns how many events it saw.
pub(crate) fn netpoll_now(list: &mut GList) -> usize {
    let Ok(ep) = epfd() else { return 0 };
    let mut events = [epoll_event { events: 0, data: 0 }; BATCH];
    let n = sys::epoll_wait(ep, &mut events, Some(Duration::ZERO)).unwrap_or(0);
    harvest(&events[..n], list, None);
    n
}

/// Handles events of the process set: readies the goroutines of ready descriptors into
/// `list`, takes a break of `own` (the caller's [`Wake`], if it blocked in the set) and
/// passes any other runtime's break on to its M blocked in the set.
fn harvest(events: &[epoll_event], list: &mut GList, own: Option<&Wake>) {
    // With thousands of connections the poll descriptors of a batch are cold: start loading
    // them all before taking the first (see `netpoll::prefetch_pd`).
    events
        .iter()
        .filter(|ev| ev.data & BREAK_TAG == 0)
        .for_each(|ev| prefetch_pd(ev.data));
    let first = list.len;
    for ev in events {
        let (bits, data) = (ev.events, ev.data);
        if data & BREAK_TAG != 0 {
            // SAFETY: a tagged word is a `Wake`'s address, and wakes are never freed.
            let w = unsafe { &*((data & !BREAK_TAG) as *const Wake) };
            match own {
                Some(own) if core::ptr::eq(own, w) => own.take(),
                // Its M blocks in the set and this edge was meant for it: make another.
                // Otherwise its M sees `sig` before it blocks (see `Poller::wait`).
                _ if w.direct.load(Ordering::SeqCst) => w.kick(),
                _ => {}
            }
            continue;
        }
        let read = bits & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) != 0;
        let write = bits & (EPOLLOUT | EPOLLHUP | EPOLLERR) != 0;
        netpollready(list, data, read, write);
    }
    list.prefetch_stacks(list.len - first);
}

/// Marks a process-set user word as a runtime's [`Wake`] rather than a poll descriptor (whose
/// addresses, like a `Wake`'s, are aligned, so bit 0 is free).
const BREAK_TAG: u64 = 1;

/// A runtime's break eventfd and its state. Never freed (a harvested event may name it after
/// its runtime has gone) and never closed: kept in [`WAKES`] for later runtimes, so a late
/// write reaches at worst another runtime as a spurious wake-up.
struct Wake {
    /// The eventfd.
    fd: i32,
    /// A break is pending: further ones need no write (Go's `netpollWakeSig`). Set by the
    /// breaker before it writes, cleared by the runtime's poller M when it takes the break.
    sig: AtomicBool,
    /// The runtime is alone (see the module doc): its eventfd is in the process set and its
    /// Ms may block there. Changed under [`MEMBERS`]' lock.
    alone: AtomicBool,
    /// An M of the runtime blocks in the process set, or is about to. Set and cleared by that
    /// M around its wait; read by harvesters and by [`evict`].
    direct: AtomicBool,
}

/// Wakes of runtimes that have gone, for reuse.
static WAKES: Mutex<Vec<&'static Wake>> = Mutex::new(Vec::new());

impl Wake {
    fn get() -> Result<&'static Wake, Errno> {
        if let Some(w) = lock(&WAKES).pop() {
            return Ok(w);
        }
        let fd = sys::eventfd()?;
        Ok(Box::leak(Box::new(Wake {
            fd,
            sig: AtomicBool::new(false),
            alone: AtomicBool::new(false),
            direct: AtomicBool::new(false),
        })))
    }

    /// Back to [`WAKES`], once its runtime's Ms have all ended.
    fn put(&'static self) {
        self.take();
        lock(&WAKES).push(self);
    }

    /// Writes the eventfd: wakes a poll blocked on it. EAGAIN only if the counter is near
    /// overflow: it is readable then anyway.
    fn kick(&self) {
        let _ = sys::write(self.fd, &1u64.to_ne_bytes());
    }

    /// Takes a break: drains the eventfd, and the next break writes it again.
    fn take(&self) {
        let _ = sys::read_u64(self.fd);
        self.sig.store(false, Ordering::SeqCst);
    }
}

/// The runtimes using the poller.
struct Members {
    /// The alone runtime's wait set and wake.
    alone: Option<(i32, &'static Wake)>,
    /// How many runtimes block through their own sets.
    nested: usize,
}

static MEMBERS: Mutex<Members> = Mutex::new(Members {
    alone: None,
    nested: 0,
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the alone runtime's blocking in the process set for good (under [`MEMBERS`]' lock):
/// clears `w.alone`, so no M of it blocks there again, then waits until the one that may be
/// blocked there now has left, writing its eventfd until then (a harvester may take an edge
/// first; it writes another, but this does not rely on that). The M needs nothing to leave: it
/// holds no P in the poller. Then takes the eventfd out of the set.
fn evict(ep: i32, w: &Wake) {
    w.alone.store(false, Ordering::SeqCst);
    while w.direct.load(Ordering::SeqCst) {
        w.kick();
        let _ = sys::nanosleep(Duration::from_micros(50));
    }
    let _ = sys::epoll_ctl(ep, EPOLL_CTL_DEL, w.fd, 0, 0);
}

/// A runtime's way into the poller: its wake, and its own epoll set for nested blocking.
pub(crate) struct Poller {
    wait_fd: i32,
    wake: &'static Wake,
    /// [`leave`](Self::leave) has run.
    left: AtomicBool,
    /// [`release`](Self::release) has run: `wait_fd` is closed, `wake` no longer ours.
    released: AtomicBool,
}

impl Poller {
    pub(crate) fn new() -> Result<Poller, Errno> {
        let ep = epfd()?;
        let wake = Wake::get()?;
        let wait_fd = match sys::epoll_create() {
            Ok(fd) => fd,
            Err(e) => {
                wake.put();
                return Err(e);
            }
        };
        let joined = sys::epoll_ctl(wait_fd, EPOLL_CTL_ADD, wake.fd, EPOLLIN, BREAK)
            .and_then(|()| Self::join(ep, wait_fd, wake));
        if let Err(e) = joined {
            sys::close(wait_fd);
            wake.put();
            return Err(e);
        }
        Ok(Poller {
            wait_fd,
            wake,
            left: AtomicBool::new(false),
            released: AtomicBool::new(false),
        })
    }

    /// Joins the poller's users: alone if there are none, else nested, after making the
    /// alone runtime, if any, nested.
    fn join(ep: i32, wait_fd: i32, wake: &'static Wake) -> Result<(), Errno> {
        let mut m = lock(&MEMBERS);
        if m.alone.is_none() && m.nested == 0 {
            let tagged = wake as *const Wake as u64 | BREAK_TAG;
            sys::epoll_ctl(ep, EPOLL_CTL_ADD, wake.fd, EPOLLIN | EPOLLET, tagged)?;
            wake.alone.store(true, Ordering::SeqCst);
            m.alone = Some((wait_fd, wake));
            return Ok(());
        }
        if let Some((fd, w)) = m.alone {
            // Nest first: once `alone` is clear, its Ms block in their own set.
            sys::epoll_ctl(fd, EPOLL_CTL_ADD, ep, EPOLLIN, SHARED)?;
            evict(ep, w);
            m.alone = None;
            m.nested += 1;
        }
        sys::epoll_ctl(wait_fd, EPOLL_CTL_ADD, ep, EPOLLIN, SHARED)?;
        m.nested += 1;
        Ok(())
    }

    /// Wakes the M blocked in [`wait`](Self::wait), now or at its next wait (Go's
    /// `netpollBreak`).
    pub(crate) fn netpoll_break(&self) {
        if !self.wake.sig.swap(true, Ordering::SeqCst) {
            self.wake.kick();
        }
    }

    /// Leaves the poller's users, for good: called at shutdown, after which no M blocks here
    /// for I/O (a break still wakes one, through the runtime's own set). The descriptors stay
    /// open until [`release`](Self::release), so a late
    /// [`netpoll_break`](Self::netpoll_break) writes to our own eventfd.
    pub(crate) fn leave(&self) {
        if self.left.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(ep) = epfd() else { return };
        let mut m = lock(&MEMBERS);
        match m.alone {
            Some((_, w)) if core::ptr::eq(w, self.wake) => {
                evict(ep, w);
                m.alone = None;
            }
            _ => {
                let _ = sys::epoll_ctl(self.wait_fd, EPOLL_CTL_DEL, ep, 0, 0);
                m.nested -= 1;
            }
        }
    }

    /// Blocks until a descriptor is ready, a break, or `delay` has passed (`None`: no limit),
    /// readying the goroutines of ready descriptors into `list` (Go's `netpoll(delay)`). At
    /// most one M of the runtime waits here at a time.
    pub(crate) fn wait(&self, delay: Option<Duration>, list: &mut GList) {
        let w = self.wake;
        // Announce the wait, then look at `alone` and `sig`: `evict` and a harvester that
        // takes our break edge write `alone` / see the break pending, then look at `direct`.
        // One of each pair sees the other.
        w.direct.store(true, Ordering::SeqCst);
        if w.alone.load(Ordering::SeqCst) {
            if w.sig.load(Ordering::SeqCst) {
                w.direct.store(false, Ordering::SeqCst);
                w.take();
                return;
            }
            let mut events = [epoll_event { events: 0, data: 0 }; BATCH];
            // EINTR (a signal) counts as a wake-up: the caller looks for work and comes back.
            let n = epfd()
                .and_then(|ep| sys::epoll_wait(ep, &mut events, delay))
                .unwrap_or(0);
            w.direct.store(false, Ordering::SeqCst);
            harvest(&events[..n], list, Some(w));
            return;
        }
        w.direct.store(false, Ordering::SeqCst);
        let mut events = [epoll_event { events: 0, data: 0 }; 2];
        let n = sys::epoll_wait(self.wait_fd, &mut events, delay).unwrap_or(0);
        for ev in &events[..n] {
            if ev.data == BREAK {
                w.take();
            } else {
                netpoll_now(list);
            }
        }
    }
}

impl Poller {
    /// Gives the runtime's descriptors up: closes its own set and puts its wake back in
    /// [`WAKES`] for later runtimes, having left the poller's users. Called when the runtime
    /// has ended (its last M has exited at shutdown), or when it is freed, whichever comes
    /// first; once only.
    ///
    /// Sound because nobody uses them any more: only the runtime's Ms block in `wait` (so
    /// touch `wait_fd`, `direct` and drain the eventfd), `leave` has taken the runtime out of
    /// [`MEMBERS`] (so no other runtime's `join` or `evict` names them), and the only other
    /// writer, [`netpoll_break`](Self::netpoll_break), is called by the runtime's own Ms and
    /// goroutines and by its shutdown, all done by then. A break that came late anyway would
    /// write the eventfd, which stays open with its next owner: at worst a spurious wake-up
    /// there, as for any reused wake. A parked goroutine readied later by another thread
    /// only goes on a run queue nobody runs (`startm` starts no M at shutdown).
    pub(crate) fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        self.leave();
        sys::close(self.wait_fd);
        self.wake.put();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn event(w: &Wake) -> epoll_event {
        epoll_event {
            events: EPOLLIN,
            data: w as *const Wake as u64 | BREAK_TAG,
        }
    }

    /// A break harvested by someone else than its runtime's M is written again only while
    /// that M blocks in the process set (else the M sees it pending before it blocks); the
    /// M's own harvest takes it.
    #[test]
    fn harvested_breaks_reach_their_runtime() {
        let w = Wake::get().unwrap();
        let other = Wake::get().unwrap();
        let mut list = GList::new();
        w.sig.store(true, Ordering::SeqCst);
        w.kick();
        assert_eq!(sys::read_u64(w.fd), Ok(1));
        // Nobody blocks: nothing written, the break stays pending.
        harvest(&[event(w)], &mut list, Some(other));
        assert_eq!(sys::read_u64(w.fd), Err(Errno::EAGAIN));
        assert!(w.sig.load(Ordering::SeqCst));
        // Its M blocks in the set: a new edge for it, from a poll that does not block or
        // from another runtime's M.
        w.direct.store(true, Ordering::SeqCst);
        harvest(&[event(w)], &mut list, None);
        harvest(&[event(w)], &mut list, Some(other));
        assert_eq!(sys::read_u64(w.fd), Ok(2));
        // Its own M takes it: drained, no longer pending.
        w.kick();
        harvest(&[event(w)], &mut list, Some(w));
        assert_eq!(sys::read_u64(w.fd), Err(Errno::EAGAIN));
        assert!(!w.sig.load(Ordering::SeqCst));
        assert_eq!(list.len, 0);
        w.direct.store(false, Ordering::SeqCst);
        w.put();
        other.put();
    }
}
