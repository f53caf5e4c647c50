//! `orbit bench`: a quick local benchmark in a fleet of its own (removed
//! afterwards). Figures on a shared machine drift, so the ping-pong is
//! printed with its ratio to a bare cache-line ping-pong measured in the same
//! run. For careful numbers use `make bench` (criterion).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orbit::{CacheOptions, Fleet, FleetOptions, From, OrbitCache, Ring, RingOptions};

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult, Context};
use crate::json::Json;
use crate::out::Out;
use crate::render::si;

pub static SPEC: Spec = Spec {
    name: "bench",
    args: "",
    arity: (0, 0),
    about: "Quick local benchmark: ring writes, cross-thread ping-pong, cache get/set.",
    opts: &[
        Opt {
            long: "duration",
            value: Some("DURATION"),
            help: "time per measurement (default 300ms)",
        },
        Opt {
            long: "json",
            value: None,
            help: "one JSON document with every figure",
        },
    ],
    details: "\
Runs in a fleet of its own (bench-<pid>), removed at the end:
  ring write     one thread writing 64-byte frames
  ping-pong      two threads bouncing a 64-byte frame over two rings; one-way latency
                 p50/p99 and its ratio to two threads bouncing a bare cache line
  cache get/set  16-byte keys, 64-byte values, 1024 keys, one thread
Figures on a shared or busy machine vary from run to run; ratios vary less.",
};

const PAYLOAD: usize = 64;

/// Removes the bench fleet's segments, however the bench ends.
struct Scratch {
    fleet: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for r in ["write", "ping", "pong"] {
            let _ = Ring::unlink(&self.fleet, r);
        }
        let _ = OrbitCache::unlink(&self.fleet, "kv");
        let _ = orbit::fleet::unlink(&self.fleet);
    }
}

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let span = m
        .duration("duration")?
        .unwrap_or(Duration::from_millis(300));
    if span.is_zero() {
        return Err(CliError::usage("--duration must be above 0"));
    }
    let scratch = Scratch {
        fleet: format!("bench-{}", std::process::id()),
    };
    let fleet = Fleet::join(
        &scratch.fleet,
        &FleetOptions {
            label: "orbit-bench".into(),
            ..FleetOptions::default()
        },
    )
    .ctx("joining the bench fleet")?;
    let text = !m.flag("json");
    let say = |out: &mut Out, s: String| if text { out.line(&s) } else { Ok(()) };
    say(
        out,
        format!(
            "orbit bench: fleet {}, {} CPUs, {} ms per measurement",
            scratch.fleet,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            span.as_millis()
        ),
    )?;

    let (writes, write_s) = ring_writes(&fleet, span)?;
    let write_ns = write_s * 1e9 / writes as f64;
    say(
        out,
        format!(
            "  ring write, 64 B frames, 1 thread      {write_ns:7.1} ns/write  {:>8} writes/s",
            si(writes as f64 / write_s)
        ),
    )?;

    let ring = ping_pong_ring(&fleet, span)?;
    let line = ping_pong_line(span);
    let ratio = ring.p50 / line.p50.max(1.0);
    say(
        out,
        format!(
            "  ping-pong one-way, 2 threads, ring    p50 {:6.0} ns  p99 {:6.0} ns  ({} round trips)",
            ring.p50, ring.p99, ring.rounds
        ),
    )?;
    say(
        out,
        format!(
            "  ping-pong one-way, bare cache line    p50 {:6.0} ns  p99 {:6.0} ns  -> ring/line p50 ratio {ratio:.2}x",
            line.p50, line.p99
        ),
    )?;

    let c = cache(&fleet, span)?;
    say(
        out,
        format!(
            "  cache get hit, 16 B key, 64 B value   {:7.1} ns/get    {:>8} gets/s",
            1e9 / c.gets_per_s,
            si(c.gets_per_s)
        ),
    )?;
    say(
        out,
        format!(
            "  cache set, 16 B key, 64 B value       {:7.1} ns/set    {:>8} sets/s",
            1e9 / c.sets_per_s,
            si(c.sets_per_s)
        ),
    )?;
    if !text {
        let pp = |p: &PingPong| {
            Json::obj()
                .with("p50_ns", p.p50)
                .with("p99_ns", p.p99)
                .with("round_trips", p.rounds)
        };
        out.line(
            &Json::obj()
                .with("fleet", scratch.fleet.as_str())
                .with("ring_write_ns", write_ns)
                .with("ring_writes_per_s", writes as f64 / write_s)
                .with("ping_pong_ring", pp(&ring))
                .with("ping_pong_cache_line", pp(&line))
                .with("ping_pong_ratio", ratio)
                .with("cache_gets_per_s", c.gets_per_s)
                .with("cache_sets_per_s", c.sets_per_s)
                .line(),
        )?;
    }
    drop(fleet);
    drop(scratch);
    Ok(())
}

fn ring_opts(capacity: u64) -> RingOptions {
    RingOptions {
        capacity,
        max_payload: PAYLOAD as u32,
        kind: 0,
        mode: 0,
        single_writer: false,
    }
}

/// (frames written, seconds).
fn ring_writes(fleet: &Fleet, span: Duration) -> CliResult<(u64, f64)> {
    let ring = Ring::open(fleet, "write", Some(&ring_opts(4096))).ctx("ring")?;
    let payload = [7u8; PAYLOAD];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < span {
        for _ in 0..1024 {
            ring.write(1, n, &payload).ctx("write")?;
            n += 1;
        }
    }
    Ok((n, start.elapsed().as_secs_f64()))
}

struct PingPong {
    p50: f64,
    p99: f64,
    rounds: usize,
}

fn percentiles(mut one_way: Vec<f64>) -> PingPong {
    one_way.sort_by(f64::total_cmp);
    let at = |q: f64| {
        one_way
            .get(((one_way.len() as f64 * q) as usize).min(one_way.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    PingPong {
        p50: at(0.5),
        p99: at(0.99),
        rounds: one_way.len(),
    }
}

/// Longest wait for the other thread's answer before the measurement gives up.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// Spins on `ready`, yielding now and then so two spinning threads on a busy
/// machine still make progress. False when `stop` is set or no answer came
/// within [`ANSWER_LIMIT`].
fn spin_until(mut ready: impl FnMut() -> bool, stop: &AtomicBool) -> bool {
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins % 128 == 0 {
            if stop.load(Ordering::Relaxed)
                || since.get_or_insert_with(Instant::now).elapsed() > ANSWER_LIMIT
            {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    true
}

fn ping_pong_ring(fleet: &Fleet, span: Duration) -> CliResult<PingPong> {
    let ping = Ring::open(fleet, "ping", Some(&ring_opts(64))).ctx("ring")?;
    let pong = Ring::open(fleet, "pong", Some(&ring_opts(64))).ctx("ring")?;
    let stop = Arc::new(AtomicBool::new(false));
    // Both cursors exist before the first ping, so none can be missed.
    let mut cur = ping.cursor(From::Head);
    let mut back = pong.cursor(From::Head);
    let echo = {
        let (pong, stop) = (pong.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; PAYLOAD];
            loop {
                if !spin_until(|| matches!(cur.next_into(&mut buf), Ok(Some(_))), &stop) {
                    return;
                }
                if pong.write(2, 0, &buf).is_err() {
                    return;
                }
            }
        })
    };
    let payload = [1u8; PAYLOAD];
    let mut buf = [0u8; PAYLOAD];
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < span {
        let t = Instant::now();
        ping.write(1, 0, &payload).ctx("write")?;
        if !spin_until(|| matches!(back.next_into(&mut buf), Ok(Some(_))), &stop) {
            break;
        }
        samples.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    Ok(percentiles(samples))
}

fn ping_pong_line(span: Duration) -> PingPong {
    #[repr(align(64))]
    struct Line(AtomicU64);
    let (a, b) = (
        Arc::new(Line(AtomicU64::new(0))),
        Arc::new(Line(AtomicU64::new(0))),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                if !spin_until(|| a.0.load(Ordering::Acquire) != seen, &stop) {
                    return;
                }
                seen = a.0.load(Ordering::Acquire);
                b.0.store(seen, Ordering::Release);
            }
        })
    };
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < span {
        i += 1;
        let t = Instant::now();
        a.0.store(i, Ordering::Release);
        if !spin_until(|| b.0.load(Ordering::Acquire) == i, &stop) {
            break;
        }
        samples.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    percentiles(samples)
}

struct CacheFigures {
    gets_per_s: f64,
    sets_per_s: f64,
}

fn cache(fleet: &Fleet, span: Duration) -> CliResult<CacheFigures> {
    let c = OrbitCache::open(
        fleet,
        "kv",
        Some(&CacheOptions {
            capacity: 4096,
            max_key: 16,
            max_value: PAYLOAD as u32,
            mode: 0,
        }),
    )
    .ctx("cache")?;
    let keys: Vec<[u8; 16]> = (0..1024u64)
        .map(|i| {
            let mut k = [b'k'; 16];
            k[8..].copy_from_slice(&i.to_le_bytes());
            k
        })
        .collect();
    let value = [9u8; PAYLOAD];
    for k in &keys {
        c.set(k, &value, 0).ctx("set")?;
    }
    let mut buf = [0u8; PAYLOAD];
    let start = Instant::now();
    let mut gets = 0u64;
    while start.elapsed() < span {
        for k in &keys {
            if c.get_into(k, &mut buf).ctx("get")?.is_none() {
                return Err(CliError::failed("bench: a key vanished from the cache"));
            }
        }
        gets += keys.len() as u64;
    }
    let gets_per_s = gets as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut sets = 0u64;
    while start.elapsed() < span {
        for k in &keys {
            c.set(k, &value, 0).ctx("set")?;
        }
        sets += keys.len() as u64;
    }
    Ok(CacheFigures {
        gets_per_s,
        sets_per_s: sets as f64 / start.elapsed().as_secs_f64(),
    })
}
