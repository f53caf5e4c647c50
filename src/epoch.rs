//! Time: `OrbitEpoch` (wall-clock milliseconds, what frames and members carry)
//! and a monotonic clock for bounded waits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit of every timestamp orbit stores
/// in shared memory (`joined_at_ms`, `last_heartbeat_ms`, expiries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OrbitEpoch(pub u64);

impl OrbitEpoch {
    /// The current wall-clock time in milliseconds.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        OrbitEpoch(ms)
    }

    /// The raw millisecond count.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds elapsed from `self` to `later` (0 if `later` is earlier).
    pub fn millis_until(self, later: OrbitEpoch) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

impl std::fmt::Display for OrbitEpoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC through the vDSO: no syscall).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// A deadline on the monotonic clock; `None` inside means "never".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<u64>);

impl Deadline {
    pub(crate) fn after(d: Duration) -> Self {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Deadline(monotonic_ns().checked_add(ns))
    }

    /// Nanoseconds left, 0 once passed; `u64::MAX` for a deadline that never comes.
    pub(crate) fn remaining_ns(&self) -> u64 {
        match self.0 {
            None => u64::MAX,
            Some(t) => t.saturating_sub(monotonic_ns()),
        }
    }

    pub(crate) fn passed(&self) -> bool {
        self.remaining_ns() == 0
    }
}
