//! A select that parks allocates nothing (for up to `HeldLocks::INLINE` channels): its own
//! binary, so that the counting allocator sees only this test.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::watchdog;
use goro::{Runtime, chan};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System`, which upholds the contract; the counter allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Two goroutines ping-pong through two-arm selects (the harness's `select` workload), each
/// select parking. Before, each parking select allocated a vector and one box per channel.
#[test]
fn a_parking_select_does_not_allocate() {
    const ROUNDS: usize = 10_000;
    let allocs = watchdog(60, "select ping-pong allocations", || {
        // SAFETY: no goroutine keeps thread-local state across a switch.
        let rt = unsafe { Runtime::builder().max_procs(1).build() };
        rt.run(|| {
            let (c1_tx, c1_rx) = chan::<usize>(0);
            let (c2_tx, c2_rx) = chan::<usize>(0);
            let (_never_a_tx, never_a) = chan::<usize>(0);
            let (_never_b_tx, never_b) = chan::<usize>(0);
            let echo = goro::spawn(move || {
                for _ in 0..ROUNDS {
                    goro::select! {
                        recv(c1_rx) -> v => c2_tx.send(v.unwrap() + 1).unwrap(),
                        recv(never_b) -> _ => unreachable!(),
                    }
                }
            });
            // The echo goroutine first, so that it waits in its select when we send: from then
            // on each side sends to the other's parked select, then parks in its own (with
            // the sender first, it would be the sends that park, the selects never).
            goro::yield_now();
            // Warm up the channels' queues (their first waiter allocates their buffers).
            c1_tx.send(0).unwrap();
            let mut x = c2_rx.recv().unwrap();
            let before = ALLOCS.load(Ordering::Relaxed);
            for _ in 1..ROUNDS {
                c1_tx.send(x).unwrap();
                goro::select! {
                    recv(c2_rx) -> v => x = v.unwrap(),
                    recv(never_a) -> _ => unreachable!(),
                }
            }
            let allocs = ALLOCS.load(Ordering::Relaxed) - before;
            echo.join().unwrap();
            assert_eq!(x, ROUNDS);
            allocs
        })
    });
    // About 2 * ROUNDS parking selects; a few allocations from the runtime's own threads are
    // allowed for.
    assert!(
        allocs < ROUNDS / 10,
        "{allocs} allocations in {ROUNDS} round trips through parking selects"
    );
}
