//! Video streams of a display channel (STREAM_* messages), MJPEG only.
//!
//! # Model
//! The server announces a stream with STREAM_CREATE (codec, frame size, the
//! destination rectangle on a surface, a clip), then sends encoded frames
//! with STREAM_DATA / STREAM_DATA_SIZED, each stamped with the time it should
//! be shown on the session's *multimedia clock* (milliseconds, u32, wrapping;
//! the main channel's MULTI_MEDIA_TIME and playback latency drive it).
//!
//! This module is sans-IO: [`DisplayState::handle`] only *queues* frames;
//! the runtime owns the clock and calls [`DisplayState::stream_tick`] with
//! the current multimedia time. The tick decodes and draws the frames that
//! are due, drops the ones that are late, and says when to tick again.
//!
//! # Scheduling (hostile-inputs rows 28 and 29)
//! - A frame is due when its time has come (`mm_time ≤ now`), when it has
//!   waited [`MAX_WAIT_MS`] since the first tick that saw it (a huge or skewed
//!   `mm_time` cannot stall the stream), or when its `mm_time` is 0 (spice-gtk
//!   treats 0 as a broken driver's stamp and shows it soon).
//! - A frame whose time is past by more than [`LATE_TOLERANCE_MS`] is dropped
//!   as late. When several frames are due at once only the newest is drawn
//!   (MJPEG frames are independent); the others count as dropped.
//! - The queue of each stream holds at most [`MAX_QUEUED_FRAMES`] frames
//!   spanning at most [`MAX_QUEUE_SPAN_MS`]; older frames are dropped to make
//!   room. spice-server stamps frames ahead of the clock it gives the client
//!   by its playback latency (400 ms by default, seen on Xspice), so a
//!   stream normally buffers that much video. A frame older than the last queued one (non-monotonic time) flushes
//!   the queue, as spice-gtk's MJPEG decoder does. Encoded frames are capped
//!   at [`MAX_FRAME_BYTES`] and all queues together at [`MAX_QUEUED_BYTES`].
//! - [`StreamTick::next_wake_ms`] is at most [`MAX_WAIT_MS`].
//!
//! # Refusals (hostile-inputs row 27)
//! STREAM_CREATE with an id ≥ [`MAX_STREAMS`], an unknown codec or one not in
//! [`SUPPORTED_CODECS`], a zero or oversized frame size, a missing surface, a
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
//! SOS marker of frames that have none, when they are queued.
//!
//! # Drawing
//! A due frame is decoded with [`codec::jpeg`] into one reused
//! [`ImageBuf`]; its size must be the stream's frame size (or the size of a
//! STREAM_DATA_SIZED message). It is drawn with the canvas at the stream's
//! destination (scaled with nearest sampling when the sizes differ), limited
//! to the surface and the stream clip. Without the `TOP_DOWN` stream flag
//! the frame is drawn upside down, as spice-gtk does.
//!
//! # Reports
//! After STREAM_ACTIVATE_REPORT the stream keeps spice-gtk's counters: every
//! frame counts once, when the first tick after its arrival sees it, with its
//! margin `mm_time − now`; a negative margin or a frame dropped by the queue
//! counts as a drop. A report is queued when the window is full, when
//! `timeout_ms` has passed since the first counted frame, or after 3 drops in
//! a row. `audio_delay` is `u32::MAX`: the runtime fills in the playback
//! latency when audio plays. Drain reports with
//! [`DisplayState::drain_stream_reports`] after every `handle` and
//! `stream_tick`; they are also capped at [`MAX_PENDING_REPORTS`].

use std::collections::VecDeque;

use super::bitmap::Source;
use super::canvas::{self, Rop};
use super::region::{PixBox, draw_region};
use super::{DisplayEvent, DisplayState};
use crate::codec::{self, CodecError, ImageBuf};
use crate::proto::channel::display::{
    Bitmap, Clip, DisplayServer, PaletteRef, Rect, StreamActivateReport, StreamCreate, StreamReport, bitmap_flags,
    bitmap_fmt, stream_flags, video_codec,
};

mod mjpeg;
mod report;
mod schedule;
use mjpeg::jpeg_tables;
use report::invalid_report;

/// spice-gtk's stream table size: ids are `0..MAX_STREAMS`.
pub const MAX_STREAMS: u32 = 64;
/// Codecs Sumac decodes; the runtime advertises exactly these
/// (`MULTI_CODEC` + `CODEC_MJPEG` display capabilities).
pub const SUPPORTED_CODECS: &[u8] = &[video_codec::MJPEG];
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
/// Largest decoded frame (pixels), 8192 × 8192.
pub const MAX_FRAME_PIXELS: u64 = 1 << 26;
/// Most reports kept for the runtime before the oldest are discarded.
pub const MAX_PENDING_REPORTS: usize = 256;
/// spice-gtk's `STREAM_REPORT_DROP_SEQ_LEN_LIMIT`: drops in a row that force a report.
const REPORT_DROP_SEQ_LIMIT: u32 = 3;
/// Spare frame buffers kept for reuse, and the largest capacity kept.
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
    Decode { id: u32, error: CodecError },
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
    /// or superseded by a newer due frame.
    pub frames_late: u64,
    /// Frames dropped by the bounded queue (count, span, bytes, non-monotonic time).
    pub frames_overflow: u64,
    /// Frames that could not be decoded or drawn.
    pub frames_failed: u64,
    /// Messages naming a stream that does not exist.
    pub unknown_id: u64,
    /// Reports discarded because the runtime did not drain them.
    pub reports_discarded: u64,
}

/// What a [`DisplayState::stream_tick`] did.
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

/// One queued encoded frame.
#[derive(Debug)]
struct Frame {
    mm_time: u32,
    width: u32,
    height: u32,
    dest: Rect,
    data: Vec<u8>,
    /// `now` of the first tick that saw the frame.
    seen_at: Option<u32>,
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

#[derive(Debug)]
struct Stream {
    surface_id: u32,
    top_down: bool,
    width: u32,
    height: u32,
    dest: Rect,
    clip: Clip,
    queue: VecDeque<Frame>,
    report: Option<Reporting>,
    /// DHT segments of the latest frame that had some (see "Abbreviated frames").
    huffman: Vec<u8>,
}

/// The stream table and scheduler of one display channel.
#[derive(Debug)]
pub struct StreamState {
    streams: Vec<Option<Stream>>,
    /// Decoded frame, reused.
    frame: ImageBuf,
    /// Encoded frame buffers, reused.
    spare: Vec<Vec<u8>>,
    queued_bytes: usize,
    reports: Vec<StreamReport>,
    stats: StreamStats,
    /// `now` of the latest tick (for report timeouts of frames dropped on arrival).
    last_now: u32,
}

impl Default for StreamState {
    fn default() -> Self {
        Self {
            streams: (0..MAX_STREAMS).map(|_| None).collect(),
            frame: ImageBuf::new(),
            spare: Vec::new(),
            queued_bytes: 0,
            reports: Vec::new(),
            stats: StreamStats::default(),
            last_now: 0,
        }
    }
}

/// `a − b` on the wrapping multimedia clock.
fn mm_diff(a: u32, b: u32) -> i32 {
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
    fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.get_mut(slot(id)?)?.as_mut()
    }

    fn recycle(&mut self, mut data: Vec<u8>) {
        self.queued_bytes = self.queued_bytes.saturating_sub(data.len());
        if self.spare.len() < MAX_SPARE_BUFFERS && data.capacity() <= MAX_SPARE_CAPACITY {
            data.clear();
            self.spare.push(data);
        }
    }

    /// Removes a stream, recycling its queued frames.
    fn remove(&mut self, id: u32) -> bool {
        let Some(st) = slot(id).and_then(|i| self.streams.get_mut(i)).and_then(Option::take) else {
            return false;
        };
        for f in st.queue {
            self.recycle(f.data);
        }
        self.stats.destroyed = self.stats.destroyed.saturating_add(1);
        true
    }

    /// Drops the oldest queued frame of stream `id` (queue overflow).
    fn drop_oldest(&mut self, id: u32) -> bool {
        let Some(f) = self.get_mut(id).and_then(|st| st.queue.pop_front()) else {
            return false;
        };
        self.stats.frames_overflow = self.stats.frames_overflow.saturating_add(1);
        let now = self.last_now;
        if f.seen_at.is_none() {
            self.count_for_report(id, f.mm_time, mm_diff(f.mm_time, now), true, now);
        }
        self.recycle(f.data);
        true
    }
}

impl DisplayState {
    /// Stream counters.
    pub fn stream_stats(&self) -> &StreamStats {
        &self.streams.stats
    }

    /// Ids of the live streams.
    pub fn stream_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..MAX_STREAMS).filter(|&id| {
            slot(id)
                .and_then(|i| self.streams.streams.get(i))
                .is_some_and(Option::is_some)
        })
    }

    fn stream_error(&mut self, e: &StreamError) {
        tracing::debug!(error = %e, "stream message not applied");
        let n = self.stats.errors.entry(e.kind()).or_default();
        *n = n.saturating_add(1);
    }

    /// Applies a STREAM_* message (frames are only queued here).
    pub(super) fn handle_stream(&mut self, m: &DisplayServer) {
        match m {
            DisplayServer::StreamCreate(c) => self.stream_create(c),
            DisplayServer::StreamData(d) => self.stream_data(d.id, d.multi_media_time, None, &d.data),
            DisplayServer::StreamDataSized(d) => {
                self.stream_data(d.id, d.multi_media_time, Some((d.width, d.height, d.dest)), &d.data);
            }
            DisplayServer::StreamClip(c) => self.stream_clip(c.id, &c.clip),
            DisplayServer::StreamActivateReport(a) => self.stream_activate_report(a),
            DisplayServer::StreamDestroy { id } if !self.streams.remove(*id) => self.stream_unknown(*id, false),
            DisplayServer::StreamDestroy { .. } => {}
            DisplayServer::StreamDestroyAll => {
                for id in 0..MAX_STREAMS {
                    self.streams.remove(id);
                }
            }
            _ => {}
        }
    }

    fn stream_unknown(&mut self, id: u32, report: bool) {
        self.streams.stats.unknown_id = self.streams.stats.unknown_id.saturating_add(1);
        self.stream_error(&StreamError::NoSuchStream { id });
        if report {
            self.streams.push_report(invalid_report(id));
        }
    }

    fn stream_create(&mut self, c: &StreamCreate) {
        if let Err(e) = self.try_stream_create(c) {
            self.stream_error(&e);
            if !matches!(e, StreamError::Duplicate { .. }) {
                self.streams.stats.refused = self.streams.stats.refused.saturating_add(1);
                self.streams.push_report(invalid_report(c.id));
            }
        }
    }

    fn try_stream_create(&mut self, c: &StreamCreate) -> Result<(), StreamError> {
        let id = c.id;
        let idx = slot(id).ok_or(StreamError::BadId { id })?;
        if self.streams.streams.get(idx).is_some_and(Option::is_some) {
            return Err(StreamError::Duplicate { id });
        }
        let codec = c.codec_type;
        if !(video_codec::MJPEG..=video_codec::H265).contains(&codec) {
            return Err(StreamError::UnknownCodec { id, codec });
        }
        if !SUPPORTED_CODECS.contains(&codec) {
            return Err(StreamError::CodecNotAdvertised { id, codec });
        }
        let (width, height) = (c.stream_width, c.stream_height);
        if !frame_size_ok(width, height, self.limits.max_surface_dim) {
            return Err(StreamError::BadSize { id, width, height });
        }
        let surface = self.surfaces.get(&c.surface_id).ok_or(StreamError::NoSurface {
            id,
            surface_id: c.surface_id,
        })?;
        if !dest_inside(&c.dest, surface.width, surface.height) {
            return Err(StreamError::BadDest { id, dest: c.dest });
        }
        if let Clip::Rects(r) = &c.clip
            && r.len() > self.limits.max_clip_rects
        {
            return Err(StreamError::TooManyClipRects { id, count: r.len() });
        }
        let st = Stream {
            surface_id: c.surface_id,
            top_down: c.flags & stream_flags::TOP_DOWN != 0,
            width,
            height,
            dest: c.dest,
            clip: c.clip.clone(),
            queue: VecDeque::new(),
            report: None,
            huffman: Vec::new(),
        };
        if let Some(s) = self.streams.streams.get_mut(idx) {
            *s = Some(st);
        }
        self.streams.stats.created = self.streams.stats.created.saturating_add(1);
        Ok(())
    }

    fn stream_clip(&mut self, id: u32, clip: &Clip) {
        let max = self.limits.max_clip_rects;
        let Some(st) = self.streams.get_mut(id) else {
            self.stream_unknown(id, true);
            return;
        };
        match clip {
            Clip::Rects(r) if r.len() > max => {
                let e = StreamError::TooManyClipRects { id, count: r.len() };
                self.stream_error(&e);
            }
            _ => st.clip = clip.clone(),
        }
    }

    /// Queues one frame (STREAM_DATA, or STREAM_DATA_SIZED with its size and dest).
    fn stream_data(&mut self, id: u32, mm_time: u32, sized: Option<(u32, u32, Rect)>, data: &[u8]) {
        let max_dim = self.limits.max_surface_dim;
        let Some(st) = self.streams.get_mut(id) else {
            self.stream_unknown(id, true);
            return;
        };
        let surface_id = st.surface_id;
        let (width, height, dest) = sized.unwrap_or((st.width, st.height, st.dest));
        let check = if data.len() > MAX_FRAME_BYTES {
            Err(StreamError::FrameTooLarge { id, size: data.len() })
        } else if !frame_size_ok(width, height, max_dim) {
            Err(StreamError::BadSize { id, width, height })
        } else {
            match self.surfaces.get(&surface_id) {
                None => Err(StreamError::NoSurface { id, surface_id }),
                Some(s) if !dest_inside(&dest, s.width, s.height) => Err(StreamError::BadDest { id, dest }),
                Some(_) => Ok(()),
            }
        };
        let ss = &mut self.streams;
        if let Err(e) = check {
            ss.stats.frames_failed = ss.stats.frames_failed.saturating_add(1);
            let now = ss.last_now;
            ss.count_for_report(id, mm_time, mm_diff(mm_time, now), true, now);
            if matches!(e, StreamError::NoSurface { .. }) {
                // The surface went away under the stream: tear it down.
                ss.remove(id);
            }
            self.stream_error(&e);
            return;
        }
        // Non-monotonic time: flush the queue (spice-gtk resets the stream's queue).
        if let Some(last) = ss.get_mut(id).and_then(|st| st.queue.back())
            && mm_diff(mm_time, last.mm_time) < 0
        {
            while ss.drop_oldest(id) {}
        }
        // Bounded queue: frame count, time span, bytes.
        loop {
            let Some(st) = ss.get_mut(id) else { return };
            let full = st.queue.len() >= MAX_QUEUED_FRAMES
                || st
                    .queue
                    .front()
                    .is_some_and(|f| u32::try_from(mm_diff(mm_time, f.mm_time)).is_ok_and(|d| d > MAX_QUEUE_SPAN_MS));
            let over_bytes = ss.queued_bytes.saturating_add(data.len()) > MAX_QUEUED_BYTES;
            if !(full || over_bytes) || !ss.drop_oldest(id) {
                break;
            }
        }
        if ss.queued_bytes.saturating_add(data.len()) > MAX_QUEUED_BYTES {
            ss.stats.frames_overflow = ss.stats.frames_overflow.saturating_add(1);
            let now = ss.last_now;
            ss.count_for_report(id, mm_time, mm_diff(mm_time, now), true, now);
            return;
        }
        let mut buf = ss.spare.pop().unwrap_or_default();
        buf.clear();
        // Abbreviated frames get the Huffman tables of an earlier frame.
        let tables = jpeg_tables(data);
        match (&tables, ss.get_mut(id)) {
            (Some(t), Some(st)) if !t.dht.is_empty() => {
                let size: usize = t.dht.iter().map(ExactSizeIterator::len).sum();
                if size <= MAX_TABLE_BYTES {
                    st.huffman.clear();
                    for r in &t.dht {
                        st.huffman.extend_from_slice(data.get(r.clone()).unwrap_or_default());
                    }
                }
                buf.extend_from_slice(data);
            }
            (Some(t), Some(st)) if !st.huffman.is_empty() && data.len() <= MAX_FRAME_BYTES - MAX_TABLE_BYTES => {
                let (head, tail) = data.split_at(t.sos.min(data.len()));
                buf.extend_from_slice(head);
                buf.extend_from_slice(&st.huffman);
                buf.extend_from_slice(tail);
            }
            _ => buf.extend_from_slice(data),
        }
        ss.queued_bytes = ss.queued_bytes.saturating_add(buf.len());
        ss.stats.frames_received = ss.stats.frames_received.saturating_add(1);
        if let Some(st) = ss.get_mut(id) {
            st.queue.push_back(Frame {
                mm_time,
                width,
                height,
                dest,
                data: buf,
                seen_at: None,
            });
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::unwrap_used,
    clippy::panic
)]
mod tests;
