//! `goro::fs` against `std::fs` as the oracle on the same generated trees, in goroutines and on
//! plain threads; ports of Go's `os` tests; `parse_dirent` on malformed buffers.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{TempDir, watchdog};
use goro::Runtime;
use goro::fs as gfs;
use proptest::prelude::*;

fn runtime(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// Names with odd bytes: spaces, newlines, non-UTF-8, a 255-byte name, leading dashes and dots.
fn odd_name(i: usize) -> Vec<u8> {
    match i % 7 {
        0 => format!("plain{i}").into_bytes(),
        1 => format!("with space {i}").into_bytes(),
        2 => format!("new\nline{i}").into_bytes(),
        3 => [b"bad\xff\xfe".as_slice(), i.to_string().as_bytes()].concat(),
        4 => {
            let mut n = vec![b'L'; 255];
            n[..i.to_string().len()].copy_from_slice(i.to_string().as_bytes());
            n
        }
        5 => format!("-.dash{i}").into_bytes(),
        _ => format!("ü{i}…").into_bytes(),
    }
}

/// A tree made with std: nested directories (some empty), files of several sizes (one over
/// 3 MiB), and symbolic links to files, to directories, to nothing, and to themselves.
fn make_tree(root: &Path) {
    let mut dirs = vec![root.to_path_buf()];
    for i in 0..40 {
        let parent = dirs[(i * 7) % dirs.len()].clone();
        let p = parent.join(OsStr::from_bytes(&odd_name(i)));
        match i % 5 {
            0 | 1 => {
                std::fs::create_dir(&p).unwrap();
                dirs.push(p);
            }
            2 | 3 => {
                let len = if i == 2 { 3 << 20 | 12345 } else { i * 1000 };
                let data: Vec<u8> = (0..len).map(|k| (k * 31 + i) as u8).collect();
                std::fs::write(&p, data).unwrap();
            }
            _ => {
                let target = match i % 4 {
                    0 => "plain0".into(),
                    1 => "..".into(),
                    2 => "no/such/target".into(),
                    _ => p.file_name().unwrap().to_owned(),
                };
                std::os::unix::fs::symlink(target, &p).unwrap();
            }
        }
    }
}

/// Everything both libraries can say about one entry; `ino` and times only when `exact`.
#[derive(Debug, PartialEq)]
struct Seen {
    ty: (bool, bool, bool),
    entry_ty: (bool, bool, bool),
    len: u64,
    mode: u32,
    exact: Option<(u64, u64, i64, i64, u64)>,
    link: Option<PathBuf>,
    follow: Result<u64, ErrorKind>,
    canonical: Result<PathBuf, ErrorKind>,
    contents: Option<u64>,
}

fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100000001b3)
    })
}

macro_rules! describe {
    ($name:ident, $fs:path) => {
        /// Every entry under `root`, by path relative to it, as this library sees it.
        fn $name(root: &Path, exact: bool) -> BTreeMap<PathBuf, Seen> {
            use $fs as f;
            let mut out = BTreeMap::new();
            let mut todo = vec![root.to_path_buf()];
            while let Some(dir) = todo.pop() {
                for e in f::read_dir(&dir).unwrap() {
                    let e = e.unwrap();
                    assert_eq!(e.path(), dir.join(e.file_name()));
                    let m = e.metadata().unwrap();
                    let (t, et) = (m.file_type(), e.file_type().unwrap());
                    let p = e.path();
                    if t.is_dir() {
                        todo.push(p.clone());
                    }
                    let seen = Seen {
                        ty: (t.is_dir(), t.is_file(), t.is_symlink()),
                        entry_ty: (et.is_dir(), et.is_file(), et.is_symlink()),
                        len: m.len(),
                        mode: m.permissions().mode(),
                        exact: exact
                            .then(|| (m.ino(), m.nlink(), m.mtime(), m.mtime_nsec(), m.dev())),
                        link: t.is_symlink().then(|| f::read_link(&p).unwrap()),
                        follow: f::metadata(&p).map(|m| m.len()).map_err(|e| e.kind()),
                        canonical: f::canonicalize(&p)
                            .map(|c| c.strip_prefix(root).unwrap_or(&c).to_path_buf())
                            .map_err(|e| e.kind()),
                        contents: t.is_file().then(|| hash(&f::read(&p).unwrap())),
                    };
                    out.insert(p.strip_prefix(root).unwrap().to_path_buf(), seen);
                }
            }
            out
        }
    };
}
describe!(describe_std, std::fs);
describe!(describe_goro, goro::fs);

#[test]
fn oracle_trees_in_goroutines_and_threads() {
    watchdog(60, "fs oracle", || {
        let tmp = TempDir::new();
        let root = tmp.join("tree");
        std::fs::create_dir(&root).unwrap();
        make_tree(&root);
        let want = describe_std(&root, true);
        assert!(want.len() >= 40, "{}", want.len());
        assert_eq!(describe_goro(&root, true), want, "plain thread");
        let r = root.clone();
        let got = runtime(2).run(move || {
            // Several goroutines walk at once, on two Ps.
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let r = r.clone();
                    goro::spawn(move || describe_goro(&r, true))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        for g in got {
            assert_eq!(g, want, "goroutine");
        }
    });
}

/// Copies a tree with goro::fs alone: directories, files (`copy`), links (`read_link`).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    gfs::create_dir_all(to)?;
    for e in gfs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        let t = e.file_type()?;
        if t.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else if t.is_symlink() {
            gfs::symlink(gfs::read_link(e.path())?, &dst)?;
        } else {
            assert_eq!(gfs::copy(e.path(), &dst)?, e.metadata()?.len());
        }
    }
    gfs::set_permissions(to, gfs::metadata(from)?.permissions())
}

#[test]
fn copy_and_remove_trees_in_goroutines() {
    watchdog(60, "copy and remove", || {
        let tmp = TempDir::new();
        let root = tmp.join("tree");
        std::fs::create_dir(&root).unwrap();
        make_tree(&root);
        let want = describe_std(&root, false);
        let (r, t) = (root.clone(), tmp.0.clone());
        runtime(2).run(move || {
            let copies: Vec<_> = (0..3)
                .map(|i| {
                    let (r, t) = (r.clone(), t.clone());
                    goro::spawn(move || {
                        let dst = t.join(format!("copy{i}"));
                        copy_tree(&r, &dst).map(|()| dst)
                    })
                })
                .collect();
            for h in copies {
                let dst = h.join().unwrap().unwrap();
                // Canonical paths of links leaving the copy point into `tmp`, as the
                // original's do; inside, both are relative to their root.
                let mut got = describe_std(&dst, false);
                let mut w = describe_std(&r, false);
                for s in got.values_mut().chain(w.values_mut()) {
                    s.canonical = Ok(PathBuf::new());
                }
                assert_eq!(got, w);
                gfs::remove_dir_all(&dst).unwrap();
                assert!(!gfs::exists(&dst).unwrap());
                assert!(!std::fs::exists(&dst).unwrap());
            }
        });
        assert_eq!(describe_std(&root, false), want, "the source is untouched");
    });
}

// ---- Go's os tests, ported ----

/// Go's `TestReadDir` / `TestReadDirNames`, and a directory needing many `getdents64` calls.
#[test]
fn read_dir_like_go() {
    let tmp = TempDir::new();
    for i in 0..600 {
        tmp.file(&format!("file-{i:04}-{}", "x".repeat(i % 60)), b"");
    }
    std::fs::create_dir(tmp.join("sub")).unwrap();
    let names = |fs: &dyn Fn() -> Vec<std::ffi::OsString>| {
        let mut v = fs();
        v.sort();
        v
    };
    let ours = names(&|| {
        gfs::read_dir(&tmp.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    });
    let std_ = names(&|| {
        std::fs::read_dir(&tmp.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    });
    assert_eq!(ours.len(), 601);
    assert_eq!(ours, std_);
    // Errors: a missing directory, a file, an interior NUL.
    let kind = |r: io::Result<gfs::ReadDir>| r.map(drop).unwrap_err().kind();
    assert_eq!(kind(gfs::read_dir(tmp.join("nope"))), ErrorKind::NotFound);
    let file = tmp.file("plain", b"x");
    assert_eq!(
        kind(gfs::read_dir(&file)),
        std::fs::read_dir(&file).map(drop).unwrap_err().kind()
    );
    assert_eq!(kind(gfs::read_dir("a\0b")), ErrorKind::InvalidInput);
}

/// Go's `TestMkdirAll` and `TestMkdirAllAtSlash`-like cases.
#[test]
fn create_dir_all_like_go() {
    let tmp = TempDir::new();
    let deep = tmp.join("_TestMkdirAll_/dir/./dir2/../dir3/x");
    gfs::create_dir_all(&deep).unwrap();
    assert!(gfs::metadata(&deep).unwrap().is_dir());
    gfs::create_dir_all(&deep).unwrap(); // again: already there
    gfs::create_dir_all("").unwrap();
    gfs::create_dir_all("/").unwrap();
    // A file in the way: both libraries fail the same way.
    let file = tmp.join("_TestMkdirAll_/dir/file");
    gfs::write(&file, b"x").unwrap();
    for p in [file.clone(), file.join("sub")] {
        let ours = gfs::create_dir_all(&p).unwrap_err();
        let theirs = std::fs::create_dir_all(&p).unwrap_err();
        assert_eq!(ours.kind(), theirs.kind(), "{p:?}");
    }
    // 300 levels: a loop, not recursion.
    let long: PathBuf = std::iter::repeat_n("d", 300).collect();
    let long = tmp.join("long").join(long);
    watchdog(30, "create_dir_all in a goroutine", move || {
        runtime(1).run(move || gfs::create_dir_all(&long).unwrap())
    });
    assert_eq!(
        gfs::create_dir_all(tmp.join("a\0b")).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// Go's `TestRemoveAll`, `TestRemoveAllLarge`, `TestRemoveAllLongPath`,
/// `TestRemoveReadOnlyDir`, and the symlink case of `TestRemoveAllDot`-like edges.
#[test]
fn remove_dir_all_like_go() {
    watchdog(60, "remove_dir_all", || {
        let tmp = TempDir::new();
        let path = tmp.join("_TestRemoveAll_");
        // Errors as std: a missing path, a file, an interior NUL.
        let both = |p: &Path| {
            let ours = gfs::remove_dir_all(p).map_err(|e| e.kind());
            (ours, std::fs::remove_dir_all(p).map_err(|e| e.kind()))
        };
        let (o, s) = both(&path);
        assert_eq!(o, s);
        let file = tmp.file("file", b"x");
        assert_eq!(
            gfs::remove_dir_all(&file).map_err(|e| e.kind()),
            Err(std::fs::remove_dir_all(&file).unwrap_err().kind())
        );
        assert_eq!(
            gfs::remove_dir_all("a\0").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );

        // A tree with a read-only subdirectory and 1,000 files (several getdents buffers).
        std::fs::create_dir_all(path.join("dir/ro")).unwrap();
        for i in 0..1000 {
            std::fs::write(path.join(format!("dir/f{i}")), b"x").unwrap();
        }
        std::fs::write(path.join("dir/ro/file"), b"x").unwrap();
        std::fs::set_permissions(path.join("dir/ro"), std::fs::Permissions::from_mode(0o555))
            .unwrap();
        // A link to a directory outside: removed, never followed.
        let outside = tmp.join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, path.join("dir/link")).unwrap();
        let as_root = goro::syscall::geteuid() == 0;
        let r = gfs::remove_dir_all(&path);
        if as_root {
            // Root may unlink inside a read-only directory: everything goes, as with std.
            r.unwrap();
            assert!(!path.exists());
        } else {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::PermissionDenied);
            std::fs::set_permissions(path.join("dir/ro"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            gfs::remove_dir_all(&path).unwrap();
        }
        assert!(outside.join("keep").exists());
        // A root that is a link to a directory: the link goes, the directory stays.
        let link = tmp.join("rootlink");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        gfs::remove_dir_all(&link).unwrap();
        assert!(!link.exists() && outside.join("keep").exists());

        // A path longer than PATH_MAX, made with mkdirat relative to each level.
        use goro::syscall;
        use linux_raw_sys::general::{O_DIRECTORY, O_RDONLY};
        let long = tmp.join("long");
        std::fs::create_dir(&long).unwrap();
        let name = "a".repeat(200);
        let mut fd = syscall::open(long.as_path(), O_RDONLY | O_DIRECTORY, 0).unwrap();
        for _ in 0..30 {
            syscall::mkdirat(fd.as_fd(), name.as_str(), 0o755).unwrap();
            std::mem::drop(std::fs::File::from(
                syscall::openat(
                    fd.as_fd(),
                    "file",
                    linux_raw_sys::general::O_CREAT | linux_raw_sys::general::O_WRONLY,
                    0o644,
                )
                .unwrap(),
            ));
            fd = syscall::openat(fd.as_fd(), name.as_str(), O_RDONLY | O_DIRECTORY, 0).unwrap();
        }
        drop(fd);
        runtime(1).run(move || gfs::remove_dir_all(&long).unwrap());
        assert!(!tmp.join("long").exists());
    });
}

/// `remove_dir_all` of a path ending in `.` or `..` is `InvalidInput` and removes nothing
/// (Go's `RemoveAll` refuses `.` so). It used to empty the directory first, as std's does,
/// then fail at the last `rmdir` (for `dir/.`), or return `Ok` with the directory left (for
/// `dir/sub/..`, whose `sub` had gone with the rest).
#[test]
fn remove_dir_all_refuses_dot_paths() {
    watchdog(60, "remove_dir_all of dot paths", || {
        let tmp = TempDir::new();
        let dir = tmp.join("d");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("keep"), b"x").unwrap();
        let sub = dir.join("sub");
        for p in [
            dir.join("."),
            dir.join("./"),
            dir.join(".//"),
            sub.join(".."),
            sub.join("../"),
        ] {
            let r = runtime(1).run({
                let p = p.clone();
                move || gfs::remove_dir_all(&p).map_err(|e| e.kind())
            });
            assert_eq!(r, Err(ErrorKind::InvalidInput), "{p:?}");
            assert!(
                dir.join("keep").exists() && sub.exists(),
                "{p:?} removed nothing"
            );
        }
        // Dots elsewhere are ordinary: `sub/../sub` is `sub`, `.hidden` a name.
        std::fs::create_dir(dir.join(".hidden")).unwrap();
        gfs::remove_dir_all(dir.join(".hidden")).unwrap();
        gfs::remove_dir_all(dir.join("sub/../sub")).unwrap();
        assert!(!sub.exists() && dir.join("keep").exists());
    });
}

/// `remove_dir_all` of a symbolic link named with trailing slashes (`link/`) removes the link
/// and leaves the directory it points to alone, as Go's `RemoveAll` does: its doc says a link
/// at the path is removed, not followed. The slash made the kernel follow it (in the `lstat`
/// and in the `O_NOFOLLOW` open alike), so the walk emptied the target, a directory outside
/// the tree, and then failed with `NotADirectory` at the final `rmdir` (std's does the same).
#[test]
fn remove_dir_all_of_a_link_with_a_slash_removes_the_link() {
    watchdog(60, "remove_dir_all of link/", || {
        let tmp = TempDir::new();
        let target = tmp.join("target");
        std::fs::create_dir_all(target.join("sub")).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        for (i, slashes) in ["/", "//"].into_iter().enumerate() {
            let link = tmp.join(&format!("link{i}"));
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let named = format!("{}{slashes}", link.display());
            let r = runtime(1).run(move || gfs::remove_dir_all(&named).map_err(|e| e.kind()));
            assert_eq!(r, Ok(()), "link{i}{slashes}");
            assert!(
                target.join("keep").exists() && target.join("sub").exists(),
                "link{i}{slashes}: the target's contents were removed"
            );
            assert!(
                std::fs::symlink_metadata(&link).is_err(),
                "link{i}{slashes}: the link is still there"
            );
        }
        // A real directory named with a slash is removed as before.
        let dir = tmp.join("dir");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        gfs::remove_dir_all(format!("{}/", dir.display())).unwrap();
        assert!(!dir.exists());
    });
}

/// Go's `TestRemoveAllRace`: four goroutines remove one tree at once. Each succeeds or, by
/// std's rule for a root already gone, finds it missing; children gone under one are never
/// errors, and the tree is gone at the end.
#[test]
fn remove_dir_all_race() {
    watchdog(60, "concurrent remove_dir_all", || {
        let tmp = TempDir::new();
        let root = tmp.join("race");
        for i in 0..20 {
            let d = root.join(format!("d{i}/e/f"));
            std::fs::create_dir_all(&d).unwrap();
            for j in 0..20 {
                std::fs::write(d.join(format!("x{j}")), b"x").unwrap();
            }
        }
        let r = root.clone();
        let results = runtime(2).run(move || {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let r = r.clone();
                    goro::spawn(move || gfs::remove_dir_all(&r).map_err(|e| e.kind()))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(()) | Err(ErrorKind::NotFound))),
            "{results:?}"
        );
        assert!(results.contains(&Ok(())), "{results:?}");
        assert!(!root.exists());
    });
}

/// Go's `TestRename`, `TestRenameOverwriteDest`, `TestRenameFailed`, `TestRenameToDirFailed`,
/// `TestRenameNotExisting`, `TestRenameCaseDifference`-free: each case set up twice, renamed by
/// each library, with the same outcome.
#[test]
fn rename_like_go() {
    type Setup = fn(&Path);
    let cases: &[(&str, Setup, &str, &str)] = &[
        (
            "file to new",
            |d| std::fs::write(d.join("a"), b"a").unwrap(),
            "a",
            "b",
        ),
        (
            "overwrite file",
            |d| {
                std::fs::write(d.join("a"), b"a").unwrap();
                std::fs::write(d.join("b"), b"bb").unwrap();
            },
            "a",
            "b",
        ),
        ("missing", |_| {}, "a", "b"),
        (
            "dir over empty dir",
            |d| {
                std::fs::create_dir(d.join("a")).unwrap();
                std::fs::create_dir(d.join("b")).unwrap();
            },
            "a",
            "b",
        ),
        (
            "dir over full dir",
            |d| {
                std::fs::create_dir(d.join("a")).unwrap();
                std::fs::create_dir(d.join("b")).unwrap();
                std::fs::write(d.join("b/x"), b"").unwrap();
            },
            "a",
            "b",
        ),
        (
            "file over dir",
            |d| {
                std::fs::write(d.join("a"), b"a").unwrap();
                std::fs::create_dir(d.join("b")).unwrap();
            },
            "a",
            "b",
        ),
        (
            "dir over file",
            |d| {
                std::fs::create_dir(d.join("a")).unwrap();
                std::fs::write(d.join("b"), b"a").unwrap();
            },
            "a",
            "b",
        ),
        (
            "to itself",
            |d| std::fs::write(d.join("a"), b"a").unwrap(),
            "a",
            "a",
        ),
        (
            "into own subdir",
            |d| std::fs::create_dir(d.join("a")).unwrap(),
            "a",
            "a/sub",
        ),
        ("nul", |_| {}, "a\0", "b"),
    ];
    for (what, setup, from, to) in cases {
        let outcome = |lib: u8| {
            let tmp = TempDir::new();
            setup(&tmp.0);
            let r = if lib == 0 {
                gfs::rename(tmp.join(from), tmp.join(to))
            } else {
                std::fs::rename(tmp.join(from), tmp.join(to))
            };
            (
                r.map_err(|e| e.kind()),
                describe_std(&tmp.0, false).into_keys().collect::<Vec<_>>(),
            )
        };
        assert_eq!(outcome(0), outcome(1), "{what}");
    }
}

/// Go's `TestReadAt`, `TestSeek`, `TestWriteAt`, `TestTruncate`: through Seek, FileExt and
/// set_len, one session per library on a fresh file; the logs must match.
#[test]
fn seek_read_at_truncate_like_go() {
    let tmp = TempDir::new();
    macro_rules! session {
        ($fs:path, $name:expr) => {{
            use $fs as f;
            let p = tmp.join($name);
            let mut log = Vec::new();
            let mut file = f::File::options()
                .read(true)
                .write(true)
                .create(true)
                .open(&p)
                .unwrap();
            file.write_all(b"hello, world\n").unwrap();
            for pos in [
                SeekFrom::Start(0),
                SeekFrom::Current(5),
                SeekFrom::End(-1),
                SeekFrom::End(10),
                SeekFrom::Current(-100),
                SeekFrom::Start(u64::MAX),
            ] {
                let at = file.seek(pos).map_err(|e| e.kind());
                let mut b = [0u8; 4];
                let n = file.read(&mut b).map_err(|e| e.kind());
                log.push(format!("{pos:?} -> {at:?}, read {n:?} {b:?}"));
            }
            let mut b = [0u8; 5];
            let w = file.write_at(b"WORLD", 7).map_err(|e| e.kind());
            let r = file.read_at(&mut b, 7).map_err(|e| e.kind());
            let at = file.stream_position().unwrap();
            log.push(format!("{w:?} {r:?} {b:?} at {at}"));
            for len in [9, 1 << 20] {
                file.set_len(len).unwrap();
                log.push(format!("{}", file.metadata().unwrap().len()));
            }
            log.push(format!("{:?}", std::fs::read(&p).unwrap()[..12].to_vec()));
            log
        }};
    }
    assert_eq!(session!(goro::fs, "ours"), session!(std::fs, "std"));
}

/// Every combination of `OpenOptions` flags, on a missing and an existing file: goro and std
/// agree on success, the error kind, and what the file then holds.
#[test]
fn open_options_match_std() {
    let tmp = TempDir::new();
    for bits in 0..64u32 {
        for exists in [false, true] {
            let outcome = |ours: bool| {
                let p = tmp.join(&format!("o{bits}-{exists}-{ours}"));
                if exists {
                    std::fs::write(&p, b"old").unwrap();
                }
                let b = |i: u32| bits >> i & 1 == 1;
                macro_rules! open {
                    ($opts:expr) => {
                        $opts
                            .read(b(0))
                            .write(b(1))
                            .append(b(2))
                            .truncate(b(3))
                            .create(b(4))
                            .create_new(b(5))
                            .mode(0o600)
                            .open(&p)
                            .map(|mut f| f.write(b"N").map_err(|e| e.kind()))
                    };
                }
                let r = if ours {
                    open!(gfs::OpenOptions::new())
                } else {
                    open!(std::fs::OpenOptions::new())
                };
                let meta = std::fs::metadata(&p).ok().map(|m| m.mode());
                (r.map_err(|e| e.kind()), std::fs::read(&p).ok(), meta)
            };
            assert_eq!(
                outcome(true),
                outcome(false),
                "bits {bits:06b} exists {exists}"
            );
        }
    }
}

/// `File` basics against std: conversions, try_clone sharing the position, sync, permissions,
/// read_to_string on non-UTF-8, interior NULs everywhere.
#[test]
fn file_basics() {
    let tmp = TempDir::new();
    let p = tmp.join("f");
    gfs::write(&p, b"0123456789").unwrap();
    let mut f = gfs::File::open(&p).unwrap();
    let mut g = f.try_clone().unwrap();
    let mut b = [0u8; 3];
    f.read_exact(&mut b).unwrap();
    g.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"345", "clones share the position");
    let mut s: std::fs::File = f.into();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "6789");
    let mut back = gfs::File::from(s);
    assert_eq!(back.stream_position().unwrap(), 10);
    let w = gfs::File::create(&p).unwrap();
    (&w).write_all(b"\xff\xfe").unwrap();
    w.sync_all().unwrap();
    w.sync_data().unwrap();
    w.set_permissions(PermissionsExt::from_mode(0o640)).unwrap();
    let (ours, theirs) = (w.metadata().unwrap(), std::fs::metadata(&p).unwrap());
    assert_eq!(ours.permissions(), theirs.permissions());
    assert_eq!(
        (ours.ino(), ours.dev(), ours.len()),
        (theirs.ino(), theirs.dev(), 2)
    );
    assert_eq!(ours.modified().unwrap(), theirs.modified().unwrap());
    assert_eq!(ours.accessed().unwrap(), theirs.accessed().unwrap());
    assert_eq!(ours.created().ok(), theirs.created().ok());
    assert_eq!(
        gfs::read_to_string(&p).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    assert_eq!(
        gfs::File::create_new(&p).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    gfs::set_permissions(&p, PermissionsExt::from_mode(0o600)).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
    let nul = Path::new("x\0y");
    let kinds = [
        gfs::File::open(nul).map(drop).unwrap_err().kind(),
        gfs::metadata(nul).map(drop).unwrap_err().kind(),
        gfs::symlink_metadata(nul).map(drop).unwrap_err().kind(),
        gfs::read(nul).map(drop).unwrap_err().kind(),
        gfs::write(nul, b"").unwrap_err().kind(),
        gfs::create_dir(nul).unwrap_err().kind(),
        gfs::remove_file(nul).unwrap_err().kind(),
        gfs::remove_dir(nul).unwrap_err().kind(),
        gfs::rename(&p, nul).unwrap_err().kind(),
        gfs::hard_link(&p, nul).unwrap_err().kind(),
        gfs::symlink(&p, nul).unwrap_err().kind(),
        gfs::read_link(nul).unwrap_err().kind(),
        gfs::canonicalize(nul).unwrap_err().kind(),
        gfs::copy(&p, nul).unwrap_err().kind(),
        gfs::exists(nul).unwrap_err().kind(),
    ];
    assert!(
        kinds.iter().all(|k| *k == ErrorKind::InvalidInput),
        "{kinds:?}"
    );
}

/// Links, `canonicalize` through `..` after links, loops, and `copy` of a non-file.
#[test]
fn links_and_canonicalize_match_std() {
    let tmp = TempDir::new();
    let d = &tmp.0;
    std::fs::create_dir_all(d.join("a/b/c")).unwrap();
    std::fs::write(d.join("a/b/c/f"), b"x").unwrap();
    gfs::symlink("b/c", d.join("a/l1")).unwrap();
    gfs::symlink("../a/l1/../c", d.join("a/l2")).unwrap();
    gfs::symlink(d.join("a/l2"), d.join("abs")).unwrap();
    gfs::symlink("loop", d.join("loop")).unwrap();
    gfs::hard_link(d.join("a/b/c/f"), d.join("hard")).unwrap();
    assert_eq!(std::fs::metadata(d.join("hard")).unwrap().nlink(), 2);
    for rel in [
        "a/l1",
        "a/l2",
        "abs",
        "abs/f",
        "a/l1/f/..",
        "a/b/../l1/./f",
        "loop",
        "nope",
        "a/l1/f/x",
        ".",
        "a/b/c/f/",
        "a/b/c/f/.",
        "a/b/c/f//",
        "a/b//c/",
        "a/l1/",
        "",
    ] {
        let p = if rel.is_empty() {
            PathBuf::new()
        } else {
            d.join(rel)
        };
        assert_eq!(
            gfs::canonicalize(&p).map_err(|e| e.kind()),
            std::fs::canonicalize(&p).map_err(|e| e.kind()),
            "{rel}"
        );
        assert_eq!(
            gfs::exists(&p).map_err(|e| e.kind()),
            std::fs::exists(&p).map_err(|e| e.kind()),
            "{rel}"
        );
    }
    let long = "x".repeat(1000);
    gfs::symlink(&long, d.join("long")).unwrap();
    assert_eq!(gfs::read_link(d.join("long")).unwrap(), Path::new(&long));
    assert_eq!(
        gfs::copy(d, d.join("c")).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        gfs::copy(d.join("nope"), d.join("c")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A relative path resolves against the working directory, as std's.
    assert_eq!(
        gfs::canonicalize(".").unwrap(),
        std::fs::canonicalize(".").unwrap()
    );
}

/// `copy` of a file onto itself (the same path, a hard link, a symbolic link to it) is
/// `InvalidInput` and leaves the file as it was, as `cp` refuses "the same file". It
/// truncated the destination before reading the source, so it emptied the file and returned
/// `Ok(0)` (std's `fs::copy` does the same).
#[test]
fn copy_onto_itself_is_an_error() {
    let tmp = TempDir::new();
    let f = tmp.join("f");
    std::fs::write(&f, b"precious").unwrap();
    std::fs::hard_link(&f, tmp.join("hard")).unwrap();
    std::os::unix::fs::symlink(&f, tmp.join("soft")).unwrap();
    for to in [f.clone(), tmp.join("hard"), tmp.join("soft")] {
        assert_eq!(
            gfs::copy(&f, &to).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidInput),
            "{to:?}"
        );
        assert_eq!(std::fs::read(&f).unwrap(), b"precious", "{to:?}");
    }
    // A longer file onto a shorter one still truncates it to the copy.
    let (big, small) = (tmp.join("big"), tmp.join("small"));
    std::fs::write(&small, b"0123456789").unwrap();
    std::fs::write(&big, b"abc").unwrap();
    assert_eq!(gfs::copy(&big, &small).unwrap(), 3);
    assert_eq!(std::fs::read(&small).unwrap(), b"abc");
}

/// goro::fs goes through the `sys` wrappers: at GOMAXPROCS=1, a goroutine blocked opening a
/// FIFO (open blocks until a writer comes) must let the writer's goroutine run.
#[test]
fn blocking_open_hands_off() {
    watchdog(30, "FIFO open at GOMAXPROCS=1", || {
        let tmp = TempDir::new();
        let fifo = tmp.join("fifo");
        goro::syscall::mknod(fifo.as_path(), linux_raw_sys::general::S_IFIFO | 0o600, 0).unwrap();
        let got = runtime(1).run(move || {
            let f2 = fifo.clone();
            let reader = goro::spawn(move || gfs::read(&f2).unwrap());
            goro::yield_now();
            gfs::write(&fifo, b"through the fifo").unwrap();
            reader.join().unwrap()
        });
        assert_eq!(got, b"through the fifo");
    });
}

// ---- parse_dirent on malformed buffers ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: never a panic; entries tile the buffer until the first error, which ends it.
    #[test]
    fn parse_dirent_any_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut it = goro::syscall::parse_dirent(&buf);
        let mut consumed = 0;
        while let Some(e) = it.next() {
            match e {
                Ok(d) => {
                    prop_assert!(it.consumed() > consumed && it.consumed() <= buf.len());
                    prop_assert!(!d.name.to_bytes().contains(&0));
                    consumed = it.consumed();
                }
                Err(err) => {
                    prop_assert_eq!(err.offset, consumed);
                    prop_assert_eq!(io::Error::from(err).kind(), ErrorKind::InvalidData);
                    prop_assert!(it.next().is_none());
                    break;
                }
            }
        }
    }

    /// A real directory's buffer with one byte changed: the same guarantees.
    #[test]
    fn parse_dirent_mutated(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut buf = real_buffer();
        let i = at.index(buf.len());
        buf[i] = byte;
        let n = cut.index(buf.len() + 1);
        let items: Vec<_> = goro::syscall::parse_dirent(&buf[..n]).collect();
        let errs = items.iter().filter(|e| e.is_err()).count();
        prop_assert!(errs <= 1);
        prop_assert!(errs == 0 || items.last().unwrap().is_err());
    }
}

/// The `getdents64` bytes of a small directory.
fn real_buffer() -> Vec<u8> {
    static BUF: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let tmp = TempDir::new();
        for i in 0..8 {
            tmp.file(&format!("n{}", "z".repeat(i * 3)), b"");
        }
        let fd =
            goro::syscall::open(tmp.0.as_path(), linux_raw_sys::general::O_DIRECTORY, 0).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = goro::syscall::getdents64(fd.as_fd(), &mut buf).unwrap();
        buf.truncate(n);
        assert_eq!(
            goro::syscall::parse_dirent(&buf)
                .filter(|e| !e.unwrap().is_dot())
                .count(),
            8
        );
        buf
    })
    .clone()
}
