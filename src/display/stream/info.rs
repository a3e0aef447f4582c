//! Per-stream figures for the embedder's statistics (the app's stats
//! overlay): codec, frame size, frames received / shown / dropped, encoded
//! bytes received and how late frames were shown. Counted by the decoder
//! beside the channel-wide [`StreamStats`], handed to the state with them
//! ([`crate::display::DisplayState::stream_infos`]); the embedder turns two
//! readings into rates (`client::live_stats`).

use super::*;

/// One live stream, as counted since its STREAM_CREATE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream id (per display channel).
    pub id: u32,
    /// SPICE video codec (`video_codec::*`).
    pub codec: u8,
    /// Size of the latest frame received (the stream's size until then).
    pub width: u32,
    pub height: u32,
    /// Frames accepted for scheduling.
    pub frames_received: u64,
    /// Encoded bytes of every frame message for this stream (bitrate).
    pub bytes_received: u64,
    /// Frames handed over to be drawn.
    pub frames_shown: u64,
    /// Frames not shown: late or superseded, dropped by the bounded queues, failed.
    pub frames_dropped: u64,
    /// Sum over the frames shown of (multimedia time when shown − frame
    /// time), in milliseconds: how far behind the clock they were shown.
    pub delay_total_ms: i64,
}

impl StreamInfo {
    pub(super) fn new(id: u32, codec: u8, width: u32, height: u32) -> Self {
        Self {
            id,
            codec,
            width,
            height,
            ..Self::default()
        }
    }
}

impl StreamState {
    /// The live streams' figures, by id.
    pub(crate) fn infos(&self) -> Vec<StreamInfo> {
        self.streams.iter().flatten().map(|s| s.info).collect()
    }

    fn info_mut(&mut self, id: u32) -> Option<&mut StreamInfo> {
        self.get_mut(id).map(|s| &mut s.info)
    }

    /// `n` frames of stream `id` will not be shown.
    pub(super) fn count_dropped(&mut self, id: u32, n: u64) {
        if let Some(i) = self.info_mut(id) {
            i.frames_dropped = i.frames_dropped.saturating_add(n);
        }
    }

    /// A frame message of `bytes` arrived for stream `id`.
    pub(super) fn count_bytes(&mut self, id: u32, bytes: usize) {
        if let Some(i) = self.info_mut(id) {
            i.bytes_received = i
                .bytes_received
                .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        }
    }

    /// A frame of `width`×`height` was accepted for stream `id`.
    pub(super) fn count_received(&mut self, id: u32, width: u32, height: u32) {
        if let Some(i) = self.info_mut(id) {
            i.frames_received = i.frames_received.saturating_add(1);
            i.width = width;
            i.height = height;
        }
    }

    /// A frame of stream `id` stamped `mm_time` is shown at `now`.
    pub(super) fn count_shown(&mut self, id: u32, mm_time: u32, now: u32) {
        // One line per frame for the pacing benchmark (benches/e2e/cpu.py --pacing).
        tracing::trace!(target: "sumac::pacing", stream = id, mm_time, now, "frame shown");
        if let Some(i) = self.info_mut(id) {
            i.frames_shown = i.frames_shown.saturating_add(1);
            i.delay_total_ms = i.delay_total_ms.saturating_add(i64::from(mm_diff(now, mm_time)));
        }
    }
}
