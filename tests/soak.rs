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
//! stop-the-world; `goro::sleep`, `after`, `Timer`s stopped and reset, `Ticker`s, `after_fn`;
//! `select!` over three channels, blocking, with `default` or with a timeout arm; the locks,
//! condition variable (plain and timed waits), once cells and semaphore of `goro::sync`, some
//! shared with a plain thread), and sometimes drops the runtime with goroutines still queued
//! or parked.
//!
//! Invariants, each failing with the seed and round: every goroutine the soak counts on runs
//! exactly once and finishes (a per-round ledger), join results match, every value sent is
//! received exactly once or handed back by a failed send (count, sum and xor), pipe bytes
//! arrive in order, no wrapper returns `EINTR` (or any error), a sleep is never short (nor a
//! timer, ticker or timeout early), `Timer::stop`/`reset` return what they must where it is
//! determined and leave no stale value on the channel, a stopped ticker or timer delivers
//! nothing more, every `after_fn` not stopped runs exactly once (and a stopped one never),
//! values through `select!` arrive exactly once (count, sum and xor) and a select on closed
//! channels is ready at once (`None`, or the value back), a `goro::sync::Mutex` or `RwLock`
//! writer is alone (readers never see a writer's half-done update), a condition-variable queue
//! delivers every item once, `Once`/`OnceLock` initialise exactly once under a race, a
//! semaphore of n never has more than n holders, a goroutine always runs on the thread the
//! runtime believes, a locked goroutine keeps its thread and an exit while locked ends it, the
//! process's thread count stays under the bound and returns to its baseline once a round's
//! runtime is dropped (less goro's process-wide template and timer threads). A watchdog thread ends the
//! process when no goroutine makes progress for `GORO_SOAK_STALL` seconds, printing the
//! round's settings, what each kind of goroutine was last doing, and every thread's stack
//! (gdb). The last line is `soak: N passed, M failed`.
//!
//! Each round's line gives its time and its counts: system calls retaken, Ps handed off,
//! goroutines preempted, loops of the abandoned goroutines and threads the kernel descheduled.
//! A round far slower than its peers says why there: thousands of preemptions (a pipe read
//! bare by std, each empty read preempted by handoff), or millions of loops and thousands of
//! threads descheduled (early abandoned loops keep every P busy, and each thread running
//! without a P waits for a CPU).
//!
//! Every blocking interaction here completes if the runtime is correct: each pipe's reader
//! reads to end-of-file and its writer always runs and closes; each channel is closed by its
//! last sender or a closer that needs nothing but the senders, and every receiver drains it
//! or leaves (dropping its receiver, which fails the pending sends); wait groups are added
//! to before their goroutines start; every timer waited for is short (at most a few ms) or
//! stopped first; a select's channels are closed once its producers are done, and its
//! consumers drain them to `None`; a condition-variable queue is closed once its producers
//! are done. Only the abandoned goroutines of a dropped runtime are left waiting, and they
//! are not counted.

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
    "timer",            // goro::sleep, after, Timer stop/reset, Ticker, after_fn
    "select",           // select! over three channels: blocking, default, timeout; closed ones
    "sync",             // goro::sync: Mutex, RwLock, Condvar queue, Once/OnceLock, Semaphore
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
    Timer,
    Select,
    Sync,
}

const KINDS: [Kind; 22] = [
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
    Kind::Timer,
    Kind::Select,
    Kind::Sync,
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
/// An `io::Result` that must be `Ok`.
fn ok_io<T>(what: &str, r: std::io::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        fail(format_args!(
            "{what}: {e} (goroutine {:?})",
            goro::current()
        ))
    })
}

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
    /// Non-blocking reads through a `goro::io::PollFd`: the reader parks on the poller.
    Poller,
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
    /// Goroutines of random timer operations, and `fns` after_fn callbacks.
    Timer {
        goroutines: u64,
        ops: u64,
        fns: u64,
    },
    Select(SelectPlan),
    Sync(SyncPlan),
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
            Act::Timer { .. } => "timer",
            Act::Select(_) => "select",
            Act::Sync(_) => "sync",
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
            Act::Timer { .. } | Act::Select(_) | Act::Sync(_) => Kind::Main,
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
            Act::Timer {
                goroutines,
                ops,
                fns,
            } => write!(f, "timer({goroutines}x{ops} ops, {fns} after_fn)"),
            Act::Select(p) => write!(
                f,
                "select(caps {:?}, {}x{} -> {}, send {:?}, recv {:?}, thread producer {})",
                p.caps, p.producers, p.per, p.consumers, p.send, p.recv, p.peer
            ),
            Act::Sync(p) => write!(
                f,
                "sync({:?}, {}x{}, n {}, thread peer {})",
                p.part, p.workers, p.iters, p.n, p.peer
            ),
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
    let polled = matches!(p.reader, ReadMode::Poller)
        .then(|| ok_io("PollFd::new", goro::io::PollFd::new(r.take().unwrap())));
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
            ReadMode::Poller => {
                step(K, &"pipe: read on the poller");
                let pf = polled.as_ref().unwrap();
                ok_io(
                    "PollFd read",
                    pf.read_with(|fd| Ok(sc::read(fd.as_fd(), &mut *b)?)),
                )
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
        Act::Timer {
            goroutines,
            ops,
            fns,
        } => timers(cx, rng, goroutines, ops, fns),
        Act::Select(p) => select_act(cx, rng, p),
        Act::Sync(p) => sync_act(cx, rng, p),
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Timers, select, goro::sync.

/// Fails unless `got` is at least `want` after `start` (a timer or sleep never early).
fn not_early(what: &str, start: Instant, got: Instant, want: Duration) {
    if got < start + want {
        fail(format_args!(
            "{what}: {want:?} requested, fired after {:?}",
            got.saturating_duration_since(start)
        ));
    }
}

/// A timer's channel holds nothing (after a stop or reset drained it, before a new firing).
fn timer_empty(what: &str, rx: &Receiver<Instant>) {
    if let Ok(t) = rx.try_recv() {
        fail(format_args!(
            "{what}: the timer's channel held a value from {:?} ago",
            t.elapsed()
        ));
    }
}

fn timer_ops(cx: &Arc<Cx>, mut rng: Rng, ops: u64) {
    const K: Kind = Kind::Timer;
    let us = |r: &mut Rng, hi: u64| Duration::from_micros(r.range(0, hi));
    for _ in 0..ops {
        match rng.below(9) {
            0 | 1 => {
                let d = us(&mut rng, 3000);
                step(K, &"timer: goro::sleep");
                let t = Instant::now();
                goro::sleep(d);
                not_early("goro::sleep", t, Instant::now(), d);
            }
            2 => {
                let d = us(&mut rng, 2000);
                step(K, &"timer: after");
                let t = Instant::now();
                let rx = goro::time::after(d);
                match rx.recv() {
                    Some(at) => not_early("after", t, at, d),
                    None => fail("after: the channel closed without a value"),
                }
                not_early("after (the receive)", t, Instant::now(), d);
            }
            3 => {
                // A timeout in a select over a channel nothing is sent on.
                let d = us(&mut rng, 2000);
                let (_tx, rx) = chan::<u64>(rng.pick(&[0, 1]));
                step(K, &"timer: select with an after timeout");
                let t = Instant::now();
                goro::select! {
                    recv(rx) -> v => fail(format_args!("select: an idle channel gave {v:?}")),
                    recv(goro::time::after(d)) -> at => match at {
                        Some(at) => not_early("after in select", t, at, d),
                        None => fail("after in select: closed without a value"),
                    },
                }
            }
            4 => {
                // Stopped right after creation with a long duration: it was active.
                step(K, &"timer: stop a long one, reset");
                let tm = goro::time::Timer::new(Duration::from_secs(3600));
                if !tm.stop() {
                    fail("Timer::stop of a fresh one-hour timer returned false");
                }
                if tm.stop() {
                    fail("a second Timer::stop returned true");
                }
                let rx = tm.receiver().unwrap();
                timer_empty("after stop", rx);
                let d = us(&mut rng, 2000);
                let t = Instant::now();
                if tm.reset(d) {
                    fail("Timer::reset of a stopped timer returned true");
                }
                match rx.recv() {
                    Some(at) => not_early("a reset timer", t, at, d),
                    None => fail("a reset timer's channel closed"),
                }
                if tm.stop() {
                    fail("Timer::stop after its value was received returned true");
                }
            }
            5 => {
                // Fired and received: stop and reset say inactive; the next value is new.
                let d = us(&mut rng, 1000);
                step(K, &"timer: fire, receive, reset");
                let t = Instant::now();
                let tm = goro::time::Timer::new(d);
                let rx = tm.receiver().unwrap();
                match rx.recv() {
                    Some(at) => not_early("Timer", t, at, d),
                    None => fail("a timer's channel closed"),
                }
                if rng.chance(1, 2) && tm.stop() {
                    fail("Timer::stop after it fired returned true");
                }
                let d2 = us(&mut rng, 1000);
                let t2 = Instant::now();
                if tm.reset(d2) {
                    fail("Timer::reset after it fired returned true");
                }
                match rx.recv() {
                    Some(at) => not_early("a timer reset after firing (stale value?)", t2, at, d2),
                    None => fail("a timer's channel closed"),
                }
            }
            6 => {
                // Reset at a random moment (fired or not): no stale value afterwards.
                let d = us(&mut rng, 1500);
                step(K, &"timer: racing reset");
                let tm = goro::time::Timer::new(d);
                if rng.chance(1, 2) {
                    goro::sleep(us(&mut rng, 1500));
                } else {
                    goro::yield_now();
                }
                let d2 = us(&mut rng, 1500);
                let t2 = Instant::now();
                let _ = tm.reset(d2);
                let rx = tm.receiver().unwrap();
                match rx.recv() {
                    Some(at) => not_early("a timer reset while racing (stale value?)", t2, at, d2),
                    None => fail("a timer's channel closed"),
                }
            }
            7 => {
                // Stopped at a random moment: empty afterwards, and stays empty.
                let d = us(&mut rng, 1500);
                step(K, &"timer: racing stop");
                let t = Instant::now();
                let tm = goro::time::Timer::new(d);
                if rng.chance(1, 2) {
                    goro::sleep(us(&mut rng, 1500));
                }
                let active = tm.stop();
                let at = t.elapsed();
                if !active && at < d {
                    // It cannot have fired before it was due.
                    fail(format_args!(
                        "Timer::stop {at:?} into a {d:?} timer returned false"
                    ));
                }
                let rx = tm.receiver().unwrap();
                timer_empty("right after stop", rx);
                goro::sleep(d + Duration::from_micros(500));
                timer_empty("a while after stop", rx);
            }
            _ => {
                let p = Duration::from_micros(rng.range(100, 500));
                let n = rng.range(1, 5);
                step(K, &"timer: ticker");
                let t = Instant::now();
                let tk = goro::time::Ticker::new(p);
                let mut last = t;
                for i in 0..n {
                    match tk.receiver().recv() {
                        Some(at) => {
                            if i == 0 {
                                not_early("a Ticker's first tick", t, at, p);
                            } else if at <= last {
                                fail("a Ticker's ticks went backwards");
                            }
                            last = at;
                        }
                        None => fail("a Ticker's channel closed"),
                    }
                }
                step(K, &"timer: ticker stop");
                tk.stop();
                timer_empty("a ticker right after stop", tk.receiver());
                goro::sleep(2 * p);
                timer_empty("a ticker a while after stop", tk.receiver());
            }
        }
        if rng.chance(1, 4) {
            small_op(cx, &mut rng, K);
        }
    }
}

/// `after_fn` callbacks: each not stopped runs exactly once; a stopped one never.
fn after_fns(cx: &Arc<Cx>, mut rng: Rng, n: u64) {
    const K: Kind = Kind::Timer;
    let (tx, rx) = chan::<u64>(2 * n as usize + 2);
    let tx = Arc::new(tx);
    let mut timers = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let tx2 = tx.clone();
        let long = rng.chance(1, 4);
        let d = if long {
            Duration::from_secs(3600)
        } else {
            Duration::from_micros(rng.range(0, 2000))
        };
        step(K, &"after_fn");
        let tm = goro::time::after_fn(d, move || {
            if tx2.try_send(i).is_err() {
                fail("an after_fn callback found its channel full or closed");
            }
        });
        if long {
            // Stopped right away: it was active, and never runs.
            if !tm.stop() {
                fail("Timer::stop of a fresh one-hour after_fn returned false");
            }
        } else if rng.chance(1, 3) {
            if rng.chance(1, 2) {
                goro::yield_now();
            }
            if !tm.stop() {
                want.push(i); // it fired already: its callback runs
            }
        } else {
            want.push(i);
        }
        timers.push((i, long, tm));
        small_op(cx, &mut rng, K);
    }
    // A stopped one-hour timer reset to fire soon runs once more.
    if let Some((i, _, tm)) = timers.iter().find(|t| t.1) {
        if rng.chance(1, 2) {
            if tm.reset(Duration::from_micros(rng.range(0, 500))) {
                fail("Timer::reset of a stopped after_fn returned true");
            }
            want.push(*i);
        }
    }
    let mut seen = vec![0u32; n as usize];
    for _ in 0..want.len() {
        step(K, &"after_fn: wait for a callback");
        match rx.recv() {
            Some(i) => seen[i as usize] += 1,
            None => fail("after_fn: the channel closed"),
        }
    }
    // Anything more would be a stopped one running, or one running twice.
    goro::sleep(Duration::from_millis(3));
    while let Ok(i) = rx.try_recv() {
        seen[i as usize] += 1;
    }
    for i in 0..n {
        let w = u32::from(want.contains(&i));
        if seen[i as usize] != w {
            fail(format_args!(
                "after_fn #{i} of {n}: its callback ran {} times, {w} expected",
                seen[i as usize]
            ));
        }
    }
    cx.values.fetch_add(want.len() as u64, Relaxed);
    drop(timers);
}

fn timers(cx: &Arc<Cx>, mut rng: Rng, goroutines: u64, ops: u64, fns: u64) {
    let mut hs = Vec::new();
    for _ in 0..goroutines {
        let r = rng.fork();
        hs.push(go(cx, Kind::Timer, move |cx, _fin| timer_ops(cx, r, ops)).1);
    }
    if fns > 0 {
        let r = rng.fork();
        hs.push(go(cx, Kind::Timer, move |cx, _fin| after_fns(cx, r, fns)).1);
    }
    for h in hs {
        join(h, "timer goroutine");
    }
}

#[derive(Clone, Copy, Debug)]
enum SelWait {
    /// Blocking selects.
    Block,
    /// `default`: yield and try again.
    Default,
    /// A timeout arm on `goro::time::after`: try again.
    Timeout,
}

#[derive(Clone, Debug)]
struct SelectPlan {
    caps: [usize; 3],
    producers: u64,
    consumers: u64,
    per: u64,
    send: SelWait,
    recv: SelWait,
    peer: bool,
}

fn select_producer(
    chs: &[goro::Sender<u64>; 3],
    tag: u64,
    s: u64,
    per: u64,
    how: SelWait,
    mut rng: Rng,
    in_goroutine: bool,
) {
    let [a, b, c] = chs;
    for i in 0..per {
        let v = chan_val(tag, s, i);
        loop {
            if in_goroutine {
                step(Kind::Select, &"select: send");
            }
            let sent = match how {
                SelWait::Block => goro::select! {
                    send(a, v) -> r => r.map(|()| true),
                    send(b, v) -> r => r.map(|()| true),
                    send(c, v) -> r => r.map(|()| true),
                },
                SelWait::Default => goro::select! {
                    send(a, v) -> r => r.map(|()| true),
                    send(b, v) -> r => r.map(|()| true),
                    send(c, v) -> r => r.map(|()| true),
                    default => Ok(false),
                },
                SelWait::Timeout => goro::select! {
                    send(a, v) -> r => r.map(|()| true),
                    send(b, v) -> r => r.map(|()| true),
                    send(c, v) -> r => r.map(|()| true),
                    recv(goro::time::after(Duration::from_micros(rng.range(0, 300)))) -> _t => Ok(false),
                },
            };
            match sent {
                Ok(true) => break,
                Ok(false) => goro::yield_now(),
                Err(SendError(back)) => fail(format_args!(
                    "select: a send failed though the receivers stay (value back {})",
                    if back == v { "the same" } else { "another" }
                )),
            }
        }
        if in_goroutine && rng.chance(1, 16) {
            goro::yield_now();
        }
    }
}

fn select_consumer(chs: &[Receiver<u64>; 3], how: SelWait, mut rng: Rng) -> Tally {
    let [a, b, c] = chs;
    let mut got = Tally::default();
    let mut closed = [false; 3];
    while closed.iter().any(|c| !c) {
        step(Kind::Select, &"select: recv");
        // Some(Some(v)): a value; Some(None): channel `k` closed; None: nothing yet.
        let r: Option<(usize, Option<u64>)> = match how {
            SelWait::Block => goro::select! {
                recv(a) -> v => Some((0, v)),
                recv(b) -> v => Some((1, v)),
                recv(c) -> v => Some((2, v)),
            },
            SelWait::Default => goro::select! {
                recv(a) -> v => Some((0, v)),
                recv(b) -> v => Some((1, v)),
                recv(c) -> v => Some((2, v)),
                default => None,
            },
            SelWait::Timeout => goro::select! {
                recv(a) -> v => Some((0, v)),
                recv(b) -> v => Some((1, v)),
                recv(c) -> v => Some((2, v)),
                recv(goro::time::after(Duration::from_micros(rng.range(0, 300)))) -> _t => None,
            },
        };
        match r {
            Some((_, Some(v))) => got.add(v),
            Some((k, None)) => {
                closed[k] = true;
                if !chs[k].is_closed() {
                    fail("select: a recv gave None on a channel that is not closed");
                }
                goro::yield_now(); // the others may still be closing
            }
            None => {
                if rng.chance(1, 4) {
                    // try_recv on one, as another way in.
                    let k = rng.below(3) as usize;
                    if let Ok(v) = chs[k].try_recv() {
                        got.add(v);
                    }
                }
                goro::yield_now();
            }
        }
    }
    got
}

fn select_act(cx: &Arc<Cx>, mut rng: Rng, p: SelectPlan) {
    const K: Kind = Kind::Select;
    let tag = rng.next();
    let (ta, ra) = chan::<u64>(p.caps[0]);
    let (tb, rb) = chan::<u64>(p.caps[1]);
    let (tc, rc) = chan::<u64>(p.caps[2]);
    let txs = Arc::new([ta, tb, tc]);
    let rxs = Arc::new([ra, rb, rc]);
    let mut want = Tally::default();
    for s in 0..p.producers {
        for i in 0..p.per {
            want.add(chan_val(tag, s, i));
        }
    }
    let mut consumers = Vec::new();
    for _ in 0..p.consumers {
        let (rxs, r, how) = (rxs.clone(), rng.fork(), p.recv);
        consumers.push(go(cx, K, move |_cx, _fin| select_consumer(&rxs, how, r)).1);
    }
    let mut producers = Vec::new();
    let mut thread = None;
    for s in 0..p.producers {
        let (txs, r, how, per) = (txs.clone(), rng.fork(), p.send, p.per);
        if s == 0 && p.peer {
            thread = Some(std::thread::spawn(move || {
                select_producer(&txs, tag, s, per, how, r, false)
            }));
        } else {
            producers.push(
                go(cx, K, move |_cx, _fin| {
                    select_producer(&txs, tag, s, per, how, r, true)
                })
                .1,
            );
        }
    }
    for h in producers {
        join(h, "select producer");
    }
    if let Some(t) = thread {
        join_thread(cx, t);
    }
    step(Kind::Main, &"select: close");
    let mut order = [0usize, 1, 2];
    rng.shuffle(&mut order);
    for k in order {
        txs[k].close();
    }
    let mut got = Tally::default();
    for h in consumers {
        got.merge(join(h, "select consumer"));
    }
    if got != want {
        fail(format_args!(
            "select {p:?}: received {got:?} != sent {want:?}"
        ));
    }
    // Select on closed channels: a recv is ready with None, a send with its value back.
    step(Kind::Main, &"select: on closed channels");
    let [a, b, c] = &*txs;
    let [ra, rb, _] = &*rxs;
    for _ in 0..rng.range(1, 4) {
        let x = rng.next();
        let ok_ = goro::select! {
            send(a, x) -> r => matches!(r, Err(SendError(y)) if y == x),
            send(b, x) -> r => matches!(r, Err(SendError(y)) if y == x),
            recv(ra) -> v => v.is_none(),
            recv(rb) -> v => v.is_none(),
        };
        if !ok_ {
            fail("select on closed channels: a value came through or a wrong value came back");
        }
        let ok2 = goro::select! {
            send(c, x) -> r => r.is_err(),
            default => false,
        };
        if !ok2 || c.try_send(x).is_ok() || !c.is_closed() || !rxs[2].is_empty() {
            fail("select/try_send on a closed channel: not ready with an error");
        }
    }
    cx.values.fetch_add(got.0, Relaxed);
}

#[derive(Clone, Copy, Debug)]
enum SyncPart {
    Mutex,
    RwLock,
    Condvar,
    Once,
    Semaphore,
}

#[derive(Clone, Debug)]
struct SyncPlan {
    part: SyncPart,
    workers: u64,
    iters: u64,
    /// Permits (semaphore), capacity (condvar queue).
    n: u64,
    peer: bool,
}

/// Something to do while holding a lock: nothing, a yield, a goro::sleep.
fn hold(rng: &mut Rng, k: Kind, in_goroutine: bool) {
    match rng.below(8) {
        0 | 1 if in_goroutine => {
            step(k, &"sync: yield while holding");
            goro::yield_now();
        }
        2 => {
            if in_goroutine {
                step(k, &"sync: sleep while holding");
            }
            goro::sleep(Duration::from_micros(rng.range(0, 50)));
        }
        _ => {}
    }
}

/// A goroutine or (with `peer`, worker 0) a plain thread.
fn sync_workers<F>(cx: &Arc<Cx>, rng: &mut Rng, p: &SyncPlan, f: F) -> Vec<JoinWorker>
where
    F: Fn(u64, Rng, bool) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let mut out = Vec::new();
    for w in 0..p.workers {
        let (f, r) = (f.clone(), rng.fork());
        if w == 0 && p.peer {
            out.push(JoinWorker::Thread(std::thread::spawn(move || {
                f(w, r, false)
            })));
        } else {
            out.push(JoinWorker::Go(
                go(cx, Kind::Sync, move |_cx, _fin| f(w, r, true)).1,
            ));
        }
    }
    out
}

enum JoinWorker {
    Go(JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

fn join_workers(cx: &Cx, ws: Vec<JoinWorker>) {
    for w in ws {
        match w {
            JoinWorker::Go(h) => join(h, "sync worker"),
            JoinWorker::Thread(t) => join_thread(cx, t),
        }
    }
}

fn sync_act(cx: &Arc<Cx>, mut rng: Rng, p: SyncPlan) {
    const K: Kind = Kind::Sync;
    let iters = p.iters;
    match p.part {
        SyncPart::Mutex => {
            // Two counters moved together under the lock: never seen apart.
            let m = Arc::new(goro::sync::Mutex::new((0u64, 0u64)));
            let m2 = m.clone();
            let ws = sync_workers(cx, &mut rng, &p, move |_, mut r, g| {
                for _ in 0..iters {
                    if g {
                        step(K, &"mutex: lock");
                    }
                    let mut guard = if r.chance(1, 8) {
                        match m2.try_lock() {
                            Some(g) => g,
                            None => m2.lock(),
                        }
                    } else {
                        m2.lock()
                    };
                    guard.0 += 1;
                    hold(&mut r, K, g);
                    if guard.0 != guard.1 + 1 {
                        fail("goro::sync::Mutex: two holders at once");
                    }
                    guard.1 += 1;
                }
            });
            join_workers(cx, ws);
            let v = *m.lock();
            if v != (p.workers * iters, p.workers * iters) {
                fail(format_args!(
                    "goro::sync::Mutex counters {v:?}, {} increments",
                    p.workers * iters
                ));
            }
        }
        SyncPart::RwLock => {
            // Writers keep b == 3a + 1 (with a pause in between); readers never see it broken,
            // nor a go backwards.
            let l = Arc::new(goro::sync::RwLock::new((0u64, 1u64)));
            let l2 = l.clone();
            let ws = sync_workers(cx, &mut rng, &p, move |w, mut r, g| {
                let mut last = 0;
                for _ in 0..iters {
                    if w % 2 == 1 || w == 0 && !g {
                        if g {
                            step(K, &"rwlock: read");
                        }
                        let guard = match r.chance(1, 8).then(|| l2.try_read()).flatten() {
                            Some(x) => x,
                            None => l2.read(),
                        };
                        if guard.1 != 3 * guard.0 + 1 || guard.0 < last {
                            fail(format_args!(
                                "goro::sync::RwLock: a reader saw {:?} (last a {last})",
                                *guard
                            ));
                        }
                        last = guard.0;
                        hold(&mut r, K, g);
                    } else {
                        if g {
                            step(K, &"rwlock: write");
                        }
                        let mut guard = l2.write();
                        guard.0 += 1;
                        hold(&mut r, K, g);
                        guard.1 = 3 * guard.0 + 1;
                    }
                }
            });
            join_workers(cx, ws);
            let readers_thread = p.peer;
            let writes = (0..p.workers)
                .filter(|&w| !(w % 2 == 1 || w == 0 && readers_thread))
                .count() as u64
                * iters;
            let v = *l.read();
            if v != (writes, 3 * writes + 1) {
                fail(format_args!(
                    "goro::sync::RwLock: {v:?} after {writes} writes"
                ));
            }
        }
        SyncPart::Condvar => {
            // A bounded queue: producers wait while full, consumers while empty.
            type Q = (std::collections::VecDeque<u64>, bool);
            let q = Arc::new((
                goro::sync::Mutex::new((std::collections::VecDeque::new(), false) as Q),
                goro::sync::Condvar::new(),
                goro::sync::Condvar::new(),
            ));
            let cap = p.n.max(1) as usize;
            let tag = rng.next();
            let producers = p.workers.div_ceil(2).max(1);
            let consumers = (p.workers / 2).max(1);
            let got = Arc::new(Mutex::new(Tally::default()));
            let mut want = Tally::default();
            let mut hs = Vec::new();
            for c in 0..consumers {
                let (q, got, mut r) = (q.clone(), got.clone(), rng.fork());
                let mut body = move |g: bool| {
                    let mut mine = Tally::default();
                    loop {
                        if g {
                            step(K, &"condvar: wait while empty");
                        }
                        let empty = |s: &mut Q| s.0.is_empty() && !s.1;
                        let mut guard = if r.chance(1, 2) {
                            q.1.wait_while(q.0.lock(), empty)
                        } else {
                            // Timed waits racing the producers' notifications (and each
                            // other's timeouts), waited again until the queue has something.
                            let mut guard = q.0.lock();
                            loop {
                                let d = Duration::from_micros(r.below(300));
                                let (g, res) = q.1.wait_timeout_while(guard, d, empty);
                                guard = g;
                                if !res.timed_out() {
                                    break guard;
                                }
                            }
                        };
                        match guard.0.pop_front() {
                            Some(v) => {
                                mine.add(v);
                                drop(guard);
                                if r.chance(1, 2) {
                                    q.2.notify_one();
                                } else {
                                    q.2.notify_all();
                                }
                            }
                            None => break, // closed and empty
                        }
                        hold(&mut r, K, g);
                    }
                    got.lock().unwrap().merge(mine);
                };
                hs.push(if c == 0 && p.peer {
                    JoinWorker::Thread(std::thread::spawn(move || body(false)))
                } else {
                    JoinWorker::Go(go(cx, K, move |_cx, _fin| body(true)).1)
                });
            }
            let mut prods = Vec::new();
            for s in 0..producers {
                for i in 0..iters {
                    want.add(chan_val(tag, s, i));
                }
                let (q, mut r) = (q.clone(), rng.fork());
                prods.push(
                    go(cx, K, move |_cx, _fin| {
                        for i in 0..iters {
                            step(K, &"condvar: wait while full");
                            let mut guard = q.2.wait_while(q.0.lock(), |s| s.0.len() >= cap);
                            if guard.1 {
                                fail("condvar queue closed under a producer");
                            }
                            guard.0.push_back(chan_val(tag, s, i));
                            drop(guard);
                            q.1.notify_one();
                            hold(&mut r, K, true);
                        }
                    })
                    .1,
                );
            }
            for h in prods {
                join(h, "condvar producer");
            }
            step(Kind::Main, &"condvar: close");
            q.0.lock().1 = true;
            q.1.notify_all();
            join_workers(cx, hs);
            let got = *got.lock().unwrap();
            if got != want || !q.0.lock().0.is_empty() {
                fail(format_args!(
                    "goro::sync::Condvar queue: received {got:?} != sent {want:?}"
                ));
            }
            cx.values.fetch_add(got.0, Relaxed);
        }
        SyncPart::Once => {
            // Everyone races to initialise; the functions run once, all see the one value.
            let st = Arc::new((
                goro::sync::Once::new(),
                goro::sync::OnceLock::<u64>::new(),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ));
            let st2 = st.clone();
            let ws = sync_workers(cx, &mut rng, &p, move |w, mut r, g| {
                if g {
                    step(K, &"once: race");
                    if r.chance(1, 2) {
                        goro::yield_now();
                    }
                }
                st2.0.call_once(|| {
                    hold(&mut r, K, g);
                    st2.2.fetch_add(1, SeqCst);
                });
                if st2.2.load(SeqCst) != 1 || !st2.0.is_completed() {
                    fail("goro::sync::Once: returned before its function ran, or ran it twice");
                }
                let v = *st2.1.get_or_init(|| {
                    hold(&mut r, K, g);
                    st2.3.fetch_add(1, SeqCst);
                    1000 + w
                });
                if st2.1.get() != Some(&v) || st2.1.set(7).is_ok() {
                    fail("goro::sync::OnceLock: the value changed after it was set");
                }
                if !(1000..1000 + 64).contains(&v) {
                    fail(format_args!("goro::sync::OnceLock gave {v}"));
                }
            });
            join_workers(cx, ws);
            if st.2.load(SeqCst) != 1 || st.3.load(SeqCst) != 1 {
                fail(format_args!(
                    "Once ran {} times, OnceLock's initialiser {} times",
                    st.2.load(SeqCst),
                    st.3.load(SeqCst)
                ));
            }
        }
        SyncPart::Semaphore => {
            // Never more than n holders at once.
            let n = p.n.max(1) as usize;
            let st = Arc::new((goro::sync::Semaphore::new(n), AtomicUsize::new(0)));
            let st2 = st.clone();
            let ws = sync_workers(cx, &mut rng, &p, move |_, mut r, g| {
                for _ in 0..iters {
                    if g {
                        step(K, &"semaphore: acquire");
                    }
                    let permit = match r.chance(1, 4).then(|| st2.0.try_acquire()).flatten() {
                        Some(x) => x,
                        None => st2.0.acquire(),
                    };
                    let holders = st2.1.fetch_add(1, SeqCst) + 1;
                    if holders > n {
                        fail(format_args!(
                            "goro::sync::Semaphore({n}): {holders} holders at once"
                        ));
                    }
                    hold(&mut r, K, g);
                    st2.1.fetch_sub(1, SeqCst);
                    drop(permit);
                }
            });
            join_workers(cx, ws);
            let avail = st.0.available_permits();
            if avail != n {
                fail(format_args!(
                    "goro::sync::Semaphore({n}): {avail} permits after every holder left"
                ));
            }
        }
    }
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
            let mut readers = vec![ReadMode::Wrapper, ReadMode::Wrapper, ReadMode::Poller];
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
            let reader = r.pick(&readers);
            // A reader blocked in std's read holds its P: every read that finds the pipe empty
            // waits for sysmon to preempt it by handoff before the writer gets the P back
            // (with one P). That costs ~0.15-0.25 ms here when sysmon sees the thread asleep,
            // and a whole 10 ms slice when its thread waits for a CPU (a loaded machine): 4096
            // one-byte writes made seed 0x57be349164cf7abc round 139 (P=1) a 0.5-0.8 s round
            // of ~2,000-2,900 preemptions on a quiet machine, where its peers take < 0.1 s.
            // Such a reader gets a sixteenth of the writes.
            let writes = if matches!(reader, ReadMode::StdBare) {
                256
            } else {
                4096
            };
            Act::Pipe(PipePlan {
                // At most 4096 chunks of up to `chunk_max`: a round stays well under a second.
                total: total.min(chunk_max * writes),
                chunk_max,
                reader,
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
    if f.has("timer") {
        add(2, rng, &mut |r| Act::Timer {
            goroutines: r.range(1, 6),
            ops: r.range(1, 20),
            fns: if r.chance(1, 2) { r.range(1, 20) } else { 0 },
        });
    }
    if f.has("select") {
        add(2, rng, &mut |r| {
            let mut cap = || r.pick(&[0, 0, 1, 4, 64]);
            let caps = [cap(), cap(), cap()];
            let waits = [SelWait::Block, SelWait::Default, SelWait::Timeout];
            let send = r.pick(&waits);
            let mut recv = r.pick(&waits);
            // Unbuffered, a send with `default` succeeds only into a parked receiver: one
            // side must park, or nothing ever moves (a livelock, in Go too).
            if caps == [0; 3] && matches!((send, recv), (SelWait::Default, SelWait::Default)) {
                recv = SelWait::Block;
            }
            Act::Select(SelectPlan {
                caps,
                producers: r.range(1, 5),
                consumers: r.range(1, 4),
                per: r.pick(&[0, 1, 10, 100, 300]),
                send,
                recv,
                peer: f.has("peer") && r.chance(1, 4),
            })
        });
    }
    if f.has("sync") {
        add(3, rng, &mut |r| {
            let part = r.pick(&[
                SyncPart::Mutex,
                SyncPart::RwLock,
                SyncPart::Condvar,
                SyncPart::Once,
                SyncPart::Semaphore,
            ]);
            Act::Sync(SyncPlan {
                part,
                workers: if matches!(part, SyncPart::Once) {
                    r.range(1, 40)
                } else {
                    r.range(1, 8)
                },
                iters: r.range(1, 200),
                n: r.range(1, 4),
                peer: f.has("peer") && r.chance(1, 4),
            })
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
    let descheduled0 = descheduled();
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
    let descheduled = descheduled() - descheduled0;
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
        " ok in {took:.2?} (drop {drop_took:.2?}): {n} goroutines, {} values, {} pipe bytes, {} Ms, retaken {}, handed off {}, preempted {}, {} loops of the abandoned, {descheduled} threads descheduled",
        cx.values.load(Relaxed),
        cx.bytes.load(Relaxed),
        stats.threads,
        stats.retaken,
        stats.handed_off,
        stats.preempted,
        spins.load(Relaxed),
    );
    let _ = std::io::stdout().flush();
}

/// How many times the kernel has taken a thread of this process off its CPU while it could
/// still run (involuntary context switches, ended threads included): what a round spent
/// waiting for CPUs, counted. A round whose goroutines keep every P busy (the early abandoned
/// loops) leaves each thread running without a P (`blocking`, a call handed off) to wait for
/// a CPU behind the Ps' threads: seed 0x7e496b25f7d1aecf round 604 (twelve loops, up to four
/// Ps on two CPUs, 6,893 calls in `blocking`) took 5.6-12 s, 25 s on a loaded machine, and
/// 0.2-0.5 s without its loops.
fn descheduled() -> u64 {
    // SAFETY: `getrusage` fills the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = core::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    ru.ru_nivcsw as u64
}

// ---------------------------------------------------------------------------------------------
// Threads, the watchdog.

/// The process's threads, less goro's two process-wide ones, which live as long as the
/// process by design: the template thread (started by the first `lock_os_thread`) and the
/// timer thread (started by the first timer made outside any runtime, e.g. a plain peer
/// thread's `goro::time::after`).
fn count_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| !matches!(c.trim(), "goro-template" | "goro-timers"))
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
    // Each abandoning round keeps four descriptors for good (the dropped runtime's two, and
    // the round's /dev/null and /dev/zero its goroutines hold): raise the soft limit as Go's
    // `os` does, so a long soak does not stop at a soft limit of 1024.
    let mut lim = goro::syscall::getrlimit(linux_raw_sys::general::RLIMIT_NOFILE).unwrap();
    lim.rlim_cur = lim.rlim_max;
    goro::syscall::setrlimit(linux_raw_sys::general::RLIMIT_NOFILE, &lim).unwrap();
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
