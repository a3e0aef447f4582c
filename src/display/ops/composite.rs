//! DRAW_COMPOSITE: pixman's Porter-Duff operators CLEAR … ADD on
//! premultiplied pixels, with an optional mask (unified or component
//! alpha), repeat modes, and transforms that are integer translations
//! (identity included). Other operators and transforms are refused as
//! unsupported rather than drawn approximately.

use super::blend::mul_un8;
use super::{Resolved, extents, fix_alpha};
use crate::display::surface::{BYTES_PER_PIXEL, SurfaceFormat};
use crate::display::{DisplayError, DisplayState, DrawResult};
use crate::proto::channel::display::{CompositeOp, DisplayBase, Transform, composite_flags as cf, msg};

/// pixman operators handled here.
mod pop {
    pub const CLEAR: u32 = 0;
    pub const SRC: u32 = 1;
    pub const DST: u32 = 2;
    pub const OVER: u32 = 3;
    pub const OVER_REVERSE: u32 = 4;
    pub const IN: u32 = 5;
    pub const IN_REVERSE: u32 = 6;
    pub const OUT: u32 = 7;
    pub const OUT_REVERSE: u32 = 8;
    pub const ATOP: u32 = 9;
    pub const ATOP_REVERSE: u32 = 10;
    pub const XOR: u32 = 11;
    pub const ADD: u32 = 12;
}

const ONE: u32 = 0x1_0000;

/// The integer translation a transform amounts to, if it is one.
fn translation(t: Option<&Transform>) -> Option<(i64, i64)> {
    let Some(Transform([t00, t01, t02, t10, t11, t12])) = t.copied() else {
        return Some((0, 0));
    };
    let int = |v: u32| {
        let v = i32::from_le_bytes(v.to_le_bytes());
        (v & 0xffff == 0).then_some(i64::from(v >> 16))
    };
    if t00 == ONE && t11 == ONE && t01 == 0 && t10 == 0 {
        Some((int(t02)?, int(t12)?))
    } else {
        None
    }
}

/// Source coordinate of `v` in `0..len` under pixman repeat mode `mode`.
fn repeat(v: i64, len: usize, mode: u32) -> Option<usize> {
    let n = i64::try_from(len).ok().filter(|&n| n > 0)?;
    let r = match mode {
        1 => v.rem_euclid(n),
        2 => v.clamp(0, n - 1),
        3 => {
            let m = v.rem_euclid(2 * n);
            if m >= n { 2 * n - 1 - m } else { m }
        }
        _ if (0..n).contains(&v) => v,
        _ => return None,
    };
    usize::try_from(r).ok()
}

/// One input of the composite: an image, its offset and repeat mode.
struct Input<'r, 'i> {
    res: &'r Resolved<'i>,
    dx: i64,
    dy: i64,
    repeat: u32,
    has_alpha: bool,
}

impl Input<'_, '_> {
    /// Pixels for destination pixels `x0..x1` of row `y` (transparent black
    /// where the image has none).
    fn row(&self, y: usize, x0: usize, x1: usize, out: &mut Vec<u8>) {
        let n = x1.saturating_sub(x0);
        out.clear();
        out.resize(n.saturating_mul(BYTES_PER_PIXEL), 0);
        let to_i = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let Some(sy) = repeat(to_i(y).saturating_add(self.dy), self.res.src.height, self.repeat) else {
            return;
        };
        let mut px = [0u8; 4];
        for (i, o) in out.chunks_exact_mut(BYTES_PER_PIXEL).enumerate() {
            let sx = to_i(x0.saturating_add(i)).saturating_add(self.dx);
            if let Some(sx) = repeat(sx, self.res.src.width, self.repeat) {
                self.res.src.convert(sy, sx, sx.saturating_add(1), &mut px);
                fix_alpha(self.res.origin, self.has_alpha, &mut px);
                o.copy_from_slice(&px);
            }
        }
    }
}

/// Porter-Duff factors (for the source, for the destination) of `op`.
fn factors(op: u32, sa: u8, da: u8) -> (u8, u8) {
    match op {
        pop::CLEAR => (0, 0),
        pop::SRC => (0xff, 0),
        pop::DST => (0, 0xff),
        pop::OVER => (0xff, !sa),
        pop::OVER_REVERSE => (!da, 0xff),
        pop::IN => (da, 0),
        pop::IN_REVERSE => (0, sa),
        pop::OUT => (!da, 0),
        pop::OUT_REVERSE => (0, !sa),
        pop::ATOP => (da, !sa),
        pop::ATOP_REVERSE => (!da, sa),
        pop::XOR => (!da, !sa),
        _ => (0xff, 0xff),
    }
}

/// Composites one pixel: `d = s·m·Fa + d·Fb` per channel, saturated. With
/// component alpha the mask and the source alpha are per channel.
fn composite_px(op: u32, d: &mut [u8], s: &[u8], m: &[u8], ca: bool) {
    let (Some(&sa0), Some(&ma), Some(&da)) = (s.get(3), m.get(3), d.get(3)) else {
        return;
    };
    let sa = mul_un8(sa0, ma);
    for (c, dc) in d.iter_mut().enumerate() {
        let mc = if ca { m.get(c).copied().unwrap_or(0) } else { ma };
        let sc = mul_un8(s.get(c).copied().unwrap_or(0), mc);
        // The source alpha seen by this channel.
        let sac = if ca { mul_un8(sa0, mc) } else { sa };
        let (fa, fb) = factors(op, sac, da);
        *dc = if op == pop::ADD {
            sc.saturating_add(*dc)
        } else {
            mul_un8(sc, fa).saturating_add(mul_un8(*dc, fb))
        };
    }
}

impl DisplayState {
    pub(super) fn draw_composite(&mut self, base: &DisplayBase, c: &CompositeOp) -> DrawResult {
        const OP: &str = "draw_composite";
        let (format, region) = self.masked_region(OP, base, None)?;
        let op = c.flags & cf::OP_MASK;
        let unsupported = || Self::unsupported_op(OP, msg::DRAW_COMPOSITE);
        if op > pop::ADD {
            return Err(unsupported());
        }
        let (tx, ty) = translation(c.src_transform.as_ref()).ok_or_else(unsupported)?;
        let (mtx, mty) = translation(c.mask_transform.as_ref()).ok_or_else(unsupported)?;
        let image = c.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let src = self.resolve_image(OP, image, None, format)?;
        let mask = match (&c.mask_bitmap, c.flags & cf::HAS_MASK != 0) {
            (Some(m), true) => Some(self.resolve_image(OP, m, None, format)?),
            _ => None,
        };
        let left = i64::from(base.bbox.left);
        let top = i64::from(base.bbox.top);
        let s_in = Input {
            res: &src,
            dx: i64::from(c.src_origin.x) + tx - left,
            dy: i64::from(c.src_origin.y) + ty - top,
            repeat: (c.flags >> cf::SRC_REPEAT_SHIFT) & 3,
            has_alpha: c.flags & cf::SOURCE_OPAQUE == 0,
        };
        let m_in = mask.as_ref().map(|res| Input {
            res,
            dx: i64::from(c.mask_origin.x) + mtx - left,
            dy: i64::from(c.mask_origin.y) + mty - top,
            repeat: (c.flags >> cf::MASK_REPEAT_SHIFT) & 3,
            has_alpha: c.flags & cf::MASK_OPAQUE == 0,
        });
        let ca = m_in.is_some() && c.flags & cf::COMPONENT_ALPHA != 0;
        let opaque_dest = c.flags & cf::DEST_OPAQUE != 0 || format != SurfaceFormat::Argb32;
        let surface = self.surface_mut(OP, base.surface_id)?;
        let (mut sbuf, mut mbuf) = (Vec::new(), Vec::new());
        for b in &region {
            for y in b.y0..b.y1 {
                s_in.row(y, b.x0, b.x1, &mut sbuf);
                match &m_in {
                    Some(m) => m.row(y, b.x0, b.x1, &mut mbuf),
                    None => {
                        mbuf.clear();
                        mbuf.resize(sbuf.len(), 0xff);
                    }
                }
                let Some(dst) = surface.row_mut(y, b.x0, b.x1) else {
                    continue;
                };
                let it = dst
                    .chunks_exact_mut(BYTES_PER_PIXEL)
                    .zip(sbuf.chunks_exact(BYTES_PER_PIXEL))
                    .zip(mbuf.chunks_exact(BYTES_PER_PIXEL));
                for ((d, s), m) in it {
                    if opaque_dest && let Some(a) = d.get_mut(3) {
                        *a = 0xff;
                    }
                    composite_px(op, d, s, m, ca);
                }
            }
        }
        Ok(extents(&region))
    }
}
