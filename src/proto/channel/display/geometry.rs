//! `Rect`, `Point`, `Clip` and `DisplayBase`: where a draw goes.

use super::*;
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::{DecodeError, ProtoResult};

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
