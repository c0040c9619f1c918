//! Files and directories in std's shape (Go's `os` package), on goro's system-call wrappers.
//!
//! `goro::fs` has the names and signatures of [`std::fs`] (`File`, `OpenOptions`, `read_dir`,
//! `metadata`, `read`, `write`, `create_dir_all`, `remove_dir_all`, ...) with
//! `std::io::Result` errors made from the errno. Unlike `std::fs`, every call goes through the
//! [`goro::syscall`](crate::syscall) `sys` wrappers, as Go's `os` goes through `syscall`: a
//! call that returns at once costs a few stores more than the bare system call, and a
//! goroutine that blocks in one (a slow disk, NFS) hands its processor to the others. No
//! [`blocking`](crate::blocking) scope to remember. On a plain thread they are plain calls.
//!
//! Regular files are not pollable, so they stay on the wrappers, as in Go.
//!
//! ```
//! // SAFETY: no goroutine keeps thread-local state across a switch.
//! let rt = unsafe { goro::Runtime::new() };
//! let dir = std::env::temp_dir().join(format!("goro-fs-doc-{}", std::process::id()));
//! let total = rt.run(move || -> std::io::Result<u64> {
//!     goro::fs::create_dir_all(dir.join("a/b"))?;
//!     goro::fs::write(dir.join("a/b/hello.txt"), "hello")?;
//!     assert_eq!(goro::fs::read_to_string(dir.join("a/b/hello.txt"))?, "hello");
//!     // One goroutine per entry, as Go code would.
//!     let sizes: Vec<_> = goro::fs::read_dir(dir.join("a/b"))?
//!         .map(|e| goro::spawn(move || e.and_then(|e| e.metadata()).map(|m| m.len())))
//!         .collect();
//!     let total = sizes.into_iter().map(|h| h.join().unwrap()).sum::<std::io::Result<u64>>();
//!     goro::fs::remove_dir_all(&dir)?;
//!     total
//! })?;
//! assert_eq!(total, 5);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Types: [`File`], [`OpenOptions`], [`Metadata`], [`FileType`], [`ReadDir`], [`DirEntry`]
//! are goro's; `Permissions` is std's (it is only a mode, and std lets it be built with
//! `PermissionsExt::from_mode`). std's Unix extension traits (`MetadataExt`, `FileTypeExt`,
//! `OpenOptionsExt`, `FileExt`, `DirEntryExt`) are implemented for goro's types, so the same
//! `use std::os::unix::fs::...` lines work.

mod file;
mod metadata;
mod read_dir;
mod remove_all;

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use file::{File, OpenOptions};
pub use metadata::{FileType, Metadata};
pub use read_dir::{DirEntry, ReadDir, read_dir};
pub use remove_all::remove_dir_all;
pub use std::fs::Permissions;

use linux_raw_sys::general::{AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, PATH_MAX};

use crate::syscall::{self, AT_FDCWD, Errno};

/// The metadata of `path`, following symbolic links (Go's `os.Stat`).
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    Metadata::statx(AT_FDCWD, path.as_ref(), 0)
}

/// The metadata of `path` itself, not following a final symbolic link (Go's `os.Lstat`).
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    Metadata::statx(AT_FDCWD, path.as_ref(), AT_SYMLINK_NOFOLLOW)
}

/// The whole contents of a file (Go's `os.ReadFile`).
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    // The size is a hint (a file may grow or lie, as /proc's do): read_to_end reads to EOF.
    let hint = f.metadata().map_or(0, |m| m.len());
    let mut buf = Vec::new();
    buf.try_reserve_exact(usize::try_from(hint).unwrap_or(0))
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// The whole contents of a file as a `String`; `InvalidData` if it is not UTF-8.
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Writes `contents` to `path`, creating or truncating it (Go's `os.WriteFile` with 0o666).
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let f = File::create(path)?;
    Ok(syscall::write_all(f.as_fd(), contents.as_ref())?)
}

/// Creates a directory with mode 0o777 before the umask (Go's `os.Mkdir`).
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    Ok(syscall::mkdir(path.as_ref(), 0o777)?)
}

/// Creates a directory and any missing parents (Go's `os.MkdirAll`); an existing directory is
/// success, an existing non-directory an error. Walks up to the first ancestor that exists,
/// then creates downwards: a loop, so a deep path costs no goroutine stack.
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    // Each `mkdir` fails with ENOENT while its parent is missing; `missing` collects those.
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if at.as_os_str().is_empty() {
            break;
        }
        match syscall::mkdir(at, 0o777) {
            Ok(()) => break,
            Err(Errno::ENOENT) => match at.parent() {
                Some(parent) => {
                    missing.push(at);
                    at = parent;
                }
                None => return Err(Errno::ENOENT.into()),
            },
            Err(_) if is_dir(at) => break,
            Err(e) => return Err(e.into()),
        }
    }
    for dir in missing.into_iter().rev() {
        match syscall::mkdir(dir, 0o777) {
            Ok(()) => {}
            Err(_) if is_dir(dir) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether `path` is a directory (following links); errors count as no.
fn is_dir(path: &Path) -> bool {
    metadata(path).is_ok_and(|m| m.is_dir())
}

/// Removes a file or symbolic link (Go's `os.Remove` for a non-directory).
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    Ok(syscall::unlink(path.as_ref())?)
}

/// Removes an empty directory.
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    Ok(syscall::unlinkat(AT_FDCWD, path.as_ref(), AT_REMOVEDIR)?)
}

/// Renames `from` to `to`, replacing `to` if it exists (Go's `os.Rename`).
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    Ok(syscall::rename(from.as_ref(), to.as_ref())?)
}

/// Makes `link` a hard link to `original` (Go's `os.Link`).
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    Ok(syscall::link(original.as_ref(), link.as_ref())?)
}

/// Makes `link` a symbolic link to `original` (Go's `os.Symlink`; std's
/// `std::os::unix::fs::symlink`).
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    Ok(syscall::symlink(original.as_ref(), link.as_ref())?)
}

/// The target of a symbolic link (Go's `os.Readlink`).
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    let mut buf = vec![0u8; 256];
    loop {
        let n = syscall::readlink(path, &mut buf)?;
        // A full buffer may have cut the target: try again with a bigger one.
        if n < buf.len() {
            buf.truncate(n);
            return Ok(PathBuf::from(OsString::from_vec(buf)));
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// Sets the permission bits of `path`, following links (Go's `os.Chmod`).
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    Ok(syscall::chmod(path.as_ref(), perm.mode())?)
}

/// Whether `path` exists, following links; errors other than "not found" (a permission
/// denied on the way) are errors, not `false` (std's `fs::exists`).
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    match metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// [`exists`] under the name of std's `Path::try_exists`.
pub fn try_exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    exists(path)
}

/// Copies the contents and permission bits of the regular file `from` to `to`, creating or
/// truncating `to`; returns the bytes copied. The kernel copies (`copy_file_range`) where it
/// can, and a read/write loop where it cannot (across file systems on old kernels, special
/// files).
///
/// A `to` that names the same file as `from` (the same path, a hard or symbolic link to it)
/// is `InvalidInput`, and the file is left as it was, as `cp` refuses "the same file" (std's
/// `fs::copy` truncates it to nothing and returns `Ok(0)`).
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let reader = File::open(from)?;
    let meta = reader.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the source path is neither a regular file nor a symlink to a regular file",
        ));
    }
    let perm = meta.permissions();
    // Opened without `O_TRUNC`: the destination is truncated only once it is known not to be
    // the source, whose contents the truncation would destroy before they were read.
    let writer = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(perm.mode())
        .open(to)?;
    let wmeta = writer.metadata()?;
    if (wmeta.dev(), wmeta.ino()) == (meta.dev(), meta.ino()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the source and destination are the same file",
        ));
    }
    if wmeta.is_file() {
        // What `O_TRUNC` would have done (it does nothing to a FIFO or a device either).
        writer.set_len(0)?;
        writer.set_permissions(perm)?;
    }
    copy_fds(&reader, &writer)
}

/// Copies from `reader`'s position to its end into `writer`.
fn copy_fds(reader: &File, writer: &File) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let (r, w) = (reader.as_fd(), writer.as_fd());
        match syscall::copy_file_range(r, None, w, None, 1 << 30, 0) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(Errno::EINTR) => {}
            // Not supported for this pair (EXDEV before 5.3, special files, old kernels) before
            // anything was copied: the portable loop.
            Err(
                Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EPERM,
            ) if total == 0 => {
                return read_write_copy(reader, writer);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The fallback of [`copy`]: a buffer at a time.
fn read_write_copy(reader: &File, writer: &File) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = syscall::read_full(reader.as_fd(), &mut buf)?;
        syscall::write_all(writer.as_fd(), &buf[..n])?;
        total += n as u64;
        if n < buf.len() {
            return Ok(total);
        }
    }
}

/// The absolute path of `path` with every symbolic link, `.` and `..` resolved (Go's
/// `filepath.EvalSymlinks` on `filepath.Abs`; realpath(3)). Every component must exist.
/// Resolved one component at a time with `lstat` and `readlink`; more than 40 links is
/// `ELOOP`, as for the kernel.
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    const MAX_LINKS: u32 = 40;
    let path = path.as_ref();
    if path.as_os_str().is_empty() {
        return Err(Errno::ENOENT.into());
    }
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        current_dir()?
    };
    // What is left to resolve, last component first.
    let mut todo: Vec<OsString> = components(path);
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            out.pop();
            continue;
        }
        out.push(&c);
        let meta = symlink_metadata(&out)?;
        if meta.is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::ELOOP.into());
            }
            let target = read_link(&out)?;
            out.pop();
            if target.is_absolute() {
                out = PathBuf::from("/");
            }
            todo.extend(components(&target));
        } else if !meta.is_dir() && !todo.is_empty() {
            return Err(Errno::ENOTDIR.into());
        }
    }
    Ok(out)
}

/// The pieces of `path` between slashes, reversed, for [`canonicalize`]'s stack. Empty and
/// `.` pieces stay: after a non-directory they make the path `ENOTDIR` (`file/`, `file/.`).
fn components(path: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = path
        .as_os_str()
        .as_bytes()
        .split(|&c| c == b'/')
        .map(|c| OsStr::from_bytes(c).to_owned())
        .collect();
    v.reverse();
    v
}

/// The working directory (Go's `os.Getwd`), through `getcwd`.
fn current_dir() -> io::Result<PathBuf> {
    let mut buf = vec![0u8; PATH_MAX as usize];
    let n = syscall::getcwd(&mut buf)?;
    // getcwd's length counts the NUL.
    buf.truncate(n.saturating_sub(1));
    if buf.first() != Some(&b'/') {
        // "(unreachable)/...": the working directory is outside this process's root.
        return Err(Errno::ENOENT.into());
    }
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}
