//! Branch hints that build on the crate's MSRV (`core::hint::cold_path` is stable only since
//! Rust 1.95).

/// Marks the branch that calls it as unlikely: the optimiser lays it out of the hot path.
///
/// A call to an empty `#[cold]` function has the effect of `core::hint::cold_path()`: once it
/// is inlined, LLVM keeps the cold mark on the block that held the call.
#[cold]
#[inline(always)]
pub(crate) fn cold_path() {}
