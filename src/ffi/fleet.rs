//! Fleet functions.

use std::ffi::c_char;
use std::sync::OnceLock;

use super::{
    Handle, clear_out, ffi_boundary, ffi_status, handle_free, handle_mut, handle_ref, impl_handle,
    out_arg, reserved_zero, str_arg,
};
use crate::contest::Contest;
use crate::error::{Error, Status};
use crate::fleet::{Fleet, FleetOptions, HeartbeatState, MemberState};

/// A fleet membership (or observer) handle. Behind it: `orbit::Fleet`.
///
/// Thread-safe. Free with `orbit_fleet_free`; rings and other objects opened
/// through it keep what they need alive, so it may be freed before them.
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_fleet {
    magic: u64,
    pub(crate) fleet: Fleet,
    /// The fleet's lease table, opened by the first contest call.
    pub(crate) contest: OnceLock<Contest>,
}
impl_handle!(orbit_fleet, 0x0F1E_E70F_1EE7_0001, "orbit_fleet");

/// Options for `orbit_fleet_join`. Initialise with `orbit_fleet_options_init`.
#[repr(C)]
pub struct orbit_fleet_options {
    /// Member label shown in listings, at most 31 bytes; NULL for none. Copied.
    pub label: *const c_char,
    /// Node slots if this call creates the fleet table (default 256, at most 4096).
    pub max_nodes: u32,
    /// Permission bits of segments created through this fleet: 0 means 0600;
    /// 0660 opens them to the owning group.
    pub mode: u32,
    /// Heartbeat age after which a live member is reported stale (default 10000 ms).
    pub stale_after_ms: u64,
    /// Must be zero (room for future options).
    pub reserved: [u64; 6],
}

/// A member's state.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum orbit_member_state {
    /// Running and heartbeating.
    Alive = 0,
    /// Running, but its last heartbeat is older than `stale_after_ms`.
    Stale = 1,
    /// Its process is gone.
    Dead = 2,
}

/// One member, as filled by `orbit_fleet_members`.
#[repr(C)]
pub struct orbit_member {
    /// Node id (1-based).
    pub node_id: u16,
    /// Process id.
    pub pid: u32,
    /// Alive, stale or dead.
    pub state: orbit_member_state,
    /// NUL-terminated label.
    pub label: [c_char; 32],
    /// Join time, ms since the Unix epoch.
    pub joined_at_ms: u64,
    /// Last heartbeat, ms since the Unix epoch.
    pub last_heartbeat_ms: u64,
}

/// Fills `opts` with the defaults: no label, 256 nodes, mode 0600, stale after 10 s.
///
/// **Parameters**: `opts` (NULL is ignored). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_options_init(opts: *mut orbit_fleet_options) {
    ffi_boundary!({
        if let Ok(o) = out_arg(opts, "opts") {
            let d = FleetOptions::default();
            *o = orbit_fleet_options {
                label: std::ptr::null(),
                max_nodes: d.max_nodes,
                mode: d.mode,
                stale_after_ms: d.stale_after_ms,
                reserved: [0; 6],
            };
        }
    })
}

/// Joins `fleet` (creating its membership table if needed) and takes a node id.
///
/// **Parameters**: `fleet`, a name matching `[A-Za-z0-9_.-]{1,48}` (the
/// caller's own fleet), or `<uid>:<name>` for the fleet of another user who
/// opened it to a group (mode 0660), e.g. `"1001:jobs"`; `opts`,
/// NULL for defaults; `out`, receives the handle.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (name, label, options);
/// `FULL` (every node id belongs to a live process); `PERMISSION`;
/// `INCOMPATIBLE`/`CORRUPT` (something else lives under the table's name); `IO`.
/// On failure `*out` is NULL.
/// **Ownership**: the caller owns `*out` and frees it with `orbit_fleet_free`,
/// which leaves the fleet. A handle must not be used in a child after `fork()`:
/// join again there (writes through an inherited handle are refused).
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_join(
    fleet: *const c_char,
    opts: *const orbit_fleet_options,
    out: *mut *mut orbit_fleet,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let name = str_arg(fleet, "fleet")?;
        let mut o = FleetOptions::default();
        if !opts.is_null() {
            // SAFETY: non-NULL and, by the contract, a readable orbit_fleet_options.
            let c = unsafe { &*opts };
            reserved_zero(&c.reserved, "orbit_fleet_options")?;
            if !c.label.is_null() {
                o.label = str_arg(c.label, "opts->label")?.to_string();
            }
            o.max_nodes = c.max_nodes;
            o.mode = c.mode;
            o.stale_after_ms = c.stale_after_ms;
        }
        let f = Fleet::join(name, &o)?;
        *out = orbit_fleet::boxed(f);
        Ok(Status::Ok)
    })
}

/// Attaches to an existing fleet read-only, without taking a node id (`fleet`
/// as for `orbit_fleet_join`, so `<uid>:<name>` for another user's). Objects
/// opened through an observer are never created (`NOT_EXIST`) and every
/// mutation through them is `READ_ONLY`.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST` (no such
/// fleet); `PERMISSION`; `INCOMPATIBLE`; `CORRUPT`; `IO`. On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_fleet_free`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_observe(fleet: *const c_char, out: *mut *mut orbit_fleet) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let f = Fleet::observe(str_arg(fleet, "fleet")?)?;
        *out = orbit_fleet::boxed(f);
        Ok(Status::Ok)
    })
}

impl orbit_fleet {
    fn boxed(fleet: Fleet) -> *mut orbit_fleet {
        Handle::into_raw(orbit_fleet {
            magic: <orbit_fleet as Handle>::MAGIC,
            fleet,
            contest: OnceLock::new(),
        })
    }
}

/// This member's node id (1-based), or 0 for an observer or an invalid handle.
///
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_node_id(f: *const orbit_fleet) -> u16 {
    ffi_boundary!({
        handle_ref(f)
            .ok()
            .and_then(|h| h.fleet.node_id())
            .unwrap_or(0)
    })
}

/// Records a heartbeat for this member in the membership table and appends it
/// to the fleet's heartbeat history ring (`heartbeats`, KIND 221, created by the
/// first heartbeat).
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `READ_ONLY` (observer); `INVALID_ARGUMENT`
/// (freed handle, or used in a forked child); `INCOMPATIBLE` (a ring named
/// `heartbeats` exists that is not a heartbeat ring; the table was updated).
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_heartbeat(f: *mut orbit_fleet) -> Status {
    ffi_status!({
        handle_mut(f)?.fleet.heartbeat()?;
        Ok(Status::Ok)
    })
}

/// Lists the fleet's members with their state now (alive, stale, dead).
///
/// **Parameters**: `out`, an array of `cap` entries (may be NULL when `cap` is
/// 0); `out_count` receives the number of members.
/// **Returns** `OK` (the first `*out_count` entries are filled);
/// `BUFFER_TOO_SMALL` (`*out_count` is the number needed; nothing is written);
/// `NULL_ARGUMENT`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_members(
    f: *const orbit_fleet,
    out: *mut orbit_member,
    cap: usize,
    out_count: *mut usize,
) -> Status {
    ffi_status!({
        let count = out_arg(out_count, "out_count")?;
        *count = 0;
        let h = handle_ref(f)?;
        let members = h.fleet.members();
        *count = members.len();
        if members.len() > cap {
            return Err(Error::BufferTooSmall {
                needed: members.len(),
                cap,
            });
        }
        if members.is_empty() {
            return Ok(Status::Ok);
        }
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        for (i, m) in members.iter().enumerate() {
            let mut label = [0 as c_char; 32];
            for (d, s) in label.iter_mut().zip(m.label.bytes().take(31)) {
                *d = s as c_char;
            }
            let row = orbit_member {
                node_id: m.node_id,
                pid: m.pid,
                state: match m.state {
                    MemberState::Alive => orbit_member_state::Alive,
                    MemberState::Stale => orbit_member_state::Stale,
                    MemberState::Dead => orbit_member_state::Dead,
                },
                label,
                joined_at_ms: m.joined_at_ms,
                last_heartbeat_ms: m.last_heartbeat_ms,
            };
            // SAFETY: `out` is non-NULL and, by the contract, has `cap` entries;
            // i < members.len() <= cap.
            unsafe { out.add(i).write(row) };
        }
        Ok(Status::Ok)
    })
}

/// A node's freshness in `orbit_fleet_heartbeats`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum orbit_heartbeat_state {
    /// A member whose process runs and heartbeated within `stale_after_ms`.
    Fresh = 0,
    /// A member whose process runs but whose last heartbeat is older.
    Stale = 1,
    /// A member whose process is gone, or a process that heartbeated within
    /// the history and is no longer a member.
    Missing = 2,
}

/// One process's latest heartbeat, as filled by `orbit_fleet_heartbeats`.
#[repr(C)]
pub struct orbit_heartbeat {
    /// Node id.
    pub node_id: u16,
    /// 1 for the process the membership table names for this node id, 0 for
    /// one known only from the history.
    pub member: u8,
    /// Process id.
    pub pid: u32,
    /// Fresh, stale or missing.
    pub state: orbit_heartbeat_state,
    /// Latest heartbeat (a join counts as one), ms since the Unix epoch.
    pub last_heartbeat_ms: u64,
    /// Heartbeats of this process the history ring still holds.
    pub beats_in_history: u64,
}

/// Summarises the heartbeat history per node: each process's latest
/// heartbeat, and whether it is fresh, stale or missing. Rows are ordered by
/// node id (a node id reused by a new process has one row per process).
///
/// **Parameters**: `out`, an array of `cap` entries (may be NULL when `cap` is
/// 0); `out_count` receives the number of rows.
/// **Returns** `OK` (the first `*out_count` entries are filled);
/// `BUFFER_TOO_SMALL` (`*out_count` is the number needed; nothing is
/// written); `NULL_ARGUMENT`; `INCOMPATIBLE` (a ring named `heartbeats` that
/// is not a heartbeat ring). **Thread safety**: any thread; reads up to 1024
/// history frames and allocates.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_heartbeats(
    f: *const orbit_fleet,
    out: *mut orbit_heartbeat,
    cap: usize,
    out_count: *mut usize,
) -> Status {
    ffi_status!({
        let count = out_arg(out_count, "out_count")?;
        *count = 0;
        let snap = handle_ref(f)?.fleet.heartbeat_snapshot()?;
        *count = snap.nodes.len();
        if snap.nodes.len() > cap {
            return Err(Error::BufferTooSmall {
                needed: snap.nodes.len(),
                cap,
            });
        }
        if snap.nodes.is_empty() {
            return Ok(Status::Ok);
        }
        if out.is_null() {
            return Err(Error::NullArgument("out"));
        }
        for (i, n) in snap.nodes.iter().enumerate() {
            let row = orbit_heartbeat {
                node_id: n.node_id,
                member: n.member as u8,
                pid: n.pid,
                state: match n.state {
                    HeartbeatState::Fresh => orbit_heartbeat_state::Fresh,
                    HeartbeatState::Stale => orbit_heartbeat_state::Stale,
                    HeartbeatState::Missing => orbit_heartbeat_state::Missing,
                },
                last_heartbeat_ms: n.last_heartbeat_ms,
                beats_in_history: n.beats_in_history,
            };
            // SAFETY: `out` is non-NULL and, by the contract, has `cap`
            // entries; i < nodes.len() <= cap.
            unsafe { out.add(i).write(row) };
        }
        Ok(Status::Ok)
    })
}

/// Frees a fleet handle; the node is left once no ring or other object opened
/// through it remains. NULL is a no-op; a second free of the same pointer is
/// detected where possible and ignored.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_free(f: *mut orbit_fleet) {
    ffi_boundary!({ handle_free(f) })
}

/// Removes the fleet's membership table and its heartbeat history ring from
/// the system (rings, buses, caches and the lease table have their own
/// unlink). Attached members keep working on them; later joins create new ones.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST` (no
/// membership table); `PERMISSION`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_fleet_unlink(fleet: *const c_char) -> Status {
    ffi_status!({
        crate::fleet::unlink(str_arg(fleet, "fleet")?)?;
        Ok(Status::Ok)
    })
}
