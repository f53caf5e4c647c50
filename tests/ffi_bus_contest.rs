//! Bad input through the bus and contest C functions, called from Rust: NULL
//! for every pointer, malformed topics and subjects, impossible lengths,
//! reserved option fields, double frees, handles outliving the fleet handle
//! they came from. Nothing may crash; every failure is a status, and
//! constructors set `*out = NULL`.

use std::ffi::{CString, c_char};
use std::ptr::{null, null_mut};

use orbit::Status;
use orbit::ffi::*;

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A non-NULL pointer that is not a handle: constructors must overwrite it.
fn sentinel<T>() -> *mut T {
    std::ptr::dangling_mut()
}

struct Fx {
    name: CString,
    f: *mut orbit_fleet,
    b: *mut orbit_bus,
}

impl Fx {
    fn new(tag: &str) -> Fx {
        let name = cs(&format!("fb{}-{tag}", std::process::id()));
        let mut f = sentinel();
        assert_eq!(orbit_fleet_join(name.as_ptr(), null(), &mut f), Status::Ok);
        let mut o = unsafe_zeroed_bus_options();
        orbit_bus_options_init(&mut o);
        o.capacity = 8;
        o.max_payload = 16;
        let mut b = sentinel();
        assert_eq!(orbit_bus_open(f, cs("b").as_ptr(), &o, &mut b), Status::Ok);
        Fx { name, f, b }
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        orbit_bus_free(self.b);
        orbit_fleet_free(self.f);
        let _ = orbit_bus_unlink(self.name.as_ptr(), cs("b").as_ptr());
        let _ = orbit_contest_unlink(self.name.as_ptr());
        let _ = orbit_fleet_unlink(self.name.as_ptr());
    }
}

fn unsafe_zeroed_bus_options() -> orbit_bus_options {
    orbit_bus_options {
        capacity: 0,
        max_payload: 0,
        mode: 0,
        reserved: [0; 6],
    }
}

#[test]
fn null_for_every_pointer_argument() {
    let fx = Fx::new("null");
    let t = cs("t");
    let mut out_b = sentinel();
    assert_eq!(
        orbit_bus_open(null_mut(), t.as_ptr(), null(), &mut out_b),
        Status::NullArgument
    );
    assert!(out_b.is_null());
    out_b = sentinel();
    assert_eq!(
        orbit_bus_open(fx.f, null(), null(), &mut out_b),
        Status::NullArgument
    );
    assert!(out_b.is_null());
    assert_eq!(
        orbit_bus_open(fx.f, t.as_ptr(), null(), null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_bus_publish(null_mut(), t.as_ptr(), null(), 0, null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_bus_publish(fx.b, null(), null(), 0, null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_bus_publish(fx.b, t.as_ptr(), null(), 3, null_mut()),
        Status::NullArgument
    );
    let mut s = sentinel();
    assert_eq!(
        orbit_bus_subscribe(null(), null(), ORBIT_FROM_HEAD, &mut s),
        Status::NullArgument
    );
    assert!(s.is_null());
    assert_eq!(
        orbit_bus_subscribe(fx.b, null(), ORBIT_FROM_HEAD, null_mut()),
        Status::NullArgument
    );
    assert_eq!(
        orbit_bus_subscribe(fx.b, null(), ORBIT_FROM_OLDEST, &mut s),
        Status::Ok
    );
    let mut e = orbit_event::default();
    assert_eq!(
        orbit_subscription_next(null_mut(), &mut e, null_mut(), 0, null_mut(), 0),
        Status::NullArgument
    );
    assert_eq!(
        orbit_subscription_next(s, null_mut(), null_mut(), 0, null_mut(), 0),
        Status::NullArgument
    );
    assert_eq!(
        orbit_subscription_next(s, &mut e, null_mut(), 4, null_mut(), 0),
        Status::NullArgument
    );
    assert_eq!(
        orbit_subscription_next(s, &mut e, null_mut(), 0, null_mut(), 4),
        Status::NullArgument
    );
    assert_eq!(orbit_subscription_wait(null_mut(), 0), Status::NullArgument);
    assert_eq!(orbit_subscription_lost(null()), 0);
    assert_eq!(orbit_bus_unlink(null(), t.as_ptr()), Status::NullArgument);
    assert_eq!(
        orbit_bus_unlink(fx.name.as_ptr(), null()),
        Status::NullArgument
    );
    orbit_subscription_free(s);

    let mut l = sentinel();
    assert_eq!(
        orbit_contest_claim(null_mut(), t.as_ptr(), 10, &mut l),
        Status::NullArgument
    );
    assert!(l.is_null());
    assert_eq!(
        orbit_contest_claim(fx.f, null(), 10, &mut l),
        Status::NullArgument
    );
    assert_eq!(
        orbit_contest_claim(fx.f, t.as_ptr(), 10, null_mut()),
        Status::NullArgument
    );
    let mut h = orbit_holder::default();
    assert_eq!(
        orbit_contest_holder(null(), t.as_ptr(), &mut h),
        Status::NullArgument
    );
    assert_eq!(
        orbit_contest_holder(fx.f, null(), &mut h),
        Status::NullArgument
    );
    assert_eq!(
        orbit_contest_holder(fx.f, t.as_ptr(), null_mut()),
        Status::NullArgument
    );
    assert_eq!(orbit_contest_open(null_mut(), null()), Status::NullArgument);
    assert_eq!(orbit_lease_token(null()), 0);
    assert_eq!(orbit_lease_renew(null_mut(), 1), Status::NullArgument);
    assert_eq!(orbit_lease_release(null_mut()), Status::NullArgument);
    assert_eq!(orbit_contest_unlink(null()), Status::NullArgument);
    let mut n = 7usize;
    assert_eq!(
        orbit_fleet_heartbeats(null(), null_mut(), 0, &mut n),
        Status::NullArgument
    );
    assert_eq!(
        orbit_fleet_heartbeats(fx.f, null_mut(), 0, null_mut()),
        Status::NullArgument
    );
    orbit_bus_free(null_mut());
    orbit_subscription_free(null_mut());
    orbit_lease_free(null_mut());
    orbit_bus_options_init(null_mut());
    orbit_contest_options_init(null_mut());
}

#[test]
fn malformed_topics_subjects_and_lengths() {
    let fx = Fx::new("bad");
    let bad_utf8: &[u8] = b"\xff\0";
    for topic in [
        &b"\0"[..],
        bad_utf8,
        &[b'x'; 256]
            .iter()
            .chain(b"\0")
            .copied()
            .collect::<Vec<u8>>(),
    ] {
        assert_eq!(
            orbit_bus_publish(fx.b, topic.as_ptr() as *const c_char, null(), 0, null_mut()),
            Status::InvalidArgument
        );
        let mut l = sentinel();
        assert_eq!(
            orbit_contest_claim(fx.f, topic.as_ptr() as *const c_char, 10, &mut l),
            Status::InvalidArgument
        );
        assert!(l.is_null());
    }
    let one = [1u8];
    assert_eq!(
        orbit_bus_publish(
            fx.b,
            cs("t").as_ptr(),
            one.as_ptr().cast(),
            usize::MAX,
            null_mut()
        ),
        Status::InvalidArgument
    );
    assert_eq!(
        orbit_bus_publish(fx.b, cs("t").as_ptr(), one.as_ptr().cast(), 17, null_mut()),
        Status::TooLarge
    );
    let mut s = sentinel();
    assert_eq!(
        orbit_bus_subscribe(fx.b, cs("t").as_ptr(), 2, &mut s),
        Status::InvalidArgument
    );
    assert!(s.is_null());
    assert_eq!(
        orbit_bus_subscribe(fx.b, bad_utf8.as_ptr() as *const c_char, 0, &mut s),
        Status::InvalidArgument
    );
    // A topic buffer without room for the NUL is too small; nothing consumed.
    assert_eq!(
        orbit_bus_subscribe(fx.b, null(), ORBIT_FROM_OLDEST, &mut s),
        Status::Ok
    );
    assert_eq!(
        orbit_bus_publish(fx.b, cs("abc").as_ptr(), one.as_ptr().cast(), 1, null_mut()),
        Status::Ok
    );
    let mut e = orbit_event::default();
    let mut topic = [0 as c_char; 4];
    let mut buf = [0u8; 4];
    assert_eq!(
        orbit_subscription_next(s, &mut e, topic.as_mut_ptr(), 3, buf.as_mut_ptr().cast(), 4),
        Status::BufferTooSmall
    );
    assert_eq!((e.topic_len, e.len), (3, 1));
    assert_eq!(
        orbit_subscription_next(
            s,
            &mut e,
            topic.as_mut_ptr(),
            4,
            buf.as_mut_ptr().cast(),
            usize::MAX
        ),
        Status::InvalidArgument
    );
    assert_eq!(
        orbit_subscription_next(s, &mut e, topic.as_mut_ptr(), 4, buf.as_mut_ptr().cast(), 4),
        Status::Ok
    );
    assert_eq!(topic[3], 0);
    orbit_subscription_free(s);
    let mut l = sentinel();
    assert_eq!(
        orbit_contest_claim(fx.f, cs("s").as_ptr(), 0, &mut l),
        Status::InvalidArgument
    );
    let mut o = orbit_contest_options {
        capacity: 0,
        mode: 0,
        reserved: [0; 6],
    };
    orbit_contest_options_init(&mut o);
    o.reserved[3] = 9;
    assert_eq!(orbit_contest_open(fx.f, &o), Status::InvalidArgument);
    orbit_contest_options_init(&mut o);
    o.capacity = 65537;
    assert_eq!(orbit_contest_open(fx.f, &o), Status::InvalidArgument);
    o.mode = 0o7777;
    o.capacity = 4;
    assert_eq!(orbit_contest_open(fx.f, &o), Status::InvalidArgument);
}

#[test]
fn leases_and_subscriptions_outlive_their_handles_and_double_free_is_harmless() {
    let fx = Fx::new("free");
    let mut l = sentinel();
    assert_eq!(
        orbit_contest_claim(fx.f, cs("s").as_ptr(), 60_000, &mut l),
        Status::Ok
    );
    let mut s = sentinel();
    assert_eq!(
        orbit_bus_subscribe(fx.b, null(), ORBIT_FROM_OLDEST, &mut s),
        Status::Ok
    );
    // A second fleet handle of the same process: its own node, its own table handle.
    let mut g = sentinel();
    assert_eq!(
        orbit_fleet_join(fx.name.as_ptr(), null(), &mut g),
        Status::Ok
    );
    let mut b2 = sentinel();
    assert_eq!(
        orbit_bus_open(g, cs("b").as_ptr(), null(), &mut b2),
        Status::Ok
    );
    orbit_fleet_free(g);
    assert_eq!(
        orbit_bus_publish(b2, cs("t").as_ptr(), null(), 0, null_mut()),
        Status::Ok
    );
    orbit_bus_free(b2);
    let mut e = orbit_event::default();
    let mut topic = [0 as c_char; 8];
    assert_eq!(
        orbit_subscription_next(s, &mut e, topic.as_mut_ptr(), 8, null_mut(), 0),
        Status::Ok
    );
    orbit_subscription_free(s);
    orbit_subscription_free(s);
    assert_eq!(orbit_lease_release(l), Status::Ok);
    assert_eq!(orbit_lease_release(l), Status::Ok);
    assert_eq!(orbit_lease_renew(l, 10), Status::LeaseLost);
    orbit_lease_free(l);
    orbit_lease_free(l);
    let mut h = orbit_holder::default();
    assert_eq!(
        orbit_contest_holder(fx.f, cs("s").as_ptr(), &mut h),
        Status::NotFound
    );
    let mut rows: [orbit_heartbeat; 0] = [];
    let mut n = 0usize;
    assert_eq!(orbit_fleet_heartbeat(fx.f), Status::Ok);
    assert_eq!(
        orbit_fleet_heartbeats(fx.f, rows.as_mut_ptr(), 0, &mut n),
        Status::BufferTooSmall
    );
    assert_eq!(n, 1);
}
