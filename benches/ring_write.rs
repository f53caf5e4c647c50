//! Ring write throughput: one writer, 64-byte frames (and 1 KiB), into a ring
//! nobody reads (writers never wait for readers, so this is the write path
//! alone). Also two writer threads sharing one ring, and one writer beside a
//! reader too slow to keep up (lapped over and over: the write path should
//! stay near its speed alone, see `Cursor::skip_overwritten`). Run:
//! `cargo bench --bench ring_write`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orbit::{Fleet, FleetOptions, Ring, RingOptions};

fn setup(tag: &str, max_payload: u32) -> (Fleet, Ring) {
    let fleet = Fleet::join(
        &format!("bench-{}-{tag}", std::process::id()),
        &FleetOptions::default(),
    )
    .unwrap();
    let ring = Ring::open(
        &fleet,
        "w",
        Some(&RingOptions {
            capacity: 1 << 16,
            max_payload,
            kind: 1,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap();
    (fleet, ring)
}

fn teardown(fleet: &Fleet) {
    let _ = Ring::unlink(fleet.name(), "w");
    let _ = orbit::fleet::unlink(fleet.name());
}

fn write_one_writer(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_write");
    for size in [64usize, 1024] {
        let (fleet, ring) = setup(&format!("w{size}"), size as u32);
        let payload = vec![0xA5u8; size];
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("one_writer_{size}B"), |b| {
            b.iter(|| ring.write(0, 0, black_box(&payload)).unwrap())
        });
        teardown(&fleet);
    }
    // Two threads writing into one ring: time for 2 x N writes.
    let (fleet, ring) = setup("w2", 64);
    g.bench_function("two_writers_64B_per_write", |b| {
        b.iter_custom(|iters| {
            let per = iters / 2 + 1;
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let r = ring.clone();
                    s.spawn(move || {
                        let p = [0x5Au8; 64];
                        for _ in 0..per {
                            r.write(0, 0, black_box(&p)).unwrap();
                        }
                    });
                }
            });
            start.elapsed().mul_f64(iters as f64 / (2 * per) as f64)
        })
    });
    teardown(&fleet);
    // One writer beside a reader thread that does 100 dependent
    // multiply-adds per frame (far slower than the writer): it is lapped
    // all the time.
    let (fleet, ring) = setup("lapped", 64);
    g.bench_function("one_writer_64B_beside_a_lapped_reader", |b| {
        b.iter_custom(|iters| {
            let stop = AtomicBool::new(false);
            let mut cursor = ring.cursor(orbit::From::Head);
            std::thread::scope(|s| {
                let reader = s.spawn(|| {
                    let (mut buf, mut x, mut n) = ([0u8; 64], 0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        if cursor.next_into(&mut buf).unwrap().is_some() {
                            n += 1;
                            for i in 0..100u64 {
                                x = x.wrapping_mul(31).wrapping_add(i ^ buf[0] as u64);
                            }
                        }
                    }
                    black_box((x, n));
                });
                let p = [0x5Au8; 64];
                let start = Instant::now();
                for _ in 0..iters {
                    ring.write(0, 0, black_box(&p)).unwrap();
                }
                let t = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                reader.join().unwrap();
                t
            })
        })
    });
    teardown(&fleet);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = write_one_writer
}
criterion_main!(benches);
