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

/// `Transform`: a pixman 16.16 affine matrix (rows t00 t01 t02 / t10 t11 t12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Transform(pub [u32; 6]);

impl Transform {
    fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        let mut t = [0u32; 6];
        for v in &mut t {
            *v = r.read_u32("transform")?;
        }
        Ok(Self(t))
    }

    fn encode(&self, w: &mut WriteCursor) {
        self.0.iter().for_each(|v| w.write_u32(*v));
    }
}

/// `Point16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Point16 {
    pub x: i16,
    pub y: i16,
}

impl Point16 {
    fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            x: r.read_i16("point16 x")?,
            y: r.read_i16("point16 y")?,
        })
    }

    fn encode(&self, w: &mut WriteCursor) {
        w.write_i16(self.x);
        w.write_i16(self.y);
    }
}

/// `Composite`: a pixman composite of source (and mask) onto the box.
/// The optional members are on the wire exactly when their `HAS_*` bit is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompositeOp {
    /// Bits of [`composite_flags`].
    pub flags: u32,
    pub src_bitmap: Option<Image>,
    pub mask_bitmap: Option<Image>,
    pub src_transform: Option<Transform>,
    pub mask_transform: Option<Transform>,
    pub src_origin: Point16,
    pub mask_origin: Point16,
}

impl CompositeOp {
    pub(crate) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        use composite_flags as f;
        let flags = r.read_u32("composite flags")?;
        let src_bitmap = read_image(r, body, "composite src_bitmap")?;
        let mask_bitmap = if flags & f::HAS_MASK != 0 {
            read_image(r, body, "composite mask_bitmap")?
        } else {
            None
        };
        let src_transform = if flags & f::HAS_SRC_TRANSFORM != 0 {
            Some(Transform::decode(r)?)
        } else {
            None
        };
        let mask_transform = if flags & f::HAS_MASK_TRANSFORM != 0 {
            Some(Transform::decode(r)?)
        } else {
            None
        };
        Ok(Self {
            flags,
            src_bitmap,
            mask_bitmap,
            src_transform,
            mask_transform,
            src_origin: Point16::decode(r)?,
            mask_origin: Point16::decode(r)?,
        })
    }

    /// The `HAS_*` bits are rewritten from the optional members so that the
    /// encoded bytes always decode back to the same value.
    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        use composite_flags as f;
        let mut flags = self.flags & !(f::HAS_SRC_TRANSFORM | f::HAS_MASK_TRANSFORM);
        if self.src_transform.is_some() {
            flags |= f::HAS_SRC_TRANSFORM;
        }
        if self.mask_transform.is_some() {
            flags |= f::HAS_MASK_TRANSFORM;
        }
        if self.mask_bitmap.is_some() {
            flags |= f::HAS_MASK;
        }
        let mut d = Deferred::default();
        w.write_u32(flags);
        d.pointer(w, self.src_bitmap.as_ref());
        if flags & f::HAS_MASK != 0 {
            d.pointer(w, self.mask_bitmap.as_ref());
        }
        if let Some(t) = &self.src_transform {
            t.encode(w);
        }
        if let Some(t) = &self.mask_transform {
            t.encode(w);
        }
        self.src_origin.encode(w);
        self.mask_origin.encode(w);
        d.flush(w);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::super::{
        Bitmap, Clip, DisplayBase, DisplayServer, ImageDescriptor, ImageKind, PaletteRef, bitmap_fmt, image_type,
        mask_flags, msg, ropd,
    };
    use super::*;
    use crate::proto::base::Message;

    fn rt(m: DisplayServer) -> Vec<u8> {
        let body = m.to_body();
        assert_eq!(DisplayServer::decode(m.msg_type(), &body).unwrap(), m);
        body
    }

    fn base() -> DisplayBase {
        DisplayBase {
            surface_id: 1,
            bbox: Rect::ltrb(1, 2, 30, 40),
            clip: Clip::Rects(vec![Rect::ltrb(0, 0, 5, 5)]),
        }
    }

    fn img(w: u32, h: u32) -> Image {
        Image {
            descriptor: ImageDescriptor {
                id: 9,
                image_type: image_type::BITMAP,
                flags: 0,
                width: w,
                height: h,
            },
            kind: ImageKind::Bitmap(Bitmap {
                format: bitmap_fmt::BIT1_BE,
                flags: 0,
                width: w,
                height: h,
                stride: 1,
                palette: PaletteRef::None,
                data: vec![0xa5; usize::try_from(h).unwrap()],
            }),
        }
    }

    fn mask() -> QMask {
        QMask {
            flags: mask_flags::INVERS,
            pos: Point { x: 3, y: -4 },
            bitmap: Some(img(8, 2)),
        }
    }

    fn pattern() -> Brush {
        Brush::Pattern {
            image: img(4, 4),
            pos: Point { x: -1, y: 2 },
        }
    }

    fn stroke(flags: u8, style: Vec<i32>) -> DisplayServer {
        DisplayServer::DrawStroke {
            base: base(),
            stroke: StrokeOp {
                path: vec![
                    PathSegment {
                        flags: path_flags::BEGIN,
                        points: vec![PointFix { x: 16, y: 32 }, PointFix { x: 160, y: 32 }],
                    },
                    PathSegment {
                        flags: path_flags::BEZIER | path_flags::END | path_flags::CLOSE,
                        points: vec![
                            PointFix { x: 1, y: 2 },
                            PointFix { x: 3, y: 4 },
                            PointFix { x: 5, y: 6 },
                        ],
                    },
                ],
                attr: LineAttr { flags, style },
                brush: pattern(),
                fore_mode: ropd::OP_XOR,
                back_mode: ropd::OP_PUT,
            },
        }
    }

    fn text(flags: u8) -> DisplayServer {
        let glyph = |w: u16, h: u16, n: usize| RasterGlyph {
            render_pos: Point { x: 10, y: 20 },
            glyph_origin: Point { x: -1, y: -9 },
            width: w,
            height: h,
            data: (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect(),
        };
        let bpp = bpp_of(flags).unwrap_or(1);
        let size = |w: u16, h: u16| glyph_row_bytes(w, bpp) * usize::from(h);
        DisplayServer::DrawText {
            base: base(),
            text: TextOp {
                string: GlyphString {
                    flags,
                    glyphs: vec![glyph(9, 3, size(9, 3)), glyph(1, 1, size(1, 1)), glyph(0, 5, 0)],
                },
                back_area: Rect::ltrb(0, 0, 3, 3),
                fore_brush: Brush::Solid(0x00ff_0000),
                back_brush: pattern(),
                fore_mode: ropd::OP_PUT,
                back_mode: ropd::OP_PUT,
            },
        }
    }

    fn composite(flags: u32) -> DisplayServer {
        DisplayServer::DrawComposite {
            base: base(),
            composite: CompositeOp {
                flags,
                src_bitmap: Some(img(2, 2)),
                mask_bitmap: (flags & composite_flags::HAS_MASK != 0).then(|| img(3, 1)),
                src_transform: (flags & composite_flags::HAS_SRC_TRANSFORM != 0).then_some(Transform([
                    0x10000,
                    0,
                    5 << 16,
                    0,
                    0x10000,
                    0,
                ])),
                mask_transform: (flags & composite_flags::HAS_MASK_TRANSFORM != 0).then_some(Transform([1; 6])),
                src_origin: Point16 { x: -3, y: 4 },
                mask_origin: Point16 { x: 1, y: -2 },
            },
        }
    }

    #[test]
    fn every_draw_op_round_trips() {
        let copy = CopyOp {
            src_bitmap: Some(img(8, 3)),
            src_area: Rect::ltrb(0, 0, 8, 3),
            rop_descriptor: ropd::OP_AND,
            scale_mode: 1,
            mask: mask(),
        };
        let msgs = vec![
            DisplayServer::DrawOpaque {
                base: base(),
                opaque: OpaqueOp {
                    src_bitmap: Some(img(8, 3)),
                    src_area: Rect::ltrb(0, 0, 8, 3),
                    brush: pattern(),
                    rop_descriptor: ropd::OP_OR | ropd::INVERS_SRC,
                    scale_mode: 0,
                    mask: mask(),
                },
            },
            DisplayServer::DrawBlend {
                base: base(),
                blend: copy,
            },
            DisplayServer::DrawBlackness {
                base: base(),
                mask: mask(),
            },
            DisplayServer::DrawWhiteness {
                base: base(),
                mask: QMask::default(),
            },
            DisplayServer::DrawInvers {
                base: base(),
                mask: mask(),
            },
            DisplayServer::DrawRop3 {
                base: base(),
                rop3: Rop3Op {
                    src_bitmap: Some(img(8, 3)),
                    src_area: Rect::ltrb(0, 0, 8, 3),
                    brush: Brush::Solid(7),
                    rop3: 0xb8,
                    scale_mode: 1,
                    mask: mask(),
                },
            },
            stroke(0, vec![]),
            stroke(line_flags::STYLED | line_flags::START_WITH_GAP, vec![16, -32, 48]),
            stroke(line_flags::STYLED, vec![]),
            text(string_flags::RASTER_A1),
            text(string_flags::RASTER_A4 | string_flags::RASTER_TOP_DOWN),
            text(string_flags::RASTER_A8),
            DisplayServer::DrawTransparent {
                base: base(),
                transparent: TransparentOp {
                    src_bitmap: Some(img(8, 1)),
                    src_area: Rect::ltrb(0, 0, 8, 1),
                    src_color: 1,
                    true_color: 0x00ff_00ff,
                },
            },
            DisplayServer::DrawAlphaBlend {
                base: base(),
                alpha_blend: AlphaBlendOp {
                    alpha_flags: alpha_flags::DEST_HAS_ALPHA | alpha_flags::SRC_SURFACE_HAS_ALPHA,
                    alpha: 0x80,
                    src_bitmap: Some(img(8, 1)),
                    src_area: Rect::ltrb(0, 0, 8, 1),
                },
            },
            composite(3),
            composite(
                3 | composite_flags::HAS_MASK
                    | composite_flags::HAS_SRC_TRANSFORM
                    | composite_flags::HAS_MASK_TRANSFORM
                    | composite_flags::COMPONENT_ALPHA,
            ),
        ];
        for m in msgs {
            rt(m);
        }
    }

    #[test]
    fn stroke_layout_matches_spice_proto() {
        // path 1 segment of 1 point, unstyled, no brush
        let m = DisplayServer::DrawStroke {
            base: DisplayBase::default(),
            stroke: StrokeOp {
                path: vec![PathSegment {
                    flags: path_flags::BEGIN,
                    points: vec![PointFix { x: 0x10, y: 0x20 }],
                }],
                attr: LineAttr::default(),
                brush: Brush::None,
                fore_mode: 0x8,
                back_mode: 0x9,
            },
        };
        let body = rt(m);
        // base: 4 + 16 + 1; path ptr 4; attr flags 1; brush 1; modes 4.
        let fixed = 21 + 4 + 1 + 1 + 4;
        assert_eq!(u32::from_le_bytes(body[21..25].try_into().unwrap()), fixed);
        assert_eq!(
            &body[fixed as usize..],
            &[1, 0, 0, 0, 1, 1, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0]
        );
    }

    #[test]
    fn composite_optional_members_follow_the_flags() {
        let plain = rt(composite(3));
        let full = rt(composite(
            3 | composite_flags::HAS_MASK | composite_flags::HAS_SRC_TRANSFORM | composite_flags::HAS_MASK_TRANSFORM,
        ));
        // mask pointer (4) and two transforms (2 × 24) more in the fixed part;
        // plus the mask image itself.
        assert!(full.len() > plain.len() + 52);
        assert_eq!(&plain[41..45], &3u32.to_le_bytes());
    }

    fn decode(t: u16, body: &[u8]) -> ProtoResult<DisplayServer> {
        DisplayServer::decode(t, body)
    }

    #[test]
    fn hostile_offsets_and_counts_are_rejected() {
        // base() carries one clip rectangle: the op data starts at 41.
        let s = stroke(0, vec![]).to_body();
        // path offset outside the body
        let mut b = s.clone();
        b[41..45].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(msg::DRAW_STROKE, &b).is_err());
        // null path
        b[41..45].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(msg::DRAW_STROKE, &b).is_err());
        // segment count overflowing the body
        let path_at = u32::from_le_bytes(s[41..45].try_into().unwrap()) as usize;
        let mut b = s.clone();
        b[path_at..path_at + 4].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        assert!(matches!(
            decode(msg::DRAW_STROKE, &b),
            Err(DecodeError::TooLarge { .. })
        ));
        // point count overflowing
        let mut b = s.clone();
        b[path_at + 5..path_at + 9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(msg::DRAW_STROKE, &b).is_err());
        // styled with a style pointer outside the body
        let st = stroke(line_flags::STYLED, vec![1, 2]).to_body();
        let mut b = st.clone();
        b[47..51].copy_from_slice(&0xffffu32.to_le_bytes());
        assert!(decode(msg::DRAW_STROKE, &b).is_err());
        b[47..51].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(msg::DRAW_STROKE, &b).is_err());

        let t = text(string_flags::RASTER_A8).to_body();
        let str_at = u32::from_le_bytes(t[41..45].try_into().unwrap()) as usize;
        // glyph count overflowing the body
        let mut b = t.clone();
        b[str_at..str_at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(decode(msg::DRAW_TEXT, &b).is_err());
        // glyph size overflowing: width and height of the first glyph
        let mut b = t.clone();
        b[str_at + 19..str_at + 23].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(decode(msg::DRAW_TEXT, &b).is_err());
        // no raster type with glyphs
        let mut b = t.clone();
        b[str_at + 2] = string_flags::RASTER_TOP_DOWN;
        assert!(decode(msg::DRAW_TEXT, &b).is_err());
        // null string
        let mut b = t;
        b[41..45].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(msg::DRAW_TEXT, &b).is_err());

        // every truncation of every op fails cleanly, never panics
        for m in [
            stroke(line_flags::STYLED, vec![5]),
            text(string_flags::RASTER_A4),
            composite(0x38_0003),
        ] {
            let body = m.to_body();
            for n in 0..body.len() {
                let _ = decode(m.msg_type(), &body[..n]);
            }
        }
    }

    #[test]
    fn draw_ops_are_no_longer_unparsed() {
        for t in [
            msg::DRAW_OPAQUE,
            msg::DRAW_BLEND,
            msg::DRAW_BLACKNESS,
            msg::DRAW_WHITENESS,
            msg::DRAW_INVERS,
            msg::DRAW_ROP3,
            msg::DRAW_STROKE,
            msg::DRAW_TEXT,
            msg::DRAW_TRANSPARENT,
            msg::DRAW_ALPHA_BLEND,
            msg::DRAW_COMPOSITE,
        ] {
            assert!(!matches!(decode(t, &[]), Ok(DisplayServer::Unparsed { .. })), "{t}");
        }
    }
}
