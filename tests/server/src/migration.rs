//! Migration as the test server plays it, on both ends.
//!
//! **Source** ([`TestServer::migrate`](crate::TestServer::migrate)): the
//! main channel sends MIGRATE_BEGIN (or MIGRATE_BEGIN_SEAMLESS when the
//! client offers it, or MIGRATE_SWITCH_HOST) naming the destination, waits
//! for the client's answer, then finishes as spice-server does: semi-seamless
//! MIGRATE_END on the main channel; seamless, the base MIGRATE message on
//! every channel (flags as spice-server's: the display channel asks for a
//! flush mark and data, main and inputs for data, cursor for nothing), the
//! channel's MIGRATE_DATA blob after the client's flush mark; or
//! MIGRATE_CANCEL.
//!
//! **Destination** (a server started with the source's session id,
//! [`ServerConfig::session_id`](crate::ServerConfig::session_id)): a main
//! link that carries that id is a migration target. It answers
//! MIGRATE_DST_DO_SEAMLESS (ACK, or NACK with
//! [`ServerConfig::refuse_seamless`](crate::ServerConfig::refuse_seamless))
//! and then runs without MAIN_INIT (seamless), or waits for the client's
//! MIGRATE_END and then sends MAIN_INIT (semi-seamless). Its display channel
//! waits for the client's DISPLAY_INIT (semi-seamless) or MIGRATE_DATA
//! (seamless: it then draws its scene on the surfaces the client kept).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sumac::channel::migration::{NEED_DATA_TRANSFER, NEED_FLUSH};
use sumac::proto::ChannelType;
use sumac::proto::channel::main::MigrationDst;

/// How the source moves the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationMode {
    /// MIGRATE_BEGIN (MIGRATE_BEGIN_SEAMLESS when the client offers
    /// seamless migration), as spice-server.
    Auto,
    /// MIGRATE_BEGIN even to a client that offers seamless migration.
    SemiSeamless,
    /// MIGRATE_SWITCH_HOST at once.
    SwitchHost,
}

/// How the source ends a migration once the client answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationFinish {
    /// MIGRATE_END (semi-seamless) or MIGRATE on every channel (seamless).
    Complete,
    /// MIGRATE_CANCEL.
    Cancel,
}

/// A migration the source plays.
#[derive(Debug, Clone)]
pub struct MigrationOrder {
    pub mode: MigrationMode,
    pub finish: MigrationFinish,
    pub dst: MigrationDst,
}

/// The MIGRATE_DATA blob the source hands the client for a channel.
pub fn migrate_data_blob(channel: (ChannelType, u8)) -> Vec<u8> {
    format!("sumac-test-migrate-data:{}:{}", channel.0.0, channel.1).into_bytes()
}

/// spice-server's migration flags of a channel type.
pub(crate) fn migrate_flags(t: ChannelType) -> u32 {
    match t {
        ChannelType::DISPLAY => NEED_FLUSH | NEED_DATA_TRANSFER,
        ChannelType::MAIN | ChannelType::INPUTS => NEED_DATA_TRANSFER,
        _ => 0,
    }
}

/// A destination's view of the session it takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetMode {
    SemiSeamless,
    Seamless,
}

/// Migration state of one server.
#[derive(Debug, Default)]
pub(crate) struct MigrationState {
    /// (source) An order not started yet.
    pub(crate) order: Mutex<Option<MigrationOrder>>,
    /// (source, seamless) Every channel sends MIGRATE now.
    pub(crate) seamless_go: AtomicBool,
    /// (destination) What the main channel's migration link turned out to be.
    pub(crate) target: Mutex<Option<TargetMode>>,
}

impl MigrationState {
    pub(crate) fn seamless_go(&self) -> bool {
        self.seamless_go.load(Ordering::SeqCst)
    }

    pub(crate) fn target(&self) -> Option<TargetMode> {
        *self.target.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_target(&self, t: TargetMode) {
        *self.target.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(t);
    }

    pub(crate) fn take_order(&self) -> Option<MigrationOrder> {
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Where a channel of the source stands in a seamless migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SeamlessPhase {
    #[default]
    None,
    /// MIGRATE sent; MIGRATE_DATA goes after the client's flush mark.
    AwaitingFlush,
    /// Done: nothing more goes to the client.
    Sent,
}
