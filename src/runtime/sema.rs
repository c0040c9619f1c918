//! Semaphores keyed by address (Go's `sema.go`): what `goro::sync` parks on.
//!
//! A semaphore is any `AtomicU32` the caller owns; its value is the number of tokens.
//! [`semacquire`] takes a token, waiting until one is released; [`semrelease`] adds one and
//! wakes the first waiter for that address. Waiters are kept in a fixed table of buckets (Go's
//! `semtable` of `semaRoot`s), hashed by address, each a [`WaitLock`]'d list of per-address
//! FIFO queues, so a lock costs no more than its own atomic words until someone has to
//! wait.
//!
//! Each bucket counts its waiters in `nwait`, so a release with nobody waiting is one atomic
//! add and one load. The release adds the token *before* it reads `nwait`, and an acquirer
//! counts itself in `nwait` *before* it tries for a token under the bucket lock (both
//! sequentially consistent): either the releaser sees the waiter, or the waiter sees the token.
//!
//! With `handoff`, the releaser takes the token back at once and gives it to the first waiter
//! directly (the waiter's `ticket`), then yields so that the waiter runs soon: a mutex in
//! starvation mode uses it so newcomers cannot barge in. Without it a woken waiter competes
//! for the token with everyone else and may go back to sleep.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::collections::VecDeque;

use super::g::WaitReason;
use super::park::{WaitLock, WaitNode};

/// Prime, as Go's `semTabSize`.
const SEM_TAB_SIZE: usize = 251;

/// One waiter, on its own stack while it is queued.
struct SemaWaiter {
    node: WaitNode,
    /// Set by a handing-off releaser: the token is the waiter's already.
    ticket: AtomicBool,
}

/// A queued waiter's address.
#[derive(Clone, Copy)]
struct WaiterRef(*const SemaWaiter);

// SAFETY: a WaiterRef is only dereferenced by the releaser that removed it from its queue,
// while the waiter is still parked (it stays parked until woken through its node).
unsafe impl Send for WaiterRef {}

/// The waiters for one address.
struct Queue {
    addr: usize,
    waiters: VecDeque<WaiterRef>,
}

/// Go's `semaRoot`: the waiters for every address hashed here.
#[repr(align(64))]
struct Bucket {
    /// Waiters in this bucket (any address). Read without the lock by `semrelease`; changed
    /// under it.
    nwait: AtomicU32,
    /// One queue per address with waiters; a queue is removed when it empties.
    queues: WaitLock<Vec<Queue>>,
}

impl Bucket {
    const fn new() -> Bucket {
        Bucket {
            nwait: AtomicU32::new(0),
            queues: WaitLock::new(Vec::new()),
        }
    }
}

static SEMTABLE: [Bucket; SEM_TAB_SIZE] = [const { Bucket::new() }; SEM_TAB_SIZE];

fn bucket(addr: usize) -> &'static Bucket {
    &SEMTABLE[(addr >> 3) % SEM_TAB_SIZE]
}

/// Takes a token if there is one (Go's `cansemacquire`).
pub(crate) fn cansemacquire(sema: &AtomicU32) -> bool {
    let mut v = sema.load(Ordering::SeqCst);
    loop {
        if v == 0 {
            return false;
        }
        match sema.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(now) => v = now,
        }
    }
}

/// Takes a token from `sema`, parking the goroutine (or blocking the thread) until one is
/// released (Go's `semacquire1`). With `lifo` the caller waits at the head of the queue rather
/// than the tail (a mutex waiter that was woken once and lost the race). `why` is for the
/// deadlock report.
pub(crate) fn semacquire(sema: &AtomicU32, lifo: bool, why: WaitReason) {
    if cansemacquire(sema) {
        return;
    }
    let addr = sema as *const AtomicU32 as usize;
    let b = bucket(addr);
    loop {
        let w = SemaWaiter {
            node: WaitNode::new(),
            ticket: AtomicBool::new(false),
        };
        let mut queues = b.queues.lock();
        // Counted before trying again: a releaser that adds its token after our try sees us.
        b.nwait.fetch_add(1, Ordering::SeqCst);
        if cansemacquire(sema) {
            b.nwait.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let r = WaiterRef(&w);
        match queues.iter_mut().find(|q| q.addr == addr) {
            Some(q) if lifo => q.waiters.push_front(r),
            Some(q) => q.waiters.push_back(r),
            None => queues.push(Queue {
                addr,
                waiters: VecDeque::from([r]),
            }),
        }
        w.node.park(queues, why);
        // Acquire through the node's wake: a releaser's ticket store is visible.
        if w.ticket.load(Ordering::Relaxed) || cansemacquire(sema) {
            return;
        }
    }
}

/// Adds a token to `sema` and wakes its first waiter, if any (Go's `semrelease1`). With
/// `handoff`, passes the token straight to that waiter and yields to it.
pub(crate) fn semrelease(sema: &AtomicU32, handoff: bool) {
    let addr = sema as *const AtomicU32 as usize;
    let b = bucket(addr);
    sema.fetch_add(1, Ordering::SeqCst);
    // Easy case: no waiters. This check must come after the add above, to avoid a missed
    // wake-up (see the module doc).
    if b.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut queues = b.queues.lock();
    if b.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut found = None;
    if let Some(i) = queues.iter().position(|q| q.addr == addr) {
        found = queues[i].waiters.pop_front();
        if queues[i].waiters.is_empty() {
            queues.swap_remove(i);
        }
    }
    if found.is_some() {
        b.nwait.fetch_sub(1, Ordering::SeqCst);
    }
    drop(queues);
    let Some(w) = found else { return };
    // SAFETY: taken out of its queue under the bucket lock, so we alone wake it, and it stays
    // parked (alive on its stack) until we do.
    let waiter = unsafe { &*w.0 };
    let handed = handoff && cansemacquire(sema);
    if handed {
        waiter.ticket.store(true, Ordering::Relaxed);
    }
    // SAFETY: as above; nothing touches `waiter` after this.
    unsafe { WaitNode::wake(waiter.node.as_ref()) };
    if handed && super::proc::current_g().is_some() {
        // Go's directed yield: the waiter was put next on our P; let it run now.
        super::proc::gosched();
    }
}

/// Adds `n` tokens to `sema` at once and wakes up to `n` of its waiters, in FIFO order, each
/// to compete for a token as after [`semrelease`] without handoff. The caller keeps the count
/// from overflowing.
pub(crate) fn semrelease_n(sema: &AtomicU32, n: u32) {
    if n == 0 {
        return;
    }
    let addr = sema as *const AtomicU32 as usize;
    let b = bucket(addr);
    sema.fetch_add(n, Ordering::SeqCst);
    // After the add, as in `semrelease`.
    if b.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut queues = b.queues.lock();
    let mut woken = Vec::new();
    if let Some(i) = queues.iter().position(|q| q.addr == addr) {
        let q = &mut queues[i].waiters;
        let k = q.len().min(n as usize);
        woken.extend(q.drain(..k));
        if q.is_empty() {
            queues.swap_remove(i);
        }
    }
    b.nwait.fetch_sub(woken.len() as u32, Ordering::SeqCst);
    drop(queues);
    for w in woken {
        // SAFETY: taken out of its queue under the bucket lock, so we alone wake it, and it
        // stays parked (alive on its stack) until we do; nothing touches it after this.
        unsafe { WaitNode::wake((*w.0).node.as_ref()) };
    }
}

/// Whether a lock's waiter should spin a little more before parking (Go's
/// `sync_runtime_canSpin`): only a few times, only on a multi-core machine, and, for a
/// goroutine, only while another P is running (the holder may be on it) and ours has nothing
/// else to run.
pub(crate) fn can_spin(iter: u32) -> bool {
    const ACTIVE_SPIN: u32 = 4;
    if iter >= ACTIVE_SPIN || ncpu() <= 1 {
        return false;
    }
    match super::proc::enter() {
        None => true,
        Some(rt) => {
            let sched = rt.m().sched();
            let nprocs = sched.nprocs.load(Ordering::Relaxed);
            let busy = sched.npidle.load(Ordering::Relaxed) as usize
                + sched.nmspinning.load(Ordering::Relaxed) as usize
                + 1;
            nprocs > busy && rt.p().runq.is_empty()
        }
    }
}

/// One spin: Go's `procyield`, a run of `PAUSE`s, but 100 of them where Go has 30. Go's count
/// dates from CPUs whose `PAUSE` took about 10 cycles; since Skylake it takes about 140, and
/// the measured optimum moved with it. On this machine's Xeon, in the harness's `mutex`
/// workload (alternating runs): 30 gave 5.4-7.5 M locks/s (bimodal, below Go's 6.7), 5 gave
/// 3.4-4.9, 60 gave 5.6-8.5, 100 gave 6.5-10.6. Still at most `ACTIVE_SPIN` rounds, and only
/// while other Ps run and this one has nothing queued.
pub(crate) fn do_spin() {
    for _ in 0..100 {
        core::hint::spin_loop();
    }
}

/// The number of CPUs, read once.
fn ncpu() -> usize {
    static NCPU: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *NCPU.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc::channel;

    /// Queues plain threads on `sema` one by one (each parked before the next starts), with
    /// `lifo` for the ids in `lifo_ids`; returns their ids in the order releases wake them.
    fn wake_order(n: usize, lifo_ids: &[usize], handoff: bool) -> Vec<usize> {
        let sema = Arc::new(AtomicU32::new(0));
        let b = bucket(&*sema as *const AtomicU32 as usize);
        let (tx, rx) = channel();
        let mut threads = Vec::new();
        for id in 0..n {
            let before = b.nwait.load(Ordering::SeqCst);
            let (sema, tx, lifo) = (sema.clone(), tx.clone(), lifo_ids.contains(&id));
            threads.push(std::thread::spawn(move || {
                semacquire(&sema, lifo, WaitReason::Semacquire);
                tx.send(id).unwrap();
            }));
            // Other tests may use the same bucket: wait for at least our waiter.
            while b.nwait.load(Ordering::SeqCst) <= before {
                std::thread::yield_now();
            }
        }
        let order = (0..n)
            .map(|_| {
                semrelease(&sema, handoff);
                rx.recv().unwrap()
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(sema.load(Ordering::SeqCst), 0);
        order
    }

    #[test]
    fn waiters_are_woken_in_fifo_order() {
        assert_eq!(wake_order(5, &[], false), [0, 1, 2, 3, 4]);
        assert_eq!(wake_order(5, &[], true), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn lifo_waiters_go_to_the_front() {
        assert_eq!(wake_order(4, &[2, 3], false), [3, 2, 0, 1]);
    }

    #[test]
    fn a_token_released_first_is_taken_without_waiting() {
        let sema = AtomicU32::new(0);
        semrelease(&sema, false);
        semrelease(&sema, true);
        semacquire(&sema, false, WaitReason::Semacquire);
        assert!(cansemacquire(&sema));
        assert!(!cansemacquire(&sema));
    }
}
