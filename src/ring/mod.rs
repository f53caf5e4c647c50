//! The lossy multi-writer ring in shared memory.
//!
//! Many writers in many processes append frames; any number of readers follow
//! with their own [`Cursor`]. Writers never wait for readers: a reader that
//! falls more than `capacity` frames behind loses the oldest ones and is told
//! exactly how many. The slot protocol, its invariants and the crashed-writer
//! rule are written down in [`protocol`]; this module binds them to a segment
//! and a fleet.
//!
//! Segment layout (`orbit:<uid>:<fleet>:ring:<name>`): the common header
//! (128 bytes), the [`protocol::RingControl`] block (192 bytes), the owner
//! words (one per slot, whole cache lines), then `capacity` slots of
//! `slot_stride` bytes (a multiple of 64, at least 128): the first line
//! holds `seq`, `id`, `ver`, `len|kind` and the payload's first 32 bytes,
//! the second starts with `begin`, and the rest of the payload starts at
//! byte 96 (see [`protocol::SlotHeader`]).

mod cursor;
mod futex;
pub(crate) mod protocol;
mod typed;

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

pub use cursor::{Cursor, From};
pub use typed::{OrbitTyped, Orbital};

use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::id::NetId64;
use crate::shm::{self, HEADER_SIZE, ObjectKind, OpenRequest, Segment, SegmentLayout, SegmentName};
use protocol::{INITIAL_OWNER, ReadOutcome, RingControl, RingView};

/// Default slot count of a ring created without options.
pub const DEFAULT_CAPACITY: u64 = 4096;
/// Default largest payload of a ring created without options.
pub const DEFAULT_MAX_PAYLOAD: u32 = 1024;
/// Largest slot count.
pub const MAX_CAPACITY: u64 = 1 << 30;
/// Largest `max_payload`.
pub const MAX_PAYLOAD_LIMIT: u32 = 16 << 20;
/// Largest segment a ring may need.
const MAX_RING_BYTES: u64 = 1 << 40;

const CONTROL_SIZE: usize = std::mem::size_of::<RingControl>();
/// Offset of the owner-word array (after the header and the control block).
const OWNERS_OFFSET: usize = HEADER_SIZE + CONTROL_SIZE;

/// Ring geometry, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingOptions {
    /// Number of slots, a power of two (1..=2^30).
    pub capacity: u64,
    /// Largest payload in bytes (1..=16 MiB).
    pub max_payload: u32,
    /// The ring's KIND byte, carried in every frame id.
    pub kind: u8,
    /// Permission bits of the segment if this call creates it (0 = the
    /// fleet's mode, else 0600).
    pub mode: u32,
    /// One writer at a time, through [`Ring::writer`]: its writes claim
    /// slots with plain stores instead of compare-and-swaps (the ring's
    /// lowest latency). [`Ring::write`] is refused on such a ring.
    pub single_writer: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            capacity: DEFAULT_CAPACITY,
            max_payload: DEFAULT_MAX_PAYLOAD,
            kind: 0,
            mode: 0,
            single_writer: false,
        }
    }
}

/// What is fixed in the segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingGeometry {
    capacity: u64,
    max_payload: u32,
    kind: u8,
    single_writer: bool,
}

impl RingGeometry {
    /// A multi-writer ring's geometry.
    pub(crate) fn new(capacity: u64, max_payload: u32, kind: u8) -> Self {
        RingGeometry {
            capacity,
            max_payload,
            kind,
            single_writer: false,
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn max_payload(&self) -> u32 {
        self.max_payload
    }

    pub(crate) fn kind(&self) -> u8 {
        self.kind
    }

    fn of(o: &RingOptions) -> Self {
        RingGeometry {
            capacity: o.capacity,
            max_payload: o.max_payload,
            kind: o.kind,
            single_writer: o.single_writer,
        }
    }

    /// Bytes of the owner-word array between the control block and the
    /// slots: one word per slot, rounded up to whole cache lines.
    fn owners_size(&self) -> u64 {
        self.capacity
            .saturating_mul(8)
            .div_ceil(64)
            .saturating_mul(64)
    }

    /// Offset of the first slot from the segment's start.
    fn slots_offset(&self) -> usize {
        OWNERS_OFFSET + self.owners_size() as usize
    }

    fn stride(&self) -> usize {
        shm::round_up_64(protocol::frame_bytes(
            (self.max_payload as usize).div_ceil(8) * 8,
        ))
        .unwrap_or(usize::MAX)
    }

    fn check(&self) -> std::result::Result<usize, String> {
        if self.capacity == 0 || !self.capacity.is_power_of_two() || self.capacity > MAX_CAPACITY {
            return Err(format!(
                "capacity {} is not a power of two in 1..=2^30",
                self.capacity
            ));
        }
        if self.max_payload == 0 || self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(format!(
                "max_payload {} not in 1..={MAX_PAYLOAD_LIMIT}",
                self.max_payload
            ));
        }
        let bytes = (self.stride() as u64)
            .checked_mul(self.capacity)
            .and_then(|b| b.checked_add((HEADER_SIZE + CONTROL_SIZE) as u64))
            .and_then(|b| b.checked_add(self.owners_size()))
            .filter(|b| *b <= MAX_RING_BYTES)
            .ok_or_else(|| {
                format!(
                    "capacity {} x max_payload {} exceeds 1 TiB",
                    self.capacity, self.max_payload
                )
            })?;
        usize::try_from(bytes).map_err(|_| "ring too large for this address space".to_string())
    }
}

/// The kind of segment a ring body lives in. A plain ring is its own object;
/// the event bus is a segment of kind `Bus` whose body is a ring, so it reuses
/// the slot protocol, cursors and futex wait unchanged while `open` of the
/// wrong kind stays `Incompatible`.
pub(crate) trait RingObject {
    /// The object kind in the header and the segment name.
    const OBJECT: ObjectKind;
    /// Layout version of the body (the ring's, plus whatever the object adds
    /// inside frames).
    const LAYOUT_VERSION: u32;
}

/// A ring segment (`orbit:<uid>:<fleet>:ring:<name>`).
pub(crate) struct PlainRing;

impl RingObject for PlainRing {
    const OBJECT: ObjectKind = ObjectKind::Ring;
    /// 2: owner words moved out of the slots into an array of their own.
    /// 3: owner words carry a committed bit; a claim no longer reads `seq`.
    /// 4: the seqlock opens with `begin` on the slot's second line (payload
    /// past its first 32 bytes follows it), not with an odd `seq`.
    const LAYOUT_VERSION: u32 = 4;
}

pub(crate) struct RingLayout<O>(PhantomData<O>);

impl<O: RingObject> SegmentLayout for RingLayout<O> {
    const KIND: ObjectKind = O::OBJECT;
    const LAYOUT_VERSION: u32 = O::LAYOUT_VERSION;
    type Geometry = RingGeometry;

    fn encode(g: &RingGeometry) -> [u64; 8] {
        [
            g.capacity,
            g.max_payload as u64,
            g.kind as u64,
            g.stride() as u64,
            g.single_writer as u64,
            0,
            0,
            0,
        ]
    }
    fn decode(raw: &[u64; 8]) -> Result<RingGeometry> {
        let g = RingGeometry {
            capacity: raw[0],
            max_payload: u32::try_from(raw[1])
                .map_err(|_| Error::Corrupt(format!("ring max_payload {}", raw[1])))?,
            kind: u8::try_from(raw[2])
                .map_err(|_| Error::Corrupt(format!("ring kind {}", raw[2])))?,
            single_writer: match raw[4] {
                0 => false,
                1 => true,
                f => return Err(Error::Corrupt(format!("ring flags {f:#x}"))),
            },
        };
        g.check().map_err(Error::Corrupt)?;
        if raw[3] != g.stride() as u64 {
            return Err(Error::Corrupt(format!(
                "ring slot stride {} should be {}",
                raw[3],
                g.stride()
            )));
        }
        Ok(g)
    }
    fn total_size(g: &RingGeometry) -> Result<usize> {
        g.check().map_err(Error::InvalidArgument)
    }
    unsafe fn init_body(base: *mut u8, g: &RingGeometry) {
        for i in 0..g.capacity as usize {
            // SAFETY: the caller guarantees a writable mapping of total_size(g)
            // bytes; owner word i lies inside the owner array, 8-aligned.
            let owner = unsafe {
                &*(base
                    .add(OWNERS_OFFSET + i * 8)
                    .cast::<crate::sync::AtomicU64>())
            };
            owner.store(INITIAL_OWNER, crate::sync::Ordering::Relaxed);
        }
    }
}

/// A mapped ring body without a fleet: what every ring-shaped object shares.
/// The fleet is passed to each write, so a fleet may keep a `RingCore` of its
/// own (the heartbeat history) without a reference cycle.
pub(crate) struct RingCore {
    seg: Segment,
    view: RingView,
    geom: RingGeometry,
    name: String,
}

impl RingCore {
    /// Opens the ring body of object `O` named `name`: creates it with `geom`
    /// if absent; attaches to an existing one (which must have exactly `geom`
    /// when `exact`). Through an observer, never creates and maps read-only.
    pub(crate) fn open<O: RingObject>(
        fleet: &Fleet,
        name: &str,
        geom: RingGeometry,
        exact: bool,
        mode: u32,
    ) -> Result<RingCore> {
        let seg_name = SegmentName::new(fleet.name(), O::OBJECT, name)?;
        let read_only = fleet.is_observer();
        let mode = if mode != 0 { mode } else { fleet.mode() };
        let (seg, found) = shm::open::<RingLayout<O>>(
            &seg_name,
            OpenRequest {
                create: if read_only { None } else { Some((geom, exact)) },
                read_only,
                mode,
            },
        )?;
        if read_only && exact && found != geom {
            return Err(Error::Incompatible(format!(
                "{} exists with geometry {found:?}, requested {geom:?}",
                seg_name.as_str()
            )));
        }
        // SAFETY: the segment was validated to hold header, control block,
        // owner array and capacity * stride bytes of slots.
        let (ctl, owners, slots) = unsafe {
            (
                seg.base().add(HEADER_SIZE) as *const RingControl,
                seg.base().add(OWNERS_OFFSET) as *const crate::sync::AtomicU64,
                seg.base().add(found.slots_offset()) as *const u8,
            )
        };
        let view = RingView {
            ctl,
            owners,
            slots,
            stride: found.stride(),
            mask: found.capacity - 1,
            shift: found.capacity.trailing_zeros(),
            max_payload: found.max_payload as usize,
        };
        Ok(RingCore {
            seg,
            view,
            geom: found,
            name: name.to_string(),
        })
    }

    /// The geometry found in (or given to) the segment.
    pub(crate) fn geometry(&self) -> RingGeometry {
        self.geom
    }

    /// Appends a frame as `fleet`'s node (see [`Ring::write`]).
    #[inline]
    pub(crate) fn write_as(
        &self,
        fleet: &Fleet,
        kind: u8,
        ver: u64,
        parts: &[&[u8]],
    ) -> Result<NetId64> {
        if self.geom.single_writer {
            return Err(Error::InvalidArgument(format!(
                "ring {:?} is single-writer: write through its writer (Ring::writer, orbit_ring_writer_open)",
                self.name
            )));
        }
        self.append(fleet, None, kind, ver, parts)
    }

    /// Claims, writes and commits a frame. `single`: the single writer's next
    /// position (see [`RingView::claim_single`]), advanced past the claim.
    #[inline]
    fn append(
        &self,
        fleet: &Fleet,
        single: Option<&mut u64>,
        kind: u8,
        ver: u64,
        parts: &[&[u8]],
    ) -> Result<NetId64> {
        if let [one] = parts
            && one.len() <= protocol::SMALL_PAYLOAD
            && one.len() <= self.view.max_payload
        {
            return self.append_small(fleet, single, kind, ver, one);
        }
        self.append_any(fleet, single, kind, ver, parts)
    }

    /// [`RingCore::append`] of a frame in one piece that fits a slot's first
    /// two lines (`protocol::SMALL_PAYLOAD`): the same steps as
    /// [`RingCore::append_any`] with what the length decides there fixed
    /// (two lines to ask for, none after the commit: the next slot's third
    /// line on is not part of such a frame).
    #[inline(always)]
    fn append_small(
        &self,
        fleet: &Fleet,
        single: Option<&mut u64>,
        kind: u8,
        ver: u64,
        payload: &[u8],
    ) -> Result<NetId64> {
        let guess = match single.as_deref() {
            Some(&next) => next,
            None => self.view.ctl().head.load(crate::sync::Ordering::Relaxed),
        };
        self.view.prefetch_small(guess);
        let tag = fleet.writer_tag()?;
        let pos = self.claim(fleet, single, tag)?;
        let id = NetId64::make(self.geom.kind, (tag >> 16) as u16, pos);
        self.view
            .publish_small(pos, tag, id.raw(), kind, ver, payload);
        self.view.after_commit(futex::wake_all);
        Ok(id)
    }

    /// Claims the next position for `tag`: with the single writer's plain
    /// stores when `single` holds its next position (advanced past the
    /// claim), with [`RingView::claim`] otherwise or when that fails.
    #[inline(always)]
    fn claim(&self, fleet: &Fleet, single: Option<&mut u64>, tag: u32) -> Result<u64> {
        let fast = match single.as_deref() {
            Some(&next) => self.view.claim_single(next, tag).then_some(next),
            None => None,
        };
        let pos = match fast {
            Some(pos) => pos,
            None => self
                .view
                .claim(tag, &|t| fleet.tag_is_dead(t), std::thread::yield_now)
                .ok_or_else(|| {
                    Error::Corrupt(format!(
                        "ring {:?}: the slot at the head is in a state no writer leaves; the segment is damaged",
                        self.name
                    ))
                })?,
        };
        if let Some(next) = single {
            *next = pos.wrapping_add(1);
        }
        Ok(pos)
    }

    /// [`RingCore::append`] of any frame.
    #[inline]
    fn append_any(
        &self,
        fleet: &Fleet,
        single: Option<&mut u64>,
        kind: u8,
        ver: u64,
        parts: &[&[u8]],
    ) -> Result<NetId64> {
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        // The frame's lines are asked for before anything else: the
        // transfers from a reader's cache are what a write waits for, and
        // everything below overlaps with them. (Should another writer take
        // this position first, the hint was wasted, nothing else.)
        let guess = match single.as_deref() {
            Some(&next) => next,
            None => self.view.ctl().head.load(crate::sync::Ordering::Relaxed),
        };
        self.view
            .prefetch_frame(guess, len.min(self.geom.max_payload as usize));
        if len > self.geom.max_payload as usize {
            return Err(Error::TooLarge {
                what: "payload",
                len,
                limit: self.geom.max_payload as usize,
            });
        }
        let tag = fleet.writer_tag()?;
        let single_writer = single.is_some();
        let pos = self.claim(fleet, single, tag)?;
        let id = NetId64::make(self.geom.kind, (tag >> 16) as u16, pos);
        self.view
            .publish_parts(pos, tag, id.raw(), kind, ver, parts);
        self.view.after_commit(futex::wake_all);
        // The next frame's slot, while nothing waits on it (a guess in a
        // ring of several writers: another may take pos + 1).
        self.view
            .prefetch_next_slot(pos.wrapping_add(1), len, single_writer);
        Ok(id)
    }
}

pub(crate) struct RingInner {
    fleet: Fleet,
    core: RingCore,
}

impl Deref for RingInner {
    type Target = RingCore;
    fn deref(&self) -> &RingCore {
        &self.core
    }
}

/// A ring opened within a fleet. Cheap to clone; thread-safe: any number of
/// threads may write through one handle.
#[derive(Clone)]
pub struct Ring {
    inner: Arc<RingInner>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.geom.capacity)
            .field("max_payload", &self.inner.geom.max_payload)
            .field("head", &self.head())
            .finish()
    }
}

/// A frame's metadata (the payload goes to the caller's buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// `[KIND][NODE][COUNTER]`.
    pub id: NetId64,
    /// The writer's version or epoch value.
    pub ver: u64,
    /// The writer's message class.
    pub kind: u8,
    /// Payload length.
    pub len: u32,
    /// Frames lost just before this one (cursor reads only).
    pub lost: u64,
}

/// An owned frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Metadata.
    pub info: FrameInfo,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A snapshot of a ring's geometry and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    /// Slots.
    pub capacity: u64,
    /// Largest payload.
    pub max_payload: u32,
    /// Bytes per slot.
    pub slot_stride: u32,
    /// The ring's KIND byte.
    pub kind: u8,
    /// Positions claimed so far (frames written or being written).
    pub head: u64,
    /// Slots taken over from dead writers.
    pub takeovers: u64,
    /// Created single-writer (see [`RingOptions::single_writer`]).
    pub single_writer: bool,
}

impl Ring {
    /// Opens ring `name` of the fleet. `None`: attach whatever exists, or
    /// create one with the defaults. `Some(opts)`: create with `opts`, or attach
    /// if the existing geometry matches (`Incompatible` otherwise). Through an
    /// observer, never creates (`NotExist`) and maps read-only.
    pub fn open(fleet: &Fleet, name: &str, opts: Option<&RingOptions>) -> Result<Ring> {
        let defaults = RingOptions::default();
        let (o, exact) = match opts {
            Some(o) => (o, true),
            None => (&defaults, false),
        };
        Ring::open_object::<PlainRing>(fleet, name, RingGeometry::of(o), exact, o.mode)
    }

    /// [`Ring::open`] for the ring body of another object kind.
    pub(crate) fn open_object<O: RingObject>(
        fleet: &Fleet,
        name: &str,
        geom: RingGeometry,
        exact: bool,
        mode: u32,
    ) -> Result<Ring> {
        let core = RingCore::open::<O>(fleet, name, geom, exact, mode)?;
        Ok(Ring {
            inner: Arc::new(RingInner {
                fleet: fleet.clone(),
                core,
            }),
        })
    }

    /// Removes the ring's segment name (mapped handles keep working).
    pub fn unlink(fleet: &str, name: &str) -> Result<()> {
        shm::unlink(&SegmentName::new(fleet, ObjectKind::Ring, name)?)
    }

    /// Appends a frame and returns its id. Never waits for readers; waits for
    /// the writer of the same slot one lap earlier only while it is alive.
    ///
    /// Errors: `TooLarge` (payload over `max_payload`, nothing written),
    /// `ReadOnly` (observer), `InvalidArgument` (fleet handle inherited
    /// through fork).
    #[inline]
    pub fn write(&self, kind: u8, ver: u64, payload: &[u8]) -> Result<NetId64> {
        self.inner
            .core
            .write_as(&self.inner.fleet, kind, ver, &[payload])
    }

    /// [`Ring::write`] of a payload given in pieces, written as one frame.
    pub(crate) fn write_parts(&self, kind: u8, ver: u64, parts: &[&[u8]]) -> Result<NetId64> {
        self.inner
            .core
            .write_as(&self.inner.fleet, kind, ver, parts)
    }

    /// The geometry fixed at creation.
    pub(crate) fn geometry(&self) -> RingGeometry {
        self.inner.geom
    }

    /// Reads the frame `id` into `buf` if the ring still holds it.
    ///
    /// Errors: `NotFound` (overwritten, not yet written, or not of this ring),
    /// `BufferTooSmall` (with the needed length).
    pub fn read(&self, id: NetId64, buf: &mut [u8]) -> Result<FrameInfo> {
        let v = &self.inner.view;
        let not_found =
            || Error::NotFound(format!("frame {id} is not in ring {:?}", self.inner.name));
        if id.kind() != self.inner.geom.kind {
            return Err(not_found());
        }
        let head = self.head();
        // Rebuild the full position from its low 40 bits: the newest position
        // below head with that counter.
        let span = 1u64 << crate::id::COUNTER_BITS;
        let mut pos = (head & !(span - 1)) | id.counter();
        if pos >= head {
            pos = pos.checked_sub(span).ok_or_else(not_found)?;
        }
        if head - pos > v.capacity() {
            return Err(not_found());
        }
        match v.try_read(pos, buf, true, true) {
            ReadOutcome::Frame {
                id: got,
                ver,
                kind,
                len,
            } if got == id.raw() => Ok(FrameInfo {
                id,
                ver,
                kind,
                len,
                lost: 0,
            }),
            ReadOutcome::TooSmall { len } => Err(Error::BufferTooSmall {
                needed: len as usize,
                cap: buf.len(),
            }),
            _ => Err(not_found()),
        }
    }

    /// The newest committed frame, if any.
    pub fn read_head(&self) -> Result<Option<Frame>> {
        let head = self.head();
        let v = &self.inner.view;
        let mut buf = vec![0u8; self.inner.geom.max_payload as usize];
        let oldest = head.saturating_sub(v.capacity());
        for pos in (oldest..head).rev() {
            if let ReadOutcome::Frame { id, ver, kind, len } = v.try_read(pos, &mut buf, true, true)
            {
                buf.truncate(len as usize);
                return Ok(Some(Frame {
                    info: FrameInfo {
                        id: NetId64(id),
                        ver,
                        kind,
                        len,
                        lost: 0,
                    },
                    payload: buf,
                }));
            }
        }
        Ok(None)
    }

    /// A new cursor starting at the oldest frame still held, or at the head.
    pub fn cursor(&self, from: From) -> Cursor {
        Cursor::new(self.inner.clone(), from)
    }

    /// Positions claimed so far.
    pub fn head(&self) -> u64 {
        self.inner
            .view
            .ctl()
            .head
            .load(crate::sync::Ordering::Acquire)
    }

    /// Geometry and counters.
    pub fn info(&self) -> RingInfo {
        let ctl = self.inner.view.ctl();
        RingInfo {
            capacity: self.inner.geom.capacity,
            max_payload: self.inner.geom.max_payload,
            slot_stride: self.inner.geom.stride() as u32,
            kind: self.inner.geom.kind,
            head: self.head(),
            takeovers: ctl.takeovers.load(crate::sync::Ordering::Relaxed),
            single_writer: self.inner.geom.single_writer,
        }
    }

    /// The fleet this ring was opened through.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    /// True when opened through an observer.
    pub fn is_read_only(&self) -> bool {
        self.inner.seg.read_only()
    }

    /// Becomes the writer of a single-writer ring (created with
    /// [`RingOptions::single_writer`]) until the returned handle is dropped.
    /// One writer at a time across every process; a writer whose process
    /// died is replaced (its half-written frame, if any, is lost and counted
    /// by readers, as for any dead writer).
    ///
    /// Errors: `InvalidArgument` (a multi-writer ring; a fleet handle
    /// inherited through fork), `Conflict` (a live writer holds the ring),
    /// `ReadOnly` (observer).
    pub fn writer(&self) -> Result<RingWriter> {
        let core = &self.inner.core;
        if !core.geom.single_writer {
            return Err(Error::InvalidArgument(format!(
                "ring {:?} is not single-writer: write with Ring::write",
                core.name
            )));
        }
        let fleet = &self.inner.fleet;
        let tag = fleet.writer_tag()?;
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        // Never 0: a held role is never the free value.
        let serial = SERIAL
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .max(1);
        let token = ((serial as u64) << 32) | tag as u64;
        let role = &core.view.ctl().writer;
        loop {
            // Acquire: pairs with the AcqRel exchanges below (of the holder
            // before us), so its last frames are visible before we go on.
            let held = role.load(crate::sync::Ordering::Acquire);
            if held != 0 && !fleet.tag_is_dead(held as u32) {
                return Err(Error::Conflict(format!(
                    "ring {:?} has a writer already (node {})",
                    core.name,
                    (held as u32) >> 16
                )));
            }
            if role
                .compare_exchange(
                    held,
                    token,
                    crate::sync::Ordering::AcqRel,
                    crate::sync::Ordering::Relaxed,
                )
                .is_ok()
            {
                break;
            }
        }
        Ok(RingWriter {
            ring: self.clone(),
            token,
            next: self.head(),
        })
    }
}

/// The one writer of a single-writer ring (see [`Ring::writer`]): its
/// writes claim slots with plain stores, no compare-and-swap. Writing takes
/// `&mut self`: one thread at a time (the handle may move between threads).
/// Dropping it gives the role up.
pub struct RingWriter {
    ring: Ring,
    /// Our value of the ring's writer word.
    token: u64,
    /// Where our last claim left `head`.
    next: u64,
}

impl std::fmt::Debug for RingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingWriter")
            .field("ring", &self.ring.inner.name)
            .field("next", &self.next)
            .finish()
    }
}

impl RingWriter {
    /// Appends a frame and returns its id, as [`Ring::write`] does.
    ///
    /// Errors: `TooLarge` (payload over `max_payload`, nothing written),
    /// `InvalidArgument` (the handle was inherited through fork).
    #[inline]
    pub fn write(&mut self, kind: u8, ver: u64, payload: &[u8]) -> Result<NetId64> {
        let inner = &self.ring.inner;
        inner
            .core
            .append(&inner.fleet, Some(&mut self.next), kind, ver, &[payload])
    }

    /// The ring written to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        // A copy inherited through fork must not give up its parent's role.
        if self.ring.inner.fleet.writer_tag().is_err() {
            return;
        }
        let role = &self.ring.inner.core.view.ctl().writer;
        // AcqRel: Release hands our frames to the next holder's Acquire load.
        let _ = role.compare_exchange(
            self.token,
            0,
            crate::sync::Ordering::AcqRel,
            crate::sync::Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::fleet::FleetOptions;

    fn fleet(tag: &str) -> Fleet {
        Fleet::join(
            &format!("u{}-{tag}", std::process::id()),
            &FleetOptions::default(),
        )
        .unwrap()
    }

    fn opts(capacity: u64, max_payload: u32) -> RingOptions {
        RingOptions {
            capacity,
            max_payload,
            kind: 7,
            mode: 0,
            single_writer: false,
        }
    }

    #[test]
    fn write_read_round_trip() {
        let f = fleet("rt");
        let r = Ring::open(&f, "r", Some(&opts(8, 100))).unwrap();
        let mut c = r.cursor(From::Oldest);
        let mut buf = [0u8; 100];
        assert_eq!(c.next_into(&mut buf).unwrap(), None);
        for i in 0..5u8 {
            let payload = vec![i; i as usize * 7];
            let id = r.write(i, 100 + i as u64, &payload).unwrap();
            assert_eq!(
                (id.kind(), id.node(), id.counter()),
                (7, f.node_id().unwrap(), i as u64)
            );
            let info = r.read(id, &mut buf).unwrap();
            assert_eq!(&buf[..info.len as usize], &payload[..]);
        }
        for i in 0..5u8 {
            let info = c.next_into(&mut buf).unwrap().unwrap();
            assert_eq!(
                (info.kind, info.ver, info.len, info.lost),
                (i, 100 + i as u64, i as u32 * 7, 0)
            );
            assert!(buf[..info.len as usize].iter().all(|b| *b == i));
        }
        assert_eq!(c.next_into(&mut buf).unwrap(), None);
        Ring::unlink(f.name(), "r").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    /// Every length from 0 to `max_payload` (203: a partial last word) comes
    /// back byte for byte, through a cursor and by id: the payload's first
    /// 32 bytes live on the slot's first line and the rest after `begin`
    /// (layout 4), so lengths on both sides of that split are written in
    /// turn into slots of every position (a ring of 8 is lapped 25 times).
    #[test]
    fn every_length_round_trips_across_the_line_split() {
        let f = fleet("split");
        let r = Ring::open(&f, "r", Some(&opts(8, 203))).unwrap();
        let mut c = r.cursor(From::Oldest);
        let mut buf = [0u8; 203];
        for n in 0..=203usize {
            let payload: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            let id = r.write(1, n as u64, &payload).unwrap();
            let info = c.next_into(&mut buf).unwrap().expect("the frame");
            assert_eq!((info.ver, info.len, info.lost), (n as u64, n as u32, 0));
            assert_eq!(&buf[..n], &payload[..], "length {n}, via the cursor");
            buf.fill(0);
            let info = r.read(id, &mut buf).unwrap();
            assert_eq!(&buf[..info.len as usize], &payload[..], "length {n}, by id");
        }
        Ring::unlink(f.name(), "r").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    /// Frames that fit a slot's first two lines take their own path on both
    /// sides (`publish_small`, the image read of `copy_committed`): in a
    /// ring whose `max_payload` (44) is below that path's 64 bytes, every
    /// length comes back whole into a buffer of exactly its length, leaves
    /// the bytes after it untouched, and a buffer one byte short gets
    /// `BufferTooSmall` without consuming the frame; through a writer (the
    /// single-writer claim) and through the ring (the shared claim).
    #[test]
    fn small_frames_fill_exact_buffers_and_nothing_past_them() {
        let f = fleet("small");
        for single_writer in [false, true] {
            let o = RingOptions {
                single_writer,
                ..opts(4, 44)
            };
            let r = Ring::open(&f, "r", Some(&o)).unwrap();
            let mut w = single_writer.then(|| r.writer().unwrap());
            let mut c = r.cursor(From::Oldest);
            for n in 0..=44usize {
                let payload: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8 | 1).collect();
                match w.as_mut() {
                    Some(w) => w.write(3, n as u64, &payload).unwrap(),
                    None => r.write(3, n as u64, &payload).unwrap(),
                };
                if n > 0 {
                    let mut short = vec![0u8; n - 1];
                    let e = c.next_into(&mut short).unwrap_err();
                    assert_eq!(e.status(), Status::BufferTooSmall, "length {n}");
                }
                let mut buf = [0xEEu8; 64];
                let info = c.next_into(&mut buf[..n]).unwrap().expect("the frame");
                assert_eq!(
                    (info.kind, info.ver, info.len, info.lost),
                    (3, n as u64, n as u32, 0)
                );
                assert_eq!(&buf[..n], &payload[..], "length {n}");
                assert!(
                    buf[n..].iter().all(|b| *b == 0xEE),
                    "length {n}: bytes past it"
                );
            }
            drop(w);
            Ring::unlink(f.name(), "r").unwrap();
        }
        crate::fleet::unlink(f.name()).unwrap();
    }

    #[test]
    fn loss_is_exact_after_wrap() {
        let f = fleet("wrap");
        let r = Ring::open(&f, "r", Some(&opts(16, 8))).unwrap();
        let mut c = r.cursor(From::Oldest);
        let ids: Vec<_> = (0..50u64)
            .map(|i| r.write(0, i, &i.to_le_bytes()).unwrap())
            .collect();
        let mut buf = [0u8; 8];
        let first = c.next_into(&mut buf).unwrap().unwrap();
        assert_eq!((first.ver, first.lost), (34, 34));
        let mut n = 1;
        while let Some(i) = c.next_into(&mut buf).unwrap() {
            assert_eq!(i.lost, 0);
            n += 1;
        }
        assert_eq!((n, c.lost()), (16, 34));
        assert_eq!(
            r.read(ids[0], &mut buf).unwrap_err().status(),
            Status::NotFound
        );
        assert!(r.read(ids[49], &mut buf).is_ok());
        Ring::unlink(f.name(), "r").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    /// A cursor that returned between two skips (here: a frame too long for
    /// its buffer at the position a skip led to) and finds that position
    /// overwritten later is not at the writers' wavefront: it loses exactly
    /// the frames that are gone, no margin.
    #[test]
    fn loss_is_exact_when_lapped_again_after_returning() {
        let f = fleet("relap");
        let r = Ring::open(&f, "r", Some(&opts(16, 8))).unwrap();
        let mut c = r.cursor(From::Oldest);
        for i in 0..40u64 {
            r.write(0, i, &i.to_le_bytes()).unwrap();
        }
        let mut small = [0u8; 4];
        assert_eq!(
            c.next_into(&mut small).unwrap_err().status(),
            Status::BufferTooSmall
        );
        assert_eq!((c.next_position(), c.lost()), (24, 24));
        for i in 40..56u64 {
            r.write(0, i, &i.to_le_bytes()).unwrap();
        }
        let mut buf = [0u8; 8];
        let first = c.next_into(&mut buf).unwrap().unwrap();
        assert_eq!((first.ver, first.lost, c.lost()), (40, 40, 40));
        Ring::unlink(f.name(), "r").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    #[test]
    fn bad_geometry_and_limits() {
        let f = fleet("geo");
        for bad in [opts(0, 8), opts(3, 8), opts(8, 0), opts(1 << 31, 8)] {
            assert_eq!(
                Ring::open(&f, "g", Some(&bad)).unwrap_err().status(),
                Status::InvalidArgument
            );
        }
        let r = Ring::open(&f, "g", Some(&opts(8, 8))).unwrap();
        assert_eq!(
            Ring::open(&f, "g", Some(&opts(16, 8)))
                .unwrap_err()
                .status(),
            Status::Incompatible
        );
        assert_eq!(Ring::open(&f, "g", None).unwrap().info().capacity, 8);
        assert_eq!(
            r.write(0, 0, &[0; 9]).unwrap_err().status(),
            Status::TooLarge
        );
        let mut small = [0u8; 2];
        let id = r.write(0, 0, &[1; 5]).unwrap();
        assert_eq!(
            r.read(id, &mut small).unwrap_err(),
            Error::BufferTooSmall { needed: 5, cap: 2 }
        );
        let mut c = r.cursor(From::Oldest);
        assert_eq!(
            c.next_into(&mut small).unwrap_err().status(),
            Status::BufferTooSmall
        );
        let mut big = [0u8; 8];
        assert_eq!(
            c.next_into(&mut big).unwrap().unwrap().len,
            5,
            "too-small read consumed nothing"
        );
        Ring::unlink(f.name(), "g").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    #[test]
    fn wait_times_out_and_wakes() {
        let f = fleet("wait");
        let r = Ring::open(&f, "w", Some(&opts(8, 8))).unwrap();
        let mut c = r.cursor(From::Head);
        let t = std::time::Instant::now();
        assert_eq!(
            c.wait(std::time::Duration::from_millis(30)).unwrap_err(),
            Error::Timeout
        );
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        let r2 = r.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            r2.write(0, 0, b"x").unwrap();
        });
        c.wait(std::time::Duration::from_secs(5)).unwrap();
        assert!(c.next_into(&mut [0u8; 8]).unwrap().is_some());
        h.join().unwrap();
        Ring::unlink(f.name(), "w").unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }
}
