//! `Brush`, `QMask` and the FILL and COPY operations built from them.

use super::*;
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

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
    pub(super) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
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

    pub(super) fn encode<'a>(&'a self, w: &mut WriteCursor, d: &mut Deferred<'a>) {
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
    pub(super) fn decode(r: &mut ReadCursor<'_>, body: &[u8]) -> ProtoResult<Self> {
        let flags = r.read_u8("mask flags")?;
        let pos = Point::decode(r)?;
        let off = r.read_u32("mask bitmap offset")?;
        Ok(Self {
            flags,
            pos,
            bitmap: Image::decode_at(body, "mask bitmap", off)?,
        })
    }

    pub(super) fn encode<'a>(&'a self, w: &mut WriteCursor, d: &mut Deferred<'a>) {
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
