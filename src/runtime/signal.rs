//! Signals the runtime handles: SIGSEGV and SIGBUS, to turn a fault in a goroutine's guard
//! page into `goroutine N stack overflow` instead of a bare crash.
//!
//! The handler runs on a per-M alternate signal stack (a goroutine that overflowed has no stack
//! left to run it on). Faults anywhere else go to the handler that was installed before ours
//! (std's, which reports overflows of ordinary threads' stacks), or to the default action.

use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering;
use std::sync::Once;

use linux_raw_sys::general::{
    MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, SA_ONSTACK, SA_RESTORER, SA_SIGINFO, SIGBUS,
    SIGSEGV, SS_DISABLE, kernel_sigaction, siginfo, stack_t,
};

use super::m::current_m;
use super::sys;
use crate::linux::arch::sigreturn_restorer;

/// Size of each M's signal stack.
const ALTSTACK: usize = 64 * 1024;

/// The actions that were installed before ours, for faults that are not ours. Written once,
/// before our handler is installed.
static mut PREVIOUS: [Option<kernel_sigaction>; 2] = [None, None];
static INSTALL: Once = Once::new();

type SigactionFn = unsafe extern "C" fn(c_int, *mut siginfo, *mut c_void);

/// Per-thread setup of an M: the signal stack, and (once per process) the handlers. The
/// returned value restores the previous signal stack when the thread ends.
pub(crate) fn minit() -> AltStack {
    INSTALL.call_once(install);
    AltStack::new()
}

fn install() {
    for (i, sig) in [SIGSEGV, SIGBUS].into_iter().enumerate() {
        // SAFETY: plain data; all-zero is valid.
        let mut act: kernel_sigaction = unsafe { core::mem::zeroed() };
        // SAFETY: the kernel calls an SA_SIGINFO handler with three arguments; the field's
        // one-argument type is only how the header spells the pointer.
        act.sa_handler_kernel = Some(unsafe {
            core::mem::transmute::<SigactionFn, unsafe extern "C" fn(c_int)>(on_fault)
        });
        act.sa_flags = (SA_SIGINFO | SA_ONSTACK | SA_RESTORER) as _;
        act.sa_restorer = Some(sigreturn_restorer);
        // SAFETY: the handler only reads this thread's M and writes to standard error before
        // aborting, or passes the fault on; the restorer is rt_sigreturn.
        match unsafe { sys::rt_sigaction(sig, Some(&act)) } {
            // SAFETY: written once, inside `call_once`, before any fault can reach `on_fault`
            // through our action.
            Ok(old) => unsafe { PREVIOUS[i] = Some(old) },
            Err(e) => super::throw(&[
                "cannot install the SIGSEGV handler: ",
                e.message().unwrap_or("?"),
            ]),
        }
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

/// Writes `n` in decimal into `buf`, returning the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
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
        // suspended under g0, and either way its stack does not change during the handler.
        unsafe {
            let gp = (*m).curg.load(Ordering::Relaxed);
            if !gp.is_null()
                && let Some(stack) = &(*gp).owned().stack
            {
                let (lo, hi) = stack.guard();
                if (lo..hi).contains(&addr) {
                    let mut buf = [0u8; 20];
                    let _ = sys::write(2, b"goroutine ");
                    let _ = sys::write(2, decimal((*gp).goid, &mut buf));
                    let _ = sys::write(2, b" stack overflow\n");
                    std::process::abort();
                }
            }
        }
    }
    // Not ours: hand the fault to whoever handled it before, or to the default action.
    let i = usize::from(sig as u32 != SIGSEGV);
    // SAFETY: `PREVIOUS` was written before our handler was installed and never since.
    let prev = unsafe { PREVIOUS[i] };
    match prev {
        Some(p) if p.sa_flags & SA_SIGINFO as u64 != 0 && p.sa_handler_kernel.is_some() => {
            // SAFETY: an SA_SIGINFO handler takes these three arguments.
            unsafe {
                let f: SigactionFn = core::mem::transmute(p.sa_handler_kernel);
                f(sig, info, ctx);
            }
        }
        _ => {
            // SIG_DFL (or a handler we cannot call the same way): restore the default and
            // return, so the fault happens again and takes the default action.
            // SAFETY: all-zero is SIG_DFL with no flags.
            let dfl: kernel_sigaction = unsafe { core::mem::zeroed() };
            // SAFETY: SIG_DFL needs no restorer.
            let _ = unsafe { sys::rt_sigaction(sig as u32, Some(&dfl)) };
        }
    }
}
