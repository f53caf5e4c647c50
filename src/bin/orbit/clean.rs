//! `orbit clean <fleet>`: removes a fleet's segments once nothing uses them.
//!
//! "Uses" is checked two ways: the membership table (a member whose process
//! runs, alive or stale), and `/proc/<pid>/maps` of every process this user
//! may read (an observer, or a program that opened an object without joining,
//! maps the segment too). Either refuses the clean unless `--force`.

use std::collections::BTreeSet;

use orbit::shm::ObjectKind;
use orbit::shm::scan::{self, SegmentFile};
use orbit::{Fleet, MemberState};

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult, Context};
use crate::out::Out;

pub static SPEC: Spec = Spec {
    name: "clean",
    args: "<fleet>",
    arity: (1, 1),
    about: "Remove a fleet's segments once no live process uses them.",
    opts: &[
        Opt {
            long: "dry-run",
            value: None,
            help: "print what would be removed, remove nothing",
        },
        Opt {
            long: "force",
            value: None,
            help: "remove even while processes use the fleet (DANGEROUS, see below)",
        },
    ],
    details: "\
Refuses (exit 4) while any member's process runs (alive or stale) or any other
process maps one of the fleet's segments (read from /proc/<pid>/maps), naming them.
Dead members do not count: their segments are exactly what clean is for.

--force removes the names anyway. Processes already attached keep working on the
removed segments, invisible to every process that starts afterwards: those create a
new, empty fleet under the same names. The fleet splits in two without noticing:
a lease can then be held on both sides at once (fencing tokens start again from 1),
cache writes and ring frames of one side never reach the other. Use it only when
the remaining processes are about to exit, or are stuck and will be restarted.",
};

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let fleet = m.pos[0].as_str();
    let (uid, bare) = crate::fail::check_fleet(fleet)?;
    let segments = scan::scan(uid, Some(bare)).ctx("listing /dev/shm")?;
    if segments.is_empty() {
        return Err(CliError::not_found(format!(
            "no fleet {fleet:?}: nothing named /dev/shm/orbit:{uid}:{bare}:*"
        )));
    }
    let mut users: Vec<String> = Vec::new();
    let mut pids = BTreeSet::new();
    if let Ok(observer) = Fleet::observe(fleet) {
        for x in observer.members() {
            if x.state != MemberState::Dead && pids.insert(x.pid) {
                users.push(format!(
                    "member node {} pid {}{}",
                    x.node_id,
                    x.pid,
                    if x.label.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", x.label)
                    }
                ));
            }
        }
    }
    let prefix = format!("/dev/shm/orbit:{uid}:{bare}:");
    for pid in mapping_pids(&prefix) {
        if pids.insert(pid) {
            users.push(format!("pid {pid} maps its segments"));
        }
    }
    if !users.is_empty() && !m.flag("force") {
        return Err(CliError::refused(format!(
            "refusing to clean fleet {fleet:?}: in use by {}; stop them first (or --force, see `orbit clean --help`)",
            users.join(", ")
        )));
    }
    // The membership table goes last: while it exists, a process that joins
    // meanwhile is visible to a second run.
    let mut order: Vec<&SegmentFile> = segments.iter().collect();
    order.sort_by_key(|s| s.name.kind == ObjectKind::Fleet);
    let verb = if m.flag("dry-run") {
        "would remove"
    } else {
        "removed"
    };
    let mut failed = Vec::new();
    for s in order {
        if !m.flag("dry-run") {
            if let Err(e) = std::fs::remove_file(&s.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    failed.push(format!("{}: {e}", s.path.display()));
                }
                continue;
            }
        }
        out.line(&format!("{verb} {}", s.path.display()))?;
    }
    if !failed.is_empty() {
        return Err(CliError::failed(format!(
            "could not remove {}",
            failed.join("; ")
        )));
    }
    if !users.is_empty() {
        eprintln!(
            "orbit clean: --force: {} still attached to the removed segments",
            users.join(", ")
        );
    }
    Ok(())
}

/// Processes (other than this one) whose memory maps a file under `prefix`.
/// Processes whose maps this user may not read are skipped.
fn mapping_pids(prefix: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .is_ok_and(|maps| maps.lines().any(|l| l.contains(prefix)))
        })
        .collect();
    pids.sort_unstable();
    pids
}
