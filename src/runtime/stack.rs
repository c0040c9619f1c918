//! Goroutine stacks: anonymous memory with a guard page below, handed out and taken back
//! through a bounded pool.
//!
//! A stack is mapped with `MAP_NORESERVE` and touched lazily, so a goroutine costs the pages it
//! uses (one or two for most) plus one kernel VMA for the stack and one for its guard page.
//! Linux allows `vm.max_map_count` (65530 by default) VMAs per process, which bounds the live
//! goroutines of a default configuration to about 32,000; raise the sysctl for more.
//! Goroutines that have not started yet hold no stack.

use core::ffi::c_void;
use std::sync::Mutex;

use linux_raw_sys::general::{
    MADV_DONTNEED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ,
    PROT_WRITE,
};

use super::sys;

/// The page size on x86_64 Linux.
pub(crate) const PAGE: usize = 4096;

/// The default usable size of a goroutine stack: 256 KiB of address space, of which only the
/// touched pages take memory.
pub(crate) const DEFAULT_STACK: usize = 256 * 1024;

/// One stack: `[base, base + PAGE)` is the guard page, `[base + PAGE, top)` the usable part.
#[derive(Debug)]
pub(crate) struct Stack {
    base: usize,
    len: usize,
    /// Valgrind's id for it (see `valgrind.rs`).
    vg_id: usize,
}

impl Stack {
    /// Maps a stack with `size` usable bytes (rounded up to pages) and its guard page.
    pub(crate) fn new(size: usize) -> Stack {
        let usable = size.div_ceil(PAGE).max(1) * PAGE;
        let len = usable + PAGE;
        // SAFETY: a fresh anonymous mapping; no MAP_FIXED.
        let base = unsafe {
            sys::mmap(
                len,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
            )
        };
        let base = match base {
            Ok(p) => p as usize,
            Err(e) => out_of_mappings("goroutine stack allocation failed: ", e),
        };
        // SAFETY: the first page of the mapping just made; nothing uses it.
        if let Err(e) = unsafe { sys::mprotect(base as *mut c_void, PAGE, PROT_NONE) } {
            out_of_mappings("goroutine stack guard page failed: ", e);
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

/// A stack could not be mapped: fatal, with the likely cause.
#[cold]
fn out_of_mappings(what: &str, e: crate::linux::errno::Errno) -> ! {
    super::throw(&[
        what,
        e.message().unwrap_or("?"),
        " (each started goroutine takes 2 of the process's vm.max_map_count mappings; raise \
         that sysctl for more)",
    ])
}

impl Drop for Stack {
    fn drop(&mut self) {
        super::valgrind::stack_deregister(self.vg_id);
        // SAFETY: the stack is owned, so no goroutine runs on it any more.
        let _ = unsafe { sys::munmap(self.base as *mut c_void, self.len) };
    }
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

    /// Takes a stack back; past the bound it is unmapped.
    pub(crate) fn put(&self, s: Stack) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.bound / 2 {
            free.push(s);
            return;
        }
        if free.len() < self.bound {
            // The upper half of the pool keeps address space, not memory: give the pages back.
            // SAFETY: the stack is owned and unused; its contents are dead.
            let _ = unsafe {
                sys::madvise((s.base + PAGE) as *mut c_void, s.len - PAGE, MADV_DONTNEED)
            };
            free.push(s);
            return;
        }
        drop(free);
        drop(s); // unmapped outside the lock
    }

    /// Frees every stack the pool holds.
    pub(crate) fn clear(&self) {
        let free = core::mem::take(&mut *self.free.lock().unwrap_or_else(|e| e.into_inner()));
        drop(free); // unmapped outside the lock
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
