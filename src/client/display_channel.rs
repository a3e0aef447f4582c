//! The display channel's thread loop body: decode, apply to the shared
//! [`DisplayState`], publish what changed. The pixel work lives in
//! [`crate::display`]; this file stays thin.

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::red_channel::{ChannelHandler, Flow, Outbox};
use super::session::Shared;
use crate::connector::client::Linked;
use crate::display::{DisplayEvent, DisplayState, GlzPredecoder};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::caps::display as caps;
use crate::proto::channel::display::{DisplayClient, DisplayInit, DisplayServer, Rect};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct DisplayHandler {
    id: u8,
    state: Arc<Mutex<DisplayState>>,
    shared: Arc<Shared>,
    dropped_messages: u64,
    /// The server accepts STREAM_REPORT.
    reports: bool,
    /// When the stream scheduler wants to run again.
    wake_at: Option<Instant>,
    /// Decodes GLZ images before `state` is locked: their wait for another
    /// channel's images must not hold the lock the widget draws from.
    glz: GlzPredecoder,
    /// Damage of the messages handled since the last flush, not emitted yet.
    damage: PendingDamage,
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

impl DisplayHandler {
    pub(crate) fn new(id: u8, state: Arc<Mutex<DisplayState>>, shared: Arc<Shared>) -> Self {
        let glz = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .glz_predecoder();
        Self {
            id,
            glz,
            state,
            shared,
            dropped_messages: 0,
            reports: false,
            wake_at: None,
            damage: PendingDamage::default(),
        }
    }

    /// Queues damage (emitted by [`Self::flush_damage`]) and emits every
    /// other event at once, after the damage queued before it.
    fn emit_all(&mut self, events: Vec<DisplayEvent>) {
        for event in events {
            match event {
                DisplayEvent::Damage { surface_id, rect } => {
                    if !self.damage.add(surface_id, rect) {
                        self.flush_damage();
                        self.damage.add(surface_id, rect);
                    }
                }
                event => {
                    self.flush_damage();
                    self.emit(event);
                }
            }
        }
    }

    fn flush_damage(&mut self) {
        for (surface_id, rect) in std::mem::take(&mut self.damage.rects) {
            self.emit(DisplayEvent::Damage { surface_id, rect });
        }
    }

    fn emit(&self, event: DisplayEvent) {
        if let DisplayEvent::MonitorsConfig(heads) = &event {
            self.shared.emit(SessionEvent::Monitors {
                channel_id: self.id,
                heads: heads.clone(),
            });
        }
        self.shared.emit(SessionEvent::Display {
            channel_id: self.id,
            event,
        });
    }

    /// Runs the video scheduler: frames due now are drawn, late ones dropped;
    /// reports for the server are queued.
    fn tick(&mut self, state: &mut DisplayState, events: &mut Vec<DisplayEvent>, out: &mut Outbox) {
        let tick = state.stream_tick(self.shared.mm_now());
        events.extend(tick.events);
        self.wake_at = tick
            .next_wake_ms
            .map(|ms| Instant::now() + Duration::from_millis(u64::from(ms)));
        for report in state.drain_stream_reports() {
            if self.reports {
                out.send(&DisplayClient::StreamReport(report));
            }
        }
    }

    fn key(&self) -> ChannelKey {
        ChannelKey {
            channel_type: ChannelType::DISPLAY,
            id: self.id,
        }
    }
}

impl ChannelHandler for DisplayHandler {
    fn caps(&self) -> Vec<u32> {
        vec![
            caps::MONITORS_CONFIG,
            caps::LZ4_COMPRESSION,
            caps::A8_SURFACE,
            caps::SIZED_STREAM,
            caps::STREAM_REPORT,
            caps::MULTI_CODEC,
            // Only the codecs decoded today (display::stream::SUPPORTED_CODECS).
            caps::CODEC_MJPEG,
        ]
    }

    fn next_wake(&self) -> Option<Duration> {
        self.wake_at.map(|t| t.saturating_duration_since(Instant::now()))
    }

    fn on_wake(&mut self, out: &mut Outbox) -> Result<(), ClientError> {
        let state = Arc::clone(&self.state);
        let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut events = Vec::new();
        self.tick(&mut state, &mut events, out);
        drop(state);
        self.emit_all(events);
        self.flush_damage();
        Ok(())
    }

    fn after_batch(&mut self, _out: &mut Outbox) -> Result<Flow, ClientError> {
        self.flush_damage();
        Ok(Flow::Continue)
    }

    fn on_linked(&mut self, linked: &Linked, out: &mut Outbox) -> Result<(), ClientError> {
        self.reports = linked.server_caps.channel.has(caps::STREAM_REPORT);
        // Sizes travel in pixels; both caches are the same for every display
        // channel of the session (ids 1), as in spice-gtk.
        let opts = &self.shared.options;
        out.send(&DisplayClient::Init(DisplayInit {
            pixmap_cache_id: 1,
            pixmap_cache_size: i64::try_from(opts.image_cache_bytes / 4).unwrap_or(i64::MAX),
            glz_dictionary_id: 1,
            glz_dictionary_window_size: i32::try_from(opts.glz_window_bytes / 4).unwrap_or(i32::MAX),
        }));
        if let Some(c) = self.shared.options.preferred_compression
            && linked.server_caps.channel.has(caps::PREF_COMPRESSION)
        {
            out.send(&DisplayClient::PreferredCompression { image_compression: c });
        }
        Ok(())
    }

    fn on_message(&mut self, msg_type: u16, body: &[u8], out: &mut Outbox) -> Result<bool, ClientError> {
        let msg = match DisplayServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed draw drops that draw only; the channel goes on.
                self.dropped_messages = self.dropped_messages.saturating_add(1);
                tracing::warn!(channel = %self.key(), msg_type, error = %e, "undecodable display message dropped");
                return Ok(true);
            }
        };
        // INVAL_ALL_PIXMAPS: the cache is shared with what other channels drew,
        // so wait (bounded) until they have processed the listed messages.
        if let DisplayServer::InvalAllPixmaps(list) = &msg
            && !self.shared.wait_for_serials(list, std::time::Duration::from_secs(1))
        {
            tracing::warn!(channel = %self.key(), "INVAL_ALL_PIXMAPS wait timed out; clearing anyway");
        }
        // GLZ images first, without the state lock (they may wait for images
        // of another display channel).
        let mut glz = self.glz.decode(&msg);
        let events = {
            let state = Arc::clone(&self.state);
            let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut events = state.handle_predecoded(&msg, &mut glz);
            self.tick(&mut state, &mut events, out);
            events
        };
        self.glz.recycle(glz);
        self.emit_all(events);
        Ok(!matches!(msg, DisplayServer::Unknown { .. }))
    }
}

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
