//! `NetId64`: the 64-bit identifier every ring frame carries.
//!
//! Layout `[KIND:8][NODE:16][COUNTER:40]` (most significant first): KIND is the
//! ring's kind byte, NODE the writer's fleet node id, COUNTER the low 40 bits of
//! the frame's ring position. Display is `kind:node:counter`; parsing accepts
//! that form or `0x<hex>`.

use std::fmt;
use std::str::FromStr;

/// A frame identifier: `[KIND:8][NODE:16][COUNTER:40]`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct NetId64(pub u64);

/// Bits of the COUNTER field.
pub const COUNTER_BITS: u32 = 40;
/// Mask of the COUNTER field.
pub const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

impl NetId64 {
    /// Builds an id; `counter` is truncated to its low 40 bits.
    pub const fn make(kind: u8, node: u16, counter: u64) -> Self {
        NetId64(((kind as u64) << 56) | ((node as u64) << COUNTER_BITS) | (counter & COUNTER_MASK))
    }
    /// The KIND byte.
    pub const fn kind(self) -> u8 {
        (self.0 >> 56) as u8
    }
    /// The writer's node id.
    pub const fn node(self) -> u16 {
        (self.0 >> COUNTER_BITS) as u16
    }
    /// The low 40 bits of the ring position.
    pub const fn counter(self) -> u64 {
        self.0 & COUNTER_MASK
    }
    /// The raw 64-bit value.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NetId64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind(), self.node(), self.counter())
    }
}

impl fmt::Debug for NetId64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetId64({self})")
    }
}

/// Why a string is not a `NetId64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid NetId64 {input:?}: expected kind:node:counter or 0x<hex>")]
pub struct ParseNetId64Error {
    input: String,
}

impl FromStr for NetId64 {
    type Err = ParseNetId64Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNetId64Error {
            input: s.chars().take(64).collect(),
        };
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            if hex.is_empty() || hex.len() > 16 {
                return Err(err());
            }
            return u64::from_str_radix(hex, 16).map(NetId64).map_err(|_| err());
        }
        let mut parts = s.split(':');
        let (Some(k), Some(n), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(k) && digits(n) && digits(c)) {
            return Err(err());
        }
        let kind: u8 = k.parse().map_err(|_| err())?;
        let node: u16 = n.parse().map_err(|_| err())?;
        let counter: u64 = c.parse().map_err(|_| err())?;
        if counter > COUNTER_MASK {
            return Err(err());
        }
        Ok(NetId64::make(kind, node, counter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let id = NetId64::make(220, 513, (1 << 40) + 77);
        assert_eq!((id.kind(), id.node(), id.counter()), (220, 513, 77));
        assert_eq!(id.to_string(), "220:513:77");
        assert_eq!("220:513:77".parse::<NetId64>(), Ok(id));
        assert_eq!(format!("0x{:x}", id.0).parse::<NetId64>(), Ok(id));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1:2",
            "1:2:3:4",
            "256:0:0",
            "0:65536:0",
            "0:0:1099511627776",
            "0x",
            "0xg",
            "a:b:c",
            "-1:0:0",
            "+1:0:0",
            "0x11112222333344445",
        ] {
            assert!(bad.parse::<NetId64>().is_err(), "{bad} parsed");
        }
    }
}
