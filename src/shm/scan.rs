//! Finding and inspecting segments without opening them as objects: what the
//! `orbit` command line lists, and what a cleanup removes.
//!
//! Reading a header this way never touches a byte past it, never creates or
//! repairs anything, and never fails on a foreign or half-made file: every
//! such file is reported with what is wrong with it ([`HeaderState`]).

use std::path::{Path, PathBuf};

use super::name::{ObjectKind, SegmentName, validate_name};
use super::{Fd, HEADER_SIZE, MAGIC, SegmentHeader, fstat, map, read_ready_magic};
use crate::error::{Error, Result};

/// Where POSIX shared-memory names appear on Linux.
pub const SHM_DIR: &str = "/dev/shm";

/// The parts of a segment file name `orbit:<uid>:<fleet>:<kind>:<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedName {
    /// The uid the name is scoped to.
    pub uid: u32,
    /// The fleet.
    pub fleet: String,
    /// The object kind.
    pub kind: ObjectKind,
    /// The object name.
    pub name: String,
}

impl ParsedName {
    /// Parses a file name as found in `/dev/shm` (no leading `/`); `None` for
    /// anything that is not exactly what [`SegmentName`] produces.
    pub fn parse(file_name: &str) -> Option<ParsedName> {
        let mut parts = file_name.split(':');
        if parts.next()? != "orbit" {
            return None;
        }
        let uid = parts.next()?;
        if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let uid: u32 = uid.parse().ok()?;
        let fleet = parts.next()?;
        let kind = parts.next()?;
        let name = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let kind = ObjectKind::from_tag(kind)?;
        validate_name("fleet", fleet).ok()?;
        validate_name(kind.tag(), name).ok()?;
        Some(ParsedName {
            uid,
            fleet: fleet.to_string(),
            kind,
            name: name.to_string(),
        })
    }

    /// The segment name these parts make.
    pub fn segment_name(&self) -> Result<SegmentName> {
        SegmentName::for_uid(self.uid, &self.fleet, self.kind, &self.name)
    }
}

/// The header fields of a ready segment, copied out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Layout version of the body.
    pub layout_version: u32,
    /// The object kind the header claims (`None`: a value this library does
    /// not know).
    pub kind: Option<ObjectKind>,
    /// Total bytes the header claims.
    pub total_size: u64,
    /// The process that initialised the segment.
    pub creator_pid: u32,
    /// Permission bits it was created with.
    pub mode: u32,
    /// Wall-clock creation time, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// The object's geometry words (see each object's layout).
    pub geometry: [u64; 8],
}

/// What reading a segment's header found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderState {
    /// A published orbit header.
    Ready(HeaderInfo),
    /// Not published yet: being initialised, or its creator died before it
    /// finished (the next opener that may create repairs it).
    Uninitialised,
    /// Smaller than a header (or than its header claims).
    Truncated,
    /// Not an orbit segment (another magic word).
    Foreign,
    /// The file could not be opened or mapped (permission, vanished, ...).
    Unreadable(Error),
}

/// A segment file found in `/dev/shm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    /// The parsed name.
    pub name: ParsedName,
    /// The file's path.
    pub path: PathBuf,
    /// The file's size from `fstat`/`stat`.
    pub file_size: u64,
    /// What the header says.
    pub header: HeaderState,
}

/// The effective uid, which scopes the segment names this process makes.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Every orbit segment of `uid` in `/dev/shm` (optionally of one fleet),
/// sorted by fleet, kind and name. Files that do not parse as orbit names are
/// skipped.
pub fn scan(uid: u32, fleet: Option<&str>) -> Result<Vec<SegmentFile>> {
    scan_dir(Path::new(SHM_DIR), uid, fleet)
}

/// [`scan`] over another directory (tests).
pub fn scan_dir(dir: &Path, uid: u32, fleet: Option<&str>) -> Result<Vec<SegmentFile>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        what: format!("reading {}", dir.display()),
        source: crate::error::IoError(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(parsed) = file_name.to_str().and_then(ParsedName::parse) else {
            continue;
        };
        if parsed.uid != uid || fleet.is_some_and(|f| f != parsed.fleet) {
            continue;
        }
        let path = entry.path();
        let (file_size, header) = inspect_path(&path);
        out.push(SegmentFile {
            name: parsed,
            path,
            file_size,
            header,
        });
    }
    out.sort_by(|a, b| {
        (&a.name.fleet, a.name.kind as u32, &a.name.name).cmp(&(
            &b.name.fleet,
            b.name.kind as u32,
            &b.name.name,
        ))
    });
    Ok(out)
}

/// Reads the header of the segment `name` (see [`HeaderState`]). The file
/// size is 0 when it could not be read.
pub fn inspect(name: &SegmentName) -> (u64, HeaderState) {
    inspect_path(Path::new(&name.dev_shm_path()))
}

fn inspect_path(path: &Path) -> (u64, HeaderState) {
    let unreadable = |e: Error| (0, HeaderState::Unreadable(e));
    let c = match std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return unreadable(Error::InvalidArgument("NUL in path".into())),
    };
    // SAFETY: a NUL-terminated path; a read-only open creates nothing.
    let raw = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if raw < 0 {
        return unreadable(Error::last_os(format!("open {}", path.display())));
    }
    let fd = Fd(raw);
    let size = match fstat(&fd) {
        Ok(st) => u64::try_from(st.st_size).unwrap_or(0),
        Err(e) => return unreadable(e),
    };
    if size == 0 {
        return (0, HeaderState::Uninitialised);
    }
    if size < HEADER_SIZE as u64 {
        return (size, HeaderState::Truncated);
    }
    let base = match map(&fd, HEADER_SIZE, false) {
        Ok(b) => b,
        Err(e) => return (size, HeaderState::Unreadable(e)),
    };
    let magic = read_ready_magic(base);
    // SAFETY: the mapping is HEADER_SIZE bytes; the fields are plain data
    // written before `magic` was published (Acquire in read_ready_magic). A
    // foreign file may hold anything, which is fine for plain integers.
    let h = unsafe { &*(base.as_ptr() as *const SegmentHeader) };
    let info = HeaderInfo {
        layout_version: h.layout_version,
        kind: ObjectKind::from_u32(h.object_type),
        total_size: h.total_size,
        creator_pid: h.creator_pid,
        mode: h.mode,
        created_at_ms: h.created_at_ms,
        geometry: h.geometry,
    };
    // SAFETY: exactly the mapping made above; `h` is not used past this point.
    unsafe { libc::munmap(base.as_ptr().cast(), HEADER_SIZE) };
    let state = match magic {
        0 => HeaderState::Uninitialised,
        MAGIC if info.total_size > size => HeaderState::Truncated,
        MAGIC => HeaderState::Ready(info),
        _ => HeaderState::Foreign,
    };
    (size, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_what_segment_names_make() {
        let n = SegmentName::for_uid(1000, "pay-1", ObjectKind::Cache, "sessions.v2").unwrap();
        let p = ParsedName::parse(&n.as_str()[1..]).unwrap();
        assert_eq!(
            p,
            ParsedName {
                uid: 1000,
                fleet: "pay-1".into(),
                kind: ObjectKind::Cache,
                name: "sessions.v2".into()
            }
        );
        assert_eq!(p.segment_name().unwrap(), n);
        for bad in [
            "",
            "orbit",
            "orbit:1000:f:ring",
            "orbit:1000:f:ring:r:x",
            "orbit::f:ring:r",
            "orbit:+1:f:ring:r",
            "orbit:99999999999:f:ring:r",
            "orbit:1000:f:queue:r",
            "orbit:1000::ring:r",
            "orbit:1000:f:ring:a..b",
            "other:1000:f:ring:r",
            "sem.orbit:1000:f:ring:r",
        ] {
            assert_eq!(ParsedName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inspects_foreign_short_and_empty_files() {
        let dir = std::env::temp_dir().join(format!("orbit-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
        write("orbit:7:f:ring:empty", b"");
        write("orbit:7:f:ring:short", &[1; 10]);
        write("orbit:7:f:ring:foreign", &[0xee; 256]);
        let mut unpublished = vec![0u8; 256];
        unpublished[8] = 1;
        write("orbit:7:f:cache:unpublished", &unpublished);
        write("orbit:8:f:ring:other-user", b"");
        write("orbit:7:g:ring:other-fleet", b"");
        write("not-orbit", b"");
        let found = scan_dir(&dir, 7, Some("f")).unwrap();
        let states: Vec<_> = found
            .iter()
            .map(|s| (s.name.kind.tag(), s.name.name.as_str(), s.header.clone()))
            .collect();
        assert_eq!(
            states,
            [
                ("ring", "empty", HeaderState::Uninitialised),
                ("ring", "foreign", HeaderState::Foreign),
                ("ring", "short", HeaderState::Truncated),
                ("cache", "unpublished", HeaderState::Uninitialised),
            ]
        );
        assert_eq!(scan_dir(&dir, 7, None).unwrap().len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inspects_a_real_segment() {
        let fleet = format!("scan{}", std::process::id());
        let f = crate::Fleet::join(&fleet, &crate::FleetOptions::default()).unwrap();
        let r = crate::Ring::open(
            &f,
            "r",
            Some(&crate::RingOptions {
                capacity: 8,
                max_payload: 16,
                kind: 3,
                mode: 0,
                single_writer: false,
            }),
        )
        .unwrap();
        let uid = current_uid();
        let found = scan(uid, Some(&fleet)).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        let ring = found
            .iter()
            .find(|s| s.name.kind == ObjectKind::Ring)
            .unwrap();
        let HeaderState::Ready(h) = &ring.header else {
            panic!("{ring:?}")
        };
        assert_eq!(h.kind, Some(ObjectKind::Ring));
        assert_eq!(h.creator_pid, std::process::id());
        assert_eq!((h.geometry[0], h.geometry[1], h.geometry[2]), (8, 16, 3));
        assert_eq!(h.total_size, ring.file_size);
        drop(r);
        crate::Ring::unlink(&fleet, "r").unwrap();
        drop(f);
        crate::fleet::unlink(&fleet).unwrap();
    }
}
