//! A display channel's two halves in one value, for callers with no UI to
//! share the state with: recordings replayed, tests, benchmarks, tools.

use std::sync::Arc;

use super::{
    DisplayDecoder, DisplayEvent, DisplayState, Limits, Prepared, SharedImageCache, StreamTick,
    image::DEFAULT_GLZ_WINDOW_BYTES,
};
use crate::codec::glz::{Absent, GlzWindow};
use crate::proto::channel::display::{DisplayServer, StreamReport};

/// A [`DisplayDecoder`] and its [`DisplayState`]: [`Self::handle`] prepares a
/// message and applies it at once, which is what a display channel does
/// with the state lock taken only for the second step. Reads the state
/// through `Deref`.
#[derive(Debug)]
pub struct Pipeline {
    state: DisplayState,
    decoder: DisplayDecoder,
    prepared: Prepared,
}

impl Pipeline {
    /// A channel with its own GLZ window and image cache (a session with one
    /// display channel).
    pub fn new(limits: Limits) -> Self {
        Self::with_glz(limits, Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES)))
    }

    /// A channel whose GLZ images use `window`, the dictionary shared by
    /// every display channel of the session, with an image cache of its own.
    pub fn with_glz(limits: Limits, window: Arc<GlzWindow>) -> Self {
        Self::with_shared(limits, window, SharedImageCache::new(limits.image_cache_bytes))
    }

    /// A channel whose GLZ images use `window` and whose cached images live
    /// in `cache`: the dictionary and the pixmap cache shared by every
    /// display channel of the session. `limits.image_cache_bytes` is not used
    /// (the cache has its budget).
    pub fn with_shared(limits: Limits, window: Arc<GlzWindow>, cache: SharedImageCache) -> Self {
        Self::from_parts(
            DisplayState::with_cache(limits, cache.clone()),
            DisplayDecoder::new(limits, cache, window),
        )
    }

    /// A channel of a decoder and a state made apart (e.g. a decoder with
    /// video decoders).
    pub fn from_parts(state: DisplayState, decoder: DisplayDecoder) -> Self {
        Self {
            state,
            decoder,
            prepared: Prepared::default(),
        }
    }

    /// Counts surfaces and decoded images against the session's memory
    /// `budget` (as the runtime's display channels do).
    pub fn with_budget(mut self, budget: &Arc<crate::budget::MemoryBudget>) -> Self {
        self.state.set_budget(budget);
        self.decoder = self.decoder.with_budget(Arc::clone(budget));
        self
    }

    /// Prepares and applies one message. Nothing waits: a GLZ image
    /// referencing an image that never arrived fails at once. Never panics;
    /// failures come back as [`DisplayEvent::Error`] and are counted.
    pub fn handle(&mut self, m: &DisplayServer) -> Vec<DisplayEvent> {
        self.decoder.prepare(m, &mut self.prepared, Absent::Missing);
        let events = self.state.apply(m, &mut self.prepared);
        self.decoder.observe(&events);
        self.decoder.recycle(&mut self.prepared);
        events
    }

    /// Runs the stream scheduler at multimedia time `now_mm_time`: draws the
    /// frames that are due, drops late ones, and says when to tick again.
    ///
    /// Call it after every `handle` of a STREAM_DATA / STREAM_DATA_SIZED
    /// message (so a frame's arrival margin is measured promptly), and again
    /// when `next_wake_ms` has elapsed.
    pub fn stream_tick(&mut self, now_mm_time: u32) -> StreamTick {
        let mut video = self.decoder.stream_tick(now_mm_time);
        let events = if video.needs_state() {
            self.state.draw_frames(&mut video)
        } else {
            Vec::new()
        };
        self.decoder.recycle_frames(&mut video);
        StreamTick {
            events,
            rendered: video.rendered,
            dropped: video.dropped,
            next_wake_ms: video.next_wake_ms,
        }
    }

    /// STREAM_REPORT messages to send, oldest first (see
    /// [`DisplayDecoder::drain_stream_reports`]).
    pub fn drain_stream_reports(&mut self) -> std::vec::Drain<'_, StreamReport> {
        self.decoder.drain_stream_reports()
    }

    pub fn state(&self) -> &DisplayState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut DisplayState {
        &mut self.state
    }

    pub fn decoder(&self) -> &DisplayDecoder {
        &self.decoder
    }

    pub fn decoder_mut(&mut self) -> &mut DisplayDecoder {
        &mut self.decoder
    }

    /// The state, once nothing more is to be applied.
    pub fn into_state(self) -> DisplayState {
        self.state
    }
}

impl std::ops::Deref for Pipeline {
    type Target = DisplayState;

    fn deref(&self) -> &DisplayState {
        &self.state
    }
}

impl std::ops::DerefMut for Pipeline {
    fn deref_mut(&mut self) -> &mut DisplayState {
        &mut self.state
    }
}
