//! The playback channel: its sink comes from the embedder's audio back-end
//! ([`Media::audio`](crate::client::media::Media)); without one (or without a
//! device) the channel still runs, decodes and counts, and plays nowhere.

use std::sync::Arc;

use crate::channel::playback::{PlaybackMachine, PlaybackSettings};
use crate::client::audio::AudioDirection;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct PlaybackFactory;

impl ChannelFactory for PlaybackFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::PLAYBACK
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        // One sound output: a second playback channel is not used.
        if key.id != 0 {
            return None;
        }
        let sink = match &session.options.media.audio {
            Some(backend) => {
                let sink = backend.open_sink();
                if sink.is_none() {
                    tracing::warn!("no audio output device: playback is off for this session");
                }
                sink
            }
            None => {
                tracing::info!("no audio back-end given: playback is decoded and counted, not played");
                None
            }
        };
        let settings = PlaybackSettings {
            opus: session.options.opus,
        };
        Some(Built {
            machine: Box::new(PlaybackMachine::new(sink, Arc::clone(&session.audio), settings)),
            inbox: Some(session.audio.notify(AudioDirection::Playback)),
        })
    }
}
