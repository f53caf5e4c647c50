//! Typed conveniences over a ring: `OrbitTyped` (a type's stable KIND byte)
//! and `Orbital<T>` (a plain-old-data value kept as a ring's latest frame).

use std::marker::PhantomData;

use super::{Ring, RingOptions};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::id::NetId64;

/// A type with a stable KIND byte, used as the kind of the ring that carries it.
pub trait OrbitTyped {
    /// The type's KIND byte (stable across versions and languages).
    const KIND: u8;
}

/// A plain-old-data value shared through a ring: `store` appends it as a frame,
/// `load` returns the newest one. Payloads are read byte-wise, so no alignment
/// is assumed.
///
/// `T` must be `Copy` and valid for every bit pattern of its size (integers,
/// arrays of them, `#[repr(C)]` structs of them without padding).
pub struct Orbital<T: Copy + OrbitTyped> {
    ring: Ring,
    _t: PhantomData<T>,
}

impl<T: Copy + OrbitTyped> Orbital<T> {
    /// Opens (or creates) the ring `name` sized for `T`.
    ///
    /// # Safety
    /// Every bit pattern of `size_of::<T>()` bytes must be a valid `T`.
    pub unsafe fn open(fleet: &Fleet, name: &str, capacity: u64) -> Result<Self> {
        let size = u32::try_from(std::mem::size_of::<T>().max(1))
            .map_err(|_| Error::InvalidArgument("type too large".into()))?;
        let ring = Ring::open(
            fleet,
            name,
            Some(&RingOptions {
                capacity,
                max_payload: size,
                kind: T::KIND,
                ..RingOptions::default()
            }),
        )?;
        Ok(Orbital {
            ring,
            _t: PhantomData,
        })
    }

    /// Appends `value` as the newest frame.
    pub fn store(&self, value: &T, ver: u64) -> Result<NetId64> {
        // SAFETY: T is Copy (no drop glue); we only view its bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
        };
        self.ring.write(0, ver, bytes)
    }

    /// The newest value and its version, if one was stored.
    pub fn load(&self) -> Result<Option<(T, u64)>> {
        let Some(frame) = self.ring.read_head()? else {
            return Ok(None);
        };
        if frame.payload.len() != std::mem::size_of::<T>() {
            return Err(Error::Corrupt(format!(
                "frame of {} bytes in a ring of {}-byte values",
                frame.payload.len(),
                std::mem::size_of::<T>()
            )));
        }
        // SAFETY: the payload has exactly size_of::<T>() bytes, read_unaligned
        // needs no alignment, and `open`'s contract makes every bit pattern valid.
        let v = unsafe { std::ptr::read_unaligned(frame.payload.as_ptr().cast::<T>()) };
        Ok(Some((v, frame.info.ver)))
    }

    /// The underlying ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}
