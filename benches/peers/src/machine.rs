//! What the numbers were measured on, and with which crate versions.

use serde_json::{Value, json};

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn loadavg() -> String {
    read("/proc/loadavg")
}

pub fn info() -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let family = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu family"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let hypervisor = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.contains(" hypervisor"));
    json!({
        "nproc": command("nproc", &[]).parse::<u64>().unwrap_or(0),
        "cpu_model": model,
        "cpu_family": family,
        "virtualized": hypervisor,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "rustc": command("rustc", &["--version"]),
        "memory_kib": read("/proc/meminfo").lines().next().unwrap_or("").split_whitespace().nth(1)
            .and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
    })
}

/// Versions of the peer crates this binary was built with (from Cargo.lock).
pub fn versions() -> Value {
    let lock = include_str!("../Cargo.lock");
    let mut m = serde_json::Map::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
            && [
                "orbit",
                "iceoryx2",
                "disruptor",
                "kekbit",
                "heed",
                "lmdb-master-sys",
                "serde_json",
            ]
            .contains(&n.as_str())
        {
            m.insert(n, json!(v.trim_matches('"')));
        }
    }
    Value::Object(m)
}

/// (all jiffies, idle jiffies) of the whole machine from /proc/stat; steal
/// time counts as busy (cycles the hypervisor gave to someone else).
fn cpu_jiffies() -> (u64, u64) {
    let stat = read("/proc/stat");
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return (0, 0);
    }
    (v.iter().sum(), v[3] + v[4])
}

/// Cores kept busy by other processes over `ms` milliseconds (this process
/// sleeps meanwhile, so the load is someone else's).
pub fn busy_cores(ms: u64) -> f64 {
    // SAFETY: sysconf with a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as f64;
    let a = cpu_jiffies();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let b = cpu_jiffies();
    let total = b.0.saturating_sub(a.0);
    if total == 0 {
        return 0.0;
    }
    let idle = b.1.saturating_sub(a.1);
    (total - idle.min(total)) as f64 / total as f64 * n
}

/// Waits (up to `max`) until other processes use less than a fifth of a
/// core; returns the last load seen.
pub fn wait_quiet(max: std::time::Duration) -> f64 {
    let t = std::time::Instant::now();
    let mut warned = false;
    loop {
        let b = busy_cores(300);
        if b < 0.2 || t.elapsed() >= max {
            return b;
        }
        if !warned {
            eprintln!("  (waiting for a quiet machine: other processes busy {b:.2} cores)");
            warned = true;
        }
    }
}

/// CPU seconds this process and its waited-for children have used.
fn own_cpu_seconds() -> f64 {
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage fills a zeroed rusage we own.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::getrusage(who, &mut ru) };
        total += tv(ru.ru_utime) + tv(ru.ru_stime);
    }
    total
}

/// Measures how many cores *other* processes kept busy while `f` ran: the
/// machine's busy time (from /proc/stat) minus this process's and its
/// children's CPU time, over the wall time.
pub fn with_contention<T>(f: impl FnOnce() -> T) -> (T, f64) {
    // SAFETY: sysconf with a valid name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (a, ai) = cpu_jiffies();
    let own0 = own_cpu_seconds();
    let t = std::time::Instant::now();
    let r = f();
    let wall = t.elapsed().as_secs_f64();
    let (b, bi) = cpu_jiffies();
    let busy = ((b - a) - (bi - ai)) as f64 / hz;
    let own = own_cpu_seconds() - own0;
    (r, ((busy - own) / wall.max(1e-3)).max(0.0))
}

/// How often, and for how long, a thread that busy-polls is interrupted:
/// one thread pinned to each of the first two CPUs (where the two ends of
/// a latency measurement run) reads the clock in a loop for `ms`
/// milliseconds, and every gap over 1 µs between two reads is an
/// interruption (a timer tick, an inter-processor interrupt, the hypervisor
/// running something else on the physical core). A message whose round
/// trip such a gap falls into is delayed by it, whatever the transport: the
/// share of rounds hit is about (interruptions per second on both CPUs) x
/// (round-trip time), and once that exceeds 0.1% the p99.9 of a
/// back-to-back run is an interruption's length, not the transport's.
pub fn interruptions(ms: u64) -> Value {
    // SAFETY: sysconf with a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    let cpus: Vec<usize> = (0..n.min(2)).collect();
    let per_cpu: Vec<Value> = std::thread::scope(|s| {
        let hs: Vec<_> = cpus
            .iter()
            .map(|&c| {
                s.spawn(move || {
                    crate::ctl::pin(Some(c));
                    let span = std::time::Duration::from_millis(ms);
                    let t0 = std::time::Instant::now();
                    let mut last = t0;
                    let mut gaps: Vec<u64> = Vec::with_capacity(1 << 16);
                    loop {
                        let t = std::time::Instant::now();
                        let g = t.duration_since(last).as_nanos() as u64;
                        if g > 1000 && gaps.len() < gaps.capacity() {
                            gaps.push(g);
                        }
                        last = t;
                        if t.duration_since(t0) >= span {
                            break;
                        }
                    }
                    let secs = t0.elapsed().as_secs_f64();
                    gaps.sort_unstable();
                    let lost: u64 = gaps.iter().sum();
                    json!({
                        "cpu": c,
                        "per_second": gaps.len() as f64 / secs,
                        "gap_p50_ns": crate::stats::pct(&gaps, 50.0),
                        "gap_p90_ns": crate::stats::pct(&gaps, 90.0),
                        "gap_max_ns": gaps.last().copied().unwrap_or(0),
                        "time_lost": lost as f64 / 1e9 / secs,
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    json!({ "ms": ms, "cpus": per_cpu })
}

/// What one cache-line transfer between CPU 0 and CPU 1 costs right now:
/// two threads of this process, pinned there, bounce one line 36 000
/// times; the median of nine chunks' one-way means, in ns (`None` if the
/// two could not run at once within 200 ms). The hypervisor moves this VM's
/// vCPUs between physical cores, and a transfer then costs several times
/// more or less (about 40 or 230 ns on the EPYC VMs); taken just before and just
/// after a measurement, this tells which placement the measurement ran on,
/// so that transports can be compared on the same one.
pub fn line_probe() -> Option<f64> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    #[repr(align(128))]
    struct Line(AtomicU64);
    const ROUNDS: u64 = 4000;
    const CHUNKS: usize = 9;
    let line = Line(AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let total = ROUNDS * CHUNKS as u64;
    let chunks = std::thread::scope(|s| {
        s.spawn(|| {
            crate::ctl::pin(Some(1));
            let mut v = 1;
            while v < 2 * total && !stop.load(Ordering::Relaxed) {
                // Relaxed: the value is all the two threads exchange (no
                // other memory is handed over with it).
                if line.0.load(Ordering::Relaxed) == v {
                    line.0.store(v + 1, Ordering::Relaxed);
                    v += 2;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let h = s.spawn(|| {
            crate::ctl::pin(Some(0));
            let t0 = std::time::Instant::now();
            let mut chunks = Vec::with_capacity(CHUNKS);
            let mut v = 1;
            for _ in 0..CHUNKS {
                let t = std::time::Instant::now();
                for _ in 0..ROUNDS {
                    line.0.store(v, Ordering::Relaxed);
                    let mut spins = 0u32;
                    while line.0.load(Ordering::Relaxed) != v + 1 {
                        spins = spins.wrapping_add(1);
                        if spins.is_multiple_of(4096)
                            && t0.elapsed() > std::time::Duration::from_millis(200)
                        {
                            stop.store(true, Ordering::Relaxed);
                            return chunks;
                        }
                        std::hint::spin_loop();
                    }
                    v += 2;
                }
                chunks.push(t.elapsed().as_nanos() as f64 / (2 * ROUNDS) as f64);
                if t0.elapsed() > std::time::Duration::from_millis(200) {
                    stop.store(true, Ordering::Relaxed);
                    return chunks;
                }
            }
            chunks
        });
        // The pinger's chunks; the bouncer stops by itself at `total`, or
        // on `stop`.
        let c = h.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        c
    });
    if chunks.len() < CHUNKS {
        return None;
    }
    let mut c = chunks;
    c.sort_by(f64::total_cmp);
    Some(crate::stats::round1(c[CHUNKS / 2]))
}
