//! `Image` and its parts: descriptors, palettes, bitmaps, compressed payloads.

use super::*;
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::{DecodeError, ProtoResult};

/// `ImageDescriptor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageDescriptor {
    pub id: u64,
    /// One of [`image_type`].
    pub image_type: u8,
    /// Bits of [`image_flags`].
    pub flags: u8,
    pub width: u32,
    pub height: u32,
}

/// `Palette`: `entries` are xRGB colours (or 555 values for 16-bit surfaces).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Palette {
    pub unique: u64,
    pub entries: Vec<u32>,
}

/// Where a palettised bitmap finds its palette.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PaletteRef {
    /// Null palette pointer.
    #[default]
    None,
    Inline(Palette),
    /// `PAL_FROM_CACHE`: the id of a palette sent earlier with `PAL_CACHE_ME`.
    Cached(u64),
}

/// `BitmapData`: an uncompressed image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitmap {
    /// One of [`bitmap_fmt`].
    pub format: u8,
    /// Bits of [`bitmap_flags`]; rows are bottom-up unless `TOP_DOWN`.
    pub flags: u8,
    /// `x`: width in pixels.
    pub width: u32,
    /// `y`: height in rows.
    pub height: u32,
    /// Bytes per row in `data`.
    pub stride: u32,
    pub palette: PaletteRef,
    /// `stride * height` bytes.
    pub data: Vec<u8>,
}

/// The type-specific part of an `Image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageKind {
    Bitmap(Bitmap),
    /// `BinaryData` of QUIC, LZ_RGB, GLZ_RGB, JPEG and LZ4 images (raw, undecoded).
    Binary(Vec<u8>),
    /// `LZPLTData` (raw, undecoded).
    LzPalette {
        flags: u8,
        palette: PaletteRef,
        data: Vec<u8>,
    },
    /// `ZlibGlzRGBData` (raw, undecoded).
    ZlibGlz {
        glz_data_size: u32,
        data: Vec<u8>,
    },
    /// `JPEGAlphaData` (raw, undecoded).
    JpegAlpha {
        flags: u8,
        jpeg_size: u32,
        data: Vec<u8>,
    },
    /// Pixels taken from another surface.
    Surface {
        surface_id: u32,
    },
    /// No type-specific data: FROM_CACHE, FROM_CACHE_LOSSLESS, RESERVED and
    /// image types this version does not know.
    NoData,
}

/// `Image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub descriptor: ImageDescriptor,
    pub kind: ImageKind,
}

/// Follows a pointer field: `None` for 0, an error when it points outside the body.
pub(super) fn pointer<'a>(body: &'a [u8], what: &'static str, offset: u32) -> ProtoResult<Option<ReadCursor<'a>>> {
    if offset == 0 {
        return Ok(None);
    }
    let off = usize::try_from(offset).map_err(|_| DecodeError::Overflow { what })?;
    if off >= body.len() {
        return Err(DecodeError::BadOffset {
            what,
            offset: u64::from(offset),
            len: body.len(),
        });
    }
    ReadCursor::at_offset(body, what, offset).map(Some)
}

/// Reads `u32 size; u8 data[size]` inline.
pub(super) fn read_sized(r: &mut ReadCursor<'_>, body: &[u8], what: &'static str) -> ProtoResult<Vec<u8>> {
    let n = r.read_u32(what)?;
    let n = checked_array_len(what, u64::from(n), 1, body_len(body))?;
    Ok(r.read_slice(what, n)?.to_vec())
}

impl Palette {
    pub(super) fn decode_at(body: &[u8], offset: u32) -> ProtoResult<Option<Self>> {
        let Some(mut r) = pointer(body, "palette", offset)? else {
            return Ok(None);
        };
        let unique = r.read_u64("palette unique")?;
        let n = r.read_u16("palette num_ents")?;
        let bytes = checked_array_len("palette entries", u64::from(n), 4, body_len(body))?;
        r.ensure("palette entries", bytes)?;
        let mut entries = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            entries.push(r.read_u32("palette entry")?);
        }
        Ok(Some(Self { unique, entries }))
    }

    pub(super) fn encode(&self, w: &mut WriteCursor) {
        w.write_u64(self.unique);
        let n = u16::try_from(self.entries.len()).unwrap_or(u16::MAX);
        w.write_u16(n);
        for e in self.entries.iter().take(usize::from(n)) {
            w.write_u32(*e);
        }
    }
}

/// Reads the palette switch shared by `BitmapData` and `LZPLTData`.
pub(super) fn decode_palette_ref(
    r: &mut ReadCursor<'_>,
    body: &[u8],
    flags: u8,
    nonnull: bool,
) -> ProtoResult<PaletteRef> {
    if flags & bitmap_flags::PAL_FROM_CACHE != 0 {
        return Ok(PaletteRef::Cached(r.read_u64("palette id")?));
    }
    let off = r.read_u32("palette offset")?;
    match Palette::decode_at(body, off)? {
        Some(p) => Ok(PaletteRef::Inline(p)),
        None if nonnull => Err(DecodeError::invalid("palette offset (must not be null)", off)),
        None => Ok(PaletteRef::None),
    }
}

/// Bitmap flags with `PAL_FROM_CACHE` set exactly when the palette is a cache id,
/// so that encoded bytes always decode.
pub(super) fn palette_flags(flags: u8, p: &PaletteRef) -> u8 {
    match p {
        PaletteRef::Cached(_) => flags | bitmap_flags::PAL_FROM_CACHE,
        _ => flags & !bitmap_flags::PAL_FROM_CACHE,
    }
}

/// Writes the palette switch; returns the position of a palette offset to patch.
pub(super) fn encode_palette_ref(p: &PaletteRef, w: &mut WriteCursor) -> Option<usize> {
    match p {
        PaletteRef::Cached(id) => {
            w.write_u64(*id);
            None
        }
        PaletteRef::None => {
            w.write_u32(0);
            None
        }
        PaletteRef::Inline(_) => {
            let pos = w.len();
            w.write_u32(0);
            Some(pos)
        }
    }
}

impl Image {
    /// Decodes the image an offset points to; `None` for a null pointer.
    pub fn decode_at(body: &[u8], what: &'static str, offset: u32) -> ProtoResult<Option<Self>> {
        let Some(mut r) = pointer(body, what, offset)? else {
            return Ok(None);
        };
        let descriptor = ImageDescriptor {
            id: r.read_u64("image id")?,
            image_type: r.read_u8("image type")?,
            flags: r.read_u8("image flags")?,
            width: r.read_u32("image width")?,
            height: r.read_u32("image height")?,
        };
        let kind = match descriptor.image_type {
            image_type::BITMAP => {
                let format = r.read_u8("bitmap format")?;
                let flags = r.read_u8("bitmap flags")?;
                let width = r.read_u32("bitmap width")?;
                let height = r.read_u32("bitmap height")?;
                let stride = r.read_u32("bitmap stride")?;
                let palette = decode_palette_ref(&mut r, body, flags, false)?;
                let n = checked_array_len("bitmap data", u64::from(stride), u64::from(height), body_len(body))?;
                let data = r.read_slice("bitmap data", n)?.to_vec();
                ImageKind::Bitmap(Bitmap {
                    format,
                    flags,
                    width,
                    height,
                    stride,
                    palette,
                    data,
                })
            }
            image_type::QUIC | image_type::LZ_RGB | image_type::GLZ_RGB | image_type::JPEG | image_type::LZ4 => {
                ImageKind::Binary(read_sized(&mut r, body, "image data")?)
            }
            image_type::LZ_PLT => {
                let flags = r.read_u8("lz_plt flags")?;
                let size = r.read_u32("lz_plt data_size")?;
                let palette = decode_palette_ref(&mut r, body, flags, true)?;
                let n = checked_array_len("lz_plt data", u64::from(size), 1, body_len(body))?;
                let data = r.read_slice("lz_plt data", n)?.to_vec();
                ImageKind::LzPalette { flags, palette, data }
            }
            image_type::ZLIB_GLZ_RGB => {
                let glz_data_size = r.read_u32("zlib_glz glz_data_size")?;
                let data = read_sized(&mut r, body, "zlib_glz data")?;
                ImageKind::ZlibGlz { glz_data_size, data }
            }
            image_type::JPEG_ALPHA => {
                let flags = r.read_u8("jpeg_alpha flags")?;
                let jpeg_size = r.read_u32("jpeg_alpha jpeg_size")?;
                let data = read_sized(&mut r, body, "jpeg_alpha data")?;
                ImageKind::JpegAlpha { flags, jpeg_size, data }
            }
            image_type::SURFACE => ImageKind::Surface {
                surface_id: r.read_u32("image surface_id")?,
            },
            _ => ImageKind::NoData,
        };
        Ok(Some(Self { descriptor, kind }))
    }

    /// Appends the image at the end of `w` (whose position 0 is the body start).
    pub fn encode(&self, w: &mut WriteCursor) {
        let d = &self.descriptor;
        w.write_u64(d.id);
        w.write_u8(d.image_type);
        w.write_u8(d.flags);
        w.write_u32(d.width);
        w.write_u32(d.height);
        let mut pending = None;
        match &self.kind {
            ImageKind::Bitmap(b) => {
                w.write_u8(b.format);
                w.write_u8(palette_flags(b.flags, &b.palette));
                w.write_u32(b.width);
                w.write_u32(b.height);
                w.write_u32(b.stride);
                pending = encode_palette_ref(&b.palette, w).zip(Some(&b.palette));
                w.write_slice(&b.data);
            }
            ImageKind::Binary(data) => {
                w.write_u32(len_u32(data.len()));
                w.write_slice(data);
            }
            ImageKind::LzPalette { flags, palette, data } => {
                w.write_u8(palette_flags(*flags, palette));
                w.write_u32(len_u32(data.len()));
                pending = encode_palette_ref(palette, w).zip(Some(palette));
                w.write_slice(data);
            }
            ImageKind::ZlibGlz { glz_data_size, data } => {
                w.write_u32(*glz_data_size);
                w.write_u32(len_u32(data.len()));
                w.write_slice(data);
            }
            ImageKind::JpegAlpha { flags, jpeg_size, data } => {
                w.write_u8(*flags);
                w.write_u32(*jpeg_size);
                w.write_u32(len_u32(data.len()));
                w.write_slice(data);
            }
            ImageKind::Surface { surface_id } => w.write_u32(*surface_id),
            ImageKind::NoData => {}
        }
        if let Some((pos, PaletteRef::Inline(p))) = pending {
            w.patch_u32(pos, len_u32(w.len()));
            p.encode(w);
        }
    }
}

/// Out-of-line images of one message, written after its fixed part.
#[derive(Default)]
pub(super) struct Deferred<'a> {
    pub(super) items: Vec<(usize, &'a Image)>,
}

impl<'a> Deferred<'a> {
    /// Writes a pointer placeholder for `img` (0 when absent).
    pub(super) fn pointer(&mut self, w: &mut WriteCursor, img: Option<&'a Image>) {
        if let Some(img) = img {
            self.items.push((w.len(), img));
        }
        w.write_u32(0);
    }

    pub(super) fn flush(self, w: &mut WriteCursor) {
        for (pos, img) in self.items {
            w.patch_u32(pos, len_u32(w.len()));
            img.encode(w);
        }
    }
}
