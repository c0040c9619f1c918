//! The comparison harness: goro beside Go, tokio, may and the bare hardware.
//!
//! The workloads arrive with the harness issue; until then this binary only says so.

fn main() {
    eprintln!("bench: no workloads yet (see the side-by-side harness issue)");
}
