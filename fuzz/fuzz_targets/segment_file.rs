//! A segment file found in /dev/shm, fed to every object kind's attach and
//! read paths: the header (raw, or built valid around fuzzed geometry) and
//! the body (slots, entries, buckets, lease entries, node slots, frames,
//! events, audit and heartbeat records). Every open must end in a handle or
//! a clean CORRUPT / INCOMPATIBLE, and every read through a handle on a
//! damaged body must stay in bounds, return, and never deliver a frame or
//! value that breaks the object's own limits.
//!
//! Input: `[target][mode][geometry: 16][offset: 2][bytes...]`.
//! - target: ring, bus, cache, lease table, fleet table, contest audit ring,
//!   fleet heartbeat ring;
//! - mode & 3 == 0: the whole file is `bytes` (any header at all);
//!   otherwise a ready header whose geometry comes from the 16 geometry bytes
//!   (mapped into valid ranges, or taken raw when mode & 3 == 3), a zeroed
//!   body, and `bytes` written into it at `offset`;
//! - mode & 4: the file is cut short at a length derived from `offset`.
#![no_main]

use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use orbit::shm::{HEADER_SIZE, MAGIC, ObjectKind, SegmentName};
use orbit::{AuditRecord, Bus, Contest, Fleet, FleetOptions, From, OrbitCache, Ring, Status};

struct Env {
    fleet: String,
    table_fleet: String,
    observer: Fleet,
    _member: Fleet,
}

/// A fleet of this fuzzing process (`orbitfuzz-<pid>`): the member keeps the
/// table alive, the observer opens the fuzzed objects read-only.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let fleet = format!("orbitfuzz-{}", std::process::id());
        let member = Fleet::join(&fleet, &FleetOptions::default()).expect("fuzz fleet");
        let observer = Fleet::observe(&fleet).expect("observe fuzz fleet");
        Env {
            table_fleet: format!("{fleet}-t"),
            fleet,
            observer,
            _member: member,
        }
    })
}

#[derive(Clone, Copy)]
enum Target {
    Ring,
    Bus,
    Cache,
    Contest,
    FleetTable,
    Audit,
    Heartbeats,
}

fn round8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}
fn round64(n: u64) -> u64 {
    n.div_ceil(64) * 64
}

fn u16_at(g: &[u8], i: usize) -> u64 {
    u16::from_le_bytes([g[i], g[i + 1]]) as u64
}

/// Geometry words for `t`, mapped from fuzz bytes into (mostly) valid ranges.
fn geometry(t: Target, g: &[u8]) -> (ObjectKind, [u64; 8]) {
    let ring = |kind: u64, min_payload: u64, spread: u64| {
        let capacity = 1u64 << (g[0] % 7);
        let max_payload = min_payload + u16_at(g, 1) % spread;
        let stride = round64(32 + round8(max_payload)); // 32-byte slot header (layout 2)
        [capacity, max_payload, kind, stride, 0, 0, 0, 0]
    };
    match t {
        Target::Ring => (ObjectKind::Ring, ring(g[3] as u64, 1, 600)),
        Target::Audit => (ObjectKind::Ring, ring(222, 152, 200)),
        Target::Heartbeats => (ObjectKind::Ring, ring(221, 16, 64)),
        Target::Bus => (ObjectKind::Bus, ring(220, 256, 400)),
        Target::Cache => {
            let capacity = 1u64 << (g[0] % 7);
            let max_key = 1 + g[1] as u64 % 64;
            let max_value = 1 + u16_at(g, 2) % 300;
            let lines = 1 + g[4] as u64 % 4;
            let stride = round8(6 + max_key.div_ceil(8) + max_value.div_ceil(8)) * 8;
            let buckets = (capacity / 2).max(1);
            (
                ObjectKind::Cache,
                [capacity, max_key, max_value, lines, stride, buckets, 0, 0],
            )
        }
        Target::Contest => (
            ObjectKind::Contest,
            [1 + g[0] as u64 % 8, 192, 128, 0, 0, 0, 0, 0],
        ),
        Target::FleetTable => (
            ObjectKind::Fleet,
            [1 + g[0] as u64 % 8, 0, 0, 0, 0, 0, 0, 0],
        ),
    }
}

fn path(t: Target) -> String {
    let e = env();
    let (fleet, kind, name) = match t {
        Target::Ring => (&e.fleet, ObjectKind::Ring, "x"),
        Target::Bus => (&e.fleet, ObjectKind::Bus, "x"),
        Target::Cache => (&e.fleet, ObjectKind::Cache, "x"),
        Target::Contest => (&e.fleet, ObjectKind::Contest, "leases"),
        Target::FleetTable => (&e.table_fleet, ObjectKind::Fleet, "members"),
        Target::Audit => (&e.fleet, ObjectKind::Ring, "contest.leases"),
        Target::Heartbeats => (&e.fleet, ObjectKind::Ring, "heartbeats"),
    };
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
    std::os::unix::fs::FileExt::write_all_at(&f, bytes, 0).unwrap();
}

/// A refusal must be one of the statuses a damaged or foreign segment gets.
fn refused(what: &str, e: orbit::Error) {
    assert!(
        matches!(
            e.status(),
            Status::Corrupt | Status::Incompatible | Status::NotExist
        ),
        "{what}: unexpected {e}"
    );
}

fn read_ring(ring: &Ring) {
    let info = ring.info();
    let mut buf = vec![0u8; info.max_payload as usize];
    let mut cursor = ring.cursor(From::Oldest);
    cursor.set_stuck_timeout(Duration::ZERO);
    let mut ids = Vec::new();
    for _ in 0..(2 * info.capacity + 4) {
        match cursor.next_into(&mut buf) {
            Ok(Some(f)) => {
                assert!(f.len <= info.max_payload, "frame longer than max_payload");
                ids.push(f.id);
            }
            Ok(None) => {}
            Err(e) => panic!("cursor: {e}"),
        }
    }
    if let Some(f) = ring.read_head().unwrap() {
        assert!(f.payload.len() <= info.max_payload as usize);
    }
    for id in ids {
        let _ = ring.read(id, &mut buf);
    }
}

fn exercise(t: Target, key: &[u8]) {
    let e = env();
    match t {
        Target::Ring => match Ring::open(&e.observer, "x", None) {
            Ok(r) => read_ring(&r),
            Err(err) => refused("ring", err),
        },
        Target::Audit => match Ring::open(&e.observer, "contest.leases", None) {
            Ok(r) => {
                read_ring(&r);
                let mut c = r.cursor(From::Oldest);
                c.set_stuck_timeout(Duration::ZERO);
                for _ in 0..(2 * r.info().capacity + 4) {
                    if let Some(f) = c.next_frame().unwrap() {
                        if let Some(rec) = AuditRecord::decode(&f) {
                            assert!(rec.subject.len() <= 128 + 127);
                        }
                    }
                }
            }
            Err(err) => refused("audit ring", err),
        },
        Target::Heartbeats => match e.observer.heartbeat_snapshot() {
            Ok(s) => assert!(s.nodes.len() <= 4096 + 1024),
            Err(err) => refused("heartbeat history", err),
        },
        Target::Bus => match Bus::open(&e.observer, "x", None) {
            Ok(b) => {
                let mut s = b.subscribe(None, From::Oldest).unwrap();
                for _ in 0..(2 * b.capacity() + 4) {
                    if let Some(ev) = s.next_ref().unwrap() {
                        assert!(ev.payload.len() <= b.max_payload() as usize);
                        assert!(!ev.topic.is_empty() && ev.topic.len() <= 255);
                    }
                }
                let _ = s.peek().unwrap();
            }
            Err(err) => refused("bus", err),
        },
        Target::Cache => match OrbitCache::open(&e.observer, "x", None) {
            Ok(c) => {
                let st = c.stats();
                let mut buf = vec![0u8; st.max_value as usize];
                for k in [&b"k"[..], key] {
                    if !k.is_empty() && k.len() <= st.max_key as usize {
                        if let Some(m) = c.get_into(k, &mut buf).unwrap() {
                            assert!(m.len <= st.max_value as usize);
                        }
                        let _ = c.exists(k).unwrap();
                    }
                }
                for k in c.keys().take(10_000) {
                    assert!(!k.is_empty() || k.len() <= st.max_key as usize);
                    let _ = c.get(&k);
                }
            }
            Err(err) => refused("cache", err),
        },
        Target::Contest => match Contest::open(&e.observer, None) {
            Ok(c) => {
                let _ = c.stats();
                for s in ["s", std::str::from_utf8(key).unwrap_or("t")] {
                    match c.holder(s) {
                        Ok(_) => {}
                        Err(err) => assert_eq!(err.status(), Status::InvalidArgument),
                    }
                }
            }
            Err(err) => refused("lease table", err),
        },
        Target::FleetTable => {
            match Fleet::observe(&e.table_fleet) {
                Ok(f) => {
                    // The geometry may be any valid one (mode 3 flips its
                    // words), so the bound is the table's own, not 8.
                    let m = f.members();
                    assert!(m.len() <= f.max_nodes() as usize);
                    for member in &m {
                        assert!(member.node_id >= 1 && member.node_id as u32 <= f.max_nodes());
                    }
                }
                Err(err) => refused("fleet table", err),
            }
            // Joining a damaged table: a node id, `Full`, or a refusal.
            match Fleet::join(&e.table_fleet, &FleetOptions::default()) {
                Ok(f) => assert!(f.node_id().is_some()),
                Err(err) if err.status() == Status::Full => {}
                Err(err) => refused("join", err),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 20 {
        return;
    }
    let t = [
        Target::Ring,
        Target::Bus,
        Target::Cache,
        Target::Contest,
        Target::FleetTable,
        Target::Audit,
        Target::Heartbeats,
    ][data[0] as usize % 7];
    let mode = data[1];
    let g = &data[2..18];
    let offset = u16::from_le_bytes([data[18], data[19]]) as usize;
    let bytes = &data[20..];
    let file = if mode & 3 == 0 {
        bytes.to_vec()
    } else {
        let (kind, mut raw) = geometry(t, g);
        if mode & 3 == 3 {
            for (w, c) in raw.iter_mut().zip(g.chunks(2)) {
                *w ^= u16::from_le_bytes([c[0], c[1]]) as u64;
            }
        }
        let total = orbit::fuzzing::decode_geometry(kind, &raw)
            .map(|s| s as u64)
            .unwrap_or(HEADER_SIZE as u64 + 4096);
        let mut f = vec![0u8; total.min(1 << 20) as usize];
        f[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        f[8..12].copy_from_slice(&orbit::fuzzing::layout_version(kind).to_le_bytes());
        f[12..16].copy_from_slice(&(kind as u32).to_le_bytes());
        f[16..24].copy_from_slice(&total.to_le_bytes());
        f[28..32].copy_from_slice(&0o600u32.to_le_bytes());
        for (i, w) in raw.iter().enumerate() {
            f[40 + 8 * i..48 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        let body = f.len() - HEADER_SIZE;
        if body > 0 {
            let at = HEADER_SIZE + offset % body;
            let n = bytes.len().min(f.len() - at);
            f[at..at + n].copy_from_slice(&bytes[..n]);
        }
        if mode & 4 != 0 {
            f.truncate(offset.clamp(8, f.len()));
        }
        f
    };
    // A file whose ready word is zero is one being initialised: openers wait
    // (a bounded 3 s) for it, which is correct and tested elsewhere, and
    // would only slow the fuzzer down.
    let mut file = file;
    if file.is_empty() {
        file.push(1);
    }
    if file.len() >= 8 && file[..8] == [0; 8] {
        file[0] = 1;
    }
    let p = path(t);
    write_file(&p, &file);
    let key_len = (offset % 40).min(bytes.len());
    exercise(t, &bytes[..key_len]);
    let _ = std::fs::remove_file(&p);
});
