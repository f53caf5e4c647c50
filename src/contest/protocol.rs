//! The lease-table entry protocol. Compiled under loom too (`TableView` works
//! on any memory that holds a [`ContestControl`] and the entries); time, our
//! identity and process liveness come in as arguments.
//!
//! # Words of an entry
//!
//! - `key`: which subject the entry holds: `[state:2 @62][gen:22 @40]
//!   [len:8 @32][hash:32]`. States: EMPTY (the whole word 0, never bound),
//!   WRITING (subject bytes being written), BOUND (bytes published), VACANT
//!   (bound to nothing; a binder died mid-way). `gen` grows on every rebinding.
//!   An entry never goes back to EMPTY, so a probe chain (home slot up to the
//!   first EMPTY entry) only ever grows: linear probing needs no tombstones.
//! - `state` (W): `[holder tag:32][v:32]`. Tag 0 = free; [`RESERVED`] = being
//!   rebound by the bind-lock holder; else the holder's fleet writer tag
//!   (`node << 16 | incarnation`). `v` counts every grant and every rebinding
//!   of the entry, so W never takes the same value twice (within 2^32
//!   transitions): a CAS on W from a value read earlier succeeds only if
//!   nothing happened in between.
//! - `expiry` (E): `[expires_at_ms:48][v:16]`, written by the holder of grant
//!   `v` right after winning it. E "belongs" to the current grant only when
//!   its low 16 bits equal W's `v`; until then the grant is in its claim window
//!   and counts as live. `expires_at_ms == 0` means *revoked*: a claimer is
//!   taking the expired lease over.
//! - `vhigh`: the highest full (64-bit) version written so far; the 32-bit `v`
//!   in W is widened against it (they differ by less than 2^31).
//! - `base`: the fencing token of grant `v` is `base + full(v)`. `base` is set
//!   when the entry is bound to a subject and never changes while it is.
//! - `pid`, `claimed_at_ms`: informational, written by the grant winner
//!   before E (so a reader that sees E of this grant sees them).
//! - `subject`: the subject bytes, word-wise, under the `key` seqlock.
//!
//! Table-wide: `bind_lock` (the tag of the process binding subjects, 0 when
//! free) and `token_floor` (at least every token of every subject ever
//! evicted from the table).
//!
//! # Invariants
//!
//! 1. A subject is BOUND in at most one entry. Binding (and rebinding) happens
//!    only under `bind_lock`, after a rescan of the subject's whole chain.
//! 2. A lease is granted only by a CAS on W, so two grants of one entry are
//!    ordered and the second one's CAS read the first one's W: tokens
//!    (`base + full(v)`) strictly increase with every grant of a binding.
//! 3. A subject rebound after eviction starts above `token_floor`, which was
//!    raised to its last token before it was evicted (both under the lock):
//!    tokens of a subject strictly increase across evictions too.
//! 4. A live lease (holder alive, E of this grant not expired) is never taken:
//!    a grant over a non-free W needs E expired (and revoked first, see
//!    below), or the holder's process dead.
//! 5. Expiry is decided on E alone: a takeover of an expired lease first CASes
//!    E to *revoked*, and `renew` CASes E to a later expiry; whichever CAS
//!    comes first wins, so a renewal that succeeded can never be overtaken by a
//!    claimer that saw the old expiry (a load of E then a CAS on W, without
//!    this, would race with a renewal's CAS on E and a check of W).
//!
//! # Killed at any instant
//!
//! - **A claimer** killed before its W CAS changed nothing. Killed after it,
//!   W names a dead tag; the next claimer's liveness check (pid + start time,
//!   from the fleet) sees it dead and takes the lease at once, whatever E
//!   says. The words the dead winner did not write (`vhigh`, `pid`, E) are
//!   tolerated: `vhigh` may lag (widening only needs it within 2^31), E of an
//!   older grant reads as "claim window", which defers to the liveness check.
//! - **A claimer revoking an expired lease**, killed between its E CAS and
//!   its W CAS, leaves E revoked: the lease reads as expired, anyone takes it.
//! - **A holder** killed while holding: dead tag, claimable at once.
//! - **A binder** (holder of `bind_lock`) killed: the next binder sees the
//!   lock's tag dead, steals it by CAS and repairs every RESERVED entry before
//!   doing anything else: an entry whose key is still BOUND stays bound to
//!   its subject, one caught WRITING becomes VACANT (reusable, still part of
//!   probe chains); W becomes free with `v + 1`. RESERVED and WRITING exist
//!   only under the lock, so after the repair none are left.
//!
//! Claims of subjects already bound never take the lock; only the first claim
//! of a subject (binding it, perhaps evicting another) does, or a claim that
//! finds its subject's entry RESERVED (it then waits for, or repairs after,
//! the binder).

use crate::sync::{AtomicU64, Ordering, fence, spin_hint};

/// Words of subject bytes per entry (1 under loom, to keep models small).
pub(crate) const SUBJECT_WORDS: usize = if cfg!(loom) { 1 } else { 16 };
/// Longest subject in bytes.
pub(crate) const MAX_SUBJECT_LEN: usize = SUBJECT_WORDS * 8;

/// W tag of an entry being rebound under the bind lock.
pub(crate) const RESERVED: u32 = u32::MAX;
/// Largest expiry E can hold (ms since the Unix epoch; year 10889).
pub(crate) const MAX_EXPIRY_MS: u64 = (1 << 48) - 1;

const K_WRITING: u64 = 1;
const K_BOUND: u64 = 2;
const K_VACANT: u64 = 3;
const GEN_MASK: u64 = (1 << 22) - 1;

/// Table-wide words (two cache lines).
#[repr(C, align(64))]
pub(crate) struct ContestControl {
    /// Tag of the process binding subjects, 0 when free.
    pub(crate) bind_lock: AtomicU64,
    _pad0: [u64; 7],
    /// At least every token of every subject evicted so far.
    pub(crate) token_floor: AtomicU64,
    /// Entries rebound from one subject to another.
    pub(crate) evictions: AtomicU64,
    /// Grants over an expired lease or a dead holder.
    pub(crate) takeovers: AtomicU64,
    /// Entries repaired after a binder died.
    pub(crate) repairs: AtomicU64,
    _pad1: [u64; 4],
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<ContestControl>() == 128);
    assert!(std::mem::offset_of!(ContestControl, token_floor) == 64);
};

impl ContestControl {
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        ContestControl {
            bind_lock: AtomicU64::new(0),
            _pad0: [0; 7],
            token_floor: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            repairs: AtomicU64::new(0),
            _pad1: [0; 4],
        }
    }
}

/// One lease entry (192 bytes; all-zero is EMPTY and free).
#[repr(C, align(64))]
pub(crate) struct LeaseEntry {
    pub(crate) key: AtomicU64,
    pub(crate) state: AtomicU64,
    pub(crate) expiry: AtomicU64,
    pub(crate) vhigh: AtomicU64,
    pub(crate) base: AtomicU64,
    pub(crate) pid: AtomicU64,
    pub(crate) claimed_at_ms: AtomicU64,
    _pad: u64,
    pub(crate) subject: [AtomicU64; SUBJECT_WORDS],
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<LeaseEntry>() == 192);
    assert!(std::mem::offset_of!(LeaseEntry, state) == 8);
    assert!(std::mem::offset_of!(LeaseEntry, expiry) == 16);
    assert!(std::mem::offset_of!(LeaseEntry, subject) == 64);
};

impl LeaseEntry {
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        LeaseEntry {
            key: AtomicU64::new(0),
            state: AtomicU64::new(0),
            expiry: AtomicU64::new(0),
            vhigh: AtomicU64::new(0),
            base: AtomicU64::new(0),
            pid: AtomicU64::new(0),
            claimed_at_ms: AtomicU64::new(0),
            _pad: 0,
            subject: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

#[inline]
fn w_pack(tag: u32, v: u32) -> u64 {
    ((tag as u64) << 32) | v as u64
}
#[inline]
pub(crate) fn w_tag(w: u64) -> u32 {
    (w >> 32) as u32
}
#[inline]
pub(crate) fn w_v(w: u64) -> u32 {
    w as u32
}
#[inline]
fn e_pack(ms: u64, v: u32) -> u64 {
    (ms.min(MAX_EXPIRY_MS) << 16) | (v as u16 as u64)
}
#[inline]
fn e_ms(e: u64) -> u64 {
    e >> 16
}
#[inline]
fn e_matches(e: u64, v: u32) -> bool {
    e as u16 == v as u16
}
#[inline]
fn k_pack(state: u64, generation: u64, len: usize, hash: u32) -> u64 {
    (state << 62) | ((generation & GEN_MASK) << 40) | ((len as u64 & 0xFF) << 32) | hash as u64
}
#[inline]
fn k_state(k: u64) -> u64 {
    k >> 62
}
#[inline]
fn k_gen(k: u64) -> u64 {
    (k >> 40) & GEN_MASK
}
#[inline]
fn k_len(k: u64) -> usize {
    ((k >> 32) & 0xFF) as usize
}

/// Widens a 32-bit version against the high-water mark `vhigh`: the full
/// value nearest to `vhigh` whose low 32 bits are `v`.
#[inline]
pub(crate) fn widen(vhigh: u64, v: u32) -> u64 {
    vhigh.wrapping_add(v.wrapping_sub(vhigh as u32) as i32 as i64 as u64)
}

/// FNV-1a, 64 bits: stable across processes, builds and versions.
pub(crate) fn subject_hash(subject: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in subject {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn subject_words(subject: &[u8]) -> [u64; SUBJECT_WORDS] {
    let mut out = [0u64; SUBJECT_WORDS];
    for (w, c) in out.iter_mut().zip(subject.chunks(8)) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        *w = u64::from_le_bytes(b);
    }
    out
}

/// How the previous grant ended, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prev {
    /// Released (or never granted).
    Free,
    /// Its TTL had passed.
    Expired,
    /// Its holder's process was gone.
    Dead,
}

/// A lease won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) idx: usize,
    pub(crate) v: u32,
    pub(crate) token: u64,
    pub(crate) prev: Prev,
    pub(crate) claimed_at_ms: u64,
    pub(crate) expires_at_ms: u64,
}

/// The outcome of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    Granted(Grant),
    /// A live holder has it (its tag).
    Held(u32),
    /// The subject is not in the table and no entry can take it.
    Full,
    /// The bind lock's live holder did not finish in the caller's patience.
    Busy,
}

/// What a reader of an entry sees now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HolderView {
    pub(crate) tag: u32,
    pub(crate) pid: u32,
    pub(crate) token: u64,
    pub(crate) claimed_at_ms: u64,
    pub(crate) expires_at_ms: u64,
}

/// Whether an entry's current lease may be taken.
enum Occupancy {
    Free,
    Reserved,
    Live(u32),
    /// Expired; holds E as read (to be revoked by CAS).
    Expired(u64),
    Dead,
}

/// The bind lock, held until dropped (so even an unexpected unwind releases it).
struct BindLock<'a>(&'a TableView);

impl Drop for BindLock<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire CAS of the next binder.
        self.0.ctl().bind_lock.store(0, Ordering::Release);
    }
}

/// A view of one lease table's memory.
pub(crate) struct TableView {
    pub(crate) ctl: *const ContestControl,
    pub(crate) entries: *const LeaseEntry,
    pub(crate) capacity: usize,
}

// SAFETY: the view only points into memory owned by the table (a mapping or,
// under loom, a heap block) that outlives it; every shared access is atomic.
unsafe impl Send for TableView {}
// SAFETY: as above.
unsafe impl Sync for TableView {}

/// Identity and clock of the caller of a mutation.
pub(crate) struct Caller<'a> {
    /// Our fleet writer tag (never 0 nor RESERVED).
    pub(crate) tag: u32,
    pub(crate) pid: u32,
    pub(crate) now_ms: u64,
    /// Whether the writer named by a tag is gone for good.
    pub(crate) is_dead: &'a dyn Fn(u32) -> bool,
    /// Called while waiting for a live bind-lock holder; false gives up.
    pub(crate) on_wait: &'a mut dyn FnMut() -> bool,
}

/// Spins on the bind lock before consulting liveness (loom explores every spin).
#[cfg(not(loom))]
const SPINS_BEFORE_LIVENESS: u32 = 128;
#[cfg(loom)]
const SPINS_BEFORE_LIVENESS: u32 = 1;

impl TableView {
    #[inline]
    pub(crate) fn ctl(&self) -> &ContestControl {
        // SAFETY: `ctl` points at the table's control block for the view's lifetime.
        unsafe { &*self.ctl }
    }

    #[inline]
    pub(crate) fn entry(&self, idx: usize) -> &LeaseEntry {
        let idx = idx.min(self.capacity - 1);
        // SAFETY: idx < capacity and the entry area holds capacity entries,
        // each 64-aligned (the segment body starts at a 64-aligned offset).
        unsafe { &*self.entries.add(idx) }
    }

    fn home(&self, hash: u64) -> usize {
        (hash % self.capacity as u64) as usize
    }

    /// Finds the entry BOUND to `subject` without locking: `(index, key)`.
    pub(crate) fn lookup(&self, subject: &[u8]) -> Option<(usize, u64)> {
        let hash = subject_hash(subject);
        let want = subject_words(subject);
        let nwords = subject.len().div_ceil(8);
        let home = self.home(hash);
        for i in 0..self.capacity {
            let idx = (home + i) % self.capacity;
            let e = self.entry(idx);
            loop {
                // Acquire: pairs with the Release store of BOUND in `bind_at`,
                // so the subject bytes below are at least the published ones.
                let k = e.key.load(Ordering::Acquire);
                if k == 0 {
                    return None; // end of the chain
                }
                if k_state(k) != K_BOUND || k_len(k) != subject.len() || k as u32 != hash as u32 {
                    break;
                }
                let mut same = true;
                for (w, x) in e.subject[..nwords].iter().zip(&want) {
                    same &= w.load(Ordering::Relaxed) == *x;
                }
                // Acquire fence: pairs with the Release fence after the WRITING
                // store in `bind_at`; if a load above saw a rebinding's bytes,
                // the re-read below sees the key changed.
                fence(Ordering::Acquire);
                if e.key.load(Ordering::Relaxed) != k {
                    continue; // rebound while we compared: look again
                }
                if same {
                    return Some((idx, k));
                }
                break;
            }
        }
        None
    }

    /// The subject entry `idx` is BOUND to, read under the key seqlock (as
    /// in [`lookup`](Self::lookup)); `None` for an entry bound to nothing.
    pub(crate) fn bound_subject(&self, idx: usize) -> Option<Vec<u8>> {
        let e = self.entry(idx);
        loop {
            // Acquire: pairs with the Release store of BOUND in `bind_at`.
            let k = e.key.load(Ordering::Acquire);
            if k_state(k) != K_BOUND {
                return None;
            }
            let len = k_len(k).min(MAX_SUBJECT_LEN);
            let mut bytes = Vec::with_capacity(SUBJECT_WORDS * 8);
            for w in &e.subject[..len.div_ceil(8)] {
                bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            bytes.truncate(len);
            // Acquire fence: pairs with the Release fence after the WRITING
            // store in `bind_at`; a rebinding seen above shows in the key.
            fence(Ordering::Acquire);
            if e.key.load(Ordering::Relaxed) == k {
                return Some(bytes);
            }
        }
    }

    fn occupancy(&self, e: &LeaseEntry, w: u64, c: &Caller<'_>) -> Occupancy {
        let (tag, v) = (w_tag(w), w_v(w));
        if tag == 0 {
            return Occupancy::Free;
        }
        if tag == RESERVED {
            return Occupancy::Reserved;
        }
        // Acquire: pairs with the Release store of E by the grant winner, so
        // an E of this grant comes with its pid and claimed_at.
        let ex = e.expiry.load(Ordering::Acquire);
        if e_matches(ex, v) && e_ms(ex) <= c.now_ms {
            return Occupancy::Expired(ex);
        }
        if tag != c.tag && (c.is_dead)(tag) {
            return Occupancy::Dead;
        }
        Occupancy::Live(tag)
    }

    /// Moves W from `w` to `new` if the lease in `w` may be taken: free,
    /// expired (revoking E first, invariant 5) or of a dead holder.
    /// `Err(Some(tag))` when live, `Err(None)` when W moved on (read again).
    fn take(&self, e: &LeaseEntry, w: u64, new: u64, c: &Caller<'_>) -> Result<Prev, Option<u32>> {
        let prev = match self.occupancy(e, w, c) {
            Occupancy::Free => Prev::Free,
            Occupancy::Reserved => return Err(Some(RESERVED)),
            Occupancy::Live(tag) => return Err(Some(tag)),
            Occupancy::Dead => Prev::Dead,
            Occupancy::Expired(ex) => {
                if e_ms(ex) != 0 {
                    let revoked = e_pack(0, w_v(w));
                    // AcqRel: orders against the holder's renewal CAS on E;
                    // whichever comes first in E's modification order wins.
                    if e.expiry
                        .compare_exchange(ex, revoked, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        return Err(None);
                    }
                }
                Prev::Expired
            }
        };
        // AcqRel: Acquire pairs with the Release of the previous W change
        // (grant, release, binder), so its `base`/`vhigh` are visible; Release
        // publishes our claim to the next CAS on W.
        e.state
            .compare_exchange(w, new, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| prev)
            .map_err(|_| None)
    }

    /// One attempt to win the lease of entry `idx` bound by key `k`.
    /// `Err(None)`: the entry is being rebound (look the subject up again).
    fn try_grant(
        &self,
        idx: usize,
        k: u64,
        ttl_ms: u64,
        c: &Caller<'_>,
    ) -> Result<Grant, Option<u32>> {
        let e = self.entry(idx);
        loop {
            // Acquire: pairs with the Release W changes (grant CAS, release
            // CAS, binder's store), so `base` below belongs to this binding.
            let w = e.state.load(Ordering::Acquire);
            // Acquire: pairs with the Release key stores of a rebinding, so a
            // W of the new binding is never judged against the old key.
            if e.key.load(Ordering::Acquire) != k {
                return Err(None);
            }
            // Read before our CAS: if the CAS succeeds, W did not change since
            // `w`, so no rebinding started and `base` is this binding's.
            let base = e.base.load(Ordering::Relaxed);
            let vhigh = e.vhigh.load(Ordering::Relaxed);
            let v = w_v(w).wrapping_add(1);
            let prev = match self.take(e, w, w_pack(c.tag, v), c) {
                Ok(p) => p,
                Err(Some(RESERVED)) => return Err(None),
                Err(Some(tag)) => return Err(Some(tag)),
                Err(None) => {
                    spin_hint();
                    continue;
                }
            };
            let full = widen(vhigh, v);
            e.vhigh.fetch_max(full, Ordering::Relaxed);
            // Release fence: a `holder` reader that sees a store below also
            // sees our W when it re-reads W after its Acquire fence.
            fence(Ordering::Release);
            let expires_at_ms = c.now_ms.saturating_add(ttl_ms).min(MAX_EXPIRY_MS);
            e.pid.store(c.pid as u64, Ordering::Relaxed);
            e.claimed_at_ms.store(c.now_ms, Ordering::Relaxed);
            // Release: publishes pid/claimed_at with E; pairs with the Acquire
            // loads of E in `occupancy` and `holder`.
            e.expiry.store(e_pack(expires_at_ms, v), Ordering::Release);
            if prev != Prev::Free {
                self.ctl().takeovers.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Grant {
                idx,
                v,
                token: base.wrapping_add(full),
                prev,
                claimed_at_ms: c.now_ms,
                expires_at_ms,
            });
        }
    }

    /// Claims `subject` for `ttl_ms` as the caller.
    pub(crate) fn claim(&self, subject: &[u8], ttl_ms: u64, c: &mut Caller<'_>) -> Claim {
        debug_assert!(!subject.is_empty() && subject.len() <= MAX_SUBJECT_LEN);
        if let Some((idx, k)) = self.lookup(subject) {
            match self.try_grant(idx, k, ttl_ms, c) {
                Ok(g) => return Claim::Granted(g),
                Err(Some(tag)) => return Claim::Held(tag),
                // Being rebound: the locked path waits for the binder (or
                // repairs after a dead one) and finds or binds the subject.
                Err(None) => {}
            }
        }
        let Some(_guard) = self.lock(c) else {
            return Claim::Busy;
        };
        // Under the lock nothing is rebound, so a subject bound here cannot be
        // evicted again before we try to win it.
        let (idx, k) = match self.bind_locked(subject, c) {
            Ok(found) => found,
            Err(claim) => return claim,
        };
        match self.try_grant(idx, k, ttl_ms, c) {
            Ok(g) => Claim::Granted(g),
            Err(Some(tag)) => Claim::Held(tag),
            Err(None) => Claim::Busy, // impossible under the lock
        }
    }

    /// Extends grant `v` of entry `idx` held by `c.tag` to `now + ttl`. Works
    /// after expiry as long as nobody started taking the lease over.
    /// `Err(())`: lost (taken, revoked, released, or rebound).
    pub(crate) fn renew(&self, idx: usize, v: u32, ttl_ms: u64, c: &Caller<'_>) -> Result<u64, ()> {
        let e = self.entry(idx);
        let expires_at_ms = c.now_ms.saturating_add(ttl_ms).min(MAX_EXPIRY_MS);
        loop {
            // Acquire: pairs with the Release store of E by a later grant's
            // winner (whose E then no longer matches our v).
            let ex = e.expiry.load(Ordering::Acquire);
            if !e_matches(ex, v) || e_ms(ex) == 0 {
                return Err(());
            }
            // AcqRel: arbitrates with a claimer's revoking CAS on E (invariant 5).
            if e.expiry
                .compare_exchange(
                    ex,
                    e_pack(expires_at_ms, v),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                break;
            }
            spin_hint();
        }
        // Acquire: pairs with the Release half of any W change; an E of our v
        // with W no longer ours means released or rebound.
        if e.state.load(Ordering::Acquire) != w_pack(c.tag, v) {
            return Err(());
        }
        Ok(expires_at_ms)
    }

    /// Releases grant `v` of entry `idx`. `Err(())`: it was not ours any more.
    pub(crate) fn release(&self, idx: usize, v: u32, tag: u32) -> Result<(), ()> {
        // Release: our critical section happens-before the next grant's
        // Acquire CAS on W.
        self.entry(idx)
            .state
            .compare_exchange(
                w_pack(tag, v),
                w_pack(0, v),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .map(|_| ())
            .map_err(|_| ())
    }

    /// The current holder of `subject`, if a live, unexpired one exists.
    pub(crate) fn holder(&self, subject: &[u8], c: &Caller<'_>) -> Option<HolderView> {
        let (idx, k) = self.lookup(subject)?;
        let e = self.entry(idx);
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the Release W changes.
            let w1 = e.state.load(Ordering::Acquire);
            let (tag, v) = (w_tag(w1), w_v(w1));
            if tag == 0 || tag == RESERVED || e.key.load(Ordering::Relaxed) != k {
                return None;
            }
            // Acquire: pairs with the grant winner's Release store of E.
            let ex = e.expiry.load(Ordering::Acquire);
            let pid = e.pid.load(Ordering::Relaxed) as u32;
            let claimed_at_ms = e.claimed_at_ms.load(Ordering::Relaxed);
            let base = e.base.load(Ordering::Relaxed);
            let vhigh = e.vhigh.load(Ordering::Relaxed);
            // Acquire fence: pairs with the grant winner's Release fence; if we
            // saw a later grant's stores, the re-read of W sees that grant.
            fence(Ordering::Acquire);
            if e.state.load(Ordering::Relaxed) != w1 {
                continue;
            }
            if !e_matches(ex, v) {
                // The claim window of a grant: its E is on its way.
                if (c.is_dead)(tag) {
                    return None;
                }
                spins += 1;
                if spins > 1000 {
                    return Some(HolderView {
                        tag,
                        pid: 0,
                        token: base.wrapping_add(widen(vhigh, v)),
                        claimed_at_ms: 0,
                        expires_at_ms: 0,
                    });
                }
                spin_hint();
                continue;
            }
            if e_ms(ex) <= c.now_ms || (tag != c.tag && (c.is_dead)(tag)) {
                return None;
            }
            return Some(HolderView {
                tag,
                pid,
                token: base.wrapping_add(widen(vhigh, v)),
                claimed_at_ms,
                expires_at_ms: e_ms(ex),
            });
        }
    }

    /// Takes the bind lock, stealing it from a dead holder (and repairing what
    /// it left). `None` when a live holder outlasted the caller's patience.
    fn lock(&self, c: &mut Caller<'_>) -> Option<BindLock<'_>> {
        let lock = &self.ctl().bind_lock;
        let mut spins = 0u32;
        loop {
            let l = lock.load(Ordering::Relaxed);
            if l == 0 {
                // Acquire: pairs with the Release store in `unlock`, so the
                // previous binder's entries are visible to our rescan.
                if lock
                    .compare_exchange(0, c.tag as u64, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(BindLock(self));
                }
                continue;
            }
            spins += 1;
            if spins < SPINS_BEFORE_LIVENESS {
                spin_hint();
                continue;
            }
            spins = 0;
            if (c.is_dead)(l as u32) {
                // Acquire: as above; the dead holder has no store in flight.
                if lock
                    .compare_exchange(l, c.tag as u64, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.repair();
                    return Some(BindLock(self));
                }
                continue;
            }
            if !(c.on_wait)() {
                return None;
            }
        }
    }

    /// Finishes what a dead binder left: every RESERVED entry becomes free,
    /// still bound to its subject if its key is BOUND, VACANT otherwise.
    fn repair(&self) {
        for idx in 0..self.capacity {
            let e = self.entry(idx);
            // Acquire: pairs with the dead binder's W changes; its process is
            // gone, so nothing of it is still in flight.
            let w = e.state.load(Ordering::Acquire);
            if w_tag(w) != RESERVED {
                continue;
            }
            let k = e.key.load(Ordering::Relaxed);
            if k_state(k) == K_WRITING {
                // Release: pairs with `lookup`'s Acquire key load (VACANT
                // matches no subject, so nothing is read under it).
                e.key
                    .store(k_pack(K_VACANT, k_gen(k), 0, 0), Ordering::Release);
            }
            let v = w_v(w).wrapping_add(1);
            e.vhigh
                .fetch_max(widen(e.vhigh.load(Ordering::Relaxed), v), Ordering::Relaxed);
            // Release: pairs with the Acquire W loads of claimers.
            e.state.store(w_pack(0, v), Ordering::Release);
            self.ctl().repairs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Finds or binds `subject`; the caller holds the bind lock.
    fn bind_locked(&self, subject: &[u8], c: &Caller<'_>) -> Result<(usize, u64), Claim> {
        if let Some(found) = self.lookup(subject) {
            return Ok(found);
        }
        let home = self.home(subject_hash(subject));
        let probe = (0..self.capacity).map(|i| (home + i) % self.capacity);
        // First choice: an entry bound to nothing, nearest the home slot.
        for idx in probe.clone() {
            let e = self.entry(idx);
            if matches!(k_state(e.key.load(Ordering::Relaxed)), 0 | K_VACANT) {
                // Acquire: pairs with the Release W changes of earlier binders
                // and of a stale grant or release on the entry's old binding.
                let w = e.state.load(Ordering::Acquire);
                // Nobody but the lock holder changes W of an unbound entry (a
                // stale CAS of an old binding fails: W moved on since). AcqRel
                // as a grant's CAS in `take`.
                if e.state
                    .compare_exchange(
                        w,
                        w_pack(RESERVED, w_v(w)),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return Ok(self.bind_at(idx, w_v(w), subject));
                }
            }
        }
        // Else evict a subject whose lease is free, expired or dead; never a live one.
        for idx in probe {
            let e = self.entry(idx);
            loop {
                // Acquire: pairs with the Release W changes (grants, releases),
                // as in `try_grant`.
                let w = e.state.load(Ordering::Acquire);
                match self.take(e, w, w_pack(RESERVED, w_v(w)), c) {
                    Ok(_) => {
                        let base = e.base.load(Ordering::Relaxed);
                        let last =
                            base.wrapping_add(widen(e.vhigh.load(Ordering::Relaxed), w_v(w)));
                        self.ctl().token_floor.fetch_max(last, Ordering::Relaxed);
                        self.ctl().evictions.fetch_add(1, Ordering::Relaxed);
                        return Ok(self.bind_at(idx, w_v(w), subject));
                    }
                    Err(None) => continue,
                    Err(Some(_)) => break,
                }
            }
        }
        Err(Claim::Full)
    }

    /// Writes `subject` into RESERVED entry `idx` (whose W had version `v`)
    /// and publishes it, free, with version `v + 1`.
    fn bind_at(&self, idx: usize, v: u32, subject: &[u8]) -> (usize, u64) {
        let e = self.entry(idx);
        let old = e.key.load(Ordering::Relaxed);
        let generation = k_gen(old).wrapping_add(1);
        e.key
            .store(k_pack(K_WRITING, generation, 0, 0), Ordering::Relaxed);
        // Release fence: orders WRITING before the subject stores; pairs with
        // the Acquire fence in `lookup`.
        fence(Ordering::Release);
        for (w, x) in e.subject.iter().zip(subject_words(subject)) {
            w.store(x, Ordering::Relaxed);
        }
        let v1 = v.wrapping_add(1);
        let full = widen(e.vhigh.load(Ordering::Relaxed), v1);
        e.vhigh.fetch_max(full, Ordering::Relaxed);
        // The next grant (version v1 + 1) gets token floor + 1: above every
        // token of every evicted subject, this one included (invariant 3).
        let floor = self.ctl().token_floor.load(Ordering::Relaxed);
        e.base.store(floor.wrapping_sub(full), Ordering::Relaxed);
        let k = k_pack(
            K_BOUND,
            generation,
            subject.len(),
            subject_hash(subject) as u32,
        );
        // Release: publishes the subject bytes; pairs with `lookup`'s Acquire.
        e.key.store(k, Ordering::Release);
        // Release: publishes base/vhigh; pairs with claimers' Acquire W loads.
        e.state.store(w_pack(0, v1), Ordering::Release);
        (idx, k)
    }
}

/// Loom models of the entry protocol, explored exhaustively but one. Every racing side
/// runs in a spawned thread: loom 0.7 explores only one schedule when the
/// model's main thread itself races (loom#392). Run
/// with `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib loom`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicU32};

    const A: u32 = 1 << 16;
    const B: u32 = 2 << 16;
    const TTL: u64 = 100;

    /// A lease table in heap memory with loom atomics.
    struct Model {
        ctl: Box<ContestControl>,
        entries: Box<[LeaseEntry]>,
    }

    impl Model {
        fn new(capacity: usize) -> Arc<Model> {
            Arc::new(Model {
                ctl: Box::new(ContestControl::new()),
                entries: (0..capacity).map(|_| LeaseEntry::new()).collect(),
            })
        }

        fn view(&self) -> TableView {
            TableView {
                ctl: &*self.ctl,
                entries: self.entries.as_ptr(),
                capacity: self.entries.len(),
            }
        }
    }

    fn alive(_: u32) -> bool {
        false
    }

    /// These models are cheap enough to explore exhaustively (about 4 s in
    /// all), so they ignore a LOOM_MAX_PREEMPTIONS that `make loom` sets for
    /// the larger ring and cache models.
    fn exhaustive(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = None;
        b.check(f);
    }

    fn yield_more() -> bool {
        loom::thread::yield_now();
        true
    }

    fn claim(v: &TableView, s: &[u8], tag: u32, now: u64, is_dead: &dyn Fn(u32) -> bool) -> Claim {
        let mut w = yield_more;
        let mut c = Caller {
            tag,
            pid: tag >> 16,
            now_ms: now,
            is_dead,
            on_wait: &mut w,
        };
        v.claim(s, TTL, &mut c)
    }

    /// Two processes claim, hold and release one bound subject: never two
    /// holders at once, and tokens grow in grant order.
    #[test]
    fn mutual_exclusion_and_token_order() {
        exhaustive(|| {
            let m = Model::new(1);
            let Claim::Granted(g) = claim(&m.view(), b"s", A, 0, &alive) else {
                panic!("setup claim")
            };
            m.view().release(g.idx, g.v, A).unwrap();
            let in_cs = Arc::new(AtomicU32::new(0));
            let order = Arc::new(AtomicU32::new(0));
            let hs: Vec<_> = [A, B]
                .into_iter()
                .map(|tag| {
                    let (m, in_cs, order) = (m.clone(), in_cs.clone(), order.clone());
                    loom::thread::spawn(move || {
                        let v = m.view();
                        match claim(&v, b"s", tag, 0, &alive) {
                            Claim::Granted(g) => {
                                // SeqCst (test bookkeeping): one total order of
                                // entries and exits, paired with each other.
                                assert_eq!(in_cs.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                                let rank = order.fetch_add(1, Ordering::SeqCst);
                                in_cs.fetch_sub(1, Ordering::SeqCst);
                                v.release(g.idx, g.v, tag).unwrap();
                                Some((rank, g.token))
                            }
                            Claim::Held(_) => None,
                            other => panic!("unexpected {other:?}"),
                        }
                    })
                })
                .collect();
            let mut got: Vec<(u32, u64)> =
                hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
            assert!(!got.is_empty(), "someone wins");
            got.sort();
            for w in got.windows(2) {
                assert!(w[0].1 < w[1].1, "tokens out of grant order: {got:?}");
            }
            assert!(got.iter().all(|(_, t)| *t > g.token));
        });
    }

    /// The first claims of a new subject race through the bind lock: the
    /// subject is bound once and granted once.
    #[test]
    fn first_claims_bind_once() {
        exhaustive(|| {
            let m = Model::new(2);
            let hs: Vec<_> = [A, B]
                .into_iter()
                .map(|tag| {
                    let m = m.clone();
                    loom::thread::spawn(move || claim(&m.view(), b"s", tag, 0, &alive))
                })
                .collect();
            let outcomes: Vec<Claim> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            let granted = outcomes
                .iter()
                .filter(|c| matches!(c, Claim::Granted(_)))
                .count();
            assert_eq!(granted, 1, "{outcomes:?}");
            let bound = m
                .entries
                .iter()
                .filter(|e| k_state(e.key.load(Ordering::Relaxed)) == K_BOUND)
                .count();
            assert_eq!(bound, 1);
            assert_eq!(m.ctl.bind_lock.load(Ordering::Relaxed), 0);
        });
    }

    /// A holder renews its expired lease while another claims it: both may
    /// not succeed (the renewal and the takeover arbitrate on E).
    #[test]
    fn renewal_races_expired_takeover() {
        exhaustive(|| {
            let m = Model::new(1);
            let mut w = yield_more;
            let mut c = Caller {
                tag: A,
                pid: 1,
                now_ms: 0,
                is_dead: &alive,
                on_wait: &mut w,
            };
            let Claim::Granted(g) = m.view().claim(b"s", 10, &mut c) else {
                panic!("setup claim")
            };
            let m2 = m.clone();
            let renewer = loom::thread::spawn(move || {
                let mut w = yield_more;
                let c = Caller {
                    tag: A,
                    pid: 1,
                    now_ms: 20,
                    is_dead: &alive,
                    on_wait: &mut w,
                };
                m2.view().renew(g.idx, g.v, TTL, &c).is_ok()
            });
            let m3 = m.clone();
            let claimer = loom::thread::spawn(move || {
                matches!(claim(&m3.view(), b"s", B, 20, &alive), Claim::Granted(_))
            });
            let renewed = renewer.join().unwrap();
            let taken = claimer.join().unwrap();
            assert!(!(taken && renewed), "renewed lease taken over");
            assert!(taken || renewed);
            assert_eq!(m.view().release(g.idx, g.v, A).is_ok(), renewed);
        });
    }

    /// A holder is killed right after winning W (before writing its expiry):
    /// another claimer takes the lease only once the holder is dead.
    #[test]
    fn dead_holder_is_replaced_only_when_dead() {
        exhaustive(|| {
            let m = Model::new(1);
            let Claim::Granted(g) = claim(&m.view(), b"s", A, 0, &alive) else {
                panic!("setup claim")
            };
            m.view().release(g.idx, g.v, A).unwrap();
            let dead = Arc::new(AtomicBool::new(false));
            let took = Arc::new(AtomicBool::new(false));
            let (m1, d1, t1) = (m.clone(), dead.clone(), took.clone());
            let victim = loom::thread::spawn(move || {
                let v = m1.view();
                let e = v.entry(0);
                // Acquire: as in `try_grant`.
                let w = e.state.load(Ordering::Acquire);
                let mut wt = yield_more;
                let c = Caller {
                    tag: A,
                    pid: 1,
                    now_ms: 0,
                    is_dead: &alive,
                    on_wait: &mut wt,
                };
                if v.take(e, w, w_pack(A, w_v(w).wrapping_add(1)), &c).is_ok() {
                    t1.store(true, Ordering::Relaxed);
                }
                // Killed here. Release: pairs with the Acquire in `is_dead`.
                d1.store(true, Ordering::Release);
            });
            let (m2, d2) = (m.clone(), dead.clone());
            let claimer = loom::thread::spawn(move || {
                // Acquire: pairs with the victim's Release store of its death.
                let is_dead = move |t: u32| t == A && d2.load(Ordering::Acquire);
                loop {
                    match claim(&m2.view(), b"s", B, 0, &is_dead) {
                        Claim::Granted(g) => break g,
                        Claim::Held(t) => {
                            assert_eq!(t, A);
                            loom::thread::yield_now();
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
            victim.join().unwrap();
            let g2 = claimer.join().unwrap();
            if took.load(Ordering::Relaxed) {
                assert_eq!(g2.prev, Prev::Dead, "live holder overtaken");
            }
            assert!(g2.token > g.token);
        });
    }

    /// A full table (one entry) evicts a free subject while another process
    /// claims that subject: exactly one of them gets the entry, and a newly
    /// bound subject starts above the evicted one's tokens.
    #[test]
    fn eviction_races_a_claim_of_the_evicted_subject() {
        // Exhaustive exploration of this model takes minutes (it passed, 153 s):
        // it is bounded to 4 preemptions (about 3 s), or LOOM_MAX_PREEMPTIONS
        // if that is higher.
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(b.preemption_bound.unwrap_or(0).max(4));
        b.check(|| {
            let m = Model::new(1);
            let Claim::Granted(g) = claim(&m.view(), b"t", A, 0, &alive) else {
                panic!("setup claim")
            };
            m.view().release(g.idx, g.v, A).unwrap();
            let (m2, m3) = (m.clone(), m.clone());
            let other = loom::thread::spawn(move || claim(&m2.view(), b"u", B, 0, &alive));
            let mine = loom::thread::spawn(move || claim(&m3.view(), b"t", A, 0, &alive));
            let theirs = other.join().unwrap();
            let mine = mine.join().unwrap();
            match (mine, theirs) {
                (Claim::Granted(t), Claim::Full) => assert!(t.token > g.token),
                (Claim::Full, Claim::Granted(u)) => assert!(u.token > g.token),
                other => panic!("unexpected {other:?}"),
            }
        });
    }

    /// A binder dies holding the bind lock with an entry half rebound; the
    /// next binder steals the lock, repairs the entry and binds its subject.
    #[test]
    fn dead_binder_is_repaired() {
        exhaustive(|| {
            let m = Model::new(1);
            let dead = Arc::new(AtomicBool::new(false));
            let (m1, d1) = (m.clone(), dead.clone());
            let victim = loom::thread::spawn(move || {
                let v = m1.view();
                let mut wt = yield_more;
                let mut c = Caller {
                    tag: A,
                    pid: 1,
                    now_ms: 0,
                    is_dead: &alive,
                    on_wait: &mut wt,
                };
                let guard = v.lock(&mut c).unwrap();
                let e = v.entry(0);
                // Acquire: as in `bind_locked`.
                let w = e.state.load(Ordering::Acquire);
                e.state.store(w_pack(RESERVED, w_v(w)), Ordering::Relaxed);
                e.key.store(k_pack(K_WRITING, 1, 0, 0), Ordering::Relaxed);
                // Killed here: the lock is never released.
                std::mem::forget(guard);
                // Release: pairs with the Acquire in `is_dead`.
                d1.store(true, Ordering::Release);
            });
            let (m2, d2) = (m.clone(), dead.clone());
            let claimer = loom::thread::spawn(move || {
                // Acquire: pairs with the victim's Release store of its death.
                let is_dead = move |t: u32| t == A && d2.load(Ordering::Acquire);
                // Claim only once the victim holds the lock (else there is nothing to repair).
                while m2.ctl.bind_lock.load(Ordering::Relaxed) == 0 {
                    loom::thread::yield_now();
                }
                match claim(&m2.view(), b"s", B, 0, &is_dead) {
                    Claim::Granted(g) => g,
                    other => panic!("unexpected {other:?}"),
                }
            });
            victim.join().unwrap();
            let g = claimer.join().unwrap();
            assert_eq!(g.token, 1);
            assert_eq!(m.ctl.repairs.load(Ordering::Relaxed), 1);
            assert_eq!(m.ctl.bind_lock.load(Ordering::Relaxed), 0);
        });
    }
}
