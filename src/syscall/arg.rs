//! How a typed argument becomes machine words, and a result word a typed value: the half of
//! Go's `mksyscall.pl` that is not text substitution.
//!
//! The [`syscalls!`](crate::syscall::linux) declarations generate code that calls
//! [`Arg::hold`] on every argument (the one step that can fail: a path with an interior NUL is
//! `EINVAL`, as in Go), pushes the held values' words in order, makes the call, and converts the
//! first result with [`Ret`].
//!
//! The conversions mirror Go's: a slice is a pointer and a length, an empty slice a pointer to a
//! zero byte; a path is a NUL-terminated copy (on the stack when it is short); a descriptor is
//! its number.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use std::ffi::{CString, OsStr, OsString};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::linux::errno::Errno;

use super::types::Sockaddr;

/// Types the kernel may fill with any bit pattern: plain integers and the kernel's `repr(C)`
/// structs of integers. A `&mut T` of such a type is a sound out-parameter for a safe wrapper.
///
/// ```
/// use goro::syscall::{Pod, Stat, fstat};
/// use std::os::fd::AsFd;
///
/// let mut st = Stat::zeroed();
/// fstat(std::io::stdin().as_fd(), &mut st).ok();
/// ```
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes is a valid `Self`, and `Self` has no
/// padding the kernel could leave uninitialised that a reader could observe as a niche.
pub unsafe trait Pod: Sized + 'static {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: all-zero is one of the bit patterns `Pod` makes valid.
        unsafe { core::mem::zeroed() }
    }
}

/// Declares types [`Pod`] and lets `&T` (a pointer the kernel reads) and `&mut T` (a pointer
/// it writes) be wrapper arguments. Per type rather than blanket, so that `&S` of a
/// [`Sockaddr`] can mean a pointer *and* a size.
macro_rules! pod {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: a plain integer, an array of `Pod`, or a kernel `repr(C)` struct (or union)
        // of integers and raw pointers from `linux-raw-sys`: every bit pattern is valid.
        unsafe impl $crate::syscall::arg::Pod for $t {}
        impl $crate::syscall::arg::Arg for &$t {
            type Held<'a> = $crate::syscall::arg::Ptr where Self: 'a;
            #[inline(always)]
            fn hold(&mut self) -> Result<$crate::syscall::arg::Ptr, $crate::syscall::Errno> {
                Ok($crate::syscall::arg::Ptr(*self as *const $t as usize))
            }
        }
        impl $crate::syscall::arg::Arg for &mut $t {
            type Held<'a> = $crate::syscall::arg::Ptr where Self: 'a;
            #[inline(always)]
            fn hold(&mut self) -> Result<$crate::syscall::arg::Ptr, $crate::syscall::Errno> {
                Ok($crate::syscall::arg::Ptr(&raw mut **self as usize))
            }
        }
    )* };
}
pub(crate) use pod;

pod!(u8, i8, u16, i16, u32, i32, u64, i64, usize, isize, [i32; 2]);

/// The words of one call: at most six.
#[doc(hidden)]
pub struct Words {
    w: [usize; 6],
    n: usize,
}

impl Words {
    #[inline(always)]
    pub fn new() -> Words {
        Words { w: [0; 6], n: 0 }
    }

    #[inline(always)]
    fn push(&mut self, x: usize) {
        // Declarations have at most six words; more is a bug in a declaration, and panics at
        // the first test that calls it.
        self.w[self.n] = x;
        self.n += 1;
    }

    /// The six words (zero past the last pushed) and how many were pushed.
    #[inline(always)]
    pub fn get(&self) -> ([usize; 6], usize) {
        (self.w, self.n)
    }
}

/// A held argument: pushes its machine words.
#[doc(hidden)]
pub trait Held {
    /// How many words [`Held::push`] appends: what a `None` of this type pushes as zeros.
    const WORDS: usize = 1;
    /// Appends this argument's words to `w`.
    fn push(&self, w: &mut Words);
}

/// A typed argument of a generated wrapper.
///
/// `hold` borrows the argument mutably for the length of the call, so a pointer it passes to
/// the kernel is derived from a unique borrow when the kernel may write through it.
#[doc(hidden)]
pub trait Arg {
    /// What the call reads: the argument's words, or a NUL-terminated copy of a path.
    type Held<'a>: Held
    where
        Self: 'a;
    /// Prepares the argument; the only failure is a path with an interior NUL (`EINVAL`).
    fn hold(&mut self) -> Result<Self::Held<'_>, Errno>;
}

macro_rules! copy_args {
    ($($t:ty),*) => { $(
        impl Held for $t {
            #[inline(always)]
            fn push(&self, w: &mut Words) {
                // Signed values are sign-extended, which is what the kernel expects of a
                // `long`; an `int` parameter reads only the low 32 bits.
                w.push(*self as usize);
            }
        }
        impl Arg for $t {
            type Held<'a> = $t;
            #[inline(always)]
            fn hold(&mut self) -> Result<$t, Errno> { Ok(*self) }
        }
    )* };
}
copy_args!(i32, u32, i64, u64, usize, isize);

impl Held for BorrowedFd<'_> {
    #[inline(always)]
    fn push(&self, w: &mut Words) {
        w.push(self.as_raw_fd() as usize);
    }
}
impl<'f> Arg for BorrowedFd<'f> {
    type Held<'a>
        = BorrowedFd<'f>
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<BorrowedFd<'f>, Errno> {
        Ok(*self)
    }
}

/// Pointer words, already taken from a live borrow.
#[doc(hidden)]
pub struct Ptr(pub(crate) usize);
/// A pointer and a length in elements.
#[doc(hidden)]
pub struct PtrLen(usize, usize);

impl Held for Ptr {
    #[inline(always)]
    fn push(&self, w: &mut Words) {
        w.push(self.0);
    }
}
impl Held for PtrLen {
    const WORDS: usize = 2;
    #[inline(always)]
    fn push(&self, w: &mut Words) {
        w.push(self.0);
        w.push(self.1);
    }
}

/// Go's `_zero`: where an empty slice points, so the kernel never sees a null pointer for one.
/// The length passed with it is zero, so the kernel neither reads nor writes it.
static ZERO: u8 = 0;

fn slice_words<T>(p: *const T, len: usize) -> PtrLen {
    PtrLen(
        if len == 0 {
            &ZERO as *const u8 as usize
        } else {
            p as usize
        },
        len,
    )
}

impl<T: Pod> Arg for &[T] {
    type Held<'a>
        = PtrLen
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<PtrLen, Errno> {
        Ok(slice_words(self.as_ptr(), self.len()))
    }
}
impl<T: Pod> Arg for &mut [T] {
    type Held<'a>
        = PtrLen
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<PtrLen, Errno> {
        Ok(slice_words(self.as_mut_ptr(), self.len()))
    }
}
impl<T: Held> Held for Option<T> {
    const WORDS: usize = T::WORDS;
    /// `None` is the null pointer (and a zero length).
    #[inline(always)]
    fn push(&self, w: &mut Words) {
        match self {
            Some(x) => x.push(w),
            None => (0..T::WORDS).for_each(|_| w.push(0)),
        }
    }
}
impl<T: Arg> Arg for Option<T> {
    type Held<'a>
        = Option<T::Held<'a>>
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<Self::Held<'_>, Errno> {
        self.as_mut().map(Arg::hold).transpose()
    }
}

impl<S: Sockaddr> Arg for &S {
    type Held<'a>
        = PtrLen
    where
        Self: 'a;
    /// The address and its size, as `bind`, `connect` and `sendto` take them.
    #[inline(always)]
    fn hold(&mut self) -> Result<PtrLen, Errno> {
        Ok(PtrLen(*self as *const S as usize, size_of::<S>()))
    }
}

impl Arg for &[IoSlice<'_>] {
    type Held<'a>
        = PtrLen
    where
        Self: 'a;
    /// std guarantees `IoSlice` is ABI-compatible with `struct iovec` on Unix.
    #[inline(always)]
    fn hold(&mut self) -> Result<PtrLen, Errno> {
        Ok(slice_words(self.as_ptr(), self.len()))
    }
}
impl Arg for &mut [IoSliceMut<'_>] {
    type Held<'a>
        = PtrLen
    where
        Self: 'a;
    /// std guarantees `IoSliceMut` is ABI-compatible with `struct iovec` on Unix.
    #[inline(always)]
    fn hold(&mut self) -> Result<PtrLen, Errno> {
        Ok(slice_words(self.as_mut_ptr(), self.len()))
    }
}

/// Raw pointers: only `unsafe` declarations take them, whose callers vouch for them.
impl<T> Arg for *const T {
    type Held<'a>
        = Ptr
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<Ptr, Errno> {
        Ok(Ptr(*self as usize))
    }
}
impl<T> Arg for *mut T {
    type Held<'a>
        = Ptr
    where
        Self: 'a;
    #[inline(always)]
    fn hold(&mut self) -> Result<Ptr, Errno> {
        Ok(Ptr(*self as usize))
    }
}

/// A string the kernel reads NUL-terminated: a path, or a name (of an extended attribute, a
/// memfd). `&str`, `&Path`, `&OsStr`, `&CStr` and their owned forms.
///
/// ```
/// // Any of these names the same file:
/// goro::syscall::access("/", 0).unwrap();
/// goro::syscall::access(std::path::Path::new("/"), 0).unwrap();
/// goro::syscall::access(c"/", 0).unwrap();
/// // An interior NUL cannot be passed to the kernel.
/// assert_eq!(goro::syscall::access("a\0b", 0), Err(goro::syscall::Errno::EINVAL));
/// ```
pub trait PathArg: Arg {
    /// The bytes of the path, without a terminating NUL (a `&CStr` keeps its own).
    fn path_bytes(&self) -> PathBytes<'_>;
}

/// A path's bytes, already NUL-terminated or not.
pub enum PathBytes<'a> {
    /// Bytes that still need a terminating NUL.
    Plain(&'a [u8]),
    /// Already a C string.
    Terminated(&'a CStr),
}

macro_rules! path_args {
    ($($t:ty => |$s:ident| $e:expr),* $(,)?) => { $(
        impl PathArg for $t {
            #[inline]
            fn path_bytes(&self) -> PathBytes<'_> { let $s = self; $e }
        }
        impl Arg for $t {
            type Held<'a> = CPath<'a> where Self: 'a;
            #[inline]
            fn hold(&mut self) -> Result<CPath<'_>, Errno> {
                match self.path_bytes() {
                    PathBytes::Terminated(c) => Ok(CPath::Borrowed(c)),
                    PathBytes::Plain(b) => c_path(b),
                }
            }
        }
    )* };
}
path_args! {
    &str => |s| PathBytes::Plain(s.as_bytes()),
    String => |s| PathBytes::Plain(s.as_bytes()),
    &String => |s| PathBytes::Plain(s.as_bytes()),
    &Path => |s| PathBytes::Plain(s.as_os_str().as_bytes()),
    PathBuf => |s| PathBytes::Plain(s.as_os_str().as_bytes()),
    &PathBuf => |s| PathBytes::Plain(s.as_os_str().as_bytes()),
    &OsStr => |s| PathBytes::Plain(s.as_bytes()),
    OsString => |s| PathBytes::Plain(s.as_bytes()),
    &OsString => |s| PathBytes::Plain(s.as_bytes()),
    &CStr => |s| PathBytes::Terminated(s),
    CString => |s| PathBytes::Terminated(s.as_c_str()),
    &CString => |s| PathBytes::Terminated(s.as_c_str()),
}

/// Paths up to this many bytes are copied to the stack; longer ones to the heap.
const STACK_PATH: usize = 255;

/// A path held NUL-terminated for the length of a call.
#[doc(hidden)]
#[allow(
    clippy::large_enum_variant,
    reason = "the stack copy is the point: no allocation for short paths"
)]
pub enum CPath<'a> {
    /// The caller's own C string.
    Borrowed(&'a CStr),
    /// A short path copied to the stack with its NUL.
    Stack([MaybeUninit<u8>; STACK_PATH + 1]),
    /// A long path copied to the heap.
    Heap(CString),
}

impl Held for CPath<'_> {
    #[inline(always)]
    fn push(&self, w: &mut Words) {
        let p: *const u8 = match self {
            CPath::Borrowed(c) => c.as_ptr().cast(),
            CPath::Stack(buf) => buf.as_ptr().cast(),
            CPath::Heap(c) => c.as_ptr().cast(),
        };
        w.push(p as usize);
    }
}

/// Makes a NUL-terminated copy of `bytes` (Go's `BytePtrFromString`); an interior NUL is
/// `EINVAL`, as in Go.
fn c_path(bytes: &[u8]) -> Result<CPath<'static>, Errno> {
    if bytes.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if bytes.len() <= STACK_PATH {
        let mut buf = [MaybeUninit::<u8>::uninit(); STACK_PATH + 1];
        // SAFETY: `bytes` fits with a byte to spare; `MaybeUninit<u8>` has `u8`'s layout and
        // the two buffers do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.as_mut_ptr().cast(), bytes.len());
        }
        buf[bytes.len()] = MaybeUninit::new(0);
        Ok(CPath::Stack(buf))
    } else {
        CString::new(bytes)
            .map(CPath::Heap)
            .map_err(|_| Errno::EINVAL)
    }
}

/// Converts the first result word into the wrapper's return type.
#[doc(hidden)]
pub trait Ret {
    /// # Safety
    /// `r1` is the successful result of the call the declaration names, whose result the
    /// declaration says is a `Self`.
    unsafe fn from_r1(r1: usize) -> Self;
}

impl Ret for () {
    #[inline(always)]
    unsafe fn from_r1(_: usize) {}
}

macro_rules! int_rets {
    ($($t:ty),*) => { $(
        impl Ret for $t {
            #[inline(always)]
            unsafe fn from_r1(r1: usize) -> $t {
                // The kernel's `long` truncated to the declared width, as C's return types are.
                r1 as $t
            }
        }
    )* };
}
int_rets!(i32, u32, i64, usize);

impl Ret for OwnedFd {
    #[inline(always)]
    unsafe fn from_r1(r1: usize) -> OwnedFd {
        // SAFETY: a declaration returning `OwnedFd` names a call whose success value is a new
        // descriptor that nothing else owns (the caller's contract).
        unsafe { OwnedFd::from_raw_fd(r1 as i32) }
    }
}
