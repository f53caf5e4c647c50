//! Leases: claim + release round trip uncontended (criterion), and with two
//! contending processes (a custom loop: this process and a child claim and
//! release one subject for a fixed time; reported per successful round trip
//! and per attempt, with the conflict rate).
//!
//! Every claim and release also appends a record to the audit ring; that cost
//! is included. Run: `cargo bench --bench contest` (`-- --quick` for a short run).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orbit::{Contest, Fleet, FleetOptions, Status};

const ROLE: &str = "ORBIT_CONTEST_BENCH_ROLE";
const TTL: Duration = Duration::from_secs(30);

fn uncontended(c: &mut Criterion) {
    let name = format!("bench-contest-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let mut g = c.benchmark_group("contest");
    g.throughput(Throughput::Elements(1));
    g.bench_function("claim + release, uncontended", |b| {
        b.iter(|| {
            contest
                .claim(black_box("job"), TTL)
                .unwrap()
                .release()
                .unwrap()
        })
    });
    let held = contest.claim("busy", TTL).unwrap();
    g.bench_function("claim of a subject held by this process (CONFLICT)", |b| {
        b.iter(|| {
            assert_eq!(
                contest.claim(black_box("busy"), TTL).unwrap_err().status(),
                Status::Conflict
            )
        })
    });
    drop(held);
    let mut lease = contest.claim("renewed", TTL).unwrap();
    g.bench_function("renew", |b| b.iter(|| lease.renew(TTL).unwrap()));
    drop(lease);
    g.bench_function("holder (free subject)", |b| {
        b.iter(|| black_box(contest.holder("job").unwrap()))
    });
    g.finish();
    let _ = Contest::unlink(&name);
    let _ = orbit::fleet::unlink(&name);
}

/// Claims and releases "hot" until `until` (a shared wall-clock deadline in
/// ms); returns (successes, conflicts).
fn contend(contest: &Contest, until_ms: u64) -> (u64, u64) {
    let (mut ok, mut conflicts) = (0u64, 0u64);
    while orbit::OrbitEpoch::now().as_millis() < until_ms {
        match contest.claim("hot", TTL) {
            Ok(l) => {
                l.release().unwrap();
                ok += 1;
            }
            Err(e) if e.status() == Status::Conflict => conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (ok, conflicts)
}

fn contended(quick: bool) {
    let name = format!("bench-contest2-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let contest = Contest::open(&fleet, None).unwrap();
    let secs = if quick { 1 } else { 3 };
    let start = orbit::OrbitEpoch::now().as_millis() + 200;
    let until = start + secs * 1000;
    let child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{name} {start} {until}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while orbit::OrbitEpoch::now().as_millis() < start {
        std::hint::spin_loop();
    }
    let t = Instant::now();
    let (ok, conflicts) = contend(&contest, until);
    let elapsed = t.elapsed();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    let (ok2, conflicts2) = (it.next().unwrap(), it.next().unwrap());
    let total_ok = ok + ok2;
    let attempts = total_ok + conflicts + conflicts2;
    let ns = elapsed.as_nanos() as f64;
    println!("\ncontest: 2 processes claiming and releasing one subject for {elapsed:?}");
    println!(
        "  successful claim+release round trips: {total_ok} ({ok} + {ok2}), {:.0}/s, {:.0} ns each",
        total_ok as f64 / elapsed.as_secs_f64(),
        ns / total_ok.max(1) as f64
    );
    println!(
        "  attempts: {attempts}, CONFLICT on {:.1}%, {:.0} ns per attempt per process",
        100.0 * (conflicts + conflicts2) as f64 / attempts.max(1) as f64,
        2.0 * ns / attempts.max(1) as f64
    );
    let _ = Contest::unlink(&name);
    let _ = orbit::fleet::unlink(&name);
}

fn main() {
    if let Ok(arg) = std::env::var(ROLE) {
        let mut it = arg.split(' ');
        let name = it.next().unwrap();
        let start: u64 = it.next().unwrap().parse().unwrap();
        let until: u64 = it.next().unwrap().parse().unwrap();
        let fleet = Fleet::join(name, &FleetOptions::default()).unwrap();
        let contest = Contest::open(&fleet, None).unwrap();
        while orbit::OrbitEpoch::now().as_millis() < start {
            std::hint::spin_loop();
        }
        let (ok, conflicts) = contend(&contest, until);
        println!("{ok} {conflicts}");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let mut c = Criterion::default().configure_from_args();
    uncontended(&mut c);
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        contended(quick);
    }
}
