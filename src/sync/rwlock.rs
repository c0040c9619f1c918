//! Go's `sync.RWMutex` as [`RwLock<T>`].

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::mutex::RawMutex;
use crate::runtime::g::WaitReason;
use crate::runtime::sema::{semacquire, semrelease};

/// More readers than this at once is a fatal error (Go's `rwmutexMaxReaders`).
const MAX_READERS: i32 = 1 << 30;

/// Go's `RWMutex` without data.
///
/// A writer first takes `w` (excluding other writers), then subtracts `MAX_READERS` from
/// `reader_count`, which makes it negative: readers arriving after that park on `reader_sem`.
/// The readers already in are counted into `reader_wait`; the last of them to leave wakes the
/// writer on `writer_sem`. On unlock the writer adds `MAX_READERS` back and releases one
/// token per parked reader. So a waiting writer blocks new readers: writers are not starved.
struct RawRwLock {
    w: RawMutex,
    writer_sem: AtomicU32,
    reader_sem: AtomicU32,
    /// Readers in or waiting; `- MAX_READERS` while a writer holds or waits.
    reader_count: AtomicI32,
    /// Readers a waiting writer still waits for.
    reader_wait: AtomicI32,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            w: RawMutex::new(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    fn rlock(&self) {
        // AcqRel: the Acquire half synchronizes with the writer's Release in `unlock`.
        if self.reader_count.fetch_add(1, Ordering::AcqRel) + 1 < 0 {
            // A writer is pending: wait for it.
            semacquire(&self.reader_sem, false, WaitReason::SyncRWMutexRLock);
        }
    }

    fn try_rlock(&self) -> bool {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if c < 0 {
                return false;
            }
            match self.reader_count.compare_exchange_weak(
                c,
                c + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
    }

    fn runlock(&self) {
        // Release: our reads happen before the writer's (which acquires through
        // `reader_wait` or `reader_count`).
        let r = self.reader_count.fetch_sub(1, Ordering::AcqRel) - 1;
        if r < 0 {
            self.runlock_slow(r);
        }
    }

    #[cold]
    fn runlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            crate::runtime::throw(&["sync: RUnlock of unlocked RWMutex"]);
        }
        // A writer is pending; the last reader it waits for wakes it.
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            semrelease(&self.writer_sem, false);
        }
    }

    fn lock(&self) {
        // First, resolve competition with other writers.
        self.w.lock(WaitReason::SyncRWMutexLock);
        // Announce to readers there is a pending writer; `r` is the readers in.
        let r = self.reader_count.fetch_add(-MAX_READERS, Ordering::AcqRel);
        // Wait for active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            semacquire(&self.writer_sem, false, WaitReason::SyncRWMutexLock);
        }
    }

    fn try_lock(&self) -> bool {
        if !self.w.try_lock() {
            return false;
        }
        if self
            .reader_count
            .compare_exchange(0, -MAX_READERS, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.w.unlock();
            return false;
        }
        true
    }

    fn unlock(&self) {
        // Announce to readers there is no active writer. Release: synchronizes with the
        // readers' Acquire in `rlock`.
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::AcqRel) + MAX_READERS;
        if r >= MAX_READERS {
            crate::runtime::throw(&["sync: Unlock of unlocked RWMutex"]);
        }
        // Unblock the readers that arrived meanwhile.
        for _ in 0..r {
            semrelease(&self.reader_sem, false);
        }
        // Allow other writers to proceed.
        self.w.unlock();
    }
}

/// A reader-writer lock protecting a `T`: Go's `sync.RWMutex`, with std's interface.
///
/// Any number of readers, or one writer. A writer that asks blocks the readers that come
/// after it, so writers are not starved by a stream of readers; and as in Go, a reader must
/// not take a second read lock while holding one (a writer queued between the two would
/// deadlock them). No poisoning (see the [module doc](crate::sync)).
///
/// ```
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     let l = goro::sync::RwLock::new(vec![1]);
///     {
///         let (a, b) = (l.read(), l.read());
///         assert_eq!(a.len() + b.len(), 2);
///         assert!(l.try_write().is_none());
///     }
///     l.write().push(2);
///     assert_eq!(*l.read(), [1, 2]);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one writer at a time and `&T` to readers on any
// threads: std's bounds.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Holds an [`RwLock`] for reading; unlocks it when dropped. Not `Send`, like std's.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Holds an [`RwLock`] for writing; unlocks it when dropped. Not `Send`, like std's.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds the lock or waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.rlock();
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks for reading if no writer holds or waits for the lock now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_rlock().then(|| RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Locks for writing, waiting for the other writers and the readers in.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.lock();
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks for writing if nobody holds the lock now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw.try_lock().then(|| RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// The data, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: no writer touches the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.runlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: nobody else touches the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this the one borrow through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
