//! Cursors: a reader's position in a ring, with exact loss accounting and a
//! futex-backed `wait`.

use std::sync::Arc;
use std::time::Duration;

use super::protocol::{ReadOutcome, Whole, lap_code, owner_lap, owner_tag};
use super::{Frame, FrameInfo, RingInner, futex};
use crate::epoch::{Deadline, monotonic_ns};
use crate::error::{Error, Result};
use crate::id::NetId64;
use crate::sync::{Ordering, fence};

/// Where a new cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// At the oldest frame the ring still holds.
    Oldest,
    /// At the head: only frames written from now on.
    Head,
}

/// Empty polls at one position between two probes of its owner word (see
/// `RingView::try_read`): a writer that claimed the position and died before
/// writing it is noticed after this many polls (tens of microseconds of
/// polling), then skipped by the pending logic; the polls in between read the
/// slot's cache line only. A probe reads the owner words' cache line, which
/// the writers' next claim then has to take back, so probes are rare: at 256
/// polls they cost a reader that keeps up with a 64 B writer a third of its
/// delivered rate (measured with `make bench-peers`).
const PROBE_EVERY: u32 = 1 << 14;
/// Polls of a slot seen being written before its owner word is probed: a
/// live writer finishes a frame in well under a microsecond, so a slot that
/// stays begun this long has a descheduled or dead writer, and the pending
/// logic (liveness checks) takes over.
const PROBE_WRITING_AFTER: u32 = 256;
/// Empty polls at one position before they also look at the slot's `begin`
/// (to tell a slot being written from one not started; see
/// `RingView::try_read`): a reader that finds its frame within this many
/// polls never loads the line the writer opens its frame on.
const LOOK_AFTER: u32 = 256;

/// A cursor found overwritten at the very position its skip just took it to
/// is reading where a writer is writing: it then skips this fraction of the
/// ring more (at least one frame), so that its next reads are of slots no
/// writer is about to take (see `Cursor::skip_overwritten`).
const WAVEFRONT_MARGIN_SHIFT: u32 = 3;

/// How long a pending slot is left alone before its writer's liveness is checked.
const PENDING_CHECK_NS: u64 = 1_000_000;
/// Default longest wait on a pending slot whose writer is alive.
pub const DEFAULT_STUCK_TIMEOUT: Duration = Duration::from_secs(2);

/// A reader's position in a ring. Owned by one thread at a time (`Send`, not
/// `Sync`); any number of cursors may read one ring.
pub struct Cursor {
    ring: Arc<RingInner>,
    pos: u64,
    lost_total: u64,
    lost_since_frame: u64,
    /// (position, first seen pending, last liveness check), monotonic ns.
    pending: Option<(u64, u64, u64)>,
    /// (position, owner word) whose writer was found dead. The verdict is
    /// final (a dead process stays dead), so `next_into` acts on a check that
    /// `wait` made: without it each call would restart the check interval of
    /// the other, and a `wait` + `next_into` loop would never skip the frame.
    dead: Option<(u64, u64)>,
    stuck_timeout_ns: u64,
    /// Consecutive empty polls at `pos` (counts up to the next probe).
    idle: u32,
    /// Consecutive polls at `pos` that saw the slot being written.
    writing: u32,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("position", &self.pos)
            .field("lost", &self.lost_total)
            .finish()
    }
}

/// What `next` would do now, without doing it.
#[derive(PartialEq, Eq)]
enum Readiness {
    Ready,
    Pending,
    Empty,
}

impl Cursor {
    pub(super) fn new(ring: Arc<RingInner>, from: From) -> Cursor {
        let head = ring.view.ctl().head.load(Ordering::Acquire);
        let pos = match from {
            From::Oldest => head.saturating_sub(ring.view.capacity()),
            From::Head => head,
        };
        Cursor {
            ring,
            pos,
            lost_total: 0,
            lost_since_frame: 0,
            pending: None,
            dead: None,
            stuck_timeout_ns: DEFAULT_STUCK_TIMEOUT.as_nanos() as u64,
            idle: 0,
            writing: 0,
        }
    }

    /// Total frames lost so far (overwritten before this cursor read them, or
    /// skipped because their writer died mid-write or stayed stuck).
    pub fn lost(&self) -> u64 {
        self.lost_total
    }

    /// The next position this cursor reads.
    pub fn next_position(&self) -> u64 {
        self.pos
    }

    /// How long to wait on a pending frame whose writer is alive before
    /// skipping it as lost (default 2 s). A frame whose writer is dead is
    /// skipped within about a millisecond.
    pub fn set_stuck_timeout(&mut self, d: Duration) {
        self.stuck_timeout_ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    }

    fn lose(&mut self, n: u64) {
        // Saturating: only a damaged head makes these large.
        self.lost_total = self.lost_total.saturating_add(n);
        self.lost_since_frame = self.lost_since_frame.saturating_add(n);
    }

    /// Reads the next frame into `buf`: `Ok(None)` when there is nothing to read
    /// yet. `BufferTooSmall` (with the needed length) consumes nothing.
    /// Never blocks, allocates or makes a syscall on the fast path.
    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> Result<Option<FrameInfo>> {
        // The fast path: a whole frame at `pos`. Its only test that comes
        // out differently from an empty poll's is the one on `seq`, so the
        // way from a frame's arrival to the caller has one mispredicted
        // branch, not one per outcome the slow path tells apart.
        if self.pos != u64::MAX {
            match self.ring.view.read_whole(self.pos, buf) {
                Whole::Frame { id, ver, kind, len } => {
                    (self.idle, self.writing) = (0, 0);
                    return Ok(Some(self.delivered(id, ver, kind, len)));
                }
                // An empty poll that would neither look nor probe: what the
                // slow path concludes then (`NotYet`, counted), without its
                // second read of the slot. `writing` is 0 here: it only
                // grows on polls that look, which start at LOOK_AFTER idle
                // polls, and any other outcome resets it.
                Whole::Empty if self.idle < LOOK_AFTER => {
                    (self.idle, self.writing) = (self.idle + 1, 0);
                    return Ok(None);
                }
                _ => {}
            }
        }
        self.next_into_slow(buf)
    }

    /// Moves past the frame just read and describes it, with the frames lost
    /// before it.
    #[inline]
    fn delivered(&mut self, id: u64, ver: u64, kind: u8, len: u32) -> FrameInfo {
        self.pos += 1;
        self.pending = None;
        FrameInfo {
            id: NetId64(id),
            ver,
            kind,
            len,
            lost: std::mem::take(&mut self.lost_since_frame),
        }
    }

    /// [`Cursor::next_into`] when the fast path found no whole frame: empty,
    /// being written, pending, overwritten, or too long for `buf`.
    fn next_into_slow(&mut self, buf: &mut [u8]) -> Result<Option<FrameInfo>> {
        // Where this call's last skip over overwritten frames led: found
        // overwritten there too, the cursor is at the writers' wavefront
        // (see `skip_overwritten`). Only within one call: a cursor that
        // returned in between (nothing there yet, say) has waited, and a
        // position overwritten since then says nothing about a race.
        let mut skipped_to = u64::MAX;
        loop {
            if self.pos == u64::MAX {
                // No ring gets this far (2^64 frames); only a damaged head
                // puts a cursor here. Stop rather than wrap to 0.
                return Ok(None);
            }
            // The fast path reads only the slot: head is consulted when the
            // position turns out overwritten (to jump over a whole lap at once).
            let probe = self.idle >= PROBE_EVERY || self.writing >= PROBE_WRITING_AFTER;
            let look = probe || self.idle >= LOOK_AFTER;
            let outcome = self.ring.view.try_read(self.pos, buf, probe, look);
            (self.idle, self.writing) = match outcome {
                _ if probe => (0, 0),
                ReadOutcome::NotYet => (self.idle + 1, 0),
                ReadOutcome::Writing => (self.idle + 1, self.writing + 1),
                _ => (0, 0),
            };
            match outcome {
                ReadOutcome::Frame { id, ver, kind, len } => {
                    return Ok(Some(self.delivered(id, ver, kind, len)));
                }
                ReadOutcome::TooSmall { len } => {
                    return Err(Error::BufferTooSmall {
                        needed: len as usize,
                        cap: buf.len(),
                    });
                }
                ReadOutcome::NotYet | ReadOutcome::Writing => return Ok(None),
                ReadOutcome::Overwritten => {
                    self.pending = None;
                    if !self.skip_overwritten(self.pos == skipped_to) {
                        return Ok(None);
                    }
                    skipped_to = self.pos;
                }
                ReadOutcome::Pending { owner } => {
                    if self.should_skip_pending(owner) {
                        self.lose(1);
                        self.pos += 1;
                        self.pending = None;
                    } else {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Moves past the overwritten frame at `self.pos`, counting what it
    /// skips as lost; `false` (nothing moved) when the position is not below
    /// the head. `at_wavefront`: the position is where a skip of the same
    /// `next_into` call just led.
    ///
    /// A cursor behind by more than a lap skips to the oldest position the
    /// ring still holds, `head - capacity`, and one lapped during its copy
    /// skips one frame: both lose no frame that can still be read. But the
    /// oldest slot is the one the writers take next, so a cursor found
    /// overwritten again at the very position its skip just took it to is
    /// reading at the writers' wavefront: each of its reads would race a
    /// writer for the same lines (slowing both) and lose again. It then
    /// skips an eighth of the ring beyond the oldest position, and reads
    /// slots no writer is about to take until the writers come round again.
    fn skip_overwritten(&mut self, at_wavefront: bool) -> bool {
        let head = self.ring.view.ctl().head.load(Ordering::Acquire);
        let cap = self.ring.view.capacity();
        if self.pos >= head {
            // A position is overwritten only once a later lap claimed it,
            // which moves head past it first: only a damaged slot (an owner
            // word from an impossible lap) says this, and skipping it would
            // walk past the head forever. Nothing to read.
            return false;
        }
        let to = skip_target(self.pos, head, cap, at_wavefront);
        self.lose(to - self.pos);
        self.pos = to;
        true
    }

    /// Decides whether the pending frame at `self.pos` will never come.
    fn should_skip_pending(&mut self, owner: u64) -> bool {
        if self.dead == Some((self.pos, owner)) {
            return true;
        }
        let now = monotonic_ns();
        let (since, last_check) = match self.pending {
            Some((p, since, last)) if p == self.pos => (since, last),
            _ => {
                self.pending = Some((self.pos, now, now));
                return false;
            }
        };
        let lap = lap_code(self.ring.view.lap(self.pos));
        if owner_lap(owner) != lap {
            // Claimed in head but the claim CAS is not visible yet, or the slot
            // already belongs to a later lap (then the next read sees it overwritten).
            return now - since > self.stuck_timeout_ns;
        }
        if now - since > self.stuck_timeout_ns {
            return true;
        }
        if now - last_check >= PENDING_CHECK_NS {
            self.pending = Some((self.pos, since, now));
            let dead = self.ring.fleet.tag_is_dead(owner_tag(owner));
            if dead {
                self.dead = Some((self.pos, owner));
            }
            return dead;
        }
        false
    }

    /// What `next` would do now; `probe` also reads the owner word (see
    /// `RingView::try_read`).
    fn readiness(&mut self, probe: bool) -> Readiness {
        match self.ring.view.try_read(self.pos, &mut [], probe, true) {
            ReadOutcome::NotYet => Readiness::Empty,
            // Someone is writing it: ready within moments (or, if that
            // writer died, once a probe finds it dead).
            ReadOutcome::Writing => Readiness::Pending,
            // As in `next_into`: at or past the head only damage says so.
            ReadOutcome::Overwritten
                if self.pos >= self.ring.view.ctl().head.load(Ordering::Acquire) =>
            {
                Readiness::Empty
            }
            ReadOutcome::Pending { owner } => {
                if self.should_skip_pending(owner) {
                    Readiness::Ready
                } else {
                    Readiness::Pending
                }
            }
            _ => Readiness::Ready,
        }
    }

    /// Blocks until `next` has something to return, or `timeout` passes
    /// (`Err(Timeout)`). Sleeps on a futex in the segment: an idle reader costs
    /// no CPU, and writers pay a wake-up syscall only while someone waits.
    /// Through an observer (read-only mapping) it polls every millisecond.
    pub fn wait(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Deadline::after(timeout);
        let ring = self.ring.clone();
        let ctl = ring.view.ctl();
        let can_register = !self.ring.seg.read_only();
        loop {
            // The fast check first; before sleeping, a probe (a writer that
            // claimed this position and died would otherwise never wake us,
            // and only the owner word names a writer to check).
            let mut r = self.readiness(false);
            if r != Readiness::Ready {
                r = self.readiness(true);
            }
            if r == Readiness::Ready {
                return Ok(());
            }
            let left = deadline.remaining_ns();
            if left == 0 {
                return Err(Error::Timeout);
            }
            // A pending frame is re-examined every millisecond (its writer may die).
            let slice = if r == Readiness::Pending || !can_register {
                left.min(PENDING_CHECK_NS)
            } else {
                left
            };
            if can_register {
                ctl.waiters.fetch_add(1, Ordering::SeqCst);
                // SeqCst fence: pairs with the one in `RingView::after_commit`:
                // either the writer sees us registered, or we see its commit below.
                fence(Ordering::SeqCst);
                let seen = ctl.futex.load(Ordering::Acquire);
                if self.readiness(false) == Readiness::Ready {
                    ctl.waiters.fetch_sub(1, Ordering::SeqCst);
                    return Ok(());
                }
                futex::wait(&ctl.futex, seen, slice);
                ctl.waiters.fetch_sub(1, Ordering::SeqCst);
            } else {
                futex::wait(&ctl.futex, ctl.futex.load(Ordering::Acquire), slice);
            }
        }
    }

    /// Reads the next frame into a new `Vec` (convenience; allocates).
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut buf = vec![0u8; self.ring.geom.max_payload as usize];
        Ok(self.next_into(&mut buf)?.map(|info| {
            buf.truncate(info.len as usize);
            Frame { info, payload: buf }
        }))
    }

    /// Appends up to `max` available frames to `out` in one call and returns
    /// the frames lost while collecting them.
    pub fn poll_batch(&mut self, out: &mut Vec<Frame>, max: usize) -> Result<u64> {
        let before = self.lost_total;
        for _ in 0..max {
            match self.next_frame()? {
                Some(f) => out.push(f),
                None => break,
            }
        }
        Ok(self.lost_total - before)
    }
}

/// Where a cursor at the overwritten position `pos` (below `head`) goes
/// next (see `Cursor::skip_overwritten`): the oldest position the ring holds
/// or the next one, whichever is later; `at_wavefront` (overwritten again
/// where a skip of the same call just led) adds an eighth of the ring,
/// never past `head`.
fn skip_target(pos: u64, head: u64, cap: u64, at_wavefront: bool) -> u64 {
    let oldest = head.saturating_sub(cap);
    let to = pos.saturating_add(1).max(oldest);
    if !at_wavefront {
        return to;
    }
    let margin = (cap >> WAVEFRONT_MARGIN_SHIFT).max(1);
    to.max(oldest.saturating_add(margin)).min(head)
}

impl Iterator for Cursor {
    type Item = Frame;

    /// Yields available frames; `None` when the cursor is at the head (it can
    /// be resumed later). Loss is reported in each frame's `info.lost`.
    fn next(&mut self) -> Option<Frame> {
        self.next_frame().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::skip_target;

    #[test]
    fn skips_lose_nothing_still_readable_unless_at_the_wavefront() {
        // Lapped: to the oldest frame present; lapped during a copy: the next.
        assert_eq!(skip_target(0, 100, 16, false), 84);
        assert_eq!(skip_target(90, 100, 16, false), 91);
        // Overwritten again where a skip just led: an eighth of the ring more.
        assert_eq!(skip_target(84, 101, 16, true), 87);
        assert_eq!(
            skip_target(0, 1 << 20, 1 << 16, true),
            (1 << 20) - (1 << 16) + (1 << 13)
        );
        assert_eq!(skip_target(0, 100, 1 << 16, true), 100);
        // Never past the head, and at least one frame forward.
        assert_eq!(skip_target(3, 4, 1, true), 4);
        assert_eq!(skip_target(6, 7, 4, true), 7);
        assert_eq!(skip_target(5, 9, 8, true), 6);
    }
}
