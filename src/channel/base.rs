//! The base messages every channel shares (numbers 1–100): SET_ACK and the
//! ACK window, PING/PONG, NOTIFY, DISCONNECTING, WAIT_FOR_CHANNELS, and the
//! seamless-migration pair MIGRATE / MIGRATE_DATA.

use super::migration::{Migration, SeamlessAction, SeamlessStep};
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
    seamless: SeamlessStep,
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
            ServerBase::Migrate { flags } => {
                tracing::info!(%channel, flags, "migrating to the destination");
                for a in self.seamless.migrate(flags) {
                    self.seamless_action(a, out);
                }
            }
            ServerBase::MigrateData(data) => match self.seamless.data(data) {
                Some(a) => self.seamless_action(a, out),
                None => tracing::warn!(%channel, "MIGRATE_DATA without MIGRATE; ignored"),
            },
            ServerBase::List => {}
        }
        None
    }

    fn seamless_action(&mut self, a: SeamlessAction, out: &mut Outputs) {
        match a {
            SeamlessAction::FlushMark => send(out, &ClientBase::MigrateFlushMark),
            SeamlessAction::AwaitData => {}
            SeamlessAction::Switch(data) => out.push(Output::Migration(Migration::SwitchChannel { data })),
        }
    }

    /// A message other than MIGRATE_DATA arrived: if MIGRATE_DATA was due,
    /// the migration of this channel is abandoned (as spice-gtk does).
    pub fn not_migrate_data(&mut self, channel: ChannelKey, msg_type: u16) {
        if self.seamless.abandon() {
            tracing::warn!(%channel, msg_type, "expected MIGRATE_DATA; this channel stays on the source");
        }
    }

    /// The channel moved to another stream: the ACK window starts over.
    pub fn relinked(&mut self) {
        *self = Self::default();
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
