//! `orbit ls [fleet]`: the fleets of this user and their segments, read from
//! `/dev/shm` without attaching to anything.

use std::collections::BTreeMap;

use orbit::OrbitEpoch;
use orbit::fleet::liveness;
use orbit::shm::ObjectKind;
use orbit::shm::scan::{self, HeaderInfo, HeaderState, SegmentFile};

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult, Context};
use crate::inventory::header_problem;
use crate::json::Json;
use crate::out::Out;
use crate::render::{Table, age, bytes};

pub static SPEC: Spec = Spec {
    name: "ls",
    args: "[fleet]",
    arity: (0, 1),
    about: "List this user's fleets and their segments (kind, name, size, geometry, creator, age).",
    opts: &[Opt {
        long: "json",
        value: None,
        help: "one JSON document: {uid, fleets: [{fleet, segments: [...]}]}",
    }],
    details: "\
Reads /dev/shm/orbit:<uid>:<fleet>:<kind>:<name> headers only: nothing is attached,
created or repaired. A segment whose header is not ready (being created, its creator
died mid-way, truncated, foreign) is listed with what is wrong with it.
With a fleet that has no segment, exits 3.",
};

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let (uid, fleet) = match m.positional(0) {
        Some(f) => {
            let (uid, bare) = crate::fail::check_fleet(f)?;
            (uid, Some(bare))
        }
        None => (scan::current_uid(), None),
    };
    let segments = scan::scan(uid, fleet).ctx("listing /dev/shm")?;
    if let (Some(f), true) = (fleet, segments.is_empty()) {
        return Err(CliError::not_found(format!(
            "no fleet {f:?}: nothing named /dev/shm/orbit:{uid}:{f}:*"
        )));
    }
    let mut by_fleet: BTreeMap<&str, Vec<&SegmentFile>> = BTreeMap::new();
    for s in &segments {
        by_fleet.entry(&s.name.fleet).or_default().push(s);
    }
    let now = OrbitEpoch::now().as_millis();
    if m.flag("json") {
        let fleets = by_fleet
            .iter()
            .map(|(f, segs)| {
                Json::obj().with("fleet", *f).with(
                    "segments",
                    segs.iter()
                        .map(|s| segment_json(s, now))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>();
        out.line(&Json::obj().with("uid", uid).with("fleets", fleets).line())?;
        return Ok(());
    }
    if by_fleet.is_empty() {
        out.line(&format!("no orbit segments for uid {uid} in /dev/shm"))?;
        return Ok(());
    }
    for (i, (f, segs)) in by_fleet.iter().enumerate() {
        if i > 0 {
            out.line("")?;
        }
        let total: u64 = segs.iter().map(|s| s.file_size).sum();
        out.line(&format!(
            "fleet {f}  ({} segment{}, {})",
            segs.len(),
            if segs.len() == 1 { "" } else { "s" },
            bytes(total)
        ))?;
        let mut t = Table::new(&["KIND", "NAME", "SIZE", "GEOMETRY", "CREATOR", "AGE"]);
        for s in segs {
            let (geometry, creator, age_s) = match &s.header {
                HeaderState::Ready(h) => (
                    geometry(s.name.kind, h),
                    creator(h.creator_pid),
                    age(now.saturating_sub(h.created_at_ms)),
                ),
                other => (header_problem(other), "-".into(), "-".into()),
            };
            t.row(vec![
                s.name.kind.tag().into(),
                s.name.name.clone(),
                bytes(s.file_size),
                geometry,
                creator,
                age_s,
            ]);
        }
        out.write(&t.render(2))?;
    }
    Ok(())
}

fn creator(pid: u32) -> String {
    if liveness::pid_exists(pid) {
        format!("pid {pid}")
    } else {
        format!("pid {pid} (exited)")
    }
}

/// Bytes of a bus frame that hold the topic (length byte + longest topic).
const BUS_TOPIC_ROOM: u64 = 256;

/// The geometry words of a header, in words.
pub fn geometry(kind: ObjectKind, h: &HeaderInfo) -> String {
    let g = &h.geometry;
    match kind {
        ObjectKind::Fleet => format!("{} node slots", g[0]),
        ObjectKind::Ring => format!("{} slots x {}, kind {}", g[0], bytes(g[1]), g[2]),
        ObjectKind::Bus => format!(
            "{} events x {}",
            g[0],
            bytes(g[1].saturating_sub(BUS_TOPIC_ROOM))
        ),
        ObjectKind::Cache => format!(
            "{} entries, key <= {}, value <= {}",
            g[0],
            bytes(g[1]),
            bytes(g[2])
        ),
        ObjectKind::Contest => format!("{} subjects", g[0]),
    }
}

fn geometry_json(kind: ObjectKind, h: &HeaderInfo) -> Json {
    let g = &h.geometry;
    match kind {
        ObjectKind::Fleet => Json::obj().with("max_nodes", g[0]),
        ObjectKind::Ring => Json::obj()
            .with("capacity", g[0])
            .with("max_payload", g[1])
            .with("kind", g[2])
            .with("slot_stride", g[3]),
        ObjectKind::Bus => Json::obj()
            .with("capacity", g[0])
            .with("max_payload", g[1].saturating_sub(BUS_TOPIC_ROOM)),
        ObjectKind::Cache => Json::obj()
            .with("capacity", g[0])
            .with("max_key", g[1])
            .with("max_value", g[2])
            .with("entry_stride", g[4]),
        ObjectKind::Contest => Json::obj().with("capacity", g[0]),
    }
}

fn segment_json(s: &SegmentFile, now: u64) -> Json {
    let j = Json::obj()
        .with("kind", s.name.kind.tag())
        .with("name", s.name.name.as_str())
        .with("path", s.path.display().to_string())
        .with("size", s.file_size);
    match &s.header {
        HeaderState::Ready(h) => j
            .with("state", "ready")
            .with("layout_version", h.layout_version)
            .with("creator_pid", h.creator_pid)
            .with("creator_alive", liveness::pid_exists(h.creator_pid))
            .with("created_at_ms", h.created_at_ms)
            .with("age_ms", now.saturating_sub(h.created_at_ms))
            .with("mode", format!("{:04o}", h.mode))
            .with("geometry", geometry_json(s.name.kind, h)),
        other => j
            .with(
                "state",
                match other {
                    HeaderState::Uninitialised => "uninitialised",
                    HeaderState::Truncated => "truncated",
                    HeaderState::Foreign => "foreign",
                    _ => "unreadable",
                },
            )
            .with("problem", header_problem(other)),
    }
}
