//! The C ABI. Conventions (after rustls-ffi):
//!
//! - every exported item is named `orbit_*` in Rust itself, so one grep finds
//!   it in Rust, C, C++, Go and Python;
//! - every exported body runs inside [`ffi_status!`] or [`ffi_boundary!`]:
//!   `catch_unwind`, NULL checks in every build, a status for every failure;
//! - handles are boxed Rust values behind opaque pointers; they carry a magic
//!   word so that a freed or foreign handle is usually reported as
//!   `INVALID_ARGUMENT` instead of being used (best effort: using a freed handle
//!   remains the caller's bug);
//! - enum-like inputs are plain integers validated here, never Rust enums (an
//!   unknown value from C would be undefined behaviour);
//! - options structs end in reserved words that must be zero, so fields can be
//!   added later without breaking compiled callers: a caller built against a
//!   newer header that sets a field this library does not know gets
//!   `INVALID_ARGUMENT` instead of a silently ignored setting.

#![allow(non_camel_case_types)]
// Exported functions take raw pointers from C by design; each dereference is
// preceded by the boundary checks above and carries its own SAFETY comment.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod bus;
mod cache;
mod contest;
mod fleet;
mod handle;
mod library;
mod ring;

pub use bus::*;
pub use cache::*;
pub use contest::*;
pub use fleet::*;
pub use handle::{ORBIT_FROM_HEAD, ORBIT_FROM_OLDEST, orbit_from};
pub use library::*;
pub use ring::*;

pub(crate) use handle::*;
