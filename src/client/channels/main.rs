//! The main channel: settings, the inputs state (mouse mode) and the agent inbox.

use std::sync::Arc;

use crate::channel::main::{MainMachine, MainSettings};
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct MainFactory;

impl ChannelFactory for MainFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::MAIN
    }

    fn build(&self, session: &Session, _key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        let settings = MainSettings {
            mouse_mode: session.target().config.mouse_mode,
            disabled_channels: session.options.disabled_channels.clone(),
            semi_seamless_migration: session.options.migration.semi_seamless,
            seamless_migration: session.options.migration.seamless,
            agent: session.options.agent,
        };
        Some(Built {
            machine: Box::new(MainMachine::new(
                settings,
                Arc::clone(&session.inputs),
                Arc::clone(&session.agent),
            )),
            inbox: Some(session.agent.notify()),
        })
    }
}
