//! Cursor channels.

use crate::channel::cursor::CursorMachine;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct CursorFactory;

impl ChannelFactory for CursorFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::CURSOR
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        Some(Built {
            machine: Box::new(CursorMachine::new(key.id).with_budget(&session.budget)),
            inbox: None,
        })
    }
}
