//! Extended attributes on success and on failure, against libc.

mod common;

use std::os::fd::{AsFd, AsRawFd};

use common::*;
use goro::syscall::{self as sc, Errno};
use linux_raw_sys::general as k;

#[test]
fn set_get_list_remove() {
    let d = TempDir::new();
    let p = d.file("f", b"");
    let q = d.file("g", b"");
    std::os::unix::fs::symlink(&p, d.join("l")).unwrap();
    let (pc, qc) = (d.c("f"), d.c("g"));
    let f = open_ro(&p);
    let g = open_ro(&q);

    // set: path, link (a symlink cannot carry user.* attributes: EPERM on both sides), fd.
    assert_eq!(
        ours(sc::setxattr(&p, "user.a", b"1", 0)),
        lc(unsafe { libc::setxattr(qc.as_ptr(), c"user.a".as_ptr(), b"1".as_ptr().cast(), 1, 0) })
    );
    assert_eq!(
        ours(sc::setxattr(&p, "user.a", b"1", k::XATTR_CREATE)),
        lc(unsafe {
            libc::setxattr(
                qc.as_ptr(),
                c"user.a".as_ptr(),
                b"1".as_ptr().cast(),
                1,
                libc::XATTR_CREATE,
            )
        })
    );
    assert_eq!(
        ours(sc::setxattr(&p, "user.a", b"1", k::XATTR_CREATE)),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        ours(sc::lsetxattr(d.join("l"), "user.b", b"2", 0)),
        lc(unsafe {
            libc::lsetxattr(
                d.c("l").as_ptr(),
                c"user.b".as_ptr(),
                b"2".as_ptr().cast(),
                1,
                0,
            )
        })
    );
    assert_eq!(
        ours(sc::lsetxattr(&p, "user.b", b"22", 0)),
        lc(unsafe {
            libc::lsetxattr(qc.as_ptr(), c"user.b".as_ptr(), b"22".as_ptr().cast(), 2, 0)
        })
    );
    assert_eq!(
        ours(sc::fsetxattr(f.as_fd(), "user.c", b"", 0)),
        lc(unsafe {
            libc::fsetxattr(g.as_raw_fd(), c"user.c".as_ptr(), b"".as_ptr().cast(), 0, 0)
        })
    );
    assert_eq!(
        ours(sc::fsetxattr(f.as_fd(), "bogus.c", b"", 0)),
        lc(unsafe {
            libc::fsetxattr(
                g.as_raw_fd(),
                c"bogus.c".as_ptr(),
                b"".as_ptr().cast(),
                0,
                0,
            )
        })
    );

    // get: an empty buffer asks for the size.
    let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
    assert_eq!(ours(sc::getxattr(&p, "user.b", &mut [])), Ok(2));
    assert_eq!(
        ours(sc::getxattr(&p, "user.b", &mut a)),
        lc(
            unsafe { libc::getxattr(qc.as_ptr(), c"user.b".as_ptr(), b.as_mut_ptr().cast(), 8) }
                as i64
        )
    );
    assert_eq!(a, b);
    assert_eq!(
        ours(sc::getxattr(&p, "user.zz", &mut a)),
        lc(
            unsafe { libc::getxattr(qc.as_ptr(), c"user.zz".as_ptr(), b.as_mut_ptr().cast(), 8) }
                as i64
        )
    );
    assert_eq!(
        ours(sc::getxattr(&p, "user.b", &mut a[..1])),
        Err(Errno::ERANGE)
    );
    assert_eq!(
        ours(sc::lgetxattr(&p, "user.a", &mut a)),
        lc(
            unsafe { libc::lgetxattr(qc.as_ptr(), c"user.a".as_ptr(), b.as_mut_ptr().cast(), 8) }
                as i64
        )
    );
    assert_eq!(
        ours(sc::lgetxattr(d.join("l"), "user.a", &mut a)),
        lc(unsafe {
            libc::lgetxattr(
                d.c("l").as_ptr(),
                c"user.a".as_ptr(),
                b.as_mut_ptr().cast(),
                8,
            )
        } as i64)
    );
    assert_eq!(
        ours(sc::fgetxattr(f.as_fd(), "user.a", &mut a)),
        lc(
            unsafe { libc::fgetxattr(g.as_raw_fd(), c"user.a".as_ptr(), b.as_mut_ptr().cast(), 8) }
                as i64
        )
    );
    assert_eq!(
        ours(sc::fgetxattr(bad_fd(), "user.a", &mut a)),
        lc(unsafe {
            libc::fgetxattr(
                bad_fd().as_raw_fd(),
                c"user.a".as_ptr(),
                b.as_mut_ptr().cast(),
                8,
            )
        } as i64)
    );

    // list: the same names on both files.
    let (mut la, mut lb) = ([0u8; 64], [0u8; 64]);
    let n = sc::listxattr(&p, &mut la).unwrap();
    let m = lc(unsafe { libc::listxattr(qc.as_ptr(), lb.as_mut_ptr().cast(), 64) } as i64).unwrap()
        as usize;
    let names = |b: &[u8]| {
        let mut v: Vec<_> = b
            .split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_vec())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&la[..n]), names(&lb[..m]));
    assert_eq!(names(&la[..n]).len(), 3);
    assert_eq!(
        ours(sc::listxattr(&p, &mut la[..1])),
        lc(unsafe { libc::listxattr(qc.as_ptr(), lb.as_mut_ptr().cast(), 1) } as i64)
    );
    assert_eq!(
        ours(sc::llistxattr(&p, &mut la)),
        lc(unsafe { libc::llistxattr(pc.as_ptr(), lb.as_mut_ptr().cast(), 64) } as i64)
    );
    assert_eq!(
        ours(sc::llistxattr(d.join("none"), &mut la)),
        lc(unsafe { libc::llistxattr(d.c("none").as_ptr(), lb.as_mut_ptr().cast(), 64) } as i64)
    );
    assert_eq!(
        ours(sc::flistxattr(f.as_fd(), &mut la)),
        lc(unsafe { libc::flistxattr(f.as_raw_fd(), lb.as_mut_ptr().cast(), 64) } as i64)
    );
    assert_eq!(
        ours(sc::flistxattr(bad_fd(), &mut la)),
        lc(unsafe { libc::flistxattr(bad_fd().as_raw_fd(), lb.as_mut_ptr().cast(), 64) } as i64)
    );

    // remove.
    assert_eq!(
        ours(sc::removexattr(&p, "user.a")),
        lc(unsafe { libc::removexattr(qc.as_ptr(), c"user.a".as_ptr()) })
    );
    assert_eq!(
        ours(sc::removexattr(&p, "user.a")),
        lc(unsafe { libc::removexattr(qc.as_ptr(), c"user.a".as_ptr()) })
    );
    assert_eq!(
        ours(sc::lremovexattr(&p, "user.b")),
        lc(unsafe { libc::lremovexattr(qc.as_ptr(), c"user.b".as_ptr()) })
    );
    assert_eq!(ours(sc::lremovexattr(&p, "user.b")), Err(Errno::ENODATA));
    assert_eq!(
        ours(sc::fremovexattr(f.as_fd(), "user.c")),
        lc(unsafe { libc::fremovexattr(g.as_raw_fd(), c"user.c".as_ptr()) })
    );
    assert_eq!(
        ours(sc::fremovexattr(f.as_fd(), "user.c")),
        lc(unsafe { libc::fremovexattr(g.as_raw_fd(), c"user.c".as_ptr()) })
    );
    assert_eq!(sc::listxattr(&p, &mut la), Ok(0));
    let _ = pc;
}
