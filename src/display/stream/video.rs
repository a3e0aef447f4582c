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

/// Pixels a decoder's backend owns (a mapped GStreamer buffer): the draw
/// reads them in place, so a frame is copied once, into its surface; the
/// memory goes back to its owner when the frame is dropped. A decoder lends
/// a bounded number of these at a time (the display keeps decoded frames
/// waiting for their time).
pub trait FrameMemory: Send {
    /// The frame's rows, [`Pixels::Mapped::stride`] bytes apart.
    fn bytes(&self) -> &[u8];
}

/// The pixels of a [`DecodedFrame`].
pub enum Pixels {
    /// Rows of `width × 4` bytes, owned (given back by
    /// [`VideoDecoder::recycle`] once drawn).
    Owned(Vec<u8>),
    /// Rows of `stride` bytes (at least `width × 4`; `stride × height`
    /// bytes in all) in memory the decoder's backend owns.
    Mapped {
        memory: Box<dyn FrameMemory>,
        stride: usize,
    },
}

impl Pixels {
    /// All the bytes, rows `stride` apart.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Mapped { memory, .. } => memory.bytes(),
        }
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// Bytes from one row to the next, for a frame `width` pixels wide.
    pub fn stride(&self, width: u32) -> usize {
        match self {
            Self::Owned(_) => usize::try_from(width).unwrap_or(usize::MAX).saturating_mul(4),
            Self::Mapped { stride, .. } => *stride,
        }
    }
}

impl From<Vec<u8>> for Pixels {
    fn from(v: Vec<u8>) -> Self {
        Self::Owned(v)
    }
}

impl Default for Pixels {
    fn default() -> Self {
        Self::Owned(Vec::new())
    }
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Owned(v) => write!(f, "Owned({} bytes)", v.len()),
            Self::Mapped { memory, stride } => {
                write!(f, "Mapped({} bytes, stride {stride})", memory.bytes().len())
            }
        }
    }
}

impl PartialEq for Pixels {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes() && matches!(self, Self::Owned(_)) == matches!(other, Self::Owned(_))
    }
}

impl Eq for Pixels {}

/// A decoded frame: top-down rows of B,G,R,A bytes (or R,G,B,A when
/// `red_first`), `width × 4` bytes each, [`Pixels::stride`] bytes apart.
#[derive(Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
    /// The pixels are R,G,B,A: red and blue are swapped while the frame is
    /// drawn (the built-in MJPEG decoder's fast output), which saves a pass
    /// over the whole frame.
    pub red_first: bool,
}

impl DecodedFrame {
    /// A sane size, rows at least `width × 4` bytes apart and all of them
    /// there (the canvas reads `stride × height` bytes).
    pub fn fits(&self, max_pixels: u64) -> bool {
        let px = u64::from(self.width).saturating_mul(u64::from(self.height));
        let row = u64::from(self.width).saturating_mul(4);
        let stride = u64::try_from(self.pixels.stride(self.width)).unwrap_or(u64::MAX);
        let len = u64::try_from(self.pixels.len()).unwrap_or(u64::MAX);
        let exact = matches!(self.pixels, Pixels::Owned(_));
        self.width > 0
            && self.height > 0
            && px <= max_pixels
            && stride >= row
            && stride
                .checked_mul(u64::from(self.height))
                .is_some_and(|n| if exact { n == len } else { n <= len })
    }

    /// A copy of the pixels as rows of `width × 4` bytes, without the padding
    /// of a stride (for tests and diagnostics: the draw reads them in place).
    pub fn to_packed(&self) -> Vec<u8> {
        let row = usize::try_from(self.width).unwrap_or(usize::MAX).saturating_mul(4);
        let rows = usize::try_from(self.height).unwrap_or(usize::MAX);
        let stride = self.pixels.stride(self.width).max(1);
        let mut out = Vec::new();
        for r in self.pixels.bytes().chunks(stride).take(rows) {
            out.extend_from_slice(r.get(..row).unwrap_or(r));
        }
        out
    }
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

    /// The pixels of a frame polled earlier, drawn or dropped: reuse them
    /// if you like (dropping them releases mapped memory).
    fn recycle(&mut self, _pixels: Pixels) {}
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
