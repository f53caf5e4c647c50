//! Is a process still the one we think it is? A pid alone can be reused, so a
//! process is identified by (pid, start time), the start time read from
//! `/proc/<pid>/stat` (field 22, clock ticks since boot).
//!
//! These calls read `/proc`; they are only made on slow paths (joining,
//! deciding a takeover, listing members), never on a hot path.

use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};

/// Start time of `pid` in clock ticks since boot, `None` if there is no such
/// process or it is a zombie (it will never run code again).
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or
    // ')': fields are counted after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with " state ppid ...": field 3 is index 0 here, so field 22 is index 19.
    let mut fields = rest.split_ascii_whitespace();
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// True when a process with this pid exists (ours or another user's).
/// Zombies do not count: they run no code and hold no stores in flight.
pub fn pid_exists(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    (r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
        && process_start_time(pid).is_some()
}

/// True when (pid, start time) still names a running process.
pub fn is_same_process_alive(pid: u32, start_time: u64) -> bool {
    pid_exists(pid) && process_start_time(pid) == Some(start_time)
}

/// Incremented in every child right after `fork()`. Handles record it when
/// they are created; a handle used in a forked child sees a different value
/// and refuses to write with its parent's identity.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_fork_child() {
    FORK_GENERATION.fetch_add(1, StdOrdering::Relaxed);
}

/// The current fork generation of this process (installs the atfork hook once).
#[inline]
pub fn fork_generation() -> u64 {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registering a handler that only touches an atomic is async-signal-safe.
        unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
    });
    FORK_GENERATION.load(StdOrdering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id();
        let st = process_start_time(me).expect("own start time");
        assert!(is_same_process_alive(me, st));
        assert!(!is_same_process_alive(me, st + 1));
        assert!(!pid_exists(0));
    }
}
