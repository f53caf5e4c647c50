//! Damaged and foreign segments of every object kind, made by writing bytes
//! into the files in /dev/shm by hand. tests/segments.rs does this for rings
//! and fleet tables (headers, truncation, half-initialised files); here the
//! same refusals are checked for caches, buses and lease tables, and then the
//! bodies: a slot or entry with an impossible length, a bus frame whose topic
//! runs past the frame, audit and heartbeat records of garbage. Each is
//! refused (`CORRUPT` / `INCOMPATIBLE`) or isolated (skipped, counted), never
//! a crash or a read out of bounds.
//!
//! Layouts: the common header in src/shm/mod.rs (magic @0, layout_version
//! u32 @8, object_type u32 @12, total_size u64 @16, geometry u64[8] @40); ring
//! and bus bodies in src/ring/mod.rs (control 192 bytes, then slots: seq,
//! owner, id, ver, meta = len:32 | kind:8 << 32, payload); the cache body in
//! src/cache/protocol.rs; the audit record in src/contest/mod.rs.

mod common;

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::Duration;

use common::{XorShift, unique_fleet};
use orbit::shm::{HEADER_SIZE, MAGIC, ObjectKind, SegmentName};
use orbit::{
    AuditRecord, Bus, BusOptions, CacheOptions, Contest, Fleet, FleetOptions, From, OrbitCache,
    Ring, RingOptions, Status,
};

fn path(fleet: &str, kind: ObjectKind, name: &str) -> String {
    SegmentName::new(fleet, kind, name).unwrap().dev_shm_path()
}

fn write_file(path: &str, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all_at(bytes, 0).unwrap();
}

fn poke(path: &str, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

struct Setup {
    fleet: String,
    member: Fleet,
    observer: Fleet,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let fleet = unique_fleet(tag);
        let member = Fleet::join(&fleet, &FleetOptions::default()).unwrap();
        let observer = Fleet::observe(&fleet).unwrap();
        Setup {
            fleet,
            member,
            observer,
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for n in ["x", "r"] {
            let _ = Ring::unlink(&self.fleet, n);
            let _ = OrbitCache::unlink(&self.fleet, n);
            let _ = Bus::unlink(&self.fleet, n);
        }
        let _ = Contest::unlink(&self.fleet);
        let _ = orbit::fleet::unlink(&self.fleet);
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Cache,
    Bus,
    Contest,
}

impl Kind {
    fn object(self) -> ObjectKind {
        match self {
            Kind::Cache => ObjectKind::Cache,
            Kind::Bus => ObjectKind::Bus,
            Kind::Contest => ObjectKind::Contest,
        }
    }

    fn path(self, s: &Setup) -> String {
        match self {
            Kind::Contest => path(&s.fleet, ObjectKind::Contest, "leases"),
            k => path(&s.fleet, k.object(), "x"),
        }
    }

    /// Opening through `f` (defaults), and a use when it opens.
    fn open(self, f: &Fleet) -> Status {
        let r = match self {
            Kind::Cache => OrbitCache::open(f, "x", None).map(|c| {
                let _ = c.get(b"k").unwrap();
            }),
            Kind::Bus => Bus::open(f, "x", None).map(|b| {
                let mut s = b.subscribe(None, From::Oldest).unwrap();
                while s.next_event().unwrap().is_some() {}
            }),
            Kind::Contest => Contest::open(f, None).map(|c| {
                let _ = c.holder("job").unwrap();
            }),
        };
        match r {
            Ok(()) => Status::Ok,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                e.status()
            }
        }
    }

    fn statuses(self, s: &Setup) -> [Status; 2] {
        [self.open(&s.member), self.open(&s.observer)]
    }

    /// Creates the object with the library and returns its file's bytes.
    fn real(self, s: &Setup) -> Vec<u8> {
        match self {
            Kind::Cache => {
                let c = OrbitCache::open(
                    &s.member,
                    "x",
                    Some(&CacheOptions {
                        capacity: 64,
                        max_key: 16,
                        max_value: 64,
                        mode: 0,
                    }),
                )
                .unwrap();
                c.set(b"k", b"value", 0).unwrap();
            }
            Kind::Bus => {
                let b = Bus::open(&s.member, "x", None).unwrap();
                b.publish("t", b"event").unwrap();
            }
            Kind::Contest => {
                let c = Contest::open(&s.member, None).unwrap();
                c.claim("job", Duration::from_secs(60))
                    .unwrap()
                    .release()
                    .unwrap();
            }
        }
        std::fs::read(self.path(s)).unwrap()
    }
}

/// Random bytes, truncation, another layout version or object type, a header
/// that claims more memory than the file holds: for caches, buses and lease
/// tables (rings and fleet tables: tests/segments.rs).
#[test]
fn foreign_truncated_and_oversized_headers_of_every_kind() {
    let s = Setup::new("dmg-hdr");
    let mut rng = XorShift::new(0xD4A6E);
    for kind in [Kind::Cache, Kind::Bus, Kind::Contest] {
        let bytes = kind.real(&s);
        let p = kind.path(&s);
        let total = bytes.len();
        assert_eq!(u64_at(&bytes, 16), total as u64);
        // Random bytes (never a zero first word: that is "being initialised").
        for _ in 0..10 {
            let mut junk = vec![0u8; rng.range(HEADER_SIZE as u64, 20_000) as usize];
            rng.fill(&mut junk);
            if u64_at(&junk, 0) == 0 || u64_at(&junk, 0) == MAGIC {
                junk[0] = 1;
            }
            write_file(&p, &junk);
            assert_eq!(
                kind.statuses(&s),
                [Status::Incompatible; 2],
                "{kind:?} junk"
            );
        }
        // Truncated.
        for len in [total - 1, total / 2, HEADER_SIZE + 1, HEADER_SIZE - 1, 9] {
            write_file(&p, &bytes[..len]);
            assert_eq!(
                kind.statuses(&s),
                [Status::Corrupt; 2],
                "{kind:?} cut to {len}"
            );
        }
        // Another layout version, another object type.
        // (Layouts 2, 3 and 5 are no kind's: rings and buses are at 4,
        // the others at 1.)
        for (at, v) in [
            (8u64, 2u32),
            (8, 3),
            (8, 5),
            (8, u32::MAX),
            (12, 2),
            (12, 1),
            (12, 99),
        ] {
            write_file(&p, &bytes);
            poke(&p, at, &v.to_le_bytes());
            assert_eq!(
                kind.statuses(&s),
                [Status::Incompatible; 2],
                "{kind:?}: word @{at} = {v}"
            );
        }
        // A header claiming more memory than the file holds: the size word,
        // or a doubled capacity with a size word to match.
        write_file(&p, &bytes);
        poke(&p, 16, &(total as u64 + 4096).to_le_bytes());
        assert_eq!(kind.statuses(&s), [Status::Corrupt; 2], "{kind:?} size");
        write_file(&p, &bytes);
        let cap = u64_at(&bytes, 40);
        poke(&p, 40, &(cap * 2).to_le_bytes());
        let bigger = match kind {
            Kind::Contest => total as u64 + cap * 192,
            _ => {
                // Let the library say what size the doubled geometry needs.
                let mut g = [0u64; 8];
                for (i, w) in g.iter_mut().enumerate() {
                    *w = u64_at(&bytes, 40 + 8 * i);
                }
                g[0] *= 2;
                if let Kind::Cache = kind {
                    g[5] = (g[0] / 2).max(1); // buckets follow the capacity
                    poke(&p, 40 + 5 * 8, &g[5].to_le_bytes());
                }
                let stride = g[if let Kind::Cache = kind { 4 } else { 3 }];
                total as u64
                    + cap * stride
                    + match kind {
                        Kind::Cache => (g[5] - cap / 2) * 64,
                        // A bus (a ring body): one more owner word per new slot.
                        Kind::Bus => (2 * cap * 8).div_ceil(64) * 64 - (cap * 8).div_ceil(64) * 64,
                        _ => 0,
                    }
            }
        };
        poke(&p, 16, &bigger.to_le_bytes());
        assert_eq!(
            kind.statuses(&s),
            [Status::Corrupt; 2],
            "{kind:?}: capacity {} in a file for {cap}",
            cap * 2
        );
        // The untouched bytes open fine again.
        write_file(&p, &bytes);
        assert_eq!(kind.statuses(&s), [Status::Ok; 2], "{kind:?} restored");
    }
}

/// Opening a segment of one kind under another kind's name: INCOMPATIBLE,
/// for every pair of the kinds with bodies of their own.
#[test]
fn every_kind_under_every_other_name_is_incompatible() {
    let s = Setup::new("dmg-kind");
    let kinds = [Kind::Cache, Kind::Bus, Kind::Contest];
    let files: Vec<Vec<u8>> = kinds.iter().map(|k| k.real(&s)).collect();
    let ring = {
        Ring::open(&s.member, "x", None).unwrap();
        std::fs::read(path(&s.fleet, ObjectKind::Ring, "x")).unwrap()
    };
    for (i, k) in kinds.iter().enumerate() {
        for (j, f) in files.iter().chain([&ring]).enumerate() {
            if i == j {
                continue;
            }
            write_file(&k.path(&s), f);
            assert_eq!(k.statuses(&s), [Status::Incompatible; 2], "{j} as {k:?}");
        }
        write_file(&k.path(&s), &files[i]);
    }
}

// ---------------------------------------------------------------------------
// Bodies

use common::ring_layout::{SLOT_HEADER, SLOT_META};

fn slot_at(ring: &Ring, pos: u64) -> u64 {
    let info = ring.info();
    common::ring_layout::slot(info.capacity, info.slot_stride as u64, pos)
}

/// A committed ring slot whose length word says more than `max_payload`:
/// cursors skip it (counted lost), reads by id and of the head do not return
/// it, and nothing is read past the slot.
#[test]
fn ring_slot_with_impossible_length_is_skipped() {
    let s = Setup::new("dmg-slot");
    let ring = Ring::open(
        &s.member,
        "r",
        Some(&RingOptions {
            capacity: 8,
            max_payload: 64,
            kind: 3,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();
    let ids: Vec<_> = (0..4u64)
        .map(|i| ring.write(1, i, &[i as u8; 64]).unwrap())
        .collect();
    let p = path(&s.fleet, ObjectKind::Ring, "r");
    let mut buf = vec![0u8; 64];
    for bad_len in [65u64, 0xFFFF_FFFF, 1 << 20] {
        for pos in [1u64, 3] {
            poke(
                &p,
                slot_at(&ring, pos) + SLOT_META,
                &(bad_len | 1 << 32).to_le_bytes(),
            );
        }
        for f in [&s.member, &s.observer] {
            let r = Ring::open(f, "r", None).unwrap();
            let mut c = r.cursor(From::Oldest);
            let got: Vec<(u64, u64)> = std::iter::from_fn(|| c.next_into(&mut buf).unwrap())
                .map(|i| (i.ver, i.lost))
                .collect();
            assert_eq!(got, [(0, 0), (2, 1)], "len {bad_len}");
            assert_eq!(c.lost(), 2);
            assert_eq!(
                r.read(ids[1], &mut buf).unwrap_err().status(),
                Status::NotFound
            );
            assert_eq!(r.read(ids[2], &mut buf).unwrap().len, 64);
            // The newest frame is damaged: read_head returns the one before.
            assert_eq!(r.read_head().unwrap().unwrap().info.ver, 2);
        }
    }
    // Writers lap over the damaged slots and everything is whole again.
    for i in 4..12u64 {
        ring.write(1, i, &[i as u8; 64]).unwrap();
    }
    let mut c = ring.cursor(From::Oldest);
    let vers: Vec<u64> = std::iter::from_fn(|| c.next_into(&mut buf).unwrap())
        .map(|i| i.ver)
        .collect();
    assert_eq!(vers, (4..12).collect::<Vec<_>>());
}

/// Where the cache's entry for log position `pos` starts (src/cache/protocol.rs).
fn cache_entry_at(file: &[u8], pos: u64) -> u64 {
    let g = |i: usize| u64_at(file, 40 + 8 * i);
    let (capacity, lines, stride, buckets) = (g(0), g(3), g(4), g(5));
    let log_words = 16 + lines * 8 + buckets * 8;
    HEADER_SIZE as u64 + log_words * 8 + (pos & (capacity - 1)) * stride
}

/// A committed cache entry whose key or value length is over the cache's
/// limits: a miss for `get`, absent from `keys`, and the key can be written
/// again.
#[test]
fn cache_entry_with_impossible_lengths_is_a_miss() {
    let s = Setup::new("dmg-entry");
    let cache = OrbitCache::open(
        &s.member,
        "x",
        Some(&CacheOptions {
            capacity: 64,
            max_key: 16,
            max_value: 64,
            mode: 0,
        }),
    )
    .unwrap();
    let p = path(&s.fleet, ObjectKind::Cache, "x");
    // meta = key_len:16 | flags:16 << 16 | value_len:32 << 32
    for (what, meta) in [
        ("key length over max_key", 17u64 | 5 << 32),
        ("key length 65535", 0xFFFF | 5 << 32),
        ("value length over max_value", 1 | 65 << 32),
        ("value length 4 GiB - 1", 1 | 0xFFFF_FFFF << 32),
    ] {
        cache.clear().unwrap();
        cache.set(b"k", b"value", 0).unwrap();
        cache.set(b"other", b"fine", 0).unwrap();
        let pos = cache.stats().sets - 2;
        let file = std::fs::read(&p).unwrap();
        poke(&p, cache_entry_at(&file, pos) + 24, &meta.to_le_bytes());
        for f in [&s.member, &s.observer] {
            let c = OrbitCache::open(f, "x", None).unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(c.get_into(b"k", &mut buf).unwrap(), None, "{what}");
            assert!(!c.exists(b"k").unwrap(), "{what}");
            let keys: Vec<Vec<u8>> = c.keys().collect();
            assert_eq!(keys, [b"other".to_vec()], "{what}");
            assert_eq!(c.get(b"other").unwrap().as_deref(), Some(&b"fine"[..]));
        }
        // The key is writable again and reads back whole.
        cache.set(b"k", b"again", 0).unwrap();
        assert_eq!(cache.get(b"k").unwrap().as_deref(), Some(&b"again"[..]));
    }
}

/// Bus frames that are not well-formed events (a topic length past the end
/// of the frame, a zero topic length, a topic that is not UTF-8, another
/// frame kind): skipped and counted as malformed, the events around them are
/// delivered, and nothing is counted lost.
#[test]
fn malformed_bus_frames_are_skipped_and_counted() {
    let s = Setup::new("dmg-bus");
    let bus = Bus::open(
        &s.member,
        "x",
        Some(&BusOptions {
            capacity: 16,
            max_payload: 64,
            mode: 0,
        }),
    )
    .unwrap();
    for i in 0..7u8 {
        bus.publish("topic", &[i; 8]).unwrap();
    }
    let p = path(&s.fleet, ObjectKind::Bus, "x");
    let stride = u64_at(&std::fs::read(&p).unwrap(), 40 + 24);
    let capacity = u64_at(&std::fs::read(&p).unwrap(), 40);
    let slot = |pos: u64| common::ring_layout::slot(capacity, stride, pos);
    // Frame payload = [topic_len][topic][event]; the frame here is 1 + 5 + 8 bytes.
    poke(&p, slot(1) + SLOT_HEADER, &[200]); // topic past the frame
    poke(&p, slot(2) + SLOT_HEADER, &[0]); // empty topic
    poke(&p, slot(3) + SLOT_HEADER + 1, &[0xFF, 0xFE]); // not UTF-8
    poke(&p, slot(4) + SLOT_META + 4, &[9]); // frame kind 9, not an event
    // A frame as long as the ring allows (64 + 256) with a 5-byte topic: an
    // event payload of 314 bytes, more than the bus's 64 (found by fuzzing).
    poke(&p, slot(6) + SLOT_META, &320u32.to_le_bytes());
    for f in [&s.member, &s.observer] {
        let b = Bus::open(f, "x", None).unwrap();
        let mut sub = b.subscribe(None, From::Oldest).unwrap();
        let mut got = Vec::new();
        while let Some(e) = sub.next_event().unwrap() {
            assert_eq!(e.topic, "topic");
            got.push((e.payload[0], e.info.lost));
        }
        assert_eq!(got, [(0, 0), (5, 0)]);
        assert_eq!((sub.malformed(), sub.lost()), (5, 0));
    }
}

/// Audit records of garbage (a subject length past the record, a subject
/// that is not UTF-8, a short record, another frame kind) decode to nothing;
/// the well-formed records around them decode as written.
#[test]
fn garbage_audit_records_do_not_decode() {
    let s = Setup::new("dmg-audit");
    let contest = Contest::open(&s.member, None).unwrap();
    for _ in 0..3 {
        contest
            .claim("job", Duration::from_secs(60))
            .unwrap()
            .release()
            .unwrap();
    }
    // Six records: claim, release, claim, release, claim, release.
    let p = path(&s.fleet, ObjectKind::Ring, "contest.leases");
    let stride = u64_at(&std::fs::read(&p).unwrap(), 40 + 24);
    let capacity = u64_at(&std::fs::read(&p).unwrap(), 40);
    let slot = |pos: u64| common::ring_layout::slot(capacity, stride, pos);
    let payload = |pos: u64| slot(pos) + SLOT_HEADER;
    poke(&p, payload(0) + 21, &[200]); // subject length past the record
    poke(&p, payload(1) + 24, &[0xC3, 0x28, 0xA0]); // invalid UTF-8 subject
    poke(&p, slot(2) + SLOT_META, &10u32.to_le_bytes()); // 10 bytes: shorter than a record header
    poke(&p, slot(3) + SLOT_META + 4, &[7]); // frame kind 7
    let mut cursor = contest.audit(From::Oldest).unwrap();
    let mut decoded = Vec::new();
    while let Some(f) = cursor.next_frame().unwrap() {
        decoded.push(AuditRecord::decode(&f).map(|r| (r.action, r.subject, r.token)));
    }
    assert_eq!(decoded.len(), 6);
    assert!(decoded[..4].iter().all(Option::is_none), "{decoded:?}");
    assert_eq!(
        decoded[4..],
        [
            Some((orbit::AuditAction::Claim, "job".to_string(), 3)),
            Some((orbit::AuditAction::Release, "job".to_string(), 3))
        ]
    );
    // The lease table itself is untouched by damage to its trail.
    assert_eq!(
        contest
            .claim("job", Duration::from_secs(1))
            .unwrap()
            .token(),
        4
    );
}

/// Heartbeat history frames of garbage (too short, another frame kind) are
/// left out of the snapshot; the member table still answers.
#[test]
fn garbage_heartbeat_records_are_left_out() {
    let s = Setup::new("dmg-hb");
    for _ in 0..3 {
        s.member.heartbeat().unwrap();
    }
    let p = path(&s.fleet, ObjectKind::Ring, "heartbeats");
    let stride = u64_at(&std::fs::read(&p).unwrap(), 40 + 24);
    let capacity = u64_at(&std::fs::read(&p).unwrap(), 40);
    let slot = |pos: u64| common::ring_layout::slot(capacity, stride, pos);
    poke(&p, slot(0) + SLOT_META, &(3u64 | 1 << 32).to_le_bytes()); // 3 bytes long
    poke(&p, slot(1) + SLOT_META + 4, &[5]); // frame kind 5
    let snap = s.observer.heartbeat_snapshot().unwrap();
    let row = snap.node(s.member.node_id().unwrap()).unwrap();
    assert_eq!(row.beats_in_history, 1);
    assert_eq!(snap.nodes.len(), 1);
}

/// The slot at the head in a state no writer leaves (a later lap's `seq`; or
/// an uncommitted previous lap whose owner word names an impossible lap): a
/// writer reports the ring CORRUPT within a bound instead of waiting forever,
/// and a reader is not held up. A previous lap left by a dead writer (the
/// state a crash leaves) is still taken over.
#[test]
fn writer_refuses_a_damaged_slot_at_the_head() {
    let s = Setup::new("dmg-head");
    let ring = Ring::open(
        &s.member,
        "r",
        Some(&RingOptions {
            capacity: 8,
            max_payload: 64,
            kind: 3,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();
    for i in 0..11u64 {
        ring.write(1, i, &[i as u8; 16]).unwrap();
    }
    assert_eq!(ring.head(), 11);
    let p = path(&s.fleet, ObjectKind::Ring, "r");
    let dead_tag = 200u64 << 16 | 7; // node 200: no such member
    use common::ring_layout::COMMITTED;
    // The claim looks at the owner word only: a damaged `seq` is rewritten
    // by the next writer, a damaged owner word refuses the write.
    for (what, seq, owner, outcome, takeovers) in [
        ("owner lap 5 at head lap 1", 1, 5 << 32, Status::Corrupt, 0),
        (
            "committed owner lap 5 at head lap 1",
            2 * 5 + 2,
            COMMITTED | 5 << 32,
            Status::Corrupt,
            0,
        ),
        (
            "seq of lap 50, owner word of lap 0 committed",
            2 * 50 + 2,
            COMMITTED,
            Status::Ok,
            0,
        ),
        (
            "uncommitted lap 0, dead owner of lap 0",
            1,
            0,
            Status::Ok,
            1,
        ),
    ] {
        let before = ring.info().takeovers;
        // The head is in lap 1 throughout (positions 11 and 12).
        let head = ring.head();
        poke(&p, slot_at(&ring, head), &(seq as u64).to_le_bytes());
        poke(
            &p,
            common::ring_layout::owner(8, head),
            &(owner | dead_tag).to_le_bytes(),
        );
        let t = std::time::Instant::now();
        let written = ring.write(1, 99, &[9; 16]);
        let got = written
            .as_ref()
            .map(|_| Status::Ok)
            .unwrap_or_else(|e| e.status());
        assert_eq!(got, outcome, "{what}");
        assert_eq!(ring.info().takeovers - before, takeovers, "{what}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            t.elapsed()
        );
        if let Ok(id) = written {
            // The write went to the damaged position, whole.
            assert_eq!(id.counter(), head, "{what}");
            let mut buf = [0u8; 64];
            let f = ring.read(id, &mut buf).unwrap();
            assert_eq!((f.ver, &buf[..f.len as usize]), (99, &[9u8; 16][..]));
        }
        // Readers are not held up by it either.
        let mut c = ring.cursor(From::Oldest);
        let mut buf = [0u8; 64];
        let t = std::time::Instant::now();
        while c.next_into(&mut buf).unwrap().is_some() {}
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(ring.info().takeovers, 1);
}
