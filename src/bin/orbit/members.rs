//! `orbit members <fleet>`: the membership table, each node alive, stale or dead.

use orbit::{FleetHeartbeatSnapshot, Member, MemberState, OrbitEpoch};

use crate::args::{Matches, Opt, Spec};
use crate::fail::CliResult;
use crate::inventory::Inventory;
use crate::json::Json;
use crate::out::Out;
use crate::render::{Table, ago};

pub static SPEC: Spec = Spec {
    name: "members",
    args: "<fleet>",
    arity: (1, 1),
    about: "List a fleet's members: node id, pid, label, state, joined, last heartbeat.",
    opts: &[Opt {
        long: "json",
        value: None,
        help: "a JSON array, one object per member",
    }],
    details: "\
States: alive (process runs, heartbeat recent), stale (process runs, no heartbeat
within the fleet's limit, 10 s by default), dead (process gone; its node id will be
reused). BEATS counts the member's heartbeats the fleet's history ring (`heartbeats`,
1024 frames) still holds. Reads through an observer: takes no node id.",
};

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let inv = Inventory::open(m.pos[0].as_str())?;
    let fleet = inv.require_observer()?;
    let members = fleet.members();
    let beats = fleet.heartbeat_snapshot().ok();
    let now = OrbitEpoch::now().as_millis();
    if m.flag("json") {
        let rows: Vec<Json> = members
            .iter()
            .map(|x| member_json(x, beats.as_ref(), now))
            .collect();
        return Ok(out.line(&Json::A(rows).line())?);
    }
    if members.is_empty() {
        out.line(&format!("fleet {}: no members", inv.fleet))?;
        return Ok(());
    }
    out.write(&table(&members, beats.as_ref(), now).render(0))?;
    Ok(())
}

/// The word for a state.
pub fn state_word(s: MemberState) -> &'static str {
    match s {
        MemberState::Alive => "alive",
        MemberState::Stale => "stale",
        MemberState::Dead => "dead",
    }
}

/// Heartbeats of a member the history ring still holds (`None`: no history).
fn beats(x: &Member, history: Option<&FleetHeartbeatSnapshot>) -> Option<u64> {
    history?
        .nodes
        .iter()
        .find(|n| n.member && n.node_id == x.node_id && n.pid == x.pid)
        .map(|n| n.beats_in_history)
}

/// Members as a table (shared with `stat` and `top`).
pub fn table(members: &[Member], history: Option<&FleetHeartbeatSnapshot>, now: u64) -> Table {
    let mut t = Table::new(&[
        "NODE",
        "PID",
        "LABEL",
        "STATE",
        "JOINED",
        "LAST HEARTBEAT",
        "BEATS",
    ]);
    for x in members {
        t.row(vec![
            x.node_id.to_string(),
            x.pid.to_string(),
            if x.label.is_empty() {
                "-".into()
            } else {
                x.label.clone()
            },
            state_word(x.state).into(),
            ago(now, x.joined_at_ms),
            ago(now, x.last_heartbeat_ms),
            beats(x, history).map_or("-".into(), |n| n.to_string()),
        ]);
    }
    t
}

/// One member as JSON (shared with `stat`).
pub fn member_json(x: &Member, history: Option<&FleetHeartbeatSnapshot>, now: u64) -> Json {
    Json::obj()
        .with("node_id", x.node_id)
        .with("pid", x.pid)
        .with("label", x.label.as_str())
        .with("state", state_word(x.state))
        .with("joined_at_ms", x.joined_at_ms)
        .with("last_heartbeat_ms", x.last_heartbeat_ms)
        .with("heartbeat_age_ms", now.saturating_sub(x.last_heartbeat_ms))
        .with("beats_in_history", beats(x, history))
}
