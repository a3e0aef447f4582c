//! The base messages every channel shares (numbers 1–100): SET_ACK and the
//! ACK window, PING/PONG, NOTIFY, DISCONNECTING, WAIT_FOR_CHANNELS.

use super::{ChannelKey, Output, Outputs, Wait};
use crate::client::events::SessionEvent;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::DecodeError;

/// The ACK window of one channel.
#[derive(Debug, Default)]
pub struct BaseState {
    ack_window: u32,
    ack_count: u32,
}

fn send(out: &mut Outputs, m: &ClientBase) {
    let mut w = WriteCursor::new();
    m.encode_body(&mut w);
    out.push(Output::Send {
        msg_type: m.msg_type(),
        body: w.into_inner(),
    });
}

impl BaseState {
    /// Handles one base message; `Some(wait)` when the channel must hold
    /// its next messages until other channels caught up.
    pub fn handle(&mut self, channel: ChannelKey, m: ServerBase, out: &mut Outputs) -> Option<Wait> {
        match m {
            ServerBase::SetAck { generation, window } => {
                self.ack_window = window;
                self.ack_count = 0;
                send(out, &ClientBase::AckSync { generation });
            }
            ServerBase::Ping { id, timestamp, .. } => send(out, &ClientBase::Pong { id, timestamp }),
            ServerBase::Notify { severity, message, .. } => {
                let text = String::from_utf8_lossy(&message).into_owned();
                tracing::info!(%channel, severity, message = %text, "server notification");
                out.event(SessionEvent::Notify {
                    severity,
                    message: text,
                });
            }
            ServerBase::Disconnecting { reason, .. } => {
                tracing::info!(%channel, reason, "server is disconnecting");
                out.stop();
            }
            // Hold this channel until the listed channels have processed the
            // listed messages (GLZ references across display channels); the
            // runtime bounds the wait.
            ServerBase::WaitForChannels(list) => return Some(Wait::Serials(list)),
            ServerBase::Migrate { .. } | ServerBase::MigrateData(_) => {
                tracing::warn!(%channel, "migration is not supported yet; ignoring");
            }
            ServerBase::List => {}
        }
        None
    }

    /// PING `{u32 id, u64 timestamp, data}` → PONG, without touching `data`.
    pub fn ping(&mut self, body: &[u8], out: &mut Outputs) -> Result<(), DecodeError> {
        let mut r = ReadCursor::new(body);
        let id = r.read_u32("ping id")?;
        let timestamp = r.read_u64("ping timestamp")?;
        send(out, &ClientBase::Pong { id, timestamp });
        Ok(())
    }

    /// Counts one received message; queues an ACK when the window is full.
    pub fn count(&mut self, out: &mut Outputs) {
        if self.ack_window == 0 {
            return;
        }
        self.ack_count = self.ack_count.saturating_add(1);
        if self.ack_count >= self.ack_window {
            self.ack_count = 0;
            send(out, &ClientBase::Ack);
        }
    }
}
