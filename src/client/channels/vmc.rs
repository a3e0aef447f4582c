//! SpiceVMC channels (port, webdav; usbredir when USB redirection is off):
//! the byte stream goes to a [`VmcStream`](crate::client::vmc::VmcStream)
//! the embedder reads and writes.

use std::sync::Arc;

use crate::channel::vmc::VmcMachine;
use crate::client::config::Endpoint;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::{Session, lock};
use crate::client::vmc::{StreamEndpoint, VmcShared};
use crate::proto::{ChannelKey, ChannelType};

/// One factory per VMC channel type.
pub(crate) struct VmcFactory(pub(crate) ChannelType);

impl ChannelFactory for VmcFactory {
    fn channel_type(&self) -> ChannelType {
        self.0
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        let shared = VmcShared::new(key);
        lock(&session.vmc).insert(key, Arc::clone(&shared));
        Some(Built {
            inbox: Some(shared.notify()),
            machine: Box::new(VmcMachine::new(
                key,
                Box::new(StreamEndpoint::new(shared)),
                compression_allowed(session, key),
            )),
        })
    }
}

/// Whether a VMC channel may compress its data: spice-gtk does not over a Unix socket.
pub(crate) fn compression_allowed(session: &Session, key: ChannelKey) -> bool {
    !matches!(
        session.target().config.endpoint_for(key.channel_type),
        Ok(Endpoint::Unix(_))
    )
}
