//! goro: Go's goroutine runtime and system-call design, for Rust on x86_64 Linux.
//!
//! This release holds the system-call layer ([`syscall`]): the entry points in inline
//! assembly with Go's errno convention, the vDSO, and typed wrappers declared once as blocking
//! or non-blocking. The scheduler that those declarations talk to comes next.

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("goro supports x86_64 Linux only");

mod linux;
mod runtime;
pub mod syscall;
