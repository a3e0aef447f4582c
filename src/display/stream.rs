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
//!   room. A frame older than the last queued one (non-monotonic time) flushes
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

/// spice-gtk's stream table size: ids are `0..MAX_STREAMS`.
pub const MAX_STREAMS: u32 = 64;
/// Codecs Sumac decodes; the runtime advertises exactly these
/// (`MULTI_CODEC` + `CODEC_MJPEG` display capabilities).
pub const SUPPORTED_CODECS: &[u8] = &[video_codec::MJPEG];
/// A frame whose time is past by more than this is dropped as late.
pub const LATE_TOLERANCE_MS: u32 = 50;
/// Most frames waiting in one stream's queue.
pub const MAX_QUEUED_FRAMES: usize = 3;
/// Most multimedia time between the oldest and the newest queued frame.
pub const MAX_QUEUE_SPAN_MS: u32 = 200;
/// Longest a frame waits for its time, and longest [`StreamTick::next_wake_ms`].
pub const MAX_WAIT_MS: u32 = 1000;
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

/// The report telling the server a stream does not exist.
fn invalid_report(id: u32) -> StreamReport {
    StreamReport {
        stream_id: id,
        num_frames: 0,
        num_drops: u32::MAX,
        ..StreamReport::default()
    }
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

    fn push_report(&mut self, r: StreamReport) {
        if self.reports.len() >= MAX_PENDING_REPORTS {
            self.reports.remove(0);
            self.stats.reports_discarded = self.stats.reports_discarded.saturating_add(1);
        }
        self.reports.push(r);
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

    /// Counts one frame in the stream's report window (`margin < 0` or
    /// `dropped` counts as a drop) and queues a report when one is due.
    fn count_for_report(&mut self, id: u32, mm_time: u32, margin: i32, dropped: bool, now: u32) {
        let Some(st) = self.get_mut(id) else { return };
        let Some(r) = st.report.as_mut() else { return };
        if r.num_frames == 0 {
            r.start_frame_time = mm_time;
            r.start_now = now;
        }
        r.num_frames = r.num_frames.saturating_add(1);
        if margin < 0 || dropped {
            r.num_drops = r.num_drops.saturating_add(1);
            r.drops_seq = r.drops_seq.saturating_add(1);
        } else {
            r.drops_seq = 0;
        }
        let timed_out = u32::try_from(mm_diff(now, r.start_now)).is_ok_and(|d| d >= r.timeout_ms);
        if r.num_frames >= r.max_window || timed_out || r.drops_seq >= REPORT_DROP_SEQ_LIMIT {
            let report = StreamReport {
                stream_id: id,
                unique_id: r.unique_id,
                start_frame_mm_time: r.start_frame_time,
                end_frame_mm_time: mm_time,
                num_frames: r.num_frames,
                num_drops: r.num_drops,
                last_frame_delay: margin,
                audio_delay: u32::MAX,
            };
            r.num_frames = 0;
            r.num_drops = 0;
            r.drops_seq = 0;
            self.push_report(report);
        }
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

    /// STREAM_REPORT messages to send, oldest first. The runtime sends each
    /// as `DisplayClient::StreamReport` when the server has the
    /// `STREAM_REPORT` display capability (spice-gtk checks it too), after
    /// replacing `audio_delay` with the playback latency when audio plays.
    pub fn drain_stream_reports(&mut self) -> std::vec::Drain<'_, StreamReport> {
        self.streams.reports.drain(..)
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
            queue: VecDeque::with_capacity(MAX_QUEUED_FRAMES),
            report: None,
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

    fn stream_activate_report(&mut self, a: &StreamActivateReport) {
        let Some(st) = self.streams.get_mut(a.stream_id) else {
            self.stream_unknown(a.stream_id, true);
            return;
        };
        st.report = Some(Reporting {
            unique_id: a.unique_id,
            max_window: a.max_window_size,
            timeout_ms: a.timeout_ms,
            start_frame_time: 0,
            start_now: 0,
            num_frames: 0,
            num_drops: 0,
            drops_seq: 0,
        });
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
        buf.extend_from_slice(data);
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

    /// Runs the stream scheduler at multimedia time `now_mm_time`: draws the
    /// frames that are due, drops late ones, and says when to tick again.
    ///
    /// Call it after every `handle` of a STREAM_DATA / STREAM_DATA_SIZED
    /// message (so a frame's arrival margin is measured promptly), and again
    /// when `next_wake_ms` has elapsed.
    pub fn stream_tick(&mut self, now_mm_time: u32) -> StreamTick {
        let now = now_mm_time;
        self.streams.last_now = now;
        let mut tick = StreamTick::default();
        for id in 0..MAX_STREAMS {
            self.tick_one(id, now, &mut tick);
        }
        tick
    }

    fn tick_one(&mut self, id: u32, now: u32, tick: &mut StreamTick) {
        let ss = &mut self.streams;
        let Some(st) = ss.get_mut(id) else { return };
        if st.queue.is_empty() {
            return;
        }
        if !self.surfaces.contains_key(&st.surface_id) {
            let surface_id = st.surface_id;
            ss.remove(id);
            self.stream_error(&StreamError::NoSurface { id, surface_id });
            return;
        }
        // Count arrivals for the report, with their margin.
        let n = st.queue.len();
        for i in 0..n {
            let Some(f) = ss.get_mut(id).and_then(|st| st.queue.get_mut(i)) else {
                break;
            };
            if f.seen_at.is_some() {
                continue;
            }
            f.seen_at = Some(now);
            let (mm_time, margin) = (f.mm_time, mm_diff(f.mm_time, now));
            ss.count_for_report(id, mm_time, margin, false, now);
        }
        let mut due: Option<Frame> = None;
        while let Some(st) = ss.get_mut(id) {
            let Some(f) = st.queue.front() else { break };
            let late = mm_diff(now, f.mm_time);
            let waited = f.seen_at.map_or(0, |s| now.wrapping_sub(s));
            let dropped = late > 0 && late.unsigned_abs() > LATE_TOLERANCE_MS;
            let ready = f.mm_time == 0 || late >= 0 || waited >= MAX_WAIT_MS;
            if !dropped && !ready {
                let until_time = late.unsigned_abs();
                let until_cap = MAX_WAIT_MS.saturating_sub(waited);
                let wait = until_time.min(until_cap).clamp(1, MAX_WAIT_MS);
                tick.next_wake_ms = Some(tick.next_wake_ms.map_or(wait, |w| w.min(wait)));
                break;
            }
            let Some(f) = st.queue.pop_front() else { break };
            if dropped && f.mm_time != 0 && waited < MAX_WAIT_MS {
                ss.stats.frames_late = ss.stats.frames_late.saturating_add(1);
                tick.dropped = tick.dropped.saturating_add(1);
                ss.recycle(f.data);
                continue;
            }
            if let Some(older) = due.replace(f) {
                ss.stats.frames_late = ss.stats.frames_late.saturating_add(1);
                tick.dropped = tick.dropped.saturating_add(1);
                ss.recycle(older.data);
            }
        }
        if let Some(f) = due {
            match self.render_frame(id, &f) {
                Ok(damage) => {
                    self.streams.stats.frames_rendered = self.streams.stats.frames_rendered.saturating_add(1);
                    tick.rendered = tick.rendered.saturating_add(1);
                    if let (Some(b), Some(st)) = (damage, self.streams.get_mut(id)) {
                        tick.events.push(DisplayEvent::Damage {
                            surface_id: st.surface_id,
                            rect: b.to_rect(),
                        });
                    }
                }
                Err(e) => {
                    self.streams.stats.frames_failed = self.streams.stats.frames_failed.saturating_add(1);
                    self.stream_error(&e);
                }
            }
            self.streams.recycle(f.data);
        }
    }

    /// Decodes `f` and draws it into the stream's surface.
    fn render_frame(&mut self, id: u32, f: &Frame) -> Result<Option<PixBox>, StreamError> {
        let max_rects = self.limits.max_clip_rects;
        let ss = &mut self.streams;
        let st = ss
            .streams
            .get(slot(id).ok_or(StreamError::BadId { id })?)
            .and_then(Option::as_ref)
            .ok_or(StreamError::NoSuchStream { id })?;
        let surface_id = st.surface_id;
        let surface = self
            .surfaces
            .get_mut(&surface_id)
            .ok_or(StreamError::NoSurface { id, surface_id })?;
        if !dest_inside(&f.dest, surface.width, surface.height) {
            return Err(StreamError::BadDest { id, dest: f.dest });
        }
        let (sw, sh) = surface.dims();
        let region = draw_region("stream", &f.dest, &st.clip, sw, sh, max_rects)
            .map_err(|_| StreamError::TooManyClipRects { id, count: usize::MAX })?;
        let decoded = codec::jpeg::decode_capped(&f.data, MAX_FRAME_PIXELS, Some((f.width, f.height)), &mut ss.frame);
        decoded.map_err(|error| StreamError::Decode { id, error })?;
        // View the decoded pixels as an RGBA bitmap (borrowing the buffer for
        // the draw, then giving it back) so the canvas can flip and scale it.
        let (width, height) = (ss.frame.width, ss.frame.height);
        let bitmap = Bitmap {
            format: bitmap_fmt::RGBA,
            flags: if st.top_down { bitmap_flags::TOP_DOWN } else { 0 },
            width,
            height,
            stride: width.saturating_mul(4),
            palette: PaletteRef::None,
            data: std::mem::take(&mut ss.frame.data),
        };
        let damage = match Source::bitmap("stream", &bitmap, None, surface.format) {
            Ok(src) => {
                let area = Rect::ltrb(
                    0,
                    0,
                    i32::try_from(width).unwrap_or(i32::MAX),
                    i32::try_from(height).unwrap_or(i32::MAX),
                );
                Ok(canvas::blit(surface, &region, &src, &f.dest, &area, Rop::Copy))
            }
            Err(_) => Err(StreamError::Decode {
                id,
                error: CodecError::invalid("mjpeg", "decoded frame has an unexpected size"),
            }),
        };
        ss.frame.data = bitmap.data;
        damage
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
mod tests {
    use super::*;
    use crate::codec::jpeg::tests::{fixture, ppm, psnr};
    use crate::display::Limits;
    use crate::proto::channel::display::{
        StreamClip, StreamData, StreamDataSized, SurfaceCreate, surface_flags, surface_fmt,
    };

    const W: u32 = 200;
    const H: u32 = 100;

    fn state() -> DisplayState {
        let mut s = DisplayState::new(Limits::default());
        s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: 0,
            width: W,
            height: H,
            format: surface_fmt::XRGB32,
            flags: surface_flags::PRIMARY,
        }));
        s
    }

    fn create(id: u32, flags: u8, dest: Rect) -> DisplayServer {
        DisplayServer::StreamCreate(StreamCreate {
            surface_id: 0,
            id,
            flags,
            codec_type: video_codec::MJPEG,
            stamp: 0,
            stream_width: 64,
            stream_height: 48,
            src_width: 64,
            src_height: 48,
            dest,
            clip: Clip::None,
        })
    }

    fn data(id: u32, mm_time: u32) -> DisplayServer {
        DisplayServer::StreamData(StreamData {
            id,
            multi_media_time: mm_time,
            data: fixture("frame-64x48-q95.jpg"),
        })
    }

    fn dest_at(x: i32, y: i32, w: i32, h: i32) -> Rect {
        Rect::ltrb(x, y, x + w, y + h)
    }

    /// The surface pixels of `dest` as B,G,R,A rows.
    fn pixels(s: &DisplayState, dest: &Rect) -> Vec<u8> {
        let mut out = Vec::new();
        for y in dest.top..dest.bottom {
            for x in dest.left..dest.right {
                out.extend_from_slice(&s.surface(0).unwrap().pixel(x as u32, y as u32).unwrap());
            }
        }
        out
    }

    fn decoded() -> ImageBuf {
        let mut b = ImageBuf::new();
        codec::jpeg::decode(&fixture("frame-64x48-q95.jpg"), &mut b).unwrap();
        b
    }

    #[test]
    fn frame_is_drawn_at_dest_exactly_as_decoded() {
        let mut s = state();
        let dest = dest_at(10, 20, 64, 48);
        s.handle(&create(3, stream_flags::TOP_DOWN, dest));
        assert_eq!(s.stream_ids().collect::<Vec<_>>(), [3]);
        s.handle(&data(3, 1000));
        // Not yet due: a wake-up is requested, nothing drawn.
        let t = s.stream_tick(990);
        assert_eq!((t.rendered, t.dropped, t.next_wake_ms), (0, 0, Some(10)));
        let t = s.stream_tick(1000);
        assert_eq!((t.rendered, t.dropped, t.next_wake_ms), (1, 0, None));
        assert_eq!(
            t.events,
            [DisplayEvent::Damage {
                surface_id: 0,
                rect: dest
            }]
        );
        // Lossless path: the surface holds exactly the decoded frame ...
        let got = pixels(&s, &dest);
        assert_eq!(got, decoded().data);
        // ... which is close to the source image.
        let (_, _, src) = ppm("frame-src-64x48.ppm");
        let db = psnr(&got, &src);
        assert!(db >= 40.0, "{db:.1} dB");
        // Nothing outside dest.
        assert_eq!(s.surface(0).unwrap().pixel(9, 20).unwrap(), [0; 4]);
        assert_eq!(s.stream_stats().frames_rendered, 1);
        assert!(s.drain_stream_reports().next().is_none());
    }

    #[test]
    fn bottom_up_streams_are_flipped_and_scaled_and_clipped() {
        let mut s = state();
        let dest = dest_at(0, 0, 64, 48);
        s.handle(&create(0, 0, dest));
        s.handle(&data(0, 5));
        assert_eq!(s.stream_tick(5).rendered, 1);
        let d = decoded();
        let got = pixels(&s, &dest);
        for y in 0..48usize {
            assert_eq!(got[y * 256..(y + 1) * 256], *d.row(47 - y as u32).unwrap(), "row {y}");
        }
        // Scaled 2x into a clipped destination via STREAM_DATA_SIZED.
        let mut s = state();
        s.handle(&create(1, stream_flags::TOP_DOWN, dest));
        s.handle(&DisplayServer::StreamClip(StreamClip {
            id: 1,
            clip: Clip::Rects(vec![Rect::ltrb(0, 0, 100, 50)]),
        }));
        let big = dest_at(0, 0, 128, 96);
        s.handle(&DisplayServer::StreamDataSized(StreamDataSized {
            id: 1,
            multi_media_time: 7,
            width: 64,
            height: 48,
            dest: big,
            data: fixture("frame-64x48-q95-progressive.jpg"),
        }));
        let t = s.stream_tick(7);
        assert_eq!(t.rendered, 1);
        assert_eq!(
            t.events,
            [DisplayEvent::Damage {
                surface_id: 0,
                rect: Rect::ltrb(0, 0, 100, 50)
            }]
        );
        let surf = s.surface(0).unwrap();
        let (_, _, src) = ppm("frame-src-64x48.ppm");
        let mut got = Vec::new();
        // Nearest sampling maps surface (2x, 2y + 1) to frame (x, y); the clip keeps y < 50.
        for y in 0..25u32 {
            for x in 0..50u32 {
                got.extend_from_slice(&surf.pixel(2 * x, 2 * y + 1).unwrap());
            }
        }
        let src_part: Vec<u8> = (0..25).flat_map(|y| src[y * 192..y * 192 + 150].to_vec()).collect();
        assert!(psnr(&got, &src_part) >= 40.0);
        assert_eq!(surf.pixel(100, 10).unwrap(), [0; 4], "outside the clip");
        assert_eq!(surf.pixel(10, 50).unwrap(), [0; 4], "outside the clip");
    }

    fn reports(s: &mut DisplayState) -> Vec<StreamReport> {
        s.drain_stream_reports().collect()
    }

    #[test]
    fn hostile_row_27_refused_creates_report_invalid_streams() {
        let mut s = state();
        let ok = dest_at(0, 0, 64, 48);
        let mut bad: Vec<DisplayServer> = Vec::new();
        for codec in [0, video_codec::VP8, video_codec::H264, video_codec::H265, 6, 255] {
            let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
                unreachable!()
            };
            c.codec_type = codec;
            bad.push(DisplayServer::StreamCreate(c));
        }
        for (w, h) in [(0, 48), (64, 0), (16385, 1), (10_000, 10_000)] {
            let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
                unreachable!()
            };
            c.stream_width = w;
            c.stream_height = h;
            bad.push(DisplayServer::StreamCreate(c));
        }
        for dest in [
            dest_at(-1, 0, 64, 48),
            dest_at(150, 0, 64, 48),
            Rect::ltrb(10, 10, 5, 20),
            dest_at(0, 0, 0, 0),
        ] {
            bad.push(create(1, 0, dest));
        }
        let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
            unreachable!()
        };
        c.surface_id = 9;
        bad.push(DisplayServer::StreamCreate(c));
        bad.push(create(64, 0, ok));
        bad.push(create(u32::MAX, 0, ok));
        for m in &bad {
            s.handle(m);
        }
        assert_eq!(s.stream_ids().count(), 0);
        let r = reports(&mut s);
        assert_eq!(r.len(), bad.len());
        assert!(r.iter().all(|r| r.num_frames == 0 && r.num_drops == u32::MAX));
        assert_eq!(r.last().unwrap().stream_id, u32::MAX);
        assert_eq!(s.stream_stats().refused, bad.len() as u64);
        assert_eq!(s.stats().errors_of("stream_codec_not_advertised"), 3);
        assert_eq!(s.stats().errors_of("stream_unknown_codec"), 3);
        assert_eq!(s.stats().errors_of("stream_bad_dest"), 4);
        // A duplicate create keeps the live stream and sends no report.
        s.handle(&create(1, 0, ok));
        s.handle(&create(1, 0, dest_at(1, 1, 64, 48)));
        assert_eq!(s.stream_stats().created, 1);
        assert_eq!(s.stats().errors_of("stream_duplicate"), 1);
        assert!(reports(&mut s).is_empty());
    }

    #[test]
    fn hostile_row_28_unknown_ids_and_odd_times() {
        let mut s = state();
        s.handle(&data(5, 100));
        s.handle(&DisplayServer::StreamClip(StreamClip {
            id: 6,
            clip: Clip::None,
        }));
        s.handle(&DisplayServer::StreamActivateReport(StreamActivateReport {
            stream_id: 7,
            ..Default::default()
        }));
        s.handle(&DisplayServer::StreamDestroy { id: 8 });
        s.handle(&data(u32::MAX, 100));
        assert_eq!(s.stream_stats().unknown_id, 5);
        let ids: Vec<u32> = reports(&mut s).iter().map(|r| r.stream_id).collect();
        assert_eq!(ids, [5, 6, 7, u32::MAX], "destroy of an unknown id is not reported");

        // A huge mm_time waits at most MAX_WAIT_MS, then is shown.
        s.handle(&create(2, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
        s.handle(&data(2, 0x8000_0000));
        let t = s.stream_tick(1000);
        assert_eq!((t.rendered, t.next_wake_ms), (0, Some(MAX_WAIT_MS)));
        assert_eq!(s.stream_tick(1500).next_wake_ms, Some(500));
        assert_eq!(s.stream_tick(2000).rendered, 1);
        // mm_time 0 is shown at once.
        s.handle(&data(2, 0));
        assert_eq!(s.stream_tick(5000).rendered, 1);
        // Non-monotonic time flushes the queue: the older frame replaces the newer.
        s.handle(&data(2, 6000));
        s.handle(&data(2, 5900));
        assert_eq!(s.stream_stats().frames_overflow, 1);
        let t = s.stream_tick(5900);
        assert_eq!((t.rendered, t.next_wake_ms), (1, None));
        // Late frames are dropped; within the tolerance they are drawn.
        s.handle(&data(2, 6900));
        s.handle(&data(2, 7000));
        let t = s.stream_tick(7000 + LATE_TOLERANCE_MS + 1);
        assert_eq!((t.rendered, t.dropped), (0, 2));
        s.handle(&data(2, 8000));
        assert_eq!(s.stream_tick(8000 + LATE_TOLERANCE_MS).rendered, 1);
        // Wrap-around of the clock is not lateness.
        s.handle(&data(2, 5));
        let t = s.stream_tick(u32::MAX - 4);
        assert_eq!((t.rendered, t.next_wake_ms), (0, Some(10)));
        assert_eq!(s.stream_tick(5).rendered, 1);
        // Destroy, then data for it: dropped and reported.
        s.handle(&DisplayServer::StreamDestroy { id: 2 });
        s.handle(&data(2, 9000));
        assert_eq!(s.stream_stats().destroyed, 1);
        assert_eq!(reports(&mut s).len(), 1);
    }

    #[test]
    fn hostile_row_29_flood_is_bounded() {
        let mut s = state();
        s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
        // 2000 frames 10 ms apart, faster than we tick: at most 3 stay queued.
        for i in 0..2000u32 {
            s.handle(&data(0, 100_000 + i * 10));
            let q = s.streams.get_mut(0).unwrap().queue.len();
            assert!(q <= MAX_QUEUED_FRAMES);
        }
        assert_eq!(s.stream_stats().frames_overflow, 1997);
        assert!(s.streams.queued_bytes <= 3 * fixture("frame-64x48-q95.jpg").len());
        // A span of more than 200 ms keeps only the recent frames.
        let mut s = state();
        s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
        s.handle(&data(0, 1000));
        s.handle(&data(0, 1300));
        assert_eq!(s.streams.get_mut(0).unwrap().queue.len(), 1);
        // Everything due at once: only the newest is drawn.
        s.handle(&data(0, 1310));
        s.handle(&data(0, 1320));
        let t = s.stream_tick(1320);
        assert_eq!((t.rendered, t.dropped), (1, 2));
        // Oversized frames are refused.
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: 2000,
            data: vec![0; MAX_FRAME_BYTES + 1],
        }));
        assert_eq!(s.stats().errors_of("stream_frame_too_large"), 1);
    }

    #[test]
    fn reports_follow_the_activate_window() {
        let mut s = state();
        s.handle(&create(4, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
        s.handle(&DisplayServer::StreamActivateReport(StreamActivateReport {
            stream_id: 4,
            unique_id: 77,
            max_window_size: 3,
            timeout_ms: 10_000,
        }));
        for (i, now) in [(0u32, 990u32), (1, 1010), (2, 1020)] {
            s.handle(&data(4, 1000 + i * 10));
            s.stream_tick(now);
        }
        let r = reports(&mut s);
        assert_eq!(r.len(), 1);
        let r = r[0];
        assert_eq!((r.stream_id, r.unique_id, r.num_frames, r.num_drops), (4, 77, 3, 0));
        assert_eq!((r.start_frame_mm_time, r.end_frame_mm_time), (1000, 1020));
        assert_eq!((r.last_frame_delay, r.audio_delay), (0, u32::MAX));
        // Three late arrivals in a row force a report.
        for i in 0..3u32 {
            s.handle(&data(4, 2000 + i));
            s.stream_tick(3000 + i);
        }
        let r = reports(&mut s);
        assert_eq!((r.len(), r[0].num_drops, r[0].num_frames), (1, 3, 3));
        assert!(r[0].last_frame_delay < 0);
    }

    #[test]
    fn bad_frames_are_dropped_and_the_stream_survives() {
        let mut s = state();
        s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
        // Garbage, a frame of the wrong size, a sized frame outside the surface.
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: 10,
            data: vec![0xff, 0xd8, 0xff],
        }));
        assert_eq!(s.stream_tick(10).rendered, 0);
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: 20,
            data: fixture("color-61x37-444-q95.jpg"),
        }));
        assert_eq!(s.stream_tick(20).rendered, 0);
        s.handle(&DisplayServer::StreamDataSized(StreamDataSized {
            id: 0,
            multi_media_time: 30,
            width: 64,
            height: 48,
            dest: dest_at(190, 0, 64, 48),
            data: fixture("frame-64x48-q95.jpg"),
        }));
        assert_eq!(s.stream_stats().frames_failed, 3);
        assert_eq!(s.stats().errors_of("stream_decode"), 2);
        s.handle(&data(0, 40));
        assert_eq!(s.stream_tick(40).rendered, 1);
        // The surface goes away: the stream is torn down at the next frame.
        s.handle(&DisplayServer::SurfaceDestroy { surface_id: 0 });
        s.handle(&data(0, 50));
        assert_eq!(s.stream_ids().count(), 0);
        s.handle(&create(1, 0, dest_at(0, 0, 64, 48)));
        assert_eq!(s.stream_ids().count(), 0, "no surface: refused");
        s.handle(&DisplayServer::StreamDestroyAll);
    }
}
