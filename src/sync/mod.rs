//! Go's `sync` package with std's interface: [`Mutex`], [`RwLock`], [`Condvar`], [`Once`],
//! [`OnceLock`], and a counting [`Semaphore`].
//!
//! A goroutine that has to wait parks, and its thread runs other goroutines meanwhile; a
//! plain thread blocks. Goroutines and plain threads (of any runtime) may share one lock. The
//! algorithms are Go's: the locks and the semaphore wait in the runtime's semaphore table
//! keyed by address (`runtime/sema.rs`, Go's `sema.go`), so an uncontended lock is one CAS
//! and an unlock with nobody waiting one atomic add; [`Condvar`] keeps its own ticketed list
//! of waiters (Go's `notifyList`), and adds std's timed waits, which Go's `Cond` lacks.
//!
//! # Decisions
//!
//! - **No poisoning**, as in Go and parking_lot: a panic while a guard is held unlocks the
//!   lock and leaves the data as the panicking code left it. So [`Mutex::lock`] returns a
//!   [`MutexGuard`] directly, not std's `LockResult`, and `try_lock` an `Option`. Poisoning
//!   protects little (most code unwraps it) and costs every caller an `unwrap`; code that must
//!   know can keep its own flag in the data.
//! - **A panicking [`Once`] function counts as done**, as in Go (`defer o.done.Store(true)`):
//!   the panic goes to its caller and later calls return without running anything. std's
//!   `Once` poisons instead. A [`OnceLock`] whose initializer panics stays empty (as std's),
//!   since it has no value to hand out.
//! - **Guards are `!Send`**, as std's, though goro's locks are not tied to threads (a
//!   goroutine holding a guard may migrate, and unlocking on another thread than the one that
//!   locked is fine). Keeping std's bounds means code moves between `std::sync` and
//!   `goro::sync` unchanged. A [`SemaphorePermit`] is `Send`: it guards no data.
//! - Fairness as Go's `sync.Mutex`: normal mode lets a running goroutine barge in ahead of a
//!   woken waiter (throughput); once a waiter has waited over 1 ms the mutex hands the lock to
//!   waiters in FIFO order until the queue drains (starvation mode). [`RwLock`] is Go's
//!   `RWMutex`: a waiting writer blocks new readers, so writers are not starved, and a
//!   recursive read lock can deadlock.
//! - Holding a guard across any goro call (a channel operation, `yield_now`, a system call) is
//!   fine: waiters park, so the other goroutines keep running.

mod condvar;
mod mutex;
mod once;
mod rwlock;
mod semaphore;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
