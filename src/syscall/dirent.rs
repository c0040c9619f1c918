//! Go's `ParseDirent`: the entries of a [`getdents64`](super::getdents64) buffer, as a safe
//! iterator that checks every record's length before it reads the record.

use core::ffi::CStr;
use core::fmt;
use core::mem::offset_of;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use linux_raw_sys::general::linux_dirent64 as Raw;

/// Where a record's fields start (`struct linux_dirent64`, from `linux-raw-sys`).
const INO: usize = offset_of!(Raw, d_ino);
const OFF: usize = offset_of!(Raw, d_off);
const RECLEN: usize = offset_of!(Raw, d_reclen);
const TYPE: usize = offset_of!(Raw, d_type);
const NAME: usize = offset_of!(Raw, d_name);

/// One directory entry, borrowed from the buffer it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// The inode number (`d_ino`).
    pub ino: u64,
    /// The position of the next entry, for `lseek` (`d_off`).
    pub off: i64,
    /// The file type (`DT_REG`, `DT_DIR`, ...; `DT_UNKNOWN` where the file system does not say).
    pub ty: u8,
    /// The name, without its directory.
    pub name: &'a CStr,
}

impl<'a> Dirent<'a> {
    /// The name as an `OsStr`.
    pub fn name_os(&self) -> &'a OsStr {
        OsStr::from_bytes(self.name.to_bytes())
    }

    /// Whether this is `.` or `..`, which Go's `ParseDirent` skips.
    pub fn is_dot(&self) -> bool {
        matches!(self.name.to_bytes(), b"." | b"..")
    }
}

/// A malformed record in a `getdents64` buffer: where it starts and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirentError {
    /// The offset of the record in the buffer.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for DirentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed directory entry at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for DirentError {}

impl From<DirentError> for std::io::Error {
    /// `InvalidData`, carrying the [`DirentError`].
    fn from(e: DirentError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// The entries of `buf`, the bytes a `getdents64` call filled (Go's `ParseDirent`), `.` and
/// `..` included (skip them with [`Dirent::is_dot`]).
///
/// A malformed record (a length too short for the header and a NUL, past the end of the
/// buffer, or a name without a NUL) yields one `Err` and ends the iteration.
///
/// ```
/// use std::os::fd::AsFd;
/// use goro::syscall::{self, parse_dirent};
///
/// let dir = syscall::open("/", linux_raw_sys::general::O_DIRECTORY, 0)?;
/// let mut buf = [0u8; 4096];
/// let n = syscall::getdents64(dir.as_fd(), &mut buf)?;
/// let names: Vec<_> = parse_dirent(&buf[..n]).map(|e| e.unwrap().name_os()).collect();
/// assert!(names.iter().any(|n| *n == "."));
/// # Ok::<(), goro::syscall::Errno>(())
/// ```
pub fn parse_dirent(buf: &[u8]) -> Dirents<'_> {
    Dirents { buf, pos: 0 }
}

/// The iterator of [`parse_dirent`].
#[derive(Clone, Debug)]
pub struct Dirents<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Dirents<'_> {
    /// How many bytes of the buffer the entries returned so far took (Go's `consumed`).
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Result<Dirent<'a>, DirentError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let offset = self.pos;
        let fail = |reason| Some(Err(DirentError { offset, reason }));
        // After an error the iterator is exhausted: nothing past a bad length can be trusted.
        self.pos = self.buf.len();
        let Some(reclen) = rest.get(RECLEN..RECLEN + 2) else {
            return fail("truncated header");
        };
        let reclen = u16::from_ne_bytes([reclen[0], reclen[1]]) as usize;
        if reclen < NAME + 1 {
            return fail("record length shorter than the header");
        }
        let Some(rec) = rest.get(..reclen) else {
            return fail("record length past the end of the buffer");
        };
        let Ok(name) = CStr::from_bytes_until_nul(&rec[NAME..]) else {
            return fail("name without a terminating NUL");
        };
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&rec[at..at + 8]);
            w
        };
        self.pos = offset + reclen;
        Some(Ok(Dirent {
            ino: u64::from_ne_bytes(word(INO)),
            off: i64::from_ne_bytes(word(OFF)),
            ty: rec[TYPE],
            name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the kernel lays it out, padded to 8 bytes.
    fn record(ino: u64, ty: u8, name: &[u8]) -> Vec<u8> {
        let len = (NAME + name.len() + 1).next_multiple_of(8);
        let mut r = vec![0u8; len];
        r[INO..INO + 8].copy_from_slice(&ino.to_ne_bytes());
        r[OFF..OFF + 8].copy_from_slice(&7i64.to_ne_bytes());
        r[RECLEN..RECLEN + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        r[TYPE] = ty;
        r[NAME..NAME + name.len()].copy_from_slice(name);
        r
    }

    #[test]
    fn parses_records() {
        let mut buf = record(1, 4, b".");
        buf.extend(record(99, 8, b"a\xffb"));
        let got: Vec<_> = parse_dirent(&buf).collect();
        assert_eq!(got.len(), 2);
        let e = got[1].unwrap();
        assert_eq!((e.ino, e.off, e.ty), (99, 7, 8));
        assert_eq!(e.name.to_bytes(), b"a\xffb");
        assert!(got[0].unwrap().is_dot() && !e.is_dot());
    }

    #[test]
    fn malformed_lengths_end_in_one_error() {
        let good = record(1, 8, b"file");
        for (bad, reason) in [
            (0u16, "record length shorter than the header"),
            (NAME as u16, "record length shorter than the header"),
            (
                good.len() as u16 + 8,
                "record length past the end of the buffer",
            ),
        ] {
            let mut buf = good.clone();
            buf.extend(&good);
            let at = good.len();
            buf[at + RECLEN..at + RECLEN + 2].copy_from_slice(&bad.to_ne_bytes());
            let got: Vec<_> = parse_dirent(&buf).collect();
            assert_eq!(got.len(), 2, "{bad}");
            assert!(got[0].is_ok());
            assert_eq!(got[1], Err(DirentError { offset: at, reason }));
        }
        // A name that runs to the end of its record without a NUL.
        let mut buf = record(1, 8, b"abcde");
        let len = buf.len();
        buf[NAME..len].fill(b'x');
        assert_eq!(
            parse_dirent(&buf).next(),
            Some(Err(DirentError {
                offset: 0,
                reason: "name without a terminating NUL"
            }))
        );
        // A buffer cut inside the header.
        assert!(parse_dirent(&good[..RECLEN + 1]).next().unwrap().is_err());
        assert_eq!(parse_dirent(&[]).next(), None);
    }
}
