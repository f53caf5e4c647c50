//! Event bus: publish rate (criterion), and publish-to-receive latency across
//! processes (a custom ping-pong loop with a child process, one-way = round
//! trip / 2), once with both sides busy-polling `next_ref` and once with both
//! sides blocked in `wait` (futex sleep and wake-up on every message).
//!
//! Run: `cargo bench --bench bus` (`-- --quick` for a short run;
//! `ORBIT_BUS_ROUNDS` sets the latency samples, default 100000 polling and a
//! tenth of that blocking).

use std::hint::black_box;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orbit::{Bus, BusOptions, Fleet, FleetOptions, From, Subscription};

const ROLE: &str = "ORBIT_BUS_BENCH_ROLE";
const PAYLOAD: usize = 64;

fn opts(capacity: u64) -> BusOptions {
    BusOptions {
        capacity,
        max_payload: 256,
        mode: 0,
    }
}

fn publish_rate(c: &mut Criterion) {
    let name = format!("bench-bus-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let bus = Bus::open(&fleet, "rate", Some(&opts(1 << 16))).unwrap();
    let payload = [0xA5u8; PAYLOAD];
    let mut g = c.benchmark_group("bus");
    g.throughput(Throughput::Elements(1));
    g.bench_function("publish 64 B, topic 11 B, no subscriber", |b| {
        b.iter(|| {
            bus.publish(black_box("orders.paid"), black_box(&payload))
                .unwrap()
        })
    });
    let mut sub = bus.subscribe(Some("orders."), From::Head).unwrap();
    g.bench_function("publish + next_ref (same thread, matching)", |b| {
        b.iter(|| {
            bus.publish("orders.paid", &payload).unwrap();
            black_box(sub.next_ref().unwrap().unwrap().payload.len())
        })
    });
    g.bench_function("publish + next_ref (same thread, filtered out)", |b| {
        b.iter(|| {
            bus.publish("users.new", &payload).unwrap();
            black_box(sub.next_ref().unwrap().is_none())
        })
    });
    g.finish();
    drop(sub);
    let _ = Bus::unlink(&name, "rate");
    let _ = orbit::fleet::unlink(&name);
}

fn rounds(quick: bool) -> usize {
    if quick {
        return 10_000;
    }
    std::env::var("ORBIT_BUS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn recv(sub: &mut Subscription, block: bool) -> u64 {
    loop {
        if block {
            sub.wait(Duration::from_secs(10)).unwrap();
        }
        if let Some(e) = sub.next_ref().unwrap() {
            return u64::from_le_bytes(e.payload[..8].try_into().unwrap());
        }
        if !block {
            std::hint::spin_loop();
        }
    }
}

/// The child: echoes every ping as a pong.
fn echo(fleet: &str, n: usize, block: bool) {
    let fleet = Fleet::join(fleet, &FleetOptions::default()).unwrap();
    let bus = Bus::open(&fleet, "pingpong", Some(&opts(1024))).unwrap();
    let mut sub = bus.subscribe(Some("ping"), From::Oldest).unwrap();
    let mut msg = [0u8; PAYLOAD];
    for _ in 0..n {
        let i = recv(&mut sub, block);
        msg[..8].copy_from_slice(&i.to_le_bytes());
        bus.publish("pong", &msg).unwrap();
    }
}

fn pingpong(n: usize, block: bool) -> Vec<u64> {
    let name = format!("bench-busrtt-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let bus = Bus::open(&fleet, "pingpong", Some(&opts(1024))).unwrap();
    let mut sub = bus.subscribe(Some("pong"), From::Head).unwrap();
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{name} {n} {}", block as u8))
        .spawn()
        .unwrap();
    let mut msg = [0u8; PAYLOAD];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        bus.publish("ping", &msg).unwrap();
        assert_eq!(recv(&mut sub, block), i);
        samples.push(t0.elapsed().as_nanos() as u64 / 2);
    }
    child.wait().unwrap();
    let _ = Bus::unlink(&name, "pingpong");
    let _ = orbit::fleet::unlink(&name);
    samples
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latency(quick: bool) {
    let n = rounds(quick);
    println!(
        "\nbus publish-to-receive one-way latency across processes, {PAYLOAD}-byte payloads (ns)"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "mode", "samples", "p50", "p90", "p99", "p99.9", "max"
    );
    for (label, block, n) in [
        ("both sides polling", false, n),
        ("both sides in wait()", true, (n / 10).max(1000)),
    ] {
        let _ = pingpong(n / 10, block); // warm-up
        let mut s = pingpong(n, block);
        s.sort_unstable();
        println!(
            "{label:<26} {n:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
            pct(&s, 50.0),
            pct(&s, 90.0),
            pct(&s, 99.0),
            pct(&s, 99.9),
            pct(&s, 100.0)
        );
    }
}

fn main() {
    if let Ok(arg) = std::env::var(ROLE) {
        let mut it = arg.split(' ');
        let (fleet, n, block) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        echo(fleet, n.parse().unwrap(), block == "1");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let mut c = Criterion::default().configure_from_args();
    publish_rate(&mut c);
    c.final_summary();
    // `cargo test --benches` runs bench targets without --bench: skip the long loop.
    if std::env::args().any(|a| a == "--bench") {
        latency(quick);
    }
}
