//! The `orbit` command line, run as a separate process against fleets this
//! test makes: output, `--json`, exit codes and one-line errors of every
//! command. (The Prometheus output is also parsed by `prometheus_client` in
//! `make cli-test`; `top` is also driven through tmux there.)

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orbit::shm::scan;
use orbit::{
    Bus, BusOptions, CacheOptions, Contest, Fleet, FleetOptions, OrbitCache, Ring, RingOptions,
};
use serde_json::Value;

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn orbit(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run orbit");
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Run {
    /// Asserts success and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:#?}");
        self.out
    }

    /// Asserts exit `code` with exactly one line on stderr naming `needle`.
    fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.code, code, "{self:#?}");
        assert_eq!(self.err.lines().count(), 1, "one-line error: {self:#?}");
        assert!(self.err.starts_with("orbit"), "{self:#?}");
        assert!(self.err.contains(needle), "{needle:?} in {self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Removes every segment of a fleet, whatever made it.
struct Cleanup(String);

impl Cleanup {
    fn new(tag: &str) -> Cleanup {
        let c = Cleanup(common::unique_fleet(tag));
        c.remove();
        c
    }
    fn remove(&self) {
        for s in scan::scan(scan::current_uid(), Some(&self.0)).unwrap() {
            let _ = std::fs::remove_file(&s.path);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.remove();
    }
}

fn join(fleet: &str, label: &str) -> Fleet {
    Fleet::join(
        fleet,
        &FleetOptions {
            label: label.into(),
            ..FleetOptions::default()
        },
    )
    .unwrap()
}

fn ring(f: &Fleet, name: &str, capacity: u64) -> Ring {
    Ring::open(
        f,
        name,
        Some(&RingOptions {
            capacity,
            max_payload: 64,
            kind: 9,
            mode: 0,
            single_writer: false,
        }),
    )
    .unwrap()
}

fn bus(f: &Fleet, name: &str, capacity: u64) -> Bus {
    Bus::open(
        f,
        name,
        Some(&BusOptions {
            capacity,
            max_payload: 64,
            mode: 0,
        }),
    )
    .unwrap()
}

fn cache(f: &Fleet, name: &str) -> OrbitCache {
    OrbitCache::open(
        f,
        name,
        Some(&CacheOptions {
            capacity: 64,
            max_key: 32,
            max_value: 48,
            mode: 0,
        }),
    )
    .unwrap()
}

/// Child processes: members (and observers) that wait until killed or told
/// to leave on stdin.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    let fleet: String = common::param("FLEET");
    match role.as_str() {
        "member" => {
            let f = join(&fleet, &common::param::<String>("LABEL"));
            common::report(format!("joined {}", f.node_id().unwrap()));
            common::read_stdin_line();
        }
        "observer" => {
            let f = Fleet::observe(&fleet).unwrap();
            let _r = Ring::open(&f, "r", None).unwrap();
            common::report("observing");
            common::read_stdin_line();
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn_member(fleet: &str, label: &str) -> common::ChildProc {
    let mut c = common::spawn(
        "member",
        &[("FLEET", fleet.into()), ("LABEL", label.into())],
    );
    c.expect("joined", Duration::from_secs(10));
    c
}

#[test]
fn help_exists_for_every_command_and_documents_exit_codes() {
    let top = orbit(&["--help"]).ok();
    for code in [
        "0  success",
        "1  operational",
        "2  usage",
        "3  not found",
        "4  refused",
    ] {
        assert!(top.contains(code), "{code} in {top}");
    }
    let commands = [
        "ls",
        "stat",
        "top",
        "members",
        "tail",
        "cache get",
        "cache set",
        "cache del",
        "cache keys",
        "clean",
        "bench",
        "version",
    ];
    for c in commands {
        assert!(top.contains(&format!("\n  {c} ")), "{c} listed in {top}");
        let mut args: Vec<&str> = c.split(' ').collect();
        args.push("--help");
        let h = orbit(&args).ok();
        assert!(h.contains(&format!("Usage: orbit {c}")), "{c}: {h}");
        assert!(h.contains("-h, --help"), "{c}: {h}");
        // `orbit help <command>` is the same text.
        let mut via_help = vec!["help"];
        via_help.extend(c.split(' '));
        assert_eq!(orbit(&via_help).ok(), h);
    }
    assert!(
        orbit(&["cache", "--help"])
            .ok()
            .contains("orbit cache keys")
    );
    assert!(orbit(&["stat", "--help"]).ok().contains("_total"));
    assert!(orbit(&["clean", "--help"]).ok().contains("--force"));
    let v = orbit(&["--version"]).ok();
    assert!(v.starts_with(&format!("orbit {}", orbit::VERSION)), "{v}");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let r = orbit(&[]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.err.contains("Usage"));
    orbit(&["frobnicate"]).fails(2, "unknown command \"frobnicate\"");
    orbit(&["ls", "--frob"]).fails(2, "unknown option --frob");
    orbit(&["ls", "a", "b"]).fails(2, "unexpected argument");
    orbit(&["members"]).fails(2, "missing arguments");
    orbit(&["ls", "a/b"]).fails(2, "contains '/'");
    orbit(&["ls", &"x".repeat(49)]).fails(2, "longer than 48");
    orbit(&["stat"]).fails(2, "missing argument <fleet>");
    orbit(&["stat", "f", "--json", "--prometheus"]).fails(2, "exclude each other");
    orbit(&["stat", "f", "--interval", "soon"]).fails(2, "--interval \"soon\"");
    orbit(&["stat", "f", "--interval"]).fails(2, "needs a value");
    orbit(&["tail", "f", "r", "--count", "-3"]).fails(2, "--count");
    orbit(&["tail", "f", "r", "--from", "yesterday"]).fails(2, "--from");
    orbit(&["tail", "f", "r", "--kind", "queue"]).fails(2, "ring, bus");
    orbit(&["cache"]).fails(2, "get, set, del or keys");
    orbit(&["cache", "put", "f", "c"]).fails(2, "unknown cache command");
    orbit(&["cache", "get", "f", "c", "zz", "--hex"]).fails(2, "not hex");
    orbit(&["ls", "--json=yes"]).fails(2, "takes no value");
    orbit(&["bench", "--duration", "0"]).fails(2, "above 0");
    orbit(&["cache", "set", "f", "c", "k", "v", "--ttl", "0"]).fails(2, "leave --ttl out");
}

#[test]
fn ls_lists_segments_with_geometry_creator_and_problems() {
    let c = Cleanup::new("ls");
    let f = join(&c.0, "lister");
    let _r = ring(&f, "events", 16);
    let _k = cache(&f, "kv");
    // A foreign file under a ring name is listed with what is wrong with it.
    let foreign = format!("/dev/shm/orbit:{}:{}:ring:junk", scan::current_uid(), c.0);
    std::fs::write(&foreign, [0xabu8; 256]).unwrap();

    let text = orbit(&["ls", &c.0]).ok();
    assert!(
        text.starts_with(&format!("fleet {}  (4 segments", c.0)),
        "{text}"
    );
    let me = format!("pid {}", std::process::id());
    for want in [
        "fleet  members",
        "256 node slots",
        "ring   events",
        "16 slots x 64 B, kind 9",
        "cache  kv",
        "64 entries, key <= 32 B, value <= 48 B",
        "not an orbit segment",
        &me,
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }

    let j = orbit(&["ls", &c.0, "--json"]).json();
    assert_eq!(j["uid"], scan::current_uid());
    let fleets = j["fleets"].as_array().unwrap();
    assert_eq!(fleets.len(), 1);
    let segs = fleets[0]["segments"].as_array().unwrap();
    let ev = segs.iter().find(|s| s["name"] == "events").unwrap();
    assert_eq!(ev["kind"], "ring");
    assert_eq!(ev["state"], "ready");
    assert_eq!(ev["creator_pid"], std::process::id());
    assert_eq!(ev["creator_alive"], true);
    assert_eq!(ev["geometry"]["capacity"], 16);
    assert_eq!(ev["geometry"]["max_payload"], 64);
    assert_eq!(ev["mode"], "0600");
    assert!(ev["age_ms"].as_u64().unwrap() < 60_000);
    let junk = segs.iter().find(|s| s["name"] == "junk").unwrap();
    assert_eq!(junk["state"], "foreign");

    // Listing everything includes this fleet too.
    let all = orbit(&["ls", "--json"]).json();
    assert!(
        all["fleets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["fleet"] == c.0.as_str())
    );
    orbit(&["ls", &format!("{}-none", c.0)]).fails(3, "no fleet");

    // The owner-qualified name `<uid>:<fleet>` (how another user names a
    // group-shared fleet) lists and opens the same segments.
    let qualified = format!("{}:{}", scan::current_uid(), c.0);
    let q = orbit(&["ls", &qualified, "--json"]).json();
    let paths = |v: &serde_json::Value| -> Vec<String> {
        v["fleets"][0]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths(&q), paths(&j));
    assert_eq!(q["uid"], scan::current_uid());
    let st = orbit(&["stat", &qualified]).ok();
    assert!(st.contains("events"), "{st}");
    orbit(&["ls", &format!("{}:{}", scan::current_uid() + 1, c.0)]).fails(3, "no fleet");
    orbit(&["stat", &format!("x:{}", c.0)]).fails(2, "<uid>:<fleet>");
}

#[test]
fn stat_shows_members_counters_and_rates() {
    let c = Cleanup::new("stat");
    let f = join(&c.0, "statwriter");
    let r = ring(&f, "events", 32);
    let k = cache(&f, "kv");
    for i in 0..100u64 {
        r.write(1, i, b"x").unwrap();
    }
    k.set(b"a", b"1", 0).unwrap();
    assert!(k.get(b"a").unwrap().is_some());
    assert!(k.get(b"b").unwrap().is_none());
    let b = bus(&f, "news", 16);
    for i in 0..5 {
        b.publish("orders.paid", format!("{i}").as_bytes()).unwrap();
    }
    let contest = Contest::open(&f, None).unwrap();
    let lease = contest.claim("leader", Duration::from_secs(60)).unwrap();
    // A writer keeps writing while stat samples, so the rate is above zero.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (r, stop) = (r.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                r.write(1, 0, b"y").unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let j = orbit(&["stat", &c.0, "--json", "--interval", "200ms"]).json();
    let text = orbit(&["stat", &c.0, "--interval", "100ms"]).ok();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();

    assert_eq!(j["fleet"], c.0.as_str());
    assert!(
        (j["interval_s"].as_f64().unwrap() - 0.2).abs() < 0.15,
        "{j}"
    );
    let m = &j["members"][0];
    assert_eq!(m["label"], "statwriter");
    assert_eq!(m["state"], "alive");
    assert_eq!(m["pid"], std::process::id());
    let rj = j["rings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "events")
        .unwrap();
    assert!(rj["head"].as_u64().unwrap() > 100);
    assert_eq!(
        rj["overwritten"].as_u64().unwrap(),
        rj["head"].as_u64().unwrap() - 32
    );
    assert_eq!(rj["takeovers"], 0);
    assert!(rj["writes_per_s"].as_f64().unwrap() > 0.0, "{rj}");
    let cj = &j["caches"][0];
    assert_eq!(
        (&cj["hits"], &cj["misses"], &cj["sets"], &cj["entries"]),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        )
    );
    assert_eq!(cj["gets_per_s"], 0.0);
    assert_eq!(cj["hit_ratio"], Value::Null, "no gets in the interval");
    assert_eq!(j["problems"].as_array().unwrap().len(), 0);
    let bj = &j["buses"][0];
    assert_eq!(
        (&bj["name"], &bj["published"]),
        (&Value::from("news"), &Value::from(5))
    );
    assert_eq!(
        (&bj["capacity"], &bj["max_payload"]),
        (&Value::from(16), &Value::from(64))
    );
    let lj = &j["leases"];
    assert_eq!(lj["capacity"], 256);
    let h = &lj["holders"][0];
    assert_eq!(h["subject"], "leader");
    assert_eq!(h["node_id"], f.node_id().unwrap());
    assert_eq!(h["pid"], std::process::id());
    assert_eq!(h["token"], lease.token());

    for want in [
        "1 member (1 alive, 0 stale, 0 dead), 2 rings, 1 cache, 1 bus, 1 lease held",
        "LEASE",
        "leader",
        "BUS",
        "news",
        "1 of 256 subjects held",
        "statwriter",
        "WRITES/S",
        "events",
        "HIT%",
        "50.0%",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }

    // A name narrows the view; an unknown one is not found.
    let only = orbit(&["stat", &c.0, "kv", "--json", "--interval", "10ms"]).json();
    assert_eq!(only["rings"].as_array().unwrap().len(), 0);
    assert_eq!(only["buses"].as_array().unwrap().len(), 0);
    assert_eq!(only["leases"], Value::Null);
    assert_eq!(only["caches"].as_array().unwrap().len(), 1);
    drop(lease);
    orbit(&["stat", &c.0, "nope", "--interval", "10ms"]).fails(3, "no object named \"nope\"");
    orbit(&["stat", &format!("{}-none", c.0)]).fails(3, "no fleet");

    // An object whose segment is damaged is reported, not fatal.
    let junk = format!("/dev/shm/orbit:{}:{}:cache:junk", scan::current_uid(), c.0);
    std::fs::write(&junk, [0u8; 64]).unwrap();
    let j = orbit(&["stat", &c.0, "--json", "--interval", "10ms"]).json();
    let p = &j["problems"][0];
    assert_eq!(
        (&p["kind"], &p["name"]),
        (&Value::from("cache"), &Value::from("junk"))
    );
    assert!(p["problem"].as_str().unwrap().contains("truncated"), "{p}");
}

#[test]
fn prometheus_output_follows_the_conventions() {
    let c = Cleanup::new("prom");
    let f = join(&c.0, "say \"hi\"");
    let r = ring(&f, "events", 16);
    for _ in 0..20 {
        r.write(0, 0, b"z").unwrap();
    }
    let k = cache(&f, "kv");
    k.set(b"a", b"1", 0).unwrap();
    k.get(b"a").unwrap();
    let b = bus(&f, "news", 8);
    for _ in 0..11 {
        b.publish("t", b"").unwrap();
    }
    let contest = Contest::open(&f, None).unwrap();
    let _lease = contest.claim("leader", Duration::from_secs(60)).unwrap();
    let text = orbit(&["stat", &c.0, "--prometheus"]).ok();
    let mut families = std::collections::HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name.starts_with("orbit_"), "{line}");
            assert!(
                families.insert(name.to_string(), String::new()).is_none(),
                "one HELP per family: {name}"
            );
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(Some(name), current.as_deref(), "TYPE follows HELP");
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            families.insert(name.to_string(), kind.to_string());
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(
                Some(name),
                current.as_deref(),
                "samples stay with their family: {line}"
            );
            assert!(line.contains(&format!("fleet=\"{}\"", c.0)), "{line}");
        }
    }
    for want in [
        format!(
            "orbit_ring_writes_total{{fleet=\"{}\",name=\"events\"}} 20",
            c.0
        ),
        format!(
            "orbit_ring_overwritten_frames_total{{fleet=\"{}\",name=\"events\"}} 4",
            c.0
        ),
        format!("orbit_cache_hits_total{{fleet=\"{}\",name=\"kv\"}} 1", c.0),
        format!("orbit_fleet_members{{fleet=\"{}\",state=\"alive\"}} 1", c.0),
        format!(
            "orbit_segment_size_bytes{{fleet=\"{}\",kind=\"ring\",name=\"events\"}}",
            c.0
        ),
        "label=\"say \\\"hi\\\"\"".to_string(),
    ] {
        assert!(text.contains(&want), "{want} in\n{text}");
    }
    // Without a fleet: every fleet of this user, this one included.
    let all = orbit(&["stat", "--prometheus"]).ok();
    assert!(all.contains(&format!("fleet=\"{}\"", c.0)));
    assert_eq!(
        all.matches("# TYPE orbit_ring_writes_total counter")
            .count(),
        1,
        "one family across fleets"
    );
    orbit(&["stat", "--prometheus", "--interval", "1s"]).fails(2, "--interval");
}

#[test]
fn members_shows_alive_and_dead_nodes() {
    let c = Cleanup::new("members");
    let f = join(&c.0, "parent");
    for _ in 0..3 {
        f.heartbeat().unwrap();
    }
    let mut child = spawn_member(&c.0, "doomed");
    let j = orbit(&["members", &c.0, "--json"]).json();
    let rows = j.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let parent = rows.iter().find(|m| m["label"] == "parent").unwrap();
    assert_eq!(parent["beats_in_history"], 3);
    let doomed = rows.iter().find(|m| m["label"] == "doomed").unwrap();
    assert_eq!(doomed["state"], "alive");
    assert_eq!(doomed["pid"], child.pid());
    child.kill9();
    let text = orbit(&["members", &c.0]).ok();
    let line = text.lines().find(|l| l.contains("doomed")).unwrap();
    assert!(line.contains(" dead "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("parent") && l.contains(" alive "))
    );
    assert!(text.starts_with("NODE"), "{text}");
    orbit(&["members", &format!("{}-none", c.0)]).fails(3, "no fleet");
}

#[test]
fn tail_prints_text_hex_and_loss() {
    let c = Cleanup::new("tail");
    let f = join(&c.0, "w");
    let r = ring(&f, "events", 8);
    r.write(1, 10, b"order \"1\"\npaid").unwrap();
    r.write(2, 11, &[0, 1, 0xfe]).unwrap();
    let out = orbit(&["tail", &c.0, "events", "--from", "oldest", "--count", "2"]);
    assert!(out.err.contains("2 frames shown, 0 lost"), "{out:#?}");
    let node = f.node_id().unwrap();
    assert_eq!(
        out.ok(),
        format!(
            "#0 id=9:{node}:0 kind=1 ver=10 len=14 \"order \\\"1\\\"\\npaid\"\n\
             #1 id=9:{node}:1 kind=2 ver=11 len=3 0x0001fe\n"
        )
    );
    // 20 frames in a ring of 8: starting at position 0, the first 12 are lost.
    for i in 2..20u64 {
        r.write(0, i, format!("f{i}").as_bytes()).unwrap();
    }
    let out = orbit(&["tail", &c.0, "events", "--from", "0", "--count", "3"]);
    assert!(out.err.contains("3 frames shown, 12 lost"), "{out:#?}");
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "-- lost 12 frames --");
    assert!(
        lines[1].starts_with("#12 ") && lines[1].ends_with("\"f12\""),
        "{text}"
    );
    assert!(lines[3].starts_with("#14 "), "{text}");
    // JSON lines: the loss rides on the frame; binary payloads have no text.
    let out = orbit(&[
        "tail", &c.0, "events", "--from", "10", "--count", "2", "--json",
    ])
    .ok();
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["position"], 12);
    assert_eq!(rows[0]["lost"], 2);
    assert_eq!(rows[0]["payload"], "f12");
    assert_eq!(rows[0]["payload_hex"], "663132");
    assert_eq!(rows[0]["node"], node);
    assert_eq!(rows[1]["lost"], 0);
    // Starting past what is held skips to that position; --timeout ends an idle tail.
    let out = orbit(&["tail", &c.0, "events", "--from", "18", "--timeout", "300ms"]).ok();
    assert_eq!(out.lines().count(), 2, "{out}");
    let t = Instant::now();
    let out = orbit(&["tail", &c.0, "events", "--timeout", "200ms"]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(out.err.contains("0 frames shown"), "{out:#?}");
    assert_eq!(out.ok(), "");

    orbit(&["tail", &c.0, "nope"]).fails(3, "no ring or bus named \"nope\"");
    orbit(&["tail", &c.0, "events", "--kind", "bus"]).fails(3, "no bus named");
    orbit(&["tail", &c.0, "events", "--topic", "x"]).fails(2, "is a ring");
    let junk = format!("/dev/shm/orbit:{}:{}:ring:junk", scan::current_uid(), c.0);
    std::fs::write(&junk, [0xabu8; 256]).unwrap();
    orbit(&["tail", &c.0, "junk"]).fails(1, "incompatible");
}

#[test]
fn tail_follows_a_bus_with_a_topic_filter() {
    let c = Cleanup::new("tailbus");
    let f = join(&c.0, "p");
    let b = bus(&f, "news", 16);
    b.publish("orders.paid", b"order 1").unwrap();
    b.publish("audit", &[0, 1, 2]).unwrap();
    b.publish("orders.new", b"order 2").unwrap();
    let out = orbit(&["tail", &c.0, "news", "--from", "oldest", "--count", "3"]);
    assert!(out.err.contains("3 events shown, 0 lost"), "{out:#?}");
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    let node = f.node_id().unwrap();
    assert!(
        lines[0].starts_with(&format!("id=220:{node}:0 at=")),
        "{text}"
    );
    assert!(
        lines[0].ends_with(" topic=orders.paid len=7 \"order 1\""),
        "{text}"
    );
    assert!(lines[1].ends_with(" topic=audit len=3 0x000102"), "{text}");
    let out = orbit(&[
        "tail",
        &c.0,
        "news",
        "--from",
        "oldest",
        "--topic",
        "orders.",
        "--json",
        "--timeout",
        "200ms",
    ]);
    assert!(out.err.contains("1 of other topics skipped"), "{out:#?}");
    let rows: Vec<Value> = out
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["topic"], "orders.new");
    assert_eq!(rows[1]["payload"], "order 2");
    assert_eq!(rows[1]["node"], node);
    assert!(rows[1]["timestamp_ms"].as_u64().unwrap() > 1_600_000_000_000);
    orbit(&["tail", &c.0, "news", "--from", "2"]).fails(2, "oldest or head");
    orbit(&["tail", &c.0, "news", "--kind", "ring"]).fails(3, "no ring named");
    // A ring and a bus of one name need --kind.
    let _r = ring(&f, "news", 8);
    orbit(&["tail", &c.0, "news"]).fails(2, "--kind ring or --kind bus");
    orbit(&[
        "tail", &c.0, "news", "--kind", "bus", "--from", "oldest", "--count", "1",
    ])
    .ok();
}

#[test]
fn tail_follows_live_writes_and_stops_on_ctrl_c() {
    let c = Cleanup::new("follow");
    let f = join(&c.0, "w");
    let r = ring(&f, "live", 64);
    // --from head sees only what comes after it attached: write until it exits.
    let mut child = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["tail", &c.0, "live", "--count", "3", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let mut i = 0u64;
    while child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(20), "tail did not finish");
        r.write(0, i, format!("live {i}").as_bytes()).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let rows: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    let first = rows[0]["position"].as_u64().unwrap();
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(
            row["position"],
            first + k as u64,
            "consecutive, nothing lost"
        );
        assert_eq!(row["lost"], 0);
        assert_eq!(row["payload"], format!("live {}", first + k as u64));
    }

    // Without --count it runs until interrupted, then exits 0 with a summary.
    let child = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["tail", &c.0, "live"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    r.write(0, 0, b"seen").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"seen\""));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 frame shown"));
}

#[test]
fn cache_commands_read_write_and_report() {
    let c = Cleanup::new("cache");
    let f = join(&c.0, "owner");
    let k = cache(&f, "kv");
    k.set(b"greeting", b"hello world", 0).unwrap();
    k.set(&[0, 1], &[0xff, 0], 0).unwrap();
    let hits_before = k.stats().hits;

    assert_eq!(
        orbit(&["cache", "get", &c.0, "kv", "greeting"]).ok(),
        "hello world\n"
    );
    assert_eq!(
        orbit(&["cache", "get", &c.0, "kv", "0001", "--hex"]).ok(),
        "0xff00\n"
    );
    let raw = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["cache", "get", &c.0, "kv", "0x0001", "--hex", "--raw"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, [0xff, 0]);
    let j = orbit(&["cache", "get", &c.0, "kv", "greeting", "--json"]).json();
    assert_eq!(j["value"], "hello world");
    assert_eq!(j["key_hex"], "6772656574696e67");
    assert_eq!(j["len"], 11);
    assert_eq!(j["ttl_ms"], Value::Null);
    assert!(j["version"].as_str().unwrap().contains(':'));
    assert_eq!(
        k.stats().hits,
        hits_before,
        "reads through an observer count nothing"
    );

    k.incr(b"count", 41, 0).unwrap();
    k.incr(b"count", 1, 0).unwrap();
    assert_eq!(
        orbit(&["cache", "get", &c.0, "kv", "count", "--int"]).ok(),
        "42\n"
    );
    assert_eq!(
        orbit(&["cache", "get", &c.0, "kv", "count", "--json"]).json()["counter"],
        42
    );
    orbit(&["cache", "get", &c.0, "kv", "greeting", "--int"]).fails(1, "a counter is 8");
    k.delete(b"count").unwrap();
    orbit(&["cache", "set", &c.0, "kv", "n", "42", "--ttl", "1m"]).ok();
    assert_eq!(k.get(b"n").unwrap().as_deref(), Some(&b"42"[..]));
    let j = orbit(&["cache", "get", &c.0, "kv", "n", "--json"]).json();
    let ttl = j["ttl_ms"].as_u64().unwrap();
    assert!(ttl > 50_000 && ttl <= 60_000, "{j}");
    orbit(&["cache", "set", &c.0, "kv", "n", "43", "--add"]).fails(4, "present");
    orbit(&["cache", "set", &c.0, "kv", "m", "1", "--add"]).ok();
    orbit(&["cache", "set", &c.0, "kv", "6869", "0a0b", "--hex"]).ok();
    assert_eq!(k.get(b"hi").unwrap().as_deref(), Some(&[10u8, 11][..]));

    let keys = orbit(&["cache", "keys", &c.0, "kv"]).ok();
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort_unstable();
    assert_eq!(keys, ["0x0001", "greeting", "hi", "m", "n"]);
    let j = orbit(&["cache", "keys", &c.0, "kv", "--json"]).json();
    let bin = j
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key_hex"] == "0001")
        .unwrap();
    assert_eq!(bin["key"], Value::Null);
    assert_eq!(
        orbit(&["cache", "keys", &c.0, "kv", "--limit", "2"])
            .ok()
            .lines()
            .count(),
        2
    );
    orbit(&["cache", "set", &c.0, "kv", "short", "x", "--ttl", "100ms"]).ok();
    std::thread::sleep(Duration::from_millis(150));
    orbit(&["cache", "get", &c.0, "kv", "short"]).fails(3, "no key short");

    orbit(&["cache", "del", &c.0, "kv", "m"]).ok();
    assert_eq!(k.get(b"m").unwrap(), None);
    orbit(&["cache", "del", &c.0, "kv", "m"]).fails(3, "no key m");
    orbit(&["cache", "get", &c.0, "kv", "m"]).fails(3, "no key m");

    // The command-line member left again; bad input is an error, not a panic.
    assert_eq!(Fleet::observe(&c.0).unwrap().members().len(), 1);
    orbit(&["cache", "get", &c.0, "kv", ""]).fails(2, "at least one byte");
    orbit(&["cache", "get", &c.0, "kv", &"k".repeat(33)]).fails(1, "too large");
    orbit(&["cache", "set", &c.0, "kv", "k", &"v".repeat(49)]).fails(1, "too large");
    orbit(&["cache", "get", &c.0, "kv", "x", "--json", "--raw"]).fails(2, "exclude");
    // Nothing is created by a typo.
    orbit(&["cache", "set", &c.0, "kv2", "k", "v"]).fails(3, "kv2");
    orbit(&["cache", "keys", &format!("{}-none", c.0), "kv"]).fails(3, "no fleet");
    assert!(
        orbit(&["ls", &c.0])
            .ok()
            .lines()
            .all(|l| !l.contains("kv2"))
    );
}

#[test]
fn clean_refuses_while_in_use_and_removes_when_not() {
    let c = Cleanup::new("clean");
    let f = join(&c.0, "keeper");
    let _r = ring(&f, "r", 8);
    drop(_r);
    // A live member (this process) blocks it.
    orbit(&["clean", &c.0]).fails(4, "member node 1");
    // So does a process that only observes (it maps a segment).
    drop(f);
    let mut obs = common::spawn("observer", &[("FLEET", c.0.clone())]);
    obs.expect("observing", Duration::from_secs(10));
    orbit(&["clean", &c.0]).fails(4, &format!("pid {} maps its segments", obs.pid()));
    obs.send("bye");
    obs.finish(Duration::from_secs(10));
    // A dead member does not.
    let mut m = spawn_member(&c.0, "gone");
    orbit(&["clean", &c.0]).fails(4, "(gone)");
    m.kill9();
    let dry = orbit(&["clean", &c.0, "--dry-run"]).ok();
    assert_eq!(dry.lines().count(), 2, "{dry}");
    assert!(
        dry.lines()
            .all(|l| l.starts_with("would remove /dev/shm/orbit:"))
    );
    assert_eq!(
        scan::scan(scan::current_uid(), Some(&c.0)).unwrap().len(),
        2
    );
    let done = orbit(&["clean", &c.0]).ok();
    assert!(
        done.lines().last().unwrap().ends_with(":fleet:members"),
        "table last: {done}"
    );
    assert_eq!(
        scan::scan(scan::current_uid(), Some(&c.0)).unwrap().len(),
        0
    );
    orbit(&["clean", &c.0]).fails(3, "no fleet");
    // --force removes even under a live member, and says who is still attached.
    let f = join(&c.0, "stubborn");
    let forced = orbit(&["clean", &c.0, "--force"]);
    assert!(forced.err.contains("still attached"), "{forced:#?}");
    assert_eq!(forced.ok().lines().count(), 1);
    drop(f);
}

#[test]
fn bench_runs_and_leaves_nothing_behind() {
    let r = orbit(&["bench", "--duration", "30ms", "--json"]);
    let j = r.json();
    let fleet = j["fleet"].as_str().unwrap().to_string();
    for k in [
        "ring_writes_per_s",
        "cache_gets_per_s",
        "cache_sets_per_s",
        "ping_pong_ratio",
    ] {
        assert!(j[k].as_f64().unwrap() > 0.0, "{k}: {j}");
    }
    assert!(j["ping_pong_ring"]["round_trips"].as_u64().unwrap() > 0);
    assert_eq!(
        scan::scan(scan::current_uid(), Some(&fleet)).unwrap().len(),
        0
    );
    let text = orbit(&["bench", "--duration", "20ms"]).ok();
    assert!(
        text.contains("ring write") && text.contains("ratio"),
        "{text}"
    );
}

#[test]
fn top_refreshes_in_place_and_stops() {
    let c = Cleanup::new("top");
    let f = join(&c.0, "watched");
    let _r = ring(&f, "events", 8);
    let out = orbit(&["top", &c.0, "--interval", "100ms", "--iterations", "2"]).ok();
    assert!(out.starts_with("\x1b[?1049h"), "alternate screen");
    assert!(out.ends_with("\x1b[?25h\x1b[?1049l"), "terminal restored");
    assert_eq!(out.matches("orbit top  fleet").count(), 2, "two refreshes");
    assert!(out.contains("watched") && out.contains("events"));
    orbit(&["top", &c.0, "--interval", "1ms"]).fails(2, "--interval");
    orbit(&["top", &format!("{}-none", c.0)]).fails(3, "no fleet");
    // SIGTERM stops it like Ctrl-C.
    let child = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["top", &c.0, "--interval", "100ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.ends_with(b"\x1b[?1049l"));
    let _ = std::io::stdout().flush();
}
