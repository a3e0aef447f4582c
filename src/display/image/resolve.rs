//! Preparing images: the codecs, the image cache and the palette cache, run
//! by the channel's decoder before the state lock is taken (see the parent
//! module).

use std::sync::Arc;

use crate::budget::{MemoryBudget, Reservation};

use super::{
    Held, ImageError, MASK_PALETTE, MaskBits, Ready, codec_name, decode_standalone, decodes_alone, err,
    fill_from_source, is_compressed, is_lossy, mismatch, opaque_alpha, size_mismatch, store_mode,
};
use crate::codec::glz::{Absent, Decoded, GlzWindow};
use crate::codec::{self, CodecError, ImageBuf};
use crate::display::bitmap::{PaletteCache, Source};
use crate::display::cache::{CachedPixels, ImageStats, Lookup, SharedImageCache, StoreMode, Stored};
use crate::display::surface::{SurfaceFormat, rgb555_to_bgra};
use crate::display::{DisplayError, Unsupported};
use crate::proto::channel::display::{Image, ImageKind, PaletteRef, bitmap_flags, bitmap_fmt, image_flags, image_type};

/// A decode buffer keeping more than this many bytes is released when a
/// much smaller image comes, so one huge image does not pin its memory.
const KEEP_BUF_BYTES: usize = 16 << 20;
/// Decode buffers kept for reuse (a message has at most three images).
const POOL: usize = 3;

/// Where [`Images::decode`] put an image.
enum DecodedTo {
    Buf(ImageBuf),
    /// Pixels shared with the GLZ window (GLZ and ZLIB_GLZ images).
    Shared(Decoded),
}

/// What preparing an image needs besides [`Images`].
pub(crate) struct Env<'e> {
    pub palettes: &'e mut PaletteCache,
    pub stats: &'e mut ImageStats,
}

/// The decode buffers of one display channel, and the image cache and GLZ
/// window it shares with the other display channels of its session.
#[derive(Debug)]
pub(crate) struct Images {
    pub cache: SharedImageCache,
    pub glz: Arc<GlzWindow>,
    /// Decode buffers not in use (given back after each draw).
    pool: Vec<ImageBuf>,
    /// ZLIB_GLZ inflate buffer.
    inflate: Vec<u8>,
    /// LZ_PLT palette widened for 16-bit surfaces.
    palette: Vec<u32>,
    /// The session's memory budget: each image's pixels are reserved from
    /// it while the codec runs (`None`: only the codec limits apply).
    budget: Option<Arc<MemoryBudget>>,
}

impl Images {
    pub fn new(cache: SharedImageCache, glz: Arc<GlzWindow>) -> Self {
        Self {
            cache,
            glz,
            pool: Vec::new(),
            inflate: Vec::new(),
            palette: Vec::new(),
            budget: None,
        }
    }

    /// Counts decoded images, and the image cache and GLZ window (when no
    /// budget counts them yet), against the session's memory `budget`.
    pub fn set_budget(&mut self, budget: Arc<MemoryBudget>) {
        self.cache.lock().attach_budget(&budget);
        self.glz.attach_budget(&budget);
        self.budget = Some(budget);
    }

    /// Reserves an image's pixels for the time of its decoding.
    fn reserve(&self, op: &'static str, bytes: u64) -> Result<Option<Reservation>, DisplayError> {
        let Some(budget) = &self.budget else {
            return Ok(None);
        };
        budget.reserve(bytes).map(Some).map_err(|e| DisplayError::OverBudget {
            op,
            requested: e.requested,
            used: e.used,
            limit: e.limit,
        })
    }

    /// Keeps a buffer of a failed decode only when it is of a usual size:
    /// a hostile header must not leave its allocation behind.
    fn discard(&mut self, buf: ImageBuf) {
        if buf.data.capacity() <= KEEP_BUF_BYTES {
            self.give_back(buf);
        }
    }

    /// Gives a decode buffer back for the next images.
    pub fn give_back(&mut self, buf: ImageBuf) {
        if self.pool.len() < POOL {
            self.pool.push(buf);
        }
    }

    /// A decode buffer for an image of `wanted` bytes.
    fn take_buf(&mut self, wanted: usize) -> ImageBuf {
        let mut buf = self.pool.pop().unwrap_or_default();
        if buf.data.capacity() > KEEP_BUF_BYTES && buf.data.capacity() / 4 > wanted {
            buf.data = Vec::new();
        }
        buf
    }

    /// Prepares a source image (or brush pattern) of a draw onto a `dest`
    /// surface. With [`Absent::Pending`], a GLZ image referencing an image
    /// that has not arrived yet fails with [`CodecError::GlzPending`] and
    /// changes nothing.
    pub fn resolve(
        &mut self,
        env: Env<'_>,
        op: &'static str,
        image: &Image,
        dest: SurfaceFormat,
        absent: Absent,
    ) -> Result<Ready, DisplayError> {
        let d = &image.descriptor;
        match d.image_type {
            image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS => {
                let lossless = d.image_type == image_type::FROM_CACHE_LOSSLESS;
                let (width, height, data) = self.lookup(env.stats, op, d.id, lossless)?;
                self.cached(op, width, height, data)
            }
            image_type::SURFACE => Ok(Ready::Surface),
            image_type::BITMAP => {
                let ImageKind::Bitmap(b) = &image.kind else {
                    return Err(mismatch(op, d.image_type));
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
                Ok(Ready::Bitmap {
                    lut: src.lut().to_vec(),
                })
            }
            _ => {
                let mode = store_mode(op, d.image_type, d.id, d.flags)?;
                let decoded = self.decode(op, image, dest, env.palettes, absent)?;
                env.stats.decoded = env.stats.decoded.saturating_add(1);
                match decoded {
                    DecodedTo::Shared(g) => self.shared(op, image, g, mode, env.stats),
                    DecodedTo::Buf(buf) => self.decoded(op, image, buf, mode, env.stats),
                }
            }
        }
    }

    /// A GLZ image decoded into pixels shared with the window.
    fn shared(
        &mut self,
        op: &'static str,
        image: &Image,
        g: Decoded,
        mode: Option<StoreMode>,
        stats: &mut ImageStats,
    ) -> Result<Ready, DisplayError> {
        let d = &image.descriptor;
        if (g.width, g.height) != (d.width, d.height) {
            let name = codec_name(d.image_type);
            return Err(size_mismatch(op, name, d.width, d.height, g.width, g.height));
        }
        // A GLZ image without alpha has every alpha byte at 255 already:
        // HIGH_BITS_SET changes nothing, and the pixels (shared with the GLZ
        // window) are cached without a copy.
        if let Some(mode) = mode {
            self.cache.lock().store_shared(
                d.id,
                (g.width, g.height),
                g.has_alpha,
                false,
                mode,
                stats,
                Arc::clone(&g.pixels),
            );
        }
        Ok(Ready::Pixels {
            width: g.width,
            height: g.height,
            pixels: Held::Full(g.pixels),
        })
    }

    /// An image decoded into a pool buffer: size check, HIGH_BITS_SET, cache store.
    fn decoded(
        &mut self,
        op: &'static str,
        image: &Image,
        mut buf: ImageBuf,
        mode: Option<StoreMode>,
        stats: &mut ImageStats,
    ) -> Result<Ready, DisplayError> {
        let d = &image.descriptor;
        if (buf.width, buf.height) != (d.width, d.height) {
            let (w, h) = (buf.width, buf.height);
            self.give_back(buf);
            return Err(size_mismatch(op, codec_name(d.image_type), d.width, d.height, w, h));
        }
        if d.flags & image_flags::HIGH_BITS_SET != 0 && !buf.has_alpha {
            opaque_alpha(&mut buf.data);
        }
        if let Some(mode) = mode {
            let lossy = is_lossy(d.image_type);
            let encoded = decodes_alone(d.image_type).then(|| Arc::new(image.clone()));
            let mut cache = self.cache.lock();
            let stored = cache.store(
                d.id,
                (buf.width, buf.height),
                buf.has_alpha,
                lossy,
                mode,
                stats,
                |out| {
                    if out.len() == buf.data.len() {
                        out.copy_from_slice(&buf.data);
                    }
                },
            );
            if let (Stored::Yes, Some(encoded)) = (stored, encoded) {
                cache.keep_encoded(d.id, encoded);
            }
        }
        Ok(Ready::Pixels {
            width: buf.width,
            height: buf.height,
            pixels: Held::Buf(buf),
        })
    }

    /// The pixels of a cache entry (decoded again if it keeps its encoded image).
    fn cached(&mut self, op: &'static str, w: u32, h: u32, data: CachedPixels) -> Result<Ready, DisplayError> {
        let pixels = match data {
            CachedPixels::Full(p) => Held::Full(p),
            CachedPixels::Packed(p) => Held::Packed(p),
            CachedPixels::Encoded(img) => Held::Buf(self.decode_encoded(op, &img, w, h)?),
        };
        Ok(Ready::Pixels {
            width: w,
            height: h,
            pixels,
        })
    }

    /// Prepares the image of a mask (`QMask`): a 1-bit BITMAP (1BIT_LE or
    /// 1BIT_BE), FROM_CACHE / FROM_CACHE_LOSSLESS of a mask cached earlier,
    /// or an A1 SURFACE (read by the draw). A set bit is white (255 in every
    /// byte), a clear bit opaque black (0, 0, 0, 255). A `CACHE_ME` mask is
    /// stored that way, not inverted: like spice-common, the `INVERS` flag
    /// applies when the mask is used.
    pub fn mask(&mut self, stats: &mut ImageStats, op: &'static str, image: &Image) -> Result<Ready, DisplayError> {
        let d = &image.descriptor;
        match (d.image_type, &image.kind) {
            (image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS, _) => {
                let lossless = d.image_type == image_type::FROM_CACHE_LOSSLESS;
                let (w, h, data) = self.lookup(stats, op, d.id, lossless)?;
                let Ready::Pixels { width, height, pixels } = self.cached(op, w, h, data)? else {
                    return Err(super::not_prepared(op));
                };
                let bits = MaskBits::from_source(&super::held_source(op, width, height, &pixels)?);
                if let Held::Buf(buf) = pixels {
                    self.give_back(buf);
                }
                Ok(Ready::Mask(bits))
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
                Ok(Ready::Mask(MaskBits::from_source(&src)))
            }
            (image_type::BITMAP, _) => Err(mismatch(op, d.image_type)),
            (_, ImageKind::Surface { .. }) => Ok(Ready::Surface),
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

    /// Decodes the encoded image an aged cache entry keeps.
    fn decode_encoded(&mut self, op: &'static str, img: &Image, w: u32, h: u32) -> Result<ImageBuf, DisplayError> {
        let wanted = usize::try_from(u64::from(w).saturating_mul(u64::from(h)).saturating_mul(4)).unwrap_or(usize::MAX);
        let _held = self.reserve(op, wanted as u64)?;
        let mut buf = self.take_buf(wanted);
        buf.cap = Some((w, h));
        if let Err(e) = decode_standalone(img, &mut buf) {
            self.discard(buf);
            return Err(err(op, ImageError::Codec(e)));
        }
        if (buf.width, buf.height) != (w, h) {
            let (gw, gh) = (buf.width, buf.height);
            self.give_back(buf);
            return Err(size_mismatch(op, codec_name(img.descriptor.image_type), w, h, gw, gh));
        }
        Ok(buf)
    }

    /// Runs the codec of `image` into a pool buffer, or into pixels shared
    /// with the GLZ window for GLZ images.
    fn decode(
        &mut self,
        op: &'static str,
        image: &Image,
        dest: SurfaceFormat,
        palettes: &mut PaletteCache,
        absent: Absent,
    ) -> Result<DecodedTo, DisplayError> {
        let d = &image.descriptor;
        let name = codec_name(d.image_type);
        if !is_compressed(d.image_type) {
            return Err(DisplayError::Unsupported {
                op,
                what: Unsupported::ImageType(d.image_type),
            });
        }
        let codec_err = |e| err(op, ImageError::Codec(e));
        match (d.image_type, &image.kind) {
            (image_type::GLZ_RGB, ImageKind::Binary(data)) => {
                return self
                    .glz
                    .decode_shared(data, absent)
                    .map(DecodedTo::Shared)
                    .map_err(codec_err);
            }
            (image_type::ZLIB_GLZ_RGB, ImageKind::ZlibGlz { glz_data_size, data }) => {
                return codec::zlib_glz::decode_shared(*glz_data_size, data, &self.glz, &mut self.inflate, absent)
                    .map(DecodedTo::Shared)
                    .map_err(codec_err);
            }
            _ => {}
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
                return Err(codec_err(CodecError::Truncated { codec: "lz4" }));
            }
        }
        // The palette first: a missing one fails before a buffer is taken.
        let entries = match (d.image_type, &image.kind) {
            (
                image_type::LZ_PLT,
                ImageKind::LzPalette {
                    flags,
                    palette: p,
                    data: _,
                },
            ) => {
                let entries = palette(op, palettes, p, *flags)?.ok_or(DisplayError::NoPalette { op })?;
                if dest == SurfaceFormat::Rgb555 {
                    self.palette.clear();
                    self.palette.extend(entries.iter().map(|&e| {
                        let [b, g, r, _] = rgb555_to_bgra(u16::try_from(e & 0xffff).unwrap_or(0));
                        u32::from_le_bytes([b, g, r, 0])
                    }));
                } else {
                    self.palette.clear();
                    self.palette.extend_from_slice(entries);
                }
                Some(())
            }
            _ => None,
        };
        let wanted_bytes = u64::from(d.width).saturating_mul(u64::from(d.height)).saturating_mul(4);
        let wanted = usize::try_from(wanted_bytes).unwrap_or(usize::MAX);
        // Held while the codec runs; the codec may not size its output past
        // the descriptor (`cap`), so nothing beyond the reservation is allocated.
        let _held = self.reserve(op, wanted_bytes)?;
        let mut buf = self.take_buf(wanted);
        buf.cap = Some((d.width, d.height));
        if d.image_type == image_type::LZ4
            && let Err(e) = buf.reset(name, d.width, d.height)
        {
            self.discard(buf);
            return Err(codec_err(e));
        }
        let r = match (d.image_type, &image.kind) {
            (image_type::QUIC, ImageKind::Binary(data)) => codec::quic::decode(data, &mut buf),
            (image_type::LZ_RGB, ImageKind::Binary(data)) => codec::lz::decode(data, None, &mut buf),
            (image_type::LZ4, ImageKind::Binary(data)) => codec::lz4::decode(data, &mut buf),
            (image_type::JPEG, ImageKind::Binary(data)) => codec::jpeg::decode(data, &mut buf),
            (image_type::JPEG_ALPHA, ImageKind::JpegAlpha { flags, jpeg_size, data }) => {
                codec::jpeg::decode_alpha(*flags, *jpeg_size, data, &mut buf)
            }
            (image_type::LZ_PLT, ImageKind::LzPalette { data, .. }) if entries.is_some() => {
                codec::lz::decode(data, Some(&self.palette), &mut buf)
            }
            _ => {
                self.give_back(buf);
                return Err(mismatch(op, d.image_type));
            }
        };
        match r {
            Ok(()) => Ok(DecodedTo::Buf(buf)),
            Err(e) => {
                self.discard(buf);
                Err(codec_err(e))
            }
        }
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
