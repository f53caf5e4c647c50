//! The crash matrix: for every operation that changes shared state, child
//! processes doing that operation in a loop are killed with SIGKILL at random
//! instants, round after round, while the survivors (other children, and this
//! process) keep working. After every round:
//!
//! - no survivor hangs: every child must keep making progress, and every
//!   call this process makes runs under a watchdog that fails the test;
//! - nothing torn is ever read: payloads and values carry checksums
//!   (tests/common), checked by every reader;
//! - counters stay exact: `incr` and `cas` counters lie between the
//!   increments acknowledged to callers and that plus the calls in flight in
//!   the killed children (a child marks a call in flight in a shared board
//!   before it starts and acknowledges it after it returned);
//! - leases: tokens of a subject strictly increase, and never two live holders;
//! - add: never two winners of one key;
//! - fleet: never two live holders of one node id, and dead ids are reclaimed;
//! - stuck slots, buckets and lease entries are recovered: a later operation
//!   succeeds within a bound;
//! - a segment whose creator died mid-initialisation is usable by the next
//!   opener.
//!
//! One `#[test]` per operation, so `cargo test --test crash_matrix cache_incr`
//! replays one. Randomness comes from one seed, printed at the start of every
//! operation and in every failure: replay with `ORBIT_CRASH_SEED=<seed>`.
//! (lease.bind runs claims of more subjects than the lease table holds, so
//! kills land while a subject is being bound under the table's bind lock.)
//! Short mode (default, CI): a few seconds per operation. Long mode:
//! `ORBIT_CRASH_LONG=1 cargo test --release --test crash_matrix -- --nocapture`
//! (about 25 s of rounds per operation); `ORBIT_CRASH_SECS` sets the budget of
//! each operation in either mode. Each test prints one summary line.
//!
//! The shared board the children report into is a plain file in /dev/shm
//! owned by the test (not an orbit object): per child `ops`, `in_call`,
//! `acked[..]`, `stop`; plus op-specific words (winners, holders, tokens).

mod common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ChildProc, Template, XorShift, mix, param, spawn, unique_fleet, verify};
use orbit::fleet::liveness::pid_exists;
use orbit::{
    AuditRecord, Bus, BusOptions, CacheOptions, Contest, Error, Fleet, FleetOptions, From,
    OrbitCache, Ring, RingOptions, Status,
};

/// How long a survivor may go without completing an operation.
const PROGRESS_LIMIT: Duration = Duration::from_secs(15);
/// How long one operation of this process may take after a round of kills
/// (the library's own bounds are 2 s for a stuck lease binder, 3 s for an
/// initialisation lock, 5 s for a live bucket holder).
const OP_LIMIT: Duration = Duration::from_secs(8);
/// How long a reader may take to get past what the dead left behind.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Configuration and replay

struct Cfg {
    op: &'static str,
    seed: u64,
    long: bool,
    budget: Duration,
    max_rounds: u64,
}

impl Cfg {
    fn new(op: &'static str) -> Cfg {
        let long = std::env::var("ORBIT_CRASH_LONG").is_ok_and(|v| v == "1");
        let base: u64 = std::env::var("ORBIT_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    ^ ((std::process::id() as u64) << 32)
            });
        let secs: u64 = std::env::var("ORBIT_CRASH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if long { 25 } else { 3 });
        let cfg = Cfg {
            op,
            seed: base,
            long,
            budget: Duration::from_secs(secs),
            max_rounds: if long { 100_000 } else { 20 },
        };
        eprintln!("crash_matrix {op}: {}", cfg.replay());
        cfg
    }

    fn rng(&self) -> XorShift {
        let h = self
            .op
            .bytes()
            .fold(0u64, |h, b| mix(h ^ b as u64).rotate_left(7));
        XorShift::new(self.seed ^ h)
    }

    fn replay(&self) -> String {
        format!(
            "seed {}; replay with ORBIT_CRASH_SEED={} cargo test --test crash_matrix {}",
            self.seed,
            self.seed,
            self.op.replace('.', "_")
        )
    }

    fn more(&self, rounds: u64, started: Instant) -> bool {
        rounds < 3 || (rounds < self.max_rounds && started.elapsed() < self.budget)
    }
}

/// Runs `f` on this thread; if it does not return within `limit`, prints
/// `what` and ends the whole test process (a hung call cannot be unwound).
fn bounded<T>(limit: Duration, what: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let what = what.into();
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            while !done.load(Ordering::Acquire) {
                if t.elapsed() > limit {
                    eprintln!("WATCHDOG: {what} did not return within {limit:?}");
                    std::process::exit(3);
                }
                std::thread::park_timeout(Duration::from_millis(20));
            }
        })
    };
    let r = f();
    done.store(true, Ordering::Release);
    watchdog.thread().unpark();
    watchdog.join().unwrap();
    r
}

// ---------------------------------------------------------------------------
// The board: words in a file in /dev/shm shared by the parent and its children

const SLOTS: usize = 4096;
const SLOT_WORDS: usize = 8;
const GLOBALS: usize = 8192;
/// Slot words.
const W_OPS: usize = 0;
const W_IN_CALL: usize = 1;
const W_ACK0: usize = 2;
const W_STOP: usize = 4;
const W_PID: usize = 5;

struct Board {
    ptr: *const AtomicU64,
    path: String,
    owner: bool,
}

// SAFETY: the board is process-shared memory accessed only through atomics.
unsafe impl Send for Board {}
// SAFETY: as above.
unsafe impl Sync for Board {}

impl Board {
    const LEN: usize = (SLOTS * SLOT_WORDS + GLOBALS) * 8;

    fn create(tag: &str) -> Board {
        let path = format!("/dev/shm/orbit-crashtest.{}.{tag}", std::process::id());
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(Self::LEN as u64).unwrap();
        Board::map(f, path, true)
    }

    fn open(path: &str) -> Board {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        Board::map(f, path.to_string(), false)
    }

    fn map(f: std::fs::File, path: String, owner: bool) -> Board {
        use std::os::fd::AsRawFd;
        // SAFETY: a shared read-write mapping of a file of LEN bytes we opened.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap board");
        Board {
            ptr: p as *const AtomicU64,
            path,
            owner,
        }
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < Self::LEN / 8);
        // SAFETY: i is inside the mapping; page-aligned base, 8-byte words.
        unsafe { &*self.ptr.add(i) }
    }

    fn slot(&self, serial: usize, w: usize) -> &AtomicU64 {
        assert!(serial < SLOTS, "more than {SLOTS} children in one test");
        self.word(serial * SLOT_WORDS + w)
    }

    fn global(&self, i: usize) -> &AtomicU64 {
        assert!(i < GLOBALS);
        self.word(SLOTS * SLOT_WORDS + i)
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, Self::LEN) };
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// The child side

/// What a child's loop body reports.
type Step<'a> = Box<dyn FnMut(&mut XorShift, &Board, usize) + 'a>;

/// Runs `step` until the parent sets our stop word (then exits cleanly), or
/// the parent is gone. A failed check panics: exit 101 with the message on
/// stderr, which the parent reports.
fn child_loop(board: &Board, serial: usize, mut step: Step<'_>) {
    let mut rng = XorShift::new(param::<u64>("SEED"));
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    board
        .slot(serial, W_PID)
        .store(std::process::id() as u64, Ordering::Relaxed);
    let started = Instant::now();
    let mut n = 0u64;
    while board.slot(serial, W_STOP).load(Ordering::Acquire) == 0 {
        step(&mut rng, board, serial);
        n += 1;
        board.slot(serial, W_OPS).store(n, Ordering::Release);
        if n % 16 == 0 {
            // SAFETY: getppid has no preconditions.
            if unsafe { libc::getppid() } != parent || started.elapsed().as_secs() > 300 {
                return; // never outlive the test
            }
        }
    }
}

/// Marks a call in flight around `f` (a kill inside leaves the mark set).
fn in_call<T>(board: &Board, serial: usize, f: impl FnOnce() -> T) -> T {
    board.slot(serial, W_IN_CALL).store(1, Ordering::SeqCst);
    let r = f();
    board.slot(serial, W_IN_CALL).store(0, Ordering::SeqCst);
    r
}

/// Like `in_call`, but acknowledges (word `ack`) before clearing the mark
/// when `f` says the call took effect.
fn acked_call<T>(board: &Board, serial: usize, ack: usize, f: impl FnOnce() -> (T, bool)) -> T {
    board.slot(serial, W_IN_CALL).store(1, Ordering::SeqCst);
    let (r, took_effect) = f();
    if took_effect {
        board.slot(serial, ack).fetch_add(1, Ordering::SeqCst);
    }
    board.slot(serial, W_IN_CALL).store(0, Ordering::SeqCst);
    r
}

fn fail(what: String) -> ! {
    panic!("crash_matrix child {}: {what}", std::process::id())
}

/// Entry point of every child; a no-op in the normal test run.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    let board = Board::open(&param::<String>("BOARD"));
    let serial: usize = param("SERIAL");
    let fleet_name: String = param("FLEET");
    if role == "fleet" {
        return child_fleet(&board, serial, &fleet_name);
    }
    if role == "segments" {
        return child_segments(&board, serial, &fleet_name);
    }
    let fleet = Fleet::join(&fleet_name, &FleetOptions::default()).expect("join");
    match role.as_str() {
        "ring_writer" => child_ring_writer(&board, serial, &fleet),
        "single_writer" => child_single_writer(&board, serial, &fleet),
        "ring_reader" => child_ring_reader(&board, serial, &fleet),
        "cache" => child_cache(&board, serial, &fleet, &param::<String>("OP")),
        "bus" => child_bus(&board, serial, &fleet),
        "lease" => child_lease(&board, serial, &fleet, &param::<String>("OP")),
        other => panic!("unknown role {other}"),
    }
}

// ---------------------------------------------------------------------------
// The parent side: rounds of spawn, kill, check

struct Child {
    proc: ChildProc,
    serial: usize,
}

#[derive(Default)]
struct Tally {
    rounds: u64,
    kills: u64,
    /// Killed while the board said a call was in flight.
    kills_in_call: u64,
    spawned: u64,
    /// Named invariant checks that ran (each counted once per check).
    checks: HashMap<&'static str, u64>,
}

impl Tally {
    fn check(&mut self, what: &'static str) {
        *self.checks.entry(what).or_default() += 1;
    }

    fn summary(&self, cfg: &Cfg, extra: &str) -> String {
        let mut checks: Vec<_> = self.checks.iter().collect();
        checks.sort();
        let checks: Vec<String> = checks.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        format!(
            "crash_matrix {}: {} rounds, {} children, {} killed ({} mid-call){}; checks: {}",
            cfg.op,
            self.rounds,
            self.spawned,
            self.kills,
            self.kills_in_call,
            extra,
            checks.join(", ")
        )
    }
}

struct Round<'a> {
    cfg: &'a Cfg,
    board: &'a Board,
    children: Vec<Child>,
    next_serial: &'a mut usize,
}

impl<'a> Round<'a> {
    fn new(cfg: &'a Cfg, board: &'a Board, next_serial: &'a mut usize) -> Round<'a> {
        Round {
            cfg,
            board,
            children: Vec::new(),
            next_serial,
        }
    }

    fn spawn(&mut self, role: &str, params: &[(&str, String)], rng: &mut XorShift) -> usize {
        let serial = *self.next_serial;
        *self.next_serial += 1;
        let mut all: Vec<(&str, String)> = vec![
            ("BOARD", self.board.path.clone()),
            ("SERIAL", serial.to_string()),
            ("SEED", rng.next_u64().to_string()),
        ];
        all.extend(params.iter().cloned());
        let proc = spawn(role, &all);
        self.children.push(Child { proc, serial });
        serial
    }

    fn ops(&self, serial: usize) -> u64 {
        self.board.slot(serial, W_OPS).load(Ordering::Acquire)
    }

    /// Waits until every child completed `n` more operations than `base`.
    fn await_progress(&mut self, n: u64, when: &str) {
        let base: Vec<u64> = self.children.iter().map(|c| self.ops(c.serial)).collect();
        let t = Instant::now();
        for (c, b) in self.children.iter_mut().zip(base) {
            while self.board.slot(c.serial, W_OPS).load(Ordering::Acquire) < b + n {
                if let Some(status) = c.proc.try_wait() {
                    panic!(
                        "{}: {} exited with {status} {when} ({})",
                        self.cfg.op,
                        c.proc.what,
                        self.cfg.replay()
                    );
                }
                if t.elapsed() > PROGRESS_LIMIT {
                    panic!(
                        "{}: {} made no progress for {:?} {when}: HUNG ({})",
                        self.cfg.op,
                        c.proc.what,
                        t.elapsed(),
                        self.cfg.replay()
                    );
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }

    /// Kills a random non-empty subset at random instants (sometimes all).
    fn kill_some(&mut self, rng: &mut XorShift, tally: &mut Tally) -> Vec<usize> {
        let n = self.children.len();
        let victims = if rng.below(5) == 0 {
            n
        } else {
            rng.range(1, (n - 1).max(1) as u64) as usize
        };
        let mut killed = Vec::new();
        for _ in 0..victims {
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            let i = rng.below(self.children.len() as u64) as usize;
            let mut c = self.children.swap_remove(i);
            let status = c.proc.kill9();
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "{}: {} ended on its own with {status} before the kill ({})",
                self.cfg.op,
                c.proc.what,
                self.cfg.replay()
            );
            tally.kills += 1;
            if self.board.slot(c.serial, W_IN_CALL).load(Ordering::SeqCst) != 0 {
                tally.kills_in_call += 1;
            }
            killed.push(c.serial);
        }
        killed
    }

    /// Stops the survivors cleanly; each must exit 0 within the limit.
    fn stop_all(&mut self) -> Vec<usize> {
        for c in &self.children {
            self.board
                .slot(c.serial, W_STOP)
                .store(1, Ordering::Release);
        }
        let mut stopped = Vec::new();
        for mut c in self.children.drain(..) {
            let t = Instant::now();
            let status = loop {
                if let Some(s) = c.proc.try_wait() {
                    break s;
                }
                if t.elapsed() > PROGRESS_LIMIT {
                    c.proc.kill9();
                    panic!(
                        "{}: {} did not stop within {PROGRESS_LIMIT:?}: HUNG ({})",
                        self.cfg.op,
                        c.proc.what,
                        self.cfg.replay()
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            assert!(
                status.success(),
                "{}: survivor {} failed with {status} (its message is above) ({})",
                self.cfg.op,
                c.proc.what,
                self.cfg.replay()
            );
            stopped.push(c.serial);
        }
        stopped
    }
}

/// Spawns `n` children of `role`, waits for them to run, kills some at random
/// instants, waits for the survivors to keep working, runs `after_kill`
/// (this process's own operations, each bounded), stops the survivors.
/// Returns (killed serials, killed serials that were mid-call, survivors).
#[allow(clippy::too_many_arguments)]
fn round(
    cfg: &Cfg,
    board: &Board,
    next_serial: &mut usize,
    rng: &mut XorShift,
    tally: &mut Tally,
    n: usize,
    role: &str,
    params: &[(&str, String)],
    after_kill: &mut dyn FnMut(&mut Tally),
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut r = Round::new(cfg, board, next_serial);
    for _ in 0..n {
        r.spawn(role, params, rng);
    }
    tally.spawned += n as u64;
    r.await_progress(1, "after starting");
    std::thread::sleep(Duration::from_micros(rng.below(40_000)));
    let killed = r.kill_some(rng, tally);
    let mid_call: Vec<usize> = killed
        .iter()
        .copied()
        .filter(|s| board.slot(*s, W_IN_CALL).load(Ordering::SeqCst) != 0)
        .collect();
    r.await_progress(3, "after the kills");
    if !r.children.is_empty() {
        tally.check("survivors progress after kills");
    }
    after_kill(tally);
    let survivors = r.stop_all();
    tally.rounds += 1;
    (killed, mid_call, survivors)
}

fn fleet_options() -> FleetOptions {
    FleetOptions::default()
}

/// Unlinks every object the matrix creates in a fleet (errors ignored).
fn unlink_everything(fleet: &str, names: &[&str]) {
    for n in names {
        let _ = Ring::unlink(fleet, n);
        let _ = OrbitCache::unlink(fleet, n);
        let _ = Bus::unlink(fleet, n);
    }
    let _ = Contest::unlink(fleet);
    let _ = orbit::fleet::unlink(fleet);
}

struct Unlinker(String, Vec<&'static str>);

impl Drop for Unlinker {
    fn drop(&mut self) {
        unlink_everything(&self.0, &self.1);
    }
}

// ---------------------------------------------------------------------------
// Rings: writers killed (ring.write) and readers killed (cursor.read)

const RING_KIND: u8 = 77;

/// A reader thread of this process that follows a ring (or a bus), checking
/// every frame; it records the first problem.
struct Follower {
    position: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
    frames: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    fn check(&self, cfg: &Cfg, when: &str) {
        if let Some(e) = self.error.lock().unwrap().clone() {
            self.stop.store(true, Ordering::Relaxed);
            panic!("{}: {when}: reader found: {e} ({})", cfg.op, cfg.replay());
        }
    }

    /// Waits until the reader is at `head` (it got past everything dead
    /// writers left pending, by the liveness rule, not a timeout).
    fn drain_to(&self, cfg: &Cfg, head: u64) {
        let t = Instant::now();
        while self.position.load(Ordering::Acquire) < head {
            self.check(cfg, "draining");
            assert!(
                t.elapsed() < DRAIN_LIMIT,
                "{}: reader stuck at {} of head {head} for {:?} after the kills ({})",
                cfg.op,
                self.position.load(Ordering::Acquire),
                t.elapsed(),
                cfg.replay()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(mut self, cfg: &Cfg) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.check(cfg, "at the end");
        self.frames.load(Ordering::Relaxed)
    }
}

/// Follows `ring` with a cursor: every frame whole (checksum), ids in
/// position order with exact loss, each writer's frames in order.
fn follow_ring(ring: Ring) -> Follower {
    let position = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let error = Arc::new(Mutex::new(None));
    let frames = Arc::new(AtomicU64::new(0));
    let (p, s, e, f) = (
        position.clone(),
        stop.clone(),
        error.clone(),
        frames.clone(),
    );
    let handle = std::thread::spawn(move || {
        let r = (|| -> Result<(), String> {
            let mut cursor = ring.cursor(From::Oldest);
            // Only the liveness rule may skip a dead writer's frame.
            cursor.set_stuck_timeout(Duration::from_secs(120));
            let mut buf = vec![0u8; ring.info().max_payload as usize];
            let mut expect = cursor.next_position();
            let mut last: HashMap<u32, u64> = HashMap::new();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                match cursor.wait(Duration::from_millis(10)) {
                    Ok(()) | Err(Error::Timeout) => {}
                    Err(e) => return Err(format!("wait: {e}")),
                }
                while let Some(info) = cursor.next_into(&mut buf).map_err(|e| e.to_string())? {
                    let pi = verify(&buf[..info.len as usize])
                        .map_err(|e| format!("TORN frame {}: {e}", info.id))?;
                    if info.id.counter() != (expect + info.lost) & orbit::id::COUNTER_MASK {
                        return Err(format!(
                            "frame {} after position {expect} with lost {}",
                            info.id, info.lost
                        ));
                    }
                    expect += info.lost + 1;
                    if info.ver != pi.index {
                        return Err(format!("frame {} ver {} != {pi:?}", info.id, info.ver));
                    }
                    if let Some(prev) = last.insert(pi.tag, pi.index) {
                        if pi.index <= prev {
                            return Err(format!("writer {:#x}: {} after {prev}", pi.tag, pi.index));
                        }
                    }
                    n += 1;
                    f.store(n, Ordering::Relaxed);
                }
                p.store(cursor.next_position(), Ordering::Release);
            }
            Ok(())
        })();
        if let Err(msg) = r {
            *e.lock().unwrap() = Some(msg);
        }
    });
    Follower {
        position,
        stop,
        error,
        frames,
        handle: Some(handle),
    }
}

fn ring_options(capacity: u64, max_payload: u32) -> RingOptions {
    RingOptions {
        capacity,
        max_payload,
        kind: RING_KIND,
        mode: 0,
        single_writer: false,
    }
}

/// Eight frame templates of random lengths for a writer child, tagged with
/// its node and serial.
fn writer_templates(ring: &Ring, fleet: &Fleet, serial: usize, salt: u64) -> Vec<Template> {
    let max = ring.info().max_payload as u64;
    let tag = (fleet.node_id().unwrap() as u32) << 16 | (serial as u32 & 0xFFFF);
    let mut rng = XorShift::new(param::<u64>("SEED") ^ salt);
    (0..8)
        .map(|_| Template::new(rng.range(32, max) as usize, tag, &mut rng))
        .collect()
}

fn child_ring_writer(board: &Board, serial: usize, fleet: &Fleet) {
    let ring = Ring::open(fleet, "r", None).expect("open ring");
    let mut templates = writer_templates(&ring, fleet, serial, 0x5A);
    let mut i = 0u64;
    child_loop(
        board,
        serial,
        Box::new(move |_, b, s| {
            let t = &mut templates[(i % 8) as usize];
            let frame = t.frame(i);
            in_call(b, s, || ring.write(1, i, frame))
                .unwrap_or_else(|e| fail(format!("write: {e}")));
            i += 1;
        }),
    );
}

/// Rounds of `role` writer children on ring `name`, killed at random
/// instants, followed by a reader thread of this process. After each round
/// of kills, `lap(ring, target, index, template)` must see `head` reach
/// `target` (a full lap on) within the bound, so every slot a dead writer
/// left half-written was taken over, and the reader must get past
/// everything the dead left, by liveness.
fn ring_writer_rounds(
    op: &'static str,
    role: &str,
    name: &'static str,
    single_writer: bool,
    lap: &dyn Fn(&Ring, u64, &mut u64, &mut Template),
) {
    let cfg = Cfg::new(op);
    let mut rng = cfg.rng();
    let fleet = unique_fleet(&format!("cm-{name}"));
    let _u = Unlinker(fleet.clone(), vec![name]);
    unlink_everything(&fleet, &[name]);
    let board = Board::create(name);
    let me = Fleet::join(&fleet, &fleet_options()).unwrap();
    let capacity = 8u64 << rng.below(3);
    let opts = RingOptions {
        single_writer,
        ..ring_options(capacity, 16 * 1024)
    };
    let ring = Ring::open(&me, name, Some(&opts)).unwrap();
    let follower = follow_ring(ring.clone());
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    let mut mine = Template::new(200, 0xFFFF_0000, &mut rng);
    let mut my_index = 0u64;
    while cfg.more(tally.rounds, started) {
        let n = rng.range(2, 4) as usize;
        let params = [("FLEET", fleet.clone())];
        round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            role,
            &params,
            &mut |t| {
                follower.check(&cfg, "after kills");
                let target = ring.head() + capacity + 1;
                bounded(OP_LIMIT, format!("{op} lap ({})", cfg.replay()), || {
                    lap(&ring, target, &mut my_index, &mut mine)
                });
                t.check("stuck slots taken over (a full lap written within bound)");
            },
        );
        // Everyone is stopped or dead: the reader gets to the head promptly.
        follower.drain_to(&cfg, ring.head());
        tally.check("reader past every dead writer's slot (liveness, not timeout)");
        tally.check("frames whole, in order, exact loss");
    }
    let frames = follower.finish(&cfg);
    let takeovers = ring.info().takeovers;
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(", capacity {capacity}, {frames} frames read, {takeovers} slot takeovers")
        )
    );
    assert!(frames > 0);
    if cfg.long {
        assert!(
            takeovers > 0,
            "no takeover in a long run ({})",
            cfg.replay()
        );
    }
}

#[test]
fn ring_write() {
    // This process laps the ring itself, beside the surviving writers.
    ring_writer_rounds(
        "ring.write",
        "ring_writer",
        "r",
        false,
        &|ring, target, i, t| {
            while ring.head() < target {
                ring.write(1, *i, t.frame(*i)).unwrap();
                *i += 1;
            }
        },
    );
}

#[test]
fn ring_single_write() {
    // The lap is written by a surviving holder of the role, or by this
    // process once the role is free or its holder dead.
    ring_writer_rounds(
        "ring.single_write",
        "single_writer",
        "s",
        true,
        &|ring, target, i, t| {
            while ring.head() < target {
                match ring.writer() {
                    Ok(mut w) => {
                        while ring.head() < target {
                            w.write(1, *i, t.frame(*i)).unwrap();
                            *i += 1;
                        }
                    }
                    Err(e) if e.status() == Status::Conflict => {
                        std::thread::sleep(Duration::from_micros(200))
                    }
                    Err(e) => panic!("writer: {e}"),
                }
            }
        },
    );
}

/// A child that takes the single-writer role of ring "s" when it is free,
/// writes through it, and now and then gives it up; killed anywhere in that,
/// including while acquiring or giving up the role.
fn child_single_writer(board: &Board, serial: usize, fleet: &Fleet) {
    let ring = Ring::open(fleet, "s", None).expect("open ring");
    let mut templates = writer_templates(&ring, fleet, serial, 0x5B);
    let mut writer = None;
    let mut i = 0u64;
    child_loop(
        board,
        serial,
        Box::new(move |rng, b, s| {
            if writer.is_none() {
                match in_call(b, s, || ring.writer()) {
                    Ok(w) => writer = Some(w),
                    Err(e) if e.status() == Status::Conflict => {
                        std::thread::sleep(Duration::from_micros(50));
                        return;
                    }
                    Err(e) => fail(format!("writer: {e}")),
                }
            }
            let w = writer.as_mut().expect("held");
            let t = &mut templates[(i % 8) as usize];
            let frame = t.frame(i);
            in_call(b, s, || w.write(1, i, frame))
                .unwrap_or_else(|e| fail(format!("single write: {e}")));
            i += 1;
            if rng.below(200) == 0 {
                in_call(b, s, || drop(writer.take()));
            }
        }),
    );
}

fn child_ring_reader(board: &Board, serial: usize, fleet: &Fleet) {
    let ring = Ring::open(fleet, "r", None).expect("open ring");
    let mut cursor = ring.cursor(From::Oldest);
    let mut buf = vec![0u8; ring.info().max_payload as usize];
    let mut expect = cursor.next_position();
    let mut last: HashMap<u32, u64> = HashMap::new();
    child_loop(
        board,
        serial,
        Box::new(move |rng, b, s| {
            match rng.below(10) {
                0 => {
                    // A random-access read of the newest frame.
                    if let Some(f) = in_call(b, s, || ring.read_head()).expect("read_head") {
                        verify(&f.payload)
                            .unwrap_or_else(|e| fail(format!("TORN head {}: {e}", f.info.id)));
                        if let Ok(info) = ring.read(f.info.id, &mut buf) {
                            verify(&buf[..info.len as usize])
                                .unwrap_or_else(|e| fail(format!("TORN read: {e}")));
                        }
                    }
                }
                1 | 2 => {
                    let _ = in_call(b, s, || cursor.wait(Duration::from_millis(5)));
                }
                _ => {
                    while let Some(info) = in_call(b, s, || cursor.next_into(&mut buf))
                        .unwrap_or_else(|e| fail(format!("next: {e}")))
                    {
                        let pi = verify(&buf[..info.len as usize])
                            .unwrap_or_else(|e| fail(format!("TORN frame {}: {e}", info.id)));
                        if info.id.counter() != (expect + info.lost) & orbit::id::COUNTER_MASK {
                            fail(format!(
                                "frame {} lost {} after {expect}",
                                info.id, info.lost
                            ));
                        }
                        expect += info.lost + 1;
                        if let Some(prev) = last.insert(pi.tag, pi.index) {
                            if pi.index <= prev {
                                fail(format!("writer {:#x}: {} after {prev}", pi.tag, pi.index));
                            }
                        }
                    }
                }
            }
        }),
    );
}

#[test]
fn cursor_read() {
    let cfg = Cfg::new("cursor.read");
    let mut rng = cfg.rng();
    let fleet = unique_fleet("cm-cr");
    let _u = Unlinker(fleet.clone(), vec!["r"]);
    unlink_everything(&fleet, &["r"]);
    let board = Board::create("cr");
    let me = Fleet::join(&fleet, &fleet_options()).unwrap();
    let ring = Ring::open(&me, "r", Some(&ring_options(64, 1024))).unwrap();
    // A writer thread of this process: it must never be held up by readers
    // that die (in `wait`, registered as waiters, or mid-copy).
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (ring, stop, written) = (ring.clone(), stop.clone(), written.clone());
        let mut t = Template::new(700, 0xEEEE_0001, &mut rng);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                ring.write(1, i, t.frame(i)).unwrap();
                i += 1;
                written.store(i, Ordering::Relaxed);
                if i % 32 == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
        })
    };
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    while cfg.more(tally.rounds, started) {
        let n = rng.range(2, 4) as usize;
        let params = [("FLEET", fleet.clone())];
        round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            "ring_reader",
            &params,
            &mut |t| {
                let w0 = written.load(Ordering::Relaxed);
                bounded(
                    OP_LIMIT,
                    format!("writer progress ({})", cfg.replay()),
                    || {
                        while written.load(Ordering::Relaxed) < w0 + 200 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    },
                );
                t.check("writers never held up by dead readers");
                // A fresh reader reads a whole ring's worth intact.
                bounded(OP_LIMIT, format!("fresh cursor ({})", cfg.replay()), || {
                    let mut c = ring.cursor(From::Oldest);
                    let mut buf = vec![0u8; 1024];
                    let mut n = 0;
                    while n < 64 {
                        match c.next_into(&mut buf).unwrap() {
                            Some(info) => {
                                verify(&buf[..info.len as usize]).unwrap();
                                n += 1;
                            }
                            None => {
                                let _ = c.wait(Duration::from_millis(5));
                            }
                        }
                    }
                });
                t.check("fresh cursor reads whole frames");
            },
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(", {} frames written", written.load(Ordering::Relaxed))
        )
    );
}

// ---------------------------------------------------------------------------
// The cache: set, add, cas, incr, delete, clear

const KEYS: u32 = 16;
const COUNTER_KEYS: usize = 2;
/// Globals of the add test: the acknowledged winner of key j (serial + 1).
const G_WINNER: usize = 0;
/// Global 4095: the round number (add keys are per round).
const G_ROUND: usize = 4095;

fn key_of(id: u32) -> Vec<u8> {
    format!("key-{id}").into_bytes()
}

fn counter_key(i: usize) -> Vec<u8> {
    format!("counter-{i}").into_bytes()
}

fn add_key(round: u64, j: usize) -> Vec<u8> {
    format!("add-{round}-{j}").into_bytes()
}

/// A self-checking value naming its key and writer.
fn value_for(key: u32, writer: u32, index: u64, rng: &mut XorShift, max: usize) -> Vec<u8> {
    let len = rng.range(32, max as u64) as usize;
    common::payload(len, key << 16 | (writer & 0xFFFF), index, rng)
}

fn check_value(key: u32, v: &[u8]) -> Result<u32, String> {
    let pi = verify(v)?;
    if pi.tag >> 16 != key {
        return Err(format!("value of key {} under key {key}", pi.tag >> 16));
    }
    Ok(pi.tag & 0xFFFF)
}

/// A cas counter value: the count and a check word.
fn cas_value(count: u64, key: usize) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&count.to_le_bytes());
    v[8..].copy_from_slice(&mix(count ^ (key as u64) << 56).to_le_bytes());
    v
}

fn cas_count(v: &[u8], key: usize) -> Result<u64, String> {
    if v.len() != 16 {
        return Err(format!("cas counter of {} bytes", v.len()));
    }
    let count = u64::from_le_bytes(v[..8].try_into().unwrap());
    if v[8..] != mix(count ^ (key as u64) << 56).to_le_bytes() {
        return Err(format!("TORN cas counter {v:?}"));
    }
    Ok(count)
}

fn cache_options(capacity: u64) -> CacheOptions {
    CacheOptions {
        capacity,
        max_key: 32,
        max_value: 256,
        mode: 0,
    }
}

fn child_cache(board: &Board, serial: usize, fleet: &Fleet, op: &str) {
    let cache = OrbitCache::open(fleet, "c", None).expect("open cache");
    let max = cache.stats().max_value as usize;
    let me = serial as u32;
    let mut index = 0u64;
    let mut last_incr = [i64::MIN; COUNTER_KEYS];
    let add_round = board.global(G_ROUND).load(Ordering::Acquire);
    let mut next_add = 0usize;
    let op = op.to_string();
    let mut buf = vec![0u8; max];
    child_loop(
        board,
        serial,
        Box::new(move |rng, b, s| {
            index += 1;
            let k = rng.below(KEYS as u64) as u32;
            let get_check = |buf: &mut [u8], k: u32| {
                if let Some(m) = in_call(b, s, || cache.get_into(&key_of(k), buf))
                    .unwrap_or_else(|e| fail(format!("get: {e}")))
                {
                    check_value(k, &buf[..m.len])
                        .unwrap_or_else(|e| fail(format!("get key {k}: {e}")));
                }
            };
            match (op.as_str(), rng.below(10)) {
                ("incr", _) => {
                    let c = rng.below(COUNTER_KEYS as u64) as usize;
                    let v = acked_call(b, s, W_ACK0 + c, || {
                        let r = cache.incr(&counter_key(c), 1, 0);
                        let ok = r.is_ok();
                        (r, ok)
                    })
                    .unwrap_or_else(|e| fail(format!("incr: {e}")));
                    if v <= last_incr[c] {
                        fail(format!("incr returned {v} after {}", last_incr[c]));
                    }
                    last_incr[c] = v;
                }
                ("cas", _) => {
                    let c = rng.below(COUNTER_KEYS as u64) as usize;
                    let key = counter_key(c);
                    let mut vb = [0u8; 16];
                    let m = in_call(b, s, || cache.get_into(&key, &mut vb))
                        .unwrap_or_else(|e| fail(format!("get: {e}")))
                        .unwrap_or_else(|| fail(format!("cas counter {c} vanished")));
                    let count = cas_count(&vb[..m.len], c).unwrap_or_else(|e| fail(e));
                    let r = acked_call(b, s, W_ACK0 + c, || {
                        let r = cache.cas(&key, m.version, &cas_value(count + 1, c), 0);
                        let ok = r.is_ok();
                        (r, ok)
                    });
                    match r {
                        Ok(_) => {}
                        Err(Error::Conflict(_)) => {}
                        Err(e) => fail(format!("cas: {e}")),
                    }
                }
                ("add", _) => {
                    if next_add >= ADD_KEYS {
                        get_check(&mut buf, k);
                        return;
                    }
                    let j = next_add;
                    next_add += 1;
                    let v = common::payload(40, (j as u32) << 16 | me, 0, rng);
                    let won = acked_call(b, s, W_ACK0, || {
                        let r = cache.add(&add_key(add_round, j), &v, 0);
                        match r {
                            Ok(_) => (true, true),
                            Err(Error::Conflict(_)) => (false, false),
                            Err(e) => fail(format!("add: {e}")),
                        }
                    });
                    if won
                        && b.global(G_WINNER + j)
                            .compare_exchange(0, me as u64 + 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_err()
                    {
                        fail(format!(
                            "TWO WINNERS of add key {j}: {} and me ({me})",
                            b.global(G_WINNER + j).load(Ordering::SeqCst) - 1
                        ));
                    }
                }
                (_, 0..=5) => {
                    let v = value_for(k, me, index, rng, max);
                    in_call(b, s, || cache.set(&key_of(k), &v, 0))
                        .unwrap_or_else(|e| fail(format!("set: {e}")));
                }
                ("delete", 6..=7) => {
                    in_call(b, s, || cache.delete(&key_of(k)))
                        .unwrap_or_else(|e| fail(format!("delete: {e}")));
                }
                ("clear", 6) if rng.below(8) == 0 => {
                    in_call(b, s, || cache.clear()).unwrap_or_else(|e| fail(format!("clear: {e}")));
                }
                _ => get_check(&mut buf, k),
            }
        }),
    );
}

/// Keys each child of the add test races for per round.
const ADD_KEYS: usize = 400;

fn cache_op(op: &'static str) {
    let cfg = Cfg::new(op);
    let mut rng = cfg.rng();
    let sub = op.trim_start_matches("cache.");
    let fleet = unique_fleet(&format!("cm-c{sub}"));
    let _u = Unlinker(fleet.clone(), vec!["c"]);
    unlink_everything(&fleet, &["c"]);
    let board = Board::create(&format!("c{sub}"));
    let me = Fleet::join(&fleet, &fleet_options()).unwrap();
    // Small logs wrap (and take over dead writers' log slots) quickly; the
    // counters and the add keys need room to stay exact.
    let capacity = match sub {
        "incr" | "cas" | "add" => 4096,
        _ => 32 << rng.below(3),
    };
    let cache = OrbitCache::open(&me, "c", Some(&cache_options(capacity))).unwrap();
    if sub == "cas" {
        for c in 0..COUNTER_KEYS {
            cache.set(&counter_key(c), &cas_value(0, c), 0).unwrap();
        }
    }
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    let mut my_index = 0u64;
    let mut my_rng = XorShift::new(cfg.seed ^ 0xC0FFEE);
    // Acknowledged increments so far, and the in-flight calls of killed children.
    let mut acked = [0u64; COUNTER_KEYS];
    let mut in_flight = 0u64;
    let (mut add_won, mut add_unacked) = (0u64, 0u64);
    let mut buf = vec![0u8; 256];
    while cfg.more(tally.rounds, started) {
        board.global(G_ROUND).store(tally.rounds, Ordering::Release);
        for j in 0..ADD_KEYS {
            board.global(G_WINNER + j).store(0, Ordering::Release);
        }
        let n = rng.range(2, 4) as usize;
        let params = [("FLEET", fleet.clone()), ("OP", sub.to_string())];
        let first_serial = serial;
        let (killed, mid_call, _survivors) = round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            "cache",
            &params,
            &mut |t| {
                // Every bucket a dead writer held, every log slot it left
                // half-written, is recovered: this process's writes to every
                // key complete within the bound, and read back whole.
                bounded(
                    OP_LIMIT,
                    format!("{op} recovery ({})", cfg.replay()),
                    || {
                        match sub {
                            "incr" | "cas" => {
                                for c in 0..COUNTER_KEYS {
                                    // incr by 0 takes the bucket lock and changes nothing
                                    // but the log position: for cas too, use a get.
                                    if sub == "incr" {
                                        cache.incr(&counter_key(c), 0, 0).unwrap();
                                    } else {
                                        cache.get(&counter_key(c)).unwrap().unwrap();
                                    }
                                }
                            }
                            "add" => {
                                cache
                                    .add(format!("p-{my_index}").as_bytes(), b"x", 0)
                                    .unwrap();
                            }
                            _ => {
                                for k in 0..KEYS {
                                    my_index += 1;
                                    let v = value_for(k, 0xFFFF, my_index, &mut my_rng, 256);
                                    cache.set(&key_of(k), &v, 0).unwrap();
                                }
                            }
                        }
                        my_index += 1;
                    },
                );
                t.check("stuck buckets and log slots recovered (writes within bound)");
            },
        );
        // Everyone is stopped or dead now.
        let gone = |s: usize| killed.contains(&s);
        match sub {
            "incr" | "cas" => {
                for s in first_serial..serial {
                    for (c, a) in acked.iter_mut().enumerate() {
                        *a += board.slot(s, W_ACK0 + c).load(Ordering::SeqCst);
                    }
                }
                in_flight += mid_call.len() as u64;
                for (c, a) in acked.iter().enumerate() {
                    let v = bounded(OP_LIMIT, "counter get", || {
                        cache.get(&counter_key(c)).unwrap()
                    })
                    .unwrap_or_else(|| panic!("{op}: counter {c} vanished ({})", cfg.replay()));
                    let value = if sub == "incr" {
                        i64::from_le_bytes(v[..8].try_into().unwrap()) as u64
                    } else {
                        cas_count(&v, c).unwrap_or_else(|e| panic!("{op}: {e} ({})", cfg.replay()))
                    };
                    assert!(
                        *a <= value && value <= *a + in_flight,
                        "{op}: counter {c} is {value}, acknowledged {a}, in flight when killed \
                         {in_flight} ({})",
                        cfg.replay()
                    );
                }
                tally.check("counter within [acked, acked + killed in flight]");
            }
            "add" => {
                for j in 0..ADD_KEYS {
                    let key = add_key(tally.rounds - 1, j);
                    let winner = board.global(G_WINNER + j).load(Ordering::SeqCst);
                    let got = cache.get_into(&key, &mut buf).unwrap();
                    match (got, winner) {
                        (Some(m), w) => {
                            let pi = verify(&buf[..m.len]).unwrap_or_else(|e| {
                                panic!("{op}: add key {j}: {e} ({})", cfg.replay())
                            });
                            let who = (pi.tag & 0xFFFF) as u64;
                            if w == 0 {
                                assert!(
                                    gone(who as usize),
                                    "{op}: key {j} held by {who}, who never acknowledged \
                                     winning and was not killed ({})",
                                    cfg.replay()
                                );
                                add_unacked += 1;
                            } else {
                                assert_eq!(
                                    who + 1,
                                    w,
                                    "{op}: key {j} holds {who}'s value, {} acknowledged the \
                                     win ({})",
                                    w - 1,
                                    cfg.replay()
                                );
                                add_won += 1;
                            }
                        }
                        (None, 0) => {}
                        (None, w) => panic!(
                            "{op}: key {j} won by {} is absent ({})",
                            w - 1,
                            cfg.replay()
                        ),
                    }
                }
                tally.check("one winner per key, the stored value is the winner's");
            }
            _ => {
                bounded(OP_LIMIT, "final reads", || {
                    for k in 0..KEYS {
                        if let Some(m) = cache.get_into(&key_of(k), &mut buf).unwrap() {
                            check_value(k, &buf[..m.len]).unwrap_or_else(|e| {
                                panic!("{op}: key {k}: {e} ({})", cfg.replay())
                            });
                        }
                    }
                    my_index += 1;
                    let v = value_for(3, 0xFFFF, my_index, &mut my_rng, 256);
                    cache.set(&key_of(3), &v, 0).unwrap();
                    assert_eq!(cache.get(&key_of(3)).unwrap().as_deref(), Some(&v[..]));
                    if sub == "clear" {
                        cache.clear().unwrap();
                        for k in 0..KEYS {
                            assert!(!cache.exists(&key_of(k)).unwrap(), "{op}: after clear");
                        }
                        assert_eq!(cache.keys().count(), 0);
                    }
                });
                tally.check("values whole and under their own key; read-your-write");
            }
        }
    }
    let st = cache.stats();
    let extra = match sub {
        "incr" | "cas" => format!(
            ", counters {:?} acknowledged, {in_flight} in flight when killed",
            acked
        ),
        "add" => format!(", {add_won} acknowledged wins, {add_unacked} by killed winners"),
        _ => String::new(),
    };
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(
                ", capacity {capacity}{extra}; cache takeovers {}, sets {}",
                st.takeovers, st.sets
            )
        )
    );
}

#[test]
fn cache_set() {
    cache_op("cache.set");
}

#[test]
fn cache_add() {
    cache_op("cache.add");
}

#[test]
fn cache_cas() {
    cache_op("cache.cas");
}

#[test]
fn cache_incr() {
    cache_op("cache.incr");
}

#[test]
fn cache_delete() {
    cache_op("cache.delete");
}

#[test]
fn cache_clear() {
    cache_op("cache.clear");
}

// ---------------------------------------------------------------------------
// The bus: publishers killed

fn child_bus(board: &Board, serial: usize, fleet: &Fleet) {
    let bus = Bus::open(fleet, "b", None).expect("open bus");
    let max = bus.max_payload() as u64;
    let topic = format!("t.{serial}");
    let mut rng = XorShift::new(param::<u64>("SEED") ^ 0xB5);
    let mut templates: Vec<Template> = (0..8)
        .map(|_| Template::new(rng.range(32, max) as usize, serial as u32, &mut rng))
        .collect();
    let mut i = 0u64;
    child_loop(
        board,
        serial,
        Box::new(move |_, b, s| {
            let p = templates[(i % 8) as usize].frame(i);
            in_call(b, s, || bus.publish(&topic, p))
                .unwrap_or_else(|e| fail(format!("publish: {e}")));
            i += 1;
        }),
    );
}

#[test]
fn bus_publish() {
    let cfg = Cfg::new("bus.publish");
    let mut rng = cfg.rng();
    let fleet = unique_fleet("cm-bp");
    let _u = Unlinker(fleet.clone(), vec!["b"]);
    unlink_everything(&fleet, &["b"]);
    let board = Board::create("bp");
    let me = Fleet::join(&fleet, &fleet_options()).unwrap();
    let capacity = 16u64 << rng.below(3);
    let bus = Bus::open(
        &me,
        "b",
        Some(&BusOptions {
            capacity,
            max_payload: 8192,
            mode: 0,
        }),
    )
    .unwrap();
    // A subscriber thread: every event whole, under its publisher's topic,
    // each publisher's events in order, nothing malformed.
    let stop = Arc::new(AtomicBool::new(false));
    let position = Arc::new(AtomicU64::new(0));
    let error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let events = Arc::new(AtomicU64::new(0));
    let sub_thread = {
        let (bus, stop, position, error, events) = (
            bus.clone(),
            stop.clone(),
            position.clone(),
            error.clone(),
            events.clone(),
        );
        std::thread::spawn(move || {
            let mut sub = bus.subscribe(Some("t."), From::Oldest).unwrap();
            let mut last: HashMap<u32, u64> = HashMap::new();
            let r = (|| -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    match sub.wait(Duration::from_millis(10)) {
                        Ok(()) | Err(Error::Timeout) => {}
                        Err(e) => return Err(format!("wait: {e}")),
                    }
                    while let Some(ev) = sub.next_ref().map_err(|e| e.to_string())? {
                        let pi = verify(ev.payload)
                            .map_err(|e| format!("TORN event {}: {e}", ev.info.id))?;
                        if ev.topic != format!("t.{}", pi.tag) {
                            return Err(format!("event of {} under topic {}", pi.tag, ev.topic));
                        }
                        if let Some(prev) = last.insert(pi.tag, pi.index) {
                            if pi.index <= prev {
                                return Err(format!(
                                    "publisher {}: {} after {prev}",
                                    pi.tag, pi.index
                                ));
                            }
                        }
                        events.fetch_add(1, Ordering::Relaxed);
                    }
                    if sub.malformed() != 0 || sub.filtered() != 0 {
                        return Err(format!(
                            "{} malformed, {} filtered",
                            sub.malformed(),
                            sub.filtered()
                        ));
                    }
                    // Position of the subscription: head minus nothing pending.
                    position.store(bus.head().min(sub_position(&sub)), Ordering::Release);
                }
                Ok(())
            })();
            if let Err(e) = r {
                *error.lock().unwrap() = Some(e);
            }
        })
    };
    let check = |when: &str| {
        if let Some(e) = error.lock().unwrap().clone() {
            stop.store(true, Ordering::Relaxed);
            panic!(
                "bus.publish: {when}: subscriber found: {e} ({})",
                cfg.replay()
            );
        }
    };
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    let mut mine = Template::new(100, 0xFFFF, &mut rng);
    let mut my_index = 0u64;
    while cfg.more(tally.rounds, started) {
        let n = rng.range(2, 4) as usize;
        let params = [("FLEET", fleet.clone())];
        round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            "bus",
            &params,
            &mut |t| {
                check("after kills");
                bounded(OP_LIMIT, format!("bus lap ({})", cfg.replay()), || {
                    for _ in 0..=capacity {
                        bus.publish("t.65535", mine.frame(my_index)).unwrap();
                        my_index += 1;
                    }
                });
                t.check("stuck slots taken over (a full lap published within bound)");
            },
        );
        let head = bus.head();
        let t = Instant::now();
        while position.load(Ordering::Acquire) < head {
            check("draining");
            assert!(
                t.elapsed() < DRAIN_LIMIT,
                "bus.publish: subscriber stuck at {} of head {head} ({})",
                position.load(Ordering::Acquire),
                cfg.replay()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        tally.check("subscriber past every dead publisher's slot");
        tally.check("events whole, under their topic, in order, none malformed");
    }
    stop.store(true, Ordering::Relaxed);
    sub_thread.join().unwrap();
    check("at the end");
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(
                ", capacity {capacity}, {} events read",
                events.load(Ordering::Relaxed)
            )
        )
    );
}

/// A subscription's next ring position (via its Debug output: the public API
/// does not expose it, and this is a test).
fn sub_position(sub: &orbit::Subscription) -> u64 {
    let d = format!("{sub:?}");
    d.split("position: ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Leases: claim, renew, release

const SUBJECTS: usize = 3;
/// lease.bind: more subjects than the table holds, so most claims rebind an
/// entry (evicting a free, expired or dead subject) under the bind lock.
const BIND_SUBJECTS: usize = 12;
const BIND_TABLE: u32 = 5;

fn subjects_for(op: &str) -> usize {
    if op == "bind" {
        BIND_SUBJECTS
    } else {
        SUBJECTS
    }
}
/// Globals: the highest token recorded per subject; the pid holding it.
const G_TOKEN: usize = 100;
const G_HOLDER: usize = 200;
const LEASE_TTL: Duration = Duration::from_secs(60);

fn subject(i: usize) -> String {
    format!("job-{i}")
}

fn child_lease(board: &Board, serial: usize, fleet: &Fleet, op: &str) {
    let contest = Contest::open(fleet, None).expect("open contest");
    let pid = std::process::id() as u64;
    let op = op.to_string();
    child_loop(
        board,
        serial,
        Box::new(move |rng, b, s| {
            let i = rng.below(subjects_for(&op) as u64) as usize;
            let lease = in_call(b, s, || contest.claim(&subject(i), LEASE_TTL));
            let mut lease = match lease {
                Ok(l) => l,
                Err(Error::Conflict(_)) => {
                    // Someone live holds it; `holder` agrees unless it was
                    // released meanwhile.
                    if let Some(h) = contest.holder(&subject(i)).expect("holder") {
                        if h.pid as u64 == pid {
                            fail(format!("holder() names me for {} after a conflict", i));
                        }
                    }
                    return;
                }
                Err(e) => fail(format!("claim: {e}")),
            };
            // Never two live holders: take the subject's holder word.
            let hw = b.global(G_HOLDER + i);
            loop {
                let cur = hw.load(Ordering::SeqCst);
                if cur != 0 && pid_exists(cur as u32) {
                    fail(format!(
                        "TWO HOLDERS of {}: pid {cur} (alive) and me (token {})",
                        subject(i),
                        lease.token()
                    ));
                }
                if hw
                    .compare_exchange(cur, pid, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    break;
                }
            }
            let prev = b
                .global(G_TOKEN + i)
                .fetch_max(lease.token(), Ordering::SeqCst);
            if prev >= lease.token() {
                fail(format!(
                    "token {} of {} not above {prev}",
                    lease.token(),
                    subject(i)
                ));
            }
            match op.as_str() {
                "renew" => {
                    for _ in 0..rng.range(5, 40) {
                        in_call(b, s, || lease.renew(LEASE_TTL))
                            .unwrap_or_else(|e| fail(format!("renew: {e}")));
                    }
                }
                "claim" => std::thread::sleep(Duration::from_micros(rng.below(300))),
                _ => {}
            }
            if hw
                .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                fail(format!("my holder word of {} was taken", subject(i)));
            }
            in_call(b, s, || lease.release()).unwrap_or_else(|e| fail(format!("release: {e}")));
        }),
    );
}

fn lease_op(op: &'static str) {
    let cfg = Cfg::new(op);
    let mut rng = cfg.rng();
    let sub = op.trim_start_matches("lease.");
    let fleet = unique_fleet(&format!("cm-l{sub}"));
    let _u = Unlinker(fleet.clone(), vec![]);
    unlink_everything(&fleet, &[]);
    let board = Board::create(&format!("l{sub}"));
    let me = Fleet::join(&fleet, &fleet_options()).unwrap();
    let table = orbit::ContestOptions {
        capacity: BIND_TABLE,
        mode: 0,
    };
    let contest = Contest::open(&me, (sub == "bind").then_some(&table)).unwrap();
    let subjects = subjects_for(sub);
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    let mut audit = contest.audit(From::Oldest).unwrap();
    let mut audit_records = 0u64;
    while cfg.more(tally.rounds, started) {
        let n = rng.range(2, 4) as usize;
        let params = [("FLEET", fleet.clone()), ("OP", sub.to_string())];
        round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            "lease",
            &params,
            &mut |_| {},
        );
        // Everyone is stopped or dead: a lease a dead child held (or was
        // binding, renewing, releasing) is claimable at once, with a token
        // above every one granted before.
        bounded(
            OP_LIMIT,
            format!("{op}: claims after the round ({})", cfg.replay()),
            || {
                for i in 0..subjects {
                    let l = contest
                        .claim(&subject(i), Duration::from_secs(5))
                        .unwrap_or_else(|e| {
                            panic!(
                                "{op}: {} not claimable after its holders died: {e} ({})",
                                subject(i),
                                cfg.replay()
                            )
                        });
                    let max = board.global(G_TOKEN + i).load(Ordering::SeqCst);
                    assert!(
                        l.token() > max,
                        "{op}: token {} after {max} ({})",
                        l.token(),
                        cfg.replay()
                    );
                    board.global(G_TOKEN + i).store(l.token(), Ordering::SeqCst);
                    board.global(G_HOLDER + i).store(0, Ordering::SeqCst);
                    l.release().unwrap();
                }
            },
        );
        tally.check("dead holders replaced at once, tokens strictly increase");
        tally.check("never two live holders");
        // The audit trail holds only well-formed records.
        while let Some(f) = audit.next_frame().unwrap() {
            AuditRecord::decode(&f)
                .unwrap_or_else(|| panic!("{op}: garbage audit record {f:?} ({})", cfg.replay()));
            audit_records += 1;
        }
        tally.check("audit records decode");
    }
    let st = contest.stats();
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(
                ", tokens {:?}, {audit_records} audit records; takeovers {}, evictions {}, repairs {}",
                (0..subjects)
                    .map(|i| board.global(G_TOKEN + i).load(Ordering::SeqCst))
                    .collect::<Vec<_>>(),
                st.takeovers,
                st.evictions,
                st.repairs
            )
        )
    );
}

#[test]
fn lease_claim() {
    lease_op("lease.claim");
}

#[test]
fn lease_renew() {
    lease_op("lease.renew");
}

#[test]
fn lease_release() {
    lease_op("lease.release");
}

#[test]
fn lease_bind() {
    lease_op("lease.bind");
}

// ---------------------------------------------------------------------------
// Fleet membership: join and leave

/// Globals: the pid holding node id n (index G_NODE + n).
const G_NODE: usize = 300;
const FLEET_NODES: u32 = 3;

fn child_fleet(board: &Board, serial: usize, fleet: &str) {
    let pid = std::process::id() as u64;
    let fleet = fleet.to_string();
    child_loop(
        board,
        serial,
        Box::new(move |_, b, s| {
            let f = in_call(b, s, || {
                Fleet::join(
                    &fleet,
                    &FleetOptions {
                        max_nodes: FLEET_NODES,
                        label: format!("child-{s}"),
                        ..Default::default()
                    },
                )
            })
            .unwrap_or_else(|e| fail(format!("join: {e}")));
            let node = f.node_id().unwrap() as usize;
            let w = b.global(G_NODE + node);
            loop {
                let cur = w.load(Ordering::SeqCst);
                if cur != 0 && pid_exists(cur as u32) {
                    fail(format!("TWO LIVE HOLDERS of node {node}: pid {cur} and me"));
                }
                if w.compare_exchange(cur, pid, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    break;
                }
            }
            in_call(b, s, || f.heartbeat()).unwrap_or_else(|e| fail(format!("heartbeat: {e}")));
            if w.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                fail(format!("node {node} word taken while I held it"));
            }
            in_call(b, s, || drop(f));
        }),
    );
}

#[test]
fn fleet_join_leave() {
    let cfg = Cfg::new("fleet.join_leave");
    let mut rng = cfg.rng();
    let fleet = unique_fleet("cm-fj");
    let _u = Unlinker(fleet.clone(), vec![]);
    unlink_everything(&fleet, &[]);
    let board = Board::create("fj");
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    while cfg.more(tally.rounds, started) {
        // As many children as node ids: `Full` would mean a dead child's id
        // was not reclaimed.
        let params = [("FLEET", fleet.clone())];
        round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            FLEET_NODES as usize,
            "fleet",
            &params,
            &mut |_| {},
        );
        // Everyone is gone: every node id is free or reclaimable, so this
        // process takes all of them, and sees exactly itself as members.
        bounded(OP_LIMIT, format!("fleet refill ({})", cfg.replay()), || {
            let handles: Vec<Fleet> = (0..FLEET_NODES)
                .map(|_| {
                    Fleet::join(
                        &fleet,
                        &FleetOptions {
                            max_nodes: FLEET_NODES,
                            ..Default::default()
                        },
                    )
                    .unwrap_or_else(|e| {
                        panic!("fleet: dead node ids not reclaimed: {e} ({})", cfg.replay())
                    })
                })
                .collect();
            let mut ids: Vec<u16> = handles.iter().map(|h| h.node_id().unwrap()).collect();
            ids.sort();
            assert_eq!(ids, (1..=FLEET_NODES as u16).collect::<Vec<_>>());
            let members = handles[0].members();
            assert_eq!(members.len(), FLEET_NODES as usize, "{members:?}");
            assert!(
                members
                    .iter()
                    .all(|m| m.pid == std::process::id() && m.state == orbit::MemberState::Alive),
                "{members:?} ({})",
                cfg.replay()
            );
            assert_eq!(
                Fleet::join(&fleet, &FleetOptions::default())
                    .unwrap_err()
                    .status(),
                Status::Full
            );
        });
        for n in 1..=FLEET_NODES as usize {
            board.global(G_NODE + n).store(0, Ordering::SeqCst);
        }
        tally.check("dead node ids reclaimed, none shared by two live processes");
    }
    eprintln!("{}", tally.summary(&cfg, ""));
}

// ---------------------------------------------------------------------------
// Segment creation: creators killed mid-initialisation

/// Globals: per child serial, how many fleets it started creating (G_SEG + serial).
const G_SEG: usize = 1000;
/// Fleets each child creates per round (then it idles, re-opening them).
const SEG_FLEETS: u64 = 64;

/// The k-th fleet child `serial` creates: even ones are shared by every child
/// of the round (they race to create them), odd ones are its own (nobody but
/// the parent opens them after the child is killed).
fn seg_fleet(base: &str, round: u64, k: u64, serial: usize) -> String {
    if k % 2 == 0 {
        format!("{base}-{round}-{k}")
    } else {
        format!("{base}-{round}-{k}-{serial}")
    }
}

/// Creates (or attaches to) every kind of segment of fleet `name` and uses each.
fn use_segments(name: &str) -> Result<(), Error> {
    let f = Fleet::join(name, &FleetOptions::default())?;
    // A large ring: initialising its slots takes long enough for kills to land in it.
    let ring = Ring::open(&f, "r", Some(&ring_options(16384, 64)))?;
    let id = ring.write(1, 2, b"segment")?;
    let mut buf = [0u8; 64];
    ring.read(id, &mut buf)?;
    let cache = OrbitCache::open(
        &f,
        "c",
        Some(&CacheOptions {
            capacity: 1024,
            max_key: 16,
            max_value: 64,
            mode: 0,
        }),
    )?;
    cache.set(b"k", b"v", 0)?;
    let bus = Bus::open(
        &f,
        "b",
        Some(&BusOptions {
            capacity: 64,
            max_payload: 64,
            mode: 0,
        }),
    )?;
    bus.publish("t", b"e")?;
    let contest = Contest::open(&f, None)?;
    match contest.claim("s", Duration::from_secs(5)) {
        Ok(lease) => lease.release()?,
        Err(Error::Conflict(_)) => {} // another live opener holds it
        Err(e) => return Err(e),
    }
    f.heartbeat()?;
    Ok(())
}

fn child_segments(board: &Board, serial: usize, base: &str) {
    let round: u64 = param("ROUND");
    let base = base.to_string();
    let mut k = 0u64;
    child_loop(
        board,
        serial,
        Box::new(move |rng, b, s| {
            let kk = if k < SEG_FLEETS {
                k += 1;
                b.global(G_SEG + s).store(k, Ordering::SeqCst);
                k - 1
            } else {
                rng.below(SEG_FLEETS)
            };
            in_call(b, s, || use_segments(&seg_fleet(&base, round, kk, s)))
                .unwrap_or_else(|e| fail(format!("segments of fleet {kk}: {e}")));
        }),
    );
}

const SEG_KINDS: [&str; 7] = [
    "fleet",
    "heartbeats",
    "ring",
    "cache",
    "bus",
    "contest",
    "audit",
];

#[test]
fn segment_create() {
    let cfg = Cfg::new("segment.create");
    let mut rng = cfg.rng();
    let base = unique_fleet("cm-sg");
    let board = Board::create("sg");
    let mut tally = Tally::default();
    let mut serial = 0;
    let started = Instant::now();
    let mut found: HashMap<String, u64> = HashMap::new();
    let mut fleets = 0u64;
    while cfg.more(tally.rounds, started) {
        let round_no = tally.rounds;
        let first = serial;
        let params = [("FLEET", base.clone()), ("ROUND", round_no.to_string())];
        let n = rng.range(2, 4) as usize;
        let (killed, _, _) = round(
            &cfg,
            &board,
            &mut serial,
            &mut rng,
            &mut tally,
            n,
            "segments",
            &params,
            &mut |_| {},
        );
        // Every name any child got to, whatever state its creator left it
        // in, is usable by the next opener (this process) within the bound.
        let mut names = std::collections::BTreeSet::new();
        for s in first..serial {
            for k in 0..board.global(G_SEG + s).load(Ordering::SeqCst) {
                names.insert(seg_fleet(&base, round_no, k, s));
            }
        }
        for name in names {
            let states: Vec<String> = SEG_KINDS
                .iter()
                .map(|kind| segment_state(&name, kind))
                .collect();
            for (kind, st) in SEG_KINDS.iter().zip(&states) {
                if st != "ready" {
                    *found.entry(format!("{kind} {st}")).or_default() += 1;
                }
            }
            bounded(
                OP_LIMIT,
                format!("reopen {name} ({states:?}) ({})", cfg.replay()),
                || {
                    use_segments(&name).unwrap_or_else(|e| {
                        panic!(
                            "segment.create: {name} (left {states:?} by killed {killed:?}) \
                             unusable: {e} ({})",
                            cfg.replay()
                        )
                    })
                },
            );
            fleets += 1;
            unlink_everything(&name, &["r", "c", "b"]);
        }
        tally.check("half-initialised segments usable by the next opener");
    }
    let mut found: Vec<_> = found.into_iter().collect();
    found.sort();
    eprintln!(
        "{}",
        tally.summary(
            &cfg,
            &format!(", {fleets} fleets reopened; segments found not ready: {found:?}")
        )
    );
}

/// What a killed creator left under a name: absent, empty, unpublished, ready.
fn segment_state(fleet: &str, kind: &str) -> String {
    use orbit::shm::{ObjectKind, SegmentName};
    let (k, n) = match kind {
        "fleet" => (ObjectKind::Fleet, "members"),
        "ring" => (ObjectKind::Ring, "r"),
        "cache" => (ObjectKind::Cache, "c"),
        "bus" => (ObjectKind::Bus, "b"),
        "heartbeats" => (ObjectKind::Ring, "heartbeats"),
        "audit" => (ObjectKind::Ring, "contest.leases"),
        _ => (ObjectKind::Contest, "leases"),
    };
    let path = SegmentName::new(fleet, k, n).unwrap().dev_shm_path();
    let Ok(f) = std::fs::File::open(&path) else {
        return "absent".into();
    };
    let mut b = [0u8; 8];
    match std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, 0) {
        Err(_) if f.metadata().map(|m| m.len()).unwrap_or(0) == 0 => "empty".into(),
        Ok(()) if b == orbit::shm::MAGIC.to_le_bytes() => "ready".into(),
        _ => "unpublished".into(),
    }
}
