//! The cursor channel: decode, apply to the channel's [`CursorState`]
//! (shape decoding and cache, in [`crate::cursor`]), publish
//! [`SessionEvent::Cursor`]. Shapes travel as `Arc`s: an event never copies
//! pixels.

use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Outputs};
use crate::client::events::SessionEvent;
use crate::cursor::{CacheLimits, CursorState};
use crate::proto::ChannelType;
use crate::proto::Message;
use crate::proto::channel::cursor::CursorServer;

/// The cursor channel's state.
pub struct CursorMachine {
    id: u8,
    state: CursorState,
    dropped_messages: u64,
}

impl CursorMachine {
    pub fn new(id: u8) -> Self {
        Self {
            id,
            state: CursorState::new(CacheLimits::default()),
            dropped_messages: 0,
        }
    }

    /// Counts the cursor cache against the session's memory `budget`.
    pub fn with_budget(mut self, budget: &std::sync::Arc<crate::budget::MemoryBudget>) -> Self {
        self.state.attach_budget(budget);
        self
    }

    fn key(&self) -> ChannelKey {
        ChannelKey::new(ChannelType::CURSOR, self.id)
    }

    /// Messages that could not be decoded (dropped, the channel goes on).
    pub fn dropped_messages(&self) -> u64 {
        self.dropped_messages
    }
}

impl Machine for CursorMachine {
    fn message(&mut self, msg_type: u16, body: &[u8], _ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let msg = match CursorServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed shape costs that message only; the channel goes on.
                self.dropped_messages = self.dropped_messages.saturating_add(1);
                tracing::warn!(channel = %self.key(), msg_type, error = %e, "undecodable cursor message dropped");
                return Ok(Handled::Done);
            }
        };
        for event in self.state.handle(&msg) {
            tracing::trace!(channel = %self.key(), ?event, "cursor");
            out.event(SessionEvent::Cursor {
                channel_id: self.id,
                event,
            });
        }
        Ok(if matches!(msg, CursorServer::Unknown { .. }) {
            Handled::Skipped
        } else {
            Handled::Done
        })
    }
}

#[cfg(test)]
#[path = "tests/cursor.rs"]
mod tests;
