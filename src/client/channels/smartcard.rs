//! The smartcard channel when smartcards are enabled
//! ([`SessionOptions::smartcard`] and the `smartcard` feature): libcacard
//! ([`crate::client::smartcard`]) behind the
//! [`SmartcardMachine`](crate::channel::smartcard::SmartcardMachine). If the
//! emulator cannot start (no NSS database, unknown certificates) the channel
//! is linked with the skipping machine, as without the option.
//!
//! [`SessionOptions::smartcard`]: crate::client::SessionOptions::smartcard

use std::sync::Arc;

use crate::channel::smartcard::SmartcardMachine;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::client::smartcard::{CacardBackend, init};
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct SmartcardFactory;

impl ChannelFactory for SmartcardFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::SMARTCARD
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        let config = session.options.smartcard.as_ref()?;
        if let Err(e) = init(config) {
            tracing::warn!(channel = %key, error = %e, "smartcard emulation unavailable");
            return None;
        }
        let inbox = Arc::new(tokio::sync::Notify::new());
        Some(Built {
            machine: Box::new(SmartcardMachine::new(Box::new(CacardBackend::new(Arc::clone(&inbox))))),
            inbox: Some(inbox),
        })
    }
}
