//! Cache benchmarks: 16-byte keys, 64-byte values.
//!
//! - criterion, one process: `get` hit, `get` miss, `set`, `incr`;
//! - a custom timing loop across processes: two processes `get` while a third
//!   `set`s the same keys (the bench binary re-executes itself as children).
//!
//! Run: `cargo bench --bench cache` (the cross-process figures are printed
//! after criterion's).

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use orbit::{CacheOptions, Fleet, FleetOptions, OrbitCache};

const ROLE: &str = "ORBIT_BENCH_ROLE";
const FLEET: &str = "ORBIT_BENCH_FLEET";
const KEYS: usize = 4096;
const CROSS_SECS: u64 = 2;

fn options() -> CacheOptions {
    CacheOptions {
        capacity: 1 << 16,
        max_key: 16,
        max_value: 64,
        mode: 0,
    }
}

fn key(i: usize) -> [u8; 16] {
    let mut k = *b"bench-key-000000";
    k[10..].copy_from_slice(format!("{i:06}").as_bytes());
    k
}

fn keys() -> Vec<[u8; 16]> {
    (0..KEYS).map(key).collect()
}

fn single_process(c: &mut Criterion, fleet: &Fleet) {
    let cache = OrbitCache::open(fleet, "single", Some(&options())).unwrap();
    let keys = keys();
    let value = [0x5Au8; 64];
    for k in &keys {
        cache.set(k, &value, 0).unwrap();
    }
    let missing: Vec<[u8; 16]> = (0..KEYS).map(|i| key(KEYS + i)).collect();
    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Elements(1));
    let mut buf = [0u8; 64];
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.get_into(&keys[i], &mut buf).unwrap());
        })
    });
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.get_into(&missing[i], &mut buf).unwrap());
        })
    });
    g.bench_function("set", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.set(&keys[i], &value, 0).unwrap());
        })
    });
    let counters: Vec<[u8; 16]> = (0..KEYS).map(|i| key(2 * KEYS + i)).collect();
    g.bench_function("incr", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.incr(&counters[i], 1, 0).unwrap());
        })
    });
    g.finish();
}

/// Child role: `get` (or `set`) for CROSS_SECS and print the operation count.
fn child(role: &str, fleet: &str) {
    let fleet = Fleet::join(fleet, &FleetOptions::default()).unwrap();
    let cache = OrbitCache::open(&fleet, "cross", Some(&options())).unwrap();
    let keys = keys();
    let value = [0xA5u8; 64];
    let mut buf = [0u8; 64];
    let (mut ops, mut hits) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(CROSS_SECS);
    let start = Instant::now();
    let mut i = 0usize;
    while Instant::now() < end {
        for _ in 0..1024 {
            i = (i + 1) & (KEYS - 1);
            if role == "writer" {
                cache.set(&keys[i], &value, 0).unwrap();
            } else if cache.get_into(&keys[i], &mut buf).unwrap().is_some() {
                hits += 1;
            }
        }
        ops += 1024;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{role} {ops} {hits} {secs}");
}

fn cross_process(fleet: &Fleet) {
    let cache = OrbitCache::open(fleet, "cross", Some(&options())).unwrap();
    for k in keys() {
        cache.set(&k, &[0xA5u8; 64], 0).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let kids: Vec<_> = ["writer", "reader", "reader"]
        .iter()
        .map(|role| {
            Command::new(&exe)
                .env(ROLE, role)
                .env(FLEET, fleet.name())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    println!(
        "cache/cross_process: 2 readers get, 1 writer sets ({KEYS} keys, 16 B keys, 64 B values)"
    );
    for k in kids {
        let out = k.wait_with_output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [role, ops, hits, secs] = f[..] {
            let ops: f64 = ops.parse().unwrap();
            let secs: f64 = secs.parse().unwrap();
            println!(
                "  {role:6}: {:6.2} M ops/s ({:.1} ns/op){}",
                ops / secs / 1e6,
                secs * 1e9 / ops,
                if role == "reader" {
                    format!(", hits {hits}")
                } else {
                    String::new()
                }
            );
        }
    }
    let st = cache.stats();
    println!("  stats: {st:?}");
}

fn main() {
    if let (Ok(role), Ok(fleet)) = (std::env::var(ROLE), std::env::var(FLEET)) {
        child(&role, &fleet);
        return;
    }
    let name = format!("bench{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    single_process(&mut c, &fleet);
    c.final_summary();
    cross_process(&fleet);
    let _ = OrbitCache::unlink(&name, "single");
    let _ = OrbitCache::unlink(&name, "cross");
    drop(fleet);
    let _ = orbit::fleet::unlink(&name);
}
