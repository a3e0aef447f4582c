//! DRAW_COMPOSITE's data: the pixman operator flags, source and mask images, their 16.16
//! transforms and origins.

use super::*;

/// `Transform`: a pixman 16.16 affine matrix (rows t00 t01 t02 / t10 t11 t12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Transform(pub [u32; 6]);

impl Transform {
    pub(super) fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        let mut t = [0u32; 6];
        for v in &mut t {
            *v = r.read_u32("transform")?;
        }
        Ok(Self(t))
    }

    pub(super) fn encode(&self, w: &mut WriteCursor) {
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
    pub(super) fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            x: r.read_i16("point16 x")?,
            y: r.read_i16("point16 y")?,
        })
    }

    pub(super) fn encode(&self, w: &mut WriteCursor) {
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
