//! Event bus: publish rate (criterion), and publish-to-receive latency across
//! processes (a custom ping-pong loop with a child process, one-way = round
//! trip / 2), once with both sides busy-polling `next_ref` and once with both
//! sides blocked in `wait` (futex sleep and wake-up on every message). A plain
//! ring ping-pong is measured in the same run as the baseline: the ratio
//! bus / ring is what the topic encoding, filter and timestamp cost, and it
//! holds when the absolute figures of a shared VM drift.
//!
//! Run: `cargo bench --bench bus` (`-- --quick` for a short run;
//! `ORBIT_BUS_ROUNDS` sets the latency samples, default 100000 polling and a
//! tenth of that blocking).

use std::hint::black_box;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orbit::{Bus, BusOptions, Fleet, FleetOptions, From, Ring, RingOptions, Subscription};

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

fn ring_opts() -> RingOptions {
    RingOptions {
        capacity: 1024,
        max_payload: PAYLOAD as u32,
        kind: 1,
        mode: 0,
        single_writer: false,
    }
}

/// The baseline's child: echoes every frame of ring "ping" to ring "pong".
fn ring_echo(fleet: &str, n: usize) {
    let fleet = Fleet::join(fleet, &FleetOptions::default()).unwrap();
    let ping = Ring::open(&fleet, "ping", Some(&ring_opts())).unwrap();
    let pong = Ring::open(&fleet, "pong", Some(&ring_opts())).unwrap();
    let mut cur = ping.cursor(From::Oldest);
    let mut buf = [0u8; PAYLOAD];
    for _ in 0..n {
        let f = loop {
            if let Some(f) = cur.next_into(&mut buf).unwrap() {
                break f;
            }
            std::hint::spin_loop();
        };
        pong.write(0, f.ver, &buf).unwrap();
    }
}

/// The same ping-pong over two plain rings (both sides polling).
fn ring_pingpong(n: usize) -> Vec<u64> {
    let name = format!("bench-ringrtt-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let ping = Ring::open(&fleet, "ping", Some(&ring_opts())).unwrap();
    let pong = Ring::open(&fleet, "pong", Some(&ring_opts())).unwrap();
    let mut cur = pong.cursor(From::Head);
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{name} {n} ring"))
        .spawn()
        .unwrap();
    let msg = [7u8; PAYLOAD];
    let mut buf = [0u8; PAYLOAD];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t0 = Instant::now();
        ping.write(0, i, &msg).unwrap();
        loop {
            if let Some(f) = cur.next_into(&mut buf).unwrap() {
                assert_eq!(f.ver, i);
                break;
            }
            std::hint::spin_loop();
        }
        samples.push(t0.elapsed().as_nanos() as u64 / 2);
    }
    child.wait().unwrap();
    let _ = Ring::unlink(&name, "ping");
    let _ = Ring::unlink(&name, "pong");
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
        "\nbus publish-to-receive one-way latency across processes, {PAYLOAD}-byte payloads (ns; ratio to the ring baseline)"
    );
    println!(
        "{:<28} {:>8} {:>15} {:>15} {:>15} {:>15}",
        "mode", "samples", "p50", "p90", "p99", "p99.9"
    );
    let _ = ring_pingpong(n / 10); // warm-up
    let mut base = ring_pingpong(n);
    base.sort_unstable();
    let runs: [(&str, bool, usize); 2] = [
        ("bus, both sides polling", false, n),
        ("bus, both sides in wait()", true, (n / 10).max(1000)),
    ];
    let mut rows = vec![("ring baseline, polling", n, base.clone())];
    for (label, block, n) in runs {
        let _ = pingpong(n / 10, block); // warm-up
        let mut s = pingpong(n, block);
        s.sort_unstable();
        rows.push((label, n, s));
    }
    for (label, n, s) in &rows {
        let cell = |p: f64| {
            let v = pct(s, p);
            format!("{v} ({:.2}x)", v as f64 / pct(&base, p).max(1) as f64)
        };
        println!(
            "{label:<28} {n:>8} {:>15} {:>15} {:>15} {:>15}",
            cell(50.0),
            cell(90.0),
            cell(99.0),
            cell(99.9)
        );
    }
}

fn main() {
    if let Ok(arg) = std::env::var(ROLE) {
        let mut it = arg.split(' ');
        let (fleet, n, mode) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        match mode {
            "ring" => ring_echo(fleet, n.parse().unwrap()),
            _ => echo(fleet, n.parse().unwrap(), mode == "1"),
        }
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
