//! Video decoders through GStreamer (feature `gst`): VP8, VP9, H.264 and
//! H.265 (and MJPEG, as an option beside Sumac's own decoder), hardware
//! decoders first with a software fallback. GLib and GStreamer stay here:
//! the core sees only the [`VideoDecoderFactory`] seam, given through
//! [`crate::client::media::Media::video`].
//!
//! [`GstVideo::new`] initialises GStreamer and asks the registry which
//! decoders exist for each codec ([`registry`]); it names exactly the codecs
//! that have one, so the display channel advertises only those. Each stream
//! gets a [`decoder::GstDecoder`] (one pipeline) trying them in order.
//! [`GstVideo::decoders`] tells what every live stream decodes with.
//! [`PendingVideo`] does the start-up on a thread, so a session can begin
//! connecting meanwhile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use gstreamer as gst;

use crate::display::{VideoDecoder, VideoDecoderFactory, VideoStreamInfo, VideoWake};
use crate::proto::channel::display::video_codec;

pub mod decoder;
mod pending;
pub mod registry;
mod status;

pub use pending::PendingVideo;
pub use registry::{Candidate, codec_name};
pub use status::DecoderStatus;

/// GStreamer could not start.
#[derive(Debug, thiserror::Error)]
#[error("GStreamer: {0}")]
pub struct GstError(String);

/// Whether MJPEG streams go through GStreamer (`jpegdec`) instead of Sumac's
/// own decoder: `SUMAC_MJPEG_DECODER=gstreamer` (default `builtin`, the
/// faster one measured in BENCHMARKS.md).
pub fn mjpeg_by_gstreamer() -> bool {
    std::env::var("SUMAC_MJPEG_DECODER").is_ok_and(|v| v.eq_ignore_ascii_case("gstreamer"))
}

/// The codecs Sumac decodes through GStreamer by default, in SPICE's order.
pub const CODECS: [u8; 4] = [video_codec::VP8, video_codec::H264, video_codec::VP9, video_codec::H265];

/// Makes a GStreamer decoder per stream (see the module docs).
pub struct GstVideo {
    /// Decoders to try, per codec (codecs without any are absent).
    candidates: BTreeMap<u8, Arc<[Candidate]>>,
    live: Mutex<Vec<Weak<Mutex<DecoderStatus>>>>,
}

impl std::fmt::Debug for GstVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GstVideo")
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

/// Initialises GStreamer (once per process; later calls are cheap).
pub fn init() -> Result<(), GstError> {
    gst::init().map_err(|e| GstError(e.to_string()))
}

impl GstVideo {
    /// The registry's decoders for [`CODECS`], and for MJPEG too when
    /// `mjpeg` is set (then GStreamer decodes MJPEG streams instead of
    /// Sumac's own decoder).
    pub fn new(mjpeg: bool) -> Result<Self, GstError> {
        init()?;
        let mut codecs = CODECS.to_vec();
        if mjpeg {
            codecs.push(video_codec::MJPEG);
        }
        let candidates = codecs
            .into_iter()
            .map(|c| (c, registry::candidates(c)))
            .filter(|(_, list)| !list.is_empty())
            .map(|(c, list)| (c, Arc::from(list)))
            .collect();
        // The decoders' plugins are not loaded here but by the first stream
        // that needs one (on the display channel's thread): gst-libav alone
        // brings libavcodec, libavfilter, librsvg and flite, ~20 MiB resident
        // that a session without video never uses.
        Ok(Self::from_candidates(candidates))
    }

    /// A factory with the given decoders per codec, tried in order (tests
    /// use it to put a failing decoder first). GStreamer must be initialised.
    pub fn with_candidates(candidates: impl IntoIterator<Item = (u8, Vec<Candidate>)>) -> Self {
        Self::from_candidates(
            candidates
                .into_iter()
                .filter(|(_, l)| !l.is_empty())
                .map(|(c, l)| (c, Arc::from(l)))
                .collect(),
        )
    }

    fn from_candidates(candidates: BTreeMap<u8, Arc<[Candidate]>>) -> Self {
        for (codec, list) in &candidates {
            let names: Vec<&str> = list.iter().map(|c| c.description.as_str()).collect();
            tracing::info!(codec = codec_name(*codec), decoders = ?names, "GStreamer video decoders");
        }
        Self {
            candidates,
            live: Mutex::new(Vec::new()),
        }
    }

    /// The decoders tried for `codec`, in order.
    pub fn candidates(&self, codec: u8) -> &[Candidate] {
        self.candidates.get(&codec).map(|l| &l[..]).unwrap_or_default()
    }

    /// What each live stream decodes with.
    pub fn decoders(&self) -> Vec<DecoderStatus> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }
}

impl VideoDecoderFactory for GstVideo {
    fn codecs(&self) -> Vec<u8> {
        self.candidates.keys().copied().collect()
    }

    fn create(&self, stream: &VideoStreamInfo, wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        let list = Arc::clone(self.candidates.get(&stream.codec)?);
        let status = Arc::new(Mutex::new(DecoderStatus {
            stream_id: stream.id,
            codec: codec_name(stream.codec),
            ..DecoderStatus::default()
        }));
        let d = decoder::GstDecoder::new(stream.codec, stream.id, list, wake, Arc::clone(&status))?;
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&status));
        Some(Box::new(d))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests;
