//! MJPEG: the Huffman tables abbreviated frames leave out, and the
//! built-in decoder (zune-jpeg through [`codec::jpeg`]), which decodes each
//! frame as it is queued. Its frames stay R,G,B,A as zune-jpeg writes them
//! (`red_first`): the draw swaps red and blue while copying into the surface.

use std::collections::VecDeque;

use super::video::{DecodeResult, DecodedFrame, EncodedFrame, Pixels, VideoDecoder, VideoError};
use super::{MAX_FRAME_PIXELS, MAX_SPARE_CAPACITY};
use crate::codec::{self, ImageBuf};

/// Where a JPEG's DHT segments are and where its SOS marker starts
/// (`None` when the markers before SOS cannot be walked).
pub(super) struct JpegTables {
    pub(super) dht: Vec<std::ops::Range<usize>>,
    pub(super) sos: usize,
}

pub(super) fn jpeg_tables(data: &[u8]) -> Option<JpegTables> {
    if data.get(..2)? != [0xff, 0xd8] {
        return None;
    }
    let mut dht = Vec::new();
    let mut pos = 2usize;
    loop {
        if *data.get(pos)? != 0xff {
            return None;
        }
        let mut m = pos.checked_add(1)?;
        while *data.get(m)? == 0xff {
            m = m.checked_add(1)?; // fill bytes
        }
        let marker = *data.get(m)?;
        let after = m.checked_add(1)?;
        match marker {
            0xda => return Some(JpegTables { dht, sos: pos }),
            0x01 | 0xd0..=0xd7 => pos = after, // no length
            _ => {
                let hi = usize::from(*data.get(after)?);
                let lo = usize::from(*data.get(after.checked_add(1)?)?);
                let len = (hi << 8) | lo;
                if len < 2 {
                    return None;
                }
                let end = after.checked_add(len)?;
                if end > data.len() {
                    return None;
                }
                if marker == 0xc4 {
                    dht.push(pos..end);
                }
                pos = end;
            }
        }
    }
}

/// Pixel buffers a decoder keeps for reuse.
const SPARE_FRAMES: usize = 2;

/// The MJPEG decoder: synchronous, every frame independent. A decoded frame
/// must have the size its frame announced.
#[derive(Debug, Default)]
pub(super) struct MjpegDecoder {
    done: VecDeque<DecodeResult>,
    spare: Vec<Vec<u8>>,
}

impl VideoDecoder for MjpegDecoder {
    fn queue(&mut self, f: EncodedFrame) {
        let mut buf = ImageBuf {
            data: self.spare.pop().unwrap_or_default(),
            ..ImageBuf::new()
        };
        let decoded =
            codec::jpeg::decode_capped_red_first(&f.data, MAX_FRAME_PIXELS, Some((f.width, f.height)), &mut buf);
        let frame = match decoded {
            Ok(red_first) => Ok(DecodedFrame {
                width: buf.width,
                height: buf.height,
                pixels: Pixels::Owned(buf.data),
                red_first,
            }),
            Err(e) => {
                self.recycle(Pixels::Owned(buf.data));
                Err(VideoError::Codec(e))
            }
        };
        self.done.push_back(DecodeResult { seq: f.seq, frame });
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        self.done.pop_front()
    }

    fn destroy(&mut self) {
        self.done.clear();
    }

    fn recycle(&mut self, pixels: Pixels) {
        let Pixels::Owned(pixels) = pixels else { return };
        if self.spare.len() < SPARE_FRAMES && pixels.capacity() <= MAX_SPARE_CAPACITY.saturating_mul(16) {
            self.spare.push(pixels);
        }
    }
}
