//! Cross-process one-way latency: ping-pong between two processes over two
//! orbit rings, printed beside a bare cache-line ping-pong (the hardware floor)
//! and a Unix-domain-socket ping-pong measured in the same run, as ratios.
//!
//! Run: `cargo bench --bench ring_pingpong` (`ORBIT_PINGPONG_ROUNDS` sets the
//! samples per transport, default 200000; `-- --quick` uses 20000).
//! One-way latency = round trip / 2. Both processes busy-poll.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use orbit::{Fleet, FleetOptions, From, Ring, RingOptions};

const ROLE: &str = "ORBIT_PINGPONG_ROLE";
const MSG: usize = 64;

fn rounds() -> usize {
    if std::env::args().any(|a| a == "--quick") {
        return 20_000;
    }
    std::env::var("ORBIT_PINGPONG_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn spawn(role: &str, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env("ORBIT_PINGPONG_ARG", arg)
        .spawn()
        .expect("spawn child")
}

fn ring_opts() -> RingOptions {
    RingOptions {
        capacity: 1024,
        max_payload: MSG as u32,
        kind: 9,
        mode: 0,
        single_writer: false,
    }
}

/// The responder side of the orbit ping-pong: echoes each ping as a pong.
fn ring_echo(fleet_name: &str, n: usize) {
    let fleet = Fleet::join(fleet_name, &FleetOptions::default()).unwrap();
    let ping = Ring::open(&fleet, "ping", Some(&ring_opts())).unwrap();
    let pong = Ring::open(&fleet, "pong", Some(&ring_opts())).unwrap();
    let mut cur = ping.cursor(From::Oldest);
    let mut buf = [0u8; MSG];
    let mut seen = 0;
    while seen < n {
        if let Some(f) = cur.next_into(&mut buf).unwrap() {
            pong.write(0, f.ver, &buf[..f.len as usize]).unwrap();
            seen += 1;
        } else {
            std::hint::spin_loop();
        }
    }
}

fn ring_pingpong(n: usize) -> Vec<u64> {
    let name = format!("pingpong-{}", std::process::id());
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let ping = Ring::open(&fleet, "ping", Some(&ring_opts())).unwrap();
    let pong = Ring::open(&fleet, "pong", Some(&ring_opts())).unwrap();
    let mut cur = pong.cursor(From::Head);
    let mut child = spawn("ring", &format!("{name} {n}"));
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        ping.write(0, i as u64, &msg).unwrap();
        loop {
            if let Some(f) = cur.next_into(&mut buf).unwrap() {
                assert_eq!(f.ver, i as u64);
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

/// Two cache lines in a shared mapping: the floor any shared-memory transport pays.
struct Lines {
    ptr: *mut AtomicU64,
}

impl Lines {
    fn open(name: &str, create: bool) -> Lines {
        let c = std::ffi::CString::new(name).unwrap();
        let flags = if create {
            libc::O_CREAT | libc::O_RDWR
        } else {
            libc::O_RDWR
        };
        // SAFETY: plain POSIX calls on a name we own; the mapping is 128 bytes
        // of two u64 atomics on separate cache lines.
        unsafe {
            let fd = libc::shm_open(c.as_ptr(), flags, 0o600);
            assert!(fd >= 0, "shm_open");
            assert_eq!(libc::ftruncate(fd, 128), 0);
            let p = libc::mmap(
                std::ptr::null_mut(),
                128,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::close(fd);
            Lines { ptr: p.cast() }
        }
    }
    fn line(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i is 0 or 1; line i is at byte 64*i of the 128-byte mapping.
        unsafe { &*self.ptr.add(i * 8) }
    }
}

fn cacheline_echo(name: &str, n: usize) {
    let l = Lines::open(name, false);
    for i in 1..=n as u64 {
        // Acquire/Release: pairs with the parent's Release store / Acquire load.
        while l.line(0).load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
        l.line(1).store(i, Ordering::Release);
    }
}

fn cacheline_pingpong(n: usize) -> Vec<u64> {
    let name = format!("/orbit-bench-lines-{}", std::process::id());
    let l = Lines::open(&name, true);
    l.line(0).store(0, Ordering::Relaxed);
    l.line(1).store(0, Ordering::Relaxed);
    let mut child = spawn("lines", &format!("{name} {n}"));
    let mut samples = Vec::with_capacity(n);
    for i in 1..=n as u64 {
        let t0 = Instant::now();
        l.line(0).store(i, Ordering::Release);
        while l.line(1).load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
        samples.push(t0.elapsed().as_nanos() as u64 / 2);
    }
    child.wait().unwrap();
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: unlinking a name we created.
    unsafe { libc::shm_unlink(c.as_ptr()) };
    samples
}

fn uds_echo(path: &str, n: usize) {
    let mut s = UnixStream::connect(path).unwrap();
    let mut buf = [0u8; MSG];
    for _ in 0..n {
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    }
}

fn uds_pingpong(n: usize) -> Vec<u64> {
    let path = format!("/tmp/orbit-bench-{}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = spawn("uds", &format!("{path} {n}"));
    let (mut s, _) = listener.accept().unwrap();
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        s.write_all(&msg).unwrap();
        s.read_exact(&mut buf).unwrap();
        samples.push(t0.elapsed().as_nanos() as u64 / 2);
    }
    child.wait().unwrap();
    let _ = std::fs::remove_file(&path);
    samples
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let arg = std::env::var("ORBIT_PINGPONG_ARG").unwrap();
        let (a, n) = arg.rsplit_once(' ').unwrap();
        let n: usize = n.parse().unwrap();
        match role.as_str() {
            "ring" => ring_echo(a, n),
            "lines" => cacheline_echo(a, n),
            "uds" => uds_echo(a, n),
            _ => panic!("unknown role"),
        }
        return;
    }
    // `cargo test --benches` runs bench targets with no arguments; `cargo bench` passes --bench.
    if !std::env::args().any(|a| a == "--bench" || a == "--quick") {
        println!("ring_pingpong: pass --bench (cargo bench) or --quick to run");
        return;
    }
    let n = rounds();
    let warm = (n / 10).max(1000);
    let mut results = Vec::new();
    for (name, f) in [
        (
            "cache-line floor",
            cacheline_pingpong as fn(usize) -> Vec<u64>,
        ),
        ("orbit ring", ring_pingpong),
        ("unix socket", uds_pingpong),
    ] {
        let _ = f(warm);
        let mut s = f(n);
        s.sort_unstable();
        results.push((name, s));
        std::thread::sleep(Duration::from_millis(100));
    }
    let floor = results[0].1.clone();
    println!(
        "\none-way latency across processes, {MSG}-byte messages, {n} round trips each (ns; ratio to the cache-line floor)"
    );
    println!(
        "{:<18} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "transport", "p50", "p90", "p99", "p99.9", "max"
    );
    for (name, s) in &results {
        let cell = |p: f64| {
            let v = pct(s, p);
            format!("{v} ({:.2}x)", v as f64 / pct(&floor, p).max(1) as f64)
        };
        println!(
            "{name:<18} {:>14} {:>14} {:>14} {:>14} {:>14}",
            cell(50.0),
            cell(90.0),
            cell(99.0),
            cell(99.9),
            cell(100.0)
        );
    }
}
