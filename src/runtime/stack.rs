//! Goroutine stacks: slots carved out of large reserved regions, each with a guard page at its
//! low end, handed out and taken back through a bounded pool.
//!
//! A region is one anonymous `MAP_NORESERVE` mapping holding many slots, touched lazily, so a
//! goroutine costs the pages its stack uses (one or two for most). The guard page of a slot is
//! a guard marker (`MADV_GUARD_INSTALL`, Linux 6.13): a page-table entry that faults like a
//! `PROT_NONE` page but splits no VMA, so a million stacks take a few hundred kernel mappings
//! rather than two million (`vm.max_map_count` is 65530 by default). On an older kernel, or
//! with `GORO_STACK_GUARD=mprotect` in the environment, each guard page is `mprotect`ed as
//! before, which splits the region: two mappings per stack, about 32,000 stacks by default.
//!
//! Slots are never unmapped: a stack the runtime does not keep goes back to its region, where
//! its pages are given back (`MADV_DONTNEED`) with those of the next [`RELEASE_BATCH`] - 1
//! slots given back, in one call ([`sys::release_ranges`]), so RSS falls after a burst while
//! the address space (reserved, not committed) stays for the next one, as Go's heap arenas do.
//! One by one, each release cost a TLB shootdown of every CPU running a thread of the process
//! (up to ~18 us on a 2-core VM): in the `echo` workload at 1,000 connections, the release
//! calls took ~9 us of CPU per connection in the server and in the client, ~1 us batched
//! (perf). A slot waiting for its batch is handed out first, its pages still there. Guard
//! markers survive `MADV_DONTNEED`, so a slot's guard is installed once.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use linux_raw_sys::general::{
    MADV_GUARD_INSTALL, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ,
    PROT_WRITE, iovec,
};

use super::sys;
use crate::linux::errno::Errno;

/// The page size on x86_64 Linux.
pub(crate) const PAGE: usize = 4096;

/// The default usable size of a goroutine stack: 256 KiB of address space, of which only the
/// touched pages take memory.
pub(crate) const DEFAULT_STACK: usize = 256 * 1024;

/// The largest usable size of a goroutine stack (Go's `maxstacksize` on 64-bit systems). It
/// keeps the slot and region sizes computed from it far from overflowing: a region holds at
/// most 16 slots of this size.
pub(crate) const MAX_STACK: usize = 1 << 30;

/// One stack, a slot of a region: `[base, base + PAGE)` is the guard page, `[base + PAGE, top)`
/// the usable part.
#[derive(Debug)]
pub(crate) struct Stack {
    base: usize,
    len: usize,
    /// Valgrind's id for it (see `valgrind.rs`).
    vg_id: usize,
}

impl Stack {
    /// A stack with `size` usable bytes (rounded up to pages) and its guard page: a free slot
    /// of that size, or a new one.
    pub(crate) fn new(size: usize) -> Stack {
        let len = size.div_ceil(PAGE).max(1) * PAGE + PAGE;
        let (base, fresh) = lock_arena().take(len);
        if fresh {
            install_guard(base);
        }
        let vg_id = super::valgrind::stack_register(base + PAGE, base + len);
        Stack { base, len, vg_id }
    }

    /// The highest address (exclusive), 16-byte aligned.
    pub(crate) fn top(&self) -> usize {
        self.base + self.len
    }

    /// The guard page, `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.base, self.base + PAGE)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        super::valgrind::stack_deregister(self.vg_id);
        let mut batch = [0; RELEASE_BATCH];
        let full = lock_arena().put(self.base, self.len, &mut batch);
        if full {
            release(&batch, self.len);
            lock_arena().released(&batch, self.len);
        }
    }
}

/// Slots given back whose pages are released together (see the module doc): at most this many
/// per slot size wait with their pages in memory.
const RELEASE_BATCH: usize = 64;

/// Gives the usable pages of the slots at `bases`, of `len` bytes each, back to the kernel;
/// they read as zero when next touched.
fn release(bases: &[usize; RELEASE_BATCH], len: usize) {
    let ranges = bases.map(|base| iovec {
        iov_base: (base + PAGE) as *mut c_void,
        iov_len: (len - PAGE) as _,
    });
    // SAFETY: the slots are in no one's hands (out of both free lists until `released`), so
    // no goroutine runs on them; their contents are dead. The guard pages are outside the
    // ranges (and a marker would survive anyway).
    unsafe { sys::release_ranges(&ranges) };
}

fn lock_arena() -> std::sync::MutexGuard<'static, Arena> {
    ARENA.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every region of the process, by slot size. Process-wide rather than per runtime: a
/// goroutine left parked when its runtime is dropped keeps its stack (a channel may still
/// point into it), so slots outlive runtimes, and runtimes share the free ones.
static ARENA: Mutex<Arena> = Mutex::new(Arena {
    classes: Vec::new(),
});

struct Arena {
    classes: Vec<Class>,
}

/// The slots of one size.
struct Class {
    len: usize,
    /// Slots given back whose pages wait for the batch's release (fewer than `RELEASE_BATCH`).
    dirty: Vec<usize>,
    /// Slots given back with their pages released.
    free: Vec<usize>,
    /// The uncarved rest of the newest region, `[next, end)`.
    next: usize,
    end: usize,
    /// Slots in the next region: doubling from `FIRST_REGION_SLOTS`, up to `MAX_REGION` bytes.
    region_slots: usize,
}

const FIRST_REGION_SLOTS: usize = 16;
const MAX_REGION: usize = 1 << 30;

impl Arena {
    /// A slot of `len` bytes, and whether it is new (its guard not yet installed).
    fn take(&mut self, len: usize) -> (usize, bool) {
        let i = match self.classes.iter().position(|c| c.len == len) {
            Some(i) => i,
            None => {
                self.classes.push(Class {
                    len,
                    dirty: Vec::new(),
                    free: Vec::new(),
                    next: 0,
                    end: 0,
                    region_slots: FIRST_REGION_SLOTS,
                });
                self.classes.len() - 1
            }
        };
        let c = &mut self.classes[i];
        if let Some(base) = c.dirty.pop().or_else(|| c.free.pop()) {
            return (base, false);
        }
        if c.next == c.end {
            let slots = c.region_slots;
            // SAFETY: a fresh anonymous mapping; no MAP_FIXED.
            let region = unsafe {
                sys::mmap(
                    slots * len,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                )
            };
            let region = match region {
                Ok(p) => p as usize,
                Err(e) => out_of_mappings("goroutine stack allocation failed: ", e),
            };
            c.next = region;
            c.end = region + slots * len;
            c.region_slots = (slots * 2).min((MAX_REGION / len).max(1));
        }
        let base = c.next;
        c.next += len;
        (base, true)
    }

    /// Takes back the slot at `base`; true if that completes a batch, then moved into `batch`
    /// for the caller to release and hand to [`released`](Self::released).
    fn put(&mut self, base: usize, len: usize, batch: &mut [usize; RELEASE_BATCH]) -> bool {
        let Some(c) = self.classes.iter_mut().find(|c| c.len == len) else {
            return false;
        };
        c.dirty.push(base);
        if c.dirty.len() < RELEASE_BATCH {
            return false;
        }
        batch.copy_from_slice(&c.dirty);
        c.dirty.clear();
        true
    }

    /// Slots whose pages have been released, free for use.
    fn released(&mut self, batch: &[usize; RELEASE_BATCH], len: usize) {
        if let Some(c) = self.classes.iter_mut().find(|c| c.len == len) {
            c.free.extend_from_slice(batch);
        }
    }
}

/// How guard pages are made: decided with the first slot, for the life of the process.
static GUARD_KIND: AtomicU8 = AtomicU8::new(UNDECIDED);
const UNDECIDED: u8 = 0;
const MARKER: u8 = 1;
const PROTECT: u8 = 2;

/// Whether stack guards are guard markers (one mapping per region) rather than `mprotect`ed
/// pages (two mappings per stack).
pub(crate) fn guard_markers() -> bool {
    GUARD_KIND.load(Ordering::Relaxed) == MARKER
}

/// Makes the first page of the new slot at `base` its guard page.
fn install_guard(base: usize) {
    let mut kind = GUARD_KIND.load(Ordering::Relaxed);
    if kind == UNDECIDED {
        kind = if std::env::var_os("GORO_STACK_GUARD").is_some_and(|v| v == "mprotect") {
            PROTECT
        } else {
            MARKER
        };
    }
    if kind == MARKER {
        // SAFETY: the slot's first page, untouched and unused: nothing may access it.
        match unsafe { sys::madvise(base as *mut c_void, PAGE, MADV_GUARD_INSTALL) } {
            Ok(()) => {
                GUARD_KIND.store(MARKER, Ordering::Relaxed);
                return;
            }
            // Before Linux 6.13 the advice is unknown: fall back, once and for all.
            Err(Errno::EINVAL) => kind = PROTECT,
            Err(e) => out_of_mappings("goroutine stack guard failed: ", e),
        }
    }
    GUARD_KIND.store(kind, Ordering::Relaxed);
    // SAFETY: as above.
    if let Err(e) = unsafe { sys::mprotect(base as *mut c_void, PAGE, PROT_NONE) } {
        out_of_mappings("goroutine stack guard page failed: ", e);
    }
}

/// A stack could not be mapped: fatal, with the likely cause.
#[cold]
fn out_of_mappings(what: &str, e: Errno) -> ! {
    let hint = if guard_markers() {
        " (stacks take address space and memory only; check `ulimit -v` and free memory)"
    } else {
        " (each started goroutine takes 2 of the process's vm.max_map_count mappings on a \
         kernel without MADV_GUARD_INSTALL; raise that sysctl for more)"
    };
    super::throw(&[what, e.message().unwrap_or("?"), hint])
}

/// Stacks of one size kept for reuse, at most `bound` of them.
pub(crate) struct StackPool {
    size: usize,
    bound: usize,
    free: Mutex<Vec<Stack>>,
}

impl StackPool {
    pub(crate) fn new(size: usize, bound: usize) -> StackPool {
        StackPool {
            size,
            bound,
            free: Mutex::new(Vec::new()),
        }
    }

    /// A stack from the pool, or a new one.
    pub(crate) fn get(&self) -> Stack {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        reused.unwrap_or_else(|| Stack::new(self.size))
    }

    /// Takes a stack back; past the bound it goes back to its region.
    pub(crate) fn put(&self, s: Stack) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.bound {
            free.push(s);
            return;
        }
        drop(free);
        drop(s); // back to its region, outside the lock
    }

    /// Frees every stack the pool holds.
    pub(crate) fn clear(&self) {
        let free = core::mem::take(&mut *self.free.lock().unwrap_or_else(|e| e.into_inner()));
        drop(free); // back to their regions, outside the lock
    }

    /// How many stacks the pool holds now.
    pub(crate) fn len(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The most it holds.
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }
}

#[cfg(test)]
mod tests {
    use core::sync::atomic::Ordering;

    use super::PAGE;

    /// How many pages of `[lo, hi)` are in memory.
    fn resident(lo: usize, hi: usize) -> usize {
        let mut v = vec![0u8; (hi - lo) / PAGE];
        // SAFETY: `v` has a byte for each page of the range.
        unsafe { crate::syscall::mincore(lo, hi - lo, v.as_mut_ptr()) }.unwrap();
        v.iter().filter(|&&b| b & 1 != 0).count()
    }

    /// A stack given back keeps its pages, and is the next one handed out, until the
    /// `RELEASE_BATCH`th given back after it: then the whole batch's pages go in one call.
    #[test]
    fn stacks_given_back_are_released_a_batch_at_a_time() {
        use super::{RELEASE_BATCH, Stack};
        // A size no other test uses: its slots are this test's alone.
        let size = 3 * PAGE + 8;
        let touch = |s: &Stack| {
            // SAFETY: the top word of a stack nobody runs on: ours to write.
            unsafe { ((s.top() - 8) as *mut u64).write_volatile(1) };
            (s.guard().1, s.top())
        };
        let stacks: Vec<Stack> = (0..RELEASE_BATCH).map(|_| Stack::new(size)).collect();
        let ranges: Vec<(usize, usize)> = stacks.iter().map(touch).collect();
        let mut stacks = stacks.into_iter();
        for s in stacks.by_ref().take(RELEASE_BATCH - 1) {
            drop(s);
        }
        assert!(
            ranges.iter().all(|&(lo, hi)| resident(lo, hi) == 1),
            "released before the batch was complete"
        );
        let again = Stack::new(size);
        assert_eq!(
            (again.guard().1, again.top()),
            ranges[RELEASE_BATCH - 2],
            "the stack given back last is not handed out first"
        );
        drop(again);
        drop(stacks.next());
        for &(lo, hi) in &ranges {
            assert_eq!(resident(lo, hi), 0, "pages kept after the batch's release");
        }
    }

    /// The entry trampoline, the task's start and the way out (`goexit`, the switch to g0)
    /// fit in the top page of a stack: a goroutine that does next to nothing costs one page
    /// (two in a debug build, whose frames are larger).
    #[test]
    fn a_goroutine_that_returns_at_once_touches_one_page_of_its_stack() {
        // SAFETY: the goroutines keep no thread-local state across a switch.
        let rt = unsafe { crate::Runtime::builder().max_procs(1).build() };
        let (lo, hi) = rt.run(|| {
            crate::spawn(|| {
                let g = crate::runtime::proc::current_g().unwrap();
                // SAFETY: the running goroutine's own G.
                let g = unsafe { &*g };
                (
                    g.stack_lo.load(Ordering::Relaxed) + PAGE,
                    g.stack_hi.load(Ordering::Relaxed),
                )
            })
            .join()
            .unwrap()
        });
        // Its stack now waits in the P's cache, pages as the goroutine left them.
        let pages = resident(lo, hi);
        assert!(
            pages == 1 || (cfg!(debug_assertions) && pages == 2),
            "{pages} pages"
        );
        drop(rt);
    }
}
