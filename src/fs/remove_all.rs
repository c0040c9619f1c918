//! `remove_dir_all` relative to directory descriptors (Go's `removeall_at.go`, std's
//! `remove_dir_all_modern`): each directory is opened `O_NOFOLLOW` relative to its parent's
//! descriptor and its entries removed with `unlinkat` relative to its own, so a directory
//! swapped for a symbolic link mid-walk is unlinked, never followed out of the tree.
//!
//! The walk is a loop over an explicit stack of open directories, not recursion: a deep tree
//! costs heap and one descriptor per level, not goroutine stack.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use linux_raw_sys::general::{AT_REMOVEDIR, DT_DIR, DT_UNKNOWN, O_NOFOLLOW};

use super::read_dir::{Entries, open_dir};
use crate::syscall::{self, AT_FDCWD, Errno};

/// A directory being emptied: its descriptor, its entries, and its name in its parent.
struct Level {
    fd: OwnedFd,
    entries: Entries,
    name: CString,
}

/// Removes a directory and everything in it (std's `remove_dir_all`). A symbolic link at
/// `path` is removed, not followed, trailing slashes or not (`link/` removes the link, as Go's
/// `RemoveAll` does); any other non-directory is `NotADirectory` (std's rule; Go's
/// `RemoveAll` removes it). Entries that vanish meanwhile are not errors.
///
/// A path whose last component is `.` or `..` (`dir/.`, `dir/sub/..`, `.`) is
/// `InvalidInput`, and nothing is removed: `rmdir` refuses such a path (`EINVAL`,
/// `ENOTEMPTY`), and the contents would be gone before it said so. Go's `RemoveAll` refuses
/// `.` the same way; std's removes the contents, then fails (or, for `dir/sub/..`, whose
/// `sub` went with them, returns `Ok` with the directory left behind).
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    // The last component is what is removed: with its trailing slashes the kernel would
    // follow a symbolic link there (`lstat` and `O_NOFOLLOW` alike), and the walk would empty
    // the directory it points to, outside the tree, before the final `rmdir` failed.
    let path = without_trailing_slashes(path.as_ref());
    if ends_in_dots(path) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "remove_dir_all: a path ending in `.` or `..`",
        ));
    }
    if super::symlink_metadata(path)?.is_symlink() {
        return super::remove_file(path);
    }
    let name = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut stack = vec![Level {
        fd: open_dir(AT_FDCWD, name.as_c_str(), O_NOFOLLOW)?,
        entries: Entries::new(),
        name,
    }];
    while let Some(top) = stack.last_mut() {
        let fd = top.fd.as_fd();
        let (name, ty) = match top.entries.next(fd) {
            Some(entry) => {
                let d = entry?;
                (CString::from(d.name), u32::from(d.ty))
            }
            None => {
                // Emptied: remove it from its parent (the working directory for the root).
                let done = stack.pop().expect("the loop holds a top level");
                let parent = stack.last().map_or(AT_FDCWD, |l| l.fd.as_fd());
                ignore_gone(syscall::unlinkat(parent, done.name, AT_REMOVEDIR))?;
                continue;
            }
        };
        if ty != DT_DIR && ty != DT_UNKNOWN {
            ignore_gone(syscall::unlinkat(fd, name.as_c_str(), 0))?;
            continue;
        }
        match open_dir(fd, name.as_c_str(), O_NOFOLLOW) {
            Ok(child) => stack.push(Level {
                fd: child,
                entries: Entries::new(),
                name,
            }),
            // Not a directory after all (DT_UNKNOWN, or swapped for a link or file): unlink it.
            Err(Errno::ENOTDIR | Errno::ELOOP) => {
                ignore_gone(syscall::unlinkat(fd, name.as_c_str(), 0))?;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `path` without its trailing slashes (Go's `splitPath`), except for a path of nothing but
/// slashes (the root), which stays as it is.
fn without_trailing_slashes(path: &Path) -> &Path {
    let bytes = path.as_os_str().as_bytes();
    match bytes.iter().rposition(|&b| b != b'/') {
        Some(i) => Path::new(OsStr::from_bytes(&bytes[..=i])),
        None => path,
    }
}

/// Whether the last component of `path` (without trailing slashes) is `.` or `..`
/// (`Path::components` cannot tell: it drops a `.` that is not the first component).
fn ends_in_dots(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    if bytes.iter().all(|&b| b == b'/') {
        return false; // "" or the root
    }
    let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
    last == b"." || last == b".."
}

/// `ENOENT` is success: someone else removed it first.
fn ignore_gone(r: Result<(), Errno>) -> io::Result<()> {
    match r {
        Err(Errno::ENOENT) => Ok(()),
        r => Ok(r?),
    }
}
