//! Segment naming.
//!
//! A segment name is `/orbit:<uid>:<fleet>:<kind>:<name>`, so
//! `ls /dev/shm` shows `orbit:1000:payments:ring:events`. The fleet and object
//! names appear verbatim; `:` cannot occur in them, so the mapping from
//! (uid, fleet, kind, name) to a segment name is one-to-one and two users (two
//! uids) never share a name.

use std::ffi::CString;

use crate::error::{Error, Result};

/// Longest fleet or object name.
pub const MAX_NAME_LEN: usize = 48;

/// Checks a fleet or object name: `[A-Za-z0-9_.-]{1,48}`, and not `.`-only
/// path tricks (`.`, or anything containing `..`).
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "{what} name {:?} {why}",
            truncate(name)
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad(&format!("is longer than {MAX_NAME_LEN} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return bad(&format!("contains {c:?}; allowed are A-Z a-z 0-9 _ . -"));
    }
    if name == "." || name.contains("..") {
        return bad("may not be '.' or contain '..'");
    }
    Ok(())
}

/// Splits a fleet reference into (owner uid, bare fleet name).
///
/// Names are scoped by uid, so a bare name (`jobs`) means the fleet of the
/// current effective uid. A process of another user reaches a fleet its owner
/// opened to a group (mode 0660) as `<uid>:<fleet>` (`1001:jobs`), the way the
/// segment appears in `/dev/shm` (`orbit:1001:jobs:…`). Only the uid form is
/// accepted (no user names: resolving them would read `/etc/passwd` or NSS).
pub fn split_owner(fleet: &str) -> Result<(u32, &str)> {
    match fleet.split_once(':') {
        None => Ok((super::scan::current_uid(), fleet)),
        Some((uid, bare)) => {
            let uid = if !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()) {
                uid.parse::<u32>().ok()
            } else {
                None
            };
            match uid {
                Some(uid) => Ok((uid, bare)),
                None => Err(Error::InvalidArgument(format!(
                    "fleet name {:?}: the only ':' allowed is in '<uid>:<fleet>' \
                     (another user's fleet, uid in decimal)",
                    truncate(fleet)
                ))),
            }
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The kinds of object a segment can hold; the tag is part of the name and of
/// the header (`object_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ObjectKind {
    /// The membership table.
    Fleet = 1,
    /// A ring.
    Ring = 2,
    /// A cache.
    Cache = 3,
    /// An event bus.
    Bus = 4,
    /// A lease table.
    Contest = 5,
}

impl ObjectKind {
    /// The word used in segment names.
    pub fn tag(self) -> &'static str {
        match self {
            ObjectKind::Fleet => "fleet",
            ObjectKind::Ring => "ring",
            ObjectKind::Cache => "cache",
            ObjectKind::Bus => "bus",
            ObjectKind::Contest => "contest",
        }
    }

    /// The kind whose [`tag`](Self::tag) is `tag`, if any.
    pub fn from_tag(tag: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// Every kind, in `object_type` order.
    pub const ALL: [ObjectKind; 5] = [
        ObjectKind::Fleet,
        ObjectKind::Ring,
        ObjectKind::Cache,
        ObjectKind::Bus,
        ObjectKind::Contest,
    ];

    /// The kind for a header's `object_type`, if it is one.
    pub fn from_u32(v: u32) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| *k as u32 == v)
    }
}

/// A validated segment name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentName {
    c: CString,
}

impl SegmentName {
    /// The name of the segment for (owner uid, fleet, kind, name), where
    /// `fleet` is either a bare fleet name (owned by the current effective
    /// uid) or `<uid>:<fleet>`, the fleet of another user (see
    /// [`split_owner`]).
    pub fn new(fleet: &str, kind: ObjectKind, name: &str) -> Result<SegmentName> {
        let (uid, fleet) = split_owner(fleet)?;
        SegmentName::for_uid(uid, fleet, kind, name)
    }

    /// The name of the segment for an explicit uid.
    pub fn for_uid(uid: u32, fleet: &str, kind: ObjectKind, name: &str) -> Result<SegmentName> {
        validate_name("fleet", fleet)?;
        validate_name(kind.tag(), name)?;
        let s = format!("/orbit:{uid}:{fleet}:{}:{name}", kind.tag());
        let c = CString::new(s).map_err(|_| Error::InvalidArgument("name contains NUL".into()))?;
        Ok(SegmentName { c })
    }

    /// The name as passed to `shm_open` (with its leading `/`).
    pub fn as_cstr(&self) -> &std::ffi::CStr {
        &self.c
    }

    /// The name as shown to people (with its leading `/`).
    pub fn as_str(&self) -> &str {
        self.c.to_str().unwrap_or("?")
    }

    /// Where the segment appears in the file system on Linux.
    pub fn dev_shm_path(&self) -> String {
        format!("/dev/shm{}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["a", "orders-v2", "A_b.c-9", &"x".repeat(48)] {
            assert!(validate_name("t", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            "a..b",
            "a b",
            "a:b",
            "ä",
            "a\0b",
            &"x".repeat(49),
        ] {
            let e = validate_name("t", bad).unwrap_err();
            assert_eq!(e.status(), crate::Status::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn names_are_scoped_and_unambiguous() {
        let a = SegmentName::for_uid(1000, "f", ObjectKind::Ring, "r").unwrap();
        let b = SegmentName::for_uid(1001, "f", ObjectKind::Ring, "r").unwrap();
        let c = SegmentName::for_uid(1000, "f", ObjectKind::Cache, "r").unwrap();
        assert_eq!(a.as_str(), "/orbit:1000:f:ring:r");
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn another_users_fleet_is_named_by_uid() {
        // SAFETY: geteuid has no preconditions.
        let own = unsafe { libc::geteuid() };
        assert_eq!(split_owner("jobs").unwrap(), (own, "jobs"));
        assert_eq!(split_owner("1001:jobs").unwrap(), (1001, "jobs"));
        let n = SegmentName::new("1001:jobs", ObjectKind::Ring, "r").unwrap();
        assert_eq!(n.as_str(), "/orbit:1001:jobs:ring:r");
        for bad in [
            ":jobs",
            "x:jobs",
            "-1:jobs",
            "99999999999:jobs",
            "1:2:jobs",
            "1001:",
            "1001:a/b",
        ] {
            let e = SegmentName::new(bad, ObjectKind::Ring, "r").unwrap_err();
            assert_eq!(e.status(), crate::Status::InvalidArgument, "{bad}");
        }
    }
}
