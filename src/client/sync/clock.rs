//! The session's multimedia clock: the server's `multi_media_time` (ms,
//! wrapping u32) advanced by the local monotonic clock since it was set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Set by the main channel (MAIN_INIT, MULTI_MEDIA_TIME), read by every
/// channel for each message: lock-free.
#[derive(Debug)]
pub(crate) struct MmClock {
    epoch: Instant,
    /// Bit 32 set once the server sent a time; low 32 bits: the offset to
    /// add to the milliseconds elapsed since `epoch`.
    offset: AtomicU64,
}

const SET: u64 = 1 << 32;

impl Default for MmClock {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            offset: AtomicU64::new(0),
        }
    }
}

impl MmClock {
    fn elapsed_ms(&self, at: Instant) -> u32 {
        // Wrapping on purpose: multimedia time is a wrapping u32.
        (at.saturating_duration_since(self.epoch).as_millis() & 0xffff_ffff) as u32
    }

    /// The server's multimedia time is `mm` at `now`.
    pub(crate) fn set(&self, mm: u32, now: Instant) {
        let offset = mm.wrapping_sub(self.elapsed_ms(now));
        self.offset.store(SET | u64::from(offset), Ordering::Relaxed);
    }

    /// The multimedia time at `now`; 0 before the server sent one.
    pub(crate) fn at(&self, now: Instant) -> u32 {
        let v = self.offset.load(Ordering::Relaxed);
        if v & SET == 0 {
            return 0;
        }
        ((v & 0xffff_ffff) as u32).wrapping_add(self.elapsed_ms(now))
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
}
