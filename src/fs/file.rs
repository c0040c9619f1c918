//! `File` and `OpenOptions` (Go's `os.File` and `os.OpenFile`), on the `sys` wrappers.

use std::fs::Permissions;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use linux_raw_sys::general::{
    AT_EMPTY_PATH, F_DUPFD_CLOEXEC, O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_EXCL, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET,
};

use super::Metadata;
use crate::syscall::{self, Errno};

/// An open file (std's `File`; Go's `os.File`). Every call goes through goro's `sys`
/// wrappers: a goroutine that blocks in one hands its processor off.
///
/// `Read`, `Write` and `Seek` are implemented for `File` and for `&File`, as std does; reads
/// and writes return `Interrupted` as std's do (`read_exact`, `write_all` retry it).
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// let path = std::env::temp_dir().join(format!("goro-file-doc-{}", std::process::id()));
/// let mut f = goro::fs::File::options().read(true).write(true).create(true).open(&path)?;
/// f.write_all(b"hello")?;
/// f.seek(SeekFrom::Start(1))?;
/// let mut s = String::new();
/// f.read_to_string(&mut s)?;
/// assert_eq!(s, "ello");
/// goro::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct File {
    fd: OwnedFd,
}

impl File {
    /// Opens `path` for reading.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens `path` for writing, creating it or truncating it.
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates `path` for reading and writing; `AlreadyExists` if it exists (`O_EXCL`).
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// A blank [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The file's metadata (`statx` with `AT_EMPTY_PATH`).
    pub fn metadata(&self) -> io::Result<Metadata> {
        Metadata::statx(self.fd.as_fd(), c"", AT_EMPTY_PATH)
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        Ok(syscall::fsync(self.fd.as_fd())?)
    }

    /// Flushes the data to the device (`fdatasync`).
    pub fn sync_data(&self) -> io::Result<()> {
        Ok(syscall::fdatasync(self.fd.as_fd())?)
    }

    /// Truncates or extends the file to `size` bytes (`ftruncate`).
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        let size = i64::try_from(size).map_err(|_| Errno::EINVAL)?;
        Ok(syscall::ftruncate(self.fd.as_fd(), size)?)
    }

    /// A second `File` for the same open file (`F_DUPFD_CLOEXEC`): position and flags shared.
    pub fn try_clone(&self) -> io::Result<File> {
        let fd = syscall::fcntl(self.fd.as_fd(), F_DUPFD_CLOEXEC, 3)?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor, which nothing else owns.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Changes the file's permission bits (`fchmod`).
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        Ok(syscall::fchmod(self.fd.as_fd(), perm.mode())?)
    }
}

/// The most buffers one `readv` or `writev` takes (`UIO_MAXIOV`); more is `EINVAL`, so the
/// vectored calls pass the first this many and report a short transfer, as std's do.
const IOV_MAX: usize = linux_raw_sys::general::UIO_MAXIOV as usize;

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(syscall::read(self.fd.as_fd(), buf)?)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let n = bufs.len().min(IOV_MAX);
        Ok(syscall::readv(self.fd.as_fd(), &mut bufs[..n])?)
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(syscall::write(self.fd.as_fd(), buf)?)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(syscall::writev(
            self.fd.as_fd(),
            &bufs[..bufs.len().min(IOV_MAX)],
        )?)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (off, whence) = match pos {
            SeekFrom::Start(n) => (i64::try_from(n).map_err(|_| Errno::EINVAL)?, SEEK_SET),
            SeekFrom::Current(n) => (n, SEEK_CUR),
            SeekFrom::End(n) => (n, SEEK_END),
        };
        // lseek never returns a negative position: that is EINVAL.
        Ok(syscall::lseek(self.fd.as_fd(), off, whence)? as u64)
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl FileExt for File {
    /// `pread`: reads at `offset` without moving the file position (Go's `ReadAt`).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        Ok(syscall::pread(self.fd.as_fd(), buf, offset)?)
    }
    /// `pwrite`: writes at `offset` without moving the file position (Go's `WriteAt`).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        Ok(syscall::pwrite(self.fd.as_fd(), buf, offset)?)
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl FromRawFd for File {
    /// # Safety
    /// `fd` is an open descriptor the caller owns and gives up.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller's contract.
        File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File { fd }
    }
}

impl From<File> for OwnedFd {
    fn from(f: File) -> OwnedFd {
        f.fd
    }
}

impl From<std::fs::File> for File {
    fn from(f: std::fs::File) -> File {
        File::from(OwnedFd::from(f))
    }
}

impl From<File> for std::fs::File {
    fn from(f: File) -> std::fs::File {
        std::fs::File::from(f.fd)
    }
}

/// How to open a file (std's `OpenOptions`; Go's `os.OpenFile` flags). The same rules as
/// std's: `create`, `truncate` and `create_new` need `write` or `append`, `truncate` excludes
/// `append`; breaking them is `InvalidInput`. Files are opened `O_CLOEXEC`, with mode 0o666
/// unless [`OpenOptionsExt::mode`] says otherwise.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off, mode 0o666.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (`O_APPEND`; implies writing).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate to length 0 (`O_TRUNC`).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create if missing (`O_CREAT`).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create, failing if it exists (`O_CREAT | O_EXCL`); overrides `create` and `truncate`.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// Opens `path` with these options.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let flags = O_CLOEXEC
            | self.access_mode()?
            | self.creation_mode()?
            | (self.custom_flags as u32 & !O_ACCMODE);
        Ok(File::from(syscall::open(path.as_ref(), flags, self.mode)?))
    }

    fn access_mode(&self) -> Result<u32, Errno> {
        Ok(match (self.read, self.write, self.append) {
            (true, false, false) => O_RDONLY,
            (false, true, false) => O_WRONLY,
            (true, true, false) => O_RDWR,
            (false, _, true) => O_WRONLY | O_APPEND,
            (true, _, true) => O_RDWR | O_APPEND,
            (false, false, false) => return Err(Errno::EINVAL),
        })
    }

    fn creation_mode(&self) -> Result<u32, Errno> {
        match (self.write, self.append) {
            (true, false) => {}
            (false, false) if self.truncate || self.create || self.create_new => {
                return Err(Errno::EINVAL);
            }
            (_, true) if self.truncate && !self.create_new => return Err(Errno::EINVAL),
            _ => {}
        }
        Ok(match (self.create, self.truncate, self.create_new) {
            (_, _, true) => O_CREAT | O_EXCL,
            (true, true, false) => O_CREAT | O_TRUNC,
            (true, false, false) => O_CREAT,
            (false, true, false) => O_TRUNC,
            (false, false, false) => 0,
        })
    }
}

impl OpenOptionsExt for OpenOptions {
    /// The mode a created file gets (before the umask); 0o666 by default.
    fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `open` flags (`O_NOFOLLOW`, `O_DIRECT`, ...); the access mode bits are ignored.
    fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }
}
