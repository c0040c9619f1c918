//! `GODEBUG=schedtrace=N,scheddetail=1`, seen from outside: a child process (this binary run
//! again) prints the trace to standard error, and a strict parser of Go's format reads it. The
//! same parser reads a real Go program's trace when `go` is on the PATH, so the parser is
//! checked against Go itself, not only against what goro prints.

mod common;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::output_within;
use goro::Runtime;

/// The child's scenario, chosen by this variable.
const CHILD: &str = "GORO_SCHEDTRACE_CHILD";

/// Every N ms.
const EVERY: u64 = 50;

/// How much shorter than [`EVERY`] a gap between two of Go's own traces may read. Go's sysmon
/// spaces its traces by the clock it read at the top of its loop (`lasttrace = now`), but
/// `schedtrace` prints a clock it reads itself, after whatever sysmon did first in that round
/// (its retakes, a preemption signal), and takes its first reading as 0 ms (`starttime`): a
/// print that came late on sysmon's clock makes the next gap read short by as much (Go's
/// `runtime/proc.go`). Seen: traces at 0 ms then 45 ms, and 0 then 46 (2 runs in 6, one of
/// them on a quiet machine with this file's other tests beside it).
const GO_LATE: u64 = EVERY / 2;

/// Two Ps: a goroutine blocked in `read` on a pipe (in a system call), one waiting on a
/// channel, one computing, and the main goroutine asleep while the trace is printed.
fn scenario() {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { Runtime::builder().max_procs(2).build() };
    rt.run(|| {
        let (r, _w) = goro::syscall::pipe().unwrap();
        goro::spawn(move || {
            let mut b = [0u8; 1];
            let _ = goro::syscall::read(r.as_fd(), &mut b);
        });
        let (tx, rx) = goro::chan::<u32>(0);
        goro::spawn(move || rx.recv());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        goro::spawn(move || {
            let mut x = 1u64;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                std::hint::black_box(x);
            }
        });
        goro::sleep(Duration::from_millis(7 * EVERY + EVERY / 2));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(tx);
    });
    std::process::exit(0);
}

/// This binary as the child, with `GODEBUG` set; its output, under a timeout.
fn run_child(test: &str, godebug: &str) -> Output {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("GODEBUG", godebug)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    output_within(child, 30)
}

// ---- the parser: Go's `schedtrace` format, strictly ----

/// One trace: the `SCHED` line's fields, and with `scheddetail` its P, M and G lines.
#[derive(Debug, Default)]
struct Trace {
    ms: u64,
    head: HashMap<String, String>,
    /// Non-detailed: each P's run queue length and schedtick.
    runq: Vec<u64>,
    schedticks: Vec<u64>,
    ps: Vec<HashMap<String, String>>,
    ms_: Vec<HashMap<String, String>>,
    gs: Vec<GLine>,
}

#[derive(Debug)]
struct GLine {
    id: u64,
    status: u64,
    reason: String,
    m: Option<u64>,
    lockedm: Option<u64>,
}

/// Reads `expect` off the front of `s`.
fn lit<'a>(s: &'a str, expect: &str) -> Result<&'a str, String> {
    s.strip_prefix(expect)
        .ok_or_else(|| format!("expected {expect:?} at {s:?}"))
}

/// A decimal number off the front of `s`.
fn num(s: &str) -> Result<(u64, &str), String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end]
        .parse()
        .map_err(|_| format!("expected a number at {s:?}"))?;
    Ok((n, &s[end..]))
}

#[derive(Clone, Copy)]
enum Kind {
    /// Go's unsigned counters.
    Num,
    /// Go's `int32` counters, which Go may print negative for a moment (`nmidlelocked=-1`
    /// was seen from Go 1.27 while it injected goroutines).
    Int,
    Bool,
    /// A number or `nil`.
    Id,
    /// Anything up to the next space (Go's `preemptoff`, a string, usually empty).
    Word,
}

/// `key=value` pairs separated by single spaces, exactly these keys in this order; returns
/// them and the rest of the line.
fn fields<'a>(
    mut s: &'a str,
    keys: &[(&str, Kind)],
) -> Result<(HashMap<String, String>, &'a str), String> {
    let mut out = HashMap::new();
    for (i, &(key, kind)) in keys.iter().enumerate() {
        if i > 0 {
            s = lit(s, " ")?;
        }
        s = lit(s, key)?;
        s = lit(s, "=")?;
        let end = s.find(' ').unwrap_or(s.len());
        let v = &s[..end];
        let ok = match kind {
            Kind::Num => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
            Kind::Int => {
                let d = v.strip_prefix('-').unwrap_or(v);
                !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
            }
            Kind::Bool => v == "true" || v == "false",
            Kind::Id => v == "nil" || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())),
            Kind::Word => true,
        };
        if !ok {
            return Err(format!("bad value {v:?} for {key} in {s:?}"));
        }
        out.insert(key.to_string(), v.to_string());
        s = &s[end..];
    }
    Ok((out, s))
}

fn id(v: &str) -> Option<u64> {
    v.parse().ok()
}

const HEAD: &[(&str, Kind)] = &[
    ("gomaxprocs", Kind::Int),
    ("idleprocs", Kind::Int),
    ("threads", Kind::Int),
    ("spinningthreads", Kind::Int),
    ("needspinning", Kind::Num),
    ("idlethreads", Kind::Int),
    ("runqueue", Kind::Int),
];
const DETAIL: &[(&str, Kind)] = &[
    ("gcwaiting", Kind::Bool),
    ("nmidlelocked", Kind::Int),
    ("stopwait", Kind::Int),
    ("sysmonwait", Kind::Bool),
];
const PLINE: &[(&str, Kind)] = &[
    ("status", Kind::Num),
    ("schedtick", Kind::Num),
    ("syscalltick", Kind::Num),
    ("m", Kind::Id),
    ("runqsize", Kind::Num),
    ("gfreecnt", Kind::Int),
    ("timerslen", Kind::Int),
];
const MLINE: &[(&str, Kind)] = &[
    ("p", Kind::Id),
    ("curg", Kind::Id),
    ("mallocing", Kind::Int),
    ("throwing", Kind::Int),
    ("preemptoff", Kind::Word),
    ("locks", Kind::Int),
    ("dying", Kind::Int),
    ("spinning", Kind::Bool),
    ("blocked", Kind::Bool),
    ("lockedg", Kind::Id),
];

/// `[ a b c ]` with `n` numbers (Go: `[ ` then the numbers separated by spaces, then ` ]`).
fn runq_list(mut s: &str, n: usize) -> Result<(Vec<u64>, &str), String> {
    s = lit(s, "[ ")?;
    let mut v = Vec::new();
    for i in 0..n {
        if i > 0 {
            s = lit(s, " ")?;
        }
        let (x, rest) = num(s)?;
        v.push(x);
        s = rest;
    }
    Ok((v, lit(s, " ]")?))
}

/// `schedticks=[ a b c ]` (Go: each number followed by a space, then `]`).
fn ticks_list(mut s: &str, n: usize) -> Result<Vec<u64>, String> {
    s = lit(s, "schedticks=[ ")?;
    let mut v = Vec::new();
    for _ in 0..n {
        let (x, rest) = num(s)?;
        v.push(x);
        s = lit(rest, " ")?;
    }
    lit(s, "]").and_then(|r| {
        r.is_empty()
            .then_some(v)
            .ok_or_else(|| format!("trailing {r:?}"))
    })
}

/// Parses a whole trace. Only complete traces are returned: the last one (which the program's
/// exit may have cut) is dropped. Any line that is not Go's format is an error.
fn parse(text: &str, detailed: bool) -> Result<Vec<Trace>, String> {
    let mut traces: Vec<Trace> = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    // The text after the last newline is a cut line (or empty).
    for line in &lines[..lines.len() - 1] {
        let err = |e: String| format!("{e}\n  in line {line:?}");
        if let Some(rest) = line.strip_prefix("SCHED ") {
            let (ms, rest) = num(rest).map_err(err)?;
            let rest = lit(rest, "ms: ").map_err(err)?;
            let (head, rest) = fields(rest, HEAD).map_err(err)?;
            let n = head["gomaxprocs"]
                .parse::<usize>()
                .map_err(|_| err("gomaxprocs below 1".into()))?;
            let mut t = Trace {
                ms,
                head,
                ..Trace::default()
            };
            if detailed {
                let rest = lit(rest, " ").map_err(err)?;
                let (d, rest) = fields(rest, DETAIL).map_err(err)?;
                if !rest.is_empty() {
                    return Err(err(format!("trailing {rest:?}")));
                }
                t.head.extend(d);
            } else {
                let rest = lit(rest, " ").map_err(err)?;
                let (runq, rest) = runq_list(rest, n).map_err(err)?;
                let rest = lit(rest, " ").map_err(err)?;
                t.schedticks = ticks_list(rest, n).map_err(err)?;
                t.runq = runq;
            }
            traces.push(t);
            continue;
        }
        let Some(t) = traces.last_mut() else {
            return Err(err("a line before the first SCHED line".into()));
        };
        if !detailed {
            return Err(err("a detail line without scheddetail".into()));
        }
        let rest = lit(line, "  ").map_err(err)?;
        if let Some(r) = rest.strip_prefix('P') {
            let (i, r) = num(r).map_err(err)?;
            if i as usize != t.ps.len() || !t.ms_.is_empty() || !t.gs.is_empty() {
                return Err(err(format!("P{i} out of order")));
            }
            let r = lit(r, ": ").map_err(err)?;
            let (f, r) = fields(r, PLINE).map_err(err)?;
            if !r.is_empty() {
                return Err(err(format!("trailing {r:?}")));
            }
            t.ps.push(f);
        } else if let Some(r) = rest.strip_prefix('M') {
            let (i, r) = num(r).map_err(err)?;
            if !t.gs.is_empty() {
                return Err(err("an M line after G lines".into()));
            }
            let r = lit(r, ": ").map_err(err)?;
            let (mut f, r) = fields(r, MLINE).map_err(err)?;
            if !r.is_empty() {
                return Err(err(format!("trailing {r:?}")));
            }
            f.insert("id".into(), i.to_string());
            t.ms_.push(f);
        } else if let Some(r) = rest.strip_prefix('G') {
            let (gid, r) = num(r).map_err(err)?;
            let r = lit(r, ": status=").map_err(err)?;
            let (status, r) = num(r).map_err(err)?;
            let r = lit(r, "(").map_err(err)?;
            let close = r.find(") m=").ok_or_else(|| err("no `) m=`".into()))?;
            let reason = r[..close].to_string();
            let r = &r[close + 2..];
            let (f, r) = fields(r, &[("m", Kind::Id), ("lockedm", Kind::Id)]).map_err(err)?;
            if !r.is_empty() {
                return Err(err(format!("trailing {r:?}")));
            }
            t.gs.push(GLine {
                id: gid,
                status,
                reason,
                m: id(&f["m"]),
                lockedm: id(&f["lockedm"]),
            });
        } else {
            return Err(err("not a P, M or G line".into()));
        }
    }
    traces.pop();
    for t in &traces {
        let n: usize = t.head["gomaxprocs"].parse().unwrap();
        if detailed && t.ps.len() != n {
            return Err(format!("{} P lines for gomaxprocs={n}", t.ps.len()));
        }
    }
    Ok(traces)
}

/// What holds of every trace, Go's or goro's: times from 0, N ms apart (less up to `late`
/// ms, see [`GO_LATE`]); counts that fit.
fn check_common(traces: &[Trace], every: u64, late: u64) {
    assert!(traces.len() >= 3, "too few traces: {traces:?}");
    assert_eq!(traces[0].ms, 0, "the first trace is at 0 ms");
    for w in traces.windows(2) {
        // Whole milliseconds since the first: a gap may read one short.
        assert!(
            w[1].ms + 1 + late >= w[0].ms + every,
            "traces {} ms and {} ms are less than {every} ms apart (less {late})",
            w[0].ms,
            w[1].ms
        );
    }
    for t in traces {
        let h = |k: &str| t.head[k].parse::<i64>().unwrap();
        assert!(h("idleprocs") <= h("gomaxprocs"), "{t:?}");
        for p in &t.ps {
            let s: u64 = p["status"].parse().unwrap();
            assert!(s <= 4, "P status {s}");
        }
        // Go's states (it also prints `_Gcopystack` = 8, `_Gpreempted` = 9, ... and the
        // `_Gscan` bit, 0x1000); goro's own tests check for its four.
        for g in &t.gs {
            assert!(
                matches!(g.status & !0x1000, 0..=4 | 6 | 8..=11),
                "G status {}",
                g.status
            );
        }
    }
}

#[test]
fn schedtrace_lines_are_gos() {
    if std::env::var_os(CHILD).is_some() {
        return scenario();
    }
    let out = run_child("schedtrace_lines_are_gos", &format!("schedtrace={EVERY}"));
    assert!(out.status.success(), "child failed: {out:?}");
    let text = String::from_utf8(out.stderr).unwrap();
    let traces = parse(&text, false).unwrap_or_else(|e| panic!("{e}\n--- trace:\n{text}"));
    check_common(&traces, EVERY, 0);
    for t in &traces {
        assert_eq!(t.head["gomaxprocs"], "2");
        assert_eq!(t.schedticks.len(), 2);
    }
    // The computing goroutine keeps a P running: its schedtick moves little, but some P ran
    // the others; the ticks never go back.
    for w in traces.windows(2) {
        for (a, b) in w[0].schedticks.iter().zip(&w[1].schedticks) {
            assert!(b >= a, "schedtick went back: {text}");
        }
    }
}

#[test]
fn scheddetail_lines_are_gos() {
    if std::env::var_os(CHILD).is_some() {
        return scenario();
    }
    let out = run_child(
        "scheddetail_lines_are_gos",
        &format!("schedtrace={EVERY},scheddetail=1"),
    );
    assert!(out.status.success(), "child failed: {out:?}");
    let text = String::from_utf8(out.stderr).unwrap();
    let traces = parse(&text, true).unwrap_or_else(|e| panic!("{e}\n--- trace:\n{text}"));
    check_common(&traces, EVERY, 0);
    // By the last complete trace every goroutine is where the scenario put it.
    let t = traces.last().unwrap();
    let has = |status: u64, reason: &str| {
        t.gs.iter()
            .any(|g| g.status == status && g.reason == reason)
    };
    assert!(has(3, ""), "a goroutine in a system call:\n{text}");
    assert!(has(4, "chan receive"), "a goroutine on a channel:\n{text}");
    assert!(has(4, "sleep"), "the main goroutine asleep:\n{text}");
    for t in &traces {
        assert!(t.gs.iter().all(|g| (1..=4).contains(&g.status)), "\n{text}");
    }
    let m_of = |id: Option<u64>| {
        let id = id.expect("a running goroutine has an M").to_string();
        t.ms_
            .iter()
            .find(|m| m["id"] == id)
            .expect("its M has a line")
    };
    // The computing goroutine runs on an M holding a P, unless sysmon preempted it by handoff
    // while others waited: it then runs on in the system-call state, its M without a P (it
    // never enters the runtime to take one back), beside the one blocked in `read`.
    let running: Vec<&GLine> = t.gs.iter().filter(|g| g.status == 2).collect();
    let in_syscall = t.gs.iter().filter(|g| g.status == 3).count();
    match running[..] {
        [g] => {
            let m = m_of(g.m);
            assert_eq!(m["curg"], g.id.to_string(), "\n{text}");
            assert_ne!(m["p"], "nil", "\n{text}");
            assert_eq!(in_syscall, 1, "\n{text}");
        }
        [] => assert_eq!(in_syscall, 2, "preempted by handoff:\n{text}"),
        _ => panic!("one goroutine computing:\n{text}"),
    }
    for sys in t.gs.iter().filter(|g| g.status == 3) {
        let m = m_of(sys.m);
        assert_eq!(m["curg"], sys.id.to_string(), "\n{text}");
        assert_eq!(m["p"], "nil", "\n{text}");
    }
    assert!(t.gs.iter().all(|g| g.lockedm.is_none()));
    let threads: usize = t.head["threads"].parse().unwrap();
    assert!(t.ms_.len() <= threads, "M lines beyond `threads`:\n{text}");
}

/// The parser against Go itself: a Go program in the same situation, traced by Go's runtime.
#[test]
fn parser_reads_gos_own_trace() {
    let Ok(go) = Command::new("go").arg("version").output() else {
        eprintln!("skipped: no `go` on the PATH");
        return;
    };
    assert!(go.status.success());
    let dir = std::env::temp_dir().join(format!("goro-schedtrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("main.go");
    std::fs::write(
        &src,
        format!(
            r#"package main

import (
	"os"
	"syscall"
	"time"
)

func main() {{
	var fds [2]int
	syscall.Pipe(fds[:])
	go func() {{ b := make([]byte, 1); syscall.Read(fds[0], b) }}()
	ch := make(chan int)
	go func() {{ <-ch }}()
	go func() {{ for {{ }} }}()
	time.Sleep({} * time.Millisecond)
	os.Exit(0)
}}
"#,
            7 * EVERY + EVERY / 2
        ),
    )
    .unwrap();
    let bin = dir.join("prog");
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(build.status.success(), "go build: {build:?}");
    for detailed in [false, true] {
        let godebug = if detailed {
            format!("schedtrace={EVERY},scheddetail=1")
        } else {
            format!("schedtrace={EVERY}")
        };
        let child = Command::new(&bin)
            .env("GOMAXPROCS", "2")
            .env("GODEBUG", godebug)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, 30);
        let text = String::from_utf8(out.stderr).unwrap();
        let traces =
            parse(&text, detailed).unwrap_or_else(|e| panic!("Go's trace: {e}\n---\n{text}"));
        check_common(&traces, EVERY, GO_LATE);
        if detailed {
            let t = traces.last().unwrap();
            assert!(t.gs.iter().any(|g| g.status == 3), "Go's G in a syscall");
            assert!(
                t.gs.iter()
                    .any(|g| g.status == 4 && g.reason == "chan receive")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
