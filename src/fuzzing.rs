//! Hooks for the fuzz targets in `fuzz/`: parsers of untrusted bytes that the
//! public API does not reach on their own. Compiled only with `--cfg fuzzing`
//! (set by the fuzz build, `make fuzz`); not part of the API.

use crate::error::Result;
use crate::shm::{ObjectKind, SegmentLayout};

/// Decodes the geometry words of a segment header as an attach of `kind`
/// does, and returns the segment size that geometry needs.
///
/// Panics (a fuzz finding) if an accepted geometry has no size, or does not
/// survive an encode/decode round trip: what attach accepts must be exactly
/// what a creator can write.
pub fn decode_geometry(kind: ObjectKind, raw: &[u64; 8]) -> Result<usize> {
    fn one<L: SegmentLayout>(raw: &[u64; 8]) -> Result<usize> {
        let g = L::decode(raw)?;
        let size = L::total_size(&g).expect("an accepted geometry has a size");
        let again = L::decode(&L::encode(&g)).expect("an encoded geometry decodes");
        assert_eq!(again, g, "geometry changed by encode/decode");
        Ok(size)
    }
    match kind {
        ObjectKind::Ring => one::<crate::ring::RingLayout<crate::ring::PlainRing>>(raw),
        ObjectKind::Bus => one::<crate::ring::RingLayout<crate::bus::BusObject>>(raw),
        ObjectKind::Cache => one::<crate::cache::CacheLayout>(raw),
        ObjectKind::Fleet => one::<crate::fleet::FleetLayout>(raw),
        ObjectKind::Contest => one::<crate::contest::ContestLayout>(raw),
    }
}

/// The layout version a segment of `kind` carries in its header.
pub fn layout_version(kind: ObjectKind) -> u32 {
    fn one<L: SegmentLayout>() -> u32 {
        L::LAYOUT_VERSION
    }
    match kind {
        ObjectKind::Ring => one::<crate::ring::RingLayout<crate::ring::PlainRing>>(),
        ObjectKind::Bus => one::<crate::ring::RingLayout<crate::bus::BusObject>>(),
        ObjectKind::Cache => one::<crate::cache::CacheLayout>(),
        ObjectKind::Fleet => one::<crate::fleet::FleetLayout>(),
        ObjectKind::Contest => one::<crate::contest::ContestLayout>(),
    }
}
