//! Multi-process ring and fleet tests with real processes: the test binary
//! re-runs itself as writer, reader, observer and member children (see
//! `common`). Every test uses its own fleet (pid + test name) and removes it.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    ChildProc, Cleanup, PAYLOAD_MIN, XorShift, mono_ns, param, report, report_value, spawn,
    unique_fleet, verify,
};
use orbit::{Error, Fleet, FleetOptions, From, MemberState, NetId64, Ring, RingOptions, Status};

const RING_KIND: u8 = 42;
const LONG: Duration = Duration::from_secs(30);

fn ring_opts(capacity: u64, max_payload: u32) -> RingOptions {
    RingOptions {
        capacity,
        max_payload,
        kind: RING_KIND,
        mode: 0,
        single_writer: false,
    }
}

fn join(fleet: &str) -> Fleet {
    Fleet::join(fleet, &FleetOptions::default()).expect("join fleet")
}

// ---------------------------------------------------------------------------
// Children

/// Entry point of every child process; a no-op in the normal test run.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    match role.as_str() {
        "writer" => child_writer(),
        "single_writer" => child_single_writer(),
        "reader" => child_reader(),
        "reader_stages" => child_reader_stages(),
        "waiter" => child_waiter(),
        "observer" => child_observer(),
        "member" => child_member(),
        other => panic!("unknown child role {other}"),
    }
}

/// Writes `N` self-checking frames of varying length; frame `i` has kind
/// `writer`, ver `i * 1000 + writer`, tag `node << 16 | writer`.
fn child_writer() {
    let fleet = join(&param::<String>("FLEET"));
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let r = ring.clone();
    write_frames(&fleet, &ring, |k, v, p| r.write(k, v, p));
}

/// [`child_writer`] through the writer of a single-writer ring. Reports
/// `conflict` (and checks that `Ring::write` is refused) instead when
/// another writer holds the ring.
fn child_single_writer() {
    let fleet = join(&param::<String>("FLEET"));
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let mut w = match ring.writer() {
        Ok(w) => w,
        Err(e) if e.status() == Status::Conflict => {
            assert_eq!(
                ring.write(0, 0, b"x").unwrap_err().status(),
                Status::InvalidArgument
            );
            report("conflict");
            return;
        }
        Err(e) => panic!("writer: {e}"),
    };
    write_frames(&fleet, &ring, |k, v, p| w.write(k, v, p));
}

fn write_frames(
    fleet: &Fleet,
    ring: &Ring,
    mut write: impl FnMut(u8, u64, &[u8]) -> orbit::Result<NetId64>,
) {
    let n: u64 = param("N");
    let writer: u32 = param("WRITER");
    let max_len = ring.info().max_payload as u64;
    let mut rng = XorShift::new(param::<u64>("SEED") ^ writer as u64);
    let node = fleet.node_id().expect("member");
    report(format!("node={node}"));
    if param::<u32>("GO") == 1 {
        assert_eq!(common::read_stdin_line(), "go");
    }
    let tag = (node as u32) << 16 | writer;
    for i in 0..n {
        let len = rng.range(PAYLOAD_MIN as u64, max_len) as usize;
        let p = common::payload(len, tag, i, &mut rng);
        let id = write(writer as u8, i * 1000 + writer as u64, &p).expect("write");
        assert_eq!((id.kind(), id.node()), (RING_KIND, node), "id {id}");
        if i == 0 {
            report("first");
        }
    }
    report("done");
}

/// Checks one frame a cursor delivered; returns the payload's (tag, index).
fn check_frame(info: &orbit::FrameInfo, buf: &[u8]) -> (u32, u64) {
    let p = &buf[..info.len as usize];
    let pi = verify(p).unwrap_or_else(|e| panic!("frame {}: {e}", info.id));
    let writer = pi.tag & 0xFFFF;
    assert_eq!(info.id.kind(), RING_KIND, "id {}", info.id);
    assert_eq!(info.id.node() as u32, pi.tag >> 16, "id {} vs tag", info.id);
    assert_eq!(info.kind as u32, writer, "frame kind");
    assert_eq!(info.ver, pi.index * 1000 + writer as u64, "ver");
    (pi.tag, pi.index)
}

/// Reads until `TOTAL` frames arrived, expecting no loss: every writer's
/// frames exactly once, in its order, at consecutive ring positions.
fn child_reader() {
    let fleet = join(&param::<String>("FLEET"));
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let total: u64 = param("TOTAL");
    let mut cursor = ring.cursor(From::Oldest);
    let mut buf = vec![0u8; ring.info().max_payload as usize];
    report("ready");
    let mut next_index: BTreeMap<u32, u64> = BTreeMap::new();
    let mut expect_counter = cursor.next_position();
    let mut got = 0u64;
    let deadline = Instant::now() + Duration::from_secs(25);
    while got < total {
        assert!(Instant::now() < deadline, "reader stalled at {got}/{total}");
        match cursor.wait(Duration::from_secs(1)) {
            Ok(()) | Err(Error::Timeout) => {}
            Err(e) => panic!("wait: {e}"),
        }
        while let Some(info) = cursor.next_into(&mut buf).expect("next") {
            assert_eq!(info.lost, 0, "no loss expected, frame {}", info.id);
            assert_eq!(info.id.counter(), expect_counter, "positions in order");
            expect_counter += 1;
            let (tag, index) = check_frame(&info, &buf);
            let want = next_index.entry(tag).or_insert(0);
            assert_eq!(index, *want, "writer tag {tag:#x}: frame order");
            *want += 1;
            got += 1;
        }
    }
    assert_eq!(cursor.lost(), 0);
    assert_eq!(
        cursor.next_into(&mut buf).expect("next"),
        None,
        "extra frames"
    );
    for (tag, n) in &next_index {
        report(format!(
            "writer={} node={} count={n}",
            tag & 0xFFFF,
            tag >> 16
        ));
    }
    report(format!("frames={got}"));
}

/// A reader that only reads when told to, so it falls behind deterministically.
/// Commands on stdin: `read <frames> <first_lost> <total_lost>` drains the
/// cursor and checks those numbers; `late <frames>` checks a new cursor from
/// Oldest; `quit`.
fn child_reader_stages() {
    let fleet = join(&param::<String>("FLEET"));
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let mut cursor = ring.cursor(From::Oldest);
    assert_eq!(cursor.next_position(), 0);
    let mut buf = vec![0u8; ring.info().max_payload as usize];
    report("ready");
    loop {
        let cmd = common::read_stdin_line();
        let words: Vec<u64> = cmd
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse().expect("number"))
            .collect();
        match cmd.split_whitespace().next() {
            Some("read") => {
                let (frames, first_lost, total_lost) = (words[0], words[1], words[2]);
                let mut n = 0u64;
                let mut prev: Option<u64> = None;
                while let Some(info) = cursor.next_into(&mut buf).expect("next") {
                    check_frame(&info, &buf);
                    let want_lost = if n == 0 { first_lost } else { 0 };
                    assert_eq!(info.lost, want_lost, "lost before frame #{n} ({})", info.id);
                    if let Some(p) = prev {
                        assert_eq!(info.id.counter(), p + 1);
                    }
                    prev = Some(info.id.counter());
                    n += 1;
                }
                assert_eq!(n, frames, "frames read");
                assert_eq!(cursor.lost(), total_lost, "cursor.lost()");
                report(format!("read={n} lost={}", cursor.lost()));
            }
            Some("late") => {
                let mut late = ring.cursor(From::Oldest);
                let mut n = 0;
                while let Some(info) = late.next_into(&mut buf).expect("next") {
                    assert_eq!(info.lost, 0);
                    check_frame(&info, &buf);
                    n += 1;
                }
                assert_eq!((n, late.lost()), (words[0], 0), "late cursor");
                let mut head = ring.cursor(From::Head);
                assert_eq!(head.next_into(&mut buf).expect("next"), None);
                report(format!("late={n}"));
            }
            Some("quit") | None => return,
            Some(other) => panic!("unknown command {other}"),
        }
    }
}

/// Blocks in `wait` for frames written by the parent and reports how long
/// each wake-up took (the frame carries the CLOCK_MONOTONIC write time).
fn child_waiter() {
    let fleet = join(&param::<String>("FLEET"));
    let ring = Ring::open(&fleet, &param::<String>("RING"), None).expect("open ring");
    let rounds: u64 = param("ROUNDS");
    let mut cursor = ring.cursor(From::Head);
    let mut buf = [0u8; 64];
    // Nothing comes: wait times out, after (not before) the timeout.
    let t = Instant::now();
    assert_eq!(
        cursor.wait(Duration::from_millis(150)),
        Err(Error::Timeout),
        "wait on an idle ring"
    );
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(150),
        "timed out early: {idle:?}"
    );
    for r in 0..rounds {
        report(format!("waiting={r}"));
        let res = cursor.wait(Duration::from_secs(10));
        let woke = mono_ns();
        assert_eq!(res, Ok(()), "round {r}: wait did not see the write");
        let info = cursor
            .next_into(&mut buf)
            .expect("next")
            .expect("a frame after wait returned Ok");
        let p = &buf[..info.len as usize];
        let index = u64::from_le_bytes(p[0..8].try_into().unwrap());
        let written = u64::from_le_bytes(p[8..16].try_into().unwrap());
        assert_eq!((index, info.lost), (r, 0));
        report(format!(
            "latency_us={}",
            woke.saturating_sub(written) / 1000
        ));
    }
    let t = Instant::now();
    assert_eq!(cursor.wait(Duration::from_millis(100)), Err(Error::Timeout));
    assert!(t.elapsed() >= Duration::from_millis(100));
    report("done");
}

/// An observer: reads what the parent wrote, cannot write or create.
fn child_observer() {
    let name: String = param("FLEET");
    let ring_name: String = param("RING");
    let parent_node: u16 = param("PARENT_NODE");
    let last_id = NetId64(param("LAST_ID"));
    let capacity: u64 = param("CAPACITY");
    let written: u64 = param("WRITTEN");
    let obs = Fleet::observe(&name).expect("observe");
    assert!(obs.is_observer());
    assert_eq!(obs.node_id(), None);
    assert_eq!(obs.heartbeat().unwrap_err().status(), Status::ReadOnly);
    let members = obs.members();
    assert!(
        members
            .iter()
            .any(|m| m.node_id == parent_node && m.state == MemberState::Alive),
        "parent listed alive: {members:?}"
    );
    let ring = Ring::open(&obs, &ring_name, None).expect("observer opens ring");
    assert!(ring.is_read_only());
    assert_eq!(ring.info().capacity, capacity);
    // Same geometry given explicitly attaches too; another is Incompatible.
    Ring::open(&obs, &ring_name, Some(&ring_opts(capacity, 64))).expect("matching opts");
    assert_eq!(
        Ring::open(&obs, &ring_name, Some(&ring_opts(capacity * 2, 64)))
            .unwrap_err()
            .status(),
        Status::Incompatible
    );
    let mut buf = [0u8; 64];
    let mut cursor = ring.cursor(From::Oldest);
    let mut n = 0;
    while let Some(info) = cursor.next_into(&mut buf).expect("next") {
        let pi = verify(&buf[..info.len as usize]).expect("intact");
        assert_eq!(pi.index, written - capacity + n);
        assert_eq!(info.id.node(), parent_node);
        n += 1;
    }
    assert_eq!(n, capacity);
    let info = ring.read(last_id, &mut buf).expect("read by id");
    assert_eq!(info.id, last_id);
    // Writes are refused, nothing is created.
    assert_eq!(
        ring.write(0, 0, b"nope").unwrap_err().status(),
        Status::ReadOnly
    );
    for opts in [None, Some(ring_opts(8, 8))] {
        assert_eq!(
            Ring::open(&obs, "never-created", opts.as_ref())
                .unwrap_err()
                .status(),
            Status::NotExist
        );
    }
    // `wait` through a read-only mapping polls, and still sees a write.
    report("waiting");
    let t = Instant::now();
    cursor.wait(Duration::from_secs(10)).expect("observer wait");
    assert!(t.elapsed() < Duration::from_secs(5));
    let info = cursor.next_into(&mut buf).expect("next").expect("frame");
    assert_eq!(
        verify(&buf[..info.len as usize]).expect("intact").index,
        written
    );
    assert_eq!(ring.info().head, written + 1, "observer wrote nothing");
    report("done");
}

/// A fleet member that stays until told to quit (or killed).
fn child_member() {
    let fleet = Fleet::join(
        &param::<String>("FLEET"),
        &FleetOptions {
            label: param("LABEL"),
            ..Default::default()
        },
    )
    .expect("join");
    report(format!("node={}", fleet.node_id().expect("member")));
    loop {
        match common::read_stdin_line().as_str() {
            "heartbeat" => {
                fleet.heartbeat().expect("heartbeat");
                report("beat");
            }
            _ => return, // "quit" or EOF: leave the fleet by dropping it
        }
    }
}

// ---------------------------------------------------------------------------
// Parent tests

fn writer(fleet: &str, ring: &str, w: u32, n: u64, go: bool) -> ChildProc {
    spawn(
        "writer",
        &[
            ("FLEET", fleet.into()),
            ("RING", ring.into()),
            ("WRITER", w.to_string()),
            ("N", n.to_string()),
            ("SEED", (0x5EED_0000 + w as u64).to_string()),
            ("GO", (go as u32).to_string()),
        ],
    )
}

#[test]
fn payload_scheme_detects_damage() {
    common::payload_scheme_self_check();
}

/// One writer process, one reader process started first: every frame arrives,
/// in order, with its id (kind, node, counter), ver and payload intact.
#[test]
fn one_writer_one_reader_every_frame() {
    let fleet = unique_fleet("one");
    let _c = Cleanup::new(&fleet, &["r"]);
    let me = join(&fleet);
    let ring = Ring::open(&me, "r", Some(&ring_opts(4096, 300))).unwrap();
    let n = 3000u64;
    let mut reader = spawn(
        "reader",
        &[
            ("FLEET", fleet.clone()),
            ("RING", "r".into()),
            ("TOTAL", n.to_string()),
        ],
    );
    reader.expect("ready", LONG);
    let mut w = writer(&fleet, "r", 1, n, false);
    let node: u16 = w.expect("node=", LONG).parse().unwrap();
    w.finish(LONG);
    let reports = reader.finish(LONG);
    assert_eq!(report_value::<u64>(&reports, "frames"), n);
    assert!(
        reports.contains(&format!("writer=1 node={node} count={n}")),
        "{reports:?}"
    );
    assert_eq!(ring.head(), n);
    // The parent reads the same frames by id.
    let mut buf = [0u8; 300];
    for counter in [0, 1, n / 2, n - 1] {
        let id = NetId64::make(RING_KIND, node, counter);
        let info = ring.read(id, &mut buf).expect("read by id");
        let pi = verify(&buf[..info.len as usize]).unwrap();
        assert_eq!((pi.index, info.ver), (counter, counter * 1000 + 1));
    }
}

/// A reader lapped all the time by a writer of large frames (a ring of 2
/// slots, payloads of 32 B to 8 KiB, so both the word-wise and the bulk copy
/// paths race the writer): every frame it is given is whole (checksummed),
/// and frames delivered plus frames reported lost add up to what was written.
#[test]
fn lapped_reader_never_gets_a_torn_large_frame() {
    let fleet = unique_fleet("torn");
    let _c = Cleanup::new(&fleet, &["r"]);
    let me = join(&fleet);
    let ring = Ring::open(&me, "r", Some(&ring_opts(2, 8192))).unwrap();
    let n = 100_000u64;
    let mut cursor = ring.cursor(From::Oldest);
    let mut buf = vec![0u8; 8192];
    let mut w = writer(&fleet, "r", 1, n, false);
    let (mut delivered, mut big) = (0u64, 0u64);
    let deadline = Instant::now() + LONG;
    while delivered + cursor.lost() < n {
        assert!(Instant::now() < deadline, "reader stalled");
        match cursor.next_into(&mut buf).expect("next") {
            Some(info) => {
                check_frame(&info, &buf);
                delivered += 1;
                big += u64::from(info.len >= 128);
            }
            None => std::hint::spin_loop(),
        }
    }
    w.finish(LONG);
    assert_eq!(delivered + cursor.lost(), n);
    assert_eq!(ring.head(), n);
    assert!(big > 0, "no frame of the bulk-copy path was delivered");
    eprintln!(
        "lapped reader: {delivered} whole frames ({big} of >= 128 B), {} lost",
        cursor.lost()
    );
}

/// A reader that stops reading while the ring wraps loses exactly the frames
/// that were overwritten, and is told so on the next frame it gets.
#[test]
fn slow_reader_loses_exactly_the_overwritten() {
    let fleet = unique_fleet("slow");
    let _c = Cleanup::new(&fleet, &["r"]);
    let me = join(&fleet);
    let cap = 64u64;
    let ring = Ring::open(&me, "r", Some(&ring_opts(cap, 100))).unwrap();
    let mut reader = spawn(
        "reader_stages",
        &[("FLEET", fleet.clone()), ("RING", "r".into())],
    );
    reader.expect("ready", LONG);
    // Stage 1: 10 frames, all read.
    writer(&fleet, "r", 1, 10, false).finish(LONG);
    reader.send("read 10 0 0");
    assert_eq!(reader.expect("read=", LONG), "10 lost=0");
    // Stage 2: 10 x capacity frames while the reader sleeps.
    let total = 10 * cap;
    writer(&fleet, "r", 2, total, false).finish(LONG);
    assert_eq!(ring.head(), 10 + total);
    reader.send(&format!("read {cap} {} {}", total - cap, total - cap));
    assert_eq!(
        reader.expect("read=", LONG),
        format!("{cap} lost={}", total - cap)
    );
    // A reader arriving now starts at the oldest frame held: nothing lost.
    reader.send(&format!("late {cap}"));
    assert_eq!(reader.expect("late=", LONG), cap.to_string());
    reader.send("quit");
    reader.finish(LONG);
}

/// Several writer processes into one ring, one reader process: every frame of
/// every writer arrives exactly once, each writer's frames in its order.
#[test]
fn many_writers_every_frame_once_in_order() {
    let fleet = unique_fleet("many");
    let _c = Cleanup::new(&fleet, &["r"]);
    let me = join(&fleet);
    let (writers, per) = (3u32, 2000u64);
    let ring = Ring::open(&me, "r", Some(&ring_opts(8192, 200))).unwrap();
    let mut reader = spawn(
        "reader",
        &[
            ("FLEET", fleet.clone()),
            ("RING", "r".into()),
            ("TOTAL", (writers as u64 * per).to_string()),
        ],
    );
    reader.expect("ready", LONG);
    let mut ws: Vec<ChildProc> = (1..=writers)
        .map(|w| writer(&fleet, "r", w, per, true))
        .collect();
    let nodes: Vec<u16> = ws
        .iter_mut()
        .map(|w| w.expect("node=", LONG).parse().unwrap())
        .collect();
    for w in &mut ws {
        w.send("go");
    }
    for w in &mut ws {
        w.finish(LONG);
    }
    let reports = reader.finish(LONG);
    assert_eq!(
        report_value::<u64>(&reports, "frames"),
        writers as u64 * per
    );
    for (i, node) in nodes.iter().enumerate() {
        let line = format!("writer={} node={node} count={per}", i + 1);
        assert!(reports.contains(&line), "{line} not in {reports:?}");
    }
    assert_eq!(ring.head(), writers as u64 * per);
}

/// `wait` in one process wakes within milliseconds of a write in another, and
/// times out when nothing comes.
#[test]
fn wait_wakes_across_processes() {
    let fleet = unique_fleet("wait");
    let _c = Cleanup::new(&fleet, &["r"]);
    let me = join(&fleet);
    let ring = Ring::open(&me, "r", Some(&ring_opts(64, 64))).unwrap();
    let rounds = 20u64;
    let mut waiter = spawn(
        "waiter",
        &[
            ("FLEET", fleet.clone()),
            ("RING", "r".into()),
            ("ROUNDS", rounds.to_string()),
        ],
    );
    let mut latencies = Vec::new();
    for r in 0..rounds {
        assert_eq!(waiter.expect("waiting=", LONG), r.to_string());
        // Give the waiter time to block on the futex.
        std::thread::sleep(Duration::from_millis(15));
        let mut p = [0u8; 16];
        p[0..8].copy_from_slice(&r.to_le_bytes());
        p[8..16].copy_from_slice(&mono_ns().to_le_bytes());
        ring.write(0, r, &p).unwrap();
        latencies.push(waiter.expect("latency_us=", LONG).parse::<u64>().unwrap());
    }
    waiter.expect("done", LONG);
    waiter.finish(LONG);
    latencies.sort();
    let (median, max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    eprintln!("cross-process wake-up latency: median {median} us, max {max} us");
    assert!(
        max < 500_000,
        "wake-up took {max} us (median {median} us): {latencies:?}"
    );
}

/// An observer process reads everything but every write is `ReadOnly`.
#[test]
fn observer_reads_but_cannot_write() {
    let fleet = unique_fleet("obs");
    let _c = Cleanup::new(&fleet, &["r", "never-created"]);
    let me = join(&fleet);
    let cap = 16u64;
    let ring = Ring::open(&me, "r", Some(&ring_opts(cap, 64))).unwrap();
    let mut rng = XorShift::new(3);
    let written = 20u64;
    let mut last = NetId64(0);
    for i in 0..written {
        let p = common::payload(rng.range(32, 64) as usize, 0, i, &mut rng);
        last = ring.write(0, i, &p).unwrap();
    }
    let mut obs = spawn(
        "observer",
        &[
            ("FLEET", fleet.clone()),
            ("RING", "r".into()),
            ("PARENT_NODE", me.node_id().unwrap().to_string()),
            ("LAST_ID", last.raw().to_string()),
            ("CAPACITY", cap.to_string()),
            ("WRITTEN", written.to_string()),
        ],
    );
    obs.expect("waiting", LONG);
    std::thread::sleep(Duration::from_millis(20));
    ring.write(0, written, &common::payload(40, 0, written, &mut rng))
        .unwrap();
    obs.expect("done", LONG);
    obs.finish(LONG);
    assert_eq!(ring.head(), written + 1);
}

fn member(fleet: &str, label: &str) -> ChildProc {
    spawn(
        "member",
        &[("FLEET", fleet.into()), ("LABEL", label.into())],
    )
}

fn state_of(f: &Fleet, node: u16) -> Option<(u32, MemberState)> {
    f.members()
        .into_iter()
        .find(|m| m.node_id == node)
        .map(|m| (m.pid, m.state))
}

fn poll_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A member killed with SIGKILL is listed `Dead` by a survivor (already as a
/// zombie, and after it is reaped), and the next join reclaims its node id.
#[test]
fn killed_member_is_dead_and_its_node_reclaimed() {
    let fleet = unique_fleet("kill");
    let _c = Cleanup::new(&fleet, &[]);
    let me = Fleet::join(
        &fleet,
        &FleetOptions {
            label: "parent".into(),
            max_nodes: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let my_node = me.node_id().unwrap();
    let mut victim = member(&fleet, "victim");
    let victim_node: u16 = victim.expect("node=", LONG).parse().unwrap();
    let mut other = member(&fleet, "other");
    let other_node: u16 = other.expect("node=", LONG).parse().unwrap();
    let mut nodes = [my_node, victim_node, other_node];
    nodes.sort();
    assert_eq!(nodes, [1, 2, 3], "three distinct node ids");
    assert_eq!(
        state_of(&me, victim_node),
        Some((victim.pid(), MemberState::Alive))
    );
    assert!(
        me.members()
            .iter()
            .any(|m| m.node_id == victim_node && m.label == "victim")
    );
    other.send("heartbeat");
    other.expect("beat", LONG);
    // The table is full of live members.
    assert_eq!(
        Fleet::join(&fleet, &FleetOptions::default())
            .unwrap_err()
            .status(),
        Status::Full
    );

    // SIGKILL without reaping: a zombie runs no code, it is dead already.
    // SAFETY: our own unreaped child.
    unsafe { libc::kill(victim.pid() as libc::pid_t, libc::SIGKILL) };
    poll_until(
        "the victim to be listed dead",
        Duration::from_secs(5),
        || state_of(&me, victim_node) == Some((victim.pid(), MemberState::Dead)),
    );
    let status = victim.kill9(); // reaps
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert_eq!(
        state_of(&me, victim_node),
        Some((victim.pid(), MemberState::Dead))
    );
    assert_eq!(
        state_of(&me, other_node).map(|s| s.1),
        Some(MemberState::Alive)
    );

    // The next join (another process) gets the dead member's node id.
    let mut heir = member(&fleet, "heir");
    let heir_node: u16 = heir.expect("node=", LONG).parse().unwrap();
    assert_eq!(heir_node, victim_node, "dead node id reclaimed");
    assert_eq!(
        state_of(&me, heir_node),
        Some((heir.pid(), MemberState::Alive))
    );
    assert!(me.members().iter().all(|m| m.state != MemberState::Dead));

    // A member that leaves normally disappears from the list.
    other.send("quit");
    other.finish(LONG);
    assert_eq!(state_of(&me, other_node), None);
    heir.send("quit");
    heir.finish(LONG);
    assert_eq!(me.members().len(), 1);
}

/// A single-writer ring across processes: while one process holds the
/// writer, another gets CONFLICT (and `Ring::write` is refused); a reader
/// process gets every frame of a writer process whole and in order; a
/// writer killed with SIGKILL is replaced by the next.
#[test]
fn single_writer_ring_across_processes() {
    let fleet = unique_fleet("single");
    let _c = Cleanup::new(&fleet, &["s"]);
    let me = join(&fleet);
    let opts = RingOptions {
        single_writer: true,
        ..ring_opts(4096, 300)
    };
    let ring = Ring::open(&me, "s", Some(&opts)).unwrap();
    assert!(ring.info().single_writer);
    let single = |n: u64, w: u32| {
        spawn(
            "single_writer",
            &[
                ("FLEET", fleet.clone()),
                ("RING", "s".into()),
                ("WRITER", w.to_string()),
                ("N", n.to_string()),
                ("SEED", (0x5EED_0000 + w as u64).to_string()),
                ("GO", "0".into()),
            ],
        )
    };
    let held = ring.writer().unwrap();
    let mut c = single(10, 1);
    c.expect("conflict", LONG);
    c.finish(LONG);
    drop(held);

    let n = 3000u64;
    let mut reader = spawn(
        "reader",
        &[
            ("FLEET", fleet.clone()),
            ("RING", "s".into()),
            ("TOTAL", n.to_string()),
        ],
    );
    reader.expect("ready", LONG);
    let mut w = single(n, 2);
    let node: u16 = w.expect("node=", LONG).parse().unwrap();
    w.finish(LONG);
    let reports = reader.finish(LONG);
    assert_eq!(report_value::<u64>(&reports, "frames"), n);
    assert!(
        reports.contains(&format!("writer=2 node={node} count={n}")),
        "{reports:?}"
    );
    assert_eq!(ring.head(), n);

    // The writer gave the role up when it exited; one that is killed holding
    // it is replaced.
    let mut k = single(u64::MAX, 3);
    k.expect("first", LONG);
    assert_eq!(ring.writer().unwrap_err().status(), Status::Conflict);
    k.kill9();
    let mut mine = ring.writer().expect("a dead writer's role is taken over");
    let id = mine.write(0, 7, b"after").unwrap();
    let mut buf = [0u8; 300];
    let info = ring.read(id, &mut buf).unwrap();
    assert_eq!((info.ver, &buf[..5]), (7, &b"after"[..]));
}
