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

pub mod liveness;

use std::sync::Arc;

use crate::epoch::OrbitEpoch;
use crate::error::{Error, Result};
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

struct FleetLayout;

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

    /// Records a heartbeat for our node.
    pub fn heartbeat(&self) -> Result<()> {
        let id = self.identity_checked()?;
        let slot = self.inner.slot(id.node);
        slot.last_heartbeat_ms
            .store(OrbitEpoch::now().as_millis(), Ordering::Relaxed);
        slot.heartbeats.fetch_add(1, Ordering::Relaxed);
        Ok(())
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

    /// Our writer tag; `ReadOnly` for an observer, `InvalidArgument` in a
    /// forked child that did not join on its own.
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

/// Removes a fleet's membership table. Members that are attached keep working
/// on the unlinked table; new joins create a fresh one.
pub fn unlink(fleet: &str) -> Result<()> {
    shm::unlink(&SegmentName::new(fleet, ObjectKind::Fleet, "members")?)
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
