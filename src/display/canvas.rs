//! Pixel operations on one surface: solid fills, image blits (with nearest
//! scaling), and in-surface moves. Every operation works on row slices of
//! boxes already clipped to the surface, so nothing can be written out of
//! bounds; a slice that is unexpectedly missing is skipped.

use super::bitmap::Source;
use super::region::{PixBox, extents};
use super::surface::{BYTES_PER_PIXEL, Surface};
use crate::proto::channel::display::{Rect, ropd};

/// The 16 binary raster operations, `s` the source (brush or image), `d` the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rop {
    Clear,
    And,
    AndReverse,
    Copy,
    AndInverted,
    Noop,
    Xor,
    Or,
    Nor,
    Equiv,
    Invert,
    OrReverse,
    CopyInverted,
    OrInverted,
    Nand,
    Set,
}

impl Rop {
    /// Resolves a ROP descriptor. `src_invert` is the descriptor bit that
    /// inverts the source operand: `INVERS_BRUSH` for fills, `INVERS_SRC`
    /// for image draws. The first operation bit present wins, in the order
    /// PUT, OR, AND, XOR, BLACKNESS, WHITENESS, INVERS; none means PUT.
    pub fn from_descriptor(desc: u16, src_invert: u16) -> Self {
        let inv_s = desc & src_invert != 0;
        let inv_d = desc & ropd::INVERS_DEST != 0;
        let inv_r = desc & ropd::INVERS_RES != 0;
        let op: fn(bool, bool) -> bool = if desc & ropd::OP_PUT != 0 {
            |s, _| s
        } else if desc & ropd::OP_OR != 0 {
            |s, d| s | d
        } else if desc & ropd::OP_AND != 0 {
            |s, d| s & d
        } else if desc & ropd::OP_XOR != 0 {
            |s, d| s ^ d
        } else if desc & ropd::OP_BLACKNESS != 0 {
            return Self::Clear;
        } else if desc & ropd::OP_WHITENESS != 0 {
            return Self::Set;
        } else if desc & ropd::OP_INVERS != 0 {
            return Self::Invert;
        } else {
            return Self::Copy;
        };
        // Truth table: bit (2·s + d) holds the result for source bit s, dest bit d.
        let mut table = 0u8;
        for (s, d) in [(false, false), (false, true), (true, false), (true, true)] {
            if op(s ^ inv_s, d ^ inv_d) ^ inv_r {
                table |= 1 << (u8::from(s) * 2 + u8::from(d));
            }
        }
        Self::from_table(table)
    }

    fn from_table(t: u8) -> Self {
        match t & 0x0f {
            0b0000 => Self::Clear,
            0b1000 => Self::And,
            0b0100 => Self::AndReverse,
            0b1100 => Self::Copy,
            0b0010 => Self::AndInverted,
            0b1010 => Self::Noop,
            0b0110 => Self::Xor,
            0b1110 => Self::Or,
            0b0001 => Self::Nor,
            0b1001 => Self::Equiv,
            0b0101 => Self::Invert,
            0b1101 => Self::OrReverse,
            0b0011 => Self::CopyInverted,
            0b1011 => Self::OrInverted,
            0b0111 => Self::Nand,
            _ => Self::Set,
        }
    }

    /// Applies the operation bitwise to one byte.
    #[inline]
    pub fn apply(self, s: u8, d: u8) -> u8 {
        match self {
            Self::Clear => 0,
            Self::And => s & d,
            Self::AndReverse => s & !d,
            Self::Copy => s,
            Self::AndInverted => !s & d,
            Self::Noop => d,
            Self::Xor => s ^ d,
            Self::Or => s | d,
            Self::Nor => !(s | d),
            Self::Equiv => !(s ^ d),
            Self::Invert => !d,
            Self::OrReverse => s | !d,
            Self::CopyInverted => !s,
            Self::OrInverted => !s | d,
            Self::Nand => !(s & d),
            Self::Set => 0xff,
        }
    }
}

/// Combines a solid colour into one row.
fn fill_row(row: &mut [u8], color: [u8; 4], rop: Rop) {
    match rop {
        Rop::Noop => {}
        Rop::Copy => row
            .chunks_exact_mut(BYTES_PER_PIXEL)
            .for_each(|px| px.copy_from_slice(&color)),
        Rop::Clear => row.fill(0),
        Rop::Set => row.fill(0xff),
        Rop::Invert => row.iter_mut().for_each(|b| *b = !*b),
        _ => {
            for px in row.chunks_exact_mut(BYTES_PER_PIXEL) {
                for (d, s) in px.iter_mut().zip(color) {
                    *d = rop.apply(s, *d);
                }
            }
        }
    }
}

/// Combines a converted source row into a destination row of the same length.
fn combine_row(dst: &mut [u8], src: &[u8], rop: Rop) {
    match rop {
        Rop::Noop => {}
        Rop::Copy if dst.len() == src.len() => dst.copy_from_slice(src),
        Rop::Xor => dst.iter_mut().zip(src).for_each(|(d, s)| *d ^= *s),
        _ => dst.iter_mut().zip(src).for_each(|(d, s)| *d = rop.apply(*s, *d)),
    }
}

/// Fills `region` (already clipped) with a colour in stored byte order.
pub fn fill(surface: &mut Surface, region: &[PixBox], color: [u8; 4], rop: Rop) {
    for b in region {
        for y in b.y0..b.y1 {
            if let Some(row) = surface.row_mut(y, b.x0, b.x1) {
                fill_row(row, color, rop);
            }
        }
    }
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_usize(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Draws `src` into `region` (which lies inside `bbox`): the `src_area` of the
/// image is mapped onto `bbox`, scaled with nearest sampling when the sizes
/// differ. Pixels whose source falls outside the image are left alone.
/// Returns the bounding box of what was drawn.
pub fn blit(
    surface: &mut Surface,
    region: &[PixBox],
    src: &Source<'_>,
    bbox: &Rect,
    src_area: &Rect,
    rop: Rop,
) -> Option<PixBox> {
    if bbox.width() == src_area.width() && bbox.height() == src_area.height() {
        blit_unscaled(surface, region, src, bbox, src_area, rop)
    } else {
        blit_scaled(surface, region, src, bbox, src_area, rop)
    }
}

fn blit_unscaled(
    surface: &mut Surface,
    region: &[PixBox],
    src: &Source<'_>,
    bbox: &Rect,
    src_area: &Rect,
    rop: Rop,
) -> Option<PixBox> {
    let ox = i64::from(bbox.left) - i64::from(src_area.left);
    let oy = i64::from(bbox.top) - i64::from(src_area.top);
    let (w, h) = surface.dims();
    let image = PixBox::clipped(ox, oy, ox + to_i64(src.width), oy + to_i64(src.height), w, h)?;
    let drawn: Vec<PixBox> = region.iter().filter_map(|b| b.intersect(&image)).collect();
    let mut buf = Vec::new();
    for b in &drawn {
        let (Some(ix0), Some(ix1)) = (to_usize(to_i64(b.x0) - ox), to_usize(to_i64(b.x1) - ox)) else {
            continue;
        };
        buf.resize(b.width().saturating_mul(BYTES_PER_PIXEL), 0);
        for y in b.y0..b.y1 {
            let Some(iy) = to_usize(to_i64(y) - oy) else { continue };
            let Some(dst) = surface.row_mut(y, b.x0, b.x1) else {
                continue;
            };
            if rop == Rop::Copy {
                // Convert straight into the surface row.
                src.convert(iy, ix0, ix1, dst);
            } else {
                src.convert(iy, ix0, ix1, &mut buf);
                combine_row(dst, &buf, rop);
            }
        }
    }
    extents(&drawn)
}

/// Nearest source coordinate of destination coordinate `v` (pixel centres).
fn nearest(v: usize, dst_start: i32, dst_len: i64, src_start: i32, src_len: i64) -> i64 {
    let u = i128::from(to_i64(v)) - i128::from(dst_start);
    let s = (2 * u + 1) * i128::from(src_len) / (2 * i128::from(dst_len));
    i64::try_from(i128::from(src_start) + s).unwrap_or(-1)
}

/// Maps `lo..hi` through `nearest` and keeps the contiguous run that lands
/// in `0..limit`: the destination range and the source coordinates.
fn map_axis(lo: usize, hi: usize, dst: (i32, i64), src: (i32, i64), limit: usize) -> Option<(usize, Vec<usize>)> {
    let mut first = None;
    let mut coords = Vec::new();
    for v in lo..hi {
        match to_usize(nearest(v, dst.0, dst.1, src.0, src.1)).filter(|&s| s < limit) {
            Some(s) => {
                first.get_or_insert(v);
                coords.push(s);
            }
            None if first.is_some() => break,
            None => {}
        }
    }
    Some((first?, coords))
}

fn blit_scaled(
    surface: &mut Surface,
    region: &[PixBox],
    src: &Source<'_>,
    bbox: &Rect,
    src_area: &Rect,
    rop: Rop,
) -> Option<PixBox> {
    let (bw, bh) = (bbox.width(), bbox.height());
    let (sw, sh) = (src_area.width(), src_area.height());
    if bw <= 0 || bh <= 0 || sw <= 0 || sh <= 0 {
        return None;
    }
    let mut drawn = Vec::new();
    let (mut line, mut out) = (Vec::new(), Vec::new());
    for b in region {
        let Some((x0, xs)) = map_axis(b.x0, b.x1, (bbox.left, bw), (src_area.left, sw), src.width) else {
            continue;
        };
        let Some((y0, ys)) = map_axis(b.y0, b.y1, (bbox.top, bh), (src_area.top, sh), src.height) else {
            continue;
        };
        let (Some(&sx_min), Some(&sx_max)) = (xs.first(), xs.last()) else {
            continue;
        };
        let x1 = x0.saturating_add(xs.len());
        line.resize(
            sx_max
                .saturating_sub(sx_min)
                .saturating_add(1)
                .saturating_mul(BYTES_PER_PIXEL),
            0,
        );
        for (y, &sy) in (y0..).zip(&ys) {
            src.convert(sy, sx_min, sx_max.saturating_add(1), &mut line);
            out.clear();
            for &sx in &xs {
                let at = sx.saturating_sub(sx_min).saturating_mul(BYTES_PER_PIXEL);
                out.extend_from_slice(line.get(at..at.saturating_add(BYTES_PER_PIXEL)).unwrap_or(&[0; 4]));
            }
            if let Some(dst) = surface.row_mut(y, x0, x1) {
                combine_row(dst, &out, rop);
            }
        }
        drawn.push(PixBox {
            x0,
            y0,
            x1,
            y1: y0.saturating_add(ys.len()),
        });
    }
    extents(&drawn)
}

/// COPY_BITS: every pixel (x, y) of `region` takes the value pixel
/// (x − dx, y − dy) had before the operation, like `memmove`. Pixels whose
/// source lies outside the surface are left alone. Returns the boxes that
/// moved (disjoint; empty when nothing did).
pub fn copy_bits(surface: &mut Surface, region: &[PixBox], dx: i64, dy: i64) -> Vec<PixBox> {
    if dx == 0 && dy == 0 {
        return Vec::new();
    }
    let (w, h) = surface.dims();
    let Some(valid) = PixBox::clipped(dx, dy, dx.saturating_add(to_i64(w)), dy.saturating_add(to_i64(h)), w, h) else {
        return Vec::new();
    };
    let rects: Vec<PixBox> = region.iter().filter_map(|b| b.intersect(&valid)).collect();
    match rects.as_slice() {
        [] => {}
        [one] => move_in_place(surface, one, dx, dy),
        _ => move_via_snapshot(surface, &rects, dx, dy),
    }
    rects
}

/// One box: rows in the order that never overwrites an unread source row,
/// each row with an overlap-safe `copy_within`.
fn move_in_place(surface: &mut Surface, b: &PixBox, dx: i64, dy: i64) {
    let (Some(sx0), Some(sx1)) = (to_usize(to_i64(b.x0) - dx), to_usize(to_i64(b.x1) - dx)) else {
        return;
    };
    let rows: Box<dyn Iterator<Item = usize>> = if dy > 0 {
        Box::new((b.y0..b.y1).rev())
    } else {
        Box::new(b.y0..b.y1)
    };
    for y in rows {
        let Some(sy) = to_usize(to_i64(y) - dy) else { continue };
        let from = surface.span(sy, sx0, sx1);
        let to = surface.span(y, b.x0, b.x1);
        let pixels = surface.pixels_mut();
        if from.end <= pixels.len() && to.end <= pixels.len() && from.len() == to.len() {
            pixels.copy_within(from, to.start);
        }
    }
}

/// Several boxes may read each other's destination: copy the sources first.
fn move_via_snapshot(surface: &mut Surface, rects: &[PixBox], dx: i64, dy: i64) {
    let Some(ext) = extents(rects) else { return };
    let (Some(sx0), Some(sx1)) = (to_usize(to_i64(ext.x0) - dx), to_usize(to_i64(ext.x1) - dx)) else {
        return;
    };
    let row_len = ext.width().saturating_mul(BYTES_PER_PIXEL);
    let mut saved = Vec::new();
    if saved
        .try_reserve_exact(row_len.saturating_mul(ext.y1.saturating_sub(ext.y0)))
        .is_err()
    {
        return;
    }
    for y in ext.y0..ext.y1 {
        let row = to_usize(to_i64(y) - dy).and_then(|sy| surface.row(sy, sx0, sx1));
        match row {
            Some(r) => saved.extend_from_slice(r),
            None => saved.resize(saved.len().saturating_add(row_len), 0),
        }
    }
    for b in rects {
        let off_x = b.x0.saturating_sub(ext.x0).saturating_mul(BYTES_PER_PIXEL);
        let len = b.width().saturating_mul(BYTES_PER_PIXEL);
        for y in b.y0..b.y1 {
            let at = y.saturating_sub(ext.y0).saturating_mul(row_len).saturating_add(off_x);
            let (Some(src), Some(dst)) = (saved.get(at..at.saturating_add(len)), surface.row_mut(y, b.x0, b.x1)) else {
                continue;
            };
            if src.len() == dst.len() {
                dst.copy_from_slice(src);
            }
        }
    }
}
