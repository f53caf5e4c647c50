//! Contest: named leases with fencing tokens, in one lease-table segment per
//! fleet (`orbit:<uid>:<fleet>:contest:leases`).
//!
//! `claim(subject, ttl)` grants the subject to exactly one live holder and
//! returns a **fencing token** that strictly increases with every grant of
//! that subject, across releases, expiries, holder deaths and evictions from
//! the table. A lease whose TTL has passed, or whose holder process is dead
//! (fleet liveness: pid + start time), can be claimed by another at once.
//! Pass the token to whatever the lease protects and have it reject tokens
//! lower than the highest it has seen: a holder that was paused past its TTL
//! and still believes it holds the lease is then fenced off.
//!
//! The entry protocol, its invariants and why a process killed at any instant
//! leaves every entry claimable are written down in [`protocol`].
//!
//! # Subjects
//!
//! 1..=128 bytes of UTF-8 without NUL. The table holds a bounded number of
//! subjects (default 256, fixed at creation). A subject stays in the table
//! after release, so its token counter survives; when a new subject finds no
//! unused entry, a subject whose lease is free, expired or dead is evicted
//! (its tokens are folded into a table-wide floor that every newly bound
//! subject starts above). A live lease is never evicted: a table full of live
//! leases gives `Full`.
//!
//! # Time
//!
//! Expiries are wall-clock milliseconds ([`OrbitEpoch`]), like every timestamp
//! orbit stores. A clock stepped forward expires leases early, one stepped back
//! extends them; the fencing token is what keeps a storage layer safe either way.
//!
//! # Audit trail
//!
//! Every grant and release is appended to the ring `contest.leases` of the
//! fleet (KIND 222; read it with [`Contest::audit`] or any ring cursor). Frame
//! kind 1 = claim, 2 = release; `ver` = the time in ms; the payload is
//! `[token:u64][expires_at_ms:u64][pid:u32][prev:u8][subject_len:u8][0:u16]
//! [subject]`, little-endian, where `prev` tells how the previous grant ended
//! (0 released or never granted, 1 expired, 2 holder dead; 0 in releases).
//! The trail is lossy like every ring: a reader that falls 1024 records behind
//! loses the oldest and is told how many.

pub(crate) mod protocol;

use std::sync::Arc;
use std::time::Duration;

use crate::epoch::{Deadline, OrbitEpoch};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::ring::{Cursor, Frame, From, PlainRing, Ring, RingGeometry};
use crate::shm::{self, HEADER_SIZE, ObjectKind, OpenRequest, Segment, SegmentLayout, SegmentName};
use protocol::{Caller, Claim, ContestControl, LeaseEntry, Prev, TableView};

/// KIND byte of the audit ring.
pub const CONTEST_KIND: u8 = 222;
/// Longest subject in bytes.
pub const MAX_SUBJECT_LEN: usize = protocol::MAX_SUBJECT_LEN;
/// Default number of subjects of a new lease table.
pub const DEFAULT_SUBJECTS: u32 = 256;
/// Largest number of subjects of a lease table.
pub const MAX_SUBJECTS: u32 = 1 << 16;
/// Name of the lease table segment of a fleet.
pub const TABLE_NAME: &str = "leases";
/// Name of the ring holding the audit trail.
pub const AUDIT_RING: &str = "contest.leases";
/// Frame kind of a claim record in the audit ring.
pub const AUDIT_CLAIM: u8 = 1;
/// Frame kind of a release record in the audit ring.
pub const AUDIT_RELEASE: u8 = 2;

const AUDIT_CAPACITY: u64 = 1024;
const AUDIT_HEADER: usize = 24;
const AUDIT_PAYLOAD: u32 = (AUDIT_HEADER + MAX_SUBJECT_LEN) as u32;
const CONTROL_SIZE: usize = std::mem::size_of::<ContestControl>();
const ENTRY_SIZE: usize = std::mem::size_of::<LeaseEntry>();
/// How long a claim waits for a live process that is binding a subject.
const BIND_PATIENCE: Duration = Duration::from_secs(2);

pub(crate) struct ContestLayout;

impl SegmentLayout for ContestLayout {
    const KIND: ObjectKind = ObjectKind::Contest;
    const LAYOUT_VERSION: u32 = 1;
    type Geometry = u32;

    fn encode(g: &u32) -> [u64; 8] {
        [
            *g as u64,
            ENTRY_SIZE as u64,
            MAX_SUBJECT_LEN as u64,
            0,
            0,
            0,
            0,
            0,
        ]
    }
    fn decode(raw: &[u64; 8]) -> Result<u32> {
        if raw[1] != ENTRY_SIZE as u64 || raw[2] != MAX_SUBJECT_LEN as u64 {
            return Err(Error::Corrupt(format!(
                "lease table entries of {} bytes / subjects of {} bytes, expected {ENTRY_SIZE} / {MAX_SUBJECT_LEN}",
                raw[1], raw[2]
            )));
        }
        match raw[0] {
            n @ 1..=65536 => Ok(n as u32),
            n => Err(Error::Corrupt(format!("lease table claims {n} entries"))),
        }
    }
    fn total_size(g: &u32) -> Result<usize> {
        if *g == 0 || *g > MAX_SUBJECTS {
            return Err(Error::InvalidArgument(format!(
                "lease table capacity {g} not in 1..={MAX_SUBJECTS}"
            )));
        }
        Ok(HEADER_SIZE + CONTROL_SIZE + *g as usize * ENTRY_SIZE)
    }
    unsafe fn init_body(_base: *mut u8, _g: &u32) {
        // All-zero entries are EMPTY and free; the control block starts at zero.
    }
}

/// Options of a lease table, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContestOptions {
    /// Number of subjects the table holds (1..=65536; default 256).
    pub capacity: u32,
    /// Permission bits of the segment if this call creates it (0 = the
    /// fleet's mode, else 0600).
    pub mode: u32,
}

impl ContestOptions {
    /// `InvalidArgument` unless the capacity is in 1..=65536 and the mode valid.
    pub(crate) fn validate(&self) -> Result<()> {
        shm::check_mode(self.mode)?;
        ContestLayout::total_size(&self.capacity).map(|_| ())
    }
}

impl Default for ContestOptions {
    fn default() -> Self {
        ContestOptions {
            capacity: DEFAULT_SUBJECTS,
            mode: 0,
        }
    }
}

/// The current holder of a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The holder's fleet node id.
    pub node_id: u16,
    /// The holder's process id.
    pub pid: u32,
    /// The fencing token of its grant.
    pub token: u64,
    /// When it was granted, ms since the Unix epoch.
    pub claimed_at_ms: u64,
    /// When it expires unless renewed, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Counters of a lease table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContestStats {
    /// Subjects the table holds.
    pub capacity: u32,
    /// Subjects evicted to make room for others.
    pub evictions: u64,
    /// Grants over an expired lease or a dead holder.
    pub takeovers: u64,
    /// Entries repaired after a process died while binding a subject.
    pub repairs: u64,
    /// Every newly bound subject's first token is above this.
    pub token_floor: u64,
}

/// How the previous grant of a subject ended, as recorded in the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrevHolder {
    /// Released, or never granted.
    Released,
    /// Its TTL had passed.
    Expired,
    /// Its holder's process was gone.
    Dead,
}

/// What an audit record says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A grant.
    Claim,
    /// A release by the holder.
    Release,
}

/// One record of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Grant or release.
    pub action: AuditAction,
    /// The subject.
    pub subject: String,
    /// The fencing token of the grant.
    pub token: u64,
    /// Node of the holder.
    pub node_id: u16,
    /// Process of the holder.
    pub pid: u32,
    /// When it happened, ms since the Unix epoch.
    pub at_ms: u64,
    /// Claims: the expiry granted. Releases: 0.
    pub expires_at_ms: u64,
    /// Claims: how the previous grant ended.
    pub prev: PrevHolder,
}

impl AuditRecord {
    /// Decodes a frame of the audit ring; `None` if it is not an audit record.
    pub fn decode(frame: &Frame) -> Option<AuditRecord> {
        let p = &frame.payload;
        let action = match frame.info.kind {
            AUDIT_CLAIM => AuditAction::Claim,
            AUDIT_RELEASE => AuditAction::Release,
            _ => return None,
        };
        if p.len() < AUDIT_HEADER || frame.info.id.kind() != CONTEST_KIND {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().unwrap_or([0; 8]));
        let len = p[21] as usize;
        let subject = std::str::from_utf8(p.get(AUDIT_HEADER..AUDIT_HEADER + len)?).ok()?;
        Some(AuditRecord {
            action,
            subject: subject.to_string(),
            token: u64_at(0),
            node_id: frame.info.id.node(),
            pid: u32::from_le_bytes(p[16..20].try_into().unwrap_or([0; 4])),
            at_ms: frame.info.ver,
            expires_at_ms: u64_at(8),
            prev: match p[20] {
                1 => PrevHolder::Expired,
                2 => PrevHolder::Dead,
                _ => PrevHolder::Released,
            },
        })
    }
}

fn validate_subject(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN || subject.as_bytes().contains(&0) {
        return Err(Error::InvalidArgument(format!(
            "subject must be 1..={MAX_SUBJECT_LEN} bytes of UTF-8 without NUL, got {} bytes",
            subject.len()
        )));
    }
    Ok(())
}

fn ttl_ms(ttl: Duration) -> Result<u64> {
    if ttl.is_zero() {
        return Err(Error::InvalidArgument(
            "a lease TTL of 0 is meaningless".into(),
        ));
    }
    Ok(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
}

struct ContestInner {
    fleet: Fleet,
    // Keeps the mapping `view` points into.
    _seg: Segment,
    view: TableView,
    capacity: u32,
    audit: Option<Ring>,
}

/// A fleet's lease table. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Contest {
    inner: Arc<ContestInner>,
}

impl std::fmt::Debug for Contest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contest")
            .field("fleet", &self.inner.fleet.name())
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

impl Contest {
    /// Opens the fleet's lease table, with the same rules as every open:
    /// `None` attaches whatever exists or creates one with the defaults;
    /// `Some(opts)` creates with `opts` or attaches if the capacity matches
    /// (`Incompatible` otherwise). Through an observer, never creates
    /// (`NotExist`) and every claim is `ReadOnly`. Also opens (or creates) the
    /// audit ring.
    pub fn open(fleet: &Fleet, opts: Option<&ContestOptions>) -> Result<Contest> {
        let defaults = ContestOptions::default();
        let (o, exact) = match opts {
            Some(o) => (o, true),
            None => (&defaults, false),
        };
        let name = SegmentName::new(fleet.name(), ObjectKind::Contest, TABLE_NAME)?;
        let read_only = fleet.is_observer();
        let mode = if o.mode != 0 { o.mode } else { fleet.mode() };
        let (seg, capacity) = shm::open::<ContestLayout>(
            &name,
            OpenRequest {
                create: if read_only {
                    None
                } else {
                    Some((o.capacity, exact))
                },
                read_only,
                mode,
            },
        )?;
        if read_only && exact && capacity != o.capacity {
            return Err(Error::Incompatible(format!(
                "{} exists with {capacity} subjects, requested {}",
                name.as_str(),
                o.capacity
            )));
        }
        let audit_geom = RingGeometry::new(AUDIT_CAPACITY, AUDIT_PAYLOAD, CONTEST_KIND);
        let audit = match Ring::open_object::<PlainRing>(fleet, AUDIT_RING, audit_geom, false, mode)
        {
            Ok(r) => {
                let g = r.geometry();
                if g.kind() != CONTEST_KIND || g.max_payload() < AUDIT_PAYLOAD {
                    return Err(Error::Incompatible(format!(
                        "ring {AUDIT_RING:?} of fleet {:?} exists with kind {} and max_payload {}: not a contest audit ring",
                        fleet.name(),
                        g.kind(),
                        g.max_payload()
                    )));
                }
                Some(r)
            }
            Err(Error::NotExist(_)) if read_only => None,
            Err(e) => return Err(e),
        };
        // SAFETY: the segment was validated to hold the control block and
        // `capacity` entries after the header; HEADER_SIZE and CONTROL_SIZE
        // are multiples of 64, so the entries are 64-aligned.
        let view = unsafe {
            TableView {
                ctl: seg.base().add(HEADER_SIZE) as *const ContestControl,
                entries: seg.base().add(HEADER_SIZE + CONTROL_SIZE) as *const LeaseEntry,
                capacity: capacity as usize,
            }
        };
        Ok(Contest {
            inner: Arc::new(ContestInner {
                fleet: fleet.clone(),
                _seg: seg,
                view,
                capacity,
                audit,
            }),
        })
    }

    /// Removes the fleet's lease table and its audit ring. Processes that
    /// have them open keep using them (and so keep excluding each other);
    /// later opens create a new table, whose tokens start again from 1.
    pub fn unlink(fleet: &str) -> Result<()> {
        let r = shm::unlink(&SegmentName::new(fleet, ObjectKind::Contest, TABLE_NAME)?);
        match Ring::unlink(fleet, AUDIT_RING) {
            Ok(()) | Err(Error::NotExist(_)) => r,
            Err(e) => r.and(Err(e)),
        }
    }

    fn caller<'a>(
        fleet: &Fleet,
        tag: u32,
        is_dead: &'a dyn Fn(u32) -> bool,
        on_wait: &'a mut dyn FnMut() -> bool,
    ) -> Caller<'a> {
        Caller {
            tag,
            pid: fleet.own_pid(),
            now_ms: OrbitEpoch::now().as_millis(),
            is_dead,
            on_wait,
        }
    }

    /// Claims `subject` for `ttl`: `Ok` with a lease (released when dropped)
    /// if nobody live holds it, or holds it past its TTL.
    ///
    /// Errors: `Conflict` (a live holder has it, this process included),
    /// `Full` (a new subject and every entry holds a live lease),
    /// `InvalidArgument` (subject, TTL 0), `ReadOnly` (observer), `Timeout`
    /// (another live process kept the table's bind lock for 2 s).
    pub fn claim(&self, subject: &str, ttl: Duration) -> Result<Lease> {
        validate_subject(subject)?;
        let ttl = ttl_ms(ttl)?;
        let fleet = &self.inner.fleet;
        let tag = fleet.writer_tag()?;
        let is_dead = |t: u32| fleet.tag_is_dead(t);
        // Only a claim that waits for another process's bind lock needs a deadline.
        let mut deadline = None;
        let mut on_wait = || {
            let d = *deadline.get_or_insert_with(|| Deadline::after(BIND_PATIENCE));
            std::thread::yield_now();
            !d.passed()
        };
        let mut c = Self::caller(fleet, tag, &is_dead, &mut on_wait);
        match self.inner.view.claim(subject.as_bytes(), ttl, &mut c) {
            Claim::Granted(g) => {
                self.record(
                    AUDIT_CLAIM,
                    subject,
                    g.token,
                    g.expires_at_ms,
                    match g.prev {
                        Prev::Free => 0,
                        Prev::Expired => 1,
                        Prev::Dead => 2,
                    },
                    g.claimed_at_ms,
                );
                Ok(Lease {
                    contest: self.clone(),
                    idx: g.idx,
                    v: g.v,
                    tag,
                    token: g.token,
                    subject: subject.to_string(),
                    claimed_at_ms: g.claimed_at_ms,
                    expires_at_ms: g.expires_at_ms,
                    state: LeaseState::Held,
                })
            }
            Claim::Held(t) => Err(Error::Conflict(format!(
                "subject {subject:?} is held by node {}",
                t >> 16
            ))),
            Claim::Full => Err(Error::Full(format!(
                "lease table of fleet {:?}: all {} entries hold live leases",
                fleet.name(),
                self.inner.capacity
            ))),
            Claim::Busy => Err(Error::Timeout),
        }
    }

    /// The live holder of `subject`, or `None` if it is free (released,
    /// expired, holder dead, or never claimed).
    ///
    /// Errors: `InvalidArgument` (subject).
    pub fn holder(&self, subject: &str) -> Result<Option<Holder>> {
        validate_subject(subject)?;
        let fleet = &self.inner.fleet;
        let tag = fleet.writer_tag().unwrap_or(0);
        let is_dead = |t: u32| fleet.tag_is_dead(t);
        let mut on_wait = || false;
        let c = Self::caller(fleet, tag, &is_dead, &mut on_wait);
        Ok(self
            .inner
            .view
            .holder(subject.as_bytes(), &c)
            .map(|h| Holder {
                node_id: (h.tag >> 16) as u16,
                pid: h.pid,
                token: h.token,
                claimed_at_ms: h.claimed_at_ms,
                expires_at_ms: h.expires_at_ms,
            }))
    }

    /// Every subject the table holds with its live holder, in table order
    /// (subjects whose lease is free are left out). Weakly consistent: a
    /// lease granted or released meanwhile may or may not be listed. Reads
    /// the whole table: for tools, not for hot paths.
    pub fn holders(&self) -> Vec<(String, Holder)> {
        let view = &self.inner.view;
        (0..view.capacity)
            .filter_map(|idx| view.bound_subject(idx))
            .filter_map(|bytes| String::from_utf8(bytes).ok())
            .filter_map(|subject| match self.holder(&subject) {
                Ok(Some(h)) => Some((subject, h)),
                _ => None,
            })
            .collect()
    }

    /// A cursor over the audit trail (`NotExist` through an observer when no
    /// member created it yet). Decode frames with [`AuditRecord::decode`].
    pub fn audit(&self, from: From) -> Result<Cursor> {
        self.inner
            .audit
            .as_ref()
            .map(|r| r.cursor(from))
            .ok_or_else(|| Error::NotExist(format!("ring {AUDIT_RING:?}")))
    }

    /// Subjects the table holds.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }

    /// The table's counters.
    pub fn stats(&self) -> ContestStats {
        let ctl = self.inner.view.ctl();
        let r = crate::sync::Ordering::Relaxed;
        ContestStats {
            capacity: self.inner.capacity,
            evictions: ctl.evictions.load(r),
            takeovers: ctl.takeovers.load(r),
            repairs: ctl.repairs.load(r),
            token_floor: ctl.token_floor.load(r),
        }
    }

    /// The fleet this table was opened through.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    fn record(&self, action: u8, subject: &str, token: u64, expires: u64, prev: u8, at: u64) {
        let Some(ring) = &self.inner.audit else {
            return;
        };
        let mut head = [0u8; AUDIT_HEADER];
        head[0..8].copy_from_slice(&token.to_le_bytes());
        head[8..16].copy_from_slice(&expires.to_le_bytes());
        head[16..20].copy_from_slice(&self.inner.fleet.own_pid().to_le_bytes());
        head[20] = prev;
        head[21] = subject.len() as u8;
        // The trail is best effort: a lease is not refused because its record
        // could not be written (the only failure here is a fork misuse, which
        // the claim itself already refused).
        let _ = ring.write_parts(action, at, &[&head, subject.as_bytes()]);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseState {
    Held,
    Released,
    Lost,
}

/// A granted lease. Released when dropped (if still held). `Send`: it may
/// move between threads; renew and release need `&mut`/ownership.
pub struct Lease {
    contest: Contest,
    idx: usize,
    v: u32,
    tag: u32,
    token: u64,
    subject: String,
    claimed_at_ms: u64,
    expires_at_ms: u64,
    state: LeaseState,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("subject", &self.subject)
            .field("token", &self.token)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("state", &self.state)
            .finish()
    }
}

impl Lease {
    /// The fencing token of this grant: higher than every earlier grant's of
    /// the same subject.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When it was granted, ms since the Unix epoch.
    pub fn claimed_at_ms(&self) -> u64 {
        self.claimed_at_ms
    }

    /// When it expires unless renewed, ms since the Unix epoch (as of the
    /// last claim or renew through this handle).
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// Extends the lease to now + `ttl`. After its TTL passed it can still be
    /// renewed as long as nobody started taking it over (the token stays ours).
    ///
    /// Errors: `LeaseLost` (taken by another after expiry, or released),
    /// `InvalidArgument` (TTL 0; or a handle inherited through fork).
    pub fn renew(&mut self, ttl: Duration) -> Result<()> {
        let ttl = ttl_ms(ttl)?;
        if self.state != LeaseState::Held {
            return Err(self.lost_error());
        }
        let fleet = &self.contest.inner.fleet;
        fleet.writer_tag()?;
        let is_dead = |t: u32| fleet.tag_is_dead(t);
        let mut on_wait = || false;
        let c = Contest::caller(fleet, self.tag, &is_dead, &mut on_wait);
        match self.contest.inner.view.renew(self.idx, self.v, ttl, &c) {
            Ok(exp) => {
                self.expires_at_ms = exp;
                Ok(())
            }
            Err(()) => {
                self.state = LeaseState::Lost;
                Err(self.lost_error())
            }
        }
    }

    /// Releases the lease. Releasing again is a no-op.
    ///
    /// Errors: `LeaseLost` (it expired and another took it, so this holder's
    /// critical section may have overlapped the next one's).
    pub fn release(mut self) -> Result<()> {
        self.release_in_place()
    }

    /// [`Lease::release`] without consuming the handle (the C ABI's
    /// `orbit_lease_release`). Idempotent.
    pub(crate) fn release_in_place(&mut self) -> Result<()> {
        match self.state {
            LeaseState::Released => return Ok(()),
            LeaseState::Lost => return Err(self.lost_error()),
            LeaseState::Held => {}
        }
        // Never release our parent's lease from a forked child.
        self.contest.inner.fleet.writer_tag()?;
        match self.contest.inner.view.release(self.idx, self.v, self.tag) {
            Ok(()) => {
                self.state = LeaseState::Released;
                let now = OrbitEpoch::now().as_millis();
                self.contest
                    .record(AUDIT_RELEASE, &self.subject, self.token, 0, 0, now);
                Ok(())
            }
            Err(()) => {
                self.state = LeaseState::Lost;
                Err(self.lost_error())
            }
        }
    }

    /// True while this handle has neither released nor found the lease lost
    /// (it may still have expired meanwhile).
    pub fn is_held(&self) -> bool {
        self.state == LeaseState::Held
    }

    fn lost_error(&self) -> Error {
        Error::LeaseLost(match self.state {
            LeaseState::Released => format!("lease on {:?} was released", self.subject),
            _ => format!(
                "lease on {:?} (token {}) expired and was taken",
                self.subject, self.token
            ),
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.release_in_place();
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

    fn cleanup(f: &Fleet) {
        Contest::unlink(f.name()).unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn claim_conflict_release_tokens_grow() {
        let f = fleet("basic");
        let c = Contest::open(&f, None).unwrap();
        assert_eq!(c.capacity(), DEFAULT_SUBJECTS);
        assert_eq!(c.holder("job").unwrap(), None);
        let a = c.claim("job", TTL).unwrap();
        assert_eq!(a.token(), 1);
        assert_eq!(c.claim("job", TTL).unwrap_err().status(), Status::Conflict);
        let h = c.holder("job").unwrap().unwrap();
        assert_eq!(
            (h.node_id, h.pid, h.token),
            (f.node_id().unwrap(), std::process::id(), 1)
        );
        assert!(h.expires_at_ms >= h.claimed_at_ms + 29_000);
        a.release().unwrap();
        assert_eq!(c.holder("job").unwrap(), None);
        let mut last = 1;
        for _ in 0..5 {
            let l = c.claim("job", TTL).unwrap();
            assert!(l.token() > last);
            last = l.token();
        }
        let other = c.claim("other", TTL).unwrap();
        assert_eq!(other.token(), 1, "tokens are per subject");
        cleanup(&f);
    }

    #[test]
    fn holders_lists_live_leases_only() {
        let f = fleet("holders");
        let c = Contest::open(
            &f,
            Some(&ContestOptions {
                capacity: 8,
                mode: 0,
            }),
        )
        .unwrap();
        assert_eq!(c.holders(), []);
        let a = c.claim("alpha", TTL).unwrap();
        let long = "s".repeat(MAX_SUBJECT_LEN);
        let b = c.claim(&long, TTL).unwrap();
        c.claim("gone", TTL).unwrap().release().unwrap();
        let _short = c.claim("brief", Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let mut got = c.holders();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        let names: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            ["alpha", long.as_str()],
            "released and expired leases are free"
        );
        assert_eq!(got[0].1.token, a.token());
        assert_eq!(got[1].1.token, b.token());
        let observer = Fleet::observe(f.name()).unwrap();
        assert_eq!(Contest::open(&observer, None).unwrap().holders().len(), 2);
        drop((a, b));
        cleanup(&f);
    }

    #[test]
    fn expiry_renew_and_lost() {
        let f = fleet("exp");
        let c = Contest::open(&f, None).unwrap();
        let mut a = c.claim("s", Duration::from_millis(30)).unwrap();
        a.renew(Duration::from_millis(30)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Expired, nobody took it: renewing keeps the same token.
        a.renew(TTL).unwrap();
        assert_eq!(c.holder("s").unwrap().unwrap().token, a.token());
        a.renew(Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.holder("s").unwrap(), None, "expired reads as free");
        let b = c.claim("s", TTL).unwrap();
        assert!(b.token() > a.token());
        assert_eq!(a.renew(TTL).unwrap_err().status(), Status::LeaseLost);
        let mut a2 = a;
        assert_eq!(
            a2.release_in_place().unwrap_err().status(),
            Status::LeaseLost
        );
        drop(a2);
        assert_eq!(
            c.holder("s").unwrap().unwrap().token,
            b.token(),
            "drop of a lost lease released nothing"
        );
        let mut b = b;
        b.release_in_place().unwrap();
        b.release_in_place().unwrap();
        assert_eq!(b.renew(TTL).unwrap_err().status(), Status::LeaseLost);
        cleanup(&f);
    }

    #[test]
    fn bad_input() {
        let f = fleet("bad");
        let c = Contest::open(&f, None).unwrap();
        for s in ["", &"x".repeat(MAX_SUBJECT_LEN + 1), "a\0b"] {
            assert_eq!(
                c.claim(s, TTL).unwrap_err().status(),
                Status::InvalidArgument
            );
            assert_eq!(c.holder(s).unwrap_err().status(), Status::InvalidArgument);
        }
        let _longest = c.claim(&"x".repeat(MAX_SUBJECT_LEN), TTL).unwrap();
        assert_eq!(
            c.claim("t", Duration::ZERO).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(
            Contest::open(
                &f,
                Some(&ContestOptions {
                    capacity: 0,
                    mode: 0
                })
            )
            .unwrap_err()
            .status(),
            Status::InvalidArgument
        );
        assert_eq!(
            Contest::open(
                &f,
                Some(&ContestOptions {
                    capacity: 8,
                    mode: 0
                })
            )
            .unwrap_err()
            .status(),
            Status::Incompatible
        );
        let o = Fleet::observe(f.name()).unwrap();
        let co = Contest::open(&o, None).unwrap();
        assert_eq!(co.claim("t", TTL).unwrap_err().status(), Status::ReadOnly);
        assert!(co.holder(&"x".repeat(MAX_SUBJECT_LEN)).unwrap().is_some());
        cleanup(&f);
    }

    #[test]
    fn full_table_evicts_only_free_subjects_and_tokens_survive() {
        let f = fleet("full");
        let c = Contest::open(
            &f,
            Some(&ContestOptions {
                capacity: 4,
                mode: 0,
            }),
        )
        .unwrap();
        let mut held: Vec<Lease> = (0..4)
            .map(|i| c.claim(&format!("s{i}"), TTL).unwrap())
            .collect();
        assert_eq!(c.claim("new", TTL).unwrap_err().status(), Status::Full);
        // Raise s0's token, then free it: "new" evicts it.
        let s0 = held.remove(0);
        s0.release().unwrap();
        let mut s0_last = 0;
        for _ in 0..3 {
            s0_last = c.claim("s0", TTL).unwrap().token();
        }
        let n = c.claim("new", TTL).unwrap();
        assert!(
            n.token() > s0_last,
            "a newly bound subject starts above the floor"
        );
        assert_eq!(c.stats().evictions, 1);
        assert_eq!(c.claim("s0", TTL).unwrap_err().status(), Status::Full);
        drop(n);
        let again = c.claim("s0", TTL).unwrap();
        assert!(
            again.token() > s0_last,
            "tokens of an evicted subject keep growing"
        );
        drop(held);
        cleanup(&f);
    }

    #[test]
    fn audit_trail_records_claims_and_releases() {
        let f = fleet("audit");
        let c = Contest::open(&f, None).unwrap();
        let mut cur = c.audit(From::Head).unwrap();
        let l = c.claim("a", TTL).unwrap();
        let t = l.token();
        drop(l);
        let recs: Vec<AuditRecord> = std::iter::from_fn(|| cur.next_frame().unwrap())
            .map(|fr| AuditRecord::decode(&fr).unwrap())
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (
                recs[0].action,
                recs[0].subject.as_str(),
                recs[0].token,
                recs[0].prev
            ),
            (AuditAction::Claim, "a", t, PrevHolder::Released)
        );
        assert_eq!((recs[1].action, recs[1].token), (AuditAction::Release, t));
        assert_eq!(recs[0].node_id, f.node_id().unwrap());
        cleanup(&f);
    }
}
