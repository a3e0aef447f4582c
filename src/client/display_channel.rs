//! The display channel's thread loop body: decode, apply to the shared
//! [`DisplayState`], publish what changed. The pixel work lives in
//! [`crate::display`]; this file stays thin.

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::red_channel::{ChannelHandler, Outbox};
use super::session::Shared;
use crate::connector::client::Linked;
use crate::display::{DisplayEvent, DisplayState, GlzPredecoder};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::caps::display as caps;
use crate::proto::channel::display::{DisplayClient, DisplayInit, DisplayServer};
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
        }
    }

    fn emit_all(&self, events: Vec<DisplayEvent>) {
        for event in events {
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
        Ok(())
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
