//! The cursor channel's thread loop body: decode, apply to the channel's
//! [`CursorState`] (shape decoding and cache, in [`crate::cursor`]), publish
//! [`SessionEvent::Cursor`]. Shapes travel as `Arc`s: an event never copies
//! pixels.

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::red_channel::{ChannelHandler, Outbox};
use super::session::Shared;
use crate::cursor::{CacheLimits, CursorState};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::channel::cursor::CursorServer;
use std::sync::Arc;

pub(crate) struct CursorHandler {
    id: u8,
    state: CursorState,
    shared: Arc<Shared>,
    dropped_messages: u64,
}

impl CursorHandler {
    pub(crate) fn new(id: u8, shared: Arc<Shared>) -> Self {
        Self {
            id,
            state: CursorState::new(CacheLimits::default()),
            shared,
            dropped_messages: 0,
        }
    }

    fn key(&self) -> ChannelKey {
        ChannelKey {
            channel_type: ChannelType::CURSOR,
            id: self.id,
        }
    }
}

impl ChannelHandler for CursorHandler {
    fn on_message(&mut self, msg_type: u16, body: &[u8], _out: &mut Outbox) -> Result<bool, ClientError> {
        let msg = match CursorServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed shape costs that message only; the channel goes on.
                self.dropped_messages = self.dropped_messages.saturating_add(1);
                tracing::warn!(channel = %self.key(), msg_type, error = %e, "undecodable cursor message dropped");
                return Ok(true);
            }
        };
        for event in self.state.handle(&msg) {
            tracing::trace!(channel = %self.key(), ?event, "cursor");
            self.shared.emit(SessionEvent::Cursor {
                channel_id: self.id,
                event,
            });
        }
        Ok(!matches!(msg, CursorServer::Unknown { .. }))
    }
}
