//! The inputs channel: fed by the embedder's [`InputsHandle`](crate::client::inputs::InputsHandle).

use std::sync::Arc;

use crate::channel::inputs::InputsMachine;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct InputsFactory;

impl ChannelFactory for InputsFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::INPUTS
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        // One keyboard and mouse: a second inputs channel is not used.
        (key.id == 0).then(|| Built {
            machine: Box::new(InputsMachine::new(key.id, Arc::clone(&session.inputs))),
            inbox: Some(session.inputs.notify()),
        })
    }
}
