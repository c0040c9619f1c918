//! Telling Valgrind where goroutine stacks are (`VALGRIND_STACK_REGISTER`), so that memcheck
//! sees a goroutine switch as a change of stacks rather than a huge stack-pointer move, and
//! does not report every access to a suspended goroutine's frames. Outside Valgrind the client
//! request is a few register rotations that change nothing.

use core::arch::asm;

const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;

/// Valgrind's client request (`valgrind.h`, amd64): the rotations of `rdi` by 3, 13, 61 and
/// 51 bits (128 in all, so `rdi` is unchanged) followed by `xchg rbx, rbx` are the marker
/// Valgrind's JIT looks for; the request's words are at `rax`, the answer comes back in `rdx`
/// (`default` when not under Valgrind).
fn client_request(args: &[usize; 6], default: usize) -> usize {
    let result;
    // SAFETY: rotations of a register back to its own value and an exchange of a register
    // with itself; only the flags change. Valgrind reads `args` and writes only `rdx`.
    unsafe {
        asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") default => result,
            options(nostack, readonly),
        );
    }
    result
}

/// Registers the stack `[lo, hi)`; returns Valgrind's id for it (0 outside Valgrind).
pub(crate) fn stack_register(lo: usize, hi: usize) -> usize {
    client_request(&[STACK_REGISTER, lo, hi, 0, 0, 0], 0)
}

/// Forgets a stack registered as `id`.
pub(crate) fn stack_deregister(id: usize) {
    client_request(&[STACK_DEREGISTER, id, 0, 0, 0, 0], 0);
}
