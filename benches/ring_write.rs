//! Ring write throughput: one writer, 64-byte frames (and 1 KiB), into a ring
//! nobody reads (writers never wait for readers, so this is the write path
//! alone). Also two writer threads sharing one ring. Run: `cargo bench --bench ring_write`.

use std::hint::black_box;
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
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = write_one_writer
}
criterion_main!(benches);
