//! Media given by the embedder: where audio plays and is captured from, and
//! (later) video decoders beyond the built-in MJPEG one. The core stays free
//! of GLib/GStreamer; the GTK layer or a headless tool fills these in.

use std::sync::Arc;

use crate::channel::audio::AudioBackend;

/// The session's media back-ends; all optional.
#[derive(Clone, Default)]
pub struct Media {
    /// Playback and record devices. `None`: audio channels play nowhere and record nothing.
    pub audio: Option<Arc<dyn AudioBackend>>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media").field("audio", &self.audio.is_some()).finish()
    }
}
