//! Every file wrapper on success and on failure, against libc as the oracle: same results,
//! same errno.

mod common;

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

use common::*;
use goro::syscall::{self as sc, AT_FDCWD, Errno, Pod, Stat, Statfs, Statx, Timespec};
use linux_raw_sys::general as k;

#[test]
fn read_write_pread_pwrite() {
    let d = TempDir::new();
    let p = d.file("f", b"hello world");
    let f = open_rw(&p);
    let (mut a, mut b) = ([0u8; 5], [0u8; 5]);
    assert_eq!(ours(sc::read(f.as_fd(), &mut a)), Ok(5));
    // SAFETY: `b` is valid for 5 bytes.
    assert_eq!(
        lc(unsafe { libc::read(f.as_raw_fd(), b.as_mut_ptr().cast(), 5) } as i64),
        Ok(5)
    );
    assert_eq!((&a, &b), (b"hello", b" worl"));
    assert_eq!(ours(sc::pread(f.as_fd(), &mut a, 6)), Ok(5));
    // SAFETY: as above.
    assert_eq!(
        lc(unsafe { libc::pread(f.as_raw_fd(), b.as_mut_ptr().cast(), 5, 6) } as i64),
        Ok(5)
    );
    assert_eq!(a, b);
    assert_eq!(ours(sc::write(f.as_fd(), b"!")), Ok(1));
    // SAFETY: one byte of a live buffer.
    assert_eq!(
        lc(unsafe { libc::write(f.as_raw_fd(), b"?".as_ptr().cast(), 1) } as i64),
        Ok(1)
    );
    assert_eq!(ours(sc::pwrite(f.as_fd(), b"J", 0)), Ok(1));
    // SAFETY: as above.
    assert_eq!(
        lc(unsafe { libc::pwrite(f.as_raw_fd(), b"j".as_ptr().cast(), 1, 1) } as i64),
        Ok(1)
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"Jjllo worl!?");
    // An empty buffer is a zero-length call, not a null pointer.
    assert_eq!(ours(sc::read(f.as_fd(), &mut [])), Ok(0));

    // Failures: write to a read-only descriptor, read from a directory, negative offsets.
    let ro = open_ro(&p);
    let dir = open_ro(&d.0);
    assert_eq!(
        ours(sc::write(ro.as_fd(), b"x")),
        lc(unsafe { libc::write(ro.as_raw_fd(), b"x".as_ptr().cast(), 1) } as i64)
    );
    assert_eq!(ours(sc::write(ro.as_fd(), b"x")), Err(Errno::EBADF));
    assert_eq!(
        ours(sc::read(dir.as_fd(), &mut a)),
        lc(unsafe { libc::read(dir.as_raw_fd(), a.as_mut_ptr().cast(), 5) } as i64)
    );
    assert_eq!(ours(sc::read(dir.as_fd(), &mut a)), Err(Errno::EISDIR));
    assert_eq!(
        ours(sc::pread(f.as_fd(), &mut a, -1)),
        lc(unsafe { libc::pread(f.as_raw_fd(), a.as_mut_ptr().cast(), 5, -1) } as i64)
    );
    assert_eq!(
        ours(sc::pwrite(f.as_fd(), b"x", -1)),
        lc(unsafe { libc::pwrite(f.as_raw_fd(), b"x".as_ptr().cast(), 1, -1) } as i64)
    );
    assert_eq!(ours(sc::pwrite(f.as_fd(), b"x", -1)), Err(Errno::EINVAL));
}

#[test]
fn readv_writev() {
    let d = TempDir::new();
    let p = d.file("f", b"");
    let f = open_rw(&p);
    let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")];
    assert_eq!(ours(sc::writev(f.as_fd(), &bufs)), Ok(4));
    let iov = [libc::iovec {
        iov_base: b"ef".as_ptr() as *mut _,
        iov_len: 2,
    }];
    // SAFETY: one iovec over a live buffer.
    assert_eq!(
        lc(unsafe { libc::writev(f.as_raw_fd(), iov.as_ptr(), 1) } as i64),
        Ok(2)
    );
    let (mut x, mut y) = ([0u8; 3], [0u8; 3]);
    let g = open_ro(&p);
    assert_eq!(
        ours(sc::readv(
            g.as_fd(),
            &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]
        )),
        Ok(6)
    );
    assert_eq!((&x, &y), (b"abc", b"def"));
    let mut z = [0u8; 2];
    let g2 = open_ro(&p);
    let iov = [libc::iovec {
        iov_base: z.as_mut_ptr().cast(),
        iov_len: 2,
    }];
    // SAFETY: one iovec over a live, writable buffer.
    assert_eq!(
        lc(unsafe { libc::readv(g2.as_raw_fd(), iov.as_ptr(), 1) } as i64),
        Ok(2)
    );
    assert_eq!(&z, b"ab");
    // Failures: the wrong direction.
    assert_eq!(ours(sc::writev(g.as_fd(), &bufs)), Err(Errno::EBADF));
    // SAFETY: as above.
    assert_eq!(
        lc(unsafe { libc::writev(g.as_raw_fd(), iov.as_ptr(), 1) } as i64),
        Err(Errno::EBADF)
    );
    let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    assert_eq!(
        ours(sc::readv(w.as_fd(), &mut [IoSliceMut::new(&mut z)])),
        Err(Errno::EBADF)
    );
    // SAFETY: as above.
    assert_eq!(
        lc(unsafe { libc::readv(w.as_raw_fd(), iov.as_ptr(), 1) } as i64),
        Err(Errno::EBADF)
    );
}

#[test]
fn open_openat_creat_close_dup() {
    let d = TempDir::new();
    d.file("f", b"x");
    let dir = open_ro(&d.0);
    assert_eq!(
        ours(sc::openat(dir.as_fd(), "f", k::O_RDONLY, 0)),
        fd_ok(unsafe { libc::openat(dir.as_raw_fd(), c"f".as_ptr(), libc::O_RDONLY) })
    );
    assert_eq!(
        ours(sc::open(d.join("f"), k::O_RDONLY | k::O_CLOEXEC, 0)),
        fd_ok(unsafe { libc::open(d.c("f").as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })
    );
    assert_eq!(
        ours(sc::creat(d.join("g"), 0o600)),
        fd_ok(unsafe { libc::creat(d.c("h").as_ptr(), 0o600) })
    );
    assert!(d.join("g").exists() && d.join("h").exists());
    // Failures: missing file, a path with a NUL (EINVAL before the kernel), creat in a missing
    // directory.
    assert_eq!(
        ours(sc::openat(dir.as_fd(), "nope", k::O_RDONLY, 0)),
        fd_ok(unsafe { libc::openat(dir.as_raw_fd(), c"nope".as_ptr(), libc::O_RDONLY) })
    );
    assert_eq!(
        ours(sc::open(d.join("nope"), k::O_RDONLY, 0)),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        ours(sc::open("f\0oops", k::O_RDONLY, 0)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ours(sc::creat(d.join("no/g"), 0o600)),
        fd_ok(unsafe { libc::creat(d.c("no/h").as_ptr(), 0o600) })
    );

    let fd = sc::open(d.join("f"), k::O_RDONLY, 0).unwrap();
    let dup = sc::dup(fd.as_fd()).unwrap();
    assert_ne!(dup.as_raw_fd(), fd.as_raw_fd());
    assert_eq!(ours(sc::close(dup)), Ok(0));
    assert_eq!(
        ours(sc::dup(bad_fd())),
        lc(unsafe { libc::dup(bad_fd().as_raw_fd()) })
    );
    // close: success above; a pipe whose number was already closed is the only way to see
    // EBADF, which an OwnedFd cannot express, so compare on libc's side only.
    assert_eq!(
        lc(unsafe { libc::close(bad_fd().as_raw_fd()) }),
        Err(Errno::EBADF)
    );

    // dup3 / dup2: `new` keeps its number and now reads `old`'s file.
    let (r, _w) = sc::pipe().unwrap();
    let mut new = sc::open(d.join("f"), k::O_RDONLY, 0).unwrap();
    let num = new.as_raw_fd();
    assert_eq!(ours(sc::dup3(r.as_fd(), &mut new, k::O_CLOEXEC)), Ok(0));
    assert_eq!(new.as_raw_fd(), num);
    assert_eq!(
        sc::lseek(new.as_fd(), 0, k::SEEK_CUR),
        Err(Errno::ESPIPE),
        "new is now the pipe"
    );
    assert_eq!(ours(sc::dup2(fd.as_fd(), &mut new)), Ok(0));
    assert_eq!(ours(sc::lseek(new.as_fd(), 0, k::SEEK_CUR)), Ok(0));
    // dup2 onto itself succeeds, dup3 onto itself is EINVAL, as in libc.
    let n2 = new.as_raw_fd();
    // SAFETY: `new` is borrowed for the length of the expression only.
    assert_eq!(
        ours(sc::dup2(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(n2) },
            &mut new
        )),
        lc(unsafe { libc::dup2(n2, n2) }).map(|_| 0)
    );
    assert_eq!(lc(unsafe { libc::dup3(n2, n2, 0) }), Err(Errno::EINVAL));
    assert_eq!(
        ours(sc::dup3(bad_fd(), &mut new, 0)),
        lc(unsafe { libc::dup3(bad_fd().as_raw_fd(), n2, 0) })
    );
    assert_eq!(ours(sc::dup2(bad_fd(), &mut new)), Err(Errno::EBADF));
    assert_eq!(
        ours(sc::dup3(fd.as_fd(), &mut new, 0xffff)),
        lc(unsafe { libc::dup3(fd.as_raw_fd(), n2, 0xffff) })
    );
}

#[test]
fn fcntl_and_locks() {
    let d = TempDir::new();
    let f = open_rw(&d.file("f", b"data"));
    let fd = f.as_fd();
    assert_eq!(
        ours(sc::fcntl(fd, k::F_GETFL, 0)),
        lc(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) })
    );
    assert_eq!(
        ours(sc::fcntl(fd, k::F_SETFD, k::FD_CLOEXEC as usize)),
        Ok(0)
    );
    assert_eq!(ours(sc::fcntl(fd, k::F_GETFD, 0)), Ok(1));
    // Pointer commands are refused by the safe face, and unknown commands by the kernel.
    assert_eq!(ours(sc::fcntl(fd, k::F_GETLK, 0)), Err(Errno::EINVAL));
    // SAFETY: command 9999 does not exist, so its argument is never used.
    assert_eq!(
        ours(unsafe { sc::fcntl_raw(fd, 9999, 0) }),
        lc(unsafe { libc::fcntl(f.as_raw_fd(), 9999) })
    );
    // SAFETY: F_GETFL takes no pointer.
    assert_eq!(
        ours(unsafe { sc::fcntl_raw(fd, k::F_GETFL, 0) }),
        lc(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) })
    );
    assert_eq!(
        ours(sc::fcntl(bad_fd(), k::F_GETFL, 0)),
        lc(unsafe { libc::fcntl(bad_fd().as_raw_fd(), libc::F_GETFL) })
    );

    let mut lock = sc::Flock::zeroed();
    lock.l_type = k::F_WRLCK as i16;
    lock.l_whence = k::SEEK_SET as i16;
    assert_eq!(ours(sc::fcntl_lock(fd, k::F_SETLK, &mut lock)), Ok(0));
    assert_eq!(ours(sc::fcntl_lock(fd, k::F_GETLK, &mut lock)), Ok(0));
    assert_eq!(
        lock.l_type,
        k::F_UNLCK as i16,
        "our own lock does not conflict with us"
    );
    assert_eq!(
        ours(sc::fcntl_lock(fd, k::F_GETFL, &mut lock)),
        Err(Errno::EINVAL)
    );
    lock.l_type = 77;
    let mut cl: libc::flock = unsafe { std::mem::zeroed() };
    cl.l_type = 77;
    assert_eq!(
        ours(sc::fcntl_lock(fd, k::F_SETLK, &mut lock)),
        lc(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &cl) })
    );
}

#[test]
fn stat_family() {
    let d = TempDir::new();
    let p = d.file("f", b"12345");
    std::os::unix::fs::symlink(&p, d.join("l")).unwrap();
    let (mut a, mut b) = (Stat::zeroed(), unsafe { std::mem::zeroed::<libc::stat>() });
    let f = open_ro(&p);
    assert_eq!(
        ours(sc::fstat(f.as_fd(), &mut a)),
        lc(unsafe { libc::fstat(f.as_raw_fd(), &mut b) })
    );
    assert_eq!(
        (a.st_size, a.st_ino, a.st_mode),
        (b.st_size, b.st_ino, b.st_mode)
    );
    assert_eq!(
        ours(sc::stat(d.join("l"), &mut a)),
        lc(unsafe { libc::stat(d.c("l").as_ptr(), &mut b) })
    );
    assert_eq!((a.st_size, a.st_ino), (5, b.st_ino));
    assert_eq!(
        ours(sc::lstat(d.join("l"), &mut a)),
        lc(unsafe { libc::lstat(d.c("l").as_ptr(), &mut b) })
    );
    assert_eq!((a.st_mode, a.st_ino), (b.st_mode, b.st_ino));
    let dir = open_ro(&d.0);
    assert_eq!(
        ours(sc::fstatat(dir.as_fd(), "f", &mut a, 0)),
        lc(unsafe { libc::fstatat(dir.as_raw_fd(), c"f".as_ptr(), &mut b, 0) })
    );
    assert_eq!(a.st_ino, b.st_ino);
    let mut x = Statx::zeroed();
    assert_eq!(
        ours(sc::statx(AT_FDCWD, &p, 0, k::STATX_BASIC_STATS, &mut x)),
        Ok(0)
    );
    assert_eq!((x.stx_size, x.stx_ino), (5, b.st_ino));
    let (mut s1, mut s2) = (Statfs::zeroed(), unsafe {
        std::mem::zeroed::<libc::statfs>()
    });
    assert_eq!(
        ours(sc::statfs(&p, &mut s1)),
        lc(unsafe { libc::statfs(d.c("f").as_ptr(), &mut s2) })
    );
    assert_eq!(s1.f_type, s2.f_type);
    assert_eq!(
        ours(sc::fstatfs(f.as_fd(), &mut s1)),
        lc(unsafe { libc::fstatfs(f.as_raw_fd(), &mut s2) })
    );
    assert_eq!(s1.f_bsize, s2.f_bsize);

    // Failures.
    assert_eq!(
        ours(sc::fstat(bad_fd(), &mut a)),
        lc(unsafe { libc::fstat(bad_fd().as_raw_fd(), &mut b) })
    );
    assert_eq!(
        ours(sc::stat(d.join("none"), &mut a)),
        lc(unsafe { libc::stat(d.c("none").as_ptr(), &mut b) })
    );
    assert_eq!(
        ours(sc::lstat(d.join("f/x"), &mut a)),
        lc(unsafe { libc::lstat(d.c("f/x").as_ptr(), &mut b) })
    );
    assert_eq!(ours(sc::lstat(d.join("f/x"), &mut a)), Err(Errno::ENOTDIR));
    assert_eq!(
        ours(sc::fstatat(dir.as_fd(), "f", &mut a, 0xfff0_0000)),
        lc(unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                c"f".as_ptr(),
                &mut b,
                0xfff0_0000u32 as i32,
            )
        })
    );
    assert_eq!(
        ours(sc::statx(
            AT_FDCWD,
            d.join("none"),
            0,
            k::STATX_BASIC_STATS,
            &mut x
        )),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        ours(sc::statfs(d.join("none"), &mut s1)),
        lc(unsafe { libc::statfs(d.c("none").as_ptr(), &mut s2) })
    );
    assert_eq!(
        ours(sc::fstatfs(bad_fd(), &mut s1)),
        lc(unsafe { libc::fstatfs(bad_fd().as_raw_fd(), &mut s2) })
    );
}

#[test]
fn seek_truncate_sync_allocate() {
    let d = TempDir::new();
    let p = d.file("f", b"0123456789");
    let f = open_rw(&p);
    let (r, _w) = sc::pipe().unwrap();
    assert_eq!(
        ours(sc::lseek(f.as_fd(), 3, k::SEEK_SET)),
        lc(unsafe { libc::lseek(f.as_raw_fd(), 3, libc::SEEK_SET) })
    );
    assert_eq!(ours(sc::lseek(f.as_fd(), 0, k::SEEK_END)), Ok(10));
    assert_eq!(
        ours(sc::lseek(r.as_fd(), 0, k::SEEK_SET)),
        lc(unsafe { libc::lseek(r.as_raw_fd(), 0, libc::SEEK_SET) })
    );
    assert_eq!(
        ours(sc::lseek(f.as_fd(), -100, k::SEEK_SET)),
        Err(Errno::EINVAL)
    );

    assert_eq!(
        ours(sc::ftruncate(f.as_fd(), 8)),
        lc(unsafe { libc::ftruncate(f.as_raw_fd(), 6) })
    );
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 6);
    assert_eq!(
        ours(sc::truncate(&p, 4)),
        lc(unsafe { libc::truncate(d.c("f").as_ptr(), 3) })
    );
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 3);
    assert_eq!(
        ours(sc::ftruncate(f.as_fd(), -1)),
        lc(unsafe { libc::ftruncate(f.as_raw_fd(), -1) })
    );
    assert_eq!(
        ours(sc::truncate(d.join("none"), 1)),
        lc(unsafe { libc::truncate(d.c("none").as_ptr(), 1) })
    );

    assert_eq!(
        ours(sc::fsync(f.as_fd())),
        lc(unsafe { libc::fsync(f.as_raw_fd()) })
    );
    assert_eq!(
        ours(sc::fsync(r.as_fd())),
        lc(unsafe { libc::fsync(r.as_raw_fd()) })
    );
    assert_eq!(ours(sc::fsync(r.as_fd())), Err(Errno::EINVAL));
    assert_eq!(
        ours(sc::fdatasync(f.as_fd())),
        lc(unsafe { libc::fdatasync(f.as_raw_fd()) })
    );
    assert_eq!(
        ours(sc::fdatasync(r.as_fd())),
        lc(unsafe { libc::fdatasync(r.as_raw_fd()) })
    );
    assert_eq!(ours(sc::sync()), Ok(0), "sync cannot fail");
    assert_eq!(
        ours(sc::syncfs(f.as_fd())),
        lc(unsafe { libc::syncfs(f.as_raw_fd()) })
    );
    assert_eq!(
        ours(sc::syncfs(bad_fd())),
        lc(unsafe { libc::syncfs(bad_fd().as_raw_fd()) })
    );

    assert_eq!(
        ours(sc::fallocate(f.as_fd(), 0, 0, 4096)),
        lc(unsafe { libc::fallocate(f.as_raw_fd(), 0, 4096, 4096) })
    );
    assert_eq!(
        ours(sc::fallocate(f.as_fd(), 0, 0, 0)),
        lc(unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, 0) })
    );
    assert_eq!(ours(sc::fallocate(f.as_fd(), 0, 0, 0)), Err(Errno::EINVAL));
    // fadvise: glibc's posix_fadvise returns the error number instead of setting errno.
    let c = |r: i32| if r == 0 { Ok(0) } else { Err(Errno(r as u16)) };
    assert_eq!(
        ours(sc::fadvise(f.as_fd(), 0, 0, k::POSIX_FADV_SEQUENTIAL)),
        c(unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) })
    );
    assert_eq!(
        ours(sc::fadvise(f.as_fd(), 0, 0, 99)),
        c(unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, 99) })
    );
    assert_eq!(
        ours(sc::sync_file_range(
            f.as_fd(),
            0,
            0,
            k::SYNC_FILE_RANGE_WRITE
        )),
        lc(unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) })
    );
    assert_eq!(
        ours(sc::sync_file_range(f.as_fd(), -1, 0, 0)),
        lc(unsafe { libc::sync_file_range(f.as_raw_fd(), -1, 0, 0) })
    );
    assert_eq!(
        ours(sc::readahead(f.as_fd(), 0, 4096)),
        lc(unsafe { libc::readahead(f.as_raw_fd(), 0, 4096) } as i64)
    );
    assert_eq!(
        ours(sc::readahead(r.as_fd(), 0, 4096)),
        lc(unsafe { libc::readahead(r.as_raw_fd(), 0, 4096) } as i64)
    );
}

#[test]
fn directories_and_names() {
    let d = TempDir::new();
    let dir = open_ro(&d.0);
    let dfd = dir.as_fd();
    assert_eq!(
        ours(sc::mkdirat(dfd, "a", 0o755)),
        lc(unsafe { libc::mkdirat(dir.as_raw_fd(), c"b".as_ptr(), 0o755) })
    );
    assert_eq!(
        ours(sc::mkdirat(dfd, "a", 0o755)),
        lc(unsafe { libc::mkdirat(dir.as_raw_fd(), c"b".as_ptr(), 0o755) })
    );
    assert_eq!(
        ours(sc::mkdir(d.join("c"), 0o755)),
        lc(unsafe { libc::mkdir(d.c("e").as_ptr(), 0o755) })
    );
    assert_eq!(ours(sc::mkdir(d.join("c"), 0o755)), Err(Errno::EEXIST));
    assert_eq!(
        ours(sc::mknodat(dfd, "fifo", k::S_IFIFO | 0o600, 0)),
        lc(unsafe { libc::mknodat(dir.as_raw_fd(), c"fifo2".as_ptr(), libc::S_IFIFO | 0o600, 0) })
    );
    assert_eq!(
        ours(sc::mknodat(dfd, "fifo", k::S_IFIFO | 0o600, 0)),
        lc(unsafe { libc::mknodat(dir.as_raw_fd(), c"fifo2".as_ptr(), libc::S_IFIFO | 0o600, 0) })
    );
    assert_eq!(
        ours(sc::mknod(d.join("fifo3"), k::S_IFIFO | 0o600, 0)),
        lc(unsafe { libc::mknod(d.c("fifo4").as_ptr(), libc::S_IFIFO | 0o600, 0) })
    );
    assert_eq!(
        ours(sc::mknod(d.join("no/x"), k::S_IFIFO | 0o600, 0)),
        lc(unsafe { libc::mknod(d.c("no/x").as_ptr(), libc::S_IFIFO | 0o600, 0) })
    );

    d.file("f1", b"1");
    d.file("f2", b"2");
    assert_eq!(
        ours(sc::renameat(dfd, "f1", dfd, "g1")),
        lc(unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                c"f2".as_ptr(),
                dir.as_raw_fd(),
                c"g2".as_ptr(),
            )
        })
    );
    assert_eq!(
        ours(sc::renameat(dfd, "f1", dfd, "g1")),
        lc(unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                c"f2".as_ptr(),
                dir.as_raw_fd(),
                c"g2".as_ptr(),
            )
        })
    );
    assert_eq!(
        ours(sc::renameat2(dfd, "g1", dfd, "g2", k::RENAME_NOREPLACE)),
        lc(unsafe {
            libc::renameat2(
                dir.as_raw_fd(),
                c"g1".as_ptr(),
                dir.as_raw_fd(),
                c"g2".as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        })
    );
    assert_eq!(
        ours(sc::renameat2(dfd, "g1", dfd, "g2", k::RENAME_EXCHANGE)),
        Ok(0)
    );
    assert_eq!(std::fs::read(d.join("g1")).unwrap(), b"2");
    assert_eq!(
        ours(sc::rename(d.join("g1"), d.join("h1"))),
        lc(unsafe { libc::rename(d.c("g2").as_ptr(), d.c("h2").as_ptr()) })
    );
    assert_eq!(
        ours(sc::rename(d.join("g1"), d.join("h1"))),
        lc(unsafe { libc::rename(d.c("g2").as_ptr(), d.c("h2").as_ptr()) })
    );

    assert_eq!(
        ours(sc::linkat(dfd, "h1", dfd, "k1", 0)),
        lc(unsafe {
            libc::linkat(
                dir.as_raw_fd(),
                c"h2".as_ptr(),
                dir.as_raw_fd(),
                c"k2".as_ptr(),
                0,
            )
        })
    );
    assert_eq!(
        ours(sc::linkat(dfd, "h1", dfd, "k1", 0)),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        ours(sc::link(d.join("h1"), d.join("m1"))),
        lc(unsafe { libc::link(d.c("h2").as_ptr(), d.c("m2").as_ptr()) })
    );
    assert_eq!(
        ours(sc::link(d.join("zz"), d.join("m3"))),
        lc(unsafe { libc::link(d.c("zz").as_ptr(), d.c("m4").as_ptr()) })
    );
    assert_eq!(
        ours(sc::symlinkat("h1", dfd, "s1")),
        lc(unsafe { libc::symlinkat(c"h2".as_ptr(), dir.as_raw_fd(), c"s2".as_ptr()) })
    );
    assert_eq!(
        ours(sc::symlinkat("h1", dfd, "s1")),
        lc(unsafe { libc::symlinkat(c"h2".as_ptr(), dir.as_raw_fd(), c"s2".as_ptr()) })
    );
    assert_eq!(
        ours(sc::symlink("h1", d.join("s3"))),
        lc(unsafe { libc::symlink(c"h2".as_ptr(), d.c("s4").as_ptr()) })
    );
    assert_eq!(ours(sc::symlink("h1", d.join("no/s"))), Err(Errno::ENOENT));

    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    assert_eq!(ours(sc::readlinkat(dfd, "s1", &mut a)), Ok(2));
    assert_eq!(
        lc(
            unsafe { libc::readlinkat(dir.as_raw_fd(), c"s2".as_ptr(), b.as_mut_ptr().cast(), 64) }
                as i64
        ),
        Ok(2)
    );
    assert_eq!((&a[..2], &b[..2]), (&b"h1"[..], &b"h2"[..]));
    assert_eq!(
        ours(sc::readlinkat(dfd, "h1", &mut a)),
        lc(
            unsafe { libc::readlinkat(dir.as_raw_fd(), c"h1".as_ptr(), b.as_mut_ptr().cast(), 64) }
                as i64
        )
    );
    assert_eq!(
        ours(sc::readlink(d.join("s3"), &mut a)),
        lc(unsafe { libc::readlink(d.c("s4").as_ptr(), b.as_mut_ptr().cast(), 64) } as i64)
    );
    assert_eq!(ours(sc::readlink(d.join("h1"), &mut a)), Err(Errno::EINVAL));

    assert_eq!(
        ours(sc::unlinkat(dfd, "k1", 0)),
        lc(unsafe { libc::unlinkat(dir.as_raw_fd(), c"k2".as_ptr(), 0) })
    );
    assert_eq!(
        ours(sc::unlinkat(dfd, "a", 0)),
        lc(unsafe { libc::unlinkat(dir.as_raw_fd(), c"b".as_ptr(), 0) })
    );
    assert_eq!(
        ours(sc::unlinkat(dfd, "a", k::AT_REMOVEDIR)),
        lc(unsafe { libc::unlinkat(dir.as_raw_fd(), c"b".as_ptr(), libc::AT_REMOVEDIR) })
    );
    assert_eq!(
        ours(sc::unlink(d.join("m1"))),
        lc(unsafe { libc::unlink(d.c("m2").as_ptr()) })
    );
    assert_eq!(
        ours(sc::unlink(d.join("c"))),
        lc(unsafe { libc::unlink(d.c("e").as_ptr()) })
    );
    assert_eq!(
        ours(sc::rmdir(d.join("c"))),
        lc(unsafe { libc::rmdir(d.c("e").as_ptr()) })
    );
    assert_eq!(
        ours(sc::rmdir(d.join("c"))),
        lc(unsafe { libc::rmdir(d.c("e").as_ptr()) })
    );

    // getdents64: the kernel's entries, and ENOTDIR on a file.
    let dir2 = open_ro(&d.0);
    let mut buf = vec![0u8; 4096];
    let n = sc::getdents64(dir2.as_fd(), &mut buf).unwrap();
    assert!(n > 0 && n <= buf.len());
    let mut names = Vec::new();
    let mut off = 0;
    while off < n {
        let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
        let name = &buf[off + 19..off + reclen];
        names.push(
            String::from_utf8_lossy(&name[..name.iter().position(|&c| c == 0).unwrap()])
                .into_owned(),
        );
        off += reclen;
    }
    names.sort();
    let mut want: Vec<_> = std::fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    want.extend([".".into(), "..".into()]);
    want.sort();
    assert_eq!(names, want);
    let f = open_ro(&d.join("h1"));
    assert_eq!(
        ours(sc::getdents64(f.as_fd(), &mut buf)),
        lc(unsafe { libc::syscall(libc::SYS_getdents64, f.as_raw_fd(), buf.as_mut_ptr(), 4096) })
    );
}

#[test]
fn access_mode_owner_times() {
    let d = TempDir::new();
    let p = d.file("f", b"x");
    let dir = open_ro(&d.0);
    let dfd = dir.as_fd();
    assert_eq!(
        ours(sc::faccessat(dfd, "f", k::R_OK)),
        lc(unsafe { libc::faccessat(dir.as_raw_fd(), c"f".as_ptr(), libc::R_OK, 0) })
    );
    assert_eq!(
        ours(sc::faccessat(dfd, "none", k::R_OK)),
        lc(unsafe { libc::faccessat(dir.as_raw_fd(), c"none".as_ptr(), libc::R_OK, 0) })
    );
    assert_eq!(
        ours(sc::faccessat2(dfd, "f", k::F_OK, k::AT_EACCESS)),
        lc(unsafe {
            libc::faccessat(dir.as_raw_fd(), c"f".as_ptr(), libc::F_OK, libc::AT_EACCESS)
        })
    );
    assert_eq!(
        ours(sc::faccessat2(dfd, "f", k::F_OK, 0xffff)),
        lc(unsafe {
            libc::syscall(
                libc::SYS_faccessat2,
                dir.as_raw_fd(),
                c"f".as_ptr(),
                libc::F_OK,
                0xffff,
            )
        })
    );
    assert_eq!(
        ours(sc::access(&p, k::W_OK)),
        lc(unsafe { libc::access(d.c("f").as_ptr(), libc::W_OK) })
    );
    assert_eq!(
        ours(sc::access(d.join("none"), k::W_OK)),
        lc(unsafe { libc::access(d.c("none").as_ptr(), libc::W_OK) })
    );

    let f = open_ro(&p);
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o7777
    };
    assert_eq!(ours(sc::fchmod(f.as_fd(), 0o640)), Ok(0));
    assert_eq!(mode(&p), 0o640);
    assert_eq!(lc(unsafe { libc::fchmod(f.as_raw_fd(), 0o600) }), Ok(0));
    assert_eq!(
        ours(sc::fchmod(bad_fd(), 0o600)),
        lc(unsafe { libc::fchmod(bad_fd().as_raw_fd(), 0o600) })
    );
    assert_eq!(
        ours(sc::fchmodat(dfd, "f", 0o644)),
        lc(unsafe { libc::fchmodat(dir.as_raw_fd(), c"f".as_ptr(), 0o644, 0) })
    );
    assert_eq!(mode(&p), 0o644);
    assert_eq!(
        ours(sc::fchmodat(dfd, "none", 0o644)),
        lc(unsafe { libc::fchmodat(dir.as_raw_fd(), c"none".as_ptr(), 0o644, 0) })
    );
    assert_eq!(
        ours(sc::chmod(&p, 0o600)),
        lc(unsafe { libc::chmod(d.c("f").as_ptr(), 0o600) })
    );
    assert_eq!(
        ours(sc::chmod(d.join("none"), 0o600)),
        lc(unsafe { libc::chmod(d.c("none").as_ptr(), 0o600) })
    );

    // Owner: to our own ids always succeeds; to another's is EPERM unless we are root, for
    // both sides alike. A missing file is ENOENT.
    let (uid, gid) = (sc::geteuid(), sc::getegid());
    std::os::unix::fs::symlink(&p, d.join("l")).unwrap();
    assert_eq!(
        ours(sc::fchown(f.as_fd(), uid, gid)),
        lc(unsafe { libc::fchown(f.as_raw_fd(), uid, gid) })
    );
    assert_eq!(
        ours(sc::fchown(bad_fd(), uid, gid)),
        lc(unsafe { libc::fchown(bad_fd().as_raw_fd(), uid, gid) })
    );
    assert_eq!(
        ours(sc::fchownat(dfd, "f", uid, gid, 0)),
        lc(unsafe { libc::fchownat(dir.as_raw_fd(), c"f".as_ptr(), uid, gid, 0) })
    );
    assert_eq!(
        ours(sc::fchownat(dfd, "f", uid, gid, 0xffff)),
        lc(unsafe { libc::fchownat(dir.as_raw_fd(), c"f".as_ptr(), uid, gid, 0xffff) })
    );
    assert_eq!(
        ours(sc::chown(&p, uid, gid)),
        lc(unsafe { libc::chown(d.c("f").as_ptr(), uid, gid) })
    );
    assert_eq!(
        ours(sc::chown(d.join("none"), uid, gid)),
        lc(unsafe { libc::chown(d.c("none").as_ptr(), uid, gid) })
    );
    assert_eq!(
        ours(sc::lchown(d.join("l"), uid, gid)),
        lc(unsafe { libc::lchown(d.c("l").as_ptr(), uid, gid) })
    );
    assert_eq!(
        ours(sc::lchown(d.join("none"), uid, gid)),
        lc(unsafe { libc::lchown(d.c("none").as_ptr(), uid, gid) })
    );

    let times = [
        Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 5,
        },
        Timespec {
            tv_sec: 2_000_000,
            tv_nsec: 7,
        },
    ];
    assert_eq!(ours(sc::utimensat(dfd, "f", Some(&times), 0)), Ok(0));
    let mut st = Stat::zeroed();
    sc::stat(&p, &mut st).unwrap();
    assert_eq!(
        (st.st_atime, st.st_atime_nsec, st.st_mtime, st.st_mtime_nsec),
        (1_000_000, 5, 2_000_000, 7)
    );
    assert_eq!(
        ours(sc::utimensat(dfd, "f", None, 0)),
        lc(unsafe { libc::utimensat(dir.as_raw_fd(), c"f".as_ptr(), std::ptr::null(), 0) })
    );
    let bad = [Timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    }; 2];
    let cbad = [libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    }; 2];
    assert_eq!(
        ours(sc::utimensat(dfd, "f", Some(&bad), 0)),
        lc(unsafe { libc::utimensat(dir.as_raw_fd(), c"f".as_ptr(), cbad.as_ptr(), 0) })
    );
}

#[test]
fn working_directory_and_root() {
    // The working directory is the process's: change it and put it back within this test,
    // which is the only one that uses relative paths.
    let d = TempDir::new();
    let before = std::env::current_dir().unwrap();
    let mut a = [0u8; 4096];
    let n = sc::getcwd(&mut a).unwrap();
    assert_eq!(&a[..n - 1], before.as_os_str().as_encoded_bytes());
    assert_eq!(a[n - 1], 0, "the length counts the NUL");
    let mut small = [0u8; 1];
    assert_eq!(
        ours(sc::getcwd(&mut small)),
        lc(unsafe { libc::syscall(libc::SYS_getcwd, small.as_mut_ptr(), 1) })
    );
    assert_eq!(ours(sc::getcwd(&mut small)), Err(Errno::ERANGE));
    assert_eq!(ours(sc::chdir(&d.0)), Ok(0));
    assert_eq!(std::env::current_dir().unwrap(), d.0);
    assert_eq!(lc(unsafe { libc::chdir(cs(&before).as_ptr()) }), Ok(0));
    assert_eq!(
        ours(sc::chdir(d.join("none"))),
        lc(unsafe { libc::chdir(d.c("none").as_ptr()) })
    );
    let dir = open_ro(&d.0);
    let file = open_ro(&d.file("f", b""));
    assert_eq!(ours(sc::fchdir(dir.as_fd())), Ok(0));
    assert_eq!(std::env::current_dir().unwrap(), d.0);
    assert_eq!(ours(sc::chdir(&before)), Ok(0));
    assert_eq!(
        ours(sc::fchdir(file.as_fd())),
        lc(unsafe { libc::fchdir(file.as_raw_fd()) })
    );
    assert_eq!(ours(sc::fchdir(file.as_fd())), Err(Errno::ENOTDIR));
    // chroot to "/" changes nothing (and needs CAP_SYS_CHROOT: both sides agree either way).
    assert_eq!(
        ours(sc::chroot("/")),
        lc(unsafe { libc::chroot(c"/".as_ptr()) })
    );
    assert_eq!(
        ours(sc::chroot(d.join("none"))),
        lc(unsafe { libc::chroot(d.c("none").as_ptr()) })
    );
    assert_eq!(std::env::current_dir().unwrap(), before);
}

#[test]
fn umask_cannot_fail() {
    let old = sc::umask(0o027);
    assert_eq!(sc::umask(old), 0o027);
    // SAFETY: umask cannot fail.
    assert_eq!(unsafe { libc::umask(old) }, old);
}

#[test]
fn flock_and_data_movement() {
    let d = TempDir::new();
    let p = d.file("f", b"0123456789");
    let f = open_rw(&p);
    let g = open_rw(&p);
    assert_eq!(ours(sc::flock(f.as_fd(), k::LOCK_EX | k::LOCK_NB)), Ok(0));
    assert_eq!(
        ours(sc::flock(g.as_fd(), k::LOCK_EX | k::LOCK_NB)),
        lc(unsafe { libc::flock(g.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) })
    );
    assert_eq!(
        ours(sc::flock(g.as_fd(), k::LOCK_EX | k::LOCK_NB)),
        Err(Errno::EAGAIN)
    );
    assert_eq!(
        lc(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) }),
        Ok(0)
    );
    assert_eq!(
        ours(sc::flock(g.as_fd(), 999)),
        lc(unsafe { libc::flock(g.as_raw_fd(), 999) })
    );

    let (r, w) = sc::pipe().unwrap();
    let mut off = 2i64;
    assert_eq!(
        ours(sc::sendfile(w.as_fd(), f.as_fd(), Some(&mut off), 3)),
        Ok(3)
    );
    assert_eq!(off, 5);
    let mut coff: libc::off_t = 5;
    assert_eq!(
        lc(unsafe { libc::sendfile(w.as_raw_fd(), f.as_raw_fd(), &mut coff, 2) } as i64),
        Ok(2)
    );
    let mut buf = [0u8; 5];
    sc::read(r.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf, b"23456");
    assert_eq!(
        ours(sc::sendfile(f.as_fd(), r.as_fd(), None, 1)),
        lc(unsafe { libc::sendfile(f.as_raw_fd(), r.as_raw_fd(), std::ptr::null_mut(), 1) } as i64)
    );

    // splice file -> pipe, tee pipe -> pipe, splice pipe -> file.
    let (r2, w2) = sc::pipe().unwrap();
    let mut off = 0i64;
    assert_eq!(
        ours(sc::splice(f.as_fd(), Some(&mut off), w.as_fd(), None, 4, 0)),
        Ok(4)
    );
    assert_eq!(ours(sc::tee(r.as_fd(), w2.as_fd(), 4, 0)), Ok(4));
    let mut buf = [0u8; 4];
    sc::read(r2.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf, b"0123");
    let mut coff: libc::loff_t = 0;
    assert_eq!(
        lc(unsafe {
            libc::splice(
                r.as_raw_fd(),
                std::ptr::null_mut(),
                g.as_raw_fd(),
                &mut coff,
                4,
                0,
            )
        } as i64),
        Ok(4)
    );
    // Failures: splice with no pipe on either side, tee between non-pipes.
    assert_eq!(
        ours(sc::splice(f.as_fd(), None, g.as_fd(), None, 4, 0)),
        lc(unsafe {
            libc::splice(
                f.as_raw_fd(),
                std::ptr::null_mut(),
                g.as_raw_fd(),
                std::ptr::null_mut(),
                4,
                0,
            )
        } as i64)
    );
    assert_eq!(
        ours(sc::tee(f.as_fd(), g.as_fd(), 4, 0)),
        lc(unsafe { libc::tee(f.as_raw_fd(), g.as_raw_fd(), 4, 0) } as i64)
    );
    assert_eq!(
        ours(sc::tee(f.as_fd(), g.as_fd(), 4, 0)),
        Err(Errno::EINVAL)
    );

    let q = d.file("q", b"");
    let h = open_rw(&q);
    let (mut i, mut o) = (0i64, 0i64);
    assert_eq!(
        ours(sc::copy_file_range(
            f.as_fd(),
            Some(&mut i),
            h.as_fd(),
            Some(&mut o),
            10,
            0
        )),
        Ok(10)
    );
    assert_eq!(std::fs::read(&q).unwrap(), std::fs::read(&p).unwrap());
    assert_eq!(
        ours(sc::copy_file_range(f.as_fd(), None, h.as_fd(), None, 10, 1)),
        lc(unsafe {
            libc::copy_file_range(
                f.as_raw_fd(),
                std::ptr::null_mut(),
                h.as_raw_fd(),
                std::ptr::null_mut(),
                10,
                1,
            )
        } as i64)
    );
}

fn code(r: Result<(), Errno>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => i32::from(e.0),
    }
}

fn ccode(r: i32) -> i32 {
    if r == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap()
    }
}

#[test]
fn mount_umount_pivot_root() {
    // In children with their own mount namespace, so the host's mounts are never touched.
    // Without CAP_SYS_ADMIN every step is EPERM, on both sides alike.
    let d = TempDir::new();
    std::fs::create_dir_all(d.join("root/old")).unwrap();
    let (root, old) = (d.c("root"), d.c("root/old"));
    let (root, old) = (root.as_c_str(), old.as_c_str());
    let steps_ours = || {
        let r = sc::unshare(k::CLONE_NEWNS)
            .and_then(|()| {
                sc::mount(
                    c"none",
                    c"/",
                    c"",
                    u64::from(k::MS_REC | k::MS_PRIVATE),
                    c"",
                )
            })
            .and_then(|()| sc::mount(c"tmpfs", root, c"tmpfs", 0, c"size=1m"));
        if let Err(e) = r {
            return 100 + i32::from(e.0);
        }
        if sc::mkdirat(AT_FDCWD, old, 0o755).is_err() {
            return 99;
        }
        code(sc::pivot_root(root, old))
    };
    // SAFETY (for the libc side): borrowed C strings, system calls only.
    let steps_libc = || unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0
            || libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                c"".as_ptr(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            || libc::mount(
                c"tmpfs".as_ptr(),
                root.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            ) != 0
        {
            return 100 + ccode(-1);
        }
        if libc::mkdir(old.as_ptr(), 0o755) != 0 {
            return 99;
        }
        ccode(libc::syscall(libc::SYS_pivot_root, root.as_ptr(), old.as_ptr()) as i32)
    };
    let (a, b) = (in_child(steps_ours), in_child(steps_libc));
    assert_eq!(a, b);
    if sc::geteuid() == 0 {
        assert_eq!(a, 0, "as root, the whole sequence succeeds");
    }
    // Failures: pivot_root onto a directory that is not a mount point; umount of a path that
    // is not mounted; mount of an unknown file system type.
    let fail_ours = || {
        let _ = sc::unshare(k::CLONE_NEWNS);
        let a = code(sc::pivot_root(old, old));
        let b = code(sc::umount2(root, 0));
        let c = code(sc::mount(c"x", root, c"nosuchfs", 0, c""));
        a * 10000 % 251 + b * 100 % 251 + c
    };
    // SAFETY: as above.
    let fail_libc = || unsafe {
        libc::unshare(libc::CLONE_NEWNS);
        let a = ccode(libc::syscall(libc::SYS_pivot_root, old.as_ptr(), old.as_ptr()) as i32);
        let b = ccode(libc::umount2(root.as_ptr(), 0));
        let c = ccode(libc::mount(
            c"x".as_ptr(),
            root.as_ptr(),
            c"nosuchfs".as_ptr(),
            0,
            std::ptr::null(),
        ));
        a * 10000 % 251 + b * 100 % 251 + c
    };
    assert_eq!(in_child(fail_ours), in_child(fail_libc));
    // umount2 success: mount and unmount in a private namespace.
    let um_ours = || {
        let _ = sc::unshare(k::CLONE_NEWNS);
        let _ = sc::mount(
            c"none",
            c"/",
            c"",
            u64::from(k::MS_REC | k::MS_PRIVATE),
            c"",
        );
        let _ = sc::mount(c"tmpfs", root, c"tmpfs", 0, c"");
        code(sc::umount2(root, 0))
    };
    // SAFETY: as above.
    let um_libc = || unsafe {
        libc::unshare(libc::CLONE_NEWNS);
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            c"".as_ptr(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
        libc::mount(
            c"tmpfs".as_ptr(),
            root.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        );
        ccode(libc::umount2(root.as_ptr(), 0))
    };
    let (a, b) = (in_child(um_ours), in_child(um_libc));
    assert_eq!(a, b);
    if sc::geteuid() == 0 {
        assert_eq!(a, 0);
    }
}

#[test]
fn statx_against_libc() {
    let d = TempDir::new();
    let p = d.file("f", b"abc");
    let mut ours_x = Statx::zeroed();
    let mut theirs: libc::statx = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::statx(AT_FDCWD, &p, 0, k::STATX_ALL, &mut ours_x)),
        lc(unsafe {
            libc::statx(
                libc::AT_FDCWD,
                d.c("f").as_ptr(),
                0,
                libc::STATX_ALL,
                &mut theirs,
            )
        })
    );
    assert_eq!(
        (ours_x.stx_size, ours_x.stx_ino),
        (theirs.stx_size, theirs.stx_ino)
    );
    assert_eq!(
        ours(sc::statx(
            AT_FDCWD,
            &p,
            0xdead_0000,
            k::STATX_ALL,
            &mut ours_x
        )),
        lc(unsafe {
            libc::statx(
                libc::AT_FDCWD,
                d.c("f").as_ptr(),
                0xdead_0000u32 as i32,
                libc::STATX_ALL,
                &mut theirs,
            )
        })
    );
}

/// `read_full` and `write_all` through a pipe, where every call is short (200 KiB through a
/// 64 KiB pipe), against std's `read_exact` / `write_all` moving the same bytes; then their
/// failures: a short count only at end of file, EBADF on a wrong-way descriptor.
#[test]
fn read_full_write_all_short_counts() {
    use std::io::{Read, Write};
    let data: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 + i / 251) as u8).collect();
    let (r, w) = sc::pipe2(k::O_CLOEXEC).unwrap();
    let d = data.clone();
    let writer = std::thread::spawn(move || sc::write_all(w.as_fd(), &d));
    let mut ours_buf = vec![0u8; data.len()];
    assert_eq!(sc::read_full(r.as_fd(), &mut ours_buf), Ok(data.len()));
    assert_eq!(writer.join().unwrap(), Ok(()));
    let (sr, sw) = sc::pipe2(k::O_CLOEXEC).unwrap();
    let d = data.clone();
    let writer = std::thread::spawn(move || std::fs::File::from(sw).write_all(&d).unwrap());
    let mut std_buf = vec![0u8; data.len()];
    std::fs::File::from(sr).read_exact(&mut std_buf).unwrap();
    writer.join().unwrap();
    assert_eq!(ours_buf, std_buf);
    assert_eq!(ours_buf, data);

    // End of file: the count read so far, not an error.
    let dir = TempDir::new();
    let p = dir.file("f", b"abc");
    let f = open_ro(&p);
    let mut buf = [0u8; 8];
    assert_eq!(sc::read_full(f.as_fd(), &mut buf), Ok(3));
    assert_eq!(sc::read_full(f.as_fd(), &mut buf), Ok(0));
    // Wrong-way descriptors: the errno, as libc's.
    // SAFETY: one byte of a live buffer.
    assert_eq!(
        ours(sc::write_all(f.as_fd(), b"x").map(|()| 0)),
        lc(unsafe { libc::write(f.as_raw_fd(), b"x".as_ptr().cast(), 1) } as i64)
    );
    let wo = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    assert_eq!(sc::read_full(wo.as_fd(), &mut buf), Err(Errno::EBADF));
}
