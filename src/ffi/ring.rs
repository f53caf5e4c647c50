//! Ring and cursor functions.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::{
    Handle, buf_arg, bytes_arg, clear_out, ffi_boundary, ffi_status, from_arg, handle_free,
    handle_mut, handle_ref, impl_handle, opt_out_arg, orbit_fleet, orbit_from, out_arg,
    reserved_zero, slice_arg, slice_out_arg, str_arg,
};
use crate::error::{Error, Result, Status};
use crate::id::NetId64;
use crate::ring::{Cursor, FrameInfo, Ring, RingOptions, RingWriter};

/// A ring handle. Behind it: `orbit::Ring`.
///
/// Thread-safe: any number of threads may write and read through one handle.
/// Free with `orbit_ring_free`; cursors opened on it keep the ring mapped.
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_ring {
    magic: u64,
    ring: Ring,
}
impl_handle!(orbit_ring, 0x0F1E_E70F_1EE7_0002, "orbit_ring");

/// A reader's cursor. Behind it: `orbit::Cursor`.
///
/// Not thread-safe: one thread at a time (it may move between threads).
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_cursor {
    magic: u64,
    cursor: Cursor,
}
impl_handle!(orbit_cursor, 0x0F1E_E70F_1EE7_0003, "orbit_cursor");

/// `orbit_ring_options.flags`: a single-writer ring (see `orbit_ring_writer_open`).
pub const ORBIT_RING_SINGLE_WRITER: u8 = 1;

/// The writer of a single-writer ring. Behind it: `orbit::RingWriter`.
///
/// Not thread-safe: one thread at a time (it may move between threads).
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_ring_writer {
    magic: u64,
    writer: RingWriter,
}
impl_handle!(
    orbit_ring_writer,
    0x0F1E_E70F_1EE7_000A,
    "orbit_ring_writer"
);

/// Ring geometry. Initialise with `orbit_ring_options_init`.
#[repr(C)]
pub struct orbit_ring_options {
    /// Number of slots: a power of two, 1..=2^30 (default 4096).
    pub capacity: u64,
    /// Largest payload in bytes, 1..=16 MiB (default 1024).
    pub max_payload: u32,
    /// Permission bits if this call creates the ring: 0 = the fleet's mode
    /// (0600 unless the fleet set one), 0660 opens it to the group.
    pub mode: u32,
    /// The ring's KIND byte, the top byte of every frame id (default 0).
    pub kind: u8,
    /// 0, or `ORBIT_RING_SINGLE_WRITER`: one writer at a time, through
    /// `orbit_ring_writer_open` (`orbit_ring_write` is refused); its writes
    /// claim slots without compare-and-swap, the ring's lowest latency.
    pub flags: u8,
    /// Must be zero.
    pub reserved0: [u8; 6],
    /// Must be zero (room for future options).
    pub reserved: [u64; 6],
}

/// A frame's metadata, filled by reads.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_frame {
    /// NetId64 `[KIND:8][NODE:16][COUNTER:40]`.
    pub id: u64,
    /// The writer's version or epoch value.
    pub ver: u64,
    /// Frames lost just before this one (cursor reads; 0 for `orbit_ring_read`).
    pub lost: u64,
    /// Payload length; on `BUFFER_TOO_SMALL`, the length needed.
    pub len: u32,
    /// The writer's message class.
    pub kind: u8,
}

/// A ring's geometry and counters, filled by `orbit_ring_stat`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_ring_info {
    /// Slots.
    pub capacity: u64,
    /// Positions claimed so far (frames written or being written).
    pub head: u64,
    /// Slots taken over from writers that died mid-write.
    pub takeovers: u64,
    /// Largest payload.
    pub max_payload: u32,
    /// Bytes per slot.
    pub slot_stride: u32,
    /// The ring's KIND byte.
    pub kind: u8,
    /// `ORBIT_RING_SINGLE_WRITER` if the ring was created single-writer, else 0.
    pub flags: u8,
}

fn frame_of(i: &FrameInfo) -> orbit_frame {
    orbit_frame {
        id: i.id.raw(),
        ver: i.ver,
        lost: i.lost,
        len: i.len,
        kind: i.kind,
    }
}

/// Fills `opts` with the defaults: capacity 4096, max_payload 1024, kind 0, mode 0.
///
/// **Parameters**: `opts` (NULL is ignored). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_options_init(opts: *mut orbit_ring_options) {
    ffi_boundary!({
        if let Ok(o) = out_arg(opts, "opts") {
            let d = RingOptions::default();
            *o = orbit_ring_options {
                capacity: d.capacity,
                max_payload: d.max_payload,
                mode: d.mode,
                kind: d.kind,
                flags: 0,
                reserved0: [0; 6],
                reserved: [0; 6],
            };
        }
    })
}

fn ring_options(o: *const orbit_ring_options) -> Result<Option<RingOptions>> {
    if o.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, by the contract, a readable orbit_ring_options.
    let c = unsafe { &*o };
    reserved_zero(&c.reserved, "orbit_ring_options")?;
    if c.reserved0.iter().any(|b| *b != 0) {
        return reserved_zero(&[1], "orbit_ring_options").map(|_| None);
    }
    if c.flags & !ORBIT_RING_SINGLE_WRITER != 0 {
        return Err(Error::InvalidArgument(format!(
            "orbit_ring_options: unknown flags {:#x}",
            c.flags
        )));
    }
    Ok(Some(RingOptions {
        capacity: c.capacity,
        max_payload: c.max_payload,
        kind: c.kind,
        mode: c.mode,
        single_writer: c.flags & ORBIT_RING_SINGLE_WRITER != 0,
    }))
}

/// Opens ring `name` of the fleet.
///
/// With `opts == NULL` it attaches to the existing ring whatever its geometry,
/// or creates one with the defaults. With `opts` it creates the ring with those
/// settings, or attaches if the existing geometry matches. Through an observer
/// fleet it never creates and maps the ring read-only.
///
/// **Parameters**: `f`, a fleet handle; `name`, `[A-Za-z0-9_.-]{1,48}`;
/// `opts`, NULL or initialised options; `out`, receives the handle.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (name, capacity not a
/// power of two or zero, max_payload out of range, reserved fields set);
/// `INCOMPATIBLE` (existing ring of another geometry, another kind of object or
/// layout version, not an orbit segment); `CORRUPT` (truncated or impossible
/// header); `NOT_EXIST` (observer, no such ring); `PERMISSION`; `IO`.
/// On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_ring_free` (never unlinks).
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_open(
    f: *mut orbit_fleet,
    name: *const c_char,
    opts: *const orbit_ring_options,
    out: *mut *mut orbit_ring,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let fleet = handle_ref(f as *const orbit_fleet)?;
        let name = str_arg(name, "name")?;
        let opts = ring_options(opts)?;
        let ring = Ring::open(&fleet.fleet, name, opts.as_ref())?;
        *out = Handle::into_raw(orbit_ring {
            magic: <orbit_ring as Handle>::MAGIC,
            ring,
        });
        Ok(Status::Ok)
    })
}

/// Appends a frame. Never waits for readers; a reader that falls behind loses
/// the oldest frames and is told how many.
///
/// **Parameters**: `frame_kind`, the message class; `ver`, a caller-chosen
/// version; `data`/`len`, the payload (NULL allowed only when `len` is 0);
/// `out_id`, NULL or receives the frame's NetId64.
/// **Returns** `OK`; `NULL_ARGUMENT`; `TOO_LARGE` (`len > max_payload`; nothing
/// written); `READ_ONLY` (opened through an observer); `INVALID_ARGUMENT`
/// (freed handle, or a fleet handle inherited through `fork()`).
/// **Thread safety**: any thread; lock-free, no allocation, no syscall unless
/// a reader is blocked in `orbit_cursor_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_write(
    r: *mut orbit_ring,
    frame_kind: u8,
    ver: u64,
    data: *const c_void,
    len: usize,
    out_id: *mut u64,
) -> Status {
    ffi_status!({
        let ring = &handle_ref(r as *const orbit_ring)?.ring;
        let payload = bytes_arg(data, len, "data")?;
        let id = ring.write(frame_kind, ver, payload)?;
        if let Some(o) = opt_out_arg(out_id) {
            *o = id.raw();
        }
        Ok(Status::Ok)
    })
}

/// Appends `count` frames in one call, as `count` calls of `orbit_ring_write`
/// with the same `frame_kind` and `ver` would. Payloads are packed back to
/// back in `data`: frame `i` is the `lens[i]` bytes that follow frame `i-1`'s.
/// For callers whose per-call cost dominates (Python, Go): one boundary
/// crossing for the whole batch.
///
/// **Parameters**: `data`, the packed payloads (NULL allowed only when every
/// length is 0); `lens`, `count` payload lengths (NULL allowed only when
/// `count` is 0); `count`, 0 writes nothing and returns `OK`; `out_ids`,
/// NULL or an array of `count` that receives each written frame's NetId64;
/// `out_written`, receives how many frames were written (0 on failure before
/// the first).
/// **Returns** `OK` (all `count` written); `NULL_ARGUMENT`; `TOO_LARGE` (a
/// length over `max_payload`: every length is checked first, so nothing is
/// written); `INVALID_ARGUMENT` (lengths whose sum overflows, a misaligned
/// array, a freed handle, a fleet handle inherited through `fork()`);
/// `READ_ONLY` (observer; nothing written). Should a write fail after others
/// succeeded, the status is that failure's and `*out_written` counts the
/// frames written before it.
/// **Ownership**: nothing is retained after the call.
/// **Thread safety**: any thread; frames of other writers may interleave with
/// the batch's. Lock-free, no allocation, no syscall unless a reader is
/// blocked in `orbit_cursor_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_write_batch(
    r: *mut orbit_ring,
    frame_kind: u8,
    ver: u64,
    data: *const c_void,
    lens: *const usize,
    count: usize,
    out_ids: *mut u64,
    out_written: *mut usize,
) -> Status {
    ffi_status!({
        let written = out_arg(out_written, "out_written")?;
        *written = 0;
        let ring = &handle_ref(r as *const orbit_ring)?.ring;
        let lens = slice_arg(lens, count, "lens")?;
        let mut ids = if out_ids.is_null() {
            None
        } else {
            Some(slice_out_arg(out_ids, count, "out_ids")?)
        };
        let limit = ring.geometry().max_payload() as usize;
        let mut total = 0usize;
        for &len in lens {
            if len > limit {
                return Err(Error::TooLarge {
                    what: "payload",
                    len,
                    limit,
                });
            }
            total = total.checked_add(len).ok_or_else(|| {
                Error::InvalidArgument("lens add up to more than memory holds".into())
            })?;
        }
        let data = bytes_arg(data, total, "data")?;
        let mut off = 0;
        for (i, &len) in lens.iter().enumerate() {
            let id = ring.write(frame_kind, ver, &data[off..off + len])?;
            if let Some(ids) = ids.as_deref_mut() {
                ids[i] = id.raw();
            }
            off += len;
            *written = i + 1;
        }
        Ok(Status::Ok)
    })
}

/// Reads the frame with id `id` if the ring still holds it.
///
/// **Parameters**: `out` receives the metadata; `buf`/`cap` the payload
/// (NULL allowed when `cap` is 0).
/// **Returns** `OK`; `NOT_FOUND` (overwritten, not written yet, or another
/// ring's id); `BUFFER_TOO_SMALL` (`out->len` is the length needed);
/// `NULL_ARGUMENT`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_read(
    r: *const orbit_ring,
    id: u64,
    out: *mut orbit_frame,
    buf: *mut c_void,
    cap: usize,
) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_frame::default();
        let ring = &handle_ref(r)?.ring;
        let buf = buf_arg(buf, cap, "buf")?;
        match ring.read(NetId64(id), buf) {
            Ok(info) => {
                *out = frame_of(&info);
                Ok(Status::Ok)
            }
            Err(e @ Error::BufferTooSmall { needed, .. }) => {
                out.len = needed as u32;
                Err(e)
            }
            Err(e) => Err(e),
        }
    })
}

/// Fills `out` with the ring's geometry and counters.
///
/// **Returns** `OK`; `NULL_ARGUMENT`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_stat(r: *const orbit_ring, out: *mut orbit_ring_info) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_ring_info::default();
        let i = handle_ref(r)?.ring.info();
        *out = orbit_ring_info {
            capacity: i.capacity,
            head: i.head,
            takeovers: i.takeovers,
            max_payload: i.max_payload,
            slot_stride: i.slot_stride,
            kind: i.kind,
            flags: if i.single_writer {
                ORBIT_RING_SINGLE_WRITER
            } else {
                0
            },
        };
        Ok(Status::Ok)
    })
}

/// Frees a ring handle (unmaps once no cursor uses it; never unlinks). NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_free(r: *mut orbit_ring) {
    ffi_boundary!({ handle_free(r) })
}

/// Removes ring `name` of `fleet` from the system. Processes that have it open
/// keep using it; the next open creates a new ring.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST`; `PERMISSION`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_unlink(fleet: *const c_char, name: *const c_char) -> Status {
    ffi_status!({
        Ring::unlink(str_arg(fleet, "fleet")?, str_arg(name, "name")?)?;
        Ok(Status::Ok)
    })
}

/// Becomes the writer of a single-writer ring (created with
/// `ORBIT_RING_SINGLE_WRITER`) until `orbit_ring_writer_free`. One writer at
/// a time across every process; the role of a writer whose process died is
/// taken over.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (a multi-writer ring,
/// a freed handle, a fleet handle inherited through `fork()`); `CONFLICT` (a
/// live writer holds the ring); `READ_ONLY` (opened through an observer).
/// On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_ring_writer_free`, which gives the
/// role up; the writer keeps the ring mapped.
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_writer_open(
    r: *const orbit_ring,
    out: *mut *mut orbit_ring_writer,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let writer = handle_ref(r)?.ring.writer()?;
        *out = Handle::into_raw(orbit_ring_writer {
            magic: <orbit_ring_writer as Handle>::MAGIC,
            writer,
        });
        Ok(Status::Ok)
    })
}

/// Appends a frame through a single-writer ring's writer; as
/// `orbit_ring_write`, without its compare-and-swaps.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `TOO_LARGE` (`len > max_payload`;
/// nothing written); `INVALID_ARGUMENT` (freed handle, or inherited through
/// `fork()`).
/// **Thread safety**: one thread at a time per writer; lock-free, no
/// allocation, no syscall unless a reader is blocked in `orbit_cursor_wait`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_writer_write(
    w: *mut orbit_ring_writer,
    frame_kind: u8,
    ver: u64,
    data: *const c_void,
    len: usize,
    out_id: *mut u64,
) -> Status {
    ffi_status!({
        let writer = &mut handle_mut(w)?.writer;
        let payload = bytes_arg(data, len, "data")?;
        let id = writer.write(frame_kind, ver, payload)?;
        if let Some(o) = opt_out_arg(out_id) {
            *o = id.raw();
        }
        Ok(Status::Ok)
    })
}

/// Gives the writer role up and frees the handle. NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_ring_writer_free(w: *mut orbit_ring_writer) {
    ffi_boundary!({ handle_free(w) })
}

/// Opens a cursor on a ring, at the oldest frame still held
/// (`ORBIT_FROM_OLDEST`) or at the head (`ORBIT_FROM_HEAD`).
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (unknown `from`).
/// **Ownership**: free `*out` with `orbit_cursor_free`; the cursor keeps the
/// ring mapped. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_open(
    r: *const orbit_ring,
    from: orbit_from,
    out: *mut *mut orbit_cursor,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let ring = &handle_ref(r)?.ring;
        let cursor = ring.cursor(from_arg(from)?);
        *out = Handle::into_raw(orbit_cursor {
            magic: <orbit_cursor as Handle>::MAGIC,
            cursor,
        });
        Ok(Status::Ok)
    })
}

/// Reads the next frame in position order.
///
/// `out->lost` counts the frames lost just before this one (overwritten before
/// the cursor reached them, or abandoned by a writer that died mid-write).
///
/// **Returns** `OK`; `EMPTY` (nothing new; `*out` zeroed); `BUFFER_TOO_SMALL`
/// (`out->len` is the length needed; the frame is not consumed);
/// `NULL_ARGUMENT`. **Thread safety**: one thread at a time per cursor; no
/// allocation, lock or syscall.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_next(
    c: *mut orbit_cursor,
    out: *mut orbit_frame,
    buf: *mut c_void,
    cap: usize,
) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_frame::default();
        let cursor = &mut handle_mut(c)?.cursor;
        let buf = buf_arg(buf, cap, "buf")?;
        match cursor.next_into(buf) {
            Ok(Some(info)) => {
                *out = frame_of(&info);
                Ok(Status::Ok)
            }
            Ok(None) => Ok(Status::Empty),
            Err(e @ Error::BufferTooSmall { needed, .. }) => {
                out.len = needed as u32;
                Err(e)
            }
            Err(e) => Err(e),
        }
    })
}

/// Reads up to `max` frames in one call, as repeated `orbit_cursor_next`
/// would: metadata into `frames`, payloads packed back to back into `buf`
/// (frame `i`'s payload starts where frame `i-1`'s ends). Stops early at the
/// head, or before a frame whose payload does not fit in what is left of
/// `buf` (that frame stays unread). Size `cap` as `max * max_payload` and it
/// never stops early for room.
///
/// **Parameters**: `frames`, an array of `max` (NULL allowed only when `max`
/// is 0); `buf`/`cap`, the payload buffer (NULL allowed when `cap` is 0);
/// `out_count`, receives the number of frames read.
/// **Returns** `OK` (`*out_count` frames read, at least one, or none when
/// `max` is 0); `EMPTY` (nothing new); `BUFFER_TOO_SMALL` (the first frame
/// alone does not fit: `frames[0].len` is the length needed, nothing is
/// consumed); `NULL_ARGUMENT`; `INVALID_ARGUMENT` (impossible `max` or
/// `cap`, misaligned `frames`). A failure after some frames were read ends the
/// batch with `OK` and those frames; the next call reports it.
/// **Ownership**: nothing is retained after the call.
/// **Thread safety**: one thread at a time per cursor; no allocation, lock or
/// syscall.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_next_batch(
    c: *mut orbit_cursor,
    frames: *mut orbit_frame,
    max: usize,
    buf: *mut c_void,
    cap: usize,
    out_count: *mut usize,
) -> Status {
    ffi_status!({
        let count = out_arg(out_count, "out_count")?;
        *count = 0;
        let cursor = &mut handle_mut(c)?.cursor;
        let frames = slice_out_arg(frames, max, "frames")?;
        let buf = buf_arg(buf, cap, "buf")?;
        let mut used = 0;
        for (n, slot) in frames.iter_mut().enumerate() {
            match cursor.next_into(&mut buf[used..]) {
                Ok(Some(info)) => {
                    *slot = frame_of(&info);
                    used += info.len as usize;
                    *count = n + 1;
                }
                Ok(None) if n == 0 => return Ok(Status::Empty),
                Err(e @ Error::BufferTooSmall { needed, .. }) if n == 0 => {
                    *slot = orbit_frame {
                        len: needed as u32,
                        ..orbit_frame::default()
                    };
                    return Err(e);
                }
                Err(e) if n == 0 => return Err(e),
                // Frames already consumed are delivered; what stopped the
                // batch (head, room, an error) shows again on the next call.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Status::Ok)
    })
}

/// Blocks until `orbit_cursor_next` has something to return, at most
/// `timeout_ns` nanoseconds (0 checks without blocking).
///
/// **Returns** `OK` (a frame, or a loss, is ready); `TIMEOUT`; `NULL_ARGUMENT`.
/// **Thread safety**: one thread at a time per cursor. Sleeps on a futex in the
/// segment; writers pay a wake-up only while someone waits.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_wait(c: *mut orbit_cursor, timeout_ns: u64) -> Status {
    ffi_status!({
        handle_mut(c)?
            .cursor
            .wait(Duration::from_nanos(timeout_ns))?;
        Ok(Status::Ok)
    })
}

/// Total frames this cursor has lost so far (0 for NULL).
///
/// **Thread safety**: as `orbit_cursor_next`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_lost(c: *const orbit_cursor) -> u64 {
    ffi_boundary!({ handle_ref(c).map(|h| h.cursor.lost()).unwrap_or(0) })
}

/// Frees a cursor. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cursor_free(c: *mut orbit_cursor) {
    ffi_boundary!({ handle_free(c) })
}
