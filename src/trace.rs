//! The execution tracer: what every M, P and goroutine did, written as a Chrome Trace Event
//! JSON file that Perfetto (<https://ui.perfetto.dev>) and Catapult's trace viewer open.
//!
//! ```no_run
//! goro::trace::start("/tmp/goro-trace.json").unwrap();
//! // ... run goroutines ...
//! let path = goro::trace::stop().unwrap();
//! println!("trace written to {}", path.display());
//! ```
//!
//! `GORO_TRACE=path` in the environment traces from the first runtime's creation until it is
//! dropped (or [`stop`]).
//!
//! In the file, each runtime is two processes: "Ms", with one track per M (and one for
//! sysmon and other threads), on which each goroutine's run is a slice `G<id>` with its
//! system calls (`syscall <nr>`, and how the call came back: `fast`, `idle P`, `slow`) nested
//! in it; and "Ps", one track per P, with a slice for each stretch a goroutine held it.
//! An arrow (flow) leads from where a goroutine was made runnable (created or unblocked) to
//! where it next started. An unblock by an M takes no clock reading of its own: it is shown at
//! the M's next event (a few tens of nanoseconds later, as a rule), or at the start it led to
//! if that came first; it is written with that next event, so one whose M records nothing
//! more before the trace stops is not in the trace (nor its arrow). A goroutine's leaving its
//! M (a park, a yield, its end) waits in the M the same way, until the M's next event or
//! until it gives up its P: one still waiting when the trace stops is left out, and the
//! goroutine's slice ends with the trace ("trace stopped"). To see every goroutine's last
//! leave, stop a trace once the runtime is idle (`rt.stats().procs.idle` equal to
//! `rt.max_procs()`). Instants mark retakes, handoffs, preemption
//! signals, steals, stops of the world, and threads starting and ending.
//!
//! Events are recorded as 24-byte binary records into per-thread buffers, timed with the CPU's
//! time-stamp counter where it is invariant (else the vDSO clock), and turned into JSON by
//! [`stop`]; with tracing off, each place that records costs one predictable branch. [`start`]
//! maps and populates 16 MiB of buffers ahead, so recording takes no page fault at first. Each
//! thread keeps at most about 2^20 events (24 MiB) per trace; later ones are dropped and
//! counted in the file's `otherData.dropped_events`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::runtime::g::WaitReason;
use crate::runtime::trace::{self as rec, Kind, Rec};

/// Where the trace under way goes.
static PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Starts tracing every runtime in the process, to be written to `path` by [`stop`]. The file
/// is created (and truncated) now, so a bad path fails here.
///
/// # Errors
/// `AlreadyExists` if a trace is under way; the error creating the file.
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    let mut slot = PATH.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a goro trace is already under way",
        ));
    }
    std::fs::File::create(path.as_ref())?;
    if !rec::start() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a goro trace is already under way",
        ));
    }
    *slot = Some(path.as_ref().to_path_buf());
    Ok(())
}

/// Stops tracing and writes the trace; returns where it went.
///
/// # Errors
/// `NotFound` if no trace is under way; the error writing the file.
pub fn stop() -> io::Result<PathBuf> {
    let mut slot = PATH.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(path), Some(events)) = (slot.take(), rec::stop()) else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no goro trace is under way",
        ));
    };
    std::fs::write(&path, chrome_json(&events))?;
    Ok(path)
}

/// Whether a trace is under way.
pub fn is_tracing() -> bool {
    rec::on()
}

/// Starts the trace `GORO_TRACE` names, if set, for the first runtime the process makes, and
/// if no trace is under way; returns whether it did (then that runtime stops it when dropped).
/// Later runtimes do not start another, which would overwrite the file.
pub(crate) fn start_from_env() -> bool {
    static ASKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if ASKED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return false;
    }
    match std::env::var_os("GORO_TRACE") {
        Some(p) if !p.is_empty() => match start(&p) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => {
                eprintln!("goro: GORO_TRACE={}: {e}", p.to_string_lossy());
                false
            }
        },
        _ => false,
    }
}

/// What one M track is in the middle of.
#[derive(Default)]
struct MState {
    /// The goroutine running, since when.
    g: Option<(u64, u64)>,
    /// The system call under way, since when.
    sys: Option<(u64, u64)>,
    /// The P the goroutine holds, since when.
    p: Option<(usize, u64)>,
}

/// Writes the JSON.
struct Out {
    s: String,
    first: bool,
    t0: u64,
}

impl Out {
    fn event(&mut self, body: std::fmt::Arguments<'_>) {
        if !self.first {
            self.s.push_str(",\n");
        }
        self.first = false;
        let _ = self.s.write_fmt(body);
    }

    /// Microseconds since the first event, as the format wants.
    fn us(&self, ts: u64) -> f64 {
        (ts - self.t0) as f64 / 1000.0
    }

    fn slice(&mut self, pid: usize, tid: u64, name: &str, from: u64, to: u64, args: &str) {
        let (ts, dur) = (self.us(from), (to.saturating_sub(from)) as f64 / 1000.0);
        self.event(format_args!(
            r#"{{"ph":"X","pid":{pid},"tid":{tid},"name":"{name}","ts":{ts:.3},"dur":{dur:.3},"args":{{{args}}}}}"#
        ));
    }

    fn instant(&mut self, pid: usize, tid: u64, name: &str, at: u64, args: &str) {
        let ts = self.us(at);
        self.event(format_args!(
            r#"{{"ph":"i","s":"t","pid":{pid},"tid":{tid},"name":"{name}","ts":{ts:.3},"args":{{{args}}}}}"#
        ));
    }

    fn flow(&mut self, ph: char, id: usize, pid: usize, tid: u64, at: u64) {
        let ts = self.us(at);
        self.event(format_args!(
            r#"{{"ph":"{ph}","cat":"flow","name":"ready","id":{id},"pid":{pid},"tid":{tid},"ts":{ts:.3}}}"#
        ));
    }

    fn name(&mut self, what: &str, pid: usize, tid: Option<u64>, name: &str) {
        match tid {
            Some(tid) => self.event(format_args!(
                r#"{{"ph":"M","name":"{what}","pid":{pid},"tid":{tid},"args":{{"name":"{name}"}}}}"#
            )),
            None => self.event(format_args!(
                r#"{{"ph":"M","name":"{what}","pid":{pid},"args":{{"name":"{name}"}}}}"#
            )),
        }
    }
}

/// Track ids for threads that are not Ms (sysmon, plain threads): above every M id.
const OTHER_THREAD: u64 = 1 << 32;

/// The Chrome Trace Event JSON for `events` (in time order).
pub(crate) fn chrome_json(events: &[Rec]) -> String {
    let mut out = Out {
        s: String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"),
        first: true,
        t0: events.first().map_or(0, |r| r.ts),
    };
    // Each runtime: pid 2k+1 for its Ms, 2k+2 for its Ps; threads of no runtime: pid 0.
    let mut runtimes: HashMap<usize, usize> = HashMap::new();
    let mut named: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut ms: HashMap<(usize, u64), MState> = HashMap::new();
    // Goroutines made runnable and not yet started again: the flow's id.
    let mut ready: HashMap<u64, usize> = HashMap::new();
    let mut flows = 0usize;
    for r in events {
        let next = runtimes.len();
        let k = if r.rt == 0 {
            None
        } else {
            Some(*runtimes.entry(r.rt).or_insert(next))
        };
        let (mpid, ppid) = k.map_or((0, 0), |k| (2 * k + 1, 2 * k + 2));
        let tid = if r.m > 0 {
            u64::from(r.m)
        } else {
            OTHER_THREAD + r.tid as u64
        };
        if named.insert((mpid, tid)) {
            if named.insert((mpid, u64::MAX)) {
                let what = k.map_or("other threads".into(), |k| format!("runtime {k}: Ms"));
                out.name("process_name", mpid, None, &what);
                if let Some(k) = k {
                    out.name("process_name", ppid, None, &format!("runtime {k}: Ps"));
                }
            }
            let name = if r.m > 0 {
                format!("M{}", r.m)
            } else {
                format!("thread {}", r.tid)
            };
            out.name("thread_name", mpid, Some(tid), &name);
        }
        let p = (r.p != rec::NO_P).then_some(r.p as usize);
        if let Some(p) = p
            && named.insert((ppid, p as u64))
        {
            out.name("thread_name", ppid, Some(p as u64), &format!("P{p}"));
        }
        let st = ms.entry((mpid, tid)).or_default();
        match r.kind {
            Kind::GoCreate | Kind::GoUnblock => {
                let g = if r.kind == Kind::GoCreate { r.arg } else { r.g };
                let what = if r.kind == Kind::GoCreate {
                    "create"
                } else {
                    "unblock"
                };
                // A zero-length slice for the arrow to leave from.
                out.slice(mpid, tid, &format!("{what} G{g}"), r.ts, r.ts, "");
                flows += 1;
                out.flow('s', flows, mpid, tid, r.ts);
                ready.insert(g, flows);
            }
            Kind::GoStart => {
                st.g = Some((r.g, r.ts));
                st.p = p.map(|p| (p, r.ts));
                if let Some(id) = ready.remove(&r.g) {
                    // The slice must exist for the arrow to land on it: written when it ends,
                    // but the flow binds by time, so it may be written first.
                    out.flow('f', id, mpid, tid, r.ts);
                }
            }
            Kind::GoStop | Kind::GoBlock | Kind::GoEnd => {
                let why = match r.kind {
                    Kind::GoBlock => WaitReason::ALL
                        .get(r.arg as usize)
                        .map_or("blocked", |w| w.name())
                        .to_string(),
                    Kind::GoEnd => "end".into(),
                    _ => ["yield", "syscall came back to no P"]
                        .get(r.arg as usize)
                        .unwrap_or(&"stop")
                        .to_string(),
                };
                end_slices(&mut out, st, mpid, ppid, tid, r.ts, &why);
            }
            Kind::SyscallEnter => {
                st.sys = Some((r.arg, r.ts));
                // The P stays in the call's hands until the call comes back or it is retaken.
                if let Some((p, since)) = st.p.take()
                    && let Some((g, _)) = st.g
                {
                    out.slice(ppid, p as u64, &format!("G{g}"), since, r.ts, "");
                }
            }
            Kind::SyscallExit => {
                let how = ["fast", "idle P", "slow", "no P"]
                    .get(r.arg as usize)
                    .unwrap_or(&"?");
                if let Some((nr, since)) = st.sys.take() {
                    let args = format!(r#""nr":{nr},"exit":"{how}""#);
                    out.slice(mpid, tid, &sys_name(nr), since, r.ts, &args);
                }
                st.p = p.map(|p| (p, r.ts));
            }
            Kind::Retake | Kind::Handoff | Kind::Preempt | Kind::Steal => {
                let name = match r.kind {
                    Kind::Retake => "retake",
                    Kind::Handoff => "handoff",
                    Kind::Preempt => "preempt",
                    _ => "steal",
                };
                let key = if r.kind == Kind::Steal { "n" } else { "p" };
                out.instant(mpid, tid, name, r.ts, &format!(r#""{key}":{}"#, r.arg));
            }
            Kind::StwStart | Kind::StwEnd | Kind::ThreadStart | Kind::ThreadStop => {
                let name = match r.kind {
                    Kind::StwStart => "stop the world",
                    Kind::StwEnd => "start the world",
                    Kind::ThreadStart => "thread start",
                    _ => "thread stop",
                };
                out.instant(mpid, tid, name, r.ts, "");
            }
        }
    }
    // Whatever is still running when the trace stops ends there.
    let end = events.last().map_or(0, |r| r.ts);
    let mut open: Vec<_> = ms.into_iter().collect();
    open.sort_by_key(|(k, _)| *k);
    for ((mpid, tid), mut st) in open {
        end_slices(&mut out, &mut st, mpid, mpid + 1, tid, end, "trace stopped");
    }
    let dropped = rec::DROPPED.load(std::sync::atomic::Ordering::Relaxed);
    let _ = write!(
        out.s,
        "\n],\"otherData\":{{\"dropped_events\":{dropped}}}}}\n"
    );
    out.s
}

/// A system call's slice name.
fn sys_name(nr: u64) -> String {
    if nr == rec::BLOCKING {
        "blocking".into()
    } else {
        format!("syscall {nr}")
    }
}

/// Ends an M track's goroutine slice (and its system call, and its stretch on a P) at `at`.
fn end_slices(
    out: &mut Out,
    st: &mut MState,
    mpid: usize,
    ppid: usize,
    tid: u64,
    at: u64,
    why: &str,
) {
    if let Some((nr, since)) = st.sys.take() {
        out.slice(mpid, tid, &sys_name(nr), since, at, r#""exit":"none""#);
    }
    if let Some((g, since)) = st.g.take() {
        out.slice(
            mpid,
            tid,
            &format!("G{g}"),
            since,
            at,
            &format!(r#""end":"{why}""#),
        );
        if let Some((p, since)) = st.p.take() {
            out.slice(ppid, p as u64, &format!("G{g}"), since, at, "");
        }
    }
    st.p = None;
}
