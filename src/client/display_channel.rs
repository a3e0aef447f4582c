//! The display channel's thread loop body: decode, apply to the shared
//! [`DisplayState`], publish what changed. The pixel work lives in
//! [`crate::display`]; this file stays thin.

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::red_channel::{ChannelHandler, Outbox};
use super::session::Shared;
use crate::connector::client::Linked;
use crate::display::{DisplayEvent, DisplayState};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::caps::display as caps;
use crate::proto::channel::display::{DisplayClient, DisplayInit, DisplayServer};
use std::sync::{Arc, Mutex};

/// Image cache size announced in DISPLAY_INIT, in pixels. Zero until the image
/// cache lands (display pipeline issue): the server then never sends
/// FROM_CACHE references we could not resolve.
const PIXMAP_CACHE_PIXELS: i64 = 0;
/// GLZ dictionary window announced, in pixels (spice-gtk's minimum, 12 MiB / 4).
const GLZ_WINDOW_PIXELS: i32 = 12 * 1024 * 1024 / 4;

pub(crate) struct DisplayHandler {
    id: u8,
    state: Arc<Mutex<DisplayState>>,
    shared: Arc<Shared>,
    dropped_messages: u64,
}

impl DisplayHandler {
    pub(crate) fn new(id: u8, state: Arc<Mutex<DisplayState>>, shared: Arc<Shared>) -> Self {
        Self {
            id,
            state,
            shared,
            dropped_messages: 0,
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
        // Only what the canvas handles today; more arrive with the pipeline.
        vec![caps::MONITORS_CONFIG]
    }

    fn on_linked(&mut self, linked: &Linked, out: &mut Outbox) -> Result<(), ClientError> {
        out.send(&DisplayClient::Init(DisplayInit {
            pixmap_cache_id: 1,
            pixmap_cache_size: PIXMAP_CACHE_PIXELS,
            glz_dictionary_id: 1,
            glz_dictionary_window_size: GLZ_WINDOW_PIXELS,
        }));
        if let Some(c) = self.shared.options.preferred_compression
            && linked.server_caps.channel.has(caps::PREF_COMPRESSION)
        {
            out.send(&DisplayClient::PreferredCompression { image_compression: c });
        }
        Ok(())
    }

    fn on_message(&mut self, msg_type: u16, body: &[u8], _out: &mut Outbox) -> Result<bool, ClientError> {
        let msg = match DisplayServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed draw drops that draw only; the channel goes on.
                self.dropped_messages = self.dropped_messages.saturating_add(1);
                tracing::warn!(channel = %self.key(), msg_type, error = %e, "undecodable display message dropped");
                return Ok(true);
            }
        };
        let events = {
            let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.handle(&msg)
        };
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
        Ok(!matches!(msg, DisplayServer::Unknown { .. }))
    }
}
