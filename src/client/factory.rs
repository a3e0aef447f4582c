//! The channel factory (spicec's `ChannelFactory`): one [`ChannelFactory`] per
//! channel type, registered in [`FACTORIES`]. Adding a channel type is a
//! machine in `crate::channel`, a factory in `client/channels/`, and one
//! line here.

use std::sync::Arc;

use super::channels;
use super::session::Session;
use crate::channel::Machine;
use crate::channel::skip::SkipMachine;
use crate::proto::{ChannelKey, ChannelType};

/// What the main channel knew when it asked for a channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpawnHint {
    /// How many display channels the server listed.
    pub(crate) display_channels: usize,
}

/// A channel ready to run: its machine and, when the embedder can send it
/// commands, the notification that wakes its thread.
pub(crate) struct Built {
    pub(crate) machine: Box<dyn Machine>,
    pub(crate) inbox: Option<Arc<tokio::sync::Notify>>,
}

/// Builds the machine of one channel type from the parts of the session it needs.
pub(crate) trait ChannelFactory: Sync {
    fn channel_type(&self) -> ChannelType;
    /// `None`: this factory does not take that channel (e.g. a second inputs channel).
    fn build(&self, session: &Session, key: ChannelKey, hint: SpawnHint) -> Option<Built>;
}

/// Every channel type Sumac implements. The others are linked with a machine
/// that counts and skips their messages.
static FACTORIES: &[&dyn ChannelFactory] = &[
    &channels::main::MainFactory,
    &channels::display::DisplayFactory,
    &channels::inputs::InputsFactory,
    &channels::cursor::CursorFactory,
    &channels::usbredir::UsbredirFactory,
    // Only when USB redirection is off (`UsbOptions::enabled`): the raw stream.
    &channels::vmc::VmcFactory(ChannelType::USBREDIR),
    &channels::vmc::VmcFactory(ChannelType::PORT),
    #[cfg(feature = "webdav")]
    &channels::webdav::WebdavFactory,
    &channels::vmc::VmcFactory(ChannelType::WEBDAV),
    #[cfg(feature = "smartcard")]
    &channels::smartcard::SmartcardFactory,
    &channels::playback::PlaybackFactory,
    &channels::record::RecordFactory,
];

/// The machine for `key`.
pub(crate) fn build(session: &Session, key: ChannelKey, hint: SpawnHint) -> Built {
    FACTORIES
        .iter()
        .filter(|f| f.channel_type() == key.channel_type)
        .find_map(|f| f.build(session, key, hint))
        .unwrap_or_else(|| Built {
            machine: Box::new(SkipMachine),
            inbox: None,
        })
}
