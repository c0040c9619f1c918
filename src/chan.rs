//! Go's channel: a bounded FIFO between goroutines (or threads), a rendezvous when its
//! capacity is 0, closable.
//!
//! Semantics, Go's except where Rust's ownership gives a better answer:
//! - `send` blocks while the buffer is full (or, unbuffered, until a receiver takes the value);
//!   on a closed channel it returns the value in `Err` (Go panics).
//! - `recv` blocks while the buffer is empty; after close it drains the buffer, then returns
//!   `None`.
//! - Dropping the last `Sender` closes the channel; dropping the last `Receiver` makes every
//!   send fail, so a sender is never left blocked forever.
//!
//! Waiters wait in FIFO order. A value handed to a waiting receiver is written straight into
//! its slot, as Go's `sudog.elem` is.

use core::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::runtime::g::WaitReason;
use crate::runtime::park::{NodeRef, WaitGuard, WaitLock, WaitNode};

/// Creates a channel with room for `cap` values (0: unbuffered).
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let (tx, rx) = goro::chan(1);
///     tx.send("buffered").unwrap(); // room for one: does not block
///     assert_eq!(rx.recv(), Some("buffered"));
///     tx.close();
///     assert_eq!(rx.recv(), None);
///     assert!(tx.send("late").is_err());
/// });
/// ```
pub fn chan<T: Send>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(Chan {
        cap,
        state: WaitLock::new(State {
            buf: VecDeque::with_capacity(cap.min(1024)),
            closed: false,
            recvq: VecDeque::new(),
            sendq: VecDeque::new(),
            senders: 1,
            receivers: 1,
        }),
    });
    (Sender { c: c.clone() }, Receiver { c })
}

struct Chan<T> {
    cap: usize,
    state: WaitLock<State<T>>,
}

struct State<T> {
    buf: VecDeque<T>,
    closed: bool,
    recvq: VecDeque<*const Waiter<T>>,
    sendq: VecDeque<*const Waiter<T>>,
    senders: usize,
    receivers: usize,
}

/// A blocked sender's value, or a blocked receiver's empty slot; on the waiter's stack.
struct Waiter<T> {
    node: WaitNode,
    slot: UnsafeCell<Option<T>>,
}

// SAFETY: the queued pointers are to waiters parked on their own stacks; a waiter's slot is
// touched only under the channel lock, or by the waiter after it is woken. Values of `T` move
// between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    fn lock(&self) -> WaitGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Wakes every waiter: they find the slot as they left it (a sender its value, a receiver
    /// nothing).
    fn wake_all(mut st: WaitGuard<'_, State<T>>, senders_only: bool) {
        let mut woken: Vec<NodeRef> = st
            .sendq
            .drain(..)
            .map(|w| {
                // SAFETY: a queued waiter is parked and alive.
                unsafe { (*w).node.as_ref() }
            })
            .collect();
        if !senders_only {
            // SAFETY: as above.
            woken.extend(st.recvq.drain(..).map(|w| unsafe { (*w).node.as_ref() }));
        }
        drop(st);
        for n in woken {
            // SAFETY: taken out of the queues under the lock: we are the one waker.
            unsafe { WaitNode::wake(n) };
        }
    }
}

/// The sending half; clone it to send from several goroutines.
pub struct Sender<T> {
    c: Arc<Chan<T>>,
}

/// The receiving half; clone it to receive in several goroutines.
pub struct Receiver<T> {
    c: Arc<Chan<T>>,
}

/// A send on a closed channel (or one with no receiver left); the value comes back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("send on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T: Send> Sender<T> {
    /// Sends `v` if that needs no waiting: to a waiting receiver or into the buffer. Returns
    /// whether it did (for timers, which fire where nothing may block).
    pub(crate) fn offer(&self, v: T) -> Offer {
        let mut st = self.c.lock();
        if st.closed || st.receivers == 0 {
            return Offer::Closed;
        }
        if let Some(r) = st.recvq.pop_front() {
            // SAFETY: a queued receiver is parked; its slot is ours to fill under the lock.
            let node = unsafe {
                *(*r).slot.get() = Some(v);
                (*r).node.as_ref()
            };
            drop(st);
            // SAFETY: taken out of the queue under the lock.
            unsafe { WaitNode::wake(node) };
            return Offer::Sent;
        }
        if st.buf.len() < self.c.cap {
            st.buf.push_back(v);
            return Offer::Sent;
        }
        Offer::Full
    }

    /// Sends `v`, blocking the goroutine while the channel is full.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        let c = &*self.c;
        let mut st = c.lock();
        if st.closed || st.receivers == 0 {
            return Err(SendError(v));
        }
        if let Some(r) = st.recvq.pop_front() {
            // SAFETY: a queued receiver is parked; its slot is ours to fill under the lock.
            let node = unsafe {
                *(*r).slot.get() = Some(v);
                (*r).node.as_ref()
            };
            drop(st);
            // SAFETY: taken out of the queue under the lock.
            unsafe { WaitNode::wake(node) };
            return Ok(());
        }
        if st.buf.len() < c.cap {
            st.buf.push_back(v);
            return Ok(());
        }
        let me = Waiter {
            node: WaitNode::new(),
            slot: UnsafeCell::new(Some(v)),
        };
        st.sendq.push_back(&me);
        me.node.park(st, WaitReason::ChanSend);
        // A receiver took the value, or close left it for us to return.
        match me.slot.into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }

    /// Closes the channel: receivers drain what is buffered, then get `None`; blocked and
    /// later sends fail.
    pub fn close(&self) {
        let mut st = self.c.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        Chan::wake_all(st, false);
    }
}

/// What [`Sender::offer`] did.
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Offer {
    Sent,
    Full,
    Closed,
}

impl<T: Send> Receiver<T> {
    /// Empties the buffer (a timer's channel, as the timer is stopped or reset).
    pub(crate) fn drain(&self) {
        self.c.lock().buf.clear();
    }

    /// Receives a value, blocking the goroutine while the channel is empty; `None` once it is
    /// closed and drained.
    pub fn recv(&self) -> Option<T> {
        let mut st = self.c.lock();
        if let Some(v) = st.buf.pop_front() {
            // Room now: move a blocked sender's value into the buffer.
            if let Some(s) = st.sendq.pop_front() {
                // SAFETY: a queued sender is parked; its value is ours to take under the lock.
                let (sv, node) = unsafe { ((*(*s).slot.get()).take(), (*s).node.as_ref()) };
                st.buf.extend(sv);
                drop(st);
                // SAFETY: taken out of the queue under the lock.
                unsafe { WaitNode::wake(node) };
            }
            return Some(v);
        }
        if let Some(s) = st.sendq.pop_front() {
            // Unbuffered: take the value straight from the sender.
            // SAFETY: as above.
            let (v, node) = unsafe { ((*(*s).slot.get()).take(), (*s).node.as_ref()) };
            drop(st);
            // SAFETY: as above.
            unsafe { WaitNode::wake(node) };
            return v;
        }
        if st.closed || st.senders == 0 {
            return None;
        }
        let me = Waiter {
            node: WaitNode::new(),
            slot: UnsafeCell::new(None),
        };
        st.recvq.push_back(&me);
        me.node.park(st, WaitReason::ChanReceive);
        me.slot.into_inner()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.c.lock().senders += 1;
        Sender { c: self.c.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.c.lock().receivers += 1;
        Receiver { c: self.c.clone() }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender closes the channel.
    fn drop(&mut self) {
        let mut st = self.c.lock();
        st.senders -= 1;
        if st.senders == 0 && !st.closed {
            st.closed = true;
            Chan::wake_all(st, false);
        }
    }
}

impl<T> Drop for Receiver<T> {
    /// With the last receiver gone, blocked senders get their values back.
    fn drop(&mut self) {
        let mut st = self.c.lock();
        st.receivers -= 1;
        if st.receivers == 0 {
            Chan::wake_all(st, true);
        }
    }
}

impl<T: Send> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = Iter<T>;
    /// Receives until the channel is closed and drained.
    fn into_iter(self) -> Iter<T> {
        Iter { rx: self }
    }
}

/// The values of a [`Receiver`], until the channel is closed and drained.
pub struct Iter<T> {
    rx: Receiver<T>,
}

impl<T: Send> Iterator for Iter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}
