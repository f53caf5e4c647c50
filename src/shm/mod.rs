//! POSIX shared-memory segments: creation, validation on attach, unlinking.
//!
//! # Creation protocol
//!
//! Every segment starts with a [`SegmentHeader`] whose `magic` word is the
//! *ready flag*: it is zero until the whole segment is initialised and is then
//! published with a Release store (paired with the Acquire load in
//! [`read_ready_magic`]). Initialisation always happens under an exclusive
//! `flock(2)` on the segment's file:
//!
//! 1. `shm_open(O_CREAT|O_EXCL)`; on `EEXIST` open the existing file instead.
//! 2. Fast path: the file is at least a header long and `magic` is ready:
//!    validate and map.
//! 3. Otherwise take the `flock` (polling with a bounded deadline). Holding it,
//!    re-check: if the segment became ready, validate and map; if it is still
//!    not ready, whoever holds the lock initialises it (`ftruncate(0)` then to
//!    the full size, so every byte is zero, then the body, then `magic`).
//!
//! A creator killed mid-initialisation releases its `flock` by dying, so the next
//! opener finds the lock free and the segment not ready, and re-initialises it:
//! a name is never broken forever. Before initialising, the opener checks that
//! the name still refers to the inode it locked (a racing unlink + create would
//! otherwise make it initialise an orphan).
//!
//! # Validation on attach
//!
//! Before any byte past the header is touched: `magic`, `layout_version`,
//! `object_type`, the geometry (decoded and sanity-checked by the object), the
//! size the geometry implies, and the real file size from `fstat`. A file that
//! is smaller than the header claims is `CORRUPT` (mapping it would SIGBUS); a
//! foreign magic, another object type or layout version is `INCOMPATIBLE`.

pub mod name;
pub mod scan;

use std::ptr::NonNull;
use std::time::Duration;

use crate::epoch::{Deadline, OrbitEpoch};
use crate::error::{Error, Result};
use crate::sync::{AtomicU64, Ordering};
pub use name::{MAX_NAME_LEN, ObjectKind, SegmentName, split_owner, validate_name};

/// `"ORBITSEG"` read as a little-endian u64: the ready value of `magic`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ORBITSEG");

/// Size of the common header; object bodies start at this offset.
pub const HEADER_SIZE: usize = 128;

/// How long an opener waits for another process to finish initialising.
pub const INIT_WAIT: Duration = Duration::from_secs(3);

/// Default permission bits of a new segment.
pub const DEFAULT_MODE: u32 = 0o600;

/// The header at offset 0 of every segment. Fields other than `magic` are
/// written once, before `magic` is published, and never change afterwards.
#[repr(C, align(64))]
pub struct SegmentHeader {
    /// Zero while initialising, [`MAGIC`] once ready (Release store).
    pub magic: AtomicU64,
    /// Layout version of the object body.
    pub layout_version: u32,
    /// [`ObjectKind`] as u32.
    pub object_type: u32,
    /// Total bytes of the segment, header included.
    pub total_size: u64,
    /// Process that initialised the segment.
    pub creator_pid: u32,
    /// Permission bits it was created with.
    pub mode: u32,
    /// Wall-clock creation time.
    pub created_at_ms: u64,
    /// Object-specific geometry (capacity, limits, ...), decoded by the object.
    pub geometry: [u64; 8],
    _reserved: [u64; 3],
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<SegmentHeader>() == HEADER_SIZE);
    assert!(std::mem::offset_of!(SegmentHeader, magic) == 0);
    assert!(std::mem::offset_of!(SegmentHeader, layout_version) == 8);
    assert!(std::mem::offset_of!(SegmentHeader, object_type) == 12);
    assert!(std::mem::offset_of!(SegmentHeader, total_size) == 16);
    assert!(std::mem::offset_of!(SegmentHeader, geometry) == 40);
};

/// What an object type tells the segment layer about its layout.
pub trait SegmentLayout {
    /// The object kind stored in the header.
    const KIND: ObjectKind;
    /// The layout version of the body; bumped on any incompatible change.
    const LAYOUT_VERSION: u32;
    /// The geometry fixed at creation.
    type Geometry: Copy + PartialEq + std::fmt::Debug;
    /// Encodes a geometry into the header words.
    fn encode(g: &Self::Geometry) -> [u64; 8];
    /// Decodes and sanity-checks header words (`Corrupt` if impossible).
    fn decode(raw: &[u64; 8]) -> Result<Self::Geometry>;
    /// Total segment size for a geometry (header included); `InvalidArgument`
    /// when it does not fit in memory.
    fn total_size(g: &Self::Geometry) -> Result<usize>;
    /// Initialises the body of a zero-filled segment.
    ///
    /// # Safety
    /// `base` points to a writable, zeroed mapping of `total_size(g)` bytes that
    /// no other process uses yet.
    unsafe fn init_body(base: *mut u8, g: &Self::Geometry);
}

/// How to open a segment.
#[derive(Clone, Copy, Debug)]
pub struct OpenRequest<G> {
    /// `None`: attach only (`NotExist` if absent). `Some((g, exact))`: create
    /// with `g` if absent; when `exact`, an existing segment must have exactly
    /// `g` (`Incompatible` otherwise).
    pub create: Option<(G, bool)>,
    /// Map read-only; never create.
    pub read_only: bool,
    /// Permission bits for a new segment.
    pub mode: u32,
}

/// A mapped segment. Dropping it unmaps; it never unlinks.
pub struct Segment {
    base: NonNull<u8>,
    len: usize,
    read_only: bool,
    name: SegmentName,
}

// SAFETY: the mapping is process-wide memory; all shared mutation goes through
// atomics of the object protocols, so the handle may move and be shared
// between threads.
unsafe impl Send for Segment {}
// SAFETY: see `Send`.
unsafe impl Sync for Segment {}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name.as_str())
            .field("len", &self.len)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; nothing borrows
        // the mapping past the segment's lifetime (objects hold the Segment).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl Segment {
    /// Base address of the mapping.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }
    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Never true: a segment holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Mapped without write permission.
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    /// The segment's name.
    pub fn name(&self) -> &SegmentName {
        &self.name
    }
    /// The common header.
    pub fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping is at least HEADER_SIZE bytes, page aligned, and
        // lives as long as `self`.
        unsafe { &*(self.base.as_ptr() as *const SegmentHeader) }
    }
}

/// An owned file descriptor.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned and closed exactly once.
        unsafe { libc::close(self.0) };
    }
}

fn fstat(fd: &Fd) -> Result<libc::stat> {
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open, st is writable.
    if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
        return Err(Error::last_os("fstat"));
    }
    Ok(st)
}

/// Maps `len` bytes of `fd`.
fn map(fd: &Fd, len: usize, writable: bool) -> Result<NonNull<u8>> {
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    // SAFETY: a fresh shared mapping of an open descriptor; the kernel picks the address.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.0, 0) };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os("mmap"));
    }
    NonNull::new(p.cast()).ok_or_else(|| Error::Corrupt("mmap returned NULL".into()))
}

/// Reads the `magic` word of a mapped header.
///
/// Acquire: pairs with the Release store that publishes the segment in
/// [`initialise`], so every field written before it is visible.
fn read_ready_magic(base: NonNull<u8>) -> u64 {
    // SAFETY: the caller mapped at least HEADER_SIZE bytes at `base`.
    let header = unsafe { &*(base.as_ptr() as *const SegmentHeader) };
    header.magic.load(Ordering::Acquire)
}

fn flock_bounded(fd: &Fd, deadline: &Deadline, name: &SegmentName) -> Result<()> {
    loop {
        // SAFETY: fd is open.
        if unsafe { libc::flock(fd.0, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno != libc::EWOULDBLOCK && errno != libc::EINTR {
            return Err(Error::from_errno(errno, format!("flock {}", name.as_str())));
        }
        if deadline.passed() {
            return Err(Error::Timeout);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn funlock(fd: &Fd) {
    // SAFETY: fd is open; unlocking a lock we hold cannot fail meaningfully.
    unsafe { libc::flock(fd.0, libc::LOCK_UN) };
}

fn same_inode(fd: &Fd, name: &SegmentName) -> Result<bool> {
    let st = fstat(fd)?;
    let path = std::ffi::CString::new(name.dev_shm_path())
        .map_err(|_| Error::InvalidArgument("NUL in name".into()))?;
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st2: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated, st2 writable.
    if unsafe { libc::stat(path.as_ptr(), &mut st2) } != 0 {
        return Ok(false);
    }
    Ok(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev)
}

pub(crate) fn check_mode(mode: u32) -> Result<u32> {
    let mode = if mode == 0 { DEFAULT_MODE } else { mode };
    if mode & !0o666 != 0 || mode & 0o600 != 0o600 {
        return Err(Error::InvalidArgument(format!(
            "mode {mode:o}: only read/write bits are allowed and the owner needs both (0600, 0640, 0660, ...)"
        )));
    }
    Ok(mode)
}

/// Opens (attaching or creating) the segment `name` holding an `L`.
pub fn open<L: SegmentLayout>(
    name: &SegmentName,
    req: OpenRequest<L::Geometry>,
) -> Result<(Segment, L::Geometry)> {
    let mode = check_mode(req.mode)?;
    if let Some((g, _)) = &req.create {
        // Reject impossible geometries before touching the file system.
        L::total_size(g)?;
    }
    let deadline = Deadline::after(INIT_WAIT);
    loop {
        let may_create = req.create.is_some() && !req.read_only;
        let flags = if req.read_only {
            libc::O_RDONLY
        } else {
            libc::O_RDWR
        } | libc::O_CLOEXEC;
        let mut fd = None;
        if may_create {
            // SAFETY: the name is a valid C string.
            let raw = unsafe {
                libc::shm_open(
                    name.as_cstr().as_ptr(),
                    flags | libc::O_CREAT | libc::O_EXCL,
                    mode as libc::mode_t,
                )
            };
            if raw >= 0 {
                let f = Fd(raw);
                // The umask may have narrowed the mode; set exactly what was asked.
                // SAFETY: raw is an open descriptor we own.
                unsafe { libc::fchmod(f.0, mode as libc::mode_t) };
                fd = Some(f);
            } else {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if errno != libc::EEXIST {
                    return Err(Error::from_errno(
                        errno,
                        format!("create {}", name.as_str()),
                    ));
                }
            }
        }
        let fd = match fd {
            Some(f) => f,
            None => {
                // SAFETY: the name is a valid C string.
                let raw = unsafe { libc::shm_open(name.as_cstr().as_ptr(), flags, 0) };
                if raw < 0 {
                    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                    if errno == libc::ENOENT && may_create {
                        continue; // unlinked between our two opens: try creating again
                    }
                    return Err(Error::from_errno(errno, format!("open {}", name.as_str())));
                }
                Fd(raw)
            }
        };
        if let Some(done) = attach_ready::<L>(&fd, name, &req)? {
            return Ok(done);
        }
        // Not ready: someone is initialising it, or its creator died.
        flock_bounded(&fd, &deadline, name).map_err(|e| match e {
            Error::Timeout => Error::Io {
                what: format!(
                    "{}: initialisation by another process did not finish in {INIT_WAIT:?}",
                    name.as_str()
                ),
                source: crate::error::IoError(libc::ETIMEDOUT),
            },
            e => e,
        })?;
        let result = (|| {
            if let Some(done) = attach_ready::<L>(&fd, name, &req)? {
                return Ok(Some(done));
            }
            if !same_inode(&fd, name)? {
                return Ok(None); // replaced under us: start over
            }
            match (&req.create, may_create) {
                (Some((g, _)), true) => initialise::<L>(&fd, name, g, mode).map(Some),
                _ => Ok(None),
            }
        })();
        funlock(&fd);
        match result? {
            Some(done) => return Ok(done),
            None if deadline.passed() => {
                return Err(Error::NotExist(format!(
                    "{} exists but was never initialised (its creator died); open it with a handle that may create to repair it",
                    name.as_str()
                )));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Validates and maps a ready segment; `Ok(None)` when it is not ready yet.
fn attach_ready<L: SegmentLayout>(
    fd: &Fd,
    name: &SegmentName,
    req: &OpenRequest<L::Geometry>,
) -> Result<Option<(Segment, L::Geometry)>> {
    let size = usize::try_from(fstat(fd)?.st_size).unwrap_or(0);
    if size == 0 {
        return Ok(None);
    }
    if size < HEADER_SIZE {
        return Err(Error::Corrupt(format!(
            "{} is {size} bytes, smaller than a segment header ({HEADER_SIZE})",
            name.as_str()
        )));
    }
    let hdr_map = map(fd, HEADER_SIZE, false)?;
    let unmap_hdr = || {
        // SAFETY: exactly the mapping made above.
        unsafe { libc::munmap(hdr_map.as_ptr().cast(), HEADER_SIZE) };
    };
    let magic = read_ready_magic(hdr_map);
    if magic == 0 {
        unmap_hdr();
        return Ok(None);
    }
    // SAFETY: header mapping is HEADER_SIZE bytes; fields are plain data
    // written before `magic` was published (Acquire above).
    let h = unsafe { &*(hdr_map.as_ptr() as *const SegmentHeader) };
    let (version, otype, total, raw_geom) =
        (h.layout_version, h.object_type, h.total_size, h.geometry);
    unmap_hdr();
    if magic != MAGIC {
        return Err(Error::Incompatible(format!(
            "{} is not an orbit segment (bad magic)",
            name.as_str()
        )));
    }
    if otype != L::KIND as u32 {
        let found = ObjectKind::from_u32(otype)
            .map(|k| k.tag())
            .unwrap_or("unknown object");
        return Err(Error::Incompatible(format!(
            "{} holds a {found}, not a {}",
            name.as_str(),
            L::KIND.tag()
        )));
    }
    if version != L::LAYOUT_VERSION {
        return Err(Error::Incompatible(format!(
            "{} has layout version {version}, this library reads {}",
            name.as_str(),
            L::LAYOUT_VERSION
        )));
    }
    let geom = L::decode(&raw_geom)?;
    let expect =
        L::total_size(&geom).map_err(|e| Error::Corrupt(format!("{}: {e}", name.as_str())))?;
    if total != expect as u64 {
        return Err(Error::Corrupt(format!(
            "{} header says {total} bytes, its geometry needs {expect}",
            name.as_str()
        )));
    }
    if size < expect {
        return Err(Error::Corrupt(format!(
            "{} is truncated: {size} bytes in the file, {expect} needed",
            name.as_str()
        )));
    }
    if let Some((want, true)) = &req.create {
        if *want != geom {
            return Err(Error::Incompatible(format!(
                "{} exists with geometry {geom:?}, requested {want:?}",
                name.as_str()
            )));
        }
    }
    let base = map(fd, expect, !req.read_only)?;
    Ok(Some((
        Segment {
            base,
            len: expect,
            read_only: req.read_only,
            name: name.clone(),
        },
        geom,
    )))
}

/// Initialises a segment under its flock.
fn initialise<L: SegmentLayout>(
    fd: &Fd,
    name: &SegmentName,
    g: &L::Geometry,
    mode: u32,
) -> Result<(Segment, L::Geometry)> {
    let size = L::total_size(g)?;
    // Truncating to zero first guarantees a zero-filled body even if a dead
    // creator left bytes behind.
    // SAFETY: fd is open for writing; ftruncate only resizes the file.
    let resized =
        unsafe { libc::ftruncate(fd.0, 0) == 0 && libc::ftruncate(fd.0, size as libc::off_t) == 0 };
    if !resized {
        return Err(Error::last_os(format!(
            "ftruncate {} to {size} bytes",
            name.as_str()
        )));
    }
    let base = map(fd, size, true)?;
    let seg = Segment {
        base,
        len: size,
        read_only: false,
        name: name.clone(),
    };
    // SAFETY: the mapping is `size` bytes, writable, zeroed, and nobody else
    // initialises it while we hold the flock; openers read nothing past the
    // header until `magic` is published.
    unsafe {
        let h = &mut *(base.as_ptr() as *mut SegmentHeader);
        h.layout_version = L::LAYOUT_VERSION;
        h.object_type = L::KIND as u32;
        h.total_size = size as u64;
        h.creator_pid = std::process::id();
        h.mode = mode;
        h.created_at_ms = OrbitEpoch::now().as_millis();
        h.geometry = L::encode(g);
        L::init_body(base.as_ptr(), g);
    }
    // Release: publishes every store above; pairs with the Acquire in `read_ready_magic`.
    seg.header().magic.store(MAGIC, Ordering::Release);
    Ok((seg, *g))
}

/// Removes the segment's name. Processes that have it mapped keep using it.
pub fn unlink(name: &SegmentName) -> Result<()> {
    // SAFETY: the name is a valid C string.
    if unsafe { libc::shm_unlink(name.as_cstr().as_ptr()) } != 0 {
        return Err(Error::last_os(format!("unlink {}", name.as_str())));
    }
    Ok(())
}

/// Rounds `n` up to a multiple of 64 (a cache line), `None` on overflow.
pub(crate) fn round_up_64(n: usize) -> Option<usize> {
    n.checked_add(63).map(|v| v & !63)
}
