//! Go's `checkdead`, seen from outside: a program whose goroutines all wait on each other ends
//! with `all goroutines are asleep - deadlock!`, and one that a plain thread or a system call
//! will still wake does not. Each case runs in a child process of its own (this binary run
//! again with the case's name), since the check counts every thread of the process: a test
//! harness's threads would (rightly) keep it silent. Each child runs under a timeout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use goro::{Runtime, WaitGroup, chan};

fn rt(procs: usize) -> Runtime {
    // SAFETY: no goroutine keeps thread-local state across a switch.
    unsafe { Runtime::builder().max_procs(procs).build() }
}

/// A child's scenario; runs on the child's main thread.
fn scenario(name: &str) {
    match name {
        "self_receive" => rt(2).run(|| {
            let (tx, rx) = chan::<u32>(0);
            let _keep = tx.clone();
            rx.recv();
        }),
        "waitgroup_and_join" => rt(2).run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            let h = goro::spawn(move || w.wait());
            let (tx, rx) = chan::<u32>(1);
            goro::spawn(move || {
                let _t = tx;
                let _ = rx.recv();
                goro::yield_now();
            });
            h.join().unwrap();
            wg.done();
        }),
        "locked" => rt(1).run(|| {
            goro::lock_os_thread();
            let (tx, rx) = chan::<u32>(0);
            let _keep = tx.clone();
            rx.recv();
        }),
        "select_forever" => rt(2).run(|| {
            let (tx, rx) = chan::<u32>(0);
            goro::spawn(move || goro::select! {});
            goro::select! {
                recv(rx) -> _v => {},
            }
            drop(tx);
        }),
        "sleeper_then_deadlock" => rt(2).run(|| {
            // Not a deadlock while the sleeper sleeps; one once it has gone.
            goro::spawn(|| goro::sleep(Duration::from_millis(100)));
            let (tx, rx) = chan::<u32>(0);
            let _keep = tx.clone();
            rx.recv();
        }),
        "thread_sends_later" => {
            let (tx, rx) = chan::<u32>(0);
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                tx.send(7).unwrap();
            });
            assert_eq!(rt(2).run(move || rx.recv()), Some(7));
            t.join().unwrap();
        }
        "syscall_wakes" => {
            let (r, w) = goro::syscall::pipe().unwrap();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                use std::os::fd::AsFd;
                goro::syscall::write(w.as_fd(), b"x").unwrap();
            });
            let n = rt(2).run(move || {
                use std::os::fd::AsFd;
                let mut b = [0u8; 1];
                goro::syscall::read(r.as_fd(), &mut b).unwrap()
            });
            assert_eq!(n, 1);
            t.join().unwrap();
        }
        "goroutines_ping_then_finish" => rt(2).run(|| {
            // Parks and wakes many times; never all asleep at once for good.
            let (tx, rx) = chan::<u32>(0);
            let h = goro::spawn(move || rx.into_iter().sum::<u32>());
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            drop(tx);
            assert_eq!(h.join().unwrap(), 499_500);
        }),
        "abandoned_runtime_then_thread_sends_later" => {
            // A runtime dropped with a goroutine parked for ever has abandoned it: not a
            // deadlock of the program, which a plain thread goes on to wake later.
            let (keep, never) = chan::<u32>(0);
            let abandoned = rt(1);
            abandoned.spawn(move || never.recv());
            std::thread::sleep(Duration::from_millis(50));
            drop(abandoned);
            // Until the runtime's threads (its M and sysmon) have exited.
            std::thread::sleep(Duration::from_millis(300));
            let (tx, rx) = chan::<u32>(0);
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                tx.send(7).unwrap();
            });
            assert_eq!(rx.recv(), Some(7));
            t.join().unwrap();
            drop(keep);
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Runs `name` in a child; returns (exited normally, stderr).
fn child(name: &str) -> (bool, String) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(name)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("watchdog: scenario {name} neither finished nor reported a deadlock in 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--child" {
        scenario(&args[2]);
        return;
    }
    let cases: [(&str, Option<&[&str]>); 9] = [
        ("self_receive", Some(&["1 [chan receive]"])),
        (
            "select_forever",
            Some(&["1 [select]", "1 [select (no cases)]"]),
        ),
        ("sleeper_then_deadlock", Some(&["1 [chan receive]"])),
        (
            "waitgroup_and_join",
            Some(&["[sync.WaitGroup.Wait]", "[join]", "[chan receive]"]),
        ),
        ("locked", Some(&["[chan receive]"])),
        ("thread_sends_later", None),
        ("syscall_wakes", None),
        ("goroutines_ping_then_finish", None),
        ("abandoned_runtime_then_thread_sends_later", None),
    ];
    let mut failed = 0;
    for (name, want) in cases {
        let (ok, err) = child(name);
        let verdict = match want {
            Some(words) => {
                !ok && err.contains("fatal error: all goroutines are asleep - deadlock!")
                    && words.iter().all(|w| err.contains(w))
            }
            None => ok && !err.contains("deadlock"),
        };
        println!("test {name} ... {}", if verdict { "ok" } else { "FAILED" });
        if !verdict {
            failed += 1;
            println!(
                "  expected {}; the child {} with stderr:\n{err}",
                if want.is_some() {
                    "a deadlock report"
                } else {
                    "a clean exit"
                },
                if ok { "exited 0" } else { "failed" }
            );
        }
    }
    println!(
        "\ndeadlock: {} passed, {failed} failed",
        cases.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
