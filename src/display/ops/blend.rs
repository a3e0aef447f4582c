//! DRAW_TRANSPARENT (colour-keyed copy) and DRAW_ALPHA_BLEND (pixman OVER
//! with a global alpha), with pixman's 8-bit rounding.

use super::{Origin, PixBox, Sampler, extents, fix_alpha};
use crate::display::surface::{BYTES_PER_PIXEL, SurfaceFormat};
use crate::display::{DisplayError, DisplayState, DrawResult};
use crate::proto::channel::display::{AlphaBlendOp, DisplayBase, TransparentOp, alpha_flags};

/// pixman's `MUL_UN8`: `a·b/255` rounded to nearest.
#[inline]
pub fn mul_un8(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 0x80;
    u8::try_from(((t >> 8) + t) >> 8).unwrap_or(u8::MAX)
}

/// pixman OVER of one premultiplied pixel `s` (B,G,R,A) onto `d`, the
/// source first multiplied by the mask value `m` (the unified-alpha path).
#[inline]
pub fn over(d: &mut [u8], s: &[u8], m: u8) {
    let (Some(&sa), true) = (s.get(3), d.len() == BYTES_PER_PIXEL) else {
        return;
    };
    let sa = if m == 0xff { sa } else { mul_un8(sa, m) };
    let ia = 0xff - sa;
    for (dc, &sc) in d.iter_mut().zip(s) {
        let sc = if m == 0xff { sc } else { mul_un8(sc, m) };
        *dc = mul_un8(*dc, ia).saturating_add(sc);
    }
}

/// The transparent colour as stored bytes for comparisons (B,G,R).
fn key(format: SurfaceFormat, true_color: u32) -> [u8; 3] {
    let [b, g, r, _] = true_color.to_le_bytes();
    let narrow = |v: u8| v >> 3;
    let c = match format {
        SurfaceFormat::Rgb555 => {
            let v = (u32::from(narrow(r)) << 10) | (u32::from(narrow(g)) << 5) | u32::from(narrow(b));
            format.color_to_bgra(v)
        }
        SurfaceFormat::Rgb565 => {
            let v = (u32::from(narrow(r)) << 11) | (u32::from(g >> 2) << 5) | u32::from(narrow(b));
            format.color_to_bgra(v)
        }
        _ => [b, g, r, 0],
    };
    [c[0], c[1], c[2]]
}

impl DisplayState {
    /// DRAW_TRANSPARENT: the source is copied except the pixels whose
    /// colour (ignoring the 4th byte) is `true_color`.
    pub(super) fn draw_transparent(&mut self, base: &DisplayBase, t: &TransparentOp) -> DrawResult {
        const OP: &str = "draw_transparent";
        let (format, region) = self.masked_region(OP, base, None)?;
        let image = t.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let res = self.resolve_image(OP, image, Some(&t.src_area))?;
        let k = key(format, t.true_color);
        let surface = self.surface_mut(OP, base.surface_id)?;
        let mut sampler = Sampler::new(&res, &base.bbox);
        let mut src = Vec::new();
        let mut drawn: Vec<PixBox> = Vec::new();
        for b in &region {
            for y in b.y0..b.y1 {
                let Some((x0, x1)) = sampler.row(y, b.x0, b.x1, &mut src) else {
                    continue;
                };
                let Some(dst) = surface.row_mut(y, x0, x1) else {
                    continue;
                };
                for (d, s) in dst
                    .chunks_exact_mut(BYTES_PER_PIXEL)
                    .zip(src.chunks_exact(BYTES_PER_PIXEL))
                {
                    if s.get(..3) != Some(&k[..]) {
                        d.copy_from_slice(s);
                    }
                }
                drawn.push(PixBox {
                    x0,
                    y0: y,
                    x1,
                    y1: y.saturating_add(1),
                });
            }
        }
        Ok(extents(&drawn))
    }

    /// DRAW_ALPHA_BLEND: pixman OVER of the (premultiplied) source with a
    /// solid mask of `alpha`. Sources without alpha count as opaque; a
    /// surface source has alpha only with `SRC_SURFACE_HAS_ALPHA` (and an
    /// ARGB format); without `DEST_HAS_ALPHA` the destination is read as
    /// opaque.
    pub(super) fn draw_alpha_blend(&mut self, base: &DisplayBase, a: &AlphaBlendOp) -> DrawResult {
        const OP: &str = "draw_alpha_blend";
        let (_, region) = self.masked_region(OP, base, None)?;
        let image = a.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        // Resolved even for alpha 0: the image may be CACHE_ME.
        let res = self.resolve_image(OP, image, Some(&a.src_area))?;
        if a.alpha == 0 {
            return Ok(None);
        }
        let src_alpha = a.alpha_flags & alpha_flags::SRC_SURFACE_HAS_ALPHA != 0;
        let dest_alpha = a.alpha_flags & alpha_flags::DEST_HAS_ALPHA != 0;
        let origin = res.origin;
        let surface = self.surface_mut(OP, base.surface_id)?;
        let mut sampler = Sampler::new(&res, &base.bbox);
        let mut src = Vec::new();
        let mut drawn: Vec<PixBox> = Vec::new();
        for b in &region {
            for y in b.y0..b.y1 {
                let Some((x0, x1)) = sampler.row(y, b.x0, b.x1, &mut src) else {
                    continue;
                };
                fix_alpha(origin, src_alpha || origin == Origin::Bitmap, &mut src);
                let Some(dst) = surface.row_mut(y, x0, x1) else {
                    continue;
                };
                for (d, s) in dst
                    .chunks_exact_mut(BYTES_PER_PIXEL)
                    .zip(src.chunks_exact(BYTES_PER_PIXEL))
                {
                    if !dest_alpha && let Some(da) = d.get_mut(3) {
                        *da = 0xff;
                    }
                    over(d, s, a.alpha);
                }
                drawn.push(PixBox {
                    x0,
                    y0: y,
                    x1,
                    y1: y.saturating_add(1),
                });
            }
        }
        Ok(extents(&drawn))
    }
}
