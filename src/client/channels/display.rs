//! Display channels: a [`DisplayState`] registered for the embedder, sharing
//! the session's GLZ window and image cache. The state of a channel id
//! outlives its link: a relinked channel (reconnect, switch-host) draws into
//! the one the embedder already shows.

use std::sync::{Arc, Mutex};

use crate::channel::display::{DisplayMachine, DisplaySettings};
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::{Session, lock};
use crate::display::{DisplayState, Limits};
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
            Arc::new(Mutex::new(DisplayState::with_shared(
                limits,
                Arc::clone(&res.glz),
                res.image_cache.clone(),
            )))
        }));
        let settings = DisplaySettings {
            image_cache_bytes: opts.image_cache_bytes,
            glz_window_bytes: opts.glz_window_bytes,
            preferred_compression: opts.preferred_compression,
            // With one display channel, a GLZ image can only reference images
            // of its own channel: a missing reference is an error at once.
            glz_may_wait: hint.display_channels > 1,
        };
        Some(Built {
            machine: Box::new(DisplayMachine::new(key.id, state, settings)),
            inbox: None,
        })
    }
}
