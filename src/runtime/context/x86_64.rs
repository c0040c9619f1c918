//! The goroutine switch on x86_64: save the callee-saved state of one stack, load another's.
//!
//! A suspended stack holds, from its saved stack pointer up:
//!
//! ```text
//! sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
//! sp+8   r15, r14, r13, r12, rbx, rbp          (sp+8 .. sp+56)
//! sp+56  return address
//! ```
//!
//! Everything else the System V ABI lets a callee clobber, so a call to [`switch`] is, to the
//! compiler, an ordinary `extern "sysv64"` call. MXCSR and the x87 control word are per thread
//! in hardware but per goroutine here, because a goroutine may resume on another thread.

use core::arch::{asm, naked_asm};

/// Bytes [`switch`] keeps on a suspended stack.
const FRAME: usize = 64;

/// Saves the current state on the current stack, stores its stack pointer in `*save`, and
/// resumes the state saved at `load`. Returns when something switches back to `*save`.
///
/// # Safety
/// `load` is a stack pointer saved by `switch` (or made by [`prepare`]) whose stack is not
/// running anywhere else and stays mapped; `save` is valid for a write.
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn switch(save: *mut usize, load: usize) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Starts loading the memory at `addr` and the next cache line into the cache, for a G or a
/// suspended stack (`switch` reads two lines from its stack pointer) that will be touched
/// soon: misses on many such addresses then overlap instead of stalling one by one. A hint:
/// it reads nothing the program can see, and never faults, whatever the address.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    // SAFETY: `prefetcht0` changes no register, flag or memory, and does not fault.
    unsafe {
        asm!(
            "prefetcht0 [{0}]",
            "prefetcht0 [{0} + 64]",
            in(reg) addr,
            options(nostack, preserves_flags, readonly)
        );
    }
}

/// The first code a new stack runs: calls `entry(arg)` with `entry` in rbx and `arg` in r12,
/// on a 16-byte aligned stack. `entry` never returns.
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline() -> ! {
    naked_asm!("mov rdi, r12", "call rbx", "ud2")
}

/// Lays out a fresh stack whose top is `top` so that [`switch`] to the returned stack pointer
/// calls `entry(arg)` with the default floating-point environment.
///
/// # Safety
/// `[top - FRAME, top)` is writable memory of a stack nobody runs, and `top` is 16-byte
/// aligned.
pub(crate) unsafe fn prepare(
    top: usize,
    entry: unsafe extern "sysv64" fn(usize) -> !,
    arg: usize,
) -> usize {
    debug_assert_eq!(top % 16, 0);
    let sp = top - FRAME;
    let w = sp as *mut usize;
    // SAFETY: the caller's contract covers these eight words.
    unsafe {
        // MXCSR 0x1f80 (all exceptions masked, round to nearest), x87 control word 0x037f.
        w.write(0x1f80 | (0x037f << 32));
        w.add(1).write(0); // r15
        w.add(2).write(0); // r14
        w.add(3).write(0); // r13
        w.add(4).write(arg); // r12
        w.add(5).write(entry as *const () as usize); // rbx
        w.add(6).write(0); // rbp: ends frame-pointer walks
        w.add(7).write(trampoline as *const () as usize); // return address
    }
    sp
}
