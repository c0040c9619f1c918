//! Paired measurement, shared by the benches: on a noisy machine two separate means drift by
//! more than a few-percent difference, so alternate rounds of the two and take medians.

use std::time::Instant;

/// Medians of `a`'s and `b`'s ns per call over 41 alternating rounds of `n` calls, and the
/// median of the per-round differences `b - a`.
pub fn paired(n: u32, a: &dyn Fn(), b: &dyn Fn()) -> (f64, f64, f64) {
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let (mut xs, mut ys, mut ds) = (vec![], vec![], vec![]);
    for _ in 0..41 {
        let (x, y) = (time(a), time(b));
        xs.push(x);
        ys.push(y);
        ds.push(y - x);
    }
    for v in [&mut xs, &mut ys, &mut ds] {
        v.sort_by(f64::total_cmp);
    }
    (xs[20], ys[20], ds[20])
}
