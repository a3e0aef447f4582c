//! The display channel: prepare, apply to the shared [`DisplayState`],
//! publish what changed. The pixel work lives in [`crate::display`]; this
//! machine stays thin.
//!
//! Each message is prepared by the channel's [`DisplayDecoder`] before the
//! state lock is taken: every image decoded (QUIC, LZ, GLZ, LZ4, JPEG...,
//! cache lookups and stores), palettes and cache invalidations handled,
//! video frames queued. The lock (the one the widget takes to copy pixels)
//! then covers only [`DisplayState::apply`], the drawing. A GLZ image may
//! reference an image another display channel has not decoded yet: the
//! machine then answers [`Wait::GlzImage`] and resumes after the window's
//! next arrival. INVAL_ALL_PIXMAPS first waits until the listed channels
//! processed the listed messages ([`Wait::Serials`]), since the image cache
//! is shared with what they draw.
//!
//! After every message, wake-up and video decoder wake (`commands`, through
//! the channel's inbox), the video streams are ticked: due frames decoded
//! off the lock, then drawn under it ([`DisplayState::draw_frames`]); the
//! lock is not taken when the tick has nothing for the state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Outputs, Wait, WaitEnd};
use crate::client::events::SessionEvent;
use crate::codec::glz::Absent;
use crate::connector::client::Linked;
use crate::display::stream::mm_diff;
use crate::display::{DisplayDecoder, DisplayEvent, DisplayState, Prepared};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::caps::display as caps;
use crate::proto::channel::display::{DisplayClient, DisplayInit, DisplayServer, Rect, video_codec};

/// What the display machine announces in DISPLAY_INIT and at link time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplaySettings {
    /// Image (pixmap) cache announced to the server, in bytes.
    pub image_cache_bytes: u64,
    /// GLZ dictionary window announced to the server, in bytes.
    pub glz_window_bytes: u64,
    /// Preferred image compression (SPICE numbering), if any.
    pub preferred_compression: Option<u8>,
    /// Other display channels exist: a GLZ image may wait for their images.
    pub glz_may_wait: bool,
}

/// A message waiting before it can be applied.
#[derive(Debug)]
struct Parked {
    msg: DisplayServer,
    prepared: Prepared,
    /// Waiting for other channels' serials (INVAL_ALL_PIXMAPS) rather than a GLZ image.
    serials: bool,
    /// The GLZ window's generation when the wait began (cleared meanwhile: give up).
    generation: u64,
}

/// The display channel's state.
pub struct DisplayMachine {
    id: u8,
    state: Arc<Mutex<DisplayState>>,
    settings: DisplaySettings,
    dropped_messages: u64,
    /// The server accepts STREAM_REPORT.
    reports: bool,
    /// When the stream scheduler wants to run again.
    wake_at: Option<Instant>,
    /// Prepares every message before `state` is locked: no decoding (and
    /// no wait for another channel's GLZ image) holds the lock the widget
    /// draws from.
    decoder: DisplayDecoder,
    /// The prepared message, reused.
    prepared: Prepared,
    /// Watches the multimedia clock for jumps (video is rescheduled).
    clock: ClockWatch,
    /// Damage of the messages handled since the last flush, not emitted yet.
    damage: PendingDamage,
    parked: Option<Parked>,
}

/// How far the multimedia clock may run ahead of the local clock between two
/// looks before it counts as a jump (spice-gtk's `mm-time-reset` threshold).
const MM_TIME_JUMP_MS: i32 = 500;

/// Notices when the multimedia clock jumps: it moved back, or ahead of the
/// local clock by more than [`MM_TIME_JUMP_MS`] (the main channel set a new
/// time, playback latency changed). The clock is the local clock plus an
/// offset, both truncated to milliseconds, so between two looks it runs 0 or
/// 1 ms ahead of the local clock's elapsed milliseconds.
#[derive(Debug, Default)]
struct ClockWatch {
    last: Option<(Instant, u32)>,
}

impl ClockWatch {
    /// Whether the clock jumped since the last look (never on the first,
    /// nor while it is unset: 0).
    fn jumped(&mut self, now: Instant, mm_time: u32) -> bool {
        if mm_time == 0 {
            return false;
        }
        let Some((then, mm_then)) = self.last.replace((now, mm_time)) else {
            return false;
        };
        let elapsed = now.saturating_duration_since(then).as_millis();
        let expected = mm_then.wrapping_add(u32::try_from(elapsed & 0xffff_ffff).unwrap_or(0));
        let drift = mm_diff(mm_time, expected);
        !(0..=MM_TIME_JUMP_MS).contains(&drift)
    }
}

/// Most damage rectangles held back before they are emitted.
const MAX_PENDING_DAMAGE: usize = 32;

/// Damage gathered over a batch of messages: a scrolling terminal damages
/// the same area with a COPY_BITS and then again with each draw inside it.
/// A rectangle inside another one of the same surface adds nothing and is
/// not emitted; the union of what is emitted is exactly the union of the
/// damage reported.
#[derive(Debug, Default)]
struct PendingDamage {
    rects: Vec<(u32, Rect)>,
}

fn contains(outer: &Rect, inner: &Rect) -> bool {
    outer.left <= inner.left && outer.top <= inner.top && outer.right >= inner.right && outer.bottom >= inner.bottom
}

impl PendingDamage {
    /// Adds `rect`; false when the pending list is full (emit it, then add again).
    fn add(&mut self, surface_id: u32, rect: Rect) -> bool {
        if self.rects.iter().any(|(s, r)| *s == surface_id && contains(r, &rect)) {
            return true;
        }
        self.rects.retain(|(s, r)| !(*s == surface_id && contains(&rect, r)));
        if self.rects.len() >= MAX_PENDING_DAMAGE {
            return false;
        }
        self.rects.push((surface_id, rect));
        true
    }
}

impl DisplayMachine {
    /// The machine of display channel `id`: `decoder` prepares what is
    /// applied to `state` (shared with the embedder).
    pub fn new(id: u8, state: Arc<Mutex<DisplayState>>, decoder: DisplayDecoder, settings: DisplaySettings) -> Self {
        Self {
            id,
            decoder,
            prepared: Prepared::default(),
            clock: ClockWatch::default(),
            state,
            settings,
            dropped_messages: 0,
            reports: false,
            wake_at: None,
            damage: PendingDamage::default(),
            parked: None,
        }
    }

    /// Messages that could not be decoded (dropped, the channel goes on).
    pub fn dropped_messages(&self) -> u64 {
        self.dropped_messages
    }

    /// Queues damage (emitted by [`Self::flush_damage`]) and emits every
    /// other event at once, after the damage queued before it.
    fn emit_all(&mut self, events: Vec<DisplayEvent>, out: &mut Outputs) {
        for event in events {
            match event {
                DisplayEvent::Damage { surface_id, rect } => {
                    if !self.damage.add(surface_id, rect) {
                        self.flush_damage(out);
                        self.damage.add(surface_id, rect);
                    }
                }
                event => {
                    self.flush_damage(out);
                    self.emit(event, out);
                }
            }
        }
    }

    fn flush_damage(&mut self, out: &mut Outputs) {
        for (surface_id, rect) in std::mem::take(&mut self.damage.rects) {
            self.emit(DisplayEvent::Damage { surface_id, rect }, out);
        }
    }

    fn emit(&self, event: DisplayEvent, out: &mut Outputs) {
        if let DisplayEvent::MonitorsConfig(heads) = &event {
            out.event(SessionEvent::Monitors {
                channel_id: self.id,
                heads: heads.clone(),
            });
        }
        out.event(SessionEvent::Display {
            channel_id: self.id,
            event,
        });
    }

    /// Runs the video scheduler: frames due now are decoded (off the lock)
    /// and drawn, late ones dropped; reports for the server are queued.
    fn tick(&mut self, ctx: &Ctx, out: &mut Outputs) {
        if self.clock.jumped(ctx.now, ctx.mm_time) {
            self.decoder.reschedule(ctx.mm_time);
        }
        let mut video = self.decoder.stream_tick(ctx.mm_time);
        if video.needs_state() {
            let events = lock(&self.state).draw_frames(&mut video);
            self.emit_all(events, out);
        }
        self.decoder.recycle_frames(&mut video);
        self.wake_at = video
            .next_wake_ms
            .map(|ms| ctx.now + Duration::from_millis(u64::from(ms)));
        for report in self.decoder.drain_stream_reports() {
            if self.reports {
                out.send(&DisplayClient::StreamReport(report));
            }
        }
    }

    fn key(&self) -> ChannelKey {
        ChannelKey::new(ChannelType::DISPLAY, self.id)
    }

    /// Prepares `msg` (without the state lock), then applies it.
    fn prepare_and_apply(
        &mut self,
        msg: DisplayServer,
        mut prepared: Prepared,
        absent: Absent,
        ctx: &Ctx,
        out: &mut Outputs,
    ) -> Handled {
        if let Some(id) = self.decoder.prepare(&msg, &mut prepared, absent) {
            let generation = self.decoder.glz_window().generation();
            self.parked = Some(Parked {
                msg,
                prepared,
                serials: false,
                generation,
            });
            return Handled::Wait(Wait::GlzImage { id });
        }
        // Video frames already due were sent before this message: draw them
        // first, so a draw that arrives after them (the lossless copy of a
        // stream's last frame, a window over the video) is not painted over
        // by a frame the scheduler had not shown yet.
        if !is_stream_message(&msg) {
            self.tick(ctx, out);
        }
        let events = lock(&self.state).apply(&msg, &mut prepared);
        self.decoder.observe(&events);
        self.decoder.recycle(&mut prepared);
        self.prepared = prepared;
        self.emit_all(events, out);
        self.tick(ctx, out);
        Handled::Done
    }

    fn absent(&self) -> Absent {
        if self.settings.glz_may_wait {
            Absent::Pending
        } else {
            Absent::Missing
        }
    }
}

/// Messages of the video streams themselves (the scheduler runs after them).
fn is_stream_message(m: &DisplayServer) -> bool {
    matches!(
        m,
        DisplayServer::StreamCreate(_)
            | DisplayServer::StreamData(_)
            | DisplayServer::StreamDataSized(_)
            | DisplayServer::StreamClip(_)
            | DisplayServer::StreamActivateReport(_)
            | DisplayServer::StreamDestroy { .. }
            | DisplayServer::StreamDestroyAll
    )
}

/// The `CODEC_*` display capability of a video codec.
fn codec_cap(codec: u8) -> Option<u32> {
    Some(match codec {
        video_codec::MJPEG => caps::CODEC_MJPEG,
        video_codec::VP8 => caps::CODEC_VP8,
        video_codec::H264 => caps::CODEC_H264,
        video_codec::VP9 => caps::CODEC_VP9,
        video_codec::H265 => caps::CODEC_H265,
        _ => return None,
    })
}

fn lock(state: &Mutex<DisplayState>) -> std::sync::MutexGuard<'_, DisplayState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Machine for DisplayMachine {
    fn caps(&self) -> Vec<u32> {
        let mut c = vec![
            caps::MONITORS_CONFIG,
            caps::LZ4_COMPRESSION,
            caps::A8_SURFACE,
            caps::SIZED_STREAM,
            caps::STREAM_REPORT,
            caps::MULTI_CODEC,
        ];
        // Exactly the codecs a decoder exists for (MJPEG always).
        c.extend(self.decoder.video_codecs().into_iter().filter_map(codec_cap));
        c
    }

    fn next_wake(&self) -> Option<Instant> {
        self.wake_at
    }

    fn wake(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.tick(ctx, out);
        self.flush_damage(out);
        Ok(())
    }

    /// A video decoder has frames ready (its wake notified the inbox).
    fn commands(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.wake(ctx, out)
    }

    fn after_batch(&mut self, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.flush_damage(out);
        Ok(())
    }

    fn migrated(&mut self, link: &Linked, seamless: bool, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        if seamless {
            return Ok(());
        }
        // Semi-seamless: the destination starts from scratch.
        self.decoder.forget_server();
        self.linked(link, ctx, out)
    }

    fn linked(&mut self, linked: &Linked, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.reports = linked.server_caps.channel.has(caps::STREAM_REPORT);
        // Sizes travel in pixels; both caches are the same for every display
        // channel of the session (ids 1), as in spice-gtk.
        let s = &self.settings;
        out.send(&DisplayClient::Init(DisplayInit {
            pixmap_cache_id: 1,
            pixmap_cache_size: i64::try_from(s.image_cache_bytes / 4).unwrap_or(i64::MAX),
            glz_dictionary_id: 1,
            glz_dictionary_window_size: i32::try_from(s.glz_window_bytes / 4).unwrap_or(i32::MAX),
        }));
        if let Some(c) = s.preferred_compression
            && linked.server_caps.channel.has(caps::PREF_COMPRESSION)
        {
            out.send(&DisplayClient::PreferredCompression { image_compression: c });
        }
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let msg = match DisplayServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed draw drops that draw only; the channel goes on.
                self.dropped_messages = self.dropped_messages.saturating_add(1);
                tracing::warn!(channel = %self.key(), msg_type, error = %e, "undecodable display message dropped");
                return Ok(Handled::Done);
            }
        };
        let unknown = matches!(msg, DisplayServer::Unknown { .. });
        // INVAL_ALL_PIXMAPS: the cache is shared with what other channels drew,
        // so wait (bounded) until they have processed the listed messages.
        if let DisplayServer::InvalAllPixmaps(list) = &msg
            && !list.is_empty()
        {
            let list = list.clone();
            self.parked = Some(Parked {
                msg,
                prepared: Prepared::default(),
                serials: true,
                generation: 0,
            });
            return Ok(Handled::Wait(Wait::Serials(list)));
        }
        let absent = self.absent();
        let prepared = std::mem::take(&mut self.prepared);
        Ok(match self.prepare_and_apply(msg, prepared, absent, ctx, out) {
            Handled::Done if unknown => Handled::Skipped,
            h => h,
        })
    }

    fn resume(&mut self, end: WaitEnd, ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let Some(parked) = self.parked.take() else {
            return Err(ChannelError::NothingToResume);
        };
        let absent = if parked.serials {
            if end == WaitEnd::TimedOut {
                tracing::warn!(channel = %self.key(), "INVAL_ALL_PIXMAPS wait timed out; clearing anyway");
            }
            self.absent()
        } else if end == WaitEnd::TimedOut || self.decoder.glz_window().generation() != parked.generation {
            // Nobody brought the image in time (or the window was cleared): it is missing.
            Absent::Missing
        } else {
            Absent::Pending
        };
        Ok(self.prepare_and_apply(parked.msg, parked.prepared, absent, ctx, out))
    }
}

#[cfg(test)]
#[path = "tests/display.rs"]
mod machine_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn r(l: i32, t: i32, rt: i32, b: i32) -> Rect {
        Rect::ltrb(l, t, rt, b)
    }

    #[test]
    fn damage_inside_pending_damage_is_dropped_and_outer_damage_replaces_inner() {
        let mut d = PendingDamage::default();
        assert!(d.add(0, r(10, 10, 20, 20)));
        // Inside: nothing new.
        assert!(d.add(0, r(12, 12, 18, 18)));
        // Same rectangle on another surface is kept.
        assert!(d.add(1, r(12, 12, 18, 18)));
        assert_eq!(d.rects, vec![(0, r(10, 10, 20, 20)), (1, r(12, 12, 18, 18))]);
        // An enclosing rectangle replaces what it contains.
        assert!(d.add(0, r(0, 0, 100, 100)));
        assert_eq!(d.rects, vec![(1, r(12, 12, 18, 18)), (0, r(0, 0, 100, 100))]);
        // Overlapping but not contained: both kept (their union is exact).
        assert!(d.add(0, r(90, 90, 120, 120)));
        assert_eq!(d.rects.len(), 3);
    }

    #[test]
    fn the_clock_watch_sees_jumps_not_drift() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut w = ClockWatch::default();
        assert!(!w.jumped(t0, 0), "unset");
        assert!(!w.jumped(t0, 1000), "first look");
        assert!(!w.jumped(at(100), 1100));
        assert!(!w.jumped(at(200), 1201), "1 ms of rounding");
        assert!(w.jumped(at(300), 1200), "back");
        assert!(!w.jumped(at(400), 1300));
        assert!(!w.jumped(at(500), 1900), "ahead by 500");
        assert!(w.jumped(at(600), 2501), "ahead by 501");
        // Wrapping with the clock is no jump.
        assert!(!w.jumped(at(700), 2601));
        let mut w = ClockWatch::default();
        assert!(!w.jumped(t0, u32::MAX - 10));
        assert!(!w.jumped(at(20), 9));
    }

    #[test]
    fn a_full_pending_list_asks_for_a_flush() {
        let mut d = PendingDamage::default();
        for i in 0..MAX_PENDING_DAMAGE {
            let x = i32::try_from(i).unwrap() * 10;
            assert!(d.add(0, r(x, 0, x + 5, 5)));
        }
        assert!(!d.add(0, r(1000, 0, 1005, 5)));
        // Still fine for damage already covered.
        assert!(d.add(0, r(0, 0, 5, 5)));
    }
}
