//! The backlog rule of the output ring, as a pure function of what the ring
//! holds, how long the stream has played, the server's latency hint and the
//! stream's format (the device callback gives it the time; tests give any).
//!
//! Audio waiting in the ring beyond the server's PLAYBACK LATENCY hint is
//! latency the stream keeps for good (the device opened late, or fell behind
//! real time on a loaded machine and PulseAudio played the rest later). Once
//! it exceeds [`MAX_BACKLOG_MS`] beyond the hint, the oldest samples are
//! dropped down to [`BACKLOG_TARGET_MS`] beyond it, in whole frames. Never in
//! a stream's first [`BACKLOG_GRACE`]: a short sound, or the start of one, is
//! never cut.

use std::time::Duration;

/// Most audio kept waiting for the device beyond the server's latency hint, ms.
pub(super) const MAX_BACKLOG_MS: u32 = 200;
/// What a cut leaves beyond the hint, ms.
pub(super) const BACKLOG_TARGET_MS: u32 = 60;
/// How long a stream plays before a backlog is cut at all.
pub(super) const BACKLOG_GRACE: Duration = Duration::from_secs(5);
/// The hint is taken up to this (the ring holds one second).
const MAX_HINT_MS: u32 = 1000;

/// Interleaved samples to drop from the front of a ring holding `backlog`
/// samples of a stream at `rate` Hz with `channels` channels, `played_for`
/// after it started playing; 0 when nothing is to be cut.
pub(super) fn backlog_cut(backlog: usize, played_for: Duration, hint_ms: u32, rate: u32, channels: usize) -> usize {
    if played_for < BACKLOG_GRACE {
        return 0;
    }
    let channels = channels.max(1);
    let hint = hint_ms.min(MAX_HINT_MS);
    let samples = |ms: u32| {
        usize::try_from(u64::from(rate) * u64::from(ms) / 1000)
            .unwrap_or(usize::MAX)
            .saturating_mul(channels)
    };
    if backlog <= samples(MAX_BACKLOG_MS + hint) {
        return 0;
    }
    let cut = backlog.saturating_sub(samples(BACKLOG_TARGET_MS + hint));
    cut - cut % channels
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    /// Interleaved stereo samples in `ms` at 48 kHz.
    fn stereo(ms: usize) -> usize {
        ms * 48 * 2
    }

    #[test]
    fn nothing_is_cut_in_the_first_seconds_of_a_stream() {
        // A whole second waiting, but the stream has played for just under the grace.
        let early = BACKLOG_GRACE - Duration::from_millis(1);
        assert_eq!(backlog_cut(stereo(1000), early, 0, RATE, 2), 0);
        assert_eq!(backlog_cut(stereo(1000), Duration::ZERO, 0, RATE, 2), 0);
        // At the grace it is.
        assert_eq!(backlog_cut(stereo(1000), BACKLOG_GRACE, 0, RATE, 2), stereo(1000 - 60));
    }

    #[test]
    fn a_backlog_up_to_200_ms_beyond_the_hint_stays() {
        let late = Duration::from_secs(60);
        assert_eq!(backlog_cut(stereo(200), late, 0, RATE, 2), 0, "exactly 200 ms stays");
        assert_eq!(backlog_cut(stereo(201), late, 0, RATE, 2), stereo(201 - 60));
        // The server asked for 150 ms of latency: 350 ms stays, more is cut to 210 ms.
        assert_eq!(backlog_cut(stereo(350), late, 150, RATE, 2), 0);
        assert_eq!(backlog_cut(stereo(400), late, 150, RATE, 2), stereo(400 - 210));
        assert_eq!(backlog_cut(0, late, 0, RATE, 2), 0);
    }

    #[test]
    fn a_cut_drops_whole_frames_and_a_huge_hint_is_bounded() {
        let late = Duration::from_secs(6);
        // 3 channels at 44.1 kHz, an odd number of samples over the limit.
        let limit = 44_100 * 200 / 1000 * 3;
        let cut = backlog_cut(limit + 7, late, 0, 44_100, 3);
        assert_eq!(cut % 3, 0);
        assert_eq!(cut, (limit + 7 - 44_100 * 60 / 1000 * 3) / 3 * 3);
        // A hint of an hour counts as the ring's second: 1.2 s is the limit, then.
        assert_eq!(backlog_cut(stereo(1200), late, u32::MAX, RATE, 2), 0);
        assert_eq!(backlog_cut(stereo(1300), late, u32::MAX, RATE, 2), stereo(1300 - 1060));
        // No channels counts as one; a zero rate cuts everything beyond nothing.
        assert_eq!(backlog_cut(10, late, 0, RATE, 0), 0);
        assert_eq!(backlog_cut(10, late, 0, 0, 2), 10);
    }
}
