//! The ground floor: the kernel's ABI, with no goroutines in sight.

pub(crate) mod arch;
pub(crate) mod errno;
pub(crate) mod vdso;
