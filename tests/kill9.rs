//! The crashed-writer test: writer processes are killed with SIGKILL at random
//! instants while they publish large frames into a small ring, and a reader
//! follows with a cursor. Nothing torn may reach the reader, the reader may
//! never stall on a dead writer's slot, later writers must take over the slots
//! the dead left half-written, and at the end the ring is whole again.
//!
//! Randomness comes from one seed, printed at the start and in every failure:
//! replay a run's choices (ring size, writer counts, payload sizes, kill
//! instants) with `ORBIT_KILL9_SEED=<seed> cargo test --test kill9`.
//! `ORBIT_KILL9_ROUNDS` and `ORBIT_KILL9_SECS` bound the run (default 150
//! rounds or 25 s of rounds, whichever comes first).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cleanup, Template, XorShift, param, report, spawn, unique_fleet, verify};
use orbit::{Error, Fleet, FleetOptions, From, Ring, RingOptions};

const RING_KIND: u8 = 99;
/// Large payloads: publishing one takes long enough that most kills land
/// between a writer's claim and its commit.
const MAX_PAYLOAD: u32 = 64 * 1024;
/// How long the reader may take to get past everything the dead left behind.
const DRAIN_LIMIT: Duration = Duration::from_secs(3);
/// How long a new writer may take to write `capacity + 1` frames.
const PROGRESS_LIMIT: Duration = Duration::from_secs(20);

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Entry point of the writer children; a no-op in the normal test run.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "writer");
    let fleet = Fleet::join(&param::<String>("FLEET"), &FleetOptions::default()).expect("join");
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let serial: u32 = param("SERIAL");
    let mut rng = XorShift::new(param("SEED"));
    let node = fleet.node_id().expect("member");
    let tag = (node as u32) << 16 | (serial & 0xFFFF);
    let max = ring.info().max_payload as u64;
    let mut templates: Vec<Template> = (0..16)
        .map(|_| Template::new(rng.range(32, max) as usize, tag, &mut rng))
        .collect();
    let ready_after = ring.info().capacity + 1;
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let started = Instant::now();
    for i in 0u64.. {
        let t = &mut templates[(i % 16) as usize];
        let id = ring
            .write(serial as u8, i, t.frame(i))
            .expect("write frame");
        assert_eq!((id.kind(), id.node()), (RING_KIND, node));
        if i + 1 == ready_after {
            // Proof of progress: this writer went once round the whole ring,
            // past every slot a dead writer may have left stuck.
            report("ready");
        }
        if i % 64 == 0 {
            // SAFETY: getppid has no preconditions.
            let orphaned = unsafe { libc::getppid() } != parent;
            if orphaned || started.elapsed().as_secs() > 120 {
                return; // never outlive the test
            }
        }
    }
}

#[derive(Default, Debug)]
struct ReaderStats {
    frames: u64,
    lost: u64,
    writers_seen: u64,
    bytes: u64,
}

struct Shared {
    position: AtomicU64,
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

/// Follows the ring, checking every frame; records the first problem and stops.
fn reader(ring: Ring, shared: Arc<Shared>) -> ReaderStats {
    let mut stats = ReaderStats::default();
    let result = (|| -> Result<(), String> {
        let mut cursor = ring.cursor(From::Oldest);
        // Only the liveness rule may let the reader skip a dead writer's
        // frame; the live-writer timeout must never be what saves it.
        cursor.set_stuck_timeout(Duration::from_secs(60));
        let mut buf = vec![0u8; MAX_PAYLOAD as usize];
        // Where the cursor started: the oldest frame the ring held when this
        // thread got to run, which is not position 0 if writers were already
        // a lap ahead (a loaded machine starts threads late).
        let start = cursor.next_position();
        let mut expect = start;
        let mut last_index: HashMap<u32, u64> = HashMap::new();
        let mut last_progress = Instant::now();
        let mut last_pos = expect;
        while !shared.stop.load(Ordering::Relaxed) {
            match cursor.wait(Duration::from_millis(20)) {
                Ok(()) | Err(Error::Timeout) => {}
                Err(e) => return Err(format!("wait: {e}")),
            }
            while let Some(info) = cursor
                .next_into(&mut buf)
                .map_err(|e| format!("next: {e}"))?
            {
                let p = &buf[..info.len as usize];
                let pi = verify(p).map_err(|e| format!("TORN frame {}: {e}", info.id))?;
                let counter = info.id.counter();
                if counter != expect + info.lost {
                    return Err(format!(
                        "frame {} at counter {counter}, expected {expect} + lost {}",
                        info.id, info.lost
                    ));
                }
                expect = counter + 1;
                if info.id.kind() != RING_KIND
                    || info.id.node() as u32 != pi.tag >> 16
                    || info.kind != pi.tag as u8
                    || info.ver != pi.index
                {
                    return Err(format!(
                        "frame {} (kind {}, ver {}) does not match its payload {pi:?}",
                        info.id, info.kind, info.ver
                    ));
                }
                if let Some(prev) = last_index.insert(pi.tag, pi.index) {
                    if pi.index <= prev {
                        return Err(format!(
                            "writer {:#x}: index {} after {prev}",
                            pi.tag, pi.index
                        ));
                    }
                }
                stats.frames += 1;
                stats.bytes += info.len as u64;
            }
            let pos = cursor.next_position();
            shared.position.store(pos, Ordering::Release);
            if pos != last_pos {
                last_pos = pos;
                last_progress = Instant::now();
            } else if ring.head() > pos && last_progress.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "reader stalled at position {pos} (head {}) for {:?}",
                    ring.head(),
                    last_progress.elapsed()
                ));
            }
        }
        stats.lost = cursor.lost();
        if stats.frames + stats.lost != cursor.next_position() - start {
            return Err(format!(
                "frames {} + lost {} != position {} - start {start}",
                stats.frames,
                stats.lost,
                cursor.next_position()
            ));
        }
        stats.writers_seen = last_index.len() as u64;
        Ok(())
    })();
    if let Err(e) = result {
        *shared.error.lock().unwrap() = Some(e);
    }
    stats
}

/// The words of the slot of `pos`, read from the segment file (diagnostics).
fn slot_dump(fleet: &str, ring: &Ring, pos: u64) -> String {
    use std::os::unix::fs::FileExt;
    let path = orbit::shm::SegmentName::new(fleet, orbit::shm::ObjectKind::Ring, "k9")
        .unwrap()
        .dev_shm_path();
    let info = ring.info();
    let (cap, stride) = (info.capacity, info.slot_stride as u64);
    let mut b = [0u8; 32];
    let mut o = [0u8; 8];
    let read =
        |buf: &mut [u8], at: u64| std::fs::File::open(&path).and_then(|f| f.read_exact_at(buf, at));
    if let Err(e) = read(&mut b, common::ring_layout::slot(cap, stride, pos))
        .and_then(|_| read(&mut o, common::ring_layout::owner(cap, pos)))
    {
        return format!("cannot read {path}: {e}");
    }
    let w: Vec<u64> = b
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let owner = u64::from_le_bytes(o);
    format!(
        "slot of position {pos} (lap {}): seq {} owner lap {} tag {:#x} id {:#x}",
        pos / cap,
        w[0],
        owner >> 32,
        owner as u32,
        w[1]
    )
}

#[test]
fn crashed_writers_never_tear_stall_or_block() {
    let seed: u64 = env_or(
        "ORBIT_KILL9_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            ^ ((std::process::id() as u64) << 32),
    );
    let max_rounds: u64 = env_or("ORBIT_KILL9_ROUNDS", 150);
    let budget = Duration::from_secs(env_or("ORBIT_KILL9_SECS", 25));
    let replay =
        format!("seed {seed}; replay with ORBIT_KILL9_SEED={seed} cargo test --test kill9");
    eprintln!("kill9: {replay}");
    let mut rng = XorShift::new(seed);
    let capacity = 8u64 << rng.below(4); // 8, 16, 32 or 64 slots

    let fleet = unique_fleet("kill9");
    let _cleanup = Cleanup::new(&fleet, &["k9"]);
    let me = Fleet::join(&fleet, &FleetOptions::default()).unwrap();
    let ring = Ring::open(
        &me,
        "k9",
        Some(&RingOptions {
            capacity,
            max_payload: MAX_PAYLOAD,
            kind: RING_KIND,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();

    let shared = Arc::new(Shared {
        position: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
    });
    let reader_thread = {
        let (ring, shared) = (ring.clone(), shared.clone());
        std::thread::spawn(move || reader(ring, shared))
    };
    let check_reader = |when: &str| {
        if let Some(e) = shared.error.lock().unwrap().clone() {
            shared.stop.store(true, Ordering::Relaxed);
            panic!("{when}: reader failed: {e} ({replay})");
        }
    };

    let started = Instant::now();
    let (mut rounds, mut kills, mut serial) = (0u64, 0u64, 0u32);
    let (mut max_drain, mut max_progress) = (Duration::ZERO, Duration::ZERO);
    let mut rounds_with_takeovers = 0;
    while rounds < max_rounds && started.elapsed() < budget {
        let takeovers_before = ring.info().takeovers;
        let n = rng.range(1, 3);
        let spawned_at = Instant::now();
        let mut writers: Vec<_> = (0..n)
            .map(|_| {
                serial += 1;
                spawn(
                    "writer",
                    &[
                        ("FLEET", fleet.clone()),
                        ("RING", "k9".into()),
                        ("SERIAL", serial.to_string()),
                        ("SEED", (seed ^ (serial as u64) << 40).to_string()),
                    ],
                )
            })
            .collect();
        // New writers make progress: once round the ring, past every slot the
        // writers of the previous round left half-written.
        for w in &mut writers {
            w.expect("ready", PROGRESS_LIMIT);
        }
        max_progress = max_progress.max(spawned_at.elapsed());
        // Let them run, then kill each at a random instant.
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        for w in &mut writers {
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            let status = w.kill9();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(libc::SIGKILL),
                "writer exited on its own ({replay}); stdout: {:?}",
                w.transcript
            );
            kills += 1;
        }
        // Every writer is dead: the reader must get past whatever they left
        // pending within the drain limit (the liveness rule, not a timeout).
        let head = ring.head();
        let t = Instant::now();
        while shared.position.load(Ordering::Acquire) < head {
            check_reader("draining");
            if t.elapsed() >= DRAIN_LIMIT {
                let pos = shared.position.load(Ordering::Acquire);
                panic!(
                    "round {rounds}: reader stuck at {pos} of head {head} for {:?} after the \
                     writers died; {}; members {:?} ({replay})",
                    t.elapsed(),
                    slot_dump(&fleet, &ring, pos),
                    me.members()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        max_drain = max_drain.max(t.elapsed());
        check_reader("after round");
        if ring.info().takeovers > takeovers_before {
            rounds_with_takeovers += 1;
        }
        rounds += 1;
    }

    shared.stop.store(true, Ordering::Relaxed);
    let stats = reader_thread.join().expect("reader thread");
    check_reader("at the end");

    // A fresh writer goes once round the ring (taking over whatever the last
    // round left stuck) and a fresh cursor reads every frame intact.
    let tag = (me.node_id().unwrap() as u32) << 16 | 0xFFFF;
    let mut t = Template::new(MAX_PAYLOAD as usize - 3, tag, &mut rng);
    let t0 = Instant::now();
    let ids: Vec<_> = (0..capacity)
        .map(|i| ring.write(0xFF, i, t.frame(i)).unwrap())
        .collect();
    let final_write = t0.elapsed();
    let mut cursor = ring.cursor(From::Oldest);
    let mut buf = vec![0u8; MAX_PAYLOAD as usize];
    for (i, id) in ids.iter().enumerate() {
        let info = cursor
            .next_into(&mut buf)
            .unwrap()
            .unwrap_or_else(|| panic!("frame {i} of the final lap missing ({replay})"));
        assert_eq!(
            (info.id, info.lost, info.ver),
            (*id, 0, i as u64),
            "{replay}"
        );
        let pi = verify(&buf[..info.len as usize])
            .unwrap_or_else(|e| panic!("final frame {i}: {e} ({replay})"));
        assert_eq!((pi.tag, pi.index), (tag, i as u64));
        ring.read(*id, &mut buf).expect("read by id");
    }
    assert_eq!(cursor.next_into(&mut buf).unwrap(), None);
    let takeovers = ring.info().takeovers;
    eprintln!(
        "kill9: {rounds} rounds, {kills} writers killed, capacity {capacity}, head {}; \
         reader: {} frames ({} MiB) from {} writers, {} lost; takeovers {takeovers} \
         (in {rounds_with_takeovers} rounds); slowest drain {max_drain:?}, slowest \
         new-writer lap {max_progress:?}, final lap {final_write:?}",
        ring.head(),
        stats.frames,
        stats.bytes >> 20,
        stats.writers_seen,
        stats.lost,
    );
    assert!(stats.frames > 0, "the reader read nothing ({replay})");
    assert!(
        takeovers > 0,
        "no writer ever took over a dead writer's slot in {kills} kills ({replay})"
    );
}

// ---------------------------------------------------------------------------
// Deterministic companions: the state a writer killed at a precise instant
// leaves behind, written into the segment by hand (layout: src/ring/mod.rs and
// src/ring/protocol.rs), so the exact interleavings that random kills rarely
// hit are tested every time.

/// A ring of 8 slots of at most 64 bytes in a fresh fleet, plus a handle on
/// its file for poking at the words a dead writer leaves behind.
struct Crafted {
    _cleanup: Cleanup,
    _fleet: Fleet,
    ring: Ring,
    file: std::fs::File,
    stride: u64,
}

/// A writer tag (`node << 16 | incarnation`) that names no live process: node
/// 200's slot is free, with incarnation 0.
const DEAD_TAG: u64 = 200 << 16 | 7;
const DEAD_TAG_2: u64 = 201 << 16 | 9;
const RING_OFFSET: u64 = common::ring_layout::CONTROL; // `head` first
/// Capacity of the crafted rings below.
const CRAFTED_CAPACITY: u64 = 8;

impl Crafted {
    fn new(test: &str) -> Crafted {
        let fleet_name = unique_fleet(test);
        let cleanup = Cleanup::new(&fleet_name, &["c"]);
        let fleet = Fleet::join(&fleet_name, &FleetOptions::default()).unwrap();
        let ring = Ring::open(
            &fleet,
            "c",
            Some(&RingOptions {
                capacity: CRAFTED_CAPACITY,
                max_payload: 64,
                kind: RING_KIND,
                mode: 0,
                single_writer: false,
            }),
        )
        .unwrap();
        let path = orbit::shm::SegmentName::new(&fleet_name, orbit::shm::ObjectKind::Ring, "c")
            .unwrap()
            .dev_shm_path();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let stride = ring.info().slot_stride as u64;
        Crafted {
            _cleanup: cleanup,
            _fleet: fleet,
            ring,
            file,
            stride,
        }
    }

    fn poke(&self, offset: u64, v: u64) {
        std::os::unix::fs::FileExt::write_all_at(&self.file, &v.to_le_bytes(), offset).unwrap();
    }

    fn set_head(&self, head: u64) {
        self.poke(RING_OFFSET, head);
    }

    /// Leaves position `pos` as a writer killed after its claim, mid-publish:
    /// `owner = (lap, tag)`, `begin` = the value of `seq_lap` (`seq` left
    /// as it was: the commit is the last store).
    fn stuck(&self, pos: u64, owner_lap: u64, tag: u64, seq_lap: u64) {
        let slot = common::ring_layout::slot(CRAFTED_CAPACITY, self.stride, pos);
        self.poke(slot + common::ring_layout::SLOT_BEGIN, 2 * seq_lap + 1);
        self.poke(
            common::ring_layout::owner(CRAFTED_CAPACITY, pos),
            owner_lap << 32 | tag,
        );
    }

    /// Leaves position `pos` as a writer killed right after its claim CAS,
    /// before it wrote anything: the owner word names it, `seq` still says
    /// the previous lap.
    fn claimed_only(&self, pos: u64, owner_lap: u64, tag: u64) {
        self.poke(
            common::ring_layout::owner(CRAFTED_CAPACITY, pos),
            owner_lap << 32 | tag,
        );
    }

    fn write(&self, i: u64) {
        let mut rng = XorShift::new(i);
        let p = common::payload(32 + (i % 30) as usize, 1, i, &mut rng);
        self.ring.write(1, i, &p).unwrap();
    }
}

/// Waits (with `wait`, then `next_into`, the way readers are written) for the
/// next frame; panics if it takes longer than `limit`.
fn next_with_wait(c: &mut orbit::Cursor, limit: Duration) -> (orbit::FrameInfo, Duration) {
    let mut buf = [0u8; 64];
    let t = Instant::now();
    loop {
        match c.wait(Duration::from_millis(200)) {
            Ok(()) | Err(Error::Timeout) => {}
            Err(e) => panic!("wait: {e}"),
        }
        if let Some(info) = c.next_into(&mut buf).unwrap() {
            verify(&buf[..info.len as usize]).expect("intact frame");
            return (info, t.elapsed());
        }
        assert!(
            t.elapsed() < limit,
            "cursor at position {} made no progress for {:?} (lost so far {})",
            c.next_position(),
            t.elapsed(),
            c.lost()
        );
    }
}

/// A writer killed mid-publish: a reader blocked in `wait` skips its frame
/// within milliseconds (it does not wait for the live-writer timeout), counts
/// it lost, and the writer of the next lap takes the slot over.
#[test]
fn dead_writers_slot_is_skipped_promptly_by_wait_and_next() {
    let k = Crafted::new("k9dead");
    // A poller that sleeps between empty polls, as many are written.
    skipped_dead_slot(
        &k,
        |k| k.stuck(3, 0, DEAD_TAG, 0),
        || std::thread::sleep(Duration::from_micros(200)),
    );
}

/// The scenario of the dead-writer tests: frames 0..3, position 3 left by a
/// dead writer (`leave_stuck`), frames 4..7. A cursor using `wait` and one
/// only polling `next_into` (calling `pause` between empty polls) both skip
/// position 3 promptly, counting it lost once; then the writer of position
/// 11 takes the slot over and nothing more is lost.
fn skipped_dead_slot(k: &Crafted, leave_stuck: impl Fn(&Crafted), pause: impl Fn()) {
    for i in 0..3 {
        k.write(i);
    }
    leave_stuck(k);
    k.set_head(4);
    for i in 4..7 {
        k.write(i);
    }
    let mut waiting = k.ring.cursor(From::Oldest);
    waiting.set_stuck_timeout(Duration::from_secs(60));
    let mut polling = k.ring.cursor(From::Oldest);
    polling.set_stuck_timeout(Duration::from_secs(60));
    for i in 0..3 {
        assert_eq!(next_with_wait(&mut waiting, DRAIN_LIMIT).0.ver, i);
    }
    let (info, took) = next_with_wait(&mut waiting, DRAIN_LIMIT);
    assert_eq!((info.ver, info.lost, info.id.counter()), (4, 1, 4));
    assert!(took < Duration::from_millis(500), "skip took {took:?}");
    let mut buf = [0u8; 64];
    let t = Instant::now();
    let mut got = Vec::new();
    while got.len() < 6 {
        assert!(t.elapsed() < DRAIN_LIMIT, "polling cursor stuck: {got:?}");
        match polling.next_into(&mut buf).unwrap() {
            Some(info) => got.push((info.ver, info.lost)),
            None => pause(),
        }
    }
    assert_eq!(got, [(0, 0), (1, 0), (2, 0), (4, 1), (5, 0), (6, 0)]);
    eprintln!(
        "polling cursor skipped the dead slot after {:?}",
        t.elapsed()
    );
    for i in 5..7 {
        assert_eq!(next_with_wait(&mut waiting, DRAIN_LIMIT).0.ver, i);
    }
    // The writer of position 11 (slot 3, next lap) takes the dead one's slot over.
    for i in 7..15 {
        k.write(i);
    }
    assert_eq!(k.ring.info().takeovers, 1);
    for i in 7..15 {
        let (info, _) = next_with_wait(&mut waiting, DRAIN_LIMIT);
        assert_eq!((info.ver, info.lost), (i, 0));
    }
    assert_eq!(waiting.lost(), 1);
}

/// Position 3's writer died mid-publish; the writer of position 11 took its
/// slot over and died too, right after its claim (before marking the slot or
/// advancing head). A reader at position 3 must not wait for the live-writer
/// timeout: the slot's owner is dead.
#[test]
fn slot_taken_over_by_a_writer_that_died_too_is_skipped_promptly() {
    let k = Crafted::new("k9dead2");
    for i in 0..3 {
        k.write(i);
    }
    k.stuck(3, 0, DEAD_TAG, 0);
    k.set_head(4);
    for i in 4..11 {
        k.write(i);
    }
    assert_eq!(k.ring.head(), 11);
    // The taker of position 11 claimed slot 3 for lap 1 and died.
    k.stuck(3, 1, DEAD_TAG_2, 0);
    let mut c = k.ring.cursor(From::Oldest);
    c.set_stuck_timeout(Duration::from_secs(60));
    assert_eq!(c.next_position(), 3);
    let (info, took) = next_with_wait(&mut c, DRAIN_LIMIT);
    assert_eq!((info.ver, info.lost), (4, 1));
    assert!(took < Duration::from_millis(500), "skip took {took:?}");
    for i in 5..11 {
        assert_eq!(next_with_wait(&mut c, DRAIN_LIMIT).0.ver, i);
    }
    // New writes: position 11 belongs to the dead taker, so they land at
    // 12..=18 and the reader skips 11 as lost.
    for i in 11..18 {
        k.write(i);
    }
    assert_eq!(k.ring.head(), 19);
    let (info, took) = next_with_wait(&mut c, DRAIN_LIMIT);
    assert_eq!((info.ver, info.lost, info.id.counter()), (11, 1, 12));
    assert!(took < Duration::from_millis(500), "skip took {took:?}");
    for i in 12..18 {
        let (info, _) = next_with_wait(&mut c, DRAIN_LIMIT);
        assert_eq!((info.ver, info.lost, info.id.counter()), (i, 0, i + 1));
    }
    // Position 19 (slot 3, lap 2) takes the slot over from the dead taker.
    for i in 18..22 {
        k.write(i);
    }
    assert_eq!(k.ring.info().takeovers, 1);
    for i in 18..22 {
        let (info, _) = next_with_wait(&mut c, DRAIN_LIMIT);
        assert_eq!((info.ver, info.lost, info.id.counter()), (i, 0, i + 1));
    }
    assert_eq!(c.lost(), 2);
}

/// A writer killed between its claim and its first store leaves a slot whose
/// own cache line shows nothing: only the owner word says the position is
/// taken. Readers learn it from a probe of the owner word (every few hundred
/// empty polls, and in `wait`), skip it once the owner is found dead, and the
/// next lap's writer takes the slot over.
#[test]
fn claimed_but_unwritten_slot_of_a_dead_writer_is_skipped() {
    let k = Crafted::new("k9claim");
    // Busy polling: a claimed-only slot is probed after many empty polls.
    skipped_dead_slot(&k, |k| k.claimed_only(3, 0, DEAD_TAG), std::hint::spin_loop);
}
