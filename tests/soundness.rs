//! Adversarial checks of the safe API: every safe function is sound for every argument, and
//! bad input gets an error, never a crash, a hang or a write to memory the caller did not lend.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use goro::syscall::{self as sc, IPPROTO_TCP};

/// `TCP_ZEROCOPY_RECEIVE` (Linux 4.18; its copy buffer 5.11) reads addresses from the
/// option's value and writes the received bytes there, which is why the raw byte-level
/// `getsockopt` is `unsafe` (its doc test checks that it does not compile without). The safe
/// typed helpers pass all-zero values: the same option writes nothing and consumes nothing.
#[test]
fn an_option_that_writes_through_an_address_needs_unsafe() {
    const TCP_ZEROCOPY_RECEIVE: u32 = 35;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"not yours").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut one = [0u8; 1];
    assert_eq!(c.peek(&mut one).unwrap(), 1, "the bytes have arrived");

    // The safe helpers: the option sees only null addresses.
    let _ = sc::getsockopt_timeval(c.as_fd(), IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE);
    let _ = sc::getsockopt_int(c.as_fd(), IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE);
    let mut buf = [0u8; 16];
    assert_eq!(c.peek(&mut buf).unwrap(), 9, "nothing was consumed");
    c.read_exact(&mut buf[..9]).unwrap();
    assert_eq!(&buf[..9], b"not yours");
}

/// Runs the `#[ignore]`d test `name` of this file in a child process (it may crash the
/// process) and asserts it passed.
fn child_passes(name: &str) {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--include-ignored", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::output_within(child, 60);
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Any stack size gives a runtime whose goroutines run: a size near `usize::MAX` once
/// wrapped to a stack of nothing but its guard page when rounded up to pages (the first
/// goroutine died of SIGSEGV), and smaller huge ones overflowed the size of a region of slots.
#[test]
fn any_stack_size_runs() {
    child_passes("any_stack_size_runs_child");
}

#[test]
#[ignore = "run by any_stack_size_runs in a child process"]
fn any_stack_size_runs_child() {
    for size in [usize::MAX, usize::MAX - 4096, 1 << 62, 1 << 40] {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe {
            goro::Runtime::builder()
                .max_procs(1)
                .stack_size(size)
                .build()
        };
        let v = rt.run(|| {
            // A page and more of stack in use, and a second goroutine beside it.
            let a = std::hint::black_box([7u8; 6000]);
            let h = goro::spawn(|| 1u64);
            a.iter().map(|&b| u64::from(b)).sum::<u64>() + h.join().unwrap()
        });
        assert_eq!(v, 42001, "stack_size({size})");
    }
}

/// More buffers than one `writev`/`readv` takes (1024) are a short transfer, as with std's
/// `File`, not `EINVAL`.
#[test]
fn vectored_file_io_takes_any_number_of_buffers() {
    use std::io::{IoSlice, IoSliceMut, Seek, SeekFrom};
    let d = common::TempDir::new();
    let mut f = goro::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .open(d.join("v"))
        .unwrap();
    let byte = [7u8; 1];
    let bufs: Vec<IoSlice<'_>> = (0..3000).map(|_| IoSlice::new(&byte)).collect();
    let mut written = 0;
    while written < bufs.len() {
        written += f.write_vectored(&bufs[written..]).unwrap();
    }
    assert_eq!(f.metadata().unwrap().len(), 3000);
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut back = vec![[0u8; 1]; 3000];
    let mut slices: Vec<IoSliceMut<'_>> = back.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    let n = f.read_vectored(&mut slices).unwrap();
    assert!(n > 0 && n <= 1024, "{n}");
    drop(slices);
    assert!(back[..n].iter().all(|b| b[0] == 7));
}

/// `UnixDatagram::recv_from` names the sender as the kernel reported it: an abstract name (it
/// was taken for an unnamed sender), a path, or unnamed.
#[test]
fn unix_datagram_senders_keep_their_names() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let d = common::TempDir::new();
    let rx_path = d.join("rx");
    let tx_path = d.join("tx");
    common::watchdog(30, "recv_from", move || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
        rt.run(move || {
            let rx = goro::net::UnixDatagram::bind(&rx_path).unwrap();
            let name = format!("goro-soundness-{}", std::process::id());
            let abs = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let senders = [
                UnixDatagram::bind_addr(&abs).unwrap(),
                UnixDatagram::bind(&tx_path).unwrap(),
                UnixDatagram::unbound().unwrap(),
            ];
            let mut buf = [0u8; 8];
            for (i, s) in senders.iter().enumerate() {
                s.send_to(b"hi", &rx_path).unwrap();
                let (n, from) = rx.recv_from(&mut buf).unwrap();
                assert_eq!(n, 2);
                match i {
                    0 => assert_eq!(from.as_abstract_name(), Some(name.as_bytes()), "{from:?}"),
                    1 => assert_eq!(from.as_pathname(), Some(tx_path.as_path()), "{from:?}"),
                    _ => assert!(from.is_unnamed(), "{from:?}"),
                }
            }
        });
    });
}

/// Sends on drop: a `Drop` that waits on goro until someone receives.
struct SendOnDrop(goro::Sender<u32>);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(1);
    }
}

/// An `after_fn` timer, stopped and dropped, whose function captures a [`SendOnDrop`] on `tx`:
/// the runtime still holds its heap entry, and with it the last reference to the function.
fn stopped_after_fn_sending_on_drop(tx: goro::Sender<u32>) {
    let s = SendOnDrop(tx);
    let t = goro::time::after_fn(Duration::from_millis(1), move || {
        let _ = &s;
    });
    assert!(t.stop());
    drop(t);
}

/// A stopped `after_fn` timer's function is dropped by the runtime when its heap entry is
/// taken or shed, and a capture whose `Drop` waits on goro then waits in a goroutine of its
/// own. It used to run where the entry went: on the scheduler's stack, blocking the thread
/// that held the only P (taken when due: the receiver's sleep never ended), or in whichever
/// goroutine's timer call shed the entry, under the heap's lock (shed by a burst of `after`).
#[test]
fn after_fn_captures_are_dropped_in_a_goroutine() {
    common::watchdog(30, "after_fn's capture dropped", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
        rt.run(|| {
            for shed in [false, true] {
                let (tx, rx) = goro::chan::<u32>(0);
                stopped_after_fn_sending_on_drop(tx);
                if shed {
                    // Enough timers to double the heap: the stale entry is shed in this call.
                    let _keep: Vec<_> = (0..200)
                        .map(|_| goro::time::after(Duration::from_secs(60)))
                        .collect();
                } else {
                    goro::sleep(Duration::from_millis(20));
                }
                assert_eq!(rx.recv(), Some(1), "shed: {shed}");
            }
        });
    });
}

/// Counts the `Touchy` values dropped.
static TOUCHY_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A goroutine-local value whose `Drop` uses goro: its own key and another one.
struct Touchy;

impl Drop for Touchy {
    fn drop(&mut self) {
        TOUCHY_DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        COUNT.with(|c| c.set(c.get() + 1));
        TOUCHY.with(|_| ());
    }
}

goro::local! {
    static TOUCHY: Touchy = Touchy;
    static COUNT: std::cell::Cell<u32> = std::cell::Cell::new(0);
}

/// A `local!` value's `Drop` may use keys again, its own included, in a goroutine and on a
/// plain thread, as the values are dropped when either ends. It used to make and drop its own
/// key's value for ever in a goroutine (a hang), and to abort a plain thread ("cannot access
/// a Thread Local Storage value during or after destruction"): all of a thread's values live
/// in one thread-local, destroyed as a whole. Now the values are dropped in up to four
/// rounds, as POSIX does for thread-specific data, and a plain thread's list stays reachable
/// while it is dropped.
#[test]
fn local_destructors_may_use_keys() {
    child_passes("local_destructors_may_use_keys_child");
}

#[test]
#[ignore = "run by local_destructors_may_use_keys in a child process"]
fn local_destructors_may_use_keys_child() {
    use std::sync::atomic::Ordering::Relaxed;
    common::watchdog(30, "local destructors", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
        rt.run(|| goro::spawn(|| TOUCHY.with(|_| ())).join().unwrap());
        assert_eq!(TOUCHY_DROPS.load(Relaxed), 4, "one value per round");
        std::thread::spawn(|| TOUCHY.with(|_| ())).join().unwrap();
        assert_eq!(TOUCHY_DROPS.load(Relaxed), 8);
    });
}

/// A goroutine that joins its own handle panics (std's `join` fails with `EDEADLK`) rather
/// than waiting for ever, and still ends normally once it catches that.
#[test]
fn a_goroutine_joining_itself_panics() {
    common::watchdog(30, "self join", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
        let (tx, rx) = goro::chan::<goro::JoinHandle<&'static str>>(1);
        let (done_tx, done_rx) = goro::chan::<String>(1);
        let h = rt.spawn(move || {
            let me = rx.recv().unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| me.join()));
            let msg = r
                .err()
                .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()));
            done_tx.send(msg.unwrap_or_default()).unwrap();
            "ended"
        });
        tx.send(h).unwrap();
        let msg = done_rx.recv().unwrap();
        assert!(msg.contains("joined itself"), "{msg:?}");
    });
}

/// Outside any runtime, a stopped `after_fn` timer's function is dropped by the thread that
/// runs plain-thread timers when its entry comes due; a capture whose `Drop` waits there used
/// to stall every such timer, here the `recv_timeout` that must end before anyone receives.
#[test]
fn after_fn_captures_do_not_stall_plain_thread_timers() {
    common::watchdog(30, "plain-thread timers", || {
        let (tx, rx) = goro::chan::<u32>(0);
        stopped_after_fn_sending_on_drop(tx);
        std::thread::sleep(Duration::from_millis(20)); // the stale entry comes due
        let (_keep, never) = goro::chan::<u32>(0);
        assert_eq!(
            never.recv_timeout(Duration::from_millis(20)),
            Err(goro::RecvTimeoutError::Timeout)
        );
        assert_eq!(rx.recv(), Some(1));
    });
}

/// What a join of a goroutine abandoned with its runtime returns.
const ABANDONED: &str = "goro: the goroutine's runtime was dropped before it finished";

/// `join`'s error payload as text.
fn abandoned(r: Result<impl std::fmt::Debug, Box<dyn std::any::Any + Send>>) -> String {
    match r {
        Ok(v) => panic!("joined an abandoned goroutine: {v:?}"),
        Err(p) => p.downcast_ref::<&str>().map_or("?", |s| s).to_string(),
    }
}

/// Joining a goroutine whose runtime was dropped before it finished returns an error, for a
/// join already waiting at the drop (a plain thread's, another runtime's goroutine's) and for
/// a join after it; the goroutine stays unfinished, and one that finished before the drop is
/// still joined. Every such join used to wait for ever: nothing would ever wake it.
#[test]
fn joining_a_goroutine_of_a_dropped_runtime_fails() {
    common::watchdog(60, "joins of abandoned goroutines", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
        // SAFETY: as above.
        let other = unsafe { goro::Runtime::builder().max_procs(1).build() };
        let (keep, rx) = goro::chan::<()>(0);
        let parked = |rt: &goro::Runtime| {
            let rx = rx.clone();
            rt.spawn(move || rx.recv())
        };
        let (h_thread, h_goroutine, h_later) = (parked(&rt), parked(&rt), parked(&rt));
        let finished = rt.spawn(|| 7u32);
        while !finished.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let thread = std::thread::spawn(move || abandoned(h_thread.join()));
        let goroutine = other.spawn(move || abandoned(h_goroutine.join()));
        std::thread::sleep(Duration::from_millis(50)); // both park in `join`
        drop(rt);
        assert_eq!(thread.join().unwrap(), ABANDONED, "a thread's join");
        assert_eq!(goroutine.join().unwrap(), ABANDONED, "a goroutine's join");
        assert!(!h_later.is_finished());
        assert_eq!(
            abandoned(h_later.join()),
            ABANDONED,
            "a join after the drop"
        );
        assert_eq!(finished.join().unwrap(), 7);
        drop(keep);
    });
}

/// Joins that start just before, during and after the drop, from threads and from another
/// runtime's goroutines, against goroutines parked for ever and goroutines that finish: each
/// join of a parked one fails, each of a finished one returns its value, none waits for ever
/// (a join that published its node just as the runtime ended must still be woken).
#[test]
fn joins_racing_a_runtime_drop() {
    common::watchdog(120, "joins racing a drop", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let other = unsafe { goro::Runtime::builder().max_procs(2).build() };
        for round in 0..20u64 {
            // SAFETY: as above.
            let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
            let (keep, rx) = goro::chan::<()>(0);
            let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut joins = Vec::new();
            for i in 0..8u64 {
                let delay = Duration::from_micros((round * 7 + i * 131) % 400);
                let h = if i % 2 == 0 {
                    let rx = rx.clone();
                    rt.spawn(move || rx.recv().map_or(0, |()| 1))
                } else {
                    let finished = finished.clone();
                    rt.spawn(move || {
                        finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        i
                    })
                };
                let check = move |r: std::thread::Result<u64>| match r {
                    Ok(v) => {
                        assert_eq!(v, i, "round {round}");
                        true
                    }
                    Err(p) => {
                        assert_eq!(p.downcast_ref::<&str>(), Some(&ABANDONED));
                        assert_eq!(i % 2, 0, "a finished goroutine's join failed");
                        false
                    }
                };
                if i % 4 < 2 {
                    joins.push(std::thread::spawn(move || {
                        std::thread::sleep(delay);
                        check(h.join())
                    }));
                } else {
                    let g = other.spawn(move || {
                        goro::sleep(delay);
                        check(h.join())
                    });
                    joins.push(std::thread::spawn(move || g.join().unwrap()));
                }
            }
            // The finishing ones have finished (but perhaps not all swapped their result in).
            while finished.load(std::sync::atomic::Ordering::SeqCst) < 4 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_micros(200));
            drop(rt);
            for j in joins {
                j.join().unwrap();
            }
            drop(keep);
        }
    });
}

/// The last `Arc<Runtime>` dropped inside one of its goroutines shuts the runtime down from
/// there: that goroutine runs on to its end (it would be abandoned at its next yield or wait)
/// and is joined, and a goroutine parked for ever is abandoned, its join failing once the
/// runtime's threads have exited (it used to wait for ever).
#[test]
fn dropping_the_last_runtime_inside_its_goroutine() {
    common::watchdog(60, "a runtime dropped inside", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = std::sync::Arc::new(unsafe { goro::Runtime::builder().max_procs(2).build() });
        let (keep, rx) = goro::chan::<()>(0);
        let parked = rt.spawn(move || rx.recv());
        let (go_tx, go_rx) = goro::chan::<()>(0);
        let last = rt.clone();
        let dropper = rt.spawn(move || {
            go_rx.recv();
            drop(last); // the last one: see below
            5
        });
        drop(rt);
        go_tx.send(()).unwrap();
        assert_eq!(dropper.join().unwrap(), 5);
        assert_eq!(abandoned(parked.join()), ABANDONED);
        drop(keep);
    });
}

/// Runtimes abandoned with goroutines parked give their descriptors up once their threads
/// have exited: each used to keep two (the poller's eventfd and its own epoll set), so a
/// few hundred of them, under a low descriptor limit, made `Runtime::new` fail with
/// `EMFILE`.
#[test]
fn abandoned_runtimes_close_their_descriptors() {
    child_passes("abandoned_runtimes_close_their_descriptors_child");
}

#[test]
#[ignore = "run by abandoned_runtimes_close_their_descriptors in a child process"]
fn abandoned_runtimes_close_their_descriptors_child() {
    use linux_raw_sys::general::RLIMIT_NOFILE;
    let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = open();
    let mut lim = sc::getrlimit(RLIMIT_NOFILE).unwrap();
    lim.rlim_cur = (before as u64 + 64).min(lim.rlim_max);
    sc::setrlimit(RLIMIT_NOFILE, &lim).unwrap();
    let mut keep = Vec::new();
    for i in 0..100 {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
        let (tx, rx) = goro::chan::<()>(0);
        drop(rt.spawn(move || rx.recv()));
        rt.run(goro::yield_now); // the goroutine has parked
        drop(rt);
        keep.push(tx);
        assert!(
            open() < before + 16,
            "{} descriptors after {i} runtimes",
            open()
        );
    }
    // SAFETY: as above.
    let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
    rt.run(|| {
        let (mut r, mut w) = goro::pipe().unwrap();
        let reader = goro::spawn(move || {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map(|()| b)
        });
        w.write_all(b"ok").unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"ok");
    });
}

/// `max_procs(usize::MAX)` used to panic with "capacity overflow" (a runtime allocates its Ps
/// when it is made): it is clamped to `MAX_PROCS`. The setters clamp to the Ps allocated, and
/// `0` changes nothing anywhere (Go's `GOMAXPROCS(0)`); it used to set 1.
#[test]
fn any_number_of_procs_is_clamped() {
    common::watchdog(60, "max_procs", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(usize::MAX).build() };
        assert_eq!(rt.max_procs(), 1024);
        assert_eq!(
            rt.run(|| goro::spawn(goro::max_procs).join().unwrap()),
            1024
        );
        assert_eq!(rt.set_max_procs(usize::MAX), 1024);
        drop(rt);
        // SAFETY: as above.
        let rt = unsafe { goro::Runtime::builder().max_procs(0).build() };
        assert_eq!(rt.max_procs(), goro::max_procs(), "0: the default");
        drop(rt);
        // SAFETY: as above.
        let rt = unsafe { goro::Runtime::builder().max_procs(3).build() };
        assert_eq!(rt.set_max_procs(0), 3);
        assert_eq!(rt.max_procs(), 3, "0 changes nothing");
        assert_eq!(rt.set_max_procs(usize::MAX), 3);
        assert_eq!(rt.max_procs(), 64, "clamped to the Ps allocated");
        rt.run(|| {
            assert_eq!(goro::set_max_procs(0), 64);
            assert_eq!(goro::set_max_procs(2), 64);
            assert_eq!(goro::set_max_procs(usize::MAX), 2);
            assert_eq!(goro::set_max_procs(0), 64);
            assert_eq!(goro::spawn(|| 9).join().unwrap(), 9);
        });
    });
}

/// Counts the [`PanicsOnDrop`] values dropped.
static PANICKY_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A value whose `Drop` panics `n` levels deep: with a payload that is itself a
/// `PanicsOnDrop(n - 1)`, down to a plain message at 0.
struct PanicsOnDrop(u32);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        PANICKY_DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.0 {
            0 => panic!("PanicsOnDrop dropped"),
            n => std::panic::panic_any(PanicsOnDrop(n - 1)),
        }
    }
}

/// Counts its drops, quietly.
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        PANICKY_DROPS.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
    }
}

goro::local! {
    static PANICKY: std::cell::RefCell<Option<PanicsOnDrop>> = const { std::cell::RefCell::new(None) };
    static QUIET: std::cell::RefCell<Option<Counted>> = const { std::cell::RefCell::new(None) };
}

/// What a goroutine leaves to drop as it ends may panic on drop without taking the process
/// down: the result of a goroutine whose handle was dropped, its panic's payload (one whose
/// own payload panics again, too), a goroutine-local value. Each used to unwind out of the
/// goroutine's first frame, which aborts ("panic in a function that cannot unwind"). Now the
/// result and payload are dropped quietly (after the hook has shown the panic, as for any
/// panic), and a local's panic is the goroutine's, which `join` returns, once the other
/// locals are dropped too.
#[test]
fn panicking_drops_at_a_goroutines_end() {
    child_passes("panicking_drops_at_a_goroutines_end_child");
}

#[test]
#[ignore = "run by panicking_drops_at_a_goroutines_end in a child process"]
fn panicking_drops_at_a_goroutines_end_child() {
    use std::sync::atomic::Ordering::Relaxed;
    common::watchdog(30, "panicking drops", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
        rt.run(|| {
            // Detached before they end: the goroutines drop what they leave.
            let (tx, rx) = goro::chan::<()>(0);
            let (r1, r2) = (rx.clone(), rx.clone());
            drop(goro::spawn(move || {
                r1.recv();
                PanicsOnDrop(0)
            }));
            drop(goro::spawn(move || {
                r2.recv();
                std::panic::panic_any(PanicsOnDrop(3))
            }));
            drop(rx);
            drop(tx); // both wake, end, and drop their result
            let (t, r) = goro::chan::<()>(0);
            let h = goro::spawn(move || r.recv());
            drop(t);
            assert_eq!(h.join().unwrap(), None, "the runtime goes on");
            // The value once, the payload and the three it panics with (the hook shows each
            // panic, with a backtrace perhaps: it takes a while).
            let start = std::time::Instant::now();
            while PANICKY_DROPS.load(Relaxed) < 5 && start.elapsed() < Duration::from_secs(20) {
                goro::sleep(Duration::from_millis(5));
            }
            assert_eq!(PANICKY_DROPS.swap(0, Relaxed), 5);

            let h = goro::spawn(|| {
                PANICKY.with(|p| *p.borrow_mut() = Some(PanicsOnDrop(0)));
                QUIET.with(|q| *q.borrow_mut() = Some(Counted));
                7
            });
            let e = h.join().expect_err("the local's panic is the goroutine's");
            assert_eq!(e.downcast_ref::<&str>(), Some(&"PanicsOnDrop dropped"));
            assert_eq!(PANICKY_DROPS.swap(0, Relaxed), 101, "both locals dropped");

            let h = goro::spawn(|| {
                PANICKY.with(|p| *p.borrow_mut() = Some(PanicsOnDrop(0)));
                panic!("the goroutine's own");
            });
            let e = h.join().expect_err("it panicked");
            assert_eq!(e.downcast_ref::<&str>(), Some(&"the goroutine's own"));
        });
    });
}

/// A `PollFd` whose descriptor was replaced through `get_mut` (the old one closed, its number
/// free for the next socket) leaves other descriptors' registrations alone when it is
/// dropped. Its registration was by number: dropping it unregistered whatever descriptor had
/// that number by then, here a goroutine's socket, whose reader then waited for ever.
#[test]
fn a_replaced_poll_fd_leaves_other_registrations_alone() {
    child_passes("a_replaced_poll_fd_leaves_other_registrations_alone_child");
}

#[test]
#[ignore = "run by a_replaced_poll_fd_leaves_other_registrations_alone in a child process"]
fn a_replaced_poll_fd_leaves_other_registrations_alone_child() {
    use std::os::fd::{AsRawFd, OwnedFd};
    common::watchdog(30, "a socket unregistered by another's PollFd", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
        rt.run(|| {
            let (a, _a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let (b, _b_peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut p = goro::io::PollFd::new(OwnedFd::from(a)).unwrap();
            let old = p.as_raw_fd();
            *p.get_mut() = OwnedFd::from(b); // closes `old`
            let (mut x, mut y) = goro::net::UnixStream::pair().unwrap();
            assert_eq!(x.as_raw_fd(), old, "the lowest free number is reused");
            let reader = goro::spawn(move || {
                let mut buf = [0u8; 2];
                x.read_exact(&mut buf).map(|()| buf)
            });
            goro::sleep(Duration::from_millis(20)); // the reader waits on the poller
            drop(p);
            y.write_all(b"hi").unwrap();
            assert_eq!(reader.join().unwrap().unwrap(), *b"hi");
        });
    });
}

/// Counts the [`LateLocal`] values dropped.
static LATE_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A goroutine-local value, counted when dropped.
struct LateLocal;

impl Drop for LateLocal {
    fn drop(&mut self) {
        LATE_DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

goro::local! {
    static LATE: LateLocal = LateLocal;
}

/// A result whose `Drop` uses a goroutine-local key.
struct UsesLocalOnDrop;

impl Drop for UsesLocalOnDrop {
    fn drop(&mut self) {
        LATE.with(|_| ());
    }
}

/// A local made while a detached goroutine's result is dropped, after its locals were, is
/// dropped as the goroutine ends. It stayed with the dead goroutine's G, to be dropped only
/// when the next goroutine took that G over (inside that spawner's `spawn`), or never.
#[test]
fn locals_made_by_a_detached_result_drop_go_with_the_goroutine() {
    use std::sync::atomic::Ordering::Relaxed;
    common::watchdog(30, "late locals", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(1).build() };
        rt.run(|| {
            let (tx, rx) = goro::chan::<()>(0);
            drop(goro::spawn(move || {
                rx.recv();
                UsesLocalOnDrop
            }));
            drop(tx);
            let start = std::time::Instant::now();
            while LATE_DROPS.load(Relaxed) == 0 && start.elapsed() < Duration::from_secs(2) {
                goro::sleep(Duration::from_millis(1));
            }
            assert_eq!(
                LATE_DROPS.load(Relaxed),
                1,
                "dropped as the goroutine ended"
            );
        });
    });
}

/// Goroutines may wait on one `PollFd` at once (`readable`, `writable`, beside `read_with`):
/// they take turns, as Go's `fdMutex` makes reads take turns. `readable` and `writable` did
/// not, and the poll descriptor holds one waiter per direction: the second aborted the process
/// (`fatal error: netpollblock: double wait`).
#[test]
fn concurrent_poll_fd_waiters_take_turns() {
    child_passes("concurrent_poll_fd_waiters_take_turns_child");
}

#[test]
#[ignore = "run by concurrent_poll_fd_waiters_take_turns in a child process"]
fn concurrent_poll_fd_waiters_take_turns_child() {
    common::watchdog(30, "concurrent PollFd waiters", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { goro::Runtime::builder().max_procs(2).build() };
        rt.run(|| {
            let (r, w) = goro::syscall::pipe2(0).unwrap();
            let r = std::sync::Arc::new(goro::io::PollFd::new(r).unwrap());
            let waiters: Vec<_> = (0..3)
                .map(|i| {
                    let r = r.clone();
                    goro::spawn(move || {
                        if i == 2 {
                            // Waits inside `read_with`, beside the plain waits.
                            let mut b = [0u8; 1];
                            r.read_with(|fd| Ok(goro::syscall::read(fd.as_fd(), &mut b)?))
                                .unwrap();
                        } else {
                            r.readable().unwrap();
                        }
                    })
                })
                .collect();
            // Each wait ends at an event after it began: one write each, apart.
            for _ in 0..50 {
                goro::sleep(Duration::from_millis(20));
                if waiters.iter().all(goro::JoinHandle::is_finished) {
                    break;
                }
                goro::syscall::write(w.as_fd(), b"x").unwrap();
            }
            for h in waiters {
                h.join().unwrap();
            }
        });
    });
}
