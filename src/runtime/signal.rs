//! Signals the runtime handles:
//! - SIGSEGV and SIGBUS, to turn a fault in a goroutine's guard page into
//!   `goroutine N stack overflow` instead of a bare crash;
//! - SIGURG (as Go uses it), sent by sysmon to preempt a goroutine by handoff.
//!
//! The handler runs on a per-M alternate signal stack (a goroutine that overflowed has no stack
//! left to run it on). Faults anywhere else go to the handler that was installed before ours
//! (std's, which reports overflows of ordinary threads' stacks), or to the default action.

use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering;
use std::sync::Once;

use linux_raw_sys::general::{
    MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, SA_ONSTACK, SA_RESTART, SA_RESTORER,
    SA_SIGINFO, SIGBUS, SIGSEGV, SIGURG, SS_DISABLE, kernel_sigaction, siginfo, stack_t,
};

use super::m::current_m;
use super::sys;
use crate::linux::arch::sigreturn_restorer;

/// Size of each M's signal stack.
const ALTSTACK: usize = 64 * 1024;

/// The actions that were installed before ours (SIGSEGV, SIGBUS, SIGURG), for signals that
/// are not ours. Written once, each before our handler for it is installed.
static mut PREVIOUS: [Option<kernel_sigaction>; 3] = [None, None, None];

/// Where a signal's previous action is kept in `PREVIOUS`.
fn previous_index(sig: u32) -> usize {
    match sig {
        SIGSEGV => 0,
        SIGBUS => 1,
        _ => 2,
    }
}
static INSTALL: Once = Once::new();

type SigactionFn = unsafe extern "C" fn(c_int, *mut siginfo, *mut c_void);

/// Per-thread setup of an M: the signal stack, and (once per process) the handlers. The
/// returned value restores the previous signal stack when the thread ends.
pub(crate) fn minit() -> AltStack {
    INSTALL.call_once(install);
    AltStack::new()
}

/// The signal sysmon sends to preempt (Go's choice: nothing else uses SIGURG in practice).
pub(crate) const PREEMPT_SIGNAL: u32 = SIGURG;

/// The process id, read once (the signal target's thread group).
pub(crate) fn pid() -> i32 {
    static PID: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *PID.get_or_init(|| std::process::id() as i32)
}

fn install() {
    for (sig, handler, flags) in [
        (PREEMPT_SIGNAL, on_preempt as SigactionFn, SA_RESTART),
        (SIGSEGV, on_fault, 0),
        (SIGBUS, on_fault, 0),
    ] {
        // Read the action in place first, so `PREVIOUS` is written before our handler can run.
        // SAFETY: a query (no new action) changes nothing.
        let old = unsafe { sys::rt_sigaction(sig, None) }.unwrap_or_else(|e| {
            super::throw(&["cannot read a signal action: ", e.message().unwrap_or("?")])
        });
        // SAFETY: written once, inside `call_once`, before our handler is installed just below;
        // the handlers only ever read it, by copy, after that.
        unsafe { PREVIOUS[previous_index(sig)] = Some(old) };
        install_handler(sig, handler, flags);
    }
}

/// Passes a signal that is not ours to the handler installed before ours. Returns `false` if
/// there was none to call (the default action, or ignore).
///
/// # Safety
/// Called from a signal handler with the arguments the kernel passed it.
unsafe fn forward(sig: c_int, info: *mut siginfo, ctx: *mut c_void) -> bool {
    // SAFETY: `PREVIOUS` was written before our handler was installed and never since.
    let prev = unsafe { PREVIOUS[previous_index(sig as u32)] };
    let Some(p) = prev else { return false };
    let Some(h) = p.sa_handler_kernel else {
        return false; // SIG_DFL
    };
    if h as usize == 1 {
        return false; // SIG_IGN
    }
    if p.sa_flags & SA_SIGINFO as u64 != 0 {
        // SAFETY: an SA_SIGINFO handler takes these three arguments.
        unsafe {
            let f: SigactionFn = core::mem::transmute(h);
            f(sig, info, ctx);
        }
    } else {
        // SAFETY: a plain handler takes the signal number.
        unsafe { h(sig) };
    }
    true
}

/// Installs `handler` for `sig`, to run on the signal stack.
fn install_handler(sig: u32, handler: SigactionFn, flags: u32) {
    // SAFETY: plain data; all-zero is valid.
    let mut act: kernel_sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel calls an SA_SIGINFO handler with three arguments; the field's
    // one-argument type is only how the header spells the pointer.
    act.sa_handler_kernel =
        Some(unsafe { core::mem::transmute::<SigactionFn, unsafe extern "C" fn(c_int)>(handler) });
    act.sa_flags = (SA_SIGINFO | SA_ONSTACK | SA_RESTORER | flags) as _;
    act.sa_restorer = Some(sigreturn_restorer);
    // SAFETY: both handlers touch only this thread's M and G with atomic operations, write to
    // standard error, abort, or pass the signal on; the restorer is rt_sigreturn.
    if let Err(e) = unsafe { sys::rt_sigaction(sig, Some(&act)) } {
        super::throw(&[
            "cannot install a signal handler: ",
            e.message().unwrap_or("?"),
        ]);
    }
}

/// Where the interrupted stack pointer is in the `ucontext_t` a handler receives on x86_64:
/// after `uc_flags` (8), `uc_link` (8) and `uc_stack` (24), `uc_mcontext.gregs[REG_RSP]` with
/// `REG_RSP` = 15 (the kernel's `struct sigcontext`: r8..r15, rdi, rsi, rbp, rbx, rdx, rax,
/// rcx, rsp).
const UC_RSP: usize = 40 + 15 * 8;

/// SIGURG from sysmon: if the goroutine on this thread is running its own code (not the
/// runtime's) on its own stack while its M holds a P, put it into the system-call state so
/// sysmon can retake the P.
///
/// A SIGURG that sysmon did not send (TCP urgent data, another program's `kill`) goes to the
/// handler installed before ours and preempts nothing.
unsafe extern "C" fn on_preempt(sig: c_int, info: *mut siginfo, ctx: *mut c_void) {
    let m = current_m();
    // SAFETY: this thread's M, alive with its runtime.
    let m = unsafe { m.as_ref() };
    // Acquire: pairs with `preemptone`'s Release.
    let Some(m) = m.filter(|m| m.preempt_sent.swap(false, Ordering::Acquire)) else {
        // SAFETY: the kernel's arguments, passed on.
        unsafe { forward(sig, info, ctx) };
        return;
    };
    // Whatever the goroutine was doing, a system call it was in returns EINTR because of us.
    m.sigeintr.store(true, Ordering::Relaxed);
    let gp = m.curg.load(Ordering::Relaxed);
    // SAFETY: the current goroutine of this thread, which the handler interrupted (or g0 ran
    // beside it); it cannot go away while its thread is in this handler.
    let Some(g) = (unsafe { gp.as_ref() }) else {
        return;
    };
    if g.status.load(Ordering::Relaxed) != super::g::GRUNNING
        || g.in_runtime.load(Ordering::Relaxed) != 0
        || m.p().is_null()
    {
        return;
    }
    // SAFETY: the kernel passes the interrupted context.
    let rsp = unsafe { *(ctx.cast::<u8>().add(UC_RSP).cast::<usize>()) };
    let (lo, hi) = (
        g.stack_lo.load(Ordering::Relaxed),
        g.stack_hi.load(Ordering::Relaxed),
    );
    let on_its_stack = lo != 0 && (lo + super::stack::PAGE..hi).contains(&rsp);
    if on_its_stack {
        // SAFETY: interrupted in its own code, with a P: the function's contract.
        unsafe { super::proc_syscall::entersyscall_preempted(m, g) };
    }
}

/// An M's alternate signal stack, and the one it replaced.
pub(crate) struct AltStack {
    base: *mut c_void,
    old: stack_t,
}

impl AltStack {
    fn new() -> AltStack {
        // SAFETY: a fresh anonymous mapping.
        let base = match unsafe {
            sys::mmap(
                ALTSTACK,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
            )
        } {
            Ok(p) => p,
            Err(e) => super::throw(&["cannot map a signal stack: ", e.message().unwrap_or("?")]),
        };
        let new = stack_t {
            ss_sp: base,
            ss_flags: 0,
            ss_size: ALTSTACK as _,
        };
        // SAFETY: the memory stays mapped until `drop`, which uninstalls it first.
        let old = unsafe { sys::sigaltstack(Some(&new)) }.unwrap_or(stack_t {
            ss_sp: core::ptr::null_mut(),
            ss_flags: SS_DISABLE as c_int,
            ss_size: 0,
        });
        AltStack { base, old }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: the old stack (std's, or none) is still valid: its owner frees it only after
        // this thread's own teardown; then ours is no longer in use and can go.
        unsafe {
            let _ = sys::sigaltstack(Some(&self.old));
            let _ = sys::munmap(self.base, ALTSTACK);
        }
    }
}

unsafe extern "C" fn on_fault(sig: c_int, info: *mut siginfo, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo; for SIGSEGV and SIGBUS its first union member
    // holds the faulting address (`si_addr`), at offset 16 on x86_64.
    let addr = unsafe { *(info.cast::<u8>().add(16).cast::<usize>()) };
    let m = current_m();
    if !m.is_null() {
        // SAFETY: this thread's M; its current goroutine, if any, is the one that faulted or is
        // suspended under g0, and lives while its thread is in this handler.
        if let Some(g) = unsafe { (*m).curg.load(Ordering::Relaxed).as_ref() } {
            let lo = g.stack_lo.load(Ordering::Relaxed);
            if (lo..lo + super::stack::PAGE).contains(&addr) && lo != 0 {
                let mut buf = [0u8; 20];
                let _ = sys::write(2, b"goroutine ");
                let _ = sys::write(2, super::decimal(g.goid, &mut buf));
                let _ = sys::write(2, b" stack overflow\n");
                std::process::abort();
            }
        }
    }
    // Not ours: hand the fault to whoever handled it before.
    // SAFETY: the kernel's arguments, passed on.
    if !unsafe { forward(sig, info, ctx) } {
        // SIG_DFL (or SIG_IGN, which the kernel overrides for a fault): restore the default
        // and return, so the fault happens again and takes the default action.
        // SAFETY: all-zero is SIG_DFL with no flags.
        let dfl: kernel_sigaction = unsafe { core::mem::zeroed() };
        // SAFETY: SIG_DFL needs no restorer.
        let _ = unsafe { sys::rt_sigaction(sig as u32, Some(&dfl)) };
    }
}
