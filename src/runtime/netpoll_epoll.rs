//! The epoll half of the network poller (Go's `netpoll_epoll.go`).
//!
//! Every pollable descriptor is registered once, edge-triggered, in one epoll set for the
//! process ([`epfd`]), as Go does. A runtime blocks in the poller through a set of its own,
//! [`Poller::wait_fd`], which holds two entries: the process set (level-triggered: it is
//! readable while events are pending) and the runtime's eventfd (Go's `netpollBreakRd`), which
//! [`Poller::netpoll_break`] writes to cut a blocking poll short. A process may run several
//! runtimes; each can block in its own set, a break wakes only its own, and whichever runtime
//! harvests an event readies the goroutine into that goroutine's runtime.
//!
//! The kernel counts each set holding the process set as a wakeup path of every descriptor
//! in it, checked on each `EPOLL_CTL_ADD` to the process set (and on adding the process set
//! to a new runtime's), and past 500 refuses the add with `EINVAL`: at most 500 runtimes can
//! use the poller at once. A runtime shutting down takes its set out ([`Poller::leave`]), as
//! it may stay allocated, its descriptors open, for good.

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use core::time::Duration;

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
const BATCH: usize = 128;
/// The user words of a runtime's own set.
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
    // With thousands of connections the poll descriptors of a batch are cold: start loading
    // them all before taking the first (see `netpoll::prefetch_pd`).
    events[..n].iter().for_each(|ev| prefetch_pd(ev.data));
    let first = list.len;
    for ev in &events[..n] {
        let (bits, data) = (ev.events, ev.data);
        let read = bits & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) != 0;
        let write = bits & (EPOLLOUT | EPOLLHUP | EPOLLERR) != 0;
        netpollready(list, data, read, write);
    }
    list.prefetch_stacks(list.len - first);
    n
}

/// A runtime's way into the poller: its own epoll set and wake-up eventfd.
pub(crate) struct Poller {
    wait_fd: i32,
    break_fd: i32,
    /// A break is pending: further ones need no write (Go's `netpollWakeSig`).
    wake_sig: AtomicBool,
}

impl Poller {
    pub(crate) fn new() -> Result<Poller, Errno> {
        let mut p = Poller {
            wait_fd: sys::epoll_create()?,
            break_fd: -1,
            wake_sig: AtomicBool::new(false),
        };
        // Dropped (closing what was made) on any error below.
        p.break_fd = sys::eventfd()?;
        sys::epoll_ctl(p.wait_fd, EPOLL_CTL_ADD, p.break_fd, EPOLLIN, BREAK)?;
        sys::epoll_ctl(p.wait_fd, EPOLL_CTL_ADD, epfd()?, EPOLLIN, SHARED)?;
        Ok(p)
    }

    /// Wakes the M blocked in [`wait`](Self::wait), now or at its next wait (Go's
    /// `netpollBreak`).
    pub(crate) fn netpoll_break(&self) {
        if self.wake_sig.swap(true, Ordering::AcqRel) {
            return;
        }
        // EAGAIN only if the counter is near overflow: it is readable then anyway.
        let _ = sys::write(self.break_fd, &1u64.to_ne_bytes());
    }

    /// Takes the process set out of this runtime's set, for good: called at shutdown, after
    /// which no M blocks here for I/O (a break still wakes one). The descriptors stay open,
    /// so a late [`netpoll_break`](Self::netpoll_break) writes to our own eventfd.
    pub(crate) fn leave(&self) {
        if let Ok(ep) = epfd() {
            let _ = sys::epoll_ctl(self.wait_fd, EPOLL_CTL_DEL, ep, 0, 0);
        }
    }

    /// Blocks until a descriptor is ready, a break, or `delay` has passed (`None`: no limit),
    /// readying the goroutines of ready descriptors into `list` (Go's `netpoll(delay)`).
    pub(crate) fn wait(&self, delay: Option<Duration>, list: &mut GList) {
        let mut events = [epoll_event { events: 0, data: 0 }; 2];
        // EINTR (a signal) counts as a wake-up: the caller looks for work and comes back.
        let n = sys::epoll_wait(self.wait_fd, &mut events, delay).unwrap_or(0);
        for ev in &events[..n] {
            if ev.data == BREAK {
                let _ = sys::read_u64(self.break_fd);
                self.wake_sig.store(false, Ordering::Release);
            } else {
                netpoll_now(list);
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        sys::close(self.wait_fd);
        if self.break_fd >= 0 {
            sys::close(self.break_fd);
        }
    }
}
