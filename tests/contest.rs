//! Leases across real processes. Children are this test binary run again
//! (`--exact child --nocapture`) with `ORBIT_TEST_ROLE` set; nothing forks
//! inside the test harness.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orbit::{
    AuditAction, AuditRecord, Contest, Fleet, FleetOptions, From, PrevHolder, Ring, RingOptions,
    Status,
};

const ROLE: &str = "ORBIT_TEST_ROLE";
const FLEET: &str = "ORBIT_TEST_FLEET";
const ARG: &str = "ORBIT_TEST_ARG";

fn spawn(role: &str, fleet: &str, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(FLEET, fleet)
        .env(ARG, arg)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn unique(tag: &str) -> String {
    format!("tc{}-{tag}", std::process::id())
}

/// A few counters in a shm segment of their own, shared by the processes of
/// the mutual-exclusion test (deliberately not an orbit object).
struct Shared {
    ptr: *mut u8,
}

#[repr(C)]
struct Counters {
    in_cs: AtomicU32,
    max_in_cs: AtomicU32,
    entries: AtomicU64,
    conflicts: AtomicU64,
    /// Contenders that are ready to start.
    ready: AtomicU32,
}

impl Shared {
    fn open(name: &str, create: bool) -> Shared {
        let c = std::ffi::CString::new(name).unwrap();
        let flags = libc::O_RDWR | if create { libc::O_CREAT } else { 0 };
        // SAFETY: plain POSIX calls on a name this test owns; 4096 bytes hold
        // the counters, zero-filled by ftruncate on creation.
        unsafe {
            let fd = libc::shm_open(c.as_ptr(), flags, 0o600);
            assert!(fd >= 0, "shm_open {name}");
            if create {
                assert_eq!(libc::ftruncate(fd, 4096), 0);
            }
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::close(fd);
            Shared { ptr: p.cast() }
        }
    }

    fn counters(&self) -> &Counters {
        // SAFETY: the mapping is 4096 bytes, page aligned, and lives as long as self.
        unsafe { &*(self.ptr as *const Counters) }
    }

    fn unlink(name: &str) {
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: unlinking a name this test created.
        unsafe { libc::shm_unlink(c.as_ptr()) };
    }
}

/// Entry point of every child process; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let fleet_name = std::env::var(FLEET).unwrap();
    let arg = std::env::var(ARG).unwrap();
    let fleet = Fleet::join(&fleet_name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    match role.as_str() {
        "contender" => contender(&fleet, &contest, &arg),
        "holder" => {
            let _lease = contest.claim("victim", Duration::from_secs(60)).unwrap();
            std::thread::sleep(Duration::from_secs(60)); // killed long before
        }
        "short" => {
            let mut lease = contest.claim("short", Duration::from_millis(150)).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            // The parent took it over after expiry while we were alive.
            assert_eq!(
                lease.renew(Duration::from_secs(1)).unwrap_err().status(),
                Status::LeaseLost
            );
        }
        "cycler" => {
            for _ in 0..3 {
                contest
                    .claim("audited", Duration::from_secs(5))
                    .unwrap()
                    .release()
                    .unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Claims and releases "hot" in a tight loop until the deadline. Inside each
/// critical section: bump the shared in-section counter (never above 1) and
/// append our token to the log ring, so the ring's order is the order of the
/// critical sections.
fn contender(fleet: &Fleet, contest: &Contest, arg: &str) {
    let mut args = arg.split(' ');
    let (shm, millis, n) = (
        args.next().unwrap(),
        args.next().unwrap(),
        args.next().unwrap().parse::<u32>().unwrap(),
    );
    let shared = Shared::open(shm, false);
    let c = shared.counters();
    let log = Ring::open(fleet, "log", None).unwrap();
    // Start together: on a loaded machine a contender started alone could
    // finish all its rounds before the next one runs, and nothing would be
    // contended. (Bounded: the others are being spawned.)
    c.ready.fetch_add(1, Ordering::SeqCst);
    let start_by = Instant::now() + Duration::from_secs(20);
    while c.ready.load(Ordering::SeqCst) < n && Instant::now() < start_by {
        std::thread::yield_now();
    }
    let deadline = Instant::now() + Duration::from_millis(millis.parse().unwrap());
    let mut mine = 0u32;
    while Instant::now() < deadline && mine < 3000 {
        match contest.claim("hot", Duration::from_secs(30)) {
            Ok(lease) => {
                // SeqCst throughout (test bookkeeping, not the protocol under
                // test): entries and exits of all processes in one total order.
                let inside = c.in_cs.fetch_add(1, Ordering::SeqCst) + 1;
                c.max_in_cs.fetch_max(inside, Ordering::SeqCst);
                log.write(0, lease.token(), &std::process::id().to_le_bytes())
                    .unwrap();
                std::hint::spin_loop();
                c.in_cs.fetch_sub(1, Ordering::SeqCst);
                c.entries.fetch_add(1, Ordering::SeqCst);
                lease.release().unwrap();
                mine += 1;
            }
            Err(e) if e.status() == Status::Conflict => {
                c.conflicts.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
            Err(e) => panic!("claim failed: {e}"),
        }
    }
}

fn cleanup(fleet: &Fleet) {
    let _ = Contest::unlink(fleet.name());
    let _ = Ring::unlink(fleet.name(), "log");
    let _ = orbit::fleet::unlink(fleet.name());
}

#[test]
fn mutual_exclusion_and_increasing_tokens_across_processes() {
    const N: usize = 4;
    let name = unique("mutex");
    let shm = format!("/orbit-test-{name}");
    let shared = Shared::open(&shm, true);
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let log = Ring::open(
        &fleet,
        "log",
        Some(&RingOptions {
            capacity: 16384,
            max_payload: 8,
            kind: 1,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();
    let mut children: Vec<Child> = (0..N)
        .map(|_| spawn("contender", &name, &format!("{shm} 2000 {N}")))
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "a contender failed");
    }
    let c = shared.counters();
    // SeqCst: pairs with the children's SeqCst updates (they exited, too).
    assert_eq!(c.max_in_cs.load(Ordering::SeqCst), 1, "two holders at once");
    let entries = c.entries.load(Ordering::SeqCst);
    let conflicts = c.conflicts.load(Ordering::SeqCst);
    let mut cur = log.cursor(From::Oldest);
    let mut last = 0u64;
    let mut n = 0u64;
    let mut pids = std::collections::BTreeSet::new();
    while let Some(f) = cur.next_frame().unwrap() {
        assert!(
            f.info.ver > last,
            "token {} after {last}: not increasing",
            f.info.ver
        );
        last = f.info.ver;
        pids.insert(u32::from_le_bytes(f.payload[..4].try_into().unwrap()));
        n += 1;
    }
    eprintln!(
        "{entries} critical sections by {} processes, {conflicts} conflicts, last token {last}",
        pids.len()
    );
    assert_eq!(cur.lost(), 0);
    assert_eq!(n, entries, "every critical section logged once");
    assert!(entries > 100, "too little progress: {entries}");
    assert!(pids.len() >= 2, "no contention: one process did everything");
    assert!(conflicts > 0, "no contention observed");
    assert_eq!(contest.holder("hot").unwrap(), None);
    cleanup(&fleet);
    Shared::unlink(&shm);
}

#[test]
fn killed_holder_is_replaced_at_once() {
    let name = unique("kill");
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let mut audit = contest.audit(From::Oldest).unwrap();
    let mut child = spawn("holder", &name, "");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        if let Some(h) = contest.holder("victim").unwrap() {
            break h;
        }
        assert!(Instant::now() < deadline, "the child never claimed");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(held.pid, pid);
    assert!(held.expires_at_ms > held.claimed_at_ms + 50_000);
    assert_eq!(
        contest
            .claim("victim", Duration::from_secs(5))
            .unwrap_err()
            .status(),
        Status::Conflict
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let t = Instant::now();
    let lease = contest.claim("victim", Duration::from_secs(5)).unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert!(lease.token() > held.token);
    let recs: Vec<AuditRecord> = std::iter::from_fn(|| audit.next_frame().unwrap())
        .filter_map(|f| AuditRecord::decode(&f))
        .collect();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!((recs[0].pid, recs[0].token), (pid, held.token));
    assert_eq!(
        (recs[1].pid, recs[1].prev, recs[1].token),
        (std::process::id(), PrevHolder::Dead, lease.token())
    );
    drop(lease);
    cleanup(&fleet);
}

#[test]
fn expired_lease_is_reclaimable_while_its_holder_lives() {
    let name = unique("expire");
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let mut audit = contest.audit(From::Oldest).unwrap();
    let mut child = spawn("short", &name, "");
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        if let Some(h) = contest.holder("short").unwrap() {
            break h;
        }
        assert!(Instant::now() < deadline, "the child never claimed");
        std::thread::sleep(Duration::from_millis(2));
    };
    // Sleep until just past the child's expiry, then take it over.
    let now = orbit::OrbitEpoch::now().as_millis();
    std::thread::sleep(Duration::from_millis(
        held.expires_at_ms.saturating_sub(now) + 5,
    ));
    let lease = contest.claim("short", Duration::from_secs(30)).unwrap();
    assert!(lease.token() > held.token);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the holder must still be alive for this to be an expiry takeover"
    );
    let recs: Vec<AuditRecord> = std::iter::from_fn(|| audit.next_frame().unwrap())
        .filter_map(|f| AuditRecord::decode(&f))
        .collect();
    assert_eq!(recs.last().unwrap().prev, PrevHolder::Expired);
    // The child finds its renewal refused (LeaseLost) and exits cleanly.
    assert!(child.wait().unwrap().success());
    assert_eq!(
        contest.holder("short").unwrap().unwrap().token,
        lease.token()
    );
    drop(lease);
    cleanup(&fleet);
}

#[test]
fn audit_ring_shows_another_process_claims_and_releases() {
    let name = unique("audit");
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let mut child = spawn("cycler", &name, "");
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let mut audit = contest.audit(From::Oldest).unwrap();
    let recs: Vec<AuditRecord> = std::iter::from_fn(|| audit.next_frame().unwrap())
        .filter_map(|f| AuditRecord::decode(&f))
        .collect();
    let got: Vec<(AuditAction, u64)> = recs.iter().map(|r| (r.action, r.token)).collect();
    use AuditAction::{Claim, Release};
    assert_eq!(
        got,
        vec![
            (Claim, 1),
            (Release, 1),
            (Claim, 2),
            (Release, 2),
            (Claim, 3),
            (Release, 3)
        ]
    );
    assert!(recs.iter().all(|r| r.pid == pid && r.subject == "audited"));
    assert_ne!(recs[0].node_id, fleet.node_id().unwrap());
    cleanup(&fleet);
}
