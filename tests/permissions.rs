//! Segments and other Unix users. The test creates its own users and group
//! (`useradd`/`groupadd`, removed at the end; it needs root and skips with a
//! printed reason otherwise) and runs children as them:
//!
//! - `owner` (primary group G) creates fleet "same" (default mode 0600) and
//!   fleet "shared" (mode 0660), each with a ring "r";
//! - `member` (in G) cannot open the 0600 segments, can open and write the
//!   0660 ones, and cannot unlink either (/dev/shm is sticky);
//! - `stranger` (not in G) can open neither, nor unlink them;
//! - `stranger` also creates its own fleet "same" with ring "r": a segment of
//!   its own name (names are scoped by uid), which never touches the owner's;
//! - a segment under the stranger's own name that it may not open (planted
//!   by root, mode 0600) is `PERMISSION` through the public API.
//!
//! Names are scoped by uid: a bare fleet name is the caller's own, and
//! another user's fleet is named `<uid>:<fleet>` through the public API
//! (join, observe, open, unlink). The read-only attach is also checked at
//! the segment layer (`orbit::shm::open` with `SegmentName::for_uid`), which
//! the public API does not expose.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{param, report, spawn};
use orbit::shm::{self, ObjectKind, OpenRequest, SegmentLayout, SegmentName};
use orbit::{Error, Fleet, FleetOptions, From, Ring, RingOptions, Status};

const LONG: Duration = Duration::from_secs(60);

/// Attaches to a ring segment by its full name (any owner): the library's
/// attach path with a layout that checks the ring header's geometry words.
struct AnyRing;

impl SegmentLayout for AnyRing {
    const KIND: ObjectKind = ObjectKind::Ring;
    const LAYOUT_VERSION: u32 = common::ring_layout::VERSION;
    type Geometry = (u64, u64);
    fn encode(g: &(u64, u64)) -> [u64; 8] {
        [g.0, g.1, 0, 0, 0, 0, 0, 0]
    }
    fn decode(raw: &[u64; 8]) -> orbit::Result<(u64, u64)> {
        // capacity, slot stride
        if raw[0] == 0 || raw[0] > 1 << 30 || raw[3] == 0 || raw[3] > 1 << 25 {
            return Err(Error::Corrupt("not a ring geometry".into()));
        }
        Ok((raw[0], raw[3]))
    }
    fn total_size(g: &(u64, u64)) -> orbit::Result<usize> {
        Ok((common::ring_layout::slots(g.0) + g.0 * g.1) as usize)
    }
    unsafe fn init_body(_base: *mut u8, _g: &(u64, u64)) {
        unreachable!("never creates")
    }
}

fn attach(uid: u32, fleet: &str, read_only: bool) -> Result<shm::Segment, Error> {
    let name = SegmentName::for_uid(uid, fleet, ObjectKind::Ring, "r").unwrap();
    shm::open::<AnyRing>(
        &name,
        OpenRequest {
            create: None,
            read_only,
            mode: 0,
        },
    )
    .map(|(seg, _)| seg)
}

fn status<T>(r: Result<T, Error>) -> Status {
    r.map(|_| Status::Ok).unwrap_or_else(|e| e.status())
}

fn unlink_status(uid: u32, fleet: &str) -> Status {
    let name = SegmentName::for_uid(uid, fleet, ObjectKind::Ring, "r").unwrap();
    shm::unlink(&name)
        .map(|_| Status::Ok)
        .unwrap_or_else(|e| e.status())
}

fn ring_opts() -> RingOptions {
    RingOptions {
        capacity: 16,
        max_payload: 64,
        kind: 4,
        mode: 0,
        single_writer: false,
    }
}

/// Drops root for good: supplementary groups, gid, uid.
fn become_user(uid: u32, gid: u32, groups: &[u32]) {
    // SAFETY: plain syscalls in a single-purpose child, before anything else.
    unsafe {
        assert_eq!(
            libc::setgroups(groups.len(), groups.as_ptr() as *const libc::gid_t),
            0,
            "setgroups"
        );
        assert_eq!(libc::setgid(gid), 0, "setgid");
        assert_eq!(libc::setuid(uid), 0, "setuid");
        assert_eq!(libc::geteuid(), uid);
    }
}

fn groups_param() -> Vec<u32> {
    param::<String>("GROUPS")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Entry point of the children; a no-op in the normal test run.
#[test]
fn child_process() {
    let Some(role) = common::role() else { return };
    become_user(param("UID"), param("GID"), &groups_param());
    let owner: u32 = param("OWNER");
    match role.as_str() {
        "owner" => {
            for (fleet, mode) in [("same", 0), ("shared", 0o660)] {
                let f = Fleet::join(
                    fleet,
                    &FleetOptions {
                        mode,
                        ..Default::default()
                    },
                )
                .unwrap();
                let r = Ring::open(&f, "r", Some(&ring_opts())).unwrap();
                r.write(1, 1, format!("owner's {fleet}").as_bytes())
                    .unwrap();
            }
            report("done");
        }
        "member" => {
            // In the owner's group: the 0600 fleet is closed, the 0660 one
            // open, reached by its qualified name "<uid>:<fleet>".
            let same = format!("{owner}:same");
            let shared = format!("{owner}:shared");
            assert_eq!(status(Fleet::observe(&same)), Status::Permission);
            assert_eq!(
                status(Fleet::join(&same, &FleetOptions::default())),
                Status::Permission
            );
            assert_eq!(status(attach(owner, "same", true)), Status::Permission);
            let f = Fleet::join(&shared, &FleetOptions::default()).expect("member joins 0660");
            assert!(f.node_id().is_some());
            assert_eq!(f.name(), shared);
            let r = Ring::open(&f, "r", None).expect("member opens the 0660 ring");
            let mut c = r.cursor(From::Oldest);
            let first = c.next_frame().unwrap().expect("the owner's frame");
            assert_eq!(first.payload, b"owner's shared");
            r.write(1, 3, b"member's write").unwrap();
            let seg = attach(owner, "shared", false).expect("group member attaches 0660");
            assert!(!seg.read_only());
            assert_eq!(seg.header().object_type, ObjectKind::Ring as u32);
            // ... but may not remove another user's name (sticky /dev/shm).
            for fleet in [&shared, &same] {
                assert_eq!(
                    Ring::unlink(fleet, "r").unwrap_err().status(),
                    Status::Permission
                );
            }
            assert_eq!(unlink_status(owner, "shared"), Status::Permission);
            report("done");
        }
        "stranger" => {
            for fleet in ["same", "shared"] {
                let q = format!("{owner}:{fleet}");
                assert_eq!(status(Fleet::observe(&q)), Status::Permission);
                assert_eq!(
                    status(Fleet::join(&q, &FleetOptions::default())),
                    Status::Permission
                );
                assert_eq!(status(attach(owner, fleet, false)), Status::Permission);
                assert_eq!(status(attach(owner, fleet, true)), Status::Permission);
                assert_eq!(
                    Ring::unlink(&q, "r").unwrap_err().status(),
                    Status::Permission
                );
            }
            // Its own fleet "same" is a different segment: it starts empty,
            // and what it writes stays in it.
            let f = Fleet::join("same", &FleetOptions::default()).unwrap();
            let r = Ring::open(&f, "r", Some(&ring_opts())).unwrap();
            assert!(r.cursor(From::Oldest).next_frame().unwrap().is_none());
            r.write(1, 2, b"stranger's same").unwrap();
            // A segment under its own name that it may not open.
            assert_eq!(
                Ring::open(&f, "locked", None).unwrap_err().status(),
                Status::Permission
            );
            assert_eq!(
                Ring::open(&f, "locked", Some(&ring_opts()))
                    .unwrap_err()
                    .status(),
                Status::Permission
            );
            report("done");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Users and a group made for this test, removed when dropped.
struct Accounts {
    users: Vec<String>,
    group: Option<String>,
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for u in &self.users {
            let _ = Command::new("userdel").arg(u).status();
        }
        if let Some(g) = &self.group {
            let _ = Command::new("groupdel").arg(g).status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn id_of(flag: &str, user: &str) -> u32 {
    run("id", &[flag, user]).unwrap().parse().unwrap()
}

fn groups_of(user: &str) -> String {
    run("id", &["-G", user]).unwrap().replace(' ', ",")
}

#[test]
fn other_users_cannot_attach_unless_the_group_mode_grants_it() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: creating Unix users needs root (running as another user)");
        return;
    }
    if run("useradd", &["--help"]).is_err() && Command::new("useradd").output().is_err() {
        eprintln!("SKIPPED: useradd is not installed");
        return;
    }
    let tag = std::process::id() % 100_000;
    let group = format!("orbg{tag}");
    let [owner, member, stranger] = ["a", "m", "s"].map(|r| format!("orb{r}{tag}"));
    let mut acct = Accounts {
        users: Vec::new(),
        group: None,
    };
    if let Err(e) = run("groupadd", &[&group]) {
        eprintln!("SKIPPED: cannot create a group: {e}");
        return;
    }
    acct.group = Some(group.clone());
    for (user, extra) in [
        (&owner, vec!["-g", group.as_str()]),
        (&member, vec!["-U", "-G", group.as_str()]),
        (&stranger, vec!["-U"]),
    ] {
        let mut args = vec!["-M", "-s", "/usr/sbin/nologin"];
        args.extend(extra);
        args.push(user);
        run("useradd", &args).unwrap_or_else(|e| panic!("useradd: {e}"));
        acct.users.push(user.clone());
    }
    let owner_uid = id_of("-u", &owner);
    let stranger_uid = id_of("-u", &stranger);
    let path = |uid: u32, fleet: &str, kind, name: &str| {
        SegmentName::for_uid(uid, fleet, kind, name)
            .unwrap()
            .dev_shm_path()
    };
    let remove_all = || {
        for uid in [owner_uid, stranger_uid] {
            for fleet in ["same", "shared"] {
                for (kind, name) in [
                    (ObjectKind::Ring, "r"),
                    (ObjectKind::Ring, "locked"),
                    (ObjectKind::Fleet, "members"),
                ] {
                    let _ = std::fs::remove_file(path(uid, fleet, kind, name));
                }
            }
        }
    };
    remove_all();
    struct Sweep<F: Fn()>(F);
    impl<F: Fn()> Drop for Sweep<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _sweep = Sweep(remove_all);

    let as_user = |role: &str, user: &str| {
        let mut c = spawn(
            role,
            &[
                ("UID", id_of("-u", user).to_string()),
                ("GID", id_of("-g", user).to_string()),
                ("GROUPS", groups_of(user)),
                ("OWNER", owner_uid.to_string()),
            ],
        );
        let reports = c.finish(LONG);
        assert_eq!(reports, ["done"], "{role} as {user}");
    };
    as_user("owner", &owner);
    let mode = |fleet: &str| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path(owner_uid, fleet, ObjectKind::Ring, "r")).unwrap();
        (m.mode() & 0o777, m.uid(), m.gid())
    };
    let gid = id_of("-g", &owner);
    assert_eq!(mode("same"), (0o600, owner_uid, gid));
    assert_eq!(mode("shared"), (0o660, owner_uid, gid));

    // Root plants a 0600 segment under the name the stranger's ring "locked"
    // would have.
    let locked = path(stranger_uid, "same", ObjectKind::Ring, "locked");
    std::fs::copy(path(owner_uid, "same", ObjectKind::Ring, "r"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    as_user("member", &member);
    as_user("stranger", &stranger);

    // Two users' fleets "same": two files, each with its own frames only.
    let read_all = |uid: u32| {
        let bytes = std::fs::read(path(uid, "same", ObjectKind::Ring, "r")).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (a, s) = (read_all(owner_uid), read_all(stranger_uid));
    assert!(a.contains("owner's same") && !a.contains("stranger's"));
    assert!(s.contains("stranger's same") && !s.contains("owner's"));
    // The member's write through the 0660 mapping landed in the owner's ring.
    let shared = std::fs::read(path(owner_uid, "shared", ObjectKind::Ring, "r")).unwrap();
    let shared = String::from_utf8_lossy(&shared);
    assert!(shared.contains("owner's shared") && shared.contains("member's write"));
    eprintln!(
        "permissions: owner uid {owner_uid}, stranger uid {stranger_uid}: 0600 closed to both, \
         0660 open to the group member only (as \"<uid>:<fleet>\"), unlink refused to both, names never collide"
    );
}
