//! The cache across real processes. Each parent test spawns this test binary
//! again as children (`--exact child`, with the role in `ORBIT_CACHE_ROLE`);
//! without that variable `child` is a no-op. Nothing forks inside the harness.

use std::ffi::{CString, c_void};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use orbit::ffi::*;
use orbit::{CacheOptions, Fleet, FleetOptions, OrbitCache, Ring, Status};

const ROLE: &str = "ORBIT_CACHE_ROLE";
const FLEET: &str = "ORBIT_CACHE_FLEET";
const ARG: &str = "ORBIT_CACHE_ARG";

// Child exit codes.
const WON: i32 = 0;
const LOST: i32 = 10;
const BAD_VALUE: i32 = 2;
const TOO_SLOW: i32 = 3;
const FAILED: i32 = 4;

fn unique(tag: &str) -> String {
    format!("ct{}-{tag}", std::process::id())
}

fn join(fleet: &str) -> Fleet {
    Fleet::join(fleet, &FleetOptions::default()).expect("join")
}

fn opts(capacity: u64, max_key: u32, max_value: u32) -> CacheOptions {
    CacheOptions {
        capacity,
        max_key,
        max_value,
        mode: 0,
    }
}

fn spawn(role: &str, fleet: &str, arg: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(FLEET, fleet)
        .env(ARG, arg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

fn code(s: ExitStatus) -> i32 {
    s.code().unwrap_or(-1)
}

fn cleanup(fleet: &str, cache: &str) {
    let _ = OrbitCache::unlink(fleet, cache);
    let _ = orbit::fleet::unlink(fleet);
}

/// xorshift64*: enough randomness for schedules and payloads.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// A value that names its key and carries its own checksum:
/// `[key id:4][writer:4][serial:8][filler..][fnv of all before:8]`.
fn make_value(key_id: u32, writer: u32, serial: u64, len: usize) -> Vec<u8> {
    let len = len.max(24);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&key_id.to_le_bytes());
    v.extend_from_slice(&writer.to_le_bytes());
    v.extend_from_slice(&serial.to_le_bytes());
    while v.len() < len - 8 {
        v.push((serial as u8).wrapping_add(v.len() as u8));
    }
    let sum = fnv(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

fn value_ok(key_id: u32, v: &[u8]) -> bool {
    if v.len() < 24 {
        return false;
    }
    let (body, sum) = v.split_at(v.len() - 8);
    u32::from_le_bytes(body[..4].try_into().unwrap()) == key_id && fnv(body).to_le_bytes() == sum
}

fn key_of(id: u32) -> Vec<u8> {
    format!("key-{id:03}").into_bytes()
}

/// The child side: dispatches on the role; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let fleet_name = std::env::var(FLEET).expect("fleet");
    let arg = std::env::var(ARG).unwrap_or_default();
    let fleet = join(&fleet_name);
    let code = match role.as_str() {
        "read_then_write" => {
            let c = OrbitCache::open(&fleet, "xp", None).unwrap();
            let ok = c.get(b"from-parent").unwrap().as_deref() == Some(&b"hello child"[..]);
            c.set(b"from-child", b"hello parent", 0).unwrap();
            if ok { WON } else { BAD_VALUE }
        }
        "ttl" => {
            let c = OrbitCache::open(&fleet, "ttl", None).unwrap();
            let mut buf = [0u8; 16];
            match c.get_into(b"short", &mut buf).unwrap() {
                Some(m) => {
                    let now = orbit::OrbitEpoch::now().as_millis();
                    std::thread::sleep(Duration::from_millis(
                        m.expires_at_ms.saturating_sub(now) + 20,
                    ));
                    let gone = c.get(b"short").unwrap().is_none();
                    let kept = c.get(b"long").unwrap().is_some();
                    if gone && kept { WON } else { BAD_VALUE }
                }
                None => FAILED,
            }
        }
        "add_race" => {
            let c = OrbitCache::open(&fleet, "race", None).unwrap();
            if !wait_for_any(&c, &[b"go"]) {
                std::process::exit(FAILED);
            }
            match c.add(b"winner", &std::process::id().to_le_bytes(), 0) {
                Ok(_) => WON,
                Err(e) if e.status() == Status::Conflict => LOST,
                Err(_) => FAILED,
            }
        }
        "incr" => {
            let c = OrbitCache::open(&fleet, "incr", None).unwrap();
            let k: u64 = arg.parse().unwrap();
            // The start gate can be evicted by the others' increments (FIFO log)
            // if this child starts late: the counter's presence opens it too.
            if !wait_for_any(&c, &[b"go", b"counter"]) {
                std::process::exit(FAILED);
            }
            let mut code = WON;
            for _ in 0..k {
                if c.incr(b"counter", 1, 0).is_err() {
                    code = FAILED;
                    break;
                }
            }
            code
        }
        "churn" => churn(&fleet, arg.parse().unwrap()),
        "hammer" => hammer(&fleet),
        "clear" => {
            let c = OrbitCache::open(&fleet, "clear", None).unwrap();
            c.clear().unwrap();
            WON
        }
        other => panic!("unknown role {other}"),
    };
    drop(fleet);
    std::process::exit(code);
}

/// Writes and reads a small key set on a small cache for `ms` milliseconds,
/// checking every value read against its key and checksum.
fn churn(fleet: &Fleet, ms: u64) -> i32 {
    let c = OrbitCache::open(fleet, "churn", Some(&opts(64, 16, 64))).unwrap();
    let me = std::process::id();
    let mut rng = Rng::new(me as u64 * 0x9E37_79B9);
    let mut buf = [0u8; 64];
    let (mut hits, mut misses, mut serial) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        for _ in 0..64 {
            let id = rng.below(48) as u32;
            let key = key_of(id);
            if rng.below(2) == 0 {
                serial += 1;
                let v = make_value(id, me, serial, 24 + rng.below(41) as usize);
                if c.set(&key, &v, 0).is_err() {
                    return FAILED;
                }
            } else {
                match c.get_into(&key, &mut buf) {
                    Ok(Some(m)) => {
                        if !value_ok(id, &buf[..m.len]) {
                            eprintln!("torn or foreign value for key {id}: {:?}", &buf[..m.len]);
                            return BAD_VALUE;
                        }
                        hits += 1;
                    }
                    Ok(None) => misses += 1,
                    Err(e) => {
                        eprintln!("get: {e}");
                        return FAILED;
                    }
                }
            }
        }
    }
    eprintln!("churn {me}: {hits} verified hits, {misses} misses, {serial} sets");
    if hits == 0 { FAILED } else { WON }
}

/// Hammers a few hot keys until told to stop; every operation must finish
/// within a bound even while other hammers are killed mid-operation.
fn hammer(fleet: &Fleet) -> i32 {
    let c = OrbitCache::open(fleet, "kill", Some(&opts(16, 16, 64))).unwrap();
    let me = std::process::id();
    let mut rng = Rng::new(me as u64 * 0x9E37_79B9);
    let mut buf = [0u8; 64];
    let mut serial = 0;
    loop {
        if c.exists(b"stop").unwrap() {
            return WON;
        }
        let id = rng.below(4) as u32;
        let key = key_of(id);
        let t = Instant::now();
        let ok = match rng.below(3) {
            0 => {
                serial += 1;
                c.set(&key, &make_value(id, me, serial, 40), 0).is_ok()
            }
            1 => c.incr(b"hits", 1, 0).is_ok(),
            _ => match c.get_into(&key, &mut buf) {
                Ok(Some(m)) if !value_ok(id, &buf[..m.len]) => return BAD_VALUE,
                Ok(_) => true,
                Err(_) => false,
            },
        };
        if !ok {
            return FAILED;
        }
        if t.elapsed() > Duration::from_secs(2) {
            return TOO_SLOW;
        }
    }
}

#[test]
fn value_set_in_one_process_is_read_by_another() {
    let name = unique("xp");
    let f = join(&name);
    let c = OrbitCache::open(&f, "xp", None).unwrap();
    c.set(b"from-parent", b"hello child", 0).unwrap();
    let st = spawn("read_then_write", &name, "").wait().unwrap();
    assert_eq!(code(st), WON, "child read the parent's value");
    assert_eq!(
        c.get(b"from-child").unwrap().as_deref(),
        Some(&b"hello parent"[..])
    );
    cleanup(&name, "xp");
}

#[test]
fn ttl_is_honoured_across_processes() {
    let name = unique("ttl");
    let f = join(&name);
    let c = OrbitCache::open(&f, "ttl", None).unwrap();
    c.set(b"short", b"v", 300).unwrap();
    c.set(b"long", b"v", 60_000).unwrap();
    assert_eq!(code(spawn("ttl", &name, "").wait().unwrap()), WON);
    assert!(c.get(b"short").unwrap().is_none());
    cleanup(&name, "ttl");
}

#[test]
fn racing_add_has_exactly_one_winner() {
    let name = unique("race");
    let f = join(&name);
    let c = OrbitCache::open(&f, "race", None).unwrap();
    for round in 0..3 {
        c.delete(b"winner").unwrap();
        c.delete(b"go").unwrap();
        let kids: Vec<Child> = (0..4).map(|_| spawn("add_race", &name, "")).collect();
        let pids: Vec<u32> = kids.iter().map(|k| k.id()).collect();
        std::thread::sleep(Duration::from_millis(30));
        c.set(b"go", b"", 0).unwrap();
        let codes: Vec<i32> = kids
            .into_iter()
            .map(|mut k| code(k.wait().unwrap()))
            .collect();
        assert_eq!(
            codes.iter().filter(|c| **c == WON).count(),
            1,
            "round {round}: {codes:?}"
        );
        assert_eq!(
            codes.iter().filter(|c| **c == LOST).count(),
            3,
            "round {round}: {codes:?}"
        );
        let winner = c.get(b"winner").unwrap().unwrap();
        let winner = u32::from_le_bytes(winner.try_into().unwrap());
        let idx = codes.iter().position(|c| *c == WON).unwrap();
        assert_eq!(winner, pids[idx], "the stored value is the winner's");
    }
    cleanup(&name, "race");
}

#[test]
fn racing_incr_is_exact() {
    const N: u64 = 4;
    const K: u64 = 3000;
    let name = unique("incr");
    let f = join(&name);
    let c = OrbitCache::open(&f, "incr", None).unwrap();
    let kids: Vec<Child> = (0..N)
        .map(|_| spawn("incr", &name, &K.to_string()))
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    c.set(b"go", b"", 0).unwrap();
    for mut k in kids {
        assert_eq!(code(k.wait().unwrap()), WON);
    }
    assert_eq!(c.incr(b"counter", 0, 0).unwrap(), (N * K) as i64);
    cleanup(&name, "incr");
}

#[test]
fn wrapping_log_never_returns_foreign_or_torn_values() {
    let name = unique("churn");
    let f = join(&name);
    let c = OrbitCache::open(&f, "churn", Some(&opts(64, 16, 64))).unwrap();
    let kids: Vec<Child> = (0..3).map(|_| spawn("churn", &name, "2500")).collect();
    for mut k in kids {
        assert_eq!(
            code(k.wait().unwrap()),
            WON,
            "a churn child saw a bad value or failed"
        );
    }
    let st = c.stats();
    assert!(st.evictions > 0 && st.sets > 1000, "{st:?}");
    assert!(st.entries <= 64, "{st:?}");
    // Whatever survived is intact.
    let mut n = 0;
    for key in c.keys() {
        let id: u32 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
        if let Some(v) = c.get(&key).unwrap() {
            assert!(value_ok(id, &v));
            n += 1;
        }
    }
    assert!(n > 0 && n <= 48);
    cleanup(&name, "churn");
}

#[test]
fn clear_in_another_process_makes_everything_a_miss() {
    let name = unique("clear");
    let f = join(&name);
    let c = OrbitCache::open(&f, "clear", None).unwrap();
    for i in 0..100 {
        c.set(&key_of(i), b"v", 0).unwrap();
    }
    assert_eq!(c.stats().entries, 100);
    assert_eq!(code(spawn("clear", &name, "").wait().unwrap()), WON);
    for i in 0..100 {
        assert!(
            c.get(&key_of(i)).unwrap().is_none(),
            "key {i} survived clear"
        );
    }
    assert_eq!(c.keys().count(), 0);
    assert_eq!(c.stats().entries, 0);
    c.add(&key_of(1), b"again", 0).unwrap();
    assert_eq!(c.get(&key_of(1)).unwrap().as_deref(), Some(&b"again"[..]));
    cleanup(&name, "clear");
}

#[test]
fn killed_holders_never_wedge_the_cache() {
    let name = unique("kill");
    let f = join(&name);
    let c = OrbitCache::open(&f, "kill", Some(&opts(16, 16, 64))).unwrap();
    let mut rng = Rng::new(std::process::id() as u64);
    let mut kids: Vec<Child> = (0..3).map(|_| spawn("hammer", &name, "")).collect();
    let mut buf = [0u8; 64];
    let rounds = 25;
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(10 + rng.below(30)));
        let victim = rng.below(kids.len() as u64) as usize;
        let mut k = kids.swap_remove(victim);
        k.kill().unwrap(); // SIGKILL, at whatever instant it lands
        k.wait().unwrap();
        // The survivors (and we) must get through every hot key promptly.
        for id in 0..4 {
            let key = key_of(id);
            let t = Instant::now();
            c.set(&key, &make_value(id, 0, round, 40), 0).unwrap();
            c.incr(b"hits", 1, 0).unwrap();
            if let Some(m) = c.get_into(&key, &mut buf).unwrap() {
                assert!(value_ok(id, &buf[..m.len]), "round {round}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "round {round}: wedged"
            );
        }
        kids.push(spawn("hammer", &name, ""));
    }
    c.set(b"stop", b"", 0).unwrap();
    for mut k in kids {
        assert_eq!(
            code(k.wait().unwrap()),
            WON,
            "a surviving hammer failed or stalled"
        );
    }
    let st = c.stats();
    eprintln!("after {rounds} kills: {st:?}");
    assert!(
        st.takeovers > 0,
        "no kill landed inside a bucket or log slot: {st:?}"
    );
    cleanup(&name, "kill");
}

#[test]
fn cache_and_ring_segments_are_not_interchangeable() {
    let name = unique("kinds");
    let f = join(&name);
    let _c = OrbitCache::open(&f, "x", None).unwrap();
    let _r = Ring::open(&f, "y", None).unwrap();
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let shm = |kind: &str, obj: &str| format!("/dev/shm/orbit:{uid}:{name}:{kind}:{obj}");
    // The cache's file under a ring's name, and the ring's under a cache's.
    std::fs::hard_link(shm("cache", "x"), shm("ring", "x")).unwrap();
    std::fs::hard_link(shm("ring", "y"), shm("cache", "y")).unwrap();
    assert_eq!(
        Ring::open(&f, "x", None).unwrap_err().status(),
        Status::Incompatible
    );
    assert_eq!(
        OrbitCache::open(&f, "y", None).unwrap_err().status(),
        Status::Incompatible
    );
    for (kind, obj) in [("cache", "x"), ("ring", "x"), ("ring", "y"), ("cache", "y")] {
        std::fs::remove_file(shm(kind, obj)).unwrap();
    }
    let _ = orbit::fleet::unlink(&name);
}

/// Through the C ABI, in process: bad input never crashes, limits are
/// enforced without truncation, and outcomes are the documented statuses.
#[test]
fn c_abi_outcomes_and_bad_input() {
    let name = unique("abi");
    let fleet_c = CString::new(name.clone()).unwrap();
    let cache_c = CString::new("abi").unwrap();
    let mut f = std::ptr::null_mut();
    assert_eq!(
        orbit_fleet_join(fleet_c.as_ptr(), std::ptr::null(), &mut f),
        Status::Ok
    );
    // SAFETY: a zeroed options struct is a valid out-buffer for options_init.
    let mut o: orbit_cache_options = unsafe { std::mem::zeroed() };
    orbit_cache_options_init(&mut o);
    assert_eq!((o.capacity, o.max_key, o.max_value), (4096, 128, 1024));
    o.capacity = 64;
    o.max_key = 8;
    o.max_value = 16;
    let mut c = std::ptr::null_mut();
    assert_eq!(
        orbit_cache_open(f, cache_c.as_ptr(), &o, &mut c),
        Status::Ok
    );
    let k = |s: &'static [u8]| (s.as_ptr() as *const c_void, s.len());
    let mut len = 0usize;
    let mut buf = [0u8; 16];
    let mut meta = orbit_cache_meta::default();
    let bp = buf.as_mut_ptr() as *mut c_void;

    // NULL key with a length, NULL handle, NULL out_len, zero-length key.
    assert_eq!(
        orbit_cache_set(c, std::ptr::null(), 3, k(b"v").0, 1, 0),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_get(c, std::ptr::null(), 3, bp, 16, &mut len, &mut meta),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_get(std::ptr::null(), k(b"k").0, 1, bp, 16, &mut len, &mut meta),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_get(c, k(b"k").0, 1, bp, 16, std::ptr::null_mut(), &mut meta),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_set(c, std::ptr::null(), 0, k(b"v").0, 1, 0),
        Status::InvalidArgument
    );
    assert_eq!(
        orbit_cache_set(c, k(b"k").0, 1, std::ptr::null(), 4, 0),
        Status::NullArgument
    );

    // Over the limits: TOO_LARGE and nothing stored.
    let (bk, bkl) = k(b"123456789");
    let (bv, bvl) = k(b"0123456789abcdefg");
    assert_eq!(
        orbit_cache_set(c, bk, bkl, k(b"v").0, 1, 0),
        Status::TooLarge
    );
    assert_eq!(
        orbit_cache_set(c, k(b"k").0, 1, bv, bvl, 0),
        Status::TooLarge
    );
    assert_eq!(
        orbit_cache_add(c, k(b"k").0, 1, bv, bvl, 0),
        Status::TooLarge
    );
    assert_eq!(
        orbit_cache_get(c, bk, bkl, bp, 16, &mut len, &mut meta),
        Status::TooLarge
    );
    assert_eq!(
        orbit_cache_get(c, k(b"k").0, 1, bp, 16, &mut len, &mut meta),
        Status::NotFound
    );
    assert_eq!(len, 0);

    // Outcomes.
    let (v, vl) = k(b"value-1");
    assert_eq!(orbit_cache_set(c, k(b"k").0, 1, v, vl, 0), Status::Ok);
    assert_eq!(orbit_cache_add(c, k(b"k").0, 1, v, vl, 0), Status::Conflict);
    assert_eq!(
        orbit_cache_get(c, k(b"k").0, 1, bp, 2, &mut len, &mut meta),
        Status::BufferTooSmall
    );
    assert_eq!((len, meta.version), (7, 0));
    assert_eq!(
        orbit_cache_get(c, k(b"k").0, 1, bp, 16, &mut len, &mut meta),
        Status::Ok
    );
    assert_eq!(&buf[..len], b"value-1");
    let ver = meta.version;
    assert_eq!(ver >> 56, 200);
    let (v2, v2l) = k(b"value-2");
    assert_eq!(
        orbit_cache_cas(c, k(b"k").0, 1, ver ^ 1, v2, v2l, 0),
        Status::Conflict
    );
    assert_eq!(
        orbit_cache_cas(c, k(b"k").0, 1, ver, v2, v2l, 0),
        Status::Ok
    );
    assert_eq!(
        orbit_cache_cas(c, k(b"zz").0, 2, ver, v2, v2l, 0),
        Status::NotFound
    );
    let mut n = 0i64;
    assert_eq!(
        orbit_cache_incr(c, k(b"k").0, 1, 1, 0, &mut n),
        Status::InvalidArgument
    );
    assert_eq!(
        orbit_cache_get(c, k(b"k").0, 1, bp, 16, &mut len, &mut meta),
        Status::Ok
    );
    assert_eq!(
        &buf[..len],
        b"value-2",
        "incr left the non-counter untouched"
    );
    assert_eq!(orbit_cache_incr(c, k(b"n").0, 1, 5, 0, &mut n), Status::Ok);
    assert_eq!(n, 5);
    assert_eq!(orbit_cache_decr(c, k(b"n").0, 1, 7, 0, &mut n), Status::Ok);
    assert_eq!(n, -2);
    assert_eq!(
        orbit_cache_decr(c, k(b"n").0, 1, i64::MIN, 0, &mut n),
        Status::InvalidArgument
    );
    assert_eq!(orbit_cache_exists(c, k(b"n").0, 1), Status::Ok);
    assert_eq!(orbit_cache_delete(c, k(b"n").0, 1), Status::Ok);
    assert_eq!(orbit_cache_delete(c, k(b"n").0, 1), Status::NotFound);
    assert_eq!(orbit_cache_exists(c, k(b"n").0, 1), Status::NotFound);
    let mut st = orbit_cache_stats::default();
    assert_eq!(orbit_cache_stat(c, &mut st), Status::Ok);
    assert_eq!(
        (st.entries, st.capacity, st.max_key, st.max_value),
        (1, 64, 8, 16)
    );
    assert_eq!(orbit_cache_clear(c), Status::Ok);
    assert_eq!(orbit_cache_exists(c, k(b"k").0, 1), Status::NotFound);

    // Reserved fields, geometry mismatch, freed handles.
    o.reserved[2] = 1;
    let mut c2 = std::ptr::null_mut();
    assert_eq!(
        orbit_cache_open(f, cache_c.as_ptr(), &o, &mut c2),
        Status::InvalidArgument
    );
    o.reserved[2] = 0;
    o.capacity = 128;
    assert_eq!(
        orbit_cache_open(f, cache_c.as_ptr(), &o, &mut c2),
        Status::Incompatible
    );
    assert!(c2.is_null());
    assert_eq!(
        orbit_cache_open(f, cache_c.as_ptr(), std::ptr::null(), &mut c2),
        Status::Ok
    );
    orbit_cache_free(c2);
    orbit_cache_free(std::ptr::null_mut());
    orbit_cache_free(c);
    orbit_fleet_free(f);
    assert_eq!(
        orbit_cache_unlink(fleet_c.as_ptr(), cache_c.as_ptr()),
        Status::Ok
    );
    assert_eq!(
        orbit_cache_unlink(fleet_c.as_ptr(), cache_c.as_ptr()),
        Status::NotExist
    );
    let _ = orbit::fleet::unlink(&name);
}

/// Every cache function refuses a NULL handle, a handle of another type and
/// impossible lengths with a status, never a crash.
#[test]
fn c_abi_null_and_foreign_handles() {
    use std::ptr::{null, null_mut};
    let name = unique("nulls");
    let fleet_c = CString::new(name.clone()).unwrap();
    let mut f = null_mut();
    assert_eq!(
        orbit_fleet_join(fleet_c.as_ptr(), null(), &mut f),
        Status::Ok
    );
    let mut ring = null_mut();
    let rn = CString::new("r").unwrap();
    assert_eq!(
        orbit_ring_open(f, rn.as_ptr(), null(), &mut ring),
        Status::Ok
    );
    let k = b"k".as_ptr() as *const c_void;
    let mut len = 0usize;
    let mut n = 0i64;
    let mut st = orbit_cache_stats::default();
    // A ring handle where a cache handle belongs: its magic differs.
    let foreign = ring as *mut orbit_cache;
    for (c, want) in [
        (null_mut(), Status::NullArgument),
        (foreign, Status::InvalidArgument),
    ] {
        assert_eq!(
            orbit_cache_get(c, k, 1, null_mut(), 0, &mut len, null_mut()),
            want
        );
        assert_eq!(orbit_cache_exists(c, k, 1), want);
        assert_eq!(orbit_cache_set(c, k, 1, k, 1, 0), want);
        assert_eq!(orbit_cache_add(c, k, 1, k, 1, 0), want);
        assert_eq!(orbit_cache_cas(c, k, 1, 1, k, 1, 0), want);
        assert_eq!(orbit_cache_incr(c, k, 1, 1, 0, &mut n), want);
        assert_eq!(orbit_cache_decr(c, k, 1, 1, 0, &mut n), want);
        assert_eq!(orbit_cache_delete(c, k, 1), want);
        assert_eq!(orbit_cache_clear(c), want);
        assert_eq!(orbit_cache_stat(c, &mut st), want);
        orbit_cache_free(c); // NULL is a no-op; a foreign handle is refused
    }
    let cn = CString::new("c").unwrap();
    assert_eq!(
        orbit_cache_open(null_mut(), cn.as_ptr(), null(), &mut null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_open(f, null(), null(), &mut null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_open(f, cn.as_ptr(), null(), null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_unlink(null(), cn.as_ptr()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_cache_unlink(fleet_c.as_ptr(), null()),
        Status::NullArgument
    );
    let mut c = null_mut();
    assert_eq!(orbit_cache_open(f, cn.as_ptr(), null(), &mut c), Status::Ok);
    // Impossible lengths are refused before anything is read.
    assert_eq!(
        orbit_cache_set(c, k, usize::MAX, k, 1, 0),
        Status::InvalidArgument
    );
    assert_eq!(
        orbit_cache_set(c, k, 1, k, usize::MAX, 0),
        Status::InvalidArgument
    );
    let mut buf = [0u8; 4];
    assert_eq!(
        orbit_cache_get(
            c,
            k,
            1,
            buf.as_mut_ptr() as *mut c_void,
            usize::MAX,
            &mut len,
            null_mut()
        ),
        Status::InvalidArgument
    );
    assert_eq!(orbit_cache_stat(c, null_mut()), Status::NullArgument);
    orbit_cache_free(c);
    orbit_ring_free(ring);
    orbit_fleet_free(f);
    assert_eq!(
        orbit_cache_unlink(fleet_c.as_ptr(), cn.as_ptr()),
        Status::Ok
    );
    let _ = Ring::unlink(&name, "r");
    let _ = orbit::fleet::unlink(&name);
}

/// Spins until one of `keys` exists; false after 30 s (a lost start gate must
/// fail the test, not hang it).
fn wait_for_any(c: &OrbitCache, keys: &[&[u8]]) -> bool {
    let start = Instant::now();
    while !keys.iter().any(|k| c.exists(k).unwrap()) {
        if start.elapsed() > Duration::from_secs(30) {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}
