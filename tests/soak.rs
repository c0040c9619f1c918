//! The soak: random mixes of everything goro does, all at once, round after round, under
//! invariants and a watchdog. Its own `main` (`harness = false`):
//!
//! ```sh
//! cargo test --release --test soak                       # 20 s, a fresh seed (printed first)
//! GORO_SOAK_SEED=0x1234 GORO_SOAK_SECS=60 cargo test --release --test soak
//! ```
//!
//! Settings, all from the environment:
//! - `GORO_SOAK_SEED`: the seed (decimal or `0x` hex); every round's mix follows from it and
//!   the round's number, so a seed replays the same rounds (the mix, not the interleaving).
//! - `GORO_SOAK_SECS`: how long to start new rounds for (default 20).
//! - `GORO_SOAK_ROUND`: the first round's number (default 0), to go straight to a failing one.
//! - `GORO_SOAK_PROCS`: the P counts rounds choose from (default `1,2,4`).
//! - `GORO_SOAK_SKIP`: features left out, comma-separated (names in [`FEATURES`]), to tell
//!   one defect from another.
//! - `GORO_SOAK_STALL`: seconds without progress before the watchdog fires (default 20).
//! - `GORO_SOAK_MAX_THREADS`: the thread bound (default 1000).
//! - `GORO_SOAK_PLAN`: if set, each round's full plan is printed before it runs.
//!
//! Each round builds a fresh `Runtime` with P in {1, 2, 4}, runs a random plan of activities
//! as goroutines (spawn trees joined or waited for, some panicking; channels of every kind
//! with senders, receivers, closers and plain-thread peers; wait groups; short and blocking
//! system calls through the wrappers; `blocking`, with and without wrappers inside;
//! `lock_os_thread`; yields; compute loops long enough to be preempted; `set_max_procs` and
//! stop-the-world), and sometimes drops the runtime with goroutines still queued or parked.
//!
//! Invariants, each failing with the seed and round: every goroutine the soak counts on runs
//! exactly once and finishes (a per-round ledger), join results match, every value sent is
//! received exactly once or handed back by a failed send (count, sum and xor), pipe bytes
//! arrive in order, no wrapper returns `EINTR` (or any error), a sleep is never short, a
//! goroutine always runs on the thread the runtime believes, a locked goroutine keeps its
//! thread and an exit while locked ends it, the process's thread count stays under the bound
//! and returns to its baseline once a round's runtime is dropped. A watchdog thread ends the
//! process when no goroutine makes progress for `GORO_SOAK_STALL` seconds, printing the
//! round's settings, what each kind of goroutine was last doing, and every thread's stack
//! (gdb). The last line is `soak: N passed, M failed`.
//!
//! Every blocking interaction here completes if the runtime is correct: each pipe's reader
//! reads to end-of-file and its writer always runs and closes; each channel is closed by its
//! last sender or a closer that needs nothing but the senders, and every receiver drains it
//! or leaves (dropping its receiver, which fails the pending sends); wait groups are added
//! to before their goroutines start. Only the abandoned goroutines of a dropped runtime are
//! left waiting, and they are not counted.

use std::fmt::{self, Write as _};
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::syscall::{self as sc, Errno, Timespec};
use goro::{JoinHandle, Receiver, Runtime, SendError, WaitGroup, chan};

// ---------------------------------------------------------------------------------------------
// The generator: splitmix64, seeded per round and per goroutine.

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// splitmix64's finaliser: a good 64-bit hash.
fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Features, settings.

/// What a round may use; `GORO_SOAK_SKIP` leaves some out.
const FEATURES: &[&str] = &[
    "tree",             // nested spawn trees, joined or waited for with a WaitGroup
    "panic",            // goroutines that panic (join gives Err), a panic inside blocking()
    "wg",               // wait groups with several waiters
    "chan",             // channels: buffered, unbuffered, closers, early close, leaving receivers
    "peer",             // plain OS threads sending to or receiving from goroutines
    "short",            // short wrapper calls: getpid, write /dev/null, read /dev/zero, vDSO
    "pipe",             // a reader blocked in read(2) on a pipe another goroutine writes later
    "sleep",            // nanosleep / clock_nanosleep of tens of microseconds
    "blocking",         // goro::blocking(|| std::thread::sleep(..))
    "blocking_wrapper", // wrapper calls inside goro::blocking
    "std_fs",           // std::fs and std pipe I/O inside goro::blocking
    "std_bare",         // std pipe reads outside blocking(): preempted in the kernel
    "locked",           // lock_os_thread / unlock, ping-pong with a locked goroutine
    "locked_exit",      // goroutines that exit while locked (their thread must end)
    "yield",            // yield_now loops
    "compute",          // compute loops of 0.1-3 ms
    "long_compute",     // compute loops of 10-40 ms: preemption by handoff
    "procs",            // set_max_procs up and down from a goroutine
    "stw",              // stop and start the world
    "abandon",          // drop a runtime with goroutines queued (yield loops) and parked
    "outside",          // Runtime::spawn from the main thread, joined there
];

#[derive(Clone)]
struct Features(Vec<bool>);

impl Features {
    fn from_env() -> Features {
        let skip = std::env::var("GORO_SOAK_SKIP").unwrap_or_default();
        let mut on = vec![true; FEATURES.len()];
        for name in skip.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match FEATURES.iter().position(|f| *f == name) {
                Some(i) => on[i] = false,
                None => {
                    eprintln!(
                        "soak: unknown feature {name:?} in GORO_SOAK_SKIP; known: {FEATURES:?}"
                    );
                    std::process::exit(2);
                }
            }
        }
        Features(on)
    }
    fn has(&self, name: &str) -> bool {
        let i = FEATURES
            .iter()
            .position(|f| *f == name)
            .expect("a known feature");
        self.0[i]
    }
    fn skipped(&self) -> Vec<&'static str> {
        FEATURES
            .iter()
            .zip(&self.0)
            .filter(|(_, on)| !**on)
            .map(|(f, _)| *f)
            .collect()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("soak: {name}={v:?} is not a number");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the watchdog and the failure report read: the seed, the round, its settings, and per
// kind of goroutine what it last did.

static SEED: AtomicU64 = AtomicU64::new(0);
static ROUND: AtomicU64 = AtomicU64::new(0);
static PASSED: AtomicU64 = AtomicU64::new(0);
static PROGRESS: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicBool = AtomicBool::new(false);
/// The round's line on stdout is not finished yet.
static MID_LINE: AtomicBool = AtomicBool::new(false);
static SETTINGS: Mutex<String> = Mutex::new(String::new());
/// What the main thread is doing: running a round, checking it, dropping its runtime, ...
static PHASE: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Kind {
    Main,
    Tree,
    Send,
    Recv,
    Close,
    Peer,
    WgWork,
    WgWait,
    Short,
    PipeRead,
    PipeWrite,
    Sleep,
    Blocking,
    Locked,
    Partner,
    Yield,
    Compute,
    Procs,
    Abandoned,
}

const KINDS: [Kind; 19] = [
    Kind::Main,
    Kind::Tree,
    Kind::Send,
    Kind::Recv,
    Kind::Close,
    Kind::Peer,
    Kind::WgWork,
    Kind::WgWait,
    Kind::Short,
    Kind::PipeRead,
    Kind::PipeWrite,
    Kind::Sleep,
    Kind::Blocking,
    Kind::Locked,
    Kind::Partner,
    Kind::Yield,
    Kind::Compute,
    Kind::Procs,
    Kind::Abandoned,
];

struct KindState {
    /// The last step any goroutine of this kind reached, and that goroutine's id.
    last: AtomicPtr<&'static str>,
    gid: AtomicU64,
    /// This round's goroutines of the kind that started, and finished.
    started: AtomicU64,
    finished: AtomicU64,
}

static KIND_STATE: [KindState; KINDS.len()] = [const {
    KindState {
        last: AtomicPtr::new(core::ptr::null_mut()),
        gid: AtomicU64::new(0),
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    }
}; KINDS.len()];

/// Records that a goroutine of kind `k` reached `what`; the watchdog's measure of progress.
fn step(k: Kind, what: &'static &'static str) {
    let ks = &KIND_STATE[k as usize];
    ks.last.store(what as *const &str as *mut &str, Relaxed);
    ks.gid.store(goro::current().unwrap_or(0), Relaxed);
    PROGRESS.fetch_add(1, Relaxed);
}

fn phase(what: &'static &'static str) {
    PHASE.store(what as *const &str as *mut &str, Release);
    PROGRESS.fetch_add(1, Relaxed);
}

fn load_str(p: &AtomicPtr<&'static str>) -> &'static str {
    let p = p.load(Acquire);
    if p.is_null() {
        "-"
    } else {
        // SAFETY: only ever set from `&'static &'static str`.
        unsafe { *p }
    }
}

fn settings() -> String {
    SETTINGS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn where_() -> String {
    let seed = SEED.load(Relaxed);
    format!(
        "seed {seed:#018x}, round {}: {}\nsoak: replay with GORO_SOAK_SEED={seed:#x} (GORO_SOAK_ROUND={} to start at this round)",
        ROUND.load(Relaxed),
        settings(),
        ROUND.load(Relaxed),
    )
}

/// Ends the process on a broken invariant, with the seed and round.
fn fail(msg: impl fmt::Display) -> ! {
    fail_with(msg, false)
}

/// [`fail`], with every thread's stack.
fn fail_stacks(msg: impl fmt::Display) -> ! {
    fail_with(msg, true)
}

fn fail_with(msg: impl fmt::Display, stacks: bool) -> ! {
    if FAILED.swap(true, SeqCst) {
        // Someone else is reporting; wait for the exit.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    end_line();
    eprintln!("soak: FAILED: {msg}\nsoak: {}", where_());
    if stacks {
        dump_stacks();
    }
    finish_failed()
}

/// Ends the round's line on stdout, so what follows starts on a line of its own.
fn end_line() {
    if MID_LINE.swap(false, Relaxed) {
        println!(" FAILED");
        let _ = std::io::stdout().flush();
    }
}

fn finish_failed() -> ! {
    let _ = std::io::stderr().flush();
    println!("soak: {} passed, 1 failed", PASSED.load(Relaxed));
    let _ = std::io::stdout().flush();
    std::process::exit(1)
}

/// A wrapper's result: any error fails the soak, `EINTR` by name.
fn ok<T>(what: &str, r: Result<T, Errno>) -> T {
    match r {
        Ok(v) => v,
        Err(Errno::EINTR) => fail(format_args!(
            "EINTR came out of the {what} wrapper (goroutine {:?})",
            goro::current()
        )),
        Err(e) => fail(format_args!(
            "{what}: {e:?} (goroutine {:?})",
            goro::current()
        )),
    }
}

/// The payload of the panics the soak means.
struct Intentional(usize);

fn describe(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(i) = p.downcast_ref::<Intentional>() {
        format!("Intentional({})", i.0)
    } else {
        "a non-string payload".to_string()
    }
}

fn join<T>(h: JoinHandle<T>, what: &str) -> T {
    match h.join() {
        Ok(v) => v,
        Err(p) => fail(format_args!(
            "{what}: goroutine panicked: {}",
            describe(&*p)
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: every goroutine the soak counts on gets an id; it must start once and finish
// once.

const LEDGER_CAP: usize = 1 << 16;
const STARTED: u32 = 1;
const FINISHED: u32 = 1 << 16;

struct Ledger {
    state: Vec<AtomicU32>,
    kind: Vec<AtomicU8>,
    next: AtomicUsize,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            state: (0..LEDGER_CAP).map(|_| AtomicU32::new(0)).collect(),
            kind: (0..LEDGER_CAP).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }
    fn alloc(&self, k: Kind) -> usize {
        let id = self.next.fetch_add(1, Relaxed);
        if id >= LEDGER_CAP {
            fail("soak bug: more goroutines in a round than the ledger holds");
        }
        self.kind[id].store(k as u8, Relaxed);
        id
    }
    fn kind_of(&self, id: usize) -> Kind {
        KINDS[self.kind[id].load(Relaxed) as usize]
    }
    fn start(&self, id: usize) {
        let old = self.state[id].fetch_add(STARTED, AcqRel);
        if old != 0 {
            fail(format_args!(
                "goroutine #{id} ({:?}) ran twice (ledger {old:#x})",
                self.kind_of(id)
            ));
        }
        KIND_STATE[self.kind_of(id) as usize]
            .started
            .fetch_add(1, Relaxed);
    }
    fn finish(&self, id: usize) {
        let old = self.state[id].fetch_add(FINISHED, AcqRel);
        if old != STARTED {
            fail(format_args!(
                "goroutine #{id} ({:?}) finished twice or without starting (ledger {old:#x})",
                self.kind_of(id)
            ));
        }
        KIND_STATE[self.kind_of(id) as usize]
            .finished
            .fetch_add(1, Relaxed);
    }
    /// Every goroutine given an id ran once and finished; returns how many of kind `count`.
    fn check(&self, count: Kind) -> (usize, usize) {
        let n = self.next.load(Acquire);
        let mut of_kind = 0;
        for id in 0..n {
            let s = self.state[id].load(Acquire);
            if s != STARTED + FINISHED {
                let what = match s {
                    0 => "never ran (lost)",
                    STARTED => "started but never finished",
                    _ => "has a corrupt ledger entry",
                };
                fail(format_args!(
                    "goroutine #{id} ({:?}) {what}: ledger {s:#x}, {n} goroutines this round",
                    self.kind_of(id)
                ));
            }
            of_kind += usize::from(self.kind_of(id) == count);
        }
        (n, of_kind)
    }
}

/// What a round's goroutines share.
struct Cx {
    ledger: Ledger,
    devnull: OwnedFd,
    devzero: OwnedFd,
    pid: i32,
    feat: Features,
    /// Threads whose locked goroutine exited: they must end.
    locked_exits: Mutex<Vec<i32>>,
    /// Values moved through channels and pipe bytes, for the summary.
    values: AtomicU64,
    bytes: AtomicU64,
}

/// A goroutine's ledger entry: finished when dropped (also when the goroutine panics), or
/// earlier with [`Fin::finish`] before it signals a wait group.
struct Fin {
    cx: Arc<Cx>,
    id: usize,
    done: bool,
}

impl Fin {
    fn finish(mut self) {
        self.done = true;
        self.cx.ledger.finish(self.id);
    }
}

impl Drop for Fin {
    fn drop(&mut self) {
        if !self.done {
            self.cx.ledger.finish(self.id);
        }
    }
}

/// Spawns a goroutine the soak counts on.
fn go<T: Send + 'static>(
    cx: &Arc<Cx>,
    k: Kind,
    f: impl FnOnce(&Arc<Cx>, Fin) -> T + Send + 'static,
) -> (usize, JoinHandle<T>) {
    let id = cx.ledger.alloc(k);
    let cx = cx.clone();
    let h = goro::spawn(move || body(cx, id, f));
    (id, h)
}

/// The same from a plain thread, through the runtime.
fn go_on<T: Send + 'static>(
    rt: &Runtime,
    cx: &Arc<Cx>,
    k: Kind,
    f: impl FnOnce(&Arc<Cx>, Fin) -> T + Send + 'static,
) -> JoinHandle<T> {
    let id = cx.ledger.alloc(k);
    let cx = cx.clone();
    rt.spawn(move || body(cx, id, f))
}

fn body<T>(cx: Arc<Cx>, id: usize, f: impl FnOnce(&Arc<Cx>, Fin) -> T) -> T {
    cx.ledger.start(id);
    let fin = Fin {
        cx: cx.clone(),
        id,
        done: false,
    };
    f(&cx, fin)
}

// ---------------------------------------------------------------------------------------------
// Small operations, shared by every kind of goroutine.

fn ts(us: u64) -> Timespec {
    Timespec {
        tv_sec: (us / 1_000_000) as i64,
        tv_nsec: ((us % 1_000_000) * 1000) as i64,
    }
}

/// nanosleep (or clock_nanosleep) through the wrapper; never short, never EINTR.
fn nap(k: Kind, us: u64, clock: bool) {
    let t = Instant::now();
    if clock {
        step(k, &"clock_nanosleep");
        ok(
            "clock_nanosleep",
            sc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts(us), None),
        );
    } else {
        step(k, &"nanosleep");
        ok("nanosleep", sc::nanosleep(&ts(us), None));
    }
    let took = t.elapsed();
    if took < Duration::from_micros(us) {
        fail(format_args!(
            "a sleep of {us} us returned after {took:?} without an error"
        ));
    }
}

/// The runtime's idea of the caller's thread is the thread. Asking the runtime may itself
/// move the goroutine (a preemption by handoff is settled at the next runtime entry), so the
/// thread is read between two asks, and compared only if they agree.
fn check_m(what: &str) {
    let before = goro::__private::current_m_tid();
    let tid = sc::gettid();
    let after = goro::__private::current_m_tid();
    if before == after && after != Some(tid) {
        fail(format_args!(
            "{what}: running on thread {tid} but the runtime believes {after:?}"
        ));
    }
}

/// A short call through a wrapper, checked.
fn short_call(cx: &Cx, rng: &mut Rng, k: Kind) {
    let mut buf = [0xA5u8; 512];
    match rng.below(6) {
        0 => {
            step(k, &"getpid");
            if sc::getpid() != cx.pid {
                fail("getpid changed");
            }
        }
        1 => {
            step(k, &"write /dev/null");
            let n = rng.range(0, 512) as usize;
            let w = ok("write", sc::write(cx.devnull.as_fd(), &buf[..n]));
            if w != n {
                fail(format_args!("write of {n} to /dev/null wrote {w}"));
            }
        }
        2 => {
            step(k, &"read /dev/zero");
            let n = rng.range(1, 512) as usize;
            let r = ok("read", sc::read(cx.devzero.as_fd(), &mut buf[..n]));
            if r != n || buf[..n].iter().any(|&b| b != 0) {
                fail(format_args!(
                    "read of {n} from /dev/zero gave {r} bytes, or non-zero"
                ));
            }
        }
        3 => {
            step(k, &"clock_gettime");
            let a = ok("clock_gettime", sc::clock_gettime(libc::CLOCK_MONOTONIC));
            let b = ok("clock_gettime", sc::clock_gettime(libc::CLOCK_MONOTONIC));
            if (b.tv_sec, b.tv_nsec) < (a.tv_sec, a.tv_nsec) {
                fail("CLOCK_MONOTONIC went backwards");
            }
        }
        4 => {
            step(k, &"getppid");
            let _ = sc::getppid();
            check_m("after getppid");
        }
        _ => {
            step(k, &"getrandom");
            let n = rng.range(1, 64) as usize;
            let r = ok("getrandom", sc::getrandom(&mut buf[..n], 0));
            if r != n {
                fail(format_args!("getrandom of {n} gave {r}"));
            }
        }
    }
}

/// Spins for `d` without entering the runtime; the sums prove no register was lost to a
/// preemption signal.
fn compute(k: Kind, d: Duration) {
    step(k, &"compute");
    let t = Instant::now();
    let (mut n, mut s, mut f) = (0u64, 0u64, 0f64);
    while t.elapsed() < d {
        for _ in 0..256 {
            s = std::hint::black_box(s + n);
            f = std::hint::black_box(f + n as f64);
            n += 1;
        }
    }
    if n > 0 && (s != n * (n - 1) / 2 || f != s as f64) {
        fail(format_args!(
            "a compute loop lost its registers: n {n}, sum {s}, float sum {f}"
        ));
    }
    step(k, &"compute done");
}

/// `blocking` around a plain thread sleep.
fn block_sleep(k: Kind, us: u64) {
    step(k, &"blocking(thread::sleep)");
    let r = goro::blocking(|| {
        std::thread::sleep(Duration::from_micros(us));
        us * 3
    });
    if r != us * 3 {
        fail("blocking returned the wrong value");
    }
}

/// `blocking` around wrapper calls.
fn block_wrappers(cx: &Cx, k: Kind, us: u64) {
    step(k, &"blocking(wrappers)");
    let r = goro::blocking(|| {
        let w = ok("write in blocking", sc::write(cx.devnull.as_fd(), b"soak"));
        ok("nanosleep in blocking", sc::nanosleep(&ts(us), None));
        w + usize::from(sc::getpid() == cx.pid)
    });
    if r != 5 {
        fail("blocking(wrappers) returned the wrong value");
    }
}

/// A random small operation of any kind the features allow.
fn small_op(cx: &Cx, rng: &mut Rng, k: Kind) {
    let f = &cx.feat;
    match rng.below(16) {
        0..=5 => {}
        6 | 7 if f.has("yield") => {
            step(k, &"yield");
            goro::yield_now();
        }
        8 | 9 if f.has("short") => short_call(cx, rng, k),
        10 if f.has("sleep") => nap(k, rng.range(10, 100), rng.chance(1, 3)),
        11 if f.has("compute") => compute(k, Duration::from_micros(rng.range(10, 200))),
        12 if f.has("blocking") => block_sleep(k, rng.range(10, 200)),
        13 if f.has("blocking_wrapper") => block_wrappers(cx, k, rng.range(10, 50)),
        14 if f.has("std_fs") => {
            step(k, &"blocking(std::fs::read)");
            let s = goro::blocking(|| std::fs::read("/proc/self/statm"));
            match s {
                Ok(b) if !b.is_empty() => {}
                other => fail(format_args!("std::fs::read in blocking: {other:?}")),
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The activities.

#[derive(Clone, Copy, Debug)]
enum CloseMode {
    /// The last sender's drop closes.
    Drop,
    /// A closer waits for the senders (a WaitGroup), then closes.
    Closer,
    /// A closer closes while senders still send: the rest come back as errors.
    Early,
    /// Unbuffered; receivers leave after a quota, failing the pending sends.
    Leave,
}

#[derive(Clone, Copy, Debug)]
enum PeerMode {
    None,
    ThreadSender,
    ThreadReceiver,
}

#[derive(Clone, Debug)]
struct ChanPlan {
    cap: usize,
    senders: u64,
    receivers: u64,
    per: u64,
    mode: CloseMode,
    peer: PeerMode,
}

#[derive(Clone, Copy, Debug)]
enum ReadMode {
    /// `read` through the wrapper.
    Wrapper,
    /// The wrapper inside `blocking`.
    WrapperInBlocking,
    /// `std::fs::File::read` inside `blocking`.
    StdInBlocking,
    /// `std::fs::File::read` bare: the runtime must preempt it in the kernel.
    StdBare,
}

#[derive(Clone, Copy, Debug)]
enum WriteMode {
    Wrapper,
    StdInBlocking,
}

#[derive(Clone, Copy, Debug)]
enum Delay {
    None,
    Yield(u64),
    Nap(u64),
    BlockSleep(u64),
}

#[derive(Clone, Debug)]
struct PipePlan {
    total: usize,
    chunk_max: usize,
    reader: ReadMode,
    writer: WriteMode,
    delay: Delay,
    reader_first: bool,
}

#[derive(Clone, Debug)]
enum Act {
    Tree {
        depth: u32,
    },
    Chan(ChanPlan),
    Wg {
        workers: u64,
        waiters: u64,
    },
    Short {
        n: u64,
    },
    Pipe(PipePlan),
    /// With `edge`, each sleep follows a compute loop of about the preemption threshold, so a
    /// preemption signal may land in the sleep.
    Sleep {
        n: u64,
        edge: bool,
    },
    Blocking {
        n: u64,
    },
    Locked {
        n: u64,
        pingpong: u64,
        exit_locked: bool,
    },
    Yield {
        n: u64,
    },
    Compute {
        us: u64,
    },
    Procs {
        n: u64,
    },
}

impl Act {
    fn name(&self) -> &'static str {
        match self {
            Act::Tree { .. } => "tree",
            Act::Chan(_) => "chan",
            Act::Wg { .. } => "wg",
            Act::Short { .. } => "short",
            Act::Pipe(_) => "pipe",
            Act::Sleep { .. } => "sleep",
            Act::Blocking { .. } => "blocking",
            Act::Locked { .. } => "locked",
            Act::Yield { .. } => "yield",
            Act::Compute { .. } => "compute",
            Act::Procs { .. } => "procs",
        }
    }
    fn kind(&self) -> Kind {
        match self {
            Act::Tree { .. } => Kind::Tree,
            Act::Chan(_) => Kind::Main,
            Act::Wg { .. } => Kind::Main,
            Act::Short { .. } => Kind::Short,
            Act::Pipe(_) => Kind::Main,
            Act::Sleep { .. } => Kind::Sleep,
            Act::Blocking { .. } => Kind::Blocking,
            Act::Locked { .. } => Kind::Locked,
            Act::Yield { .. } => Kind::Yield,
            Act::Compute { .. } => Kind::Compute,
            Act::Procs { .. } => Kind::Procs,
        }
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Tree { depth } => write!(f, "tree(depth {depth})"),
            Act::Chan(c) => write!(
                f,
                "chan(cap {}, {}x{} -> {}, {:?}, peer {:?})",
                c.cap, c.senders, c.per, c.receivers, c.mode, c.peer
            ),
            Act::Wg { workers, waiters } => write!(f, "wg({workers} workers, {waiters} waiters)"),
            Act::Short { n } => write!(f, "short({n})"),
            Act::Pipe(p) => write!(
                f,
                "pipe({} B, chunks <= {}, read {:?}, write {:?}, delay {:?}, reader first {})",
                p.total, p.chunk_max, p.reader, p.writer, p.delay, p.reader_first
            ),
            Act::Sleep { n, edge } => write!(f, "sleep({n}, after compute {edge})"),
            Act::Blocking { n } => write!(f, "blocking({n})"),
            Act::Locked {
                n,
                pingpong,
                exit_locked,
            } => write!(
                f,
                "locked({n} ops, ping-pong {pingpong}, exit locked {exit_locked})"
            ),
            Act::Yield { n } => write!(f, "yield({n})"),
            Act::Compute { us } => write!(f, "compute({us} us)"),
            Act::Procs { n } => write!(f, "procs({n} changes)"),
        }
    }
}

/// A spawn tree: each node works a little, then spawns children and joins them (checking
/// their ids and subtree sizes; some children panic) or waits for them with a WaitGroup.
/// Returns (its own id, the nodes in its subtree).
fn tree(cx: &Arc<Cx>, mut rng: Rng, depth: u32, me: usize) -> (usize, u64) {
    const K: Kind = Kind::Tree;
    step(K, &"tree: working");
    small_op(cx, &mut rng, K);
    if depth == 0 {
        return (me, 1);
    }
    let fan = rng.below(if depth >= 3 { 4 } else { 6 });
    let mut nodes = 1;
    if cx.feat.has("wg") && rng.chance(1, 3) {
        let wg = WaitGroup::new();
        let acc = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let mut want_ids = 0u64;
        for _ in 0..fan {
            wg.add(1);
            let (wg, acc, r) = (wg.clone(), acc.clone(), rng.fork());
            let (id, h) = go(cx, K, move |cx, fin| {
                let (id, n) = tree(cx, r, depth - 1, fin.id);
                acc.0.fetch_add(id as u64, Relaxed);
                acc.1.fetch_add(n, Relaxed);
                fin.finish();
                step(K, &"tree: wg.done");
                wg.done();
            });
            want_ids += id as u64;
            drop(h); // detached: the wait group is the only way to know it finished
        }
        step(K, &"tree: wg.wait");
        wg.wait();
        if acc.0.load(Relaxed) != want_ids {
            fail("tree: children behind a WaitGroup reported the wrong ids");
        }
        nodes += acc.1.load(Relaxed);
    } else {
        let mut hs = Vec::new();
        for _ in 0..fan {
            let r = rng.fork();
            let panics = cx.feat.has("panic") && rng.chance(1, 8);
            let (id, h) = go(cx, K, move |cx, fin| {
                if panics {
                    let mut r = r;
                    small_op(cx, &mut r, K);
                    step(K, &"tree: panicking");
                    panic_any(Intentional(fin.id));
                }
                tree(cx, r, depth - 1, fin.id)
            });
            hs.push((id, panics, h));
        }
        rng.shuffle(&mut hs);
        for (id, panics, h) in hs {
            step(K, &"tree: join");
            match (h.join(), panics) {
                (Ok((got, n)), false) if got == id => nodes += n,
                (Err(p), true) if p.downcast_ref::<Intentional>().map(|i| i.0) == Some(id) => {
                    nodes += 1
                }
                (Ok((got, _)), _) => fail(format_args!(
                    "tree: join of goroutine #{id} (panics: {panics}) gave Ok with id #{got}"
                )),
                (Err(p), _) => fail(format_args!(
                    "tree: join of goroutine #{id} (panics: {panics}) gave Err({})",
                    describe(&*p)
                )),
            }
        }
    }
    step(K, &"tree: done");
    (me, nodes)
}

/// The value sender `s` sends `i`-th on a channel tagged `tag`.
fn chan_val(tag: u64, s: u64, i: u64) -> u64 {
    mix(tag ^ (s << 40) ^ i)
}

/// (count, wrapping sum, xor) of values.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Tally(u64, u64, u64);

impl Tally {
    fn add(&mut self, v: u64) {
        self.0 += 1;
        self.1 = self.1.wrapping_add(v);
        self.2 ^= v;
    }
    fn merge(&mut self, o: Tally) {
        self.0 += o.0;
        self.1 = self.1.wrapping_add(o.1);
        self.2 ^= o.2;
    }
}

fn sender_loop(
    tx: &goro::Sender<u64>,
    tag: u64,
    s: u64,
    per: u64,
    mut rng: Rng,
    cx: &Cx,
    in_goroutine: bool,
) -> Tally {
    let mut back = Tally::default();
    for i in 0..per {
        let v = chan_val(tag, s, i);
        if in_goroutine {
            step(Kind::Send, &"send");
        }
        match tx.send(v) {
            Ok(()) => {}
            Err(SendError(b)) => {
                if b != v {
                    fail("a failed send handed back another value");
                }
                back.add(b);
            }
        }
        if in_goroutine && rng.chance(1, 32) {
            small_op(cx, &mut rng, Kind::Send);
        }
    }
    back
}

fn receiver_loop(
    rx: Receiver<u64>,
    quota: Option<u64>,
    mut rng: Rng,
    cx: &Cx,
    in_goroutine: bool,
) -> Tally {
    let mut got = Tally::default();
    loop {
        if quota.is_some_and(|q| got.0 >= q) {
            break; // leave: dropping the receiver
        }
        if in_goroutine {
            step(Kind::Recv, &"recv");
        }
        match rx.recv() {
            Some(v) => got.add(v),
            None => break,
        }
        if in_goroutine && rng.chance(1, 32) {
            small_op(cx, &mut rng, Kind::Recv);
        }
    }
    drop(rx);
    got
}

/// Joins a plain thread from a goroutine.
fn join_thread<T>(cx: &Cx, t: std::thread::JoinHandle<T>) -> T {
    step(Kind::Main, &"join a plain thread");
    let r = if cx.feat.has("blocking") {
        goro::blocking(|| t.join())
    } else {
        t.join()
    };
    match r {
        Ok(v) => v,
        Err(p) => fail(format_args!(
            "a plain peer thread panicked: {}",
            describe(&*p)
        )),
    }
}

fn channel(cx: &Arc<Cx>, mut rng: Rng, p: ChanPlan) {
    let tag = rng.next();
    let (tx, rx) = chan::<u64>(p.cap);
    let mut want = Tally::default();
    for s in 0..p.senders {
        for i in 0..p.per {
            want.add(chan_val(tag, s, i));
        }
    }
    let mut receivers = Vec::new();
    let mut thread_recv = None;
    for r in 0..p.receivers {
        let quota = matches!(p.mode, CloseMode::Leave)
            .then(|| rng.below(2 * p.senders * p.per / p.receivers + 2));
        let (rx, rr) = (rx.clone(), rng.fork());
        if r == 0 && matches!(p.peer, PeerMode::ThreadReceiver) {
            let cx2 = cx.clone();
            thread_recv = Some(std::thread::spawn(move || {
                receiver_loop(rx, quota, rr, &cx2, false)
            }));
        } else {
            receivers.push(
                go(cx, Kind::Recv, move |cx, _fin| {
                    receiver_loop(rx, quota, rr, cx, true)
                })
                .1,
            );
        }
    }
    drop(rx);
    let wg = WaitGroup::new();
    let mut senders = Vec::new();
    let mut thread_send = None;
    for s in 0..p.senders {
        let (tx, sr) = (tx.clone(), rng.fork());
        wg.add(1);
        let wg = wg.clone();
        let per = p.per;
        if s == 0 && matches!(p.peer, PeerMode::ThreadSender) {
            let cx2 = cx.clone();
            thread_send = Some(std::thread::spawn(move || {
                let back = sender_loop(&tx, tag, s, per, sr, &cx2, false);
                drop(tx);
                wg.done();
                back
            }));
        } else {
            senders.push(
                go(cx, Kind::Send, move |cx, fin| {
                    let back = sender_loop(&tx, tag, s, per, sr, cx, true);
                    drop(tx);
                    fin.finish();
                    wg.done();
                    back
                })
                .1,
            );
        }
    }
    let closer = match p.mode {
        CloseMode::Drop | CloseMode::Leave => {
            drop(tx);
            None
        }
        CloseMode::Closer => Some(
            go(cx, Kind::Close, move |_cx, _fin| {
                step(Kind::Close, &"closer: wg.wait");
                wg.wait();
                step(Kind::Close, &"closer: close");
                tx.close();
            })
            .1,
        ),
        CloseMode::Early => {
            let mut cr = rng.fork();
            Some(
                go(cx, Kind::Close, move |cx, _fin| {
                    for _ in 0..cr.below(20) {
                        small_op(cx, &mut cr, Kind::Close);
                        step(Kind::Close, &"closer: yield");
                        goro::yield_now();
                    }
                    step(Kind::Close, &"closer: close early");
                    tx.close();
                })
                .1,
            )
        }
    };
    let mut got = Tally::default();
    let mut back = Tally::default();
    for h in senders {
        back.merge(join(h, "channel sender"));
    }
    if let Some(t) = thread_send {
        back.merge(join_thread(cx, t));
    }
    for h in receivers {
        got.merge(join(h, "channel receiver"));
    }
    if let Some(t) = thread_recv {
        got.merge(join_thread(cx, t));
    }
    if let Some(h) = closer {
        join(h, "channel closer");
    }
    let mut all = got;
    all.merge(back);
    if all != want || (back.0 > 0 && matches!(p.mode, CloseMode::Drop | CloseMode::Closer)) {
        fail(format_args!(
            "channel {p:?}: received {got:?} + handed back {back:?} != sent {want:?}"
        ));
    }
    cx.values.fetch_add(got.0, Relaxed);
}

fn wait_group(cx: &Arc<Cx>, mut rng: Rng, workers: u64, waiters: u64) {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicU64::new(0));
    wg.add(workers as usize);
    let mut hs = Vec::new();
    for _ in 0..waiters {
        let (wg, done) = (wg.clone(), done.clone());
        hs.push(
            go(cx, Kind::WgWait, move |_cx, _fin| {
                step(Kind::WgWait, &"wg.wait");
                wg.wait();
                let d = done.load(Acquire);
                if d != workers {
                    fail(format_args!("wg.wait returned with {d} of {workers} done"));
                }
            })
            .1,
        );
    }
    for _ in 0..workers {
        let (wg, done, mut r) = (wg.clone(), done.clone(), rng.fork());
        let (_, h) = go(cx, Kind::WgWork, move |cx, fin| {
            small_op(cx, &mut r, Kind::WgWork);
            done.fetch_add(1, Release);
            fin.finish();
            step(Kind::WgWork, &"wg.done");
            wg.done();
        });
        drop(h);
    }
    step(Kind::Main, &"wg: wait");
    wg.wait();
    for h in hs {
        join(h, "wait-group waiter");
    }
}

/// Byte `i` of a pipe's stream.
fn pipe_byte(tag: u64, i: usize) -> u8 {
    (mix(tag ^ (i as u64 >> 3)) >> ((i & 7) * 8)) as u8
}

fn delay(cx: &Cx, d: Delay, k: Kind) {
    match d {
        Delay::None => {}
        Delay::Yield(n) => {
            for _ in 0..n {
                step(k, &"delay: yield");
                goro::yield_now();
            }
        }
        Delay::Nap(us) => nap(k, us, false),
        Delay::BlockSleep(us) => {
            if cx.feat.has("blocking") {
                block_sleep(k, us)
            }
        }
    }
}

fn pipe_reader(cx: &Cx, mut rng: Rng, r: OwnedFd, tag: u64, p: &PipePlan) {
    const K: Kind = Kind::PipeRead;
    let mut buf = vec![0u8; 16384];
    let mut file = None;
    let mut r = Some(r);
    if matches!(p.reader, ReadMode::StdInBlocking | ReadMode::StdBare) {
        file = Some(std::fs::File::from(r.take().unwrap()));
    }
    let mut pos = 0usize;
    loop {
        let want = rng.range(1, buf.len() as u64) as usize;
        let b = &mut buf[..want];
        let n = match p.reader {
            ReadMode::Wrapper => {
                step(K, &"pipe: read");
                ok("read", sc::read(r.as_ref().unwrap().as_fd(), b))
            }
            ReadMode::WrapperInBlocking => {
                step(K, &"pipe: blocking(read wrapper)");
                let fd = r.as_ref().unwrap().as_fd();
                goro::blocking(|| ok("read in blocking", sc::read(fd, b)))
            }
            ReadMode::StdInBlocking | ReadMode::StdBare => {
                let f = file.as_mut().unwrap();
                let res = if matches!(p.reader, ReadMode::StdInBlocking) {
                    step(K, &"pipe: blocking(std read)");
                    goro::blocking(|| f.read(b))
                } else {
                    step(K, &"pipe: std read (bare)");
                    f.read(b)
                };
                match res {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => fail(format_args!("std read of a pipe: {e}")),
                }
            }
        };
        if n == 0 {
            break;
        }
        if pos + n > p.total {
            fail(format_args!(
                "pipe: read past the {} bytes written ({})",
                p.total,
                pos + n
            ));
        }
        for (j, &byte) in b[..n].iter().enumerate() {
            if byte != pipe_byte(tag, pos + j) {
                fail(format_args!(
                    "pipe: byte {} of {} is wrong",
                    pos + j,
                    p.total
                ));
            }
        }
        pos += n;
    }
    if pos != p.total {
        fail(format_args!(
            "pipe: end of file after {pos} of {} bytes",
            p.total
        ));
    }
    cx.bytes.fetch_add(pos as u64, Relaxed);
    step(K, &"pipe: read to EOF");
}

fn pipe_writer(cx: &Cx, mut rng: Rng, w: OwnedFd, tag: u64, p: &PipePlan) {
    const K: Kind = Kind::PipeWrite;
    delay(cx, p.delay, K);
    let mut file = matches!(p.writer, WriteMode::StdInBlocking)
        .then(|| std::fs::File::from(w.try_clone().unwrap()));
    let mut pos = 0usize;
    let mut chunk = Vec::new();
    while pos < p.total {
        let n = (rng.range(1, p.chunk_max as u64) as usize).min(p.total - pos);
        chunk.clear();
        chunk.extend((pos..pos + n).map(|i| pipe_byte(tag, i)));
        match file.as_mut() {
            None => {
                // A pipe write may be partial (a signal after some bytes): write the rest.
                let mut off = 0;
                while off < n {
                    step(K, &"pipe: write");
                    off += ok("write", sc::write(w.as_fd(), &chunk[off..]));
                }
            }
            Some(f) => {
                step(K, &"pipe: blocking(std write_all)");
                if let Err(e) = goro::blocking(|| f.write_all(&chunk)) {
                    fail(format_args!("std write to a pipe: {e}"));
                }
            }
        }
        pos += n;
        if rng.chance(1, 8) {
            delay(cx, p.delay, K);
        }
    }
    drop(file);
    drop(w); // end of file for the reader
    step(K, &"pipe: closed");
}

fn pipe(cx: &Arc<Cx>, mut rng: Rng, p: PipePlan) {
    let (r, w) = ok("pipe2", sc::pipe2(libc::O_CLOEXEC as u32));
    let tag = rng.next();
    let p = Arc::new(p);
    let (rr, wr) = (rng.fork(), rng.fork());
    let p2 = p.clone();
    let reader = move |cx: &Arc<Cx>, _fin: Fin| pipe_reader(cx, rr, r, tag, &p2);
    let p3 = p.clone();
    let writer = move |cx: &Arc<Cx>, _fin: Fin| pipe_writer(cx, wr, w, tag, &p3);
    let (hr, hw) = if p.reader_first {
        let hr = go(cx, Kind::PipeRead, reader).1;
        if rng.chance(1, 2) {
            step(Kind::Main, &"pipe: yield so the reader blocks");
            goro::yield_now();
        }
        (hr, go(cx, Kind::PipeWrite, writer).1)
    } else {
        let hw = go(cx, Kind::PipeWrite, writer).1;
        (go(cx, Kind::PipeRead, reader).1, hw)
    };
    if rng.chance(1, 2) {
        join(hw, "pipe writer");
        join(hr, "pipe reader");
    } else {
        join(hr, "pipe reader");
        join(hw, "pipe writer");
    }
}

fn locked(cx: &Arc<Cx>, mut rng: Rng, n: u64, pingpong: u64, exit_locked: bool) {
    const K: Kind = Kind::Locked;
    step(K, &"lock_os_thread");
    goro::lock_os_thread();
    let tid = sc::gettid();
    let same = |what: &str| {
        let now = sc::gettid();
        if now != tid {
            fail(format_args!(
                "a locked goroutine moved from thread {tid} to {now} ({what})"
            ));
        }
        check_m(what);
    };
    same("just locked");
    // A partner bounces values off us over unbuffered channels.
    let partner = (pingpong > 0).then(|| {
        let (to_tx, to_rx) = chan::<u64>(0);
        let (from_tx, from_rx) = chan::<u64>(0);
        let h = go(cx, Kind::Partner, move |_cx, _fin| {
            for _ in 0..pingpong {
                step(Kind::Partner, &"partner: recv");
                let v = to_rx
                    .recv()
                    .unwrap_or_else(|| fail("ping-pong: channel closed early"));
                step(Kind::Partner, &"partner: send");
                if from_tx.send(v + 1).is_err() {
                    fail("ping-pong: reply failed");
                }
            }
        })
        .1;
        (to_tx, from_rx, h)
    });
    let mut depth = 1;
    let mut bounced = 0;
    for _ in 0..n {
        match rng.below(8) {
            0 => {
                step(K, &"locked: yield");
                goro::yield_now();
                same("after yield");
            }
            1 => {
                short_call(cx, &mut rng, K);
                same("after a short call");
            }
            2 if cx.feat.has("sleep") => {
                nap(K, rng.range(10, 100), false);
                same("after nanosleep");
            }
            3 if cx.feat.has("blocking") => {
                block_sleep(K, rng.range(10, 200));
                same("after blocking");
            }
            4 => {
                step(K, &"locked: nest");
                if depth < 4 && rng.chance(1, 2) {
                    goro::lock_os_thread();
                    depth += 1;
                } else if depth > 1 {
                    goro::unlock_os_thread();
                    depth -= 1;
                }
                goro::yield_now();
                same("after nesting");
            }
            5 if bounced < pingpong => {
                let (to, from, _) = partner.as_ref().unwrap();
                step(K, &"locked: ping");
                if to.send(bounced).is_err() {
                    fail("ping-pong: send failed");
                }
                step(K, &"locked: wait for pong");
                if from.recv() != Some(bounced + 1) {
                    fail("ping-pong: wrong reply");
                }
                bounced += 1;
                same("after ping-pong");
            }
            6 if cx.feat.has("compute") => {
                compute(K, Duration::from_micros(rng.range(50, 500)));
                same("after compute");
            }
            _ => small_op(cx, &mut rng, K),
        }
    }
    if let Some((to, from, h)) = partner {
        while bounced < pingpong {
            step(K, &"locked: ping (rest)");
            if to.send(bounced).is_err() || from.recv() != Some(bounced + 1) {
                fail("ping-pong failed");
            }
            bounced += 1;
        }
        join(h, "ping-pong partner");
    }
    same("at the end");
    if exit_locked {
        // Ends with the lock held: the thread must end with the goroutine.
        cx.locked_exits.lock().unwrap().push(tid);
        step(K, &"exiting locked");
        return;
    }
    for _ in 0..depth {
        goro::unlock_os_thread();
    }
    step(K, &"unlocked");
    goro::yield_now();
    check_m("after unlocking");
}

fn procs(cx: &Arc<Cx>, mut rng: Rng, n: u64) {
    const K: Kind = Kind::Procs;
    let mut last = goro::max_procs();
    for _ in 0..n {
        let want = rng.range(1, 6) as usize;
        step(K, &"set_max_procs");
        let old = goro::set_max_procs(want);
        if old != last {
            fail(format_args!(
                "set_max_procs returned {old}, the last set was {last}"
            ));
        }
        let now = goro::max_procs();
        if now != want {
            fail(format_args!(
                "max_procs is {now} after set_max_procs({want})"
            ));
        }
        last = want;
        if cx.feat.has("stw") && rng.chance(1, 3) {
            step(K, &"stop_start_world");
            goro::__private::stop_start_world();
        }
        small_op(cx, &mut rng, K);
        step(K, &"procs: yield");
        goro::yield_now();
    }
}

fn run_act(cx: &Arc<Cx>, act: Act, mut rng: Rng, me: usize) -> u64 {
    match act {
        Act::Tree { depth } => return tree(cx, rng, depth, me).1,
        Act::Chan(p) => channel(cx, rng, p),
        Act::Wg { workers, waiters } => wait_group(cx, rng, workers, waiters),
        Act::Short { n } => (0..n).for_each(|_| short_call(cx, &mut rng, Kind::Short)),
        Act::Pipe(p) => pipe(cx, rng, p),
        Act::Sleep { n, edge } => {
            for _ in 0..n {
                if edge {
                    compute(Kind::Sleep, Duration::from_micros(rng.range(8_000, 14_000)));
                }
                nap(Kind::Sleep, rng.range(10, 100), rng.chance(1, 3));
            }
        }
        Act::Blocking { n } => {
            for _ in 0..n {
                match rng.below(4) {
                    0 if cx.feat.has("blocking_wrapper") => {
                        block_wrappers(cx, Kind::Blocking, rng.range(10, 100))
                    }
                    1 if cx.feat.has("panic") => {
                        step(Kind::Blocking, &"blocking(panic)");
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            goro::blocking::<()>(|| panic_any(Intentional(me)))
                        }));
                        if !r.is_err_and(|p| p.is::<Intentional>()) {
                            fail("a panic inside blocking() did not come out of it");
                        }
                        // The runtime must be usable right after.
                        goro::yield_now();
                        check_m("after a panic in blocking");
                    }
                    _ => block_sleep(Kind::Blocking, rng.range(20, 500)),
                }
            }
        }
        Act::Locked {
            n,
            pingpong,
            exit_locked,
        } => locked(cx, rng, n, pingpong, exit_locked),
        Act::Yield { n } => {
            for _ in 0..n {
                step(Kind::Yield, &"yield");
                goro::yield_now();
            }
        }
        Act::Compute { us } => compute(Kind::Compute, Duration::from_micros(us)),
        Act::Procs { n } => procs(cx, rng, n),
    }
    0
}

// ---------------------------------------------------------------------------------------------
// A round.

struct Plan {
    procs: usize,
    abandon: Option<Abandon>,
    acts: Vec<(Act, u64)>,
    /// Index into `acts` of the one spawned from the main thread (`Runtime::spawn`).
    outside: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
struct Abandon {
    loopers: u64,
    parked: u64,
    /// Spawned before the work (they churn through the round) or just before main returns.
    early: bool,
}

fn plan(rng: &mut Rng, f: &Features, allowed_procs: &[usize]) -> Plan {
    let procs = rng.pick(allowed_procs);
    let abandon = (f.has("abandon") && rng.chance(1, 4)).then(|| Abandon {
        loopers: rng.range(1, 40),
        parked: rng.below(10),
        early: rng.chance(1, 2),
    });
    let mut acts = Vec::new();
    let mut add = |n: u64, rng: &mut Rng, mk: &mut dyn FnMut(&mut Rng) -> Act| {
        for _ in 0..rng.below(n + 1) {
            let a = mk(rng);
            acts.push((a, rng.next()));
        }
    };
    if f.has("tree") {
        add(2, rng, &mut |r| Act::Tree {
            depth: r.range(1, 4) as u32,
        });
    }
    if f.has("chan") {
        add(3, rng, &mut |r| {
            let cap = r.pick(&[0, 0, 1, 2, 16, 64, 1024]);
            let mut modes = vec![CloseMode::Drop, CloseMode::Closer, CloseMode::Early];
            if cap == 0 {
                modes.push(CloseMode::Leave);
            }
            let peer = if f.has("peer") && r.chance(1, 4) {
                r.pick(&[PeerMode::ThreadSender, PeerMode::ThreadReceiver])
            } else {
                PeerMode::None
            };
            let mode = r.pick(&modes);
            // A closer that waits for the senders needs a wait group.
            let mode = if matches!(mode, CloseMode::Closer) && !f.has("wg") {
                CloseMode::Drop
            } else {
                mode
            };
            Act::Chan(ChanPlan {
                cap,
                senders: r.range(1, 8),
                receivers: r.range(1, 6),
                per: r.pick(&[0, 1, 10, 100, 500, 1500]),
                mode,
                peer,
            })
        });
    }
    if f.has("wg") {
        add(2, rng, &mut |r| Act::Wg {
            workers: r.range(0, 60),
            waiters: r.range(1, 4),
        });
    }
    if f.has("short") {
        add(2, rng, &mut |r| Act::Short {
            n: r.range(10, 500),
        });
    }
    if f.has("pipe") {
        add(3, rng, &mut |r| {
            let mut readers = vec![ReadMode::Wrapper, ReadMode::Wrapper];
            if f.has("blocking_wrapper") {
                readers.push(ReadMode::WrapperInBlocking);
            }
            if f.has("std_fs") {
                readers.push(ReadMode::StdInBlocking);
            }
            if f.has("std_bare") {
                readers.push(ReadMode::StdBare);
            }
            let writer = if f.has("std_fs") && r.chance(1, 4) {
                WriteMode::StdInBlocking
            } else {
                WriteMode::Wrapper
            };
            let mut delays = vec![Delay::None, Delay::Yield(r.range(1, 20))];
            if f.has("sleep") {
                delays.push(Delay::Nap(r.range(10, 100)));
            }
            if f.has("blocking") {
                delays.push(Delay::BlockSleep(r.range(10, 300)));
            }
            let total = r.pick(&[1, 100, 4096, 65536, 200_000]) + r.below(100) as usize;
            let chunk_max = r.pick(&[1, 64, 4096, 100_000]);
            Act::Pipe(PipePlan {
                // At most 4096 writes: a round stays well under a second.
                total: total.min(chunk_max * 4096),
                chunk_max,
                reader: r.pick(&readers),
                writer,
                delay: r.pick(&delays),
                reader_first: r.chance(3, 4),
            })
        });
    }
    if f.has("sleep") {
        add(2, rng, &mut |r| {
            if f.has("long_compute") && r.chance(1, 3) {
                Act::Sleep {
                    n: r.range(1, 5),
                    edge: true,
                }
            } else {
                Act::Sleep {
                    n: r.range(1, 40),
                    edge: false,
                }
            }
        });
    }
    if f.has("blocking") {
        add(2, rng, &mut |r| Act::Blocking { n: r.range(1, 20) });
    }
    if f.has("locked") {
        add(2, rng, &mut |r| Act::Locked {
            n: r.range(1, 100),
            pingpong: if r.chance(1, 2) { r.range(1, 50) } else { 0 },
            exit_locked: f.has("locked_exit") && r.chance(1, 3),
        });
    }
    if f.has("yield") {
        add(3, rng, &mut |r| Act::Yield {
            n: r.range(10, 2000),
        });
    }
    if f.has("compute") {
        add(3, rng, &mut |r| Act::Compute {
            us: if f.has("long_compute") && r.chance(1, 5) {
                r.range(10_000, 40_000)
            } else {
                r.range(100, 3000)
            },
        });
    }
    if f.has("procs") && rng.chance(1, 3) {
        let n = rng.range(1, 8);
        acts.push((Act::Procs { n }, rng.next()));
    }
    if acts.is_empty() {
        acts.push((Act::Yield { n: 10 }, rng.next()));
    }
    rng.shuffle(&mut acts);
    let outside =
        (f.has("outside") && rng.chance(1, 4)).then(|| rng.below(acts.len() as u64) as usize);
    Plan {
        procs,
        abandon,
        acts,
        outside,
    }
}

/// Goroutines left behind when the round's runtime is dropped: yield loops (some with short
/// calls or sleeps in them) and goroutines parked on a channel the main thread closes after
/// the drop. Not in the ledger.
fn spawn_abandoned(
    a: Abandon,
    rng: &mut Rng,
    stop: &Arc<AtomicBool>,
    spins: &Arc<AtomicU64>,
    park: &Receiver<u64>,
    cx: &Arc<Cx>,
) {
    for _ in 0..a.loopers {
        let (stop, spins, cx, how) = (stop.clone(), spins.clone(), cx.clone(), rng.below(4));
        drop(goro::spawn(move || {
            while !stop.load(Relaxed) {
                match how {
                    0 if cx.feat.has("short") => {
                        let _ = sc::write(cx.devnull.as_fd(), b"x");
                    }
                    1 if cx.feat.has("sleep") => {
                        let _ = sc::nanosleep(&ts(20), None);
                    }
                    _ => {}
                }
                spins.fetch_add(1, Relaxed);
                goro::yield_now();
            }
        }));
    }
    for _ in 0..a.parked {
        let rx = park.clone();
        drop(goro::spawn(move || {
            let _ = rx.recv();
        }));
    }
}

#[derive(Default)]
struct Totals {
    goroutines: u64,
    values: u64,
    bytes: u64,
    stats: goro::Stats,
    abandoned: u64,
    peak_threads: usize,
}

fn run_round(
    idx: u64,
    seed: u64,
    feat: &Features,
    allowed_procs: &[usize],
    totals: &mut Totals,
    base_threads: usize,
) {
    let mut rng = Rng(mix(seed ^ mix(idx.wrapping_add(0x5EED))));
    let plan = plan(&mut rng, feat, allowed_procs);
    let mut s = format!("P={}", plan.procs);
    if let Some(a) = plan.abandon {
        let _ = write!(s, ", abandon {a:?}");
    }
    if let Some(o) = plan.outside {
        let _ = write!(s, ", act {o} from outside");
    }
    let _ = write!(s, ", acts:");
    for (i, (a, _)) in plan.acts.iter().enumerate() {
        let _ = write!(s, "\n    {i}: {a}");
    }
    if std::env::var_os("GORO_SOAK_PLAN").is_some() {
        eprintln!("soak: round {idx}: {s}");
    }
    *SETTINGS.lock().unwrap() = s;
    for ks in &KIND_STATE {
        ks.started.store(0, Relaxed);
        ks.finished.store(0, Relaxed);
        ks.last.store(core::ptr::null_mut(), Relaxed);
    }
    ROUND.store(idx, Relaxed);
    let names: Vec<&str> = plan.acts.iter().map(|(a, _)| a.name()).collect();
    print!(
        "soak: round {idx}: P={}{}, {} acts: {} ...",
        plan.procs,
        if plan.abandon.is_some() {
            ", abandons some"
        } else {
            ""
        },
        names.len(),
        names.join(" ")
    );
    MID_LINE.store(true, Relaxed);
    let _ = std::io::stdout().flush();
    phase(&"starting a round");

    let open = |p: &str, fl: i32| ok("open", sc::open(p, (fl | libc::O_CLOEXEC) as u32, 0));
    let cx = Arc::new(Cx {
        ledger: Ledger::new(),
        devnull: open("/dev/null", libc::O_WRONLY),
        devzero: open("/dev/zero", libc::O_RDONLY),
        pid: sc::getpid(),
        feat: feat.clone(),
        locked_exits: Mutex::new(Vec::new()),
        values: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let t0 = Instant::now();
    // SAFETY: no goroutine keeps thread-local state across a switch.
    let rt = unsafe { Runtime::builder().max_procs(plan.procs).build() };
    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicU64::new(0));
    let (park_tx, park_rx) = chan::<u64>(0);

    // One activity may come from the main thread through `Runtime::spawn`.
    let mut acts = plan.acts.clone();
    let outside = plan.outside.map(|i| {
        let (act, s) = acts.remove(i);
        go_on(&rt, &cx, act.kind(), move |cx, fin| {
            run_act(cx, act, Rng(s), fin.id)
        })
    });

    phase(&"running a round");
    let main_rng = rng.fork();
    let (cx2, stop2, spins2, abandon) = (cx.clone(), stop.clone(), spins.clone(), plan.abandon);
    let main_id = cx.ledger.alloc(Kind::Main);
    let tree_nodes = rt.run(move || {
        body(cx2, main_id, move |cx, _fin| {
            let mut rng = main_rng;
            step(Kind::Main, &"main: spawning");
            if let Some(a) = abandon.filter(|a| a.early) {
                spawn_abandoned(a, &mut rng, &stop2, &spins2, &park_rx, cx);
            }
            let mut hs = Vec::new();
            for (act, s) in acts {
                let what = act.to_string();
                let (_, h) = go(cx, act.kind(), move |cx, fin| {
                    run_act(cx, act, Rng(s), fin.id)
                });
                hs.push((what, h));
                if rng.chance(1, 4) {
                    small_op(cx, &mut rng, Kind::Main);
                }
            }
            rng.shuffle(&mut hs);
            let mut nodes = 0;
            for (what, h) in hs {
                step(Kind::Main, &"main: join");
                nodes += join(h, &what);
            }
            if let Some(a) = abandon.filter(|a| !a.early) {
                spawn_abandoned(a, &mut rng, &stop2, &spins2, &park_rx, cx);
                goro::yield_now();
            }
            drop(park_rx);
            step(Kind::Main, &"main: returning");
            nodes
        })
    });
    let tree_nodes =
        tree_nodes + outside.map_or(0, |h| join(h, "the activity spawned from outside"));

    phase(&"checking a round");
    let (n, trees) = cx.ledger.check(Kind::Tree);
    let roots = plan
        .acts
        .iter()
        .filter(|(a, _)| matches!(a, Act::Tree { .. }))
        .count();
    if trees as u64 != tree_nodes {
        fail(format_args!(
            "the trees' joins counted {tree_nodes} nodes, the ledger {trees} ({roots} roots)"
        ));
    }
    // A goroutine that exited while locked took its thread with it.
    for &tid in cx.locked_exits.lock().unwrap().iter() {
        let t = Instant::now();
        loop {
            match sc::tgkill(cx.pid, tid, 0) {
                Err(Errno::ESRCH) => break,
                Ok(()) if t.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                r => fail(format_args!(
                    "thread {tid}, whose goroutine exited while locked, lives on after {:?} ({r:?})",
                    t.elapsed()
                )),
            }
        }
    }
    let stats = rt.stats();

    phase(&"dropping a runtime");
    let td = Instant::now();
    drop(rt);
    let drop_took = td.elapsed();
    stop.store(true, Relaxed);
    drop(park_tx); // wakes the parked ones, into a dropped runtime

    phase(&"waiting for the round's threads to end");
    let t = Instant::now();
    let mut threads = count_threads();
    while threads > base_threads && t.elapsed() < Duration::from_secs(10) {
        PROGRESS.fetch_add(1, Relaxed); // bounded: the watchdog need not fire here
        std::thread::sleep(Duration::from_millis(5));
        threads = count_threads();
    }
    if threads > base_threads {
        let first = thread_list();
        std::thread::sleep(Duration::from_millis(500));
        fail_stacks(format_args!(
            "{threads} threads 10 s after the round's runtime was dropped, {base_threads} before any round\nsoak: threads (tid name state): {first}\nsoak: 500 ms later: {}",
            thread_list()
        ));
    }
    let took = t0.elapsed();
    totals.goroutines += n as u64;
    totals.values += cx.values.load(Relaxed);
    totals.bytes += cx.bytes.load(Relaxed);
    totals.abandoned += plan.abandon.map_or(0, |a| a.loopers + a.parked);
    let t = &mut totals.stats;
    t.threads += stats.threads;
    t.steals += stats.steals;
    t.retaken += stats.retaken;
    t.handed_off += stats.handed_off;
    t.preempt_signals += stats.preempt_signals;
    t.preempted += stats.preempted;
    t.syscalls_fast += stats.syscalls_fast;
    t.syscalls_idle_p += stats.syscalls_idle_p;
    t.syscalls_slow += stats.syscalls_slow;
    PASSED.fetch_add(1, Relaxed);
    MID_LINE.store(false, Relaxed);
    println!(
        " ok in {took:.2?} (drop {drop_took:.2?}): {n} goroutines, {} values, {} pipe bytes, {} Ms, retaken {}, handed off {}, preempted {}",
        cx.values.load(Relaxed),
        cx.bytes.load(Relaxed),
        stats.threads,
        stats.retaken,
        stats.handed_off,
        stats.preempted,
    );
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------------------------
// Threads, the watchdog.

/// The process's threads, less goro's template thread: started by the first
/// `lock_os_thread`, it lives as long as the process, by design.
fn count_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim() != "goro-template")
            })
            .count()
    })
}

/// Threads by name (`goro-m3` counts as `goro-m`).
fn thread_names() -> String {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    if let Ok(d) = std::fs::read_dir("/proc/self/task") {
        for e in d.flatten() {
            let name = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let name = name
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string();
            *by.entry(name).or_default() += 1;
        }
    }
    by.iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every thread: tid, name and state (R running, S sleeping, ...).
fn thread_list() -> String {
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir("/proc/self/task") {
        for e in d.flatten() {
            let tid = e.file_name().to_string_lossy().into_owned();
            let comm = std::fs::read_to_string(e.path().join("comm"))
                .map_or_else(|e| format!("<{e}>"), |c| c.trim().to_string());
            let state = std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rfind(')')?;
                    s[after + 1..].split_whitespace().next().map(str::to_string)
                })
                .unwrap_or_else(|| "?".into());
            out.push(format!("{tid} {comm} {state}"));
        }
    }
    out.join(", ")
}

fn watchdog(stall: Duration, max_threads: usize, peak: Arc<AtomicUsize>) {
    let mut last = PROGRESS.load(Relaxed);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let threads = count_threads();
        peak.fetch_max(threads, Relaxed);
        if threads >= max_threads {
            fail(format_args!(
                "{threads} threads (bound {max_threads}): {}",
                thread_names()
            ));
        }
        let now = PROGRESS.load(Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
            continue;
        }
        if since.elapsed() < stall || FAILED.load(SeqCst) {
            continue;
        }
        if FAILED.swap(true, SeqCst) {
            continue;
        }
        end_line();
        eprintln!(
            "soak: STALL: no progress for {stall:?} while {}\nsoak: {}",
            load_str(&PHASE),
            where_()
        );
        eprintln!("soak: kind        started finished  last step (by goroutine)");
        for (k, ks) in KINDS.iter().zip(&KIND_STATE) {
            let (s, f) = (ks.started.load(Relaxed), ks.finished.load(Relaxed));
            if s == 0 && ks.last.load(Relaxed).is_null() {
                continue;
            }
            eprintln!(
                "soak:   {:<10} {s:>7} {f:>8}  {} (goroutine {}){}",
                format!("{k:?}"),
                load_str(&ks.last),
                ks.gid.load(Relaxed),
                if s != f { "  <- unfinished" } else { "" },
            );
        }
        eprintln!("soak: {threads} threads: {}", thread_names());
        dump_stacks();
        finish_failed();
    }
}

/// Every thread's stack, through gdb if there is one.
fn dump_stacks() {
    eprintln!(
        "soak: the runtimes' Ps and Ms:\n{}",
        goro::__private::sched_dump()
    );
    let pid = std::process::id().to_string();
    let gdb = std::process::Command::new("timeout")
        .args(["120", "gdb", "-p", &pid, "-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "thread apply all bt"])
        .stdin(std::process::Stdio::null())
        .output();
    match gdb {
        Ok(out) if out.status.success() || !out.stdout.is_empty() => {
            eprintln!("soak: every thread's stack (gdb):");
            let _ = std::io::stderr().write_all(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.trim().is_empty() {
                eprintln!("soak: gdb's stderr:\n{err}");
            }
        }
        Ok(out) => eprintln!(
            "soak: gdb failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("soak: no stacks: cannot run gdb: {e}"),
    }
}

fn main() {
    let seed = env_u64("GORO_SOAK_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        mix(t ^ (u64::from(std::process::id()) << 32))
    });
    let secs = env_u64("GORO_SOAK_SECS").unwrap_or(20);
    let first = env_u64("GORO_SOAK_ROUND").unwrap_or(0);
    let stall = Duration::from_secs(env_u64("GORO_SOAK_STALL").unwrap_or(20));
    let max_threads = env_u64("GORO_SOAK_MAX_THREADS").unwrap_or(1000) as usize;
    let procs: Vec<usize> = std::env::var("GORO_SOAK_PROCS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|s| match s.trim().parse() {
            Ok(n) if n >= 1 => n,
            _ => {
                eprintln!("soak: GORO_SOAK_PROCS: {s:?} is not a P count");
                std::process::exit(2);
            }
        })
        .collect();
    let feat = Features::from_env();
    SEED.store(seed, Relaxed);
    println!(
        "soak: seed {seed:#018x} (replay: GORO_SOAK_SEED={seed:#x}), {secs} s, P from {procs:?}, skipping {:?}",
        feat.skipped()
    );
    let _ = std::io::stdout().flush();

    // The soak's own panics stay quiet; any other is reported with the seed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().is::<Intentional>() {
            return;
        }
        end_line();
        default_hook(info);
        eprintln!("soak: (an unexpected panic) {}", where_());
    }));

    let base_threads = count_threads() + 1; // and the watchdog
    let peak = Arc::new(AtomicUsize::new(0));
    let p2 = peak.clone();
    std::thread::Builder::new()
        .name("soak-watchdog".into())
        .spawn(move || watchdog(stall, max_threads, p2))
        .unwrap();

    let t0 = Instant::now();
    let mut totals = Totals::default();
    let mut round = first;
    loop {
        let r = catch_unwind(AssertUnwindSafe(|| {
            run_round(round, seed, &feat, &procs, &mut totals, base_threads)
        }));
        if let Err(p) = r {
            fail(format_args!("the round panicked: {}", describe(&*p)));
        }
        round += 1;
        if t0.elapsed() >= Duration::from_secs(secs) {
            break;
        }
    }
    totals.peak_threads = peak.load(Relaxed);
    let passed = PASSED.load(Relaxed);
    let s = &totals.stats;
    println!(
        "soak: seed {seed:#018x}: {passed} rounds in {:.1?}, {} goroutines (+{} abandoned), {} channel values, {} pipe bytes, peak {} threads; {} Ms started, {} steals, {} fast / {} idle-P / {} slow syscall exits, {} retaken, {} handed off, {} preempted of {} signals",
        t0.elapsed(),
        totals.goroutines,
        totals.abandoned,
        totals.values,
        totals.bytes,
        totals.peak_threads,
        s.threads,
        s.steals,
        s.syscalls_fast,
        s.syscalls_idle_p,
        s.syscalls_slow,
        s.retaken,
        s.handed_off,
        s.preempted,
        s.preempt_signals,
    );
    println!("soak: {passed} passed, 0 failed");
}
