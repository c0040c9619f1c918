//! Processes, ids, resources, memory, time and signals on success and on failure, against
//! libc.

mod common;

use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;

use common::*;
use goro::syscall::{
    self as sc, Errno, Itimerval, Pod, Rlimit, Rusage, Siginfo, Sigset, Sysinfo, Timespec, Utsname,
};
use linux_raw_sys::general as k;

#[test]
fn ids_cannot_fail() {
    // SAFETY (libc side, throughout): id getters take no arguments and cannot fail.
    unsafe {
        assert_eq!(sc::getpid(), libc::getpid());
        assert_eq!(sc::getppid(), libc::getppid());
        assert_eq!(sc::gettid(), libc::gettid());
        assert_eq!(sc::getuid(), libc::getuid());
        assert_eq!(sc::geteuid(), libc::geteuid());
        assert_eq!(sc::getgid(), libc::getgid());
        assert_eq!(sc::getegid(), libc::getegid());
    }
    assert_eq!(sc::getpgrp(), unsafe { libc::getpgrp() });
    sc::sched_yield();
    // personality(0xffffffff) only queries; personality cannot fail.
    assert_eq!(
        ours(sc::personality(0xffff_ffff)),
        lc(unsafe { libc::personality(0xffff_ffff) })
    );
}

#[test]
fn resuid_groups_pgid_sid() {
    let (mut r, mut e, mut s) = (0, 0, 0);
    assert_eq!(ours(sc::getresuid(&mut r, &mut e, &mut s)), Ok(0));
    let (mut cr, mut ce, mut cs_) = (0, 0, 0);
    assert_eq!(
        lc(unsafe { libc::getresuid(&mut cr, &mut ce, &mut cs_) }),
        Ok(0)
    );
    assert_eq!((r, e, s), (cr, ce, cs_));
    assert_eq!(ours(sc::getresgid(&mut r, &mut e, &mut s)), Ok(0));
    assert_eq!(
        lc(unsafe { libc::getresgid(&mut cr, &mut ce, &mut cs_) }),
        Ok(0)
    );
    assert_eq!((r, e, s), (cr, ce, cs_));
    // These two cannot fail with valid pointers, which are all a safe caller can pass.

    let n = sc::getgroups(&mut []).unwrap();
    let mut a = vec![0u32; n];
    let mut b = vec![0u32; n];
    assert_eq!(
        ours(sc::getgroups(&mut a)),
        lc(unsafe { libc::getgroups(n as i32, b.as_mut_ptr()) })
    );
    assert_eq!(a, b);
    // Too small a list (when there is a group at all) is EINVAL.
    if n > 0 {
        assert_eq!(
            ours(sc::getgroups(&mut a[..n - 1])),
            lc(unsafe { libc::getgroups(n as i32 - 1, b.as_mut_ptr()) })
        );
    } else {
        assert_eq!(
            lc(unsafe { libc::getgroups(-1, b.as_mut_ptr()) }),
            Err(Errno::EINVAL)
        );
    }

    assert_eq!(ours(sc::getpgid(0)), lc(unsafe { libc::getpgid(0) }));
    assert_eq!(
        ours(sc::getpgid(i32::MAX)),
        lc(unsafe { libc::getpgid(i32::MAX) })
    );
    let pg = sc::getpgrp();
    assert_eq!(
        ours(sc::setpgid(0, pg)),
        lc(unsafe { libc::setpgid(0, pg) })
    );
    assert_eq!(
        ours(sc::setpgid(0, -1)),
        lc(unsafe { libc::setpgid(0, -1) })
    );
    assert_eq!(ours(sc::getsid(0)), lc(unsafe { libc::getsid(0) }));
    assert_eq!(
        ours(sc::getsid(i32::MAX)),
        lc(unsafe { libc::getsid(i32::MAX) })
    );
    assert_eq!(ours(sc::getsid(i32::MAX)), Err(Errno::ESRCH));
}

fn code<T>(r: Result<T, Errno>) -> i32 {
    r.map_or_else(|e| i32::from(e.0), |_| 0)
}

fn ccode(r: i32) -> i32 {
    if r >= 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap()
    }
}

#[test]
fn setsid_in_children() {
    // A child that is not a group leader may start a session; a group leader may not.
    assert_eq!(in_child(|| code(sc::setsid())), 0);
    assert_eq!(in_child(|| ccode(unsafe { libc::setsid() })), 0);
    let leader_ours = || {
        let _ = sc::setpgid(0, 0);
        code(sc::setsid())
    };
    // SAFETY: system calls only.
    let leader_libc = || unsafe {
        libc::setpgid(0, 0);
        ccode(libc::setsid())
    };
    assert_eq!(in_child(leader_ours), in_child(leader_libc));
    assert_eq!(in_child(leader_ours), i32::from(Errno::EPERM.0));
}

#[test]
#[allow(
    clippy::zombie_processes,
    reason = "the children are reaped by the calls under test"
)]
fn wait4_and_waitid() {
    let child = Command::new("true").spawn().unwrap();
    let mut status = 0;
    let mut ru = Rusage::zeroed();
    assert_eq!(
        ours(sc::wait4(
            child.id() as i32,
            Some(&mut status),
            0,
            Some(&mut ru)
        )),
        Ok(child.id() as i64)
    );
    assert_eq!(status, 0);
    let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let mut cstatus = 0;
    assert_eq!(
        lc(unsafe { libc::wait4(child.id() as i32, &mut cstatus, 0, std::ptr::null_mut()) }),
        Ok(child.id() as i64)
    );
    assert_eq!(libc::WEXITSTATUS(cstatus), 3);
    // A pid that is not our child.
    assert_eq!(
        ours(sc::wait4(i32::MAX, None, 0, None)),
        lc(unsafe { libc::wait4(i32::MAX, std::ptr::null_mut(), 0, std::ptr::null_mut()) })
    );
    assert_eq!(
        ours(sc::wait4(1, None, 0xdead, None)),
        lc(unsafe { libc::wait4(1, std::ptr::null_mut(), 0xdead, std::ptr::null_mut()) })
    );

    let child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
    let mut info = Siginfo::zeroed();
    assert_eq!(
        ours(sc::waitid(
            k::P_PID,
            child.id() as i32,
            &mut info,
            k::WEXITED,
            None
        )),
        Ok(0)
    );
    let child = Command::new("true").spawn().unwrap();
    let mut cinfo: libc::siginfo_t = unsafe { std::mem::zeroed() };
    assert_eq!(
        lc(unsafe { libc::waitid(libc::P_PID, child.id(), &mut cinfo, libc::WEXITED) }),
        Ok(0)
    );
    assert_eq!(
        ours(sc::waitid(k::P_PID, i32::MAX, &mut info, k::WEXITED, None)),
        lc(unsafe { libc::waitid(libc::P_PID, i32::MAX as u32, &mut cinfo, libc::WEXITED) })
    );
    assert_eq!(
        ours(sc::waitid(99, 0, &mut info, k::WEXITED, None)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn signals_to_processes() {
    let me = sc::getpid();
    assert_eq!(ours(sc::kill(me, 0)), lc(unsafe { libc::kill(me, 0) }));
    assert_eq!(ours(sc::kill(me, 999)), lc(unsafe { libc::kill(me, 999) }));
    assert_eq!(ours(sc::kill(i32::MAX, 0)), Err(Errno::ESRCH));
    let tid = sc::gettid();
    assert_eq!(
        ours(sc::tgkill(me, tid, 0)),
        lc(unsafe { libc::syscall(libc::SYS_tgkill, me, tid, 0) })
    );
    assert_eq!(
        ours(sc::tgkill(me, -1, 0)),
        lc(unsafe { libc::syscall(libc::SYS_tgkill, me, -1, 0) })
    );
}

#[test]
fn priorities_and_scheduling() {
    // The system call returns 20 - nice; glibc's getpriority returns nice.
    let raw = sc::getpriority(k::PRIO_PROCESS, 0).unwrap();
    assert_eq!(20 - raw, unsafe {
        libc::getpriority(libc::PRIO_PROCESS, 0)
    });
    assert_eq!(
        ours(sc::getpriority(99, 0)),
        lc(unsafe { libc::getpriority(99, 0) })
    );
    let nice = 20 - raw;
    assert_eq!(
        ours(sc::setpriority(k::PRIO_PROCESS, 0, nice)),
        lc(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) })
    );
    assert_eq!(
        ours(sc::setpriority(99, 0, nice)),
        lc(unsafe { libc::setpriority(99, 0, nice) })
    );

    let mut a = [0u8; 128];
    let mut b: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let n = sc::sched_getaffinity(0, &mut a).unwrap();
    assert!(n > 0 && n <= a.len());
    assert_eq!(
        lc(unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut b) }),
        Ok(0)
    );
    for cpu in 0..64 {
        assert_eq!(
            a[cpu / 8] & (1 << (cpu % 8)) != 0,
            unsafe { libc::CPU_ISSET(cpu, &b) },
            "cpu {cpu}"
        );
    }
    // A mask too small for the kernel's CPU count is EINVAL.
    assert_eq!(
        ours(sc::sched_getaffinity(0, &mut a[..1])),
        lc(unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, 1, a.as_mut_ptr()) })
    );
    assert_eq!(
        ours(sc::sched_getaffinity(i32::MAX, &mut a)),
        Err(Errno::ESRCH)
    );
    // Setting the current mask back changes nothing; an empty mask is EINVAL.
    let current = a;
    assert_eq!(
        ours(sc::sched_setaffinity(0, &current[..n])),
        lc(unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &b) })
    );
    let empty: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::sched_setaffinity(0, &[0u8; 128])),
        lc(unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &empty) })
    );

    assert_eq!(
        ours(sc::sched_getscheduler(0)),
        lc(unsafe { libc::sched_getscheduler(0) })
    );
    assert_eq!(
        ours(sc::sched_getscheduler(-1)),
        lc(unsafe { libc::sched_getscheduler(-1) })
    );
    assert_eq!(
        ours(sc::sched_get_priority_max(k::SCHED_FIFO as i32)),
        lc(unsafe { libc::sched_get_priority_max(libc::SCHED_FIFO) })
    );
    assert_eq!(
        ours(sc::sched_get_priority_max(99)),
        lc(unsafe { libc::sched_get_priority_max(99) })
    );
    assert_eq!(
        ours(sc::sched_get_priority_min(k::SCHED_FIFO as i32)),
        lc(unsafe { libc::sched_get_priority_min(libc::SCHED_FIFO) })
    );
    assert_eq!(
        ours(sc::sched_get_priority_min(99)),
        lc(unsafe { libc::sched_get_priority_min(99) })
    );
}

#[test]
fn resources_and_system() {
    let mut ru = Rusage::zeroed();
    let mut cru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::getrusage(k::RUSAGE_SELF as i32, &mut ru)),
        lc(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut cru) })
    );
    assert_eq!(
        ours(sc::getrusage(99, &mut ru)),
        lc(unsafe { libc::getrusage(99, &mut cru) })
    );

    let lim = sc::getrlimit(k::RLIMIT_NOFILE).unwrap();
    let mut clim: libc::rlimit = unsafe { std::mem::zeroed() };
    assert_eq!(
        lc(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut clim) }),
        Ok(0)
    );
    assert_eq!((lim.rlim_cur, lim.rlim_max), (clim.rlim_cur, clim.rlim_max));
    assert_eq!(
        sc::getrlimit(99).map(|_| ()),
        lc(unsafe { libc::getrlimit(99, &mut clim) }).map(|_| ())
    );
    assert_eq!(
        ours(sc::setrlimit(k::RLIMIT_NOFILE, &lim)),
        lc(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &clim) })
    );
    let inverted = Rlimit {
        rlim_cur: 10,
        rlim_max: 5,
    };
    let cinv = libc::rlimit {
        rlim_cur: 10,
        rlim_max: 5,
    };
    assert_eq!(
        ours(sc::setrlimit(k::RLIMIT_NOFILE, &inverted)),
        lc(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &cinv) })
    );
    let mut old = Rlimit::zeroed();
    assert_eq!(
        ours(sc::prlimit(0, k::RLIMIT_NOFILE, None, Some(&mut old))),
        Ok(0)
    );
    assert_eq!(old.rlim_cur, lim.rlim_cur);
    assert_eq!(
        ours(sc::prlimit(
            i32::MAX,
            k::RLIMIT_NOFILE,
            None,
            Some(&mut old)
        )),
        lc(unsafe { libc::prlimit(i32::MAX, libc::RLIMIT_NOFILE, std::ptr::null(), &mut clim) })
    );

    let mut u = Utsname::zeroed();
    let mut cu: libc::utsname = unsafe { std::mem::zeroed() };
    assert_eq!(ours(sc::uname(&mut u)), lc(unsafe { libc::uname(&mut cu) }));
    assert_eq!(u.release.map(|c| c as u8), cu.release.map(|c| c as u8));
    let mut si = Sysinfo::zeroed();
    let mut csi: libc::sysinfo = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::sysinfo(&mut si)),
        lc(unsafe { libc::sysinfo(&mut csi) })
    );
    assert_eq!(si.totalram, csi.totalram);
    // uname and sysinfo cannot fail with a valid pointer, the only kind a safe caller has.

    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    assert_eq!(
        ours(sc::getrandom(&mut a, 0)),
        lc(unsafe { libc::getrandom(b.as_mut_ptr().cast(), 32, 0) } as i64)
    );
    assert_ne!(a, b);
    assert_eq!(
        ours(sc::getrandom(&mut a, 0xdead)),
        lc(unsafe { libc::getrandom(b.as_mut_ptr().cast(), 32, 0xdead) } as i64)
    );
}

#[test]
fn namespaces_hostname_prctl_klog() {
    // unshare(0) and joining our own UTS namespace change nothing.
    assert_eq!(ours(sc::unshare(0)), lc(unsafe { libc::unshare(0) }));
    assert_eq!(
        ours(sc::unshare(0xffff_ffff)),
        lc(unsafe { libc::unshare(-1) })
    );
    let ns = open_ro(std::path::Path::new("/proc/self/ns/uts"));
    assert_eq!(
        ours(sc::setns(ns.as_fd(), k::CLONE_NEWUTS)),
        lc(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWUTS) })
    );
    assert_eq!(
        ours(sc::setns(ns.as_fd(), k::CLONE_NEWNET)),
        lc(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })
    );

    // Setting the host and domain names to what they are changes nothing (and needs
    // CAP_SYS_ADMIN: both sides agree either way).
    let mut u = Utsname::zeroed();
    sc::uname(&mut u).unwrap();
    let name: Vec<u8> = u
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let domain: Vec<u8> = u
        .domainname
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    assert_eq!(
        ours(sc::sethostname(&name)),
        lc(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
    );
    assert_eq!(
        ours(sc::sethostname(&[b'x'; 100])),
        lc(unsafe { libc::sethostname([b'x'; 100].as_ptr().cast(), 100) })
    );
    assert_eq!(
        ours(sc::setdomainname(&domain)),
        lc(unsafe { libc::setdomainname(domain.as_ptr().cast(), domain.len()) })
    );
    assert_eq!(
        ours(sc::setdomainname(&[b'x'; 100])),
        lc(unsafe { libc::setdomainname([b'x'; 100].as_ptr().cast(), 100) })
    );

    // SAFETY: PR_GET_DUMPABLE takes no pointer; option 9999 does not exist.
    unsafe {
        assert_eq!(
            ours(sc::prctl(linux_raw_sys::prctl::PR_GET_DUMPABLE, 0, 0, 0, 0)),
            lc(libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0))
        );
        assert_eq!(
            ours(sc::prctl(9999, 0, 0, 0, 0)),
            lc(libc::prctl(9999, 0, 0, 0, 0))
        );
    }
    // SYSLOG_ACTION_SIZE_BUFFER (10) only reports the size; action 99 does not exist.
    assert_eq!(
        ours(sc::klogctl(10, &mut [])),
        lc(unsafe { libc::klogctl(10, std::ptr::null_mut(), 0) })
    );
    assert_eq!(
        ours(sc::klogctl(99, &mut [])),
        lc(unsafe { libc::klogctl(99, std::ptr::null_mut(), 0) })
    );
}

/// The child side of `execve_and_exit`: runs only when the parent test starts this binary
/// with `GORO_CHILD` set.
#[test]
fn child_mode() {
    match std::env::var("GORO_CHILD").as_deref() {
        Ok("execve") => {
            let e = sc::execve(
                "/bin/sh",
                &[c"sh", c"-c", c"exit $GORO_CODE"],
                &[c"GORO_CODE=7"],
            );
            panic!("execve failed: {e}");
        }
        Ok("exit") => sc::exit(3),
        _ => {}
    }
}

#[test]
fn execve_and_exit() {
    let me = std::env::current_exe().unwrap();
    let run = |mode: &str| {
        Command::new(&me)
            .args(["--exact", "child_mode", "--nocapture"])
            .env("GORO_CHILD", mode)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(run("execve"), Some(7));
    assert_eq!(run("exit"), Some(3));
    // Failure: no such program, as libc sees it.
    let e = sc::execve("/no/such/program", &[c"x"], &[]);
    let argv = [c"x".as_ptr(), std::ptr::null()];
    let env = [std::ptr::null()];
    assert_eq!(
        Err(e),
        lc(unsafe { libc::execve(c"/no/such/program".as_ptr(), argv.as_ptr(), env.as_ptr()) })
    );
    assert_eq!(e, Errno::ENOENT);
    assert_eq!(sc::execve("/bin/\0sh", &[], &[]), Errno::EINVAL);
}

#[test]
fn memory() {
    let page = 4096;
    // SAFETY (throughout): the mapping is fresh, private to this test, and unmapped at the end;
    // the failing calls are refused by the kernel before touching anything.
    unsafe {
        let flags = k::MAP_PRIVATE | k::MAP_ANONYMOUS;
        let rw = k::PROT_READ | k::PROT_WRITE;
        let p = sc::mmap(0, 4 * page, rw, flags, -1, 0).unwrap();
        assert_eq!(
            ours(sc::mmap(0, 0, rw, flags, -1, 0)),
            lc(libc::mmap(
                std::ptr::null_mut(),
                0,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0
            ) as i64)
        );
        (p as *mut u8).write(1);
        let mut vec = [0u8; 4];
        assert_eq!(ours(sc::mincore(p, 4 * page, vec.as_mut_ptr())), Ok(0));
        assert_eq!(vec[0] & 1, 1, "the page we wrote is resident");
        let mut cvec = [0u8; 4];
        assert_eq!(
            ours(sc::mincore(p + 1, page, vec.as_mut_ptr())),
            lc(libc::mincore((p + 1) as *mut _, page, cvec.as_mut_ptr()))
        );
        assert_eq!(ours(sc::madvise(p, page, k::MADV_DONTNEED)), Ok(0));
        assert_eq!((p as *const u8).read(), 0);
        assert_eq!(
            ours(sc::madvise(p, page, 999)),
            lc(libc::madvise(p as *mut _, page, 999))
        );
        assert_eq!(ours(sc::mprotect(p + 3 * page, page, k::PROT_NONE)), Ok(0));
        assert_eq!(
            ours(sc::mprotect(p + 1, page, k::PROT_NONE)),
            lc(libc::mprotect((p + 1) as *mut _, page, libc::PROT_NONE))
        );
        assert_eq!(
            ours(sc::msync(p, page, k::MS_ASYNC)),
            lc(libc::msync(p as *mut _, page, libc::MS_ASYNC))
        );
        assert_eq!(
            ours(sc::msync(p + 1, page, k::MS_ASYNC)),
            lc(libc::msync((p + 1) as *mut _, page, libc::MS_ASYNC))
        );
        let q = sc::mremap(p, 4 * page, 2 * page, 0, 0).unwrap();
        assert_eq!(q, p, "shrinking in place");
        assert_eq!(
            ours(sc::mremap(p + 1, page, page, 0, 0)),
            lc(libc::mremap((p + 1) as *mut _, page, page, 0) as i64)
        );
        assert_eq!(
            ours(sc::munmap(p + 1, page)),
            lc(libc::munmap((p + 1) as *mut _, page))
        );
        assert_eq!(ours(sc::munmap(p, 2 * page)), Ok(0));
    }

    // mlock fails only without CAP_IPC_LOCK and over RLIMIT_MEMLOCK: in children that set the
    // limit to zero and give up root (when they have it).
    let small = [7u8; 64];
    let lock_ours = || {
        let _ = sc::setrlimit(
            k::RLIMIT_MEMLOCK,
            &Rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            },
        );
        // SAFETY: the child is single-threaded; setuid only drops privileges.
        unsafe { libc::setuid(65534) };
        code(sc::mlock(&small))
    };
    // SAFETY: system calls only.
    let lock_libc = || unsafe {
        let z = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &z);
        libc::setuid(65534);
        ccode(libc::mlock(small.as_ptr().cast(), 64))
    };
    assert_eq!(in_child(lock_ours), in_child(lock_libc));
    assert_eq!(in_child(lock_ours), i32::from(Errno::EPERM.0));

    let buf = vec![7u8; 3 * page];
    assert_eq!(
        ours(sc::mlock(&buf)),
        lc(unsafe { libc::mlock(buf.as_ptr().cast(), buf.len()) })
    );
    assert_eq!(
        ours(sc::munlock(&buf)),
        lc(unsafe { libc::munlock(buf.as_ptr().cast(), buf.len()) })
    );
    assert_eq!(ours(sc::mlockall(0)), lc(unsafe { libc::mlockall(0) }));
    assert_eq!(ours(sc::mlockall(0xdead)), Err(Errno::EINVAL));
    assert_eq!(ours(sc::munlockall()), lc(unsafe { libc::munlockall() }));
}

#[test]
fn time_calls() {
    let mut res = Timespec {
        tv_sec: 9,
        tv_nsec: 9,
    };
    let mut cres = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    assert_eq!(
        ours(sc::clock_getres(k::CLOCK_MONOTONIC as i32, Some(&mut res))),
        lc(unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut cres) })
    );
    assert_eq!((res.tv_sec, res.tv_nsec), (cres.tv_sec, cres.tv_nsec));
    assert_eq!(
        ours(sc::clock_getres(12345, None)),
        lc(unsafe { libc::clock_getres(12345, &mut cres) })
    );

    let short = Timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    let cshort = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    assert_eq!(
        ours(sc::nanosleep(&short, None)),
        lc(unsafe { libc::nanosleep(&cshort, std::ptr::null_mut()) })
    );
    let bad = Timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    };
    let cbad = libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    };
    assert_eq!(
        ours(sc::nanosleep(&bad, None)),
        lc(unsafe { libc::nanosleep(&cbad, std::ptr::null_mut()) })
    );
    // glibc's clock_nanosleep returns the error number.
    let c = |r: i32| if r == 0 { Ok(0) } else { Err(Errno(r as u16)) };
    assert_eq!(
        ours(sc::clock_nanosleep(
            k::CLOCK_MONOTONIC as i32,
            0,
            &short,
            None
        )),
        c(unsafe {
            libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &cshort, std::ptr::null_mut())
        })
    );
    assert_eq!(
        ours(sc::clock_nanosleep(
            k::CLOCK_MONOTONIC as i32,
            0,
            &bad,
            None
        )),
        c(unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &cbad, std::ptr::null_mut()) })
    );

    // ITIMER_VIRTUAL, disarmed: nothing fires.
    let zero = Itimerval::zeroed();
    let mut old = Itimerval::zeroed();
    let czero: libc::itimerval = unsafe { std::mem::zeroed() };
    let mut cold: libc::itimerval = unsafe { std::mem::zeroed() };
    assert_eq!(
        ours(sc::setitimer(k::ITIMER_VIRTUAL, &zero, Some(&mut old))),
        lc(unsafe { libc::setitimer(libc::ITIMER_VIRTUAL, &czero, &mut cold) })
    );
    assert_eq!(
        ours(sc::setitimer(99, &zero, None)),
        lc(unsafe { libc::setitimer(99, &czero, std::ptr::null_mut()) })
    );
    assert_eq!(
        ours(sc::getitimer(k::ITIMER_VIRTUAL, &mut old)),
        lc(unsafe { libc::getitimer(libc::ITIMER_VIRTUAL, &mut cold) })
    );
    assert_eq!(
        ours(sc::getitimer(99, &mut old)),
        lc(unsafe { libc::getitimer(99, &mut cold) })
    );
    // alarm(0) cancels nothing here and cannot fail.
    assert_eq!(sc::alarm(0), unsafe { libc::alarm(0) });
}

#[test]
fn vdso_calls_against_libc() {
    let mut c = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let ours_t = sc::clock_gettime(k::CLOCK_REALTIME as i32).unwrap();
    assert_eq!(
        lc(unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut c) }),
        Ok(0)
    );
    assert!((c.tv_sec - ours_t.tv_sec).abs() <= 1);
    assert_eq!(
        sc::clock_gettime(-77).map(|_| 0),
        lc(unsafe { libc::clock_gettime(-77, &mut c) })
    );
    let tv = sc::gettimeofday().unwrap();
    let mut ctv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    assert_eq!(
        lc(unsafe { libc::gettimeofday(&mut ctv, std::ptr::null_mut()) }),
        Ok(0)
    );
    assert!((ctv.tv_sec - tv.tv_sec).abs() <= 1);
    assert!((unsafe { libc::time(std::ptr::null_mut()) } - sc::time()).abs() <= 1);
    let (cpu, _node) = sc::getcpu().unwrap();
    let ccpu = unsafe { libc::sched_getcpu() };
    let n = std::thread::available_parallelism().unwrap().get() as i32;
    assert!((cpu as i32) < n.max(64) && ccpu < n.max(64));
    // gettimeofday, time and getcpu have no failure a safe caller can cause.
}

#[test]
fn signal_masks_and_waiting() {
    // On a thread of its own: the mask and the pending signal stay here.
    std::thread::spawn(|| {
        let sig = k::SIGUSR2;
        let mut set = Sigset::zeroed();
        set.sig[0] = 1 << (sig - 1);
        let mut old = Sigset::zeroed();
        let mut cold = Sigset::zeroed();
        assert_eq!(
            ours(sc::rt_sigprocmask(
                k::SIG_BLOCK,
                Some(&set),
                Some(&mut old),
                8
            )),
            Ok(0)
        );
        assert_eq!(
            lc(unsafe {
                libc::syscall(
                    libc::SYS_rt_sigprocmask,
                    libc::SIG_BLOCK,
                    &set,
                    &mut cold,
                    8,
                )
            } as i32),
            Ok(0)
        );
        assert_eq!(cold.sig[0] & set.sig[0], set.sig[0], "libc sees our block");
        assert_eq!(
            ours(sc::rt_sigprocmask(k::SIG_BLOCK, Some(&set), None, 4)),
            lc(
                unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &set, 0, 4) }
                    as i32
            )
        );
        assert_eq!(
            ours(sc::rt_sigprocmask(77, Some(&set), None, 8)),
            Err(Errno::EINVAL)
        );

        let mut pend = Sigset::zeroed();
        assert_eq!(ours(sc::rt_sigpending(&mut pend, 8)), Ok(0));
        assert_eq!(pend.sig[0] & set.sig[0], 0);
        sc::tgkill(sc::getpid(), sc::gettid(), sig).unwrap();
        assert_eq!(
            ours(sc::rt_sigpending(&mut pend, 8)),
            lc(unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut cold, 8) } as i32)
        );
        assert_eq!(pend.sig[0] & set.sig[0], set.sig[0]);
        assert_eq!(
            ours(sc::rt_sigpending(&mut pend, 1000)),
            lc(unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut cold, 1000) } as i32)
        );

        // The signalfd sees it too, before we take it.
        let sfd = sc::signalfd(&set, (libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) as u32).unwrap();
        assert!(sfd.as_raw_fd() >= 0);
        let mut cset: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe { libc::sigaddset(&mut cset, sig as i32) };
        assert_eq!(
            ours(sc::signalfd(&set, 0xdead)),
            fd_ok(unsafe { libc::signalfd(-1, &cset, 0xdead) })
        );
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut info = Siginfo::zeroed();
        assert_eq!(
            ours(sc::rt_sigtimedwait(&set, Some(&mut info), Some(&zero), 8)),
            Ok(i64::from(sig))
        );
        // Nothing pending now: EAGAIN after a zero timeout, as libc's sigtimedwait says.
        let cz = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(
            ours(sc::rt_sigtimedwait(&set, None, Some(&zero), 8)),
            lc(unsafe { libc::sigtimedwait(&cset, std::ptr::null_mut(), &cz) })
        );
        sc::rt_sigprocmask(k::SIG_SETMASK, Some(&old), None, 8).unwrap();
    })
    .join()
    .unwrap();
}
