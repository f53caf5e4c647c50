//! Event bus and subscription functions.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::{
    Handle, buf_arg, bytes_arg, clear_out, ffi_boundary, ffi_status, from_arg, handle_free,
    handle_mut, handle_ref, impl_handle, opt_out_arg, orbit_fleet, orbit_from, out_arg,
    reserved_zero, str_arg,
};
use crate::bus::{Bus, BusOptions, Subscription};
use crate::error::{Error, Result, Status};

/// An event bus handle. Behind it: `orbit::Bus`.
///
/// Thread-safe: any number of threads may publish and subscribe through one
/// handle. Free with `orbit_bus_free`; subscriptions keep the bus mapped.
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_bus {
    magic: u64,
    bus: Bus,
}
impl_handle!(orbit_bus, 0x0F1E_E70F_1EE7_0004, "orbit_bus");

/// A subscription: a position in a bus plus a topic-prefix filter. Behind it:
/// `orbit::Subscription`.
///
/// Not thread-safe: one thread at a time (it may move between threads).
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_subscription {
    magic: u64,
    sub: Subscription,
}
impl_handle!(
    orbit_subscription,
    0x0F1E_E70F_1EE7_0005,
    "orbit_subscription"
);

/// Bus geometry. Initialise with `orbit_bus_options_init`.
#[repr(C)]
pub struct orbit_bus_options {
    /// Number of events the bus holds: a power of two, 1..=2^30 (default 4096).
    pub capacity: u64,
    /// Largest event payload in bytes, 0..=16 MiB - 256 (default 1024). Any
    /// valid topic fits beside it.
    pub max_payload: u32,
    /// Permission bits if this call creates the bus: 0 = the fleet's mode
    /// (0600 unless the fleet set one), 0660 opens it to the group.
    pub mode: u32,
    /// Must be zero (room for future options).
    pub reserved: [u64; 6],
}

/// An event's metadata, filled by `orbit_subscription_next`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_event {
    /// NetId64 `[220:8][NODE:16][COUNTER:40]`: who published it, and where.
    pub id: u64,
    /// Publish time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Frames lost just before this event (overwritten before the
    /// subscription read them, whatever their topic).
    pub lost: u64,
    /// Topic length in bytes, without the NUL; on `BUFFER_TOO_SMALL`, the
    /// length needed (the topic buffer needs `topic_len + 1` bytes).
    pub topic_len: u32,
    /// Payload length; on `BUFFER_TOO_SMALL`, the length needed.
    pub len: u32,
}

/// Fills `opts` with the defaults: capacity 4096, max_payload 1024, mode 0.
///
/// **Parameters**: `opts` (NULL is ignored). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_options_init(opts: *mut orbit_bus_options) {
    ffi_boundary!({
        if let Ok(o) = out_arg(opts, "opts") {
            let d = BusOptions::default();
            *o = orbit_bus_options {
                capacity: d.capacity,
                max_payload: d.max_payload,
                mode: d.mode,
                reserved: [0; 6],
            };
        }
    })
}

fn bus_options(o: *const orbit_bus_options) -> Result<Option<BusOptions>> {
    if o.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, by the contract, a readable orbit_bus_options.
    let c = unsafe { &*o };
    reserved_zero(&c.reserved, "orbit_bus_options")?;
    Ok(Some(BusOptions {
        capacity: c.capacity,
        max_payload: c.max_payload,
        mode: c.mode,
    }))
}

/// Opens event bus `name` of the fleet (a segment of its own, apart from rings
/// of the same name).
///
/// With `opts == NULL` it attaches to the existing bus whatever its geometry,
/// or creates one with the defaults. With `opts` it creates the bus with those
/// settings, or attaches if the existing geometry matches. Through an observer
/// fleet it never creates and maps the bus read-only.
///
/// **Parameters**: `f`, a fleet handle; `name`, `[A-Za-z0-9_.-]{1,48}`;
/// `opts`, NULL or initialised options; `out`, receives the handle.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (name, capacity not a
/// power of two or zero, max_payload out of range, reserved fields set);
/// `INCOMPATIBLE` (existing bus of another geometry, another kind of object or
/// layout version); `CORRUPT`; `NOT_EXIST` (observer, no such bus);
/// `PERMISSION`; `IO`. On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_bus_free` (never unlinks).
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_open(
    f: *mut orbit_fleet,
    name: *const c_char,
    opts: *const orbit_bus_options,
    out: *mut *mut orbit_bus,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let fleet = handle_ref(f as *const orbit_fleet)?;
        let name = str_arg(name, "name")?;
        let opts = bus_options(opts)?;
        let bus = Bus::open(&fleet.fleet, name, opts.as_ref())?;
        *out = Handle::into_raw(orbit_bus {
            magic: <orbit_bus as Handle>::MAGIC,
            bus,
        });
        Ok(Status::Ok)
    })
}

/// Publishes an event. Never waits for subscribers: one that falls behind
/// loses the oldest events and is told how many.
///
/// **Parameters**: `topic`, NUL-terminated UTF-8 of 1..=255 bytes; `data`/`len`,
/// the payload (NULL allowed only when `len` is 0); `out_id`, NULL or receives
/// the event's NetId64.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (topic empty, longer
/// than 255 bytes or not UTF-8; freed handle; fleet handle inherited through
/// `fork()`); `TOO_LARGE` (`len > max_payload`; nothing published);
/// `READ_ONLY` (opened through an observer).
/// **Thread safety**: any thread; lock-free, no allocation, no syscall unless a
/// subscriber is blocked in `orbit_subscription_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_publish(
    b: *mut orbit_bus,
    topic: *const c_char,
    data: *const c_void,
    len: usize,
    out_id: *mut u64,
) -> Status {
    ffi_status!({
        let bus = &handle_ref(b as *const orbit_bus)?.bus;
        let topic = str_arg(topic, "topic")?;
        let payload = bytes_arg(data, len, "data")?;
        let id = bus.publish(topic, payload)?;
        if let Some(o) = opt_out_arg(out_id) {
            *o = id.raw();
        }
        Ok(Status::Ok)
    })
}

/// Subscribes to the events whose topic starts with `topic_prefix`, from the
/// oldest event the bus still holds (`ORBIT_FROM_OLDEST`: a late subscriber
/// replays them) or from the head (`ORBIT_FROM_HEAD`).
///
/// **Parameters**: `topic_prefix`, NULL or `""` for every topic, else
/// NUL-terminated UTF-8 of at most 255 bytes, matched byte-wise.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (prefix, unknown
/// `from`). On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_subscription_free`; it keeps the bus
/// mapped. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_subscribe(
    b: *const orbit_bus,
    topic_prefix: *const c_char,
    from: orbit_from,
    out: *mut *mut orbit_subscription,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let bus = &handle_ref(b)?.bus;
        let prefix = if topic_prefix.is_null() {
            None
        } else {
            Some(str_arg(topic_prefix, "topic_prefix")?)
        };
        let sub = bus.subscribe(prefix, from_arg(from)?)?;
        *out = Handle::into_raw(orbit_subscription {
            magic: <orbit_subscription as Handle>::MAGIC,
            sub,
        });
        Ok(Status::Ok)
    })
}

/// Reads the next event whose topic matches, in publish order.
///
/// The topic is copied NUL-terminated into `topic` (it needs `topic_len + 1`
/// bytes), the payload into `buf`. `out->lost` counts the frames lost just
/// before this event (of any topic: they were overwritten unread).
///
/// **Parameters**: `out` receives the metadata; `topic`/`topic_cap` and
/// `buf`/`cap` the buffers (NULL allowed when the capacity is 0).
/// **Returns** `OK`; `EMPTY` (nothing new; `*out` zeroed); `BUFFER_TOO_SMALL`
/// (`out->topic_len` and `out->len` are the lengths needed; the event is not
/// consumed, call again with larger buffers); `NULL_ARGUMENT`.
/// **Thread safety**: one thread at a time per subscription; no allocation,
/// lock or syscall.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_subscription_next(
    s: *mut orbit_subscription,
    out: *mut orbit_event,
    topic: *mut c_char,
    topic_cap: usize,
    buf: *mut c_void,
    cap: usize,
) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_event::default();
        let sub = &mut handle_mut(s)?.sub;
        let topic = buf_arg(topic.cast(), topic_cap, "topic")?;
        let buf = buf_arg(buf, cap, "buf")?;
        let Some(info) = sub.peek()? else {
            return Ok(Status::Empty);
        };
        if info.topic_len as usize >= topic.len() || info.len as usize > buf.len() {
            out.topic_len = info.topic_len;
            out.len = info.len;
            let (needed, given) = if info.topic_len as usize >= topic.len() {
                (info.topic_len as usize + 1, topic.len())
            } else {
                (info.len as usize, buf.len())
            };
            return Err(Error::BufferTooSmall { needed, cap: given });
        }
        let Some(e) = sub.next_ref()? else {
            return Ok(Status::Empty);
        };
        topic[..e.topic.len()].copy_from_slice(e.topic.as_bytes());
        topic[e.topic.len()] = 0;
        buf[..e.payload.len()].copy_from_slice(e.payload);
        *out = orbit_event {
            id: e.info.id.raw(),
            timestamp_ms: e.info.timestamp_ms,
            lost: e.info.lost,
            topic_len: e.info.topic_len,
            len: e.info.len,
        };
        Ok(Status::Ok)
    })
}

/// Blocks until `orbit_subscription_next` has a matching event to return, at
/// most `timeout_ns` nanoseconds (0 checks without blocking). Events of other
/// topics that arrive meanwhile are skipped and do not end the wait.
///
/// **Parameters**: `s`, a subscription; `timeout_ns`, the longest wait.
/// **Returns** `OK`; `TIMEOUT`; `NULL_ARGUMENT`.
/// **Thread safety**: one thread at a time per subscription. Sleeps on a futex
/// in the segment; publishers pay a wake-up only while someone waits.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_subscription_wait(s: *mut orbit_subscription, timeout_ns: u64) -> Status {
    ffi_status!({
        handle_mut(s)?.sub.wait(Duration::from_nanos(timeout_ns))?;
        Ok(Status::Ok)
    })
}

/// Total frames this subscription has lost so far, whatever their topic (0
/// for NULL).
///
/// **Thread safety**: as `orbit_subscription_next`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_subscription_lost(s: *const orbit_subscription) -> u64 {
    ffi_boundary!({ handle_ref(s).map(|h| h.sub.lost()).unwrap_or(0) })
}

/// Frees a subscription. NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_subscription_free(s: *mut orbit_subscription) {
    ffi_boundary!({ handle_free(s) })
}

/// Frees a bus handle (unmaps once no subscription uses it; never unlinks).
/// NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_free(b: *mut orbit_bus) {
    ffi_boundary!({ handle_free(b) })
}

/// Removes bus `name` of `fleet` from the system. Processes that have it open
/// keep using it; the next open creates a new bus.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST`; `PERMISSION`.
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_bus_unlink(fleet: *const c_char, name: *const c_char) -> Status {
    ffi_status!({
        Bus::unlink(str_arg(fleet, "fleet")?, str_arg(name, "name")?)?;
        Ok(Status::Ok)
    })
}
