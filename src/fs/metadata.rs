//! `Metadata` and `FileType` (Go's `FileInfo` and `FileMode`), read with `statx(2)`.
//!
//! `Permissions` is std's own [`std::fs::Permissions`], made with `from_mode`: it carries
//! nothing but a mode, so a second type would only add conversions. `FileType` and
//! `Metadata` are goro's (std's cannot be built from a mode or a `statx`), with std's method
//! names, and std's `std::os::unix::fs` extension traits implemented for them.

use std::fs::Permissions;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::{Duration, SystemTime};

use linux_raw_sys::general::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, STATX_BASIC_STATS,
    STATX_BTIME, statx_timestamp,
};

use crate::syscall::{self, PathArg, Pod, Statx};

/// The type of a file: a directory, a regular file, a symbolic link, or one of the special
/// files of [`FileTypeExt`] (std's `FileType`; Go's `FileMode.Type()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileType(u32);

impl FileType {
    /// The type bits (`S_IFMT`) of a mode.
    pub(crate) fn from_mode(mode: u32) -> FileType {
        FileType(mode & S_IFMT)
    }

    /// The type a `getdents64` record states, or `None` for `DT_UNKNOWN` (Linux's `DTTOIF`:
    /// a `d_type` is its `S_IF*` shifted down by 12).
    pub(crate) fn from_dirent(ty: u8) -> Option<FileType> {
        (ty != 0).then(|| FileType::from_mode(u32::from(ty) << 12))
    }

    fn is(self, ty: u32) -> bool {
        self.0 == ty
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.is(S_IFDIR)
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.is(S_IFREG)
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.is(S_IFLNK)
    }
}

impl FileTypeExt for FileType {
    fn is_block_device(&self) -> bool {
        self.is(S_IFBLK)
    }
    fn is_char_device(&self) -> bool {
        self.is(S_IFCHR)
    }
    fn is_fifo(&self) -> bool {
        self.is(S_IFIFO)
    }
    fn is_socket(&self) -> bool {
        self.is(S_IFSOCK)
    }
}

/// What `statx` says of a file (std's `Metadata`; Go's `FileInfo`). The raw fields are
/// [`MetadataExt`]'s, as for std's.
#[derive(Clone)]
pub struct Metadata(Statx);

impl Metadata {
    /// `statx` of `path` relative to `dir` with `flags` (`AT_SYMLINK_NOFOLLOW`,
    /// `AT_EMPTY_PATH`), asking for the basic fields and the birth time.
    pub(crate) fn statx(dir: BorrowedFd<'_>, path: impl PathArg, flags: u32) -> io::Result<Self> {
        let mut st = Statx::zeroed();
        syscall::statx(dir, path, flags, STATX_BASIC_STATS | STATX_BTIME, &mut st)?;
        Ok(Metadata(st))
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode())
    }

    /// Whether the file is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// Whether the file is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// Whether the file is a symbolic link (only from [`symlink_metadata`](super::symlink_metadata)
    /// or a [`DirEntry`](super::DirEntry)).
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The size in bytes.
    #[allow(clippy::len_without_is_empty)] // std's name, std's shape
    pub fn len(&self) -> u64 {
        self.0.stx_size
    }

    /// The permission bits, as std's type (its `mode()` is the whole `st_mode`, as std's).
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(self.mode())
    }

    /// The last modification time.
    pub fn modified(&self) -> io::Result<SystemTime> {
        system_time(self.0.stx_mtime)
    }

    /// The last access time.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        system_time(self.0.stx_atime)
    }

    /// The creation (birth) time; `Unsupported` where the file system does not keep one.
    pub fn created(&self) -> io::Result<SystemTime> {
        if self.0.stx_mask & STATX_BTIME == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "creation time is not available for the filesystem",
            ));
        }
        system_time(self.0.stx_btime)
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("permissions", &self.permissions())
            .field("len", &self.len())
            .field("modified", &self.modified().ok())
            .finish_non_exhaustive()
    }
}

/// A `statx` time as a `SystemTime` (seconds may be negative; nanoseconds never are).
fn system_time(t: statx_timestamp) -> io::Result<SystemTime> {
    let secs = Duration::from_secs(t.tv_sec.unsigned_abs());
    let at = if t.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(secs)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(secs)
    };
    at.and_then(|at| at.checked_add(Duration::from_nanos(u64::from(t.tv_nsec))))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "time out of range"))
}

impl MetadataExt for Metadata {
    fn dev(&self) -> u64 {
        make_dev(self.0.stx_dev_major, self.0.stx_dev_minor)
    }
    fn ino(&self) -> u64 {
        self.0.stx_ino
    }
    fn mode(&self) -> u32 {
        u32::from(self.0.stx_mode)
    }
    fn nlink(&self) -> u64 {
        u64::from(self.0.stx_nlink)
    }
    fn uid(&self) -> u32 {
        self.0.stx_uid
    }
    fn gid(&self) -> u32 {
        self.0.stx_gid
    }
    fn rdev(&self) -> u64 {
        make_dev(self.0.stx_rdev_major, self.0.stx_rdev_minor)
    }
    fn size(&self) -> u64 {
        self.0.stx_size
    }
    fn atime(&self) -> i64 {
        self.0.stx_atime.tv_sec
    }
    fn atime_nsec(&self) -> i64 {
        i64::from(self.0.stx_atime.tv_nsec)
    }
    fn mtime(&self) -> i64 {
        self.0.stx_mtime.tv_sec
    }
    fn mtime_nsec(&self) -> i64 {
        i64::from(self.0.stx_mtime.tv_nsec)
    }
    fn ctime(&self) -> i64 {
        self.0.stx_ctime.tv_sec
    }
    fn ctime_nsec(&self) -> i64 {
        i64::from(self.0.stx_ctime.tv_nsec)
    }
    fn blksize(&self) -> u64 {
        u64::from(self.0.stx_blksize)
    }
    fn blocks(&self) -> u64 {
        self.0.stx_blocks
    }
}

/// glibc's `makedev`: the 64-bit device number `stat` reports, from `statx`'s halves.
fn make_dev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general::{DT_BLK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK};

    #[test]
    fn dirent_types_are_mode_types() {
        for (dt, mode) in [
            (DT_FIFO, S_IFIFO),
            (DT_CHR, S_IFCHR),
            (DT_DIR, S_IFDIR),
            (DT_BLK, S_IFBLK),
            (DT_REG, S_IFREG),
            (DT_LNK, S_IFLNK),
            (DT_SOCK, S_IFSOCK),
        ] {
            assert_eq!(
                FileType::from_dirent(dt as u8),
                Some(FileType::from_mode(mode))
            );
        }
        assert_eq!(FileType::from_dirent(0), None, "DT_UNKNOWN asks for a stat");
        let t = FileType::from_mode(S_IFSOCK | 0o755);
        assert!(t.is_socket() && !t.is_file() && !t.is_dir() && !t.is_fifo());
    }

    #[test]
    fn times_before_the_epoch() {
        let t = |tv_sec, tv_nsec| statx_timestamp {
            tv_sec,
            tv_nsec,
            __reserved: 0,
        };
        let at = |s: i64, n: u32| system_time(t(s, n)).unwrap();
        assert_eq!(
            at(-1, 500_000_000),
            SystemTime::UNIX_EPOCH - Duration::from_millis(500)
        );
        assert_eq!(at(2, 1), SystemTime::UNIX_EPOCH + Duration::new(2, 1));
    }
}
