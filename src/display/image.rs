//! Images of draws (source bitmaps, brush patterns, masks), turned into
//! pixels in two steps:
//!
//! 1. *Prepared* by the channel's [`super::DisplayDecoder`], before the
//!    state lock is taken ([`Images::resolve`], [`Images::mask`]): every
//!    codec runs, cache stores and lookups happen, palettes are found, in
//!    message order on the channel's thread. The result is a [`Ready`] per
//!    image.
//! 2. *Read* by the draw under the lock ([`Ready::source`]): a [`Source`]
//!    over the prepared pixels, or a snapshot of a surface.
//!
//! Resolution by `image_type`:
//! - BITMAP: validated in place ([`Source::bitmap`]), no copy; its palette is
//!   converted for the destination surface when it is prepared.
//! - QUIC, LZ_RGB, LZ_PLT, GLZ_RGB, ZLIB_GLZ_RGB, LZ4, JPEG, JPEG_ALPHA:
//!   decoded by [`crate::codec`] into an [`ImageBuf`] of the decoder's pool
//!   (given back after the draw, so the hot path does not allocate), GLZ
//!   images into pixels shared with the GLZ window. The decoded size must
//!   equal the descriptor's.
//! - FROM_CACHE, FROM_CACHE_LOSSLESS: the [`super::ImageCache`] entry,
//!   shared (an entry kept as its encoded image is decoded again).
//! - SURFACE: a snapshot of the source surface's `src_area`, taken by the
//!   draw (surfaces live behind the lock).
//!
//! Cache flags (`CACHE_ME`, `CACHE_REPLACE_ME`) store a copy of the pixels
//! after a successful decode. As in spice-common's canvas, `CACHE_ME` wins
//! over `CACHE_REPLACE_ME`, images of type FROM_CACHE*/SURFACE are never
//! stored, JPEG and JPEG_ALPHA images are stored as lossy, and a
//! `CACHE_REPLACE_ME` of a lossy image is an error (the draw is dropped).
//! Every image of a draw is prepared, and so stored, even when the draw is
//! then dropped (a bad clip, an error in another of its images): the server
//! counts it as cached either way. Only a draw on a surface that does not
//! exist leaves its images alone ([`Ready::Skipped`]).
//!
//! `HIGH_BITS_SET` says the server's 32-bit pixels have their unused top
//! byte set; images without alpha get their alpha bytes forced to 255 (the
//! canvas does the same), so such images compose as opaque.
//!
//! Palettised images (BITMAP, LZ_PLT) find their palette inline or in the
//! palette cache (`PAL_FROM_CACHE`); an inline palette with `PAL_CACHE_ME` is
//! stored. On a 16-bit 555 surface, LZ_PLT palette entries are 555 colours
//! and are widened before decoding.
//!
//! Masks (`QMask`) are 1-bit BITMAPs, FROM_CACHE entries of masks cached
//! earlier, or A1 surfaces; the first two are prepared into [`MaskBits`].

mod resolve;

use std::collections::HashMap;
use std::sync::Arc;

use thiserror::Error;

pub(crate) use resolve::{Env, Images};

use super::bitmap::Source;
use super::compact::Packed;
use super::surface::{BYTES_PER_PIXEL, Surface};
use super::{DisplayError, cache::StoreMode};
use crate::codec::{self, CodecError, ImageBuf};
use crate::proto::channel::display::{Image, ImageKind, Rect, image_flags, image_type};

/// The GLZ dictionary window a session announces and keeps (shared by its
/// display channels), also used by a decoder not given a shared window: 16 MiB,
/// a little above spice-gtk's 12 MiB minimum, which is enough for the server's
/// 1080p dictionaries and leaves room for images arriving out of order from
/// two display channels.
pub const DEFAULT_GLZ_WINDOW_BYTES: u64 = 16 << 20;

/// Why an image could not be turned into pixels.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error(transparent)]
    Codec(CodecError),
    #[error("image {id} is not in the image cache")]
    CacheMissing { id: u64 },
    #[error("image {id} is cached lossy, a lossless copy was asked for")]
    CacheLossy { id: u64 },
    #[error("image {id}: CACHE_REPLACE_ME with a lossy image")]
    ReplaceLossy { id: u64 },
    #[error("image type {image_type} without matching data")]
    KindMismatch { image_type: u8 },
}

impl ImageError {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Codec(CodecError::Unsupported { .. }) => "codec_unsupported",
            Self::Codec(CodecError::SizeMismatch { .. }) => "image_size_mismatch",
            Self::Codec(CodecError::GlzMissing { .. }) => "glz_missing",
            Self::Codec(CodecError::TooLarge { .. }) => "image_too_large",
            Self::Codec(_) => "codec_error",
            Self::CacheMissing { .. } => "image_cache_missing",
            Self::CacheLossy { .. } => "image_cache_lossy",
            Self::ReplaceLossy { .. } => "image_cache_replace_lossy",
            Self::KindMismatch { .. } => "bad_image",
        }
    }
}

pub(super) fn err(op: &'static str, error: ImageError) -> DisplayError {
    DisplayError::Image { op, error }
}

fn mismatch(op: &'static str, image_type: u8) -> DisplayError {
    err(op, ImageError::KindMismatch { image_type })
}

/// Pixels prepared for a draw.
#[derive(Debug)]
pub(crate) enum Held {
    /// A buffer of the decoder's pool (given back after the draw).
    Buf(ImageBuf),
    /// Shared top-down B,G,R,A rows: a GLZ image (shared with the window)
    /// or an image cache entry.
    Full(Arc<Vec<u8>>),
    /// A packed image cache entry.
    Packed(Arc<Packed>),
}

/// One image of a message, prepared before the state lock is taken.
#[derive(Debug)]
pub(crate) enum Ready {
    /// Not prepared: the draw's surface does not exist, so the draw is
    /// dropped before it reads its images.
    Skipped,
    /// A BITMAP, validated; its palette converted for the destination.
    Bitmap { lut: Vec<[u8; 4]> },
    /// A SURFACE image: the draw reads the surface.
    Surface,
    /// Decoded or cached pixels, `width × height`.
    Pixels { width: u32, height: u32, pixels: Held },
    /// A 1-bit mask.
    Mask(MaskBits),
}

/// What preparing one image gave: its pixels or why there are none.
pub(crate) type Slot = Result<Ready, DisplayError>;

/// A mask as bits: rows of `ceil(width / 8)` bytes, top-down, leftmost
/// pixel in the high bit; a set bit keeps the pixel (before `INVERS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaskBits {
    pub width: usize,
    pub height: usize,
    stride: usize,
    bits: Vec<u8>,
}

impl MaskBits {
    /// The bits of a mask source: a pixel is set when its first byte is
    /// (masks are black and white, see [`MASK_PALETTE`]).
    fn from_source(src: &Source<'_>) -> Self {
        let (width, height) = (src.width, src.height);
        let stride = width.div_ceil(8);
        let mut bits = vec![0u8; stride.saturating_mul(height)];
        let mut row = vec![0u8; width.saturating_mul(BYTES_PER_PIXEL)];
        if stride > 0 {
            for (y, out) in bits.chunks_exact_mut(stride).enumerate() {
                src.convert(y, 0, width, &mut row);
                for (x, px) in row.chunks_exact(BYTES_PER_PIXEL).enumerate() {
                    if px.first().is_some_and(|&b| b != 0)
                        && let Some(byte) = out.get_mut(x / 8)
                    {
                        *byte |= 0x80 >> (x % 8);
                    }
                }
            }
        }
        Self {
            width,
            height,
            stride,
            bits,
        }
    }

    /// The bit of mask pixel (x, y); false outside the mask.
    pub fn get(&self, x: usize, y: usize) -> bool {
        if x >= self.width {
            return false;
        }
        let at = y.saturating_mul(self.stride).saturating_add(x / 8);
        self.bits.get(at).is_some_and(|b| b & (0x80 >> (x % 8)) != 0)
    }
}

/// Colours of mask bits: clear is black, set is white.
pub(super) const MASK_PALETTE: [u32; 2] = [0, 0x00ff_ffff];

impl Ready {
    /// The pixels of a prepared source image (not a mask) and the source
    /// area to read: `src_area`, translated for SURFACE snapshots.
    pub fn source<'a>(
        &'a self,
        op: &'static str,
        image: &'a Image,
        src_area: &Rect,
        surfaces: &HashMap<u32, Surface>,
    ) -> Result<(Source<'a>, Rect), DisplayError> {
        let t = image.descriptor.image_type;
        match self {
            Self::Bitmap { lut } => {
                let ImageKind::Bitmap(b) = &image.kind else {
                    return Err(mismatch(op, t));
                };
                Ok((Source::bitmap_prevalidated(op, b, lut)?, *src_area))
            }
            Self::Surface => {
                let ImageKind::Surface { surface_id } = &image.kind else {
                    return Err(mismatch(op, t));
                };
                let src = surfaces
                    .get(surface_id)
                    .ok_or(DisplayError::NoSuchSurface { op, id: *surface_id })?;
                Source::from_surface(op, src, src_area)
            }
            Self::Pixels { width, height, pixels } => Ok((held_source(op, *width, *height, pixels)?, *src_area)),
            Self::Mask(_) | Self::Skipped => Err(not_prepared(op)),
        }
    }
}

/// A draw asked for an image that was not prepared for it (cannot happen:
/// every image of a message is prepared before it is applied).
pub(super) fn not_prepared(op: &'static str) -> DisplayError {
    DisplayError::BadBitmap {
        op,
        reason: "image not prepared before the draw",
    }
}

/// The prepared image `image` of the message being applied: `slots[i]` is
/// the image at address `at[i]`.
pub(super) fn find<'s>(
    slots: &'s [Slot],
    at: &[usize],
    op: &'static str,
    image: &Image,
) -> Result<&'s Ready, DisplayError> {
    let addr = std::ptr::from_ref(image).addr();
    let i = at.iter().position(|&a| a == addr).ok_or_else(|| not_prepared(op))?;
    match slots.get(i) {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(e.clone()),
        None => Err(not_prepared(op)),
    }
}

/// A source reading prepared pixels in place.
fn held_source<'a>(op: &'static str, w: u32, h: u32, held: &'a Held) -> Result<Source<'a>, DisplayError> {
    match held {
        Held::Buf(b) => Source::bgra(op, w, h, b.data.as_slice()),
        Held::Full(data) => Source::bgra(op, w, h, data.as_slice()),
        Held::Packed(p) => Source::indexed(op, w, h, p.bits, &p.lut, &p.data),
    }
}

/// Image types whose data decodes without anything else (no GLZ window, no
/// palette): an aged cache entry may keep them instead of their pixels.
fn decodes_alone(t: u8) -> bool {
    matches!(t, image_type::QUIC | image_type::LZ_RGB | image_type::JPEG)
}

/// Decodes a QUIC, LZ_RGB or JPEG image into `buf` as a draw does
/// (HIGH_BITS_SET included).
pub(super) fn decode_standalone(image: &Image, buf: &mut ImageBuf) -> Result<(), CodecError> {
    let d = &image.descriptor;
    let ImageKind::Binary(data) = &image.kind else {
        return Err(CodecError::Unsupported {
            codec: codec_name(d.image_type),
        });
    };
    match d.image_type {
        image_type::QUIC => codec::quic::decode(data, buf)?,
        image_type::LZ_RGB => codec::lz::decode(data, None, buf)?,
        image_type::JPEG => codec::jpeg::decode(data, buf)?,
        _ => {
            return Err(CodecError::Unsupported {
                codec: codec_name(d.image_type),
            });
        }
    }
    if d.flags & image_flags::HIGH_BITS_SET != 0 && !buf.has_alpha {
        opaque_alpha(&mut buf.data);
    }
    Ok(())
}

/// Sets every alpha byte of B,G,R,A pixels to 255.
fn opaque_alpha(data: &mut [u8]) {
    data.iter_mut().skip(3).step_by(BYTES_PER_PIXEL).for_each(|a| *a = 0xff);
}

fn size_mismatch(
    op: &'static str,
    codec: &'static str,
    width: u32,
    height: u32,
    got_w: u32,
    got_h: u32,
) -> DisplayError {
    err(
        op,
        ImageError::Codec(CodecError::SizeMismatch {
            codec,
            width,
            height,
            got_width: got_w,
            got_height: got_h,
        }),
    )
}

fn codec_name(t: u8) -> &'static str {
    match t {
        image_type::QUIC => "quic",
        image_type::LZ_RGB | image_type::LZ_PLT => "lz",
        image_type::GLZ_RGB => "glz",
        image_type::ZLIB_GLZ_RGB => "zlib-glz",
        image_type::LZ4 => "lz4",
        image_type::JPEG => "jpeg",
        image_type::JPEG_ALPHA => "jpeg-alpha",
        _ => "image",
    }
}

/// Image types a codec decodes.
fn is_compressed(t: u8) -> bool {
    matches!(
        t,
        image_type::QUIC
            | image_type::LZ_RGB
            | image_type::LZ_PLT
            | image_type::GLZ_RGB
            | image_type::ZLIB_GLZ_RGB
            | image_type::LZ4
            | image_type::JPEG
            | image_type::JPEG_ALPHA
    )
}

/// JPEG and JPEG_ALPHA images are lossy (spice-common `spice_image_descriptor_is_lossy`).
fn is_lossy(t: u8) -> bool {
    matches!(t, image_type::JPEG | image_type::JPEG_ALPHA)
}

/// How the image is to be stored, if at all; an error for a lossy replace.
fn store_mode(op: &'static str, t: u8, id: u64, flags: u8) -> Result<Option<StoreMode>, DisplayError> {
    if flags & image_flags::CACHE_ME != 0 {
        Ok(Some(StoreMode::Add))
    } else if flags & image_flags::CACHE_REPLACE_ME != 0 {
        if is_lossy(t) {
            return Err(err(op, ImageError::ReplaceLossy { id }));
        }
        Ok(Some(StoreMode::Replace))
    } else {
        Ok(None)
    }
}

/// Converts every row of `src` into `out` (`width × 4` bytes per row).
fn fill_from_source(src: &Source<'_>, width: u32, out: &mut [u8]) {
    let w = usize::try_from(width).unwrap_or(0);
    let stride = w.saturating_mul(BYTES_PER_PIXEL);
    if stride == 0 {
        return;
    }
    for (iy, row) in out.chunks_exact_mut(stride).enumerate() {
        src.convert(iy, 0, w, row);
    }
}
