//! `OrbitCache`: a fleet-shared binary key/value cache (APCu / Redis-style API)
//! in one shared-memory segment, after MICA (NSDI 2014): a circular log of
//! fixed-stride entries plus a set-associative index of one-cache-line
//! buckets. The protocol, its invariants and the takeover argument are written
//! down in [`protocol`]; this module binds it to a segment and a fleet.
//!
//! Segment layout (`orbit:<uid>:<fleet>:cache:<name>`, layout version 1): the
//! common header (128 bytes), the control block (128 bytes: `head`, then
//! `floor` and the hash seed), one 64-byte counter line per fleet node id, the
//! index (`max(capacity/2, 1)` buckets of 64 bytes), then `capacity` entries of
//! `entry_stride` bytes (a multiple of 64): a 48-byte header, the key words,
//! the value words.
//!
//! # Semantics
//!
//! - **Keys** are 1..=`max_key` bytes. A zero-length key is
//!   `InvalidArgument`: through the C ABI it is what an unset pointer/length
//!   pair looks like, and rejecting it keeps NULL out of the key space. Values
//!   are 0..=`max_value` bytes. Over a limit is `TooLarge`; nothing is stored,
//!   nothing is truncated.
//! - **Eviction** is FIFO by the log wrapping: the `capacity`-th write after an
//!   entry overwrites it, whatever its key. A bucket whose 7 ways are all live
//!   evicts its oldest way. An evicted, expired, deleted or cleared key is a
//!   miss.
//! - **Versions**: every write appends one entry; its version is the NetId64
//!   of that log write (kind 200, writer's node id, log position), so a version
//!   never repeats for a key and `cas` can compare it.
//! - **Counters**: `incr` treats a value of exactly 8 bytes as a little-endian
//!   `i64` (so `set` of an 8-byte integer makes a counter, as Redis `INCR` takes
//!   a numeric string). Any other length is `InvalidArgument` and the value is
//!   untouched; overflow is `InvalidArgument` too. An absent key is created at
//!   `delta` with the given TTL; an existing counter keeps its expiry (APCu).
//! - **Expiry** is wall-clock milliseconds (`ttl_ms` 0 = never). Expired
//!   entries are misses at once and are reclaimed by the log wrap or the next
//!   write to their bucket.
//! - **Statistics** live on per-node counter lines (nothing contends); `stats`
//!   sums them. Observers map read-only and count nothing.

pub(crate) mod protocol;

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::epoch::{Deadline, OrbitEpoch};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::id::NetId64;
use crate::shm::{self, HEADER_SIZE, ObjectKind, OpenRequest, Segment, SegmentLayout, SegmentName};
use crate::sync::{AtomicU64, Ordering};
use protocol::{CacheView, Lookup, PutMode, Shape, WriteCtx, WriteError};

/// Default entry count of a cache created without options.
pub const DEFAULT_CACHE_CAPACITY: u64 = 4096;
/// Default longest key.
pub const DEFAULT_MAX_KEY: u32 = 128;
/// Default longest value.
pub const DEFAULT_MAX_VALUE: u32 = 1024;
/// Largest entry count.
pub const MAX_CACHE_CAPACITY: u64 = 1 << 30;
/// Largest `max_key`.
pub const MAX_KEY_LIMIT: u32 = 65535;
/// Largest `max_value`.
pub const MAX_VALUE_LIMIT: u32 = 16 << 20;
/// How long a writer waits for a live process that holds its bucket or log
/// slot before giving up with `Timeout`.
pub const WRITE_WAIT_LIMIT: Duration = Duration::from_secs(5);
/// Largest segment a cache may need.
const MAX_CACHE_BYTES: u64 = 1 << 40;

/// Cache geometry, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Log entries: a power of two, 1..=2^30 (default 4096). The cache holds
    /// at most this many keys; the index has `capacity/2` buckets of 7 ways.
    pub capacity: u64,
    /// Longest key in bytes, 1..=65535 (default 128).
    pub max_key: u32,
    /// Longest value in bytes, 1..=16 MiB (default 1024).
    pub max_value: u32,
    /// Permission bits of the segment if this call creates it (0 = the
    /// fleet's mode, else 0600).
    pub mode: u32,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            capacity: DEFAULT_CACHE_CAPACITY,
            max_key: DEFAULT_MAX_KEY,
            max_value: DEFAULT_MAX_VALUE,
            mode: 0,
        }
    }
}

/// What is fixed in the segment header. Equality ignores `lines` (the number
/// of counter lines follows the fleet that created the cache and is not a
/// setting a caller asks for).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheGeometry {
    shape: Shape,
}

impl PartialEq for CacheGeometry {
    fn eq(&self, o: &Self) -> bool {
        let (a, b) = (&self.shape, &o.shape);
        (a.capacity, a.max_key, a.max_value) == (b.capacity, b.max_key, b.max_value)
    }
}

impl CacheGeometry {
    fn of(o: &CacheOptions, lines: u32) -> Self {
        CacheGeometry {
            shape: Shape {
                capacity: o.capacity,
                max_key: o.max_key,
                max_value: o.max_value,
                lines,
            },
        }
    }

    fn stride(&self) -> usize {
        self.shape.stride_words() * 8
    }

    fn check(&self) -> std::result::Result<usize, String> {
        let s = &self.shape;
        if s.capacity == 0 || !s.capacity.is_power_of_two() || s.capacity > MAX_CACHE_CAPACITY {
            return Err(format!(
                "capacity {} is not a power of two in 1..=2^30",
                s.capacity
            ));
        }
        if s.max_key == 0 || s.max_key > MAX_KEY_LIMIT {
            return Err(format!("max_key {} not in 1..={MAX_KEY_LIMIT}", s.max_key));
        }
        if s.max_value == 0 || s.max_value > MAX_VALUE_LIMIT {
            return Err(format!(
                "max_value {} not in 1..={MAX_VALUE_LIMIT}",
                s.max_value
            ));
        }
        if s.lines == 0 || s.lines > crate::fleet::MAX_NODES_LIMIT {
            return Err(format!("{} counter lines", s.lines));
        }
        let bytes = s
            .total_words()
            .and_then(|w| (w as u64).checked_mul(8))
            .and_then(|b| b.checked_add(HEADER_SIZE as u64))
            .filter(|b| *b <= MAX_CACHE_BYTES)
            .ok_or_else(|| {
                format!(
                    "capacity {} x (max_key {} + max_value {}) exceeds 1 TiB",
                    s.capacity, s.max_key, s.max_value
                )
            })?;
        usize::try_from(bytes).map_err(|_| "cache too large for this address space".to_string())
    }
}

pub(crate) struct CacheLayout;

impl SegmentLayout for CacheLayout {
    const KIND: ObjectKind = ObjectKind::Cache;
    const LAYOUT_VERSION: u32 = 1;
    type Geometry = CacheGeometry;

    fn encode(g: &CacheGeometry) -> [u64; 8] {
        let s = &g.shape;
        [
            s.capacity,
            s.max_key as u64,
            s.max_value as u64,
            s.lines as u64,
            g.stride() as u64,
            s.buckets(),
            0,
            0,
        ]
    }
    fn decode(raw: &[u64; 8]) -> Result<CacheGeometry> {
        let small = |i: usize, what: &str| {
            u32::try_from(raw[i]).map_err(|_| Error::Corrupt(format!("cache {what} {}", raw[i])))
        };
        let g = CacheGeometry {
            shape: Shape {
                capacity: raw[0],
                max_key: small(1, "max_key")?,
                max_value: small(2, "max_value")?,
                lines: small(3, "counter lines")?,
            },
        };
        g.check().map_err(Error::Corrupt)?;
        if raw[4] != g.stride() as u64 || raw[5] != g.shape.buckets() {
            return Err(Error::Corrupt(format!(
                "cache entry stride {} / buckets {} should be {} / {}",
                raw[4],
                raw[5],
                g.stride(),
                g.shape.buckets()
            )));
        }
        Ok(g)
    }
    fn total_size(g: &CacheGeometry) -> Result<usize> {
        g.check().map_err(Error::InvalidArgument)
    }
    unsafe fn init_body(base: *mut u8, _g: &CacheGeometry) {
        // All-zero is the empty cache (owner 0 = lap -1, seq 0 = never
        // written, way 0 = empty, lock 0 = free); only the hash seed is set.
        let mut seed = 0u64;
        // SAFETY: getrandom writes at most 8 bytes into `seed`.
        let n = unsafe { libc::getrandom((&raw mut seed).cast(), 8, libc::GRND_NONBLOCK) };
        if n != 8 {
            seed = OrbitEpoch::now().as_millis() ^ ((std::process::id() as u64) << 32);
        }
        // SAFETY: the caller guarantees a writable mapping of total_size bytes;
        // the control block starts right after the header.
        let ctl = unsafe { &*(base.add(HEADER_SIZE) as *const protocol::CacheControl) };
        ctl.hash_seed.store(seed, Ordering::Relaxed);
    }
}

struct CacheInner {
    fleet: Fleet,
    seg: Segment,
    view: CacheView,
    geom: CacheGeometry,
    seed: u64,
    name: String,
}

/// A cache opened within a fleet. Cheap to clone; thread-safe: any number of
/// threads may read and write through one handle.
#[derive(Clone)]
pub struct OrbitCache {
    inner: Arc<CacheInner>,
}

impl std::fmt::Debug for OrbitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.geom.shape;
        f.debug_struct("OrbitCache")
            .field("name", &self.inner.name)
            .field("capacity", &s.capacity)
            .field("max_key", &s.max_key)
            .field("max_value", &s.max_value)
            .finish()
    }
}

/// An entry's metadata, returned by reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// The NetId64 of the write that stored the value (for `cas`).
    pub version: NetId64,
    /// Expiry in ms since the Unix epoch, 0 for none.
    pub expires_at_ms: u64,
    /// Value length in bytes.
    pub len: usize,
}

/// Statistics, summed over every node's counter line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries currently indexed (expired ones not yet reclaimed included).
    pub entries: u64,
    /// `get` calls that found their key.
    pub hits: u64,
    /// `get` calls that did not.
    pub misses: u64,
    /// Writes appended to the log (`set`, `add`, `cas`, `incr`).
    pub sets: u64,
    /// Live entries dropped for room (log wrap, full bucket).
    pub evictions: u64,
    /// Successful `delete` calls.
    pub deletes: u64,
    /// Buckets and log slots taken over from writers that died holding them.
    pub takeovers: u64,
    /// `clear` calls.
    pub clears: u64,
    /// Log entries (the geometry).
    pub capacity: u64,
    /// Longest key.
    pub max_key: u32,
    /// Longest value.
    pub max_value: u32,
    /// Bytes per log entry.
    pub entry_stride: u32,
}

/// Wall-clock milliseconds now.
fn now_ms() -> u64 {
    OrbitEpoch::now().as_millis()
}

fn expiry(ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        0
    } else {
        now_ms().saturating_add(ttl_ms)
    }
}

/// The waiting policy of writers: yield for a while, then sleep briefly, and
/// give up after [`WRITE_WAIT_LIMIT`].
struct Patience {
    deadline: Cell<Option<Deadline>>,
}

impl Patience {
    fn new() -> Self {
        Patience {
            deadline: Cell::new(None),
        }
    }
    fn pause(&self, rounds: u32) -> bool {
        let d = match self.deadline.get() {
            Some(d) => d,
            None => {
                let d = Deadline::after(WRITE_WAIT_LIMIT);
                self.deadline.set(Some(d));
                d
            }
        };
        if d.passed() {
            return false;
        }
        if rounds < 32 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
        true
    }
}

fn write_error(e: WriteError, key: &[u8]) -> Error {
    let k = String::from_utf8_lossy(&key[..key.len().min(64)]).into_owned();
    match e {
        WriteError::Conflict => Error::Conflict(format!("key {k:?}")),
        WriteError::NotFound => Error::NotFound(format!("key {k:?}")),
        WriteError::NotCounter => Error::InvalidArgument(format!(
            "key {k:?} does not hold an 8-byte counter; its value is untouched"
        )),
        WriteError::Overflow => Error::InvalidArgument(format!(
            "incrementing key {k:?} would overflow a 64-bit counter; its value is untouched"
        )),
        WriteError::Busy => Error::Timeout,
    }
}

impl OrbitCache {
    /// Opens cache `name` of the fleet. `None`: attach whatever exists, or
    /// create one with the defaults. `Some(opts)`: create with `opts`, or
    /// attach if the existing geometry matches (`Incompatible` otherwise).
    /// Through an observer, never creates (`NotExist`) and maps read-only.
    pub fn open(fleet: &Fleet, name: &str, opts: Option<&CacheOptions>) -> Result<OrbitCache> {
        let seg_name = SegmentName::new(fleet.name(), ObjectKind::Cache, name)?;
        let defaults = CacheOptions::default();
        let (o, exact) = match opts {
            Some(o) => (o, true),
            None => (&defaults, false),
        };
        let read_only = fleet.is_observer();
        let mode = if o.mode != 0 { o.mode } else { fleet.mode() };
        let want = CacheGeometry::of(o, fleet.max_nodes());
        let (seg, geom) = shm::open::<CacheLayout>(
            &seg_name,
            OpenRequest {
                create: if read_only { None } else { Some((want, exact)) },
                read_only,
                mode,
            },
        )?;
        if read_only && exact && geom != want {
            return Err(Error::Incompatible(format!(
                "{} exists with geometry {:?}, requested {:?}",
                seg_name.as_str(),
                geom.shape,
                want.shape
            )));
        }
        // SAFETY: the segment was validated to hold the header and
        // total_words() words of body after it, 64-byte aligned; it lives as
        // long as the view (both owned by CacheInner).
        let view =
            unsafe { CacheView::new(seg.base().add(HEADER_SIZE) as *const AtomicU64, geom.shape) };
        let seed = view.ctl().hash_seed.load(Ordering::Relaxed);
        Ok(OrbitCache {
            inner: Arc::new(CacheInner {
                fleet: fleet.clone(),
                seg,
                view,
                geom,
                seed,
                name: name.to_string(),
            }),
        })
    }

    /// Removes the cache's segment name (mapped handles keep working).
    pub fn unlink(fleet: &str, name: &str) -> Result<()> {
        shm::unlink(&SegmentName::new(fleet, ObjectKind::Cache, name)?)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        xxh3_64_with_seed(key, self.inner.seed)
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(
                "a cache key must be at least one byte long".into(),
            ));
        }
        let limit = self.inner.geom.shape.max_key as usize;
        if key.len() > limit {
            return Err(Error::TooLarge {
                what: "key",
                len: key.len(),
                limit,
            });
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        let limit = self.inner.geom.shape.max_value as usize;
        if value.len() > limit {
            return Err(Error::TooLarge {
                what: "value",
                len: value.len(),
                limit,
            });
        }
        Ok(())
    }

    fn counters(&self) -> Option<&protocol::NodeCounters> {
        if self.inner.seg.read_only() {
            return None;
        }
        self.inner
            .fleet
            .node_id()
            .map(|n| self.inner.view.counters(n))
    }

    fn with_writer<R>(&self, f: impl FnOnce(&WriteCtx<'_>) -> R) -> Result<R> {
        let tag = self.inner.fleet.writer_tag()?;
        if self.inner.seg.read_only() {
            return Err(Error::ReadOnly("this cache was opened through an observer"));
        }
        let fleet = &self.inner.fleet;
        let patience = Patience::new();
        let ctx = WriteCtx {
            tag,
            is_dead: &|t| fleet.tag_is_dead(t),
            now_ms: &now_ms,
            pause: &|r| patience.pause(r),
            counters: self.counters(),
        };
        Ok(f(&ctx))
    }

    /// Looks `key` up and copies its value to the front of `buf`.
    ///
    /// Returns `Ok(None)` on a miss. Lock-free: no allocation, lock or
    /// syscall (the clock is read only for an entry with an expiry).
    ///
    /// Errors: `InvalidArgument` (empty key), `TooLarge` (key over `max_key`),
    /// `BufferTooSmall` (with the value's length; the key counts as a hit).
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<Option<EntryMeta>> {
        self.check_key(key)?;
        let r = self.inner.view.get(self.hash(key), key, buf, &now_ms);
        if let Some(c) = self.counters() {
            let counter = if r == Lookup::Miss {
                &c.misses
            } else {
                &c.hits
            };
            // Relaxed: statistics on our own node's line.
            counter.fetch_add(1, Ordering::Relaxed);
        }
        match r {
            Lookup::Hit(m) => Ok(Some(meta_of(&m))),
            Lookup::TooSmall(m) => Err(Error::BufferTooSmall {
                needed: m.len,
                cap: buf.len(),
            }),
            Lookup::Miss => Ok(None),
        }
    }

    /// Looks `key` up and returns a copy of its value (allocates).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; (self.inner.geom.shape.max_value as usize).min(256)];
        loop {
            match self.get_into(key, &mut buf) {
                Ok(m) => {
                    return Ok(m.map(|m| {
                        buf.truncate(m.len);
                        buf
                    }));
                }
                // The value grew between two reads: try again with its size.
                Err(Error::BufferTooSmall { needed, .. }) => buf.resize(needed, 0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `key` is present (not counted as a hit or miss).
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        Ok(self.inner.view.get(self.hash(key), key, &mut [], &now_ms) != Lookup::Miss)
    }

    /// Stores `value` under `key`, replacing any previous value; `ttl_ms` 0
    /// means no expiry. Returns the new version.
    ///
    /// Errors: `InvalidArgument` (empty key, forked fleet handle), `TooLarge`
    /// (nothing stored), `ReadOnly` (observer), `Timeout` (a live process held
    /// the key's bucket for [`WRITE_WAIT_LIMIT`]).
    pub fn set(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<NetId64> {
        self.put(key, value, ttl_ms, PutMode::Set)
    }

    /// Stores `value` only if `key` is absent: `Conflict` if it is present.
    pub fn add(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<NetId64> {
        self.put(key, value, ttl_ms, PutMode::Add)
    }

    /// Stores `value` only if `key`'s current version is `expected`:
    /// `Conflict` if it changed, `NotFound` if the key is absent.
    pub fn cas(&self, key: &[u8], expected: NetId64, value: &[u8], ttl_ms: u64) -> Result<NetId64> {
        self.put(key, value, ttl_ms, PutMode::Cas(expected.raw()))
    }

    fn put(&self, key: &[u8], value: &[u8], ttl_ms: u64, mode: PutMode) -> Result<NetId64> {
        self.check_key(key)?;
        self.check_value(value)?;
        let hash = self.hash(key);
        let expires = expiry(ttl_ms);
        self.with_writer(|ctx| self.inner.view.put(ctx, hash, key, value, expires, mode))?
            .map(NetId64)
            .map_err(|e| write_error(e, key))
    }

    /// Adds `delta` to the 8-byte counter under `key` and returns the result.
    /// An absent key is created at `delta`, expiring after `ttl_ms` (0 =
    /// never); an existing counter keeps its expiry.
    ///
    /// Errors: `InvalidArgument` (the value is not 8 bytes, or the result
    /// overflows; the value is untouched), `TooLarge` (`max_value` < 8), and
    /// those of [`set`](Self::set).
    pub fn incr(&self, key: &[u8], delta: i64, ttl_ms: u64) -> Result<i64> {
        self.check_key(key)?;
        self.check_value(&[0u8; 8])?;
        let hash = self.hash(key);
        let expires = expiry(ttl_ms);
        self.with_writer(|ctx| self.inner.view.incr(ctx, hash, key, delta, expires))?
            .map(|(v, _)| v)
            .map_err(|e| write_error(e, key))
    }

    /// Subtracts `delta` (see [`incr`](Self::incr)).
    pub fn decr(&self, key: &[u8], delta: i64, ttl_ms: u64) -> Result<i64> {
        let neg = delta.checked_neg().ok_or_else(|| {
            Error::InvalidArgument("decrement by i64::MIN cannot be negated".into())
        })?;
        self.incr(key, neg, ttl_ms)
    }

    /// Removes `key`. Returns `false` if it was absent (or expired).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        let hash = self.hash(key);
        match self.with_writer(|ctx| self.inner.view.delete(ctx, hash, key))? {
            Ok(()) => Ok(true),
            Err(WriteError::NotFound) => Ok(false),
            Err(e) => Err(write_error(e, key)),
        }
    }

    /// Invalidates every entry written before this call (O(1) for
    /// correctness; walks the log once to update the statistics).
    pub fn clear(&self) -> Result<()> {
        self.with_writer(|ctx| {
            self.inner.view.clear(ctx);
        })
    }

    /// Statistics summed over every node's counter line.
    pub fn stats(&self) -> CacheStats {
        let v = &self.inner.view;
        let mut st = CacheStats::default();
        let mut removed = 0u64;
        // Wrapping: the counters are plain words of shared memory; a damaged
        // segment must not make a debug build panic.
        let add = |t: &mut u64, w: &AtomicU64| *t = t.wrapping_add(w.load(Ordering::Relaxed));
        for c in v.counter_lines() {
            // Relaxed: statistics; a snapshot that may be a few operations old.
            add(&mut st.hits, &c.hits);
            add(&mut st.misses, &c.misses);
            add(&mut st.sets, &c.sets);
            add(&mut st.evictions, &c.evictions);
            add(&mut st.takeovers, &c.takeovers);
            add(&mut st.deletes, &c.deletes);
            add(&mut removed, &c.removed);
        }
        let s = &self.inner.geom.shape;
        st.entries = st.sets.saturating_sub(removed).min(s.capacity);
        st.clears = v.ctl().clears.load(Ordering::Relaxed);
        st.capacity = s.capacity;
        st.max_key = s.max_key;
        st.max_value = s.max_value;
        st.entry_stride = self.inner.geom.stride() as u32;
        st
    }

    /// An iterator over the live (present, unexpired) keys. Weakly consistent:
    /// a key present for the whole iteration is yielded exactly once; keys
    /// written or removed meanwhile may or may not be.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            cache: self,
            bucket: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The fleet this cache was opened through.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    /// True when opened through an observer.
    pub fn is_read_only(&self) -> bool {
        self.inner.seg.read_only()
    }
}

fn meta_of(m: &protocol::Meta) -> EntryMeta {
    EntryMeta {
        version: NetId64(m.version),
        expires_at_ms: m.expires_at_ms,
        len: m.len,
    }
}

/// Iterator over a cache's live keys (see [`OrbitCache::keys`]).
pub struct Keys<'a> {
    cache: &'a OrbitCache,
    bucket: usize,
    pending: Vec<Vec<u8>>,
    scratch: Vec<u8>,
}

impl Iterator for Keys<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let view = &self.cache.inner.view;
        while self.pending.is_empty() {
            if self.bucket >= view.bucket_count() {
                return None;
            }
            let pending = &mut self.pending;
            view.bucket_keys(self.bucket, &now_ms, &mut self.scratch, &mut |k, _| {
                pending.push(k.to_vec())
            });
            self.bucket += 1;
        }
        self.pending.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::fleet::FleetOptions;

    fn fleet(tag: &str) -> Fleet {
        Fleet::join(
            &format!("c{}-{tag}", std::process::id()),
            &FleetOptions::default(),
        )
        .unwrap()
    }

    fn opts(capacity: u64, max_key: u32, max_value: u32) -> CacheOptions {
        CacheOptions {
            capacity,
            max_key,
            max_value,
            mode: 0,
        }
    }

    fn cleanup(f: &Fleet, name: &str) {
        OrbitCache::unlink(f.name(), name).unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    #[test]
    fn round_trip_and_stats() {
        let f = fleet("rt");
        let c = OrbitCache::open(&f, "c", Some(&opts(64, 16, 64))).unwrap();
        assert_eq!(c.get(b"k").unwrap(), None);
        let v1 = c.set(b"k", b"hello", 0).unwrap();
        assert_eq!(v1.kind(), 200);
        assert_eq!(v1.node(), f.node_id().unwrap());
        let mut buf = [0u8; 64];
        let m = c.get_into(b"k", &mut buf).unwrap().unwrap();
        assert_eq!(
            (&buf[..m.len], m.version, m.expires_at_ms),
            (&b"hello"[..], v1, 0)
        );
        assert_eq!(c.add(b"k", b"x", 0).unwrap_err().status(), Status::Conflict);
        assert_eq!(
            c.incr(b"k", 1, 0).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(c.get(b"k").unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(c.incr(b"n", 3, 0).unwrap(), 3);
        assert_eq!(c.decr(b"n", 5, 0).unwrap(), -2);
        assert!(c.delete(b"n").unwrap());
        assert!(!c.delete(b"n").unwrap());
        let st = c.stats();
        assert_eq!((st.entries, st.sets, st.deletes), (1, 3, 1));
        assert_eq!((st.hits, st.misses), (2, 1));
        let keys: Vec<_> = c.keys().collect();
        assert_eq!(keys, vec![b"k".to_vec()]);
        c.clear().unwrap();
        assert!(!c.exists(b"k").unwrap());
        assert_eq!(c.stats().entries, 0);
        cleanup(&f, "c");
    }

    #[test]
    fn limits_and_geometry() {
        let f = fleet("lim");
        for bad in [
            opts(0, 8, 8),
            opts(6, 8, 8),
            opts(8, 0, 8),
            opts(8, 8, 0),
            opts(8, 70_000, 8),
        ] {
            assert_eq!(
                OrbitCache::open(&f, "g", Some(&bad)).unwrap_err().status(),
                Status::InvalidArgument,
                "{bad:?}"
            );
        }
        let c = OrbitCache::open(&f, "g", Some(&opts(8, 4, 4))).unwrap();
        assert_eq!(
            OrbitCache::open(&f, "g", Some(&opts(16, 4, 4)))
                .unwrap_err()
                .status(),
            Status::Incompatible
        );
        assert_eq!(OrbitCache::open(&f, "g", None).unwrap().stats().capacity, 8);
        assert_eq!(
            c.set(b"", b"v", 0).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(
            c.set(b"12345", b"v", 0).unwrap_err().status(),
            Status::TooLarge
        );
        assert_eq!(
            c.set(b"k", b"12345", 0).unwrap_err().status(),
            Status::TooLarge
        );
        assert_eq!(c.incr(b"k", 1, 0).unwrap_err().status(), Status::TooLarge);
        assert_eq!(c.get(b"12345").unwrap_err().status(), Status::TooLarge);
        assert_eq!(c.stats().sets, 0, "nothing stored");
        c.set(b"k", b"1234", 0).unwrap();
        let mut small = [0u8; 2];
        assert_eq!(
            c.get_into(b"k", &mut small).unwrap_err(),
            Error::BufferTooSmall { needed: 4, cap: 2 }
        );
        cleanup(&f, "g");
    }

    #[test]
    fn observer_reads_only() {
        let f = fleet("obs");
        let c = OrbitCache::open(&f, "o", None).unwrap();
        c.set(b"k", b"v", 0).unwrap();
        let o = Fleet::observe(f.name()).unwrap();
        assert_eq!(
            OrbitCache::open(&o, "absent", None).unwrap_err().status(),
            Status::NotExist
        );
        let oc = OrbitCache::open(&o, "o", None).unwrap();
        assert!(oc.is_read_only());
        assert_eq!(oc.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            oc.set(b"k", b"w", 0).unwrap_err().status(),
            Status::ReadOnly
        );
        assert_eq!(oc.clear().unwrap_err().status(), Status::ReadOnly);
        assert_eq!(oc.delete(b"k").unwrap_err().status(), Status::ReadOnly);
        cleanup(&f, "o");
    }

    #[test]
    fn ttl_expires() {
        let f = fleet("ttl");
        let c = OrbitCache::open(&f, "t", None).unwrap();
        c.set(b"k", b"v", 30).unwrap();
        let m = c.get_into(b"k", &mut [0u8; 8]).unwrap().unwrap();
        assert!(m.expires_at_ms > now_ms());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(b"k").unwrap(), None);
        c.add(b"k", b"again", 0).unwrap();
        assert_eq!(c.incr(b"n", 1, 30).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            c.incr(b"n", 1, 0).unwrap(),
            1,
            "expired counter starts over"
        );
        cleanup(&f, "t");
    }

    #[test]
    fn threads_incr_exactly() {
        let f = fleet("thr");
        let c = OrbitCache::open(&f, "n", Some(&opts(64, 8, 8))).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        c.incr(b"n", 1, 0).unwrap();
                    }
                });
            }
        });
        assert_eq!(c.incr(b"n", 0, 0).unwrap(), 8000);
        cleanup(&f, "n");
    }
}
