//! The execution trace, read back: a known program (the seed's pipe handoff on one P, a
//! channel ping-pong, a sleep) traced with `goro::trace`, and the Chrome Trace Event JSON
//! checked for its structure and for the program's events in a valid order.

mod common;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use common::{TempDir, first_cpu, output_within, pin_to, serial, wait_idle, watchdog};
use goro::Runtime;
use goro::syscall as sc;
use serde_json::Value;

/// Env var: run as the `GORO_TRACE` child.
const CHILD: &str = "GORO_TRACE_TEST_CHILD";

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// The seed's program: on one P, A blocks in `read`; B must run (sysmon retakes the P) and
/// write; then a few channel round trips and a sleep.
fn program() {
    let rt = rt(1);
    rt.run(|| {
        let (r, w) = sc::pipe().unwrap();
        let reader = goro::spawn(move || {
            let mut b = [0u8; 1];
            sc::read(r.as_fd(), &mut b).unwrap()
        });
        goro::yield_now();
        goro::spawn(move || sc::write(w.as_fd(), b"x").unwrap())
            .join()
            .unwrap();
        reader.join().unwrap();
        let (tx, rx) = goro::chan::<u32>(0);
        let echo = goro::spawn(move || {
            for v in rx {
                let _ = v;
            }
        });
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        drop(tx);
        echo.join().unwrap();
        goro::sleep(std::time::Duration::from_millis(2));
    });
}

fn s<'a>(e: &'a Value, k: &str) -> &'a str {
    e[k].as_str().unwrap_or("")
}

fn f(e: &Value, k: &str) -> f64 {
    e[k].as_f64().unwrap_or_else(|| panic!("{k} of {e}"))
}

/// Checks a trace file: Chrome's format, and the program's events in order.
fn check(text: &str) {
    let doc = structure(text);
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    let names: Vec<&str> = events
        .iter()
        .filter(|e| s(e, "ph") == "M")
        .map(|e| s(&e["args"], "name"))
        .collect();
    assert!(names.iter().any(|n| n.ends_with(": Ms")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(": Ps")), "{names:?}");
    assert!(names.contains(&"P0"), "{names:?}");
    let all = || events.iter().filter(|e| s(e, "ph") == "X");
    // The blocked read (`read` is 0), and its P retaken. (It may still come back `fast`: if
    // the writer's `write` has left the P in `Psyscall` just then, the reader takes it back,
    // as in Go.)
    assert!(
        all().any(|e| s(e, "name") == "syscall 0"),
        "the read is in the trace"
    );
    assert!(
        events.iter().any(|e| s(e, "name") == "retake"),
        "sysmon retook the P"
    );
    // Every goroutine created ran.
    for e in all().filter(|e| s(e, "name").starts_with("create G")) {
        let g = &s(e, "name")["create ".len()..];
        assert!(
            all().any(|x| s(x, "name") == g && f(x, "ts") >= f(e, "ts")),
            "{g} was created but never ran"
        );
    }
}

/// Runs `f` on a new two-P runtime with a trace under way: what `f` returned, and the trace
/// written (its structure checked). The trace stops once every P is idle (10 s at most): an M
/// writes what waits in it (a leave, an unblock) before it gives up its P, and a `stop` before
/// that drops it. `run` returns as soon as `f` has, while another M may still hold such a
/// record (`f`'s goroutines' last leave, or an unblock of a goroutine another M started): a
/// loaded machine that kept the M from its CPU lost it, and the goroutine's run showed as
/// "trace stopped" (`yields_and_ends`) or its start with no arrow
/// (`an_unblock_precedes_a_start_on_another_m`, ~1 run in 150 at a load of 10 on 2 CPUs).
fn traced<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, Value) {
    let dir = TempDir::new();
    let path = dir.join("trace.json");
    let rt = rt(2);
    goro::trace::start(&path).unwrap();
    let v = rt.run(f);
    wait_idle(&rt);
    goro::trace::stop().unwrap();
    (v, structure(&std::fs::read_to_string(&path).unwrap()))
}

/// An event's track: (pid, tid).
fn track(e: &Value) -> (u64, u64) {
    (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())
}

/// Checks what every trace must be, and returns it: Chrome's format; arrows that land after
/// they leave; on every track, slices written in the order they end and nested perfectly, every
/// system call inside a goroutine's run and with its way back.
fn structure(text: &str) -> Value {
    let doc: Value = serde_json::from_str(text).expect("the trace is JSON");
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    let mut flows: HashMap<u64, (Option<f64>, Option<f64>)> = HashMap::new();
    let mut tracks: HashMap<(u64, u64), Vec<&Value>> = HashMap::new();
    for e in events {
        match s(e, "ph") {
            "X" => {
                assert!(f(e, "dur") >= 0.0 && f(e, "ts") >= 0.0, "{e}");
                let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
                tracks.entry(key).or_default().push(e);
            }
            "i" => assert!(f(e, "ts") >= 0.0),
            "s" | "f" => {
                let slot = flows.entry(e["id"].as_u64().unwrap()).or_default();
                let ts = Some(f(e, "ts"));
                if s(e, "ph") == "s" {
                    slot.0 = ts;
                } else {
                    slot.1 = ts;
                }
            }
            "M" => {}
            other => panic!("unexpected phase {other:?} in {e}"),
        }
    }
    // Every arrow that lands left earlier (an unblock or create with no start before the
    // trace stopped has no landing).
    for (id, (from, to)) in &flows {
        let from = from.unwrap_or_else(|| panic!("flow {id} lands but never left"));
        if let Some(to) = to {
            assert!(*to >= from, "flow {id} lands before it leaves");
        }
    }
    assert!(
        flows.values().any(|(_, to)| to.is_some()),
        "some arrows land"
    );
    // Each track's slices are written as they end, in time order (a goroutine that starts
    // at the instant another left, sharing its clock reading, included).
    for evs in tracks.values() {
        for w in evs.windows(2) {
            let end = |e: &Value| f(e, "ts") + f(e, "dur");
            assert!(
                end(w[1]) + 1e-6 >= end(w[0]),
                "{} ends before {}",
                w[1],
                w[0]
            );
        }
    }
    // On every track slices nest perfectly, as Perfetto wants of a thread's slices: goroutine
    // runs never overlap, a system call lies inside a goroutine's run. Every system call slice
    // has its way back (every enter an exit).
    for evs in tracks.values() {
        let mut v: Vec<(f64, f64, &str)> = evs
            .iter()
            .map(|e| (f(e, "ts"), f(e, "ts") + f(e, "dur"), s(e, "name")))
            .collect();
        v.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap()
                .then(b.1.partial_cmp(&a.1).unwrap())
        });
        let mut stack: Vec<(f64, f64, &str)> = Vec::new();
        for x in v {
            while stack.last().is_some_and(|t| t.1 <= x.0 + 1e-6) {
                stack.pop();
            }
            if let Some(t) = stack.last() {
                assert!(x.1 <= t.1 + 1e-6, "{x:?} overlaps {t:?} without nesting");
            }
            if x.2.starts_with("syscall ") {
                assert!(
                    stack.iter().any(|t| t.2.starts_with('G')),
                    "{x:?} outside any goroutine"
                );
            }
            stack.push(x);
        }
        for e in evs.iter().filter(|e| s(e, "name").starts_with("syscall ")) {
            assert!(!s(&e["args"], "exit").is_empty(), "{e}");
        }
    }
    doc
}

#[test]
fn trace_of_a_known_program() {
    let _serial = serial();
    watchdog(60, "trace", || {
        let dir = TempDir::new();
        let path = dir.join("trace.json");
        assert!(goro::trace::stop().is_err(), "no trace under way");
        goro::trace::start(&path).unwrap();
        assert!(goro::trace::is_tracing());
        assert_eq!(
            goro::trace::start(&path).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        program();
        assert_eq!(goro::trace::stop().unwrap(), path);
        assert!(!goro::trace::is_tracing());
        check(&std::fs::read_to_string(&path).unwrap());
        let bad = dir.join("no/such/dir/trace.json");
        assert!(
            goro::trace::start(&bad).is_err(),
            "a bad path fails at start"
        );
        assert!(!goro::trace::is_tracing());
    });
}

/// `GORO_TRACE=path`: the runtime traces itself and writes the file when dropped.
#[test]
fn goro_trace_env() {
    if std::env::var_os(CHILD).is_some() {
        program();
        return;
    }
    let dir = TempDir::new();
    let path = dir.join("env.json");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "goro_trace_env",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("GORO_TRACE", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, 60);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("goro: trace written to {}", path.display())),
        "{err}"
    );
    check(&std::fs::read_to_string(&path).unwrap());
}

/// The goroutines a trace shows running (`G<id>` slices on M tracks) and the system-call
/// slices it has.
fn runs_and_calls(text: &str) -> (Vec<u64>, usize) {
    let doc: Value = serde_json::from_str(text).expect("the trace is JSON");
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    let mut gs = Vec::new();
    let mut calls = 0;
    for e in events.iter().filter(|e| s(e, "ph") == "X") {
        let name = s(e, "name");
        if let Some(id) = name.strip_prefix('G') {
            gs.push(id.parse().unwrap());
        } else if name.starts_with("syscall ") {
            calls += 1;
        }
    }
    (gs, calls)
}

/// Two traces in a row on one runtime whose Ms live on: the second has its own events and
/// none of the first's, though each M's buffer outlived the first trace.
#[test]
fn traces_in_a_row() {
    let _serial = serial();
    watchdog(60, "traces in a row", || {
        let dir = TempDir::new();
        let rt = rt(2);
        let mut traces = Vec::new();
        for (i, calls) in [(0, 3000), (1, 2000)] {
            let path = dir.join(&format!("trace{i}.json"));
            goro::trace::start(&path).unwrap();
            rt.run(move || {
                let null = std::fs::File::options()
                    .write(true)
                    .open("/dev/null")
                    .unwrap();
                goro::spawn(move || {
                    for _ in 0..calls {
                        sc::write(null.as_fd(), b"x").unwrap();
                    }
                })
                .join()
                .unwrap();
            });
            goro::trace::stop().unwrap();
            let (gs, n) = runs_and_calls(&std::fs::read_to_string(&path).unwrap());
            assert_eq!(n, calls, "each write once, and only this trace's");
            traces.push(gs);
        }
        let newest = traces[0].iter().max().expect("goroutines ran");
        assert!(
            traces[1].iter().all(|g| g > newest),
            "the second trace shows only its own goroutines: {:?} after {:?}",
            traces[1],
            traces[0]
        );
    });
}

/// A goroutine's yields and its end are drawn as such (each leave waits in its M, as a
/// park's does, for the start that follows: it is written with it, its kind kept).
#[test]
fn yields_and_ends() {
    let _serial = serial();
    watchdog(60, "yields and ends", || {
        let (g, doc) = traced(|| {
            let h = goro::spawn(|| {
                for _ in 0..3 {
                    goro::yield_now();
                }
            });
            let id = h.id();
            h.join().unwrap();
            id
        });
        let ends: Vec<&str> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| s(e, "ph") == "X" && s(e, "name") == format!("G{g}"))
            .filter(|e| e["pid"].as_u64().unwrap() % 2 == 1)
            .map(|e| s(&e["args"], "end"))
            .collect();
        assert_eq!(ends, ["yield", "yield", "yield", "end"], "G{g}'s runs");
    });
}

/// A park's leave waits in its M for the start that follows; an M that finds nothing to run
/// writes it before it gives up its P and sleeps, so a goroutine parked by an M asleep when
/// the trace stops shows as parked, not running to the end.
#[test]
fn a_leave_is_written_before_its_m_sleeps() {
    let _serial = serial();
    watchdog(60, "a leave is written before its M sleeps", || {
        let dir = TempDir::new();
        let path = dir.join("trace.json");
        let rt = rt(2);
        let p = path.clone();
        let g = rt.run(move || {
            let (tx, rx) = goro::chan::<u32>(0);
            goro::trace::start(&p).unwrap();
            let parked = goro::spawn(move || rx.recv().unwrap());
            // Run on without the runtime while the other M takes the goroutine, which
            // parks, and that M finds nothing more and gives up its P (which it does only
            // after the goroutine parked, so an idle P then is that M's), to sleep.
            let t = std::time::Instant::now();
            let asleep = || {
                let s = goro::stats().unwrap();
                s.goroutines.waiting == 1
                    && s.procs.idle >= 1
                    && s.thread_states.spinning == 0
                    && s.thread_states.with_p <= 1
            };
            while !asleep() && t.elapsed() < std::time::Duration::from_secs(10) {
                std::hint::spin_loop();
            }
            assert!(asleep(), "the goroutine parked and its M slept");
            goro::trace::stop().unwrap();
            let id = parked.id();
            tx.send(1).unwrap();
            assert_eq!(parked.join().unwrap(), 1);
            id
        });
        let doc = structure(&std::fs::read_to_string(&path).unwrap());
        let runs: Vec<_> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| s(e, "ph") == "X" && s(e, "name") == format!("G{g}"))
            .filter(|e| e["pid"].as_u64().unwrap() % 2 == 1)
            .collect();
        assert_eq!(runs.len(), 1, "G{g} ran once: {runs:?}");
        assert_eq!(
            s(&runs[0]["args"], "end"),
            "chan receive",
            "G{g} parked: {}",
            runs[0]
        );
    });
}

/// An unblock waits in its M for the M's next event (it goes into that record); one still
/// waiting when the trace stops belongs to that trace: the next trace must not show it,
/// though the M's next event is in that trace.
#[test]
fn an_unblock_waiting_as_a_trace_stops_stays_out_of_the_next() {
    let _serial = serial();
    watchdog(60, "an unblock waiting as a trace stops", || {
        let dir = TempDir::new();
        let (first, second) = (dir.join("first.json"), dir.join("second.json"));
        let rt = rt(2);
        let (p1, p2) = (first.clone(), second.clone());
        let reader = rt.run(move || {
            let null = std::fs::File::options()
                .write(true)
                .open("/dev/null")
                .unwrap();
            let (tx, rx) = goro::chan::<u32>(0);
            let reader = goro::spawn(move || rx.recv().unwrap());
            // The reader parks in its receive.
            goro::time::sleep(std::time::Duration::from_millis(20));
            goro::trace::start(&p1).unwrap();
            // This M's first event opens its buffer: the send's unblock waits in the M.
            sc::write(null.as_fd(), b"x").unwrap();
            tx.send(7).unwrap();
            // No runtime entry between: the unblock is still waiting.
            goro::trace::stop().unwrap();
            goro::trace::start(&p2).unwrap();
            let id = reader.id();
            // The join parks: this M's next event, the first of the second trace.
            assert_eq!(reader.join().unwrap(), 7);
            // An arrow for the checker to find.
            goro::spawn(|| ()).join().unwrap();
            id
        });
        goro::trace::stop().unwrap();
        let doc = structure(&std::fs::read_to_string(&second).unwrap());
        let unblocks: Vec<_> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| s(e, "ph") == "X" && s(e, "name") == format!("unblock G{reader}"))
            .collect();
        assert!(
            unblocks.is_empty(),
            "nobody readied G{reader} in the second trace: {unblocks:?}"
        );
    });
}

/// A runtime made while a trace runs records its system calls like one made before (each
/// runtime keeps a copy of whether tracing is on, for the system call's entry), and one that
/// outlives the trace records none into the next.
#[test]
fn a_runtime_made_during_a_trace() {
    let _serial = serial();
    watchdog(60, "a runtime made during a trace", || {
        let dir = TempDir::new();
        let writes = |rt: &Runtime, calls: usize| {
            rt.run(move || {
                let null = std::fs::File::options()
                    .write(true)
                    .open("/dev/null")
                    .unwrap();
                for _ in 0..calls {
                    sc::write(null.as_fd(), b"x").unwrap();
                }
            })
        };
        let first = dir.join("first.json");
        goro::trace::start(&first).unwrap();
        let rt = rt(1);
        writes(&rt, 300);
        goro::trace::stop().unwrap();
        // Untraced: none of these may show up anywhere.
        writes(&rt, 50);
        let second = dir.join("second.json");
        goro::trace::start(&second).unwrap();
        writes(&rt, 200);
        goro::trace::stop().unwrap();
        for (path, calls) in [(first, 300), (second, 200)] {
            let (_, n) = runs_and_calls(&std::fs::read_to_string(&path).unwrap());
            assert_eq!(n, calls, "{}: each traced write once", path.display());
        }
    });
}

/// A goroutine sysmon preempted by handoff (its P given to a waiting goroutine while it
/// computes) makes its next system call without a P, and that call's return takes one back:
/// the call is drawn all the same, as its own slice. It was missing (only its exit was
/// recorded, which draws nothing), so a loaded machine's traces lost calls now and then.
#[test]
fn a_call_after_a_preemption_by_handoff() {
    let _serial = serial();
    watchdog(60, "a call after a preemption by handoff", || {
        let dir = TempDir::new();
        let path = dir.join("preempted.json");
        let rt = rt(1);
        goro::trace::start(&path).unwrap();
        rt.run(|| {
            let null = std::fs::File::options()
                .write(true)
                .open("/dev/null")
                .unwrap();
            // Waits for the P, so sysmon preempts the loop below by handoff.
            let other = goro::spawn(|| ());
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_millis(100) {
                std::hint::spin_loop();
            }
            sc::write(null.as_fd(), b"x").unwrap();
            other.join().unwrap();
        });
        goro::trace::stop().unwrap();
        let doc = structure(&std::fs::read_to_string(&path).unwrap());
        let events = doc["traceEvents"].as_array().unwrap();
        assert!(
            events.iter().any(|e| s(e, "name") == "preempt"),
            "sysmon preempted the loop"
        );
        let writes = events
            .iter()
            .filter(|e| s(e, "ph") == "X" && s(e, "name") == format!("syscall {}", libc::SYS_write))
            .count();
        assert_eq!(writes, 1, "the write after the preemption is drawn");
    });
}

/// System calls back on the fast path are one record each, read back as their slice: short
/// writes, a sleep too long for that record (a call sysmon leaves alone while no work waits),
/// between goroutines that hand each other the P (each start shares its clock reading with
/// the other's leaving).
#[test]
fn fast_calls_and_handovers() {
    let _serial = serial();
    watchdog(60, "fast calls and handovers", || {
        let ((), doc) = traced(|| {
            let null = std::fs::File::options()
                .write(true)
                .open("/dev/null")
                .unwrap();
            let (tx, rx) = goro::chan::<u32>(0);
            let echo = goro::spawn(move || rx.into_iter().count());
            for i in 0..200 {
                sc::write(null.as_fd(), b"x").unwrap();
                tx.send(i).unwrap();
            }
            let nap = libc::timespec {
                tv_sec: 0,
                tv_nsec: 3_000_000,
            };
            // SAFETY: nanosleep reads `nap` and writes nothing (no remainder asked for).
            let (_, _, e) =
                unsafe { sc::syscall(libc::SYS_nanosleep as usize, &raw const nap as usize, 0, 0) };
            assert_eq!(e.0, 0);
            drop(tx);
            assert_eq!(echo.join().unwrap(), 200);
        });
        let calls: Vec<&Value> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| s(e, "ph") == "X" && s(e, "name").starts_with("syscall "))
            .collect();
        let nr = |e: &Value| e["args"]["nr"].as_u64().unwrap();
        let writes = calls.iter().filter(|e| nr(e) == libc::SYS_write as u64);
        assert_eq!(writes.clone().count(), 200, "each write once");
        assert!(
            writes.clone().any(|e| s(&e["args"], "exit") == "fast"),
            "writes come back on the fast path"
        );
        let sleeps: Vec<_> = calls
            .iter()
            .filter(|e| nr(e) == libc::SYS_nanosleep as u64)
            .collect();
        assert_eq!(sleeps.len(), 1, "{sleeps:?}");
        assert!(f(sleeps[0], "dur") >= 3000.0, "{}", sleeps[0]);
    });
}

/// Arrows from goroutines a ping-pong readies: each lands on a start of the goroutine its
/// tail names, and an unblock (stamped when the trace stops, with its M's next clock reading,
/// kept before that start) lies inside the waker's run.
#[test]
fn unblocks_lead_to_their_starts() {
    const TRIPS: u32 = 2000;
    let _serial = serial();
    watchdog(60, "unblocks lead to their starts", || {
        let (echo, doc) = traced(|| {
            let (a_tx, a_rx) = goro::chan::<u32>(0);
            let (b_tx, b_rx) = goro::chan::<u32>(0);
            let echo = goro::spawn(move || {
                for v in a_rx {
                    b_tx.send(v + 1).unwrap();
                }
            });
            let id = echo.id();
            let mut x = 0;
            for _ in 0..TRIPS {
                a_tx.send(x).unwrap();
                x = b_rx.recv().unwrap();
            }
            assert_eq!(x, TRIPS);
            drop(a_tx);
            echo.join().unwrap();
            id
        });
        let events = doc["traceEvents"].as_array().unwrap();
        // Slices by track and start (a flow's time is written as its slice's, digit for
        // digit), and each track's goroutine runs in time order.
        let mut at: HashMap<((u64, u64), u64), Vec<&str>> = HashMap::new();
        let mut runs: HashMap<(u64, u64), Vec<(f64, f64)>> = HashMap::new();
        for e in events.iter().filter(|e| s(e, "ph") == "X") {
            at.entry((track(e), f(e, "ts").to_bits()))
                .or_default()
                .push(s(e, "name"));
            if s(e, "name").starts_with('G') {
                let run = (f(e, "ts"), f(e, "ts") + f(e, "dur"));
                runs.entry(track(e)).or_default().push(run);
            }
        }
        runs.values_mut()
            .for_each(|v| v.sort_by(|a, b| a.0.total_cmp(&b.0)));
        let names = |e: &Value| {
            at.get(&(track(e), f(e, "ts").to_bits()))
                .map_or(&[][..], |v| &v[..])
        };
        let flows = |ph: &str| -> HashMap<u64, &Value> {
            events
                .iter()
                .filter(|e| s(e, "ph") == ph)
                .map(|e| (e["id"].as_u64().unwrap(), e))
                .collect()
        };
        let (tails, heads) = (flows("s"), flows("f"));
        let mut readied = 0;
        let mut echo_readied = 0;
        for (id, tail) in &tails {
            let name = *names(tail)
                .iter()
                .find(|n| n.starts_with("unblock G") || n.starts_with("create G"))
                .unwrap_or_else(|| panic!("flow {id} leaves from no unblock or create"));
            let g = name.rsplit(' ').next().unwrap();
            let Some(head) = heads.get(id) else { continue };
            assert!(
                names(head).contains(&g),
                "{name}'s arrow (flow {id}) lands on no start of {g}"
            );
            if !name.starts_with("unblock") {
                continue;
            }
            readied += 1;
            if g == format!("G{echo}") {
                echo_readied += 1;
                let t = f(tail, "ts");
                let runs = &runs[&track(tail)];
                let before = runs.partition_point(|r| r.0 <= t);
                assert!(
                    before > 0 && t <= runs[before - 1].1 + 1e-6,
                    "{name} at {t} us lies outside its waker's run"
                );
            }
        }
        assert!(
            readied >= TRIPS,
            "each round trip readies one at least: {readied}"
        );
        assert!(echo_readied > 0, "the echo was readied");
    });
}

/// A goroutine readied while its waker runs on, and started by another M before the waker
/// reads the clock again: the unblock, stamped when the trace stops, is kept before that
/// start, so every start of the readied goroutine is where an arrow lands.
#[test]
fn an_unblock_precedes_a_start_on_another_m() {
    const SENDS: u32 = 20;
    let _serial = serial();
    watchdog(60, "an unblock precedes a start on another M", || {
        let (reader, doc) = traced(|| {
            let (tx, rx) = goro::chan::<u32>(0);
            let got = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
            let seen = got.clone();
            let reader = goro::spawn(move || {
                for v in rx {
                    seen.store(v, std::sync::atomic::Ordering::Release);
                }
            });
            for i in 1..=SENDS {
                tx.send(i).unwrap();
                // Run on, without the runtime, until the reader has run (another M took it
                // from this P), or a while.
                let t = std::time::Instant::now();
                while got.load(std::sync::atomic::Ordering::Acquire) < i
                    && t.elapsed() < std::time::Duration::from_millis(200)
                {
                    std::hint::spin_loop();
                }
            }
            let id = reader.id();
            drop(tx);
            reader.join().unwrap();
            id
        });
        let events = doc["traceEvents"].as_array().unwrap();
        let g = format!("G{reader}");
        let key = |e: &Value| (track(e), f(e, "ts").to_bits());
        // The reader's starts on M tracks (each runtime's Ms are the odd pids).
        let starts: Vec<_> = events
            .iter()
            .filter(|e| {
                s(e, "ph") == "X" && s(e, "name") == g && e["pid"].as_u64().unwrap() % 2 == 1
            })
            .map(key)
            .collect();
        let heads: std::collections::HashSet<_> = events
            .iter()
            .filter(|e| s(e, "ph") == "f")
            .map(key)
            .collect();
        assert!(
            starts.len() as u32 > SENDS / 2,
            "the reader ran: {starts:?}"
        );
        for start in &starts {
            assert!(
                heads.contains(start),
                "a start of {g} with no arrow: {start:?}"
            );
        }
        let waker_track = events
            .iter()
            .find(|e| s(e, "ph") == "X" && s(e, "name") == format!("unblock {g}"))
            .map(|e| key(e).0)
            .expect("the reader was readied");
        assert!(
            starts.iter().any(|s| s.0 != waker_track),
            "the reader started on another M at least once"
        );
    });
}

/// An unblock that waits in its M (to go into the M's next record) is in the trace of a thread
/// that stops tracing as soon as a goroutine of that M has woken it: here `Runtime::run`
/// returns, and the trace stops, while the main goroutine's M still holds the unblock of a
/// reader that another M has started meanwhile. Lost (the M wrote it only with its next
/// record, after the `stop`), that start had no arrow: 5 to 8 rounds in 20 here. Every thread
/// shares one CPU (the runtime's inherit the pinned thread's affinity), so the woken joiner
/// takes the CPU from the M that woke it, before that M's next record.
#[test]
fn an_unblock_waiting_in_its_m_is_in_a_trace_stopped_as_run_returns() {
    const ROUNDS: usize = 20;
    let _serial = serial();
    watchdog(120, "an unblock waiting in its M as run returns", || {
        std::thread::spawn(|| {
            pin_to(first_cpu());
            let mut lost = Vec::new();
            for round in 0..ROUNDS {
                let dir = TempDir::new();
                let path = dir.join("trace.json");
                let rt = rt(2);
                goro::trace::start(&path).unwrap();
                let reader = rt.run(|| {
                    use std::sync::Arc;
                    use std::sync::atomic::{AtomicBool, Ordering};
                    let (tx, rx) = goro::chan::<u32>(0);
                    let ran = Arc::new(AtomicBool::new(false));
                    let flag = ran.clone();
                    let reader = goro::spawn(move || {
                        rx.recv().unwrap();
                        flag.store(true, Ordering::Release);
                    });
                    // The reader parks in `recv`, so the send readies it (this M's unblock).
                    while goro::stats().unwrap().goroutines.waiting == 0 {
                        goro::yield_now();
                    }
                    tx.send(1).unwrap();
                    // Run on, recording nothing, until another M has started the reader.
                    while !ran.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    reader.id()
                });
                // At once, as a program that ends its trace as `run` returns does (not as
                // `traced` does, once the Ps are idle).
                goro::trace::stop().unwrap();
                let doc = structure(&std::fs::read_to_string(&path).unwrap());
                let events = doc["traceEvents"].as_array().unwrap();
                let g = format!("G{reader}");
                let key = |e: &Value| (track(e), f(e, "ts").to_bits());
                let heads: std::collections::HashSet<_> = events
                    .iter()
                    .filter(|e| s(e, "ph") == "f")
                    .map(key)
                    .collect();
                let starts = events.iter().filter(|e| {
                    s(e, "ph") == "X" && s(e, "name") == g && e["pid"].as_u64().unwrap() % 2 == 1
                });
                lost.extend(
                    starts
                        .filter(|e| !heads.contains(&key(e)))
                        .map(|e| (round, f(e, "ts"))),
                );
            }
            assert!(
                lost.is_empty(),
                "starts of the reader with no arrow (round, time): {lost:?}"
            );
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
}
