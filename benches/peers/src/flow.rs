//! Throughput and fan-out: writer processes send as fast as they can for a
//! fixed time (or until a finite channel is full), reader processes busy-poll
//! and count. Nothing is paced; a writer that never waits for readers (orbit,
//! iceoryx2 with safe overflow) can outrun them, and then readers lose frames:
//! the loss is reported beside the rate.
//!
//! Rates: a writer's = frames it wrote / its own writing time; a reader's =
//! frames it received / time from its first frame to its last.

use std::hint::spin_loop;

use crate::child::{self, Proc, spawn};
use crate::ctl::{Control, END, Job, now_ns, set_stamp, stamp_of};
use crate::links::{Chan, Link, Rx, Tx};

#[derive(Clone, Debug, Default)]
pub struct ReaderResult {
    pub received: u64,
    pub lost: u64,
    pub ns: u64,
}

#[derive(Clone, Debug, Default)]
pub struct FlowResult {
    /// Frames written by all writers.
    pub written: u64,
    /// The longest writer's writing time.
    pub write_ns: u64,
    pub readers: Vec<ReaderResult>,
}

impl FlowResult {
    pub fn write_rate(&self) -> f64 {
        self.written as f64 / (self.write_ns as f64 / 1e9)
    }

    pub fn reader_rates(&self) -> Vec<f64> {
        self.readers
            .iter()
            .map(|r| r.received as f64 / (r.ns.max(1) as f64 / 1e9))
            .collect()
    }
}

/// Parent: `job.writers` writer and `job.readers` reader processes on channel "data".
pub fn flow<L: Link>(job: &Job) -> FlowResult {
    let ctl = Control::create(&job.run);
    // One writer and one reader: pinned to different cores (see ctl::pin).
    // More processes than cores: the scheduler places them.
    let (wcpu, rcpu) = if job.writers + job.readers == 2 && job.cpu != -2 {
        (0, 1)
    } else {
        (-1, -1)
    };
    let readers: Vec<Proc> = (0..job.readers)
        .map(|i| spawn("reader", &job.with_index(i).on_cpu(rcpu)))
        .collect();
    let writers: Vec<Proc> = (0..job.writers)
        .map(|i| spawn("writer", &job.with_index(i).on_cpu(wcpu)))
        .collect();
    ctl.wait_ready((job.readers + job.writers) as u64);
    ctl.go();
    let mut r = FlowResult::default();
    for w in writers {
        let kv = w.result();
        r.written += child::get(&kv, "frames") as u64;
        r.write_ns = r.write_ns.max(child::get(&kv, "ns") as u64);
    }
    for p in readers {
        let kv = p.result();
        r.readers.push(ReaderResult {
            received: child::get(&kv, "received") as u64,
            lost: child::get(&kv, "lost") as u64,
            ns: child::get(&kv, "ns") as u64,
        });
    }
    L::cleanup(&Chan { job, name: "data" });
    ctl.unlink();
    r
}

/// Child: writes frames stamped 1.. for `job.interval_ns` or `job.frames`
/// frames, whichever ends first, then one END frame.
pub fn writer<L: Link>(job: &Job) {
    let data = Chan { job, name: "data" };
    let ctl = Control::open(&job.run);
    let mut tx = L::open_tx(&data);
    ctl.arrive();
    ctl.wait_go();
    let mut msg = vec![0xA5u8; job.size];
    let t0 = now_ns();
    let deadline = t0 + job.interval_ns;
    let mut i = 0u64;
    while i < job.frames {
        let end = (i + 512).min(job.frames);
        while i < end {
            i += 1;
            set_stamp(&mut msg, i);
            tx.send(&msg);
        }
        if now_ns() >= deadline {
            break;
        }
    }
    let t1 = now_ns();
    set_stamp(&mut msg, END);
    tx.send(&msg);
    ctl.writer_done();
    ctl.wait_readers(job.readers as u64);
    println!("RESULT frames={i} ns={}", t1 - t0);
}

/// Child: counts frames until every writer's END frame arrived (or, for a
/// lossy transport that dropped an END, until the writers are done and the
/// channel stays empty).
pub fn reader<L: Link>(job: &Job) {
    let data = Chan { job, name: "data" };
    let ctl = Control::open(&job.run);
    let pending = L::prepare_rx(&data);
    let mut rx = L::finish_rx(pending, &data);
    ctl.arrive();
    ctl.wait_go();
    let mut buf = vec![0u8; job.size.max(8)];
    let (mut received, mut ends, mut idle) = (0u64, 0usize, 0u32);
    let mut first = 0u64;
    let mut check = 0u64;
    loop {
        if rx.try_recv(&mut buf).is_some() {
            if first == 0 {
                first = now_ns();
            }
            idle = 0;
            let s = stamp_of(&buf);
            if s == END {
                ends += 1;
                if ends == job.writers {
                    break;
                }
            } else {
                received += 1;
                check = check.wrapping_add(s);
            }
        } else {
            if ctl.writers_done() == job.writers as u64 {
                idle += 1;
                if idle > 10_000 {
                    break;
                }
            }
            spin_loop();
        }
    }
    let t1 = now_ns();
    ctl.reader_done();
    std::hint::black_box(check);
    println!(
        "RESULT received={received} lost={} ns={}",
        rx.lost(),
        t1 - first.min(t1)
    );
}

/// Dispatches a child role of this module.
pub fn child(role: &str, job: &Job) -> bool {
    match role {
        "writer" => crate::with_link!(job.kind, L => writer::<L>(job)),
        "reader" => crate::with_link!(job.kind, L => reader::<L>(job)),
        _ => return false,
    }
    true
}
