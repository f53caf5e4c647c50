//! `OrbitEventBus`: topics and payloads over one ring.
//!
//! A bus is a segment of kind `bus` (`orbit:<uid>:<fleet>:bus:<name>`) whose
//! body is exactly a ring body (control block and slots, see [`crate::ring`]):
//! publishing is a ring write, a subscription is a ring cursor plus a topic
//! filter, and `wait` sleeps on the ring's futex. Everything the ring
//! guarantees (writers never block on readers, exact loss counts, nothing torn
//! when a publisher is killed mid-write) holds for the bus unchanged.
//!
//! # Event encoding
//!
//! One event is one frame of the ring, whose KIND byte is 220 (the top byte of
//! every event id):
//!
//! - frame `kind` = [`EVENT_FRAME`] (1): encoding version of the payload;
//! - frame `ver` = the publish time, ms since the Unix epoch;
//! - frame payload = `[topic_len: u8][topic: topic_len bytes][event payload]`.
//!
//! # Topics
//!
//! A topic is 1..=255 bytes of UTF-8 without NUL (so C can receive it
//! NUL-terminated). Empty, longer or non-UTF-8 topics are `InvalidArgument`.
//! A subscription's prefix follows the same rules except that it may be empty
//! (everything); it is matched byte-wise (`"orders."` matches `"orders.paid"`).
//! There is no wildcard and no hierarchy beyond that.
//!
//! # Geometry
//!
//! `max_payload` is the largest *event* payload; the frames are sized for it
//! plus the longest topic (256 bytes more), so any valid topic fits with any
//! payload up to the limit.
//!
//! # Loss
//!
//! A subscription reports the frames the ring overwrote (or a dead publisher
//! abandoned) before it read them. Those frames were never read, so their
//! topics are unknown: the count covers every topic. Events that were read and
//! filtered out by the prefix are not loss.

use std::time::Duration;

use crate::epoch::{Deadline, OrbitEpoch};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::id::NetId64;
use crate::ring::{Cursor, From, MAX_PAYLOAD_LIMIT, Ring, RingGeometry, RingObject};
use crate::shm::{self, ObjectKind, SegmentName};

/// KIND byte of the bus ring: the top byte of every event id.
pub const BUS_KIND: u8 = 220;
/// Frame kind of an event encoded as described in the module doc.
pub const EVENT_FRAME: u8 = 1;
/// Longest topic in bytes.
pub const MAX_TOPIC_LEN: usize = 255;
/// Bytes a frame carries beside the event payload: the length byte and the
/// longest topic.
const TOPIC_ROOM: u32 = 1 + MAX_TOPIC_LEN as u32;
/// Default slot count of a bus created without options.
pub const DEFAULT_BUS_CAPACITY: u64 = 4096;
/// Default largest event payload of a bus created without options.
pub const DEFAULT_BUS_MAX_PAYLOAD: u32 = 1024;
/// Largest event payload a bus can be created for.
pub const MAX_BUS_PAYLOAD: u32 = MAX_PAYLOAD_LIMIT - TOPIC_ROOM;

/// The bus segment: kind `bus`, body a ring whose frames encode events.
pub(crate) struct BusObject;

impl RingObject for BusObject {
    const OBJECT: ObjectKind = ObjectKind::Bus;
    /// 2: the ring body's layout 2 (owner words apart from the slots).
    /// 3: the ring body's layout 3 (owner words carry a committed bit).
    /// 4: the ring body's layout 4 (`begin` on the slot's second line).
    const LAYOUT_VERSION: u32 = 4;
}

/// Geometry of a bus, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusOptions {
    /// Number of events the bus holds, a power of two (1..=2^30; default 4096).
    pub capacity: u64,
    /// Largest event payload in bytes (0..=16 MiB - 256; default 1024).
    pub max_payload: u32,
    /// Permission bits of the segment if this call creates it (0 = the
    /// fleet's mode, else 0600).
    pub mode: u32,
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            capacity: DEFAULT_BUS_CAPACITY,
            max_payload: DEFAULT_BUS_MAX_PAYLOAD,
            mode: 0,
        }
    }
}

impl BusOptions {
    fn geometry(&self) -> Result<RingGeometry> {
        if self.max_payload > MAX_BUS_PAYLOAD {
            return Err(Error::InvalidArgument(format!(
                "bus max_payload {} is over the limit {MAX_BUS_PAYLOAD}",
                self.max_payload
            )));
        }
        Ok(RingGeometry::new(
            self.capacity,
            self.max_payload + TOPIC_ROOM,
            BUS_KIND,
        ))
    }
}

/// Checks a topic: 1..=255 bytes, no NUL (UTF-8 is given by `&str`).
pub fn validate_topic(topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::InvalidArgument("topic is empty".into()));
    }
    validate_prefix(topic).map_err(|_| {
        Error::InvalidArgument(format!(
            "topic must be 1..={MAX_TOPIC_LEN} bytes of UTF-8 without NUL, got {} bytes",
            topic.len()
        ))
    })
}

fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_TOPIC_LEN || prefix.as_bytes().contains(&0) {
        return Err(Error::InvalidArgument(format!(
            "topic prefix must be at most {MAX_TOPIC_LEN} bytes of UTF-8 without NUL, got {} bytes",
            prefix.len()
        )));
    }
    Ok(())
}

/// An event bus opened within a fleet. Cheap to clone; thread-safe: any number
/// of threads may publish through one handle.
#[derive(Clone)]
pub struct Bus {
    ring: Ring,
    name: String,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("name", &self.name)
            .field("capacity", &self.capacity())
            .field("max_payload", &self.max_payload())
            .field("head", &self.ring.head())
            .finish()
    }
}

impl Bus {
    /// Opens bus `name` of the fleet, with the same rules as [`Ring::open`]:
    /// `None` attaches whatever exists or creates one with the defaults;
    /// `Some(opts)` creates with `opts` or attaches if the geometry matches
    /// (`Incompatible` otherwise). Through an observer, never creates
    /// (`NotExist`) and every publish is `ReadOnly`.
    pub fn open(fleet: &Fleet, name: &str, opts: Option<&BusOptions>) -> Result<Bus> {
        let defaults = BusOptions::default();
        let (o, exact) = match opts {
            Some(o) => (o, true),
            None => (&defaults, false),
        };
        let ring = Ring::open_object::<BusObject>(fleet, name, o.geometry()?, exact, o.mode)?;
        let g = ring.geometry();
        if g.kind() != BUS_KIND || g.max_payload() < TOPIC_ROOM {
            return Err(Error::Corrupt(format!(
                "bus {name:?} has ring kind {} and frame size {}, not a bus geometry",
                g.kind(),
                g.max_payload()
            )));
        }
        Ok(Bus {
            ring,
            name: name.to_string(),
        })
    }

    /// Removes the bus's segment name (mapped handles keep working).
    pub fn unlink(fleet: &str, name: &str) -> Result<()> {
        shm::unlink(&SegmentName::new(fleet, ObjectKind::Bus, name)?)
    }

    /// Publishes `payload` under `topic` and returns the event id. Never waits
    /// for subscribers (a slow one loses the oldest events and is told how
    /// many); no allocation, no syscall unless a subscriber is blocked in
    /// `wait`.
    ///
    /// Errors: `InvalidArgument` (topic), `TooLarge` (payload over
    /// `max_payload`; nothing published), `ReadOnly` (observer).
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<NetId64> {
        validate_topic(topic)?;
        let limit = self.max_payload() as usize;
        if payload.len() > limit {
            return Err(Error::TooLarge {
                what: "event payload",
                len: payload.len(),
                limit,
            });
        }
        let header = [topic.len() as u8];
        self.ring.write_parts(
            EVENT_FRAME,
            OrbitEpoch::now().as_millis(),
            &[&header, topic.as_bytes(), payload],
        )
    }

    /// A new subscription to the events whose topic starts with `prefix`
    /// (`None` or `""`: all), starting at the oldest event the bus still holds
    /// (a late subscriber replays them) or at the head.
    ///
    /// Errors: `InvalidArgument` (prefix longer than 255 bytes or with NUL).
    pub fn subscribe(&self, prefix: Option<&str>, from: From) -> Result<Subscription> {
        let prefix = prefix.unwrap_or("");
        validate_prefix(prefix)?;
        Ok(Subscription {
            cursor: self.ring.cursor(from),
            prefix: prefix.as_bytes().into(),
            scratch: vec![0u8; self.ring.geometry().max_payload() as usize].into_boxed_slice(),
            held: None,
            lost_pending: 0,
            filtered: 0,
            malformed: 0,
        })
    }

    /// Events the bus holds before the oldest is overwritten.
    pub fn capacity(&self) -> u64 {
        self.ring.geometry().capacity()
    }

    /// Largest event payload.
    pub fn max_payload(&self) -> u32 {
        self.ring.geometry().max_payload() - TOPIC_ROOM
    }

    /// Events published so far (positions claimed in the ring).
    pub fn head(&self) -> u64 {
        self.ring.head()
    }

    /// The bus's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fleet this bus was opened through.
    pub fn fleet(&self) -> &Fleet {
        self.ring.fleet()
    }
}

/// An event's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventInfo {
    /// `[220][NODE][COUNTER]`: who published it and where in the bus.
    pub id: NetId64,
    /// Publish time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Frames lost (overwritten before this subscription read them, of any
    /// topic) since the previous event it delivered.
    pub lost: u64,
    /// Topic length in bytes.
    pub topic_len: u32,
    /// Payload length in bytes.
    pub len: u32,
}

/// An event borrowed from the subscription's buffer (valid until the next call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Metadata.
    pub info: EventInfo,
    /// The topic.
    pub topic: &'a str,
    /// The payload.
    pub payload: &'a [u8],
}

/// An owned event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Metadata.
    pub info: EventInfo,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A subscriber's position in a bus with its topic filter. Owned by one thread
/// at a time (`Send`, not `Sync`). Reading allocates nothing: events are
/// copied once, from the ring into a buffer sized at `subscribe`.
pub struct Subscription {
    cursor: Cursor,
    prefix: Box<[u8]>,
    scratch: Box<[u8]>,
    /// A matching event read from the ring into `scratch` and not yet delivered.
    held: Option<EventInfo>,
    lost_pending: u64,
    filtered: u64,
    malformed: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("position", &self.cursor.next_position())
            .field("lost", &self.lost())
            .finish()
    }
}

impl Subscription {
    /// Reads frames until a matching event is held in `scratch`; false when
    /// the ring has nothing more for now.
    fn fill(&mut self) -> Result<bool> {
        if self.held.is_some() {
            return Ok(true);
        }
        loop {
            let Some(f) = self.cursor.next_into(&mut self.scratch)? else {
                return Ok(false);
            };
            self.lost_pending = self.lost_pending.saturating_add(f.lost);
            let frame = &self.scratch[..f.len as usize];
            let topic_len = frame.first().copied().unwrap_or(0) as usize;
            // The scratch buffer is the ring's max_payload long; an event's
            // payload is at most that less the topic room (what `publish`
            // enforces), however short its topic.
            let max_event = self.scratch.len().saturating_sub(TOPIC_ROOM as usize);
            let well_formed = f.kind == EVENT_FRAME
                && topic_len >= 1
                && frame.len() > topic_len
                && frame.len() - 1 - topic_len <= max_event
                && std::str::from_utf8(&frame[1..1 + topic_len]).is_ok();
            if !well_formed {
                // Only the bus writes bus segments: this is damage, not loss.
                self.malformed += 1;
                continue;
            }
            if !frame[1..1 + topic_len].starts_with(&self.prefix) {
                self.filtered += 1;
                continue;
            }
            self.held = Some(EventInfo {
                id: f.id,
                timestamp_ms: f.ver,
                lost: std::mem::take(&mut self.lost_pending),
                topic_len: topic_len as u32,
                len: f.len - 1 - topic_len as u32,
            });
            return Ok(true);
        }
    }

    /// The next matching event, borrowed until the next call; `Ok(None)` when
    /// there is none yet. Never blocks, allocates or makes a syscall.
    pub fn next_ref(&mut self) -> Result<Option<EventRef<'_>>> {
        if !self.fill()? {
            return Ok(None);
        }
        let Some(info) = self.held.take() else {
            return Ok(None);
        };
        let t = info.topic_len as usize;
        let end = 1 + t + info.len as usize;
        // `fill` checked that these bytes are UTF-8.
        let topic = std::str::from_utf8(&self.scratch[1..1 + t]).unwrap_or("");
        Ok(Some(EventRef {
            info,
            topic,
            payload: &self.scratch[1 + t..end],
        }))
    }

    /// The metadata of the next matching event without consuming it (to size
    /// buffers); `Ok(None)` when there is none yet.
    pub fn peek(&mut self) -> Result<Option<EventInfo>> {
        Ok(if self.fill()? { self.held } else { None })
    }

    /// The next matching event as an owned value (convenience; allocates).
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        Ok(self.next_ref()?.map(|e| Event {
            info: e.info,
            topic: e.topic.to_string(),
            payload: e.payload.to_vec(),
        }))
    }

    /// Blocks until `next_ref` has an event to return, or `timeout` passes
    /// (`Err(Timeout)`). Sleeps on the ring's futex: an idle subscriber costs
    /// no CPU. Events of other topics that arrive meanwhile are consumed and
    /// do not end the wait.
    pub fn wait(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Deadline::after(timeout);
        loop {
            if self.fill()? {
                return Ok(());
            }
            let left = deadline.remaining_ns();
            if left == 0 {
                return Err(Error::Timeout);
            }
            self.cursor.wait(Duration::from_nanos(left))?;
        }
    }

    /// Total frames lost so far (overwritten before this subscription read
    /// them, whatever their topic).
    pub fn lost(&self) -> u64 {
        self.cursor.lost()
    }

    /// Events read and skipped because their topic did not match.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }

    /// Frames skipped because they were not well-formed events (a damaged
    /// segment; always 0 otherwise).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The topic prefix this subscription delivers.
    pub fn prefix(&self) -> &str {
        std::str::from_utf8(&self.prefix).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::fleet::FleetOptions;

    fn fleet(tag: &str) -> Fleet {
        Fleet::join(
            &format!("b{}-{tag}", std::process::id()),
            &FleetOptions::default(),
        )
        .unwrap()
    }

    fn cleanup(f: &Fleet, bus: &str) {
        Bus::unlink(f.name(), bus).unwrap();
        crate::fleet::unlink(f.name()).unwrap();
    }

    fn opts(capacity: u64, max_payload: u32) -> BusOptions {
        BusOptions {
            capacity,
            max_payload,
            mode: 0,
        }
    }

    #[test]
    fn publish_subscribe_round_trip_every_split() {
        let f = fleet("rt");
        let bus = Bus::open(&f, "b", Some(&opts(1024, 40))).unwrap();
        let mut all = bus.subscribe(None, From::Oldest).unwrap();
        let mut sent = Vec::new();
        // Every topic length 1..=20 with every payload length 0..=40 exercises
        // each alignment of the gather write.
        for t in 1..=20usize {
            for n in (0..=40usize).step_by(3) {
                let topic: String = (0..t).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                let payload: Vec<u8> = (0..n).map(|i| (i * 7 + t) as u8).collect();
                let id = bus.publish(&topic, &payload).unwrap();
                assert_eq!((id.kind(), id.node()), (BUS_KIND, f.node_id().unwrap()));
                sent.push((id, topic, payload));
            }
        }
        for (id, topic, payload) in &sent {
            let e = all.next_ref().unwrap().expect("event");
            assert_eq!(
                (e.info.id, e.topic, e.payload),
                (*id, topic.as_str(), &payload[..])
            );
            assert_eq!(e.info.lost, 0);
            assert!(e.info.timestamp_ms > 0);
        }
        assert!(all.next_ref().unwrap().is_none());
        cleanup(&f, "b");
    }

    #[test]
    fn prefix_filter_and_exact_loss() {
        let f = fleet("flt");
        let bus = Bus::open(&f, "b", Some(&opts(8, 16))).unwrap();
        let mut orders = bus.subscribe(Some("orders."), From::Head).unwrap();
        for i in 0..4u8 {
            bus.publish("orders.paid", &[i]).unwrap();
            bus.publish("users.new", &[i]).unwrap();
        }
        for i in 0..4u8 {
            let e = orders.next_ref().unwrap().unwrap();
            assert_eq!(
                (e.topic, e.payload, e.info.lost),
                ("orders.paid", &[i][..], 0)
            );
        }
        assert!(orders.next_ref().unwrap().is_none());
        assert_eq!(orders.filtered(), 4);
        // 20 more frames into 8 slots: the subscriber loses exactly 12, of any topic.
        for i in 0..10u8 {
            bus.publish("users.new", &[i]).unwrap();
            bus.publish("orders.paid", &[100 + i]).unwrap();
        }
        let first = orders.next_ref().unwrap().unwrap();
        assert_eq!((first.payload, first.info.lost), (&[106u8][..], 12));
        let rest: Vec<u8> = std::iter::from_fn(|| orders.next_event().unwrap())
            .map(|e| {
                assert_eq!(e.info.lost, 0);
                e.payload[0]
            })
            .collect();
        assert_eq!(rest, vec![107, 108, 109]);
        assert_eq!(orders.lost(), 12);
        // A late subscriber replays what the ring still holds.
        let mut late = bus.subscribe(None, From::Oldest).unwrap();
        let replay: Vec<_> = std::iter::from_fn(|| late.next_event().unwrap()).collect();
        assert_eq!(replay.len(), 8);
        assert_eq!(
            replay[0].info.lost, 0,
            "a new subscriber starts at the oldest held"
        );
        cleanup(&f, "b");
    }

    #[test]
    fn bad_input() {
        let f = fleet("bad");
        let bus = Bus::open(&f, "b", Some(&opts(8, 4))).unwrap();
        for t in ["", &"x".repeat(256), "a\0b"] {
            assert_eq!(
                bus.publish(t, b"").unwrap_err().status(),
                Status::InvalidArgument
            );
        }
        assert!(bus.publish(&"x".repeat(255), b"1234").is_ok());
        assert_eq!(
            bus.publish("t", b"12345").unwrap_err().status(),
            Status::TooLarge
        );
        assert_eq!(
            bus.subscribe(Some(&"x".repeat(256)), From::Head)
                .unwrap_err()
                .status(),
            Status::InvalidArgument
        );
        assert_eq!(
            Bus::open(&f, "b", Some(&opts(16, 4))).unwrap_err().status(),
            Status::Incompatible
        );
        assert_eq!(
            Bus::open(&f, "b2", Some(&opts(8, MAX_BUS_PAYLOAD + 1)))
                .unwrap_err()
                .status(),
            Status::InvalidArgument
        );
        assert_eq!(Bus::open(&f, "b", None).unwrap().max_payload(), 4);
        // A ring of the same name is another object.
        assert_eq!(
            Ring::open(&f, "b", None).map(|_| ()),
            Ok(()),
            "rings and buses have separate names"
        );
        Ring::unlink(f.name(), "b").unwrap();
        cleanup(&f, "b");
    }

    #[test]
    fn wait_ignores_other_topics() {
        let f = fleet("wait");
        let bus = Bus::open(&f, "b", Some(&opts(64, 8))).unwrap();
        let mut sub = bus.subscribe(Some("x"), From::Head).unwrap();
        assert_eq!(
            sub.wait(Duration::from_millis(20)).unwrap_err(),
            Error::Timeout
        );
        let b2 = bus.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            b2.publish("y", b"no").unwrap();
            std::thread::sleep(Duration::from_millis(30));
            b2.publish("x", b"yes").unwrap();
        });
        let t = std::time::Instant::now();
        sub.wait(Duration::from_secs(5)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert_eq!(sub.peek().unwrap().unwrap().len, 3);
        assert_eq!(sub.next_ref().unwrap().unwrap().payload, b"yes");
        h.join().unwrap();
        cleanup(&f, "b");
    }
}
