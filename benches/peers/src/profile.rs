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
