//! Ctrl-C and SIGTERM end `tail` and `top` cleanly (the terminal restored,
//! a summary printed); a closed pipe ends any command quietly, as for `cat`.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

/// Lets a closed pipe end the process, as it ends `cat` (the Rust runtime
/// ignores SIGPIPE, which would turn `orbit tail ... | head` into an error).
pub fn default_sigpipe() {
    // SAFETY: restoring a default disposition has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Makes Ctrl-C and SIGTERM set the flag [`stopped`] reads instead of
/// killing the process (for the long-running commands only).
pub fn catch_stop() {
    // SAFETY: a zeroed sigaction with a handler that only stores an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// Whether Ctrl-C or SIGTERM arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::Relaxed)
}
