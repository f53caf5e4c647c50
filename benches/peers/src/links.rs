//! One-directional channels between processes, one type per transport.
//!
//! Every transport moves the whole message: the sender copies its bytes into
//! the transport, the receiver copies them out into its own buffer (a
//! zero-copy transport still pays for the reader touching the data). Receivers
//! busy-poll (`try_recv` never blocks), the best setting each transport offers
//! for latency.
//!
//! Opening happens in three steps so that no order of processes deadlocks:
//! `prepare_rx` never blocks, `open_tx` waits only for the peer's
//! `prepare_rx`, `finish_rx` waits only for the peer's `open_tx`.

use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ctl::{Job, stamp_of};

/// One direction of a measurement: the job plus the channel's name.
pub struct Chan<'a> {
    pub job: &'a Job,
    pub name: &'static str,
}

impl Chan<'_> {
    fn id(&self) -> String {
        format!("{}-{}", self.job.run, self.name)
    }
}

pub trait Tx {
    /// Sends one message (waits only where the transport applies back-pressure).
    fn send(&mut self, msg: &[u8]);
}

pub trait Rx {
    /// The next message, copied to the front of `buf`; `None` if there is none yet.
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// Messages the transport dropped before this reader saw them.
    fn lost(&self) -> u64 {
        0
    }
}

pub trait Link {
    type Tx: Tx;
    type Rx: Rx;
    type Pending;
    fn prepare_rx(ch: &Chan) -> Self::Pending;
    fn open_tx(ch: &Chan) -> Self::Tx;
    fn finish_rx(p: Self::Pending, ch: &Chan) -> Self::Rx;
    /// Removes what the channel left behind (called by the parent at the end).
    fn cleanup(_ch: &Chan) {}
}

fn retry<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_micros(500));
    }
}

// ---------------------------------------------------------------------------
// The floors: a bare shared mapping, no library. Both are single-producer
// rings of `job.capacity` slots, each slot a header line `[seq, stamp]` (plus
// the payload for the copy floor): the sender fills slot n % slots and stores
// seq = n + 1 with Release; the receiver spins on that seq with Acquire. One
// message costs one cache-line transfer each way (more with the payload's
// lines), which is what any shared-memory transport must pay; the ring keeps
// a one-way stream going while the receiver is descheduled, and a receiver
// lapped by the sender counts what it missed.

pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn open(name: &str, len: usize) -> Mapping {
        let c = CString::new(name).unwrap();
        // SAFETY: POSIX calls on a name this run owns. Both ends create-or-open
        // and size it to the same length (ftruncate to the current size keeps
        // the contents).
        unsafe {
            let fd = libc::shm_open(c.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
            assert!(fd >= 0, "shm_open {name}");
            assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0);
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::close(fd);
            Mapping { ptr: p.cast(), len }
        }
    }

    fn unlink(name: &str) {
        let c = CString::new(name).unwrap();
        // SAFETY: unlinking a name this run created.
        unsafe { libc::shm_unlink(c.as_ptr()) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: the mapping is process-shared memory; access goes through atomics
// or copies ordered by them.
unsafe impl Send for Mapping {}

fn floor_name(ch: &Chan) -> String {
    format!("/orbit-peers-{}", ch.id())
}

/// One end of a floor ring: the mapping, the slot stride, the payload bytes
/// copied per message (0 for the line floor) and the next sequence number.
pub struct FloorEnd {
    map: Mapping,
    stride: usize,
    slots: usize,
    copy: usize,
    n: u64,
    lost: u64,
}

impl FloorEnd {
    fn open(ch: &Chan, copy: usize) -> FloorEnd {
        let stride = 64 + copy.div_ceil(64) * 64;
        let slots = ch.job.capacity as usize;
        assert!(slots.is_power_of_two());
        FloorEnd {
            map: Mapping::open(&floor_name(ch), stride * slots),
            stride,
            slots,
            copy,
            n: 0,
            lost: 0,
        }
    }

    #[inline]
    fn slot(&self) -> (*mut u8, &AtomicU64, &AtomicU64) {
        let i = self.n as usize & (self.slots - 1);
        // SAFETY: slot i lies inside the mapping (slots * stride bytes);
        // its first 16 bytes are two 8-aligned u64 words used atomically.
        unsafe {
            let base = self.map.ptr.add(i * self.stride);
            (
                base.add(64),
                &*base.cast::<AtomicU64>(),
                &*base.add(8).cast::<AtomicU64>(),
            )
        }
    }
}

impl Tx for FloorEnd {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        let (payload, seq, stamp) = self.slot();
        if self.copy > 0 {
            // SAFETY: the payload area of the slot holds `copy` bytes; the
            // receiver reads it only after the Release store below.
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), payload, self.copy) };
        }
        stamp.store(stamp_of(msg), Ordering::Relaxed);
        // Release: publishes the stamp and payload; pairs with the Acquire in try_recv.
        seq.store(self.n + 1, Ordering::Release);
        self.n += 1;
    }
}

impl Rx for FloorEnd {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        let (payload, seq, stamp) = self.slot();
        let s = seq.load(Ordering::Acquire);
        if s <= self.n {
            return None;
        }
        if self.copy > 0 {
            // SAFETY: as in send; the Acquire above orders this after the sender's copy.
            unsafe { std::ptr::copy_nonoverlapping(payload, buf.as_mut_ptr(), self.copy) };
        }
        buf[..8].copy_from_slice(&stamp.load(Ordering::Relaxed).to_le_bytes());
        // s > n + 1: the sender lapped us; this slot holds message s - 1.
        self.lost += s - 1 - self.n;
        self.n = s;
        Some(self.copy.max(8))
    }

    fn lost(&self) -> u64 {
        self.lost
    }
}

/// The hardware floor: only the 8-byte stamp moves, in the slot's header line.
pub struct LineFloor;

impl Link for LineFloor {
    type Tx = FloorEnd;
    type Rx = FloorEnd;
    type Pending = FloorEnd;
    fn prepare_rx(ch: &Chan) -> FloorEnd {
        FloorEnd::open(ch, 0)
    }
    fn open_tx(ch: &Chan) -> FloorEnd {
        FloorEnd::open(ch, 0)
    }
    fn finish_rx(p: FloorEnd, _: &Chan) -> FloorEnd {
        p
    }
    fn cleanup(ch: &Chan) {
        Mapping::unlink(&floor_name(ch));
    }
}

/// The floor of any copying transport: the message is copied into the slot
/// and out again.
pub struct CopyFloor;

impl Link for CopyFloor {
    type Tx = FloorEnd;
    type Rx = FloorEnd;
    type Pending = FloorEnd;
    fn prepare_rx(ch: &Chan) -> FloorEnd {
        FloorEnd::open(ch, ch.job.size)
    }
    fn open_tx(ch: &Chan) -> FloorEnd {
        FloorEnd::open(ch, ch.job.size)
    }
    fn finish_rx(p: FloorEnd, _: &Chan) -> FloorEnd {
        p
    }
    fn cleanup(ch: &Chan) {
        Mapping::unlink(&floor_name(ch));
    }
}

// ---------------------------------------------------------------------------
// orbit

pub struct OrbitLink;

fn orbit_ring(ch: &Chan) -> orbit::Ring {
    let fleet = orbit::Fleet::join(&ch.job.run, &orbit::FleetOptions::default()).unwrap();
    let opts = orbit::RingOptions {
        capacity: ch.job.capacity,
        max_payload: ch.job.size as u32,
        kind: 1,
        mode: 0,
        single_writer: ch.job.kind == crate::ctl::Kind::OrbitSw,
    };
    orbit::Ring::open(&fleet, ch.name, Some(&opts)).unwrap()
}

pub struct OrbitTx(orbit::Ring);
/// The cursor, and the ring it reads (kept open for as long as the cursor).
pub struct OrbitRx(orbit::Cursor, #[allow(dead_code)] orbit::Ring);

impl Tx for OrbitTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        self.0.write(0, 0, msg).unwrap();
    }
}

impl Rx for OrbitRx {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.0.next_into(buf).unwrap().map(|f| f.len as usize)
    }
    fn lost(&self) -> u64 {
        self.0.lost()
    }
}

impl Link for OrbitLink {
    type Tx = OrbitTx;
    type Rx = OrbitRx;
    type Pending = OrbitRx;
    fn prepare_rx(ch: &Chan) -> OrbitRx {
        let ring = orbit_ring(ch);
        OrbitRx(ring.cursor(orbit::From::Oldest), ring)
    }
    fn open_tx(ch: &Chan) -> OrbitTx {
        OrbitTx(orbit_ring(ch))
    }
    fn finish_rx(p: OrbitRx, _: &Chan) -> OrbitRx {
        p
    }
    fn cleanup(ch: &Chan) {
        let _ = orbit::Ring::unlink(&ch.job.run, ch.name);
        let _ = orbit::fleet::unlink(&ch.job.run);
    }
}

/// A single-writer orbit ring: the sender is the ring's `RingWriter`
/// (plain-store claims), the receiver a cursor as for [`OrbitLink`].
pub struct OrbitSwLink;

pub struct OrbitSwTx(orbit::RingWriter);

impl Tx for OrbitSwTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        self.0.write(0, 0, msg).unwrap();
    }
}

impl Link for OrbitSwLink {
    type Tx = OrbitSwTx;
    type Rx = OrbitRx;
    type Pending = OrbitRx;
    fn prepare_rx(ch: &Chan) -> OrbitRx {
        OrbitLink::prepare_rx(ch)
    }
    fn open_tx(ch: &Chan) -> OrbitSwTx {
        OrbitSwTx(orbit_ring(ch).writer().unwrap())
    }
    fn finish_rx(p: OrbitRx, _: &Chan) -> OrbitRx {
        p
    }
    fn cleanup(ch: &Chan) {
        OrbitLink::cleanup(ch)
    }
}

// ---------------------------------------------------------------------------
// iceoryx2: zero-copy publish-subscribe, IPC service, busy-polling receive.

/// `BP`: back-pressure instead of safe overflow (see `iox_open`).
pub struct Iceoryx2Link<const BP: bool>;

type IoxService = iceoryx2::service::port_factory::publish_subscribe::PortFactory<
    iceoryx2::service::ipc::Service,
    [u8],
    (),
>;

// Fields drop in declaration order: port, then service, then node.
pub struct IoxTx {
    port: iceoryx2::port::publisher::Publisher<iceoryx2::service::ipc::Service, [u8], ()>,
    _service: IoxService,
    _node: iceoryx2::node::Node<iceoryx2::service::ipc::Service>,
    size: usize,
}

pub struct IoxRx {
    port: iceoryx2::port::subscriber::Subscriber<iceoryx2::service::ipc::Service, [u8], ()>,
    _service: IoxService,
    _node: iceoryx2::node::Node<iceoryx2::service::ipc::Service>,
}

/// The subscriber queue depth is the job's capacity. With `backpressure` the
/// service has no safe overflow and publishers retry until delivered (no
/// loss, the writer waits); without, the oldest sample is overwritten (the
/// writer never waits, as orbit's).
fn iox_open(
    ch: &Chan,
    backpressure: bool,
) -> (
    IoxService,
    iceoryx2::node::Node<iceoryx2::service::ipc::Service>,
) {
    use iceoryx2::prelude::*;
    set_log_level(LogLevel::Error);
    let node = NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .unwrap();
    let name = ServiceName::new(&format!("orbit-peers/{}", ch.id())).unwrap();
    let job = ch.job;
    let service = node
        .service_builder(&name)
        .publish_subscribe::<[u8]>()
        .max_publishers(job.writers.max(1))
        .max_subscribers(job.readers.max(1))
        .max_nodes(job.writers + job.readers + 2)
        .history_size(0)
        .subscriber_max_buffer_size(job.capacity as usize)
        .enable_safe_overflow(!backpressure)
        .open_or_create()
        .unwrap();
    (service, node)
}

impl Tx for IoxTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        let sample = self.port.loan_slice_uninit(self.size).unwrap();
        sample.write_from_slice(msg).send().unwrap();
    }
}

impl Rx for IoxRx {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        let s = self.port.receive().unwrap()?;
        let p = s.payload();
        buf[..p.len()].copy_from_slice(p);
        Some(p.len())
    }
}

impl<const BP: bool> Link for Iceoryx2Link<BP> {
    type Tx = IoxTx;
    type Rx = IoxRx;
    type Pending = IoxRx;
    fn prepare_rx(ch: &Chan) -> IoxRx {
        let (service, node) = iox_open(ch, BP);
        let port = service
            .subscriber_builder()
            .buffer_size(ch.job.capacity as usize)
            .create()
            .unwrap();
        IoxRx {
            port,
            _service: service,
            _node: node,
        }
    }
    fn open_tx(ch: &Chan) -> IoxTx {
        let (service, node) = iox_open(ch, BP);
        let mut b = service
            .publisher_builder()
            .initial_max_slice_len(ch.job.size);
        if BP {
            b = b.backpressure_strategy(
                iceoryx2::prelude::BackpressureStrategy::RetryUntilDelivered,
            );
        }
        let port = b.create().unwrap();
        IoxTx {
            port,
            _service: service,
            _node: node,
            size: ch.job.size,
        }
    }
    fn finish_rx(p: IoxRx, _: &Chan) -> IoxRx {
        p
    }
}

// ---------------------------------------------------------------------------
// kekbit: a writer-bound, append-only channel file on /dev/shm.

pub struct KekbitLink;

/// Channels are finite and never reused; the channel size is a u32.
pub const KEKBIT_MAX_BYTES: u64 = 4_000_000_000;

fn kekbit_root(job: &Job) -> PathBuf {
    PathBuf::from(format!("/dev/shm/orbit-peers-kekbit-{}", job.run))
}

fn kekbit_channel(ch: &Chan) -> u64 {
    if ch.name == "pong" { 2 } else { 1 }
}

/// Record size in the channel: 8-byte header + payload, 8-aligned.
pub fn kekbit_record(size: usize) -> u64 {
    (8 + size as u64).div_ceil(8) * 8
}

/// Frames one kekbit channel of this job holds: all the job sends, within
/// `job.capacity` bytes (for kekbit the capacity is the channel's byte size cap).
pub fn kekbit_frames(job: &Job) -> u64 {
    let wanted = job.frames * job.writers.max(1) as u64 + 16;
    wanted.min(job.capacity.min(KEKBIT_MAX_BYTES) / kekbit_record(job.size) - 16)
}

pub struct KekTx(kekbit::core::ShmWriter<kekbit::api::EncoderHandler>);
pub struct KekRx(kekbit::core::ShmReader);

impl Tx for KekTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        use kekbit::api::Writer;
        self.0.write(&msg).unwrap();
    }
}

impl Rx for KekRx {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        use kekbit::api::Reader;
        let m = self.0.try_read().unwrap()?;
        buf[..m.len()].copy_from_slice(m);
        Some(m.len())
    }
}

impl Link for KekbitLink {
    type Tx = KekTx;
    type Rx = KekRx;
    type Pending = ();
    fn prepare_rx(_: &Chan) {}
    fn open_tx(ch: &Chan) -> KekTx {
        use kekbit::core::{Metadata, TickUnit, shm_writer, storage_path};
        let root = kekbit_root(ch.job);
        let cap = (kekbit_frames(ch.job) + 4) * kekbit_record(ch.job.size);
        let meta = Metadata::new(
            ch.job.index as u64 + 1,
            kekbit_channel(ch),
            cap as u32,
            ch.job.size as u32,
            1_000_000,
            TickUnit::Secs,
        );
        let w = shm_writer(&root, &meta, kekbit::api::EncoderHandler::default()).unwrap();
        // Best setting: allocate the tmpfs pages now, not on the first write of each.
        let path = storage_path(&root, kekbit_channel(ch));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&*path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        // SAFETY: fallocate on an open file descriptor of the channel file.
        let rc = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len as libc::off_t) };
        assert_eq!(rc, 0, "posix_fallocate");
        KekTx(w)
    }
    fn finish_rx(_: (), ch: &Chan) -> KekRx {
        let root = kekbit_root(ch.job);
        let id = kekbit_channel(ch);
        KekRx(retry("kekbit channel", || {
            kekbit::core::shm_reader(&root, id).ok()
        }))
    }
    fn cleanup(ch: &Chan) {
        let _ = std::fs::remove_dir_all(kekbit_root(ch.job));
    }
}

// ---------------------------------------------------------------------------
// Byte streams: Unix-domain socket and pipe (a FIFO, so two unrelated
// processes can open it by name). Readers poll with non-blocking reads;
// writers use blocking writes (the kernel's back-pressure).

/// Reads one message of exactly `size` bytes, if its first byte is there.
fn stream_recv(fd: &mut impl Read, buf: &mut [u8], size: usize) -> Option<usize> {
    let mut got = match fd.read(&mut buf[..size]) {
        Ok(0) => return None, // a FIFO with no writer yet reads as EOF
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
        Err(e) => panic!("read: {e}"),
    };
    while got < size {
        match fd.read(&mut buf[got..size]) {
            Ok(0) => std::hint::spin_loop(),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => panic!("read: {e}"),
        }
    }
    Some(size)
}

pub struct UdsLink;

fn uds_path(ch: &Chan) -> PathBuf {
    PathBuf::from(format!("/tmp/orbit-peers-{}.sock", ch.id()))
}

pub struct StreamTx<W: Write>(W);
/// A reader with one stream per writer, polled in turn.
pub struct StreamRx<R: Read> {
    streams: Vec<R>,
    next: usize,
    size: usize,
}

impl<W: Write> Tx for StreamTx<W> {
    #[inline]
    fn send(&mut self, msg: &[u8]) {
        self.0.write_all(msg).unwrap();
    }
}

impl<R: Read> Rx for StreamRx<R> {
    #[inline]
    fn try_recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.streams.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if let Some(len) = stream_recv(&mut self.streams[i], buf, self.size) {
                self.next = (i + 1) % n;
                return Some(len);
            }
        }
        None
    }
}

impl Link for UdsLink {
    type Tx = StreamTx<UnixStream>;
    type Rx = StreamRx<UnixStream>;
    type Pending = UnixListener;
    fn prepare_rx(ch: &Chan) -> UnixListener {
        let p = uds_path(ch);
        let _ = std::fs::remove_file(&p);
        UnixListener::bind(&p).unwrap()
    }
    fn open_tx(ch: &Chan) -> Self::Tx {
        let p = uds_path(ch);
        StreamTx(retry("unix socket connect", || {
            UnixStream::connect(&p).ok()
        }))
    }
    fn finish_rx(l: UnixListener, ch: &Chan) -> Self::Rx {
        let streams = (0..ch.job.writers.max(1))
            .map(|_| {
                let (s, _) = l.accept().unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        StreamRx {
            streams,
            next: 0,
            size: ch.job.size,
        }
    }
    fn cleanup(ch: &Chan) {
        let _ = std::fs::remove_file(uds_path(ch));
    }
}

pub struct PipeLink;

fn fifo_path(ch: &Chan) -> PathBuf {
    PathBuf::from(format!("/tmp/orbit-peers-{}.fifo", ch.id()))
}

fn open_fd(path: &std::path::Path, flags: i32) -> Option<std::fs::File> {
    let c = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: open(2) on a path we own; the fd is handed to a File that owns it.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        None
    } else {
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Some(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl Link for PipeLink {
    type Tx = StreamTx<std::fs::File>;
    type Rx = StreamRx<std::fs::File>;
    type Pending = std::fs::File;
    fn prepare_rx(ch: &Chan) -> std::fs::File {
        let p = fifo_path(ch);
        let c = CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path this run owns.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert!(rc == 0 || std::io::Error::last_os_error().kind() == ErrorKind::AlreadyExists);
        // Non-blocking read end: opening it never waits for a writer.
        open_fd(&p, libc::O_RDONLY | libc::O_NONBLOCK).expect("open fifo for reading")
    }
    fn open_tx(ch: &Chan) -> Self::Tx {
        let p = fifo_path(ch);
        // Blocks until a reader has the FIFO open (the peer's prepare_rx);
        // retries while the FIFO does not exist yet.
        StreamTx(retry("fifo open", || open_fd(&p, libc::O_WRONLY)))
    }
    fn finish_rx(f: std::fs::File, ch: &Chan) -> Self::Rx {
        StreamRx {
            streams: vec![f],
            next: 0,
            size: ch.job.size,
        }
    }
    fn cleanup(ch: &Chan) {
        let _ = std::fs::remove_file(fifo_path(ch));
    }
}

/// Runs `$body` with the type alias `$L` bound to the job's `Link` type
/// (every cross-process kind; the disruptor runs in threads elsewhere).
#[macro_export]
macro_rules! with_link {
    ($kind:expr, $L:ident => $body:expr) => {
        match $kind {
            $crate::ctl::Kind::Line => {
                type $L = $crate::links::LineFloor;
                $body
            }
            $crate::ctl::Kind::Copy => {
                type $L = $crate::links::CopyFloor;
                $body
            }
            $crate::ctl::Kind::Orbit => {
                type $L = $crate::links::OrbitLink;
                $body
            }
            $crate::ctl::Kind::OrbitSw => {
                type $L = $crate::links::OrbitSwLink;
                $body
            }
            $crate::ctl::Kind::Iceoryx2 => {
                type $L = $crate::links::Iceoryx2Link<false>;
                $body
            }
            $crate::ctl::Kind::Iceoryx2Bp => {
                type $L = $crate::links::Iceoryx2Link<true>;
                $body
            }
            $crate::ctl::Kind::Kekbit => {
                type $L = $crate::links::KekbitLink;
                $body
            }
            $crate::ctl::Kind::Uds => {
                type $L = $crate::links::UdsLink;
                $body
            }
            $crate::ctl::Kind::Pipe => {
                type $L = $crate::links::PipeLink;
                $body
            }
            $crate::ctl::Kind::Disruptor => unreachable!("the disruptor runs in threads"),
        }
    };
}
