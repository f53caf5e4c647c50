//! What every process of a measurement shares: the clock, a control block in
//! shared memory (start barrier, writers-done count) and the job description
//! handed to child processes.
//!
//! The clock is `CLOCK_MONOTONIC` read through the vDSO: the same clock in
//! every process of the host, so a sender's timestamp can be compared with a
//! receiver's (the fixed-rate latency mode depends on this).

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Nanoseconds of `CLOCK_MONOTONIC`, comparable across processes.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The 8-byte stamp at the front of every message: a sequence number
/// (ping-pong, throughput), the scheduled send time (fixed rate), or `END`.
#[inline]
pub fn stamp_of(msg: &[u8]) -> u64 {
    u64::from_le_bytes(msg[..8].try_into().unwrap())
}

#[inline]
pub fn set_stamp(msg: &mut [u8], v: u64) {
    msg[..8].copy_from_slice(&v.to_le_bytes());
}

/// The stamp of the message a writer sends after its last frame.
pub const END: u64 = u64::MAX;

/// A few counters on their own cache lines in a small POSIX shm mapping.
pub struct Control {
    ptr: *mut AtomicU64,
    name: CString,
}

// SAFETY: the mapping holds only atomics and lives as long as the value.
unsafe impl Send for Control {}
// SAFETY: as above; every access is an atomic operation.
unsafe impl Sync for Control {}

const READY: usize = 0;
const GO: usize = 1;
const WRITERS_DONE: usize = 2;
const READERS_DONE: usize = 3;
const LINES: usize = 4;

impl Control {
    fn map(run: &str, create: bool) -> Control {
        let name = CString::new(format!("/orbit-peers-{run}-ctl")).unwrap();
        let flags = if create {
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR
        } else {
            libc::O_RDWR
        };
        let len = LINES * 64;
        // SAFETY: POSIX calls on a name this run owns; the mapping is `len`
        // bytes of zero-initialised u64 atomics, 64 bytes apart.
        unsafe {
            let fd = libc::shm_open(name.as_ptr(), flags, 0o600);
            assert!(
                fd >= 0,
                "shm_open {name:?}: {}",
                std::io::Error::last_os_error()
            );
            if create {
                assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0);
            }
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::close(fd);
            Control {
                ptr: p.cast(),
                name,
            }
        }
    }

    pub fn create(run: &str) -> Control {
        Control::map(run, true)
    }

    pub fn open(run: &str) -> Control {
        Control::map(run, false)
    }

    fn line(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i < LINES; line i sits at byte 64*i of the mapping.
        unsafe { &*self.ptr.add(i * 8) }
    }

    /// A child has opened its endpoints.
    pub fn arrive(&self) {
        // Release: pairs with the Acquire load in `wait_ready`.
        self.line(READY).fetch_add(1, Ordering::Release);
    }

    /// Waits until `n` children have arrived (panics after a minute).
    pub fn wait_ready(&self, n: u64) {
        let t = Instant::now();
        while self.line(READY).load(Ordering::Acquire) < n {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "children did not get ready"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn go(&self) {
        // Release: pairs with the Acquire load in `wait_go`.
        self.line(GO).store(1, Ordering::Release);
    }

    /// Spins until the parent says go.
    pub fn wait_go(&self) {
        while self.line(GO).load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
    }

    pub fn writer_done(&self) {
        self.line(WRITERS_DONE).fetch_add(1, Ordering::Release);
    }

    pub fn writers_done(&self) -> u64 {
        self.line(WRITERS_DONE).load(Ordering::Acquire)
    }

    pub fn reader_done(&self) {
        self.line(READERS_DONE).fetch_add(1, Ordering::Release);
    }

    /// A sender keeps its endpoint open until its readers are through (some
    /// transports drop what a closed sender left in flight).
    pub fn wait_readers(&self, n: u64) {
        let t = Instant::now();
        while self.line(READERS_DONE).load(Ordering::Acquire) < n {
            if t.elapsed() > Duration::from_secs(60) {
                eprintln!("orbit-peers: readers did not finish; sender leaves");
                return;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    pub fn unlink(&self) {
        // SAFETY: unlinking a name this run created.
        unsafe { libc::shm_unlink(self.name.as_ptr()) };
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `map`.
        unsafe { libc::munmap(self.ptr.cast(), LINES * 64) };
    }
}

/// Which transport a job measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only the 8-byte stamp moves, through one shared cache line.
    Line,
    /// The message is copied into a shared buffer, a flag line says so.
    Copy,
    Orbit,
    /// A single-writer orbit ring written through its `RingWriter`.
    OrbitSw,
    /// Safe overflow: the publisher never waits, the oldest sample goes.
    Iceoryx2,
    /// Back-pressure: the publisher retries until delivered.
    Iceoryx2Bp,
    Kekbit,
    Uds,
    Pipe,
    /// In-process, two threads (the crate cannot cross processes).
    Disruptor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Line => "cache-line floor",
            Kind::Copy => "shm copy floor",
            Kind::Orbit => "orbit ring",
            Kind::OrbitSw => "orbit ring, single writer",
            Kind::Iceoryx2 => "iceoryx2",
            Kind::Iceoryx2Bp => "iceoryx2 (back-pressure)",
            Kind::Kekbit => "kekbit",
            Kind::Uds => "unix socket",
            Kind::Pipe => "pipe",
            Kind::Disruptor => "disruptor-mp (threads)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Kind::Line => "line",
            Kind::Copy => "copy",
            Kind::Orbit => "orbit",
            Kind::OrbitSw => "orbit-sw",
            Kind::Iceoryx2 => "iceoryx2",
            Kind::Iceoryx2Bp => "iceoryx2-bp",
            Kind::Kekbit => "kekbit",
            Kind::Uds => "uds",
            Kind::Pipe => "pipe",
            Kind::Disruptor => "disruptor",
        }
    }

    pub fn from_key(s: &str) -> Option<Kind> {
        Some(match s {
            "line" => Kind::Line,
            "copy" => Kind::Copy,
            "orbit" => Kind::Orbit,
            "orbit-sw" => Kind::OrbitSw,
            "iceoryx2" => Kind::Iceoryx2,
            "iceoryx2-bp" => Kind::Iceoryx2Bp,
            "kekbit" => Kind::Kekbit,
            "uds" => Kind::Uds,
            "pipe" => Kind::Pipe,
            "disruptor" => Kind::Disruptor,
            _ => return None,
        })
    }

    /// How its two ends run.
    pub fn process_model(self) -> &'static str {
        if self == Kind::Disruptor {
            "threads"
        } else {
            "processes"
        }
    }
}

/// One measurement, as handed to a child process (one line of text).
#[derive(Clone, Debug)]
pub struct Job {
    pub kind: Kind,
    /// Unique per measurement: names every shared object of the run.
    pub run: String,
    /// Message size in bytes (stamp included).
    pub size: usize,
    /// Messages per direction (latency) or the most frames a writer sends.
    pub frames: u64,
    pub writers: usize,
    pub readers: usize,
    /// Ring slots / buffer depth the transport is created with.
    pub capacity: u64,
    /// This child's writer or reader index.
    pub index: usize,
    /// Fixed-rate mode: nanoseconds between scheduled sends. Throughput: how
    /// long a writer writes.
    pub interval_ns: u64,
    /// The CPU this child pins itself to, or -1.
    pub cpu: i32,
}

impl Job {
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {} {}",
            self.kind.key(),
            self.run,
            self.size,
            self.frames,
            self.writers,
            self.readers,
            self.capacity,
            self.index,
            self.interval_ns,
            self.cpu
        )
    }

    pub fn decode(s: &str) -> Job {
        let f: Vec<&str> = s.split(' ').collect();
        assert_eq!(f.len(), 10, "bad job {s:?}");
        Job {
            kind: Kind::from_key(f[0]).expect("kind"),
            run: f[1].to_string(),
            size: f[2].parse().unwrap(),
            frames: f[3].parse().unwrap(),
            writers: f[4].parse().unwrap(),
            readers: f[5].parse().unwrap(),
            capacity: f[6].parse().unwrap(),
            index: f[7].parse().unwrap(),
            interval_ns: f[8].parse().unwrap(),
            cpu: f[9].parse().unwrap(),
        }
    }

    pub fn with_index(&self, index: usize) -> Job {
        Job {
            index,
            ..self.clone()
        }
    }

    pub fn on_cpu(&self, cpu: i32) -> Job {
        Job {
            cpu,
            ..self.clone()
        }
    }
}

/// A unique run name: `[A-Za-z0-9_.-]`, short enough for every peer's naming rules.
pub fn run_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "p{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        tag
    )
}

/// Removes whatever a run left in /dev/shm and /tmp (after a failure the
/// transports' own cleanup may not have run).
pub fn sweep(run: &str) {
    for dir in ["/dev/shm", "/tmp"] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().contains(run) {
                let p = e.path();
                if p.is_dir() {
                    let _ = std::fs::remove_dir_all(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
}

/// Pins the calling thread to `cpu` (`None`: every CPU again).
///
/// Two-party measurements pin their ends to different cores, as iceoryx2's
/// own benchmark does: on a 2-core machine where a third process takes one
/// core, the scheduler would otherwise run both ends on the other core and
/// the numbers would describe a same-core hand-off, not a cross-core one.
pub fn pin(cpu: Option<usize>) {
    // Not available_parallelism(): that follows this thread's affinity mask,
    // which a pinned parent hands down to its children.
    // SAFETY: sysconf with a valid name.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    if n < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it;
    // sched_setaffinity(0, ..) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c % n, &mut set),
            None => (0..n).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The rounds of a back-to-back run: up to `warm` rounds of warm-up (at most
/// 2 s), then up to `keep` kept samples (stopping early after `cap_ns` on a
/// machine so busy that every round waits for the scheduler).
pub struct Rounds {
    warm: u64,
    keep: u64,
    cap_ns: u64,
    done: u64,
    deadline: u64,
    warming: bool,
    pub samples: Vec<u64>,
}

impl Rounds {
    pub fn new(warm: u64, keep: u64, cap_ns: u64) -> Rounds {
        Rounds {
            warm,
            keep,
            cap_ns,
            done: 0,
            deadline: now_ns() + 2_000_000_000,
            warming: warm > 0,
            samples: Vec::with_capacity(keep as usize),
        }
    }

    /// Records a round that ended at `t1` and took `rtt`; false when done.
    #[inline]
    pub fn record(&mut self, t1: u64, rtt: u64) -> bool {
        self.done += 1;
        if self.warming {
            if self.done >= self.warm || t1 > self.deadline {
                self.warming = false;
                self.deadline = t1 + self.cap_ns;
            }
            return true;
        }
        self.samples.push(rtt);
        let n = self.samples.len() as u64;
        n < self.keep && !(n.is_multiple_of(1024) && t1 > self.deadline)
    }
}
