//! The video decoder seam: what a stream needs of a decoder, and how an
//! embedder provides decoders for codecs beyond the built-in MJPEG one (the
//! GTK layer's GStreamer decoders). Nothing here knows GLib or threads.
//!
//! A [`VideoDecoder`] decodes one stream. The stream hands it encoded frames
//! in arrival order ([`VideoDecoder::queue`]), each with its multimedia time
//! and a sequence number, and takes decoded frames back with
//! [`VideoDecoder::poll`], oldest first. A decoder may answer at once (the
//! built-in MJPEG decoder decodes inside `queue`) or later, from threads of
//! its own: it then calls the [`VideoWake`] it was made with, and the display
//! channel polls it again on its own thread. Decoded frames come back to the
//! stream, which shows each at its time (or not, when it is late); a decoder
//! does not schedule (see "Drop policy" in the parent module: which frames
//! reach the decoder depends on the codec, not on the decoder).
//!
//! [`VideoDecoder::reschedule`] tells a decoder the multimedia clock jumped
//! (a decoder pacing its output by the clock re-bases it); a stream destroyed
//! calls [`VideoDecoder::destroy`] and drops the decoder.

use std::sync::Arc;

use crate::codec::CodecError;

/// Called by a decoder, from any thread, when it has frames ready to poll.
pub type VideoWake = Arc<dyn Fn() + Send + Sync>;

/// The stream a decoder is made for (STREAM_CREATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoStreamInfo {
    pub id: u32,
    /// SPICE codec number (`video_codec::*`).
    pub codec: u8,
    /// Frame size announced by the server (a STREAM_DATA_SIZED frame may differ).
    pub width: u32,
    pub height: u32,
}

/// One encoded frame handed to a decoder.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Order of arrival on the stream; given back with the decoded frame.
    pub seq: u64,
    /// When the frame is to be shown (multimedia time, ms).
    pub mm_time: u32,
    /// The frame's size as the server announced it.
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// A decoded frame: top-down rows of B,G,R,A bytes, `width × 4` each (or
/// R,G,B,A when `red_first`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
    /// The pixels are R,G,B,A: red and blue are swapped while the frame is
    /// drawn (the built-in MJPEG decoder's fast output), which saves a pass
    /// over the whole frame.
    pub red_first: bool,
}

/// What a decoder did with the frame `seq`.
#[derive(Debug)]
pub struct DecodeResult {
    pub seq: u64,
    pub frame: Result<DecodedFrame, VideoError>,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// An embedder's decoder failed (its own words).
    #[error("{0}")]
    Backend(String),
    #[error("the decoder gave a {width}x{height} frame of {len} bytes")]
    BadFrame { width: u32, height: u32, len: usize },
}

/// Decodes the frames of one stream (see the module docs).
pub trait VideoDecoder: Send {
    /// Takes one encoded frame to decode, after every frame queued before.
    fn queue(&mut self, frame: EncodedFrame);

    /// The oldest frame decoded (or failed) and not polled yet.
    fn poll(&mut self) -> Option<DecodeResult>;

    /// The multimedia clock jumped ahead or went back; `now_mm` is its time.
    fn reschedule(&mut self, _now_mm: u32) {}

    /// The stream is gone: stop decoding (nothing is polled afterwards).
    fn destroy(&mut self) {}

    /// The pixels of a frame polled earlier, drawn: reuse them if you like.
    fn recycle(&mut self, _pixels: Vec<u8>) {}
}

/// Makes decoders for the codecs it names; given by the embedder through
/// [`crate::client::media::Media::video`].
pub trait VideoDecoderFactory: Send + Sync {
    /// The codecs (SPICE numbers: `video_codec::VP8`, `H264`, `VP9`,
    /// `H265`) this factory decodes. The display channel advertises them
    /// (and MJPEG, always decoded by Sumac itself).
    fn codecs(&self) -> Vec<u8>;

    /// A decoder for a new stream; `None` refuses the stream.
    fn create(&self, stream: &VideoStreamInfo, wake: VideoWake) -> Option<Box<dyn VideoDecoder>>;
}
