//! `Errno`: the kernel's error numbers, with Go's methods and std's conversion.

use core::fmt;
use std::io;

/// A Linux error number, as a system call reports it (Go's `syscall.Errno`).
///
/// `Errno(0)` means success: the entry points return it when the call did not fail, and
/// [`Errno::is_ok`] tells. Every other value names an error; the known ones are the associated
/// constants ([`Errno::ENOENT`], ...), whose values come from `linux-raw-sys`.
///
/// ```
/// use goro::syscall::Errno;
///
/// let e = Errno::ENOENT;
/// assert_eq!(e.to_string(), "No such file or directory");
/// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
/// assert!(Errno::EAGAIN.timeout() && Errno::EAGAIN.temporary());
/// assert!(Errno(0).is_ok());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct Errno(pub u16);

/// Results in `[-MAX_ERRNO, -1]` are negated error numbers (the kernel's `IS_ERR_VALUE`).
const MAX_ERRNO: usize = 4095;

impl Errno {
    /// Splits a raw `rax` into a value or an error, by the kernel's convention: a result in
    /// `[-4095, -1]` (unsigned, `>= 0xffff_ffff_ffff_f001`) is a negated errno.
    #[inline(always)]
    pub(crate) fn check(rax: usize) -> Result<usize, Errno> {
        if rax >= MAX_ERRNO.wrapping_neg() {
            // The value is at most 4095, so it fits.
            Err(Errno(rax.wrapping_neg() as u16))
        } else {
            Ok(rax)
        }
    }

    /// True for `Errno(0)`, the value the entry points return when the call succeeded.
    #[inline]
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The number as `std::io::Error::raw_os_error` has it.
    #[inline]
    pub const fn raw_os_error(self) -> i32 {
        self.0 as i32
    }

    /// Go's `Timeout`: the operation may succeed if tried later (`EAGAIN`, `EWOULDBLOCK`,
    /// `ETIMEDOUT`).
    pub const fn timeout(self) -> bool {
        matches!(self, Errno::EAGAIN | Errno::ETIMEDOUT)
    }

    /// Go's `Temporary`: `EINTR`, `EMFILE`, `ENFILE`, or a [`timeout`](Errno::timeout).
    pub const fn temporary(self) -> bool {
        matches!(self, Errno::EINTR | Errno::EMFILE | Errno::ENFILE) || self.timeout()
    }
}

macro_rules! errnos {
    ($($name:ident $msg:literal,)*) => {
        impl Errno {
            $(
                #[doc = $msg]
                pub const $name: Errno = Errno(linux_raw_sys::errno::$name as u16);
            )*

            /// The symbolic name (`"ENOENT"`), or `None` for a number Linux does not define.
            /// Where two names share a number (`EAGAIN` / `EWOULDBLOCK`), the first is given.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $(Errno::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// The standard message, as `strerror(3)` gives it; `None` for an unknown number.
            pub const fn message(self) -> Option<&'static str> {
                match self {
                    $(Errno::$name => Some($msg),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM "Operation not permitted",
    ENOENT "No such file or directory",
    ESRCH "No such process",
    EINTR "Interrupted system call",
    EIO "Input/output error",
    ENXIO "No such device or address",
    E2BIG "Argument list too long",
    ENOEXEC "Exec format error",
    EBADF "Bad file descriptor",
    ECHILD "No child processes",
    EAGAIN "Resource temporarily unavailable",
    ENOMEM "Cannot allocate memory",
    EACCES "Permission denied",
    EFAULT "Bad address",
    ENOTBLK "Block device required",
    EBUSY "Device or resource busy",
    EEXIST "File exists",
    EXDEV "Invalid cross-device link",
    ENODEV "No such device",
    ENOTDIR "Not a directory",
    EISDIR "Is a directory",
    EINVAL "Invalid argument",
    ENFILE "Too many open files in system",
    EMFILE "Too many open files",
    ENOTTY "Inappropriate ioctl for device",
    ETXTBSY "Text file busy",
    EFBIG "File too large",
    ENOSPC "No space left on device",
    ESPIPE "Illegal seek",
    EROFS "Read-only file system",
    EMLINK "Too many links",
    EPIPE "Broken pipe",
    EDOM "Numerical argument out of domain",
    ERANGE "Numerical result out of range",
    EDEADLK "Resource deadlock avoided",
    ENAMETOOLONG "File name too long",
    ENOLCK "No locks available",
    ENOSYS "Function not implemented",
    ENOTEMPTY "Directory not empty",
    ELOOP "Too many levels of symbolic links",
    ENOMSG "No message of desired type",
    EIDRM "Identifier removed",
    ECHRNG "Channel number out of range",
    EL2NSYNC "Level 2 not synchronized",
    EL3HLT "Level 3 halted",
    EL3RST "Level 3 reset",
    ELNRNG "Link number out of range",
    EUNATCH "Protocol driver not attached",
    ENOCSI "No CSI structure available",
    EL2HLT "Level 2 halted",
    EBADE "Invalid exchange",
    EBADR "Invalid request descriptor",
    EXFULL "Exchange full",
    ENOANO "No anode",
    EBADRQC "Invalid request code",
    EBADSLT "Invalid slot",
    EBFONT "Bad font file format",
    ENOSTR "Device not a stream",
    ENODATA "No data available",
    ETIME "Timer expired",
    ENOSR "Out of streams resources",
    ENONET "Machine is not on the network",
    ENOPKG "Package not installed",
    EREMOTE "Object is remote",
    ENOLINK "Link has been severed",
    EADV "Advertise error",
    ESRMNT "Srmount error",
    ECOMM "Communication error on send",
    EPROTO "Protocol error",
    EMULTIHOP "Multihop attempted",
    EDOTDOT "RFS specific error",
    EBADMSG "Bad message",
    EOVERFLOW "Value too large for defined data type",
    ENOTUNIQ "Name not unique on network",
    EBADFD "File descriptor in bad state",
    EREMCHG "Remote address changed",
    ELIBACC "Can not access a needed shared library",
    ELIBBAD "Accessing a corrupted shared library",
    ELIBSCN ".lib section in a.out corrupted",
    ELIBMAX "Attempting to link in too many shared libraries",
    ELIBEXEC "Cannot exec a shared library directly",
    EILSEQ "Invalid or incomplete multibyte or wide character",
    ERESTART "Interrupted system call should be restarted",
    ESTRPIPE "Streams pipe error",
    EUSERS "Too many users",
    ENOTSOCK "Socket operation on non-socket",
    EDESTADDRREQ "Destination address required",
    EMSGSIZE "Message too long",
    EPROTOTYPE "Protocol wrong type for socket",
    ENOPROTOOPT "Protocol not available",
    EPROTONOSUPPORT "Protocol not supported",
    ESOCKTNOSUPPORT "Socket type not supported",
    EOPNOTSUPP "Operation not supported",
    EPFNOSUPPORT "Protocol family not supported",
    EAFNOSUPPORT "Address family not supported by protocol",
    EADDRINUSE "Address already in use",
    EADDRNOTAVAIL "Cannot assign requested address",
    ENETDOWN "Network is down",
    ENETUNREACH "Network is unreachable",
    ENETRESET "Network dropped connection on reset",
    ECONNABORTED "Software caused connection abort",
    ECONNRESET "Connection reset by peer",
    ENOBUFS "No buffer space available",
    EISCONN "Transport endpoint is already connected",
    ENOTCONN "Transport endpoint is not connected",
    ESHUTDOWN "Cannot send after transport endpoint shutdown",
    ETOOMANYREFS "Too many references: cannot splice",
    ETIMEDOUT "Connection timed out",
    ECONNREFUSED "Connection refused",
    EHOSTDOWN "Host is down",
    EHOSTUNREACH "No route to host",
    EALREADY "Operation already in progress",
    EINPROGRESS "Operation now in progress",
    ESTALE "Stale file handle",
    EUCLEAN "Structure needs cleaning",
    ENOTNAM "Not a XENIX named type file",
    ENAVAIL "No XENIX semaphores available",
    EISNAM "Is a named type file",
    EREMOTEIO "Remote I/O error",
    EDQUOT "Disk quota exceeded",
    ENOMEDIUM "No medium found",
    EMEDIUMTYPE "Wrong medium type",
    ECANCELED "Operation canceled",
    ENOKEY "Required key not available",
    EKEYEXPIRED "Key has expired",
    EKEYREVOKED "Key has been revoked",
    EKEYREJECTED "Key was rejected by service",
    EOWNERDEAD "Owner died",
    ENOTRECOVERABLE "State not recoverable",
    ERFKILL "Operation not possible due to RF-kill",
    EHWPOISON "Memory page has hardware error",
}

impl Errno {
    /// Another name for [`Errno::EAGAIN`].
    pub const EWOULDBLOCK: Errno = Errno(linux_raw_sys::errno::EWOULDBLOCK as u16);
    /// Another name for [`Errno::EDEADLK`].
    pub const EDEADLOCK: Errno = Errno(linux_raw_sys::errno::EDEADLOCK as u16);
}

impl fmt::Display for Errno {
    /// The `strerror(3)` message; `errno N` (as Go prints it) for a number Linux does not
    /// define.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => f.write_str(m),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    /// The same error as `io::Error::from_raw_os_error`, so `kind()` is std's mapping.
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_of_the_error_range() {
        assert_eq!(Errno::check(0), Ok(0));
        assert_eq!(Errno::check(4095), Ok(4095));
        assert_eq!(Errno::check(isize::MAX as usize), Ok(isize::MAX as usize));
        // -4096 is a value (an address just below the top), not an error.
        assert_eq!(
            Errno::check(4096usize.wrapping_neg()),
            Ok(4096usize.wrapping_neg())
        );
        assert_eq!(Errno::check(4095usize.wrapping_neg()), Err(Errno(4095)));
        assert_eq!(Errno::check(usize::MAX), Err(Errno(1)));
        assert_eq!(Errno::check(9usize.wrapping_neg()), Err(Errno::EBADF));
    }

    #[test]
    fn names_messages_and_aliases() {
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(Errno::EDEADLOCK, Errno::EDEADLK);
        assert_eq!(Errno::EAGAIN.name(), Some("EAGAIN"));
        assert_eq!(format!("{:?}", Errno::EBADF), "EBADF");
        assert_eq!(format!("{:?}", Errno(4000)), "Errno(4000)");
        assert_eq!(Errno(4000).to_string(), "errno 4000");
        assert_eq!(Errno(0).name(), None);
        assert!(!Errno::EPERM.is_ok());
    }

    #[test]
    fn go_classification() {
        for e in [Errno::EAGAIN, Errno::EWOULDBLOCK, Errno::ETIMEDOUT] {
            assert!(e.timeout() && e.temporary(), "{e:?}");
        }
        for e in [Errno::EINTR, Errno::EMFILE, Errno::ENFILE] {
            assert!(e.temporary() && !e.timeout(), "{e:?}");
        }
        for e in [Errno::ENOENT, Errno::ECONNRESET, Errno(0)] {
            assert!(!e.temporary() && !e.timeout(), "{e:?}");
        }
    }
}
