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
//! Besides the blocking `send`/`recv`: [`Sender::try_send`] and [`Receiver::try_recv`] never
//! block, `len`, `capacity`, `is_empty`, `is_full` and `is_closed` look, and [`select!`]
//! waits on several channel operations at once (Go's `select`).
//!
//! Waiters wait in FIFO order. A value handed to a waiting receiver is written straight into
//! its slot, as Go's `sudog.elem` is. A waiter may belong to a select, which queues one waiter
//! per case, all sharing one [`WaitNode`] and one `done` word: whoever takes such a waiter out
//! of a queue first claims the select with a compare-and-swap on `done` (Go's `selectDone`),
//! and skips the waiter if another case already won (see `select.rs`).
//!
//! [`select!`]: crate::select!

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};
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

pub(crate) struct Chan<T> {
    pub(crate) cap: usize,
    pub(crate) state: WaitLock<State<T>>,
}

pub(crate) struct State<T> {
    buf: VecDeque<T>,
    closed: bool,
    recvq: VecDeque<*const Waiter<T>>,
    sendq: VecDeque<*const Waiter<T>>,
    senders: usize,
    receivers: usize,
}

/// `done` of a select nobody has claimed yet.
pub(crate) const PENDING: usize = usize::MAX;

/// A blocked sender's value, or a blocked receiver's empty slot; on the waiter's stack (a
/// select's, in its case).
pub(crate) struct Waiter<T> {
    /// Woken by whoever takes (and, for a select, claims) the waiter.
    pub(crate) node: *const WaitNode,
    pub(crate) slot: UnsafeCell<Option<T>>,
    /// The select's `done` word, or null for a plain send or receive.
    pub(crate) sel: *const AtomicUsize,
    /// Which case of the select this waiter is.
    pub(crate) case: usize,
}

impl<T> Waiter<T> {
    pub(crate) fn new(node: *const WaitNode, slot: Option<T>) -> Waiter<T> {
        Waiter {
            node,
            slot: UnsafeCell::new(slot),
            sel: core::ptr::null(),
            case: 0,
        }
    }
}

/// Takes the first waiter of `q` that may fire: a plain one, or one of a select this call
/// claims. Waiters of selects another case already won are dropped from the queue (their
/// select, woken by that case, finds them gone).
fn pop_claimed<T>(q: &mut VecDeque<*const Waiter<T>>) -> Option<*const Waiter<T>> {
    while let Some(w) = q.pop_front() {
        // SAFETY: a queued waiter is alive: its owner takes it out under this lock before
        // leaving.
        let sel = unsafe { (*w).sel };
        if sel.is_null() {
            return Some(w);
        }
        // SAFETY: as above; the select's state lives as long as its waiters. AcqRel: the
        // select's other cases are claimed under other channels' locks, so this word alone
        // orders them.
        let claimed = unsafe {
            (*sel)
                .compare_exchange(PENDING, (*w).case, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        };
        if claimed {
            return Some(w);
        }
    }
    None
}

/// # Safety
/// `w` came out of a queue through [`pop_claimed`] under the lock still held.
unsafe fn node_of<T>(w: *const Waiter<T>) -> NodeRef {
    // SAFETY: the caller's contract: the waiter is parked and alive.
    unsafe { (*(*w).node).as_ref() }
}

/// What a receive finds, under the lock.
pub(crate) enum RecvTry<T> {
    /// A value, and the sender to wake once the lock is released.
    Got(T, Option<NodeRef>),
    Closed,
    Empty,
}

/// What a send finds, under the lock.
pub(crate) enum SendTry<T> {
    /// Delivered, and the receiver to wake once the lock is released.
    Sent(Option<NodeRef>),
    Closed(T),
    Full(T),
}

impl<T> State<T> {
    /// Go's `chanrecv` up to the point of blocking.
    pub(crate) fn try_recv(&mut self) -> RecvTry<T> {
        if let Some(v) = self.buf.pop_front() {
            // Room now: move a blocked sender's value into the buffer.
            let wake = pop_claimed(&mut self.sendq).map(|s| {
                // SAFETY: a claimed sender is parked; its value is ours to take under the lock.
                let sv = unsafe { (*(*s).slot.get()).take() };
                self.buf.extend(sv);
                // SAFETY: claimed above, under the lock we hold.
                unsafe { node_of(s) }
            });
            return RecvTry::Got(v, wake);
        }
        if let Some(s) = pop_claimed(&mut self.sendq) {
            // Unbuffered: take the value straight from the sender.
            // SAFETY: as above.
            let v = unsafe { (*(*s).slot.get()).take() };
            let v = v.expect("a queued sender holds its value");
            // SAFETY: as above.
            return RecvTry::Got(v, Some(unsafe { node_of(s) }));
        }
        if self.closed || self.senders == 0 {
            return RecvTry::Closed;
        }
        RecvTry::Empty
    }

    /// Go's `chansend` up to the point of blocking.
    pub(crate) fn try_send(&mut self, v: T, cap: usize) -> SendTry<T> {
        if self.closed || self.receivers == 0 {
            return SendTry::Closed(v);
        }
        if let Some(r) = pop_claimed(&mut self.recvq) {
            // SAFETY: a claimed receiver is parked; its slot is ours to fill under the lock.
            unsafe { *(*r).slot.get() = Some(v) };
            // SAFETY: claimed under the lock we hold.
            return SendTry::Sent(Some(unsafe { node_of(r) }));
        }
        if self.buf.len() < cap {
            self.buf.push_back(v);
            return SendTry::Sent(None);
        }
        SendTry::Full(v)
    }

    pub(crate) fn enqueue_recv(&mut self, w: *const Waiter<T>) {
        self.recvq.push_back(w);
    }

    pub(crate) fn enqueue_send(&mut self, w: *const Waiter<T>) {
        self.sendq.push_back(w);
    }

    /// Takes `w` out of whichever queue still holds it (a select's losing case).
    pub(crate) fn dequeue(&mut self, w: *const Waiter<T>) {
        for q in [&mut self.recvq, &mut self.sendq] {
            if let Some(i) = q.iter().position(|&x| core::ptr::eq(x, w)) {
                q.remove(i);
                return;
            }
        }
    }
}

/// Wakes `node`, if any, after the lock is released.
pub(crate) fn wake(node: Option<NodeRef>) {
    if let Some(n) = node {
        // SAFETY: taken out of its queue (and claimed) under the lock: we are its one waker.
        unsafe { WaitNode::wake(n) };
    }
}

// SAFETY: the queued pointers are to waiters parked on their own stacks; a waiter's slot is
// touched only under the channel lock, or by the waiter after it is woken. Values of `T` move
// between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    pub(crate) fn lock(&self) -> WaitGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Wakes every waiter it can claim: they find the slot as they left it (a sender its
    /// value, a receiver nothing).
    fn wake_all(mut st: WaitGuard<'_, State<T>>, senders_only: bool) {
        let mut woken: Vec<NodeRef> = Vec::new();
        while let Some(w) = pop_claimed(&mut st.sendq) {
            // SAFETY: claimed under the lock.
            woken.push(unsafe { node_of(w) });
        }
        if !senders_only {
            while let Some(w) = pop_claimed(&mut st.recvq) {
                // SAFETY: as above.
                woken.push(unsafe { node_of(w) });
            }
        }
        drop(st);
        for n in woken {
            wake(Some(n));
        }
    }
}

/// The sending half; clone it to send from several goroutines. The last one dropped closes
/// the channel.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// let total = rt.run(|| {
///     let (tx, rx) = goro::chan::<u32>(0);
///     for i in 0..4 {
///         let tx = tx.clone();
///         goro::spawn(move || tx.send(i).unwrap());
///     }
///     drop(tx); // the clones close the channel as they finish
///     rx.into_iter().sum::<u32>()
/// });
/// assert_eq!(total, 6);
/// ```
pub struct Sender<T> {
    pub(crate) c: Arc<Chan<T>>,
}

/// The receiving half; clone it to receive in several goroutines.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let (tx, rx) = goro::chan::<u32>(0);
///     let workers: Vec<_> = (0..2)
///         .map(|_| {
///             let rx = rx.clone();
///             goro::spawn(move || rx.into_iter().count())
///         })
///         .collect();
///     (0..10).for_each(|i| tx.send(i).unwrap());
///     tx.close();
///     let n: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
///     assert_eq!(n, 10);
/// });
/// ```
pub struct Receiver<T> {
    pub(crate) c: Arc<Chan<T>>,
}

/// A send on a closed channel (or one with no receiver left); the value comes back.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let _rt = unsafe { goro::Runtime::new() };
/// let (tx, rx) = goro::chan(1);
/// drop(rx);
/// assert_eq!(tx.send("lost"), Err(goro::SendError("lost")));
/// ```
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

/// Why [`Sender::try_send`] did not send; the value comes back.
///
/// `Closed` rather than crossbeam's `Disconnected`: a goro channel is closed explicitly
/// ([`Sender::close`], Go's `close`) as well as by dropping the last handle, and both look the
/// same to a sender.
///
/// ```
/// use goro::TrySendError;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let _rt = unsafe { goro::Runtime::new() };
/// let (tx, rx) = goro::chan(0);
/// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // nobody receiving
/// drop(rx);
/// assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The buffer is full (or, unbuffered, no receiver is waiting).
    Full(T),
    /// The channel is closed, or no receiver is left.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, _rx) = goro::chan(0);
    /// assert_eq!(tx.try_send(7).unwrap_err().into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }

    /// Whether the send failed because the channel was full.
    ///
    /// ```
    /// assert!(goro::TrySendError::Full(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the send failed because the channel was closed.
    ///
    /// ```
    /// assert!(goro::TrySendError::Closed(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Closed(_) => f.write_str("send on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Closed(e.0)
    }
}

/// Why [`Receiver::try_recv`] returned no value. `Closed` for crossbeam's `Disconnected`,
/// as in [`TrySendError`].
///
/// ```
/// use goro::TryRecvError;
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let _rt = unsafe { goro::Runtime::new() };
/// let (tx, rx) = goro::chan::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum TryRecvError {
    /// Nothing buffered and no sender waiting.
    Empty,
    /// The channel is closed and drained.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Closed => f.write_str("receiving on a closed channel"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl<T: Send> Sender<T> {
    /// Sends `v`, blocking the goroutine while the channel is full.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let (tx, rx) = goro::chan(0);
    ///     goro::spawn(move || tx.send(1).unwrap());
    ///     assert_eq!(rx.recv(), Some(1));
    /// });
    /// ```
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        let c = &*self.c;
        let mut st = c.lock();
        let v = match st.try_send(v, c.cap) {
            SendTry::Sent(w) => {
                drop(st);
                wake(w);
                return Ok(());
            }
            SendTry::Closed(v) => return Err(SendError(v)),
            SendTry::Full(v) => v,
        };
        let node = WaitNode::new();
        let me = Waiter::new(&node, Some(v));
        st.enqueue_send(&me);
        node.park(st, WaitReason::ChanSend);
        // A receiver took the value, or close left it for us to return.
        match me.slot.into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }

    /// Sends `v` if that needs no waiting: into the buffer, or to a receiver already waiting.
    ///
    /// ```
    /// use goro::TrySendError;
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, rx) = goro::chan(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let c = &*self.c;
        let mut st = c.lock();
        match st.try_send(v, c.cap) {
            SendTry::Sent(w) => {
                drop(st);
                wake(w);
                Ok(())
            }
            SendTry::Closed(v) => Err(TrySendError::Closed(v)),
            SendTry::Full(v) => Err(TrySendError::Full(v)),
        }
    }

    /// Closes the channel: receivers drain what is buffered, then get `None`; blocked and
    /// later sends fail.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, rx) = goro::chan(1);
    /// tx.send(1).unwrap();
    /// tx.close();
    /// assert!(tx.is_closed() && rx.is_closed());
    /// assert_eq!((rx.recv(), rx.recv()), (Some(1), None));
    /// ```
    pub fn close(&self) {
        let mut st = self.c.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        Chan::wake_all(st, false);
    }
}

impl<T: Send> Receiver<T> {
    /// Empties the buffer (a timer's channel, as the timer is stopped or reset); returns
    /// whether it held a value.
    pub(crate) fn drain(&self) -> bool {
        let mut st = self.c.lock();
        let held = !st.buf.is_empty();
        st.buf.clear();
        held
    }

    /// Receives a value, blocking the goroutine while the channel is empty; `None` once it is
    /// closed and drained.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let (tx, rx) = goro::chan(0);
    ///     goro::spawn(move || tx.send("hi").unwrap()); // then drops tx: closed
    ///     assert_eq!(rx.recv(), Some("hi"));
    ///     assert_eq!(rx.recv(), None);
    /// });
    /// ```
    pub fn recv(&self) -> Option<T> {
        let mut st = self.c.lock();
        match st.try_recv() {
            RecvTry::Got(v, w) => {
                drop(st);
                wake(w);
                return Some(v);
            }
            RecvTry::Closed => return None,
            RecvTry::Empty => {}
        }
        let node = WaitNode::new();
        let me = Waiter::new(&node, None);
        st.enqueue_recv(&me);
        node.park(st, WaitReason::ChanReceive);
        me.slot.into_inner()
    }

    /// Receives a value if one is ready: buffered, or offered by a waiting sender.
    ///
    /// ```
    /// use goro::TryRecvError;
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, rx) = goro::chan(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.c.lock();
        match st.try_recv() {
            RecvTry::Got(v, w) => {
                drop(st);
                wake(w);
                Ok(v)
            }
            RecvTry::Closed => Err(TryRecvError::Closed),
            RecvTry::Empty => Err(TryRecvError::Empty),
        }
    }
}

macro_rules! looks {
    ($($half:ident)*) => {$(
        impl<T> $half<T> {
            /// How many values are buffered.
            ///
            /// ```
            /// // SAFETY: no goroutine keeps thread-local state across a switch.
            /// let _rt = unsafe { goro::Runtime::new() };
            /// let (tx, rx) = goro::chan(4);
            /// tx.send(1).unwrap();
            /// assert_eq!((tx.len(), rx.len()), (1, 1));
            /// ```
            pub fn len(&self) -> usize {
                self.c.lock().buf.len()
            }

            /// How many values the buffer holds at most (0: unbuffered).
            ///
            /// ```
            /// // SAFETY: no goroutine keeps thread-local state across a switch.
            /// let _rt = unsafe { goro::Runtime::new() };
            /// let (tx, rx) = goro::chan::<u8>(4);
            /// assert_eq!((tx.capacity(), rx.capacity()), (4, 4));
            /// ```
            pub fn capacity(&self) -> usize {
                self.c.cap
            }

            /// Whether nothing is buffered (always, unbuffered).
            ///
            /// ```
            /// // SAFETY: no goroutine keeps thread-local state across a switch.
            /// let _rt = unsafe { goro::Runtime::new() };
            /// let (tx, rx) = goro::chan(1);
            /// assert!(rx.is_empty());
            /// tx.send(1).unwrap();
            /// assert!(!tx.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the buffer is full (always, unbuffered).
            ///
            /// ```
            /// // SAFETY: no goroutine keeps thread-local state across a switch.
            /// let _rt = unsafe { goro::Runtime::new() };
            /// let (tx, rx) = goro::chan(1);
            /// assert!(!tx.is_full());
            /// tx.send(1).unwrap();
            /// assert!(rx.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                self.len() == self.c.cap
            }
        }
    )*};
}
looks!(Sender Receiver);

impl<T> Sender<T> {
    /// Whether a send would fail: the channel is closed, or no receiver is left.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, rx) = goro::chan::<u8>(0);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        let st = self.c.lock();
        st.closed || st.receivers == 0
    }
}

impl<T> Receiver<T> {
    /// Whether the channel is closed (by [`Sender::close`] or the last sender's drop); values
    /// may still be buffered.
    ///
    /// ```
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let _rt = unsafe { goro::Runtime::new() };
    /// let (tx, rx) = goro::chan::<u8>(0);
    /// assert!(!rx.is_closed());
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.c.lock().closed
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
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let _rt = unsafe { goro::Runtime::new() };
/// let (tx, rx) = goro::chan(3);
/// (1..=3).for_each(|i| tx.send(i).unwrap());
/// drop(tx);
/// let it: goro::Iter<i32> = rx.into_iter();
/// assert_eq!(it.collect::<Vec<_>>(), [1, 2, 3]);
/// ```
pub struct Iter<T> {
    rx: Receiver<T>,
}

impl<T: Send> Iterator for Iter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}
