//! The `syscall` instruction on x86_64, and nothing else.
//!
//! Kernel ABI (see syscall(2)): the number goes in `rax`, arguments in `rdi`, `rsi`, `rdx`,
//! `r10`, `r8`, `r9`; the result comes back in `rax`. The instruction itself overwrites `rcx`
//! (return address) and `r11` (saved rflags); the kernel preserves every other register,
//! including `rdx`, which Go reports as the call's second result.
//!
//! None of these functions interprets the result: a value in `[-4095, -1]` is a negated errno and
//! the callers above decide what to do with it. Every function is `unsafe` because a system call
//! can do anything (write through a pointer argument, unmap memory, end the process); the caller
//! owns that contract. Variants named `_readonly` promise the compiler that the call writes no
//! memory of this process.

use core::arch::asm;

/// A system call with no arguments that writes no memory (`getpid`, `gettid`).
///
/// # Safety
/// `nr` with no arguments must not write memory of this process.
#[inline]
pub unsafe fn syscall0_readonly(nr: usize) -> usize {
    let r;
    // SAFETY: the caller vouches for the call; the registers named are all the instruction
    // touches.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags, readonly));
    }
    r
}

/// A system call with one argument.
///
/// # Safety
/// Whatever system call `nr` requires of `a1`.
#[inline]
pub unsafe fn syscall1(nr: usize, a1: usize) -> usize {
    let r;
    // SAFETY: as for `syscall0_readonly`, without the read-only promise.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// A system call with one argument that does not return (`exit`, `exit_group`).
///
/// # Safety
/// `nr` must be a call that ends the thread or the process.
#[inline]
pub unsafe fn syscall1_noreturn(nr: usize, a1: usize) -> ! {
    // SAFETY: the caller vouches that the call does not return.
    unsafe { asm!("syscall", in("rax") nr, in("rdi") a1, options(nostack, noreturn)) }
}

/// A system call with two arguments.
///
/// # Safety
/// Whatever system call `nr` requires of its arguments.
#[inline]
pub unsafe fn syscall2(nr: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: as for `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// A system call with three arguments.
///
/// # Safety
/// Whatever system call `nr` requires of its arguments.
#[inline]
pub unsafe fn syscall3(nr: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: as for `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// A system call with four arguments.
///
/// # Safety
/// Whatever system call `nr` requires of its arguments.
#[inline]
pub unsafe fn syscall4(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r;
    // SAFETY: as for `syscall1`.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    r
}

/// A system call with three arguments, returning `rax` and `rdx` (Go's `r1`, `r2`).
///
/// The code after the instruction starts on a 64-byte boundary (`.p2align 6`: up to 63 bytes
/// of no-ops, a few long ones of which run on the way back). Where it otherwise fell is up to
/// the caller's layout, and it showed: a `getpid` loop whose code after the instruction began a
/// cache line ran 3-5 ns faster than one whose code began 32 bytes into it (`raw_syscall` 84.5
/// -> 80.8 ns in three builds of a fresh program; `examples/pair`'s `syscall` loop 97.5 -> 92.1
/// ns). Aligned to 32 bytes only, as this was first, half the builds still lost it.
///
/// # Safety
/// Whatever system call `nr` requires of its arguments.
#[inline]
pub unsafe fn syscall3_pair(nr: usize, a1: usize, a2: usize, a3: usize) -> (usize, usize) {
    let (r1, r2);
    // SAFETY: as for `syscall1`; `rdx` is an input the kernel preserves, read back as `r2`.
    unsafe {
        asm!("syscall", ".p2align 6", inlateout("rax") nr => r1, in("rdi") a1, in("rsi") a2,
             inlateout("rdx") a3 => r2, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    (r1, r2)
}

/// A system call with six arguments, returning `rax` and `rdx` (Go's `r1`, `r2`), aligned
/// after the instruction as [`syscall3_pair`] is.
///
/// # Safety
/// Whatever system call `nr` requires of its arguments.
#[inline]
#[allow(clippy::too_many_arguments)]
pub unsafe fn syscall6_pair(
    nr: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> (usize, usize) {
    let (r1, r2);
    // SAFETY: as for `syscall3_pair`.
    unsafe {
        asm!("syscall", ".p2align 6", inlateout("rax") nr => r1, in("rdi") a1, in("rsi") a2,
             inlateout("rdx") a3 => r2, in("r10") a4, in("r8") a5, in("r9") a6,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    (r1, r2)
}

/// The signal-return trampoline the kernel jumps to when a handler installed with
/// `SA_RESTORER` returns: `rt_sigreturn`, which restores the interrupted context.
///
/// # Safety
/// Only the kernel calls it, as a handler's return address.
#[unsafe(naked)]
pub unsafe extern "C" fn sigreturn_restorer() {
    core::arch::naked_asm!("mov eax, 15", "syscall", "ud2")
}
