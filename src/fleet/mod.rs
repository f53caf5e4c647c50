//! Fleet membership: one table segment per fleet (`orbit:<uid>:<fleet>:fleet:members`).
//!
//! # Protocol
//!
//! The table holds `max_nodes` slots; node id `n` (1-based; 0 means "no node")
//! lives in slot `n-1`. A slot's `owner` word packs
//! `[state:2 @48][incarnation:16 @32][pid:32 @0]`:
//!
//! - **join**: CAS `owner` from a FREE word (or from the word of a holder that
//!   is dead) to `CLAIMING|inc+1|pid`; only the CAS winner touches the other
//!   fields; it writes start time, label and times, then stores `ALIVE|inc|pid`
//!   with Release (paired with the Acquire loads in [`Fleet::tag_is_dead`] and
//!   [`Fleet::members`]).
//! - **leave**: CAS `ALIVE|inc|pid` back to `FREE|inc|0` (the incarnation is
//!   kept so it keeps growing).
//! - **liveness**: a writer tag `(node, incarnation)` recorded elsewhere (ring
//!   slots, cache buckets, leases) is dead when the slot's incarnation moved on,
//!   the slot is FREE, or its (pid, start time) no longer names a running process.
//!   A CLAIMING slot whose pid exists counts as alive (the claim window is a few
//!   stores long).
//!
//! Heartbeats are explicit (`heartbeat()`): no hidden thread, because prefork
//! servers fork after initialisation.
//!
//! # Heartbeat history
//!
//! Every heartbeat also goes to the ring `heartbeats` of the fleet (KIND 221,
//! 1024 frames of 16 bytes, created by the first heartbeat): frame kind 1,
//! `ver` = the time in ms, the frame id's NODE = the node, payload
//! `[pid:u32][incarnation:u16][0:u16][count:u64]` little-endian, where `count`
//! numbers the node's heartbeats since it joined. Any ring cursor reads it;
//! [`Fleet::heartbeat_snapshot`] summarises it per node.

pub mod liveness;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::epoch::OrbitEpoch;
use crate::error::{Error, Result};
use crate::ring::{From, PlainRing, Ring, RingCore, RingGeometry};
use crate::shm::{self, HEADER_SIZE, ObjectKind, OpenRequest, Segment, SegmentLayout, SegmentName};
use crate::sync::{AtomicU64, Ordering};

/// Default number of node slots in a new fleet table.
pub const DEFAULT_MAX_NODES: u32 = 256;
/// Largest number of node slots.
pub const MAX_NODES_LIMIT: u32 = 4096;
/// Default age after which a member without a heartbeat counts as stale.
pub const DEFAULT_STALE_AFTER_MS: u64 = 10_000;
/// Longest member label, in bytes.
pub const LABEL_LEN: usize = 32;
/// Name of the ring holding the heartbeat history.
pub const HEARTBEAT_RING: &str = "heartbeats";
/// KIND byte of the heartbeat ring.
pub const HEARTBEAT_KIND: u8 = 221;
/// Frame kind of a heartbeat record.
pub const HEARTBEAT_FRAME: u8 = 1;
const HEARTBEAT_CAPACITY: u64 = 1024;
const HEARTBEAT_PAYLOAD: u32 = 16;

const STATE_SHIFT: u32 = 48;
const INC_SHIFT: u32 = 32;
const STATE_FREE: u64 = 0;
const STATE_CLAIMING: u64 = 1;
const STATE_ALIVE: u64 = 2;

fn pack(state: u64, inc: u16, pid: u32) -> u64 {
    (state << STATE_SHIFT) | ((inc as u64) << INC_SHIFT) | pid as u64
}
fn state_of(w: u64) -> u64 {
    (w >> STATE_SHIFT) & 3
}
fn inc_of(w: u64) -> u16 {
    (w >> INC_SHIFT) as u16
}
fn pid_of(w: u64) -> u32 {
    w as u32
}

/// One node slot (128 bytes).
#[repr(C, align(64))]
struct NodeSlot {
    owner: AtomicU64,
    start_time: AtomicU64,
    joined_at_ms: AtomicU64,
    last_heartbeat_ms: AtomicU64,
    heartbeats: AtomicU64,
    label: [AtomicU64; LABEL_LEN / 8],
    _pad: [u64; 7],
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<NodeSlot>() == 128);

pub(crate) struct FleetLayout;

impl SegmentLayout for FleetLayout {
    const KIND: ObjectKind = ObjectKind::Fleet;
    const LAYOUT_VERSION: u32 = 1;
    type Geometry = u32;

    fn encode(g: &u32) -> [u64; 8] {
        [*g as u64, 0, 0, 0, 0, 0, 0, 0]
    }
    fn decode(raw: &[u64; 8]) -> Result<u32> {
        match raw[0] {
            n @ 1..=4096 => Ok(n as u32),
            n => Err(Error::Corrupt(format!("fleet table claims {n} node slots"))),
        }
    }
    fn total_size(g: &u32) -> Result<usize> {
        if *g == 0 || *g > MAX_NODES_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "max_nodes {g} not in 1..={MAX_NODES_LIMIT}"
            )));
        }
        Ok(HEADER_SIZE + *g as usize * std::mem::size_of::<NodeSlot>())
    }
    unsafe fn init_body(_base: *mut u8, _g: &u32) {
        // All-zero slots are FREE with incarnation 0.
    }
}

/// Options for [`Fleet::join`].
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// A label shown in member listings (at most 31 bytes; longer is an error).
    pub label: String,
    /// Node slots of the table if this call creates it.
    pub max_nodes: u32,
    /// Heartbeat age after which a live member is reported stale.
    pub stale_after_ms: u64,
    /// Permission bits of segments this fleet creates (0 = 0600).
    pub mode: u32,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            label: String::new(),
            max_nodes: DEFAULT_MAX_NODES,
            stale_after_ms: DEFAULT_STALE_AFTER_MS,
            mode: 0,
        }
    }
}

/// A member's state as seen now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Its process runs and heartbeated recently.
    Alive,
    /// Its process runs but its last heartbeat is older than the limit.
    Stale,
    /// Its process is gone; the node id will be reused.
    Dead,
}

/// One row of [`Fleet::members`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Node id (1-based).
    pub node_id: u16,
    /// Process id.
    pub pid: u32,
    /// Alive, stale or dead.
    pub state: MemberState,
    /// The label given at join.
    pub label: String,
    /// When it joined.
    pub joined_at_ms: u64,
    /// Its last heartbeat (the join counts as one).
    pub last_heartbeat_ms: u64,
}

/// A node's freshness in a [`FleetHeartbeatSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatState {
    /// A member whose process runs and heartbeated within the stale limit.
    Fresh,
    /// A member whose process runs but whose last heartbeat is older.
    Stale,
    /// A member whose process is gone, or a process that heartbeated within
    /// the history and is no longer a member.
    Missing,
}

/// One row of a [`FleetHeartbeatSnapshot`]: one process on one node id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHeartbeat {
    /// Node id.
    pub node_id: u16,
    /// The process that has (or had) it.
    pub pid: u32,
    /// True for the process the membership table names for this node id
    /// (alive or dead); false for one known only from the history.
    pub member: bool,
    /// Its label (empty for a process that is no longer a member).
    pub label: String,
    /// Fresh, stale or missing.
    pub state: HeartbeatState,
    /// Its latest heartbeat (a join counts as one), ms since the Unix epoch.
    pub last_heartbeat_ms: u64,
    /// Its heartbeats the history ring still holds.
    pub beats_in_history: u64,
}

/// Each node's latest heartbeat, as taken by [`Fleet::heartbeat_snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetHeartbeatSnapshot {
    /// When it was taken, ms since the Unix epoch.
    pub taken_at_ms: u64,
    /// The age after which a member counts as stale.
    pub stale_after_ms: u64,
    /// Time of the oldest heartbeat the history still holds.
    pub history_since_ms: Option<u64>,
    /// One row per process, by node id.
    pub nodes: Vec<NodeHeartbeat>,
}

impl FleetHeartbeatSnapshot {
    /// Node ids whose row is missing.
    pub fn missing(&self) -> Vec<u16> {
        self.with_state(HeartbeatState::Missing)
    }

    /// Node ids whose row is stale.
    pub fn stale(&self) -> Vec<u16> {
        self.with_state(HeartbeatState::Stale)
    }

    /// The current member's row for a node id, if it has one.
    pub fn node(&self, node_id: u16) -> Option<&NodeHeartbeat> {
        self.nodes.iter().find(|n| n.node_id == node_id && n.member)
    }

    fn with_state(&self, s: HeartbeatState) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .nodes
            .iter()
            .filter(|n| n.state == s)
            .map(|n| n.node_id)
            .collect();
        v.dedup();
        v
    }
}

/// Our own node, when joined.
#[derive(Clone, Copy, Debug)]
struct Identity {
    node: u16,
    inc: u16,
    pid: u32,
}

struct FleetInner {
    name: String,
    seg: Segment,
    max_nodes: u32,
    identity: Option<Identity>,
    stale_after_ms: u64,
    mode: u32,
    fork_generation: u64,
    /// The heartbeat ring, opened by the first heartbeat. A `RingCore` holds
    /// no fleet, so keeping it here makes no reference cycle.
    heartbeat_ring: OnceLock<RingCore>,
}

/// A handle on a fleet: either a member (joined, with a node id) or an observer.
///
/// Cheap to clone (reference counted); every ring, cache or bus opened through
/// it keeps it alive. The node is left when the last clone is dropped.
/// Thread-safe.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<FleetInner>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("name", &self.inner.name)
            .field("node_id", &self.node_id())
            .finish()
    }
}

/// Writer identity recorded in shared structures: `node << 16 | incarnation`.
pub type WriterTag = u32;

impl Fleet {
    /// Joins `fleet`, creating its table if needed, and takes a free node id
    /// (reclaiming the id of a dead process when no slot is free).
    ///
    /// `fleet` is a bare name (`jobs`: the caller's own fleet, segments are
    /// scoped by effective uid) or `<uid>:<name>` (`1001:jobs`: the fleet of
    /// another user who opened it to a group with mode 0660).
    ///
    /// Errors: `InvalidArgument` (name, label, options), `Full` (every node id
    /// belongs to a live process), `Permission`, `Incompatible`/`Corrupt` (a
    /// foreign file under the table's name).
    pub fn join(fleet: &str, opts: &FleetOptions) -> Result<Fleet> {
        if opts.label.len() >= LABEL_LEN || opts.label.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "label must be at most {} bytes without NUL, got {}",
                LABEL_LEN - 1,
                opts.label.len()
            )));
        }
        let name = SegmentName::new(fleet, ObjectKind::Fleet, "members")?;
        let (seg, max_nodes) = shm::open::<FleetLayout>(
            &name,
            OpenRequest {
                create: Some((opts.max_nodes, false)),
                read_only: false,
                mode: opts.mode,
            },
        )?;
        let fork_generation = liveness::fork_generation();
        let pid = std::process::id();
        let start = liveness::process_start_time(pid).ok_or_else(|| Error::Io {
            what: "reading /proc/self/stat".into(),
            source: crate::error::IoError(libc::ENOENT),
        })?;
        let mut inner = FleetInner {
            name: fleet.to_string(),
            seg,
            max_nodes,
            identity: None,
            stale_after_ms: opts.stale_after_ms,
            mode: opts.mode,
            fork_generation,
            heartbeat_ring: OnceLock::new(),
        };
        let identity = inner.claim_slot(pid, start, &opts.label)?;
        inner.identity = Some(identity);
        Ok(Fleet {
            inner: Arc::new(inner),
        })
    }

    /// Attaches to an existing fleet read-only, without taking a node id.
    /// Objects opened through an observer are never created and never written.
    pub fn observe(fleet: &str) -> Result<Fleet> {
        let name = SegmentName::new(fleet, ObjectKind::Fleet, "members")?;
        let (seg, max_nodes) = shm::open::<FleetLayout>(
            &name,
            OpenRequest {
                create: None,
                read_only: true,
                mode: 0,
            },
        )?;
        Ok(Fleet {
            inner: Arc::new(FleetInner {
                name: fleet.to_string(),
                seg,
                max_nodes,
                identity: None,
                stale_after_ms: DEFAULT_STALE_AFTER_MS,
                mode: 0,
                fork_generation: liveness::fork_generation(),
                heartbeat_ring: OnceLock::new(),
            }),
        })
    }

    /// The fleet's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Our node id, `None` for an observer.
    pub fn node_id(&self) -> Option<u16> {
        self.inner.identity.map(|i| i.node)
    }

    /// True for an observer.
    pub fn is_observer(&self) -> bool {
        self.inner.identity.is_none()
    }

    /// Number of node slots of the table.
    pub fn max_nodes(&self) -> u32 {
        self.inner.max_nodes
    }

    /// Permission bits for segments created through this handle.
    pub(crate) fn mode(&self) -> u32 {
        self.inner.mode
    }

    /// Records a heartbeat for our node in the membership table and appends
    /// it to the heartbeat history ring (created on demand).
    ///
    /// Errors: `ReadOnly` (observer), `InvalidArgument` (handle inherited
    /// through fork); opening the history ring can fail like any ring open
    /// (`Incompatible` if a ring of that name is not a heartbeat ring), after
    /// the table was updated.
    pub fn heartbeat(&self) -> Result<()> {
        let id = self.identity_checked()?;
        let slot = self.inner.slot(id.node);
        let now = OrbitEpoch::now().as_millis();
        slot.last_heartbeat_ms.store(now, Ordering::Relaxed);
        let count = slot.heartbeats.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rec = [0u8; HEARTBEAT_PAYLOAD as usize];
        rec[0..4].copy_from_slice(&id.pid.to_le_bytes());
        rec[4..6].copy_from_slice(&id.inc.to_le_bytes());
        rec[8..16].copy_from_slice(&count.to_le_bytes());
        self.heartbeat_ring()?
            .write_as(self, HEARTBEAT_FRAME, now, &[&rec])?;
        Ok(())
    }

    fn heartbeat_geometry() -> RingGeometry {
        RingGeometry::new(HEARTBEAT_CAPACITY, HEARTBEAT_PAYLOAD, HEARTBEAT_KIND)
    }

    fn check_heartbeat_geometry(g: RingGeometry, fleet: &str) -> Result<()> {
        if g.kind() != HEARTBEAT_KIND || g.max_payload() < HEARTBEAT_PAYLOAD {
            return Err(Error::Incompatible(format!(
                "ring {HEARTBEAT_RING:?} of fleet {fleet:?} has kind {} and max_payload {}: not a heartbeat ring",
                g.kind(),
                g.max_payload()
            )));
        }
        Ok(())
    }

    fn heartbeat_ring(&self) -> Result<&RingCore> {
        if let Some(r) = self.inner.heartbeat_ring.get() {
            return Ok(r);
        }
        let core = RingCore::open::<PlainRing>(
            self,
            HEARTBEAT_RING,
            Self::heartbeat_geometry(),
            false,
            0,
        )?;
        Self::check_heartbeat_geometry(core.geometry(), self.name())?;
        // A racing thread may have set it first; either mapping is the same ring.
        let _ = self.inner.heartbeat_ring.set(core);
        self.inner
            .heartbeat_ring
            .get()
            .ok_or_else(|| Error::NotExist(HEARTBEAT_RING.into()))
    }

    /// Each node's latest heartbeat, from the membership table and the
    /// heartbeat history: which members are fresh or stale, and which nodes
    /// are missing (their process died, or they heartbeated within the
    /// history and are no longer members).
    ///
    /// Reads up to 1024 history frames; through an observer, a fleet that
    /// never heartbeated has an empty history.
    pub fn heartbeat_snapshot(&self) -> Result<FleetHeartbeatSnapshot> {
        let now = OrbitEpoch::now().as_millis();
        let members = self.members();
        // (node, pid) -> (latest ms, frames)
        let mut history: BTreeMap<(u16, u32), (u64, u64)> = BTreeMap::new();
        let mut since = None;
        let ring = match Ring::open_object::<PlainRing>(
            self,
            HEARTBEAT_RING,
            Self::heartbeat_geometry(),
            false,
            0,
        ) {
            Ok(r) => Some(r),
            Err(Error::NotExist(_)) if self.is_observer() => None,
            Err(e) => return Err(e),
        };
        if let Some(ring) = ring {
            Self::check_heartbeat_geometry(ring.geometry(), self.name())?;
            let mut cur = ring.cursor(From::Oldest);
            // Sized by the ring, not by a heartbeat: a ring made with a larger
            // `max_payload` (accepted above) may hold longer frames, which are
            // skipped below instead of failing with `BufferTooSmall`.
            let mut buf = vec![0u8; ring.geometry().max_payload() as usize];
            // Bounded: a busy fleet cannot keep us reading forever.
            for _ in 0..2 * HEARTBEAT_CAPACITY {
                let Some(f) = cur.next_into(&mut buf)? else {
                    break;
                };
                if f.kind != HEARTBEAT_FRAME || f.len < HEARTBEAT_PAYLOAD {
                    continue;
                }
                since.get_or_insert(f.ver);
                let pid = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let e = history.entry((f.id.node(), pid)).or_insert((0, 0));
                e.0 = e.0.max(f.ver);
                e.1 += 1;
            }
        }
        let mut nodes = Vec::new();
        for m in &members {
            let (hist_ms, beats) = history.remove(&(m.node_id, m.pid)).unwrap_or((0, 0));
            let last = m.last_heartbeat_ms.max(hist_ms);
            let state = match m.state {
                MemberState::Dead => HeartbeatState::Missing,
                _ if now.saturating_sub(last) > self.inner.stale_after_ms => HeartbeatState::Stale,
                _ => HeartbeatState::Fresh,
            };
            nodes.push(NodeHeartbeat {
                node_id: m.node_id,
                pid: m.pid,
                member: true,
                label: m.label.clone(),
                state,
                last_heartbeat_ms: last,
                beats_in_history: beats,
            });
        }
        for ((node_id, pid), (last, beats)) in history {
            nodes.push(NodeHeartbeat {
                node_id,
                pid,
                member: false,
                label: String::new(),
                state: HeartbeatState::Missing,
                last_heartbeat_ms: last,
                beats_in_history: beats,
            });
        }
        nodes.sort_by_key(|n| (n.node_id, n.pid));
        Ok(FleetHeartbeatSnapshot {
            taken_at_ms: now,
            stale_after_ms: self.inner.stale_after_ms,
            history_since_ms: since,
            nodes,
        })
    }

    /// Every occupied node slot, with its state now.
    pub fn members(&self) -> Vec<Member> {
        let now = OrbitEpoch::now().as_millis();
        let mut out = Vec::new();
        for node in 1..=self.inner.max_nodes as u16 {
            let slot = self.inner.slot(node);
            // Acquire: pairs with the Release store of ALIVE in `claim_slot`.
            let o = slot.owner.load(Ordering::Acquire);
            if state_of(o) != STATE_ALIVE {
                continue;
            }
            let pid = pid_of(o);
            let start = slot.start_time.load(Ordering::Relaxed);
            let hb = slot.last_heartbeat_ms.load(Ordering::Relaxed);
            let state = if !liveness::is_same_process_alive(pid, start) {
                MemberState::Dead
            } else if now.saturating_sub(hb) > self.inner.stale_after_ms {
                MemberState::Stale
            } else {
                MemberState::Alive
            };
            out.push(Member {
                node_id: node,
                pid,
                state,
                label: read_label(&slot.label),
                joined_at_ms: slot.joined_at_ms.load(Ordering::Relaxed),
                last_heartbeat_ms: hb,
            });
        }
        out
    }

    /// This process's pid as recorded at join (no syscall: glibc does not
    /// cache `getpid`); the current pid for an observer.
    pub(crate) fn own_pid(&self) -> u32 {
        match self.inner.identity {
            Some(id) if liveness::fork_generation() == self.inner.fork_generation => id.pid,
            _ => std::process::id(),
        }
    }

    /// Our writer tag; `ReadOnly` for an observer, `InvalidArgument` in a
    /// forked child that did not join on its own.
    #[inline]
    pub(crate) fn writer_tag(&self) -> Result<WriterTag> {
        let id = self.identity_checked()?;
        Ok(((id.node as u32) << 16) | id.inc as u32)
    }

    /// Whether the writer named by `tag` is gone for good (see the module doc).
    /// Tag 0 (no writer) is dead.
    pub(crate) fn tag_is_dead(&self, tag: WriterTag) -> bool {
        let node = (tag >> 16) as u16;
        let inc = tag as u16;
        if node == 0 || node as u32 > self.inner.max_nodes {
            return true;
        }
        let slot = self.inner.slot(node);
        // Acquire: pairs with the Release store of ALIVE in `claim_slot`, so
        // `start_time` below is the one of this incarnation.
        let o = slot.owner.load(Ordering::Acquire);
        if inc_of(o) != inc {
            return true;
        }
        match state_of(o) {
            STATE_ALIVE => {
                !liveness::is_same_process_alive(pid_of(o), slot.start_time.load(Ordering::Relaxed))
            }
            STATE_CLAIMING => !liveness::pid_exists(pid_of(o)),
            _ => true,
        }
    }

    #[inline]
    fn identity_checked(&self) -> Result<Identity> {
        let id = self
            .inner
            .identity
            .ok_or(Error::ReadOnly("this fleet handle is an observer"))?;
        if liveness::fork_generation() != self.inner.fork_generation {
            return Err(Error::InvalidArgument(
                "fleet handle used in a forked child: join the fleet again in the child".into(),
            ));
        }
        Ok(id)
    }
}

fn read_label(words: &[AtomicU64; LABEL_LEN / 8]) -> String {
    let mut bytes = [0u8; LABEL_LEN];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(LABEL_LEN);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl FleetInner {
    fn slot(&self, node: u16) -> &NodeSlot {
        debug_assert!(node >= 1 && node as u32 <= self.max_nodes);
        let idx = (node as usize - 1).min(self.max_nodes as usize - 1);
        // SAFETY: the segment was validated to hold `max_nodes` slots after the
        // header; idx is clamped below max_nodes; slots are 64-aligned.
        unsafe { &*(self.seg.base().add(HEADER_SIZE).cast::<NodeSlot>().add(idx)) }
    }

    fn claim_slot(&self, pid: u32, start: u64, label: &str) -> Result<Identity> {
        // First pass takes a free slot; the second reclaims a dead holder's.
        for reclaim in [false, true] {
            for node in 1..=self.max_nodes as u16 {
                let slot = self.slot(node);
                let o = slot.owner.load(Ordering::Acquire);
                let takeable = match state_of(o) {
                    STATE_FREE => true,
                    STATE_ALIVE if reclaim => !liveness::is_same_process_alive(
                        pid_of(o),
                        slot.start_time.load(Ordering::Relaxed),
                    ),
                    STATE_CLAIMING if reclaim => !liveness::pid_exists(pid_of(o)),
                    _ => false,
                };
                if !takeable {
                    continue;
                }
                let inc = inc_of(o).wrapping_add(1);
                // AcqRel: Acquire orders our reads after the previous holder's
                // writes; Release is not needed by anyone until the ALIVE store.
                if slot
                    .owner
                    .compare_exchange(
                        o,
                        pack(STATE_CLAIMING, inc, pid),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                let now = OrbitEpoch::now().as_millis();
                slot.start_time.store(start, Ordering::Relaxed);
                slot.joined_at_ms.store(now, Ordering::Relaxed);
                slot.last_heartbeat_ms.store(now, Ordering::Relaxed);
                slot.heartbeats.store(0, Ordering::Relaxed);
                let mut bytes = [0u8; LABEL_LEN];
                bytes[..label.len()].copy_from_slice(label.as_bytes());
                for (w, chunk) in slot.label.iter().zip(bytes.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    w.store(u64::from_le_bytes(b), Ordering::Relaxed);
                }
                // Release: publishes the fields above; pairs with the Acquire
                // loads in `members`, `tag_is_dead` and `claim_slot`.
                slot.owner
                    .store(pack(STATE_ALIVE, inc, pid), Ordering::Release);
                return Ok(Identity { node, inc, pid });
            }
        }
        Err(Error::Full(format!(
            "fleet {:?}: all {} node ids belong to live processes",
            self.name, self.max_nodes
        )))
    }
}

impl Drop for FleetInner {
    fn drop(&mut self) {
        let Some(id) = self.identity else { return };
        // A forked child holds a copy of its parent's handle: it must not free
        // the parent's node.
        if liveness::fork_generation() != self.fork_generation {
            return;
        }
        let slot = self.slot(id.node);
        // Release: our last writes happen-before a later claimer's Acquire.
        let _ = slot.owner.compare_exchange(
            pack(STATE_ALIVE, id.inc, id.pid),
            pack(STATE_FREE, id.inc, 0),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

/// Removes a fleet's membership table and its heartbeat history ring (the
/// fleet's own segments; rings, buses, caches and the lease table have their
/// own unlink). Members that are attached keep working on the unlinked
/// segments; new joins create fresh ones. `NotExist` refers to the table.
pub fn unlink(fleet: &str) -> Result<()> {
    let table = shm::unlink(&SegmentName::new(fleet, ObjectKind::Fleet, "members")?);
    match Ring::unlink(fleet, HEARTBEAT_RING) {
        Ok(()) | Err(Error::NotExist(_)) => table,
        Err(e) => table.and(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(tag: &str) -> String {
        format!("t{}-{tag}", std::process::id())
    }

    #[test]
    fn join_members_leave() {
        let name = unique("jml");
        let a = Fleet::join(
            &name,
            &FleetOptions {
                label: "alpha".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let b = Fleet::join(&name, &FleetOptions::default()).unwrap();
        assert_ne!(a.node_id(), b.node_id());
        let m = a.members();
        assert_eq!(m.len(), 2);
        assert!(
            m.iter()
                .any(|m| m.label == "alpha" && m.state == MemberState::Alive)
        );
        let b_id = b.node_id().unwrap();
        drop(b);
        assert_eq!(a.members().len(), 1);
        let c = Fleet::join(&name, &FleetOptions::default()).unwrap();
        assert_eq!(c.node_id(), Some(b_id), "freed id is reused");
        let tag_a = a.writer_tag().unwrap();
        assert!(!a.tag_is_dead(tag_a));
        assert!(a.tag_is_dead(tag_a ^ 1), "another incarnation is dead");
        unlink(&name).unwrap();
    }

    #[test]
    fn full_table_and_observer() {
        let name = unique("full");
        let a = Fleet::join(
            &name,
            &FleetOptions {
                max_nodes: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let e = Fleet::join(&name, &FleetOptions::default()).unwrap_err();
        assert_eq!(e.status(), crate::Status::Full);
        let o = Fleet::observe(&name).unwrap();
        assert!(o.is_observer());
        assert_eq!(o.heartbeat().unwrap_err().status(), crate::Status::ReadOnly);
        assert_eq!(o.members().len(), 1);
        drop(a);
        unlink(&name).unwrap();
        assert_eq!(
            Fleet::observe(&name).unwrap_err().status(),
            crate::Status::NotExist
        );
    }

    #[test]
    fn heartbeat_history_and_snapshot() {
        let name = unique("hb");
        let a = Fleet::join(
            &name,
            &FleetOptions {
                label: "a".into(),
                stale_after_ms: 60_000,
                ..Default::default()
            },
        )
        .unwrap();
        let o = Fleet::observe(&name).unwrap();
        assert!(o.heartbeat_snapshot().unwrap().history_since_ms.is_none());
        for _ in 0..3 {
            a.heartbeat().unwrap();
        }
        let ring = Ring::open(&a, HEARTBEAT_RING, None).unwrap();
        assert_eq!(ring.info().kind, HEARTBEAT_KIND);
        let frames: Vec<_> = ring.cursor(From::Oldest).collect();
        assert_eq!(frames.len(), 3);
        let f = &frames[2];
        assert_eq!(
            (f.info.kind, f.info.id.node()),
            (HEARTBEAT_FRAME, a.node_id().unwrap())
        );
        assert_eq!(u64::from_le_bytes(f.payload[8..16].try_into().unwrap()), 3);
        let snap = o.heartbeat_snapshot().unwrap();
        let row = snap.node(a.node_id().unwrap()).unwrap();
        assert_eq!(
            (row.state, row.beats_in_history, row.label.as_str(), row.pid),
            (HeartbeatState::Fresh, 3, "a", std::process::id())
        );
        assert!(snap.missing().is_empty() && snap.stale().is_empty());
        // A member that heartbeated and left is missing.
        let b = Fleet::join(&name, &FleetOptions::default()).unwrap();
        let b_id = b.node_id().unwrap();
        b.heartbeat().unwrap();
        drop(b);
        let snap = a.heartbeat_snapshot().unwrap();
        assert_eq!(snap.missing(), vec![b_id]);
        assert!(snap.node(b_id).is_none());
        // A member without a recent heartbeat is stale.
        let c = Fleet::join(
            &name,
            &FleetOptions {
                stale_after_ms: 0,
                ..Default::default()
            },
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let snap = c.heartbeat_snapshot().unwrap();
        assert!(snap.stale().contains(&a.node_id().unwrap()));
        unlink(&name).unwrap();
        assert_eq!(
            Ring::unlink(&name, HEARTBEAT_RING).unwrap_err().status(),
            crate::Status::NotExist,
            "the fleet's unlink removes its heartbeat ring"
        );
    }

    #[test]
    fn bad_label() {
        let e = Fleet::join(
            &unique("lbl"),
            &FleetOptions {
                label: "x".repeat(32),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.status(), crate::Status::InvalidArgument);
    }
}
