//! Boundary helpers: the panic boundary, the last-error slot, argument and
//! handle conversions. Exported functions never cast pointers themselves.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_void};

use crate::error::{Error, Result, Status};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Stores the calling thread's last error message.
pub(crate) fn set_last_error(msg: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// Copies the last error message (see `orbit_last_error_message`).
pub(crate) fn with_last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|e| f(&e.borrow()))
}

/// Turns a result into a status, recording the message of an error.
pub(crate) fn to_status(r: Result<Status>) -> Status {
    match r {
        Ok(s) => s,
        Err(e) => {
            let s = e.status();
            if !s.is_outcome() {
                set_last_error(e.to_string());
            }
            s
        }
    }
}

pub(crate) fn record_panic(payload: Box<dyn std::any::Any + Send>) {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_last_error(format!(
        "internal error (panic) caught at the orbit API boundary: {msg}"
    ));
}

/// The value an exported function returns when a panic was caught.
pub(crate) trait Fallback {
    fn fallback() -> Self;
}
impl Fallback for Status {
    fn fallback() -> Self {
        Status::Panic
    }
}
impl Fallback for () {
    fn fallback() -> Self {}
}
impl Fallback for u16 {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for u32 {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for u64 {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for usize {
    fn fallback() -> Self {
        0
    }
}
impl Fallback for *const c_char {
    fn fallback() -> Self {
        std::ptr::null()
    }
}

/// Runs an exported body behind `catch_unwind`; a panic becomes the return
/// type's [`Fallback`] and the thread's last error.
macro_rules! ffi_boundary {
    ($body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(p) => {
                $crate::ffi::record_panic(p);
                $crate::ffi::Fallback::fallback()
            }
        }
    }};
}
pub(crate) use ffi_boundary;

/// [`ffi_boundary!`] for a body that evaluates to `Result<Status>`.
macro_rules! ffi_status {
    ($body:block) => {
        $crate::ffi::ffi_boundary!({
            // A closure so that `?` in the body returns from the body alone.
            #[allow(clippy::redundant_closure_call)]
            let r: $crate::Result<$crate::Status> = (|| $body)();
            $crate::ffi::to_status(r)
        })
    };
}
pub(crate) use ffi_status;

/// Where a cursor or subscription starts: `ORBIT_FROM_OLDEST` or `ORBIT_FROM_HEAD`.
pub type orbit_from = u32;
/// Start at the oldest frame the ring still holds.
pub const ORBIT_FROM_OLDEST: orbit_from = 0;
/// Start at the head: only frames written from now on.
pub const ORBIT_FROM_HEAD: orbit_from = 1;

pub(crate) fn from_arg(from: orbit_from) -> Result<crate::ring::From> {
    match from {
        ORBIT_FROM_OLDEST => Ok(crate::ring::From::Oldest),
        ORBIT_FROM_HEAD => Ok(crate::ring::From::Head),
        v => Err(Error::InvalidArgument(format!(
            "orbit_from value {v} is neither ORBIT_FROM_OLDEST nor ORBIT_FROM_HEAD"
        ))),
    }
}

/// A boxed handle with a magic word checked on every use.
pub(crate) trait Handle: Sized {
    const MAGIC: u64;
    const WHAT: &'static str;
    fn clear_magic(&mut self);

    /// Moves a handle to the heap and hands ownership to C.
    fn into_raw(self) -> *mut Self {
        Box::into_raw(Box::new(self))
    }
}

/// Borrows a handle. NULL is `NULL_ARGUMENT`; a wrong magic (freed, or not this
/// type) is `INVALID_ARGUMENT`.
pub(crate) fn handle_ref<'a, T: Handle>(p: *const T) -> Result<&'a T> {
    if p.is_null() {
        return Err(Error::NullArgument(T::WHAT));
    }
    // SAFETY: non-NULL, and every handle type is `repr(C)` with its u64 magic
    // at offset 0 (asserted in `impl_handle!`), so reading 8 bytes at `p` stays
    // inside any live handle, whatever its type. The reference to `T` is made
    // only once the magic says it is one.
    let magic = unsafe { std::ptr::read(p.cast::<u64>()) };
    if magic != T::MAGIC {
        return Err(Error::InvalidArgument(format!(
            "{} handle is freed or not an {}",
            T::WHAT,
            T::WHAT
        )));
    }
    // SAFETY: non-NULL, and the magic identifies a live handle of type T made
    // by `into_raw` (using a freed handle remains the caller's bug).
    let h = unsafe { &*p };
    Ok(h)
}

/// Mutably borrows a handle (same checks as [`handle_ref`]).
pub(crate) fn handle_mut<'a, T: Handle>(p: *mut T) -> Result<&'a mut T> {
    handle_ref(p as *const T)?;
    // SAFETY: checked non-NULL and of the right type above; the C contract
    // gives this call exclusive use of the handle.
    Ok(unsafe { &mut *p })
}

/// Takes a handle back from C and drops it; NULL is a no-op.
pub(crate) fn handle_free<T: Handle>(p: *mut T) {
    if p.is_null() {
        return;
    }
    if handle_ref(p as *const T).is_err() {
        // Double free or foreign pointer: refuse rather than corrupt the heap.
        set_last_error(format!(
            "{}_free: handle is already freed or not an {}",
            T::WHAT,
            T::WHAT
        ));
        return;
    }
    // SAFETY: the pointer came from `into_raw` of this type (magic checked) and
    // ownership returns to us here; the magic is cleared so a second free is
    // detected (best effort).
    let mut b = unsafe { Box::from_raw(p) };
    b.clear_magic();
    drop(b);
}

macro_rules! impl_handle {
    ($t:ty, $magic:expr, $what:expr) => {
        const _: () = assert!(::std::mem::offset_of!($t, magic) == 0);
        impl $crate::ffi::Handle for $t {
            const MAGIC: u64 = $magic;
            const WHAT: &'static str = $what;
            fn clear_magic(&mut self) {
                self.magic = 0;
            }
        }
    };
}
pub(crate) use impl_handle;

/// Writes an out-parameter, refusing NULL.
pub(crate) fn out_arg<'a, T>(p: *mut T, what: &'static str) -> Result<&'a mut T> {
    if p.is_null() {
        return Err(Error::NullArgument(what));
    }
    // SAFETY: non-NULL and, by the C contract, valid for writes of one T.
    Ok(unsafe { &mut *p })
}

/// A nullable out-parameter: `None` for NULL.
pub(crate) fn opt_out_arg<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: when non-NULL it is, by the C contract, valid for writes of one T.
    unsafe { p.as_mut() }
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, what: &'static str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::NullArgument(what));
    }
    // SAFETY: non-NULL and, by the C contract, NUL-terminated. Names are
    // validated (at most 48 bytes) right after, but the terminator must exist.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| Error::InvalidArgument(format!("{what} is not valid UTF-8")))
}

/// A `(pointer, length)` input; NULL is allowed only with length 0.
pub(crate) fn bytes_arg<'a>(p: *const c_void, len: usize, what: &'static str) -> Result<&'a [u8]> {
    slice_arg(p.cast::<u8>(), len, what)
}

/// A `(buffer, capacity)` output; NULL is allowed only with capacity 0.
pub(crate) fn buf_arg<'a>(p: *mut c_void, cap: usize, what: &'static str) -> Result<&'a mut [u8]> {
    slice_out_arg(p.cast::<u8>(), cap, what)
}

/// An input array of `count` elements; NULL is allowed only when `count` is 0.
/// A misaligned pointer or an impossible size is `INVALID_ARGUMENT` (bytes,
/// [`bytes_arg`], are never misaligned).
pub(crate) fn slice_arg<'a, T>(p: *const T, count: usize, what: &'static str) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    array_checks(p, count, what)?;
    // SAFETY: non-NULL, aligned, a size that fits an allocation (checked
    // above) and, by the C contract, valid for reads of `count` elements.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// An output array of `count` elements (same rules as [`slice_arg`]).
pub(crate) fn slice_out_arg<'a, T>(
    p: *mut T,
    count: usize,
    what: &'static str,
) -> Result<&'a mut [T]> {
    if count == 0 {
        return Ok(&mut []);
    }
    array_checks(p, count, what)?;
    // SAFETY: as in `slice_arg`, and by the C contract valid for writes and
    // not aliased by any other argument of the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, count) })
}

fn array_checks<T>(p: *const T, count: usize, what: &'static str) -> Result<()> {
    if p.is_null() {
        return Err(Error::NullArgument(what));
    }
    if !p.is_aligned() {
        return Err(Error::InvalidArgument(format!("{what} is misaligned")));
    }
    match count.checked_mul(std::mem::size_of::<T>()) {
        Some(n) if n <= isize::MAX as usize => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "{what} size {count} is impossible"
        ))),
    }
}

/// Checks that an options struct's reserved words are zero.
pub(crate) fn reserved_zero(words: &[u64], what: &'static str) -> Result<()> {
    if words.iter().any(|w| *w != 0) {
        return Err(Error::InvalidArgument(format!(
            "{what} has reserved fields set: initialise it with its _options_init function (or the header is newer than the library)"
        )));
    }
    Ok(())
}

/// Sets `*out = NULL` for a constructor's out-parameter if it is not NULL itself.
pub(crate) fn clear_out<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: non-NULL and, by the C contract, writable.
        unsafe { *out = std::ptr::null_mut() };
    }
}
