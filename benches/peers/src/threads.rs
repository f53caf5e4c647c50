//! The disruptor crate (LMAX-style ring) in the same shapes as the
//! cross-process measurements. Its ring lives on the heap of one process, so
//! both ends are threads of this process: it never pays for crossing an
//! address space, and is labelled so.
//!
//! Best settings from its documentation: a single-producer disruptor where
//! there is one writer (multi-producer for two), the EventPoller API with the
//! consumer busy-polling, events preallocated as fixed-size byte arrays.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};

use disruptor::{
    BusySpin, EventPoller, MultiProducerBarrier, Polling, Producer, SingleProducerBarrier,
};

use crate::ctl::{END, Rounds, now_ns, pin, set_stamp, stamp_of};
use crate::flow::{FlowResult, ReaderResult};

/// The poller of either producer kind (the crate's `Barrier` trait is private,
/// so code generic over the barrier goes through this).
pub trait Poll<const N: usize>: Send {
    /// Hands each available event to `f`.
    fn batch(&mut self, f: impl FnMut(&[u8; N])) -> Result<(), Polling>;
}

macro_rules! impl_poll {
    ($b:ty) => {
        impl<const N: usize> Poll<N> for EventPoller<[u8; N], $b> {
            #[inline]
            fn batch(&mut self, mut f: impl FnMut(&[u8; N])) -> Result<(), Polling> {
                let mut g = self.poll()?;
                for e in &mut g {
                    f(e);
                }
                Ok(())
            }
        }
    };
}
impl_poll!(SingleProducerBarrier);
impl_poll!(MultiProducerBarrier);

/// Waits for one event and copies it into `buf`.
#[inline]
fn poll_one<const N: usize>(p: &mut impl Poll<N>, buf: &mut [u8; N]) {
    loop {
        match p.batch(|e| buf.copy_from_slice(e)) {
            Ok(()) => return,
            Err(Polling::NoEvents) => spin_loop(),
            Err(Polling::Shutdown) => panic!("disruptor shut down early"),
        }
    }
}

/// Ping-pong between two threads over two single-producer disruptors.
/// Returns round trips of the `rounds - warm` kept rounds.
pub fn pingpong<const N: usize>(
    pinned: bool,
    rounds: u64,
    warm: u64,
    ring: usize,
    cap_ns: u64,
) -> Vec<u64> {
    let (mut ping_rx, b) =
        disruptor::build_single_producer(ring, || [0u8; N], BusySpin).new_event_poller();
    let mut ping_tx = b.build();
    let (mut pong_rx, b) =
        disruptor::build_single_producer(ring, || [0u8; N], BusySpin).new_event_poller();
    let mut pong_tx = b.build();
    let mut kept = Rounds::new(warm, rounds - warm, cap_ns);
    std::thread::scope(|s| {
        s.spawn(move || {
            if pinned {
                pin(Some(1));
            }
            let mut buf = [0u8; N];
            loop {
                poll_one(&mut ping_rx, &mut buf);
                if stamp_of(&buf) == END {
                    break;
                }
                pong_tx.publish(|e| e.copy_from_slice(&buf));
            }
        });
        let mut msg = [0x5Au8; N];
        let mut buf = [0u8; N];
        let mut i = 0;
        loop {
            i += 1;
            set_stamp(&mut msg, i);
            let t0 = now_ns();
            ping_tx.publish(|e| e.copy_from_slice(&msg));
            poll_one(&mut pong_rx, &mut buf);
            let t1 = now_ns();
            assert_eq!(stamp_of(&buf), i);
            if !kept.record(t1, t1 - t0) {
                break;
            }
        }
        set_stamp(&mut msg, END);
        ping_tx.publish(|e| e.copy_from_slice(&msg));
    });
    kept.samples
}

/// Fixed-rate one-way: a sender thread on a fixed schedule, stamps = scheduled
/// send times, then END; this thread takes the clock on arrival of each event.
pub fn paced<const N: usize>(
    pinned: bool,
    frames: u64,
    warm: u64,
    interval_ns: u64,
    ring: usize,
) -> (Vec<u64>, u64) {
    let (mut rx, b) =
        disruptor::build_single_producer(ring, || [0u8; N], BusySpin).new_event_poller();
    let mut tx = b.build();
    let start = now_ns() + 20_000_000;
    let mut samples = Vec::with_capacity((frames - warm) as usize);
    let mut received = 0u64;
    std::thread::scope(|s| {
        s.spawn(move || {
            if pinned {
                pin(Some(1));
            }
            let mut msg = [0x5Au8; N];
            for i in 0..frames {
                let sched = start + i * interval_ns;
                while now_ns() < sched {
                    spin_loop();
                }
                set_stamp(&mut msg, sched);
                tx.publish(|e| e.copy_from_slice(&msg));
            }
            set_stamp(&mut msg, END);
            tx.publish(|e| e.copy_from_slice(&msg));
        });
        let mut buf = [0u8; N];
        let mut done = false;
        while !done {
            let r = rx.batch(|e| {
                let t = now_ns();
                buf.copy_from_slice(e);
                let sched = stamp_of(&buf);
                if sched == END {
                    done = true;
                } else {
                    if received >= warm {
                        samples.push(t.saturating_sub(sched));
                    }
                    received += 1;
                }
            });
            match r {
                Ok(()) => {}
                Err(Polling::NoEvents) => spin_loop(),
                Err(Polling::Shutdown) => break,
            }
        }
    });
    (samples, frames - received)
}

fn write_loop<const N: usize, P: Producer<[u8; N]>>(
    mut p: P,
    frames: u64,
    dur_ns: u64,
    done: &AtomicU64,
) -> (u64, u64) {
    let mut msg = [0xA5u8; N];
    let t0 = now_ns();
    let mut i = 0u64;
    while i < frames {
        let end = (i + 512).min(frames);
        while i < end {
            i += 1;
            set_stamp(&mut msg, i);
            p.publish(|e| e.copy_from_slice(&msg));
        }
        if now_ns() >= t0 + dur_ns {
            break;
        }
    }
    let t1 = now_ns();
    set_stamp(&mut msg, END);
    p.publish(|e| e.copy_from_slice(&msg));
    done.fetch_add(1, Ordering::Release);
    (i, t1 - t0)
}

fn read_loop<const N: usize>(mut p: impl Poll<N>, writers: usize) -> ReaderResult {
    let mut buf = [0u8; N];
    let (mut received, mut ends, mut first) = (0u64, 0usize, 0u64);
    let mut check = 0u64;
    while ends < writers {
        let r = p.batch(|e| {
            buf.copy_from_slice(e);
            let s = stamp_of(&buf);
            if s == END {
                ends += 1;
            } else {
                received += 1;
                check = check.wrapping_add(s);
            }
        });
        match r {
            Ok(()) => {
                if first == 0 {
                    first = now_ns();
                }
            }
            Err(Polling::NoEvents) => spin_loop(),
            Err(Polling::Shutdown) => break,
        }
    }
    let t1 = now_ns();
    std::hint::black_box(check);
    ReaderResult {
        received,
        lost: 0,
        ns: t1 - first.min(t1),
    }
}

fn run<const N: usize, P, Q>(
    pinned: bool,
    producers: Vec<P>,
    pollers: Vec<Q>,
    frames: u64,
    dur_ns: u64,
) -> FlowResult
where
    P: Producer<[u8; N]> + Send,
    Q: Poll<N>,
{
    let writers = producers.len();
    let done = AtomicU64::new(0);
    // One writer and one reader: pinned to different cores (see ctl::pin).
    let two = pinned && writers + pollers.len() == 2;
    std::thread::scope(|s| {
        let readers: Vec<_> = pollers
            .into_iter()
            .map(|p| {
                s.spawn(move || {
                    if two {
                        pin(Some(1));
                    }
                    read_loop(p, writers)
                })
            })
            .collect();
        let done = &done;
        let ws: Vec<_> = producers
            .into_iter()
            .map(|p| {
                s.spawn(move || {
                    if two {
                        pin(Some(0));
                    }
                    write_loop(p, frames, dur_ns, done)
                })
            })
            .collect();
        let mut r = FlowResult::default();
        for w in ws {
            let (n, ns) = w.join().unwrap();
            r.written += n;
            r.write_ns = r.write_ns.max(ns);
        }
        for rd in readers {
            r.readers.push(rd.join().unwrap());
        }
        r
    })
}

/// One or two writer threads, `readers` (1, 2 or 4) reader threads, each
/// reading every frame (back-pressure: the disruptor never drops).
pub fn flow<const N: usize>(
    pinned: bool,
    writers: usize,
    readers: usize,
    frames: u64,
    dur_ns: u64,
    ring: usize,
) -> FlowResult {
    macro_rules! pollers {
        ($builder:expr) => {{
            let (p1, b) = $builder.new_event_poller();
            if readers == 1 {
                (vec![p1], Ok(b))
            } else {
                let (p2, mut b) = b.new_event_poller();
                let mut ps = vec![p1, p2];
                for _ in 2..readers {
                    let (p, nb) = b.new_event_poller();
                    ps.push(p);
                    b = nb;
                }
                (ps, Err(b))
            }
        }};
    }
    if writers == 1 {
        let (ps, b) = pollers!(disruptor::build_single_producer(
            ring,
            || [0u8; N],
            BusySpin
        ));
        match b {
            Ok(b) => run(pinned, vec![b.build()], ps, frames, dur_ns),
            Err(b) => run(pinned, vec![b.build()], ps, frames, dur_ns),
        }
    } else {
        let (ps, b) = pollers!(disruptor::build_multi_producer(ring, || [0u8; N], BusySpin));
        match b {
            Ok(b) => {
                let p = b.build();
                let q = p.clone();
                run(pinned, vec![p, q], ps, frames, dur_ns)
            }
            Err(b) => {
                let p = b.build();
                let q = p.clone();
                run(pinned, vec![p, q], ps, frames, dur_ns)
            }
        }
    }
}
