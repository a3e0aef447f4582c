//! One stream's GStreamer decoder: `appsrc ! [parser] ! decoder !
//! videoconvert ! appsink` producing BGRA, with a fallback to the next
//! decoder of the list when the pipeline fails.
//!
//! Frames go in on the display channel's thread ([`VideoDecoder::queue`])
//! with their sequence number as the buffer's PTS (in milliseconds); decoded
//! samples come out on GStreamer's streaming thread, which matches them to
//! their frame by that PTS, hands them over as mapped buffers (the draw reads
//! GStreamer's memory in place, rows as far apart as the video meta says:
//! one copy per frame, into the surface; at most [`MAX_LENT_FRAMES`] lent at
//! once, later ones copied into top-down rows) and calls the stream's wake. Bus errors are noted from GStreamer's thread too; the
//! channel's thread notices them on its next `queue` or `poll`, stops the
//! pipeline and builds one with the next decoder (hardware first, software
//! after), replaying the frames since the last key frame: frames already
//! given back are not given again, so no frame is lost or shown twice. When
//! every decoder failed, frames fail until the next key frame, which starts
//! again from the first decoder. That key frame may already be in the failed
//! pipeline: the error is noticed on this thread some frames after the bad
//! data went in (junk from a faulty server makes the parser fail, not the
//! decoder), so a key frame queued and not yet given back starts over at once
//! (once per key frame, in case it is the bad data): only the frames before it
//! are lost.
//!
//! Bounds: the encoded bytes pushed and not given back are capped
//! ([`MAX_PENDING_BYTES`]; more frames fail at once), the replay list holds
//! at most [`MAX_REPLAY_FRAMES`] frames and [`MAX_REPLAY_BYTES`] (the key
//! frame is kept; the oldest frames after it are dropped, which costs a few
//! damaged pictures after a fallback, never a freeze).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::registry::{Candidate, codec_caps, parser};
use super::status::DecoderStatus;
use crate::display::stream::keyframe::is_key_frame;
use crate::display::{
    DecodeResult, DecodedFrame, EncodedFrame, FrameMemory, Pixels, VideoDecoder, VideoError, VideoWake,
};

/// Most encoded bytes in the pipeline, not given back yet.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
/// Most frames kept to replay after a decoder failed.
pub const MAX_REPLAY_FRAMES: usize = 120;
/// Most bytes kept to replay after a decoder failed.
pub const MAX_REPLAY_BYTES: usize = 32 << 20;
/// Decoded pixel buffers kept for reuse.
const SPARE_FRAMES: usize = 3;
/// Most decoded frames lent out as mapped GStreamer buffers at once (given
/// back, waiting for their time or being drawn); the frames decoded while
/// that many are out are copied instead, so the display never pins more
/// than this many of GStreamer's buffers.
pub const MAX_LENT_FRAMES: usize = 16;

/// What GStreamer's threads and the channel's thread share.
struct Inner {
    /// The pipeline whose output is wanted (older ones are ignored).
    generation: u64,
    done: VecDeque<DecodeResult>,
    /// The newest frame given back (replayed frames up to it are skipped).
    last_seq: Option<u64>,
    /// A pipeline failed: (its generation, the message).
    error: Option<(u64, String)>,
    spare: Vec<Vec<u8>>,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: VideoWake,
    /// Frames lent out as mapped buffers and not dropped yet.
    lent: Arc<AtomicUsize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Running {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

/// A frame kept for replay: the buffer (PTS set) shared with the pipeline.
struct Kept {
    buffer: gst::Buffer,
    len: usize,
}

/// Frames since the last key frame (see the module docs).
#[derive(Default)]
struct Replay {
    key: Option<Kept>,
    after: VecDeque<Kept>,
    bytes: usize,
}

impl Replay {
    fn push(&mut self, kept: Kept, key: bool) {
        if key {
            self.after.clear();
            self.bytes = kept.len;
            self.key = Some(kept);
            return;
        }
        if self.key.is_none() {
            // Nothing decodable to start from: keep nothing.
            return;
        }
        self.bytes = self.bytes.saturating_add(kept.len);
        self.after.push_back(kept);
        while self.after.len() > MAX_REPLAY_FRAMES || self.bytes > MAX_REPLAY_BYTES {
            let Some(old) = self.after.pop_front() else { break };
            self.bytes = self.bytes.saturating_sub(old.len);
        }
    }

    /// The sequence number of the key frame (its PTS in milliseconds).
    fn key_seq(&self) -> Option<u64> {
        self.key
            .as_ref()
            .and_then(|k| k.buffer.pts())
            .map(gst::ClockTime::mseconds)
    }

    fn buffers(&self) -> impl Iterator<Item = &Kept> {
        self.key.iter().chain(self.after.iter())
    }
}

/// The decoder of one stream (see the module docs).
pub struct GstDecoder {
    codec: u8,
    stream_id: u32,
    candidates: Arc<[Candidate]>,
    /// Index of the decoder in use (or tried next, when `running` is `None`).
    current: usize,
    running: Option<Running>,
    shared: Arc<Shared>,
    replay: Replay,
    /// Frames pushed and not given back: (seq, bytes).
    pending: VecDeque<(u64, usize)>,
    pending_bytes: usize,
    /// Every decoder failed: frames fail until a key frame.
    broken: bool,
    /// The queued key frame (its sequence number) already started over from.
    retried_key: Option<u64>,
    status: Arc<Mutex<DecoderStatus>>,
}

impl GstDecoder {
    /// A decoder trying `candidates` in order; `None` when none can be built.
    pub fn new(
        codec: u8,
        stream_id: u32,
        candidates: Arc<[Candidate]>,
        wake: VideoWake,
        status: Arc<Mutex<DecoderStatus>>,
    ) -> Option<Self> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                generation: 0,
                done: VecDeque::new(),
                last_seq: None,
                error: None,
                spare: Vec::new(),
            }),
            wake,
            lent: Arc::new(AtomicUsize::new(0)),
        });
        let mut d = Self {
            codec,
            stream_id,
            candidates,
            current: 0,
            running: None,
            shared,
            replay: Replay::default(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            broken: false,
            retried_key: None,
            status,
        };
        d.start().then_some(d)
    }

    /// Builds a pipeline with the current candidate or the next ones that
    /// build; false when none does.
    fn start(&mut self) -> bool {
        while let Some(c) = self.candidates.get(self.current).cloned() {
            let generation = {
                let mut inner = self.shared.lock();
                inner.generation = inner.generation.wrapping_add(1);
                inner.error = None;
                inner.generation
            };
            match build(self.codec, &c, generation, &self.shared) {
                Ok(r) => {
                    tracing::debug!(stream = self.stream_id, decoder = %c.description, "video decoder started");
                    self.running = Some(r);
                    self.set_status(&c);
                    return true;
                }
                Err(e) => {
                    tracing::info!(stream = self.stream_id, decoder = %c.description, error = %e, "video decoder unusable");
                    self.current = self.current.saturating_add(1);
                }
            }
        }
        false
    }

    fn set_status(&self, c: &Candidate) {
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let first = s.decoder.is_empty();
        s.decoder.clone_from(&c.description);
        s.hardware = c.hardware;
        if !first {
            s.fallbacks = s.fallbacks.saturating_add(1);
        }
    }

    /// A pipeline error: stop it, go on with the next decoder, replaying.
    fn recover(&mut self) {
        let error = self.shared.lock().error.take();
        let Some((_, message)) = error else { return };
        let failed = self
            .candidates
            .get(self.current)
            .map(|c| c.description.clone())
            .unwrap_or_default();
        tracing::warn!(stream = self.stream_id, decoder = %failed, error = %message, "video decoder failed, falling back");
        self.running = None;
        self.current = self.current.saturating_add(1);
        if self.start() {
            self.replay_frames();
        } else if !self.restart_at_queued_key(&message) {
            self.give_up(&message);
        }
    }

    /// Every decoder failed but a key frame is queued and not given back yet:
    /// the frames before it fail, and the decoders start over from it.
    fn restart_at_queued_key(&mut self, message: &str) -> bool {
        let Some(key) = self.replay.key_seq() else { return false };
        let given = self.shared.lock().last_seq;
        if given.is_some_and(|l| l >= key) || self.retried_key == Some(key) {
            return false;
        }
        self.retried_key = Some(key);
        self.fail_pending_before(Some(key), &format!("decoder failed: {message}"));
        self.current = 0;
        if !self.start() {
            return false;
        }
        tracing::debug!(
            stream = self.stream_id,
            key,
            "decoders started over at a queued key frame"
        );
        self.replay_frames();
        true
    }

    /// Pushes the kept frames into a new pipeline.
    fn replay_frames(&mut self) {
        let Some(r) = &self.running else { return };
        let mut n = 0u32;
        // Frames given back already are decoded again as references; their
        // output is skipped (`last_seq`).
        for k in self.replay.buffers() {
            if r.src.push_buffer(k.buffer.clone()).is_err() {
                break;
            }
            n = n.saturating_add(1);
        }
        tracing::debug!(
            stream = self.stream_id,
            frames = n,
            "frames replayed into the new decoder"
        );
    }

    /// No decoder left: every pending frame fails; the next key frame starts over.
    fn give_up(&mut self, message: &str) {
        self.broken = true;
        self.current = 0;
        self.fail_pending_before(None, &format!("no working decoder: {message}"));
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        s.decoder.clear();
        s.hardware = false;
    }

    /// The pending frames older than `key` (all of them without one) fail with `error`.
    fn fail_pending_before(&mut self, key: Option<u64>, error: &str) {
        let mut inner = self.shared.lock();
        while let Some(&(seq, len)) = self.pending.front()
            && key.is_none_or(|k| seq < k)
        {
            self.pending.pop_front();
            self.pending_bytes = self.pending_bytes.saturating_sub(len);
            inner.done.push_back(DecodeResult {
                seq,
                frame: Err(VideoError::Backend(error.to_owned())),
            });
        }
    }

    fn fail_now(&mut self, seq: u64, error: VideoError) {
        self.shared
            .lock()
            .done
            .push_back(DecodeResult { seq, frame: Err(error) });
    }
}

impl VideoDecoder for GstDecoder {
    fn queue(&mut self, f: EncodedFrame) {
        self.recover();
        let key = is_key_frame(self.codec, &f.data);
        if self.broken {
            if !key {
                self.fail_now(f.seq, VideoError::Backend("waiting for a key frame".into()));
                return;
            }
            self.broken = false;
            self.replay = Replay::default();
            if !self.start() {
                self.give_up("no decoder could be built");
                self.fail_now(f.seq, VideoError::Backend("no decoder".into()));
                return;
            }
        }
        let len = f.data.len();
        if self.pending_bytes.saturating_add(len) > MAX_PENDING_BYTES {
            self.fail_now(f.seq, VideoError::Backend("decoder backlog full".into()));
            return;
        }
        let mut buffer = gst::Buffer::from_mut_slice(f.data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_mseconds(f.seq));
            b.set_duration(gst::ClockTime::from_mseconds(1));
            if !key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.replay.push(
            Kept {
                buffer: buffer.clone(),
                len,
            },
            key,
        );
        self.pending.push_back((f.seq, len));
        self.pending_bytes = self.pending_bytes.saturating_add(len);
        let pushed = self.running.as_ref().is_some_and(|r| r.src.push_buffer(buffer).is_ok());
        if !pushed {
            // The pipeline is stopping (an error on its way): the next call recovers.
            tracing::debug!(stream = self.stream_id, seq = f.seq, "appsrc refused a frame");
        }
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        self.recover();
        let r = self.shared.lock().done.pop_front()?;
        while self.pending.front().is_some_and(|(s, _)| *s <= r.seq) {
            if let Some((_, len)) = self.pending.pop_front() {
                self.pending_bytes = self.pending_bytes.saturating_sub(len);
            }
        }
        Some(r)
    }

    fn destroy(&mut self) {
        self.running = None;
        let mut inner = self.shared.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.done.clear();
    }

    fn recycle(&mut self, pixels: Pixels) {
        // Mapped buffers go back to GStreamer as they drop.
        let Pixels::Owned(pixels) = pixels else { return };
        let mut inner = self.shared.lock();
        if inner.spare.len() < SPARE_FRAMES {
            inner.spare.push(pixels);
        }
    }
}

impl Drop for GstDecoder {
    fn drop(&mut self) {
        self.running = None;
    }
}

/// Builds and starts one pipeline for `c`.
fn build(codec: u8, c: &Candidate, generation: u64, shared: &Arc<Shared>) -> Result<Running, String> {
    let caps = codec_caps(codec).ok_or("unknown codec")?;
    let parse = parser(codec).map(|p| format!("{p} ! ")).unwrap_or_default();
    let description = format!(
        "appsrc name=src ! {parse}{} name=dec ! videoconvert ! appsink name=sink",
        c.description
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or("no appsrc")?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    src.set_caps(Some(&caps.parse::<gst::Caps>().map_err(|e| e.to_string())?));
    src.set_format(gst::Format::Time);
    src.set_is_live(false);
    src.set_block(false);
    src.set_max_bytes(0);
    src.set_max_buffers(0);
    src.set_max_time(gst::ClockTime::ZERO);
    sink.set_caps(Some(
        &gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Bgra)
            .build(),
    ));
    sink.set_sync(false);
    sink.set_drop(false);
    sink.set_max_buffers(0);
    sink.set_property("enable-last-sample", false);
    // Slice threads, not frame threads: frame threading holds decoded frames
    // back until more input comes, so a stream's last frames would wait.
    if let Some(dec) = pipeline.by_name("dec")
        && dec.find_property("thread-type").is_some()
    {
        dec.set_property_from_str("thread-type", "slice");
    }
    let out = Arc::downgrade(shared);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let Some(shared) = out.upgrade() else {
                    return Err(gst::FlowError::Flushing);
                };
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                deliver(&shared, generation, &sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let bus = pipeline.bus().ok_or("no bus")?;
    let errors = Arc::downgrade(shared);
    bus.set_sync_handler(move |_, msg| {
        match msg.view() {
            gst::MessageView::Error(e) => {
                if let Some(shared) = errors.upgrade() {
                    let text = format!(
                        "{} ({})",
                        e.error(),
                        e.debug().map(|d| d.to_string()).unwrap_or_default()
                    );
                    let mut inner = shared.lock();
                    if inner.generation == generation && inner.error.is_none() {
                        inner.error = Some((generation, text));
                        drop(inner);
                        (shared.wake)();
                    }
                }
            }
            gst::MessageView::Warning(w) => {
                tracing::debug!(warning = %w.error(), "video decoder warning");
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    Ok(Running { pipeline, src })
}

/// A decoded sample: converted, matched to its frame, handed over.
fn deliver(shared: &Shared, generation: u64, sample: &gst::Sample) {
    let Some(seq) = sample.buffer().and_then(|b| b.pts()).map(gst::ClockTime::mseconds) else {
        return;
    };
    {
        let inner = shared.lock();
        if inner.generation != generation || inner.last_seq.is_some_and(|l| seq <= l) {
            // An old pipeline's output, or a replayed frame given back already.
            return;
        }
    }
    let frame = to_bgra(sample, shared);
    let mut inner = shared.lock();
    if inner.generation != generation {
        return;
    }
    inner.last_seq = Some(seq);
    inner.done.push_back(DecodeResult { seq, frame });
    drop(inner);
    (shared.wake)();
}

/// A decoded frame lent to the display: the mapped buffer (GStreamer's
/// memory, read in place by the draw), counted while it lives.
struct LentFrame {
    frame: gst_video::VideoFrame<gst_video::video_frame::Readable>,
    lent: Arc<AtomicUsize>,
}

impl FrameMemory for LentFrame {
    fn bytes(&self) -> &[u8] {
        self.frame.plane_data(0).unwrap_or_default()
    }
}

impl Drop for LentFrame {
    fn drop(&mut self) {
        self.lent.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A BGRA sample (opaque: `videoconvert` sets alpha) as top-down rows of
/// `width × 4` bytes, `stride` apart (the video meta's): the mapped buffer
/// itself while fewer than [`MAX_LENT_FRAMES`] are lent, else copied into a
/// spare buffer.
fn to_bgra(sample: &gst::Sample, shared: &Shared) -> Result<DecodedFrame, VideoError> {
    let lent = &shared.lent;
    let bad = |m: &str| VideoError::Backend(m.to_owned());
    let caps = sample.caps().ok_or_else(|| bad("sample without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| bad("sample caps are not raw video"))?;
    let buffer = sample.buffer_owned().ok_or_else(|| bad("sample without buffer"))?;
    let frame = gst_video::VideoFrame::from_buffer_readable(buffer, &info).map_err(|_| bad("unmappable frame"))?;
    let (width, height) = (frame.width(), frame.height());
    let row = usize::try_from(width).map_err(|_| bad("width"))?.saturating_mul(4);
    let rows = usize::try_from(height).map_err(|_| bad("height"))?;
    // A negative stride (bottom-up rows) is not read: GStreamer's BGRA is top-down.
    let stride = frame
        .plane_stride()
        .first()
        .and_then(|s| usize::try_from(*s).ok())
        .filter(|&s| s >= row)
        .ok_or_else(|| bad("stride"))?;
    let data = frame.plane_data(0).map_err(|_| bad("plane"))?;
    if stride.checked_mul(rows).is_none_or(|n| data.len() < n) {
        return Err(bad("short frame"));
    }
    if lent.fetch_add(1, Ordering::AcqRel) < MAX_LENT_FRAMES {
        return Ok(DecodedFrame {
            width,
            height,
            pixels: Pixels::Mapped {
                memory: Box::new(LentFrame {
                    frame,
                    lent: Arc::clone(lent),
                }),
                stride,
            },
            red_first: false,
        });
    }
    lent.fetch_sub(1, Ordering::AcqRel);
    let mut pixels = shared.lock().spare.pop().unwrap_or_default();
    pixels.clear();
    pixels.reserve(row.saturating_mul(rows));
    for r in data.chunks(stride).take(rows) {
        let line = r.get(..row).ok_or_else(|| bad("short row"))?;
        pixels.extend_from_slice(line);
    }
    Ok(DecodedFrame {
        width,
        height,
        pixels: Pixels::Owned(pixels),
        red_first: false,
    })
}
