//! Goroutine-local storage: [`local!`](crate::local!) and [`LocalKey`]. What `thread_local!` is
//! to a thread, this is to a goroutine, which may run on a different thread after any runtime
//! call: each goroutine has its own value of each key, made on first use and dropped when the
//! goroutine ends. On a thread that is not a goroutine, each thread has its own.

use core::any::Any;
use core::cell::UnsafeCell;

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
            // SAFETY: this thread's list; each borrow ends within the call, as above.
            None => THREAD.with(|t| Locals::get_or_init(|| unsafe { &mut *t.get() }, key, make)),
        };
        // SAFETY: `value` was made from a `T` for this key, and lives until the goroutine (or
        // thread) ends, which it cannot while it runs `f`; only shared references are made.
        f(unsafe { &*value.cast::<T>() })
    }
}

thread_local! {
    /// The values of a thread that is not a goroutine. A plain thread never changes threads,
    /// so a thread-local is sound here.
    static THREAD: UnsafeCell<Locals> = UnsafeCell::new(Locals::default());
}

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

    /// Drops every value, including those destructors make anew (as std does for
    /// thread-locals, within reason: a destructor that keeps making values runs for ever).
    pub(crate) fn clear(mut list: impl FnMut() -> *mut Locals) {
        loop {
            // SAFETY: the caller's list, borrowed only for the take.
            let taken = core::mem::take(unsafe { &mut (*list()).0 });
            if taken.is_empty() {
                return;
            }
            for (_, v) in taken {
                // SAFETY: made by `Box::into_raw` in `get_or_init`, taken out of the list.
                drop(unsafe { Box::from_raw(v) });
            }
        }
    }
}

/// Drops the calling goroutine's values, as it ends (before its result is delivered, as a
/// thread's locals are dropped before `join` returns).
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
