//! Corrupted, foreign, truncated and half-initialised segments, made by hand
//! in /dev/shm under the names the library uses, and permission bits (other
//! Unix users: tests/permissions.rs; other object kinds and damaged bodies:
//! tests/damaged_segments.rs).
//!
//! Layout of the common header (src/shm/mod.rs): magic u64 "ORBITSEG" @0
//! (published last), layout_version u32 @8, object_type u32 @12 (fleet 1,
//! ring 2), total_size u64 @16, creator_pid u32 @24, mode u32 @28,
//! created_at_ms u64 @32, geometry u64[8] @40; ring geometry = [capacity,
//! max_payload, kind, slot stride].

mod common;

use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::{Cleanup, XorShift, param, report, spawn, unique_fleet};
use orbit::shm::{HEADER_SIZE, MAGIC, ObjectKind, SegmentName};
use orbit::{Fleet, FleetOptions, From, Ring, RingOptions, Status};

const LONG: Duration = Duration::from_secs(30);

fn ring_path(fleet: &str, name: &str) -> String {
    SegmentName::new(fleet, ObjectKind::Ring, name)
        .unwrap()
        .dev_shm_path()
}

fn fleet_path(fleet: &str) -> String {
    SegmentName::new(fleet, ObjectKind::Fleet, "members")
        .unwrap()
        .dev_shm_path()
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

fn set_len(path: &str, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn opts(capacity: u64, max_payload: u32) -> RingOptions {
    RingOptions {
        capacity,
        max_payload,
        kind: 5,
        mode: 0,
        single_writer: false,
    }
}

/// The status of opening ring `name`, with a round trip when it opens.
fn open_status(fleet: &Fleet, name: &str, o: Option<&RingOptions>) -> Status {
    match Ring::open(fleet, name, o) {
        Ok(r) => {
            if !r.is_read_only() {
                let id = r.write(1, 2, b"probe").unwrap();
                let mut buf = vec![0u8; r.info().max_payload as usize];
                assert_eq!(r.read(id, &mut buf).unwrap().len, 5);
            }
            Status::Ok
        }
        Err(e) => {
            // Every refusal explains itself.
            assert!(!e.to_string().is_empty());
            e.status()
        }
    }
}

/// A member and an observer of a fresh fleet, removed with its rings at the end.
struct Setup {
    fleet: String,
    member: Fleet,
    observer: Fleet,
    _cleanup: Cleanup,
}

fn setup(test: &str, rings: &[&str]) -> Setup {
    let fleet = unique_fleet(test);
    let cleanup = Cleanup::new(&fleet, rings);
    let member = Fleet::join(&fleet, &FleetOptions::default()).unwrap();
    let observer = Fleet::observe(&fleet).unwrap();
    Setup {
        fleet,
        member,
        observer,
        _cleanup: cleanup,
    }
}

impl Setup {
    /// Opening `name` as member (defaults and explicit options) and as observer.
    fn statuses(&self, name: &str) -> [Status; 3] {
        [
            open_status(&self.member, name, None),
            open_status(&self.member, name, Some(&opts(64, 256))),
            open_status(&self.observer, name, None),
        ]
    }

    /// Creates ring `name` with the library and returns its file's bytes.
    fn real_ring(&self, name: &str, o: &RingOptions) -> Vec<u8> {
        let r = Ring::open(&self.member, name, Some(o)).unwrap();
        r.write(0, 0, b"hello").unwrap();
        drop(r);
        std::fs::read(ring_path(&self.fleet, name)).unwrap()
    }
}

// ---------------------------------------------------------------------------

/// Entry point of the lock-holding child; a no-op in the normal test run.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "locker");
    // A creator that took the initialisation lock and then hangs (or dies).
    let path: String = param("PATH");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
    assert_eq!(r, 0, "flock");
    report("locked");
    common::read_stdin_line(); // until the parent kills us or closes stdin
}

#[test]
fn header_fields_are_where_the_docs_say() {
    let s = setup("hdr", &["r"]);
    let o = RingOptions {
        capacity: 16,
        max_payload: 100,
        kind: 9,
        mode: 0o640,
        single_writer: false,
    };
    let bytes = s.real_ring("r", &o);
    assert_eq!(u64_at(&bytes, 0), MAGIC);
    assert_eq!(&bytes[0..8], b"ORBITSEG");
    assert_eq!(
        u32_at(&bytes, 8),
        common::ring_layout::VERSION,
        "layout version"
    );
    assert_eq!(u32_at(&bytes, 12), 2, "object type ring");
    assert_eq!(u64_at(&bytes, 16), bytes.len() as u64, "total size");
    assert_eq!(u32_at(&bytes, 24), std::process::id(), "creator pid");
    assert_eq!(u32_at(&bytes, 28), 0o640, "mode");
    let created = u64_at(&bytes, 32);
    let now = orbit::OrbitEpoch::now().as_millis();
    assert!(created <= now && now - created < 60_000, "created_at_ms");
    let stride = 192u64; // first line, `begin` + padding, 72 more payload bytes = 168, rounded up to 64
    assert_eq!(stride, common::ring_layout::stride(100));
    assert_eq!(
        (0..4)
            .map(|i| u64_at(&bytes, 40 + 8 * i))
            .collect::<Vec<_>>(),
        [16, 100, 9, stride]
    );
    assert_eq!(
        bytes.len() as u64,
        common::ring_layout::slots(16) + 16 * stride,
        "header, control block, 16 owner words, 16 slots"
    );
    assert_eq!(
        common::ring_layout::slots(16),
        HEADER_SIZE as u64 + 192 + 128
    );
    let fleet = std::fs::read(fleet_path(&s.fleet)).unwrap();
    assert_eq!(u32_at(&fleet, 12), 1, "object type fleet");
}

/// Random bytes under a ring's name: not an orbit segment. The library says so
/// and leaves the file alone.
#[test]
fn random_bytes_are_incompatible() {
    let s = setup("rand", &["x"]);
    let path = ring_path(&s.fleet, "x");
    let mut rng = XorShift::new(0xBAD5EED);
    for round in 0..20 {
        let mut bytes = vec![0u8; rng.range(HEADER_SIZE as u64, 70_000) as usize];
        rng.fill(&mut bytes);
        if u64_at(&bytes, 0) == 0 || u64_at(&bytes, 0) == MAGIC {
            bytes[0] = 1;
        }
        write_file(&path, &bytes);
        assert_eq!(
            s.statuses("x"),
            [Status::Incompatible; 3],
            "round {round}, {} bytes",
            bytes.len()
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "foreign file modified"
        );
    }
    // Shorter than a header: corrupt, whatever it holds.
    for len in [1usize, 8, 64, HEADER_SIZE - 1] {
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes);
        bytes[0] |= 1;
        write_file(&path, &bytes);
        assert_eq!(s.statuses("x"), [Status::Corrupt; 3], "{len} bytes");
    }
}

/// The right magic followed by garbage, or by fields that are each almost
/// right: every outcome is a clean refusal (or, when everything is valid, a
/// working ring). No panic, no SIGBUS.
#[test]
fn garbage_behind_a_valid_magic_is_refused() {
    let s = setup("garb", &["g"]);
    let path = ring_path(&s.fleet, "g");
    let mut rng = XorShift::new(0x6A2BA6E);
    let (mut ok, mut incompatible, mut corrupt) = (0, 0, 0);
    for round in 0..300 {
        let capacity = match rng.below(4) {
            0 => rng.next_u64(),
            1 => 3 + rng.below(100),
            _ => 1 << rng.below(8),
        };
        let max_payload = match rng.below(4) {
            0 => rng.next_u64(),
            1 => 0,
            _ => 1 + rng.below(300),
        };
        let kind = if rng.below(5) == 0 {
            256 + rng.below(9)
        } else {
            5
        };
        let good_stride = common::ring_layout::stride(max_payload);
        let stride = if rng.below(5) == 0 {
            rng.below(1 << 20)
        } else {
            good_stride
        };
        let good_total = (HEADER_SIZE as u64 + 192)
            .wrapping_add(capacity.wrapping_mul(8).div_ceil(64).wrapping_mul(64))
            .wrapping_add(capacity.wrapping_mul(stride));
        let total = if rng.below(5) == 0 {
            rng.below(1 << 24)
        } else {
            good_total
        };
        let file_len = match rng.below(5) {
            0 => rng.range(HEADER_SIZE as u64, 1 << 16),
            _ => total.min(1 << 20).max(HEADER_SIZE as u64),
        };
        let version = if rng.below(6) == 0 {
            rng.below(5) as u32
        } else {
            common::ring_layout::VERSION
        };
        let otype = if rng.below(6) == 0 {
            rng.below(7) as u32
        } else {
            2
        };
        let mut bytes = vec![0u8; file_len as usize];
        rng.fill(&mut bytes[HEADER_SIZE..]);
        bytes[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        bytes[12..16].copy_from_slice(&otype.to_le_bytes());
        bytes[16..24].copy_from_slice(&total.to_le_bytes());
        for (i, g) in [capacity, max_payload, kind, stride].iter().enumerate() {
            bytes[40 + 8 * i..48 + 8 * i].copy_from_slice(&g.to_le_bytes());
        }
        write_file(&path, &bytes);
        match open_status(&s.observer, "g", None) {
            Status::Ok => ok += 1,
            Status::Incompatible => incompatible += 1,
            Status::Corrupt => corrupt += 1,
            other => panic!("round {round}: unexpected {other:?}"),
        }
        if version != common::ring_layout::VERSION || otype != 2 {
            assert_eq!(
                open_status(&s.member, "g", None),
                Status::Incompatible,
                "round {round}"
            );
        }
    }
    eprintln!("garbage headers: {ok} ok, {incompatible} incompatible, {corrupt} corrupt");
    assert!(incompatible > 0 && corrupt > 0);
}

/// A valid header on a file shorter than its total size: Corrupt, and no
/// SIGBUS (nothing past the header is touched before the size is checked).
#[test]
fn truncated_segment_is_corrupt_without_sigbus() {
    let s = setup("trunc", &["t"]);
    let path = ring_path(&s.fleet, "t");
    let o = opts(64, 1024);
    let bytes = s.real_ring("t", &o);
    let total = bytes.len() as u64;
    for len in [
        total - 1,
        total - 4096,
        total / 2,
        HEADER_SIZE as u64 + 1,
        HEADER_SIZE as u64,
    ] {
        write_file(&path, &bytes);
        set_len(&path, len);
        assert_eq!(
            s.statuses("t"),
            [Status::Corrupt; 3],
            "{len} of {total} bytes"
        );
    }
    // A truncated fleet table as well.
    let table = std::fs::read(fleet_path(&s.fleet)).unwrap();
    let other = unique_fleet("trunc2");
    let _c = Cleanup::new(&other, &[]);
    write_file(&fleet_path(&other), &table[..table.len() / 2]);
    assert_eq!(
        Fleet::join(&other, &FleetOptions::default())
            .unwrap_err()
            .status(),
        Status::Corrupt
    );
    assert_eq!(
        Fleet::observe(&other).unwrap_err().status(),
        Status::Corrupt
    );
    // Restored to full length, the very same bytes open fine.
    write_file(&path, &bytes);
    let r = Ring::open(&s.member, "t", Some(&o)).unwrap();
    let mut c = r.cursor(From::Oldest);
    assert_eq!(c.next_frame().unwrap().unwrap().payload, b"hello");
}

/// Geometry that no ring can have: Corrupt.
#[test]
fn impossible_geometry_is_corrupt() {
    let s = setup("geom", &["g"]);
    let path = ring_path(&s.fleet, "g");
    let bytes = s.real_ring("g", &opts(64, 256));
    let geo = |i: u64| 40 + 8 * i;
    let stride = u64_at(&bytes, 40 + 24);
    for (what, offset, value) in [
        ("capacity 0", geo(0), 0u64),
        ("capacity 3", geo(0), 3),
        ("capacity 2^31", geo(0), 1 << 31),
        ("capacity 2^63", geo(0), 1 << 63),
        ("max_payload 0", geo(1), 0),
        ("max_payload 2^32", geo(1), 1 << 32),
        ("max_payload 16 MiB + 1", geo(1), (16 << 20) + 1),
        ("kind 256", geo(2), 256),
        ("stride + 64", geo(3), stride + 64),
        ("stride 0", geo(3), 0),
        ("total size + 64", 16, bytes.len() as u64 + 64),
        ("total size 0", 16, 0),
    ] {
        write_file(&path, &bytes);
        poke(&path, offset, &value.to_le_bytes());
        assert_eq!(s.statuses("g"), [Status::Corrupt; 3], "{what}");
    }
    // Capacity 128 in a file sized for 64 (header total consistent): truncated.
    write_file(&path, &bytes);
    poke(&path, geo(0), &128u64.to_le_bytes());
    let total = HEADER_SIZE as u64 + 192 + 128 * stride;
    poke(&path, 16, &total.to_le_bytes());
    assert_eq!(
        s.statuses("g"),
        [Status::Corrupt; 3],
        "capacity beyond the file"
    );
}

/// Another object type under a ring's name, or a ring under a fleet table's
/// name: Incompatible.
#[test]
fn object_type_mismatch_is_incompatible() {
    let s = setup("type", &["t"]);
    let path = ring_path(&s.fleet, "t");
    // The fleet's own membership table, copied under a ring name.
    let table = std::fs::read(fleet_path(&s.fleet)).unwrap();
    write_file(&path, &table);
    assert_eq!(
        s.statuses("t"),
        [Status::Incompatible; 3],
        "fleet table as ring"
    );
    // A ring copied under another fleet's table name.
    let ring = {
        let _ = std::fs::remove_file(&path);
        s.real_ring("t", &opts(8, 64))
    };
    let other = unique_fleet("type2");
    let _c = Cleanup::new(&other, &[]);
    write_file(&fleet_path(&other), &ring);
    assert_eq!(
        Fleet::join(&other, &FleetOptions::default())
            .unwrap_err()
            .status(),
        Status::Incompatible
    );
    assert_eq!(
        Fleet::observe(&other).unwrap_err().status(),
        Status::Incompatible
    );
    // Other and unknown object types under the ring's name.
    for otype in [0u32, 1, 3, 4, 5, 77, u32::MAX] {
        write_file(&path, &ring);
        poke(&path, 12, &otype.to_le_bytes());
        assert_eq!(
            s.statuses("t"),
            [Status::Incompatible; 3],
            "object type {otype}"
        );
    }
}

#[test]
fn other_layout_version_is_incompatible() {
    let s = setup("ver", &["v"]);
    let path = ring_path(&s.fleet, "v");
    let bytes = s.real_ring("v", &opts(8, 64));
    for version in [99u32, 0, 1, 2, 3, 5, u32::MAX] {
        write_file(&path, &bytes);
        poke(&path, 8, &version.to_le_bytes());
        assert_eq!(
            s.statuses("v"),
            [Status::Incompatible; 3],
            "layout version {version}"
        );
    }
}

/// A creator that died between creating the name and sizing it left a
/// zero-length file: the next opener that may create initialises it; an
/// observer cannot and says the object does not exist (after a bounded wait).
#[test]
fn zero_length_file_is_repaired_by_the_next_creator() {
    let s = setup("zero", &["z", "d"]);
    for (name, o) in [("z", Some(opts(32, 128))), ("d", None)] {
        let path = ring_path(&s.fleet, name);
        write_file(&path, &[]);
        if name == "z" {
            let t = Instant::now();
            assert_eq!(
                Ring::open(&s.observer, name, None).unwrap_err().status(),
                Status::NotExist
            );
            assert!(t.elapsed() < Duration::from_secs(10));
        }
        let r = Ring::open(&s.member, name, o.as_ref()).expect("repair");
        let want = o.unwrap_or_default();
        assert_eq!(
            (r.info().capacity, r.info().max_payload, r.info().kind),
            (want.capacity, want.max_payload, want.kind)
        );
        let id = r.write(0, 7, b"after repair").unwrap();
        let mut buf = vec![0u8; want.max_payload as usize];
        assert_eq!(r.read(id, &mut buf).unwrap().ver, 7);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, {
            let b = std::fs::read(&path).unwrap();
            u64_at(&b, 16) as usize
        });
        // Now the observer attaches too.
        assert_eq!(open_status(&s.observer, name, None), Status::Ok);
    }
    // A zero-length fleet table is repaired by the next join.
    let other = unique_fleet("zero2");
    let _c = Cleanup::new(&other, &[]);
    write_file(&fleet_path(&other), &[]);
    let f = Fleet::join(&other, &FleetOptions::default()).expect("join repairs");
    assert_eq!(f.node_id(), Some(1));
}

/// A creator that died mid-initialisation left a full-size file whose magic
/// was never published: the next opener (no lock holder) re-initialises it
/// from scratch, whatever the body holds and whatever geometry it asks for.
#[test]
fn unpublished_full_size_file_is_reinitialised() {
    let s = setup("unpub", &["u"]);
    let path = ring_path(&s.fleet, "u");
    let o = opts(16, 64);
    let mut bytes = s.real_ring("u", &o);
    {
        let r = Ring::open(&s.member, "u", None).unwrap();
        for i in 0..40 {
            r.write(0, i, b"old frame").unwrap();
        }
    }
    bytes[0..8].fill(0);
    // Same geometry, body full of leftovers.
    write_file(&path, &bytes);
    let r = Ring::open(&s.member, "u", Some(&o)).expect("re-initialise");
    assert_eq!(r.info().head, 0, "fresh ring");
    assert_eq!(r.cursor(From::Oldest).next_frame().unwrap(), None);
    r.write(0, 1, b"new").unwrap();
    drop(r);
    // Random body, and another geometry requested: honoured.
    let mut rng = XorShift::new(11);
    rng.fill(&mut bytes[8..]);
    write_file(&path, &bytes);
    let r = Ring::open(&s.member, "u", Some(&opts(64, 32))).expect("re-initialise");
    assert_eq!(
        (r.info().capacity, r.info().max_payload, r.info().head),
        (64, 32, 0)
    );
    let mut c = r.cursor(From::Oldest);
    assert_eq!(c.next_frame().unwrap(), None);
    r.write(0, 1, b"fresh").unwrap();
    assert_eq!(c.next_frame().unwrap().unwrap().payload, b"fresh");
}

/// A process that holds the initialisation lock makes openers wait; when it
/// is killed, the next opener initialises the segment. One that hangs for
/// longer than the bounded wait makes the opener fail cleanly.
#[test]
fn creator_killed_while_holding_the_init_lock() {
    let s = setup("lock", &["l", "h"]);
    for name in ["l", "h"] {
        write_file(&ring_path(&s.fleet, name), &[]);
    }
    // Killed after 300 ms: the waiting opener takes over.
    let mut locker = spawn("locker", &[("PATH", ring_path(&s.fleet, "l"))]);
    locker.expect("locked", LONG);
    let (fleet, start) = (s.member.clone(), Instant::now());
    let opener = std::thread::spawn(move || {
        let r = Ring::open(&fleet, "l", Some(&opts(8, 64)));
        (r.map(|r| r.info().capacity), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !opener.is_finished(),
        "open did not wait for the lock holder"
    );
    let killed_at = start.elapsed();
    locker.kill9();
    let (capacity, took) = opener.join().unwrap();
    assert_eq!(capacity, Ok(8));
    assert!(
        took >= killed_at,
        "opened at {took:?}, before the kill at {killed_at:?}"
    );
    assert!(took < killed_at + Duration::from_secs(2), "took {took:?}");

    // Never lets go: the opener gives up after its bounded wait with IO.
    let mut hanger = spawn("locker", &[("PATH", ring_path(&s.fleet, "h"))]);
    hanger.expect("locked", LONG);
    let t = Instant::now();
    let e = Ring::open(&s.member, "h", Some(&opts(8, 64))).unwrap_err();
    assert_eq!(e.status(), Status::Io, "{e}");
    assert!(t.elapsed() >= Duration::from_secs(1) && t.elapsed() < Duration::from_secs(20));
    hanger.kill9();
    // And once the hanger is gone, the name is usable again.
    assert_eq!(open_status(&s.member, "h", Some(&opts(8, 64))), Status::Ok);
}

fn file_mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn permission_bits_of_new_segments() {
    let s = setup("mode", &["def", "grp", "ro", "inh"]);
    Ring::open(&s.member, "def", None).unwrap();
    assert_eq!(file_mode(&ring_path(&s.fleet, "def")), 0o600, "default");
    assert_eq!(
        file_mode(&fleet_path(&s.fleet)),
        0o600,
        "fleet table default"
    );
    let mut o = opts(8, 64);
    o.mode = 0o660;
    Ring::open(&s.member, "grp", Some(&o)).unwrap();
    assert_eq!(file_mode(&ring_path(&s.fleet, "grp")), 0o660);
    o.mode = 0o640;
    Ring::open(&s.member, "ro", Some(&o)).unwrap();
    assert_eq!(file_mode(&ring_path(&s.fleet, "ro")), 0o640);
    // Impossible modes are refused before anything is created.
    for bad in [0o700, 0o066, 0o4600, 0o1666, 0o200, 0o400] {
        o.mode = bad;
        let e = Ring::open(&s.member, "bad", Some(&o)).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "mode {bad:o}");
        assert!(std::fs::metadata(ring_path(&s.fleet, "bad")).is_err());
    }
    // A fleet's mode applies to what is created through it.
    let other = unique_fleet("mode2");
    let _c = Cleanup::new(&other, &["r"]);
    let f = Fleet::join(
        &other,
        &FleetOptions {
            mode: 0o660,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(file_mode(&fleet_path(&other)), 0o660, "fleet table");
    Ring::open(&f, "r", None).unwrap();
    assert_eq!(
        file_mode(&ring_path(&other, "r")),
        0o660,
        "ring via fleet mode"
    );
    drop(f);

    // A segment this process may not open: PERMISSION (root bypasses modes;
    // tests/permissions.rs covers other users, run as root).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let path = ring_path(&s.fleet, "def");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(open_status(&s.member, "def", None), Status::Permission);
        assert_eq!(open_status(&s.observer, "def", None), Status::Permission);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
