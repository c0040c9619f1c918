//! `read_dir` on `getdents64` (Go's `os.ReadDir` / `File.ReadDir`, std's `ReadDir`).

use std::ffi::{CStr, CString, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use linux_raw_sys::general::{AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_DIRECTORY, O_RDONLY};

use super::{FileType, Metadata};
use crate::syscall::{self, Dirent, Errno, PathArg, parse_dirent};

/// The `getdents64` buffer (Go's `blockSize`).
const BUF: usize = 8192;

/// Opens a directory for reading its entries, relative to `dir`.
pub(super) fn open_dir(
    dir: BorrowedFd<'_>,
    path: impl PathArg,
    extra: u32,
) -> Result<OwnedFd, Errno> {
    syscall::openat(dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra, 0)
}

/// The entries of an open directory, one `getdents64` buffer at a time, without `.` and `..`.
pub(super) struct Entries {
    buf: Box<[u8]>,
    /// The parsed part of `buf[..len]`; `pos == len` asks for the next buffer.
    pos: usize,
    len: usize,
    /// Set by the last (empty or failed) `getdents64`.
    done: bool,
}

impl Entries {
    pub(super) fn new() -> Entries {
        Entries {
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            done: false,
        }
    }

    /// The next entry of `fd`, the directory these entries are read from.
    pub(super) fn next(&mut self, fd: BorrowedFd<'_>) -> Option<io::Result<Dirent<'_>>> {
        // Find the next record first, then borrow it: a borrow returned from inside the loop
        // would keep `buf` borrowed across the refill.
        let start = loop {
            if self.pos == self.len {
                if self.done {
                    return None;
                }
                match syscall::getdents64(fd, &mut self.buf) {
                    Ok(0) => {
                        self.done = true;
                        return None;
                    }
                    Ok(n) => (self.pos, self.len) = (0, n),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.into()));
                    }
                }
            }
            let mut it = parse_dirent(&self.buf[self.pos..self.len]);
            let (start, dot) = (self.pos, it.next()?.map(|d| d.is_dot()));
            self.pos += it.consumed();
            match dot {
                Ok(true) => {}
                Ok(false) => break start,
                Err(e) => {
                    (self.pos, self.done) = (self.len, true);
                    return Some(Err(e.into()));
                }
            }
        };
        parse_dirent(&self.buf[start..self.len])
            .next()
            .map(|d| d.map_err(io::Error::from))
    }
}

/// An open directory and the path it was opened by, shared by its entries.
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// The entries of a directory, `.` and `..` left out (std's `ReadDir`). Each entry's type
/// comes from `getdents64` where the file system gives it, so walking a tree needs a `stat`
/// only for what [`DirEntry::metadata`] asks.
pub struct ReadDir {
    dir: Arc<Dir>,
    entries: Entries,
}

/// Opens `path` and returns an iterator over its entries (std's `read_dir`; Go's
/// `os.ReadDir` without the sort).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("goro-read-dir-doc-{}", std::process::id()));
/// goro::fs::create_dir_all(dir.join("sub"))?;
/// goro::fs::write(dir.join("file"), b"x")?;
/// let mut names: Vec<_> = goro::fs::read_dir(&dir)?
///     .map(|e| e.map(|e| e.file_name()))
///     .collect::<std::io::Result<_>>()?;
/// names.sort();
/// assert_eq!(names, ["file", "sub"]);
/// goro::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let fd = open_dir(syscall::AT_FDCWD, path, 0)?;
    Ok(ReadDir {
        dir: Arc::new(Dir {
            fd,
            path: path.to_path_buf(),
        }),
        entries: Entries::new(),
    })
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        let d = match self.entries.next(self.dir.fd.as_fd())? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(DirEntry {
            ino: d.ino,
            ty: FileType::from_dirent(d.ty),
            name: CString::from(d.name),
            dir: Arc::clone(&self.dir),
        }))
    }
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ReadDir").field(&self.dir.path).finish()
    }
}

/// One entry of a [`ReadDir`] (std's `DirEntry`; Go's `os.DirEntry`). It keeps its directory
/// open, so `metadata` and `file_type` are `fstatat` relative to it, not a path lookup.
pub struct DirEntry {
    dir: Arc<Dir>,
    name: CString,
    ino: u64,
    /// From the record's `d_type`; `None` for `DT_UNKNOWN`.
    ty: Option<FileType>,
}

impl DirEntry {
    /// The directory's path joined with the entry's name.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(self.file_name())
    }

    /// The entry's name.
    pub fn file_name(&self) -> OsString {
        OsString::from_vec(self.name.as_bytes().to_vec())
    }

    /// The entry's name, as the kernel returned it.
    pub fn file_name_cstr(&self) -> &CStr {
        &self.name
    }

    /// The metadata of the entry itself, not following a symbolic link (as std's).
    pub fn metadata(&self) -> io::Result<Metadata> {
        Metadata::statx(
            self.dir.fd.as_fd(),
            self.name.as_c_str(),
            AT_SYMLINK_NOFOLLOW,
        )
    }

    /// The entry's type: from the directory record, or (`DT_UNKNOWN`) from [`metadata`](Self::metadata).
    pub fn file_type(&self) -> io::Result<FileType> {
        match self.ty {
            Some(ty) => Ok(ty),
            None => self.metadata().map(|m| m.file_type()),
        }
    }
}

impl DirEntryExt for DirEntry {
    /// The inode number from the directory record.
    fn ino(&self) -> u64 {
        self.ino
    }
}

impl std::fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}
