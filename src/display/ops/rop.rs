//! ROP helpers: the OPAQUE descriptor mapping and the 256 ternary ROP3
//! codes, and DRAW_ROP3 itself.

use super::{Paint, PixBox, Sampler, bad, extents};
use crate::display::surface::BYTES_PER_PIXEL;
use crate::display::{DisplayError, DisplayState, DrawResult, Rop};
use crate::proto::channel::display::{DisplayBase, Rop3Op, ropd};

/// The ROP of DRAW_OPAQUE: the brush is the source operand and the copied
/// image the destination, so `INVERS_BRUSH` inverts the first operand and
/// `INVERS_SRC` the second (`INVERS_DEST` is ignored).
pub fn opaque_rop(desc: u16) -> Rop {
    let mut d = desc & !(ropd::INVERS_SRC | ropd::INVERS_BRUSH | ropd::INVERS_DEST);
    if desc & ropd::INVERS_BRUSH != 0 {
        d |= ropd::INVERS_BRUSH;
    }
    if desc & ropd::INVERS_SRC != 0 {
        d |= ropd::INVERS_DEST;
    }
    Rop::from_descriptor(d, ropd::INVERS_BRUSH)
}

/// Applies ternary ROP `code` bitwise: bit `4p + 2s + d` of the code is the
/// result for pattern bit p, source bit s and destination bit d.
#[inline]
pub fn rop3_apply(code: u8, p: u32, s: u32, d: u32) -> u32 {
    match code {
        0x00 => 0,
        0xff => u32::MAX,
        0xcc => s,
        0xaa => d,
        0xf0 => p,
        0x66 => s ^ d,
        0x5a => p ^ d,
        0x33 => !s,
        0x55 => !d,
        0xca => ((d ^ s) & p) ^ d,
        0xb8 => ((d ^ p) & s) ^ p,
        _ => {
            let mut r = 0u32;
            for i in 0..8u8 {
                if code >> i & 1 != 0 {
                    let pm = if i & 4 != 0 { p } else { !p };
                    let sm = if i & 2 != 0 { s } else { !s };
                    let dm = if i & 1 != 0 { d } else { !d };
                    r |= pm & sm & dm;
                }
            }
            r
        }
    }
}

fn px(chunk: &[u8]) -> u32 {
    match chunk {
        [a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// Combines one row: `dst[i] = rop3(pat[i], src[i], dst[i])` on whole pixels.
pub fn rop3_row(code: u8, dst: &mut [u8], src: &[u8], pat: &[u8]) {
    let it = dst
        .chunks_exact_mut(BYTES_PER_PIXEL)
        .zip(src.chunks_exact(BYTES_PER_PIXEL))
        .zip(pat.chunks_exact(BYTES_PER_PIXEL));
    for ((d, s), p) in it {
        let v = rop3_apply(code, px(p), px(s), px(d));
        d.copy_from_slice(&v.to_le_bytes());
    }
}

impl DisplayState {
    /// DRAW_ROP3: every pixel of the (masked) region becomes
    /// `rop3(brush, source, dest)`. Like spice, a same-size source that does
    /// not cover the whole box is refused.
    pub(super) fn draw_rop3(&mut self, base: &DisplayBase, r: &Rop3Op) -> DrawResult {
        const OP: &str = "draw_rop3";
        let (format, region) = self.masked_region(OP, base, Some(&r.mask))?;
        let image = r.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let res = self.resolve_image(OP, image, Some(&r.src_area))?;
        let (bw, bh) = (base.bbox.width(), base.bbox.height());
        let a = res.area;
        if a.width() == bw && a.height() == bh {
            let fits = |lo: i32, len: i64, max: usize| {
                lo >= 0 && i64::from(lo).saturating_add(len) <= i64::try_from(max).unwrap_or(i64::MAX)
            };
            if !fits(a.left, bw, res.src.width) || !fits(a.top, bh, res.src.height) {
                return Err(bad(OP, "source smaller than the box"));
            }
        }
        let paint: Paint<'_> = self.resolve_brush(OP, &r.brush, format)?;
        let surface = self.surface_mut(OP, base.surface_id)?;
        let mut sampler = Sampler::new(&res, &base.bbox);
        let (mut src, mut pat) = (Vec::new(), Vec::new());
        let mut drawn: Vec<PixBox> = Vec::new();
        for b in &region {
            for y in b.y0..b.y1 {
                let Some((x0, x1)) = sampler.row(y, b.x0, b.x1, &mut src) else {
                    continue;
                };
                paint.row(y, x0, x1, &mut pat);
                if let Some(dst) = surface.row_mut(y, x0, x1) {
                    rop3_row(r.rop3, dst, &src, &pat);
                    drawn.push(PixBox {
                        x0,
                        y0: y,
                        x1,
                        y1: y.saturating_add(1),
                    });
                }
            }
        }
        Ok(extents(&drawn))
    }
}
