//! `syscalls!`: Go's `mksyscall.pl` as a `macro_rules!`. One line declares a call; the macro
//! generates the typed wrapper and an entry of the [`WRAPPERS`](super::WRAPPERS) table.
//!
//! ```text
//! sys    fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize = __NR_read;
//! sysnb  fn socket(domain: u32, ty: u32, proto: u32) -> OwnedFd = __NR_socket;
//! sysnoerr fn getpid() -> i32 = __NR_getpid;
//! unsafe sys fn mmap(...) -> usize = __NR_mmap;
//! ```
//!
//! - `sys`: a call that may block; the wrapper enters through `syscall` / `syscall6`, so the
//!   scheduler can hand the P to another thread while it blocks.
//! - `sysnb`: a call that never blocks; through `raw_syscall` / `raw_syscall6`.
//! - `sysnoerr`: a call that cannot fail; through `raw_syscall_no_error`, returning the value.
//! - `unsafe`: the wrapper is an `unsafe fn`; its doc comment states the contract.
//!
//! Arguments are converted by [`Arg`](super::arg::Arg) in declaration order, each into one or
//! two words (a slice is a pointer and a length); the result by [`Ret`](super::arg::Ret).
//! A declaration without `unsafe` is a promise, checked in review: with arguments of the
//! declared types, the call reads and writes only the memory those arguments borrow (within
//! their lengths), returns a fresh descriptor where it says `OwnedFd`, and closes none the
//! caller does not give up.

/// How a wrapper enters the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// May block: `syscall` / `syscall6`, which tell the scheduler.
    Sys,
    /// Never blocks: `raw_syscall` / `raw_syscall6`.
    Sysnb,
    /// Cannot fail: `raw_syscall_no_error`.
    Sysnoerr,
    /// Written by hand on top of the named call (`rename` on `renameat`).
    Wrapped(&'static str),
    /// A vDSO function, with the named system call as its fallback.
    Vdso,
}

/// One row of the table of wrappers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wrapper {
    /// The function's name in [`goro::syscall`](super).
    pub name: &'static str,
    /// How it enters the kernel.
    pub kind: Kind,
    /// The system call number it makes.
    pub nr: u32,
    /// Whether the function is `unsafe`.
    pub unsafe_: bool,
    /// Whether it is public (private ones serve hand-written wrappers).
    pub public: bool,
}

/// Whether a `vis` token sequence, stringified, is plain `pub`.
#[doc(hidden)]
pub const fn is_pub(vis: &str) -> bool {
    let v = vis.as_bytes();
    v.len() == 3 && v[0] == b'p' && v[1] == b'u' && v[2] == b'b'
}

macro_rules! syscalls {
    // Entry: a table name, then the declarations, munched one at a time.
    (table $table:ident; $($rest:tt)*) => {
        syscalls!(@munch $table [] $($rest)*);
    };
    (@munch $table:ident [$($rows:tt)*]) => {
        /// Rows of the table of wrappers, one per declaration.
        pub(crate) const $table: &[$crate::syscall::mksyscall::Wrapper] = &[$($rows)*];
    };
    (@munch $table:ident [$($rows:tt)*]
        $(#[$attr:meta])* unsafe $kind:ident $vis:vis fn $name:ident
        ($($p:ident : $t:ty),* $(,)?) $(-> $ret:ty)? = $nr:ident; $($rest:tt)*
    ) => {
        syscalls!(@fn $kind [$(#[$attr])*] [$vis unsafe] $name ($($p: $t),*) ($($ret)?) $nr);
        syscalls!(@munch $table [$($rows)* syscalls!(@row $kind $name $nr true ($vis)),] $($rest)*);
    };
    (@munch $table:ident [$($rows:tt)*]
        $(#[$attr:meta])* $kind:ident $vis:vis fn $name:ident
        ($($p:ident : $t:ty),* $(,)?) $(-> $ret:ty)? = $nr:ident; $($rest:tt)*
    ) => {
        syscalls!(@fn $kind [$(#[$attr])*] [$vis] $name ($($p: $t),*) ($($ret)?) $nr);
        syscalls!(@munch $table [$($rows)* syscalls!(@row $kind $name $nr false ($vis)),] $($rest)*);
    };

    (@row sys $name:ident $nr:ident $u:literal ($($vis:tt)*)) => {
        syscalls!(@row_of Sys $name $nr $u ($($vis)*))
    };
    (@row sysnb $name:ident $nr:ident $u:literal ($($vis:tt)*)) => {
        syscalls!(@row_of Sysnb $name $nr $u ($($vis)*))
    };
    (@row sysnoerr $name:ident $nr:ident $u:literal ($($vis:tt)*)) => {
        syscalls!(@row_of Sysnoerr $name $nr $u ($($vis)*))
    };
    (@row_of $kind:ident $name:ident $nr:ident $u:literal ($($vis:tt)*)) => {
        $crate::syscall::mksyscall::Wrapper {
            name: stringify!($name),
            kind: $crate::syscall::mksyscall::Kind::$kind,
            nr: linux_raw_sys::general::$nr,
            unsafe_: $u,
            public: $crate::syscall::mksyscall::is_pub(stringify!($($vis)*)),
        }
    };

    (@fn sysnoerr [$($attr:tt)*] [$($q:tt)*] $name:ident ($($p:ident : $t:ty),*) ($($ret:ty)?)
        $nr:ident
    ) => {
        $($attr)*
        // Always inlined: after the kernel returns, a `ret` to a frame older than the call
        // mispredicts (the return-stack predictor is refilled on the way back), ~35 ns here.
        #[inline(always)]
        $($q)* fn $name($($p: $t),*) $(-> $ret)? {
            #[allow(unused_mut, reason = "calls without arguments push nothing")]
            let mut w = $crate::syscall::arg::Words::new();
            $($crate::syscall::arg::Held::push(&$p, &mut w);)*
            // SAFETY: a safe declaration is the promise in this module's documentation; an
            // `unsafe` one hands its contract to its caller.
            let r1 = unsafe { $crate::syscall::entry::Via::sysnoerr(linux_raw_sys::general::$nr, &w) };
            // SAFETY: the declaration states the type of the result.
            unsafe { <syscalls!(@ret $($ret)?) as $crate::syscall::arg::Ret>::from_r1(r1) }
        }
    };
    (@fn $via:ident [$($attr:tt)*] [$($q:tt)*] $name:ident ($($p:ident : $t:ty),*) ($($ret:ty)?)
        $nr:ident
    ) => {
        $($attr)*
        // Always inlined: after the kernel returns, a `ret` to a frame older than the call
        // mispredicts (the return-stack predictor is refilled on the way back), ~35 ns here.
        #[inline(always)]
        $($q)* fn $name($($p: $t),*) -> Result<syscalls!(@ret $($ret)?), $crate::syscall::Errno> {
            $(let mut $p = $p;)*
            $(let $p = $crate::syscall::arg::Arg::hold(&mut $p)?;)*
            #[allow(unused_mut, reason = "calls without arguments push nothing")]
            let mut w = $crate::syscall::arg::Words::new();
            $($crate::syscall::arg::Held::push(&$p, &mut w);)*
            // SAFETY: a safe declaration is the promise in this module's documentation; an
            // `unsafe` one hands its contract to its caller. Held arguments outlive the call.
            let r1 = unsafe { $crate::syscall::entry::Via::$via(linux_raw_sys::general::$nr, &w) }?;
            // SAFETY: the declaration states the type of the result.
            Ok(unsafe { <syscalls!(@ret $($ret)?) as $crate::syscall::arg::Ret>::from_r1(r1) })
        }
    };
    (@ret) => { () };
    (@ret $ret:ty) => { $ret };
}
pub(crate) use syscalls;
