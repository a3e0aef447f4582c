//! The session's multimedia clock: the server's `multi_media_time` (ms,
//! wrapping u32) advanced by the local monotonic clock since it was set.
//!
//! Who sets it: the main channel (MAIN_INIT, MULTI_MEDIA_TIME) and, while
//! audio plays, the playback channel with `last packet time − sink delay`
//! (at START and every 100 packets, as spice-gtk), so that video frames are
//! shown when the sound stamped with the same time is heard.
//!
//! A set that moves the clock forward by more than [`RESET_THRESHOLD_MS`],
//! or backwards at all, is a **reset** (spice-gtk's `mm-time-reset`): the
//! reset count goes up, every channel sees it in [`Ctx::clock_resets`], and
//! channels with a timer pending are woken ([`MmClock::subscribe_resets`])
//! so that queued video frames are rescheduled on the new clock.
//!
//! The playback delay is kept here too ([`Ctx::audio_delay_ms`]): `Some`
//! while playback is active (the display channel puts it in STREAM_REPORT
//! and treats video as audio-synced).
//!
//! [`Ctx::clock_resets`]: crate::channel::Ctx::clock_resets
//! [`Ctx::audio_delay_ms`]: crate::channel::Ctx::audio_delay_ms

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::watch;

/// A forward move larger than this is a reset (spice-gtk's `MM_TIME_DIFF_RESET_THRESH`).
pub const RESET_THRESHOLD_MS: u32 = 500;

/// `audio_delay` value meaning "no playback".
const NO_DELAY: u32 = u32::MAX;

/// Set by the main and playback channels, read by every channel for each
/// message: lock-free.
#[derive(Debug)]
pub(crate) struct MmClock {
    epoch: Instant,
    /// Bit 32 set once the server sent a time; low 32 bits: the offset to
    /// add to the milliseconds elapsed since `epoch`.
    offset: AtomicU64,
    /// The playback sink's delay in ms, [`NO_DELAY`] while no audio plays.
    audio_delay: AtomicU32,
    /// How many times the clock was reset (jumped or went back).
    resets: watch::Sender<u32>,
}

const SET: u64 = 1 << 32;

impl Default for MmClock {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            offset: AtomicU64::new(0),
            audio_delay: AtomicU32::new(NO_DELAY),
            resets: watch::channel(0).0,
        }
    }
}

/// Whether moving the clock from `old` to `new` (wrapping ms) is a reset.
pub(crate) fn is_reset(old: u32, new: u32) -> bool {
    // Wrapping difference read as signed: a move of less than 2^31 ms either way.
    let diff = new.wrapping_sub(old) as i32;
    diff < 0 || diff.unsigned_abs() > RESET_THRESHOLD_MS
}

impl MmClock {
    fn elapsed_ms(&self, at: Instant) -> u32 {
        // Wrapping on purpose: multimedia time is a wrapping u32.
        (at.saturating_duration_since(self.epoch).as_millis() & 0xffff_ffff) as u32
    }

    /// The server's multimedia time is `mm` at `now`. Returns whether this
    /// was a reset (a jump of more than [`RESET_THRESHOLD_MS`] or a move back;
    /// the first time set is not one).
    pub(crate) fn set(&self, mm: u32, now: Instant) -> bool {
        let was_set = self.offset.load(Ordering::Relaxed) & SET != 0;
        let old = self.at(now);
        let offset = mm.wrapping_sub(self.elapsed_ms(now));
        self.offset.store(SET | u64::from(offset), Ordering::Relaxed);
        let reset = was_set && is_reset(old, mm);
        if reset {
            tracing::debug!(old, new = mm, "multimedia clock reset");
            self.resets.send_modify(|n| *n = n.wrapping_add(1));
        }
        reset
    }

    /// The multimedia time at `now`; 0 before the server sent one.
    pub(crate) fn at(&self, now: Instant) -> u32 {
        let v = self.offset.load(Ordering::Relaxed);
        if v & SET == 0 {
            return 0;
        }
        ((v & 0xffff_ffff) as u32).wrapping_add(self.elapsed_ms(now))
    }

    /// How many resets happened so far.
    pub(crate) fn resets(&self) -> u32 {
        *self.resets.borrow()
    }

    /// A receiver that changes on every reset.
    pub(crate) fn subscribe_resets(&self) -> watch::Receiver<u32> {
        self.resets.subscribe()
    }

    /// The playback delay (`None`: no playback active).
    pub(crate) fn set_audio_delay(&self, delay_ms: Option<u32>) {
        let v = delay_ms.map_or(NO_DELAY, |d| d.min(NO_DELAY - 1));
        self.audio_delay.store(v, Ordering::Relaxed);
    }

    pub(crate) fn audio_delay(&self) -> Option<u32> {
        let v = self.audio_delay.load(Ordering::Relaxed);
        (v != NO_DELAY).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn follows_the_local_clock_from_the_servers_time() {
        let c = MmClock::default();
        let t0 = Instant::now();
        assert_eq!(c.at(t0), 0);
        c.set(1000, t0);
        assert_eq!(c.at(t0), 1000);
        assert_eq!(c.at(t0 + Duration::from_millis(250)), 1250);
        // Wraps like the server's u32.
        c.set(u32::MAX - 10, t0);
        assert_eq!(c.at(t0 + Duration::from_millis(20)), 9);
    }

    #[test]
    fn jumps_and_backward_moves_are_resets() {
        let c = MmClock::default();
        let t0 = Instant::now();
        let mut rx = c.subscribe_resets();
        assert!(!c.set(10_000, t0), "the first time is no reset");
        // Forward by up to 500 ms: a correction, not a reset.
        assert!(!c.set(10_500, t0));
        assert!(!c.set(10_500, t0), "same time: no move");
        assert_eq!(c.resets(), 0);
        assert!(!rx.has_changed().unwrap());
        // Forward by 501 ms: reset.
        assert!(c.set(11_001, t0));
        assert_eq!(c.resets(), 1);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        // Back by 1 ms: reset.
        assert!(c.set(11_000, t0));
        assert_eq!(c.resets(), 2);
        // Across the u32 wrap, 100 ms forward: a correction.
        c.set(u32::MAX - 50, t0);
        let before = c.resets();
        assert!(!c.set(49, t0));
        assert_eq!(c.resets(), before);
        // The time read is the corrected one.
        assert_eq!(c.at(t0 + Duration::from_millis(1)), 50);
    }

    #[test]
    fn audio_delay_corrects_the_clock() {
        // spice-gtk's rule: mm-time = last packet time − sink delay.
        let c = MmClock::default();
        let t0 = Instant::now();
        c.set(5_000, t0);
        assert_eq!(c.audio_delay(), None);
        let (packet_time, delay) = (5_400u32, 300u32);
        c.set_audio_delay(Some(delay));
        assert!(!c.set(packet_time.wrapping_sub(delay), t0));
        assert_eq!(c.at(t0), 5_100);
        assert_eq!(c.audio_delay(), Some(300));
        c.set_audio_delay(None);
        assert_eq!(c.audio_delay(), None);
        assert!(is_reset(100, 99) && !is_reset(100, 600) && is_reset(100, 601));
    }
}
