//! The shared-memory protocol of the cache: a circular log of entries plus a
//! set-associative index (MICA, NSDI 2014). Compiled under loom too: the
//! protocol works on a plain array of 64-bit atomic words (a mapping, or under
//! loom a heap vector), with liveness, the clock and the waiting policy passed
//! in as closures, and hashing done by the caller.
//!
//! # Memory (all words little-endian `u64`, offsets in words after the segment header)
//!
//! ```text
//! CacheControl    16 words   head (own line) | floor, hash seed (own line)
//! NodeCounters     8 words   x lines: one cache line per fleet node id
//! Bucket           8 words   x buckets: lock word + 7 ways
//! Entry       stride words   x capacity: 6-word header, key words, value words
//! ```
//!
//! - `head`: the next log position to claim. Positions are full `u64`s that
//!   never wrap; position `p` lives in entry `p & (capacity-1)`, in lap
//!   `p >> log2(capacity)`.
//! - `floor`: set by `clear` to the head it saw; positions below it are invalid.
//! - **Entry** header: `seq` (`0` never written, `2*lap+1` being written,
//!   `2*lap+2` committed), `owner` (`[lap+1:32][writer tag:32]` of the claimer,
//!   `0` = nobody, so an all-zero segment is valid), `version` (the NetId64 of
//!   the write: kind 200, writer node, position), `meta`
//!   (`key_len:16 | flags:16 | value_len:32`), `expires_at_ms` (0 = never),
//!   `indexed` (`p+1` while position `p` is the current entry of its key; used
//!   only for the `entries`/`evictions` statistics). The key and the value
//!   follow as whole words, the last one zero-padded.
//! - **Bucket** (one cache line): `lock` = `[version:32][holder writer tag:32]`
//!   (tag 0 = free; the version counts releases), and 7 **ways** of
//!   `tag16 << 48 | position48` (0 = empty). The tag is the top 16 bits of the
//!   key's hash (never 0), the bucket its low bits.
//!
//! # Invariants
//!
//! 1. An entry is immutable between its commit and its overwrite by the writer
//!    of the same slot one lap later. Readers validate with the seqlock: `seq`
//!    equal to the committed value for the way's position before and after a
//!    word-wise Relaxed copy means the copy is that entry, whole.
//! 2. A way is stored only after the entry it names was committed (a Release
//!    store after the commit), with a single atomic store. So a way names a
//!    committed entry, or a position that has since been overwritten (the slot's
//!    lap moved on: the way is *stale*, a miss, free to reuse), or a position
//!    below `floor` (cleared, free to reuse).
//! 3. Writers of one bucket are serialised by its lock word; readers never
//!    lock. Every change a writer makes to its bucket is a single atomic store
//!    of one way, and after each such store the bucket satisfies invariant 2.
//!    A writer's operation is: scan, append one entry to the log (invisible
//!    until indexed), store one way (the new entry replaces the key's old way,
//!    or fills a free way, or replaces the oldest way when all 7 are live: FIFO
//!    eviction), then release the lock.
//! 4. A key has at most one live way in its bucket. Should a dead writer ever
//!    leave two (no operation here does, but the rule costs nothing), the
//!    newest position wins for readers, and the next writer of the bucket
//!    clears the older way.
//!
//! # Reading (`get`): no lock, no allocation, no syscall
//!
//! Hash → bucket → Acquire-load the 7 ways (pairs with the Release way store) →
//! for the ways with a matching tag, read the entry under its seqlock: the
//! slot's committed lap must name exactly the way's position (this is the test
//! "pos + capacity > head", done on the entry's own cache line instead of the
//! contended head), the position must be at or above `floor`, the full key must
//! be equal, and the entry must not be expired. The clock is read only for an
//! entry that has an expiry. A miss is confirmed by re-reading the bucket: if
//! its ways changed during the scan (a writer moved the key), the scan is
//! repeated a bounded number of times.
//!
//! # Appending to the log (the ring's claim rule)
//!
//! A writer claims position `h = head` by CAS-ing the slot's `owner` from the
//! previous lap to `(lap(h), its tag)` once the previous lap is committed
//! (`seq == 2*lap(h)`), then advances `head` (anyone who sees the slot claimed
//! helps advance it, so a claimer that dies between the two CASes blocks
//! nobody). It then writes the entry as a seqlock (`seq` odd, Release fence,
//! Relaxed word stores, `seq` even with Release). A slot whose previous-lap
//! writer has not committed is waited for while that writer's process lives,
//! and **taken over only when it is dead**: a dead process has no store in
//! flight, so its half-written bytes cannot land on the new entry; and since
//! ways are stored only after a commit, nothing names the abandoned position.
//! A live but slow writer is never overtaken (its late stores would tear the
//! new entry).
//!
//! # Bucket takeover: why a dead holder cannot leave the bucket inconsistent
//!
//! A waiter spins a bounded number of rounds, then asks the fleet whether the
//! holder recorded in the lock word is dead (process gone, or its node id
//! reclaimed: pid + start time, so pid reuse cannot fool it). Only then does it
//! CAS the dead holder's word to its own tag. This is safe because:
//!
//! - the dead process has no store in flight (it is gone), so nothing it did
//!   can land after the takeover;
//! - by invariant 3 each of its stores to the bucket was one atomic way store
//!   that left the bucket consistent; whatever prefix of its operation it
//!   completed, the bucket is one of those consistent states: either the old
//!   way (its log entry is an unreferenced, harmless log record, or an
//!   uncommitted slot that the next lap takes over as above) or the new way;
//! - duplicates of a key would resolve to the newest position (invariant 4);
//! - the statistics words it did not update are counters only: `entries` may
//!   be off by one until the abandoned entry is overwritten, nothing else.
//!
//! A live holder is waited for (yielding, then sleeping), up to the caller's
//! bound, after which the operation reports a timeout and changes nothing.
//!
//! # Clear
//!
//! `clear` raises `floor` to the head it reads (fetch_max). Every position
//! below is invalid for readers and writers alike, so it is O(1) for
//! correctness; it then walks the log once to retire the `indexed` marks below
//! the floor so that the `entries` statistic drops to what remains.

use crate::sync::{AtomicU64, Ordering, fence, load_bytes, spin_hint, store_bytes};

/// Ways per bucket (the lock word takes the eighth word of the line).
pub(crate) const WAYS: usize = 7;
/// Words of an entry header.
pub(crate) const ENTRY_HEADER_WORDS: usize = 6;
/// Words of the control block.
pub(crate) const CONTROL_WORDS: usize = 16;
/// Words of one node's counter line.
pub(crate) const COUNTER_WORDS: usize = 8;
/// Words of a bucket.
pub(crate) const BUCKET_WORDS: usize = 8;
/// Bits of a position stored in a way.
pub(crate) const POS_BITS: u32 = 48;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
/// The KIND byte of an entry's version (DESIGN: 200 = cache).
pub(crate) const VERSION_KIND: u8 = 200;
const VERSION_COUNTER_MASK: u64 = (1 << 40) - 1;
/// Entry flag: the value was written by `incr`.
pub(crate) const FLAG_COUNTER: u16 = 1;
/// Bounded re-scans of a bucket whose ways changed under a reader.
const READ_RETRIES: usize = 4;

/// Spins of a waiter between two rounds (each round may consult liveness).
#[cfg(not(loom))]
const SPINS_PER_ROUND: u32 = 128;
#[cfg(loom)]
const SPINS_PER_ROUND: u32 = 1;

/// The control block: `head` on its own line, then the rarely written words.
#[cfg_attr(not(loom), repr(C, align(64)))]
#[cfg_attr(loom, repr(C))]
pub(crate) struct CacheControl {
    /// Next log position to claim.
    pub(crate) head: AtomicU64,
    _pad0: [AtomicU64; 7],
    /// Positions below are invalid (raised by `clear`).
    pub(crate) floor: AtomicU64,
    /// Seed of the key hash, fixed at creation.
    pub(crate) hash_seed: AtomicU64,
    /// Number of `clear` calls.
    pub(crate) clears: AtomicU64,
    _pad1: [AtomicU64; 5],
}

/// One node's statistics (one cache line, written by that node only).
#[cfg_attr(not(loom), repr(C, align(64)))]
#[cfg_attr(loom, repr(C))]
pub(crate) struct NodeCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    /// Log appends (set, add, cas, incr); each makes one entry current.
    pub(crate) sets: AtomicU64,
    /// Current entries that stopped being current (replaced, deleted, evicted,
    /// cleared); `entries = sum(sets) - sum(removed)`.
    pub(crate) removed: AtomicU64,
    /// Live entries dropped for room: log wrap or full bucket.
    pub(crate) evictions: AtomicU64,
    /// Buckets and log slots taken over from dead writers.
    pub(crate) takeovers: AtomicU64,
    pub(crate) deletes: AtomicU64,
    _reserved: AtomicU64,
}

/// A bucket of the index: one cache line.
#[cfg_attr(not(loom), repr(C, align(64)))]
#[cfg_attr(loom, repr(C))]
pub(crate) struct Bucket {
    pub(crate) lock: AtomicU64,
    pub(crate) ways: [AtomicU64; WAYS],
}

/// The fixed part of a log entry; key and value words follow.
#[repr(C)]
pub(crate) struct EntryHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) owner: AtomicU64,
    pub(crate) version: AtomicU64,
    pub(crate) meta: AtomicU64,
    pub(crate) expires_at_ms: AtomicU64,
    pub(crate) indexed: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<CacheControl>() == CONTROL_WORDS * 8);
    assert!(align_of::<CacheControl>() == 64);
    assert!(offset_of!(CacheControl, head) == 0);
    assert!(offset_of!(CacheControl, floor) == 64);
    assert!(offset_of!(CacheControl, hash_seed) == 72);
    assert!(offset_of!(CacheControl, clears) == 80);
    assert!(size_of::<NodeCounters>() == COUNTER_WORDS * 8);
    assert!(align_of::<NodeCounters>() == 64);
    assert!(offset_of!(NodeCounters, hits) == 0);
    assert!(offset_of!(NodeCounters, misses) == 8);
    assert!(offset_of!(NodeCounters, sets) == 16);
    assert!(offset_of!(NodeCounters, removed) == 24);
    assert!(offset_of!(NodeCounters, evictions) == 32);
    assert!(offset_of!(NodeCounters, takeovers) == 40);
    assert!(offset_of!(NodeCounters, deletes) == 48);
    assert!(size_of::<Bucket>() == BUCKET_WORDS * 8);
    assert!(align_of::<Bucket>() == 64);
    assert!(offset_of!(Bucket, lock) == 0);
    assert!(offset_of!(Bucket, ways) == 8);
    assert!(size_of::<EntryHeader>() == ENTRY_HEADER_WORDS * 8);
    assert!(offset_of!(EntryHeader, seq) == 0);
    assert!(offset_of!(EntryHeader, owner) == 8);
    assert!(offset_of!(EntryHeader, version) == 16);
    assert!(offset_of!(EntryHeader, meta) == 24);
    assert!(offset_of!(EntryHeader, expires_at_ms) == 32);
    assert!(offset_of!(EntryHeader, indexed) == 40);
    assert!(size_of::<AtomicU64>() == 8);
};

/// The geometry of a cache body, in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Log entries, a power of two.
    pub(crate) capacity: u64,
    pub(crate) max_key: u32,
    pub(crate) max_value: u32,
    /// Counter lines (one per fleet node id).
    pub(crate) lines: u32,
}

impl Shape {
    pub(crate) fn key_words(&self) -> usize {
        (self.max_key as usize).div_ceil(8)
    }
    pub(crate) fn value_words(&self) -> usize {
        (self.max_value as usize).div_ceil(8)
    }
    /// Words per entry: header, key and value rounded up to a cache line.
    pub(crate) fn stride_words(&self) -> usize {
        (ENTRY_HEADER_WORDS + self.key_words() + self.value_words()).div_ceil(8) * 8
    }
    /// Buckets: a power of two, about two per log entry's worth of ways.
    pub(crate) fn buckets(&self) -> u64 {
        (self.capacity / 2).max(1)
    }
    pub(crate) fn counters_at(&self) -> usize {
        CONTROL_WORDS
    }
    pub(crate) fn buckets_at(&self) -> usize {
        self.counters_at() + self.lines as usize * COUNTER_WORDS
    }
    pub(crate) fn log_at(&self) -> usize {
        self.buckets_at() + self.buckets() as usize * BUCKET_WORDS
    }
    /// Total words, `None` on overflow.
    pub(crate) fn total_words(&self) -> Option<usize> {
        let log = usize::try_from(self.capacity)
            .ok()?
            .checked_mul(self.stride_words())?;
        self.log_at().checked_add(log)
    }
}

/// An entry's metadata as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub(crate) version: u64,
    pub(crate) expires_at_ms: u64,
    pub(crate) len: usize,
    pub(crate) flags: u16,
}

impl Meta {
    fn expired(&self, now_ms: &dyn Fn() -> u64) -> bool {
        self.expires_at_ms != 0 && self.expires_at_ms <= now_ms()
    }
}

/// What `get` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The value was copied to the front of the buffer.
    Hit(Meta),
    /// The key is present but its value does not fit (`meta.len` is needed).
    TooSmall(Meta),
    /// Absent, expired, evicted or cleared.
    Miss,
}

/// Why a write did not happen (nothing was changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// `add`: the key is present. `cas`: its version differs.
    Conflict,
    /// `cas`, `delete`: the key is absent.
    NotFound,
    /// `incr`: the value is not an 8-byte counter.
    NotCounter,
    /// `incr`: the result would overflow an i64.
    Overflow,
    /// A live writer held the bucket or the log slot past the caller's bound.
    Busy,
}

/// What a writer brings: its identity and the policies of its environment.
pub(crate) struct WriteCtx<'a> {
    /// Our writer tag (`node << 16 | incarnation`).
    pub(crate) tag: u32,
    /// Whether the writer named by a tag is gone for good.
    pub(crate) is_dead: &'a dyn Fn(u32) -> bool,
    /// Wall-clock milliseconds (read only when an expiry matters).
    pub(crate) now_ms: &'a dyn Fn() -> u64,
    /// Called after each round of waiting with the rounds so far; `false`
    /// gives up (the operation then fails with `Busy`).
    pub(crate) pause: &'a dyn Fn(u32) -> bool,
    /// Our counter line, if we may write statistics.
    pub(crate) counters: Option<&'a NodeCounters>,
}

impl WriteCtx<'_> {
    #[inline]
    fn count(&self, f: impl FnOnce(&NodeCounters) -> &AtomicU64) {
        if let Some(c) = self.counters {
            // Relaxed: statistics only; one node's line, summed by readers.
            f(c).fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How a write is conditioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PutMode {
    Set,
    Add,
    Cas(u64),
}

/// The version (NetId64) of the write of position `pos` by node `node`.
#[inline]
pub(crate) fn version_of(node: u16, pos: u64) -> u64 {
    ((VERSION_KIND as u64) << 56) | ((node as u64) << 40) | (pos & VERSION_COUNTER_MASK)
}

#[inline]
fn tag_of(hash: u64) -> u64 {
    match hash >> 48 {
        0 => 1,
        t => t,
    }
}
#[inline]
fn way_word(tag: u64, pos: u64) -> u64 {
    (tag << POS_BITS) | (pos & POS_MASK)
}
#[inline]
fn way_tag(w: u64) -> u64 {
    w >> POS_BITS
}
#[inline]
fn way_pos(w: u64) -> u64 {
    w & POS_MASK
}
#[inline]
fn pack_meta(klen: usize, flags: u16, vlen: usize) -> u64 {
    (klen as u64 & 0xFFFF) | ((flags as u64) << 16) | ((vlen as u64) << 32)
}
#[inline]
fn owner_word(lap: u64, tag: u32) -> u64 {
    ((lap.wrapping_add(1) as u32 as u64) << 32) | tag as u64
}
#[inline]
fn owner_lap_code(w: u64) -> u32 {
    (w >> 32) as u32
}
#[inline]
fn lock_holder(w: u64) -> u32 {
    w as u32
}

/// Compares `words` (zero-padded) with `key`, loading each word once.
#[inline]
fn words_equal(words: &[AtomicU64], key: &[u8]) -> bool {
    let mut chunks = key.chunks_exact(8);
    for (w, c) in words.iter().zip(&mut chunks) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        if w.load(Ordering::Relaxed) != u64::from_le_bytes(b) {
            return false;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        match words.get(key.len() / 8) {
            Some(w) => return w.load(Ordering::Relaxed) == u64::from_le_bytes(b),
            None => return false,
        }
    }
    true
}

/// One seqlock read of the entry a way names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryRead {
    /// The entry at that position holds our key.
    Match { pos: u64, meta: Meta },
    /// The entry at that position holds another key.
    Other { pos: u64 },
    /// The slot no longer holds that position (overwritten, being
    /// overwritten) or never held it.
    Gone,
    /// It was overwritten while we copied.
    Torn,
}

/// A view of one cache's memory. Every shared access goes through atomics.
pub(crate) struct CacheView {
    words: *const AtomicU64,
    shape: Shape,
    cap_mask: u64,
    shift: u32,
    bucket_mask: u64,
    stride_w: usize,
    key_w: usize,
    value_w: usize,
}

// SAFETY: the view only points into memory that outlives it (a mapping held
// by the same object, or a heap block in tests); all shared access is atomic.
unsafe impl Send for CacheView {}
// SAFETY: as above.
unsafe impl Sync for CacheView {}

/// What a writer's scan of its bucket found.
#[derive(Default)]
struct Scan {
    /// The key's current way: (way, position, meta, value if asked and 8 bytes).
    found: Option<(usize, u64, Meta, Option<[u8; 8]>)>,
    /// An empty, stale or cleared way.
    free: Option<usize>,
    /// The oldest live way of another key: (way, position).
    oldest: Option<(usize, u64)>,
}

/// The lock of one bucket, released on drop (also when unwinding).
struct BucketGuard<'a> {
    bucket: &'a Bucket,
    word: u64,
}

impl Drop for BucketGuard<'_> {
    fn drop(&mut self) {
        let next = (self.word >> 32).wrapping_add(1) << 32;
        // Release: publishes our way stores to the next holder; pairs with the
        // Acquire CAS in `lock`.
        self.bucket.lock.store(next, Ordering::Release);
    }
}

impl CacheView {
    /// A view of the cache body at `words`.
    ///
    /// # Safety
    /// `words` points to `shape.total_words()` atomic words (8-byte aligned;
    /// 64-byte aligned in shared memory) that stay valid, and are only accessed
    /// atomically, for the life of the view. `shape.capacity` is a power of two.
    pub(crate) unsafe fn new(words: *const AtomicU64, shape: Shape) -> CacheView {
        CacheView {
            words,
            shape,
            cap_mask: shape.capacity - 1,
            shift: shape.capacity.trailing_zeros(),
            bucket_mask: shape.buckets() - 1,
            stride_w: shape.stride_words(),
            key_w: shape.key_words(),
            value_w: shape.value_words(),
        }
    }

    #[inline]
    fn word(&self, i: usize) -> *const AtomicU64 {
        debug_assert!(Some(i) < self.shape.total_words());
        // SAFETY: every caller passes an index below total_words (derived from
        // masked positions and fixed offsets), inside the block `new` was given.
        unsafe { self.words.add(i) }
    }

    #[inline]
    pub(crate) fn ctl(&self) -> &CacheControl {
        // SAFETY: the control block is the first CONTROL_WORDS words; a
        // CacheControl is exactly that many consecutive atomic words.
        unsafe { &*(self.word(0) as *const CacheControl) }
    }

    /// The counter line of fleet node `node` (1-based; lines are shared
    /// round-robin if the fleet has more nodes than the cache has lines).
    #[inline]
    pub(crate) fn counters(&self, node: u16) -> &NodeCounters {
        let line = (node as usize).saturating_sub(1) % self.shape.lines.max(1) as usize;
        // SAFETY: line < lines, so the line lies inside the counter area.
        unsafe {
            &*(self.word(self.shape.counters_at() + line * COUNTER_WORDS) as *const NodeCounters)
        }
    }

    /// Every counter line.
    pub(crate) fn counter_lines(&self) -> impl Iterator<Item = &NodeCounters> {
        (1..=self.shape.lines.max(1)).map(|n| self.counters(n as u16))
    }

    #[inline]
    fn bucket(&self, hash: u64) -> &Bucket {
        self.bucket_at((hash & self.bucket_mask) as usize)
    }

    #[inline]
    fn bucket_at(&self, idx: usize) -> &Bucket {
        let idx = idx & self.bucket_mask as usize;
        // SAFETY: idx < buckets; a Bucket is BUCKET_WORDS consecutive words.
        unsafe { &*(self.word(self.shape.buckets_at() + idx * BUCKET_WORDS) as *const Bucket) }
    }

    pub(crate) fn bucket_count(&self) -> usize {
        self.shape.buckets() as usize
    }

    #[inline]
    fn entry_base(&self, pos: u64) -> usize {
        self.shape.log_at() + (pos & self.cap_mask) as usize * self.stride_w
    }

    #[inline]
    fn entry(&self, pos: u64) -> &EntryHeader {
        // SAFETY: the slot index is masked below capacity; the header is the
        // first ENTRY_HEADER_WORDS words of the slot.
        unsafe { &*(self.word(self.entry_base(pos)) as *const EntryHeader) }
    }

    #[inline]
    fn key_words(&self, pos: u64, n: usize) -> &[AtomicU64] {
        let n = n.min(self.key_w);
        // SAFETY: the key area of a slot is key_w words right after the header,
        // and n <= key_w.
        unsafe {
            std::slice::from_raw_parts(self.word(self.entry_base(pos) + ENTRY_HEADER_WORDS), n)
        }
    }

    #[inline]
    fn value_words(&self, pos: u64, n: usize) -> &[AtomicU64] {
        let n = n.min(self.value_w);
        // SAFETY: the value area is value_w words after the key area, inside
        // the slot's stride; n <= value_w.
        unsafe {
            std::slice::from_raw_parts(
                self.word(self.entry_base(pos) + ENTRY_HEADER_WORDS + self.key_w),
                n,
            )
        }
    }

    /// The full position a way names, from the head: `None` when the slot has
    /// been claimed by a later lap (`pos + capacity < head` in full positions)
    /// or the way cannot be right.
    #[inline]
    fn live_pos(&self, head: u64, w: u64) -> Option<u64> {
        let d = head.wrapping_sub(way_pos(w)) & POS_MASK;
        if d == 0 || d > self.shape.capacity {
            return None;
        }
        head.checked_sub(d)
    }

    /// Reads the entry a way names under its seqlock; compares the key and, on
    /// a match, copies up to `out.len()` bytes of the value.
    #[inline]
    fn read_entry(&self, w: u64, key: &[u8], out: &mut [u8]) -> EntryRead {
        let p48 = way_pos(w);
        let e = self.entry(p48);
        // Acquire: pairs with the Release commit store in `write_entry`.
        let s1 = e.seq.load(Ordering::Acquire);
        if s1 == 0 || s1 & 1 == 1 {
            return EntryRead::Gone;
        }
        let lap = s1 / 2 - 1;
        let pos = (lap << self.shift) | (p48 & self.cap_mask);
        if pos & POS_MASK != p48 {
            return EntryRead::Gone;
        }
        let version = e.version.load(Ordering::Relaxed);
        let meta = e.meta.load(Ordering::Relaxed);
        let expires_at_ms = e.expires_at_ms.load(Ordering::Relaxed);
        let klen = (meta & 0xFFFF) as usize;
        let vlen = (meta >> 32) as usize;
        let same = klen == key.len() && words_equal(self.key_words(pos, klen.div_ceil(8)), key);
        if same && vlen <= out.len() && vlen <= self.shape.max_value as usize {
            load_bytes(self.value_words(pos, vlen.div_ceil(8)), &mut out[..vlen]);
        }
        // Acquire fence: pairs with the Release fence in `write_entry`; if any
        // load above saw a later writer's store, the re-read below sees its
        // odd `seq`.
        fence(Ordering::Acquire);
        if e.seq.load(Ordering::Relaxed) != s1 {
            return EntryRead::Torn;
        }
        if klen > self.shape.max_key as usize || vlen > self.shape.max_value as usize {
            // Only a damaged segment commits an impossible length: never a match.
            return EntryRead::Gone;
        }
        if !same {
            return EntryRead::Other { pos };
        }
        EntryRead::Match {
            pos,
            meta: Meta {
                version,
                expires_at_ms,
                len: vlen,
                flags: (meta >> 16) as u16,
            },
        }
    }

    /// Looks `key` up and copies its value to the front of `out`. Lock-free;
    /// no allocation; `now_ms` is called only for an entry with an expiry.
    pub(crate) fn get(
        &self,
        hash: u64,
        key: &[u8],
        out: &mut [u8],
        now_ms: &dyn Fn() -> u64,
    ) -> Lookup {
        let b = self.bucket(hash);
        let tag = tag_of(hash);
        // Acquire: pairs with the AcqRel fetch_max in `clear`.
        let floor = self.ctl().floor.load(Ordering::Acquire);
        for _ in 0..READ_RETRIES {
            let mut snap = [0u64; WAYS];
            let mut matching = 0;
            for (s, w) in snap.iter_mut().zip(&b.ways) {
                // Acquire: pairs with the Release way stores of writers, so the
                // entry's commit is visible to the seqlock read below.
                *s = w.load(Ordering::Acquire);
                if *s != 0 && way_tag(*s) == tag {
                    matching += 1;
                }
            }
            let mut torn = false;
            if matching == 1 {
                // The common case: one candidate, read and copied in one go.
                let w = snap
                    .iter()
                    .copied()
                    .find(|w| *w != 0 && way_tag(*w) == tag)
                    .unwrap_or(0);
                match self.read_entry(w, key, out) {
                    EntryRead::Match { pos, meta } if pos >= floor => {
                        if meta.expired(now_ms) {
                            return Lookup::Miss;
                        }
                        return if meta.len <= out.len() {
                            Lookup::Hit(meta)
                        } else {
                            Lookup::TooSmall(meta)
                        };
                    }
                    EntryRead::Torn => torn = true,
                    _ => {}
                }
            } else if matching > 1 {
                // Several candidates (a tag collision, or duplicates left by a
                // dead writer): the newest position of the key wins.
                let mut best: Option<(u64, u64)> = None;
                for w in snap
                    .iter()
                    .copied()
                    .filter(|w| *w != 0 && way_tag(*w) == tag)
                {
                    match self.read_entry(w, key, &mut []) {
                        EntryRead::Match { pos, .. }
                            if pos >= floor && best.is_none_or(|(p, _)| pos > p) =>
                        {
                            best = Some((pos, w));
                        }
                        EntryRead::Torn => torn = true,
                        _ => {}
                    }
                }
                if let Some((pos, w)) = best {
                    match self.read_entry(w, key, out) {
                        EntryRead::Match { pos: again, meta } if again == pos => {
                            if meta.expired(now_ms) {
                                return Lookup::Miss;
                            }
                            return if meta.len <= out.len() {
                                Lookup::Hit(meta)
                            } else {
                                Lookup::TooSmall(meta)
                            };
                        }
                        _ => torn = true,
                    }
                }
            }
            // A miss stands if the bucket did not change under us; otherwise a
            // writer may have moved the key while we looked: look again.
            let unchanged = !torn
                && snap
                    .iter()
                    .zip(&b.ways)
                    // Relaxed: only compared with the snapshot.
                    .all(|(s, w)| *s == w.load(Ordering::Relaxed));
            if unchanged {
                return Lookup::Miss;
            }
        }
        Lookup::Miss
    }

    /// Waits for a condition in rounds; `check` returns `Some` to stop.
    #[inline]
    fn wait_rounds<R>(
        &self,
        ctx: &WriteCtx<'_>,
        mut check: impl FnMut(u32) -> Option<R>,
    ) -> Result<R, WriteError> {
        let mut spins = 0u32;
        let mut rounds = 0u32;
        loop {
            if let Some(r) = check(rounds) {
                return Ok(r);
            }
            spins += 1;
            spin_hint();
            if spins < SPINS_PER_ROUND {
                continue;
            }
            spins = 0;
            rounds = rounds.saturating_add(1);
            if !(ctx.pause)(rounds) {
                return Err(WriteError::Busy);
            }
        }
    }

    /// Liveness is consulted on rounds 1, 2, 4, 8, ... and every 64th round:
    /// a dead holder is found at once, a live one costs few `/proc` reads.
    #[cfg(not(loom))]
    #[inline]
    fn liveness_round(rounds: u32) -> bool {
        rounds > 0 && (rounds.is_power_of_two() || rounds % 64 == 0)
    }

    /// Under loom every round consults liveness (a loom waiter yields to the
    /// holder, so it would otherwise only ever check after the holder left).
    #[cfg(loom)]
    #[inline]
    fn liveness_round(_rounds: u32) -> bool {
        true
    }

    /// Takes the bucket's lock, taking it over from a dead holder.
    fn lock<'b>(&self, b: &'b Bucket, ctx: &WriteCtx<'_>) -> Result<BucketGuard<'b>, WriteError> {
        let mut last_checked = u64::MAX;
        self.wait_rounds(ctx, |rounds| {
            let w = b.lock.load(Ordering::Relaxed);
            let holder = lock_holder(w);
            let mine = (w & !0xFFFF_FFFF) | ctx.tag as u64;
            if holder == 0 {
                // Acquire: pairs with the Release store of the previous
                // holder's unlock (`BucketGuard::drop`), so its way stores are
                // visible to our scan.
                if b.lock
                    .compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(BucketGuard {
                        bucket: b,
                        word: mine,
                    });
                }
                return None;
            }
            if Self::liveness_round(rounds) && last_checked != rounds as u64 {
                last_checked = rounds as u64;
                if (ctx.is_dead)(holder) {
                    // Takeover (see the module doc). Acquire: pairs with the
                    // dead holder's Release way stores (its unlock never came).
                    if b.lock
                        .compare_exchange(w, mine, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        ctx.count(|c| &c.takeovers);
                        return Some(BucketGuard {
                            bucket: b,
                            word: mine,
                        });
                    }
                }
            }
            None
        })
    }

    /// Claims the next log position (see "Appending to the log"). Returns the
    /// position and whether the slot's previous entry was committed.
    fn claim(&self, ctx: &WriteCtx<'_>) -> Result<(u64, bool), WriteError> {
        let ctl = self.ctl();
        let mut last_checked = u64::MAX;
        self.wait_rounds(ctx, |rounds| {
            // Acquire: pairs with the AcqRel head CASes, so the owner word of
            // the position claimed before is visible.
            let h = ctl.head.load(Ordering::Acquire);
            let lap = h >> self.shift;
            let e = self.entry(h);
            // Acquire: pairs with the AcqRel owner CAS of the claimer.
            let o = e.owner.load(Ordering::Acquire);
            if owner_lap_code(o) == lap.wrapping_add(1) as u32 {
                // Claimed already: help its claimer advance head.
                let _ = ctl.head.compare_exchange(
                    h,
                    h.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                return None;
            }
            // Acquire: pairs with the Release commit of the previous lap's
            // writer, so our stores to the slot come after its stores.
            let s = e.seq.load(Ordering::Acquire);
            let prev_committed = lap.wrapping_mul(2);
            let take = |committed: bool| {
                // AcqRel: Release publishes the claim to helpers; Acquire
                // orders our writes after the previous lap's.
                if e.owner
                    .compare_exchange(
                        o,
                        owner_word(lap, ctx.tag),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    let _ = ctl.head.compare_exchange(
                        h,
                        h.wrapping_add(1),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    Some((h, committed))
                } else {
                    None
                }
            };
            if s == prev_committed {
                return take(true);
            }
            if s > prev_committed || ctl.head.load(Ordering::Relaxed) != h {
                return None; // our view of head is stale
            }
            // The writer of h - capacity has not committed. Take the slot over
            // only if that writer's process is dead.
            if Self::liveness_round(rounds)
                && last_checked != rounds as u64
                && owner_lap_code(o) == lap as u32
            {
                last_checked = rounds as u64;
                if (ctx.is_dead)(o as u32) {
                    let r = take(false);
                    if r.is_some() {
                        ctx.count(|c| &c.takeovers);
                    }
                    return r;
                }
            }
            None
        })
    }

    /// Appends an entry to the log and commits it; returns (position, version).
    fn append(
        &self,
        ctx: &WriteCtx<'_>,
        key: &[u8],
        value: &[u8],
        expires_at_ms: u64,
        flags: u16,
    ) -> Result<(u64, u64), WriteError> {
        let (pos, prev_committed) = self.claim(ctx)?;
        let e = self.entry(pos);
        // We own the slot: retire the mark of the entry we overwrite and mark
        // ours (statistics; Relaxed: the RMW makes each transition count once).
        let old = e.indexed.swap(pos.wrapping_add(1), Ordering::Relaxed);
        ctx.count(|c| &c.sets);
        if old != 0 {
            ctx.count(|c| &c.removed);
            let floor = self.ctl().floor.load(Ordering::Relaxed);
            if prev_committed && old > floor {
                ctx.count(|c| &c.evictions);
            }
        }
        let version = version_of((ctx.tag >> 16) as u16, pos);
        self.write_entry(pos, version, key, value, expires_at_ms, flags);
        Ok((pos, version))
    }

    fn write_entry(
        &self,
        pos: u64,
        version: u64,
        key: &[u8],
        value: &[u8],
        expires_at_ms: u64,
        flags: u16,
    ) {
        debug_assert!(key.len() <= self.shape.max_key as usize);
        debug_assert!(value.len() <= self.shape.max_value as usize);
        let lap = pos >> self.shift;
        let e = self.entry(pos);
        e.seq
            .store(lap.wrapping_mul(2).wrapping_add(1), Ordering::Relaxed);
        // Release fence: orders the odd `seq` before the stores below; pairs
        // with the Acquire fence in `read_entry`.
        fence(Ordering::Release);
        e.version.store(version, Ordering::Relaxed);
        e.meta
            .store(pack_meta(key.len(), flags, value.len()), Ordering::Relaxed);
        e.expires_at_ms.store(expires_at_ms, Ordering::Relaxed);
        store_bytes(self.key_words(pos, key.len().div_ceil(8)), key);
        store_bytes(self.value_words(pos, value.len().div_ceil(8)), value);
        // Release: the commit; pairs with the Acquire `seq` loads in
        // `read_entry` and `claim` (the next lap's writer).
        e.seq
            .store(lap.wrapping_mul(2).wrapping_add(2), Ordering::Release);
    }

    /// Retires the `indexed` mark of position `pos` if it is still set.
    fn retire(&self, ctx: &WriteCtx<'_>, pos: u64, eviction: bool) {
        let e = self.entry(pos);
        // Relaxed: statistics; the CAS fails if the log wrap or clear retired it.
        if e.indexed
            .compare_exchange(pos.wrapping_add(1), 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            ctx.count(|c| &c.removed);
            if eviction {
                ctx.count(|c| &c.evictions);
            }
        }
    }

    /// Scans a locked bucket for `key`; clears expired and duplicate ways of it.
    fn scan(&self, ctx: &WriteCtx<'_>, b: &Bucket, tag: u64, key: &[u8], want_value: bool) -> Scan {
        // Acquire: pairs with the AcqRel head CASes (a fresher head only makes
        // more ways stale, which the seqlock reads confirm).
        let head = self.ctl().head.load(Ordering::Acquire);
        // Acquire: pairs with the AcqRel fetch_max in `clear`.
        let floor = self.ctl().floor.load(Ordering::Acquire);
        let mut scan = Scan::default();
        for (i, way) in b.ways.iter().enumerate() {
            // Acquire: pairs with the Release way stores (of a dead holder too).
            let w = way.load(Ordering::Acquire);
            if w == 0 {
                scan.free.get_or_insert(i);
                continue;
            }
            let Some(pos) = self.live_pos(head, w).filter(|p| *p >= floor) else {
                scan.free.get_or_insert(i);
                continue;
            };
            if way_tag(w) != tag {
                if scan.oldest.is_none_or(|(_, p)| pos < p) {
                    scan.oldest = Some((i, pos));
                }
                continue;
            }
            let mut val = [0u8; 8];
            let out: &mut [u8] = if want_value { &mut val } else { &mut [] };
            match self.read_entry(w, key, out) {
                EntryRead::Match { pos, meta } if pos >= floor => {
                    if meta.expired(ctx.now_ms) {
                        way.store(0, Ordering::Relaxed);
                        self.retire(ctx, pos, false);
                        scan.free.get_or_insert(i);
                        continue;
                    }
                    let value = (want_value && meta.len == 8).then_some(val);
                    match scan.found {
                        Some((_, newer, ..)) if newer > pos => {
                            // An older duplicate: the newest wins, drop this one.
                            way.store(0, Ordering::Relaxed);
                            self.retire(ctx, pos, false);
                            scan.free.get_or_insert(i);
                        }
                        Some((j, older, ..)) => {
                            b.ways[j].store(0, Ordering::Relaxed);
                            self.retire(ctx, older, false);
                            scan.free.get_or_insert(j);
                            scan.found = Some((i, pos, meta, value));
                        }
                        None => scan.found = Some((i, pos, meta, value)),
                    }
                }
                EntryRead::Other { pos } if pos >= floor => {
                    if scan.oldest.is_none_or(|(_, p)| pos < p) {
                        scan.oldest = Some((i, pos));
                    }
                }
                _ => {
                    scan.free.get_or_insert(i);
                }
            }
        }
        if let Some((j, ..)) = scan.found {
            if scan.free == Some(j) {
                scan.free = None;
            }
        }
        scan
    }

    /// Indexes a freshly appended entry: replaces the key's way, or fills a free
    /// way, or evicts the bucket's oldest way.
    fn index(&self, ctx: &WriteCtx<'_>, b: &Bucket, scan: &Scan, new_way: u64) {
        // Release (every way store): pairs with the Acquire way loads of
        // readers; the entry it names was committed before.
        if let Some((i, old, ..)) = scan.found {
            b.ways[i].store(new_way, Ordering::Release);
            self.retire(ctx, old, false);
        } else if let Some(i) = scan.free {
            b.ways[i].store(new_way, Ordering::Release);
        } else if let Some((i, old)) = scan.oldest {
            b.ways[i].store(new_way, Ordering::Release);
            self.retire(ctx, old, true);
        }
    }

    /// `set`, `add` and `cas`: writes `value` under `key`; returns the version.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put(
        &self,
        ctx: &WriteCtx<'_>,
        hash: u64,
        key: &[u8],
        value: &[u8],
        expires_at_ms: u64,
        mode: PutMode,
    ) -> Result<u64, WriteError> {
        let b = self.bucket(hash);
        let tag = tag_of(hash);
        let _guard = self.lock(b, ctx)?;
        let scan = self.scan(ctx, b, tag, key, false);
        match (mode, scan.found) {
            (PutMode::Add, Some(_)) => return Err(WriteError::Conflict),
            (PutMode::Cas(_), None) => return Err(WriteError::NotFound),
            (PutMode::Cas(v), Some((.., meta, _))) if meta.version != v => {
                return Err(WriteError::Conflict);
            }
            _ => {}
        }
        let (pos, version) = self.append(ctx, key, value, expires_at_ms, 0)?;
        self.index(ctx, b, &scan, way_word(tag, pos));
        Ok(version)
    }

    /// `incr`: adds `delta` to the 8-byte little-endian counter under `key`,
    /// creating it at `delta` (expiring at `expires_if_new`) when absent.
    /// Returns (new value, version).
    pub(crate) fn incr(
        &self,
        ctx: &WriteCtx<'_>,
        hash: u64,
        key: &[u8],
        delta: i64,
        expires_if_new: u64,
    ) -> Result<(i64, u64), WriteError> {
        let b = self.bucket(hash);
        let tag = tag_of(hash);
        let _guard = self.lock(b, ctx)?;
        let scan = self.scan(ctx, b, tag, key, true);
        let (value, expires) = match scan.found {
            Some((_, _, meta, Some(v))) => (
                i64::from_le_bytes(v)
                    .checked_add(delta)
                    .ok_or(WriteError::Overflow)?,
                meta.expires_at_ms,
            ),
            Some((.., None)) => return Err(WriteError::NotCounter),
            None => (delta, expires_if_new),
        };
        let (pos, version) = self.append(ctx, key, &value.to_le_bytes(), expires, FLAG_COUNTER)?;
        self.index(ctx, b, &scan, way_word(tag, pos));
        Ok((value, version))
    }

    /// `delete`: removes `key`'s way.
    pub(crate) fn delete(
        &self,
        ctx: &WriteCtx<'_>,
        hash: u64,
        key: &[u8],
    ) -> Result<(), WriteError> {
        let b = self.bucket(hash);
        let tag = tag_of(hash);
        let _guard = self.lock(b, ctx)?;
        let scan = self.scan(ctx, b, tag, key, false);
        let Some((i, pos, ..)) = scan.found else {
            return Err(WriteError::NotFound);
        };
        // Release: as every way store (nothing new is published, but readers'
        // Acquire loads stay paired uniformly).
        b.ways[i].store(0, Ordering::Release);
        self.retire(ctx, pos, false);
        ctx.count(|c| &c.deletes);
        Ok(())
    }

    /// `clear`: invalidates every entry written before it. Returns the floor.
    pub(crate) fn clear(&self, ctx: &WriteCtx<'_>) -> u64 {
        let ctl = self.ctl();
        // Acquire: pairs with the head CASes so positions below are claimed.
        let head = ctl.head.load(Ordering::Acquire);
        // AcqRel: Release publishes the floor to the Acquire loads in `get`
        // and `scan`; fetch_max keeps a concurrent larger clear.
        ctl.floor.fetch_max(head, Ordering::AcqRel);
        ctl.clears.fetch_add(1, Ordering::Relaxed);
        // Only slots that were ever written can carry a mark.
        for p in head.saturating_sub(self.shape.capacity)..head {
            let e = self.entry(p);
            let v = e.indexed.load(Ordering::Relaxed);
            if v != 0
                && v - 1 < head
                && e.indexed
                    .compare_exchange(v, 0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                ctx.count(|c| &c.removed);
            }
        }
        head
    }

    /// Calls `f(key, meta)` for each live, unexpired key of bucket `idx`, once
    /// per key (the newest entry wins). `buf` is scratch space for keys.
    pub(crate) fn bucket_keys(
        &self,
        idx: usize,
        now_ms: &dyn Fn() -> u64,
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(&[u8], &Meta),
    ) {
        let b = self.bucket_at(idx);
        // Acquire: as in `get`.
        let floor = self.ctl().floor.load(Ordering::Acquire);
        let mut found: [(u64, usize, usize, Meta); WAYS] = [(0, 0, 0, Meta::default()); WAYS];
        let mut n = 0;
        buf.clear();
        for way in &b.ways {
            // Acquire: as in `get`.
            let w = way.load(Ordering::Acquire);
            if w == 0 {
                continue;
            }
            if let Some((pos, meta, start, len)) = self.read_key(w, buf) {
                if pos >= floor && !meta.expired(now_ms) {
                    found[n] = (pos, start, len, meta);
                    n += 1;
                }
            }
        }
        let found = &mut found[..n];
        found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
        for i in 0..found.len() {
            let (_, s, l, meta) = found[i];
            let key = &buf[s..s + l];
            if found[..i]
                .iter()
                .any(|(_, s2, l2, _)| &buf[*s2..*s2 + *l2] == key)
            {
                continue;
            }
            f(key, &meta);
        }
    }

    /// Reads the key of the entry a way names, appending it to `buf`.
    fn read_key(&self, w: u64, buf: &mut Vec<u8>) -> Option<(u64, Meta, usize, usize)> {
        let p48 = way_pos(w);
        let e = self.entry(p48);
        // Acquire: pairs with the Release commit in `write_entry`.
        let s1 = e.seq.load(Ordering::Acquire);
        if s1 == 0 || s1 & 1 == 1 {
            return None;
        }
        let pos = ((s1 / 2 - 1) << self.shift) | (p48 & self.cap_mask);
        if pos & POS_MASK != p48 {
            return None;
        }
        let version = e.version.load(Ordering::Relaxed);
        let meta = e.meta.load(Ordering::Relaxed);
        let expires_at_ms = e.expires_at_ms.load(Ordering::Relaxed);
        let klen = ((meta & 0xFFFF) as usize).min(self.shape.max_key as usize);
        let start = buf.len();
        buf.resize(start + klen, 0);
        load_bytes(self.key_words(pos, klen.div_ceil(8)), &mut buf[start..]);
        // Acquire fence: as in `read_entry`.
        fence(Ordering::Acquire);
        if e.seq.load(Ordering::Relaxed) != s1
            || (meta & 0xFFFF) as usize > self.shape.max_key as usize
            || (meta >> 32) as usize > self.shape.max_value as usize
        {
            // Overwritten meanwhile, or (only in a damaged segment) lengths
            // over the limits: not a key, as for `read_entry`.
            buf.truncate(start);
            return None;
        }
        Some((
            pos,
            Meta {
                version,
                expires_at_ms,
                len: (meta >> 32) as usize,
                flags: (meta >> 16) as u16,
            },
            start,
            klen,
        ))
    }
}

/// A cache line of words, so heap bodies are aligned like mappings.
#[cfg(test)]
#[cfg_attr(not(loom), repr(C, align(64)))]
#[cfg_attr(loom, repr(C))]
struct Line([AtomicU64; 8]);

/// A cache body on the heap, for unit tests and loom models.
#[cfg(test)]
pub(crate) struct HeapCache {
    _lines: Vec<Line>,
    pub(crate) view: CacheView,
}

#[cfg(test)]
impl HeapCache {
    pub(crate) fn new(shape: Shape) -> HeapCache {
        let n = shape.total_words().expect("shape fits");
        assert_eq!(n % 8, 0, "every area is whole cache lines");
        let lines: Vec<Line> = (0..n / 8)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        // SAFETY: the vector holds n consecutive atomic words (a Line is 8 of
        // them, without padding), 64-byte aligned outside loom, and lives as
        // long as the view (both owned by the HeapCache; never resized).
        let view = unsafe { CacheView::new(lines.as_ptr().cast::<AtomicU64>(), shape) };
        HeapCache {
            _lines: lines,
            view,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn shape(capacity: u64) -> Shape {
        Shape {
            capacity,
            max_key: 16,
            max_value: 32,
            lines: 2,
        }
    }

    fn ctx<'a>(tag: u32, counters: Option<&'a NodeCounters>) -> WriteCtx<'a> {
        WriteCtx {
            tag,
            is_dead: &|_| false,
            now_ms: &|| 1_000,
            pause: &|r| r < 10_000,
            counters,
        }
    }

    fn get(v: &CacheView, hash: u64, key: &[u8]) -> Option<Vec<u8>> {
        let mut buf = [0u8; 32];
        match v.get(hash, key, &mut buf, &|| 1_000) {
            Lookup::Hit(m) => Some(buf[..m.len].to_vec()),
            Lookup::TooSmall(_) => panic!("32 bytes always fit"),
            Lookup::Miss => None,
        }
    }

    #[test]
    fn layout_words() {
        let s = shape(8);
        // 6 header + 2 key + 4 value words = 12, rounded up to two cache lines.
        assert_eq!(s.stride_words(), 16);
        assert_eq!(s.buckets(), 4);
        assert_eq!(
            s.log_at(),
            CONTROL_WORDS + 2 * COUNTER_WORDS + 4 * BUCKET_WORDS
        );
    }

    #[test]
    fn set_get_replace_delete() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, Some(v.counters(1)));
        let v1 = v.put(&c, 42, b"alpha", b"one", 0, PutMode::Set).unwrap();
        assert_eq!(get(v, 42, b"alpha").as_deref(), Some(&b"one"[..]));
        assert_eq!(get(v, 42, b"alphb"), None, "same hash, other key");
        assert_eq!(
            v.put(&c, 42, b"alpha", b"x", 0, PutMode::Add),
            Err(WriteError::Conflict)
        );
        assert_eq!(
            v.put(&c, 42, b"alpha", b"x", 0, PutMode::Cas(v1 ^ 1)),
            Err(WriteError::Conflict)
        );
        let v2 = v
            .put(&c, 42, b"alpha", b"two", 0, PutMode::Cas(v1))
            .unwrap();
        assert_ne!(v1, v2);
        assert_eq!(v2 >> 56, VERSION_KIND as u64);
        assert_eq!((v2 >> 40) as u16, 1);
        assert_eq!(get(v, 42, b"alpha").as_deref(), Some(&b"two"[..]));
        v.delete(&c, 42, b"alpha").unwrap();
        assert_eq!(get(v, 42, b"alpha"), None);
        assert_eq!(v.delete(&c, 42, b"alpha"), Err(WriteError::NotFound));
        let n = v.counters(1);
        assert_eq!(n.sets.load(Ordering::Relaxed), 2);
        assert_eq!(n.removed.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn full_bucket_evicts_oldest_and_wrap_evicts_fifo() {
        let h = HeapCache::new(shape(64));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, Some(v.counters(1)));
        // Eight keys in one bucket (hash 0 bucket, distinct tags).
        for i in 0..8u64 {
            let hash = (i + 1) << 48;
            v.put(&c, hash, &[i as u8], &[i as u8], 0, PutMode::Set)
                .unwrap();
        }
        assert_eq!(get(v, 1 << 48, &[0]), None, "oldest way evicted");
        for i in 1..8u64 {
            assert_eq!(get(v, (i + 1) << 48, &[i as u8]), Some(vec![i as u8]));
        }
        assert_eq!(v.counters(1).evictions.load(Ordering::Relaxed), 1);
        // Wrap the log: 64 more writes to other buckets overwrite everything.
        for i in 0..64u64 {
            v.put(&c, 1 + i, b"k", &i.to_le_bytes(), 0, PutMode::Set)
                .unwrap();
        }
        for i in 1..8u64 {
            assert_eq!(get(v, (i + 1) << 48, &[i as u8]), None, "wrapped");
        }
    }

    #[test]
    fn incr_and_counters() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, None);
        assert_eq!(v.incr(&c, 7, b"n", 5, 0).unwrap().0, 5);
        assert_eq!(v.incr(&c, 7, b"n", -7, 0).unwrap().0, -2);
        v.put(&c, 7, b"s", b"abc", 0, PutMode::Set).unwrap();
        assert_eq!(v.incr(&c, 7, b"s", 1, 0), Err(WriteError::NotCounter));
        assert_eq!(get(v, 7, b"s").as_deref(), Some(&b"abc"[..]));
        v.put(&c, 7, b"m", &i64::MAX.to_le_bytes(), 0, PutMode::Set)
            .unwrap();
        assert_eq!(v.incr(&c, 7, b"m", 1, 0), Err(WriteError::Overflow));
    }

    #[test]
    fn expiry_and_clear() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, Some(v.counters(1)));
        v.put(&c, 3, b"old", b"x", 999, PutMode::Set).unwrap();
        assert_eq!(get(v, 3, b"old"), None, "expired at 999, now is 1000");
        v.put(&c, 3, b"old", b"y", 0, PutMode::Add).unwrap();
        v.put(&c, 4, b"other", b"z", 0, PutMode::Set).unwrap();
        v.clear(&c);
        assert_eq!(get(v, 3, b"old"), None);
        assert_eq!(get(v, 4, b"other"), None);
        let n = v.counters(1);
        assert_eq!(
            n.sets.load(Ordering::Relaxed),
            n.removed.load(Ordering::Relaxed),
            "nothing is current after clear"
        );
        v.put(&c, 4, b"other", b"w", 0, PutMode::Add).unwrap();
        assert_eq!(get(v, 4, b"other").as_deref(), Some(&b"w"[..]));
    }

    #[test]
    fn dead_bucket_holder_is_taken_over() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        // A dead writer (tag 9<<16) holds bucket 5.
        v.bucket(5).lock.store(9 << 16, Ordering::Relaxed);
        let live = WriteCtx {
            is_dead: &|t| t == 9 << 16,
            ..ctx(1 << 16 | 1, Some(v.counters(1)))
        };
        v.put(&live, 5, b"k", b"v", 0, PutMode::Set).unwrap();
        assert_eq!(v.counters(1).takeovers.load(Ordering::Relaxed), 1);
        assert_eq!(v.bucket(5).lock.load(Ordering::Relaxed) as u32, 0);
        // A live holder is waited for, up to the bound.
        v.bucket(6).lock.store(9 << 16, Ordering::Relaxed);
        let impatient = WriteCtx {
            pause: &|r| r < 3,
            ..ctx(1 << 16 | 1, None)
        };
        assert_eq!(
            v.put(&impatient, 6, b"k", b"v", 0, PutMode::Set),
            Err(WriteError::Busy)
        );
    }

    #[test]
    fn dead_log_writer_is_taken_over() {
        let h = HeapCache::new(shape(2));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, None);
        v.put(&c, 1, b"a", b"1", 0, PutMode::Set).unwrap();
        // A writer of tag 9<<16 claimed position 1 and died mid-write.
        let e = v.entry(1);
        e.owner.store(owner_word(0, 9 << 16), Ordering::Relaxed);
        e.seq.store(1, Ordering::Relaxed);
        v.ctl().head.store(2, Ordering::Relaxed);
        let live = WriteCtx {
            is_dead: &|t| t == 9 << 16,
            ..ctx(1 << 16 | 1, None)
        };
        v.put(&live, 2, b"b", b"2", 0, PutMode::Set).unwrap(); // position 2 (slot 0)
        v.put(&live, 3, b"c", b"3", 0, PutMode::Set).unwrap(); // position 3 (slot 1): takeover
        assert_eq!(get(v, 3, b"c").as_deref(), Some(&b"3"[..]));
        assert_eq!(get(v, 2, b"b").as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn duplicates_resolve_to_newest() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, None);
        v.put(&c, 8, b"k", b"old", 0, PutMode::Set).unwrap();
        let old_way = v.bucket(8).ways[0].load(Ordering::Relaxed);
        v.put(&c, 8, b"k", b"new", 0, PutMode::Set).unwrap();
        // Forge what a dead writer could leave: the old way back in another slot.
        v.bucket(8).ways[3].store(old_way, Ordering::Relaxed);
        assert_eq!(get(v, 8, b"k").as_deref(), Some(&b"new"[..]));
        let mut keys = Vec::new();
        let mut buf = Vec::new();
        v.bucket_keys(8 & (v.bucket_count() - 1), &|| 0, &mut buf, &mut |k, _| {
            keys.push(k.to_vec())
        });
        assert_eq!(keys, vec![b"k".to_vec()]);
        // The next writer of the bucket clears the older duplicate.
        v.put(&c, 8, b"k", b"newer", 0, PutMode::Set).unwrap();
        let ways: Vec<u64> = v
            .bucket(8)
            .ways
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        assert_eq!(ways.iter().filter(|w| **w != 0).count(), 1);
        assert_eq!(get(v, 8, b"k").as_deref(), Some(&b"newer"[..]));
    }

    #[test]
    fn too_small_reports_length() {
        let h = HeapCache::new(shape(16));
        let v = &h.view;
        let c = ctx(1 << 16 | 1, None);
        v.put(&c, 8, b"k", &[7; 20], 0, PutMode::Set).unwrap();
        let mut small = [0u8; 4];
        assert!(matches!(
            v.get(8, b"k", &mut small, &|| 0),
            Lookup::TooSmall(Meta { len: 20, .. })
        ));
    }
}

/// Loom models of the bucket protocol: readers against writers, writers
/// against writers, and takeovers of a dead writer's bucket and log slot.
/// Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom`.
///
/// Every racing side runs in a spawned thread and the model's main thread only
/// sets up, joins and checks: loom 0.7 explores a single execution when the
/// main thread races a spawned thread whose first operation is a load
/// (tokio-rs/loom#392), which is what every operation here starts with.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    const DEAD: u32 = 9 << 16 | 1;

    fn cache(capacity: u64) -> Arc<HeapCache> {
        Arc::new(HeapCache::new(Shape {
            capacity,
            max_key: 8,
            max_value: 16,
            lines: 1,
        }))
    }

    fn with_ctx<R>(tag: u32, f: impl FnOnce(&WriteCtx<'_>) -> R) -> R {
        f(&WriteCtx {
            tag,
            is_dead: &|t| t == DEAD,
            now_ms: &|| 0,
            pause: &|_| true,
            counters: None,
        })
    }

    fn get(v: &CacheView, hash: u64, key: &[u8]) -> Option<[u8; 16]> {
        let mut buf = [0u8; 16];
        match v.get(hash, key, &mut buf, &|| 0) {
            Lookup::Hit(m) => {
                assert_eq!(m.len, 16);
                Some(buf)
            }
            Lookup::TooSmall(_) => panic!("16 bytes fit"),
            Lookup::Miss => None,
        }
    }

    /// Runs `a` and `b` in two spawned threads and returns their results.
    fn race<A, B>(
        c: &Arc<HeapCache>,
        a: impl FnOnce(&CacheView) -> A + Send + 'static,
        b: impl FnOnce(&CacheView) -> B + Send + 'static,
    ) -> (A, B)
    where
        A: Send + 'static,
        B: Send + 'static,
    {
        let (ca, cb) = (c.clone(), c.clone());
        let ta = thread::spawn(move || a(&ca.view));
        let tb = thread::spawn(move || b(&cb.view));
        (ta.join().unwrap(), tb.join().unwrap())
    }

    fn set(
        v: &CacheView,
        tag: u32,
        key: &[u8],
        val: [u8; 16],
        mode: PutMode,
    ) -> Result<u64, WriteError> {
        with_ctx(tag, |ctx| v.put(ctx, 5, key, &val, 0, mode))
    }

    /// A reader racing a writer that replaces the value sees the old or the
    /// new value, whole, and never a miss (the key is present throughout).
    #[test]
    fn reader_vs_replacing_writer() {
        loom::model(|| {
            let c = cache(2);
            set(&c.view, 1 << 16 | 1, b"k", [1; 16], PutMode::Set).unwrap();
            let (got, w) = race(
                &c,
                |v| get(v, 5, b"k"),
                |v| set(v, 2 << 16 | 1, b"k", [2; 16], PutMode::Set),
            );
            w.unwrap();
            let got = got.expect("present throughout");
            assert!(got == [1; 16] || got == [2; 16], "torn: {got:?}");
            assert_eq!(get(&c.view, 5, b"k"), Some([2; 16]));
        });
    }

    /// A reader racing the log wrap that overwrites its entry with another
    /// key's sees its own value whole, or a miss; never the other key's bytes.
    #[test]
    fn reader_vs_wrapping_writer() {
        loom::model(|| {
            let c = cache(1);
            set(&c.view, 1 << 16 | 1, b"k", [1; 16], PutMode::Set).unwrap();
            let (got, w) = race(
                &c,
                |v| get(v, 5, b"k"),
                |v| set(v, 2 << 16 | 1, b"j", [2; 16], PutMode::Set),
            );
            w.unwrap();
            if let Some(got) = got {
                assert_eq!(got, [1; 16]);
            }
            assert_eq!(get(&c.view, 5, b"k"), None, "overwritten by the wrap");
            assert_eq!(get(&c.view, 5, b"j"), Some([2; 16]));
        });
    }

    /// Two writers incrementing one counter: the bucket lock serialises them.
    #[test]
    fn writer_vs_writer_incr() {
        loom::model(|| {
            let c = cache(4);
            let (a, b) = race(
                &c,
                |v| with_ctx(1 << 16 | 1, |ctx| v.incr(ctx, 5, b"n", 1, 0)),
                |v| with_ctx(2 << 16 | 1, |ctx| v.incr(ctx, 5, b"n", 1, 0)),
            );
            let mut seen = [a.unwrap().0, b.unwrap().0];
            seen.sort_unstable();
            assert_eq!(seen, [1, 2]);
            let v = with_ctx(1 << 16 | 1, |ctx| c.view.incr(ctx, 5, b"n", 0, 0)).unwrap();
            assert_eq!(v.0, 2);
        });
    }

    /// Two writers adding one key: exactly one wins, and its value stays.
    #[test]
    fn writer_vs_writer_add() {
        loom::model(|| {
            let c = cache(4);
            let (a, b) = race(
                &c,
                |v| set(v, 1 << 16 | 1, b"k", [1; 16], PutMode::Add),
                |v| set(v, 2 << 16 | 1, b"k", [2; 16], PutMode::Add),
            );
            assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
            let want = if a.is_ok() { [1; 16] } else { [2; 16] };
            assert_eq!(get(&c.view, 5, b"k"), Some(want));
        });
    }

    /// A writer died holding the bucket, mid-way through writing its log
    /// entry. A live writer takes both over while a reader looks: the reader
    /// sees the old value or the new one, whole, never the dead writer's bytes.
    #[test]
    fn takeover_of_a_dead_holder() {
        loom::model(|| {
            let c = cache(1);
            set(&c.view, 1 << 16 | 1, b"k", [1; 16], PutMode::Set).unwrap();
            // The dead writer: holds the bucket, claimed position 1 (slot 0,
            // lap 1) and stored half of its entry.
            let v = &c.view;
            v.bucket(5).lock.store(DEAD as u64, Ordering::Relaxed);
            let e = v.entry(1);
            e.owner.store(owner_word(1, DEAD), Ordering::Relaxed);
            e.seq.store(3, Ordering::Relaxed);
            v.value_words(1, 1)[0].store(u64::from_le_bytes([7; 8]), Ordering::Relaxed);
            v.ctl().head.store(2, Ordering::Relaxed);
            let (got, w) = race(
                &c,
                |v| get(v, 5, b"k"),
                |v| set(v, 2 << 16 | 1, b"k", [2; 16], PutMode::Set),
            );
            w.unwrap();
            if let Some(got) = got {
                assert_eq!(got, [2; 16], "only the new value can be read");
            }
            assert_eq!(get(v, 5, b"k"), Some([2; 16]));
            assert_eq!(
                v.bucket(5).lock.load(Ordering::Relaxed) as u32,
                0,
                "released"
            );
        });
    }

    /// Two appends landing on one log slot (capacity 1): the later lap waits
    /// for the earlier one's commit while its writer lives, so the slot ends
    /// up holding the later entry whole.
    #[test]
    fn appends_on_one_slot_serialise() {
        loom::model(|| {
            let c = cache(1);
            let (a, b) = race(
                &c,
                |v| with_ctx(1 << 16 | 1, |ctx| v.append(ctx, b"a", &[1; 16], 0, 0)),
                |v| with_ctx(2 << 16 | 1, |ctx| v.append(ctx, b"b", &[2; 16], 0, 0)),
            );
            let (pa, pb) = (a.unwrap().0, b.unwrap().0);
            assert_eq!(pa.min(pb), 0);
            let (key, want): (&[u8], _) = if pa > pb {
                (b"a", [1; 16])
            } else {
                (b"b", [2; 16])
            };
            let mut buf = [0u8; 16];
            let read = c.view.read_entry(way_word(1, 1), key, &mut buf);
            assert!(matches!(read, EntryRead::Match { pos: 1, .. }), "{read:?}");
            assert_eq!(buf, want);
        });
    }

    /// A live holder is never overtaken: the waiter waits for its release.
    #[test]
    fn live_holder_is_waited_for() {
        loom::model(|| {
            let c = cache(4);
            let (a, b) = race(
                &c,
                |v| {
                    let b = v.bucket(5);
                    let guard = with_ctx(3 << 16 | 1, |ctx| v.lock(b, ctx)).unwrap();
                    // Still inside the critical section: the lock is ours.
                    let holder = lock_holder(b.lock.load(Ordering::Relaxed));
                    drop(guard);
                    holder
                },
                |v| set(v, 2 << 16 | 1, b"k", [2; 16], PutMode::Set),
            );
            assert_eq!(a, 3 << 16 | 1, "a writer took over a live holder's bucket");
            b.unwrap();
        });
    }
}
