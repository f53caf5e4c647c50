//! `orbit top <fleet>`: the stat view refreshed in place with plain ANSI
//! escapes (alternate screen, cursor home, clear to end of line), until `q`,
//! Ctrl-C or `--iterations`.

use std::time::Duration;

use orbit::OrbitEpoch;

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult};
use crate::inventory::{Inventory, Rates};
use crate::out::Out;
use crate::render::utc;
use crate::signal;
use crate::stat;

pub static SPEC: Spec = Spec {
    name: "top",
    args: "<fleet>",
    arity: (1, 1),
    about: "Live view of a fleet: members, rates per second, counters; refreshed in place.",
    opts: &[
        Opt {
            long: "interval",
            value: Some("DURATION"),
            help: "time between refreshes (default 1s)",
        },
        Opt {
            long: "iterations",
            value: Some("N"),
            help: "stop after N refreshes (default: until q or Ctrl-C)",
        },
    ],
    details: "\
Shows what `orbit stat` shows, with rates over each refresh interval. Objects made or
removed while it runs appear and disappear. Quit with q or Ctrl-C; the terminal is
restored. Reads through an observer: takes no node id.",
};

pub fn run(m: &Matches, out: &mut Out) -> CliResult {
    let interval = m.duration("interval")?.unwrap_or(Duration::from_secs(1));
    if interval < Duration::from_millis(50) {
        return Err(CliError::usage(
            "--interval below 50ms would only measure the terminal",
        ));
    }
    let iterations = m.count("iterations")?;
    let mut inv = Inventory::open(m.pos[0].as_str())?;
    let mut prev = Some(inv.sample(None)?);
    signal::catch_stop();
    let keys = Keyboard::raw();
    let mut screen = Screen::enter(out)?;
    screen.draw(&format!(
        "orbit top: fleet {}: sampling every {:.1}s ...",
        inv.fleet,
        interval.as_secs_f64()
    ))?;
    let mut shown = 0u64;
    while iterations.is_none_or(|n| shown < n) {
        if wait(interval, &keys) {
            break;
        }
        let head = format!(
            "orbit top  fleet {}  {}  every {:.1}s  (q or Ctrl-C quits)\n\n",
            inv.fleet,
            utc(OrbitEpoch::now().as_millis()),
            interval.as_secs_f64()
        );
        match inv.sample(None) {
            Ok(cur) => {
                let body = match &prev {
                    Some(p) => stat::text(&inv, &cur, &Rates::between(p, &cur), true),
                    None => "(the fleet is back: rates from the next refresh on)\n".into(),
                };
                screen.draw(&(head + &body))?;
                prev = Some(cur);
            }
            // Removed (`orbit clean`, a restart): keep watching for it.
            Err(e) if e.code == crate::fail::NOT_FOUND => {
                screen.draw(&format!(
                    "{head}{}\nwaiting for it to appear again ...\n",
                    e.msg
                ))?;
                prev = None;
            }
            Err(e) => {
                drop(screen);
                return Err(e);
            }
        }
        shown += 1;
    }
    Ok(())
}

/// Sleeps `d` while watching for Ctrl-C and `q`; true when asked to quit.
fn wait(d: Duration, keys: &Keyboard) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if signal::stopped() || keys.quit_pressed() {
            return true;
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// The alternate screen, left (and the cursor shown again) on drop.
struct Screen<'a> {
    out: &'a mut Out,
}

impl<'a> Screen<'a> {
    fn enter(out: &'a mut Out) -> std::io::Result<Screen<'a>> {
        out.write("\x1b[?1049h\x1b[?25l")?;
        Ok(Screen { out })
    }

    /// Replaces the screen's contents, cut to the terminal's size.
    fn draw(&mut self, text: &str) -> std::io::Result<()> {
        let (cols, rows) = terminal_size();
        let mut frame = String::from("\x1b[H");
        for line in text.lines().take(rows.saturating_sub(1).max(1)) {
            frame.extend(line.chars().take(cols));
            frame.push_str("\x1b[K\r\n");
        }
        frame.push_str("\x1b[J");
        self.out.write(&frame)?;
        self.out.flush()
    }
}

impl Drop for Screen<'_> {
    fn drop(&mut self) {
        let _ = self.out.write("\x1b[?25h\x1b[?1049l");
        let _ = self.out.flush();
    }
}

/// (columns, rows) of the terminal on stdout; 120 x 50 when it is not one.
fn terminal_size() -> (usize, usize) {
    // SAFETY: a zeroed winsize is a valid out-buffer for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: ioctl on stdout with a pointer to a live winsize.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col as usize, ws.ws_row as usize)
    } else {
        (120, 50)
    }
}

/// Standard input without line buffering or echo while `top` runs (when it is
/// a terminal), so a single `q` quits; restored on drop.
struct Keyboard {
    saved: Option<libc::termios>,
}

impl Keyboard {
    fn raw() -> Keyboard {
        // SAFETY: isatty has no preconditions.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } != 1 {
            return Keyboard { saved: None };
        }
        // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: stdin is a terminal; `t` is a live termios.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return Keyboard { saved: None };
        }
        let saved = t;
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: as above; a termios derived from the current one.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) };
        Keyboard { saved: Some(saved) }
    }

    fn quit_pressed(&self) -> bool {
        if self.saved.is_none() {
            return false;
        }
        let mut buf = [0u8; 16];
        // SAFETY: VMIN = VTIME = 0 makes this read return at once; buf is live.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        n > 0 && buf[..n as usize].iter().any(|b| matches!(b, b'q' | b'Q'))
    }
}

impl Drop for Keyboard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restores the settings read in `raw`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t) };
        }
    }
}
