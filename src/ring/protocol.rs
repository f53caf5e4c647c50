//! The slot protocol of the lossy multi-writer ring. Compiled under loom too:
//! `RingView` works on any memory that holds a [`RingControl`] and the slots.
//!
//! # Words
//!
//! - `head`: the next position to claim (a full u64, never wraps). Invariant:
//!   every position `p < head` has had its `owner` word set to lap(p).
//! - per slot, `seq`: `0` never written; `2*lap+2` lap committed, where
//!   `lap = pos >> log2(capacity)`. On the slot's first line, the one a
//!   polling reader reads, with `id`, `ver`, `len|kind` and the first 32
//!   payload bytes.
//! - per slot, `begin`: `2*lap+1` once the writer of `lap` has begun. The
//!   first word of the slot's second line: the seqlock opens there, not on
//!   the polled line, so that a frame stores to the polled line once, at
//!   its end (measured, ring layout 4: with the seqlock opened by an odd
//!   `seq` a reader that keeps pace took the line between the two stores,
//!   and the writer had to fetch it back; `orbit-peers`, three sets of
//!   A/B rounds: 64 B one-way p50 of the multi-writer ring 1.50-1.61x ->
//!   1.35-1.38x the cache-line floor, single-writer 1.39-1.52x ->
//!   1.33-1.35x, 64 B delivered to one reader 15.4-17.5 -> 23.3-23.7 M
//!   frames/s).
//! - per slot, `owner`: `[committed:1][lap:31][writer tag:32]`, the writer
//!   (fleet node and incarnation) that claimed the slot for that lap (lap
//!   modulo 2^31), and whether it has committed it. Initialised to lap -1
//!   (all ones), committed, tag 0 (nobody). The owner words form an array
//!   of their own, apart from the slots: the claim's compare-and-swap then
//!   takes a cache line only writers use, never the line a polling reader
//!   holds (a locked CAS on that line costs the writer a cross-core round trip
//!   before it can go on; measured, ring layout 2).
//!
//! # Writing position h
//!
//! 1. **Claim.** Read `head = h`. If `owner(h)` already names lap(h), someone
//!    claimed h: help by CAS `head: h -> h+1` and retry. Otherwise the slot
//!    still belongs to lap(h)-1; when the owner word says that lap committed,
//!    CAS `owner` to `(uncommitted, lap(h), me)`; the CAS winner owns position
//!    h and advances `head` (others help if it dies first). Recording the
//!    claimer in the same CAS that claims is what makes a crashed writer
//!    identifiable. The claim reads no word of the slot itself: the slot's
//!    lines are the ones a polling reader holds, and loading one just before
//!    storing to it makes the writer fetch the line twice (ring layout 3).
//! 2. **Write** as a seqlock: `begin = 2*lap+1`, Release fence, the payload
//!    past the first line, then the first line's fields and payload bytes,
//!    all with Relaxed atomics (or opaque copies, see `sync::store_bytes`),
//!    then `seq = 2*lap+2` with Release.
//! 3. **Mark committed**: `owner = (committed, lap, me)` with Release, a plain
//!    store (nobody else writes an owner word its live claimer holds). The
//!    next lap's claimer waits for this bit, not for `seq`.
//!
//! A writer never waits for a reader. It waits only for the writer of the same
//! slot one lap earlier, and only while that writer's process is alive.
//!
//! # Crashed writers
//!
//! A writer killed between claim and its committed mark leaves
//! `owner = (uncommitted, lap, dead tag)`, and `seq` below `2*lap+2` unless it
//! died after its commit store (`begin` may say `2*lap+1` or not yet).
//! - Readers at that position see it pending. After a short wait they look up
//!   the owner: a dead owner means the frame will never come, so they skip it
//!   and count it lost. A live owner is waited for (up to a long bound, so a
//!   stopped process cannot stall a reader forever).
//! - The writer of the next lap (h+capacity) finds the slot uncommitted. It
//!   takes the slot over **only if the owner's process is dead** (the owner word
//!   names it; the fleet resolves pid + start time), by CAS-ing the dead owner
//!   word to its own claim. A dead process has no stores in flight, so none of
//!   its half-written bytes can land after the takeover; the new writer then
//!   sets `begin` to its own value and rewrites every field before it
//!   commits, so the half-written frame is never delivered: its position reads
//!   as overwritten (lost). (A writer that died after its commit store but
//!   before the committed mark is taken over the same way; its frame was
//!   whole and readers had it.) A live but preempted owner is never
//!   overtaken: its late stores would tear the new frame.
//!
//! # Reading position p
//!
//! `s1 = seq` (Acquire); if `s1 == 2*lap+2` copy the fields (Relaxed),
//! Acquire fence, then `b = begin`; `b == 2*lap+1` means the copy is a whole
//! frame: had any load seen a later lap's store, `b` would show that lap's
//! `begin` (the writer's Release fence orders it before all its stores). `s1 >
//! 2*lap+2` (or another `b`) means overwritten: lost. Anything smaller is "not
//! yet" (or, when `begin` names this lap, "being written") on the fast
//! path, which reads the slot's lines only; a *probe* (every so many empty polls, and in `wait`) also
//! reads the owner word, which tells a claimed position (being written or
//! not started: pending, its writer may have died) from an unclaimed one.
//! Pending is never reported as lost unless its writer is dead.

use crate::sync::{
    AtomicU32, AtomicU64, Ordering, fence, load_bytes, prefetch_read, prefetch_write, spin_hint,
    store_bytes,
};

/// Bytes of a slot before the payload's second part (see [`SlotHeader`]).
pub(crate) const SLOT_HEADER_SIZE: usize = std::mem::size_of::<SlotHeader>();

/// Shared control block of a ring (its own cache lines).
#[repr(C, align(64))]
pub(crate) struct RingControl {
    pub(crate) head: AtomicU64,
    _pad0: [u64; 7],
    /// Readers blocked in `wait` (they only sleep after registering here).
    pub(crate) waiters: AtomicU32,
    /// The futex word; bumped by a writer that saw waiters.
    pub(crate) futex: AtomicU32,
    _pad1: [u32; 14],
    /// Slots taken over from dead writers.
    pub(crate) takeovers: AtomicU64,
    /// A single-writer ring's writer: `[handle serial:32][writer tag:32]`,
    /// 0 when nobody holds the role (see `Ring::writer`).
    pub(crate) writer: AtomicU64,
    _pad2: [u64; 6],
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<RingControl>() == 192);
    assert!(std::mem::offset_of!(RingControl, waiters) == 64);
    assert!(std::mem::offset_of!(RingControl, takeovers) == 128);
    assert!(std::mem::offset_of!(RingControl, writer) == 136);
};

impl RingControl {
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RingControl {
            head: AtomicU64::new(0),
            _pad0: [0; 7],
            waiters: AtomicU32::new(0),
            futex: AtomicU32::new(0),
            _pad1: [0; 14],
            takeovers: AtomicU64::new(0),
            writer: AtomicU64::new(0),
            _pad2: [0; 6],
        }
    }
}

/// Payload bytes kept in a slot's first line, after the header fields.
pub(crate) const HEAD_PAYLOAD: usize = 32;

/// Payload bytes a slot's first two lines hold: the first line's
/// [`HEAD_PAYLOAD`] and 32 more from byte 96 on (every slot has both lines:
/// strides are 128 bytes or more). A frame in one piece of up to this many
/// bytes is stored word by word in a fixed sequence (see
/// [`RingView::publish_small`]).
pub(crate) const SMALL_PAYLOAD: usize = HEAD_PAYLOAD + 32;

/// The fixed part of a slot: its first line (`seq`, `id`, `ver`, `meta`
/// and the first [`HEAD_PAYLOAD`] payload bytes), then `begin`, the first
/// word of its second line; the rest of the payload starts at byte 96.
///
/// The line a polling reader reads (the first) is stored to once per
/// frame, at its end: `begin`, the seqlock's opening word, is on the
/// second line (see the module docs).
#[repr(C)]
pub(crate) struct SlotHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) id: AtomicU64,
    pub(crate) ver: AtomicU64,
    /// `len:32 | kind:8 << 32`.
    pub(crate) meta: AtomicU64,
    /// Payload bytes `0..HEAD_PAYLOAD`.
    pub(crate) head: [AtomicU64; HEAD_PAYLOAD / 8],
    /// `2*lap+1` once the writer of `lap` has begun writing the slot.
    pub(crate) begin: AtomicU64,
    /// Puts the rest of the payload 32-byte aligned, as its first bytes are
    /// (the copies move 32 bytes at a time; with the rest 8 bytes off, right
    /// after `begin`, the 1 KiB one-way p50 went from 1.15x to 1.21x the copy
    /// floor, likely because every other move straddled two lines).
    _pad: [u64; 3],
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<SlotHeader>() == 96);
    assert!(std::mem::offset_of!(SlotHeader, meta) == 24);
    assert!(std::mem::offset_of!(SlotHeader, head) == 32);
    assert!(std::mem::offset_of!(SlotHeader, begin) == 64);
    // A small frame's payload past the first line ends with the second.
    assert!(SLOT_HEADER_SIZE + (SMALL_PAYLOAD - HEAD_PAYLOAD) == 128);
};

impl SlotHeader {
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        SlotHeader {
            seq: AtomicU64::new(0),
            id: AtomicU64::new(0),
            ver: AtomicU64::new(0),
            meta: AtomicU64::new(0),
            head: std::array::from_fn(|_| AtomicU64::new(0)),
            begin: AtomicU64::new(0),
            _pad: [0; 3],
        }
    }
}

/// Bytes of a slot that a frame of `len` payload bytes spans (from the
/// slot's start): the header and `begin` always, then the payload beyond
/// the first line's.
#[inline]
pub(crate) fn frame_bytes(len: usize) -> usize {
    SLOT_HEADER_SIZE + len.saturating_sub(HEAD_PAYLOAD)
}

/// The committed bit of an owner word.
pub(crate) const COMMITTED: u64 = 1 << 63;
/// Laps are kept modulo 2^31 in owner words.
const LAP_CODE_MASK: u32 = 0x7FFF_FFFF;

/// Owner word of a never-claimed slot: lap -1, committed, nobody.
pub(crate) const INITIAL_OWNER: u64 = COMMITTED | ((LAP_CODE_MASK as u64) << 32);

/// A lap as owner words keep it.
#[inline]
pub(crate) fn lap_code(lap: u64) -> u32 {
    lap as u32 & LAP_CODE_MASK
}
/// The owner word of a claim of `lap` by `tag`, not committed yet.
#[inline]
pub(crate) fn owner_word(lap: u64, tag: u32) -> u64 {
    ((lap_code(lap) as u64) << 32) | tag as u64
}
/// The lap an owner word names (see [`lap_code`]).
#[inline]
pub(crate) fn owner_lap(w: u64) -> u32 {
    (w >> 32) as u32 & LAP_CODE_MASK
}
#[inline]
pub(crate) fn owner_committed(w: u64) -> bool {
    w & COMMITTED != 0
}
#[inline]
pub(crate) fn owner_tag(w: u64) -> u32 {
    w as u32
}

/// What a single read attempt found at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// A whole frame was copied.
    Frame {
        id: u64,
        ver: u64,
        kind: u8,
        len: u32,
    },
    /// The frame fits no buffer of this size; nothing was consumed.
    TooSmall { len: u32 },
    /// The position was overwritten (before or during the copy).
    Overwritten,
    /// Claimed by a writer that has not committed; `owner` names it.
    Pending { owner: u64 },
    /// Not claimed yet (the position is at or beyond the head); without a
    /// probe also: claimed but not started.
    NotYet,
    /// Being written (its `begin` names this lap, its `seq` not yet), seen
    /// without a probe: the writer is not known.
    Writing,
}

/// What the reader's fast path ([`RingView::read_whole`]) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Whole {
    /// A whole frame was copied.
    Frame {
        id: u64,
        ver: u64,
        kind: u8,
        len: u32,
    },
    /// The slot shows an earlier lap: nothing committed there yet.
    Empty,
    /// Anything else: the slow path tells it apart.
    Other,
}

/// A view of one ring's memory.
pub(crate) struct RingView {
    pub(crate) ctl: *const RingControl,
    /// `capacity` owner words (see the module docs), 64-aligned.
    pub(crate) owners: *const AtomicU64,
    pub(crate) slots: *const u8,
    pub(crate) stride: usize,
    pub(crate) mask: u64,
    pub(crate) shift: u32,
    pub(crate) max_payload: usize,
}

// SAFETY: the view only points into memory owned by the ring (a mapping or, under
// loom, a heap block) that outlives it; every shared access is atomic.
unsafe impl Send for RingView {}
// SAFETY: as above.
unsafe impl Sync for RingView {}

/// Spins before a writer waiting on a previous lap consults liveness (loom
/// explores every spin, so its models use one).
#[cfg(not(loom))]
const SPINS_BEFORE_LIVENESS: u32 = 256;
#[cfg(loom)]
const SPINS_BEFORE_LIVENESS: u32 = 1;

/// Frames of up to this many lines have all of them asked for ahead of the
/// writer's stores (see `prefetch_frame`).
const PREFETCH_LINES: usize = 32;

/// Spins on a slot state that no writer leaves before a claim gives up on
/// the segment as damaged (tens of milliseconds; a consistent ring shows such
/// a state only until a store becomes visible).
const DAMAGED_SPINS: u32 = 1 << 22;

impl RingView {
    #[inline]
    pub(crate) fn ctl(&self) -> &RingControl {
        // SAFETY: `ctl` points at the ring's control block for the view's lifetime.
        unsafe { &*self.ctl }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    #[inline]
    pub(crate) fn lap(&self, pos: u64) -> u64 {
        pos >> self.shift
    }

    #[inline]
    pub(crate) fn slot(&self, pos: u64) -> &SlotHeader {
        let idx = (pos & self.mask) as usize;
        // SAFETY: idx < capacity and the slot area holds capacity * stride bytes;
        // stride is a multiple of 8 (64 in shared memory) so the header is aligned.
        unsafe { &*(self.slots.add(idx * self.stride).cast::<SlotHeader>()) }
    }

    /// The owner word of `pos`'s slot.
    #[inline]
    pub(crate) fn owner(&self, pos: u64) -> &AtomicU64 {
        // SAFETY: (pos & mask) < capacity and the owner array holds capacity
        // 8-aligned words for the view's lifetime.
        unsafe { &*self.owners.add((pos & self.mask) as usize) }
    }

    /// The payload words of a frame of `words` words: those in the slot's
    /// first line, and those from byte 96 on.
    #[inline]
    pub(crate) fn payload_words<'s>(
        &self,
        slot: &'s SlotHeader,
        words: usize,
    ) -> (&'s [AtomicU64], &'s [AtomicU64]) {
        debug_assert!(words * 8 <= self.max_payload + 7);
        let in_head = words.min(slot.head.len());
        // SAFETY: the slot holds round_up(max_payload, 8) - HEAD_PAYLOAD bytes
        // of 8-aligned words right after the header (when max_payload is
        // over HEAD_PAYLOAD); callers never ask for more, and ask for none
        // past the head otherwise.
        let tail = unsafe {
            std::slice::from_raw_parts(
                (slot as *const SlotHeader as *const u8)
                    .add(SLOT_HEADER_SIZE)
                    .cast::<AtomicU64>(),
                words - in_head,
            )
        };
        (&slot.head[..in_head], tail)
    }

    /// Asks for the lines a frame of `len` bytes at `pos` will be stored to.
    /// The stores will need them exclusively (a reader that read the slot
    /// last lap, or polls it now, holds them): asking for all of them at
    /// once, before the claim, overlaps their transfers with each other and
    /// with the claim (measured: a 1 KiB one-way latency 120 -> 105 ns). A
    /// long frame gets its first two only: its copy streams, and asking for
    /// 64 lines up front made 8 KiB slower (310 -> 390 ns).
    #[inline]
    pub(crate) fn prefetch_frame(&self, pos: u64, len: usize) {
        let first = self.slot(pos) as *const SlotHeader as *const u8;
        let mut lines = frame_bytes(len).div_ceil(64);
        if lines > PREFETCH_LINES {
            lines = 2;
        }
        for i in 0..lines {
            // wrapping_add: only a hint's address, never dereferenced.
            prefetch_write(first.wrapping_add(i * 64));
        }
    }

    /// [`RingView::prefetch_frame`] of a small frame (at most
    /// [`SMALL_PAYLOAD`] bytes): the slot's first two lines.
    #[inline(always)]
    pub(crate) fn prefetch_small(&self, pos: u64) {
        let first = self.slot(pos) as *const SlotHeader as *const u8;
        prefetch_write(first);
        // wrapping_add: only a hint's address, never dereferenced.
        prefetch_write(first.wrapping_add(64));
    }

    /// Asks, right after a commit, for the lines of the slot at `pos` (the
    /// position this writer is likely to take next) that a frame of `len`
    /// bytes will be stored to, from its third line on. A reader that read
    /// that slot a lap ago still holds its lines; fetching them now, while
    /// nothing waits on them, takes their transfers out of the next write
    /// (a writer that waits between frames, as in request and response,
    /// then stores to lines already its own; measured with `orbit-peers
    /// --suite latency`, 8 interleaved blocks a build: 1 KiB one-way p50
    /// 1.27x -> 1.12x the copy floor, 8 KiB 1.66x -> 1.40x).
    ///
    /// The first two lines are left alone: a reader that keeps up polls the
    /// slot's first line and prefetches its second (`prefetch_second_line`);
    /// taking those from it ahead of the write only makes both sides fetch
    /// them twice (asking for them too gave no steady 64 B gain). `whole`:
    /// the caller is the ring's only writer, so `pos` is surely its next
    /// position, and a frame of any length is asked for. Otherwise another
    /// writer may already be storing to `pos`, and a frame longer than
    /// `PREFETCH_LINES` lines gets nothing: fetching a hundred lines from a
    /// writer in the middle of its copy slows it (two writer threads at
    /// 8 KiB: 2.8 -> 2.2 M frames/s).
    #[inline]
    pub(crate) fn prefetch_next_slot(&self, pos: u64, len: usize, whole: bool) {
        let lines = frame_bytes(len).div_ceil(64);
        if lines > PREFETCH_LINES && !whole {
            return;
        }
        let first = self.slot(pos) as *const SlotHeader as *const u8;
        for i in 2..lines {
            // wrapping_add: only a hint's address, never dereferenced.
            prefetch_write(first.wrapping_add(i * 64));
        }
    }

    /// The claim of a single-writer ring's writer (`Ring::writer`), which
    /// alone moves `head`: position `next` (where its last claim left
    /// `head`) when the slot's previous lap is committed, claimed with plain
    /// stores, no locked instruction. `false` when that does not hold (a
    /// previous writer of the ring died mid-frame, or left `head` behind
    /// its last claim): the caller then claims with [`RingView::claim`],
    /// which handles those cases.
    #[inline]
    pub(crate) fn claim_single(&self, next: u64, tag: u32) -> bool {
        let lap = self.lap(next);
        let owner = self.owner(next);
        // Acquire: pairs with the Release committed mark of the previous lap.
        let o = owner.load(Ordering::Acquire);
        if owner_lap(o) != lap_code(lap.wrapping_sub(1)) || !owner_committed(o) {
            return false;
        }
        // Relaxed: only this writer stores to claimed owner words and head
        // of this ring (takeovers aside, which need our process dead); the
        // Release store of head below, and the Release fence in `publish_parts`,
        // order it before anything that depends on it.
        owner.store(owner_word(lap, tag), Ordering::Relaxed);
        // Release: pairs with the Acquire head loads of cursors and of
        // `claim`: the owner word of every position below head is set.
        self.ctl()
            .head
            .store(next.wrapping_add(1), Ordering::Release);
        true
    }

    /// Claims the next position for the writer `tag`. `is_dead(tag)` decides
    /// whether a slot stuck at the previous lap may be taken over.
    ///
    /// `None` when the owner word at the head stays in a state no writer
    /// leaves (a lap that is neither the head's nor the one before it, at an
    /// unchanged head): only a damaged segment does that, and waiting for it
    /// would never end.
    #[inline]
    pub(crate) fn claim(
        &self,
        tag: u32,
        is_dead: &dyn Fn(u32) -> bool,
        mut on_wait: impl FnMut(),
    ) -> Option<u64> {
        let ctl = self.ctl();
        let mut spins = 0u32;
        // Consecutive observations of an impossible owner word at an unchanged head.
        let (mut impossible, mut impossible_at) = (0u32, u64::MAX);
        loop {
            // Acquire: pairs with the Release half of the head CAS below, so the
            // owner word of h-1 claimed before it is visible.
            let h = ctl.head.load(Ordering::Acquire);
            let lap = self.lap(h);
            let owner = self.owner(h);
            // Acquire: pairs with the AcqRel owner CAS of the claimer, and with
            // the Release committed mark of the previous lap's writer (so all
            // its slot stores are ordered before ours).
            let o = owner.load(Ordering::Acquire);
            if owner_lap(o) == lap_code(lap) {
                // Position h is claimed; help its claimer advance head.
                let _ = ctl.head.compare_exchange(
                    h,
                    h.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                continue;
            }
            let prev = owner_lap(o) == lap_code(lap.wrapping_sub(1));
            if prev && owner_committed(o) {
                // AcqRel: Release publishes the claim to helpers and readers'
                // owner lookups; Acquire as for the load above.
                if owner
                    .compare_exchange(o, owner_word(lap, tag), Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    let _ = ctl.head.compare_exchange(
                        h,
                        h.wrapping_add(1),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    return Some(h);
                }
                continue;
            }
            if ctl.head.load(Ordering::Relaxed) != h {
                // Our view of head is stale (another writer already moved
                // on); let the newer values reach us.
                spin_hint();
                continue;
            }
            if !prev {
                // Neither this lap nor the one before: the claim CAS of the
                // previous lap not visible yet, or (if it lasts) a damaged slot.
                if impossible_at != h {
                    (impossible, impossible_at) = (0, h);
                }
                impossible += 1;
                if impossible > DAMAGED_SPINS {
                    return None;
                }
                spin_hint();
                continue;
            }
            // The writer of h - capacity has not committed yet.
            spins += 1;
            if spins < SPINS_BEFORE_LIVENESS {
                spin_hint();
                continue;
            }
            spins = 0;
            if is_dead(owner_tag(o)) {
                // Takeover: the owner's process is gone, no store of it is in
                // flight. AcqRel as for a normal claim.
                if owner
                    .compare_exchange(o, owner_word(lap, tag), Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    ctl.takeovers.fetch_add(1, Ordering::Relaxed);
                    let _ = ctl.head.compare_exchange(
                        h,
                        h.wrapping_add(1),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    return Some(h);
                }
                continue;
            }
            on_wait();
        }
    }

    /// Writes and commits the position `pos` that `tag` claimed.
    /// `payload.len() <= max_payload`.
    #[cfg(loom)]
    pub(crate) fn publish(&self, pos: u64, tag: u32, id: u64, kind: u8, ver: u64, payload: &[u8]) {
        self.publish_parts(pos, tag, id, kind, ver, &[payload]);
    }

    /// [`RingView::publish`] of a payload given in pieces (the event bus writes
    /// its topic header and the caller's payload without joining them first).
    /// The pieces' total length is at most `max_payload`.
    #[inline]
    pub(crate) fn publish_parts(
        &self,
        pos: u64,
        tag: u32,
        id: u64,
        kind: u8,
        ver: u64,
        parts: &[&[u8]],
    ) {
        if let [one] = parts
            && one.len() <= SMALL_PAYLOAD
        {
            self.publish_small(pos, tag, id, kind, ver, one);
            return;
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        debug_assert!(total <= self.max_payload);
        let lap = self.lap(pos);
        let slot = self.slot(pos);
        slot.begin
            .store(lap.wrapping_mul(2).wrapping_add(1), Ordering::Relaxed);
        // Release fence: orders `begin` before every store below; pairs with
        // the Acquire fence in `copy_committed`, so a reader that sees any
        // of this frame's stores also sees `begin` changed when it reads it
        // after its copy.
        fence(Ordering::Release);
        let meta = total as u64 | ((kind as u64) << 32);
        let (head, tail) = self.payload_words(slot, total.div_ceil(8));
        // The second line on first, the first line (the one a polling reader
        // reads) last, so that it is stored to once, just before the commit.
        if let [one] = parts {
            // The common case (a ring write): one piece.
            let split = one.len().min(HEAD_PAYLOAD);
            store_bytes(tail, &one[split..]);
            slot.id.store(id, Ordering::Relaxed);
            slot.ver.store(ver, Ordering::Relaxed);
            slot.meta.store(meta, Ordering::Relaxed);
            // A fixed length for every frame that fills the first line's
            // words: the copy then compiles to four stores, no loop or tail
            // test (a 64 B send + receive 457 -> 421 instructions, when such
            // frames took this path; they now take `publish_small`).
            match one.first_chunk::<HEAD_PAYLOAD>() {
                Some(first) => store_bytes(&slot.head, first),
                None => store_bytes(head, one),
            }
        } else {
            store_parts(tail.iter(), parts, HEAD_PAYLOAD);
            slot.id.store(id, Ordering::Relaxed);
            slot.ver.store(ver, Ordering::Relaxed);
            slot.meta.store(meta, Ordering::Relaxed);
            store_parts(head.iter(), parts, 0);
        }
        // Release: the commit; pairs with the Acquire `seq` loads in `try_read`.
        slot.seq
            .store(lap.wrapping_mul(2).wrapping_add(2), Ordering::Release);
        // Release: the committed mark, after every store to the slot; pairs
        // with the Acquire owner load of the next lap's claimer.
        self.owner(pos)
            .store(COMMITTED | owner_word(lap, tag), Ordering::Release);
    }

    /// [`RingView::publish_parts`] of one piece of at most [`SMALL_PAYLOAD`]
    /// bytes (and at most `max_payload`): the same protocol as the general
    /// path's, each word of the payload made ([`small_word`]) and stored in
    /// a fixed sequence, with none of the length tests and copy set-up that
    /// a frame of any length needs (a 64 B send + receive: 423 -> 351
    /// instructions, callgrind, `benches/peers/profile.sh`).
    #[inline(always)]
    pub(crate) fn publish_small(
        &self,
        pos: u64,
        tag: u32,
        id: u64,
        kind: u8,
        ver: u64,
        payload: &[u8],
    ) {
        debug_assert!(payload.len() <= SMALL_PAYLOAD.min(self.max_payload));
        let lap = self.lap(pos);
        let slot = self.slot(pos);
        slot.begin
            .store(lap.wrapping_mul(2).wrapping_add(1), Ordering::Relaxed);
        // Release fence: as in `publish_parts`.
        fence(Ordering::Release);
        let (_, tail) = self.payload_words(slot, payload.len().div_ceil(8));
        // As in `publish_parts`: the second line first, the polled line last.
        for (k, w) in tail.iter().enumerate() {
            w.store(small_word(payload, HEAD_PAYLOAD / 8 + k), Ordering::Relaxed);
        }
        slot.id.store(id, Ordering::Relaxed);
        slot.ver.store(ver, Ordering::Relaxed);
        slot.meta.store(
            payload.len() as u64 | ((kind as u64) << 32),
            Ordering::Relaxed,
        );
        // All of the first line's words, zeros past the payload.
        for (k, w) in slot.head.iter().enumerate() {
            w.store(small_word(payload, k), Ordering::Relaxed);
        }
        // Release: the commit; pairs with the Acquire `seq` loads in `try_read`.
        slot.seq
            .store(lap.wrapping_mul(2).wrapping_add(2), Ordering::Release);
        // Release: the committed mark; as in `publish_parts`.
        self.owner(pos)
            .store(COMMITTED | owner_word(lap, tag), Ordering::Release);
    }

    /// Wakes blocked readers if there are any. The SeqCst fence pairs with the
    /// one in the reader's registration (`Cursor::wait`): either the writer
    /// sees the reader registered, or the reader sees the commit.
    #[inline]
    pub(crate) fn after_commit(&self, wake: impl FnOnce(&AtomicU32)) {
        fence(Ordering::SeqCst);
        let ctl = self.ctl();
        if ctl.waiters.load(Ordering::Relaxed) > 0 {
            ctl.futex.fetch_add(1, Ordering::Relaxed);
            wake(&ctl.futex);
        }
    }

    /// The reader's fast path: the frame at `pos` if it is committed, fits
    /// `buf` and was copied whole (`Whole::Frame`); `Whole::Empty` when the
    /// slot shows an earlier lap (what [`RingView::try_read`] without a probe
    /// or a look calls `NotYet`); `Whole::Other` for anything else (being
    /// written, overwritten, too long, damaged), which `try_read` then
    /// tells apart.
    #[inline(always)]
    pub(crate) fn read_whole(&self, pos: u64, buf: &mut [u8]) -> Whole {
        let slot = self.slot(pos);
        // As in `try_read`: a lap whose seq values overflow is never reached.
        let Some(committed) = self.lap(pos).checked_mul(2).and_then(|c| c.checked_add(2)) else {
            return Whole::Other;
        };
        self.prefetch_second_line(slot);
        // Acquire: pairs with the Release commit in `publish_parts`.
        let s1 = slot.seq.load(Ordering::Acquire);
        if s1 != committed {
            return if s1 < committed {
                Whole::Empty
            } else {
                Whole::Other
            };
        }
        match self.copy_committed(slot, s1, buf) {
            ReadOutcome::Frame { id, ver, kind, len } => Whole::Frame { id, ver, kind, len },
            _ => Whole::Other,
        }
    }

    /// Asks for a slot's second line (`begin`, payload bytes 32..64) while
    /// its `seq` is polled, so that it arrives alongside the `seq` line
    /// instead of after it (every slot has one: strides are 128 bytes or
    /// more). Measured with `orbit-peers --suite fanout`: a reader keeping
    /// up with one 64 B writer received 29-30 M frames/s with it and 16-28 M
    /// without (65-71 and 17-38 M behind a single writer); no change in the
    /// 64 B one-way p50.
    #[inline(always)]
    fn prefetch_second_line(&self, slot: &SlotHeader) {
        prefetch_read(std::ptr::from_ref(&slot.begin).cast::<u8>());
    }

    /// Copies the frame of a slot whose `seq` was just loaded as the
    /// committed value `s1 = 2*lap+2` (Acquire) into `buf`, and tells
    /// whether the copy is whole: `Frame`, `TooSmall` (the frame's length),
    /// or `Overwritten` (a writer of a later lap began meanwhile, or a
    /// damaged length).
    #[inline(always)]
    fn copy_committed(&self, slot: &SlotHeader, s1: u64, buf: &mut [u8]) -> ReadOutcome {
        let id = slot.id.load(Ordering::Relaxed);
        let ver = slot.ver.load(Ordering::Relaxed);
        let meta = slot.meta.load(Ordering::Relaxed);
        let len = (meta as u32 as usize).min(self.max_payload);
        let n = len.min(buf.len());
        let (head, tail) = self.payload_words(slot, n.div_ceil(8));
        let split = n.min(HEAD_PAYLOAD);
        let (buf_head, buf_tail) = buf[..n].split_at_mut(split);
        // As in `publish_parts`: a fixed length copies in four loads.
        match buf_head.first_chunk_mut::<HEAD_PAYLOAD>() {
            Some(first) => load_bytes(&slot.head, first),
            None => load_bytes(head, buf_head),
        }
        load_bytes(tail, buf_tail);
        // Acquire fence: pairs with the Release fence in `publish_parts`; if
        // any load above saw a later writer's store, the load of `begin`
        // below sees that writer's `begin` (or a later one).
        fence(Ordering::Acquire);
        if slot.begin.load(Ordering::Relaxed) != s1 - 1 {
            return ReadOutcome::Overwritten;
        }
        if meta as u32 as usize > self.max_payload {
            // A committed length beyond the limit is impossible unless the
            // segment was damaged; never read past the slot.
            return ReadOutcome::Overwritten;
        }
        if len > buf.len() {
            return ReadOutcome::TooSmall { len: len as u32 };
        }
        ReadOutcome::Frame {
            id,
            ver,
            kind: (meta >> 32) as u8,
            len: len as u32,
        }
    }

    /// One attempt to read position `pos` into `buf`. Without `probe`, a
    /// position whose slot shows an earlier lap is `NotYet` without looking
    /// at its owner word (the fast path touches the slot's line only); with
    /// `probe`, the owner word tells `NotYet` from a claimed position whose
    /// writer has not started writing (`Pending`) and from one already
    /// claimed for a later lap (`Overwritten`).
    /// `look`: without a probe, also tell `Writing` from `NotYet` (loads
    /// the slot's `begin`).
    #[inline(always)]
    pub(crate) fn try_read(
        &self,
        pos: u64,
        buf: &mut [u8],
        probe: bool,
        look: bool,
    ) -> ReadOutcome {
        let lap = self.lap(pos);
        let slot = self.slot(pos);
        // A lap whose seq values do not fit in a u64 is never reached (2^63
        // laps); only a damaged head sends a reader there. Wrapping would
        // make a never-written slot (seq 0) look committed.
        let Some(committed) = lap.checked_mul(2).and_then(|c| c.checked_add(2)) else {
            return ReadOutcome::NotYet;
        };
        self.prefetch_second_line(slot);
        // Acquire: pairs with the Release commit in `publish_parts`.
        let s1 = slot.seq.load(Ordering::Acquire);
        if s1 > committed {
            return ReadOutcome::Overwritten;
        }
        if s1 < committed {
            if !probe {
                // The fast path does not read the owner word: its cache line
                // is the one the writers' next claim needs (reading it here,
                // while a frame is being written, would put that line back
                // into the writer's critical path). A probe reads it.
                // With `look`, `begin` (on the second line, which
                // `prefetch_second_line` has asked for) tells a slot being
                // written from one not started, so that a reader finds a
                // writer stuck mid-frame. Not on every poll: a reader that
                // keeps pace would take that line from the writer mid-frame
                // (measured: 64 B one-way p50 1.38x -> 1.47x the line floor).
                // Relaxed: a hint for when to probe, it orders nothing.
                return if look && slot.begin.load(Ordering::Relaxed) == committed - 1 {
                    ReadOutcome::Writing
                } else {
                    ReadOutcome::NotYet
                };
            }
            // Acquire: pairs with the claim CAS. Every position below head has
            // its owner set to its lap before head moves past it, so an owner of
            // an earlier lap means "not claimed yet": a reader learns that from
            // the owner word alone and never touches the writers' head line.
            let owner = self.owner(pos).load(Ordering::Acquire);
            return if owner_lap(owner) == lap_code(lap) {
                ReadOutcome::Pending { owner }
            } else if owner_lap(owner) == lap_code(lap.wrapping_sub(1)) {
                ReadOutcome::NotYet
            } else {
                // Claimed for a later lap: this position's frame is gone.
                ReadOutcome::Overwritten
            };
        }
        self.copy_committed(slot, s1, buf)
    }
}

/// Word `i` (below `SMALL_PAYLOAD / 8`) of a payload of at most
/// [`SMALL_PAYLOAD`] bytes as little-endian words, zero-padded (the memory
/// image [`store_bytes`] leaves), from word-sized loads of the payload. Not
/// by copying the payload into a zeroed buffer first: loading words out of
/// a buffer that `memcpy` had just filled with 32-byte stores stalls on the
/// failed store-to-load forwarding (measured, `orbit-peers --profile
/// orbit-sw 64`, one process: 19 -> 26-28 ns per send + receive with such
/// a buffer on each side, for 117 fewer instructions).
#[inline(always)]
fn small_word(payload: &[u8], i: usize) -> u64 {
    let n = payload.len().min(SMALL_PAYLOAD);
    let p = payload.as_ptr();
    if (i + 1) * 8 <= n {
        // SAFETY: bytes i*8 .. i*8+8 are inside the payload.
        u64::from_le(unsafe { std::ptr::read_unaligned(p.add(i * 8).cast::<u64>()) })
    } else if i * 8 >= n {
        0
    } else if n >= 8 {
        // The last, partial word: the payload's last 8 bytes, shifted down
        // past the bytes of the word before.
        // SAFETY: n >= 8, so bytes n-8 .. n are inside the payload.
        let last = u64::from_le(unsafe { std::ptr::read_unaligned(p.add(n - 8).cast::<u64>()) });
        last >> (8 * (8 - (n - i * 8)))
    } else {
        // A payload shorter than a word.
        payload[..n]
            .iter()
            .rev()
            .fold(0u64, |w, b| (w << 8) | *b as u64)
    }
}

/// Stores a payload given in pieces, from its byte `skip` on (a multiple
/// of 8), into `words` (little-endian, the last word zero-padded, as
/// [`store_bytes`] does for one piece), as many bytes as there are words.
fn store_parts<'a>(
    mut words: impl Iterator<Item = &'a AtomicU64>,
    parts: &[&[u8]],
    mut skip: usize,
) {
    debug_assert!(skip % 8 == 0);
    // Bytes of a word that straddles two pieces.
    let mut acc = [0u8; 8];
    let mut fill = 0usize;
    for part in parts {
        let mut rest: &[u8] = part;
        if skip > 0 {
            let n = skip.min(rest.len());
            rest = &rest[n..];
            skip -= n;
        }
        if fill > 0 {
            let take = (8 - fill).min(rest.len());
            acc[fill..fill + take].copy_from_slice(&rest[..take]);
            fill += take;
            rest = &rest[take..];
            if fill < 8 {
                continue;
            }
            if let Some(w) = words.next() {
                w.store(u64::from_le_bytes(acc), Ordering::Relaxed);
            }
        }
        let mut chunks = rest.chunks_exact(8);
        // Chunks first: `zip` stops on them without taking a word.
        for (c, w) in (&mut chunks).zip(&mut words) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        let tail = chunks.remainder();
        acc = [0u8; 8];
        acc[..tail.len()].copy_from_slice(tail);
        fill = tail.len();
    }
    if fill > 0 {
        if let Some(w) = words.next() {
            w.store(u64::from_le_bytes(acc), Ordering::Relaxed);
        }
    }
}

/// Loom models of the slot protocol. Run with
/// `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib loom`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;

    /// Payload words a model's slot holds: the four of a slot's first line
    /// and one past `begin`. Most models write `SHORT` frames (first-line
    /// words only: fewer stores to explore); `overwrite_during_read_is_detected`
    /// writes frames of all `WORDS`, so both halves of a copy are explored.
    const WORDS: usize = 5;
    const SHORT: usize = 16;

    /// A slot: the header (with the first line's payload words) and the
    /// rest of a `WORDS`-word frame past `begin`.
    #[repr(C)]
    struct LoomSlot {
        hdr: SlotHeader,
        words: [AtomicU64; WORDS - HEAD_PAYLOAD / 8],
    }

    /// A ring in heap memory with loom atomics.
    struct Model {
        ctl: Box<RingControl>,
        owners: Box<[AtomicU64]>,
        slots: Box<[LoomSlot]>,
    }

    impl Model {
        fn new(capacity: usize) -> Arc<Model> {
            assert_eq!(std::mem::offset_of!(LoomSlot, words), SLOT_HEADER_SIZE);
            let slots = (0..capacity)
                .map(|_| LoomSlot {
                    hdr: SlotHeader::new(),
                    words: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect();
            Arc::new(Model {
                ctl: Box::new(RingControl::new()),
                owners: (0..capacity)
                    .map(|_| AtomicU64::new(INITIAL_OWNER))
                    .collect(),
                slots,
            })
        }

        fn view(&self) -> RingView {
            let capacity = self.slots.len() as u64;
            RingView {
                ctl: &*self.ctl,
                owners: self.owners.as_ptr(),
                slots: self.slots.as_ptr().cast(),
                stride: std::mem::size_of::<LoomSlot>(),
                mask: capacity - 1,
                shift: capacity.trailing_zeros(),
                max_payload: WORDS * 8,
            }
        }
    }

    /// A payload whose bytes are all `b`: a torn read mixes two values.
    fn payload(b: u8) -> [u8; WORDS * 8] {
        [b; WORDS * 8]
    }

    fn write(v: &RingView, tag: u32, b: u8, is_dead: &dyn Fn(u32) -> bool) -> u64 {
        write_len(v, tag, b, SHORT, is_dead)
    }

    fn write_len(v: &RingView, tag: u32, b: u8, len: usize, is_dead: &dyn Fn(u32) -> bool) -> u64 {
        let pos = v
            .claim(tag, is_dead, loom::thread::yield_now)
            .expect("a consistent ring");
        v.publish(pos, tag, pos, 0, b as u64, &payload(b)[..len]);
        pos
    }

    /// Reads `pos` with a probe (the owner-word logic too), as `wait` and
    /// reads by id do.
    fn check_read(v: &RingView, pos: u64) -> ReadOutcome {
        check_read_as(v, pos, true)
    }

    fn check_read_as(v: &RingView, pos: u64, probe: bool) -> ReadOutcome {
        let mut buf = [0u8; WORDS * 8];
        // The cursor's fast path first, as `Cursor::next_into` does.
        if let Whole::Frame { ver, len, .. } = v.read_whole(pos, &mut buf) {
            assert!(len as usize == SHORT || len as usize == WORDS * 8);
            assert!(
                buf[..len as usize].iter().all(|x| *x as u64 == ver),
                "torn frame {buf:?} ver {ver} (fast path)"
            );
        }
        let out = v.try_read(pos, &mut buf, probe, true);
        if let ReadOutcome::Frame { ver, len, .. } = out {
            assert!(len as usize == SHORT || len as usize == WORDS * 8);
            assert!(
                buf[..len as usize].iter().all(|x| *x as u64 == ver),
                "torn frame {buf:?} ver {ver}"
            );
        }
        out
    }

    /// One writer, one concurrent reader: the reader sees pending, or the whole
    /// frame, never a torn one.
    #[test]
    fn reader_never_sees_a_torn_frame() {
        // Every racing side runs in a spawned thread: loom 0.7 explores only one
        // schedule when the model's main thread itself races (loom#392).
        loom::model(|| {
            let m = Model::new(2);
            let m2 = m.clone();
            let w = loom::thread::spawn(move || {
                let v = m2.view();
                write(&v, 1 << 16, 7, &|_| false);
            });
            let m3 = m.clone();
            let r = loom::thread::spawn(move || match check_read(&m3.view(), 0) {
                ReadOutcome::Frame { ver, .. } => assert_eq!(ver, 7),
                ReadOutcome::Pending { .. } | ReadOutcome::NotYet => {}
                other => panic!("unexpected {other:?}"),
            });
            w.join().unwrap();
            r.join().unwrap();
            assert!(matches!(
                check_read(&m.view(), 0),
                ReadOutcome::Frame { ver: 7, .. }
            ));
        });
    }

    /// The same through a cursor's fast path (no probe: the slot only):
    /// not yet, being written, or the whole frame.
    #[test]
    fn fast_path_reader_never_sees_a_torn_frame() {
        loom::model(|| {
            let m = Model::new(2);
            let m2 = m.clone();
            let w = loom::thread::spawn(move || {
                let v = m2.view();
                write(&v, 1 << 16, 7, &|_| false);
            });
            let m3 = m.clone();
            let r = loom::thread::spawn(move || match check_read_as(&m3.view(), 0, false) {
                ReadOutcome::Frame { ver, .. } => assert_eq!(ver, 7),
                ReadOutcome::Writing | ReadOutcome::NotYet => {}
                other => panic!("unexpected {other:?}"),
            });
            w.join().unwrap();
            r.join().unwrap();
            assert!(matches!(
                check_read_as(&m.view(), 0, false),
                ReadOutcome::Frame { ver: 7, .. }
            ));
        });
    }

    /// A reader copying a committed frame while the next lap overwrites it:
    /// the copy is the old frame whole, or reported overwritten, never a mix
    /// (frames spanning both lines: `begin` and the words after it too).
    #[test]
    fn overwrite_during_read_is_detected() {
        loom::model(|| {
            let m = Model::new(1);
            write_len(&m.view(), 1 << 16, 1, WORDS * 8, &|_| false);
            let m2 = m.clone();
            let w = loom::thread::spawn(move || {
                write_len(&m2.view(), 1 << 16, 2, WORDS * 8, &|_| false)
            });
            let m3 = m.clone();
            let r = loom::thread::spawn(move || match check_read(&m3.view(), 0) {
                ReadOutcome::Frame { ver, .. } => assert_eq!(ver, 1),
                ReadOutcome::Overwritten => {}
                other => panic!("unexpected {other:?}"),
            });
            assert_eq!(w.join().unwrap(), 1);
            r.join().unwrap();
        });
    }

    /// Two writers lapping one slot (capacity 1) while a reader reads position 0:
    /// each position is claimed once, the second lap waits for the first, and a
    /// read of position 0 is whole, pending, or overwritten.
    #[test]
    fn writers_on_one_slot_serialise_by_lap() {
        loom::model(|| {
            let m = Model::new(1);
            let handles: Vec<_> = [(1u32, 1u8), (2, 2)]
                .into_iter()
                .map(|(node, b)| {
                    let m = m.clone();
                    loom::thread::spawn(move || write(&m.view(), node << 16, b, &|_| false))
                })
                .collect();
            let m3 = m.clone();
            let reader = loom::thread::spawn(move || {
                let _ = check_read(&m3.view(), 0);
            });
            let mut positions: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            reader.join().unwrap();
            let v = m.view();
            positions.sort();
            assert_eq!(positions, vec![0, 1]);
            assert_eq!(v.ctl().head.load(Ordering::Relaxed), 2);
            assert!(matches!(check_read(&v, 1), ReadOutcome::Frame { .. }));
            assert_eq!(check_read(&v, 0), ReadOutcome::Overwritten);
        });
    }

    /// A writer dies after claiming position 0 and storing part of its frame.
    /// A second writer laps onto the slot, sees the owner dead (only once all of
    /// the dead writer's stores are done, as for a real killed process), takes
    /// the slot over and commits position 1. A concurrent reader never gets a
    /// torn frame; position 0 is never delivered.
    #[test]
    fn takeover_of_a_dead_writers_slot() {
        loom::model(|| {
            let m = Model::new(1);
            let dead = Arc::new(AtomicBool::new(false));
            let (m1, d1) = (m.clone(), dead.clone());
            let victim = loom::thread::spawn(move || {
                let v = m1.view();
                let pos = v
                    .claim(1 << 16, &|_| false, loom::thread::yield_now)
                    .expect("a consistent ring");
                let slot = v.slot(pos);
                slot.begin.store(2 * v.lap(pos) + 1, Ordering::Relaxed);
                fence(Ordering::Release);
                slot.ver.store(9, Ordering::Relaxed);
                slot.meta.store(SHORT as u64, Ordering::Relaxed);
                v.payload_words(slot, 1).0[0].store(u64::from_le_bytes([9; 8]), Ordering::Relaxed);
                // "Killed" here: the second payload word and the commit never happen.
                // Release: pairs with the Acquire in the liveness check below.
                d1.store(true, Ordering::Release);
            });
            let (m2, d2) = (m.clone(), dead.clone());
            let survivor = loom::thread::spawn(move || {
                let v = m2.view();
                // Acquire: pairs with the victim's Release store of its death.
                let is_dead = move |tag: u32| tag == 1 << 16 && d2.load(Ordering::Acquire);
                // Wait until the victim has claimed position 0 so we lap onto it.
                while v.ctl().head.load(Ordering::Acquire) == 0 {
                    loom::thread::yield_now();
                }
                write(&v, 2 << 16, 5, &is_dead)
            });
            let m3 = m.clone();
            let reader = loom::thread::spawn(move || {
                let v = m3.view();
                let dead = check_read(&v, 0);
                assert!(
                    !matches!(dead, ReadOutcome::Frame { .. }),
                    "dead frame delivered"
                );
                let _ = check_read(&v, 1);
            });
            victim.join().unwrap();
            reader.join().unwrap();
            let v = m.view();
            assert_eq!(survivor.join().unwrap(), 1);
            assert!(matches!(
                check_read(&v, 1),
                ReadOutcome::Frame { ver: 5, .. }
            ));
            assert_eq!(v.ctl().takeovers.load(Ordering::Relaxed), 1);
        });
    }

    /// A writer dies after its commit store but before its committed mark:
    /// its frame is whole and readable; the next lap's writer waits for the
    /// mark, finds the owner dead and takes the slot over. A reader of
    /// position 0 gets the whole frame or finds it overwritten, never torn.
    #[test]
    fn writer_dead_between_commit_and_mark_is_taken_over() {
        loom::model(|| {
            let m = Model::new(1);
            let dead = Arc::new(AtomicBool::new(false));
            let (m1, d1) = (m.clone(), dead.clone());
            let victim = loom::thread::spawn(move || {
                let v = m1.view();
                let pos = v
                    .claim(1 << 16, &|_| false, loom::thread::yield_now)
                    .expect("a consistent ring");
                let slot = v.slot(pos);
                let lap = v.lap(pos);
                slot.begin.store(2 * lap + 1, Ordering::Relaxed);
                fence(Ordering::Release);
                slot.ver.store(9, Ordering::Relaxed);
                slot.meta.store(SHORT as u64, Ordering::Relaxed);
                let (head, tail) = v.payload_words(slot, SHORT / 8);
                for w in head.iter().chain(tail) {
                    w.store(u64::from_le_bytes([9; 8]), Ordering::Relaxed);
                }
                slot.seq.store(2 * lap + 2, Ordering::Release);
                // "Killed" here: the committed mark never happens.
                // Release: pairs with the Acquire in the liveness check below.
                d1.store(true, Ordering::Release);
            });
            let (m2, d2) = (m.clone(), dead.clone());
            let survivor = loom::thread::spawn(move || {
                let v = m2.view();
                // Acquire: pairs with the victim's Release store of its death.
                let is_dead = move |tag: u32| tag == 1 << 16 && d2.load(Ordering::Acquire);
                while v.ctl().head.load(Ordering::Acquire) == 0 {
                    loom::thread::yield_now();
                }
                write(&v, 2 << 16, 5, &is_dead)
            });
            let m3 = m.clone();
            let reader = loom::thread::spawn(move || match check_read(&m3.view(), 0) {
                ReadOutcome::Frame { ver, .. } => assert_eq!(ver, 9),
                ReadOutcome::Pending { .. } | ReadOutcome::NotYet | ReadOutcome::Overwritten => {}
                other => panic!("unexpected {other:?}"),
            });
            victim.join().unwrap();
            reader.join().unwrap();
            let v = m.view();
            assert_eq!(survivor.join().unwrap(), 1);
            assert!(matches!(
                check_read(&v, 1),
                ReadOutcome::Frame { ver: 5, .. }
            ));
            assert_eq!(v.ctl().takeovers.load(Ordering::Relaxed), 1);
        });
    }

    /// The single writer's claim (plain stores) as `Ring::writer` does it.
    fn write_single(
        v: &RingView,
        next: &mut u64,
        tag: u32,
        b: u8,
        is_dead: &dyn Fn(u32) -> bool,
    ) -> u64 {
        let pos = if v.claim_single(*next, tag) {
            *next
        } else {
            v.claim(tag, is_dead, loom::thread::yield_now)
                .expect("a consistent ring")
        };
        *next = pos + 1;
        v.publish(pos, tag, pos, 0, b as u64, &payload(b)[..SHORT]);
        pos
    }

    /// A single writer lapping one slot (capacity 1) with plain-store claims
    /// while a reader reads both positions: whole frames, never torn ones.
    #[test]
    fn single_writer_laps_under_a_reader() {
        loom::model(|| {
            let m = Model::new(1);
            let m2 = m.clone();
            let w = loom::thread::spawn(move || {
                let v = m2.view();
                let mut next = 0;
                let a = write_single(&v, &mut next, 1 << 16, 1, &|_| false);
                let b = write_single(&v, &mut next, 1 << 16, 2, &|_| false);
                (a, b)
            });
            let m3 = m.clone();
            let r = loom::thread::spawn(move || {
                let v = m3.view();
                for pos in 0..2 {
                    match check_read(&v, pos) {
                        ReadOutcome::Frame { ver, .. } => assert_eq!(ver, pos + 1),
                        ReadOutcome::Pending { .. }
                        | ReadOutcome::NotYet
                        | ReadOutcome::Overwritten => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
            assert_eq!(w.join().unwrap(), (0, 1));
            r.join().unwrap();
            let v = m.view();
            assert_eq!(v.ctl().head.load(Ordering::Relaxed), 2);
            assert!(matches!(
                check_read(&v, 1),
                ReadOutcome::Frame { ver: 2, .. }
            ));
        });
    }

    /// A single writer died between its owner store and its head store
    /// (`head` left on its claimed position). The next single writer starts
    /// at `head`, finds the position claimed, falls back to the CAS claim
    /// (which moves head past it) and writes the next position; a reader
    /// never gets a frame from the dead claim.
    #[test]
    fn single_writer_after_one_that_died_mid_claim() {
        loom::model(|| {
            let m = Model::new(2);
            // The dead writer's only store.
            m.view()
                .owner(0)
                .store(owner_word(0, 1 << 16), Ordering::Relaxed);
            let m2 = m.clone();
            let w = loom::thread::spawn(move || {
                let v = m2.view();
                let mut next = v.ctl().head.load(Ordering::Acquire);
                write_single(&v, &mut next, 2 << 16, 5, &|t| t == 1 << 16)
            });
            let m3 = m.clone();
            let r = loom::thread::spawn(move || {
                let v = m3.view();
                assert!(!matches!(check_read(&v, 0), ReadOutcome::Frame { .. }));
                let _ = check_read(&v, 1);
            });
            assert_eq!(w.join().unwrap(), 1);
            r.join().unwrap();
            let v = m.view();
            assert!(matches!(
                check_read(&v, 1),
                ReadOutcome::Frame { ver: 5, .. }
            ));
            assert!(matches!(check_read(&v, 0), ReadOutcome::Pending { .. }));
        });
    }
}
