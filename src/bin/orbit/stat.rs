//! `orbit stat <fleet> [name]`: members and every object's counters, with
//! rates from two samples; `--prometheus` for the text exposition format.

use std::time::Duration;

use orbit::MemberState;

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult};
use crate::inventory::{Inventory, Rates, Sample};
use crate::json::Json;
use crate::members;
use crate::out::Out;
use crate::prometheus;
use crate::render::{self, Table, age, bytes, si};

pub static SPEC: Spec = Spec {
    name: "stat",
    args: "<fleet> [name]",
    arity: (0, 2),
    about: "Show a fleet's members and each object's counters and rates.",
    opts: &[
        Opt {
            long: "interval",
            value: Some("DURATION"),
            help: "time between the two samples rates come from (default 500ms)",
        },
        Opt {
            long: "json",
            value: None,
            help: "one JSON document",
        },
        Opt {
            long: "prometheus",
            value: None,
            help: "Prometheus text format (one sample, counters only; fleet optional: all fleets)",
        },
    ],
    details: "\
With a name, shows only the objects of that name (exits 3 if there is none).
Per ring: slots, head (frames written), writes/s, overwritten (frames no longer held:
a reader that far behind has lost them), takeovers (slots of writers that died
mid-write), writers (many, or single for a single-writer ring). Per cache: entries,
hits, misses, hit ratio, gets/s, sets/s, evictions, takeovers. Per bus: events published, events/s, overwritten. Leases: each held
subject with its holder's node and pid, fencing token, age and time left; the lease
table's takeovers and evictions. Members: node, pid, label, alive/stale/dead, joined,
last heartbeat, heartbeats in the fleet's history ring.

--prometheus prints metric families orbit_* with HELP and TYPE lines, counters
ending in _total, units in names, labels fleet, name, kind, node, for a
node-exporter textfile collector:
  orbit stat --prometheus > /var/lib/node_exporter/textfile/orbit.prom.$$ &&
    mv /var/lib/node_exporter/textfile/orbit.prom.$$ /var/lib/node_exporter/textfile/orbit.prom
Rates are left to PromQL (rate(orbit_ring_writes_total[1m])).",
};

/// Default time between the two samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    m.exclusive("json", "prometheus")?;
    if m.flag("prometheus") {
        if m.flag("interval") {
            return Err(CliError::usage(
                "--interval has no effect with --prometheus (rates are PromQL's job)",
            ));
        }
        return prometheus::run(m.positional(0), m.positional(1), out);
    }
    let Some(fleet) = m.positional(0) else {
        return Err(CliError::usage(
            "missing argument <fleet> (only --prometheus works without one; see `orbit stat --help`)",
        ));
    };
    let only = m.positional(1);
    let interval = m.duration("interval")?.unwrap_or(DEFAULT_INTERVAL);
    let mut inv = Inventory::open(fleet)?;
    let a = inv.sample(only)?;
    std::thread::sleep(interval);
    let b = inv.sample(only)?;
    if let Some(name) = only {
        if b.rings.is_empty()
            && b.caches.is_empty()
            && b.buses.is_empty()
            && b.contest.is_none()
            && b.problems.is_empty()
        {
            return Err(CliError::not_found(format!(
                "fleet {fleet:?} has no object named {name:?} (see `orbit ls {fleet}`)"
            )));
        }
    }
    let rates = Rates::between(&a, &b);
    if m.flag("json") {
        out.line(&json(&inv, &b, &rates).line())?;
    } else {
        out.write(&text(&inv, &b, &rates, only.is_none()))?;
    }
    Ok(())
}

/// Counts of members by state.
fn census(s: &Sample) -> (usize, usize, usize) {
    let m = s.members.as_deref().unwrap_or(&[]);
    let n = |st| m.iter().filter(|x| x.state == st).count();
    (
        n(MemberState::Alive),
        n(MemberState::Stale),
        n(MemberState::Dead),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The stat view as text (also each frame of `top`).
pub fn text(inv: &Inventory, s: &Sample, r: &Rates, with_members: bool) -> String {
    let mut o = String::new();
    let (alive, stale, dead) = census(s);
    let members_line = match &s.members {
        Some(m) => format!(
            "{} ({alive} alive, {stale} stale, {dead} dead)",
            plural(m.len(), "member", "members")
        ),
        None => "no membership table".into(),
    };
    let leases = s.contest.as_ref().map_or(String::new(), |c| {
        format!(", {}", plural(c.holders.len(), "lease held", "leases held"))
    });
    o.push_str(&format!(
        "fleet {}: {members_line}, {}, {}, {}{leases}; rates over {:.2} s\n",
        inv.fleet,
        plural(s.rings.len(), "ring", "rings"),
        plural(s.caches.len(), "cache", "caches"),
        plural(s.buses.len(), "bus", "buses"),
        r.seconds
    ));
    if with_members {
        if let Some(m) = s.members.as_deref().filter(|m| !m.is_empty()) {
            o.push_str("\nMEMBERS\n");
            o.push_str(&members::table(m, s.heartbeats.as_ref(), s.wall_ms).render(2));
        }
    }
    if let Some(c) = &s.contest {
        if !c.holders.is_empty() {
            let mut t = Table::new(&["LEASE", "NODE", "PID", "TOKEN", "HELD FOR", "EXPIRES IN"]);
            for (subject, h) in &c.holders {
                t.row(vec![
                    render::key(subject.as_bytes()),
                    h.node_id.to_string(),
                    h.pid.to_string(),
                    h.token.to_string(),
                    age(s.wall_ms.saturating_sub(h.claimed_at_ms)),
                    age(h.expires_at_ms.saturating_sub(s.wall_ms)),
                ]);
            }
            o.push('\n');
            o.push_str(&t.render(2));
        }
    }
    if !s.rings.is_empty() {
        let mut t = Table::new(&[
            "RING",
            "SLOTS",
            "MAX PAYLOAD",
            "HEAD",
            "WRITES/S",
            "OVERWRITTEN",
            "TAKEOVERS",
            "WRITERS",
        ]);
        for x in &s.rings {
            t.row(vec![
                x.name.clone(),
                x.info.capacity.to_string(),
                bytes(x.info.max_payload.into()),
                x.info.head.to_string(),
                rate(r.ring_writes.get(&x.name).copied()),
                x.overwritten().to_string(),
                x.info.takeovers.to_string(),
                if x.info.single_writer {
                    "single"
                } else {
                    "many"
                }
                .to_string(),
            ]);
        }
        o.push('\n');
        o.push_str(&t.render(2));
    }
    if !s.caches.is_empty() {
        let mut t = Table::new(&[
            "CACHE",
            "ENTRIES",
            "CAPACITY",
            "HITS",
            "MISSES",
            "HIT%",
            "GETS/S",
            "SETS/S",
            "EVICTIONS",
            "EVICT/S",
            "TAKEOVERS",
        ]);
        for x in &s.caches {
            let st = &x.stats;
            let cr = r.cache.get(&x.name);
            let lifetime = st.hits + st.misses;
            t.row(vec![
                x.name.clone(),
                st.entries.to_string(),
                st.capacity.to_string(),
                st.hits.to_string(),
                st.misses.to_string(),
                if lifetime == 0 {
                    "-".into()
                } else {
                    format!("{:.1}%", 100.0 * st.hits as f64 / lifetime as f64)
                },
                rate(cr.map(|c| c.gets)),
                rate(cr.map(|c| c.sets)),
                st.evictions.to_string(),
                rate(cr.map(|c| c.evictions)),
                st.takeovers.to_string(),
            ]);
        }
        o.push('\n');
        o.push_str(&t.render(2));
    }
    if !s.buses.is_empty() {
        let mut t = Table::new(&[
            "BUS",
            "EVENTS",
            "MAX PAYLOAD",
            "PUBLISHED",
            "EVENTS/S",
            "OVERWRITTEN",
        ]);
        for x in &s.buses {
            t.row(vec![
                x.name.clone(),
                x.capacity.to_string(),
                bytes(x.max_payload.into()),
                x.head.to_string(),
                rate(r.bus_events.get(&x.name).copied()),
                x.overwritten().to_string(),
            ]);
        }
        o.push('\n');
        o.push_str(&t.render(2));
    }
    if let Some(c) = &s.contest {
        let st = &c.stats;
        o.push_str(&format!(
            "\n  lease table: {} of {} subjects held; {} takeovers (expired or dead holders), {} evictions, {} repairs\n",
            c.holders.len(),
            st.capacity,
            st.takeovers,
            st.evictions,
            st.repairs
        ));
    }
    if !s.problems.is_empty() {
        o.push('\n');
        for p in &s.problems {
            o.push_str(&format!("  ! {} {}: {}\n", p.kind.tag(), p.name, p.what));
        }
    }
    o
}

fn rate(x: Option<f64>) -> String {
    x.map_or("-".into(), si)
}

fn json(inv: &Inventory, s: &Sample, r: &Rates) -> Json {
    let members = s.members.as_ref().map(|m| {
        Json::A(
            m.iter()
                .map(|x| members::member_json(x, s.heartbeats.as_ref(), s.wall_ms))
                .collect(),
        )
    });
    let buses: Vec<Json> = s
        .buses
        .iter()
        .map(|x| {
            Json::obj()
                .with("name", x.name.as_str())
                .with("capacity", x.capacity)
                .with("max_payload", x.max_payload)
                .with("published", x.head)
                .with("overwritten", x.overwritten())
                .with("events_per_s", r.bus_events.get(&x.name).copied())
        })
        .collect();
    let leases = s.contest.as_ref().map(|c| {
        let holders: Vec<Json> = c
            .holders
            .iter()
            .map(|(subject, h)| {
                Json::obj()
                    .with("subject", subject.as_str())
                    .with("node_id", h.node_id)
                    .with("pid", h.pid)
                    .with("token", h.token)
                    .with("claimed_at_ms", h.claimed_at_ms)
                    .with("expires_at_ms", h.expires_at_ms)
            })
            .collect();
        Json::obj()
            .with("capacity", c.stats.capacity)
            .with("takeovers", c.stats.takeovers)
            .with("evictions", c.stats.evictions)
            .with("repairs", c.stats.repairs)
            .with("token_floor", c.stats.token_floor)
            .with("holders", holders)
    });
    let rings: Vec<Json> = s
        .rings
        .iter()
        .map(|x| {
            Json::obj()
                .with("name", x.name.as_str())
                .with("capacity", x.info.capacity)
                .with("max_payload", x.info.max_payload)
                .with("kind", x.info.kind)
                .with("head", x.info.head)
                .with("overwritten", x.overwritten())
                .with("takeovers", x.info.takeovers)
                .with("writes_per_s", r.ring_writes.get(&x.name).copied())
        })
        .collect();
    let caches: Vec<Json> = s
        .caches
        .iter()
        .map(|x| {
            let st = &x.stats;
            let cr = r.cache.get(&x.name);
            Json::obj()
                .with("name", x.name.as_str())
                .with("capacity", st.capacity)
                .with("max_key", st.max_key)
                .with("max_value", st.max_value)
                .with("entries", st.entries)
                .with("hits", st.hits)
                .with("misses", st.misses)
                .with("sets", st.sets)
                .with("deletes", st.deletes)
                .with("evictions", st.evictions)
                .with("takeovers", st.takeovers)
                .with("clears", st.clears)
                .with("gets_per_s", cr.map(|c| c.gets))
                .with("sets_per_s", cr.map(|c| c.sets))
                .with("evictions_per_s", cr.map(|c| c.evictions))
                .with("hit_ratio", cr.and_then(|c| c.hit_ratio))
        })
        .collect();
    let problems: Vec<Json> = s
        .problems
        .iter()
        .map(|p| {
            Json::obj()
                .with("kind", p.kind.tag())
                .with("name", p.name.as_str())
                .with("problem", p.what.as_str())
        })
        .collect();
    Json::obj()
        .with("fleet", inv.fleet.as_str())
        .with("uid", inv.uid)
        .with("sampled_at_ms", s.wall_ms)
        .with("interval_s", r.seconds)
        .with("members", members)
        .with("rings", rings)
        .with("caches", caches)
        .with("buses", buses)
        .with("leases", leases)
        .with("problems", problems)
}
