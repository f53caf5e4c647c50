//! Library-level functions: versions, status strings, the last error.

use std::ffi::c_char;

use super::{ffi_boundary, with_last_error};
use crate::error::Status;

/// The library version as a static NUL-terminated string, e.g. `"0.1.0"`.
///
/// **Returns** a pointer to static storage; never NULL. **Ownership**: do not
/// free. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_version() -> *const c_char {
    ffi_boundary!({ concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast() })
}

/// The C ABI version of the loaded library. Bindings compare it with the
/// `ORBIT_ABI_VERSION` they were written for and refuse to run on a mismatch.
///
/// **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_abi_version() -> u32 {
    ffi_boundary!({ crate::ABI_VERSION })
}

/// A static description of a status code.
///
/// **Parameters**: `status`, any integer (unknown codes get a generic text).
/// **Returns** a static NUL-terminated string; never NULL. **Ownership**: do
/// not free. **Thread safety**: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_status_str(status: i32) -> *const c_char {
    ffi_boundary!({
        let s: &'static [u8] = match Status::from_code(status) {
            Some(Status::Ok) => b"ok\0",
            Some(Status::Empty) => b"empty: nothing to read yet\0",
            Some(Status::NotFound) => b"not found\0",
            Some(Status::Timeout) => b"timed out\0",
            Some(Status::Conflict) => b"conflict\0",
            Some(Status::LeaseLost) => {
                b"lease lost: it expired and was granted to another holder\0"
            }
            Some(Status::NullArgument) => b"a required pointer argument was NULL\0",
            Some(Status::InvalidArgument) => b"invalid argument\0",
            Some(Status::TooLarge) => b"too large for the object's limits; nothing was written\0",
            Some(Status::BufferTooSmall) => b"buffer too small; the needed length was reported\0",
            Some(Status::NotExist) => b"the object does not exist\0",
            Some(Status::Exists) => b"the object already exists\0",
            Some(Status::Incompatible) => {
                b"incompatible segment (other kind, layout version or geometry)\0"
            }
            Some(Status::Corrupt) => b"corrupt segment (truncated or impossible contents)\0",
            Some(Status::Permission) => b"permission denied\0",
            Some(Status::ReadOnly) => b"read-only handle (observer)\0",
            Some(Status::Full) => b"the table is full\0",
            Some(Status::Io) => b"operating-system error\0",
            Some(Status::Panic) => b"internal error caught at the API boundary\0",
            None => b"unknown status code\0",
        };
        s.as_ptr().cast()
    })
}

/// Copies the calling thread's last detailed error message.
///
/// Every call that returns an error status (not the outcomes `EMPTY`,
/// `NOT_FOUND`, `TIMEOUT`, `CONFLICT`, `LEASE_LOST`) records why, with the OS
/// error where there is one. Successful calls leave the message unchanged.
///
/// **Parameters**: `buf` (may be NULL when `cap` is 0), `cap` its size in bytes.
/// **Returns** the full message length in bytes, excluding the NUL; at most
/// `cap - 1` bytes plus a NUL are written (like `snprintf`), so a return value
/// `>= cap` means the copy was truncated. 0 when there is no message.
/// **Thread safety**: per OS thread; read it on the thread that failed.
#[unsafe(no_mangle)]
pub extern "C" fn orbit_last_error_message(buf: *mut c_char, cap: usize) -> usize {
    ffi_boundary!({
        with_last_error(|msg| {
            if !buf.is_null() && cap > 0 {
                let n = msg.len().min(cap - 1);
                // SAFETY: `buf` is non-NULL and, by the contract, valid for `cap`
                // bytes; we write n + 1 <= cap bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            msg.len()
        })
    })
}
