//! `orbit tail <fleet> <ring|bus>`: follows frames (or events) live, with the
//! loss a slow reader suffers, until Ctrl-C, `--count` or `--timeout`.

use std::time::{Duration, Instant};

use orbit::shm::ObjectKind;
use orbit::{Bus, Error, EventInfo, FrameInfo, From, Ring};

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult, Context};
use crate::inventory::Inventory;
use crate::json::Json;
use crate::out::Out;
use crate::render::{self, payload};
use crate::signal;

pub static SPEC: Spec = Spec {
    name: "tail",
    args: "<fleet> <ring|bus>",
    arity: (2, 2),
    about: "Follow a ring's frames (or a bus's events) live, reporting loss.",
    opts: &[
        Opt {
            long: "from",
            value: Some("WHERE"),
            help: "oldest | head | a ring position (default head: only what comes next)",
        },
        Opt {
            long: "count",
            value: Some("N"),
            help: "stop after N frames",
        },
        Opt {
            long: "timeout",
            value: Some("DURATION"),
            help: "stop after this long (e.g. 10s)",
        },
        Opt {
            long: "kind",
            value: Some("KIND"),
            help: "ring | bus, when both a ring and a bus have the name",
        },
        Opt {
            long: "topic",
            value: Some("PREFIX"),
            help: "bus only: events whose topic starts with PREFIX",
        },
        Opt {
            long: "json",
            value: None,
            help: "one JSON object per line per frame",
        },
    ],
    details: "\
Text output, one line per frame of a ring:
  #<position> id=<kind:node:counter> kind=<k> ver=<v> len=<n> <payload>
or per event of a bus:
  id=<220:node:counter> at=<publish time, UTC> topic=<topic> len=<n> <payload>
The payload is shown as \"text\" when it is printable UTF-8 (\\n, \\t, \\\" escaped),
else as 0x<hex>. Frames lost before a frame (overwritten because this reader fell a
lap behind, or abandoned by a writer that died mid-write) are announced on a line
  -- lost N frames --
and, with --json, in the frame's \"lost\" field. Starting at a position that is no
longer held counts the frames in between as lost. Reads through an observer: takes
no node id and writes nothing. Ctrl-C stops; a summary goes to stderr.",
};

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let (fleet, name) = (m.pos[0].as_str(), m.pos[1].as_str());
    let count = m.count("count")?;
    let deadline = m.duration("timeout")?.map(|d| Instant::now() + d);
    let from = match m.value("from") {
        None | Some("head") => Start::Head,
        Some("oldest") => Start::Oldest,
        Some(p) => Start::At(p.parse().map_err(|_| {
            CliError::usage(format!(
                "--from {p:?}: expected oldest, head or a ring position (see `orbit tail --help`)"
            ))
        })?),
    };
    let kind = m.choice("kind", &["ring", "bus"])?;
    crate::fail::check_name("object", name)?;
    let inv = Inventory::open(fleet)?;
    let segments = inv.segments()?;
    let has = |k: ObjectKind| {
        segments
            .iter()
            .any(|s| s.name.kind == k && s.name.name == name)
    };
    let kind = match (kind, has(ObjectKind::Ring), has(ObjectKind::Bus)) {
        (Some("ring"), true, _) | (None, true, false) => ObjectKind::Ring,
        (Some("bus"), _, true) | (None, false, true) => ObjectKind::Bus,
        (None, true, true) => {
            return Err(CliError::usage(format!(
                "fleet {fleet:?} has both a ring and a bus named {name:?}: say --kind ring or --kind bus"
            )));
        }
        (k, _, _) => {
            return Err(CliError::not_found(format!(
                "fleet {fleet:?} has no {} named {name:?} (see `orbit ls {fleet}`)",
                k.unwrap_or("ring or bus")
            )));
        }
    };
    let stop = Stop {
        count,
        deadline,
        json: m.flag("json"),
    };
    signal::catch_stop();
    match kind {
        ObjectKind::Ring => {
            if m.flag("topic") {
                return Err(CliError::usage(format!(
                    "--topic filters bus events; {name:?} is a ring"
                )));
            }
            let ring =
                Ring::open(inv.require_observer()?, name, None).ctx(format!("ring {name:?}"))?;
            tail_ring(&ring, from, &stop, out)
        }
        _ => {
            let from = match from {
                Start::Oldest => From::Oldest,
                Start::Head => From::Head,
                Start::At(_) => {
                    return Err(CliError::usage(format!(
                        "--from: {name:?} is a bus, which starts at oldest or head"
                    )));
                }
            };
            let bus =
                Bus::open(inv.require_observer()?, name, None).ctx(format!("bus {name:?}"))?;
            tail_bus(&bus, m.value("topic"), from, &stop, out)
        }
    }
}

/// Where reading starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    Oldest,
    Head,
    At(u64),
}

struct Stop {
    count: Option<u64>,
    deadline: Option<Instant>,
    json: bool,
}

impl Stop {
    /// How long the next wait may last; `None` when it is time to stop.
    fn slice(&self) -> Option<Duration> {
        if signal::stopped() {
            return None;
        }
        let slice = Duration::from_millis(100);
        match self.deadline {
            None => Some(slice),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(slice))
            }
        }
    }
}

fn tail_ring(ring: &Ring, from: Start, stop: &Stop, out: &mut Out) -> CliResult {
    let mut cursor = ring.cursor(match from {
        Start::Head => From::Head,
        _ => From::Oldest,
    });
    // Loss is counted from positions: a frame at q after expecting `expected`
    // means q - expected frames were never seen.
    let mut expected = match from {
        Start::At(p) => p,
        _ => cursor.next_position(),
    };
    let mut buf = vec![0u8; ring.info().max_payload as usize];
    let (mut shown, mut lost_total) = (0u64, 0u64);
    while stop.count.is_none_or(|n| shown < n) {
        let info = match cursor.next_into(&mut buf) {
            Ok(Some(info)) => info,
            Ok(None) => {
                let Some(slice) = stop.slice() else { break };
                match cursor.wait(slice) {
                    Ok(()) | Err(Error::Timeout) => continue,
                    Err(e) => return Err(CliError::orbit("waiting for frames", &e)),
                }
            }
            Err(Error::BufferTooSmall { needed, .. }) => {
                buf.resize(needed, 0);
                continue;
            }
            Err(e) => return Err(CliError::orbit("reading the ring", &e)),
        };
        let pos = cursor.next_position() - 1;
        if pos < expected {
            continue; // before the requested start
        }
        let lost = pos - expected;
        expected = pos + 1;
        lost_total += lost;
        shown += 1;
        let data = &buf[..info.len as usize];
        if stop.json {
            out.line(&frame_json(pos, &info, lost, data).line())?;
        } else {
            if lost > 0 {
                out.line(&format!(
                    "-- lost {lost} frame{} --",
                    if lost == 1 { "" } else { "s" }
                ))?;
            }
            out.line(&format!(
                "#{pos} id={} kind={} ver={} len={} {}",
                info.id,
                info.kind,
                info.ver,
                info.len,
                payload(data)
            ))?;
        }
    }
    out.flush()?;
    eprintln!(
        "orbit tail: {shown} frame{} shown, {lost_total} lost",
        if shown == 1 { "" } else { "s" }
    );
    Ok(())
}

fn tail_bus(bus: &Bus, topic: Option<&str>, from: From, stop: &Stop, out: &mut Out) -> CliResult {
    let mut sub = bus.subscribe(topic, from).ctx("subscribing")?;
    let (mut shown, mut lost_total) = (0u64, 0u64);
    while stop.count.is_none_or(|n| shown < n) {
        let ev = match sub.next_ref() {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                let Some(slice) = stop.slice() else { break };
                match sub.wait(slice) {
                    Ok(()) | Err(Error::Timeout) => continue,
                    Err(e) => return Err(CliError::orbit("waiting for events", &e)),
                }
            }
            Err(e) => return Err(CliError::orbit("reading the bus", &e)),
        };
        let lost = ev.info.lost;
        lost_total += lost;
        shown += 1;
        if stop.json {
            out.line(&event_json(&ev.info, ev.topic, ev.payload).line())?;
        } else {
            if lost > 0 {
                out.line(&format!(
                    "-- lost {lost} event{} (of any topic) --",
                    if lost == 1 { "" } else { "s" }
                ))?;
            }
            out.line(&format!(
                "id={} at={} topic={} len={} {}",
                ev.info.id,
                render::utc(ev.info.timestamp_ms),
                render::key(ev.topic.as_bytes()),
                ev.info.len,
                payload(ev.payload)
            ))?;
        }
    }
    out.flush()?;
    eprintln!(
        "orbit tail: {shown} event{} shown, {lost_total} lost, {} of other topics skipped",
        if shown == 1 { "" } else { "s" },
        sub.filtered()
    );
    Ok(())
}

fn event_json(info: &EventInfo, topic: &str, data: &[u8]) -> Json {
    let j = Json::obj()
        .with("id", info.id.to_string())
        .with("node", info.id.node())
        .with("timestamp_ms", info.timestamp_ms)
        .with("topic", topic)
        .with("len", info.len)
        .with("lost", info.lost);
    render::bytes_json(j, "payload", data)
}

fn frame_json(pos: u64, info: &FrameInfo, lost: u64, data: &[u8]) -> Json {
    let j = Json::obj()
        .with("position", pos)
        .with("id", info.id.to_string())
        .with("node", info.id.node())
        .with("kind", info.kind)
        .with("ver", info.ver)
        .with("len", info.len)
        .with("lost", lost);
    render::bytes_json(j, "payload", data)
}
