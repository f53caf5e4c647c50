//! `orbit stat --prometheus`: the Prometheus text exposition format (0.0.4).
//!
//! Conventions followed: every name starts with `orbit_`; counters end in
//! `_total`; units are in names (`_bytes`, `_seconds`, `_frames`); each family
//! has one `# HELP` and one `# TYPE` line and all its samples together, even
//! across fleets; label values are escaped (`\\`, `\"`, `\n`). Only values
//! read in one sample are exported: rates are PromQL's job.

use orbit::MemberState;
use orbit::shm::scan::{self, HeaderState};

use crate::fail::{CliResult, Context};
use crate::inventory::Inventory;
use crate::members::state_word;
use crate::out::Out;

/// A metric family being collected.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// Families in the order they were first declared.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// Adds one sample of family `name` (declared on first use).
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, value)),
            None => self.families.push(Family {
                name,
                help,
                kind,
                samples: vec![(labels, value)],
            }),
        }
    }

    fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        l: &[(&'static str, &str)],
        v: f64,
    ) {
        self.add(name, "gauge", help, l, v);
    }

    fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        l: &[(&'static str, &str)],
        v: u64,
    ) {
        debug_assert!(name.ends_with("_total"));
        self.add(name, "counter", help, l, v as f64);
    }

    /// The text format.
    pub fn render(&self) -> String {
        let mut o = String::new();
        for f in &self.families {
            o.push_str(&format!("# HELP {} {}\n", f.name, f.help));
            o.push_str(&format!("# TYPE {} {}\n", f.name, f.kind));
            for (labels, v) in &f.samples {
                o.push_str(f.name);
                if !labels.is_empty() {
                    o.push('{');
                    for (i, (k, val)) in labels.iter().enumerate() {
                        if i > 0 {
                            o.push(',');
                        }
                        o.push_str(&format!("{k}=\"{}\"", escape(val)));
                    }
                    o.push('}');
                }
                o.push(' ');
                o.push_str(&number(*v));
                o.push('\n');
            }
        }
        o
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Exposes `fleet` (every fleet of this uid when `None`), objects named
/// `only` if given.
pub fn run(fleet: Option<&str>, only: Option<&str>, out: &mut Out) -> CliResult {
    let fleets: Vec<String> = match fleet {
        Some(f) => vec![f.to_string()],
        None => {
            let mut names: Vec<String> = scan::scan(scan::current_uid(), None)
                .ctx("listing /dev/shm")?
                .into_iter()
                .map(|s| s.name.fleet)
                .collect();
            names.dedup();
            names
        }
    };
    let mut e = Exposition::default();
    for f in &fleets {
        let mut inv = match Inventory::open(f) {
            Ok(inv) => inv,
            // A fleet removed between the scan and now is simply gone.
            Err(_) if fleet.is_none() => continue,
            Err(err) => return Err(err),
        };
        match collect(&mut inv, only, &mut e) {
            Ok(()) => {}
            Err(_) if fleet.is_none() => continue,
            Err(err) => return Err(err),
        }
    }
    out.write(&e.render())?;
    Ok(())
}

fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn collect(inv: &mut Inventory, only: Option<&str>, e: &mut Exposition) -> CliResult {
    let s = inv.sample(only)?;
    let fleet = inv.fleet.as_str();
    for seg in &s.segments {
        if only.is_some_and(|o| o != seg.name.name) {
            continue;
        }
        let l = [
            ("fleet", fleet),
            ("kind", seg.name.kind.tag()),
            ("name", seg.name.name.as_str()),
        ];
        e.gauge(
            "orbit_segment_size_bytes",
            "Size of the shared-memory segment file.",
            &l,
            seg.file_size as f64,
        );
        let ready = matches!(seg.header, HeaderState::Ready(_));
        if let HeaderState::Ready(h) = &seg.header {
            e.gauge(
                "orbit_segment_creation_timestamp_seconds",
                "When the segment was created, seconds since the Unix epoch.",
                &l,
                ms_to_s(h.created_at_ms),
            );
        }
        let healthy = ready
            && !s
                .problems
                .iter()
                .any(|p| p.kind == seg.name.kind && p.name == seg.name.name);
        e.gauge(
            "orbit_segment_healthy",
            "1 if the segment's header is ready and the object opens, else 0.",
            &l,
            if healthy { 1.0 } else { 0.0 },
        );
    }
    if let Some(members) = &s.members {
        for st in [MemberState::Alive, MemberState::Stale, MemberState::Dead] {
            e.gauge(
                "orbit_fleet_members",
                "Members of the fleet by state (alive, stale: no recent heartbeat, dead: process gone).",
                &[("fleet", fleet), ("state", state_word(st))],
                members.iter().filter(|m| m.state == st).count() as f64,
            );
        }
        for m in members {
            let node = m.node_id.to_string();
            let pid = m.pid.to_string();
            let l = [
                ("fleet", fleet),
                ("node", node.as_str()),
                ("label", m.label.as_str()),
            ];
            e.gauge(
                "orbit_member_info",
                "A member of the fleet (value 1), with its process id and state.",
                &[
                    ("fleet", fleet),
                    ("node", node.as_str()),
                    ("label", m.label.as_str()),
                    ("pid", pid.as_str()),
                    ("state", state_word(m.state)),
                ],
                1.0,
            );
            e.gauge(
                "orbit_member_up",
                "1 while the member's process runs (alive or stale), 0 once it is dead.",
                &l,
                if m.state == MemberState::Dead {
                    0.0
                } else {
                    1.0
                },
            );
            e.gauge(
                "orbit_member_last_heartbeat_timestamp_seconds",
                "The member's last heartbeat, seconds since the Unix epoch.",
                &l,
                ms_to_s(m.last_heartbeat_ms),
            );
            e.gauge(
                "orbit_member_joined_timestamp_seconds",
                "When the member joined, seconds since the Unix epoch.",
                &l,
                ms_to_s(m.joined_at_ms),
            );
        }
    }
    for r in &s.rings {
        let l = [("fleet", fleet), ("name", r.name.as_str())];
        e.gauge(
            "orbit_ring_capacity_frames",
            "Slots of the ring.",
            &l,
            r.info.capacity as f64,
        );
        e.gauge(
            "orbit_ring_max_payload_bytes",
            "Largest payload a frame of the ring can carry.",
            &l,
            r.info.max_payload.into(),
        );
        e.counter(
            "orbit_ring_writes_total",
            "Frames written to the ring (positions claimed, the ring's head).",
            &l,
            r.info.head,
        );
        e.counter(
            "orbit_ring_overwritten_frames_total",
            "Frames the ring no longer holds (overwritten a lap later).",
            &l,
            r.overwritten(),
        );
        e.counter(
            "orbit_ring_takeovers_total",
            "Slots taken over from writers that died mid-write.",
            &l,
            r.info.takeovers,
        );
    }
    for b in &s.buses {
        let l = [("fleet", fleet), ("name", b.name.as_str())];
        e.gauge(
            "orbit_bus_capacity_events",
            "Events the bus holds.",
            &l,
            b.capacity as f64,
        );
        e.gauge(
            "orbit_bus_max_payload_bytes",
            "Largest event payload the bus carries.",
            &l,
            b.max_payload.into(),
        );
        e.counter(
            "orbit_bus_events_total",
            "Events published on the bus.",
            &l,
            b.head,
        );
        e.counter(
            "orbit_bus_overwritten_events_total",
            "Events the bus no longer holds (overwritten a lap later).",
            &l,
            b.overwritten(),
        );
    }
    if let Some(c) = &s.contest {
        let l = [("fleet", fleet)];
        e.gauge(
            "orbit_contest_capacity_subjects",
            "Subjects the fleet's lease table holds.",
            &l,
            c.stats.capacity.into(),
        );
        e.gauge(
            "orbit_contest_leases_held",
            "Subjects currently held by a live holder.",
            &l,
            c.holders.len() as f64,
        );
        e.counter(
            "orbit_contest_takeovers_total",
            "Leases granted over an expired lease or a dead holder.",
            &l,
            c.stats.takeovers,
        );
        e.counter(
            "orbit_contest_evictions_total",
            "Subjects evicted from the lease table to make room.",
            &l,
            c.stats.evictions,
        );
        e.counter(
            "orbit_contest_repairs_total",
            "Lease entries repaired after a process died binding a subject.",
            &l,
            c.stats.repairs,
        );
        for (subject, h) in &c.holders {
            let node = h.node_id.to_string();
            let pid = h.pid.to_string();
            e.gauge(
                "orbit_lease_holder_info",
                "A held lease (value 1) with its holder's node and pid.",
                &[
                    ("fleet", fleet),
                    ("subject", subject.as_str()),
                    ("node", node.as_str()),
                    ("pid", pid.as_str()),
                ],
                1.0,
            );
            let l = [("fleet", fleet), ("subject", subject.as_str())];
            e.gauge(
                "orbit_lease_token",
                "Fencing token of the lease's current grant.",
                &l,
                h.token as f64,
            );
            e.gauge(
                "orbit_lease_expiry_timestamp_seconds",
                "When the lease expires unless renewed, seconds since the Unix epoch.",
                &l,
                ms_to_s(h.expires_at_ms),
            );
        }
    }
    for c in &s.caches {
        let st = &c.stats;
        let l = [("fleet", fleet), ("name", c.name.as_str())];
        e.gauge(
            "orbit_cache_capacity_entries",
            "Entries the cache's log holds.",
            &l,
            st.capacity as f64,
        );
        e.gauge(
            "orbit_cache_entries",
            "Entries currently indexed.",
            &l,
            st.entries as f64,
        );
        e.counter(
            "orbit_cache_hits_total",
            "Gets that found their key.",
            &l,
            st.hits,
        );
        e.counter(
            "orbit_cache_misses_total",
            "Gets that did not find their key.",
            &l,
            st.misses,
        );
        e.counter(
            "orbit_cache_sets_total",
            "Writes appended to the cache's log (set, add, cas, incr).",
            &l,
            st.sets,
        );
        e.counter(
            "orbit_cache_deletes_total",
            "Successful deletes.",
            &l,
            st.deletes,
        );
        e.counter(
            "orbit_cache_evictions_total",
            "Live entries dropped for room.",
            &l,
            st.evictions,
        );
        e.counter(
            "orbit_cache_takeovers_total",
            "Buckets and log slots taken over from writers that died holding them.",
            &l,
            st.takeovers,
        );
        e.counter("orbit_cache_clears_total", "Clear calls.", &l, st.clears);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_stay_together_and_values_are_escaped() {
        let mut e = Exposition::default();
        e.gauge("orbit_a", "A.", &[("fleet", "x")], 1.0);
        e.counter("orbit_b_total", "B.", &[("fleet", "x")], 2);
        e.gauge("orbit_a", "A.", &[("fleet", "q\"\\\n")], 0.5);
        assert_eq!(
            e.render(),
            "# HELP orbit_a A.\n# TYPE orbit_a gauge\norbit_a{fleet=\"x\"} 1\n\
             orbit_a{fleet=\"q\\\"\\\\\\n\"} 0.5\n\
             # HELP orbit_b_total B.\n# TYPE orbit_b_total counter\norbit_b_total{fleet=\"x\"} 2\n"
        );
    }
}
