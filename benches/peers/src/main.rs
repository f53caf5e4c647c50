//! orbit against its peers, side by side in one run: cross-process latency
//! (back-to-back and fixed-rate), throughput, fan-out and a key/value cache.
//! Writes one JSON file that `plot.py` turns into plots and the tables of
//! BENCHMARKS.md.
//!
//! ```text
//! orbit-peers [--quick] [--out FILE] [--suite latency,throughput,fanout,cache] [--only KIND,...]
//! ```
//!
//! The binary re-executes itself for every child process (the role travels in
//! an environment variable); measurements run one at a time.

mod cache;
mod child;
mod ctl;
mod flow;
mod latency;
mod links;
mod machine;
mod profile;
mod redis;
mod stats;
mod threads;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use ctl::{Job, Kind, run_name};
use stats::{round1, round3, summary};

#[derive(Clone)]
struct Config {
    quick: bool,
    /// Latency: interleaved blocks per (size, mode) (see `run_latency`).
    blocks: u64,
    out: PathBuf,
    suites: Vec<String>,
    only: Option<Vec<Kind>>,
    /// Latency: message sizes (`--sizes 64,1024`; default all three) ...
    sizes: Vec<usize>,
    /// ... and modes (`--modes back-to-back,fixed-rate`), false = back-to-back.
    modes: Vec<bool>,
    /// Latency: round trips kept, and warm-up rounds before them.
    rounds: u64,
    warm: u64,
    /// Back-to-back: stop early after this long (a contended machine).
    cap_ns: u64,
    /// Fixed-rate: messages kept, warm-up messages, spacing.
    paced: u64,
    paced_warm: u64,
    interval_ns: u64,
    /// Throughput and fan-out: how long writers write.
    flow_ns: u64,
    /// kekbit channel size cap for throughput (its channels are finite).
    kekbit_flow_bytes: u64,
    cache: cache::Ops,
}

impl Config {
    fn from_args() -> Config {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args.get(i + 1).expect("flag value").clone())
        };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results");
        let out = value("--out")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join(if quick { "quick.json" } else { "results.json" }));
        let suites = value("--suite")
            .unwrap_or_else(|| "latency,throughput,fanout,cache".into())
            .split(',')
            .map(String::from)
            .collect();
        let only = value("--only").map(|v| {
            v.split(',')
                .map(|k| Kind::from_key(k).unwrap_or_else(|| panic!("unknown kind {k}")))
                .collect()
        });
        let s = if quick { 20 } else { 1 };
        let sizes = value("--sizes").map_or(SIZES.to_vec(), |v| {
            v.split(',')
                .map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| panic!("--sizes: bad size {n}"))
                })
                .collect()
        });
        let modes = value("--modes").map_or(vec![false, true], |v| {
            v.split(',')
                .map(|m| match m {
                    "back-to-back" => false,
                    "fixed-rate" => true,
                    _ => panic!("--modes: back-to-back or fixed-rate, not {m}"),
                })
                .collect()
        });
        Config {
            sizes,
            modes,
            quick,
            blocks: value("--blocks")
                .map(|b| b.parse().expect("--blocks N"))
                .unwrap_or(if quick { 1 } else { 4 }),
            out,
            suites,
            only,
            rounds: 200_000 / s,
            warm: 20_000 / s,
            cap_ns: if quick { 3_000_000_000 } else { 15_000_000_000 },
            paced: 100_000 / s,
            paced_warm: 10_000 / s,
            interval_ns: 10_000,
            flow_ns: if quick { 100_000_000 } else { 1_000_000_000 },
            kekbit_flow_bytes: if quick { 128 << 20 } else { 1 << 30 },
            cache: cache::Ops {
                orbit: 5_000_000 / s,
                redis: 100_000 / s,
                lmdb: 2_000_000 / s,
            },
        }
    }

    fn wants(&self, k: Kind) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&k))
    }
}

/// Runs a measurement up to three times (full mode) while other processes
/// kept more than a quarter of a core busy during it, and keeps the least
/// disturbed attempt. Returns the result, the other processes' load during
/// it (cores) and the number of attempts.
fn least_contended<T>(
    cfg: &Config,
    what: &str,
    mut f: impl FnMut() -> Result<T, String>,
) -> (Result<T, String>, f64, u32) {
    let tries = if cfg.quick { 1 } else { 3 };
    let mut best: Option<(Result<T, String>, f64)> = None;
    let mut n = 0;
    for _ in 0..tries {
        n += 1;
        let (r, c) = machine::with_contention(&mut f);
        let failed = r.is_err();
        if best.as_ref().is_none_or(|(_, bc)| c < *bc) {
            best = Some((r, round3(c)));
        }
        if failed || best.as_ref().unwrap().1 <= 0.25 || n == tries {
            break;
        }
        eprintln!("  {what}: other processes used {c:.2} cores meanwhile; measuring again");
        background(cfg);
    }
    let (r, c) = best.unwrap();
    (r, c, n)
}

/// Runs one measurement; a panic (a peer failing) is recorded, not fatal.
fn attempt<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        eprintln!("  {what}: FAILED: {msg}");
        msg
    })
}

/// Lets this thread run on every CPU again when dropped.
struct Unpin;

impl Drop for Unpin {
    fn drop(&mut self) {
        ctl::pin(None);
    }
}

/// Sweeps a run's leftovers when the measurement ends, even by a panic.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        ctl::sweep(&self.0);
    }
}

const LATENCY_KINDS: [Kind; 9] = [
    Kind::Line,
    Kind::Copy,
    Kind::Orbit,
    Kind::OrbitSw,
    Kind::Iceoryx2,
    Kind::Disruptor,
    Kind::Kekbit,
    Kind::Uds,
    Kind::Pipe,
];
const SIZES: [usize; 3] = [64, 1024, 8192];

/// The settings each transport runs with (recorded beside its numbers).
fn settings(k: Kind, scenario: &str) -> String {
    let lat = scenario == "latency";
    match k {
        Kind::Line => "one u64 in a shared cache line, Release store / Acquire spin".into(),
        Kind::Copy => "memcpy into a shared buffer + Release flag; receiver memcpy out".into(),
        Kind::Orbit => format!(
            "Ring::write / Cursor::next_into busy-poll, ring of {}",
            if lat { "64 slots (1024 at a fixed rate)" } else { "~8 MiB" }
        ),
        Kind::OrbitSw => format!(
            "single-writer ring: Ring::writer() then RingWriter::write / Cursor::next_into busy-poll, ring of {}",
            if lat { "64 slots (1024 at a fixed rate)" } else { "~8 MiB" }
        ),
        Kind::Iceoryx2 => format!(
            "ipc::Service publish-subscribe [u8], history 0, subscriber buffer {}, safe overflow; loan_slice_uninit + copy + send, busy-poll receive + copy out",
            if lat { "1 (1024 at a fixed rate)" } else { "1024" }
        ),
        Kind::Iceoryx2Bp => "as iceoryx2, but no safe overflow: publishers RetryUntilDelivered (back-pressure, no loss), subscriber buffer 1024".into(),
        Kind::Disruptor => "EventPoller API, busy-poll; single producer (multi-producer for two writers); [u8; N] events; two threads of one process".into(),
        Kind::Kekbit => "ShmWriter/ShmReader on /dev/shm, channel file preallocated (posix_fallocate), try_read busy-poll + copy out".into(),
        Kind::Uds => "SOCK_STREAM, blocking write, non-blocking read busy-poll".into(),
        Kind::Pipe => "FIFO, blocking write, non-blocking read busy-poll".into(),
    }
}

/// Ring slots (orbit, floors) / subscriber buffer (iceoryx2) for the latency
/// runs: back-to-back has one message in flight (iceoryx2's own benchmark uses
/// a buffer of 1); at a fixed rate a reader descheduled for a few
/// milliseconds must not lose the stream.
fn lat_capacity(k: Kind, paced: bool) -> u64 {
    match (k, paced) {
        (Kind::Iceoryx2, false) => 1,
        (_, false) => 64,
        (_, true) => 1024,
    }
}

/// Other processes' load before a measurement. A full run waits for the
/// machine to be quiet (up to two minutes each time, thirty minutes in all);
/// quick mode only records it.
fn background(cfg: &Config) -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static BUDGET_MS: AtomicU64 = AtomicU64::new(30 * 60 * 1000);
    if cfg.quick {
        return round3(machine::busy_cores(50));
    }
    let left = BUDGET_MS.load(Ordering::Relaxed);
    let t = Instant::now();
    let b = machine::wait_quiet(Duration::from_millis(left.min(120_000)));
    let spent = t.elapsed().as_millis() as u64;
    BUDGET_MS.store(left.saturating_sub(spent), Ordering::Relaxed);
    round3(b)
}

fn latency_job(cfg: &Config, k: Kind, size: usize, paced: bool) -> Job {
    let frames = if paced {
        cfg.paced + cfg.paced_warm
    } else {
        cfg.rounds + cfg.warm
    };
    let capacity = match k {
        Kind::Kekbit => links::KEKBIT_MAX_BYTES,
        _ => lat_capacity(k, paced),
    };
    Job {
        kind: k,
        run: run_name(k.key()),
        size,
        frames,
        writers: 1,
        readers: 1,
        capacity,
        index: 0,
        interval_ns: cfg.interval_ns,
        // The parent (this process) runs on CPU 0 meanwhile. Quick mode
        // judges no numbers and pins nothing (a busy CI machine would make
        // pinned ends wait for each other's time slices).
        cpu: if cfg.quick { -1 } else { 1 },
    }
}

fn print_interruptions(v: &Value) {
    let cpus = v["cpus"].as_array().cloned().unwrap_or_default();
    let each: Vec<String> = cpus
        .iter()
        .map(|c| {
            format!(
                "CPU {}: {:.0}/s, gap p50 {:.1} us, p90 {:.1} us, {:.2}% of the time",
                c["cpu"],
                c["per_second"].as_f64().unwrap_or(0.0),
                c["gap_p50_ns"].as_f64().unwrap_or(0.0) / 1e3,
                c["gap_p90_ns"].as_f64().unwrap_or(0.0) / 1e3,
                c["time_lost"].as_f64().unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    println!(
        "  interruptions of a busy-polling thread (gaps > 1 us): {}",
        each.join("; ")
    );
}

/// Samples (ns) and messages lost (fixed rate only).
fn latency_samples(cfg: &Config, k: Kind, size: usize, paced: bool) -> (Vec<u64>, u64) {
    let job = latency_job(cfg, k, size, paced);
    let _sweep = Sweep(job.run.clone());
    let warm = if paced { cfg.paced_warm } else { cfg.warm };
    if !cfg.quick {
        ctl::pin(Some(0));
    }
    let _unpin = Unpin;
    if k == Kind::Disruptor {
        macro_rules! sized {
            ($n:literal) => {
                if paced {
                    threads::paced::<$n>(!cfg.quick, job.frames, warm, cfg.interval_ns, 1024)
                } else {
                    (
                        threads::pingpong::<$n>(!cfg.quick, job.frames, warm, 64, cfg.cap_ns),
                        0,
                    )
                }
            };
        }
        return match size {
            64 => sized!(64),
            1024 => sized!(1024),
            8192 => sized!(8192),
            _ => unreachable!(),
        };
    }
    if paced {
        with_link!(k, L => latency::paced::<L>(&job, warm))
    } else {
        (
            with_link!(k, L => latency::pingpong::<L>(&job, warm, cfg.cap_ns)),
            0,
        )
    }
}

/// One transport's samples of one (size, mode), gathered over the blocks.
#[derive(Default)]
struct Gathered {
    samples: Vec<u64>,
    lost: u64,
    contention: f64,
    attempts: u32,
    seconds: f64,
    blocks: u32,
    /// The p50 of each block's samples, in block order.
    block_p50: Vec<f64>,
    /// `machine::line_probe` just before and just after each block (full
    /// runs only): the vCPU placement the block ran on.
    block_placement: Vec<[Option<f64>; 2]>,
    error: Option<String>,
}

/// Latency rows. In a full run each (size, mode) is measured in `blocks`
/// rounds, and every round runs every transport once with its share of the
/// samples (transport order rotating from round to round): the hypervisor
/// moves this VM's two vCPUs between physical cores every so often, which
/// changes what a cache-line transfer costs by up to 5x, and interleaving
/// spreads those changes over all transports instead of handing one
/// placement to one transport.
fn run_latency(cfg: &Config, rows: &mut Vec<Value>) {
    let blocks = cfg.blocks.max(1);
    println!(
        "\n== one-way latency across processes (ns); back-to-back: {} round trips, fixed rate: {} messages every {} ns; \
         {blocks} interleaved block(s)",
        cfg.rounds, cfg.paced, cfg.interval_ns
    );
    let kinds: Vec<Kind> = LATENCY_KINDS
        .into_iter()
        .filter(|k| cfg.wants(*k))
        .collect();
    let block_cfg = Config {
        rounds: cfg.rounds.div_ceil(blocks),
        warm: cfg.warm.div_ceil(blocks),
        paced: cfg.paced.div_ceil(blocks),
        paced_warm: cfg.paced_warm.div_ceil(blocks),
        cap_ns: cfg.cap_ns / blocks,
        ..cfg.clone()
    };
    for &size in &cfg.sizes {
        for &paced in &cfg.modes {
            let mode = if paced { "fixed-rate" } else { "back-to-back" };
            println!("-- {size} B, {mode}");
            println!(
                "  {:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "transport", "p50", "p90", "p99", "p99.9", "p99.99", "max"
            );
            let mut got: Vec<Gathered> = kinds.iter().map(|_| Gathered::default()).collect();
            let mut background_busy = Vec::new();
            for block in 0..blocks {
                for i in 0..kinds.len() {
                    let i = (i + block as usize) % kinds.len();
                    let k = kinds[i];
                    let g = &mut got[i];
                    if g.error.is_some() {
                        continue;
                    }
                    let what = format!("{} {size} B {mode}", k.name());
                    background_busy.push(background(cfg));
                    let probe = || {
                        if cfg.quick {
                            None
                        } else {
                            machine::line_probe()
                        }
                    };
                    let before = probe();
                    let t = Instant::now();
                    let (r, contention, tries) = least_contended(cfg, &what, || {
                        attempt(&what, || latency_samples(&block_cfg, k, size, paced))
                    });
                    let after = probe();
                    g.seconds += t.elapsed().as_secs_f64();
                    g.contention = g.contention.max(contention);
                    g.attempts += tries;
                    match r {
                        Ok((s, lost)) => {
                            if !s.is_empty() {
                                let mut b = s.clone();
                                let st = summary(&mut b, if paced { 1.0 } else { 0.5 });
                                g.block_p50.push(st["p50"].as_f64().unwrap_or(f64::NAN));
                                g.block_placement.push([before, after]);
                            }
                            g.samples.extend(s);
                            g.lost += lost;
                            g.blocks += 1;
                        }
                        Err(e) => g.error = Some(e),
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            for (k, g) in kinds.iter().zip(got) {
                let mut row = json!({
                    "kind": k.key(), "transport": k.name(), "process_model": k.process_model(),
                    "mode": mode, "size": size, "settings": settings(*k, "latency"),
                    "blocks": g.blocks, "block_p50": g.block_p50,
                    "block_placement_ns": g.block_placement,
                });
                if paced {
                    row["interval_ns"] = json!(cfg.interval_ns);
                }
                row["background_cores_busy"] =
                    json!(background_busy.iter().cloned().fold(0.0, f64::max));
                row["seconds"] = json!(round3(g.seconds));
                row["contention_cores"] = json!(g.contention);
                row["attempts"] = json!(g.attempts);
                let mut s = g.samples;
                if let Some(e) = g.error {
                    row["error"] = json!(e);
                } else if s.is_empty() {
                    row["error"] = json!("no samples");
                } else {
                    let st = summary(&mut s, if paced { 1.0 } else { 0.5 });
                    let f = |p: &str| st[p].as_f64().unwrap_or(f64::NAN);
                    println!(
                        "  {:<24} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}{}",
                        k.name(),
                        f("p50"),
                        f("p90"),
                        f("p99"),
                        f("p99.9"),
                        f("p99.99"),
                        f("max"),
                        if g.lost > 0 {
                            format!("  ({} lost)", g.lost)
                        } else {
                            String::new()
                        }
                    );
                    row["stats"] = st;
                    row["lost"] = json!(g.lost);
                }
                rows.push(row);
            }
        }
    }
}

/// A flow job: `readers` 0 means write-only.
fn flow_job(cfg: &Config, k: Kind, size: usize, writers: usize, readers: usize) -> Job {
    let capacity = match k {
        // ~8 MiB of slots.
        Kind::Orbit | Kind::OrbitSw => {
            if size <= 64 {
                1 << 16
            } else {
                1 << 13
            }
        }
        Kind::Iceoryx2 | Kind::Iceoryx2Bp => 1024,
        Kind::Kekbit => cfg.kekbit_flow_bytes,
        _ => 0,
    };
    let mut job = Job {
        kind: k,
        run: run_name(k.key()),
        size,
        frames: u64::MAX / 4,
        writers,
        readers,
        capacity,
        index: 0,
        interval_ns: cfg.flow_ns,
        // -1: flow() pins one writer and one reader apart; quick mode pins nothing.
        cpu: if cfg.quick { -2 } else { -1 },
    };
    if k == Kind::Kekbit {
        job.frames = cfg.kekbit_flow_bytes / links::kekbit_record(size) - 64;
    }
    job
}

fn flow_result(
    cfg: &Config,
    k: Kind,
    size: usize,
    writers: usize,
    readers: usize,
) -> flow::FlowResult {
    let job = flow_job(cfg, k, size, writers, readers);
    let _sweep = Sweep(job.run.clone());
    if k == Kind::Disruptor {
        let ring = if size <= 64 { 1 << 16 } else { 1 << 13 };
        return match size {
            64 => threads::flow::<64>(!cfg.quick, writers, readers, job.frames, cfg.flow_ns, ring),
            1024 => {
                threads::flow::<1024>(!cfg.quick, writers, readers, job.frames, cfg.flow_ns, ring)
            }
            _ => unreachable!(),
        };
    }
    with_link!(k, L => flow::flow::<L>(&job))
}

/// Why a transport does not take part in a shape, or None if it does.
fn unsupported(k: Kind, writers: usize, readers: usize) -> Option<&'static str> {
    match k {
        Kind::Line | Kind::Copy => Some("floor: latency only"),
        Kind::Kekbit if writers > 1 => Some("one writer per channel by design"),
        Kind::OrbitSw if writers > 1 => Some("one writer per ring by design: see orbit ring"),
        Kind::Disruptor if readers == 0 => {
            Some("a producer blocks when no consumer frees slots: no write-only shape")
        }
        Kind::Uds | Kind::Pipe if readers == 0 => Some("needs a reader"),
        Kind::Uds | Kind::Pipe if readers > 1 => Some("point-to-point: no fan-out"),
        Kind::Iceoryx2Bp if readers == 0 => {
            Some("back-pressure needs a subscriber: see iceoryx2 for the write path")
        }
        _ => None,
    }
}

fn flow_row(
    cfg: &Config,
    k: Kind,
    size: usize,
    writers: usize,
    readers: usize,
    scenario: &str,
) -> Value {
    let shape = if readers == 0 {
        "write-only"
    } else {
        "delivered"
    };
    let mut row = json!({
        "kind": k.key(), "transport": k.name(), "process_model": k.process_model(),
        "shape": shape, "size": size, "writers": writers, "readers": readers,
        "settings": settings(k, scenario),
    });
    if let Some(why) = unsupported(k, writers, readers) {
        row["unsupported"] = json!(why);
        return row;
    }
    let what = format!("{} {size} B {writers}w {readers}r", k.name());
    row["background_cores_busy"] = json!(background(cfg));
    let t = Instant::now();
    let (res, contention, tries) = least_contended(cfg, &what, || {
        attempt(&what, || flow_result(cfg, k, size, writers, readers))
    });
    row["seconds"] = json!(round3(t.elapsed().as_secs_f64()));
    row["contention_cores"] = json!(contention);
    row["attempts"] = json!(tries);
    match res {
        Ok(r) => {
            let rates = r.reader_rates();
            let received: u64 = r.readers.iter().map(|x| x.received).sum();
            let lost: u64 = r.readers.iter().map(|x| x.lost).sum();
            let mean = if rates.is_empty() {
                0.0
            } else {
                rates.iter().sum::<f64>() / rates.len() as f64
            };
            // Frames a reader did not get, over what was written, averaged.
            let missed = if readers == 0 || r.written == 0 {
                0.0
            } else {
                1.0 - received as f64 / (r.written as f64 * readers as f64)
            };
            println!(
                "  {:<24} {:>5} B {}w {}r  write {:>8.2} M/s   per reader {:>8.2} M/s   missed {:>5.1}%",
                k.name(),
                size,
                writers,
                readers,
                r.write_rate() / 1e6,
                mean / 1e6,
                missed * 100.0
            );
            row["written"] = json!(r.written);
            row["write_seconds"] = json!(round3(r.write_ns as f64 / 1e9));
            row["write_fps"] = json!(r.write_rate().round());
            row["reader_fps"] = json!(rates.iter().map(|v| v.round()).collect::<Vec<_>>());
            row["mean_reader_fps"] = json!(mean.round());
            row["received"] = json!(received);
            row["lost_reported"] = json!(lost);
            row["missed_fraction"] = json!(round3(missed));
        }
        Err(e) => row["error"] = json!(e),
    }
    row
}

const FLOW_KINDS: [Kind; 8] = [
    Kind::Orbit,
    Kind::OrbitSw,
    Kind::Iceoryx2,
    Kind::Iceoryx2Bp,
    Kind::Disruptor,
    Kind::Kekbit,
    Kind::Uds,
    Kind::Pipe,
];

fn run_throughput(cfg: &Config, rows: &mut Vec<Value>) {
    println!(
        "\n== throughput (frames/s), writers write for {} ms",
        cfg.flow_ns / 1_000_000
    );
    for size in [64usize, 1024] {
        for readers in [0usize, 1] {
            for writers in [1usize, 2] {
                for k in FLOW_KINDS {
                    if cfg.wants(k) {
                        rows.push(flow_row(cfg, k, size, writers, readers, "throughput"));
                    }
                }
            }
        }
    }
}

fn run_fanout(cfg: &Config, rows: &mut Vec<Value>) {
    println!(
        "\n== fan-out: one writer, 1/2/4 readers (frames/s delivered per reader), {} ms",
        cfg.flow_ns / 1_000_000
    );
    for size in [64usize, 1024] {
        for readers in [1usize, 2, 4] {
            for k in [
                Kind::Orbit,
                Kind::OrbitSw,
                Kind::Iceoryx2,
                Kind::Iceoryx2Bp,
                Kind::Disruptor,
                Kind::Kekbit,
            ] {
                if cfg.wants(k) {
                    rows.push(flow_row(cfg, k, size, 1, readers, "fanout"));
                }
            }
        }
    }
}

fn run_cache(cfg: &Config, rows: &mut Vec<Value>, notes: &mut serde_json::Map<String, Value>) {
    println!("\n== cache: 16 B keys, 64 B values, 4096 keys, one thread");
    if cfg.wants(Kind::Orbit) {
        match attempt("orbit cache", || cache::orbit(cfg.cache.orbit)) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(json!({"system": "orbit", "error": e})),
        }
    }
    match attempt("redis", || cache::redis(cfg.cache.redis)) {
        Ok(Ok((r, v))) => {
            rows.extend(r);
            notes.insert("redis_server".into(), json!(v));
        }
        Ok(Err(e)) | Err(e) => {
            eprintln!("  redis: {e}");
            rows.push(json!({"system": "redis", "error": e}));
        }
    }
    match attempt("lmdb", || cache::lmdb(cfg.cache.lmdb)) {
        Ok(Ok(r)) => rows.extend(r),
        Ok(Err(e)) | Err(e) => rows.push(json!({"system": "lmdb", "error": e})),
    }
}

fn find(rows: &[Value], pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    rows.iter().find(|r| pred(r))
}

/// The p50 of `a` over the p50 of `b` (both latency rows of one size and
/// mode), taken over pairs of their blocks that ran on the same vCPU
/// placement: each block's placement probe (`machine::line_probe`, before
/// and after it) agreed within 30%, and the two blocks' probes within 30%
/// of each other. The median over such pairs, with their number; `None`
/// without probes (quick mode) or without a matching pair.
fn same_placement_ratio(a: &Value, b: &Value) -> Option<(f64, usize)> {
    let blocks = |r: &Value| -> Vec<(f64, f64)> {
        let p50 = r["block_p50"].as_array().cloned().unwrap_or_default();
        let place = r["block_placement_ns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        p50.iter()
            .zip(place.iter())
            .filter_map(|(v, pl)| {
                let (x, y) = (pl[0].as_f64()?, pl[1].as_f64()?);
                let (lo, hi) = (x.min(y), x.max(y));
                (lo > 0.0 && hi / lo <= 1.3).then_some((v.as_f64()?, (x + y) / 2.0))
            })
            .collect()
    };
    let (ba, bb) = (blocks(a), blocks(b));
    let mut ratios: Vec<f64> = ba
        .iter()
        .flat_map(|&(va, pa)| {
            bb.iter().filter_map(move |&(vb, pb)| {
                (pa.max(pb) / pa.min(pb) <= 1.3 && vb > 0.0).then_some(va / vb)
            })
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let med = if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    };
    Some((med, n))
}

/// Adds to each of orbit's latency rows `same_placement`: its
/// [`same_placement_ratio`] to every other transport of the same size and
/// mode, `{kind: [ratio, pairs]}` (the table BENCHMARKS.md prints and the
/// p50 targets are judged from).
fn add_same_placement(rows: &mut [Value]) {
    let all = rows.to_vec();
    for r in rows.iter_mut() {
        if r["kind"] != "orbit" && r["kind"] != "orbit-sw" {
            continue;
        }
        let mut m = serde_json::Map::new();
        for o in &all {
            if o["size"] != r["size"] || o["mode"] != r["mode"] || o["kind"] == r["kind"] {
                continue;
            }
            if let (Some(k), Some((v, n))) = (o["kind"].as_str(), same_placement_ratio(r, o)) {
                m.insert(k.to_string(), json!([v, n]));
            }
        }
        r["same_placement"] = Value::Object(m);
    }
}

/// The project's targets, checked against this run's numbers.
fn targets(out: &Value) -> Value {
    let empty = vec![];
    let lat = out["latency"].as_array().unwrap_or(&empty);
    let thr = out["throughput"].as_array().unwrap_or(&empty);
    let kv = out["cache"].as_array().unwrap_or(&empty);
    let stat = |kind: &str, size: u64, mode: &str, p: &str| {
        find(lat, |r| {
            r["kind"] == kind && r["size"] == size && r["mode"] == mode
        })
        .and_then(|r| r["stats"][p].as_f64())
    };
    let mut t = Vec::new();
    let mut push = |name: String, value: Option<f64>, target: f64, higher_is_better: bool| {
        let met = value.map(|v| {
            if higher_is_better {
                v >= target
            } else {
                v <= target
            }
        });
        t.push(
            json!({"target": name, "value": value.map(round3), "bound": target,
                      "higher_is_better": higher_is_better, "met": met}),
        );
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let row = |kind: &str, size: u64, mode: &str| {
        find(lat, |r| {
            r["kind"] == kind && r["size"] == size && r["mode"] == mode
        })
    };
    // p50 ratios of orbit's rows on the same vCPU placement where the
    // blocks allow it (`add_same_placement`), else of the merged samples
    // (quick mode has no placement probes).
    let p50_ratio = |a: &str, b: &str, size: u64, mode: &str| {
        row(a, size, mode)
            .and_then(|r| r["same_placement"][b][0].as_f64())
            .or_else(|| ratio(stat(a, size, mode, "p50"), stat(b, size, mode, "p50")))
    };
    for (kind, ring) in [("orbit", "ring"), ("orbit-sw", "single-writer ring")] {
        for mode in ["back-to-back", "fixed-rate"] {
            for size in [64u64, 1024, 8192] {
                push(
                    format!("{ring} p50 / cache-line floor p50, {size} B, {mode} (<= 1.5)"),
                    p50_ratio(kind, "line", size, mode),
                    1.5,
                    false,
                );
                push(
                    format!("{ring} p99.9 / cache-line floor p99.9, {size} B, {mode} (<= 5)"),
                    ratio(
                        stat(kind, size, mode, "p99.9"),
                        stat("line", size, mode, "p99.9"),
                    ),
                    5.0,
                    false,
                );
                // The best peer is the one orbit's ratio is highest against.
                let worst = ["iceoryx2", "disruptor", "kekbit", "uds", "pipe"]
                    .iter()
                    .filter_map(|k| p50_ratio(kind, k, size, mode))
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
                push(
                    format!("{ring} p50 / best peer p50, {size} B, {mode} (<= 1)"),
                    worst,
                    1.0,
                    false,
                );
            }
        }
    }
    for (kind, ring) in [("orbit", "ring"), ("orbit-sw", "single-writer ring")] {
        let w1 = find(thr, |r| {
            r["kind"] == kind && r["size"] == 64 && r["writers"] == 1 && r["readers"] == 0
        })
        .and_then(|r| r["write_fps"].as_f64());
        push(
            format!("{ring} write, one writer, 64 B, M frames/s (>= 30)"),
            w1.map(|v| v / 1e6),
            30.0,
            true,
        );
    }
    let ops = |sys: &str, op: &str, mode: &str| {
        find(kv, |r| {
            r["system"] == sys && r["op"] == op && r["mode"] == mode
        })
        .and_then(|r| r["ops_per_s"].as_f64())
    };
    let get = ops("orbit", "get", "in-process, shared memory");
    push(
        "cache get / Redis GET pipelined 16 (>= 20)".into(),
        ratio(get, ops("redis", "get", "loopback TCP, pipeline 16")),
        20.0,
        true,
    );
    push(
        "cache get / LMDB get, read txn per get (>= 1)".into(),
        ratio(get, ops("lmdb", "get", "read txn per get")),
        1.0,
        true,
    );
    push(
        "cache get / LMDB get, 1024 gets per read txn (>= 1)".into(),
        ratio(get, ops("lmdb", "get", "1024 gets per read txn")),
        1.0,
        true,
    );
    push(
        "cache get, M ops/s on one core (>= 10)".into(),
        get.map(|v| v / 1e6),
        10.0,
        true,
    );
    Value::Array(t)
}

fn main() {
    if let Some((role, job)) = child::role() {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("  child panic: {info}");
        }));
        // SAFETY: prctl with an integer argument; a child must not outlive the harness.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        if job.cpu >= 0 {
            ctl::pin(Some(job.cpu as usize));
        }
        if !latency::child(&role, &job) && !flow::child(&role, &job) {
            panic!("unknown role {role}");
        }
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        eprintln!("  panic: {info}");
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--profile") {
        profile::main(&args[1..]);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if args.first().map(String::as_str) == Some("--rep-movsb-scan") {
        profile::rep_movsb_scan(&args[1..]);
        return;
    }
    let cfg = Config::from_args();
    let started = Instant::now();
    let mut machine = machine::info();
    let versions = machine::versions();
    println!(
        "orbit-peers ({} mode) on {} x {} ({}), kernel {}",
        if cfg.quick { "quick" } else { "full" },
        machine["nproc"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        if machine["virtualized"] == true {
            "virtual machine"
        } else {
            "bare metal"
        },
        machine["kernel"].as_str().unwrap_or("?")
    );
    println!("crates: {versions}");
    let load_start = machine::loadavg();
    let (mut lat, mut thr, mut fan, mut kv) = (vec![], vec![], vec![], vec![]);
    let mut notes = serde_json::Map::new();
    if cfg.suites.iter().any(|s| s == "latency") {
        // Before and after the latency suite: how often a busy-polling
        // thread is interrupted, and for how long (see `machine::interruptions`).
        let ms = if cfg.quick { 200 } else { 2000 };
        let before = machine::interruptions(ms);
        print_interruptions(&before);
        run_latency(&cfg, &mut lat);
        add_same_placement(&mut lat);
        let after = machine::interruptions(ms);
        print_interruptions(&after);
        machine["interruptions"] = json!([before, after]);
    }
    if cfg.suites.iter().any(|s| s == "throughput") {
        run_throughput(&cfg, &mut thr);
    }
    if cfg.suites.iter().any(|s| s == "fanout") {
        run_fanout(&cfg, &mut fan);
    }
    if cfg.suites.iter().any(|s| s == "cache") {
        run_cache(&cfg, &mut kv, &mut notes);
    }
    let mut out = json!({
        "schema": 1,
        "mode": if cfg.quick { "quick" } else { "full" },
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "run_seconds": round1(started.elapsed().as_secs_f64()),
        "machine": machine,
        "loadavg": {"start": load_start, "end": machine::loadavg()},
        "versions": versions,
        "notes": Value::Object(notes),
        "build_failures": [],
        "latency": lat,
        "throughput": thr,
        "fanout": fan,
        "cache": kv,
    });
    out["targets"] = targets(&out);
    println!("\n== targets");
    for t in out["targets"].as_array().unwrap() {
        let met = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "n/a",
        };
        println!(
            "  {:<72} {:>10}  {met}",
            t["target"].as_str().unwrap(),
            t["value"]
        );
    }
    if let Some(dir) = cfg.out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&cfg.out, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    println!(
        "\nwrote {} ({:.0} s)",
        cfg.out.display(),
        started.elapsed().as_secs_f64()
    );
    // Every measurement that ran counts as passed, one that failed as failed
    // (a shape a transport does not offer is neither). Quick mode is CI's
    // check that the harness still works: any failure fails it.
    let (mut passed, mut failed) = (0, 0);
    for suite in ["latency", "throughput", "fanout", "cache"] {
        for r in out[suite].as_array().unwrap() {
            if r.get("error").is_some() {
                failed += 1;
            } else if r.get("unsupported").is_none() {
                passed += 1;
            }
        }
    }
    println!("bench-peers: {passed} passed, {failed} failed");
    if failed > 0 && cfg.quick {
        std::process::exit(1);
    }
}
