//! Display channel messages (`channel DisplayChannel` in spice.proto).
//!
//! Wire layout rules, checked against spice-common's generated demarshaller:
//! - Everything is packed little endian and inline, except members declared as
//!   pointers in spice.proto (`Image *`, `Palette *`, ...). Those are u32
//!   offsets counted from the start of the message body; 0 means "absent" and
//!   any other offset must lie inside the body.
//! - `Clip` rectangles are inline (`@to_ptr` only affects the C structure).
//! - A `BitmapData` is followed inline by `stride * y` pixel bytes; its palette
//!   is a pointer, or a u64 cache id when `PAL_FROM_CACHE` is set.
//! - Compressed images (`BinaryData` and friends) carry a u32 size then that
//!   many bytes, inline.
//!
//! Draw operations Sumac does not render yet are kept as raw
//! [`DisplayServer::Unparsed`] bodies so they can be counted and skipped.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase, WaitForChannel};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::{DecodeError, ProtoResult};

mod draw;
pub use draw::*;
mod stream;
pub use stream::*;

/// Most entries an INVAL_ALL_PIXMAPS wait list may carry (the count is a u8).
pub const MAX_WAIT_LIST: u64 = 255;

/// Server message numbers.
pub mod msg {
    pub const MODE: u16 = 101;
    pub const MARK: u16 = 102;
    pub const RESET: u16 = 103;
    pub const COPY_BITS: u16 = 104;
    pub const INVAL_LIST: u16 = 105;
    pub const INVAL_ALL_PIXMAPS: u16 = 106;
    pub const INVAL_PALETTE: u16 = 107;
    pub const INVAL_ALL_PALETTES: u16 = 108;
    pub const STREAM_CREATE: u16 = 122;
    pub const STREAM_DATA: u16 = 123;
    pub const STREAM_CLIP: u16 = 124;
    pub const STREAM_DESTROY: u16 = 125;
    pub const STREAM_DESTROY_ALL: u16 = 126;
    pub const DRAW_FILL: u16 = 302;
    pub const DRAW_OPAQUE: u16 = 303;
    pub const DRAW_COPY: u16 = 304;
    pub const DRAW_BLEND: u16 = 305;
    pub const DRAW_BLACKNESS: u16 = 306;
    pub const DRAW_WHITENESS: u16 = 307;
    pub const DRAW_INVERS: u16 = 308;
    pub const DRAW_ROP3: u16 = 309;
    pub const DRAW_STROKE: u16 = 310;
    pub const DRAW_TEXT: u16 = 311;
    pub const DRAW_TRANSPARENT: u16 = 312;
    pub const DRAW_ALPHA_BLEND: u16 = 313;
    pub const SURFACE_CREATE: u16 = 314;
    pub const SURFACE_DESTROY: u16 = 315;
    pub const STREAM_DATA_SIZED: u16 = 316;
    pub const MONITORS_CONFIG: u16 = 317;
    pub const DRAW_COMPOSITE: u16 = 318;
    pub const STREAM_ACTIVATE_REPORT: u16 = 319;
    pub const GL_SCANOUT_UNIX: u16 = 320;
    pub const GL_DRAW: u16 = 321;
    pub const QUALITY_INDICATOR: u16 = 322;

    /// Whether `t` is one of the `DRAW_*` operations.
    pub const fn is_draw(t: u16) -> bool {
        matches!(t, DRAW_FILL..=DRAW_ALPHA_BLEND | DRAW_COMPOSITE)
    }
}

/// Client message numbers.
pub mod msgc {
    pub const INIT: u16 = 101;
    pub const STREAM_REPORT: u16 = 102;
    pub const PREFERRED_COMPRESSION: u16 = 103;
    pub const GL_DRAW_DONE: u16 = 104;
    pub const PREFERRED_VIDEO_CODEC_TYPE: u16 = 105;
}

/// `image_type`.
pub mod image_type {
    pub const BITMAP: u8 = 0;
    pub const QUIC: u8 = 1;
    pub const RESERVED: u8 = 2;
    pub const LZ_PLT: u8 = 100;
    pub const LZ_RGB: u8 = 101;
    pub const GLZ_RGB: u8 = 102;
    pub const FROM_CACHE: u8 = 103;
    pub const SURFACE: u8 = 104;
    pub const JPEG: u8 = 105;
    pub const FROM_CACHE_LOSSLESS: u8 = 106;
    pub const ZLIB_GLZ_RGB: u8 = 107;
    pub const JPEG_ALPHA: u8 = 108;
    pub const LZ4: u8 = 109;
}

/// `image_flags`.
pub mod image_flags {
    pub const CACHE_ME: u8 = 1 << 0;
    pub const HIGH_BITS_SET: u8 = 1 << 1;
    pub const CACHE_REPLACE_ME: u8 = 1 << 2;
}

/// `bitmap_fmt`.
pub mod bitmap_fmt {
    pub const INVALID: u8 = 0;
    pub const BIT1_LE: u8 = 1;
    pub const BIT1_BE: u8 = 2;
    pub const BIT4_LE: u8 = 3;
    pub const BIT4_BE: u8 = 4;
    pub const BIT8: u8 = 5;
    pub const BIT16: u8 = 6;
    pub const BIT24: u8 = 7;
    pub const BIT32: u8 = 8;
    pub const RGBA: u8 = 9;
    pub const BIT8_A: u8 = 10;
}

/// `bitmap_flags`.
pub mod bitmap_flags {
    pub const PAL_CACHE_ME: u8 = 1 << 0;
    pub const PAL_FROM_CACHE: u8 = 1 << 1;
    pub const TOP_DOWN: u8 = 1 << 2;
}

/// `brush_type`.
pub mod brush_type {
    pub const NONE: u8 = 0;
    pub const SOLID: u8 = 1;
    pub const PATTERN: u8 = 2;
}

/// `clip_type`.
pub mod clip_type {
    pub const NONE: u8 = 0;
    pub const RECTS: u8 = 1;
}

/// `mask_flags`.
pub mod mask_flags {
    pub const INVERS: u8 = 1 << 0;
}

/// `image_scale_mode`.
pub mod scale_mode {
    pub const INTERPOLATE: u8 = 0;
    pub const NEAREST: u8 = 1;
}

/// `ropd` (ROP descriptor bits).
pub mod ropd {
    pub const INVERS_SRC: u16 = 1 << 0;
    pub const INVERS_BRUSH: u16 = 1 << 1;
    pub const INVERS_DEST: u16 = 1 << 2;
    pub const OP_PUT: u16 = 1 << 3;
    pub const OP_OR: u16 = 1 << 4;
    pub const OP_AND: u16 = 1 << 5;
    pub const OP_XOR: u16 = 1 << 6;
    pub const OP_BLACKNESS: u16 = 1 << 7;
    pub const OP_WHITENESS: u16 = 1 << 8;
    pub const OP_INVERS: u16 = 1 << 9;
    pub const INVERS_RES: u16 = 1 << 10;
}

/// `surface_fmt`.
pub mod surface_fmt {
    pub const INVALID: u32 = 0;
    pub const A1: u32 = 1;
    pub const A8: u32 = 8;
    pub const RGB16_555: u32 = 16;
    pub const XRGB32: u32 = 32;
    pub const RGB16_565: u32 = 80;
    pub const ARGB32: u32 = 96;
}

/// `surface_flags`.
pub mod surface_flags {
    pub const PRIMARY: u32 = 1 << 0;
    pub const STREAMING_MODE: u32 = 1 << 1;
}

/// `image_compression` (PREFERRED_COMPRESSION).
pub mod image_compression {
    pub const INVALID: u8 = 0;
    pub const OFF: u8 = 1;
    pub const AUTO_GLZ: u8 = 2;
    pub const AUTO_LZ: u8 = 3;
    pub const QUIC: u8 = 4;
    pub const GLZ: u8 = 5;
    pub const LZ: u8 = 6;
    pub const LZ4: u8 = 7;
}

/// `video_codec_type`.
pub mod video_codec {
    pub const MJPEG: u8 = 1;
    pub const VP8: u8 = 2;
    pub const H264: u8 = 3;
    pub const VP9: u8 = 4;
    pub const H265: u8 = 5;
}

/// Size of one `Rect` on the wire.
const RECT_LEN: u64 = 16;
/// Size of one `Head` on the wire.
const HEAD_LEN: u64 = 28;
/// Size of one `ResourceID` on the wire.
const RESOURCE_LEN: u64 = 9;
/// Size of one `WaitForChannel` on the wire.
const WAIT_LEN: u64 = 10;

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn body_len(body: &[u8]) -> u64 {
    u64::try_from(body.len()).unwrap_or(u64::MAX)
}

/// `Rect`: wire order is top, left, bottom, right; bottom and right are exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub top: i32,
    pub left: i32,
    pub bottom: i32,
    pub right: i32,
}

impl Rect {
    /// Builds a rectangle from left, top, right, bottom (x then y, the usual order).
    pub const fn ltrb(left: i32, top: i32, right: i32, bottom: i32) -> Self {
        Self {
            top,
            left,
            bottom,
            right,
        }
    }

    /// Width; negative for an inverted rectangle.
    pub fn width(&self) -> i64 {
        i64::from(self.right) - i64::from(self.left)
    }

    /// Height; negative for an inverted rectangle.
    pub fn height(&self) -> i64 {
        i64::from(self.bottom) - i64::from(self.top)
    }

    pub fn is_empty(&self) -> bool {
        self.width() <= 0 || self.height() <= 0
    }

    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            top: r.read_i32("rect top")?,
            left: r.read_i32("rect left")?,
            bottom: r.read_i32("rect bottom")?,
            right: r.read_i32("rect right")?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_i32(self.top);
        w.write_i32(self.left);
        w.write_i32(self.bottom);
        w.write_i32(self.right);
    }
}

/// `Point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

impl Point {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            x: r.read_i32("point x")?,
            y: r.read_i32("point y")?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_i32(self.x);
        w.write_i32(self.y);
    }
}

/// `Clip`: the draw is limited to the union of the rectangles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Clip {
    #[default]
    None,
    Rects(Vec<Rect>),
}

impl Clip {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        match r.read_u8("clip type")? {
            clip_type::NONE => Ok(Self::None),
            clip_type::RECTS => {
                let n = r.read_u32("clip num_rects")?;
                let bytes = checked_array_len("clip rects", u64::from(n), RECT_LEN, u64::MAX)?;
                r.ensure("clip rects", bytes)?;
                let mut rects = Vec::with_capacity(bytes / 16);
                for _ in 0..n {
                    rects.push(Rect::decode(r)?);
                }
                Ok(Self::Rects(rects))
            }
            t => Err(DecodeError::invalid("clip type", t)),
        }
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        match self {
            Self::None => w.write_u8(clip_type::NONE),
            Self::Rects(rects) => {
                w.write_u8(clip_type::RECTS);
                let n = len_u32(rects.len());
                w.write_u32(n);
                for r in rects.iter().take(usize::try_from(n).unwrap_or(usize::MAX)) {
                    r.encode(w);
                }
            }
        }
    }
}

/// `DisplayBase`: the header of every draw operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisplayBase {
    pub surface_id: u32,
    /// `box` in spice.proto: the destination rectangle.
    pub bbox: Rect,
    pub clip: Clip,
}

impl DisplayBase {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            surface_id: r.read_u32("display base surface_id")?,
            bbox: Rect::decode(r)?,
            clip: Clip::decode(r)?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.surface_id);
        self.bbox.encode(w);
        self.clip.encode(w);
    }
}

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
fn pointer<'a>(body: &'a [u8], what: &'static str, offset: u32) -> ProtoResult<Option<ReadCursor<'a>>> {
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
fn read_sized(r: &mut ReadCursor<'_>, body: &[u8], what: &'static str) -> ProtoResult<Vec<u8>> {
    let n = r.read_u32(what)?;
    let n = checked_array_len(what, u64::from(n), 1, body_len(body))?;
    Ok(r.read_slice(what, n)?.to_vec())
}

impl Palette {
    fn decode_at(body: &[u8], offset: u32) -> ProtoResult<Option<Self>> {
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

    fn encode(&self, w: &mut WriteCursor) {
        w.write_u64(self.unique);
        let n = u16::try_from(self.entries.len()).unwrap_or(u16::MAX);
        w.write_u16(n);
        for e in self.entries.iter().take(usize::from(n)) {
            w.write_u32(*e);
        }
    }
}

/// Reads the palette switch shared by `BitmapData` and `LZPLTData`.
fn decode_palette_ref(r: &mut ReadCursor<'_>, body: &[u8], flags: u8, nonnull: bool) -> ProtoResult<PaletteRef> {
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
fn palette_flags(flags: u8, p: &PaletteRef) -> u8 {
    match p {
        PaletteRef::Cached(_) => flags | bitmap_flags::PAL_FROM_CACHE,
        _ => flags & !bitmap_flags::PAL_FROM_CACHE,
    }
}

/// Writes the palette switch; returns the position of a palette offset to patch.
fn encode_palette_ref(p: &PaletteRef, w: &mut WriteCursor) -> Option<usize> {
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
struct Deferred<'a> {
    items: Vec<(usize, &'a Image)>,
}

impl<'a> Deferred<'a> {
    /// Writes a pointer placeholder for `img` (0 when absent).
    fn pointer(&mut self, w: &mut WriteCursor, img: Option<&'a Image>) {
        if let Some(img) = img {
            self.items.push((w.len(), img));
        }
        w.write_u32(0);
    }

    fn flush(self, w: &mut WriteCursor) {
        for (pos, img) in self.items {
            w.patch_u32(pos, len_u32(w.len()));
            img.encode(w);
        }
    }
}

/// `Brush`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Brush {
    #[default]
    None,
    /// A colour in the destination surface's pixel format.
    Solid(u32),
    Pattern {
        image: Image,
        pos: Point,
    },
}

impl Brush {
    fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        match r.read_u8("brush type")? {
            brush_type::NONE => Ok(Self::None),
            brush_type::SOLID => Ok(Self::Solid(r.read_u32("brush color")?)),
            brush_type::PATTERN => {
                let off = r.read_u32("pattern image offset")?;
                let pos = Point::decode(r)?;
                let image = Image::decode_at(body, "pattern image", off)?
                    .ok_or(DecodeError::invalid("pattern image offset (must not be null)", off))?;
                Ok(Self::Pattern { image, pos })
            }
            t => Err(DecodeError::invalid("brush type", t)),
        }
    }

    fn encode<'a>(&'a self, w: &mut WriteCursor, d: &mut Deferred<'a>) {
        match self {
            Self::None => w.write_u8(brush_type::NONE),
            Self::Solid(c) => {
                w.write_u8(brush_type::SOLID);
                w.write_u32(*c);
            }
            Self::Pattern { image, pos } => {
                w.write_u8(brush_type::PATTERN);
                d.pointer(w, Some(image));
                pos.encode(w);
            }
        }
    }
}

/// `QMask`: an optional 1-bit mask limiting a draw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QMask {
    /// Bits of [`mask_flags`].
    pub flags: u8,
    pub pos: Point,
    pub bitmap: Option<Image>,
}

impl QMask {
    fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let flags = r.read_u8("mask flags")?;
        let pos = Point::decode(r)?;
        let off = r.read_u32("mask bitmap offset")?;
        Ok(Self {
            flags,
            pos,
            bitmap: Image::decode_at(body, "mask bitmap", off)?,
        })
    }

    fn encode<'a>(&'a self, w: &mut WriteCursor, d: &mut Deferred<'a>) {
        w.write_u8(self.flags);
        self.pos.encode(w);
        d.pointer(w, self.bitmap.as_ref());
    }
}

/// `Fill` (the data of DRAW_FILL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FillOp {
    pub brush: Brush,
    /// Bits of [`ropd`].
    pub rop_descriptor: u16,
    pub mask: QMask,
}

/// `Copy` (the data of DRAW_COPY).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyOp {
    /// The pointer is nullable in spice.proto; a null source cannot be drawn.
    pub src_bitmap: Option<Image>,
    pub src_area: Rect,
    /// Bits of [`ropd`].
    pub rop_descriptor: u16,
    /// One of [`scale_mode`].
    pub scale_mode: u8,
    pub mask: QMask,
}

/// SURFACE_CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SurfaceCreate {
    pub surface_id: u32,
    pub width: u32,
    pub height: u32,
    /// One of [`surface_fmt`].
    pub format: u32,
    /// Bits of [`surface_flags`].
    pub flags: u32,
}

/// One `Head` of MONITORS_CONFIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub monitor_id: u32,
    pub surface_id: u32,
    pub width: u32,
    pub height: u32,
    pub x: u32,
    pub y: u32,
    pub flags: u32,
}

/// One `ResourceID` of INVAL_LIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceId {
    pub resource_type: u8,
    pub id: u64,
}

/// Display channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayServer {
    Base(ServerBase),
    Mode {
        x_res: u32,
        y_res: u32,
        bits: u32,
    },
    Mark,
    Reset,
    CopyBits {
        base: DisplayBase,
        src_pos: Point,
    },
    InvalList(Vec<ResourceId>),
    InvalAllPixmaps(Vec<WaitForChannel>),
    InvalPalette {
        id: u64,
    },
    InvalAllPalettes,
    StreamDestroy {
        id: u32,
    },
    StreamDestroyAll,
    StreamCreate(StreamCreate),
    StreamData(StreamData),
    StreamDataSized(StreamDataSized),
    StreamClip(StreamClip),
    StreamActivateReport(StreamActivateReport),
    DrawFill {
        base: DisplayBase,
        fill: FillOp,
    },
    DrawCopy {
        base: DisplayBase,
        copy: CopyOp,
    },
    DrawOpaque {
        base: DisplayBase,
        opaque: OpaqueOp,
    },
    /// BLEND has the layout (and rendering) of COPY.
    DrawBlend {
        base: DisplayBase,
        blend: CopyOp,
    },
    DrawBlackness {
        base: DisplayBase,
        mask: QMask,
    },
    DrawWhiteness {
        base: DisplayBase,
        mask: QMask,
    },
    DrawInvers {
        base: DisplayBase,
        mask: QMask,
    },
    DrawRop3 {
        base: DisplayBase,
        rop3: Rop3Op,
    },
    DrawStroke {
        base: DisplayBase,
        stroke: StrokeOp,
    },
    DrawText {
        base: DisplayBase,
        text: TextOp,
    },
    DrawTransparent {
        base: DisplayBase,
        transparent: TransparentOp,
    },
    DrawAlphaBlend {
        base: DisplayBase,
        alpha_blend: AlphaBlendOp,
    },
    DrawComposite {
        base: DisplayBase,
        composite: CompositeOp,
    },
    SurfaceCreate(SurfaceCreate),
    SurfaceDestroy {
        surface_id: u32,
    },
    MonitorsConfig {
        max_allowed: u16,
        heads: Vec<Head>,
    },
    GlDraw {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    },
    /// A known message Sumac does not decode yet (other draw ops, streams,
    /// GL scanout, quality indicator): the raw body.
    Unparsed {
        msg_type: u16,
        data: Vec<u8>,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

/// Message numbers kept as [`DisplayServer::Unparsed`].
fn is_unparsed(t: u16) -> bool {
    matches!(t, msg::GL_SCANOUT_UNIX | msg::QUALITY_INDICATOR)
}

impl DisplayServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Mode { .. } => msg::MODE,
            Self::Mark => msg::MARK,
            Self::Reset => msg::RESET,
            Self::CopyBits { .. } => msg::COPY_BITS,
            Self::InvalList(_) => msg::INVAL_LIST,
            Self::InvalAllPixmaps(_) => msg::INVAL_ALL_PIXMAPS,
            Self::InvalPalette { .. } => msg::INVAL_PALETTE,
            Self::InvalAllPalettes => msg::INVAL_ALL_PALETTES,
            Self::StreamDestroy { .. } => msg::STREAM_DESTROY,
            Self::StreamDestroyAll => msg::STREAM_DESTROY_ALL,
            Self::StreamCreate(_) => msg::STREAM_CREATE,
            Self::StreamData(_) => msg::STREAM_DATA,
            Self::StreamDataSized(_) => msg::STREAM_DATA_SIZED,
            Self::StreamClip(_) => msg::STREAM_CLIP,
            Self::StreamActivateReport(_) => msg::STREAM_ACTIVATE_REPORT,
            Self::DrawFill { .. } => msg::DRAW_FILL,
            Self::DrawCopy { .. } => msg::DRAW_COPY,
            Self::DrawOpaque { .. } => msg::DRAW_OPAQUE,
            Self::DrawBlend { .. } => msg::DRAW_BLEND,
            Self::DrawBlackness { .. } => msg::DRAW_BLACKNESS,
            Self::DrawWhiteness { .. } => msg::DRAW_WHITENESS,
            Self::DrawInvers { .. } => msg::DRAW_INVERS,
            Self::DrawRop3 { .. } => msg::DRAW_ROP3,
            Self::DrawStroke { .. } => msg::DRAW_STROKE,
            Self::DrawText { .. } => msg::DRAW_TEXT,
            Self::DrawTransparent { .. } => msg::DRAW_TRANSPARENT,
            Self::DrawAlphaBlend { .. } => msg::DRAW_ALPHA_BLEND,
            Self::DrawComposite { .. } => msg::DRAW_COMPOSITE,
            Self::SurfaceCreate(_) => msg::SURFACE_CREATE,
            Self::SurfaceDestroy { .. } => msg::SURFACE_DESTROY,
            Self::MonitorsConfig { .. } => msg::MONITORS_CONFIG,
            Self::GlDraw { .. } => msg::GL_DRAW,
            Self::Unparsed { msg_type, .. } => *msg_type,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, out: &mut WriteCursor) {
        // Offsets count from the body start, so encode into a fresh buffer.
        let mut w = WriteCursor::new();
        let mut deferred = Deferred::default();
        match self {
            Self::Mode { x_res, y_res, bits } => {
                w.write_u32(*x_res);
                w.write_u32(*y_res);
                w.write_u32(*bits);
            }
            Self::CopyBits { base, src_pos } => {
                base.encode(&mut w);
                src_pos.encode(&mut w);
            }
            Self::InvalList(list) => {
                let n = u16::try_from(list.len()).unwrap_or(u16::MAX);
                w.write_u16(n);
                for res in list.iter().take(usize::from(n)) {
                    w.write_u8(res.resource_type);
                    w.write_u64(res.id);
                }
            }
            Self::InvalAllPixmaps(list) => {
                let n = u8::try_from(list.len()).unwrap_or(u8::MAX);
                w.write_u8(n);
                for c in list.iter().take(usize::from(n)) {
                    w.write_u8(c.channel_type);
                    w.write_u8(c.channel_id);
                    w.write_u64(c.message_serial);
                }
            }
            Self::InvalPalette { id } => w.write_u64(*id),
            Self::StreamDestroy { id } => w.write_u32(*id),
            Self::StreamCreate(s) => s.encode(&mut w),
            Self::StreamData(s) => s.encode(&mut w),
            Self::StreamDataSized(s) => s.encode(&mut w),
            Self::StreamClip(s) => s.encode(&mut w),
            Self::StreamActivateReport(s) => s.encode(&mut w),
            Self::DrawFill { base, fill } => {
                base.encode(&mut w);
                fill.brush.encode(&mut w, &mut deferred);
                w.write_u16(fill.rop_descriptor);
                fill.mask.encode(&mut w, &mut deferred);
            }
            Self::DrawCopy { base, copy } => {
                base.encode(&mut w);
                deferred.pointer(&mut w, copy.src_bitmap.as_ref());
                copy.src_area.encode(&mut w);
                w.write_u16(copy.rop_descriptor);
                w.write_u8(copy.scale_mode);
                copy.mask.encode(&mut w, &mut deferred);
            }
            Self::DrawOpaque { base, opaque } => {
                base.encode(&mut w);
                opaque.encode(&mut w);
            }
            Self::DrawBlend { base, blend } => {
                base.encode(&mut w);
                draw::encode_copy(blend, &mut w);
            }
            Self::DrawBlackness { base, mask }
            | Self::DrawWhiteness { base, mask }
            | Self::DrawInvers { base, mask } => {
                base.encode(&mut w);
                draw::encode_mask_only(mask, &mut w);
            }
            Self::DrawRop3 { base, rop3 } => {
                base.encode(&mut w);
                rop3.encode(&mut w);
            }
            Self::DrawStroke { base, stroke } => {
                base.encode(&mut w);
                stroke.encode(&mut w);
            }
            Self::DrawText { base, text } => {
                base.encode(&mut w);
                text.encode(&mut w);
            }
            Self::DrawTransparent { base, transparent } => {
                base.encode(&mut w);
                transparent.encode(&mut w);
            }
            Self::DrawAlphaBlend { base, alpha_blend } => {
                base.encode(&mut w);
                alpha_blend.encode(&mut w);
            }
            Self::DrawComposite { base, composite } => {
                base.encode(&mut w);
                composite.encode(&mut w);
            }
            Self::SurfaceCreate(s) => {
                for v in [s.surface_id, s.width, s.height, s.format, s.flags] {
                    w.write_u32(v);
                }
            }
            Self::SurfaceDestroy { surface_id } => w.write_u32(*surface_id),
            Self::MonitorsConfig { max_allowed, heads } => {
                let n = u16::try_from(heads.len()).unwrap_or(u16::MAX);
                w.write_u16(n);
                w.write_u16(*max_allowed);
                for h in heads.iter().take(usize::from(n)) {
                    for v in [h.monitor_id, h.surface_id, h.width, h.height, h.x, h.y, h.flags] {
                        w.write_u32(v);
                    }
                }
            }
            Self::GlDraw { x, y, w: width, h } => {
                for v in [*x, *y, *width, *h] {
                    w.write_u32(v);
                }
            }
            Self::Unparsed { data, .. } => w.write_slice(data),
            Self::Mark
            | Self::Reset
            | Self::InvalAllPalettes
            | Self::StreamDestroyAll
            | Self::Base(_)
            | Self::Unknown { .. } => {}
        }
        deferred.flush(&mut w);
        out.write_slice(w.as_slice());
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::MODE => Self::Mode {
                x_res: r.read_u32("mode x_res")?,
                y_res: r.read_u32("mode y_res")?,
                bits: r.read_u32("mode bits")?,
            },
            msg::MARK => Self::Mark,
            msg::RESET => Self::Reset,
            msg::COPY_BITS => Self::CopyBits {
                base: DisplayBase::decode(&mut r)?,
                src_pos: Point::decode(&mut r)?,
            },
            msg::INVAL_LIST => {
                let n = r.read_u16("inval_list count")?;
                let bytes = checked_array_len("inval_list resources", u64::from(n), RESOURCE_LEN, u64::MAX)?;
                r.ensure("inval_list resources", bytes)?;
                let mut list = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    list.push(ResourceId {
                        resource_type: r.read_u8("resource type")?,
                        id: r.read_u64("resource id")?,
                    });
                }
                Self::InvalList(list)
            }
            msg::INVAL_ALL_PIXMAPS => {
                let n = r.read_u8("inval_all_pixmaps wait_count")?;
                let bytes = checked_array_len(
                    "inval_all_pixmaps wait list",
                    u64::from(n),
                    WAIT_LEN,
                    MAX_WAIT_LIST * WAIT_LEN,
                )?;
                r.ensure("inval_all_pixmaps wait list", bytes)?;
                let mut list = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    list.push(WaitForChannel {
                        channel_type: r.read_u8("wait channel type")?,
                        channel_id: r.read_u8("wait channel id")?,
                        message_serial: r.read_u64("wait serial")?,
                    });
                }
                Self::InvalAllPixmaps(list)
            }
            msg::INVAL_PALETTE => Self::InvalPalette {
                id: r.read_u64("inval_palette id")?,
            },
            msg::INVAL_ALL_PALETTES => Self::InvalAllPalettes,
            msg::STREAM_DESTROY => Self::StreamDestroy {
                id: r.read_u32("stream_destroy id")?,
            },
            msg::STREAM_DESTROY_ALL => Self::StreamDestroyAll,
            msg::STREAM_CREATE => Self::StreamCreate(StreamCreate::decode(&mut r)?),
            msg::STREAM_DATA => Self::StreamData(StreamData::decode(&mut r)?),
            msg::STREAM_DATA_SIZED => Self::StreamDataSized(StreamDataSized::decode(&mut r)?),
            msg::STREAM_CLIP => Self::StreamClip(StreamClip::decode(&mut r)?),
            msg::STREAM_ACTIVATE_REPORT => Self::StreamActivateReport(StreamActivateReport::decode(&mut r)?),
            msg::DRAW_FILL => {
                let base = DisplayBase::decode(&mut r)?;
                let brush = Brush::decode(&mut r, body)?;
                let rop_descriptor = r.read_u16("fill rop_descriptor")?;
                let mask = QMask::decode(&mut r, body)?;
                Self::DrawFill {
                    base,
                    fill: FillOp {
                        brush,
                        rop_descriptor,
                        mask,
                    },
                }
            }
            msg::DRAW_COPY => {
                let base = DisplayBase::decode(&mut r)?;
                let src_off = r.read_u32("copy src_bitmap offset")?;
                let src_area = Rect::decode(&mut r)?;
                let rop_descriptor = r.read_u16("copy rop_descriptor")?;
                let scale_mode = r.read_u8("copy scale_mode")?;
                let mask = QMask::decode(&mut r, body)?;
                let src_bitmap = Image::decode_at(body, "copy src_bitmap", src_off)?;
                Self::DrawCopy {
                    base,
                    copy: CopyOp {
                        src_bitmap,
                        src_area,
                        rop_descriptor,
                        scale_mode,
                        mask,
                    },
                }
            }
            msg::DRAW_OPAQUE => Self::DrawOpaque {
                base: DisplayBase::decode(&mut r)?,
                opaque: OpaqueOp::decode(&mut r, body)?,
            },
            msg::DRAW_BLEND => Self::DrawBlend {
                base: DisplayBase::decode(&mut r)?,
                blend: draw::decode_copy(&mut r, body, "blend src_bitmap")?,
            },
            msg::DRAW_BLACKNESS => Self::DrawBlackness {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_WHITENESS => Self::DrawWhiteness {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_INVERS => Self::DrawInvers {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_ROP3 => Self::DrawRop3 {
                base: DisplayBase::decode(&mut r)?,
                rop3: Rop3Op::decode(&mut r, body)?,
            },
            msg::DRAW_STROKE => Self::DrawStroke {
                base: DisplayBase::decode(&mut r)?,
                stroke: StrokeOp::decode(&mut r, body)?,
            },
            msg::DRAW_TEXT => Self::DrawText {
                base: DisplayBase::decode(&mut r)?,
                text: TextOp::decode(&mut r, body)?,
            },
            msg::DRAW_TRANSPARENT => Self::DrawTransparent {
                base: DisplayBase::decode(&mut r)?,
                transparent: TransparentOp::decode(&mut r, body)?,
            },
            msg::DRAW_ALPHA_BLEND => Self::DrawAlphaBlend {
                base: DisplayBase::decode(&mut r)?,
                alpha_blend: AlphaBlendOp::decode(&mut r, body)?,
            },
            msg::DRAW_COMPOSITE => Self::DrawComposite {
                base: DisplayBase::decode(&mut r)?,
                composite: CompositeOp::decode(&mut r, body)?,
            },
            msg::SURFACE_CREATE => Self::SurfaceCreate(SurfaceCreate {
                surface_id: r.read_u32("surface_create surface_id")?,
                width: r.read_u32("surface_create width")?,
                height: r.read_u32("surface_create height")?,
                format: r.read_u32("surface_create format")?,
                flags: r.read_u32("surface_create flags")?,
            }),
            msg::SURFACE_DESTROY => Self::SurfaceDestroy {
                surface_id: r.read_u32("surface_destroy surface_id")?,
            },
            msg::MONITORS_CONFIG => {
                let n = r.read_u16("monitors_config count")?;
                let max_allowed = r.read_u16("monitors_config max_allowed")?;
                let bytes = checked_array_len("monitors_config heads", u64::from(n), HEAD_LEN, u64::MAX)?;
                r.ensure("monitors_config heads", bytes)?;
                let mut heads = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    heads.push(Head {
                        monitor_id: r.read_u32("head monitor_id")?,
                        surface_id: r.read_u32("head surface_id")?,
                        width: r.read_u32("head width")?,
                        height: r.read_u32("head height")?,
                        x: r.read_u32("head x")?,
                        y: r.read_u32("head y")?,
                        flags: r.read_u32("head flags")?,
                    });
                }
                Self::MonitorsConfig { max_allowed, heads }
            }
            msg::GL_DRAW => Self::GlDraw {
                x: r.read_u32("gl_draw x")?,
                y: r.read_u32("gl_draw y")?,
                w: r.read_u32("gl_draw w")?,
                h: r.read_u32("gl_draw h")?,
            },
            t if is_unparsed(t) => Self::Unparsed {
                msg_type: t,
                data: body.to_vec(),
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// `SPICE_MSGC_DISPLAY_INIT`: cache sizes are in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisplayInit {
    pub pixmap_cache_id: u8,
    pub pixmap_cache_size: i64,
    pub glz_dictionary_id: u8,
    pub glz_dictionary_window_size: i32,
}

/// `SPICE_MSGC_DISPLAY_STREAM_REPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamReport {
    pub stream_id: u32,
    pub unique_id: u32,
    pub start_frame_mm_time: u32,
    pub end_frame_mm_time: u32,
    pub num_frames: u32,
    /// `u32::MAX` with `num_frames == 0` reports an undecodable stream.
    pub num_drops: u32,
    pub last_frame_delay: i32,
    /// `u32::MAX` when there is no audio playback.
    pub audio_delay: u32,
}

/// Display channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayClient {
    Base(ClientBase),
    Init(DisplayInit),
    StreamReport(StreamReport),
    /// One of [`image_compression`].
    PreferredCompression {
        image_compression: u8,
    },
    GlDrawDone,
    /// Codec ids of [`video_codec`], most preferred first (at most 255).
    PreferredVideoCodecType {
        codecs: Vec<u8>,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl DisplayClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Init(_) => msgc::INIT,
            Self::StreamReport(_) => msgc::STREAM_REPORT,
            Self::PreferredCompression { .. } => msgc::PREFERRED_COMPRESSION,
            Self::GlDrawDone => msgc::GL_DRAW_DONE,
            Self::PreferredVideoCodecType { .. } => msgc::PREFERRED_VIDEO_CODEC_TYPE,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Init(i) => {
                w.write_u8(i.pixmap_cache_id);
                w.write_i64(i.pixmap_cache_size);
                w.write_u8(i.glz_dictionary_id);
                w.write_i32(i.glz_dictionary_window_size);
            }
            Self::StreamReport(s) => {
                for v in [
                    s.stream_id,
                    s.unique_id,
                    s.start_frame_mm_time,
                    s.end_frame_mm_time,
                    s.num_frames,
                    s.num_drops,
                ] {
                    w.write_u32(v);
                }
                w.write_i32(s.last_frame_delay);
                w.write_u32(s.audio_delay);
            }
            Self::PreferredCompression { image_compression } => w.write_u8(*image_compression),
            Self::PreferredVideoCodecType { codecs } => {
                let n = u8::try_from(codecs.len()).unwrap_or(u8::MAX);
                w.write_u8(n);
                for c in codecs.iter().take(usize::from(n)) {
                    w.write_u8(*c);
                }
            }
            Self::GlDrawDone | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::INIT => Self::Init(DisplayInit {
                pixmap_cache_id: r.read_u8("init pixmap_cache_id")?,
                pixmap_cache_size: r.read_i64("init pixmap_cache_size")?,
                glz_dictionary_id: r.read_u8("init glz_dictionary_id")?,
                glz_dictionary_window_size: r.read_i32("init glz_dictionary_window_size")?,
            }),
            msgc::STREAM_REPORT => Self::StreamReport(StreamReport {
                stream_id: r.read_u32("stream_report stream_id")?,
                unique_id: r.read_u32("stream_report unique_id")?,
                start_frame_mm_time: r.read_u32("stream_report start_frame_mm_time")?,
                end_frame_mm_time: r.read_u32("stream_report end_frame_mm_time")?,
                num_frames: r.read_u32("stream_report num_frames")?,
                num_drops: r.read_u32("stream_report num_drops")?,
                last_frame_delay: r.read_i32("stream_report last_frame_delay")?,
                audio_delay: r.read_u32("stream_report audio_delay")?,
            }),
            msgc::PREFERRED_COMPRESSION => Self::PreferredCompression {
                image_compression: r.read_u8("preferred_compression")?,
            },
            msgc::GL_DRAW_DONE => Self::GlDrawDone,
            msgc::PREFERRED_VIDEO_CODEC_TYPE => {
                let n = r.read_u8("preferred_video_codec_type count")?;
                let codecs = r
                    .read_slice("preferred_video_codec_type codecs", usize::from(n))?
                    .to_vec();
                Self::PreferredVideoCodecType { codecs }
            }
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(DisplayServer, DisplayClient);

#[cfg(test)]
mod tests;
