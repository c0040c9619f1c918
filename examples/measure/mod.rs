//! What the tracing-cost examples (`trace_cost`, `trace_pingpong`) both read: a CPU clock and
//! the median of their rounds.

/// The clock `id` (`CLOCK_PROCESS_CPUTIME_ID`, `CLOCK_THREAD_CPUTIME_ID`, ...) in ns.
pub fn clock(id: libc::clockid_t) -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write.
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// The median of `v` (its upper middle one for an even count); `v` must not be empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
