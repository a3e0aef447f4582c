//! DRAW_COMPOSITE as spice-common's canvas does it with pixman: every pixman
//! operator (Porter-Duff, SATURATE, disjoint, conjoint, the PDF separable and
//! HSL blend modes; see [`super::combine`]), an optional mask with unified or
//! component alpha, affine 16.16 transforms of source and mask sampled at
//! pixel centres, the four repeat modes and the nearest and bilinear filters.
//!
//! The destination is read as pixman reads the surface: alpha as stored for
//! ARGB, 0xff for the opaque formats, the single channel for A8. spice-common
//! ignores `DEST_OPAQUE` (its opaque copy of the destination is never used),
//! and so does this. Convolution filters are refused: spice-common would hand
//! pixman a convolution filter without its kernel.

use super::combine::{self, combine};
use super::{Origin, Resolved, extents, fix_alpha};
use crate::display::surface::{BYTES_PER_PIXEL, SurfaceFormat};
use crate::display::{DisplayError, DisplayState, DrawResult};
use crate::proto::channel::display::{CompositeOp, DisplayBase, Transform, composite_flags as cf, msg};

/// 1.0 in 16.16 fixed point.
const ONE: i64 = 0x1_0000;
/// Bits of the bilinear weights (pixman's `BILINEAR_INTERPOLATION_BITS`).
const WEIGHT_BITS: u32 = 7;

/// pixman repeat modes.
mod repeat {
    pub const NORMAL: u32 = 1;
    pub const PAD: u32 = 2;
    pub const REFLECT: u32 = 3;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    Nearest,
    Bilinear,
}

impl Filter {
    /// pixman's filters as it samples them: FAST and NEAREST pick the
    /// nearest pixel; GOOD, BEST and BILINEAR interpolate. The convolution
    /// filters (and unknown values) have no mapping.
    pub(super) fn from_wire(v: u32) -> Option<Self> {
        match v {
            0 | 3 => Some(Self::Nearest),
            1 | 2 | 4 => Some(Self::Bilinear),
            _ => None,
        }
    }
}

/// The source coordinate of `v` in `0..len` under pixman repeat `mode`
/// (`None`: outside an image that does not repeat).
pub(super) fn wrap(v: i64, len: usize, mode: u32) -> Option<usize> {
    let n = i64::try_from(len).ok().filter(|&n| n > 0)?;
    let r = match mode {
        repeat::NORMAL => v.rem_euclid(n),
        repeat::PAD => v.clamp(0, n - 1),
        repeat::REFLECT => {
            let m = v.rem_euclid(2 * n);
            if m >= n { 2 * n - 1 - m } else { m }
        }
        _ if (0..n).contains(&v) => v,
        _ => return None,
    };
    usize::try_from(r).ok()
}

/// A transform's matrix rows as signed 16.16 values (identity when absent).
fn matrix(t: Option<&Transform>) -> [i64; 6] {
    t.map_or([ONE, 0, 0, 0, ONE, 0], |Transform(m)| {
        m.map(|v| i64::from(i32::from_le_bytes(v.to_le_bytes())))
    })
}

/// One input of the composite (source or mask): its pixels as packed
/// `0xAARRGGBB`, how it is sampled and where it sits.
pub(super) struct Input {
    pixels: Vec<u32>,
    width: usize,
    height: usize,
    repeat: u32,
    filter: Filter,
    m: [i64; 6],
    /// Destination pixel (0, 0) of the box maps to this image pixel before
    /// the transform.
    ox: i64,
    oy: i64,
}

impl Input {
    /// Unpacks a resolved image; `opaque` forces alpha to 0xff where pixman
    /// would read the surface through an alpha-less format.
    fn new(res: &Resolved<'_>, opaque: bool, how: (u32, Filter, Option<&Transform>), origin: (i64, i64)) -> Self {
        let (width, height) = (res.src.width, res.src.height);
        let mut pixels = Vec::with_capacity(width.saturating_mul(height));
        let mut row = vec![0u8; width.saturating_mul(BYTES_PER_PIXEL)];
        for y in 0..height {
            res.src.convert(y, 0, width, &mut row);
            fix_alpha(res.origin, !opaque, &mut row);
            pixels.extend(row.chunks_exact(BYTES_PER_PIXEL).map(le));
        }
        let (repeat, filter, t) = how;
        Self {
            pixels,
            width,
            height,
            repeat,
            filter,
            m: matrix(t),
            ox: origin.0,
            oy: origin.1,
        }
    }

    /// The pixel at integer image coordinates after the repeat (0 outside).
    fn texel(&self, x: i64, y: i64) -> u32 {
        match (wrap(x, self.width, self.repeat), wrap(y, self.height, self.repeat)) {
            (Some(x), Some(y)) => self
                .pixels
                .get(y.saturating_mul(self.width).saturating_add(x))
                .copied()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// The sample at the 16.16 image point (`x`, `y`).
    fn sample(&self, x: i64, y: i64) -> u32 {
        match self.filter {
            // pixman: the pixel containing the point, edges going up-left.
            Filter::Nearest => self.texel((x - 1) >> 16, (y - 1) >> 16),
            Filter::Bilinear => {
                let (x1, y1) = (x - ONE / 2, y - ONE / 2);
                let weight = |v: i64| (v >> (16 - WEIGHT_BITS)) & ((1 << WEIGHT_BITS) - 1);
                let (wx, wy) = (weight(x1) << 1, weight(y1) << 1);
                let (ix, iy) = (x1 >> 16, y1 >> 16);
                let c = [
                    (self.texel(ix, iy), (256 - wx) * (256 - wy)),
                    (self.texel(ix + 1, iy), wx * (256 - wy)),
                    (self.texel(ix, iy + 1), (256 - wx) * wy),
                    (self.texel(ix + 1, iy + 1), wx * wy),
                ];
                (0..4).fold(0u32, |acc, ch| {
                    let sum: i64 = c.iter().map(|&(p, w)| i64::from((p >> (8 * ch)) & 0xff) * w).sum();
                    acc | (u32::try_from((sum >> 16) & 0xff).unwrap_or(0) << (8 * ch))
                })
            }
        }
    }

    /// Samples for box pixels `x0..x1` of box row `y` (box coordinates).
    fn row(&self, y: i64, x0: i64, x1: i64, out: &mut Vec<u32>) {
        out.clear();
        let n = usize::try_from(x1 - x0).unwrap_or(0);
        let [a, b, c, d, e, f] = self.m;
        // The centre of the first pixel, in image space before the transform.
        let px = i128::from((x0 + self.ox) * ONE + ONE / 2);
        let py = i128::from((y + self.oy) * ONE + ONE / 2);
        let apply = |r0: i64, r1: i64, r2: i64| {
            let v = i128::from(r0) * px + i128::from(r1) * py + i128::from(r2) * i128::from(ONE);
            (v + 0x8000) >> 16
        };
        let (sx, sy) = (apply(a, b, c), apply(d, e, f));
        // pixman gives up on a row whose first point leaves 32 bits.
        let fits = |v: i128| i32::try_from(v).is_ok();
        if !fits(sx) || !fits(sy) {
            out.resize(n, 0);
            return;
        }
        let (mut x, mut y) = (sx, sy);
        for _ in 0..n {
            out.push(match (i64::try_from(x), i64::try_from(y)) {
                (Ok(xi), Ok(yi)) if fits(x) && fits(y) => self.sample(xi, yi),
                _ => 0,
            });
            x += i128::from(a);
            y += i128::from(d);
        }
    }
}

/// Stored B,G,R,A bytes as a packed `0xAARRGGBB` pixel.
fn le(p: &[u8]) -> u32 {
    p.try_into().map_or(0, u32::from_le_bytes)
}

/// Reads a destination pixel as pixman reads the surface format.
fn load(format: SurfaceFormat, p: &[u8]) -> u32 {
    let v = le(p);
    match format {
        SurfaceFormat::Argb32 => v,
        SurfaceFormat::A8 | SurfaceFormat::A1 => (v & 0xff) << 24,
        _ => v | 0xff00_0000,
    }
}

/// Stores a composited pixel back in the surface's layout.
fn store(format: SurfaceFormat, p: &mut [u8], v: u32) {
    let bytes = match format {
        SurfaceFormat::A8 => [v.to_be_bytes()[0]; 4],
        SurfaceFormat::A1 => [if v >> 31 != 0 { 0xff } else { 0 }; 4],
        _ => v.to_le_bytes(),
    };
    p.copy_from_slice(&bytes);
}

impl DisplayState {
    pub(super) fn draw_composite(&mut self, base: &DisplayBase, c: &CompositeOp) -> DrawResult {
        const OP: &str = "draw_composite";
        let (format, region) = self.masked_region(OP, base, None)?;
        let unsupported = || Self::unsupported_op(OP, msg::DRAW_COMPOSITE);
        let op = c.flags & cf::OP_MASK;
        if !combine::is_known(op) {
            return Err(unsupported());
        }
        let src_filter = Filter::from_wire((c.flags >> cf::SRC_FILTER_SHIFT) & 7).ok_or_else(unsupported)?;
        let mask_filter = Filter::from_wire((c.flags >> cf::MASK_FILTER_SHIFT) & 7);
        let image = c.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let src = self.resolve_image(OP, image, None)?;
        let mask = match (&c.mask_bitmap, c.flags & cf::HAS_MASK != 0) {
            (Some(m), true) => Some(self.resolve_image(OP, m, None)?),
            _ => None,
        };
        let left = i64::from(base.bbox.left);
        let top = i64::from(base.bbox.top);
        // SOURCE_OPAQUE only changes how a surface is read (spice-common
        // reads it through the alpha-less format); bitmaps keep their alpha.
        let src_opaque = c.flags & cf::SOURCE_OPAQUE != 0 && matches!(src.origin, Origin::Surface(_));
        let s_in = Input::new(
            &src,
            src_opaque,
            (
                (c.flags >> cf::SRC_REPEAT_SHIFT) & 3,
                src_filter,
                c.src_transform.as_ref(),
            ),
            (i64::from(c.src_origin.x), i64::from(c.src_origin.y)),
        );
        let m_in = match &mask {
            Some(res) => Some(Input::new(
                res,
                false,
                (
                    (c.flags >> cf::MASK_REPEAT_SHIFT) & 3,
                    mask_filter.ok_or_else(unsupported)?,
                    c.mask_transform.as_ref(),
                ),
                (i64::from(c.mask_origin.x), i64::from(c.mask_origin.y)),
            )),
            None => None,
        };
        let ca = c.flags & cf::COMPONENT_ALPHA != 0;
        let mut op = u8::try_from(op).unwrap_or(combine::pop::DST);
        // pixman replaces SATURATE of an opaque source (read through a format
        // without alpha, repeating, no mask) by OVER_REVERSE, which it
        // computes with integers rather than floats.
        let alpha_less = matches!(
            src.origin,
            Origin::Surface(SurfaceFormat::Xrgb32 | SurfaceFormat::Rgb555 | SurfaceFormat::Rgb565)
        ) || src_opaque;
        if op == combine::pop::SATURATE && alpha_less && s_in.repeat != 0 && m_in.is_none() {
            op = combine::pop::OVER_REVERSE;
        }
        let surface = self.surface_mut(OP, base.surface_id)?;
        let to_i = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let (mut sbuf, mut mbuf) = (Vec::new(), Vec::new());
        for b in &region {
            let (bx0, bx1) = (to_i(b.x0) - left, to_i(b.x1) - left);
            for y in b.y0..b.y1 {
                let by = to_i(y) - top;
                s_in.row(by, bx0, bx1, &mut sbuf);
                if let Some(m) = &m_in {
                    m.row(by, bx0, bx1, &mut mbuf);
                }
                let Some(dst) = surface.row_mut(y, b.x0, b.x1) else {
                    continue;
                };
                for (i, (d, &s)) in dst.chunks_exact_mut(BYTES_PER_PIXEL).zip(&sbuf).enumerate() {
                    let m = m_in.as_ref().map(|_| mbuf.get(i).copied().unwrap_or(0));
                    let v = combine(op, ca, load(format, d), s, m);
                    store(format, d, v);
                }
            }
        }
        Ok(extents(&region))
    }
}

#[cfg(test)]
mod tests;
