//! [`PendingVideo`]: the GStreamer decoders, found on a thread of their own.
//!
//! Starting GStreamer and looking up its decoders takes tens of
//! milliseconds, as long as connecting and linking the main channel on a
//! LAN. Only the display channel needs the answer (its link advertises the
//! codecs), so a session is given a `PendingVideo` at once and the first
//! question waits for the thread, usually finished by then. `gst::init`
//! itself stays on the caller's thread (see [`PendingVideo::start`]).

use std::sync::{Arc, OnceLock};

use super::{DecoderStatus, GstVideo};
use crate::display::{VideoDecoder, VideoDecoderFactory, VideoStreamInfo, VideoWake};

/// The decoders of [`GstVideo::new`], being found (see the module docs).
#[derive(Debug)]
pub struct PendingVideo {
    video: Arc<OnceLock<Option<GstVideo>>>,
}

impl PendingVideo {
    /// Starts looking for the decoders (`mjpeg` as [`GstVideo::new`]).
    ///
    /// GStreamer itself is initialised here, on the calling thread: it
    /// registers GLib fundamental types, and GLib hands out fundamental type
    /// ids without a lock, so doing that on a thread while GTK registers its
    /// own (GdkEvent, GtkExpression…, lazily) gave two types the same id.
    /// Call it from the thread that runs GTK (or where no GTK runs).
    pub fn start(mjpeg: bool) -> Self {
        let video = Arc::new(OnceLock::new());
        if let Err(e) = super::init() {
            tracing::warn!(error = %e, "no GStreamer video decoders");
            let _ = video.set(None);
            return Self { video };
        }
        let cell = Arc::clone(&video);
        let find = move || {
            // A panic must not leave the cell empty: waiters would wait forever.
            let found = std::panic::catch_unwind(|| GstVideo::new(mjpeg))
                .unwrap_or_else(|_| Err(super::GstError("the GStreamer start-up thread panicked".into())));
            let _ = cell.set(
                found
                    .map_err(|e| tracing::warn!(error = %e, "no GStreamer video decoders"))
                    .ok(),
            );
        };
        if let Err(e) = std::thread::Builder::new().name("gst-init".into()).spawn(find) {
            tracing::debug!(error = %e, "no thread for GStreamer's start-up: starting it here");
            let _ = video.set(GstVideo::new(mjpeg).ok());
        }
        Self { video }
    }

    /// The decoders, once found (waits for them); `None` when GStreamer cannot start.
    pub fn video(&self) -> Option<&GstVideo> {
        self.video.wait().as_ref()
    }

    /// What each live stream decodes with (nothing while still starting).
    pub fn decoders(&self) -> Vec<DecoderStatus> {
        self.video
            .get()
            .and_then(Option::as_ref)
            .map(GstVideo::decoders)
            .unwrap_or_default()
    }
}

impl VideoDecoderFactory for PendingVideo {
    fn codecs(&self) -> Vec<u8> {
        self.video().map(VideoDecoderFactory::codecs).unwrap_or_default()
    }

    fn create(&self, stream: &VideoStreamInfo, wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        self.video()?.create(stream, wake)
    }
}
