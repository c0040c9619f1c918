//! The execution tracer's recording side (Go's `trace.go`, `tracebuf.go`): while tracing is
//! on, each thread writes fixed-size binary events into a chunk of its own; `stop` collects
//! them, converts the timestamps to nanoseconds and `trace_json` writes them out.
//!
//! The cost, hot path first:
//! - Off: each hook is one load of [`ON`] and a predictable branch; the rest is out of line.
//! - On: [`record`] reads the clock (the CPU's time-stamp counter where it is invariant and
//!   the kernel keeps it as its clock source, else the vDSO clock: [`ON`] says which), finds
//!   the thread's current chunk through a thread-local without a destructor (one `%fs` load),
//!   checks it belongs to this M and is open with room (one compare against its `limit`, which
//!   `stop` closes), writes 24 bytes and publishes the new length with a release store (a
//!   plain `mov` on x86). No lock, no allocation, no system call, no read-modify-write.
//! - An M reaches its chunk through its own [`MTrace`] instead (no thread-local, no owner
//!   check); a goroutine it starts straight after another left takes that leave's clock
//!   reading ([`go_start`]); a system call back on the fast path is one [`FAST_SYSCALL`]
//!   event, timed at entry and written at exit ([`syscall_exit_fast`]); readying a goroutine
//!   reads no clock ([`unblock`]): `stop` stamps that event with the M's next reading, no
//!   later than the start it led to. An M's unblock and a park's leave (its clock reading)
//!   wait in the M ([`MTrace::pending`]), and the straight start that follows writes the three
//!   as one record ([`SWITCH`]), so a channel round trip is two records; what waits is written
//!   before any other event of the M and before it gives up its P ([`settle`]), and dropped if
//!   the trace stopped meanwhile (a `stop` closes the chunk: the M sees it). The scheduler's
//!   hooks, [`unblock`], [`left_park`] (taking the clock from the caller's load of [`ON`])
//!   and [`go_start`], are written inline where they are called, in the branch tracing takes
//!   (no call); their rare cases (something else waiting, the vDSO clock, a start of its own,
//!   a full or closed chunk) are calls out of line. The M in each of the three holds a P: its
//!   id is read unchecked.
//! - Once a chunk (256 KiB, 10922 events): [`slow`] takes the thread's lock and moves to a
//!   fresh chunk. Chunks are mapped with `MAP_POPULATE`, and [`start`] prepares a pool of them,
//!   so no event takes a page fault; a trace's first 16 MiB come from that pool.
//!
//! Ownership: a thread's chunks belong to a `Thread` record held by the thread (through a
//! thread-local) and by the registry. Only the owner writes events, into the last chunk of
//! its list; it moves to another chunk only under the `Thread`'s lock. `stop` reads, under the
//! same lock, each chunk's events up to the length it published, then unmaps every chunk but
//! the last (which the owner may still be writing into: a hook that saw [`ON`] just before it
//! went off), and closes that one: the owner's next event goes through [`slow`]. A chunk's
//! length word carries the trace's generation: there the owner starts a chunk over only when
//! it sees a newer generation, which only [`start`] makes, after `stop` has finished reading.
//! Buffers belong to threads, not Ms: Ms, sysmon and plain threads (which ready goroutines
//! too) all record; [`record`] never switches goroutines, so no thread-local address is held
//! across a switch.

use core::cell::{Cell, OnceCell, UnsafeCell};
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use linux_raw_sys::general::{
    MADV_DONTNEED, MAP_ANONYMOUS, MAP_POPULATE, MAP_PRIVATE, PROT_READ, PROT_WRITE,
};

use super::enterflags::TRACING;
use super::g::G;
use super::m::{M, current_m};
use super::sched::Sched;
use super::sys;
use super::sysmon::nanotime;

/// Tracing is off ([`OFF`]) or on, and then with which clock ([`ON_TSC`] or [`ON_NS`], the
/// same in every trace of a process): a hook learns both from this one byte.
pub(crate) static ON: AtomicU8 = AtomicU8::new(OFF);

/// [`ON`]: tracing is off.
pub(crate) const OFF: u8 = 0;
/// [`ON`]: on, events timed by the vDSO clock.
const ON_NS: u8 = 1;
/// [`ON`]: on, events timed by the time-stamp counter.
const ON_TSC: u8 = 2;

/// Whether to record: the one branch a hook adds.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed) != OFF
}

/// [`ON`] itself, for a hook that takes the clock from the caller's one load (`left_park`):
/// compared with [`OFF`], the same branch as [`on`].
#[inline(always)]
pub(crate) fn mode() -> u8 {
    ON.load(Ordering::Relaxed)
}

/// [`on`] for the recording itself: Acquire, paired with `start`'s Release, so what `start`
/// did before (the generation, the pool) is seen (a plain load on x86, like `on`).
#[inline(always)]
fn on_acquire() -> bool {
    ON.load(Ordering::Acquire) != OFF
}

/// The clock reading for an event, `None` if tracing is off: one load of [`ON`] (Acquire,
/// as in [`on_acquire`]) says both whether to record and which clock, so the hot hooks read
/// no other flag.
#[inline(always)]
fn now() -> Option<u64> {
    match ON.load(Ordering::Acquire) {
        OFF => None,
        on => Some(clock(on)),
    }
}

/// A reading of the clock that `on`, a value of [`ON`] other than [`OFF`], names.
#[inline(always)]
fn clock(on: u8) -> u64 {
    if on == ON_TSC { tsc() } else { nanotime_cold() }
}

/// The time-stamp counter.
#[inline(always)]
fn tsc() -> u64 {
    // SAFETY: every x86_64 CPU has RDTSC; it reads a counter and nothing else.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// [`nanotime`] out of line, so that the hooks' hot paths need no frame for the call.
#[cold]
#[inline(never)]
fn nanotime_cold() -> u64 {
    nanotime()
}

/// The trace under way (or last made): [`start`] counts it up, under the registry's lock.
static GEN: AtomicU32 = AtomicU32::new(0);

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// `g`: the new goroutine (`Rec::arg` once collected).
    GoCreate,
    /// `arg`: the goroutine's how manyth start this is (`G::trace_starts`).
    GoStart,
    /// The goroutine left its M; `arg` a [`Stop`].
    GoStop,
    /// Parked; `arg` its `WaitReason` as a number.
    GoBlock,
    GoEnd,
    /// `g` was made runnable by this thread; `arg` the number of the start it leads to (see
    /// `G::trace_starts`).
    GoUnblock,
    /// `arg`: the system-call number.
    SyscallEnter,
    /// `arg`: an [`Exit`].
    SyscallExit,
    /// sysmon retook P `arg` from a system call.
    Retake,
    /// P `arg` handed off at once (`blocking`).
    Handoff,
    /// sysmon signalled the M on P `arg` to preempt it by handoff.
    Preempt,
    /// This M's P stole `arg` goroutines.
    Steal,
    StwStart,
    StwEnd,
    ThreadStart,
    ThreadStop,
}

impl Kind {
    const ALL: [Kind; 16] = [
        Kind::GoCreate,
        Kind::GoStart,
        Kind::GoStop,
        Kind::GoBlock,
        Kind::GoEnd,
        Kind::GoUnblock,
        Kind::SyscallEnter,
        Kind::SyscallExit,
        Kind::Retake,
        Kind::Handoff,
        Kind::Preempt,
        Kind::Steal,
        Kind::StwStart,
        Kind::StwEnd,
        Kind::ThreadStart,
        Kind::ThreadStop,
    ];
}

/// Why a goroutine left its M without blocking.
#[derive(Clone, Copy)]
pub(crate) enum Stop {
    Yield = 0,
    /// Its system call came back to no P (`exitsyscall0`).
    NoP = 1,
}

/// A system call's way back.
#[derive(Clone, Copy)]
pub(crate) enum Exit {
    Fast = 0,
    IdleP = 1,
    Slow = 2,
    /// No P: the goroutine runs on without one (`runs_on_without_p`).
    NoP = 3,
}

/// One event as `stop` hands it to the writer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    /// Nanoseconds (the monotonic clock's).
    pub(crate) ts: u64,
    /// The runtime (its address), 0 for a thread of none.
    pub(crate) rt: usize,
    pub(crate) g: u64,
    pub(crate) arg: u64,
    /// The recording M's id, 0 if the thread is not an M.
    pub(crate) m: u32,
    /// The kernel thread id.
    pub(crate) tid: i32,
    /// The id of the P the M holds, [`NO_P`] if none.
    pub(crate) p: u32,
    pub(crate) kind: Kind,
}

/// `Rec::p` of an M without a P.
pub(crate) const NO_P: u32 = u32::MAX;

/// `SyscallEnter`'s number for a [`blocking`](crate::blocking) region.
pub(crate) const BLOCKING: u64 = u64::MAX;

/// One event as a thread writes it (24 bytes); the thread's identity is its chunk's.
#[derive(Clone, Copy)]
#[repr(C)]
struct Raw {
    /// Clock ticks (see [`ticks`]).
    ts: u64,
    /// The goroutine; for `GoCreate`, the new one.
    g: u64,
    /// `Rec::arg` but for `GoCreate`; `u32::MAX` for [`BLOCKING`].
    arg: u32,
    /// `p << 8 | kind`, `p` all ones for [`NO_P`]; `kind` may be [`FAST_SYSCALL`].
    p_kind: u32,
}

/// The kind of a system call that came back on the fast path, recorded as one event at its
/// exit (not as two, enter and exit): `arg` holds the number in its low [`NR_BITS`] bits and
/// the ticks the call took above them. `collect` expands it into its `SyscallEnter` and
/// `SyscallExit`. A call whose number or duration does not fit is recorded as the two.
const FAST_SYSCALL: u32 = Kind::ALL.len() as u32;

/// The kind of a `GoUnblock` recorded without a clock reading (its `ts` is not one), by
/// [`unblock`]; `stop` stamps it (see [`bound_unblocks`]).
const LAZY_UNBLOCK: u32 = FAST_SYSCALL + 1;

/// A kind byte with this bit is a leave (the goroutine that ran last on the thread parked,
/// yielded or ended: the low bits [`SW_WHY`] say which, and a park's `WaitReason`) with what
/// the M did around it folded in, at one clock reading: `g` and `arg` name a goroutine and
/// the number of its start (see `G::trace_starts`), which [`SW_UNBLOCK`] says this M readied
/// before the leave, and [`SW_START`] says started at the leave's time. At least one of the
/// two is set (a bare leave is a record of its own kind). `collect` expands it into those
/// events; the leave's goroutine is the one the thread started last. Kinds and tags stay
/// below it.
const SWITCH: u32 = 0x80;
/// [`SWITCH`]: the M readied `g` before the leave (a `GoUnblock`, stamped as a
/// [`LAZY_UNBLOCK`] is).
const SW_UNBLOCK: u32 = 0x40;
/// [`SWITCH`]: `g` started at the leave's time.
const SW_START: u32 = 0x20;
/// [`SWITCH`]: the bits that say how the goroutine left: a park's `WaitReason`, or
/// [`SW_YIELD`], [`SW_END`].
const SW_WHY: u32 = 0x1f;
/// [`SW_WHY`] of a leave that was a yield (`GoStop`, [`Stop::Yield`]), not a park.
const SW_YIELD: u32 = 0x1e;
/// [`SW_WHY`] of a leave that was the goroutine's end (`GoEnd`).
const SW_END: u32 = 0x1f;
const _: () = assert!(super::g::WaitReason::COUNT as u32 <= SW_YIELD);

/// The leave a [`SW_WHY`] code stands for: its kind and `arg`.
fn leave_of(why: u32) -> (Kind, u64) {
    match why {
        SW_YIELD => (Kind::GoStop, Stop::Yield as u64),
        SW_END => (Kind::GoEnd, 0),
        why => (Kind::GoBlock, u64::from(why)),
    }
}

/// `Rec::ts` of a `LAZY_UNBLOCK` until `stop` stamps it.
const UNSTAMPED: u64 = u64::MAX;

/// The bits of a [`FAST_SYSCALL`]'s `arg` that hold its number (x86_64's are under 512);
/// the 22 above hold durations up to 2^22 ticks (about 1 ms at 4 GHz).
const NR_BITS: u32 = 10;

/// Bytes in a chunk.
const CHUNK_BYTES: usize = 256 << 10;

/// Events in a chunk.
const CHUNK_EVENTS: usize = CHUNK_BYTES / core::mem::size_of::<Raw>();

/// Chunks a thread may fill in one trace: 2^20 events (24 MiB), so a long trace cannot take
/// all the memory; later events are dropped and counted.
const MAX_CHUNKS: usize = (1 << 20) / CHUNK_EVENTS + 1;

/// Chunks [`start`] maps and populates ahead (16 MiB), shared by every thread.
const POOL_CHUNKS: usize = 64;

/// Events dropped since tracing started.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);

/// A run of one thread's events, all recorded by the same M (or, on a thread that is not an
/// M, for the same runtime). Aligned to its own cache lines (two, for the adjacent-line
/// prefetcher): its owner stores `state` at every event, and two threads' chunk headers
/// sharing a line would bounce it between their CPUs at every event.
#[repr(align(128))]
struct Chunk {
    /// `generation << 32 | events written`: the owner stores it (Release) after each event
    /// it writes; `stop` loads it (Acquire) and reads that many.
    state: AtomicU64,
    /// How many events the owner may write: [`CHUNK_EVENTS`] from `reset`, 0 once `stop`
    /// has read the chunk, so that the owner's next event goes through [`slow`] (which
    /// starts the next trace in another chunk) without the event path comparing
    /// generations. Only ever one of those two values.
    limit: AtomicU32,
    /// Who records into it: the M's address, else the runtime's (0 for none). The owner sets
    /// the header under its `Thread`'s lock; the owner alone reads it without.
    key: AtomicUsize,
    /// The runtime's address (or 0) and the M's id (or 0), for `Rec`.
    rt: AtomicUsize,
    m: AtomicU32,
    /// `CHUNK_BYTES` mapped and populated for this chunk alone.
    events: *mut UnsafeCell<MaybeUninit<Raw>>,
}

// SAFETY: `events` is written only by the owning thread, at indices at or past the length it
// has published, and read by `stop` only below the length it loaded with Acquire (which the
// owner's Release store of that length made visible); the owner rewrites lower indices only
// in a newer generation, which `start` makes after `stop` is done. The rest is atomics.
unsafe impl Send for Chunk {}
// SAFETY: as for `Send`.
unsafe impl Sync for Chunk {}

impl Chunk {
    /// A chunk of fresh, populated memory; `None` if the kernel has none.
    fn map() -> Option<Box<Chunk>> {
        // SAFETY: a fresh anonymous mapping, ours alone until `Drop` unmaps it.
        let events = unsafe {
            sys::mmap(
                CHUNK_BYTES,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
            )
        }
        .ok()?;
        Some(Box::new(Chunk {
            state: AtomicU64::new(0),
            limit: AtomicU32::new(0),
            key: AtomicUsize::new(0),
            rt: AtomicUsize::new(0),
            m: AtomicU32::new(0),
            events: events.cast(),
        }))
    }

    /// Starts the chunk over for `key` in generation `generation` (by its owner, under its
    /// `Thread`'s lock).
    fn reset(&self, generation: u32, who: Who) {
        self.key.store(who.key, Ordering::Relaxed);
        self.rt.store(who.rt, Ordering::Relaxed);
        self.m.store(who.m, Ordering::Relaxed);
        self.limit.store(CHUNK_EVENTS as u32, Ordering::Relaxed);
        self.state
            .store(u64::from(generation) << 32, Ordering::Release);
    }

    /// Closes the chunk to its owner (by `stop`, under the owner's lock, once it has read
    /// it): see `limit`. The owner may be writing an event just now, past what `stop` read;
    /// nobody reads that one.
    fn close(&self) {
        self.limit.store(0, Ordering::Relaxed);
    }

    /// Writes `ev` if the chunk has room and is open (by its owner); returns the chunk's
    /// `state` after it, `None` if it did not write. An open chunk is the trace's under way:
    /// `stop` closes every chunk a thread keeps, and `start`, which alone makes a new
    /// generation, runs after.
    #[inline(always)]
    fn push(&self, ev: Raw) -> Option<u64> {
        let state = self.state.load(Ordering::Relaxed);
        let n = state as u32;
        if n >= self.limit.load(Ordering::Relaxed) {
            return None;
        }
        let n = n as usize;
        debug_assert!(n < CHUNK_EVENTS);
        // SAFETY: `n` is below `limit`, which is at most `CHUNK_EVENTS`: in bounds, and past
        // what was published: only this thread touches it.
        let slot = unsafe { (*self.events.add(n)).get().cast::<Raw>() };
        // No software prefetch of the lines ahead: the chunk is written in order, which the
        // CPU's own prefetchers follow, and on the AMD host a `prefetcht0` 24 events ahead
        // cost the one-P pingpong 8-18 ns a traced round trip (examples/trace_pingpong, four
        // sessions of alternating runs), more than the stores it was to spare a wait.
        // Field by field, straight from registers (a `Raw` built on the stack and copied
        // whole stalls on store forwarding).
        // SAFETY: as above.
        unsafe {
            (&raw mut (*slot).ts).write(ev.ts);
            (&raw mut (*slot).g).write(ev.g);
            (&raw mut (*slot).arg).write(ev.arg);
            (&raw mut (*slot).p_kind).write(ev.p_kind);
        }
        // Release: pairs with `collect`'s Acquire.
        self.state.store(state + 1, Ordering::Release);
        Some(state + 1)
    }

    /// Appends this generation's events to `out` (by `stop`, under the owner's lock).
    /// `running` carries, from one chunk of the thread to the next, the goroutine the thread
    /// started last (0 if none is known), which a [`SWITCH`]'s leave is of.
    fn collect(
        &self,
        generation: u32,
        tid: i32,
        clock: &Clock,
        running: &mut u64,
        out: &mut Vec<Rec>,
    ) {
        let state = self.state.load(Ordering::Acquire);
        if state >> 32 != u64::from(generation) {
            return;
        }
        let (rt, m) = (
            self.rt.load(Ordering::Relaxed),
            self.m.load(Ordering::Relaxed),
        );
        for i in 0..state as u32 as usize {
            let slot = self.events.wrapping_add(i).cast::<Raw>();
            // SAFETY: below the published length (see `Sync`): written, and left alone now.
            let ev = unsafe { slot.read() };
            let p = ev.p_kind >> 8;
            let rec = |ts: u64, kind: Kind, g: u64, arg: u64| Rec {
                ts: clock.ns(ts),
                rt,
                g,
                arg,
                m,
                tid,
                p: if p == NO_P >> 8 { NO_P } else { p },
                kind,
            };
            let tag = ev.p_kind & 0xff;
            if tag == FAST_SYSCALL {
                let (nr, took) = (ev.arg & ((1 << NR_BITS) - 1), ev.arg >> NR_BITS);
                let entered = ev.ts.wrapping_sub(u64::from(took));
                out.push(rec(entered, Kind::SyscallEnter, ev.g, u64::from(nr)));
                out.push(rec(ev.ts, Kind::SyscallExit, ev.g, Exit::Fast as u64));
                continue;
            }
            if tag == LAZY_UNBLOCK {
                let r = rec(0, Kind::GoUnblock, ev.g, u64::from(ev.arg));
                out.push(Rec { ts: UNSTAMPED, ..r });
                continue;
            }
            if tag & SWITCH != 0 {
                let (g, start) = (ev.g, u64::from(ev.arg));
                if tag & SW_UNBLOCK != 0 {
                    let r = rec(0, Kind::GoUnblock, g, start);
                    out.push(Rec { ts: UNSTAMPED, ..r });
                }
                let (kind, arg) = leave_of(tag & SW_WHY);
                out.push(rec(ev.ts, kind, core::mem::take(running), arg));
                if tag & SW_START != 0 {
                    out.push(rec(ev.ts, Kind::GoStart, g, start));
                    *running = g;
                }
                continue;
            }
            let kind = Kind::ALL[tag as usize];
            let (g, arg) = match kind {
                Kind::GoCreate => (0, ev.g),
                _ if ev.arg == u32::MAX => (ev.g, BLOCKING),
                _ => (ev.g, u64::from(ev.arg)),
            };
            let g = match kind {
                Kind::GoStart => {
                    *running = g;
                    g
                }
                // A bare leave set aside in the M was written without its goroutine.
                Kind::GoStop | Kind::GoBlock | Kind::GoEnd => match core::mem::take(running) {
                    r if g == 0 => r,
                    _ => g,
                },
                _ => g,
            };
            out.push(rec(ev.ts, kind, g, arg));
        }
    }
}

impl Chunk {
    /// Gives the chunk's memory back to the kernel, keeping the mapping (by `stop`).
    fn discard(&self) {
        // SAFETY: our own mapping; what the owner may still write into it is never read (a
        // later trace starts with another chunk), and it stays mapped.
        let _ = unsafe { sys::madvise(self.events.cast::<c_void>(), CHUNK_BYTES, MADV_DONTNEED) };
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nobody writes into a chunk being dropped (see the module).
        let _ = unsafe { sys::munmap(self.events.cast::<c_void>(), CHUNK_BYTES) };
    }
}

/// A thread's chunks: the last is the one it writes into.
struct Thread {
    tid: i32,
    #[expect(clippy::vec_box, reason = "`CUR` points at a chunk: it must not move")]
    chunks: Mutex<Vec<Box<Chunk>>>,
}

/// Every thread that has recorded (one that has ended stays until a `stop` has read it).
static THREADS: Mutex<Vec<Arc<Thread>>> = Mutex::new(Vec::new());

/// Chunks mapped ahead by [`start`], taken by threads that need one.
#[expect(
    clippy::vec_box,
    reason = "chunks move to `Thread::chunks`, which boxes them"
)]
static POOL: Mutex<Vec<Box<Chunk>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The owner's handle on its `Thread`; when the thread ends, it stops recording.
struct Mine(OnceCell<Arc<Thread>>);

impl Drop for Mine {
    fn drop(&mut self) {
        CUR.with(|c| c.set(core::ptr::null()));
    }
}

thread_local! {
    /// The chunk this thread writes into (null before its first event and after it ends):
    /// no destructor, so reaching it costs one `%fs`-relative load.
    static CUR: Cell<*const Chunk> = const { Cell::new(core::ptr::null()) };
    /// This thread's chunks, made at its first event.
    static MINE: Mine = const { Mine(OnceCell::new()) };
}

/// Who records: see `Chunk::key`.
#[derive(Clone, Copy)]
struct Who {
    key: usize,
    rt: usize,
    m: u32,
}

/// The trace clock: the time-stamp counter or nanoseconds; `Clock` turns it into nanoseconds.
static TSC: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn ticks() -> u64 {
    if TSC.load(Ordering::Relaxed) {
        tsc()
    } else {
        nanotime()
    }
}

/// Whether the time-stamp counter can time events across CPUs: it ticks at a constant rate
/// through sleep states (`constant_tsc`, `nonstop_tsc`), and the kernel, which checks it is
/// synchronized across CPUs, still keeps time with it.
fn tsc_usable() -> bool {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = flags
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let source =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    has("constant_tsc") && has("nonstop_tsc") && source.trim() == "tsc"
}

/// Ticks and nanoseconds read together, at `start` and at `stop`.
#[derive(Clone, Copy, Default)]
struct Clock {
    ticks: u64,
    ns: u64,
    /// Nanoseconds per tick, from `start` to `stop`.
    scale: f64,
}

impl Clock {
    /// Reads both clocks (ticks halfway through the nanosecond read).
    fn now() -> Clock {
        let a = ticks();
        let ns = nanotime();
        let b = ticks();
        Clock {
            ticks: a + (b - a) / 2,
            ns,
            scale: 1.0,
        }
    }

    /// The time-stamp counter's rate over `self` to `end`.
    fn calibrated(self, end: Clock) -> Clock {
        let (dt, dns) = (end.ticks.wrapping_sub(self.ticks), end.ns - self.ns);
        Clock {
            scale: if dt == 0 { 1.0 } else { dns as f64 / dt as f64 },
            ..self
        }
    }

    /// Nanoseconds at `ticks` (the offset from `start` in floating point, where it is small).
    fn ns(&self, ticks: u64) -> u64 {
        let d = ticks.wrapping_sub(self.ticks) as i64 as f64 * self.scale;
        self.ns.saturating_add_signed(d as i64)
    }
}

/// The clock read at the latest `start`.
static START: Mutex<Clock> = Mutex::new(Clock {
    ticks: 0,
    ns: 0,
    scale: 1.0,
});

/// The chunk of an M that has none: closed, so that its first event goes through [`slow_m`],
/// and its `state` never one a chunk had after an event (`MTrace::left`).
static NO_CHUNK: Chunk = Chunk {
    state: AtomicU64::new(u64::MAX),
    limit: AtomicU32::new(0),
    key: AtomicUsize::new(0),
    rt: AtomicUsize::new(0),
    m: AtomicU32::new(0),
    events: core::ptr::null_mut(),
};

/// An M's recording state, touched by its own thread alone: with it, an M's event reaches its
/// chunk without the thread-local and the owner check that [`record`] goes through.
pub(crate) struct MTrace {
    /// The chunk the M's thread writes into (its `Thread`'s last, which `stop` keeps mapped),
    /// [`NO_CHUNK`] before the M's first event: never null, so the event path tests nothing
    /// but the chunk's room.
    chunk: Cell<*const Chunk>,
    /// When the M's current system call was entered, if its entry is to be recorded, else
    /// [`NO_ENTRY`] (see [`syscall_entry`]).
    entered: Cell<u64>,
    /// What waits in the M to be written with the M's next event ([`PEND_UNBLOCK`],
    /// [`PEND_LEAVE`]), 0 if nothing: set only while the chunk is open (so a `stop` since
    /// shows as a closed chunk, and what waits is dropped), written or dropped before any
    /// other event of the M and before it gives up its P ([`settle`]).
    pending: Cell<u8>,
    /// [`PEND_UNBLOCK`]: the goroutine the M readied and the number of the start that leads
    /// to (`GoUnblock`'s `g` and `arg`).
    unblocked: Cell<(u64, u32)>,
    /// [`PEND_LEAVE`]: when the goroutine that ran last left, and how (its [`SW_WHY`]).
    left: Cell<(u64, u32)>,
}

/// `MTrace::pending`: an unblock waits. The bit of [`SWITCH`] that says so, and
/// [`PEND_LEAVE`] [`SWITCH`] itself, so `pending` is a switch's kind but for the start and
/// the reason.
const PEND_UNBLOCK: u8 = SW_UNBLOCK as u8;
/// `MTrace::pending`: a leave waits (after any unblock that waits with it).
const PEND_LEAVE: u8 = SWITCH as u8;

impl MTrace {
    pub(crate) const fn new() -> MTrace {
        MTrace {
            chunk: Cell::new(&NO_CHUNK),
            entered: Cell::new(NO_ENTRY),
            pending: Cell::new(0),
            unblocked: Cell::new((0, 0)),
            left: Cell::new((0, 0)),
        }
    }
}

/// Records an event on the calling thread: about `g`, with `arg`, for `rt` if the thread is
/// not one of a runtime's Ms (an M records for its own runtime). Never switches goroutines.
#[inline(never)]
pub(crate) fn record(rt: Option<&Sched>, kind: Kind, g: u64, arg: u64) {
    // SAFETY: a non-null current M lives with its runtime.
    match unsafe { current_m().as_ref() } {
        Some(m) => record_m(m, kind, g, arg),
        None if on_acquire() => {
            let ts = ticks();
            let key = rt.map_or(0, |s| s as *const Sched as usize);
            let who = Who { key, rt: key, m: 0 };
            put(who, Raw::new(ts, kind, g, arg, NO_P));
        }
        None => {}
    }
}

/// [`record`] on the thread of `m`, which the caller has at hand (the hot paths: system
/// calls, the scheduler).
#[inline(never)]
pub(crate) fn record_m(m: &M, kind: Kind, g: u64, arg: u64) {
    if let Some(ts) = now() {
        put_m(m, Raw::new(ts, kind, g, arg, p_id(m)));
    }
}

/// The id of the P `m` holds, or [`NO_P`].
#[inline(always)]
fn p_id(m: &M) -> u32 {
    // SAFETY: Ps live with their runtime.
    unsafe { m.p().as_ref() }.map_or(NO_P, |p| p.id as u32)
}

/// The id of the P `m` holds, which it must (the scheduler's hooks: a goroutine starts, and
/// parks, on an M with a P, and `goready` runs on one): no test for none.
#[inline(always)]
fn held_p_id(m: &M) -> u32 {
    let p = m.p();
    debug_assert!(!p.is_null(), "the M holds a P");
    // SAFETY: the caller's M holds a P, and Ps live with their runtime.
    unsafe { (*p).id as u32 }
}

/// `MTrace::entered` of a call whose entry is not recorded.
const NO_ENTRY: u64 = 0;

/// Times the entry of `m`'s system call, which [`syscall_exit`] records if `record`.
#[inline(always)]
pub(crate) fn syscall_entry(m: &M, record: bool) {
    m.trace.entered.set(if record {
        // `ticks`, not `ON`'s clock: this is inlined into the public system-call wrappers,
        // and a static they read is reached through the GOT everywhere, the hot hooks too.
        ticks().max(NO_ENTRY + 1)
    } else {
        NO_ENTRY
    });
}

/// [`syscall_exit`] for a call back on the fast path (`m` holds the P again): the common
/// case, one [`FAST_SYSCALL`] record with the clock on the time-stamp counter and nothing
/// waiting in `m`, with no call and so no stack frame; anything else goes the long way.
#[inline(never)]
pub(crate) fn syscall_exit_fast(m: &M, g: u64, oldp: *const super::p::P) {
    let entered = m.trace.entered.get();
    if ON.load(Ordering::Acquire) == ON_TSC && entered != NO_ENTRY && m.trace.pending.get() == 0 {
        let ts = tsc();
        let nr = m.syscall_nr.load(Ordering::Relaxed);
        let took = ts.wrapping_sub(entered);
        if nr < 1 << NR_BITS && took < 1 << (32 - NR_BITS) {
            let ev = Raw {
                ts,
                g,
                arg: nr | (took as u32) << NR_BITS,
                p_kind: held_p_id(m) << 8 | FAST_SYSCALL,
            };
            if try_put_m(m, ev).is_some() {
                m.trace.entered.set(NO_ENTRY);
                return;
            }
        }
    }
    syscall_exit(m, g, oldp, Exit::Fast);
}

/// Records how the system call `m`'s goroutine `g` made came back, and its entry if
/// [`syscall_entry`] timed it: one [`FAST_SYSCALL`] event for a call back on the fast path,
/// else the two. `oldp` is the P the call was entered with, or null.
#[inline(never)]
pub(crate) fn syscall_exit(m: &M, g: u64, oldp: *const super::p::P, how: Exit) {
    let entered = m.trace.entered.replace(NO_ENTRY);
    let Some(ts) = now() else {
        return;
    };
    let p = p_id(m);
    if entered != NO_ENTRY {
        let nr = m.syscall_nr.load(Ordering::Relaxed);
        let took = ts.wrapping_sub(entered);
        if matches!(how, Exit::Fast) && nr < 1 << NR_BITS && took < 1 << (32 - NR_BITS) {
            let arg = nr | (took as u32) << NR_BITS;
            put_m(
                m,
                Raw {
                    ts,
                    g,
                    arg,
                    p_kind: p << 8 | FAST_SYSCALL,
                },
            );
            return;
        }
        // SAFETY: Ps live with their runtime.
        let oldp = unsafe { oldp.as_ref() }.map_or(NO_P, |p| p.id as u32);
        put_m(
            m,
            Raw::new(entered, Kind::SyscallEnter, g, u64::from(nr), oldp),
        );
    }
    put_m(m, Raw::new(ts, Kind::SyscallExit, g, how as u64, p));
}

impl Raw {
    #[inline(always)]
    fn new(ts: u64, kind: Kind, g: u64, arg: u64, p: u32) -> Raw {
        Raw {
            ts,
            g,
            arg: arg as u32,
            p_kind: p << 8 | kind as u32,
        }
    }
}

/// Writes `ev` into the chunk of `m`'s thread, or through [`slow`], after what waits in the
/// M ([`settle`]).
#[inline(always)]
fn put_m(m: &M, ev: Raw) {
    settle(m);
    put_m_now(m, ev);
}

/// [`put_m`] with nothing waiting in the M.
#[inline(always)]
fn put_m_now(m: &M, ev: Raw) {
    if try_put_m(m, ev).is_none() {
        slow_m(m, ev.ts, ev.g, ev.arg, ev.p_kind);
    }
}

/// Writes `ev` into the chunk of `m`'s thread if it will do; returns the chunk's `state` after
/// it, `None` if the caller must go through [`slow_m`].
#[inline(always)]
fn try_put_m(m: &M, ev: Raw) -> Option<u64> {
    // SAFETY: an M's chunk is its thread's last, or `NO_CHUNK` (see `MTrace::chunk`).
    unsafe { &*m.trace.chunk.get() }.push(ev)
}

/// [`slow`] for an M, which then writes into the thread's new chunk. The event comes in
/// registers (a `Raw` would be passed through memory, built on the hot path's stack).
#[cold]
#[inline(never)]
fn slow_m(m: &M, ts: u64, g: u64, arg: u32, p_kind: u32) {
    let ev = Raw { ts, g, arg, p_kind };
    let who = Who {
        key: m as *const M as usize,
        rt: m.sched as usize,
        m: m.id as u32,
    };
    slow(who, ev);
    let cur = CUR.with(Cell::get);
    m.trace
        .chunk
        .set(if cur.is_null() { &NO_CHUNK } else { cur });
    debug_assert_eq!(m.trace.pending.get(), 0, "what waits is settled first");
}

/// Writes `ev` into the thread's current chunk, or through [`slow`].
#[inline(always)]
fn put(who: Who, ev: Raw) {
    // SAFETY: a non-null `CUR` is a chunk of this thread's `Thread`, which this thread keeps
    // alive, and `stop` never unmaps the last chunk of a thread.
    let done = unsafe { CUR.get().as_ref() }
        .is_some_and(|c| c.key.load(Ordering::Relaxed) == who.key && c.push(ev).is_some());
    if !done {
        slow(who, ev);
    }
}

/// Records `ev` when the current chunk will not do: none yet, an older trace's, another M's
/// (the thread became or stopped being an M), or full.
#[cold]
#[inline(never)]
fn slow(who: Who, ev: Raw) {
    let _ = MINE.try_with(|mine| {
        let t = mine.0.get_or_init(|| {
            let t = Arc::new(Thread {
                tid: sys::gettid(),
                chunks: Mutex::new(Vec::new()),
            });
            lock(&THREADS).push(t.clone());
            t
        });
        let mut chunks = lock(&t.chunks);
        // Read under the lock: `stop` reads this thread's chunks under it, and `start`, the
        // only one to count the generation up, runs after.
        if !on_acquire() {
            return;
        }
        let generation = GEN.load(Ordering::Relaxed);
        let last = chunks.last().map(|c| c.state.load(Ordering::Relaxed));
        let older = last.is_some_and(|state| (state >> 32) as u32 != generation);
        if older {
            // A new trace: the older one's chunk (kept by `stop`, emptied) goes.
            CUR.with(|cur| cur.set(core::ptr::null()));
            chunks.clear();
        }
        // A chunk not written into yet is taken over as it is (for another M).
        if older || last.is_none_or(|state| state as u32 != 0) {
            if chunks.len() >= MAX_CHUNKS {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let Some(c) = lock(&POOL).pop().or_else(Chunk::map) else {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                return;
            };
            chunks.push(c);
        }
        let c = chunks.last().expect("a chunk");
        c.reset(generation, who);
        c.push(ev);
        CUR.with(|cur| cur.set(&**c));
    });
}

/// Writes (or drops) what waits in `m` ([`MTrace::pending`]): before any other event of the
/// M, and before it gives up its P (`releasep`: the M may sleep, and a leave waiting in it
/// would be written late or, if the trace stopped meanwhile, not at all).
#[inline(always)]
pub(crate) fn settle(m: &M) {
    if m.trace.pending.get() != 0 {
        settle_cold(m);
    }
}

/// [`settle`] on the calling thread's M, if it is one and tracing is on: before a goroutine
/// (or the scheduler) wakes a plain thread, which may stop the trace at once and so drop what
/// waits in the M, though a start it led to on another M is in the trace.
#[inline]
pub(crate) fn settle_current() {
    if on() {
        // SAFETY: a non-null current M lives with its runtime.
        if let Some(m) = unsafe { current_m().as_ref() } {
            settle(m);
        }
    }
}

/// [`settle`] when something waits: written as one record if an unblock and a leave wait
/// together, else as the one; dropped if the chunk has been closed since it was set aside
/// (a `stop` has read the chunk: it belongs to that trace, and is missed as any event
/// recorded as tracing stops may be).
#[cold]
#[inline(never)]
fn settle_cold(m: &M) {
    let pending = m.trace.pending.replace(0);
    // SAFETY: as in `try_put_m`.
    if unsafe { &*m.trace.chunk.get() }
        .limit
        .load(Ordering::Relaxed)
        == 0
    {
        return;
    }
    let (g, start) = m.trace.unblocked.get();
    let (ts, why) = m.trace.left.get();
    let p = p_id(m);
    let ev = match (pending & PEND_UNBLOCK != 0, pending & PEND_LEAVE != 0) {
        (true, true) => Raw {
            ts,
            g,
            arg: start,
            p_kind: p << 8 | SWITCH | SW_UNBLOCK | why,
        },
        (true, false) => Raw {
            ts: 0,
            g,
            arg: start,
            p_kind: p << 8 | LAZY_UNBLOCK,
        },
        // A bare leave: its goroutine's id is not kept; `collect` knows it.
        _ => {
            let (kind, arg) = leave_of(why);
            Raw::new(ts, kind, 0, arg, p)
        }
    };
    put_m_now(m, ev);
}

/// Records that the goroutine `g` parked and left its M: the clock is read now, the record
/// waits in the M ([`PEND_LEAVE`]) to be written with the start that follows (one record,
/// [`SWITCH`], for the unblock before, the leave and that start) or by [`settle`]. `on` is
/// the caller's reading of [`ON`], not [`OFF`]: this reads it no more.
#[inline(always)]
pub(crate) fn left_park(m: &M, g: &G, on: u8) {
    // SAFETY: as in `try_put_m`.
    let open = unsafe { &*m.trace.chunk.get() }
        .limit
        .load(Ordering::Relaxed)
        != 0;
    if on == ON_TSC && open {
        set_left(m, g, tsc());
    } else {
        left_park_cold(m, g, open);
    }
}

/// Sets the leave of `g` at `ts` aside in `m`.
#[inline(always)]
fn set_left(m: &M, g: &G, ts: u64) {
    // The `WaitReason as u8` that `gopark` stored.
    let why = u32::from(g.waitreason.load(Ordering::Relaxed));
    m.trace.left.set((ts, why));
    m.trace.pending.set(m.trace.pending.get() | PEND_LEAVE);
}

/// [`left_park`] with the vDSO clock, or into a closed chunk (the M's first event in this
/// trace, or a `stop` since the caller looked): then written now.
#[cold]
#[inline(never)]
fn left_park_cold(m: &M, g: &G, open: bool) {
    let Some(ts) = now() else {
        return;
    };
    if open {
        set_left(m, g, ts);
    } else {
        let why = u64::from(g.waitreason.load(Ordering::Relaxed));
        put_m(m, Raw::new(ts, Kind::GoBlock, g.goid, why, p_id(m)));
    }
}

/// [`left_park`] for the other ways to leave, from what the goroutine asked g0 to do: a yield
/// or an end waits in the M as a park's leave does ([`SW_YIELD`], [`SW_END`]); a goroutine
/// back from a system call to no P is written now (its M may stop without a P to give up).
#[cold]
#[inline(never)]
pub(crate) fn left(m: &M, g: &G, pending: &super::m::Pending) {
    use super::m::Pending;
    let why = match pending {
        Pending::Yield => SW_YIELD,
        Pending::Exit => SW_END,
        Pending::ExitSyscall => {
            if let Some(ts) = now() {
                let ev = Raw::new(ts, Kind::GoStop, g.goid, Stop::NoP as u64, p_id(m));
                put_m(m, ev);
            }
            return;
        }
        // A park leaves through `left_park`, which `execute` calls instead.
        Pending::Park { .. } | Pending::None => return,
    };
    let Some(ts) = now() else {
        return;
    };
    // SAFETY: as in `try_put_m`.
    if unsafe { &*m.trace.chunk.get() }
        .limit
        .load(Ordering::Relaxed)
        != 0
    {
        m.trace.left.set((ts, why));
        m.trace.pending.set(m.trace.pending.get() | PEND_LEAVE);
    } else {
        let (kind, arg) = leave_of(why);
        put_m(m, Raw::new(ts, kind, g.goid, arg, p_id(m)));
    }
}

/// Records that this thread made goroutine `g` of runtime `rt` runnable, on `m` if it is an
/// M, which holds a P (`goready`'s: a goroutine inside the runtime, or g0 with a P), and the
/// caller has seen tracing on. An M reads no clock for it: the event is stamped when
/// the trace stops, with the next reading the M took (usually within tens of nanoseconds: the
/// park or system call that follows), kept no later than `g`'s start it led to and no earlier
/// than the M's event before it ([`bound_unblocks`], [`clamp_unblocks`]), the interval the
/// true time lies in. On an M with nothing waiting and an open chunk, it waits in the M
/// ([`PEND_UNBLOCK`]) to go into the record of the M's next leave ([`SWITCH`]) or to be
/// written before the M's next event ([`settle`]); if the trace stops first, it is not in
/// the trace (nor, then, the arrow to `g`'s start). That case is written inline (no call, in
/// the branch tracing takes); the rest is out of line.
#[inline(always)]
pub(crate) fn unblock(m: Option<&M>, rt: &Sched, g: &G) {
    // `g` is parked: its count moves only when it starts again.
    let start = g.trace_starts.load(Ordering::Relaxed).wrapping_add(1);
    match m {
        Some(m) => {
            // SAFETY: as in `try_put_m`.
            let open = unsafe { &*m.trace.chunk.get() }
                .limit
                .load(Ordering::Relaxed)
                != 0;
            if m.trace.pending.get() == 0 && open {
                m.trace.unblocked.set((g.goid, start));
                m.trace.pending.set(PEND_UNBLOCK);
            } else {
                unblock_cold(m, g.goid, start);
            }
        }
        None => record(Some(rt), Kind::GoUnblock, g.goid, u64::from(start)),
    }
}

/// [`unblock`] on an M that has something waiting already, or a closed chunk: written now.
#[cold]
#[inline(never)]
fn unblock_cold(m: &M, g: u64, start: u32) {
    let p_kind = held_p_id(m) << 8 | LAZY_UNBLOCK;
    put_m(
        m,
        Raw {
            ts: 0,
            g,
            arg: start,
            p_kind,
        },
    );
}

/// Records that goroutine `g` starts on `m` (the caller has seen tracing on). One that comes
/// `straight` after the goroutine that left `m` last (from the P's own run queue or resumed at
/// once, with nothing waited for between) starts at that one's leaving: its clock reading
/// serves both, and the scheduler's few tens of nanoseconds between the two are not in the
/// trace. Then the leave waiting in `m` and the unblock waiting before it, if that readied
/// `g` for this start, go with the start into one record ([`SWITCH`]), so a channel round
/// trip is two records: that case is inlined into the scheduler (no call, in the branch
/// tracing takes); the rest is out of line.
#[inline(always)]
pub(crate) fn go_start(m: &M, g: &G, straight: bool) {
    let pending = m.trace.pending.get();
    // Only this M touches the count while `g` runs; its wakers read it after it parked.
    let start = g.trace_starts.load(Ordering::Relaxed).wrapping_add(1);
    if straight
        && (pending == PEND_LEAVE
            || (pending == PEND_UNBLOCK | PEND_LEAVE && m.trace.unblocked.get() == (g.goid, start)))
    {
        let (ts, why) = m.trace.left.get();
        let kind = u32::from(pending) | SW_START | why;
        let ev = Raw {
            ts,
            g: g.goid,
            arg: start,
            p_kind: held_p_id(m) << 8 | kind,
        };
        // A closed chunk (a `stop` since the leave: what waits is dropped) or a full one
        // goes the long way.
        if try_put_m(m, ev).is_some() {
            g.trace_starts.store(start, Ordering::Relaxed);
            m.trace.pending.set(0);
            return;
        }
    }
    go_start_record(m, g, straight);
}

/// [`go_start`] when the start is a record of its own: after what waits in the M, at the
/// leave's reading if `straight` after one, else at a reading of its own.
#[inline(never)]
fn go_start_record(m: &M, g: &G, straight: bool) {
    let pending = m.trace.pending.get();
    // SAFETY: as in `try_put_m`.
    let open = unsafe { &*m.trace.chunk.get() }
        .limit
        .load(Ordering::Relaxed)
        != 0;
    let at = (straight && open && pending & PEND_LEAVE != 0).then(|| m.trace.left.get().0);
    settle(m);
    let Some(ts) = at.or_else(now) else {
        return;
    };
    let start = g.trace_starts.load(Ordering::Relaxed).wrapping_add(1);
    g.trace_starts.store(start, Ordering::Relaxed);
    put_m_now(
        m,
        Raw::new(ts, Kind::GoStart, g.goid, u64::from(start), held_p_id(m)),
    );
}

/// Maps the pool of chunks and turns tracing on; `false` if it was on already.
pub(crate) fn start() -> bool {
    // Dropped after the lock: a runtime's last reference may go with it.
    let _live;
    let _threads = lock(&THREADS);
    if ON.load(Ordering::Acquire) != OFF {
        return false;
    }
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| TSC.store(tsc_usable(), Ordering::Relaxed));
    {
        let mut pool = lock(&POOL);
        while pool.len() < POOL_CHUNKS
            && let Some(c) = Chunk::map()
        {
            pool.push(c);
        }
    }
    DROPPED.store(0, Ordering::Relaxed);
    *lock(&START) = Clock::now();
    GEN.fetch_add(1, Ordering::Relaxed);
    // Release: a thread that sees tracing on sees the new generation.
    let on = if TSC.load(Ordering::Relaxed) {
        ON_TSC
    } else {
        ON_NS
    };
    ON.store(on, Ordering::Release);
    _live = mirror(true);
    true
}

/// Sets every runtime's copy of [`ON`] (see `enterflags`), which the system-call entry reads
/// with the other flags it looks at. After `ON`, under [`THREADS`], so starts and stops
/// mirror in their order; a runtime made meanwhile reads `ON` itself (`checkdead::register`).
/// Returns the runtimes, for the caller to drop after its lock.
fn mirror(on: bool) -> Vec<Arc<Sched>> {
    let live = super::checkdead::runtimes();
    for sched in &live {
        sched.enter_flags.set(TRACING, on);
    }
    live
}

/// Turns tracing off and takes every event, in time order; `None` if it was off. An event a
/// thread was recording just as tracing stopped may be missed.
pub(crate) fn stop() -> Option<Vec<Rec>> {
    let _live;
    let mut threads = lock(&THREADS);
    if ON.swap(OFF, Ordering::AcqRel) == OFF {
        return None;
    }
    _live = mirror(false);
    let end = Clock::now();
    let clock = lock(&START).calibrated(end);
    let generation = GEN.load(Ordering::Relaxed);
    let mut all = Vec::new();
    let mut lazy = Vec::new();
    for t in threads.iter() {
        let mut chunks = lock(&t.chunks);
        let from = all.len();
        let mut running = 0;
        for c in chunks.iter() {
            c.collect(generation, t.tid, &clock, &mut running, &mut all);
        }
        bound_unblocks(&mut all, from, (clock.ns, end.ns), &mut lazy);
        // All but the last go; the last, which the thread may still be writing an event into
        // (that nobody will read), is closed and stays mapped but gives its memory back.
        let n = chunks.len().saturating_sub(1);
        chunks.drain(..n);
        if let Some(c) = chunks.last() {
            c.close();
            c.discard();
        }
    }
    // Threads that have ended go with their chunks.
    threads.retain(|t| Arc::strong_count(t) > 1);
    lock(&POOL).clear();
    clamp_unblocks(&mut all, &lazy);
    in_time_order(&mut all);
    Some(all)
}

/// Sorts events by time. Stable: one thread's events keep their order if the clock reads the
/// same twice. An event that readies a goroutine goes before others of its instant, so before
/// the goroutine's start (which an unblock may be stamped with).
fn in_time_order(all: &mut [Rec]) {
    all.sort_by_key(|r| (r.ts, !matches!(r.kind, Kind::GoCreate | Kind::GoUnblock)));
}

/// Stamps the unstamped unblocks among the events one thread recorded, `all[from..]` in the
/// order it recorded them, with the thread's next clock reading (its next event's time, or
/// `bounds.1`, the trace's end, if none), and notes in `lazy` each one's index and lower
/// bound: the thread's reading before it (or `bounds.0`, the trace's start).
fn bound_unblocks(all: &mut [Rec], from: usize, bounds: (u64, u64), lazy: &mut Vec<(usize, u64)>) {
    let mine = &mut all[from..];
    let mut before = bounds.0;
    for (i, r) in mine.iter().enumerate() {
        if r.ts == UNSTAMPED {
            lazy.push((from + i, before));
        } else {
            before = r.ts;
        }
    }
    let mut next = bounds.1;
    for r in mine.iter_mut().rev() {
        if r.ts == UNSTAMPED {
            r.ts = next;
        } else {
            next = r.ts;
        }
    }
}

/// Keeps each unblock `bound_unblocks` stamped no later than the start it led to (the arrow
/// drawn from it must not go back in time), and no earlier than its lower bound.
fn clamp_unblocks(all: &mut [Rec], lazy: &[(usize, u64)]) {
    if lazy.is_empty() {
        return;
    }
    let led_to: std::collections::HashMap<(u64, u64), usize> = lazy
        .iter()
        .enumerate()
        .map(|(k, &(i, _))| ((all[i].g, all[i].arg), k))
        .collect();
    let mut start = vec![u64::MAX; lazy.len()];
    for r in all.iter().filter(|r| r.kind == Kind::GoStart) {
        if let Some(&k) = led_to.get(&(r.g, r.arg)) {
            start[k] = start[k].min(r.ts);
        }
    }
    for (&(i, lo), start) in lazy.iter().zip(start) {
        all[i].ts = all[i].ts.min(start).max(lo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what `raws` would read back as, in a chunk of generation 1 at clock 1:1.
    fn collected(raws: &[Raw]) -> Vec<Rec> {
        let c = Chunk::map().expect("a chunk");
        c.reset(
            1,
            Who {
                key: 0,
                rt: 0,
                m: 3,
            },
        );
        for &ev in raws {
            assert!(c.push(ev).is_some());
        }
        let mut out = Vec::new();
        let clock = Clock {
            ticks: 0,
            ns: 0,
            scale: 1.0,
        };
        c.collect(1, 7, &clock, &mut 0, &mut out);
        out
    }

    #[test]
    fn a_fast_syscall_reads_back_as_its_enter_and_exit() {
        let took = (1 << (32 - NR_BITS)) - 1;
        let fast = Raw {
            ts: 5_000_000,
            g: 9,
            arg: 1 | took << NR_BITS,
            p_kind: 2 << 8 | FAST_SYSCALL,
        };
        let after = Raw::new(5_000_010, Kind::GoBlock, 9, 4, 2);
        let v = collected(&[fast, after]);
        let seen: Vec<_> = v.iter().map(|r| (r.kind, r.ts, r.g, r.arg, r.p)).collect();
        assert_eq!(
            seen,
            [
                (Kind::SyscallEnter, 5_000_000 - u64::from(took), 9, 1, 2),
                (Kind::SyscallExit, 5_000_000, 9, Exit::Fast as u64, 2),
                (Kind::GoBlock, 5_000_010, 9, 4, 2),
            ]
        );
        assert!(v.iter().all(|r| r.m == 3 && r.tid == 7));
    }

    /// A [`SWITCH`] reads back as the unblock before it (if any), the leave (a park, a yield
    /// or an end) of the goroutine the thread started last (even in an earlier chunk of the
    /// thread), and the start at its time (if any), on its P; a bare leave written without its
    /// goroutine names it the same.
    #[test]
    fn a_switch_reads_back_as_its_unblock_leave_and_start() {
        let clock = Clock {
            ticks: 0,
            ns: 0,
            scale: 1.0,
        };
        let who = Who {
            key: 0,
            rt: 0,
            m: 3,
        };
        let (first, second) = (
            Chunk::map().expect("a chunk"),
            Chunk::map().expect("a chunk"),
        );
        first.reset(1, who);
        second.reset(1, who);
        assert!(first.push(Raw::new(100, Kind::GoStart, 1, 4, 2)).is_some());
        let switch = |ts, g, arg, bits| Raw {
            ts,
            g,
            arg,
            p_kind: 2 << 8 | SWITCH | bits,
        };
        for ev in [
            switch(150, 2, 9, SW_UNBLOCK | SW_START | 1),
            switch(180, 1, 5, SW_START | 3),
            switch(200, 7, 2, SW_UNBLOCK | 3),
            Raw::new(220, Kind::GoStart, 3, 1, 2),
            Raw::new(250, Kind::GoBlock, 0, 1, 2),
            Raw::new(260, Kind::GoStart, 4, 1, 2),
            switch(270, 5, 3, SW_START | SW_YIELD),
            switch(280, 6, 1, SW_UNBLOCK | SW_START | SW_END),
            Raw::new(290, Kind::GoStop, 0, Stop::Yield as u64, 2),
        ] {
            assert!(second.push(ev).is_some());
        }
        let (mut out, mut running) = (Vec::new(), 0);
        first.collect(1, 7, &clock, &mut running, &mut out);
        second.collect(1, 7, &clock, &mut running, &mut out);
        let seen: Vec<_> = out
            .iter()
            .map(|r| (r.kind, r.ts, r.g, r.arg, r.p))
            .collect();
        use Kind::{GoBlock, GoEnd, GoStart, GoStop, GoUnblock};
        assert_eq!(
            seen,
            [
                (GoStart, 100, 1, 4, 2),
                (GoUnblock, UNSTAMPED, 2, 9, 2),
                (GoBlock, 150, 1, 1, 2),
                (GoStart, 150, 2, 9, 2),
                (GoBlock, 180, 2, 3, 2),
                (GoStart, 180, 1, 5, 2),
                (GoUnblock, UNSTAMPED, 7, 2, 2),
                (GoBlock, 200, 1, 3, 2),
                (GoStart, 220, 3, 1, 2),
                (GoBlock, 250, 3, 1, 2),
                (GoStart, 260, 4, 1, 2),
                (GoStop, 270, 4, Stop::Yield as u64, 2),
                (GoStart, 270, 5, 3, 2),
                (GoUnblock, UNSTAMPED, 6, 1, 2),
                (GoEnd, 280, 5, 0, 2),
                (GoStart, 280, 6, 1, 2),
                (GoStop, 290, 6, Stop::Yield as u64, 2),
            ]
        );
        assert!(out.iter().all(|r| r.m == 3 && r.tid == 7));
    }

    /// An event as `collect` makes it, on thread `tid`.
    fn ev(tid: i32, kind: Kind, ts: u64, g: u64, arg: u64) -> Rec {
        Rec {
            ts,
            rt: 0,
            g,
            arg,
            m: tid as u32,
            tid,
            p: 0,
            kind,
        }
    }

    #[test]
    fn an_unblock_reads_back_unstamped() {
        let v = collected(&[
            Raw::new(100, Kind::GoStart, 1, 4, 0),
            Raw {
                ts: 0,
                g: 2,
                arg: 5,
                p_kind: LAZY_UNBLOCK,
            },
        ]);
        let seen: Vec<_> = v.iter().map(|r| (r.kind, r.ts, r.g, r.arg)).collect();
        assert_eq!(
            seen,
            [
                (Kind::GoStart, 100, 1, 4),
                (Kind::GoUnblock, UNSTAMPED, 2, 5)
            ]
        );
    }

    /// An unblock is stamped with its thread's next reading, but no later than the start it
    /// led to (that start, not another of the goroutine's) and no earlier than the thread's
    /// reading before it; one with no reading after it, with the trace's end.
    #[test]
    fn unblocks_are_stamped_between_their_neighbours_and_before_the_start() {
        use Kind::{GoBlock, GoStart, GoUnblock};
        // Collected thread by thread, as `stop` does. Thread 2: G3's first start (before
        // it blocked), G2's fifth start, G3's second, G5's first by a clock behind thread 1's.
        let mut all = vec![
            ev(2, GoStart, 120, 3, 1),
            ev(2, GoStart, 150, 2, 5),
            ev(2, GoStart, 400, 3, 2),
            ev(2, GoStart, 90, 5, 1),
        ];
        let mut lazy = Vec::new();
        bound_unblocks(&mut all, 0, (50, 1000), &mut lazy);
        assert!(lazy.is_empty(), "thread 2 readied nobody");
        // Thread 1: G1 readies G5, G2 and G3, blocks, and last readies G4.
        all.extend([
            ev(1, GoStart, 100, 1, 1),
            ev(1, GoUnblock, UNSTAMPED, 5, 1),
            ev(1, GoUnblock, UNSTAMPED, 2, 5),
            ev(1, GoUnblock, UNSTAMPED, 3, 2),
            ev(1, GoBlock, 200, 1, 0),
            ev(1, GoUnblock, UNSTAMPED, 4, 7),
        ]);
        bound_unblocks(&mut all, 4, (50, 1000), &mut lazy);
        assert_eq!(lazy, [(5, 100), (6, 100), (7, 100), (9, 200)]);
        clamp_unblocks(&mut all, &lazy);
        let stamped: Vec<_> = all
            .iter()
            .filter(|r| r.kind == GoUnblock)
            .map(|r| (r.g, r.ts))
            .collect();
        assert_eq!(stamped, [(5, 100), (2, 150), (3, 200), (4, 1000)]);
        in_time_order(&mut all);
        let at_150: Vec<_> = all
            .iter()
            .filter(|r| r.ts == 150)
            .map(|r| (r.kind, r.g))
            .collect();
        assert_eq!(
            at_150,
            [(GoUnblock, 2), (GoStart, 2)],
            "the arrow leaves before it lands"
        );
    }

    #[test]
    fn other_events_read_back_as_written() {
        let v = collected(&[
            Raw::new(10, Kind::GoCreate, 12, 0, NO_P),
            Raw::new(20, Kind::SyscallEnter, 4, u64::from(u32::MAX), 0),
            Raw::new(30, Kind::SyscallExit, 4, Exit::Slow as u64, NO_P),
        ]);
        let seen: Vec<_> = v.iter().map(|r| (r.kind, r.ts, r.g, r.arg, r.p)).collect();
        assert_eq!(
            seen,
            [
                (Kind::GoCreate, 10, 0, 12, NO_P),
                (Kind::SyscallEnter, 20, 4, BLOCKING, 0),
                (Kind::SyscallExit, 30, 4, Exit::Slow as u64, NO_P),
            ]
        );
    }
}
