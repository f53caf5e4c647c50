//! Bad input through the C ABI, called from Rust: NULL for every pointer,
//! malformed names, unknown enum values, reserved option fields, impossible
//! lengths, double frees, wrong handle types, and the contracts of
//! `orbit_last_error_message` and `orbit_status_str`. Nothing may crash; every
//! failure is a status (and a message), and constructors set `*out = NULL`.

mod common;

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::{null, null_mut};

use common::{Cleanup, unique_fleet};
use orbit::Status;
use orbit::ffi::*;

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The calling thread's last error message.
fn last_error() -> String {
    let n = orbit_last_error_message(null_mut(), 0);
    let mut buf = vec![0u8; n + 1];
    assert_eq!(
        orbit_last_error_message(buf.as_mut_ptr().cast(), buf.len()),
        n
    );
    assert_eq!(buf[n], 0);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Clears the last error by recording a known one.
fn mark_last_error() -> String {
    assert_eq!(orbit_fleet_unlink(null()), Status::NullArgument);
    last_error()
}

/// Asserts an error status that recorded a fresh message.
#[track_caller]
fn assert_err(got: Status, want: Status) {
    assert_eq!(got, want);
    let msg = last_error();
    assert!(!msg.is_empty(), "no message for {want:?}");
}

/// A non-NULL pointer that is not a handle: constructors must overwrite it.
fn sentinel<T>() -> *mut T {
    std::ptr::dangling_mut()
}

/// A joined fleet with one ring (capacity 8, max_payload 64, kind 3) holding
/// one frame "hello", and a cursor at its oldest frame.
struct Fx {
    name: CString,
    f: *mut orbit_fleet,
    r: *mut orbit_ring,
    c: *mut orbit_cursor,
    first_id: u64,
    _cleanup: Cleanup,
}

impl Fx {
    fn new(test: &str) -> Fx {
        let fleet = unique_fleet(test);
        let cleanup = Cleanup::new(&fleet, &["r"]);
        let name = cs(&fleet);
        let mut f = sentinel();
        assert_eq!(orbit_fleet_join(name.as_ptr(), null(), &mut f), Status::Ok);
        let mut o = ring_opts();
        o.capacity = 8;
        o.max_payload = 64;
        o.kind = 3;
        let mut r = sentinel();
        assert_eq!(orbit_ring_open(f, cs("r").as_ptr(), &o, &mut r), Status::Ok);
        let mut first_id = 0;
        assert_eq!(
            orbit_ring_write(r, 1, 2, b"hello".as_ptr().cast(), 5, &mut first_id),
            Status::Ok
        );
        let mut c = sentinel();
        assert_eq!(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &mut c), Status::Ok);
        Fx {
            name,
            f,
            r,
            c,
            first_id,
            _cleanup: cleanup,
        }
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        orbit_cursor_free(self.c);
        orbit_ring_free(self.r);
        orbit_fleet_free(self.f);
    }
}

fn ring_opts() -> orbit_ring_options {
    // SAFETY: all-zero is a valid orbit_ring_options (integers and arrays).
    let mut o: orbit_ring_options = unsafe { std::mem::zeroed() };
    orbit_ring_options_init(&mut o);
    o
}

fn fleet_opts() -> orbit_fleet_options {
    // SAFETY: all-zero is a valid orbit_fleet_options (NULL label, integers).
    let mut o: orbit_fleet_options = unsafe { std::mem::zeroed() };
    orbit_fleet_options_init(&mut o);
    o
}

#[test]
fn options_init_fills_defaults_and_ignores_null() {
    orbit_ring_options_init(null_mut());
    orbit_fleet_options_init(null_mut());
    let o = ring_opts();
    assert_eq!(
        (
            o.capacity,
            o.max_payload,
            o.kind,
            o.flags,
            o.mode,
            o.reserved0,
            o.reserved
        ),
        (4096, 1024, 0, 0, 0, [0; 6], [0; 6])
    );
    let f = fleet_opts();
    assert!(f.label.is_null());
    assert_eq!(
        (f.max_nodes, f.mode, f.stale_after_ms, f.reserved),
        (256, 0, 10_000, [0; 6])
    );
}

#[test]
fn null_for_every_pointer_argument() {
    let fx = Fx::new("ffinull");
    let name = fx.name.as_ptr();
    let r_name = cs("r");
    let mut frame = orbit_frame::default();
    let mut buf = [0u8; 64];
    let bufp: *mut c_void = buf.as_mut_ptr().cast();

    // Fleet.
    let mut f = sentinel();
    assert_err(
        orbit_fleet_join(null(), null(), &mut f),
        Status::NullArgument,
    );
    assert!(f.is_null(), "*out cleared on failure");
    assert_err(
        orbit_fleet_join(name, null(), null_mut()),
        Status::NullArgument,
    );
    let mut o = fleet_opts();
    assert_err(orbit_fleet_join(null(), &o, &mut f), Status::NullArgument);
    o.label = null(); // a NULL label is allowed: no label
    let mut g = sentinel();
    assert_eq!(orbit_fleet_join(name, &o, &mut g), Status::Ok);
    orbit_fleet_free(g);
    let mut f = sentinel();
    assert_err(orbit_fleet_observe(null(), &mut f), Status::NullArgument);
    assert!(f.is_null());
    assert_err(orbit_fleet_observe(name, null_mut()), Status::NullArgument);
    assert_eq!(orbit_fleet_node_id(null()), 0);
    assert_err(orbit_fleet_heartbeat(null_mut()), Status::NullArgument);
    let mut members: Vec<orbit_member> = (0..4)
        // SAFETY: all-zero is a valid orbit_member (state 0 = ALIVE).
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    let mut count = 99usize;
    assert_err(
        orbit_fleet_members(null(), members.as_mut_ptr(), 4, &mut count),
        Status::NullArgument,
    );
    assert_err(
        orbit_fleet_members(fx.f, members.as_mut_ptr(), 4, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        orbit_fleet_members(fx.f, null_mut(), 4, &mut count),
        Status::NullArgument,
    );
    assert_err(
        orbit_fleet_members(fx.f, null_mut(), 0, &mut count),
        Status::BufferTooSmall,
    );
    assert_eq!(count, 1, "needed count reported");
    assert_eq!(
        orbit_fleet_members(fx.f, members.as_mut_ptr(), 4, &mut count),
        Status::Ok
    );
    assert_eq!(
        (count, members[0].node_id, members[0].pid),
        (1, orbit_fleet_node_id(fx.f), std::process::id())
    );
    orbit_fleet_free(null_mut());
    assert_err(orbit_fleet_unlink(null()), Status::NullArgument);

    // Ring.
    let mut r = sentinel();
    assert_err(
        orbit_ring_open(null_mut(), r_name.as_ptr(), null(), &mut r),
        Status::NullArgument,
    );
    assert!(r.is_null());
    let mut r = sentinel();
    assert_err(
        orbit_ring_open(fx.f, null(), null(), &mut r),
        Status::NullArgument,
    );
    assert!(r.is_null());
    assert_err(
        orbit_ring_open(fx.f, r_name.as_ptr(), null(), null_mut()),
        Status::NullArgument,
    );
    let data: *const c_void = b"abc".as_ptr().cast();
    assert_err(
        orbit_ring_write(null_mut(), 0, 0, data, 3, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        orbit_ring_write(fx.r, 0, 0, null(), 3, null_mut()),
        Status::NullArgument,
    );
    // NULL data with length 0 is an empty frame; a NULL out_id is allowed.
    assert_eq!(
        orbit_ring_write(fx.r, 0, 0, null(), 0, null_mut()),
        Status::Ok
    );
    assert_eq!(
        orbit_ring_write(fx.r, 0, 0, data, 3, null_mut()),
        Status::Ok
    );
    assert_err(
        orbit_ring_read(null(), fx.first_id, &mut frame, bufp, 64),
        Status::NullArgument,
    );
    assert_err(
        orbit_ring_read(fx.r, fx.first_id, null_mut(), bufp, 64),
        Status::NullArgument,
    );
    assert_err(
        orbit_ring_read(fx.r, fx.first_id, &mut frame, null_mut(), 64),
        Status::NullArgument,
    );
    // NULL buffer of capacity 0: the needed length is reported.
    assert_err(
        orbit_ring_read(fx.r, fx.first_id, &mut frame, null_mut(), 0),
        Status::BufferTooSmall,
    );
    assert_eq!(frame.len, 5);
    let mut info = orbit_ring_info::default();
    assert_err(orbit_ring_stat(null(), &mut info), Status::NullArgument);
    assert_err(orbit_ring_stat(fx.r, null_mut()), Status::NullArgument);
    orbit_ring_free(null_mut());
    assert_err(
        orbit_ring_unlink(null(), r_name.as_ptr()),
        Status::NullArgument,
    );
    assert_err(orbit_ring_unlink(name, null()), Status::NullArgument);

    // Cursor.
    let mut c = sentinel();
    assert_err(
        orbit_cursor_open(null(), ORBIT_FROM_OLDEST, &mut c),
        Status::NullArgument,
    );
    assert!(c.is_null());
    assert_err(
        orbit_cursor_open(fx.r, ORBIT_FROM_OLDEST, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next(null_mut(), &mut frame, bufp, 64),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next(fx.c, null_mut(), bufp, 64),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next(fx.c, &mut frame, null_mut(), 64),
        Status::NullArgument,
    );
    assert_err(orbit_cursor_wait(null_mut(), 0), Status::NullArgument);
    assert_eq!(orbit_cursor_lost(null()), 0);
    orbit_cursor_free(null_mut());
    // None of the refused calls consumed the frame.
    assert_eq!(orbit_cursor_next(fx.c, &mut frame, bufp, 64), Status::Ok);
    assert_eq!(
        (frame.id, frame.len, &buf[..5]),
        (fx.first_id, 5, &b"hello"[..])
    );

    // Library.
    let n = orbit_last_error_message(null_mut(), 100);
    assert!(n > 0, "NULL buffer: only the length is returned");
}

#[test]
fn malformed_names_are_invalid_arguments() {
    let fx = Fx::new("ffiname");
    let long = "x".repeat(49);
    let bad: Vec<Vec<u8>> = [
        "", &long, "/", "a/b", "..", "a..b", ".", " ", "a b", "a:b", "tab\t", "ä", "a\\b",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([vec![0xFF, 0xFE], vec![b'a', 0x80]]) // not UTF-8
    .collect();
    for b in &bad {
        let c = CString::new(b.clone()).unwrap();
        let what = String::from_utf8_lossy(b);
        let mut f = sentinel();
        assert_err(
            orbit_fleet_join(c.as_ptr(), null(), &mut f),
            Status::InvalidArgument,
        );
        assert!(f.is_null(), "{what:?}");
        let mut f = sentinel();
        assert_err(
            orbit_fleet_observe(c.as_ptr(), &mut f),
            Status::InvalidArgument,
        );
        assert!(f.is_null());
        assert_err(orbit_fleet_unlink(c.as_ptr()), Status::InvalidArgument);
        let mut r = sentinel();
        assert_err(
            orbit_ring_open(fx.f, c.as_ptr(), null(), &mut r),
            Status::InvalidArgument,
        );
        assert!(r.is_null(), "{what:?}");
        assert_err(
            orbit_ring_unlink(c.as_ptr(), cs("r").as_ptr()),
            Status::InvalidArgument,
        );
        assert_err(
            orbit_ring_unlink(fx.name.as_ptr(), c.as_ptr()),
            Status::InvalidArgument,
        );
    }
    // 48 characters of the allowed set are fine.
    let ok = format!("{}-", std::process::id());
    let ok = format!("{ok}{}", "A_b.9-".repeat(8))[..48].to_string();
    let _c = Cleanup::new(&ok, &[]);
    let mut f = sentinel();
    assert_eq!(
        orbit_fleet_join(cs(&ok).as_ptr(), null(), &mut f),
        Status::Ok
    );
    let mut r = sentinel();
    assert_eq!(
        orbit_ring_open(f, cs(&ok).as_ptr(), null(), &mut r),
        Status::Ok
    );
    orbit_ring_free(r);
    assert_eq!(
        orbit_ring_unlink(cs(&ok).as_ptr(), cs(&ok).as_ptr()),
        Status::Ok
    );
    assert_eq!(
        orbit_ring_unlink(cs(&ok).as_ptr(), cs(&ok).as_ptr()),
        Status::NotExist
    );
    orbit_fleet_free(f);
}

#[test]
fn unknown_from_value_is_invalid_argument() {
    let fx = Fx::new("ffifrom");
    for from in [2u32, 3, 255, u32::MAX] {
        let mut c = sentinel();
        assert_err(
            orbit_cursor_open(fx.r, from, &mut c),
            Status::InvalidArgument,
        );
        assert!(c.is_null());
    }
    for from in [ORBIT_FROM_OLDEST, ORBIT_FROM_HEAD] {
        let mut c = sentinel();
        assert_eq!(orbit_cursor_open(fx.r, from, &mut c), Status::Ok);
        orbit_cursor_free(c);
    }
}

#[test]
fn reserved_fields_and_bad_option_values_are_refused() {
    let fx = Fx::new("ffiopts");
    let open = |o: &orbit_ring_options| {
        let mut r = sentinel();
        let s = orbit_ring_open(fx.f, cs("new").as_ptr(), o, &mut r);
        assert!(r.is_null() || s == Status::Ok);
        if s == Status::Ok {
            orbit_ring_free(r);
            orbit_ring_unlink(fx.name.as_ptr(), cs("new").as_ptr());
        }
        s
    };
    for i in 0..6 {
        let mut o = ring_opts();
        o.reserved[i] = 1;
        assert_err(open(&o), Status::InvalidArgument);
        assert!(last_error().contains("reserved"), "{}", last_error());
    }
    for i in 0..6 {
        let mut o = ring_opts();
        o.reserved0[i] = 0x80;
        assert_err(open(&o), Status::InvalidArgument);
    }
    for flags in [2u8, 0x80, 0xFF] {
        let mut o = ring_opts();
        o.flags = flags;
        assert_err(open(&o), Status::InvalidArgument);
        assert!(last_error().contains("flags"), "{}", last_error());
    }
    type Tweak = fn(&mut orbit_ring_options);
    let tweaks: [(&str, Tweak); 7] = [
        ("capacity 0", |o| o.capacity = 0),
        ("capacity 3", |o| o.capacity = 3),
        ("capacity 2^31", |o| o.capacity = 1 << 31),
        ("max_payload 0", |o| o.max_payload = 0),
        ("max_payload 16 MiB + 1", |o| o.max_payload = (16 << 20) + 1),
        ("mode 0777", |o| o.mode = 0o777),
        ("mode 0066", |o| o.mode = 0o066),
    ];
    for (what, tweak) in tweaks {
        let mut o = ring_opts();
        tweak(&mut o);
        assert_eq!(open(&o), Status::InvalidArgument, "{what}");
    }
    // Options that differ from the existing ring's geometry.
    let mut o = ring_opts();
    o.capacity = 16;
    o.max_payload = 64;
    o.kind = 3;
    let mut r = sentinel();
    assert_err(
        orbit_ring_open(fx.f, cs("r").as_ptr(), &o, &mut r),
        Status::Incompatible,
    );
    assert!(r.is_null());

    // Fleet options.
    let join = |o: &orbit_fleet_options| {
        let name = cs(&unique_fleet("ffiopts2"));
        let mut f = sentinel();
        let s = orbit_fleet_join(name.as_ptr(), o, &mut f);
        assert!(f.is_null() || s == Status::Ok);
        orbit_fleet_free(f);
        orbit_fleet_unlink(name.as_ptr());
        s
    };
    for i in 0..6 {
        let mut o = fleet_opts();
        o.reserved[i] = u64::MAX;
        assert_err(join(&o), Status::InvalidArgument);
    }
    let long_label = cs(&"L".repeat(32));
    let bad_utf8 = CString::new(vec![0xC3u8]).unwrap();
    for (what, label, max_nodes, mode) in [
        ("max_nodes 0", null(), 0, 0),
        ("max_nodes 4097", null(), 4097, 0),
        ("label of 32 bytes", long_label.as_ptr(), 256, 0),
        ("label not UTF-8", bad_utf8.as_ptr(), 256, 0),
        ("mode 0700", null(), 256, 0o700),
    ] {
        let mut o = fleet_opts();
        o.label = label;
        o.max_nodes = max_nodes;
        o.mode = mode;
        assert_eq!(join(&o), Status::InvalidArgument, "{what}");
    }
    let label = cs(&"L".repeat(31));
    let mut o = fleet_opts();
    o.label = label.as_ptr();
    assert_eq!(join(&o), Status::Ok, "label of 31 bytes");
}

#[test]
fn impossible_lengths_are_refused() {
    let fx = Fx::new("ffilen");
    let mut buf = [0u8; 128];
    let bufp: *mut c_void = buf.as_mut_ptr().cast();
    let mut frame = orbit_frame::default();
    assert_err(
        orbit_ring_write(fx.r, 0, 0, bufp, usize::MAX, null_mut()),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_ring_write(fx.r, 0, 0, bufp, 65, null_mut()),
        Status::TooLarge,
    );
    assert_err(
        orbit_ring_read(fx.r, fx.first_id, &mut frame, bufp, usize::MAX),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_cursor_next(fx.c, &mut frame, bufp, usize::MAX),
        Status::InvalidArgument,
    );
    // Too small: the needed length, nothing consumed.
    assert_err(
        orbit_cursor_next(fx.c, &mut frame, bufp, 4),
        Status::BufferTooSmall,
    );
    assert_eq!(frame.len, 5);
    assert_err(
        orbit_ring_read(fx.r, fx.first_id, &mut frame, bufp, 4),
        Status::BufferTooSmall,
    );
    assert_eq!(frame.len, 5);
    assert_eq!(orbit_cursor_next(fx.c, &mut frame, bufp, 5), Status::Ok);
    // Ids that are not in the ring are NOT_FOUND, never a crash.
    for id in [0u64, u64::MAX, fx.first_id + 1, fx.first_id ^ (1 << 56)] {
        assert_eq!(
            orbit_ring_read(fx.r, id, &mut frame, bufp, 128),
            Status::NotFound,
            "id {id:#x}"
        );
    }
    // Timeouts: 0 checks without blocking, u64::MAX returns when data is there.
    assert_eq!(orbit_cursor_wait(fx.c, 0), Status::Timeout);
    assert_eq!(
        orbit_cursor_next(fx.c, &mut frame, bufp, 128),
        Status::Empty
    );
    orbit_ring_write(fx.r, 0, 0, bufp, 1, null_mut());
    assert_eq!(orbit_cursor_wait(fx.c, u64::MAX), Status::Ok);
}

#[test]
fn double_free_and_wrong_handle_types_are_harmless() {
    let fx = Fx::new("ffifree");
    // A handle of another type is refused, not misused.
    assert_err(
        orbit_fleet_heartbeat(fx.r as *mut orbit_fleet),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_ring_write(fx.f as *mut orbit_ring, 0, 0, null(), 0, null_mut()),
        Status::InvalidArgument,
    );
    assert_eq!(orbit_fleet_node_id(fx.r as *const orbit_fleet), 0);
    // Objects outlive the handles they were opened through.
    let mut f = sentinel();
    assert_eq!(
        orbit_fleet_join(fx.name.as_ptr(), null(), &mut f),
        Status::Ok
    );
    let mut r = sentinel();
    assert_eq!(
        orbit_ring_open(f, cs("r").as_ptr(), null(), &mut r),
        Status::Ok
    );
    let mut c = sentinel();
    assert_eq!(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &mut c), Status::Ok);
    orbit_fleet_free(f);
    assert_eq!(
        orbit_ring_write(r, 0, 0, b"x".as_ptr().cast(), 1, null_mut()),
        Status::Ok
    );
    orbit_ring_free(r);
    let mut frame = orbit_frame::default();
    let mut buf = [0u8; 64];
    assert_eq!(
        orbit_cursor_next(c, &mut frame, buf.as_mut_ptr().cast(), 64),
        Status::Ok
    );
    // Freeing twice: detected and ignored (the magic word is cleared on free).
    orbit_cursor_free(c);
    orbit_cursor_free(c);
    assert!(last_error().contains("already freed"), "{}", last_error());
    orbit_ring_free(r);
    orbit_fleet_free(f);
    assert!(last_error().contains("already freed"), "{}", last_error());
    // The fixture's handles still work.
    assert_eq!(orbit_fleet_heartbeat(fx.f), Status::Ok);
}

#[test]
fn observer_handles_are_read_only() {
    let fx = Fx::new("ffiobs");
    let mut obs = sentinel();
    assert_eq!(orbit_fleet_observe(fx.name.as_ptr(), &mut obs), Status::Ok);
    assert_eq!(orbit_fleet_node_id(obs), 0);
    assert_err(orbit_fleet_heartbeat(obs), Status::ReadOnly);
    let mut r = sentinel();
    assert_eq!(
        orbit_ring_open(obs, cs("r").as_ptr(), null(), &mut r),
        Status::Ok
    );
    assert_err(
        orbit_ring_write(r, 0, 0, b"x".as_ptr().cast(), 1, null_mut()),
        Status::ReadOnly,
    );
    let mut frame = orbit_frame::default();
    let mut buf = [0u8; 64];
    assert_eq!(
        orbit_ring_read(r, fx.first_id, &mut frame, buf.as_mut_ptr().cast(), 64),
        Status::Ok
    );
    let mut none = sentinel();
    assert_err(
        orbit_ring_open(obs, cs("absent").as_ptr(), null(), &mut none),
        Status::NotExist,
    );
    assert!(none.is_null());
    orbit_ring_free(r);
    orbit_fleet_free(obs);
    let mut missing = sentinel();
    assert_err(
        orbit_fleet_observe(cs(&unique_fleet("ffinofleet")).as_ptr(), &mut missing),
        Status::NotExist,
    );
    assert!(missing.is_null());
}

#[test]
fn last_error_message_truncates_like_snprintf() {
    let bad = cs("a b");
    let mut f = sentinel();
    assert_eq!(
        orbit_fleet_join(bad.as_ptr(), null(), &mut f),
        Status::InvalidArgument
    );
    let msg = last_error();
    let n = msg.len();
    assert!(n > 10 && msg.contains("a b"), "{msg}");
    assert_eq!(orbit_last_error_message(null_mut(), 0), n);
    for cap in [1usize, 2, 5, n - 1, n, n + 1, n + 50] {
        let mut buf = vec![0xAAu8; n + 64];
        let got = orbit_last_error_message(buf.as_mut_ptr().cast::<c_char>(), cap);
        assert_eq!(got, n, "cap {cap}: the full length is returned");
        let copied = n.min(cap - 1);
        assert_eq!(&buf[..copied], &msg.as_bytes()[..copied], "cap {cap}");
        assert_eq!(buf[copied], 0, "cap {cap}: NUL after {copied} bytes");
        assert!(
            buf[copied + 1..].iter().all(|b| *b == 0xAA),
            "cap {cap}: wrote past cap"
        );
    }
    // cap 0 with a real buffer writes nothing.
    let mut buf = [0xAAu8; 8];
    assert_eq!(orbit_last_error_message(buf.as_mut_ptr().cast(), 0), n);
    assert_eq!(buf, [0xAA; 8]);
    // Successful calls and non-error outcomes leave the message alone.
    let fx = Fx::new("ffilast");
    let mark = mark_last_error();
    assert!(!orbit_version().is_null());
    let mut frame = orbit_frame::default();
    let mut b = [0u8; 64];
    assert_eq!(
        orbit_cursor_next(fx.c, &mut frame, b.as_mut_ptr().cast(), 64),
        Status::Ok
    );
    assert_eq!(
        orbit_cursor_next(fx.c, &mut frame, b.as_mut_ptr().cast(), 64),
        Status::Empty
    );
    assert_eq!(orbit_cursor_wait(fx.c, 1_000_000), Status::Timeout);
    assert_eq!(
        orbit_ring_read(fx.r, 0, &mut frame, null_mut(), 0),
        Status::NotFound
    );
    assert_eq!(last_error(), mark);
    // The message is per thread.
    let other = std::thread::spawn(|| {
        assert_eq!(orbit_last_error_message(null_mut(), 0), 0, "fresh thread");
        let mut f = sentinel();
        orbit_fleet_join(cs("").as_ptr(), null(), &mut f);
        last_error()
    })
    .join()
    .unwrap();
    assert!(other.contains("empty"), "{other}");
    assert_eq!(last_error(), mark);
}

#[test]
fn status_str_covers_every_code() {
    let mut seen = std::collections::HashSet::new();
    for s in Status::ALL {
        let p = orbit_status_str(s as i32);
        assert!(!p.is_null());
        // SAFETY: non-NULL, documented to be a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(text, s.message(), "{s:?}");
        assert!(seen.insert(text), "{s:?} shares its text");
    }
    for code in [-1, 6, 15, 29, 100, i32::MIN, i32::MAX] {
        let p = orbit_status_str(code);
        assert!(!p.is_null());
        // SAFETY: as above.
        let text = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(text, "unknown status code", "code {code}");
    }
    // SAFETY: as above.
    let v = unsafe { CStr::from_ptr(orbit_version()) }.to_str().unwrap();
    assert_eq!(v, orbit::VERSION);
    assert_eq!(orbit_abi_version(), orbit::ABI_VERSION);
}

/// The batch functions: NULL for every pointer, zero counts, oversized
/// payloads and keys, impossible counts, misaligned arrays, too-small
/// buffers and handles of the wrong type. Refused calls write and consume
/// nothing.
#[test]
fn batch_functions_refuse_bad_input() {
    let fx = Fx::new("ffibatch");
    let data = b"abcdefgh";
    let dp: *const c_void = data.as_ptr().cast();
    let lens = [3usize, 5];
    let mut ids = [0u64; 2];
    let mut written = 99usize;
    let head = || {
        let mut i = orbit_ring_info::default();
        assert_eq!(orbit_ring_stat(fx.r, &mut i), Status::Ok);
        i.head
    };
    let head0 = head();

    // orbit_ring_write_batch.
    let wb = |r, d, l: *const usize, n, ids: *mut u64, w: *mut usize| {
        orbit_ring_write_batch(r, 1, 2, d, l, n, ids, w)
    };
    assert_err(
        wb(null_mut(), dp, lens.as_ptr(), 2, null_mut(), &mut written),
        Status::NullArgument,
    );
    assert_eq!(written, 0, "*out_written cleared on failure");
    assert_err(
        wb(fx.r, dp, lens.as_ptr(), 2, null_mut(), null_mut()),
        Status::NullArgument,
    );
    assert_err(
        wb(fx.r, dp, null(), 2, null_mut(), &mut written),
        Status::NullArgument,
    );
    assert_err(
        wb(fx.r, null(), lens.as_ptr(), 2, null_mut(), &mut written),
        Status::NullArgument,
    );
    // Zero frames: nothing to read, NULL arrays allowed.
    assert_eq!(
        wb(fx.r, null(), null(), 0, null_mut(), &mut written),
        Status::Ok
    );
    assert_eq!(written, 0);
    // Empty payloads only: NULL data allowed.
    assert_eq!(
        wb(
            fx.r,
            null(),
            [0usize, 0].as_ptr(),
            2,
            null_mut(),
            &mut written
        ),
        Status::Ok
    );
    assert_eq!((written, head()), (2, head0 + 2));
    // One payload over max_payload (64): nothing written at all.
    let big = [0u8; 200];
    assert_err(
        wb(
            fx.r,
            big.as_ptr().cast(),
            [1usize, 65, 1].as_ptr(),
            3,
            null_mut(),
            &mut written,
        ),
        Status::TooLarge,
    );
    assert!(last_error().contains("65"), "{}", last_error());
    assert_eq!((written, head()), (0, head0 + 2));
    // Lengths whose sum overflows, impossible counts, a misaligned array.
    assert_err(
        wb(
            fx.r,
            dp,
            [64usize; 4].as_ptr(),
            usize::MAX / 4,
            null_mut(),
            &mut written,
        ),
        Status::InvalidArgument,
    );
    let raw = [0usize; 3];
    let misaligned = raw.as_ptr().cast::<u8>().wrapping_add(1).cast::<usize>();
    assert_err(
        wb(fx.r, dp, misaligned, 2, null_mut(), &mut written),
        Status::InvalidArgument,
    );
    assert_err(
        wb(
            fx.r,
            dp,
            lens.as_ptr(),
            2,
            ids.as_mut_ptr().cast::<u8>().wrapping_add(1).cast(),
            &mut written,
        ),
        Status::InvalidArgument,
    );
    assert_eq!(head(), head0 + 2, "refused batches write nothing");
    assert_err(
        wb(
            fx.f as *mut orbit_ring,
            dp,
            lens.as_ptr(),
            2,
            null_mut(),
            &mut written,
        ),
        Status::InvalidArgument,
    );
    assert_eq!(
        wb(fx.r, dp, lens.as_ptr(), 2, ids.as_mut_ptr(), &mut written),
        Status::Ok
    );
    assert_eq!((written, ids[0] >> 56, ids[1] > ids[0]), (2, 3, true));

    // orbit_cursor_next_batch: 5 frames now ("hello", two empty, "abc", "defgh").
    let mut frames = [orbit_frame::default(); 8];
    let mut buf = [0u8; 64];
    let bufp: *mut c_void = buf.as_mut_ptr().cast();
    let mut n = 99usize;
    assert_err(
        orbit_cursor_next_batch(null_mut(), frames.as_mut_ptr(), 8, bufp, 64, &mut n),
        Status::NullArgument,
    );
    assert_eq!(n, 0, "*out_count cleared on failure");
    assert_err(
        orbit_cursor_next_batch(fx.c, null_mut(), 8, bufp, 64, &mut n),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, null_mut(), 64, &mut n),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, 64, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), usize::MAX, bufp, 64, &mut n),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, usize::MAX, &mut n),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_cursor_next_batch(
            fx.c,
            frames.as_mut_ptr().cast::<u8>().wrapping_add(4).cast(),
            8,
            bufp,
            64,
            &mut n,
        ),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_cursor_next_batch(
            fx.r as *mut orbit_cursor,
            frames.as_mut_ptr(),
            8,
            bufp,
            64,
            &mut n,
        ),
        Status::InvalidArgument,
    );
    // max 0: nothing read, NULL frames allowed.
    assert_eq!(
        orbit_cursor_next_batch(fx.c, null_mut(), 0, bufp, 64, &mut n),
        Status::Ok
    );
    assert_eq!(n, 0);
    // The first frame does not fit: the length needed, nothing consumed.
    assert_err(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, 4, &mut n),
        Status::BufferTooSmall,
    );
    assert_eq!((n, frames[0].len), (0, 5));
    // Room for "hello" and the empty frames only: stops before "abc".
    assert_eq!(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, 7, &mut n),
        Status::Ok
    );
    assert_eq!(
        (n, frames[0].id, &buf[..5]),
        (3, fx.first_id, &b"hello"[..])
    );
    assert_eq!(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, 64, &mut n),
        Status::Ok
    );
    assert_eq!(
        (n, frames[0].len, frames[1].len, &buf[..8]),
        (2, 3, 5, &data[..])
    );
    assert_eq!(
        orbit_cursor_next_batch(fx.c, frames.as_mut_ptr(), 8, bufp, 64, &mut n),
        Status::Empty
    );
    assert_eq!(n, 0);

    // orbit_cache_get_batch.
    let cname = cs("c");
    let mut co: orbit_cache_options =
        // SAFETY: all-zero is a valid orbit_cache_options (integers and arrays).
        unsafe { std::mem::zeroed() };
    orbit_cache_options_init(&mut co);
    co.max_key = 8;
    co.max_value = 8;
    let mut cache = sentinel();
    assert_eq!(
        orbit_cache_open(fx.f, cname.as_ptr(), &co, &mut cache),
        Status::Ok
    );
    assert_eq!(
        orbit_cache_set(
            cache,
            b"k1".as_ptr().cast(),
            2,
            b"one".as_ptr().cast(),
            3,
            0
        ),
        Status::Ok
    );
    let keys = b"k1zzk1";
    let kp: *const c_void = keys.as_ptr().cast();
    let klens = [2usize, 2, 2];
    let mut vlens = [9usize; 3];
    let mut st = [Status::Panic; 3];
    let mut vals = [0u8; 24];
    let vp: *mut c_void = vals.as_mut_ptr().cast();
    let mut done = 99usize;
    let gb = |c, k, kl: *const usize, n, b, cap, vl: *mut usize, s: *mut Status, d: *mut usize| {
        orbit_cache_get_batch(c, k, kl, n, b, cap, vl, s, d)
    };
    let (kl, vl, sp) = (klens.as_ptr(), vlens.as_mut_ptr(), st.as_mut_ptr());
    assert_err(
        gb(null(), kp, kl, 3, vp, 24, vl, sp, &mut done),
        Status::NullArgument,
    );
    assert_eq!(done, 0, "*out_done cleared on failure");
    assert_err(
        gb(cache, null(), kl, 3, vp, 24, vl, sp, &mut done),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, null(), 3, vp, 24, vl, sp, &mut done),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, kl, 3, null_mut(), 24, vl, sp, &mut done),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, kl, 3, vp, 24, null_mut(), sp, &mut done),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, kl, 3, vp, 24, vl, null_mut(), &mut done),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, kl, 3, vp, 24, vl, sp, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        gb(cache, kp, kl, usize::MAX, vp, 24, vl, sp, &mut done),
        Status::InvalidArgument,
    );
    assert_err(
        gb(cache, kp, kl, 3, vp, usize::MAX, vl, sp, &mut done),
        Status::InvalidArgument,
    );
    assert_err(
        gb(
            cache,
            kp,
            [usize::MAX, 2, 2].as_ptr(),
            3,
            vp,
            24,
            vl,
            sp,
            &mut done,
        ),
        Status::InvalidArgument,
    );
    assert_err(
        gb(
            fx.r as *const orbit_cache,
            kp,
            kl,
            3,
            vp,
            24,
            vl,
            sp,
            &mut done,
        ),
        Status::InvalidArgument,
    );
    assert_eq!(st, [Status::Panic; 3], "refused calls write no results");
    // Zero keys: NULL arrays allowed.
    assert_eq!(
        gb(
            cache,
            null(),
            null(),
            0,
            null_mut(),
            0,
            null_mut(),
            null_mut(),
            &mut done
        ),
        Status::Ok
    );
    assert_eq!(done, 0);
    assert_eq!(gb(cache, kp, kl, 3, vp, 24, vl, sp, &mut done), Status::Ok);
    assert_eq!(
        (done, st, vlens, &vals[..6]),
        (
            3,
            [Status::Ok, Status::NotFound, Status::Ok],
            [3, 0, 3],
            &b"oneone"[..]
        )
    );
    // A bad key part-way: the keys before it are done, the status says why.
    let mut st = [Status::Panic; 3];
    let sp = st.as_mut_ptr();
    assert_err(
        gb(
            cache,
            b"k1123456789".as_ptr().cast(),
            [2usize, 9, 0].as_ptr(),
            3,
            vp,
            24,
            vl,
            sp,
            &mut done,
        ),
        Status::TooLarge,
    );
    assert_eq!((done, st[0], st[1]), (1, Status::Ok, Status::Panic));
    assert_err(
        gb(
            cache,
            kp,
            [2usize, 0].as_ptr(),
            2,
            vp,
            24,
            vl,
            sp,
            &mut done,
        ),
        Status::InvalidArgument,
    );
    assert_eq!(done, 1, "a zero-length key is refused");
    // A value that does not fit in what is left of buf: its length, done before it.
    assert_err(
        gb(cache, kp, kl, 3, vp, 5, vl, sp, &mut done),
        Status::BufferTooSmall,
    );
    assert_eq!((done, vlens[2]), (2, 3));
    orbit_cache_free(cache);
    assert_eq!(
        orbit_cache_unlink(fx.name.as_ptr(), cname.as_ptr()),
        Status::Ok
    );
}

#[test]
fn single_writer_functions_refuse_bad_input() {
    let fx = Fx::new("ffisw");
    let mut o = ring_opts();
    o.capacity = 8;
    o.max_payload = 64;
    o.flags = ORBIT_RING_SINGLE_WRITER;
    let mut r = sentinel();
    assert_eq!(
        orbit_ring_open(fx.f, cs("sw").as_ptr(), &o, &mut r),
        Status::Ok
    );
    let mut info = orbit_ring_info::default();
    assert_eq!(orbit_ring_stat(r, &mut info), Status::Ok);
    assert_eq!(info.flags, ORBIT_RING_SINGLE_WRITER);
    // The same name with other flags is another geometry.
    let mut plain = sentinel();
    o.flags = 0;
    assert_err(
        orbit_ring_open(fx.f, cs("sw").as_ptr(), &o, &mut plain),
        Status::Incompatible,
    );
    assert!(plain.is_null());
    // NULLs.
    let mut w = sentinel();
    assert_err(orbit_ring_writer_open(null(), &mut w), Status::NullArgument);
    assert!(w.is_null(), "*out cleared on failure");
    assert_err(orbit_ring_writer_open(r, null_mut()), Status::NullArgument);
    assert_err(
        orbit_ring_writer_write(null_mut(), 0, 0, b"x".as_ptr().cast(), 1, null_mut()),
        Status::NullArgument,
    );
    orbit_ring_writer_free(null_mut());
    // A multi-writer ring has no writer role; a single-writer ring refuses
    // orbit_ring_write.
    let mut w = sentinel();
    assert_err(
        orbit_ring_writer_open(fx.r, &mut w),
        Status::InvalidArgument,
    );
    assert!(
        last_error().contains("not single-writer"),
        "{}",
        last_error()
    );
    assert_err(
        orbit_ring_write(r, 0, 0, b"x".as_ptr().cast(), 1, null_mut()),
        Status::InvalidArgument,
    );
    assert!(last_error().contains("single-writer"), "{}", last_error());
    // One writer at a time; the role is free again once the writer is freed.
    let mut w = sentinel();
    assert_eq!(orbit_ring_writer_open(r, &mut w), Status::Ok);
    let mut w2 = sentinel();
    assert_err(orbit_ring_writer_open(r, &mut w2), Status::Conflict);
    assert!(w2.is_null());
    let mut id = 0;
    assert_eq!(
        orbit_ring_writer_write(w, 4, 5, b"hello".as_ptr().cast(), 5, &mut id),
        Status::Ok
    );
    assert_err(
        orbit_ring_writer_write(w, 0, 0, null(), 1, null_mut()),
        Status::NullArgument,
    );
    assert_err(
        orbit_ring_writer_write(w, 0, 0, [0u8; 65].as_ptr().cast(), 65, null_mut()),
        Status::TooLarge,
    );
    // Wrong handle types are refused, not misused.
    assert_err(
        orbit_ring_writer_write(r as *mut orbit_ring_writer, 0, 0, null(), 0, null_mut()),
        Status::InvalidArgument,
    );
    assert_err(
        orbit_ring_write(w as *mut orbit_ring, 0, 0, null(), 0, null_mut()),
        Status::InvalidArgument,
    );
    let mut frame = orbit_frame::default();
    let mut buf = [0u8; 64];
    assert_eq!(
        orbit_ring_read(r, id, &mut frame, buf.as_mut_ptr().cast(), 64),
        Status::Ok
    );
    assert_eq!((frame.kind, frame.ver, &buf[..5]), (4, 5, &b"hello"[..]));
    orbit_ring_writer_free(w);
    orbit_ring_writer_free(w);
    assert!(last_error().contains("already freed"), "{}", last_error());
    let mut w3 = sentinel();
    assert_eq!(orbit_ring_writer_open(r, &mut w3), Status::Ok);
    // The writer keeps the ring mapped after the ring handle is freed.
    orbit_ring_free(r);
    assert_eq!(
        orbit_ring_writer_write(w3, 0, 0, b"after".as_ptr().cast(), 5, null_mut()),
        Status::Ok
    );
    orbit_ring_writer_free(w3);
    // Through an observer: read-only.
    let mut obs = sentinel();
    assert_eq!(orbit_fleet_observe(fx.name.as_ptr(), &mut obs), Status::Ok);
    let mut ro = sentinel();
    assert_eq!(
        orbit_ring_open(obs, cs("sw").as_ptr(), null(), &mut ro),
        Status::Ok
    );
    let mut w4 = sentinel();
    assert_err(orbit_ring_writer_open(ro, &mut w4), Status::ReadOnly);
    orbit_ring_free(ro);
    orbit_fleet_free(obs);
    assert_eq!(
        orbit_ring_unlink(fx.name.as_ptr(), cs("sw").as_ptr()),
        Status::Ok
    );
}
