//! Goroutine-local storage: [`local!`](crate::local!) and [`LocalKey`]. What `thread_local!` is
//! to a thread, this is to a goroutine, which may run on a different thread after any runtime
//! call: each goroutine has its own value of each key, made on first use and dropped when the
//! goroutine ends. On a thread that is not a goroutine, each thread has its own.
//!
//! A value's destructor that panics as its goroutine ends makes that the goroutine's panic
//! (its [`JoinHandle::join`](crate::JoinHandle::join) returns the payload) unless the
//! goroutine panicked already; the other values are dropped all the same. On a plain thread
//! it aborts the process, as a panic in a `thread_local!` destructor does.

use core::any::Any;
use core::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::runtime::proc::enter;

/// Declares goroutine-local statics of type [`LocalKey`].
///
/// ```
/// use std::cell::Cell;
///
/// goro::local! {
///     /// Requests this goroutine has served.
///     static SERVED: Cell<u32> = Cell::new(0);
/// }
///
/// // SAFETY: no goroutine keeps thread-local state across a switch.
/// let rt = unsafe { goro::Runtime::new() };
/// rt.run(|| {
///     SERVED.with(|s| s.set(s.get() + 1));
///     goro::yield_now(); // may resume on another thread: the value comes along
///     let other = goro::spawn(|| SERVED.with(|s| s.get())).join().unwrap();
///     assert_eq!((SERVED.with(|s| s.get()), other), (1, 0));
/// });
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn init() -> $t {
                $init
            }
            init
        });
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// A goroutine-local value, declared with [`local!`](crate::local!).
///
/// The value must be `Send`: the goroutine that owns it may carry it to another thread.
pub struct LocalKey<T: Send + 'static> {
    init: fn() -> T,
}

impl<T: Send + 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init }
    }

    /// Calls `f` with the calling goroutine's value (or thread's, outside a goroutine), made
    /// by the key's initializer on first use. `f` may switch goroutines and use other keys.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self as *const LocalKey<T> as usize;
        let make = || Box::new((self.init)()) as Box<dyn Any + Send>;
        let value = match enter() {
            Some(rt) => {
                let g = rt.g();
                drop(rt);
                // SAFETY: the running goroutine owns its fields; each borrow ends within the
                // call, before the initializer or `f` runs.
                Locals::get_or_init(|| unsafe { &mut g.owned().locals }, key, make)
            }
            None => {
                let list = thread_list();
                if list.is_null() {
                    // The thread has dropped its values (this is another thread-local's
                    // destructor, run after): a value for this call alone.
                    return f(&(self.init)());
                }
                // SAFETY: this thread's list; each borrow ends within the call, as above.
                Locals::get_or_init(|| unsafe { &mut *list }, key, make)
            }
        };
        // SAFETY: `value` was made from a `T` for this key, and lives until the goroutine (or
        // thread) ends, which it cannot while it runs `f`; only shared references are made.
        f(unsafe { &*value.cast::<T>() })
    }
}

thread_local! {
    /// The values of a thread that is not a goroutine, made at its first `with` (null before,
    /// and after [`ThreadExit`] dropped them). A plain thread never changes threads, so a
    /// thread-local is sound here. It has no destructor, so the destructors of the values (and
    /// of other thread-locals) still reach it while the thread ends.
    static THREAD: Cell<*mut Locals> = const { Cell::new(core::ptr::null_mut()) };
    /// Drops the thread's values when it ends.
    static EXIT: ThreadExit = const { ThreadExit };
}

/// Drops a plain thread's values as it ends; values their destructors make meanwhile go to
/// the same list and are dropped in turn (see [`Locals::clear`]).
struct ThreadExit;

impl Drop for ThreadExit {
    fn drop(&mut self) {
        let list = THREAD.with(Cell::get);
        Locals::clear(|| list);
        THREAD.with(|t| t.set(core::ptr::null_mut()));
        // SAFETY: made by `thread_list` and emptied above; no `with` refers to it any more.
        drop(unsafe { Box::from_raw(list) });
    }
}

/// The calling thread's list, made at the first call (with [`EXIT`] registered to drop it);
/// null once [`ThreadExit`] has run.
fn thread_list() -> *mut Locals {
    THREAD.with(|t| {
        if t.get().is_null() && EXIT.try_with(|_| ()).is_ok() {
            t.set(Box::into_raw(Box::default()));
        }
        t.get()
    })
}

/// How many times [`Locals::clear`] drops what the list holds: values the destructors of
/// earlier ones made (using a key again) are dropped in the next round. After the last,
/// what is left is leaked, as POSIX leaves thread-specific data after
/// `PTHREAD_DESTRUCTOR_ITERATIONS` (4) rounds: a destructor that uses its own key would
/// otherwise make and drop values for ever.
const DROP_ROUNDS: usize = 4;

/// One goroutine's (or thread's) values: key address and value. Raw pointers rather than
/// boxes, so that growing the list moves no box while `with` lends out a value.
#[derive(Default)]
pub(crate) struct Locals(Vec<(usize, *mut (dyn Any + Send))>);

// SAFETY: the values are `Send`, and owned by the list.
unsafe impl Send for Locals {}

impl Locals {
    /// The value of `key`, made by `make` if there is none. `list` lends the list for short,
    /// non-overlapping moments: `make` may itself use other keys.
    fn get_or_init<'a>(
        mut list: impl FnMut() -> &'a mut Locals,
        key: usize,
        make: impl FnOnce() -> Box<dyn Any + Send>,
    ) -> *mut (dyn Any + Send) {
        if let Some(&(_, v)) = list().0.iter().find(|(k, _)| *k == key) {
            return v;
        }
        let fresh = Box::into_raw(make());
        let l = list();
        // The initializer may have used this key itself: the first value made stays.
        if let Some(&(_, v)) = l.0.iter().find(|(k, _)| *k == key) {
            // SAFETY: made just above and never shared.
            drop(unsafe { Box::from_raw(fresh) });
            return v;
        }
        l.0.push((key, fresh));
        fresh
    }

    /// Drops every value, including those destructors make anew, for [`DROP_ROUNDS`]
    /// rounds; leaks what the last round's destructors made.
    ///
    /// A destructor that panics does not keep the other values from being dropped: the first
    /// panic goes on once they all have been (later ones are dropped quietly).
    pub(crate) fn clear(mut list: impl FnMut() -> *mut Locals) {
        let mut first: Option<Box<dyn Any + Send>> = None;
        for _ in 0..DROP_ROUNDS {
            // SAFETY: the caller's list, borrowed only for the take.
            let taken = core::mem::take(unsafe { &mut (*list()).0 });
            if taken.is_empty() {
                break;
            }
            for (_, v) in taken {
                // SAFETY: made by `Box::into_raw` in `get_or_init`, taken out of the list.
                let v = unsafe { Box::from_raw(v) };
                if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
                    match first {
                        None => first = Some(p),
                        Some(_) => crate::task::drop_quietly(p),
                    }
                }
            }
        }
        // Values made in the last round are leaked (the list forgets their pointers).
        // SAFETY: as above.
        drop(core::mem::take(unsafe { &mut (*list()).0 }));
        if let Some(p) = first {
            resume_unwind(p);
        }
    }
}

/// Drops the calling goroutine's values, as it ends (before its result is delivered, as a
/// thread's locals are dropped before `join` returns). A destructor's panic comes out here,
/// after all the values are gone, for the goroutine's entry to report.
pub(crate) fn clear_current() {
    let Some(rt) = enter() else { return };
    let g = rt.g();
    drop(rt);
    // SAFETY: the running goroutine owns its fields; borrowed only for each take.
    Locals::clear(|| unsafe { &raw mut g.owned().locals });
}

impl Drop for Locals {
    fn drop(&mut self) {
        let me: *mut Locals = self;
        Locals::clear(|| me);
    }
}
