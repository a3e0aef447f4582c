//! QUIC decoder (the lossless image codec of spice-common's `quic.c`, derived from SFALIC):
//! RGB32, RGB24, RGB16, RGBA and GRAY images, decoded to top-down B,G,R,A.
//!
//! # Format
//!
//! The stream is a sequence of little-endian 32-bit words read as one big-endian bit string
//! (most significant bit of each word first). Five whole words open it: the magic `"QUIC"`,
//! the version (0), the image type, the width and the height. Pixels follow, row by row.
//!
//! Every colour channel is predicted from its neighbours (left `a`, above `b`): `a` on the
//! first row, `b` for the first pixel of the other rows, `(a + b) / 2` elsewhere. The
//! prediction error, folded to an unsigned value, is coded with one of `bpc` Golomb-Rice codes
//! (with an escape for long codewords). Which code is used depends on the bucket that the
//! folded error of the pixel on the left falls into; each bucket keeps per-code cost counters
//! that are updated at pseudo-random intervals (a fixed "chaos" table drives them, and the
//! interval mask grows every 2048 pixels). On rows after the first, a pixel whose left
//! neighbours match, above a pair of equal pixels, starts a run whose length is coded with an
//! adaptive MELCODE. RGB images share one interval/run state among the three channels; the
//! alpha plane of RGBA images and GRAY images have their own.
//!
//! Decoding is bit-exact with spice-common, including its quirks: the folded-error history of
//! the pixels covered by a run is left as it was on an earlier row, and escape codewords may
//! decode to values above the channel range, which are truncated to a byte.
//!
//! Hostile input (hostile-inputs row 20, CVE-2020-14355) is rejected with a [`CodecError`]:
//! empty or truncated streams, sizes of zero, negative (as `int`), or above the limits, runs
//! past the end of the row. Work is bounded by the size of the output.

use super::{CodecError, ImageBuf};

mod decode;
pub mod encode;
mod model;
#[cfg(test)]
mod reference;
use decode::{BitReader, DecodePlane, rgb_to_bgrx};
pub(crate) use model::*;

const CODEC: &str = "quic";

/// `"QUIC"` read as a little-endian word.
pub const MAGIC: u32 = 0x4349_5551;
/// The only version there is (major 0, minor 0).
pub const VERSION: u32 = 0;
/// spice-common refuses images of more pixels than this.
const MAX_PIXELS: u64 = 512 * 1024 * 1024 - 1;

/// The image types of the QUIC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// One 8-bit channel.
    Gray,
    /// Three 5-bit channels (x555).
    Rgb16,
    /// Three 8-bit channels, packed B,G,R on the sender's side.
    Rgb24,
    /// Three 8-bit channels, B,G,R,x on the sender's side.
    Rgb32,
    /// Three 8-bit colour channels, then an 8-bit alpha plane.
    Rgba,
}

impl ImageType {
    /// The type from its header value (0 is spice-common's "invalid").
    pub fn from_wire(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Gray,
            2 => Self::Rgb16,
            3 => Self::Rgb24,
            4 => Self::Rgb32,
            5 => Self::Rgba,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u32 {
        match self {
            Self::Gray => 1,
            Self::Rgb16 => 2,
            Self::Rgb24 => 3,
            Self::Rgb32 => 4,
            Self::Rgba => 5,
        }
    }
}

/// The header of a QUIC stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub image_type: ImageType,
    pub width: u32,
    pub height: u32,
}

/// Reads and checks the five header words (magic, version, type, sizes) without decoding.
pub fn read_header(data: &[u8]) -> Result<Header, CodecError> {
    let mut r = BitReader::new(data);
    let h = parse_header(&mut r)?;
    r.check_not_past_end()?;
    Ok(h)
}

fn parse_header(r: &mut BitReader) -> Result<Header, CodecError> {
    let words = std::array::from_fn(|_| r.take32());
    parse_header_words(words, u64::from(r.has_words()))
}

/// Checks the header words; `available` is zero for an empty stream.
fn parse_header_words(words: [u32; 5], available: u64) -> Result<Header, CodecError> {
    if available == 0 {
        return Err(CodecError::truncated(CODEC));
    }
    let [magic, version, ty, width, height] = words;
    if magic != MAGIC {
        return Err(CodecError::invalid(CODEC, "bad magic"));
    }
    if version != VERSION {
        return Err(CodecError::invalid(CODEC, "unsupported version"));
    }
    // spice-common reads the sizes as `int` and wants them positive.
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(CodecError::invalid(CODEC, "zero or negative image size"));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(width),
            height: u64::from(height),
        });
    }
    let image_type = ImageType::from_wire(ty).ok_or(CodecError::invalid(CODEC, "unknown image type"))?;
    Ok(Header {
        image_type,
        width,
        height,
    })
}

/// Decodes the QUIC stream `data` into `out` (B,G,R,A, top-down). RGB types and GRAY give
/// opaque pixels (`has_alpha == false`); RGB16 channels are widened as `(v << 3) | (v >> 2)`.
/// Trailing bytes that do not make a whole word are ignored, like spice-gtk does. The caller
/// compares the size with the image descriptor. On error the content of `out` is unspecified
/// (the draw must be dropped).
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = BitReader::new(data);
    let header = parse_header(&mut r)?;
    // The header alone must leave a whole word of look-ahead, as in spice-common.
    r.check_not_past_end()?;
    out.reset(CODEC, header.width, header.height)?;
    let width = header.width as usize;
    match header.image_type {
        ImageType::Rgb32 | ImageType::Rgb24 => {
            let mut rgb = DecodePlane::<3, 8>::new(width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                for (px, &c) in row.chunks_exact_mut(4).zip(&rgb.cur) {
                    px.copy_from_slice(&(rgb_to_bgrx(c) | 0xff00_0000).to_le_bytes());
                }
                Ok(())
            })
        }
        ImageType::Rgb16 => {
            let mut rgb = DecodePlane::<3, 5>::new(width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                for (px, &c) in row.chunks_exact_mut(4).zip(&rgb.cur) {
                    // Channels are 5-bit values here: widen each byte.
                    let [blue, green, red, _] = rgb_to_bgrx(c).to_le_bytes();
                    let widen = |v: u8| (v << 3) | (v >> 2);
                    px.copy_from_slice(&[widen(blue), widen(green), widen(red), 0xff]);
                }
                Ok(())
            })
        }
        ImageType::Rgba => {
            let mut rgb = DecodePlane::<3, 8>::new(width);
            let mut alpha = DecodePlane::<1, 8>::new(width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                alpha.decode_row(r, first)?;
                for ((px, &c), &a) in row.chunks_exact_mut(4).zip(&rgb.cur).zip(&alpha.cur) {
                    px.copy_from_slice(&(rgb_to_bgrx(c) | (a << 24)).to_le_bytes());
                }
                Ok(())
            })?;
            out.has_alpha = true;
            Ok(())
        }
        ImageType::Gray => {
            let mut gray = DecodePlane::<1, 8>::new(width);
            decode_rows(&mut r, out, |r, first, row| {
                gray.decode_row(r, first)?;
                for (px, &g) in row.chunks_exact_mut(4).zip(&gray.cur) {
                    px.copy_from_slice(&((g * 0x0001_0101) | 0xff00_0000).to_le_bytes());
                }
                Ok(())
            })
        }
    }
}

/// Runs `row_fn` on every output row, checking after each that the stream did not end early.
fn decode_rows(
    r: &mut BitReader,
    out: &mut ImageBuf,
    mut row_fn: impl FnMut(&mut BitReader, bool, &mut [u8]) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let stride = out.stride();
    for (y, row) in out.data.chunks_exact_mut(stride).enumerate() {
        row_fn(r, y == 0, row)?;
        r.check_not_past_end()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]
mod tests;
