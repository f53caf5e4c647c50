//! Errors of the Rust API and the status codes of the C ABI.
//!
//! Every `Error` maps to exactly one [`Status`]; the C boundary returns that code
//! and keeps the message for `orbit_last_error_message`.

use std::fmt;

/// Status codes shared by every language binding. Values never change once
/// released and are never reused (retired codes stay listed as comments).
///
/// `0` is success; `1..=15` are outcomes that are not errors; `16..` are errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// Nothing to read yet (a cursor or subscription is at the head).
    Empty = 1,
    /// The key, frame or holder does not exist (any more).
    NotFound = 2,
    /// A bounded wait ended before anything arrived.
    Timeout = 3,
    /// The operation lost a race or a precondition: present for `add`,
    /// version changed for `cas`, lease held by another.
    Conflict = 4,
    /// The lease expired and was granted to another holder.
    LeaseLost = 5,
    /// A required pointer argument was NULL.
    NullArgument = 16,
    /// An argument is malformed (bad name, zero capacity, bad enum value, ...).
    InvalidArgument = 17,
    /// A payload, key or value exceeds the object's limit; nothing was written.
    TooLarge = 18,
    /// The caller's buffer is too small; the needed length is reported.
    BufferTooSmall = 19,
    /// The object does not exist (and this call may not create it).
    NotExist = 20,
    /// The object already exists.
    Exists = 21,
    /// The segment is of another kind, layout version or geometry.
    Incompatible = 22,
    /// The segment is truncated or its contents are impossible.
    Corrupt = 23,
    /// The operating system denied access.
    Permission = 24,
    /// The handle is read-only (an observer) and the call would mutate.
    ReadOnly = 25,
    /// A bounded table is full (fleet nodes, leases).
    Full = 26,
    /// Another operating-system failure (see the last error message).
    Io = 27,
    /// A bug inside orbit was caught at the boundary; the call did nothing
    /// more. Please report it with the last error message.
    Panic = 28,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 19] = [
        Status::Ok,
        Status::Empty,
        Status::NotFound,
        Status::Timeout,
        Status::Conflict,
        Status::LeaseLost,
        Status::NullArgument,
        Status::InvalidArgument,
        Status::TooLarge,
        Status::BufferTooSmall,
        Status::NotExist,
        Status::Exists,
        Status::Incompatible,
        Status::Corrupt,
        Status::Permission,
        Status::ReadOnly,
        Status::Full,
        Status::Io,
        Status::Panic,
    ];

    /// The status for a raw code, if it is one.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }

    /// A static, human-readable description.
    pub fn message(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Empty => "empty: nothing to read yet",
            Status::NotFound => "not found",
            Status::Timeout => "timed out",
            Status::Conflict => "conflict",
            Status::LeaseLost => "lease lost: it expired and was granted to another holder",
            Status::NullArgument => "a required pointer argument was NULL",
            Status::InvalidArgument => "invalid argument",
            Status::TooLarge => "too large for the object's limits; nothing was written",
            Status::BufferTooSmall => "buffer too small; the needed length was reported",
            Status::NotExist => "the object does not exist",
            Status::Exists => "the object already exists",
            Status::Incompatible => "incompatible segment (other kind, layout version or geometry)",
            Status::Corrupt => "corrupt segment (truncated or impossible contents)",
            Status::Permission => "permission denied",
            Status::ReadOnly => "read-only handle (observer)",
            Status::Full => "the table is full",
            Status::Io => "operating-system error",
            Status::Panic => "internal error caught at the API boundary",
        }
    }

    /// True for outcomes that are not errors (`OK` included).
    pub fn is_outcome(self) -> bool {
        (self as i32) < 16
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// An error of the Rust API: a status plus the detail that explains it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// See [`Status::Empty`].
    #[error("empty")]
    Empty,
    /// See [`Status::NotFound`].
    #[error("not found: {0}")]
    NotFound(String),
    /// See [`Status::Timeout`].
    #[error("timed out")]
    Timeout,
    /// See [`Status::Conflict`].
    #[error("conflict: {0}")]
    Conflict(String),
    /// See [`Status::LeaseLost`].
    #[error("lease lost: {0}")]
    LeaseLost(String),
    /// See [`Status::NullArgument`].
    #[error("NULL argument: {0}")]
    NullArgument(&'static str),
    /// See [`Status::InvalidArgument`].
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// See [`Status::TooLarge`].
    #[error("too large: {what} is {len} bytes, the limit is {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// See [`Status::BufferTooSmall`].
    #[error("buffer too small: {needed} bytes needed, {cap} given")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        cap: usize,
    },
    /// See [`Status::NotExist`].
    #[error("does not exist: {0}")]
    NotExist(String),
    /// See [`Status::Exists`].
    #[error("already exists: {0}")]
    Exists(String),
    /// See [`Status::Incompatible`].
    #[error("incompatible: {0}")]
    Incompatible(String),
    /// See [`Status::Corrupt`].
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// See [`Status::Permission`].
    #[error("permission denied: {0}")]
    Permission(String),
    /// See [`Status::ReadOnly`].
    #[error("read-only: {0}")]
    ReadOnly(&'static str),
    /// See [`Status::Full`].
    #[error("full: {0}")]
    Full(String),
    /// See [`Status::Io`].
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed.
        what: String,
        /// The OS error.
        #[source]
        source: IoError,
    },
}

/// A cloneable, comparable wrapper of an OS error number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError(pub i32);

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (errno {})",
            std::io::Error::from_raw_os_error(self.0),
            self.0
        )
    }
}

impl std::error::Error for IoError {}

impl Error {
    /// The status code this error is reported as through the C ABI.
    pub fn status(&self) -> Status {
        match self {
            Error::Empty => Status::Empty,
            Error::NotFound(_) => Status::NotFound,
            Error::Timeout => Status::Timeout,
            Error::Conflict(_) => Status::Conflict,
            Error::LeaseLost(_) => Status::LeaseLost,
            Error::NullArgument(_) => Status::NullArgument,
            Error::InvalidArgument(_) => Status::InvalidArgument,
            Error::TooLarge { .. } => Status::TooLarge,
            Error::BufferTooSmall { .. } => Status::BufferTooSmall,
            Error::NotExist(_) => Status::NotExist,
            Error::Exists(_) => Status::Exists,
            Error::Incompatible(_) => Status::Incompatible,
            Error::Corrupt(_) => Status::Corrupt,
            Error::Permission(_) => Status::Permission,
            Error::ReadOnly(_) => Status::ReadOnly,
            Error::Full(_) => Status::Full,
            Error::Io { .. } => Status::Io,
        }
    }

    /// An error from the calling thread's `errno`, classified: `EACCES`/`EPERM`
    /// become [`Error::Permission`], `ENOENT` [`Error::NotExist`], `EEXIST`
    /// [`Error::Exists`], anything else [`Error::Io`].
    pub(crate) fn last_os(what: impl Into<String>) -> Error {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Error::from_errno(errno, what)
    }

    pub(crate) fn from_errno(errno: i32, what: impl Into<String>) -> Error {
        let what = what.into();
        match errno {
            libc::EACCES | libc::EPERM => Error::Permission(format!("{what}: {}", IoError(errno))),
            libc::ENOENT => Error::NotExist(what),
            libc::EEXIST => Error::Exists(what),
            _ => Error::Io {
                what,
                source: IoError(errno),
            },
        }
    }
}

/// The result type of the Rust API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
