//! Video streams of a display channel (STREAM_* messages).
//!
//! # Model
//! The server announces a stream with STREAM_CREATE (codec, frame size, the
//! destination rectangle on a surface, a clip), then sends encoded frames
//! with STREAM_DATA / STREAM_DATA_SIZED, each stamped with the time it should
//! be shown on the session's *multimedia clock* (milliseconds, u32, wrapping;
//! the main channel's MULTI_MEDIA_TIME and playback latency drive it).
//!
//! This module is sans-IO and lives in the channel's
//! [`super::DisplayDecoder`], outside the state lock: messages only *queue*
//! frames; the runtime owns the clock and calls
//! [`super::DisplayDecoder::stream_tick`] with the current multimedia time.
//! The tick hands the frames that are due over to be drawn (decoded, off the
//! lock), drops the ones that are late, and says when to tick again;
//! [`super::DisplayState::draw_frames`] then draws them under the lock.
//!
//! # Decoders ([`video`])
//! Each stream has a [`VideoDecoder`]: the built-in MJPEG one, or one made by
//! the embedder's [`VideoDecoderFactory`] for the codecs it names (MJPEG too,
//! when the factory names it: then MJPEG streams take the inter-coded path
//! below, every frame decoded; a stream of any other codec is refused, and
//! the display channel advertises exactly these codecs). A decoder takes encoded frames in order and gives decoded
//! frames back, at once or later (then it calls its wake).
//!
//! # Drop policy
//! - MJPEG frames (built-in decoder) are independent: they wait encoded, and
//!   late ones are dropped *before* decoding; only the frame shown is decoded.
//! - Frames of inter-coded codecs (VP8, VP9, H.264, H.265) are handed to the
//!   decoder as they arrive and never dropped before decoding (later frames
//!   depend on them); decoded frames wait for their time and are *not
//!   shown* when late.
//!
//! # Scheduling (hostile-inputs rows 28 and 29)
//! - A frame is due when its time has come (`mm_time ≤ now`), when it has
//!   waited [`MAX_WAIT_MS`] since the first tick that saw it (a huge or skewed
//!   `mm_time` cannot stall the stream), or when its `mm_time` is 0 (spice-gtk
//!   treats 0 as a broken driver's stamp and shows it soon).
//! - A frame whose time is past by more than [`LATE_TOLERANCE_MS`] is dropped
//!   (or not shown) as late when a newer frame of its stream is waiting
//!   (encoded for MJPEG, decoded for the other codecs); the newest frame is
//!   shown even late, at once, as spice-gtk shows late VP8/H.264 frames: a
//!   late picture beats a stale one (spice-server stamps a new stream's first
//!   frames up to a second behind the client's clock until the reports make
//!   it raise its latency, and a stream's last frame may come late under
//!   load). When several frames are due at once only the newest is drawn;
//!   the others count as dropped.
//! - The encoded queue of each stream holds at most [`MAX_QUEUED_FRAMES`]
//!   frames spanning at most [`MAX_QUEUE_SPAN_MS`]; older frames are dropped
//!   to make room. spice-server stamps frames ahead of the clock it gives the
//!   client by its playback latency (400 ms by default, seen on Xspice), so a
//!   stream normally buffers that much video. A frame older than the last
//!   queued one (non-monotonic time) flushes the queue, as spice-gtk's MJPEG
//!   decoder does (an inter-coded stream still decodes what it flushes, and
//!   shows none of it). Encoded frames are capped at [`MAX_FRAME_BYTES`] and
//!   all queues together at [`MAX_QUEUED_BYTES`], and both queues count
//!   against the session's memory budget (a frame it cannot hold is dropped).
//! - An inter-coded stream has at most [`MAX_QUEUED_FRAMES`] frames in its
//!   decoder (more are refused and reported as drops) and as many decoded
//!   frames waiting, [`MAX_DECODED_BYTES`] of them for all streams together
//!   (the oldest are not shown).
//! - When the multimedia clock jumps (more than 500 ms ahead of the local
//!   clock, or back), [`super::DisplayDecoder::reschedule`] restarts the
//!   waits of the queued frames on the new clock and tells the decoders.
//! - [`StreamTick::next_wake_ms`] is at most [`MAX_WAIT_MS`].
//!
//! # Refusals (hostile-inputs row 27)
//! STREAM_CREATE with an id ≥ [`MAX_STREAMS`], an unknown codec or one
//! without a decoder, a zero or oversized frame size, a missing surface, a
//! destination that is empty or not inside the surface, or too many clip
//! rectangles is refused: no stream is created, and a [`StreamReport`] with
//! `num_frames = 0, num_drops = u32::MAX` (spice-gtk's "this stream does not
//! exist" report) is queued. The same report answers STREAM_DATA, STREAM_CLIP
//! and STREAM_ACTIVATE_REPORT naming a stream that does not exist; those
//! messages are dropped and counted. A create reusing a live id is ignored
//! (the live stream stays), like spice-gtk.
//!
//! # Abbreviated frames
//! spice-server's MJPEG encoder (libjpeg) writes the Huffman tables only in
//! the first frames of a stream; later frames have no DHT segment and rely
//! on the decoder keeping the tables, as spice-gtk's persistent libjpeg
//! decompressor does. Each stream keeps the DHT segments of the latest frame
//! that had them ([`MAX_TABLE_BYTES`] at most) and inserts them before the
//! SOS marker of frames that have none, when they are queued (a frame
//! dropped before decoding still brings its tables).
//!
//! # Drawing
//! A decoded frame must have the stream's frame size (or the size of a
//! STREAM_DATA_SIZED message) for MJPEG. It is drawn with the canvas at the
//! stream's destination (scaled with nearest sampling when the sizes
//! differ), limited to the surface and the stream clip. Without the
//! `TOP_DOWN` stream flag the frame is drawn upside down, as spice-gtk does.
//!
//! # Reports
//! After STREAM_ACTIVATE_REPORT the stream keeps spice-gtk's counters: every
//! frame counts once, when the first tick after its arrival sees it, with its
//! margin `mm_time − now`; a negative margin or a frame dropped by the queue
//! counts as a drop. A report is queued when the window is full, when
//! `timeout_ms` has passed since the first counted frame, or after 3 drops in
//! a row. `audio_delay` is `u32::MAX`: the runtime fills in the playback
//! latency when audio plays. They are capped at [`MAX_PENDING_REPORTS`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::DisplayEvent;
use super::decoder::SurfaceInfo;
use crate::budget::{MemoryBudget, Meter};
use crate::proto::channel::display::{Clip, Rect, StreamReport, video_codec};

mod draw;
mod info;
pub mod keyframe;
mod messages;
mod mjpeg;
mod report;
mod schedule;
pub mod video;

pub(crate) use draw::VideoView;
pub use info::StreamInfo;
pub use video::{
    DecodeResult, DecodedFrame, EncodedFrame, FrameMemory, Pixels, VideoDecoder, VideoDecoderFactory, VideoError,
    VideoStreamInfo, VideoWake,
};

/// spice-gtk's stream table size: ids are `0..MAX_STREAMS`.
pub const MAX_STREAMS: u32 = 64;
/// A frame whose time is past by more than this is dropped as late.
pub const LATE_TOLERANCE_MS: u32 = 50;
/// Longest a frame waits for its time, and longest [`StreamTick::next_wake_ms`].
pub const MAX_WAIT_MS: u32 = 1000;
/// Most frames waiting in one stream's queue: a second of 60 fps video (the
/// server's latency is usually 400 ms).
pub const MAX_QUEUED_FRAMES: usize = 64;
/// Most multimedia time between the oldest and the newest queued frame.
pub const MAX_QUEUE_SPAN_MS: u32 = MAX_WAIT_MS;
/// Largest Huffman table segments kept per stream for abbreviated frames
/// (four full tables take about 1.7 KB).
pub const MAX_TABLE_BYTES: usize = 8 << 10;
/// Largest encoded frame accepted.
pub const MAX_FRAME_BYTES: usize = 16 << 20;
/// Largest total of encoded frames queued across all streams.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Largest total of decoded frames waiting for their time across all
/// streams: half a second of 1080p video at 30 fps.
pub const MAX_DECODED_BYTES: usize = 128 << 20;
/// Largest decoded frame (pixels), 8192 × 8192.
pub const MAX_FRAME_PIXELS: u64 = 1 << 26;
/// Most reports kept for the runtime before the oldest are discarded.
pub const MAX_PENDING_REPORTS: usize = 256;
/// spice-gtk's `STREAM_REPORT_DROP_SEQ_LEN_LIMIT`: drops in a row that force a report.
const REPORT_DROP_SEQ_LIMIT: u32 = 3;
/// Spare encoded frame buffers kept for reuse, and the largest capacity kept.
const MAX_SPARE_BUFFERS: usize = 4;
const MAX_SPARE_CAPACITY: usize = 2 << 20;

/// Why a stream message was refused or a frame dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("stream id {id} is outside 0..{MAX_STREAMS}")]
    BadId { id: u32 },
    #[error("stream {id} already exists")]
    Duplicate { id: u32 },
    #[error("stream {id}: no such stream")]
    NoSuchStream { id: u32 },
    #[error("stream {id}: unknown codec {codec}")]
    UnknownCodec { id: u32, codec: u8 },
    #[error("stream {id}: codec {codec} was not advertised")]
    CodecNotAdvertised { id: u32, codec: u8 },
    #[error("stream {id}: the decoder for codec {codec} could not be made")]
    NoDecoder { id: u32, codec: u8 },
    #[error("stream {id}: bad frame size {width}x{height}")]
    BadSize { id: u32, width: u32, height: u32 },
    #[error("stream {id}: no surface {surface_id}")]
    NoSurface { id: u32, surface_id: u32 },
    #[error("stream {id}: destination {dest:?} is not inside the surface")]
    BadDest { id: u32, dest: Rect },
    #[error("stream {id}: {count} clip rectangles exceed the limit")]
    TooManyClipRects { id: u32, count: usize },
    #[error("stream {id}: a {size}-byte frame exceeds the limits")]
    FrameTooLarge { id: u32, size: usize },
    #[error("stream {id}: {error}")]
    Decode { id: u32, error: VideoError },
}

impl StreamError {
    /// A stable name, counted in [`super::DisplayStats::errors`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadId { .. } => "stream_bad_id",
            Self::Duplicate { .. } => "stream_duplicate",
            Self::NoSuchStream { .. } => "stream_unknown_id",
            Self::UnknownCodec { .. } => "stream_unknown_codec",
            Self::CodecNotAdvertised { .. } => "stream_codec_not_advertised",
            Self::NoDecoder { .. } => "stream_no_decoder",
            Self::BadSize { .. } => "stream_bad_size",
            Self::NoSurface { .. } => "stream_no_surface",
            Self::BadDest { .. } => "stream_bad_dest",
            Self::TooManyClipRects { .. } => "stream_too_many_clip_rects",
            Self::FrameTooLarge { .. } => "stream_frame_too_large",
            Self::Decode { .. } => "stream_decode",
        }
    }
}

/// Stream counters, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub created: u64,
    /// STREAM_CREATE messages refused (each answered by a report).
    pub refused: u64,
    pub destroyed: u64,
    /// Frames queued (accepted for scheduling).
    pub frames_received: u64,
    pub frames_rendered: u64,
    /// Frames whose time had passed by more than [`LATE_TOLERANCE_MS`],
    /// or superseded by a newer due frame (dropped, or decoded and not shown).
    pub frames_late: u64,
    /// Frames dropped by the bounded queues (count, span, bytes, non-monotonic time).
    pub frames_overflow: u64,
    /// Frames that could not be decoded or drawn.
    pub frames_failed: u64,
    /// Messages naming a stream that does not exist.
    pub unknown_id: u64,
    /// Reports discarded because the runtime did not drain them.
    pub reports_discarded: u64,
}

/// What a tick of the stream scheduler did (see
/// [`super::Pipeline::stream_tick`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTick {
    /// Damage of the frames drawn.
    pub events: Vec<DisplayEvent>,
    pub rendered: u32,
    /// Frames dropped as late (or superseded) by this tick.
    pub dropped: u32,
    /// Tick again after this many milliseconds (≤ [`MAX_WAIT_MS`]); `None`
    /// when no frame is waiting.
    pub next_wake_ms: Option<u32>,
}

/// A decoded frame to draw now.
#[derive(Debug)]
pub(crate) struct ShowFrame {
    pub stream: u32,
    pub surface_id: u32,
    pub dest: Rect,
    pub clip: Clip,
    pub top_down: bool,
    pub frame: DecodedFrame,
}

/// What [`super::DisplayDecoder::stream_tick`] gives the state to draw.
#[derive(Debug, Default)]
pub struct VideoTick {
    pub(crate) frames: Vec<ShowFrame>,
    /// Frames drawn by [`super::DisplayState::draw_frames`].
    pub rendered: u32,
    /// Frames dropped as late (or superseded) by this tick.
    pub dropped: u32,
    /// Tick again after this many milliseconds (≤ [`MAX_WAIT_MS`]); `None`
    /// when no frame is waiting.
    pub next_wake_ms: Option<u32>,
    /// Counters for the state, when they changed.
    pub(crate) counters: Option<super::prepare::Counters>,
}

impl VideoTick {
    /// Whether the state must be locked: frames to draw or counters to show.
    pub fn needs_state(&self) -> bool {
        !self.frames.is_empty() || self.counters.is_some()
    }
}

/// One frame of a stream, from arrival to display.
#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u64,
    mm_time: u32,
    width: u32,
    height: u32,
    dest: Rect,
    /// `now` of the first tick that saw the frame.
    seen_at: Option<u32>,
    /// Decoded but never shown (a flush after a non-monotonic time).
    hidden: bool,
}

/// An encoded frame waiting for its time (MJPEG).
#[derive(Debug)]
struct Frame {
    meta: Meta,
    data: Vec<u8>,
}

/// A decoded frame waiting for its time (inter-coded codecs).
#[derive(Debug)]
struct Waiting {
    meta: Meta,
    frame: DecodedFrame,
}

/// STREAM_ACTIVATE_REPORT state (spice-gtk's `report_*` fields).
#[derive(Debug, Clone, Copy)]
struct Reporting {
    unique_id: u32,
    max_window: u32,
    timeout_ms: u32,
    start_frame_time: u32,
    start_now: u32,
    num_frames: u32,
    num_drops: u32,
    drops_seq: u32,
}

/// A stream's decoder (boxed, with a `Debug` of its own).
struct Decoder(Box<dyn VideoDecoder>);

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoDecoder")
    }
}

#[derive(Debug)]
struct Stream {
    codec: u8,
    surface_id: u32,
    top_down: bool,
    width: u32,
    height: u32,
    dest: Rect,
    clip: Clip,
    decoder: Decoder,
    /// Frames wait encoded and late ones are dropped before decoding (the
    /// built-in MJPEG decoder); otherwise every frame goes to the decoder.
    encoded_wait: bool,
    /// Encoded frames waiting for their time (`encoded_wait`).
    queue: VecDeque<Frame>,
    /// Frames handed to the decoder, not given back yet.
    in_flight: VecDeque<Meta>,
    /// Decoded frames waiting for their time.
    decoded: VecDeque<Waiting>,
    /// The time of the latest frame queued (inter-coded codecs).
    last_mm: Option<u32>,
    report: Option<Reporting>,
    /// DHT segments of the latest frame that had some (see "Abbreviated frames").
    huffman: Vec<u8>,
    /// What the embedder's statistics show of it.
    info: StreamInfo,
}

/// The stream table and scheduler of one display channel.
pub(crate) struct StreamState {
    streams: Vec<Option<Stream>>,
    /// Encoded frame buffers, reused.
    spare: Vec<Vec<u8>>,
    queued_bytes: usize,
    decoded_bytes: usize,
    /// Both queues, counted against the session's memory budget.
    meter: Meter,
    reports: Vec<StreamReport>,
    stats: StreamStats,
    /// `now` of the latest tick (for report timeouts of frames dropped on arrival).
    last_now: u32,
    next_seq: u64,
    factory: Option<Arc<dyn VideoDecoderFactory>>,
    wake: VideoWake,
    /// Error kinds not counted by the state yet.
    errors: Vec<&'static str>,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("streams", &self.live_mask())
            .field("stats", &self.stats)
            .field("factory", &self.factory.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for StreamState {
    fn default() -> Self {
        Self {
            streams: (0..MAX_STREAMS).map(|_| None).collect(),
            spare: Vec::new(),
            queued_bytes: 0,
            decoded_bytes: 0,
            meter: Meter::default(),
            reports: Vec::new(),
            stats: StreamStats::default(),
            last_now: 0,
            next_seq: 0,
            factory: None,
            wake: Arc::new(|| {}),
            errors: Vec::new(),
        }
    }
}

/// `a − b` on the wrapping multimedia clock.
pub(crate) fn mm_diff(a: u32, b: u32) -> i32 {
    i32::from_ne_bytes(a.wrapping_sub(b).to_ne_bytes())
}

fn slot(id: u32) -> Option<usize> {
    (id < MAX_STREAMS).then(|| usize::try_from(id).ok()).flatten()
}

fn frame_size_ok(width: u32, height: u32, max_dim: u32) -> bool {
    width > 0
        && height > 0
        && width <= max_dim
        && height <= max_dim
        && u64::from(width) * u64::from(height) <= MAX_FRAME_PIXELS
}

/// Whether `dest` is a non-empty rectangle inside a `w`×`h` surface.
fn dest_inside(dest: &Rect, w: u32, h: u32) -> bool {
    !dest.is_empty()
        && dest.left >= 0
        && dest.top >= 0
        && i64::from(dest.right) <= i64::from(w)
        && i64::from(dest.bottom) <= i64::from(h)
}

impl StreamState {
    pub(crate) fn set_factory(&mut self, factory: Option<Arc<dyn VideoDecoderFactory>>, wake: VideoWake) {
        self.factory = factory;
        self.wake = wake;
    }

    /// MJPEG, then the factory's codecs (known ones, once each).
    pub(crate) fn codecs(&self) -> Vec<u8> {
        let mut codecs = vec![video_codec::MJPEG];
        for c in self.factory.as_ref().map(|f| f.codecs()).unwrap_or_default() {
            if (video_codec::MJPEG..=video_codec::H265).contains(&c) && !codecs.contains(&c) {
                codecs.push(c);
            }
        }
        codecs
    }

    /// Counts the queued encoded and decoded frames against the session's
    /// memory `budget`: a frame it cannot hold is dropped (oldest first).
    pub(crate) fn attach_budget(&mut self, budget: &Arc<MemoryBudget>) {
        self.meter
            .attach(budget, self.queued_bytes.saturating_add(self.decoded_bytes) as u64);
    }

    /// Whether the budget holds `more` bytes beyond both queues (then reserved).
    fn budget_holds(&mut self, more: usize) -> bool {
        let total = self
            .queued_bytes
            .saturating_add(self.decoded_bytes)
            .saturating_add(more);
        self.meter.set(total as u64).is_ok()
    }

    /// Gives back what the queues no longer hold.
    fn sync_meter(&mut self) {
        let _ = self.budget_holds(0);
    }

    pub(crate) fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Bit `i` set: stream `i` exists.
    pub(crate) fn live_mask(&self) -> u64 {
        self.streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .fold(0, |m, (i, _)| {
                m | 1u64.checked_shl(u32::try_from(i).unwrap_or(64)).unwrap_or(0)
            })
    }

    pub(crate) fn take_errors(&mut self) -> Vec<&'static str> {
        std::mem::take(&mut self.errors)
    }

    pub(crate) fn drain_reports(&mut self) -> std::vec::Drain<'_, StreamReport> {
        self.reports.drain(..)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.get_mut(slot(id)?)?.as_mut()
    }

    fn error(&mut self, e: &StreamError) {
        tracing::debug!(error = %e, "stream message not applied");
        self.errors.push(e.kind());
    }

    fn recycle(&mut self, mut data: Vec<u8>) {
        self.queued_bytes = self.queued_bytes.saturating_sub(data.len());
        self.sync_meter();
        if self.spare.len() < MAX_SPARE_BUFFERS && data.capacity() <= MAX_SPARE_CAPACITY {
            data.clear();
            self.spare.push(data);
        }
    }

    /// Removes a stream, recycling its queued frames.
    fn remove(&mut self, id: u32) -> bool {
        let Some(mut st) = slot(id).and_then(|i| self.streams.get_mut(i)).and_then(Option::take) else {
            return false;
        };
        st.decoder.0.destroy();
        for f in st.queue {
            self.recycle(f.data);
        }
        for w in st.decoded {
            self.decoded_bytes = self.decoded_bytes.saturating_sub(w.frame.pixels.len());
            self.sync_meter();
        }
        self.stats.destroyed = self.stats.destroyed.saturating_add(1);
        true
    }

    /// Drops the oldest queued encoded frame of stream `id` (queue overflow).
    fn drop_oldest(&mut self, id: u32) -> bool {
        let Some(f) = self.get_mut(id).and_then(|st| st.queue.pop_front()) else {
            return false;
        };
        self.count_overflow(id, &f.meta);
        self.recycle(f.data);
        true
    }

    /// Drops the oldest decoded frame of stream `id` (not shown).
    fn drop_oldest_decoded(&mut self, id: u32) -> bool {
        let Some(w) = self.get_mut(id).and_then(|st| st.decoded.pop_front()) else {
            return false;
        };
        self.decoded_bytes = self.decoded_bytes.saturating_sub(w.frame.pixels.len());
        self.sync_meter();
        self.count_overflow(id, &w.meta);
        if let Some(st) = self.get_mut(id) {
            st.decoder.0.recycle(w.frame.pixels);
        }
        true
    }

    fn count_overflow(&mut self, id: u32, meta: &Meta) {
        self.stats.frames_overflow = self.stats.frames_overflow.saturating_add(1);
        self.count_dropped(id, 1);
        let now = self.last_now;
        if meta.seen_at.is_none() {
            self.count_for_report(id, meta.mm_time, mm_diff(meta.mm_time, now), true, now);
        }
    }

    /// Gives the pixels of drawn frames back to their streams' decoders.
    pub(crate) fn recycle_frames(&mut self, tick: &mut VideoTick) {
        for f in tick.frames.drain(..) {
            if let Some(st) = self.get_mut(f.stream) {
                st.decoder.0.recycle(f.frame.pixels);
            }
        }
    }
}

/// What the decoder knows of the surfaces (see [`SurfaceInfo`]).
type Surfaces = HashMap<u32, SurfaceInfo>;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::unwrap_used,
    clippy::panic
)]
mod tests;
