//! Contest (lease) functions.
//!
//! The lease table belongs to the fleet: the first contest call through a
//! fleet handle opens it (creating it with the defaults if absent) and the
//! handle keeps it. `orbit_contest_open` opens it with explicit options instead.

use std::ffi::c_char;
use std::time::Duration;

use super::{
    Handle, clear_out, ffi_boundary, ffi_status, handle_free, handle_mut, handle_ref, impl_handle,
    orbit_fleet, out_arg, reserved_zero, str_arg,
};
use crate::contest::{Contest, ContestOptions, Lease};
use crate::error::{Error, Result, Status};

/// A granted lease. Behind it: `orbit::Lease`.
///
/// Not thread-safe: one thread at a time (it may move between threads).
/// `orbit_lease_free` releases it if it is still held.
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_lease {
    magic: u64,
    lease: Lease,
}
impl_handle!(orbit_lease, 0x0F1E_E70F_1EE7_0006, "orbit_lease");

/// Lease-table options. Initialise with `orbit_contest_options_init`.
#[repr(C)]
pub struct orbit_contest_options {
    /// Number of subjects the table holds, 1..=65536 (default 256).
    pub capacity: u32,
    /// Permission bits if this call creates the table: 0 = the fleet's mode.
    pub mode: u32,
    /// Must be zero (room for future options).
    pub reserved: [u64; 6],
}

/// The current holder of a subject, filled by `orbit_contest_holder`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_holder {
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

/// The fleet's lease table, opened on first use and kept in the handle.
fn contest_of<'a>(f: &'a orbit_fleet, opts: Option<&ContestOptions>) -> Result<&'a Contest> {
    if let Some(o) = opts {
        o.validate()?;
    }
    if let Some(c) = f.contest.get() {
        if let Some(o) = opts {
            if c.capacity() != o.capacity {
                return Err(Error::Incompatible(format!(
                    "the lease table is open with {} subjects, requested {}",
                    c.capacity(),
                    o.capacity
                )));
            }
        }
        return Ok(c);
    }
    let c = Contest::open(&f.fleet, opts)?;
    // A racing thread may have set it first; both map the same table.
    let _ = f.contest.set(c);
    f.contest
        .get()
        .ok_or_else(|| Error::NotExist("lease table".into()))
}

/// Fills `opts` with the defaults: 256 subjects, mode 0.
///
/// **Parameters**: `opts` (NULL is ignored). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_contest_options_init(opts: *mut orbit_contest_options) {
    ffi_boundary!({
        if let Ok(o) = out_arg(opts, "opts") {
            let d = ContestOptions::default();
            *o = orbit_contest_options {
                capacity: d.capacity,
                mode: d.mode,
                reserved: [0; 6],
            };
        }
    })
}

/// Opens the fleet's lease table with explicit options and keeps it in the
/// fleet handle for the contest calls that follow. Optional: without it the
/// first contest call opens the table with `opts == NULL` semantics.
///
/// With `opts == NULL` it attaches to the existing table whatever its
/// capacity, or creates one with the defaults. With `opts` it creates the
/// table with that capacity, or attaches if the existing one matches.
///
/// **Parameters**: `f`, a fleet handle (the table is kept in it); `opts`,
/// NULL or initialised options.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (capacity 0 or over
/// 65536, reserved fields set); `INCOMPATIBLE` (existing table of another
/// capacity, or a ring named `contest.leases` that is not an audit ring);
/// `CORRUPT`; `NOT_EXIST` (observer, no table yet); `PERMISSION`; `IO`.
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_contest_open(
    f: *mut orbit_fleet,
    opts: *const orbit_contest_options,
) -> Status {
    ffi_status!({
        let fleet = handle_ref(f as *const orbit_fleet)?;
        let o = if opts.is_null() {
            None
        } else {
            // SAFETY: non-NULL and, by the contract, a readable orbit_contest_options.
            let c = unsafe { &*opts };
            reserved_zero(&c.reserved, "orbit_contest_options")?;
            Some(ContestOptions {
                capacity: c.capacity,
                mode: c.mode,
            })
        };
        contest_of(fleet, o.as_ref())?;
        Ok(Status::Ok)
    })
}

/// Claims `subject` for `ttl_ms` milliseconds. Succeeds for exactly one live
/// holder; a lease whose TTL passed, or whose holder process is dead, is taken
/// over at once. The lease carries a fencing token (`orbit_lease_token`)
/// that strictly increases with every grant of the subject.
///
/// **Parameters**: `f`, a member fleet handle; `subject`, NUL-terminated UTF-8
/// of 1..=128 bytes; `ttl_ms` > 0; `out` receives the lease.
/// **Returns** `OK`; `CONFLICT` (a live holder has it, this process
/// included); `FULL` (a new subject and every table entry holds a live
/// lease); `NULL_ARGUMENT`; `INVALID_ARGUMENT` (subject, TTL 0, fleet handle
/// inherited through `fork()`); `READ_ONLY` (observer); `TIMEOUT` (another
/// live process kept the table's bind lock for 2 s); errors of opening the
/// table on first use. On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_lease_free` (which releases it if
/// still held). **Thread safety**: any thread; no allocation beyond the handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_contest_claim(
    f: *mut orbit_fleet,
    subject: *const c_char,
    ttl_ms: u64,
    out: *mut *mut orbit_lease,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let fleet = handle_ref(f as *const orbit_fleet)?;
        let subject = str_arg(subject, "subject")?;
        if fleet.fleet.is_observer() {
            return Err(Error::ReadOnly("this fleet handle is an observer"));
        }
        let contest = contest_of(fleet, None)?;
        let lease = contest.claim(subject, Duration::from_millis(ttl_ms))?;
        *out = Handle::into_raw(orbit_lease {
            magic: <orbit_lease as Handle>::MAGIC,
            lease,
        });
        Ok(Status::Ok)
    })
}

/// Fills `out` with the live holder of `subject`.
///
/// **Parameters**: `f`, a fleet handle (member or observer); `subject`,
/// NUL-terminated UTF-8 of 1..=128 bytes; `out` receives the holder.
/// **Returns** `OK`; `NOT_FOUND` (free: released, expired, holder dead, never
/// claimed, or no lease table yet; `*out` zeroed); `NULL_ARGUMENT`;
/// `INVALID_ARGUMENT` (subject). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_contest_holder(
    f: *const orbit_fleet,
    subject: *const c_char,
    out: *mut orbit_holder,
) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_holder::default();
        let fleet = handle_ref(f)?;
        let subject = str_arg(subject, "subject")?;
        let contest = match contest_of(fleet, None) {
            Ok(c) => c,
            Err(Error::NotExist(_)) => return Ok(Status::NotFound),
            Err(e) => return Err(e),
        };
        match contest.holder(subject)? {
            Some(h) => {
                *out = orbit_holder {
                    node_id: h.node_id,
                    pid: h.pid,
                    token: h.token,
                    claimed_at_ms: h.claimed_at_ms,
                    expires_at_ms: h.expires_at_ms,
                };
                Ok(Status::Ok)
            }
            None => Ok(Status::NotFound),
        }
    })
}

/// The lease's fencing token (0 for NULL or a freed handle). Hand it to
/// whatever the lease protects, which should refuse tokens lower than the
/// highest it has seen.
///
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_lease_token(l: *const orbit_lease) -> u64 {
    ffi_boundary!({ handle_ref(l).map(|h| h.lease.token()).unwrap_or(0) })
}

/// Extends the lease to now + `ttl_ms`. A lease whose TTL passed can still be
/// renewed while nobody has started taking it over; its token stays the same.
///
/// **Parameters**: `l`, a lease; `ttl_ms` > 0, counted from now.
/// **Returns** `OK`; `LEASE_LOST` (it expired and another took it, or it was
/// released); `INVALID_ARGUMENT` (TTL 0; fleet handle inherited through
/// `fork()`); `NULL_ARGUMENT`. **Thread safety**: one thread at a time per lease.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_lease_renew(l: *mut orbit_lease, ttl_ms: u64) -> Status {
    ffi_status!({
        handle_mut(l)?.lease.renew(Duration::from_millis(ttl_ms))?;
        Ok(Status::Ok)
    })
}

/// Releases the lease so another may claim it at once. Releasing again is a
/// no-op returning `OK`.
///
/// **Returns** `OK`; `LEASE_LOST` (it had expired and another took it: the
/// critical section may have overlapped the next holder's); `NULL_ARGUMENT`;
/// `INVALID_ARGUMENT` (fleet handle inherited through `fork()`; nothing
/// released). **Ownership**: the handle stays valid until `orbit_lease_free`.
/// **Thread safety**: one thread at a time per lease.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_lease_release(l: *mut orbit_lease) -> Status {
    ffi_status!({
        handle_mut(l)?.lease.release_in_place()?;
        Ok(Status::Ok)
    })
}

/// Frees a lease handle, releasing the lease if it is still held. NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_lease_free(l: *mut orbit_lease) {
    ffi_boundary!({ handle_free(l) })
}

/// Removes the lease table of `fleet` and its audit ring from the system.
/// Processes that have them open keep using them; the next claim creates a new
/// table (whose tokens start again from 1).
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST`; `PERMISSION`.
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_contest_unlink(fleet: *const c_char) -> Status {
    ffi_status!({
        Contest::unlink(str_arg(fleet, "fleet")?)?;
        Ok(Status::Ok)
    })
}
