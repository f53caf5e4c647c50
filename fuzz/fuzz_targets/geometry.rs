//! The geometry decoders of every object kind, fed the eight header words of
//! a segment found in /dev/shm. Whatever they accept must have a size and
//! survive an encode/decode round trip (checked inside `decode_geometry`);
//! whatever they refuse must be a clean `Corrupt`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit::Status;
use orbit::shm::ObjectKind;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let kind = [
        ObjectKind::Ring,
        ObjectKind::Bus,
        ObjectKind::Cache,
        ObjectKind::Fleet,
        ObjectKind::Contest,
    ][k as usize % 5];
    let mut raw = [0u64; 8];
    for (w, c) in raw.iter_mut().zip(rest.chunks(8)) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        *w = u64::from_le_bytes(b);
    }
    match orbit::fuzzing::decode_geometry(kind, &raw) {
        Ok(size) => assert!(size >= orbit::shm::HEADER_SIZE && size <= 1 << 41),
        Err(e) => assert_eq!(e.status(), Status::Corrupt, "{e}"),
    }
});
