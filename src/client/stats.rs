//! Per-channel traffic counters (what `sumac-cli stats` prints).

use super::error::ChannelKey;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one channel, shared between its thread and the embedder.
#[derive(Debug)]
pub struct ChannelStats {
    pub key: ChannelKey,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub messages_read: AtomicU64,
    pub messages_written: AtomicU64,
    /// Messages the channel does not implement yet (counted and skipped).
    pub messages_skipped: AtomicU64,
    pub tls: AtomicBool,
}

impl ChannelStats {
    pub fn new(key: ChannelKey) -> Self {
        Self {
            key,
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            messages_read: AtomicU64::new(0),
            messages_written: AtomicU64::new(0),
            messages_skipped: AtomicU64::new(0),
            tls: AtomicBool::new(false),
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            key: self.key,
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            messages_read: self.messages_read.load(Ordering::Relaxed),
            messages_written: self.messages_written.load(Ordering::Relaxed),
            messages_skipped: self.messages_skipped.load(Ordering::Relaxed),
            tls: self.tls.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub key: ChannelKey,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub messages_read: u64,
    pub messages_written: u64,
    pub messages_skipped: u64,
    pub tls: bool,
}
