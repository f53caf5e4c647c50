//! Helpers shared by the multi-process integration tests.
//!
//! Child processes are the test binary itself, re-run with
//! `--exact child_process --nocapture --test-threads=1` and the environment
//! variable [`ROLE_VAR`] naming what the child does (parameters in further
//! `ORBIT_TEST_*` variables). The `child_process` test of every file returns at
//! once when [`ROLE_VAR`] is absent, so a normal `cargo test` run skips it.
//! Nothing here forks inside the multi-threaded test harness.
//!
//! Children talk back through stdout lines starting with [`MARK`]; a failing
//! child panics (exit status 101) and its panic message goes to the inherited
//! stderr.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The variable that selects a child's role.
pub const ROLE_VAR: &str = "ORBIT_TEST_ROLE";
/// Prefix of the lines a child reports on stdout.
pub const MARK: &str = "@@";
/// Name of the child entry test in every test file.
pub const CHILD_TEST: &str = "child_process";

/// The role of this process, `None` in the parent test run.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A parameter passed to a child (`ORBIT_TEST_<KEY>`), parsed.
pub fn param<T: std::str::FromStr>(key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let v = std::env::var(format!("ORBIT_TEST_{key}"))
        .unwrap_or_else(|_| panic!("child parameter ORBIT_TEST_{key} missing"));
    v.parse()
        .unwrap_or_else(|e| panic!("child parameter ORBIT_TEST_{key}={v:?}: {e:?}"))
}

/// Reports a line to the parent.
pub fn report(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{}", line.as_ref()).expect("report to parent");
    out.flush().expect("flush report");
}

/// A fleet name unique to this test process and test.
pub fn unique_fleet(test: &str) -> String {
    let name = format!("it{}-{test}", std::process::id());
    assert!(name.len() <= 48, "fleet name {name} too long");
    name
}

/// Monotonic nanoseconds, comparable between processes (CLOCK_MONOTONIC).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The report in a stdout line (libtest may print `test child_process ... `
/// on the same line before it).
fn strip_mark(line: &str) -> Option<&str> {
    line.find(MARK).map(|i| &line[i + MARK.len()..])
}

/// A running child process of the test binary.
pub struct ChildProc {
    pub what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pending: VecDeque<String>,
    /// Every line the child printed so far (for failure messages).
    pub transcript: Vec<String>,
    reaped: Option<ExitStatus>,
}

/// Spawns the test binary as a child with `role` and `ORBIT_TEST_<key>=value` parameters.
pub fn spawn(role: &str, params: &[(&str, String)]) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in params {
        cmd.env(format!("ORBIT_TEST_{k}"), v);
    }
    let mut child = cmd.spawn().expect("spawn child test process");
    let stdout = child.stdout.take().expect("child stdout");
    let stdin = child.stdin.take();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    ChildProc {
        what: format!("{role} (pid {})", child.id()),
        child,
        stdin,
        lines: rx,
        pending: VecDeque::new(),
        transcript: Vec::new(),
        reaped: None,
    }
}

impl ChildProc {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next reported line (the text after [`MARK`]); `None` when
    /// the child closed stdout (died) or `timeout` passed.
    pub fn next_report(&mut self, timeout: Duration) -> Option<String> {
        if let Some(l) = self.pending.pop_front() {
            return Some(l);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if let Some(r) = strip_mark(&line) {
                        return Some(r.to_string());
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None;
                }
            }
        }
    }

    /// Waits for a reported line starting with `prefix` and returns the rest.
    /// Panics (with the transcript) if it does not come within `timeout`.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_report(left) {
                Some(r) => {
                    if let Some(rest) = r.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                None => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "{}: no report {prefix:?} within {timeout:?} (exit status {status:?}); stdout:\n{}",
                        self.what,
                        self.transcript.join("\n")
                    );
                }
            }
        }
    }

    /// Collects every reported `key=value` until the child exits successfully.
    pub fn finish(&mut self, timeout: Duration) -> Vec<String> {
        let status = self.wait_exit(timeout);
        let mut reports: Vec<String> = self.pending.drain(..).collect();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.transcript.push(line.clone());
            if let Some(r) = strip_mark(&line) {
                reports.push(r.to_string());
            }
        }
        assert!(
            status.success(),
            "{} failed with {status}; stdout:\n{}",
            self.what,
            self.transcript.join("\n")
        );
        reports
    }

    /// Waits for the child to exit (reaping it); panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("waitpid") {
                self.reaped = Some(s);
                return s;
            }
            if Instant::now() >= deadline {
                self.kill9();
                panic!(
                    "{} did not exit within {timeout:?}; stdout:\n{}",
                    self.what,
                    self.transcript.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Reaps the child if it has exited (without waiting).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if let Some(s) = self.reaped {
            return Some(s);
        }
        let s = self.child.try_wait().expect("waitpid")?;
        self.reaped = Some(s);
        Some(s)
    }

    /// Sends a line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("child stdin open");
        writeln!(stdin, "{line}").expect("write to child stdin");
        stdin.flush().expect("flush child stdin");
    }

    /// SIGKILL, then reap. Returns the exit status (killed by signal 9 unless
    /// it had already exited).
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(s) = self.reaped {
            return s;
        }
        // SAFETY: kill on our own unreaped child's pid (it cannot be reused
        // before we reap it).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let s = self.child.wait().expect("waitpid after SIGKILL");
        self.reaped = Some(s);
        s
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.kill9();
        }
    }
}

/// Finds `key=value` in a child's reports.
pub fn report_value<T: std::str::FromStr>(reports: &[String], key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let prefix = format!("{key}=");
    let v = reports
        .iter()
        .find_map(|r| r.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no report {key}= in {reports:?}"));
    v.parse()
        .unwrap_or_else(|e| panic!("report {key}={v:?}: {e:?}"))
}

/// Reads one line from stdin (children wait for the parent's go-ahead this way).
pub fn read_stdin_line() -> String {
    let mut s = String::new();
    std::io::stdin().read_line(&mut s).expect("read stdin");
    s.trim().to_string()
}

/// Unlinks a fleet and its rings when dropped (errors ignored: the test may
/// already have removed them).
pub struct Cleanup {
    pub fleet: String,
    pub rings: Vec<String>,
}

impl Cleanup {
    pub fn new(fleet: &str, rings: &[&str]) -> Cleanup {
        let c = Cleanup {
            fleet: fleet.to_string(),
            rings: rings.iter().map(|s| s.to_string()).collect(),
        };
        c.remove();
        c
    }
    fn remove(&self) {
        for r in &self.rings {
            let _ = orbit::Ring::unlink(&self.fleet, r);
        }
        let _ = orbit::fleet::unlink(&self.fleet);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// xorshift64: tiny, seedable, good enough to pick sizes and instants.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(mix(seed) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let b = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

/// splitmix64's finaliser: a strong 64-bit mixer.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// Self-checking payloads
//
// Layout (little-endian), `len >= PAYLOAD_MIN`:
//   word 0: len:u32 | tag:u32      (tag: who wrote it, e.g. node << 16 | writer)
//   word 1: index:u64              (the writer's frame number)
//   word 2: checksum:u64
//   word 3..: fill bytes (random per template)
// checksum = sum over every 8-byte chunk i != 2 (the last one zero-padded) of
// mix(chunk ^ mix(i)). A sum of independent terms lets a writer patch the
// index of a precomputed template in O(1), while any torn mix of two frames
// (different indices, tags or fills) changes it.

/// Smallest self-checking payload.
pub const PAYLOAD_MIN: usize = 32;

fn term(i: usize, w: u64) -> u64 {
    mix(w ^ mix(i as u64 ^ 0xA5A5_0000))
}

fn word_at(p: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    let s = &p[i * 8..p.len().min(i * 8 + 8)];
    b[..s.len()].copy_from_slice(s);
    u64::from_le_bytes(b)
}

/// Computes the checksum of a payload (word 2 excluded).
pub fn checksum(p: &[u8]) -> u64 {
    let words = p.len().div_ceil(8);
    let mut sum = 0u64;
    for i in 0..words {
        if i != 2 {
            sum = sum.wrapping_add(term(i, word_at(p, i)));
        }
    }
    sum
}

/// What a valid payload says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadInfo {
    pub tag: u32,
    pub index: u64,
}

/// Checks a payload: length field, checksum. `Err` describes the damage.
pub fn verify(p: &[u8]) -> Result<PayloadInfo, String> {
    if p.len() < PAYLOAD_MIN {
        return Err(format!("payload of {} bytes is too short", p.len()));
    }
    let w0 = word_at(p, 0);
    if w0 as u32 as usize != p.len() {
        return Err(format!(
            "length field {} but {} bytes delivered",
            w0 as u32,
            p.len()
        ));
    }
    let want = word_at(p, 2);
    let got = checksum(p);
    if want != got {
        return Err(format!(
            "checksum {got:#x} != recorded {want:#x} (len {}, tag {:#x}, index {})",
            p.len(),
            (w0 >> 32) as u32,
            word_at(p, 1)
        ));
    }
    Ok(PayloadInfo {
        tag: (w0 >> 32) as u32,
        index: word_at(p, 1),
    })
}

/// A payload of fixed length, tag and fill whose index is patched per frame.
pub struct Template {
    buf: Vec<u8>,
    base: u64,
}

impl Template {
    pub fn new(len: usize, tag: u32, rng: &mut XorShift) -> Template {
        assert!(len >= PAYLOAD_MIN);
        let mut buf = vec![0u8; len];
        rng.fill(&mut buf[24..]);
        buf[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        buf[4..8].copy_from_slice(&tag.to_le_bytes());
        let words = len.div_ceil(8);
        let mut base = 0u64;
        for i in 0..words {
            if i != 1 && i != 2 {
                base = base.wrapping_add(term(i, word_at(&buf, i)));
            }
        }
        Template { buf, base }
    }

    /// The payload for frame `index`.
    pub fn frame(&mut self, index: u64) -> &[u8] {
        self.buf[8..16].copy_from_slice(&index.to_le_bytes());
        let sum = self.base.wrapping_add(term(1, index));
        self.buf[16..24].copy_from_slice(&sum.to_le_bytes());
        &self.buf
    }
}

/// A fresh self-checking payload.
pub fn payload(len: usize, tag: u32, index: u64, rng: &mut XorShift) -> Vec<u8> {
    Template::new(len, tag, rng).frame(index).to_vec()
}

/// Sanity of the payload scheme (run from each file's parent tests).
pub fn payload_scheme_self_check() {
    let mut rng = XorShift::new(7);
    for len in [32usize, 33, 39, 40, 41, 100, 4097] {
        let mut t = Template::new(len, 0xABCD_0001, &mut rng);
        for index in [0u64, 1, 12345] {
            let p = t.frame(index).to_vec();
            assert_eq!(
                verify(&p),
                Ok(PayloadInfo {
                    tag: 0xABCD_0001,
                    index
                })
            );
            // Any single flipped bit anywhere is caught.
            for bit in [0usize, 70, 8 * 8 + 3, 8 * 16 + 1, len * 8 - 1] {
                let mut q = p.clone();
                q[bit / 8] ^= 1 << (bit % 8);
                assert!(verify(&q).is_err(), "flip of bit {bit} in len {len}");
            }
        }
        // A tear: the tail of one frame after the head of another.
        let a = t.frame(1).to_vec();
        let b = t.frame(2).to_vec();
        let mut torn = a.clone();
        torn[..12].copy_from_slice(&b[..12]);
        assert!(verify(&torn).is_err());
    }
}

/// Ring segment layout 2, for tests that craft or inspect segment bytes:
/// header (128 B), control block (192 B), one owner word per slot (rounded
/// up to whole cache lines), then the slots. A slot starts with its header:
/// `seq` @0, `id` @8, `ver` @16, `len:32 | kind:8 << 32` @24.
pub mod ring_layout {
    /// Layout version of rings and buses.
    pub const VERSION: u32 = 4;
    /// Bit 63 of an owner word: its lap is committed (`[committed:1][lap:31][tag:32]`).
    pub const COMMITTED: u64 = 1 << 63;
    /// Offset of the control block (`head` first).
    pub const CONTROL: u64 = 128;
    /// Offset of the owner word of slot 0.
    pub const OWNERS: u64 = 128 + 192;
    /// Offset of a slot's first payload byte (bytes `0..32` of a payload
    /// are on the slot's first line, after `seq`, `id`, `ver`, `len|kind`).
    pub const SLOT_HEADER: u64 = 32;
    /// Offset of the `len | kind` word in a slot.
    pub const SLOT_META: u64 = 24;
    /// Offset of `begin`, the seqlock's opening word (`2*lap+1` once the
    /// writer of that lap has begun), the first word of the second line.
    pub const SLOT_BEGIN: u64 = 64;
    /// Offset of payload byte 32 on (after `begin` and 24 bytes of padding).
    pub const SLOT_TAIL: u64 = 96;

    /// The slot stride of a ring of `max_payload`: the header, `begin` and
    /// the payload past its first 32 bytes, rounded up to whole lines.
    pub fn stride(max_payload: u64) -> u64 {
        (SLOT_TAIL + (max_payload.wrapping_add(7) / 8 * 8).saturating_sub(32)).div_ceil(64) * 64
    }

    /// Offset of the first slot.
    pub fn slots(capacity: u64) -> u64 {
        OWNERS + (capacity * 8).div_ceil(64) * 64
    }

    /// Offset of the owner word of `pos`.
    pub fn owner(capacity: u64, pos: u64) -> u64 {
        OWNERS + (pos & (capacity - 1)) * 8
    }

    /// Offset of the slot of `pos`.
    pub fn slot(capacity: u64, stride: u64, pos: u64) -> u64 {
        slots(capacity) + (pos & (capacity - 1)) * stride
    }
}
