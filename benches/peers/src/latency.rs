//! Cross-process one-way latency, two ways:
//!
//! - back-to-back ping-pong: the parent sends, the child echoes, the parent
//!   times the round trip; one-way = round trip / 2 (iceoryx2's method, but
//!   every round is a sample, not a mean);
//! - fixed rate, coordinated-omission aware: the child sends one message every
//!   `interval` on a schedule fixed in advance and stamps each with its
//!   *scheduled* send time; the parent takes the clock on arrival. A stall in
//!   the sender, the transport or the receiver delays every message scheduled
//!   behind it, and each of those delays is counted.
//!
//! Both ends busy-poll. Samples are in nanoseconds; ping-pong samples are
//! round trips (halved when reported), fixed-rate samples are one-way.

use std::hint::spin_loop;

use crate::child::spawn;
use crate::ctl::{Control, END, Job, Rounds, now_ns, set_stamp, stamp_of};
use crate::links::{Chan, Link, Rx, Tx};

/// Spins until a message arrives (panics after 30 s without one: the peer died).
#[inline]
pub fn recv_spin<R: Rx>(rx: &mut R, buf: &mut [u8]) -> usize {
    let mut misses = 0u32;
    let mut since = 0u64;
    loop {
        if let Some(n) = rx.try_recv(buf) {
            return n;
        }
        misses = misses.wrapping_add(1);
        if misses & 0xF_FFFF == 0 {
            let now = now_ns();
            if since == 0 {
                since = now;
            } else if now - since > 30_000_000_000 {
                panic!("no message for 30 s");
            }
        }
        spin_loop();
    }
}

/// Parent side of the ping-pong: `job.frames` rounds, the first `warm` not
/// kept, or fewer if `cap_ns` passes first (a machine so busy that each round
/// waits for the scheduler would otherwise take hours); then one END ping.
pub fn pingpong<L: Link>(job: &Job, warm: u64, cap_ns: u64) -> Vec<u64> {
    let ping = Chan { job, name: "ping" };
    let pong = Chan { job, name: "pong" };
    let ctl = Control::create(&job.run);
    let pending = L::prepare_rx(&pong);
    let kid = spawn("echo", job);
    let mut tx = L::open_tx(&ping);
    let mut rx = L::finish_rx(pending, &pong);
    ctl.wait_ready(1);
    ctl.go();
    let mut msg = vec![0x5Au8; job.size];
    let mut buf = vec![0u8; job.size.max(8)];
    let mut rounds = Rounds::new(warm, job.frames - warm, cap_ns);
    let mut i = 0;
    loop {
        i += 1;
        set_stamp(&mut msg, i);
        let t0 = now_ns();
        tx.send(&msg);
        recv_spin(&mut rx, &mut buf);
        let t1 = now_ns();
        assert_eq!(stamp_of(&buf), i, "{} echoed out of order", job.kind.name());
        if !rounds.record(t1, t1 - t0) {
            break;
        }
    }
    set_stamp(&mut msg, END);
    tx.send(&msg);
    ctl.reader_done();
    kid.result();
    drop((tx, rx));
    L::cleanup(&ping);
    L::cleanup(&pong);
    ctl.unlink();
    rounds.samples
}

/// Child side of the ping-pong.
pub fn echo<L: Link>(job: &Job) {
    let ping = Chan { job, name: "ping" };
    let pong = Chan { job, name: "pong" };
    let ctl = Control::open(&job.run);
    let pending = L::prepare_rx(&ping);
    let mut tx = L::open_tx(&pong);
    let mut rx = L::finish_rx(pending, &ping);
    ctl.arrive();
    ctl.wait_go();
    let mut buf = vec![0u8; job.size.max(8)];
    loop {
        recv_spin(&mut rx, &mut buf);
        if stamp_of(&buf) == END {
            break;
        }
        tx.send(&buf[..job.size]);
    }
    ctl.wait_readers(1);
    println!("RESULT ok=1");
}

/// Parent side of the fixed-rate mode: receives until the END message, the
/// first `warm` messages not kept; each sample is arrival minus scheduled send
/// time. Returns the samples and the messages that never arrived (a lossy
/// transport whose reader fell a whole buffer behind).
pub fn paced<L: Link>(job: &Job, warm: u64) -> (Vec<u64>, u64) {
    let data = Chan { job, name: "data" };
    let ctl = Control::create(&job.run);
    let pending = L::prepare_rx(&data);
    let kid = spawn("paced", job);
    let mut rx = L::finish_rx(pending, &data);
    ctl.wait_ready(1);
    ctl.go();
    let mut buf = vec![0u8; job.size.max(8)];
    let mut samples = Vec::with_capacity((job.frames - warm) as usize);
    let mut received = 0u64;
    let mut last = 0;
    loop {
        recv_spin(&mut rx, &mut buf);
        let t = now_ns();
        let sched = stamp_of(&buf);
        if sched == END {
            break;
        }
        if received >= warm {
            samples.push(t.saturating_sub(sched));
        }
        received += 1;
        assert!(sched > last, "{}: message out of order", job.kind.name());
        last = sched;
    }
    ctl.reader_done();
    kid.result();
    drop(rx);
    L::cleanup(&data);
    ctl.unlink();
    (samples, job.frames - received)
}

/// Child side of the fixed-rate mode: the sender on a fixed schedule.
pub fn pace_sender<L: Link>(job: &Job) {
    let data = Chan { job, name: "data" };
    let ctl = Control::open(&job.run);
    let mut tx = L::open_tx(&data);
    ctl.arrive();
    ctl.wait_go();
    let mut msg = vec![0x5Au8; job.size];
    let start = now_ns() + 2_000_000;
    let mut late = 0u64;
    for i in 0..job.frames {
        let sched = start + i * job.interval_ns;
        let mut now = now_ns();
        if now > sched {
            late += 1;
        }
        while now < sched {
            spin_loop();
            now = now_ns();
        }
        set_stamp(&mut msg, sched);
        tx.send(&msg);
    }
    set_stamp(&mut msg, END);
    tx.send(&msg);
    ctl.wait_readers(1);
    println!("RESULT late={late}");
}

/// Dispatches a child role of this module.
pub fn child(role: &str, job: &Job) -> bool {
    match role {
        "echo" => crate::with_link!(job.kind, L => echo::<L>(job)),
        "paced" => crate::with_link!(job.kind, L => pace_sender::<L>(job)),
        _ => return false,
    }
    true
}
