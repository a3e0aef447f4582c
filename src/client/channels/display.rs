//! Display channels: a [`DisplayState`] registered for the embedder, and the
//! channel's [`DisplayDecoder`], sharing the session's GLZ window and image
//! cache. With the embedder's video decoders, the channel has an inbox: a
//! decoder with frames ready notifies it. The state of a channel id outlives
//! its link: a relinked channel (reconnect, switch-host) draws into the one
//! the embedder already shows, with a new decoder.

use std::sync::{Arc, Mutex};

use crate::channel::display::{DisplayMachine, DisplaySettings};
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::{Session, lock};
use crate::display::{DisplayDecoder, DisplayState, Limits, VideoWake};
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct DisplayFactory;

impl ChannelFactory for DisplayFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::DISPLAY
    }

    fn build(&self, session: &Session, key: ChannelKey, hint: SpawnHint) -> Option<Built> {
        let opts = &session.options;
        let res = &session.display;
        let limits = Limits {
            image_cache_bytes: opts.image_cache_bytes,
            ..Limits::default()
        };
        let state = Arc::clone(lock(&res.states).entry(key.id).or_insert_with(|| {
            let mut s = DisplayState::with_cache(limits, res.image_cache.clone());
            s.set_budget(&session.budget);
            Arc::new(Mutex::new(s))
        }));
        let video = opts.media.video.clone();
        let inbox = video.as_ref().map(|_| Arc::new(tokio::sync::Notify::new()));
        let wake: VideoWake = match &inbox {
            Some(n) => {
                let n = Arc::clone(n);
                Arc::new(move || n.notify_one())
            }
            None => Arc::new(|| {}),
        };
        let decoder = DisplayDecoder::new(limits, res.image_cache.clone(), Arc::clone(&res.glz))
            .with_video(video, wake)
            .with_budget(Arc::clone(&session.budget));
        let settings = DisplaySettings {
            image_cache_bytes: opts.image_cache_bytes,
            glz_window_bytes: opts.glz_window_bytes,
            preferred_compression: opts.preferred_compression,
            // With one display channel, a GLZ image can only reference images
            // of its own channel: a missing reference is an error at once.
            glz_may_wait: hint.display_channels > 1,
        };
        Some(Built {
            machine: Box::new(DisplayMachine::new(key.id, state, decoder, settings)),
            inbox,
        })
    }
}
