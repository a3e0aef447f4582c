//! Data of the draw operations beyond FILL and COPY: OPAQUE, BLEND,
//! BLACKNESS, WHITENESS, INVERS, ROP3, STROKE, TEXT, TRANSPARENT,
//! ALPHA_BLEND and COMPOSITE.
//!
//! Wire layout (spice.proto): members are packed inline in declaration
//! order; `Image *`, `Path *`, `String *` and the line style array are u32
//! offsets from the body start. A `switch` on a flags field is present on
//! the wire only when its case bit is set. Path segments and glyphs are
//! inline one after the other behind their pointer.

use super::{Brush, CopyOp, Deferred, Image, Point, QMask, Rect, body_len, len_u32, pointer};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::{DecodeError, ProtoResult};

mod composite;
pub use composite::*;

/// `line_flags`.
pub mod line_flags {
    pub const START_WITH_GAP: u8 = 1 << 2;
    pub const STYLED: u8 = 1 << 3;
}

/// `path_flags`.
pub mod path_flags {
    pub const BEGIN: u8 = 1 << 0;
    pub const END: u8 = 1 << 1;
    pub const CLOSE: u8 = 1 << 3;
    pub const BEZIER: u8 = 1 << 4;
}

/// `string_flags`.
pub mod string_flags {
    pub const RASTER_A1: u8 = 1 << 0;
    pub const RASTER_A4: u8 = 1 << 1;
    pub const RASTER_A8: u8 = 1 << 2;
    pub const RASTER_TOP_DOWN: u8 = 1 << 3;
}

/// `alpha_flags`.
pub mod alpha_flags {
    pub const DEST_HAS_ALPHA: u8 = 1 << 0;
    pub const SRC_SURFACE_HAS_ALPHA: u8 = 1 << 1;
}

/// `composite_flags`: bits 0..8 are the pixman operator, 8..11 the source
/// filter, 11..14 the mask filter, 14..16 the source repeat, 16..18 the
/// mask repeat.
pub mod composite_flags {
    pub const OP_MASK: u32 = 0xff;
    pub const SRC_FILTER_SHIFT: u32 = 8;
    pub const MASK_FILTER_SHIFT: u32 = 11;
    pub const SRC_REPEAT_SHIFT: u32 = 14;
    pub const MASK_REPEAT_SHIFT: u32 = 16;
    pub const COMPONENT_ALPHA: u32 = 1 << 18;
    pub const HAS_MASK: u32 = 1 << 19;
    pub const HAS_SRC_TRANSFORM: u32 = 1 << 20;
    pub const HAS_MASK_TRANSFORM: u32 = 1 << 21;
    pub const SOURCE_OPAQUE: u32 = 1 << 22;
    pub const MASK_OPAQUE: u32 = 1 << 23;
    pub const DEST_OPAQUE: u32 = 1 << 24;
}

/// Smallest wire size of one path segment (flags + count).
const SEGMENT_MIN: u64 = 5;
/// Wire size of one `PointFix`.
const POINT_FIX_LEN: u64 = 8;
/// Smallest wire size of one raster glyph (two points, width, height).
const GLYPH_MIN: u64 = 20;

/// Writes a placeholder offset and returns its position.
fn placeholder(w: &mut WriteCursor) -> usize {
    let pos = w.len();
    w.write_u32(0);
    pos
}

fn read_image(r: &mut ReadCursor<'_>, body: &[u8], what: &'static str) -> ProtoResult<Option<Image>> {
    let off = r.read_u32(what)?;
    Image::decode_at(body, what, off)
}

/// `Opaque`: the source image, then the brush combined into it with the ROP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpaqueOp {
    pub src_bitmap: Option<Image>,
    pub src_area: Rect,
    pub brush: Brush,
    pub rop_descriptor: u16,
    pub scale_mode: u8,
    pub mask: QMask,
}

impl OpaqueOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let src_off = r.read_u32("opaque src_bitmap offset")?;
        let src_area = Rect::decode(r)?;
        let brush = Brush::decode(r, body)?;
        let rop_descriptor = r.read_u16("opaque rop_descriptor")?;
        let scale_mode = r.read_u8("opaque scale_mode")?;
        let mask = QMask::decode(r, body)?;
        Ok(Self {
            src_bitmap: Image::decode_at(body, "opaque src_bitmap", src_off)?,
            src_area,
            brush,
            rop_descriptor,
            scale_mode,
            mask,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        d.pointer(w, self.src_bitmap.as_ref());
        self.src_area.encode(w);
        self.brush.encode(w, &mut d);
        w.write_u16(self.rop_descriptor);
        w.write_u8(self.scale_mode);
        self.mask.encode(w, &mut d);
        d.flush(w);
    }
}

/// `Blend` has exactly the layout of `Copy`.
pub(crate) fn decode_copy(r: &mut ReadCursor<'_>, body: &[u8], what: &'static str) -> ProtoResult<CopyOp> {
    let src_off = r.read_u32(what)?;
    let src_area = Rect::decode(r)?;
    let rop_descriptor = r.read_u16("copy rop_descriptor")?;
    let scale_mode = r.read_u8("copy scale_mode")?;
    let mask = QMask::decode(r, body)?;
    Ok(CopyOp {
        src_bitmap: Image::decode_at(body, what, src_off)?,
        src_area,
        rop_descriptor,
        scale_mode,
        mask,
    })
}

pub(crate) fn encode_copy(c: &CopyOp, w: &mut WriteCursor) {
    let mut d = Deferred::default();
    d.pointer(w, c.src_bitmap.as_ref());
    c.src_area.encode(w);
    w.write_u16(c.rop_descriptor);
    w.write_u8(c.scale_mode);
    c.mask.encode(w, &mut d);
    d.flush(w);
}

/// BLACKNESS, WHITENESS and INVERS carry only a mask.
pub(crate) fn decode_mask_only(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<QMask> {
    QMask::decode(r, body)
}

pub(crate) fn encode_mask_only(m: &QMask, w: &mut WriteCursor) {
    let mut d = Deferred::default();
    m.encode(w, &mut d);
    d.flush(w);
}

/// `Rop3`: a ternary raster operation of source, brush and destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rop3Op {
    pub src_bitmap: Option<Image>,
    pub src_area: Rect,
    pub brush: Brush,
    /// The ternary ROP code (bit `4p + 2s + d` is the result).
    pub rop3: u8,
    pub scale_mode: u8,
    pub mask: QMask,
}

impl Rop3Op {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let src_off = r.read_u32("rop3 src_bitmap offset")?;
        let src_area = Rect::decode(r)?;
        let brush = Brush::decode(r, body)?;
        let rop3 = r.read_u8("rop3 code")?;
        let scale_mode = r.read_u8("rop3 scale_mode")?;
        let mask = QMask::decode(r, body)?;
        Ok(Self {
            src_bitmap: Image::decode_at(body, "rop3 src_bitmap", src_off)?,
            src_area,
            brush,
            rop3,
            scale_mode,
            mask,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        d.pointer(w, self.src_bitmap.as_ref());
        self.src_area.encode(w);
        self.brush.encode(w, &mut d);
        w.write_u8(self.rop3);
        w.write_u8(self.scale_mode);
        self.mask.encode(w, &mut d);
        d.flush(w);
    }
}

/// `PointFix`: 28.4 fixed point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PointFix {
    pub x: i32,
    pub y: i32,
}

/// `PathSegment`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathSegment {
    /// Bits of [`path_flags`].
    pub flags: u8,
    pub points: Vec<PointFix>,
}

/// `LineAttr`: `style` (28.4 dash lengths) is on the wire only when `STYLED`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineAttr {
    /// Bits of [`line_flags`].
    pub flags: u8,
    pub style: Vec<i32>,
}

/// `Stroke`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrokeOp {
    pub path: Vec<PathSegment>,
    pub attr: LineAttr,
    pub brush: Brush,
    pub fore_mode: u16,
    pub back_mode: u16,
}

fn decode_path(body: &[u8], off: u32) -> ProtoResult<Vec<PathSegment>> {
    let mut r = pointer(body, "stroke path", off)?.ok_or(DecodeError::invalid("stroke path offset (null)", off))?;
    let n = r.read_u32("path num_segments")?;
    // Every segment takes at least 5 bytes: caps the count before allocating.
    checked_array_len("path segments", u64::from(n), SEGMENT_MIN, body_len(body))?;
    let mut segments = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let flags = r.read_u8("path segment flags")?;
        let count = r.read_u32("path segment count")?;
        let bytes = checked_array_len("path segment points", u64::from(count), POINT_FIX_LEN, body_len(body))?;
        r.ensure("path segment points", bytes)?;
        let mut points = Vec::with_capacity(bytes / 8);
        for _ in 0..count {
            points.push(PointFix {
                x: r.read_i32("point x")?,
                y: r.read_i32("point y")?,
            });
        }
        segments.push(PathSegment { flags, points });
    }
    Ok(segments)
}

fn encode_path(path: &[PathSegment], w: &mut WriteCursor) {
    let n = len_u32(path.len());
    w.write_u32(n);
    for seg in path.iter().take(usize::try_from(n).unwrap_or(usize::MAX)) {
        w.write_u8(seg.flags);
        let count = len_u32(seg.points.len());
        w.write_u32(count);
        for p in seg.points.iter().take(usize::try_from(count).unwrap_or(usize::MAX)) {
            w.write_i32(p.x);
            w.write_i32(p.y);
        }
    }
}

impl StrokeOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let path_off = r.read_u32("stroke path offset")?;
        let flags = r.read_u8("line attr flags")?;
        let mut style = Vec::new();
        if flags & line_flags::STYLED != 0 {
            let nseg = r.read_u8("line attr style_nseg")?;
            let off = r.read_u32("line attr style offset")?;
            if nseg > 0 {
                let mut s =
                    pointer(body, "line style", off)?.ok_or(DecodeError::invalid("line style offset (null)", off))?;
                for _ in 0..nseg {
                    style.push(s.read_i32("line style entry")?);
                }
            }
        }
        let brush = Brush::decode(r, body)?;
        let fore_mode = r.read_u16("stroke fore_mode")?;
        let back_mode = r.read_u16("stroke back_mode")?;
        Ok(Self {
            path: decode_path(body, path_off)?,
            attr: LineAttr { flags, style },
            brush,
            fore_mode,
            back_mode,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        let path_at = placeholder(w);
        w.write_u8(self.attr.flags);
        let mut style_at = None;
        if self.attr.flags & line_flags::STYLED != 0 {
            let n = u8::try_from(self.attr.style.len()).unwrap_or(u8::MAX);
            w.write_u8(n);
            let at = placeholder(w);
            if n > 0 {
                style_at = Some((at, usize::from(n)));
            }
        }
        self.brush.encode(w, &mut d);
        w.write_u16(self.fore_mode);
        w.write_u16(self.back_mode);
        d.flush(w);
        w.patch_u32(path_at, len_u32(w.len()));
        encode_path(&self.path, w);
        if let Some((at, n)) = style_at {
            w.patch_u32(at, len_u32(w.len()));
            for v in self.attr.style.iter().take(n) {
                w.write_i32(*v);
            }
        }
    }
}

/// `RasterGlyph`: `data` holds `height` rows of `ceil(width·bpp/8)` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RasterGlyph {
    pub render_pos: Point,
    pub glyph_origin: Point,
    pub width: u16,
    pub height: u16,
    pub data: Vec<u8>,
}

/// `String`: glyphs of one depth, chosen by the first raster flag set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlyphString {
    /// Bits of [`string_flags`].
    pub flags: u8,
    pub glyphs: Vec<RasterGlyph>,
}

impl GlyphString {
    /// Bits per glyph pixel (1, 4 or 8), `None` when no raster flag is set.
    pub fn bpp(&self) -> Option<u32> {
        bpp_of(self.flags)
    }
}

fn bpp_of(flags: u8) -> Option<u32> {
    if flags & string_flags::RASTER_A1 != 0 {
        Some(1)
    } else if flags & string_flags::RASTER_A4 != 0 {
        Some(4)
    } else if flags & string_flags::RASTER_A8 != 0 {
        Some(8)
    } else {
        None
    }
}

/// Bytes of one glyph row.
pub fn glyph_row_bytes(width: u16, bpp: u32) -> usize {
    let bits = u64::from(width) * u64::from(bpp);
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

fn decode_string(body: &[u8], off: u32) -> ProtoResult<GlyphString> {
    let mut r = pointer(body, "text string", off)?.ok_or(DecodeError::invalid("text string offset (null)", off))?;
    let n = r.read_u16("string length")?;
    let flags = r.read_u8("string flags")?;
    let Some(bpp) = bpp_of(flags) else {
        // No raster type: spice's demarshaller reads no glyphs at all.
        if n != 0 {
            return Err(DecodeError::invalid("string flags (no raster type)", flags));
        }
        return Ok(GlyphString { flags, glyphs: vec![] });
    };
    checked_array_len("string glyphs", u64::from(n), GLYPH_MIN, body_len(body))?;
    let mut glyphs = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let render_pos = Point::decode(&mut r)?;
        let glyph_origin = Point::decode(&mut r)?;
        let width = r.read_u16("glyph width")?;
        let height = r.read_u16("glyph height")?;
        let row = u64::try_from(glyph_row_bytes(width, bpp)).unwrap_or(u64::MAX);
        let size = checked_array_len("glyph data", row, u64::from(height), body_len(body))?;
        let data = r.read_slice("glyph data", size)?.to_vec();
        glyphs.push(RasterGlyph {
            render_pos,
            glyph_origin,
            width,
            height,
            data,
        });
    }
    Ok(GlyphString { flags, glyphs })
}

fn encode_string(s: &GlyphString, w: &mut WriteCursor) {
    let Some(bpp) = s.bpp() else {
        w.write_u16(0);
        w.write_u8(s.flags);
        return;
    };
    let n = u16::try_from(s.glyphs.len()).unwrap_or(u16::MAX);
    w.write_u16(n);
    w.write_u8(s.flags);
    for g in s.glyphs.iter().take(usize::from(n)) {
        g.render_pos.encode(w);
        g.glyph_origin.encode(w);
        w.write_u16(g.width);
        w.write_u16(g.height);
        // Exactly the size the header announces, zero-padded if short.
        let size = glyph_row_bytes(g.width, bpp).saturating_mul(usize::from(g.height));
        let have = g.data.get(..size).unwrap_or(&g.data);
        w.write_slice(have);
        w.write_slice(&vec![0; size.saturating_sub(have.len())]);
    }
}

/// `Text`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextOp {
    pub string: GlyphString,
    pub back_area: Rect,
    pub fore_brush: Brush,
    pub back_brush: Brush,
    pub fore_mode: u16,
    pub back_mode: u16,
}

impl TextOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let str_off = r.read_u32("text str offset")?;
        let back_area = Rect::decode(r)?;
        let fore_brush = Brush::decode(r, body)?;
        let back_brush = Brush::decode(r, body)?;
        let fore_mode = r.read_u16("text fore_mode")?;
        let back_mode = r.read_u16("text back_mode")?;
        Ok(Self {
            string: decode_string(body, str_off)?,
            back_area,
            fore_brush,
            back_brush,
            fore_mode,
            back_mode,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        let str_at = placeholder(w);
        self.back_area.encode(w);
        self.fore_brush.encode(w, &mut d);
        self.back_brush.encode(w, &mut d);
        w.write_u16(self.fore_mode);
        w.write_u16(self.back_mode);
        d.flush(w);
        w.patch_u32(str_at, len_u32(w.len()));
        encode_string(&self.string, w);
    }
}

/// `Transparent`: source pixels equal to `true_color` are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransparentOp {
    pub src_bitmap: Option<Image>,
    pub src_area: Rect,
    pub src_color: u32,
    pub true_color: u32,
}

impl TransparentOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let src_off = r.read_u32("transparent src_bitmap offset")?;
        Ok(Self {
            src_area: Rect::decode(r)?,
            src_color: r.read_u32("transparent src_color")?,
            true_color: r.read_u32("transparent true_color")?,
            src_bitmap: Image::decode_at(body, "transparent src_bitmap", src_off)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        d.pointer(w, self.src_bitmap.as_ref());
        self.src_area.encode(w);
        w.write_u32(self.src_color);
        w.write_u32(self.true_color);
        d.flush(w);
    }
}

/// `AlphaBlend`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlphaBlendOp {
    /// Bits of [`alpha_flags`].
    pub alpha_flags: u8,
    pub alpha: u8,
    pub src_bitmap: Option<Image>,
    pub src_area: Rect,
}

impl AlphaBlendOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let alpha_flags = r.read_u8("alpha_blend flags")?;
        let alpha = r.read_u8("alpha_blend alpha")?;
        let src_bitmap = read_image(r, body, "alpha_blend src_bitmap")?;
        Ok(Self {
            alpha_flags,
            alpha,
            src_bitmap,
            src_area: Rect::decode(r)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        let mut d = Deferred::default();
        w.write_u8(self.alpha_flags);
        w.write_u8(self.alpha);
        d.pointer(w, self.src_bitmap.as_ref());
        self.src_area.encode(w);
        d.flush(w);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests;
