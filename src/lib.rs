//! # orbit — fleet-shared memory for the processes of one host
//!
//! Lock-free rings, a key/value cache, an event bus, fleet membership and
//! leases in POSIX shared memory, with a C ABI (`liborbit`, `include/orbit.h`)
//! so C, C++, Go, Python and Rust processes attach to the same segments.
//!
//! ```no_run
//! use orbit::{Fleet, FleetOptions, Ring, From};
//! let fleet = Fleet::join("payments", &FleetOptions::default())?;
//! let ring = Ring::open(&fleet, "events", None)?;
//! let id = ring.write(0, 1, b"hello")?;
//! let mut cursor = ring.cursor(From::Oldest);
//! let mut buf = [0u8; 1024];
//! while let Some(frame) = cursor.next_into(&mut buf)? {
//!     println!("{} {:?} lost={}", frame.id, &buf[..frame.len as usize], frame.lost);
//! }
//! # let _ = id;
//! # Ok::<(), orbit::Error>(())
//! ```

#![warn(missing_docs)]

#[cfg(not(loom))]
pub mod bus;
#[cfg(not(loom))]
pub mod cache;
#[cfg(not(loom))]
pub mod contest;
#[cfg(not(loom))]
pub mod epoch;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
pub mod ffi;
#[cfg(not(loom))]
pub mod fleet;
#[cfg(all(fuzzing, not(loom)))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(not(loom))]
pub mod id;
#[cfg(not(loom))]
pub mod ring;
#[cfg(not(loom))]
pub mod shm;
mod sync;

#[cfg(loom)]
#[path = "cache/protocol.rs"]
#[allow(missing_docs, dead_code)]
pub mod cache_protocol;

#[cfg(loom)]
#[path = "ring/protocol.rs"]
#[allow(missing_docs, dead_code)]
pub mod ring_protocol;

#[cfg(loom)]
#[path = "contest/protocol.rs"]
#[allow(missing_docs, dead_code)]
pub mod contest_protocol;

#[cfg(not(loom))]
pub use bus::{Bus, BusOptions, Event, EventInfo, EventRef, Subscription};
#[cfg(not(loom))]
pub use cache::{CacheOptions, CacheStats, EntryMeta, Keys, OrbitCache};
#[cfg(not(loom))]
pub use contest::{
    AuditAction, AuditRecord, Contest, ContestOptions, ContestStats, Holder, Lease, PrevHolder,
};
#[cfg(not(loom))]
pub use epoch::OrbitEpoch;
#[cfg(not(loom))]
pub use error::{Error, IoError, Result, Status};
#[cfg(not(loom))]
pub use fleet::{
    Fleet, FleetHeartbeatSnapshot, FleetOptions, HeartbeatState, Member, MemberState, NodeHeartbeat,
};
#[cfg(not(loom))]
pub use id::{NetId64, ParseNetId64Error};
#[cfg(not(loom))]
pub use ring::{
    Cursor, Frame, FrameInfo, From, OrbitTyped, Orbital, Ring, RingInfo, RingOptions, RingWriter,
};

/// The crate version (also `orbit_version()`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The C ABI version (also `orbit_abi_version()` and `ORBIT_ABI_VERSION`).
/// Bumped on any incompatible change of the C ABI.
pub const ABI_VERSION: u32 = 1;
