//! The record channel: its source comes from the embedder's audio back-end;
//! the device is opened only while the server asks and the user allows it.

use std::sync::Arc;

use crate::channel::record::{RecordMachine, RecordSettings};
use crate::client::audio::AudioDirection;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct RecordFactory;

impl ChannelFactory for RecordFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::RECORD
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        if key.id != 0 {
            return None;
        }
        let source = session.options.media.audio.as_ref().and_then(|b| {
            let s = b.open_source();
            if s.is_none() {
                tracing::warn!("no audio input device: the guest records silence");
            }
            s
        });
        let settings = RecordSettings {
            opus: session.options.opus,
        };
        Some(Built {
            machine: Box::new(RecordMachine::new(source, Arc::clone(&session.audio), settings)),
            inbox: Some(session.audio.notify(AudioDirection::Record)),
        })
    }
}
