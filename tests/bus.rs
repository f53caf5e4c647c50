//! The event bus across real processes. Children are this test binary run
//! again (`--exact child --nocapture`) with `ORBIT_TEST_ROLE` set; nothing
//! forks inside the test harness. Parent and children talk over a second bus.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orbit::{Bus, BusOptions, Fleet, FleetOptions, From, Subscription};

const ROLE: &str = "ORBIT_TEST_ROLE";
const FLEET: &str = "ORBIT_TEST_FLEET";
const ARG: &str = "ORBIT_TEST_ARG";
const LONG: Duration = Duration::from_secs(20);

fn spawn(role: &str, fleet: &str, arg: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(FLEET, fleet)
        .env(ARG, arg)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn unique(tag: &str) -> String {
    format!("tb{}-{tag}", std::process::id())
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; CLOCK_MONOTONIC is system-wide, so values
    // compare across processes.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn data_opts() -> BusOptions {
    BusOptions {
        capacity: 16,
        max_payload: 64,
        mode: 0,
    }
}

fn ctl_opts() -> BusOptions {
    BusOptions {
        capacity: 256,
        max_payload: 256,
        mode: 0,
    }
}

/// Waits for the next event on `sub` (which must match), as (topic, payload).
fn expect_event(sub: &mut Subscription) -> (String, Vec<u8>) {
    sub.wait(LONG).expect("event within the deadline");
    let e = sub.next_event().unwrap().unwrap();
    (e.topic, e.payload)
}

/// Entry point of every child process; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let fleet_name = std::env::var(FLEET).unwrap();
    let arg = std::env::var(ARG).unwrap();
    let fleet = Fleet::join(&fleet_name, &FleetOptions::default()).unwrap();
    let ctl = Bus::open(&fleet, "ctl", Some(&ctl_opts())).unwrap();
    match role.as_str() {
        "subscriber" => subscriber(&fleet, &ctl, &arg),
        "waiter" => waiter(&fleet, &ctl),
        other => panic!("unknown role {other}"),
    }
}

/// Phase 1: read the six events published before we started (replay from the
/// oldest), check the filter. Phase 2: wait for "go" while the parent wraps
/// the ring, then read what is left and report loss and payloads.
fn subscriber(fleet: &Fleet, ctl: &Bus, arg: &str) {
    let (idx, prefix) = arg.split_once(':').unwrap();
    let data = Bus::open(fleet, "data", None).unwrap();
    let prefix = (!prefix.is_empty()).then_some(prefix);
    let mut sub = data.subscribe(prefix, From::Oldest).unwrap();
    let expect = if prefix.is_none() { 6 } else { 3 };
    for _ in 0..expect {
        let (topic, _) = expect_event(&mut sub);
        assert!(topic.starts_with(prefix.unwrap_or("")), "{topic}");
    }
    assert!(
        sub.next_event().unwrap().is_none(),
        "exactly {expect} events"
    );
    let mut go = ctl.subscribe(Some("go"), From::Oldest).unwrap();
    ctl.publish(&format!("done.{idx}"), b"").unwrap();
    expect_event(&mut go);
    let mut vals = Vec::new();
    let mut first_lost = None;
    while let Some(e) = sub.next_event().unwrap() {
        first_lost.get_or_insert(e.info.lost);
        assert!(e.topic.starts_with(prefix.unwrap_or("")));
        vals.push(u32::from_le_bytes(e.payload[..4].try_into().unwrap()).to_string());
    }
    let report = format!(
        "lost={} first_lost={} vals={}",
        sub.lost(),
        first_lost.unwrap_or(0),
        vals.join(",")
    );
    ctl.publish(&format!("result.{idx}"), report.as_bytes())
        .unwrap();
}

/// Blocks in `wait` until the parent publishes a ping carrying its monotonic
/// send time, and reports (wake latency, time blocked).
fn waiter(fleet: &Fleet, ctl: &Bus) {
    let data = Bus::open(fleet, "data", None).unwrap();
    let mut sub = data.subscribe(Some("ping"), From::Head).unwrap();
    ctl.publish("ready", b"").unwrap();
    let t0 = monotonic_ns();
    sub.wait(LONG).unwrap();
    let woke = monotonic_ns();
    let e = sub.next_event().unwrap().unwrap();
    let sent = u64::from_le_bytes(e.payload[..8].try_into().unwrap());
    let report = format!("{} {}", woke.saturating_sub(sent), woke - t0);
    ctl.publish("result", report.as_bytes()).unwrap();
}

fn cleanup(fleet: &Fleet) {
    let _ = Bus::unlink(fleet.name(), "data");
    let _ = Bus::unlink(fleet.name(), "ctl");
    let _ = orbit::fleet::unlink(fleet.name());
}

#[test]
fn one_publisher_three_subscribers_filter_and_exact_loss() {
    let name = unique("fanout");
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let data = Bus::open(&fleet, "data", Some(&data_opts())).unwrap();
    let ctl = Bus::open(&fleet, "ctl", Some(&ctl_opts())).unwrap();
    let mut from_children = ctl.subscribe(None, From::Oldest).unwrap();
    for i in 0..3u32 {
        data.publish("orders.paid", &i.to_le_bytes()).unwrap();
        data.publish("users.new", &i.to_le_bytes()).unwrap();
    }
    let prefixes = ["", "orders.", "users."];
    let mut children: Vec<Child> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| spawn("subscriber", &name, &format!("{i}:{p}")))
        .collect();
    let mut done = 0;
    while done < 3 {
        let (topic, _) = expect_event(&mut from_children);
        done += topic.starts_with("done.") as usize;
    }
    // Phase 2: 40 events into 16 slots while every subscriber sits at
    // position 6: each loses exactly 40 - 16 = 24 frames (of both topics).
    for i in 0..40u32 {
        let topic = if i % 2 == 0 {
            "orders.paid"
        } else {
            "users.new"
        };
        data.publish(topic, &i.to_le_bytes()).unwrap();
    }
    ctl.publish("go", b"").unwrap();
    let mut results = vec![String::new(); 3];
    let mut got = 0;
    while got < 3 {
        let (topic, payload) = expect_event(&mut from_children);
        if let Some(i) = topic.strip_prefix("result.") {
            results[i.parse::<usize>().unwrap()] = String::from_utf8(payload).unwrap();
            got += 1;
        }
    }
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "a subscriber failed");
    }
    let list = |r: std::ops::Range<u32>, step: usize| {
        r.step_by(step)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        results[0],
        format!("lost=24 first_lost=24 vals={}", list(24..40, 1))
    );
    assert_eq!(
        results[1],
        format!("lost=24 first_lost=24 vals={}", list(24..40, 2))
    );
    assert_eq!(
        results[2],
        format!("lost=24 first_lost=24 vals={}", list(25..40, 2))
    );
    cleanup(&fleet);
}

#[test]
fn blocked_wait_wakes_on_a_publish_from_another_process() {
    let name = unique("wake");
    let fleet = Fleet::join(&name, &FleetOptions::default()).unwrap();
    let data = Bus::open(&fleet, "data", Some(&data_opts())).unwrap();
    let ctl = Bus::open(&fleet, "ctl", Some(&ctl_opts())).unwrap();
    let mut from_child = ctl.subscribe(None, From::Oldest).unwrap();
    let mut child = spawn("waiter", &name, "");
    assert_eq!(expect_event(&mut from_child).0, "ready");
    // Let the child reach its futex sleep, then publish.
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    data.publish("ping", &monotonic_ns().to_le_bytes()).unwrap();
    let (topic, payload) = expect_event(&mut from_child);
    let round = sent.elapsed();
    assert_eq!(topic, "result");
    let text = String::from_utf8(payload).unwrap();
    let (latency, blocked) = text.split_once(' ').unwrap();
    let latency = Duration::from_nanos(latency.parse().unwrap());
    let blocked = Duration::from_nanos(blocked.parse().unwrap());
    assert!(child.wait().unwrap().success());
    eprintln!("wake latency {latency:?} after blocking {blocked:?} (round trip {round:?})");
    assert!(
        blocked >= Duration::from_millis(50),
        "the child did not block"
    );
    assert!(
        latency < Duration::from_millis(500),
        "woke after {latency:?}"
    );
    cleanup(&fleet);
}
