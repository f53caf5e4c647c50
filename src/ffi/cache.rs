//! Cache functions.

use std::ffi::{c_char, c_void};

use super::{
    Handle, buf_arg, bytes_arg, clear_out, ffi_boundary, ffi_status, handle_free, handle_ref,
    impl_handle, opt_out_arg, orbit_fleet, out_arg, reserved_zero, slice_arg, slice_out_arg,
    str_arg,
};
use crate::cache::{CacheOptions, OrbitCache};
use crate::error::{Error, Result, Status};
use crate::id::NetId64;

/// A cache handle. Behind it: `orbit::OrbitCache`.
///
/// Thread-safe: any number of threads may read and write through one handle.
/// Free with `orbit_cache_free`.
///
/// The handle's layout is private; `magic` is first (`repr(C)`) so that a
/// check of a wrong or freed handle never reads past the smallest handle.
/// Declared for C in cbindgen.toml (`after_includes`).
///
/// cbindgen:ignore
#[repr(C)]
pub struct orbit_cache {
    magic: u64,
    cache: OrbitCache,
}
impl_handle!(orbit_cache, 0x0F1E_E70F_1EE7_0004, "orbit_cache");

/// Cache geometry. Initialise with `orbit_cache_options_init`.
#[repr(C)]
pub struct orbit_cache_options {
    /// Log entries, the most keys the cache holds: a power of two, 1..=2^30
    /// (default 4096). Writes beyond evict the oldest entries (FIFO).
    pub capacity: u64,
    /// Longest key in bytes, 1..=65535 (default 128).
    pub max_key: u32,
    /// Longest value in bytes, 1..=16 MiB (default 1024).
    pub max_value: u32,
    /// Permission bits if this call creates the cache: 0 = the fleet's mode
    /// (0600 unless the fleet set one), 0660 opens it to the group.
    pub mode: u32,
    /// Must be zero.
    pub reserved0: u32,
    /// Must be zero (room for future options).
    pub reserved: [u64; 6],
}

/// An entry's metadata, filled by `orbit_cache_get`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_cache_meta {
    /// The NetId64 of the write that stored the value; pass it to
    /// `orbit_cache_cas`.
    pub version: u64,
    /// Expiry in ms since the Unix epoch, 0 for none.
    pub expires_at_ms: u64,
}

/// Statistics and geometry, filled by `orbit_cache_stat`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct orbit_cache_stats {
    /// Entries currently held (expired ones not yet reclaimed included).
    pub entries: u64,
    /// `orbit_cache_get` calls that found their key.
    pub hits: u64,
    /// `orbit_cache_get` calls that did not.
    pub misses: u64,
    /// Writes (`set`, `add`, `cas`, `incr`, `decr`).
    pub sets: u64,
    /// Live entries dropped for room (log wrap, full bucket).
    pub evictions: u64,
    /// Successful deletes.
    pub deletes: u64,
    /// Buckets and log slots taken over from processes that died holding them.
    pub takeovers: u64,
    /// `orbit_cache_clear` calls.
    pub clears: u64,
    /// Log entries (geometry).
    pub capacity: u64,
    /// Longest key (geometry).
    pub max_key: u32,
    /// Longest value (geometry).
    pub max_value: u32,
}

/// Fills `opts` with the defaults: capacity 4096, max_key 128, max_value 1024, mode 0.
///
/// **Parameters**: `opts` (NULL is ignored). **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_options_init(opts: *mut orbit_cache_options) {
    ffi_boundary!({
        if let Ok(o) = out_arg(opts, "opts") {
            let d = CacheOptions::default();
            *o = orbit_cache_options {
                capacity: d.capacity,
                max_key: d.max_key,
                max_value: d.max_value,
                mode: d.mode,
                reserved0: 0,
                reserved: [0; 6],
            };
        }
    })
}

fn cache_options(o: *const orbit_cache_options) -> Result<Option<CacheOptions>> {
    if o.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and, by the contract, a readable orbit_cache_options.
    let c = unsafe { &*o };
    reserved_zero(&c.reserved, "orbit_cache_options")?;
    reserved_zero(&[c.reserved0 as u64], "orbit_cache_options")?;
    Ok(Some(CacheOptions {
        capacity: c.capacity,
        max_key: c.max_key,
        max_value: c.max_value,
        mode: c.mode,
    }))
}

fn cache_ref<'a>(c: *const orbit_cache) -> Result<&'a OrbitCache> {
    Ok(&handle_ref(c)?.cache)
}

/// Opens cache `name` of the fleet.
///
/// With `opts == NULL` it attaches to the existing cache whatever its
/// geometry, or creates one with the defaults. With `opts` it creates the
/// cache with those settings, or attaches if the existing geometry matches.
/// Through an observer fleet it never creates and maps the cache read-only
/// (every mutation is then `READ_ONLY`).
///
/// **Parameters**: `f`, a fleet handle; `name`, `[A-Za-z0-9_.-]{1,48}`;
/// `opts`, NULL or initialised options; `out`, receives the handle.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (name, capacity not a
/// power of two, a limit out of range, reserved fields set); `INCOMPATIBLE`
/// (existing cache of another geometry, another kind of object or layout
/// version); `CORRUPT`; `NOT_EXIST` (observer, no such cache); `PERMISSION`;
/// `IO`. On failure `*out` is NULL.
/// **Ownership**: free `*out` with `orbit_cache_free` (never unlinks).
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_open(
    f: *mut orbit_fleet,
    name: *const c_char,
    opts: *const orbit_cache_options,
    out: *mut *mut orbit_cache,
) -> Status {
    ffi_status!({
        clear_out(out);
        let out = out_arg(out, "out")?;
        let fleet = handle_ref(f as *const orbit_fleet)?;
        let name = str_arg(name, "name")?;
        let opts = cache_options(opts)?;
        let cache = OrbitCache::open(&fleet.fleet, name, opts.as_ref())?;
        *out = Handle::into_raw(orbit_cache {
            magic: <orbit_cache as Handle>::MAGIC,
            cache,
        });
        Ok(Status::Ok)
    })
}

/// Looks `key` up and copies its value into `buf`.
///
/// **Parameters**: `key`/`klen`, the key (1..=max_key bytes); `buf`/`cap`,
/// the value buffer (NULL allowed when `cap` is 0); `out_len`, receives the
/// value's length; `meta`, NULL or receives the version and expiry.
/// **Returns** `OK`; `NOT_FOUND` (absent, expired, evicted or cleared;
/// `*out_len` is 0); `BUFFER_TOO_SMALL` (`*out_len` is the length needed;
/// nothing is copied); `NULL_ARGUMENT`; `INVALID_ARGUMENT` (zero-length key);
/// `TOO_LARGE` (key over `max_key`). `*meta` is zeroed unless `OK`.
/// **Thread safety**: any thread; lock-free, no allocation, lock or syscall.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_get(
    c: *const orbit_cache,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    out_len: *mut usize,
    meta: *mut orbit_cache_meta,
) -> Status {
    ffi_status!({
        if !meta.is_null() {
            // SAFETY: non-NULL and, by the contract, writable.
            unsafe { *meta = orbit_cache_meta::default() };
        }
        let out_len = out_arg(out_len, "out_len")?;
        *out_len = 0;
        let cache = cache_ref(c)?;
        let key = bytes_arg(key, klen, "key")?;
        let buf = buf_arg(buf, cap, "buf")?;
        match cache.get_into(key, buf) {
            Ok(Some(m)) => {
                *out_len = m.len;
                if !meta.is_null() {
                    // SAFETY: non-NULL and, by the contract, writable.
                    unsafe {
                        *meta = orbit_cache_meta {
                            version: m.version.raw(),
                            expires_at_ms: m.expires_at_ms,
                        }
                    };
                }
                Ok(Status::Ok)
            }
            Ok(None) => Ok(Status::NotFound),
            Err(e @ Error::BufferTooSmall { needed, .. }) => {
                *out_len = needed;
                Err(e)
            }
            Err(e) => Err(e),
        }
    })
}

/// Looks up `count` keys in one call, as `count` calls of `orbit_cache_get`
/// would. Keys are packed back to back in `keys` (key `i` is the `klens[i]`
/// bytes after key `i-1`); the values found are packed back to back into
/// `buf` in key order (a miss takes no room). Size `cap` as
/// `count * max_value` and it is never too small.
///
/// **Parameters**: `keys`/`klens`/`count`, the packed keys and their lengths
/// (NULL allowed only when `count` is 0; `count` 0 looks nothing up and
/// returns `OK`); `buf`/`cap`, the value buffer (NULL allowed when `cap` is
/// 0); `vlens`, an array of `count` receiving each value's length (0 for a
/// miss); `statuses`, an array of `count` receiving `OK` (hit) or `NOT_FOUND`
/// per key; `out_done`, receives how many keys were looked up.
/// **Returns** `OK` (every key looked up: `*out_done == count`);
/// `NULL_ARGUMENT`; `INVALID_ARGUMENT` (a zero-length key, lengths whose sum
/// overflows, a misaligned array); `TOO_LARGE` (a key over `max_key`);
/// `BUFFER_TOO_SMALL` (the value of key `*out_done` does not fit in what is
/// left of `buf`; `vlens[*out_done]` is its length). On a failure the
/// results of the first `*out_done` keys are valid and the rest untouched.
/// No metadata (version, expiry) is returned: use `orbit_cache_get`.
/// **Ownership**: nothing is retained after the call.
/// **Thread safety**: any thread; lock-free, no allocation, lock or syscall.
/// Each key is read atomically, the batch as a whole is not a snapshot.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_get_batch(
    c: *const orbit_cache,
    keys: *const c_void,
    klens: *const usize,
    count: usize,
    buf: *mut c_void,
    cap: usize,
    vlens: *mut usize,
    statuses: *mut Status,
    out_done: *mut usize,
) -> Status {
    ffi_status!({
        let done = out_arg(out_done, "out_done")?;
        *done = 0;
        let cache = cache_ref(c)?;
        let klens = slice_arg(klens, count, "klens")?;
        let vlens = slice_out_arg(vlens, count, "vlens")?;
        let statuses = slice_out_arg(statuses, count, "statuses")?;
        let total = klens.iter().try_fold(0usize, |t, &l| t.checked_add(l));
        let total = total.ok_or_else(|| {
            Error::InvalidArgument("klens add up to more than memory holds".into())
        })?;
        let keys = bytes_arg(keys, total, "keys")?;
        let buf = buf_arg(buf, cap, "buf")?;
        let (mut koff, mut used) = (0, 0);
        for (i, &klen) in klens.iter().enumerate() {
            let key = &keys[koff..koff + klen];
            koff += klen;
            match cache.get_into(key, &mut buf[used..]) {
                Ok(Some(m)) => {
                    vlens[i] = m.len;
                    statuses[i] = Status::Ok;
                    used += m.len;
                }
                Ok(None) => {
                    vlens[i] = 0;
                    statuses[i] = Status::NotFound;
                }
                Err(e @ Error::BufferTooSmall { needed, .. }) => {
                    vlens[i] = needed;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            *done = i + 1;
        }
        Ok(Status::Ok)
    })
}

/// Whether `key` is present, without copying its value or counting a hit.
///
/// **Returns** `OK` (present); `NOT_FOUND`; `NULL_ARGUMENT`;
/// `INVALID_ARGUMENT`; `TOO_LARGE`. **Thread safety**: any thread; lock-free.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_exists(
    c: *const orbit_cache,
    key: *const c_void,
    klen: usize,
) -> Status {
    ffi_status!({
        let cache = cache_ref(c)?;
        let key = bytes_arg(key, klen, "key")?;
        Ok(if cache.exists(key)? {
            Status::Ok
        } else {
            Status::NotFound
        })
    })
}

/// Stores `val` under `key`, replacing any previous value.
///
/// **Parameters**: `key`/`klen` (1..=max_key bytes); `val`/`vlen`
/// (0..=max_value bytes; NULL allowed when `vlen` is 0); `ttl_ms`, time to
/// live in milliseconds, 0 = no expiry.
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT` (zero-length key, a
/// fleet handle inherited through `fork()`); `TOO_LARGE` (key or value over
/// its limit; nothing stored); `READ_ONLY` (observer); `TIMEOUT` (a live
/// process held the key's bucket for 5 s; nothing stored).
/// **Thread safety**: any thread; writers of the same bucket serialise, a
/// dead holder's bucket is taken over.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_set(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> Status {
    ffi_status!({
        let cache = cache_ref(c)?;
        cache.set(
            bytes_arg(key, klen, "key")?,
            bytes_arg(val, vlen, "val")?,
            ttl_ms,
        )?;
        Ok(Status::Ok)
    })
}

/// Stores `val` under `key` only if the key is absent (or expired).
///
/// **Parameters** and **Thread safety**: as `orbit_cache_set`.
/// **Returns** `CONFLICT` if the key is present (nothing stored), else as
/// `orbit_cache_set`. Of N processes racing to add one key, exactly one gets `OK`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_add(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> Status {
    ffi_status!({
        let cache = cache_ref(c)?;
        cache.add(
            bytes_arg(key, klen, "key")?,
            bytes_arg(val, vlen, "val")?,
            ttl_ms,
        )?;
        Ok(Status::Ok)
    })
}

/// Stores `val` under `key` only if the key's current version is
/// `expected_version` (from `orbit_cache_meta.version`).
///
/// **Parameters** and **Thread safety**: as `orbit_cache_set`.
/// **Returns** `CONFLICT` (the version changed; nothing stored); `NOT_FOUND`
/// (the key is absent); else as `orbit_cache_set`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_cas(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    expected_version: u64,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> Status {
    ffi_status!({
        let cache = cache_ref(c)?;
        cache.cas(
            bytes_arg(key, klen, "key")?,
            NetId64(expected_version),
            bytes_arg(val, vlen, "val")?,
            ttl_ms,
        )?;
        Ok(Status::Ok)
    })
}

/// Adds `delta` to the counter under `key`: a value of exactly 8 bytes, read
/// as a little-endian `int64_t`. An absent key is created at `delta`, expiring
/// after `ttl_ms` (0 = never); an existing counter keeps its expiry.
///
/// **Parameters**: `out_value`, NULL or receives the new value (0 on failure).
/// **Returns** `OK`; `INVALID_ARGUMENT` (the value is not 8 bytes, or the
/// result would overflow; the value is untouched); `TOO_LARGE` (key over
/// `max_key`, or `max_value` below 8); else as `orbit_cache_set`.
/// **Thread safety**: any thread; N processes doing K increments each end at
/// exactly N*K.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_incr(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    delta: i64,
    ttl_ms: u64,
    out_value: *mut i64,
) -> Status {
    ffi_status!({
        counter_op(c, key, klen, out_value, |cache, k| {
            cache.incr(k, delta, ttl_ms)
        })
    })
}

/// The body shared by `orbit_cache_incr` and `orbit_cache_decr`: `*out_value`
/// is 0 unless the operation succeeds.
fn counter_op(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    out_value: *mut i64,
    op: impl FnOnce(&OrbitCache, &[u8]) -> Result<i64>,
) -> Result<Status> {
    let mut out = opt_out_arg(out_value);
    if let Some(o) = out.as_deref_mut() {
        *o = 0;
    }
    let v = op(cache_ref(c)?, bytes_arg(key, klen, "key")?)?;
    if let Some(o) = out {
        *o = v;
    }
    Ok(Status::Ok)
}

/// Subtracts `delta` from the counter under `key`: `orbit_cache_incr` with
/// `-delta` (`INVALID_ARGUMENT` for `INT64_MIN`).
///
/// **Parameters**, **Returns**, **Thread safety**: as `orbit_cache_incr`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_decr(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
    delta: i64,
    ttl_ms: u64,
    out_value: *mut i64,
) -> Status {
    ffi_status!({
        counter_op(c, key, klen, out_value, |cache, k| {
            cache.decr(k, delta, ttl_ms)
        })
    })
}

/// Removes `key`.
///
/// **Returns** `OK`; `NOT_FOUND` (absent or expired); `NULL_ARGUMENT`;
/// `INVALID_ARGUMENT`; `TOO_LARGE`; `READ_ONLY`; `TIMEOUT`.
/// **Thread safety**: as `orbit_cache_set`.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_delete(
    c: *mut orbit_cache,
    key: *const c_void,
    klen: usize,
) -> Status {
    ffi_status!({
        let cache = cache_ref(c)?;
        Ok(if cache.delete(bytes_arg(key, klen, "key")?)? {
            Status::Ok
        } else {
            Status::NotFound
        })
    })
}

/// Invalidates every entry written before this call, in every process.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `READ_ONLY`; `INVALID_ARGUMENT` (forked
/// fleet handle). **Thread safety**: any thread; O(1) for correctness, then
/// one pass over the log to update the statistics.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_clear(c: *mut orbit_cache) -> Status {
    ffi_status!({
        cache_ref(c)?.clear()?;
        Ok(Status::Ok)
    })
}

/// Fills `out` with the statistics summed over every node, and the geometry.
///
/// **Returns** `OK`; `NULL_ARGUMENT`. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_stat(c: *const orbit_cache, out: *mut orbit_cache_stats) -> Status {
    ffi_status!({
        let out = out_arg(out, "out")?;
        *out = orbit_cache_stats::default();
        let s = cache_ref(c)?.stats();
        *out = orbit_cache_stats {
            entries: s.entries,
            hits: s.hits,
            misses: s.misses,
            sets: s.sets,
            evictions: s.evictions,
            deletes: s.deletes,
            takeovers: s.takeovers,
            clears: s.clears,
            capacity: s.capacity,
            max_key: s.max_key,
            max_value: s.max_value,
        };
        Ok(Status::Ok)
    })
}

/// Frees a cache handle (unmaps; never unlinks). NULL is a no-op.
///
/// **Thread safety**: not concurrently with other calls on the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_free(c: *mut orbit_cache) {
    ffi_boundary!({ handle_free(c) })
}

/// Removes cache `name` of `fleet` from the system. Processes that have it
/// open keep using it; the next open creates a new, empty cache.
///
/// **Returns** `OK`; `NULL_ARGUMENT`; `INVALID_ARGUMENT`; `NOT_EXIST`; `PERMISSION`.
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_cache_unlink(fleet: *const c_char, name: *const c_char) -> Status {
    ffi_status!({
        OrbitCache::unlink(str_arg(fleet, "fleet")?, str_arg(name, "name")?)?;
        Ok(Status::Ok)
    })
}
