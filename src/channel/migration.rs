//! Migration as the machines decide it (sans-IO); the runtime
//! (`client/runtime/migrate.rs`) executes the steps.
//!
//! * **Semi-seamless** (MIGRATE_BEGIN): the main machine asks the runtime to
//!   link every channel of the session to the destination with the source's
//!   session id ([`Migration::Connect`]), and answers the source with
//!   MIGRATE_CONNECTED or MIGRATE_CONNECT_ERROR when the runtime reports back
//!   ([`MigrationEvent`]). On the source's MIGRATE_END the main channel moves
//!   to the destination ([`Migration::SwitchMain`]: the other channels stop
//!   reading the source, the caches are cleared) and sends MIGRATE_END there;
//!   on the destination's MAIN_INIT the other channels move too
//!   ([`Migration::SwitchChildren`]) and start over (DISPLAY_INIT...).
//! * **Seamless** (MIGRATE_BEGIN_SEAMLESS): the same connect phase, with
//!   MIGRATE_DST_DO_SEAMLESS on the destination's main channel first
//!   ([`dst_do_seamless`], [`dst_seamless_reply`]); the source is answered
//!   with MIGRATE_CONNECTED_SEAMLESS when the destination acknowledged. Then
//!   each channel moves by itself when the source sends it the base MIGRATE
//!   message ([`SeamlessStep`], in the driver's base state): FLUSH_MARK when
//!   asked, the next message must be MIGRATE_DATA, and that blob goes to the
//!   destination before anything else ([`Migration::SwitchChannel`]).
//!   Nothing is reset: the destination continues where the source stopped.
//! * **Switch-host** (MIGRATE_SWITCH_HOST): the session relinks everything to
//!   the new host, as a new connection ([`Migration::SwitchHost`]).
//! * **Cancel** (MIGRATE_CANCEL, or a failed connect): the destination's
//!   links are dropped ([`Migration::Abort`]).

use crate::proto::base::ClientBase;
use crate::proto::channel::main::{MainClient, MigrationDst, msg as main_msg};
use crate::proto::{Message, WriteCursor};

/// `SPICE_MIGRATE_NEED_FLUSH`: send MIGRATE_FLUSH_MARK before the data.
pub const NEED_FLUSH: u32 = 1;
/// `SPICE_MIGRATE_NEED_DATA_TRANSFER`: the next message is MIGRATE_DATA.
pub const NEED_DATA_TRANSFER: u32 = 2;

/// Where the session goes, as the server described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationTarget {
    pub host: String,
    pub port: Option<u16>,
    pub tls_port: Option<u16>,
    /// Verify the destination's certificate by this subject (else by host name).
    pub cert_subject: Option<String>,
}

impl From<&MigrationDst> for MigrationTarget {
    fn from(d: &MigrationDst) -> Self {
        Self {
            host: d.host_text(),
            port: d.plain_port(),
            tls_port: d.tls_port(),
            cert_subject: d.subject_text(),
        }
    }
}

/// One migration step for the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migration {
    /// Link every channel of the session to `target` with this session's
    /// id; `seamless`: the source's migration protocol version, to offer the
    /// destination first. Report with [`MigrationEvent`].
    Connect {
        target: MigrationTarget,
        seamless: Option<u32>,
        /// The source's session id: the destination's links carry it.
        session_id: u32,
    },
    /// Forget the destination's links (cancelled, or the connect failed).
    Abort,
    /// Semi-seamless MIGRATE_END: freeze the other channels, clear the
    /// caches and move this (main) channel to the destination, fresh. The
    /// messages queued after this go to the destination.
    SwitchMain,
    /// The destination's MAIN_INIT after [`Migration::SwitchMain`]: move the
    /// other channels, fresh.
    SwitchChildren,
    /// Seamless: move this channel to the destination now, keeping its
    /// state; `data` (the source's MIGRATE_DATA) is sent there first.
    SwitchChannel { data: Option<Vec<u8>> },
    /// Relink the whole session to `target` as a new connection.
    SwitchHost(MigrationTarget),
}

impl Migration {
    /// Whether the channel's stream changes with this step (the driver
    /// forgets the source's ACK window then).
    pub fn switches_stream(&self) -> bool {
        matches!(self, Self::SwitchMain | Self::SwitchChannel { .. })
    }
}

/// What the runtime reports to the main machine after [`Migration::Connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationEvent {
    /// Every channel is linked to the destination; `seamless`: the
    /// destination acknowledged MIGRATE_DST_DO_SEAMLESS.
    Connected { seamless: bool },
    /// A channel could not be linked.
    Failed,
}

/// MIGRATE_DST_DO_SEAMLESS for the destination's main channel: `(type, body)`.
pub fn dst_do_seamless(src_version: u32) -> (u16, Vec<u8>) {
    let m = MainClient::MigrateDstDoSeamless { src_version };
    (m.msg_type(), m.to_body())
}

/// The destination's answer to MIGRATE_DST_DO_SEAMLESS: `Some(true)` for
/// ACK, `Some(false)` for NACK, `None` for any other message.
pub fn dst_seamless_reply(msg_type: u16) -> Option<bool> {
    match msg_type {
        main_msg::MIGRATE_DST_SEAMLESS_ACK => Some(true),
        main_msg::MIGRATE_DST_SEAMLESS_NACK => Some(false),
        _ => None,
    }
}

/// The body of the client's MIGRATE_DATA (base message 5) carrying `data`.
pub fn client_migrate_data(data: &[u8]) -> (u16, Vec<u8>) {
    let m = ClientBase::MigrateData(data.to_vec());
    let mut w = WriteCursor::new();
    m.encode_body(&mut w);
    (m.msg_type(), w.into_inner())
}

/// A channel's side of the base MIGRATE message (seamless migration).
#[derive(Debug, Default)]
pub struct SeamlessStep {
    /// MIGRATE said NEED_DATA_TRANSFER: the next message must be MIGRATE_DATA.
    awaiting_data: bool,
}

/// What the driver does after a base migration message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeamlessAction {
    /// Send MIGRATE_FLUSH_MARK now (before the data comes).
    FlushMark,
    /// Wait for MIGRATE_DATA.
    AwaitData,
    /// Move to the destination (with the data to hand over, if any).
    Switch(Option<Vec<u8>>),
}

impl SeamlessStep {
    /// The base MIGRATE `{flags}` arrived.
    pub fn migrate(&mut self, flags: u32) -> Vec<SeamlessAction> {
        let mut actions = Vec::new();
        if flags & NEED_FLUSH != 0 {
            actions.push(SeamlessAction::FlushMark);
        }
        if flags & NEED_DATA_TRANSFER != 0 {
            self.awaiting_data = true;
            actions.push(SeamlessAction::AwaitData);
        } else {
            actions.push(SeamlessAction::Switch(None));
        }
        actions
    }

    /// A base MIGRATE_DATA arrived; `None` if nothing asked for it.
    pub fn data(&mut self, data: Vec<u8>) -> Option<SeamlessAction> {
        std::mem::take(&mut self.awaiting_data).then_some(SeamlessAction::Switch(Some(data)))
    }

    /// Another message arrived while MIGRATE_DATA was due: the channel does
    /// not move (spice-gtk logs the protocol error and stays). True if it was due.
    pub fn abandon(&mut self) -> bool {
        std::mem::take(&mut self.awaiting_data)
    }

    pub fn is_awaiting_data(&self) -> bool {
        self.awaiting_data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seamless_steps_follow_the_flags() {
        let mut s = SeamlessStep::default();
        assert_eq!(s.migrate(0), [SeamlessAction::Switch(None)]);
        assert_eq!(
            s.migrate(NEED_FLUSH | NEED_DATA_TRANSFER),
            [SeamlessAction::FlushMark, SeamlessAction::AwaitData]
        );
        assert!(s.is_awaiting_data());
        assert_eq!(s.data(vec![1, 2]), Some(SeamlessAction::Switch(Some(vec![1, 2]))));
        // Unasked data is ignored.
        assert_eq!(s.data(vec![3]), None);
        assert_eq!(s.migrate(NEED_DATA_TRANSFER), [SeamlessAction::AwaitData]);
        assert!(s.abandon());
        assert!(!s.abandon());
        assert_eq!(s.data(vec![4]), None);
    }

    #[test]
    fn target_from_dst_info() {
        let d = MigrationDst {
            port: 0xffff,
            sport: 5931,
            host: b"dst.example".to_vec(),
            cert_subject: Some(b"CN=dst.example".to_vec()),
        };
        let t = MigrationTarget::from(&d);
        assert_eq!(t.host, "dst.example");
        assert_eq!((t.port, t.tls_port), (None, Some(5931)));
        assert_eq!(t.cert_subject.as_deref(), Some("CN=dst.example"));
        assert_eq!(dst_seamless_reply(117), Some(true));
        assert_eq!(dst_seamless_reply(118), Some(false));
        assert_eq!(dst_seamless_reply(103), None);
        let (ty, body) = dst_do_seamless(2);
        assert_eq!((ty, body), (110, vec![2, 0, 0, 0]));
        assert_eq!(client_migrate_data(&[9]).0, 5);
    }
}
