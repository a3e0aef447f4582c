//! Image sources for the canvas: turns an [`Image`] of a draw (source
//! bitmap, brush pattern, mask) into a [`Source`] of pixels.
//!
//! Resolution by `image_type`:
//! - BITMAP: validated in place ([`Source::bitmap`]), no copy.
//! - QUIC, LZ_RGB, LZ_PLT, GLZ_RGB, ZLIB_GLZ_RGB, LZ4, JPEG, JPEG_ALPHA:
//!   decoded by [`crate::codec`] into one [`ImageBuf`] reused for every
//!   image (no allocation per image once it has grown), then read as B,G,R,A
//!   rows. The decoded size must equal the descriptor's.
//! - FROM_CACHE, FROM_CACHE_LOSSLESS: the [`ImageCache`] entry, read in place.
//! - SURFACE: a snapshot of the source surface's `src_area`.
//!
//! Cache flags (`CACHE_ME`, `CACHE_REPLACE_ME`) store a copy of the pixels
//! after a successful decode; the draw is applied whether or not the store
//! succeeds. As in spice-common's canvas, `CACHE_ME` wins over
//! `CACHE_REPLACE_ME`, images of type FROM_CACHE*/SURFACE are never stored,
//! JPEG and JPEG_ALPHA images are stored as lossy, and a `CACHE_REPLACE_ME`
//! of a lossy image is an error (the draw is dropped).
//!
//! `HIGH_BITS_SET` says the server's 32-bit pixels have their unused top
//! byte set; images without alpha get their alpha bytes forced to 255 (the
//! canvas does the same), so such images compose as opaque.
//!
//! Palettised images (BITMAP, LZ_PLT) find their palette inline or in the
//! palette cache (`PAL_FROM_CACHE`); an inline palette with `PAL_CACHE_ME` is
//! stored. On a 16-bit 555 surface, LZ_PLT palette entries are 555 colours
//! and are widened before decoding.

use std::collections::HashMap;
use std::sync::Arc;

use thiserror::Error;

use super::bitmap::{PaletteCache, Source};
use super::cache::{CachedPixels, ImageStats, Lookup, SharedImageCache, StoreMode, Stored};
use super::glz_pre::Predecoded;
use super::surface::{BYTES_PER_PIXEL, Surface, SurfaceFormat, rgb555_to_bgra};
use super::{DisplayError, Unsupported};
use crate::codec::glz::{Absent, Decoded, GlzWindow};
use crate::codec::{self, CodecError, ImageBuf};
use crate::proto::channel::display::{
    Image, ImageKind, PaletteRef, Rect, bitmap_flags, bitmap_fmt, image_flags, image_type,
};

/// The GLZ dictionary window a session announces and keeps (shared by its
/// display channels), also used by a state not given a shared window: 16 MiB,
/// a little above spice-gtk's 12 MiB minimum, which is enough for the server's
/// 1080p dictionaries and leaves room for images arriving out of order from
/// two display channels.
pub const DEFAULT_GLZ_WINDOW_BYTES: u64 = 16 << 20;
/// Colours of mask bits: clear is black, set is white.
const MASK_PALETTE: [u32; 2] = [0, 0x00ff_ffff];
/// A decode buffer keeping more than this many bytes is released when a
/// much smaller image comes, so one huge image does not pin its memory.
const KEEP_BUF_BYTES: usize = 16 << 20;

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

fn err(op: &'static str, error: ImageError) -> DisplayError {
    DisplayError::Image { op, error }
}

/// Where the pixels of a resolved image live.
enum Pixels<'a> {
    Bitmap(Source<'a>),
    /// `(source, src_area)` of a SURFACE image.
    Surface(Source<'a>, Rect),
    /// The decode buffer.
    Decoded,
    /// Shared pixels (an image cache entry, a GLZ image): `(width, height, pixels)`.
    Cached(u32, u32, CachedPixels),
}

/// Where [`Images::decode`] put an image.
enum DecodedTo {
    /// The decode buffer (`Images::buf`).
    Buf,
    /// Pixels shared with the GLZ window (GLZ and ZLIB_GLZ images).
    Shared(Decoded),
}

/// What the canvas needs besides [`Images`] to resolve an image.
pub(crate) struct Env<'e> {
    pub palettes: &'e mut PaletteCache,
    pub surfaces: &'e HashMap<u32, Surface>,
    pub stats: &'e mut ImageStats,
}

/// The decode buffers of one display channel, and the image cache and GLZ
/// window it shares with the other display channels of its session.
#[derive(Debug)]
pub(crate) struct Images {
    pub cache: SharedImageCache,
    /// The cache entry the last [`Images::source`] or [`Images::mask`] reads.
    held: Option<CachedPixels>,
    buf: ImageBuf,
    /// ZLIB_GLZ inflate buffer.
    inflate: Vec<u8>,
    /// LZ_PLT palette widened for 16-bit surfaces.
    palette: Vec<u32>,
    pub(super) glz: Option<Arc<GlzWindow>>,
    /// GLZ images of the message being handled, decoded ahead without the
    /// state lock ([`super::DisplayState::handle_predecoded`]).
    pub(super) predecoded: Vec<Predecoded>,
}

impl Default for Images {
    fn default() -> Self {
        Self {
            cache: SharedImageCache::default(),
            held: None,
            buf: ImageBuf::new(),
            inflate: Vec::new(),
            palette: Vec::new(),
            glz: None,
            predecoded: Vec::new(),
        }
    }
}

impl Images {
    pub fn new(cache: SharedImageCache, glz: Option<Arc<GlzWindow>>) -> Self {
        Self {
            cache,
            glz,
            ..Self::default()
        }
    }

    /// The pixels of `image` for a draw onto a `dest` surface, and the
    /// source area to read (translated for SURFACE snapshots).
    ///
    /// The returned [`Source`] borrows `self` (and `image`), not the
    /// surfaces: call it with disjoint fields of the state
    /// (`self.images.source(Env { palettes: &mut self.palettes, surfaces:
    /// &self.surfaces, stats: &mut self.stats.images }, ...)`) and then
    /// take the destination with `self.surfaces.get_mut`.
    pub fn source<'a>(
        &'a mut self,
        env: Env<'_>,
        op: &'static str,
        image: &'a Image,
        dest: SurfaceFormat,
        src_area: &Rect,
    ) -> Result<(Source<'a>, Rect), DisplayError> {
        let pixels = self.resolve(env, op, image, dest, src_area)?;
        let source = match pixels {
            Pixels::Bitmap(s) => s,
            Pixels::Surface(s, area) => return Ok((s, area)),
            Pixels::Decoded => Source::bgra(op, self.buf.width, self.buf.height, self.buf.data.as_slice())?,
            Pixels::Cached(w, h, data) => cached_source(op, w, h, self.held.insert(data))?,
        };
        Ok((source, *src_area))
    }

    fn resolve<'a>(
        &mut self,
        env: Env<'_>,
        op: &'static str,
        image: &'a Image,
        dest: SurfaceFormat,
        src_area: &Rect,
    ) -> Result<Pixels<'a>, DisplayError> {
        let d = &image.descriptor;
        let mismatch = || {
            err(
                op,
                ImageError::KindMismatch {
                    image_type: d.image_type,
                },
            )
        };
        match d.image_type {
            image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS => {
                let (w, h, data) = self.lookup(env.stats, op, d.id, d.image_type == image_type::FROM_CACHE_LOSSLESS)?;
                if let CachedPixels::Encoded(img) = &data {
                    self.decode_encoded(op, img, w, h)?;
                    return Ok(Pixels::Decoded);
                }
                Ok(Pixels::Cached(w, h, data))
            }
            image_type::SURFACE => {
                let ImageKind::Surface { surface_id } = &image.kind else {
                    return Err(mismatch());
                };
                let src = env
                    .surfaces
                    .get(surface_id)
                    .ok_or(DisplayError::NoSuchSurface { op, id: *surface_id })?;
                let (s, area) = Source::from_surface(op, src, src_area)?;
                Ok(Pixels::Surface(s, area))
            }
            image_type::BITMAP => {
                let ImageKind::Bitmap(b) = &image.kind else {
                    return Err(mismatch());
                };
                if (b.width, b.height) != (d.width, d.height) {
                    return Err(size_mismatch(op, "bitmap", d.width, d.height, b.width, b.height));
                }
                let palette = palette(op, env.palettes, &b.palette, b.flags)?;
                let src = Source::bitmap(op, b, palette, dest)?;
                if let Some(mode) = store_mode(op, d.image_type, d.id, d.flags)? {
                    let (w, h) = (d.width, d.height);
                    let alpha = b.format == bitmap_fmt::RGBA;
                    self.cache
                        .lock()
                        .store(d.id, (w, h), alpha, false, mode, env.stats, |out| {
                            fill_from_source(&src, w, out);
                        });
                }
                Ok(Pixels::Bitmap(src))
            }
            _ => {
                let mode = store_mode(op, d.image_type, d.id, d.flags)?;
                let decoded = self.decode(op, image, dest, env.palettes)?;
                env.stats.decoded = env.stats.decoded.saturating_add(1);
                if let DecodedTo::Shared(g) = decoded {
                    if (g.width, g.height) != (d.width, d.height) {
                        return Err(size_mismatch(
                            op,
                            codec_name(d.image_type),
                            d.width,
                            d.height,
                            g.width,
                            g.height,
                        ));
                    }
                    // A GLZ image without alpha has every alpha byte at 255
                    // already: HIGH_BITS_SET changes nothing, and the pixels
                    // (shared with the GLZ window) are cached without a copy.
                    if let Some(mode) = mode {
                        self.cache.lock().store_shared(
                            d.id,
                            (g.width, g.height),
                            g.has_alpha,
                            false,
                            mode,
                            env.stats,
                            Arc::clone(&g.pixels),
                        );
                    }
                    return Ok(Pixels::Cached(g.width, g.height, CachedPixels::Full(g.pixels)));
                }
                if (self.buf.width, self.buf.height) != (d.width, d.height) {
                    let (w, h) = (self.buf.width, self.buf.height);
                    return Err(size_mismatch(op, codec_name(d.image_type), d.width, d.height, w, h));
                }
                if d.flags & image_flags::HIGH_BITS_SET != 0 && !self.buf.has_alpha {
                    self.buf
                        .data
                        .iter_mut()
                        .skip(3)
                        .step_by(BYTES_PER_PIXEL)
                        .for_each(|a| *a = 0xff);
                }
                if let Some(mode) = mode {
                    let lossy = is_lossy(d.image_type);
                    let buf = &self.buf;
                    let mut cache = self.cache.lock();
                    let stored = cache.store(
                        d.id,
                        (buf.width, buf.height),
                        buf.has_alpha,
                        lossy,
                        mode,
                        env.stats,
                        |out| {
                            if out.len() == buf.data.len() {
                                out.copy_from_slice(&buf.data);
                            }
                        },
                    );
                    if stored == Stored::Yes && decodes_alone(d.image_type) {
                        cache.keep_encoded(d.id, Arc::new(image.clone()));
                    }
                }
                Ok(Pixels::Decoded)
            }
        }
    }

    /// The pixels of a mask image (`QMask`): a 1-bit BITMAP (1BIT_LE or
    /// 1BIT_BE), or FROM_CACHE / FROM_CACHE_LOSSLESS of a mask cached
    /// earlier. A set bit reads as white (255 in every byte), a clear bit as
    /// opaque black (0, 0, 0, 255). A `CACHE_ME` mask is stored that way,
    /// not inverted: like spice-common, the `INVERS` flag applies when the
    /// mask is used. SURFACE masks are the caller's (they need no copy).
    #[allow(dead_code)] // for the draw ops' masks (src/display/ops)
    pub fn mask<'a>(
        &'a mut self,
        stats: &mut ImageStats,
        op: &'static str,
        image: &'a Image,
    ) -> Result<Source<'a>, DisplayError> {
        let d = &image.descriptor;
        match (d.image_type, &image.kind) {
            (image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS, _) => {
                let (w, h, data) = self.lookup(stats, op, d.id, d.image_type == image_type::FROM_CACHE_LOSSLESS)?;
                if let CachedPixels::Encoded(img) = &data {
                    self.decode_encoded(op, img, w, h)?;
                    return Source::bgra(op, self.buf.width, self.buf.height, self.buf.data.as_slice());
                }
                cached_source(op, w, h, self.held.insert(data))
            }
            (image_type::BITMAP, ImageKind::Bitmap(b)) => {
                if !matches!(b.format, bitmap_fmt::BIT1_LE | bitmap_fmt::BIT1_BE) {
                    return Err(DisplayError::Unsupported {
                        op,
                        what: Unsupported::BitmapFormat(b.format),
                    });
                }
                if (b.width, b.height) != (d.width, d.height) {
                    return Err(size_mismatch(op, "bitmap", d.width, d.height, b.width, b.height));
                }
                let src = Source::bitmap(op, b, Some(&MASK_PALETTE), SurfaceFormat::Xrgb32)?;
                if d.flags & image_flags::CACHE_ME != 0 {
                    let (w, h) = (d.width, d.height);
                    self.cache
                        .lock()
                        .store(d.id, (w, h), false, false, StoreMode::Add, stats, |out| {
                            fill_from_source(&src, w, out);
                        });
                }
                Ok(src)
            }
            (image_type::BITMAP, _) => Err(err(
                op,
                ImageError::KindMismatch {
                    image_type: d.image_type,
                },
            )),
            (t, _) => Err(DisplayError::Unsupported {
                op,
                what: Unsupported::ImageType(t),
            }),
        }
    }

    /// FROM_CACHE (`lossless`: FROM_CACHE_LOSSLESS) of `id`, counted:
    /// the entry's width, height and pixels.
    fn lookup(
        &mut self,
        stats: &mut ImageStats,
        op: &'static str,
        id: u64,
        lossless: bool,
    ) -> Result<(u32, u32, CachedPixels), DisplayError> {
        let mut cache = self.cache.lock();
        let e = match cache.lookup(id, lossless) {
            Lookup::Hit => {
                if let Some(e) = cache.peek(id) {
                    stats.cache_hits = stats.cache_hits.saturating_add(1);
                    return Ok((e.width, e.height, e.shared_pixels()));
                }
                ImageError::CacheMissing { id }
            }
            Lookup::Missing => ImageError::CacheMissing { id },
            Lookup::Lossy => ImageError::CacheLossy { id },
        };
        stats.cache_misses = stats.cache_misses.saturating_add(1);
        Err(err(op, e))
    }

    /// Decodes the encoded image an aged cache entry keeps into `self.buf`.
    fn decode_encoded(&mut self, op: &'static str, img: &Image, w: u32, h: u32) -> Result<(), DisplayError> {
        decode_standalone(img, &mut self.buf).map_err(|e| err(op, ImageError::Codec(e)))?;
        if (self.buf.width, self.buf.height) != (w, h) {
            let (gw, gh) = (self.buf.width, self.buf.height);
            return Err(size_mismatch(op, codec_name(img.descriptor.image_type), w, h, gw, gh));
        }
        Ok(())
    }

    /// Runs the codec of `image` into `self.buf`, or into pixels shared with
    /// the GLZ window for GLZ images.
    fn decode(
        &mut self,
        op: &'static str,
        image: &Image,
        dest: SurfaceFormat,
        palettes: &mut PaletteCache,
    ) -> Result<DecodedTo, DisplayError> {
        let d = &image.descriptor;
        let name = codec_name(d.image_type);
        let mismatch = || {
            err(
                op,
                ImageError::KindMismatch {
                    image_type: d.image_type,
                },
            )
        };
        if !is_compressed(d.image_type) {
            return Err(DisplayError::Unsupported {
                op,
                what: Unsupported::ImageType(d.image_type),
            });
        }
        if let Some(p) = self
            .predecoded
            .iter_mut()
            .find(|p| !p.used && p.id == d.id && p.image_type == d.image_type)
        {
            // Decoded (and waited for) before the state lock was taken.
            p.used = true;
            return p
                .result
                .clone()
                .map(DecodedTo::Shared)
                .map_err(|e| err(op, ImageError::Codec(e)));
        }
        let codec_err = |e| err(op, ImageError::Codec(e));
        match (d.image_type, &image.kind) {
            (image_type::GLZ_RGB, ImageKind::Binary(data)) => {
                let window = self
                    .glz
                    .get_or_insert_with(|| Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES)));
                return window
                    .decode_shared(data, Absent::Missing)
                    .map(DecodedTo::Shared)
                    .map_err(codec_err);
            }
            (image_type::ZLIB_GLZ_RGB, ImageKind::ZlibGlz { glz_data_size, data }) => {
                let window = self
                    .glz
                    .get_or_insert_with(|| Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES)));
                return codec::zlib_glz::decode_shared(
                    *glz_data_size,
                    data,
                    window,
                    &mut self.inflate,
                    Absent::Missing,
                )
                .map(DecodedTo::Shared)
                .map_err(codec_err);
            }
            _ => {}
        }
        let wanted = usize::try_from(u64::from(d.width).saturating_mul(u64::from(d.height)).saturating_mul(4))
            .unwrap_or(usize::MAX);
        if self.buf.data.capacity() > KEEP_BUF_BYTES && self.buf.data.capacity() / 4 > wanted {
            self.buf.data = Vec::new();
        }
        if d.image_type == image_type::LZ4 {
            // LZ4 data has no size header: the buffer is sized from the
            // descriptor (failing before allocating beyond the decoder
            // limits). The other codecs size it from their own header.
            // An LZ4 byte expands to at most 255 output bytes, and every
            // LZ4 format has at least 2 bytes per pixel: refuse a descriptor
            // the payload cannot possibly fill before allocating for it.
            let payload = match &image.kind {
                ImageKind::Binary(data) => data.len() as u64,
                _ => 0,
            };
            let min_output = u64::from(d.width).saturating_mul(u64::from(d.height)).saturating_mul(2);
            let over_limits = d.width > codec::MAX_DIM
                || d.height > codec::MAX_DIM
                || min_output.saturating_mul(2) > codec::MAX_BYTES;
            if !over_limits && payload.saturating_mul(255).saturating_add(64) < min_output {
                return Err(err(
                    op,
                    ImageError::Codec(codec::CodecError::Truncated { codec: "lz4" }),
                ));
            }
            self.buf
                .reset(name, d.width, d.height)
                .map_err(|e| err(op, ImageError::Codec(e)))?;
        }
        let buf = &mut self.buf;
        let r = match (d.image_type, &image.kind) {
            (image_type::QUIC, ImageKind::Binary(data)) => codec::quic::decode(data, buf),
            (image_type::LZ_RGB, ImageKind::Binary(data)) => codec::lz::decode(data, None, buf),
            (image_type::LZ4, ImageKind::Binary(data)) => codec::lz4::decode(data, buf),
            (image_type::JPEG, ImageKind::Binary(data)) => codec::jpeg::decode(data, buf),
            (image_type::JPEG_ALPHA, ImageKind::JpegAlpha { flags, jpeg_size, data }) => {
                codec::jpeg::decode_alpha(*flags, *jpeg_size, data, buf)
            }
            (
                image_type::LZ_PLT,
                ImageKind::LzPalette {
                    flags,
                    palette: p,
                    data,
                },
            ) => {
                let entries = palette(op, palettes, p, *flags)?.ok_or(DisplayError::NoPalette { op })?;
                let entries = if dest == SurfaceFormat::Rgb555 {
                    self.palette.clear();
                    self.palette.extend(entries.iter().map(|&e| {
                        let [b, g, r, _] = rgb555_to_bgra(u16::try_from(e & 0xffff).unwrap_or(0));
                        u32::from_le_bytes([b, g, r, 0])
                    }));
                    self.palette.as_slice()
                } else {
                    entries
                };
                codec::lz::decode(data, Some(entries), buf)
            }
            _ => return Err(mismatch()),
        };
        r.map(|()| DecodedTo::Buf).map_err(codec_err)
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
        buf.data
            .iter_mut()
            .skip(3)
            .step_by(BYTES_PER_PIXEL)
            .for_each(|a| *a = 0xff);
    }
    Ok(())
}

/// A source reading cached (or GLZ-shared) pixels in place.
fn cached_source<'a>(op: &'static str, w: u32, h: u32, pixels: &'a CachedPixels) -> Result<Source<'a>, DisplayError> {
    match pixels {
        CachedPixels::Full(data) => Source::bgra(op, w, h, data.as_slice()),
        CachedPixels::Packed(p) => Source::indexed(op, w, h, p.bits, &p.lut, &p.data),
        // Decoded by the caller (`Images::decode_encoded`) before it gets here.
        CachedPixels::Encoded(_) => Err(DisplayError::BadBitmap {
            op,
            reason: "encoded cache entry not decoded",
        }),
    }
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

/// The palette of a BITMAP or LZ_PLT image: inline (stored when
/// `PAL_CACHE_ME`) or from the palette cache.
fn palette<'p>(
    op: &'static str,
    palettes: &'p mut PaletteCache,
    p: &'p PaletteRef,
    flags: u8,
) -> Result<Option<&'p [u32]>, DisplayError> {
    Ok(match p {
        PaletteRef::None => None,
        PaletteRef::Inline(p) => {
            if flags & bitmap_flags::PAL_CACHE_ME != 0 {
                palettes.insert(p.unique, &p.entries);
            }
            Some(p.entries.as_slice())
        }
        PaletteRef::Cached(id) => Some(palettes.get(*id).ok_or(DisplayError::PaletteMissing { op, id: *id })?),
    })
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
