//! The middle floor: the scheduler and what it needs from the kernel. It knows nothing of the
//! public wrappers in `syscall/`; both stand on `linux/`.

mod proc_syscall;
pub(crate) mod sys;

pub(crate) use proc_syscall::{entersyscall, exitsyscall};
