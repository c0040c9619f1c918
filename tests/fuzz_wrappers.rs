//! Property tests: safe wrappers fed arbitrary integers, lengths, flags and strings return a
//! value or a known `Errno`, never crash, and never report more than their buffers hold.

mod common;

use std::os::fd::{AsFd, BorrowedFd};

use common::*;
use goro::syscall::{self as sc, EpollEvent, Errno, Pod, PollFd, Rlimit, Stat, Timespec};
use proptest::prelude::*;

/// An error the kernel can actually report.
fn known<T>(r: &Result<T, Errno>) -> bool {
    r.as_ref().err().is_none_or(|e| e.name().is_some())
}

fn fds() -> (
    TempDir,
    std::fs::File,
    std::fs::File,
    (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
) {
    let d = TempDir::new();
    let f = open_rw(&d.file("f", &[1u8; 100]));
    let dir = open_ro(&d.0);
    (
        d,
        f,
        dir,
        sc::pipe2(linux_raw_sys::general::O_NONBLOCK).unwrap(),
    )
}

/// One of the test's descriptors, or one that cannot be open.
fn pick<'a>(i: u8, all: &[BorrowedFd<'a>]) -> BorrowedFd<'a> {
    all.get(usize::from(i)).copied().unwrap_or(bad_fd())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn io_with_any_lengths_offsets_and_flags(which in 0u8..5, len in 0usize..300, off in any::<i64>(),
                                             whence in any::<u32>(), flags in any::<u32>(), n in any::<i64>()) {
        let (_d, f, dir, (r, w)) = fds();
        let all = [f.as_fd(), dir.as_fd(), r.as_fd(), w.as_fd()];
        let fd = pick(which, &all);
        let mut buf = vec![0u8; len];
        let res = sc::read(fd, &mut buf);
        prop_assert!(known(&res) && res.map_or(true, |n| n <= len));
        let res = sc::pread(fd, &mut buf, off);
        prop_assert!(known(&res) && res.as_ref().map_or(true, |&n| n <= len));
        prop_assert!(known(&sc::write(fd, &buf)));
        prop_assert!(known(&sc::pwrite(fd, &buf, off)));
        prop_assert!(known(&sc::lseek(fd, off, whence)));
        prop_assert!(known(&sc::fadvise(fd, off, n, flags)));
        prop_assert!(known(&sc::fcntl(fd, flags % 2048, n as usize)));
        prop_assert!(known(&sc::getdents64(fd, &mut buf)));
        prop_assert!(known(&sc::fstatfs(fd, &mut goro::syscall::Statfs::zeroed())));
        prop_assert!(known(&sc::fgetxattr(fd, "user.x", &mut buf)));
        prop_assert!(known(&sc::flistxattr(fd, &mut buf)));
        prop_assert!(known(&sc::readahead(fd, off, len)));
        prop_assert!(known(&sc::sync_file_range(fd, off, n, flags)));
    }

    #[test]
    fn paths_with_any_bytes_and_flags(name in proptest::collection::vec(any::<u8>(), 0..300),
                                      flags in any::<u32>(), mode in any::<u32>()) {
        let (d, _f, dir, _p) = fds();
        // One component (no '/'), relative to the scratch directory: whatever the flags create or
        // truncate is thrown away with it.
        let name: Vec<u8> = name.into_iter().map(|c| if c == b'/' { b'x' } else { c }).collect();
        let name = std::os::unix::ffi::OsStrExt::from_bytes(name.as_slice());
        let name: std::ffi::OsString = std::ffi::OsStr::to_owned(name);
        let has_nul = name.as_encoded_bytes().contains(&0);
        let r = sc::openat(dir.as_fd(), &name, flags & !linux_raw_sys::general::O_PATH, mode);
        prop_assert!(known(&r));
        if has_nul {
            prop_assert_eq!(r.map(|_| ()), Err(Errno::EINVAL));
        }
        prop_assert!(known(&sc::faccessat2(dir.as_fd(), &name, mode, flags)));
        prop_assert!(known(&sc::fstatat(dir.as_fd(), &name, &mut Stat::zeroed(), flags)));
        prop_assert!(known(&sc::mkdirat(dir.as_fd(), &name, mode)));
        prop_assert!(known(&sc::readlinkat(dir.as_fd(), &name, &mut [0u8; 16])));
        prop_assert!(known(&sc::memfd_create(&name, flags)));
        prop_assert!(known(&sc::getxattr(d.0.join(&name), &name, &mut [0u8; 8])));
        prop_assert!(known(&sc::inotify_add_watch(sc::inotify_init1(0).unwrap().as_fd(), d.0.join(&name), flags)));
    }

    #[test]
    fn descriptors_of_any_kind(domain in any::<u32>(), ty in any::<u32>(), proto in any::<u32>(),
                               clock in any::<i32>(), flags in any::<u32>(), nsec in any::<i64>(),
                               level in any::<u32>(), opt in any::<u32>(), len in 0usize..64) {
        prop_assert!(known(&sc::socket(domain % 64, ty, proto % 512)));
        prop_assert!(known(&sc::eventfd(flags, flags)));
        prop_assert!(known(&sc::epoll_create1(flags)));
        prop_assert!(known(&sc::timerfd_create(clock, flags)));
        prop_assert!(known(&sc::clock_gettime(clock)));
        prop_assert!(known(&sc::clock_getres(clock, Some(&mut Timespec::zeroed()))));
        let s = sc::socket(2, 1, 0).unwrap();
        let mut v = vec![0u8; len];
        // SAFETY: an all-zero value: any address an option reads from it is null.
        let got = unsafe { sc::getsockopt(s.as_fd(), level, opt, &mut v) };
        prop_assert!(known(&got) && got.as_ref().map_or(true, |&n| n <= len));
        v.fill(0);
        // SAFETY: as above.
        let set = unsafe { sc::setsockopt(s.as_fd(), level, opt, &v) };
        prop_assert!(known(&set));
        // Never a long sleep: at most a millisecond, or invalid.
        let ts = Timespec { tv_sec: 0, tv_nsec: nsec % 2_000_000 };
        prop_assert!(known(&sc::nanosleep(&ts, None)));
    }

    #[test]
    fn polling_and_limits(fds_raw in proptest::collection::vec((any::<i32>(), any::<i16>()), 0..20),
                          max in 0usize..8, resource in any::<u32>(), pid in any::<i32>(), len in 0usize..200) {
        let mut pfds: Vec<PollFd> = fds_raw.iter().map(|&(fd, events)| PollFd { fd, events, revents: 0 }).collect();
        let n = sc::poll(&mut pfds, 0);
        prop_assert!(known(&n) && n.as_ref().map_or(true, |&n| n <= pfds.len()));
        let ep = sc::epoll_create1(0).unwrap();
        let mut evs = vec![EpollEvent { events: 0, data: 0 }; max];
        prop_assert!(known(&sc::epoll_wait(ep.as_fd(), &mut evs, 0)));
        let mut old = Rlimit::zeroed();
        prop_assert!(known(&sc::prlimit(0, resource, None, Some(&mut old))));
        let mut mask = vec![0u8; len];
        let got = sc::sched_getaffinity(pid, &mut mask);
        prop_assert!(known(&got) && got.as_ref().map_or(true, |&n| n <= len));
        prop_assert!(known(&sc::getpgid(pid)));
        prop_assert!(known(&sc::getsid(pid)));
        prop_assert!(known(&sc::getpriority(resource % 4, pid as u32)));
        let mut buf = vec![0u8; len];
        let got = sc::getrandom(&mut buf, resource & 0x7);
        prop_assert!(known(&got) && got.as_ref().map_or(true, |&n| n <= len));
    }
}
