//! Descriptors, polling and events on success and on failure, against libc.

mod common;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use common::*;
use goro::syscall::{self as sc, EpollEvent, Errno, Itimerspec, Pod, PollFd, Sigset, Timespec};
use linux_raw_sys::general as k;

#[test]
fn eventfd_and_memfd() {
    let e = sc::eventfd(3, k::EFD_CLOEXEC).unwrap();
    let mut v = [0u8; 8];
    assert_eq!(sc::read(e.as_fd(), &mut v), Ok(8));
    assert_eq!(u64::from_ne_bytes(v), 3);
    assert_eq!(
        ours(sc::eventfd(0, 0xdead)),
        fd_ok(unsafe { libc::eventfd(0, 0xdead) })
    );
    assert_eq!(
        ours(sc::eventfd(0, 0)),
        fd_ok(unsafe { libc::eventfd(0, 0) })
    );

    assert_eq!(
        ours(sc::memfd_create("goro", k::MFD_CLOEXEC)),
        fd_ok(unsafe { libc::memfd_create(c"goro".as_ptr(), libc::MFD_CLOEXEC) })
    );
    assert_eq!(
        ours(sc::memfd_create("goro", 0xdead_0000)),
        fd_ok(unsafe { libc::memfd_create(c"goro".as_ptr(), 0xdead_0000) })
    );
    let long = "x".repeat(300);
    let clong = std::ffi::CString::new(long.clone()).unwrap();
    assert_eq!(
        ours(sc::memfd_create(long.as_str(), 0)),
        fd_ok(unsafe { libc::memfd_create(clong.as_ptr(), 0) })
    );
    assert_eq!(ours(sc::memfd_create(long.as_str(), 0)), Err(Errno::EINVAL));
}

#[test]
fn close_range_cloexec() {
    let (r, w) = sc::pipe().unwrap();
    let n = r.as_raw_fd() as u32;
    // SAFETY: CLOSE_RANGE_CLOEXEC closes nothing; it marks our own descriptor.
    assert_eq!(
        ours(unsafe { sc::close_range(n, n, libc::CLOSE_RANGE_CLOEXEC) }),
        Ok(0)
    );
    assert_eq!(
        sc::fcntl(r.as_fd(), k::F_GETFD, 0),
        Ok(k::FD_CLOEXEC as i32)
    );
    // SAFETY: an empty range (first > last) is refused before anything is closed.
    assert_eq!(
        ours(unsafe { sc::close_range(n + 1, n, 0) }),
        lc(unsafe { libc::syscall(libc::SYS_close_range, n + 1, n, 0) })
    );
    // SAFETY: closes exactly the descriptor given up by `into_raw_fd`.
    let raw = std::os::fd::IntoRawFd::into_raw_fd(r) as u32;
    assert_eq!(ours(unsafe { sc::close_range(raw, raw, 0) }), Ok(0));
    // The read end is gone: a write finds no reader. (Checking the number itself would race
    // with other tests reusing it.)
    assert_eq!(sc::write(w.as_fd(), b"x"), Err(Errno::EPIPE));
}

#[test]
fn poll_and_ppoll() {
    let (r, w) = sc::pipe().unwrap();
    let pfd = |fd: i32| PollFd {
        fd,
        events: k::POLLIN as i16,
        revents: 0,
    };
    let mut fds = [pfd(r.as_raw_fd()), pfd(w.as_raw_fd())];
    let mut cfds = [libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    assert_eq!(
        ours(sc::poll(&mut fds, 0)),
        lc(unsafe { libc::poll(cfds.as_mut_ptr(), 1, 0) })
    );
    sc::write(w.as_fd(), b"x").unwrap();
    assert_eq!(ours(sc::poll(&mut fds, 0)), Ok(1));
    assert_eq!(fds[0].revents, k::POLLIN as i16);
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mask = Sigset::zeroed();
    assert_eq!(
        ours(sc::ppoll(
            &mut fds,
            Some(&zero),
            Some(&mask),
            size_of::<Sigset>()
        )),
        Ok(1)
    );
    let cz = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    assert_eq!(
        lc(unsafe { libc::ppoll(cfds.as_mut_ptr(), 1, &cz, std::ptr::null()) }),
        Ok(1)
    );
    // Failures: more descriptors than RLIMIT_NOFILE; a wrong sigset size; a bad timeout.
    let limit = sc::getrlimit(k::RLIMIT_NOFILE).unwrap().rlim_cur as usize;
    let mut many = vec![pfd(-1); limit + 1];
    assert_eq!(
        ours(sc::poll(&mut many, 0)),
        lc(unsafe { libc::poll(many.as_mut_ptr().cast(), (limit + 1) as u64, 0) })
    );
    assert_eq!(ours(sc::poll(&mut many, 0)), Err(Errno::EINVAL));
    assert_eq!(
        ours(sc::ppoll(&mut fds, Some(&zero), Some(&mask), 4)),
        lc(unsafe { libc::syscall(libc::SYS_ppoll, cfds.as_mut_ptr(), 1, &cz, &mask, 4) })
    );
    let bad = Timespec {
        tv_sec: -1,
        tv_nsec: 0,
    };
    assert_eq!(
        ours(sc::ppoll(&mut fds, Some(&bad), None, 8)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn epoll() {
    let ep = sc::epoll_create1(k::EPOLL_CLOEXEC).unwrap();
    assert_eq!(
        ours(sc::epoll_create1(0xdead)),
        fd_ok(unsafe { libc::epoll_create1(0xdead) })
    );
    assert_eq!(
        ours(sc::epoll_create1(0)),
        fd_ok(unsafe { libc::epoll_create1(0) })
    );
    let (r, w) = sc::pipe().unwrap();
    let ev = EpollEvent {
        events: k::EPOLLIN,
        data: 42,
    };
    assert_eq!(
        ours(sc::epoll_ctl(
            ep.as_fd(),
            k::EPOLL_CTL_ADD,
            r.as_fd(),
            Some(&ev)
        )),
        Ok(0)
    );
    let mut cev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    assert_eq!(
        ours(sc::epoll_ctl(
            ep.as_fd(),
            k::EPOLL_CTL_ADD,
            r.as_fd(),
            Some(&ev)
        )),
        lc(unsafe {
            libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, r.as_raw_fd(), &mut cev)
        })
    );
    assert_eq!(
        ours(sc::epoll_ctl(
            ep.as_fd(),
            k::EPOLL_CTL_ADD,
            ep.as_fd(),
            Some(&ev)
        )),
        Err(Errno::EINVAL)
    );
    let mut evs = [EpollEvent { events: 0, data: 0 }; 4];
    assert_eq!(ours(sc::epoll_wait(ep.as_fd(), &mut evs, 0)), Ok(0));
    sc::write(w.as_fd(), b"x").unwrap();
    assert_eq!(ours(sc::epoll_wait(ep.as_fd(), &mut evs, 0)), Ok(1));
    let (events, data) = (evs[0].events, evs[0].data);
    assert_eq!((events, data), (k::EPOLLIN, 42));
    let mut cevs = [libc::epoll_event { events: 0, u64: 0 }; 4];
    assert_eq!(
        lc(unsafe { libc::epoll_wait(ep.as_raw_fd(), cevs.as_mut_ptr(), 4, 0) }),
        Ok(1)
    );
    assert_eq!(
        ours(sc::epoll_pwait(ep.as_fd(), &mut evs, 0, None, 8)),
        Ok(1)
    );
    // Failures: no room for events; a wrong sigset size.
    assert_eq!(
        ours(sc::epoll_wait(ep.as_fd(), &mut [], 0)),
        lc(unsafe { libc::epoll_wait(ep.as_raw_fd(), cevs.as_mut_ptr(), 0, 0) })
    );
    let mask = Sigset::zeroed();
    assert_eq!(
        ours(sc::epoll_pwait(ep.as_fd(), &mut evs, 0, Some(&mask), 4)),
        lc(unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait,
                ep.as_raw_fd(),
                cevs.as_mut_ptr(),
                4,
                0,
                &mask,
                4,
            )
        })
    );
    assert_eq!(
        ours(sc::epoll_wait(r.as_fd(), &mut evs, 0)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn inotify() {
    let d = TempDir::new();
    let fd = sc::inotify_init1(k::IN_CLOEXEC | k::IN_NONBLOCK).unwrap();
    assert_eq!(
        ours(sc::inotify_init1(0xdead)),
        fd_ok(unsafe { libc::inotify_init1(0xdead) })
    );
    let wd = sc::inotify_add_watch(fd.as_fd(), &d.0, k::IN_CREATE).unwrap();
    assert!(wd > 0);
    // SAFETY: inotify_init1 returns a new descriptor this test owns.
    let cfd = unsafe { OwnedFd::from_raw_fd(libc::inotify_init1(0)) };
    assert_eq!(
        lc(unsafe { libc::inotify_add_watch(cfd.as_raw_fd(), cs(&d.0).as_ptr(), libc::IN_CREATE) }),
        Ok(1)
    );
    d.file("new", b"");
    let mut buf = [0u8; 256];
    assert!(sc::read(fd.as_fd(), &mut buf).unwrap() >= 16);
    assert_eq!(
        ours(sc::inotify_add_watch(
            fd.as_fd(),
            d.join("none"),
            k::IN_CREATE
        )),
        lc(unsafe {
            libc::inotify_add_watch(cfd.as_raw_fd(), d.c("none").as_ptr(), libc::IN_CREATE)
        })
    );
    assert_eq!(ours(sc::inotify_rm_watch(fd.as_fd(), wd)), Ok(0));
    assert_eq!(
        ours(sc::inotify_rm_watch(fd.as_fd(), wd)),
        lc(unsafe { libc::inotify_rm_watch(cfd.as_raw_fd(), 12345) })
    );
}

#[test]
fn timerfd() {
    let t = sc::timerfd_create(k::CLOCK_MONOTONIC as i32, k::TFD_CLOEXEC).unwrap();
    assert_eq!(
        ours(sc::timerfd_create(12345, 0)),
        fd_ok(unsafe { libc::timerfd_create(12345, 0) })
    );
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: 100,
            tv_nsec: 0,
        },
    };
    let mut old = Itimerspec::zeroed();
    assert_eq!(
        ours(sc::timerfd_settime(t.as_fd(), 0, &spec, Some(&mut old))),
        Ok(0)
    );
    let mut cur = Itimerspec::zeroed();
    assert_eq!(ours(sc::timerfd_gettime(t.as_fd(), &mut cur)), Ok(0));
    assert!(cur.it_value.tv_sec > 90 && cur.it_value.tv_sec <= 100);
    let mut ccur: libc::itimerspec = unsafe { std::mem::zeroed() };
    assert_eq!(
        lc(unsafe { libc::timerfd_gettime(t.as_raw_fd(), &mut ccur) }),
        Ok(0)
    );
    // Failures: bad flags; a descriptor that is not a timer.
    let (r, _w) = sc::pipe().unwrap();
    let cspec: libc::itimerspec = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::timerfd_settime(t.as_fd(), 0xdead, &spec, None)),
        lc(unsafe { libc::timerfd_settime(t.as_raw_fd(), 0xdead, &cspec, std::ptr::null_mut()) })
    );
    assert_eq!(
        ours(sc::timerfd_gettime(r.as_fd(), &mut cur)),
        lc(unsafe { libc::timerfd_gettime(r.as_raw_fd(), &mut ccur) })
    );
}

#[test]
fn pidfd() {
    let me = sc::getpid();
    let p = sc::pidfd_open(me, 0).unwrap();
    assert_eq!(
        ours(sc::pidfd_open(me, 0)),
        fd_ok(unsafe { libc::syscall(libc::SYS_pidfd_open, me, 0) } as i32)
    );
    assert_eq!(
        ours(sc::pidfd_open(-5, 0)),
        fd_ok(unsafe { libc::syscall(libc::SYS_pidfd_open, -5, 0) } as i32)
    );
    // Signal 0 checks the target without sending anything.
    assert_eq!(
        ours(sc::pidfd_send_signal(p.as_fd(), 0, None, 0)),
        lc(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, p.as_raw_fd(), 0, 0, 0) })
    );
    assert_eq!(
        ours(sc::pidfd_send_signal(p.as_fd(), 999, None, 0)),
        lc(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, p.as_raw_fd(), 999, 0, 0) })
    );
    assert_eq!(
        ours(sc::pidfd_send_signal(p.as_fd(), 999, None, 0)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn ioctl() {
    let (r, w) = sc::pipe().unwrap();
    sc::write(w.as_fd(), b"abc").unwrap();
    let mut n: i32 = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    assert_eq!(
        ours(unsafe { sc::ioctl(r.as_fd(), libc::FIONREAD as u32, &raw mut n as usize) }),
        Ok(0)
    );
    assert_eq!(n, 3);
    let d = TempDir::new();
    let f = open_ro(&d.file("f", b""));
    let mut ws = [0u16; 4];
    // SAFETY: TIOCGWINSZ writes a struct winsize (four u16) through the pointer.
    assert_eq!(
        ours(unsafe { sc::ioctl(f.as_fd(), libc::TIOCGWINSZ as u32, ws.as_mut_ptr() as usize) }),
        lc(unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCGWINSZ, ws.as_mut_ptr()) })
    );
    // SAFETY: as above.
    assert_eq!(
        ours(unsafe { sc::ioctl(f.as_fd(), libc::TIOCGWINSZ as u32, ws.as_mut_ptr() as usize) }),
        Err(Errno::ENOTTY)
    );
}

#[test]
fn pipes() {
    let (r, w) = sc::pipe2(k::O_CLOEXEC | k::O_NONBLOCK).unwrap();
    assert_eq!(
        sc::fcntl(r.as_fd(), k::F_GETFD, 0),
        Ok(k::FD_CLOEXEC as i32)
    );
    let mut buf = [0u8; 1];
    assert_eq!(
        sc::read(r.as_fd(), &mut buf),
        Err(Errno::EAGAIN),
        "O_NONBLOCK took"
    );
    let mut fds = [0i32; 2];
    assert_eq!(
        lc(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }),
        Ok(0)
    );
    // SAFETY: the two new descriptors libc just made.
    unsafe {
        fds.iter().for_each(|&f| {
            libc::close(f);
        })
    };
    assert_eq!(
        sc::pipe2(0xdead).map(|_| 0),
        lc(unsafe { libc::pipe2(fds.as_mut_ptr(), 0xdead) })
    );
    assert_eq!(
        sc::pipe().map(|_| 0),
        lc(unsafe { libc::pipe(fds.as_mut_ptr()) })
    );
    drop(w);
}
