//! `orbit-peers --profile KIND SIZE N`: one process sends and receives N
//! messages over one channel of KIND, alternately, so that an instruction
//! profiler (callgrind; perf has no hardware counters on this VM) sees the
//! CPU work of one send and one receive without any waiting in between.
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profile_loop*' \
//!     target/release/orbit-peers --profile orbit 64 100000
//! ```

use crate::ctl::{Job, Kind, run_name, set_stamp, sweep};
use crate::links::{Chan, Link, Rx, Tx};

#[inline(never)]
fn profile_loop<L: Link>(tx: &mut L::Tx, rx: &mut L::Rx, n: u64, size: usize) -> u64 {
    let mut msg = vec![0x5Au8; size];
    let mut buf = vec![0u8; size.max(8)];
    let mut got = 0;
    for i in 0..n {
        set_stamp(&mut msg, i + 1);
        tx.send(&msg);
        if rx.try_recv(&mut buf).is_some() {
            got += 1;
        }
    }
    got
}

fn run<L: Link>(job: &Job, n: u64) {
    let ch = Chan { job, name: "data" };
    let pending = L::prepare_rx(&ch);
    let mut tx = L::open_tx(&ch);
    let mut rx = L::finish_rx(pending, &ch);
    // Warm-up outside the profiled function: first-touch faults, lazy setup.
    profile_loop_warm::<L>(&mut tx, &mut rx, job.size);
    let t = std::time::Instant::now();
    let got = profile_loop::<L>(&mut tx, &mut rx, n, job.size);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    // The time is only meaningful outside valgrind (`profile.sh` runs both).
    println!(
        "{}: {} of {} messages received, {ns:.1} ns per send + receive",
        job.kind.name(),
        got,
        n
    );
    drop((tx, rx));
    L::cleanup(&ch);
}

fn profile_loop_warm<L: Link>(tx: &mut L::Tx, rx: &mut L::Rx, size: usize) {
    let mut msg = vec![0x5Au8; size];
    let mut buf = vec![0u8; size.max(8)];
    for i in 0..2048u64 {
        set_stamp(&mut msg, u64::MAX - 1 - i);
        tx.send(&msg);
        let _ = rx.try_recv(&mut buf);
    }
}

pub fn main(args: &[String]) {
    let kind = Kind::from_key(&args[0]).expect("kind");
    let size: usize = args[1].parse().unwrap();
    let n: u64 = args[2].parse().unwrap();
    let job = Job {
        kind,
        run: run_name("prof"),
        size,
        // Sizes a kekbit channel: the profiled messages and the warm-up.
        frames: n + 4096,
        writers: 1,
        readers: 1,
        capacity: match kind {
            Kind::Iceoryx2 => 16,
            Kind::Kekbit => crate::links::KEKBIT_MAX_BYTES,
            _ => 1024,
        },
        index: 0,
        interval_ns: 0,
        cpu: -1,
    };
    crate::with_link!(kind, L => run::<L>(&job, n));
    sweep(&job.run);
}

/// `orbit-peers --rep-movsb-scan [SIZE]`: the time of one `rep movsb` of
/// SIZE bytes (default 8160, an 8 KiB frame's copy past its first line),
/// caches warm, for each distance of the destination past the source
/// modulo 4 KiB from -64 to 128 in steps of 8 — the measurement behind
/// orbit's `rep_movsb_short_distance` (on AMD Zen 3 the copy is some 30x
/// slower at distances 1 to 31).
#[cfg(target_arch = "x86_64")]
pub fn rep_movsb_scan(args: &[String]) {
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(8160);
    let src = vec![1u8; n + 8192];
    let mut dst = vec![2u8; n + 8192];
    let s0 = src.as_ptr().wrapping_add(src.as_ptr().align_offset(4096));
    let d0 = dst
        .as_mut_ptr()
        .wrapping_add(dst.as_ptr().align_offset(4096));
    println!("distance (dst - src mod 4096), ns per {n}-byte rep movsb");
    for d in (-64i64..=128).step_by(8) {
        // Both pages lie inside their vectors: 4096 + 64 + n bytes from each
        // aligned start are within n + 8192.
        let s = s0.wrapping_add(64);
        let t = d0.wrapping_add((64 + d) as usize);
        let rounds = 20_000;
        let t0 = std::time::Instant::now();
        for _ in 0..rounds {
            // SAFETY: `s` and `t` each start at most 4096 + 192 bytes into
            // a vector of n + 8192 bytes, so n bytes from each are in
            // bounds; the vectors do not overlap; DF is clear (ABI).
            unsafe {
                std::arch::asm!(
                    "rep movsb",
                    inout("rcx") n => _,
                    inout("rdi") t => _,
                    inout("rsi") s => _,
                    options(nostack, preserves_flags)
                );
            }
        }
        let ns = t0.elapsed().as_nanos() as f64 / rounds as f64;
        println!("{d:>5} {ns:>9.1}");
    }
    std::hint::black_box(&dst);
}
