//! usbredir channels: a [`UsbEndpoint`](crate::client::usb::UsbEndpoint)
//! registered with the session's USB manager, which gives it devices.

use crate::channel::vmc::VmcMachine;
use crate::client::config::Endpoint;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::client::usb::{UsbEndpoint, channel_caps};
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct UsbredirFactory;

impl ChannelFactory for UsbredirFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::USBREDIR
    }

    /// `None` when USB redirection is off: the channel then gets the plain
    /// [`VmcStream`](crate::client::VmcStream) endpoint (`SessionHandle::vmc_stream`).
    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        if !session.options.usb.enabled {
            return None;
        }
        let slot = session.usb.add_channel(key);
        // spice-gtk does not compress over a Unix socket.
        let compress = !matches!(
            session.target().config.endpoint_for(key.channel_type),
            Ok(Endpoint::Unix(_))
        );
        let endpoint = UsbEndpoint::new(
            std::sync::Arc::clone(&slot),
            std::sync::Arc::clone(&session.usb),
            channel_caps(),
        );
        Some(Built {
            inbox: Some(std::sync::Arc::clone(&slot.notify)),
            machine: Box::new(VmcMachine::new(key, Box::new(endpoint), compress)),
        })
    }
}
