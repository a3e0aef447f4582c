//! Media given by the embedder: where audio plays and is captured from, and
//! video decoders beyond the built-in MJPEG one. The core stays free of
//! GLib/GStreamer; the GTK layer or a headless tool fills these in.

use std::sync::Arc;

use crate::channel::audio::AudioBackend;
use crate::display::VideoDecoderFactory;

/// The session's media back-ends; all optional.
#[derive(Clone, Default)]
pub struct Media {
    /// Playback and record devices. `None`: audio channels play nowhere and record nothing.
    pub audio: Option<Arc<dyn AudioBackend>>,
    /// Video decoders for the codecs the factory names (VP8, H.264, VP9,
    /// H.265); display channels advertise those codecs, and MJPEG, which
    /// Sumac decodes itself. `None`: MJPEG only.
    pub video: Option<Arc<dyn VideoDecoderFactory>>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("audio", &self.audio.is_some())
            .field("video", &self.video.as_ref().map(|v| v.codecs()))
            .finish()
    }
}
