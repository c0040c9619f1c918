//! Switching between stacks: the scheduler's g0 and the goroutines (Go's `gogo` / `mcall`).

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{prefetch, prepare, switch};
