//! The generated table of wrappers: complete, consistent, and what `docs/wrappers.md` says.

use std::collections::HashSet;

use goro::syscall::{Kind, WRAPPERS, wrapper_table};

#[test]
fn docs_table_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wrappers.md");
    let want = wrapper_table();
    if std::env::var_os("GORO_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/wrappers.md is stale: run `GORO_BLESS=1 cargo test --test wrapper_table`"
    );
}

#[test]
fn coverage_and_consistency() {
    let public: Vec<_> = WRAPPERS
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .filter(|w| w.public)
        .collect();
    assert!(public.len() >= 150, "only {} public wrappers", public.len());
    let mut names = HashSet::new();
    for w in &public {
        assert!(names.insert(w.name), "{} appears twice", w.name);
        assert!(
            w.nr < 512,
            "{}: {} is not an x86_64 system call number",
            w.name,
            w.nr
        );
    }
    // Go's classification for a few that matter to the scheduler.
    let kind = |name: &str| public.iter().find(|w| w.name == name).unwrap().kind;
    assert_eq!(kind("read"), Kind::Sys);
    assert_eq!(kind("epoll_wait"), Kind::Sys);
    assert_eq!(kind("socket"), Kind::Sysnb);
    assert_eq!(kind("getpid"), Kind::Sysnoerr);
    assert_eq!(kind("rename"), Kind::Wrapped("renameat"));
}

/// Calls with no failure a safe caller can cause: they are exercised once, on success.
const CANNOT_FAIL: &[&str] = &[
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getpgrp",
    "sched_yield",
    "umask",
    "sync",
    "alarm",
    "personality",
    "exit",
    "time",
    "gettimeofday",
    "getcpu",
    "getresuid",
    "getresgid",
    "uname",
    "sysinfo",
    "munlock",
    "munlockall",
    // An `OwnedFd` is open by construction, so `close` has no EBADF to test.
    "close",
];

#[test]
fn every_wrapper_has_an_oracle_test() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let mut text = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("oracle_")
        {
            text += &std::fs::read_to_string(p).unwrap();
        }
    }
    let mut missing = Vec::new();
    for w in WRAPPERS
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .filter(|w| w.public)
    {
        let calls = text.matches(&format!("sc::{}(", w.name)).count();
        let want = if CANNOT_FAIL.contains(&w.name) { 1 } else { 2 };
        if calls < want {
            missing.push(format!("{} ({calls} of {want})", w.name));
        }
    }
    assert!(
        missing.is_empty(),
        "wrappers without a success and a failure test: {missing:?}"
    );
}
