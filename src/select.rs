//! Go's `select`: wait on several channel operations, run the one that fires (see
//! [`select!`](crate::select!)).
//!
//! Built as Go's `selectgo` (runtime/select.go):
//! 1. Lock every channel involved, in address order, each once (a channel may appear in
//!    several cases).
//! 2. Pass 1: look at the cases in a random order (`pollorder`, a fresh shuffle per select)
//!    and run the first that is ready. With several ready, each is chosen with the same
//!    probability.
//! 3. Nothing ready and a `default`: unlock, return `None`.
//! 4. Pass 2: queue one waiter per case, all sharing one [`WaitNode`] and one `done` word,
//!    each waiter knowing its case index; park, releasing every lock.
//! 5. A sender, receiver or `close` that takes one of these waiters from a queue first claims
//!    the select: a compare-and-swap of `done` from `PENDING` to the waiter's case. Only the
//!    claimer completes the operation and wakes the select; a waiter whose select is already
//!    claimed is dropped from the queue and skipped (Go's `isSelect` + `selectDone`).
//! 6. Pass 3, woken: lock all again, take the waiters of the other cases out of their
//!    queues, unlock; the winner's slot already holds its result.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use core::time::Duration;

use crate::chan::{
    Chan, PENDING, Receiver, RecvTry, SendError, SendTry, Sender, State, TryRecvError,
    TrySendError, Waiter, wake,
};
use crate::runtime::g::WaitReason;
use crate::runtime::park::{HeldLocks, NodeRef, WaitGuard, WaitNode};
use crate::time::Timer;

/// One case of a select, its channel's element type hidden: what [`select`] drives. The
/// methods are called in the order of `selectgo`; the channel lock is held from `lock` (or
/// `share`) to `unlock`.
///
/// # Safety
/// [`select`] trusts what an implementation does: two cases with the same `chan_id` share
/// the state `lock` returned for the first, and a waiter `enqueue` queues is taken out again
/// only by `dequeue` of the same case. A case's `chan_id` must be the address of the channel
/// whose state its `lock` returns, and `enqueue` must queue nothing that outlives the case
/// (the case's own waiter, taken out by its `dequeue`). Only the crate's own [`Case`]
/// implements it: the trait is public for [`select!`](crate::select!)'s expansion, not to be
/// implemented elsewhere. Implementing it without `unsafe` does not compile:
///
/// ```compile_fail,E0200
/// use goro::__select::{Locks, Park, SelectCase, Wake};
/// struct Mine;
/// impl SelectCase for Mine {
///     fn chan_id(&self) -> usize { 0 }
///     fn lock(&mut self) -> *mut () { core::ptr::null_mut() }
///     unsafe fn share(&mut self, _: *mut ()) {}
///     fn try_fire(&mut self, _: &mut Wake) -> bool { false }
///     fn enqueue(&mut self, _: &Park, _: usize) {}
///     fn dequeue(&mut self) {}
///     fn unlock(&mut self, _: Option<&mut Locks>) {}
/// }
/// ```
#[doc(hidden)]
pub unsafe trait SelectCase {
    /// The channel's address: the lock order, and how duplicates are found.
    fn chan_id(&self) -> usize;
    /// Locks the channel; returns its state, for the other cases on the same channel.
    fn lock(&mut self) -> *mut ();
    /// Uses the lock another case on the same channel took.
    ///
    /// # Safety
    /// `state` came from `lock` of a case on the same channel, whose lock is still held.
    unsafe fn share(&mut self, state: *mut ());
    /// Pass 1: runs the operation if it can run now, leaving a waiter to wake in `wake`.
    fn try_fire(&mut self, wake: &mut Wake) -> bool;
    /// Pass 2: queues this case's waiter.
    fn enqueue(&mut self, park: &Park, case: usize);
    /// Pass 3: takes this case's waiter out of its queue, if still there.
    fn dequeue(&mut self);
    /// Releases the lock (if this case took it), or hands it to `park`.
    fn unlock(&mut self, park: Option<&mut Locks>);
}

/// The waiter a fired case must wake once its locks are released.
#[doc(hidden)]
pub struct Wake(Option<NodeRef>);

/// What all of one select's waiters share.
#[doc(hidden)]
pub struct Park {
    node: WaitNode,
    /// `PENDING`, then the index of the case that fired (set once, by its claimer).
    done: AtomicUsize,
}

/// The locks a parking select releases. Their lifetime is erased (so that cases borrowing
/// channels for different lifetimes fit one set): they never leave [`select`], which
/// releases them all before it returns.
#[doc(hidden)]
pub struct Locks(HeldLocks);

/// A case's lock: held by this case, shared with another case on the same channel, or none.
struct CaseLock<'a, T> {
    c: &'a Chan<T>,
    guard: Option<WaitGuard<'a, State<T>>>,
    st: *mut State<T>,
}

impl<'a, T> CaseLock<'a, T> {
    fn new(c: &'a Chan<T>) -> Self {
        CaseLock {
            c,
            guard: None,
            st: core::ptr::null_mut(),
        }
    }

    fn id(&self) -> usize {
        core::ptr::from_ref(self.c) as usize
    }

    fn lock(&mut self) -> *mut () {
        let mut g = self.c.lock();
        self.st = &mut *g as *mut State<T>;
        self.guard = Some(g);
        self.st.cast()
    }

    /// # Safety
    /// As [`SelectCase::share`].
    unsafe fn share(&mut self, st: *mut ()) {
        // Same address, so the same `Chan<T>`.
        self.st = st.cast();
    }

    fn st(&mut self) -> &mut State<T> {
        assert!(!self.st.is_null(), "a select case used without its lock");
        // SAFETY: between `lock`/`share` and `unlock` the channel's lock is held by this
        // select, and its cases run one at a time.
        unsafe { &mut *self.st }
    }

    fn unlock(&mut self, park: Option<&mut Locks>) {
        self.st = core::ptr::null_mut();
        if let Some(g) = self.guard.take() {
            match park {
                // SAFETY: the locks are released inside `select`, while the case (and so the
                // channel borrow `'a`) is still borrowed.
                Some(p) => unsafe { p.0.push(g) },
                None => drop(g),
            }
        }
    }
}

/// One case of a select: its channel's lock, its waiter, and the operation `K` ([`Recv`] or
/// [`Snd`]), which is all that differs between a receive and a send.
#[doc(hidden)]
pub struct Case<'a, T, K> {
    lock: CaseLock<'a, T>,
    w: Waiter<T>,
    op: core::marker::PhantomData<K>,
}

/// A `recv(rx)` case.
#[doc(hidden)]
pub type RecvCase<'a, T> = Case<'a, T, Recv>;
/// A `send(tx, value)` case.
#[doc(hidden)]
pub type SendCase<'a, T> = Case<'a, T, Snd>;

/// The receive operation of a [`Case`].
#[doc(hidden)]
pub enum Recv {}
/// The send operation of a [`Case`].
#[doc(hidden)]
pub enum Snd {}

/// The operations a [`Case`] can have; sealed, since their methods take the channel's
/// private state.
mod op {
    use super::{Case, Wake};

    /// What a case's operation does in pass 1, and which queue its waiter joins in pass 2.
    pub trait Op<T>: Sized {
        /// Whether the case sends (its waiter joins the send queue).
        const SEND: bool;
        /// Pass 1 (see [`SelectCase::try_fire`](super::SelectCase::try_fire)).
        fn try_fire(case: &mut Case<'_, T, Self>, wake: &mut Wake) -> bool;
    }
}
use op::Op;

impl<'a, T: Send> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> Self {
        Case {
            lock: CaseLock::new(&rx.c),
            w: Waiter::new(core::ptr::null(), None),
            op: core::marker::PhantomData,
        }
    }

    /// The received value, or `None` for a closed, drained channel; once the case fired.
    pub fn into_result(self) -> Option<T> {
        self.w.slot.into_inner()
    }
}

impl<T: Send> Op<T> for Recv {
    const SEND: bool = false;
    fn try_fire(case: &mut RecvCase<'_, T>, wake: &mut Wake) -> bool {
        match case.lock.st().try_recv() {
            RecvTry::Got(v, w) => {
                *case.w.slot.get_mut() = Some(v);
                wake.0 = w;
                true
            }
            RecvTry::Closed => true,
            RecvTry::Empty => false,
        }
    }
}

impl<'a, T: Send> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, v: T) -> Self {
        Case {
            lock: CaseLock::new(&tx.c),
            w: Waiter::new(core::ptr::null(), Some(v)),
            op: core::marker::PhantomData,
        }
    }

    /// `Ok` if the value was delivered, else the value back; once the case fired.
    pub fn into_result(self) -> Result<(), SendError<T>> {
        match self.w.slot.into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }
}

impl<T: Send> Op<T> for Snd {
    const SEND: bool = true;
    fn try_fire(case: &mut SendCase<'_, T>, wake: &mut Wake) -> bool {
        let cap = case.lock.c.cap;
        let v = case
            .w
            .slot
            .get_mut()
            .take()
            .expect("a send case holds its value");
        match case.lock.st().try_send(v, cap) {
            SendTry::Sent(w) => {
                wake.0 = w;
                true
            }
            SendTry::Closed(v) => {
                // Go panics; here the case fires with its value back.
                *case.w.slot.get_mut() = Some(v);
                true
            }
            SendTry::Full(v) => {
                *case.w.slot.get_mut() = Some(v);
                false
            }
        }
    }
}

// SAFETY: `chan_id` is the address of the channel `lock` locks, and `enqueue` queues the
// case's own waiter, which `dequeue` (or the claimer that fires it) takes out.
unsafe impl<T: Send, K: Op<T>> SelectCase for Case<'_, T, K> {
    fn chan_id(&self) -> usize {
        self.lock.id()
    }
    fn lock(&mut self) -> *mut () {
        self.lock.lock()
    }
    unsafe fn share(&mut self, st: *mut ()) {
        // SAFETY: the caller's contract.
        unsafe { self.lock.share(st) };
    }
    fn try_fire(&mut self, wake: &mut Wake) -> bool {
        K::try_fire(self, wake)
    }
    fn enqueue(&mut self, park: &Park, case: usize) {
        self.w.node = &park.node;
        self.w.sel = &park.done;
        self.w.case = case;
        let w = &raw const self.w;
        if K::SEND {
            self.lock.st().enqueue_send(w);
        } else {
            self.lock.st().enqueue_recv(w);
        }
    }
    fn dequeue(&mut self) {
        let w = &raw const self.w;
        self.lock.st().dequeue(w);
    }
    fn unlock(&mut self, park: Option<&mut Locks>) {
        self.lock.unlock(park);
    }
}

/// A xorshift64 generator per thread, seeded from a global counter: the poll order. Only
/// touched within one call that does not switch, as the goroutine contract allows.
fn fastrandn(n: usize) -> usize {
    static SEED: AtomicU64 = AtomicU64::new(0);
    std::thread_local! {
        static RNG: Cell<u64> = const { Cell::new(0) };
    }
    let x = RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            // splitmix64 of a counter: distinct, well-mixed, never 0.
            let mut z = SEED
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x = (z ^ (z >> 31)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    });
    // Lemire's multiply-shift: uniform enough for n far below 2^32 (Go's `cheaprandn`).
    (((x >> 32) * n as u64) >> 32) as usize
}

/// Go's `selectgo`: runs one of `cases` and returns its index, or `None` when none is ready
/// and `block` is false (a `default` arm). With no cases and `block`, never returns.
#[doc(hidden)]
pub fn select(cases: &mut [&mut dyn SelectCase], block: bool) -> Option<usize> {
    let n = cases.len();
    if n == 0 {
        if block {
            // Go's `block()`: nothing will ever wake it; the deadlock check sees it.
            let node = WaitNode::new();
            node.park_all(HeldLocks::new(), WaitReason::SelectNoCases);
            unreachable!("a select with no cases was woken");
        }
        return None;
    }

    // The two orders live on the stack for small selects (Go keeps them in the caller's frame),
    // as the held locks do: a select of up to `SMALL` cases allocates nothing.
    const SMALL: usize = HeldLocks::INLINE;
    let mut small = [0usize; 2 * SMALL];
    let mut big = Vec::new();
    let (poll, order) = if n <= SMALL {
        let (a, b) = small.split_at_mut(SMALL);
        (&mut a[..n], &mut b[..n])
    } else {
        big.resize(2 * n, 0);
        big.split_at_mut(n)
    };
    // Go's pollorder: a Fisher-Yates shuffle, built in place.
    for i in 1..n {
        let j = fastrandn(i + 1);
        poll[i] = poll[j];
        poll[j] = i;
    }
    // lockorder: by channel address; equal addresses end up next to each other.
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    order.sort_unstable_by_key(|&i| cases[i].chan_id());
    let (poll, order) = (&*poll, &*order);

    let lock_all = |cases: &mut [&mut dyn SelectCase]| {
        let mut last = (0usize, core::ptr::null_mut());
        for &i in order {
            let id = cases[i].chan_id();
            if id == last.0 {
                // SAFETY: the previous case in lock order is on the same channel and took
                // its lock just now.
                unsafe { cases[i].share(last.1) };
            } else {
                last = (id, cases[i].lock());
            }
        }
    };
    let unlock_all = |cases: &mut [&mut dyn SelectCase]| {
        for &i in order.iter().rev() {
            cases[i].unlock(None);
        }
    };

    lock_all(cases);

    // Pass 1: a case ready now, in random order.
    let mut w = Wake(None);
    for &i in poll {
        if cases[i].try_fire(&mut w) {
            unlock_all(cases);
            wake(w.0);
            return Some(i);
        }
    }
    if !block {
        unlock_all(cases);
        return None;
    }

    // Pass 2: a waiter on every case, then park releasing every lock.
    let park = Park {
        node: WaitNode::new(),
        done: AtomicUsize::new(PENDING),
    };
    for &i in order {
        cases[i].enqueue(&park, i);
    }
    let mut locks = Locks(HeldLocks::new());
    for &i in order.iter().rev() {
        cases[i].unlock(Some(&mut locks));
    }
    park.node.park_all(locks.0, WaitReason::Select);

    // Pass 3: the claimer set `done` before waking us (the wake's Release/Acquire orders it)
    // and took the winner's waiter out of its queue; take the others out.
    let won = park.done.load(Ordering::Acquire);
    debug_assert!(won < n, "woken without a claim");
    lock_all(cases);
    for &i in order {
        if i != won {
            cases[i].dequeue();
        }
    }
    unlock_all(cases);
    Some(won)
}

/// Waits on several channel operations and runs the arm of the one that fires first (Go's
/// `select`), in crossbeam-channel's syntax:
///
/// ```text
/// goro::select! {
///     recv(rx) -> v => expr,          // v: Option<T>, None once rx is closed and drained
///     send(tx, value) -> res => expr, // res: Result<(), SendError<T>>
///     default => expr,                // optional: taken when no case is ready
/// }
/// ```
///
/// - Without `default` the goroutine (or thread) parks until a case can run; with it, the
///   select never blocks.
/// - When several cases are ready, one is chosen uniformly at random (Go's rule), so no case
///   starves another.
/// - A `send` to a closed channel, or to one whose receivers are all gone, is a case that is
///   always ready and gives its arm `Err(SendError(value))`: Go panics there, but a goro
///   [`send`](crate::Sender::send) returns the error too, and the arm can decide. A `recv`
///   on a closed, drained channel is always ready with `None`.
/// - The channels may have different element types, and one channel may appear in several
///   cases. A channel expression is borrowed for the select (`rx`, `&rx`, `rxs[i]` and
///   temporaries all work). All `send` values are evaluated before the select runs; those of cases that do
///   not fire are dropped.
/// - `select! {}` blocks forever (Go's `select {}`); when everything is asleep the deadlock
///   report counts it as `select (no cases)`.
///
/// Arms are plain code in the caller's function: `break`, `continue`, `return` and `?` work.
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let (num_tx, num_rx) = goro::chan::<u32>(0);
///     let (word_tx, word_rx) = goro::chan::<&str>(0);
///     goro::spawn(move || num_tx.send(7).unwrap());
///     goro::spawn(move || word_tx.send("seven").unwrap());
///     let (mut nums, mut words) = (0, 0);
///     while nums + words < 2 {
///         goro::select! {
///             recv(num_rx) -> n => if let Some(n) = n { assert_eq!(n, 7); nums += 1 },
///             recv(word_rx) -> w => if let Some(w) = w { assert_eq!(w, "seven"); words += 1 },
///         }
///     }
///     // Nothing ready: the default arm runs at once.
///     let (tx, rx) = goro::chan::<u8>(0);
///     let got = goro::select! {
///         recv(rx) -> v => v,
///         send(tx, 1) -> res => { res.unwrap(); None }
///         default => Some(0),
///     };
///     assert_eq!(got, Some(0));
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($t:tt)*) => {
        $crate::__select_parse!([] [] [0] $($t)*)
    };
}

/// `select!`'s parser: `[cases] [default] [next index] tokens`. Each case gets binding names
/// made in its own expansion step, so hygiene keeps them apart.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // Done.
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*]) => {
        $crate::__select_expand!([$($c)*] [$($d)*])
    };
    // A case whose arm is a block, with or without a comma after it.
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*]
        $kind:ident ($($args:tt)*) -> $p:pat => $b:block, $($rest:tt)*) => {
        $crate::__select_parse!(
            [$($c)* (__case __chan $kind ($($args)*) $p $b ($($n)*))] [$($d)*] [$($n)* + 1]
            $($rest)*
        )
    };
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*]
        $kind:ident ($($args:tt)*) -> $p:pat => $b:block $($rest:tt)*) => {
        $crate::__select_parse!(
            [$($c)* (__case __chan $kind ($($args)*) $p $b ($($n)*))] [$($d)*] [$($n)* + 1]
            $($rest)*
        )
    };
    // A case whose arm is an expression: a comma, or the end.
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*]
        $kind:ident ($($args:tt)*) -> $p:pat => $b:expr, $($rest:tt)*) => {
        $crate::__select_parse!(
            [$($c)* (__case __chan $kind ($($args)*) $p $b ($($n)*))] [$($d)*] [$($n)* + 1]
            $($rest)*
        )
    };
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*]
        $kind:ident ($($args:tt)*) -> $p:pat => $b:expr) => {
        $crate::__select_parse!(
            [$($c)* (__case __chan $kind ($($args)*) $p $b ($($n)*))] [$($d)*] [$($n)* + 1]
        )
    };
    // The default arm.
    ([$($c:tt)*] [] [$($n:tt)*] default => $b:block, $($rest:tt)*) => {
        $crate::__select_parse!([$($c)*] [$b] [$($n)*] $($rest)*)
    };
    ([$($c:tt)*] [] [$($n:tt)*] default => $b:block $($rest:tt)*) => {
        $crate::__select_parse!([$($c)*] [$b] [$($n)*] $($rest)*)
    };
    ([$($c:tt)*] [] [$($n:tt)*] default => $b:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($c)*] [$b] [$($n)*] $($rest)*)
    };
    ([$($c:tt)*] [] [$($n:tt)*] default => $b:expr) => {
        $crate::__select_parse!([$($c)*] [$b] [$($n)*])
    };
    ([$($c:tt)*] [$($d:tt)+] [$($n:tt)*] default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    ([$($c:tt)*] [$($d:tt)*] [$($n:tt)*] $($rest:tt)+) => {
        ::core::compile_error!(
            "select!: expected `recv(rx) -> v => ..`, `send(tx, value) -> res => ..` or \
             `default => ..`"
        )
    };
}

/// `select!`'s output.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    ([$(($case:ident $chan:ident $kind:ident ($($args:tt)*) $p:tt $b:tt ($($i:tt)*)))*]
     [$($d:tt)*]) => {{
        $( $crate::__select_case!($case $chan $kind $($args)*); )*
        let __selected = $crate::__select::select(
            &mut [$(&mut $case as &mut dyn $crate::__select::SelectCase),*],
            $crate::__select_blocks!($($d)*),
        );
        match __selected {
            $(
                ::core::option::Option::Some(__i) if __i == $($i)* => {
                    let $p = $case.into_result();
                    $b
                }
            )*
            _ => $crate::__select_default!($($d)*),
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_case {
    ($case:ident $chan:ident recv $r:expr) => {
        let $chan = &$r;
        let mut $case = $crate::__select::RecvCase::new($chan);
    };
    ($case:ident $chan:ident send $s:expr, $v:expr) => {
        let $chan = &$s;
        let mut $case = $crate::__select::SendCase::new($chan, $v);
    };
    ($case:ident $chan:ident $kind:ident $($args:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "select!: unknown operation `",
            ::core::stringify!($kind),
            "` (expected `recv(rx)` or `send(tx, value)`)"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_blocks {
    () => {
        true
    };
    ($d:tt) => {
        false
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        ::core::unreachable!("select!: no case fired")
    };
    ($d:tt) => {
        $d
    };
}

// ---- Waiting with a deadline: a select against a timer's channel ----

/// Why [`Sender::send_timeout`] did not send; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// No room and no receiver within the time.
    Timeout(T),
    /// The channel is closed, or no receiver is left.
    Closed(T),
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Closed(v) => v,
        }
    }
}

impl<T> core::fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> core::fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out sending on a channel"),
            SendTimeoutError::Closed(_) => f.write_str("send on a closed channel"),
        }
    }
}

impl<T> std::error::Error for SendTimeoutError<T> {}

/// Why [`Receiver::recv_timeout`] returned no value.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum RecvTimeoutError {
    /// Nothing arrived within the time.
    Timeout,
    /// The channel is closed and drained.
    Closed,
}

impl core::fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out receiving on a channel"),
            RecvTimeoutError::Closed => f.write_str("receiving on a closed channel"),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

/// A select of `case` against a timer firing `d` from now: whether `case` fired. The timer
/// is stopped either way, so it leaves nothing behind.
fn with_deadline(case: &mut dyn SelectCase, d: Duration) -> bool {
    let timer = Timer::new(d);
    let fired = timer.receiver().expect("a channel timer has a receiver");
    let mut deadline = RecvCase::new(fired);
    let i = select(&mut [case, &mut deadline], true).expect("a blocking select picks a case");
    timer.stop();
    i == 0
}

impl<T: Send> Sender<T> {
    /// Sends `v`, waiting at most `d` for room or a receiver (crossbeam's `send_timeout`;
    /// Go's `select` with a `time.After` arm).
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::SendTimeoutError;
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let (tx, _rx) = goro::chan::<u32>(0); // nobody receives
    ///     let d = Duration::from_millis(5);
    ///     assert_eq!(tx.send_timeout(7, d), Err(SendTimeoutError::Timeout(7)));
    /// });
    /// ```
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        let v = match self.try_send(v) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(v)) => return Err(SendTimeoutError::Closed(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let mut case = SendCase::new(self, v);
        let sent = with_deadline(&mut case, d);
        match case.into_result() {
            Ok(()) => Ok(()),
            Err(SendError(v)) if sent => Err(SendTimeoutError::Closed(v)),
            Err(SendError(v)) => Err(SendTimeoutError::Timeout(v)),
        }
    }
}

impl<T: Send> Receiver<T> {
    /// Receives a value, waiting at most `d` (crossbeam's `recv_timeout`; Go's `select` with
    /// a `time.After` arm). A value already there is taken even if `d` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::RecvTimeoutError;
    /// // SAFETY: no goroutine keeps thread-local state across a switch.
    /// let rt = unsafe { goro::Runtime::new() };
    /// rt.run(|| {
    ///     let (tx, rx) = goro::chan::<u32>(1);
    ///     let d = Duration::from_millis(5);
    ///     assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
    ///     tx.send(1).unwrap();
    ///     assert_eq!(rx.recv_timeout(d), Ok(1));
    ///     drop(tx);
    ///     assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Closed));
    /// });
    /// ```
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        match self.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
            Err(TryRecvError::Empty) => {}
        }
        let mut case = RecvCase::new(self);
        if !with_deadline(&mut case, d) {
            return Err(RecvTimeoutError::Timeout);
        }
        case.into_result().ok_or(RecvTimeoutError::Closed)
    }
}
