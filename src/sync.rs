//! The atomics facade: every atomic used by a shared-memory protocol comes from
//! here, so that `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked types.
//!
//! Under `cfg(loom)` the shared layouts are not mmap-compatible (loom atomics are
//! larger); loom models build them on the heap and exercise the same protocol
//! code. Layout assertions therefore only apply to the std build.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// One step of a spin-wait: a CPU pause hint normally, a scheduler yield under
/// loom (loom requires every spin loop to yield so it can explore other threads).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
