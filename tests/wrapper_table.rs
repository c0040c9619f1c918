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
