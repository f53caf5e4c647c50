//! Soak: a mixed workload on one fleet for a while, with processes killed
//! (SIGKILL) at random instants and restarted, checking every invariant the
//! whole time. Not part of CI; `make soak` runs it for 10 minutes.
//!
//!     cargo run --release --example soak -- [seconds] [seed]
//!
//! Processes (this binary re-run with a role): ring writers and readers, cache
//! users (checked values, an `incr` counter), bus publishers and subscribers,
//! lease contenders. Every payload and value carries a checksum; readers and
//! subscribers check every frame, its writer's order, and frames + lost =
//! positions; the counter must lie between the increments acknowledged to
//! callers and that plus the calls in flight in killed processes; lease tokens
//! of a subject must strictly increase and never be held by two live
//! processes. A process that finds a violation exits with status 2 and its
//! message on stderr. The report at the end gives operations, losses,
//! recoveries (takeovers) and the invariants checked; the exit status is 1 if
//! any invariant failed.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orbit::{
    Bus, BusOptions, CacheOptions, Contest, Error, Fleet, FleetOptions, From, OrbitCache, Ring,
    RingOptions,
};

const ROLES: [&str; 7] = [
    "writer",
    "reader",
    "cache",
    "publisher",
    "subscriber",
    "lease",
    "writer",
];
const SLOTS: usize = 4096;
const SLOT_WORDS: usize = 8;
/// Slot words.
const OPS: usize = 0;
const IN_CALL: usize = 1;
const ACKED: usize = 2;
const READ: usize = 3;
const LOST: usize = 4;
const STOP: usize = 5;
/// Globals: per lease subject, the highest token and the holder's pid.
const G_TOKEN: usize = 0;
const G_HOLDER: usize = 16;
const SUBJECTS: usize = 3;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `[len:u32][tag:u32][index:u64][sum:u64][fill...]`, sum over the rest.
fn payload(tag: u32, index: u64, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(24)];
    let n = p.len();
    p[0..4].copy_from_slice(&(n as u32).to_le_bytes());
    p[4..8].copy_from_slice(&tag.to_le_bytes());
    p[8..16].copy_from_slice(&index.to_le_bytes());
    for (i, b) in p[24..].iter_mut().enumerate() {
        *b = mix(index ^ (i as u64) << 32 ^ tag as u64) as u8;
    }
    let sum = checksum(&p);
    p[16..24].copy_from_slice(&sum.to_le_bytes());
    p
}

fn checksum(p: &[u8]) -> u64 {
    p.iter()
        .enumerate()
        .filter(|(i, _)| !(16..24).contains(i))
        .fold(0u64, |s, (i, b)| mix(s ^ *b as u64 ^ (i as u64) << 8))
}

/// (tag, index) of a whole payload.
fn check(p: &[u8]) -> Result<(u32, u64), String> {
    if p.len() < 24 || u32::from_le_bytes(p[0..4].try_into().unwrap()) as usize != p.len() {
        return Err(format!("TORN: {} bytes with a wrong length field", p.len()));
    }
    if u64::from_le_bytes(p[16..24].try_into().unwrap()) != checksum(p) {
        return Err("TORN: checksum mismatch".into());
    }
    Ok((
        u32::from_le_bytes(p[4..8].try_into().unwrap()),
        u64::from_le_bytes(p[8..16].try_into().unwrap()),
    ))
}

struct Board(*const AtomicU64);

impl Board {
    const LEN: usize = (SLOTS * SLOT_WORDS + 64) * 8;
    fn map(path: &str, create: bool) -> Board {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)
            .expect("board");
        if create {
            f.set_len(Self::LEN as u64).unwrap();
        }
        // SAFETY: a shared mapping of a file of LEN bytes.
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
        assert_ne!(p, libc::MAP_FAILED);
        Board(p as *const AtomicU64)
    }
    fn w(&self, i: usize) -> &AtomicU64 {
        assert!(i < Self::LEN / 8);
        // SAFETY: inside the mapping, which lives for the process.
        unsafe { &*self.0.add(i) }
    }
    fn slot(&self, s: usize, w: usize) -> &AtomicU64 {
        self.w((s % SLOTS) * SLOT_WORDS + w)
    }
    fn global(&self, i: usize) -> &AtomicU64 {
        self.w(SLOTS * SLOT_WORDS + i)
    }
}

fn violation(msg: String) -> ! {
    eprintln!(
        "soak: INVARIANT VIOLATED in pid {}: {msg}",
        std::process::id()
    );
    std::process::exit(2);
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} missing"))
}

fn child(role: &str) {
    let board = Board::map(&env("SOAK_BOARD"), false);
    let s: usize = env("SOAK_SLOT").parse().unwrap();
    let fleet = Fleet::join(&env("SOAK_FLEET"), &FleetOptions::default()).expect("join");
    let tag = (s as u32) << 8 | fleet.node_id().unwrap() as u32 & 0xFF;
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let stop = || board.slot(s, STOP).load(Ordering::Acquire) != 0;
    let in_call = |v: u64| board.slot(s, IN_CALL).store(v, Ordering::SeqCst);
    let op = |n: u64| board.slot(s, OPS).store(n, Ordering::Release);
    let mut n = 0u64;
    let mut rng = mix(s as u64 ^ std::process::id() as u64);
    let mut next = move |m: u64| {
        rng = mix(rng);
        rng % m
    };
    // SAFETY: getppid has no preconditions.
    let alive = || unsafe { libc::getppid() } == parent;
    match role {
        "writer" => {
            let ring = Ring::open(&fleet, "soak", None).unwrap();
            while !stop() && alive() {
                let p = payload(tag, n, 24 + next(1000) as usize);
                in_call(1);
                ring.write(1, n, &p)
                    .unwrap_or_else(|e| violation(format!("write: {e}")));
                in_call(0);
                n += 1;
                op(n);
            }
        }
        "reader" | "subscriber" => {
            let ring = Ring::open(&fleet, "soak", None).unwrap();
            let bus = Bus::open(&fleet, "soak", None).unwrap();
            let mut cursor = ring.cursor(From::Oldest);
            let mut sub = bus.subscribe(Some("soak."), From::Oldest).unwrap();
            let mut buf = vec![0u8; 1024];
            let mut last = std::collections::HashMap::<u32, u64>::new();
            let (start, mut frames) = (cursor.next_position(), 0u64);
            while !stop() && alive() {
                if role == "reader" {
                    let _ = cursor.wait(Duration::from_millis(20));
                    while let Some(f) = cursor.next_into(&mut buf).unwrap() {
                        let (t, i) = check(&buf[..f.len as usize]).unwrap_or_else(|e| violation(e));
                        if last.insert(t, i).is_some_and(|p| p >= i) || f.ver != i {
                            violation(format!("frame {} of writer {t:#x} out of order", f.id));
                        }
                        frames += 1;
                    }
                    if frames + cursor.lost() != cursor.next_position() - start {
                        violation("frames + lost != positions".into());
                    }
                    board.slot(s, LOST).store(cursor.lost(), Ordering::Relaxed);
                } else {
                    let _ = sub.wait(Duration::from_millis(20));
                    while let Some(e) = sub.next_ref().unwrap() {
                        let (t, i) = check(e.payload).unwrap_or_else(|e| violation(e));
                        if e.topic != format!("soak.{t}") {
                            violation(format!("event of {t} under {}", e.topic));
                        }
                        if last.insert(t, i).is_some_and(|p| p >= i) {
                            violation(format!("event {} of {t} out of order", e.info.id));
                        }
                        frames += 1;
                    }
                    if sub.malformed() != 0 {
                        violation("malformed events".into());
                    }
                    board.slot(s, LOST).store(sub.lost(), Ordering::Relaxed);
                }
                board.slot(s, READ).store(frames, Ordering::Relaxed);
                n += 1;
                op(n);
            }
        }
        "publisher" => {
            let bus = Bus::open(&fleet, "soak", None).unwrap();
            let topic = format!("soak.{tag}");
            while !stop() && alive() {
                let p = payload(tag, n, 24 + next(900) as usize);
                in_call(1);
                bus.publish(&topic, &p)
                    .unwrap_or_else(|e| violation(format!("publish: {e}")));
                in_call(0);
                n += 1;
                op(n);
            }
        }
        "cache" => {
            let cache = OrbitCache::open(&fleet, "soak", None).unwrap();
            let mut buf = vec![0u8; 1024];
            while !stop() && alive() {
                let k = next(64) as u32;
                let key = format!("k{k}");
                match next(10) {
                    0..=3 => {
                        let p = payload(k, n, 24 + next(500) as usize);
                        in_call(1);
                        cache
                            .set(key.as_bytes(), &p, 0)
                            .unwrap_or_else(|e| violation(format!("set: {e}")));
                        in_call(0);
                    }
                    4 => {
                        in_call(1);
                        cache
                            .delete(key.as_bytes())
                            .unwrap_or_else(|e| violation(format!("delete: {e}")));
                        in_call(0);
                    }
                    5..=6 => {
                        in_call(1);
                        cache
                            .incr(b"counter", 1, 0)
                            .unwrap_or_else(|e| violation(format!("incr: {e}")));
                        board.slot(s, ACKED).fetch_add(1, Ordering::SeqCst);
                        in_call(0);
                    }
                    _ => {
                        if let Some(m) = cache.get_into(key.as_bytes(), &mut buf).unwrap() {
                            let (t, _) = check(&buf[..m.len]).unwrap_or_else(|e| violation(e));
                            if t != k {
                                violation(format!("value of key {t} under key {k}"));
                            }
                        }
                    }
                }
                n += 1;
                op(n);
            }
        }
        "lease" => {
            let contest = Contest::open(&fleet, None).unwrap();
            let pid = std::process::id() as u64;
            while !stop() && alive() {
                let i = next(SUBJECTS as u64) as usize;
                let subject = format!("soak-{i}");
                in_call(1);
                let r = contest.claim(&subject, Duration::from_secs(120));
                in_call(0);
                match r {
                    Ok(mut lease) => {
                        let h = board.global(G_HOLDER + i);
                        let cur = h.load(Ordering::SeqCst);
                        if cur != 0 && orbit::fleet::liveness::pid_exists(cur as u32) {
                            violation(format!("TWO HOLDERS of {subject}: {cur} and {pid}"));
                        }
                        if h.compare_exchange(cur, pid, Ordering::SeqCst, Ordering::SeqCst)
                            .is_err()
                        {
                            violation(format!("holder word of {subject} raced"));
                        }
                        let prev = board
                            .global(G_TOKEN + i)
                            .fetch_max(lease.token(), Ordering::SeqCst);
                        if prev >= lease.token() {
                            violation(format!("token {} of {subject} after {prev}", lease.token()));
                        }
                        for _ in 0..next(5) {
                            in_call(1);
                            lease
                                .renew(Duration::from_secs(120))
                                .unwrap_or_else(|e| violation(format!("renew: {e}")));
                            in_call(0);
                        }
                        if h.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
                            .is_err()
                        {
                            violation(format!("my holder word of {subject} was taken"));
                        }
                        in_call(1);
                        lease
                            .release()
                            .unwrap_or_else(|e| violation(format!("release: {e}")));
                        in_call(0);
                    }
                    Err(Error::Conflict(_)) => std::thread::sleep(Duration::from_micros(200)),
                    Err(e) => violation(format!("claim: {e}")),
                }
                n += 1;
                op(n);
            }
        }
        other => panic!("unknown role {other}"),
    }
}

struct Proc {
    role: &'static str,
    slot: usize,
    child: Child,
}

fn main() {
    if let Ok(role) = std::env::var("SOAK_ROLE") {
        return child(&role);
    }
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(600);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let fleet = format!("soak{}", std::process::id());
    let board_path = format!("/dev/shm/orbit-soak.{}", std::process::id());
    let board = Board::map(&board_path, true);
    println!("soak: {secs} s, seed {seed}, fleet {fleet}");
    let me = Fleet::join(&fleet, &FleetOptions::default()).unwrap();
    let ring = Ring::open(
        &me,
        "soak",
        Some(&RingOptions {
            capacity: 256,
            max_payload: 1024,
            kind: 9,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();
    let bus = Bus::open(
        &me,
        "soak",
        Some(&BusOptions {
            capacity: 256,
            max_payload: 1024,
            mode: 0,
        }),
    )
    .unwrap();
    let cache = OrbitCache::open(
        &me,
        "soak",
        Some(&CacheOptions {
            capacity: 1024,
            max_key: 16,
            max_value: 1024,
            mode: 0,
        }),
    )
    .unwrap();
    let contest = Contest::open(&me, None).unwrap();
    let exe = std::env::current_exe().unwrap();
    let next_slot = std::cell::Cell::new(0usize);
    let spawn = |role: &'static str| {
        let slot = next_slot.get();
        next_slot.set(slot + 1);
        let child = Command::new(&exe)
            .env("SOAK_ROLE", role)
            .env("SOAK_SLOT", slot.to_string())
            .env("SOAK_BOARD", &board_path)
            .env("SOAK_FLEET", &fleet)
            .spawn()
            .expect("spawn");
        Proc { role, slot, child }
    };
    let mut procs: Vec<Proc> = ROLES.iter().map(|r| spawn(r)).collect();
    let mut rng = seed | 1;
    let mut rand = |m: u64| {
        rng = mix(rng);
        rng % m
    };
    let started = Instant::now();
    let (mut kills, mut kills_in_call, mut violations, mut restarts) = (0u64, 0u64, 0u64, 0u64);
    let mut kills_by_role = std::collections::BTreeMap::<&str, u64>::new();
    let mut last_print = Instant::now();
    let mut checks = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(50 + rand(400)));
        // A process that exited on its own found a violation (or crashed).
        for p in procs.iter_mut() {
            if let Ok(Some(st)) = p.child.try_wait() {
                eprintln!("soak: {} (slot {}) exited with {st}", p.role, p.slot);
                violations += 1;
                *p = spawn(p.role);
                restarts += 1;
            }
        }
        let i = rand(procs.len() as u64) as usize;
        let victim = &mut procs[i];
        let _ = victim.child.kill();
        let _ = victim.child.wait();
        kills += 1;
        *kills_by_role.entry(victim.role).or_default() += 1;
        if board.slot(victim.slot, IN_CALL).load(Ordering::SeqCst) != 0 {
            kills_in_call += 1;
        }
        let role = victim.role;
        *victim = spawn(role);
        restarts += 1;
        // This process keeps working too: every write bounded, reads whole.
        let t = Instant::now();
        let mine = 0xFFFF_FF00u32;
        ring.write(2, checks, &payload(mine, checks, 100)).unwrap();
        bus.publish(&format!("soak.{mine}"), &payload(mine, checks, 100))
            .unwrap();
        cache.set(b"parent", &payload(0, 0, 64), 0).unwrap();
        let l = contest
            .claim("soak-parent", Duration::from_secs(5))
            .unwrap();
        l.release().unwrap();
        checks += 1;
        if t.elapsed() > Duration::from_secs(6) {
            eprintln!("soak: the parent's operations took {:?}", t.elapsed());
            violations += 1;
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            last_print = Instant::now();
            let ops: u64 = (0..next_slot.get())
                .map(|s| board.slot(s, OPS).load(Ordering::Relaxed))
                .sum();
            println!(
                "soak: {:>4} s: {ops} operations, {kills} kills, {violations} violations",
                started.elapsed().as_secs()
            );
        }
    }
    // Stop everyone; each must exit cleanly within the bound.
    for p in &procs {
        board.slot(p.slot, STOP).store(1, Ordering::Release);
    }
    for p in procs.iter_mut() {
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = p.child.try_wait() {
                if !st.success() {
                    eprintln!("soak: {} exited with {st} at the end", p.role);
                    violations += 1;
                }
                break;
            }
            if t.elapsed() > Duration::from_secs(15) {
                eprintln!("soak: {} HUNG at the end", p.role);
                let _ = p.child.kill();
                let _ = p.child.wait();
                violations += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The counter lies within [acknowledged, acknowledged + killed in flight].
    let acked: u64 = (0..next_slot.get())
        .map(|s| board.slot(s, ACKED).load(Ordering::SeqCst))
        .sum();
    let counter = cache
        .get(b"counter")
        .unwrap()
        .map(|v| i64::from_le_bytes(v[..8].try_into().unwrap()) as u64)
        .unwrap_or(0);
    let counter_ok = acked <= counter && counter <= acked + kills_in_call;
    if !counter_ok {
        violations += 1;
    }
    // Tokens: a fresh claim of each subject beats every recorded token.
    for i in 0..SUBJECTS {
        let l = contest
            .claim(&format!("soak-{i}"), Duration::from_secs(5))
            .unwrap();
        if l.token() <= board.global(G_TOKEN + i).load(Ordering::SeqCst) {
            violations += 1;
        }
    }
    let total = |w: usize| -> u64 {
        (0..next_slot.get())
            .map(|s| board.slot(s, w).load(Ordering::Relaxed))
            .sum()
    };
    let ops: u64 = (0..next_slot.get())
        .map(|s| board.slot(s, OPS).load(Ordering::Relaxed))
        .sum();
    println!("soak: {} s, seed {seed}", started.elapsed().as_secs());
    println!(
        "  operations     {ops} by {} processes ({restarts} restarts)",
        next_slot.get()
    );
    println!("  kills          {kills} ({kills_in_call} inside a call): {kills_by_role:?}");
    println!(
        "  read           {} frames/events checked whole and in order, {} counted lost",
        total(READ),
        total(LOST)
    );
    println!(
        "  counter        {counter} (acknowledged {acked}, in flight when killed <= {kills_in_call}): {}",
        if counter_ok { "ok" } else { "VIOLATED" }
    );
    let (cs, ls) = (cache.stats(), contest.stats());
    println!(
        "  recoveries     ring slot takeovers {}, cache bucket/slot takeovers {}, lease takeovers {} (repairs {})",
        ring.info().takeovers,
        cs.takeovers,
        ls.takeovers,
        ls.repairs
    );
    println!("  parent checks  {checks} rounds of bounded write/publish/set/claim after a kill");
    println!("  violations     {violations}");
    drop((ring, bus, cache, contest));
    let _ = Ring::unlink(&fleet, "soak");
    let _ = Bus::unlink(&fleet, "soak");
    let _ = OrbitCache::unlink(&fleet, "soak");
    let _ = Contest::unlink(&fleet);
    let _ = orbit::fleet::unlink(&fleet);
    let _ = std::fs::remove_file(&board_path);
    if violations > 0 {
        std::process::exit(1);
    }
}
