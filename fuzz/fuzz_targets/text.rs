//! Strings from outside: NetId64 text, fleet/object names (also as C strings
//! through the C ABI), bus topics, and audit records decoded from frames.
#![no_main]

use std::ffi::CString;

use libfuzzer_sys::fuzz_target;
use orbit::shm::{ObjectKind, SegmentName, validate_name};
use orbit::{AuditRecord, Frame, FrameInfo, NetId64, Status};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(id) = s.parse::<NetId64>() {
                // What parses prints back to something that parses the same.
                assert_eq!(id.to_string().parse::<NetId64>(), Ok(id));
                assert_eq!(format!("{:#x}", id.0).parse::<NetId64>(), Ok(id));
            }
        }
        1 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let ok = validate_name("fuzz", s).is_ok();
            if ok {
                assert!(s.len() <= 48 && !s.contains(['/', ':', '\0']) && !s.contains(".."));
            }
            // A fleet reference is a valid name, or `<uid>:<valid name>`
            // (another user's fleet), and names exactly that segment.
            let owned = match s.split_once(':') {
                Some((uid, bare)) => uid
                    .parse::<u32>()
                    .ok()
                    .filter(|_| uid.bytes().all(|b| b.is_ascii_digit()))
                    .filter(|_| validate_name("fuzz", bare).is_ok())
                    .map(|uid| (uid, bare)),
                None => None,
            };
            match SegmentName::new(s, ObjectKind::Ring, "r") {
                Ok(n) if ok => assert!(n.as_str().ends_with(&format!(":{s}:ring:r"))),
                Ok(n) => {
                    let (uid, bare) = owned.expect("only <uid>:<name> besides plain names");
                    assert_eq!(n.as_str(), format!("/orbit:{uid}:{bare}:ring:r"));
                }
                Err(_) => assert!(!ok && owned.is_none(), "{s:?} refused"),
            }
            assert!(
                orbit::bus::validate_topic(s).is_ok()
                    == (!s.is_empty() && s.len() <= 255 && !s.contains('\0'))
            );
        }
        2 => {
            // A fleet name as C passes it: any bytes up to a NUL. Observing
            // only reads; the status is INVALID_ARGUMENT, NOT_EXIST or OK.
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            let c = CString::new(&rest[..end]).unwrap();
            let mut out = std::ptr::null_mut();
            let st = orbit::ffi::orbit_fleet_observe(c.as_ptr(), &mut out);
            assert!(
                matches!(
                    st,
                    Status::InvalidArgument | Status::NotExist | Status::Ok | Status::Permission
                ),
                "status {st:?}"
            );
            assert_eq!(st == Status::Ok, !out.is_null());
            orbit::ffi::orbit_fleet_free(out);
        }
        _ => {
            // An audit record: frame kind, id and payload all from outside.
            if rest.len() < 9 {
                return;
            }
            let frame = Frame {
                info: FrameInfo {
                    id: NetId64(u64::from_le_bytes(rest[..8].try_into().unwrap())),
                    ver: 0,
                    kind: rest[8],
                    len: (rest.len() - 9) as u32,
                    lost: 0,
                },
                payload: rest[9..].to_vec(),
            };
            if let Some(r) = AuditRecord::decode(&frame) {
                assert!(r.subject.len() <= 255);
            }
        }
    }
});
